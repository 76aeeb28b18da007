// Package deadline bounds work to end before its context's deadline (a
// Lambda invocation's timeout), keeping time to answer: an invocation
// stopped at its timeout loses its whole batch.
package deadline

import (
	"context"
	"time"
)

// Reserve returns ctx ending margin before its deadline, or, when less
// than twice margin is left (serve bounds a sweep by its ticker's
// interval, which may be a second), half the time left, so the work is
// not stopped before it starts. Without a deadline it is ctx, with a
// cancel.
func Reserve(ctx context.Context, margin time.Duration) (context.Context, context.CancelFunc) {
	dl, ok := ctx.Deadline()
	if !ok {
		return context.WithCancel(ctx)
	}
	if left := time.Until(dl); margin > left/2 {
		margin = left / 2
	}
	return context.WithDeadline(ctx, dl.Add(-margin))
}
