package stsbudget

import (
	"context"
	"sync"
	"sync/atomic"
)

type checkKey struct{}

// check is what one check's context holds (Take, Scope): the budget its
// calls pay from, the calls paid for and not yet made, the Regions the
// customer's account answered RegionDisabledException in, and whether a
// throttled call was already reported in the Region it was sent to
// (ThrottledIn). It lives as long as the check: nothing is remembered
// across checks. A check's first three calls are sent at once, before any
// answer, and its tokens taken before its account is known, so a memory
// across checks could spare at most those calls, not their tokens, for
// the rare account that disabled a Region's STS, and would need expiring
// for an account that activates it again.
type check struct {
	*Regions         // nil: an unpaced check (Scope), which pays for nothing
	throttleReported atomic.Bool

	mu sync.Mutex
	// paid counts, by limiter, the calls paid for there and not yet made:
	// Take's, and each Pay's, until a call sent there spends one (Spend).
	paid map[int]int
	// disabled holds the Regions the customer's account answered
	// RegionDisabledException in during the check (SetDisabled).
	disabled map[string]bool
}

// checkOf is the check run in ctx, if it has one.
func checkOf(ctx context.Context) (*check, bool) {
	b, ok := ctx.Value(checkKey{}).(*check)
	return b, ok
}

// Scope returns the context a check runs in: ctx itself when it already
// holds a check (Take's), else ctx with an unpaced check of its own, so
// that what one of its calls learns (SetDisabled) serves its other calls
// whether or not a budget paces them. probe.Checker calls it as each check
// starts (stsclient.Checker sets it).
func Scope(ctx context.Context) context.Context {
	if _, ok := checkOf(ctx); ok {
		return ctx
	}
	return context.WithValue(ctx, checkKey{}, &check{paid: map[int]int{}})
}

// Pay waits until one more STS call is admitted for the check run in ctx:
// a call beyond the ones the check took, such as a retry. It pays in the
// Region that call will be sent to: the check's (RegionOf), or, when the
// customer's account answered RegionDisabledException there during the
// check, the next of the budget's Regions it has not (as
// stsclient.Regional sends it on), so no token is spent on a Region known
// to refuse. The call then spends what was paid (Spend). Without a budget
// in ctx (an unpaced checker) it returns at once.
func Pay(ctx context.Context) error {
	b, ok := checkOf(ctx)
	if !ok || b.Regions == nil {
		return nil
	}
	i := b.route(ctx)
	if err := b.limiters[i].Take(ctx, 1); err != nil {
		return err
	}
	b.mu.Lock()
	b.paid[i]++
	b.mu.Unlock()
	return nil
}

// route is the limiter of the Region a call of the check run in ctx goes
// to first: the check's, else the next not disabled during the check (the
// check's when all are).
func (b *check) route(ctx context.Context) int {
	first := b.index(ctx)
	b.mu.Lock()
	defer b.mu.Unlock()
	for k := range b.names {
		if i := (first + k) % len(b.names); !b.disabled[b.names[i]] {
			return i
		}
	}
	return first
}

// Spend is called just before a call of the check run in ctx is sent to
// region: it spends a call already paid for in region (by Take or Pay) and
// not yet made, else waits until one more is admitted there, so every call
// is paid in the Region whose quota it uses, once. A call sent on to
// another Region than the check's, because the customer's account has the
// check's disabled, so pays in that Region; and a call paid for in a Region
// that turned out disabled before it was made pays again where it goes.
// A Region the budget does not list pays in the first. Without a budget in
// ctx it returns at once.
func Spend(ctx context.Context, region string) error {
	b, ok := checkOf(ctx)
	if !ok || b.Regions == nil {
		return nil
	}
	i := b.indexOf(region)
	b.mu.Lock()
	if b.paid[i] > 0 {
		b.paid[i]--
		b.mu.Unlock()
		return nil
	}
	b.mu.Unlock()
	return b.limiters[i].Take(ctx, 1)
}

// SetDisabled records that the customer's account answered
// RegionDisabledException in region during the check run in ctx (the
// answer depends on the account and the Region only, whatever the
// external ID): its later calls and retries are not sent there again
// (Disabled), nor paid for there (Pay). Without a check in ctx it does
// nothing.
func SetDisabled(ctx context.Context, region string) {
	b, ok := checkOf(ctx)
	if !ok {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.disabled == nil {
		b.disabled = map[string]bool{}
	}
	b.disabled[region] = true
}

// Disabled reports whether the customer's account answered
// RegionDisabledException in region during the check run in ctx.
func Disabled(ctx context.Context, region string) bool {
	b, ok := checkOf(ctx)
	if !ok {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.disabled[region]
}

// ThrottledIn reports that STS throttled a call of the check run in ctx
// that was sent to region, as stsclient.Regional does for each call, since
// it alone knows where a call went: region slows down, and Throttled for
// the same check then slows nothing more. A call sent on to another Region
// than the check's (its account has the check's disabled) and throttled
// there so slows that Region, not the check's. Without a budget in ctx it
// does nothing.
func ThrottledIn(ctx context.Context, region string) {
	b, ok := checkOf(ctx)
	if !ok || b.Regions == nil {
		return
	}
	b.throttleReported.Store(true)
	b.limiters[b.indexOf(region)].Throttled()
}
