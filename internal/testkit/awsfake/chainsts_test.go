package awsfake_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/rolecall/rolecall/internal/testkit/awsfake"
)

// TestChainSTSRefusesDurationsSTSRefuses: DurationSeconds outside 900 s to
// 12 hours, above the role's MaxSessionDuration (one hour), or above one
// hour under role chaining is a ValidationError, as STS answers it, and
// no session; absent, it is accepted (STS's default of one hour).
func TestChainSTSRefusesDurationsSTSRefuses(t *testing.T) {
	const (
		user    = "arn:aws:iam::111122223333:user/ops"
		first   = "arn:aws:iam::111122223333:role/first"
		chained = "arn:aws:iam::444455556666:role/chained"
	)
	tests := []struct {
		name     string
		chain    bool  // assume chained with a session of first
		duration int32 // 0: absent
		wantMsg  string
	}{
		{"absent", false, 0, ""},
		{"the minimum", false, 900, ""},
		{"one hour", false, 3600, ""},
		{"under the minimum", false, 899, "greater than or equal to 900"},
		{"one second", false, 1, "greater than or equal to 900"},
		{"negative", false, -900, "greater than or equal to 900"},
		{"over the role's maximum", false, 3601, "MaxSessionDuration"},
		{"twelve hours, over the role's maximum", false, 43200, "MaxSessionDuration"},
		{"over twelve hours", false, 43201, "less than or equal to 43200"},
		{"chained, one hour", true, 3600, ""},
		{"chained, absent", true, 0, ""},
		{"chained, over one hour", true, 3601, "role chaining"},
		{"chained, under the minimum", true, 600, "greater than or equal to 900"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := awsfake.NewChainSTS()
			fake.AddPrincipal("AKIDTEST", user)
			fake.AddRole(first, user, "")
			fake.AddRole(chained, first, "")
			cfg := awsfake.Serve(t, fake, 1)
			ctx := context.Background()
			target := first
			if tt.chain {
				out, err := sts.NewFromConfig(cfg).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(first), RoleSessionName: aws.String("s")})
				if err != nil {
					t.Fatal(err)
				}
				c := out.Credentials
				cfg.Credentials = credentials.NewStaticCredentialsProvider(aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken))
				target = chained
			}
			in := &sts.AssumeRoleInput{RoleArn: aws.String(target), RoleSessionName: aws.String("s")}
			if tt.duration != 0 {
				in.DurationSeconds = aws.Int32(tt.duration)
			}
			out, err := sts.NewFromConfig(cfg).AssumeRole(ctx, in)
			if tt.wantMsg == "" {
				if err != nil || out.Credentials == nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var ae smithy.APIError
			if !errors.As(err, &ae) || ae.ErrorCode() != "ValidationError" || !strings.Contains(ae.ErrorMessage(), tt.wantMsg) {
				t.Fatalf("error %v, want a ValidationError saying %q", err, tt.wantMsg)
			}
			if n := fake.Assumed(target); n != 0 {
				t.Errorf("%d sessions issued for a refused duration", n)
			}
		})
	}
}

// TestChainSTSRefusesADurationThatIsNoNumber: a DurationSeconds the SDK
// would never send is a ValidationError too, not a default.
func TestChainSTSRefusesADurationThatIsNoNumber(t *testing.T) {
	fake := awsfake.NewChainSTS()
	fake.AddPrincipal("AKIDTEST", "arn:aws:iam::111122223333:user/ops")
	fake.AddRole("arn:aws:iam::111122223333:role/first", "arn:aws:iam::111122223333:user/ops", "")
	srv := httptest.NewServer(fake)
	defer srv.Close()
	form := url.Values{"Action": {"AssumeRole"}, "Version": {"2011-06-15"}, "RoleArn": {"arn:aws:iam::111122223333:role/first"},
		"RoleSessionName": {"s"}, "DurationSeconds": {"1h"}}
	req, err := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDTEST/20260301/us-east-1/sts/aws4_request, SignedHeaders=host, Signature=x")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "<Code>ValidationError</Code>") {
		t.Errorf("answer %d %s, want a 400 ValidationError", resp.StatusCode, body)
	}
}
