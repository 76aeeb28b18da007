package sandbox_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/aws-sdk-go-v2/service/sts/types"
	"github.com/aws/smithy-go"

	"github.com/rolecall/rolecall/internal/sandbox"
)

// TestSessionValidOnlyWhereIssued: a session the sandbox issued is a caller
// of that sandbox only, and only while the role it was issued for exists
// (the same role, not one created again under its name). Another sandbox,
// even with the same seed, callers and roles, refuses it as STS refuses
// credentials it did not issue; so does the issuing sandbox once the role
// is gone. Both actions are refused, through the real SDK over HTTP.
func TestSessionValidOnlyWhereIssued(t *testing.T) {
	const (
		verifier    = "arn:aws:iam::111122223333:role/rolecall-dev-verifier"
		verifierKey = "AKIASANDBOXVERIFIER1"
		seed        = 42
	)
	// setup gives a sandbox the verifier, the access role it assumes and a
	// customer role the access role's sessions assume in turn.
	setup := func(t *testing.T) *sandbox.STS {
		t.Helper()
		s := sandbox.New(sandbox.Config{Callers: map[string]string{verifierKey: verifier}, Seed: seed})
		for _, err := range []error{
			s.PutRole(accessRole, loosePolicy(verifier)),
			s.SetIdentityPolicies(accessRole, []byte(accessPolicy)),
			s.PutRole(roleARN, enforcedPolicy(accessRole, externalID)),
		} {
			if err != nil {
				t.Fatal(err)
			}
		}
		return s
	}
	otherPath := "arn:aws:iam::111122223333:role/elsewhere/rolecall-dev-access"
	tests := []struct {
		name string
		// change is done after the session is issued by issuer; it
		// returns the sandbox the session then calls.
		change func(t *testing.T, issuer *sandbox.STS) *sandbox.STS
		want   string // error code of both calls; "" when both succeed
	}{
		{"issuing sandbox", func(t *testing.T, s *sandbox.STS) *sandbox.STS { return s }, ""},
		{"another sandbox of the same seed and model", func(t *testing.T, _ *sandbox.STS) *sandbox.STS { return setup(t) }, "InvalidClientTokenId"},
		{"trust policy replaced", func(t *testing.T, s *sandbox.STS) *sandbox.STS {
			must(t, s.PutRole(accessRole, loosePolicy("111122223333")))
			return s
		}, ""},
		{"role put again from a model", func(t *testing.T, s *sandbox.STS) *sandbox.STS {
			must(t, s.Load([]byte(`{"roles":[{"arn":"`+accessRole+`","trustPolicy":`+string(loosePolicy(verifier))+`}]}`)))
			return s
		}, ""},
		{"max session duration changed", func(t *testing.T, s *sandbox.STS) *sandbox.STS {
			must(t, s.SetMaxSessionDuration(accessRole, 7200))
			return s
		}, ""},
		{"role deleted", func(t *testing.T, s *sandbox.STS) *sandbox.STS {
			s.DeleteRole(accessRole)
			return s
		}, "InvalidClientTokenId"},
		{"role deleted and created again", func(t *testing.T, s *sandbox.STS) *sandbox.STS {
			s.DeleteRole(accessRole)
			must(t, s.PutRole(accessRole, loosePolicy(verifier)))
			must(t, s.SetIdentityPolicies(accessRole, []byte(accessPolicy)))
			return s
		}, "InvalidClientTokenId"},
		{"role replaced by one of its name on another path", func(t *testing.T, s *sandbox.STS) *sandbox.STS {
			must(t, s.PutRole(otherPath, loosePolicy(verifier)))
			return s
		}, "InvalidClientTokenId"},
	}
	ctx := context.Background()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			issuer := setup(t)
			a := httptest.NewServer(issuer)
			defer a.Close()
			out, err := client(a.URL, credentials.NewStaticCredentialsProvider(verifierKey, sandbox.DefaultCallerSecret(verifierKey), "")).AssumeRole(ctx, &sts.AssumeRoleInput{
				RoleArn: aws.String(accessRole), RoleSessionName: aws.String("verifier"), DurationSeconds: aws.Int32(900)})
			if err != nil {
				t.Fatalf("issue the session: %v", err)
			}
			target := httptest.NewServer(tt.change(t, issuer))
			defer target.Close()
			session := client(target.URL, sessionCredentials(out.Credentials))

			id, err := session.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
			if got := apiCode(err); got != tt.want {
				t.Errorf("GetCallerIdentity: %v, want %q", err, tt.want)
			}
			if err == nil && aws.ToString(id.Arn) != "arn:aws:sts::111122223333:assumed-role/rolecall-dev-access/verifier" {
				t.Errorf("GetCallerIdentity Arn = %s", aws.ToString(id.Arn))
			}
			_, err = session.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(roleARN), RoleSessionName: aws.String("chained"),
				ExternalId: aws.String(externalID), DurationSeconds: aws.Int32(900)})
			if got := apiCode(err); got != tt.want {
				t.Errorf("AssumeRole: %v, want %q", err, tt.want)
			}
		})
	}
}

// TestSandboxesSignWithKeysOfTheirOwn: two sandboxes of one configuration
// issue the same identifiers for the same calls (the seed drives them) but
// different session tokens, each refused by the other.
func TestSandboxesSignWithKeysOfTheirOwn(t *testing.T) {
	const key = "AKIASANDBOXVERIFIER1"
	verifier := "arn:aws:iam::111122223333:role/rolecall-dev-verifier"
	var creds [2]*types.Credentials
	var urls [2]string
	for i := range creds {
		s := sandbox.New(sandbox.Config{Callers: map[string]string{key: verifier}, Seed: 7})
		must(t, s.PutRole(accessRole, loosePolicy(verifier)))
		srv := httptest.NewServer(s)
		defer srv.Close()
		urls[i] = srv.URL
		out, err := client(srv.URL, credentials.NewStaticCredentialsProvider(key, sandbox.DefaultCallerSecret(key), "")).AssumeRole(context.Background(), &sts.AssumeRoleInput{
			RoleArn: aws.String(accessRole), RoleSessionName: aws.String("s1"), DurationSeconds: aws.Int32(900)})
		if err != nil {
			t.Fatal(err)
		}
		creds[i] = out.Credentials
	}
	if aws.ToString(creds[0].AccessKeyId) != aws.ToString(creds[1].AccessKeyId) {
		t.Errorf("access key IDs %s and %s differ: the seed no longer drives them", aws.ToString(creds[0].AccessKeyId), aws.ToString(creds[1].AccessKeyId))
	}
	if aws.ToString(creds[0].SessionToken) == aws.ToString(creds[1].SessionToken) {
		t.Fatal("two sandboxes signed the same session token: the key is not their own")
	}
	for i, j := range []int{1, 0} {
		_, err := client(urls[j], sessionCredentials(creds[i])).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
		if apiCode(err) != "InvalidClientTokenId" {
			t.Errorf("sandbox %d with sandbox %d's session: %v, want InvalidClientTokenId", j, i, err)
		}
		if _, err := client(urls[i], sessionCredentials(creds[i])).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{}); err != nil {
			t.Errorf("sandbox %d with its own session: %v", i, err)
		}
	}
}

func client(url string, c aws.CredentialsProvider) *sts.Client {
	return sts.New(sts.Options{Region: "us-east-1", BaseEndpoint: aws.String(url), Credentials: c, Retryer: aws.NopRetryer{}})
}

func sessionCredentials(c *types.Credentials) credentials.StaticCredentialsProvider {
	return credentials.NewStaticCredentialsProvider(aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken))
}

// apiCode is the STS error code of err, "" for no error.
func apiCode(err error) string {
	var ae smithy.APIError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &ae):
		return ae.ErrorCode()
	}
	return err.Error()
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
