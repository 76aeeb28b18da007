package bench

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/rolecall/rolecall/internal/stack"
	"github.com/rolecall/rolecall/internal/testkit/awsfake"
	"github.com/rolecall/rolecall/internal/testkit/lambdaruntime"
)

// binaries builds every function with its Makefile target (what sam build
// runs) for each size target, then starts the host build Starts times
// under the local Runtime API and times process start → first request for
// an invocation.
func binaries(ctx context.Context, cfg Config, r *Report) error {
	if cfg.Starts <= 0 && len(cfg.SizeTargets) == 0 {
		return nil
	}
	t, err := stack.LoadTemplate(filepath.Join(cfg.Root, "template.yaml"))
	if err != nil {
		return err
	}
	fns := t.Resources("AWS::Serverless::Function")
	var ids []string
	for id := range fns {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	dir, err := os.MkdirTemp("", "rolecall-bench-bin")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	area := "Function binaries"
	host := runtime.GOOS + "/" + runtime.GOARCH
	fakes := startFakes()
	defer fakes.close()
	for _, id := range ids {
		for _, target := range cfg.SizeTargets {
			bin, err := makeBootstrap(ctx, cfg.Root, id, target, filepath.Join(dir, id+"-"+strings.ReplaceAll(target, "/", "-")))
			if err != nil {
				return err
			}
			st, err := os.Stat(bin)
			if err != nil {
				return err
			}
			mb := float64(st.Size()) / 1e6
			r.add(Row{Area: area, Measure: fmt.Sprintf("%s bootstrap size (%s, -tags lambda.norpc -trimpath -ldflags=\"-s -w\")", id, target),
				Value: fmt.Sprintf("%.1f MB (%.1f MiB)", mb, float64(st.Size())/(1<<20)), Goal: "≤ 12 MB", Verdict: atMost(mb, 12, " MB")})
		}
		if cfg.Starts <= 0 {
			continue
		}
		bin, err := makeBootstrap(ctx, cfg.Root, id, host, filepath.Join(dir, id+"-host"))
		if err != nil {
			return err
		}
		env, err := functionEnv(t, id, fakes, filepath.Join(dir, id+"-home"))
		if err != nil {
			return err
		}
		var starts []time.Duration
		for range cfg.Starts {
			d, err := coldStart(ctx, bin, env)
			if err != nil {
				return fmt.Errorf("%s: %w", id, err)
			}
			starts = append(starts, d)
		}
		p50, worst := percentile(starts, 50), percentile(starts, 100)
		r.add(Row{Area: area, Measure: fmt.Sprintf("%s start → ready (first GET …/invocation/next; %s build, %d starts)", id, host, cfg.Starts),
			Value: fmt.Sprintf("median %s, max %s", ms(p50), ms(worst)), Goal: "≤ 30 ms", Verdict: atMost(float64(p50.Microseconds())/1000, 30, " ms")})
	}
	return nil
}

// makeBootstrap runs `make build-<id>` for target ("goos/goarch") into
// dir and returns the bootstrap's path.
func makeBootstrap(ctx context.Context, root, id, target, dir string) (string, error) {
	goos, goarch, ok := strings.Cut(target, "/")
	if !ok {
		return "", fmt.Errorf("target %q is not goos/goarch", target)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, "make", "--no-print-directory", "build-"+id, "ARTIFACTS_DIR="+dir, "LAMBDA_GOOS="+goos, "LAMBDA_GOARCH="+goarch)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("make build-%s for %s: %w\n%s", id, target, err, out)
	}
	return filepath.Join(dir, "bootstrap"), nil
}

// fakeEndpoints are stand-ins for the AWS services, so that nothing a
// function does at start can reach AWS.
type fakeEndpoints struct {
	urls  map[string]string // AWS_ENDPOINT_URL_<service> → URL
	close func()
}

func startFakes() fakeEndpoints {
	var servers []*httptest.Server
	f := fakeEndpoints{urls: map[string]string{}}
	for name, h := range map[string]http.Handler{
		"DYNAMODB": awsfake.NewDynamoDB(), "SQS": awsfake.NewSQS(), "EVENTBRIDGE": awsfake.NewEventBridge(), "STS": awsfake.NewSTS(),
	} {
		srv := httptest.NewServer(h)
		servers = append(servers, srv)
		f.urls[name] = srv.URL
	}
	f.close = func() {
		for _, s := range servers {
			s.Close()
		}
	}
	return f
}

// functionEnv is the environment Lambda gives the function: the
// template's variables (with local values), the runtime's, and the fakes'
// endpoints. AWS_LAMBDA_RUNTIME_API is added per start.
func functionEnv(t stack.Template, id string, f fakeEndpoints, home string) ([]string, error) {
	values := map[string]string{
		"TABLE_NAME":                        "rolecall-bench",
		"VERIFY_QUEUE_URL":                  f.urls["SQS"] + "/111122223333/rolecall-bench-verify",
		"PARTNER_ACCOUNT_ID":                partnerAccount,
		"TRUSTED_PRINCIPAL_ARN":             partnerPrincipal,
		"CUSTOMER_ROLE_TEMPLATE_URL":        "",
		"CUSTOMER_ROLE_NAME_PREFIX":         "RoleCall",
		"EVENT_SOURCE":                      "rolecall",
		"EVENT_BUS_NAME":                    "rolecall-bench",
		"CHECK_INTERVAL":                    "60m",
		"SUBMISSIONS_PER_INVITE_PER_MINUTE": "20",
		"FAILED_CHECK_MAX_INTERVAL":         "1440m",
		"ACCESS_LOST_CHECK_MAX_INTERVAL":    "60m",
		"ABANDON_FAILED_AFTER_DAYS":         "14",
		"ACCESS_ROLE_ARN":                   "arn:aws:iam::" + partnerAccount + ":role/rolecall-bench-access",
		"PARTNER_NAME":                      "RoleCall",
		"REGISTRATION_TOPIC_ARN":            "arn:aws:sns:us-east-1:111122223333:rolecall-bench-registration",
		"REGISTRATION_WAIT":                 "60s",
		"VERIFY_QUEUE_ARN":                  "arn:aws:sqs:us-east-1:111122223333:rolecall-bench-verify",
		"PRIORITY_QUEUE_URL":                f.urls["SQS"] + "/111122223333/rolecall-bench-verify-priority",
		"PRIORITY_QUEUE_ARN":                "arn:aws:sqs:us-east-1:111122223333:rolecall-bench-verify-priority",
		"STS_REQUESTS_PER_SECOND":           "400",
		"STS_PRIORITY_PERCENT":              "3",
		"VERIFY_MAX_CONCURRENCY":            "2",
		"PRIORITY_MAX_CONCURRENCY":          "2",
		"SWEEP_EVERY":                       "1m",
		"STS_REGIONS":                       "",
		"METRICS_NAMESPACE":                 "RoleCall/bench",
	}
	if err := os.MkdirAll(home, 0o755); err != nil {
		return nil, err
	}
	env := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + home,
		"AWS_LAMBDA_FUNCTION_NAME=rolecall-bench-" + id, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256", "AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
		"_HANDLER=bootstrap", "AWS_REGION=us-east-1", "AWS_DEFAULT_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=AKIDBENCH", "AWS_SECRET_ACCESS_KEY=bench-secret", "AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE=" + filepath.Join(home, "none"), "AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(home, "none"),
	}
	for svc, url := range f.urls {
		env = append(env, "AWS_ENDPOINT_URL_"+svc+"="+url)
	}
	vars, _ := stack.Properties(t.Resources("AWS::Serverless::Function")[id])["Environment"].(map[string]any)
	vs, _ := vars["Variables"].(map[string]any)
	for k := range vs {
		v, ok := values[k]
		if !ok {
			return nil, fmt.Errorf("template.yaml sets %s on %s; the benchmark has no value for it", k, id)
		}
		env = append(env, k+"="+v)
	}
	slices.Sort(env)
	return env, nil
}

// coldStart starts bin against a fresh Runtime API and returns how long
// after the process started it asked for its first invocation.
func coldStart(ctx context.Context, bin string, env []string) (time.Duration, error) {
	api, err := lambdaruntime.New()
	if err != nil {
		return 0, err
	}
	defer api.Close()
	cmd := exec.Command(bin)
	cmd.Env = append(slices.Clone(env), "AWS_LAMBDA_RUNTIME_API="+api.Addr())
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	exited := make(chan error, 1)
	started := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Kill()
		<-exited
	}()
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	got := make(chan time.Time, 1)
	go func() {
		if at, err := api.FirstNext(wctx); err == nil {
			got <- at
		}
	}()
	select {
	case at := <-got:
		return at.Sub(started), nil
	case err := <-exited:
		exited <- err
		return 0, fmt.Errorf("exited before asking for an invocation: %v\n%s", err, out.String())
	case <-wctx.Done():
		return 0, errors.New("no request for an invocation within 20 s")
	}
}
