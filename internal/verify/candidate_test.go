package verify_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/probe"
	"github.com/rolecall/rolecall/internal/store"
	"github.com/rolecall/rolecall/internal/tenant"
	"github.com/rolecall/rolecall/internal/testkit/syncbuf"
	"github.com/rolecall/rolecall/internal/testkit/testarn"
	"github.com/rolecall/rolecall/internal/verify"
)

// conflictOnce makes the first Apply fail with ErrConflict after writing a
// routine check of the role in use, as a concurrent check would.
type conflictOnce struct {
	*store.Memory
	before func()
	done   bool
}

func (s *conflictOnce) Apply(ctx context.Context, t connection.Transition) error {
	if !s.done && s.before != nil {
		s.done = true
		s.before()
	}
	return s.Memory.Apply(ctx, t)
}

// A role submitted for a VERIFIED connection is checked as a candidate
// through the Role Submitted event; the role in use stays in use until the
// candidate verifies, and stays if it fails.
func TestProcessCandidate(t *testing.T) {
	const acct = "123456789012"
	newRole := "arn:aws:iam::123456789012:role/RoleCallV2"
	tests := []struct {
		name       string
		result     connection.Result
		at         time.Duration // after the candidate's submission
		concurrent bool          // a routine check of the role in use is written meanwhile
		wantRole   string
		wantCand   connection.Status
		wantRetry  bool
	}{
		{"verified candidate replaces", connection.ResultOK, time.Second, false, newRole, "", false},
		{"after a concurrent routine check of the role in use", connection.ResultOK, time.Second, true, newRole, "", false},
		{"not enforced is dropped", connection.ResultNotEnforced, time.Second, false, "arn:aws:iam::123456789012:role/RoleCall", connection.Failed, false},
		{"denied in the window is retried", connection.ResultDenied, time.Second, false, "arn:aws:iam::123456789012:role/RoleCall", connection.Pending, true},
		{"denied after the window is dropped", connection.ResultDenied, 3 * time.Minute, false, "arn:aws:iam::123456789012:role/RoleCall", connection.Failed, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			mem := store.NewMemory()
			p := policy()
			subAt := t0.Add(time.Hour)
			c, sub := seedCandidate(t, mem, acct, newRole, subAt)
			st := &conflictOnce{Memory: mem}
			if tc.concurrent {
				st.before = func() {
					cur, _ := mem.GetConnection(ctx, "acme", acct)
					tr, err := p.Apply(cur, connection.Outcome{Result: connection.ResultOK, Version: cur.Version, ExternalIDVersion: 1, ExternalIDCurrent: true, CheckedAt: subAt.Add(tc.at)})
					if err != nil {
						t.Fatal(err)
					}
					if err := mem.Apply(ctx, tr); err != nil {
						t.Fatal(err)
					}
				}
			}
			ch := &scriptedChecker{answer: func(req probe.Request) (connection.Outcome, chan struct{}) {
				if req.RoleARN != newRole {
					t.Errorf("checked %s, want the candidate %s", req.RoleARN, newRole)
				}
				return connection.Outcome{Result: tc.result, Version: req.Version, ExternalIDVersion: req.ExternalIDVersion, ExternalIDCurrent: true, CheckedAt: subAt.Add(tc.at)}, nil
			}}
			w := newWorker(st, ch, nil)
			body, _ := json.Marshal(map[string]any{"detail-type": "Role Submitted", "source": "rolecall", "detail": sub.Event})
			j, fresh, err := w.JobFromMessage(ctx, body)
			if err != nil || !fresh || !j.IsCandidate() {
				t.Fatalf("job from the candidate's event: %+v, %v, %v", j, fresh, err)
			}
			d, err := w.Process(ctx, j, 1)
			if err != nil || (d > 0) != tc.wantRetry {
				t.Fatalf("Process = %s, %v", d, err)
			}
			got, _ := mem.GetConnection(ctx, "acme", acct)
			if got.Status != connection.Verified || got.RoleARN != tc.wantRole || got.Candidate.Status != tc.wantCand {
				t.Fatalf("after: %+v", got)
			}
			evs, _ := mem.Events(ctx, "acme", acct)
			last := evs[len(evs)-1]
			switch {
			case tc.wantCand == "" && (last.DetailType != connection.RoleVerified || last.PreviousRoleARN != c.RoleARN || last.RoleARN != newRole):
				t.Fatalf("replacement event %+v", last)
			case tc.wantCand == connection.Failed && (last.DetailType != connection.RoleVerificationFailed || last.CandidateRoleARN != newRole || got.Candidate.Reason.Code != string(tc.result)):
				t.Fatalf("drop event %+v, candidate %+v", last, got.Candidate)
			case tc.wantCand == connection.Pending && last.EventID != sub.Event.EventID:
				t.Fatalf("a retry wrote event %+v", last)
			}
		})
	}
}

// TestProcessCandidateFailures: a candidate check that cannot be applied
// leaves the role in use and the candidate as they were (or, for a role
// another connection holds, drops the candidate with ROLE_CLAIMED), and
// says whether the job comes back.
func TestProcessCandidateFailures(t *testing.T) {
	const acct = "123456789012"
	newRole := "arn:aws:iam::123456789012:role/Shared"
	boom := errors.New("dynamodb: service unavailable")
	subAt := t0.Add(time.Hour)
	tests := []struct {
		name      string
		result    connection.Result
		st        func(*store.Memory) verify.Store
		setup     func(t *testing.T, mem *store.Memory)
		noCand    bool // the job's connection has no pending candidate
		wantErr   error
		wantRetry bool
		wantCand  connection.Status
		wantCode  string
	}{
		{name: "transient: retried later", result: connection.ResultTransient, wantErr: verify.ErrTransient, wantRetry: true, wantCand: connection.Pending, wantCode: connection.CodeCandidateSubmitted},
		{name: "the write fails", result: connection.ResultOK, st: func(m *store.Memory) verify.Store { return failingStore{Memory: m, applyErr: boom} }, wantErr: boom, wantCand: connection.Pending, wantCode: connection.CodeCandidateSubmitted},
		{name: "the connection is gone", result: connection.ResultOK, st: func(m *store.Memory) verify.Store {
			return failingStore{Memory: m, applyErr: fmt.Errorf("apply: %w", store.ErrNotFound)}
		}, wantCand: connection.Pending, wantCode: connection.CodeCandidateSubmitted},
		{name: "no pending candidate: dropped", result: connection.ResultOK, noCand: true, wantCand: connection.Pending, wantCode: connection.CodeCandidateSubmitted},
		{name: "another tenant holds the role", result: connection.ResultOK, setup: func(t *testing.T, mem *store.Memory) {
			// bravo's connection to the same role verified first: it holds the claim.
			seedTenant(t, mem, "bravo", tenant.NewExternalID())
			p := policy()
			sub := p.Submit(nil, "bravo", testarn.MustParse(t, newRole), 1, t0)
			ok, err := p.Apply(sub.After, connection.Outcome{Result: connection.ResultOK, Version: sub.After.Version, ExternalIDVersion: 1, ExternalIDCurrent: true, CheckedAt: t0.Add(time.Second)})
			if err != nil {
				t.Fatal(err)
			}
			for _, tr := range []connection.Transition{sub, ok} {
				if err := mem.Apply(context.Background(), tr); err != nil {
					t.Fatal(err)
				}
			}
		}, wantCand: connection.Failed, wantCode: connection.CodeRoleClaimed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			mem := store.NewMemory()
			if tc.setup != nil {
				tc.setup(t, mem)
			}
			c, sub := seedCandidate(t, mem, acct, newRole, subAt)
			var st verify.Store = mem
			if tc.st != nil {
				st = tc.st(mem)
			}
			ch := &fakeChecker{result: tc.result, now: subAt.Add(time.Second)}
			w := newWorker(st, ch, nil)
			tn, _ := mem.GetTenant(ctx, "acme")
			j := probe.JobsFor(sub.After, tn, probe.WhySubmitted, subAt)[1]
			if tc.noCand {
				j.Connection = c
			}
			d, err := w.Process(ctx, j, 1)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) || (d > 0) != tc.wantRetry {
				t.Fatalf("Process = %s, %v; want error %v, retry %v", d, err, tc.wantErr, tc.wantRetry)
			}
			if tc.noCand && ch.calls() != 0 {
				t.Fatal("a job without a pending candidate was checked")
			}
			got, _ := mem.GetConnection(ctx, "acme", acct)
			if got.Status != connection.Verified || got.RoleARN != c.RoleARN || got.Candidate.Status != tc.wantCand || got.Candidate.Reason.Code != tc.wantCode {
				t.Fatalf("after: %+v", got)
			}
		})
	}
}

// TestRedeliveredCandidateJobsAreNotDueForTheSweeper: a candidate's
// job that comes back by redelivery (denied inside the propagation window,
// or a transient STS failure) must not leave the connection due, or the
// sweep queues a second chain of candidate checks (JobsFor adds the
// candidate's job next to the role's).
func TestRedeliveredCandidateJobsAreNotDueForTheSweeper(t *testing.T) {
	for _, r := range []connection.Result{connection.ResultDenied, connection.ResultTransient} {
		t.Run(string(r), func(t *testing.T) {
			ctx := context.Background()
			const acct = "123456789012"
			st := store.NewMemory()
			// The role in use was verified at t0+1s (next routine check at
			// t0+1h0m1s); the candidate is submitted at t0+10m.
			subAt := t0.Add(10 * time.Minute)
			_, sub := seedCandidate(t, st, acct, "arn:aws:iam::123456789012:role/RoleCallV2", subAt)
			ch := &fakeChecker{result: r, now: subAt.Add(3 * time.Second)}
			w := newWorker(st, ch, nil)
			tn, _ := st.GetTenant(ctx, "acme")
			j := probe.JobsFor(sub.After, tn, probe.WhySubmitted, subAt)[1]
			for receive := 1; receive <= 3; receive++ {
				d, _ := w.Process(ctx, j, receive)
				if d <= 0 {
					return // decided: no redelivery
				}
				redeliverAt := ch.now.Add(d)
				p, err := st.Due(ctx, store.ShardOf("acme", acct), redeliverAt, "", 10)
				if err != nil {
					t.Fatal(err)
				}
				if len(p.Items) != 0 {
					got, _ := st.GetConnection(ctx, "acme", acct)
					t.Fatalf("delivery %d: candidate job comes back at %s, but the connection is due before (nextCheckAt %s): a sweep queues a second candidate chain",
						receive, redeliverAt.Format(time.TimeOnly), got.NextCheckAt.Format(time.TimeOnly))
				}
				ch.now = redeliverAt
			}
		})
	}
}

// TestCandidateHoldFailureIsOnlyLogged: when the write that holds the sweep
// off a candidate's redelivery fails, the job is still redelivered after
// its delay (a duplicate from the sweep is then dropped as stale), and the
// failure is logged.
func TestCandidateHoldFailureIsOnlyLogged(t *testing.T) {
	ctx := context.Background()
	const acct = "123456789012"
	mem := store.NewMemory()
	subAt := t0.Add(10 * time.Minute)
	_, sub := seedCandidate(t, mem, acct, "arn:aws:iam::123456789012:role/RoleCallV2", subAt)
	logs := &syncbuf.Buffer{}
	w := newWorker(failingStore{Memory: mem, applyErr: errors.New("dynamodb: throttled")}, &fakeChecker{result: connection.ResultTransient, now: subAt.Add(3 * time.Second)}, nil)
	w.Log = slog.New(slog.NewTextHandler(logs, nil))
	tn, _ := mem.GetTenant(ctx, "acme")
	d, err := w.Process(ctx, probe.JobsFor(sub.After, tn, probe.WhySubmitted, subAt)[1], 1)
	if d <= 0 || !errors.Is(err, verify.ErrTransient) {
		t.Fatalf("Process = %v, %v; want a redelivery after a delay", d, err)
	}
	if !strings.Contains(logs.String(), "not held from the sweep") {
		t.Errorf("the failed hold was not logged:\n%s", logs.String())
	}
	if got, _ := mem.GetConnection(ctx, "acme", acct); got != sub.After {
		t.Errorf("the connection changed: %+v", got)
	}
}
