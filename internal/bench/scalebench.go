package bench

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/rolecall/rolecall/internal/app"
	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/probe"
	"github.com/rolecall/rolecall/internal/stsbudget"
	"github.com/rolecall/rolecall/internal/stsclient"
	"github.com/rolecall/rolecall/internal/tenant"
)

// ScaleSizes sizes the scale scenario.
type ScaleSizes struct {
	// Fairness: Connections at budget 400 (more than it serves hourly),
	// simulated for Hours, measured after Settle.
	Connections   int
	Interval      time.Duration
	Every         time.Duration
	Hours, Settle time.Duration
	// Stretch: StretchConnections at budget 600 (what it serves hourly,
	// within 10%), simulated for StretchHours, measured after
	// StretchSettle.
	StretchConnections          int
	StretchHours, StretchSettle time.Duration
	// SubmitEvery: one new submission per, while the backlog waits.
	SubmitEvery time.Duration
	// HeapSmall and HeapLarge: the stores one sweep's heap is compared
	// over.
	HeapSmall, HeapLarge int
	// Throttling: ThrottleConnections at budget 400 while other STS use
	// takes ThrottleOther calls a second of the quota for ThrottleFor,
	// after ThrottleFrom.
	ThrottleConnections, ThrottleOther int
	ThrottleFrom, ThrottleFor          time.Duration
}

// The STS quota of the partner account in one Region (STS's documented
// default), which the sandbox-like STS enforces.
const stsQuota = 600

// scale runs the real sweep and verify code over the sizes of cfg.Scale in
// virtual time (see runScale) and prints the STS budget's figures.
func scale(ctx context.Context, cfg Config, r *Report) error {
	const area = "Scale"
	sz := cfg.Scale
	rt, err := roundTrips(ctx)
	if err != nil {
		return err
	}
	r.add(Row{Area: area, Measure: "check latency in STS round trips (the checker's probes against an STS answering in 20 ms)",
		Value: fmt.Sprint(rt), Goal: "1", Verdict: atMost(float64(rt), 1, "")})

	cfg.progress("scale: %d connections, budget 400, %s simulated", sz.Connections, sz.Hours)
	start := time.Now()
	fair, err := runScale(ctx, scaleCase{connections: sz.Connections, budget: 400, interval: sz.Interval, every: sz.Every,
		duration: sz.Hours, settle: sz.Settle, submitEvery: sz.SubmitEvery}, cfg.STSLatency, rt, stsQuota)
	if err != nil {
		return fmt.Errorf("fairness run: %w", err)
	}
	cfg.progress("scale: %s in %s", fair.summary(), time.Since(start).Round(time.Second))
	if err := fair.sane(sz.Connections); err != nil {
		return fmt.Errorf("fairness run: %w", err)
	}
	cfg.progress("scale: %d connections, budget 600, %s simulated", sz.StretchConnections, sz.StretchHours)
	start = time.Now()
	stretch, err := runScale(ctx, scaleCase{connections: sz.StretchConnections, budget: 600, interval: sz.Interval, every: sz.Every,
		duration: sz.StretchHours, settle: sz.StretchSettle}, cfg.STSLatency, rt, stsQuota)
	if err != nil {
		return fmt.Errorf("stretch run: %w", err)
	}
	cfg.progress("scale: %s in %s", stretch.summary(), time.Since(start).Round(time.Second))
	if err := stretch.sane(sz.StretchConnections); err != nil {
		return fmt.Errorf("stretch run: %w", err)
	}

	cfg.progress("scale: %d connections, budget 400, other STS use of %d/s for %s", sz.ThrottleConnections, sz.ThrottleOther, sz.ThrottleFor)
	start = time.Now()
	throttled, err := runScale(ctx, scaleCase{connections: sz.ThrottleConnections, budget: 400, interval: sz.Interval, every: sz.Every,
		duration: sz.ThrottleFor + 2*sz.ThrottleFrom, settle: sz.ThrottleFrom, otherRate: sz.ThrottleOther, otherFrom: sz.ThrottleFrom, otherTo: sz.ThrottleFrom + sz.ThrottleFor,
		attempts: 1}, cfg.STSLatency, rt, stsQuota)
	if err != nil {
		return fmt.Errorf("throttling run: %w", err)
	}
	cfg.progress("scale: %s in %s", throttled.summary(), time.Since(start).Round(time.Second))
	if err := throttled.sane(sz.ThrottleConnections); err != nil {
		return fmt.Errorf("throttling run: %w", err)
	}

	for _, run := range []struct {
		res    scaleResult
		budget int
		n      int
	}{{fair, 400, sz.Connections}, {stretch, 600, sz.StretchConnections}} {
		ratio := float64(run.res.peak) / float64(run.budget)
		r.add(Row{Area: area, Measure: fmt.Sprintf("peak STS requests in any one-second window ÷ budget (%s connections, budget %d, %s simulated)", count(run.n), run.budget, run.res.simulated),
			Value: fmt.Sprintf("%.2f (%d ÷ %d; %s calls)", ratio, run.res.peak, run.budget, count(run.res.calls)), Goal: "≤ 1.00", Verdict: atMost(ratio, 1, "")})
		share := 100 * float64(run.res.throttled) / float64(max(1, run.res.calls))
		r.add(Row{Area: area, Measure: fmt.Sprintf("throttled share of STS calls (quota %d/s; %s connections, budget %d)", stsQuota, count(run.n), run.budget),
			Value: fmt.Sprintf("%.3f %% (%d calls)", share, run.res.throttled), Goal: "≤ 0.5 %", Verdict: atMost(share, 0.5, " %")})
	}
	share := 100 * float64(throttled.throttled) / float64(max(1, throttled.calls))
	r.add(Row{Area: area, Measure: fmt.Sprintf("throttled share of STS calls while the partner's other STS use takes %d of the %d/s quota for %s (%s connections, budget 400; AIMD; each probe tried once, not %d times as deployed: the simulation cannot delay a retry by its backoff)", sz.ThrottleOther, stsQuota, sz.ThrottleFor, count(sz.ThrottleConnections), stsclient.AttemptsPerProbe),
		Value: fmt.Sprintf("%.3f %% (%d of %s calls; the routine limiters halved %d times)", share, throttled.throttled, count(throttled.calls), throttled.limiterThrottles),
		Goal:  "≤ 0.5 %", Verdict: atMost(share, 0.5, " %")})
	r.add(Row{Area: area, Measure: fmt.Sprintf("%s connections, %s interval, budget 600: the worst time between two checks ÷ that connection's interval, after %s", count(sz.StretchConnections), sz.Interval, sz.StretchSettle),
		Value: fmt.Sprintf("%.3f; %s of %s connections checked in the last %s", stretch.maxStretch, count(stretch.covered), count(sz.StretchConnections), sz.StretchHours-sz.StretchSettle),
		Goal:  "≤ 1.1, all checked", Verdict: verdictAll(atMost(stretch.maxStretch, 1.1, ""), stretch.covered >= sz.StretchConnections)})
	r.add(Row{Area: area, Measure: fmt.Sprintf("%s connections, budget 400: the effective interval it settles at (mean time between checks after %s; the sweep's EffectiveIntervalSeconds)", count(sz.Connections), sz.Settle),
		Value: fmt.Sprintf("%s (sweep reports %s; backlog %s checks)", fair.meanInterval.Round(time.Second), fair.sweep.EffectiveInterval.Round(time.Second), count(fair.sweep.Backlog))})
	fairness := fair.maxLag.Seconds() / max(fair.meanLag.Seconds(), 1e-9)
	r.add(Row{Area: area, Measure: fmt.Sprintf("%s connections, budget 400: max lag ÷ mean lag (lag: how late a check runs after it was due)", count(sz.Connections)),
		Value: fmt.Sprintf("%.3f (max %s, mean %s; %s of %s checked)", fairness, fair.maxLag.Round(time.Second), fair.meanLag.Round(time.Second), count(fair.covered), count(sz.Connections)),
		Goal:  "≤ 1.2, all checked", Verdict: verdictAll(atMost(fairness, 1.2, ""), fair.covered >= sz.Connections)})
	p99 := percentile(fair.submitted, 99)
	r.add(Row{Area: area, Measure: fmt.Sprintf("submission → first check answered, while the backlog waits (%d submissions on the priority queue, one per %s)", len(fair.submitted), sz.SubmitEvery),
		Value: fmt.Sprintf("p50 %s, p99 %s, max %s", ms(percentile(fair.submitted, 50)), ms(p99), ms(percentile(fair.submitted, 100))),
		Goal:  "p99 ≤ 2 s", Verdict: atMost(p99.Seconds(), 2, " s")})
	dup := func(r scaleResult) float64 { return 100 * float64(r.duplicates) / float64(max(1, r.allChecks)) }
	r.add(Row{Area: area, Measure: "routine checks of a due time already checked (a job still queued when the next sweep ran; the sweep passes over the jobs not received yet and enqueues its cap less all not done)",
		Value: fmt.Sprintf("%.3f %% (%d) at %s / budget 400; %.3f %% (%d) while throttled", dup(fair), fair.duplicates, count(sz.Connections), dup(throttled), throttled.duplicates)})

	small, err := sweepHeap(ctx, sz.HeapSmall)
	if err != nil {
		return err
	}
	large, err := sweepHeap(ctx, sz.HeapLarge)
	if err != nil {
		return err
	}
	bounded := float64(large) <= 1.5*float64(small)+1<<20
	v := "met"
	if !bounded {
		v = "not met: grows with the number stored"
	}
	r.add(Row{Area: area, Measure: fmt.Sprintf("sweep peak heap, one budget-capped sweep with everything due (%s vs %s stored)", count(sz.HeapSmall), count(sz.HeapLarge)),
		Value: fmt.Sprintf("%s vs %s", mib(small), mib(large)), Goal: "bounded, independent of the number stored", Verdict: v})

	r.add(monthlyCostRow(area, fair))
	r.Notes = append(r.Notes,
		"Scale: the real sweep.Sweeper, verify.Worker (with its stsbudget limiter), probe.Checker (built by stsclient) and connection policy run on the embedded store in virtual time: an event loop sets a simulated clock that the limiter, checker, worker and sweep read, and starts a check only when its instance's limiter admits it. STS is a sandbox-like stand-in answering in the measured round trips × the sandbox latency, throttling above 600 calls in any one-second window. Each verify instance (2 routine, 2 priority, as template.yaml deploys) runs its checks in slots (30 routine, 10 priority); SQS delivery and Lambda polling delays are not modelled.",
		"Scale: reads and writes go to store.Memory, whose Due answers from an ordered due index (internal/store/memorydue.go) as DynamoDB's due index does: a page costs what it reads.",
		"Scale: budgets are split as stsbudget.Plan does: "+fmt.Sprintf("%d%%", stsbudget.DefaultPriorityPercent)+" reserved for the priority queue, the rest in per-instance shares of budget ÷ maximum concurrency; the sweep enqueues sweep.Fill of what the routine shares serve per minute.")
	return nil
}

func verdictAll(v string, all bool) string {
	if !all {
		if v == "met" {
			return "not met: some connections were not checked"
		}
		return v + "; some connections were not checked"
	}
	return v
}

// sane fails a run whose figures cannot be trusted.
func (r scaleResult) sane(n int) error {
	switch {
	case r.sleeps > 0:
		return fmt.Errorf("%d checks waited on the simulated clock", r.sleeps)
	case r.checks == 0 || r.calls == 0:
		return fmt.Errorf("no checks measured: %s", r.summary())
	}
	return nil
}

func count(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func mib(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// roundTrips measures a check's latency in STS round trips: checks against
// an STS that answers every call after 20 ms, their duration ÷ 20 ms.
func roundTrips(ctx context.Context) (int, error) {
	const rtt = 20 * time.Millisecond
	checker := app.Checker(app.Components{STS: slowSTS{rtt}, Log: quiet}, app.Verify{})
	var best time.Duration
	for i := range 5 {
		start := time.Now()
		rep := checker.Check(ctx, probe.Request{TenantID: "acme", AccountID: "111122223333", RoleARN: "arn:aws:iam::111122223333:role/R", ExternalID: "rc-right", Version: 1})
		d := time.Since(start)
		if rep.Outcome.Result != connection.ResultOK {
			return 0, fmt.Errorf("round-trip check: %s %s", rep.Outcome.Result, rep.Outcome.Detail)
		}
		if i == 0 || d < best {
			best = d
		}
	}
	return int(best / rtt), nil
}

// slowSTS answers like a correctly configured role after d.
type slowSTS struct{ d time.Duration }

func (s slowSTS) AssumeRole(ctx context.Context, in probe.AssumeRequest) (probe.Session, error) {
	t := time.NewTimer(s.d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return probe.Session{}, ctx.Err()
	case <-t.C:
	}
	if in.ExternalID != "rc-right" {
		return probe.Session{}, &probe.STSError{Kind: probe.ErrDenied, Code: "AccessDenied", Err: fmt.Errorf("denied")}
	}
	return probe.Session{AssumedRoleARN: "arn:aws:sts::111122223333:assumed-role/R/" + in.SessionName, AccountID: "111122223333"}, nil
}

// sweepHeap is the peak live heap, above the store's, of one due sweep over
// n due connections at budget 400, sampled after a collection at every
// 50th batch sent.
func sweepHeap(ctx context.Context, n int) (uint64, error) {
	st := newIndexedStore()
	p := connection.DefaultPolicy()
	tenants := max(1, min(1000, n/100))
	for i := range tenants {
		tn, err := tenant.New(fmt.Sprintf("tenant-%04d", i), "Tenant", scaleT0)
		if err != nil {
			return 0, err
		}
		if err := st.CreateTenant(ctx, tn); err != nil {
			return 0, err
		}
	}
	for i := range n {
		tr, err := verifiedConnection(p, i, tenants, scaleT0.Add(-time.Duration(i)*time.Millisecond))
		if err != nil {
			return 0, err
		}
		if err := st.Apply(ctx, tr); err != nil {
			return 0, err
		}
	}
	plan := stsbudget.DefaultPlan()
	q := &heapSampler{}
	sw, err := app.NewSweep(app.Sweep{Plan: plan, Every: time.Minute, Interval: time.Hour}, app.Components{Region: benchRegion, Store: st, Queue: q, Log: quiet})
	if err != nil {
		return 0, err
	}
	sw.Now, sw.PageSize = func() time.Time { return scaleT0 }, 1000
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	q.base = ms.HeapAlloc
	res, err := sw.Due(ctx)
	if err != nil {
		return 0, err
	}
	if res.Enqueued == 0 || !res.Paced && n > res.Enqueued {
		return 0, fmt.Errorf("heap sweep over %d: %+v", n, res)
	}
	runtime.KeepAlive(st)
	return q.peak, nil
}

// heapSampler is a queue that drops what it is sent and samples the heap.
type heapSampler struct {
	mu         sync.Mutex
	sends      int
	base, peak uint64
}

func (h *heapSampler) Send(ctx context.Context, jobs []probe.Job) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.sends++
	if h.sends%50 == 1 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		if ms.HeapAlloc > h.base {
			h.peak = max(h.peak, ms.HeapAlloc-h.base)
		}
	}
	return nil
}
