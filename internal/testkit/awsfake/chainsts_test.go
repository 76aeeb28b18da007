package awsfake_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/rolecall/rolecall/internal/sandbox"
	"github.com/rolecall/rolecall/internal/testkit/awsfake"
)

const (
	chainWorkload = "arn:aws:iam::111122223333:role/billing"
	chainAccess   = "arn:aws:iam::111122223333:role/rolecall-access"
	chainCustomer = "arn:aws:iam::444455556666:role/RoleCall"
	chainKey      = "AKIAWORKLOAD00000001"
)

// chain sets up workload -> access role -> customer role (external ID
// "ext") and returns the fake and an SDK config signed with the workload's
// key.
func chain(t *testing.T) (*awsfake.ChainSTS, aws.Config) {
	t.Helper()
	fake := awsfake.NewChainSTS()
	fake.AddPrincipal(chainKey, chainWorkload)
	fake.AddRole(chainAccess, chainWorkload, "")
	fake.AddRole(chainCustomer, chainAccess, "ext")
	cfg := awsfake.Serve(t, fake, 1)
	cfg.Credentials = credentials.NewStaticCredentialsProvider(chainKey, sandbox.DefaultCallerSecret(chainKey), "")
	return fake, cfg
}

func assume(ctx context.Context, cfg aws.Config, role, externalID string) (aws.Config, error) {
	in := &sts.AssumeRoleInput{RoleArn: aws.String(role), RoleSessionName: aws.String("rolecall")}
	if externalID != "" {
		in.ExternalId = aws.String(externalID)
	}
	out, err := sts.NewFromConfig(cfg).AssumeRole(ctx, in)
	if err != nil {
		return aws.Config{}, err
	}
	c := out.Credentials
	next := cfg.Copy()
	next.Credentials = credentials.NewStaticCredentialsProvider(aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken))
	return next, nil
}

// TestChainSTSRecordsTheChain: the sandbox answers (a wrong external ID
// is AccessDenied, and no session), and the record names who assumed each
// role: the configured principal, then the access role's session.
func TestChainSTSRecordsTheChain(t *testing.T) {
	fake, cfg := chain(t)
	ctx := context.Background()
	access, err := assume(ctx, cfg, chainAccess, "")
	if err != nil {
		t.Fatal(err)
	}
	var ae smithy.APIError
	if _, err := assume(ctx, access, chainCustomer, "wrong"); !errors.As(err, &ae) || ae.ErrorCode() != "AccessDenied" {
		t.Fatalf("wrong external ID: %v, want AccessDenied", err)
	}
	if _, err := assume(ctx, access, chainCustomer, "ext"); err != nil {
		t.Fatal(err)
	}
	if got := fake.Callers(chainAccess); !slices.Equal(got, []string{chainWorkload}) {
		t.Errorf("access role's callers %v", got)
	}
	session := "arn:aws:sts::111122223333:assumed-role/rolecall-access/rolecall"
	if got := fake.Callers(chainCustomer); !slices.Equal(got, []string{session}) {
		t.Errorf("customer role's callers %v, want [%s]", got, session)
	}
	if got := fake.CallerRoles(chainCustomer); !slices.Equal(got, []string{chainAccess}) {
		t.Errorf("customer role's caller roles %v", got)
	}
	if fake.Assumed(chainAccess) != 1 || fake.Assumed(chainCustomer) != 1 {
		t.Errorf("assumed access %d, customer %d; want 1 and 1", fake.Assumed(chainAccess), fake.Assumed(chainCustomer))
	}
	var ids []string
	for _, f := range fake.Requests() {
		ids = append(ids, f.Get("ExternalId"))
	}
	if !slices.Equal(ids, []string{"", "wrong", "ext"}) {
		t.Errorf("requests' external IDs %q", ids)
	}
}

// TestChainSTSSetExpiry: an hour-long session expires when SetExpiry says,
// and still works until then.
func TestChainSTSSetExpiry(t *testing.T) {
	fake, cfg := chain(t)
	fake.SetExpiry(2 * time.Minute)
	ctx := context.Background()
	out, err := sts.NewFromConfig(cfg).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(chainAccess), RoleSessionName: aws.String("rolecall")})
	if err != nil {
		t.Fatal(err)
	}
	if left := time.Until(aws.ToTime(out.Credentials.Expiration)); left <= time.Minute || left > 2*time.Minute {
		t.Errorf("session expires in %v, want about 2m", left)
	}
	access, err := assume(ctx, cfg, chainAccess, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sts.NewFromConfig(access).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
		t.Errorf("the session is refused before it expires: %v", err)
	}
}
