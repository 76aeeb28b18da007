package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/store"
	"github.com/rolecall/rolecall/internal/store/storetest"
)

func TestMemoryContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return store.NewMemory() })
}

// The change feed holds exactly the transitions' events, in commit order;
// routine checks and refused writes add nothing.
func TestMemoryOutbox(t *testing.T) {
	m := store.NewMemory()
	f := storetest.NewFixture(t, m)
	rec := &storetest.Recorder{T: t}
	record := rec.Add
	record(f.Submit("acme", "arn:aws:iam::111111111111:role/Deploy"))
	record(f.Submit("bravo", "arn:aws:iam::222222222222:role/Deploy"))
	f.Now = f.Now.Add(10 * time.Second)
	record(f.Check("acme", "111111111111", connection.ResultDenied)) // routine
	record(f.Check("acme", "111111111111", connection.ResultOK))
	record(f.Check("acme", "111111111111", connection.ResultOK))       // routine
	record(f.Submit("carol", "arn:aws:iam::111111111111:role/deploy")) // submissions never claim
	snap := m.Snapshot()
	if _, err := f.Check("carol", "111111111111", connection.ResultOK); err == nil {
		t.Fatal("claimed role was granted")
	}
	if m.Snapshot() != snap {
		t.Fatal("refused claim changed the store")
	}
	record(f.Disconnect("bravo", "222222222222"))
	want := rec.Events
	if len(want) != 5 {
		t.Fatalf("scenario has %d transitions, want 5", len(want))
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	evs, next, err := m.ReadOutbox(ctx, 0, 100)
	if err != nil || next != len(want) || len(evs) != len(want) {
		t.Fatalf("ReadOutbox: %d events, next %d, %v; want %d", len(evs), next, err, len(want))
	}
	for i := range evs {
		if evs[i] != want[i] {
			t.Fatalf("outbox %d: got %+v, want %+v", i, evs[i], want[i])
		}
	}
	short, cancel2 := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel2()
	if evs, _, err := m.ReadOutbox(short, next, 10); err == nil || len(evs) != 0 {
		t.Fatalf("ReadOutbox past the end returned %v, %v; want a timeout", evs, err)
	}
}

func TestMemoryRegistrationsContract(t *testing.T) {
	storetest.RunRegistrations(t, func(t *testing.T) store.Registrations { return store.NewMemoryRegistrations() })
}
