// Package queuetest is the contract suite every adapter of the queue.Queue
// port passes, so the in-process queue behaves like SQS where it matters:
// sending in batches with retries, and receiving with visibility timeouts,
// receive counts, long polls and deletes.
package queuetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/probe"
	"github.com/rolecall/rolecall/internal/queue"
)

// Polled is what a Receive started by Poll returned.
type Polled struct {
	Msgs []queue.Message
	Err  error
}

// Poll starts c.Receive(ctx, max, wait) on a goroutine of its own and
// returns the channel its answer arrives on, so that a test can act while
// the poll waits.
func Poll(ctx context.Context, c Consumer, max int, wait time.Duration) <-chan Polled {
	poll := make(chan Polled, 1)
	go func() {
		msgs, err := c.Receive(ctx, max, wait)
		poll <- Polled{msgs, err}
	}()
	return poll
}

// Consumer is the receiving side of a queue, as the verify loop uses it.
type Consumer interface {
	Receive(ctx context.Context, max int, wait time.Duration) ([]queue.Message, error)
	Delete(ctx context.Context, receiptHandle string) error
	ChangeVisibility(ctx context.Context, receiptHandle string, d time.Duration) error
}

// Harness is one queue under test and the means to observe and script it.
type Harness struct {
	Queue queue.Queue
	// Consumer receives from Queue; its visibility timeout is at least
	// 10s.
	Consumer Consumer
	// Sent returns the jobs the queue accepted so far, in order.
	Sent func() []probe.Job
	// RejectNext scripts the outcome of the next entries sent, attempt
	// by attempt: an error code refuses the entry ("InternalError" and
	// "ServiceUnavailable" without sender fault), "" accepts it.
	RejectNext func(codes ...string)
	// Polling receives a value once a Receive with a wait has found no
	// visible message and waits for one (at most one signal pending).
	Polling <-chan struct{}
}

// Run runs the contract suite. newHarness returns a fresh, empty queue that
// retries a refused entry at most 3 times in all.
func Run(t *testing.T, newHarness func(t *testing.T) Harness) {
	ctx := context.Background()
	t.Run("sends every job in order, in batches", func(t *testing.T) {
		h := newHarness(t)
		in := send(t, h.Queue, 23)
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
	runReceive(t, newHarness)
}

func runReceive(t *testing.T, newHarness func(t *testing.T) Harness) {
	ctx := context.Background()
	t.Run("receives each job once until deleted or made visible again", func(t *testing.T) {
		h := newHarness(t)
		in := send(t, h.Queue, 3)
		first := receive(t, h.Consumer, 10, 0, 3)
		for i, m := range first {
			if m.ReceiveCount != 1 || m.ReceiptHandle == "" || m.ID == "" {
				t.Errorf("message %d = %+v, want receive count 1 with an ID and a receipt handle", i, m)
			}
			var body probe.Job
			if err := json.Unmarshal([]byte(m.Body), &body); err != nil {
				t.Fatalf("message %d body %q: %v", i, m.Body, err)
			}
			assertJobs(t, []probe.Job{m.Job, body}, []probe.Job{in[i], in[i]})
		}
		receive(t, h.Consumer, 10, 0, 0) // all in flight

		if err := h.Consumer.Delete(ctx, first[0].ReceiptHandle); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		if err := h.Consumer.ChangeVisibility(ctx, first[1].ReceiptHandle, 0); err != nil {
			t.Fatalf("ChangeVisibility: %v", err)
		}
		again := receive(t, h.Consumer, 10, 0, 1)
		if m := again[0]; m.ID != first[1].ID || m.ReceiveCount != 2 || m.ReceiptHandle == first[1].ReceiptHandle {
			t.Fatalf("received again %+v, want %s with receive count 2 and a new receipt handle", m, first[1].ID)
		}
		if err := h.Consumer.Delete(ctx, first[0].ReceiptHandle); !errors.Is(err, queue.ErrReceiptHandle) {
			t.Errorf("Delete of a deleted message = %v, want ErrReceiptHandle", err)
		}
		if err := h.Consumer.Delete(ctx, again[0].ReceiptHandle); err != nil {
			t.Fatalf("Delete with the new receipt handle: %v", err)
		}
		for _, rh := range []string{"invalid", first[0].ReceiptHandle} {
			if err := h.Consumer.ChangeVisibility(ctx, rh, 0); !errors.Is(err, queue.ErrReceiptHandle) {
				t.Errorf("ChangeVisibility(%q) = %v, want ErrReceiptHandle", rh, err)
			}
		}
	})
	t.Run("receives at most max messages, oldest first", func(t *testing.T) {
		h := newHarness(t)
		in := send(t, h.Queue, 7)
		got := receive(t, h.Consumer, 5, 0, 5)
		jobs := make([]probe.Job, len(got))
		for i, m := range got {
			jobs[i] = m.Job
		}
		assertJobs(t, jobs, in[:5])
	})
	t.Run("a long poll returns a job sent while it waits", func(t *testing.T) {
		h := newHarness(t)
		start := time.Now()
		poll := Poll(ctx, h.Consumer, 1, 20*time.Second)
		// The job is sent once the poll has found the queue empty and
		// waits, never before: a poll that began late cannot find it
		// already there.
		select {
		case <-h.Polling:
		case r := <-poll:
			t.Fatalf("Receive on an empty queue returned without waiting: %+v, %v", r.Msgs, r.Err)
		}
		if err := h.Queue.Send(ctx, Jobs(1)); err != nil {
			t.Fatal(err)
		}
		r := <-poll
		if r.Err != nil || len(r.Msgs) != 1 {
			t.Fatalf("Receive = %+v, %v; want the job sent while it waited", r.Msgs, r.Err)
		}
		// A poll that slept through the send would find the job only at
		// the end of its 20s wait.
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("long poll returned after %s, want soon after the send", d)
		}
	})
	t.Run("a delayed message comes back after the delay with a higher receive count", func(t *testing.T) {
		h := newHarness(t)
		send(t, h.Queue, 1)
		m := receive(t, h.Consumer, 1, 0, 1)[0]
		start := time.Now()
		if err := h.Consumer.ChangeVisibility(ctx, m.ReceiptHandle, time.Second); err != nil {
			t.Fatal(err)
		}
		receive(t, h.Consumer, 1, 0, 0)
		back := receive(t, h.Consumer, 1, 5*time.Second, 1)[0]
		if d := time.Since(start); d < 900*time.Millisecond || back.ID != m.ID || back.ReceiveCount != 2 {
			t.Errorf("after %s received %+v, want %s again with receive count 2 after 1s", d, back, m.ID)
		}
	})
}

// send sends n distinct jobs (Jobs(n)) and returns them, failing t if the
// queue refuses any.
func send(t *testing.T, q queue.Queue, n int) []probe.Job {
	t.Helper()
	in := Jobs(n)
	if err := q.Send(context.Background(), in); err != nil {
		t.Fatalf("Send(%d jobs): %v", n, err)
	}
	return in
}

// receive receives once and fails unless it gets want messages.
func receive(t *testing.T, c Consumer, max int, wait time.Duration, want int) []queue.Message {
	t.Helper()
	got, err := c.Receive(context.Background(), max, wait)
	if err != nil {
		t.Fatalf("Receive: %v", err)
	}
	if len(got) != want {
		t.Fatalf("received %d messages, want %d", len(got), want)
	}
	return got
}

// Jobs returns n distinct jobs.
func Jobs(n int) []probe.Job {
	out := make([]probe.Job, n)
	at := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	for i := range out {
		acct := fmt.Sprintf("%012d", 111111111100+i)
		out[i] = probe.Job{
			Connection: connection.Connection{
				TenantID: "acme", AccountID: acct, RoleARN: "arn:aws:iam::" + acct + ":role/RoleCall",
				Status: connection.Verified, Version: int64(i + 1), SubmittedAt: at, UpdatedAt: at, NextCheckAt: at.Add(time.Hour),
				Reason: connection.Reason{Code: connection.CodeVerified, Message: "ok"},
			},
			ExternalID: "rc-TESTEXTERNALID", ExternalIDVersion: 1, Why: probe.WhyScheduled,
		}
	}
	return out
}

func sortJobs(j []probe.Job) {
	slices.SortFunc(j, func(a, b probe.Job) int { return int(a.Connection.Version - b.Connection.Version) })
}

func assertJobs(t *testing.T, got, want []probe.Job) {
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
