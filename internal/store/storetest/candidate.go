package storetest

import (
	"testing"
	"time"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/store"
)

// CheckCandidate applies a check result of the stored connection's
// candidate, as the verify worker does.
func (f *Fixture) CheckCandidate(tenantID, accountID string, r connection.Result) (connection.Transition, error) {
	f.T.Helper()
	c := f.Current(tenantID, accountID)
	tr, step, err := f.Policy.ApplyCandidate(*c, connection.Outcome{Result: r, Version: c.Version,
		ExternalIDVersion: f.Tenant(tenantID).ExternalIDVersion, ExternalIDCurrent: true, CheckedAt: f.Now})
	if err != nil || step != connection.CandidateWrite {
		f.T.Fatalf("apply candidate %s: step %v, %v", r, step, err)
	}
	return tr, f.S.Apply(f.Ctx, tr)
}

// testCandidates: a new role for a VERIFIED connection is stored as its
// candidate; the verified role keeps its claim until the candidate verifies,
// then the claim moves in the same transaction.
func testCandidates(t *testing.T, f *Fixture) {
	const acct = "111111111111"
	const old, next = "arn:aws:iam::111111111111:role/Old", "arn:aws:iam::111111111111:role/path/Next"
	f.MustSubmit("acme", old)
	f.Now = f.Now.Add(time.Minute)
	f.MustCheck("acme", acct, connection.ResultOK)
	sub := f.MustSubmit("acme", next)
	wantConn(t, f.Current("acme", acct), sub)
	if sub.Status != connection.Verified || sub.RoleARN != old || !sub.Candidate.Pending() {
		t.Fatalf("candidate submission stored %+v", sub)
	}
	evs := f.Events("acme", acct)
	if last := evs[len(evs)-1]; last.CandidateRoleARN != next || last.RoleARN != old || last.DetailType != connection.RoleSubmitted {
		t.Fatalf("candidate event %+v", last)
	}
	// The role in use keeps being checked; its routine writes keep the
	// candidate.
	f.Now = f.Now.Add(time.Hour)
	routine := f.MustCheck("acme", acct, connection.ResultOK)
	wantConn(t, f.Current("acme", acct), routine.After)
	if routine.Event != nil || !f.Current("acme", acct).Candidate.Pending() {
		t.Fatalf("routine check of the role in use: %+v", f.Current("acme", acct))
	}
	// The old role is still acme's; the candidate role is nobody's yet.
	f.MustSubmit("bravo", old)
	_, err := f.Check("bravo", acct, connection.ResultOK)
	wantErr(t, "verify the role in use from another tenant", err, store.ErrRoleClaimed)

	t.Run("a verified candidate replaces the role and moves the claim", func(t *testing.T) {
		defer f.Sub(t)()
		tr, err := f.CheckCandidate("acme", acct, connection.ResultOK)
		wantErr(t, "candidate verified", err, nil)
		wantConn(t, f.Current("acme", acct), tr.After)
		if tr.After.RoleARN != next || tr.After.Candidate != (connection.Candidate{}) || tr.Event.PreviousRoleARN != old {
			t.Fatalf("replacement %+v, event %+v", tr.After, tr.Event)
		}
		if got := f.Events("acme", acct); got[len(got)-1] != *tr.Event {
			t.Fatalf("stored event %+v, want %+v", got[len(got)-1], *tr.Event)
		}
		_, err = f.Check("bravo", acct, connection.ResultOK) // the old role is free now
		wantErr(t, "verify the released role", err, nil)
	})
	t.Run("a candidate whose role another connection holds is dropped", func(t *testing.T) {
		defer f.Sub(t)()
		f.MustSubmit("acme", old) // bravo holds it now
		tr, _, err := f.Policy.ApplyCandidate(*f.Current("acme", acct), connection.Outcome{Result: connection.ResultOK,
			Version: f.Current("acme", acct).Version, ExternalIDVersion: 1, ExternalIDCurrent: true, CheckedAt: f.Now})
		if err != nil {
			t.Fatal(err)
		}
		before := *f.Current("acme", acct)
		wantErr(t, "replacement by a held role", f.S.Apply(f.Ctx, tr), store.ErrRoleClaimed)
		wantConn(t, f.Current("acme", acct), before)
		claimed, err := f.Policy.CandidateClaimed(before, *tr.Check)
		if err != nil {
			t.Fatal(err)
		}
		wantErr(t, "drop the candidate", f.S.Apply(f.Ctx, claimed), nil)
		got := f.Current("acme", acct)
		if got.RoleARN != next || got.Status != connection.Verified || got.Candidate.Status != connection.Failed || got.Candidate.Reason.Code != connection.CodeRoleClaimed {
			t.Fatalf("after the drop: %+v", got)
		}
	})
	t.Run("a failed candidate leaves the verified role in use", func(t *testing.T) {
		defer f.Sub(t)()
		f.MustSubmit("acme", "arn:aws:iam::111111111111:role/Broken")
		before := *f.Current("acme", acct)
		tr, err := f.CheckCandidate("acme", acct, connection.ResultNotEnforced)
		wantErr(t, "candidate failed", err, nil)
		got := f.Current("acme", acct)
		wantConn(t, got, tr.After)
		if got.RoleARN != before.RoleARN || got.Status != connection.Verified || got.Candidate.Status != connection.Failed ||
			got.Candidate.Reason.Code != string(connection.ResultNotEnforced) || got.ConsecutiveFailures != before.ConsecutiveFailures {
			t.Fatalf("after the failed candidate: %+v", got)
		}
		f.MustSubmit("charlie", next)
		_, err = f.Check("charlie", acct, connection.ResultOK)
		wantErr(t, "verify acme's role in use from charlie", err, store.ErrRoleClaimed)
		f.MustSubmit("delta", "arn:aws:iam::111111111111:role/broken")
		_, err = f.Check("delta", acct, connection.ResultOK)
		wantErr(t, "verify the dropped candidate's role from delta", err, nil)
	})
}

// testStacks: the stack that registered a connection's role, and the one
// that submitted its candidate, are stored with it; a verified candidate
// brings its stack along.
func testStacks(t *testing.T, f *Fixture) {
	const acct = "111111111111"
	const old, next = "arn:aws:iam::111111111111:role/Old", "arn:aws:iam::111111111111:role/Next"
	const stackA = "arn:aws:cloudformation:us-east-1:111111111111:stack/rolecall/0a1b2c3d-4e5f-6789-abcd-ef0123456789"
	const stackB = "arn:aws:cloudformation:us-east-1:111111111111:stack/rolecall-next/1b2c3d4e-5f60-789a-bcde-f0123456789a"
	f.Tenant("acme")
	submit := func(role, stack string, candidate bool) connection.Connection {
		t.Helper()
		tr := f.Policy.Submit(f.Current("acme", acct), "acme", f.ARN(role), 1, f.Now)
		if candidate {
			tr.After.Candidate.Stack, tr.After.Candidate.StackResource = stack, "Registration"
		} else {
			tr.After.Stack, tr.After.StackResource = stack, "Registration"
		}
		wantErr(t, "submit by "+stack, f.S.Apply(f.Ctx, tr), nil)
		wantConn(t, f.Current("acme", acct), tr.After)
		return tr.After
	}
	if c := submit(old, stackA, false); c.Stack != stackA {
		t.Fatalf("submitted %+v, want its stack", c)
	}
	f.Now = f.Now.Add(time.Minute)
	f.MustCheck("acme", acct, connection.ResultOK)
	if c := submit(next, stackB, true); c.Stack != stackA || c.Candidate.Stack != stackB {
		t.Fatalf("candidate submitted %+v, want both stacks", c)
	}
	tr, err := f.CheckCandidate("acme", acct, connection.ResultOK)
	wantErr(t, "candidate verified", err, nil)
	if got := f.Current("acme", acct); got.RoleARN != next || got.Stack != stackB || got.StackResource != "Registration" || *got != tr.After {
		t.Fatalf("after the candidate verified: %+v, want its role and stack", got)
	}

	// Another resource of the stack takes the registration over: a
	// routine write of the resource alone. A check computed from the
	// connection before it, routine (a success) or changing the status
	// (the failure that makes it ACCESS_LOST), conflicts rather than put
	// the old resource back.
	for range f.Policy.LostAfter - 1 {
		f.Now = f.Now.Add(time.Minute)
		f.MustCheck("acme", acct, connection.ResultDenied)
	}
	stale := *f.Current("acme", acct)
	takeover := connection.Transition{Before: &stale, After: stale}
	takeover.After.StackResource = "Renamed"
	wantErr(t, "take over", f.S.Apply(f.Ctx, takeover), nil)
	wantConn(t, f.Current("acme", acct), takeover.After)
	f.Now = f.Now.Add(time.Minute)
	for _, r := range []connection.Result{connection.ResultOK, connection.ResultDenied} {
		check, err := f.Policy.Apply(stale, connection.Outcome{Result: r, Version: stale.Version,
			ExternalIDVersion: 1, ExternalIDCurrent: true, CheckedAt: f.Now})
		wantErr(t, "check computed before the takeover", err, nil)
		if r == connection.ResultDenied && check.Event == nil {
			t.Fatalf("setup: the failure changes no status: %+v", check.After)
		}
		wantErr(t, "write a "+string(r)+" computed before the takeover", f.S.Apply(f.Ctx, check), store.ErrConflict)
		wantConn(t, f.Current("acme", acct), takeover.After)
	}
}
