package bench

import (
	"context"
	"testing"

	"github.com/rolecall/rolecall/internal/testkit/ddbmeter"
)

// perOp renders requests per operation per connection, and says so when
// there were none.
func TestPerOp(t *testing.T) {
	tests := []struct {
		name string
		r    ddbmeter.Reading
		n    int
		want string
	}{
		{"none", ddbmeter.Reading{}, 10, "none"},
		{"one per connection", ddbmeter.Reading{Ops: map[string]int{"UpdateItem": 10}}, 10, "1 UpdateItem"},
		{"sorted by operation", ddbmeter.Reading{Ops: map[string]int{"UpdateItem": 4, "GetItem": 2}}, 2, "1 GetItem + 2 UpdateItem"},
	}
	for _, tc := range tests {
		if got := perOp(tc.r, tc.n); got != tc.want {
			t.Errorf("%s: perOp = %q, want %q", tc.name, got, tc.want)
		}
	}
}

// A table that cannot be created fails the scenario before it measures.
func TestNewBenchTableRefusal(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if tbl, err := newBenchTable(ctx, "http://127.0.0.1:1", "rolecall-bench-test"); err == nil || tbl != nil {
		t.Fatalf("newBenchTable on a done context = %v, %v; want an error and no table", tbl, err)
	}
}
