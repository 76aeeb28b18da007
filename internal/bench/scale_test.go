package bench

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rolecall/rolecall/internal/probe"
)

// TestSimSTSThrottlesAboveItsQuota: in any one-second window the stand-in
// admits quota calls and throttles the rest with STS's code.
func TestSimSTSThrottlesAboveItsQuota(t *testing.T) {
	clock := newSimClock(scaleT0)
	s := &simSTS{clock: clock, quota: 10, externalID: func(string) string { return "rc-ext" }}
	in := probe.AssumeRequest{RoleARN: "arn:aws:iam::300000000001:role/RoleCall", ExternalID: "rc-ext", SessionName: "s"}
	throttled := 0
	for i := range 30 {
		clock.AdvanceTo(scaleT0.Add(time.Duration(i) * 50 * time.Millisecond)) // 20 a second
		if _, err := s.AssumeRole(context.Background(), in); err != nil {
			var se *probe.STSError
			if !errors.As(err, &se) || se.Code != "Throttling" {
				t.Fatalf("call %d: %v, want Throttling", i, err)
			}
			throttled++
		}
	}
	calls, th, peak := s.report()
	if calls != 30 || th != throttled || throttled < 10 || peak != 20 {
		t.Fatalf("calls %d, throttled %d (%d seen), peak %d; want 30 calls, 10+ throttled, peak 20", calls, th, throttled, peak)
	}
	in.ExternalID = ""
	clock.AdvanceTo(scaleT0.Add(time.Hour))
	if _, err := s.AssumeRole(context.Background(), in); !errors.Is(err, probe.ErrDenied) {
		t.Fatalf("without the external ID: %v, want denied", err)
	}
}

// A run whose checks waited on the simulated clock, or that measured
// nothing, is refused; a verdict says when some connections went
// unchecked; the simulated clock refuses to be slept on.
func TestScaleRunsAreSane(t *testing.T) {
	tests := []struct {
		name string
		r    scaleResult
		want string // "" sane
	}{
		{"measured", scaleResult{checks: 10, calls: 30}, ""},
		{"slept", scaleResult{checks: 10, calls: 30, sleeps: 2}, "2 checks waited"},
		{"no checks", scaleResult{calls: 30}, "no checks measured"},
		{"no calls", scaleResult{checks: 10}, "no checks measured"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.r.sane(100)
			if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("sane = %v, want %q", err, tc.want)
			}
		})
	}
	verdicts := []struct {
		v    string
		all  bool
		want string
	}{
		{"met", true, "met"},
		{"met", false, "not met: some connections were not checked"},
		{"not met", false, "not met; some connections were not checked"},
	}
	for _, tc := range verdicts {
		if got := verdictAll(tc.v, tc.all); got != tc.want {
			t.Errorf("verdictAll(%q, %v) = %q, want %q", tc.v, tc.all, got, tc.want)
		}
	}
	c := newSimClock(scaleT0)
	if err := c.Sleep(context.Background(), time.Second); err == nil || c.slept.Load() != 1 || !c.Now().Equal(scaleT0) {
		t.Fatalf("Sleep = %v (slept %d, now %v): the simulated clock must refuse and count, not move", err, c.slept.Load(), c.Now())
	}
}
