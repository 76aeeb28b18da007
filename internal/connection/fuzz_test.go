package connection_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/probe"
	"github.com/rolecall/rolecall/internal/rolearn"
	"github.com/rolecall/rolecall/internal/testkit/testarn"
)

// What the scripted STS answers to the first call of a check (with the
// external ID) and to the second (without it).
type firstCall uint8

const (
	firstOK           firstCall = iota // a session in the role's account
	firstWrongAccount                  // a session in another account
	firstDenied
	firstRegionOff
	firstThrottled
	firstBroken // an unclassified error: never the customer's fault
	firstCalls
)

type secondCall uint8

const (
	secondDenied    secondCall = iota // the role enforces the external ID
	secondOK                          // it does not: confused deputy
	secondThrottled                   // unknown
	secondCalls
)

// script is one check's STS answers.
type script struct {
	first  firstCall
	second secondCall
}

// passes reports whether the check proves the role safe: the session is in
// the role's account and the call without the external ID was refused.
func (s script) passes() bool { return s.first == firstOK && s.second == secondDenied }

// fuzzExternalID is the tenant's external ID in the fuzzed checks.
const fuzzExternalID = "rc-fuzz-external-id"

// scriptedSTS answers AssumeRole from a script: the call with the tenant's
// external ID is the first; the check's negative probes (no external ID, or
// its decoy) get the second answer, as a role either enforces the external
// ID or not. The probes run concurrently.
type scriptedSTS struct {
	s     script
	mu    sync.Mutex
	calls []bool // per call: had the tenant's external ID
}

func (a *scriptedSTS) AssumeRole(ctx context.Context, in probe.AssumeRequest) (probe.Session, error) {
	a.mu.Lock()
	a.calls = append(a.calls, in.ExternalID == fuzzExternalID)
	a.mu.Unlock()
	role, err := rolearn.Parse(in.RoleARN, rolearn.Rules{})
	if err != nil {
		return probe.Session{}, fmt.Errorf("scripted sts: %w", err)
	}
	session := func(account string) probe.Session {
		return probe.Session{AccountID: account, AssumedRoleARN: "arn:aws:sts::" + account + ":assumed-role/" + role.Name + "/" + in.SessionName}
	}
	throttled := &probe.STSError{Kind: probe.ErrTransient, Code: "Throttling", Err: errors.New("rate exceeded")}
	if in.ExternalID == fuzzExternalID {
		switch a.s.first {
		case firstOK:
			return session(role.Account), nil
		case firstWrongAccount:
			return session("999999999999"), nil
		case firstDenied:
			return probe.Session{}, &probe.STSError{Kind: probe.ErrDenied, Code: "AccessDenied", Err: errors.New("denied")}
		case firstRegionOff:
			return probe.Session{}, &probe.STSError{Kind: probe.ErrRegionDisabled, Code: "RegionDisabledException", Err: errors.New("off")}
		case firstThrottled:
			return probe.Session{}, throttled
		default:
			return probe.Session{}, errors.New("connection reset by peer")
		}
	}
	switch a.s.second {
	case secondOK:
		return session(role.Account), nil
	case secondDenied:
		return probe.Session{}, &probe.STSError{Kind: probe.ErrDenied, Code: "AccessDenied", Err: errors.New("denied")}
	default:
		return probe.Session{}, throttled
	}
}

// fuzzRoles are the roles commands submit: two accounts, two roles in the
// first.
var fuzzRoles = []string{
	"arn:aws:iam::123456789012:role/RoleCall",
	"arn:aws:iam::123456789012:role/team/RoleCallV2",
	"arn:aws:iam::210987654321:role/RoleCall",
}

// maxCommands bounds a fuzz input: longer sequences find nothing shorter
// ones cannot, and make the fuzzer's minimization of new inputs slow.
const maxCommands = 48

// FuzzLifecycle decodes the input into a sequence of commands on the
// connections of one tenant (three bytes each: what, argument, clock
// advance) — submit a role, disconnect, or run a check whose two STS calls
// answer as the argument says, through the real probe.Checker, and apply
// its outcome (sometimes to a stale version). After every command it checks
// the lifecycle's invariants:
//
//   - versions only grow, by exactly one with each event, and never without
//     one; an event describes its transition and its ID is never reused;
//
//   - no connection becomes VERIFIED (or has its access restored) unless
//     the check behind it had both STS calls pass: the session in the
//     role's account and the call without the external ID refused;
//
//   - a check that found the external ID not enforced never yields OK;
//
//   - a transient result and a stale outcome change no status;
//
//   - live connections have a next check in the future, disconnected ones
//     none; statuses and reason codes are always known ones.
//
//     go test ./internal/connection -run '^$' -fuzz '^FuzzLifecycle$' -fuzztime 60s
func FuzzLifecycle(f *testing.F) {
	cmd := func(op, arg, dt byte) []byte { return []byte{op, arg, dt} }
	join := func(cmds ...[]byte) []byte {
		var b []byte
		for _, c := range cmds {
			b = append(b, c...)
		}
		return b
	}
	answers := func(first firstCall, second secondCall) byte { return byte(first) + byte(firstCalls)*byte(second) }
	f.Add(join(cmd(0, 0, 0), cmd(2, answers(firstOK, secondDenied), 1)))                                                               // verified
	f.Add(join(cmd(0, 0, 0), cmd(2, answers(firstOK, secondOK), 1)))                                                                   // not enforced
	f.Add(join(cmd(0, 0, 0), cmd(2, answers(firstDenied, 0), 10), cmd(2, answers(firstDenied, 0), 100)))                               // failed after the window
	f.Add(join(cmd(0, 0, 0), cmd(2, 0, 1), cmd(2, answers(firstDenied, 0), 200), cmd(2, answers(firstDenied, 0), 30), cmd(2, 0, 200))) // lost, restored
	f.Add(join(cmd(0, 0, 0), cmd(2, answers(firstThrottled, 0), 1), cmd(2, answers(firstOK, secondThrottled), 1), cmd(2, answers(firstBroken, 0), 1)))
	f.Add(join(cmd(0, 0, 0), cmd(2, 0, 1), cmd(0, 1, 1), cmd(8+2, 0, 1), cmd(2, 0, 1)))                             // resubmit, stale outcome
	f.Add(join(cmd(0, 0, 0), cmd(1, 0, 1), cmd(2, 0, 1), cmd(0, 0, 1), cmd(2, answers(firstWrongAccount, 0), 200))) // disconnect, resubmit
	f.Add(join(cmd(0, 2, 0), cmd(64, 0, 0), cmd(64+2, answers(firstRegionOff, 0), 90), cmd(2, 0, 1)))               // two accounts
	f.Add([]byte{})

	p := connection.DefaultPolicy()
	arns := make([]rolearn.ARN, len(fuzzRoles))
	for i, s := range fuzzRoles {
		arns[i] = testarn.MustParse(f, s)
	}
	accounts := []string{arns[0].Account, arns[2].Account}
	quiet := slog.New(slog.DiscardHandler)
	knownCodes := map[string]bool{connection.CodeSubmitted: true, connection.CodeVerified: true, connection.CodeAccessRestored: true, connection.CodeDisconnected: true,
		connection.CodeRoleReplaced: true}
	for _, r := range []connection.Result{connection.ResultDenied, connection.ResultNotEnforced, connection.ResultAccountMismatch, connection.ResultRegionDisabled} {
		knownCodes[string(r)] = true
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 3*maxCommands {
			data = data[:3*maxCommands]
		}
		conns := map[string]*connection.Connection{} // by account
		events := map[string]bool{}
		now := t0
		for step := 0; step+3 <= len(data); step += 3 {
			op, arg, dt := data[step], data[step+1], data[step+2]
			now = now.Add(time.Duration(dt) * 2 * time.Second)
			acct := accounts[int(op>>6)%len(accounts)]
			cur := conns[acct]
			var (
				tr     connection.Transition
				err    error
				what   string
				result connection.Result
				sc     script
				isChk  bool
				isCand bool // a check of the candidate
			)
			switch {
			case cur == nil || op%8 == 0:
				role := arns[int(arg)%len(arns)]
				if cur == nil && role.Account != acct {
					role = arns[map[string]int{accounts[0]: 0, accounts[1]: 2}[acct]]
				}
				if role.Account != acct {
					continue // a role of another account belongs to that connection
				}
				what = "submit " + role.String()
				tr = p.Submit(cur, "acme", role, 1, now)
			case op%8 == 1:
				what = "disconnect"
				tr = p.Disconnect(*cur, 1, now)
			case op%8 == 2 && cur.Candidate.Pending():
				isChk, isCand = true, true
				sc = script{first: firstCall(arg % byte(firstCalls)), second: secondCall((arg / byte(firstCalls)) % byte(secondCalls))}
				checker := &probe.Checker{STS: &scriptedSTS{s: sc}, Attempts: 1, Log: quiet, Now: func() time.Time { return now }}
				rep := checker.Check(context.Background(), probe.Request{TenantID: cur.TenantID, AccountID: cur.AccountID,
					RoleARN: cur.Candidate.RoleARN, ExternalID: "rc-fuzz-external-id", ExternalIDVersion: 1, Version: cur.Version})
				result = rep.Outcome.Result
				what = fmt.Sprintf("check candidate %s %+v → %s", cur.Candidate.RoleARN, sc, result)
				var step connection.CandidateStep
				tr, step, err = p.ApplyCandidate(*cur, rep.Outcome)
				if err != nil {
					t.Fatalf("step %d %s: %v", step, what, err)
				}
				if step != connection.CandidateWrite {
					if tr.Changed() || result == connection.ResultOK {
						t.Fatalf("%s: retry step %v changed %+v", what, step, tr)
					}
					continue
				}
				switch a := tr.After; {
				case result == connection.ResultOK && (a.RoleARN != cur.Candidate.RoleARN || a.Candidate != (connection.Candidate{}) || tr.Event.PreviousRoleARN != cur.RoleARN):
					t.Fatalf("%s: replacement %+v", what, a)
				case result != connection.ResultOK && (a.RoleARN != cur.RoleARN || a.Status != cur.Status || a.Candidate.Status != connection.Failed ||
					a.ConsecutiveFailures != cur.ConsecutiveFailures || a.LastCheckedAt != cur.LastCheckedAt):
					t.Fatalf("%s: a failed candidate changed the role in use: %+v", what, a)
				}
			default:
				isChk = true
				sc = script{first: firstCall(arg % byte(firstCalls)), second: secondCall((arg / byte(firstCalls)) % byte(secondCalls))}
				sts := &scriptedSTS{s: sc}
				checker := &probe.Checker{STS: sts, Attempts: 1, Log: quiet, Now: func() time.Time { return now }}
				version := cur.Version
				if (op>>3)%8 == 1 {
					version += int64(arg%3) - 1 // a stale job
				}
				rep := checker.Check(context.Background(), probe.Request{TenantID: cur.TenantID, AccountID: cur.AccountID,
					RoleARN: cur.RoleARN, ExternalID: fuzzExternalID, ExternalIDVersion: 1, Version: version})
				result = rep.Outcome.Result
				what = fmt.Sprintf("check %+v v%d → %s", sc, version, result)
				if result == connection.ResultOK && !sc.passes() {
					t.Fatalf("step %d %s: OK although the checks did not both pass", step/3, what)
				}
				if sc.passes() && result != connection.ResultOK {
					t.Fatalf("step %d %s: both checks passed but the result is %s", step/3, what, result)
				}
				if sc.second == secondOK && sc.first == firstOK && result != connection.ResultNotEnforced {
					t.Fatalf("step %d %s: a role that ignores the external ID gave %s", step/3, what, result)
				}
				if !slices.Contains(sts.calls, true) {
					t.Fatalf("step %d %s: no STS call carried the external ID", step/3, what)
				}
				tr, err = p.Apply(*cur, rep.Outcome)
				stale := version != cur.Version || cur.Status == connection.Disconnected
				if stale != errors.Is(err, connection.ErrStale) {
					t.Fatalf("step %d %s on %s v%d: err %v, stale %v", step/3, what, cur.Status, cur.Version, err, stale)
				}
				if err != nil {
					if !stale {
						t.Fatalf("step %d %s: %v", step/3, what, err)
					}
					continue
				}
			}
			where := fmt.Sprintf("step %d (%s/%s) %s", step/3, "acme", acct, what)
			a := tr.After
			var prevVersion int64
			var prevStatus connection.Status
			if cur != nil {
				prevVersion, prevStatus = cur.Version, cur.Status
			}
			if !a.Status.Valid() || !knownCodes[a.Reason.Code] {
				t.Fatalf("%s: status %q, reason %q", where, a.Status, a.Reason.Code)
			}
			if a.TenantID != "acme" || a.AccountID != acct {
				t.Fatalf("%s: identity changed to %s/%s", where, a.TenantID, a.AccountID)
			}
			if a.Version < prevVersion {
				t.Fatalf("%s: version went down %d -> %d", where, prevVersion, a.Version)
			}
			if ev := tr.Event; ev != nil {
				if a.Version != prevVersion+1 || ev.Version != a.Version || ev.Status != a.Status || ev.PreviousStatus != prevStatus ||
					ev.RoleARN != a.RoleARN || ev.EventID != connection.EventID("acme", acct, a.Version) ||
					ev.CandidateRoleARN == "" && ev.Reason != a.Reason || ev.CandidateRoleARN != "" && (ev.Reason != a.Candidate.Reason || ev.CandidateRoleARN != a.Candidate.RoleARN) {
					t.Fatalf("%s: event %+v after %+v", where, *ev, a)
				}
				if events[ev.EventID] {
					t.Fatalf("%s: event ID %s reused", where, ev.EventID)
				}
				events[ev.EventID] = true
				if (tr.Before == nil) != (cur == nil) {
					t.Fatalf("%s: Before %v for existing %v", where, tr.Before, cur)
				}
			} else if a.Version != prevVersion || a.Status != prevStatus || a.RoleARN != cur.RoleARN {
				t.Fatalf("%s: changed without an event: %s v%d -> %s v%d", where, prevStatus, prevVersion, a.Status, a.Version)
			}
			if a.Status == connection.Verified && prevStatus != connection.Verified && !(isChk && sc.passes()) {
				t.Fatalf("%s: became VERIFIED without both checks passing", where)
			}
			if isChk && (result == connection.ResultTransient) && (a.Status != prevStatus || tr.Event != nil) {
				t.Fatalf("%s: a transient result changed %s -> %s", where, prevStatus, a.Status)
			}
			if isChk && result == connection.ResultOK && a.ConsecutiveFailures != 0 {
				t.Fatalf("%s: %d failures after an OK check", where, a.ConsecutiveFailures)
			}
			if a.Live() == a.NextCheckAt.IsZero() {
				t.Fatalf("%s: %s with next check %v", where, a.Status, a.NextCheckAt)
			}
			if a.Live() && tr.Changed() && !isCand && !a.NextCheckAt.After(now) {
				t.Fatalf("%s: next check %v is not after now %v", where, a.NextCheckAt, now)
			}
			if a.ConsecutiveFailures < 0 {
				t.Fatalf("%s: %d failures", where, a.ConsecutiveFailures)
			}
			conns[acct] = &a
		}
	})
}
