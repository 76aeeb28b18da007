package publish

import (
	"cmp"
	"context"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/deadline"
	"github.com/rolecall/rolecall/internal/store"
)

// Handler is the publish Lambda: it consumes a batch of DynamoDB stream
// records (outbox INSERTs, thanks to the event source mapping's filter) and
// answers with the records to retry (ReportBatchItemFailures).
type Handler struct {
	Publisher *Publisher
	// Decode turns a stream NewImage into its event; default
	// store.EventFromStreamImage.
	Decode func(map[string]events.DynamoDBAttributeValue) (connection.Event, error)
	Log    *slog.Logger
}

func (h *Handler) log() *slog.Logger {
	return cmp.Or(h.Log, slog.Default())
}

// answerMargin is how long before the invocation's deadline publishing is
// cut short: the time kept to answer, since Lambda discards the answer of
// an invocation stopped at its timeout and retries the whole batch, events
// already put included.
const answerMargin = 2 * time.Second

// Handle publishes the batch's outbox events. A record that is not an
// outbox insert is skipped (the filter keeps them out; this is a second
// guard). A record that looks like an outbox event but cannot be decoded or
// published is reported as a batch item failure, so Lambda retries it and
// finally sends it to the stream's on-failure destination; nothing is
// dropped silently. Lambda checkpoints at the lowest failed sequence number,
// so later records may be published twice: consumers deduplicate on eventId.
// Publishing ends answerMargin before ctx's deadline (an event bus that
// stops answering); the records not yet put are then batch item failures.
func (h *Handler) Handle(ctx context.Context, in events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
	decode := h.Decode
	if decode == nil {
		decode = store.EventFromStreamImage
	}
	resp := events.DynamoDBEventResponse{BatchItemFailures: []events.DynamoDBBatchItemFailure{}}
	fail := func(r events.DynamoDBEventRecord) {
		resp.BatchItemFailures = append(resp.BatchItemFailures, events.DynamoDBBatchItemFailure{ItemIdentifier: r.Change.SequenceNumber})
	}
	var evs []connection.Event
	var recs []events.DynamoDBEventRecord
	skipped := 0
	for _, r := range in.Records {
		if r.EventName != string(events.DynamoDBOperationTypeInsert) || !isOutboxImage(r.Change.NewImage) {
			skipped++
			continue
		}
		ev, err := decode(r.Change.NewImage)
		if err != nil {
			h.log().Error("undecodable outbox record", "sequenceNumber", r.Change.SequenceNumber, "eventID", r.EventID, "error", err)
			fail(r)
			continue
		}
		evs = append(evs, ev)
		recs = append(recs, r)
	}
	pctx, cancel := deadline.Reserve(ctx, answerMargin)
	failed, err := h.Publisher.Publish(pctx, evs)
	cancel()
	for _, i := range failed {
		fail(recs[i])
	}
	if err != nil {
		h.log().Error("events not published", "failed", len(failed), "error", err)
	}
	h.log().Info("published outbox events", "records", len(in.Records), "published", len(evs)-len(failed),
		"failed", len(resp.BatchItemFailures), "skipped", skipped)
	return resp, nil
}

// isOutboxImage reports whether a stream image is an outbox event item.
func isOutboxImage(img map[string]events.DynamoDBAttributeValue) bool {
	kind, ok := img[store.AttrKind]
	return ok && kind.DataType() == events.DataTypeString && kind.String() == store.KindEvent
}
