package access

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/rolecall/rolecall/internal/backoff"
)

// FailureBackoff is how long a connection's first failed refresh is
// answered again without a new attempt; each further consecutive failure
// doubles it, up to Options.RecheckEvery. The SDK's credentials cache keeps
// no errors, so without it every SDK call of a connection whose role
// refuses would cost a RoleCall API read and an sts:AssumeRole from the
// partner account, whose STS quota the verifier's budget counts on.
const FailureBackoff = time.Second

// RetryLaterError is a connection's last failure answered again: the
// connection failed Failures times in a row, and is not tried again
// before RetryAt. Err is that failure (a *NotVerifiedError, an
// *AccessDeniedError, …; errors.As finds it).
type RetryLaterError struct {
	Err      error
	Failures int
	RetryAt  time.Time
}

func (e *RetryLaterError) Error() string {
	return fmt.Sprintf("%v (failed %d times in a row; next attempt after %s)", e.Err, e.Failures, e.RetryAt.UTC().Format(time.RFC3339))
}

func (e *RetryLaterError) Unwrap() error { return e.Err }

// lastFailure remembers one connection's last failed refresh until its
// backoff has passed. The zero value remembers nothing.
type lastFailure struct {
	mu       sync.Mutex
	again    error // the failure as answered again
	failures int   // consecutive failures
	retryAt  time.Time
}

// answer returns the remembered failure while its backoff lasts at now,
// else nil: a new attempt may be made.
func (f *lastFailure) answer(now time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.again == nil || !now.Before(f.retryAt) {
		return nil
	}
	return &RetryLaterError{Err: f.again, Failures: f.failures, RetryAt: f.retryAt}
}

// remember records err, a failed attempt at now, and backs off: base
// doubled per consecutive failure up to limit, jittered so connections
// that failed together are not all retried in the same second. A failure
// of the caller's own context is not the connection's and is not kept.
func (f *lastFailure) remember(ctx context.Context, err error, now time.Time, base, limit time.Duration) {
	if ctx.Err() != nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failures++
	f.again = answeredAgain(err)
	f.retryAt = now.Add(backoff.EqualJitter(backoff.Doubling(base, limit, f.failures-1)))
}

// clear forgets the failures: the connection works.
func (f *lastFailure) clear() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.again, f.failures, f.retryAt = nil, 0, time.Time{}
}

// answeredAgain is err as later calls get it: a refusal by the customer's
// role says it asked for no re-check, since those calls ask for none.
func answeredAgain(err error) error {
	if denied, ok := err.(*AccessDeniedError); ok {
		again := *denied
		again.RecheckRequested, again.RecheckErr = false, nil
		return &again
	}
	return err
}
