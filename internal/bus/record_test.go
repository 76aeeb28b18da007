package bus_test

import (
	"context"
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
