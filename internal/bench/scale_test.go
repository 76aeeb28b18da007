package bench

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rolecall/rolecall/internal/probe"
)

// TestSimSTSThrottlesAboveItsQuota: in any one-second window the stand-in
// admits quota calls and throttles the rest with STS's code.
func TestSimSTSThrottlesAboveItsQuota(t *testing.T) {
	clock := &simClock{now: scaleT0}
	s := &simSTS{clock: clock, quota: 10, externalID: func(string) string { return "rc-ext" }}
	in := probe.AssumeRequest{RoleARN: "arn:aws:iam::300000000001:role/RoleCall", ExternalID: "rc-ext", SessionName: "s"}
	throttled := 0
	for i := range 30 {
		clock.set(scaleT0.Add(time.Duration(i) * 50 * time.Millisecond)) // 20 a second
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
	clock.set(scaleT0.Add(time.Hour))
	if _, err := s.AssumeRole(context.Background(), in); !errors.Is(err, probe.ErrDenied) {
		t.Fatalf("without the external ID: %v, want denied", err)
	}
}
