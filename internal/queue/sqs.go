package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/rolecall/rolecall/internal/backoff"
	"github.com/rolecall/rolecall/internal/probe"
)

// SQSAPI is the part of *sqs.Client the adapter uses.
type SQSAPI interface {
	SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error)
	ChangeMessageVisibility(ctx context.Context, in *sqs.ChangeMessageVisibilityInput, optFns ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error)
	ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, optFns ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	DeleteMessage(ctx context.Context, in *sqs.DeleteMessageInput, optFns ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error)
	GetQueueAttributes(ctx context.Context, in *sqs.GetQueueAttributesInput, optFns ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error)
}

// SQS is the AWS adapter of the Queue port.
type SQS struct {
	Client   SQSAPI
	QueueURL string
	// Attempts per refused entry (default 3) with doubling Backoff from
	// 50ms. A call that fails as a whole is retried by the SDK's retryer.
	Attempts int
	Backoff  time.Duration
}

var _ Queue = (*SQS)(nil)

// SQS's limits of one receive.
const (
	// MaxVisibility is the longest visibility timeout SQS accepts.
	MaxVisibility = 12 * time.Hour
	// MaxReceive is the most messages one ReceiveMessage returns.
	MaxReceive = 10
	// MaxWait is the longest long poll of one ReceiveMessage.
	MaxWait = 20 * time.Second
)

// Backlog is what a queue holds that is not done yet.
type Backlog struct {
	// Visible messages wait to be received (ApproximateNumberOfMessages).
	Visible int
	// NotVisible messages were received: their checks run, or their
	// redelivery is delayed (ApproximateNumberOfMessagesNotVisible).
	NotVisible int
}

// Total is every message not done yet.
func (b Backlog) Total() int { return b.Visible + b.NotVisible }

// Waiting returns the messages not yet done, from SQS's approximate
// counts.
func (q *SQS) Waiting(ctx context.Context) (Backlog, error) {
	names := []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages, sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible}
	out, err := q.Client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(q.QueueURL), AttributeNames: names})
	if err != nil {
		return Backlog{}, fmt.Errorf("sqs get queue attributes: %w", err)
	}
	counts := make([]int, len(names))
	for i, name := range names {
		n, err := strconv.Atoi(out.Attributes[string(name)])
		if err != nil {
			return Backlog{}, fmt.Errorf("sqs %s %q: %w", name, out.Attributes[string(name)], err)
		}
		counts[i] = n
	}
	return Backlog{Visible: counts[0], NotVisible: counts[1]}, nil
}

// Send implements Queue with SendMessageBatch, 10 jobs per call.
func (q *SQS) Send(ctx context.Context, jobs []probe.Job) error {
	return sendBatches(ctx, jobs, backoff.Retries{Attempts: q.Attempts, Base: q.Backoff}, q.sendBatch)
}

func (q *SQS) sendBatch(ctx context.Context, batch []probe.Job) ([]EntryFailure, error) {
	in := &sqs.SendMessageBatchInput{QueueUrl: aws.String(q.QueueURL)}
	for i, j := range batch {
		body, err := json.Marshal(j)
		if err != nil {
			return nil, fmt.Errorf("encode job %s/%s: %w", j.Connection.TenantID, j.Connection.AccountID, err)
		}
		in.Entries = append(in.Entries, sqstypes.SendMessageBatchRequestEntry{
			Id:          aws.String(strconv.Itoa(i)),
			MessageBody: aws.String(string(body)),
		})
	}
	out, err := q.Client.SendMessageBatch(ctx, in)
	if err != nil {
		return nil, err
	}
	ok := make(map[int]bool, len(out.Successful))
	for _, s := range out.Successful {
		if i, err := strconv.Atoi(aws.ToString(s.Id)); err == nil {
			ok[i] = true
		}
	}
	var fs []EntryFailure
	reported := map[int]bool{}
	for _, f := range out.Failed {
		i, err := strconv.Atoi(aws.ToString(f.Id))
		if err != nil || i < 0 || i >= len(batch) {
			continue
		}
		reported[i] = true
		fs = append(fs, EntryFailure{Index: i, Code: aws.ToString(f.Code), Message: aws.ToString(f.Message), SenderFault: f.SenderFault})
	}
	// An entry the response names neither way is not assumed sent.
	for i := range batch {
		if !ok[i] && !reported[i] {
			fs = append(fs, EntryFailure{Index: i, Code: "MissingResult", Message: "the response names neither success nor failure"})
		}
	}
	return fs, nil
}

// ChangeVisibility makes a received message visible again after d (rounded
// up to whole seconds, at most MaxVisibility), so the worker can back off
// without sleeping.
func (q *SQS) ChangeVisibility(ctx context.Context, receiptHandle string, d time.Duration) error {
	_, err := q.Client.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
		QueueUrl:          aws.String(q.QueueURL),
		ReceiptHandle:     aws.String(receiptHandle),
		VisibilityTimeout: visibilitySeconds(d),
	})
	if err != nil {
		return fmt.Errorf("change message visibility to %s: %w", d, receiptError(err))
	}
	return nil
}

// Receive returns up to n messages (at most MaxReceive), waiting up to
// wait (rounded up to whole seconds, at most MaxWait) for one to arrive:
// ReceiveMessage with long polling and each message's receive count. Every
// body is handed on in Message.Body; Message.Job is set when the body is a
// probe.Job (a "Role Submitted" event delivered by the bus rule is not).
func (q *SQS) Receive(ctx context.Context, n int, wait time.Duration) ([]Message, error) {
	out, err := q.Client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl:                    aws.String(q.QueueURL),
		MaxNumberOfMessages:         int32(min(max(n, 1), MaxReceive)),
		WaitTimeSeconds:             int32(math.Ceil(min(max(wait, 0), MaxWait).Seconds())),
		MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameApproximateReceiveCount},
	})
	if err != nil {
		return nil, fmt.Errorf("receive messages: %w", err)
	}
	msgs := make([]Message, 0, len(out.Messages))
	for _, m := range out.Messages {
		msg := Message{ID: aws.ToString(m.MessageId), ReceiptHandle: aws.ToString(m.ReceiptHandle), Body: aws.ToString(m.Body), ReceiveCount: 1}
		if c, err := strconv.Atoi(m.Attributes[string(sqstypes.MessageSystemAttributeNameApproximateReceiveCount)]); err == nil && c > 0 {
			msg.ReceiveCount = c
		}
		var j probe.Job
		if err := json.Unmarshal([]byte(msg.Body), &j); err == nil {
			msg.Job = j
		}
		msgs = append(msgs, msg)
	}
	return msgs, nil
}

// Delete removes a received message. A receipt handle SQS refuses is
// ErrReceiptHandle.
func (q *SQS) Delete(ctx context.Context, receiptHandle string) error {
	_, err := q.Client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(q.QueueURL), ReceiptHandle: aws.String(receiptHandle)})
	if err != nil {
		return fmt.Errorf("delete message: %w", receiptError(err))
	}
	return nil
}

// receiptError adds ErrReceiptHandle to SQS's refusal of a receipt handle.
func receiptError(err error) error {
	var ae smithy.APIError
	if errors.As(err, &ae) && (ae.ErrorCode() == "ReceiptHandleIsInvalid" || ae.ErrorCode() == "MessageNotInflight") {
		return fmt.Errorf("%w: %w", ErrReceiptHandle, err)
	}
	return err
}

func visibilitySeconds(d time.Duration) int32 {
	d = min(max(d, 0), MaxVisibility)
	return int32(math.Ceil(d.Seconds()))
}
