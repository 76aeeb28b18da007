package bus_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/rolecall/rolecall/internal/bus"
	"github.com/rolecall/rolecall/internal/bus/bustest"
)

// TestRecordKeepsOneCopyPerEvent: a publisher's retry puts events again
// (from the first one refused, so some a second time); the record keeps
// each once, so a reader whose cursor is an event it has seen gets every
// event put since, and subscribers still get every copy.
func TestRecordKeepsOneCopyPerEvent(t *testing.T) {
	ctx := context.Background()
	m := bus.NewMemory()
	var delivered int
	m.Subscribe("", func(context.Context, bus.Envelope) error { delivered++; return nil })
	in := bustest.Entries(3)
	a, b, c := in[0], in[1], in[2]
	ids := bustest.EventIDs
	puts := [][]bus.Entry{{b}, {a, b}, {c}} // a was refused at first, then retried with b
	for _, p := range puts {
		if failed, err := m.Put(ctx, p); err != nil || len(failed) != 0 {
			t.Fatalf("put: %v %v", failed, err)
		}
	}
	all, err := m.Since("", 0)
	if err != nil || !slices.Equal(ids(all), []string{"evt-01", "evt-00", "evt-02"}) {
		t.Fatalf("record %v (%v), want each event once, in the order first put", ids(all), err)
	}
	next, err := m.Since("evt-01", 0) // a reader that saw b before the retry
	if err != nil || !slices.Equal(ids(next), []string{"evt-00", "evt-02"}) {
		t.Errorf("after evt-01: %v (%v), want evt-00 and evt-02", ids(next), err)
	}
	if delivered != 4 {
		t.Errorf("subscribers got %d deliveries, want every copy (4)", delivered)
	}
}

// TestRecordKeepsTheLatest: the record holds the latest Keep events, so a
// long-running serve's memory stays bounded; a cursor dropped from it is
// ErrUnknownCursor (the reader missed events and must say so), and a retry
// of a dropped event is recorded again while one of a kept event is not.
func TestRecordKeepsTheLatest(t *testing.T) {
	ctx := context.Background()
	m := bus.NewMemory()
	m.Keep = 3
	in := bustest.Entries(6)
	ids := bustest.EventIDs
	if failed, err := m.Put(ctx, in[:5]); err != nil || len(failed) != 0 {
		t.Fatalf("put: %v %v", failed, err)
	}
	tests := []struct {
		name  string
		after string
		want  []string
		err   error
	}{
		{"from the oldest kept", "", []string{"evt-02", "evt-03", "evt-04"}, nil},
		{"after the oldest kept", "evt-02", []string{"evt-03", "evt-04"}, nil},
		{"after a dropped event", "evt-01", nil, bus.ErrUnknownCursor},
		{"after an event never put", "evt-99", nil, bus.ErrUnknownCursor},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := m.Since(tt.after, 0)
			if !errors.Is(err, tt.err) || !slices.Equal(ids(got), tt.want) {
				t.Errorf("Since(%q) = %v, %v; want %v, %v", tt.after, ids(got), err, tt.want, tt.err)
			}
		})
	}

	// A retry of evt-03 (kept) and of evt-00 (dropped), then a new event.
	if _, err := m.Put(ctx, []bus.Entry{in[3], in[0], in[5]}); err != nil {
		t.Fatal(err)
	}
	got, err := m.Since("", 0)
	if want := []string{"evt-04", "evt-00", "evt-05"}; err != nil || !slices.Equal(ids(got), want) {
		t.Errorf("after the retry the record is %v (%v), want %v", ids(got), err, want)
	}
}

// TestRecordMemoryIsBounded: however many events are put, the array
// holding the record stays within about twice Keep (append grows it to
// twice the kept records, rounded up to an allocation size class).
func TestRecordMemoryIsBounded(t *testing.T) {
	ctx := context.Background()
	m := bus.NewMemory()
	m.Keep = 100
	for range 1000 {
		batch := bustest.Entries(bus.MaxBatch)
		for i := range batch {
			batch[i].Detail = `{"n":1}` // no eventId: every copy is a new event
		}
		if _, err := m.Put(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
	n, capacity := bus.Held(m)
	if n != m.Keep || capacity > 3*m.Keep {
		t.Errorf("after 10,000 events the record holds %d in an array of %d, want %d in at most %d", n, capacity, m.Keep, 3*m.Keep)
	}
}
