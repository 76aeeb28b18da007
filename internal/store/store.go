// Package store keeps RoleCall's state and its outbox of events together: a
// status change and the event describing it are committed atomically, so
// state and events can never diverge.
//
// Store is the port. Two adapters implement it with the same semantics and
// pass the same contract suite (storetest): DynamoDB (the AWS adapter, one
// table, documented in dynamodb.go) and Memory (the embedded adapter for
// `rolecall serve` and tests, with a change feed standing in for the
// DynamoDB stream).
package store

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/tenant"
)

// Errors, matched with errors.Is.
var (
	ErrNotFound = errors.New("not found")
	// ErrTenantExists: CreateTenant for an existing tenant ID.
	ErrTenantExists = errors.New("tenant exists")
	// ErrExternalIDTaken: the external ID is (or was) used by another
	// tenant. Generated IDs make this practically impossible; the store
	// enforces it anyway.
	ErrExternalIDTaken = errors.New("external id taken")
	// ErrRoleClaimed: another connection holds the role's claim (returned
	// only by a transition that would make a connection hold it).
	ErrRoleClaimed = errors.New("role claimed by another connection")
	// ErrConflict: the connection changed since it was read (version or
	// failure count differs, or it exists when it was expected not to).
	ErrConflict = errors.New("connection changed concurrently")
	// ErrContended: a write DynamoDB still rejected, after every retry,
	// because other transactions were in flight on the same items (the
	// tenant's item, which every guarded check of its connections reads).
	// Nothing changed that the write depends on: unlike ErrConflict it is
	// not stale, and is to be tried again later.
	ErrContended = errors.New("contended by transactions in flight on the same items")
	// ErrInvalidTransition: a transition the store refuses to write (a
	// routine update that changes status, role or version, or a rotation
	// to other than the next external-ID version).
	ErrInvalidTransition = errors.New("invalid transition")
	// ErrInvalidCursor: a page cursor this store did not issue.
	ErrInvalidCursor = errors.New("invalid cursor")
	// ErrInvalidInvite: PutInvite of an invite without a well-formed ID.
	ErrInvalidInvite = errors.New("invalid invite")
	// ErrInviteExists: PutInvite of an invite whose ID or hash is stored.
	ErrInviteExists = errors.New("invite exists")
	// ErrExternalIDRetired: the transition applies a check made with an
	// external ID the tenant no longer accepts (rotated since the check's
	// job was made, or retired at the end of its grace period).
	ErrExternalIDRetired = errors.New("check made with a retired external id")
)

// InvitePage is one page of a tenant's invites.
type InvitePage struct {
	Items  []tenant.Invite
	Cursor string
}

// Page is one page of a listing. Cursor is opaque; "" means no more pages.
type Page struct {
	Items  []connection.Connection
	Cursor string
}

// Store is the port the pipeline writes and reads through.
type Store interface {
	CreateTenant(ctx context.Context, t tenant.Tenant) error
	GetTenant(ctx context.Context, id string) (tenant.Tenant, error)
	// RotateExternalID stores to, the rotation of from, if the stored
	// tenant is still from: the same version, connection limit and
	// rotation in grace, or none (ErrConflict otherwise); the new ID must
	// be unused. In the same write it adds to the outbox the External ID
	// Rotation Completed event (SUPERSEDED) of from's rotation when from
	// is in its grace, whose previous ID to retires, the Started event, and
	// Completed (REVOKED) when to keeps no previous ID.
	RotateExternalID(ctx context.Context, from, to tenant.Tenant) error
	// SetMaxConnections sets the tenant's connection limit, and nothing
	// else, and returns the tenant as stored after it; ErrNotFound when
	// there is no such tenant. A rotation of the tenant as read before it
	// then fails with ErrConflict rather than putting the old limit back.
	SetMaxConnections(ctx context.Context, id string, limit int) (tenant.Tenant, error)
	// CompleteRotation retires t's previous external ID, if the stored
	// tenant is still t (same version, same previous ID), with the External
	// ID Rotation Completed event; ErrConflict otherwise (completed, or
	// rotated again, meanwhile).
	CompleteRotation(ctx context.Context, t tenant.Tenant, completion string, at time.Time) error
	// TenantEvents returns a tenant's own events (rotations), oldest first.
	TenantEvents(ctx context.Context, tenantID string) ([]connection.Event, error)

	// PutInvite stores a new invite (its ID must be well-formed and new).
	PutInvite(ctx context.Context, inv tenant.Invite) error
	// GetInvite finds an invite by the hash of its code.
	GetInvite(ctx context.Context, hash string) (tenant.Invite, error)
	// ListInvites lists a tenant's invites, oldest first (invite IDs sort
	// by creation time to the millisecond, then at random), revoked and
	// expired ones included until the store
	// drops them (DynamoDB's TTL, InviteGrace after expiry).
	ListInvites(ctx context.Context, tenantID, cursor string, limit int) (InvitePage, error)
	// RevokeInvite marks an invite of the tenant revoked and returns it;
	// revoking a revoked invite changes nothing. ErrNotFound when the
	// tenant has no invite of that ID.
	RevokeInvite(ctx context.Context, tenantID, inviteID string) (tenant.Invite, error)

	// CountLive counts the tenant's live (not DISCONNECTED) connections.
	CountLive(ctx context.Context, tenantID string) (int, error)
	// Hit adds one to the counter of (key, window) unless it has reached
	// limit, and reports whether it added: a fixed-window rate limit held
	// in the store, so that it holds across every instance of the API.
	// The counter may be dropped after expires.
	Hit(ctx context.Context, key string, window time.Time, limit int, expires time.Time) (bool, error)

	GetConnection(ctx context.Context, tenantID, accountID string) (connection.Connection, error)
	// Apply writes a transition atomically. With an event: the connection
	// (conditioned on Before's version, or on not existing), the event
	// item (the outbox), the role claim of a connection that holds one
	// (connection.HoldsClaim) and the release of a claim it no longer holds. Without an event (a routine
	// check): one conditional update of check times and failure count.
	Apply(ctx context.Context, t connection.Transition) error

	ListByTenant(ctx context.Context, tenantID, cursor string, limit int) (Page, error)
	ListByStatus(ctx context.Context, status connection.Status, cursor string, limit int) (Page, error)
	// Due lists live connections of one shard with NextCheckAt <= until,
	// soonest first.
	Due(ctx context.Context, shard int, until time.Time, cursor string, limit int) (Page, error)
	// Events returns a connection's event history, oldest first.
	Events(ctx context.Context, tenantID, accountID string) ([]connection.Event, error)
	// ListTenants lists tenants in the byte order of their IDs.
	ListTenants(ctx context.Context, cursor string, limit int) (TenantPage, error)
	// GracesEnded lists the IDs of at most limit tenants whose rotation's
	// grace ended at or before until and is not completed, soonest first.
	GracesEnded(ctx context.Context, until time.Time, limit int) ([]string, error)
}

// TenantPage is one page of a tenant listing. Cursor is opaque; "" means no
// more pages.
type TenantPage struct {
	Items  []tenant.Tenant
	Cursor string
}

// Shards is the number of due-index shards; sweeps query them concurrently.
const Shards = 8

// ShardOf is the due-index shard of a connection.
func ShardOf(tenantID, accountID string) int {
	h := fnv.New32a()
	h.Write([]byte(tenantID))
	h.Write([]byte{0})
	h.Write([]byte(accountID))
	return int(h.Sum32() % Shards)
}

// DefaultLimit and MaxLimit bound page sizes.
const (
	DefaultLimit = 50
	MaxLimit     = 1000
)

func clampLimit(n int) int {
	if n <= 0 {
		return DefaultLimit
	}
	return min(n, MaxLimit)
}

// guard is what a transition computed from a check outcome requires of the
// tenant when it is written: that it still accepts the external ID the
// check used (tenant.Tenant.AcceptsExternalID).
type guard struct {
	tenantID string
	version  int
	previous bool
	at       time.Time
}

// guardOf returns the guard of t, if it needs one. A status change, a
// change of the failure count (reset or increment) or of the external-ID
// bookkeeping needs one, and so does every success with the previous ID
// only: the grace that accepts it ends, and a job made during it can be
// checked after (waiting in the routine queue, or redelivered), when the
// success must change nothing. A routine check that changes none of these
// (the common case: a healthy role checked again with the current ID, or
// a transient failure) needs none, so it stays a single conditional write.
func guardOf(t connection.Transition) (guard, bool) {
	o := t.Check
	if o == nil || o.Result == connection.ResultTransient {
		return guard{}, false
	}
	if t.Event == nil && t.Before != nil && !o.PreviousOnly() {
		b, a := t.Before, t.After
		if a.ConsecutiveFailures == b.ConsecutiveFailures && a.ExternalIDVersion == b.ExternalIDVersion && a.ExternalIDCurrent == b.ExternalIDCurrent {
			return guard{}, false
		}
	}
	return guard{tenantID: t.After.TenantID, version: o.ExternalIDVersion, previous: o.PreviousOnly(), at: o.CheckedAt.UTC()}, true
}

// sameSnapshot reports whether the stored connection cur is still the one a
// transition was computed from (before): same version, failure count, last
// check time, role and stack resource. Conditioning writes on all of them
// (not only the version) discards an outcome computed before another check
// was applied, or before a stack's new resource took the registration over,
// whatever order they are written in.
func sameSnapshot(cur, before connection.Connection) bool {
	return cur.Version == before.Version && cur.ConsecutiveFailures == before.ConsecutiveFailures &&
		cur.LastCheckedAt.Equal(before.LastCheckedAt) && cur.RoleARN == before.RoleARN && cur.StackResource == before.StackResource
}

// withDefaultLimit is t as it reads when stored without a connection
// limit (before tenants had one), as DynamoDB reads such an item.
func withDefaultLimit(t tenant.Tenant) tenant.Tenant {
	if t.MaxConnections == 0 {
		t.MaxConnections = tenant.DefaultMaxConnections
	}
	return t
}

// validate refuses transitions no adapter may write.
func validate(t connection.Transition) error {
	if t.Event == nil {
		b := t.Before
		if b == nil || b.Status != t.After.Status || b.RoleARN != t.After.RoleARN || b.Stack != t.After.Stack || b.Version != t.After.Version || b.Candidate != t.After.Candidate ||
			b.TenantID != t.After.TenantID || b.AccountID != t.After.AccountID {
			return ErrInvalidTransition
		}
		return nil
	}
	if t.Event.TenantID != t.After.TenantID || t.Event.AccountID != t.After.AccountID {
		return ErrInvalidTransition
	}
	if t.Event.Version != t.After.Version || (t.Before != nil && t.Before.Version+1 != t.After.Version) || (t.Before == nil && t.After.Version != 1) {
		return ErrInvalidTransition
	}
	if t.Before != nil && (t.Before.TenantID != t.After.TenantID || t.Before.AccountID != t.After.AccountID) {
		return ErrInvalidTransition
	}
	return nil
}

// rotationEvents are the outbox events of rotating from to to, in order:
// the end of from's rotation when it is in its grace (to retires its
// previous ID), to's start, and to's end when it keeps no previous ID. A
// to that is not from's next version is refused.
func rotationEvents(from, to tenant.Tenant) ([]connection.Event, error) {
	if to.ID != from.ID || to.ExternalIDVersion != from.ExternalIDVersion+1 {
		return nil, fmt.Errorf("tenant %s v%d is not the rotation of %s v%d: %w", to.ID, to.ExternalIDVersion, from.ID, from.ExternalIDVersion, ErrInvalidTransition)
	}
	var evs []connection.Event
	if from.InGrace() {
		evs = append(evs, connection.RotationCompleted(from, connection.CompletionSuperseded, to.RotatedAt))
	}
	evs = append(evs, connection.RotationStarted(to))
	if !to.InGrace() {
		evs = append(evs, connection.RotationCompleted(to, connection.CompletionRevoked, to.RotatedAt))
	}
	return evs, nil
}
