package sandbox_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/aws-sdk-go-v2/service/sts/types"
	"github.com/aws/smithy-go"

	"github.com/rolecall/rolecall/internal/probe"
	"github.com/rolecall/rolecall/internal/sandbox"
	"github.com/rolecall/rolecall/internal/testkit/testclock"
)

// TestRoleChaining: the sandbox accepts the session credentials it issued
// as callers, through the real SDK over HTTP: verifier → partner access role
// → customer role, with the access role's identity policy evaluated, STS's
// one-hour limit for chained sessions, session policies, expiry and
// tampering.
func TestRoleChaining(t *testing.T) {
	const (
		verifier    = "arn:aws:iam::111122223333:role/rolecall-dev-verifier"
		verifierKey = "AKIASANDBOXVERIFIER1"
	)
	clock := testclock.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	s := newSandboxWith(t, clock, map[string]string{verifierKey: verifier})
	for _, err := range []error{
		s.PutRole(accessRole, loosePolicy(verifier)),
		s.SetIdentityPolicies(accessRole, []byte(accessPolicy)),
		s.SetIdentityPolicies(verifier, []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"`+accessRole+`"}]}`)),
		s.PutRole(roleARN, enforcedPolicy(accessRole, externalID)),
		s.SetMaxSessionDuration(roleARN, 43200),
		s.PutRole(ownRole, loosePolicy(accessRole)),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(s)
	defer srv.Close()
	client := func(c credentials.StaticCredentialsProvider) *sts.Client {
		return sts.New(sts.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), Credentials: c, Retryer: aws.NopRetryer{}})
	}
	ctx := context.Background()
	assume := func(c *sts.Client, role string, extID string, dur int32, policy string) (*types.Credentials, error) {
		in := &sts.AssumeRoleInput{RoleArn: aws.String(role), RoleSessionName: aws.String("chain-test"), DurationSeconds: aws.Int32(dur)}
		if extID != "" {
			in.ExternalId = aws.String(extID)
		}
		if policy != "" {
			in.Policy = aws.String(policy)
		}
		out, err := c.AssumeRole(ctx, in)
		if err != nil {
			return nil, err
		}
		return out.Credentials, nil
	}
	code := func(err error) string {
		var ae smithy.APIError
		if err == nil {
			return "OK"
		}
		if ok := asAPIError(err, &ae); ok {
			return ae.ErrorCode()
		}
		return err.Error()
	}
	asSession := func(c *types.Credentials) *sts.Client {
		return client(credentials.NewStaticCredentialsProvider(aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken)))
	}
	base := client(credentials.NewStaticCredentialsProvider(verifierKey, sandbox.DefaultCallerSecret(verifierKey), ""))

	// The verifier's own session is a role session: chaining, one hour at most.
	if _, err := assume(base, accessRole, "", 7200, ""); code(err) != "ValidationError" || !strings.Contains(err.Error(), "role chaining") {
		t.Errorf("verifier asks for 2 h: %v, want the role-chaining ValidationError", err)
	}
	// The verifier may not reach customer roles directly: its identity
	// policy allows the access role only (and the customer trusts only it).
	if _, err := assume(base, roleARN, externalID, 900, ""); code(err) != "AccessDenied" {
		t.Errorf("verifier → customer role: %v, want AccessDenied", err)
	}
	accessCreds, err := assume(base, accessRole, "", 3600, "")
	if err != nil {
		t.Fatalf("verifier → access role: %v", err)
	}
	access := asSession(accessCreds)
	id, err := access.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil || aws.ToString(id.Arn) != "arn:aws:sts::111122223333:assumed-role/rolecall-dev-access/chain-test" || aws.ToString(id.Account) != partnerAcctID {
		t.Fatalf("GetCallerIdentity of the access role session: %v %+v", err, id)
	}
	// chainWithSessionPolicy: the verifier takes an access-role session
	// with policy as its session policy, then assumes the customer role.
	chainWithSessionPolicy := func(policy string) func() error {
		return func() error {
			c, err := assume(base, accessRole, "", 900, policy)
			if err != nil {
				return err
			}
			_, err = assume(asSession(c), roleARN, externalID, 900, "")
			return err
		}
	}
	steps := []struct {
		name string
		do   func() error
		want string
	}{
		{"access role session → customer role", func() error { _, err := assume(access, roleARN, externalID, 900, ""); return err }, "OK"},
		{"… without the external ID", func() error { _, err := assume(access, roleARN, "", 900, ""); return err }, "AccessDenied"},
		{"… for one hour, the chained maximum", func() error { _, err := assume(access, roleARN, externalID, 3600, ""); return err }, "OK"},
		{"… for two hours: the role allows 12 h, chaining one", func() error { _, err := assume(access, roleARN, externalID, 7200, ""); return err }, "ValidationError"},
		{"… into the partner's own account: the access policy denies", func() error { _, err := assume(access, ownRole, "", 900, ""); return err }, "AccessDenied"},
		{"a session with a deny-all session policy cannot chain", chainWithSessionPolicy(probe.SessionPolicy), "AccessDenied"},
		{"a session policy that allows lets it chain",
			chainWithSessionPolicy(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}]}`), "OK"},
		{"a tampered session token", func() error {
			bad := *accessCreds
			bad.SessionToken = aws.String(strings.Replace(aws.ToString(accessCreds.SessionToken), "rolecall-dev-access", "rolecall-dev-admin", 1) + "x")
			_, err := asSession(&bad).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
			return err
		}, "InvalidClientTokenId"},
		{"another access key with the session's token", func() error {
			_, err := client(credentials.NewStaticCredentialsProvider("ASIAOTHEROTHER000000", "x", aws.ToString(accessCreds.SessionToken))).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
			return err
		}, "InvalidClientTokenId"},
		{"the session expires with its Expiration", func() error {
			clock.Advance(time.Hour)
			_, err := assume(access, roleARN, externalID, 900, "")
			return err
		}, "ExpiredToken"},
	}
	for _, st := range steps {
		if got := code(st.do()); got != st.want {
			t.Errorf("%s: %s, want %s", st.name, got, st.want)
		}
	}
	if got := aws.ToTime(accessCreds.Expiration); !got.Equal(time.Date(2026, 1, 1, 1, 0, 0, 0, time.UTC)) {
		t.Errorf("Expiration = %v, want one hour after issue", got)
	}
}
