package stsbudget

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/rolecall/rolecall/internal/probe"
)

// CallsPerCheck is what one check costs in STS calls: AssumeRole with the
// external ID, without it, and with a decoy. Each check takes that many
// tokens before it runs.
const CallsPerCheck = 3

// Defaults of the deployment settings.
const (
	DefaultRequestsPerSecond = 400
	DefaultPriorityPercent   = 3
	DefaultConcurrency       = 2
)

// InFlight is how many checks a routine instance runs at once: enough to
// keep a share of ~100 checks a second busy at up to two STS round trips
// of up to 150 ms each (100 × 2 × 0.15 = 30). A check's probes run side by
// side, one round trip; during a rotation's grace a denied current
// external ID is followed by a probe with the previous one, the second.
const InFlight = 30

// Plan splits the STS budget between the two verify queues and their
// instances. Routine re-checks (the sweep's) and priority checks (new
// submissions, operators' re-checks) arrive on separate queues, each
// consumed by its own event source mapping with its own maximum
// concurrency; a fixed share of the budget is reserved for priority checks,
// so they never wait behind a routine backlog, not in the queue and not for
// tokens.
type Plan struct {
	// RequestsPerSecond is the budget across all verify instances
	// (StsRequestsPerSecond).
	RequestsPerSecond int
	// PriorityPercent is the share of the budget reserved for priority
	// checks.
	PriorityPercent int
	// RoutineConcurrency and PriorityConcurrency are the event source
	// mappings' maximum concurrency: how many instances hold a share.
	RoutineConcurrency, PriorityConcurrency int
	// Regions are the Regions whose STS quotas the checks use, the
	// deployment's first (StsRegions adds to it; empty: the deployment's
	// only). Each has its own quota, and the budget holds in each.
	Regions []string
}

// regions is how many Regions' quotas the plan uses.
func (p Plan) regions() int { return max(1, len(p.Regions)) }

// DefaultPlan is the plan of a default deployment.
func DefaultPlan() Plan {
	return Plan{RequestsPerSecond: DefaultRequestsPerSecond, PriorityPercent: DefaultPriorityPercent,
		RoutineConcurrency: DefaultConcurrency, PriorityConcurrency: DefaultConcurrency}
}

// Validate refuses a plan whose settings are out of their ranges. A share
// below one check is not refused: RoutineShare and PriorityShare raise it
// to one check (Overshoot says by how much the plan then exceeds the
// budget), since template.yaml's parameters vary independently and every
// combination of them must deploy a verify function that starts.
func (p Plan) Validate() error {
	var errs []error
	if p.RequestsPerSecond < 1 {
		errs = append(errs, fmt.Errorf("STS requests per second %d: want at least 1", p.RequestsPerSecond))
	}
	if p.PriorityPercent < 1 || p.PriorityPercent > 50 {
		errs = append(errs, fmt.Errorf("priority percent %d: want 1 to 50", p.PriorityPercent))
	}
	if p.RoutineConcurrency < 1 || p.PriorityConcurrency < 1 {
		errs = append(errs, fmt.Errorf("concurrency %d/%d: want at least 1", p.RoutineConcurrency, p.PriorityConcurrency))
	}
	if len(errs) > 0 {
		return fmt.Errorf("stsbudget: %w", errors.Join(errs...))
	}
	return nil
}

// RoutineShare is one routine instance's limit, in STS calls a second: its
// part of the budget, and at least one check (CallsPerCheck), without which
// the instance could never check a role.
func (p Plan) RoutineShare() float64 { return max(p.routinePart(), CallsPerCheck) }

// PriorityShare is one priority instance's limit, in STS calls a second,
// also at least one check.
func (p Plan) PriorityShare() float64 { return max(p.priorityPart(), CallsPerCheck) }

// routinePart and priorityPart are one instance's part of the budget,
// before the floor of one check.
func (p Plan) routinePart() float64 {
	return float64(p.RequestsPerSecond) * float64(100-p.PriorityPercent) / 100 / float64(p.RoutineConcurrency)
}

func (p Plan) priorityPart() float64 {
	return float64(p.RequestsPerSecond) * float64(p.PriorityPercent) / 100 / float64(p.PriorityConcurrency)
}

// Overshoot is how many STS calls a second all instances' shares together
// may exceed the budget by, in each Region: 0 unless a share was raised to
// one check, and then at most one check per instance.
func (p Plan) Overshoot() float64 {
	return float64(p.RoutineConcurrency)*(p.RoutineShare()-p.routinePart()) +
		float64(p.PriorityConcurrency)*(p.PriorityShare()-p.priorityPart())
}

// RoutineChecksPerSecond is how many routine checks all routine instances
// together admit a second at full pace: what the sweep paces to.
func (p Plan) RoutineChecksPerSecond() float64 {
	return float64(p.regions()*p.RoutineConcurrency) * (math.Floor(p.RoutineShare()) - CallsPerCheck + 1) / CallsPerCheck
}

// RoutineBudget returns a routine instance's budget: its share in each
// Region.
func (p Plan) RoutineBudget(clock Clock) (*Regions, error) {
	return NewRegions(p.Regions, p.RoutineShare(), CallsPerCheck, clock)
}

// PriorityBudget returns a priority instance's budget.
func (p Plan) PriorityBudget(clock Clock) (*Regions, error) {
	return NewRegions(p.Regions, p.PriorityShare(), CallsPerCheck, clock)
}

// ThrottlingCodes are the error codes by which STS (and AWS SDKs) say a
// caller exceeded its request rate.
var ThrottlingCodes = map[string]bool{
	"Throttling": true, "ThrottlingException": true, "RequestLimitExceeded": true,
	"TooManyRequestsException": true, "RequestThrottled": true,
}

// Throttled reports whether any STS call of the check was throttled.
func Throttled(rep probe.Report) bool {
	if ThrottlingCodes[rep.Outcome.Detail] {
		return true
	}
	for _, s := range rep.Steps {
		if ThrottlingCodes[s.Code] || slices.ContainsFunc(s.Retried, func(c string) bool { return ThrottlingCodes[c] }) {
			return true
		}
	}
	return false
}
