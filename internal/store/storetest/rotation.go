package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/store"
	"github.com/rolecall/rolecall/internal/tenant"
)

// RotateWithGrace rotates the tenant's external ID keeping the previous one
// for grace, and returns the tenant as stored.
func (f *Fixture) RotateWithGrace(tenantID string, grace time.Duration) tenant.Tenant {
	f.T.Helper()
	from := f.Tenant(tenantID)
	r := from.RotatedWithGrace(f.Now, grace)
	if err := f.S.RotateExternalID(f.Ctx, from, r); err != nil {
		f.T.Fatalf("rotate %s: %v", tenantID, err)
	}
	return r
}

// apply computes on the stored connection the outcome r checked at at with
// external-ID version v (previousOnly: only the previous ID worked) and
// writes it.
func (f *Fixture) apply(tenantID, accountID string, r connection.Result, v int, previousOnly bool, at time.Time) (connection.Transition, error) {
	f.T.Helper()
	c := f.Current(tenantID, accountID)
	tr, err := f.Policy.Apply(*c, connection.Outcome{Result: r, Version: c.Version, ExternalIDVersion: v,
		ExternalIDCurrent: r == connection.ResultOK && !previousOnly, CheckedAt: at})
	if err != nil {
		return tr, err
	}
	return tr, f.S.Apply(f.Ctx, tr)
}

// testRotationGrace: during a rotation's grace a success with the previous
// ID keeps a connection VERIFIED (externalIdCurrent false); after the grace,
// after the rotation completed, or from a job made before the rotation, an
// outcome with a retired ID changes nothing. Rotation events are written
// with the rotation; a rotation completes once.
func testRotationGrace(t *testing.T, f *Fixture) {
	const tid = "acme"
	ctx := f.Ctx
	setup := func(acct string, failures int) {
		f.MustSubmit(tid, "arn:aws:iam::"+acct+":role/R")
		f.MustCheck(tid, acct, connection.ResultOK)
		for range failures {
			f.Now = f.Now.Add(time.Second)
			f.MustCheck(tid, acct, connection.ResultDenied)
		}
	}
	const suspect, lost, healthy = "111111111111", "222222222222", "333333333333"
	setup(suspect, 1)
	setup(lost, 2)
	setup(healthy, 0)
	v1 := f.Tenant(tid)
	f.Now = f.Now.Add(time.Minute)
	r := f.RotateWithGrace(tid, time.Hour)
	if got := f.Tenant(tid); got != r || !got.InGrace() || got.PreviousExternalID != v1.ExternalID {
		t.Fatalf("stored %+v, want %+v", got, r)
	}
	evs, err := f.S.TenantEvents(ctx, tid)
	if err != nil || len(evs) != 1 || evs[0] != connection.RotationStarted(r) {
		t.Fatalf("tenant events %+v, %v", evs, err)
	}
	at := f.Now.Add(10 * time.Minute)

	tests := []struct {
		name         string
		acct         string
		result       connection.Result
		v            int
		previousOnly bool
		at           time.Time
		want         error
		wantCurrent  bool
	}{
		{"a job from before the rotation cannot count a failure", suspect, connection.ResultDenied, 1, false, at, store.ErrExternalIDRetired, false},
		{"a job from before the rotation cannot restore", lost, connection.ResultOK, 1, false, at, store.ErrExternalIDRetired, false},
		{"the previous ID during the grace resets the counter", suspect, connection.ResultOK, 1, true, at, nil, false},
		{"the previous ID after the grace cannot restore", lost, connection.ResultOK, 1, true, r.GraceEndsAt, store.ErrExternalIDRetired, false},
		{"the current ID restores", lost, connection.ResultOK, 2, false, at, nil, true},
		{"the previous ID keeps a healthy role verified, not current", healthy, connection.ResultOK, 1, true, at, nil, false},
		{"the previous ID again, a routine check within the grace", healthy, connection.ResultOK, 1, true, at.Add(time.Minute), nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			defer f.Sub(t)()
			before := *f.Current(tid, tc.acct)
			tr, err := f.apply(tid, tc.acct, tc.result, tc.v, tc.previousOnly, tc.at)
			wantErr(t, "apply", err, tc.want)
			got := f.Current(tid, tc.acct)
			if tc.want != nil {
				wantConn(t, got, before)
				return
			}
			wantConn(t, got, tr.After)
			if got.Status != connection.Verified || got.ExternalIDCurrent != tc.wantCurrent || got.ConsecutiveFailures != 0 {
				t.Fatalf("after %+v", got)
			}
		})
	}
	// Every connection is current only as of a tenant read after the last
	// success with the previous ID: r was read before three, so it cannot
	// complete the rotation as ALL_CURRENT (a connection listed before
	// such a success may rely on the previous ID now), a fresh read can.
	cur := f.Tenant(tid)
	if cur.GraceWrites != r.GraceWrites+3 {
		t.Fatalf("GraceWrites %d after three successes with the previous ID, %d before", cur.GraceWrites, r.GraceWrites)
	}
	wantErr(t, "complete as read before the last success with the previous ID", f.S.CompleteRotation(ctx, r, connection.CompletionAllCurrent, at), store.ErrConflict)
	if got := f.Tenant(tid); got != cur {
		t.Fatalf("a refused completion changed the tenant: %+v, was %+v", got, cur)
	}
	// Completing the rotation retires the previous ID for good, even
	// inside what was its grace.
	wantErr(t, "complete", f.S.CompleteRotation(ctx, cur, connection.CompletionAllCurrent, at), nil)
	if got := f.Tenant(tid); got != cur.Retired() {
		t.Fatalf("after completion %+v", got)
	}
	wantErr(t, "complete twice", f.S.CompleteRotation(ctx, cur, connection.CompletionAllCurrent, at), store.ErrConflict)
	evs, _ = f.S.TenantEvents(ctx, tid)
	if len(evs) != 2 || evs[1] != connection.RotationCompleted(cur, connection.CompletionAllCurrent, at) {
		t.Fatalf("tenant events %+v", evs)
	}
	// A job made during the grace and checked after the completion: its
	// success with the previous ID, routine as it is (nothing but check
	// times would change), is refused too.
	before := *f.Current(tid, healthy)
	_, err = f.apply(tid, healthy, connection.ResultOK, 1, true, at.Add(2*time.Minute))
	wantErr(t, "a routine success with the retired ID", err, store.ErrExternalIDRetired)
	wantConn(t, f.Current(tid, healthy), before)
	f.Now = at.Add(3 * time.Minute)
	f.MustCheck(tid, healthy, connection.ResultDenied) // counted with the current ID
	_, err = f.apply(tid, healthy, connection.ResultOK, 1, true, f.Now.Add(time.Second))
	wantErr(t, "the retired ID resets nothing", err, store.ErrExternalIDRetired)
	if got := f.Current(tid, healthy); got.ConsecutiveFailures != before.ConsecutiveFailures+1 {
		t.Fatalf("after a retired-ID success %+v", got)
	}
	// A rotation without grace revokes at once: Started and Completed.
	r3 := f.Rotate(tid)
	evs, _ = f.S.TenantEvents(ctx, tid)
	if len(evs) != 4 || evs[2] != connection.RotationStarted(r3) || evs[3] != connection.RotationCompleted(r3, connection.CompletionRevoked, r3.RotatedAt) {
		t.Fatalf("tenant events after a revocation %+v", evs)
	}
	wantErr(t, "complete a revoked rotation", f.S.CompleteRotation(ctx, r3, connection.CompletionGraceEnded, at), store.ErrConflict)
	// Connection histories hold no tenant events.
	for _, ev := range f.Events(tid, healthy) {
		if ev.DetailType.OfTenant() {
			t.Fatalf("connection history holds %+v", ev)
		}
	}
}

// testCompletionKeepsTheStoredTenant: a completion that does not depend on
// GraceWrites (GRACE_ENDED, SUPERSEDED) may come from a tenant read before
// successes with the previous ID; it retires the previous ID of the tenant
// as stored, keeping the count those successes left.
func testCompletionKeepsTheStoredTenant(t *testing.T, f *Fixture) {
	const tid, acct = "acme", "111111111111"
	f.MustSubmit(tid, "arn:aws:iam::"+acct+":role/R")
	f.MustCheck(tid, acct, connection.ResultOK)
	for _, completion := range []string{connection.CompletionGraceEnded, connection.CompletionSuperseded} {
		r := f.RotateWithGrace(tid, time.Hour)
		f.Now = f.Now.Add(time.Minute)
		if _, err := f.apply(tid, acct, connection.ResultOK, r.PreviousExternalIDVersion, true, f.Now); err != nil {
			t.Fatal(err)
		}
		stored := f.Tenant(tid)
		if stored.GraceWrites != r.GraceWrites+1 {
			t.Fatalf("GraceWrites %d after a success with the previous ID, %d before", stored.GraceWrites, r.GraceWrites)
		}
		wantErr(t, "complete "+completion+" as read before", f.S.CompleteRotation(f.Ctx, r, completion, f.Now), nil)
		if got := f.Tenant(tid); got != stored.Retired() {
			t.Fatalf("after completing %s: %+v, want the stored tenant retired %+v", completion, got, stored.Retired())
		}
	}
}

// testRotationRace: rotations race checks in flight and redelivered
// (the same outcome written twice). Any write that starts after a rotation
// has committed and uses an external ID that rotation retired changes
// nothing; a redelivered outcome is written at most once.
func testRotationRace(t *testing.T, f *Fixture) {
	const tid, conns = "race", 12
	accts := make([]string, conns)
	for i := range conns {
		accts[i] = account(500 + i)
		f.MustSubmit(tid, "arn:aws:iam::"+accts[i]+":role/R")
		f.MustCheck(tid, accts[i], connection.ResultOK)
		f.MustCheck(tid, accts[i], connection.ResultDenied)
		f.MustCheck(tid, accts[i], connection.ResultDenied) // ACCESS_LOST
	}
	v1 := f.Tenant(tid)
	rotation := v1.RotatedWithGrace(f.Now, 0) // revokes v1
	var rotated atomic.Bool
	start := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var violations []string
	wg.Add(1)
	go func() {
		defer wg.Done()
		<-start
		if err := f.S.RotateExternalID(f.Ctx, v1, rotation); err != nil {
			t.Errorf("rotate: %v", err)
		}
		rotated.Store(true)
	}()
	for i, acct := range accts {
		c := *f.Current(tid, acct)
		for k := range 4 { // checks made with v1 before the rotation, some redelivered
			wg.Add(1)
			go func() {
				defer wg.Done()
				at := f.Now.Add(time.Duration(i*10+k) * time.Millisecond)
				tr, err := f.Policy.Apply(c, connection.Outcome{Result: connection.ResultOK, Version: c.Version, ExternalIDVersion: 1, ExternalIDCurrent: true, CheckedAt: at})
				if err != nil {
					t.Error(err)
					return
				}
				<-start
				for range 2 { // a redelivery writes the same outcome again
					after := rotated.Load()
					err := f.S.Apply(f.Ctx, tr)
					if err == nil && after {
						mu.Lock()
						violations = append(violations, fmt.Sprintf("%s: a v1 success written after the rotation committed", acct))
						mu.Unlock()
					}
					if err != nil && !errors.Is(err, store.ErrExternalIDRetired) && !errors.Is(err, store.ErrConflict) {
						t.Errorf("%s: %v", acct, err)
					}
				}
			}()
		}
	}
	close(start)
	wg.Wait()
	for _, v := range violations {
		t.Error(v)
	}
	for _, acct := range accts {
		evs := f.Events(tid, acct)
		restored := 0
		for _, ev := range evs {
			if ev.DetailType == connection.RoleAccessRestored {
				restored++
			}
		}
		if restored > 1 {
			t.Errorf("%s restored %d times by one check version", acct, restored)
		}
		// After the race a v1 success changes nothing, whatever its time.
		c := *f.Current(tid, acct)
		tr, err := f.Policy.Apply(c, connection.Outcome{Result: connection.ResultOK, Version: c.Version, ExternalIDVersion: 1, ExternalIDCurrent: true, CheckedAt: f.Now.Add(time.Hour)})
		if err == nil {
			err = f.S.Apply(f.Ctx, tr)
		}
		if err == nil && (tr.Event != nil || tr.After.ConsecutiveFailures != c.ConsecutiveFailures) {
			t.Errorf("%s: a v1 outcome after the rotation changed %+v", acct, tr.After)
		}
	}
}

// testRotationSupersedes: a rotation of a tenant whose rotation is still in
// its grace ends that one in the same write (Completed, SUPERSEDED, then
// the new Started); refused, it retires nothing and adds no event. A
// rotation in grace as read that was completed since is refused too: its
// Completed event is written already.
func testRotationSupersedes(t *testing.T, f *Fixture) {
	const tid = "acme"
	f.Tenant(tid)
	inGrace := f.RotateWithGrace(tid, 24*time.Hour)
	f.Now = f.Now.Add(time.Hour)
	next := inGrace.RotatedWithGrace(f.Now, 24*time.Hour)
	f.refusedTenantWrites(t, "rotate", f.rotate, inGrace, []refusedTenant{
		{name: "tenant as read before its grace", tenant: next, from: inGrace.Retired(), want: store.ErrConflict},
		{name: "not the next version", tenant: next.Rotated(f.Now), from: inGrace, want: store.ErrInvalidTransition},
	})
	if err := f.S.RotateExternalID(f.Ctx, inGrace, next); err != nil {
		t.Fatalf("rotate in the grace: %v", err)
	}
	if got := f.Tenant(tid); got != next || got.PreviousExternalIDVersion != inGrace.ExternalIDVersion {
		t.Fatalf("stored %+v, want %+v", got, next)
	}
	evs, err := f.S.TenantEvents(f.Ctx, tid)
	want := []connection.Event{connection.RotationStarted(inGrace), connection.RotationCompleted(inGrace, connection.CompletionSuperseded, f.Now), connection.RotationStarted(next)}
	if err != nil || !slices.Equal(evs, want) {
		t.Fatalf("tenant events %+v, %v; want %+v", evs, err, want)
	}

	// Completed since it was read: the rotation is refused.
	f.Now = f.Now.Add(time.Hour)
	if err := f.S.CompleteRotation(f.Ctx, next, connection.CompletionAllCurrent, f.Now); err != nil {
		t.Fatalf("complete: %v", err)
	}
	completed := next.Retired()
	f.refusedTenantWrites(t, "rotate", f.rotate, completed, []refusedTenant{
		{name: "rotation in grace as read, completed since", tenant: next.RotatedWithGrace(f.Now, time.Hour), from: next, want: store.ErrConflict},
	})
	last := completed.RotatedWithGrace(f.Now, time.Hour)
	if err := f.S.RotateExternalID(f.Ctx, completed, last); err != nil {
		t.Fatalf("rotate the completed tenant: %v", err)
	}
	if evs, _ := f.S.TenantEvents(f.Ctx, tid); len(evs) != 5 || evs[4] != connection.RotationStarted(last) {
		t.Fatalf("tenant events %+v; want the completion and one start after the three", evs)
	}
}
