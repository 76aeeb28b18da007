package sandbox_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/rolecall/rolecall/internal/sandbox"
)

const (
	verifierRole = "arn:aws:iam::111122223333:role/rolecall-dev-verifier"
	verifierKey  = "AKIASANDBOXVERIFIER1"
	// accessKey is configured as the access role itself.
	accessKey = "AKIASANDBOXACCESS001"
)

// IAM ties a role's permission policies, its callers' credentials and its
// place in other roles' trust policies to the role's unique ID, not to its
// ARN: a role created with the ARN of a deleted one inherits none of them.
func TestARoleCreatedAgainInheritsNothing(t *testing.T) {
	tests := []struct {
		name   string
		change func(t *testing.T, s *sandbox.STS)
		// then is the error code of the call made after the change.
		then func(t *testing.T, url string) string
		want string
	}{
		{"the trust policy names the deleted access role, not the new one",
			func(t *testing.T, s *sandbox.STS) {
				s.DeleteRole(accessRole)
				putAccessRole(t, s)
			},
			chainedCall, "AccessDenied"},
		{"a trust policy naming the deleted access role is refused, so the new one is not trusted through it",
			func(t *testing.T, s *sandbox.STS) {
				s.DeleteRole(accessRole)
				if err := s.PutRole(roleARN, enforcedPolicy(accessRole, externalID)); !errors.Is(err, sandbox.ErrInvalidPolicy) || !strings.Contains(err.Error(), "Invalid principal in policy") {
					t.Fatalf("PutRole naming the deleted role: %v; want ErrInvalidPolicy, Invalid principal in policy", err)
				}
				model, _ := json.Marshal(sandbox.Model{Roles: []sandbox.ModelRole{{ARN: roleARN, TrustPolicy: json.RawMessage(enforcedPolicy(accessRole, externalID))}}})
				if err := s.Load(model); !errors.Is(err, sandbox.ErrInvalidPolicy) {
					t.Fatalf("Load naming the deleted role: %v; want ErrInvalidPolicy", err)
				}
				putAccessRole(t, s)
			},
			chainedCall, "AccessDenied"},
		{"a trust policy saved again once the role is created again trusts the new role",
			func(t *testing.T, s *sandbox.STS) {
				s.DeleteRole(accessRole)
				putAccessRole(t, s)
				must(t, s.PutRole(roleARN, enforcedPolicy(accessRole, externalID)))
			},
			chainedCall, ""},
		{"a role replaced by its name on another path takes its policies with it",
			func(t *testing.T, s *sandbox.STS) {
				must(t, s.PutRole("arn:aws:iam::111122223333:role/elsewhere/rolecall-dev-access", loosePolicy(verifierRole)))
				// A new role again: trusted by nobody, with no policies.
				must(t, s.PutRole(accessRole, loosePolicy(verifierRole)))
				must(t, s.PutRole(roleARN, enforcedPolicy(accessRole, externalID)))
			},
			chainedCall, "AccessDenied"},
		{"the configured caller of a deleted role is no caller",
			func(t *testing.T, s *sandbox.STS) { s.DeleteRole(accessRole) },
			func(t *testing.T, url string) string {
				_, err := client(url, credentials.NewStaticCredentialsProvider(accessKey, sandbox.DefaultCallerSecret(accessKey), "")).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
				return apiCode(err)
			}, "InvalidClientTokenId"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := sandbox.New(sandbox.Config{Callers: map[string]string{verifierKey: verifierRole, accessKey: accessRole}, Seed: 1})
			putAccessRole(t, s)
			must(t, s.PutRole(roleARN, enforcedPolicy(accessRole, externalID)))
			srv := httptest.NewServer(s)
			defer srv.Close()
			if code := chainedCall(t, srv.URL); code != "" {
				t.Fatalf("before the change: %s", code)
			}
			if code := tc.then(t, srv.URL); code != "" {
				t.Fatalf("before the change: %s", code)
			}
			tc.change(t, s)
			if code := tc.then(t, srv.URL); code != tc.want {
				t.Errorf("after the change: %q; want %s", code, tc.want)
			}
		})
	}
}

func putAccessRole(t *testing.T, s *sandbox.STS) {
	t.Helper()
	must(t, s.PutRole(accessRole, loosePolicy(verifierRole)))
	must(t, s.SetIdentityPolicies(accessRole, []byte(accessPolicy)))
}

// chainedCall assumes a new session of the access role with the
// verifier's key, then the customer role with it, and returns the second
// call's error code ("" for none).
func chainedCall(t *testing.T, url string) string {
	t.Helper()
	ctx := context.Background()
	out, err := client(url, credentials.NewStaticCredentialsProvider(verifierKey, sandbox.DefaultCallerSecret(verifierKey), "")).AssumeRole(ctx, &sts.AssumeRoleInput{
		RoleArn: aws.String(accessRole), RoleSessionName: aws.String("verifier"), DurationSeconds: aws.Int32(900)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = client(url, sessionCredentials(out.Credentials)).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(roleARN),
		RoleSessionName: aws.String("chained"), ExternalId: aws.String(externalID), DurationSeconds: aws.Int32(900)})
	return apiCode(err)
}

// A configured caller that is a session of a role with a path (a session
// ARN names the role without its path) is no caller once the role is
// deleted.
func TestDeletedRoleTakesItsSessionCallers(t *testing.T) {
	const role, session, key = "arn:aws:iam::111122223333:role/team/app", "arn:aws:sts::111122223333:assumed-role/app/s1", "AKIASANDBOXSESSION01"
	s := sandbox.New(sandbox.Config{Callers: map[string]string{key: session}, Seed: 1})
	must(t, s.PutRole(role, loosePolicy("arn:aws:iam::111122223333:root")))
	srv := httptest.NewServer(s)
	defer srv.Close()
	call := func() string {
		_, err := client(srv.URL, credentials.NewStaticCredentialsProvider(key, sandbox.DefaultCallerSecret(key), "")).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
		return apiCode(err)
	}
	if code := call(); code != "" {
		t.Fatalf("before the role is deleted: %s", code)
	}
	s.DeleteRole(role)
	if code := call(); code != "InvalidClientTokenId" {
		t.Errorf("after the role is deleted: %q; want InvalidClientTokenId", code)
	}
}

// A configured key stands for a long-term access key: signed with a
// session token too (a stale AWS_SESSION_TOKEN), the call is refused, as
// STS refuses a token it issued to no session of the key.
func TestConfiguredKeyWithASessionTokenIsRefused(t *testing.T) {
	s := sandbox.New(sandbox.Config{Callers: map[string]string{verifierKey: verifierRole}, Seed: 1})
	srv := httptest.NewServer(s)
	defer srv.Close()
	for _, tc := range []struct{ token, want string }{{"", ""}, {"stale-session-token", "InvalidClientTokenId"}} {
		_, err := client(srv.URL, credentials.NewStaticCredentialsProvider(verifierKey, sandbox.DefaultCallerSecret(verifierKey), tc.token)).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
		if code := apiCode(err); code != tc.want {
			t.Errorf("token %q: %q; want %q", tc.token, code, tc.want)
		}
	}
}
