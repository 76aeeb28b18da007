package verify_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/probe"
	"github.com/rolecall/rolecall/internal/store"
	"github.com/rolecall/rolecall/internal/stsbudget"
	"github.com/rolecall/rolecall/internal/stsclient"
)

type unavailableSTS struct {
	mu    sync.Mutex
	calls []time.Time
}

func (s *unavailableSTS) AssumeRole(ctx context.Context, in probe.AssumeRequest) (probe.Session, error) {
	s.mu.Lock()
	s.calls = append(s.calls, time.Now())
	s.mu.Unlock()
	return probe.Session{}, &probe.STSError{Kind: probe.ErrTransient, Code: "HTTP503", Err: fmt.Errorf("service unavailable")}
}

func peakPerSecond(ts []time.Time) int {
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

// TestCheckerRetriesStayInsideTheBudget: during an STS outage every probe
// is retried; each retry pays a token of the budget before it is made, so
// an instance never makes more calls in a one-second window than its
// share, retries included.
func TestCheckerRetriesStayInsideTheBudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const limit = 30.0 // one instance's share, STS calls a second
		st := store.NewMemory()
		var recs []events.SQSMessage
		for i := range 60 {
			c := seed(t, st, fmt.Sprintf("1000000000%02d", i), connection.Verified)
			b, _ := json.Marshal(job(c, probe.WhyScheduled))
			recs = append(recs, events.SQSMessage{MessageId: fmt.Sprint(i), Body: string(b)})
		}
		sts := &unavailableSTS{}
		budget, err := stsbudget.NewRegions(nil, limit, stsbudget.CallsPerCheck, stsbudget.RealClock{})
		if err != nil {
			t.Fatal(err)
		}
		w := newWorker(st, stsclient.Checker(sts, stsclient.Options{Log: slog.New(slog.DiscardHandler)}), nil)
		w.Budget, w.Concurrency = budget, stsbudget.InFlight
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := w.Handle(ctx, events.SQSEvent{Records: recs}); err != nil {
			t.Fatal(err)
		}
		if peak := peakPerSecond(sts.calls); float64(peak) > limit {
			t.Fatalf("%d STS calls in one second from an instance whose limit is %.0f (%d calls for %d checks)", peak, limit, len(sts.calls), len(recs))
		}
	})
}
