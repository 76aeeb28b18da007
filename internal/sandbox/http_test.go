package sandbox_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/rolecall/rolecall/internal/probe"
	"github.com/rolecall/rolecall/internal/rolearn"
	"github.com/rolecall/rolecall/internal/sandbox"
	"github.com/rolecall/rolecall/internal/testkit/roundtrip"
)

// TestGetCallerIdentity: each configured caller is answered with its own
// identity; a role caller with the session the sandbox gives it.
func TestGetCallerIdentity(t *testing.T) {
	tests := []struct {
		key, caller string
		arn         string // "" is the caller itself
	}{
		{"AKIAROLE", partnerRole, "arn:aws:sts::111122223333:assumed-role/RoleCallVerifier/rolecall-sandbox"},
		{"AKIAUSER", "arn:aws:iam::111122223333:user/ops/alice", ""},
		{"AKIAROOT", "arn:aws:iam::111122223333:root", ""},
		{"AKIASESS", "arn:aws:sts::111122223333:assumed-role/RoleCallVerifier/worker-7", ""},
	}
	callers := map[string]string{}
	for _, tt := range tests {
		callers[tt.key] = tt.caller
	}
	srv := httptest.NewServer(sandbox.New(sandbox.Config{Callers: callers}))
	defer srv.Close()
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			out, err := stsClient(srv.URL, tt.key, "eu-west-1").GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
			if err != nil {
				t.Fatal(err)
			}
			want := tt.arn
			if want == "" {
				want = tt.caller
			}
			if aws.ToString(out.Arn) != want || aws.ToString(out.Account) != "111122223333" || aws.ToString(out.UserId) == "" {
				t.Errorf("identity = %s %s %s, want %s", aws.ToString(out.Arn), aws.ToString(out.Account), aws.ToString(out.UserId), want)
			}
		})
	}
}

func TestHTTPErrors(t *testing.T) {
	s := newSandbox(t, 1)
	srv := httptest.NewServer(s)
	defer srv.Close()

	t.Run("unknown access key", func(t *testing.T) {
		_, err := (&probe.STS{Client: stsClient(srv.URL, "AKIAUNKNOWN", "us-east-1")}).AssumeRole(context.Background(), req(roleARN, externalID))
		if !errors.Is(err, probe.ErrTransient) || codeOf(err) != "InvalidClientTokenId" {
			t.Errorf("error %v, want transient InvalidClientTokenId (the partner's credentials, not the customer's role)", err)
		}
	})

	t.Run("access denied document", func(t *testing.T) {
		_, err := stsClient(srv.URL, partnerKey, "us-east-1").AssumeRole(context.Background(), &sts.AssumeRoleInput{
			RoleArn: aws.String(roleARN), RoleSessionName: aws.String("s1"), ExternalId: aws.String("rc-WRONG"),
		})
		var ae smithy.APIError
		if !errors.As(err, &ae) || ae.ErrorCode() != "AccessDenied" {
			t.Fatalf("error %v, want AccessDenied", err)
		}
		want := "User: arn:aws:sts::111122223333:assumed-role/RoleCallVerifier/rolecall-sandbox is not authorized to perform: sts:AssumeRole on resource: " + roleARN
		if ae.ErrorMessage() != want {
			t.Errorf("message %q, want %q", ae.ErrorMessage(), want)
		}
		var re *awshttp.ResponseError
		if !errors.As(err, &re) || re.HTTPStatusCode() != http.StatusForbidden || re.ServiceRequestID() == "" {
			t.Errorf("error %v: want HTTP 403 with a request ID", err)
		}
	})

	t.Run("region from the SigV4 scope", func(t *testing.T) {
		s.SetRegionDisabled(customer, "ap-east-1", true)
		defer s.SetRegionDisabled(customer, "ap-east-1", false)
		_, err := (&probe.STS{Client: stsClient(srv.URL, partnerKey, "ap-east-1")}).AssumeRole(context.Background(), req(roleARN, externalID))
		if !errors.Is(err, probe.ErrRegionDisabled) {
			t.Errorf("ap-east-1: error %v, want region disabled", err)
		}
		if _, err := (&probe.STS{Client: stsClient(srv.URL, partnerKey, "eu-west-1")}).AssumeRole(context.Background(), req(roleARN, externalID)); err != nil {
			t.Errorf("eu-west-1: %v", err)
		}
	})

	t.Run("an opt-in Region the caller's account has not enabled", func(t *testing.T) {
		s.SetRegionNotEnabled("111122223333", "ap-east-1", true)
		defer s.SetRegionNotEnabled("111122223333", "ap-east-1", false)
		_, err := (&probe.STS{Client: stsClient(srv.URL, partnerKey, "ap-east-1")}).AssumeRole(context.Background(), req(roleARN, externalID))
		if !errors.Is(err, probe.ErrTransient) || codeOf(err) != "InvalidClientTokenId" {
			t.Errorf("AssumeRole in ap-east-1: %v, want InvalidClientTokenId (the partner's account, not the customer's role)", err)
		}
		var ae smithy.APIError
		if _, err := stsClient(srv.URL, partnerKey, "ap-east-1").GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{}); !errors.As(err, &ae) || ae.ErrorCode() != "InvalidClientTokenId" {
			t.Errorf("GetCallerIdentity in ap-east-1: %v, want InvalidClientTokenId", err)
		}
		if _, err := (&probe.STS{Client: stsClient(srv.URL, partnerKey, "eu-west-1")}).AssumeRole(context.Background(), req(roleARN, externalID)); err != nil {
			t.Errorf("eu-west-1: %v", err)
		}
		if _, err := s.Assumer(partnerRole).AssumeRole(context.Background(), req(roleARN, externalID)); err != nil {
			t.Errorf("embedded, in us-east-1: %v", err)
		}
	})

	raw := []struct {
		name       string
		method     string
		auth       string
		body       string
		wantStatus int
		wantCode   string
	}{
		{"no authentication", "POST", "", "Action=GetCallerIdentity&Version=2011-06-15", 403, "MissingAuthenticationToken"},
		{"not SigV4", "POST", "Basic abc", "Action=GetCallerIdentity&Version=2011-06-15", 403, "MissingAuthenticationToken"},
		{"unknown action", "POST", sigv4(partnerKey), "Action=DeleteEverything&Version=2011-06-15", 400, "InvalidAction"},
		{"wrong version", "POST", sigv4(partnerKey), "Action=AssumeRole&Version=2099-01-01", 400, "InvalidAction"},
		{"missing role ARN", "POST", sigv4(partnerKey), "Action=AssumeRole&Version=2011-06-15&RoleSessionName=s1", 400, "ValidationError"},
		{"bad duration", "POST", sigv4(partnerKey), "Action=AssumeRole&Version=2011-06-15&RoleSessionName=s1&RoleArn=" + url.QueryEscape(roleARN) + "&DurationSeconds=abc", 400, "ValidationError"},
		{"zero duration", "POST", sigv4(partnerKey), "Action=AssumeRole&Version=2011-06-15&RoleSessionName=s1&RoleArn=" + url.QueryEscape(roleARN) + "&DurationSeconds=0&ExternalId=" + externalID, 400, "ValidationError"},
		{"method", "DELETE", sigv4(partnerKey), "", 405, "InvalidAction"},
		{"body too large", "POST", sigv4(partnerKey), "Action=AssumeRole&Policy=" + strings.Repeat("x", 70<<10), 413, "RequestEntityTooLarge"},
		{"a malformed SigV4 header", "POST", "AWS4-HMAC-SHA256 Credential=" + partnerKey, "Action=GetCallerIdentity&Version=2011-06-15", 400, "IncompleteSignature"},
		{"scoped to another service", "POST", strings.Replace(sigv4(partnerKey), "/sts/", "/iam/", 1), "Action=GetCallerIdentity&Version=2011-06-15", 403, "SignatureDoesNotMatch"},
	}
	for _, tt := range raw {
		t.Run(tt.name, func(t *testing.T) {
			status, doc := postSTS(t, tt.method, srv.URL, tt.auth, tt.body)
			if status != tt.wantStatus || doc.Code != tt.wantCode || doc.Message == "" {
				t.Errorf("got %d %s %q, want %d %s", status, doc.Code, doc.Message, tt.wantStatus, tt.wantCode)
			}
		})
	}
	// An Authorization header of another scheme is no presigned request,
	// whatever credential the query names.
	presigned := srv.URL + "/?X-Amz-Credential=" + url.QueryEscape(partnerKey+"/20250101/us-east-1/sts/aws4_request")
	if status, doc := postSTS(t, "POST", presigned, "Bearer x", "Action=GetCallerIdentity&Version=2011-06-15"); status != 403 || doc.Code != "MissingAuthenticationToken" {
		t.Errorf("another scheme with a query credential: %d %s, want 403 MissingAuthenticationToken", status, doc.Code)
	}
}

// stsError is STS's error document.
type stsError struct {
	XMLName   xml.Name `xml:"ErrorResponse"`
	Type      string   `xml:"Error>Type"`
	Code      string   `xml:"Error>Code"`
	Message   string   `xml:"Error>Message"`
	RequestID string   `xml:"RequestId"`
}

// postSTS sends a raw STS query request and returns the status and the
// error document it answers, failing t if the answer is not one. auth is
// the request's Authorization header ("": none), or what sigv4 returns:
// the request is then signed for that credential scope.
func postSTS(t *testing.T, method, endpoint, auth, body string) (int, stsError) {
	t.Helper()
	r, _ := http.NewRequest(method, endpoint, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	authorize(t, r, auth, body)
	resp, b := roundtrip.Do(t, r)
	var doc stsError
	if err := xml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("not an STS error document: %v\n%s", err, b)
	}
	return resp.StatusCode, doc
}

// sigv4 stands for the signature of a configured key's request, in us-east-1
// for sts (authorize signs it). Tests change its scope's Region or service
// as text.
func sigv4(key string) string { return signPrefix + key + "/us-east-1/sts/" }

const signPrefix = "sign "

// authorize sets r's Authorization header to auth, or, for what sigv4
// returns, signs r (with body as its payload) now with the key it names
// and that key's secret in a sandbox without a caller key.
func authorize(t *testing.T, r *http.Request, auth, body string) {
	t.Helper()
	scope, ok := strings.CutPrefix(auth, signPrefix)
	if !ok {
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		return
	}
	parts := strings.Split(strings.TrimSuffix(scope, "/"), "/")
	if len(parts) != 3 {
		t.Fatalf("sigv4 scope %q: want key/region/service", scope)
	}
	sum := sha256.Sum256([]byte(body))
	creds := aws.Credentials{AccessKeyID: parts[0], SecretAccessKey: sandbox.DefaultCallerSecret(parts[0])}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, r, hex.EncodeToString(sum[:]), parts[2], parts[1], time.Now()); err != nil {
		t.Fatal(err)
	}
}

// presignedBy is the query of a presigned URL of the form a configured
// caller's key signs at at.
func presignedBy(key string, at time.Time) string {
	q := url.Values{"X-Amz-Algorithm": {"AWS4-HMAC-SHA256"}, "X-Amz-Date": {at.UTC().Format("20060102T150405Z")},
		"X-Amz-SignedHeaders": {"host"}, "X-Amz-Signature": {strings.Repeat("0", 64)}, "X-Amz-Expires": {"60"},
		"X-Amz-Credential": {key + "/" + at.UTC().Format("20060102") + "/us-east-1/sts/aws4_request"}}
	return q.Encode()
}

func TestAssumeRoleResponse(t *testing.T) {
	s := newSandbox(t, 9)
	srv := httptest.NewServer(s)
	defer srv.Close()
	out, err := stsClient(srv.URL, partnerKey, "us-east-1").AssumeRole(context.Background(), &sts.AssumeRoleInput{
		RoleArn: aws.String(roleARN), RoleSessionName: aws.String("rolecall-t"), ExternalId: aws.String(externalID),
		DurationSeconds: aws.Int32(900), Policy: aws.String(probe.SessionPolicy),
	})
	if err != nil {
		t.Fatal(err)
	}
	c := out.Credentials
	if c == nil || !strings.HasPrefix(aws.ToString(c.AccessKeyId), "ASIA") || aws.ToString(c.SecretAccessKey) == "" || aws.ToString(c.SessionToken) == "" || c.Expiration == nil {
		t.Fatalf("credentials incomplete: %+v", c)
	}
	if out.AssumedRoleUser == nil || !strings.HasSuffix(aws.ToString(out.AssumedRoleUser.AssumedRoleId), ":rolecall-t") {
		t.Errorf("assumed role user = %+v", out.AssumedRoleUser)
	}
	if out.PackedPolicySize == nil || *out.PackedPolicySize <= 0 {
		t.Errorf("packed policy size = %v", out.PackedPolicySize)
	}
}

func TestPutRole(t *testing.T) {
	s := sandbox.New(sandbox.Config{})
	good := enforcedPolicy(partnerRole, externalID)
	tests := []struct {
		name string
		arn  string
		doc  []byte
		want error
	}{
		{"ok", roleARN, good, nil},
		{"unsupported grammar", roleARN, []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","NotPrincipal":{"AWS":"` + otherRole + `"},"Action":"sts:AssumeRole"}]}`), sandbox.ErrUnsupported},
		{"invalid policy", roleARN, []byte(`{"Statement":"x"}`), sandbox.ErrInvalidPolicy},
		{"not a role", "arn:aws:iam::210987654321:user/bob", good, &rolearn.Error{Code: rolearn.CodeNotRole}},
		{"wrong partition", "arn:aws-cn:iam::210987654321:role/R", good, &rolearn.Error{Code: rolearn.CodeWrongPartition}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.PutRole(tt.arn, tt.doc)
			if tt.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Errorf("PutRole: %v, want %v", err, tt.want)
			}
		})
	}
	if err := s.PutRole("arn:aws:iam::210987654321:role/path/roleCALLaccess", loosePolicy(partnerRole)); err != nil {
		t.Fatal(err)
	}
	if err := s.PutRole("arn:aws:iam::210987654321:role/A", loosePolicy(partnerRole)); err != nil {
		t.Fatal(err)
	}
	// Role names are unique per account regardless of case and path: the
	// second put replaced the first.
	want := []string{"arn:aws:iam::210987654321:role/A", "arn:aws:iam::210987654321:role/path/roleCALLaccess"}
	if got := s.Roles(); !reflect.DeepEqual(got, want) {
		t.Errorf("Roles() = %v, want %v", got, want)
	}
	if doc, ok := s.TrustPolicy("arn:aws:iam::210987654321:role/A"); !ok || string(doc) != string(loosePolicy(partnerRole)) {
		t.Errorf("TrustPolicy = %s, %v", doc, ok)
	}
	s.DeleteRole("arn:aws:iam::210987654321:role/A")
	s.DeleteRole("arn:aws:iam::210987654321:role/never-existed")
	if got := s.Roles(); len(got) != 1 {
		t.Errorf("after delete Roles() = %v", got)
	}
	if err := s.SetCaller("AKIAX", "not-an-arn"); err == nil {
		t.Error("SetCaller accepted an invalid principal")
	}
}

// TestConcurrentUse exercises the sandbox from many goroutines (run with
// -race): role changes, fault changes and calls at once.
func TestConcurrentUse(t *testing.T) {
	s := newSandbox(t, 5)
	a := s.Assumer(partnerRole)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 200 {
			if i%2 == 0 {
				s.DeleteRole(looseARN)
			} else {
				_ = s.PutRole(looseARN, loosePolicy(partnerRole))
			}
			s.SetFaults(sandbox.Faults{ThrottleRate: float64(i%3) / 10})
		}
	}()
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			for range 100 {
				_, err := a.AssumeRole(context.Background(), req(looseARN, ""))
				if err != nil && !errors.Is(err, probe.ErrDenied) && !errors.Is(err, probe.ErrTransient) {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	<-done
}

// TestUnreadableBody: a request whose body breaks off is refused like a
// form that does not parse.
func TestUnreadableBody(t *testing.T) {
	s := sandbox.New(sandbox.Config{})
	r := httptest.NewRequest(http.MethodPost, "/", iotest.ErrReader(errors.New("connection reset")))
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "<Code>MalformedQueryString</Code>") {
		t.Errorf("answer %d %s, want 400 MalformedQueryString", w.Code, w.Body)
	}
}
