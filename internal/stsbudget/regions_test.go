package stsbudget

import (
	"context"
	"testing"
	"time"
)

// mustRegions is NewRegions with CallsPerCheck, failing t on an error.
func mustRegions(t *testing.T, regions []string, limit float64, clock Clock) *Regions {
	t.Helper()
	r, err := NewRegions(regions, limit, CallsPerCheck, clock)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRegionsSpreadChecksAndHoldEachRegionsBudget(t *testing.T) {
	clock := newFakeClock()
	regions := []string{"us-east-1", "eu-west-1"}
	r := mustRegions(t, regions, 100, clock)
	perRegion := map[string][]admission{}
	start := clock.Now()
	for clock.Now().Sub(start) < 10*time.Second {
		at := r.Next(CallsPerCheck)
		clock.Set(at)
		ctx, err := r.Take(context.Background(), CallsPerCheck)
		if err != nil {
			t.Fatal(err)
		}
		if !clock.Now().Equal(at) {
			t.Fatal("Take waited past Next")
		}
		perRegion[RegionOf(ctx)] = append(perRegion[RegionOf(ctx)], admission{at, CallsPerCheck})
	}
	for _, name := range regions {
		ads := perRegion[name]
		if peak := maxWindow(ads); peak > 100 {
			t.Errorf("%s: peak %d calls in a second > its budget of 100", name, peak)
		}
		if len(ads) < 300 { // ~98 calls a second ÷ 3 for 10 s
			t.Errorf("%s: %d checks in 10 s, want ~326: the Regions are not both used", name, len(ads))
		}
	}
	// Throttling slows the Region the check ran in, only.
	ctx := WithRegion(context.Background(), "eu-west-1")
	r.Throttled(ctx)
	if r.limiters[1].Rate() >= r.limiters[0].Rate() || r.Throttles() != 1 {
		t.Fatalf("rates %.1f/%.1f after eu-west-1 throttled, throttles %d", r.limiters[0].Rate(), r.limiters[1].Rate(), r.Throttles())
	}
}

// TestPayTakesFromTheBudgetOfTheCheck: every call a check makes is paid
// for once, in the Region it is sent to. The calls Take paid for are spent
// by the first calls sent to the check's Region; a call beyond them pays
// one token: Pay in the Region the call will go to, Spend (just before the
// call) only when nothing was paid there yet. Once the customer's account
// answered RegionDisabledException in the check's Region, Pay pays in the
// next Region, where the call is sent, and nothing more in the disabled
// one. A Region the budget does not list pays in the first. Without a
// budget in the context (an unpaced checker) both return at once.
func TestPayTakesFromTheBudgetOfTheCheck(t *testing.T) {
	for _, ctx := range []context.Context{context.Background(), Scope(context.Background())} {
		if err := Pay(ctx); err != nil {
			t.Fatalf("Pay without a budget: %v", err)
		}
		if err := Spend(ctx, "eu-west-1"); err != nil {
			t.Fatalf("Spend without a budget: %v", err)
		}
	}
	clock := newFakeClock()
	r := mustRegions(t, []string{"us-east-1", "eu-west-1"}, 30, clock)
	ctx, err := r.Take(WithRegion(context.Background(), "us-east-1"), CallsPerCheck)
	if err != nil {
		t.Fatal(err)
	}
	if Scope(ctx) != ctx {
		t.Fatal("Scope replaced the check Take started")
	}
	home, other := RegionOf(ctx), "eu-west-1"
	if home != "us-east-1" {
		t.Fatalf("the check runs in %q, want us-east-1", home)
	}
	// The limiter's theoretical arrival time moves with each token booked.
	next := func(region string) time.Time {
		l := r.limiters[r.indexOf(region)]
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.tat
	}
	spend := func(region string) func() error { return func() error { return Spend(ctx, region) } }
	pay := func() error { return Pay(ctx) }
	for _, tc := range []struct {
		name   string
		do     func() error
		region string // the Region that books a token; "" for none
	}{
		{"the first of Take's calls", spend(home), ""},
		{"the second", spend(home), ""},
		{"the third", spend(home), ""},
		{"a fourth call in the check's Region", spend(home), home},
		{"Pay for a retry", pay, home},
		{"the retry", spend(home), ""},
		{"a call sent on to another Region", spend(other), other},
		{"a call sent to a Region not listed", spend("ap-south-1"), "us-east-1"},
		{"Pay for a retry, in the check's Region", pay, home},
		{"the check's Region disabled", func() error { SetDisabled(ctx, home); return nil }, ""},
		{"the retry paid there, sent to the next Region, pays there", spend(other), other},
		{"Pay for a retry after", pay, other},
		{"the retry, sent to the next Region", spend(other), ""},
		{"both disabled", func() error { SetDisabled(ctx, other); return nil }, ""},
		{"Pay then", pay, home},
	} {
		before := map[string]time.Time{home: next(home), other: next(other)}
		if err := tc.do(); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		for _, region := range []string{home, other} {
			if booked := next(region).After(before[region]); booked != (region == tc.region) {
				t.Errorf("%s: %s booked a token: %t, want %t", tc.name, region, booked, region == tc.region)
			}
		}
	}
}

// TestDisabledLastsOneCheck: the Regions a customer's account answered
// RegionDisabledException in are the check's: another check, paced or not,
// starts with none, and without a check in the context nothing is kept.
func TestDisabledLastsOneCheck(t *testing.T) {
	SetDisabled(context.Background(), "eu-west-1")
	if Disabled(context.Background(), "eu-west-1") {
		t.Fatal("kept without a check")
	}
	r := mustRegions(t, []string{"us-east-1", "eu-west-1"}, 30, newFakeClock())
	first, err := r.Take(context.Background(), CallsPerCheck)
	if err != nil {
		t.Fatal(err)
	}
	unpaced := Scope(context.Background())
	for _, ctx := range []context.Context{first, unpaced} {
		SetDisabled(ctx, "eu-west-1")
		if !Disabled(ctx, "eu-west-1") || Disabled(ctx, "us-east-1") {
			t.Fatal("the check does not keep the Region it was answered RegionDisabledException in, or only it")
		}
	}
	second, err := r.Take(context.Background(), CallsPerCheck)
	if err != nil {
		t.Fatal(err)
	}
	for _, ctx := range []context.Context{second, Scope(context.Background()), Scope(first)} {
		if Disabled(ctx, "eu-west-1") != (ctx == Scope(first)) {
			t.Error("a Region disabled in one check is disabled in another")
		}
	}
}

// TestRefusedRegionGetsNoChecksForAWhile: once the partner account refused
// a check's call in a Region, no check takes its tokens there for
// RefusalHold, however soon that Region would admit them; then checks go
// there again. A refusal without a budget, or in a Region the budget does
// not list, holds nothing; when every Region is held, checks still run.
func TestRefusedRegionGetsNoChecksForAWhile(t *testing.T) {
	clock := newFakeClock()
	names := []string{"us-east-1", "eu-west-1"}
	r := mustRegions(t, names, 30, clock)
	// take runs n checks, each when some Region admits it, and counts
	// them by Region.
	take := func(n int) map[string]int {
		t.Helper()
		got := map[string]int{}
		for range n {
			clock.Set(r.Next(CallsPerCheck))
			ctx, err := r.Take(context.Background(), CallsPerCheck)
			if err != nil {
				t.Fatal(err)
			}
			got[RegionOf(ctx)]++
		}
		return got
	}
	if got := take(10); got["eu-west-1"] == 0 || got["us-east-1"] == 0 {
		t.Fatalf("before any refusal: checks by Region %v, want both used", got)
	}
	RefusedIn(context.Background(), "eu-west-1")
	RefusedIn(Scope(context.Background()), "eu-west-1")
	if got := take(10); got["eu-west-1"] == 0 {
		t.Fatalf("a refusal outside a budget held eu-west-1: %v", got)
	}

	ctx, err := r.Take(WithRegion(context.Background(), "eu-west-1"), CallsPerCheck)
	if err != nil {
		t.Fatal(err)
	}
	RefusedIn(ctx, "ap-east-1") // not listed: holds nothing, not the first
	RefusedIn(ctx, "eu-west-1")
	start := clock.Now()
	got := take(40) // ~10 checks a second in us-east-1 alone: ~4 s
	if got["eu-west-1"] != 0 || got["us-east-1"] != 40 {
		t.Fatalf("while eu-west-1 is held: checks by Region %v, want all 40 in us-east-1", got)
	}
	if clock.Now().Sub(start) >= RefusalHold {
		t.Fatal("the checks outlasted the hold: the test proves nothing")
	}
	clock.Set(start.Add(RefusalHold))
	if got := take(10); got["eu-west-1"] == 0 {
		t.Fatalf("after the hold: checks by Region %v, want eu-west-1 used again", got)
	}

	// Every Region held: the checks still run, in whichever admits first.
	RefusedIn(ctx, "us-east-1")
	RefusedIn(ctx, "eu-west-1")
	if got := take(10); got["eu-west-1"]+got["us-east-1"] != 10 {
		t.Fatalf("every Region held: checks by Region %v", got)
	}
}

func TestRegionsWithoutNamesUseTheClientsRegion(t *testing.T) {
	r := mustRegions(t, nil, 10, newFakeClock())
	ctx, err := r.Take(context.Background(), CallsPerCheck)
	if err != nil || RegionOf(ctx) != "" {
		t.Fatalf("take: region %q, %v; want none", RegionOf(ctx), err)
	}
}

func TestParseRegions(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
		err  bool
	}{
		{"", nil, false},
		{"eu-west-1", []string{"eu-west-1"}, false},
		{"eu-west-1, us-gov-west-1,ap-southeast-2", []string{"eu-west-1", "us-gov-west-1", "ap-southeast-2"}, false},
		// A repeat is dropped, the first kept: template.yaml's pattern
		// cannot refuse it, and its quota counts once.
		{"eu-west-1,eu-west-1", []string{"eu-west-1"}, false},
		{"eu-west-1,us-west-2, eu-west-1", []string{"eu-west-1", "us-west-2"}, false},
		{"EU-WEST-1", nil, true},
		{"eu-west", nil, true},
		{"eu--west-1", nil, true},
		{"eu-west-1,", nil, true},
		{"sts.amazonaws.com", nil, true},
	} {
		got, err := ParseRegions(tc.in)
		if (err != nil) != tc.err || len(got) != len(tc.want) {
			t.Errorf("ParseRegions(%q) = %v, %v", tc.in, got, err)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("ParseRegions(%q) = %v, want %v", tc.in, got, tc.want)
			}
		}
	}
}

func TestRegionListCountsEachRegionOnce(t *testing.T) {
	got := RegionList("us-east-1", []string{"eu-west-1", "us-east-1", "ap-southeast-2"})
	want := []string{"us-east-1", "eu-west-1", "ap-southeast-2"}
	if len(got) != len(want) {
		t.Fatalf("RegionList = %v, want %v", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("RegionList = %v, want %v", got, want)
		}
	}
}

func TestPlanWithRegionsServesEachRegionsBudget(t *testing.T) {
	p := DefaultPlan()
	one := p.RoutineChecksPerSecond()
	p.Regions = []string{"us-east-1", "eu-west-1"}
	if got := p.RoutineChecksPerSecond(); got != 2*one {
		t.Fatalf("two Regions serve %.2f checks/s, want twice one Region's %.2f", got, one)
	}
	budgets := []struct {
		name  string
		build func(Clock) (*Regions, error)
		share float64
	}{
		{"routine", p.RoutineBudget, p.RoutineShare()},
		{"priority", p.PriorityBudget, p.PriorityShare()},
	}
	for _, bt := range budgets {
		b, err := bt.build(newFakeClock())
		if err != nil || len(b.limiters) != 2 {
			t.Fatalf("%s budget %+v, %v; want one limiter per Region", bt.name, b, err)
		}
		for i, l := range b.limiters {
			if l.Limit() != bt.share {
				t.Errorf("%s budget, Region %d: limit %.2f, want the %s share %.2f", bt.name, i, l.Limit(), bt.name, bt.share)
			}
		}
	}
}

// TestThrottledInSlowsTheRegionACallWentTo: a throttled call reported in
// the Region it was sent to (ThrottledIn) slows that Region, and the
// check's own report (Throttled) then slows nothing more; without such a
// report Throttled slows the check's Region; without a budget in the
// context ThrottledIn does nothing.
func TestThrottledInSlowsTheRegionACallWentTo(t *testing.T) {
	ThrottledIn(context.Background(), "eu-west-1") // no budget: nothing to slow
	for _, tc := range []struct {
		name     string
		reported string // the Region ThrottledIn names; "" for none
		slowed   string // the one Region slowed
	}{
		{"reported in the Region the call went to", "eu-west-1", "eu-west-1"},
		{"reported in the check's Region", "us-east-1", "us-east-1"},
		{"not reported by the client", "", "us-east-1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := mustRegions(t, []string{"us-east-1", "eu-west-1"}, 100, newFakeClock())
			ctx, err := r.Take(WithRegion(context.Background(), "us-east-1"), CallsPerCheck)
			if err != nil {
				t.Fatal(err)
			}
			full := r.Rate("us-east-1")
			if RegionOf(ctx) != "us-east-1" || r.Rate("eu-west-1") != full {
				t.Fatalf("setup: the check runs in %s, rates %.1f/%.1f", RegionOf(ctx), full, r.Rate("eu-west-1"))
			}
			if tc.reported != "" {
				ThrottledIn(ctx, tc.reported)
			}
			r.Throttled(ctx)
			for _, region := range []string{"us-east-1", "eu-west-1"} {
				if slowed := r.Rate(region) < full; slowed != (region == tc.slowed) {
					t.Errorf("%s slowed: %t, want %t (rate %.1f of %.1f)", region, slowed, region == tc.slowed, r.Rate(region), full)
				}
			}
			if r.Throttles() != 1 {
				t.Errorf("%d throttles counted, want 1", r.Throttles())
			}
		})
	}
}
