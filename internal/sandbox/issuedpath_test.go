package sandbox_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/rolecall/rolecall/internal/sandbox"
)

const (
	ipVerifier = "arn:aws:iam::111122223333:role/verifier"
	ipKey      = "AKIAPATHVERIFIER0001"
	ipPathRole = "arn:aws:iam::111122223333:role/team/access"
	ipPathless = "arn:aws:iam::111122223333:role/access"
	ipTarget   = "arn:aws:iam::210987654321:role/Target"
)

var (
	ipTrust    = []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"sts:AssumeRole"}]}`)
	ipAllowAll = []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}]}`)
)

// issuedSessionAssumesTarget: the verifier (a configured caller) assumes
// role over HTTP, and the issued session then calls AssumeRole on
// ipTarget (another account). It returns the second call's error code
// ("" when it succeeded).
func issuedSessionAssumesTarget(t *testing.T, s *sandbox.STS, role string) string {
	t.Helper()
	srv := httptest.NewServer(s)
	defer srv.Close()
	ctx := context.Background()
	out, err := client(srv.URL, credentials.NewStaticCredentialsProvider(ipKey, sandbox.DefaultCallerSecret(ipKey), "")).AssumeRole(ctx, &sts.AssumeRoleInput{
		RoleArn: aws.String(role), RoleSessionName: aws.String("first"), DurationSeconds: aws.Int32(900)})
	if err != nil {
		t.Fatalf("verifier assuming %s: %v", role, err)
	}
	_, err = client(srv.URL, sessionCredentials(out.Credentials)).AssumeRole(ctx, &sts.AssumeRoleInput{
		RoleArn: aws.String(ipTarget), RoleSessionName: aws.String("second"), DurationSeconds: aws.Int32(900)})
	return apiCode(err)
}

// A session the sandbox issued for a role that was never given identity
// policies holds none, so a cross-account AssumeRole is denied. Policies
// set for the root-path role arn:...:role/access (a role that does not
// exist, and a different ARN) are not the policies of role/team/access.
func TestIssuedSessionTakesNoPathlessPolicies(t *testing.T) {
	for _, setFirst := range []bool{false, true} {
		s := sandbox.New(sandbox.Config{Callers: map[string]string{ipKey: ipVerifier}})
		if setFirst {
			must(t, s.SetIdentityPolicies(ipPathless, ipAllowAll))
		}
		must(t, s.PutRole(ipPathRole, ipTrust))
		must(t, s.PutRole(ipTarget, ipTrust))
		if !setFirst {
			must(t, s.SetIdentityPolicies(ipPathless, ipAllowAll))
		}
		if code := issuedSessionAssumesTarget(t, s, ipPathRole); code != "AccessDenied" {
			t.Errorf("policies set for %s before %s (%v): a session of %s, which holds no identity policies, assumed %s across accounts: code %q, want AccessDenied",
				ipPathless, ipPathRole, setFirst, ipPathRole, ipTarget, code)
		}
	}
}

// Identity policies given to a model's session caller before its role was
// known narrow that configured caller only: a session the sandbox issues
// for the role, or for a role of its name created later, holds none.
func TestIssuedSessionOfANewRoleTakesNoModelPolicies(t *testing.T) {
	for _, tc := range []struct {
		name  string
		after func(s *sandbox.STS) string // returns the new role
	}{
		{"deleted and created again", func(s *sandbox.STS) string {
			s.DeleteRole(ipPathRole)
			must(t, s.PutRole(ipPathRole, ipTrust))
			return ipPathRole
		}},
		{"replaced on another path", func(s *sandbox.STS) string {
			const other = "arn:aws:iam::111122223333:role/other/access"
			must(t, s.PutRole(other, ipTrust))
			return other
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := sandbox.New(sandbox.Config{Callers: map[string]string{ipKey: ipVerifier}})
			m, err := json.Marshal(sandbox.Model{
				Callers: []sandbox.ModelCaller{{AccessKeyID: "AKIAPATHMODELSESSION",
					Principal:        "arn:aws:sts::111122223333:assumed-role/access/worker",
					IdentityPolicies: []json.RawMessage{ipAllowAll}}},
			})
			must(t, err)
			must(t, s.Load(m))
			must(t, s.PutRole(ipPathRole, ipTrust))
			must(t, s.PutRole(ipTarget, ipTrust))
			newRole := tc.after(s)
			if code := issuedSessionAssumesTarget(t, s, newRole); code != "AccessDenied" {
				t.Errorf("a session of %s, a new role that was given no identity policies, assumed %s across accounts with the deleted role's: code %q, want AccessDenied",
					newRole, ipTarget, code)
			}
		})
	}
}
