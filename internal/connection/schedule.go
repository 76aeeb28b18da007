package connection

import (
	"strconv"
	"time"
)

// CodeAbandoned is the reason of a FAILED connection that stayed FAILED for
// Backoff.AbandonAfter and was disconnected by RoleCall.
const CodeAbandoned = "ABANDONED"

// Backoff spaces the re-checks of failing connections, so that a role
// nobody fixes costs less and less, and ends a FAILED connection nobody
// fixes. The first interval of each state is Policy.FailedInterval or
// Policy.LostInterval; every later one is as long as the time the
// connection has been in its state (measured from its last transition), so
// the intervals double, up to the maximum:
//
//	FAILED       10m, 20m, 40m, … up to FailedIntervalMax (1 day)
//	ACCESS_LOST  10m, 20m, 40m, up to LostIntervalMax (1 hour), for ever
//
// The time in state is measured from the connection's last transition
// (UpdatedAt): deriving the interval from it rather than from a count of
// checks keeps it right whatever happened between checks (transient
// retries, redeliveries, checks lost with a crashed worker).
type Backoff struct {
	// FailedIntervalMax caps the interval between checks of a FAILED
	// connection.
	FailedIntervalMax time.Duration
	// LostIntervalMax caps the interval between checks of an ACCESS_LOST
	// connection.
	LostIntervalMax time.Duration
	// AbandonAfter: a FAILED connection whose role still fails this long
	// after its submission is disconnected with reason ABANDONED (its
	// claim released, Role Disconnected emitted). 0 never abandons.
	AbandonAfter time.Duration
}

// DefaultBackoff returns the documented defaults.
func DefaultBackoff() Backoff {
	return Backoff{FailedIntervalMax: 24 * time.Hour, LostIntervalMax: time.Hour, AbandonAfter: 14 * 24 * time.Hour}
}

// RetryInterval is the (unjittered) time until the next check of c, a
// FAILED or ACCESS_LOST connection that failed again at now: the time c
// has been in its state, at least first and at most the state's maximum.
// For any other status it returns first.
func (p Policy) RetryInterval(c Connection, now time.Time) time.Duration {
	first, most := p.FailedInterval, p.FailedIntervalMax
	switch c.Status {
	case Failed:
	case AccessLost:
		first, most = p.LostInterval, p.LostIntervalMax
	default:
		return first
	}
	d := first
	if !c.UpdatedAt.IsZero() {
		d = max(now.Sub(c.UpdatedAt), first)
	}
	if most > 0 {
		d = min(d, max(most, first))
	}
	return d
}

// Abandoned reports whether c, failing again at now, is given up: FAILED
// for AbandonAfter. A connection only becomes FAILED from the PENDING of a
// submission and leaves FAILED only by verifying or a new submission, so
// the time since SubmittedAt is its time FAILED plus its time PENDING (the
// propagation window, or a little more after transient errors).
func (p Policy) Abandoned(c Connection, now time.Time) bool {
	return c.Status == Failed && p.AbandonAfter > 0 && !c.SubmittedAt.IsZero() && !now.Before(c.SubmittedAt.Add(p.AbandonAfter))
}

// Abandon disconnects c, a FAILED connection past AbandonAfter, with
// reason ABANDONED: the same transition as Disconnect (claim released,
// Role Disconnected through the outbox), with a reason that tells the
// customer what happened and what to do.
func (p Policy) Abandon(c Connection, externalIDVersion int, now time.Time) Transition {
	after := c
	after.Status = Disconnected
	after.Reason = Reason{Code: CodeAbandoned,
		Message: "RoleCall stopped checking the role: it had failed verification since it was submitted " + days(p.AbandonAfter) + " ago.",
		Hint:    "Fix the role as the last failure explained, then submit its ARN again."}
	after.NextCheckAt = time.Time{}
	after.ConsecutiveFailures = 0
	return transition(c, after, RoleDisconnected, now.UTC(), externalIDVersion)
}

func days(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		n := int(d / (24 * time.Hour))
		if n == 1 {
			return "1 day"
		}
		return strconv.Itoa(n) + " days"
	}
	return d.String()
}
