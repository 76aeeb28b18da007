package emulator

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/rolecall/rolecall/internal/backoff"
	"github.com/rolecall/rolecall/internal/bus"
	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/store"
)

// outboxFeed is the embedded store's change feed → the publish handler,
// standing in for the DynamoDB stream and its event source mapping.
type outboxFeed struct {
	mem *store.Memory
	pub PublishHandler
	log *slog.Logger
	pos int // the outbox position delivered up to; only run and drain use it
	// left are events a stopped run took from the outbox but had not
	// published yet; drain publishes them first.
	left []connection.Event
}

// outboxBatch is how many events one delivery carries, as a stream batch.
const outboxBatch = 100

// run delivers until ctx is done. A batch whose retries ctx cuts short
// stays in f.left for drain: stopping serve never drops an event.
func (f *outboxFeed) run(ctx context.Context) {
	for ctx.Err() == nil {
		evs, next, err := f.mem.ReadOutbox(ctx, f.pos, outboxBatch)
		if err != nil {
			return // ctx is done
		}
		f.left = f.deliver(ctx, context.WithoutCancel(ctx), evs)
		f.pos = next
	}
}

// drain publishes what a stopped run left and what the outbox holds
// beyond it, each batch at least once and retried while ctx lasts.
func (f *outboxFeed) drain(ctx context.Context) {
	done, cancel := context.WithCancel(ctx)
	cancel() // ReadOutbox returns what is there without waiting
	evs := f.left
	f.left = nil
	for {
		if left := f.deliver(ctx, ctx, evs); len(left) > 0 {
			f.log.Error("events not published", "count", len(left), "error", ctx.Err())
		}
		var err error
		if evs, f.pos, err = f.mem.ReadOutbox(done, f.pos, outboxBatch); err != nil {
			return
		}
	}
}

// deliver publishes evs, retrying the events the bus refused as the stream
// retries a batch's failed items, a bounded number of times, and logs
// those still refused after the last. Each publish runs with pub, cut off
// after invocationTimeout as the publish Lambda would be: run passes a
// context a stop does not cancel (the bus may have taken part of a
// batch), drain its own deadline, so a bus that stops answering holds
// serve's shutdown no longer than one invocation. A publish cut off may
// have put part of the batch on the bus, which is then put again, as
// Lambda retries a batch (consumers deduplicate on the event's eventId).
// The wait before a retry ends with ctx, and the events not yet published
// then are returned.
func (f *outboxFeed) deliver(ctx, pub context.Context, evs []connection.Event) []connection.Event {
	for attempt := 1; len(evs) > 0; attempt++ {
		pctx, cancel := context.WithTimeout(pub, invocationTimeout)
		failed, err := f.pub.Publish(pctx, evs)
		cancel()
		if len(failed) == 0 {
			return nil
		}
		if attempt >= deliveryAttempts {
			f.log.Error("events not published", "count", len(failed), "error", err)
			return nil
		}
		left := make([]connection.Event, 0, len(failed))
		for _, i := range failed {
			left = append(left, evs[i])
		}
		evs = left
		if backoff.Wait(ctx, retryDelay(attempt)) != nil {
			return evs
		}
	}
	return nil
}

// deleteTimeout bounds one delete of a handled verify message.
const deleteTimeout = 20 * time.Second

// invocationTimeout is how long the publish or verify handler may take
// over one batch: the functions' timeout (template.yaml's Globals), after
// which Lambda would end the invocation.
const invocationTimeout = 30 * time.Second

// deliveryAttempts is how often a feed hands a record or event to the
// publish handler before it logs it as not published (Lambda would send
// it to the on-failure destination).
const deliveryAttempts = 5

// retryDelay is the wait after a feed's attempt-th delivery failed:
// 200ms, doubling, as Lambda backs off before retrying a stream batch
// (200ms, 400ms, 800ms and 1.6s over deliveryAttempts).
func retryDelay(attempt int) time.Duration {
	return backoff.Doubling(200*time.Millisecond, 2*time.Second, attempt-1)
}

// verifyLoop is the verify queue's event source mapping: it receives
// batches of messages and hands them to the verify handler as the SQS
// event the Lambda gets, bodies as sent, then deletes the messages the
// handler did not report as failures. A batch in progress finishes after
// ctx is done, within invocationTimeout as the verify Lambda would.
func (s *Server) verifyLoop(ctx context.Context) {
	for ctx.Err() == nil {
		msgs, err := s.Queue.Receive(ctx, 10, s.receiveWait)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			s.log.Error("receive from the verify queue", "error", err)
			if backoff.Wait(ctx, time.Second) != nil {
				return
			}
			continue
		}
		if len(msgs) == 0 {
			continue
		}
		in := events.SQSEvent{Records: make([]events.SQSMessage, 0, len(msgs))}
		for _, m := range msgs {
			in.Records = append(in.Records, events.SQSMessage{
				MessageId: m.ID, ReceiptHandle: m.ReceiptHandle, Body: m.Body, EventSource: "aws:sqs",
				Attributes: map[string]string{"ApproximateReceiveCount": strconv.Itoa(m.ReceiveCount)},
			})
		}
		hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), invocationTimeout)
		resp, err := s.Handlers.Verify.Handle(hctx, in)
		cancel()
		if err != nil {
			s.log.Error("verify batch failed", "error", err)
			continue // every message comes back after its visibility timeout
		}
		retry := map[string]bool{}
		for _, f := range resp.BatchItemFailures {
			retry[f.ItemIdentifier] = true
		}
		for _, m := range msgs {
			if retry[m.ID] {
				continue
			}
			// A stop does not cancel a delete, but a queue that stops
			// answering cannot hold it: a message not deleted comes back
			// after its visibility timeout and is checked again.
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), deleteTimeout)
			if err := s.Queue.Delete(dctx, m.ReceiptHandle); err != nil {
				s.log.Warn("delete a verify message", "messageId", m.ID, "error", err)
			}
			cancel()
		}
	}
}

// lineWriter writes each event as one JSON line: the EventBridge event as
// a rule target receives it.
type lineWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lineWriter) write(ctx context.Context, env bus.Envelope) error {
	b, err := json.Marshal(env)
	if err != nil {
		return fmt.Errorf("encode event %s: %w", env.ID, err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	_, err = l.w.Write(append(b, '\n'))
	return err
}

func decodeDetail(env bus.Envelope) (connection.Event, error) {
	var ev connection.Event
	if err := json.Unmarshal(env.Detail, &ev); err != nil {
		return connection.Event{}, fmt.Errorf("decode the detail of %s: %w", env.ID, err)
	}
	ev.DetailType = connection.DetailType(env.DetailType)
	return ev, nil
}

// teeBus puts entries on the in-process bus (stdout, ops page, the local
// verify rule) and on a real one. A failure of the second is reported as
// the failure of the entries, so the publisher retries them; the in-process
// bus dedupes nothing, but consumers deduplicate on eventId anyway.
type teeBus struct {
	local  *bus.Memory
	remote bus.Bus
}

// idPutter is a bus that says which event ID it gave each entry
// (*bus.EventBridge).
type idPutter interface {
	PutWithIDs(ctx context.Context, entries []bus.Entry) ([]string, []bus.Failure, error)
}

func (t teeBus) Put(ctx context.Context, entries []bus.Entry) ([]bus.Failure, error) {
	var (
		failed []bus.Failure
		err    error
	)
	if ip, ok := t.remote.(idPutter); ok {
		var ids []string
		ids, failed, err = ip.PutWithIDs(ctx, entries)
		if err == nil && len(ids) == len(entries) {
			// The local copies carry the IDs the real bus assigned.
			entries = slices.Clone(entries)
			for i := range entries {
				entries[i].ID = ids[i]
			}
		}
	} else {
		failed, err = t.remote.Put(ctx, entries)
	}
	if err != nil {
		return nil, err
	}
	ok := accepted(entries, failed)
	if len(ok) > 0 {
		if _, err := t.local.Put(ctx, ok); err != nil {
			return nil, fmt.Errorf("put on the in-process bus: %w", err)
		}
	}
	return failed, nil
}

// accepted is entries less the ones a bus refused (failed).
func accepted(entries []bus.Entry, failed []bus.Failure) []bus.Entry {
	refused := make(map[int]bool, len(failed))
	for _, f := range failed {
		refused[f.Index] = true
	}
	var ok []bus.Entry
	for i, e := range entries {
		if !refused[i] {
			ok = append(ok, e)
		}
	}
	return ok
}
