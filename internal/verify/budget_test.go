package verify_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/probe"
	"github.com/rolecall/rolecall/internal/store"
	"github.com/rolecall/rolecall/internal/stsbudget"
	"github.com/rolecall/rolecall/internal/stsclient"
	"github.com/rolecall/rolecall/internal/testkit/testclock"
	"github.com/rolecall/rolecall/internal/verify"
)

// recordingBudget records what the worker asks of the budget, in order.
type recordingBudget struct {
	mu    sync.Mutex
	calls []string
	err   error // of Take
}

func (b *recordingBudget) record(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.calls = append(b.calls, s)
}

func (b *recordingBudget) Take(ctx context.Context, n int) (context.Context, error) {
	b.record(fmt.Sprintf("take %d", n))
	return stsbudget.WithRegion(ctx, "eu-west-1"), b.err
}

func (b *recordingBudget) Throttled(ctx context.Context) {
	b.record("throttled in " + stsbudget.RegionOf(ctx))
}

// orderedChecker records the check among the budget's calls.
type orderedChecker struct {
	budget *recordingBudget
	rep    probe.Report
}

func (c *orderedChecker) Check(ctx context.Context, req probe.Request) probe.Report {
	c.budget.record("check in " + stsbudget.RegionOf(ctx))
	rep := c.rep
	rep.Outcome.Version, rep.Outcome.ExternalIDVersion, rep.Outcome.CheckedAt = req.Version, req.ExternalIDVersion, t0.Add(2*time.Second)
	return rep
}

func TestWorkerTakesTheBudgetBeforeEachCheck(t *testing.T) {
	throttled := probe.Report{Outcome: connection.Outcome{Result: connection.ResultTransient, Detail: "Throttling"},
		Steps: []probe.Step{{Name: probe.StepAssume, Code: "Throttling"}}}
	ok := probe.Report{Outcome: connection.Outcome{Result: connection.ResultOK}, Steps: []probe.Step{{OK: true}, {OK: true}}}
	previous := probe.Report{Outcome: connection.Outcome{Result: connection.ResultOK},
		Steps: []probe.Step{{Name: probe.StepAssume}, {Name: probe.StepPrevious, OK: true}, {OK: true}, {OK: true}}}
	timeout := probe.Report{Outcome: connection.Outcome{Result: connection.ResultTransient, Detail: "Timeout"}, Steps: []probe.Step{{Code: "Timeout"}}}
	for _, tc := range []struct {
		name    string
		rep     probe.Report
		takeErr error
		want    []string
		wantErr error
	}{
		{"ok check", ok, nil, []string{"take 3", "check in eu-west-1"}, nil},
		{"throttled check slows the budget", throttled, nil, []string{"take 3", "check in eu-west-1", "throttled in eu-west-1"}, verify.ErrTransient},
		{"other transient failure does not", timeout, nil, []string{"take 3", "check in eu-west-1"}, verify.ErrTransient},
		{"no tokens before the deadline: no check", ok, context.DeadlineExceeded, []string{"take 3"}, context.DeadlineExceeded},
		// The checker pays for its fourth probe itself (stsbudget.Pay),
		// before it makes it: the worker books nothing after the check.
		{"the previous external ID's probe is not booked again", previous, nil, []string{"take 3", "check in eu-west-1"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := store.NewMemory()
			c := seed(t, st, "111122223333", connection.Verified)
			before := st.Snapshot()
			b := &recordingBudget{err: tc.takeErr}
			w := newWorker(st, &orderedChecker{budget: b, rep: tc.rep}, nil)
			w.Budget = b
			_, err := w.Process(context.Background(), job(c, probe.WhyScheduled), 1)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("Process: %v, want %v", err, tc.wantErr)
			}
			if got := b.calls; !slices.Equal(got, tc.want) {
				t.Fatalf("calls %q, want %q", got, tc.want)
			}
			if tc.takeErr != nil && st.Snapshot() != before {
				t.Fatal("a check that never ran changed the store")
			}
		})
	}
	if stsbudget.CallsPerCheck != 3 {
		t.Fatalf("CallsPerCheck %d: the table above expects 3", stsbudget.CallsPerCheck)
	}
}

func TestByQueueRunsEachQueueOnItsWorker(t *testing.T) {
	const routineARN, priorityARN = "arn:aws:sqs:us-east-1:111122223333:rolecall-dev-verify", "arn:aws:sqs:us-east-1:111122223333:rolecall-dev-priority"
	st := store.NewMemory()
	var recs []events.SQSMessage
	for i, arn := range []string{routineARN, priorityARN, priorityARN, "arn:aws:sqs:us-east-1:111122223333:other"} {
		c := seed(t, st, fmt.Sprintf("1000000000%02d", i), connection.Verified)
		b, _ := json.Marshal(job(c, probe.WhyScheduled))
		recs = append(recs, events.SQSMessage{MessageId: fmt.Sprint(i), Body: string(b), EventSourceARN: arn})
	}
	routine, priority := &recordingBudget{}, &recordingBudget{err: errors.New("no tokens")}
	ok := probe.Report{Outcome: connection.Outcome{Result: connection.ResultOK}}
	rw := newWorker(st, &orderedChecker{budget: routine, rep: ok}, nil)
	rw.Budget = routine
	pw := newWorker(st, &orderedChecker{budget: priority, rep: ok}, nil)
	pw.Budget = priority
	rw.Concurrency, pw.Concurrency = 1, 1 // one order of calls to assert
	resp, err := verify.ByQueue{Workers: map[string]*verify.Worker{routineARN: rw, priorityARN: pw}, Default: rw}.
		Handle(context.Background(), events.SQSEvent{Records: recs})
	if err != nil {
		t.Fatal(err)
	}
	// The routine worker checked its message and the unknown queue's; the
	// priority worker's budget refused both of its messages, which come
	// back.
	if want := []string{"take 3", "check in eu-west-1", "take 3", "check in eu-west-1"}; !slices.Equal(routine.calls, want) {
		t.Errorf("routine budget calls %q, want %q", routine.calls, want)
	}
	if want := []string{"take 3", "take 3"}; !slices.Equal(priority.calls, want) {
		t.Errorf("priority budget calls %q, want %q", priority.calls, want)
	}
	var failed []string
	for _, f := range resp.BatchItemFailures {
		failed = append(failed, f.ItemIdentifier)
	}
	slices.Sort(failed)
	if !slices.Equal(failed, []string{"1", "2"}) {
		t.Errorf("failures %q, want the priority queue's 1 and 2", failed)
	}
}

type unavailableSTS struct {
	mu    sync.Mutex
	calls []time.Time
}

func (s *unavailableSTS) AssumeRole(ctx context.Context, in probe.AssumeRequest) (probe.Session, error) {
	s.mu.Lock()
	s.calls = append(s.calls, time.Now())
	s.mu.Unlock()
	return probe.Session{}, &probe.STSError{Kind: probe.ErrTransient, Code: "HTTP503", Err: fmt.Errorf("service unavailable")}
}

// TestCheckerRetriesStayInsideTheBudget: during an STS outage every probe
// is retried; each retry pays a token of the budget before it is made, so
// an instance never makes more calls in a one-second window than its
// share, retries included.
func TestCheckerRetriesStayInsideTheBudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const limit = 30.0 // one instance's share, STS calls a second
		st := store.NewMemory()
		recs := scheduledBatch(t, st, 60)
		sts := &unavailableSTS{}
		budget, err := stsbudget.NewRegions(nil, limit, stsbudget.CallsPerCheck, stsbudget.RealClock{})
		if err != nil {
			t.Fatal(err)
		}
		w := newWorker(st, stsclient.Checker(sts, stsclient.Options{Log: slog.New(slog.DiscardHandler)}), nil)
		w.Budget, w.Concurrency = budget, stsbudget.InFlight
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := w.Handle(ctx, events.SQSEvent{Records: recs}); err != nil {
			t.Fatal(err)
		}
		if peak := testclock.BusiestSecond(sts.calls); float64(peak) > limit {
			t.Fatalf("%d STS calls in one second from an instance whose limit is %.0f (%d calls for %d checks)", peak, limit, len(sts.calls), len(recs))
		}
	})
}

// graceSTS answers after an STS round trip like a role whose trust policy
// still names only the previous external ID, during a rotation's grace:
// every check makes its fourth probe.
type graceSTS struct {
	mu    sync.Mutex
	calls []time.Time
}

const previousExternalID = "rc-PREVIOUSPREVIOUSPREVIOUSPREVIOU"

func (s *graceSTS) AssumeRole(ctx context.Context, in probe.AssumeRequest) (probe.Session, error) {
	s.mu.Lock()
	s.calls = append(s.calls, time.Now())
	s.mu.Unlock()
	time.Sleep(100 * time.Millisecond)
	if in.ExternalID != previousExternalID {
		return probe.Session{}, &probe.STSError{Kind: probe.ErrDenied, Code: "AccessDenied", Err: errors.New("denied")}
	}
	return probe.Session{AssumedRoleARN: "arn:aws:sts::" + in.RoleARN[13:25] + ":assumed-role/RoleCall/s", AccountID: in.RoleARN[13:25]}, nil
}

// TestPreviousExternalIDProbesStayInsideTheBudget: during a rotation's
// grace, a check whose current external ID is denied makes a fourth call,
// with the previous one. It is paid before it is made, like a retry, so an
// instance never makes more calls in a one-second window than its share,
// not even while the checks admitted before it are still running.
func TestPreviousExternalIDProbesStayInsideTheBudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const limit = 30.0 // one instance's share, STS calls a second
		st := store.NewMemory()
		recs := scheduledBatch(t, st, 120)
		for i := range recs {
			var j probe.Job
			if err := json.Unmarshal([]byte(recs[i].Body), &j); err != nil {
				t.Fatal(err)
			}
			j.PreviousExternalID = previousExternalID
			b, _ := json.Marshal(j)
			recs[i].Body = string(b)
		}
		sts := &graceSTS{}
		budget, err := stsbudget.NewRegions(nil, limit, stsbudget.CallsPerCheck, stsbudget.RealClock{})
		if err != nil {
			t.Fatal(err)
		}
		w := newWorker(st, stsclient.Checker(sts, stsclient.Options{Log: slog.New(slog.DiscardHandler)}), nil)
		w.Budget, w.Concurrency = budget, stsbudget.InFlight
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := w.Handle(ctx, events.SQSEvent{Records: recs}); err != nil {
			t.Fatal(err)
		}
		if n := len(sts.calls); n != 4*len(recs) {
			t.Fatalf("%d STS calls for %d checks, want 4 each", n, len(recs))
		}
		if peak := testclock.BusiestSecond(sts.calls); float64(peak) > limit {
			t.Fatalf("%d STS calls in one second from an instance whose limit is %.0f", peak, limit)
		}
	})
}

type throttleFirstSTS struct {
	mu    sync.Mutex
	seen  map[string]bool
	calls int
}

func (s *throttleFirstSTS) AssumeRole(ctx context.Context, in probe.AssumeRequest) (probe.Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if !s.seen[in.ExternalID] {
		s.seen[in.ExternalID] = true
		return probe.Session{}, &probe.STSError{Kind: probe.ErrTransient, Code: "Throttling", Err: errors.New("Rate exceeded")}
	}
	if in.ExternalID != externalID {
		return probe.Session{}, &probe.STSError{Kind: probe.ErrDenied, Code: "AccessDenied", Err: errors.New("denied")}
	}
	return probe.Session{AssumedRoleARN: "arn:aws:sts::111122223333:assumed-role/RoleCall/s", AccountID: "111122223333"}, nil
}

// TestThrottlingRetriedToSuccessSlowsTheBudget: a probe that STS throttled
// and that succeeded on its retry still slows the budget down.
func TestThrottlingRetriedToSuccessSlowsTheBudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := store.NewMemory()
		c := seed(t, st, "111122223333", connection.Verified)
		sts := &throttleFirstSTS{seen: map[string]bool{}}
		budget, err := stsbudget.NewRegions(nil, 30, stsbudget.CallsPerCheck, stsbudget.RealClock{})
		if err != nil {
			t.Fatal(err)
		}
		w := newWorker(st, stsclient.Checker(sts, stsclient.Options{Log: slog.New(slog.DiscardHandler)}), nil)
		w.Budget = budget
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := w.Process(ctx, job(c, probe.WhyScheduled), 1); err != nil {
			t.Fatal(err)
		}
		if budget.Throttles() == 0 {
			t.Fatalf("STS throttled all %d probes of the check (%d calls for %d tokens); the budget was never slowed down", 3, sts.calls, stsbudget.CallsPerCheck)
		}
	})
}

// slowSTS answers after 5 s (or when ctx ends) from slowFrom on.
type slowSTS struct{ slowFrom time.Time }

func (s slowSTS) AssumeRole(ctx context.Context, in probe.AssumeRequest) (probe.Session, error) {
	if !time.Now().Before(s.slowFrom) {
		select {
		case <-ctx.Done():
			return probe.Session{}, ctx.Err()
		case <-time.After(5 * time.Second):
		}
	}
	if in.ExternalID != externalID {
		return probe.Session{}, &probe.STSError{Kind: probe.ErrDenied, Code: "AccessDenied", Err: errors.New("denied")}
	}
	return probe.Session{AssumedRoleARN: "arn:aws:sts::" + in.RoleARN[13:25] + ":assumed-role/RoleCall/s", AccountID: in.RoleARN[13:25]}, nil
}

// TestHandleReturnsBeforeTheInvocationDeadline: checks admitted shortly
// before the invocation's deadline, whose STS calls then hang, are cut
// short in time for Handle to write their outcomes and answer the batch
// before Lambda stops the invocation (which loses the whole batch).
func TestHandleReturnsBeforeTheInvocationDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := store.NewMemory()
		recs := scheduledBatch(t, st, 300)
		start := time.Now()
		deadline := start.Add(30 * time.Second)
		budget, err := stsbudget.NewRegions(nil, 30, stsbudget.CallsPerCheck, stsbudget.RealClock{})
		if err != nil {
			t.Fatal(err)
		}
		w := newWorker(st, stsclient.Checker(slowSTS{slowFrom: deadline.Add(-3 * time.Second)}, stsclient.Options{Log: slog.New(slog.DiscardHandler)}), nil)
		w.Budget, w.Concurrency = budget, stsbudget.InFlight
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		defer cancel()
		resp, err := w.Handle(ctx, events.SQSEvent{Records: recs})
		if err != nil {
			t.Fatal(err)
		}
		if end := time.Now(); !end.Before(deadline) {
			t.Fatalf("Handle returned %s after the invocation's deadline (%d failures reported): Lambda has already timed out the batch", end.Sub(deadline), len(resp.BatchItemFailures))
		}
	})
}
