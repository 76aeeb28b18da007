// Package queuetest is the contract suite every adapter of the queue.Queue
// port passes, so the in-process queue behaves like SQS where it matters.
package queuetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/rolecall/rolecall/internal/check"
	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/queue"
)

// Harness is one queue under test and the means to observe and script it.
type Harness struct {
	Queue queue.Queue
	// Sent returns the jobs the queue accepted so far, in order.
	Sent func() []check.Job
	// RejectNext scripts the outcome of the next entries sent, attempt
	// by attempt: an error code refuses the entry ("InternalError" and
	// "ServiceUnavailable" without sender fault), "" accepts it.
	RejectNext func(codes ...string)
}

// Run runs the contract suite. newHarness returns a fresh, empty queue that
// retries a refused entry at most 3 times in all.
func Run(t *testing.T, newHarness func(t *testing.T) Harness) {
	ctx := context.Background()
	t.Run("sends every job in order, in batches", func(t *testing.T) {
		h := newHarness(t)
		in := Jobs(23)
		if err := h.Queue.Send(ctx, in); err != nil {
			t.Fatalf("Send: %v", err)
		}
		assertJobs(t, h.Sent(), in)
	})
	t.Run("an empty send is a no-op", func(t *testing.T) {
		h := newHarness(t)
		if err := h.Queue.Send(ctx, nil); err != nil {
			t.Fatalf("Send(nil): %v", err)
		}
		if n := len(h.Sent()); n != 0 {
			t.Fatalf("sent %d jobs", n)
		}
	})
	t.Run("retries exactly the entries refused on the service side", func(t *testing.T) {
		h := newHarness(t)
		in := Jobs(12)
		// batch 1: entry 1 refused once (retried), entry 3 refused for
		// good (sender fault); batch 2: entry 11 refused once.
		h.RejectNext("", "InternalError", "", "InvalidMessageContents", "", "", "", "", "", "", "", "")
		err := h.Queue.Send(ctx, in)
		var se *queue.SendError
		if !errors.As(err, &se) || !slices.Equal(se.Failed, []int{3}) {
			t.Fatalf("Send error = %v, want SendError for index 3", err)
		}
		sent := h.Sent()
		want := slices.Concat(in[:3], in[4:])
		sortJobs(sent)
		assertJobs(t, sent, want)
	})
	t.Run("gives up after the attempts", func(t *testing.T) {
		h := newHarness(t)
		h.RejectNext("ServiceUnavailable", "", "ServiceUnavailable", "ServiceUnavailable")
		err := h.Queue.Send(ctx, Jobs(2))
		var se *queue.SendError
		if !errors.As(err, &se) || !slices.Equal(se.Failed, []int{0}) {
			t.Fatalf("Send error = %v, want SendError for index 0", err)
		}
		assertJobs(t, h.Sent(), Jobs(2)[1:])
	})
	t.Run("a cancelled context sends nothing", func(t *testing.T) {
		h := newHarness(t)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		err := h.Queue.Send(cctx, Jobs(11))
		var se *queue.SendError
		if !errors.Is(err, context.Canceled) || !errors.As(err, &se) || len(se.Failed) != 11 {
			t.Fatalf("Send error = %v, want context.Canceled for all 11", err)
		}
		if n := len(h.Sent()); n != 0 {
			t.Fatalf("sent %d jobs with a cancelled context", n)
		}
	})
}

// Jobs returns n distinct jobs.
func Jobs(n int) []check.Job {
	out := make([]check.Job, n)
	at := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	for i := range out {
		acct := fmt.Sprintf("%012d", 111111111100+i)
		out[i] = check.Job{
			Connection: connection.Connection{
				TenantID: "acme", AccountID: acct, RoleARN: "arn:aws:iam::" + acct + ":role/RoleCall",
				Status: connection.Verified, Version: int64(i + 1), SubmittedAt: at, UpdatedAt: at, NextCheckAt: at.Add(time.Hour),
				Reason: connection.Reason{Code: connection.CodeVerified, Message: "ok"},
			},
			ExternalID: "rc-TESTEXTERNALID", ExternalIDVersion: 1, Why: check.WhyScheduled,
		}
	}
	return out
}

func sortJobs(j []check.Job) {
	slices.SortFunc(j, func(a, b check.Job) int { return int(a.Connection.Version - b.Connection.Version) })
}

func assertJobs(t *testing.T, got, want []check.Job) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("sent %d jobs, want %d", len(got), len(want))
	}
	for i := range want {
		g, _ := json.Marshal(got[i])
		w, _ := json.Marshal(want[i])
		if string(g) != string(w) {
			t.Errorf("job %d = %s, want %s", i, g, w)
		}
	}
}
