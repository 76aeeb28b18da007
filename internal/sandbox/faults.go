package sandbox

import (
	"context"
	"net/http"
	"time"
)

// Faults are injected into every call, deterministically for the seed.
type Faults struct {
	Latency time.Duration // added to every call
	Jitter  time.Duration // plus a uniform random [0, Jitter)
	// ThrottleRate is the share of calls that fail with Throttling (HTTP
	// 400), ErrorRate the share that fail with InternalFailure (HTTP 500).
	// Rates are in [0,1]; when they add up to more than 1, throttling
	// takes its share first.
	ThrottleRate float64
	ErrorRate    float64
}

// SetFaults replaces the injected faults. Rates are clamped to [0, 1].
func (s *STS) SetFaults(f Faults) {
	clamp := func(x float64) float64 { return min(max(x, 0), 1) }
	f.ThrottleRate, f.ErrorRate = clamp(f.ThrottleRate), clamp(f.ErrorRate)
	f.Latency, f.Jitter = max(f.Latency, 0), max(f.Jitter, 0)
	s.fmu.Lock()
	defer s.fmu.Unlock()
	s.faults = f
}

// Faults returns the injected faults.
func (s *STS) Faults() Faults {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	return s.faults
}

// Calls returns how many calls reached the sandbox (HTTP and embedded).
func (s *STS) Calls() uint64 {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	return s.calls
}

// faultDraw is what one call drew from the seeded generator.
type faultDraw struct {
	delay time.Duration
	err   *APIError
	n     uint64 // the call's sequence number
}

// draw takes the next call's faults. It always consumes two numbers, so the
// sequence of draws depends only on the seed and the call count.
func (s *STS) draw() faultDraw {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	s.calls++
	f := s.faults
	j, u := s.rng.Float64(), s.rng.Float64()
	d := faultDraw{n: s.calls, delay: f.Latency + time.Duration(j*float64(f.Jitter))}
	switch {
	case u < f.ThrottleRate:
		d.err = throttling()
	case u < f.ThrottleRate+f.ErrorRate:
		d.err = &APIError{Code: "InternalFailure", Message: "The request processing has failed because of an unknown error, exception or failure.", Status: http.StatusInternalServerError}
	}
	return d
}

// begin starts a call of account in region: it draws the call's faults
// (always, so that the sequence of faults depends only on the seed and the
// call count), refuses the call at once with Throttling when the request
// quota is exhausted, else waits the drawn latency (or until ctx ends) and
// returns the drawn error, if any.
func (s *STS) begin(ctx context.Context, account, region string) (uint64, error) {
	d := s.draw()
	if !s.quota.admit(account, region, s.now()) {
		return d.n, throttling()
	}
	if d.delay > 0 {
		t := time.NewTimer(d.delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return d.n, ctx.Err()
		case <-t.C:
		}
	}
	if d.err != nil {
		return d.n, d.err
	}
	return d.n, nil
}
