package emulator

import (
	"context"
	"io"
	"sync/atomic"
	"testing"

	"github.com/rolecall/rolecall/internal/bus"
	"github.com/rolecall/rolecall/internal/publish"
)

// countingBus counts the entries put on the bus it wraps.
type countingBus struct {
	next publish.Bus
	n    *atomic.Int64
}

func (b countingBus) Put(ctx context.Context, entries []bus.Entry) ([]bus.Failure, error) {
	b.n.Add(int64(len(entries)))
	return b.next.Put(ctx, entries)
}

// TestStackRunsReplacedComponents: a component replaced between New and
// Build is the one the handlers run on, and a started stack does not start
// again.
func TestStackRunsReplacedComponents(t *testing.T) {
	var puts atomic.Int64
	s := startWith(t, testOptions(t, io.Discard), stackSetup{components: func(st *Stack) {
		st.Components.Bus = countingBus{next: st.Components.Bus, n: &puts}
	}})
	if _, err := s.Stack.Start(context.Background()); err == nil {
		t.Error("a started stack started again")
	}
	c := newClient(t, s)
	tn := c.newSandboxTenant("steps-")
	c.putRole(tn.role, tn.view.Sandbox.TrustPolicy)
	c.must(c.do("POST", "/v1/connections", tn.auth, map[string]string{"roleArn": tn.role}), 202)
	c.waitEvents(tn.id, tn.account, "Role Submitted", "Role Verified")
	if n := puts.Load(); n < 2 {
		t.Errorf("the replaced bus got %d entries, want the submission's and the verification's", n)
	}
	if s.Handlers.Verify == nil || s.Handlers.Sweep == nil || s.Handlers.Register == nil || s.Handlers.API == nil {
		t.Errorf("handlers not built: %+v", s.Handlers)
	}
}
