package sweep_test

import (
	"context"
	"testing"
	"time"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/probe"
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
	jobs := dueJobs(t, st, t0)
	if len(jobs) != 2 {
		t.Fatalf("%d jobs, want the role's and the candidate's", len(jobs))
	}
	whys := map[string]bool{}
	for _, j := range jobs {
		whys[j.Why] = j.IsCandidate()
		if j.Connection != cand.After || j.ExternalID != tn.ExternalID {
			t.Errorf("job %+v", j)
		}
	}
	if !whys[probe.WhyCandidate] || whys[probe.WhyScheduled] || len(whys) != 2 {
		t.Fatalf("jobs %v", whys)
	}
}
