package emulator

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/rolecall/rolecall/internal/app"
	"github.com/rolecall/rolecall/internal/probe"
	"github.com/rolecall/rolecall/internal/queue"
	"github.com/rolecall/rolecall/internal/store"
)

// sendOnly is a queue the handlers can send to but serve cannot poll.
type sendOnly struct{}

func (sendOnly) Send(context.Context, []probe.Job) error { return nil }

// wrappedStore is a store without the embedded store's outbox.
type wrappedStore struct{ store.Store }

// Build takes the queue the pollers receive from and the store whose
// outbox is the change feed from the components, so a component replaced
// between New and Build is the one the event sources use; components serve
// cannot run are refused before anything is built.
func TestBuildUsesTheComponents(t *testing.T) {
	tests := []struct {
		name    string
		replace func(*Stack)
		want    string // "" builds
		missing bool   // the error is app.ErrMissing
	}{
		{"a replaced queue is the one polled", func(st *Stack) { st.Components.Queue = queue.NewMemory() }, "", false},
		{"a replaced embedded store is the change feed", func(st *Stack) {
			mem := store.NewMemory()
			st.Components.Store, st.Components.Registrations = mem, registrationsOf(mem)
		}, "", false},
		{"a queue that cannot be polled", func(st *Stack) { st.Components.Queue = sendOnly{} }, "cannot be polled", false},
		{"a store without a change feed", func(st *Stack) { st.Components.Store = wrappedStore{st.Components.Store} }, "no change feed", false},
		{"no registrations", func(st *Stack) { st.Components.Registrations = nil }, "registrations", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			st, err := New(ctx, testOptions(t, io.Discard))
			if err != nil {
				t.Fatal(err)
			}
			defer st.close()
			tc.replace(st)
			err = st.Build(ctx)
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) || errors.Is(err, app.ErrMissing) != tc.missing || st.Handlers.API != nil {
					t.Fatalf("Build = %v, want a refusal naming %q (ErrMissing %v) and no handler", err, tc.want, tc.missing)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if st.Queue != st.Components.Queue {
				t.Errorf("the pollers receive from %T, the handlers send to %T", st.Queue, st.Components.Queue)
			}
			if st.outbox != st.Components.Store {
				t.Error("the change feed is not the components' store")
			}
		})
	}
}
