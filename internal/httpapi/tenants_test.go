package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rolecall/rolecall/internal/onboarding"
	"github.com/rolecall/rolecall/internal/opswire"
	"github.com/rolecall/rolecall/internal/tenant"
)

// The tenant routes page through every tenant and never show a secret.
func TestListTenantsPagesWithoutSecrets(t *testing.T) {
	e := newEnv(t)
	var secrets []string
	for i := range 5 {
		tn := e.tenant(fmt.Sprintf("t%d", 4-i))
		secrets = append(secrets, tn.ExternalID, e.invite(tn.ID))
	}
	for _, limit := range []int{1, 2, 5, 50} {
		t.Run(fmt.Sprintf("limit %d", limit), func(t *testing.T) {
			var got []string
			cursor := ""
			for pages := 0; ; pages++ {
				if pages > 10 {
					t.Fatal("the walk does not end")
				}
				w := e.do(ops("GET", fmt.Sprintf("/v1/tenants?limit=%d&cursor=%s", limit, cursor), ""))
				if w.Code != 200 {
					t.Fatalf("status %d: %s", w.Code, w.Body)
				}
				for _, s := range secrets {
					if strings.Contains(w.Body.String(), s) {
						t.Fatalf("the listing carries a secret: %s", w.Body)
					}
				}
				p := decode[tenantsPage](t, w)
				for _, tv := range p.Tenants {
					got = append(got, tv.TenantID+":"+tv.Name)
					if tv.ExternalIDVersion != 1 || tv.CreatedAt.IsZero() {
						t.Errorf("tenant %+v", tv)
					}
				}
				if p.Cursor == "" {
					break
				}
				cursor = p.Cursor
			}
			if want := "t0:Tenant t0 t1:Tenant t1 t2:Tenant t2 t3:Tenant t3 t4:Tenant t4"; strings.Join(got, " ") != want {
				t.Errorf("listed %v, want %s", got, want)
			}
		})
	}
	w := e.do(ops("GET", "/v1/tenants/t3", ""))
	if w.Code != 200 || strings.Contains(w.Body.String(), "externalId\"") || strings.Contains(w.Body.String(), secrets[2]) {
		t.Fatalf("get: %d %s", w.Code, w.Body)
	}
	if tv := decode[opswire.Tenant](t, w); tv.TenantID != "t3" || tv.Name != "Tenant t3" {
		t.Errorf("get: %+v", tv)
	}
	if _, err := e.svc.RotateExternalID(context.Background(), "t3", onboarding.RotateOptions{Grace: time.Hour}); err != nil {
		t.Fatal(err)
	}
	// No connection relies on the previous ID: the rotation completes at
	// once, so no grace shows.
	w = e.do(ops("GET", "/v1/tenants/t3", ""))
	if tv := decode[opswire.Tenant](t, w); tv.ExternalIDVersion != 2 || tv.RotatedAt.IsZero() || tv.PreviousExternalIDVersion != 0 || !tv.GraceEndsAt.IsZero() {
		t.Errorf("after rotation: %+v", tv)
	}
	// The previous external ID, still accepted during the grace, is a
	// secret too.
	if strings.Contains(w.Body.String(), secrets[2]) || strings.Contains(w.Body.String(), "externalId\"") {
		t.Errorf("the tenant view shows an external ID: %s", w.Body)
	}
}

func TestConnectionHistory(t *testing.T) {
	e := newEnv(t)
	e.submitted(t, "acme")
	if w := e.do(ops("DELETE", "/v1/tenants/acme/connections/111122223333", "")); w.Code != 200 {
		t.Fatalf("disconnect: %d %s", w.Code, w.Body)
	}
	w := e.do(ops("GET", "/v1/tenants/acme/connections/111122223333", ""))
	if w.Code != 200 {
		t.Fatalf("history: %d %s", w.Code, w.Body)
	}
	h := decode[opswire.ConnectionHistory](t, w)
	if h.Connection.Status != "DISCONNECTED" || h.Connection.Version != 2 || len(h.Events) != 2 {
		t.Fatalf("history: %s", w.Body)
	}
	for i, want := range []struct{ dt, status string }{{"Role Submitted", "PENDING"}, {"Role Disconnected", "DISCONNECTED"}} {
		if ev := h.Events[i]; ev.DetailType != want.dt || string(ev.Status) != want.status || ev.Version != int64(i+1) || ev.EventID == "" {
			t.Errorf("event %d: %+v, want %v", i, ev, want)
		}
	}
}

func TestTenantRoutesRefuse(t *testing.T) {
	e := newEnv(t)
	e.tenant("acme")
	e.wantRefusals(t, []rejection{
		{"list without token", req{method: "GET", path: "/v1/tenants"}, 401, CodeUnauthenticated, ""},
		{"get without token", req{method: "GET", path: "/v1/tenants/acme"}, 401, CodeUnauthenticated, ""},
		{"history without token", req{method: "GET", path: "/v1/tenants/acme/connections/111122223333"}, 401, CodeUnauthenticated, ""},
		{"limit 0", ops("GET", "/v1/tenants?limit=0", ""), 400, CodeInvalidParameter, "limit"},
		{"limit too big", ops("GET", "/v1/tenants?limit=1001", ""), 400, CodeInvalidParameter, "limit"},
		{"foreign cursor", ops("GET", "/v1/tenants?cursor=e30", ""), 400, onboarding.CodeInvalidCursor, "cursor"},
		{"unknown tenant", ops("GET", "/v1/tenants/nobody", ""), 404, CodeNotFound, "tenantId"},
		{"invalid tenant id", ops("GET", "/v1/tenants/a%20b", ""), 400, tenant.CodeInvalidTenantID, "tenantId"},
		{"history of an unknown tenant", ops("GET", "/v1/tenants/nobody/connections/111122223333", ""), 404, CodeNotFound, "tenantId"},
		{"history of an unknown connection", ops("GET", "/v1/tenants/acme/connections/111122223333", ""), 404, CodeNotFound, "accountId"},
		{"history of a bad account", ops("GET", "/v1/tenants/acme/connections/1234", ""), 400, onboarding.CodeInvalidID, "accountId"},
	})
}

// TestUpdateTenant: PATCH sets the connection limit, answers the tenant as
// GET does (no external ID), and the next submission meets the new limit.
func TestUpdateTenant(t *testing.T) {
	e := newEnv(t)
	invite := e.submitted(t, "acme")
	tn, err := e.svc.Tenant(context.Background(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	w := e.do(ops("PATCH", "/v1/tenants/acme", `{"maxConnections": 1}`))
	if w.Code != 200 || strings.Contains(w.Body.String(), tn.ExternalID) || strings.Contains(w.Body.String(), `externalId"`) {
		t.Fatalf("patch: %d %s", w.Code, w.Body)
	}
	if tv := decode[opswire.Tenant](t, w); tv.TenantID != "acme" || tv.Name != "Tenant acme" || tv.MaxConnections != 1 || tv.ExternalIDVersion != 1 {
		t.Fatalf("patch answered %+v", tv)
	}
	if tv := decode[opswire.Tenant](t, e.do(ops("GET", "/v1/tenants/acme", ""))); tv.MaxConnections != 1 {
		t.Fatalf("get after patch: %+v", tv)
	}
	// The tenant has one connection, the most it may now have.
	second := req{method: "POST", path: "/v1/connections", body: `{"roleArn":"arn:aws:iam::444455556666:role/RoleCall"}`, auth: invite}
	wantAPIError(t, e.do(second), 409, onboarding.CodeConnectionLimit, "")
	if w := e.do(ops("PATCH", "/v1/tenants/acme", `{"maxConnections": 2}`)); w.Code != 200 {
		t.Fatalf("raise: %d %s", w.Code, w.Body)
	}
	if w := e.do(second); w.Code != 202 {
		t.Fatalf("submission under the raised limit: %d %s", w.Code, w.Body)
	}
}

func TestUpdateTenantRefuses(t *testing.T) {
	e := newEnv(t)
	e.tenant("acme")
	e.wantRefusals(t, []rejection{
		{"without token", req{method: "PATCH", path: "/v1/tenants/acme", body: `{"maxConnections": 5}`}, 401, CodeUnauthenticated, ""},
		{"no body", req{method: "PATCH", path: "/v1/tenants/acme", body: " ", auth: "Bearer " + testToken}, 400, CodeMalformedJSON, ""},
		{"no content type", ops("PATCH", "/v1/tenants/acme", ""), 415, CodeUnsupportedMedia, ""},
		{"nothing to change", ops("PATCH", "/v1/tenants/acme", `{}`), 400, CodeMissingField, "maxConnections"},
		{"null limit", ops("PATCH", "/v1/tenants/acme", `{"maxConnections": null}`), 400, CodeInvalidType, "maxConnections"},
		{"zero", ops("PATCH", "/v1/tenants/acme", `{"maxConnections": 0}`), 400, tenant.CodeInvalidMaxConnections, "maxConnections"},
		{"above the most", ops("PATCH", "/v1/tenants/acme", `{"maxConnections": 10001}`), 400, tenant.CodeInvalidMaxConnections, "maxConnections"},
		{"not an integer", ops("PATCH", "/v1/tenants/acme", `{"maxConnections": 2.5}`), 400, CodeInvalidType, "maxConnections"},
		{"a string", ops("PATCH", "/v1/tenants/acme", `{"maxConnections": "5"}`), 400, CodeInvalidType, "maxConnections"},
		{"a setting that cannot change", ops("PATCH", "/v1/tenants/acme", `{"maxConnections": 5, "name": "Other"}`), 400, CodeUnknownField, "name"},
		{"unknown tenant", ops("PATCH", "/v1/tenants/nobody", `{"maxConnections": 5}`), 404, CodeNotFound, "tenantId"},
		{"invalid tenant id", ops("PATCH", "/v1/tenants/a%20b", `{"maxConnections": 5}`), 400, tenant.CodeInvalidTenantID, "tenantId"},
	})
}

// A Service without the Directory methods has no listing routes.
func TestTenantRoutesNeedADirectory(t *testing.T) {
	ops, _ := NewBearerToken(testToken)
	h, err := New(Config{Service: nopService{}, Ops: ops, Log: discardLog()})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, h: h}
	for _, p := range []string{"/v1/tenants", "/v1/tenants/acme/connections/111122223333"} {
		if w := e.do(req{method: "GET", path: p, auth: "Bearer " + testToken}); w.Code != 404 || apiErr(t, w).Code != CodeNotFound {
			t.Errorf("%s: %d %s", p, w.Code, w.Body)
		}
	}
}

// TestTenantViewDuringGrace: during a rotation's grace the view shows the
// previous external ID's version and the grace's end, never an ID.
func TestTenantViewDuringGrace(t *testing.T) {
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	tn, err := tenant.New("acme", "Acme", now)
	if err != nil {
		t.Fatal(err)
	}
	first := tn.ExternalID
	tests := []struct {
		name        string
		tenant      tenant.Tenant
		wantPrev    int
		wantGraceAt time.Time
	}{
		{"never rotated", tn, 0, time.Time{}},
		{"in grace", tn.RotatedWithGrace(now, time.Hour), 1, now.Add(time.Hour)},
		{"revoked at once", tn.RotatedWithGrace(now, 0), 0, time.Time{}},
		{"grace completed", tn.RotatedWithGrace(now, time.Hour).Retired(), 0, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := viewTenant(tt.tenant)
			if v.PreviousExternalIDVersion != tt.wantPrev || !v.GraceEndsAt.Equal(tt.wantGraceAt) {
				t.Errorf("view %+v, want previous version %d, grace ends %v", v, tt.wantPrev, tt.wantGraceAt)
			}
			b, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(b), first) || strings.Contains(string(b), tt.tenant.ExternalID) {
				t.Errorf("the view shows an external ID: %s", b)
			}
		})
	}
}
