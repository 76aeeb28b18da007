package httpapi_test

// The hostile-input corpus: testdata/hostile.jsonl holds one
// hostile request per line (malformed and tricky role ARNs for every
// rejection code, look-alikes, invisible and control characters, huge
// strings and bodies, malformed JSON, wrong types, duplicate and smuggled
// keys, wrong content types, missing, forged, expired and other tenants'
// invites, ops routes without or with a wrong token, traversal in route
// parameters, header injection) and the status and error code RoleCall must
// answer. Each is sent to the real handler (httpapi.New over the onboarding
// service and the embedded store), in process or, for what only a socket
// can carry, as raw bytes to an HTTP server. After every request: the
// answer is the expected one, never a 5xx, and the store's snapshot is
// byte-for-byte what it was (nothing written, no outbox event, no job
// queued, no sandbox call). Finally the handler's logs hold no secret.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/httpapi"
	"github.com/rolecall/rolecall/internal/onboarding"
	"github.com/rolecall/rolecall/internal/probe"
	"github.com/rolecall/rolecall/internal/rolearn"
	"github.com/rolecall/rolecall/internal/store"
	"github.com/rolecall/rolecall/internal/tenant"
	"github.com/rolecall/rolecall/internal/testkit/syncbuf"
)

// hostileCase is one line of testdata/hostile.jsonl.
type hostileCase struct {
	Name   string `json:"name"`
	Method string `json:"method"`
	// Path is the request target as sent (escaped).
	Path string `json:"path"`
	// Auth names the Authorization header: invite (tenant acme's), other
	// (tenant globex's invite), expired (acme's expired invite), forged (a
	// well-formed code never issued), ops, none; raw sends Authorization
	// as is.
	Auth          string `json:"auth"`
	Authorization string `json:"authorization,omitempty"`
	// ContentType defaults to application/json when there is a body; "-"
	// sends none.
	ContentType string            `json:"contentType,omitempty"`
	Headers     map[string]string `json:"headers,omitempty"`
	// The body: Body as text, BodyB64 as bytes, RoleARN as {"roleArn":…},
	// or BodySize bytes of a valid JSON object.
	Body     *string `json:"body,omitempty"`
	BodyB64  string  `json:"bodyB64,omitempty"`
	RoleARN  *string `json:"roleArn,omitempty"`
	BodySize int     `json:"bodySize,omitempty"`
	// Chunked sends the body without a Content-Length.
	Chunked bool `json:"chunked,omitempty"`
	// Wire sends Raw, the whole request, over a TCP connection (for what
	// an http.Request cannot carry: CRLF in headers, NUL in the request
	// line, smuggling headers).
	Wire bool   `json:"wire,omitempty"`
	Raw  string `json:"raw,omitempty"`

	Status int `json:"status"`
	// Code is the error code of the JSON answer; "" when net/http itself
	// refuses the request (wire cases) and no RoleCall code is expected.
	Code string `json:"code"`
}

// Fixtures the corpus refers to.
const (
	hostilePartnerAccount = "999988887777"
	hostilePrincipal      = "arn:aws:iam::999988887777:role/RoleCallVerifier"
	hostileOpsToken       = "ops-token-0123456789abcdefghijklmnopqrstuv"
	acmeAccount           = "111122223333"
	acmeRole              = "arn:aws:iam::111122223333:role/AcmeRole"
	globexAccount         = "444455556666"
	globexRole            = "arn:aws:iam::444455556666:role/ClaimedRole" // claimed by globex
)

// hostileWorld is the handler under attack and what it can touch.
type hostileWorld struct {
	store   *store.Memory
	queue   *countingQueue
	sandbox *countingSandbox
	handler http.Handler
	logs    *syncbuf.Buffer
	vars    map[string]string
	secrets []string
}

// countingQueue counts the jobs queued.
type countingQueue struct{ jobs atomic.Int64 }

func (q *countingQueue) Send(ctx context.Context, jobs []probe.Job) error {
	q.jobs.Add(int64(len(jobs)))
	return nil
}

// countingSandbox counts the calls that reach the sandbox.
type countingSandbox struct{ calls atomic.Int64 }

func (s *countingSandbox) Info() httpapi.SandboxInfo {
	return httpapi.SandboxInfo{PartnerPrincipalARN: hostilePrincipal, STSEndpoint: "http://127.0.0.1:1/_sandbox/sts"}
}
func (s *countingSandbox) PutRole(string, []byte) error   { s.calls.Add(1); return nil }
func (s *countingSandbox) DeleteRole(string) error        { s.calls.Add(1); return nil }
func (s *countingSandbox) SetFaults(httpapi.Faults) error { s.calls.Add(1); return nil }

// emptyEvents is an event log with no event.
type emptyEvents struct{}

func (emptyEvents) EventsAfter(after string, limit int) ([]json.RawMessage, bool) {
	return nil, after == ""
}

// noSweeps fails the test if a sweep runs: no corpus request may start one.
type noSweeps struct{ t *testing.T }

func (n noSweeps) Sweep(context.Context, bool) (int, error) {
	n.t.Error("a hostile request started a sweep")
	return 0, nil
}

func newHostileWorld(t *testing.T) *hostileWorld {
	t.Helper()
	ctx := context.Background()
	w := &hostileWorld{store: store.NewMemory(), queue: &countingQueue{}, sandbox: &countingSandbox{}, logs: &syncbuf.Buffer{}}
	svc := &onboarding.Service{Store: w.store, Queue: w.queue, Policy: connection.DefaultPolicy(),
		Rules: rolearn.Rules{Partition: "aws", OwnAccount: hostilePartnerAccount}}
	ops, err := httpapi.NewBearerToken(hostileOpsToken)
	if err != nil {
		t.Fatal(err)
	}
	h, err := httpapi.New(httpapi.Config{
		Service: svc, Ops: ops, PartnerName: "Hostile Test Partner", PartnerAccountID: hostilePartnerAccount,
		TrustedPrincipalARN: hostilePrincipal, EventSource: "rolecall",
		Setup:   httpapi.RoleSetup{TrustedPrincipalARN: hostilePrincipal, Region: "us-east-1"},
		Events:  emptyEvents{},
		Sweeper: noSweeps{t},
		Sandbox: w.sandbox,
		OpsPage: true,
		Log:     slog.New(slog.NewJSONHandler(w.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	w.handler = h

	// Two tenants, each with a connection; acme also has an expired invite.
	tenants := map[string]tenant.Tenant{}
	codes := map[string]string{}
	for _, id := range []string{"acme", "globex"} {
		tn, err := svc.CreateTenant(ctx, id, strings.ToUpper(id[:1])+id[1:]+" Inc.")
		if err != nil {
			t.Fatal(err)
		}
		code, _, err := svc.CreateInvite(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		tenants[id], codes[id] = tn, code
		w.secrets = append(w.secrets, code, tn.ExternalID)
	}
	for id, role := range map[string]string{"acme": acmeRole, "globex": globexRole} {
		if _, err := svc.Submit(ctx, tenants[id], role); err != nil {
			t.Fatal(err)
		}
	}
	expiredCode, expired := tenant.NewInvite("acme", time.Now().Add(-8*24*time.Hour), 7*24*time.Hour)
	if err := w.store.PutInvite(ctx, expired); err != nil {
		t.Fatal(err)
	}
	forged, _ := tenant.NewInvite("acme", time.Now(), 0) // well-formed, never stored
	w.secrets = append(w.secrets, expiredCode, hostileOpsToken)
	w.vars = map[string]string{
		"ops": hostileOpsToken, "invite": codes["acme"], "other": codes["globex"], "expired": expiredCode, "forged": forged,
		"inviteHash": tenant.HashCode(codes["acme"]), "acmeExternalId": tenants["acme"].ExternalID,
	}
	return w
}

var repeatVar = regexp.MustCompile(`\$\{repeat:(\d+):([^}]*)\}`)

// expand replaces ${name} with the world's values and ${repeat:n:text}
// with text n times.
func (w *hostileWorld) expand(s string) string {
	s = repeatVar.ReplaceAllStringFunc(s, func(m string) string {
		sm := repeatVar.FindStringSubmatch(m)
		n, _ := strconv.Atoi(sm[1])
		return strings.Repeat(sm[2], n)
	})
	for k, v := range w.vars {
		s = strings.ReplaceAll(s, "${"+k+"}", v)
	}
	return s
}

func (w *hostileWorld) authorization(c hostileCase) (string, bool) {
	switch c.Auth {
	case "", "none":
		return "", false
	case "invite":
		return "Invite " + w.vars["invite"], true
	case "other":
		return "Invite " + w.vars["other"], true
	case "expired":
		return "Invite " + w.vars["expired"], true
	case "forged":
		return "Invite " + w.vars["forged"], true
	case "ops":
		return "Bearer " + hostileOpsToken, true
	case "raw":
		return w.expand(c.Authorization), true
	}
	panic("unknown auth " + c.Auth)
}

func (w *hostileWorld) body(c hostileCase) ([]byte, bool) {
	switch {
	case c.Body != nil:
		return []byte(w.expand(*c.Body)), true
	case c.BodyB64 != "":
		b, err := base64.StdEncoding.DecodeString(c.BodyB64)
		if err != nil {
			panic(fmt.Sprintf("case %s: bodyB64: %v", c.Name, err))
		}
		return b, true
	case c.RoleARN != nil:
		b, _ := json.Marshal(map[string]string{"roleArn": w.expand(*c.RoleARN)})
		return b, true
	case c.BodySize > 0:
		pad := c.BodySize - len(`{"roleArn":""}`)
		return []byte(`{"roleArn":"` + strings.Repeat("a", max(pad, 0)) + `"}`), true
	}
	return nil, false
}

// request builds the in-process request of a case.
func (w *hostileWorld) request(t *testing.T, c hostileCase) *http.Request {
	target := w.expand(c.Path)
	u, err := url.ParseRequestURI(target)
	if err != nil {
		t.Fatalf("case %q: path %q cannot be an http.Request target (%v); make it a wire case", c.Name, target, err)
	}
	body, hasBody := w.body(c)
	r := &http.Request{Method: c.Method, URL: u, RequestURI: target, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{}, Host: "rolecall.test", RemoteAddr: "192.0.2.1:1234"}
	r = r.WithContext(context.Background())
	if hasBody {
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		if c.Chunked {
			r.ContentLength = -1
			r.TransferEncoding = []string{"chunked"}
		}
		switch c.ContentType {
		case "":
			r.Header.Set("Content-Type", "application/json")
		case "-":
		default:
			r.Header.Set("Content-Type", w.expand(c.ContentType))
		}
	} else {
		r.Body = http.NoBody
		if c.ContentType != "" && c.ContentType != "-" {
			r.Header.Set("Content-Type", w.expand(c.ContentType))
		}
	}
	if a, ok := w.authorization(c); ok {
		r.Header["Authorization"] = []string{a}
	}
	for k, v := range c.Headers {
		r.Header[k] = append(r.Header[k], w.expand(v))
	}
	return r
}

// answer is what came back.
type answer struct {
	status int
	header http.Header
	body   []byte
}

func (w *hostileWorld) inProcess(t *testing.T, c hostileCase) answer {
	rec := httptest.NewRecorder()
	w.handler.ServeHTTP(rec, w.request(t, c))
	return answer{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
}

// overTheWire sends the raw request to srv and reads the answer.
func (w *hostileWorld) overTheWire(t *testing.T, srv *httptest.Server, c hostileCase) answer {
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, w.expand(c.Raw)); err != nil {
		t.Fatalf("case %q: write: %v", c.Name, err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("case %q: read the answer: %v", c.Name, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, header: resp.Header, body: b}
}

func loadHostileCorpus(t *testing.T) []hostileCase {
	t.Helper()
	f, err := os.Open("testdata/hostile.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cases []hostileCase
	names := map[string]bool{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		var c hostileCase
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&c); err != nil {
			t.Fatalf("testdata/hostile.jsonl:%d: %v", n, err)
		}
		switch {
		case c.Name == "" || names[c.Name]:
			t.Fatalf("testdata/hostile.jsonl:%d: missing or duplicate name %q", n, c.Name)
		case c.Status < 400 || c.Status > 499 && !(c.Wire && c.Code == "" && c.Status == http.StatusHTTPVersionNotSupported):
			t.Fatalf("testdata/hostile.jsonl:%d (%s): every hostile request must be refused with a 4xx (net/http answers 505 to an unknown protocol version), not %d", n, c.Name, c.Status)
		case c.Wire != (c.Raw != ""):
			t.Fatalf("testdata/hostile.jsonl:%d (%s): wire cases, and only they, carry raw", n, c.Name)
		case !c.Wire && (c.Method == "" || c.Path == "" || c.Code == ""):
			t.Fatalf("testdata/hostile.jsonl:%d (%s): method, path and code are required", n, c.Name)
		}
		names[c.Name] = true
		cases = append(cases, c)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return cases
}

func TestHostileCorpus(t *testing.T) {
	cases := loadHostileCorpus(t)
	if len(cases) < 300 {
		t.Fatalf("the corpus has %d cases; it must hold at least 300 (every route, every field kind)", len(cases))
	}
	w := newHostileWorld(t)
	srv := httptest.NewUnstartedServer(w.handler)
	srv.Config.MaxHeaderBytes = 64 << 10 // as serve configures it
	srv.Config.ReadHeaderTimeout = 5 * time.Second
	srv.Start()
	defer srv.Close()

	before := w.store.Snapshot()
	codes := map[string]int{}
	for _, c := range cases {
		ok := t.Run(c.Name, func(t *testing.T) {
			var a answer
			if c.Wire {
				a = w.overTheWire(t, srv, c)
			} else {
				a = w.inProcess(t, c)
			}
			if a.status >= 500 && a.status != c.Status {
				t.Fatalf("SERVER ERROR %d: %s", a.status, a.body)
			}
			var e struct {
				Error struct {
					Code    string `json:"code"`
					Message string `json:"message"`
				} `json:"error"`
			}
			jsonErr := json.Unmarshal(a.body, &e)
			if a.status != c.Status || (c.Code != "" && e.Error.Code != c.Code) {
				t.Errorf("answered %d %s, want %d %s: %.300s", a.status, e.Error.Code, c.Status, c.Code, a.body)
			}
			if c.Code != "" {
				if jsonErr != nil || e.Error.Message == "" || !strings.HasPrefix(a.header.Get("Content-Type"), "application/json") {
					t.Errorf("not a JSON error (%s, %v): %.300s", a.header.Get("Content-Type"), jsonErr, a.body)
				}
				if a.header.Get("X-Content-Type-Options") != "nosniff" || a.header.Get("Content-Security-Policy") == "" {
					t.Errorf("security headers missing: %v", a.header)
				}
			}
			for k := range a.header {
				if strings.Contains(strings.ToLower(k), "injected") {
					t.Errorf("SECURITY: an injected header came back: %s: %v", k, a.header[k])
				}
			}
			if a.header.Get("Location") != "" || a.header.Get("Set-Cookie") != "" {
				t.Errorf("a refused request got Location %q / Set-Cookie %q", a.header.Get("Location"), a.header.Get("Set-Cookie"))
			}
			if after := w.store.Snapshot(); after != before {
				t.Fatalf("the store changed:\nbefore:\n%s\nafter:\n%s", before, after)
			}
			if n := w.queue.jobs.Load(); n != 0 {
				t.Fatalf("%d check jobs were queued", n)
			}
			if n := w.sandbox.calls.Load(); n != 0 {
				t.Fatalf("%d calls reached the sandbox", n)
			}
			codes[c.Code]++
		})
		if !ok && w.store.Snapshot() != before {
			t.Fatalf("case %q changed the store; the cases after it would not test what they say", c.Name)
		}
	}
	t.Logf("%d hostile requests refused; by code: %v", len(cases), codes)
	for _, code := range []string{rolearn.CodeInvalidARN, rolearn.CodeNotIAM, rolearn.CodeNotRole, rolearn.CodeRegionPresent,
		rolearn.CodeInvalidAccount, rolearn.CodeInvalidName, rolearn.CodeInvalidPath, rolearn.CodeInvalidLength,
		rolearn.CodeWhitespace, rolearn.CodeLookalike, rolearn.CodeWrongPartition, rolearn.CodeOwnAccount} {
		if codes[code] < 5 {
			t.Errorf("the corpus has %d cases refused with %s; every ARN rejection code needs several", codes[code], code)
		}
	}

	// The refusals themselves leak nothing into the logs.
	logs := w.logs.String()
	for _, s := range w.secrets {
		if strings.Contains(logs, s) {
			t.Errorf("SECURITY: the handler's log contains a secret (%.7s…)", s)
		}
	}
}
