package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/httpapi"
	"github.com/rolecall/rolecall/internal/onboarding"
	"github.com/rolecall/rolecall/internal/probe"
	"github.com/rolecall/rolecall/internal/queue/queuetest"
	"github.com/rolecall/rolecall/internal/rolearn"
	"github.com/rolecall/rolecall/internal/sandbox"
	"github.com/rolecall/rolecall/internal/store"
	"github.com/rolecall/rolecall/internal/tenant"
	"github.com/rolecall/rolecall/internal/testkit/awsfake"
)

// underTest makes this test binary act as the rolecall command, so that
// profiles' credential_process can run it.
const underTest = "ROLECALL_CLI_UNDER_TEST"

func TestMain(m *testing.M) {
	if os.Getenv(underTest) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

const (
	wlPartner    = "111122223333"
	wlAccessRole = "arn:aws:iam::" + wlPartner + ":role/rolecall-dev-access"
	wlWorkload   = "arn:aws:iam::" + wlPartner + ":role/backend"
	wlKey        = "AKIAWORKLOADCLI00001"
	wlOpsToken   = "ops-token-for-tests"
)

func wlRole(acct string) string { return "arn:aws:iam::" + acct + ":role/RoleCall-7c1e2a90" }

// recordingQueue keeps the check jobs the API sends.
type recordingQueue struct{ queuetest.Recorder }

// requested is the jobs of re-checks the API was asked for.
func (q *recordingQueue) requested() []probe.Job {
	var out []probe.Job
	for _, j := range q.Jobs() {
		if j.Why == probe.WhyRequested {
			out = append(out, j)
		}
	}
	return out
}

// workloadWorld is RoleCall's real API (on the embedded store) with
// tenants and connections in given states, and an STS that chains
// workload -> access role -> customer roles.
type workloadWorld struct {
	svc     *onboarding.Service
	api     string
	sts     *awsfake.ChainSTS
	stsURL  string
	queue   *recordingQueue
	tenants map[string]tenant.Tenant
	dir     string
	// requests counts the API's requests by method and path.
	requests *requestCounter
	// partition of the deployment: its access role, workload and
	// customer roles are the wl* ARNs in it (inPartition).
	partition string
}

// inPartition is the wl* ARN arn in the world's partition.
func (w *workloadWorld) inPartition(arn string) string {
	return strings.Replace(arn, "arn:aws:", "arn:"+w.partition+":", 1)
}

// connect submits a role and applies check results, as the verifier would.
func (w *workloadWorld) connect(t *testing.T, svc *onboarding.Service, st store.Store, tn tenant.Tenant, acct string, results ...connection.Result) {
	t.Helper()
	ctx := context.Background()
	c, err := svc.Submit(ctx, tn, w.inPartition(wlRole(acct)))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		tr, err := svc.Policy.Apply(c, connection.Outcome{Result: r, Version: c.Version, ExternalIDVersion: tn.ExternalIDVersion, ExternalIDCurrent: true, CheckedAt: time.Now().Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Apply(ctx, tr); err != nil {
			t.Fatal(err)
		}
		c = tr.After
	}
	w.sts.AddRole(w.inPartition(wlRole(acct)), w.inPartition(wlAccessRole), tn.ExternalID)
}

func newWorkloadWorld(t *testing.T) *workloadWorld { return newWorkloadWorldIn(t, "aws") }

// newWorkloadWorldIn is newWorkloadWorld with a deployment in partition,
// whose STS takes only credentials scoped to a Region of it.
func newWorkloadWorldIn(t *testing.T, partition string) *workloadWorld {
	t.Helper()
	w := &workloadWorld{sts: awsfake.NewChainSTSIn(partition), queue: &recordingQueue{}, tenants: map[string]tenant.Tenant{}, dir: t.TempDir(), partition: partition}
	st := store.NewMemory()
	svc := &onboarding.Service{Store: st, Queue: w.queue, Policy: connection.DefaultPolicy(), Rules: rolearn.Rules{Partition: partition, OwnAccount: wlPartner}}
	w.svc = svc
	ctx := context.Background()
	for _, id := range []string{"acme", "globex"} {
		tn, err := svc.CreateTenant(ctx, id, id)
		if err != nil {
			t.Fatal(err)
		}
		w.tenants[id] = tn
	}
	w.connect(t, svc, st, w.tenants["acme"], "444455556666", connection.ResultOK)
	w.connect(t, svc, st, w.tenants["acme"], "555566667777", connection.ResultOK)
	w.connect(t, svc, st, w.tenants["acme"], "666677778888", connection.ResultOK, connection.ResultDenied, connection.ResultDenied, connection.ResultDenied)
	w.connect(t, svc, st, w.tenants["globex"], "777788889999", connection.ResultOK)
	w.connect(t, svc, st, w.tenants["globex"], "888899990000") // PENDING
	ops, err := httpapi.NewBearerToken(wlOpsToken)
	if err != nil {
		t.Fatal(err)
	}
	h, err := httpapi.New(httpapi.Config{Service: svc, Ops: ops, PartnerAccountID: wlPartner, TrustedPrincipalARN: w.inPartition(wlAccessRole), Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	w.requests = &requestCounter{next: h}
	apiSrv := httptest.NewServer(w.requests)
	stsSrv := httptest.NewServer(w.sts)
	t.Cleanup(apiSrv.Close)
	t.Cleanup(stsSrv.Close)
	w.api, w.stsURL = apiSrv.URL, stsSrv.URL
	w.sts.AddPrincipal(wlKey, w.inPartition(wlWorkload))
	w.sts.AddRole(w.inPartition(wlAccessRole), w.inPartition(wlWorkload), "")
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL_STS": w.stsURL, "AWS_ACCESS_KEY_ID": wlKey, "AWS_SECRET_ACCESS_KEY": sandbox.DefaultCallerSecret(wlKey),
		"AWS_REGION": "eu-west-1", "AWS_CONFIG_FILE": filepath.Join(w.dir, "config"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(w.dir, "credentials"),
		"AWS_PROFILE": "", "AWS_DEFAULT_PROFILE": "", "AWS_SESSION_TOKEN": "", "AWS_ENDPOINT_URL": "", "AWS_EC2_METADATA_DISABLED": "true",
		"ROLECALL_API": w.api, "ROLECALL_OPS_TOKEN": wlOpsToken, inCredentialProcess: "",
	} {
		t.Setenv(k, v)
	}
	return w
}

// requestCounter counts the requests it passes to next, by method and
// path ("GET /v1/tenants/acme/access").
type requestCounter struct {
	next http.Handler
	mu   sync.Mutex
	n    map[string]int
}

func (c *requestCounter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[r.Method+" "+r.URL.Path]++
	c.mu.Unlock()
	c.next.ServeHTTP(w, r)
}

// take returns the counts so far and starts again from none.
func (c *requestCounter) take() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.n
	c.n = nil
	return n
}

// svcTenant creates a tenant with no connection.
func (w *workloadWorld) svcTenant(id string) (tenant.Tenant, error) {
	return w.svc.CreateTenant(context.Background(), id, id)
}

// run runs one rolecall command and returns its stdout, stderr and exit
// status.
func run(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	stdout, stderr, err := execute(context.Background(), args...)
	code := 0
	var ec exitCode
	switch {
	case err == nil:
	case asExit(err, &ec):
		code = int(ec)
	default:
		t.Fatalf("rolecall %v: %v", args, err)
	}
	return stdout, stderr, code
}

func identity(t *testing.T, stsURL string, creds aws.CredentialsProvider) string {
	t.Helper()
	return identityIn(t, stsURL, "eu-west-1", creds)
}

// identityIn is the identity of creds, asked of STS in region.
func identityIn(t *testing.T, stsURL, region string, creds aws.CredentialsProvider) string {
	t.Helper()
	client := sts.New(sts.Options{Region: region, BaseEndpoint: aws.String(stsURL), Credentials: creds})
	out, err := client.GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.Arn)
}

func TestCredentialsPrintsCredentialProcessJSON(t *testing.T) {
	w := newWorkloadWorld(t)
	out, errOut, code := run(t, "credentials", "--tenant", "acme", "--account", "444455556666")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	var got credentialProcessOutput
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("stdout %q: %v", out, err)
	}
	exp, err := time.Parse(time.RFC3339, got.Expiration)
	if got.Version != 1 || got.AccessKeyID == "" || got.SecretAccessKey == "" || got.SessionToken == "" || err != nil || time.Until(exp) < 50*time.Minute {
		t.Errorf("output %+v (expiration %v)", got, err)
	}
	arn := identity(t, w.stsURL, credentials.NewStaticCredentialsProvider(got.AccessKeyID, got.SecretAccessKey, got.SessionToken))
	if want := "arn:aws:sts::444455556666:assumed-role/RoleCall-7c1e2a90/rolecall-cli-acme"; arn != want {
		t.Errorf("the credentials are %s, want %s", arn, want)
	}
	if errOut != "" {
		t.Errorf("stderr %q", errOut)
	}
}

// TestCredentialsDuration: a --duration from 30 minutes to an hour is the
// DurationSeconds of the customer session STS is asked for.
func TestCredentialsDuration(t *testing.T) {
	w := newWorkloadWorld(t)
	for _, d := range []time.Duration{30 * time.Minute, 45 * time.Minute, time.Hour} {
		t.Run(d.String(), func(t *testing.T) {
			before := len(w.sts.Requests())
			out, errOut, code := run(t, "credentials", "--tenant", "acme", "--account", "444455556666", "--duration", d.String())
			if code != 0 || !strings.Contains(out, `"SessionToken"`) {
				t.Fatalf("exit %d, stdout %q: %s", code, out, errOut)
			}
			var asked []string
			for _, form := range w.sts.Requests()[before:] {
				if form.Get("Action") == "AssumeRole" && form.Get("RoleArn") == wlRole("444455556666") {
					asked = append(asked, form.Get("DurationSeconds"))
				}
			}
			if want := strconv.Itoa(int(d.Seconds())); len(asked) != 1 || asked[0] != want {
				t.Errorf("the customer role was assumed for %v seconds, want [%s]", asked, want)
			}
		})
	}
}

func TestCredentialsRefusals(t *testing.T) {
	w := newWorkloadWorld(t)
	w.sts.DeleteRole(wlRole("555566667777"))
	tests := []struct {
		name     string
		args     []string
		code     int
		stderr   []string
		rechecks int
	}{
		{"access lost", []string{"--tenant", "acme", "--account", "666677778888"}, 1, []string{"not verified (ACCESS_LOST): ASSUME_DENIED"}, 0},
		{"pending", []string{"--tenant", "globex", "--account", "888899990000"}, 1, []string{"not verified (PENDING)"}, 0},
		{"unknown connection", []string{"--tenant", "acme", "--account", "999999999999"}, 1, []string{"404 NOT_FOUND"}, 0},
		{"the customer deleted the role", []string{"--tenant", "acme", "--account", "555566667777"}, 1, []string{"denied access", "asked to re-check"}, 1},
		{"no tenant", []string{"--account", "444455556666"}, 2, []string{"--tenant and --account are required"}, 0},
		{"no API", []string{"--tenant", "acme", "--account", "444455556666", "--api", ""}, 1, []string{"pass --api URL or set ROLECALL_API"}, 0},
		{"bad API URL", []string{"--tenant", "acme", "--account", "444455556666", "--api", "ftp://x"}, 1, []string{"is not an http(s) URL"}, 0},
		{"duration under STS's minimum", []string{"--tenant", "acme", "--account", "444455556666", "--duration", "1s"}, 2, []string{"--duration 1s: want from 30m0s to 1h0m0s"}, 0},
		// botocore would run the process again on every call.
		{"STS's minimum", []string{"--tenant", "acme", "--account", "444455556666", "--duration", "15m"}, 2, []string{"--duration 15m0s", "from 15 minutes before the credentials expire"}, 0},
		{"duration just under 30m", []string{"--tenant", "acme", "--account", "444455556666", "--duration", "29m59s"}, 2, []string{"--duration 29m59s"}, 0},
		{"duration over role chaining's maximum", []string{"--tenant", "acme", "--account", "444455556666", "--duration", "2h"}, 2, []string{"--duration 2h0m0s: want from 30m0s to 1h0m0s", "at most one hour"}, 0},
		{"duration just over 1h", []string{"--tenant", "acme", "--account", "444455556666", "--duration", "1h0m1s"}, 2, []string{"--duration 1h0m1s"}, 0},
		{"zero duration", []string{"--tenant", "acme", "--account", "444455556666", "--duration", "0s"}, 2, []string{"--duration 0s"}, 0},
		{"negative duration", []string{"--tenant", "acme", "--account", "444455556666", "--duration", "-1h"}, 2, []string{"--duration -1h0m0s"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(w.queue.requested())
			out, errOut, code := run(t, append([]string{"credentials"}, tt.args...)...)
			if code != tt.code || out != "" {
				t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
			}
			for _, s := range tt.stderr {
				if !strings.Contains(errOut, s) {
					t.Errorf("stderr %q lacks %q", errOut, s)
				}
			}
			if tt.code == 1 && strings.Count(errOut, "\n") != 1 {
				t.Errorf("stderr is not one line: %q", errOut)
			}
			if got := len(w.queue.requested()) - before; got != tt.rechecks {
				t.Errorf("%d re-checks requested, want %d", got, tt.rechecks)
			}
			if strings.Contains(errOut, w.tenants["acme"].ExternalID) || strings.Contains(errOut, wlOpsToken) {
				t.Error("stderr carries a secret")
			}
		})
	}
}

func TestProfilesPrintOnePerVerifiedConnection(t *testing.T) {
	newWorkloadWorld(t)
	tests := []struct {
		args []string
		want []string
	}{
		{nil, []string{"rolecall-acme-444455556666", "rolecall-acme-555566667777", "rolecall-globex-777788889999"}},
		{[]string{"--tenant", "acme"}, []string{"rolecall-acme-444455556666", "rolecall-acme-555566667777"}},
		{[]string{"--tenant", "globex"}, []string{"rolecall-globex-777788889999"}},
	}
	for _, tt := range tests {
		out, errOut, code := run(t, append([]string{"profiles", "--command", "/opt/rolecall/bin/rolecall"}, tt.args...)...)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		var names []string
		for _, line := range strings.Split(out, "\n") {
			if h, ok := iniHeader(line); ok {
				names = append(names, strings.TrimPrefix(h, "profile "))
			}
		}
		if strings.Join(names, " ") != strings.Join(tt.want, " ") {
			t.Errorf("profiles %v: %v, want %v", tt.args, names, tt.want)
		}
		if want := regexp.MustCompile(`(?m)^credential_process = /opt/rolecall/bin/rolecall credentials --tenant acme --api http://127\.0\.0\.1:[0-9]+ --account 444455556666$`); tt.args == nil && !want.MatchString(out) {
			t.Errorf("output lacks %s:\n%s", want, out)
		}
		if strings.Contains(out, wlOpsToken) || strings.Contains(out, "rc-") && strings.Contains(out, "externalId") {
			t.Error("profiles carry a secret")
		}
	}
}

// TestProfilesWorkWithTheGoSDK: the profile written by --write is loaded
// by config.LoadDefaultConfig, whose credential_process runs
// `rolecall credentials` (this test binary), and gets the customer's
// identity; every other profile of the file is kept, with a backup.
func TestProfilesWorkWithTheGoSDK(t *testing.T) {
	w := newWorkloadWorld(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(underTest, "1")
	cfgFile := os.Getenv("AWS_CONFIG_FILE")
	original := "# my settings\n[default]\nregion = eu-west-1\n\n[profile rolecall-acme-444455556666]\ncredential_process = /old/rolecall\n\n[profile other]\nrole_arn = arn:aws:iam::123456789012:role/x\nsource_profile = default\n"
	if err := os.WriteFile(cfgFile, []byte(original), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := run(t, "profiles", "--tenant", "acme", "--write", cfgFile, "--command", exe); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	b, err := os.ReadFile(cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	got := string(b)
	for _, keep := range []string{"# my settings\n[default]\nregion = eu-west-1\n", "[profile other]\nrole_arn = arn:aws:iam::123456789012:role/x\nsource_profile = default\n", "[profile rolecall-acme-555566667777]\n"} {
		if !strings.Contains(got, keep) {
			t.Errorf("merged file lacks %q:\n%s", keep, got)
		}
	}
	if strings.Contains(got, "/old/rolecall") || strings.Count(got, "[profile rolecall-acme-444455556666]") != 1 {
		t.Errorf("the old profile was not replaced:\n%s", got)
	}
	if bak, err := os.ReadFile(cfgFile + ".bak"); err != nil || string(bak) != original {
		t.Errorf("backup %q (%v)", bak, err)
	}

	// The Go SDK, with the merged file, through credential_process.
	for _, acct := range []string{"444455556666", "555566667777"} {
		wantSDKSession(t, w, acct, config.WithSharedConfigProfile("rolecall-acme-"+acct))
	}
	// AWS_PROFILE naming a rolecall profile is not used for the base
	// credentials of the credential_process it runs (that would recurse):
	// here the base credentials are the default profile's.
	creds := "[default]\naws_access_key_id = " + wlKey + "\naws_secret_access_key = " + sandbox.DefaultCallerSecret(wlKey) + "\n"
	if err := os.WriteFile(os.Getenv("AWS_SHARED_CREDENTIALS_FILE"), []byte(creds), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	t.Setenv("AWS_PROFILE", "rolecall-acme-444455556666")
	wantSDKSession(t, w, "444455556666")
}

// wantSDKSession loads the Go SDK's configuration (the environment's, and
// opts) and checks that its credentials are a session of acme's role in
// acct, through the credential_process of a rolecall profile.
func wantSDKSession(t *testing.T, w *workloadWorld, acct string, opts ...func(*config.LoadOptions) error) {
	t.Helper()
	cfg, err := config.LoadDefaultConfig(context.Background(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	if arn := identity(t, w.stsURL, cfg.Credentials); arn != "arn:aws:sts::"+acct+":assumed-role/RoleCall-7c1e2a90/rolecall-cli-acme" {
		t.Errorf("the SDK's session for %s is %s", acct, arn)
	}
}

// TestProfileInTheEnvironmentIsLeftOut: a machine whose only profiles are
// the ones `rolecall profiles` wrote (no [default]), its base credentials a
// container's (ECS, EKS Pod Identity), selects one by AWS_PROFILE, as the
// AWS documentation shows (a stale AWS_DEFAULT_PROFILE naming another
// beside it): the credential_process it runs leaves both out of its base
// credentials rather than asking for a [default] profile that is not there.
func TestProfileInTheEnvironmentIsLeftOut(t *testing.T) {
	w := newWorkloadWorld(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(underTest, "1")
	cfgFile := filepath.Join(w.dir, "only-rolecall-profiles")
	t.Setenv("AWS_CONFIG_FILE", cfgFile)
	if _, errOut, code := run(t, "profiles", "--tenant", "acme", "--write", cfgFile, "--command", exe); code != 0 {
		t.Fatalf("profiles: exit %d: %s", code, errOut)
	}
	if err := os.WriteFile(os.Getenv("AWS_SHARED_CREDENTIALS_FILE"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	container := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(rw).Encode(map[string]string{"AccessKeyId": wlKey, "SecretAccessKey": sandbox.DefaultCallerSecret(wlKey),
			"Expiration": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)})
	}))
	defer container.Close()
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	t.Setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", container.URL+"/credentials")
	t.Setenv("AWS_PROFILE", "rolecall-acme-444455556666")
	t.Setenv("AWS_DEFAULT_PROFILE", "rolecall-acme-555566667777")
	wantSDKSession(t, w, "444455556666")
}

func TestProfilesWithoutVerifiedConnections(t *testing.T) {
	w := newWorkloadWorld(t)
	path := filepath.Join(w.dir, "untouched")
	out, errOut, code := run(t, "profiles", "--tenant", "initech", "--write", path)
	if code != 1 || !strings.Contains(errOut, "NOT_FOUND") {
		t.Errorf("unknown tenant: exit %d %q", code, errOut)
	}
	if _, err := w.svcTenant("initech"); err != nil {
		t.Fatal(err)
	}
	out, errOut, code = run(t, "profiles", "--tenant", "initech", "--write", path)
	if code != 0 || out != "" || !strings.Contains(errOut, "no VERIFIED connection") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("the file was written: %v", err)
	}
}

func TestMergeINI(t *testing.T) {
	sec := func(name, line string) profileSection { return profileSection{name: name, lines: []string{line}} }
	tests := []struct {
		name, old string
		sections  []profileSection
		want      string
	}{
		{"empty file", "", []profileSection{sec("rolecall-a-1", "x = 1")}, "[profile rolecall-a-1]\nx = 1\n"},
		{"appended after others", "[default]\nregion = us-east-1", []profileSection{sec("rolecall-a-1", "x = 1")},
			"[default]\nregion = us-east-1\n\n[profile rolecall-a-1]\nx = 1\n"},
		{"replaced in place", "[profile rolecall-a-1]\nx = 0\n\n[profile b]\ny = 2\n", []profileSection{sec("rolecall-a-1", "x = 1")},
			"[profile rolecall-a-1]\nx = 1\n\n[profile b]\ny = 2\n"},
		{"header spacing", "[ profile   rolecall-a-1 ]\nx = 0\n", []profileSection{sec("rolecall-a-1", "x = 1")}, "[profile rolecall-a-1]\nx = 1\n\n"},
		{"others untouched", "; c\n[sso-session s]\nsso_region = eu-west-1\n", nil, "; c\n[sso-session s]\nsso_region = eu-west-1\n"},
		// The SDKs read a header followed by a comment as the header.
		{"a commented header after a replaced one", "[profile rolecall-a-1]\nx = 0\n\n[profile prod] # do not touch\nregion = eu-west-1\n", []profileSection{sec("rolecall-a-1", "x = 1")},
			"[profile rolecall-a-1]\nx = 1\n\n[profile prod] # do not touch\nregion = eu-west-1\n"},
		{"a replaced header with a comment", "[default]\nr = 1\n\n[profile rolecall-a-1] ; by hand\nx = 0\n", []profileSection{sec("rolecall-a-1", "x = 1")},
			"[default]\nr = 1\n\n[profile rolecall-a-1]\nx = 1\n\n"},
		{"comments in a replaced section kept", "[profile rolecall-a-1]\nx = 0\n\n# ask ops first\n[profile b]\ny = 2\n", []profileSection{sec("rolecall-a-1", "x = 1")},
			"[profile rolecall-a-1]\nx = 1\n\n# ask ops first\n[profile b]\ny = 2\n"},
		// botocore reads "[profile b] text" as the header [profile b].
		{"a header with text after it ends a replaced section", "[profile rolecall-a-1]\nx = 0\n[profile b] text\ny = 2\n", []profileSection{sec("rolecall-a-1", "x = 1")},
			"[profile rolecall-a-1]\nx = 1\n\n[profile b] text\ny = 2\n"},
		{"a replaced header with text after it", "[profile rolecall-a-1] managed by rolecall\nx = 0\n", []profileSection{sec("rolecall-a-1", "x = 1")},
			"[profile rolecall-a-1]\nx = 1\n\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(mergeINI([]byte(tt.old), tt.sections)); got != tt.want {
				t.Errorf("merged\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

// Outside Windows, a word of credential_process that needs quoting is
// double-quoted, which sh and shlex read as it is; only a word that sh
// would expand or unescape between double quotes ($, `, ", a backslash
// before another or at the end) is single-quoted.
func TestPosixWordDoubleQuotesUnlessShWouldChangeIt(t *testing.T) {
	tests := map[string]string{
		"/usr/bin/rolecall":                "/usr/bin/rolecall",
		"http://127.0.0.1:8080":            "http://127.0.0.1:8080",
		"/path with space/rolecall":        `"/path with space/rolecall"`,
		`C:\Users\dev\bin\rolecall.exe`:    `"C:\Users\dev\bin\rolecall.exe"`,
		`C:\Program Files\RoleCall\rc.exe`: `"C:\Program Files\RoleCall\rc.exe"`,
		"it's":                             `"it's"`,
		"":                                 `""`,
		"$(rm)":                            "'$(rm)'",
		"`rm`":                             "'`rm`'",
		`say "hi"`:                         `'say "hi"'`,
		`it's "$x"`:                        `'it'\''s "$x"'`,
		`\\server\share\rc.exe`:            `'\\server\share\rc.exe'`,
		`C:\dir\`:                          `'C:\dir\'`,
	}
	for in, want := range tests {
		if got := posixWord(in); got != want {
			t.Errorf("posixWord(%q) = %s, want %s", in, got, want)
		}
	}
}

// On Windows, where no reader knows single quotes, a word without white
// space or cmd.exe's special characters stays bare, backslashes included
// (the one form the Go SDK's route through cmd.exe takes too); any other
// is double-quoted.
func TestWindowsWordIsBareUnlessCmdWouldChangeIt(t *testing.T) {
	tests := map[string]string{
		`C:\Users\dev\bin\rolecall.exe`:       `C:\Users\dev\bin\rolecall.exe`,
		`\\fileserver\tools\rolecall.exe`:     `\\fileserver\tools\rolecall.exe`,
		`C:\Users\svc$build\rolecall.exe`:     `C:\Users\svc$build\rolecall.exe`,
		"https://abc.execute-api.eu-west-1.x": "https://abc.execute-api.eu-west-1.x",
		`C:\Program Files\RoleCall\rc.exe`:    `"C:\Program Files\RoleCall\rc.exe"`,
		`C:\a&b\rc.exe`:                       `"C:\a&b\rc.exe"`,
		`100%`:                                `"100%"`,
		`C:\a,b;c=d\rc.exe`:                   `"C:\a,b;c=d\rc.exe"`,
		"":                                    `""`,
	}
	for in, want := range tests {
		if got := windowsWord(in); got != want {
			t.Errorf("windowsWord(%q) = %s, want %s", in, got, want)
		}
	}
}

// TestTerraformPrintsChainedProviders: valid HCL, one aliased provider
// per VERIFIED connection, assuming the access role then the customer's
// role with the tenant's external ID.
func TestTerraformPrintsChainedProviders(t *testing.T) {
	w := newWorkloadWorld(t)
	out, errOut, code := run(t, "terraform", "--tenant", "acme")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	f, diags := hclsyntax.ParseConfig([]byte(out), "providers.tf", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatalf("not HCL: %v\n%s", diags, out)
	}
	var aliases []string
	for _, b := range f.Body.(*hclsyntax.Body).Blocks {
		if b.Type != "provider" || len(b.Labels) != 1 || b.Labels[0] != "aws" {
			t.Errorf("block %s %v", b.Type, b.Labels)
			continue
		}
		attr := func(body *hclsyntax.Body, name string) string {
			a := body.Attributes[name]
			if a == nil {
				return ""
			}
			v, d := a.Expr.Value(nil)
			if d.HasErrors() {
				t.Fatal(d)
			}
			return v.AsString()
		}
		alias := attr(b.Body, "alias")
		aliases = append(aliases, alias)
		acct := strings.TrimPrefix(alias, "acme_")
		var roles []string
		for _, ar := range b.Body.Blocks {
			if ar.Type != "assume_role" {
				t.Errorf("block %s", ar.Type)
			}
			roles = append(roles, attr(ar.Body, "role_arn")+" "+attr(ar.Body, "external_id")+" "+attr(ar.Body, "session_name"))
		}
		want := []string{wlAccessRole + "  terraform", wlRole(acct) + " " + w.tenants["acme"].ExternalID + " terraform-acme"}
		if strings.Join(roles, "|") != strings.Join(want, "|") {
			t.Errorf("%s assumes %v, want %v", alias, roles, want)
		}
		if attr(b.Body, "region") != "eu-west-1" {
			t.Errorf("%s region %q", alias, attr(b.Body, "region"))
		}
	}
	if strings.Join(aliases, " ") != "acme_444455556666 acme_555566667777" {
		t.Errorf("aliases %v", aliases)
	}
	if _, errOut, code := run(t, "terraform", "--tenant", "initech"); code != 1 || !strings.Contains(errOut, "NOT_FOUND") {
		t.Errorf("unknown tenant: exit %d, %s", code, errOut)
	}
}

// TestTerraformAlias: aliases are Terraform identifiers, readable for
// plain tenant IDs, and distinct for distinct tenants: tenant IDs that
// differ only in '.', '-' and '_' (or by a leading digit) get different
// aliases.
func TestTerraformAlias(t *testing.T) {
	const acct = "111111111111"
	tests := []struct{ tenant, want string }{
		{"acme", "acme_" + acct},
		{"Acme-Prod", "Acme-Prod_" + acct},
		{"a.b", "a_db_" + acct},
		{"a-b", "a-b_" + acct},
		{"a_b", "a__b_" + acct},
		{"a_db", "a__db_" + acct},
		{"9lives", "_t9lives_" + acct},
		{"-x", "_t-x_" + acct},
		{".x", "_dx_" + acct},
		{"_x", "__x_" + acct},
		{"t9lives", "t9lives_" + acct},
	}
	for _, tt := range tests {
		if got := terraformAlias(tt.tenant, acct); got != tt.want {
			t.Errorf("terraformAlias(%q) = %s, want %s", tt.tenant, got, tt.want)
		}
	}
}

// TestTerraformAliasesAreDistinctIdentifiers tries every tenant ID of up to
// four characters over letters, a digit and the three punctuation marks a
// tenant ID may hold, in two accounts: each alias is a Terraform
// identifier that HCL reads as one name in aws.<alias>, and no two
// connections share one.
func TestTerraformAliasesAreDistinctIdentifiers(t *testing.T) {
	identifier := regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`)
	const alphabet = "aZ1.-_d"
	seen := map[string]string{}
	tenants := []string{""} // every string over alphabet of up to 4 characters
	for from, n := 0, 1; n <= 4; n++ {
		to := len(tenants)
		for _, p := range tenants[from:to] {
			for _, c := range alphabet {
				tenants = append(tenants, p+string(c))
			}
		}
		from = to
	}
	for _, tenant := range tenants[1:] {
		for _, acct := range []string{"111111111111", "222222222222"} {
			alias := terraformAlias(tenant, acct)
			if !identifier.MatchString(alias) {
				t.Fatalf("terraformAlias(%q, %s) = %q is not a Terraform identifier", tenant, acct, alias)
			}
			// The reference a resource names it by (provider = aws.<alias>)
			// is one traversal in HCL: no '-' read as a minus.
			expr, diags := hclsyntax.ParseExpression([]byte("aws."+alias), "ref.tf", hcl.InitialPos)
			ref, ok := expr.(*hclsyntax.ScopeTraversalExpr)
			if diags.HasErrors() || !ok || len(ref.Traversal) != 2 || ref.Traversal[1].(hcl.TraverseAttr).Name != alias {
				t.Fatalf("aws.%s is not a reference to the alias: %#v %v", alias, expr, diags)
			}
			key := tenant + " in " + acct
			if other, dup := seen[alias]; dup {
				t.Fatalf("%s and %s share the alias %s", other, key, alias)
			}
			seen[alias] = key
		}
	}
	if len(seen) != 2*(len(tenants)-1) {
		t.Fatalf("%d aliases for %d connections", len(seen), 2*(len(tenants)-1))
	}
}

// TestCredentialProcessDoesNotRecurse: base credentials that resolve
// through a profile running `rolecall credentials` again stop at the
// nested process with a reason, instead of recursing forever.
func TestCredentialProcessDoesNotRecurse(t *testing.T) {
	newWorkloadWorld(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(underTest, "1")
	loop := "[profile loop]\ncredential_process = " + shellWord(exe) + " credentials --tenant acme --account 444455556666 --base-profile loop\n"
	if err := os.WriteFile(os.Getenv("AWS_CONFIG_FILE"), []byte(loop), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	done := make(chan struct{})
	var code int
	var errOut string
	go func() {
		defer close(done)
		_, errOut, code = run(t, "credentials", "--tenant", "acme", "--account", "444455556666", "--base-profile", "loop")
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("credentials recursed")
	}
	// The nested process refused (its reason goes to its own stderr); the
	// outer one reports the failed credential_process on one line.
	if code != 1 || !strings.Contains(errOut, "error in credential_process") || strings.Count(errOut, "\n") != 1 {
		t.Errorf("exit %d: %q", code, errOut)
	}
	if os.Getenv(inCredentialProcess) != "" {
		t.Error("the guard outlived the command")
	}
	t.Setenv(inCredentialProcess, "1")
	if _, errOut, code := run(t, "credentials", "--tenant", "acme", "--account", "444455556666"); code != 1 || !strings.Contains(errOut, "resolve to rolecall credentials again") {
		t.Errorf("nested: exit %d: %q", code, errOut)
	}
}
