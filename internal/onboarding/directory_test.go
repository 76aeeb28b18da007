package onboarding_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/onboarding"
	"github.com/rolecall/rolecall/internal/store"
	"github.com/rolecall/rolecall/internal/tenant"
)

// readStore injects failures into the store's listing and invite methods;
// a nil error passes the call through.
type readStore struct {
	*hookStore
	listTenants, events, listInvites, putInvite, revokeInvite error
}

func (r *readStore) ListTenants(ctx context.Context, cursor string, limit int) (store.TenantPage, error) {
	if r.listTenants != nil {
		return store.TenantPage{}, r.listTenants
	}
	return r.hookStore.ListTenants(ctx, cursor, limit)
}

func (r *readStore) Events(ctx context.Context, tenantID, accountID string) ([]connection.Event, error) {
	if r.events != nil {
		return nil, r.events
	}
	return r.hookStore.Events(ctx, tenantID, accountID)
}

func (r *readStore) ListInvites(ctx context.Context, tenantID, cursor string, limit int) (store.InvitePage, error) {
	if r.listInvites != nil {
		return store.InvitePage{}, r.listInvites
	}
	return r.hookStore.ListInvites(ctx, tenantID, cursor, limit)
}

func (r *readStore) PutInvite(ctx context.Context, inv tenant.Invite) error {
	if r.putInvite != nil {
		return r.putInvite
	}
	return r.hookStore.PutInvite(ctx, inv)
}

func (r *readStore) RevokeInvite(ctx context.Context, tenantID, id string) (tenant.Invite, error) {
	if r.revokeInvite != nil {
		return tenant.Invite{}, r.revokeInvite
	}
	return r.hookStore.RevokeInvite(ctx, tenantID, id)
}

// failing installs a readStore over f's store and returns it.
func (f *fixture) failing() *readStore {
	r := &readStore{hookStore: f.hooks}
	f.svc.Store = r
	return r
}

// wantInternal asserts that err wraps cause and is not a client error.
func wantInternal(t *testing.T, err, cause error) {
	t.Helper()
	if !errors.Is(err, cause) || onboarding.AsError(err) != nil {
		t.Fatalf("err = %v, want an internal error wrapping %v", err, cause)
	}
}

func TestListTenants(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	for _, id := range []string{"gamma", "acme", "beta"} {
		f.tenant(t, id)
	}
	p, err := f.svc.ListTenants(ctx, "", 2)
	if err != nil || len(p.Items) != 2 || p.Items[0].ID != "acme" || p.Items[1].ID != "beta" || p.Cursor == "" {
		t.Fatalf("page 1 = %+v, %v; want acme, beta and a cursor", p, err)
	}
	p2, err := f.svc.ListTenants(ctx, p.Cursor, 2)
	if err != nil || len(p2.Items) != 1 || p2.Items[0].ID != "gamma" || p2.Cursor != "" {
		t.Fatalf("page 2 = %+v, %v; want gamma and no cursor", p2, err)
	}

	connCursor := func() string {
		tn, _ := f.svc.Tenant(ctx, "acme")
		for i := range 2 {
			if _, err := f.svc.Submit(ctx, tn, fmt.Sprintf("arn:aws:iam::12345678901%d:role/R", i)); err != nil {
				t.Fatal(err)
			}
		}
		cp, err := f.svc.ListByTenant(ctx, "acme", "", 1)
		if err != nil || cp.Cursor == "" {
			t.Fatalf("ListByTenant = %+v, %v", cp, err)
		}
		return cp.Cursor
	}()
	for name, cursor := range map[string]string{"not base64": "!!not-a-cursor!!", "another listing's": connCursor} {
		t.Run("cursor "+name, func(t *testing.T) {
			_, err := f.svc.ListTenants(ctx, cursor, 2)
			wantCode(t, err, onboarding.CodeInvalidCursor, "cursor")
		})
	}
	t.Run("store fails", func(t *testing.T) {
		boom := errors.New("throttled")
		f.failing().listTenants = boom
		_, err := f.svc.ListTenants(ctx, "", 2)
		wantInternal(t, err, boom)
	})
}

func TestConnectionHistory(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	acme := f.tenant(t, "acme")
	f.tenant(t, "beta")
	if _, err := f.svc.Submit(ctx, acme, roleARN); err != nil {
		t.Fatal(err)
	}
	f.verify(t, "acme", custAccount)
	c, evs, err := f.svc.ConnectionHistory(ctx, "acme", custAccount)
	if err != nil || c.Status != connection.Verified || c.TenantID != "acme" {
		t.Fatalf("ConnectionHistory = %+v, %v", c, err)
	}
	if len(evs) != 2 || evs[0].DetailType != connection.RoleSubmitted || evs[1].DetailType == connection.RoleSubmitted {
		t.Fatalf("events %+v, want the submission then the verification", evs)
	}

	tests := []struct {
		name, tenantID, accountID, code, field string
	}{
		{"unknown tenant", "nobody", custAccount, onboarding.CodeNotFound, "tenantId"},
		{"malformed tenant", "no/body", custAccount, tenant.CodeInvalidTenantID, "tenantId"},
		{"another tenant's account", "beta", custAccount, onboarding.CodeNotFound, "accountId"},
		{"unknown account", "acme", "999999999999", onboarding.CodeNotFound, "accountId"},
		{"malformed account", "acme", "123", onboarding.CodeInvalidID, "accountId"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, evs, err := f.svc.ConnectionHistory(ctx, tt.tenantID, tt.accountID)
			wantCode(t, err, tt.code, tt.field)
			if c != (connection.Connection{}) || evs != nil {
				t.Fatalf("a refused lookup returned %+v, %+v", c, evs)
			}
		})
	}
	t.Run("events fail", func(t *testing.T) {
		boom := errors.New("throttled")
		f.failing().events = boom
		_, _, err := f.svc.ConnectionHistory(ctx, "acme", custAccount)
		wantInternal(t, err, boom)
	})
}

func TestListAndRevokeInvite(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.tenant(t, "acme")
	f.tenant(t, "beta")
	var codes []string
	var invs []tenant.Invite
	for range 3 {
		code, inv, err := f.svc.CreateInvite(ctx, "acme")
		if err != nil {
			t.Fatal(err)
		}
		codes, invs = append(codes, code), append(invs, inv)
		f.now = f.now.Add(time.Second)
	}
	betaCode, betaInv, err := f.svc.CreateInvite(ctx, "beta")
	if err != nil {
		t.Fatal(err)
	}

	p, err := f.svc.ListInvites(ctx, "acme", "", 2)
	if err != nil || len(p.Items) != 2 || p.Items[0].ID != invs[0].ID || p.Items[1].ID != invs[1].ID || p.Cursor == "" {
		t.Fatalf("ListInvites page 1 = %+v, %v", p, err)
	}
	p2, err := f.svc.ListInvites(ctx, "acme", p.Cursor, 2)
	if err != nil || len(p2.Items) != 1 || p2.Items[0].ID != invs[2].ID || p2.Cursor != "" {
		t.Fatalf("ListInvites page 2 = %+v, %v", p2, err)
	}
	_, err = f.svc.ListInvites(ctx, "nobody", "", 2)
	wantCode(t, err, onboarding.CodeNotFound, "tenantId")
	_, err = f.svc.ListInvites(ctx, "acme", "!!not-a-cursor!!", 2)
	wantCode(t, err, onboarding.CodeInvalidCursor, "cursor")

	r, err := f.svc.RevokeInvite(ctx, "acme", invs[1].ID)
	if err != nil || !r.Revoked || r.ID != invs[1].ID {
		t.Fatalf("RevokeInvite = %+v, %v", r, err)
	}
	if _, err := f.svc.ResolveInvite(ctx, codes[1]); !errors.Is(err, tenant.ErrInviteRevoked) {
		t.Fatalf("a revoked code resolves: %v", err)
	}
	for _, i := range []int{0, 2} {
		if _, err := f.svc.ResolveInvite(ctx, codes[i]); err != nil {
			t.Fatalf("revoking one invite refused another: %v", err)
		}
	}
	t.Run("revoking again changes nothing", func(t *testing.T) {
		before := f.mem.Snapshot()
		again, err := f.svc.RevokeInvite(ctx, "acme", invs[1].ID)
		if err != nil || !again.Revoked || f.mem.Snapshot() != before {
			t.Fatalf("RevokeInvite again = %+v, %v (store changed: %v)", again, err, f.mem.Snapshot() != before)
		}
	})

	unknown := "inv-" + "0123456789abcdef0123456789ab"
	tests := []struct {
		name, tenantID, inviteID, code, field string
	}{
		{"unknown tenant", "nobody", invs[0].ID, onboarding.CodeNotFound, "tenantId"},
		{"another tenant's invite", "acme", betaInv.ID, onboarding.CodeNotFound, "inviteId"},
		{"unknown invite", "acme", unknown, onboarding.CodeNotFound, "inviteId"},
		{"malformed", "acme", "inv-XYZ", tenant.CodeInvalidInviteID, "inviteId"},
		{"upper-case hex", "acme", "inv-0123456789ABCDEF0123456789AB", tenant.CodeInvalidInviteID, "inviteId"},
		{"empty", "acme", "", tenant.CodeInvalidInviteID, "inviteId"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.wantRefused(t, tt.code, tt.field, func() error { _, err := f.svc.RevokeInvite(ctx, tt.tenantID, tt.inviteID); return err })
		})
	}
	if _, err := f.svc.ResolveInvite(ctx, betaCode); err != nil {
		t.Fatalf("beta's invite after acme tried to revoke it: %v", err)
	}

	t.Run("store fails", func(t *testing.T) {
		boom := errors.New("throttled")
		rs := f.failing()
		rs.revokeInvite = boom
		_, err := f.svc.RevokeInvite(ctx, "acme", invs[0].ID)
		wantInternal(t, err, boom)
		rs.revokeInvite, rs.listInvites = nil, boom
		_, err = f.svc.ListInvites(ctx, "acme", "", 2)
		wantInternal(t, err, boom)
		n, err := f.svc.RevokeInvites(ctx, "acme")
		wantInternal(t, err, boom)
		if n != 0 {
			t.Fatalf("RevokeInvites revoked %d with a failing listing", n)
		}
	})
}

// TestRevokeInvitesPages: more invites than one listing page are all
// revoked.
func TestRevokeInvitesPages(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.tenant(t, "acme")
	var last string
	for range store.MaxLimit + 1 {
		code, _, err := f.svc.CreateInvite(ctx, "acme")
		if err != nil {
			t.Fatal(err)
		}
		last = code
	}
	n, err := f.svc.RevokeInvites(ctx, "acme")
	if err != nil || n != store.MaxLimit+1 {
		t.Fatalf("RevokeInvites = %d, %v; want %d", n, err, store.MaxLimit+1)
	}
	if _, err := f.svc.ResolveInvite(ctx, last); !errors.Is(err, tenant.ErrInviteRevoked) {
		t.Fatalf("the invite on the second page resolves: %v", err)
	}
}

func TestCreateInviteWith(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.tenant(t, "acme")
	day := int64(86400)
	tests := []struct {
		name string
		ttl  *int64
		want time.Duration
	}{
		{"default lifetime", nil, time.Hour},
		{"one day", &day, 24 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, inv, err := f.svc.CreateInviteWith(ctx, "acme", onboarding.InviteOptions{TTLSeconds: tt.ttl})
			if err != nil || !inv.ExpiresAt.Equal(f.now.Add(tt.want)) || inv.Hash != tenant.HashCode(code) {
				t.Fatalf("CreateInviteWith = %q, %+v, %v; want expiry in %v", code, inv, err, tt.want)
			}
			if got, err := f.svc.ResolveInvite(ctx, code); err != nil || got.ID != "acme" {
				t.Fatalf("the new code resolves to %+v, %v", got, err)
			}
		})
	}
	t.Run("store fails", func(t *testing.T) {
		boom := errors.New("throttled")
		f.failing().putInvite = boom
		before := f.mem.Snapshot()
		code, _, err := f.svc.CreateInviteWith(ctx, "acme", onboarding.InviteOptions{TTLSeconds: &day})
		wantInternal(t, err, boom)
		if code != "" || f.mem.Snapshot() != before {
			t.Fatalf("a failed creation returned code %q or changed the store", code)
		}
	})
}
