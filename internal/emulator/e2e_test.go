package emulator

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rolecall/rolecall/internal/bus"
	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/testkit/syncbuf"
)

// testOptions are short policies so the suite runs in seconds (with
// fastRetries on the stack).
func testOptions(t testing.TB, out io.Writer) Options {
	return Options{
		Addr:              "127.0.0.1:0",
		SweepEvery:        -1, // the tests sweep through POST /v1/sweeps
		PropagationWindow: 10 * time.Second,
		LostAfter:         2,
		Events:            out,
		Log:               slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
}

// fastRetries shortens the checker's retry delay and the lifecycle
// policy's retry delays, so that roles are checked again within the
// suite's seconds rather than the deployed minutes.
func fastRetries(st *Stack) {
	st.Settings.Verify.CheckBaseDelay = 5 * time.Millisecond
	p := &st.Settings.Verify.Policy
	p.PendingBackoff, p.PendingBackoffMax = 500*time.Millisecond, time.Second
	p.TransientRetry, p.SuspectInterval = time.Second, time.Second
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// start builds a server with a checkWatch on its checker, starts it, and
// shuts it down at the end of the test.
func start(t *testing.T, o Options) *Server {
	t.Helper()
	return startWith(t, o, stackSetup{})
}

// stackSetup replaces parts of a stack between its steps, as the fault
// tests do: components and settings before Build (after fastRetries),
// handlers after it.
type stackSetup struct {
	components func(*Stack)
	handlers   func(*Handlers)
}

// watches are the checkWatch of every server start made, for newClient.
var watches sync.Map // *Server → *checkWatch

func startWith(t *testing.T, o Options, set stackSetup) *Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := New(ctx, o)
	if err != nil {
		t.Fatalf("new: %v", err)
	}
	fastRetries(st)
	if set.components != nil {
		set.components(st)
	}
	w := newCheckWatch()
	st.Components.Checker = w.wrap(st.Checker())
	if err := st.Build(ctx); err != nil {
		st.close()
		t.Fatalf("build: %v", err)
	}
	if set.handlers != nil {
		set.handlers(&st.Handlers)
	}
	s, err := st.Start(ctx)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	watches.Store(s, w)
	t.Cleanup(func() {
		watches.Delete(s)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return s
}

// checksOf is the checkWatch of a server start made.
func checksOf(t testing.TB, s *Server) *checkWatch {
	t.Helper()
	w, ok := watches.Load(s)
	if !ok {
		t.Fatal("the server was not started by start: its checks are not watched")
	}
	return w.(*checkWatch)
}

// newClient is a client of s that waits on what s does (its checks and
// its events), never for a time.
func newClient(t *testing.T, s *Server) client {
	t.Helper()
	return client{t: t, base: s.URL, ops: s.OpsToken, bus: s.Bus, watch: checksOf(t, s)}
}

// client calls a running server.
type client struct {
	t    *testing.T
	base string
	ops  string
	// bus and watch signal progress (newClient): waits re-read when an
	// event is published or a check starts or finishes.
	bus   *bus.Memory
	watch *checkWatch
}

type response struct {
	status int
	body   []byte
}

func (r response) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %T from %s: %v", v, r.body, err)
	}
}

func (c client) do(method, path, auth string, body any) response {
	c.t.Helper()
	status, b, err := httpCaller{base: c.base, hc: http.DefaultClient}.call(method, path, auth, body)
	if err != nil {
		c.t.Fatal(err)
	}
	return response{status: status, body: b}
}

// in is the client reporting to t (a subtest).
func (c client) in(t *testing.T) client {
	c.t = t
	return c
}

func (c client) opsDo(method, path string, body any) response {
	c.t.Helper()
	return c.do(method, path, "Bearer "+c.ops, body)
}

func (c client) must(r response, status int) response {
	c.t.Helper()
	if r.status != status {
		c.t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	return r
}

type inviteView struct {
	TenantID            string `json:"tenantId"`
	ExternalID          string `json:"externalId"`
	TrustedPrincipalARN string `json:"trustedPrincipalArn"`
	Sandbox             *struct {
		AccountID   string          `json:"accountId"`
		RoleARN     string          `json:"roleArn"`
		TrustPolicy json.RawMessage `json:"trustPolicy"`
	} `json:"sandbox"`
}

type envelope struct {
	ID         string           `json:"id"`
	DetailType string           `json:"detail-type"`
	Source     string           `json:"source"`
	Detail     connection.Event `json:"detail"`
}

// tenantWithInvite creates a tenant through the API and returns the
// invite's Authorization header and the form's view.
func (c client) tenantWithInvite(id string) (string, inviteView) {
	c.t.Helper()
	c.must(c.opsDo("POST", "/v1/tenants", map[string]string{"tenantId": id, "name": "Tenant " + id}), 201)
	var inv struct {
		Code string `json:"code"`
		URL  string `json:"url"`
	}
	c.must(c.opsDo("POST", "/v1/tenants/"+id+"/invites", nil), 201).decode(c.t, &inv)
	if inv.URL != c.base+"/connect?invite="+inv.Code {
		c.t.Errorf("invite url %q", inv.URL)
	}
	auth := "Invite " + inv.Code
	var v inviteView
	c.must(c.do("GET", "/v1/invite", auth, nil), 200).decode(c.t, &v)
	if v.Sandbox == nil || len(v.Sandbox.TrustPolicy) == 0 {
		c.t.Fatalf("no sandbox offer: %+v", v)
	}
	return auth, v
}

// sandboxTenant is a tenant made through the API (tenantWithInvite),
// with its sandbox role offer.
type sandboxTenant struct {
	id, auth      string
	view          inviteView
	role, account string
}

// newSandboxTenant creates a tenant with a random ID that starts with
// prefix.
func (c client) newSandboxTenant(prefix string) sandboxTenant {
	c.t.Helper()
	tn := sandboxTenant{id: randomID(prefix)}
	tn.auth, tn.view = c.tenantWithInvite(tn.id)
	tn.role, tn.account = tn.view.Sandbox.RoleARN, tn.view.Sandbox.AccountID
	return tn
}

// verifiedSandboxTenant creates a tenant (newSandboxTenant) whose sandbox
// role, made from the offered trust policy, is submitted and VERIFIED.
func (c client) verifiedSandboxTenant(prefix string) sandboxTenant {
	c.t.Helper()
	tn := c.newSandboxTenant(prefix)
	c.putRole(tn.role, tn.view.Sandbox.TrustPolicy)
	c.must(c.do("POST", "/v1/connections", tn.auth, map[string]string{"roleArn": tn.role}), 202)
	c.waitStatus(tn.auth, tn.account, connection.Verified, 10*time.Second, nil)
	return tn
}

// waitRotationCompleted sweeps every connection until the tenant's
// rotation is completed (its event is published).
func (c client) waitRotationCompleted(tenantID string) {
	c.t.Helper()
	var got []string
	sweep := c.sweeper()
	c.waitFor(10*time.Second, func() bool {
		sweep()
		got = c.eventsOf(tenantID, "")
		return slices.Contains(got, string(connection.ExternalIDRotationCompleted))
	}, func() string { return fmt.Sprintf("tenant events %q, want the rotation completed", got) })
}

func (c client) putRole(arn string, policy json.RawMessage) {
	c.t.Helper()
	c.must(c.do("PUT", "/_sandbox/roles", "", map[string]any{"roleArn": arn, "trustPolicy": policy}), 200)
}

func (c client) connection(auth, account string) connection.Connection {
	c.t.Helper()
	var conn connection.Connection
	c.must(c.do("GET", "/v1/connections/"+account, auth, nil), 200).decode(c.t, &conn)
	return conn
}

// waitStatus waits until the connection has status want, calling nudge
// (e.g. a sweep) before each read. It reads again whenever an event is
// published (every status change publishes one) or a check starts or
// finishes (so a nudge follows every check).
func (c client) waitStatus(auth, account string, want connection.Status, within time.Duration, nudge func()) connection.Connection {
	c.t.Helper()
	var conn connection.Connection
	c.waitFor(within, func() bool {
		if nudge != nil {
			nudge()
		}
		conn = c.connection(auth, account)
		return conn.Status == want
	}, func() string {
		return fmt.Sprintf("connection %s is %s (%+v), not %s", account, conn.Status, conn.Reason, want)
	})
	return conn
}

// waitFor calls done until it reports true, again after every event and
// check, and fails the test with what() after within.
func (c client) waitFor(within time.Duration, done func() bool, what func() string) {
	c.t.Helper()
	if c.bus == nil || c.watch == nil {
		c.t.Fatal("client made without newClient: it cannot observe the server")
	}
	if err := c.watch.await(c.bus, within, done, what); err != nil {
		c.t.Fatal(err)
	}
}

// sweeper returns a sweep of every connection for a wait to call on each
// poll, which sweeps again only once as many checks have finished as the
// last sweep queued. A wait polls whenever a check starts or finishes, so
// sweeping on every poll would queue checks far faster than the STS
// budget lets them run, and a check a test waits for would queue behind
// them.
func (c client) sweeper() func() {
	from, queued := 0, 0
	return func() {
		c.t.Helper()
		if c.watch.finishedTotal() < from+queued {
			return
		}
		from = c.watch.finishedTotal()
		var r struct {
			Enqueued int `json:"enqueued"`
		}
		c.must(c.opsDo("POST", "/v1/sweeps", map[string]bool{"all": true}), 200).decode(c.t, &r)
		queued = r.Enqueued
	}
}

// eventsOf returns the detail-types of the events of one connection, oldest
// first, as GET /v1/events lists them.
func (c client) eventsOf(tenantID, account string) []string {
	c.t.Helper()
	var page struct {
		Events []envelope `json:"events"`
	}
	c.must(c.opsDo("GET", "/v1/events?limit=1000", nil), 200).decode(c.t, &page)
	var out []string
	for _, e := range page.Events {
		if e.Detail.TenantID == tenantID && e.Detail.AccountID == account {
			out = append(out, e.DetailType)
		}
	}
	return out
}

// waitEvents waits until the connection's events are want.
func (c client) waitEvents(tenantID, account string, want ...string) {
	c.t.Helper()
	var got []string
	c.waitFor(5*time.Second, func() bool {
		got = c.eventsOf(tenantID, account)
		return strings.Join(got, ",") == strings.Join(want, ",")
	}, func() string { return fmt.Sprintf("events of %s/%s: %q, want %q", tenantID, account, got, want) })
}

func randomID(prefix string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// policyWithoutExternalID is a trust policy that trusts the partner but
// forgets the sts:ExternalId condition.
func policyWithoutExternalID(principal string) json.RawMessage {
	return json.RawMessage(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"` + principal + `"},"Action":"sts:AssumeRole"}]}`)
}

// runSuite is the end-to-end suite, through HTTP only.
func runSuite(t *testing.T, o Options, events *syncbuf.Buffer, set stackSetup) {
	s := startWith(t, o, set)
	c := newClient(t, s)
	checks := c.watch

	t.Run("verified, access lost, restored", func(t *testing.T) {
		c := c.in(t)
		tn := c.newSandboxTenant("acme-")
		tid, auth, v, role, acct := tn.id, tn.auth, tn.view, tn.role, tn.account
		if v.TrustedPrincipalARN != s.PartnerPrincipalARN || !strings.Contains(string(v.Sandbox.TrustPolicy), v.ExternalID) {
			t.Fatalf("offer %+v", v)
		}
		c.putRole(role, v.Sandbox.TrustPolicy) // the template's own trust policy

		var sub connection.Connection
		c.must(c.do("POST", "/v1/connections", auth, map[string]string{"roleArn": role}), 202).decode(t, &sub)
		if sub.Status != connection.Pending || sub.AccountID != acct {
			t.Fatalf("submitted %+v", sub)
		}
		conn := c.waitStatus(auth, acct, connection.Verified, 10*time.Second, nil)
		if conn.Reason.Code != connection.CodeVerified || conn.LastCheckedAt.IsZero() {
			t.Errorf("verified %+v", conn)
		}
		c.waitEvents(tid, acct, "Role Submitted", "Role Verified")

		// The customer deletes the role: two failed checks later, access is lost.
		c.must(c.do("DELETE", "/_sandbox/roles?roleArn="+role, "", nil), 200)
		conn = c.waitStatus(auth, acct, connection.AccessLost, 10*time.Second, c.sweeper())
		if conn.Reason.Code != string(connection.ResultDenied) || conn.Reason.Hint == "" {
			t.Errorf("access lost %+v", conn)
		}
		c.waitEvents(tid, acct, "Role Submitted", "Role Verified", "Role Access Lost")

		// The role comes back.
		c.putRole(role, v.Sandbox.TrustPolicy)
		c.waitStatus(auth, acct, connection.Verified, 10*time.Second, c.sweeper())
		c.waitEvents(tid, acct, "Role Submitted", "Role Verified", "Role Access Lost", "Role Access Restored")
	})

	t.Run("external ID not enforced", func(t *testing.T) {
		c := c.in(t)
		tn := c.newSandboxTenant("lax-")
		tid, auth := tn.id, tn.auth
		acct := "210987654321"
		role := "arn:aws:iam::" + acct + ":role/NoExternalId"
		c.putRole(role, policyWithoutExternalID(s.PartnerPrincipalARN))
		c.must(c.do("POST", "/v1/connections", auth, map[string]string{"roleArn": role}), 202)
		conn := c.waitStatus(auth, acct, connection.Failed, 10*time.Second, nil)
		if conn.Reason.Code != string(connection.ResultNotEnforced) || !strings.Contains(conn.Reason.Hint, "sts:ExternalId") {
			t.Errorf("failed %+v", conn)
		}
		c.waitEvents(tid, acct, "Role Submitted", "Role Verification Failed")
	})

	t.Run("role created after submission", func(t *testing.T) {
		c := c.in(t)
		tn := c.newSandboxTenant("slow-")
		tid, auth, v, role, acct := tn.id, tn.auth, tn.view, tn.role, tn.account
		c.must(c.do("POST", "/v1/connections", auth, map[string]string{"roleArn": role}), 202)
		// IAM propagation: the role appears only after the connection was
		// checked. The second check starts after the first one's PENDING
		// outcome was recorded, so the connection shows it.
		checks.waitStarted(t, role, 2, 10*time.Second)
		if conn := c.connection(auth, acct); conn.Status != connection.Pending || conn.LastCheckedAt.IsZero() {
			t.Fatalf("before the role exists: %+v (want PENDING and checked at least once)", conn)
		}
		c.putRole(role, v.Sandbox.TrustPolicy)
		c.waitStatus(auth, acct, connection.Verified, 10*time.Second, nil)
		c.waitEvents(tid, acct, "Role Submitted", "Role Verified")
	})

	t.Run("candidate role replaces the verified one", func(t *testing.T) {
		c := c.in(t)
		tn := c.verifiedSandboxTenant("cand-")
		// The verified role stays in use until the candidate verifies,
		// then gives up its claim.
		candidate := "arn:aws:iam::" + tn.account + ":role/RoleCall-candidate"
		c.putRole(candidate, tn.view.Sandbox.TrustPolicy)
		c.must(c.do("POST", "/v1/connections", tn.auth, map[string]string{"roleArn": candidate}), 202)
		var conn connection.Connection
		c.waitFor(10*time.Second, func() bool {
			conn = c.connection(tn.auth, tn.account)
			return conn.RoleARN == candidate && conn.Status == connection.Verified
		}, func() string { return fmt.Sprintf("connection %+v, want VERIFIED with %s", conn, candidate) })
	})

	t.Run("connection limit set by the partner", func(t *testing.T) {
		c := c.in(t)
		tn := c.verifiedSandboxTenant("limit-")
		var tv struct {
			MaxConnections int    `json:"maxConnections"`
			ExternalID     string `json:"externalId"`
		}
		c.must(c.opsDo("PATCH", "/v1/tenants/"+tn.id, map[string]int{"maxConnections": 1}), 200).decode(t, &tv)
		if tv.MaxConnections != 1 || tv.ExternalID != "" {
			t.Fatalf("PATCH answered %+v", tv)
		}
		other := "arn:aws:iam::210987654399:role/RoleCall"
		c.putRole(other, tn.view.Sandbox.TrustPolicy)
		second := map[string]string{"roleArn": other}
		c.must(c.do("POST", "/v1/connections", tn.auth, second), 409)
		c.must(c.opsDo("PATCH", "/v1/tenants/"+tn.id, map[string]int{"maxConnections": 2}), 200)
		c.must(c.do("POST", "/v1/connections", tn.auth, second), 202)
		c.waitStatus(tn.auth, "210987654399", connection.Verified, 10*time.Second, nil)
		// A rotation puts the whole tenant item back: it keeps the limit.
		c.must(c.opsDo("POST", "/v1/tenants/"+tn.id+"/external-id/rotate", nil), 200)
		c.must(c.opsDo("GET", "/v1/tenants/"+tn.id, nil), 200).decode(t, &tv)
		if tv.MaxConnections != 2 {
			t.Fatalf("after a rotation the limit is %d, want 2", tv.MaxConnections)
		}
	})

	t.Run("external ID rotation ends with its grace", func(t *testing.T) {
		c := c.in(t)
		tn := c.verifiedSandboxTenant("rot-")
		// The role keeps trusting only the previous ID: checks fall back
		// to it during the second of grace, and the first sweep after
		// the grace completes the rotation.
		c.must(c.opsDo("POST", "/v1/tenants/"+tn.id+"/external-id/rotate", map[string]int{"graceSeconds": 1}), 200)
		c.waitRotationCompleted(tn.id)
	})

	t.Run("external ID rotation ends when every role has the new ID", func(t *testing.T) {
		c := c.in(t)
		tn := c.verifiedSandboxTenant("rotnew-")
		var rotated struct {
			ExternalID string `json:"externalId"`
		}
		c.must(c.opsDo("POST", "/v1/tenants/"+tn.id+"/external-id/rotate", map[string]int{"graceSeconds": 3600}), 200).decode(t, &rotated)
		if rotated.ExternalID == "" || rotated.ExternalID == tn.view.ExternalID {
			t.Fatalf("rotation answered external ID %q", rotated.ExternalID)
		}
		// The customer updates the role: its next check, on the new ID,
		// completes the rotation long before the grace ends.
		c.putRole(tn.role, json.RawMessage(strings.ReplaceAll(string(tn.view.Sandbox.TrustPolicy), tn.view.ExternalID, rotated.ExternalID)))
		c.waitRotationCompleted(tn.id)
	})

	t.Run("registration by the customer's stack", func(t *testing.T) {
		sandboxRegistration(t, c.in(t))
	})

	t.Run("events on stdout match the event log", func(t *testing.T) {
		var page struct {
			Events []json.RawMessage `json:"events"`
		}
		c.must(c.opsDo("GET", "/v1/events?limit=1000", nil), 200).decode(t, &page)
		lines := strings.Split(strings.TrimSpace(events.String()), "\n")
		if len(lines) != len(page.Events) {
			t.Fatalf("%d lines on stdout, %d events", len(lines), len(page.Events))
		}
		for i, l := range lines {
			var a, b envelope
			if err := json.Unmarshal([]byte(l), &a); err != nil {
				t.Fatalf("line %d is not an event: %v", i, err)
			}
			_ = json.Unmarshal(page.Events[i], &b)
			if a.ID != b.ID || a.Source != "rolecall" || a.Detail.EventID == "" || a.Detail.EventID != b.Detail.EventID {
				t.Errorf("line %d: %+v, event log: %+v", i, a, b)
			}
		}
		// after= continues from an event.
		var rest struct {
			Events []envelope `json:"events"`
		}
		var first envelope
		_ = json.Unmarshal(page.Events[0], &first)
		c.must(c.opsDo("GET", "/v1/events?after="+first.Detail.EventID, nil), 200).decode(t, &rest)
		if len(rest.Events) != len(page.Events)-1 {
			t.Errorf("after the first event: %d events, want %d", len(rest.Events), len(page.Events)-1)
		}
	})
}

func TestEndToEndEmbedded(t *testing.T) {
	events := &syncbuf.Buffer{}
	runSuite(t, testOptions(t, events), events, stackSetup{})
}

// dynamoDBLocal is DynamoDB Local's endpoint; without one the test is
// skipped, except in CI, which must run it.
func dynamoDBLocal(t *testing.T) string {
	t.Helper()
	endpoint := os.Getenv("ROLECALL_DYNAMODB_ENDPOINT")
	if endpoint == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("ROLECALL_DYNAMODB_ENDPOINT is not set; CI must run DynamoDB Local (.ci/with-dynamodb.sh)")
		}
		t.Skip("DynamoDB Local not running; run `make test`")
	}
	return endpoint
}

func TestEndToEndDynamoDBLocal(t *testing.T) {
	endpoint := dynamoDBLocal(t)
	events := &syncbuf.Buffer{}
	o := testOptions(t, events)
	o.DynamoDBEndpoint = endpoint
	o.TableName = randomID("rolecall-e2e-")
	// Each DynamoDB call the functions make is held against their roles
	// in template.yaml: DynamoDB Local authorizes nothing.
	calls := recordCalls(t, endpoint, o.TableName)
	runSuite(t, o, events, stackSetup{components: calls.install})
	calls.holdRoles(t, "ApiFunctionRole", "VerifyFunctionRole", "SweepFunctionRole", "RegisterFunctionRole")
}

func TestBannerAndDemoInvite(t *testing.T) {
	s := start(t, testOptions(t, io.Discard))
	b := s.Banner()
	for _, want := range []string{s.DemoInviteURL, s.URL + "/ops", s.OpsToken, SandboxPrincipalARN, "stdout", "embedded store", "sandbox STS"} {
		if !strings.Contains(b, want) {
			t.Errorf("banner lacks %q:\n%s", want, b)
		}
	}
	resp, err := http.Get(s.DemoInviteURL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `src="/static/connect.js"`) {
		t.Fatalf("demo form: %d", resp.StatusCode)
	}
	// The form fills itself from the invite's JSON: the demo tenant's, with
	// the sandbox's role for the "Launch the stack in a sandbox" button.
	u, err := url.Parse(s.DemoInviteURL)
	if err != nil {
		t.Fatal(err)
	}
	var inv struct {
		TenantName string          `json:"tenantName"`
		Sandbox    json.RawMessage `json:"sandbox"`
	}
	c0 := client{t: t, base: s.URL}
	c0.must(c0.do("GET", "/v1/invite", "Invite "+u.Query().Get("invite"), nil), 200).decode(t, &inv)
	if inv.TenantName != "Demo Customer" || len(inv.Sandbox) == 0 || string(inv.Sandbox) == "null" {
		t.Fatalf("demo invite %+v", inv)
	}
	var info struct {
		PartnerPrincipalARN string `json:"partnerPrincipalArn"`
		STSEndpoint         string `json:"stsEndpoint"`
	}
	c := client{t: t, base: s.URL, ops: s.OpsToken}
	c.must(c.do("GET", "/_sandbox", "", nil), 200).decode(t, &info)
	if info.PartnerPrincipalARN != SandboxPrincipalARN || info.STSEndpoint != s.URL+SandboxSTSPath {
		t.Errorf("sandbox info %+v", info)
	}
	if len(s.OpsToken) < 32 {
		t.Errorf("generated ops token %q is short", s.OpsToken)
	}
	c.must(c.do("GET", "/v1/events", "Bearer wrong", nil), 401)
}

func TestFaultsAreTransient(t *testing.T) {
	s := start(t, testOptions(t, io.Discard))
	c := newClient(t, s)
	checks := c.watch
	auth, v := c.tenantWithInvite("faulty")
	c.putRole(v.Sandbox.RoleARN, v.Sandbox.TrustPolicy)
	// Every STS call fails with a 5xx: the connection stays PENDING.
	c.must(c.do("PUT", "/_sandbox/faults", "", map[string]any{"errorRate": 1}), 200)
	c.must(c.do("POST", "/v1/connections", auth, map[string]string{"roleArn": v.Sandbox.RoleARN}), 202)
	// The retry starts after the failed check's outcome was recorded.
	checks.waitStarted(t, v.Sandbox.RoleARN, 2, 10*time.Second)
	if conn := c.connection(auth, v.Sandbox.AccountID); conn.Status != connection.Pending {
		t.Fatalf("a transient failure changed the status: %+v", conn)
	}
	c.must(c.do("PUT", "/_sandbox/faults", "", map[string]any{"errorRate": 0}), 200)
	c.waitStatus(auth, v.Sandbox.AccountID, connection.Verified, 10*time.Second, nil)
}

func TestGracefulShutdownPublishesInFlightWork(t *testing.T) {
	events := &syncbuf.Buffer{}
	o := testOptions(t, events)
	checks := newCheckWatch()
	ctx := context.Background()
	st, err := New(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	fastRetries(st)
	// The check is held until shutdown has stopped the verify loops, so
	// it is certainly in flight while shutdown runs.
	stopping := make(chan struct{})
	st.Components.Checker = checks.wrap(heldChecker{next: st.Checker(), until: stopping})
	s, err := st.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	stopVerify := s.stopVerify
	s.stopVerify = func() { stopVerify(); close(stopping) }
	c := client{t: t, base: s.URL, ops: s.OpsToken}
	auth, v := c.tenantWithInvite("shutdown")
	c.putRole(v.Sandbox.RoleARN, v.Sandbox.TrustPolicy)
	c.must(c.do("POST", "/v1/connections", auth, map[string]string{"roleArn": v.Sandbox.RoleARN}), 202)
	checks.waitStarted(t, v.Sandbox.RoleARN, 1, 10*time.Second)
	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := s.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	checks.waitFinished(t, v.Sandbox.RoleARN, 1, 0) // shutdown waited for it
	if !strings.Contains(events.String(), `"detail-type":"Role Verified"`) {
		t.Errorf("the in-flight check's event was not published:\n%s", events.String())
	}
	if _, err := http.Get(s.URL + "/ops"); err == nil {
		t.Error("the server still answers after shutdown")
	}
	if err := s.Shutdown(sctx); err != nil {
		t.Errorf("second shutdown: %v", err)
	}
}

func TestStartFailsOnBusyAddress(t *testing.T) {
	s := start(t, testOptions(t, io.Discard))
	o := testOptions(t, io.Discard)
	o.Addr = strings.TrimPrefix(s.URL, "http://")
	if _, err := Start(context.Background(), o); err == nil || !strings.Contains(err.Error(), "listen") {
		t.Fatalf("second server on %s: %v", o.Addr, err)
	}
}

func TestSandboxControlErrors(t *testing.T) {
	s := start(t, testOptions(t, io.Discard))
	c := client{t: t, base: s.URL, ops: s.OpsToken}
	tests := []struct {
		name   string
		method string
		path   string
		body   any
		status int
		code   string
	}{
		{"unsupported grammar", "PUT", "/_sandbox/roles", map[string]any{"roleArn": "arn:aws:iam::210987654321:role/R",
			"trustPolicy": json.RawMessage(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","NotPrincipal":{"AWS":"*"},"Action":"sts:AssumeRole"}]}`)}, 400, "INVALID_TRUST_POLICY"},
		{"no statement", "PUT", "/_sandbox/roles", map[string]any{"roleArn": "arn:aws:iam::210987654321:role/R", "trustPolicy": map[string]any{}}, 400, "INVALID_TRUST_POLICY"},
		{"a role in the partner account", "PUT", "/_sandbox/roles", map[string]any{"roleArn": "arn:aws:iam::123456789012:role/R", "trustPolicy": policyWithoutExternalID(SandboxPrincipalARN)}, 403, "FORBIDDEN"},
		{"the verifier, deleted", "DELETE", "/_sandbox/roles?roleArn=" + SandboxVerifierARN, nil, 403, "FORBIDDEN"},
		{"delete unknown", "DELETE", "/_sandbox/roles?roleArn=arn:aws:iam::210987654321:role/Nope", nil, 404, "NOT_FOUND"},
		{"faults", "PUT", "/_sandbox/faults", map[string]any{"latencyMs": 5, "throttleRate": 0.1, "errorRate": 0.2}, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.t = t
			r := c.do(tt.method, tt.path, "", tt.body)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			if tt.code != "" {
				var e struct {
					Error struct{ Code, Message, Field string } `json:"error"`
				}
				r.decode(t, &e)
				if e.Error.Code != tt.code || e.Error.Message == "" {
					t.Errorf("error %+v", e.Error)
				}
			}
		})
	}
	if f := s.Sandbox.Faults(); f.Latency != 5*time.Millisecond || f.ThrottleRate != 0.1 || f.ErrorRate != 0.2 {
		t.Errorf("faults %+v", f)
	}
}
