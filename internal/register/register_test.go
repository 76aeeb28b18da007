package register

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/aws/aws-lambda-go/events"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/onboarding"
	"github.com/rolecall/rolecall/internal/queue"
	"github.com/rolecall/rolecall/internal/registration"
	"github.com/rolecall/rolecall/internal/rolearn"
	"github.com/rolecall/rolecall/internal/store"
	"github.com/rolecall/rolecall/internal/store/storetest"
	"github.com/rolecall/rolecall/internal/tenant"
	"github.com/rolecall/rolecall/internal/testkit/syncbuf"
)

const (
	partnerAcct = "999988887777"
	custAcct    = "111122223333"
	custRole    = "arn:aws:iam::111122223333:role/RoleCallAccess"
	custRole2   = "arn:aws:iam::111122223333:role/RoleCallAccess2"
	stackID     = "arn:aws:cloudformation:us-east-1:111122223333:stack/rolecall/0a1b2c3d-4e5f-6789-abcd-ef0123456789"
)

// recorder is a Sender that keeps what it was asked to send. Like an
// HTTP client, it sends nothing on a context that is done.
type recorder struct {
	mu      sync.Mutex
	answers []sent
	err     error
	timeout time.Duration // AnswerTimeout (0: DefaultAnswerTimeout)
}

type sent struct {
	url  string
	body map[string]any
	raw  []byte
	at   time.Time // the wall clock's time of the PUT
}

// Accept accepts the ResponseURLs a Responder with the zero URLPolicy
// answers to.
func (r *recorder) Accept(url string) error { return (&Responder{}).Accept(url) }

func (r *recorder) AnswerTimeout() time.Duration {
	if r.timeout > 0 {
		return r.timeout
	}
	return DefaultAnswerTimeout
}

func (r *recorder) Respond(ctx context.Context, url string, body []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return r.err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		return err
	}
	r.answers = append(r.answers, sent{url: url, body: m, raw: body, at: time.Now()})
	return nil
}

func (r *recorder) last(t *testing.T) map[string]any {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.answers) == 0 {
		t.Fatal("nothing was answered")
	}
	return r.answers[len(r.answers)-1].body
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.answers)
}

// env is a handler over a store (the embedded one unless newEnvOn says
// otherwise), with a clock the fake sleep advances and an optional check
// that runs when the handler waits.
type env struct {
	t      *testing.T
	st     storetest.Adapter
	regs   *onboarding.Registrations
	svc    *onboarding.Service
	h      *Handler
	rec    *recorder
	logs   *syncbuf.Buffer
	now    time.Time
	onWait func() // runs at each wait of the handler (a check finishing)
	waits  int
}

func newEnv(t *testing.T) *env { return newEnvOn(t, storetest.NewMemory()) }

func newEnvOn(t *testing.T, st storetest.Adapter) *env {
	e := &env{t: t, st: st, rec: &recorder{}, logs: &syncbuf.Buffer{}, now: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
	e.svc = &onboarding.Service{Store: e.st, Queue: queue.NewMemory(), Policy: connection.DefaultPolicy(),
		Rules: rolearn.Rules{Partition: "aws", OwnAccount: partnerAcct}, Now: func() time.Time { return e.now }}
	e.regs = &onboarding.Registrations{Service: e.svc, Tokens: e.st}
	e.h = &Handler{
		Registrar: e.regs, Onboarding: e.svc, Answers: e.st, Sender: e.rec,
		Wait: 10 * time.Second, Poll: time.Second,
		Clock: envClock{e},
		Log:   slog.New(slog.NewTextHandler(e.logs, nil)),
	}
	return e
}

// envClock is the env's simulated clock: a wait moves it on at once and
// runs onWait.
type envClock struct{ e *env }

func (c envClock) Now() time.Time { return c.e.now }

func (c envClock) Sleep(_ context.Context, d time.Duration) error {
	c.e.waits++
	c.e.now = c.e.now.Add(d)
	if c.e.onWait != nil {
		c.e.onWait()
	}
	return nil
}

func (e *env) tenant(id string) tenant.Tenant {
	e.t.Helper()
	tn, err := e.svc.CreateTenant(context.Background(), id, "Tenant "+id)
	if err != nil {
		e.t.Fatal(err)
	}
	return tn
}

func (e *env) token(tenantID string) (string, registration.Token) {
	e.t.Helper()
	s, tok, err := e.regs.CreateToken(context.Background(), tenantID, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	return s, tok
}

// withField returns the JSON message b with its top-level field key set to
// v.
func withField(b []byte, key string, v any) []byte {
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	m[key] = v
	out, _ := json.Marshal(m)
	return out
}

// acmeToken creates tenant acme and returns the secret of a registration
// token for it.
func (e *env) acmeToken() string {
	e.t.Helper()
	e.tenant("acme")
	secret, _ := e.token("acme")
	return secret
}

// create handles a Create request (req-1) registering custRole with the
// token secret.
func (e *env) create(secret string) {
	e.t.Helper()
	if err := e.h.HandleMessage(context.Background(), msg("Create", "req-1", "", props(custRole, secret))); err != nil {
		e.t.Fatal(err)
	}
}

// check makes the verify worker's decision for the connection's current
// version: the result is applied through the lifecycle policy.
func (e *env) check(tenantID, account string, r connection.Result) {
	e.t.Helper()
	if err := e.apply(tenantID, account, r); err != nil {
		e.t.Fatal(err)
	}
}

// outcome reads the connection and returns it with the outcome of a check
// with result r, as the verify worker makes it.
func (e *env) outcome(tenantID, account string, r connection.Result) (connection.Connection, connection.Outcome) {
	e.t.Helper()
	c, err := e.st.GetConnection(context.Background(), tenantID, account)
	if err != nil {
		e.t.Fatal(err)
	}
	tn, err := e.st.GetTenant(context.Background(), tenantID)
	if err != nil {
		e.t.Fatal(err)
	}
	return c, connection.Outcome{Result: r, Version: c.Version, ExternalIDVersion: tn.ExternalIDVersion, ExternalIDCurrent: true, CheckedAt: e.now}
}

// apply is check returning the store's error.
func (e *env) apply(tenantID, account string, r connection.Result) error {
	e.t.Helper()
	tr, err := e.svc.Policy.Apply(e.outcome(tenantID, account, r))
	if err != nil {
		e.t.Fatal(err)
	}
	return e.st.Apply(context.Background(), tr)
}

// msg is a custom-resource request as CloudFormation sends it.
func msg(requestType, requestID, physicalID string, props map[string]any) []byte {
	m := map[string]any{
		"RequestType": requestType, "RequestId": requestID, "ResponseURL": goodURL,
		"ResourceType": ResourceType, "LogicalResourceId": "RoleCallRegistration", "StackId": stackID,
		"ResourceProperties": props,
	}
	if physicalID != "" {
		m["PhysicalResourceId"] = physicalID
	}
	b, _ := json.Marshal(m)
	return b
}

func props(role, token string) map[string]any {
	return map[string]any{"ServiceToken": "arn:aws:sns:us-east-1:999988887777:rolecall-dev-registration", "RoleArn": role, "RegistrationToken": token}
}

func (e *env) events(tenantID string) []connection.Event {
	evs, err := e.st.Events(context.Background(), tenantID, custAcct)
	if err != nil {
		e.t.Fatal(err)
	}
	return evs
}

func TestCreateVerified(t *testing.T) {
	e := newEnv(t)
	secret := e.acmeToken()
	e.onWait = func() {
		if e.waits == 2 { // the check finishes two polls after the submission
			e.check("acme", custAcct, connection.ResultOK)
		}
	}
	e.create(secret)
	got := e.rec.last(t)
	if got["Status"] != "SUCCESS" || got["PhysicalResourceId"] != "acme/"+custAcct || got["RequestId"] != "req-1" ||
		got["StackId"] != stackID || got["LogicalResourceId"] != "RoleCallRegistration" {
		t.Fatalf("answer = %v", got)
	}
	if d, _ := got["Data"].(map[string]any); d["Status"] != "VERIFIED" || d["TenantId"] != "acme" || d["AccountId"] != custAcct {
		t.Fatalf("Data = %v", got["Data"])
	}
	if e.rec.answers[0].url != goodURL {
		t.Fatalf("answered to %q", e.rec.answers[0].url)
	}
	c, _ := e.st.GetConnection(context.Background(), "acme", custAcct)
	if c.Status != connection.Verified || c.RoleARN != custRole {
		t.Fatalf("connection = %+v", c)
	}
	if strings.Contains(e.logs.String(), secret) {
		t.Fatal("the registration token was logged")
	}
}

func TestCreateCheckFailsAnswersHint(t *testing.T) {
	e := newEnv(t)
	secret := e.acmeToken()
	e.onWait = func() {
		if e.waits == 1 {
			e.check("acme", custAcct, connection.ResultNotEnforced)
		}
	}
	e.create(secret)
	got := e.rec.last(t)
	reason, _ := got["Reason"].(string)
	if got["Status"] != "FAILED" || !strings.HasPrefix(reason, "EXTERNAL_ID_NOT_ENFORCED: ") || got["PhysicalResourceId"] != "acme/"+custAcct {
		t.Fatalf("answer = %v", got)
	}
	// The rollback deletes the resource: that disconnects the connection.
	if err := e.h.HandleMessage(context.Background(), msg("Delete", "req-2", "acme/"+custAcct, props(custRole, secret))); err != nil {
		t.Fatal(err)
	}
	if got := e.rec.last(t); got["Status"] != "SUCCESS" {
		t.Fatalf("delete answer = %v", got)
	}
	c, _ := e.st.GetConnection(context.Background(), "acme", custAcct)
	if c.Status != connection.Disconnected || c.Reason.Code != onboarding.CodeStackDeleted {
		t.Fatalf("after rollback: %+v", c)
	}
}

func TestCreateStillPendingAnswersSuccess(t *testing.T) {
	e := newEnv(t)
	secret := e.acmeToken()
	e.create(secret)
	got := e.rec.last(t)
	if d, _ := got["Data"].(map[string]any); got["Status"] != "SUCCESS" || d["Status"] != "PENDING" {
		t.Fatalf("answer = %v", got)
	}
	if want := int(e.h.Wait / e.h.Poll); e.waits != want {
		t.Fatalf("waited %d times, want %d (Wait/Poll): the wait is not bounded", e.waits, want)
	}
}

// liveAnswers is the env's answer store refusing, as DynamoDB's client
// does, to read or record on a context that is done.
type liveAnswers struct{ Answers }

func (a liveAnswers) GetRegistrationAnswer(ctx context.Context, key string) (registration.Answer, error) {
	if err := ctx.Err(); err != nil {
		return registration.Answer{}, err
	}
	return a.Answers.GetRegistrationAnswer(ctx, key)
}

func (a liveAnswers) PutRegistrationAnswer(ctx context.Context, key string, ans registration.Answer) (registration.Answer, error) {
	if err := ctx.Err(); err != nil {
		return registration.Answer{}, err
	}
	return a.Answers.PutRegistrationAnswer(ctx, key, ans)
}

// TestWaitEndsBeforeTheDeadline: with the role's check still PENDING, the
// wait ends after Wait or AnswerReserve before the invocation's deadline,
// whichever is first, so the answer is recorded and PUT once, SUCCESS
// PENDING, with the PUT's whole timeout still ahead of the deadline. The
// clock is the bubble's: the waits take no real time.
func TestWaitEndsBeforeTheDeadline(t *testing.T) {
	const put = 10 * time.Second // the Sender's AnswerTimeout
	reserve := AnswerReserve(put)
	tests := []struct {
		name     string
		timeout  time.Duration // the invocation's deadline (0: none)
		wait     time.Duration
		answerAt time.Duration // when the answer is sent, from the start
	}{
		{"deadline shorter than the wait", 90 * time.Second, time.Hour, 90*time.Second - reserve},
		{"deadline nearer than the reserve: no wait", reserve - time.Second, time.Minute, 0},
		{"deadline just past the reserve", reserve + 3*time.Second, time.Minute, 3 * time.Second},
		{"wait shorter than the deadline", 5 * time.Minute, time.Minute, time.Minute},
		{"no deadline: the wait", 0, 30 * time.Second, 30 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := newEnv(t)
				e.h.Clock = nil // the wall clock: the bubble's
				e.h.Wait, e.h.Poll = tc.wait, 2*time.Second
				e.h.Answers = liveAnswers{e.st}
				e.rec.timeout = put
				secret := e.acmeToken()
				ctx := context.Background()
				if tc.timeout > 0 {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, tc.timeout)
					defer cancel()
				}
				start := time.Now()
				m := msg("Create", "req-1", "", props(custRole, secret))
				if err := e.h.HandleMessage(ctx, m); err != nil {
					t.Fatalf("HandleMessage: %v", err)
				}
				if n := e.rec.count(); n != 1 {
					t.Fatalf("%d answers, want 1", n)
				}
				got := e.rec.answers[0]
				if d, _ := got.body["Data"].(map[string]any); got.body["Status"] != "SUCCESS" || d["Status"] != "PENDING" {
					t.Fatalf("answer = %v, want SUCCESS with Status PENDING", got.body)
				}
				if at := got.at.Sub(start); at != tc.answerAt {
					t.Errorf("answered %v after the start, want %v", at, tc.answerAt)
				}
				if dl, ok := ctx.Deadline(); ok && dl.Sub(got.at) < put {
					t.Errorf("answered %v before the deadline, less than the PUT's %v", dl.Sub(got.at), put)
				}
				rec, err := e.st.GetRegistrationAnswer(context.Background(), answerKey(mustEvent(t, m)))
				if err != nil || rec.Data["Status"] != "PENDING" {
					t.Fatalf("recorded answer %+v, %v; want the PENDING answer", rec, err)
				}
			})
		})
	}
}

// A context cancelled during the wait ends it with an error (Lambda
// retries the event) and nothing is answered on it.
func TestWaitCancelled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.h.Clock = nil
		e.h.Wait = time.Minute
		secret := e.acmeToken()
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(5*time.Second, cancel)
		err := e.h.HandleMessage(ctx, msg("Create", "req-1", "", props(custRole, secret)))
		if !errors.Is(err, context.Canceled) || e.rec.count() != 0 {
			t.Fatalf("err = %v, %d answers; want context.Canceled and none", err, e.rec.count())
		}
	})
}

func TestNoWait(t *testing.T) {
	e := newEnv(t)
	e.h.Wait = -1
	secret := e.acmeToken()
	e.create(secret)
	if e.waits != 0 || e.rec.last(t)["Status"] != "SUCCESS" {
		t.Fatalf("waits %d, answer %v", e.waits, e.rec.last(t))
	}
}

// Hostile and broken Create requests answer FAILED with an actionable
// reason and store nothing.
func TestCreateRefusals(t *testing.T) {
	e := newEnv(t)
	e.tenant("acme")
	e.tenant("other")
	secret, _ := e.token("acme")
	revokedSecret, revoked := e.token("acme")
	if _, err := e.regs.RevokeToken(context.Background(), "acme", revoked.ID); err != nil {
		t.Fatal(err)
	}
	shortSecret, _, err := e.regs.CreateToken(context.Background(), "acme", registration.MinTTL)
	if err != nil {
		t.Fatal(err)
	}
	otherSecret, _ := e.token("other")
	forged, _, _ := registration.New("acme", e.now, 0) // well formed, never stored
	withStack := func(stack string, p map[string]any) []byte {
		return withField(msg("Create", "req-x", "", p), "StackId", stack)
	}
	tests := []struct {
		name     string
		message  []byte
		wantCode string
		advance  time.Duration
		says     string // in the reason, when set
	}{
		{"wrong token", msg("Create", "r1", "", props(custRole, forged)), onboarding.CodeInvalidToken, 0, ""},
		{"malformed token", msg("Create", "r2", "", props(custRole, "rcr_short")), onboarding.CodeInvalidToken, 0, ""},
		{"invite code as token", msg("Create", "r3", "", props(custRole, strings.Repeat("a", 39))), onboarding.CodeInvalidToken, 0, ""},
		{"revoked token", msg("Create", "r4", "", props(custRole, revokedSecret)), onboarding.CodeTokenRevoked, 0, ""},
		{"missing token", msg("Create", "r6", "", map[string]any{"RoleArn": custRole}), CodeInvalidRequest, 0, ""},
		{"token not a string", msg("Create", "r7", "", map[string]any{"RoleArn": custRole, "RegistrationToken": 7}), CodeInvalidRequest, 0, ""},
		{"missing role", msg("Create", "r8", "", map[string]any{"RegistrationToken": secret}), CodeInvalidRequest, 0, ""},
		{"stack in another account", withStack("arn:aws:cloudformation:us-east-1:444455556666:stack/rc/1", props(custRole, secret)), CodeStackAccountMismatch, 0,
			"account 111122223333 of partition aws but the stack runs in account 444455556666 of partition aws"},
		{"stack in another partition", withStack("arn:aws-cn:cloudformation:cn-north-1:111122223333:stack/rc/1", props(custRole, secret)), CodeStackAccountMismatch, 0,
			"of partition aws but the stack runs in account 111122223333 of partition aws-cn"},
		{"stack id not an ARN", withStack("rolecall", props(custRole, secret)), CodeInvalidRequest, 0, ""},
		// What no CloudFormation request carries is refused before it is
		// recorded on a connection: the stack and its resource go into
		// every check job, and SQS refuses a message body holding U+FFFF.
		{"stack name not CloudFormation's", withStack("arn:aws:cloudformation:us-east-1:111122223333:stack/rc\uffff/1", props(custRole, secret)), CodeInvalidRequest, 0, ""},
		{"stack name starting with a digit", withStack("arn:aws:cloudformation:us-east-1:111122223333:stack/1rc/1", props(custRole, secret)), CodeInvalidRequest, 0, ""},
		{"stack id with a control character", withStack("arn:aws:cloudformation:us-east-1:111122223333:stack/rc/1\u0000", props(custRole, secret)), CodeInvalidRequest, 0, ""},
		{"stack id with a space", withStack("arn:aws:cloudformation:us-east-1:111122223333:stack/rc/a b", props(custRole, secret)), CodeInvalidRequest, 0, ""},
		{"logical ID not CloudFormation's", withField(msg("Create", "r12", "", props(custRole, secret)), "LogicalResourceId", "Role\uffffCall"), CodeInvalidRequest, 0, ""},
		{"logical ID with a hyphen", withField(msg("Create", "r13", "", props(custRole, secret)), "LogicalResourceId", "Role-Call"), CodeInvalidRequest, 0, ""},
		{"user ARN", msg("Create", "r9", "", props("arn:aws:iam::111122223333:user/alice", secret)), "NOT_A_ROLE", 0, ""},
		{"partner's own account", withStack("arn:aws:cloudformation:us-east-1:999988887777:stack/rc/1", props("arn:aws:iam::999988887777:role/X", secret)), "OWN_ACCOUNT", 0, ""},
		{"unknown request type", msg("Replace", "r10", "", props(custRole, secret)), CodeInvalidRequest, 0, ""},
		// Last: it moves the clock past the short token's expiry.
		{"expired token", msg("Create", "r5", "", props(custRole, shortSecret)), onboarding.CodeTokenExpired, registration.MinTTL, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e.now = e.now.Add(tc.advance)
			before := e.rec.count()
			if err := e.h.HandleMessage(context.Background(), tc.message); err != nil {
				t.Fatal(err)
			}
			if e.rec.count() != before+1 {
				t.Fatal("not answered")
			}
			got := e.rec.last(t)
			reason, _ := got["Reason"].(string)
			if got["Status"] != "FAILED" || !strings.HasPrefix(reason, tc.wantCode+": ") || !strings.Contains(reason, tc.says) {
				t.Fatalf("answer = %v, want FAILED %s saying %q", got, tc.wantCode, tc.says)
			}
			if id, _ := got["PhysicalResourceId"].(string); !strings.HasPrefix(id, "rolecall-unregistered-") {
				t.Fatalf("a failed Create answered the physical ID %q", id)
			}
			// A refusal made before a token authenticated writes nothing
			// (anyone can publish such noise), and the same request gets
			// the same answer again; one made after is recorded.
			_, err := e.st.GetRegistrationAnswer(context.Background(), answerKey(mustEvent(t, tc.message)))
			preAuth := slices.Contains([]string{onboarding.CodeInvalidToken, onboarding.CodeTokenRevoked, onboarding.CodeTokenExpired, CodeInvalidRequest}, tc.wantCode)
			if recorded := err == nil; recorded == preAuth {
				t.Errorf("answer recorded: %v (%v), want %v", recorded, err, !preAuth)
			}
			first := e.rec.answers[e.rec.count()-1].raw
			if err := e.h.HandleMessage(context.Background(), tc.message); err != nil {
				t.Fatal(err)
			}
			if again := e.rec.answers[e.rec.count()-1].raw; string(again) != string(first) {
				t.Errorf("the same request answered\n%s\nthen\n%s", first, again)
			}
		})
	}
	for _, tn := range []string{"acme", "other"} {
		if p, _ := e.st.ListByTenant(context.Background(), tn, "", 10); len(p.Items) != 0 {
			t.Fatalf("refused requests stored connections for %s: %+v", tn, p.Items)
		}
	}
	// Another tenant's valid token registers for that tenant only.
	if err := e.h.HandleMessage(context.Background(), msg("Create", "r11", "", props(custRole, otherSecret))); err != nil {
		t.Fatal(err)
	}
	if got := e.rec.last(t); got["PhysicalResourceId"] != "other/"+custAcct {
		t.Fatalf("other tenant's token: %v", got)
	}
	if p, _ := e.st.ListByTenant(context.Background(), "acme", "", 10); len(p.Items) != 0 {
		t.Fatal("another tenant's token registered for acme")
	}
}

// Messages that cannot be answered are dropped, logged, and never sent.
func TestDropped(t *testing.T) {
	e := newEnv(t)
	secret := e.acmeToken()
	withURL := func(u string) []byte {
		return withField(msg("Create", "req-1", "", props(custRole, secret)), "ResponseURL", u)
	}
	tests := []struct {
		name string
		msg  []byte
	}{
		{"oversized", append(msg("Create", "req-1", "", props(custRole, secret)), bytes.Repeat([]byte(" "), MaxMessage)...)},
		{"not JSON", []byte("{")},
		{"JSON array", []byte("[]")},
		{"no ResponseURL", withURL("")},
		{"look-alike host", withURL("https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com.evil.example/x")},
		{"userinfo trick", withURL("https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com@evil.example/x")},
		{"IP literal", withURL("https://169.254.169.254/latest")},
		{"http", withURL("http://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/x")},
		{"loopback outside the sandbox", withURL("http://127.0.0.1:9/x")},
		{"no RequestId", msg("Create", "", "", props(custRole, secret))},
		// Within the length limits, but JSON escapes '<' six-fold: no
		// answer could fit CloudFormation's 4096 bytes.
		{"identifiers too long once encoded", withField(msg("Create", strings.Repeat("<", 256), "", props(custRole, secret)), "StackId",
			"arn:aws:cloudformation:us-east-1:"+custAcct+":stack/"+strings.Repeat("<", 900)+"/x")},
		{"a physical ID too long once encoded", msg("Update", "req-1", strings.Repeat("<", 700), props(custRole, secret))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := e.h.HandleMessage(context.Background(), tc.msg)
			if !errors.Is(err, ErrDropped) {
				t.Fatalf("err = %v, want ErrDropped", err)
			}
		})
	}
	if e.rec.count() != 0 {
		t.Fatalf("%d dropped messages were answered", e.rec.count())
	}
	if p, _ := e.st.ListByTenant(context.Background(), "acme", "", 10); len(p.Items) != 0 {
		t.Fatal("a dropped message stored a connection")
	}
	if strings.Contains(e.logs.String(), secret) || strings.Contains(e.logs.String(), "X-Amz-Signature") {
		t.Fatal("a secret or a presigned signature was logged")
	}
	// HandleSNS logs drops and does not ask Lambda to retry them.
	if err := e.h.HandleSNS(context.Background(), events.SNSEvent{Records: []events.SNSEventRecord{{SNS: events.SNSEntity{Message: "{"}}}}); err != nil {
		t.Fatalf("HandleSNS retried a dropped message: %v", err)
	}
}

// TestStaleRequestIsDropped: a Create that SNS delivers after
// CloudFormation stopped waiting for it (the resource's ServiceTimeout,
// an hour by default, after it was published) registers nothing and is
// not answered; one still in time is registered, and its wait for the
// first check ends in time to answer.
func TestStaleRequestIsDropped(t *testing.T) {
	reserve := AnswerReserve(DefaultAnswerTimeout)
	tests := []struct {
		name           string
		serviceTimeout any // the property; nil: absent
		age            time.Duration
		registered     bool
		maxWaits       int
		requestType    string // "": Create
	}{
		{"fresh", "900", time.Minute, true, 10, ""},
		{"after the ServiceTimeout", "900", 50 * time.Minute, false, 0, ""},
		{"too late to answer in time", "900", 900*time.Second - reserve + time.Second, false, 0, ""},
		{"the wait ends before CloudFormation's", "900", 900*time.Second - reserve - 3*time.Second, true, 3, ""},
		{"no ServiceTimeout: an hour", nil, 50 * time.Minute, true, 10, ""},
		{"no ServiceTimeout, after an hour", nil, 61 * time.Minute, false, 0, ""},
		{"a ServiceTimeout out of range: an hour", "7200", 61 * time.Minute, false, 0, ""},
		{"an Update after the ServiceTimeout", "900", 50 * time.Minute, false, 0, "Update"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			secret := e.acmeToken()
			p := props(custRole, secret)
			if tt.serviceTimeout != nil {
				p["ServiceTimeout"] = tt.serviceTimeout
			}
			req := msg("Create", "req-1", "", p)
			if tt.requestType == "Update" {
				req = msg("Update", "req-1", "acme/"+custAcct, p)
			}
			ev := events.SNSEvent{Records: []events.SNSEventRecord{{SNS: events.SNSEntity{MessageID: "m1",
				Message: string(req), Timestamp: e.now.Add(-tt.age)}}}}
			if err := e.h.HandleSNS(context.Background(), ev); err != nil {
				t.Fatal(err)
			}
			_, err := e.st.GetConnection(context.Background(), "acme", custAcct)
			if registered := err == nil; registered != tt.registered {
				t.Fatalf("registered %v, want %v (%v)", registered, tt.registered, err)
			}
			if answered := e.rec.count() > 0; answered != tt.registered {
				t.Errorf("answered %v, want %v", answered, tt.registered)
			}
			if e.waits > tt.maxWaits {
				t.Errorf("waited %d times, want at most %d", e.waits, tt.maxWaits)
			}
		})
	}
}

// The same request delivered twice: one connection, one event, the same
// answer.
func TestDuplicateDelivery(t *testing.T) {
	e := newEnv(t)
	secret := e.acmeToken()
	m := msg("Create", "req-1", "", props(custRole, secret))
	ev := events.SNSEvent{Records: []events.SNSEventRecord{{SNS: events.SNSEntity{MessageID: "m1", Message: string(m)}}}}
	if err := e.h.HandleSNS(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	// Between the deliveries the check verifies the role: answering anew
	// would say VERIFIED; the redelivery gets the recorded first answer.
	e.check("acme", custAcct, connection.ResultOK)
	if err := e.h.HandleSNS(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	if e.rec.count() != 2 || !bytes.Equal(e.rec.answers[0].raw, e.rec.answers[1].raw) {
		t.Fatalf("answers differ: %s vs %s", e.rec.answers[0].raw, e.rec.answers[1].raw)
	}
	if evs := e.events("acme"); len(evs) != 2 || evs[0].DetailType != connection.RoleSubmitted {
		t.Fatalf("events = %d (%v); want one submission and its verification", len(evs), evs)
	}
	// A new request (another RequestId) with the same role is a no-op submission.
	if err := e.h.HandleMessage(context.Background(), msg("Create", "req-2", "", props(custRole, secret))); err != nil {
		t.Fatal(err)
	}
	if evs := e.events("acme"); len(evs) != 2 {
		t.Fatalf("resubmitting the same role added events: %d", len(evs))
	}
}

// A failed answer PUT is returned for a retry (by Lambda, or by whoever
// posted to the sandbox's topic, where it is a CodeAnswerNotSent refusal
// naming why, not an internal error); the retry sends the recorded answer
// without submitting again.
func TestAnswerFailureRetries(t *testing.T) {
	tests := []struct {
		name    string
		deliver func(e *env, m []byte) error
		refusal bool // a CodeAnswerNotSent *onboarding.Error
	}{
		{"SNS to the Lambda", func(e *env, m []byte) error {
			return e.h.HandleSNS(context.Background(), events.SNSEvent{Records: []events.SNSEventRecord{{SNS: events.SNSEntity{MessageID: "m1", Message: string(m)}}}})
		}, false},
		{"the sandbox's topic", func(e *env, m []byte) error {
			envelope, _ := json.Marshal(map[string]string{"Type": "Notification", "Message": string(m)})
			return e.h.Notify(context.Background(), envelope)
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.h.Wait = -1
			m := msg("Create", "req-1", "", props(custRole, e.acmeToken()))
			e.rec.err = errors.New("answer to bucket.test: HTTP 503")
			err := tt.deliver(e, m)
			var oe *onboarding.Error
			if err == nil || !errors.Is(err, ErrAnswerNotSent) || errors.As(err, &oe) != tt.refusal ||
				(tt.refusal && (oe.Code != onboarding.CodeAnswerNotSent || !strings.Contains(oe.Message, "HTTP 503"))) {
				t.Fatalf("a failed answer: %v; want ErrAnswerNotSent (a %s refusal saying why: %v)", err, onboarding.CodeAnswerNotSent, tt.refusal)
			}
			e.rec.err = nil
			if err := tt.deliver(e, m); err != nil {
				t.Fatal(err)
			}
			if e.rec.last(t)["Status"] != "SUCCESS" || len(e.events("acme")) != 1 {
				t.Fatalf("retry: %v, %d events", e.rec.last(t), len(e.events("acme")))
			}
		})
	}
}

func TestUpdate(t *testing.T) {
	e, secret := newVerifiedAcme(t)

	// A new role in the same account: submitted as the verified
	// connection's candidate (the verified role stays in use until the new
	// one verifies); the physical ID stays.
	if err := e.h.HandleMessage(context.Background(), msg("Update", "req-2", "acme/"+custAcct, props(custRole2, secret))); err != nil {
		t.Fatal(err)
	}
	got := e.rec.last(t)
	if got["Status"] != "SUCCESS" || got["PhysicalResourceId"] != "acme/"+custAcct {
		t.Fatalf("update answer = %v", got)
	}
	evs := e.events("acme")
	if last := evs[len(evs)-1]; last.DetailType != connection.RoleSubmitted || last.RoleARN != custRole || last.CandidateRoleARN != custRole2 {
		t.Fatalf("the new role was not submitted: %+v", last)
	}

	// A new token re-authenticates; a revoked one is refused and keeps the ID.
	secret2, tok2 := e.token("acme")
	if err := e.h.HandleMessage(context.Background(), msg("Update", "req-3", "acme/"+custAcct, props(custRole2, secret2))); err != nil {
		t.Fatal(err)
	}
	if got := e.rec.last(t); got["Status"] != "SUCCESS" {
		t.Fatalf("new token: %v", got)
	}
	if _, err := e.regs.RevokeToken(context.Background(), "acme", tok2.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.h.HandleMessage(context.Background(), msg("Update", "req-4", "acme/"+custAcct, props(custRole, secret2))); err != nil {
		t.Fatal(err)
	}
	if got := e.rec.last(t); got["Status"] != "FAILED" || got["PhysicalResourceId"] != "acme/"+custAcct ||
		!strings.HasPrefix(got["Reason"].(string), onboarding.CodeTokenRevoked) {
		t.Fatalf("revoked token update: %v", got)
	}
}

// checkCandidate makes the verify worker's decision on the connection's
// pending candidate.
func (e *env) checkCandidate(tenantID, account string, r connection.Result) {
	e.t.Helper()
	tr, step, err := e.svc.Policy.ApplyCandidate(e.outcome(tenantID, account, r))
	if err != nil || step != connection.CandidateWrite {
		e.t.Fatalf("apply %s to the candidate: step %v, %v", r, step, err)
	}
	if err := e.st.Apply(context.Background(), tr); err != nil {
		e.t.Fatal(err)
	}
}

// TestUpdateAwaitsTheCandidate: a new role for a VERIFIED connection is
// its candidate, and the answer is about that role: the stack waits for
// its check, is told FAILED with the hint when RoleCall cannot use it (so
// CloudFormation rolls back, the verified role untouched), SUCCESS once it
// replaced the verified role, and SUCCESS at once when it submits the role
// in use although an earlier candidate failed.
func TestUpdateAwaitsTheCandidate(t *testing.T) {
	tests := []struct {
		name       string
		role       string
		candidate  connection.Result // the candidate's check, at the first wait ("": none)
		wantStatus string
		wantData   string // Data.Status; "" for a FAILED answer
		wantReason string // prefix of the FAILED answer's Reason
		wantRole   string // the connection's role after
		wantWaits  int
	}{
		{"the candidate verifies", custRole2, connection.ResultOK, "SUCCESS", "VERIFIED", "", custRole2, 1},
		{"the candidate does not enforce the external ID", custRole2, connection.ResultNotEnforced, "FAILED", "", string(connection.ResultNotEnforced), custRole, 1},
		{"the candidate is still checked when the wait ends", custRole2, "", "SUCCESS", "PENDING", "", custRole, 10},
		{"the role in use, beside a failed candidate", custRole, "", "SUCCESS", "VERIFIED", "", custRole, 0},
		// At the first wait the form submits a third role, which replaces
		// the stack's candidate.
		{"the candidate replaced by another submission", custRole2, "supersede", "FAILED", "", CodeRoleSuperseded, custRole, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, secret := newVerifiedAcme(t)
			if tt.role == custRole {
				// An earlier Update's candidate failed and stays on the
				// connection, FAILED with its reason.
				if err := e.h.HandleMessage(context.Background(), msg("Update", "req-0", "acme/"+custAcct, props(custRole2, secret))); err != nil {
					t.Fatal(err)
				}
				e.checkCandidate("acme", custAcct, connection.ResultNotEnforced)
			}
			e.h.Wait = 10 * e.h.Poll
			e.waits = 0
			e.onWait = func() {
				switch {
				case e.waits != 1 || tt.candidate == "":
				case tt.candidate == "supersede":
					tn, _ := e.st.GetTenant(context.Background(), "acme")
					if _, err := e.svc.Submit(context.Background(), tn, "arn:aws:iam::"+custAcct+":role/ThirdRole"); err != nil {
						t.Fatal(err)
					}
				default:
					e.checkCandidate("acme", custAcct, tt.candidate)
				}
			}
			if err := e.h.HandleMessage(context.Background(), msg("Update", "req-2", "acme/"+custAcct, props(tt.role, secret))); err != nil {
				t.Fatal(err)
			}
			got := e.rec.last(t)
			data, _ := got["Data"].(map[string]any)
			reason, _ := got["Reason"].(string)
			if got["Status"] != tt.wantStatus || got["PhysicalResourceId"] != "acme/"+custAcct || (tt.wantData != "" && data["Status"] != tt.wantData) ||
				!strings.HasPrefix(reason, tt.wantReason) {
				t.Errorf("answer %v, want %s with Data.Status %q, Reason %q…", got, tt.wantStatus, tt.wantData, tt.wantReason)
			}
			if e.waits != tt.wantWaits {
				t.Errorf("waited %d times, want %d", e.waits, tt.wantWaits)
			}
			if c, _ := e.st.GetConnection(context.Background(), "acme", custAcct); c.RoleARN != tt.wantRole || c.Status != connection.Verified {
				t.Errorf("connection %s on %s, want VERIFIED on %s", c.Status, c.RoleARN, tt.wantRole)
			}
		})
	}
}

// flakyRegistrar fails the first call of the method fail names with an
// internal error (a throttled table), then is the real Registrar.
type flakyRegistrar struct {
	Registrar
	fail   string // "AuthenticateDeletion" or "StackRoleDeleted"
	failed bool
}

var errThrottled = errors.New("dynamodb: throttled")

func (f *flakyRegistrar) flake(method string) bool {
	if f.fail == method && !f.failed {
		f.failed = true
		return true
	}
	return false
}

func (f *flakyRegistrar) AuthenticateDeletion(ctx context.Context, secret string) (tenant.Tenant, registration.Token, error) {
	if f.flake("AuthenticateDeletion") {
		return tenant.Tenant{}, registration.Token{}, errThrottled
	}
	return f.Registrar.AuthenticateDeletion(ctx, secret)
}

func (f *flakyRegistrar) StackRoleDeleted(ctx context.Context, t tenant.Tenant, accountID, roleARN, stackID, resource string) (connection.Connection, onboarding.StackDeletion, error) {
	if f.flake("StackRoleDeleted") {
		return connection.Connection{}, 0, errThrottled
	}
	return f.Registrar.StackRoleDeleted(ctx, t, accountID, roleARN, stackID, resource)
}

// TestDeleteRetriesAnInternalError: a store error while a Delete undoes
// its registration is answered SUCCESS at once (the stack's deletion goes
// on) but not recorded, and returned, so Lambda's retry undoes the
// registration instead of replaying an answer for an undo that never
// happened. The error is logged.
func TestDeleteRetriesAnInternalError(t *testing.T) {
	for _, method := range []string{"AuthenticateDeletion", "StackRoleDeleted"} {
		t.Run(method, func(t *testing.T) {
			e, secret := newVerifiedAcme(t)
			e.h.Registrar = &flakyRegistrar{Registrar: e.regs, fail: method}
			del := msg("Delete", "d1", "acme/"+custAcct, props(custRole, secret))
			err := e.h.HandleMessage(context.Background(), del)
			if !errors.Is(err, errThrottled) {
				t.Fatalf("first delivery: %v, want the store's error for a retry", err)
			}
			if got := e.rec.last(t); got["Status"] != "SUCCESS" {
				t.Fatalf("first delivery answered %v, want SUCCESS", got)
			}
			if c, _ := e.st.GetConnection(context.Background(), "acme", custAcct); c.Status != connection.Verified {
				t.Fatalf("connection %s after the failed undo", c.Status)
			}
			if err := e.h.HandleMessage(context.Background(), del); err != nil {
				t.Fatalf("retry: %v", err)
			}
			if c, _ := e.st.GetConnection(context.Background(), "acme", custAcct); c.Status != connection.Disconnected || c.Reason.Code != onboarding.CodeStackDeleted {
				t.Errorf("after the retry the connection is %s %s, want DISCONNECTED %s", c.Status, c.Reason.Code, onboarding.CodeStackDeleted)
			}
			if !strings.Contains(e.logs.String(), "throttled") {
				t.Errorf("the store's error is not logged:\n%s", e.logs.String())
			}
		})
	}
}

// A Delete whose undo fails and whose answer cannot be put either is not
// told, through the sandbox's topic, as a request handled: it is the
// store's error, which serve answers as an internal one.
func TestNotifyDeleteFailingTwiceIsNoAnswerNotSent(t *testing.T) {
	e, secret := newVerifiedAcme(t)
	e.h.Registrar = &flakyRegistrar{Registrar: e.regs, fail: "StackRoleDeleted"}
	e.rec.err = errors.New("answer to bucket.test: HTTP 503")
	envelope, _ := json.Marshal(map[string]string{"Type": "Notification", "Message": string(msg("Delete", "d1", "acme/"+custAcct, props(custRole, secret)))})
	err := e.h.Notify(context.Background(), envelope)
	if !errors.Is(err, errThrottled) || onboarding.AsError(err) != nil {
		t.Fatalf("Notify: %v; want the store's error, not a refusal", err)
	}
}

// TestRollbackToARevokedToken: a customer replaces a revoked token by
// updating the stack; another resource of that update fails, and
// CloudFormation rolls back with an Update carrying the revoked token
// again (and the new one as OldResourceProperties). It changes nothing,
// so it is answered SUCCESS, or the stack would be left
// UPDATE_ROLLBACK_FAILED. An Update that would change something, or whose
// previous token does not authenticate the resource's tenant, is still
// refused.
func TestRollbackToARevokedToken(t *testing.T) {
	e, old, oldTok, otherTok := newVerifiedEnv(t)
	if _, err := e.regs.RevokeToken(context.Background(), "acme", oldTok.ID); err != nil {
		t.Fatal(err)
	}
	fresh, _ := e.token("acme")
	forward := withField(msg("Update", "u1", "acme/"+custAcct, props(custRole, fresh)), "OldResourceProperties", props(custRole, old))
	if err := e.h.HandleMessage(context.Background(), forward); err != nil {
		t.Fatal(err)
	}
	if got := e.rec.last(t); got["Status"] != "SUCCESS" {
		t.Fatalf("the update to the new token: %v", got)
	}
	tests := []struct {
		name       string
		role       string
		previous   string // OldResourceProperties' token
		wantStatus string
	}{
		{"the rollback", custRole, fresh, "SUCCESS"},
		{"a new role with the revoked token", custRole2, fresh, "FAILED"},
		{"a previous token of another tenant", custRole, otherTok, "FAILED"},
		{"a previous token revoked too", custRole, old, "FAILED"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			back := withField(msg("Update", "u"+strconv.Itoa(i+2), "acme/"+custAcct, props(tt.role, old)), "OldResourceProperties", props(custRole, tt.previous))
			if err := e.h.HandleMessage(context.Background(), back); err != nil {
				t.Fatal(err)
			}
			got := e.rec.last(t)
			if got["Status"] != tt.wantStatus || got["PhysicalResourceId"] != "acme/"+custAcct {
				t.Errorf("answer %v, want %s", got, tt.wantStatus)
			}
			if c, _ := e.st.GetConnection(context.Background(), "acme", custAcct); c.Status != connection.Verified || c.RoleARN != custRole || c.Candidate.RoleARN != "" {
				t.Errorf("connection %s on %s (candidate %q): changed", c.Status, c.RoleARN, c.Candidate.RoleARN)
			}
		})
	}
}

// newVerifiedEnv is an env that does not wait for checks, with tenants
// acme and other, a registration token of each, and acme's connection
// registered with its token and VERIFIED.
// newVerifiedAcme is an env whose tenant acme registered custRole from a
// stack with secret, and whose first check verified it.
func newVerifiedAcme(t *testing.T) (*env, string) {
	e := newEnv(t)
	e.h.Wait = -1
	secret := e.acmeToken()
	e.create(secret)
	e.check("acme", custAcct, connection.ResultOK)
	return e, secret
}

func newVerifiedEnv(t *testing.T) (e *env, secret string, tok registration.Token, otherSecret string) {
	e = newEnv(t)
	e.h.Wait = -1
	e.tenant("acme")
	e.tenant("other")
	secret, tok = e.token("acme")
	otherSecret, _ = e.token("other")
	e.create(secret)
	e.check("acme", custAcct, connection.ResultOK)
	return e, secret, tok, otherSecret
}

func TestDelete(t *testing.T) {
	e, secret, _, otherSecret := newVerifiedEnv(t)
	withStack := func(b []byte, stack string) []byte { return withField(b, "StackId", stack) }
	// Deletes that must not disconnect, each answered SUCCESS.
	keep := []struct {
		name string
		msg  []byte
	}{
		{"never created", msg("Delete", "d1", "rolecall-unregistered-0123456789abcdef0123", props(custRole, secret))},
		{"no physical id", msg("Delete", "d2", "", props(custRole, secret))},
		{"garbage physical id", msg("Delete", "d3", "../../etc", nil)},
		{"unknown connection", msg("Delete", "d4", "acme/444455556666", props("arn:aws:iam::444455556666:role/R", secret))},
		{"another tenant's token", msg("Delete", "d5", "acme/"+custAcct, props(custRole, otherSecret))},
		{"forged token", msg("Delete", "d6", "acme/"+custAcct, props(custRole, "rcr_forged"))},
		{"stack in another account", withStack(msg("Delete", "d7", "acme/"+custAcct, props(custRole, secret)), "arn:aws:cloudformation:us-east-1:444455556666:stack/rc/1")},
		{"another role than the connection's", msg("Delete", "d8", "acme/"+custAcct, props(custRole2, secret))},
		{"malformed properties", msg("Delete", "d9", "acme/"+custAcct, map[string]any{"RoleArn": []int{1}})},
		// A token holder who publishes a Delete of a made-up stack of the
		// account: the connection records the stack that registered it.
		{"another stack of the account", withStack(msg("Delete", "d11", "acme/"+custAcct, props(custRole, secret)),
			"arn:aws:cloudformation:us-east-1:"+custAcct+":stack/anything/ffffffff-0000-0000-0000-000000000000")},
	}
	for _, tc := range keep {
		t.Run(tc.name, func(t *testing.T) {
			if err := e.h.HandleMessage(context.Background(), tc.msg); err != nil {
				t.Fatal(err)
			}
			got := e.rec.last(t)
			if got["Status"] != "SUCCESS" || got["PhysicalResourceId"] == "" {
				t.Fatalf("answer = %v", got)
			}
			if c, _ := e.st.GetConnection(context.Background(), "acme", custAcct); c.Status != connection.Verified {
				t.Fatalf("disconnected by %s", tc.name)
			}
		})
	}
	// The stack's own Delete disconnects, once.
	del := msg("Delete", "d10", "acme/"+custAcct, props(custRole, secret))
	for range 2 {
		if err := e.h.HandleMessage(context.Background(), del); err != nil {
			t.Fatal(err)
		}
		if got := e.rec.last(t); got["Status"] != "SUCCESS" || got["PhysicalResourceId"] != "acme/"+custAcct {
			t.Fatalf("delete answer = %v", got)
		}
	}
	c, _ := e.st.GetConnection(context.Background(), "acme", custAcct)
	if c.Status != connection.Disconnected || c.Reason.Code != onboarding.CodeStackDeleted || c.Reason.Hint == "" {
		t.Fatalf("after delete: %+v", c)
	}
	evs := e.events("acme")
	last := evs[len(evs)-1]
	if last.DetailType != connection.RoleDisconnected || last.Reason.Code != onboarding.CodeStackDeleted || len(evs) != 3 {
		t.Fatalf("events: %d, last %+v", len(evs), last)
	}
}

// TestDeleteAfterTheTokenExpired: a stack deleted years after its token
// expired still disconnects what it registered (a stack outlives its
// token); a revoked token still undoes nothing, and an expired one still
// registers nothing.
func TestDeleteAfterTheTokenExpired(t *testing.T) {
	tests := []struct {
		name       string
		revoke     bool
		wantStatus connection.Status
	}{
		{"expired", false, connection.Disconnected},
		{"expired and revoked", true, connection.Verified},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, secret, tok, _ := newVerifiedEnv(t)
			if tt.revoke {
				if _, err := e.regs.RevokeToken(context.Background(), "acme", tok.ID); err != nil {
					t.Fatal(err)
				}
			}
			e.now = tok.ExpiresAt.Add(3 * 365 * 24 * time.Hour)
			if err := e.h.HandleMessage(context.Background(), msg("Create", "c2", "", props(custRole2, secret))); err != nil {
				t.Fatal(err)
			}
			if got := e.rec.last(t); got["Status"] != "FAILED" {
				t.Errorf("a Create with the expired token: %v", got)
			}
			if err := e.h.HandleMessage(context.Background(), msg("Delete", "d1", "acme/"+custAcct, props(custRole, secret))); err != nil {
				t.Fatal(err)
			}
			if got := e.rec.last(t); got["Status"] != "SUCCESS" {
				t.Errorf("delete answer = %v", got)
			}
			if c, _ := e.st.GetConnection(context.Background(), "acme", custAcct); c.Status != tt.wantStatus {
				t.Errorf("after the stack's deletion the connection is %s, want %s", c.Status, tt.wantStatus)
			}
		})
	}
}

// TestDeleteDuringCandidate: a stack's Delete while the connection has a
// pending candidate undoes what that stack registered, on both stores. The
// stack of the candidate drops only the candidate (the verified role,
// which another stack or the form registered, stays in use); the stack of
// the verified role disconnects, and the candidate goes with the
// connection; a stack of neither role changes nothing.
func TestDeleteDuringCandidate(t *testing.T) {
	const custRole3 = "arn:aws:iam::111122223333:role/SomethingElse"
	// The candidate is submitted by an Update of the stack that registered
	// the verified role, or by a Create of another stack of the account.
	const otherStack = "arn:aws:cloudformation:us-east-1:111122223333:stack/rolecall-next/1b2c3d4e-5f60-789a-bcde-f0123456789a"
	tests := []struct {
		name       string
		byOther    bool // another stack submitted the candidate, and is deleted
		stackRole  string
		status     connection.Status
		candidate  connection.Status // "" when the candidate is gone
		lastEvent  connection.DetailType
		eventsMore int
	}{
		{"another stack's candidate is dropped", true, custRole2, connection.Verified, connection.Failed, connection.RoleVerificationFailed, 1},
		{"the stack of both roles disconnects, named by its candidate", false, custRole2, connection.Disconnected, "", connection.RoleDisconnected, 1},
		{"the verified role's stack disconnects and drops the candidate", false, custRole, connection.Disconnected, "", connection.RoleDisconnected, 1},
		{"a stack of neither role changes nothing", false, custRole3, connection.Verified, connection.Pending, connection.RoleSubmitted, 0},
	}
	for _, a := range storetest.Adapters() {
		t.Run(a.Name, func(t *testing.T) {
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					ctx := context.Background()
					e := newEnvOn(t, a.New(t))
					e.h.Wait = -1
					secret := e.acmeToken()
					e.create(secret)
					e.check("acme", custAcct, connection.ResultOK)
					submit := msg("Update", "u1", "acme/"+custAcct, props(custRole2, secret))
					if tt.byOther {
						submit = withField(msg("Create", "c2", "", props(custRole2, secret)), "StackId", otherStack)
					}
					if err := e.h.HandleMessage(ctx, submit); err != nil {
						t.Fatal(err)
					}
					before, err := e.st.GetConnection(ctx, "acme", custAcct)
					if err != nil || before.RoleARN != custRole || !before.Candidate.Pending() || before.Candidate.RoleARN != custRole2 {
						t.Fatalf("before the Delete: %+v, %v; want %s verified with candidate %s", before, err, custRole, custRole2)
					}
					nEvents := len(e.events("acme"))

					del := msg("Delete", "d1", "acme/"+custAcct, props(tt.stackRole, secret))
					if tt.byOther {
						del = withField(del, "StackId", otherStack)
					}
					if err := e.h.HandleMessage(ctx, del); err != nil {
						t.Fatal(err)
					}
					if got := e.rec.last(t); got["Status"] != "SUCCESS" || got["PhysicalResourceId"] != "acme/"+custAcct {
						t.Fatalf("delete answer = %v", got)
					}
					c, err := e.st.GetConnection(ctx, "acme", custAcct)
					if err != nil || c.Status != tt.status || c.Candidate.Status != tt.candidate {
						t.Fatalf("after the Delete: %+v, %v; want status %s, candidate %q", c, err, tt.status, tt.candidate)
					}
					evs := e.events("acme")
					last := evs[len(evs)-1]
					if len(evs) != nEvents+tt.eventsMore || last.DetailType != tt.lastEvent {
						t.Fatalf("%d events after %d, last %+v; want %d more, the last %s", len(evs), nEvents, last, tt.eventsMore, tt.lastEvent)
					}
					if tt.eventsMore == 0 {
						if c != before {
							t.Fatalf("changed by a stack of neither role: %+v, was %+v", c, before)
						}
						return
					}
					if last.Reason.Code != onboarding.CodeStackDeleted || last.Reason.Hint == "" || last.Version != before.Version+1 {
						t.Fatalf("event %+v, want reason STACK_DELETED with a hint at version %d", last, before.Version+1)
					}
					if tt.candidate == connection.Failed {
						if c.RoleARN != custRole || c.Candidate.RoleARN != custRole2 || c.Candidate.Reason.Code != onboarding.CodeStackDeleted ||
							last.RoleARN != custRole || last.CandidateRoleARN != custRole2 || last.Status != connection.Verified {
							t.Fatalf("candidate not dropped as such: %+v, event %+v", c, last)
						}
						// The verified role keeps its claim: another tenant
						// cannot verify it.
						e.tenant("other")
						other, _ := e.token("other")
						if err := e.h.HandleMessage(ctx, msg("Create", "o1", "", props(custRole, other))); err != nil {
							t.Fatal(err)
						}
						if err := e.apply("other", custAcct, connection.ResultOK); !errors.Is(err, store.ErrRoleClaimed) {
							t.Fatalf("another tenant's check of the role still in use: %v, want %v", err, store.ErrRoleClaimed)
						}
					}
					// A redelivered Delete changes nothing more.
					if err := e.h.HandleMessage(ctx, del); err != nil {
						t.Fatal(err)
					}
					if again, _ := e.st.GetConnection(ctx, "acme", custAcct); again != c {
						t.Fatalf("redelivery changed %+v to %+v", c, again)
					}
				})
			}
		})
	}
}

// TestResponseBodyFits: an answer over MaxResponseBody has its Reason cut
// on a character boundary (never into U+FFFD) to fit; one that fits is
// sent as it is; one too large without a Reason to cut is refused.
// TestAnswerableRequestsFit: a request answerable passes has room for the
// largest answer the handler gives it: the longest tenant ID in Data and
// its PhysicalID, with a Reason to cut.
func TestAnswerableRequestsFit(t *testing.T) {
	longTenant := strings.Repeat("t", 64)
	worst := registration.Answer{Status: "SUCCESS", PhysicalResourceID: PhysicalID(longTenant, custAcct), Reason: strings.Repeat("r", 5000),
		Data: map[string]string{"TenantId": longTenant, "AccountId": custAcct, "Status": string(connection.AccessLost)}}
	for n := 0; n <= 1024; n += 16 {
		ev := mustEvent(t, withField(msg("Create", strings.Repeat("<", min(n, 256)), "", nil), "StackId",
			"arn:aws:cloudformation:us-east-1:"+custAcct+":stack/"+strings.Repeat("<", n)+"/x"))
		if !answerable(ev) {
			continue
		}
		if _, err := responseBody(ev, worst); err != nil {
			t.Fatalf("identifiers of %d escaped characters pass answerable, but: %v", n, err)
		}
	}
}

func TestResponseBodyFits(t *testing.T) {
	tests := []struct {
		name    string
		answer  registration.Answer
		cut     bool
		wantErr bool
	}{
		{"short reason", registration.Answer{Status: "FAILED", PhysicalResourceID: "acme/" + custAcct, Reason: "the role trusts no one"}, false, false},
		{"two-byte runes", registration.Answer{Status: "FAILED", PhysicalResourceID: "acme/" + custAcct, Reason: strings.Repeat("é", 5000)}, true, false},
		{"four-byte runes", registration.Answer{Status: "FAILED", PhysicalResourceID: "acme/" + custAcct, Reason: strings.Repeat("🔑", 2000)}, true, false},
		{"no reason to cut", registration.Answer{Status: "SUCCESS", PhysicalResourceID: strings.Repeat("p", MaxResponseBody)}, false, true},
	}
	cev := mustEvent(t, msg("Create", "req-1", "", nil))
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := responseBody(cev, tc.answer)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("a body of %d bytes, want an error", len(b))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var resp cfn.Response
			if len(b) > MaxResponseBody || json.Unmarshal(b, &resp) != nil {
				t.Fatalf("body of %d bytes (valid %v)", len(b), json.Valid(b))
			}
			prefix, cut := strings.CutSuffix(resp.Reason, "…")
			if cut != tc.cut || !strings.HasPrefix(tc.answer.Reason, prefix) || strings.ContainsRune(resp.Reason, utf8.RuneError) {
				t.Errorf("reason %q, want the answer's reason, cut: %v", resp.Reason, tc.cut)
			}
		})
	}
}

func mustEvent(t *testing.T, b []byte) cfn.Event {
	t.Helper()
	var ev cfn.Event
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

// failingAnswers is an answer store that is down.
type failingAnswers struct{}

func (failingAnswers) GetRegistrationAnswer(ctx context.Context, key string) (registration.Answer, error) {
	return registration.Answer{}, errors.New("table unavailable")
}

func (failingAnswers) PutRegistrationAnswer(ctx context.Context, key string, a registration.Answer) (registration.Answer, error) {
	return registration.Answer{}, errors.New("table unavailable")
}

// With the answers store down, a Delete is still answered SUCCESS (and
// disconnects); a Create asks for a retry and answers nothing.
func TestAnswersStoreDown(t *testing.T) {
	e := newEnv(t)
	e.h.Wait = -1
	secret := e.acmeToken()
	e.create(secret)
	e.h.Answers = failingAnswers{}
	n := e.rec.count()
	if err := e.h.HandleMessage(context.Background(), msg("Create", "req-2", "", props(custRole2, secret))); err == nil || e.rec.count() != n {
		t.Fatalf("Create with the store down: err %v, %d answers", err, e.rec.count()-n)
	}
	if err := e.h.HandleMessage(context.Background(), msg("Delete", "req-3", "acme/"+custAcct, props(custRole, secret))); err != nil {
		t.Fatal(err)
	}
	if got := e.rec.last(t); got["Status"] != "SUCCESS" {
		t.Fatalf("delete answer = %v", got)
	}
	if c, _ := e.st.GetConnection(context.Background(), "acme", custAcct); c.Status != connection.Disconnected {
		t.Fatalf("not disconnected: %+v", c)
	}
}

// countingAnswers counts the writes of recorded answers.
type countingAnswers struct {
	Answers
	puts int
}

func (c *countingAnswers) PutRegistrationAnswer(ctx context.Context, key string, a registration.Answer) (registration.Answer, error) {
	c.puts++
	return c.Answers.PutRegistrationAnswer(ctx, key, a)
}

// TestNoiseDeleteWritesNothing: anyone can publish to the topic, and a
// Delete is always answered SUCCESS; one whose token authenticates no
// tenant undoes nothing and is not recorded, so made-up RequestIds cost
// the partner no table writes. An authenticated one is recorded.
func TestNoiseDeleteWritesNothing(t *testing.T) {
	forged := "rcr_" + strings.Repeat("A", 43)
	tests := []struct {
		name  string
		msg   func(e *env) []byte
		puts  int
		phyID string
	}{
		{"no physical ID, no properties", func(*env) []byte { return msg("Delete", "n1", "", nil) }, 0, ""},
		{"a connection's physical ID, a forged token", func(*env) []byte {
			return msg("Delete", "n2", "acme/"+custAcct, props(custRole, forged))
		}, 0, "acme/" + custAcct},
		{"another tenant's token", func(e *env) []byte {
			e.tenant("other")
			other, _ := e.token("other")
			return msg("Delete", "n3", "acme/"+custAcct, props(custRole, other))
		}, 0, "acme/" + custAcct},
		{"the tenant's token", func(e *env) []byte {
			return msg("Delete", "d1", "acme/"+custAcct, props(custRole, e.acmeToken()))
		}, 1, "acme/" + custAcct},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			ca := &countingAnswers{Answers: e.st}
			e.h.Answers = ca
			if err := e.h.HandleMessage(context.Background(), tt.msg(e)); err != nil {
				t.Fatal(err)
			}
			got := e.rec.last(t)
			if got["Status"] != "SUCCESS" || (tt.phyID != "" && got["PhysicalResourceId"] != tt.phyID) {
				t.Fatalf("answer %v", got)
			}
			if ca.puts != tt.puts {
				t.Fatalf("%d answers recorded, want %d", ca.puts, tt.puts)
			}
		})
	}
}

// TestFailedTenantSwitchKeepsThePhysicalID: an Update that moves the
// resource to another tenant's token, and whose role then fails its check,
// answers FAILED with the resource's own physical ID. CloudFormation keeps
// that ID on a failed Update and rolls back under it; a new ID in the
// answer would name a resource it never deletes.
func TestFailedTenantSwitchKeepsThePhysicalID(t *testing.T) {
	e, secret, _, otherSecret := newVerifiedEnv(t)
	e.h.Wait = 10 * e.h.Poll
	e.waits = 0
	e.onWait = func() {
		if e.waits == 1 {
			e.check("other", custAcct, connection.ResultNotEnforced)
		}
	}
	up := withField(msg("Update", "u1", "acme/"+custAcct, props(custRole, otherSecret)), "OldResourceProperties", props(custRole, secret))
	if err := e.h.HandleMessage(context.Background(), up); err != nil {
		t.Fatal(err)
	}
	if got := e.rec.last(t); got["Status"] != "FAILED" || got["PhysicalResourceId"] != "acme/"+custAcct {
		t.Fatalf("failed tenant switch answered %v, want FAILED with acme/%s", got, custAcct)
	}
	// The rollback, under that ID, changes nothing of acme's connection.
	e.onWait = nil
	back := withField(msg("Update", "u2", "acme/"+custAcct, props(custRole, secret)), "OldResourceProperties", props(custRole, otherSecret))
	if err := e.h.HandleMessage(context.Background(), back); err != nil {
		t.Fatal(err)
	}
	if got := e.rec.last(t); got["Status"] != "SUCCESS" || got["PhysicalResourceId"] != "acme/"+custAcct {
		t.Fatalf("rollback answered %v", got)
	}
	if c, err := e.st.GetConnection(context.Background(), "acme", custAcct); err != nil || c.Status != connection.Verified || c.RoleARN != custRole {
		t.Fatalf("acme's connection after the rollback: %+v, %v", c, err)
	}
}

// TestRollbackAfterTheTokenExpired: a stack outlives its token's year. An
// Update of its role after that is refused (REGISTRATION_TOKEN_EXPIRED);
// CloudFormation's rollback to the role in use, with the same expired
// token, changes nothing and is answered SUCCESS, so the stack does not end
// UPDATE_ROLLBACK_FAILED. A revoked token is refused still.
func TestRollbackAfterTheTokenExpired(t *testing.T) {
	for _, revoked := range []bool{false, true} {
		t.Run(map[bool]string{false: "expired", true: "revoked"}[revoked], func(t *testing.T) {
			e, secret, tok, _ := newVerifiedEnv(t)
			ctx := context.Background()
			e.now = e.now.Add(registration.DefaultTTL + 24*time.Hour)
			if revoked {
				if _, err := e.regs.RevokeToken(ctx, "acme", tok.ID); err != nil {
					t.Fatal(err)
				}
			}
			forward := withField(msg("Update", "u1", "acme/"+custAcct, props(custRole2, secret)), "OldResourceProperties", props(custRole, secret))
			if err := e.h.HandleMessage(ctx, forward); err != nil {
				t.Fatal(err)
			}
			if got := e.rec.last(t); got["Status"] != "FAILED" || got["PhysicalResourceId"] != "acme/"+custAcct {
				t.Fatalf("the Update of the role: %v, want FAILED", got)
			}
			back := withField(msg("Update", "u2", "acme/"+custAcct, props(custRole, secret)), "OldResourceProperties", props(custRole2, secret))
			if err := e.h.HandleMessage(ctx, back); err != nil {
				t.Fatal(err)
			}
			want := "SUCCESS"
			if revoked {
				want = "FAILED"
			}
			if got := e.rec.last(t); got["Status"] != want {
				t.Fatalf("the rollback to the role in use: %v, want %s", got, want)
			}
			if c, err := e.st.GetConnection(ctx, "acme", custAcct); err != nil || c.Status != connection.Verified || c.RoleARN != custRole || c.Candidate.RoleARN != "" {
				t.Fatalf("the connection changed: %+v, %v", c, err)
			}
		})
	}
}

// TestReplacedResourceKeepsTheConnection: a stack whose registration
// resource changes its logical ID (a renamed or moved CDK construct) gets a
// new resource: CloudFormation creates it, then deletes the old one. The
// new resource's Create, of the role in use, takes the registration over,
// so the old one's Delete leaves the connection VERIFIED; the new one's
// Delete, when the stack goes, disconnects it.
func TestReplacedResourceKeepsTheConnection(t *testing.T) {
	const renamed = "RoleCallRoleRegistrationA1B2C3D4"
	for _, a := range storetest.Adapters() {
		t.Run(a.Name, func(t *testing.T) {
			ctx := context.Background()
			e := newEnvOn(t, a.New(t))
			e.h.Wait = -1
			e.tenant("acme")
			secret, _ := e.token("acme")
			e.create(secret) // LogicalResourceId RoleCallRegistration
			e.check("acme", custAcct, connection.ResultOK)
			before, err := e.st.GetConnection(ctx, "acme", custAcct)
			if err != nil || before.StackResource != "RoleCallRegistration" || before.Stack != stackID {
				t.Fatalf("registered %+v, %v; want it bound to its stack's resource", before, err)
			}

			create := withField(msg("Create", "c2", "", props(custRole, secret)), "LogicalResourceId", renamed)
			if err := e.h.HandleMessage(ctx, create); err != nil {
				t.Fatal(err)
			}
			if got := e.rec.last(t); got["Status"] != "SUCCESS" || got["PhysicalResourceId"] != "acme/"+custAcct {
				t.Fatalf("the new resource's Create answered %v", got)
			}
			taken, _ := e.st.GetConnection(ctx, "acme", custAcct)
			if taken.StackResource != renamed || taken.Version != before.Version || taken.Status != connection.Verified {
				t.Fatalf("after the new resource's Create: %+v, want %s's, the rest unchanged", taken, renamed)
			}
			nEvents := len(e.events("acme"))

			// CloudFormation's cleanup deletes the old resource.
			if err := e.h.HandleMessage(ctx, msg("Delete", "d-old", "acme/"+custAcct, props(custRole, secret))); err != nil {
				t.Fatal(err)
			}
			if got := e.rec.last(t); got["Status"] != "SUCCESS" {
				t.Fatalf("the old resource's Delete answered %v", got)
			}
			if c, _ := e.st.GetConnection(ctx, "acme", custAcct); c != taken || len(e.events("acme")) != nEvents {
				t.Fatalf("the old resource's Delete changed the connection: %+v, was %+v", c, taken)
			}

			// Deleting the stack deletes the new resource.
			del := withField(msg("Delete", "d-new", "acme/"+custAcct, props(custRole, secret)), "LogicalResourceId", renamed)
			if err := e.h.HandleMessage(ctx, del); err != nil {
				t.Fatal(err)
			}
			if c, _ := e.st.GetConnection(ctx, "acme", custAcct); c.Status != connection.Disconnected {
				t.Fatalf("the new resource's Delete left the connection %s", c.Status)
			}
		})
	}
}

// TestDeleteOfAStackThatRegisteredAServiceLinkedRole: a connection a stack
// registered with a service-linked role, before submissions refused them
// (it could only fail), is undone by that stack's Delete, as every stack's
// is.
func TestDeleteOfAStackThatRegisteredAServiceLinkedRole(t *testing.T) {
	e := newEnv(t)
	e.h.Wait = -1
	e.tenant("acme")
	secret, _ := e.token("acme")
	slr := "arn:aws:iam::" + custAcct + ":role/aws-service-role/elasticbeanstalk.amazonaws.com/AWSServiceRoleForElasticBeanstalk"
	after := connection.Connection{TenantID: "acme", AccountID: custAcct, RoleARN: slr, Status: connection.Failed, Version: 1,
		Stack: stackID, StackResource: "RoleCallRegistration", SubmittedAt: e.now, UpdatedAt: e.now,
		Reason: connection.ReasonFor(connection.ResultDenied, "")}
	ev := &connection.Event{EventID: connection.EventID("acme", custAcct, 1), DetailType: connection.RoleVerificationFailed,
		TenantID: "acme", AccountID: custAcct, RoleARN: slr, Status: connection.Failed, OccurredAt: e.now, Version: 1, ExternalIDVersion: 1}
	if err := e.st.Apply(context.Background(), connection.Transition{After: after, Event: ev}); err != nil {
		t.Fatal(err)
	}
	if err := e.h.HandleMessage(context.Background(), msg("Delete", "d1", "acme/"+custAcct, props(slr, secret))); err != nil {
		t.Fatal(err)
	}
	c, _ := e.st.GetConnection(context.Background(), "acme", custAcct)
	if c.Status != connection.Disconnected || c.Reason.Code != onboarding.CodeStackDeleted {
		t.Fatalf("after the stack's Delete: %s %s; want DISCONNECTED STACK_DELETED", c.Status, c.Reason.Code)
	}
}

// The error HandleSNS returns for a retry is what the Lambda runtime
// library prints to the function's log as it is: it leaves out an AWS
// service's signing diagnostics, whose canonical request holds the
// function's session token, and keeps what went wrong.
func TestRetriedErrorLeavesOutTheSessionToken(t *testing.T) {
	e := newEnv(t)
	e.h.Wait = -1
	secret := e.acmeToken()
	e.rec.err = errors.New("api error InvalidSignatureException: The request signature we calculated does not match the signature you provided.\n\n" +
		"The Canonical String for this request should have been\n'PUT\n/\n\nhost:example.amazonaws.com\nx-amz-security-token:IQoJSECRET\n\nhost;x-amz-security-token\nabc'\n")
	m := msg("Create", "req-1", "", props(custRole, secret))
	ev := events.SNSEvent{Records: []events.SNSEventRecord{{SNS: events.SNSEntity{MessageID: "m1", Message: string(m)}}}}
	err := e.h.HandleSNS(context.Background(), ev)
	if err == nil || !strings.Contains(err.Error(), "InvalidSignatureException") {
		t.Fatalf("HandleSNS = %v, want the failure reported for a retry", err)
	}
	if strings.Contains(err.Error(), "IQoJSECRET") {
		t.Fatalf("the session token is in the error HandleSNS returns: %q", err)
	}
}
