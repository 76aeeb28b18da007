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
	// why[i] is why event i was last refused; final[i] whether that was
	// the last word on it (batch.Send does not send it again). An event
	// failed without a final refusal failed because ctx ended first.
	why, final, sent := make([]error, len(evs)), make([]bool, len(evs)), make([]int, len(evs))
	var pending []int
	for i, ev := range evs {
		e, err := NewEntry(ev, p.Source, p.BusName)
		if err != nil {
			failed = append(failed, i)
			why[i], final[i] = err, true
			continue
		}
		entries[i] = e
		pending = append(pending, i)
	}
	policy := batch.Policy{Size: bus.MaxBatch, Attempts: retries.Attempts, Backoff: retries.Base, RetryCalls: true,
		OnRetry: func(n, round int) { p.log().Warn("retrying events the bus refused", "count", n, "attempt", round) }}
	bad, _ := batch.Send(ctx, pending, policy, func(ctx context.Context, idx []int) ([]batch.Failure, error) {
		put := make([]bus.Entry, len(idx))
		for k, i := range idx {
			put[k] = entries[i]
			sent[i]++
		}
		fs, err := p.Bus.Put(ctx, put)
		if err != nil {
			// The call failed as a whole; the SDK has retried it already.
			err = fmt.Errorf("put of %d events failed: %w", len(idx), err)
			for _, i := range idx {
				why[i], final[i] = err, sent[i] >= retries.Attempts || ctx.Err() != nil
			}
			return nil, err
		}
		out := make([]batch.Failure, 0, len(fs))
		for _, f := range fs {
			if f.Index < 0 || f.Index >= len(idx) {
				continue // names no entry of the call
			}
			i := idx[f.Index]
			why[i], final[i] = fmt.Errorf("%s: %s", f.Code, f.Message), !f.Retryable() || sent[i] >= retries.Attempts
			out = append(out, batch.Failure{Index: f.Index, Retryable: f.Retryable(), Err: why[i]})
		}
		return out, nil
	})
	failed = append(failed, bad...)
	if len(failed) == 0 {
		return nil, nil
	}
	slices.Sort(failed)
	errs := make([]error, 0, len(failed))
	for _, i := range failed {
		errs = append(errs, fmt.Errorf("event %s (%s) not put: %w", evs[i].EventID, evs[i].DetailType, notPut(ctx, why[i], final[i])))
	}
	return failed, errors.Join(errs...)
}

// notPut is why an event was not put: its last refusal when that was
// final, otherwise the end of ctx, which came before its first put or its
// retry.
func notPut(ctx context.Context, last error, final bool) error {
	end := context.Cause(ctx)
	switch {
	case final || end == nil:
		return last
	case last == nil:
		return fmt.Errorf("not sent before the context ended: %w", end)
	default:
		return fmt.Errorf("not retried before the context ended: %w (last refusal: %w)", end, last)
	}
}
