// Package stsbudget keeps RoleCall's STS calls inside a budget: a
// deployment-wide number of STS requests per second (StsRequestsPerSecond)
// that every verify instance together never exceeds, so RoleCall leaves the
// rest of the partner account's STS quota (about 600 requests a second per
// account and Region) to the partner's other uses.
//
// The budget is split into per-instance shares, not held in the store. The
// verify function's event source mappings cap how many invocations run at
// once (ScalingConfig MaximumConcurrency), and a Lambda execution
// environment runs one invocation at a time, so an instance limited to
// budget ÷ maximum concurrency keeps the sum under the budget with no
// shared state: no DynamoDB write per check (a store-held counter would
// cost a conditional write per token batch and a hot key at ~130 checks a
// second), no extra latency, no failure mode when the table is slow. The
// price is that an instance idle in one second cannot lend its share to a
// busy one; Plan sizes the shares so that a full pipeline still uses ~99%
// of the budget.
//
// The Limiter is a pacer (the virtual scheduling form of GCRA) with no burst
// allowance: admissions are spaced so that no one-second window holds more
// than the limit, whatever the arrival pattern. On STS throttling it halves
// its rate (at most once a second) and climbs back linearly to the
// configured rate: additive increase, multiplicative decrease, so several
// instances converge on what STS actually grants when the partner's other
// STS use eats into the quota.
//
// Each Region has its own STS quota. With StsRegions an instance holds its
// share in every listed Region (Regions) and each check takes its tokens
// from the Region that admits it soonest; its calls then go to that
// Region's endpoint (RegionOf, read by stsclient.Regional).
package stsbudget

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/rolecall/rolecall/internal/backoff"
)

// Clock is the limiter's time source; tests and the scale bench pass a
// simulated one.
type Clock interface {
	Now() time.Time
	// Sleep waits d or until ctx is done.
	Sleep(ctx context.Context, d time.Duration) error
}

// RealClock is the wall clock.
type RealClock struct{}

// Now implements Clock.
func (RealClock) Now() time.Time { return time.Now() }

// Sleep implements Clock.
func (RealClock) Sleep(ctx context.Context, d time.Duration) error { return backoff.Wait(ctx, d) }

// Errors of Take, matched with errors.Is.
var (
	// ErrTooLarge: a request for more tokens than the limiter takes at once
	// (NewLimiter's maxTake).
	ErrTooLarge = errors.New("token request larger than the limiter admits at once")
	// ErrNoTime: the tokens would come too close to the context's
	// deadline for the check to run; none were booked.
	ErrNoTime = errors.New("no STS budget before the deadline")
)

// DeadlineMargin is how long before its context's deadline a Take must be
// admitted: a Lambda invocation stopped at its timeout loses its whole
// batch, so a check that could not finish is better left to redelivery.
const DeadlineMargin = 2 * time.Second

// Limiter admits at most Limit tokens (STS calls) in any one-second window.
// It is safe for concurrent use.
type Limiter struct {
	clock   Clock
	limit   float64 // per one-second window
	maxTake int

	mu           sync.Mutex
	ceiling      float64 // the rate admissions are spaced at when not throttled
	floor        float64
	rate         float64 // current rate, tokens per second
	increase     float64 // additive increase, tokens per second per second
	tat          time.Time
	lastUpdate   time.Time
	lastDecrease time.Time
	throttles    int
}

// NewLimiter returns a limiter that admits at most limit tokens in any
// one-second window, taken at most maxTake at a time. Admissions are spaced
// at ⌊limit⌋-maxTake+1 tokens a second: the admissions of a window but its
// last are spaced less than a second apart, so they hold fewer tokens than
// that rate (at most ⌊limit⌋-maxTake), and the last adds at most maxTake.
func NewLimiter(limit float64, maxTake int, clock Clock) (*Limiter, error) {
	if clock == nil {
		clock = RealClock{}
	}
	if maxTake < 1 {
		return nil, fmt.Errorf("stsbudget: max take %d: want at least 1", maxTake)
	}
	ceiling := math.Floor(limit) - float64(maxTake) + 1
	if math.IsNaN(limit) || ceiling < 1 {
		return nil, fmt.Errorf("stsbudget: limit %.2f a second is below %d tokens taken at once", limit, maxTake)
	}
	return &Limiter{
		clock: clock, limit: limit, maxTake: maxTake,
		ceiling: ceiling, floor: max(ceiling/20, 0.1), rate: ceiling,
		// From half the rate back to all of it in 15 seconds.
		increase: ceiling / 30,
	}, nil
}

// Limit is the most tokens the limiter admits in any one-second window.
func (l *Limiter) Limit() float64 { return l.limit }

// Rate is the current pace, in tokens a second (the configured pace unless
// throttling slowed it down).
func (l *Limiter) Rate() float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recover(l.clock.Now())
	return l.rate
}

// Throttles is how many throttling reports slowed the limiter down.
func (l *Limiter) Throttles() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.throttles
}

// recover applies the additive increase since the last update.
func (l *Limiter) recover(now time.Time) {
	if !l.lastUpdate.IsZero() && now.After(l.lastUpdate) && l.rate < l.ceiling {
		l.rate = min(l.ceiling, l.rate+l.increase*now.Sub(l.lastUpdate).Seconds())
	}
	if now.After(l.lastUpdate) {
		l.lastUpdate = now
	}
}

// reserveBy books n tokens and returns when they are admitted: now, or
// later when earlier admissions used the window; the caller must not make
// its calls before that time. Unless by is zero, it refuses (with
// ErrNoTime, booking nothing) an admission after by.
func (l *Limiter) reserveBy(n int, by time.Time) (time.Time, error) {
	if n < 1 || n > l.maxTake {
		return time.Time{}, fmt.Errorf("stsbudget: take %d tokens (at most %d): %w", n, l.maxTake, ErrTooLarge)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.clock.Now()
	l.recover(now)
	at := now
	if l.tat.After(at) {
		at = l.tat
	}
	if !by.IsZero() && at.After(by) {
		return time.Time{}, fmt.Errorf("stsbudget: %d tokens only in %s: %w", n, at.Sub(now), ErrNoTime)
	}
	// Whole nanoseconds, rounded up: the spacing never falls below 1/rate.
	per := time.Duration(math.Ceil(float64(time.Second) / l.rate))
	l.tat = at.Add(time.Duration(n) * per)
	return at, nil
}

// Next is when n tokens would be admitted if asked now, without booking
// them: a simulated pipeline starts a check no earlier than Take would let
// it, so Take never has to wait on a simulated clock.
func (l *Limiter) Next(n int) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.clock.Now()
	if l.tat.After(now) {
		return l.tat
	}
	return now
}

// Take waits until n tokens are admitted. It refuses at once (ErrNoTime)
// when they would come later than DeadlineMargin before ctx's deadline.
// When ctx ends first the booked tokens are not returned: the limiter errs
// on the side of fewer calls.
func (l *Limiter) Take(ctx context.Context, n int) error {
	var by time.Time
	if dl, ok := ctx.Deadline(); ok {
		by = dl.Add(-DeadlineMargin)
	}
	at, err := l.reserveBy(n, by)
	if err != nil {
		return err
	}
	if d := at.Sub(l.clock.Now()); d > 0 {
		if err := l.clock.Sleep(ctx, d); err != nil {
			return fmt.Errorf("stsbudget: wait %s for %d tokens: %w", d, n, err)
		}
	}
	return nil
}

// Throttled reports that STS throttled a call: the rate halves, at most
// once a second (the calls already in flight when STS started throttling
// report it too, and count once), never below a twentieth of the
// configured rate.
func (l *Limiter) Throttled() {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.clock.Now()
	l.recover(now)
	if !l.lastDecrease.IsZero() && now.Sub(l.lastDecrease) < time.Second {
		return
	}
	l.lastDecrease = now
	l.throttles++
	l.rate = max(l.floor, l.rate/2)
}
