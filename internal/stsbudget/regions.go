package stsbudget

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
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
// the Region that admits it soonest and runs its calls there, except in a
// Region the partner account was found to refuse (RefusedIn).
type Regions struct {
	names    []string
	limiters []*Limiter
	clock    Clock

	mu sync.Mutex
	// refusedUntil: limiter -> until when no check takes its tokens there,
	// since the partner account refuses the Region (RefusedIn).
	refusedUntil map[int]time.Time
}

// RefusalHold is how long no check takes its tokens in a Region the
// partner account refuses (RefusedIn). Every call of such a check goes on
// to the next Region and pays again there, so the check waits twice and
// the refused Region's share serves nothing. Once the hold is over, checks
// go there again: a Region the partner has enabled since serves again at
// once, and one still refused is held again by the first check it
// refuses (the access role's client refuses it without sending a call
// while its session lasts, so that check costs no STS call there).
const RefusalHold = 5 * time.Minute

// NewRegions returns the budget of an instance whose share is limit STS
// calls a second in each of regions (the deployment's Region first; nil or
// empty: one Region, the client's own).
func NewRegions(regions []string, limit float64, maxTake int, clock Clock) (*Regions, error) {
	if len(regions) == 0 {
		regions = []string{""}
	}
	if clock == nil {
		clock = RealClock{}
	}
	r := &Regions{names: regions, clock: clock, refusedUntil: map[int]time.Time{}}
	for range regions {
		l, err := NewLimiter(limit, maxTake, clock)
		if err != nil {
			return nil, err
		}
		r.limiters = append(r.limiters, l)
	}
	return r, nil
}

// pick is the Region that admits n tokens soonest (the first on a tie),
// of the ones the partner account is not held to refuse; of all of them
// when it is held to refuse every one.
func (r *Regions) pick(n int) int {
	held := r.held()
	best := -1
	var at time.Time
	for i, l := range r.limiters {
		if held[i] && len(held) < len(r.limiters) {
			continue
		}
		if next := l.Next(n); best < 0 || next.Before(at) {
			best, at = i, next
		}
	}
	return best
}

// held is the set of limiters whose Regions are held as refused by the
// partner account now (nil for none); it forgets the holds that are over.
func (r *Regions) held() map[int]bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.refusedUntil) == 0 {
		return nil
	}
	now := r.clock.Now()
	out := map[int]bool{}
	for i, until := range r.refusedUntil {
		if now.Before(until) {
			out[i] = true
		} else {
			delete(r.refusedUntil, i)
		}
	}
	return out
}

// RefusedIn records that the partner account refused the STS call of the
// check run in ctx that was sent to region (an access.RegionRefusedError:
// an opt-in Region the partner account has not enabled), as
// stsclient.Regional reports: for RefusalHold no check takes its tokens
// there. A Region the budget does not list, and a context without a
// budget, change nothing.
func RefusedIn(ctx context.Context, region string) {
	b, ok := checkOf(ctx)
	if !ok || b.Regions == nil {
		return
	}
	i := slices.Index(b.names, region)
	if i < 0 {
		return
	}
	r := b.Regions
	r.mu.Lock()
	defer r.mu.Unlock()
	r.refusedUntil[i] = r.clock.Now().Add(RefusalHold)
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
