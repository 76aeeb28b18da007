package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/rolecall/rolecall/internal/probe"
)

// TestVerifyTakesTheExternalIDOffTheCommandLine: verify takes the external
// ID (and the previous one) from a file, from stdin or from the
// environment, so that it need not show in the process list; a flag's
// value still works and goes before the environment's.
func TestVerifyTakesTheExternalIDOffTheCommandLine(t *testing.T) {
	sandboxFile := writeVerifySandbox(t)
	dir := t.TempDir()
	file := func(content string) string {
		t.Helper()
		p := filepath.Join(dir, strings.NewReplacer("/", "_", "\n", "_", "\r", "_").Replace(t.Name()))
		writeTestFile(t, p, content)
		return p
	}
	tests := []struct {
		name  string
		args  func() []string
		stdin string
		env   map[string]string
		code  int
		want  string
	}{
		{name: "file", args: func() []string { return []string{"--external-id-file", file(exampleExtID + "\n")} }, want: "VERIFIED: RoleCall assumed the role with your external ID"},
		{name: "file with CRLF", args: func() []string { return []string{"--external-id-file", file(exampleExtID + "\r\n")} }, want: "VERIFIED: "},
		{name: "file without a line break", args: func() []string { return []string{"--external-id-file", file(exampleExtID)} }, want: "VERIFIED: "},
		{name: "stdin", args: func() []string { return []string{"--external-id-file", "-"} }, stdin: exampleExtID + "\n", want: "VERIFIED: "},
		{name: "stdin: only its first line", args: func() []string { return []string{"--external-id-file", "-"} }, stdin: exampleExtID + "\nsomething else\n", want: "VERIFIED: "},
		{name: "environment", env: map[string]string{externalIDEnv: exampleExtID}, want: "VERIFIED: "},
		{name: "the flag goes before the environment", args: func() []string { return []string{"--external-id", "rc-SOMEONEELSE"} },
			env: map[string]string{externalIDEnv: exampleExtID}, code: 1, want: "NOT VERIFIED (ASSUME_DENIED)"},
		{name: "the file goes before the environment", args: func() []string { return []string{"--external-id-file", file("rc-SOMEONEELSE\n")} },
			env: map[string]string{externalIDEnv: exampleExtID}, code: 1, want: "NOT VERIFIED (ASSUME_DENIED)"},
		{name: "previous ID from stdin", args: func() []string {
			return []string{"--role-arn", examplePrevOnly, "--external-id-file", file(exampleExtID), "--previous-external-id-file", "-"}
		}, stdin: examplePrevID + "\n", want: "VERIFIED: RoleCall assumed the role only with the previous external ID"},
		{name: "previous ID from the environment", args: func() []string { return []string{"--role-arn", examplePrevOnly} },
			env: map[string]string{externalIDEnv: exampleExtID, previousExternalIDEnv: examplePrevID}, want: "✓ " + probe.StepPrevious},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(externalIDEnv, "")
			t.Setenv(previousExternalIDEnv, "")
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			args := []string{"verify", "--sandbox-file", sandboxFile}
			if tt.args != nil {
				args = append(args, tt.args()...)
			}
			if !strings.Contains(strings.Join(args, " "), "--role-arn") {
				args = append(args, "--role-arn", exampleRole)
			}
			stdout, stderr, code := runCLIWithInput(t, strings.NewReader(tt.stdin), args...)
			if code != tt.code || !strings.Contains(stdout, tt.want) {
				t.Fatalf("exit %d, want %d and %q\nstdout:\n%s\nstderr:\n%s", code, tt.code, tt.want, stdout, stderr)
			}
			for _, id := range []string{exampleExtID, examplePrevID} {
				if strings.Contains(stdout+stderr, id) {
					t.Errorf("the output shows the external ID %s:\n%s%s", id, stdout, stderr)
				}
			}
		})
	}
}

// TestVerifyExternalIDInputErrors: an external ID given two ways, or
// from a file that holds none, is refused (exit 2), and the error never
// shows what was read.
func TestVerifyExternalIDInputErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		writeTestFile(t, p, content)
		return p
	}
	const secret = "rc-SECRETSECRETSECRETSECRETSECRET"
	twoLines := write("two-lines", secret+"\n"+secret+"\n")
	empty := write("empty", "")
	long := write("long", strings.Repeat("A", 5000))
	good := write("good", exampleExtID+"\n")
	tests := []struct {
		name  string
		args  []string
		stdin string
		usage bool
		msg   string
	}{
		{"flag and file", []string{"--external-id", exampleExtID, "--external-id-file", good}, "", true, "give --external-id or --external-id-file, not both"},
		{"previous flag and file", []string{"--external-id-file", good, "--previous-external-id", examplePrevID, "--previous-external-id-file", good}, "", true, "give --previous-external-id or --previous-external-id-file, not both"},
		{"both from stdin", []string{"--external-id-file", "-", "--previous-external-id-file", "-"}, secret + "\n", true, "stdin holds one external ID"},
		{"no such file", []string{"--external-id-file", filepath.Join(dir, "nope")}, "", false, "--external-id-file: open"},
		{"two lines", []string{"--external-id-file", twoLines}, "", true, "--external-id-file: an external ID may contain only"},
		{"empty file", []string{"--external-id-file", empty}, "", true, "--external-id-file: an external ID is 2 to 1224 characters long, this one has 0"},
		{"empty stdin", []string{"--external-id-file", "-"}, "", true, "--external-id-file -: an external ID is 2 to 1224 characters long"},
		{"too long", []string{"--external-id-file", long}, "", false, "--external-id-file: longer than an external ID"},
		{"too long on stdin", []string{"--external-id-file", "-"}, strings.Repeat("A", 5000) + "\n", false, "--external-id-file -: read stdin: longer than an external ID"},
		{"bad ID in the environment", nil, "", true, "$" + externalIDEnv + ": an external ID may contain only"},
		{"previous equal to the current", []string{"--external-id-file", good, "--previous-external-id-file", "-"}, exampleExtID, true,
			"the previous external ID (--previous-external-id-file -) must differ from the current one (--external-id-file)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(externalIDEnv, "")
			t.Setenv(previousExternalIDEnv, "")
			if tt.args == nil {
				t.Setenv(externalIDEnv, secret+" x")
			}
			args := append([]string{"verify", "--sandbox-file", exampleFile, "--role-arn", exampleRole}, tt.args...)
			stdout, stderr, code := runCLIWithInput(t, strings.NewReader(tt.stdin), args...)
			if code != 2 || !strings.Contains(stderr, tt.msg) {
				t.Fatalf("exit %d, want 2 and %q\nstdout:\n%s\nstderr:\n%s", code, tt.msg, stdout, stderr)
			}
			if hasUsage := strings.Contains(stderr, "Usage:"); hasUsage != tt.usage {
				t.Errorf("usage shown %v, want %v:\n%s", hasUsage, tt.usage, stderr)
			}
			if stdout != "" || strings.Contains(stderr, secret) || strings.Contains(stderr, "AAAA") {
				t.Errorf("output shows what was read:\nstdout:\n%s\nstderr:\n%s", stdout, stderr)
			}
		})
	}
}
