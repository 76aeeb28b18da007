// Package emulator runs the whole RoleCall pipeline in one process: what
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
package emulator

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/rolecall/rolecall/access"
	"github.com/rolecall/rolecall/internal/bus"
	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/httpapi"
	"github.com/rolecall/rolecall/internal/onboarding"
	"github.com/rolecall/rolecall/internal/probe"
	"github.com/rolecall/rolecall/internal/publish"
	"github.com/rolecall/rolecall/internal/queue"
	"github.com/rolecall/rolecall/internal/rolearn"
	"github.com/rolecall/rolecall/internal/sandbox"
	"github.com/rolecall/rolecall/internal/store"
	"github.com/rolecall/rolecall/internal/stsclient"
	"github.com/rolecall/rolecall/internal/sweep"
	"github.com/rolecall/rolecall/internal/verify"
)

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
		s.Sandbox = sandbox.New(sandbox.Config{Partition: rolearn.PartitionOr(o.TrustedPrincipalARN, "aws"),
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
		s.PartnerAccountID = rolearn.Account(o.TrustedPrincipalARN)
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
	rules := rolearn.Rules{Partition: rolearn.PartitionOr(o.TrustedPrincipalARN, "aws"), OwnAccount: s.PartnerAccountID}
	s.Service = &onboarding.Service{Store: st, Queue: s.Queue, Policy: policy, Rules: rules, SubmissionsPerMinute: o.SubmissionsPerMinute}
	regStore := registrationsOf(st)
	s.Registrations = &onboarding.Registrations{Service: s.Service, Tokens: regStore}
	s.worker = &verify.Worker{
		Store:      st,
		Checker:    o.Hooks.wrapChecker(stsclient.Checker(o.Hooks.wrapAssumer(&probe.STS{Client: stsClient}), stsclient.Options{BaseDelay: o.CheckBaseDelay, Log: o.Log})),
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
