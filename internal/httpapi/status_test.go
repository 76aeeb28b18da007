package httpapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/probe"
)

func TestCheckStepsFollowFromTheReason(t *testing.T) {
	notEnforced := func(detail string) connection.Reason {
		return connection.ReasonFor(connection.ResultNotEnforced, detail)
	}
	for _, tc := range []struct {
		name string
		c    connection.Connection
		want string // results joined by ",", "" for no steps
	}{
		{"verified", connection.Connection{Status: connection.Verified, Reason: connection.Reason{Code: connection.CodeVerified}}, "ok,ok,ok,ok"},
		{"restored", connection.Connection{Status: connection.Verified, Reason: connection.Reason{Code: connection.CodeAccessRestored}}, "ok,ok,ok,ok"},
		{"denied", connection.Connection{Status: connection.Failed, Reason: connection.ReasonFor(connection.ResultDenied, "")}, "failed,not run,not run,not run"},
		{"region disabled", connection.Connection{Status: connection.AccessLost, Reason: connection.ReasonFor(connection.ResultRegionDisabled, "")}, "failed,not run,not run,not run"},
		{"account mismatch", connection.Connection{Status: connection.Failed, Reason: connection.ReasonFor(connection.ResultAccountMismatch, "999999999999")}, "ok,failed,not run,not run"},
		{"assumed without external ID", connection.Connection{Status: connection.Failed, Reason: notEnforced(connection.NotEnforcedWithoutExternalID)}, "ok,ok,failed,unknown"},
		{"assumed with any external ID", connection.Connection{Status: connection.Failed, Reason: notEnforced(connection.NotEnforcedAnyExternalID)}, "ok,ok,ok,failed"},
		{"not enforced, unknown probe", connection.Connection{Status: connection.Failed, Reason: notEnforced("")}, "ok,ok,unknown,unknown"},
		{"submitted, not checked yet", connection.Connection{Status: connection.Pending, Reason: connection.Reason{Code: connection.CodeSubmitted}}, ""},
		{"denied inside the window", connection.Connection{Status: connection.Pending, ConsecutiveFailures: 2, Reason: connection.Reason{Code: connection.CodeSubmitted}}, "failed,not run,not run,not run"},
		{"disconnected", connection.Connection{Status: connection.Disconnected, Reason: connection.Reason{Code: connection.CodeDisconnected}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			steps := checkSteps(tc.c)
			var got []string
			for i, s := range steps {
				got = append(got, s.Result)
				if s.Name != stepMeanings[i].name || s.Meaning == "" {
					t.Errorf("step %d is %q (%q), want %q with its meaning", i, s.Name, s.Meaning, stepMeanings[i].name)
				}
			}
			if strings.Join(got, ",") != tc.want {
				t.Errorf("steps %q, want %q", strings.Join(got, ","), tc.want)
			}
		})
	}
	if stepMeanings[0].name != probe.StepAssume || stepMeanings[3].name != probe.StepDecoyExtID {
		t.Error("the steps are not named as rolecall verify names them")
	}
}

// checkEnv is a tenant with one submitted connection, its invite, and the
// handler's clock at e.now.
func checkEnv(t *testing.T) (*env, string) {
	e := newEnv(t, func(c *Config) { c.PropagationWindow = 2 * time.Minute })
	e.h.cfg.Now = func() time.Time { return e.now }
	e.tenant("acme")
	auth := "Invite " + e.invite("acme")
	if w := e.do(req{method: "POST", path: "/v1/connections", body: `{"roleArn":"` + customerRole + `"}`, auth: auth}); w.Code != http.StatusAccepted {
		t.Fatalf("submit: %d %s", w.Code, w.Body)
	}
	return e, auth
}

// checked records a denied check of the connection at `at` (inside the
// propagation window: it stays PENDING).
func (e *env) checked(at time.Time) {
	e.t.Helper()
	ctx := context.Background()
	c, err := e.mem.GetConnection(ctx, "acme", customerAcct)
	if err != nil {
		e.t.Fatal(err)
	}
	tr, err := e.svc.Policy.Apply(c, connection.Outcome{Result: connection.ResultDenied, Version: c.Version, ExternalIDVersion: 1, CheckedAt: at})
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.mem.Apply(ctx, tr); err != nil {
		e.t.Fatal(err)
	}
}

func TestCustomerConnectionShowsThePropagationWindow(t *testing.T) {
	e, auth := checkEnv(t)
	e.checked(e.now.Add(time.Second))
	e.checked(e.now.Add(6 * time.Second))
	got := decode[connectionStatus](t, e.do(req{method: "GET", path: "/v1/connections/" + customerAcct, auth: auth}))
	if got.Status != connection.Pending || got.Attempts != 2 {
		t.Fatalf("status %s, attempts %d, want PENDING after 2 denied attempts", got.Status, got.Attempts)
	}
	if want := e.now.Add(2 * time.Minute); !got.PropagationWindowEndsAt.Equal(want) {
		t.Errorf("propagationWindowEndsAt %v, want %v", got.PropagationWindowEndsAt, want)
	}
	if len(got.Steps) != 4 || got.Steps[0].Result != stepFailed {
		t.Errorf("steps %+v, want the denied assume first", got.Steps)
	}
}

func TestCustomerCheckAgain(t *testing.T) {
	for _, tc := range []struct {
		name       string
		lastCheck  time.Duration // before now; 0 for never checked
		disconnect bool
		path, body string
		noAuth     bool
		want       int
		code       string
		field      string // the error's field, when code is set
		retryAfter string
		queued     int
	}{
		{name: "never checked", want: 202, queued: 1},
		{name: "checked long enough ago", lastCheck: 6 * time.Second, want: 202, queued: 1},
		// The same code as the store's count of the window gives
		// (TestCustomerCheckBurstQueuesOne), with the same field.
		{name: "checked a moment ago", lastCheck: 2 * time.Second, want: 429, code: "CHECK_TOO_SOON", field: "accountId", retryAfter: "3"},
		{name: "checked just now", lastCheck: time.Millisecond, want: 429, code: "CHECK_TOO_SOON", field: "accountId", retryAfter: "5"},
		{name: "disconnected", disconnect: true, want: 409, code: "CONNECTION_DISCONNECTED", field: "accountId"},
		{name: "another account", path: "/v1/connections/444455556666/check", want: 404, code: "NOT_FOUND", field: "accountId"},
		{name: "unknown field", body: `{"now":true}`, want: 400, code: CodeUnknownField, field: "now"},
		{name: "no invite", noAuth: true, want: 401, code: CodeUnauthenticated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, auth := checkEnv(t)
			if tc.lastCheck > 0 {
				at := e.now.Add(10 * time.Second)
				e.checked(at)
				e.now = at.Add(tc.lastCheck)
			}
			if tc.disconnect {
				if _, err := e.svc.Disconnect(context.Background(), "acme", customerAcct); err != nil {
					t.Fatal(err)
				}
			}
			before := e.queued()
			path := tc.path
			if path == "" {
				path = "/v1/connections/" + customerAcct + "/check"
			}
			r := req{method: "POST", path: path, body: tc.body, auth: auth}
			if tc.noAuth {
				r.auth = ""
			}
			w := e.do(r)
			if w.Code != tc.want {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.want, w.Body)
			}
			if ra := w.Header().Get("Retry-After"); ra != tc.retryAfter {
				t.Errorf("Retry-After %q, want %q", ra, tc.retryAfter)
			}
			if n := e.queued() - before; n != tc.queued {
				t.Errorf("%d checks queued, want %d", n, tc.queued)
			}
			if tc.code != "" {
				if got := apiErr(t, w); got.Code != tc.code || got.Field != tc.field {
					t.Errorf("error %+v, want code %s field %q", got, tc.code, tc.field)
				}
			}
		})
	}
}

// TestCustomerCheckBurstQueuesOne: requests that arrive before the first
// queued check has run (LastCheckedAt has not moved) queue nothing more:
// the window is counted in the store, not read from the last check.
func TestCustomerCheckBurstQueuesOne(t *testing.T) {
	e, auth := checkEnv(t)
	e.checked(e.now)
	e.now = e.now.Add(10 * time.Second)
	before := e.queued()
	codes := map[int]int{}
	for range 20 {
		w := e.do(req{method: "POST", path: "/v1/connections/" + customerAcct + "/check", auth: auth})
		codes[w.Code]++
		if w.Code == http.StatusTooManyRequests && w.Header().Get("Retry-After") == "" {
			t.Errorf("429 without Retry-After: %s", w.Body)
		}
	}
	if n := e.queued() - before; n != 1 || codes[http.StatusAccepted] != 1 || codes[http.StatusTooManyRequests] != 19 {
		t.Errorf("20 requests in one window queued %d checks (answers %v), want 1 queued, 1 accepted, 19 CHECK_TOO_SOON", n, codes)
	}
}

// TestRoutesReadEachItemOnce: a request reads its tenant, and its
// connection, once, whether the invite or the path names them.
func TestRoutesReadEachItemOnce(t *testing.T) {
	e, auth := checkEnv(t)
	e.verified(t, "acme")
	e.now = e.now.Add(time.Minute) // past the "check again" pause
	for _, tc := range []struct {
		r              req
		status         int
		tenants, conns int64
	}{
		{req{method: "GET", path: "/v1/invite", auth: auth}, http.StatusOK, 1, 0},
		{req{method: "GET", path: "/v1/connections/" + customerAcct, auth: auth}, http.StatusOK, 1, 1},
		{req{method: "POST", path: "/v1/connections/" + customerAcct + "/check", auth: auth}, http.StatusAccepted, 1, 1},
		{ops("GET", "/v1/tenants/acme/connections/"+customerAcct+"/access", ""), http.StatusOK, 1, 1},
		{ops("GET", "/v1/tenants/acme/access", ""), http.StatusOK, 1, 0},
		{ops("GET", "/v1/tenants/acme/connections", ""), http.StatusOK, 1, 0},
	} {
		e.st.tenantReads.Store(0)
		e.st.connectionReads.Store(0)
		if w := e.do(tc.r); w.Code != tc.status {
			t.Fatalf("%s %s: status %d, want %d: %s", tc.r.method, tc.r.path, w.Code, tc.status, w.Body)
		}
		if tr, cr := e.st.tenantReads.Load(), e.st.connectionReads.Load(); tr != tc.tenants || cr != tc.conns {
			t.Errorf("%s %s: %d tenant and %d connection reads, want %d and %d", tc.r.method, tc.r.path, tr, cr, tc.tenants, tc.conns)
		}
	}
}

// TestHome: in serve, GET / is the home page for a browser and its data
// for a client asking for JSON, the demo invite only for a browser on this
// machine; in Lambda, always JSON pointing at the API.
func TestHome(t *testing.T) {
	const demo = "http://127.0.0.1:8080/connect?invite=abc"
	t.Run("serve", func(t *testing.T) {
		e := newEnv(t, func(c *Config) { c.DemoInviteURL = demo })
		for _, peer := range []struct {
			addr, host string
			demo       bool
		}{
			{"127.0.0.1:50000", "127.0.0.1:8080", true},
			{"[::1]:50000", "localhost:8080", true},
			{"[::1]:50000", "[::1]:8080", true},
			{"127.0.0.1:50000", "LOCALHOST.:8080", true}, // loopback as LoopbackHosts reads a Host
			{"127.0.0.1:50000", "2130706433:8080", false},
			{"203.0.113.7:50000", "127.0.0.1:8080", false},
			{"127.0.0.1:50000", "rolecall.example.com", false}, // a local proxy for a public name
		} {
			get := func(accept string) *httptest.ResponseRecorder {
				hr := httptest.NewRequest("GET", "/", nil)
				hr.RemoteAddr, hr.Host = peer.addr, peer.host
				hr.Header.Set("Accept", accept)
				w := httptest.NewRecorder()
				e.h.ServeHTTP(w, hr)
				return w
			}
			w := get("text/html,*/*;q=0.8")
			if body := w.Body.String(); w.Code != 200 || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/html") ||
				!strings.Contains(body, `href="/ops"`) || strings.Contains(body, "invite=abc") || w.Header().Get("Vary") != "Accept" {
				t.Fatalf("GET / page %d %v", w.Code, w.Header())
			}
			w = get("application/json")
			s := decode[site](t, w)
			if w.Code != 200 || s.PartnerName != "Acme Cloud" || s.Local == nil || !s.Local.Sandbox || !s.Local.Events || !s.Local.Sweeps ||
				s.Local.PartnerAccountID != partnerAcct || s.Local.TrustedPrincipalARN != principalARN || s.Local.EventSource != "rolecall" ||
				strings.Join(s.Local.Statuses, ",") != "PENDING,VERIFIED,FAILED,ACCESS_LOST,DISCONNECTED" {
				t.Fatalf("GET / JSON %d %+v", w.Code, s)
			}
			// serve's ops routes take its bearer token, not SigV4.
			if txt := s.Message + s.Routes["connections"] + s.Routes["tenants"]; strings.Contains(txt, "SigV4") || !strings.Contains(s.Message, "Authorization: Bearer") {
				t.Errorf("GET / JSON of serve names the wrong ops credentials: %q %v", s.Message, s.Routes)
			}
			if got := s.Local.DemoInviteURL == demo; got != peer.demo {
				t.Errorf("from %s GET / gives the demo invite: %v, want %v", peer.addr, got, peer.demo)
			}
		}
	})
	t.Run("lambda", func(t *testing.T) {
		e := newEnv(t, func(c *Config) {
			c.OpsPage, c.Events, c.Sweeper, c.Sandbox, c.DemoInviteURL = false, nil, nil, nil, demo
			c.Ops = APIGatewayIAM{Accounts: []string{partnerAcct}}
		})
		for _, accept := range []string{"", "text/html", "application/json"} {
			w := e.do(req{method: "GET", path: "/", accept: accept})
			got := decode[site](t, w)
			if w.Code != 200 || got.Service != "rolecall" || got.Routes["form"] == "" || got.PartnerName != "Acme Cloud" || got.Local != nil {
				t.Errorf("GET / (Accept %q) %d %+v", accept, w.Code, got)
			}
			if !strings.Contains(got.Message, "SigV4") || !strings.Contains(got.Routes["tenants"], "SigV4") {
				t.Errorf("GET / of the deployed API does not name SigV4 for the ops routes: %+v", got)
			}
		}
		for _, p := range []string{"/nothing", "/ops"} {
			if w := e.do(req{method: "GET", path: p}); w.Code != 404 {
				t.Errorf("GET %s %d, want 404", p, w.Code)
			}
		}
	})
}
