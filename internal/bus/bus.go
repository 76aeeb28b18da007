// Package bus puts RoleCall's events on an event bus.
//
// Bus is the port: Put sends up to MaxBatch entries and reports the entries
// the bus refused one by one, so a caller can retry exactly those. Two
// adapters implement it and pass the same contract suite (bustest):
// EventBridge (aws-sdk-go-v2's PutEvents) and Memory, the in-process bus of
// `rolecall serve`, which also delivers entries to subscribers by
// detail-type (as EventBridge rules do) and records every entry in order so
// the ops page can follow the stream.
package bus

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// MaxBatch is the most entries one Put takes (EventBridge's PutEvents limit).
const MaxBatch = 10

// Entry is one event to put on the bus, as EventBridge's PutEvents takes it.
type Entry struct {
	Source       string
	DetailType   string
	Detail       string // JSON object
	EventBusName string
	Time         time.Time
	Resources    []string
	// ID is the event ID a real bus assigned to this entry (PutEvents'
	// EventId), when it is being copied to the in-process bus: the copy
	// keeps it as its envelope id. Empty otherwise; EventBridge ignores it.
	ID string
}

// Failure is an entry the bus refused: its index in the Put call and the
// bus's error code and message.
type Failure struct {
	Index   int
	Code    string
	Message string
}

// Retryable reports whether putting the entry again may succeed. EventBridge
// documents InternalFailure and ThrottlingException as retryable; the other
// codes (InvalidArgument, MalformedDetail, AccessDeniedException, ...) will
// fail again.
func (f Failure) Retryable() bool {
	switch f.Code {
	case "InternalFailure", "ThrottlingException", "InternalException", "ServiceUnavailable":
		return true
	}
	return false
}

// Errors of the port, matched with errors.Is.
var (
	// ErrTooManyEntries: Put was called with more than MaxBatch entries.
	ErrTooManyEntries = errors.New("too many entries for one put")
	// ErrUnknownCursor: Memory.Since was given an event ID not in its record
	// (never put, or dropped as older than the latest Memory.Keep).
	ErrUnknownCursor = errors.New("unknown event id")
)

// Bus is the port.
type Bus interface {
	// Put puts at most MaxBatch entries. It returns the entries refused
	// one by one (a partial failure), or an error when the call as a whole
	// failed, in which case no entry may be assumed put.
	Put(ctx context.Context, entries []Entry) ([]Failure, error)
}

// Envelope is an event as the bus delivers it to rule targets (the
// EventBridge event structure).
type Envelope struct {
	Version    string          `json:"version"`
	ID         string          `json:"id"`
	DetailType string          `json:"detail-type"`
	Source     string          `json:"source"`
	Account    string          `json:"account"`
	Time       time.Time       `json:"time"`
	Region     string          `json:"region"`
	Resources  []string        `json:"resources"`
	Detail     json.RawMessage `json:"detail"`
}
