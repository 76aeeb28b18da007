package bus

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
)

// EventBridgeAPI is the part of *eventbridge.Client the adapter uses.
type EventBridgeAPI interface {
	PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, optFns ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error)
}

// EventBridge is the AWS adapter of the Bus port.
type EventBridge struct {
	Client EventBridgeAPI
}

var _ Bus = (*EventBridge)(nil)

// Put calls PutEvents once. The SDK's retryer already retries a call that
// failed as a whole with a retryable error (throttling, 5xx); an entry
// refused inside a successful call is returned as a Failure.
func (b *EventBridge) Put(ctx context.Context, entries []Entry) ([]Failure, error) {
	_, failures, err := b.PutWithIDs(ctx, entries)
	return failures, err
}

// PutWithIDs is Put that also returns the event ID EventBridge assigned to
// each entry ("" for a refused one), so a copy of the event elsewhere (serve's
// stdout and ops page) carries the ID consumers of the bus see.
func (b *EventBridge) PutWithIDs(ctx context.Context, entries []Entry) ([]string, []Failure, error) {
	if len(entries) == 0 {
		return nil, nil, nil
	}
	if len(entries) > MaxBatch {
		return nil, nil, fmt.Errorf("put %d events: %w", len(entries), ErrTooManyEntries)
	}
	in := &eventbridge.PutEventsInput{Entries: make([]ebtypes.PutEventsRequestEntry, len(entries))}
	for i, e := range entries {
		re := ebtypes.PutEventsRequestEntry{
			Source:     aws.String(e.Source),
			DetailType: aws.String(e.DetailType),
			Detail:     aws.String(e.Detail),
			Resources:  e.Resources,
		}
		if e.EventBusName != "" {
			re.EventBusName = aws.String(e.EventBusName)
		}
		if !e.Time.IsZero() {
			re.Time = aws.Time(e.Time)
		}
		in.Entries[i] = re
	}
	out, err := b.Client.PutEvents(ctx, in)
	if err != nil {
		return nil, nil, fmt.Errorf("put %d events: %w", len(entries), err)
	}
	if len(out.Entries) != len(entries) {
		return nil, nil, fmt.Errorf("put %d events: response has %d entries", len(entries), len(out.Entries))
	}
	var failures []Failure
	ids := make([]string, len(entries))
	for i, r := range out.Entries {
		ids[i] = aws.ToString(r.EventId)
		// An entry failed when it carries an error code; an entry with
		// neither code nor event ID is treated as failed too rather than
		// silently lost.
		if r.ErrorCode != nil || aws.ToString(r.EventId) == "" {
			code := aws.ToString(r.ErrorCode)
			if code == "" {
				code = "InternalFailure"
			}
			failures = append(failures, Failure{Index: i, Code: code, Message: aws.ToString(r.ErrorMessage)})
		}
	}
	if n := int(out.FailedEntryCount); n > len(failures) {
		return nil, nil, fmt.Errorf("put %d events: FailedEntryCount %d but %d entries carry an error", len(entries), n, len(failures))
	}
	for _, f := range failures {
		ids[f.Index] = ""
	}
	return ids, failures, nil
}
