package connection_test

import (
	"testing"
	"time"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/testkit/testarn"
)

// A role that has just become VERIFIED (first verified, restored, or a
// candidate that replaced the role in use) is checked again once IAM's
// propagation window has passed: its negative probes may have been denied by
// STS hosts the new role had not reached. When that check finds the external
// ID not enforced, the role is suspect at once and ACCESS_LOST at the next;
// when it passes, the role is checked hourly from then on.
func TestJustVerifiedIsCheckedAgainAfterThePropagationWindow(t *testing.T) {
	p := noJitter()
	now := t0.Add(time.Minute)
	ok := func(c connection.Connection, at time.Time) connection.Outcome {
		return connection.Outcome{Result: connection.ResultOK, Version: c.Version, ExternalIDVersion: 1, ExternalIDCurrent: true, CheckedAt: at}
	}
	withCandidate := conn(connection.Verified, 0, connection.CodeVerified)
	withCandidate = p.Submit(&withCandidate, tenantID, testarn.MustParse(t, roleB), 1, now).After

	verified := map[string]connection.Connection{}
	for _, c := range []connection.Connection{conn(connection.Pending, 0, connection.CodeSubmitted), conn(connection.AccessLost, 3, string(connection.ResultDenied)), conn(connection.Failed, 2, string(connection.ResultDenied))} {
		tr, err := p.Apply(c, ok(c, now))
		if err != nil {
			t.Fatal(err)
		}
		verified[string(c.Status)] = tr.After
	}
	tr, _, err := p.ApplyCandidate(withCandidate, ok(withCandidate, now))
	if err != nil {
		t.Fatal(err)
	}
	verified["a candidate"] = tr.After

	for name, v := range verified {
		t.Run(name, func(t *testing.T) {
			if v.Status != connection.Verified || !v.NextCheckAt.Equal(now.Add(p.PropagationWindow)) {
				t.Fatalf("verified: %s, next check in %v; want VERIFIED, in %v", v.Status, v.NextCheckAt.Sub(now), p.PropagationWindow)
			}
			at := v.NextCheckAt
			passed, err := p.Apply(v, ok(v, at))
			if err != nil || passed.Event != nil || !passed.After.NextCheckAt.Equal(at.Add(p.VerifiedInterval)) {
				t.Fatalf("the second check passed: %+v, %v; want routine, next in %v", passed.After, err, p.VerifiedInterval)
			}
			hole := connection.Outcome{Result: connection.ResultNotEnforced, Version: v.Version, ExternalIDVersion: 1, CheckedAt: at}
			suspect, err := p.Apply(v, hole)
			if err != nil || suspect.After.Status != connection.Verified || !suspect.After.NextCheckAt.Equal(at.Add(p.SuspectInterval)) {
				t.Fatalf("the second check found no external ID enforced: %+v, %v; want suspect, next in %v", suspect.After, err, p.SuspectInterval)
			}
			hole.Version, hole.CheckedAt = suspect.After.Version, suspect.After.NextCheckAt
			lost, err := p.Apply(suspect.After, hole)
			if err != nil || lost.After.Status != connection.AccessLost || lost.After.Reason.Code != string(connection.ResultNotEnforced) {
				t.Fatalf("the third check found it again: %+v, %v; want ACCESS_LOST %s", lost.After, err, connection.ResultNotEnforced)
			}
		})
	}
}
