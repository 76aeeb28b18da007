package deadline

import (
	"context"
	"testing"
	"testing/synctest"
	"time"
)

// TestReserve: the work's context ends margin before the deadline, or at
// half the time left when that is less than twice margin; without a
// deadline it has none.
func TestReserve(t *testing.T) {
	tests := []struct {
		name    string
		timeout time.Duration // 0: no deadline
		margin  time.Duration
		want    time.Duration // time left to the work, 0: no deadline
	}{
		{"margin before the deadline", 30 * time.Second, 2 * time.Second, 28 * time.Second},
		{"exactly twice the margin left", 4 * time.Second, 2 * time.Second, 2 * time.Second},
		{"less than twice the margin left", time.Second, 3 * time.Second, 500 * time.Millisecond},
		{"no margin", 10 * time.Second, 0, 10 * time.Second},
		{"no deadline", 0, 2 * time.Second, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx, stop := invocation(tt.timeout)
				defer stop()
				work, cancel := Reserve(ctx, tt.margin)
				defer cancel()
				dl, ok := work.Deadline()
				if ok != (tt.want > 0) || ok && time.Until(dl) != tt.want {
					t.Errorf("deadline in %v (%v), want in %v", time.Until(dl), ok, tt.want)
				}
				cancel()
				if work.Err() == nil {
					t.Error("the work's context outlived its cancel")
				}
			})
		})
	}
}

// invocation is the context of an invocation with timeout, or with no
// deadline when timeout is 0.
func invocation(timeout time.Duration) (context.Context, context.CancelFunc) {
	if timeout == 0 {
		return context.WithCancel(context.Background())
	}
	return context.WithTimeout(context.Background(), timeout)
}
