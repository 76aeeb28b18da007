package stsclient

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/rolecall/rolecall/access"
	"github.com/rolecall/rolecall/internal/probe"
	"github.com/rolecall/rolecall/internal/stsbudget"
	"github.com/rolecall/rolecall/internal/testkit/syncbuf"
	"github.com/rolecall/rolecall/internal/testkit/testclock"
)

// regionFake answers for one Region, or says the Region is disabled in
// the customer's account, or refused by the partner's.
type regionFake struct {
	name     string
	disabled bool
	refused  bool
	calls    *[]string
}

func (f regionFake) AssumeRole(ctx context.Context, in probe.AssumeRequest) (probe.Session, error) {
	*f.calls = append(*f.calls, f.name)
	if f.refused {
		// As probe.STS classifies the error of a call the access role's
		// guard stops.
		return probe.Session{}, probe.Classify(fmt.Errorf("operation error STS: AssumeRole: %w", &access.RegionRefusedError{Region: f.name, Home: "us-east-1", Code: "InvalidClientTokenId"}))
	}
	if f.disabled {
		return probe.Session{}, &probe.STSError{Kind: probe.ErrRegionDisabled, Code: "RegionDisabledException", Err: errors.New("STS is not activated in this region")}
	}
	return probe.Session{AssumedRoleARN: "arn:aws:sts::111122223333:assumed-role/R/s", AccountID: "111122223333"}, nil
}

func TestRegionalRoutesAndFallsBack(t *testing.T) {
	for _, tc := range []struct {
		name     string
		region   string // of the check's tokens
		disabled []string
		refused  []string // by the partner account
		want     []string // Regions called, in order
		err      error
	}{
		{"no Region named: the deployment's", "", nil, nil, []string{"us-east-1"}, nil},
		{"the Region the tokens came from", "eu-west-1", nil, nil, []string{"eu-west-1"}, nil},
		{"disabled in the customer's account: the next", "eu-south-1", []string{"eu-south-1"}, nil, []string{"eu-south-1", "us-east-1"}, nil},
		{"disabled twice: the one after", "eu-west-1", []string{"eu-west-1", "eu-south-1"}, nil, []string{"eu-west-1", "eu-south-1", "us-east-1"}, nil},
		{"disabled everywhere: the error stands", "us-east-1", []string{"us-east-1", "eu-west-1", "eu-south-1"}, nil, []string{"us-east-1", "eu-west-1", "eu-south-1"}, probe.ErrRegionDisabled},
		{"refused by the partner account: the next", "eu-west-1", nil, []string{"eu-west-1"}, []string{"eu-west-1", "eu-south-1"}, nil},
		{"refused by the partner, disabled by the customer: the next", "eu-west-1", []string{"eu-south-1"}, []string{"eu-west-1"}, []string{"eu-west-1", "eu-south-1", "us-east-1"}, nil},
		{"disabled wherever the partner is not refused: transient, not the customer's", "eu-west-1", []string{"us-east-1", "eu-south-1"}, []string{"eu-west-1"},
			[]string{"eu-west-1", "eu-south-1", "us-east-1"}, probe.ErrTransient},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var calls []string
			r := &Regional{names: []string{"us-east-1", "eu-west-1", "eu-south-1"}, clients: map[string]probe.Assumer{}}
			for _, n := range r.names {
				r.clients[n] = regionFake{name: n, disabled: slices.Contains(tc.disabled, n), refused: slices.Contains(tc.refused, n), calls: &calls}
			}
			var logged syncbuf.Buffer
			r.log = slog.New(slog.NewTextHandler(&logged, nil))
			ctx := context.Background()
			if tc.region != "" {
				ctx = stsbudget.WithRegion(ctx, tc.region)
			}
			_, err := r.AssumeRole(ctx, probe.AssumeRequest{RoleARN: "arn:aws:iam::111122223333:role/R"})
			if !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
				t.Fatalf("err %v, want %v", err, tc.err)
			}
			if !slices.Equal(calls, tc.want) {
				t.Fatalf("called %v, want %v", calls, tc.want)
			}
			if warned := strings.Contains(logged.String(), "region=eu-west-1"); warned != (len(tc.refused) > 0) {
				t.Fatalf("the refusal by the partner account logged %v, want %v:\n%s", warned, len(tc.refused) > 0, logged.String())
			}
			if len(tc.refused) > 0 {
				// Once per Region: every check it refuses would log it.
				_, _ = r.AssumeRole(ctx, probe.AssumeRequest{RoleARN: "arn:aws:iam::111122223333:role/R"})
				if n := strings.Count(logged.String(), "refuses the partner's calls"); n != 1 {
					t.Fatalf("logged %d times, want once:\n%s", n, logged.String())
				}
			}
		})
	}
}

func TestNewRegionalBuildsOneClientPerRegion(t *testing.T) {
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("AKID", "secret", "")}
	r, err := NewRegional(cfg, []string{"eu-west-1", "us-east-1", "ap-southeast-2"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"us-east-1", "eu-west-1", "ap-southeast-2"}; !slices.Equal(r.Regions(), want) {
		t.Fatalf("regions %v, want %v (the deployment's first, no repeat)", r.Regions(), want)
	}
	for _, n := range r.Regions() {
		c, ok := r.clients[n].(*probe.STS).Client.(*sts.Client)
		if !ok || c.Options().Region != n {
			t.Errorf("the client for %s is not an STS client of that Region", n)
		}
	}
	if _, err := NewRegional(aws.Config{}, []string{"eu-west-1"}, Options{}); !errors.Is(err, ErrNoRegion) {
		t.Errorf("no deployment Region: %v, want ErrNoRegion", err)
	}
}

type timedRegion struct {
	name     string
	disabled bool
	mu       *sync.Mutex
	calls    map[string][]time.Time
}

func (f timedRegion) AssumeRole(ctx context.Context, in probe.AssumeRequest) (probe.Session, error) {
	f.mu.Lock()
	f.calls[f.name] = append(f.calls[f.name], time.Now())
	f.mu.Unlock()
	switch {
	case f.disabled:
		return probe.Session{}, &probe.STSError{Kind: probe.ErrRegionDisabled, Code: "RegionDisabledException", Err: errors.New("STS is not activated in this region")}
	case in.ExternalID != "rc-EXAMPLEEXAMPLEEXAMPLEEXAMPLE2345":
		return probe.Session{}, &probe.STSError{Kind: probe.ErrDenied, Code: "AccessDenied", Err: errors.New("denied")}
	}
	return probe.Session{AssumedRoleARN: "arn:aws:sts::111122223333:assumed-role/R/s", AccountID: "111122223333"}, nil
}

// TestRegionFallbackStaysInsideEachRegionsBudget: a call sent on to
// another Region, because the customer's account has the check's Region
// disabled, pays its token in that Region, so each Region's quota holds.
func TestRegionFallbackStaysInsideEachRegionsBudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const limit = 30.0 // the instance's share in each Region
		names := []string{"us-east-1", "eu-south-1"}
		var mu sync.Mutex
		calls := map[string][]time.Time{}
		r := &Regional{names: names, clients: map[string]probe.Assumer{}}
		for _, n := range names {
			r.clients[n] = timedRegion{name: n, disabled: n == "eu-south-1", mu: &mu, calls: calls}
		}
		budget, err := stsbudget.NewRegions(names, limit, stsbudget.CallsPerCheck, stsbudget.RealClock{})
		if err != nil {
			t.Fatal(err)
		}
		checker := Checker(r, Options{Log: slog.New(slog.DiscardHandler)})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var wg sync.WaitGroup
		for range stsbudget.InFlight {
			wg.Go(func() {
				for {
					cctx, err := budget.Take(ctx, stsbudget.CallsPerCheck)
					if err != nil {
						return
					}
					checker.Check(cctx, probe.Request{TenantID: "acme", AccountID: "111122223333", RoleARN: "arn:aws:iam::111122223333:role/R",
						ExternalID: "rc-EXAMPLEEXAMPLEEXAMPLEEXAMPLE2345", ExternalIDVersion: 1, Version: 1})
				}
			})
		}
		wg.Wait()
		for _, n := range names {
			if p := testclock.BusiestSecond(calls[n]); float64(p) > limit {
				t.Errorf("%s: %d STS calls in one second, limit %.0f (%d calls in all)", n, p, limit, len(calls[n]))
			}
		}
	})
}

// TestPartnerRefusedRegionGetsNoMoreChecks: once the partner account
// refuses a call in a Region, the budget gives that Region no more checks
// for a while: their calls would all go on to the next Region and pay
// again there.
func TestPartnerRefusedRegionGetsNoMoreChecks(t *testing.T) {
	names := []string{"us-east-1", "eu-west-1"}
	var calls []string
	r := &Regional{names: names, clients: map[string]probe.Assumer{}, log: slog.New(slog.DiscardHandler)}
	for _, n := range names {
		r.clients[n] = regionFake{name: n, refused: n == "eu-west-1", calls: &calls}
	}
	clock := testclock.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	budget, err := stsbudget.NewRegions(names, 30, stsbudget.CallsPerCheck, clock)
	if err != nil {
		t.Fatal(err)
	}
	in := probe.AssumeRequest{RoleARN: "arn:aws:iam::111122223333:role/R"}
	checks := map[string]int{}
	for range 20 {
		clock.Set(budget.Next(stsbudget.CallsPerCheck))
		ctx, err := budget.Take(context.Background(), stsbudget.CallsPerCheck)
		if err != nil {
			t.Fatal(err)
		}
		checks[stsbudget.RegionOf(ctx)]++
		if _, err := r.AssumeRole(ctx, in); err != nil {
			t.Fatalf("check in %s: %v", stsbudget.RegionOf(ctx), err)
		}
	}
	if checks["eu-west-1"] != 1 || slices.Index(calls, "eu-west-1") < 0 || len(calls) != 21 {
		t.Fatalf("checks by Region %v, calls %v: want one check in eu-west-1 (refused, then sent on), the other 19 in us-east-1", checks, calls)
	}
}

// TestRegionalRefusesRegionsOfAnotherPartition: a Region of StsRegions in
// another partition than the deployment's (aws-cn, aws-us-gov) cannot
// assume the deployment partition's roles with its credentials, so every
// check sent there would be lost: NewRegional refuses it. Regions of the
// same partition are taken.
func TestRegionalRefusesRegionsOfAnotherPartition(t *testing.T) {
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("AKID", "secret", "")}
	for _, extra := range []string{"cn-north-1", "us-gov-west-1"} {
		if r, err := NewRegional(cfg, []string{extra}, Options{}); !errors.Is(err, ErrOtherPartition) {
			t.Errorf("NewRegional(us-east-1 + %s) = %v, %v; want %v", extra, r, err, ErrOtherPartition)
		}
	}
	r, err := NewRegional(cfg, []string{"eu-west-1"}, Options{})
	if err != nil || len(r.Regions()) != 2 {
		t.Fatalf("NewRegional(us-east-1 + eu-west-1) = %v, %v", r, err)
	}
	cfg.Region = "cn-north-1"
	if _, err := NewRegional(cfg, []string{"cn-northwest-1"}, Options{}); err != nil {
		t.Errorf("NewRegional(cn-north-1 + cn-northwest-1): %v", err)
	}
}

// throttledRegion throttles every call sent to it; disabledRegion has STS
// disabled for the customer's account.
type throttledRegion struct{}

func (throttledRegion) AssumeRole(ctx context.Context, in probe.AssumeRequest) (probe.Session, error) {
	return probe.Session{}, &probe.STSError{Kind: probe.ErrTransient, Code: "Throttling", Err: errors.New("Rate exceeded")}
}

type disabledRegion struct{}

func (disabledRegion) AssumeRole(ctx context.Context, in probe.AssumeRequest) (probe.Session, error) {
	return probe.Session{}, &probe.STSError{Kind: probe.ErrRegionDisabled, Code: "RegionDisabledException", Err: errors.New("STS is not activated in this region")}
}

// TestThrottlingSlowsTheRegionItCameFrom: a check whose tokens came from
// us-east-1, for an account that has us-east-1 disabled, sends its calls on
// to eu-south-1, where STS throttles them. The budget slows eu-south-1
// down, whose quota is exhausted, and leaves us-east-1 at its pace: the
// worker's report of the check's throttling (as verify.Worker makes it)
// does not slow the check's own Region, which throttled nothing.
func TestThrottlingSlowsTheRegionItCameFrom(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		names := []string{"us-east-1", "eu-south-1"}
		r := &Regional{names: names, clients: map[string]probe.Assumer{"us-east-1": disabledRegion{}, "eu-south-1": throttledRegion{}}}
		budget, err := stsbudget.NewRegions(names, 30, stsbudget.CallsPerCheck, stsbudget.RealClock{})
		if err != nil {
			t.Fatal(err)
		}
		full := budget.Rate("us-east-1")
		ctx, err := budget.Take(context.Background(), stsbudget.CallsPerCheck)
		if err != nil || stsbudget.RegionOf(ctx) != "us-east-1" {
			t.Fatalf("Take: Region %q, %v; want us-east-1", stsbudget.RegionOf(ctx), err)
		}
		rep := Checker(r, Options{Log: slog.New(slog.DiscardHandler)}).Check(ctx, probe.Request{TenantID: "acme", AccountID: "111122223333",
			RoleARN: "arn:aws:iam::111122223333:role/R", ExternalID: "rc-EXAMPLEEXAMPLEEXAMPLEEXAMPLE2345", ExternalIDVersion: 1, Version: 1})
		if !stsbudget.Throttled(rep) {
			t.Fatalf("report %+v does not show the throttling", rep)
		}
		budget.Throttled(ctx) // what the verify worker does with such a report
		if got := budget.Rate("eu-south-1"); got > full*3/4 {
			t.Errorf("eu-south-1, which throttled the calls, still paced at %.1f calls a second (of %.1f)", got, full)
		}
		if got := budget.Rate("us-east-1"); got != full {
			t.Errorf("us-east-1, which throttled nothing, slowed down to %.1f calls a second (of %.1f)", got, full)
		}
	})
}

// TestRegionalWarnsWithoutALogger: a Regional made without a logger warns
// of a Region the partner account refuses through slog's default.
func TestRegionalWarnsWithoutALogger(t *testing.T) {
	var logged syncbuf.Buffer
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&logged, nil)))
	defer slog.SetDefault(prev)
	var calls []string
	r := &Regional{names: []string{"us-east-1", "eu-west-1"}, clients: map[string]probe.Assumer{
		"us-east-1": regionFake{name: "us-east-1", calls: &calls},
		"eu-west-1": regionFake{name: "eu-west-1", refused: true, calls: &calls},
	}}
	ctx := stsbudget.WithRegion(context.Background(), "eu-west-1")
	if _, err := r.AssumeRole(ctx, probe.AssumeRequest{RoleARN: "arn:aws:iam::111122223333:role/R"}); err != nil {
		t.Fatalf("the next Region did not answer: %v", err)
	}
	if !strings.Contains(logged.String(), "region=eu-west-1") {
		t.Fatalf("no warning through the default logger: %q", logged.String())
	}
}

// TestRegionalSendsNoCallItCannotPayFor: a call beyond the ones the check
// paid for (Take's) is paid where it goes just before it is sent; when the
// Region cannot admit it before the check's deadline, nothing is sent and
// the call fails as transient, naming the Region, not as the customer's
// role.
func TestRegionalSendsNoCallItCannotPayFor(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		names := []string{"us-east-1", "eu-west-1"}
		var calls []string
		r := &Regional{names: names, clients: map[string]probe.Assumer{}}
		for _, n := range names {
			r.clients[n] = regionFake{name: n, calls: &calls}
		}
		// Three calls a second: the check's three book us-east-1's next
		// second, past its deadline less the margin.
		budget, err := stsbudget.NewRegions(names, 3, stsbudget.CallsPerCheck, stsbudget.RealClock{})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), stsbudget.DeadlineMargin+time.Second/2)
		defer cancel()
		if ctx, err = budget.Take(ctx, stsbudget.CallsPerCheck); err != nil || stsbudget.RegionOf(ctx) != "us-east-1" {
			t.Fatalf("Take: Region %q, %v; want us-east-1", stsbudget.RegionOf(ctx), err)
		}
		in := probe.AssumeRequest{RoleARN: "arn:aws:iam::111122223333:role/R"}
		for i := range stsbudget.CallsPerCheck {
			if _, err := r.AssumeRole(ctx, in); err != nil {
				t.Fatalf("call %d of the ones paid for: %v", i+1, err)
			}
		}
		_, err = r.AssumeRole(ctx, in)
		if !errors.Is(err, probe.ErrTransient) || !errors.Is(err, stsbudget.ErrNoTime) || !strings.Contains(err.Error(), "us-east-1") {
			t.Fatalf("a call beyond them: %v; want ErrTransient for no budget in us-east-1", err)
		}
		if want := slices.Repeat([]string{"us-east-1"}, stsbudget.CallsPerCheck); !slices.Equal(calls, want) {
			t.Fatalf("called %v, want %v: the unpaid call was sent", calls, want)
		}
	})
}
