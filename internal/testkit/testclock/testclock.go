// Package testclock is a simulated clock for tests of timing: time moves
// only when the test moves it (Advance, Set) or when the code under test
// sleeps on it (Sleep), so no test waits for real time. Tests only:
// production code never imports it.
package testclock

import (
	"context"
	"slices"
	"sync"
	"time"
)

// Clock is a simulated clock, safe for concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// New returns a clock standing at t.
func New(t time.Time) *Clock { return &Clock{now: t} }

// Now is the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// AdvanceTo moves the clock to t when t is later, and never back: an
// event loop that sets the clock to each event's time keeps time monotonic
// even when it runs an event due in the past.
func (c *Clock) AdvanceTo(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.After(c.now) {
		c.now = t
	}
}

// Sleep advances the clock by d at once, unless ctx is already done (then
// it returns ctx's error and the clock stays).
func (c *Clock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.Advance(d)
	return nil
}

// BusiestSecond is the most of times in any half-open one-second window:
// what a rate limit of so many a second bounds.
func BusiestSecond(times []time.Time) int {
	ts := slices.Clone(times)
	slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
	best, j := 0, 0
	for i := range ts {
		for j < len(ts) && ts[j].Before(ts[i].Add(time.Second)) {
			j++
		}
		best = max(best, j-i)
	}
	return best
}
