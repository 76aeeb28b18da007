package sweep_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/probe"
	"github.com/rolecall/rolecall/internal/queue"
	"github.com/rolecall/rolecall/internal/sweep"
	"github.com/rolecall/rolecall/internal/testkit/awsfake"
)

// TestDelayedRedeliveryDoesNotStarveTheOldestDue: a redelivery the worker
// delayed (ChangeVisibility) is counted by SQS as not visible, and its
// connection was made due after it; the sweep does not take it for the
// oldest due connection, which it enqueues.
func TestDelayedRedeliveryDoesNotStarveTheOldestDue(t *testing.T) {
	ctx := context.Background()
	st, tn := acmeStore(t)
	x := storeVerified(t, st, "arn:aws:iam::300000000000:role/R", t0.Add(-48*time.Hour), t0.Add(-47*time.Hour), t0.Add(10*time.Minute))
	storeVerified(t, st, "arn:aws:iam::300000000001:role/R", t0.Add(-48*time.Hour), t0.Add(-47*time.Hour), t0.Add(-time.Minute))
	storeVerified(t, st, "arn:aws:iam::300000000002:role/R", t0.Add(-48*time.Hour), t0.Add(-47*time.Hour), t0)

	fake := awsfake.NewSQS()
	q := &queue.SQS{Client: sqs.NewFromConfig(awsfake.Serve(t, fake, 1)), QueueURL: "https://sqs.us-east-1.amazonaws.com/123456789012/rolecall-verify"}
	if err := q.Send(ctx, probe.JobsFor(x, tn, probe.WhyScheduled, t0)); err != nil {
		t.Fatal(err)
	}
	msgs, err := q.Receive(ctx, 10, 0)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("receive: %v, %v", msgs, err)
	}
	if err := q.ChangeVisibility(ctx, msgs[0].ReceiptHandle, 5*time.Minute); err != nil {
		t.Fatal(err)
	}

	s := &sweep.Sweeper{Store: st, Queue: q, Now: func() time.Time { return t0 }, Log: slog.New(slog.DiscardHandler),
		ChecksPerSecond: 10, Every: time.Minute, Interval: connection.DefaultPolicy().VerifiedInterval}
	res, err := s.Due(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var sent []string
	for _, m := range fake.Messages()[1:] {
		var j probe.Job
		if err := json.Unmarshal([]byte(m.Body), &j); err != nil {
			t.Fatal(err)
		}
		sent = append(sent, j.Connection.AccountID)
	}
	if len(sent) != 2 {
		t.Fatalf("the sweep (waiting %d) enqueued %v; want both due connections, 300000000001 (due longest) and 300000000002", res.Waiting, sent)
	}
}
