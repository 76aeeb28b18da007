package storetest

import (
	"testing"
	"time"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/store"
)

// outcome computes, on snapshot c, the transition for result r checked at
// at with the tenant's current external ID.
func (f *Fixture) outcome(c connection.Connection, r connection.Result, at time.Time) connection.Transition {
	f.T.Helper()
	tr, err := f.Policy.Apply(c, connection.Outcome{Result: r, Version: c.Version, ExternalIDVersion: f.Tenant(c.TenantID).ExternalIDVersion,
		ExternalIDCurrent: true, CheckedAt: at})
	if err != nil {
		f.T.Fatalf("policy apply %s: %v", r, err)
	}
	return tr
}

// connectionIn submits arn:aws:iam::<acct>:role/R for the tenant and
// checks it into status (PENDING, or verified and then denied failures
// times), moving the clock between the steps; it returns the stored
// connection.
func (f *Fixture) connectionIn(tid, acct string, status connection.Status, failures int) *connection.Connection {
	f.MustSubmit(tid, "arn:aws:iam::"+acct+":role/R")
	f.Now = f.Now.Add(3 * time.Minute)
	if status != connection.Pending {
		f.MustCheck(tid, acct, connection.ResultOK)
	}
	for range failures {
		f.Now = f.Now.Add(time.Minute)
		f.MustCheck(tid, acct, connection.ResultDenied)
	}
	return f.Current(tid, acct)
}

// connCase is the connection a table's case starts from: a new one in
// status with failures.
type connCase struct {
	name     string
	status   connection.Status
	failures int
}

// connections returns a setup that makes, at each call, a new connection
// of tid in status with failures (connectionIn; accounts from base+1 on).
func (f *Fixture) connections(tid string, base int) func(t *testing.T, status connection.Status, failures int) connection.Connection {
	n := base
	return func(t *testing.T, status connection.Status, failures int) connection.Connection {
		t.Helper()
		n++
		c := f.connectionIn(tid, account(n), status, failures)
		if c.Status != status || c.ConsecutiveFailures != failures {
			t.Fatalf("setup: %+v, want %s with %d failures", c, status, failures)
		}
		return *c
	}
}

// testStaleOutcomes: an outcome computed on a snapshot that another check
// has since changed is refused, whatever order the two are written in, and
// whether or not the version moved: writes are conditioned on the version,
// the failure count, the last check time and the role ARN.
func testStaleOutcomes(t *testing.T, f *Fixture) {
	const tid = "acme"
	setup := f.connections(tid, 0)
	tests := []struct {
		start connCase
		older connection.Result // computed first, written last
		newer connection.Result // computed last, written first
	}{
		{connCase{"a success must not restore after a newer failure", connection.AccessLost, 2}, connection.ResultOK, connection.ResultDenied},
		{connCase{"a success must not reset a newer failure", connection.Verified, 0}, connection.ResultOK, connection.ResultDenied},
		{connCase{"a success must not clear a newer loss", connection.Verified, 1}, connection.ResultOK, connection.ResultDenied},
		{connCase{"a failure must not count after a newer success", connection.Verified, 0}, connection.ResultDenied, connection.ResultOK},
		{connCase{"a failure must not lose access after a newer success", connection.Verified, 1}, connection.ResultDenied, connection.ResultOK},
		{connCase{"a failure must not fail a newer verification", connection.Pending, 0}, connection.ResultNotEnforced, connection.ResultOK},
	}
	for _, tc := range tests {
		t.Run(tc.start.name, func(t *testing.T) {
			defer f.Sub(t)()
			c := setup(t, tc.start.status, tc.start.failures)
			f.Now = f.Now.Add(time.Hour)
			older := f.outcome(c, tc.older, f.Now)
			newer := f.outcome(c, tc.newer, f.Now.Add(time.Second))
			wantErr(t, "newer", f.S.Apply(f.Ctx, newer), nil)
			evs := f.Events(tid, c.AccountID)
			wantErr(t, "older, written after", f.S.Apply(f.Ctx, older), store.ErrConflict)
			wantConn(t, f.Current(tid, c.AccountID), newer.After)
			wantEvents(t, f.Events(tid, c.AccountID), evs)
		})
	}
	t.Run("writes are conditioned on the stored role ARN", func(t *testing.T) {
		defer f.Sub(t)()
		c := setup(t, connection.Verified, 1)
		other := c
		other.RoleARN = "arn:aws:iam::" + c.AccountID + ":role/NotTheStoredOne"
		f.Now = f.Now.Add(time.Hour)
		for _, r := range []connection.Result{connection.ResultOK, connection.ResultDenied} {
			tr := f.outcome(other, r, f.Now)
			wantErr(t, string(r)+" for another role", f.S.Apply(f.Ctx, tr), store.ErrConflict)
			wantConn(t, f.Current(tid, c.AccountID), c)
		}
	})
}

// testRetiredExternalID: an outcome computed with an external ID the tenant
// has since rotated away changes no status and resets no counter.
func testRetiredExternalID(t *testing.T, f *Fixture) {
	const tid = "acme"
	setup := f.connections(tid, 100)
	tests := []struct {
		start  connCase
		result connection.Result
		want   error
	}{
		{connCase{"no restore", connection.AccessLost, 2}, connection.ResultOK, store.ErrExternalIDRetired},
		{connCase{"no reset", connection.Verified, 1}, connection.ResultOK, store.ErrExternalIDRetired},
		{connCase{"no verification", connection.Pending, 0}, connection.ResultOK, store.ErrExternalIDRetired},
		{connCase{"no loss", connection.Verified, 1}, connection.ResultDenied, store.ErrExternalIDRetired},
		{connCase{"no count", connection.Verified, 0}, connection.ResultDenied, store.ErrExternalIDRetired},
		{connCase{"no failure", connection.Pending, 0}, connection.ResultNotEnforced, store.ErrExternalIDRetired},
		// A check that changes neither status nor counters (a healthy
		// role checked again) is one conditional write with no read: it
		// only moves the check times.
		{connCase{"a routine success only moves times", connection.Verified, 0}, connection.ResultOK, nil},
	}
	for _, tc := range tests {
		t.Run(tc.start.name, func(t *testing.T) {
			defer f.Sub(t)()
			c := setup(t, tc.start.status, tc.start.failures)
			f.Now = f.Now.Add(time.Hour)
			job := f.Tenant(tid).ExternalIDVersion // the job is made...
			rotated := f.Rotate(tid)               // ...then the tenant rotates
			tr, err := f.Policy.Apply(c, connection.Outcome{Result: tc.result, Version: c.Version, ExternalIDVersion: job, ExternalIDCurrent: true, CheckedAt: f.Now})
			if err != nil {
				t.Fatal(err)
			}
			evs := f.Events(tid, c.AccountID)
			wantErr(t, "apply with a retired external id", f.S.Apply(f.Ctx, tr), tc.want)
			if tc.want != nil {
				wantConn(t, f.Current(tid, c.AccountID), c)
			} else {
				got := f.Current(tid, c.AccountID)
				if got.Status != c.Status || got.ConsecutiveFailures != c.ConsecutiveFailures || got.ExternalIDVersion != c.ExternalIDVersion {
					t.Fatalf("routine write changed more than times: %+v", got)
				}
			}
			wantEvents(t, f.Events(tid, c.AccountID), evs)
			// The same check made with the new ID applies.
			tr, err = f.Policy.Apply(*f.Current(tid, c.AccountID), connection.Outcome{Result: tc.result, Version: c.Version,
				ExternalIDVersion: rotated.ExternalIDVersion, ExternalIDCurrent: true, CheckedAt: f.Now.Add(time.Second)})
			if err != nil {
				t.Fatal(err)
			}
			wantErr(t, "apply with the current external id", f.S.Apply(f.Ctx, tr), nil)
		})
	}
}
