package queue_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/rolecall/rolecall/internal/probe"
	"github.com/rolecall/rolecall/internal/queue"
	"github.com/rolecall/rolecall/internal/queue/queuetest"
	"github.com/rolecall/rolecall/internal/testkit/awsfake"
)

const queueURL = "https://sqs.us-east-1.amazonaws.com/123456789012/rolecall-verify"

func fakeSQS(t *testing.T, sdkAttempts int) (*queue.SQS, *awsfake.SQS) {
	t.Helper()
	fake := awsfake.NewSQS()
	client := sqs.NewFromConfig(awsfake.Serve(t, fake, sdkAttempts))
	return &queue.SQS{Client: client, QueueURL: queueURL, Attempts: 3, Backoff: time.Millisecond}, fake
}

func decodeJobs(t *testing.T, msgs []awsfake.SQSMessage) []probe.Job {
	t.Helper()
	var out []probe.Job
	for _, m := range msgs {
		if m.QueueURL != queueURL {
			t.Errorf("message sent to %q", m.QueueURL)
		}
		var j probe.Job
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
		return queuetest.Harness{Queue: q, Consumer: q, Sent: func() []probe.Job { return decodeJobs(t, fake.Messages()) }, RejectNext: fake.RejectEntries, Polling: fake.Polling()}
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
		if msg := err.Error(); !strings.HasPrefix(msg, "10 job(s) not enqueued: ") || !strings.Contains(msg, "ServiceUnavailable") {
			t.Errorf("Send error says %q, want the count and the reason", msg)
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
		if err := q.Send(ctx, queuetest.Jobs(1)); err != nil {
			t.Fatal(err)
		}
		msgs, err := q.Receive(ctx, 1, 0)
		if err != nil || len(msgs) != 1 {
			t.Fatalf("Receive = %v, %v", msgs, err)
		}
		rh := msgs[0].ReceiptHandle
		for _, d := range []time.Duration{1500 * time.Millisecond, 13 * time.Hour, 0} {
			if err := q.ChangeVisibility(ctx, rh, d); err != nil {
				t.Fatal(err)
			}
		}
		got := fake.VisibilityChanges()
		if len(got) != 3 || got[0].VisibilityTimeout != 2 || got[1].VisibilityTimeout != 43200 || got[2].VisibilityTimeout != 0 ||
			got[0].ReceiptHandle != rh || got[0].QueueURL != queueURL {
			t.Errorf("visibility changes = %+v", got)
		}
	})
	t.Run("ChangeVisibility and Delete report the API error", func(t *testing.T) {
		q, _ := fakeSQS(t, 1)
		for name, call := range map[string]func() error{
			"ChangeVisibility": func() error { return q.ChangeVisibility(ctx, "invalid", time.Second) },
			"Delete":           func() error { return q.Delete(ctx, "invalid") },
		} {
			err := call()
			var ae smithy.APIError
			if !errors.As(err, &ae) || ae.ErrorCode() != "ReceiptHandleIsInvalid" || !errors.Is(err, queue.ErrReceiptHandle) {
				t.Errorf("%s error = %v, want ReceiptHandleIsInvalid and ErrReceiptHandle", name, err)
			}
		}
	})
	t.Run("Receive asks for the receive count, clamps max and wait, and hands on a body that is not a job", func(t *testing.T) {
		q, fake := fakeSQS(t, 1)
		event := `{"version":"0","id":"e-1","detail-type":"Role Submitted","source":"rolecall","detail":{"tenantId":"acme"}}`
		_, err := q.Client.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(queueURL),
			Entries: []sqstypes.SendMessageBatchRequestEntry{{Id: aws.String("0"), MessageBody: aws.String(event)}}})
		if err != nil {
			t.Fatal(err)
		}
		got, err := q.Receive(ctx, 50, 90*time.Second)
		if err != nil || len(got) != 1 {
			t.Fatalf("Receive = %+v, %v", got, err)
		}
		if m := got[0]; m.Body != event || m.ReceiveCount != 1 || m.Job.Connection.TenantID != "" || m.ID != fake.Messages()[0].MessageID {
			t.Errorf("received %+v, want the event's body as sent, receive count 1 and no job", m)
		}
		if err := q.Delete(ctx, got[0].ReceiptHandle); err != nil || fake.Pending() != 0 || len(fake.Deleted()) != 1 {
			t.Errorf("Delete = %v; %d pending, deleted %v", err, fake.Pending(), fake.Deleted())
		}
	})
	t.Run("a failed receive is an error", func(t *testing.T) {
		q, fake := fakeSQS(t, 1)
		fake.FailCalls("ReceiveMessage", awsfake.Fault{Status: 403, Code: "AccessDenied"})
		var ae smithy.APIError
		if _, err := q.Receive(ctx, 1, 0); !errors.As(err, &ae) || ae.ErrorCode() != "AccessDenied" {
			t.Errorf("Receive error = %v, want AccessDenied", err)
		}
	})
}
