package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/store"
)

func testClaims(t *testing.T, f *Fixture) {
	const role = "arn:aws:iam::111111111111:role/Deploy"
	const acct = "111111111111"
	f.MustSubmit("acme", role)
	// Submissions never claim, so they are never refused because of
	// another tenant's role: PENDING connections hold no claim.
	f.MustSubmit("bravo", role)
	f.MustSubmit("charlie", "arn:aws:iam::111111111111:role/team/DEPLOY") // a spelling of the same role

	verify := func(t *testing.T, tenantID string, want error) {
		t.Helper()
		before := f.Current(tenantID, acct)
		evs := f.Events(tenantID, acct)
		_, err := f.Check(tenantID, acct, connection.ResultOK)
		wantErr(t, "verify "+tenantID, err, want)
		if want != nil {
			wantConn(t, f.Current(tenantID, acct), *before)
			wantEvents(t, f.Events(tenantID, acct), evs)
		}
	}
	t.Run("first to verify claims", func(t *testing.T) {
		defer f.Sub(t)()
		verify(t, "acme", nil)
		verify(t, "bravo", store.ErrRoleClaimed)
		verify(t, "charlie", store.ErrRoleClaimed)
	})
	t.Run("a refused claim fails the connection, which holds nothing", func(t *testing.T) {
		defer f.Sub(t)()
		c := *f.Current("bravo", acct)
		tr, err := f.Policy.RoleClaimed(c, connection.Outcome{ExternalIDCurrent: true, Result: connection.ResultOK, Version: c.Version, ExternalIDVersion: 1, CheckedAt: f.Now})
		if err != nil {
			t.Fatal(err)
		}
		wantErr(t, "role claimed", f.S.Apply(f.Ctx, tr), nil)
		got := f.Current("bravo", acct)
		if got.Status != connection.Failed || got.Reason.Code != connection.CodeRoleClaimed {
			t.Fatalf("after a refused claim: %+v", got)
		}
		verify(t, "bravo", store.ErrRoleClaimed) // still acme's
	})
	t.Run("same name in another account is another role", func(t *testing.T) {
		defer f.Sub(t)()
		f.MustSubmit("bravo", "arn:aws:iam::222222222222:role/Deploy")
		f.MustCheck("bravo", "222222222222", connection.ResultOK)
	})
	t.Run("a FAILED connection holds no claim", func(t *testing.T) {
		defer f.Sub(t)()
		const other = "arn:aws:iam::333333333333:role/Shared"
		f.MustSubmit("delta", other)
		f.Now = f.Now.Add(3 * time.Minute) // past the propagation window
		if tr := f.MustCheck("delta", "333333333333", connection.ResultDenied); tr.After.Status != connection.Failed {
			t.Fatalf("denied after the window: %+v", tr.After)
		}
		f.MustSubmit("echo", other)
		f.MustCheck("echo", "333333333333", connection.ResultOK)
		_, err := f.Check("delta", "333333333333", connection.ResultOK)
		wantErr(t, "FAILED connection verifying a role claimed meanwhile", err, store.ErrRoleClaimed)
	})
	t.Run("ACCESS_LOST keeps the claim; VERIFIED again re-uses it", func(t *testing.T) {
		defer f.Sub(t)()
		f.Now = f.Now.Add(time.Hour)
		f.MustCheck("acme", acct, connection.ResultDenied)
		if tr := f.MustCheck("acme", acct, connection.ResultDenied); tr.After.Status != connection.AccessLost {
			t.Fatalf("two denials: %+v", tr.After)
		}
		verify(t, "charlie", store.ErrRoleClaimed)
		if tr := f.MustCheck("acme", acct, connection.ResultOK); tr.After.Status != connection.Verified {
			t.Fatalf("restored: %+v", tr.After)
		}
	})
	t.Run("resubmitting another role releases the old claim", func(t *testing.T) {
		defer f.Sub(t)()
		f.Now = f.Now.Add(time.Hour)
		f.MustCheck("acme", acct, connection.ResultDenied)
		f.MustCheck("acme", acct, connection.ResultDenied) // ACCESS_LOST
		f.MustSubmit("acme", "arn:aws:iam::111111111111:role/NewRole")
		verify(t, "charlie", nil) // the old role is free once acme's connection stops holding it
		_, err := f.Check("acme", acct, connection.ResultOK)
		wantErr(t, "acme verifies its new role", err, nil)
	})
	t.Run("disconnect releases the claim", func(t *testing.T) {
		defer f.Sub(t)()
		_, err := f.Disconnect("charlie", acct)
		wantErr(t, "disconnect", err, nil)
		again := f.Policy.Disconnect(*f.Current("charlie", acct), 1, f.Now)
		if again.Changed() {
			t.Fatal("disconnecting twice should change nothing")
		}
		f.MustSubmit("bravo", role) // FAILED ROLE_CLAIMED -> PENDING
		verify(t, "bravo", nil)
		f.MustSubmit("charlie", role) // reconnecting is a submission: never refused
		verify(t, "charlie", store.ErrRoleClaimed)
	})
	t.Run("claim refusal wins over a version conflict", func(t *testing.T) {
		defer f.Sub(t)()
		stale := *f.Current("charlie", acct)
		f.MustSubmit("charlie", "arn:aws:iam::111111111111:role/Third")
		tr, err := f.Policy.Apply(stale, connection.Outcome{ExternalIDCurrent: true, Result: connection.ResultOK, Version: stale.Version, ExternalIDVersion: 1, CheckedAt: f.Now})
		if err != nil {
			t.Fatal(err)
		}
		wantErr(t, "stale verification of a claimed role", f.S.Apply(f.Ctx, tr), store.ErrRoleClaimed)
	})
	t.Run("a stale holder of a claim taken over since conflicts", func(t *testing.T) {
		defer f.Sub(t)()
		const shared, acct = "arn:aws:iam::444444444444:role/Shared", "444444444444"
		f.MustSubmit("golf", shared)
		f.MustCheck("golf", acct, connection.ResultOK)
		f.Now = f.Now.Add(time.Hour)
		f.MustCheck("golf", acct, connection.ResultDenied)
		holder := *f.Current("golf", acct) // VERIFIED, holding the claim, one denial from losing access
		_, err := f.Disconnect("golf", acct)
		wantErr(t, "disconnect", err, nil)
		f.MustSubmit("hotel", shared)
		f.MustCheck("hotel", acct, connection.ResultOK) // the claim is hotel's now
		f.Now = f.Now.Add(time.Hour)
		tr, err := f.Policy.Apply(holder, connection.Outcome{Result: connection.ResultDenied, Version: holder.Version, ExternalIDVersion: 1, CheckedAt: f.Now})
		if err != nil {
			t.Fatal(err)
		}
		// Before held the claim, so none is written: the snapshot decides.
		wantErr(t, "apply a check of the stale holder", f.S.Apply(f.Ctx, tr), store.ErrConflict)
	})
}

func testClaimRace(t *testing.T, f *Fixture) {
	const n = 100
	a := f.ARN("arn:aws:iam::123456789012:role/Shared")
	// Every tenant's submission is accepted: none claims.
	trs := make([]connection.Transition, n)
	for i := range n {
		tid := fmt.Sprintf("race-%03d", i)
		f.MustSubmit(tid, a.String())
		c := f.Current(tid, a.Account)
		tr, err := f.Policy.Apply(*c, connection.Outcome{ExternalIDCurrent: true, Result: connection.ResultOK, Version: c.Version, ExternalIDVersion: 1, CheckedAt: f.Now})
		if err != nil || tr.After.Status != connection.Verified {
			t.Fatalf("tenant %d: %+v %v", i, tr, err)
		}
		trs[i] = tr
	}
	// All verify at once: exactly one claims.
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = f.S.Apply(f.Ctx, trs[i])
		}()
	}
	close(start)
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner < 0:
			winner = i
		case err == nil:
			t.Errorf("tenants %d and %d both claimed the role", winner, i)
		case !errors.Is(err, store.ErrRoleClaimed):
			t.Errorf("tenant %d: got %v, want ErrRoleClaimed", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no tenant claimed the role")
	}
	for i := range n {
		tid := fmt.Sprintf("race-%03d", i)
		c, evs := f.Current(tid, a.Account), f.Events(tid, a.Account)
		want, wantEvs := connection.Pending, 1
		if i == winner {
			want, wantEvs = connection.Verified, 2
		}
		if c.Status != want || len(evs) != wantEvs {
			t.Fatalf("tenant %d (winner %d): connection %+v, %d events", i, winner, c, len(evs))
		}
	}
}
