package probe_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/probe"
	"github.com/rolecall/rolecall/internal/tenant"
)

const (
	acct       = "123456789012"
	otherAcct  = "210987654321"
	roleARN    = "arn:aws:iam::123456789012:role/RoleCall"
	externalID = "rc-SECRETEXTERNALIDVALUE234567ABCDE"
	previousID = "rc-PREVIOUSEXTERNALIDVALUE234567ABC"
)

// stsSessionName is STS's RoleSessionName pattern.
var stsSessionName = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)

// externalIDShape is the shape of the external IDs tenant.NewExternalID
// generates; a decoy must have it too.
var externalIDShape = regexp.MustCompile(`^rc-[A-Z2-7]{32}$`)

// kind classifies an AssumeRole call by the external ID it carries.
type kind string

const (
	kCurrent  kind = "current"
	kNone     kind = "none"
	kDecoy    kind = "decoy"
	kPrevious kind = "previous"
)

// answer says what STS answers to the n-th call (from 0) of one kind.
type answer func(n int) (probe.Session, error)

// legacyExternalID is a current external ID RoleCall did not generate, as
// `rolecall verify --external-id` checks: its check sends two decoys.
const legacyExternalID = "acme-123"

// keyedAssumer answers each call by the kind of its external ID, the way a
// trust policy decides, and records the calls.
type keyedAssumer struct {
	t       *testing.T
	answers map[kind]answer
	// arrive, when set, runs before answering (a barrier, say); an error
	// is returned as the call's.
	arrive func(ctx context.Context, k kind) error

	mu     sync.Mutex
	calls  []probe.AssumeRequest
	ctxs   []context.Context
	counts map[kind]int
	decoys []string
}

var _ probe.Assumer = (*keyedAssumer)(nil)

func kindOf(extID string) kind {
	switch extID {
	case externalID, legacyExternalID:
		return kCurrent
	case previousID:
		return kPrevious
	case "":
		return kNone
	}
	return kDecoy
}

func (f *keyedAssumer) AssumeRole(ctx context.Context, in probe.AssumeRequest) (probe.Session, error) {
	k := kindOf(in.ExternalID)
	f.mu.Lock()
	if f.counts == nil {
		f.counts = map[kind]int{}
	}
	n := f.counts[k]
	f.counts[k]++
	f.calls = append(f.calls, in)
	f.ctxs = append(f.ctxs, ctx)
	if k == kDecoy {
		f.decoys = append(f.decoys, in.ExternalID)
	}
	f.mu.Unlock()
	if f.arrive != nil {
		if err := f.arrive(ctx, k); err != nil {
			return probe.Session{}, err
		}
	}
	a := f.answers[k]
	if a == nil {
		f.t.Errorf("unexpected AssumeRole call with the %s external ID", k)
		return probe.Session{}, denied
	}
	return a(n)
}

func (f *keyedAssumer) count(k kind) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.counts[k]
}

func sess(account string) probe.Session {
	return probe.Session{AssumedRoleARN: "arn:aws:sts::" + account + ":assumed-role/RoleCall/s", AccountID: account}
}

var (
	denied    = &probe.STSError{Kind: probe.ErrDenied, Code: "AccessDenied", Err: errors.New("not authorized")}
	disabled  = &probe.STSError{Kind: probe.ErrRegionDisabled, Code: "RegionDisabledException", Err: errors.New("region disabled")}
	throttled = &probe.STSError{Kind: probe.ErrTransient, Code: "Throttling", Err: errors.New("rate exceeded")}
)

func always(s probe.Session, err error) answer {
	return func(int) (probe.Session, error) { return s, err }
}

// Answers of a whole probe.
var (
	aOK       = always(sess(acct), nil)
	aOther    = always(sess(otherAcct), nil)
	aDenied   = always(probe.Session{}, denied)
	aDisabled = always(probe.Session{}, disabled)
	aThrottle = always(probe.Session{}, throttled)
)

// seq answers the i-th attempt with the i-th answer (the last one repeats).
func seq(answers ...answer) answer {
	return func(i int) (probe.Session, error) { return answers[min(i, len(answers)-1)](i) }
}

func request() probe.Request {
	return probe.Request{TenantID: "acme-prod", AccountID: acct, RoleARN: roleARN, ExternalID: externalID, ExternalIDVersion: 3, Version: 7}
}

func requestWithPrevious() probe.Request {
	r := request()
	r.PreviousExternalID, r.PreviousExternalIDVersion = previousID, 2
	return r
}

var checkedAt = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func newChecker(a probe.Assumer, log *slog.Logger) *probe.Checker {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &probe.Checker{STS: a, Attempts: 3, BaseDelay: time.Millisecond, Budget: 5 * time.Second, Log: log,
		Now: func() time.Time { return checkedAt }}
}

// stepWant is a step's name and whether it passed.
type stepWant struct {
	name string
	ok   bool
}

func pass(name string) stepWant { return stepWant{name, true} }
func fail(name string) stepWant { return stepWant{name, false} }

func stepsOf(rep probe.Report) []stepWant {
	var out []stepWant
	for _, s := range rep.Steps {
		out = append(out, stepWant{s.Name, s.OK})
	}
	return out
}

func decisiveOf(rep probe.Report) []string {
	var out []string
	for _, s := range rep.Steps {
		if s.Decisive {
			out = append(out, s.Name)
		}
	}
	return out
}

const (
	sA = probe.StepAssume
	sP = probe.StepPrevious
	sC = probe.StepAccount
	sW = probe.StepWithoutExtID
	sD = probe.StepDecoyExtID
)

func TestCheck(t *testing.T) {
	const (
		noExtID  = connection.NotEnforcedWithoutExternalID
		anyExtID = connection.NotEnforcedAnyExternalID
	)
	okSteps := []stepWant{pass(sA), pass(sC), pass(sW), pass(sD)}
	tests := []struct {
		name                   string
		cur, none, decoy, prev answer // prev nil: the request has no previous external ID
		previousNotTried       bool   // the request has one, but it must not be tried
		want                   connection.Result
		detail                 string
		extVersion             int
		extCurrent             bool
		steps                  []stepWant
		decisive               []string
		calls                  map[kind]int
	}{
		{name: "ok", cur: aOK, none: aDenied, decoy: aDenied,
			want: connection.ResultOK, extVersion: 3, extCurrent: true, steps: okSteps,
			calls: map[kind]int{kCurrent: 1, kNone: 1, kDecoy: 1}},
		{name: "denied", cur: aDenied, none: aDenied, decoy: aDenied,
			want: connection.ResultDenied, detail: "AccessDenied", extVersion: 3,
			steps: []stepWant{fail(sA), pass(sW), pass(sD)}, decisive: []string{sA}},
		{name: "denied decides whatever the negatives said", cur: aDenied, none: aOK, decoy: aOK,
			want: connection.ResultDenied, detail: "AccessDenied", extVersion: 3,
			steps: []stepWant{fail(sA), fail(sW), fail(sD)}, decisive: []string{sA}},
		{name: "denied decides over transient negatives, which stop retrying", cur: aDenied, none: aThrottle, decoy: aThrottle,
			want: connection.ResultDenied, detail: "AccessDenied", extVersion: 3,
			steps: []stepWant{fail(sA), fail(sW), fail(sD)}, decisive: []string{sA},
			calls: map[kind]int{kCurrent: 1, kNone: 1, kDecoy: 1}},
		{name: "no condition: every negative succeeds", cur: aOK, none: aOK, decoy: aOK,
			want: connection.ResultNotEnforced, detail: noExtID, extVersion: 3, extCurrent: true,
			steps: []stepWant{pass(sA), pass(sC), fail(sW), fail(sD)}, decisive: []string{sW}},
		{name: "IfExists: only the call without external ID succeeds", cur: aOK, none: aOK, decoy: aDenied,
			want: connection.ResultNotEnforced, detail: noExtID, extVersion: 3, extCurrent: true,
			steps: []stepWant{pass(sA), pass(sC), fail(sW), pass(sD)}, decisive: []string{sW}},
		{name: "wildcard: only the decoy succeeds", cur: aOK, none: aDenied, decoy: aOK,
			want: connection.ResultNotEnforced, detail: anyExtID, extVersion: 3, extCurrent: true,
			steps: []stepWant{pass(sA), pass(sC), pass(sW), fail(sD)}, decisive: []string{sD}},
		{name: "account mismatch", cur: aOther, none: aDenied, decoy: aDenied,
			want: connection.ResultAccountMismatch, detail: otherAcct, extVersion: 3, extCurrent: true,
			steps: []stepWant{pass(sA), fail(sC), pass(sW), pass(sD)}, decisive: []string{sC}},
		{name: "account mismatch decides over a negative that succeeded", cur: aOther, none: aOther, decoy: aOther,
			want: connection.ResultAccountMismatch, detail: otherAcct, extVersion: 3, extCurrent: true,
			steps: []stepWant{pass(sA), fail(sC), fail(sW), fail(sD)}, decisive: []string{sC}},
		{name: "region disabled", cur: aDisabled, none: aDisabled, decoy: aDisabled,
			want: connection.ResultRegionDisabled, detail: "RegionDisabledException", extVersion: 3,
			steps: []stepWant{fail(sA), fail(sW), fail(sD)}, decisive: []string{sA}},
		{name: "transient retried then transient", cur: aThrottle, none: aDenied, decoy: aDenied,
			want: connection.ResultTransient, detail: "Throttling", extVersion: 3,
			steps: []stepWant{fail(sA), pass(sW), pass(sD)}, decisive: []string{sA},
			calls: map[kind]int{kCurrent: 3, kNone: 1, kDecoy: 1}},
		{name: "transient decides over a negative that succeeded", cur: aThrottle, none: aOK, decoy: aOK,
			want: connection.ResultTransient, detail: "Throttling", extVersion: 3,
			steps: []stepWant{fail(sA), fail(sW), fail(sD)}, decisive: []string{sA}},
		{name: "transient then success", cur: seq(aThrottle, aThrottle, aOK), none: aDenied, decoy: aDenied,
			want: connection.ResultOK, extVersion: 3, extCurrent: true, steps: okSteps,
			calls: map[kind]int{kCurrent: 3, kNone: 1, kDecoy: 1}},
		{name: "transient then denied", cur: seq(aThrottle, aDenied), none: aDenied, decoy: aDenied,
			want: connection.ResultDenied, detail: "AccessDenied", extVersion: 3,
			steps: []stepWant{fail(sA), pass(sW), pass(sD)}, decisive: []string{sA},
			calls: map[kind]int{kCurrent: 2, kNone: 1, kDecoy: 1}},
		{name: "transient without external ID", cur: aOK, none: aThrottle, decoy: aDenied,
			want: connection.ResultTransient, detail: "Throttling", extVersion: 3, extCurrent: true,
			steps: []stepWant{pass(sA), pass(sC), fail(sW), pass(sD)}, decisive: []string{sW},
			calls: map[kind]int{kCurrent: 1, kNone: 3, kDecoy: 1}},
		{name: "transient decoy", cur: aOK, none: aDenied, decoy: aThrottle,
			want: connection.ResultTransient, detail: "Throttling", extVersion: 3, extCurrent: true,
			steps: []stepWant{pass(sA), pass(sC), pass(sW), fail(sD)}, decisive: []string{sD},
			calls: map[kind]int{kCurrent: 1, kNone: 1, kDecoy: 3}},
		{name: "a transient negative leaves the check transient even when the other succeeded", cur: aOK, none: aOK, decoy: aThrottle,
			want: connection.ResultTransient, detail: "Throttling", extVersion: 3, extCurrent: true,
			steps: []stepWant{pass(sA), pass(sC), fail(sW), fail(sD)}, decisive: []string{sD}},
		{name: "transient then denied without external ID", cur: aOK, none: seq(aThrottle, aDenied), decoy: aDenied,
			want: connection.ResultOK, extVersion: 3, extCurrent: true, steps: okSteps,
			calls: map[kind]int{kCurrent: 1, kNone: 2, kDecoy: 1}},
		{name: "transient then not enforced without external ID", cur: aOK, none: seq(aThrottle, aOK), decoy: aDenied,
			want: connection.ResultNotEnforced, detail: noExtID, extVersion: 3, extCurrent: true,
			steps: []stepWant{pass(sA), pass(sC), fail(sW), pass(sD)}, decisive: []string{sW},
			calls: map[kind]int{kCurrent: 1, kNone: 2, kDecoy: 1}},
		{name: "transient then decoy accepted", cur: aOK, none: aDenied, decoy: seq(aThrottle, aThrottle, aOK),
			want: connection.ResultNotEnforced, detail: anyExtID, extVersion: 3, extCurrent: true,
			steps: []stepWant{pass(sA), pass(sC), pass(sW), fail(sD)}, decisive: []string{sD},
			calls: map[kind]int{kCurrent: 1, kNone: 1, kDecoy: 3}},
		{name: "region disabled on a negative is not ok", cur: aOK, none: aDisabled, decoy: aDenied,
			want: connection.ResultTransient, detail: "RegionDisabledException", extVersion: 3, extCurrent: true,
			steps: []stepWant{pass(sA), pass(sC), fail(sW), pass(sD)}, decisive: []string{sW},
			calls: map[kind]int{kCurrent: 1, kNone: 1, kDecoy: 1}},
		{name: "unclassified error is transient, not denied", cur: always(probe.Session{}, errors.New("boom")), none: aDenied, decoy: aDenied,
			want: connection.ResultTransient, detail: "TRANSIENT", extVersion: 3,
			steps: []stepWant{fail(sA), pass(sW), pass(sD)}, decisive: []string{sA},
			calls: map[kind]int{kCurrent: 1}},
		{name: "unclassified error on the decoy is transient, not a pass", cur: aOK, none: aDenied, decoy: always(probe.Session{}, errors.New("boom")),
			want: connection.ResultTransient, detail: "TRANSIENT", extVersion: 3, extCurrent: true,
			steps: []stepWant{pass(sA), pass(sC), pass(sW), fail(sD)}, decisive: []string{sD}},
		{name: "wrapped denial", cur: always(probe.Session{}, fmt.Errorf("adapter: %w", denied)), none: aDenied, decoy: aDenied,
			want: connection.ResultDenied, detail: "AccessDenied", extVersion: 3,
			steps: []stepWant{fail(sA), pass(sW), pass(sD)}, decisive: []string{sA}},

		// Rotation: the previous external ID is tried only when the
		// current one is denied, after the negatives were sent.
		{name: "previous ID works during grace", cur: aDenied, prev: aOK, none: aDenied, decoy: aDenied,
			want: connection.ResultOK, extVersion: 2, extCurrent: false,
			steps: []stepWant{fail(sA), pass(sP), pass(sC), pass(sW), pass(sD)},
			calls: map[kind]int{kCurrent: 1, kPrevious: 1, kNone: 1, kDecoy: 1}},
		{name: "previous ID denied too", cur: aDenied, prev: aDenied, none: aDenied, decoy: aDenied,
			want: connection.ResultDenied, detail: "AccessDenied", extVersion: 3,
			steps: []stepWant{fail(sA), fail(sP), pass(sW), pass(sD)}, decisive: []string{sA, sP},
			calls: map[kind]int{kCurrent: 1, kPrevious: 1, kNone: 1, kDecoy: 1}},
		{name: "previous ID works but not enforced", cur: aDenied, prev: aOK, none: aOK, decoy: aDenied,
			want: connection.ResultNotEnforced, detail: noExtID, extVersion: 2,
			steps: []stepWant{fail(sA), pass(sP), pass(sC), fail(sW), pass(sD)}, decisive: []string{sW}},
		{name: "previous ID works but accepts any ID", cur: aDenied, prev: aOK, none: aDenied, decoy: aOK,
			want: connection.ResultNotEnforced, detail: anyExtID, extVersion: 2,
			steps: []stepWant{fail(sA), pass(sP), pass(sC), pass(sW), fail(sD)}, decisive: []string{sD}},
		{name: "previous ID lands in another account", cur: aDenied, prev: aOther, none: aDenied, decoy: aDenied,
			want: connection.ResultAccountMismatch, detail: otherAcct, extVersion: 2,
			steps: []stepWant{fail(sA), pass(sP), fail(sC), pass(sW), pass(sD)}, decisive: []string{sC}},
		{name: "previous ID transient", cur: aDenied, prev: aThrottle, none: aDenied, decoy: aDenied,
			want: connection.ResultTransient, detail: "Throttling", extVersion: 3,
			steps: []stepWant{fail(sA), fail(sP), pass(sW), pass(sD)}, decisive: []string{sA, sP},
			calls: map[kind]int{kCurrent: 1, kPrevious: 3, kNone: 1, kDecoy: 1}},
		{name: "previous ID transient then ok", cur: aDenied, prev: seq(aThrottle, aOK), none: aDenied, decoy: aDenied,
			want: connection.ResultOK, extVersion: 2,
			steps: []stepWant{fail(sA), pass(sP), pass(sC), pass(sW), pass(sD)},
			calls: map[kind]int{kCurrent: 1, kPrevious: 2, kNone: 1, kDecoy: 1}},
		{name: "previous ID not tried when the current one works", cur: aOK, previousNotTried: true, none: aDenied, decoy: aDenied,
			want: connection.ResultOK, extVersion: 3, extCurrent: true, steps: okSteps,
			calls: map[kind]int{kCurrent: 1, kPrevious: 0, kNone: 1, kDecoy: 1}},
		{name: "previous ID not tried after a transient error", cur: aThrottle, previousNotTried: true, none: aDenied, decoy: aDenied,
			want: connection.ResultTransient, detail: "Throttling", extVersion: 3,
			steps: []stepWant{fail(sA), pass(sW), pass(sD)}, decisive: []string{sA},
			calls: map[kind]int{kCurrent: 3, kPrevious: 0}},
		{name: "previous ID not tried when the region is disabled", cur: aDisabled, previousNotTried: true, none: aDisabled, decoy: aDisabled,
			want: connection.ResultRegionDisabled, detail: "RegionDisabledException", extVersion: 3,
			steps: []stepWant{fail(sA), fail(sW), fail(sD)}, decisive: []string{sA},
			calls: map[kind]int{kPrevious: 0}},
		{name: "previous ID not tried when the current one lands in another account", cur: aOther, previousNotTried: true, none: aDenied, decoy: aDenied,
			want: connection.ResultAccountMismatch, detail: otherAcct, extVersion: 3, extCurrent: true,
			steps: []stepWant{pass(sA), fail(sC), pass(sW), pass(sD)}, decisive: []string{sC},
			calls: map[kind]int{kPrevious: 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// In a bubble, so retries and their backoff take no time and
			// whether a negative retries is decided by the code alone.
			synctest.Test(t, func(t *testing.T) {
				f := &keyedAssumer{t: t, answers: map[kind]answer{kCurrent: tt.cur, kNone: tt.none, kDecoy: tt.decoy, kPrevious: tt.prev}}
				req := request()
				if tt.prev != nil || tt.previousNotTried {
					req = requestWithPrevious()
				}
				rep := newChecker(f, nil).Check(context.Background(), req)
				want := connection.Outcome{Result: tt.want, Detail: tt.detail, Version: 7, ExternalIDVersion: tt.extVersion,
					ExternalIDCurrent: tt.extCurrent, CheckedAt: checkedAt}
				if rep.Outcome != want {
					t.Fatalf("outcome %+v, want %+v; steps %+v", rep.Outcome, want, rep.Steps)
				}
				if got := stepsOf(rep); !slices.Equal(got, tt.steps) {
					t.Fatalf("steps %v, want %v", got, tt.steps)
				}
				if got := decisiveOf(rep); !slices.Equal(got, tt.decisive) {
					t.Fatalf("decisive steps %v, want %v", got, tt.decisive)
				}
				for k, n := range tt.calls {
					if got := f.count(k); got != n {
						t.Errorf("%d calls with the %s external ID, want %d", got, k, n)
					}
				}
				for _, k := range []kind{kCurrent, kNone, kDecoy} {
					if f.count(k) == 0 {
						t.Errorf("no call with the %s external ID: every check sends all three probes", k)
					}
				}
				for i, c := range f.calls {
					if c.RoleARN != roleARN || c.SessionName != probe.SessionName("acme-prod", acct) ||
						c.DurationSeconds != 900 || c.Policy != probe.SessionPolicy {
						t.Fatalf("call %d = %+v", i, c)
					}
					if !stsSessionName.MatchString(c.SessionName) {
						t.Fatalf("RoleSessionName %q is not valid for STS", c.SessionName)
					}
				}
				for _, d := range f.decoys {
					if !externalIDShape.MatchString(d) || d != f.decoys[0] {
						t.Fatalf("decoys %q: want one external ID shaped like the tenant's", f.decoys)
					}
				}
				for _, ctx := range f.ctxs {
					if _, ok := ctx.Deadline(); !ok {
						t.Fatal("STS called without the budget's deadline")
					}
				}
				for _, s := range rep.Steps {
					if s.Name == "" || (s.OK && s.Code != "") || (!s.OK && s.Code == "") {
						t.Fatalf("step %+v: a failed step has a code, a passed one none", s)
					}
				}
			})
		})
	}
}

// TestCheckEveryCombination runs every combination of answers to the four
// probes against the rules as the design states them, independently of
// the table above: the real call (or, after a denial, the previous ID)
// decides first; then the session's account; then any negative probe that
// was neither denied nor succeeded leaves the check transient; then a
// negative that succeeded is a hole; only then OK.
func TestCheckEveryCombination(t *testing.T) {
	type ans string
	const (
		ok, other, deny, off, slow, absent ans = "ok", "other-account", "denied", "region-off", "throttled", "absent"
	)
	answers := map[ans]answer{ok: aOK, other: aOther, deny: aDenied, off: aDisabled, slow: aThrottle}
	primaries := []ans{ok, other, deny, off, slow}
	negatives := []ans{deny, ok, off, slow}
	previous := []ans{absent, ok, other, deny, off, slow}
	n := 0
	for _, cur := range primaries {
		for _, none := range negatives {
			for _, decoy := range negatives {
				for _, prev := range previous {
					name := fmt.Sprintf("cur=%s/none=%s/decoy=%s/prev=%s", cur, none, decoy, prev)
					n++
					// the spec
					primary, version := cur, 3
					if cur == deny && prev != absent {
						primary = prev
						if prev == ok || prev == other {
							version = 2
						}
					}
					var want connection.Result
					detail := ""
					switch {
					case primary == deny:
						want, detail = connection.ResultDenied, "AccessDenied"
					case primary == off:
						want, detail = connection.ResultRegionDisabled, "RegionDisabledException"
					case primary == slow:
						want, detail = connection.ResultTransient, "Throttling"
					case primary == other:
						want, detail = connection.ResultAccountMismatch, otherAcct
					case none == off || decoy == off || none == slow || decoy == slow:
						want = connection.ResultTransient
					case none == ok:
						want, detail = connection.ResultNotEnforced, connection.NotEnforcedWithoutExternalID
					case decoy == ok:
						want, detail = connection.ResultNotEnforced, connection.NotEnforcedAnyExternalID
					default:
						want = connection.ResultOK
					}

					synctest.Test(t, func(t *testing.T) {
						f := &keyedAssumer{t: t, answers: map[kind]answer{kCurrent: answers[cur], kNone: answers[none], kDecoy: answers[decoy]}}
						req := request()
						if prev != absent {
							req = requestWithPrevious()
							f.answers[kPrevious] = answers[prev]
						}
						rep := newChecker(f, nil).Check(context.Background(), req)
						o := rep.Outcome
						if o.Result != want || (detail != "" && o.Detail != detail) || o.ExternalIDVersion != version ||
							o.ExternalIDCurrent != (cur == ok || cur == other) {
							t.Errorf("%s: outcome %+v, want %s %q v%d", name, o, want, detail, version)
						}
						if o.Result == connection.ResultTransient && o.Detail == "" {
							t.Errorf("%s: transient outcome without the STS code", name)
						}
						if tried := f.count(kPrevious) > 0; tried != (cur == deny && prev != absent) {
							t.Errorf("%s: previous external ID tried: %v", name, tried)
						}
						if f.count(kCurrent) == 0 || f.count(kNone) == 0 || f.count(kDecoy) == 0 {
							t.Errorf("%s: not all three probes sent: %v", name, f.counts)
						}
						if o.Result == connection.ResultOK && (none != deny || decoy != deny) {
							t.Errorf("%s: OK although a negative probe was not denied", name)
						}
					})
				}
			}
		}
	}
	if n != 5*4*4*6 {
		t.Fatalf("%d combinations", n)
	}
}

// TestCheckProbesRunConcurrently proves that a check costs one STS round
// trip: every call blocks at a barrier until all three probes have arrived,
// so a checker that sent them one after another would never get an answer
// (its budget would end the check as TRANSIENT). With a previous external
// ID, the fallback call comes after the current one was denied, while the
// negatives may still be in flight.
func TestCheckProbesRunConcurrently(t *testing.T) {
	tests := []struct {
		name     string
		req      probe.Request
		cur      answer
		want     connection.Result
		previous int
	}{
		{"routine check", request(), aOK, connection.ResultOK, 0},
		{"denied", request(), aDenied, connection.ResultDenied, 0},
		{"fallback to the previous ID", requestWithPrevious(), aDenied, connection.ResultOK, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				all := make(chan struct{})
				var mu sync.Mutex
				arrived := map[kind]bool{}
				f := &keyedAssumer{t: t, answers: map[kind]answer{kCurrent: tt.cur, kNone: aDenied, kDecoy: aDenied, kPrevious: aOK}}
				f.arrive = func(ctx context.Context, k kind) error {
					if k == kPrevious {
						select {
						case <-all: // the fallback comes after the three probes
							return nil
						default:
							return errors.New("previous external ID tried before the three probes had all been sent")
						}
					}
					mu.Lock()
					arrived[k] = true
					if len(arrived) == 3 {
						close(all)
					}
					mu.Unlock()
					select {
					case <-all:
						return nil
					case <-ctx.Done():
						mu.Lock()
						defer mu.Unlock()
						return fmt.Errorf("barrier: only %v arrived: %w", arrived, ctx.Err())
					}
				}
				c := newChecker(f, nil)
				c.Attempts = 1
				rep := c.Check(context.Background(), tt.req)
				if rep.Outcome.Result != tt.want {
					t.Fatalf("outcome %+v, want %s; steps %+v", rep.Outcome, tt.want, rep.Steps)
				}
				if f.count(kPrevious) != tt.previous || len(f.calls) != 3+tt.previous {
					t.Fatalf("%d calls (%v), want %d", len(f.calls), f.counts, 3+tt.previous)
				}
			})
		})
	}
}

func TestCheckBudget(t *testing.T) {
	t.Run("budget bounds retries", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			f := &keyedAssumer{t: t, answers: map[kind]answer{kCurrent: aThrottle, kNone: aThrottle, kDecoy: aThrottle}}
			c := newChecker(f, nil)
			c.Attempts, c.BaseDelay, c.Budget = 1000, 20*time.Millisecond, 150*time.Millisecond
			start := time.Now()
			rep := c.Check(context.Background(), request())
			if el := time.Since(start); el != 150*time.Millisecond {
				t.Fatalf("check took %v with a 150ms budget", el)
			}
			if rep.Outcome.Result != connection.ResultTransient {
				t.Fatalf("outcome %+v, want TRANSIENT", rep.Outcome)
			}
			// 20ms, 40ms, 80ms fit in 150ms (with jitter, up to 5 waits).
			if n := f.count(kCurrent); n < 3 || n > 6 {
				t.Fatalf("%d calls within the budget", n)
			}
		})
	})
	t.Run("attempts bound each probe", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			f := &keyedAssumer{t: t, answers: map[kind]answer{kCurrent: seq(aThrottle, aThrottle, aThrottle, aDenied), kNone: aThrottle, kDecoy: aThrottle, kPrevious: aThrottle}}
			c := newChecker(f, nil)
			c.Attempts, c.Budget = 4, time.Hour
			rep := c.Check(context.Background(), requestWithPrevious())
			if rep.Outcome.Result != connection.ResultTransient || rep.Outcome.Detail != "Throttling" {
				t.Fatalf("outcome %+v, want TRANSIENT from the previous ID", rep.Outcome)
			}
			for _, k := range []kind{kCurrent, kNone, kDecoy, kPrevious} {
				if n := f.count(k); n != 4 {
					t.Errorf("%d calls with the %s external ID, want Attempts (4)", n, k)
				}
			}
			if len(f.calls) != 4*4 {
				t.Fatalf("%d calls, want at most 4 probes × 4 attempts", len(f.calls))
			}
		})
	})
	t.Run("each retry is paid before it is made", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			// The current ID is throttled twice, then works; the other
			// probes are denied at once.
			f := &keyedAssumer{t: t, answers: map[kind]answer{kCurrent: seq(aThrottle, aThrottle, aOK), kNone: aDenied, kDecoy: aDenied}}
			c := newChecker(f, nil)
			var paid []int // the calls made when each payment was asked
			c.Pay = func(context.Context) error {
				paid = append(paid, f.count(kCurrent))
				return nil
			}
			rep := c.Check(context.Background(), request())
			if rep.Outcome.Result != connection.ResultOK || !slices.Equal(paid, []int{1, 2}) {
				t.Fatalf("outcome %+v, paid before calls %v; want OK, a payment before the 2nd and the 3rd call", rep.Outcome, paid)
			}
			if !slices.Equal(rep.Steps[0].Retried, []string{"Throttling", "Throttling"}) || rep.Steps[1].Retried != nil {
				t.Fatalf("steps %+v, want the current ID's retried codes only", rep.Steps)
			}
		})
	})
	t.Run("the previous external ID's probe is paid before it is made", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			f := &keyedAssumer{t: t, answers: map[kind]answer{kCurrent: aDenied, kPrevious: aOK, kNone: aDenied, kDecoy: aDenied}}
			c := newChecker(f, nil)
			var paid []int // the previous ID's calls made when each payment was asked
			c.Pay = func(context.Context) error {
				paid = append(paid, f.count(kPrevious))
				return nil
			}
			rep := c.Check(context.Background(), requestWithPrevious())
			if rep.Outcome.Result != connection.ResultOK || !slices.Equal(paid, []int{0}) || f.count(kPrevious) != 1 {
				t.Fatalf("outcome %+v, paid before previous-ID calls %v; want OK, one payment before the one call", rep.Outcome, paid)
			}
		})
	})
	t.Run("the second decoy of an ID RoleCall did not generate is paid before it is made", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			f := &keyedAssumer{t: t, answers: map[kind]answer{kCurrent: aOK, kNone: aDenied, kDecoy: aDenied}}
			c := newChecker(f, nil)
			req := request()
			req.ExternalID = legacyExternalID
			for _, tc := range []struct {
				name   string
				pay    error
				want   connection.Result
				decoys int // decoy calls made
			}{
				{"paid", nil, connection.ResultOK, 2},
				// Not OK: the decoy of RoleCall's shape was never tried.
				{"no budget", errors.New("no admission before the deadline"), connection.ResultTransient, 1},
			} {
				paid := 0
				c.Pay = func(context.Context) error { paid++; return tc.pay }
				before := f.count(kDecoy)
				rep := c.Check(context.Background(), req)
				if decoys := f.count(kDecoy) - before; rep.Outcome.Result != tc.want || paid != 1 || decoys != tc.decoys {
					t.Fatalf("%s: outcome %+v, %d payments, %d decoy calls; want %s, one payment, %d decoy calls", tc.name, rep.Outcome, paid, decoys, tc.want, tc.decoys)
				}
			}
		})
	})
	t.Run("no budget for the previous external ID's probe leaves the check open", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			f := &keyedAssumer{t: t, answers: map[kind]answer{kCurrent: aDenied, kNone: aDenied, kDecoy: aDenied}}
			c := newChecker(f, nil)
			c.Pay = func(context.Context) error { return errors.New("no admission before the deadline") }
			rep := c.Check(context.Background(), requestWithPrevious())
			// Not ASSUME_DENIED: the previous ID, which the role may
			// trust, was never tried.
			if rep.Outcome.Result != connection.ResultTransient || f.count(kPrevious) != 0 {
				t.Fatalf("outcome %+v after %d calls with the previous ID, want TRANSIENT after none", rep.Outcome, f.count(kPrevious))
			}
			if got := stepsOf(rep); !slices.Equal(got, []stepWant{fail(sA), fail(sP), pass(sW), pass(sD)}) {
				t.Fatalf("steps %v", got)
			}
		})
	})
	t.Run("no budget for a retry ends the probe", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			f := &keyedAssumer{t: t, answers: map[kind]answer{kCurrent: aThrottle, kNone: aDenied, kDecoy: aDenied}}
			c := newChecker(f, nil)
			c.Pay = func(context.Context) error { return errors.New("no admission before the deadline") }
			rep := c.Check(context.Background(), request())
			if rep.Outcome.Result != connection.ResultTransient || rep.Outcome.Detail != "Throttling" || f.count(kCurrent) != 1 {
				t.Fatalf("outcome %+v after %d calls, want TRANSIENT (Throttling) after one", rep.Outcome, f.count(kCurrent))
			}
		})
	})
	t.Run("caller deadline", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			// STS hangs until the context ends.
			f := &keyedAssumer{t: t}
			f.arrive = func(ctx context.Context, _ kind) error {
				<-ctx.Done()
				return ctx.Err() // unclassified: must still be transient
			}
			c := newChecker(f, nil)
			c.Budget = time.Minute
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			start := time.Now()
			rep := c.Check(ctx, request())
			if el := time.Since(start); el != 100*time.Millisecond {
				t.Fatalf("check took %v with a 100ms deadline", el)
			}
			if rep.Outcome.Result != connection.ResultTransient {
				t.Fatalf("outcome %+v, want TRANSIENT", rep.Outcome)
			}
			for _, ctx := range f.ctxs {
				if d, _ := ctx.Deadline(); d.Sub(start) != 100*time.Millisecond {
					t.Fatalf("STS context deadline %v ignores the caller's", d.Sub(start))
				}
			}
		})
	})
	t.Run("zero value defaults", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			// Only STS (and a quiet log) set: 3 attempts per probe, 10s
			// budget, the clock's now for CheckedAt.
			f := &keyedAssumer{t: t, answers: map[kind]answer{kCurrent: aThrottle, kNone: aDenied, kDecoy: aDenied}}
			c := &probe.Checker{STS: f, Log: slog.New(slog.DiscardHandler)}
			start := time.Now()
			rep := c.Check(context.Background(), request())
			end := time.Now()
			if rep.Outcome.Result != connection.ResultTransient || rep.Outcome.Detail != "Throttling" {
				t.Fatalf("outcome %+v, want TRANSIENT (Throttling)", rep.Outcome)
			}
			if n := f.count(kCurrent); n != 3 {
				t.Fatalf("%d calls with the current external ID, want the default 3 attempts", n)
			}
			if !rep.Outcome.CheckedAt.Equal(end) {
				t.Fatalf("CheckedAt %v, want the clock's now %v", rep.Outcome.CheckedAt, end)
			}
			for _, ctx := range f.ctxs {
				if d, ok := ctx.Deadline(); !ok || d.Sub(start) != 10*time.Second {
					t.Fatalf("STS deadline %v, want the default 10s budget", d.Sub(start))
				}
			}
		})
	})
	t.Run("budget sets the STS deadline", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			f := &keyedAssumer{t: t, answers: map[kind]answer{kCurrent: aOK, kNone: aDenied, kDecoy: aDenied}}
			c := newChecker(f, nil)
			c.Budget = 3 * time.Second
			start := time.Now()
			c.Check(context.Background(), request())
			for _, ctx := range f.ctxs {
				if d, ok := ctx.Deadline(); !ok || d.Sub(start) != 3*time.Second {
					t.Fatalf("STS deadline %v, want the 3s budget", d.Sub(start))
				}
			}
		})
	})
}

// TestDecoy: every check sends its own decoy, shaped like a real external ID
// (so a trust policy cannot tell it apart by form), never the tenant's
// current or previous one, and it appears nowhere in what the check returns.
func TestDecoy(t *testing.T) {
	f := &keyedAssumer{t: t, answers: map[kind]answer{kCurrent: aOK, kNone: aDenied, kDecoy: aOK, kPrevious: aOK}}
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var reports []probe.Report
	for range 5 {
		reports = append(reports, newChecker(f, log).Check(context.Background(), requestWithPrevious()))
	}
	genuine := tenant.NewExternalID()
	seen := map[string]bool{}
	for _, d := range f.decoys {
		if !externalIDShape.MatchString(d) || len(d) != len(genuine) || d[:3] != genuine[:3] {
			t.Errorf("decoy %q is not shaped like %q", d, genuine)
		}
		if d == externalID || d == previousID || seen[d] {
			t.Errorf("decoy %q reused", d)
		}
		seen[d] = true
	}
	if len(seen) != 5 {
		t.Fatalf("%d decoys for 5 checks", len(seen))
	}
	out, _ := json.Marshal(reports)
	for d := range seen {
		reason := connection.ReasonFor(reports[0].Outcome.Result, reports[0].Outcome.Detail)
		for where, text := range map[string]string{"log": buf.String(), "report": string(out), "reason": reason.Message + reason.Hint} {
			if strings.Contains(text, d) || strings.Contains(text, d[7:]) {
				t.Fatalf("the decoy %s appears in the %s:\n%s", d, where, text)
			}
		}
	}
	if !strings.Contains(buf.String(), `"decoyExternalId":"rc-`) {
		t.Fatalf("the log does not show the masked decoy:\n%s", buf.String())
	}
}

func TestJobRequest(t *testing.T) {
	tests := []struct {
		name   string
		job    probe.Job
		want   probe.Request
		fields []string // JSON fields of the job besides the connection
	}{
		{"no rotation",
			probe.Job{Connection: connection.Connection{TenantID: "acme", AccountID: acct, RoleARN: roleARN, Version: 9},
				ExternalID: externalID, ExternalIDVersion: 4, Why: probe.WhyScheduled},
			probe.Request{TenantID: "acme", AccountID: acct, RoleARN: roleARN, ExternalID: externalID, ExternalIDVersion: 4, Version: 9},
			[]string{"connection", "externalId", "externalIdVersion", "why"}},
		{"during a rotation's grace period",
			probe.Job{Connection: connection.Connection{TenantID: "acme", AccountID: acct, RoleARN: roleARN, Version: 9},
				ExternalID: externalID, ExternalIDVersion: 4, PreviousExternalID: previousID, PreviousExternalIDVersion: 3, Why: probe.WhyScheduled},
			probe.Request{TenantID: "acme", AccountID: acct, RoleARN: roleARN, ExternalID: externalID, ExternalIDVersion: 4,
				PreviousExternalID: previousID, PreviousExternalIDVersion: 3, Version: 9},
			[]string{"connection", "externalId", "externalIdVersion", "previousExternalId", "previousExternalIdVersion", "why"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.job.Request(); got != tt.want {
				t.Fatalf("Request() = %+v, want %+v", got, tt.want)
			}
			b, err := json.Marshal(tt.job)
			if err != nil {
				t.Fatal(err)
			}
			var fields map[string]json.RawMessage
			if err := json.Unmarshal(b, &fields); err != nil {
				t.Fatal(err)
			}
			var names []string
			for k := range fields {
				names = append(names, k)
			}
			slices.Sort(names)
			if !slices.Equal(names, tt.fields) {
				t.Fatalf("job JSON fields %v, want %v", names, tt.fields)
			}
			var back probe.Job
			if err := json.Unmarshal(b, &back); err != nil || back.Request() != tt.want || back.Why != probe.WhyScheduled {
				t.Fatalf("job JSON round trip: %s -> %+v (%v)", b, back, err)
			}
		})
	}
}

func TestCheckLogsNoSecrets(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	for _, a := range []map[kind]answer{
		{kCurrent: aOK, kNone: aDenied, kDecoy: aDenied},
		{kCurrent: aDenied, kNone: aDenied, kDecoy: aDenied, kPrevious: aOK},
		{kCurrent: aThrottle, kNone: aDenied, kDecoy: aDenied},
		{kCurrent: aOK, kNone: aOK, kDecoy: aOK},
		{kCurrent: aOK, kNone: aDenied, kDecoy: aOK},
	} {
		newChecker(&keyedAssumer{t: t, answers: a}, log).Check(context.Background(), requestWithPrevious())
	}
	out := buf.String()
	if !strings.Contains(out, `"msg":"role check"`) || !strings.Contains(out, `"msg":"sts call failed"`) {
		t.Fatalf("expected check logs, got:\n%s", out)
	}
	for _, id := range []string{externalID, previousID} {
		if strings.Contains(out, id) || strings.Contains(out, id[7:]) {
			t.Fatalf("log contains the external ID %s:\n%s", id, out)
		}
	}
}

// TestNotEnforcedReason: the hint names the mistake the check found and the
// exact condition to use, and never carries an external ID (reasons travel
// in events, which are logged).
func TestNotEnforcedReason(t *testing.T) {
	const condition = `"Condition": {"StringEquals": {"sts:ExternalId": "<the external ID shown in the form>"}}`
	tests := []struct {
		detail string
		names  []string // what the hint must name
	}{
		{connection.NotEnforcedWithoutExternalID, []string{"no sts:ExternalId condition", "IfExists"}},
		{connection.NotEnforcedAnyExternalID, []string{`StringLike "*"`, `"rc-*"`, `Null {"sts:ExternalId": "false"}`, "ForAnyValue:"}},
		{"", nil},
	}
	for _, tt := range tests {
		r := connection.ReasonFor(connection.ResultNotEnforced, tt.detail)
		if r.Code != string(connection.ResultNotEnforced) || r.Message == "" || !strings.Contains(r.Hint, condition) {
			t.Errorf("%q: reason %+v lacks the condition to use", tt.detail, r)
		}
		for _, n := range tt.names {
			if !strings.Contains(r.Hint, n) {
				t.Errorf("%q: hint %q does not name %s", tt.detail, r.Hint, n)
			}
		}
		if regexp.MustCompile(`rc-[A-Z2-7]{4}`).MatchString(r.Message + r.Hint) {
			t.Errorf("%q: reason carries an external ID: %+v", tt.detail, r)
		}
	}
	a := connection.ReasonFor(connection.ResultNotEnforced, connection.NotEnforcedWithoutExternalID)
	b := connection.ReasonFor(connection.ResultNotEnforced, connection.NotEnforcedAnyExternalID)
	if a.Hint == b.Hint || a.Message == b.Message {
		t.Fatal("the two mistakes get the same reason")
	}
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
		if got := probe.Backoff(tt.base, tt.i); got != tt.want {
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
		n := probe.SessionName(tt.tenant, tt.account)
		if !stsSessionName.MatchString(n) {
			t.Errorf("SessionName(%q) = %q is not valid for STS", tt.tenant, n)
		}
		if !strings.HasPrefix(n, tt.prefix) {
			t.Errorf("SessionName(%q) = %q, want prefix %q", tt.tenant, n, tt.prefix)
		}
		if n != probe.SessionName(tt.tenant, tt.account) {
			t.Errorf("SessionName(%q) is not stable", tt.tenant)
		}
		if prev, dup := seen[n]; dup {
			t.Errorf("SessionName(%q) = SessionName(%q) = %q", tt.tenant, prev, n)
		}
		seen[n] = tt.tenant
	}
	// Two tenants sharing a 32-character prefix, and two accounts of one
	// tenant, still get distinct names.
	a := probe.SessionName(strings.Repeat("t", 40)+"a", acct)
	b := probe.SessionName(strings.Repeat("t", 40)+"b", acct)
	c := probe.SessionName("acme-prod", otherAcct)
	if a == b || c == probe.SessionName("acme-prod", acct) {
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
	if err := json.Unmarshal([]byte(probe.SessionPolicy), &doc); err != nil {
		t.Fatalf("SessionPolicy is not JSON: %v", err)
	}
	if doc.Version != "2012-10-17" || len(doc.Statement) != 1 {
		t.Fatalf("policy %+v", doc)
	}
	s := doc.Statement[0]
	if s.Effect != "Deny" || s.Action != "*" || s.Resource != "*" {
		t.Fatalf("the session policy must deny everything: %+v", s)
	}
	if probe.SessionDuration != 900 {
		t.Fatalf("SessionDuration = %d, want STS's minimum 900", probe.SessionDuration)
	}
}

func TestSTSError(t *testing.T) {
	cause := errors.New("cause")
	tests := []struct {
		name string
		err  *probe.STSError
		want string
	}{
		{"with code", &probe.STSError{Kind: probe.ErrDenied, Code: "AccessDenied", Err: cause}, probe.ErrDenied.Error() + " (AccessDenied): cause"},
		{"without code", &probe.STSError{Kind: probe.ErrDenied, Err: cause}, probe.ErrDenied.Error() + ": cause"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := fmt.Errorf("wrap: %w", tt.err)
			if !errors.Is(err, probe.ErrDenied) || !errors.Is(err, cause) || errors.Is(err, probe.ErrTransient) {
				t.Fatal("STSError must unwrap to its kind and cause only")
			}
			if got := tt.err.Error(); got != tt.want {
				t.Fatalf("Error() = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestDecoyOfAnotherShape: the decoy of an external ID RoleCall did not
// generate keeps the ID but for its last run of letters and digits, which
// is random, as long, and of the same kinds of characters; it is never the
// ID nor an ID to avoid, even ignoring case, however few values the run
// may take.
func TestDecoyOfAnotherShape(t *testing.T) {
	tests := []struct {
		id, kept string // kept: the part before the random run
		run      *regexp.Regexp
		suffix   string // kept after the run
	}{
		{"acme-123", "acme-", regexp.MustCompile(`^[0-9]{3}$`), ""},
		{"acme-1", "acme-", regexp.MustCompile(`^[0-9]$`), ""},
		{"Acme_Prod-9f3A", "Acme_Prod-", regexp.MustCompile(`^[0-9a-zA-Z]{4}$`), ""},
		{"tenant/42:deadbeef", "tenant/42:", regexp.MustCompile(`^[a-z]{8}$`), ""},
		{"acme-123-", "acme-", regexp.MustCompile(`^[0-9]{3}$`), "-"},
		{"legacy123", "legacy", regexp.MustCompile(`^[0-9]{3}$`), ""},
		{"ABC", "", regexp.MustCompile(`^[A-Z]{3}$`), ""},
		{"a1b2", "a1b", regexp.MustCompile(`^[0-9]$`), ""},
		{"rc-123", "rc-", regexp.MustCompile(`^[0-9]{3}$`), ""},
	}
	// No letter or digit to vary: a decoy of RoleCall's shape.
	if d := probe.DecoyFor("-_-", "-_-"); !tenant.IsGeneratedExternalID(d) {
		t.Errorf("decoy %q of an ID without a letter or digit, want one of RoleCall's shape", d)
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			seen := map[string]bool{}
			for range 200 {
				d := probe.DecoyFor(tt.id, tt.id)
				run, prefixed := strings.CutPrefix(d, tt.kept)
				run, suffixed := strings.CutSuffix(run, tt.suffix)
				if !prefixed || !suffixed || !tt.run.MatchString(run) || len(d) != len(tt.id) {
					t.Fatalf("decoy %q of %q: want %q, then %s, then %q", d, tt.id, tt.kept, tt.run, tt.suffix)
				}
				if d == tt.id {
					t.Fatalf("decoy %q is the ID", d)
				}
				seen[d] = true
			}
			if len(seen) < 5 {
				t.Errorf("%d distinct decoys of %q in 200: %v", len(seen), tt.id, seen)
			}
		})
	}
	// IDs to avoid are avoided ignoring case: of the 52² values "aB"'s
	// run may take, 4 equal it so; 5000 decoys draw about 7 of them.
	for range 5000 {
		if d := probe.DecoyFor("acme-aB", "acme-aB", "acme-Zz"); strings.EqualFold(d, "acme-aB") || strings.EqualFold(d, "acme-Zz") {
			t.Fatalf("decoy %q equals an ID to avoid, ignoring case", d)
		}
	}
	// A one-digit run with two IDs to avoid still yields the 8 others.
	seen := map[string]bool{}
	for range 500 {
		seen[probe.DecoyFor("x-1", "x-1", "x-2")] = true
	}
	if len(seen) != 8 || seen["x-1"] || seen["x-2"] {
		t.Errorf("decoys of x-1 avoiding x-1 and x-2: %v", seen)
	}
	// An ID RoleCall generated gets another one.
	if d := probe.DecoyFor(externalID, externalID); !tenant.IsGeneratedExternalID(d) || d == externalID {
		t.Errorf("decoy %q of a generated ID", d)
	}
}
