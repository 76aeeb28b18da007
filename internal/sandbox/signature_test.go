package sandbox_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/aws-sdk-go-v2/service/sts/types"

	"github.com/rolecall/rolecall/internal/sandbox"
)

// sigVerifier is the principal of the verifier the signature tests' sandbox
// is configured with, and sigVerifierKey its access key.
const (
	sigVerifier    = "arn:aws:iam::111122223333:role/rolecall-dev-verifier"
	sigVerifierKey = "AKIASANDBOXVERIFIER1"
)

// sigWorld serves a sandbox where the verifier may assume the access role,
// whose sessions may assume the customer role roleARN with externalID. It
// returns the sandbox's URL, the verifier's credentials and issue, which
// returns a new session of the access role.
func sigWorld(t *testing.T) (url string, base aws.CredentialsProvider, issue func(name string) *types.Credentials) {
	t.Helper()
	s := sandbox.New(sandbox.Config{Callers: map[string]string{sigVerifierKey: sigVerifier}, Seed: 9})
	must(t, s.PutRole(accessRole, loosePolicy(sigVerifier)))
	must(t, s.SetIdentityPolicies(accessRole, []byte(accessPolicy)))
	must(t, s.PutRole(roleARN, enforcedPolicy(accessRole, externalID)))
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	base = credentials.NewStaticCredentialsProvider(sigVerifierKey, sandbox.DefaultCallerSecret(sigVerifierKey), "")
	issue = func(name string) *types.Credentials {
		t.Helper()
		out, err := client(srv.URL, base).AssumeRole(context.Background(), &sts.AssumeRoleInput{RoleArn: aws.String(accessRole), RoleSessionName: aws.String(name)})
		if err != nil {
			t.Fatal(err)
		}
		return out.Credentials
	}
	return srv.URL, base, issue
}

// TestSessionSignaturesAreChecked: a session the sandbox issued is accepted
// only when the request is signed with that session's own secret, as STS
// answers SignatureDoesNotMatch otherwise. A workload that mixes up two
// sessions' keys, or a secret mangled on its way, fails here as it would
// against AWS. Every case calls through the real SDK over HTTP.
func TestSessionSignaturesAreChecked(t *testing.T) {
	url, _, issue := sigWorld(t)
	a, b := issue("session-a"), issue("session-b")
	if aws.ToString(a.SecretAccessKey) == aws.ToString(b.SecretAccessKey) || len(aws.ToString(a.SecretAccessKey)) != 40 {
		t.Fatalf("secrets %q and %q: want two distinct 40-character secrets", aws.ToString(a.SecretAccessKey), aws.ToString(b.SecretAccessKey))
	}
	with := func(akid, secret, token *string) aws.CredentialsProvider {
		return credentials.NewStaticCredentialsProvider(aws.ToString(akid), aws.ToString(secret), aws.ToString(token))
	}
	tests := []struct {
		name  string
		creds aws.CredentialsProvider
		want  string
	}{
		{"its own secret", sessionCredentials(a), ""},
		{"another session's secret", with(a.AccessKeyId, b.SecretAccessKey, a.SessionToken), "SignatureDoesNotMatch"},
		{"a secret one character short", with(a.AccessKeyId, aws.String(aws.ToString(a.SecretAccessKey)[1:]), a.SessionToken), "SignatureDoesNotMatch"},
		{"another session's token", with(a.AccessKeyId, a.SecretAccessKey, b.SessionToken), "InvalidClientTokenId"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := client(url, tt.creds)
			_, err := c.GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
			if apiCode(err) != tt.want {
				t.Errorf("GetCallerIdentity: %v, want %q", err, tt.want)
			}
			// Role chaining is checked the same way: the access role's
			// session signs the customer role's AssumeRole.
			_, err = c.AssumeRole(context.Background(), &sts.AssumeRoleInput{RoleArn: aws.String(roleARN), RoleSessionName: aws.String("check"), ExternalId: aws.String(externalID)})
			if apiCode(err) != tt.want {
				t.Errorf("AssumeRole: %v, want %q", err, tt.want)
			}
		})
	}
}

// TestSignedForAnotherServiceIsRefused: a request whose credential scope
// names another service than sts is refused, a configured caller's too.
func TestSignedForAnotherServiceIsRefused(t *testing.T) {
	url, base, _ := sigWorld(t)
	c := sts.New(sts.Options{Region: "us-east-1", BaseEndpoint: aws.String(url), Retryer: aws.NopRetryer{},
		Credentials: base,
		HTTPClient: alter(func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "/sts/", "/iam/", 1))
		})})
	_, err := c.GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
	if apiCode(err) != "SignatureDoesNotMatch" {
		t.Fatalf("GetCallerIdentity scoped to iam: %v, want SignatureDoesNotMatch", err)
	}
}

// TestSessionRequestWithoutItsDateIsRefused: a session's request whose
// X-Amz-Date is gone cannot be checked, and is IncompleteSignature.
func TestSessionRequestWithoutItsDateIsRefused(t *testing.T) {
	url, _, issue := sigWorld(t)
	c := sts.New(sts.Options{Region: "us-east-1", BaseEndpoint: aws.String(url), Retryer: aws.NopRetryer{},
		Credentials: sessionCredentials(issue("session-a")),
		HTTPClient:  alter(func(r *http.Request) { r.Header.Del("X-Amz-Date") })})
	if _, err := c.GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{}); apiCode(err) != "IncompleteSignature" {
		t.Fatalf("GetCallerIdentity without X-Amz-Date: %v, want IncompleteSignature", err)
	}
}

// TestPresignedSessionRequestIsRefused: the sandbox checks signatures in
// the Authorization header only, so a presigned URL, a session's or a
// configured key's, is refused instead of being taken unchecked.
func TestPresignedSessionRequestIsRefused(t *testing.T) {
	url, base, issue := sigWorld(t)
	for _, tt := range []struct {
		name   string
		creds  aws.CredentialsProvider
		status int
	}{
		{"configured caller", base, http.StatusBadRequest},
		{"issued session", sessionCredentials(issue("session-a")), http.StatusBadRequest},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, err := sts.NewPresignClient(client(url, tt.creds)).PresignGetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
			if err != nil {
				t.Fatal(err)
			}
			req, _ := http.NewRequest(p.Method, p.URL, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Errorf("presigned GetCallerIdentity: HTTP %d, want %d", resp.StatusCode, tt.status)
			}
		})
	}
}

// alter is an HTTP client that changes each request after the SDK signed
// it.
type alter func(*http.Request)

func (f alter) Do(req *http.Request) (*http.Response, error) {
	f(req)
	return http.DefaultClient.Do(req)
}

// TestConfiguredKeySignaturesAreChecked: a configured key signs with the
// secret the sandbox derives for it (CallerSecret), as a long-term key
// signs with its own: another secret, or another key's, is
// SignatureDoesNotMatch. A sandbox with a caller key of its own derives
// other secrets than the default one.
func TestConfiguredKeySignaturesAreChecked(t *testing.T) {
	url, _, _ := sigWorld(t)
	tests := []struct {
		name, secret, want string
	}{
		{"its own secret", sandbox.DefaultCallerSecret(sigVerifierKey), ""},
		{"another secret", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "SignatureDoesNotMatch"},
		{"another key's secret", sandbox.DefaultCallerSecret("AKIAOTHERKEY00000001"), "SignatureDoesNotMatch"},
		{"its secret one character short", sandbox.DefaultCallerSecret(sigVerifierKey)[1:], "SignatureDoesNotMatch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := client(url, credentials.NewStaticCredentialsProvider(sigVerifierKey, tt.secret, "")).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
			if apiCode(err) != tt.want {
				t.Errorf("GetCallerIdentity: %v, want %q", err, tt.want)
			}
		})
	}

	s := sandbox.New(sandbox.Config{Callers: map[string]string{sigVerifierKey: sigVerifier}, CallerKey: []byte("a key of its own")})
	srv := httptest.NewServer(s)
	defer srv.Close()
	secret, ok := s.CallerSecret(sigVerifierKey)
	if !ok || len(secret) != 40 || secret == sandbox.DefaultCallerSecret(sigVerifierKey) {
		t.Fatalf("CallerSecret = %q, %v; want a 40-character secret other than the default", secret, ok)
	}
	if _, ok := s.CallerSecret("AKIANOTCONFIGURED001"); ok {
		t.Error("CallerSecret of a key not configured")
	}
	for _, tc := range []struct{ secret, want string }{{secret, ""}, {sandbox.DefaultCallerSecret(sigVerifierKey), "SignatureDoesNotMatch"}} {
		_, err := client(srv.URL, credentials.NewStaticCredentialsProvider(sigVerifierKey, tc.secret, "")).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
		if apiCode(err) != tc.want {
			t.Errorf("with its caller key, secret %q: %v, want %q", tc.secret, err, tc.want)
		}
	}
}
