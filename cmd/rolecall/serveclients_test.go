package main

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/emulator"
)

// serveAPI calls an in-process serve.
type serveAPI struct {
	t  *testing.T
	s  *emulator.Server
	hc *http.Client
}

func (a serveAPI) call(method, path, auth string, body any, want int, out any) {
	a.t.Helper()
	sendJSON(a.t, a.hc, method, a.s.URL+path, auth, body, want, out)
}

// connect creates a tenant with an invite, creates the form's sandbox
// role (trusting the partner access role with the tenant's external ID)
// and submits it, and returns the customer account.
func (a serveAPI) connect(tenantID string) string {
	a.t.Helper()
	ops := "Bearer " + a.s.OpsToken
	a.call("POST", "/v1/tenants", ops, map[string]string{"tenantId": tenantID, "name": tenantID}, 201, nil)
	var inv struct{ Code string }
	a.call("POST", "/v1/tenants/"+tenantID+"/invites", ops, nil, 201, &inv)
	return connectSandboxRole(a.t, a.hc, a.s.URL, inv.Code)
}

// TestRealClientsAgainstServe: the whole chain in `rolecall serve`, with
// no AWS: three customers connect through the form's sandbox roles, the
// profiles `rolecall profiles` writes work in Debian's AWS CLI, a boto3
// backend and the Go SDK; a deleted customer role fails the workload,
// which asks for a re-check, the connection goes ACCESS_LOST, and
// `rolecall credentials` refuses it with the reason.
func TestRealClientsAgainstServe(t *testing.T) {
	realClients(t)
	s := startServe(t)
	api := serveAPI{t: t, s: s, hc: &http.Client{Timeout: 10 * time.Second}}
	tenants := []string{"acme", "globex", "initech"}
	accounts := map[string]string{}
	for _, tn := range tenants {
		accounts[tn] = api.connect(tn)
	}
	for _, tn := range tenants {
		waitStatusEvent(t, s, tn, accounts[tn], connection.Verified)
	}

	dir := t.TempDir()
	stsURL := s.URL + emulator.SandboxSTSPath
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	creds := "[default]\naws_access_key_id = " + s.WorkloadAccessKeyID + "\naws_secret_access_key = " + s.WorkloadSecretAccessKey + "\n"
	if err := os.WriteFile(filepath.Join(dir, "credentials"), []byte(creds), 0o600); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{
		"HOME": dir, "AWS_CONFIG_FILE": filepath.Join(dir, "config"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "credentials"),
		"AWS_ENDPOINT_URL_STS": stsURL, "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true",
		"AWS_PAGER": "", "ROLECALL_API": s.URL, "ROLECALL_OPS_TOKEN": s.OpsToken, inCredentialProcess: "",
	} {
		t.Setenv(k, v)
	}
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	if _, errOut, code := run(t, "profiles", "--write", filepath.Join(dir, "config"), "--command", exe); code != 0 {
		t.Fatalf("profiles: exit %d: %s", code, errOut)
	}
	t.Setenv(underTest, "1")
	role := func(tn string) string { return "arn:aws:sts::" + accounts[tn] + ":assumed-role/" }

	// The AWS CLI.
	var id struct{ Account, Arn string }
	id.Account, id.Arn = awsCLIIdentity(t, "rolecall-acme-"+accounts["acme"], stsURL)
	if id.Account != accounts["acme"] || !strings.HasPrefix(id.Arn, role("acme")) || !strings.HasSuffix(id.Arn, "/rolecall-cli-acme") {
		t.Errorf("aws identity %+v", id)
	}

	// A boto3 backend over the three customers.
	seen := map[string]bool{}
	for _, line := range runBackend(t, stsURL) {
		tn := strings.Split(line.Profile, "-")[1]
		if line.Profile != "rolecall-"+tn+"-"+accounts[tn] || line.Account != accounts[tn] || !strings.HasPrefix(line.Arn, role(tn)) {
			t.Errorf("backend line %+v", line)
		}
		seen[tn] = true
	}
	if len(seen) != 3 {
		t.Errorf("backend saw %v", seen)
	}

	// The Go SDK with the same profile (and AWS_ENDPOINT_URL_STS).
	cfg, err := config.LoadDefaultConfig(context.Background(), config.WithSharedConfigProfile("rolecall-globex-"+accounts["globex"]))
	if err != nil {
		t.Fatal(err)
	}
	who, err := sts.NewFromConfig(cfg).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
	if err != nil || aws.ToString(who.Account) != accounts["globex"] || !strings.HasPrefix(aws.ToString(who.Arn), role("globex")) {
		t.Errorf("Go SDK identity %v (%v)", who, err)
	}

	// The customer deletes the role: the workload's AccessDenied asks for a
	// re-check, which finds the role gone.
	api.call("DELETE", "/_sandbox/roles?roleArn="+url.QueryEscape(roleARNOf(t, api, "initech", accounts["initech"])), "", nil, 200, nil)
	if _, errOut, err := awsCLI(t, "sts", "get-caller-identity", "--profile", "rolecall-initech-"+accounts["initech"], "--endpoint-url", stsURL); err == nil || !strings.Contains(errOut, "RoleCall was asked to re-check it") {
		t.Fatalf("aws with a deleted role: %v\n%s", err, errOut)
	}
	waitEvents(t, s, "Role Access Lost of initech", func(events []connection.Event) bool {
		return slices.ContainsFunc(events, func(e connection.Event) bool {
			return e.DetailType == connection.RoleAccessLost && e.AccountID == accounts["initech"]
		})
	})
	_, errOut, code := run(t, "credentials", "--tenant", "initech", "--account", accounts["initech"])
	if code != 1 || !strings.Contains(errOut, "not verified (ACCESS_LOST): ASSUME_DENIED") {
		t.Errorf("credentials of a lost connection: exit %d, %q", code, errOut)
	}
}

func roleARNOf(t *testing.T, api serveAPI, tenantID, account string) string {
	t.Helper()
	var c struct {
		RoleARN string `json:"roleArn"`
	}
	api.call("GET", "/v1/tenants/"+tenantID+"/connections/"+account+"/access", "Bearer "+api.s.OpsToken, nil, 200, &c)
	return c.RoleARN
}
