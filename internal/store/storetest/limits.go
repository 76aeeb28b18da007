package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/store"
	"github.com/rolecall/rolecall/internal/tenant"
)

// invitesAt puts n invites of tenantID created a minute apart from f.Now
// and returns them oldest first.
func invitesAt(t *testing.T, f *Fixture, tenantID string, n int) []tenant.Invite {
	t.Helper()
	var out []tenant.Invite
	for i := range n {
		_, inv := tenant.NewInvite(tenantID, f.Now.Add(time.Duration(i)*time.Minute), time.Hour)
		if err := f.S.PutInvite(f.Ctx, inv); err != nil {
			t.Fatalf("put invite: %v", err)
		}
		out = append(out, inv)
	}
	return out
}

func testInviteListing(t *testing.T, f *Fixture) {
	ctx := f.Ctx
	acme := invitesAt(t, f, "acme", 5)
	bravo := invitesAt(t, f, "bravo", 1)

	// Paged, oldest first, complete, only the tenant's.
	var got []tenant.Invite
	cursor := ""
	for page := 0; ; page++ {
		p, err := f.S.ListInvites(ctx, "acme", cursor, 2)
		wantErr(t, "list invites", err, nil)
		if len(p.Items) > 2 || page > 3 {
			t.Fatalf("page %d: %d items", page, len(p.Items))
		}
		got = append(got, p.Items...)
		if p.Cursor == "" {
			break
		}
		cursor = p.Cursor
	}
	if fmt.Sprint(got) != fmt.Sprint(acme) {
		t.Fatalf("listed\n%v\nwant\n%v", got, acme)
	}
	p, err := f.S.ListInvites(ctx, "bravo", "", 0)
	if err != nil || len(p.Items) != 1 || p.Items[0] != bravo[0] || p.Cursor != "" {
		t.Fatalf("bravo: %+v %v", p, err)
	}
	p, err = f.S.ListInvites(ctx, "nobody", "", 0)
	if err != nil || len(p.Items) != 0 {
		t.Fatalf("nobody: %+v %v", p, err)
	}

	// A cursor of another tenant's or of another listing is refused.
	first, _ := f.S.ListInvites(ctx, "acme", "", 1)
	f.MustSubmit("acme", "arn:aws:iam::111111111111:role/A")
	f.MustSubmit("acme", "arn:aws:iam::222222222222:role/B")
	conns, err := f.S.ListByTenant(ctx, "acme", "", 1)
	if err != nil || conns.Cursor == "" {
		t.Fatalf("list connections: %+v %v", conns, err)
	}
	for name, c := range map[string]string{"other tenant": first.Cursor, "connection listing": conns.Cursor, "garbage": "!!"} {
		tenantID := "acme"
		if name == "other tenant" {
			tenantID = "bravo"
		}
		if _, err := f.S.ListInvites(ctx, tenantID, c, 1); !errors.Is(err, store.ErrInvalidCursor) {
			t.Errorf("%s cursor: %v, want ErrInvalidCursor", name, err)
		}
	}
	// Connections are not listed as invites, nor invites as connections.
	all, err := f.S.ListByTenant(ctx, "acme", "", 0)
	if err != nil || len(all.Items) != 2 {
		t.Fatalf("connections of acme: %+v %v", all, err)
	}

	// PutInvite refuses an invite without a well-formed ID, and a second
	// invite with the same code or ID.
	_, noID := tenant.NewInvite("acme", f.Now, time.Hour)
	noID.ID = ""
	wantErr(t, "put without an id", f.S.PutInvite(ctx, noID), store.ErrInvalidInvite)
	sameCode := acme[0]
	sameCode.ID = tenant.NewInviteID(f.Now)
	wantErr(t, "put with a stored code", f.S.PutInvite(ctx, sameCode), store.ErrInviteExists)
	_, sameID := tenant.NewInvite("acme", f.Now, time.Hour)
	sameID.ID = acme[1].ID
	wantErr(t, "put with a stored id", f.S.PutInvite(ctx, sameID), store.ErrInviteExists)
	if p, _ := f.S.ListInvites(ctx, "acme", "", 0); len(p.Items) != len(acme) {
		t.Fatalf("refused puts changed the listing: %d invites", len(p.Items))
	}
}

func testInviteRevocation(t *testing.T, f *Fixture) {
	ctx := f.Ctx
	acme := invitesAt(t, f, "acme", 2)
	bravo := invitesAt(t, f, "bravo", 1)
	tests := []struct {
		name     string
		tenantID string
		inviteID string
		err      error
	}{
		{"unknown id", "acme", tenant.NewInviteID(f.Now), store.ErrNotFound},
		{"another tenant's invite", "acme", bravo[0].ID, store.ErrNotFound},
		{"revoke", "acme", acme[0].ID, nil},
		{"revoke again changes nothing", "acme", acme[0].ID, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			defer f.Sub(t)()
			got, err := f.S.RevokeInvite(ctx, tc.tenantID, tc.inviteID)
			wantErr(t, "revoke", err, tc.err)
			if err != nil {
				return
			}
			want := acme[0]
			want.Revoked = true
			if got != want {
				t.Fatalf("revoked %+v, want %+v", got, want)
			}
			stored, err := f.S.GetInvite(ctx, acme[0].Hash)
			if err != nil || stored != want {
				t.Fatalf("stored %+v %v, want %+v", stored, err, want)
			}
		})
	}
	// Only the revoked invite changed, in the listing too.
	p, err := f.S.ListInvites(ctx, "acme", "", 0)
	if err != nil || len(p.Items) != 2 || !p.Items[0].Revoked || p.Items[1].Revoked {
		t.Fatalf("listing after revocation: %+v %v", p.Items, err)
	}
	for _, inv := range []tenant.Invite{acme[1], bravo[0]} {
		if got, err := f.S.GetInvite(ctx, inv.Hash); err != nil || got.Revoked {
			t.Fatalf("invite %s: %+v %v", inv.ID, got, err)
		}
	}
}

func testCountLive(t *testing.T, f *Fixture) {
	ctx := f.Ctx
	count := func(tenantID string, want int) {
		t.Helper()
		n, err := f.S.CountLive(ctx, tenantID)
		if err != nil || n != want {
			t.Fatalf("CountLive(%s) = %d, %v; want %d", tenantID, n, err, want)
		}
	}
	// A tenant's limit is stored; a tenant stored without one reads as
	// having the default.
	for _, tc := range []struct {
		id        string
		max, want int
	}{{"seven", 7, 7}, {"legacy", 0, tenant.DefaultMaxConnections}, {"most", tenant.MaxMaxConnections, tenant.MaxMaxConnections}} {
		tn, _ := tenant.New(tc.id, "T", f.Now)
		tn.MaxConnections = tc.max
		if err := f.S.CreateTenant(ctx, tn); err != nil {
			t.Fatal(err)
		}
		got, err := f.S.GetTenant(ctx, tc.id)
		if err != nil || got.MaxConnections != tc.want {
			t.Fatalf("tenant %s: max %d, %v; want %d", tc.id, got.MaxConnections, err, tc.want)
		}
	}
	// A listing reads each tenant as GetTenant does.
	listed, err := f.S.ListTenants(ctx, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, lt := range listed.Items {
		if got, err := f.S.GetTenant(ctx, lt.ID); err != nil || got != lt {
			t.Fatalf("ListTenants lists %+v, GetTenant reads %+v (%v)", lt, got, err)
		}
	}
	count("acme", 0)
	invitesAt(t, f, "acme", 3) // invites in the partition are not connections
	f.MustSubmit("acme", "arn:aws:iam::111111111111:role/A")
	f.MustSubmit("acme", "arn:aws:iam::222222222222:role/B")
	f.MustSubmit("acme", "arn:aws:iam::333333333333:role/C")
	f.MustSubmit("bravo", "arn:aws:iam::444444444444:role/D")
	count("acme", 3)
	count("bravo", 1)
	// FAILED and VERIFIED are live; DISCONNECTED is not.
	f.Now = f.Now.Add(time.Hour)
	f.MustCheck("acme", "111111111111", connection.ResultDenied)
	f.MustCheck("acme", "222222222222", connection.ResultOK)
	count("acme", 3)
	if _, err := f.Disconnect("acme", "333333333333"); err != nil {
		t.Fatal(err)
	}
	count("acme", 2)
	// Resubmitting the disconnected account makes it live again.
	f.MustSubmit("acme", "arn:aws:iam::333333333333:role/C")
	count("acme", 3)
	count("nobody", 0)
}

func testHit(t *testing.T, f *Fixture) {
	ctx := f.Ctx
	w := f.Now.Truncate(time.Minute)
	exp := w.Add(2 * time.Minute)
	hit := func(key string, window time.Time, limit int) bool {
		t.Helper()
		ok, err := f.S.Hit(ctx, key, window, limit, exp)
		if err != nil {
			t.Fatalf("Hit(%s): %v", key, err)
		}
		return ok
	}
	for i := range 3 {
		if !hit("invite#a", w, 3) {
			t.Fatalf("hit %d of 3 refused", i+1)
		}
	}
	for i := range 2 {
		if hit("invite#a", w, 3) {
			t.Fatalf("hit %d past the limit counted", i+4)
		}
	}
	if !hit("invite#a", w, 4) {
		t.Fatal("a higher limit did not count the 4th hit")
	}
	if hit("invite#a", w, 4) {
		t.Fatal("5th hit counted at limit 4")
	}
	if !hit("invite#b", w, 3) {
		t.Fatal("another key shares the counter")
	}
	if !hit("invite#a", w.Add(time.Minute), 3) {
		t.Fatal("the next window shares the counter")
	}
	if hit("invite#c", w, 0) {
		t.Fatal("limit 0 counted a hit")
	}
}

// testAbandon: a FAILED connection still failing 14 days after its
// submission ends DISCONNECTED/ABANDONED like any disconnection: one
// transaction with its Role Disconnected event, its claim released, out of
// the due index and the live count.
func testAbandon(t *testing.T, f *Fixture) {
	const role, acct = "arn:aws:iam::111111111111:role/Deploy", "111111111111"
	start := f.Now
	f.MustSubmit("acme", role)
	f.Now = start.Add(time.Hour) // past the propagation window
	if tr := f.MustCheck("acme", acct, connection.ResultDenied); tr.After.Status != connection.Failed {
		t.Fatalf("status %s, want FAILED", tr.After.Status)
	}
	f.Now = start.Add(13 * 24 * time.Hour)
	if tr := f.MustCheck("acme", acct, connection.ResultDenied); tr.After.Status != connection.Failed || tr.After.NextCheckAt.Sub(f.Now) != 24*time.Hour {
		t.Fatalf("after 13 days: %s, next in %v", tr.After.Status, tr.After.NextCheckAt.Sub(f.Now))
	}
	f.Now = start.Add(14 * 24 * time.Hour)
	tr := f.MustCheck("acme", acct, connection.ResultDenied)
	wantConn(t, f.Current("acme", acct), tr.After)
	if c := f.Current("acme", acct); c.Status != connection.Disconnected || c.Reason.Code != connection.CodeAbandoned || !c.NextCheckAt.IsZero() {
		t.Fatalf("after 14 days: %+v", c)
	}
	evs := f.Events("acme", acct)
	last := evs[len(evs)-1]
	if last.DetailType != connection.RoleDisconnected || last.Reason.Code != connection.CodeAbandoned || last.PreviousStatus != connection.Failed || last != *tr.Event {
		t.Fatalf("last event %+v", last)
	}
	if n, err := f.S.CountLive(f.Ctx, "acme"); err != nil || n != 0 {
		t.Fatalf("live count %d, %v", n, err)
	}
	for shard := range store.Shards {
		p, err := f.S.Due(f.Ctx, shard, f.Now.Add(365*24*time.Hour), "", 0)
		if err != nil || len(p.Items) != 0 {
			t.Fatalf("due in shard %d: %+v %v", shard, p.Items, err)
		}
	}
	// The claim is released: another tenant may connect the role.
	if _, err := f.Submit("bravo", role); err != nil {
		t.Fatalf("the abandoned role is still claimed: %v", err)
	}
}
