package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/probe"
	"github.com/rolecall/rolecall/internal/rolearn"
	"github.com/rolecall/rolecall/internal/rolesetup"
	"github.com/rolecall/rolecall/internal/sandbox"
	"github.com/rolecall/rolecall/internal/testkit/awsfake"
	"github.com/rolecall/rolecall/internal/testkit/golden"
)

const (
	exampleFile     = "../../infra/sandbox-roles.example.json"
	exampleRole     = "arn:aws:iam::210987654321:role/RoleCallAccess"
	exampleLoose    = "arn:aws:iam::210987654321:role/NoExternalId"
	exampleExtID    = "rc-EXAMPLEEXAMPLEEXAMPLEEXAMPLE234"
	examplePartner  = "arn:aws:iam::111122223333:role/rolecall-prod-access"
	examplePartnerK = "AKIAVERIFYTESTPARTNER"
)

// runCLIExits runs the CLI and fails the test unless it exits with want.
func runCLIExits(t *testing.T, want int, args ...string) (stdout, stderr string) {
	t.Helper()
	stdout, stderr, code := runCLI(t, args...)
	if code != want {
		t.Fatalf("%v: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", args, code, want, stdout, stderr)
	}
	return stdout, stderr
}

// runCLI runs rolecall in-process with args and returns its output and exit
// status as main would set it.
func runCLI(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return runCLIWithInput(t, strings.NewReader(""), args...)
}

// runCLIWithInput is runCLI with stdin reading from in.
func runCLIWithInput(t *testing.T, in io.Reader, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	root := newRoot()
	var out, errb bytes.Buffer
	root.SetIn(in)
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

// Roles of the rotation/wildcard sandbox file (see writeVerifySandbox).
const (
	exampleWildcard = "arn:aws:iam::210987654321:role/AnyExternalId"
	examplePrevOnly = "arn:aws:iam::210987654321:role/PreviousOnly"
	examplePrevID   = "rc-PREVIOUSPREVIOUSPREVIOUSPREV234"
	// exampleLegacy trusts the partner with StringLike "acme-*": any
	// external ID of the shape of the partner's own acme-123.
	exampleLegacy = "arn:aws:iam::210987654321:role/AcmeWildcard"
)

// writeVerifySandbox writes a sandbox file with the example's roles plus a
// role that accepts any "rc-" external ID and one that still trusts only
// the previous external ID.
func writeVerifySandbox(t *testing.T) string {
	t.Helper()
	f := golden.Load[verifySandboxFile](t, exampleFile)
	policy := func(cond string) json.RawMessage {
		return json.RawMessage(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"` + examplePartner +
			`"},"Action":"sts:AssumeRole","Condition":` + cond + `}]}`)
	}
	f.Roles[exampleWildcard] = policy(`{"StringLike":{"sts:ExternalId":"rc-*"}}`)
	f.Roles[examplePrevOnly] = policy(`{"StringEquals":{"sts:ExternalId":"` + examplePrevID + `"}}`)
	f.Roles[exampleLegacy] = policy(`{"StringLike":{"sts:ExternalId":"acme-*"}}`)
	out, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "roles.json")
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestVerifySandbox(t *testing.T) {
	file := writeVerifySandbox(t)
	tests := []struct {
		name     string
		args     []string
		code     int
		contains []string
	}{
		{"verified", []string{"--role-arn", exampleRole, "--external-id", exampleExtID}, 0, []string{
			"✓ " + verifyStepSyntax,
			"✓ " + probe.StepAssume,
			"✓ " + probe.StepAccount,
			"210987654321",
			"✓ " + probe.StepWithoutExtID,
			"✓ " + probe.StepDecoyExtID,
			"VERIFIED: ",
			"rc-EXAM…",
		}},
		{"no external-ID condition", []string{"--role-arn", exampleLoose, "--external-id", exampleExtID}, 1, []string{
			"✓ " + probe.StepAssume,
			"✗ " + probe.StepWithoutExtID,
			"EXTERNAL_ID_NOT_ENFORCED: the role was assumed without an external ID",
			"✗ " + probe.StepDecoyExtID,
			"NOT VERIFIED (EXTERNAL_ID_NOT_ENFORCED)",
			"Hint: " + connection.ReasonFor(connection.ResultNotEnforced, connection.NotEnforcedWithoutExternalID).Hint,
		}},
		{"wildcard external-ID condition", []string{"--role-arn", exampleWildcard, "--external-id", exampleExtID}, 1, []string{
			"✓ " + probe.StepAssume,
			"✓ " + probe.StepWithoutExtID,
			"✗ " + probe.StepDecoyExtID,
			"EXTERNAL_ID_NOT_ENFORCED: the role was assumed with a random external ID",
			"NOT VERIFIED (EXTERNAL_ID_NOT_ENFORCED)",
			"Hint: " + connection.ReasonFor(connection.ResultNotEnforced, connection.NotEnforcedAnyExternalID).Hint,
			`StringLike "*" or "rc-*"`,
		}},
		{"wildcard of the external ID's own shape", []string{"--role-arn", exampleLegacy, "--external-id", "acme-123"}, 1, []string{
			"✓ " + probe.StepAssume,
			"✓ " + probe.StepWithoutExtID,
			"✗ " + probe.StepDecoyExtID,
			"NOT VERIFIED (EXTERNAL_ID_NOT_ENFORCED)",
		}},
		{"wrong external ID", []string{"--role-arn", exampleRole, "--external-id", "rc-SOMEONEELSE"}, 1, []string{
			"✗ " + probe.StepAssume,
			"AccessDenied",
			"- " + probe.StepAccount,
			"not run",
			"✓ " + probe.StepWithoutExtID,
			"✓ " + probe.StepDecoyExtID,
			"NOT VERIFIED (ASSUME_DENIED)",
			"Hint: " + connection.ReasonFor(connection.ResultDenied, "").Hint,
		}},
		{"rotation: only the previous external ID works", []string{"--role-arn", examplePrevOnly, "--external-id", exampleExtID, "--previous-external-id", examplePrevID}, 0, []string{
			"previous rc-PREV…",
			"✗ " + probe.StepAssume,
			"✓ " + probe.StepPrevious,
			"✓ " + probe.StepAccount,
			"✓ " + probe.StepDecoyExtID,
			"VERIFIED: RoleCall assumed the role only with the previous external ID",
			"Hint: The external ID was rotated",
		}},
		{"rotation: the current external ID works", []string{"--role-arn", exampleRole, "--external-id", exampleExtID, "--previous-external-id", examplePrevID}, 0, []string{
			"✓ " + probe.StepAssume,
			"VERIFIED: RoleCall assumed the role with your external ID",
		}},
		{"rotation: neither works", []string{"--role-arn", exampleRole, "--external-id", "rc-SOMEONEELSE", "--previous-external-id", examplePrevID}, 1, []string{
			"✗ " + probe.StepAssume,
			"✗ " + probe.StepPrevious,
			"NOT VERIFIED (ASSUME_DENIED)",
		}},
		{"unknown role", []string{"--role-arn", "arn:aws:iam::210987654321:role/Missing", "--external-id", exampleExtID}, 1, []string{
			"NOT VERIFIED (ASSUME_DENIED)",
		}},
		{"not a role ARN", []string{"--role-arn", "arn:aws:iam::210987654321:user/bob", "--external-id", exampleExtID}, 1, []string{
			"✗ " + verifyStepSyntax,
			"NOT_A_ROLE",
			"- " + probe.StepAssume,
			"- " + probe.StepDecoyExtID,
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
			args := append([]string{"verify", "--sandbox-file", file}, tt.args...)
			stdout, stderr := runCLIExits(t, tt.code, args...)
			for _, want := range tt.contains {
				if !strings.Contains(stdout, want) {
					t.Errorf("output lacks %q:\n%s", want, stdout)
				}
			}
			if !strings.Contains(strings.Join(tt.args, " "), "--previous-external-id") && strings.Contains(stdout, probe.StepPrevious) {
				t.Errorf("a step for the previous external ID without one:\n%s", stdout)
			}
			for _, id := range []string{exampleExtID, examplePrevID} {
				if strings.Contains(stdout+stderr, id) {
					t.Errorf("output shows the full external ID %s:\n%s", id, stdout)
				}
			}
		})
	}
}

// TestVerifyMasksShortExternalIDs: a short external ID given to verify
// shows in its report, text or JSON, as at most a quarter of its
// characters, and no more of it anywhere in the output.
func TestVerifyMasksShortExternalIDs(t *testing.T) {
	file := writeVerifySandbox(t)
	tests := []struct {
		name     string
		id, prev string
		json     bool
		want     []string
		// notShown are prefixes one character longer than the mask, each
		// with a character base32 lacks so no random decoy can show it.
		notShown []string
	}{
		{"8 and 12 characters", "QZ8xk2Lm", "WV7yj3NpRt5u", false,
			[]string{"with external ID QZ…, previous WV7… "}, []string{"QZ8", "WV7y"}},
		{"8 characters in JSON", "QZ8xk2Lm", "", true,
			[]string{`"externalId": "QZ…"`}, []string{"QZ8"}},
		{"7 characters", "q8xk2L0", "", false,
			[]string{"with external ID *** "}, []string{"q8"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := []string{"verify", "--sandbox-file", file, "--role-arn", exampleRole, "--external-id", tt.id}
			if tt.prev != "" {
				args = append(args, "--previous-external-id", tt.prev)
			}
			if tt.json {
				args = append(args, "--json")
			}
			stdout, stderr, code := runCLI(t, args...)
			if code != 1 {
				t.Fatalf("exit %d, want 1 (denied)\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(stdout, w) {
					t.Errorf("output lacks %q:\n%s", w, stdout)
				}
			}
			for _, p := range tt.notShown {
				if strings.Contains(stdout+stderr, p) {
					t.Errorf("output shows %q, more of the external ID than its mask:\n%s%s", p, stdout, stderr)
				}
			}
		})
	}
}

func TestVerifyJSON(t *testing.T) {
	file := writeVerifySandbox(t)
	five := []string{verifyStepSyntax, probe.StepAssume, probe.StepAccount, probe.StepWithoutExtID, probe.StepDecoyExtID}
	six := []string{verifyStepSyntax, probe.StepAssume, probe.StepPrevious, probe.StepAccount, probe.StepWithoutExtID, probe.StepDecoyExtID}
	tests := []struct {
		name       string
		args       []string
		code       int
		verified   bool
		current    bool
		result     string
		names      []string
		oks        []bool
		skipped    []bool
		hinted     []string // steps carrying the reason's hint
		stsLatency []int    // indexes of steps that called STS
	}{
		{"verified", []string{"--role-arn", exampleRole}, 0, true, true, "OK", five,
			[]bool{true, true, true, true, true}, []bool{false, false, false, false, false}, nil, []int{1, 3, 4}},
		{"not enforced", []string{"--role-arn", exampleLoose}, 1, false, true, "EXTERNAL_ID_NOT_ENFORCED", five,
			[]bool{true, true, true, false, false}, []bool{false, false, false, false, false}, []string{probe.StepWithoutExtID}, []int{1, 3, 4}},
		{"any external ID", []string{"--role-arn", exampleWildcard}, 1, false, true, "EXTERNAL_ID_NOT_ENFORCED", five,
			[]bool{true, true, true, true, false}, []bool{false, false, false, false, false}, []string{probe.StepDecoyExtID}, []int{1, 3, 4}},
		{"denied", []string{"--role-arn", examplePrevOnly}, 1, false, false, "ASSUME_DENIED", five,
			[]bool{true, false, false, true, true}, []bool{false, false, true, false, false}, []string{probe.StepAssume}, []int{1, 3, 4}},
		{"previous external ID", []string{"--role-arn", examplePrevOnly, "--previous-external-id", examplePrevID}, 0, true, false, "OK", six,
			[]bool{true, false, true, true, true, true}, []bool{false, false, false, false, false, false}, nil, []int{1, 2, 4, 5}},
		{"invalid ARN", []string{"--role-arn", "arn:aws:iam::2109:role/x"}, 1, false, false, "INVALID_ACCOUNT", five,
			[]bool{false, false, false, false, false}, []bool{false, true, true, true, true}, []string{verifyStepSyntax}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"verify", "--json", "--sandbox-file", file, "--external-id", exampleExtID}, tt.args...)
			stdout, _ := runCLIExits(t, tt.code, args...)
			var rep verifyReport
			dec := json.NewDecoder(strings.NewReader(stdout))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&rep); err != nil {
				t.Fatalf("not the JSON report: %v\n%s", err, stdout)
			}
			if rep.Verified != tt.verified || rep.ExternalIDCurrent != tt.current || rep.Result != tt.result || rep.Mode != "sandbox" || rep.Reason.Code == "" || rep.Reason.Message == "" {
				t.Errorf("report = %+v", rep)
			}
			if !tt.verified && rep.Reason.Hint == "" {
				t.Errorf("a failed report needs a hint: %+v", rep.Reason)
			}
			var oks, skipped []bool
			var names, hinted []string
			for _, s := range rep.Steps {
				oks, skipped, names = append(oks, s.OK), append(skipped, s.Skipped), append(names, s.Name)
				if s.Hint != "" {
					hinted = append(hinted, s.Name)
					if s.Hint != rep.Reason.Hint {
						t.Errorf("step %q hint %q, want the reason's %q", s.Name, s.Hint, rep.Reason.Hint)
					}
				}
			}
			if !reflect.DeepEqual(names, tt.names) {
				t.Errorf("steps %v, want %v", names, tt.names)
			}
			if !reflect.DeepEqual(oks, tt.oks) || !reflect.DeepEqual(skipped, tt.skipped) {
				t.Errorf("ok %v skipped %v, want %v %v", oks, skipped, tt.oks, tt.skipped)
			}
			if !reflect.DeepEqual(hinted, tt.hinted) {
				t.Errorf("hints on %v, want %v", hinted, tt.hinted)
			}
			for _, i := range tt.stsLatency {
				if rep.Steps[i].LatencyMs <= 0 {
					t.Errorf("STS step %q without latency: %+v", rep.Steps[i].Name, rep.Steps[i])
				}
			}
			for i, s := range rep.Steps {
				if !s.OK && !s.Skipped && s.Code == "" {
					t.Errorf("failed step %d without a code: %+v", i, s)
				}
			}
			if strings.Contains(stdout, exampleExtID) || strings.Contains(stdout, examplePrevID) {
				t.Errorf("JSON shows a full external ID:\n%s", stdout)
			}
		})
	}
}

func TestVerifyUsageErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		writeTestFile(t, p, content)
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
		{"previous external ID too short", append([]string{"--previous-external-id", "x"}, ok...), true, "--previous-external-id"},
		{"previous external ID equal to the current one", append([]string{"--previous-external-id", exampleExtID}, ok...), true, "must differ from the current one"},
		{"positional argument", append([]string{exampleRole}, ok...), true, "unexpected argument"},
		{"bad duration", append([]string{"--timeout", "soon"}, ok...), true, "--timeout"},
		{"flag without value", []string{"--role-arn"}, true, "needs an argument"},
		{"bad partner account", append([]string{"--partner-account", "123"}, ok...), true, "--partner-account"},
		{"access role that is a user", append([]string{"--access-role-arn", "arn:aws:iam::111122223333:user/bob"}, ok...), true, "--access-role-arn"},
		{"access role that is no ARN", append([]string{"--access-role-arn", "rolecall-prod-access"}, ok...), true, "is not a role ARN"},
		{"access role with a sandbox file", append([]string{"--access-role-arn", examplePartner, "--sandbox-file", exampleFile}, ok...), true, "callerPrincipalArn"},
		{"missing sandbox file", append([]string{"--sandbox-file", filepath.Join(dir, "nope.json")}, ok...), false, "no such file"},
		{"unsupported trust policy", append([]string{"--sandbox-file", unsupported}, ok...), false, "unsupported trust policy grammar"},
		{"unknown field in sandbox file", append([]string{"--sandbox-file", unknownField}, ok...), false, "unknown field"},
		{"sandbox file without caller", append([]string{"--sandbox-file", noCaller}, ok...), false, "callerPrincipalArn is required"},
		{"sandbox file with a bad caller", append([]string{"--sandbox-file", badCaller}, ok...), false, "caller principal"},
		{"sandbox Region of another partition", append([]string{"--sandbox-file", exampleFile, "--region", "cn-north-1"}, ok...), false, "not a Region of the caller's partition aws"},
		{"sandbox Region that is no Region", append([]string{"--sandbox-file", exampleFile, "--region", "nowhere"}, ok...), false, "not a Region"},
		{"Region of another partition than the access role's", append([]string{"--access-role-arn", "arn:aws-cn:iam::111122223333:role/rolecall-prod-access", "--region", "eu-west-1"}, ok...), true, "not a Region of the access role's partition aws-cn"},
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
	t.Setenv("AWS_SECRET_ACCESS_KEY", sandbox.DefaultCallerSecret(examplePartnerK))
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
	f := golden.Load[verifySandboxFile](t, exampleFile)
	// A deployment's customer roles trust its access role
	// (rolecall-<stage>-access in template.yaml), which is who assumes them.
	if f.CallerPrincipalARN != examplePartner {
		t.Errorf("caller %s, want the access role %s", f.CallerPrincipalARN, examplePartner)
	}
	if p, err := rolearn.ParsePrincipal(f.CallerPrincipalARN); err != nil || p.Kind != rolearn.KindRole ||
		!strings.HasPrefix(p.Name, "rolecall-") || !strings.HasSuffix(p.Name, "-access") {
		t.Errorf("caller %s is not a deployment's access role (rolecall-<stage>-access)", f.CallerPrincipalARN)
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

// TestVerifyThroughTheAccessRole runs verify in AWS mode against a chaining
// STS where, as in a deployment, the customer role trusts only the partner
// access role and the access role trusts the caller's credentials: with
// --access-role-arn verify assumes the access role first and checks the
// customer role from its session, as the verify function does; without it
// the credentials are denied, and an access role that refuses them is
// reported as the partner's problem.
func TestVerifyThroughTheAccessRole(t *testing.T) {
	const (
		key        = "AKIAVERIFYTESTCHAIN0"
		workload   = "arn:aws:iam::111122223333:role/partner-workload"
		accessRole = "arn:aws:iam::111122223333:role/rolecall-prod-access"
		other      = "arn:aws:iam::111122223333:role/rolecall-dev-access"
	)
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout []string // each must appear
		stderr string
		// Who assumed the customer role and the access role (roles of sessions).
		customerBy, accessBy []string
	}{
		{name: "through the access role", args: []string{"--access-role-arn", accessRole}, code: 0,
			stdout:     []string{"(aws, eu-west-1, through " + accessRole + ")", "VERIFIED: ", "✓ " + probe.StepWithoutExtID, "✓ " + probe.StepDecoyExtID},
			customerBy: []string{accessRole}, accessBy: []string{workload, workload}},
		{name: "as the credentials", code: 1,
			stdout: []string{"NOT VERIFIED (" + string(connection.ResultDenied) + ")"}},
		{name: "an access role that refuses the credentials", args: []string{"--access-role-arn", other}, code: 1,
			stderr: "cannot assume the access role " + other},
		{name: "the access role's account is the partner's", args: []string{"--access-role-arn", accessRole, "--role-arn", "arn:aws:iam::111122223333:role/Own"}, code: 1,
			stdout: []string{"NOT VERIFIED (" + rolearn.CodeOwnAccount + ")"}, accessBy: []string{workload}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			isolateAWS(t)
			fake := awsfake.NewChainSTS()
			fake.AddPrincipal(key, workload)
			fake.AddRole(accessRole, workload, "")
			fake.AddRole(other, "arn:aws:iam::111122223333:role/someone-else", "")
			fake.AddRole(exampleRole, accessRole, exampleExtID)
			srv := httptest.NewServer(fake)
			t.Cleanup(srv.Close)
			t.Setenv("AWS_ACCESS_KEY_ID", key)
			t.Setenv("AWS_SECRET_ACCESS_KEY", sandbox.DefaultCallerSecret(key))
			t.Setenv("AWS_ENDPOINT_URL_STS", srv.URL)
			t.Setenv("AWS_REGION", "eu-west-1")

			args := append([]string{"verify", "--role-arn", exampleRole, "--external-id", exampleExtID, "--timeout", "5s"}, tt.args...)
			stdout, stderr := runCLIExits(t, tt.code, args...)
			for _, want := range tt.stdout {
				if !strings.Contains(stdout, want) {
					t.Errorf("stdout lacks %q:\n%s", want, stdout)
				}
			}
			if tt.stderr != "" && !strings.Contains(stderr, tt.stderr) {
				t.Errorf("stderr lacks %q:\n%s", tt.stderr, stderr)
			}
			if got := fake.CallerRoles(exampleRole); !slices.Equal(got, tt.customerBy) {
				t.Errorf("the customer role was assumed by %v, want %v", got, tt.customerBy)
			}
			if got := fake.CallerRoles(accessRole); !slices.Equal(got, tt.accessBy) {
				t.Errorf("the access role was assumed by %v, want %v", got, tt.accessBy)
			}
		})
	}
}

// A refusal of the access role names the role and keeps the cause for
// errors.Is.
func TestVerifyAccessRoleError(t *testing.T) {
	cause := errors.New("AccessDenied")
	err := error(&verifyAccessRoleError{role: "arn:aws:iam::111122223333:role/rolecall-prod-access", err: cause})
	if !errors.Is(err, cause) || err.Error() != "cannot assume the access role arn:aws:iam::111122223333:role/rolecall-prod-access: AccessDenied" {
		t.Errorf("error %q does not name the role and wrap its cause", err)
	}
}

// Without --region, a sandbox file's caller of another partition than aws
// is verified in its partition's default Region, as STS there would take
// its credentials; the report names that Region.
func TestVerifySandboxFileOfAnotherPartition(t *testing.T) {
	b, err := os.ReadFile(exampleFile)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "cn.json")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(string(b), "arn:aws:", "arn:aws-cn:")), 0o600); err != nil {
		t.Fatal(err)
	}
	role := strings.Replace(exampleRole, "arn:aws:", "arn:aws-cn:", 1)
	stdout, stderr, code := runCLI(t, "verify", "--json", "--sandbox-file", path, "--role-arn", role, "--external-id", exampleExtID)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	var rep verifyReport
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil || rep.Region != "cn-north-1" {
		t.Errorf("report region %q (%v), want cn-north-1:\n%s", rep.Region, err, stdout)
	}
}

// In another partition than aws, verify checks in that partition's default
// Region when none is configured: the access role's, else the customer
// role's (us-east-1 would name another partition's STS, and the role would
// be WRONG_PARTITION). A configured Region of another partition than the
// access role's is refused, where STS would refuse the access role's
// session.
func TestVerifyInAnotherPartition(t *testing.T) {
	const (
		key        = "AKIAVERIFYTESTCHAIN0"
		workload   = "arn:aws-cn:iam::111122223333:role/partner-workload"
		accessRole = "arn:aws-cn:iam::111122223333:role/rolecall-prod-access"
		role       = "arn:aws-cn:iam::210987654321:role/RoleCallAccess"
		direct     = "arn:aws-cn:iam::210987654321:role/TrustsTheWorkload"
	)
	tests := []struct {
		name, region string
		args         []string
		code         int
		want         string // in stdout, or stderr on exit 2
	}{
		{name: "through the access role, no Region configured", args: []string{"--role-arn", role, "--access-role-arn", accessRole}, want: `"region": "cn-north-1"`},
		{name: "as the credentials, no Region configured", args: []string{"--role-arn", direct}, want: `"region": "cn-north-1"`},
		{name: "a Region of aws configured", region: "eu-west-1", args: []string{"--role-arn", role, "--access-role-arn", accessRole}, code: 2,
			want: `Region "eu-west-1" is not a Region of the access role's partition aws-cn`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			isolateAWS(t)
			fake := awsfake.NewChainSTSIn("aws-cn")
			fake.AddPrincipal(key, workload)
			fake.AddRole(accessRole, workload, "")
			fake.AddRole(role, accessRole, exampleExtID)
			fake.AddRole(direct, workload, exampleExtID)
			srv := httptest.NewServer(fake)
			t.Cleanup(srv.Close)
			t.Setenv("AWS_ACCESS_KEY_ID", key)
			t.Setenv("AWS_SECRET_ACCESS_KEY", sandbox.DefaultCallerSecret(key))
			t.Setenv("AWS_ENDPOINT_URL_STS", srv.URL)
			t.Setenv("AWS_REGION", tt.region)
			args := append([]string{"verify", "--json", "--external-id", exampleExtID, "--timeout", "5s"}, tt.args...)
			stdout, stderr := runCLIExits(t, tt.code, args...)
			if out := map[bool]string{true: stderr, false: stdout}[tt.code == 2]; !strings.Contains(out, tt.want) {
				t.Errorf("output lacks %q:\nstdout:\n%s\nstderr:\n%s", tt.want, stdout, stderr)
			}
			if tt.code == 0 && !strings.Contains(stdout, `"result": "OK"`) {
				t.Errorf("not verified:\n%s", stdout)
			}
		})
	}
}

// TestVerifyKeepsTheSessionTokenOutOfStderr: STS refusing the caller's
// signature (a secret key that does not match) answers with the canonical
// request it computed, whose signed headers hold the session token. verify
// says the access role could not be assumed, and why, without it.
func TestVerifyKeepsTheSessionTokenOutOfStderr(t *testing.T) {
	const token = "IQoJb3JpZ2luX2VjEVerifyCallerSession"
	isolateAWS(t)
	srv := httptest.NewServer(awsfake.SignatureRefused(false))
	defer srv.Close()
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIAVERIFYTESTCALLER")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "not-the-right-secret")
	t.Setenv("AWS_SESSION_TOKEN", token)
	t.Setenv("AWS_ENDPOINT_URL_STS", srv.URL)
	t.Setenv("AWS_REGION", "eu-west-1")
	_, stderr := runCLIExits(t, 1, "verify", "--role-arn", exampleRole, "--external-id", exampleExtID, "--timeout", "5s",
		"--access-role-arn", "arn:aws:iam::111122223333:role/rolecall-prod-access")
	if !strings.Contains(stderr, "cannot assume the access role") || !strings.Contains(stderr, "SignatureDoesNotMatch") {
		t.Errorf("stderr does not say what went wrong:\n%s", stderr)
	}
	if strings.Contains(stderr, token) || strings.Contains(stderr, "Canonical String") {
		t.Errorf("SECURITY: stderr carries the canonical request with the session token:\n%s", stderr)
	}
}
