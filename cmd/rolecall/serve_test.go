package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/rolecall/rolecall/internal/testkit/syncbuf"
)

func TestServeStartsPrintsBannerAndStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncbuf.Buffer
	root := newRoot()
	const token = "tok-0123456789abcdefghijklmnopqrstuvwxyz"
	t.Setenv("ROLECALL_OPS_TOKEN", token)
	root.SetArgs([]string{"serve", "--addr", "127.0.0.1:0", "--sweep-every", "0", "--log-level", "warn", "--partner-name", "Acme Cloud"})
	root.SetOut(&stdout)
	root.SetErr(&stderr)
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()

	formURL := regexp.MustCompile(`Customer form \(tenant demo\):\s+(http://127\.0\.0\.1:\d+/connect\?invite=[a-z2-7]{39})`)
	// The banner is written in one piece; its last line says it is whole.
	wctx, wcancel := context.WithTimeout(ctx, 20*time.Second)
	defer wcancel()
	if !stderr.WaitFor(wctx, "Press Ctrl+C to stop.") {
		t.Fatalf("no banner:\n%s", stderr.String())
	}
	m := formURL.FindStringSubmatch(stderr.String())
	if m == nil {
		t.Fatalf("the banner has no customer form URL:\n%s", stderr.String())
	}
	// A token the operator supplied is named by its source, never printed.
	if strings.Contains(stderr.String(), token) {
		t.Errorf("the banner prints the ops token from the environment:\n%s", stderr.String())
	}
	for _, want := range []string{"Ops token:", "from ROLECALL_OPS_TOKEN (not shown)", "/ops", "arn:aws:iam::123456789012:role/rolecall-local-access", "AKIAROLECALLWORKLOAD", "stdout"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("banner lacks %q:\n%s", want, stderr.String())
		}
	}
	resp, err := http.Get(m[1])
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Contains(body, []byte(`src="/static/connect.js"`)) {
		t.Errorf("form: %d:\n%.600s", resp.StatusCode, body)
	}
	// The form shows what the invite's JSON says: --partner-name's name.
	form, err := url.Parse(m[1])
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", form.Scheme+"://"+form.Host+"/v1/invite", nil)
	req.Header.Set("Authorization", "Invite "+form.Query().Get("invite"))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var inv struct {
		TenantName  string `json:"tenantName"`
		PartnerName string `json:"partnerName"`
	}
	err = json.NewDecoder(resp.Body).Decode(&inv)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || inv.TenantName != "Demo Customer" || inv.PartnerName != "Acme Cloud" {
		t.Errorf("invite: %d %+v %v, want Demo Customer invited by Acme Cloud (--partner-name)", resp.StatusCode, inv, err)
	}
	if stdout.String() != "" {
		t.Errorf("stdout carries more than events: %q", stdout.String())
	}

	cancel() // SIGINT
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve returned %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not stop")
	}
	if !strings.Contains(stderr.String(), "stopped") {
		t.Errorf("no stop message:\n%s", stderr.String())
	}
}

func TestServeRefusesBadFlags(t *testing.T) {
	tests := []struct {
		args []string
		want string // in the message; default: the name of the flag before the last argument
	}{
		{args: []string{"--lost-after", "0"}},
		{args: []string{"--propagation-window", "0s"}},
		{args: []string{"--check-interval", "10ms"}},
		{args: []string{"--sandbox-latency", "-1s"}},
		{args: []string{"--sweep-every", "-1m"}},
		{args: []string{"--log-level", "loud"}},
		{args: []string{"--aws", "--sandbox-latency", "1s"}},
		{args: []string{"--queue-url", "https://sqs.us-east-1.amazonaws.com/111122223333/rolecall-verify"}},
		{args: []string{"--addr", "0.0.0.0:0"}, want: "--addr) \"0.0.0.0:0\" is not a loopback address"},
		{args: []string{"--addr", ":0"}, want: "is not a loopback address"},
		{args: []string{"--addr", "192.0.2.10:8080"}, want: "is not a loopback address"},
		{args: []string{"--addr", "rolecall.example.com:8080"}, want: "is not a loopback address"},
		{args: []string{"--public", "--addr", "0.0.0.0:0"}, want: "--public) is never with the sandbox"},
		{args: []string{"--public", "--public-host", "rolecall.example.com", "--addr", "0.0.0.0:0"}, want: "never with the sandbox"},
		{args: []string{"--public", "--public-host", "rolecall.example.com"}, want: "never with the sandbox"},
		{args: []string{"--aws", "--public", "--addr", "0.0.0.0:0"}, want: "needs a public host (--public-host)"},
		{args: []string{"--public-host", "rolecall.example.com"}, want: "needs public mode (--public)"},
		{args: []string{"--aws", "--public", "--public-host", "https://rolecall.example.com"}, want: "want a host name or IP address"},
		{args: []string{"--ops-token-file", "/nonexistent/rolecall-token"}},
		{args: []string{"--ops-token", "0123456789abcdefghijklmnopqrstuvwxyz"}, want: "--ops-token is refused"},
		{args: []string{"--trusted-principal-arn", "arn:aws:iam::123456789012:user/alice"}, want: "IAM user"},
		{args: []string{"--table", "rolecall-prod"}, want: "--table (or TABLE_NAME) needs --aws or --dynamodb-endpoint"},
		{args: []string{"--event-bus", "rolecall-prod"}, want: "--event-bus (or EVENT_BUS_NAME) needs --aws"},
		{args: []string{"--event-source", "aws.rolecall"}, want: "reserved for AWS services"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			want := tt.want
			if want == "" {
				want = strings.TrimLeft(tt.args[len(tt.args)-2], "-")
			}
			t.Setenv("ROLECALL_OPS_TOKEN", "")
			var stderr bytes.Buffer
			root := newRoot()
			root.SetArgs(append([]string{"serve", "--addr", "127.0.0.1:0"}, tt.args...))
			root.SetOut(&bytes.Buffer{})
			root.SetErr(&stderr)
			// Bounded: serve that starts after all stops with the context.
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			err := root.ExecuteContext(ctx)
			var ec exitCode
			if !errors.As(err, &ec) || ec != 2 || !strings.Contains(stderr.String(), want) {
				t.Errorf("err %v, stderr %q; want exit 2 saying %q", err, stderr.String(), want)
			}
		})
	}
}

func TestServeQueueURL(t *testing.T) {
	t.Run("VERIFY_QUEUE_URL without --aws is refused", func(t *testing.T) {
		t.Setenv("VERIFY_QUEUE_URL", "https://sqs.us-east-1.amazonaws.com/111122223333/rolecall-verify")
		var stderr bytes.Buffer
		root := newRoot()
		root.SetArgs([]string{"serve", "--addr", "127.0.0.1:0"})
		root.SetOut(&bytes.Buffer{})
		root.SetErr(&stderr)
		err := root.ExecuteContext(context.Background())
		var ec exitCode
		if !errors.As(err, &ec) || ec != 2 || !strings.Contains(stderr.String(), "--queue-url (or VERIFY_QUEUE_URL) needs --aws") {
			t.Errorf("err %v, stderr %q", err, stderr.String())
		}
	})
	t.Run("the help documents it", func(t *testing.T) {
		var stdout bytes.Buffer
		root := newRoot()
		root.SetArgs([]string{"serve", "--help"})
		root.SetOut(&stdout)
		root.SetErr(&bytes.Buffer{})
		if err := root.Execute(); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"--queue-url string", "VERIFY_QUEUE_URL", "with --aws, use this SQS queue",
			"--ops-token-file FILE", "ROLECALL_OPS_TOKEN", "--public ", "--public-host NAME"} {
			if !strings.Contains(stdout.String(), want) {
				t.Errorf("help lacks %q:\n%s", want, stdout.String())
			}
		}
		if strings.Contains(stdout.String(), "--ops-token string") {
			t.Errorf("help offers --ops-token:\n%s", stdout.String())
		}
	})
}

// TestServeOpsToken: the token comes from ROLECALL_OPS_TOKEN or a file,
// never from the command line (which every local user can read through
// ps), and is at least 32 characters.
func TestServeOpsToken(t *testing.T) {
	const good = "0123456789abcdefghijklmnopqrstuvwxyz"
	dir := t.TempDir()
	file := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name    string
		env     string
		args    []string
		token   string // resolved token ("" when refused)
		source  string // where the banner says it came from
		wantErr []string
		warn    string
	}{
		{name: "generated when absent"},
		{name: "environment", env: good, token: good, source: "from ROLECALL_OPS_TOKEN"},
		{name: "file with a trailing newline", args: []string{"--ops-token-file", file("nl", good+"\n", 0o600)}, token: good, source: "from " + filepath.Join(dir, "nl")},
		{name: "file with CRLF", args: []string{"--ops-token-file", file("crlf", good+"\r\n", 0o600)}, token: good},
		{name: "file without newline", args: []string{"--ops-token-file", file("bare", good, 0o600)}, token: good},
		{name: "file others can read", args: []string{"--ops-token-file", file("open", good, 0o644)}, token: good, warn: "readable by other users"},
		{name: "on the command line", args: []string{"--ops-token", good},
			wantErr: []string{"--ops-token is refused", "ps", "ROLECALL_OPS_TOKEN", "--ops-token-file"}},
		{name: "short in the environment", env: "tok-123", wantErr: []string{"ROLECALL_OPS_TOKEN", "at least 32"}},
		{name: "short in a file", args: []string{"--ops-token-file", file("short", "tok-123\n", 0o600)}, wantErr: []string{"--ops-token-file", "at least 32"}},
		{name: "two lines in a file", args: []string{"--ops-token-file", file("two", good+"\n\n", 0o600)}, wantErr: []string{"printable ASCII"}},
		{name: "empty file", args: []string{"--ops-token-file", file("empty", "", 0o600)}, wantErr: []string{"--ops-token-file", "at least 32"}},
		{name: "missing file", args: []string{"--ops-token-file", filepath.Join(dir, "missing")}, wantErr: []string{"--ops-token-file", "no such file"}},
		{name: "both", env: good, args: []string{"--ops-token-file", file("both", good, 0o600)}, wantErr: []string{"ROLECALL_OPS_TOKEN", "--ops-token-file", "not both"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("ROLECALL_OPS_TOKEN", tt.env)
			var o serveOptions
			cmd := newServeCmdWith(&o)
			if err := cmd.ParseFlags(tt.args); err != nil {
				t.Fatal(err)
			}
			var stderr bytes.Buffer
			err := o.resolveOpsToken(cmd.Flags().Changed, &stderr)
			if len(tt.wantErr) > 0 {
				for _, want := range tt.wantErr {
					if err == nil || !strings.Contains(err.Error(), want) {
						t.Errorf("error %v, want it to say %q", err, want)
					}
				}
				return
			}
			if err != nil || o.OpsToken != tt.token {
				t.Fatalf("token %q, err %v; want %q", o.OpsToken, err, tt.token)
			}
			if tt.source != "" && o.OpsTokenSource != tt.source || tt.token == "" && o.OpsTokenSource != "" {
				t.Errorf("token source %q, want %q", o.OpsTokenSource, tt.source)
			}
			if tt.warn != "" && !strings.Contains(stderr.String(), tt.warn) || tt.warn == "" && stderr.Len() > 0 {
				t.Errorf("stderr %q, want warning %q", stderr.String(), tt.warn)
			}
		})
	}
}

// TestServeAWSOnlySettings: settings that only mean something with AWS
// (a deployed table, an EventBridge bus), given as flags or in the
// environment, are refused without --aws rather than silently replaced by
// the in-memory store or bus; a table names DynamoDB Local's with
// --dynamodb-endpoint. The event source follows template.yaml's rule.
func TestServeAWSOnlySettings(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string // in the error; "" when valid
	}{
		{name: "table flag without AWS", args: []string{"--table", "rolecall-prod"}, want: "--table (or TABLE_NAME) needs --aws"},
		{name: "TABLE_NAME without AWS", env: map[string]string{"TABLE_NAME": "rolecall-prod"}, want: "--table (or TABLE_NAME) needs --aws"},
		{name: "table of DynamoDB Local", args: []string{"--dynamodb-endpoint", "http://127.0.0.1:8000", "--table", "mine"}},
		{name: "TABLE_NAME of DynamoDB Local", env: map[string]string{"TABLE_NAME": "mine"}, args: []string{"--dynamodb-endpoint", "http://127.0.0.1:8000"}},
		{name: "table with AWS", args: []string{"--aws", "--table", "rolecall-prod"}},
		{name: "event bus flag without AWS", args: []string{"--event-bus", "rolecall-prod"}, want: "--event-bus (or EVENT_BUS_NAME) needs --aws"},
		{name: "EVENT_BUS_NAME without AWS", env: map[string]string{"EVENT_BUS_NAME": "rolecall-prod"}, want: "--event-bus (or EVENT_BUS_NAME) needs --aws"},
		{name: "event bus with DynamoDB Local but no AWS", args: []string{"--dynamodb-endpoint", "http://127.0.0.1:8000", "--event-bus", "b"}, want: "--event-bus (or EVENT_BUS_NAME) needs --aws"},
		{name: "event bus with AWS", args: []string{"--aws", "--event-bus", "rolecall-prod"}},
		{name: "queue URL without AWS", env: map[string]string{"VERIFY_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/111122223333/q"}, want: "--queue-url (or VERIFY_QUEUE_URL) needs --aws"},
		{name: "default event source"},
		{name: "event source", args: []string{"--event-source", "acme.rolecall-prod_1"}},
		{name: "event source of AWS", args: []string{"--event-source", "aws.rolecall"}, want: `--event-source "aws.rolecall": sources starting with "aws."`},
		{name: "event source aws. alone", args: []string{"--event-source", "aws."}, want: "reserved for AWS services"},
		{name: "event source awsome", args: []string{"--event-source", "awsome"}},
		{name: "empty event source", args: []string{"--event-source", ""}, want: "--event-source"},
		{name: "event source with a space", args: []string{"--event-source", "acme rolecall"}, want: "--event-source"},
		{name: "event source starting with a dot", args: []string{"--event-source", ".rolecall"}, want: "--event-source"},
		{name: "event source of 129 characters", args: []string{"--event-source", strings.Repeat("a", 129)}, want: "--event-source"},
		{name: "event source of 128 characters", args: []string{"--event-source", strings.Repeat("a", 128)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, k := range []string{"TABLE_NAME", "EVENT_BUS_NAME", "VERIFY_QUEUE_URL"} {
				t.Setenv(k, tt.env[k])
			}
			var o serveOptions
			cmd := newServeCmdWith(&o)
			if err := cmd.ParseFlags(tt.args); err != nil {
				t.Fatal(err)
			}
			err := o.validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("error %v, want it to say %q", err, tt.want)
			}
		})
	}
}

// TestServeEventSourceRuleIsTheTemplates keeps validateEventSource in step
// with template.yaml's EventSource parameter.
func TestServeEventSourceRuleIsTheTemplates(t *testing.T) {
	b, err := os.ReadFile("../../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var tpl struct {
		Parameters map[string]struct {
			AllowedPattern string `yaml:"AllowedPattern"`
		} `yaml:"Parameters"`
	}
	if err := yaml.Unmarshal(b, &tpl); err != nil {
		t.Fatal(err)
	}
	want := `^(?!` + regexp.QuoteMeta(reservedEventSource) + `)` + eventSourceChars + `$`
	if got := tpl.Parameters["EventSource"].AllowedPattern; got != want {
		t.Errorf("template.yaml's EventSource pattern is %q; serve checks %q", got, want)
	}
}
