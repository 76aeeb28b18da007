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
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sts"

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
	"github.com/rolecall/rolecall/internal/sweep"
	"github.com/rolecall/rolecall/internal/verify"
)

// Sandbox identities: the partner's verifier role in a pretend partner
// account, and the access key the SDK client signs with.
const (
	SandboxPartnerAccount = "123456789012"
	SandboxPrincipalARN   = "arn:aws:iam::" + SandboxPartnerAccount + ":role/RoleCallVerifier"
	sandboxAccessKey      = "AKIAROLECALLSANDBOX0"
	sandboxSecretKey      = "sandbox-secret-not-a-credential"
	// SandboxSTSPath is where the sandbox STS listens on the server.
	SandboxSTSPath = "/_sandbox/sts"
)

// DemoTenant is the tenant serve creates at start, with an invite.
const DemoTenant = "demo"

// Options configure the pipeline. The zero value runs the embedded store
// and the sandbox STS on 127.0.0.1:8080 with the documented defaults.
type Options struct {
	// Addr to listen on (default 127.0.0.1:8080; port 0 picks a free one).
	Addr string
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
	// SandboxPrincipalARN. AWS: default the caller's identity.
	TrustedPrincipalARN string
	// TemplateURL of customer-role.yaml, for quick-create links.
	TemplateURL string
	// OpsToken for the ops routes (generated when empty).
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
	// StoreKind and STSKind describe the wiring for the banner.
	StoreKind, STSKind string

	Service *onboarding.Service
	Sandbox *sandbox.STS // nil with AWS
	Bus     *bus.Memory
	Queue   VerifyQueue // *queue.Memory, or *queue.SQS with Options.QueueURL
	// QueueKind describes the verify queue for the banner.
	QueueKind string

	// Registrations issues registration tokens and authenticates stacks.
	Registrations *onboarding.Registrations
	cfn           *sandboxCloudFormation // plays CloudFormation; nil with AWS

	log      *slog.Logger
	http     *http.Server
	stsHTTP  *http.Server // the sandbox STS the checker calls; nil with AWS
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
		o.Addr = "127.0.0.1:8080"
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
		stsClient = sts.NewFromConfig(awsCfg, func(so *sts.Options) { so.RetryMaxAttempts, so.HTTPClient = 1, stsHTTPClient() })
		if o.TrustedPrincipalARN == "" {
			if o.TrustedPrincipalARN, err = callerPrincipal(ctx, stsClient); err != nil {
				return nil, err
			}
		}
		s.STSKind = "AWS STS (default credential chain)"
	} else {
		if o.TrustedPrincipalARN == "" {
			o.TrustedPrincipalARN = SandboxPrincipalARN
		}
		s.Sandbox = sandbox.New(sandbox.Config{Partition: partitionOf(o.TrustedPrincipalARN),
			Callers: map[string]string{sandboxAccessKey: o.TrustedPrincipalARN}, Seed: o.Hooks.sandboxSeed(), Region: o.Region})
		s.Sandbox.SetFaults(sandbox.Faults{Latency: o.SandboxLatency})
		// The checker calls the sandbox on a listener of its own, so that
		// checks in flight at shutdown still reach it after the public
		// server has stopped; the public server also serves it at
		// SandboxSTSPath for people's own SDK and CLI calls.
		var stsLn net.Listener
		if stsLn, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			return nil, fmt.Errorf("listen for the sandbox STS: %w", err)
		}
		s.stsHTTP = &http.Server{Handler: o.Hooks.wrapSandboxSTS(s.Sandbox), ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = s.stsHTTP.Serve(stsLn) }()
		defer func() {
			if err != nil {
				s.stsHTTP.Close()
			}
		}()
		stsClient = sts.New(sts.Options{
			Region:           o.Region,
			BaseEndpoint:     aws.String("http://" + stsLn.Addr().String()),
			Credentials:      credentials.NewStaticCredentialsProvider(sandboxAccessKey, sandboxSecretKey, ""),
			RetryMaxAttempts: 1, // the checker retries transient failures itself
			HTTPClient:       stsHTTPClient(),
		})
		s.STSKind = "sandbox STS at " + s.URL + SandboxSTSPath
	}
	s.PartnerPrincipalARN = o.TrustedPrincipalARN
	s.PartnerAccountID = accountOf(o.TrustedPrincipalARN)

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
	s.Service = &onboarding.Service{Store: st, Queue: s.Queue, Policy: policy, Rules: rules}
	regStore := registrationsOf(st)
	s.Registrations = &onboarding.Registrations{Service: s.Service, Tokens: regStore}
	s.worker = &verify.Worker{
		Store:      st,
		Checker:    o.Hooks.wrapChecker(&check.Checker{STS: o.Hooks.wrapAssumer(&check.STS{Client: stsClient}), BaseDelay: o.CheckBaseDelay, Log: o.Log}),
		Policy:     policy,
		Visibility: s.Queue,
		Log:        o.Log,
	}
	s.sweeper = &sweep.Sweeper{Store: st, Queue: s.Queue, Log: o.Log}

	// Bus rules: every event to stdout as a JSON line; Role Submitted to
	// the verify queue.
	s.Bus.Subscribe("", (&lineWriter{w: o.Events}).write)
	s.Bus.Subscribe(string(connection.RoleSubmitted), s.submitted)

	// The HTTP handler.
	opsAuth, err := httpapi.NewBearerToken(s.OpsToken)
	if err != nil {
		return nil, err
	}
	cfg := httpapi.Config{
		Service: s.Service, Ops: opsAuth, PartnerName: "RoleCall demo partner",
		PartnerAccountID: s.PartnerAccountID, TrustedPrincipalARN: o.TrustedPrincipalARN, EventSource: o.EventSource,
		Setup:   httpapi.RoleSetup{TrustedPrincipalARN: o.TrustedPrincipalARN, TemplateURL: o.TemplateURL, Region: o.Region},
		Events:  busEvents{s.Bus},
		Sweeper: sweepNow{s.sweeper},
		OpsPage: true,
		Log:     o.Log,
	}
	cfg.Registrations = s.Registrations
	if s.Sandbox != nil {
		cfg.Sandbox = &sandboxControl{sts: s.Sandbox, endpoint: s.URL + SandboxSTSPath, principal: o.TrustedPrincipalARN}
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
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(o.Log.Handler(), slog.LevelWarn),
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

// stsHTTPClient keeps an idle connection to STS for every call the verify
// loops can make at once (the SDK's default keeps 10 per host, so 40
// concurrent checks kept opening new connections, and TLS handshakes
// against real STS).
func stsHTTPClient() *awshttp.BuildableClient {
	return awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
		t.MaxIdleConnsPerHost = verifyLoops * verify.DefaultConcurrency
	})
}

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
	row("Events:", "stdout (one JSON line per event), the ops page, and GET "+s.URL+"/v1/events")
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

// callerPrincipal is the principal behind the default credentials, as a
// trust policy names it: an assumed-role session becomes its role.
func callerPrincipal(ctx context.Context, c *sts.Client) (string, error) {
	out, err := c.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return "", fmt.Errorf("find the caller's identity (set --trusted-principal-arn to skip): %w", err)
	}
	arn := aws.ToString(out.Arn)
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) == 6 && parts[2] == "sts" && strings.HasPrefix(parts[5], "assumed-role/") {
		role := strings.Split(strings.TrimPrefix(parts[5], "assumed-role/"), "/")[0]
		return "arn:" + parts[1] + ":iam::" + parts[4] + ":role/" + role, nil
	}
	return arn, nil
}

// dynamoStore is the DynamoDB adapter with its stream as the change feed.
func dynamoStore(ctx context.Context, o Options, awsCfg aws.Config, pub *publish.Publisher) (store.Store, feed, string, error) {
	var (
		ddb     *dynamodb.Client
		streams *dynamodbstreams.Client
		kind    string
	)
	if o.DynamoDBEndpoint != "" {
		if o.TableName == "" {
			o.TableName = "rolecall"
		}
		creds := credentials.NewStaticCredentialsProvider("local", "local", "")
		ddb = dynamodb.New(dynamodb.Options{Region: o.Region, BaseEndpoint: aws.String(o.DynamoDBEndpoint), Credentials: creds})
		streams = dynamodbstreams.New(dynamodbstreams.Options{Region: o.Region, BaseEndpoint: aws.String(o.DynamoDBEndpoint), Credentials: creds})
		if err := store.CreateTable(ctx, ddb, o.TableName); err != nil {
			return nil, nil, "", fmt.Errorf("create table %s at %s: %w", o.TableName, o.DynamoDBEndpoint, err)
		}
		kind = fmt.Sprintf("DynamoDB table %s at %s", o.TableName, o.DynamoDBEndpoint)
	} else {
		ddb = dynamodb.NewFromConfig(awsCfg)
		streams = dynamodbstreams.NewFromConfig(awsCfg)
		kind = "DynamoDB table " + o.TableName + " in " + awsCfg.Region
	}
	out, err := ddb.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(o.TableName)})
	if err != nil {
		return nil, nil, "", fmt.Errorf("describe table %s: %w", o.TableName, err)
	}
	if out.Table == nil || out.Table.LatestStreamArn == nil {
		return nil, nil, "", fmt.Errorf("table %s has no stream; RoleCall needs its NEW_AND_OLD_IMAGES stream", o.TableName)
	}
	sf := &streamFeed{api: streams, streamARN: aws.ToString(out.Table.LatestStreamArn),
		handler: o.Hooks.wrapStreamHandler(&publish.Handler{Publisher: pub, Log: o.Log}), log: o.Log}
	if err := sf.start(ctx); err != nil {
		return nil, nil, "", err
	}
	return store.NewDynamoDB(ddb, o.TableName), sf, kind, nil
}
