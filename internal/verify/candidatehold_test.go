package verify_test

import (
	"context"
	"testing"
	"time"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/probe"
	"github.com/rolecall/rolecall/internal/store"
)

// TestRedeliveredCandidateJobsAreNotDueForTheSweeper: a candidate's
// job that comes back by redelivery (denied inside the propagation window,
// or a transient STS failure) must not leave the connection due, or the
// sweep queues a second chain of candidate checks (JobsFor adds the
// candidate's job next to the role's).
func TestRedeliveredCandidateJobsAreNotDueForTheSweeper(t *testing.T) {
	for _, r := range []connection.Result{connection.ResultDenied, connection.ResultTransient} {
		t.Run(string(r), func(t *testing.T) {
			ctx := context.Background()
			const acct = "123456789012"
			st := store.NewMemory()
			// The role in use was verified at t0+1s (next routine check at
			// t0+1h0m1s); the candidate is submitted at t0+10m.
			subAt := t0.Add(10 * time.Minute)
			_, sub := seedCandidate(t, st, acct, "arn:aws:iam::123456789012:role/RoleCallV2", subAt)
			ch := &fakeChecker{result: r, now: subAt.Add(3 * time.Second)}
			w := newWorker(st, ch, nil)
			tn, _ := st.GetTenant(ctx, "acme")
			j := probe.JobsFor(sub.After, tn, probe.WhySubmitted, subAt)[1]
			for receive := 1; receive <= 3; receive++ {
				d, _ := w.Process(ctx, j, receive)
				if d <= 0 {
					return // decided: no redelivery
				}
				redeliverAt := ch.now.Add(d)
				p, err := st.Due(ctx, store.ShardOf("acme", acct), redeliverAt, "", 10)
				if err != nil {
					t.Fatal(err)
				}
				if len(p.Items) != 0 {
					got, _ := st.GetConnection(ctx, "acme", acct)
					t.Fatalf("delivery %d: candidate job comes back at %s, but the connection is due before (nextCheckAt %s): a sweep queues a second candidate chain",
						receive, redeliverAt.Format(time.TimeOnly), got.NextCheckAt.Format(time.TimeOnly))
				}
				ch.now = redeliverAt
			}
		})
	}
}

// README: "ACCESS_LOST keeps it [the claim] until restored or
// disconnected" (and Connection.HoldsClaim: "ACCESS_LOST until it is
// restored or disconnected"). Resubmitting the same role for an ACCESS_LOST
// connection (neither a restoration nor a disconnection) releases the claim,
// so another tenant's connection takes the role and acme's own role is then
// FAILED ROLE_CLAIMED.
