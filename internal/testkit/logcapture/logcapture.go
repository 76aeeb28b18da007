// Package logcapture provides a slog.Handler for tests that keeps every
// record it handles, so a test counts what was logged by message and
// attributes instead of counting lines of rendered text. It forwards each
// record to another handler, so the rendered output stays available (e.g.
// for scanning it for secrets). Production code never imports it.
package logcapture

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Record is one logged record: its level, message and attributes (those
// added with With included, group names joined to the key with dots).
type Record struct {
	Time    time.Time
	Level   slog.Level
	Message string
	Attrs   map[string]slog.Value
}

// Handler records every record it handles and forwards it to Next.
// Create one with New; handlers made by WithAttrs and WithGroup share the
// records of the one they come from.
type Handler struct {
	next   slog.Handler
	shared *records
	attrs  []slog.Attr
	prefix string
}

type records struct {
	mu   sync.Mutex
	list []Record
}

// New returns a Handler that forwards to next (nil: slog.DiscardHandler),
// and handles every level next enables (all levels when next is nil).
func New(next slog.Handler) *Handler {
	return &Handler{next: next, shared: &records{}}
}

var _ slog.Handler = (*Handler)(nil)

// Enabled reports whether Next handles level; without Next, every level.
func (h *Handler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.next == nil || h.next.Enabled(ctx, level)
}

// Handle records r and forwards it.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	rec := Record{Time: r.Time, Level: r.Level, Message: r.Message, Attrs: map[string]slog.Value{}}
	for _, a := range h.attrs {
		addAttr(rec.Attrs, "", a)
	}
	r.Attrs(func(a slog.Attr) bool {
		addAttr(rec.Attrs, h.prefix, a)
		return true
	})
	h.shared.mu.Lock()
	h.shared.list = append(h.shared.list, rec)
	h.shared.mu.Unlock()
	if h.next == nil {
		return nil
	}
	return h.next.Handle(ctx, r)
}

func addAttr(m map[string]slog.Value, prefix string, a slog.Attr) {
	if a.Equal(slog.Attr{}) {
		return // an empty Attr is ignored, as slog.Handler requires
	}
	v := a.Value.Resolve()
	if v.Kind() == slog.KindGroup {
		p := prefix
		if a.Key != "" {
			p += a.Key + "."
		}
		for _, g := range v.Group() {
			addAttr(m, p, g)
		}
		return
	}
	m[prefix+a.Key] = v
}

// WithAttrs returns a Handler that adds attrs to every record.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append([]slog.Attr(nil), h.attrs...)
	for _, a := range attrs {
		if h.prefix != "" {
			a = slog.Attr{Key: h.prefix + a.Key, Value: a.Value}
		}
		c.attrs = append(c.attrs, a)
	}
	if h.next != nil {
		c.next = h.next.WithAttrs(attrs)
	}
	return &c
}

// WithGroup returns a Handler that puts the record's attributes under name.
func (h *Handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	c := *h
	c.prefix = h.prefix + name + "."
	if h.next != nil {
		c.next = h.next.WithGroup(name)
	}
	return &c
}

// Records returns a copy of the records handled so far, oldest first.
func (h *Handler) Records() []Record {
	h.shared.mu.Lock()
	defer h.shared.mu.Unlock()
	return append([]Record(nil), h.shared.list...)
}

// Count returns how many records so far have the message msg.
func (h *Handler) Count(msg string) int {
	n := 0
	for _, r := range h.Records() {
		if r.Message == msg {
			n++
		}
	}
	return n
}
