// Package connection is RoleCall's connection lifecycle: the states a
// customer's role moves through, the reasons for each move, and the events
// that describe them. It is pure: no I/O, no clock, no randomness. Every
// function takes the current connection and returns the next one plus the
// event to emit, or none.
//
//	          submit                    check ok
//	(none) ──────────▶ PENDING ─────────────────────▶ VERIFIED ◀─────────┐
//	                     │  ▲                           │               │ check ok
//	     denied after    │  │ resubmit                  │ N consecutive │ (Role Access
//	     propagation     ▼  │                           ▼ failures      │  Restored)
//	     window        FAILED                        ACCESS_LOST ───────┘
//	any state ── disconnect ──▶ DISCONNECTED (role claim released)
package connection

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"time"

	"github.com/rolecall/rolecall/internal/rolearn"
)

// Status is where a connection is in its lifecycle.
type Status string

// The statuses.
const (
	Pending      Status = "PENDING"
	Verified     Status = "VERIFIED"
	Failed       Status = "FAILED"
	AccessLost   Status = "ACCESS_LOST"
	Disconnected Status = "DISCONNECTED"
)

// Statuses lists every status in lifecycle order.
var Statuses = []Status{Pending, Verified, Failed, AccessLost, Disconnected}

// Valid reports whether s is a known status.
func (s Status) Valid() bool {
	for _, v := range Statuses {
		if s == v {
			return true
		}
	}
	return false
}

// Reason explains a status: a stable code, a one-line message, and a hint
// telling the customer what to change.
type Reason struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Hint    string `json:"hint,omitempty"`
}

// Connection is one customer AWS account connected to a tenant through one
// IAM role. Its identity is (TenantID, AccountID).
type Connection struct {
	TenantID  string `json:"tenantId"`
	AccountID string `json:"accountId"`
	RoleARN   string `json:"roleArn"`
	// Stack is the StackId of the customer's CloudFormation stack that
	// registered RoleARN, empty when the form or the API submitted it: only
	// that stack's deletion undoes the registration (a Delete request's
	// StackId is whatever its publisher writes; the stored one is not).
	Stack string `json:"stack,omitempty"`
	// StackResource is the LogicalResourceId of the stack's registration
	// resource that registered RoleARN last, empty for registrations made
	// before RoleCall stored it: when a stack replaces that resource with
	// one of another logical ID (a renamed or moved CDK construct), the new
	// one takes the registration over, and CloudFormation's deletion of
	// the old one leaves the connection alone.
	StackResource string `json:"stackResource,omitempty"`
	Status        Status `json:"status"`
	Reason        Reason `json:"reason"`
	// Version increases with every transition; checks are applied only to
	// the version they were started for.
	Version             int64     `json:"version"`
	ConsecutiveFailures int       `json:"consecutiveFailures"`
	SubmittedAt         time.Time `json:"submittedAt"`
	UpdatedAt           time.Time `json:"updatedAt"`
	VerifiedAt          time.Time `json:"verifiedAt,omitzero"`
	LastCheckedAt       time.Time `json:"lastCheckedAt,omitzero"`
	// NextCheckAt is when the sweeper re-checks; zero once disconnected.
	NextCheckAt time.Time `json:"nextCheckAt,omitzero"`
	// ExternalIDVersion is the tenant's external-ID version the last
	// successful check used (0 before any).
	ExternalIDVersion int `json:"externalIdVersion,omitempty"`
	// ExternalIDCurrent is false when the last successful check worked only
	// with the tenant's previous external ID (during a rotation's grace):
	// the customer must update the role's trust policy to the current one.
	ExternalIDCurrent bool `json:"externalIdCurrent"`
	// Candidate is a new role submitted for a VERIFIED connection: the
	// verified role stays in use (and keeps its claim) until the candidate
	// verifies and replaces it. A candidate that failed stays here, FAILED
	// with its reason, so the customer sees why, until the next submission.
	Candidate Candidate `json:"candidate,omitzero"`
}

// Candidate is a role waiting to replace a connection's verified role.
type Candidate struct {
	RoleARN string `json:"roleArn"`
	// Stack is the StackId of the stack that submitted the candidate (see
	// Connection.Stack) and StackResource its registration resource (see
	// Connection.StackResource).
	Stack         string    `json:"stack,omitempty"`
	StackResource string    `json:"stackResource,omitempty"`
	Status        Status    `json:"status"` // PENDING while it is checked, FAILED once dropped
	Reason        Reason    `json:"reason"`
	SubmittedAt   time.Time `json:"submittedAt"`
}

// Pending reports whether the candidate is still being verified.
func (c Candidate) Pending() bool { return c.RoleARN != "" && c.Status == Pending }

// Live reports whether the connection is still in use (not disconnected):
// it is checked and listed as due.
func (c Connection) Live() bool { return c.Status != Disconnected }

// HoldsClaim reports whether the connection holds its role's claim: only a
// connection that has been VERIFIED holds one (VERIFIED, and ACCESS_LOST
// until it is restored or disconnected). PENDING and FAILED connections
// hold none, so a submission can never squat on a role.
func (c Connection) HoldsClaim() bool { return c.Status == Verified || c.Status == AccessLost }

// ClaimKey identifies the connection's role as IAM does (account +
// lower-cased name, see rolearn.ARN.ClaimKey); at most one connection
// holds a claim key (see HoldsClaim). It is "" when RoleARN does not parse.
func (c Connection) ClaimKey() string {
	a, err := rolearn.Parse(c.RoleARN, rolearn.Rules{})
	if err != nil {
		return ""
	}
	return a.ClaimKey()
}

// DetailType is the EventBridge detail-type of an event.
type DetailType string

// The detail-types RoleCall emits.
const (
	RoleSubmitted          DetailType = "Role Submitted"
	RoleVerified           DetailType = "Role Verified"
	RoleVerificationFailed DetailType = "Role Verification Failed"
	RoleAccessLost         DetailType = "Role Access Lost"
	RoleAccessRestored     DetailType = "Role Access Restored"
	RoleDisconnected       DetailType = "Role Disconnected"
	// The tenant's detail-types (their events have no account or role).
	ExternalIDRotationStarted   DetailType = "External ID Rotation Started"
	ExternalIDRotationCompleted DetailType = "External ID Rotation Completed"
)

// DetailTypes lists every detail-type.
var DetailTypes = []DetailType{RoleSubmitted, RoleVerified, RoleVerificationFailed, RoleAccessLost, RoleAccessRestored, RoleDisconnected,
	ExternalIDRotationStarted, ExternalIDRotationCompleted}

// OfTenant reports whether d is a tenant's detail-type rather than a
// connection's.
func (d DetailType) OfTenant() bool {
	return d == ExternalIDRotationStarted || d == ExternalIDRotationCompleted
}

// Event describes one transition. It is the EventBridge detail.
type Event struct {
	EventID        string     `json:"eventId"`
	DetailType     DetailType `json:"-"`
	TenantID       string     `json:"tenantId"`
	AccountID      string     `json:"accountId"`
	RoleARN        string     `json:"roleArn"`
	Status         Status     `json:"status"`
	PreviousStatus Status     `json:"previousStatus"` // "" for a first submission
	Reason         Reason     `json:"reason"`
	OccurredAt     time.Time  `json:"occurredAt"`
	Version        int64      `json:"version"`
	// ExternalIDVersion is the tenant's external-ID version in force when
	// the transition happened, so a rotation shows in the event stream.
	ExternalIDVersion int `json:"externalIdVersion"`
	// PreviousRoleARN is the role a verified candidate replaced.
	PreviousRoleARN string `json:"previousRoleArn,omitempty"`
	// CandidateRoleARN names the candidate an event is about (submitted or
	// failed); RoleARN is then the role still in use.
	CandidateRoleARN string `json:"candidateRoleArn,omitempty"`
	// ExternalIDCurrent is the connection's (false while its role works
	// only with the tenant's previous external ID).
	ExternalIDCurrent bool `json:"externalIdCurrent"`
	// Of tenant events (rotations) only: the previous external-ID
	// version, when its grace ends, and how a rotation completed.
	PreviousExternalIDVersion int       `json:"previousExternalIdVersion,omitempty"`
	GraceEndsAt               time.Time `json:"graceEndsAt,omitzero"`
	Completion                string    `json:"completion,omitempty"`
}

// EventID is the stable identifier of the event for a connection version:
// the same transition always yields the same ID, so consumers deduplicate.
func EventID(tenantID, accountID string, version int64) string {
	return stableID(tenantID, accountID, uint64(version))
}

// stableID is an event ID derived from two names and a version: a
// SHA-256 over them, NUL-separated so that ("ab", "c") and ("a", "bc")
// differ, cut to 128 bits.
func stableID(first, second string, version uint64) string {
	h := sha256.New()
	h.Write([]byte(first))
	h.Write([]byte{0})
	h.Write([]byte(second))
	h.Write([]byte{0})
	var v [8]byte
	binary.BigEndian.PutUint64(v[:], version)
	h.Write(v[:])
	return "evt-" + hex.EncodeToString(h.Sum(nil)[:16])
}

// Transition is the unit a store writes atomically: the connection as it was
// (nil when new), as it becomes, and the event describing the change (nil for
// a routine check that changes nothing but check times and failure count).
type Transition struct {
	Before *Connection
	After  Connection
	Event  *Event
	// Check is the check outcome the transition applies (nil for
	// submissions and disconnections). A store writes a transition that
	// changes a status, a failure count or the external-ID bookkeeping only
	// while the tenant still accepts the external ID the check used.
	Check *Outcome
}

// Changed reports whether the transition writes anything.
func (t Transition) Changed() bool {
	return t.Before == nil || t.Event != nil || *t.Before != t.After
}

// Errors of the lifecycle.
var (
	// ErrStale: the outcome was for an older version, or the connection
	// is disconnected; it is discarded.
	ErrStale = errors.New("stale check outcome")
)

func transition(before Connection, after Connection, dt DetailType, ts time.Time, extVersion int) Transition {
	after.Version = before.Version + 1
	after.UpdatedAt = ts
	ev := &Event{
		EventID:           EventID(after.TenantID, after.AccountID, after.Version),
		DetailType:        dt,
		TenantID:          after.TenantID,
		AccountID:         after.AccountID,
		RoleARN:           after.RoleARN,
		Status:            after.Status,
		PreviousStatus:    before.Status,
		Reason:            after.Reason,
		OccurredAt:        ts,
		Version:           after.Version,
		ExternalIDVersion: extVersion,
		ExternalIDCurrent: after.ExternalIDCurrent,
	}
	b := before
	if before.Version == 0 && before.Status == "" {
		return Transition{Before: nil, After: after, Event: ev}
	}
	return Transition{Before: &b, After: after, Event: ev}
}
