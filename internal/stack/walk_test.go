package stack_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/rolecall/rolecall/internal/bus"
	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/publish"
	"github.com/rolecall/rolecall/internal/rolearn"
	"github.com/rolecall/rolecall/internal/tenant"
)

// walkEvents drives connections through seeded random sequences of what
// the pipeline does to them (submissions of one of three roles, checks of
// every result, candidates, claims, disconnections as an operator or a
// deleted stack makes them, abandonment), and returns every event emitted,
// with a rotation's events of each completion.
func walkEvents(seeds, steps int) []connection.Event {
	p := connection.DefaultPolicy()
	results := []connection.Result{connection.ResultOK, connection.ResultOK, connection.ResultDenied, connection.ResultNotEnforced,
		connection.ResultAccountMismatch, connection.ResultRegionDisabled, connection.ResultTransient}
	gaps := []time.Duration{time.Second, 3 * time.Minute, time.Hour, 24 * time.Hour, 15 * 24 * time.Hour}
	stackDeleted := connection.Reason{Code: connection.CodeStackDeleted, Message: "The CloudFormation stack that registered the role was deleted."}
	var evs []connection.Event
	for seed := range seeds {
		r := rand.New(rand.NewPCG(uint64(seed), 1))
		now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
		var cur *connection.Connection
		take := func(tr connection.Transition, err error) {
			if err != nil {
				return // the policy refused the step: nothing is written
			}
			if tr.Event != nil {
				evs = append(evs, *tr.Event)
			}
			cur = &tr.After
		}
		for range steps {
			now = now.Add(gaps[r.IntN(len(gaps))])
			role, _ := rolearn.Parse(fmt.Sprintf("arn:aws:iam::123456789012:role/R%d", r.IntN(3)), rolearn.Rules{})
			if cur == nil {
				take(p.Submit(nil, fmt.Sprintf("t%d", seed), role, 2, now), nil)
				continue
			}
			ok := connection.Outcome{Result: connection.ResultOK, Version: cur.Version, ExternalIDVersion: 2, ExternalIDCurrent: true, CheckedAt: now}
			switch r.IntN(9) {
			case 0:
				take(p.Submit(cur, cur.TenantID, role, 2, now), nil)
			case 1, 2, 3:
				o := ok
				o.Result = results[r.IntN(len(results))]
				if o.Result == connection.ResultAccountMismatch {
					o.Detail = "210987654321"
				}
				if o.Result == connection.ResultOK && r.IntN(3) == 0 {
					o.ExternalIDVersion, o.ExternalIDCurrent = 1, false // during a grace
				}
				if cur.Candidate.Pending() && r.IntN(2) == 0 {
					tr, _, err := p.ApplyCandidate(*cur, o)
					take(tr, err)
				} else {
					take(p.Apply(*cur, o))
				}
			case 4:
				take(p.RoleClaimed(*cur, ok))
			case 5:
				take(p.CandidateClaimed(*cur, ok))
			case 6:
				take(p.DropCandidate(*cur, stackDeleted, 2, now))
			case 7:
				tr := p.Disconnect(*cur, 2, now)
				if tr.Event != nil && r.IntN(2) == 0 { // as a deleted stack disconnects
					tr.After.Reason, tr.Event.Reason = stackDeleted, stackDeleted
				}
				take(tr, nil)
			case 8:
				if p.Abandoned(*cur, now) {
					take(p.Abandon(*cur, 2, now), nil)
				}
			}
		}
	}
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	for i, completion := range []string{connection.CompletionAllCurrent, connection.CompletionGraceEnded, connection.CompletionSuperseded, connection.CompletionRevoked} {
		tn, _ := tenant.New(fmt.Sprintf("rot%d", i), "Rotating", t0)
		grace := tenant.DefaultRotationGrace
		if completion == connection.CompletionRevoked {
			grace = 0
		}
		r := tn.RotatedWithGrace(t0.Add(time.Hour), grace)
		evs = append(evs, connection.RotationStarted(r), connection.RotationCompleted(r, completion, t0.Add(time.Duration(i+2)*24*time.Hour)))
	}
	return evs
}

// TestEveryWalkedEventValidates: every event the walks emit, published and
// delivered as EventBridge delivers it, validates against its detail-type's
// schema, so a status, reason or field the code emits in some sequence and
// the schemas omit fails here; and the walks reach every detail-type.
func TestEveryWalkedEventValidates(t *testing.T) {
	schemas := compileSchemas(t)
	evs := walkEvents(400, 30)
	b := bus.NewMemory()
	b.Account, b.Region = "111122223333", "us-east-1"
	b.Keep = len(evs)
	pub := &publish.Publisher{Bus: b, Source: "rolecall"}
	if failed, err := pub.Publish(context.Background(), evs); err != nil || failed != nil {
		t.Fatalf("publish: %v %v", failed, err)
	}
	envs, err := b.Since("", 0)
	if err != nil || len(envs) != len(evs) {
		t.Fatalf("bus recorded %d events, want %d (%v)", len(envs), len(evs), err)
	}
	seen := map[connection.DetailType]int{}
	failing := map[string]bool{}
	for _, e := range envs {
		dt := connection.DetailType(e.DetailType)
		seen[dt]++
		j, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		if err := validate(schemas[dt], j); err != nil {
			var d connection.Event
			_ = json.Unmarshal(e.Detail, &d)
			kind := fmt.Sprintf("%s %s -> %s (%s%s)", dt, d.PreviousStatus, d.Status, d.Reason.Code, d.Completion)
			if !failing[kind] {
				failing[kind] = true
				t.Errorf("%s does not validate: %v\n%s", kind, err, j)
			}
		}
	}
	for _, dt := range connection.DetailTypes {
		if seen[dt] == 0 {
			t.Errorf("the walks emitted no %s event", dt)
		}
	}
}
