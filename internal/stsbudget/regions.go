package stsbudget

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

type regionKey struct{}

// WithRegion returns ctx carrying the Region whose quota a check's tokens
// came from, so that its STS calls go to that Region's endpoint.
func WithRegion(ctx context.Context, region string) context.Context {
	return context.WithValue(ctx, regionKey{}, region)
}

// RegionOf is the Region WithRegion put in ctx ("" for none).
func RegionOf(ctx context.Context) string {
	r, _ := ctx.Value(regionKey{}).(string)
	return r
}

// Regions is one instance's budget over the STS quotas of one or more
// Regions (each Region has its own): a limiter per Region, each holding the
// instance's share of that Region's budget. A check takes its tokens from
// the Region that admits it soonest and runs its calls there.
type Regions struct {
	names    []string
	limiters []*Limiter
}

// NewRegions returns the budget of an instance whose share is limit STS
// calls a second in each of regions (the deployment's Region first; nil or
// empty: one Region, the client's own).
func NewRegions(regions []string, limit float64, maxTake int, clock Clock) (*Regions, error) {
	if len(regions) == 0 {
		regions = []string{""}
	}
	r := &Regions{names: regions}
	for range regions {
		l, err := NewLimiter(limit, maxTake, clock)
		if err != nil {
			return nil, err
		}
		r.limiters = append(r.limiters, l)
	}
	return r, nil
}

// pick is the Region that admits n tokens soonest (the first on a tie).
func (r *Regions) pick(n int) int {
	best := 0
	var at time.Time
	for i, l := range r.limiters {
		if next := l.Next(n); i == 0 || next.Before(at) {
			best, at = i, next
		}
	}
	return best
}

// Next is when n tokens would be admitted in the soonest Region.
func (r *Regions) Next(n int) time.Time { return r.limiters[r.pick(n)].Next(n) }

// Take waits until n tokens are admitted in some Region, and returns ctx
// naming it (RegionOf) and holding the check's budget: the n calls paid
// for there, spent by the calls made there (Spend), and the Regions the
// calls beyond them pay in (Pay, Spend).
func (r *Regions) Take(ctx context.Context, n int) (context.Context, error) {
	i := r.pick(n)
	if err := r.limiters[i].Take(ctx, n); err != nil {
		return ctx, err
	}
	ctx = context.WithValue(ctx, checkKey{}, &check{Regions: r, paid: map[int]int{i: n}})
	if r.names[i] == "" {
		return ctx, nil
	}
	return WithRegion(ctx, r.names[i]), nil
}

// Throttled slows down the Region ctx names (the first without one), unless
// the throttled calls of the check run in ctx were already reported in the
// Regions they were sent to (ThrottledIn).
func (r *Regions) Throttled(ctx context.Context) {
	if b, ok := checkOf(ctx); ok && b.Regions == r && b.throttleReported.Load() {
		return
	}
	r.limiters[r.index(ctx)].Throttled()
}

// Rate is the current pace of region's limiter (the first's for a Region
// it does not list), in STS calls a second.
func (r *Regions) Rate(region string) float64 { return r.limiters[r.indexOf(region)].Rate() }

// index is the limiter of the Region ctx names, the first without one.
func (r *Regions) index(ctx context.Context) int { return r.indexOf(RegionOf(ctx)) }

// indexOf is the limiter of region, the first (the deployment's) for a
// Region it does not list.
func (r *Regions) indexOf(region string) int {
	for i, n := range r.names {
		if n == region {
			return i
		}
	}
	return 0
}

// Throttles is how many times throttling slowed a Region down.
func (r *Regions) Throttles() int {
	n := 0
	for _, l := range r.limiters {
		n += l.Throttles()
	}
	return n
}

// RegionList is home followed by the extra Regions not already listed:
// the Regions whose quotas a deployment uses, each once (a Region listed
// twice would count its quota twice).
func RegionList(home string, extra []string) []string {
	out := []string{home}
	for _, r := range extra {
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out
}

// ParseRegions reads StsRegions: a comma-separated list of Region names
// ("" for none), refusing malformed names. A Region listed again is
// dropped (the first stays): its quota counts once, and template.yaml's
// pattern, which cannot tell repeats apart, lets the stack deploy with it.
func ParseRegions(s string) ([]string, error) {
	if s == "" {
		return nil, nil
	}
	var out []string
	seen := map[string]bool{}
	var errs []error
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if !regionName(part) {
			errs = append(errs, fmt.Errorf("%q is not a Region name (such as eu-west-1)", part))
			continue
		}
		if seen[part] {
			continue
		}
		seen[part] = true
		out = append(out, part)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("stsbudget: STS Regions: %w", errors.Join(errs...))
	}
	return out, nil
}

// regionName accepts names shaped like AWS Regions: lower-case words joined
// by hyphens, ending in a digit (us-east-1, ap-southeast-2, us-gov-west-1).
func regionName(s string) bool {
	if len(s) < 6 || len(s) > 25 || s[len(s)-1] < '0' || s[len(s)-1] > '9' || s[len(s)-2] != '-' {
		return false
	}
	hyphens := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '-' && i > 0 && s[i-1] != '-':
			hyphens++
		default:
			return false
		}
	}
	return hyphens >= 2 && s[0] >= 'a' && s[0] <= 'z'
}
