package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/rolecall/rolecall/internal/check"
	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/rolesetup"
	"github.com/rolecall/rolecall/internal/sandbox"
)

const (
	exampleFile     = "../../infra/sandbox-roles.example.json"
	exampleRole     = "arn:aws:iam::210987654321:role/RoleCallAccess"
	exampleLoose    = "arn:aws:iam::210987654321:role/NoExternalId"
	exampleExtID    = "rc-EXAMPLEEXAMPLEEXAMPLEEXAMPLE234"
	examplePartner  = "arn:aws:iam::111122223333:role/RoleCallVerifier"
	examplePartnerK = "AKIAVERIFYTESTPARTNER"
)

// runCLI runs rolecall in-process with args and returns its output and exit
// status as main would set it.
func runCLI(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	root := newRoot()
	var out, errb bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	var ec exitCode
	switch {
	case err == nil:
		code = 0
	case asExit(err, &ec):
		code = int(ec)
	default:
		code = 2 // main prints the error and exits 2
		errb.WriteString(err.Error())
	}
	return out.String(), errb.String(), code
}

func TestVerifySandbox(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		code     int
		contains []string
	}{
		{"verified", []string{"--role-arn", exampleRole, "--external-id", exampleExtID}, 0, []string{
			"✓ " + verifyStepSyntax,
			"✓ " + check.StepAssume,
			"✓ " + check.StepAccount,
			"210987654321",
			"✓ " + check.StepWithoutExtID,
			"VERIFIED: ",
			"rc-EXAM…",
		}},
		{"external ID not enforced", []string{"--role-arn", exampleLoose, "--external-id", exampleExtID}, 1, []string{
			"✓ " + check.StepAssume,
			"✗ " + check.StepWithoutExtID,
			"NOT VERIFIED (EXTERNAL_ID_NOT_ENFORCED)",
			"Hint: " + connection.ReasonFor(connection.ResultNotEnforced, "").Hint,
		}},
		{"wrong external ID", []string{"--role-arn", exampleRole, "--external-id", "rc-SOMEONEELSE"}, 1, []string{
			"✗ " + check.StepAssume,
			"AccessDenied",
			"- " + check.StepAccount,
			"not run",
			"NOT VERIFIED (ASSUME_DENIED)",
			"Hint: " + connection.ReasonFor(connection.ResultDenied, "").Hint,
		}},
		{"unknown role", []string{"--role-arn", "arn:aws:iam::210987654321:role/Missing", "--external-id", exampleExtID}, 1, []string{
			"NOT VERIFIED (ASSUME_DENIED)",
		}},
		{"not a role ARN", []string{"--role-arn", "arn:aws:iam::210987654321:user/bob", "--external-id", exampleExtID}, 1, []string{
			"✗ " + verifyStepSyntax,
			"NOT_A_ROLE",
			"- " + check.StepAssume,
		}},
		{"the partner's own account", []string{"--role-arn", "arn:aws:iam::111122223333:role/RoleCallAccess", "--external-id", exampleExtID}, 1, []string{
			"NOT VERIFIED (OWN_ACCOUNT)",
		}},
		{"region disabled is not modelled in the file: works in any region", []string{"--role-arn", exampleRole, "--external-id", exampleExtID, "--region", "eu-central-2"}, 0, []string{
			"(sandbox, eu-central-2)",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"verify", "--sandbox-file", exampleFile}, tt.args...)
			stdout, stderr, code := runCLI(t, args...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.code, stdout, stderr)
			}
			for _, want := range tt.contains {
				if !strings.Contains(stdout, want) {
					t.Errorf("output lacks %q:\n%s", want, stdout)
				}
			}
			if strings.Contains(stdout+stderr, exampleExtID) {
				t.Errorf("output shows the full external ID:\n%s", stdout)
			}
		})
	}
}

func TestVerifyJSON(t *testing.T) {
	tests := []struct {
		name     string
		role     string
		code     int
		verified bool
		result   string
		oks      []bool
		skipped  []bool
	}{
		{"verified", exampleRole, 0, true, "OK", []bool{true, true, true, true}, []bool{false, false, false, false}},
		{"not enforced", exampleLoose, 1, false, "EXTERNAL_ID_NOT_ENFORCED", []bool{true, true, true, false}, []bool{false, false, false, false}},
		{"invalid ARN", "arn:aws:iam::2109:role/x", 1, false, "INVALID_ACCOUNT", []bool{false, false, false, false}, []bool{false, true, true, true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, code := runCLI(t, "verify", "--json", "--sandbox-file", exampleFile, "--role-arn", tt.role, "--external-id", exampleExtID)
			if code != tt.code {
				t.Fatalf("exit %d, want %d: %s %s", code, tt.code, stdout, stderr)
			}
			var rep verifyReport
			dec := json.NewDecoder(strings.NewReader(stdout))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&rep); err != nil {
				t.Fatalf("not the JSON report: %v\n%s", err, stdout)
			}
			if rep.Verified != tt.verified || rep.Result != tt.result || rep.Mode != "sandbox" || rep.Reason.Code == "" || rep.Reason.Message == "" {
				t.Errorf("report = %+v", rep)
			}
			if !tt.verified && rep.Reason.Hint == "" {
				t.Errorf("a failed report needs a hint: %+v", rep.Reason)
			}
			var oks, skipped []bool
			var names []string
			for _, s := range rep.Steps {
				oks, skipped, names = append(oks, s.OK), append(skipped, s.Skipped), append(names, s.Name)
			}
			if !reflect.DeepEqual(names, []string{verifyStepSyntax, check.StepAssume, check.StepAccount, check.StepWithoutExtID}) {
				t.Errorf("steps %v", names)
			}
			if !reflect.DeepEqual(oks, tt.oks) || !reflect.DeepEqual(skipped, tt.skipped) {
				t.Errorf("ok %v skipped %v, want %v %v", oks, skipped, tt.oks, tt.skipped)
			}
			if tt.verified && (rep.Steps[1].LatencyMs <= 0 || rep.Steps[3].LatencyMs <= 0) {
				t.Errorf("STS steps without latency: %+v", rep.Steps)
			}
		})
	}
}

func TestVerifyUsageErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	unsupported := write("unsupported.json", `{"callerPrincipalArn":"`+examplePartner+`","roles":{"`+exampleRole+`":{"Version":"2012-10-17","Statement":[{"Effect":"Allow","NotPrincipal":{"AWS":"123456789012"},"Action":"sts:AssumeRole"}]}}}`)
	unknownField := write("unknown.json", `{"callerPrincipalArn":"`+examplePartner+`","role":{}}`)
	noCaller := write("nocaller.json", `{"roles":{}}`)
	badCaller := write("badcaller.json", `{"callerPrincipalArn":"bob","roles":{}}`)

	ok := []string{"--role-arn", exampleRole, "--external-id", exampleExtID}
	tests := []struct {
		name  string
		args  []string
		usage bool
		msg   string
	}{
		{"unknown flag", append([]string{"--bogus"}, ok...), true, "unknown flag: --bogus"},
		{"missing role ARN", []string{"--external-id", exampleExtID}, true, "--role-arn is required"},
		{"missing external ID", []string{"--role-arn", exampleRole}, true, "--external-id is required"},
		{"external ID too short", []string{"--role-arn", exampleRole, "--external-id", "x"}, true, "--external-id"},
		{"external ID with spaces", []string{"--role-arn", exampleRole, "--external-id", "a b c"}, true, "--external-id"},
		{"positional argument", append([]string{exampleRole}, ok...), true, "unexpected argument"},
		{"bad duration", append([]string{"--timeout", "soon"}, ok...), true, "--timeout"},
		{"flag without value", []string{"--role-arn"}, true, "needs an argument"},
		{"bad partner account", append([]string{"--partner-account", "123"}, ok...), true, "--partner-account"},
		{"missing sandbox file", append([]string{"--sandbox-file", filepath.Join(dir, "nope.json")}, ok...), false, "no such file"},
		{"unsupported trust policy", append([]string{"--sandbox-file", unsupported}, ok...), false, "unsupported trust policy grammar"},
		{"unknown field in sandbox file", append([]string{"--sandbox-file", unknownField}, ok...), false, "unknown field"},
		{"sandbox file without caller", append([]string{"--sandbox-file", noCaller}, ok...), false, "callerPrincipalArn is required"},
		{"sandbox file with a bad caller", append([]string{"--sandbox-file", badCaller}, ok...), false, "caller principal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, code := runCLI(t, append([]string{"verify"}, tt.args...)...)
			if code != 2 {
				t.Fatalf("exit %d, want 2\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
			}
			if !strings.Contains(stderr, tt.msg) {
				t.Errorf("stderr lacks %q:\n%s", tt.msg, stderr)
			}
			if hasUsage := strings.Contains(stderr, "Usage:"); hasUsage != tt.usage {
				t.Errorf("usage shown %v, want %v:\n%s", hasUsage, tt.usage, stderr)
			}
			if stdout != "" {
				t.Errorf("nothing should reach stdout on a usage error:\n%s", stdout)
			}
		})
	}
}

// isolateAWS points the default credential chain at nothing: no files, no
// profile, no instance metadata.
func isolateAWS(t *testing.T) {
	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_CONFIG_FILE":                        filepath.Join(dir, "config"),
		"AWS_SHARED_CREDENTIALS_FILE":            filepath.Join(dir, "credentials"),
		"AWS_EC2_METADATA_DISABLED":              "true",
		"AWS_PROFILE":                            "",
		"AWS_ACCESS_KEY_ID":                      "",
		"AWS_SECRET_ACCESS_KEY":                  "",
		"AWS_SESSION_TOKEN":                      "",
		"AWS_WEB_IDENTITY_TOKEN_FILE":            "",
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "",
		"AWS_CONTAINER_CREDENTIALS_FULL_URI":     "",
		"AWS_ENDPOINT_URL":                       "",
		"AWS_ENDPOINT_URL_STS":                   "",
		"AWS_REGION":                             "",
		"AWS_DEFAULT_REGION":                     "",
	} {
		t.Setenv(k, v)
	}
}

func TestVerifyAWSWithoutCredentials(t *testing.T) {
	isolateAWS(t)
	stdout, stderr, code := runCLI(t, "verify", "--role-arn", exampleRole, "--external-id", exampleExtID)
	if code != 1 || !strings.Contains(stderr, "no usable AWS credentials") || stdout != "" {
		t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
}

// TestVerifyAWSChain runs verify in AWS mode, through the default credential
// chain and the real SDK, against a sandbox STS served over HTTP (the SDK
// takes its endpoint from AWS_ENDPOINT_URL_STS).
func TestVerifyAWSChain(t *testing.T) {
	isolateAWS(t)
	s := sandbox.New(sandbox.Config{Callers: map[string]string{examplePartnerK: examplePartner}})
	doc, err := rolesetup.TrustPolicy(exampleExtID, examplePartner)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutRole(exampleRole, doc); err != nil {
		t.Fatal(err)
	}
	s.SetRegionDisabled("210987654321", "ap-east-1", true)
	srv := httptest.NewServer(s)
	defer srv.Close()
	t.Setenv("AWS_ACCESS_KEY_ID", examplePartnerK)
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test-secret")
	t.Setenv("AWS_ENDPOINT_URL_STS", srv.URL)
	t.Setenv("AWS_REGION", "eu-west-1")

	stdout, stderr, code := runCLI(t, "verify", "--role-arn", exampleRole, "--external-id", exampleExtID)
	if code != 0 || !strings.Contains(stdout, "(aws, eu-west-1)") || !strings.Contains(stdout, "VERIFIED: ") {
		t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	stdout, _, code = runCLI(t, "verify", "--role-arn", exampleRole, "--external-id", exampleExtID, "--region", "ap-east-1")
	if code != 1 || !strings.Contains(stdout, "NOT VERIFIED (REGION_DISABLED)") {
		t.Errorf("region disabled: exit %d\n%s", code, stdout)
	}
	if got := s.Calls(); got < 3 {
		t.Errorf("the sandbox saw %d calls; verify did not go through it", got)
	}

	// Credentials the STS refuses are the partner's problem, reported as
	// such, never as the customer's role.
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIAUNKNOWNKEY")
	stdout, _, code = runCLI(t, "verify", "--role-arn", exampleRole, "--external-id", exampleExtID, "--timeout", "2s")
	if code != 1 || !strings.Contains(stdout, "NOT VERIFIED (TRANSIENT)") || !strings.Contains(stdout, "InvalidClientTokenId") || !strings.Contains(stdout, "credentials were refused") {
		t.Errorf("unknown key: exit %d\n%s", code, stdout)
	}
}

// TestExampleSandboxFile keeps infra/sandbox-roles.example.json in step with
// the template: its enforced role has the trust policy customer-role.yaml
// creates for the example's values.
func TestExampleSandboxFile(t *testing.T) {
	b, err := os.ReadFile(exampleFile)
	if err != nil {
		t.Fatal(err)
	}
	var f verifySandboxFile
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	if f.CallerPrincipalARN != examplePartner {
		t.Errorf("caller %s", f.CallerPrincipalARN)
	}
	want, err := rolesetup.TrustPolicy(exampleExtID, examplePartner)
	if err != nil {
		t.Fatal(err)
	}
	var got, wantDoc any
	_ = json.Unmarshal(f.Roles[exampleRole], &got)
	_ = json.Unmarshal(want, &wantDoc)
	if !reflect.DeepEqual(got, wantDoc) {
		t.Errorf("example role's trust policy is not the template's:\n%s\nwant\n%s", f.Roles[exampleRole], want)
	}
}
