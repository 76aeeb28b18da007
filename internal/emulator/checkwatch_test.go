package emulator

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/rolecall/rolecall/internal/probe"
	"github.com/rolecall/rolecall/internal/verify"
)

// checkWatch wraps the verify worker's checker (Hooks.WrapChecker) and
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

// wrap is a Hooks.WrapChecker.
func (w *checkWatch) wrap(c verify.Checker) verify.Checker {
	return watchedChecker{next: c, w: w}
}

func (w *checkWatch) count(m map[string]int, role string) {
	w.mu.Lock()
	m[role]++
	close(w.changed)
	w.changed = make(chan struct{})
	w.mu.Unlock()
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
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	for {
		w.mu.Lock()
		got, ch := m[role], w.changed
		w.mu.Unlock()
		if got >= n {
			return
		}
		select {
		case <-ch:
		case <-ctx.Done():
			t.Fatalf("%d checks of %s %s after %s, want %d", got, role, what, within, n)
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
