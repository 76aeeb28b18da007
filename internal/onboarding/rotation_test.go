package onboarding_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/onboarding"
	"github.com/rolecall/rolecall/internal/store"
	"github.com/rolecall/rolecall/internal/tenant"
	"github.com/rolecall/rolecall/internal/testkit/logcapture"
)

func TestRotateInTwoPhases(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	acme := f.tenant(t, "acme")

	t.Run("bad grace periods change nothing", func(t *testing.T) {
		for _, g := range []time.Duration{-time.Second, tenant.MaxRotationGrace + time.Second} {
			f.wantRefused(t, onboarding.CodeInvalidGrace, "graceSeconds", func() error {
				_, err := f.svc.RotateExternalID(ctx, "acme", onboarding.RotateOptions{Grace: g})
				return err
			})
		}
	})
	t.Run("no connection relies on the previous ID: retired at once", func(t *testing.T) {
		r, err := f.svc.RotateExternalID(ctx, "acme", onboarding.RotateOptions{Grace: time.Hour})
		if err != nil || r.InGrace() || r.ExternalIDVersion != 2 {
			t.Fatalf("rotate = %+v, %v", r, err)
		}
		evs, _ := f.mem.TenantEvents(ctx, "acme")
		if len(evs) != 2 || evs[0].DetailType != connection.ExternalIDRotationStarted || evs[1].Completion != connection.CompletionAllCurrent {
			t.Fatalf("events %+v", evs)
		}
		acme = r
	})

	if _, err := f.svc.Submit(ctx, acme, roleARN); err != nil {
		t.Fatal(err)
	}
	f.verifyWith(t, "acme", custAccount, acme.ExternalIDVersion)
	f.now = f.now.Add(time.Minute)
	r, err := f.svc.RotateExternalID(ctx, "acme", onboarding.RotateOptions{Grace: 48 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if !r.InGrace() || r.PreviousExternalID != acme.ExternalID || r.PreviousExternalIDVersion != acme.ExternalIDVersion ||
		!r.GraceEndsAt.Equal(f.now.Add(48*time.Hour)) || r.ExternalID == acme.ExternalID {
		t.Fatalf("rotated %+v", r)
	}
	if stored, _ := f.mem.GetTenant(ctx, "acme"); stored != r {
		t.Fatalf("stored %+v, want %+v", stored, r)
	}
	evs, _ := f.mem.TenantEvents(ctx, "acme")
	if last := evs[len(evs)-1]; last.DetailType != connection.ExternalIDRotationStarted || !last.GraceEndsAt.Equal(r.GraceEndsAt) {
		t.Fatalf("events %+v", evs)
	}
	// Jobs during the grace carry both IDs.
	if _, err := f.svc.RequestCheck(ctx, "acme", custAccount); err != nil {
		t.Fatal(err)
	}
	j := f.queue.Jobs()[len(f.queue.Jobs())-1]
	if j.ExternalID != r.ExternalID || j.PreviousExternalID != acme.ExternalID || j.PreviousExternalIDVersion != acme.ExternalIDVersion {
		t.Fatalf("job during grace %+v", j)
	}
	// Rotating again retires the previous ID at once; 0 revokes the
	// replaced one too.
	r2, err := f.svc.RotateExternalID(ctx, "acme", onboarding.RotateOptions{})
	if err != nil || r2.InGrace() {
		t.Fatalf("revoke = %+v, %v", r2, err)
	}
	evs, _ = f.mem.TenantEvents(ctx, "acme")
	if n := len(evs); n < 3 || evs[n-3].Completion != connection.CompletionSuperseded || evs[n-3].ExternalIDVersion != r.ExternalIDVersion ||
		evs[n-2].DetailType != connection.ExternalIDRotationStarted || evs[n-1].Completion != connection.CompletionRevoked || evs[n-1].ExternalIDVersion != r2.ExternalIDVersion {
		t.Fatalf("events %+v", evs)
	}
	f.now = f.now.Add(onboarding.CheckRequestWindow)
	if _, err := f.svc.RequestCheck(ctx, "acme", custAccount); err != nil {
		t.Fatal(err)
	}
	if j := f.queue.Jobs()[len(f.queue.Jobs())-1]; j.PreviousExternalID != "" {
		t.Fatalf("a job after the revocation carries a previous ID: %+v", j)
	}
}

// listFails is the fixture's store whose connection listings fail (a
// throttled Query), so a rotation's early completion cannot run.
type listFails struct{ *hookStore }

func (listFails) ListByTenant(context.Context, string, string, int) (store.Page, error) {
	return store.Page{}, errors.New("dynamodb: ProvisionedThroughputExceededException")
}

// A rotation stored is answered as made, in its grace, when its early
// completion fails: that completion is best effort (the checks and the
// sweep make it later). Answered as failed, the partner's retry would
// rotate again, which supersedes the rotation just made and retires the
// original ID at once, without the grace asked for.
func TestRotationStoredIsAnsweredWhenItsCompletionFails(t *testing.T) {
	ctx, f := context.Background(), verifiedAcme(t)
	logs := logcapture.New(nil)
	f.svc.Store, f.svc.Log = listFails{f.hooks}, slog.New(logs)

	r, err := f.svc.RotateExternalID(ctx, "acme", onboarding.RotateOptions{Grace: 7 * 24 * time.Hour})
	if err != nil {
		t.Fatalf("rotation stored, answered %v", err)
	}
	stored, err := f.mem.GetTenant(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if r.ExternalIDVersion != 2 || !r.InGrace() || stored.ExternalIDVersion != 2 || !stored.AcceptsExternalID(1, true, f.now) {
		t.Errorf("answered %+v, stored %+v; want version 2 with version 1 accepted in its grace", r, stored)
	}
	if n := logs.Count("rotation not completed early; its previous external ID stays accepted until its grace ends"); n != 1 {
		t.Errorf("the failed completion was logged %d times, want once", n)
	}
}

// A rotation waiting in its grace on a connection that relies on the
// previous external ID completes once that connection is disconnected, by
// an operator or by the deletion of the stack that registered it: with no
// live connection left, no check or sweep would reach the tenant again.
func TestRotationCompletesWhenItsLastHolderIsDisconnected(t *testing.T) {
	const stackID = "arn:aws:cloudformation:us-east-1:" + custAccount + ":stack/rolecall/1"
	tests := []struct {
		name       string
		disconnect func(t *testing.T, f *fixture, regs *onboarding.Registrations, acme tenant.Tenant)
	}{
		{"an operator disconnects it", func(t *testing.T, f *fixture, _ *onboarding.Registrations, _ tenant.Tenant) {
			if _, err := f.svc.Disconnect(context.Background(), "acme", custAccount); err != nil {
				t.Fatal(err)
			}
		}},
		{"the stack that registered it is deleted", func(t *testing.T, f *fixture, regs *onboarding.Registrations, acme tenant.Tenant) {
			if _, d, err := regs.StackRoleDeleted(context.Background(), acme, custAccount, roleARN, stackID, "Registration"); err != nil || d != onboarding.StackDisconnected {
				t.Fatalf("stack deleted: %v, %v", d, err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			f, regs, _ := newRegistrations(t, "acme")
			acme, err := f.svc.Tenant(ctx, "acme")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := regs.SubmitFromStack(ctx, acme, roleARN, stackID, "Registration"); err != nil {
				t.Fatal(err)
			}
			f.verifyWith(t, "acme", custAccount, 1)
			r, err := f.svc.RotateExternalID(ctx, "acme", onboarding.RotateOptions{Grace: 48 * time.Hour})
			if err != nil || !r.InGrace() {
				t.Fatalf("rotate = %+v, %v; want it in its grace", r, err)
			}
			tc.disconnect(t, f, regs, r)
			stored, err := f.mem.GetTenant(ctx, "acme")
			if err != nil {
				t.Fatal(err)
			}
			evs, _ := f.mem.TenantEvents(ctx, "acme")
			if last := evs[len(evs)-1]; stored.InGrace() || last.DetailType != connection.ExternalIDRotationCompleted || last.Completion != connection.CompletionAllCurrent {
				t.Errorf("after the disconnection: in grace %t, last event %s %s", stored.InGrace(), last.DetailType, last.Completion)
			}
		})
	}
}

// A disconnection whose completion of the rotation fails is done all the
// same; the failure is logged, and the rotation stays in its grace.
func TestDisconnectionLogsAFailedCompletion(t *testing.T) {
	ctx, f := context.Background(), verifiedAcme(t)
	if _, err := f.svc.RotateExternalID(ctx, "acme", onboarding.RotateOptions{Grace: time.Hour}); err != nil {
		t.Fatal(err)
	}
	logs := logcapture.New(nil)
	f.svc.Store, f.svc.Log = listFails{f.hooks}, slog.New(logs)
	c, err := f.svc.Disconnect(ctx, "acme", custAccount)
	if err != nil || c.Status != connection.Disconnected {
		t.Fatalf("Disconnect = %s, %v", c.Status, err)
	}
	if stored, _ := f.mem.GetTenant(ctx, "acme"); !stored.InGrace() {
		t.Errorf("the rotation was completed although its listing failed")
	}
	if n := len(logs.Records()); n != 1 {
		t.Errorf("%d records logged, want the failed completion once", n)
	}
}

// An invite revoked after its first read, while its tenant is read, is
// refused as revoked: it is read again after the tenant.
func TestInviteRevokedBetweenItsReadsIsRefused(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.tenant(t, "acme")
	code, inv, err := f.svc.CreateInvite(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	f.hooks.tenantRead = func() {
		f.hooks.tenantRead = nil
		if _, err := f.mem.RevokeInvite(ctx, "acme", inv.ID); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.svc.ResolveInvite(ctx, code); !errors.Is(err, tenant.ErrInviteRevoked) {
		t.Errorf("ResolveInvite = %v; want the invite revoked", err)
	}
}

// verifiedAcme is a fixture whose tenant acme has the role roleARN
// verified with its first external ID.
func verifiedAcme(t *testing.T) *fixture {
	t.Helper()
	f := newFixture(t)
	if _, err := f.svc.Submit(context.Background(), f.tenant(t, "acme"), roleARN); err != nil {
		t.Fatal(err)
	}
	f.verifyWith(t, "acme", custAccount, 1)
	return f
}

// A rotation of a tenant whose rotation is still in its grace that fails
// (its connection limit set meanwhile, say) retires nothing: the previous
// external ID stays accepted until its grace ends, and no Completed event
// says a rotation superseded it.
func TestRefusedRotationInAGraceRetiresNothing(t *testing.T) {
	ctx, f := context.Background(), verifiedAcme(t)
	inGrace, err := f.svc.RotateExternalID(ctx, "acme", onboarding.RotateOptions{Grace: 7 * 24 * time.Hour})
	if err != nil || !inGrace.InGrace() {
		t.Fatalf("rotate = %+v, %v; want it in its grace", inGrace, err)
	}
	before, _ := f.mem.TenantEvents(ctx, "acme")
	f.hooks.rotate = func(tenant.Tenant) error { return fmt.Errorf("rotate: %w", store.ErrConflict) }
	defer func() { f.hooks.rotate = nil }()
	f.now = f.now.Add(time.Hour)
	_, err = f.svc.RotateExternalID(ctx, "acme", onboarding.RotateOptions{})
	wantCode(t, err, onboarding.CodeConflict, "")
	if stored, _ := f.mem.GetTenant(ctx, "acme"); stored != inGrace {
		t.Errorf("stored %+v after the refused rotation, want %+v", stored, inGrace)
	}
	if after, _ := f.mem.TenantEvents(ctx, "acme"); len(after) != len(before) {
		t.Errorf("the refused rotation added events: %+v", after[len(before):])
	}
}
