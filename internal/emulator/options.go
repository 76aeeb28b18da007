package emulator

import (
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/publish"
)

// Sandbox identities: the partner access role (the principal customer
// roles trust) in a pretend partner account, and the access key the
// verifier's SDK client signs with (see partner.go for the account).
const (
	SandboxPartnerAccount = "123456789012"
	SandboxPrincipalARN   = "arn:aws:iam::" + SandboxPartnerAccount + ":role/rolecall-" + SandboxStage + "-access"
	sandboxAccessKey      = "AKIAROLECALLSANDBOX0"
	// SandboxSTSPath is where the sandbox STS listens on the server.
	SandboxSTSPath = "/_sandbox/sts"
)

// DemoTenant is the tenant serve creates at start, with an invite.
const DemoTenant = "demo"

// DefaultPartnerName is the partner's display name when none is set.
const DefaultPartnerName = "RoleCall demo partner"

// Options configure the pipeline: what `rolecall serve`'s flags set, the
// writers it prints events and logs to, and the per-invite submission rate
// the bench lifts. The zero value runs the embedded store and the sandbox
// STS on 127.0.0.1:8080 with the documented defaults. Whatever else a test
// tunes (the checker's and the lifecycle's retry delays, a seeded sandbox)
// it sets on the Stack between New and Build.
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
	// queue) instead of the in-process one: sweeps and re-checks send to
	// it and the verify loop receives from it; so do submissions, unless
	// EventBusName is set too (see Stack.StackRoutesSubmissions).
	QueueURL string
	// Region of the AWS clients (default: the SDK's with AWS, else the
	// partner principal's partition's default, us-east-1 in aws). Without
	// AWS it must be a Region of that partition, as the sandbox STS takes
	// only credentials scoped to one.
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
	// OpsTokenSource says where a set OpsToken came from (such as "from
	// ROLECALL_OPS_TOKEN"): the banner shows it instead of the token, which
	// it prints only when generated, so that a token the operator keeps
	// elsewhere is not copied into terminals and logs.
	OpsTokenSource string
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
	// Events receives one JSON line per event (default os.Stdout).
	Events io.Writer
	// Log for the pipeline's logs (default slog.Default()).
	Log *slog.Logger
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
	return p
}
