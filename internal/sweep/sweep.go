// Package sweep finds the connections due for a check and sends them to the
// verify queue. It is the sweep Lambda (invoked by EventBridge Scheduler)
// and the ticker of `rolecall serve`.
//
// A due sweep reads every shard of the due index for live connections with
// nextCheckAt up to now, merges the shards oldest-due first, turns each
// connection into a probe.Job with its tenant's current external ID
// (tenants are read once per sweep), and sends the jobs in batches of ten,
// no more than the STS budget serves until the next sweep. When more is due
// than that, the oldest go first: every connection's interval stretches by
// the same lag, and each sweep reports the backlog and the effective
// interval as a log line that is also a CloudWatch metric (embedded metric
// format). A sweep stops cleanly a margin before its deadline and leaves the
// rest for the next one: what it did not enqueue is still due. The "all"
// mode enqueues every live connection at once, for an operator's "check
// everything now".
package sweep

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/deadline"
	"github.com/rolecall/rolecall/internal/probe"
	"github.com/rolecall/rolecall/internal/queue"
	"github.com/rolecall/rolecall/internal/redact"
	"github.com/rolecall/rolecall/internal/rotation"
	"github.com/rolecall/rolecall/internal/store"
	"github.com/rolecall/rolecall/internal/tenant"
)

// Store is what a sweep reads.
type Store interface {
	Due(ctx context.Context, shard int, until time.Time, cursor string, limit int) (store.Page, error)
	ListByStatus(ctx context.Context, status connection.Status, cursor string, limit int) (store.Page, error)
	GetTenant(ctx context.Context, id string) (tenant.Tenant, error)
}

// Queue takes the jobs (queue.SQS, queue.Memory).
type Queue interface {
	Send(ctx context.Context, jobs []probe.Job) error
}

// Modes of a sweep.
const (
	ModeDue = "due" // connections whose next check is due (the schedule)
	ModeAll = "all" // every live connection (an operator's "sweep now")
)

// Input is the sweep Lambda's event: the payload EventBridge Scheduler
// sends. An empty input is a due sweep.
type Input struct {
	Mode string `json:"mode,omitempty"`
}

// Sweeper runs sweeps. Set Store and Queue.
type Sweeper struct {
	Store Store
	Queue Queue
	// PageSize is the page size of index queries (default 100).
	PageSize int
	// Margin is how long before the context's deadline the sweep stops
	// (default 3s), so it can report before Lambda stops it.
	Margin time.Duration
	Now    func() time.Time
	Log    *slog.Logger

	// ChecksPerSecond is what the STS budget serves
	// (stsbudget.Plan.RoutineChecksPerSecond), and Every how often due
	// sweeps run: together they cap a due sweep at MaxChecks. Zero: no cap.
	ChecksPerSecond float64
	Every           time.Duration
	// Interval is the routine interval of a VERIFIED connection; the
	// effective interval reported is Interval plus the mean lag.
	Interval time.Duration
	// MetricsNamespace is the CloudWatch namespace of the sweep's metrics
	// (default "RoleCall").
	MetricsNamespace string
}

// Result says what a sweep did.
type Result struct {
	Mode     string      `json:"mode"`
	Until    time.Time   `json:"until,omitzero"` // due sweeps: the cut-off time
	Enqueued int         `json:"enqueued"`
	Failed   int         `json:"failed"`  // jobs the queue refused; still due
	Skipped  int         `json:"skipped"` // connections whose tenant is gone
	Stopped  bool        `json:"stopped"` // the deadline came first; the rest is left for the next sweep
	Parts    []PartCount `json:"parts"`
	// RotationsCompleted: due sweeps, the rotations whose grace had ended
	// that the sweep completed (settleGraces).
	RotationsCompleted int `json:"rotationsCompleted,omitempty"`

	// Due sweeps: Paced says the budget's cap was reached with more due;
	// BacklogAge is then how long the oldest connection left has been due,
	// and Backlog the checks the budget needs to catch up (checks a second
	// × BacklogAge: the due connections waiting, once intervals have
	// stretched evenly).
	Paced      bool          `json:"paced,omitempty"`
	Waiting    int           `json:"waiting,omitempty"` // jobs still waiting in the queue, not enqueued again
	Backlog    int           `json:"backlog"`
	BacklogAge time.Duration `json:"backlogAgeNs"`
	// MaxLag and MeanLag: how long the enqueued connections had been due.
	MaxLag  time.Duration `json:"maxLagNs"`
	MeanLag time.Duration `json:"meanLagNs"`
	// EffectiveInterval is Interval plus MeanLag (plus Every/2, the
	// average wait in the queue, when paced): how often a connection is
	// actually checked.
	EffectiveInterval time.Duration `json:"effectiveIntervalNs,omitempty"`
}

// PartCount is what a sweep did in one shard (due) or status (all).
type PartCount struct {
	Part     string `json:"part"`
	Enqueued int    `json:"enqueued"`
	Failed   int    `json:"failed"`
	Skipped  int    `json:"skipped"`
	Done     bool   `json:"done"` // every page was read and sent
}

// quiet is the level of a sweep's summary lines: Debug when the sweep found
// nothing to do (the schedule runs every minute; nine Info lines a minute
// of zeros drown what matters), Info otherwise.
func quiet(nothing bool) slog.Level {
	if nothing {
		return slog.LevelDebug
	}
	return slog.LevelInfo
}

func (s *Sweeper) log() *slog.Logger {
	return cmp.Or(s.Log, slog.Default())
}

func (s *Sweeper) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

// Handle is the sweep Lambda.
//
// Its error leaves out an AWS service's signing diagnostics (redact.Error):
// the Lambda runtime library prints it to the function's log as it is.
func (s *Sweeper) Handle(ctx context.Context, in Input) (_ Result, err error) {
	defer func() { err = redact.Error(err) }()
	switch in.Mode {
	case "", ModeDue:
		return s.Due(ctx)
	case ModeAll:
		return s.All(ctx)
	}
	return Result{}, fmt.Errorf("sweep mode %q: want %q or %q", in.Mode, ModeDue, ModeAll)
}

// All enqueues every live connection, one part per live status.
func (s *Sweeper) All(ctx context.Context) (Result, error) {
	var parts []part
	for _, st := range connection.Statuses {
		if st == connection.Disconnected {
			continue
		}
		parts = append(parts, part{name: string(st), why: probe.WhyRequested,
			page: func(ctx context.Context, cursor string, limit int) (store.Page, error) {
				return s.Store.ListByStatus(ctx, st, cursor, limit)
			}})
	}
	return s.run(ctx, ModeAll, parts)
}

type part struct {
	name string
	why  string
	page func(ctx context.Context, cursor string, limit int) (store.Page, error)
}

// bounded is the context a sweep works in: ctx, ending Margin before its
// deadline (half the time left when that is closer than twice Margin, as
// when serve bounds each sweep by its ticker's interval).
func (s *Sweeper) bounded(ctx context.Context) (context.Context, context.CancelFunc) {
	margin := s.Margin
	if margin <= 0 {
		margin = 3 * time.Second
	}
	return deadline.Reserve(ctx, margin)
}

func (s *Sweeper) run(ctx context.Context, mode string, parts []part) (Result, error) {
	work, cancel := s.bounded(ctx)
	defer cancel()
	tenants := &tenantCache{store: s.Store, m: map[string]*tenantEntry{}, now: s.now(), log: s.log()}
	res := Result{Mode: mode, Parts: make([]PartCount, len(parts))}
	errs := make([]error, len(parts))
	var wg sync.WaitGroup
	for i, p := range parts {
		wg.Go(func() {
			res.Parts[i], errs[i] = s.sweepPart(work, p, tenants)
		})
	}
	wg.Wait()
	var failures []error
	for i, pc := range res.Parts {
		res.Enqueued += pc.Enqueued
		res.Failed += pc.Failed
		res.Skipped += pc.Skipped
		if !pc.Done {
			res.Stopped = res.Stopped || work.Err() != nil
		}
		if errs[i] != nil && !(work.Err() != nil && ctx.Err() == nil && errors.Is(errs[i], context.DeadlineExceeded)) {
			failures = append(failures, fmt.Errorf("%s: %w", pc.Part, errs[i]))
		}
		s.log().Log(ctx, quiet(pc.Enqueued+pc.Failed+pc.Skipped == 0 && pc.Done), "swept",
			"mode", mode, "part", pc.Part, "enqueued", pc.Enqueued, "failed", pc.Failed, "skipped", pc.Skipped, "done", pc.Done)
	}
	s.log().Log(ctx, quiet(res.Enqueued+res.Failed+res.Skipped == 0 && !res.Stopped && len(failures) == 0), "sweep finished",
		"mode", mode, "enqueued", res.Enqueued, "failed", res.Failed, "skipped", res.Skipped, "stopped", res.Stopped)
	if len(failures) > 0 {
		return res, fmt.Errorf("sweep %s: %w", mode, errors.Join(failures...))
	}
	return res, nil
}

// sweepPart pages through one part, enqueuing each page's jobs in batches.
// It returns early, without error, when ctx's deadline has come.
func (s *Sweeper) sweepPart(ctx context.Context, p part, tenants *tenantCache) (PartCount, error) {
	pc := PartCount{Part: p.name}
	limit := s.PageSize
	if limit <= 0 {
		limit = 100
	}
	cursor := ""
	for {
		if err := ctx.Err(); err != nil {
			return pc, err
		}
		page, err := p.page(ctx, cursor, limit)
		if err != nil {
			return pc, fmt.Errorf("read page: %w", err)
		}
		var jobs []probe.Job
		for _, c := range page.Items {
			if !c.Live() {
				continue
			}
			t, err := tenants.get(ctx, c.TenantID)
			if errors.Is(err, store.ErrNotFound) {
				pc.Skipped++
				s.log().Warn("connection of an unknown tenant skipped", "tenantId", c.TenantID, "accountId", c.AccountID)
				continue
			}
			if err != nil {
				return pc, fmt.Errorf("read tenant %s: %w", c.TenantID, err)
			}
			jobs = append(jobs, probe.JobsFor(c, t, p.why, s.now())...)
		}
		for start := 0; start < len(jobs); start += queue.MaxBatch {
			batch := jobs[start:min(start+queue.MaxBatch, len(jobs))]
			err := s.Queue.Send(ctx, batch)
			var se *queue.SendError
			switch {
			case err == nil:
				pc.Enqueued += len(batch)
			case errors.As(err, &se):
				pc.Enqueued += len(batch) - len(se.Failed)
				pc.Failed += len(se.Failed)
				if ctx.Err() != nil {
					return pc, ctx.Err()
				}
				s.log().Error("jobs not enqueued; they stay due", "part", p.name, "count", len(se.Failed), "error", err)
			default:
				pc.Failed += len(batch)
				return pc, fmt.Errorf("send jobs: %w", err)
			}
		}
		if page.Cursor == "" {
			pc.Done = true
			return pc, nil
		}
		cursor = page.Cursor
	}
}

// tenantCache reads each tenant once per sweep, even from concurrent
// shards.
type tenantCache struct {
	store Store
	mu    sync.Mutex
	m     map[string]*tenantEntry
	now   time.Time
	log   *slog.Logger
}

// settle completes the rotation of a tenant whose grace has ended (the
// sweep is what notices time passing), when the store can: the jobs carry
// no previous external ID past the grace either way.
func (c *tenantCache) settle(ctx context.Context, e *tenantEntry) {
	rs, ok := c.store.(rotation.Store)
	if e.err != nil || !ok || !e.t.InGrace() || e.t.PreviousAccepted(c.now) {
		return
	}
	done, err := rotation.Settle(ctx, rs, e.t, c.now)
	if err != nil {
		c.log.Warn("rotation not completed; the next sweep tries again", "tenantId", e.t.ID, "error", err)
		return
	}
	if done {
		e.t = e.t.Retired()
	}
}

// read reports whether the sweep has read tenant id.
func (c *tenantCache) read(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.m[id]
	return ok
}

type tenantEntry struct {
	once sync.Once
	t    tenant.Tenant
	err  error
}

func (c *tenantCache) get(ctx context.Context, id string) (tenant.Tenant, error) {
	c.mu.Lock()
	e, ok := c.m[id]
	if !ok {
		e = &tenantEntry{}
		c.m[id] = e
	}
	c.mu.Unlock()
	e.once.Do(func() {
		e.t, e.err = c.store.GetTenant(ctx, id)
		c.settle(ctx, e)
	})
	if e.err != nil && !errors.Is(e.err, store.ErrNotFound) {
		// A transient failure is not cached: the next connection of the
		// tenant tries again.
		c.mu.Lock()
		if c.m[id] == e {
			delete(c.m, id)
		}
		c.mu.Unlock()
	}
	return e.t, e.err
}
