package emulator

import (
	"context"
	"errors"
	"log/slog"
	"reflect"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rolecall/rolecall"
	"github.com/rolecall/rolecall/internal/bus"
	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/queue"
	"github.com/rolecall/rolecall/internal/stack"
	"github.com/rolecall/rolecall/internal/store"
	"github.com/rolecall/rolecall/internal/tenant"
	"github.com/rolecall/rolecall/internal/testkit/logcapture"
	"github.com/rolecall/rolecall/internal/verify"
)

func TestAccepted(t *testing.T) {
	a, b, c := bus.Entry{DetailType: "a"}, bus.Entry{DetailType: "b"}, bus.Entry{DetailType: "c"}
	tests := []struct {
		name   string
		failed []bus.Failure
		want   []bus.Entry
	}{
		{"none refused", nil, []bus.Entry{a, b, c}},
		{"the middle one refused", []bus.Failure{{Index: 1}}, []bus.Entry{a, c}},
		{"first and last refused", []bus.Failure{{Index: 2}, {Index: 0}}, []bus.Entry{b}},
		{"all refused", []bus.Failure{{Index: 0}, {Index: 1}, {Index: 2}}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := accepted([]bus.Entry{a, b, c}, tc.failed); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("accepted %v, want %v", got, tc.want)
			}
		})
	}
}

// refusingPublisher refuses every event of the first refuse calls to
// Publish and publishes the rest; it records the IDs published.
type refusingPublisher struct {
	PublishHandler // Handle is not used by the outbox feed

	mu        sync.Mutex
	refuse    int
	calls     int
	published []string
}

func (p *refusingPublisher) Publish(ctx context.Context, evs []connection.Event) ([]int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls++
	if p.calls <= p.refuse {
		failed := make([]int, len(evs))
		for i := range failed {
			failed[i] = i
		}
		return failed, errors.New("refused (injected)")
	}
	for _, ev := range evs {
		p.published = append(p.published, ev.EventID)
	}
	return nil, nil
}

func (p *refusingPublisher) state() (calls int, published []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls, slices.Clone(p.published)
}

// outboxWithEvents is an embedded store whose outbox holds the two events
// of an external ID rotation without grace; it returns their IDs.
func outboxWithEvents(t *testing.T) (*store.Memory, []string) {
	t.Helper()
	ctx := context.Background()
	mem := store.NewMemory()
	acme := tenant.Tenant{ID: "acme", ExternalID: "ext-1", ExternalIDVersion: 1}
	if err := mem.CreateTenant(ctx, acme); err != nil {
		t.Fatal(err)
	}
	if err := mem.RotateExternalID(ctx, acme, tenant.Tenant{ID: "acme", ExternalID: "ext-2", ExternalIDVersion: 2}); err != nil {
		t.Fatal(err)
	}
	evs, _, err := mem.ReadOutbox(ctx, 0, outboxBatch)
	if err != nil || len(evs) != 2 {
		t.Fatalf("outbox %v, %v: want two events", evs, err)
	}
	return mem, []string{evs[0].EventID, evs[1].EventID}
}

// TestOutboxFeedStopDuringRetry: stopping the feed while it waits to retry
// a refused batch ends the wait at once (no time passes on the bubble's
// clock), and drain then publishes the batch the stop interrupted.
func TestOutboxFeedStopDuringRetry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mem, ids := outboxWithEvents(t)
		pub := &refusingPublisher{refuse: 1}
		f := &outboxFeed{mem: mem, pub: pub, log: slog.New(slog.DiscardHandler)}
		ctx, stop := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); f.run(ctx) }()

		synctest.Wait() // run waits to retry the refused batch
		if calls, published := pub.state(); calls != 1 || len(published) != 0 {
			t.Fatalf("before the stop: %d publish calls, published %v; want 1 refused call", calls, published)
		}
		start := time.Now()
		stop()
		<-done
		if waited := time.Since(start); waited != 0 {
			t.Errorf("run returned %v after the stop; want at once", waited)
		}
		if len(f.left) != 2 {
			t.Fatalf("run left %d events for drain, want the refused 2", len(f.left))
		}

		f.drain(context.Background())
		if calls, published := pub.state(); calls != 2 || !slices.Equal(published, ids) {
			t.Errorf("after drain: %d publish calls, published %v; want 2 calls publishing %v", calls, published, ids)
		}
		if f.left != nil {
			t.Errorf("drain kept %d events", len(f.left))
		}
	})
}

// TestOutboxFeedRetries: a refused batch is retried after 200ms, 400ms,
// 800ms and 1.6s, then given up and logged; a stopped drain tries each
// batch once and gives up on (and logs) the refused ones without waiting.
func TestOutboxFeedRetries(t *testing.T) {
	tests := []struct {
		name      string
		stopped   bool
		refuse    int
		wantCalls int
		wantWait  time.Duration
		wantPub   bool
	}{
		{"refused until the last attempt", false, 4, 5, 3 * time.Second, true},
		{"refused every time", false, 99, deliveryAttempts, 3 * time.Second, false},
		{"refused twice", false, 2, 3, 600 * time.Millisecond, true},
		{"refused once", false, 1, 2, 200 * time.Millisecond, true},
		{"stopped drain, refused", true, 99, 1, 0, false},
		{"stopped drain, accepted", true, 0, 1, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				mem, ids := outboxWithEvents(t)
				pub := &refusingPublisher{refuse: tc.refuse}
				logs := logcapture.New(nil)
				f := &outboxFeed{mem: mem, pub: pub, log: slog.New(logs)}
				ctx, cancel := context.WithCancel(context.Background())
				if tc.stopped {
					cancel()
				}
				defer cancel()
				start := time.Now()
				f.drain(ctx)
				calls, published := pub.state()
				if waited := time.Since(start); calls != tc.wantCalls || waited != tc.wantWait {
					t.Errorf("%d publish calls in %v, want %d in %v", calls, waited, tc.wantCalls, tc.wantWait)
				}
				if got := slices.Equal(published, ids); got != tc.wantPub {
					t.Errorf("published %v, want the events published: %v", published, tc.wantPub)
				}
				if got, want := logs.Count("events not published"), map[bool]int{true: 0, false: 1}[tc.wantPub]; got != want {
					t.Errorf("%d logs of events not published, want %d", got, want)
				}
			})
		})
	}
}

// failingQueue fails every Receive.
type failingQueue struct {
	VerifyQueue
	mu       sync.Mutex
	receives int
}

func (q *failingQueue) Receive(ctx context.Context, max int, wait time.Duration) ([]queue.Message, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.receives++
	return nil, errors.New("queue unreachable (injected)")
}

// TestVerifyLoopStopsDuringPause: after a failed receive the verify loop
// pauses a second before the next; stopping it ends the pause at once.
func TestVerifyLoopStopsDuringPause(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := &failingQueue{}
		s := &Server{Stack: &Stack{Queue: q}, log: slog.New(slog.DiscardHandler)}
		ctx, stop := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); s.verifyLoop(ctx) }()

		synctest.Wait()
		start := time.Now()
		time.Sleep(time.Second) // the bubble's clock: the pause ends, the loop receives again
		synctest.Wait()
		q.mu.Lock()
		receives := q.receives
		q.mu.Unlock()
		if receives != 2 {
			t.Errorf("%d receives after one pause, want 2", receives)
		}
		stop()
		<-done
		if waited := time.Since(start); waited != time.Second {
			t.Errorf("the loop ended %v after its second receive; want at once", waited-time.Second)
		}
	})
}

// hangingPublisher blocks each Publish until its context ends, like a bus
// that stopped answering, and records whether the context was cancelled.
type hangingPublisher struct {
	PublishHandler
	cancelled chan error
}

func (p *hangingPublisher) Publish(ctx context.Context, evs []connection.Event) ([]int, error) {
	<-ctx.Done()
	p.cancelled <- ctx.Err()
	failed := make([]int, len(evs))
	for i := range failed {
		failed[i] = i
	}
	return failed, ctx.Err()
}

// TestOutboxDrainIsBoundedByItsDeadline: a bus that hangs during drain
// cannot hold serve's shutdown past drain's deadline; the events are
// logged as not published.
func TestOutboxDrainIsBoundedByItsDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mem, _ := outboxWithEvents(t)
		pub := &hangingPublisher{cancelled: make(chan error, 8)}
		logs := logcapture.New(nil)
		f := &outboxFeed{mem: mem, pub: pub, log: slog.New(logs)}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		start := time.Now()
		f.drain(ctx)
		if took := time.Since(start); took != 30*time.Second {
			t.Errorf("drain took %v, want its 30s deadline", took)
		}
		if err := <-pub.cancelled; !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("the hanging publish ended with %v, want the drain's deadline", err)
		}
		if n := logs.Count("events not published"); n == 0 {
			t.Error("events cut off by the deadline were not logged")
		}
	})
}

// TestOutboxRunStopWhileTheBusHangs: a stop does not cancel a publish in
// progress, but the publish ends after the function's timeout, so a bus
// that stopped answering holds serve's stop no longer; drain gets the
// batch.
func TestOutboxRunStopWhileTheBusHangs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mem, _ := outboxWithEvents(t)
		pub := &hangingPublisher{cancelled: make(chan error, 8)}
		f := &outboxFeed{mem: mem, pub: pub, log: slog.New(slog.DiscardHandler)}
		// The publish hangs when the stop comes.
		if waited := stopWhenSettled(f.run); waited != invocationTimeout {
			t.Errorf("run returned %v after the stop; want the function's timeout, %v", waited, invocationTimeout)
		}
		if err := <-pub.cancelled; !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("the hanging publish ended with %v, want its timeout", err)
		}
		if len(f.left) != 2 {
			t.Errorf("run left %d events for drain, want 2", len(f.left))
		}
	})
}

// hangingDeleteQueue hands out one message, then waits for receives to
// end; each Delete blocks until its context ends, like a queue that
// stopped answering.
type hangingDeleteQueue struct {
	VerifyQueue
	mu      sync.Mutex
	given   bool
	deletes chan error
}

func (q *hangingDeleteQueue) Receive(ctx context.Context, _ int, _ time.Duration) ([]queue.Message, error) {
	q.mu.Lock()
	given := q.given
	q.given = true
	q.mu.Unlock()
	if !given {
		return []queue.Message{{ID: "m-1", ReceiptHandle: "rh-1", Body: "not a job", ReceiveCount: 1}}, nil
	}
	<-ctx.Done()
	return nil, ctx.Err()
}

func (q *hangingDeleteQueue) Delete(ctx context.Context, _ string) error {
	<-ctx.Done()
	q.deletes <- ctx.Err()
	return ctx.Err()
}

// TestVerifyLoopDeleteHasADeadline: a stop does not cancel the delete of a
// handled message, but a queue that stops answering holds the loop no
// longer than deleteTimeout.
func TestVerifyLoopDeleteHasADeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := &hangingDeleteQueue{deletes: make(chan error, 1)}
		s := &Server{Stack: &Stack{Queue: q, Handlers: Handlers{Verify: &verify.ByQueue{Default: &verify.Worker{Log: slog.New(slog.DiscardHandler)}}}},
			log: slog.New(slog.DiscardHandler)}
		// The delete hangs when the stop comes.
		if waited := stopWhenSettled(s.verifyLoop); waited != deleteTimeout {
			t.Errorf("the loop ended %v after the stop; want the delete's deadline, %v", waited, deleteTimeout)
		}
		if err := <-q.deletes; !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("the delete ended with %v, want its deadline", err)
		}
	})
}

// stopWhenSettled runs run in a synctest bubble's goroutine until every
// goroutine of the bubble is blocked, then cancels run's context and
// returns how long run took to return after that, on the bubble's clock.
func stopWhenSettled(run func(context.Context)) time.Duration {
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); run(ctx) }()
	synctest.Wait()
	start := time.Now()
	stop()
	<-done
	return time.Since(start)
}

// TestInvocationTimeoutIsTheFunctions: serve cuts a publish or verify
// batch off when the deployed function would be, so the constant must be
// template.yaml's Globals timeout, which neither function overrides.
func TestInvocationTimeoutIsTheFunctions(t *testing.T) {
	tm, err := stack.ParseTemplate("template.yaml", rolecall.Template())
	if err != nil {
		t.Fatal(err)
	}
	globals, _ := tm["Globals"].(map[string]any)
	fn, _ := globals["Function"].(map[string]any)
	if to, ok := fn["Timeout"].(int); !ok || time.Duration(to)*time.Second != invocationTimeout {
		t.Errorf("Globals Function Timeout = %v, invocationTimeout = %v", fn["Timeout"], invocationTimeout)
	}
	fns := tm.Resources("AWS::Serverless::Function")
	for _, id := range []string{"PublishFunction", "VerifyFunction"} {
		r, ok := fns[id]
		if !ok {
			t.Errorf("template.yaml has no %s", id)
			continue
		}
		if to, set := stack.Properties(r)["Timeout"]; set {
			t.Errorf("%s overrides the Globals timeout with %v", id, to)
		}
	}
}
