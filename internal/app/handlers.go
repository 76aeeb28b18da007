package app

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/httpapi"
	"github.com/rolecall/rolecall/internal/onboarding"
	"github.com/rolecall/rolecall/internal/probe"
	"github.com/rolecall/rolecall/internal/publish"
	"github.com/rolecall/rolecall/internal/register"
	"github.com/rolecall/rolecall/internal/rolearn"
	"github.com/rolecall/rolecall/internal/stsbudget"
	"github.com/rolecall/rolecall/internal/stsclient"
	"github.com/rolecall/rolecall/internal/sweep"
	"github.com/rolecall/rolecall/internal/verify"
)

// ErrMissing: a handler needs a component the components lack.
var ErrMissing = errors.New("app: missing component")

func need(what string, ok bool) error {
	if ok {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrMissing, what)
}

// Onboarding is the onboarding service of the API and registration
// handlers. It needs Store; Queue when submissions are queued.
func Onboarding(p Partner, policy connection.Policy, submissionsPerMinute int, c Components) *onboarding.Service {
	return &onboarding.Service{
		Store:                c.Store,
		Queue:                c.Queue,
		Policy:               policy,
		Rules:                rules(p),
		SubmissionsPerMinute: submissionsPerMinute,
		Log:                  c.log(),
	}
}

// rules are the role ARN rules of submissions: the deployment's partition
// (the trusted principal's) and never the partner's own account.
func rules(p Partner) rolearn.Rules {
	return Rules(rolearn.PartitionOr(p.TrustedPrincipalARN, "aws"), p.AccountID)
}

// Rules are the role ARN rules of a check: a role of partition, never of
// ownAccount (the partner's; empty: none known). Submissions use them with
// the deployment's partition; `rolecall verify` with its Region's.
func Rules(partition, ownAccount string) rolearn.Rules {
	return rolearn.Rules{Partition: partition, OwnAccount: ownAccount}
}

// APIConfig is the HTTP API's configuration as the API function runs it,
// for svc (Onboarding) and its registrations: operations authorized by API Gateway's IAM
// authorizer for the partner's account. `rolecall serve` changes the
// operations authorizer and adds its local routes before httpapi.New.
func APIConfig(s API, svc *onboarding.Service, regs *onboarding.Registrations, c Components) httpapi.Config {
	return httpapi.Config{
		Service:             svc,
		Ops:                 httpapi.APIGatewayIAM{Accounts: []string{s.AccountID}},
		PartnerName:         s.PartnerName,
		PartnerAccountID:    s.AccountID,
		PropagationWindow:   s.Policy.PropagationWindow,
		TrustedPrincipalARN: s.TrustedPrincipalARN,
		EventSource:         s.EventSource,
		Registrations:       regs,
		Setup: httpapi.RoleSetup{TrustedPrincipalARN: s.TrustedPrincipalARN, TemplateURL: s.TemplateURL, Region: c.Region,
			RoleNamePrefix: s.RoleNamePrefix, RegistrationTopicARN: s.RegistrationTopicARN},
		Log: c.log(),
	}
}

// NewAPI is the API function's handler: the customer routes, the
// operations routes and the customer web form. It needs Store,
// Registrations and Queue.
func NewAPI(s API, c Components) (http.Handler, error) {
	if err := CheckAPI(c); err != nil {
		return nil, err
	}
	svc := Onboarding(s.Partner, s.Policy, s.SubmissionsPerMinute, c)
	return httpapi.New(APIConfig(s, svc, &onboarding.Registrations{Service: svc, Tokens: c.Registrations}, c))
}

// CheckAPI reports the components the API handler needs and c lacks
// (ErrMissing): Store, Registrations and Queue. Whoever builds the API
// from APIConfig instead of NewAPI checks with it first.
func CheckAPI(c Components) error {
	return errors.Join(need("store", c.Store != nil), need("registrations", c.Registrations != nil), need("queue", c.Queue != nil))
}

// NewPublish is the publish function's handler: it puts the outbox events
// the store's change feed delivers on the bus. It needs Bus.
func NewPublish(s Publish, c Components) (*publish.Handler, error) {
	if err := need("bus", c.Bus != nil); err != nil {
		return nil, err
	}
	source := s.Source
	if source == "" {
		source = publish.DefaultSource
	}
	pub := &publish.Publisher{Bus: c.Bus, Source: source, BusName: s.BusName, Log: c.log()}
	return &publish.Handler{Publisher: pub, Log: c.log()}, nil
}

// NewRegister is the registration function's handler: it answers the
// CloudFormation custom-resource requests of customers' stacks. It needs
// Store and Registrations. Answers go to the deployment Region's response
// bucket only: CloudFormation needs the topic in the stack's Region.
func NewRegister(s Register, c Components) (*register.Handler, error) {
	if err := errors.Join(need("store", c.Store != nil), need("registrations", c.Registrations != nil)); err != nil {
		return nil, err
	}
	svc := Onboarding(s.Partner, s.Policy, 0, c)
	return RegisterFor(s, svc, &onboarding.Registrations{Service: svc, Tokens: c.Registrations}, c), nil
}

// RegisterFor is the registration handler over an onboarding service and
// registrations already built (serve shares the API's).
func RegisterFor(s Register, svc *onboarding.Service, regs *onboarding.Registrations, c Components) *register.Handler {
	return &register.Handler{
		Registrar:  regs,
		Onboarding: svc,
		Answers:    c.Registrations,
		Sender:     &register.Responder{Policy: register.URLPolicy{Region: c.Region, AllowLoopback: s.AllowLoopback}},
		Wait:       s.Wait,
		Poll:       s.Poll,
		Clock:      c.clock(),
		Log:        c.log(),
	}
}

// NewSweep is the sweep function's handler: it sends the connections due
// for a check to the verify queue, oldest first and, with a plan, no more
// than the routine share of the STS budget serves until the next sweep
// (each Region's quota serves the budget). It needs Store and Queue; it
// tells the time by c.Clock when set.
func NewSweep(s Sweep, c Components) (*sweep.Sweeper, error) {
	if err := errors.Join(need("store", c.Store != nil), need("queue", c.Queue != nil)); err != nil {
		return nil, err
	}
	sw := &sweep.Sweeper{Store: c.Store, Queue: c.Queue, Every: s.Every, Interval: s.Interval, MetricsNamespace: s.MetricsNamespace, Log: c.log()}
	if c.Clock != nil {
		sw.Now = c.Clock.Now
	}
	if paced(s.Plan) {
		plan, err := regionPlan(s.Plan, c.Region, s.STSRegions, c.log())
		if err != nil {
			return nil, err
		}
		sw.ChecksPerSecond = plan.RoutineChecksPerSecond()
	}
	return sw, nil
}

func paced(p stsbudget.Plan) bool { return p.RequestsPerSecond > 0 }

// regionPlan is the plan over the deployment's Region and extra. A plan
// whose shares were raised to one check (template.yaml's parameters vary
// independently, so a small budget over many instances deploys) is used,
// with a warning at start that the instances may exceed the budget.
func regionPlan(p stsbudget.Plan, region string, extra []string, log *slog.Logger) (stsbudget.Plan, error) {
	p.Regions = stsbudget.RegionList(region, extra)
	if err := p.Validate(); err != nil {
		return p, err
	}
	if over := p.Overshoot(); over > 0 {
		log.Warn("an instance's share of the STS budget is below one check, so it is raised to one check: the verify instances together may exceed the budget in each Region; raise StsRequestsPerSecond (or StsPriorityPercent) or lower VerifyConcurrency",
			"requestsPerSecond", p.RequestsPerSecond, "overshootPerSecond", over, "routineShare", p.RoutineShare(),
			"priorityShare", p.PriorityShare(), "callsPerCheck", stsbudget.CallsPerCheck)
	}
	return p, nil
}

// NewChecker is the verify handler's checker: c.Checker when set, else
// Checker.
func NewChecker(c Components, s Verify) verify.Checker {
	if c.Checker != nil {
		return c.Checker
	}
	return Checker(c, s)
}

// Checker is the checker over c.STS with the checker's retries
// (stsclient.Checker), timed by c.Clock when set.
func Checker(c Components, s Verify) *probe.Checker {
	o := stsclient.Options{BaseDelay: s.CheckBaseDelay, Log: c.log()}
	if c.Clock != nil {
		o.Now = c.Clock.Now
	}
	return stsclient.Checker(c.STS, o)
}

// NewVerify is the verify function's handler: it checks the roles of the
// jobs on the routine queue and, when set, the priority queue, each with
// its worker and, with a plan, its share of the STS budget; messages of an
// unknown queue go to the routine worker. It needs Store, Queue and STS
// (or Checker).
func NewVerify(s Verify, c Components) (*verify.ByQueue, error) {
	if err := errors.Join(need("store", c.Store != nil), need("queue", c.Queue != nil), need("STS", c.STS != nil || c.Checker != nil)); err != nil {
		return nil, err
	}
	checker := NewChecker(c, s)
	routine := &verify.Worker{Store: c.Store, Checker: checker, Policy: s.Policy, Log: c.log(), Concurrency: s.RoutineConcurrency, Visibility: visibility(c.Queue)}
	h := &verify.ByQueue{Default: routine, Workers: map[string]*verify.Worker{s.QueueARN: routine}}
	var priority *verify.Worker
	if c.PriorityQueue != nil {
		priority = &verify.Worker{Store: c.Store, Checker: checker, Policy: s.Policy, Log: c.log(), Visibility: visibility(c.PriorityQueue)}
		h.Workers[s.PriorityQueueARN] = priority
	}
	if !paced(s.Plan) {
		return h, nil
	}
	plan, err := regionPlan(s.Plan, c.Region, s.STSRegions, c.log())
	if err != nil {
		return nil, err
	}
	budget, err := plan.RoutineBudget(c.clock())
	if err != nil {
		return nil, err
	}
	routine.Budget = budget
	if priority != nil {
		if priority.Budget, err = plan.PriorityBudget(c.clock()); err != nil {
			return nil, err
		}
	}
	return h, nil
}

// visibility is how a worker delays redeliveries on q: nil (no delay) for
// a queue without visibility timeouts.
func visibility(q Queue) verify.Visibility {
	v, _ := q.(verify.Visibility)
	return v
}
