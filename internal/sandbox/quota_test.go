package sandbox_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/rolecall/rolecall/internal/probe"
	"github.com/rolecall/rolecall/internal/sandbox"
	"github.com/rolecall/rolecall/internal/testkit/testclock"
)

// TestRequestQuota: the sandbox STS admits at most RequestsPerSecond calls
// per caller account and Region in any one-second window and answers the
// rest with STS's Throttling error, through the real SDK over HTTP with the
// SDK's retries off, on a simulated clock.
func TestRequestQuota(t *testing.T) {
	const thirdKey = "AKIASANDBOXTHIRD0001"
	clock := testclock.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	s := sandbox.New(sandbox.Config{
		Callers: map[string]string{
			partnerKey: partnerRole,
			otherKey:   otherRole,
			// Another principal of the partner's account shares its quota.
			thirdKey: "arn:aws:iam::111122223333:user/ops",
		},
		Now:               clock.Now,
		RequestsPerSecond: 3,
	})
	if err := s.PutRole(roleARN, enforcedPolicy(partnerRole, externalID)); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	defer srv.Close()
	client := func(key, region string) *sts.Client {
		return sts.New(sts.Options{
			Region:       region,
			BaseEndpoint: aws.String(srv.URL),
			Credentials:  credentials.NewStaticCredentialsProvider(key, sandbox.DefaultCallerSecret(key), ""),
			Retryer:      aws.NopRetryer{},
		})
	}
	assume := func(key, region string) error {
		_, err := client(key, region).AssumeRole(context.Background(), &sts.AssumeRoleInput{
			RoleArn: aws.String(roleARN), RoleSessionName: aws.String("quota-test"), ExternalId: aws.String(externalID),
		})
		return err
	}
	identity := func(key, region string) error {
		_, err := client(key, region).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
		return err
	}
	isThrottled := func(err error) bool {
		var ae smithy.APIError
		var re *awshttp.ResponseError
		return errors.As(err, &ae) && ae.ErrorCode() == "Throttling" && ae.ErrorMessage() == "Rate exceeded" &&
			errors.As(err, &re) && re.HTTPStatusCode() == http.StatusBadRequest
	}
	steps := []struct {
		name      string
		advance   time.Duration
		call      func() error
		throttled bool
	}{
		{"1st call", 0, func() error { return assume(partnerKey, "us-east-1") }, false},
		{"2nd call, 100ms later", 100 * time.Millisecond, func() error { return assume(partnerKey, "us-east-1") }, false},
		{"GetCallerIdentity counts too", 100 * time.Millisecond, func() error { return identity(partnerKey, "us-east-1") }, false},
		{"4th call within the second", 0, func() error { return assume(partnerKey, "us-east-1") }, true},
		{"another principal of the same account shares the quota", 0, func() error { return identity(thirdKey, "us-east-1") }, true},
		{"another account has its own quota", 0, func() error { return identity(otherKey, "us-east-1") }, false},
		{"another Region has its own quota", 0, func() error { return assume(partnerKey, "eu-west-1") }, false},
		{"still within one second of the 1st call", 799 * time.Millisecond, func() error { return assume(partnerKey, "us-east-1") }, true},
		{"one second after the 1st call: one slot", time.Millisecond, func() error { return assume(partnerKey, "us-east-1") }, false},
		{"and only one", 0, func() error { return assume(partnerKey, "us-east-1") }, true},
		{"after a quiet second all three", 2 * time.Second, func() error { return assume(partnerKey, "us-east-1") }, false},
		{"second of three", 0, func() error { return assume(partnerKey, "us-east-1") }, false},
		{"third of three", 0, func() error { return identity(thirdKey, "us-east-1") }, false},
		{"fourth refused", 0, func() error { return assume(partnerKey, "us-east-1") }, true},
	}
	wantThrottled := uint64(0)
	for _, st := range steps {
		clock.Advance(st.advance)
		err := st.call()
		switch {
		case st.throttled && !isThrottled(err):
			t.Errorf("%s: %v, want Throttling, HTTP 400, \"Rate exceeded\"", st.name, err)
		case !st.throttled && err != nil:
			t.Errorf("%s: %v, want success", st.name, err)
		}
		if st.throttled {
			wantThrottled++
		}
	}
	if got := s.QuotaThrottled(); got != wantThrottled {
		t.Errorf("QuotaThrottled() = %d, want %d", got, wantThrottled)
	}

	t.Run("error document", func(t *testing.T) {
		status, doc := postSTS(t, "POST", srv.URL, sigv4(partnerKey), "Action=GetCallerIdentity&Version=2011-06-15")
		if status != 400 || doc.Type != "Sender" || doc.Code != "Throttling" || doc.Message != "Rate exceeded" || doc.RequestID == "" {
			t.Errorf("got %d %+v", status, doc)
		}
	})

	t.Run("the check classifies it as transient", func(t *testing.T) {
		_, err := (&probe.STS{Client: client(partnerKey, "us-east-1")}).AssumeRole(context.Background(), req(roleARN, externalID))
		if !errors.Is(err, probe.ErrTransient) || codeOf(err) != "Throttling" {
			t.Errorf("error %v, want transient Throttling", err)
		}
	})

	t.Run("off", func(t *testing.T) {
		s.SetRequestsPerSecond(0)
		for i := range 20 {
			if err := assume(partnerKey, "us-east-1"); err != nil {
				t.Fatalf("call %d without a quota: %v", i, err)
			}
		}
	})
}

// TestRequestQuotaEmbedded: the embedded adapter counts against the same
// quota (its Region is Config.Region), and a burst never gets more than the
// quota through in any one-second window.
func TestRequestQuotaEmbedded(t *testing.T) {
	clock := testclock.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	s := sandbox.New(sandbox.Config{Now: clock.Now, RequestsPerSecond: 10, Region: "eu-central-1"})
	if err := s.PutRole(roleARN, enforcedPolicy(partnerRole, externalID)); err != nil {
		t.Fatal(err)
	}
	a := s.Assumer(partnerRole)
	var admitted []time.Time
	// 100 calls every 25 ms: 40 a second offered, 10 a second admitted.
	for range 100 {
		_, err := a.AssumeRole(context.Background(), req(roleARN, externalID))
		switch {
		case err == nil:
			admitted = append(admitted, clock.Now())
		case codeOf(err) != "Throttling" || !errors.Is(err, probe.ErrTransient):
			t.Fatalf("unexpected error %v", err)
		}
		clock.Advance(25 * time.Millisecond)
	}
	for i := range admitted {
		n := 0
		for _, t2 := range admitted[i:] {
			if t2.Sub(admitted[i]) < time.Second {
				n++
			}
		}
		if n > 10 {
			t.Fatalf("%d calls admitted in the second from %v, quota 10", n, admitted[i])
		}
	}
	// 2.5 s of calls: the quota is used in full (10 per second), no more.
	if len(admitted) != 30 {
		t.Errorf("admitted %d calls in 2.5 s at 10/s, want 30", len(admitted))
	}
	if got := s.QuotaThrottled(); got != uint64(100-len(admitted)) {
		t.Errorf("QuotaThrottled() = %d, want %d", got, 100-len(admitted))
	}
}

// newSandboxWith is a sandbox on clock with the given callers and no roles.
func newSandboxWith(t *testing.T, clock *testclock.Clock, callers map[string]string) *sandbox.STS {
	t.Helper()
	return sandbox.New(sandbox.Config{Callers: callers, Now: clock.Now})
}

func asAPIError(err error, target *smithy.APIError) bool { return errors.As(err, target) }
