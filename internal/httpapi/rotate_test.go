package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/onboarding"
	"github.com/rolecall/rolecall/internal/rolearn"
	"github.com/rolecall/rolecall/internal/tenant"
)

func TestRotate(t *testing.T) {
	e := newEnv(t)
	e.tenant("acme")
	path := "/v1/tenants/acme/external-id/rotate"
	bad := []struct {
		name, body, code, field string
	}{
		{"negative", `{"graceSeconds":-1}`, onboarding.CodeInvalidGrace, "graceSeconds"},
		{"over 30 days", `{"graceSeconds":2592001}`, onboarding.CodeInvalidGrace, "graceSeconds"},
		{"huge", `{"graceSeconds":99999999999999999999}`, CodeInvalidType, "graceSeconds"},
		{"fraction", `{"graceSeconds":1.5}`, CodeInvalidType, "graceSeconds"},
		{"string", `{"graceSeconds":"3600"}`, CodeInvalidType, "graceSeconds"},
		{"unknown field", `{"grace":3600}`, "", ""},
	}
	for _, tc := range bad {
		t.Run("refused: "+tc.name, func(t *testing.T) {
			before := e.mem.Snapshot()
			w := e.do(ops("POST", path, tc.body))
			var body struct {
				Error struct{ Code, Message, Field string } `json:"error"`
			}
			_ = json.Unmarshal(w.Body.Bytes(), &body)
			if w.Code != 400 || (tc.code != "" && (body.Error.Code != tc.code || body.Error.Field != tc.field)) || body.Error.Message == "" {
				t.Fatalf("%d %s", w.Code, w.Body)
			}
			if e.mem.Snapshot() != before {
				t.Fatal("a refused rotation changed the store")
			}
		})
	}
	good := []struct {
		name, body string
		grace      time.Duration
	}{
		{"default grace", ``, tenant.DefaultRotationGrace},
		{"an hour", `{"graceSeconds":3600}`, time.Hour},
		{"30 days", `{"graceSeconds":2592000}`, tenant.MaxRotationGrace},
		{"revoke at once", `{"graceSeconds":0}`, 0},
	}
	for _, tc := range good {
		t.Run(tc.name, func(t *testing.T) {
			// A verified connection relies on the previous ID, so the
			// grace is kept.
			e.verified(t, "acme")
			before := e.mustTenant("acme")
			w := e.do(ops("POST", path, tc.body))
			if w.Code != 200 {
				t.Fatalf("%d %s", w.Code, w.Body)
			}
			var got tenant.Tenant
			if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
				t.Fatal(err)
			}
			if got.ExternalIDVersion != before.ExternalIDVersion+1 || got != e.mustTenant("acme") {
				t.Fatalf("rotated %+v", got)
			}
			if tc.grace == 0 {
				if got.InGrace() || strings.Contains(w.Body.String(), "previousExternalId") {
					t.Fatalf("revoked at once: %s", w.Body)
				}
				return
			}
			if got.PreviousExternalID != before.ExternalID || !got.GraceEndsAt.Equal(e.now.Add(tc.grace)) {
				t.Fatalf("grace %s: %s", tc.grace, w.Body)
			}
		})
	}
}

// verified makes tenantID's connection of customerAcct VERIFIED with the
// tenant's current external ID.
func (e *env) verified(t *testing.T, tenantID string) {
	t.Helper()
	ctx := context.Background()
	tn := e.mustTenant(tenantID)
	c, err := e.mem.GetConnection(ctx, tenantID, customerAcct)
	if err != nil {
		a, _ := rolearn.Parse(customerRole, rolearn.Rules{})
		tr := e.svc.Policy.Submit(nil, tenantID, a, tn.ExternalIDVersion, e.now)
		if err := e.mem.Apply(ctx, tr); err != nil {
			t.Fatal(err)
		}
		c = tr.After
	}
	e.now = e.now.Add(time.Minute)
	tr, err := e.svc.Policy.Apply(c, connection.Outcome{Result: connection.ResultOK, Version: c.Version, ExternalIDVersion: tn.ExternalIDVersion, ExternalIDCurrent: true, CheckedAt: e.now})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.mem.Apply(ctx, tr); err != nil {
		t.Fatal(err)
	}
}

// revokeHook runs hook before each invite revocation, and fails it with
// err when set.
type revokeHook struct {
	*failingStore
	hook func()
	err  error
}

func (s *revokeHook) RevokeInvite(ctx context.Context, tenantID, inviteID string) (tenant.Invite, error) {
	if s.hook != nil {
		s.hook()
	}
	if s.err != nil {
		return tenant.Invite{}, s.err
	}
	return s.failingStore.RevokeInvite(ctx, tenantID, inviteID)
}

// A rotation that revokes the invites (how a partner rotates away from a
// leaked one) revokes them before the new external ID exists: the holder
// of an invite being revoked, asking for the form meanwhile, is never
// shown the new ID. When revoking fails, nothing is rotated.
func TestRotateRevokesInvitesBeforeTheNewID(t *testing.T) {
	tests := []struct {
		name                    string
		revokeErr               error
		wantStatus, wantVersion int
	}{
		{"revoked, then rotated", nil, 200, 2},
		{"revoking failed: nothing rotated", errors.New("dynamodb: throttled"), 500, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.tenant("acme")
			leaked := e.invite("acme")
			var shown []string
			e.svc.Store = &revokeHook{failingStore: e.st, err: tc.revokeErr, hook: func() {
				w := e.do(req{method: "GET", path: "/v1/invite", auth: "Invite " + leaked})
				var v inviteView
				if w.Code == 200 && json.Unmarshal(w.Body.Bytes(), &v) == nil {
					shown = append(shown, v.ExternalID)
				}
			}}
			w := e.do(ops("POST", "/v1/tenants/acme/external-id/rotate", `{"revokeInvites":true}`))
			if w.Code != tc.wantStatus {
				t.Fatalf("rotate: %d %s; want %d", w.Code, w.Body, tc.wantStatus)
			}
			stored, err := e.st.GetTenant(context.Background(), "acme")
			if err != nil {
				t.Fatal(err)
			}
			if stored.ExternalIDVersion != tc.wantVersion {
				t.Errorf("external ID version %d, want %d", stored.ExternalIDVersion, tc.wantVersion)
			}
			for _, id := range shown {
				if tc.wantVersion == 2 && id == stored.ExternalID {
					t.Errorf("the invite being revoked was shown the new external ID")
				}
			}
		})
	}
}

// tenantHook runs hook once, before the next tenant read.
type tenantHook struct {
	*failingStore
	hook func()
}

func (s *tenantHook) GetTenant(ctx context.Context, id string) (tenant.Tenant, error) {
	if h := s.hook; h != nil {
		s.hook = nil
		h()
	}
	return s.failingStore.GetTenant(ctx, id)
}

// A rotation that revokes the invites and lands between the form's read
// of its invite and of its tenant does not show the revoked invite the
// new external ID: the invite is read again after the tenant.
func TestRevokedInviteIsNotShownTheNewIDBetweenItsReads(t *testing.T) {
	e := newEnv(t)
	e.tenant("acme")
	leaked := e.invite("acme")
	h := &tenantHook{failingStore: e.st}
	e.svc.Store = h
	h.hook = func() {
		if w := e.do(ops("POST", "/v1/tenants/acme/external-id/rotate", `{"revokeInvites":true}`)); w.Code != http.StatusOK {
			t.Fatalf("rotate: %d %s", w.Code, w.Body)
		}
	}
	w := e.do(req{method: "GET", path: "/v1/invite", auth: "Invite " + leaked})
	if w.Code == http.StatusOK {
		t.Errorf("the invite revoked by the rotation was answered: %s", w.Body)
	}
}
