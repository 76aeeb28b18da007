package backoff

import (
	"context"
	"errors"
	"math"
	"testing"
	"testing/synctest"
	"time"
)

func TestDoubling(t *testing.T) {
	tests := []struct {
		name        string
		base, limit time.Duration
		n           int
		want        time.Duration
	}{
		{"no doubling", time.Second, time.Minute, 0, time.Second},
		{"negative n", time.Second, time.Minute, -3, time.Second},
		{"three doublings", time.Second, time.Minute, 3, 8 * time.Second},
		{"reaches the limit", time.Second, 10 * time.Second, 4, 10 * time.Second},
		{"exactly the limit", time.Second, 8 * time.Second, 3, 8 * time.Second},
		{"base above the limit", time.Hour, time.Minute, 0, time.Minute},
		{"huge n does not overflow", 200 * time.Millisecond, 2 * time.Second, 1000, 2 * time.Second},
		{"huge base and limit", time.Duration(1 << 62), time.Duration(math.MaxInt64), 5, time.Duration(math.MaxInt64)},
		{"no limit keeps base", 30 * time.Second, 0, 5, 30 * time.Second},
		{"zero base", 0, time.Minute, 5, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Doubling(tc.base, tc.limit, tc.n); got != tc.want {
				t.Fatalf("Doubling(%v, %v, %d) = %v, want %v", tc.base, tc.limit, tc.n, got, tc.want)
			}
		})
	}
}

func TestEqualJitter(t *testing.T) {
	tests := []time.Duration{0, -time.Second, 1, time.Second, time.Duration(math.MaxInt64)}
	for _, d := range tests {
		for range 200 {
			got := EqualJitter(d)
			lo, hi := d/2, d
			if d <= 0 {
				lo, hi = 0, 0
			}
			if got < lo || got > hi {
				t.Fatalf("EqualJitter(%v) = %v, want within [%v, %v]", d, got, lo, hi)
			}
		}
	}
}

func TestRetriesOr(t *testing.T) {
	def := Retries{Attempts: 3, Base: 200 * time.Millisecond}
	tests := []struct {
		name string
		r    Retries
		want Retries
	}{
		{"unset", Retries{}, def},
		{"set", Retries{Attempts: 5, Base: time.Second}, Retries{Attempts: 5, Base: time.Second}},
		{"attempts only", Retries{Attempts: 1}, Retries{Attempts: 1, Base: def.Base}},
		{"base only", Retries{Base: time.Millisecond}, Retries{Attempts: 3, Base: time.Millisecond}},
		{"negative", Retries{Attempts: -1, Base: -time.Second}, def},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.r.Or(def); got != tc.want {
				t.Fatalf("%+v.Or(%+v) = %+v, want %+v", tc.r, def, got, tc.want)
			}
		})
	}
}

// TestWait: Wait returns after d, or as soon as the context ends (with its
// error), and at once for a delay that is not positive.
func TestWait(t *testing.T) {
	tests := []struct {
		name     string
		d        time.Duration
		deadline time.Duration // 0: none
		cancel   bool          // the context is cancelled before the call
		want     error
		took     time.Duration
	}{
		{"waits d", 3 * time.Second, 0, false, nil, 3 * time.Second},
		{"the deadline comes first", time.Minute, 2 * time.Second, false, context.DeadlineExceeded, 2 * time.Second},
		{"already cancelled", time.Minute, 0, true, context.Canceled, 0},
		{"zero delay", 0, 0, false, nil, 0},
		{"negative delay, cancelled", -time.Second, 0, true, context.Canceled, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx := context.Background()
				if tc.deadline > 0 {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, tc.deadline)
					defer cancel()
				}
				if tc.cancel {
					var cancel context.CancelFunc
					ctx, cancel = context.WithCancel(ctx)
					cancel()
				}
				start := time.Now()
				err := Wait(ctx, tc.d)
				if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
					t.Fatalf("Wait = %v, want %v", err, tc.want)
				}
				if took := time.Since(start); took != tc.took {
					t.Fatalf("Wait took %v, want %v", took, tc.took)
				}
			})
		})
	}
}
