package emulator

import (
	"context"
	"errors"

	"github.com/aws/aws-lambda-go/events"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/store"
)

// errPublisherCrashed is what a publish handler crashed by
// crashingPublisher returns.
var errPublisherCrashed = errors.New("publisher crashed mid-batch (injected)")

// crashingPublisher is a publish handler that may crash mid-batch. crash
// is asked each time a change feed hands it a batch with n outbox events;
// when it answers crash, the handler publishes the first k events of the
// batch and returns without acknowledging any of them, and the feed
// delivers the whole batch again, as Lambda retries a failed invocation.
type crashingPublisher struct {
	next  PublishHandler
	crash func(n int) (k int, crash bool)
}

var _ PublishHandler = crashingPublisher{}

// Publish is the embedded outbox feed's delivery.
func (c crashingPublisher) Publish(ctx context.Context, evs []connection.Event) ([]int, error) {
	k, crash := c.crash(len(evs))
	if !crash {
		return c.next.Publish(ctx, evs)
	}
	k = min(max(k, 0), len(evs))
	_, _ = c.next.Publish(ctx, evs[:k])
	all := make([]int, len(evs))
	for i := range all {
		all[i] = i
	}
	return all, errPublisherCrashed
}

// Handle is the DynamoDB stream feed's delivery: it counts the batch's
// outbox events (the stream also carries the connection and claim items,
// which the handler skips), and on a crash hands the handler the records
// up to the k-th of them.
func (c crashingPublisher) Handle(ctx context.Context, in events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
	var evs []int
	for i, r := range in.Records {
		kind, ok := r.Change.NewImage[store.AttrKind]
		if r.EventName == string(events.DynamoDBOperationTypeInsert) && ok &&
			kind.DataType() == events.DataTypeString && kind.String() == store.KindEvent {
			evs = append(evs, i)
		}
	}
	k, crash := c.crash(len(evs))
	if !crash {
		return c.next.Handle(ctx, in)
	}
	cut := 0
	if k = min(max(k, 0), len(evs)); k > 0 {
		cut = evs[k-1] + 1
	}
	_, _ = c.next.Handle(ctx, events.DynamoDBEvent{Records: in.Records[:cut]})
	return events.DynamoDBEventResponse{}, errPublisherCrashed
}
