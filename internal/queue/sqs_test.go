package queue_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go"

	"github.com/rolecall/rolecall/internal/awsfake"
	"github.com/rolecall/rolecall/internal/check"
	"github.com/rolecall/rolecall/internal/queue"
	"github.com/rolecall/rolecall/internal/queue/queuetest"
)

const queueURL = "https://sqs.us-east-1.amazonaws.com/123456789012/rolecall-verify"

func fakeSQS(t *testing.T, sdkAttempts int) (*queue.SQS, *awsfake.SQS) {
	t.Helper()
	fake := awsfake.NewSQS()
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	client := sqs.NewFromConfig(awsfake.ClientConfig(srv.URL, sdkAttempts))
	return &queue.SQS{Client: client, QueueURL: queueURL, Attempts: 3, Backoff: time.Millisecond}, fake
}

func decodeJobs(t *testing.T, msgs []awsfake.SQSMessage) []check.Job {
	t.Helper()
	var out []check.Job
	for _, m := range msgs {
		if m.QueueURL != queueURL {
			t.Errorf("message sent to %q", m.QueueURL)
		}
		var j check.Job
		if err := json.Unmarshal([]byte(m.Body), &j); err != nil {
			t.Fatalf("message body %q: %v", m.Body, err)
		}
		out = append(out, j)
	}
	return out
}

func TestSQSContract(t *testing.T) {
	queuetest.Run(t, func(t *testing.T) queuetest.Harness {
		q, fake := fakeSQS(t, 3)
		return queuetest.Harness{Queue: q, Sent: func() []check.Job { return decodeJobs(t, fake.Messages()) }, RejectNext: fake.RejectEntries}
	})
}

func TestSQSWire(t *testing.T) {
	ctx := context.Background()
	t.Run("10 per call", func(t *testing.T) {
		q, fake := fakeSQS(t, 1)
		if err := q.Send(ctx, queuetest.Jobs(25)); err != nil {
			t.Fatal(err)
		}
		if c := fake.Calls("SendMessageBatch"); c != 3 {
			t.Errorf("%d SendMessageBatch calls for 25 jobs, want 3", c)
		}
	})
	t.Run("5xx is retried by the SDK", func(t *testing.T) {
		q, fake := fakeSQS(t, 3)
		fake.FailCalls("SendMessageBatch", awsfake.Fault{Status: 500, Code: "InternalError"})
		if err := q.Send(ctx, queuetest.Jobs(3)); err != nil {
			t.Fatal(err)
		}
		if c, n := fake.Calls("SendMessageBatch"), len(fake.Messages()); c != 2 || n != 3 {
			t.Errorf("%d calls, %d messages; want 2 calls, 3 messages", c, n)
		}
	})
	t.Run("a batch that fails as a whole fails its jobs only", func(t *testing.T) {
		q, fake := fakeSQS(t, 2)
		fake.FailCalls("SendMessageBatch", awsfake.Fault{Status: 503, Code: "ServiceUnavailable"}, awsfake.Fault{Status: 503, Code: "ServiceUnavailable"})
		err := q.Send(ctx, queuetest.Jobs(12))
		var se *queue.SendError
		var ae smithy.APIError
		if !errors.As(err, &se) || len(se.Failed) != 10 || se.Failed[9] != 9 || !errors.As(err, &ae) || ae.ErrorCode() != "ServiceUnavailable" {
			t.Fatalf("Send error = %v, want the first batch failed with ServiceUnavailable", err)
		}
		if n := len(fake.Messages()); n != 2 {
			t.Errorf("%d messages sent, want the second batch's 2", n)
		}
	})
	t.Run("a response whose MD5 does not match fails the batch", func(t *testing.T) {
		q, fake := fakeSQS(t, 1)
		fake.BadMD5 = true
		err := q.Send(ctx, queuetest.Jobs(2))
		var se *queue.SendError
		if !errors.As(err, &se) || !slices.Equal(se.Failed, []int{0, 1}) {
			t.Fatalf("Send error = %v, want both jobs failed", err)
		}
	})
	t.Run("ChangeVisibility rounds up to seconds", func(t *testing.T) {
		q, fake := fakeSQS(t, 1)
		for _, d := range []time.Duration{1500 * time.Millisecond, 0, 13 * time.Hour} {
			if err := q.ChangeVisibility(ctx, "rh-1", d); err != nil {
				t.Fatal(err)
			}
		}
		got := fake.VisibilityChanges()
		if len(got) != 3 || got[0].VisibilityTimeout != 2 || got[1].VisibilityTimeout != 0 || got[2].VisibilityTimeout != 43200 ||
			got[0].ReceiptHandle != "rh-1" || got[0].QueueURL != queueURL {
			t.Errorf("visibility changes = %+v", got)
		}
	})
	t.Run("ChangeVisibility reports the API error", func(t *testing.T) {
		q, _ := fakeSQS(t, 1)
		err := q.ChangeVisibility(ctx, "invalid", time.Second)
		var ae smithy.APIError
		if !errors.As(err, &ae) || ae.ErrorCode() != "ReceiptHandleIsInvalid" {
			t.Fatalf("ChangeVisibility error = %v, want ReceiptHandleIsInvalid", err)
		}
	})
}
