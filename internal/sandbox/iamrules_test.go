package sandbox

import (
	"crypto/rand"
	"encoding/base32"
	"testing"

	"github.com/rolecall/rolecall/internal/rolesetup"
	"github.com/rolecall/rolecall/internal/testkit/trusthole"
)

// TestEvaluateIAMRules: one case per rule of IAM's evaluation the sandbox
// follows, listed in testdata/iamrules.json; each case's name says which
// behaviour of the IAM User Guide it follows (page in brackets).
func TestEvaluateIAMRules(t *testing.T) {
	const (
		pathRole   = "arn:aws:iam::111122223333:role/team/RoleCallVerifier"
		sessionArn = "arn:aws:sts::111122223333:assumed-role/RoleCallVerifier/worker-1"
	)
	base := Request{Principal: partner, Action: "sts:AssumeRole", ExternalID: extID, HasExternalID: true, RoleSessionName: "rolecall-t"}
	with := func(f func(r *Request)) Request { r := base; f(&r); return r }
	noExt := with(func(r *Request) { r.ExternalID, r.HasExternalID = "", false })
	wrongExt := with(func(r *Request) { r.ExternalID = "rc-WRONGWRONG" })
	otherCaller := with(func(r *Request) { r.Principal = other })
	pathCaller := with(func(r *Request) { r.Principal = pathRole })
	session1 := with(func(r *Request) { r.Principal = sessionArn })
	session2 := with(func(r *Request) { r.Principal = "arn:aws:sts::111122223333:assumed-role/RoleCallVerifier/worker-2" })
	user := with(func(r *Request) { r.Principal = "arn:aws:iam::111122223333:user/alice" })
	sameNameUser := with(func(r *Request) { r.Principal = "arn:aws:iam::111122223333:user/RoleCallVerifier" })
	inOrg := with(func(r *Request) { r.PrincipalOrgID = "o-partner1234" })
	sameOrg := with(func(r *Request) { r.PrincipalOrgID, r.ResourceOrgID = "o-partner1234", "o-partner1234" })
	literalOrg := with(func(r *Request) { r.PrincipalOrgID, r.ResourceOrgID = "${aws:ResourceOrgID}", "o-partner1234" })

	runEvalFile(t, "iamrules.json", map[string]Request{
		"base": base, "noExt": noExt, "wrongExt": wrongExt, "otherCaller": otherCaller,
		"pathCaller": pathCaller, "session1": session1, "session2": session2,
		"user": user, "sameNameUser": sameNameUser, "inOrg": inOrg,
		"sameOrg": sameOrg, "literalOrg": literalOrg,
	})
}

// decoy returns a fresh random external ID of RoleCall's shape.
func decoy(t *testing.T) string {
	t.Helper()
	b := make([]byte, 20)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "rc-" + base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b)
}

// TestHoles: every hole parses (it is evaluated, never refused), admits the
// trusted principal with the tenant's external ID, and, as IAM would, also
// admits it with a random decoy or with none; the enforced policy admits
// neither. Every hole is caught by at least one of the two negative probes.
func TestHoles(t *testing.T) {
	calls := map[string]Request{
		"right ID":      {Principal: partner, Action: "sts:AssumeRole", ExternalID: extID, HasExternalID: true, RoleSessionName: "rolecall-t"},
		"random decoy":  {Principal: partner, Action: "sts:AssumeRole", ExternalID: decoy(t), HasExternalID: true, RoleSessionName: "rolecall-t"},
		"other tenant":  {Principal: partner, Action: "sts:AssumeRole", ExternalID: "rc-OTHERTENANTOTHERTENANT", HasExternalID: true, RoleSessionName: "rolecall-t"},
		"no ID":         {Principal: partner, Action: "sts:AssumeRole", RoleSessionName: "rolecall-t"},
		"other account": {Principal: other, Action: "sts:AssumeRole", ExternalID: extID, HasExternalID: true, RoleSessionName: "rolecall-t"},
	}
	// What IAM decides for each hole: Allow for the listed calls.
	anyID := []string{"right ID", "random decoy", "other tenant"}
	want := map[trusthole.Hole][]string{
		trusthole.NoCondition:    {"right ID", "random decoy", "other tenant", "no ID"},
		trusthole.IfExists:       {"right ID", "no ID"},
		trusthole.ForAllValues:   {"right ID", "no ID"},
		trusthole.PrefixWildcard: anyID,
		trusthole.Wildcard:       anyID,
		trusthole.NullFalse:      anyID,
		trusthole.ForAnyValue:    anyID,
	}
	if len(want) != len(trusthole.All) {
		t.Fatalf("%d holes, %d expectations", len(trusthole.All), len(want))
	}
	check := func(t *testing.T, doc []byte, allowed []string) {
		t.Helper()
		p, err := ParsePolicy(doc)
		if err != nil {
			t.Fatalf("ParsePolicy refused %s: %v", doc, err)
		}
		for name, req := range calls {
			exp := ImplicitDeny
			for _, a := range allowed {
				if a == name {
					exp = Allow
				}
			}
			if got := p.Evaluate(req); got != exp {
				t.Errorf("%s: %v, want %v (%s)", name, got, exp, doc)
			}
		}
	}
	for _, h := range trusthole.All {
		t.Run(string(h), func(t *testing.T) {
			check(t, h.TrustPolicy(extID, partner), want[h])
			withoutID, decoyID := false, false
			for _, a := range want[h] {
				withoutID = withoutID || a == "no ID"
				decoyID = decoyID || a == "random decoy"
			}
			if h.AllowsWithoutExternalID() != withoutID || h.AllowsAnyExternalID() != decoyID {
				t.Errorf("AllowsWithoutExternalID() = %v, AllowsAnyExternalID() = %v, want %v, %v",
					h.AllowsWithoutExternalID(), h.AllowsAnyExternalID(), withoutID, decoyID)
			}
			if len(want[h]) < 2 {
				t.Errorf("the hole admits only the right ID: no probe would catch it")
			}
		})
	}
	t.Run("enforced", func(t *testing.T) {
		doc, err := rolesetup.TrustPolicy(extID, partner)
		if err != nil {
			t.Fatal(err)
		}
		check(t, doc, []string{"right ID"})
	})
}
