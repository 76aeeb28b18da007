package emulator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/rolecall/rolecall/internal/app"
	"github.com/rolecall/rolecall/internal/bus"
	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/httpapi"
	"github.com/rolecall/rolecall/internal/onboarding"
	"github.com/rolecall/rolecall/internal/publish"
	"github.com/rolecall/rolecall/internal/register"
	"github.com/rolecall/rolecall/internal/sandbox"
	"github.com/rolecall/rolecall/internal/store"
	"github.com/rolecall/rolecall/internal/sweep"
	"github.com/rolecall/rolecall/internal/verify"
)

// Stack is the pipeline built by New: its components, each an exported
// field that may be replaced before Build, the handlers Build makes of
// them, and the description of the wiring for the banner.
type Stack struct {
	// Components are what internal/app builds the handlers from: the store
	// (embedded or DynamoDB) and its registrations, the verify queue, the
	// bus the publish handler puts events on (Bus, or its tee to
	// EventBridge), the checker's STS port (the sandbox through the SDK,
	// or real STS) and the logger. Setting Components.Checker replaces the
	// checker (see Checker).
	Components app.Components
	// Settings are the verify and sweep handlers' settings: the Lambdas'
	// defaults with serve's options (see verifySettings, sweepSettings).
	// They may be replaced before Build, as the components may; the
	// lifecycle policy in Settings.Verify is every handler's.
	Settings Settings
	// SandboxSTS is the handler of the sandbox STS the checker calls
	// (Sandbox; nil with AWS).
	SandboxSTS http.Handler
	// Handlers are the handlers Build made (zero before): a handler may be
	// wrapped before Start.
	Handlers Handlers

	// URL is the base URL, e.g. http://127.0.0.1:8080.
	URL string
	// OpsToken authorizes the ops routes.
	OpsToken string
	// DemoInviteURL opens the customer form for tenant DemoTenant (set by
	// Build).
	DemoInviteURL string
	// PartnerPrincipalARN is the principal customer roles must trust.
	PartnerPrincipalARN string
	// PartnerAccountID is the partner's AWS account.
	PartnerAccountID string
	// WorkloadAccessKeyID and WorkloadSecretAccessKey sign as the
	// sandbox's workload principal (SandboxWorkloadARN), which the access
	// role trusts: set them as AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY
	// for `rolecall credentials` and the SDKs (the sandbox checks the
	// signature, and the secret is this serve's own). Empty with AWS.
	WorkloadAccessKeyID, WorkloadSecretAccessKey string
	// StoreKind, STSKind and QueueKind describe the wiring for the banner.
	StoreKind, STSKind, QueueKind string

	Sandbox *sandbox.STS // nil with AWS
	// Bus is the in-process bus: stdout, the ops page, /v1/events and the
	// submission rule read it.
	Bus   *bus.Memory
	Queue VerifyQueue // *queue.Memory, or *queue.SQS with Options.QueueURL
	// StackRoutesSubmissions: with AWS, an event bus and a queue URL, the
	// deployed stack's Role Submitted rule sends submissions to the
	// stack's priority queue, which the deployed verify function checks,
	// so serve does not subscribe its own (each would be checked twice).
	StackRoutesSubmissions bool

	// Service and Registrations are the onboarding service and
	// registrations of the API and registration handlers (set by Build).
	Service       *onboarding.Service
	Registrations *onboarding.Registrations

	opts Options
	// sandboxConfig is the sandbox's configuration but its seed (see
	// newSandbox); zero with AWS.
	sandboxConfig sandbox.Config
	// sandboxPartner: the sandbox models the partner account, and the
	// verifier chains through its access role.
	sandboxPartner bool
	listener       net.Listener
	stsListener    net.Listener // the sandbox STS the checker calls; nil with AWS
	stsURL         string       // its base URL
	outbox         *store.Memory
	stream         *streamFeed
	cfn            *sandboxCloudFormation // plays CloudFormation; nil with AWS
	// receiveWait is the verify loop's long poll: 1s in process, 20s
	// (SQS's longest, the fewest requests) on a real queue.
	receiveWait time.Duration
	built       bool
	started     bool
}

// Settings are the settings internal/app builds the verify and sweep
// handlers with.
type Settings struct {
	// Verify are the verify handler's settings. Its Policy is the
	// lifecycle policy of every handler (verify, API, registration), so
	// that a submission and the checks of its role follow one policy.
	Verify app.Verify
	Sweep  app.Sweep
}

// Handlers are the handlers the event sources call, built by internal/app
// as the Lambdas' are.
type Handlers struct {
	// API serves HTTP (with serve's local routes).
	API http.Handler
	// Publish is what the change feed hands new outbox events to.
	Publish PublishHandler
	Verify  *verify.ByQueue
	Sweep   *sweep.Sweeper
	// Register answers the sandbox registration topic (nil with AWS).
	Register *register.Handler
}

// PublishHandler is the publish handler as the change feeds call it: the
// DynamoDB stream feed hands it the stream's records, as Lambda does; the
// embedded outbox feed hands it the events.
type PublishHandler interface {
	Handle(ctx context.Context, in events.DynamoDBEvent) (events.DynamoDBEventResponse, error)
	Publish(ctx context.Context, evs []connection.Event) (failed []int, err error)
}

// publishHandler is the PublishHandler of a *publish.Handler.
type publishHandler struct{ *publish.Handler }

func (h publishHandler) Publish(ctx context.Context, evs []connection.Event) ([]int, error) {
	return h.Publisher.Publish(ctx, evs)
}

// Settings for internal/app's constructors, from the options.

func (st *Stack) partner() app.Partner {
	return app.Partner{AccountID: st.PartnerAccountID, TrustedPrincipalARN: st.opts.TrustedPrincipalARN}
}

// verifySettings are the verify function's defaults (the STS budget, the
// routine concurrency) with serve's overrides.
func (st *Stack) verifySettings() app.Verify {
	s := app.DefaultVerify()
	// The lifecycle policy comes from serve's flags (check interval,
	// lost-after, propagation window): a demo may check roles much sooner
	// than a deployment does.
	s.Policy = st.opts.Policy()
	s.Plan.RoutineConcurrency = servedInstances
	return s
}

// servedInstances: serve runs one verify worker where the deployed
// function runs RoutineConcurrency instances, so it holds the routine
// share they split, and its sweeps are paced to that one worker. (serve
// has one queue: submissions share it and the routine budget, and the
// priority share goes unused.)
const servedInstances = 1

// sweepSettings are the sweep function's defaults (the STS budget the
// sweeps are paced to) with serve's overrides.
func (st *Stack) sweepSettings() app.Sweep {
	s := app.DefaultSweep()
	s.Plan.RoutineConcurrency = servedInstances
	// The routine interval is serve's --check-interval, as the verify
	// handler's policy is.
	s.Interval = st.opts.CheckInterval
	// A due sweep enqueues what the budget serves until the next one: the
	// next tick of serve's ticker; with the ticker off (sweeps on request
	// only) the deployed schedule's interval stays.
	if st.opts.SweepEvery > 0 {
		s.Every = st.opts.SweepEvery
	}
	return s
}

// Checker is the checker Build gives the verify handler: Components.Checker
// when set, else the checker over Components.STS as the verify Lambda's
// (app.NewChecker). Wrapping it: set Components.Checker to a wrapper of
// Checker().
func (st *Stack) Checker() verify.Checker {
	return app.NewChecker(st.Components, st.Settings.Verify)
}

// pollable takes the verify queue the pollers receive from, and the
// embedded store whose outbox is the change feed (without a DynamoDB
// stream), from the components, so that a component replaced between New
// and Build is the one the event sources use too.
func (st *Stack) pollable() error {
	q, ok := st.Components.Queue.(VerifyQueue)
	if !ok {
		return fmt.Errorf("the verify queue %T cannot be polled: serve receives, deletes and delays its messages", st.Components.Queue)
	}
	st.Queue = q
	if st.stream != nil {
		return nil
	}
	mem, ok := st.Components.Store.(*store.Memory)
	if !ok {
		return fmt.Errorf("the store %T has no change feed: without a DynamoDB stream serve publishes the embedded store's outbox", st.Components.Store)
	}
	st.outbox = mem
	return nil
}

// Build builds the handlers from the components through internal/app, and
// creates the demo tenant and its invite. Start builds them when Build was
// not called.
func (st *Stack) Build(ctx context.Context) error {
	if st.built {
		return nil
	}
	o, c := st.opts, st.Components
	if err := st.pollable(); err != nil {
		return err
	}
	if err := app.CheckAPI(c); err != nil {
		return fmt.Errorf("build the API handler: %w", err)
	}
	pubSettings := app.Publish{Source: o.EventSource}
	if o.AWS && o.EventBusName != "" {
		pubSettings.BusName = o.EventBusName
	}
	pub, err := app.NewPublish(pubSettings, c)
	if err != nil {
		return err
	}
	st.Handlers.Publish = publishHandler{pub}
	if st.Handlers.Verify, err = app.NewVerify(st.Settings.Verify, c); err != nil {
		return err
	}
	if st.Handlers.Sweep, err = app.NewSweep(st.Settings.Sweep, c); err != nil {
		return err
	}

	apiSettings := app.API{Partner: st.partner(), PartnerName: o.PartnerName, EventSource: o.EventSource,
		TemplateURL: o.TemplateURL, SubmissionsPerMinute: o.SubmissionsPerMinute, Policy: st.Settings.Verify.Policy}
	st.Service = app.Onboarding(apiSettings.Partner, apiSettings.Policy, apiSettings.SubmissionsPerMinute, c)
	st.Registrations = &onboarding.Registrations{Service: st.Service, Tokens: c.Registrations}

	// The demo tenant and its invite.
	if _, err := st.Service.CreateTenant(ctx, DemoTenant, "Demo Customer"); err != nil {
		if e := onboarding.AsError(err); e == nil || e.Code != onboarding.CodeTenantExists {
			return fmt.Errorf("create the demo tenant: %w", err)
		}
	}
	code, _, err := st.Service.CreateInvite(ctx, DemoTenant)
	if err != nil {
		return fmt.Errorf("invite the demo tenant: %w", err)
	}
	st.DemoInviteURL = st.URL + "/connect?invite=" + code

	// The HTTP handler: the API function's, with serve's ops token, event
	// log, sweeps and sandbox routes.
	opsAuth, err := httpapi.NewBearerToken(st.OpsToken)
	if err != nil {
		return err
	}
	cfg := app.APIConfig(apiSettings, st.Service, st.Registrations, c)
	cfg.Ops, cfg.OpsPage = opsAuth, true
	if !o.Public {
		// A public serve may sit behind a proxy on this machine, whose
		// requests come from and name a loopback address: the demo
		// invite, a credential, is then for the banner only.
		cfg.DemoInviteURL = st.DemoInviteURL
	}
	cfg.Events, cfg.Sweeper = busEvents{st.Bus}, sweepNow{st.Handlers.Sweep}
	if st.Sandbox != nil {
		cfg.Sandbox = &sandboxControl{sts: st.Sandbox, endpoint: st.URL + SandboxSTSPath, principal: o.TrustedPrincipalARN, workloadKey: st.WorkloadAccessKeyID}
		if err := st.sandboxRegistrationRoutes(&cfg); err != nil {
			return err
		}
	}
	api, err := httpapi.New(cfg)
	if err != nil {
		return err
	}
	st.Handlers.API = api
	if st.Sandbox != nil {
		st.Handlers.API = withSandboxSTS(api, st.Sandbox)
	}
	st.built = true
	return nil
}

// withSandboxSTS serves the sandbox STS at exactly SandboxSTSPath and
// everything else with api. It is not a ServeMux: a mux cleans a path
// with dot or empty segments and redirects it itself, and a client
// following that redirect sends its method, body and bearer token again to
// another resource, which the API refuses to do (it answers such paths
// 404, with its security headers).
func withSandboxSTS(api, sts http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == SandboxSTSPath {
			sts.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	})
}

// Start builds the handlers if Build was not called, then starts the
// event sources around them (the change feed, the submission rule, the
// verify queue's pollers, the sweep ticker) and serves HTTP until
// Shutdown. ctx bounds the start only.
func (st *Stack) Start(ctx context.Context) (_ *Server, err error) {
	if st.started {
		return nil, errors.New("the stack was started already")
	}
	defer func() {
		if err != nil {
			st.close()
		}
	}()
	if err := st.Build(ctx); err != nil {
		return nil, err
	}
	st.started = true
	o := st.opts
	s := &Server{Stack: st, log: o.Log, serveErr: make(chan error, 1)}
	if st.stream != nil {
		st.stream.handler = st.Handlers.Publish
		s.feed = st.stream
	} else {
		s.feed = &outboxFeed{mem: st.outbox, pub: st.Handlers.Publish, log: o.Log}
	}
	s.http = &http.Server{
		Handler:           o.hostGuard(st.Handlers.API),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(o.Log.Handler(), slog.LevelWarn),
	}
	if st.stsListener != nil {
		s.stsHTTP = &http.Server{Handler: o.hostGuard(st.SandboxSTS), ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = s.stsHTTP.Serve(st.stsListener) }()
	}

	// Bus rules: every event to stdout as a JSON line; Role Submitted to
	// the verify queue, unless the deployed stack's rule does it.
	st.Bus.Subscribe("", (&lineWriter{w: o.Events}).write)
	if !st.StackRoutesSubmissions {
		st.Bus.Subscribe(string(connection.RoleSubmitted), s.submitted)
	}
	s.run()
	return s, nil
}
