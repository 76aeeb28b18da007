package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rolecall/rolecall/internal/store"
	"github.com/rolecall/rolecall/internal/tenant"
)

// refusedTenant is a tenant write the store must refuse with want.
type refusedTenant struct {
	name   string
	tenant tenant.Tenant
	want   error
}

// refusedTenantWrites runs each refused write as a subtest: it fails with
// its error and leaves the stored tenant as kept.
func (f *Fixture) refusedTenantWrites(t *testing.T, op string, write func(context.Context, tenant.Tenant) error, kept tenant.Tenant, cases []refusedTenant) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			defer f.Sub(t)()
			wantErr(t, op, write(f.Ctx, tc.tenant), tc.want)
			if got, _ := f.S.GetTenant(f.Ctx, kept.ID); got != kept {
				t.Fatalf("a refused %s changed the tenant: %+v, want %+v", op, got, kept)
			}
		})
	}
}

func testTenants(t *testing.T, f *Fixture) {
	ctx := f.Ctx
	a, _ := tenant.New("acme", "Acme Corp", f.Now)
	if err := f.S.CreateTenant(ctx, a); err != nil {
		t.Fatalf("create: %v", err)
	}
	got, err := f.S.GetTenant(ctx, "acme")
	if err != nil || got != a {
		t.Fatalf("get: %+v, %v; want %+v", got, err, a)
	}
	sameID, _ := tenant.New("acme", "Other", f.Now)
	sameExt, _ := tenant.New("globex", "Globex", f.Now)
	sameExt.ExternalID = a.ExternalID
	f.refusedTenantWrites(t, "create", f.S.CreateTenant, a, []refusedTenant{
		{"existing id", sameID, store.ErrTenantExists},
		{"taken external id", sameExt, store.ErrExternalIDTaken},
	})
	// Atomic: the refused tenant did not reserve its external ID.
	if _, err := f.S.GetTenant(ctx, "globex"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("tenant with taken external id was stored: %v", err)
	}
	fresh, _ := tenant.New("acme2", "Acme 2", f.Now)
	fresh.ExternalID = sameID.ExternalID // acme's refused create must not have reserved it
	wantErr(t, "create with external id of a refused create", f.S.CreateTenant(ctx, fresh), nil)
	_, err = f.S.GetTenant(ctx, "nobody")
	wantErr(t, "get unknown", err, store.ErrNotFound)
}

func testRotate(t *testing.T, f *Fixture) {
	ctx := f.Ctx
	a, _ := tenant.New("acme", "Acme", f.Now)
	b, _ := tenant.New("bravo", "Bravo", f.Now)
	for _, x := range []tenant.Tenant{a, b} {
		if err := f.S.CreateTenant(ctx, x); err != nil {
			t.Fatal(err)
		}
	}
	r1 := a.Rotated(f.Now.Add(time.Hour))
	wantErr(t, "rotate", f.S.RotateExternalID(ctx, r1), nil)
	if got, _ := f.S.GetTenant(ctx, "acme"); got != r1 {
		t.Fatalf("after rotation got %+v, want %+v", got, r1)
	}
	stale := a.Rotated(f.Now.Add(2 * time.Hour)) // rotated from version 1 again
	takenNew := r1.Rotated(f.Now.Add(3 * time.Hour))
	takenNew.ExternalID = b.ExternalID
	reuseOld := r1.Rotated(f.Now.Add(3 * time.Hour))
	reuseOld.ExternalID = a.ExternalID // retired IDs stay reserved
	ghost, _ := tenant.New("ghost", "Ghost", f.Now)
	f.refusedTenantWrites(t, "rotate", f.S.RotateExternalID, r1, []refusedTenant{
		{"stale version", stale, store.ErrConflict},
		{"external id of another tenant", takenNew, store.ErrExternalIDTaken},
		{"retired external id", reuseOld, store.ErrExternalIDTaken},
		{"unknown tenant", ghost.Rotated(f.Now), store.ErrNotFound},
	})
	if _, err := f.S.GetTenant(ctx, "ghost"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("rotation created a tenant: %v", err)
	}
	// The ID a refused rotation proposed was not reserved.
	c, _ := tenant.New("charlie", "Charlie", f.Now)
	c.ExternalID = stale.ExternalID
	wantErr(t, "create with the id a stale rotation proposed", f.S.CreateTenant(ctx, c), nil)
	// A retired ID cannot be given to a new tenant either.
	d, _ := tenant.New("delta", "Delta", f.Now)
	d.ExternalID = a.ExternalID
	wantErr(t, "create with a retired id", f.S.CreateTenant(ctx, d), store.ErrExternalIDTaken)
}

func testInvites(t *testing.T, f *Fixture) {
	ctx := f.Ctx
	_, live := tenant.NewInvite("acme", f.Now, 0)
	_, expired := tenant.NewInvite("acme", f.Now.Add(-30*24*time.Hour), time.Hour)
	for _, inv := range []tenant.Invite{live, expired} {
		if err := f.S.PutInvite(ctx, inv); err != nil {
			t.Fatalf("put invite: %v", err)
		}
	}
	tests := []struct {
		name string
		hash string
		want tenant.Invite
		err  error
	}{
		{"live", live.Hash, live, nil},
		{"expired is still returned", expired.Hash, expired, nil},
		{"unknown", tenant.HashCode("nope"), tenant.Invite{}, store.ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			defer f.Sub(t)()
			got, err := f.S.GetInvite(ctx, tc.hash)
			wantErr(t, "get invite", err, tc.err)
			if got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// testSetMaxConnections: the limit is set alone, a rotation of the tenant
// as read before it is refused rather than undoing it, and a tenant stored
// without a limit (read as the default) rotates and takes one.
func testSetMaxConnections(t *testing.T, f *Fixture) {
	ctx := f.Ctx
	a, _ := tenant.New("acme", "Acme", f.Now)
	legacy, _ := tenant.New("legacy", "Legacy", f.Now)
	legacy.MaxConnections = 0
	for _, x := range []tenant.Tenant{a, legacy} {
		if err := f.S.CreateTenant(ctx, x); err != nil {
			t.Fatal(err)
		}
	}
	inGrace := a.RotatedWithGrace(f.Now.Add(time.Hour), 24*time.Hour)
	wantErr(t, "rotate", f.S.RotateExternalID(ctx, inGrace), nil)
	set := func(id string, limit int, want tenant.Tenant) {
		t.Helper()
		got, err := f.S.SetMaxConnections(ctx, id, limit)
		if err != nil || got != want {
			t.Fatalf("SetMaxConnections(%s, %d) = %+v, %v; want %+v", id, limit, got, err, want)
		}
		if stored, err := f.S.GetTenant(ctx, id); err != nil || stored != want {
			t.Fatalf("after SetMaxConnections(%s, %d) the store reads %+v, %v; want %+v", id, limit, stored, err, want)
		}
	}
	raised := inGrace
	raised.MaxConnections = 250
	set("acme", 250, raised) // the grace, its previous ID and due keys stay
	if ended, err := f.S.GracesEnded(ctx, inGrace.GraceEndsAt.Add(time.Second), 10); err != nil || len(ended) != 1 || ended[0] != "acme" {
		t.Fatalf("GracesEnded after a limit change = %+v, %v; want [acme]", ended, err)
	}
	f.refusedTenantWrites(t, "rotate", f.S.RotateExternalID, raised, []refusedTenant{
		{"tenant as read before its limit was set", inGrace.Retired().Rotated(f.Now.Add(2 * time.Hour)), store.ErrConflict},
	})
	again := raised.Retired().Rotated(f.Now.Add(2 * time.Hour))
	wantErr(t, "rotate the tenant as read after its limit was set", f.S.RotateExternalID(ctx, again), nil)
	if got, _ := f.S.GetTenant(ctx, "acme"); got != again || got.MaxConnections != 250 {
		t.Fatalf("after rotation got %+v, want %+v", got, again)
	}
	lowered := again
	lowered.MaxConnections = 1
	set("acme", 1, lowered)

	read, err := f.S.GetTenant(ctx, "legacy")
	if err != nil || read.MaxConnections != tenant.DefaultMaxConnections {
		t.Fatalf("legacy tenant reads %+v, %v; want the default limit", read, err)
	}
	rotated := read.Rotated(f.Now.Add(time.Hour))
	wantErr(t, "rotate a tenant stored without a limit", f.S.RotateExternalID(ctx, rotated), nil)
	withLimit := rotated
	withLimit.MaxConnections = 7
	set("legacy", 7, withLimit)

	_, err = f.S.SetMaxConnections(ctx, "ghost", 5)
	wantErr(t, "set the limit of an unknown tenant", err, store.ErrNotFound)
	if _, err := f.S.GetTenant(ctx, "ghost"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("setting a limit created a tenant: %v", err)
	}
}
