package sandbox_test

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"testing"

	"github.com/rolecall/rolecall/internal/probe"
	"github.com/rolecall/rolecall/internal/testkit/trusthole"
)

// TestHolesThroughSTS loads every sample hole into the sandbox as a role's
// trust policy (PutRole accepts it: it is evaluated, not refused) and runs
// the check's three calls through both adapters: the tenant's external ID
// and a fresh random decoy of the same shape, and no external ID, as IAM
// would answer them.
func TestHolesThroughSTS(t *testing.T) {
	b := make([]byte, 20)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	decoy := "rc-" + base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b)
	for _, ad := range adapters() {
		for _, h := range trusthole.All {
			t.Run(ad.name+"/"+string(h), func(t *testing.T) {
				s := newSandbox(t, 1)
				if err := s.PutRole(roleARN, h.TrustPolicy(externalID, partnerRole)); err != nil {
					t.Fatalf("PutRole refused the hole: %v", err)
				}
				a := ad.make(t, s, partnerRole)
				outcome := func(extID string) error {
					_, err := a.AssumeRole(context.Background(), req(roleARN, extID))
					if err != nil && !errors.Is(err, probe.ErrDenied) {
						t.Fatalf("external ID %q: %v, want success or denial", extID, err)
					}
					return err
				}
				if err := outcome(externalID); err != nil {
					t.Errorf("the tenant's external ID is denied: %v", err)
				}
				decoyOK := outcome(decoy) == nil
				noneOK := outcome("") == nil
				if noneOK != h.AllowsWithoutExternalID() {
					t.Errorf("without an external ID: allowed=%v, want %v", noneOK, h.AllowsWithoutExternalID())
				}
				if decoyOK != h.AllowsAnyExternalID() {
					t.Errorf("with a random decoy: allowed=%v, want %v", decoyOK, h.AllowsAnyExternalID())
				}
				if !decoyOK && !noneOK {
					t.Errorf("neither negative call is allowed: this is no hole")
				}
			})
		}
	}
}

// TestRootCannotAssumeRole: STS refuses AssumeRole called with the account
// root's credentials, even when the trust policy names the account.
func TestRootCannotAssumeRole(t *testing.T) {
	s := newSandbox(t, 1)
	const root = "arn:aws:iam::111122223333:root"
	if err := s.PutRole(looseARN, loosePolicy("111122223333")); err != nil {
		t.Fatal(err)
	}
	_, err := s.Assumer(root).AssumeRole(context.Background(), req(looseARN, ""))
	if !errors.Is(err, probe.ErrDenied) || codeOf(err) != "AccessDenied" {
		t.Errorf("root caller: %v, want AccessDenied", err)
	}
	if _, err := s.Assumer(partnerRole).AssumeRole(context.Background(), req(looseARN, "")); err != nil {
		t.Errorf("a role of the trusted account: %v", err)
	}
}
