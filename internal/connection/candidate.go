package connection

import (
	"fmt"
	"time"
)

// Reason codes of candidates.
const (
	// CodeCandidateSubmitted: a new role was submitted for a VERIFIED
	// connection; the verified role stays in use while it is checked.
	CodeCandidateSubmitted = "CANDIDATE_SUBMITTED"
	// CodeRoleReplaced: the candidate verified and replaced the role.
	CodeRoleReplaced = "ROLE_REPLACED"
)

// submitCandidate makes role the candidate of the VERIFIED connection c.
// Submitting the pending candidate's role again changes nothing. The next
// check is brought forward to the safety net, so a sweep picks the
// candidate up if its first check is lost.
func (p Policy) submitCandidate(c Connection, role string, externalIDVersion int, now time.Time) Transition {
	if c.Candidate.Pending() && c.Candidate.RoleARN == role {
		return Transition{Before: &c, After: c}
	}
	after := c
	after.Candidate = Candidate{RoleARN: role, Status: Pending, SubmittedAt: now,
		Reason: Reason{Code: CodeCandidateSubmitted, Message: "The new role was submitted; RoleCall keeps using the verified role until the new one is verified."}}
	if next := now.Add(p.PendingSafetyNet); !after.NextCheckAt.After(now) || next.Before(after.NextCheckAt) {
		after.NextCheckAt = next
	}
	tr := transition(c, after, RoleSubmitted, now, externalIDVersion)
	tr.Event.Reason = after.Candidate.Reason
	tr.Event.CandidateRoleARN = role
	return tr
}

// CandidateStep is what the verify worker does with a candidate's outcome
// that writes nothing: retry after a backoff (denied inside the IAM
// propagation window) or after a transient failure.
type CandidateStep int

// Candidate steps.
const (
	CandidateWrite     CandidateStep = iota // write the returned transition
	CandidateRetry                          // denied inside the propagation window: check again soon
	CandidateTransient                      // transient failure: check again later
)

// ApplyCandidate applies the outcome of a check of c's pending candidate
// (a retry step returns a transition that changes nothing). A
// success replaces the role (the claim moves with the transition; the event
// carries PreviousRoleARN), unless the candidate works only with the
// previous external ID while the role in use works with the current one;
// a failure past the propagation window (or one that is not a denial)
// drops the candidate with its reason and leaves the connection as it is. ErrStale when the outcome is for another version, c
// has no pending candidate, or the check's job predates a rotation c has
// verified past.
func (p Policy) ApplyCandidate(c Connection, o Outcome) (Transition, CandidateStep, error) {
	cand := c.Candidate
	switch {
	case c.Status == Disconnected || o.Version != c.Version || !cand.Pending():
		return Transition{}, 0, fmt.Errorf("apply %s to the candidate of %s/%s v%d (outcome for v%d): %w", o.Result, c.TenantID, c.AccountID, c.Version, o.Version, ErrStale)
	case o.JobExternalIDVersion() < c.ExternalIDVersion:
		return Transition{}, 0, fmt.Errorf("apply %s to the candidate of %s/%s: made with external-ID version %d, verified with %d: %w",
			o.Result, c.TenantID, c.AccountID, o.JobExternalIDVersion(), c.ExternalIDVersion, ErrStale)
	}
	now := o.CheckedAt.UTC()
	var tr Transition
	switch o.Result {
	case ResultTransient:
		return Transition{Before: &c, After: c}, CandidateTransient, nil
	case ResultOK:
		if o.PreviousOnly() && c.Status == Verified && c.ExternalIDCurrent && c.ExternalIDVersion >= o.JobExternalIDVersion() {
			// The new role trusts only the previous external ID, while
			// the role in use works with the current one: replacing it
			// would lose access when the grace ends (an ACCESS_LOST role
			// in use has lost it already, so the candidate replaces it). It is kept, as a role in
			// use that goes back to the previous ID keeps its current
			// verification (apply); the candidate is checked again
			// inside the propagation window, as a denial is, then
			// dropped.
			if now.Before(cand.SubmittedAt.Add(p.PropagationWindow)) {
				return Transition{Before: &c, After: c}, CandidateRetry, nil
			}
			tr = p.dropCandidate(c, previousOnlyCandidate, now, o.ExternalIDVersion)
			break
		}
		after := c
		after.RoleARN, after.Stack, after.StackResource = cand.RoleARN, cand.Stack, cand.StackResource
		after.Candidate = Candidate{}
		after.Status = Verified
		after.VerifiedAt, after.LastCheckedAt = now, now
		after.ConsecutiveFailures = 0
		after.ExternalIDVersion, after.ExternalIDCurrent = o.ExternalIDVersion, o.ExternalIDCurrent
		after.NextCheckAt = p.confirmAt(now)
		after.Reason = Reason{Code: CodeRoleReplaced, Message: "RoleCall verified the new role and uses it from now on, instead of the previous one."}
		tr = transition(c, after, RoleVerified, now, o.ExternalIDVersion)
		tr.Event.PreviousRoleARN = c.RoleARN
	case ResultDenied, ResultNotEnforced, ResultAccountMismatch, ResultRegionDisabled:
		if o.Result == ResultDenied && now.Before(cand.SubmittedAt.Add(p.PropagationWindow)) {
			return Transition{Before: &c, After: c}, CandidateRetry, nil
		}
		tr = p.dropCandidate(c, ReasonFor(o.Result, o.Detail), now, o.ExternalIDVersion)
	default:
		return Transition{}, 0, fmt.Errorf("apply unknown result %q to a candidate", o.Result)
	}
	tr.Check = &o
	return tr, CandidateWrite, nil
}

// previousOnlyCandidate is why a candidate that trusts only the previous
// external ID is dropped: with the current one it is denied.
var previousOnlyCandidate = Reason{Code: string(ResultDenied),
	Message: "RoleCall could not assume the new role with your current external ID: its trust policy names only the previous one, which is retired when the rotation's grace ends. The verified role stays in use.",
	Hint:    "Put the current external ID shown on the form in the new role's sts:ExternalId condition, then submit the role again."}

// CandidateClaimed drops c's candidate with ROLE_CLAIMED: its check
// succeeded, but another connection holds the candidate role.
func (p Policy) CandidateClaimed(c Connection, o Outcome) (Transition, error) {
	if c.Status == Disconnected || o.Version != c.Version || !c.Candidate.Pending() || o.Result != ResultOK {
		return Transition{}, fmt.Errorf("refuse the candidate of %s/%s v%d: %w", c.TenantID, c.AccountID, c.Version, ErrStale)
	}
	tr := p.dropCandidate(c, Reason{Code: CodeRoleClaimed,
		Message: "RoleCall assumed the new role with your external ID, but the role is already connected through another connection; the verified role stays in use.",
		Hint:    "A role serves one connection only: create a separate role for this partner connection and submit its ARN."},
		o.CheckedAt.UTC(), o.ExternalIDVersion)
	tr.Check = &o
	return tr, nil
}

// DropCandidate fails c's pending candidate with reason outside a check
// (the customer deleted the stack that submitted it): the role in use,
// its status and its claim stay, and the Role Verification Failed event
// names the candidate, as when a candidate's check fails. A connection
// without a pending candidate, or disconnected, is ErrStale.
func (p Policy) DropCandidate(c Connection, reason Reason, externalIDVersion int, now time.Time) (Transition, error) {
	if c.Status == Disconnected || !c.Candidate.Pending() {
		return Transition{}, fmt.Errorf("drop the candidate of %s/%s v%d: %w", c.TenantID, c.AccountID, c.Version, ErrStale)
	}
	return p.dropCandidate(c, reason, now.UTC(), externalIDVersion), nil
}

func (p Policy) dropCandidate(c Connection, reason Reason, now time.Time, externalIDVersion int) Transition {
	after := c
	after.Candidate.Status, after.Candidate.Reason = Failed, reason
	tr := transition(c, after, RoleVerificationFailed, now, externalIDVersion)
	tr.Event.Reason = reason
	tr.Event.CandidateRoleARN = c.Candidate.RoleARN
	return tr
}
