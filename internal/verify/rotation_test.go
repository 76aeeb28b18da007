package verify_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/probe"
	"github.com/rolecall/rolecall/internal/store"
	"github.com/rolecall/rolecall/internal/tenant"
)

// A rotation in two phases through the worker: during the grace a role that
// trusts only the previous ID stays VERIFIED with externalIdCurrent false;
// once it trusts the current one, the rotation completes (every connection
// is current) and the previous ID is retired; a job from before the
// rotation, redelivered after it, changes nothing.
func TestProcessAcrossRotation(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	c := seed(t, st, "123456789012", connection.Verified)
	c = lose(t, st, c)
	old := job(c, probe.WhyScheduled) // made before the rotation
	tn, _ := st.GetTenant(ctx, "acme")
	r := tn.RotatedWithGrace(t0.Add(30*time.Minute), 24*time.Hour)
	if err := st.RotateExternalID(ctx, tn, r); err != nil {
		t.Fatal(err)
	}
	trusted := map[string]bool{externalID: true} // the role's trust policy
	ch := &scriptedChecker{answer: func(req probe.Request) (connection.Outcome, chan struct{}) {
		o := connection.Outcome{Version: req.Version, ExternalIDVersion: req.ExternalIDVersion, CheckedAt: t0.Add(time.Hour)}
		switch {
		case trusted[req.ExternalID]:
			o.Result, o.ExternalIDCurrent = connection.ResultOK, true
		case req.PreviousExternalID != "" && trusted[req.PreviousExternalID]:
			o.Result = connection.ResultOK // only the previous one worked
		default:
			o.Result = connection.ResultDenied
		}
		return o, nil
	}}
	w := newWorker(st, ch, nil)

	// The pre-rotation job comes back by redelivery: v1 is no longer
	// current, so its success restores nothing.
	if _, err := w.Process(ctx, old, 2); err != nil {
		t.Fatal(err)
	}
	if got, _ := st.GetConnection(ctx, "acme", "123456789012"); got.Status != connection.AccessLost {
		t.Fatalf("a redelivered pre-rotation job restored: %+v", got)
	}
	// A job made during the grace carries both IDs: restored, not current.
	cur, _ := st.GetConnection(ctx, "acme", "123456789012")
	stored, _ := st.GetTenant(ctx, "acme")
	j := probe.JobsFor(cur, stored, probe.WhyScheduled, t0.Add(time.Hour))[0]
	if j.PreviousExternalID != externalID || j.ExternalID != r.ExternalID {
		t.Fatalf("job during grace %+v", j)
	}
	if _, err := w.Process(ctx, j, 1); err != nil {
		t.Fatal(err)
	}
	got, _ := st.GetConnection(ctx, "acme", "123456789012")
	if got.Status != connection.Verified || got.ExternalIDCurrent || got.ExternalIDVersion != 1 {
		t.Fatalf("previous-only success: %+v", got)
	}
	if stored, _ := st.GetTenant(ctx, "acme"); !stored.InGrace() {
		t.Fatal("the rotation completed while a connection relies on the previous ID")
	}
	// The customer updates the trust policy to the new ID.
	trusted[r.ExternalID] = true
	ch.answer = func(req probe.Request) (connection.Outcome, chan struct{}) {
		return connection.Outcome{Result: connection.ResultOK, ExternalIDCurrent: true, Version: req.Version, ExternalIDVersion: req.ExternalIDVersion, CheckedAt: t0.Add(2 * time.Hour)}, nil
	}
	j = probe.JobsFor(got, stored, probe.WhyScheduled, t0.Add(2*time.Hour))[0]
	if _, err := w.Process(ctx, j, 1); err != nil {
		t.Fatal(err)
	}
	got, _ = st.GetConnection(ctx, "acme", "123456789012")
	if got.Status != connection.Verified || !got.ExternalIDCurrent || got.ExternalIDVersion != 2 {
		t.Fatalf("current success: %+v", got)
	}
	done, _ := st.GetTenant(ctx, "acme")
	want := r.Retired()
	want.GraceWrites = 1 // the success with the previous ID
	if done.InGrace() || done != want {
		t.Fatalf("rotation not completed: %+v", done)
	}
	evs, _ := st.TenantEvents(ctx, "acme")
	if len(evs) != 2 || evs[1].Completion != connection.CompletionAllCurrent {
		t.Fatalf("tenant events %+v", evs)
	}
	// Jobs no longer carry the retired ID.
	if j := probe.JobsFor(got, done, probe.WhyScheduled, t0.Add(2*time.Hour))[0]; j.PreviousExternalID != "" {
		t.Fatalf("job after completion %+v", j)
	}
}

// A job made during the grace carries the previous external ID; checked
// after the rotation completed (the previous ID retired), its success with
// the previous ID only changes nothing, routine as it is: the connection's
// check times stay, so its next check, with the current ID, comes when due.
func TestLateJobWithTheRetiredPreviousID(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	c := seed(t, st, "123456789012", connection.Verified)
	tn, _ := st.GetTenant(ctx, "acme")
	r := tn.RotatedWithGrace(t0.Add(30*time.Minute), 24*time.Hour) // grace ends t0+24h30m
	if err := st.RotateExternalID(ctx, tn, r); err != nil {
		t.Fatal(err)
	}
	checkedAt := t0.Add(time.Hour)
	ch := &scriptedChecker{answer: func(req probe.Request) (connection.Outcome, chan struct{}) {
		// The role trusts only the previous ID.
		return connection.Outcome{Result: connection.ResultOK, Version: req.Version, ExternalIDVersion: req.PreviousExternalIDVersion, CheckedAt: checkedAt}, nil
	}}
	w := newWorker(st, ch, nil)
	cur, _ := st.GetConnection(ctx, "acme", c.AccountID)
	inGrace, _ := st.GetTenant(ctx, "acme")
	if _, err := w.Process(ctx, probe.JobsFor(cur, inGrace, probe.WhyScheduled, t0.Add(time.Hour))[0], 1); err != nil {
		t.Fatal(err)
	}
	// Another job made just before the grace ends (e.g. waiting in the
	// routine queue, or redelivered after transient failures).
	cur, _ = st.GetConnection(ctx, "acme", c.AccountID)
	late := probe.JobsFor(cur, inGrace, probe.WhyScheduled, t0.Add(24*time.Hour))[0]
	if late.PreviousExternalID == "" {
		t.Fatal("job made during the grace carries no previous ID")
	}
	// The grace ends; the sweep completes the rotation.
	if err := st.CompleteRotation(ctx, inGrace, connection.CompletionGraceEnded, t0.Add(25*time.Hour)); err != nil {
		t.Fatal(err)
	}
	before, _ := st.GetConnection(ctx, "acme", c.AccountID)
	checkedAt = t0.Add(26 * time.Hour) // the late job's check runs after completion
	if _, err := w.Process(ctx, late, 1); err != nil {
		t.Fatal(err)
	}
	after, _ := st.GetConnection(ctx, "acme", c.AccountID)
	if !after.LastCheckedAt.Equal(before.LastCheckedAt) || !after.NextCheckAt.Equal(before.NextCheckAt) {
		t.Fatalf("a success with the retired previous ID was written: lastCheckedAt %s -> %s, nextCheckAt %s -> %s, status %s",
			before.LastCheckedAt, after.LastCheckedAt, before.NextCheckAt, after.NextCheckAt, after.Status)
	}
}

// completionRefused is an embedded store whose CompleteRotation fails.
type completionRefused struct{ *store.Memory }

func (completionRefused) CompleteRotation(context.Context, tenant.Tenant, string, time.Time) error {
	return errors.New("dynamodb: throttled")
}

// When the last connection on the previous ID verifies with the current
// one but the rotation cannot be completed then, the check's outcome is
// written all the same, the failure is logged (without the external IDs),
// and the rotation stays in its grace for the sweep to complete.
func TestCheckStandsWhenItsRotationCannotComplete(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	c := seed(t, st, "123456789012", connection.Verified)
	tn, _ := st.GetTenant(ctx, "acme")
	r := tn.RotatedWithGrace(t0.Add(30*time.Minute), 24*time.Hour)
	if err := st.RotateExternalID(ctx, tn, r); err != nil {
		t.Fatal(err)
	}
	ch := &scriptedChecker{answer: func(req probe.Request) (connection.Outcome, chan struct{}) {
		return connection.Outcome{Result: connection.ResultOK, ExternalIDCurrent: true, Version: req.Version, ExternalIDVersion: req.ExternalIDVersion, CheckedAt: t0.Add(time.Hour)}, nil
	}}
	var logs bytes.Buffer
	w := newWorker(completionRefused{st}, ch, &logs)
	j := probe.JobsFor(c, r, probe.WhyScheduled, t0.Add(time.Hour))[0]
	if _, err := w.Process(ctx, j, 1); err != nil {
		t.Fatalf("Process: %v; a rotation left open must not fail the check", err)
	}
	if got, _ := st.GetConnection(ctx, "acme", "123456789012"); !got.ExternalIDCurrent || got.ExternalIDVersion != r.ExternalIDVersion {
		t.Fatalf("the check's outcome was not written: %+v", got)
	}
	if got, _ := st.GetTenant(ctx, "acme"); !got.InGrace() {
		t.Fatal("the rotation completed although the store refused")
	}
	if !strings.Contains(logs.String(), "rotation not settled") || strings.Contains(logs.String(), r.ExternalID) || strings.Contains(logs.String(), tn.ExternalID) {
		t.Fatalf("logs: want the failure named, no external ID:\n%s", logs.String())
	}
}
