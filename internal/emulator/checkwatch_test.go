package emulator

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/rolecall/rolecall/internal/bus"
	"github.com/rolecall/rolecall/internal/probe"
	"github.com/rolecall/rolecall/internal/verify"
)

// checkWatch wraps the verify worker's checker (Stack.Components.Checker) and
// counts, per role ARN, the checks that started and finished, so a test
// waits for "a check ran" instead of sleeping for it.
type checkWatch struct {
	mu       sync.Mutex
	started  map[string]int
	finished map[string]int
	changed  chan struct{} // closed and replaced on every count change
}

func newCheckWatch() *checkWatch {
	return &checkWatch{started: map[string]int{}, finished: map[string]int{}, changed: make(chan struct{})}
}

// wrap returns c watched.
func (w *checkWatch) wrap(c verify.Checker) verify.Checker {
	return watchedChecker{next: c, w: w}
}

// next is closed when a check next starts or finishes.
func (w *checkWatch) next() <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.changed
}

func (w *checkWatch) count(m map[string]int, role string) {
	w.mu.Lock()
	m[role]++
	close(w.changed)
	w.changed = make(chan struct{})
	w.mu.Unlock()
}

// finishedTotal is how many checks, of every role, have finished.
func (w *checkWatch) finishedTotal() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, v := range w.finished {
		n += v
	}
	return n
}

// waitStarted waits until at least n checks of role have started; it
// fails the test after within.
func (w *checkWatch) waitStarted(t testing.TB, role string, n int, within time.Duration) {
	t.Helper()
	w.wait(t, "started", w.started, role, n, within)
}

// waitFinished waits until at least n checks of role have returned their
// report; it fails the test after within.
func (w *checkWatch) waitFinished(t testing.TB, role string, n int, within time.Duration) {
	t.Helper()
	w.wait(t, "finished", w.finished, role, n, within)
}

func (w *checkWatch) wait(t testing.TB, what string, m map[string]int, role string, n int, within time.Duration) {
	t.Helper()
	if err := w.awaitCount(m, role, n, within); err != nil {
		t.Fatalf("checks of %s %s: %v", role, what, err)
	}
}

// awaitCount waits until m counts at least n checks of role, or returns an
// error after within (for goroutines, which must not fail the test).
func (w *checkWatch) awaitCount(m map[string]int, role string, n int, within time.Duration) error {
	got := 0
	return w.await(nil, within, func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		got = m[role]
		return got >= n
	}, func() string { return fmt.Sprintf("%d, want %d", got, n) })
}

// await calls done until it reports true: again whenever a check starts
// or finishes, and whenever b (when set) publishes an event. After within
// it returns an error with what().
func (w *checkWatch) await(b *bus.Memory, within time.Duration, done func() bool, what func() string) error {
	timeout := time.NewTimer(within)
	defer timeout.Stop()
	var events <-chan struct{}
	for {
		if b != nil {
			events = b.Changed()
		}
		checks := w.next()
		if done() {
			return nil
		}
		select {
		case <-events:
		case <-checks:
		case <-timeout.C:
			return fmt.Errorf("%s after %s", what(), within)
		}
	}
}

type watchedChecker struct {
	next verify.Checker
	w    *checkWatch
}

func (c watchedChecker) Check(ctx context.Context, req probe.Request) probe.Report {
	c.w.count(c.w.started, req.RoleARN)
	r := c.next.Check(ctx, req)
	c.w.count(c.w.finished, req.RoleARN)
	return r
}

// heldChecker starts each check only once until is closed, or its
// context ends (then the check runs on the ended context and fails, as a
// check cut off by the invocation's timeout does).
type heldChecker struct {
	next  verify.Checker
	until <-chan struct{}
}

func (h heldChecker) Check(ctx context.Context, req probe.Request) probe.Report {
	select {
	case <-h.until:
	case <-ctx.Done():
	}
	return h.next.Check(ctx, req)
}
