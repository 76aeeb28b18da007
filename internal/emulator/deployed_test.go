package emulator

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/rolecall/rolecall/internal/probe"
	"github.com/rolecall/rolecall/internal/testkit/awsfake"
	"github.com/rolecall/rolecall/internal/testkit/roundtrip"
	"github.com/rolecall/rolecall/internal/testkit/syncbuf"
)

// TestAWSModeChecksAsTheVerifyFunction builds serve's wiring with --aws
// against awsfake's chaining STS through the real SDK, and checks a
// customer role with the checker's STS port: given an access role, the
// customer role is assumed by a session of that role, which the base
// credentials assumed first, as the verify Lambda does; without one, the
// base credentials assume the customer role themselves.
func TestAWSModeChecksAsTheVerifyFunction(t *testing.T) {
	const (
		acct       = "111122223333"
		accessKey  = "AKIAROLECALLTESTCHK0"
		workload   = "arn:aws:iam::" + acct + ":role/partner-workload"
		accessRole = "arn:aws:iam::" + acct + ":role/rolecall-prod-access"
		customer   = "arn:aws:iam::444455556666:role/RoleCall"
		externalID = "rc-test-external-id-0001"
	)
	tests := []struct {
		name       string
		accessRole string // Options.AccessRoleARN
		trusted    string // the principal the customer role trusts
		// Who assumed each role, in order (roles of sessions).
		customerBy, accessBy []string
	}{
		{name: "through the access role", accessRole: accessRole, trusted: accessRole,
			customerBy: []string{accessRole}, accessBy: []string{workload}},
		{name: "as the credentials", trusted: workload,
			customerBy: []string{workload}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := awsfake.NewChainSTS()
			fake.AddPrincipal(accessKey, workload)
			fake.AddRole(accessRole, workload, "")
			fake.AddRole(customer, tt.trusted, externalID)
			srv := httptest.NewServer(fake)
			t.Cleanup(srv.Close)
			fakeAWSEnv(t, accessKey, "eu-west-1", map[string]string{"AWS_ENDPOINT_URL_STS": srv.URL})

			o := testOptions(t, &syncbuf.Buffer{})
			o.AWS, o.AccessRoleARN, o.TrustedPrincipalARN = true, tt.accessRole, tt.trusted
			st, err := New(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(st.close)
			s, err := st.Components.STS.AssumeRole(context.Background(), probe.AssumeRequest{
				RoleARN: customer, ExternalID: externalID, SessionName: "rolecall-check", DurationSeconds: 900})
			if err != nil || s.AccountID != "444455556666" {
				t.Fatalf("AssumeRole = %+v, %v; want a session in 444455556666", s, err)
			}
			if got := fake.CallerRoles(customer); !slices.Equal(got, tt.customerBy) {
				t.Errorf("the customer role was assumed by %v, want %v", got, tt.customerBy)
			}
			if got := fake.CallerRoles(accessRole); !slices.Equal(got, tt.accessBy) {
				t.Errorf("the access role was assumed by %v, want %v", got, tt.accessBy)
			}
		})
	}
}

// TestPublicServeHandsOutNoDemoInvite: a public serve may sit behind a
// reverse proxy on the same machine, whose requests come from and name a
// loopback address; the home page's facts then never carry the demo
// tenant's invite (a credential), which the banner prints for the
// operator. A local serve hands it to a browser on this machine.
func TestPublicServeHandsOutNoDemoInvite(t *testing.T) {
	const (
		acct      = "111122223333"
		accessKey = "AKIAROLECALLTESTPUB0"
		workload  = "arn:aws:iam::" + acct + ":role/RoleCallVerifier"
	)
	fake := awsfake.NewChainSTS()
	fake.AddPrincipal(accessKey, workload)
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	fakeAWSEnv(t, accessKey, "eu-west-1", map[string]string{"AWS_ENDPOINT_URL_STS": srv.URL})
	for _, public := range []bool{false, true} {
		t.Run(map[bool]string{false: "local", true: "public"}[public], func(t *testing.T) {
			o := testOptions(t, &syncbuf.Buffer{})
			o.AWS, o.TrustedPrincipalARN = true, workload
			if public {
				o.Public, o.PublicHost = true, "rolecall.example.com"
			}
			s := start(t, o)
			req, err := http.NewRequest(http.MethodGet, s.URL+"/", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Accept", "application/json")
			_, body := roundtrip.Do(t, req)
			code := s.DemoInviteURL[strings.Index(s.DemoInviteURL, "invite=")+len("invite="):]
			if got := strings.Contains(string(body), code); got == public {
				t.Errorf("GET / from this machine holds the demo invite: %t, want %t\n%s", got, !public, body)
			}
		})
	}
}
