package stsbudget

import (
	"container/heap"
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/probe"
	"github.com/rolecall/rolecall/internal/testkit/testclock"
)

// newFakeClock is a simulated clock at the start of 2026: Sleep advances it.
func newFakeClock() *testclock.Clock {
	return testclock.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
}

type admission struct {
	at time.Time
	n  int
}

// maxWindow is the most tokens admitted in any half-open one-second window.
func maxWindow(ads []admission) int {
	slices.SortFunc(ads, func(a, b admission) int { return a.at.Compare(b.at) })
	best, sum, j := 0, 0, 0
	for i := range ads {
		for j < len(ads) && ads[j].at.Before(ads[i].at.Add(time.Second)) {
			sum += ads[j].n
			j++
		}
		best = max(best, sum)
		sum -= ads[i].n
	}
	return best
}

// request is one slot of one instance asking for tokens at a time.
type request struct {
	at       time.Time
	instance int
}

type requests []request

func (r requests) Len() int           { return len(r) }
func (r requests) Less(i, j int) bool { return r[i].at.Before(r[j].at) }
func (r requests) Swap(i, j int)      { r[i], r[j] = r[j], r[i] }
func (r *requests) Push(x any)        { *r = append(*r, x.(request)) }
func (r *requests) Pop() any {
	old := *r
	x := old[len(old)-1]
	*r = old[:len(old)-1]
	return x
}

// simulate runs instances limiters, each with slots concurrent callers,
// for d of simulated time; gap draws the pause of a caller between its
// admission and its next request.
func simulate(t *testing.T, budget float64, instances, slots int, d time.Duration, gap func(r *rand.Rand) time.Duration) []admission {
	t.Helper()
	clock := newFakeClock()
	start := clock.Now()
	lims := make([]*Limiter, instances)
	for i := range lims {
		l, err := NewLimiter(budget/float64(instances), CallsPerCheck, clock)
		if err != nil {
			t.Fatal(err)
		}
		lims[i] = l
	}
	rng := rand.New(rand.NewPCG(1, uint64(instances)))
	q := &requests{}
	for i := range instances {
		for range slots {
			heap.Push(q, request{at: start.Add(time.Duration(rng.Int64N(int64(time.Second)))), instance: i})
		}
	}
	var ads []admission
	for q.Len() > 0 {
		r := heap.Pop(q).(request)
		if r.at.Sub(start) > d {
			continue
		}
		clock.Set(r.at)
		n := 1 + rng.IntN(CallsPerCheck)
		at, err := lims[r.instance].reserveBy(n, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		if at.Before(r.at) {
			t.Fatalf("admitted at %s, before the request at %s", at, r.at)
		}
		ads = append(ads, admission{at, n})
		heap.Push(q, request{at: at.Add(gap(rng)), instance: r.instance})
	}
	return ads
}

func TestLimiterNeverAdmitsMoreThanTheBudgetInAnySecond(t *testing.T) {
	busy := func(*rand.Rand) time.Duration { return 0 }
	bursty := func(r *rand.Rand) time.Duration {
		if r.IntN(50) == 0 {
			return time.Duration(r.Int64N(int64(3 * time.Second))) // idle, then a burst
		}
		return time.Duration(r.Int64N(int64(20 * time.Millisecond)))
	}
	for _, tc := range []struct {
		name      string
		budget    float64
		instances int
		slots     int
		gap       func(*rand.Rand) time.Duration
		minUse    float64 // share of the budget a busy pipeline must use
	}{
		{"one instance, busy", 400, 1, 10, busy, 0.99},
		{"two instances, busy", 400, 2, 10, busy, 0.98},
		{"eight instances, busy", 400, 8, 10, busy, 0.95},
		{"five instances, budget 600, busy", 600, 5, 10, busy, 0.98},
		{"three instances, bursty", 400, 3, 10, bursty, 0},
		{"twenty instances, small shares, bursty", 400, 20, 4, bursty, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const d = 60 * time.Second
			ads := simulate(t, tc.budget, tc.instances, tc.slots, d, tc.gap)
			if peak := maxWindow(ads); float64(peak) > tc.budget {
				t.Fatalf("peak %d tokens in one second > budget %.0f", peak, tc.budget)
			}
			total := 0
			for _, a := range ads {
				total += a.n
			}
			if use := float64(total) / (tc.budget * d.Seconds()); use < tc.minUse {
				t.Fatalf("admitted %.3f of the budget, want at least %.2f", use, tc.minUse)
			}
		})
	}
}

func TestLimiterDecreasesOnThrottlingAndRecovers(t *testing.T) {
	clock := newFakeClock()
	l, err := NewLimiter(100, CallsPerCheck, clock)
	if err != nil {
		t.Fatal(err)
	}
	full := l.Rate()
	if full != 98 {
		t.Fatalf("rate %.2f, want 98 (100 less the tokens of one request but one)", full)
	}
	// admittedIn counts the tokens one busy caller gets in d.
	admittedIn := func(d time.Duration) int {
		end := clock.Now().Add(d)
		n := 0
		for {
			at, err := l.reserveBy(1, time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			if !at.Before(end) {
				clock.Set(end)
				return n
			}
			clock.Set(at)
			n++
		}
	}
	if n := admittedIn(time.Second); n < 97 || n > 100 {
		t.Fatalf("busy second admitted %d, want ~98", n)
	}
	l.Throttled()
	if r := l.Rate(); r != full/2 {
		t.Fatalf("after throttling rate %.2f, want %.2f", r, full/2)
	}
	l.Throttled() // the same burst: counts once
	if r := l.Rate(); r != full/2 {
		t.Fatalf("a second throttle within a second lowered the rate to %.2f", r)
	}
	if n := admittedIn(100 * time.Millisecond); n > 6 {
		t.Fatalf("throttled 100ms admitted %d, want about 5", n)
	}
	clock.Set(clock.Now().Add(time.Second))
	l.Throttled()
	// Half of what 1.1s of additive increase made of the halved rate.
	if r, want := l.Rate(), (full/2+1.1*full/30)/2; r < want-0.01 || r > want+0.01 {
		t.Fatalf("after a second throttle a second later rate %.2f, want %.2f", r, want)
	}
	for range 10 {
		l.Throttled()
		clock.Set(clock.Now().Add(time.Second))
	}
	if r := l.Rate(); r < full/20 || r > full/20+5*full/30 {
		t.Fatalf("rate %.2f after many throttles: want it near the floor %.2f", r, full/20)
	}
	clock.Set(clock.Now().Add(30 * time.Second))
	if r := l.Rate(); r != full {
		t.Fatalf("30s without throttling: rate %.2f, want back at %.2f", r, full)
	}
	if n := admittedIn(time.Second); n < 97 || n > 100 {
		t.Fatalf("recovered second admitted %d, want ~98", n)
	}
	if l.Throttles() != 11 {
		t.Fatalf("throttles %d, want 11 (the repeats within a second ignored)", l.Throttles())
	}
}

func TestLimiterTake(t *testing.T) {
	clock := newFakeClock()
	l, err := NewLimiter(10, 3, clock)
	if err != nil {
		t.Fatal(err)
	}
	start := clock.Now()
	for range 3 {
		if err := l.Take(context.Background(), 3); err != nil {
			t.Fatal(err)
		}
	}
	// 8 tokens a second, 3 per take: the third take waits 6/8 s.
	if got := clock.Now().Sub(start); got != 750*time.Millisecond {
		t.Fatalf("three takes took %s, want 750ms", got)
	}
	if err := l.Take(context.Background(), 4); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("take 4 of max 3: %v, want ErrTooLarge", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := l.Take(ctx, 3); !errors.Is(err, context.Canceled) {
		t.Fatalf("take with a cancelled context: %v, want context.Canceled", err)
	}
	// Tokens that would come within DeadlineMargin of the deadline are
	// refused at once, and not booked.
	busyUntil := l.Next(3)
	dctx, dcancel := context.WithDeadline(context.Background(), busyUntil.Add(DeadlineMargin-time.Millisecond))
	defer dcancel()
	before := clock.Now()
	if err := l.Take(dctx, 3); !errors.Is(err, ErrNoTime) || !clock.Now().Equal(before) {
		t.Fatalf("take too close to the deadline: %v after %s, want ErrNoTime at once", err, clock.Now().Sub(before))
	}
	if !l.Next(3).Equal(busyUntil) {
		t.Fatal("a refused take booked tokens")
	}
}

func TestNewLimiterRefusesShareBelowOneCheck(t *testing.T) {
	for _, tc := range []struct {
		limit float64
		take  int
		ok    bool
	}{{3, 3, true}, {2.5, 3, false}, {0, 1, false}, {10, 0, false}} {
		_, err := NewLimiter(tc.limit, tc.take, nil)
		if (err == nil) != tc.ok {
			t.Errorf("NewLimiter(%v, %d): %v, want ok=%v", tc.limit, tc.take, err, tc.ok)
		}
	}
}

// TestPlan: the plan splits the budget between the instances; a share
// below one check is raised to one check, so every plan of settings in
// their ranges gives each instance a budget that admits a check, and the
// instances together exceed the budget by Overshoot, at most one check
// each.
func TestPlan(t *testing.T) {
	for _, tc := range []struct {
		name            string
		plan            Plan
		routine, prio   float64
		checksPerMinute int
		overshoot       float64
		err             bool
	}{
		{"default", DefaultPlan(), 194, 6, 7680, 0, false},
		{"budget 600, 5%, one priority instance", Plan{600, 5, 2, 1, nil}, 285, 30, 11320, 0, false},
		{"priority share below a check: raised to one", Plan{40, 5, 2, 2, nil}, 19, 3, 680, 4, false},
		{"a cautious budget at the default priority", Plan{150, 3, 2, 2, nil}, 72.75, 3, 2800, 1.5, false},
		{"the least budget over the most instances", Plan{20, 3, 100, 2, nil}, 3, 3, 2000, 286, false},
		{"no budget", Plan{0, 5, 2, 2, nil}, 0, 0, 0, 0, true},
		{"priority over half", Plan{400, 60, 2, 2, nil}, 80, 120, 0, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.plan.Validate()
			if (err != nil) != tc.err {
				t.Fatalf("Validate: %v, want error %v", err, tc.err)
			}
			if tc.err {
				return
			}
			if got := tc.plan.RoutineShare(); math.Abs(got-tc.routine) > 1e-9 {
				t.Errorf("routine share %.2f, want %.2f", got, tc.routine)
			}
			if got := tc.plan.PriorityShare(); math.Abs(got-tc.prio) > 1e-9 {
				t.Errorf("priority share %.2f, want %.2f", got, tc.prio)
			}
			if got := int(math.Round(tc.plan.RoutineChecksPerSecond() * 60)); got != tc.checksPerMinute {
				t.Errorf("checks a minute %d, want %d", got, tc.checksPerMinute)
			}
			// Each instance's budget admits a check.
			if _, err := tc.plan.RoutineBudget(nil); err != nil {
				t.Errorf("routine budget: %v", err)
			}
			if _, err := tc.plan.PriorityBudget(nil); err != nil {
				t.Errorf("priority budget: %v", err)
			}
			// What the shares admit exceeds the budget by the overshoot
			// only, and that by at most one check per instance.
			over := tc.plan.Overshoot()
			if math.Abs(over-tc.overshoot) > 1e-9 {
				t.Errorf("overshoot %.2f, want %.2f", over, tc.overshoot)
			}
			instances := tc.plan.RoutineConcurrency + tc.plan.PriorityConcurrency
			if over > float64(instances*CallsPerCheck) {
				t.Errorf("overshoot %.2f is more than one check for each of %d instances", over, instances)
			}
			total := float64(tc.plan.RoutineConcurrency)*tc.plan.RoutineShare() + float64(tc.plan.PriorityConcurrency)*tc.plan.PriorityShare()
			if total > float64(tc.plan.RequestsPerSecond)+over+1e-9 {
				t.Errorf("shares sum to %.2f > budget %d + overshoot %.2f", total, tc.plan.RequestsPerSecond, over)
			}
		})
	}
}

func TestThrottled(t *testing.T) {
	for _, tc := range []struct {
		name string
		rep  probe.Report
		want bool
	}{
		{"throttled step", probe.Report{Steps: []probe.Step{{Code: "Throttling"}}, Outcome: connection.Outcome{Result: connection.ResultTransient, Detail: "Throttling"}}, true},
		{"throttled probe after a good one", probe.Report{Steps: []probe.Step{{OK: true}, {Code: "ThrottlingException"}}}, true},
		{"denied", probe.Report{Steps: []probe.Step{{Code: "AccessDenied"}}, Outcome: connection.Outcome{Result: connection.ResultDenied, Detail: "AccessDenied"}}, false},
		{"timeout", probe.Report{Steps: []probe.Step{{Code: "Timeout"}}}, false},
		{"throttled, then the retry succeeded", probe.Report{Steps: []probe.Step{{OK: true, Retried: []string{"Throttling"}}}}, true},
		{"timed out, then the retry succeeded", probe.Report{Steps: []probe.Step{{OK: true, Retried: []string{"TRANSIENT"}}}}, false},
		{"ok", probe.Report{Steps: []probe.Step{{OK: true}, {OK: true}}}, false},
	} {
		if got := Throttled(tc.rep); got != tc.want {
			t.Errorf("%s: Throttled %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestNextDoesNotBook(t *testing.T) {
	clock := newFakeClock()
	l, err := NewLimiter(10, 3, clock)
	if err != nil {
		t.Fatal(err)
	}
	if at := l.Next(3); !at.Equal(clock.Now()) {
		t.Fatalf("idle limiter: next %s, want now", at)
	}
	first, _ := l.reserveBy(3, time.Time{})
	if at := l.Next(3); !at.Equal(first.Add(375 * time.Millisecond)) {
		t.Fatalf("after one take: next %s, want 3/8 s later", at.Sub(first))
	}
	if at := l.Next(3); !at.Equal(first.Add(375 * time.Millisecond)) {
		t.Fatal("Next booked tokens")
	}
	clock.Set(l.Next(3))
	if err := l.Take(context.Background(), 3); err != nil || !clock.Now().Equal(first.Add(375*time.Millisecond)) {
		t.Fatalf("take at Next waited: %v, clock %s", err, clock.Now().Sub(first))
	}
}
