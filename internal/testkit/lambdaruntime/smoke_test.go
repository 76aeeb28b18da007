package lambdaruntime_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rolecall/rolecall/internal/stack"
	"github.com/rolecall/rolecall/internal/testkit/awsfake"
	"github.com/rolecall/rolecall/internal/testkit/lambdaruntime"
	"github.com/rolecall/rolecall/internal/testkit/syncbuf"
	"github.com/rolecall/rolecall/internal/testkit/tool"
)

const root = "../../.."

// smokeValues are the values the smoke tests give the variables the
// template sets; the template may set no variable missing here.
func smokeValues(sqsURL string) map[string]string {
	return map[string]string{
		"TABLE_NAME":                        "rolecall-smoke",
		"VERIFY_QUEUE_URL":                  sqsURL + "/111122223333/rolecall-smoke-verify",
		"PARTNER_ACCOUNT_ID":                "111122223333",
		"TRUSTED_PRINCIPAL_ARN":             "arn:aws:iam::111122223333:role/rolecall-smoke-verifier",
		"CUSTOMER_ROLE_TEMPLATE_URL":        "",
		"CUSTOMER_ROLE_NAME_PREFIX":         "RoleCall",
		"EVENT_SOURCE":                      "rolecall",
		"PARTNER_NAME":                      "Smoke Partner",
		"EVENT_BUS_NAME":                    "rolecall-smoke",
		"CHECK_INTERVAL":                    "60m",
		"SUBMISSIONS_PER_INVITE_PER_MINUTE": "20",
		"FAILED_CHECK_MAX_INTERVAL":         "1440m",
		"ACCESS_LOST_CHECK_MAX_INTERVAL":    "60m",
		"ABANDON_FAILED_AFTER_DAYS":         "14",
		"ACCESS_ROLE_ARN":                   smokeAccessRole,
		"VERIFY_QUEUE_ARN":                  "arn:aws:sqs:us-east-1:111122223333:rolecall-smoke-verify",
		"PRIORITY_QUEUE_URL":                sqsURL + "/111122223333/rolecall-smoke-verify-priority",
		"PRIORITY_QUEUE_ARN":                "arn:aws:sqs:us-east-1:111122223333:rolecall-smoke-verify-priority",
		"STS_REQUESTS_PER_SECOND":           "400",
		"STS_PRIORITY_PERCENT":              "3",
		"VERIFY_MAX_CONCURRENCY":            "2",
		"PRIORITY_MAX_CONCURRENCY":          "2",
		"SWEEP_EVERY":                       "1m",
		"STS_REGIONS":                       "",
		"METRICS_NAMESPACE":                 "RoleCall/smoke",
		"REGISTRATION_TOPIC_ARN":            "arn:aws:sns:us-east-1:111122223333:rolecall-smoke-registration",
		"REGISTRATION_WAIT":                 "60s",
	}
}

// smokeAccessRole is the partner access role the verify function chains
// through; the fake STS grants it.
const smokeAccessRole = "arn:aws:iam::111122223333:role/rolecall-smoke-access"

// fakes are the AWS endpoints the functions talk to.
type fakes struct {
	ddb                           *awsfake.DynamoDB
	sqs                           *awsfake.SQS
	eb                            *awsfake.EventBridge
	sts                           *awsfake.STS
	ddbURL, sqsURL, ebURL, stsURL string
}

func newFakes(t testing.TB) *fakes {
	f := &fakes{ddb: awsfake.NewDynamoDB(), sqs: awsfake.NewSQS(), eb: awsfake.NewEventBridge(), sts: awsfake.NewSTS()}
	serve := func(h http.Handler, url *string) {
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)
		*url = srv.URL
	}
	serve(f.ddb, &f.ddbURL)
	serve(f.sqs, &f.sqsURL)
	serve(f.eb, &f.ebURL)
	f.sts.Grant(smokeAccessRole)
	serve(f.sts, &f.stsURL)
	return f
}

var (
	buildMu sync.Mutex
	built   = map[string]string{}
)

// build runs the function's Makefile target (the one sam build runs) for
// the host platform and returns the bootstrap's path.
func build(t testing.TB, logicalID string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if p, ok := built[logicalID]; ok {
		return p
	}
	tool.Require(t, "make", "apt-get install make")
	dir, err := os.MkdirTemp("", "rolecall-smoke-"+logicalID)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("make", "--no-print-directory", "build-"+logicalID, "ARTIFACTS_DIR="+dir,
		"LAMBDA_GOOS="+runtime.GOOS, "LAMBDA_GOARCH="+runtime.GOARCH)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make build-%s: %v\n%s", logicalID, err, out)
	}
	p := filepath.Join(dir, "bootstrap")
	built[logicalID] = p
	return p
}

func TestMain(m *testing.M) {
	code := m.Run()
	for _, p := range built {
		_ = os.RemoveAll(filepath.Dir(p))
	}
	os.Exit(code)
}

// process is a started function.
type process struct {
	cmd     *exec.Cmd
	api     *lambdaruntime.Server
	started time.Time
	out     *syncbuf.Buffer
	exited  chan error
}

// functionEnv is the environment Lambda would give the function: the
// template's variables (with smoke values), the runtime's, and endpoints
// of the fakes for every AWS service.
func functionEnv(t testing.TB, logicalID string, f *fakes, api *lambdaruntime.Server) []string {
	t.Helper()
	tm, err := stack.LoadTemplate(filepath.Join(root, "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	fn := tm.Resources("AWS::Serverless::Function")[logicalID]
	vars, _ := stack.Properties(fn)["Environment"].(map[string]any)
	values := smokeValues(f.sqsURL)
	home := t.TempDir()
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		"AWS_LAMBDA_RUNTIME_API=" + api.Addr(),
		"AWS_LAMBDA_FUNCTION_NAME=rolecall-smoke-" + logicalID,
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256",
		"AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
		"_HANDLER=bootstrap",
		"AWS_REGION=us-east-1",
		"AWS_DEFAULT_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=AKIDSMOKETEST",
		"AWS_SECRET_ACCESS_KEY=smoke-secret",
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE=" + filepath.Join(home, "none"),
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(home, "none"),
		"AWS_ENDPOINT_URL_DYNAMODB=" + f.ddbURL,
		"AWS_ENDPOINT_URL_SQS=" + f.sqsURL,
		"AWS_ENDPOINT_URL_EVENTBRIDGE=" + f.ebURL,
		"AWS_ENDPOINT_URL_STS=" + f.stsURL,
	}
	if vars, ok := vars["Variables"].(map[string]any); ok {
		var names []string
		for k := range vars {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			v, ok := values[k]
			if !ok {
				t.Fatalf("template.yaml sets %s on %s; give it a smoke value", k, logicalID)
			}
			env = append(env, k+"="+v)
		}
	}
	return env
}

// start starts the function's bootstrap against a fresh Runtime API.
func start(t testing.TB, bin string, env func(*lambdaruntime.Server) []string) *process {
	t.Helper()
	api, err := lambdaruntime.New()
	if err != nil {
		t.Fatal(err)
	}
	p := &process{api: api, out: &syncbuf.Buffer{}, exited: make(chan error, 1)}
	p.cmd = exec.Command(bin)
	p.cmd.Env = env(api)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.started = time.Now()
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.exited <- p.cmd.Wait() }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.exited
		_ = api.Close()
	})
	return p
}

// startup waits for the first next request and returns how long after the
// process started it came.
func (p *process) startup(t testing.TB) time.Duration {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := make(chan struct{})
	var first time.Time
	var err error
	go func() { first, err = p.api.FirstNext(ctx); close(done) }()
	select {
	case <-done:
	case e := <-p.exited:
		t.Fatalf("the function exited before asking for an invocation: %v\n%s", e, p.out.String())
	}
	if err != nil {
		t.Fatalf("%v\n%s", err, p.out.String())
	}
	return first.Sub(p.started)
}

func (p *process) invoke(t testing.TB, payload []byte) lambdaruntime.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := p.api.Invoke(ctx, payload, 30*time.Second)
	if err != nil {
		t.Fatalf("invoke: %v\n%s", err, p.out.String())
	}
	return r
}

func sample(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "events", path))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// smokeCase is one function: the samples to invoke and what to check.
type smokeCase struct {
	id    string
	check func(t *testing.T, p *process, f *fakes)
}

func decode(t *testing.T, r lambdaruntime.Result, v any) {
	t.Helper()
	if r.Error {
		t.Fatalf("the function answered with an error: %s", r.Payload)
	}
	if err := json.Unmarshal(r.Payload, v); err != nil {
		t.Fatalf("response %s: %v", r.Payload, err)
	}
}

var smokeCases = []smokeCase{
	{"RegisterFunction", func(t *testing.T, p *process, f *fakes) {
		// A registration request whose ResponseURL is not CloudFormation's
		// is dropped: nothing read, nothing answered, no retry asked for.
		var ev map[string]any
		if err := json.Unmarshal(sample(t, "register/create.json"), &ev); err != nil {
			t.Fatal(err)
		}
		rec := ev["Records"].([]any)[0].(map[string]any)["Sns"].(map[string]any)
		var req map[string]any
		_ = json.Unmarshal([]byte(rec["Message"].(string)), &req)
		req["ResponseURL"] = "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com.evil.example/x"
		m, _ := json.Marshal(req)
		rec["Message"] = string(m)
		payload, _ := json.Marshal(ev)
		if r := p.invoke(t, payload); r.Error {
			t.Fatalf("a dropped request was reported as an error: %s", r.Payload)
		}
		if calls := f.ddb.Calls(); len(calls) != 0 {
			t.Errorf("a dropped request made DynamoDB calls: %v", calls)
		}
		// The log comes through a pipe and may land after the answer.
		logged, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if !p.out.WaitFor(logged, "registration request dropped") || strings.Contains(p.out.String(), "rcr_") {
			t.Errorf("log: %s", p.out.String())
		}
	}},
	{"ApiFunction", func(t *testing.T, p *process, f *fakes) {
		for file, want := range map[string]int{"api/default-not-found.json": 404, "api/get-invite.json": 401} {
			var resp struct {
				StatusCode int               `json:"statusCode"`
				Headers    map[string]string `json:"headers"`
				Body       string            `json:"body"`
			}
			decode(t, p.invoke(t, sample(t, file)), &resp)
			if resp.StatusCode != want || !strings.Contains(resp.Body, `"error"`) {
				t.Errorf("%s: status %d body %s, want %d with a JSON error", file, resp.StatusCode, resp.Body, want)
			}
		}
	}},
	{"PublishFunction", func(t *testing.T, p *process, f *fakes) {
		r := p.invoke(t, sample(t, "publish/outbox-inserts.json"))
		if string(r.Payload) != `{"batchItemFailures":[]}` || r.Error {
			t.Fatalf("response %s (error %v)", r.Payload, r.Error)
		}
		acc := f.eb.Accepted()
		if len(acc) != 19 || acc[0].EventBusName != "rolecall-smoke" || acc[0].Source != "rolecall" || acc[0].DetailType != "Role Submitted" {
			t.Errorf("EventBridge accepted %d entries: %+v", len(acc), acc)
		}
	}},
	{"VerifyFunction", func(t *testing.T, p *process, f *fakes) {
		r := p.invoke(t, sample(t, "verify/sqs-batch.json"))
		if string(r.Payload) != `{"batchItemFailures":[]}` || r.Error {
			t.Fatalf("response %s (error %v)", r.Payload, r.Error)
		}
		// One session of the access role, then the check's three probes
		// with it: the job's external ID, none, and a decoy (the fake STS
		// denies them all).
		calls := f.sts.Calls()
		if len(calls) != 4 || calls[0].Get("RoleArn") != smokeAccessRole || calls[0].Has("ExternalId") {
			t.Fatalf("STS calls = %v, want the access role's session first, then three probes", calls)
		}
		calls = calls[1:]
		kinds := map[string]int{}
		for _, c := range calls {
			switch id := c.Get("ExternalId"); {
			case c.Get("RoleArn") != "arn:aws:iam::123456789012:role/RoleCall":
				kinds["other role"]++
			case !c.Has("ExternalId"):
				kinds["none"]++
			case id == "rc-EXAMPLEEXAMPLEEXAMPLEEXAMPLE2345":
				kinds["job"]++
			case regexp.MustCompile(`^rc-[A-Z2-7]{32}$`).MatchString(id): // the shape of the job's ID, which RoleCall generated
				kinds["decoy"]++
			default:
				kinds["other"]++
			}
		}
		if kinds["job"] != 1 || kinds["none"] != 1 || kinds["decoy"] != 1 {
			t.Errorf("STS calls %v = %v", kinds, calls)
		}
		var ops []string
		for _, c := range f.ddb.Calls() {
			ops = append(ops, c.Op)
		}
		sort.Strings(ops)
		// The fake STS denies the job's role: the failure it counts is
		// one transaction guarded by the tenant's external-ID version.
		if strings.Join(ops, ",") != "GetItem,TransactWriteItems" {
			t.Errorf("DynamoDB calls = %v, want the event's connection read and the job's guarded routine update", ops)
		}
		for _, c := range calls {
			if ext := c.Get("ExternalId"); ext != "" && strings.Contains(p.out.String(), ext) {
				t.Error("the function logged an external ID")
			}
		}
	}},
	{"SweepFunction", func(t *testing.T, p *process, f *fakes) {
		var res struct {
			Mode     string `json:"mode"`
			Enqueued int    `json:"enqueued"`
			Parts    []any  `json:"parts"`
		}
		decode(t, p.invoke(t, sample(t, "sweep/scheduled.json")), &res)
		if res.Mode != "due" || res.Enqueued != 0 || len(res.Parts) != 8 {
			t.Errorf("result = %+v", res)
		}
		queries, graces := 0, 0
		for _, c := range f.ddb.Calls() {
			if c.Op == "Query" && c.Body["IndexName"] == "due" {
				queries++
				if vals, _ := c.Body["ExpressionAttributeValues"].(map[string]any); fmt.Sprint(vals[":s"]) == "map[S:DUE#GRACE]" {
					graces++
				}
			}
		}
		if queries != 9 || graces != 1 {
			t.Errorf("%d due-index queries, %d of the ended graces; want one per shard and one of the graces", queries, graces)
		}
		// A handler error goes to the Runtime API's error endpoint.
		r := p.invoke(t, []byte(`{"mode":"everything"}`))
		if !r.Error || !strings.Contains(string(r.Payload), "everything") {
			t.Errorf("bad mode answered %s (error %v), want an error", r.Payload, r.Error)
		}
	}},
}

// TestFunctionsAnswerLikeLambda builds every function as sam build does
// (for the host), starts it against the local Runtime API with the
// template's environment, invokes it with events/ samples and checks the
// answers. It reports each bootstrap's size and the time from process
// start to its first request for an invocation.
func TestFunctionsAnswerLikeLambda(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every function; skipped with -short")
	}
	var report []string
	for _, c := range smokeCases {
		t.Run(c.id, func(t *testing.T) {
			bin := build(t, c.id)
			f := newFakes(t)
			p := start(t, bin, func(api *lambdaruntime.Server) []string { return functionEnv(t, c.id, f, api) })
			d := p.startup(t)
			c.check(t, p, f)
			st, err := os.Stat(bin)
			if err != nil {
				t.Fatal(err)
			}
			line := fmt.Sprintf("%-16s bootstrap %5.1f MiB, start to first next %6.1f ms", c.id, float64(st.Size())/(1<<20), float64(d.Microseconds())/1000)
			t.Log(line)
			report = append(report, line)
			if _, ok := p.api.InitError(); ok {
				t.Error("the function reported an init error")
			}
		})
	}
	t.Logf("smoke (%s/%s):\n  %s", runtime.GOOS, runtime.GOARCH, strings.Join(report, "\n  "))
}

// TestMisconfiguredFunctionFailsAtStart: a function missing a variable the
// template sets exits before asking for an invocation, naming it.
func TestMisconfiguredFunctionFailsAtStart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a function; skipped with -short")
	}
	bin := build(t, "PublishFunction")
	f := newFakes(t)
	p := start(t, bin, func(api *lambdaruntime.Server) []string {
		var env []string
		for _, e := range functionEnv(t, "PublishFunction", f, api) {
			if !strings.HasPrefix(e, "EVENT_BUS_NAME=") {
				env = append(env, e)
			}
		}
		return env
	})
	select {
	case err := <-p.exited:
		p.exited <- err // for the cleanup
		if err == nil {
			t.Fatal("the function exited successfully")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the function did not exit")
	}
	if !strings.Contains(p.out.String(), "EVENT_BUS_NAME is not set") {
		t.Errorf("output does not name the variable:\n%s", p.out.String())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, err := p.api.FirstNext(ctx); err == nil {
		t.Error("the misconfigured function asked for an invocation")
	}
}

// BenchmarkStartToFirstNext measures each bootstrap's cold start: from
// process start to its first request for an invocation.
func BenchmarkStartToFirstNext(b *testing.B) {
	for _, c := range smokeCases {
		b.Run(c.id, func(b *testing.B) {
			bin := build(b, c.id)
			st, err := os.Stat(bin)
			if err != nil {
				b.Fatal(err)
			}
			f := newFakes(b)
			var total time.Duration
			for range b.N {
				p := start(b, bin, func(api *lambdaruntime.Server) []string { return functionEnv(b, c.id, f, api) })
				total += p.startup(b)
				_ = p.cmd.Process.Kill()
			}
			b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms/first-next")
			b.ReportMetric(float64(st.Size()), "bytes")
		})
	}
}
