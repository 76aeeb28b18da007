package connection

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/rolecall/rolecall/internal/rolearn"
)

// Result is what one check of a role found.
type Result string

// Check results. The non-OK, non-transient ones are also reason codes.
const (
	ResultOK              Result = "OK"
	ResultDenied          Result = "ASSUME_DENIED"
	ResultNotEnforced     Result = "EXTERNAL_ID_NOT_ENFORCED"
	ResultAccountMismatch Result = "ACCOUNT_MISMATCH"
	ResultRegionDisabled  Result = "REGION_DISABLED"
	// ResultTransient: throttling, 5xx, timeouts. Never changes a status.
	ResultTransient Result = "TRANSIENT"
)

// Reason codes of transitions that are not check failures.
const (
	CodeSubmitted      = "SUBMITTED"
	CodeVerified       = "VERIFIED"
	CodeAccessRestored = "ACCESS_RESTORED"
	CodeDisconnected   = "DISCONNECTED"
	// CodeRoleClaimed: the tenant's own external ID assumes the role, but
	// another connection already holds the role's claim.
	CodeRoleClaimed = "ROLE_CLAIMED"
	// CodeStackDeleted: the customer deleted the CloudFormation stack that
	// registered the role (a disconnection, or a dropped candidate).
	CodeStackDeleted = "STACK_DELETED"
)

// Outcome is the result of one check, for the connection version it was
// started for.
type Outcome struct {
	Result  Result
	Detail  string // short, non-secret detail (e.g. the account a session landed in)
	Version int64
	// ExternalIDVersion is the tenant's external-ID version the check used:
	// the previous one when only that one assumed the role (a rotation's
	// grace period), else the current one.
	ExternalIDVersion int
	// ExternalIDCurrent: the call with the tenant's current external ID
	// assumed the role (false when only the previous one did, or none).
	ExternalIDCurrent bool
	CheckedAt         time.Time
}

// PreviousOnly reports whether the outcome is a success with the tenant's
// previous external ID only (a rotation is in its grace period and the
// role's trust policy still names the previous ID).
func (o Outcome) PreviousOnly() bool { return o.Result == ResultOK && !o.ExternalIDCurrent }

// JobExternalIDVersion is the tenant's current external-ID version when
// the check's job was made: the previous ID is always the current one's
// predecessor.
func (o Outcome) JobExternalIDVersion() int {
	if o.PreviousOnly() {
		return o.ExternalIDVersion + 1
	}
	return o.ExternalIDVersion
}

// Policy holds the lifecycle's knobs. The zero value is not useful; start
// from DefaultPolicy.
type Policy struct {
	// PropagationWindow: AccessDenied on a PENDING connection is retried
	// this long after submission before it becomes FAILED (IAM is
	// eventually consistent).
	PropagationWindow time.Duration
	// PendingBackoff is the first retry delay inside the window; it doubles
	// up to PendingBackoffMax.
	PendingBackoff    time.Duration
	PendingBackoffMax time.Duration
	// PendingSafetyNet: a new submission is checked at once through the
	// bus; the sweeper picks it up after this long if that path failed.
	PendingSafetyNet time.Duration
	// LostAfter consecutive failed checks turn VERIFIED into ACCESS_LOST.
	LostAfter int
	// Intervals between routine checks per state.
	VerifiedInterval time.Duration
	FailedInterval   time.Duration
	LostInterval     time.Duration
	// SuspectInterval: a VERIFIED connection whose last check failed is
	// re-checked this soon, so ACCESS_LOST is confirmed quickly.
	SuspectInterval time.Duration
	// TransientRetry: after a transient error the check is retried this soon.
	TransientRetry time.Duration
	// Jitter spreads routine checks: each interval is varied by up to
	// ±Jitter of itself so sweeps do not bunch up.
	Jitter float64
	// Backoff spaces the checks of FAILED and ACCESS_LOST connections and
	// abandons FAILED ones (schedule.go).
	Backoff
}

// DefaultPolicy returns the documented defaults.
func DefaultPolicy() Policy {
	return Policy{
		PropagationWindow: 2 * time.Minute,
		PendingBackoff:    5 * time.Second,
		PendingBackoffMax: 30 * time.Second,
		PendingSafetyNet:  30 * time.Second,
		LostAfter:         2,
		VerifiedInterval:  time.Hour,
		FailedInterval:    10 * time.Minute,
		LostInterval:      10 * time.Minute,
		SuspectInterval:   time.Minute,
		TransientRetry:    30 * time.Second,
		Jitter:            0.1,
		Backoff:           DefaultBackoff(),
	}
}

// ReasonFor returns the customer-facing reason for a failed check result.
func ReasonFor(r Result, detail string) Reason {
	switch r {
	case ResultDenied:
		return Reason{Code: string(r),
			Message: "RoleCall could not assume the role with your external ID.",
			Hint: "Most likely first: (1) the role name or the account ID in the ARN is mistyped, or the role does not exist (yet); " +
				"(2) the role's trust policy names another principal than the partner's principal shown on the form; " +
				"(3) its sts:ExternalId condition holds another value than the external ID shown to you. " +
				"Compare the role's trust policy with the one on the form."}
	case ResultNotEnforced:
		return notEnforcedReason(detail)
	case ResultAccountMismatch:
		msg := "The role was assumed, but the session belongs to another account than the ARN names."
		if detail != "" {
			msg = fmt.Sprintf("The role was assumed, but the session belongs to account %s, not the one the ARN names.", detail)
		}
		return Reason{Code: string(r), Message: msg,
			Hint: "Paste the ARN of a role that lives in the account you are connecting."}
	case ResultRegionDisabled:
		return Reason{Code: string(r),
			Message: "AWS STS is not activated in your account for the region RoleCall uses.",
			Hint:    "Activate the region's STS endpoint in IAM > Account settings, or enable the region in your account."}
	}
	return Reason{Code: string(r), Message: "The check failed: " + string(r) + ".", Hint: "Try again later."}
}

// RoleClaimed is the transition for a check that succeeded while another
// connection holds the role's claim (the store refused the claim when the
// connection was to become VERIFIED): the connection becomes FAILED with
// ROLE_CLAIMED and keeps being re-checked like any FAILED one (backing off,
// and abandoned AbandonAfter after its submission), so it is VERIFIED once
// the other connection lets the role go. It returns ErrStale
// when the outcome does not apply to c.
func (p Policy) RoleClaimed(c Connection, o Outcome) (Transition, error) {
	if err := stale(c, o); err != nil {
		return Transition{}, err
	}
	if c.HoldsClaim() || o.Result != ResultOK {
		return Transition{}, fmt.Errorf("refuse claim of %s/%s v%d (outcome %s for v%d): %w", c.TenantID, c.AccountID, c.Version, o.Result, o.Version, ErrStale)
	}
	tr := p.roleClaimed(c, o)
	tr.Check = &o
	return tr, nil
}

func (p Policy) roleClaimed(c Connection, o Outcome) Transition {
	now := o.CheckedAt.UTC()
	if p.Abandoned(c, now) {
		return p.Abandon(c, o.ExternalIDVersion, now)
	}
	after := c
	after.LastCheckedAt = now
	// As any FAILED connection's: from FailedInterval, doubling.
	after.NextCheckAt = now.Add(p.jittered(p.RetryInterval(c, now), c, now))
	if after.ConsecutiveFailures < 1<<20 {
		after.ConsecutiveFailures++
	}
	after.Status = Failed
	after.Reason = Reason{Code: CodeRoleClaimed,
		Message: "RoleCall assumed the role with your external ID, but the role is already connected through another connection.",
		Hint:    "A role serves one connection only: create a separate role for this partner connection and submit its ARN."}
	if c.Status == Failed && c.Reason.Code == CodeRoleClaimed {
		after.Reason = c.Reason
		return Transition{Before: &c, After: after}
	}
	return transition(c, after, RoleVerificationFailed, now, o.ExternalIDVersion)
}

// Submit applies a customer's submission of arn for tenantID. existing is the
// stored connection for (tenant, account), or nil. The same ARN while PENDING
// or VERIFIED changes nothing (Changed() is false); the same ARN while
// ACCESS_LOST only brings its next check forward (the claim stays); a new
// ARN for a VERIFIED connection becomes its candidate (the verified role
// stays in use); a new ARN otherwise, or the same one after FAILED or
// DISCONNECTED, starts verification again.
func (p Policy) Submit(existing *Connection, tenantID string, arn rolearn.ARN, externalIDVersion int, now time.Time) Transition {
	now = now.UTC()
	role := arn.String()
	if existing != nil && existing.RoleARN == role && (existing.Status == Pending || existing.Status == Verified) {
		return Transition{Before: existing, After: *existing}
	}
	if existing != nil && existing.RoleARN == role && existing.Status == AccessLost {
		// The customer says the role works again: its next check is
		// brought forward to the safety net, and the connection keeps
		// its claim (a new PENDING would release it, and another tenant
		// whose external ID the role also trusts could take it meanwhile).
		after := *existing
		if next := now.Add(p.PendingSafetyNet); next.Before(after.NextCheckAt) {
			after.NextCheckAt = next
		}
		return Transition{Before: existing, After: after}
	}
	if existing != nil && existing.Status == Verified {
		return p.submitCandidate(*existing, role, externalIDVersion, now)
	}
	var before Connection
	if existing != nil {
		before = *existing
	}
	after := Connection{
		TenantID:    tenantID,
		AccountID:   arn.Account,
		RoleARN:     role,
		Status:      Pending,
		Reason:      Reason{Code: CodeSubmitted, Message: "The role was submitted; RoleCall is verifying it."},
		SubmittedAt: now,
		NextCheckAt: now.Add(p.PendingSafetyNet),
	}
	return transition(before, after, RoleSubmitted, now, externalIDVersion)
}

// Disconnect ends a connection and releases its role claim. Disconnecting a
// disconnected connection changes nothing.
func (p Policy) Disconnect(c Connection, externalIDVersion int, now time.Time) Transition {
	if c.Status == Disconnected {
		return Transition{Before: &c, After: c}
	}
	after := c
	after.Status = Disconnected
	after.Reason = Reason{Code: CodeDisconnected, Message: "The connection was disconnected; RoleCall no longer uses the role."}
	after.NextCheckAt = time.Time{}
	after.ConsecutiveFailures = 0
	after.Candidate = Candidate{} // a pending candidate is dropped with the connection
	return transition(c, after, RoleDisconnected, now.UTC(), externalIDVersion)
}

// Apply applies a check outcome to c. It returns ErrStale, and changes
// nothing, when the outcome cannot describe c's role as it is now: it was for
// another version, c is disconnected, it is older than the last check
// applied, or its job was made before an external-ID rotation c has already
// verified past. A routine check returns a transition without event that
// moves only check times, failure count and external-ID bookkeeping.
//
// Every transition Apply returns carries the outcome (Transition.Check), so
// the store can refuse it when the external ID the check used is no longer
// accepted by the tenant when it is written.
func (p Policy) Apply(c Connection, o Outcome) (Transition, error) {
	tr, err := p.apply(c, o)
	if err != nil {
		return Transition{}, err
	}
	tr.Check = &o
	return tr, nil
}

func (p Policy) apply(c Connection, o Outcome) (Transition, error) {
	if err := stale(c, o); err != nil {
		return Transition{}, err
	}
	now := o.CheckedAt.UTC()
	after := c
	after.LastCheckedAt = now
	routine := func() (Transition, error) { return Transition{Before: &c, After: after}, nil }

	if o.Result == ResultOK && o.ExternalIDVersion < c.ExternalIDVersion {
		// The role works only with the previous external ID although it
		// was verified with the current one (its trust policy went
		// back): record the check, change nothing else; once the grace
		// ends the previous ID is refused and the role fails. A FAILED or
		// ACCESS_LOST connection keeps its backoff.
		d := p.interval(c.Status)
		if c.Status == Failed || c.Status == AccessLost {
			d = p.RetryInterval(c, now)
		}
		after.NextCheckAt = now.Add(p.jittered(d, c, now))
		return routine()
	}

	switch o.Result {
	case ResultTransient:
		after.NextCheckAt = now.Add(p.TransientRetry)
		return routine()
	case ResultOK:
		after.ConsecutiveFailures = 0
		after.ExternalIDVersion = o.ExternalIDVersion
		after.ExternalIDCurrent = o.ExternalIDCurrent
		after.NextCheckAt = now.Add(p.jittered(p.VerifiedInterval, c, now))
		if c.Status == Verified {
			return routine()
		}
		after.Status = Verified
		after.VerifiedAt = now
		after.NextCheckAt = p.confirmAt(now)
		dt := RoleVerified
		after.Reason = Reason{Code: CodeVerified, Message: "RoleCall assumed the role with your external ID, and the role refuses to be assumed without it."}
		if c.Status == AccessLost {
			dt = RoleAccessRestored
			after.Reason = Reason{Code: CodeAccessRestored, Message: "RoleCall can assume the role again."}
		}
		return transition(c, after, dt, now, o.ExternalIDVersion), nil
	case ResultDenied, ResultNotEnforced, ResultAccountMismatch, ResultRegionDisabled:
	default:
		return Transition{}, fmt.Errorf("apply unknown result %q", o.Result)
	}

	reason := ReasonFor(o.Result, o.Detail)
	if after.ConsecutiveFailures < 1<<20 {
		after.ConsecutiveFailures++
	}
	switch c.Status {
	case Pending:
		if o.Result == ResultDenied && now.Before(c.SubmittedAt.Add(p.PropagationWindow)) {
			after.NextCheckAt = now.Add(p.pendingBackoff(c, after.ConsecutiveFailures, now))
			return routine()
		}
		after.Status, after.Reason = Failed, reason
		after.NextCheckAt = now.Add(p.jittered(p.FailedInterval, c, now))
		return transition(c, after, RoleVerificationFailed, now, o.ExternalIDVersion), nil
	case Verified:
		if after.ConsecutiveFailures < p.LostAfter {
			after.NextCheckAt = now.Add(p.SuspectInterval)
			return routine()
		}
		after.Status, after.Reason = AccessLost, reason
		after.NextCheckAt = now.Add(p.jittered(p.LostInterval, c, now))
		return transition(c, after, RoleAccessLost, now, o.ExternalIDVersion), nil
	default: // Failed, AccessLost: still failing
		if p.Abandoned(c, now) {
			return p.Abandon(c, o.ExternalIDVersion, now), nil
		}
		dt := RoleVerificationFailed
		if c.Status == AccessLost {
			dt = RoleAccessLost
		}
		after.NextCheckAt = now.Add(p.jittered(p.RetryInterval(c, now), c, now))
		if reason.Code == c.Reason.Code {
			return routine()
		}
		// The failure changed its nature (say from ASSUME_DENIED to
		// EXTERNAL_ID_NOT_ENFORCED): the customer needs the new hint.
		after.Reason = reason
		return transition(c, after, dt, now, o.ExternalIDVersion), nil
	}
}

// confirmAt is when a role that has just become VERIFIED is checked again:
// once IAM's propagation window has passed, then at VerifiedInterval. A
// role created a moment ago may still be unknown to some of STS's hosts,
// which deny it whatever the external ID, so an unguarded role's negative
// probes may have been denied there while its first probe succeeded
// elsewhere: the second check asks them again where the role is known.
func (p Policy) confirmAt(now time.Time) time.Time { return now.Add(p.PropagationWindow) }

// stale returns ErrStale when o must not change c.
func stale(c Connection, o Outcome) error {
	why := ""
	switch {
	case c.Status == Disconnected:
		why = "disconnected"
	case o.Version != c.Version:
		why = fmt.Sprintf("outcome for v%d", o.Version)
	case o.CheckedAt.Before(c.LastCheckedAt):
		why = "older than the last check applied"
	case o.JobExternalIDVersion() < c.ExternalIDVersion:
		why = fmt.Sprintf("made with external-ID version %d, verified with %d", o.JobExternalIDVersion(), c.ExternalIDVersion)
	default:
		return nil
	}
	return fmt.Errorf("apply %s to %s/%s v%d (%s): %w", o.Result, c.TenantID, c.AccountID, c.Version, why, ErrStale)
}

// interval is the routine interval between checks in status st.
func (p Policy) interval(st Status) time.Duration {
	switch st {
	case Verified:
		return p.VerifiedInterval
	case AccessLost:
		return p.LostInterval
	case Failed:
		return p.FailedInterval
	}
	return p.PendingSafetyNet
}

// jittered varies d by up to ±p.Jitter, deterministically from the
// connection and the time, so the function stays pure and testable.
func (p Policy) jittered(d time.Duration, c Connection, now time.Time) time.Duration {
	if p.Jitter <= 0 {
		return d
	}
	h := sha256.New()
	h.Write([]byte(c.TenantID + "\x00" + c.AccountID))
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(now.UnixNano()))
	h.Write(b[:])
	f := float64(binary.BigEndian.Uint64(h.Sum(nil)[:8])>>11) / (1 << 53) // [0,1)
	return d + time.Duration((2*f-1)*p.Jitter*float64(d))
}
