// Package storetest is the contract suite every store.Store adapter passes:
// the embedded Memory store and the DynamoDB adapter run the same tests, so
// `rolecall serve` behaves like a deployment.
package storetest

import (
	"context"
	"errors"
	"fmt"
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
	contract[*Fixture]{
		{"Tenants", testTenants},
		{"RotateExternalID", testRotate},
		{"RotationSupersedes", testRotationSupersedes},
		{"SetMaxConnections", testSetMaxConnections},
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
		{"StaleOutcomes", testStaleOutcomes},
		{"RetiredExternalID", testRetiredExternalID},
		{"Candidates", testCandidates},
		{"Stacks", testStacks},
		{"RotationGrace", testRotationGrace},
		{"CompletionKeepsTheStoredTenant", testCompletionKeepsTheStoredTenant},
		{"RotationRace", testRotationRace},
		{"ListTenants", testListTenants},
		{"GracesEnded", testGracesEnded},
	}.run(t, func(t *testing.T) *Fixture { return NewFixture(t, newStore(t)) })
}

// contract is a suite of named tests of one subject (a fixture on a store,
// or a store).
type contract[S any] []struct {
	name string
	run  func(t *testing.T, s S)
}

// run runs each test as a subtest, on a new subject.
func (c contract[S]) run(t *testing.T, newSubject func(t *testing.T) S) {
	for _, tc := range c {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, newSubject(t)) })
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

// Recorder keeps the events of the transitions a test writes, in order,
// and counts the routine ones (no event); a write that failed fails the
// test. rec.Add(f.Submit(...)) records one.
type Recorder struct {
	T        testing.TB
	Events   []connection.Event
	Routines int
}

// Add records tr, written with err.
func (r *Recorder) Add(tr connection.Transition, err error) {
	r.T.Helper()
	if err != nil {
		r.T.Fatal(err)
	}
	if tr.Event != nil {
		r.Events = append(r.Events, *tr.Event)
	} else {
		r.Routines++
	}
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

// Tenant returns the stored tenant, creating it (external-ID version 1)
// when it does not exist yet.
func (f *Fixture) Tenant(tenantID string) tenant.Tenant {
	f.T.Helper()
	t, err := f.S.GetTenant(f.Ctx, tenantID)
	if errors.Is(err, store.ErrNotFound) {
		t, err = tenant.New(tenantID, "Tenant "+tenantID, f.Now)
		if err == nil {
			err = f.S.CreateTenant(f.Ctx, t)
		}
	}
	if err != nil {
		f.T.Fatalf("tenant %s: %v", tenantID, err)
	}
	return t
}

// Rotate rotates the tenant's external ID, the previous one retired at
// once, and returns the tenant as stored.
func (f *Fixture) Rotate(tenantID string) tenant.Tenant {
	f.T.Helper()
	from := f.Tenant(tenantID)
	r := from.Rotated(f.Now)
	if err := f.S.RotateExternalID(f.Ctx, from, r); err != nil {
		f.T.Fatalf("rotate %s: %v", tenantID, err)
	}
	return r
}

// Submit submits arn for tenantID as the onboarding service does (creating
// the tenant when needed: checks are applied only while the tenant accepts
// the external ID they used).
func (f *Fixture) Submit(tenantID, arn string) (connection.Transition, error) {
	f.T.Helper()
	f.Tenant(tenantID)
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
	tr, err := f.Policy.Apply(*c, connection.Outcome{ExternalIDCurrent: true, Result: r, Version: c.Version, ExternalIDVersion: f.Tenant(tenantID).ExternalIDVersion, CheckedAt: f.Now})
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
	ok, err := f.Policy.Apply(sub, connection.Outcome{ExternalIDCurrent: true, Result: connection.ResultOK, Version: 1, ExternalIDVersion: 1, CheckedAt: f.Now})
	if err != nil {
		t.Fatal(err)
	}
	denied, err := f.Policy.Apply(sub, connection.Outcome{ExternalIDCurrent: true, Result: connection.ResultDenied, Version: 1, ExternalIDVersion: 1, CheckedAt: f.Now})
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
	o := connection.Outcome{ExternalIDCurrent: true, Result: connection.ResultDenied, Version: 1, ExternalIDVersion: 1, CheckedAt: f.Now}
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
		f.Rotate(tid)
		tr, err := f.Policy.Apply(c, connection.Outcome{ExternalIDCurrent: true, Result: r, Version: c.Version, ExternalIDVersion: 2 + i, CheckedAt: f.Now})
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
	ok, _ := f.Policy.Apply(sub, connection.Outcome{ExternalIDCurrent: true, Result: connection.ResultOK, Version: 1, ExternalIDVersion: 1, CheckedAt: f.Now})
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

func testEventHistory(t *testing.T, f *Fixture) {
	const tid, acct = "acme", "111111111111"
	rec := &Recorder{T: t}
	add := rec.Add
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
	if len(rec.Events) != 13 {
		t.Fatalf("scenario made %d transitions, want 13", len(rec.Events))
	}
	got := f.Events(tid, acct)
	wantEvents(t, got, rec.Events)
	for i, ev := range got {
		if ev.Version != int64(i+1) {
			t.Fatalf("event %d has version %d", i, ev.Version)
		}
	}
}
