// Package verify is the verify worker: it takes check jobs off the verify
// queues (the sweep's routine queue and the priority queue), runs the checks
// with bounded concurrency and writes each outcome conditionally on the
// connection version the check was for.
//
// A message is either a probe.Job (from the sweeper, or a re-check asked
// for through the API by a customer or an operator) or the EventBridge
// event of a "Role Submitted" (delivered by the bus rule), for which the
// worker reads the connection and the tenant to build the job. The outcome
// of one message is one of:
//   - done: the result was written, or it was stale (the connection moved
//     on) and dropped;
//   - retry later: a PENDING role still inside its IAM propagation window,
//     or a transient STS failure; the worker makes the message visible
//     again after a backoff that grows with its receive count, instead of
//     sleeping;
//   - failed: the store could not be reached; SQS redelivers it.
//
// The delays before a retry are the lifecycle's (connection.Policy's
// PendingDelay and TransientDelay). app.NewVerify builds the workers and
// the ByQueue over them for the verify Lambda and `rolecall serve` alike:
// the Lambda hands ByQueue.Handle the SQS events of its two queues, serve
// hands it the same events, built by its queue poller from the messages it
// receives. The bench drives the same workers (Handle, and Process on
// each job of its simulation).
package verify

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/probe"
	"github.com/rolecall/rolecall/internal/rotation"
	"github.com/rolecall/rolecall/internal/store"
	"github.com/rolecall/rolecall/internal/stsbudget"
	"github.com/rolecall/rolecall/internal/tenant"
)

// Store is what the worker needs of the store.
type Store interface {
	GetConnection(ctx context.Context, tenantID, accountID string) (connection.Connection, error)
	GetTenant(ctx context.Context, id string) (tenant.Tenant, error)
	Apply(ctx context.Context, t connection.Transition) error
}

// Checker runs one check (probe.Checker).
type Checker interface {
	Check(ctx context.Context, req probe.Request) probe.Report
}

// Budget paces checks to the STS budget (stsbudget.Regions).
type Budget interface {
	// Take waits until n STS calls are admitted, and returns the context
	// the check runs in (naming the Region whose quota admitted them, and
	// holding the budget its calls beyond n pay from: stsbudget.Pay).
	Take(ctx context.Context, n int) (context.Context, error)
	// Throttled reports that STS throttled a call of the check run in ctx.
	Throttled(ctx context.Context)
}

// Visibility delays the redelivery of a received message (queue.SQS,
// queue.Memory).
type Visibility interface {
	ChangeVisibility(ctx context.Context, receiptHandle string, d time.Duration) error
}

// Errors, matched with errors.Is.
var (
	// ErrTransient: the check met a transient STS failure; the job is
	// retried after the returned delay.
	ErrTransient = errors.New("transient check failure")
	// ErrSkip: the message is dropped (malformed, stale, or for a
	// connection or tenant that no longer exists); retrying cannot help.
	ErrSkip = errors.New("message skipped")
)

// DefaultConcurrency is how many checks of a batch run at once unless
// Worker.Concurrency says otherwise.
const DefaultConcurrency = 10

// Worker processes check jobs. Set Store, Checker and Policy.
type Worker struct {
	Store   Store
	Checker Checker
	Policy  connection.Policy
	// Visibility, when set, is how Handle delays redeliveries.
	Visibility Visibility
	// Concurrency bounds the checks run at once in a batch (default
	// DefaultConcurrency).
	Concurrency int
	// Budget, when set, paces the checks: each takes
	// stsbudget.CallsPerCheck tokens before it runs, and a check STS
	// throttled slows the worker down.
	Budget Budget
	Log    *slog.Logger
	// Now is the clock jobs built by the worker are made at (whether a
	// rotation's previous external ID is still accepted); default
	// time.Now.
	Now func() time.Time
}

func (w *Worker) now() time.Time {
	if w.Now != nil {
		return w.Now()
	}
	return time.Now()
}

// checkMargin is how long before its context's deadline (the invocation's)
// a check is cut short, ending TRANSIENT: the time the worker keeps to
// write its outcome and answer the batch, since a Lambda invocation stopped
// at its timeout loses its whole batch.
const checkMargin = time.Second

// runCheck runs one check, paced by the budget when there is one: it takes
// the check's first STS calls from the budget (the checker pays for the
// others before it makes them, a rotation's fourth probe among them), and
// reports throttling back.
// The check ends checkMargin before ctx's deadline.
func (w *Worker) runCheck(ctx context.Context, c connection.Connection, req probe.Request) (probe.Report, error) {
	checkCtx := ctx
	if dl, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		checkCtx, cancel = context.WithDeadline(ctx, dl.Add(-checkMargin))
		defer cancel()
	}
	if w.Budget != nil {
		var err error
		if checkCtx, err = w.Budget.Take(checkCtx, stsbudget.CallsPerCheck); err != nil {
			return probe.Report{}, fmt.Errorf("check of %s/%s: %w", c.TenantID, c.AccountID, err)
		}
	}
	rep := w.Checker.Check(checkCtx, req)
	if w.Budget != nil && stsbudget.Throttled(rep) {
		w.Budget.Throttled(checkCtx)
	}
	return rep, nil
}

func (w *Worker) log() *slog.Logger {
	return cmp.Or(w.Log, slog.Default())
}

// Process runs the check of one job and writes its outcome. receiveCount is
// how many times the message was delivered (1 the first time). It returns:
//   - 0, nil: done (written, or dropped as stale);
//   - d > 0, nil: a PENDING role denied inside its propagation window;
//     deliver the job again after d;
//   - d > 0, ErrTransient: a transient STS failure; deliver again after d;
//   - 0, other error: the store failed; deliver again later.
//
// On a redelivery the job's connection may be outdated by the previous
// attempt's write, so Process reads the current one (a first delivery costs
// no read) and drops the job if the connection moved on.
func (w *Worker) Process(ctx context.Context, job probe.Job, receiveCount int) (time.Duration, error) {
	d, err := w.process(ctx, job, receiveCount, false)
	if errors.Is(err, ErrSkip) {
		w.log().Info("check job dropped", "tenantId", job.Connection.TenantID, "accountId", job.Connection.AccountID,
			"version", job.Connection.Version, "why", job.Why, "reason", err.Error())
		return 0, nil
	}
	return d, err
}

func (w *Worker) process(ctx context.Context, job probe.Job, receiveCount int, fresh bool) (time.Duration, error) {
	c := job.Connection
	if receiveCount > 1 && !fresh {
		cur, err := w.Store.GetConnection(ctx, c.TenantID, c.AccountID)
		if errors.Is(err, store.ErrNotFound) {
			return 0, fmt.Errorf("connection %s/%s: %w", c.TenantID, c.AccountID, ErrSkip)
		}
		if err != nil {
			return 0, fmt.Errorf("reread connection %s/%s: %w", c.TenantID, c.AccountID, err)
		}
		if cur.Version != c.Version {
			return 0, fmt.Errorf("connection %s/%s is at v%d, job for v%d: %w", c.TenantID, c.AccountID, cur.Version, c.Version, ErrSkip)
		}
		c = cur
		job.Connection = cur
	}
	if !c.Live() {
		return 0, fmt.Errorf("connection %s/%s is disconnected: %w", c.TenantID, c.AccountID, ErrSkip)
	}
	if job.IsCandidate() {
		return w.processCandidate(ctx, job, receiveCount)
	}

	req := job.Request()
	rep, err := w.runCheck(ctx, c, req)
	if err != nil {
		return 0, err
	}
	out := outcomeFor(rep.Outcome, job)
	tr, redeliver, err := w.write(ctx, c, out, receiveCount)
	if errors.Is(err, store.ErrConflict) {
		// A stack's new registration resource may have taken the
		// registration over since the job was made: a write that changes
		// nothing the outcome depends on. The outcome is then written to
		// the connection as stored.
		if cur, rerr := w.Store.GetConnection(ctx, c.TenantID, c.AccountID); rerr == nil && onlyResourceMoved(c, cur) {
			c = cur
			tr, redeliver, err = w.write(ctx, c, out, receiveCount)
		}
	}
	if errors.Is(err, connection.ErrStale) {
		return 0, fmt.Errorf("%w: %w", ErrSkip, err)
	}
	if err := writeFailure("check", c, err); err != nil {
		return 0, err
	}
	if tr.Changed() {
		w.settleIfCurrent(ctx, job, c, tr.After, out.CheckedAt)
	}
	if tr.Event != nil {
		w.log().Info("connection changed", "tenantId", c.TenantID, "accountId", c.AccountID, "roleArn", c.RoleARN,
			"eventId", tr.Event.EventID, "detailType", string(tr.Event.DetailType),
			"status", string(tr.After.Status), "previousStatus", string(c.Status), "code", tr.After.Reason.Code, "version", tr.After.Version)
	}
	if out.Result == connection.ResultTransient {
		return redeliver, fmt.Errorf("check %s/%s v%d (%s): %w", c.TenantID, c.AccountID, c.Version, out.Detail, ErrTransient)
	}
	// redeliver > 0 here: denied inside the propagation window, try again soon.
	return redeliver, nil
}

// write applies the outcome out of a check of c's role and writes the
// transition when it changes anything. It returns the transition and, for
// a job that will come back by redelivery, after how long. A store's
// refusal is returned as it is (writeFailure sorts it).
func (w *Worker) write(ctx context.Context, c connection.Connection, out connection.Outcome, receiveCount int) (connection.Transition, time.Duration, error) {
	tr, err := w.Policy.Apply(c, out)
	if errors.Is(err, connection.ErrStale) {
		return tr, 0, err
	}
	if err != nil {
		return tr, 0, fmt.Errorf("apply check of %s/%s: %w", c.TenantID, c.AccountID, err)
	}
	// When this job will come back by redelivery (a transient failure, or
	// a PENDING role denied inside the propagation window), the sweeper
	// must not queue a second job meanwhile: move nextCheckAt past the
	// redelivery by the safety net, so the sweep only catches a lost one.
	var redeliver time.Duration
	switch {
	case out.Result == connection.ResultTransient:
		redeliver = w.Policy.TransientDelay(receiveCount)
	case tr.Event == nil && tr.After.Status == connection.Pending && out.Result != connection.ResultOK:
		redeliver = w.Policy.PendingDelay(c, receiveCount, out.CheckedAt)
	}
	if redeliver > 0 {
		tr.After.NextCheckAt = out.CheckedAt.Add(redeliver + w.Policy.PendingSafetyNet)
	}
	if !tr.Changed() {
		return tr, redeliver, nil
	}
	err = w.Store.Apply(ctx, tr)
	if errors.Is(err, store.ErrRoleClaimed) {
		// The tenant's own external ID works, but another connection
		// holds the role: FAILED ROLE_CLAIMED.
		if tr, err = w.Policy.RoleClaimed(c, out); err == nil {
			err = w.Store.Apply(ctx, tr)
		}
	}
	return tr, redeliver, err
}

// onlyResourceMoved reports whether cur is c but for the stack resource
// that registered it (a takeover by the stack's new resource).
func onlyResourceMoved(c, cur connection.Connection) bool {
	if cur.StackResource == c.StackResource {
		return false
	}
	cur.StackResource = c.StackResource
	return cur == c
}

// writeFailure is the error of writing the outcome of a check of c's role
// ("check") or candidate ("candidate check"), or nil when the write
// succeeded. A write the store refused because the connection moved on (a
// conflict, the connection gone, a stale outcome, the external ID it used
// retired meanwhile) is ErrSkip: the job is dropped, the next check decides.
// Any other failure is returned as is, to retry the job.
func writeFailure(what string, c connection.Connection, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrNotFound), errors.Is(err, connection.ErrStale),
		errors.Is(err, store.ErrExternalIDRetired):
		return fmt.Errorf("write %s of %s/%s v%d: %w: %w", what, c.TenantID, c.AccountID, c.Version, ErrSkip, err)
	}
	return fmt.Errorf("write %s of %s/%s v%d: %w", what, c.TenantID, c.AccountID, c.Version, err)
}

// settleIfCurrent completes the tenant's rotation if no connection relies
// on the previous external ID any more. It costs reads, so it runs only when
// a write during a grace period (the job carries a previous ID) made a
// connection that holds a claim verified with the current ID; a failure is
// logged, and the grace's end completes the rotation anyway.
func (w *Worker) settleIfCurrent(ctx context.Context, job probe.Job, before, after connection.Connection, now time.Time) {
	current := func(c connection.Connection) bool {
		return c.HoldsClaim() && c.ExternalIDCurrent && c.ExternalIDVersion == job.ExternalIDVersion
	}
	rs, ok := w.Store.(rotation.Store)
	if !ok || job.PreviousExternalID == "" || !current(after) || current(before) {
		return
	}
	if done, err := rotation.SettleTenant(ctx, rs, before.TenantID, now); err != nil {
		w.log().Warn("rotation not settled", "tenantId", before.TenantID, "error", err)
	} else if done {
		w.log().Info("external id rotation completed", "tenantId", before.TenantID, "completion", connection.CompletionAllCurrent)
	}
}

// outcomeFor states which external ID an outcome of job's check was
// computed with, from the job itself: a success is with the current ID
// (ExternalIDCurrent) unless the checker says only the job's previous ID
// worked; anything else is stamped with the current version. The store
// then refuses the outcome if the tenant no longer accepts that ID.
func outcomeFor(o connection.Outcome, job probe.Job) connection.Outcome {
	switch {
	case o.Result == connection.ResultOK && !o.ExternalIDCurrent && job.PreviousExternalID != "":
		o.ExternalIDVersion = job.PreviousExternalIDVersion
	case o.Result == connection.ResultOK:
		o.ExternalIDVersion, o.ExternalIDCurrent = job.ExternalIDVersion, true
	default:
		o.ExternalIDVersion, o.ExternalIDCurrent = job.ExternalIDVersion, false
	}
	return o
}

// envelope is the part of an EventBridge event the worker reads.
type envelope struct {
	DetailType string          `json:"detail-type"`
	Source     string          `json:"source"`
	Detail     json.RawMessage `json:"detail"`
}

// jobFromMessage decodes a verify queue message body: a probe.Job, or the
// EventBridge event of a "Role Submitted", for which it reads the current
// connection and tenant. fresh reports that the job was just read from the
// store. A body that can never become a job is ErrSkip.
func (w *Worker) jobFromMessage(ctx context.Context, body []byte) (job probe.Job, fresh bool, err error) {
	// One decode serves both kinds: an event's keys (detail-type, detail)
	// and a job's (connection, externalId, ...) do not overlap.
	var msg struct {
		envelope
		probe.Job
	}
	if err := json.Unmarshal(body, &msg); err != nil {
		return probe.Job{}, false, fmt.Errorf("decode message: %w: %w", ErrSkip, err)
	}
	if msg.DetailType != "" {
		if msg.DetailType != string(connection.RoleSubmitted) {
			return probe.Job{}, false, fmt.Errorf("event of detail-type %q: %w", msg.DetailType, ErrSkip)
		}
		var ev connection.Event
		if err := json.Unmarshal(msg.Detail, &ev); err != nil {
			return probe.Job{}, false, fmt.Errorf("decode %s detail: %w: %w", msg.DetailType, ErrSkip, err)
		}
		ev.DetailType = connection.RoleSubmitted
		job, err := w.JobForSubmission(ctx, ev)
		return job, err == nil, err
	}
	job = msg.Job
	c := job.Connection
	if c.TenantID == "" || c.AccountID == "" || c.RoleARN == "" || c.Version < 1 || job.ExternalID == "" {
		return probe.Job{}, false, fmt.Errorf("message is neither an event nor a complete job (%q/%q v%d): %w", c.TenantID, c.AccountID, c.Version, ErrSkip)
	}
	return job, false, nil
}

// JobForSubmission builds the job for a "Role Submitted" event from the
// current connection and tenant. It is ErrSkip when the connection has moved
// past the event's version (a later submission has its own event) or is
// gone.
func (w *Worker) JobForSubmission(ctx context.Context, ev connection.Event) (probe.Job, error) {
	if ev.TenantID == "" || ev.AccountID == "" || ev.Version < 1 {
		return probe.Job{}, fmt.Errorf("incomplete event %q: %w", ev.EventID, ErrSkip)
	}
	c, err := w.Store.GetConnection(ctx, ev.TenantID, ev.AccountID)
	if errors.Is(err, store.ErrNotFound) {
		return probe.Job{}, fmt.Errorf("connection %s/%s: %w", ev.TenantID, ev.AccountID, ErrSkip)
	}
	if err != nil {
		return probe.Job{}, fmt.Errorf("read connection %s/%s: %w", ev.TenantID, ev.AccountID, err)
	}
	if c.Version != ev.Version {
		return probe.Job{}, fmt.Errorf("connection %s/%s is at v%d, event for v%d: %w", ev.TenantID, ev.AccountID, c.Version, ev.Version, ErrSkip)
	}
	t, err := w.Store.GetTenant(ctx, ev.TenantID)
	if errors.Is(err, store.ErrNotFound) {
		return probe.Job{}, fmt.Errorf("tenant %s: %w", ev.TenantID, ErrSkip)
	}
	if err != nil {
		return probe.Job{}, fmt.Errorf("read tenant %s: %w", ev.TenantID, err)
	}
	jobs := probe.JobsFor(c, t, probe.WhySubmitted, w.now())
	if ev.CandidateRoleARN != "" && len(jobs) > 1 {
		return jobs[1], nil // a candidate was submitted: check the candidate
	}
	return jobs[0], nil
}
