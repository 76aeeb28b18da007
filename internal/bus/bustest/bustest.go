// Package bustest is the contract suite every adapter of the bus.Bus port
// passes, so the in-process bus behaves like EventBridge where it matters.
package bustest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/rolecall/rolecall/internal/bus"
)

// Harness is one bus under test and the means to observe and script it.
type Harness struct {
	Bus bus.Bus
	// Accepted returns the entries the bus accepted so far, in order.
	// EventBusName need not be kept.
	Accepted func() []bus.Entry
	// RejectNext scripts the per-entry outcome of the next entries put:
	// an error code refuses the entry, "" accepts it.
	RejectNext func(codes ...string)
}

// Run runs the contract suite; newHarness returns a fresh, empty bus.
func Run(t *testing.T, newHarness func(t *testing.T) Harness) {
	ctx := context.Background()
	t.Run("puts entries in order with their fields", func(t *testing.T) {
		h := newHarness(t)
		in := Entries(3)
		failures, err := h.Bus.Put(ctx, in)
		if err != nil || len(failures) != 0 {
			t.Fatalf("Put = %v, %v; want no failure", failures, err)
		}
		assertAccepted(t, h.Accepted(), in)
	})
	t.Run("an empty put is a no-op", func(t *testing.T) {
		h := newHarness(t)
		failures, err := h.Bus.Put(ctx, nil)
		if err != nil || len(failures) != 0 {
			t.Fatalf("Put(nil) = %v, %v", failures, err)
		}
		if got := h.Accepted(); len(got) != 0 {
			t.Fatalf("accepted %d entries from an empty put", len(got))
		}
	})
	t.Run("refuses more than MaxBatch entries as a whole", func(t *testing.T) {
		h := newHarness(t)
		_, err := h.Bus.Put(ctx, Entries(bus.MaxBatch+1))
		if !errors.Is(err, bus.ErrTooManyEntries) {
			t.Fatalf("Put(11) error = %v, want ErrTooManyEntries", err)
		}
		if got := h.Accepted(); len(got) != 0 {
			t.Fatalf("accepted %d entries of a refused put", len(got))
		}
	})
	t.Run("reports exactly the refused entries", func(t *testing.T) {
		h := newHarness(t)
		in := Entries(4)
		h.RejectNext("", "ThrottlingException", "", "InvalidArgument")
		failures, err := h.Bus.Put(ctx, in)
		if err != nil {
			t.Fatalf("Put: %v", err)
		}
		if len(failures) != 2 || failures[0].Index != 1 || failures[0].Code != "ThrottlingException" ||
			failures[1].Index != 3 || failures[1].Code != "InvalidArgument" {
			t.Fatalf("failures = %+v, want index 1 ThrottlingException and index 3 InvalidArgument", failures)
		}
		if !failures[0].Retryable() || failures[1].Retryable() {
			t.Fatalf("Retryable: throttling %v, invalid argument %v", failures[0].Retryable(), failures[1].Retryable())
		}
		assertAccepted(t, h.Accepted(), []bus.Entry{in[0], in[2]})
	})
	t.Run("a cancelled context fails the put as a whole", func(t *testing.T) {
		h := newHarness(t)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err := h.Bus.Put(cctx, Entries(2))
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Put with cancelled context error = %v, want context.Canceled", err)
		}
		if got := h.Accepted(); len(got) != 0 {
			t.Fatalf("accepted %d entries with a cancelled context", len(got))
		}
	})
}

// Entries returns n distinct, valid entries.
func Entries(n int) []bus.Entry {
	out := make([]bus.Entry, n)
	base := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	for i := range out {
		d, _ := json.Marshal(map[string]any{"eventId": fmt.Sprintf("evt-%02d", i), "n": i})
		out[i] = bus.Entry{
			Source:       "rolecall.test",
			DetailType:   []string{"Role Submitted", "Role Verified"}[i%2],
			Detail:       string(d),
			EventBusName: "rolecall-test",
			Time:         base.Add(time.Duration(i) * time.Second),
			Resources:    []string{fmt.Sprintf("arn:aws:iam::1234567890%02d:role/r%d", i, i)},
		}
	}
	return out
}

func assertAccepted(t *testing.T, got, want []bus.Entry) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("accepted %d entries, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Source != w.Source || g.DetailType != w.DetailType || !g.Time.Equal(w.Time) ||
			fmt.Sprint(g.Resources) != fmt.Sprint(w.Resources) || !sameJSON(g.Detail, w.Detail) {
			t.Errorf("entry %d = %+v, want %+v", i, g, w)
		}
	}
}

func sameJSON(a, b string) bool {
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	ja, _ := json.Marshal(x)
	jb, _ := json.Marshal(y)
	return string(ja) == string(jb)
}

// EventIDs is the detail eventId of each envelope, in order ("" for one
// without).
func EventIDs(envs []bus.Envelope) []string {
	out := make([]string, 0, len(envs))
	for _, e := range envs {
		var d struct{ EventID string }
		_ = json.Unmarshal(e.Detail, &d)
		out = append(out, d.EventID)
	}
	return out
}
