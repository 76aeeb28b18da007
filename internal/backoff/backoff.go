// Package backoff computes the exponential delays RoleCall waits between
// retries: the STS probes, the verify worker's redeliveries, the lifecycle's
// pending rechecks, the store's transaction retries and the batch senders.
// It doubles step by step and stops at the limit, so a large attempt number
// or base never overflows into a negative delay (base<<n would). Wait
// waits one out, cut short when the caller's context ends.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Doubling is base doubled n times, at most limit. With n <= 0 it is base
// (at most limit); with limit <= 0 there is nothing to grow towards and it
// is base.
func Doubling(base, limit time.Duration, n int) time.Duration {
	if limit <= 0 {
		return base
	}
	d := min(base, limit)
	for ; n > 0 && d < limit; n-- {
		if d > limit/2 {
			return limit
		}
		d *= 2
	}
	return d
}

// EqualJitter is a random delay in [d/2, d]: retries of many callers that
// failed together spread out, and each still waits at least half of d.
func EqualJitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return d/2 + rand.N(d/2+1)
}

// Retries is how often a caller tries one operation, and the delay it
// waits before the second try (doubling after that).
type Retries struct {
	Attempts int           // tries in all, the first included
	Base     time.Duration // the wait before the second try
}

// Or returns r with each field that is not positive taken from def: a
// caller's options left unset (or nonsensical) get its defaults.
func (r Retries) Or(def Retries) Retries {
	if r.Attempts <= 0 {
		r.Attempts = def.Attempts
	}
	if r.Base <= 0 {
		r.Base = def.Base
	}
	return r
}

// Wait waits d, or until ctx is done, and returns ctx.Err() in that case
// (at once when d is not positive): a retry loop stops when its caller
// gives up, and its timer is released either way.
func Wait(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
