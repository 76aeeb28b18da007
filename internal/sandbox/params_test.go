package sandbox_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/aws-sdk-go-v2/service/sts/types"
	"github.com/aws/smithy-go"

	"github.com/rolecall/rolecall/internal/sandbox"
)

// TestAssumeRoleRefusesUnmodelledParameters: every AssumeRole parameter STS
// applies and the sandbox does not evaluate is refused with a 400
// ValidationError naming it, through the real SDK, instead of being dropped
// and answered with credentials IAM could refuse (SourceIdentity and session
// tags need permissions in the trust policy; managed session policies and
// MFA change what the session may do). The sandbox keeps no state from a
// refused call: the next plain call gets the same answer as on a fresh
// sandbox.
func TestAssumeRoleRefusesUnmodelledParameters(t *testing.T) {
	tests := []struct {
		name  string
		set   func(in *sts.AssumeRoleInput)
		param string // a name the message must carry
	}{
		{"source identity", func(in *sts.AssumeRoleInput) { in.SourceIdentity = aws.String("alice") }, "SourceIdentity"},
		{"session tags", func(in *sts.AssumeRoleInput) {
			in.Tags = []types.Tag{{Key: aws.String("team"), Value: aws.String("a")}}
		}, "Tags.member.1.Key"},
		{"transitive tag keys", func(in *sts.AssumeRoleInput) { in.TransitiveTagKeys = []string{"team"} }, "TransitiveTagKeys.member.1"},
		{"managed session policies", func(in *sts.AssumeRoleInput) {
			in.PolicyArns = []types.PolicyDescriptorType{{Arn: aws.String("arn:aws:iam::aws:policy/ReadOnlyAccess")}}
		}, "PolicyArns.member.1.arn"},
		{"MFA", func(in *sts.AssumeRoleInput) {
			in.SerialNumber, in.TokenCode = aws.String("arn:aws:iam::111122223333:mfa/alice"), aws.String("123456")
		}, "SerialNumber"},
		{"provided contexts", func(in *sts.AssumeRoleInput) {
			in.ProvidedContexts = []types.ProvidedContext{{ProviderArn: aws.String("arn:aws:iam::aws:contextProvider/IdentityCenter"), ContextAssertion: aws.String("x")}}
		}, "ProvidedContexts.member.1.ProviderArn"},
	}
	srv := httptest.NewServer(newSandbox(t, 1))
	defer srv.Close()
	client := stsClient(srv.URL, partnerKey, "us-east-1")
	plain := func() *sts.AssumeRoleInput {
		return &sts.AssumeRoleInput{RoleArn: aws.String(roleARN), RoleSessionName: aws.String("s1"), ExternalId: aws.String(externalID)}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := plain()
			tt.set(in)
			out, err := client.AssumeRole(context.Background(), in)
			if err == nil {
				t.Fatalf("AssumeRole succeeded (%s), want a refusal", aws.ToString(out.AssumedRoleUser.Arn))
			}
			var ae smithy.APIError
			var re *awshttp.ResponseError
			if !errors.As(err, &ae) || ae.ErrorCode() != "ValidationError" || !errors.As(err, &re) || re.HTTPStatusCode() != http.StatusBadRequest {
				t.Fatalf("error %v, want HTTP 400 ValidationError", err)
			}
			msg := ae.ErrorMessage()
			if !strings.Contains(msg, tt.param) || !strings.Contains(msg, "does not model") {
				t.Errorf("message %q does not name %s as a parameter the sandbox does not model", msg, tt.param)
			}
			if strings.Contains(msg, externalID) {
				t.Errorf("message discloses the external ID: %q", msg)
			}
		})
	}
	if _, err := client.AssumeRole(context.Background(), plain()); err != nil {
		t.Errorf("plain AssumeRole after the refusals: %v", err)
	}
}

// TestRawUnmodelledParameters: the refusal as a client that builds the
// query itself sees it, for every action the sandbox serves, and the
// parameters every action and a presigned request carry are accepted.
func TestRawUnmodelledParameters(t *testing.T) {
	srv := httptest.NewServer(newSandbox(t, 1))
	defer srv.Close()
	assume := "Action=AssumeRole&Version=2011-06-15&RoleSessionName=s1&RoleArn=" + url.QueryEscape(roleARN) + "&ExternalId=" + externalID
	tests := []struct {
		name, body string
		wantStatus int
		wantCode   string
		wantInMsg  string
	}{
		{"GetCallerIdentity with a parameter", "Action=GetCallerIdentity&Version=2011-06-15&RoleArn=x", 400, "ValidationError", "GetCallerIdentity parameter(s) RoleArn"},
		{"a parameter in another case", assume + "&externalId=" + externalID, 400, "ValidationError", "parameter(s) externalId"},
		{"several, sorted", assume + "&TokenCode=1&SerialNumber=2&Tags.member.1.Key=k", 400, "ValidationError", "SerialNumber, Tags.member.1.Key, TokenCode"},
		{"many, bounded", assume + "&a1=1&a2=1&a3=1&a4=1&a5=1&a6=1&a7=1", 400, "ValidationError", "a1, a2, a3, a4, a5, and 2 more"},
		{"a long name, cut", assume + "&" + strings.Repeat("N", 500) + "=1", 400, "ValidationError", strings.Repeat("N", 64) + "…"},
		{"a long name cut on a character", assume + "&" + url.QueryEscape(strings.Repeat("N", 63)+"é") + "=1", 400, "ValidationError", strings.Repeat("N", 63) + "…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, doc := postSTS(t, "POST", srv.URL, sigv4(partnerKey), tt.body)
			if status != tt.wantStatus || doc.Code != tt.wantCode || !strings.Contains(doc.Message, tt.wantInMsg) {
				t.Errorf("got %d %s %q, want %d %s with %q", status, doc.Code, doc.Message, tt.wantStatus, tt.wantCode, tt.wantInMsg)
			}
			if strings.Contains(doc.Message, externalID) || strings.Contains(doc.Message, strings.Repeat("N", 65)) || !utf8.ValidString(doc.Message) {
				t.Errorf("message echoes a value or a whole long name: %q", doc.Message)
			}
		})
	}
	accepted := []struct{ name, query, body string }{
		{"every modelled AssumeRole parameter", "", assume + "&DurationSeconds=900&Policy=" + url.QueryEscape(`{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]}`)},
	}
	for _, tt := range accepted {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := http.NewRequest("POST", srv.URL+"/?"+tt.query, strings.NewReader(tt.body))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if tt.query == "" {
				authorize(t, r, sigv4(partnerKey), tt.body)
			}
			resp, err := http.DefaultClient.Do(r)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("status %d, want 200", resp.StatusCode)
			}
		})
	}
}

// TestOnlyTabledActionsAreServed: the table of modelled parameters is the
// list of the actions served, so an action served without an entry there
// (whose parameters would go unchecked) cannot exist: taken out of the
// table, GetCallerIdentity is no longer served at all.
func TestOnlyTabledActionsAreServed(t *testing.T) {
	srv := httptest.NewServer(newSandbox(t, 1))
	defer srv.Close()
	sandbox.Unserve(t, "GetCallerIdentity")
	for _, body := range []string{
		"Action=GetCallerIdentity&Version=2011-06-15",
		"Action=GetCallerIdentity&Version=2011-06-15&SerialNumber=x&TokenCode=1",
	} {
		if status, doc := postSTS(t, "POST", srv.URL, sigv4(partnerKey), body); status != 400 || doc.Code != "InvalidAction" {
			t.Errorf("%s: %d %s %q, want 400 InvalidAction", body, status, doc.Code, doc.Message)
		}
	}
}

// TestRequestsSTSWouldNotTakeAreRefused: a request is taken only in the
// form STS takes it; what the sandbox cannot tell STS's answer to (a
// parameter given twice) is refused, never read one way of several.
func TestRequestsSTSWouldNotTakeAreRefused(t *testing.T) {
	srv := httptest.NewServer(newSandbox(t, 1))
	defer srv.Close()
	assume := "Action=AssumeRole&Version=2011-06-15&RoleSessionName=s1&RoleArn=" + url.QueryEscape(roleARN) + "&ExternalId=" + externalID
	signedIn := func(region string) string {
		return strings.Replace(sigv4(partnerKey), "/us-east-1/", "/"+region+"/", 1)
	}
	credentialOnly := "?X-Amz-Credential=" + url.QueryEscape(partnerKey+"/20250101/us-east-1/sts/aws4_request")
	tests := []struct {
		name, query, auth, body string
		wantStatus              int
		wantCode, wantInMsg     string
	}{
		{"a second ExternalId", "", sigv4(partnerKey), assume + "&ExternalId=rc-DECOYDECOYDECOYDECOY", 400, "MalformedQueryString", "ExternalId given more than once"},
		{"a parameter in the query and the body", "?RoleSessionName=s2", sigv4(partnerKey), assume, 400, "MalformedQueryString", "RoleSessionName"},
		{"signed for a Region of another partition", "", signedIn("cn-north-1"), assume, 403, "SignatureDoesNotMatch", "valid region of partition aws"},
		{"signed for no Region", "", signedIn("not-a-region"), assume, 403, "SignatureDoesNotMatch", "valid region"},
		{"presigned", "?" + presignedBy(partnerKey, time.Now()), "", "Action=GetCallerIdentity&Version=2011-06-15", 400, "IncompleteSignature", "presigned request is not modelled"},
		{"presigned with a credential alone", credentialOnly, "", "Action=GetCallerIdentity&Version=2011-06-15", 400, "IncompleteSignature", ""},
		{"presigned with a signature that is no SHA-256", credentialOnly + "&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20250101T000000Z&X-Amz-SignedHeaders=host&X-Amz-Signature=00", "",
			"Action=GetCallerIdentity&Version=2011-06-15", 400, "IncompleteSignature", ""},
		{"a duration of zero", "", sigv4(partnerKey), assume + "&DurationSeconds=0", 400, "ValidationError", "Value '0' at 'durationSeconds'"},
		{"an empty session policy", "", sigv4(partnerKey), assume + "&Policy=", 400, "ValidationError", "'policy'"},
		{"a session policy over 2048 characters", "", sigv4(partnerKey), assume + "&Policy=" + url.QueryEscape(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::`+strings.Repeat("b", 2048)+`"}]}`),
			400, "ValidationError", "length between 1 and 2048"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, doc := postSTS(t, "POST", srv.URL+"/"+tt.query, tt.auth, tt.body)
			if status != tt.wantStatus || doc.Code != tt.wantCode || !strings.Contains(doc.Message, tt.wantInMsg) {
				t.Errorf("got %d %s %q, want %d %s with %q", status, doc.Code, doc.Message, tt.wantStatus, tt.wantCode, tt.wantInMsg)
			}
			if strings.Contains(doc.Message, externalID) || strings.Contains(doc.Message, "DECOY") {
				t.Errorf("message echoes an external ID: %q", doc.Message)
			}
		})
	}
}
