// Package onboarding is what the API does: create tenants and invites,
// resolve invites, accept a customer's role submission, disconnect, rotate
// external IDs and request re-checks. It validates every input before it
// touches the store, so bad input changes nothing.
package onboarding

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/probe"
	"github.com/rolecall/rolecall/internal/refusal"
	"github.com/rolecall/rolecall/internal/rolearn"
	"github.com/rolecall/rolecall/internal/rotation"
	"github.com/rolecall/rolecall/internal/store"
	"github.com/rolecall/rolecall/internal/tenant"
)

// Queue takes check jobs (the verify queue).
type Queue interface {
	Send(ctx context.Context, jobs []probe.Job) error
}

// Service implements the onboarding operations.
type Service struct {
	// Store is the store port: the service reads and writes tenants,
	// invites, connections and their events through almost all of it.
	Store     store.Store
	Queue     Queue
	Policy    connection.Policy
	Rules     rolearn.Rules
	InviteTTL time.Duration
	// SubmissionsPerMinute is how many submissions one invite may make
	// per minute (DefaultSubmissionsPerMinute when 0).
	SubmissionsPerMinute int
	Now                  func() time.Time
	// Log receives what the service does best effort and so does not
	// answer as an error (default slog.Default()).
	Log *slog.Logger
}

func (s *Service) log() *slog.Logger {
	if s.Log == nil {
		return slog.Default()
	}
	return s.Log
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

// Error codes beyond those of rolearn and tenant.
const (
	CodeNotFound     = "NOT_FOUND"
	CodeTenantExists = "TENANT_EXISTS"
	// CodeRoleClaimed is a reason code of a FAILED connection, never an
	// answer to a submission: submissions do not reveal whether another
	// tenant holds a role.
	CodeRoleClaimed   = connection.CodeRoleClaimed
	CodeConflict      = "CONFLICT"
	CodeInvalidStatus = "INVALID_STATUS"
	// CodeDisconnected: a check was asked of a DISCONNECTED connection; its
	// role must be submitted again (a state conflict, not bad input).
	CodeDisconnected  = "CONNECTION_DISCONNECTED"
	CodeInvalidCursor = "INVALID_CURSOR"
	CodeInvalidID     = "INVALID_ACCOUNT"
	// CodeConnectionLimit: the submission would exceed the tenant's
	// maxConnections live connections.
	CodeConnectionLimit = "CONNECTION_LIMIT"
	// CodeRateLimited: the invite made SubmissionsPerMinute submissions
	// this minute; Error.RetryAfter says when to try again.
	CodeRateLimited = "RATE_LIMITED"
	// CodeCheckTooSoon: a check of the connection was asked for too
	// recently; Error.RetryAfter says when another may be.
	CodeCheckTooSoon = "CHECK_TOO_SOON"
)

// Error is a refusal a client can act on: a stable code, a message, and the
// field at fault when there is one.
// It is the project's one refusal type; RetryAfter is set on RATE_LIMITED.
type Error = refusal.Error

// AsError returns the refusal in err's chain (of this package or of
// rolearn, tenant, rolesetup), or converts a store error the client caused
// into one; it returns nil for internal errors.
func AsError(err error) *Error {
	if e := refusal.As(err); e != nil {
		return e
	}
	switch {
	case errors.Is(err, store.ErrInvalidCursor):
		return &Error{Code: CodeInvalidCursor, Field: "cursor", Message: "the cursor is not one this API returned", Err: err}
	}
	return nil
}

// CreateTenant creates a tenant with a generated external ID and the
// default options.
func (s *Service) CreateTenant(ctx context.Context, id, name string) (tenant.Tenant, error) {
	return s.createTenant(ctx, id, name, TenantOptions{})
}

func (s *Service) createTenant(ctx context.Context, id, name string, opts TenantOptions) (tenant.Tenant, error) {
	t, err := tenant.New(id, name, s.now())
	if err != nil {
		return tenant.Tenant{}, err
	}
	if opts.MaxConnections != nil {
		t.MaxConnections = *opts.MaxConnections
	}
	for attempt := 0; ; attempt++ {
		err = s.Store.CreateTenant(ctx, t)
		if errors.Is(err, store.ErrExternalIDTaken) && attempt < 3 {
			t.ExternalID = tenant.NewExternalID()
			continue
		}
		break
	}
	if errors.Is(err, store.ErrTenantExists) {
		return tenant.Tenant{}, &Error{Code: CodeTenantExists, Field: "tenantId", Message: fmt.Sprintf("tenant %q exists", id), Err: err}
	}
	if err != nil {
		return tenant.Tenant{}, fmt.Errorf("create tenant %s: %w", id, err)
	}
	return t, nil
}

// Tenant returns a tenant, or NOT_FOUND.
func (s *Service) Tenant(ctx context.Context, id string) (tenant.Tenant, error) {
	if err := tenant.ValidateID(id); err != nil {
		return tenant.Tenant{}, err
	}
	t, err := s.Store.GetTenant(ctx, id)
	return t, noSuchTenant(id, err)
}

// noSuchTenant is err as the client gets it: NOT_FOUND (field tenantId)
// when the store has no tenant id.
func noSuchTenant(id string, err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return &Error{Code: CodeNotFound, Field: "tenantId", Message: fmt.Sprintf("no tenant %q", id), Err: err}
	}
	return err
}

// RotateOptions are the options of a rotation.
type RotateOptions struct {
	// Grace is how long the previous external ID stays accepted (0 to
	// tenant.MaxRotationGrace; 0 revokes it at once).
	Grace time.Duration
}

// CodeInvalidGrace: a rotation's grace period out of range.
const CodeInvalidGrace = "INVALID_GRACE"

// RotateExternalID gives a tenant a new current external ID. The previous
// one stays accepted for opts.Grace (checks during the grace try the
// current ID, then the previous one), then is retired for good; it is
// retired sooner when every connection holding a claim has verified with
// the new one, or at once with no grace. The External ID Rotation Started
// event is written with the rotation.
func (s *Service) RotateExternalID(ctx context.Context, id string, opts RotateOptions) (tenant.Tenant, error) {
	if opts.Grace < 0 || opts.Grace > tenant.MaxRotationGrace {
		return tenant.Tenant{}, &Error{Code: CodeInvalidGrace, Field: "graceSeconds",
			Message: fmt.Sprintf("graceSeconds must be between 0 and %d (30 days)", int(tenant.MaxRotationGrace/time.Second))}
	}
	t, err := s.Tenant(ctx, id)
	if err != nil {
		return tenant.Tenant{}, err
	}
	// A rotation still in its grace ends in the same write (Completed,
	// SUPERSEDED): the new rotation retires its previous ID. A rotation that
	// fails retires nothing.
	r := t.RotatedWithGrace(s.now(), opts.Grace)
	if err := s.Store.RotateExternalID(ctx, t, r); err != nil {
		if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrContended) {
			return tenant.Tenant{}, &Error{Code: CodeConflict, Message: "the tenant changed concurrently (rotated, its rotation completed, or its connection limit set); retry", Err: err}
		}
		return tenant.Tenant{}, fmt.Errorf("rotate external id of %s: %w", id, err)
	}
	// A tenant with no connection relying on the previous ID retires it
	// at once. That is best effort, as in the checks and the sweep: the
	// rotation is stored, so it is answered, still in its grace (a retry
	// of a rotation answered as failed would supersede it, retiring the
	// previous ID without its grace). The previous ID then stays accepted
	// for the grace asked, unless a check or sweep of a connection of the
	// tenant completes the rotation sooner.
	done, err := rotation.Settle(ctx, s.Store, r, s.now())
	if err != nil {
		s.log().WarnContext(ctx, earlyCompletionFailed, "tenantId", id, "externalIdVersion", r.ExternalIDVersion, "error", err)
	}
	if done {
		r = r.Retired()
	}
	return r, nil
}

// CreateInvite issues an invite for a tenant valid for InviteTTL. The
// code is returned once.
func (s *Service) CreateInvite(ctx context.Context, tenantID string) (string, tenant.Invite, error) {
	return s.CreateInviteWith(ctx, tenantID, InviteOptions{})
}

// ResolveInvite returns the tenant an invite code acts for. The invite is
// read again after the tenant: a rotation that revokes the invites revokes
// them before it rotates, so an invite still valid at that second read was
// valid when the tenant (and its external ID) was read, and one revoked
// between the two reads is never shown the new ID.
func (s *Service) ResolveInvite(ctx context.Context, code string) (tenant.Tenant, error) {
	if !tenant.WellFormedCode(code) {
		return tenant.Tenant{}, tenant.ErrInvalidInvite
	}
	inv, err := s.validInvite(ctx, code)
	if err != nil {
		return tenant.Tenant{}, err
	}
	t, err := s.Store.GetTenant(ctx, inv.TenantID)
	if err != nil {
		return tenant.Tenant{}, fmt.Errorf("resolve invite of %s: %w", inv.TenantID, err)
	}
	if _, err := s.validInvite(ctx, code); err != nil {
		return tenant.Tenant{}, err
	}
	return t, nil
}

// validInvite reads the invite of code and checks it is valid now.
func (s *Service) validInvite(ctx context.Context, code string) (tenant.Invite, error) {
	inv, err := s.Store.GetInvite(ctx, tenant.HashCode(code))
	if errors.Is(err, store.ErrNotFound) {
		return tenant.Invite{}, tenant.ErrInvalidInvite
	}
	if err != nil {
		return tenant.Invite{}, fmt.Errorf("resolve invite: %w", err)
	}
	if err := inv.Check(code, s.now()); err != nil {
		return tenant.Invite{}, err
	}
	return inv, nil
}

// Submit accepts a role ARN for a tenant. It returns the connection as
// stored; resubmitting the same ARN while PENDING or VERIFIED is a no-op,
// and while ACCESS_LOST queues a check of it (the connection keeping its
// role's claim).
// A submission that would add a live connection to a tenant that has
// MaxConnections of them is refused with CONNECTION_LIMIT (limits.go).
func (s *Service) Submit(ctx context.Context, t tenant.Tenant, roleARN string) (connection.Connection, error) {
	return s.submit(ctx, t, roleARN, "", "")
}

// submit is Submit by the registration resource (its LogicalResourceId)
// of the CloudFormation stack stackID ("": not a stack): the connection or
// candidate the submission creates records both. The role in use submitted
// again by another resource of the stack that registered it (the stack
// replaced its resource) is taken over by that resource.
func (s *Service) submit(ctx context.Context, t tenant.Tenant, roleARN, stackID, resource string) (connection.Connection, error) {
	arn, err := rolearn.Parse(roleARN, s.Rules)
	if err != nil {
		return connection.Connection{}, err
	}
	for attempt := 0; ; attempt++ {
		var existing *connection.Connection
		cur, err := s.Store.GetConnection(ctx, t.ID, arn.Account)
		switch {
		case err == nil:
			existing = &cur
		case !errors.Is(err, store.ErrNotFound):
			return connection.Connection{}, fmt.Errorf("submit %s for %s: %w", arn, t.ID, err)
		}
		tr := s.Policy.Submit(existing, t.ID, arn, t.ExternalIDVersion, s.now())
		switch {
		case stackID == "":
		case tr.Event == nil && existing != nil && existing.Stack == stackID && existing.RoleARN == arn.String() &&
			existing.StackResource != resource && resource != "":
			tr.After.StackResource = resource
		case tr.Event == nil:
		case tr.Event.CandidateRoleARN == arn.String():
			tr.After.Candidate.Stack, tr.After.Candidate.StackResource = stackID, resource
		default:
			tr.After.Stack, tr.After.StackResource = stackID, resource
		}
		// The role of an ACCESS_LOST connection submitted again: the
		// customer says it works again. The connection keeps its claim and
		// is checked now, as a submission is; a service without a queue
		// (the registration function's) leaves it to the sweep, its next
		// check brought forward.
		recheck := tr.Event == nil && existing != nil && existing.Status == connection.AccessLost && existing.RoleARN == arn.String() && s.Queue != nil
		if !tr.Changed() {
			if recheck {
				return tr.After, s.recheck(ctx, t, tr.After)
			}
			return tr.After, nil
		}
		if existing == nil || !existing.Live() {
			if err := s.checkConnectionLimit(ctx, t); err != nil {
				return connection.Connection{}, err
			}
		}
		err = s.Store.Apply(ctx, tr)
		if errors.Is(err, store.ErrConflict) && attempt < 3 {
			continue // a concurrent submission or check won; decide again
		}
		if err != nil {
			if e := AsError(err); e != nil {
				return connection.Connection{}, e
			}
			return connection.Connection{}, fmt.Errorf("submit %s for %s: %w", arn, t.ID, err)
		}
		if recheck {
			return tr.After, s.recheck(ctx, t, tr.After)
		}
		return tr.After, nil
	}
}

// recheck queues a check of c, whose role was submitted again while it is
// ACCESS_LOST, within the bound of CheckInvited: at most one per
// connection per CustomerCheckWindow (a burst of submissions queues one).
func (s *Service) recheck(ctx context.Context, t tenant.Tenant, c connection.Connection) error {
	wait, err := s.hit(ctx, "ccheck#"+c.TenantID+"#"+c.AccountID, CustomerCheckWindow, 1)
	if err != nil {
		return fmt.Errorf("count check request of %s/%s: %w", c.TenantID, c.AccountID, err)
	}
	if wait > 0 {
		// A check of it was asked for a moment ago (if its send failed,
		// the sweep checks it: its next check was brought forward).
		return nil
	}
	return s.queueJobs(ctx, t, c)
}

// Connection returns one connection of a tenant, or NOT_FOUND.
func (s *Service) Connection(ctx context.Context, tenantID, accountID string) (connection.Connection, error) {
	if err := ValidateAccountID(accountID); err != nil {
		return connection.Connection{}, err
	}
	c, err := s.Store.GetConnection(ctx, tenantID, accountID)
	if errors.Is(err, store.ErrNotFound) {
		return connection.Connection{}, &Error{Code: CodeNotFound, Field: "accountId", Message: fmt.Sprintf("no connection for account %s", accountID), Err: err}
	}
	return c, err
}

// ValidateAccountID checks a 12-digit AWS account ID from a URL.
func ValidateAccountID(id string) error {
	if !rolearn.IsAccountID(id) {
		return &Error{Code: CodeInvalidID, Field: "accountId", Message: "an AWS account ID is 12 digits"}
	}
	return nil
}

// Disconnect ends a connection and releases its role claim.
func (s *Service) Disconnect(ctx context.Context, tenantID, accountID string) (connection.Connection, error) {
	t, err := s.Tenant(ctx, tenantID)
	if err != nil {
		return connection.Connection{}, err
	}
	for attempt := 0; ; attempt++ {
		c, err := s.Connection(ctx, tenantID, accountID)
		if err != nil {
			return connection.Connection{}, err
		}
		tr := s.Policy.Disconnect(c, t.ExternalIDVersion, s.now())
		if !tr.Changed() {
			return c, nil
		}
		err = s.Store.Apply(ctx, tr)
		if errors.Is(err, store.ErrConflict) && attempt < 3 {
			continue
		}
		if err != nil {
			return connection.Connection{}, fmt.Errorf("disconnect %s/%s: %w", tenantID, accountID, err)
		}
		s.settleAfterRelease(ctx, t, c)
		return tr.After, nil
	}
}

// settleAfterRelease completes t's rotation, in its grace, when a
// connection that held a claim (before) was disconnected: the others may
// all verify with the current external ID now, and with no live connection
// left, no check or sweep would reach the tenant to complete it when the
// grace ends. Best effort: a failure is logged.
func (s *Service) settleAfterRelease(ctx context.Context, t tenant.Tenant, before connection.Connection) {
	if !t.InGrace() || !before.HoldsClaim() {
		return
	}
	if _, err := rotation.SettleTenant(ctx, s.Store, t.ID, s.now()); err != nil {
		s.log().WarnContext(ctx, "rotation not completed after a disconnection; it stays open until a check or sweep of the tenant's connections completes it",
			"tenantId", t.ID, "error", err)
	}
}

// earlyCompletionFailed is logged when a new rotation could not be
// completed at once: nothing retries it but a later check or sweep of the
// tenant's connections (a tenant with none keeps it open, its previous ID
// refused once the grace ends, without a Completed event).
const earlyCompletionFailed = "rotation not completed early; its previous external ID stays accepted until its grace ends"

// RequestCheck queues a check of a live connection now, at most once per
// connection per CheckRequestWindow (CHECK_TOO_SOON otherwise, which
// queues nothing): see takeCheckRequest.
func (s *Service) RequestCheck(ctx context.Context, tenantID, accountID string) (connection.Connection, error) {
	t, err := s.Tenant(ctx, tenantID)
	if err != nil {
		return connection.Connection{}, err
	}
	c, err := s.Connection(ctx, tenantID, accountID)
	if err != nil {
		return connection.Connection{}, err
	}
	if err := checkable(t, c); err != nil {
		return connection.Connection{}, err
	}
	if err := s.takeCheckRequest(ctx, c); err != nil {
		return connection.Connection{}, err
	}
	if err := s.queueJobs(ctx, t, c); err != nil {
		return connection.Connection{}, err
	}
	return c, nil
}

// queueJobs sends the jobs of a requested check of c, a connection
// checkable with t's external IDs.
func (s *Service) queueJobs(ctx context.Context, t tenant.Tenant, c connection.Connection) error {
	if err := s.Queue.Send(ctx, probe.JobsFor(c, t, probe.WhyRequested, s.now())); err != nil {
		return fmt.Errorf("queue check of %s/%s: %w", c.TenantID, c.AccountID, err)
	}
	return nil
}

// checkable refuses to check c with t's external IDs when c is another
// tenant's or disconnected.
func checkable(t tenant.Tenant, c connection.Connection) error {
	if c.TenantID != t.ID {
		// Never check one tenant's role with another's external ID.
		return fmt.Errorf("queue check of %s/%s with the external ID of tenant %s", c.TenantID, c.AccountID, t.ID)
	}
	if !c.Live() {
		return &Error{Code: CodeDisconnected, Field: "accountId", Message: "the connection is disconnected; the customer must submit the role again"}
	}
	return nil
}

// ListByTenant lists a tenant's connections; an unknown tenant is
// NOT_FOUND.
func (s *Service) ListByTenant(ctx context.Context, tenantID, cursor string, limit int) (Page, error) {
	t, err := s.Tenant(ctx, tenantID)
	if err != nil {
		return Page{}, err
	}
	return s.ConnectionsOf(ctx, t, cursor, limit)
}

// ConnectionsOf lists the connections of t, a tenant the caller has just
// read (the form's invite names it), without reading it again.
func (s *Service) ConnectionsOf(ctx context.Context, t tenant.Tenant, cursor string, limit int) (Page, error) {
	return page(s.Store.ListByTenant(ctx, t.ID, cursor, limit))
}

// ListByStatus lists connections in one status.
func (s *Service) ListByStatus(ctx context.Context, status string, cursor string, limit int) (Page, error) {
	st := connection.Status(status)
	if !st.Valid() {
		return Page{}, &Error{Code: CodeInvalidStatus, Field: "status", Message: "status must be one of PENDING, VERIFIED, FAILED, ACCESS_LOST, DISCONNECTED"}
	}
	return page(s.Store.ListByStatus(ctx, st, cursor, limit))
}
