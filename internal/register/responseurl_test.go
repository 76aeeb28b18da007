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
)

const goodURL = "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/arn%3Aaws%3Acloudformation%3Aus-east-1%3A111122223333%3Astack/rc/abc%7CRoleCallRegistration%7Creq-1?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=7200&X-Amz-Signature=abc"

func TestCheckResponseURL(t *testing.T) {
	q := "/key?X-Amz-Signature=abc"
	tests := []struct {
		name   string
		url    string
		policy URLPolicy
		ok     bool
	}{
		{"global virtual-hosted", goodURL, URLPolicy{}, true},
		{"regional dot", "https://cloudformation-custom-resource-response-euwest1.s3.eu-west-1.amazonaws.com" + q, URLPolicy{}, true},
		{"regional dash", "https://cloudformation-custom-resource-response-uswest2.s3-us-west-2.amazonaws.com" + q, URLPolicy{}, true},
		{"gov", "https://cloudformation-custom-resource-response-usgovwest1.s3-us-gov-west-1.amazonaws.com" + q, URLPolicy{}, true},
		{"china", "https://cloudformation-custom-resource-response-cnnorth1.s3.cn-north-1.amazonaws.com.cn" + q, URLPolicy{}, true},
		{"path style global", "https://s3.amazonaws.com/cloudformation-custom-resource-response-useast1" + q, URLPolicy{}, true},
		{"path style regional", "https://s3.eu-west-1.amazonaws.com/cloudformation-custom-resource-response-euwest1" + q, URLPolicy{}, true},
		{"explicit 443", "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com:443" + q, URLPolicy{}, true},
		{"deployment region", goodURL, URLPolicy{Region: "us-east-1"}, true},

		{"another region than the deployment's", goodURL, URLPolicy{Region: "eu-west-1"}, false},
		{"bucket and endpoint regions differ", "https://cloudformation-custom-resource-response-useast1.s3.eu-west-1.amazonaws.com" + q, URLPolicy{}, false},
		{"unknown region bucket", "https://cloudformation-custom-resource-response-zzeast9.s3.amazonaws.com" + q, URLPolicy{}, false},
		{"unknown region endpoint", "https://cloudformation-custom-resource-response-useast1.s3.zz-east-9.amazonaws.com" + q, URLPolicy{}, false},
		{"another bucket", "https://my-bucket.s3.amazonaws.com" + q, URLPolicy{}, false},
		{"path style another bucket", "https://s3.amazonaws.com/my-bucket" + q, URLPolicy{}, false},
		{"path style bucket without key", "https://s3.amazonaws.com/cloudformation-custom-resource-response-useast1", URLPolicy{}, false},
		{"bare s3 host", "https://s3.amazonaws.com/", URLPolicy{}, false},
		{"http", strings.Replace(goodURL, "https://", "http://", 1), URLPolicy{}, false},
		{"look-alike suffix", "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com.evil.example" + q, URLPolicy{}, false},
		{"look-alike path style", "https://s3.amazonaws.com.evil.example/cloudformation-custom-resource-response-useast1" + q, URLPolicy{}, false},
		{"subdomain of bucket", "https://x.cloudformation-custom-resource-response-useast1.s3.amazonaws.com" + q, URLPolicy{}, false},
		{"evil sub-label", "https://cloudformation-custom-resource-response-useast1.evil.s3.amazonaws.com" + q, URLPolicy{}, false},
		{"trailing dot", "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com." + q, URLPolicy{}, false},
		{"upper case", "https://CLOUDFORMATION-custom-resource-response-useast1.s3.amazonaws.com" + q, URLPolicy{}, false},
		{"userinfo", "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com@evil.example" + q, URLPolicy{}, false},
		{"userinfo before good host", "https://evil.example@cloudformation-custom-resource-response-useast1.s3.amazonaws.com" + q, URLPolicy{}, false},
		{"backslash trick", "https://evil.example\\@cloudformation-custom-resource-response-useast1.s3.amazonaws.com" + q, URLPolicy{}, false},
		{"other port", "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com:8443" + q, URLPolicy{}, false},
		{"ipv4 literal", "https://52.216.0.1/cloudformation-custom-resource-response-useast1" + q, URLPolicy{}, false},
		{"ipv6 literal", "https://[::1]/cloudformation-custom-resource-response-useast1" + q, URLPolicy{}, false},
		{"metadata service", "http://169.254.169.254/latest/meta-data/", URLPolicy{}, false},
		{"loopback without the sandbox", "http://127.0.0.1:8080/cfn", URLPolicy{}, false},
		{"sandbox loopback", "http://127.0.0.1:8080/cfn/1", URLPolicy{AllowLoopback: true}, true},
		{"sandbox loopback without port", "http://127.0.0.1/cfn", URLPolicy{AllowLoopback: true}, false},
		{"sandbox localhost name", "http://localhost:8080/cfn", URLPolicy{AllowLoopback: true}, false},
		{"sandbox other address", "http://127.0.0.2:8080/cfn", URLPolicy{AllowLoopback: true}, false},
		{"sandbox userinfo", "http://x@127.0.0.1:8080/cfn", URLPolicy{AllowLoopback: true}, false},
		{"file", "file:///etc/passwd", URLPolicy{AllowLoopback: true}, false},
		{"empty", "", URLPolicy{}, false},
		{"space", "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/a b", URLPolicy{}, false},
		{"crlf", "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/a\r\nHost: evil", URLPolicy{}, false},
		{"non-ascii", "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.cöm/a", URLPolicy{}, false},
		{"fragment", goodURL + "#x", URLPolicy{}, false},
		{"too long", goodURL + strings.Repeat("a", 9000), URLPolicy{}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u, err := CheckResponseURL(tc.url, tc.policy)
			if tc.ok {
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
