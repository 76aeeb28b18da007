// Package storetest is the contract suite every store.Store adapter passes:
// the embedded Memory store and the DynamoDB adapter run the same tests, so
// `rolecall serve` behaves like a deployment.
package storetest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/rolearn"
	"github.com/rolecall/rolecall/internal/store"
	"github.com/rolecall/rolecall/internal/tenant"
)

// Run runs the contract suite. newStore returns a new, empty store for each
// subtest.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		run  func(t *testing.T, f *Fixture)
	}{
		{"Tenants", testTenants},
		{"RotateExternalID", testRotate},
		{"Invites", testInvites},
		{"InviteListing", testInviteListing},
		{"InviteRevocation", testInviteRevocation},
		{"CountLive", testCountLive},
		{"RateCounters", testHit},
		{"Abandon", testAbandon},
		{"SubmitAndGet", testSubmitAndGet},
		{"TransitionConflicts", testTransitionConflicts},
		{"RoutineChecks", testRoutine},
		{"InvalidTransitions", testInvalidTransitions},
		{"Claims", testClaims},
		{"EventHistory", testEventHistory},
		{"ListByTenant", testListByTenant},
		{"ListByStatus", testListByStatus},
		{"Due", testDue},
		{"InvalidCursors", testInvalidCursors},
		{"ClaimRace", testClaimRace},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.run(t, NewFixture(t, newStore(t)))
		})
	}
}

// Fixture drives a store through the lifecycle the way the pipeline does.
type Fixture struct {
	T      *testing.T
	S      store.Store
	Ctx    context.Context
	Policy connection.Policy
	Now    time.Time
}

// NewFixture returns a fixture on s with a deterministic policy (no jitter)
// and a fixed clock.
func NewFixture(t *testing.T, s store.Store) *Fixture {
	p := connection.DefaultPolicy()
	p.Jitter = 0
	return &Fixture{T: t, S: s, Ctx: context.Background(), Policy: p, Now: time.Date(2030, 1, 2, 3, 4, 5, 6789, time.UTC)}
}

// Sub makes the fixture report to subtest t until the returned func is
// called: defer f.Sub(t)().
func (f *Fixture) Sub(t *testing.T) (restore func()) {
	parent := f.T
	f.T = t
	return func() { f.T = parent }
}

// ARN parses a role ARN or fails the test.
func (f *Fixture) ARN(s string) rolearn.ARN {
	f.T.Helper()
	a, err := rolearn.Parse(s, rolearn.Rules{})
	if err != nil {
		f.T.Fatalf("parse %s: %v", s, err)
	}
	return a
}

// Current returns the stored connection, or nil.
func (f *Fixture) Current(tenantID, accountID string) *connection.Connection {
	f.T.Helper()
	c, err := f.S.GetConnection(f.Ctx, tenantID, accountID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		f.T.Fatalf("get connection: %v", err)
	}
	return &c
}

// Submit submits arn for tenantID as the onboarding service does.
func (f *Fixture) Submit(tenantID, arn string) (connection.Transition, error) {
	f.T.Helper()
	a := f.ARN(arn)
	tr := f.Policy.Submit(f.Current(tenantID, a.Account), tenantID, a, 1, f.Now)
	return tr, f.S.Apply(f.Ctx, tr)
}

// MustSubmit submits and fails the test on error.
func (f *Fixture) MustSubmit(tenantID, arn string) connection.Connection {
	f.T.Helper()
	tr, err := f.Submit(tenantID, arn)
	if err != nil {
		f.T.Fatalf("submit %s for %s: %v", arn, tenantID, err)
	}
	return tr.After
}

// Check applies a check result to the stored connection.
func (f *Fixture) Check(tenantID, accountID string, r connection.Result) (connection.Transition, error) {
	f.T.Helper()
	c := f.Current(tenantID, accountID)
	if c == nil {
		f.T.Fatalf("check %s/%s: no connection", tenantID, accountID)
	}
	tr, err := f.Policy.Apply(*c, connection.Outcome{Result: r, Version: c.Version, ExternalIDVersion: 1, CheckedAt: f.Now})
	if err != nil {
		f.T.Fatalf("policy apply %s: %v", r, err)
	}
	return tr, f.S.Apply(f.Ctx, tr)
}

// MustCheck checks and fails the test on error.
func (f *Fixture) MustCheck(tenantID, accountID string, r connection.Result) connection.Transition {
	f.T.Helper()
	tr, err := f.Check(tenantID, accountID, r)
	if err != nil {
		f.T.Fatalf("check %s/%s %s: %v", tenantID, accountID, r, err)
	}
	return tr
}

// Disconnect disconnects the stored connection.
func (f *Fixture) Disconnect(tenantID, accountID string) (connection.Transition, error) {
	f.T.Helper()
	c := f.Current(tenantID, accountID)
	if c == nil {
		f.T.Fatalf("disconnect %s/%s: no connection", tenantID, accountID)
	}
	tr := f.Policy.Disconnect(*c, 1, f.Now)
	return tr, f.S.Apply(f.Ctx, tr)
}

// Reschedule writes a routine check that moves NextCheckAt to at.
func (f *Fixture) Reschedule(tenantID, accountID string, at time.Time) connection.Connection {
	f.T.Helper()
	c := f.Current(tenantID, accountID)
	after := *c
	after.LastCheckedAt, after.NextCheckAt = f.Now, at.UTC()
	if err := f.S.Apply(f.Ctx, connection.Transition{Before: c, After: after}); err != nil {
		f.T.Fatalf("reschedule %s/%s: %v", tenantID, accountID, err)
	}
	return after
}

// Events returns the event history or fails the test.
func (f *Fixture) Events(tenantID, accountID string) []connection.Event {
	f.T.Helper()
	evs, err := f.S.Events(f.Ctx, tenantID, accountID)
	if err != nil {
		f.T.Fatalf("events of %s/%s: %v", tenantID, accountID, err)
	}
	return evs
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if want == nil && err != nil || want != nil && !errors.Is(err, want) {
		t.Fatalf("%s: got error %v, want %v", what, err, want)
	}
}

func wantConn(t *testing.T, got *connection.Connection, want connection.Connection) {
	t.Helper()
	if got == nil {
		t.Fatalf("connection %s/%s not stored", want.TenantID, want.AccountID)
	}
	if *got != want {
		t.Fatalf("stored connection\n got %+v\nwant %+v", *got, want)
	}
}

func wantEvents(t *testing.T, got, want []connection.Event) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d events, want %d:\n got %+v\nwant %+v", len(got), len(want), got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("event %d\n got %+v\nwant %+v", i, got[i], want[i])
		}
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
	tests := []struct {
		name   string
		tenant tenant.Tenant
		want   error
	}{
		{"existing id", sameID, store.ErrTenantExists},
		{"taken external id", sameExt, store.ErrExternalIDTaken},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			defer f.Sub(t)()
			wantErr(t, "create", f.S.CreateTenant(ctx, tc.tenant), tc.want)
		})
	}
	if got, _ := f.S.GetTenant(ctx, "acme"); got != a {
		t.Errorf("a refused create changed the tenant: %+v", got)
	}
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
	tests := []struct {
		name   string
		tenant tenant.Tenant
		want   error
	}{
		{"stale version", stale, store.ErrConflict},
		{"external id of another tenant", takenNew, store.ErrExternalIDTaken},
		{"retired external id", reuseOld, store.ErrExternalIDTaken},
		{"unknown tenant", ghost.Rotated(f.Now), store.ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			defer f.Sub(t)()
			wantErr(t, "rotate", f.S.RotateExternalID(ctx, tc.tenant), tc.want)
			if got, _ := f.S.GetTenant(ctx, "acme"); got != r1 {
				t.Fatalf("refused rotation changed the tenant: %+v", got)
			}
		})
	}
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

func testSubmitAndGet(t *testing.T, f *Fixture) {
	tr, err := f.Submit("acme", "arn:aws:iam::111111111111:role/path/Deploy")
	wantErr(t, "submit", err, nil)
	wantConn(t, f.Current("acme", "111111111111"), tr.After)
	wantEvents(t, f.Events("acme", "111111111111"), []connection.Event{*tr.Event})
	_, err = f.S.GetConnection(f.Ctx, "acme", "222222222222")
	wantErr(t, "get unknown", err, store.ErrNotFound)
	_, err = f.S.GetConnection(f.Ctx, "other", "111111111111")
	wantErr(t, "get other tenant's", err, store.ErrNotFound)
	if evs := f.Events("acme", "222222222222"); len(evs) != 0 {
		t.Fatalf("events of unknown connection: %+v", evs)
	}
	// The same ARN while pending changes nothing (no transition).
	again, err := f.Submit("acme", "arn:aws:iam::111111111111:role/path/Deploy")
	wantErr(t, "idempotent submit", err, nil)
	if again.Event != nil || again.Changed() {
		t.Fatalf("resubmitting a pending role made a transition: %+v", again)
	}
	wantConn(t, f.Current("acme", "111111111111"), tr.After)
	if n := len(f.Events("acme", "111111111111")); n != 1 {
		t.Fatalf("%d events after idempotent submit, want 1", n)
	}
}

func testTransitionConflicts(t *testing.T, f *Fixture) {
	const tid, acct = "acme", "111111111111"
	first, err := f.Submit(tid, "arn:aws:iam::111111111111:role/Deploy")
	wantErr(t, "submit", err, nil)
	sub := first.After
	f.Now = f.Now.Add(3 * time.Minute) // past the propagation window
	ok, err := f.Policy.Apply(sub, connection.Outcome{Result: connection.ResultOK, Version: 1, ExternalIDVersion: 1, CheckedAt: f.Now})
	if err != nil {
		t.Fatal(err)
	}
	denied, err := f.Policy.Apply(sub, connection.Outcome{Result: connection.ResultDenied, Version: 1, ExternalIDVersion: 1, CheckedAt: f.Now})
	if err != nil || denied.Event == nil {
		t.Fatalf("denied after the window should fail the connection: %+v %v", denied, err)
	}
	wantErr(t, "first outcome", f.S.Apply(f.Ctx, ok), nil)

	a := f.ARN("arn:aws:iam::111111111111:role/Deploy")
	tests := []struct {
		name string
		tr   connection.Transition
	}{
		{"second outcome for the same version", denied},
		{"new connection that exists", f.Policy.Submit(nil, tid, a, 1, f.Now)},
		{"stale submit", f.Policy.Submit(&sub, tid, f.ARN("arn:aws:iam::111111111111:role/Other"), 1, f.Now)},
		{"stale disconnect", f.Policy.Disconnect(sub, 1, f.Now)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			defer f.Sub(t)()
			wantErr(t, "apply", f.S.Apply(f.Ctx, tc.tr), store.ErrConflict)
			wantConn(t, f.Current(tid, acct), ok.After)
			wantEvents(t, f.Events(tid, acct), []connection.Event{*first.Event, *ok.Event})
		})
	}
	// A stale submit of another role did not claim it: another tenant can.
	f.MustSubmit("bravo", "arn:aws:iam::111111111111:role/Other")
}

func testRoutine(t *testing.T, f *Fixture) {
	const tid, acct = "acme", "111111111111"
	sub := f.MustSubmit(tid, "arn:aws:iam::111111111111:role/Deploy")
	// Two workers check the same version inside the propagation window:
	// both get AccessDenied and compute failure count 1.
	f.Now = f.Now.Add(10 * time.Second)
	o := connection.Outcome{Result: connection.ResultDenied, Version: 1, ExternalIDVersion: 1, CheckedAt: f.Now}
	first, _ := f.Policy.Apply(sub, o)
	second, _ := f.Policy.Apply(sub, o)
	if first.Event != nil || first.After.ConsecutiveFailures != 1 {
		t.Fatalf("expected a routine check, got %+v", first)
	}
	wantErr(t, "first routine", f.S.Apply(f.Ctx, first), nil)
	wantConn(t, f.Current(tid, acct), first.After)
	wantErr(t, "second routine on the same failure count", f.S.Apply(f.Ctx, second), store.ErrConflict)
	wantConn(t, f.Current(tid, acct), first.After)

	// A routine check for a version that moved on conflicts too.
	f.Now = f.Now.Add(3 * time.Minute)
	cur := *f.Current(tid, acct)
	verified := f.MustCheck(tid, acct, connection.ResultOK)
	stale := connection.Transition{Before: &cur, After: cur}
	stale.After.LastCheckedAt = f.Now
	wantErr(t, "routine on an old version", f.S.Apply(f.Ctx, stale), store.ErrConflict)
	wantConn(t, f.Current(tid, acct), verified.After)

	// Routine OK checks move times, failure count and external-ID version.
	for i, r := range []connection.Result{connection.ResultOK, connection.ResultTransient, connection.ResultDenied, connection.ResultOK} {
		f.Now = f.Now.Add(time.Hour)
		before := *f.Current(tid, acct)
		c := before
		tr, err := f.Policy.Apply(c, connection.Outcome{Result: r, Version: c.Version, ExternalIDVersion: 2 + i, CheckedAt: f.Now})
		if err != nil || tr.Event != nil {
			t.Fatalf("%s: expected a routine check: %+v %v", r, tr, err)
		}
		wantErr(t, string(r), f.S.Apply(f.Ctx, tr), nil)
		wantConn(t, f.Current(tid, acct), tr.After)
	}
	if n := len(f.Events(tid, acct)); n != 2 {
		t.Fatalf("routine checks wrote events: %d events, want 2", n)
	}
	// A routine write on a connection that does not exist conflicts.
	ghost := sub
	ghost.AccountID = "999999999999"
	wantErr(t, "routine on missing connection", f.S.Apply(f.Ctx, connection.Transition{Before: &ghost, After: ghost}), store.ErrConflict)
	if f.Current(tid, "999999999999") != nil {
		t.Fatal("routine check created a connection")
	}
}

func testInvalidTransitions(t *testing.T, f *Fixture) {
	sub := f.MustSubmit("acme", "arn:aws:iam::111111111111:role/Deploy")
	ok, _ := f.Policy.Apply(sub, connection.Outcome{Result: connection.ResultOK, Version: 1, ExternalIDVersion: 1, CheckedAt: f.Now})
	statusChange := connection.Transition{Before: &sub, After: ok.After}
	statusChange.After.Version = sub.Version
	wrongEventVersion := ok
	ev := *ok.Event
	ev.Version = 7
	wrongEventVersion.Event = &ev
	skipVersion := ok
	skipVersion.After.Version = 3
	ev3 := *ok.Event
	ev3.Version = 3
	skipVersion.Event = &ev3
	other := ok
	otherAfter := ok.After
	otherAfter.AccountID = "222222222222"
	other.After = otherAfter
	foreignEvent := ok
	evf := *ok.Event
	evf.AccountID = "222222222222"
	foreignEvent.Event = &evf
	tests := []struct {
		name string
		tr   connection.Transition
	}{
		{"routine that changes status", statusChange},
		{"event of another connection", foreignEvent},
		{"routine without before", connection.Transition{After: sub}},
		{"event of another version", wrongEventVersion},
		{"version skipped", skipVersion},
		{"before and after of different connections", other},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			defer f.Sub(t)()
			wantErr(t, "apply", f.S.Apply(f.Ctx, tc.tr), store.ErrInvalidTransition)
			wantConn(t, f.Current("acme", "111111111111"), sub)
		})
	}
}

func testClaims(t *testing.T, f *Fixture) {
	const role = "arn:aws:iam::111111111111:role/Deploy"
	f.MustSubmit("acme", role)
	type step struct {
		tenant, arn string
		want        error
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"another tenant", []step{{"bravo", role, store.ErrRoleClaimed}}},
		{"another tenant, case variant and path", []step{{"bravo", "arn:aws:iam::111111111111:role/team/DEPLOY", store.ErrRoleClaimed}}},
		{"same name in another account is another role", []step{{"bravo", "arn:aws:iam::222222222222:role/Deploy", nil}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			defer f.Sub(t)()
			for _, s := range tc.steps {
				tr, err := f.Submit(s.tenant, s.arn)
				wantErr(t, "submit "+s.arn+" for "+s.tenant, err, s.want)
				if s.want != nil {
					if c := f.Current(s.tenant, tr.After.AccountID); c != nil {
						t.Fatalf("refused submission stored %+v", c)
					}
					if evs := f.Events(s.tenant, tr.After.AccountID); len(evs) != 0 {
						t.Fatalf("refused submission wrote events %+v", evs)
					}
				}
			}
		})
	}

	t.Run("same tenant is idempotent", func(t *testing.T) {
		defer f.Sub(t)()
		f.Now = f.Now.Add(3 * time.Minute)
		f.MustCheck("acme", "111111111111", connection.ResultDenied) // FAILED
		if tr := f.MustCheck("acme", "111111111111", connection.ResultNotEnforced); tr.Event == nil {
			t.Fatal("new failure reason should be a transition")
		}
		f.MustSubmit("acme", role)                                      // resubmit same role after FAILED
		f.MustSubmit("acme", "arn:aws:iam::111111111111:role/x/deploy") // a spelling of the same role
		_, err := f.Submit("bravo", role)
		wantErr(t, "other tenant after resubmits", err, store.ErrRoleClaimed)
	})
	t.Run("resubmitting another role releases the old claim", func(t *testing.T) {
		defer f.Sub(t)()
		f.MustSubmit("acme", "arn:aws:iam::111111111111:role/NewRole")
		f.MustSubmit("bravo", role)
		_, err := f.Submit("charlie", "arn:aws:iam::111111111111:role/newrole")
		wantErr(t, "new role is claimed", err, store.ErrRoleClaimed)
		_, err = f.Submit("acme", role)
		wantErr(t, "old role now bravo's", err, store.ErrRoleClaimed)
		if c := f.Current("acme", "111111111111"); c.RoleARN != "arn:aws:iam::111111111111:role/NewRole" {
			t.Fatalf("refused resubmission changed the connection: %+v", c)
		}
	})
	t.Run("disconnect releases the claim", func(t *testing.T) {
		defer f.Sub(t)()
		_, err := f.Disconnect("bravo", "111111111111")
		wantErr(t, "disconnect", err, nil)
		again := f.Policy.Disconnect(*f.Current("bravo", "111111111111"), 1, f.Now)
		if again.Changed() {
			t.Fatal("disconnecting twice should change nothing")
		}
		f.MustSubmit("charlie", role)
		_, err = f.Submit("bravo", role)
		wantErr(t, "reconnect after another tenant took the role", err, store.ErrRoleClaimed)
		if c := f.Current("bravo", "111111111111"); c.Status != connection.Disconnected {
			t.Fatalf("refused reconnect changed the connection: %+v", c)
		}
		_, err = f.Disconnect("charlie", "111111111111")
		wantErr(t, "disconnect", err, nil)
		f.MustSubmit("bravo", role) // reconnect
	})
	t.Run("claim refusal wins over a version conflict", func(t *testing.T) {
		defer f.Sub(t)()
		stale := *f.Current("acme", "111111111111")
		f.MustSubmit("acme", "arn:aws:iam::111111111111:role/Third")
		tr := f.Policy.Submit(&stale, "acme", f.ARN(role), 1, f.Now) // bravo holds role
		wantErr(t, "stale submit of a claimed role", f.S.Apply(f.Ctx, tr), store.ErrRoleClaimed)
	})
}

func testEventHistory(t *testing.T, f *Fixture) {
	const tid, acct = "acme", "111111111111"
	var want []connection.Event
	add := func(tr connection.Transition, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		if tr.Event != nil {
			want = append(want, *tr.Event)
		}
	}
	// 12 transitions, so version 10 must sort after version 9.
	for i := range 4 {
		add(f.Submit(tid, fmt.Sprintf("arn:aws:iam::111111111111:role/R%d", i)))
		f.Now = f.Now.Add(3 * time.Minute)
		add(f.Check(tid, acct, connection.ResultOK))
		f.Now = f.Now.Add(time.Hour)
		add(f.Check(tid, acct, connection.ResultDenied)) // routine: first failure
		add(f.Check(tid, acct, connection.ResultDenied)) // ACCESS_LOST
	}
	add(f.Disconnect(tid, acct))
	f.MustSubmit(tid, "arn:aws:iam::222222222222:role/R0") // another connection of the tenant
	f.MustSubmit("bravo", "arn:aws:iam::111111111111:role/Z")
	if len(want) != 13 {
		t.Fatalf("scenario made %d transitions, want 13", len(want))
	}
	got := f.Events(tid, acct)
	wantEvents(t, got, want)
	for i, ev := range got {
		if ev.Version != int64(i+1) {
			t.Fatalf("event %d has version %d", i, ev.Version)
		}
	}
}

// walk follows cursors to the end, failing on a loop.
func walk(t *testing.T, list func(cursor string) (store.Page, error)) ([]connection.Connection, int) {
	t.Helper()
	var all []connection.Connection
	cursor, pages := "", 0
	for {
		p, err := list(cursor)
		if err != nil {
			t.Fatalf("page %d: %v", pages, err)
		}
		pages++
		all = append(all, p.Items...)
		if p.Cursor == "" {
			return all, pages
		}
		if len(p.Items) == 0 || pages > 1000 {
			t.Fatalf("page %d is empty or the walk does not end", pages)
		}
		cursor = p.Cursor
	}
}

func ids(cs []connection.Connection) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.TenantID + "/" + c.AccountID
	}
	return out
}

func account(i int) string { return fmt.Sprintf("%012d", 100000000000+i) }

func testListByTenant(t *testing.T, f *Fixture) {
	var want []connection.Connection
	for i := range 7 {
		want = append(want, f.MustSubmit("acme", fmt.Sprintf("arn:aws:iam::%s:role/R", account(6-i))))
		f.MustSubmit("acme-2", fmt.Sprintf("arn:aws:iam::%s:role/S", account(i)))
	}
	f.MustSubmit("acm", "arn:aws:iam::"+account(50)+":role/R")
	slices.SortFunc(want, func(a, b connection.Connection) int { return cmp.Compare(a.AccountID, b.AccountID) })
	want[3] = f.Reschedule("acme", want[3].AccountID, f.Now.Add(time.Hour)) // items are current
	tests := []struct {
		limit, pages int
	}{{1, 7}, {2, 4}, {7, 1}, {6, 2}, {0, 1}, {store.MaxLimit + 1, 1}}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("limit %d", tc.limit), func(t *testing.T) {
			defer f.Sub(t)()
			got, pages := walk(t, func(c string) (store.Page, error) { return f.S.ListByTenant(f.Ctx, "acme", c, tc.limit) })
			if !slices.Equal(got, want) {
				t.Fatalf("walk got %v, want %v", ids(got), ids(want))
			}
			if pages != tc.pages {
				t.Fatalf("%d pages, want %d", pages, tc.pages)
			}
		})
	}
	p, err := f.S.ListByTenant(f.Ctx, "nobody", "", 10)
	if err != nil || len(p.Items) != 0 || p.Cursor != "" {
		t.Fatalf("unknown tenant: %+v %v", p, err)
	}
}

func testListByStatus(t *testing.T, f *Fixture) {
	want := map[connection.Status][]connection.Connection{}
	for i := range 12 {
		tid := fmt.Sprintf("t%d", i%3)
		c := f.MustSubmit(tid, fmt.Sprintf("arn:aws:iam::%s:role/R", account(i)))
		f.Now = f.Now.Add(3 * time.Minute)
		switch i % 4 {
		case 1:
			c = f.MustCheck(tid, c.AccountID, connection.ResultOK).After
		case 2:
			c = f.MustCheck(tid, c.AccountID, connection.ResultDenied).After
		case 3:
			tr, err := f.Disconnect(tid, c.AccountID)
			wantErr(t, "disconnect", err, nil)
			c = tr.After
		}
		want[c.Status] = append(want[c.Status], c)
	}
	for _, st := range connection.Statuses {
		slices.SortFunc(want[st], func(a, b connection.Connection) int {
			return cmp.Or(cmp.Compare(a.TenantID, b.TenantID), cmp.Compare(a.AccountID, b.AccountID))
		})
		for _, limit := range []int{1, 2, 3, 50} {
			t.Run(fmt.Sprintf("%s limit %d", st, limit), func(t *testing.T) {
				defer f.Sub(t)()
				got, _ := walk(t, func(c string) (store.Page, error) { return f.S.ListByStatus(f.Ctx, st, c, limit) })
				if !slices.Equal(got, want[st]) {
					t.Fatalf("got %v, want %v", ids(got), ids(want[st]))
				}
			})
		}
	}
}

func testDue(t *testing.T, f *Fixture) {
	base := f.Now
	type entry struct {
		c   connection.Connection
		due bool
	}
	var all []connection.Connection
	for i := range 40 {
		tid := fmt.Sprintf("t%d", i%5)
		c := f.MustSubmit(tid, fmt.Sprintf("arn:aws:iam::%s:role/R", account(i)))
		switch i % 5 {
		case 0: // due long ago
			c = f.Reschedule(tid, c.AccountID, base.Add(-time.Duration(i)*time.Minute))
		case 1: // due exactly at until
			c = f.Reschedule(tid, c.AccountID, base.Add(time.Hour))
		case 2: // due a nanosecond after until
			c = f.Reschedule(tid, c.AccountID, base.Add(time.Hour+time.Nanosecond))
		case 3: // disconnected
			tr, err := f.Disconnect(tid, c.AccountID)
			wantErr(t, "disconnect", err, nil)
			c = tr.After
		case 4: // rescheduled from not due to due
			f.Reschedule(tid, c.AccountID, base.Add(48*time.Hour))
			c = f.Reschedule(tid, c.AccountID, base.Add(30*time.Minute))
		}
		all = append(all, c)
	}
	until := base.Add(time.Hour)
	total := 0
	for shard := range store.Shards {
		var want []connection.Connection
		for _, c := range all {
			if c.Live() && !c.NextCheckAt.After(until) && store.ShardOf(c.TenantID, c.AccountID) == shard {
				want = append(want, c)
			}
		}
		total += len(want)
		slices.SortFunc(want, func(a, b connection.Connection) int {
			return cmp.Or(a.NextCheckAt.Compare(b.NextCheckAt), cmp.Compare(a.TenantID, b.TenantID), cmp.Compare(a.AccountID, b.AccountID))
		})
		for _, limit := range []int{1, 3, 0} {
			t.Run(fmt.Sprintf("shard %d limit %d", shard, limit), func(t *testing.T) {
				defer f.Sub(t)()
				got, _ := walk(t, func(c string) (store.Page, error) { return f.S.Due(f.Ctx, shard, until, c, limit) })
				if !slices.Equal(got, want) {
					t.Fatalf("got %v, want %v", ids(got), ids(want))
				}
			})
		}
	}
	if total != 24 {
		t.Fatalf("%d due connections over all shards, want 24", total)
	}
	// A disconnected connection that is resubmitted is due again.
	f.MustSubmit("t3", "arn:aws:iam::"+account(3)+":role/R")
	c := f.Current("t3", account(3))
	p, err := f.S.Due(f.Ctx, store.ShardOf("t3", account(3)), c.NextCheckAt, "", store.MaxLimit)
	if err != nil || !slices.Contains(p.Items, *c) {
		t.Fatalf("resubmitted connection not due: %v %v", ids(p.Items), err)
	}
	// Nothing is due before the earliest check.
	for shard := range store.Shards {
		p, err := f.S.Due(f.Ctx, shard, base.Add(-365*24*time.Hour), "", 0)
		if err != nil || len(p.Items) != 0 || p.Cursor != "" {
			t.Fatalf("shard %d due a year ago: %v %v", shard, ids(p.Items), err)
		}
	}
}

func testInvalidCursors(t *testing.T, f *Fixture) {
	for i := range 10 { // 20 connections in 8 shards: one shard has two
		f.MustSubmit("acme", fmt.Sprintf("arn:aws:iam::%s:role/R", account(i)))
		f.MustSubmit("bravo", fmt.Sprintf("arn:aws:iam::%s:role/R", account(10+i)))
	}
	until := f.Now.Add(time.Hour)
	byTenant, err := f.S.ListByTenant(f.Ctx, "acme", "", 1)
	if err != nil || byTenant.Cursor == "" {
		t.Fatalf("first page: %+v %v", byTenant, err)
	}
	pending, err := f.S.ListByStatus(f.Ctx, connection.Pending, "", 1)
	if err != nil || pending.Cursor == "" {
		t.Fatalf("first page: %+v %v", pending, err)
	}
	shard := -1
	var due store.Page
	for s := range store.Shards {
		if p, err := f.S.Due(f.Ctx, s, until, "", 1); err == nil && p.Cursor != "" {
			shard, due = s, p
			break
		}
	}
	if shard < 0 {
		t.Fatal("no shard with two due connections")
	}
	garbage := []string{"!!!", "not a cursor", "bm90LWpzb24", "e30", "W10"} // not base64, base64 of "not-json", of {}, of []
	type list func(cursor string) error
	lists := map[string]list{
		"ListByTenant": func(c string) error { _, err := f.S.ListByTenant(f.Ctx, "acme", c, 1); return err },
		"ListByStatus": func(c string) error { _, err := f.S.ListByStatus(f.Ctx, connection.Pending, c, 1); return err },
		"Due":          func(c string) error { _, err := f.S.Due(f.Ctx, shard, until, c, 1); return err },
	}
	for name, l := range lists {
		for _, g := range garbage {
			t.Run(name+" "+g, func(t *testing.T) { wantErr(t, "list", l(g), store.ErrInvalidCursor) })
		}
	}
	tests := []struct {
		name   string
		list   list
		cursor string
	}{
		{"tenant cursor for another tenant", func(c string) error { _, err := f.S.ListByTenant(f.Ctx, "bravo", c, 1); return err }, byTenant.Cursor},
		{"status cursor for another status", func(c string) error { _, err := f.S.ListByStatus(f.Ctx, connection.Verified, c, 1); return err }, pending.Cursor},
		{"due cursor for another shard", func(c string) error { _, err := f.S.Due(f.Ctx, (shard+1)%store.Shards, until, c, 1); return err }, due.Cursor},
		{"tenant cursor for a status listing", lists["ListByStatus"], byTenant.Cursor},
		{"status cursor for a due listing", lists["Due"], pending.Cursor},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { wantErr(t, "list", tc.list(tc.cursor), store.ErrInvalidCursor) })
	}
}

func testClaimRace(t *testing.T, f *Fixture) {
	const n = 100
	a := f.ARN("arn:aws:iam::123456789012:role/Shared")
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tr := f.Policy.Submit(nil, fmt.Sprintf("race-%03d", i), a, 1, f.Now)
			<-start
			errs[i] = f.S.Apply(f.Ctx, tr)
		}()
	}
	close(start)
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner < 0:
			winner = i
		case err == nil:
			t.Errorf("tenants %d and %d both claimed the role", winner, i)
		case !errors.Is(err, store.ErrRoleClaimed):
			t.Errorf("tenant %d: got %v, want ErrRoleClaimed", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no tenant claimed the role")
	}
	for i := range n {
		tid := fmt.Sprintf("race-%03d", i)
		c, evs := f.Current(tid, a.Account), f.Events(tid, a.Account)
		if (c != nil) != (i == winner) || len(evs) != map[bool]int{true: 1, false: 0}[i == winner] {
			t.Fatalf("tenant %d (winner %d): connection %v, %d events", i, winner, c, len(evs))
		}
	}
}
