package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rolecall/rolecall/access"
	"github.com/rolecall/rolecall/internal/sandbox"
)

// Debian's AWS CLI v2 and boto3 (apt-get install -y awscli python3-boto3);
// .ci/run installs them. Other installs (pyenv, pip) are not used: the
// tests pin the clients partners' runbooks name.
const (
	debianAWS     = "/usr/bin/aws"
	debianPython3 = "/usr/bin/python3"
)

// realClients skips (or, under CI=true, fails) without Debian's awscli
// and python3-boto3.
func realClients(t *testing.T) {
	t.Helper()
	missing := ""
	if _, err := os.Stat(debianAWS); err != nil {
		missing = "awscli"
	} else if err := exec.Command(debianPython3, "-c", "import boto3").Run(); err != nil {
		missing = "python3-boto3"
	}
	if missing == "" {
		return
	}
	msg := "Debian's " + missing + " is not installed: apt-get install -y awscli python3-boto3"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// clientEnv prepares the environment real clients run in: the profiles
// written by `rolecall profiles`, the workload's base credentials in the
// shared credentials file's default profile, and this test binary as the
// rolecall command.
func clientEnv(t *testing.T, w *workloadWorld) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	creds := "[default]\naws_access_key_id = " + wlKey + "\naws_secret_access_key = " + sandbox.DefaultCallerSecret(wlKey) + "\n"
	if err := os.WriteFile(os.Getenv("AWS_SHARED_CREDENTIALS_FILE"), []byte(creds), 0o600); err != nil {
		t.Fatal(err)
	}
	// Unset, not empty: botocore takes an empty AWS_PROFILE for a profile
	// named "". (newWorkloadWorld's t.Setenv restores them afterwards.)
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL"} {
		t.Setenv(k, "") // restored after the test
		os.Unsetenv(k)
	}
	t.Setenv("HOME", w.dir)
	t.Setenv("AWS_DEFAULT_REGION", "eu-west-1")
	t.Setenv("AWS_PAGER", "")
	if _, errOut, code := run(t, "profiles", "--write", os.Getenv("AWS_CONFIG_FILE"), "--command", exe); code != 0 {
		t.Fatalf("profiles: exit %d: %s", code, errOut)
	}
	t.Setenv(underTest, "1")
}

// awsCLIIdentity is `aws sts get-caller-identity` with profile through
// the STS at stsURL: the identity the AWS CLI was given credentials of.
func awsCLIIdentity(t *testing.T, profile, stsURL string) (account, arn string) {
	t.Helper()
	out, errOut, err := awsCLI(t, "sts", "get-caller-identity", "--profile", profile, "--endpoint-url", stsURL, "--output", "json")
	if err != nil {
		t.Fatalf("aws: %v\n%s", err, errOut)
	}
	var id struct{ Account, Arn string }
	if err := json.Unmarshal([]byte(out), &id); err != nil {
		t.Fatalf("aws output %q: %v", out, err)
	}
	return id.Account, id.Arn
}

func awsCLI(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	cmd := exec.Command(debianAWS, args...)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	return out.String(), errOut.String(), err
}

// TestAWSCLIUsesTheProfiles: `aws sts get-caller-identity --profile
// rolecall-<tenant>-<account>` is the customer's account, as an assumed
// role of the customer's role.
func TestAWSCLIUsesTheProfiles(t *testing.T) {
	realClients(t)
	w := newWorkloadWorld(t)
	clientEnv(t, w)
	var id struct{ Account, Arn string }
	id.Account, id.Arn = awsCLIIdentity(t, "rolecall-acme-444455556666", w.stsURL)
	if id.Account != "444455556666" || id.Arn != "arn:aws:sts::444455556666:assumed-role/RoleCall-7c1e2a90/rolecall-cli-acme" {
		t.Errorf("identity %+v", id)
	}

	// The customer deletes the role: the CLI fails with rolecall's reason,
	// and RoleCall was asked to re-check the connection.
	w.sts.DeleteRole(wlRole("444455556666"))
	before := len(w.queue.requested())
	_, errOut, err := awsCLI(t, "sts", "get-caller-identity", "--profile", "rolecall-acme-444455556666", "--endpoint-url", w.stsURL)
	if err == nil || !strings.Contains(errOut, "denied access") {
		t.Errorf("aws with a deleted role: %v\n%s", err, errOut)
	}
	if got := w.queue.requested(); len(got) != before+1 || got[len(got)-1].Connection.AccountID != "444455556666" {
		t.Errorf("re-checks requested: %d before, %v after", before, got)
	}
}

// backendLine is one line testdata/backend.py prints: a rolecall profile
// and the identity its session has.
type backendLine struct{ Profile, Account, Arn string }

// runBackend runs testdata/backend.py, a boto3 backend with one session
// per rolecall profile, against the STS at stsURL.
func runBackend(t *testing.T, stsURL string) []backendLine {
	t.Helper()
	cmd := exec.Command(debianPython3, filepath.Join("testdata", "backend.py"), stsURL)
	var errOut strings.Builder
	cmd.Stderr = &errOut
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("backend.py: %v\n%s", err, errOut.String())
	}
	var lines []backendLine
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var line backendLine
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("backend.py line %q: %v", sc.Text(), err)
		}
		lines = append(lines, line)
	}
	return lines
}

// TestBoto3BackendWalksEveryCustomer: one backend principal, each
// customer's profile, each customer's identity.
func TestBoto3BackendWalksEveryCustomer(t *testing.T) {
	realClients(t)
	w := newWorkloadWorld(t)
	clientEnv(t, w)
	got := map[string]string{}
	for _, line := range runBackend(t, w.stsURL) {
		got[line.Profile] = line.Arn
	}
	want := map[string]string{
		"rolecall-acme-444455556666":   "arn:aws:sts::444455556666:assumed-role/RoleCall-7c1e2a90/rolecall-cli-acme",
		"rolecall-acme-555566667777":   "arn:aws:sts::555566667777:assumed-role/RoleCall-7c1e2a90/rolecall-cli-acme",
		"rolecall-globex-777788889999": "arn:aws:sts::777788889999:assumed-role/RoleCall-7c1e2a90/rolecall-cli-globex",
	}
	if len(got) != len(want) {
		t.Errorf("backend saw %v, want %v", got, want)
	}
	for p, arn := range want {
		if got[p] != arn {
			t.Errorf("%s: %q, want %q", p, got[p], arn)
		}
	}
	// The one backend principal assumed the access role once per process
	// (three credential processes) and never a customer role directly.
	for _, c := range w.sts.Callers(wlRole("444455556666")) {
		if !strings.Contains(c, ":assumed-role/rolecall-dev-access/") {
			t.Errorf("customer role assumed by %s", c)
		}
	}
}

// botocoreReads is what botocore (Debian's python3-boto3) reads from the
// AWS config file at path: each section's settings, and each
// credential_process split as botocore splits it to run it, here and on
// Windows (its own split, which knows no single quotes).
func botocoreReads(t *testing.T, path string) (sections map[string]map[string]string, words, windowsWords map[string][]string) {
	t.Helper()
	const script = `import json, sys
from botocore.configloader import raw_config_parse
from botocore.compat import compat_shell_split, _windows_shell_split
cfg = raw_config_parse(sys.argv[1])
words = {s: compat_shell_split(v["credential_process"]) for s, v in cfg.items() if "credential_process" in v}
windows = {s: _windows_shell_split(v["credential_process"]) for s, v in cfg.items() if "credential_process" in v}
print(json.dumps({"sections": cfg, "words": words, "windows": windows}))`
	out, err := exec.Command(debianPython3, "-c", script, path).CombinedOutput()
	if err != nil {
		t.Fatalf("botocore refuses the config file: %v\n%s", err, out)
	}
	var got struct {
		Sections map[string]map[string]string
		Words    map[string][]string
		Windows  map[string][]string
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	return got.Sections, got.Words, got.Windows
}

// TestBotocoreReadsTheProfilesAsWritten: botocore splits each
// credential_process into the words rolecall wrote (one of a Windows
// executable's path on Windows too), and a merge into a
// config whose headers carry comments leaves a file botocore reads, with
// the user's profile and one rolecall profile of the name.
func TestBotocoreReadsTheProfilesAsWritten(t *testing.T) {
	realClients(t)
	ref := access.Ref{TenantID: "acme", AccountID: "111122223333"}
	for _, o := range credentialProcessCases {
		s := o.section(regionalConnection{Connection: access.Connection{TenantID: ref.TenantID, AccountID: ref.AccountID}})
		path := filepath.Join(t.TempDir(), "config")
		writeTestFile(t, path, s.text())
		_, words, windows := botocoreReads(t, path)
		if !slices.Equal(words[s.header()], credentialProcessWords(o, ref)) {
			t.Errorf("botocore runs %q, want %q", words[s.header()], credentialProcessWords(o, ref))
		}
		if windowsCommand(o) && !slices.Equal(windows[s.header()], credentialProcessWords(o, ref)) {
			t.Errorf("botocore on Windows runs %q, want %q", windows[s.header()], credentialProcessWords(o, ref))
		}
	}

	path := filepath.Join(t.TempDir(), "config")
	writeTestFile(t, path, "[default]\nregion = eu-west-1\n\n[profile rolecall-acme-111122223333] ; added by hand\ncredential_process = /old/rolecall\n\n"+
		"[profile rolecall-acme-444455556666] managed by rolecall\ncredential_process = /old/rolecall\n\n"+
		"[profile prod] # production\nregion = us-east-2\n")
	if err := mergeProfiles(path, []profileSection{
		{name: "rolecall-acme-111122223333", lines: []string{"credential_process = /new/rolecall"}},
		{name: "rolecall-acme-444455556666", lines: []string{"credential_process = /new/rolecall"}},
	}); err != nil {
		t.Fatal(err)
	}
	sections, _, _ := botocoreReads(t, path)
	for _, p := range []string{"profile rolecall-acme-111122223333", "profile rolecall-acme-444455556666"} {
		if got := sections[p]["credential_process"]; got != "/new/rolecall" {
			t.Errorf("%s: credential_process %q", p, got)
		}
	}
	if got := sections["profile prod"]["region"]; got != "us-east-2" {
		t.Errorf("profile prod: region %q (sections %v)", got, sections)
	}
}

// TestBotocoreKeepsTheShortestCredentials: credentials of the shortest
// --duration are used by botocore without running the process again
// (botocore refreshes from 15 minutes before the printed Expiration).
func TestBotocoreKeepsTheShortestCredentials(t *testing.T) {
	realClients(t)
	newWorkloadWorld(t)
	out, errOut, code := run(t, "credentials", "--tenant", "acme", "--account", "444455556666", "--duration", minCredentialsDuration.String())
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	const script = `import json, sys
from botocore.credentials import RefreshableCredentials
out = json.loads(sys.argv[1])
runs = [0]
def process():
    runs[0] += 1
    return {"access_key": out["AccessKeyId"], "secret_key": out["SecretAccessKey"], "token": out["SessionToken"], "expiry_time": out["Expiration"]}
creds = RefreshableCredentials.create_from_metadata(process(), process, "custom-process")
for _ in range(5):
    creds.get_frozen_credentials()
print(runs[0] - 1)`
	res, err := exec.Command(debianPython3, "-c", script, strings.TrimSpace(out)).CombinedOutput()
	if err != nil {
		t.Fatalf("python3: %v\n%s", err, res)
	}
	if n := strings.TrimSpace(string(res)); n != "0" {
		var printed credentialProcessOutput
		_ = json.Unmarshal([]byte(out), &printed)
		t.Errorf("botocore ran the credential process %s more times for 5 uses of credentials expiring at %s", n, printed.Expiration)
	}
}

// TestBotocoreOnWindowsReadsWindowsWords: a credential_process written on
// Windows (windowsWord) is split by botocore's Windows split into the
// words written, a UNC path and one with a space included.
func TestBotocoreOnWindowsReadsWindowsWords(t *testing.T) {
	realClients(t)
	args := []string{`C:\Program Files\RoleCall\rolecall.exe`, "credentials", "--tenant", "acme", "--api", `\\fileserver\tools`, "--account", "111122223333"}
	quoted := make([]string, len(args))
	for i, a := range args {
		quoted[i] = windowsWord(a)
	}
	path := filepath.Join(t.TempDir(), "config")
	writeTestFile(t, path, "[profile w]\ncredential_process = "+strings.Join(quoted, " ")+"\n")
	_, _, windows := botocoreReads(t, path)
	if got := windows["profile w"]; !slices.Equal(got, args) {
		t.Errorf("botocore on Windows runs %q, want %q", got, args)
	}
}
