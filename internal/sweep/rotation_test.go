package sweep_test

import (
	"context"
	"testing"
	"time"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/queue"
	"github.com/rolecall/rolecall/internal/rolearn"
	"github.com/rolecall/rolecall/internal/sweep"
)

// Jobs carry the previous external ID only during the grace; the first
// sweep after the grace completes the rotation (GRACE_ENDED).
func TestSweepAcrossTheGrace(t *testing.T) {
	ctx := context.Background()
	st, tn := acmeStore(t)
	p := connection.DefaultPolicy()
	arn, _ := rolearn.Parse("arn:aws:iam::123456789012:role/R", rolearn.Rules{})
	sub := p.Submit(nil, "acme", arn, 1, t0.Add(-3*time.Hour))
	ok, _ := p.Apply(sub.After, connection.Outcome{Result: connection.ResultOK, Version: 1, ExternalIDVersion: 1, ExternalIDCurrent: true, CheckedAt: t0.Add(-3 * time.Hour)})
	for _, tr := range []connection.Transition{sub, ok} {
		if err := st.Apply(ctx, tr); err != nil {
			t.Fatal(err)
		}
	}
	r := tn.RotatedWithGrace(t0.Add(-2*time.Hour), 3*time.Hour) // grace ends at t0+1h
	if err := st.RotateExternalID(ctx, r); err != nil {
		t.Fatal(err)
	}
	sweepAt := func(at time.Time) []string {
		t.Helper()
		q := queue.NewMemory()
		s := &sweep.Sweeper{Store: st, Queue: q, Now: func() time.Time { return at }}
		if _, err := s.Due(ctx); err != nil {
			t.Fatal(err)
		}
		msgs, _ := q.Receive(ctx, 10, 0)
		var prev []string
		for _, m := range msgs {
			if m.Job.ExternalID != r.ExternalID {
				t.Errorf("job with external ID version %d", m.Job.ExternalIDVersion)
			}
			prev = append(prev, m.Job.PreviousExternalID)
		}
		return prev
	}
	if prev := sweepAt(t0); len(prev) != 1 || prev[0] != tn.ExternalID {
		t.Fatalf("during the grace jobs carry %q", prev)
	}
	if got, _ := st.GetTenant(ctx, "acme"); !got.InGrace() {
		t.Fatal("a sweep during the grace completed the rotation")
	}
	if prev := sweepAt(t0.Add(2 * time.Hour)); len(prev) != 1 || prev[0] != "" {
		t.Fatalf("after the grace jobs carry %q", prev)
	}
	got, _ := st.GetTenant(ctx, "acme")
	evs, _ := st.TenantEvents(ctx, "acme")
	if got != r.Retired() || len(evs) != 2 || evs[1].Completion != connection.CompletionGraceEnded {
		t.Fatalf("after the grace: %+v, events %+v", got, evs)
	}
}
