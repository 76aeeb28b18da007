package sweep_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/queue"
	"github.com/rolecall/rolecall/internal/store"
	"github.com/rolecall/rolecall/internal/sweep"
	"github.com/rolecall/rolecall/internal/tenant"
	"github.com/rolecall/rolecall/internal/testkit/logcapture"
	"github.com/rolecall/rolecall/internal/testkit/syncbuf"
)

// Jobs carry the previous external ID only during the grace; the first
// sweep after the grace completes the rotation (GRACE_ENDED).
func TestSweepAcrossTheGrace(t *testing.T) {
	ctx := context.Background()
	st, tn := acmeStore(t)
	storeVerified(t, st, "arn:aws:iam::123456789012:role/R", t0.Add(-3*time.Hour), t0.Add(-3*time.Hour), time.Time{})
	r := tn.RotatedWithGrace(t0.Add(-2*time.Hour), 3*time.Hour) // grace ends at t0+1h
	if err := st.RotateExternalID(ctx, tn, r); err != nil {
		t.Fatal(err)
	}
	sweepAt := func(at time.Time) []string {
		t.Helper()
		var prev []string
		for _, j := range dueJobs(t, st, at) {
			if j.ExternalID != r.ExternalID {
				t.Errorf("job with external ID version %d", j.ExternalIDVersion)
			}
			prev = append(prev, j.PreviousExternalID)
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

// completionFails is an embedded store whose CompleteRotation fails.
type completionFails struct{ *store.Memory }

func (completionFails) CompleteRotation(context.Context, tenant.Tenant, string, time.Time) error {
	return errors.New("dynamodb: internal server error")
}

// A rotation that cannot be completed after the grace is left for the next
// sweep, which completes it; meanwhile jobs carry no previous external ID.
func TestSweepAfterTheGraceCompletionFails(t *testing.T) {
	ctx := context.Background()
	st, tn := acmeStore(t)
	storeVerified(t, st, "arn:aws:iam::123456789012:role/R", t0.Add(-3*time.Hour), t0.Add(-3*time.Hour), time.Time{})
	r := tn.RotatedWithGrace(t0.Add(-2*time.Hour), time.Hour) // grace ended at t0-1h
	if err := st.RotateExternalID(ctx, tn, r); err != nil {
		t.Fatal(err)
	}
	var logs syncbuf.Buffer
	capture := logcapture.New(slog.NewJSONHandler(&logs, nil))
	q := queue.NewMemory()
	s := &sweep.Sweeper{Store: completionFails{st}, Queue: q, Now: func() time.Time { return t0 }, Log: slog.New(capture)}
	if res, err := s.Due(ctx); err != nil || res.Enqueued != 1 {
		t.Fatalf("sweep = %+v, %v; a rotation left for later must not fail it", res, err)
	}
	msgs, _ := q.Receive(ctx, 10, 0)
	if len(msgs) != 1 || msgs[0].Job.PreviousExternalID != "" || msgs[0].Job.ExternalID != r.ExternalID {
		t.Fatalf("jobs %+v; want one with the current external ID only", msgs)
	}
	if got, _ := st.GetTenant(ctx, "acme"); !got.InGrace() {
		t.Fatal("the rotation completed although the store refused")
	}
	if n := capture.Count("rotation not completed; the next sweep tries again"); n != 1 {
		t.Fatalf("%d warnings of the failed completion, want 1:\n%s", n, logs.String())
	}
	for _, id := range []string{tn.ExternalID, r.ExternalID} {
		if strings.Contains(logs.String(), id) {
			t.Fatal("the logs disclose an external ID")
		}
	}
	s.Store = st
	if _, err := s.Due(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := st.GetTenant(ctx, "acme"); got != r.Retired() {
		t.Fatalf("the next sweep left %+v", got)
	}
}

// graceListingFails is an embedded store whose listing of ended graces
// fails.
type graceListingFails struct{ *store.Memory }

func (graceListingFails) GracesEnded(context.Context, time.Time, int) ([]string, error) {
	return nil, errors.New("dynamodb: throttled")
}

// A due sweep completes the rotation of a tenant without a live connection
// once its grace has ended (GRACE_ENDED, with its event), and leaves a
// rotation still in its grace; a failed listing fails the sweep.
func TestSweepCompletesTheRotationOfATenantWithoutConnections(t *testing.T) {
	ctx := context.Background()
	st, tn := acmeStore(t)
	ended := tn.RotatedWithGrace(t0.Add(-2*time.Hour), time.Hour) // ended at t0-1h
	if err := st.RotateExternalID(ctx, tn, ended); err != nil {
		t.Fatal(err)
	}
	other, err := tenant.New("globex", "Globex", t0)
	if err != nil {
		t.Fatal(err)
	}
	inGrace := other.RotatedWithGrace(t0, time.Hour)
	if err := st.CreateTenant(ctx, other); err != nil {
		t.Fatal(err)
	}
	if err := st.RotateExternalID(ctx, other, inGrace); err != nil {
		t.Fatal(err)
	}

	s := &sweep.Sweeper{Store: graceListingFails{st}, Queue: queue.NewMemory(), Now: func() time.Time { return t0 }, Log: slog.New(slog.DiscardHandler)}
	if res, err := s.Due(ctx); err == nil || !strings.Contains(err.Error(), "throttled") || res.RotationsCompleted != 0 {
		t.Fatalf("sweep with a failed listing = %+v, %v; want its error", res, err)
	}
	// A store that lists no graces leaves them to the connections.
	s.Store = struct{ sweep.Store }{st}
	if res, err := s.Due(ctx); err != nil || res.RotationsCompleted != 0 {
		t.Fatalf("sweep of a store without graces = %+v, %v", res, err)
	}
	s.Store = completionFails{st}
	if res, err := s.Due(ctx); err != nil || res.RotationsCompleted != 0 {
		t.Fatalf("sweep with a failed completion = %+v, %v; want it left for the next sweep", res, err)
	}
	s.Store = st
	res, err := s.Due(ctx)
	if err != nil || res.RotationsCompleted != 1 || res.Enqueued != 0 {
		t.Fatalf("sweep = %+v, %v; want one rotation completed, no job", res, err)
	}
	got, _ := st.GetTenant(ctx, "acme")
	evs, _ := st.TenantEvents(ctx, "acme")
	if got != ended.Retired() || len(evs) != 2 || evs[1].Completion != connection.CompletionGraceEnded {
		t.Fatalf("acme after the sweep: %+v, events %+v", got, evs)
	}
	if got, _ := st.GetTenant(ctx, "globex"); got != inGrace {
		t.Fatalf("globex, still in its grace, became %+v", got)
	}
	if res, err := s.Due(ctx); err != nil || res.RotationsCompleted != 0 {
		t.Fatalf("a second sweep = %+v, %v; want nothing more to complete", res, err)
	}
}
