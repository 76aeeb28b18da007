package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/emulator"
)

const testOpsToken = "ops-test-token-0123456789abcdefghij" // serve takes at least 32 characters

// startServe runs the whole pipeline in process, as `rolecall serve` does,
// on a random loopback port, and points the ops commands at it.
func startServe(t *testing.T, tune ...func(*emulator.Options)) *emulator.Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	o := emulator.Options{
		Addr:              "127.0.0.1:0",
		OpsToken:          testOpsToken,
		SweepEvery:        -1, // the tests sweep through the CLI
		PropagationWindow: 5 * time.Second,
		LostAfter:         1, // one failed check of a verified role: ACCESS_LOST
		Events:            io.Discard,
		Log:               slog.New(slog.DiscardHandler),
	}
	for _, f := range tune {
		f(&o)
	}
	st, err := emulator.New(ctx, o)
	if err != nil {
		t.Fatalf("new: %v", err)
	}
	// Roles are checked again within the tests' seconds, not the
	// deployed minutes.
	st.Settings.Verify.CheckBaseDelay = 5 * time.Millisecond
	p := &st.Settings.Verify.Policy
	p.PendingBackoff, p.PendingBackoffMax, p.TransientRetry = 200*time.Millisecond, 500*time.Millisecond, 500*time.Millisecond
	s, err := st.Start(ctx)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	t.Setenv("ROLECALL_API", s.URL)
	t.Setenv("ROLECALL_OPS_TOKEN", testOpsToken)
	return s
}

// result is what one CLI run printed and its exit status.
type result struct {
	stdout, stderr string
	code           int
}

// refusal is a command line the CLI refuses: its exit status and what
// stderr says.
type refusal struct {
	name   string
	args   []string
	code   int
	stderr string
}

// expectRefusals runs each command line as a subtest: it must exit with
// its status, say what it must on stderr and print nothing on stdout.
func expectRefusals(t *testing.T, refusals []refusal) {
	t.Helper()
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			r := rolecall(t, tc.args...).must(t, tc.code)
			if !strings.Contains(r.stderr, tc.stderr) {
				t.Errorf("stderr %q lacks %q", r.stderr, tc.stderr)
			}
			if r.stdout != "" {
				t.Errorf("stdout %q", r.stdout)
			}
		})
	}
}

// rolecall runs the CLI as main does and returns its output and status.
func rolecall(t *testing.T, args ...string) result {
	t.Helper()
	return rolecallCtx(context.Background(), t, args...)
}

func rolecallCtx(ctx context.Context, t *testing.T, args ...string) result {
	t.Helper()
	stdout, stderr, err := execute(ctx, args...)
	return result{stdout, stderr, exitStatus(err)}
}

// execute runs the CLI as main does and returns what it printed and the
// error it ended with.
func execute(ctx context.Context, args ...string) (stdout, stderr string, err error) {
	var out, errOut bytes.Buffer
	root := newRoot()
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&errOut)
	err = root.ExecuteContext(ctx)
	return out.String(), errOut.String(), err
}

// exitStatus is the status main exits with for err.
func exitStatus(err error) int {
	var ec exitCode
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ec):
		return int(ec)
	}
	return 2
}

func (r result) must(t *testing.T, code int) result {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, code, r.stdout, r.stderr)
	}
	return r
}

func (r result) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(r.stdout), v); err != nil {
		t.Fatalf("stdout is not the JSON of %T: %v\n%s", v, err, r.stdout)
	}
}

// rows returns the table's rows (header first) split into trimmed cells.
func rows(out string) [][]string {
	var rs [][]string
	for _, l := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		if strings.TrimSpace(l) != "" {
			rs = append(rs, regexp.MustCompile(`\s{2,}`).Split(strings.TrimSpace(l), -1))
		}
	}
	return rs
}

// field returns the value of a FIELD/VALUE table's row.
func field(t *testing.T, out, name string) string {
	t.Helper()
	for _, r := range rows(out) {
		if len(r) == 2 && r[0] == name {
			return r[1]
		}
	}
	t.Fatalf("no %q row in\n%s", name, out)
	return ""
}

// connect creates tenant id with the CLI and connects a sandbox role of
// its sandbox account through the customer routes; it returns the account.
func connect(t *testing.T, s *emulator.Server, id string) string {
	t.Helper()
	rolecall(t, "tenants", "create", id, "--name", "Tenant "+id).must(t, 0)
	var inv struct {
		Code string `json:"code"`
	}
	rolecall(t, "invites", "create", id, "--json").must(t, 0).json(t, &inv)
	acct := connectSandboxRole(t, http.DefaultClient, s.URL, inv.Code)
	waitStatus(t, s, id, acct, connection.Verified)
	return acct
}

// connectSandboxRole opens the invite's form data, creates its sandbox
// role (trusting the partner access role with the tenant's external ID)
// and submits it through the customer routes; it returns the account.
func connectSandboxRole(t *testing.T, hc *http.Client, base, inviteCode string) string {
	t.Helper()
	var view struct {
		Sandbox struct {
			AccountID   string          `json:"accountId"`
			RoleARN     string          `json:"roleArn"`
			TrustPolicy json.RawMessage `json:"trustPolicy"`
		} `json:"sandbox"`
	}
	sendJSON(t, hc, "GET", base+"/v1/invite", "Invite "+inviteCode, nil, 200, &view)
	sendJSON(t, hc, "PUT", base+"/_sandbox/roles", "", map[string]any{"roleArn": view.Sandbox.RoleARN, "trustPolicy": view.Sandbox.TrustPolicy}, 200, nil)
	sendJSON(t, hc, "POST", base+"/v1/connections", "Invite "+inviteCode, map[string]string{"roleArn": view.Sandbox.RoleARN}, 202, nil)
	return view.Sandbox.AccountID
}

// waitStatus waits until serve has published that the connection is in
// status want (its latest event says so), then checks that `connections
// get` shows it. The bus signals every put, so nothing polls.
func waitStatus(t *testing.T, s *emulator.Server, tenantID, account string, want connection.Status) {
	t.Helper()
	waitStatusEvent(t, s, tenantID, account, want)
	var h struct {
		Connection connection.Connection `json:"connection"`
	}
	rolecall(t, "connections", "get", tenantID, account, "--json").must(t, 0).json(t, &h)
	if h.Connection.Status != want {
		t.Fatalf("%s/%s: the events say %s, connections get says %s", tenantID, account, want, h.Connection.Status)
	}
}

// waitStatusEvent waits until the latest event serve published for the
// connection has status want.
func waitStatusEvent(t *testing.T, s *emulator.Server, tenantID, account string, want connection.Status) {
	t.Helper()
	waitEvents(t, s, fmt.Sprintf("%s/%s %s", tenantID, account, want), func(events []connection.Event) bool {
		var latest *connection.Event
		for i, e := range events {
			if e.TenantID == tenantID && e.AccountID == account && (latest == nil || e.Version > latest.Version) {
				latest = &events[i]
			}
		}
		return latest != nil && latest.Status == want
	})
}

// waitEvents waits (at most 20 s) until done accepts the events serve's
// bus has recorded, oldest first, each with its detail-type. It reads the
// record again at every put the bus signals.
func waitEvents(t *testing.T, s *emulator.Server, what string, done func([]connection.Event) bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		changed := s.Bus.Changed() // before reading, so no put is missed
		envs, err := s.Bus.Since("", 0)
		if err != nil {
			t.Fatal(err)
		}
		events := make([]connection.Event, 0, len(envs))
		for _, env := range envs {
			var e connection.Event
			if err := json.Unmarshal(env.Detail, &e); err != nil {
				t.Fatalf("event %s: %v", env.ID, err)
			}
			e.DetailType = connection.DetailType(env.DetailType)
			events = append(events, e)
		}
		if done(events) {
			return
		}
		select {
		case <-changed:
		case <-ctx.Done():
			t.Fatalf("no event of %s after 20s; the bus has %d", what, len(events))
		}
	}
}

func httpJSON(t *testing.T, method, url, auth string, in any, status int, out any) {
	t.Helper()
	sendJSON(t, http.DefaultClient, method, url, auth, in, status, out)
}

// sendJSON sends in (nil: no body) as JSON with hc, fails t unless the
// answer has the status (0: any), and decodes the answer into out (nil: it
// is not read as JSON).
func sendJSON(t *testing.T, hc *http.Client, method, url, auth string, in any, status int, out any) {
	t.Helper()
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if status != 0 && resp.StatusCode != status {
		t.Fatalf("%s %s: %d, want %d: %s", method, url, resp.StatusCode, status, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, url, err, b)
		}
	}
}
