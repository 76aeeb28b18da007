package sweep_test

import (
	"context"
	"testing"
	"time"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/probe"
	"github.com/rolecall/rolecall/internal/queue"
	"github.com/rolecall/rolecall/internal/sweep"
	"github.com/rolecall/rolecall/internal/testkit/testarn"
)

// A due connection with a pending candidate gets two jobs: one for the role
// in use, one (WhyCandidate) for the candidate, so a candidate whose first
// check was lost is picked up by the safety net.
func TestDueCandidate(t *testing.T) {
	ctx := context.Background()
	st, tn := acmeStore(t)
	p := connection.DefaultPolicy()
	old := storeVerified(t, st, "arn:aws:iam::123456789012:role/Old", t0.Add(-2*time.Hour), t0.Add(-2*time.Hour), time.Time{})
	cand := p.Submit(&old, "acme", testarn.MustParse(t, "arn:aws:iam::123456789012:role/New"), 1, t0.Add(-time.Minute))
	if err := st.Apply(ctx, cand); err != nil {
		t.Fatal(err)
	}
	q := queue.NewMemory()
	s := &sweep.Sweeper{Store: st, Queue: q, Now: func() time.Time { return t0 }}
	if _, err := s.Due(ctx); err != nil {
		t.Fatal(err)
	}
	msgs, err := q.Receive(ctx, 10, 0)
	if err != nil || len(msgs) != 2 {
		t.Fatalf("%d jobs, %v; want the role's and the candidate's", len(msgs), err)
	}
	whys := map[string]bool{}
	for _, m := range msgs {
		whys[m.Job.Why] = m.Job.IsCandidate()
		if m.Job.Connection != cand.After || m.Job.ExternalID != tn.ExternalID {
			t.Errorf("job %+v", m.Job)
		}
	}
	if !whys[probe.WhyCandidate] || whys[probe.WhyScheduled] || len(whys) != 2 {
		t.Fatalf("jobs %v", whys)
	}
}
