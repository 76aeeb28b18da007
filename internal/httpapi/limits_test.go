package httpapi

import (
	"context"
	"fmt"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/onboarding"
	"github.com/rolecall/rolecall/internal/opswire"
	"github.com/rolecall/rolecall/internal/rolearn"
	"github.com/rolecall/rolecall/internal/tenant"
)

func submitAs(code, arn string) req {
	return req{method: "POST", path: "/v1/connections", body: `{"roleArn":"` + arn + `"}`, auth: "Invite " + code}
}

func roleOf(account int) string {
	return fmt.Sprintf("arn:aws:iam::%012d:role/RoleCallAccess", account)
}

func TestCreateTenantMaxConnections(t *testing.T) {
	tests := []struct {
		name   string
		extra  string // appended to the body's object
		status int
		code   string
		field  string
		max    int
	}{
		{"absent is the default", ``, 201, "", "", 100},
		{"null is refused, not the default", `,"maxConnections":null`, 400, CodeInvalidType, "maxConnections", 0},
		{"one", `,"maxConnections":1`, 201, "", "", 1},
		{"ten thousand", `,"maxConnections":10000`, 201, "", "", 10000},
		{"zero", `,"maxConnections":0`, 400, tenant.CodeInvalidMaxConnections, "maxConnections", 0},
		{"negative", `,"maxConnections":-5`, 400, tenant.CodeInvalidMaxConnections, "maxConnections", 0},
		{"above ten thousand", `,"maxConnections":10001`, 400, tenant.CodeInvalidMaxConnections, "maxConnections", 0},
		{"huge", `,"maxConnections":1e30`, 400, CodeInvalidType, "maxConnections", 0},
		{"fraction", `,"maxConnections":1.5`, 400, CodeInvalidType, "maxConnections", 0},
		{"string", `,"maxConnections":"10"`, 400, CodeInvalidType, "maxConnections", 0},
	}
	e := newEnv(t)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := fmt.Sprintf("t%d", i)
			before := e.mem.Snapshot()
			w := e.do(ops("POST", "/v1/tenants", `{"tenantId":"`+id+`","name":"T"`+tt.extra+`}`))
			if !e.created(t, w, before, tt.status, tt.code, tt.field, "tenant") {
				return
			}
			got := decode[tenant.Tenant](t, w)
			stored, err := e.mem.GetTenant(context.Background(), id)
			if got.MaxConnections != tt.max || err != nil || stored.MaxConnections != tt.max {
				t.Fatalf("answered max %d, stored %d (%v), want %d", got.MaxConnections, stored.MaxConnections, err, tt.max)
			}
		})
	}
}

func TestConnectionLimit(t *testing.T) {
	e := newEnv(t)
	if w := e.do(ops("POST", "/v1/tenants", `{"tenantId":"small","name":"Small","maxConnections":2}`)); w.Code != 201 {
		t.Fatalf("create: %d %s", w.Code, w.Body)
	}
	e.tenant("other")
	code, other := e.invite("small"), e.invite("other")
	steps := []struct {
		name   string
		r      req
		status int
		code   string
	}{
		{"first account", submitAs(code, roleOf(100000000001)), 202, ""},
		{"second account", submitAs(code, roleOf(100000000002)), 202, ""},
		{"third account is past the limit", submitAs(code, roleOf(100000000003)), 409, onboarding.CodeConnectionLimit},
		{"resubmitting a live account's role is not a new connection", submitAs(code, roleOf(100000000001)), 202, ""},
		{"a new role for a live account is not a new connection", submitAs(code, "arn:aws:iam::100000000001:role/Other"), 202, ""},
		{"another tenant has its own limit", submitAs(other, roleOf(100000000009)), 202, ""},
		{"disconnect one", ops("DELETE", "/v1/tenants/small/connections/100000000002", ""), 200, ""},
		{"the third account fits now", submitAs(code, roleOf(100000000003)), 202, ""},
		{"the disconnected account is new again, past the limit", submitAs(code, roleOf(100000000002)), 409, onboarding.CodeConnectionLimit},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			before := e.mem.Snapshot()
			w := e.do(s.r)
			if s.code != "" {
				wantAPIError(t, w, s.status, s.code, "")
				if e.mem.Snapshot() != before {
					t.Fatal("a refused submission changed the store")
				}
				return
			}
			if w.Code != s.status {
				t.Fatalf("status %d, want %d: %s", w.Code, s.status, w.Body)
			}
		})
	}
	if n, _ := e.mem.CountLive(context.Background(), "small"); n != 2 {
		t.Fatalf("small has %d live connections, want 2", n)
	}
}

func TestSubmissionRateLimit(t *testing.T) {
	e := newEnv(t)
	e.svc.SubmissionsPerMinute = 3
	e.now = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC) // 55 s before the minute ends
	e.tenant("acme")
	code, second := e.invite("acme"), e.invite("acme")
	// A second API instance on the same store shares the budget.
	ops2, _ := NewBearerToken(testToken)
	h2, err := New(Config{Service: &onboarding.Service{Store: e.st, Queue: e.queue, Policy: connection.DefaultPolicy(),
		Rules: e.svc.Rules, SubmissionsPerMinute: 3, Now: func() time.Time { return e.now }}, Ops: ops2, Log: discardLog()})
	if err != nil {
		t.Fatal(err)
	}
	other := &env{t: t, h: h2}

	steps := []struct {
		name    string
		via     *env
		r       req
		advance time.Duration
		status  int
		code    string
		retry   string // Retry-After on 429
	}{
		{"malformed ARN does not count", e, submitAs(code, "arn:aws:iam::1:user/x"), 0, 400, "", ""},
		{"own account does not count", e, submitAs(code, roleOf(999988887777)), 0, 400, rolearn.CodeOwnAccount, ""},
		{"malformed JSON does not count", e, req{method: "POST", path: "/v1/connections", body: `{"roleArn":`, auth: "Invite " + code}, 0, 400, CodeMalformedJSON, ""},
		{"unknown field does not count", e, req{method: "POST", path: "/v1/connections", body: `{"role":"x"}`, auth: "Invite " + code}, 0, 400, CodeUnknownField, ""},
		{"1st", e, submitAs(code, roleOf(100000000001)), 0, 202, "", ""},
		{"2nd, through another instance", other, submitAs(code, roleOf(100000000002)), 0, 202, "", ""},
		{"3rd, a no-op resubmission counts", e, submitAs(code, roleOf(100000000001)), 0, 202, "", ""},
		{"4th is limited", e, submitAs(code, roleOf(100000000003)), 0, 429, onboarding.CodeRateLimited, "55"},
		{"4th on the other instance is limited", other, submitAs(code, roleOf(100000000003)), 20 * time.Second, 429, onboarding.CodeRateLimited, "35"},
		{"malformed input keeps its own 4xx", e, submitAs(code, "not an arn"), 0, 400, "", ""},
		{"another invite has its own budget", e, submitAs(second, roleOf(100000000004)), 0, 202, "", ""},
		{"reading is not limited", e, req{method: "GET", path: "/v1/invite", auth: "Invite " + code}, 0, 200, "", ""},
		{"last moment of the minute", e, submitAs(code, roleOf(100000000003)), 35*time.Second - time.Millisecond, 429, onboarding.CodeRateLimited, "1"},
		{"next minute", e, submitAs(code, roleOf(100000000003)), time.Millisecond, 202, "", ""},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			e.now = e.now.Add(s.advance)
			before := e.mem.Snapshot()
			w := s.via.do(s.r)
			if w.Code != s.status {
				t.Fatalf("status %d, want %d: %s", w.Code, s.status, w.Body)
			}
			if s.status >= 400 {
				d := apiErr(t, w)
				if s.code != "" && d.Code != s.code {
					t.Fatalf("code %s, want %s", d.Code, s.code)
				}
				if e.mem.Snapshot() != before {
					t.Fatal("a refused submission changed the store")
				}
			}
			if got := w.Header().Get("Retry-After"); got != s.retry {
				t.Fatalf("Retry-After %q, want %q", got, s.retry)
			}
		})
	}
}

func TestCreateInviteTTL(t *testing.T) {
	e := newEnv(t)
	e.tenant("acme")
	tests := []struct {
		name   string
		path   string
		body   string
		status int
		code   string
		field  string
		ttl    time.Duration
	}{
		{"no body is 7 days", "/v1/tenants/acme/invites", "", 201, "", "", 7 * 24 * time.Hour},
		{"empty object is 7 days", "/v1/tenants/acme/invites", `{}`, 201, "", "", 7 * 24 * time.Hour},
		{"one hour", "/v1/tenants/acme/invites", `{"ttlSeconds":3600}`, 201, "", "", time.Hour},
		{"thirty days", "/v1/tenants/acme/invites", `{"ttlSeconds":2592000}`, 201, "", "", 30 * 24 * time.Hour},
		{"under an hour", "/v1/tenants/acme/invites", `{"ttlSeconds":3599}`, 400, tenant.CodeInvalidTTL, "ttlSeconds", 0},
		{"zero", "/v1/tenants/acme/invites", `{"ttlSeconds":0}`, 400, tenant.CodeInvalidTTL, "ttlSeconds", 0},
		{"over thirty days", "/v1/tenants/acme/invites", `{"ttlSeconds":2592001}`, 400, tenant.CodeInvalidTTL, "ttlSeconds", 0},
		{"not a number", "/v1/tenants/acme/invites", `{"ttlSeconds":"3600"}`, 400, CodeInvalidType, "ttlSeconds", 0},
		{"unknown field", "/v1/tenants/acme/invites", `{"ttl":3600}`, 400, CodeUnknownField, "ttl", 0},
		{"unknown tenant", "/v1/tenants/nobody/invites", `{"ttlSeconds":3600}`, 404, CodeNotFound, "tenantId", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.mem.Snapshot()
			w := e.do(ops("POST", tt.path, tt.body))
			if !e.created(t, w, before, tt.status, tt.code, tt.field, "invite") {
				return
			}
			inv := decode[opswire.InviteCreated](t, w)
			if tenant.ValidateInviteID(inv.InviteID) != nil || !tenant.WellFormedCode(inv.Code) || inv.TenantID != "acme" ||
				!inv.CreatedAt.Equal(e.now) || !inv.ExpiresAt.Equal(e.now.Add(tt.ttl)) || !strings.HasSuffix(inv.URL, "?invite="+inv.Code) {
				t.Fatalf("invite %+v", inv)
			}
			if strings.Contains(inv.InviteID, inv.Code[:8]) {
				t.Fatalf("invite ID %s carries the code", inv.InviteID)
			}
			if g := e.do(req{method: "GET", path: "/v1/invite", auth: "Invite " + inv.Code}); g.Code != 200 {
				t.Fatalf("the new code: %d %s", g.Code, g.Body)
			}
			// It expires when it says.
			e.now = inv.ExpiresAt
			g := e.do(req{method: "GET", path: "/v1/invite", auth: "Invite " + inv.Code})
			e.now = inv.CreatedAt
			wantAPIError(t, g, 401, tenant.CodeInviteExpired, "")
		})
	}
}

type invitesJSON struct {
	Invites []map[string]any `json:"invites"`
	Cursor  string           `json:"cursor"`
}

func (e *env) createInvite(t *testing.T, tenantID string) opswire.InviteCreated {
	t.Helper()
	w := e.do(ops("POST", "/v1/tenants/"+tenantID+"/invites", ""))
	if w.Code != 201 {
		t.Fatalf("create invite: %d %s", w.Code, w.Body)
	}
	return decode[opswire.InviteCreated](t, w)
}

func TestListInvites(t *testing.T) {
	e := newEnv(t)
	e.tenant("acme")
	e.tenant("globex")
	var made []opswire.InviteCreated
	for range 5 {
		made = append(made, e.createInvite(t, "acme"))
		e.now = e.now.Add(time.Minute)
	}
	theirs := e.createInvite(t, "globex")

	var listed []map[string]any
	cursor := ""
	for page := 0; page < 5; page++ {
		w := e.do(ops("GET", "/v1/tenants/acme/invites?limit=2&cursor="+url.QueryEscape(cursor), ""))
		if w.Code != 200 {
			t.Fatalf("list: %d %s", w.Code, w.Body)
		}
		p := decode[invitesJSON](t, w)
		if len(p.Invites) > 2 {
			t.Fatalf("page of %d", len(p.Invites))
		}
		for _, secret := range append([]string{theirs.Code}, codesOf(made)...) {
			if strings.Contains(w.Body.String(), secret) || strings.Contains(w.Body.String(), tenant.HashCode(secret)) {
				t.Fatal("a listing shows a code or its hash")
			}
		}
		listed = append(listed, p.Invites...)
		if cursor = p.Cursor; cursor == "" {
			break
		}
	}
	if len(listed) != len(made) {
		t.Fatalf("listed %d invites, want %d", len(listed), len(made))
	}
	for i, inv := range listed {
		if len(inv) != 4 || inv["inviteId"] != made[i].InviteID || inv["revoked"] != false ||
			inv["createdAt"] != made[i].CreatedAt.Format(time.RFC3339Nano) || inv["expiresAt"] != made[i].ExpiresAt.Format(time.RFC3339Nano) {
			t.Fatalf("invite %d: %v, want %+v", i, inv, made[i])
		}
	}

	// Another tenant's cursor is refused as any cursor this listing did not return.
	c := decode[invitesJSON](t, e.do(ops("GET", "/v1/tenants/acme/invites?limit=1", ""))).Cursor
	e.wantRefusals(t, []rejection{
		{"unknown tenant", ops("GET", "/v1/tenants/nobody/invites", ""), 404, CodeNotFound, "tenantId"},
		{"bad cursor", ops("GET", "/v1/tenants/acme/invites?cursor=xyz", ""), 400, onboarding.CodeInvalidCursor, "cursor"},
		{"another tenant's cursor", ops("GET", "/v1/tenants/globex/invites?cursor="+url.QueryEscape(c), ""), 400, onboarding.CodeInvalidCursor, "cursor"},
		{"bad limit", ops("GET", "/v1/tenants/acme/invites?limit=0", ""), 400, CodeInvalidParameter, "limit"},
	})
}

func codesOf(invs []opswire.InviteCreated) []string {
	var out []string
	for _, i := range invs {
		out = append(out, i.Code)
	}
	return out
}

// customerRoutes are every route an invite code opens.
func customerRoutes(code string) []req {
	auth := "Invite " + code
	return []req{
		{method: "GET", path: "/v1/invite", auth: auth},
		{method: "GET", path: "/v1/invite/template", auth: auth},
		{method: "POST", path: "/v1/connections", body: `{"roleArn":"` + customerRole + `"}`, auth: auth},
		{method: "GET", path: "/v1/connections/" + customerAcct, auth: auth},
	}
}

func TestRevokeInvite(t *testing.T) {
	e := newEnv(t)
	e.tenant("acme")
	e.tenant("globex")
	inv := e.createInvite(t, "acme")
	e.now = e.now.Add(time.Millisecond) // listings are oldest first, to the millisecond
	keep, theirs := e.createInvite(t, "acme"), e.createInvite(t, "globex")
	if w := e.do(submitAs(inv.Code, customerRole)); w.Code != 202 {
		t.Fatalf("submit: %d %s", w.Code, w.Body)
	}
	e.wantRefusals(t, []rejection{
		{"without ops credentials", req{method: "DELETE", path: "/v1/tenants/acme/invites/" + inv.InviteID}, 401, CodeUnauthenticated, ""},
		{"with the invite as credentials", req{method: "DELETE", path: "/v1/tenants/acme/invites/" + inv.InviteID, auth: "Invite " + inv.Code}, 401, CodeUnauthenticated, ""},
		{"unknown tenant", ops("DELETE", "/v1/tenants/nobody/invites/"+inv.InviteID, ""), 404, CodeNotFound, "tenantId"},
		{"unknown invite", ops("DELETE", "/v1/tenants/acme/invites/"+tenant.NewInviteID(e.now), ""), 404, CodeNotFound, "inviteId"},
		{"another tenant's invite", ops("DELETE", "/v1/tenants/acme/invites/"+theirs.InviteID, ""), 404, CodeNotFound, "inviteId"},
		{"malformed invite ID", ops("DELETE", "/v1/tenants/acme/invites/inv-xyz", ""), 400, tenant.CodeInvalidInviteID, "inviteId"},
		{"the code is not an invite ID", ops("DELETE", "/v1/tenants/acme/invites/"+inv.Code, ""), 400, tenant.CodeInvalidInviteID, "inviteId"},
	})
	for _, r := range customerRoutes(inv.Code) {
		if w := e.do(r); w.Code >= 300 {
			t.Fatalf("before revocation %s %s: %d %s", r.method, r.path, w.Code, w.Body)
		}
	}

	for range 2 { // revoking again answers the same
		w := e.do(ops("DELETE", "/v1/tenants/acme/invites/"+inv.InviteID, ""))
		if w.Code != 200 {
			t.Fatalf("revoke: %d %s", w.Code, w.Body)
		}
		got := decode[map[string]any](t, w)
		if len(got) != 4 || got["inviteId"] != inv.InviteID || got["revoked"] != true || strings.Contains(w.Body.String(), inv.Code) {
			t.Fatalf("revoked: %s", w.Body)
		}
	}
	for _, r := range customerRoutes(inv.Code) {
		w := e.do(r)
		wantAPIError(t, w, 401, tenant.CodeInviteRevoked, "")
	}
	// The other invites still work, and the listing shows which is revoked.
	for _, c := range []string{keep.Code, theirs.Code} {
		if w := e.do(req{method: "GET", path: "/v1/invite", auth: "Invite " + c}); w.Code != 200 {
			t.Fatalf("an invite not revoked: %d %s", w.Code, w.Body)
		}
	}
	p := decode[invitesJSON](t, e.do(ops("GET", "/v1/tenants/acme/invites", "")))
	if len(p.Invites) != 2 || p.Invites[0]["revoked"] != true || p.Invites[1]["revoked"] != false {
		t.Fatalf("listing: %+v", p.Invites)
	}
}

func TestRotateRevokesInvites(t *testing.T) {
	e := newEnv(t)
	e.tenant("acme")
	e.tenant("globex")
	a1, a2, g := e.createInvite(t, "acme"), e.createInvite(t, "acme"), e.createInvite(t, "globex")
	works := func(code string) bool {
		return e.do(req{method: "GET", path: "/v1/invite", auth: "Invite " + code}).Code == 200
	}
	steps := []struct {
		name     string
		body     string
		status   int
		code     string
		revoked  bool // the acme invites stop working
		rotation bool
	}{
		{"no body keeps invites", "", 200, "", false, true},
		{"false keeps invites", `{"revokeInvites":false}`, 200, "", false, true},
		{"not a boolean changes nothing", `{"revokeInvites":"yes"}`, 400, CodeInvalidType, false, false},
		{"unknown field changes nothing", `{"revokeInvite":true}`, 400, CodeUnknownField, false, false},
		{"true revokes every invite", `{"revokeInvites":true}`, 200, "", true, true},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			before, _ := e.mem.GetTenant(context.Background(), "acme")
			snap := e.mem.Snapshot()
			w := e.do(ops("POST", "/v1/tenants/acme/external-id/rotate", s.body))
			if w.Code != s.status {
				t.Fatalf("status %d, want %d: %s", w.Code, s.status, w.Body)
			}
			if s.code != "" {
				if d := apiErr(t, w); d.Code != s.code || e.mem.Snapshot() != snap {
					t.Fatalf("error %+v; store changed: %v", d, e.mem.Snapshot() != snap)
				}
			}
			after, _ := e.mem.GetTenant(context.Background(), "acme")
			if rotated := after.ExternalIDVersion != before.ExternalIDVersion; rotated != s.rotation {
				t.Fatalf("rotated %v, want %v", rotated, s.rotation)
			}
			if works(a1.Code) == s.revoked || works(a2.Code) == s.revoked {
				t.Fatalf("acme invites work: %v %v, want %v", works(a1.Code), works(a2.Code), !s.revoked)
			}
			if !works(g.Code) {
				t.Fatal("another tenant's invite was revoked")
			}
		})
	}
	p := decode[invitesJSON](t, e.do(ops("GET", "/v1/tenants/acme/invites", "")))
	if len(p.Invites) != 2 || p.Invites[0]["revoked"] != true || p.Invites[1]["revoked"] != true {
		t.Fatalf("listing after rotation: %+v", p.Invites)
	}
	// An invite made after the rotation works.
	if n := e.createInvite(t, "acme"); !works(n.Code) {
		t.Fatal("a new invite after the rotation does not work")
	}
}

// created checks the answer w to a create that wants status (201, or a
// refusal with code and field that leaves the store as it was before); it
// reports whether the create succeeded.
func (e *env) created(t *testing.T, w *httptest.ResponseRecorder, before string, status int, code, field, what string) bool {
	t.Helper()
	if status != 201 {
		wantAPIError(t, w, status, code, field)
		if e.mem.Snapshot() != before {
			t.Fatalf("a refused %s changed the store", what)
		}
		return false
	}
	if w.Code != 201 {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	return true
}
