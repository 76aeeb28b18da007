// Package emulator runs the whole RoleCall pipeline in one process: what
// `rolecall serve` starts, and what the end-to-end tests start on a random
// loopback port.
//
// It only emulates the event sources around the handlers the Lambdas run,
// built by internal/app's constructors: the store's change feed (the
// embedded store's outbox, or the DynamoDB stream) → the publish handler
// → an in-process bus; a bus rule on "Role Submitted" → an in-process
// queue (or, with AWS and a QueueURL, a real SQS queue) → a queue poller →
// the verify handler; a ticker → the sweeper; the sandbox's registration
// topic and CloudFormation → the register handler; the HTTP API on a
// loopback listener. STS is the sandbox unless AWS is set: an
// STS-compatible endpoint the checker calls through the real SDK client on
// a loopback listener of its own, also served on the HTTP API's port (at
// SandboxSTSPath) for people's own SDK and CLI calls.
//
// Starting takes three steps over a Stack: New builds the components
// (store, queue, bus, STS port, sandbox), Build builds the handlers from
// them through internal/app, Start runs the event sources. Tests replace a
// component (or wrap a handler) on the Stack between the steps.
package emulator

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/rolecall/rolecall/internal/app"
	"github.com/rolecall/rolecall/internal/bus"
	"github.com/rolecall/rolecall/internal/probe"
	"github.com/rolecall/rolecall/internal/publish"
	"github.com/rolecall/rolecall/internal/queue"
	"github.com/rolecall/rolecall/internal/rolearn"
	"github.com/rolecall/rolecall/internal/sandbox"
	"github.com/rolecall/rolecall/internal/store"
	"github.com/rolecall/rolecall/internal/stsbudget"
	"github.com/rolecall/rolecall/internal/stsclient"
	"github.com/rolecall/rolecall/internal/tenant/secret"
	"github.com/rolecall/rolecall/internal/verify"
)

// Start builds and starts the pipeline and serves HTTP until Shutdown: New,
// then Start. ctx bounds the start only.
func Start(ctx context.Context, o Options) (*Server, error) {
	st, err := New(ctx, o)
	if err != nil {
		return nil, err
	}
	return st.Start(ctx)
}

// New builds the pipeline's components and listens on o.Addr, but starts
// nothing: replace components on the Stack, then Build and Start it. ctx
// bounds the building only.
func New(ctx context.Context, o Options) (_ *Stack, err error) {
	o.defaults()
	if o.QueueURL != "" && !o.AWS {
		return nil, errors.New("a queue URL needs AWS: the in-process queue is used without it")
	}
	if err := o.Validate(); err != nil {
		return nil, err
	}
	st := &Stack{opts: o, Bus: bus.NewMemory()}
	st.Bus.Log = o.Log
	if st.OpsToken = o.OpsToken; st.OpsToken == "" {
		st.OpsToken = newToken()
	}
	defer func() {
		if err != nil {
			st.close()
		}
	}()
	if err := st.listen(); err != nil {
		return nil, err
	}
	awsCfg, err := st.awsConfig(ctx)
	if err != nil {
		return nil, err
	}
	deployed, err := st.deployedComponents(awsCfg)
	if err != nil {
		return nil, err
	}
	st.Components = app.Components{Region: st.opts.Region, Log: o.Log}
	if o.AWS {
		err = st.awsSTS(ctx, awsCfg, deployed.STS)
	} else {
		err = st.sandboxSTS()
	}
	if err != nil {
		return nil, err
	}
	st.PartnerPrincipalARN = st.opts.TrustedPrincipalARN
	// serve's own copies of the events (stdout, /v1/events, the ops page)
	// name the partner's account and region, as the bus's events do.
	st.Bus.Account, st.Bus.Region = st.PartnerAccountID, st.opts.Region
	st.verifyQueue(deployed.Queue)
	st.eventBus(deployed.Bus)
	if err := st.store(ctx, awsCfg); err != nil {
		return nil, err
	}
	// Bus rules: when the events go to a deployed stack's bus and serve
	// uses the stack's queue, the stack's own Role Submitted rule routes
	// submissions (to its priority queue, which the deployed verify
	// function checks); a second rule here would check each one twice.
	st.StackRoutesSubmissions = o.AWS && o.EventBusName != "" && o.QueueURL != ""
	st.Settings = Settings{Verify: st.verifySettings(), Sweep: st.sweepSettings()}
	return st, nil
}

// listen opens the public listener.
func (st *Stack) listen() (err error) {
	o := st.opts
	if st.listener, err = net.Listen("tcp", o.Addr); err != nil {
		return fmt.Errorf("listen on %s: %w", o.Addr, err)
	}
	if err := o.checkListener(st.listener); err != nil {
		return err
	}
	st.URL = "http://" + displayAddr(st.listener.Addr().(*net.TCPAddr))
	return nil
}

// awsConfig loads the AWS configuration with AWS (zero without), and
// settles the Region: the option's, else the SDK's with AWS, else the
// default Region of the partner principal's partition (us-east-1 in aws).
func (st *Stack) awsConfig(ctx context.Context) (aws.Config, error) {
	o := &st.opts
	if !o.AWS {
		if o.Region == "" {
			o.Region = rolearn.DefaultRegion(rolearn.PartitionOr(o.TrustedPrincipalARN, "aws"))
		}
		return aws.Config{}, nil
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load the AWS configuration: %w", err)
	}
	if o.Region != "" {
		cfg.Region = o.Region
	}
	partition := rolearn.Partition(cmp.Or(o.TrustedPrincipalARN, o.AccessRoleARN))
	if cfg.Region == "" {
		cfg.Region = rolearn.DefaultRegion(cmp.Or(partition, "aws"))
	}
	if partition != "" && !rolearn.IsRegionOf(cfg.Region, partition) {
		// STS there would refuse the partner principal's credentials, and
		// every check would fail as transient.
		return aws.Config{}, fmt.Errorf("the Region %s (from --region or the AWS configuration) is not a Region of the partner principal's partition %s", cfg.Region, partition)
	}
	o.Region = cfg.Region
	return cfg, nil
}

// deployedComponents are the components of the deployed resources the
// options name, built by app from the parts the Lambdas build them with:
// with AWS, the SQS queue of QueueURL, the EventBridge bus with an
// EventBusName and the STS port through AccessRoleARN (the verify
// Lambda's), or, without an access role, signed with the credentials
// themselves (app.CallerSTS); none without AWS.
func (st *Stack) deployedComponents(awsCfg aws.Config) (app.Components, error) {
	o := st.opts
	if !o.AWS {
		return app.Components{}, nil
	}
	sts := app.AccessRoleSTS
	if o.AccessRoleARN == "" {
		sts = app.CallerSTS
	}
	parts := []app.Part{app.SQS, sts}
	if o.EventBusName != "" {
		parts = append(parts, app.EventBridge)
	}
	return app.AWSComponents(awsCfg, app.Resources{QueueURL: o.QueueURL, AccessRoleARN: o.AccessRoleARN, STSIdleConns: stsIdleConns}, o.Log, parts...)
}

// verifyQueue is the SQS queue sqs (nil: none), or the in-process verify
// queue. Build takes the queue the pollers receive from out of the
// components.
func (st *Stack) verifyQueue(sqs app.Queue) {
	if sqs != nil {
		st.Components.Queue = sqs
		st.QueueKind = "SQS queue " + st.opts.QueueURL
		st.receiveWait = queue.MaxWait
		return
	}
	mem := queue.NewMemory()
	mem.Visibility = queueVisibility
	mem.MaxReceives = queueMaxReceives
	mem.DeadLettered = deadLettered(st.opts.Log)
	st.Components.Queue = mem
	st.QueueKind = "in-process verify queue"
	st.receiveWait = time.Second
}

// The verify queues' VisibilityTimeout and maxReceiveCount in template.yaml:
// a job the in-process queue delivers 15 times without success is
// dead-lettered, as it is deployed, instead of being retried for ever.
const (
	queueVisibility  = 180 * time.Second
	queueMaxReceives = 15
)

const deadLetteredMessage = "verify job dead-lettered: delivered as often as the deployed queue allows without success"

// deadLettered logs a job the in-process queue gave up on, where the
// deployed stack's dead-letter alarm would fire. It names the connection,
// never the job's external IDs.
func deadLettered(log *slog.Logger) func(queue.Message) {
	return func(m queue.Message) {
		c := m.Job.Connection
		log.Error(deadLetteredMessage,
			"messageId", m.ID, "receives", m.ReceiveCount-1, "tenantId", c.TenantID, "accountId", c.AccountID, "why", m.Job.Why)
	}
}

// eventBus is the bus the publish handler puts events on: the in-process
// one, or both it and the EventBridge bus eventBridge (nil: none).
func (st *Stack) eventBus(eventBridge publish.Bus) {
	st.Components.Bus = st.Bus
	if eventBridge != nil {
		st.Components.Bus = teeBus{st.Bus, eventBridge}
	}
}

// store is the embedded store with its outbox as the change feed, or the
// DynamoDB adapter with its stream; registrations live beside it. Build
// takes the embedded store whose outbox it publishes out of the
// components.
func (st *Stack) store(ctx context.Context, awsCfg aws.Config) error {
	o := st.opts
	if o.DynamoDBEndpoint != "" || (o.AWS && o.TableName != "") {
		if err := st.dynamoStore(ctx, awsCfg); err != nil {
			return err
		}
	} else {
		st.Components.Store = store.NewMemory()
		st.StoreKind = "embedded store (in memory)"
	}
	st.Components.Registrations = registrationsOf(st.Components.Store)
	return nil
}

// awsSTS is real STS: the partner's identity comes from the base
// credentials (a client of their own, for sts:GetCallerIdentity only);
// checks run on checker, the STS port deployedComponents built.
func (st *Stack) awsSTS(ctx context.Context, awsCfg aws.Config, checker probe.Assumer) error {
	identity, err := stsclient.New(awsCfg, stsclient.Options{})
	if err != nil {
		return err
	}
	trusted := st.opts.TrustedPrincipalARN
	if trusted == "" {
		trusted = st.opts.AccessRoleARN
	}
	if st.PartnerAccountID, st.opts.TrustedPrincipalARN, err = awsPartner(ctx, identity, awsCfg.ConfigSources, trusted); err != nil {
		return err
	}
	st.Components.STS = checker
	st.STSKind = "AWS STS (default credential chain)"
	return nil
}

// sandboxSTS is the sandbox STS, called through the real SDK client. By
// default the sandbox holds the partner account as template.yaml deploys
// it, and the verifier chains through the access role.
func (st *Stack) sandboxSTS() error {
	o := &st.opts
	chained := o.TrustedPrincipalARN == ""
	// The configured keys' secrets are the sandbox's own (a key of
	// serve's, drawn now), as a long-term key's secret is its own.
	st.sandboxConfig = sandbox.Config{Callers: map[string]string{sandboxAccessKey: o.TrustedPrincipalARN}, Region: o.Region,
		CallerKey: secret.Random(32)}
	if chained {
		o.TrustedPrincipalARN, st.sandboxConfig.Callers = SandboxPrincipalARN, nil
		st.sandboxPartner, st.WorkloadAccessKeyID = true, SandboxWorkloadKeyID
	}
	st.sandboxConfig.Partition = rolearn.PartitionOr(o.TrustedPrincipalARN, "aws")
	if !rolearn.IsRegionOf(o.Region, st.sandboxConfig.Partition) {
		// The sandbox, as STS, takes only credentials scoped to a Region
		// of its partition: every check would fail.
		return fmt.Errorf("--region %s (partition %s) is not a Region of the sandbox partner principal's partition %s",
			o.Region, rolearn.PartitionOfRegion(o.Region), st.sandboxConfig.Partition)
	}
	if err := st.newSandbox(time.Now().UnixNano()); err != nil {
		return err
	}
	// The checker calls the sandbox on a listener of its own, so that
	// checks in flight at shutdown still reach it after the public server
	// has stopped; the public server also serves it at SandboxSTSPath for
	// people's own SDK and CLI calls.
	var err error
	if st.stsListener, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		return fmt.Errorf("listen for the sandbox STS: %w", err)
	}
	st.stsURL = "http://" + st.stsListener.Addr().String()
	// The checker's STS port is the verify Lambda's, built by app over a
	// configuration naming the sandbox: chained through the access role
	// (app.AccessRoleSTS), or, given another principal, signed as it.
	signing, _ := st.Sandbox.CallerSecret(sandboxAccessKey)
	cfg := aws.Config{Region: o.Region, BaseEndpoint: aws.String(st.stsURL),
		Credentials: credentials.NewStaticCredentialsProvider(sandboxAccessKey, signing, "")}
	r, part := app.Resources{STSIdleConns: stsIdleConns}, app.CallerSTS
	if chained {
		r.AccessRoleARN, part = SandboxPrincipalARN, app.AccessRoleSTS
	}
	c, err := app.AWSComponents(cfg, r, o.Log, part)
	if err != nil {
		return err
	}
	st.Components.STS = c.STS
	st.STSKind = "sandbox STS at " + st.URL + SandboxSTSPath
	st.PartnerAccountID = rolearn.Account(o.TrustedPrincipalARN)
	return nil
}

// newSandbox makes the sandbox STS (Sandbox and SandboxSTS) from the
// configuration sandboxSTS settled, seeded with seed: its fault injection
// and the identifiers it issues follow the seed, so a run with the same
// seed (a test's) draws the same. With the partner account modelled (the
// verifier chaining through the access role), it holds that account as
// template.yaml deploys it.
func (st *Stack) newSandbox(seed int64) error {
	cfg := st.sandboxConfig
	cfg.Seed = seed
	sb := sandbox.New(cfg)
	if st.sandboxPartner {
		model, err := partnerModel()
		if err == nil {
			err = sb.Load(model)
		}
		if err != nil {
			return fmt.Errorf("model the sandbox partner account: %w", err)
		}
	}
	sb.SetFaults(sandbox.Faults{Latency: st.opts.SandboxLatency})
	st.Sandbox, st.SandboxSTS = sb, sb
	if st.WorkloadAccessKeyID != "" {
		st.WorkloadSecretAccessKey, _ = sb.CallerSecret(st.WorkloadAccessKeyID)
	}
	return nil
}

// close releases what New and Build opened, when the stack does not start.
func (st *Stack) close() {
	for _, ln := range []net.Listener{st.listener, st.stsListener} {
		if ln != nil {
			ln.Close()
		}
	}
	if st.cfn != nil {
		st.cfn.srv.Close()
	}
}

// verifyLoops is how many batches the verify handler runs at once.
const verifyLoops = 4

// stsIdleConns keeps an idle connection to STS for every call the verify
// loops can make at once: their checks' probes run side by side (the SDK's
// default keeps 10 per host, so concurrent checks kept opening new
// connections, and TLS handshakes against real STS).
const stsIdleConns = verifyLoops * verify.DefaultConcurrency * stsbudget.CallsPerCheck

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
