package bench

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/rolecall/rolecall/internal/app"
	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/probe"
	"github.com/rolecall/rolecall/internal/rolearn"
	"github.com/rolecall/rolecall/internal/store"
	"github.com/rolecall/rolecall/internal/stsbudget"
	"github.com/rolecall/rolecall/internal/sweep"
	"github.com/rolecall/rolecall/internal/tenant"
	"github.com/rolecall/rolecall/internal/verify"
)

// scaleCase is one run of the scale simulation.
type scaleCase struct {
	connections int
	budget      int
	interval    time.Duration
	every       time.Duration // how often the sweep runs
	duration    time.Duration // simulated time
	settle      time.Duration // lags are measured from here on
	submitEvery time.Duration // one new submission per (0: none)
	// otherRate: the partner's other STS use, calls a second, from
	// otherFrom to otherTo (offsets from the start).
	otherRate          int
	otherFrom, otherTo time.Duration
	// attempts overrides the checker's attempts per probe (0: as
	// deployed). The simulated clock cannot delay a retry by its backoff,
	// so retries would run at once and count throttles that the deployed
	// checker's backoff spreads out.
	attempts int
}

// scaleResult is what one run measured.
type scaleResult struct {
	calls, throttled, peak int
	checks                 int // routine checks measured (after settle)
	allChecks              int // every check started
	duplicates             int // routine checks of a due time already checked
	maxLag, meanLag        time.Duration
	maxStretch             float64 // the worst (time since last check) ÷ (its scheduled interval)
	meanInterval           time.Duration
	covered                int // connections checked after settle
	sweep                  sweep.Result
	submitted              []time.Duration
	writes, sendBatches    int
	dueItemsRead           int
	busy                   time.Duration // instance-seconds with a check in flight
	simulated              time.Duration
	sleeps                 int
	limiterThrottles       int // times a routine limiter halved its rate
}

var scaleT0 = time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)

// simPriorityARN names the simulated priority queue.
const simPriorityARN = "arn:aws:sqs:us-east-1:123456789012:rolecall-sim-priority"

// runScale builds a million-connection (or whatever c says) pipeline on the
// embedded store and runs the real sweep and verify code over it in virtual
// time: the sweep every c.every; the routine and priority verify instances
// the template deploys, each with its budget share; a sandbox-like STS with
// a per-second quota and a latency of roundTrips × stsLatency per check.
func runScale(ctx context.Context, c scaleCase, stsLatency time.Duration, roundTrips int, quota int) (scaleResult, error) {
	var res scaleResult
	clock := newSimClock(scaleT0)
	p := connection.DefaultPolicy()
	p.VerifiedInterval = c.interval
	st := newIndexedStore()
	tenants := max(1, min(1000, c.connections/100))
	extIDs := make([]string, tenants)
	for i := range tenants {
		tn, err := tenant.New(fmt.Sprintf("tenant-%04d", i), "Tenant", scaleT0.Add(-72*time.Hour))
		if err != nil {
			return res, err
		}
		if err := st.CreateTenant(ctx, tn); err != nil {
			return res, err
		}
		extIDs[i] = tn.ExternalID
	}
	// Due times spread over the interval before the start: everything is
	// due at once, as after a deployment or an outage.
	for i := range c.connections {
		frac := math.Mod(float64(i)*0.6180339887, 1)
		tr, err := verifiedConnection(p, i, tenants, scaleT0.Add(-time.Duration(frac*float64(c.interval))))
		if err != nil {
			return res, err
		}
		if err := st.Apply(ctx, tr); err != nil {
			return res, fmt.Errorf("load connection %d: %w", i, err)
		}
	}
	st.writes = 0

	sts := &simSTS{clock: clock, quota: quota, externalID: func(account string) string {
		var n int
		fmt.Sscanf(account, "%d", &n)
		return extIDs[(n-300000000000)%tenants]
	}}
	if c.otherRate > 0 {
		from, to := scaleT0.Add(c.otherFrom), scaleT0.Add(c.otherTo)
		sts.other = func(t time.Time) int {
			if t.Before(from) || !t.Before(to) {
				return 0
			}
			return c.otherRate
		}
	}
	checker := app.Checker(app.Components{STS: sts, Clock: clock, Log: quiet}, app.Verify{CheckBaseDelay: time.Microsecond})
	if c.attempts > 0 {
		checker.Attempts = c.attempts
	}
	plan := stsbudget.Plan{RequestsPerSecond: c.budget, PriorityPercent: stsbudget.DefaultPriorityPercent,
		RoutineConcurrency: stsbudget.DefaultConcurrency, PriorityConcurrency: stsbudget.DefaultConcurrency}
	if err := plan.Validate(); err != nil {
		return res, err
	}
	loop := &simLoop{clock: clock, busy: time.Duration(roundTrips) * stsLatency}
	routineQ, priorityQ := &simQueue{clock: clock}, &simQueue{clock: clock}
	var routine, priority []*simInstance
	var priorityWorker *verify.Worker
	for i := range plan.RoutineConcurrency + plan.PriorityConcurrency {
		isRoutine := i < plan.RoutineConcurrency
		// One verify handler per instance, built as the Lambda builds it;
		// the instance runs its routine or its priority worker.
		h, err := app.NewVerify(app.Verify{Policy: p, Plan: plan, RoutineConcurrency: stsbudget.InFlight, PriorityQueueARN: simPriorityARN},
			app.Components{Region: benchRegion, Store: st, Queue: routineQ, PriorityQueue: priorityQ, Checker: checker, Clock: clock, Log: quiet})
		if err != nil {
			return res, err
		}
		w, slots, q := h.Workers[simPriorityARN], verify.DefaultConcurrency, priorityQ
		if isRoutine {
			w, slots, q = h.Default, stsbudget.InFlight, routineQ
		}
		lim, ok := w.Budget.(*stsbudget.Regions)
		if !ok {
			return res, fmt.Errorf("the verify handler's worker is not paced: budget %T", w.Budget)
		}
		inst := &simInstance{limiter: lim, worker: w, queue: q, slots: slots}
		if isRoutine {
			routine = append(routine, inst)
		} else {
			priority, priorityWorker = append(priority, inst), w
		}
	}
	wakeAll := func(insts []*simInstance) func() {
		return func() {
			for _, in := range insts {
				loop.wake(in, clock.Now())
			}
		}
	}
	routineQ.notify, priorityQ.notify = wakeAll(routine), wakeAll(priority)

	settle := scaleT0.Add(c.settle)
	var lagSum, intervalSum time.Duration
	covered := map[string]bool{}
	lastDue := map[string]int64{}
	loop.onCheck = func(now time.Time, m queued) {
		res.allChecks++
		cn := m.job.Connection
		switch m.job.Why {
		case probe.WhySubmitted:
			if m.receives == 0 {
				res.submitted = append(res.submitted, now.Add(loop.busy).Sub(m.sentAt))
			}
			return
		case probe.WhyScheduled:
		default:
			return
		}
		key := cn.AccountID
		if lastDue[key] == cn.NextCheckAt.UnixNano() && m.receives == 0 {
			res.duplicates++
		}
		lastDue[key] = cn.NextCheckAt.UnixNano()
		if now.Before(settle) || m.receives > 0 {
			return
		}
		res.checks++
		lag := now.Sub(cn.NextCheckAt)
		lagSum += lag
		res.maxLag = max(res.maxLag, lag)
		since := now.Sub(cn.LastCheckedAt)
		intervalSum += since
		if sched := cn.NextCheckAt.Sub(cn.LastCheckedAt); sched > 0 {
			res.maxStretch = max(res.maxStretch, since.Seconds()/sched.Seconds())
		}
		covered[key] = true
	}

	// The sweeper is the sweep function's, paced to the routine share of
	// the same plan, on the simulated clock.
	sw, err := app.NewSweep(app.Sweep{Interval: c.interval, Every: c.every, Plan: plan},
		app.Components{Region: benchRegion, Store: countingDue{st, &res.dueItemsRead}, Queue: routineQ, Clock: clock, Log: quiet})
	if err != nil {
		return res, err
	}
	var sweepErr error
	var tick func(time.Time)
	tick = func(at time.Time) {
		r, err := sw.Due(ctx)
		if err != nil && sweepErr == nil {
			sweepErr = err
		}
		res.sweep = r
		loop.at(at.Add(c.every), tick)
	}
	loop.at(scaleT0, tick)
	if c.submitEvery > 0 {
		n := c.connections
		var submit func(time.Time)
		submit = func(at time.Time) {
			i := n
			n++
			acct := fmt.Sprintf("%012d", 300000000000+i)
			arn, err := rolearn.Parse("arn:aws:iam::"+acct+":role/RoleCall", rolearn.Rules{})
			if err == nil {
				tr := p.Submit(nil, fmt.Sprintf("tenant-%04d", i%tenants), arn, 1, at)
				if err = st.Apply(ctx, tr); err == nil {
					var job probe.Job
					if job, err = priorityWorker.JobForSubmission(ctx, *tr.Event); err == nil {
						priorityQ.push(queued{job: job, sentAt: at})
					}
				}
			}
			if err != nil && sweepErr == nil {
				sweepErr = fmt.Errorf("submit: %w", err)
			}
			loop.at(at.Add(c.submitEvery), submit)
		}
		loop.at(scaleT0.Add(c.submitEvery/2), submit)
	}
	if err := loop.run(ctx, scaleT0.Add(c.duration)); err != nil {
		return res, err
	}
	if sweepErr != nil {
		return res, sweepErr
	}
	if loop.errs > 0 {
		return res, fmt.Errorf("%d checks failed: %w", loop.errs, loop.lastErr)
	}
	res.calls, res.throttled, res.peak = sts.report()
	for _, in := range routine {
		res.limiterThrottles += in.limiter.Throttles()
	}
	res.covered = len(covered)
	if res.checks > 0 {
		res.meanLag = lagSum / time.Duration(res.checks)
		res.meanInterval = intervalSum / time.Duration(res.checks)
	}
	res.writes, res.sendBatches = st.writes, routineQ.batches
	res.busy = loop.busyTotal(append(routine, priority...), clock.Now())
	res.simulated = c.duration
	res.sleeps = int(clock.slept.Load())
	return res, nil
}

// countingDue counts the items the sweep's due queries return.
type countingDue struct {
	*indexedStore
	items *int
}

func (c countingDue) Due(ctx context.Context, shard int, until time.Time, cursor string, limit int) (store.Page, error) {
	p, err := c.indexedStore.Due(ctx, shard, until, cursor, limit)
	*c.items += len(p.Items)
	return p, err
}

func (r scaleResult) summary() string {
	return fmt.Sprintf("calls %d throttled %d peak %d checks %d/%d dup %d maxLag %s meanLag %s stretch %.3f meanInterval %s covered %d sweep{paced %v eff %s backlog %d} submitted %d p99 %s writes %d batches %d dueRead %d busy %s sleeps %d",
		r.calls, r.throttled, r.peak, r.checks, r.allChecks, r.duplicates, r.maxLag, r.meanLag, r.maxStretch, r.meanInterval, r.covered,
		r.sweep.Paced, r.sweep.EffectiveInterval, r.sweep.Backlog, len(r.submitted), percentile(r.submitted, 99), r.writes, r.sendBatches, r.dueItemsRead, r.busy, r.sleeps)
}
