// Package local runs the whole RoleCall pipeline in one process: what
// `rolecall serve` starts, and what the end-to-end tests start on a random
// loopback port.
//
// It wires the same handlers the Lambdas run: the HTTP handler (httpapi);
// the store's change feed (the embedded store's outbox, or the DynamoDB
// stream) → the publish handler → an in-process bus; a bus rule on
// "Role Submitted" → an in-process queue (or, with AWS and a QueueURL, a
// real SQS queue) → the verify handler; a ticker → the sweep handler. STS
// is the sandbox (an STS-compatible endpoint served on the same port,
// called through the real SDK client) unless AWS is set.
package local

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/rolecall/rolecall/access"
	"github.com/rolecall/rolecall/internal/bus"
	"github.com/rolecall/rolecall/internal/check"
	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/httpapi"
	"github.com/rolecall/rolecall/internal/onboarding"
	"github.com/rolecall/rolecall/internal/publish"
	"github.com/rolecall/rolecall/internal/queue"
	"github.com/rolecall/rolecall/internal/rolearn"
	"github.com/rolecall/rolecall/internal/sandbox"
	"github.com/rolecall/rolecall/internal/store"
	"github.com/rolecall/rolecall/internal/stsclient"
	"github.com/rolecall/rolecall/internal/sweep"
	"github.com/rolecall/rolecall/internal/verify"
)

// Sandbox identities: the partner access role (the principal customer
// roles trust) in a pretend partner account, and the access key the
// verifier's SDK client signs with (see partner.go for the account).
const (
	SandboxPartnerAccount = "123456789012"
	SandboxPrincipalARN   = "arn:aws:iam::" + SandboxPartnerAccount + ":role/rolecall-" + SandboxStage + "-access"
	sandboxAccessKey      = "AKIAROLECALLSANDBOX0"
	sandboxSecretKey      = "sandbox-secret-not-a-credential"
	// SandboxSTSPath is where the sandbox STS listens on the server.
	SandboxSTSPath = "/_sandbox/sts"
)

// DemoTenant is the tenant serve creates at start, with an invite.
const DemoTenant = "demo"

// DefaultPartnerName is the partner's display name when none is set.
const DefaultPartnerName = "RoleCall demo partner"

// Options configure the pipeline. The zero value runs the embedded store
// and the sandbox STS on 127.0.0.1:8080 with the documented defaults.
type Options struct {
	// Addr to listen on (default 127.0.0.1:8080; port 0 picks a free one).
	// It must be a loopback address unless Public is set (Validate).
	Addr string
	// Public allows a non-loopback Addr, and clients that name PublicHost;
	// only with AWS, never with the sandbox.
	Public bool
	// PublicHost is the host name (or IP address) clients reach a public
	// server by. Requests whose Host is neither loopback nor PublicHost
	// are answered 421 (DNS-rebinding defence).
	PublicHost string
	// DynamoDBEndpoint selects the DynamoDB adapter against this endpoint
	// (DynamoDB Local); the table is created when missing.
	DynamoDBEndpoint string
	// TableName of the DynamoDB table (default "rolecall" with an
	// endpoint). With AWS and no endpoint, a set TableName selects that
	// real table, which must exist (deployed by template.yaml).
	TableName string
	// AWS uses the default AWS credential chain and real STS instead of
	// the sandbox.
	AWS bool
	// EventBusName, with AWS, also puts every event on this EventBridge bus.
	EventBusName string
	// QueueURL, with AWS, selects this real SQS queue (the stack's verify
	// queue) instead of the in-process one: sweeps, re-checks and the
	// "Role Submitted" rule send to it and the verify loop receives from
	// it.
	QueueURL string
	// Region of the AWS clients (default us-east-1, or the SDK's with AWS).
	Region string
	// TrustedPrincipalARN is the principal customer roles trust. Sandbox:
	// SandboxPrincipalARN, the partner access role the verifier chains
	// through (given another, the verifier is that principal itself). AWS:
	// AccessRoleARN, else the caller's identity.
	TrustedPrincipalARN string
	// AccessRoleARN, with AWS, is the stack's partner access role
	// (rolecall-<stage>-access): the verifier chains through it, as the
	// verify Lambda does, and customer roles trust it.
	AccessRoleARN string
	// TemplateURL of customer-role.yaml, for quick-create links.
	TemplateURL string
	// OpsToken for the ops routes (generated when empty; at least
	// MinOpsToken characters when set).
	OpsToken string
	// SweepEvery: interval of the sweep ticker (default 1m; negative: off).
	SweepEvery time.Duration
	// CheckInterval between routine checks of verified roles (default 1h).
	CheckInterval time.Duration
	// LostAfter consecutive failed checks make a verified role ACCESS_LOST
	// (default 2).
	LostAfter int
	// PropagationWindow for new roles (default 2m).
	PropagationWindow time.Duration
	// SandboxLatency added to every sandbox STS call.
	SandboxLatency time.Duration
	// EventSource of the events (default "rolecall").
	EventSource string
	// PartnerName is the partner's display name on the customer form
	// (default DefaultPartnerName).
	PartnerName string
	// SubmissionsPerMinute one invite may make (default 20).
	SubmissionsPerMinute int
	// Tune adjusts the lifecycle policy after the options above (tests use
	// it for tiny backoffs).
	Tune func(*connection.Policy)
	// CheckBaseDelay is the checker's first retry delay (default 200ms).
	CheckBaseDelay time.Duration
	// Events receives one JSON line per event (default os.Stdout).
	Events io.Writer
	// Log for the pipeline's logs (default slog.Default()).
	Log *slog.Logger
	// Hooks inject faults and observers for tests (hooks.go); serve
	// leaves them zero.
	Hooks Hooks
}

// Server is a running pipeline.
type Server struct {
	// URL is the base URL, e.g. http://127.0.0.1:8080.
	URL string
	// OpsToken authorizes the ops routes.
	OpsToken string
	// DemoInviteURL opens the customer form for tenant DemoTenant.
	DemoInviteURL string
	// PartnerPrincipalARN is the principal customer roles must trust.
	PartnerPrincipalARN string
	// PartnerAccountID is the partner's AWS account.
	PartnerAccountID string
	// WorkloadAccessKeyID signs as the sandbox's workload principal
	// (SandboxWorkloadARN), which the access role trusts: set it as
	// AWS_ACCESS_KEY_ID for `rolecall credentials` and the SDKs (any secret
	// works: the sandbox checks no signature). Empty with AWS.
	WorkloadAccessKeyID string
	// StoreKind and STSKind describe the wiring for the banner.
	StoreKind, STSKind string

	Service *onboarding.Service
	Sandbox *sandbox.STS // nil with AWS
	Bus     *bus.Memory
	Queue   VerifyQueue // *queue.Memory, or *queue.SQS with Options.QueueURL
	// QueueKind describes the verify queue for the banner.
	QueueKind string
	// StackRoutesSubmissions: with AWS, an event bus and a queue URL, the
	// deployed stack's Role Submitted rule enqueues submissions, so serve
	// does not subscribe its own.
	StackRoutesSubmissions bool

	// Registrations issues registration tokens and authenticates stacks.
	Registrations *onboarding.Registrations
	cfn           *sandboxCloudFormation // plays CloudFormation; nil with AWS

	log      *slog.Logger
	http     *http.Server
	stsHTTP  *http.Server // the sandbox STS the checker calls; nil with AWS
	stsURL   string       // its base URL
	listener net.Listener
	feed     feed
	worker   *verify.Worker
	sweeper  *sweep.Sweeper
	// receiveWait is the verify loop's long poll: 1s in process, 20s
	// (SQS's longest, the fewest requests) on a real queue.
	receiveWait time.Duration

	stopSweep, stopVerify, stopFeed context.CancelFunc
	sweepDone, verifyDone, feedDone sync.WaitGroup
	serveErr                        chan error
	shutdownOnce                    sync.Once
	shutdownErr                     error
}

// VerifyQueue is the verify queue as the pipeline uses it: the sweeps, the
// ops re-checks and the "Role Submitted" rule send jobs to it; the verify
// loop receives its messages, delays their redelivery and deletes them.
type VerifyQueue interface {
	Send(ctx context.Context, jobs []check.Job) error
	Receive(ctx context.Context, max int, wait time.Duration) ([]queue.Message, error)
	Delete(ctx context.Context, receiptHandle string) error
	ChangeVisibility(ctx context.Context, receiptHandle string, d time.Duration) error
}

var (
	_ VerifyQueue = (*queue.Memory)(nil)
	_ VerifyQueue = (*queue.SQS)(nil)
)

// feed is a store's change feed: it delivers outbox events to the publish
// handler.
type feed interface {
	// run delivers until ctx is done.
	run(ctx context.Context)
	// drain delivers what is left, then returns.
	drain(ctx context.Context)
}

func (o *Options) defaults() {
	if o.Addr == "" {
		o.Addr = defaultAddr
	}
	if o.SweepEvery == 0 {
		o.SweepEvery = time.Minute
	}
	if o.CheckInterval <= 0 {
		o.CheckInterval = time.Hour
	}
	if o.LostAfter <= 0 {
		o.LostAfter = 2
	}
	if o.PropagationWindow <= 0 {
		o.PropagationWindow = 2 * time.Minute
	}
	if o.EventSource == "" {
		o.EventSource = publish.DefaultSource
	}
	if o.PartnerName == "" {
		o.PartnerName = DefaultPartnerName
	}
	if o.Events == nil {
		o.Events = os.Stdout
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
}

// Policy returns the lifecycle policy the options configure.
func (o Options) Policy() connection.Policy {
	p := connection.DefaultPolicy()
	p.VerifiedInterval = o.CheckInterval
	p.LostAfter = o.LostAfter
	p.PropagationWindow = o.PropagationWindow
	if p.PendingSafetyNet > o.PropagationWindow {
		p.PendingSafetyNet = o.PropagationWindow
	}
	if o.Tune != nil {
		o.Tune(&p)
	}
	return p
}

// Start starts the pipeline and serves HTTP until Shutdown. ctx bounds the
// start only.
func Start(ctx context.Context, o Options) (s *Server, err error) {
	o.defaults()
	if o.QueueURL != "" && !o.AWS {
		return nil, errors.New("a queue URL needs AWS: the in-process queue is used without it")
	}
	if err := o.Validate(); err != nil {
		return nil, err
	}
	s = &Server{log: o.Log, serveErr: make(chan error, 1), Bus: bus.NewMemory()}
	s.Bus.Log = o.Log
	if s.OpsToken = o.OpsToken; s.OpsToken == "" {
		s.OpsToken = newToken()
	}

	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", o.Addr, err)
	}
	s.listener = ln
	defer func() {
		if err != nil {
			ln.Close()
		}
	}()
	if err := o.checkListener(ln); err != nil {
		return nil, err
	}
	s.URL = "http://" + displayAddr(ln.Addr().(*net.TCPAddr))

	var awsCfg aws.Config
	if o.AWS {
		if awsCfg, err = awsconfig.LoadDefaultConfig(ctx); err != nil {
			return nil, fmt.Errorf("load the AWS configuration: %w", err)
		}
		if o.Region != "" {
			awsCfg.Region = o.Region
		}
		if awsCfg.Region == "" {
			awsCfg.Region = "us-east-1"
		}
		o.Region = awsCfg.Region
	} else if o.Region == "" {
		o.Region = "us-east-1"
	}

	// STS: the sandbox, through the real SDK client, or real STS.
	var stsClient *sts.Client
	if o.AWS {
		// The partner's identity comes from the base credentials; checks
		// chain through the access role when one is given, as the Lambda's.
		var baseSTS *sts.Client
		if baseSTS, err = stsclient.New(awsCfg, stsclient.Options{IdleConns: stsIdleConns}); err != nil {
			return nil, err
		}
		trusted := o.TrustedPrincipalARN
		if trusted == "" {
			trusted = o.AccessRoleARN
		}
		if s.PartnerAccountID, o.TrustedPrincipalARN, err = awsPartner(ctx, baseSTS, awsCfg.ConfigSources, trusted); err != nil {
			return nil, err
		}
		stsClient = baseSTS
		if o.AccessRoleARN != "" {
			stsCfg := access.ThroughAccessRole(awsCfg, o.AccessRoleARN, "rolecall-verifier")
			if stsClient, err = stsclient.New(stsCfg, stsclient.Options{IdleConns: stsIdleConns}); err != nil {
				return nil, err
			}
		}
		s.STSKind = "AWS STS (default credential chain)"
	} else {
		// By default the sandbox holds the partner account as template.yaml
		// deploys it, and the verifier chains through the access role.
		chained := o.TrustedPrincipalARN == ""
		callers := map[string]string{sandboxAccessKey: o.TrustedPrincipalARN}
		if chained {
			o.TrustedPrincipalARN, callers = SandboxPrincipalARN, nil
		}
		s.Sandbox = sandbox.New(sandbox.Config{Partition: partitionOf(o.TrustedPrincipalARN),
			Callers: callers, Seed: o.Hooks.sandboxSeed(), Region: o.Region})
		if chained {
			model, err := partnerModel()
			if err != nil {
				return nil, fmt.Errorf("model the sandbox partner account: %w", err)
			}
			if err := s.Sandbox.Load(model); err != nil {
				return nil, fmt.Errorf("model the sandbox partner account: %w", err)
			}
			s.WorkloadAccessKeyID = SandboxWorkloadKeyID
		}
		s.Sandbox.SetFaults(sandbox.Faults{Latency: o.SandboxLatency})
		// The checker calls the sandbox on a listener of its own, so that
		// checks in flight at shutdown still reach it after the public
		// server has stopped; the public server also serves it at
		// SandboxSTSPath for people's own SDK and CLI calls.
		var stsLn net.Listener
		if stsLn, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			return nil, fmt.Errorf("listen for the sandbox STS: %w", err)
		}
		s.stsURL = "http://" + stsLn.Addr().String()
		s.stsHTTP = &http.Server{Handler: o.hostGuard(o.Hooks.wrapSandboxSTS(s.Sandbox)), ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = s.stsHTTP.Serve(stsLn) }()
		defer func() {
			if err != nil {
				s.stsHTTP.Close()
			}
		}()
		var creds aws.CredentialsProvider = credentials.NewStaticCredentialsProvider(sandboxAccessKey, sandboxSecretKey, "")
		if chained {
			base := aws.Config{Region: o.Region, BaseEndpoint: aws.String(s.stsURL), Credentials: creds}
			creds = access.AccessRole(base, SandboxPrincipalARN, "rolecall-verifier")
		}
		sandboxCfg := aws.Config{Region: o.Region, Credentials: creds}
		if stsClient, err = stsclient.New(sandboxCfg, stsclient.Options{Endpoint: s.stsURL, IdleConns: stsIdleConns}); err != nil {
			return nil, err
		}
		s.STSKind = "sandbox STS at " + s.URL + SandboxSTSPath
		s.PartnerAccountID = accountOf(o.TrustedPrincipalARN)
	}
	s.PartnerPrincipalARN = o.TrustedPrincipalARN
	// serve's own copies of the events (stdout, /v1/events, the ops page)
	// name the partner's account and region, as the bus's events do.
	s.Bus.Account, s.Bus.Region = s.PartnerAccountID, o.Region

	// The verify queue: in-process, or a real SQS queue.
	if o.QueueURL != "" {
		s.Queue = &queue.SQS{Client: sqs.NewFromConfig(awsCfg), QueueURL: o.QueueURL}
		s.QueueKind = "SQS queue " + o.QueueURL
		s.receiveWait = queue.MaxWait
	} else {
		mem := queue.NewMemory()
		mem.Visibility = 30 * time.Second
		s.Queue = mem
		s.QueueKind = "in-process verify queue"
		s.receiveWait = time.Second
	}

	// Store and its change feed.
	var st store.Store
	pub := &publish.Publisher{Bus: s.Bus, Source: o.EventSource, Log: o.Log}
	if o.AWS && o.EventBusName != "" {
		pub.Bus = teeBus{s.Bus, &bus.EventBridge{Client: eventbridge.NewFromConfig(awsCfg)}}
		pub.BusName = o.EventBusName
	}
	pub.Bus = o.Hooks.wrapBus(pub.Bus) // test hook; unchanged in serve
	switch {
	case o.DynamoDBEndpoint != "" || (o.AWS && o.TableName != ""):
		st, s.feed, s.StoreKind, err = dynamoStore(ctx, o, awsCfg, pub)
		if err != nil {
			return nil, err
		}
	default:
		mem := store.NewMemory()
		st = mem
		s.feed = &outboxFeed{mem: mem, pub: o.Hooks.wrapPublisher(pub), log: o.Log}
		s.StoreKind = "embedded store (in memory)"
	}

	policy := o.Policy()
	rules := rolearn.Rules{Partition: partitionOf(o.TrustedPrincipalARN), OwnAccount: s.PartnerAccountID}
	s.Service = &onboarding.Service{Store: st, Queue: s.Queue, Policy: policy, Rules: rules, SubmissionsPerMinute: o.SubmissionsPerMinute}
	regStore := registrationsOf(st)
	s.Registrations = &onboarding.Registrations{Service: s.Service, Tokens: regStore}
	s.worker = &verify.Worker{
		Store:      st,
		Checker:    o.Hooks.wrapChecker(stsclient.Checker(o.Hooks.wrapAssumer(&check.STS{Client: stsClient}), stsclient.Options{BaseDelay: o.CheckBaseDelay, Log: o.Log})),
		Policy:     policy,
		Visibility: s.Queue,
		Log:        o.Log,
	}
	s.sweeper = &sweep.Sweeper{Store: st, Queue: s.Queue, Log: o.Log}

	// Bus rules: every event to stdout as a JSON line; Role Submitted to
	// the verify queue, unless the events go to a deployed stack's bus and
	// its queue is the verify queue: the stack's own Role Submitted rule
	// already enqueues each submission there, and a second rule here
	// would check every submission twice.
	s.Bus.Subscribe("", (&lineWriter{w: o.Events}).write)
	if s.StackRoutesSubmissions = o.AWS && o.EventBusName != "" && o.QueueURL != ""; !s.StackRoutesSubmissions {
		s.Bus.Subscribe(string(connection.RoleSubmitted), s.submitted)
	}

	// The demo tenant and its invite.
	if _, err := s.Service.CreateTenant(ctx, DemoTenant, "Demo Customer"); err != nil {
		if e := onboarding.AsError(err); e == nil || e.Code != onboarding.CodeTenantExists {
			return nil, fmt.Errorf("create the demo tenant: %w", err)
		}
	}
	code, _, err := s.Service.CreateInvite(ctx, DemoTenant)
	if err != nil {
		return nil, fmt.Errorf("invite the demo tenant: %w", err)
	}
	s.DemoInviteURL = s.URL + "/connect?invite=" + code

	// The HTTP handler.
	opsAuth, err := httpapi.NewBearerToken(s.OpsToken)
	if err != nil {
		return nil, err
	}
	cfg := httpapi.Config{
		Service: s.Service, Ops: opsAuth, PartnerName: o.PartnerName,
		DemoInviteURL: s.DemoInviteURL, PropagationWindow: policy.PropagationWindow,
		PartnerAccountID: s.PartnerAccountID, TrustedPrincipalARN: o.TrustedPrincipalARN, EventSource: o.EventSource,
		Setup:   httpapi.RoleSetup{TrustedPrincipalARN: o.TrustedPrincipalARN, TemplateURL: o.TemplateURL, Region: o.Region},
		Events:  busEvents{s.Bus},
		Sweeper: sweepNow{s.sweeper},
		OpsPage: true,
		Log:     o.Log,
	}
	cfg.Registrations = s.Registrations
	if s.Sandbox != nil {
		cfg.Sandbox = &sandboxControl{sts: s.Sandbox, endpoint: s.URL + SandboxSTSPath, principal: o.TrustedPrincipalARN, workloadKey: s.WorkloadAccessKeyID}
		if err = s.sandboxRegistrationRoutes(&cfg, regStore, o.Region); err != nil {
			return nil, err
		}
		defer func() {
			if err != nil {
				s.cfn.srv.Close()
			}
		}()
	}
	api, err := httpapi.New(cfg)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	if s.Sandbox != nil {
		mux.Handle(SandboxSTSPath, s.Sandbox)
	}
	mux.Handle("/", api)
	s.http = &http.Server{
		Handler:           o.hostGuard(mux),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(o.Log.Handler(), slog.LevelWarn),
	}

	// Start: the change feed, the verify workers, the sweep ticker, HTTP.
	var fctx, vctx, sctx context.Context
	fctx, s.stopFeed = context.WithCancel(context.Background())
	vctx, s.stopVerify = context.WithCancel(context.Background())
	sctx, s.stopSweep = context.WithCancel(context.Background())
	s.feedDone.Add(1)
	go func() { defer s.feedDone.Done(); s.feed.run(fctx) }()
	for range verifyLoops {
		s.verifyDone.Add(1)
		go func() { defer s.verifyDone.Done(); s.verifyLoop(vctx) }()
	}
	if o.SweepEvery > 0 {
		s.sweepDone.Add(1)
		go func() { defer s.sweepDone.Done(); s.sweepLoop(sctx, o.SweepEvery) }()
	}
	go func() {
		err := s.http.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		s.serveErr <- err
	}()
	return s, nil
}

// verifyLoops is how many batches the verify handler runs at once.
const verifyLoops = 4

// stsIdleConns keeps an idle connection to STS for every call the verify
// loops can make at once (the SDK's default keeps 10 per host, so 40
// concurrent checks kept opening new connections, and TLS handshakes
// against real STS).
const stsIdleConns = verifyLoops * verify.DefaultConcurrency

// Err delivers the HTTP server's error if it stops on its own.
func (s *Server) Err() <-chan error { return s.serveErr }

// Shutdown stops taking requests, lets in-flight requests and checks
// finish, publishes the events they wrote, and stops. It is safe to call
// more than once.
func (s *Server) Shutdown(ctx context.Context) error {
	s.shutdownOnce.Do(func() {
		var errs []error
		if err := s.http.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stop http: %w", err))
		}
		s.stopSweep()
		s.sweepDone.Wait()
		s.stopVerify()
		s.verifyDone.Wait()
		if s.cfn != nil {
			if err := s.cfn.shutdown(ctx); err != nil {
				errs = append(errs, fmt.Errorf("stop the sandbox response bucket: %w", err))
			}
		}
		if s.stsHTTP != nil {
			if err := s.stsHTTP.Shutdown(ctx); err != nil {
				errs = append(errs, fmt.Errorf("stop the sandbox STS: %w", err))
			}
		}
		s.stopFeed()
		s.feedDone.Wait()
		s.feed.drain(ctx)
		s.shutdownErr = errors.Join(errs...)
	})
	return s.shutdownErr
}

// Banner is the block serve prints at start.
func (s *Server) Banner() string {
	var b strings.Builder
	fmt.Fprintf(&b, "\nRoleCall is running: %s, %s, %s.\n\n", s.StoreKind, s.STSKind, s.QueueKind)
	row := func(k, v string) { fmt.Fprintf(&b, "  %-28s %s\n", k, v) }
	row("Customer form (tenant demo):", s.DemoInviteURL)
	row("Ops page:", s.URL+"/ops")
	row("Ops token:", s.OpsToken)
	row("Partner principal ARN:", s.PartnerPrincipalARN)
	if s.Sandbox != nil {
		row("Sandbox control:", s.URL+"/_sandbox")
	}
	if s.WorkloadAccessKeyID != "" {
		row("Workload access key ID:", s.WorkloadAccessKeyID+" (any secret: the sandbox checks none)")
		row("Sandbox STS:", s.URL+SandboxSTSPath+" (AWS_ENDPOINT_URL_STS)")
	}
	row("Events:", "stdout (one JSON line per event), the ops page, and GET "+s.URL+"/v1/events")
	if s.StackRoutesSubmissions {
		row("Submissions:", "queued by the stack's Role Submitted rule on its bus (serve's own rule is off)")
	}
	b.WriteString("\nOpen the customer form, create the role (the sandbox button needs no AWS account), paste its ARN\nand watch it connect. Press Ctrl+C to stop.\n\n")
	return b.String()
}

// submitted is the bus rule "Role Submitted" → verify queue.
func (s *Server) submitted(ctx context.Context, env bus.Envelope) error {
	ev, err := decodeDetail(env)
	if err != nil {
		return err
	}
	job, err := s.worker.JobForSubmission(ctx, ev)
	if errors.Is(err, verify.ErrSkip) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("job for %s/%s: %w", ev.TenantID, ev.AccountID, err)
	}
	if err := s.Queue.Send(ctx, []check.Job{job}); err != nil {
		return fmt.Errorf("queue check of %s/%s: %w", ev.TenantID, ev.AccountID, err)
	}
	return nil
}

// sweepLoop is the schedule: a due sweep every interval.
func (s *Server) sweepLoop(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		sctx, cancel := context.WithTimeout(ctx, every)
		res, err := s.sweeper.Due(sctx)
		cancel()
		if err != nil && ctx.Err() == nil {
			s.log.Error("sweep failed", "error", err)
			continue
		}
		if res.Enqueued > 0 {
			s.log.Info("sweep", "enqueued", res.Enqueued, "failed", res.Failed, "stopped", res.Stopped)
		}
	}
}

func newToken() string {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err))
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// displayAddr renders a listening address for URLs: an unspecified IP
// becomes localhost.
func displayAddr(a *net.TCPAddr) string {
	host := a.IP.String()
	if a.IP.IsUnspecified() {
		host = "localhost"
	}
	return net.JoinHostPort(host, fmt.Sprint(a.Port))
}

func partitionOf(arn string) string {
	parts := strings.SplitN(arn, ":", 3)
	if len(parts) == 3 && parts[0] == "arn" && parts[1] != "" {
		return parts[1]
	}
	return "aws"
}

func accountOf(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) == 6 {
		return parts[4]
	}
	return ""
}
