// Package publishtest provides the events RoleCall's lifecycle emits, for
// tests of everything downstream of the outbox: the event schemas, the bus
// rules, the publish function and its sample payloads.
package publishtest

import (
	"fmt"
	"time"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/rolearn"
	"github.com/rolecall/rolecall/internal/tenant"
)

// Start is when LifecycleEvents' first event occurs.
var Start = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// LifecycleEvents drives connection.DefaultPolicy through every kind of
// transition and returns the events, in order: submitted, verified, access
// lost, access restored, a candidate role submitted and dropped (not
// enforced), submitted again and dropped (its stack deleted), submitted
// again and verified (replacing the role), lost, lost
// with another reason, a new role submitted while lost, verification failed
// (denied after the propagation window), failed again with another reason,
// failed with ROLE_CLAIMED, disconnected; then the tenant's external-ID
// rotation started and completed. Every detail-type appears at least once.
func LifecycleEvents() []connection.Event {
	p := connection.DefaultPolicy()
	p.Jitter = 0
	var out []connection.Event
	now := Start
	var cur *connection.Connection
	step := func(tr connection.Transition, err error) {
		if err != nil {
			panic(fmt.Sprintf("lifecycle step: %v", err))
		}
		if tr.Event != nil {
			out = append(out, *tr.Event)
		}
		c := tr.After
		cur = &c
	}
	outcome := func(r connection.Result, after time.Duration) connection.Outcome {
		now = now.Add(after)
		return connection.Outcome{ExternalIDCurrent: true, Result: r, Version: cur.Version, ExternalIDVersion: 1, CheckedAt: now, Detail: "210987654321"}
	}
	role := func(name string) rolearn.ARN {
		a, err := rolearn.Parse("arn:aws:iam::123456789012:role/"+name, rolearn.Rules{})
		if err != nil {
			panic(err)
		}
		return a
	}
	step(p.Submit(nil, "acme", role("RoleCallAccess"), 1, now), nil)
	step(p.Apply(*cur, outcome(connection.ResultOK, 3*time.Second)))
	step(p.Apply(*cur, outcome(connection.ResultDenied, time.Hour)))
	step(p.Apply(*cur, outcome(connection.ResultDenied, time.Minute))) // Role Access Lost
	step(p.Apply(*cur, outcome(connection.ResultOK, 10*time.Minute)))  // Role Access Restored
	candidate := func(r connection.Result, after time.Duration) (connection.Transition, error) {
		tr, _, err := p.ApplyCandidate(*cur, outcome(r, after))
		return tr, err
	}
	now = now.Add(time.Hour)
	step(p.Submit(cur, "acme", role("RoleCallAccessV2"), 1, now), nil) // candidate
	step(candidate(connection.ResultNotEnforced, 5*time.Second))       // candidate dropped
	now = now.Add(time.Minute)
	step(p.Submit(cur, "acme", role("RoleCallAccessV2"), 1, now), nil)              // candidate again
	step(p.DropCandidate(*cur, connection.Reason{Code: connection.CodeStackDeleted, // its stack deleted
		Message: "The stack that submitted the new role was deleted.", Hint: "Create the stack again."}, 1, now.Add(time.Second)))
	now = now.Add(time.Minute)
	step(p.Submit(cur, "acme", role("RoleCallAccessV2"), 1, now), nil) // and again
	step(candidate(connection.ResultOK, 2*time.Second))                // replaces the role
	step(p.Apply(*cur, outcome(connection.ResultAccountMismatch, time.Hour)))
	step(p.Apply(*cur, outcome(connection.ResultAccountMismatch, time.Minute)))   // lost
	step(p.Apply(*cur, outcome(connection.ResultRegionDisabled, 10*time.Minute))) // lost, new reason
	now = now.Add(time.Minute)
	step(p.Submit(cur, "acme", role("RoleCallAccessV3"), 1, now), nil)
	step(p.Apply(*cur, outcome(connection.ResultDenied, 5*time.Second)))
	step(p.Apply(*cur, outcome(connection.ResultDenied, 3*time.Minute)))       // Role Verification Failed
	step(p.Apply(*cur, outcome(connection.ResultNotEnforced, 10*time.Minute))) // failed, new reason
	step(p.RoleClaimed(*cur, outcome(connection.ResultOK, 10*time.Minute)))    // failed, ROLE_CLAIMED
	now = now.Add(time.Minute)
	step(p.Disconnect(*cur, 1, now), nil)
	// The tenant's rotation: started with a grace period, completed when
	// every connection verified with the new external ID.
	tn, err := tenant.New("acme", "Acme", Start)
	if err != nil {
		panic(err)
	}
	now = now.Add(time.Minute)
	r := tn.RotatedWithGrace(now, tenant.DefaultRotationGrace)
	out = append(out, connection.RotationStarted(r), connection.RotationCompleted(r, connection.CompletionAllCurrent, now.Add(time.Hour)))
	return out
}
