package connection_test

import (
	"strings"
	"testing"
	"time"

	"github.com/rolecall/rolecall/internal/connection"
)

// noJitter is the default policy without jitter, so that the tests know
// each next check to the nanosecond.
func noJitter() connection.Policy {
	p := connection.DefaultPolicy()
	p.Jitter = 0
	return p
}

func TestDefaultBackoff(t *testing.T) {
	p := connection.DefaultPolicy()
	if p.FailedInterval != 10*time.Minute || p.FailedIntervalMax != 24*time.Hour ||
		p.LostInterval != 10*time.Minute || p.LostIntervalMax != time.Hour || p.AbandonAfter != 14*24*time.Hour {
		t.Fatalf("defaults: %+v", p.Backoff)
	}
}

func TestRetryInterval(t *testing.T) {
	p := noJitter()
	tests := []struct {
		name   string
		status connection.Status
		since  time.Duration // time in state when the check fails
		want   time.Duration
	}{
		{"failed, just entered", connection.Failed, 0, 10 * time.Minute},
		{"failed, 3 minutes in", connection.Failed, 3 * time.Minute, 10 * time.Minute},
		{"failed, 10 minutes in: doubles", connection.Failed, 10 * time.Minute, 10 * time.Minute},
		{"failed, 20 minutes in", connection.Failed, 20 * time.Minute, 20 * time.Minute},
		{"failed, 7 hours in", connection.Failed, 7 * time.Hour, 7 * time.Hour},
		{"failed, 23h59m in", connection.Failed, 23*time.Hour + 59*time.Minute, 23*time.Hour + 59*time.Minute},
		{"failed, 2 days in: daily", connection.Failed, 48 * time.Hour, 24 * time.Hour},
		{"lost, just entered", connection.AccessLost, 0, 10 * time.Minute},
		{"lost, 25 minutes in", connection.AccessLost, 25 * time.Minute, 25 * time.Minute},
		{"lost, 3 hours in: hourly", connection.AccessLost, 3 * time.Hour, time.Hour},
		{"lost, a year in: hourly", connection.AccessLost, 365 * 24 * time.Hour, time.Hour},
		{"lost, clock behind the last transition", connection.AccessLost, -time.Hour, 10 * time.Minute},
		{"verified is not backed off", connection.Verified, 5 * time.Hour, p.FailedInterval},
	}
	for _, tt := range tests {
		c := conn(tt.status, 1, "ASSUME_DENIED")
		if got := p.RetryInterval(c, c.UpdatedAt.Add(tt.since)); got != tt.want {
			t.Errorf("%s: RetryInterval = %v, want %v", tt.name, got, tt.want)
		}
	}
	// A connection without UpdatedAt (stored before it was kept) starts
	// at the first interval.
	c := conn(connection.Failed, 1, "ASSUME_DENIED")
	c.UpdatedAt = time.Time{}
	if got := p.RetryInterval(c, t0.Add(5*time.Hour)); got != 10*time.Minute {
		t.Errorf("no UpdatedAt: %v", got)
	}
}

func TestAbandoned(t *testing.T) {
	p := noJitter()
	tests := []struct {
		name   string
		status connection.Status
		age    time.Duration // since submission
		after  time.Duration // AbandonAfter
		want   bool
	}{
		{"failed 13 days", connection.Failed, 13 * 24 * time.Hour, p.AbandonAfter, false},
		{"failed just under 14 days", connection.Failed, 14*24*time.Hour - time.Second, p.AbandonAfter, false},
		{"failed 14 days", connection.Failed, 14 * 24 * time.Hour, p.AbandonAfter, true},
		{"failed 30 days", connection.Failed, 30 * 24 * time.Hour, p.AbandonAfter, true},
		{"failed 30 days, never abandon", connection.Failed, 30 * 24 * time.Hour, 0, false},
		{"access lost 30 days is never abandoned", connection.AccessLost, 30 * 24 * time.Hour, p.AbandonAfter, false},
		{"pending 30 days", connection.Pending, 30 * 24 * time.Hour, p.AbandonAfter, false},
	}
	for _, tt := range tests {
		q := p
		q.AbandonAfter = tt.after
		c := conn(tt.status, 1, "ASSUME_DENIED")
		if got := q.Abandoned(c, c.SubmittedAt.Add(tt.age)); got != tt.want {
			t.Errorf("%s: Abandoned = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// The ABANDONED reason says how long the role had failed.
func TestAbandonMessage(t *testing.T) {
	tests := []struct {
		after time.Duration
		want  string
	}{
		{14 * 24 * time.Hour, "since it was submitted 14 days ago."},
		{24 * time.Hour, "since it was submitted 1 day ago."},
		{36 * time.Hour, "since it was submitted 36h0m0s ago."},
	}
	for _, tt := range tests {
		p := noJitter()
		p.AbandonAfter = tt.after
		c := conn(connection.Failed, 9, "ASSUME_DENIED")
		tr := p.Abandon(c, 1, t0.Add(tt.after))
		if tr.After.Status != connection.Disconnected || tr.After.Reason.Code != connection.CodeAbandoned || !strings.HasSuffix(tr.After.Reason.Message, tt.want) {
			t.Errorf("AbandonAfter %v: %+v, want a message ending %q", tt.after, tr.After.Reason, tt.want)
		}
	}
}

// TestApplyBacksOffAndAbandons drives a FAILED and an ACCESS_LOST
// connection through Apply with a simulated clock: the intervals double to
// their caps, the FAILED one ends DISCONNECTED/ABANDONED after 14 days with
// a Role Disconnected event, the ACCESS_LOST one is checked hourly for ever.
func TestApplyBacksOffAndAbandons(t *testing.T) {
	p := noJitter()
	run := func(t *testing.T, start connection.Connection, until time.Duration) ([]time.Duration, connection.Transition) {
		c := start
		now := c.UpdatedAt
		var gaps []time.Duration
		for now.Sub(start.SubmittedAt) < until {
			tr, err := p.Apply(c, connection.Outcome{Result: connection.ResultDenied, Version: c.Version, ExternalIDVersion: 1, CheckedAt: now})
			if err != nil {
				t.Fatal(err)
			}
			if tr.Event != nil {
				return gaps, tr
			}
			gaps = append(gaps, tr.After.NextCheckAt.Sub(now))
			c, now = tr.After, tr.After.NextCheckAt
		}
		return gaps, connection.Transition{After: c}
	}

	t.Run("failed", func(t *testing.T) {
		c := conn(connection.Failed, 1, "ASSUME_DENIED")
		gaps, last := run(t, c, 15*24*time.Hour)
		want := []time.Duration{10 * time.Minute, 10 * time.Minute, 20 * time.Minute, 40 * time.Minute, 80 * time.Minute,
			160 * time.Minute, 320 * time.Minute, 640 * time.Minute, 1280 * time.Minute, 24 * time.Hour}
		for i, w := range want {
			if i >= len(gaps) || gaps[i] != w {
				t.Fatalf("gaps %v, want to start %v", gaps, want)
			}
		}
		for _, g := range gaps[len(want):] {
			if g != 24*time.Hour {
				t.Fatalf("gap %v after the cap, want daily: %v", g, gaps)
			}
		}
		if len(gaps) > 30 {
			t.Fatalf("%d checks in 14 days, want about 24", len(gaps))
		}
		ev := last.Event
		if ev == nil || ev.DetailType != connection.RoleDisconnected || last.After.Status != connection.Disconnected ||
			last.After.Reason.Code != connection.CodeAbandoned || ev.Reason.Code != connection.CodeAbandoned || ev.PreviousStatus != connection.Failed {
			t.Fatalf("last transition %+v, event %+v", last.After, ev)
		}
		if !last.After.NextCheckAt.IsZero() || last.After.Live() || last.After.Version != c.Version+1 || last.Before == nil {
			t.Fatalf("abandoned connection %+v", last.After)
		}
		if age := ev.OccurredAt.Sub(c.SubmittedAt); age < 14*24*time.Hour || age > 15*24*time.Hour {
			t.Fatalf("abandoned after %v", age)
		}
		// Disconnected is final for checks.
		if _, err := p.Apply(last.After, connection.Outcome{Result: connection.ResultDenied, Version: last.After.Version, CheckedAt: ev.OccurredAt}); err == nil {
			t.Fatal("a check of the abandoned connection was applied")
		}
	})

	t.Run("access lost", func(t *testing.T) {
		c := conn(connection.AccessLost, 2, "ASSUME_DENIED")
		gaps, last := run(t, c, 30*24*time.Hour)
		if last.Event != nil {
			t.Fatalf("ACCESS_LOST changed: %+v", last.Event)
		}
		want := []time.Duration{10 * time.Minute, 10 * time.Minute, 20 * time.Minute, 40 * time.Minute, time.Hour, time.Hour}
		for i, w := range want {
			if gaps[i] != w {
				t.Fatalf("gaps %v, want to start %v", gaps[:8], want)
			}
		}
		if g := gaps[len(gaps)-1]; g != time.Hour || last.After.Status != connection.AccessLost {
			t.Fatalf("last gap %v, status %s", g, last.After.Status)
		}
	})

	t.Run("a fixed role still verifies after 13 days", func(t *testing.T) {
		c := conn(connection.Failed, 9, "ASSUME_DENIED")
		tr, err := p.Apply(c, connection.Outcome{Result: connection.ResultOK, Version: c.Version, ExternalIDVersion: 1, CheckedAt: t0.Add(13 * 24 * time.Hour)})
		if err != nil || tr.After.Status != connection.Verified {
			t.Fatalf("%+v %v", tr.After, err)
		}
	})

	t.Run("a transient error never abandons", func(t *testing.T) {
		c := conn(connection.Failed, 9, "ASSUME_DENIED")
		tr, err := p.Apply(c, connection.Outcome{Result: connection.ResultTransient, Version: c.Version, ExternalIDVersion: 1, CheckedAt: t0.Add(20 * 24 * time.Hour)})
		if err != nil || tr.Event != nil || tr.After.Status != connection.Failed {
			t.Fatalf("%+v %v", tr, err)
		}
	})

	t.Run("a changed reason keeps the backoff", func(t *testing.T) {
		c := conn(connection.Failed, 9, "ASSUME_DENIED")
		now := t0.Add(3 * 24 * time.Hour)
		tr, err := p.Apply(c, connection.Outcome{Result: connection.ResultNotEnforced, Version: c.Version, ExternalIDVersion: 1, CheckedAt: now})
		if err != nil || tr.Event == nil || tr.After.NextCheckAt.Sub(now) != 24*time.Hour {
			t.Fatalf("%+v %v", tr.After, err)
		}
		next := tr.After.NextCheckAt
		tr, err = p.Apply(tr.After, connection.Outcome{Result: connection.ResultNotEnforced, Version: tr.After.Version, ExternalIDVersion: 1, CheckedAt: next})
		if err != nil || tr.Event != nil || tr.After.NextCheckAt.Sub(next) != 24*time.Hour {
			t.Fatalf("%+v %v", tr.After, err)
		}
	})
}
