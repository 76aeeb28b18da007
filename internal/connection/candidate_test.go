package connection_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/testkit/testarn"
)

// A new role for a VERIFIED connection is a candidate: the verified role
// stays in use until the candidate verifies, and stays if it fails.
func TestCandidate(t *testing.T) {
	p := noJitter()
	now := t0.Add(time.Hour)
	v := conn(connection.Verified, 1, connection.CodeVerified)
	v.NextCheckAt = now.Add(time.Hour)

	sub := p.Submit(&v, tenantID, testarn.MustParse(t, roleB), 1, now)
	a := sub.After
	if a.Status != connection.Verified || a.RoleARN != roleA || a.ConsecutiveFailures != 1 || a.VerifiedAt != v.VerifiedAt ||
		a.Candidate != (connection.Candidate{RoleARN: roleB, Status: connection.Pending, SubmittedAt: now, Reason: a.Candidate.Reason}) ||
		a.Candidate.Reason.Code != connection.CodeCandidateSubmitted || !a.NextCheckAt.Equal(now.Add(p.PendingSafetyNet)) {
		t.Fatalf("candidate submitted: %+v", a)
	}
	if ev := sub.Event; ev == nil || ev.DetailType != connection.RoleSubmitted || ev.RoleARN != roleA || ev.CandidateRoleARN != roleB ||
		ev.Status != connection.Verified || ev.PreviousStatus != connection.Verified || ev.Reason != a.Candidate.Reason || ev.Version != v.Version+1 {
		t.Fatalf("candidate event %+v", sub.Event)
	}
	if again := p.Submit(&a, tenantID, testarn.MustParse(t, roleB), 1, now.Add(time.Second)); again.Changed() {
		t.Fatalf("resubmitting the pending candidate changed %+v", again)
	}
	if same := p.Submit(&a, tenantID, testarn.MustParse(t, roleA), 1, now.Add(time.Second)); same.Changed() {
		t.Fatalf("resubmitting the verified role changed %+v", same)
	}

	outcome := func(r connection.Result, after time.Duration) connection.Outcome {
		return connection.Outcome{Result: r, Version: a.Version, ExternalIDVersion: 1, ExternalIDCurrent: true, CheckedAt: now.Add(after)}
	}
	tests := []struct {
		name     string
		o        connection.Outcome
		step     connection.CandidateStep
		wantRole string
		wantCand connection.Status // "" once replaced
		wantCode string
		dt       connection.DetailType
	}{
		{"verified: replaces the role", outcome(connection.ResultOK, time.Second), connection.CandidateWrite, roleB, "", connection.CodeRoleReplaced, connection.RoleVerified},
		{"denied in the window: retry", outcome(connection.ResultDenied, time.Second), connection.CandidateRetry, "", "", "", ""},
		{"transient: retry later", outcome(connection.ResultTransient, time.Second), connection.CandidateTransient, "", "", "", ""},
		{"denied after the window: dropped", outcome(connection.ResultDenied, p.PropagationWindow), connection.CandidateWrite, roleA, connection.Failed, string(connection.ResultDenied), connection.RoleVerificationFailed},
		{"not enforced: dropped at once", outcome(connection.ResultNotEnforced, time.Second), connection.CandidateWrite, roleA, connection.Failed, string(connection.ResultNotEnforced), connection.RoleVerificationFailed},
	}
	// The stacks that registered the verified role and the candidate (the
	// register handler records them): a replacement carries the
	// candidate's, a drop keeps the connection's.
	a.Stack, a.Candidate.Stack = "stack-of-A", "stack-of-B"
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr, written := applyCandidate(t, p, a, tc.o, tc.step)
			if !written {
				return
			}
			got := tr.After
			if got.RoleARN != tc.wantRole || got.Candidate.Status != tc.wantCand || got.Status != connection.Verified || tr.Event == nil || tr.Event.DetailType != tc.dt || tr.Check == nil {
				t.Fatalf("after %+v, event %+v", got, tr.Event)
			}
			if tc.wantCand == "" {
				if got.Reason.Code != tc.wantCode || got.Candidate != (connection.Candidate{}) || got.ConsecutiveFailures != 0 || got.Stack != "stack-of-B" ||
					tr.Event.PreviousRoleARN != roleA || tr.Event.RoleARN != roleB || !got.VerifiedAt.Equal(tc.o.CheckedAt) {
					t.Fatalf("replacement %+v, event %+v", got, tr.Event)
				}
				return
			}
			// Dropped: the connection is as it was but for the candidate.
			want := a
			want.Version, want.UpdatedAt, want.Candidate.Status, want.Candidate.Reason = a.Version+1, tc.o.CheckedAt.UTC(), connection.Failed, got.Candidate.Reason
			if got != want || got.Candidate.Reason.Code != tc.wantCode || tr.Event.CandidateRoleARN != roleB || tr.Event.Reason != got.Candidate.Reason {
				t.Fatalf("dropped:\n got %+v\nwant %+v\nevent %+v", got, want, tr.Event)
			}
		})
	}

	claimed, err := p.CandidateClaimed(a, outcome(connection.ResultOK, time.Second))
	if err != nil || claimed.After.RoleARN != roleA || claimed.After.Candidate.Status != connection.Failed ||
		claimed.After.Candidate.Reason.Code != connection.CodeRoleClaimed || claimed.Event.DetailType != connection.RoleVerificationFailed {
		t.Fatalf("candidate claimed: %+v, %v", claimed.After, err)
	}

	stale := []struct {
		name string
		c    connection.Connection
		o    connection.Outcome
	}{
		{"another version", a, func() connection.Outcome { o := outcome(connection.ResultOK, time.Second); o.Version--; return o }()},
		{"no candidate", v, connection.Outcome{Result: connection.ResultOK, Version: v.Version, ExternalIDVersion: 1, ExternalIDCurrent: true, CheckedAt: now}},
		{"dropped candidate", claimed.After, connection.Outcome{Result: connection.ResultOK, Version: claimed.After.Version, ExternalIDVersion: 1, ExternalIDCurrent: true, CheckedAt: now}},
		{"job from before a rotation", func() connection.Connection { c := a; c.ExternalIDVersion = 2; return c }(), outcome(connection.ResultOK, time.Second)},
	}
	for _, tc := range stale {
		t.Run("stale: "+tc.name, func(t *testing.T) {
			if _, _, err := p.ApplyCandidate(tc.c, tc.o); !errors.Is(err, connection.ErrStale) {
				t.Fatalf("err %v, want ErrStale", err)
			}
		})
	}
	if _, _, err := p.ApplyCandidate(a, outcome("SOMETHING_NEW", time.Second)); err == nil || errors.Is(err, connection.ErrStale) || !strings.Contains(err.Error(), "SOMETHING_NEW") {
		t.Fatalf("unknown result: err %v, want one naming the result", err)
	}

	// CandidateClaimed applies only to a successful check of the pending
	// candidate of this version.
	refused := []struct {
		name string
		c    connection.Connection
		o    connection.Outcome
	}{
		{"failed check", a, outcome(connection.ResultDenied, time.Second)},
		{"another version", a, func() connection.Outcome { o := outcome(connection.ResultOK, time.Second); o.Version++; return o }()},
		{"no candidate", v, connection.Outcome{Result: connection.ResultOK, Version: v.Version, CheckedAt: now}},
		{"disconnected", func() connection.Connection { c := a; c.Status = connection.Disconnected; return c }(), outcome(connection.ResultOK, time.Second)},
	}
	for _, tc := range refused {
		t.Run("claimed refused: "+tc.name, func(t *testing.T) {
			if tr, err := p.CandidateClaimed(tc.c, tc.o); !errors.Is(err, connection.ErrStale) || tr.Event != nil {
				t.Fatalf("CandidateClaimed = %+v, %v; want ErrStale and no event", tr, err)
			}
		})
	}

	// A new submission while a candidate failed makes a new candidate;
	// ACCESS_LOST, FAILED and PENDING connections are resubmitted as before.
	next := p.Submit(&claimed.After, tenantID, testarn.MustParse(t, "arn:aws:iam::123456789012:role/Third"), 1, now.Add(time.Minute))
	if !next.After.Candidate.Pending() || next.After.Candidate.RoleARN != "arn:aws:iam::123456789012:role/Third" {
		t.Fatalf("new candidate after a failed one: %+v", next.After)
	}
	if d := p.Disconnect(a, 1, now); d.After.Candidate != (connection.Candidate{}) || d.After.RoleARN != roleA {
		t.Fatalf("disconnected with a candidate: %+v", d.After)
	}
	lost := conn(connection.AccessLost, 2, string(connection.ResultDenied))
	if tr := p.Submit(&lost, tenantID, testarn.MustParse(t, roleB), 1, now); tr.After.Status != connection.Pending || tr.After.RoleARN != roleB {
		t.Fatalf("new role while ACCESS_LOST: %+v", tr.After)
	}
}

// DropCandidate fails a pending candidate outside a check, keeping the
// role in use; without a pending candidate, or disconnected, it is stale.
func TestDropCandidate(t *testing.T) {
	p := noJitter()
	now := t0.Add(time.Hour)
	v := conn(connection.Verified, 1, connection.CodeVerified)
	pending := p.Submit(&v, tenantID, testarn.MustParse(t, roleB), 1, now).After
	gone := pending
	gone.Status = connection.Disconnected
	reason := connection.Reason{Code: connection.CodeStackDeleted, Message: "the stack was deleted", Hint: "create it again"}
	tests := []struct {
		name  string
		c     connection.Connection
		stale bool
	}{
		{"pending candidate: dropped", pending, false},
		{"no candidate: stale", v, true},
		{"disconnected: stale", gone, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr, err := p.DropCandidate(tc.c, reason, 2, now.Add(time.Minute))
			if tc.stale {
				if !errors.Is(err, connection.ErrStale) || tr.Event != nil {
					t.Fatalf("DropCandidate = %+v, %v; want ErrStale and no change", tr, err)
				}
				return
			}
			a := tr.After
			if err != nil || a.Status != connection.Verified || a.RoleARN != roleA || a.Candidate.Status != connection.Failed ||
				a.Candidate.Reason != reason || a.Version != tc.c.Version+1 {
				t.Fatalf("DropCandidate = %+v, %v", a, err)
			}
			ev := tr.Event
			if ev == nil || ev.DetailType != connection.RoleVerificationFailed || ev.RoleARN != roleA || ev.CandidateRoleARN != roleB ||
				ev.Reason != reason || ev.Status != connection.Verified || ev.ExternalIDVersion != 2 || ev.Version != a.Version ||
				!ev.OccurredAt.Equal(now.Add(time.Minute)) {
				t.Fatalf("event %+v", ev)
			}
		})
	}
}

// During a rotation's grace, a candidate that trusts only the previous
// external ID does not replace a role in use that trusts the current one
// (it would lose access when the grace ends); it is checked again inside
// the propagation window, as a denial is, then dropped as denied with the
// current ID. A role in use that itself trusts only the previous ID is no
// better, so such a candidate replaces it.
func TestCandidateTrustingOnlyThePreviousID(t *testing.T) {
	p := noJitter()
	now := t0.Add(time.Hour)
	tests := []struct {
		name           string
		inUseCurrent   bool // the role in use verified with the current ID
		status         connection.Status
		after          time.Duration
		step           connection.CandidateStep
		wantRole, code string
	}{
		{"in the propagation window: checked again", true, connection.Verified, time.Second, connection.CandidateRetry, "", ""},
		{"after the window: dropped", true, connection.Verified, p.PropagationWindow, connection.CandidateWrite, roleA, string(connection.ResultDenied)},
		{"the role in use on the previous ID too: replaced", false, connection.Verified, time.Second, connection.CandidateWrite, roleB, connection.CodeRoleReplaced},
		{"the role in use lost access: replaced", true, connection.AccessLost, p.PropagationWindow, connection.CandidateWrite, roleB, connection.CodeRoleReplaced},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := conn(connection.Verified, 0, connection.CodeVerified)
			v.ExternalIDVersion, v.ExternalIDCurrent = 2, tc.inUseCurrent

			if !tc.inUseCurrent {
				v.ExternalIDVersion = 1
			}
			a := p.Submit(&v, tenantID, testarn.MustParse(t, roleB), 2, now).After
			if tc.status == connection.AccessLost {
				// The role in use stopped working while its candidate
				// was pending, which it keeps.
				a.Status, a.Reason.Code = connection.AccessLost, string(connection.ResultDenied)
			}
			o := connection.Outcome{Result: connection.ResultOK, Version: a.Version, ExternalIDVersion: 1, ExternalIDCurrent: false, CheckedAt: now.Add(tc.after)}
			tr, written := applyCandidate(t, p, a, o, tc.step)
			if !written {
				return
			}
			got := tr.After
			code := got.Reason.Code
			if tc.wantRole == roleA {
				code = got.Candidate.Reason.Code
				if got.Candidate.Status != connection.Failed || got.ExternalIDVersion != 2 || !got.ExternalIDCurrent || !strings.Contains(got.Candidate.Reason.Hint, "current external ID") {
					t.Errorf("dropped: %+v", got)
				}
			}
			if got.RoleARN != tc.wantRole || code != tc.code || got.Status != connection.Verified {
				t.Errorf("role %s (%s), status %s; want %s (%s)", got.RoleARN, code, got.Status, tc.wantRole, tc.code)
			}
		})
	}
}

// applyCandidate applies o to a's candidate and checks the step is want;
// it reports whether the step writes (a retry must change nothing).
func applyCandidate(t *testing.T, p connection.Policy, a connection.Connection, o connection.Outcome, want connection.CandidateStep) (connection.Transition, bool) {
	t.Helper()
	tr, step, err := p.ApplyCandidate(a, o)
	if err != nil || step != want {
		t.Fatalf("ApplyCandidate = %v, %v; want step %v", step, err, want)
	}
	if step != connection.CandidateWrite && tr.Changed() {
		t.Fatalf("a retry wrote %+v", tr)
	}
	return tr, step == connection.CandidateWrite
}
