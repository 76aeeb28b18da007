package verify

import (
	"context"

	"github.com/aws/aws-lambda-go/events"
)

// ByQueue runs each SQS batch on the worker of the queue its messages came
// from. The verify function consumes two queues: routine re-checks from the
// sweep, and priority checks (new submissions, operators' re-checks), each
// through its own event source mapping; the workers differ in their STS
// budget share and in the queue their redeliveries are delayed on.
type ByQueue struct {
	// Workers by queue ARN (the records' eventSourceARN).
	Workers map[string]*Worker
	// Default takes the messages of any other queue.
	Default *Worker
}

// Handle is the verify Lambda over both queues.
func (b ByQueue) Handle(ctx context.Context, in events.SQSEvent) (events.SQSEventResponse, error) {
	var order []string
	groups := map[string][]events.SQSMessage{}
	for _, m := range in.Records {
		if _, ok := groups[m.EventSourceARN]; !ok {
			order = append(order, m.EventSourceARN)
		}
		groups[m.EventSourceARN] = append(groups[m.EventSourceARN], m)
	}
	resp := events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{}}
	for _, arn := range order {
		w := b.Workers[arn]
		if w == nil {
			w = b.Default
		}
		r, err := w.Handle(ctx, events.SQSEvent{Records: groups[arn]})
		if err != nil {
			return r, err
		}
		resp.BatchItemFailures = append(resp.BatchItemFailures, r.BatchItemFailures...)
	}
	return resp, nil
}
