package verify_test

import (
	"context"
	"testing"
	"time"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/probe"
	"github.com/rolecall/rolecall/internal/store"
	"github.com/rolecall/rolecall/internal/tenant"
	"github.com/rolecall/rolecall/internal/testkit/testarn"
)

// Two tenants submit the same role; both are accepted. The first whose own
// external ID assumes it claims it when it becomes VERIFIED; the second is
// FAILED ROLE_CLAIMED then (not at submission), holds nothing, and is
// VERIFIED once the first lets the role go.
func TestProcessRoleClaimedAtVerification(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	p := policy()
	arn := testarn.MustParse(t, "arn:aws:iam::123456789012:role/RoleCall")
	conns := map[string]connection.Connection{}
	for _, id := range []string{"acme", "bravo"} {
		seedTenant(t, st, id, tenant.NewExternalID())
		tr := p.Submit(nil, id, arn, 1, t0)
		if err := st.Apply(ctx, tr); err != nil {
			t.Fatalf("submit for %s: %v", id, err)
		}
		conns[id] = tr.After
	}
	ch := &fakeChecker{result: connection.ResultOK, now: t0.Add(2 * time.Second)}
	w := newWorker(st, ch, nil)
	process := func(id string) connection.Connection {
		t.Helper()
		c, err := st.GetConnection(ctx, id, "123456789012")
		if err != nil {
			t.Fatal(err)
		}
		if d, err := w.Process(ctx, job(c, probe.WhySubmitted), 1); d != 0 || err != nil {
			t.Fatalf("Process(%s) = %s, %v", id, d, err)
		}
		got, _ := st.GetConnection(ctx, id, "123456789012")
		return got
	}
	if got := process("acme"); got.Status != connection.Verified {
		t.Fatalf("acme: %+v", got)
	}
	got := process("bravo")
	if got.Status != connection.Failed || got.Reason.Code != connection.CodeRoleClaimed || got.NextCheckAt.IsZero() {
		t.Fatalf("bravo: %+v, want FAILED ROLE_CLAIMED and re-checked", got)
	}
	evs, _ := st.Events(ctx, "bravo", "123456789012")
	if len(evs) != 2 || evs[1].DetailType != connection.RoleVerificationFailed || evs[1].Reason.Code != connection.CodeRoleClaimed {
		t.Fatalf("bravo's events: %+v", evs)
	}
	// Checked again while acme holds it: still FAILED, no new event.
	ch.now = ch.now.Add(10 * time.Minute)
	if got := process("bravo"); got.Status != connection.Failed || got.ConsecutiveFailures != 2 {
		t.Fatalf("bravo re-checked: %+v", got)
	}
	if evs, _ := st.Events(ctx, "bravo", "123456789012"); len(evs) != 2 {
		t.Fatalf("a repeated refusal wrote an event: %+v", evs)
	}
	// acme disconnects; bravo's next check claims the role.
	acme, _ := st.GetConnection(ctx, "acme", "123456789012")
	if err := st.Apply(ctx, p.Disconnect(acme, 1, ch.now)); err != nil {
		t.Fatal(err)
	}
	ch.now = ch.now.Add(10 * time.Minute)
	if got := process("bravo"); got.Status != connection.Verified {
		t.Fatalf("bravo after acme let go: %+v", got)
	}
}
