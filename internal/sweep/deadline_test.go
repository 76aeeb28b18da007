package sweep_test

import (
	"context"
	"testing"
	"time"

	"github.com/rolecall/rolecall/internal/queue"
)

// A deadline shorter than the margin (serve's ticker bounds each sweep by
// its interval, e.g. 1s, below the default 3s margin) must still sweep:
// before the fix every such sweep stopped at once and enqueued nothing, so
// `rolecall serve --sweep-every 2s` never re-checked anything.
func TestDueWithADeadlineShorterThanTheMargin(t *testing.T) {
	w := newWorld(t)
	q := queue.NewMemory()
	s := newSweeper(w, q, nil) // default Margin: 3s
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	res, err := s.Due(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Stopped || res.Enqueued != len(w.due) {
		t.Fatalf("result = %+v; want every one of the %d due connections enqueued", res, len(w.due))
	}
	if got := len(drain(t, q)); got != len(w.due) {
		t.Errorf("queue holds %d jobs, want %d", got, len(w.due))
	}
}
