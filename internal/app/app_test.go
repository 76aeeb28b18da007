package app

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/rolecall/rolecall/internal/bus"
	"github.com/rolecall/rolecall/internal/config"
	"github.com/rolecall/rolecall/internal/probe"
	"github.com/rolecall/rolecall/internal/publish"
	"github.com/rolecall/rolecall/internal/queue"
	"github.com/rolecall/rolecall/internal/register"
	"github.com/rolecall/rolecall/internal/store"
	"github.com/rolecall/rolecall/internal/stsbudget"
	"github.com/rolecall/rolecall/internal/stsclient"
	"github.com/rolecall/rolecall/internal/verify"
)

func envOf(vars map[string]string) *config.Env {
	return config.New(func(k string) (string, bool) { v, ok := vars[k]; return v, ok })
}

// deployed is the environment template.yaml gives every function, the
// union of what they read.
var deployed = map[string]string{
	"TABLE_NAME":            "rolecall-prod",
	"VERIFY_QUEUE_URL":      "https://sqs.eu-west-1.amazonaws.com/111122223333/verify",
	"VERIFY_QUEUE_ARN":      "arn:aws:sqs:eu-west-1:111122223333:verify",
	"PRIORITY_QUEUE_URL":    "https://sqs.eu-west-1.amazonaws.com/111122223333/priority",
	"PRIORITY_QUEUE_ARN":    "arn:aws:sqs:eu-west-1:111122223333:priority",
	"PARTNER_ACCOUNT_ID":    "111122223333",
	"TRUSTED_PRINCIPAL_ARN": "arn:aws-cn:iam::111122223333:role/rolecall-prod-access",
	"ACCESS_ROLE_ARN":       "arn:aws-cn:iam::111122223333:role/rolecall-prod-access",
	"EVENT_BUS_NAME":        "rolecall",
	"STS_REGIONS":           "eu-central-1",
	"CHECK_INTERVAL":        "30m",
	"REGISTRATION_WAIT":     "10s",
}

func TestReadersReadTheEnvironment(t *testing.T) {
	env := envOf(deployed)
	api, pub, reg, sw, ver := ReadAPI(env), ReadPublish(env), ReadRegister(env), ReadSweep(env), ReadVerify(env)
	if err := env.Err(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, got, want string }{
		{"api table", api.TableName, "rolecall-prod"},
		{"api queue", api.QueueURL, deployed["VERIFY_QUEUE_URL"]},
		{"api partner", api.AccountID, "111122223333"},
		{"api source default", api.EventSource, "rolecall"},
		{"publish bus", pub.BusName, "rolecall"},
		{"register principal", reg.TrustedPrincipalARN, deployed["TRUSTED_PRINCIPAL_ARN"]},
		{"register wait", reg.Wait.String(), "10s"},
		{"sweep interval", sw.Interval.String(), "30m0s"},
		{"sweep regions", strings.Join(sw.STSRegions, ","), "eu-central-1"},
		{"verify access role", ver.AccessRoleARN, deployed["ACCESS_ROLE_ARN"]},
		{"verify priority", ver.PriorityQueueURL, deployed["PRIORITY_QUEUE_URL"]},
		{"verify interval", ver.Policy.VerifiedInterval.String(), "30m0s"},
		{"verify abandon", ver.Policy.AbandonAfter.String(), (14 * 24 * time.Hour).String()},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %q, want %q", tc.name, tc.got, tc.want)
		}
	}
	if r := rules(api.Partner); r.Partition != "aws-cn" || r.OwnAccount != "111122223333" {
		t.Errorf("rules = %+v, want the principal's partition and the partner's account", r)
	}
}

func TestReadersReportEveryProblem(t *testing.T) {
	for _, tc := range []struct {
		name string
		read func(*config.Env)
		vars map[string]string
		want []string
	}{
		{"api", func(e *config.Env) { ReadAPI(e) }, nil, []string{"TABLE_NAME", "VERIFY_QUEUE_URL", "PARTNER_ACCOUNT_ID", "TRUSTED_PRINCIPAL_ARN"}},
		{"publish", func(e *config.Env) { ReadPublish(e) }, nil, []string{"EVENT_BUS_NAME"}},
		{"register", func(e *config.Env) { ReadRegister(e) }, map[string]string{"REGISTRATION_WAIT": "soon"}, []string{"TABLE_NAME", "REGISTRATION_WAIT"}},
		{"sweep regions", func(e *config.Env) { ReadSweep(e) }, map[string]string{"TABLE_NAME": "t", "VERIFY_QUEUE_URL": "q", "STS_REGIONS": "eu-west-1,nowhere!"}, []string{"nowhere!"}},
		{"verify", func(e *config.Env) { ReadVerify(e) }, map[string]string{"ABANDON_FAILED_AFTER_DAYS": "-1"}, []string{"ACCESS_ROLE_ARN", "ABANDON_FAILED_AFTER_DAYS"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := envOf(tc.vars)
			tc.read(env)
			_, err := newAWS(context.Background(), env, Publish{}, nil)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %s", err, w)
				}
			}
		})
	}
}

// AWSComponents builds, of the resources named, what the parts given
// build, and nothing else.
func TestAWSComponentsBuildWhatIsNamed(t *testing.T) {
	cfg := aws.Config{Region: "eu-west-1", Credentials: aws.AnonymousCredentials{}}
	all := []Part{EventBridge, DynamoDB, SQS, AccessRoleSTS}
	named := Resources{TableName: "t", QueueURL: "q", AccessRoleARN: deployed["ACCESS_ROLE_ARN"], STSRegions: []string{"eu-central-1"}}
	c, err := AWSComponents(cfg, named, nil, all...)
	if err != nil {
		t.Fatal(err)
	}
	if c.Store == nil || c.Registrations == nil || c.Queue == nil || c.PriorityQueue != nil || c.Bus == nil || c.Region != "eu-west-1" {
		t.Errorf("components = %+v, want store, registrations, queue, bus, no priority queue", c)
	}
	r, ok := c.STS.(*stsclient.Regional)
	if !ok || strings.Join(r.Regions(), ",") != "eu-west-1,eu-central-1" {
		t.Errorf("STS = %#v, want the regional port of eu-west-1 then eu-central-1", c.STS)
	}
	if _, err := AWSComponents(aws.Config{}, Resources{AccessRoleARN: "arn:aws:iam::111122223333:role/a"}, nil, AccessRoleSTS); !errors.Is(err, stsclient.ErrNoRegion) {
		t.Errorf("no Region: err = %v, want ErrNoRegion", err)
	}
	bare, err := AWSComponents(cfg, Resources{}, nil, all...)
	if err != nil || bare.Bus == nil || bare.Store != nil || bare.Registrations != nil || bare.Queue != nil || bare.STS != nil {
		t.Errorf("no resources named: components = %+v, %v; want the bus only", bare, err)
	}
	// One part builds its component alone, whatever else is named.
	type built struct{ store, queue, bus, sts bool }
	for _, tc := range []struct {
		name string
		part Part
		want built
	}{
		{"EventBridge", EventBridge, built{bus: true}},
		{"DynamoDB", DynamoDB, built{store: true}},
		{"SQS", SQS, built{queue: true}},
		{"AccessRoleSTS", AccessRoleSTS, built{sts: true}},
		{"CallerSTS", CallerSTS, built{sts: true}},
	} {
		c, err := AWSComponents(cfg, named, nil, tc.part)
		got := built{c.Store != nil && c.Registrations != nil, c.Queue != nil, c.Bus != nil, c.STS != nil}
		if err != nil || got != tc.want {
			t.Errorf("%s alone: built %+v, %v; want %+v", tc.name, got, err, tc.want)
		}
	}
	if c, err := AWSComponents(cfg, Resources{PriorityQueueURL: "p"}, nil, SQS); err != nil || c.Queue != nil || c.PriorityQueue == nil {
		t.Errorf("a priority queue alone: components = %+v, %v; want the priority queue only", c, err)
	}
}

// newAWS builds a function's components from the default credential chain
// (here the environment: no shared files, no network at start).
func TestNewAWSFromTheDefaultChain(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("AWS_CONFIG_FILE", dir+"/config")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", dir+"/credentials")
	t.Setenv("AWS_REGION", "eu-west-1")
	// Whatever the machine running the test has set must not take part:
	// profiles, keys, container and web-identity credentials, endpoints.
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "AWS_") && k != "AWS_CONFIG_FILE" && k != "AWS_SHARED_CREDENTIALS_FILE" && k != "AWS_REGION" {
			t.Setenv(k, "")
		}
	}
	env := envOf(deployed)
	c, err := newAWS(context.Background(), env, ReadPublish(env), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Region != "eu-west-1" || c.Bus == nil || c.Store != nil || c.STS != nil {
		t.Errorf("components = %+v, want the publish function's bus in eu-west-1", c)
	}
}

// embedded are components on the embedded adapters.
func embedded() Components {
	return Components{Region: "us-east-1", Store: store.NewMemory(), Registrations: store.NewMemoryRegistrations(),
		Queue: queue.NewMemory(), PriorityQueue: queue.NewMemory(), STS: probe.Assumer(nil)}
}

func TestHandlersRefuseMissingComponents(t *testing.T) {
	for _, tc := range []struct {
		name  string
		build func(Components) error
		want  string
	}{
		{"api", func(c Components) error { _, err := NewAPI(ReadAPI(envOf(deployed)), c); return err }, "store"},
		{"publish", func(c Components) error { _, err := NewPublish(Publish{}, c); return err }, "bus"},
		{"register", func(c Components) error { _, err := NewRegister(Register{}, c); return err }, "registrations"},
		{"sweep", func(c Components) error { _, err := NewSweep(Sweep{}, c); return err }, "queue"},
		{"verify", func(c Components) error { _, err := NewVerify(Verify{}, c); return err }, "STS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.build(Components{})
			if !errors.Is(err, ErrMissing) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want ErrMissing naming %s", err, tc.want)
			}
		})
	}
}

func TestHandlersAsDeployed(t *testing.T) {
	env := envOf(deployed)
	c := embedded()
	c.STS = &stsclient.Regional{}
	if _, err := NewAPI(ReadAPI(env), c); err != nil {
		t.Errorf("api: %v", err)
	}
	reg, err := NewRegister(ReadRegister(env), c)
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := reg.Sender.(*register.Responder); !ok || r.Policy.Region != "us-east-1" || r.Policy.AllowLoopback || reg.Wait != 10*time.Second {
		t.Errorf("register = %+v, %v; want this Region's response bucket only", reg, err)
	}
	sw, err := NewSweep(ReadSweep(env), c)
	plan := stsbudget.DefaultPlan()
	plan.Regions = []string{"us-east-1", "eu-central-1"}
	if err != nil || sw.ChecksPerSecond != plan.RoutineChecksPerSecond() || sw.Interval != 30*time.Minute {
		t.Errorf("sweep = %+v, %v; want paced to %v checks/s over two Regions", sw, err, plan.RoutineChecksPerSecond())
	}
	v, err := NewVerify(ReadVerify(env), c)
	if err != nil {
		t.Fatal(err)
	}
	routine, priority := v.Workers[deployed["VERIFY_QUEUE_ARN"]], v.Workers[deployed["PRIORITY_QUEUE_ARN"]]
	if routine == nil || priority == nil || v.Default != routine || routine.Budget == nil || priority.Budget == nil ||
		routine.Concurrency != stsbudget.InFlight || routine.Visibility != c.Queue.(verify.Visibility) || priority.Visibility != c.PriorityQueue.(verify.Visibility) {
		t.Errorf("verify = %+v, want a paced routine and priority worker on their queues", v)
	}
	if _, ok := routine.Checker.(*probe.Checker); !ok || routine.Checker != priority.Checker {
		t.Errorf("checker = %T, want one probe.Checker shared by both workers", routine.Checker)
	}
	pub, err := NewPublish(ReadPublish(env), Components{Bus: nilBus{}})
	if err != nil || pub.Publisher.BusName != "rolecall" || pub.Publisher.Source != "rolecall" {
		t.Errorf("publish = %+v, %v", pub, err)
	}
	// Unset settings: the default source, the default logger.
	pub, err = NewPublish(Publish{BusName: "b"}, Components{Bus: nilBus{}})
	if err != nil || pub.Publisher.Source != publish.DefaultSource || pub.Log != slog.Default() || pub.Publisher.Log != slog.Default() {
		t.Errorf("publish without a source or logger = %+v, %v; want the default source and logger", pub, err)
	}
}

func TestVerifyUnpacedWithoutPlan(t *testing.T) {
	c := embedded()
	c.PriorityQueue = nil
	watch := &probe.Checker{}
	c.Checker = watch
	v, err := NewVerify(Verify{}, c)
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Workers) != 1 || v.Default.Budget != nil || v.Default.Checker != watch || v.Default.Visibility == nil {
		t.Errorf("verify = %+v, want one unpaced worker with the given checker", v)
	}
	bad := Verify{Plan: stsbudget.Plan{RequestsPerSecond: 1, PriorityPercent: 200}}
	c.STS, c.Checker = &stsclient.Regional{}, nil
	if _, err := NewVerify(bad, c); err == nil {
		t.Error("an invalid plan was accepted")
	}
	if _, err := NewSweep(Sweep{Plan: bad.Plan}, c); err == nil {
		t.Error("the sweep accepted an invalid plan")
	}
}

type nilBus struct{}

func (nilBus) Put(context.Context, []bus.Entry) ([]bus.Failure, error) { return nil, nil }

// sendOnly is a queue without visibility timeouts.
type sendOnly struct{}

func (sendOnly) Send(context.Context, []probe.Job) error { return nil }

func TestVerifyWithoutVisibility(t *testing.T) {
	c := embedded()
	c.Queue, c.PriorityQueue, c.Checker = sendOnly{}, nil, &probe.Checker{}
	v, err := NewVerify(Verify{}, c)
	if err != nil || v.Default.Visibility != nil {
		t.Errorf("verify on a send-only queue = %+v, %v; want no visibility delays", v, err)
	}
}

func TestHandlersUseTheClock(t *testing.T) {
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	c := Checker(Components{STS: &stsclient.Regional{}, Clock: fixedClock{at}}, Verify{CheckBaseDelay: time.Millisecond})
	if c.Now == nil || !c.Now().Equal(at) || c.BaseDelay != time.Millisecond || c.Attempts != stsclient.AttemptsPerProbe {
		t.Errorf("checker = %+v, want timed by the clock, with the base delay and the client's attempts", c)
	}
	if NewChecker(Components{Checker: c}, Verify{}) != verify.Checker(c) {
		t.Error("NewChecker did not return the given checker")
	}
	comp := embedded()
	comp.Clock = fixedClock{at}
	if reg, err := NewRegister(Register{}, comp); err != nil || reg.Clock != comp.Clock {
		t.Errorf("register = %+v, %v; want timed by the clock", reg, err)
	}
	if sw, err := NewSweep(Sweep{}, comp); err != nil || sw.Now == nil || !sw.Now().Equal(at) {
		t.Errorf("sweep = %+v, %v; want timed by the clock", sw, err)
	}
}

type fixedClock struct{ t time.Time }

func (c fixedClock) Now() time.Time                           { return c.t }
func (fixedClock) Sleep(context.Context, time.Duration) error { return nil }

// Each function builds the AWS components it uses and no others, so its
// binary links only the SDK clients it calls.
func TestFunctionsBuildOnlyTheirComponents(t *testing.T) {
	env := envOf(deployed)
	cfg := aws.Config{Region: "eu-west-1", Credentials: aws.AnonymousCredentials{}}
	type built struct{ store, registrations, queue, priority, bus, sts bool }
	tests := []struct {
		name string
		s    Settings
		want built
	}{
		{"api", ReadAPI(env), built{store: true, registrations: true, queue: true}},
		{"publish", ReadPublish(env), built{bus: true}},
		{"register", ReadRegister(env), built{store: true, registrations: true}},
		{"sweep", ReadSweep(env), built{store: true, registrations: true, queue: true}},
		{"verify", ReadVerify(env), built{store: true, registrations: true, queue: true, priority: true, sts: true}},
	}
	if err := env.Err(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := tc.s.AWSComponents(cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			got := built{c.Store != nil, c.Registrations != nil, c.Queue != nil, c.PriorityQueue != nil, c.Bus != nil, c.STS != nil}
			if got != tc.want || c.Region != "eu-west-1" {
				t.Errorf("components %+v in %q, want %+v", got, c.Region, tc.want)
			}
		})
	}
	if _, err := (Verify{Resources: Resources{AccessRoleARN: deployed["ACCESS_ROLE_ARN"]}}).AWSComponents(aws.Config{}, nil); !errors.Is(err, stsclient.ErrNoRegion) {
		t.Errorf("verify without a Region: err = %v, want ErrNoRegion", err)
	}
}
