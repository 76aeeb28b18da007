package verify_test

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/probe"
	"github.com/rolecall/rolecall/internal/store"
	"github.com/rolecall/rolecall/internal/stsbudget"
	"github.com/rolecall/rolecall/internal/stsclient"
)

type throttleFirstSTS struct {
	mu    sync.Mutex
	seen  map[string]bool
	calls int
}

func (s *throttleFirstSTS) AssumeRole(ctx context.Context, in probe.AssumeRequest) (probe.Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if !s.seen[in.ExternalID] {
		s.seen[in.ExternalID] = true
		return probe.Session{}, &probe.STSError{Kind: probe.ErrTransient, Code: "Throttling", Err: errors.New("Rate exceeded")}
	}
	if in.ExternalID != externalID {
		return probe.Session{}, &probe.STSError{Kind: probe.ErrDenied, Code: "AccessDenied", Err: errors.New("denied")}
	}
	return probe.Session{AssumedRoleARN: "arn:aws:sts::111122223333:assumed-role/RoleCall/s", AccountID: "111122223333"}, nil
}

// TestThrottlingRetriedToSuccessSlowsTheBudget: a probe that STS throttled
// and that succeeded on its retry still slows the budget down.
func TestThrottlingRetriedToSuccessSlowsTheBudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := store.NewMemory()
		c := seed(t, st, "111122223333", connection.Verified)
		sts := &throttleFirstSTS{seen: map[string]bool{}}
		budget, err := stsbudget.NewRegions(nil, 30, stsbudget.CallsPerCheck, stsbudget.RealClock{})
		if err != nil {
			t.Fatal(err)
		}
		w := newWorker(st, stsclient.Checker(sts, stsclient.Options{Log: slog.New(slog.DiscardHandler)}), nil)
		w.Budget = budget
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := w.Process(ctx, job(c, probe.WhyScheduled), 1); err != nil {
			t.Fatal(err)
		}
		if budget.Throttles() == 0 {
			t.Fatalf("STS throttled all %d probes of the check (%d calls for %d tokens); the budget was never slowed down", 3, sts.calls, stsbudget.CallsPerCheck)
		}
	})
}
