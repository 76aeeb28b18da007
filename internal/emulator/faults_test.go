package emulator

// The fault scenario: the whole pipeline, through the serve
// wiring, under every failure it is designed to survive at once:
//   - sandbox STS throttling 20% and 5xx 5% of its calls;
//   - EventBridge refusing 30% of the entries put (the real SDK adapter,
//     bus.EventBridge, against awsfake's wire-level EventBridge; what it
//     accepts goes on to the in-process bus, as teeBus does with --aws);
//   - the publish handler crashing once after writing half a batch (it
//     returns without acknowledging; the feed delivers the batch again);
//   - concurrent version conflicts: ops re-checks (POST .../check) racing
//     the pipeline's own check of the same connection version, duplicate
//     Role Submitted deliveries, stale queue jobs, and resubmissions racing
//     the check of the previous role;
// with a mix of sandbox roles whose right final status is known. At the end
// every connection must be in that status, the events EventBridge received
// (deduplicated by eventId) must be exactly the connection's transitions,
// nothing may be PENDING, and no check may ever have found a role that does
// not enforce the external ID (or lands in a foreign account) to be OK.
//
// The same run captures every log line at Debug level and every event line
// (the log test): no credential the sandbox issued, no invite code, no ops
// token and no full external ID may appear in them.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/eventbridge"

	"github.com/rolecall/rolecall/internal/bus"
	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/onboarding"
	"github.com/rolecall/rolecall/internal/probe"
	"github.com/rolecall/rolecall/internal/publish"
	"github.com/rolecall/rolecall/internal/rolearn"
	"github.com/rolecall/rolecall/internal/stsbudget"
	"github.com/rolecall/rolecall/internal/tenant"
	"github.com/rolecall/rolecall/internal/testkit/awsfake"
	"github.com/rolecall/rolecall/internal/testkit/logcapture"
	"github.com/rolecall/rolecall/internal/testkit/syncbuf"
	"github.com/rolecall/rolecall/internal/testkit/trusthole"
	"github.com/rolecall/rolecall/internal/verify"
)

// roleKind is what the sandbox holds for a connection's role, and so what
// its final status must be.
type roleKind string

const (
	kindGood           roleKind = "good"            // the template's trust policy
	kindLate           roleKind = "late"            // created 0.2-1 s after submission (IAM propagation)
	kindReplaced       roleKind = "replaced"        // a missing role, resubmitted with a good one while PENDING
	kindDeleted        roleKind = "deleted"         // good, deleted once verified
	kindLax            roleKind = "lax"             // trusts the partner with a hole instead of StringEquals on sts:ExternalId (each trusthole.Hole in turn)
	kindMissing        roleKind = "missing"         // never created
	kindWrongAccount   roleKind = "wrong-account"   // created in another account than the ARN names
	kindWrongPrincipal roleKind = "wrong-principal" // trusts another partner's principal
	kindOtherTenantID  roleKind = "other-tenant-id" // conditioned on another tenant's external ID
	kindForeignSession roleKind = "foreign-session" // STS answers with a session in another account
)

// kindCycle assigns kinds to a tenant's connections, in turn.
var kindCycle = []roleKind{
	kindGood, kindLax, kindMissing, kindLate, kindGood, kindWrongAccount, kindGood, kindLax, kindLate, kindReplaced,
	kindGood, kindWrongPrincipal, kindMissing, kindLax, kindGood, kindOtherTenantID, kindLate, kindForeignSession, kindGood, kindDeleted,
}

type expectation struct {
	status connection.Status
	code   string
	types  []connection.DetailType
}

func expected(k roleKind) expectation {
	sub, ver, fail := connection.RoleSubmitted, connection.RoleVerified, connection.RoleVerificationFailed
	denied := expectation{connection.Failed, string(connection.ResultDenied), []connection.DetailType{sub, fail}}
	switch k {
	case kindGood, kindLate:
		return expectation{connection.Verified, connection.CodeVerified, []connection.DetailType{sub, ver}}
	case kindReplaced:
		return expectation{connection.Verified, connection.CodeVerified, []connection.DetailType{sub, sub, ver}}
	case kindDeleted:
		return expectation{connection.AccessLost, string(connection.ResultDenied), []connection.DetailType{sub, ver, connection.RoleAccessLost}}
	case kindLax:
		return expectation{connection.Failed, string(connection.ResultNotEnforced), []connection.DetailType{sub, fail}}
	case kindForeignSession:
		return expectation{connection.Failed, string(connection.ResultAccountMismatch), []connection.DetailType{sub, fail}}
	}
	return denied
}

// trusted reports whether a check may ever find the role OK.
func (k roleKind) trusted() bool {
	switch k {
	case kindGood, kindLate, kindReplaced, kindDeleted:
		return true
	}
	return false
}

// planned is one connection of the scenario.
type planned struct {
	tenant  *scenarioTenant
	account string
	role    string // the role ARN finally submitted
	first   string // kindReplaced: the missing role submitted first
	// failedFirst (kindReplaced): the first role's propagation window
	// had ended, FAILED, before the resubmission was taken, which a
	// loaded machine can delay past it; the resubmission's version says
	// so.
	failedFirst bool
	kind        roleKind
	hole        trusthole.Hole // kindLax: the trust policy's mistake
}

func (p *planned) key() string { return p.tenant.id + "/" + p.account }

type scenarioTenant struct {
	id, auth, code, externalID string
	trustPolicy                json.RawMessage
}

// scenarioSize: tenants × connections per tenant.
type scenarioSize struct {
	tenants, perTenant int
	// converge bounds the wait for every connection's final status.
	converge time.Duration
}

// --- observers and fault injectors, replacing components of the stack ---

// eventBridgeTee puts entries on EventBridge through the real SDK adapter
// (against awsfake, which refuses a share of them), then the accepted ones
// on the in-process bus, as teeBus does in serve --aws.
type eventBridgeTee struct {
	remote *bus.EventBridge
	local  publish.Bus
	put    atomic.Int64
	refuse atomic.Int64
}

func (b *eventBridgeTee) Put(ctx context.Context, entries []bus.Entry) ([]bus.Failure, error) {
	failed, err := b.remote.Put(ctx, entries)
	if err != nil {
		return nil, err
	}
	b.put.Add(int64(len(entries)))
	b.refuse.Add(int64(len(failed)))
	ok := accepted(entries, failed)
	if len(ok) > 0 {
		fs, err := b.local.Put(ctx, ok)
		if err != nil || len(fs) > 0 {
			return nil, fmt.Errorf("in-process bus refused %v: %w", fs, err)
		}
	}
	return failed, nil
}

// outcomeRecorder records every check's outcome.
type outcomeRecorder struct {
	next verify.Checker
	mu   sync.Mutex
	all  map[string][]connection.Result // role ARN → results
	n    int
}

func (r *outcomeRecorder) Check(ctx context.Context, req probe.Request) probe.Report {
	rep := r.next.Check(ctx, req)
	r.mu.Lock()
	r.all[req.RoleARN] = append(r.all[req.RoleARN], rep.Outcome.Result)
	r.n++
	r.mu.Unlock()
	return rep
}

func (r *outcomeRecorder) results(role string) []connection.Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.all[role])
}

// stsObserver counts STS calls by outcome and lands the sessions of the
// foreign-session roles in another account.
type stsObserver struct {
	next    probe.Assumer
	foreign sync.Map // role ARN → true
	mu      sync.Mutex
	calls   int
	codes   map[string]int
}

const foreignAccount = "999999999999"

func (o *stsObserver) AssumeRole(ctx context.Context, in probe.AssumeRequest) (probe.Session, error) {
	sess, err := o.next.AssumeRole(ctx, in)
	code := "OK"
	if err != nil {
		code = "error"
		var se *probe.STSError
		if errors.As(err, &se) && se.Code != "" {
			code = se.Code
		}
	}
	o.mu.Lock()
	o.calls++
	o.codes[code]++
	o.mu.Unlock()
	if _, ok := o.foreign.Load(in.RoleARN); ok && err == nil {
		sess.AccountID = foreignAccount
		sess.AssumedRoleARN = strings.Replace(sess.AssumedRoleARN, ":sts::"+rolearn.Account(in.RoleARN)+":", ":sts::"+foreignAccount+":", 1)
	}
	return sess, err
}

// credentialRecorder keeps every credential value the sandbox STS issues,
// read from the responses the SDK client receives.
type credentialRecorder struct {
	mu     sync.Mutex
	values map[string]bool
	issued int
}

var credentialElement = regexp.MustCompile(`<(AccessKeyId|SecretAccessKey|SessionToken)>([^<]+)</`)

type teeResponseWriter struct {
	http.ResponseWriter
	buf bytes.Buffer
}

func (w *teeResponseWriter) Write(b []byte) (int, error) {
	w.buf.Write(b)
	return w.ResponseWriter.Write(b)
}

func (c *credentialRecorder) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tw := &teeResponseWriter{ResponseWriter: w}
		h.ServeHTTP(tw, r)
		m := credentialElement.FindAllSubmatch(tw.buf.Bytes(), -1)
		if len(m) == 0 {
			return
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		c.issued++
		for _, x := range m {
			c.values[string(x[2])] = true
		}
	})
}

func (c *credentialRecorder) all() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for v := range c.values {
		out = append(out, v)
	}
	return out
}

// httpCaller calls the server from any goroutine (no t.Fatal).
type httpCaller struct {
	base string
	hc   *http.Client
}

func (h httpCaller) call(method, path, auth string, body any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, h.base+path, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := h.hc.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

func (h httpCaller) expect(status int, method, path, auth string, body any, out any) error {
	got, b, err := h.call(method, path, auth, body)
	if err != nil {
		return err
	}
	if got != status {
		return fmt.Errorf("%s %s: status %d, want %d: %s", method, path, got, status, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: decode %s: %w", method, path, b, err)
		}
	}
	return nil
}

// errs collects errors from goroutines.
type errs struct {
	mu   sync.Mutex
	list []error
}

func (e *errs) add(err error) {
	if err == nil {
		return
	}
	e.mu.Lock()
	e.list = append(e.list, err)
	e.mu.Unlock()
}

func (e *errs) check(t *testing.T, what string) {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	for i, err := range e.list {
		if i == 10 {
			t.Errorf("… and %d more", len(e.list)-10)
			break
		}
		t.Errorf("%s: %v", what, err)
	}
	if len(e.list) > 0 {
		t.FailNow()
	}
}

// parallel runs f(i) for i in [0,n) on workers goroutines.
func parallel(n, workers int, f func(i int)) {
	var wg sync.WaitGroup
	next := atomic.Int64{}
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				f(i)
			}
		}()
	}
	wg.Wait()
}

// --- the scenario ---

type faultRun struct {
	t       *testing.T
	size    scenarioSize
	srv     *Server
	api     httpCaller
	logs    *syncbuf.Buffer
	records *logcapture.Handler // every log record, as slog handled it
	events  *syncbuf.Buffer
	fakeEB  *awsfake.EventBridge
	tee     *eventBridgeTee
	checks  *outcomeRecorder
	watch   *checkWatch // the checks started and finished
	sts     *stsObserver
	creds   *credentialRecorder
	crashed atomic.Int64
	crashN  atomic.Int64 // the crashed batch's size
	tenants []*scenarioTenant
	plan    []*planned
	history map[string][]connection.Event // connection key → its transitions, read at the end

	// Requested checks queued per connection key: the API queues one per
	// connection per fixed five-minute window; the scenario's requests
	// take well under one, so they span at most two.
	queuedMu sync.Mutex
	queued   map[string]int
}

func runFaultScenario(t *testing.T, size scenarioSize, dynamoEndpoint string) {
	began := time.Now()
	r := &faultRun{t: t, size: size, logs: &syncbuf.Buffer{}, events: &syncbuf.Buffer{}, queued: map[string]int{}}
	r.records = logcapture.New(slog.NewJSONHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	// EventBridge refusing 30% of the entries, retryably, in a seeded order.
	r.fakeEB = awsfake.NewEventBridge()
	rng := rand.New(rand.NewPCG(6, 30))
	codes := make([]string, 200_000)
	for i := range codes {
		if rng.Float64() < 0.30 {
			codes[i] = []string{"ThrottlingException", "InternalFailure"}[rng.IntN(2)]
		}
	}
	r.fakeEB.RejectEntries(codes...)
	ebSrv := httptest.NewServer(r.fakeEB)
	t.Cleanup(ebSrv.Close)
	ebClient := eventbridge.NewFromConfig(awsfake.ClientConfig(ebSrv.URL, 3))

	r.creds = &credentialRecorder{values: map[string]bool{}}
	o := Options{
		Addr:              "127.0.0.1:0",
		DynamoDBEndpoint:  dynamoEndpoint,
		SweepEvery:        2 * time.Second, // the serve schedule, sped up
		PropagationWindow: 4 * time.Second,
		LostAfter:         2,
		// One invite per tenant submits all its roles and resubmissions
		// within seconds: lift the per-invite rate limit.
		SubmissionsPerMinute: 10_000,
		Events:               r.events,
		Log:                  slog.New(r.records),
	}
	// The fault injectors and observers replace components of the stack
	// before it is built, and wrap its publish handler after.
	set := stackSetup{
		components: func(st *Stack) {
			// A seeded sandbox, so its faults fall the same way each run.
			if err := st.newSandbox(6); err != nil {
				t.Fatal(err)
			}
			st.Settings.Verify.CheckBaseDelay = 2 * time.Millisecond
			// The worker delays redeliveries in whole seconds; a shorter
			// backoff would make every sweep re-enqueue the connections
			// waiting for theirs.
			p := &st.Settings.Verify.Policy
			p.PendingBackoff, p.PendingBackoffMax = time.Second, time.Second
			p.TransientRetry, p.SuspectInterval = 200*time.Millisecond, 500*time.Millisecond
			// The injected faults throttle a fifth of all STS calls at
			// random, whatever their rate: the budget's AIMD limiter
			// would sit at its floor (a twentieth of its share) for the
			// whole run. This scenario proves the state machine under
			// faults; the bench's throttling scenario measures the pacing.
			st.Settings.Verify.Plan = stsbudget.Plan{}
			r.tee = &eventBridgeTee{remote: &bus.EventBridge{Client: ebClient}, local: st.Components.Bus}
			st.Components.Bus = r.tee
			r.sts = &stsObserver{next: st.Components.STS, codes: map[string]int{}}
			st.Components.STS = r.sts
			r.checks = &outcomeRecorder{next: st.Checker(), all: map[string][]connection.Result{}}
			st.Components.Checker = r.checks
			st.SandboxSTS = r.creds.wrap(st.SandboxSTS)
		},
		handlers: func(h *Handlers) {
			h.Publish = crashingPublisher{next: h.Publish, crash: func(n int) (int, bool) {
				// Half of at least four, so that at least two events are
				// written before the crash (and will be delivered twice).
				if n < 4 || r.crashed.Load() > 0 || !r.crashed.CompareAndSwap(0, 1) {
					return 0, false
				}
				r.crashN.Store(int64(n))
				return n / 2, true
			}}
		},
	}
	if dynamoEndpoint != "" {
		o.TableName = randomID("rolecall-faults-")
	}
	r.srv = startWith(t, o, set)
	r.watch = checksOf(t, r.srv)
	r.api = httpCaller{base: r.srv.URL, hc: &http.Client{Timeout: 30 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 64, MaxConnsPerHost: 64}}}
	// Sandbox STS faults: 20% throttling, 5% 5xx of all calls.
	f := r.srv.Sandbox.Faults()
	f.ThrottleRate, f.ErrorRate = 0.20, 0.05
	r.srv.Sandbox.SetFaults(f)

	r.createTenants()
	r.makePlan()
	r.submit()
	r.recheckWave()
	r.assertOneCheckQueuedEach()
	r.waitFinal()
	t.Logf("converged in %s", time.Since(began).Round(time.Millisecond))

	// Stop: the verify workers and sweeps stop, the feed publishes what is
	// left. Nothing changes after this.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := r.srv.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}

	t.Logf("stopped, every event published, after %s", time.Since(began).Round(time.Millisecond))
	r.assertStatusesAndEvents()
	r.assertNoUntrustedVerified()
	r.assertFaultsHappened()
	r.assertLogs()
	t.Logf("whole scenario: %s", time.Since(began).Round(time.Millisecond))
	if t.Failed() {
		dumpTail(t, r.logs.String(), 40)
	}

}

func dumpTail(t *testing.T, s string, n int) {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	t.Logf("last log lines:\n%s", strings.Join(lines, "\n"))
}

func (r *faultRun) createTenants() {
	t := r.t
	var e errs
	r.tenants = make([]*scenarioTenant, r.size.tenants)
	parallel(r.size.tenants, 8, func(i int) {
		id := fmt.Sprintf("%s%02d", randomID("t"), i)
		if err := r.api.expect(201, "POST", "/v1/tenants", "Bearer "+r.srv.OpsToken, map[string]string{"tenantId": id, "name": "Tenant " + id}, nil); err != nil {
			e.add(err)
			return
		}
		var inv struct {
			Code string `json:"code"`
		}
		if err := r.api.expect(201, "POST", "/v1/tenants/"+id+"/invites", "Bearer "+r.srv.OpsToken, nil, &inv); err != nil {
			e.add(err)
			return
		}
		var v inviteView
		if err := r.api.expect(200, "GET", "/v1/invite", "Invite "+inv.Code, nil, &v); err != nil {
			e.add(err)
			return
		}
		if v.Sandbox == nil || !strings.Contains(string(v.Sandbox.TrustPolicy), v.ExternalID) ||
			!strings.Contains(string(v.Sandbox.TrustPolicy), r.srv.PartnerPrincipalARN) {
			e.add(fmt.Errorf("tenant %s: unexpected sandbox offer %+v", id, v.Sandbox))
			return
		}
		r.tenants[i] = &scenarioTenant{id: id, auth: "Invite " + inv.Code, code: inv.Code, externalID: v.ExternalID, trustPolicy: v.Sandbox.TrustPolicy}
	})
	e.check(t, "create tenants")
}

func (r *faultRun) makePlan() {
	holes := 0
	for ti, tn := range r.tenants {
		for j := range r.size.perTenant {
			acct := fmt.Sprintf("%012d", 300_000_000_000+ti*10_000+j)
			p := &planned{tenant: tn, account: acct, kind: kindCycle[j%len(kindCycle)],
				role: fmt.Sprintf("arn:aws:iam::%s:role/RoleCallAccess-%d", acct, j)}
			if p.kind == kindReplaced {
				p.first = fmt.Sprintf("arn:aws:iam::%s:role/NotCreatedYet-%d", acct, j)
			}
			if p.kind == kindLax {
				// The common "require an external ID" mistakes, in turn:
				// no condition, ...IfExists, wildcards, Null false and the
				// set qualifiers all accept a decoy or no external ID.
				p.hole = trusthole.All[holes%len(trusthole.All)]
				holes++
			}
			r.plan = append(r.plan, p)
		}
	}
	if holes < len(trusthole.All) {
		r.t.Fatalf("the plan has %d lax roles, fewer than the %d holes it must cover", holes, len(trusthole.All))
	}
}

// putRole creates the sandbox role of p as its kind wants it (late roles
// later).
func (r *faultRun) putRole(p *planned) error {
	sb := r.srv.Sandbox
	good := p.tenant.trustPolicy
	switch p.kind {
	case kindGood, kindReplaced, kindDeleted, kindLate:
		return sb.PutRole(p.role, good)
	case kindForeignSession:
		r.sts.foreign.Store(p.role, true)
		return sb.PutRole(p.role, good)
	case kindLax:
		return sb.PutRole(p.role, p.hole.TrustPolicy(p.tenant.externalID, r.srv.PartnerPrincipalARN))
	case kindWrongAccount:
		other := "7" + p.account[1:] // the plan's accounts start with 3
		return sb.PutRole(strings.Replace(p.role, p.account, other, 1), good)
	case kindWrongPrincipal:
		pol := strings.ReplaceAll(string(good), r.srv.PartnerPrincipalARN, "arn:aws:iam::210987654321:role/AnotherPartner")
		return sb.PutRole(p.role, []byte(pol))
	case kindOtherTenantID:
		other := r.tenants[0]
		if other == p.tenant {
			other = r.tenants[1]
		}
		return sb.PutRole(p.role, other.trustPolicy)
	}
	return nil // kindMissing
}

func (r *faultRun) submit() {
	t := r.t
	var e errs
	var later sync.WaitGroup
	jitter := rand.New(rand.NewPCG(7, 7))
	delays := make([]time.Duration, len(r.plan))
	for i := range delays {
		delays[i] = 200*time.Millisecond + time.Duration(jitter.Int64N(int64(800*time.Millisecond)))
	}
	recheck := func(p *planned) {
		defer later.Done()
		e.add(r.requestCheck(p))
	}
	parallel(len(r.plan), 16, func(i int) {
		p := r.plan[i]
		if p.kind != kindLate {
			if err := r.putRole(p); err != nil {
				e.add(fmt.Errorf("put role of %s: %w", p.key(), err))
				return
			}
		}
		arn := p.role
		if p.kind == kindReplaced {
			arn = p.first
		}
		var c connection.Connection
		if err := r.api.expect(202, "POST", "/v1/connections", p.tenant.auth, map[string]string{"roleArn": arn}, &c); err != nil {
			e.add(err)
			return
		}
		if c.Status != connection.Pending || c.Version != 1 || c.RoleARN != arn {
			e.add(fmt.Errorf("submitted %s: %+v", p.key(), c))
		}
		// A parallel re-check of the same version races the pipeline's
		// own check of it (every third connection, twice).
		if i%3 == 0 {
			later.Add(2)
			go recheck(p)
			go recheck(p)
		}
		switch p.kind {
		case kindLate:
			later.Add(1)
			time.AfterFunc(delays[i], func() {
				defer later.Done()
				e.add(r.putRole(p))
			})
		case kindReplaced:
			later.Add(1)
			go func() {
				defer later.Done()
				// Resubmitted at once, while the first role is PENDING
				// (within the propagation window): the customer pasted
				// the wrong ARN, then the right one.
				var c2 connection.Connection
				if err := r.api.expect(202, "POST", "/v1/connections", p.tenant.auth, map[string]string{"roleArn": p.role}, &c2); err != nil {
					e.add(err)
					return
				}
				if c2.Version < 2 || c2.Version > 3 || c2.RoleARN != p.role {
					e.add(fmt.Errorf("resubmitted %s: %+v", p.key(), c2))
				}
				p.failedFirst = c2.Version == 3
				// A stale job for the first role's version: it must be
				// dropped, never applied to the new role.
				stale := probe.Job{Connection: c, ExternalID: p.tenant.externalID, ExternalIDVersion: 1, Why: probe.WhyRequested}
				e.add(r.srv.Queue.Send(context.Background(), []probe.Job{stale, stale}))
			}()
		case kindDeleted:
			later.Add(1)
			go func() {
				defer later.Done()
				e.add(r.deleteOnceVerified(p))
			}()
		}
	})
	later.Wait()
	e.check(t, "submit")
}

// deleteOnceVerified deletes the role of p when its connection is
// VERIFIED and has it checked, three times at once.
func (r *faultRun) deleteOnceVerified(p *planned) error {
	var (
		c   connection.Connection
		err error
	)
	// Read again on every event (VERIFIED publishes one) and check.
	waited := r.watch.await(r.srv.Bus, r.size.converge, func() bool {
		c, err = r.srv.Service.Connection(context.Background(), p.tenant.id, p.account)
		return err != nil || c.Status == connection.Verified
	}, func() string { return fmt.Sprintf("%s never VERIFIED before deletion: %+v", p.key(), c) })
	if err != nil {
		return fmt.Errorf("read %s: %w", p.key(), err)
	}
	if waited != nil {
		return waited
	}
	r.srv.Sandbox.DeleteRole(p.role)
	// Checks race: three routine jobs of the verified version at once (a
	// requested check may already have used this connection's window),
	// and three requested checks.
	job := probe.Job{Connection: c, ExternalID: p.tenant.externalID, ExternalIDVersion: 1, Why: probe.WhyScheduled}
	if err := r.srv.Queue.Send(context.Background(), []probe.Job{job, job, job}); err != nil {
		return fmt.Errorf("queue checks of %s: %w", p.key(), err)
	}
	return r.requestChecksAtOnce(p)
}

// requestChecksAtOnce asks for three checks of p's connection at once.
func (r *faultRun) requestChecksAtOnce(p *planned) error {
	var (
		wg sync.WaitGroup
		e  errs
	)
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e.add(r.requestCheck(p))
		}()
	}
	wg.Wait()
	if len(e.list) > 0 {
		return e.list[0]
	}
	return nil
}

// requestCheck asks for a check of p's connection: it is queued (202), or
// refused as one already requested in the window (429 CHECK_TOO_SOON);
// assertOneCheckQueuedEach counts the queued ones at the end.
func (r *faultRun) requestCheck(p *planned) error {
	status, b, err := r.api.call("POST", "/v1/tenants/"+p.tenant.id+"/connections/"+p.account+"/check", "Bearer "+r.srv.OpsToken, nil)
	switch {
	case err != nil:
		return err
	case status == 202:
		r.queuedMu.Lock()
		r.queued[p.key()]++
		r.queuedMu.Unlock()
	case status != 429 || !strings.Contains(string(b), onboarding.CodeCheckTooSoon):
		return fmt.Errorf("check of %s: status %d, want 202 or 429 %s: %s", p.key(), status, onboarding.CodeCheckTooSoon, b)
	}
	return nil
}

// assertOneCheckQueuedEach: however the requests raced, each connection
// asked for got one check queued per window (two when the requests
// straddled a window's end).
func (r *faultRun) assertOneCheckQueuedEach() {
	r.queuedMu.Lock()
	defer r.queuedMu.Unlock()
	if len(r.queued) == 0 {
		r.t.Error("no requested check was queued")
	}
	for key, n := range r.queued {
		if n < 1 || n > 2 {
			r.t.Errorf("%s: %d requested checks queued, want 1 (2 across a window's end)", key, n)
		}
	}
}

// recheckWave re-checks a fifth of the connections three times at once,
// whatever their state, while the pipeline is still busy.
func (r *faultRun) recheckWave() {
	var e errs
	parallel(len(r.plan), 16, func(i int) {
		if i%5 != 1 {
			return
		}
		e.add(r.requestChecksAtOnce(r.plan[i]))
	})
	e.check(r.t, "re-check wave")
}

// readAll reads the connections of ps, 8 at a time.
func (r *faultRun) readAll(ps []*planned) []connection.Connection {
	out := make([]connection.Connection, len(ps))
	var e errs
	parallel(len(ps), 8, func(i int) {
		c, err := r.srv.Service.Connection(context.Background(), ps[i].tenant.id, ps[i].account)
		if err != nil {
			e.add(fmt.Errorf("read %s: %w", ps[i].key(), err))
		}
		out[i] = c
	})
	e.check(r.t, "read connections")
	return out
}

// waitFinal waits until every connection is in its expected status. A
// connection in its expected status stays there (the scenario deletes or
// fixes nothing after that), so it is not read again.
func (r *faultRun) waitFinal() {
	t := r.t
	deadline := time.Now().Add(r.size.converge)
	left := r.plan
	timeout := time.NewTimer(r.size.converge)
	defer timeout.Stop()
	for {
		// Read again after the next event or check: statuses change only
		// then.
		events, checks := r.srv.Bus.Changed(), r.watch.next()
		var wrong []string
		var still []*planned
		hopeless := false
		for i, c := range r.readAll(left) {
			p := left[i]
			want := expected(p.kind)
			if c.Status != want.status || c.Reason.Code != want.code {
				still = append(still, p)
				wrong = append(wrong, fmt.Sprintf("%s (%s): %s/%s v%d, want %s/%s", p.key(), p.kind, c.Status, c.Reason.Code, c.Version, want.status, want.code))
				// States the scenario can never leave in time: no need
				// to wait for the deadline.
				hopeless = hopeless || c.Status == connection.Failed || c.Status == connection.Verified && want.status == connection.Failed
			}
		}
		if left = still; len(left) == 0 {
			return
		}
		if hopeless || time.Now().After(deadline) {
			r.assertNoUntrustedVerified()
			for i, w := range wrong {
				if i == 20 {
					t.Errorf("… %d more", len(wrong)-20)
					break
				}
				t.Error(w)
			}
			dumpTail(t, r.logs.String(), 40)
			t.Fatalf("%d of %d connections not in their expected status (waited %s)", len(wrong), len(r.plan), time.Since(deadline.Add(-r.size.converge)).Round(time.Millisecond))
		}
		select {
		case <-events:
		case <-checks:
		case <-timeout.C:
		}
	}
}

// received is an event as a consumer got it.
type received struct {
	detailType string
	ev         connection.Event
	raw        string
}

func decodeReceived(detailType, detail string) (received, error) {
	var ev connection.Event
	if err := json.Unmarshal([]byte(detail), &ev); err != nil {
		return received{}, fmt.Errorf("decode detail %s: %w", detail, err)
	}
	ev.DetailType = connection.DetailType(detailType)
	return received{detailType: detailType, ev: ev, raw: detail}, nil
}

func eventJSON(ev connection.Event) string {
	b, _ := json.Marshal(ev)
	return string(b)
}

// assertStatusesAndEvents: final statuses, nothing PENDING, and for every
// connection the events EventBridge received, deduplicated by eventId and
// put in version order (EventBridge, like the stream, does not promise
// delivery order; the version is how consumers order), are exactly the
// connection's transitions as the store's history records them.
func (r *faultRun) assertStatusesAndEvents() {
	t := r.t
	ctx := context.Background()
	hist, ok := r.srv.Service.Store.(interface {
		Events(ctx context.Context, tenantID, accountID string) ([]connection.Event, error)
	})
	if !ok {
		t.Fatalf("the store %T has no event history", r.srv.Service.Store)
	}

	// What EventBridge accepted, deduplicated by eventId.
	byID := map[string]received{}
	dups, outOfOrder := 0, 0
	perConn := map[string][]received{}
	lastVersion := map[string]int64{}
	for _, pe := range r.fakeEB.Accepted() {
		rc, err := decodeReceived(pe.DetailType, pe.Detail)
		if err != nil {
			t.Fatal(err)
		}
		if prev, seen := byID[rc.ev.EventID]; seen {
			dups++
			if prev.raw != rc.raw || prev.detailType != rc.detailType {
				t.Errorf("event %s delivered twice with different contents:\n%s\n%s", rc.ev.EventID, prev.raw, rc.raw)
			}
			continue
		}
		byID[rc.ev.EventID] = rc
		k := rc.ev.TenantID + "/" + rc.ev.AccountID
		if rc.ev.Version < lastVersion[k] {
			outOfOrder++
		}
		lastVersion[k] = max(lastVersion[k], rc.ev.Version)
		perConn[k] = append(perConn[k], rc)
	}
	t.Logf("EventBridge accepted %d entries: %d events, %d duplicates (crash redelivery), %d first deliveries out of version order",
		len(r.fakeEB.Accepted()), len(byID), dups, outOfOrder)

	conns := r.readAll(r.plan)
	histories := make([][]connection.Event, len(r.plan))
	var e errs
	parallel(len(r.plan), 8, func(i int) {
		var err error
		histories[i], err = hist.Events(ctx, r.plan[i].tenant.id, r.plan[i].account)
		e.add(err)
	})
	e.check(t, "read histories")
	r.history = map[string][]connection.Event{}
	pending, total := 0, 0
	for i, p := range r.plan {
		k, c, h := p.key(), conns[i], histories[i]
		r.history[k] = h
		want := expected(p.kind)
		if p.failedFirst {
			want.types = []connection.DetailType{connection.RoleSubmitted, connection.RoleVerificationFailed, connection.RoleSubmitted, connection.RoleVerified}
		}
		if c.Status == connection.Pending {
			pending++
		}
		if c.Status != want.status || c.Reason.Code != want.code || c.RoleARN != p.role {
			t.Errorf("%s (%s): %s/%s %s, want %s/%s %s", k, p.kind, c.Status, c.Reason.Code, c.RoleARN, want.status, want.code, p.role)
		}
		total += len(h)
		var types []connection.DetailType
		for i, ev := range h {
			types = append(types, ev.DetailType)
			if ev.Version != int64(i+1) {
				t.Errorf("%s: history event %d has version %d", k, i, ev.Version)
			}
		}
		if !slices.Equal(types, want.types) {
			t.Errorf("%s (%s): transitions %q, want %q", k, p.kind, types, want.types)
		}
		if n := len(h); n == 0 || h[n-1].Version != c.Version || h[n-1].Status != c.Status {
			t.Errorf("%s: history %+v does not end in the connection %+v", k, h, c)
		}
		got := slices.Clone(perConn[k])
		slices.SortFunc(got, func(a, b received) int { return int(a.ev.Version - b.ev.Version) })
		if len(got) != len(h) {
			t.Errorf("%s (%s): %d events received, %d transitions", k, p.kind, len(got), len(h))
			continue
		}
		for i := range h {
			if got[i].detailType != string(h[i].DetailType) || eventJSON(got[i].ev) != eventJSON(h[i]) {
				t.Errorf("%s: event %d received as %s %s,\nthe transition is %s %s", k, i, got[i].detailType, got[i].raw, h[i].DetailType, eventJSON(h[i]))
			}
		}
		delete(perConn, k)
	}
	for k, evs := range perConn {
		t.Errorf("events received for a connection nobody made: %s: %d", k, len(evs))
	}
	if pending > 0 {
		t.Errorf("%d connections stuck in PENDING", pending)
	}

	// The in-process bus (stdout, ops page, the Role Submitted rule) got
	// what EventBridge accepted: stdout printed every copy, and the record
	// (the ops page, `rolecall events`) holds each event once.
	envs, err := r.srv.Bus.Since("", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(envs) != len(byID) {
		t.Errorf("in-process bus recorded %d entries, EventBridge accepted %d events", len(envs), len(byID))
	}
	lines := strings.Split(strings.TrimSpace(r.events.String()), "\n")
	if len(lines) != len(r.fakeEB.Accepted()) {
		t.Errorf("%d event lines on stdout, EventBridge accepted %d entries", len(lines), len(r.fakeEB.Accepted()))
	}
	onStdout := map[string]bool{}
	for _, l := range lines {
		var env envelope
		if err := json.Unmarshal([]byte(l), &env); err != nil {
			t.Fatalf("stdout line is not an event: %v: %s", err, l)
		}
		onStdout[env.Detail.EventID] = true
	}
	for id := range byID {
		if !onStdout[id] {
			t.Errorf("event %s accepted by EventBridge but not printed", id)
		}
	}
	if len(byID) != total {
		t.Errorf("%d distinct events received, %d transitions in the store", len(byID), total)
	}
	if dups == 0 {
		t.Error("no duplicate delivery: the publisher crash did not redeliver anything")
	}
}

// assertNoUntrustedVerified: no check ever found a role OK that does not
// enforce the external ID, trusts another principal or ID, or lands in a
// foreign account; and every connection was checked.
func (r *faultRun) assertNoUntrustedVerified() {
	t := r.t
	for _, p := range r.plan {
		res := r.checks.results(p.role)
		if len(res) == 0 && p.kind != kindWrongAccount {
			t.Errorf("%s (%s): no check recorded for %s", p.key(), p.kind, p.role)
		}
		if !p.kind.trusted() && slices.Contains(res, connection.ResultOK) {
			t.Errorf("SECURITY: %s (%s): a check reported OK for a role that must never be trusted: %v", p.key(), p.kind, res)
		}
		if p.kind == kindLax && !slices.Contains(res, connection.ResultNotEnforced) {
			t.Errorf("%s (%s): no check found EXTERNAL_ID_NOT_ENFORCED: %v", p.key(), p.hole, res)
		}
		if p.kind == kindReplaced && slices.Contains(r.checks.results(p.first), connection.ResultOK) {
			t.Errorf("%s: the missing first role was found OK", p.key())
		}
	}
	// The event stream agrees: no Verified or Restored event, and no
	// VERIFIED status, for an untrusted role.
	untrusted := map[string]roleKind{}
	for _, p := range r.plan {
		if !p.kind.trusted() {
			untrusted[p.key()] = p.kind
		}
	}
	for _, pe := range r.fakeEB.Accepted() {
		rc, err := decodeReceived(pe.DetailType, pe.Detail)
		if err != nil {
			t.Fatal(err)
		}
		if k, bad := untrusted[rc.ev.TenantID+"/"+rc.ev.AccountID]; bad && (rc.ev.Status == connection.Verified ||
			rc.detailType == string(connection.RoleVerified) || rc.detailType == string(connection.RoleAccessRestored)) {
			t.Errorf("SECURITY: %s event for an untrusted role (%s): %s", rc.detailType, k, rc.raw)
		}
	}
}

// assertFaultsHappened: the faults were really injected, at the rates
// the scenario sets (20% throttling and 5% 5xx from STS, 30% of entries
// refused by EventBridge, one publisher crash), and the races really raced.
func (r *faultRun) assertFaultsHappened() {
	t := r.t
	r.sts.mu.Lock()
	calls, throttled, failed := r.sts.calls, r.sts.codes["Throttling"], r.sts.codes["InternalFailure"]
	r.sts.mu.Unlock()
	put, refused := r.tee.put.Load(), r.tee.refuse.Load()
	t.Logf("STS: %d calls, %d throttled (%.1f%%), %d 5xx (%.1f%%); checks: %d; credentials issued: %d",
		calls, throttled, pct(throttled, calls), failed, pct(failed, calls), r.checks.n, r.creds.issued)
	t.Logf("EventBridge: %d entries put, %d refused (%.1f%%); publisher crashed once on a batch of %d",
		put, refused, pct(int(refused), int(put)), r.crashN.Load())
	if share := pct(throttled, calls); share < 15 || share > 25 {
		t.Errorf("throttled %.1f%% of STS calls, want about 20%%", share)
	}
	if share := pct(failed, calls); share < 2.5 || share > 7.5 {
		t.Errorf("5xx on %.1f%% of STS calls, want about 5%%", share)
	}
	if share := pct(int(refused), int(put)); share < 25 || share > 35 {
		t.Errorf("EventBridge refused %.1f%% of entries, want about 30%%", share)
	}
	if r.crashed.Load() != 1 {
		t.Error("the publisher never crashed")
	}
	conflicts, stale := 0, 0
	for _, rec := range r.records.Records() {
		if rec.Message != "message dropped" {
			continue
		}
		switch reason := rec.Attrs["reason"].String(); {
		case strings.Contains(reason, "changed concurrently"):
			conflicts++
		case strings.Contains(reason, "stale") || strings.Contains(reason, "job for v"):
			stale++
		}
	}
	// The parallel re-checks race hundreds of times, so some always lose
	// at their write. Whether an outdated job also comes back by redelivery
	// and is dropped before its check (stale) depends on how the scheduler
	// orders the goroutines (none did on a loaded machine), so the count is
	// only reported; that route is tested deterministically in package
	// verify.
	t.Logf("verify: %d checks dropped on a version conflict, %d dropped as stale", conflicts, stale)
	if conflicts == 0 {
		t.Error("no version conflict happened: the parallel re-checks did not race")
	}
}

func pct(n, of int) float64 {
	if of == 0 {
		return 0
	}
	return 100 * float64(n) / float64(of)
}

// assertLogs is the log test: no line of the logs (every component, Debug
// level) or of the event stream carries a credential the sandbox issued,
// the partner's signing secret, an invite code, the ops token, or a full
// external ID (nor 16 consecutive characters of one). Operators still see
// what they need: every check's outcome and every transition, by tenant,
// account and role.
func (r *faultRun) assertLogs() {
	t := r.t
	logs, events := r.logs.String(), r.events.String()
	if !strings.Contains(logs, `"level":"DEBUG"`) {
		t.Error("no Debug line captured; the log test would prove nothing")
	}
	type secret struct{ what, value string }
	var secrets []secret
	creds := r.creds.all()
	if len(creds) < 3*r.creds.issued || r.creds.issued == 0 {
		t.Errorf("%d credential values recorded for %d sessions issued", len(creds), r.creds.issued)
	}
	for _, v := range creds {
		secrets = append(secrets, secret{"sandbox-issued credential", v})
	}
	signing, _ := r.srv.Sandbox.CallerSecret(sandboxAccessKey)
	secrets = append(secrets, secret{"partner signing secret", signing}, secret{"ops token", r.srv.OpsToken})
	if r.srv.WorkloadSecretAccessKey != "" {
		secrets = append(secrets, secret{"workload signing secret", r.srv.WorkloadSecretAccessKey})
	}
	_, demoCode, _ := strings.Cut(r.srv.DemoInviteURL, "invite=")
	secrets = append(secrets, secret{"invite code", demoCode})
	for _, tn := range r.tenants {
		secrets = append(secrets, secret{"invite code", tn.code}, secret{"external ID", tn.externalID})
		random := strings.TrimPrefix(tn.externalID, "rc-")
		for i := 0; i+16 <= len(random); i += 4 {
			secrets = append(secrets, secret{"part of an external ID", random[i : i+16]})
		}
	}
	// Every secret is at least 16 bytes long: index the secrets by their
	// first 16 bytes and look up every 16-byte window of the text once.
	const win = 16
	byPrefix := map[string][]secret{}
	for _, s := range secrets {
		if len(s.value) < win {
			t.Fatalf("%s %q is shorter than %d bytes; the scan would miss it", s.what, s.value, win)
		}
		byPrefix[s.value[:win]] = append(byPrefix[s.value[:win]], s)
	}
	found := 0
	for _, src := range []struct{ name, text string }{{"log", logs}, {"event stream", events}} {
		text := src.text
		for i := 0; i+win <= len(text); i++ {
			for _, s := range byPrefix[text[i:i+win]] {
				if !strings.HasPrefix(text[i:], s.value) {
					continue
				}
				found++
				if found <= 10 {
					start := strings.LastIndexByte(text[:i], '\n') + 1
					end := i + strings.IndexByte(text[i:]+"\n", '\n')
					t.Errorf("SECURITY: the %s contains a %s:\n%s", src.name, s.what, text[start:end])
				}
			}
		}
	}
	t.Logf("log test: %d log bytes, %d event bytes, %d secret values checked, %d found", len(logs), len(events), len(secrets), found)

	// What operators need: every transition the worker wrote is logged
	// once, with tenant, account, role, event ID (to find it on the bus),
	// status, reason code and version; every check's outcome is logged
	// with the masked external ID it used.
	written := map[string]connection.Event{}
	for _, h := range r.history {
		for _, ev := range h {
			if ev.DetailType != connection.RoleSubmitted {
				written[ev.EventID] = ev
			}
		}
	}
	masked := map[string]string{}
	for _, tn := range r.tenants {
		masked[tn.id] = tenant.MaskExternalID(tn.externalID)
	}
	logged := map[string]int{}
	checks := 0
	for _, rec := range r.records.Records() {
		attr := func(k string) string {
			if v, ok := rec.Attrs[k]; ok {
				return v.Resolve().String()
			}
			return ""
		}
		switch rec.Message {
		case "connection changed":
			id := attr("eventId")
			ev, ok := written[id]
			if !ok || attr("tenantId") != ev.TenantID || attr("accountId") != ev.AccountID || attr("roleArn") != ev.RoleARN ||
				attr("status") != string(ev.Status) || attr("code") != ev.Reason.Code || attr("version") != fmt.Sprint(ev.Version) {
				t.Errorf("transition log record does not describe a written event: %v", rec.Attrs)
			}
			logged[id]++
		case "role check":
			tn := attr("tenantId")
			if tn == "" || attr("accountId") == "" || attr("roleArn") == "" || attr("result") == "" || attr("externalId") != masked[tn] {
				t.Errorf("check log record lacks tenant, account, role, result or the masked external ID %q: %v", masked[tn], rec.Attrs)
			}
			checks++
		}
	}
	for id, ev := range written {
		if logged[id] != 1 {
			t.Errorf("transition %s (%s of %s/%s v%d) logged %d times", id, ev.DetailType, ev.TenantID, ev.AccountID, ev.Version, logged[id])
		}
	}
	if checks != r.checks.n {
		t.Errorf("%d check outcomes logged, %d checks ran", checks, r.checks.n)
	}
}

func TestFaultScenarioEmbedded(t *testing.T) {
	if testing.Short() {
		t.Skip("the fault scenario takes about 20 s")
	}
	runFaultScenario(t, scenarioSize{tenants: 50, perTenant: 20, converge: 45 * time.Second}, "")
}

func TestFaultScenarioDynamoDBLocal(t *testing.T) {
	endpoint := dynamoDBLocal(t)
	// The same 1000 submissions across 50 tenants as on the embedded
	// store. It takes longer (~45 s on 2 shared cores): the local stream
	// feed reads the table's whole stream (every connection, claim and
	// routine-check write, ~4 records per event, which Lambda's filter
	// would drop), 100 records at a time, and under 30% refusals each
	// batch waits for its retries.
	runFaultScenario(t, scenarioSize{tenants: 50, perTenant: 20, converge: 120 * time.Second}, endpoint)
}
