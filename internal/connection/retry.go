package connection

import (
	"time"

	"github.com/rolecall/rolecall/internal/backoff"
)

// MaxTransientDelay bounds the delay before a check that met a transient
// failure is tried again.
const MaxTransientDelay = 15 * time.Minute

// defaultTransientRetry is the first delay after a transient failure when
// the policy sets none.
const defaultTransientRetry = 30 * time.Second

// PendingDelay is the delay before the next check of c, a PENDING
// connection whose attempt-th check was denied at now: PendingBackoff
// doubling per attempt up to PendingBackoffMax, cut to end at the
// propagation window's end, then rounded up to whole seconds (a queue's
// visibility timeout is whole seconds), at least one. The last check
// inside the window so falls at or just after its end, and decides.
func (p Policy) PendingDelay(c Connection, attempt int, now time.Time) time.Duration {
	return wholeSeconds(p.pendingBackoff(c, attempt, now))
}

// pendingBackoff is PendingDelay unrounded: the delay the lifecycle
// schedules the next check of a PENDING connection after.
func (p Policy) pendingBackoff(c Connection, attempt int, now time.Time) time.Duration {
	d := backoff.Doubling(p.PendingBackoff, p.PendingBackoffMax, attempt-1)
	return min(d, c.SubmittedAt.Add(p.PropagationWindow).Sub(now))
}

// TransientDelay is the delay before a check that met a transient failure
// on its attempt-th try is tried again: TransientRetry (30 s when unset)
// doubling per attempt up to MaxTransientDelay, in whole seconds.
func (p Policy) TransientDelay(attempt int) time.Duration {
	base := p.TransientRetry
	if base <= 0 {
		base = defaultTransientRetry
	}
	return wholeSeconds(backoff.Doubling(base, MaxTransientDelay, attempt-1))
}

// wholeSeconds rounds d up to whole seconds, at least one.
func wholeSeconds(d time.Duration) time.Duration {
	if d < time.Second {
		return time.Second
	}
	return (d + time.Second - 1).Truncate(time.Second)
}
