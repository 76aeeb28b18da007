package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/onboarding"
	"github.com/rolecall/rolecall/internal/opswire"
	"github.com/rolecall/rolecall/internal/probe"
	"github.com/rolecall/rolecall/internal/queue/queuetest"
	"github.com/rolecall/rolecall/internal/rolearn"
	"github.com/rolecall/rolecall/internal/rolesetup"
	"github.com/rolecall/rolecall/internal/store"
	"github.com/rolecall/rolecall/internal/tenant"
)

const (
	testToken     = "test-ops-token"
	partnerAcct   = "999988887777"
	principalARN  = "arn:aws:iam::999988887777:role/RoleCallVerifier"
	customerRole  = "arn:aws:iam::111122223333:role/RoleCallAccess"
	customerAcct  = "111122223333"
	customerRole2 = "arn:aws:iam::444455556666:role/RoleCallAccess"
)

// failingStore is the memory store with injectable failures.
type failingStore struct {
	*store.Memory
	mu  sync.Mutex
	err error
	// What a request read, to prove it read each item once.
	tenantReads, connectionReads atomic.Int64
}

func (f *failingStore) GetTenant(ctx context.Context, id string) (tenant.Tenant, error) {
	f.tenantReads.Add(1)
	return f.Memory.GetTenant(ctx, id)
}

func (f *failingStore) GetConnection(ctx context.Context, tenantID, accountID string) (connection.Connection, error) {
	f.connectionReads.Add(1)
	return f.Memory.GetConnection(ctx, tenantID, accountID)
}

func (f *failingStore) fail() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

func (f *failingStore) GetInvite(ctx context.Context, hash string) (tenant.Invite, error) {
	if err := f.fail(); err != nil {
		return tenant.Invite{}, err
	}
	return f.Memory.GetInvite(ctx, hash)
}

func (f *failingStore) ListByStatus(ctx context.Context, s connection.Status, cursor string, limit int) (store.Page, error) {
	if err := f.fail(); err != nil {
		return store.Page{}, err
	}
	return f.Memory.ListByStatus(ctx, s, cursor, limit)
}

type fakeSetup struct{ panics bool }

func (f fakeSetup) Guide(t tenant.Tenant) (Guide, error) {
	if f.panics {
		panic("setup exploded with secret detail")
	}
	return Guide{
		RoleName:       "RoleCallAccess",
		QuickCreateURL: "https://console.aws.amazon.com/cloudformation/home#/stacks/quickcreate?templateURL=https%3A%2F%2Fexample.com%2Ft.yaml&param_ExternalId=" + t.ExternalID,
		Terraform:      `module "rolecall" { external_id = "` + t.ExternalID + `" }`,
		CLI:            "aws iam create-role --role-name RoleCallAccess",
	}, nil
}

func (f fakeSetup) Template(t tenant.Tenant) ([]byte, error) {
	return []byte("AWSTemplateFormatVersion: '2010-09-09'\n# " + t.ExternalID + "\n"), nil
}

func (f fakeSetup) TrustPolicy(t tenant.Tenant) (json.RawMessage, error) {
	return json.RawMessage(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"` + principalARN +
		`"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"` + t.ExternalID + `"}}}]}`), nil
}

type fakeEvents struct{ entries []json.RawMessage }

func (f *fakeEvents) EventsAfter(after string, limit int) ([]json.RawMessage, bool) {
	start := 0
	if after != "" {
		start = -1
		for i, e := range f.entries {
			var v struct {
				Detail struct {
					EventID string `json:"eventId"`
				} `json:"detail"`
			}
			_ = json.Unmarshal(e, &v)
			if v.Detail.EventID == after {
				start = i + 1
			}
		}
		if start < 0 {
			return nil, false
		}
	}
	out := f.entries[start:]
	if len(out) > limit {
		out = out[:limit]
	}
	return out, true
}

type fakeSweeper struct {
	calls []bool
	err   error
}

func (f *fakeSweeper) Sweep(ctx context.Context, all bool) (int, error) {
	f.calls = append(f.calls, all)
	if all {
		return 7, f.err
	}
	return 3, f.err
}

type fakeSandbox struct {
	roles  map[string]string
	faults Faults
}

func (f *fakeSandbox) Info() SandboxInfo {
	return SandboxInfo{PartnerPrincipalARN: principalARN, STSEndpoint: "http://127.0.0.1:1/sts"}
}

func (f *fakeSandbox) PutRole(arn string, pol []byte) error {
	if strings.Contains(string(pol), "NotAPolicy") {
		return &onboarding.Error{Code: "INVALID_TRUST_POLICY", Field: "trustPolicy", Message: "the trust policy has no Statement"}
	}
	f.roles[arn] = string(pol)
	return nil
}

func (f *fakeSandbox) DeleteRole(arn string) error {
	if _, ok := f.roles[arn]; !ok {
		return &onboarding.Error{Code: onboarding.CodeNotFound, Field: "roleArn", Message: "no such sandbox role"}
	}
	delete(f.roles, arn)
	return nil
}

func (f *fakeSandbox) SetFaults(x Faults) error { f.faults = x; return nil }

type env struct {
	t       testing.TB
	mem     *store.Memory
	st      *failingStore
	queue   *queuetest.Recorder
	svc     *onboarding.Service
	h       *Handler
	now     time.Time
	events  *fakeEvents
	sweeper *fakeSweeper
	sandbox *fakeSandbox
}

func newEnv(t testing.TB, opts ...func(*Config)) *env {
	t.Helper()
	e := &env{t: t, mem: store.NewMemory(), queue: &queuetest.Recorder{}, now: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC),
		events: &fakeEvents{}, sweeper: &fakeSweeper{}, sandbox: &fakeSandbox{roles: map[string]string{}}}
	e.st = &failingStore{Memory: e.mem}
	e.svc = &onboarding.Service{
		Store: e.st, Queue: e.queue, Policy: connection.DefaultPolicy(),
		Rules: rolearn.Rules{Partition: "aws", OwnAccount: partnerAcct},
		Now:   func() time.Time { return e.now },
	}
	ops, err := NewBearerToken(testToken)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		Service: e.svc, Ops: ops, PartnerName: "Acme Cloud", PartnerAccountID: partnerAcct, TrustedPrincipalARN: principalARN,
		EventSource: "rolecall", Setup: fakeSetup{}, Events: e.events, Sweeper: e.sweeper, Sandbox: e.sandbox, OpsPage: true,
		Log: discardLog(),
	}
	for _, o := range opts {
		o(&cfg)
	}
	e.h, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// req is one request of a test.
type req struct {
	method, path, body string
	ctype              string // default application/json when body is set
	auth               string // Authorization header
	accept             string // Accept header
}

func (e *env) do(r req) *httptest.ResponseRecorder {
	e.t.Helper()
	var body io.Reader
	if r.body != "" {
		body = strings.NewReader(r.body)
	}
	hr := httptest.NewRequest(r.method, r.path, body)
	if r.body != "" {
		ct := r.ctype
		if ct == "" {
			ct = "application/json"
		}
		if ct != "-" {
			hr.Header.Set("Content-Type", ct)
		}
	}
	if r.auth != "" {
		hr.Header.Set("Authorization", r.auth)
	}
	if r.accept != "" {
		hr.Header.Set("Accept", r.accept)
	}
	return e.serve(hr)
}

// serve is the handler's answer to hr.
func (e *env) serve(hr *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, hr)
	return w
}

func ops(method, path, body string) req {
	return req{method: method, path: path, body: body, auth: "Bearer " + testToken}
}

func (e *env) tenant(id string) tenant.Tenant {
	e.t.Helper()
	t, err := e.svc.CreateTenant(context.Background(), id, "Tenant "+id)
	if err != nil {
		e.t.Fatal(err)
	}
	return t
}

func (e *env) invite(id string) string {
	e.t.Helper()
	code, _, err := e.svc.CreateInvite(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return code
}

// apiErr decodes an error response, failing on any other shape.
func apiErr(t testing.TB, w *httptest.ResponseRecorder) errorDetail {
	t.Helper()
	if ct := w.Header().Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Fatalf("error content type %q, body %s", ct, w.Body)
	}
	dec := json.NewDecoder(w.Body)
	dec.DisallowUnknownFields()
	var b errorBody
	if err := dec.Decode(&b); err != nil {
		t.Fatalf("error body is not {\"error\":{...}}: %v", err)
	}
	if b.Error.Code == "" || b.Error.Message == "" {
		t.Fatalf("error without code or message: %+v", b)
	}
	return b.Error
}

func decode[T any](t *testing.T, w *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil {
		t.Fatalf("decode %T from %s: %v", v, w.Body, err)
	}
	return v
}

func TestNewRequiresServiceAndOps(t *testing.T) {
	ops, _ := NewBearerToken("x")
	if _, err := New(Config{Ops: ops}); err == nil {
		t.Error("New without Service succeeded")
	}
	if _, err := New(Config{Service: &onboarding.Service{}}); err == nil {
		t.Error("New without Ops succeeded")
	}
	if _, err := NewBearerToken(""); err == nil {
		t.Error("empty ops token accepted")
	}
}

func TestOperationsAndCustomerFlow(t *testing.T) {
	e := newEnv(t)

	w := e.do(ops("POST", "/v1/tenants", `{"tenantId":"acme","name":"Acme Corp"}`))
	if w.Code != http.StatusCreated {
		t.Fatalf("create tenant: %d %s", w.Code, w.Body)
	}
	created := decode[tenant.Tenant](t, w)
	if created.ID != "acme" || created.Name != "Acme Corp" || !strings.HasPrefix(created.ExternalID, "rc-") {
		t.Fatalf("created tenant %+v", created)
	}
	if got := w.Header().Get("Location"); got != "/v1/tenants/acme" {
		t.Errorf("Location %q", got)
	}

	w = e.do(ops("POST", "/v1/tenants/acme/invites", ""))
	if w.Code != http.StatusCreated {
		t.Fatalf("create invite: %d %s", w.Code, w.Body)
	}
	inv := decode[opswire.InviteCreated](t, w)
	if !tenant.WellFormedCode(inv.Code) || inv.URL != "http://example.com/connect?invite="+inv.Code || !inv.ExpiresAt.Equal(e.now.Add(tenant.DefaultInviteTTL)) {
		t.Fatalf("invite %+v", inv)
	}
	auth := "Invite " + inv.Code

	w = e.do(req{method: "GET", path: "/v1/invite", auth: auth})
	if w.Code != http.StatusOK {
		t.Fatalf("get invite: %d %s", w.Code, w.Body)
	}
	v := decode[inviteView](t, w)
	if v.TenantID != "acme" || v.TenantName != "Acme Corp" || v.ExternalID != created.ExternalID || v.PartnerAccountID != partnerAcct ||
		v.TrustedPrincipalARN != principalARN || v.QuickCreateURL == "" || v.Terraform == "" || v.CLI == "" || v.RoleName != "RoleCallAccess" ||
		v.TemplateDownload != "/v1/invite/template" || v.Connections == nil || len(v.Connections) != 0 {
		t.Fatalf("invite view %+v", v)
	}
	if v.Sandbox == nil || v.Sandbox.AccountID != SandboxAccountID("acme", partnerAcct) ||
		v.Sandbox.RoleARN != "arn:aws:iam::"+v.Sandbox.AccountID+":role/RoleCallAccess" || !strings.Contains(string(v.Sandbox.TrustPolicy), created.ExternalID) {
		t.Fatalf("sandbox offer %+v", v.Sandbox)
	}

	w = e.do(req{method: "POST", path: "/v1/connections", body: `{"roleArn":"` + customerRole + `"}`, auth: auth})
	if w.Code != http.StatusAccepted {
		t.Fatalf("submit: %d %s", w.Code, w.Body)
	}
	c := decode[connection.Connection](t, w)
	if c.Status != connection.Pending || c.TenantID != "acme" || c.AccountID != customerAcct || c.RoleARN != customerRole || c.Version != 1 {
		t.Fatalf("submitted %+v", c)
	}
	if got := w.Header().Get("Location"); got != "/v1/connections/"+customerAcct {
		t.Errorf("Location %q", got)
	}

	w = e.do(req{method: "GET", path: "/v1/connections/" + customerAcct, auth: auth})
	if w.Code != http.StatusOK || decode[connection.Connection](t, w).RoleARN != customerRole {
		t.Fatalf("get connection: %d %s", w.Code, w.Body)
	}

	w = e.do(req{method: "GET", path: "/v1/invite/template", auth: auth})
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), created.ExternalID) ||
		!strings.HasPrefix(w.Header().Get("Content-Disposition"), "attachment;") {
		t.Fatalf("template: %d %v %s", w.Code, w.Header(), w.Body)
	}

	w = e.do(ops("GET", "/v1/tenants/acme/connections", ""))
	if p := decode[connectionsPage](t, w); w.Code != http.StatusOK || len(p.Connections) != 1 || p.Cursor != "" {
		t.Fatalf("list by tenant: %d %s", w.Code, w.Body)
	}
	w = e.do(ops("GET", "/v1/connections?status=PENDING", ""))
	if p := decode[connectionsPage](t, w); w.Code != http.StatusOK || len(p.Connections) != 1 {
		t.Fatalf("list by status: %d %s", w.Code, w.Body)
	}

	w = e.do(ops("POST", "/v1/tenants/acme/connections/"+customerAcct+"/check", ""))
	if w.Code != http.StatusAccepted {
		t.Fatalf("request check: %d %s", w.Code, w.Body)
	}
	if jobs := e.queue.Jobs(); len(jobs) != 1 || jobs[0].ExternalID != created.ExternalID || jobs[0].Why != probe.WhyRequested ||
		jobs[0].Connection.AccountID != customerAcct {
		t.Fatalf("queued %+v", jobs)
	}

	w = e.do(ops("POST", "/v1/tenants/acme/external-id/rotate", ""))
	rot := decode[tenant.Tenant](t, w)
	if w.Code != http.StatusOK || rot.ExternalIDVersion != 2 || rot.ExternalID == created.ExternalID {
		t.Fatalf("rotate: %d %s", w.Code, w.Body)
	}

	w = e.do(ops("DELETE", "/v1/tenants/acme/connections/"+customerAcct, ""))
	if w.Code != http.StatusOK || decode[connection.Connection](t, w).Status != connection.Disconnected {
		t.Fatalf("disconnect: %d %s", w.Code, w.Body)
	}
	// A disconnected connection cannot be re-checked: a state conflict.
	w = e.do(ops("POST", "/v1/tenants/acme/connections/"+customerAcct+"/check", "{}"))
	if w.Code != http.StatusConflict || apiErr(t, w).Code != onboarding.CodeDisconnected {
		t.Fatalf("check of disconnected: %d %s", w.Code, w.Body)
	}
}

func TestBaseURL(t *testing.T) {
	tests := []struct {
		name    string
		base    string
		forward string
		want    string
	}{
		{"from request", "", "", "http://example.com/connect?invite="},
		{"forwarded https", "", "https", "https://example.com/connect?invite="},
		{"configured", "https://onboard.example.org", "", "https://onboard.example.org/connect?invite="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, func(c *Config) { c.BaseURL = tt.base })
			e.tenant("acme")
			hr := httptest.NewRequest("POST", "/v1/tenants/acme/invites", nil)
			hr.Header.Set("Authorization", "Bearer "+testToken)
			if tt.forward != "" {
				hr.Header.Set("X-Forwarded-Proto", tt.forward)
			}
			w := httptest.NewRecorder()
			e.h.ServeHTTP(w, hr)
			inv := decode[opswire.InviteCreated](t, w)
			if inv.URL != tt.want+inv.Code {
				t.Errorf("url %q, want %q+code", inv.URL, tt.want)
			}
		})
	}
}

func TestRejectedRequestsChangeNothing(t *testing.T) {
	big := `{"tenantId":"` + strings.Repeat("a", MaxBody) + `","name":"x"}`
	e := newEnv(t)
	e.tenant("acme")
	code := e.invite("acme")
	e.tenant("other")
	expiredEnv := func() string { // an invite that expired a second ago
		c, _, err := (&onboarding.Service{Store: e.st, InviteTTL: time.Hour, Now: func() time.Time { return e.now.Add(-time.Hour - time.Second) }}).CreateInvite(context.Background(), "acme")
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	expired := expiredEnv()
	inv := "Invite " + code
	if w := e.do(req{method: "POST", path: "/v1/connections", body: `{"roleArn":"` + customerRole + `"}`, auth: inv}); w.Code != 202 {
		t.Fatalf("setup submit: %d %s", w.Code, w.Body)
	}
	if w := e.do(ops("DELETE", "/v1/tenants/acme/connections/"+customerAcct, "")); w.Code != 200 {
		t.Fatalf("setup disconnect: %d", w.Code)
	}
	if w := e.do(req{method: "POST", path: "/v1/connections", body: `{"roleArn":"` + customerRole2 + `"}`, auth: inv}); w.Code != 202 {
		t.Fatalf("setup submit 2: %d %s", w.Code, w.Body)
	}
	otherInv := "Invite " + e.invite("other")

	rejections := []rejection{
		{"unknown route", req{method: "GET", path: "/nope"}, 404, CodeNotFound, ""},
		{"unknown v1 route", ops("GET", "/v1/tenants/acme/settings", ""), 404, CodeNotFound, ""},
		{"wrong method", ops("PUT", "/v1/tenants", ""), 405, CodeMethodNotAllowed, ""},
		{"ops without auth", req{method: "POST", path: "/v1/tenants", body: `{"tenantId":"x","name":"x"}`}, 401, CodeUnauthenticated, ""},
		{"ops with wrong token", req{method: "POST", path: "/v1/tenants", body: `{"tenantId":"x","name":"x"}`, auth: "Bearer nope"}, 401, CodeUnauthenticated, ""},
		{"ops with token prefix", req{method: "POST", path: "/v1/tenants", body: `{"tenantId":"x","name":"x"}`, auth: "Bearer " + testToken[:5]}, 401, CodeUnauthenticated, ""},
		{"ops with basic auth", req{method: "POST", path: "/v1/tenants", body: `{"tenantId":"x","name":"x"}`, auth: "Basic " + testToken}, 401, CodeUnauthenticated, ""},
		{"ops with invite", req{method: "GET", path: "/v1/connections?status=PENDING", auth: inv}, 401, CodeUnauthenticated, ""},
		{"text content type", req{method: "POST", path: "/v1/tenants", body: `{"tenantId":"x","name":"x"}`, ctype: "text/plain", auth: "Bearer " + testToken}, 415, CodeUnsupportedMedia, ""},
		{"no content type", req{method: "POST", path: "/v1/tenants", body: `{"tenantId":"x","name":"x"}`, ctype: "-", auth: "Bearer " + testToken}, 415, CodeUnsupportedMedia, ""},
		{"latin1 charset", req{method: "POST", path: "/v1/tenants", body: `{"tenantId":"x","name":"x"}`, ctype: "application/json; charset=latin1", auth: "Bearer " + testToken}, 415, CodeUnsupportedMedia, ""},
		{"form content type", req{method: "POST", path: "/v1/connections", body: `roleArn=x`, ctype: "application/x-www-form-urlencoded", auth: inv}, 415, CodeUnsupportedMedia, ""},
		{"too large", ops("POST", "/v1/tenants", big), 413, CodeTooLarge, ""},
		{"truncated", ops("POST", "/v1/tenants", `{"tenantId":`), 400, CodeMalformedJSON, ""},
		{"not json", ops("POST", "/v1/tenants", `tenantId=x`), 400, CodeMalformedJSON, ""},
		{"array", ops("POST", "/v1/tenants", `[]`), 400, CodeMalformedJSON, ""},
		{"string", ops("POST", "/v1/tenants", `"x"`), 400, CodeMalformedJSON, ""},
		{"empty body", ops("POST", "/v1/tenants", ` `), 400, CodeMalformedJSON, ""},
		{"trailing object", ops("POST", "/v1/tenants", `{"tenantId":"x","name":"x"} {}`), 400, CodeMalformedJSON, ""},
		{"trailing garbage", ops("POST", "/v1/tenants", `{"tenantId":"x","name":"x"}x`), 400, CodeMalformedJSON, ""},
		{"invalid utf-8", ops("POST", "/v1/tenants", "{\"tenantId\":\"x\xff\",\"name\":\"x\"}"), 400, CodeMalformedJSON, ""},
		{"unknown field", ops("POST", "/v1/tenants", `{"tenantId":"x","name":"x","admin":true}`), 400, CodeUnknownField, "admin"},
		{"field of other case", ops("POST", "/v1/tenants", `{"TenantId":"x","name":"x"}`), 400, CodeUnknownField, "TenantId"},
		{"duplicate field", ops("POST", "/v1/tenants", `{"tenantId":"x","name":"x","tenantId":"y"}`), 400, CodeDuplicateField, "tenantId"},
		{"wrong type", ops("POST", "/v1/tenants", `{"tenantId":5,"name":"x"}`), 400, CodeInvalidType, "tenantId"},
		{"object for string", ops("POST", "/v1/tenants", `{"tenantId":{"a":1},"name":"x"}`), 400, CodeInvalidType, "tenantId"},
		// null would decode as absent, and rotate with the default grace.
		{"null for an optional field", ops("POST", "/v1/tenants/acme/external-id/rotate", `{"graceSeconds":null}`), 400, CodeInvalidType, "graceSeconds"},
		{"null for a string", ops("POST", "/v1/tenants", `{"tenantId":null,"name":"x"}`), 400, CodeInvalidType, "tenantId"},
		{"deep nesting", ops("POST", "/v1/tenants", `{"tenantId":`+strings.Repeat("[", 100)+strings.Repeat("]", 100)+`}`), 400, CodeMalformedJSON, ""},
		{"invalid tenant id", ops("POST", "/v1/tenants", `{"tenantId":"a b","name":"x"}`), 400, tenant.CodeInvalidTenantID, "tenantId"},
		{"missing tenant id", ops("POST", "/v1/tenants", `{"name":"x"}`), 400, tenant.CodeInvalidTenantID, "tenantId"},
		{"invalid name", ops("POST", "/v1/tenants", `{"tenantId":"new","name":" x"}`), 400, tenant.CodeInvalidName, "name"},
		{"tenant exists", ops("POST", "/v1/tenants", `{"tenantId":"acme","name":"Again"}`), 409, onboarding.CodeTenantExists, "tenantId"},
		{"invite for unknown tenant", ops("POST", "/v1/tenants/ghost/invites", ""), 404, CodeNotFound, "tenantId"},
		{"invite for invalid tenant", ops("POST", "/v1/tenants/a%20b/invites", ""), 400, tenant.CodeInvalidTenantID, "tenantId"},
		{"invite with unknown body field", ops("POST", "/v1/tenants/acme/invites", `{"ttl":"1h"}`), 400, CodeUnknownField, "ttl"},
		{"rotate unknown tenant", ops("POST", "/v1/tenants/ghost/external-id/rotate", ""), 404, CodeNotFound, "tenantId"},
		{"list unknown tenant", ops("GET", "/v1/tenants/ghost/connections", ""), 404, CodeNotFound, "tenantId"},
		{"list without status", ops("GET", "/v1/connections", ""), 400, onboarding.CodeInvalidStatus, "status"},
		{"list bad status", ops("GET", "/v1/connections?status=HAPPY", ""), 400, onboarding.CodeInvalidStatus, "status"},
		{"list bad cursor", ops("GET", "/v1/connections?status=PENDING&cursor=!!", ""), 400, onboarding.CodeInvalidCursor, "cursor"},
		{"list bad limit", ops("GET", "/v1/connections?status=PENDING&limit=0", ""), 400, CodeInvalidParameter, "limit"},
		{"list huge limit", ops("GET", "/v1/tenants/acme/connections?limit=99999999999999999999", ""), 400, CodeInvalidParameter, "limit"},
		{"check bad account", ops("POST", "/v1/tenants/acme/connections/12/check", ""), 400, onboarding.CodeInvalidID, "accountId"},
		{"check unknown connection", ops("POST", "/v1/tenants/acme/connections/777766665555/check", ""), 404, CodeNotFound, "accountId"},
		{"disconnect unknown tenant", ops("DELETE", "/v1/tenants/ghost/connections/"+customerAcct, ""), 404, CodeNotFound, "tenantId"},
		{"events after unknown", ops("GET", "/v1/events?after=evt-nope", ""), 400, CodeUnknownEvent, "after"},
		{"sweep bad body", ops("POST", "/v1/sweeps", `{"all":"yes"}`), 400, CodeInvalidType, "all"},
		{"customer without invite", req{method: "GET", path: "/v1/invite"}, 401, CodeUnauthenticated, ""},
		{"customer with bearer", req{method: "GET", path: "/v1/invite", auth: "Bearer " + testToken}, 401, CodeUnauthenticated, ""},
		{"customer with garbage invite", req{method: "GET", path: "/v1/invite", auth: "Invite ../../etc/passwd"}, 401, tenant.CodeInvalidInvite, ""},
		{"customer with unknown invite", req{method: "GET", path: "/v1/invite", auth: "Invite " + strings.Repeat("a", 39)}, 401, tenant.CodeInvalidInvite, ""},
		{"customer with expired invite", req{method: "GET", path: "/v1/invite", auth: "Invite " + expired}, 401, tenant.CodeInviteExpired, ""},
		{"submit without body", req{method: "POST", path: "/v1/connections", auth: inv, ctype: "application/json"}, 415, CodeUnsupportedMedia, ""},
		{"submit empty object", req{method: "POST", path: "/v1/connections", body: `{}`, auth: inv}, 400, rolearn.CodeInvalidARN, "roleArn"},
		{"submit null arn", req{method: "POST", path: "/v1/connections", body: `{"roleArn":null}`, auth: inv}, 400, CodeInvalidType, "roleArn"},
		{"submit number arn", req{method: "POST", path: "/v1/connections", body: `{"roleArn":1}`, auth: inv}, 400, CodeInvalidType, "roleArn"},
		{"submit short account", req{method: "POST", path: "/v1/connections", body: `{"roleArn":"arn:aws:iam::123:role/x"}`, auth: inv}, 400, rolearn.CodeInvalidAccount, "roleArn"},
		{"submit user arn", req{method: "POST", path: "/v1/connections", body: `{"roleArn":"arn:aws:iam::111122223333:user/bob"}`, auth: inv}, 400, rolearn.CodeNotRole, "roleArn"},
		{"submit own account", req{method: "POST", path: "/v1/connections", body: `{"roleArn":"arn:aws:iam::` + partnerAcct + `:role/x"}`, auth: inv}, 400, rolearn.CodeOwnAccount, "roleArn"},
		{"submit wrong partition", req{method: "POST", path: "/v1/connections", body: `{"roleArn":"arn:aws-cn:iam::111122223333:role/x"}`, auth: inv}, 400, rolearn.CodeWrongPartition, "roleArn"},
		{"submit look-alike", req{method: "POST", path: "/v1/connections", body: `{"roleArn":"arn:aws:iam::111122223333:role/Rоle"}`, auth: inv}, 400, rolearn.CodeLookalike, "roleArn"},
		{"get connection bad account", req{method: "GET", path: "/v1/connections/abc", auth: inv}, 400, onboarding.CodeInvalidID, "accountId"},
		{"get connection of other tenant", req{method: "GET", path: "/v1/connections/444455556666", auth: otherInv}, 404, CodeNotFound, "accountId"},
		{"get connection of other tenant, verified", req{method: "GET", path: "/v1/connections/" + customerAcct, auth: otherInv}, 404, CodeNotFound, "accountId"},
		{"sandbox role bad arn", req{method: "PUT", path: "/_sandbox/roles", body: `{"roleArn":"nope","trustPolicy":{}}`}, 400, rolearn.CodeInvalidLength, "roleArn"},
		{"sandbox role policy not object", req{method: "PUT", path: "/_sandbox/roles", body: `{"roleArn":"` + customerRole + `","trustPolicy":"x"}`}, 400, CodeInvalidType, "trustPolicy"},
		{"sandbox role policy missing", req{method: "PUT", path: "/_sandbox/roles", body: `{"roleArn":"` + customerRole + `"}`}, 400, CodeInvalidType, "trustPolicy"},
		{"sandbox role policy refused", req{method: "PUT", path: "/_sandbox/roles", body: `{"roleArn":"` + customerRole + `","trustPolicy":{"NotAPolicy":1}}`}, 400, "INVALID_TRUST_POLICY", "trustPolicy"},
		{"sandbox policy duplicate key", req{method: "PUT", path: "/_sandbox/roles", body: `{"roleArn":"` + customerRole + `","trustPolicy":{"Version":"1","Version":"2"}}`}, 400, CodeDuplicateField, "trustPolicy.Version"},
		{"sandbox delete unknown", req{method: "DELETE", path: "/_sandbox/roles?roleArn=" + customerRole}, 404, CodeNotFound, "roleArn"},
		{"sandbox replace the access role", req{method: "PUT", path: "/_sandbox/roles", body: `{"roleArn":"` + principalARN + `","trustPolicy":{}}`}, 403, CodeForbidden, "roleArn"},
		{"sandbox create a role in the partner's account", req{method: "PUT", path: "/_sandbox/roles", body: `{"roleArn":"arn:aws:iam::` + partnerAcct + `:role/rolecall-local-verifier","trustPolicy":{}}`}, 403, CodeForbidden, "roleArn"},
		{"sandbox delete the access role, its name in another case", req{method: "DELETE", path: "/_sandbox/roles?roleArn=arn:aws:iam::999988887777:role/ROLECALLVERIFIER"}, 403, CodeForbidden, "roleArn"},
		{"sandbox faults rate", req{method: "PUT", path: "/_sandbox/faults", body: `{"throttleRate":1.5}`}, 400, CodeInvalidParameter, "throttleRate"},
		{"sandbox faults latency", req{method: "PUT", path: "/_sandbox/faults", body: `{"latencyMs":-1}`}, 400, CodeInvalidParameter, "latencyMs"},
		{"sandbox faults fraction ms", req{method: "PUT", path: "/_sandbox/faults", body: `{"latencyMs":1.5}`}, 400, CodeInvalidType, "latencyMs"},
		{"static directory", req{method: "GET", path: "/static/"}, 404, CodeNotFound, ""},
		{"static missing", req{method: "GET", path: "/static/nope.js"}, 404, CodeNotFound, ""},
		{"static traversal", req{method: "GET", path: "/static/../httpapi.go"}, 404, CodeNotFound, ""},
	}
	jobs := len(e.queue.Jobs())
	e.wantRefusals(t, rejections)
	for _, rf := range rejections {
		if w := e.do(rf.r); rf.status == 401 && rf.code == CodeUnauthenticated && w.Header().Get("WWW-Authenticate") == "" {
			t.Errorf("%s: 401 without WWW-Authenticate", rf.name)
		}
	}
	if len(e.queue.Jobs()) != jobs || len(e.sandbox.roles) != 0 {
		t.Errorf("rejected requests queued jobs (%d) or created sandbox roles (%d)", len(e.queue.Jobs())-jobs, len(e.sandbox.roles))
	}
}

func TestTooLargeWithoutContentLength(t *testing.T) {
	e := newEnv(t)
	body := `{"tenantId":"` + strings.Repeat("a", MaxBody) + `","name":"x"}`
	hr := httptest.NewRequest("POST", "/v1/tenants", io.MultiReader(strings.NewReader(body))) // unknown length
	hr.ContentLength = -1
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set("Authorization", "Bearer "+testToken)
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, hr)
	if w.Code != 413 || apiErr(t, w).Code != CodeTooLarge {
		t.Fatalf("chunked oversize body: %d %s", w.Code, w.Body)
	}
}

func TestInviteIsScopedToItsTenant(t *testing.T) {
	e := newEnv(t)
	e.tenant("a")
	e.tenant("b")
	invA, invB := "Invite "+e.invite("a"), "Invite "+e.invite("b")
	if w := e.do(req{method: "POST", path: "/v1/connections", body: `{"roleArn":"` + customerRole + `"}`, auth: invA}); w.Code != 202 {
		t.Fatalf("submit: %d %s", w.Code, w.Body)
	}
	if w := e.do(req{method: "GET", path: "/v1/connections/" + customerAcct, auth: invB}); w.Code != 404 {
		t.Errorf("tenant b sees tenant a's connection: %d", w.Code)
	}
	w := e.do(req{method: "GET", path: "/v1/invite", auth: invB})
	if v := decode[inviteView](t, w); v.TenantID != "b" || len(v.Connections) != 0 {
		t.Errorf("tenant b's invite view %+v", v)
	}
	w = e.do(req{method: "GET", path: "/v1/invite", auth: invA})
	if v := decode[inviteView](t, w); v.TenantID != "a" || len(v.Connections) != 1 {
		t.Errorf("tenant a's invite view %+v", v)
	}
}

func TestResubmitSameRoleIsIdempotent(t *testing.T) {
	e := newEnv(t)
	e.tenant("a")
	inv := "Invite " + e.invite("a")
	for i := range 2 {
		w := e.do(req{method: "POST", path: "/v1/connections", body: `{"roleArn":"` + customerRole + `"}`, auth: inv})
		if c := decode[connection.Connection](t, w); w.Code != 202 || c.Version != 1 {
			t.Fatalf("submit %d: %d %s", i, w.Code, w.Body)
		}
	}
}

func TestListPaging(t *testing.T) {
	e := newEnv(t)
	e.tenant("a")
	inv := "Invite " + e.invite("a")
	for _, acct := range []string{"111111111111", "222222222222", "333333333333"} {
		if w := e.do(req{method: "POST", path: "/v1/connections", body: `{"roleArn":"arn:aws:iam::` + acct + `:role/r"}`, auth: inv}); w.Code != 202 {
			t.Fatalf("submit: %d %s", w.Code, w.Body)
		}
	}
	for _, base := range []string{"/v1/tenants/a/connections?limit=2", "/v1/connections?status=PENDING&limit=2"} {
		w := e.do(ops("GET", base, ""))
		p1 := decode[connectionsPage](t, w)
		if len(p1.Connections) != 2 || p1.Cursor == "" {
			t.Fatalf("%s page 1: %s", base, w.Body)
		}
		w = e.do(ops("GET", base+"&cursor="+p1.Cursor, ""))
		p2 := decode[connectionsPage](t, w)
		if len(p2.Connections) != 1 || p2.Cursor != "" || p2.Connections[0].AccountID != "333333333333" {
			t.Fatalf("%s page 2: %s", base, w.Body)
		}
	}
}

func TestInternalErrorsAreHidden(t *testing.T) {
	e := newEnv(t)
	e.tenant("a")
	code := e.invite("a")
	secret := "dynamodb: connection refused to 10.1.2.3 (table rolecall-prod)"
	e.st.err = errors.New(secret)
	e.queue.Fail(errors.New(secret))
	e.sweeper.err = errors.New(secret)
	for _, r := range []req{
		{method: "GET", path: "/v1/invite", auth: "Invite " + code},
		ops("GET", "/v1/connections?status=VERIFIED", ""),
		ops("POST", "/v1/sweeps", `{"all":true}`),
	} {
		w := e.do(r)
		if w.Code != 500 {
			t.Fatalf("%s %s: %d %s", r.method, r.path, w.Code, w.Body)
		}
		if got := apiErr(t, w); got.Code != CodeInternal || strings.Contains(w.Body.String(), "10.1.2.3") {
			t.Errorf("%s %s leaked or miscoded: %s", r.method, r.path, w.Body)
		}
	}
}

func TestPanicsBecomeGeneric500(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Setup = fakeSetup{panics: true} })
	e.tenant("a")
	w := e.do(req{method: "GET", path: "/v1/invite", auth: "Invite " + e.invite("a")})
	if w.Code != 500 || apiErr(t, w).Code != CodeInternal || strings.Contains(w.Body.String(), "secret") {
		t.Fatalf("panic: %d %s", w.Code, w.Body)
	}
}

func TestSecurityHeadersOnEveryResponse(t *testing.T) {
	e := newEnv(t)
	e.tenant("a")
	code := e.invite("a")
	for _, r := range []req{
		{method: "GET", path: "/nope"},
		{method: "GET", path: "/connect?invite=" + code},
		{method: "GET", path: "/connect"},
		{method: "GET", path: "/ops"},
		{method: "GET", path: "/static/app.css"},
		{method: "GET", path: "/v1/invite", auth: "Invite " + code},
		ops("POST", "/v1/tenants", `{`),
	} {
		w := e.do(r)
		h := w.Header()
		csp := h.Get("Content-Security-Policy")
		if !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "default-src 'none'") ||
			!strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
			t.Errorf("%s: CSP %q", r.path, csp)
		}
		if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") != "no-referrer" || h.Get("X-Frame-Options") != "DENY" {
			t.Errorf("%s: headers %v", r.path, h)
		}
		if !strings.HasPrefix(r.path, "/static/") && h.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: Cache-Control %q", r.path, h.Get("Cache-Control"))
		}
	}
}

func TestEventsAndSweeps(t *testing.T) {
	e := newEnv(t)
	for i := range 3 {
		e.events.entries = append(e.events.entries, json.RawMessage(fmt.Sprintf(`{"detail-type":"Role Submitted","detail":{"eventId":"evt-%d"}}`, i)))
	}
	w := e.do(ops("GET", "/v1/events", ""))
	if p := decode[eventsPage](t, w); w.Code != 200 || len(p.Events) != 3 {
		t.Fatalf("events: %d %s", w.Code, w.Body)
	}
	w = e.do(ops("GET", "/v1/events?after=evt-0&limit=1", ""))
	if p := decode[eventsPage](t, w); len(p.Events) != 1 || !strings.Contains(string(p.Events[0]), "evt-1") {
		t.Fatalf("events after evt-0: %s", w.Body)
	}
	w = e.do(ops("GET", "/v1/events?after=evt-2", ""))
	if w.Body.String() != "{\"events\":[]}\n" {
		t.Fatalf("no new events: %s", w.Body)
	}
	if w := e.do(req{method: "GET", path: "/v1/events"}); w.Code != 401 {
		t.Errorf("events without token: %d", w.Code)
	}

	for _, tt := range []struct {
		body string
		all  bool
		n    int
	}{{"", false, 3}, {`{"all":false}`, false, 3}, {`{"all":true}`, true, 7}} {
		w := e.do(ops("POST", "/v1/sweeps", tt.body))
		if res := decode[opswire.SweepResult](t, w); w.Code != 200 || res.Enqueued != tt.n || e.sweeper.calls[len(e.sweeper.calls)-1] != tt.all {
			t.Errorf("sweep %q: %d %s calls %v", tt.body, w.Code, w.Body, e.sweeper.calls)
		}
	}
}

func TestOptionalRoutesAreOffByDefault(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Events, c.Sweeper, c.Sandbox, c.OpsPage = nil, nil, nil, false })
	for _, r := range []req{
		ops("GET", "/v1/events", ""),
		ops("POST", "/v1/sweeps", `{"all":true}`),
		{method: "GET", path: "/_sandbox"},
		{method: "PUT", path: "/_sandbox/roles", body: `{}`},
		{method: "GET", path: "/ops"},
	} {
		if w := e.do(r); w.Code != 404 || apiErr(t, w).Code != CodeNotFound {
			t.Errorf("%s %s: %d", r.method, r.path, w.Code)
		}
	}
	e.tenant("a")
	w := e.do(req{method: "GET", path: "/v1/invite", auth: "Invite " + e.invite("a")})
	if v := decode[inviteView](t, w); v.Sandbox != nil {
		t.Errorf("sandbox offered without a sandbox: %+v", v.Sandbox)
	}
}

func TestSandboxRoutes(t *testing.T) {
	e := newEnv(t)
	w := e.do(req{method: "GET", path: "/_sandbox"})
	if info := decode[SandboxInfo](t, w); w.Code != 200 || info.PartnerPrincipalARN != principalARN || info.STSEndpoint == "" {
		t.Fatalf("info: %d %s", w.Code, w.Body)
	}
	pol := `{"Version":"2012-10-17","Statement":[]}`
	w = e.do(req{method: "PUT", path: "/_sandbox/roles", body: `{"roleArn":"` + customerRole + `","trustPolicy":` + pol + `}`})
	if w.Code != 200 || e.sandbox.roles[customerRole] != pol {
		t.Fatalf("put role: %d %s %v", w.Code, w.Body, e.sandbox.roles)
	}
	w = e.do(req{method: "DELETE", path: "/_sandbox/roles?roleArn=" + customerRole})
	if _, ok := e.sandbox.roles[customerRole]; w.Code != 200 || ok {
		t.Fatalf("delete role: %d %s", w.Code, w.Body)
	}
	w = e.do(req{method: "PUT", path: "/_sandbox/faults", body: `{"latencyMs":250,"throttleRate":0.5,"errorRate":0.25}`})
	if w.Code != 200 || e.sandbox.faults != (Faults{Latency: 250 * time.Millisecond, ThrottleRate: 0.5, ErrorRate: 0.25}) {
		t.Fatalf("faults: %d %s %+v", w.Code, w.Body, e.sandbox.faults)
	}
}

func TestSandboxAccountID(t *testing.T) {
	seen := map[string]bool{}
	for _, id := range []string{"a", "b", "demo", "acme", strings.Repeat("z", 64)} {
		got := SandboxAccountID(id, "")
		if len(got) != 12 || got[0] == '0' || got != SandboxAccountID(id, "") {
			t.Errorf("SandboxAccountID(%q) = %q", id, got)
		}
		if seen[got] {
			t.Errorf("collision for %q", id)
		}
		seen[got] = true
		if other := SandboxAccountID(id, got); other == got || len(other) != 12 {
			t.Errorf("SandboxAccountID(%q) returned the partner's account", id)
		}
	}
}

func TestNoSecretsInLogs(t *testing.T) {
	var buf strings.Builder
	e := newEnv(t, func(c *Config) { c.Log = newTextLog(&buf) })
	tn := e.tenant("a")
	code := e.invite("a")
	e.do(req{method: "GET", path: "/connect?invite=" + code})
	e.do(req{method: "GET", path: "/v1/invite", auth: "Invite " + code})
	e.st.err = errors.New("boom")
	e.do(req{method: "GET", path: "/v1/invite", auth: "Invite " + code})
	e.do(req{method: "GET", path: "/connect?invite=" + code})
	logs := buf.String()
	if !strings.Contains(logs, "boom") {
		t.Fatalf("internal error not logged: %s", logs)
	}
	if strings.Contains(logs, code) || strings.Contains(logs, tn.ExternalID) || strings.Contains(logs, testToken) {
		t.Errorf("logs carry a secret:\n%s", logs)
	}
}

func FuzzCreateTenantBody(f *testing.F) {
	for _, s := range []string{`{"tenantId":"a","name":"b"}`, `{`, `[]`, `{"tenantId":1}`, `{"a":{"a":{"a":[1,2,{"b":null}]}}}`, "\xff", `{"name":"x","name":"y"}`} {
		f.Add(s)
	}
	e := newEnv(f)
	f.Fuzz(func(t *testing.T, body string) {
		e.t = t
		w := e.do(ops("POST", "/v1/tenants", body))
		if w.Code >= 500 {
			t.Fatalf("body %q: %d %s", body, w.Code, w.Body)
		}
		if w.Code != 201 {
			apiErr(t, w)
		}
	})
}

func TestRoleSetup(t *testing.T) {
	tn, err := tenant.New("acme", "Acme", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	s := RoleSetup{TrustedPrincipalARN: principalARN, TemplateURL: "https://example-bucket.s3.amazonaws.com/customer-role.yaml", Region: "eu-west-1"}
	g, err := s.Guide(tn)
	if err != nil {
		t.Fatal(err)
	}
	if g.RoleName != rolesetup.DefaultRoleName("RoleCall", principalARN, "acme") || !strings.Contains(g.QuickCreateURL, "quickcreate") || !strings.Contains(g.Terraform, tn.ExternalID) || !strings.Contains(g.CLI, tn.ExternalID) {
		t.Errorf("guide %+v", g)
	}
	if g, _ := (RoleSetup{TrustedPrincipalARN: principalARN}).Guide(tn); g.QuickCreateURL != "" {
		t.Errorf("quick-create link without a template URL: %q", g.QuickCreateURL)
	}
	pol, err := s.TrustPolicy(tn)
	if err != nil || !json.Valid(pol) || !strings.Contains(string(pol), tn.ExternalID) || !strings.Contains(string(pol), principalARN) {
		t.Errorf("trust policy %s (%v)", pol, err)
	}
	tpl, err := s.Template(tn)
	if err != nil || !strings.Contains(string(tpl), tn.ExternalID) || !strings.Contains(string(tpl), `Default: "`+g.RoleName+`"`) {
		t.Errorf("template (%v):\n%s", err, tpl)
	}
	// A partner-chosen prefix starts every tenant's role name.
	if g, err := (RoleSetup{TrustedPrincipalARN: principalARN, RoleNamePrefix: "AcmeCloud"}).Guide(tn); err != nil || !strings.HasPrefix(g.RoleName, "AcmeCloud-") {
		t.Errorf("prefixed role name %q (%v)", g.RoleName, err)
	}
	if _, err := (RoleSetup{TrustedPrincipalARN: "nope"}).Guide(tn); err == nil {
		t.Error("a bad principal rendered")
	}
}
