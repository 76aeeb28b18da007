package connection_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/rolearn"
	"github.com/rolecall/rolecall/internal/tenant"
	"github.com/rolecall/rolecall/internal/testkit/testarn"
)

const (
	tenantID = "acme"
	account  = "123456789012"
	roleA    = "arn:aws:iam::123456789012:role/RoleCall"
	roleB    = "arn:aws:iam::123456789012:role/team/RoleCallV2"
)

var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// conn returns a connection in status st at version 3, submitted at t0.
func conn(st connection.Status, failures int, reason string) connection.Connection {
	c := connection.Connection{
		TenantID: tenantID, AccountID: account, RoleARN: roleA, Status: st,
		Reason:              connection.Reason{Code: reason, Message: "m"},
		Version:             3,
		ConsecutiveFailures: failures,
		SubmittedAt:         t0,
		UpdatedAt:           t0,
		NextCheckAt:         t0.Add(time.Minute),
		ExternalIDVersion:   1,
	}
	if st == connection.Verified || st == connection.AccessLost {
		c.VerifiedAt = t0
	}
	if st == connection.Disconnected {
		c.NextCheckAt = time.Time{}
	}
	return c
}

// checkEvent asserts what every transition with an event must satisfy.
func checkEvent(t *testing.T, before *connection.Connection, tr connection.Transition, dt connection.DetailType, at time.Time, extVersion int) {
	t.Helper()
	ev := tr.Event
	if ev == nil {
		t.Fatalf("want a %q event, got none (after %+v)", dt, tr.After)
	}
	var wantVersion int64 = 1
	var prev connection.Status
	if before != nil {
		wantVersion = before.Version + 1
		prev = before.Status
		if tr.Before == nil || *tr.Before != *before {
			t.Fatalf("Transition.Before = %+v, want %+v", tr.Before, before)
		}
	} else if tr.Before != nil {
		t.Fatalf("Transition.Before = %+v, want nil for a new connection", tr.Before)
	}
	if tr.After.Version != wantVersion {
		t.Fatalf("version %d, want %d (exactly one bump)", tr.After.Version, wantVersion)
	}
	want := connection.Event{
		EventID:           connection.EventID(tr.After.TenantID, tr.After.AccountID, wantVersion),
		DetailType:        dt,
		TenantID:          tr.After.TenantID,
		AccountID:         tr.After.AccountID,
		RoleARN:           tr.After.RoleARN,
		Status:            tr.After.Status,
		PreviousStatus:    prev,
		Reason:            tr.After.Reason,
		OccurredAt:        at,
		Version:           wantVersion,
		ExternalIDVersion: extVersion,
		ExternalIDCurrent: tr.After.ExternalIDCurrent,
	}
	if *ev != want {
		t.Fatalf("event\n got %+v\nwant %+v", *ev, want)
	}
	if !tr.After.UpdatedAt.Equal(at) {
		t.Fatalf("UpdatedAt = %v, want %v", tr.After.UpdatedAt, at)
	}
	if tr.After.Reason.Code == "" || tr.After.Reason.Message == "" {
		t.Fatalf("transition without a reason: %+v", tr.After.Reason)
	}
	if !tr.Changed() {
		t.Fatal("a transition with an event must report Changed")
	}
}

// checkRoutine asserts that tr moves only check bookkeeping.
func checkRoutine(t *testing.T, before connection.Connection, tr connection.Transition) {
	t.Helper()
	if tr.Event != nil {
		t.Fatalf("routine check emitted %+v", *tr.Event)
	}
	if tr.Before == nil || *tr.Before != before {
		t.Fatalf("Transition.Before = %+v, want %+v", tr.Before, before)
	}
	a, b := tr.After, before
	for _, c := range []*connection.Connection{&a, &b} {
		c.LastCheckedAt, c.NextCheckAt, c.ConsecutiveFailures, c.ExternalIDVersion, c.ExternalIDCurrent = time.Time{}, time.Time{}, 0, 0, false
	}
	if a != b {
		t.Fatalf("routine check changed more than check times and failures:\n got %+v\nwant %+v", tr.After, before)
	}
}

func TestSubmit(t *testing.T) {
	p := connection.DefaultPolicy()
	now := t0.Add(time.Hour)
	tests := []struct {
		name     string
		existing *connection.Connection
		arn      string
		change   bool
	}{
		{"new", nil, roleA, true},
		{"same ARN while PENDING", ptr(conn(connection.Pending, 1, connection.CodeSubmitted)), roleA, false},
		{"same ARN while VERIFIED", ptr(conn(connection.Verified, 0, connection.CodeVerified)), roleA, false},
		{"new ARN while PENDING", ptr(conn(connection.Pending, 2, connection.CodeSubmitted)), roleB, true},
		{"same ARN after FAILED", ptr(conn(connection.Failed, 4, string(connection.ResultDenied))), roleA, true},
		{"new ARN after FAILED", ptr(conn(connection.Failed, 4, string(connection.ResultDenied))), roleB, true},
		// Already due: nothing to bring forward (TestSubmitSameRoleWhileAccessLost).
		{"same ARN while ACCESS_LOST", ptr(conn(connection.AccessLost, 2, string(connection.ResultDenied))), roleA, false},
		{"new ARN while ACCESS_LOST", ptr(conn(connection.AccessLost, 2, string(connection.ResultDenied))), roleB, true},
		{"same ARN after DISCONNECTED", ptr(conn(connection.Disconnected, 0, connection.CodeDisconnected)), roleA, true},
		{"new ARN after DISCONNECTED", ptr(conn(connection.Disconnected, 0, connection.CodeDisconnected)), roleB, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var snapshot connection.Connection
			if tt.existing != nil {
				snapshot = *tt.existing
			}
			tr := p.Submit(tt.existing, tenantID, testarn.MustParse(t, tt.arn), 7, now)
			if tt.existing != nil && *tt.existing != snapshot {
				t.Fatal("Submit modified the existing connection")
			}
			if !tt.change {
				if tr.Changed() || tr.Event != nil || tr.After != *tt.existing {
					t.Fatalf("want no change, got %+v", tr)
				}
				return
			}
			checkEvent(t, tt.existing, tr, connection.RoleSubmitted, now, 7)
			a := tr.After
			if a.Status != connection.Pending || a.RoleARN != tt.arn || a.TenantID != tenantID || a.AccountID != account {
				t.Fatalf("after = %+v", a)
			}
			if a.Reason.Code != connection.CodeSubmitted || !a.SubmittedAt.Equal(now) ||
				!a.NextCheckAt.Equal(now.Add(p.PendingSafetyNet)) || a.ConsecutiveFailures != 0 ||
				!a.VerifiedAt.IsZero() || !a.LastCheckedAt.IsZero() {
				t.Fatalf("after = %+v", a)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestApply(t *testing.T) {
	p := connection.DefaultPolicy()
	type want struct {
		status   connection.Status
		event    connection.DetailType // "" for a routine check
		reason   string                // reason code after (checked when set)
		failures int
		next     time.Duration // exact delay to NextCheckAt when jitter is 0 ...
		jittered bool          // ... or the interval that is jittered by ±Jitter
	}
	tests := []struct {
		name   string
		before connection.Connection
		result connection.Result
		detail string
		at     time.Duration // after t0 (= SubmittedAt)
		want   want
	}{
		// PENDING
		{"pending ok", conn(connection.Pending, 0, connection.CodeSubmitted), connection.ResultOK, "", 3 * time.Second,
			want{connection.Verified, connection.RoleVerified, connection.CodeVerified, 0, p.PropagationWindow, false}},
		{"pending ok after denials", conn(connection.Pending, 3, connection.CodeSubmitted), connection.ResultOK, "", 50 * time.Second,
			want{connection.Verified, connection.RoleVerified, connection.CodeVerified, 0, p.PropagationWindow, false}},
		{"pending denied 1st in window", conn(connection.Pending, 0, connection.CodeSubmitted), connection.ResultDenied, "", 2 * time.Second,
			want{connection.Pending, "", connection.CodeSubmitted, 1, 5 * time.Second, false}},
		{"pending denied 2nd in window", conn(connection.Pending, 1, connection.CodeSubmitted), connection.ResultDenied, "", 10 * time.Second,
			want{connection.Pending, "", connection.CodeSubmitted, 2, 10 * time.Second, false}},
		{"pending denied 3rd in window", conn(connection.Pending, 2, connection.CodeSubmitted), connection.ResultDenied, "", 20 * time.Second,
			want{connection.Pending, "", connection.CodeSubmitted, 3, 20 * time.Second, false}},
		{"pending denied 4th in window, backoff at max", conn(connection.Pending, 3, connection.CodeSubmitted), connection.ResultDenied, "", 40 * time.Second,
			want{connection.Pending, "", connection.CodeSubmitted, 4, 30 * time.Second, false}},
		{"pending denied 9th in window, backoff stays at max", conn(connection.Pending, 8, connection.CodeSubmitted), connection.ResultDenied, "", 60 * time.Second,
			want{connection.Pending, "", connection.CodeSubmitted, 9, 30 * time.Second, false}},
		{"pending denied near window end, capped at window end", conn(connection.Pending, 5, connection.CodeSubmitted), connection.ResultDenied, "", 110 * time.Second,
			want{connection.Pending, "", connection.CodeSubmitted, 6, 10 * time.Second, false}},
		{"pending denied 1ns before window end", conn(connection.Pending, 5, connection.CodeSubmitted), connection.ResultDenied, "", 2*time.Minute - 1,
			want{connection.Pending, "", connection.CodeSubmitted, 6, 1, false}},
		{"pending denied at window end", conn(connection.Pending, 6, connection.CodeSubmitted), connection.ResultDenied, "", 2 * time.Minute,
			want{connection.Failed, connection.RoleVerificationFailed, string(connection.ResultDenied), 7, p.FailedInterval, true}},
		{"pending denied after window", conn(connection.Pending, 0, connection.CodeSubmitted), connection.ResultDenied, "", time.Hour,
			want{connection.Failed, connection.RoleVerificationFailed, string(connection.ResultDenied), 1, p.FailedInterval, true}},
		{"pending not enforced in window fails at once", conn(connection.Pending, 0, connection.CodeSubmitted), connection.ResultNotEnforced, "", time.Second,
			want{connection.Failed, connection.RoleVerificationFailed, string(connection.ResultNotEnforced), 1, p.FailedInterval, true}},
		{"pending account mismatch in window fails at once", conn(connection.Pending, 0, connection.CodeSubmitted), connection.ResultAccountMismatch, "210987654321", time.Second,
			want{connection.Failed, connection.RoleVerificationFailed, string(connection.ResultAccountMismatch), 1, p.FailedInterval, true}},
		{"pending region disabled in window fails at once", conn(connection.Pending, 0, connection.CodeSubmitted), connection.ResultRegionDisabled, "", time.Second,
			want{connection.Failed, connection.RoleVerificationFailed, string(connection.ResultRegionDisabled), 1, p.FailedInterval, true}},
		{"pending transient", conn(connection.Pending, 2, connection.CodeSubmitted), connection.ResultTransient, "", 5 * time.Second,
			want{connection.Pending, "", connection.CodeSubmitted, 2, p.TransientRetry, false}},
		{"pending transient after window", conn(connection.Pending, 2, connection.CodeSubmitted), connection.ResultTransient, "", time.Hour,
			want{connection.Pending, "", connection.CodeSubmitted, 2, p.TransientRetry, false}},

		// VERIFIED
		{"verified ok is routine", conn(connection.Verified, 0, connection.CodeVerified), connection.ResultOK, "", time.Hour,
			want{connection.Verified, "", connection.CodeVerified, 0, p.VerifiedInterval, true}},
		{"verified ok clears a suspect failure", conn(connection.Verified, 1, connection.CodeVerified), connection.ResultOK, "", time.Hour,
			want{connection.Verified, "", connection.CodeVerified, 0, p.VerifiedInterval, true}},
		{"verified 1st failure is suspect", conn(connection.Verified, 0, connection.CodeVerified), connection.ResultDenied, "", time.Hour,
			want{connection.Verified, "", connection.CodeVerified, 1, p.SuspectInterval, false}},
		{"verified 1st not-enforced is suspect", conn(connection.Verified, 0, connection.CodeVerified), connection.ResultNotEnforced, "", time.Hour,
			want{connection.Verified, "", connection.CodeVerified, 1, p.SuspectInterval, false}},
		{"verified 2nd failure loses access", conn(connection.Verified, 1, connection.CodeVerified), connection.ResultDenied, "", time.Hour,
			want{connection.AccessLost, connection.RoleAccessLost, string(connection.ResultDenied), 2, p.LostInterval, true}},
		{"verified 2nd failure not enforced", conn(connection.Verified, 1, connection.CodeVerified), connection.ResultNotEnforced, "", time.Hour,
			want{connection.AccessLost, connection.RoleAccessLost, string(connection.ResultNotEnforced), 2, p.LostInterval, true}},
		{"verified region disabled twice", conn(connection.Verified, 1, connection.CodeVerified), connection.ResultRegionDisabled, "", time.Hour,
			want{connection.AccessLost, connection.RoleAccessLost, string(connection.ResultRegionDisabled), 2, p.LostInterval, true}},
		{"verified transient", conn(connection.Verified, 1, connection.CodeVerified), connection.ResultTransient, "", time.Hour,
			want{connection.Verified, "", connection.CodeVerified, 1, p.TransientRetry, false}},

		// ACCESS_LOST
		{"lost ok is restored", conn(connection.AccessLost, 5, string(connection.ResultDenied)), connection.ResultOK, "", 3 * time.Hour,
			want{connection.Verified, connection.RoleAccessRestored, connection.CodeAccessRestored, 0, p.PropagationWindow, false}},
		{"lost still denied is routine", conn(connection.AccessLost, 5, string(connection.ResultDenied)), connection.ResultDenied, "", 3 * time.Hour,
			want{connection.AccessLost, "", string(connection.ResultDenied), 6, p.LostIntervalMax, true}},
		{"lost with new failure code", conn(connection.AccessLost, 5, string(connection.ResultDenied)), connection.ResultNotEnforced, "", 3 * time.Hour,
			want{connection.AccessLost, connection.RoleAccessLost, string(connection.ResultNotEnforced), 6, p.LostIntervalMax, true}},
		{"lost transient", conn(connection.AccessLost, 5, string(connection.ResultDenied)), connection.ResultTransient, "", 3 * time.Hour,
			want{connection.AccessLost, "", string(connection.ResultDenied), 5, p.TransientRetry, false}},

		// FAILED
		{"failed ok verifies without resubmitting", conn(connection.Failed, 4, string(connection.ResultDenied)), connection.ResultOK, "", 3 * time.Hour,
			want{connection.Verified, connection.RoleVerified, connection.CodeVerified, 0, p.PropagationWindow, false}},
		{"failed still denied is routine", conn(connection.Failed, 4, string(connection.ResultDenied)), connection.ResultDenied, "", 3 * time.Hour,
			want{connection.Failed, "", string(connection.ResultDenied), 5, 3 * time.Hour, true}},
		{"failed with new failure code", conn(connection.Failed, 4, string(connection.ResultDenied)), connection.ResultNotEnforced, "", 3 * time.Hour,
			want{connection.Failed, connection.RoleVerificationFailed, string(connection.ResultNotEnforced), 5, 3 * time.Hour, true}},
		{"failed from not-enforced to denied", conn(connection.Failed, 1, string(connection.ResultNotEnforced)), connection.ResultDenied, "", 3 * time.Hour,
			want{connection.Failed, connection.RoleVerificationFailed, string(connection.ResultDenied), 2, 3 * time.Hour, true}},
		{"failed transient", conn(connection.Failed, 4, string(connection.ResultDenied)), connection.ResultTransient, "", 3 * time.Hour,
			want{connection.Failed, "", string(connection.ResultDenied), 4, p.TransientRetry, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := t0.Add(tt.at)
			before := tt.before
			o := connection.Outcome{ExternalIDCurrent: true, Result: tt.result, Detail: tt.detail, Version: before.Version, ExternalIDVersion: 2, CheckedAt: now}
			tr, err := p.Apply(before, o)
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			if before != tt.before {
				t.Fatal("Apply modified its input")
			}
			a := tr.After
			if a.Status != tt.want.status {
				t.Fatalf("status %s, want %s", a.Status, tt.want.status)
			}
			if tt.want.event == "" {
				checkRoutine(t, before, tr)
			} else {
				checkEvent(t, &before, tr, tt.want.event, now, 2)
			}
			if tt.want.reason != "" && a.Reason.Code != tt.want.reason {
				t.Fatalf("reason %+v, want code %s", a.Reason, tt.want.reason)
			}
			if a.ConsecutiveFailures != tt.want.failures {
				t.Fatalf("failures %d, want %d", a.ConsecutiveFailures, tt.want.failures)
			}
			if !a.LastCheckedAt.Equal(now) {
				t.Fatalf("LastCheckedAt %v, want %v", a.LastCheckedAt, now)
			}
			got := a.NextCheckAt.Sub(now)
			if tt.want.jittered {
				lo := time.Duration(float64(tt.want.next) * (1 - p.Jitter))
				hi := time.Duration(float64(tt.want.next) * (1 + p.Jitter))
				if got < lo || got > hi {
					t.Fatalf("next check in %v, want %v ±%.0f%%", got, tt.want.next, p.Jitter*100)
				}
			} else if got != tt.want.next {
				t.Fatalf("next check in %v, want %v", got, tt.want.next)
			}
			if tt.result == connection.ResultTransient && (a.Status != before.Status || tr.Event != nil) {
				t.Fatal("a transient result changed the status or emitted an event")
			}
			if a.Status == connection.Verified && before.Status != connection.Verified && tt.result != connection.ResultOK {
				t.Fatal("became VERIFIED without an OK result")
			}
			if tt.result == connection.ResultOK {
				if a.ExternalIDVersion != 2 {
					t.Fatalf("ExternalIDVersion %d, want the check's 2", a.ExternalIDVersion)
				}
				if tr.Event != nil && !a.VerifiedAt.Equal(now) {
					t.Fatalf("VerifiedAt %v, want %v", a.VerifiedAt, now)
				}
			}
			if tr.Event != nil && tt.result != connection.ResultOK {
				want := connection.ReasonFor(tt.result, tt.detail)
				if a.Reason != want || a.Reason.Hint == "" {
					t.Fatalf("reason %+v, want %+v with a hint", a.Reason, want)
				}
			}
			if tt.result == connection.ResultAccountMismatch {
				if want := "210987654321"; !strings.Contains(a.Reason.Message, want) {
					t.Fatalf("mismatch reason %q does not name account %s", a.Reason.Message, want)
				}
			}
		})
	}
}

func TestApplyLostAfterKnob(t *testing.T) {
	p := connection.DefaultPolicy()
	p.LostAfter = 3
	c := conn(connection.Verified, 0, connection.CodeVerified)
	for i := 1; i <= 3; i++ {
		tr, err := p.Apply(c, connection.Outcome{ExternalIDCurrent: true, ExternalIDVersion: 1, Result: connection.ResultDenied, Version: c.Version, CheckedAt: t0.Add(time.Duration(i) * time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		if i < 3 && (tr.After.Status != connection.Verified || tr.Event != nil) {
			t.Fatalf("failure %d of 3: %s, event %v", i, tr.After.Status, tr.Event)
		}
		if i == 3 && (tr.After.Status != connection.AccessLost || tr.Event == nil || tr.Event.DetailType != connection.RoleAccessLost) {
			t.Fatalf("failure 3 of 3: %s, event %v", tr.After.Status, tr.Event)
		}
		c = tr.After
	}
}

// TestApplyStale: an outcome that cannot describe the connection's role as
// it is now is ErrStale and changes nothing: for another version, for a
// disconnected connection, older than the last check applied, or from a
// job made before a rotation the connection has already verified past.
func TestApplyStale(t *testing.T) {
	p := connection.DefaultPolicy()
	type staleCase struct {
		name string
		c    connection.Connection
		o    connection.Outcome
	}
	var tests []staleCase
	for _, v := range []struct {
		name    string
		c       connection.Connection
		version int64
	}{
		{"older version", conn(connection.Verified, 0, connection.CodeVerified), 2},
		{"version 0", conn(connection.Pending, 0, connection.CodeSubmitted), 0},
		{"newer version", conn(connection.Failed, 1, string(connection.ResultDenied)), 4},
		{"disconnected, same version", conn(connection.Disconnected, 0, connection.CodeDisconnected), 3},
		{"disconnected, older version", conn(connection.Disconnected, 0, connection.CodeDisconnected), 2},
	} {
		for _, r := range []connection.Result{connection.ResultOK, connection.ResultDenied, connection.ResultNotEnforced, connection.ResultTransient} {
			tests = append(tests, staleCase{v.name + "/" + string(r), v.c,
				connection.Outcome{ExternalIDCurrent: true, ExternalIDVersion: 1, Result: r, Version: v.version, CheckedAt: t0.Add(time.Hour)}})
		}
	}
	verified := conn(connection.Verified, 1, connection.CodeVerified)
	verified.LastCheckedAt = t0.Add(time.Hour)
	verified.ExternalIDVersion, verified.ExternalIDCurrent = 2, true
	lost := conn(connection.AccessLost, 2, string(connection.ResultDenied))
	lost.LastCheckedAt, lost.ExternalIDVersion = t0.Add(time.Hour), 2
	at := func(c connection.Connection, o connection.Outcome) connection.Outcome {
		o.Version = c.Version
		return o
	}
	tests = append(tests,
		staleCase{"older than the last check applied", lost, at(lost, connection.Outcome{Result: connection.ResultOK, ExternalIDCurrent: true, ExternalIDVersion: 2, CheckedAt: t0.Add(59 * time.Minute)})},
		staleCase{"success from a job made before a rotation verified past", lost, at(lost, connection.Outcome{Result: connection.ResultOK, ExternalIDCurrent: true, ExternalIDVersion: 1, CheckedAt: t0.Add(2 * time.Hour)})},
		staleCase{"failure from a job made before a rotation verified past", verified, at(verified, connection.Outcome{Result: connection.ResultDenied, ExternalIDVersion: 1, CheckedAt: t0.Add(2 * time.Hour)})},
		staleCase{"previous-only success from a job made two rotations ago", verified, at(verified, connection.Outcome{Result: connection.ResultOK, ExternalIDVersion: 0, CheckedAt: t0.Add(2 * time.Hour)})},
	)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, err := p.Apply(tt.c, tt.o)
			if !errors.Is(err, connection.ErrStale) {
				t.Fatalf("Apply = %v, want ErrStale", err)
			}
			if tr.Changed() && tr.Before != nil || tr.Event != nil {
				t.Fatalf("a stale outcome returned a transition: %+v", tr)
			}
		})
	}
	_, err := p.Apply(conn(connection.Verified, 0, connection.CodeVerified), connection.Outcome{ExternalIDCurrent: true, ExternalIDVersion: 1, Result: "BOGUS", Version: 3, CheckedAt: t0})
	if err == nil || errors.Is(err, connection.ErrStale) {
		t.Fatalf("unknown result: %v, want a non-stale error", err)
	}
}

func TestDisconnect(t *testing.T) {
	p := connection.DefaultPolicy()
	now := t0.Add(5 * time.Hour)
	for _, st := range []connection.Status{connection.Pending, connection.Verified, connection.Failed, connection.AccessLost} {
		t.Run(string(st), func(t *testing.T) {
			before := conn(st, 2, "X")
			tr := p.Disconnect(before, 4, now)
			checkEvent(t, &before, tr, connection.RoleDisconnected, now, 4)
			a := tr.After
			if a.Status != connection.Disconnected || a.Live() || !a.NextCheckAt.IsZero() || a.ConsecutiveFailures != 0 ||
				a.Reason.Code != connection.CodeDisconnected || a.RoleARN != before.RoleARN {
				t.Fatalf("after = %+v", a)
			}
			again := p.Disconnect(a, 4, now.Add(time.Minute))
			if again.Changed() || again.Event != nil || again.After != a {
				t.Fatalf("second Disconnect changed something: %+v", again)
			}
		})
	}
}

func TestEventID(t *testing.T) {
	id := connection.EventID("acme", account, 3)
	if id != connection.EventID("acme", account, 3) {
		t.Fatal("EventID is not stable")
	}
	if len(id) != len("evt-")+32 || id[:4] != "evt-" {
		t.Fatalf("EventID = %q", id)
	}
	// Consumers deduplicate on these IDs across deployments: the
	// derivation never changes.
	if got, want := connection.EventID("acme", "123456789012", 7), "evt-fd57829dcbe931723c864136499bded9"; got != want {
		t.Fatalf("EventID(acme, 123456789012, 7) = %s, want %s", got, want)
	}
	if got, want := connection.TenantEventID("acme", connection.ExternalIDRotationStarted, 2), "evt-027fb47d623b9d71c2b1ab221221ef0d"; got != want {
		t.Fatalf("TenantEventID(acme, started, 2) = %s, want %s", got, want)
	}
	others := []string{
		connection.EventID("acme", account, 4),
		connection.EventID("acme", account, 2),
		connection.EventID("acme2", account, 3),
		connection.EventID("acme", "123456789013", 3),
		connection.EventID("acme1", "23456789012", 3), // the separator matters
	}
	seen := map[string]bool{id: true}
	for _, o := range others {
		if seen[o] {
			t.Fatalf("EventID collision: %s", o)
		}
		seen[o] = true
	}

	// The same transition computed twice yields the same event ID; the next
	// one yields another.
	p := connection.DefaultPolicy()
	c := conn(connection.Pending, 0, connection.CodeSubmitted)
	o := connection.Outcome{ExternalIDCurrent: true, ExternalIDVersion: 1, Result: connection.ResultOK, Version: 3, CheckedAt: t0.Add(time.Second)}
	a, _ := p.Apply(c, o)
	b, _ := p.Apply(c, o)
	if a.Event.EventID != b.Event.EventID {
		t.Fatal("same inputs gave different event IDs")
	}
	d := p.Disconnect(a.After, 1, t0.Add(time.Minute))
	if d.Event.EventID == a.Event.EventID {
		t.Fatal("different versions gave the same event ID")
	}
}

func TestJitter(t *testing.T) {
	p := connection.DefaultPolicy()
	now := t0.Add(time.Hour)
	var lo, hi time.Duration = 1 << 62, 0
	distinct := map[time.Duration]bool{}
	for i := range 500 {
		c := conn(connection.Verified, 0, connection.CodeVerified)
		c.AccountID = fmt.Sprintf("%012d", i)
		o := connection.Outcome{ExternalIDCurrent: true, ExternalIDVersion: 1, Result: connection.ResultOK, Version: c.Version, CheckedAt: now}
		tr, _ := p.Apply(c, o)
		again, _ := p.Apply(c, o)
		if tr.After.NextCheckAt != again.After.NextCheckAt {
			t.Fatal("jitter is not deterministic")
		}
		d := tr.After.NextCheckAt.Sub(now)
		if d < time.Duration(float64(p.VerifiedInterval)*(1-p.Jitter)) || d > time.Duration(float64(p.VerifiedInterval)*(1+p.Jitter)) {
			t.Fatalf("jittered interval %v outside %v ±%v", d, p.VerifiedInterval, p.Jitter)
		}
		lo, hi = min(lo, d), max(hi, d)
		distinct[d] = true
	}
	// The checks are spread over most of the ±10% band, not bunched up.
	if spread := hi - lo; spread < time.Duration(float64(p.VerifiedInterval)*p.Jitter) || len(distinct) < 450 {
		t.Fatalf("jitter spread %v over %d distinct values", spread, len(distinct))
	}

	p.Jitter = 0
	c := conn(connection.Verified, 0, connection.CodeVerified)
	tr, _ := p.Apply(c, connection.Outcome{ExternalIDCurrent: true, ExternalIDVersion: 1, Result: connection.ResultOK, Version: c.Version, CheckedAt: now})
	if d := tr.After.NextCheckAt.Sub(now); d != p.VerifiedInterval {
		t.Fatalf("Jitter 0: interval %v, want %v", d, p.VerifiedInterval)
	}
}

func TestStatusAndReasons(t *testing.T) {
	for _, s := range connection.Statuses {
		if !s.Valid() {
			t.Errorf("%s not valid", s)
		}
	}
	for _, s := range []connection.Status{"", "pending", "CONNECTED", "VERIFIED "} {
		if s.Valid() {
			t.Errorf("%q valid", s)
		}
	}
	if len(connection.DetailTypes) != 8 {
		t.Fatalf("DetailTypes = %v", connection.DetailTypes)
	}
}

// TestReasonFor: every failure result has a reason with its own code, a
// message and a hint; the not-enforced hint names the mistake the check's
// detail identified; an unmodelled result still gets a reason.
func TestReasonFor(t *testing.T) {
	tests := []struct {
		r           connection.Result
		detail      string
		msg, hint   string // substrings
		notExternal bool
	}{
		{connection.ResultDenied, "", "could not assume the role", "Compare the role's trust policy", false},
		{connection.ResultAccountMismatch, "", "another account than the ARN names", "lives in the account", false},
		{connection.ResultAccountMismatch, "210987654321", "account 210987654321", "lives in the account", false},
		{connection.ResultRegionDisabled, "", "not activated", "Activate the region", false},
		{connection.ResultNotEnforced, connection.NotEnforcedWithoutExternalID, "without an external ID", "...IfExists", false},
		{connection.ResultNotEnforced, connection.NotEnforcedAnyExternalID, "an external ID that is not yours", `StringLike "*"`, false},
		{connection.ResultNotEnforced, "", "without your external ID", "Put exactly", false},
		{connection.ResultTransient, "", "The check failed: TRANSIENT.", "Try again later.", false},
		{"SOMETHING_NEW", "", "The check failed: SOMETHING_NEW.", "Try again later.", false},
	}
	for _, tt := range tests {
		t.Run(string(tt.r)+"/"+tt.detail, func(t *testing.T) {
			got := connection.ReasonFor(tt.r, tt.detail)
			if got.Code != string(tt.r) || !strings.Contains(got.Message, tt.msg) || !strings.Contains(got.Hint, tt.hint) {
				t.Fatalf("ReasonFor(%s, %q) = %+v; want message with %q, hint with %q", tt.r, tt.detail, got, tt.msg, tt.hint)
			}
			if tt.r == connection.ResultNotEnforced && !strings.Contains(got.Hint, `"StringEquals": {"sts:ExternalId"`) {
				t.Fatalf("not-enforced hint %q does not show the condition to use", got.Hint)
			}
		})
	}
}

// TestApplyPreviousOnlyAfterCurrent: a success with only the previous
// external ID, for a connection already verified with the current one,
// records the check and schedules the next at the status's routine
// interval, or a failing connection's backoff; status, failures and
// external-ID bookkeeping stay.
func TestApplyPreviousOnlyAfterCurrent(t *testing.T) {
	p := noJitter()
	tests := []struct {
		status connection.Status
		want   time.Duration
	}{
		{connection.Verified, p.VerifiedInterval},
		// Failing since an hour before the check: backed off to an hour.
		{connection.AccessLost, time.Hour},
		{connection.Failed, time.Hour},
		{connection.Pending, p.PendingSafetyNet},
	}
	for _, tt := range tests {
		t.Run(string(tt.status), func(t *testing.T) {
			c := conn(tt.status, 2, "x")
			c.ExternalIDVersion, c.ExternalIDCurrent = 2, true
			o := connection.Outcome{Result: connection.ResultOK, Version: c.Version, ExternalIDVersion: 1, CheckedAt: t0.Add(time.Hour)}
			tr, err := p.Apply(c, o)
			if err != nil {
				t.Fatal(err)
			}
			want := c
			want.LastCheckedAt, want.NextCheckAt = o.CheckedAt, o.CheckedAt.Add(tt.want)
			if tr.Event != nil || tr.After != want {
				t.Fatalf("after %+v (event %+v)\nwant  %+v", tr.After, tr.Event, want)
			}
		})
	}
}

// A connection event's detail is the event's own fields, with the tenant
// fields left out.
func TestConnectionEventDetail(t *testing.T) {
	c := conn(connection.Pending, 0, connection.CodeSubmitted)
	tr, err := connection.DefaultPolicy().Apply(c, connection.Outcome{Result: connection.ResultOK, Version: c.Version, ExternalIDVersion: 1, ExternalIDCurrent: true, CheckedAt: t0.Add(time.Minute)})
	if err != nil || tr.Event == nil {
		t.Fatalf("Apply: %+v, %v", tr, err)
	}
	b, err := json.Marshal(*tr.Event)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"eventId": tr.Event.EventID, "tenantId": tenantID, "accountId": account, "roleArn": roleA,
		"status": "VERIFIED", "previousStatus": "PENDING", "version": float64(c.Version + 1), "externalIdVersion": float64(1),
		"externalIdCurrent": true, "occurredAt": "2025-06-01T12:01:00Z"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("detail[%q] = %v, want %v", k, got[k], v)
		}
	}
	for _, k := range []string{"graceEndsAt", "completion", "previousExternalIdVersion", "DetailType", "candidateRoleArn"} {
		if _, ok := got[k]; ok {
			t.Errorf("detail has %q: %s", k, b)
		}
	}
}

func TestConnectionClaimKey(t *testing.T) {
	c := conn(connection.Verified, 0, connection.CodeVerified)
	c.RoleARN = "arn:aws:iam::123456789012:role/path/RoleCall"
	if got := c.ClaimKey(); got != "123456789012/rolecall" {
		t.Fatalf("ClaimKey = %q", got)
	}
	c.RoleARN = "garbage"
	if got := c.ClaimKey(); got != "" {
		t.Fatalf("ClaimKey of an unparsable ARN = %q", got)
	}
}

// TestRandomSequences drives the lifecycle with random commands and check
// outcomes and checks its invariants after every step.
func TestRandomSequences(t *testing.T) {
	p := connection.DefaultPolicy()
	arns := []rolearn.ARN{testarn.MustParse(t, roleA), testarn.MustParse(t, roleB)}
	results := []connection.Result{connection.ResultOK, connection.ResultDenied, connection.ResultNotEnforced,
		connection.ResultAccountMismatch, connection.ResultRegionDisabled, connection.ResultTransient}
	for seed := range uint64(200) {
		rng := rand.New(rand.NewPCG(seed, 42))
		var cur *connection.Connection
		now := t0
		events := map[string]bool{}
		for step := range 150 {
			now = now.Add(time.Duration(rng.IntN(int(3 * time.Minute))))
			var (
				tr     connection.Transition
				err    error
				result connection.Result
				what   string
			)
			switch k := rng.IntN(10); {
			case cur == nil || k == 0:
				what = "submit"
				tr = p.Submit(cur, tenantID, arns[rng.IntN(2)], 1, now)
			case k == 1:
				what = "disconnect"
				tr = p.Disconnect(*cur, 1, now)
			default:
				result = results[rng.IntN(len(results))]
				v := cur.Version
				if rng.IntN(8) == 0 {
					v += int64(rng.IntN(3)) - 1
				}
				what = fmt.Sprintf("apply %s v%d", result, v)
				tr, err = p.Apply(*cur, connection.Outcome{ExternalIDCurrent: true, Result: result, Version: v, ExternalIDVersion: 1, CheckedAt: now})
				stale := v != cur.Version || cur.Status == connection.Disconnected
				if stale != errors.Is(err, connection.ErrStale) {
					t.Fatalf("seed %d step %d %s on %s v%d: err %v, stale %v", seed, step, what, cur.Status, cur.Version, err, stale)
				}
				if err != nil {
					continue
				}
			}
			where := fmt.Sprintf("seed %d step %d %s", seed, step, what)
			a := tr.After
			if !a.Status.Valid() {
				t.Fatalf("%s: invalid status %q", where, a.Status)
			}
			var prevVersion int64
			var prevStatus connection.Status
			if cur != nil {
				prevVersion, prevStatus = cur.Version, cur.Status
			}
			if a.Version < prevVersion {
				t.Fatalf("%s: version went down %d -> %d", where, prevVersion, a.Version)
			}
			if tr.Event != nil {
				if a.Version != prevVersion+1 || tr.Event.Version != a.Version || tr.Event.Status != a.Status || tr.Event.PreviousStatus != prevStatus {
					t.Fatalf("%s: event %+v after %+v", where, *tr.Event, a)
				}
				if events[tr.Event.EventID] {
					t.Fatalf("%s: event ID %s reused", where, tr.Event.EventID)
				}
				events[tr.Event.EventID] = true
			} else if a.Version != prevVersion || a.Status != prevStatus {
				t.Fatalf("%s: status or version changed without an event: %s v%d -> %s v%d", where, prevStatus, prevVersion, a.Status, a.Version)
			}
			if a.Status == connection.Verified && prevStatus != connection.Verified && result != connection.ResultOK {
				t.Fatalf("%s: became VERIFIED without an OK outcome", where)
			}
			if result == connection.ResultTransient && a.Status != prevStatus {
				t.Fatalf("%s: transient changed %s -> %s", where, prevStatus, a.Status)
			}
			if a.Live() != !a.NextCheckAt.IsZero() {
				t.Fatalf("%s: %s with NextCheckAt %v", where, a.Status, a.NextCheckAt)
			}
			if a.Live() && tr.Changed() && !a.NextCheckAt.After(now) {
				t.Fatalf("%s: next check %v is not after now %v", where, a.NextCheckAt, now)
			}
			cur = &a
		}
	}
}

func TestRoleClaimed(t *testing.T) {
	p := noJitter()
	at := t0.Add(time.Hour)
	ok := func(c connection.Connection) connection.Outcome {
		return connection.Outcome{ExternalIDCurrent: true, Result: connection.ResultOK, Version: c.Version, ExternalIDVersion: 1, CheckedAt: at}
	}
	tests := []struct {
		name      string
		c         connection.Connection
		o         func(connection.Connection) connection.Outcome
		wantEvent bool
		wantErr   error
	}{
		{"pending", conn(connection.Pending, 0, connection.CodeSubmitted), ok, true, nil},
		{"failed for another reason", conn(connection.Failed, 3, string(connection.ResultDenied)), ok, true, nil},
		{"failed ROLE_CLAIMED already", conn(connection.Failed, 1, connection.CodeRoleClaimed), ok, false, nil},
		{"verified holds its claim", conn(connection.Verified, 0, connection.CodeVerified), ok, false, connection.ErrStale},
		{"access lost holds its claim", conn(connection.AccessLost, 2, string(connection.ResultDenied)), ok, false, connection.ErrStale},
		{"disconnected", conn(connection.Disconnected, 0, connection.CodeDisconnected), ok, false, connection.ErrStale},
		{"another version", conn(connection.Pending, 0, connection.CodeSubmitted), func(c connection.Connection) connection.Outcome {
			o := ok(c)
			o.Version--
			return o
		}, false, connection.ErrStale},
		{"not a success", conn(connection.Pending, 0, connection.CodeSubmitted), func(c connection.Connection) connection.Outcome {
			o := ok(c)
			o.Result = connection.ResultDenied
			return o
		}, false, connection.ErrStale},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr, err := p.RoleClaimed(tc.c, tc.o(tc.c))
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("err %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if tr.After.Status != connection.Failed || tr.After.Reason.Code != connection.CodeRoleClaimed || tr.After.HoldsClaim() {
				t.Fatalf("after %+v", tr.After)
			}
			if !tr.After.NextCheckAt.Equal(at.Add(p.RetryInterval(tc.c, at))) || tr.After.ConsecutiveFailures != tc.c.ConsecutiveFailures+1 {
				t.Fatalf("re-check at %v with %d failures", tr.After.NextCheckAt, tr.After.ConsecutiveFailures)
			}
			if tc.wantEvent {
				checkEvent(t, &tc.c, tr, connection.RoleVerificationFailed, at, 1)
			} else {
				checkRoutine(t, tc.c, tr)
			}
		})
	}
}

func TestHoldsClaim(t *testing.T) {
	for _, st := range connection.Statuses {
		want := st == connection.Verified || st == connection.AccessLost
		if got := conn(st, 0, "X").HoldsClaim(); got != want {
			t.Errorf("%s HoldsClaim = %v, want %v", st, got, want)
		}
	}
}

// During grace a success with the previous ID only keeps VERIFIED and says
// the ID is not current; the transition carries the outcome.
func TestApplyPreviousOnlyDuringGrace(t *testing.T) {
	p := connection.DefaultPolicy()
	fresh := conn(connection.Pending, 0, connection.CodeSubmitted)
	prev := connection.Outcome{Result: connection.ResultOK, ExternalIDVersion: 1, Version: fresh.Version, CheckedAt: t0.Add(time.Minute)}
	tr, err := p.Apply(fresh, prev)
	if err != nil || tr.After.Status != connection.Verified || tr.After.ExternalIDCurrent || tr.After.ExternalIDVersion != 1 {
		t.Fatalf("previous-only success: %+v, %v", tr.After, err)
	}
	if tr.Check == nil || *tr.Check != prev || !tr.Check.PreviousOnly() || tr.Check.JobExternalIDVersion() != 2 {
		t.Fatalf("transition check %+v", tr.Check)
	}
}

// Tenant events name versions and times, never an external ID. A
// completion's graceEndsAt is when the previous external ID stopped being
// accepted: occurredAt when the rotation had no grace or completed before
// the grace's end, the grace's end once it has passed.
func TestRotationEvents(t *testing.T) {
	tn, _ := tenant.New("acme", "Acme", t0)
	r := tn.RotatedWithGrace(t0.Add(time.Hour), 48*time.Hour)
	started := connection.RotationStarted(r)
	done := connection.RotationCompleted(r, connection.CompletionAllCurrent, t0.Add(2*time.Hour))
	superseded := connection.RotationCompleted(r, connection.CompletionSuperseded, t0.Add(3*time.Hour))
	graceEnded := connection.RotationCompleted(r, connection.CompletionGraceEnded, t0.Add(50*time.Hour))
	supersededLate := connection.RotationCompleted(r, connection.CompletionSuperseded, t0.Add(51*time.Hour))
	revoked := connection.RotationStarted(tn.Rotated(t0.Add(time.Hour)))
	revokedDone := connection.RotationCompleted(tn.Rotated(t0.Add(time.Hour)), connection.CompletionRevoked, t0.Add(time.Hour))
	tests := []struct {
		name string
		ev   connection.Event
		want string
	}{
		{"started", started, `{"eventId":"` + started.EventID + `","tenantId":"acme","externalIdVersion":2,"previousExternalIdVersion":1,"graceEndsAt":"2025-06-03T13:00:00Z","occurredAt":"2025-06-01T13:00:00Z","version":2}`},
		{"completed before the grace's end", done, `{"eventId":"` + done.EventID + `","tenantId":"acme","externalIdVersion":2,"previousExternalIdVersion":1,"graceEndsAt":"2025-06-01T14:00:00Z","completion":"ALL_CURRENT","occurredAt":"2025-06-01T14:00:00Z","version":2}`},
		{"superseded during the grace", superseded, `{"eventId":"` + superseded.EventID + `","tenantId":"acme","externalIdVersion":2,"previousExternalIdVersion":1,"graceEndsAt":"2025-06-01T15:00:00Z","completion":"SUPERSEDED","occurredAt":"2025-06-01T15:00:00Z","version":2}`},
		{"completed after the grace's end", graceEnded, `{"eventId":"` + graceEnded.EventID + `","tenantId":"acme","externalIdVersion":2,"previousExternalIdVersion":1,"graceEndsAt":"2025-06-03T13:00:00Z","completion":"GRACE_ENDED","occurredAt":"2025-06-03T14:00:00Z","version":2}`},
		{"superseded after the grace's end", supersededLate, `{"eventId":"` + supersededLate.EventID + `","tenantId":"acme","externalIdVersion":2,"previousExternalIdVersion":1,"graceEndsAt":"2025-06-03T13:00:00Z","completion":"SUPERSEDED","occurredAt":"2025-06-03T15:00:00Z","version":2}`},
		{"without grace", revoked, `{"eventId":"` + revoked.EventID + `","tenantId":"acme","externalIdVersion":2,"previousExternalIdVersion":1,"graceEndsAt":"2025-06-01T13:00:00Z","occurredAt":"2025-06-01T13:00:00Z","version":2}`},
		{"completed without grace", revokedDone, `{"eventId":"` + revokedDone.EventID + `","tenantId":"acme","externalIdVersion":2,"previousExternalIdVersion":1,"graceEndsAt":"2025-06-01T13:00:00Z","completion":"REVOKED","occurredAt":"2025-06-01T13:00:00Z","version":2}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := json.Marshal(tc.ev)
			if err != nil || string(b) != tc.want {
				t.Fatalf("detail %s, %v\nwant %s", b, err, tc.want)
			}
			for _, secret := range []string{tn.ExternalID, r.ExternalID} {
				if strings.Contains(string(b), secret) {
					t.Fatal("an external ID is in a tenant event")
				}
			}
		})
	}
	if started.EventID == done.EventID || started.EventID != connection.RotationStarted(r).EventID {
		t.Fatal("tenant event IDs are not one per detail-type and version")
	}
}

// TestRoleClaimedBacksOffAndIsAbandoned: a FAILED ROLE_CLAIMED connection
// is re-checked like any FAILED one: backing off from FailedInterval, and
// disconnected (ABANDONED) once it has failed for AbandonAfter since it
// was submitted, instead of every FailedInterval for ever.
func TestRoleClaimedBacksOffAndIsAbandoned(t *testing.T) {
	p := noJitter()
	c := conn(connection.Failed, 40, connection.CodeRoleClaimed) // FAILED since t0
	ok := func(at time.Time) connection.Outcome {
		return connection.Outcome{Result: connection.ResultOK, ExternalIDCurrent: true, ExternalIDVersion: 1, Version: c.Version, CheckedAt: at}
	}
	at := t0.Add(3 * 24 * time.Hour)
	denied, err := p.Apply(c, connection.Outcome{Result: connection.ResultDenied, ExternalIDVersion: 1, Version: c.Version, CheckedAt: at})
	if err != nil {
		t.Fatal(err)
	}
	claimed, err := p.RoleClaimed(c, ok(at))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := claimed.After.NextCheckAt.Sub(at), denied.After.NextCheckAt.Sub(at); got != want || got != p.FailedIntervalMax {
		t.Errorf("FAILED ROLE_CLAIMED for 3 days: next check in %v, want the FAILED backoff %v", got, want)
	}
	at = t0.Add(p.AbandonAfter + time.Hour)
	claimed, err = p.RoleClaimed(c, ok(at))
	if err != nil {
		t.Fatal(err)
	}
	if claimed.After.Status != connection.Disconnected || claimed.After.Reason.Code != connection.CodeAbandoned || claimed.Event == nil {
		t.Errorf("FAILED ROLE_CLAIMED past AbandonAfter: %s %s (event %v), want DISCONNECTED ABANDONED", claimed.After.Status, claimed.After.Reason.Code, claimed.Event)
	}
}

// TestSubmitSameRoleWhileAccessLost: the role of an ACCESS_LOST connection
// submitted again keeps the connection as it is, claim included (a new
// PENDING would release the claim), and brings its next check forward to
// the safety net; onboarding queues a check of it besides.
func TestSubmitSameRoleWhileAccessLost(t *testing.T) {
	p := connection.DefaultPolicy()
	c := conn(connection.AccessLost, 2, string(connection.ResultDenied))
	now := t0.Add(time.Hour)
	c.NextCheckAt = now.Add(40 * time.Minute)
	tr := p.Submit(&c, tenantID, testarn.MustParse(t, roleA), 1, now)
	checkRoutine(t, c, tr)
	if !tr.After.HoldsClaim() || tr.After.Status != connection.AccessLost || !tr.After.NextCheckAt.Equal(now.Add(p.PendingSafetyNet)) {
		t.Fatalf("after %+v, want ACCESS_LOST holding its claim, checked at the safety net", tr.After)
	}
}
