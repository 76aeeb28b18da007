package sweep_test

import (
	"context"
	"testing"
	"time"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/probe"
	"github.com/rolecall/rolecall/internal/queue"
	"github.com/rolecall/rolecall/internal/store"
	"github.com/rolecall/rolecall/internal/sweep"
	"github.com/rolecall/rolecall/internal/tenant"
	"github.com/rolecall/rolecall/internal/testkit/testarn"
)

// acmeStore is an embedded store holding tenant acme, created at t0.
func acmeStore(t *testing.T) (*store.Memory, tenant.Tenant) {
	t.Helper()
	st := store.NewMemory()
	tn, err := tenant.New("acme", "Acme", t0)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateTenant(context.Background(), tn); err != nil {
		t.Fatal(err)
	}
	return st, tn
}

// storeVerified stores a connection of tenant acme to role, submitted at
// submitted and verified (external-ID version 1) by a check at checked;
// a non-zero due sets its next check. It returns the stored connection.
func storeVerified(t *testing.T, st *store.Memory, role string, submitted, checked, due time.Time) connection.Connection {
	t.Helper()
	ctx := context.Background()
	p := connection.DefaultPolicy()
	sub := p.Submit(nil, "acme", testarn.MustParse(t, role), 1, submitted)
	if err := st.Apply(ctx, sub); err != nil {
		t.Fatal(err)
	}
	ok, err := p.Apply(sub.After, connection.Outcome{Result: connection.ResultOK, Version: sub.After.Version, ExternalIDVersion: 1, ExternalIDCurrent: true, CheckedAt: checked})
	if err != nil {
		t.Fatal(err)
	}
	if !due.IsZero() {
		ok.After.NextCheckAt = due
	}
	if err := st.Apply(ctx, ok); err != nil {
		t.Fatal(err)
	}
	return ok.After
}

// dueJobs runs a due sweep of st at the time at into a fresh embedded
// queue and returns the jobs it enqueued (up to ten), in order.
func dueJobs(t *testing.T, st sweep.Store, at time.Time) []probe.Job {
	t.Helper()
	ctx := context.Background()
	q := queue.NewMemory()
	s := &sweep.Sweeper{Store: st, Queue: q, Now: func() time.Time { return at }}
	if _, err := s.Due(ctx); err != nil {
		t.Fatal(err)
	}
	msgs, err := q.Receive(ctx, 10, 0)
	if err != nil {
		t.Fatal(err)
	}
	jobs := make([]probe.Job, len(msgs))
	for i, m := range msgs {
		jobs[i] = m.Job
	}
	return jobs
}
