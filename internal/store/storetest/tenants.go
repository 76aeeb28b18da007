package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rolecall/rolecall/internal/store"
	"github.com/rolecall/rolecall/internal/tenant"
)

// refusedTenant is a tenant write the store must refuse with want: tenant
// created, or, for a rotation, tenant as rotated from from.
type refusedTenant struct {
	name   string
	tenant tenant.Tenant
	want   error
	from   tenant.Tenant
}

// refusedTenantWrites runs each refused write as a subtest: it fails with
// its error, leaves the stored tenant as kept and adds none of its events.
func (f *Fixture) refusedTenantWrites(t *testing.T, op string, write func(context.Context, refusedTenant) error, kept tenant.Tenant, cases []refusedTenant) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			defer f.Sub(t)()
			before, err := f.S.TenantEvents(f.Ctx, kept.ID)
			if err != nil {
				t.Fatal(err)
			}
			wantErr(t, op, write(f.Ctx, tc), tc.want)
			if got, _ := f.S.GetTenant(f.Ctx, kept.ID); got != kept {
				t.Fatalf("a refused %s changed the tenant: %+v, want %+v", op, got, kept)
			}
			if after, _ := f.S.TenantEvents(f.Ctx, kept.ID); len(after) != len(before) {
				t.Fatalf("a refused %s added events: %d, then %d", op, len(before), len(after))
			}
		})
	}
}

// create and rotate are the writes refusedTenantWrites makes.
func (f *Fixture) create(ctx context.Context, tc refusedTenant) error {
	return f.S.CreateTenant(ctx, tc.tenant)
}

func (f *Fixture) rotate(ctx context.Context, tc refusedTenant) error {
	return f.S.RotateExternalID(ctx, tc.from, tc.tenant)
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
	f.refusedTenantWrites(t, "create", f.create, a, []refusedTenant{
		{name: "existing id", tenant: sameID, want: store.ErrTenantExists},
		{name: "taken external id", tenant: sameExt, want: store.ErrExternalIDTaken},
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
	wantErr(t, "rotate", f.S.RotateExternalID(ctx, a, r1), nil)
	if got, _ := f.S.GetTenant(ctx, "acme"); got != r1 {
		t.Fatalf("after rotation got %+v, want %+v", got, r1)
	}
	stale := a.Rotated(f.Now.Add(2 * time.Hour)) // rotated from version 1 again
	takenNew := r1.Rotated(f.Now.Add(3 * time.Hour))
	takenNew.ExternalID = b.ExternalID
	reuseOld := r1.Rotated(f.Now.Add(3 * time.Hour))
	reuseOld.ExternalID = a.ExternalID // retired IDs stay reserved
	ghost, _ := tenant.New("ghost", "Ghost", f.Now)
	f.refusedTenantWrites(t, "rotate", f.rotate, r1, []refusedTenant{
		{name: "stale version", tenant: stale, from: a, want: store.ErrConflict},
		{name: "external id of another tenant", tenant: takenNew, from: r1, want: store.ErrExternalIDTaken},
		{name: "retired external id", tenant: reuseOld, from: r1, want: store.ErrExternalIDTaken},
		{name: "unknown tenant", tenant: ghost.Rotated(f.Now), from: ghost, want: store.ErrNotFound},
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
	wantErr(t, "rotate", f.S.RotateExternalID(ctx, a, inGrace), nil)
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
	f.refusedTenantWrites(t, "rotate", f.rotate, raised, []refusedTenant{
		{name: "tenant as read before its limit was set", tenant: inGrace.Rotated(f.Now.Add(2 * time.Hour)), from: inGrace, want: store.ErrConflict},
	})
	again := raised.Rotated(f.Now.Add(2 * time.Hour))
	wantErr(t, "rotate the tenant as read after its limit was set", f.S.RotateExternalID(ctx, raised, again), nil)
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
	wantErr(t, "rotate a tenant stored without a limit", f.S.RotateExternalID(ctx, read, rotated), nil)
	withLimit := rotated
	withLimit.MaxConnections = 7
	set("legacy", 7, withLimit)

	_, err = f.S.SetMaxConnections(ctx, "ghost", 5)
	wantErr(t, "set the limit of an unknown tenant", err, store.ErrNotFound)
	if _, err := f.S.GetTenant(ctx, "ghost"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("setting a limit created a tenant: %v", err)
	}
}
