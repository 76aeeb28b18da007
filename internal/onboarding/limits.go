package onboarding

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/rolearn"
	"github.com/rolecall/rolecall/internal/store"
	"github.com/rolecall/rolecall/internal/tenant"
)

// DefaultSubmissionsPerMinute is how many submissions one invite may make
// per minute unless configured.
const DefaultSubmissionsPerMinute = 20

// rateWindow is the rate limit's fixed window. A fixed window lets a
// client burst twice the limit across a window boundary; what it bounds is
// the sustained rate, which is what STS budgets and connection counts need.
const rateWindow = time.Minute

// CheckRequestWindow is the fixed window in which a connection may be
// re-checked once on request (RequestCheck). Workloads ask for a re-check
// on every AccessDenied, and each `rolecall credentials` is a new process
// that cannot remember having asked; held in the store, the limit bounds
// what a failing fleet costs the priority queue's STS share to one check
// per connection per window, whatever its size. Operators share it: they
// reach the same route with the same IAM authorization as workloads, so
// any way around it an operator had, a workload would have too.
const CheckRequestWindow = 5 * time.Minute

// CustomerCheckWindow is the fixed window in which a customer may ask for
// one check of a connection (CheckInvited): the form's "Check again now"
// is a nudge while the customer fixes the role, not a way to spend the
// partner's STS budget.
const CustomerCheckWindow = 5 * time.Second

// TenantOptions are a new tenant's optional settings.
type TenantOptions struct {
	// MaxConnections bounds the tenant's live connections
	// (tenant.DefaultMaxConnections when nil; 1 to 10,000).
	MaxConnections *int
}

// CreateTenantWith creates a tenant with a generated external ID and the
// given options, validated before anything is stored.
func (s *Service) CreateTenantWith(ctx context.Context, id, name string, opts TenantOptions) (tenant.Tenant, error) {
	if opts.MaxConnections != nil {
		if err := tenant.ValidateMaxConnections(*opts.MaxConnections); err != nil {
			return tenant.Tenant{}, err
		}
	}
	return s.createTenant(ctx, id, name, opts)
}

// SetMaxConnections sets a tenant's connection limit (1 to 10,000) and
// returns the tenant. A limit below the tenant's live connections is set
// too: it disconnects none, and refuses each submission that would add a
// live connection until enough are disconnected; the live connections'
// checks and resubmissions go on as before.
func (s *Service) SetMaxConnections(ctx context.Context, id string, limit int) (tenant.Tenant, error) {
	if err := tenant.ValidateID(id); err != nil {
		return tenant.Tenant{}, err
	}
	if err := tenant.ValidateMaxConnections(limit); err != nil {
		return tenant.Tenant{}, err
	}
	t, err := s.Store.SetMaxConnections(ctx, id, limit)
	if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrContended) {
		return tenant.Tenant{}, &Error{Code: CodeConflict, Message: "the tenant is being written concurrently (checks of its connections, a rotation); retry", Err: err}
	}
	return t, noSuchTenant(id, err)
}

// SubmitInvited is Submit for a customer holding an invite code (already
// resolved to t): well-formed submissions count against the invite's rate
// limit, held in the store so it holds across every API instance. Input
// that fails validation is refused first and does not count.
//
// Every well-formed submission counts, including one then refused with
// CONNECTION_LIMIT and a resubmission that changes nothing: the limit
// bounds what a code can make RoleCall do (store reads, counts, checks),
// and counting before the connection-limit count keeps that count
// rate-limited too.
func (s *Service) SubmitInvited(ctx context.Context, t tenant.Tenant, code, roleARN string) (connection.Connection, error) {
	if _, err := rolearn.Parse(roleARN, s.Rules); err != nil {
		return connection.Connection{}, err
	}
	if err := s.takeSubmission(ctx, tenant.HashCode(code)); err != nil {
		return connection.Connection{}, err
	}
	return s.Submit(ctx, t, roleARN)
}

// CheckInvited queues the check a customer holding an invite code
// (already resolved to t) asks for on the form, of c, the connection just
// read. Both limits are counted in the store before the queue send, so
// they hold across API instances and a burst queues at most one check:
// at most one per connection per CustomerCheckWindow (CHECK_TOO_SOON), and
// each counted against the invite's submissions (RATE_LIMITED), since a
// check costs the priority queue's STS share what a submission does.
func (s *Service) CheckInvited(ctx context.Context, t tenant.Tenant, code string, c connection.Connection) error {
	if err := checkable(t, c); err != nil {
		return err
	}
	wait, err := s.hit(ctx, "ccheck#"+c.TenantID+"#"+c.AccountID, CustomerCheckWindow, 1)
	if err != nil {
		return fmt.Errorf("count check request of %s/%s: %w", c.TenantID, c.AccountID, err)
	}
	if wait > 0 {
		return &Error{Code: CodeCheckTooSoon, Field: "accountId", RetryAfter: wait,
			Message: fmt.Sprintf("a check of this connection was asked for a moment ago; try again in %d s", int(wait/time.Second))}
	}
	if err := s.takeSubmission(ctx, tenant.HashCode(code)); err != nil {
		return err
	}
	return s.queueJobs(ctx, t, c)
}

// takeSubmission counts one submission of the invite whose code hashes to
// hash, or refuses it with RATE_LIMITED and when to retry.
func (s *Service) takeSubmission(ctx context.Context, hash string) error {
	limit := s.SubmissionsPerMinute
	if limit <= 0 {
		limit = DefaultSubmissionsPerMinute
	}
	wait, err := s.hit(ctx, "invite#"+hash, rateWindow, limit)
	if err != nil {
		return fmt.Errorf("count submission: %w", err)
	}
	if wait == 0 {
		return nil
	}
	return &Error{Code: CodeRateLimited, RetryAfter: wait,
		Message: fmt.Sprintf("this invite has made %d submissions in the last minute, the most allowed; try again in %d seconds", limit, int(wait/time.Second))}
}

// hit counts one hit of key in the current fixed window of size (held in
// the store, kept one window past its end), at most limit: 0 when it
// counted, else how long until the next window (RetryAfter).
func (s *Service) hit(ctx context.Context, key string, size time.Duration, limit int) (time.Duration, error) {
	now := s.now()
	window := now.Truncate(size)
	end := window.Add(size)
	ok, err := s.Store.Hit(ctx, key, window, limit, end.Add(size))
	if err != nil || ok {
		return 0, err
	}
	return RetryAfter(now, end), nil
}

// takeCheckRequest counts the one requested check of c this window, or
// refuses it with CHECK_TOO_SOON and when to retry. The count comes before
// the queue send: a send that then fails has spent the window (the
// scheduled re-checks still run), where counting after it would let every
// request of a burst through.
func (s *Service) takeCheckRequest(ctx context.Context, c connection.Connection) error {
	wait, err := s.hit(ctx, "check#"+c.TenantID+"#"+c.AccountID, CheckRequestWindow, 1)
	if err != nil {
		return fmt.Errorf("count check request of %s/%s: %w", c.TenantID, c.AccountID, err)
	}
	if wait == 0 {
		return nil
	}
	return &Error{Code: CodeCheckTooSoon, Field: "accountId", RetryAfter: wait,
		Message: fmt.Sprintf("a check of this connection was already requested in this %d-minute window; scheduled checks go on; try again in %d seconds",
			int(CheckRequestWindow/time.Minute), int(wait/time.Second))}
}

// RetryAfter is the wait until end in whole seconds, rounded up, at least
// one (as an HTTP Retry-After header carries it).
func RetryAfter(now, end time.Time) time.Duration {
	d := end.Sub(now)
	secs := (d + time.Second - 1) / time.Second
	return max(secs, 1) * time.Second
}

// checkConnectionLimit refuses a submission that would add a live
// connection to t when it has t.MaxConnections of them. The count is read
// before the write, not kept in the same transaction: concurrent
// submissions can pass it together and exceed the limit by those in
// flight at once, which the per-invite rate limit bounds.
func (s *Service) checkConnectionLimit(ctx context.Context, t tenant.Tenant) error {
	limit := t.MaxConnections
	if limit <= 0 {
		limit = tenant.DefaultMaxConnections
	}
	n, err := s.Store.CountLive(ctx, t.ID)
	if err != nil {
		return fmt.Errorf("count connections of %s: %w", t.ID, err)
	}
	if n >= limit {
		return &Error{Code: CodeConnectionLimit,
			Message: fmt.Sprintf("this tenant has %d connected accounts and may have at most %d; ask the partner to raise the limit, or disconnect an account", n, limit)}
	}
	return nil
}
