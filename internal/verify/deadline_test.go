package verify_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
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

// slowSTS answers after 5 s (or when ctx ends) from slowFrom on.
type slowSTS struct{ slowFrom time.Time }

func (s slowSTS) AssumeRole(ctx context.Context, in probe.AssumeRequest) (probe.Session, error) {
	if !time.Now().Before(s.slowFrom) {
		select {
		case <-ctx.Done():
			return probe.Session{}, ctx.Err()
		case <-time.After(5 * time.Second):
		}
	}
	if in.ExternalID != externalID {
		return probe.Session{}, &probe.STSError{Kind: probe.ErrDenied, Code: "AccessDenied", Err: errors.New("denied")}
	}
	return probe.Session{AssumedRoleARN: "arn:aws:sts::" + in.RoleARN[13:25] + ":assumed-role/RoleCall/s", AccountID: in.RoleARN[13:25]}, nil
}

// TestHandleReturnsBeforeTheInvocationDeadline: checks admitted shortly
// before the invocation's deadline, whose STS calls then hang, are cut
// short in time for Handle to write their outcomes and answer the batch
// before Lambda stops the invocation (which loses the whole batch).
func TestHandleReturnsBeforeTheInvocationDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := store.NewMemory()
		var recs []events.SQSMessage
		for i := range 300 {
			c := seed(t, st, fmt.Sprintf("100000000%03d", i), connection.Verified)
			b, _ := json.Marshal(job(c, probe.WhyScheduled))
			recs = append(recs, events.SQSMessage{MessageId: fmt.Sprint(i), Body: string(b)})
		}
		start := time.Now()
		deadline := start.Add(30 * time.Second)
		budget, err := stsbudget.NewRegions(nil, 30, stsbudget.CallsPerCheck, stsbudget.RealClock{})
		if err != nil {
			t.Fatal(err)
		}
		w := newWorker(st, stsclient.Checker(slowSTS{slowFrom: deadline.Add(-3 * time.Second)}, stsclient.Options{Log: slog.New(slog.DiscardHandler)}), nil)
		w.Budget, w.Concurrency = budget, stsbudget.InFlight
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		defer cancel()
		resp, err := w.Handle(ctx, events.SQSEvent{Records: recs})
		if err != nil {
			t.Fatal(err)
		}
		if end := time.Now(); !end.Before(deadline) {
			t.Fatalf("Handle returned %s after the invocation's deadline (%d failures reported): Lambda has already timed out the batch", end.Sub(deadline), len(resp.BatchItemFailures))
		}
	})
}
