package register

import (
	"context"
	"fmt"
	"time"

	"github.com/rolecall/rolecall/internal/backoff"
	"github.com/rolecall/rolecall/internal/connection"
)

// Defaults of the wait for the first check.
const (
	DefaultWait = 60 * time.Second
	DefaultPoll = 2 * time.Second
)

// recordMargin is what the wait for the first check leaves before the
// context's deadline besides the Sender's AnswerTimeout: the last read of
// the connection and the conditional write recording the answer, each one
// DynamoDB request (milliseconds, a few seconds with the SDK's retries),
// and encoding the response. Without it the answer would be recorded or
// sent on an expired context, fail, and be retried by Lambda only to wait
// out its time again.
const recordMargin = 5 * time.Second

// AnswerReserve is how long before the deadline of its context the
// handler ends the wait for the first check when its Sender bounds one
// answer at answerTimeout: the function's timeout must exceed Wait by at
// least this much for the whole wait to fit.
func AnswerReserve(answerTimeout time.Duration) time.Duration { return answerTimeout + recordMargin }

// Clock is the time the handler reads and waits on.
type Clock interface {
	Now() time.Time
	// Sleep waits d or until ctx is done.
	Sleep(ctx context.Context, d time.Duration) error
}

// awaitCheck reads the connection until role, the role the request
// submitted, is checked (the connection leaves PENDING, or role is no
// longer its pending candidate) or the wait ends: after h.Wait, or
// AnswerReserve before ctx's deadline, whichever comes first (at once when
// the deadline is nearer than the reserve).
func (h *Handler) awaitCheck(ctx context.Context, c connection.Connection, role string) (connection.Connection, error) {
	wait, poll := h.Wait, h.Poll
	if wait == 0 {
		wait = DefaultWait
	}
	if poll <= 0 {
		poll = DefaultPoll
	}
	if d, ok := ctx.Deadline(); ok {
		// The deadline is on the wall clock, h.now on h.Clock: the time
		// left is measured on the first and spent on the second.
		wait = min(wait, time.Until(d)-AnswerReserve(h.Sender.AnswerTimeout()))
	}
	deadline := h.now().Add(wait)
	checking := func(c connection.Connection) bool {
		return c.Status == connection.Pending || (c.Candidate.Pending() && c.Candidate.RoleARN == role)
	}
	for checking(c) && h.now().Before(deadline) {
		if err := h.sleep(ctx, min(poll, deadline.Sub(h.now()))); err != nil {
			// ctx ended before its deadline's reserve (cancelled): nothing
			// can be recorded or sent on it any more.
			return c, fmt.Errorf("wait for the check of %s/%s: %w", c.TenantID, c.AccountID, err)
		}
		cur, err := h.Onboarding.Connection(ctx, c.TenantID, c.AccountID)
		if err != nil {
			return c, fmt.Errorf("read connection %s/%s: %w", c.TenantID, c.AccountID, err)
		}
		c = cur
	}
	return c, nil
}

func (h *Handler) now() time.Time {
	if h.Clock != nil {
		return h.Clock.Now().UTC()
	}
	return time.Now().UTC()
}

func (h *Handler) sleep(ctx context.Context, d time.Duration) error {
	if h.Clock != nil {
		return h.Clock.Sleep(ctx, d)
	}
	return backoff.Wait(ctx, d)
}
