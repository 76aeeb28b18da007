package bus

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Handler receives an event delivered by a Memory subscription.
type Handler func(ctx context.Context, ev Envelope) error

// Memory is the embedded adapter: an in-process bus. Put delivers every
// entry synchronously to the subscribers of its detail-type, as
// EventBridge rules deliver to their targets, duplicates included; it
// records each event in order once per detail eventId (Since reads the
// record), as a consumer deduplicating on eventId keeps them, so that a
// reader's cursor names one place: a publisher's retry puts events again,
// and a cursor on a later copy would pass over what came between. The
// record holds the latest Keep events only, so that a long-running serve
// does not grow without end; a retry of an event already dropped is
// recorded again, at its new place. A
// subscriber's error is logged and does not fail the Put, as a target's
// failure does not fail PutEvents.
type Memory struct {
	// Account and Region fill the envelopes (defaults 000000000000 and
	// local).
	Account string
	Region  string
	Log     *slog.Logger
	// Keep is how many of the latest events the record holds (DefaultKeep
	// when 0 or less). Set it before the first Put.
	Keep int

	// reject, when set (only by this package's tests, through
	// export_test.go), is asked for every entry; a non-empty code refuses
	// it, so the contract suite can exercise partial failures.
	reject func(Entry) string

	mu       sync.Mutex
	records  []record
	recorded map[string]bool // the detail eventIds in records
	dropped  int             // how many records were dropped, oldest first
	subs     []subscription
	notify   chan struct{}
}

// DefaultKeep is the size of a Memory's record unless Keep says otherwise:
// hours of a busy serve, a few megabytes.
const DefaultKeep = 10_000

type record struct {
	env     Envelope
	eventID string // the detail's eventId, when it has one
}

type subscription struct {
	detailType string
	fn         Handler
}

var _ Bus = (*Memory)(nil)

// NewMemory returns an empty in-process bus.
func NewMemory() *Memory { return &Memory{notify: make(chan struct{})} }

// Subscribe delivers every entry of detailType ("" for all) to fn, in the
// order they are put.
func (m *Memory) Subscribe(detailType string, fn Handler) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.subs = append(m.subs, subscription{detailType: detailType, fn: fn})
}

// Put implements Bus.
func (m *Memory) Put(ctx context.Context, entries []Entry) ([]Failure, error) {
	if len(entries) > MaxBatch {
		return nil, fmt.Errorf("put %d events: %w", len(entries), ErrTooManyEntries)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("put %d events: %w", len(entries), err)
	}
	var failures []Failure
	var delivered []Envelope
	m.mu.Lock()
	if m.notify == nil {
		m.notify = make(chan struct{})
	}
	for i, e := range entries {
		code := ""
		if m.reject != nil {
			code = m.reject(e)
		}
		if code == "" && (e.Source == "" || e.DetailType == "" || !json.Valid([]byte(e.Detail))) {
			code = "InvalidArgument"
		}
		if code != "" {
			failures = append(failures, Failure{Index: i, Code: code, Message: "entry refused by the in-process bus"})
			continue
		}
		env := m.envelope(e)
		var d struct {
			EventID string `json:"eventId"`
		}
		_ = json.Unmarshal(env.Detail, &d)
		if !m.recorded[d.EventID] {
			m.records = append(m.records, record{env: env, eventID: d.EventID})
			if d.EventID != "" {
				if m.recorded == nil {
					m.recorded = map[string]bool{}
				}
				m.recorded[d.EventID] = true
			}
			m.trim()
		}
		delivered = append(delivered, env)
	}
	subs := append([]subscription(nil), m.subs...)
	if len(delivered) > 0 {
		close(m.notify)
		m.notify = make(chan struct{})
	}
	m.mu.Unlock()

	for _, env := range delivered {
		for _, s := range subs {
			if s.detailType != "" && s.detailType != env.DetailType {
				continue
			}
			if err := s.fn(ctx, env); err != nil {
				m.log().Error("bus target failed", "detailType", env.DetailType, "id", env.ID, "error", err)
			}
		}
	}
	return failures, nil
}

// trim drops the oldest records beyond Keep. Re-slicing keeps the cost of
// a Put constant; append copies only the kept records when it grows the
// array, so the array stays within about twice Keep.
func (m *Memory) trim() {
	keep := m.Keep
	if keep <= 0 {
		keep = DefaultKeep
	}
	for len(m.records) > keep {
		delete(m.recorded, m.records[0].eventID)
		m.records[0] = record{} // let the dropped envelope be collected
		m.records = m.records[1:]
		m.dropped++
	}
}

func (m *Memory) envelope(e Entry) Envelope {
	t := e.Time
	if t.IsZero() {
		t = time.Now()
	}
	resources := e.Resources
	if resources == nil {
		resources = []string{}
	}
	return Envelope{
		Version:    "0",
		ID:         or(e.ID, newID()),
		DetailType: e.DetailType,
		Source:     e.Source,
		Account:    or(m.Account, "000000000000"),
		Time:       t.UTC().Truncate(time.Second), // EventBridge keeps whole seconds
		Region:     or(m.Region, "local"),
		Resources:  append([]string(nil), resources...),
		Detail:     json.RawMessage(e.Detail),
	}
}

// Since returns the recorded events after the one whose detail eventId (or
// envelope id) is after, oldest first, at most limit (all when limit <= 0).
// after == "" reads from the oldest event kept. An ID not in the record,
// never recorded or dropped from it, is ErrUnknownCursor.
func (m *Memory) Since(after string, limit int) ([]Envelope, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	start := 0
	if after != "" {
		start = -1
		for i := len(m.records) - 1; i >= 0; i-- {
			if m.records[i].eventID == after || m.records[i].env.ID == after {
				start = i + 1
				break
			}
		}
		if start < 0 && m.dropped > 0 {
			return nil, fmt.Errorf("events after %q: %w (or dropped: the record keeps the latest %d events)", after, ErrUnknownCursor, len(m.records))
		}
		if start < 0 {
			return nil, fmt.Errorf("events after %q: %w", after, ErrUnknownCursor)
		}
	}
	end := len(m.records)
	if limit > 0 {
		end = min(end, start+limit)
	}
	out := make([]Envelope, 0, end-start)
	for _, r := range m.records[start:end] {
		out = append(out, r.env)
	}
	return out, nil
}

// Changed returns a channel closed at the next successful Put, so a reader
// can wait for new events without polling.
func (m *Memory) Changed() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.notify == nil {
		m.notify = make(chan struct{})
	}
	return m.notify
}

func (m *Memory) log() *slog.Logger {
	return cmp.Or(m.Log, slog.Default())
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// newID returns a random UUID (version 4), the form of EventBridge's ids.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
