package verify_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/probe"
	"github.com/rolecall/rolecall/internal/store"
)

// scriptedChecker answers each check with what answer returns; a check can
// wait on a gate so tests decide the order in which outcomes are written.
type scriptedChecker struct {
	mu     sync.Mutex
	answer func(req probe.Request) (connection.Outcome, chan struct{})
	seen   []probe.Request
}

func (s *scriptedChecker) Check(ctx context.Context, req probe.Request) probe.Report {
	s.mu.Lock()
	s.seen = append(s.seen, req)
	o, gate := s.answer(req)
	s.mu.Unlock()
	if gate != nil {
		<-gate
	}
	return probe.Report{Outcome: o}
}

// lose turns a VERIFIED connection into ACCESS_LOST.
func lose(t *testing.T, st *store.Memory, c connection.Connection) connection.Connection {
	t.Helper()
	p := policy()
	for i := range p.LostAfter {
		tr, err := p.Apply(c, connection.Outcome{Result: connection.ResultDenied, Version: c.Version, ExternalIDVersion: 1, CheckedAt: t0.Add(time.Duration(i+2) * time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Apply(context.Background(), tr); err != nil {
			t.Fatal(err)
		}
		c = tr.After
	}
	if c.Status != connection.AccessLost {
		t.Fatalf("setup: %+v", c)
	}
	return c
}

// A success computed before a newer failing check, written after it, does
// not restore the connection (and the failure the newer check counted
// stays counted).
func TestProcessOlderSuccessDoesNotRestore(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	c := lose(t, st, seed(t, st, "123456789012", connection.Verified))
	gate, started := make(chan struct{}), make(chan struct{})
	calls := 0
	ch := &scriptedChecker{answer: func(req probe.Request) (connection.Outcome, chan struct{}) {
		calls++
		if calls == 1 { // the older check: succeeds, written last
			close(started)
			return connection.Outcome{Result: connection.ResultOK, Version: req.Version, ExternalIDVersion: 1, ExternalIDCurrent: true, CheckedAt: t0.Add(time.Hour)}, gate
		}
		return connection.Outcome{Result: connection.ResultDenied, Version: req.Version, ExternalIDVersion: 1, CheckedAt: t0.Add(time.Hour + time.Second)}, nil
	}}
	w := newWorker(st, ch, nil)
	done := make(chan error)
	go func() {
		_, err := w.Process(ctx, job(c, probe.WhyScheduled), 1)
		done <- err
	}()
	<-started // the older check is in flight
	if _, err := w.Process(ctx, job(c, probe.WhyRequested), 1); err != nil {
		t.Fatal(err)
	}
	counted, _ := st.GetConnection(ctx, "acme", "123456789012")
	close(gate)
	if err := <-done; err != nil {
		t.Fatalf("older check: %v (want it dropped)", err)
	}
	got, _ := st.GetConnection(ctx, "acme", "123456789012")
	if got != counted || got.Status != connection.AccessLost || got.ConsecutiveFailures != c.ConsecutiveFailures+1 {
		t.Fatalf("after the older success: %+v, want %+v", got, counted)
	}
	evs, _ := st.Events(ctx, "acme", "123456789012")
	if last := evs[len(evs)-1]; last.DetailType != connection.RoleAccessLost {
		t.Fatalf("last event %s, want no Role Access Restored", last.DetailType)
	}
}

// A job made before a rotation assumes with the revoked ID; its success
// must not restore an ACCESS_LOST connection, its failure must not count.
func TestProcessJobFromBeforeRotation(t *testing.T) {
	for _, r := range []connection.Result{connection.ResultOK, connection.ResultDenied} {
		t.Run(string(r), func(t *testing.T) {
			ctx := context.Background()
			st := store.NewMemory()
			c := seed(t, st, "123456789012", connection.Verified)
			if r == connection.ResultOK {
				c = lose(t, st, c)
			}
			j := job(c, probe.WhyScheduled) // made with version 1...
			tn, _ := st.GetTenant(ctx, "acme")
			if err := st.RotateExternalID(ctx, tn, tn.Rotated(t0.Add(30*time.Minute))); err != nil { // ...then revoked
				t.Fatal(err)
			}
			ch := &scriptedChecker{answer: func(req probe.Request) (connection.Outcome, chan struct{}) {
				return connection.Outcome{Result: r, Version: req.Version, ExternalIDVersion: req.ExternalIDVersion, ExternalIDCurrent: true, CheckedAt: t0.Add(time.Hour)}, nil
			}}
			before, _ := st.GetConnection(ctx, "acme", "123456789012")
			if _, err := newWorker(st, ch, nil).Process(ctx, j, 1); err != nil {
				t.Fatalf("Process: %v (want the job dropped)", err)
			}
			if got, _ := st.GetConnection(ctx, "acme", "123456789012"); got != before {
				t.Fatalf("a check with the revoked ID changed the connection:\n got %+v\nwant %+v", got, before)
			}
		})
	}
}
