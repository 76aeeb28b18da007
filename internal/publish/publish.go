// Package publish puts outbox events on the event bus: the DynamoDB stream
// consumer of the publish Lambda, and the same publishing for
// `rolecall serve`, which reads the embedded store's outbox.
//
// An event's bus entry is derived deterministically from the event alone
// (NewEntry), so a retry after a crash or a partial failure sends the same
// detail, with the same eventId, for consumers to deduplicate on. Entries go
// out in batches of at most bus.MaxBatch; exactly the entries the bus
// refused with a retryable code are put again, and what still fails is
// reported back (to the stream as batch item failures).
package publish

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/rolecall/rolecall/internal/backoff"
	"github.com/rolecall/rolecall/internal/batch"
	"github.com/rolecall/rolecall/internal/bus"
	"github.com/rolecall/rolecall/internal/connection"
)

// DefaultSource is the events' source unless configured.
const DefaultSource = "rolecall"

// Bus is what publishing needs of the event bus.
type Bus interface {
	Put(ctx context.Context, entries []bus.Entry) ([]bus.Failure, error)
}

// NewEntry is the bus entry of an event: source, detail-type, the event as
// detail, the bus, the time it occurred and the role as the resource.
func NewEntry(ev connection.Event, source, busName string) (bus.Entry, error) {
	if ev.EventID == "" || !slices.Contains(connection.DetailTypes, ev.DetailType) {
		return bus.Entry{}, fmt.Errorf("entry for event %q of detail-type %q: %w", ev.EventID, ev.DetailType, ErrInvalidEvent)
	}
	if source == "" {
		source = DefaultSource
	}
	detail, err := json.Marshal(ev)
	if err != nil {
		return bus.Entry{}, fmt.Errorf("encode event %s: %w", ev.EventID, err)
	}
	var resources []string
	if ev.RoleARN != "" {
		resources = []string{ev.RoleARN}
	}
	return bus.Entry{
		Source:       source,
		DetailType:   string(ev.DetailType),
		Detail:       string(detail),
		EventBusName: busName,
		Time:         ev.OccurredAt.UTC(),
		Resources:    resources,
	}, nil
}

// ErrInvalidEvent: an event without ID or with an unknown detail-type; it
// can never be published.
var ErrInvalidEvent = errors.New("invalid event")

// Publisher puts events on a bus. Set Bus; the rest has defaults.
type Publisher struct {
	Bus     Bus
	Source  string // default DefaultSource
	BusName string // "" for the account's default bus
	// Attempts per entry (default 3), with doubling Backoff (default
	// 100ms) between rounds of retries.
	Attempts int
	Backoff  time.Duration
	Log      *slog.Logger
}

func (p *Publisher) log() *slog.Logger {
	return cmp.Or(p.Log, slog.Default())
}

// Publish puts evs on the bus and returns the indexes of the events that
// could not be put (ascending), with err naming each of them once: its
// eventId, detail-type and why (the bus's error code, the error of the
// call that failed as a whole, or the end of ctx before it was put). An
// event that can never be published (ErrInvalidEvent) is reported at once.
func (p *Publisher) Publish(ctx context.Context, evs []connection.Event) (failed []int, err error) {
	retries := backoff.Retries{Attempts: p.Attempts, Base: p.Backoff}.Or(backoff.Retries{Attempts: 3, Base: 100 * time.Millisecond})
	entries := make([]bus.Entry, len(evs))
	why := make([]error, len(evs)) // why event i was not put
	var pending []int
	for i, ev := range evs {
		e, err := NewEntry(ev, p.Source, p.BusName)
		if err != nil {
			why[i] = err
			continue
		}
		entries[i] = e
		pending = append(pending, i)
	}
	policy := batch.Policy{Size: bus.MaxBatch, Attempts: retries.Attempts, Backoff: retries.Base, RetryCalls: true,
		OnRetry: func(n, round int) { p.log().Warn("retrying events the bus refused", "count", n, "attempt", round) }}
	unsent := batch.Send(ctx, pending, policy, func(ctx context.Context, idx []int) ([]batch.Failure, error) {
		put := make([]bus.Entry, len(idx))
		for k, i := range idx {
			put[k] = entries[i]
		}
		fs, err := p.Bus.Put(ctx, put)
		if err != nil {
			// The call failed as a whole; the SDK has retried it already.
			return nil, fmt.Errorf("put of %d events failed: %w", len(idx), err)
		}
		out := make([]batch.Failure, len(fs))
		for k, f := range fs {
			out[k] = batch.Failure{Index: f.Index, Retryable: f.Retryable(), Err: fmt.Errorf("%s: %s", f.Code, f.Message)}
		}
		return out, nil
	})
	for _, u := range unsent {
		why[u.Index] = u.Err
	}
	var errs []error
	for i, w := range why {
		if w != nil {
			failed = append(failed, i)
			errs = append(errs, fmt.Errorf("event %s (%s) not put: %w", evs[i].EventID, evs[i].DetailType, w))
		}
	}
	return failed, errors.Join(errs...)
}
