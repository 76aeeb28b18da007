package emulator

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/rolecall/rolecall/internal/httpapi"
	"github.com/rolecall/rolecall/internal/register"
	"github.com/rolecall/rolecall/internal/rolesetup"
	"github.com/rolecall/rolecall/internal/testkit/roundtrip"
	"github.com/rolecall/rolecall/internal/testkit/syncbuf"
)

// TestServeAnswersOnlyLoopbackHosts drives the server as a DNS-rebinding
// page would: the connection reaches 127.0.0.1, but the Host header is the
// attacker's name. Every route, the unauthenticated sandbox ones first, and
// the sandbox STS the checker calls on its own port, answer 421 and change
// nothing; the same requests addressed to a loopback name are served.
func TestServeAnswersOnlyLoopbackHosts(t *testing.T) {
	s := start(t, testOptions(t, io.Discard))
	role := "arn:aws:iam::210987654321:role/Rebound"
	policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"` + SandboxPrincipalARN + `"},"Action":"sts:AssumeRole"}]}`
	putRole, _ := json.Marshal(map[string]any{"roleArn": role, "trustPolicy": json.RawMessage(policy)})
	stsForm := url.Values{"Action": {"GetCallerIdentity"}, "Version": {"2011-06-15"}}.Encode()
	portOf := func(base string) string { return base[strings.LastIndex(base, ":")+1:] }
	answer := "/responses/expected"
	s.cfn.bucket.expect(answer)

	tests := []struct {
		name, method, base, path, ctype, body string
	}{
		{"sandbox info", "GET", s.URL, "/_sandbox", "", ""},
		{"sandbox role", "PUT", s.URL, "/_sandbox/roles", "application/json", string(putRole)},
		{"sandbox faults", "PUT", s.URL, "/_sandbox/faults", "application/json", `{"errorRate":1}`},
		{"sandbox STS", "POST", s.URL, SandboxSTSPath, "application/x-www-form-urlencoded", stsForm},
		{"checker's sandbox STS", "POST", s.stsURL, "/", "application/x-www-form-urlencoded", stsForm},
		{"form", "GET", s.URL, "/connect", "", ""},
		{"invite", "GET", s.URL, "/v1/invite", "", ""},
		{"sandbox stack's response bucket", "PUT", s.cfn.baseURL, answer, "application/json", `{"Status":"SUCCESS"}`},
	}
	send := func(t *testing.T, method, target, host, ctype, body string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, target, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Host = host
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		resp, b := roundtrip.Do(t, req)
		return resp.StatusCode, string(b)
	}
	// The sandbox's state the requests could change: the role the role
	// request puts, the faults, the STS calls served and the answers the
	// response bucket holds.
	sandboxState := func() string {
		pol, ok := s.Sandbox.TrustPolicy(role)
		s.cfn.bucket.mu.Lock()
		answered := s.cfn.bucket.answers[answer] != nil
		s.cfn.bucket.mu.Unlock()
		return fmt.Sprintf("role %s exists %t (%s), faults %+v, %d calls, answered %t", role, ok, pol, s.Sandbox.Faults(), s.Sandbox.Calls(), answered)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := portOf(tt.base)
			before := sandboxState()
			for _, host := range []string{"attacker.example:" + p, "attacker.example", "0.0.0.0:" + p} {
				code, body := send(t, tt.method, tt.base+tt.path, host, tt.ctype, tt.body)
				if code != http.StatusMisdirectedRequest || !strings.Contains(body, httpapi.CodeMisdirected) {
					t.Errorf("Host %s: %d %s, want 421 %s", host, code, body, httpapi.CodeMisdirected)
				}
			}
			if after := sandboxState(); after != before {
				t.Fatalf("refused requests changed the sandbox: %s, was %s", after, before)
			}
			for _, host := range []string{"localhost:" + p, "127.0.0.1:" + p, "LOCALHOST"} {
				if code, body := send(t, tt.method, tt.base+tt.path, host, tt.ctype, tt.body); code == http.StatusMisdirectedRequest {
					t.Errorf("Host %s: %d %s, want it served", host, code, body)
				}
			}
		})
	}
}

// TestServeRefusesUnsafeExposure: the library refuses what serve's flags
// refuse, so that no caller of Start can expose the sandbox.
func TestServeRefusesUnsafeExposure(t *testing.T) {
	tests := []struct {
		name string
		set  func(*Options)
		want string
	}{
		{"all interfaces", func(o *Options) { o.Addr = ":0" }, "not a loopback address"},
		{"unspecified IPv4", func(o *Options) { o.Addr = "0.0.0.0:0" }, "not a loopback address"},
		{"unspecified IPv6", func(o *Options) { o.Addr = "[::]:0" }, "not a loopback address"},
		{"a LAN address", func(o *Options) { o.Addr = "192.0.2.10:0" }, "not a loopback address"},
		{"a host name", func(o *Options) { o.Addr = "rolecall.example.com:0" }, "not a loopback address"},
		{"public sandbox", func(o *Options) { o.Addr, o.Public, o.PublicHost = "0.0.0.0:0", true, "rolecall.example.com" }, "never with the sandbox"},
		{"public loopback sandbox", func(o *Options) { o.Public, o.PublicHost = true, "rolecall.example.com" }, "never with the sandbox"},
		{"public without host", func(o *Options) { o.Addr, o.Public, o.AWS = "0.0.0.0:0", true, true }, "needs a public host"},
		{"public host without public", func(o *Options) { o.PublicHost = "rolecall.example.com" }, "needs public mode"},
		{"public host with a port", func(o *Options) {
			o.Public, o.AWS, o.PublicHost = true, true, "rolecall.example.com:443"
		}, "host name or IP address"},
		{"public host with a scheme", func(o *Options) {
			o.Public, o.AWS, o.PublicHost = true, true, "https://rolecall.example.com"
		}, "host name or IP address"},
		{"public host with a path", func(o *Options) {
			o.Public, o.AWS, o.PublicHost = true, true, "rolecall.example.com/x"
		}, "host name or IP address"},
		{"public host label", func(o *Options) { o.Public, o.AWS, o.PublicHost = true, true, "-rolecall.example.com" }, "host name or IP address"},
		{"short ops token", func(o *Options) { o.OpsToken = "tok-123" }, "at least 32"},
		{"ops token with a space", func(o *Options) { o.OpsToken = "0123456789abcdef 0123456789abcdef" }, "printable ASCII"},
		{"ops token with a newline", func(o *Options) { o.OpsToken = "0123456789abcdef0123456789abcdef\n" }, "printable ASCII"},
		{"bad address", func(o *Options) { o.Addr = "127.0.0.1" }, "host:port"},
		{"a template URL quick-create cannot use", func(o *Options) { o.TemplateURL = "https://d111111abcdef8.cloudfront.net/customer-role.yaml" }, "--template-url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := testOptions(t, &syncbuf.Buffer{})
			tt.set(&o)
			if err := o.Validate(); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate = %v, want %q", err, tt.want)
			}
			s, err := Start(context.Background(), o)
			if err == nil {
				_ = s.Shutdown(context.Background())
				t.Fatal("Start accepted it")
			}
		})
	}
	t.Run("public with AWS and a public host", func(t *testing.T) {
		for _, host := range []string{"rolecall.example.com", "203.0.113.7", "2001:db8::7"} {
			o := testOptions(t, &syncbuf.Buffer{})
			o.Addr, o.Public, o.AWS, o.PublicHost = "0.0.0.0:0", true, true, host
			if err := o.Validate(); err != nil {
				t.Errorf("%s: %v", host, err)
			}
		}
	})
	t.Run("loopback names are local", func(t *testing.T) {
		for _, addr := range []string{"127.0.0.1:0", "127.0.0.2:0", "[::1]:0", "localhost:0"} {
			o := testOptions(t, &syncbuf.Buffer{})
			o.Addr = addr
			if err := o.Validate(); err != nil {
				t.Errorf("%s: %v", addr, err)
			}
		}
	})
}

// TestTrustedPrincipalIsARole: an IAM user as the trusted principal used
// to start, then answer 500 to every GET /v1/invite and GET /connect (the
// customer template cannot be rendered for it). Start refuses it, a role
// session and an account root, with the message rolesetup.ValidatePrincipal
// gives (naming what to use) and the flag to change; a role with a path
// starts and renders.
func TestTrustedPrincipalIsARole(t *testing.T) {
	refused := []string{
		"arn:aws:iam::123456789012:user/alice",
		"arn:aws:sts::123456789012:assumed-role/RoleCallVerifier/s",
		"arn:aws:iam::123456789012:root",
	}
	for _, principal := range refused {
		t.Run(principal, func(t *testing.T) {
			why := rolesetup.ValidatePrincipal(principal)
			if why == nil {
				t.Fatalf("rolesetup.ValidatePrincipal accepts %s", principal)
			}
			o := testOptions(t, io.Discard)
			o.TrustedPrincipalARN = principal
			s, err := Start(context.Background(), o)
			if err == nil {
				defer s.Shutdown(context.Background())
				c := client{t: t, base: s.URL}
				r := c.do("GET", "/v1/invite", "Invite "+strings.TrimPrefix(s.DemoInviteURL, s.URL+"/connect?invite="), nil)
				t.Fatalf("Start accepted %s; GET /v1/invite answers %d", principal, r.status)
			}
			if !strings.Contains(err.Error(), why.Error()) || !strings.Contains(err.Error(), "--trusted-principal-arn") {
				t.Errorf("Start: %v, want it to say %q and name --trusted-principal-arn", err, why)
			}
		})
	}
	const role = "arn:aws:iam::123456789012:role/service/RoleCallVerifier"
	t.Run(role, func(t *testing.T) {
		o := testOptions(t, io.Discard)
		o.TrustedPrincipalARN = role
		s := start(t, o)
		c := client{t: t, base: s.URL}
		code := strings.TrimPrefix(s.DemoInviteURL, s.URL+"/connect?invite=")
		var inv inviteView
		c.must(c.do("GET", "/v1/invite", "Invite "+code, nil), 200).decode(t, &inv)
		if inv.TrustedPrincipalARN != role {
			t.Errorf("invite shows principal %q, want %q", inv.TrustedPrincipalARN, role)
		}
		c.must(c.do("GET", "/connect?invite="+code, "", nil), 200)
	})
}

// TestResponseBucketKeepsOnlyExpectedAnswers: the sandbox stack's response
// bucket keeps an answer only when it is a PUT, within the size
// CloudFormation takes, to the path of a launch in progress; anything else
// is refused and keeps nothing, so no one can fill serve's memory through
// it, and an answer is taken once.
func TestResponseBucketKeepsOnlyExpectedAnswers(t *testing.T) {
	const answer = `{"Status":"SUCCESS"}`
	tests := []struct {
		name, method, path, body string
		want                     int
		kept                     bool
	}{
		{"a launch's answer", http.MethodPut, "/responses/launch", answer, http.StatusOK, true},
		{"a path no launch expects", http.MethodPut, "/responses/unexpected", answer, http.StatusNotFound, false},
		{"not a PUT", http.MethodPost, "/responses/launch", answer, http.StatusMethodNotAllowed, false},
		{"larger than CloudFormation takes", http.MethodPut, "/responses/launch", strings.Repeat("x", register.MaxResponseBody+1), http.StatusRequestEntityTooLarge, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &responseBucket{answers: map[string][]byte{}}
			srv := httptest.NewServer(b)
			defer srv.Close()
			b.expect("/responses/launch")
			req, err := http.NewRequest(tt.method, srv.URL+tt.path, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			resp, _ := roundtrip.Do(t, req)
			if resp.StatusCode != tt.want {
				t.Errorf("%s %s: %d, want %d", tt.method, tt.path, resp.StatusCode, tt.want)
			}
			if _, held := b.answers[tt.path]; held && tt.path != "/responses/launch" {
				t.Errorf("the bucket holds %s, which no launch expects", tt.path)
			}
			body, ok := b.take("/responses/launch")
			if ok != tt.kept || (tt.kept && string(body) != tt.body) {
				t.Errorf("take = %q, %t; want kept %t", body, ok, tt.kept)
			}
			if _, ok := b.take("/responses/launch"); ok {
				t.Error("an answer was taken twice")
			}
		})
	}
}

// TestServeDoesNotRedirectUncleanPaths: serve's handler, the API with the
// sandbox STS beside it, answers a path with dot or empty segments as the
// API does (a JSON 404 with its headers), never with a redirect that a
// client would follow with its method, body and bearer token to another
// resource.
func TestServeDoesNotRedirectUncleanPaths(t *testing.T) {
	s := start(t, testOptions(t, io.Discard))
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	tests := []struct{ method, path string }{
		{"POST", "/v1/tenants/nosuch/../demo/invites"},
		{"GET", "/v1/tenants/demo/../other/invites"},
		{"GET", "//v1/invite"},
		{"GET", "/connect/../ops"},
		{"POST", "/_sandbox/../_sandbox/sts"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, s.URL+tt.path, strings.NewReader(`{}`))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+s.OpsToken)
			req.Header.Set("Content-Type", "application/json")
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusNotFound || resp.Header.Get("Location") != "" ||
				!strings.Contains(string(b), `"NOT_FOUND"`) || resp.Header.Get("X-Frame-Options") == "" {
				t.Errorf("%d Location=%q X-Frame-Options=%q %s, want the API's JSON 404",
					resp.StatusCode, resp.Header.Get("Location"), resp.Header.Get("X-Frame-Options"), b)
			}
		})
	}
	invites, err := s.Service.ListInvites(context.Background(), "demo", "", 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(invites.Items) != 1 {
		t.Errorf("tenant demo has %d invites, want only serve's own", len(invites.Items))
	}
}
