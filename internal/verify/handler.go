package verify

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// Handle is the verify Lambda: it processes a batch of SQS messages with
// at most Concurrency checks at once and reports the messages to deliver
// again (ReportBatchItemFailures). A message to retry after a backoff is
// made visible again after it; a dropped message counts as done.
func (w *Worker) Handle(ctx context.Context, in events.SQSEvent) (events.SQSEventResponse, error) {
	n := w.Concurrency
	if n <= 0 {
		n = DefaultConcurrency
	}
	retry := make([]bool, len(in.Records))
	var (
		wg     sync.WaitGroup
		sem    = make(chan struct{}, n)
		mu     sync.Mutex
		counts = map[string]int{}
	)
	for i, m := range in.Records {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			outcome := w.handleMessage(ctx, m)
			mu.Lock()
			counts[outcome]++
			mu.Unlock()
			retry[i] = outcome != "done" && outcome != "dropped"
		}()
	}
	wg.Wait()
	resp := events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{}}
	for i, r := range retry {
		if r {
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: in.Records[i].MessageId})
		}
	}
	w.log().Info("verify batch", "messages", len(in.Records), "done", counts["done"], "dropped", counts["dropped"],
		"backoff", counts["backoff"], "transient", counts["transient"], "failed", counts["failed"])
	return resp, nil
}

// handleMessage processes one message and says what became of it: done,
// dropped, backoff, transient or failed.
func (w *Worker) handleMessage(ctx context.Context, m events.SQSMessage) string {
	count, err := strconv.Atoi(m.Attributes["ApproximateReceiveCount"])
	if err != nil || count < 1 {
		count = 1
	}
	log := w.log().With("messageId", m.MessageId, "receiveCount", count)
	job, fresh, err := w.jobFromMessage(ctx, []byte(m.Body))
	if err == nil {
		var d time.Duration
		d, err = w.process(ctx, job, count, fresh)
		if d > 0 {
			w.delay(ctx, m, d)
			if errors.Is(err, ErrTransient) {
				log.Warn("check failed transiently; retrying", "tenantId", job.Connection.TenantID, "accountId", job.Connection.AccountID, "after", d.String(), "error", err)
				return "transient"
			}
			log.Info("role not assumable yet; retrying inside the propagation window", "tenantId", job.Connection.TenantID, "accountId", job.Connection.AccountID, "after", d.String())
			return "backoff"
		}
	}
	switch {
	case err == nil:
		return "done"
	case errors.Is(err, ErrSkip):
		log.Info("message dropped", "reason", err.Error())
		return "dropped"
	default:
		log.Error("message failed", "error", err)
		return "failed"
	}
}

func (w *Worker) delay(ctx context.Context, m events.SQSMessage, d time.Duration) {
	if w.Visibility == nil || m.ReceiptHandle == "" {
		return
	}
	if err := w.Visibility.ChangeVisibility(ctx, m.ReceiptHandle, d); err != nil {
		// The message still comes back, after the queue's visibility
		// timeout.
		w.log().Warn("could not delay redelivery", "messageId", m.MessageId, "after", d.String(), "error", err)
	}
}
