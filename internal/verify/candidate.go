package verify

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/probe"
	"github.com/rolecall/rolecall/internal/store"
)

// candidateWrites bounds how often a candidate's outcome is applied again
// to a re-read connection after a concurrent check of the role in use.
const candidateWrites = 3

// processCandidate checks the candidate role of job's connection and
// applies the outcome to the candidate only: the role in use and its claim
// are untouched until the candidate verifies and replaces it, and its
// schedule is only held past a candidate's redelivery (holdSweep).
// A candidate's outcome does not depend on the role in use's check
// bookkeeping, so when a routine check of that role was written meanwhile
// the outcome is applied again to the re-read connection (same version,
// same candidate).
func (w *Worker) processCandidate(ctx context.Context, job probe.Job, receiveCount int) (time.Duration, error) {
	c := job.Connection
	if !c.Candidate.Pending() {
		return 0, fmt.Errorf("connection %s/%s has no pending candidate: %w", c.TenantID, c.AccountID, ErrSkip)
	}
	req := job.Request()
	req.RoleARN = c.Candidate.RoleARN
	rep, err := w.runCheck(ctx, c, req)
	if err != nil {
		return 0, err
	}
	out := outcomeFor(rep.Outcome, job)
	for attempt := 1; ; attempt++ {
		tr, step, err := w.Policy.ApplyCandidate(c, out)
		if errors.Is(err, connection.ErrStale) {
			return 0, fmt.Errorf("%w: %w", ErrSkip, err)
		}
		if err != nil {
			return 0, fmt.Errorf("apply candidate check of %s/%s: %w", c.TenantID, c.AccountID, err)
		}
		switch step {
		case connection.CandidateTransient:
			d := w.Policy.TransientDelay(receiveCount)
			w.holdSweep(ctx, c, out.CheckedAt.Add(d))
			return d, fmt.Errorf("check candidate of %s/%s v%d (%s): %w", c.TenantID, c.AccountID, c.Version, out.Detail, ErrTransient)
		case connection.CandidateRetry:
			pending := c
			pending.SubmittedAt = c.Candidate.SubmittedAt
			d := w.Policy.PendingDelay(pending, receiveCount, out.CheckedAt)
			w.holdSweep(ctx, c, out.CheckedAt.Add(d))
			return d, nil
		}
		err = w.Store.Apply(ctx, tr)
		if errors.Is(err, store.ErrRoleClaimed) {
			if tr, err = w.Policy.CandidateClaimed(c, out); err == nil {
				err = w.Store.Apply(ctx, tr)
			}
		}
		if errors.Is(err, store.ErrConflict) && attempt < candidateWrites {
			cur, rerr := w.Store.GetConnection(ctx, c.TenantID, c.AccountID)
			if rerr != nil {
				return 0, fmt.Errorf("reread connection %s/%s: %w", c.TenantID, c.AccountID, rerr)
			}
			if cur.Version == c.Version && cur.Candidate == c.Candidate {
				c = cur
				continue
			}
		}
		if err := writeFailure("candidate check", c, err); err != nil {
			return 0, err
		}
		w.settleIfCurrent(ctx, job, c, tr.After, out.CheckedAt)
		w.log().Info("connection changed", "tenantId", c.TenantID, "accountId", c.AccountID, "roleArn", tr.After.RoleARN,
			"candidateRoleArn", c.Candidate.RoleARN, "eventId", tr.Event.EventID, "detailType", string(tr.Event.DetailType),
			"status", string(tr.After.Status), "code", tr.Event.Reason.Code, "version", tr.After.Version)
		return 0, nil
	}
}

// holdSweep moves c's next check past redeliverAt, when its candidate's
// job comes back, and the safety net (never earlier than it was): a sweep
// meanwhile would queue a second chain of candidate checks, and an early
// check of the role in use. A write that fails is only logged: the
// redelivery comes all the same, and a duplicate job is dropped as stale.
func (w *Worker) holdSweep(ctx context.Context, c connection.Connection, redeliverAt time.Time) {
	next := redeliverAt.Add(w.Policy.PendingSafetyNet)
	if !c.NextCheckAt.Before(next) {
		return
	}
	after := c
	after.NextCheckAt = next
	if err := w.Store.Apply(ctx, connection.Transition{Before: &c, After: after}); err != nil {
		w.log().Warn("the candidate's redelivery was not held from the sweep", "tenantId", c.TenantID, "accountId", c.AccountID, "error", err)
	}
}
