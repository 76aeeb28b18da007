package check_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rolecall/rolecall/internal/check"
	"github.com/rolecall/rolecall/internal/connection"
)

const (
	acct       = "123456789012"
	otherAcct  = "210987654321"
	roleARN    = "arn:aws:iam::123456789012:role/RoleCall"
	externalID = "rc-SECRETEXTERNALIDVALUE234567ABCDEFG"
)

// stsSessionName is STS's RoleSessionName pattern.
var stsSessionName = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)

// fakeAssumer answers AssumeRole calls from a script and records them.
type fakeAssumer struct {
	mu     sync.Mutex
	calls  []check.AssumeRequest
	ctxs   []context.Context
	answer func(n int, in check.AssumeRequest) (check.Session, error)
}

func (f *fakeAssumer) AssumeRole(ctx context.Context, in check.AssumeRequest) (check.Session, error) {
	f.mu.Lock()
	n := len(f.calls)
	f.calls = append(f.calls, in)
	f.ctxs = append(f.ctxs, ctx)
	f.mu.Unlock()
	return f.answer(n, in)
}

var _ check.Assumer = (*fakeAssumer)(nil)

func sess(account string) check.Session {
	return check.Session{AssumedRoleARN: "arn:aws:sts::" + account + ":assumed-role/RoleCall/s", AccountID: account}
}

var (
	denied    = &check.STSError{Kind: check.ErrDenied, Code: "AccessDenied", Err: errors.New("not authorized")}
	disabled  = &check.STSError{Kind: check.ErrRegionDisabled, Code: "RegionDisabledException", Err: errors.New("region disabled")}
	throttled = &check.STSError{Kind: check.ErrTransient, Code: "Throttling", Err: errors.New("rate exceeded")}
)

// withExtID answers by whether the call carries the external ID, the way a
// role's trust policy decides.
func withExtID(with, without func(attempt int) (check.Session, error)) func(int, check.AssumeRequest) (check.Session, error) {
	var mu sync.Mutex
	n := map[bool]int{}
	return func(_ int, in check.AssumeRequest) (check.Session, error) {
		mu.Lock()
		has := in.ExternalID != ""
		i := n[has]
		n[has]++
		mu.Unlock()
		if has {
			return with(i)
		}
		return without(i)
	}
}

func always(s check.Session, err error) func(int) (check.Session, error) {
	return func(int) (check.Session, error) { return s, err }
}

// seq answers the i-th attempt with the i-th answer (the last one repeats).
func seq(answers ...func() (check.Session, error)) func(int) (check.Session, error) {
	return func(i int) (check.Session, error) { return answers[min(i, len(answers)-1)]() }
}

func ok(account string) func() (check.Session, error) {
	return func() (check.Session, error) { return sess(account), nil }
}
func fails(err error) func() (check.Session, error) {
	return func() (check.Session, error) { return check.Session{}, err }
}

func request() check.Request {
	return check.Request{TenantID: "acme-prod", AccountID: acct, RoleARN: roleARN, ExternalID: externalID, ExternalIDVersion: 3, Version: 7}
}

var checkedAt = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func newChecker(a check.Assumer, log *slog.Logger) *check.Checker {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &check.Checker{STS: a, Attempts: 3, BaseDelay: time.Millisecond, Budget: 5 * time.Second, Log: log,
		Now: func() time.Time { return checkedAt }}
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name        string
		with        func(int) (check.Session, error)
		without     func(int) (check.Session, error)
		want        connection.Result
		detail      string
		calls       int  // total AssumeRole calls
		withoutCall bool // whether the call without external ID happened
		steps       []bool
	}{
		{"ok", always(sess(acct), nil), always(check.Session{}, denied), connection.ResultOK, "", 2, true, []bool{true, true, true}},
		{"denied", always(check.Session{}, denied), nil, connection.ResultDenied, "AccessDenied", 1, false, []bool{false}},
		{"not enforced", always(sess(acct), nil), always(sess(acct), nil), connection.ResultNotEnforced, "", 2, true, []bool{true, true, false}},
		{"account mismatch", always(sess(otherAcct), nil), always(check.Session{}, denied), connection.ResultAccountMismatch, otherAcct, 1, false, []bool{true, false}},
		{"region disabled", always(check.Session{}, disabled), nil, connection.ResultRegionDisabled, "RegionDisabledException", 1, false, []bool{false}},
		{"transient retried then transient", always(check.Session{}, throttled), nil, connection.ResultTransient, "Throttling", 3, false, []bool{false}},
		{"transient then success", seq(fails(throttled), fails(throttled), ok(acct)), always(check.Session{}, denied), connection.ResultOK, "", 4, true, []bool{true, true, true}},
		{"transient then denied", seq(fails(throttled), fails(denied)), nil, connection.ResultDenied, "AccessDenied", 2, false, []bool{false}},
		{"transient on the call without external ID", always(sess(acct), nil), always(check.Session{}, throttled), connection.ResultTransient, "Throttling", 4, true, []bool{true, true, false}},
		{"transient then not enforced", always(sess(acct), nil), seq(fails(throttled), ok(acct)), connection.ResultNotEnforced, "", 3, true, []bool{true, true, false}},
		{"transient then denied without external ID", always(sess(acct), nil), seq(fails(throttled), fails(denied)), connection.ResultOK, "", 3, true, []bool{true, true, true}},
		{"unclassified error is transient, not denied", always(check.Session{}, errors.New("boom")), nil, connection.ResultTransient, "TRANSIENT", 1, false, []bool{false}},
		{"region disabled without external ID is not ok", always(sess(acct), nil), always(check.Session{}, disabled), connection.ResultTransient, "RegionDisabledException", 2, true, []bool{true, true, false}},
		{"wrapped denial", always(check.Session{}, fmt.Errorf("adapter: %w", denied)), nil, connection.ResultDenied, "AccessDenied", 1, false, []bool{false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			without := tt.without
			if without == nil {
				without = func(int) (check.Session, error) {
					t.Error("the call without external ID must not happen")
					return check.Session{}, denied
				}
			}
			f := &fakeAssumer{answer: withExtID(tt.with, without)}
			rep := newChecker(f, nil).Check(context.Background(), request())
			want := connection.Outcome{Result: tt.want, Detail: tt.detail, Version: 7, ExternalIDVersion: 3, CheckedAt: checkedAt}
			if rep.Outcome != want {
				t.Fatalf("outcome %+v, want %+v", rep.Outcome, want)
			}
			if len(f.calls) != tt.calls {
				t.Fatalf("%d AssumeRole calls, want %d", len(f.calls), tt.calls)
			}
			var sawWithout bool
			for i, c := range f.calls {
				if c.RoleARN != roleARN || c.SessionName != check.SessionName("acme-prod", acct) ||
					c.DurationSeconds != 900 || c.Policy != check.SessionPolicy {
					t.Fatalf("call %d = %+v", i, c)
				}
				if !stsSessionName.MatchString(c.SessionName) {
					t.Fatalf("RoleSessionName %q is not valid for STS", c.SessionName)
				}
				if c.ExternalID == "" {
					sawWithout = true
				} else if c.ExternalID != externalID {
					t.Fatalf("call %d external ID %q", i, c.ExternalID)
				} else if sawWithout {
					t.Fatal("a call with external ID came after the call without")
				}
			}
			if f.calls[0].ExternalID != externalID {
				t.Fatal("the first call must carry the external ID")
			}
			if sawWithout != tt.withoutCall {
				t.Fatalf("call without external ID: %v, want %v", sawWithout, tt.withoutCall)
			}
			var got []bool
			for _, s := range rep.Steps {
				got = append(got, s.OK)
				if s.Name == "" {
					t.Fatalf("unnamed step %+v", s)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.steps) {
				t.Fatalf("steps %+v, want OK flags %v", rep.Steps, tt.steps)
			}
			for _, ctx := range f.ctxs {
				if _, ok := ctx.Deadline(); !ok {
					t.Fatal("STS called without the budget's deadline")
				}
			}
		})
	}
}

func TestCheckBudget(t *testing.T) {
	t.Run("budget bounds retries", func(t *testing.T) {
		f := &fakeAssumer{answer: func(int, check.AssumeRequest) (check.Session, error) { return check.Session{}, throttled }}
		c := newChecker(f, nil)
		c.Attempts, c.BaseDelay, c.Budget = 1000, 20*time.Millisecond, 150*time.Millisecond
		start := time.Now()
		rep := c.Check(context.Background(), request())
		if el := time.Since(start); el > 2*time.Second {
			t.Fatalf("check took %v with a 150ms budget", el)
		}
		if rep.Outcome.Result != connection.ResultTransient {
			t.Fatalf("outcome %+v, want TRANSIENT", rep.Outcome)
		}
		if n := len(f.calls); n < 2 || n > 20 {
			t.Fatalf("%d calls within the budget", n)
		}
	})
	t.Run("caller deadline", func(t *testing.T) {
		// STS hangs until the context ends.
		f := &fakeAssumer{answer: func(int, check.AssumeRequest) (check.Session, error) { return check.Session{}, nil }}
		var mu sync.Mutex
		f.answer = func(n int, _ check.AssumeRequest) (check.Session, error) {
			mu.Lock()
			ctx := f.ctxs[n]
			mu.Unlock()
			<-ctx.Done()
			return check.Session{}, ctx.Err() // unclassified: must still be transient
		}
		c := newChecker(f, nil)
		c.Budget = time.Minute
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		rep := c.Check(ctx, request())
		if el := time.Since(start); el > 2*time.Second {
			t.Fatalf("check took %v with a 100ms deadline", el)
		}
		if rep.Outcome.Result != connection.ResultTransient {
			t.Fatalf("outcome %+v, want TRANSIENT", rep.Outcome)
		}
		if d, _ := f.ctxs[0].Deadline(); time.Until(d) > time.Second {
			t.Fatalf("STS context deadline %v ignores the caller's", d)
		}
	})
	t.Run("budget sets the STS deadline", func(t *testing.T) {
		f := &fakeAssumer{answer: withExtID(always(sess(acct), nil), always(check.Session{}, denied))}
		c := newChecker(f, nil)
		c.Budget = 3 * time.Second
		start := time.Now()
		c.Check(context.Background(), request())
		d, ok := f.ctxs[0].Deadline()
		if !ok || d.Sub(start) > 3*time.Second+100*time.Millisecond {
			t.Fatalf("STS deadline %v, want within the 3s budget", d.Sub(start))
		}
	})
}

func TestBackoff(t *testing.T) {
	tests := []struct {
		base time.Duration
		i    int
		want time.Duration
	}{
		{200 * time.Millisecond, 0, 200 * time.Millisecond},
		{200 * time.Millisecond, 1, 400 * time.Millisecond},
		{200 * time.Millisecond, 3, 1600 * time.Millisecond},
		{200 * time.Millisecond, 4, 2 * time.Second},
		{200 * time.Millisecond, 40, 2 * time.Second}, // 200ms<<40 overflows int64
		{200 * time.Millisecond, 100, 2 * time.Second},
		{time.Nanosecond, 63, 2 * time.Second},
		{time.Hour, 0, 2 * time.Second},
		{time.Duration(1 << 62), 3, 2 * time.Second},
	}
	for _, tt := range tests {
		if got := check.Backoff(tt.base, tt.i); got != tt.want {
			t.Errorf("backoff(%v, %d) = %v, want %v", tt.base, tt.i, got, tt.want)
		}
	}
}

func TestSessionName(t *testing.T) {
	tests := []struct {
		tenant, account string
		prefix          string
	}{
		{"acme-prod", acct, "rolecall-acme-prod-"},
		{"a", acct, "rolecall-a-"},
		{"", acct, "rolecall-"},
		{strings.Repeat("t", 64), acct, "rolecall-" + strings.Repeat("t", 32) + "-"},
		{"Acme.Corp_EU", acct, "rolecall-Acme.Corp_EU-"},
		{"a/b:c d", acct, "rolecall-abcd-"},
		{"caf\u00e9-\u0430", acct, "rolecall-caf--"},
		{"\u4e2d\u6587", acct, "rolecall-"},
		{"../..", acct, "rolecall-....-"},
		{strings.Repeat("\u00e9", 100), acct, "rolecall-"},
	}
	seen := map[string]string{}
	for _, tt := range tests {
		n := check.SessionName(tt.tenant, tt.account)
		if !stsSessionName.MatchString(n) {
			t.Errorf("SessionName(%q) = %q is not valid for STS", tt.tenant, n)
		}
		if !strings.HasPrefix(n, tt.prefix) {
			t.Errorf("SessionName(%q) = %q, want prefix %q", tt.tenant, n, tt.prefix)
		}
		if n != check.SessionName(tt.tenant, tt.account) {
			t.Errorf("SessionName(%q) is not stable", tt.tenant)
		}
		if prev, dup := seen[n]; dup {
			t.Errorf("SessionName(%q) = SessionName(%q) = %q", tt.tenant, prev, n)
		}
		seen[n] = tt.tenant
	}
	// Two tenants sharing a 32-character prefix, and two accounts of one
	// tenant, still get distinct names.
	a := check.SessionName(strings.Repeat("t", 40)+"a", acct)
	b := check.SessionName(strings.Repeat("t", 40)+"b", acct)
	c := check.SessionName("acme-prod", otherAcct)
	if a == b || c == check.SessionName("acme-prod", acct) {
		t.Fatalf("session names collide: %s %s %s", a, b, c)
	}
}

func TestSessionPolicy(t *testing.T) {
	var doc struct {
		Version   string
		Statement []struct {
			Effect   string
			Action   any
			Resource any
		}
	}
	if err := json.Unmarshal([]byte(check.SessionPolicy), &doc); err != nil {
		t.Fatalf("SessionPolicy is not JSON: %v", err)
	}
	if doc.Version != "2012-10-17" || len(doc.Statement) != 1 {
		t.Fatalf("policy %+v", doc)
	}
	s := doc.Statement[0]
	if s.Effect != "Deny" || s.Action != "*" || s.Resource != "*" {
		t.Fatalf("the session policy must deny everything: %+v", s)
	}
	if check.SessionDuration != 900 {
		t.Fatalf("SessionDuration = %d, want STS's minimum 900", check.SessionDuration)
	}
}

func TestSTSErrorUnwrap(t *testing.T) {
	cause := errors.New("cause")
	err := fmt.Errorf("wrap: %w", &check.STSError{Kind: check.ErrDenied, Code: "AccessDenied", Err: cause})
	if !errors.Is(err, check.ErrDenied) || !errors.Is(err, cause) || errors.Is(err, check.ErrTransient) {
		t.Fatal("STSError must unwrap to its kind and cause only")
	}
	if !strings.Contains(err.Error(), "AccessDenied") {
		t.Fatalf("Error() = %q lacks the code", err.Error())
	}
}

func TestJobRequest(t *testing.T) {
	j := check.Job{
		Connection:        connection.Connection{TenantID: "acme", AccountID: acct, RoleARN: roleARN, Version: 9},
		ExternalID:        externalID,
		ExternalIDVersion: 4,
		Why:               check.WhyScheduled,
	}
	want := check.Request{TenantID: "acme", AccountID: acct, RoleARN: roleARN, ExternalID: externalID, ExternalIDVersion: 4, Version: 9}
	if got := j.Request(); got != want {
		t.Fatalf("Request() = %+v, want %+v", got, want)
	}
	b, err := json.Marshal(j)
	if err != nil {
		t.Fatal(err)
	}
	var back check.Job
	if err := json.Unmarshal(b, &back); err != nil || back.Request() != want || back.Why != check.WhyScheduled {
		t.Fatalf("job JSON round trip: %s -> %+v (%v)", b, back, err)
	}
}

func TestCheckLogsNoSecrets(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	for _, answers := range [][2]func(int) (check.Session, error){
		{always(sess(acct), nil), always(check.Session{}, denied)},
		{always(check.Session{}, denied), nil},
		{always(check.Session{}, throttled), nil},
		{always(sess(acct), nil), always(sess(acct), nil)},
	} {
		without := answers[1]
		if without == nil {
			without = always(check.Session{}, denied)
		}
		newChecker(&fakeAssumer{answer: withExtID(answers[0], without)}, log).Check(context.Background(), request())
	}
	out := buf.String()
	if !strings.Contains(out, `"msg":"role check"`) || !strings.Contains(out, `"msg":"sts call failed"`) {
		t.Fatalf("expected check logs, got:\n%s", out)
	}
	if strings.Contains(out, externalID) || strings.Contains(out, externalID[7:]) {
		t.Fatalf("log contains the external ID:\n%s", out)
	}
}
