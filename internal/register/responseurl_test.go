package register

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/events"
)

const goodURL = "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/arn%3Aaws%3Acloudformation%3Aus-east-1%3A111122223333%3Astack/rc/abc%7CRoleCallRegistration%7Creq-1?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=7200&X-Amz-Signature=abc"

// namedURL is a response URL and the name of its subtest.
type namedURL struct{ name, url string }

// TestCheckResponseURL: the response URLs each policy accepts and refuses,
// and a Responder of the policy accepts.
func TestCheckResponseURL(t *testing.T) {
	q := "/key?X-Amz-Signature=abc"
	tests := []struct {
		policy URLPolicy
		ok     bool
		urls   []namedURL
	}{
		// The forms of the pre-signed S3 URL CloudFormation gives a custom
		// resource, in every partition.
		{URLPolicy{}, true, []namedURL{
			{"global virtual-hosted", goodURL},
			{"regional dot", "https://cloudformation-custom-resource-response-euwest1.s3.eu-west-1.amazonaws.com" + q},
			{"regional dash", "https://cloudformation-custom-resource-response-uswest2.s3-us-west-2.amazonaws.com" + q},
			{"gov", "https://cloudformation-custom-resource-response-usgovwest1.s3-us-gov-west-1.amazonaws.com" + q},
			{"china", "https://cloudformation-custom-resource-response-cnnorth1.s3.cn-north-1.amazonaws.com.cn" + q},
			{"path style global", "https://s3.amazonaws.com/cloudformation-custom-resource-response-useast1" + q},
			{"path style regional", "https://s3.eu-west-1.amazonaws.com/cloudformation-custom-resource-response-euwest1" + q},
			{"explicit 443", "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com:443" + q},
		}},
		// Refused: another bucket, region or key than CloudFormation's.
		{URLPolicy{}, false, []namedURL{
			{"bucket and endpoint regions differ", "https://cloudformation-custom-resource-response-useast1.s3.eu-west-1.amazonaws.com" + q},
			{"unknown region bucket", "https://cloudformation-custom-resource-response-zzeast9.s3.amazonaws.com" + q},
			{"unknown region endpoint", "https://cloudformation-custom-resource-response-useast1.s3.zz-east-9.amazonaws.com" + q},
			{"another bucket", "https://my-bucket.s3.amazonaws.com" + q},
			{"path style another bucket", "https://s3.amazonaws.com/my-bucket" + q},
			{"path style bucket without key", "https://s3.amazonaws.com/cloudformation-custom-resource-response-useast1"},
			{"bare s3 host", "https://s3.amazonaws.com/"},
			{"path style with a dot-dot segment", "https://s3.amazonaws.com/cloudformation-custom-resource-response-useast1/../attacker/x"},
			{"virtual-hosted with dot-dot segments", "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/../../x"},
			{"an escaped dot-dot segment", "https://s3.amazonaws.com/cloudformation-custom-resource-response-useast1/%2E%2e/attacker/x"},
			{"a dot segment", "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/./x"},
		}},
		// Refused: a bucket under another partition's domain, whose bucket
		// namespace is not CloudFormation's there.
		{URLPolicy{}, false, []namedURL{
			{"commercial bucket, China global host", "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com.cn" + q},
			{"commercial bucket, China path style", "https://s3.amazonaws.com.cn/cloudformation-custom-resource-response-useast1" + q},
			{"China bucket, commercial regional host", "https://cloudformation-custom-resource-response-cnnorth1.s3.cn-north-1.amazonaws.com" + q},
			{"China bucket, commercial global host", "https://cloudformation-custom-resource-response-cnnorth1.s3.amazonaws.com" + q},
			{"gov bucket, China host", "https://s3.amazonaws.com.cn/cloudformation-custom-resource-response-usgovwest1" + q},
		}},
		// Refused: hosts that look like the bucket's and are not.
		{URLPolicy{}, false, []namedURL{
			{"look-alike suffix", "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com.evil.example" + q},
			{"look-alike path style", "https://s3.amazonaws.com.evil.example/cloudformation-custom-resource-response-useast1" + q},
			{"subdomain of bucket", "https://x.cloudformation-custom-resource-response-useast1.s3.amazonaws.com" + q},
			{"evil sub-label", "https://cloudformation-custom-resource-response-useast1.evil.s3.amazonaws.com" + q},
			{"trailing dot", "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com." + q},
			{"upper case", "https://CLOUDFORMATION-custom-resource-response-useast1.s3.amazonaws.com" + q},
			{"userinfo", "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com@evil.example" + q},
			{"userinfo before good host", "https://evil.example@cloudformation-custom-resource-response-useast1.s3.amazonaws.com" + q},
			{"backslash trick", "https://evil.example\\@cloudformation-custom-resource-response-useast1.s3.amazonaws.com" + q},
		}},
		// Refused: another scheme, port or address.
		{URLPolicy{}, false, []namedURL{
			{"http", strings.Replace(goodURL, "https://", "http://", 1)},
			{"other port", "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com:8443" + q},
			{"ipv4 literal", "https://52.216.0.1/cloudformation-custom-resource-response-useast1" + q},
			{"ipv6 literal", "https://[::1]/cloudformation-custom-resource-response-useast1" + q},
			{"metadata service", "http://169.254.169.254/latest/meta-data/"},
			{"loopback without the sandbox", "http://127.0.0.1:8080/cfn"},
		}},
		// Refused: malformed URLs.
		{URLPolicy{}, false, []namedURL{
			{"empty", ""},
			{"space", "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/a b"},
			{"crlf", "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/a\r\nHost: evil"},
			{"non-ascii", "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.cöm/a"},
			{"fragment", goodURL + "#x"},
			{"too long", goodURL + strings.Repeat("a", 9000)},
		}},
		// A deployment accepts the buckets of its own region only.
		{URLPolicy{Region: "us-east-1"}, true, []namedURL{
			{"deployment region", goodURL},
		}},
		{URLPolicy{Region: "eu-west-1"}, false, []namedURL{
			{"another region than the deployment's", goodURL},
		}},
		// The sandbox accepts its own loopback listener, and nothing else.
		{URLPolicy{AllowLoopback: true}, true, []namedURL{
			{"sandbox loopback", "http://127.0.0.1:8080/cfn/1"},
		}},
		{URLPolicy{AllowLoopback: true}, false, []namedURL{
			{"sandbox loopback without port", "http://127.0.0.1/cfn"},
			{"sandbox localhost name", "http://localhost:8080/cfn"},
			{"sandbox other address", "http://127.0.0.2:8080/cfn"},
			{"sandbox userinfo", "http://x@127.0.0.1:8080/cfn"},
			{"file", "file:///etc/passwd"},
		}},
	}
	for _, g := range tests {
		for _, tc := range g.urls {
			t.Run(tc.name, func(t *testing.T) {
				u, err := CheckResponseURL(tc.url, g.policy)
				// A Responder answers to exactly the URLs its policy accepts.
				if acc := (&Responder{Policy: g.policy}).Accept(tc.url); (acc == nil) != g.ok || (acc != nil && !errors.Is(acc, ErrResponseURLRefused)) {
					t.Errorf("Responder.Accept = %v, want accepted %v", acc, g.ok)
				}
				if g.ok {
					if err != nil || u == nil {
						t.Fatalf("refused: %v", err)
					}
					return
				}
				if !errors.Is(err, ErrResponseURLRefused) || u != nil {
					t.Fatalf("accepted (%v, %v)", u, err)
				}
			})
		}
	}
}

// tlsTo returns a client that dials srv for every host name, trusting its
// certificate, and refuses redirects as the Responder's default does.
func tlsTo(srv *httptest.Server) *http.Client {
	addr := srv.Listener.Addr().String()
	tr := srv.Client().Transport.(*http.Transport).Clone()
	tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}
	tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // test server
	return &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

type seen struct {
	mu       sync.Mutex
	method   string
	host     string
	ctype    []string
	body     string
	requests int
}

func TestResponderPuts(t *testing.T) {
	var got seen
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.mu.Lock()
		defer got.mu.Unlock()
		b, _ := io.ReadAll(r.Body)
		got.method, got.host, got.ctype, got.body = r.Method, r.Host, r.Header.Values("Content-Type"), string(b)
		got.requests++
	}))
	defer srv.Close()
	r := &Responder{Client: tlsTo(srv)}
	if err := r.Respond(context.Background(), goodURL, []byte(`{"Status":"SUCCESS"}`)); err != nil {
		t.Fatal(err)
	}
	if got.method != "PUT" || got.host != "cloudformation-custom-resource-response-useast1.s3.amazonaws.com" || got.body != `{"Status":"SUCCESS"}` {
		t.Fatalf("got %s %s %q", got.method, got.host, got.body)
	}
	if len(got.ctype) != 1 || got.ctype[0] != "" {
		t.Fatalf("Content-Type = %q, want one empty value", got.ctype)
	}
}

func TestResponderRefuses(t *testing.T) {
	var got seen
	redirect := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.mu.Lock()
		got.requests++
		got.mu.Unlock()
		http.Redirect(w, r, "https://evil.example/steal", http.StatusTemporaryRedirect)
	}))
	defer redirect.Close()
	r := &Responder{Client: tlsTo(redirect)}
	err := r.Respond(context.Background(), goodURL, []byte(`{}`))
	if err == nil || !strings.Contains(err.Error(), "HTTP 307") || got.requests != 1 {
		t.Fatalf("redirect: err = %v after %d requests; want HTTP 307 and no second request", err, got.requests)
	}
	if err := r.Respond(context.Background(), "https://evil.example/x", []byte(`{}`)); !errors.Is(err, ErrResponseURLRefused) || got.requests != 1 {
		t.Fatalf("refused host was fetched or not refused: %v (%d requests)", err, got.requests)
	}
	if err := r.Respond(context.Background(), goodURL, make([]byte, MaxResponseBody+1)); err == nil || got.requests != 1 {
		t.Fatalf("oversized body sent: %v", err)
	}
	failing := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusForbidden) }))
	defer failing.Close()
	if err := (&Responder{Client: tlsTo(failing)}).Respond(context.Background(), goodURL, []byte(`{}`)); err == nil || !strings.Contains(err.Error(), "HTTP 403") {
		t.Fatalf("403 answer: err = %v", err)
	}
}

// The default client follows no redirect and uses no proxy.
func TestResponderDefaultClient(t *testing.T) {
	r := &Responder{}
	c := r.client()
	if again := r.client(); again != c {
		t.Fatal("the default client is built again for each answer: its connections are not reused")
	}
	if c.CheckRedirect == nil || c.CheckRedirect(nil, nil) != http.ErrUseLastResponse {
		t.Fatal("the default client follows redirects")
	}
	if tr, ok := c.Transport.(*http.Transport); !ok || tr.Proxy != nil {
		t.Fatal("the default client may use a proxy")
	}
	if c.Timeout <= 0 {
		t.Fatal("the default client has no timeout")
	}
	// Sandbox: a loopback server is reached with plain HTTP.
	var got seen
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.mu.Lock()
		got.requests++
		got.mu.Unlock()
	}))
	defer srv.Close()
	if err := (&Responder{Policy: URLPolicy{AllowLoopback: true}}).Respond(context.Background(), srv.URL+"/cfn", []byte(`{}`)); err != nil || got.requests != 1 {
		t.Fatalf("sandbox loopback: %v (%d requests)", err, got.requests)
	}
}

// TestRefusedAnswerIsNotRetried: a forged request may name a response
// bucket URL CloudFormation never presigned; the bucket answers the PUT
// 403, and no retry can change that, so the handler does not return it
// for Lambda to retry twice and dead-letter. A 5xx or a throttled PUT is
// returned, to be retried.
func TestRefusedAnswerIsNotRetried(t *testing.T) {
	tests := []struct {
		status int
		body   string
		retry  bool
	}{
		{http.StatusForbidden, "", false},
		{http.StatusNotFound, "", false},
		{http.StatusBadRequest, "", false},
		// S3's timeout waiting for the body is a 400, and worth a retry.
		{http.StatusBadRequest, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>RequestTimeout</Code><Message>Your socket connection to the server was not read from or written to within the timeout period.</Message></Error>`, true},
		{http.StatusTooManyRequests, "", true},
		{http.StatusRequestTimeout, "", true},
		{http.StatusServiceUnavailable, "", true},
		{http.StatusInternalServerError, "", true},
	}
	for _, tt := range tests {
		name := http.StatusText(tt.status)
		if tt.body != "" {
			name += " with S3's RequestTimeout"
		}
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			}))
			defer srv.Close()
			e := newEnv(t)
			e.h.Sender = &Responder{Client: tlsTo(srv)}
			noise := msg("Create", "n1", "", props(custRole, "rcr_forged"))
			err := e.h.HandleSNS(context.Background(), events.SNSEvent{Records: []events.SNSEventRecord{{SNS: events.SNSEntity{MessageID: "m1", Message: string(noise)}}}})
			if (err != nil) != tt.retry {
				t.Fatalf("HandleSNS = %v, want an error to retry: %t", err, tt.retry)
			}
		})
	}
}

// failingTransport fails every request, as a reset connection does.
type failingTransport struct{}

func (failingTransport) RoundTrip(*http.Request) (*http.Response, error) {
	return nil, errors.New("connection reset by peer")
}

// TestFailedAnswerKeepsTheURLOutOfErrors: a presigned ResponseURL's query
// is a capability to answer the customer's custom resource. A failed PUT's
// *url.Error spells the whole URL, and the error HandleSNS returns is
// written to the function's log (and its dead-letter record) by the
// Lambda runtime, so it must hold the host only.
func TestFailedAnswerKeepsTheURLOutOfErrors(t *testing.T) {
	e := newEnv(t)
	e.h.Wait = -1
	e.h.Sender = &Responder{Client: &http.Client{Transport: failingTransport{}}}
	m := msg("Create", "req-1", "", props(custRole, e.acmeToken()))
	err := e.h.HandleSNS(context.Background(), events.SNSEvent{Records: []events.SNSEventRecord{{SNS: events.SNSEntity{MessageID: "m1", Message: string(m)}}}})
	if err == nil || !strings.Contains(err.Error(), "connection reset by peer") {
		t.Fatalf("HandleSNS = %v, want the PUT's cause", err)
	}
	for _, secret := range []string{"X-Amz-Signature", "X-Amz-Credential", "/prod/"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("the error holds %q of the presigned URL:\n%v", secret, err)
		}
	}
}
