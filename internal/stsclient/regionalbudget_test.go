package stsclient

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rolecall/rolecall/internal/probe"
	"github.com/rolecall/rolecall/internal/stsbudget"
)

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
	case in.ExternalID != "rc-EXAMPLEEXAMPLEEXAMPLEEXAMPLEEXAMP":
		return probe.Session{}, &probe.STSError{Kind: probe.ErrDenied, Code: "AccessDenied", Err: errors.New("denied")}
	}
	return probe.Session{AssumedRoleARN: "arn:aws:sts::111122223333:assumed-role/R/s", AccountID: "111122223333"}, nil
}

func peak(ts []time.Time) int {
	slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
	best, j := 0, 0
	for i := range ts {
		for j < len(ts) && ts[j].Before(ts[i].Add(time.Second)) {
			j++
		}
		best = max(best, j-i)
	}
	return best
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
						ExternalID: "rc-EXAMPLEEXAMPLEEXAMPLEEXAMPLEEXAMP", ExternalIDVersion: 1, Version: 1})
				}
			})
		}
		wg.Wait()
		for _, n := range names {
			if p := peak(calls[n]); float64(p) > limit {
				t.Errorf("%s: %d STS calls in one second, limit %.0f (%d calls in all)", n, p, limit, len(calls[n]))
			}
		}
	})
}
