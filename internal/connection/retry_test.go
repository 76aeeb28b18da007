package connection_test

import (
	"testing"
	"time"

	"github.com/rolecall/rolecall/internal/connection"
)

// TestPendingDelay: the delay before the next check of a PENDING role
// denied inside its propagation window doubles per attempt up to its
// maximum, ends at the window's end, is whole seconds and at least one;
// the lifecycle schedules the next check at the same delay, unrounded.
func TestPendingDelay(t *testing.T) {
	p := noJitter() // 5 s doubling to 30 s, a 2 min window from t0
	tests := []struct {
		name    string
		policy  func(*connection.Policy)
		attempt int
		at      time.Duration // after t0 (= SubmittedAt)
		want    time.Duration
	}{
		{"first attempt", nil, 1, time.Second, 5 * time.Second},
		{"no attempt counted yet is the first", nil, 0, time.Second, 5 * time.Second},
		{"second attempt doubles", nil, 2, 10 * time.Second, 10 * time.Second},
		{"third attempt doubles again", nil, 3, 20 * time.Second, 20 * time.Second},
		{"capped at the maximum", nil, 4, 40 * time.Second, 30 * time.Second},
		{"stays at the maximum", nil, 30, 50 * time.Second, 30 * time.Second},
		{"cut at the window's end", nil, 6, 110 * time.Second, 10 * time.Second},
		{"cut at the window's end, rounded up to whole seconds", nil, 6, 117*time.Second + 300*time.Millisecond, 3 * time.Second},
		{"at least one second before the window's end", nil, 6, 119*time.Second + 900*time.Millisecond, time.Second},
		{"at least one second past the window's end", nil, 6, 3 * time.Minute, time.Second},
		{"a fractional backoff rounded up", func(p *connection.Policy) { p.PendingBackoff = 1500 * time.Millisecond }, 1, time.Second, 2 * time.Second},
		{"a sub-second backoff is one second", func(p *connection.Policy) { p.PendingBackoff = 100 * time.Millisecond }, 1, time.Second, time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := p
			if tc.policy != nil {
				tc.policy(&p)
			}
			c := conn(connection.Pending, max(tc.attempt-1, 0), connection.CodeSubmitted)
			now := t0.Add(tc.at)
			got := p.PendingDelay(c, tc.attempt, now)
			if got != tc.want {
				t.Fatalf("PendingDelay(attempt %d at t0+%v) = %v, want %v", tc.attempt, tc.at, got, tc.want)
			}
			windowEnd := t0.Add(p.PropagationWindow)
			if !now.Before(windowEnd) || tc.attempt < 1 {
				return
			}
			// The lifecycle's next check: the same delay before rounding,
			// never past the window's end.
			tr, err := p.Apply(c, connection.Outcome{Result: connection.ResultDenied, Version: c.Version, ExternalIDVersion: c.ExternalIDVersion, CheckedAt: now})
			if err != nil {
				t.Fatal(err)
			}
			next := tr.After.NextCheckAt.Sub(now)
			if tr.After.Status != connection.Pending || tr.After.NextCheckAt.After(windowEnd) || next > got || got-next >= time.Second {
				t.Errorf("Apply scheduled the next check %v after (%s, window end %s), want %v before rounding", next, tr.After.Status, windowEnd, got)
			}
		})
	}
}

// TestTransientDelay: after a transient failure the delay doubles per
// attempt from TransientRetry (30 s unset) up to MaxTransientDelay, in
// whole seconds, at least one.
func TestTransientDelay(t *testing.T) {
	const s = time.Second
	tests := []struct {
		name  string
		retry time.Duration
		want  []time.Duration // by attempt, from the first
	}{
		{"doubling up to the maximum", 30 * s, []time.Duration{30 * s, 60 * s, 120 * s, 240 * s, 480 * s, connection.MaxTransientDelay, connection.MaxTransientDelay}},
		{"unset is 30 s", 0, []time.Duration{30 * s, 60 * s, 120 * s}},
		{"a fractional retry rounded up", 1500 * time.Millisecond, []time.Duration{2 * s, 3 * s, 6 * s}},
		{"a sub-second retry is at least one second", 10 * time.Millisecond, []time.Duration{s, s, s, s}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := noJitter()
			p.TransientRetry = tc.retry
			for i, want := range tc.want {
				if got := p.TransientDelay(i + 1); got != want {
					t.Errorf("TransientDelay(%d) with TransientRetry %v = %v, want %v", i+1, tc.retry, got, want)
				}
			}
		})
	}
}
