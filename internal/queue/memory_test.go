package queue_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rolecall/rolecall/internal/probe"
	"github.com/rolecall/rolecall/internal/queue"
	"github.com/rolecall/rolecall/internal/queue/queuetest"
	"github.com/rolecall/rolecall/internal/testkit/rejectscript"
	"github.com/rolecall/rolecall/internal/testkit/testclock"
)

func TestMemoryContract(t *testing.T) {
	queuetest.Run(t, func(t *testing.T) queuetest.Harness {
		m := queue.NewMemory()
		m.Backoff = time.Millisecond
		var script rejectscript.Script
		queue.Reject(m, func(probe.Job) string { return script.Next() })
		return queuetest.Harness{
			Queue:    m,
			Consumer: m,
			Sent: func() []probe.Job {
				msgs, _ := m.Receive(context.Background(), 1000, 0)
				for _, msg := range msgs {
					_ = m.ChangeVisibility(context.Background(), msg.ReceiptHandle, 0)
				}
				var out []probe.Job
				for _, msg := range msgs {
					out = append(out, msg.Job)
				}
				return out
			},
			RejectNext: script.Push,
			Polling:    queue.Polling(m),
		}
	})
}

func TestMemoryDelivery(t *testing.T) {
	ctx := context.Background()
	clk := testclock.New(time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC))
	var told []queue.Message
	m := &queue.Memory{Visibility: 30 * time.Second, MaxReceives: 3, Now: clk.Now,
		DeadLettered: func(msg queue.Message) { told = append(told, msg) }}
	if err := m.Send(ctx, queuetest.Jobs(2)); err != nil {
		t.Fatal(err)
	}

	first, _ := m.Receive(ctx, 10, 0)
	if len(first) != 2 || first[0].ReceiveCount != 1 || first[0].Job.Connection.Version != 1 {
		t.Fatalf("first receive = %+v", first)
	}
	if again, _ := m.Receive(ctx, 10, 0); len(again) != 0 {
		t.Fatalf("received %d messages still invisible", len(again))
	}
	if err := m.Delete(ctx, first[1].ReceiptHandle); err != nil {
		t.Fatal(err)
	}
	if err := m.ChangeVisibility(ctx, first[0].ReceiptHandle, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	clk.Advance(4 * time.Second)
	if got, _ := m.Receive(ctx, 10, 0); len(got) != 0 {
		t.Fatalf("received before the changed visibility ended")
	}
	clk.Advance(time.Second)
	second, _ := m.Receive(ctx, 10, 0)
	if len(second) != 1 || second[0].ReceiveCount != 2 || second[0].ID != first[0].ID {
		t.Fatalf("second receive = %+v", second)
	}
	if err := m.Delete(ctx, first[0].ReceiptHandle); !errors.Is(err, queue.ErrReceiptHandle) {
		t.Errorf("Delete with a superseded receipt handle = %v, want ErrReceiptHandle", err)
	}
	clk.Advance(30 * time.Second)
	third, _ := m.Receive(ctx, 10, 0)
	clk.Advance(30 * time.Second)
	fourth, _ := m.Receive(ctx, 10, 0)
	if len(third) != 1 || third[0].ReceiveCount != 3 || len(fourth) != 0 {
		t.Fatalf("third %+v, fourth %+v", third, fourth)
	}
	if dead := queue.Dead(m); len(dead) != 1 || dead[0].ID != first[0].ID || queue.Len(m) != 0 {
		t.Fatalf("dead = %+v, len %d; want the message dead-lettered after 3 receives", dead, queue.Len(m))
	}
	if len(told) != 1 || told[0].ID != first[0].ID || told[0].ReceiveCount != 4 {
		t.Errorf("DeadLettered was told %+v; want the one message, on its 4th receive", told)
	}
	if err := m.ChangeVisibility(ctx, "nope", 0); !errors.Is(err, queue.ErrReceiptHandle) {
		t.Errorf("ChangeVisibility(unknown) = %v", err)
	}
}

// A Receive asking for no message, or fewer, gets one: a max below 1 is
// taken as 1, and the others stay queued.
func TestMemoryReceiveAtLeastOne(t *testing.T) {
	for _, max := range []int{0, -3} {
		m := queue.NewMemory()
		if err := m.Send(context.Background(), queuetest.Jobs(3)); err != nil {
			t.Fatal(err)
		}
		got, err := m.Receive(context.Background(), max, 0)
		if err != nil || len(got) != 1 || queue.Len(m) != 3 {
			t.Fatalf("Receive(max %d) = %d messages, %v (queue len %d); want 1 of 3", max, len(got), err, queue.Len(m))
		}
	}
}

func TestMemoryLongPoll(t *testing.T) {
	// In a synctest bubble time moves only when every goroutine waits, so
	// the durations below are exact: a poll that wakes late, or early,
	// fails instead of passing on a slow machine.
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		m := queue.NewMemory()
		// The sender arrives once the poll waits on the empty queue
		// (synctest.Wait returns when it is blocked), not after a guess.
		start := time.Now()
		poll := queuetest.Poll(ctx, m, 1, 5*time.Second)
		synctest.Wait()
		select {
		case r := <-poll:
			t.Fatalf("Receive on an empty queue returned at once: %+v", r)
		default:
		}
		if err := m.Send(ctx, queuetest.Jobs(1)); err != nil {
			t.Fatal(err)
		}
		r := <-poll
		got, err := r.Msgs, r.Err
		if err != nil || len(got) != 1 {
			t.Fatalf("Receive = %v, %v", got, err)
		}
		if d := time.Since(start); d != 0 {
			t.Errorf("long poll woke %s after the send, want at once", d)
		}

		// A message whose visibility is changed to a short delay is received
		// by a waiting poll once it becomes visible.
		if err := m.ChangeVisibility(ctx, got[0].ReceiptHandle, 30*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		start = time.Now()
		again, err := m.Receive(ctx, 1, 5*time.Second)
		if err != nil || len(again) != 1 || again[0].ReceiveCount != 2 {
			t.Fatalf("Receive after visibility change = %+v, %v", again, err)
		}
		if d := time.Since(start); d != 30*time.Millisecond {
			t.Errorf("poll got the message after %s, want when it became visible (30ms)", d)
		}

		cctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		defer cancel()
		if _, err := m.Receive(cctx, 1, 5*time.Second); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Receive on an empty queue with a short context = %v", err)
		}
		start = time.Now()
		if got, err := m.Receive(ctx, 1, 10*time.Millisecond); err != nil || len(got) != 0 {
			t.Errorf("Receive with a short wait = %v, %v", got, err)
		}
		if d := time.Since(start); d != 10*time.Millisecond {
			t.Errorf("an empty poll returned after %s, want at the end of its wait (10ms)", d)
		}
	})
}

// A long poll receives a message that becomes visible again during it,
// also one due in less than the millisecond the poll waits at the least.
func TestMemoryLongPollReceivesWhatBecomesVisible(t *testing.T) {
	for _, after := range []time.Duration{500 * time.Microsecond, 200 * time.Millisecond} {
		t.Run(after.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx := context.Background()
				m := queue.NewMemory()
				if err := m.Send(ctx, queuetest.Jobs(1)); err != nil {
					t.Fatal(err)
				}
				first, _ := m.Receive(ctx, 1, 0)
				if len(first) != 1 {
					t.Fatalf("received %d messages, want 1", len(first))
				}
				if err := m.ChangeVisibility(ctx, first[0].ReceiptHandle, after); err != nil {
					t.Fatal(err)
				}
				start := time.Now()
				again, err := m.Receive(ctx, 1, 20*time.Second)
				if err != nil || len(again) != 1 || again[0].ID != first[0].ID || again[0].ReceiveCount != 2 {
					t.Fatalf("long poll = %+v, %v; want the message again, received twice", again, err)
				}
				if waited := time.Since(start); waited < after || waited > after+time.Millisecond {
					t.Errorf("received after %v, want once visible, %v", waited, after)
				}
			})
		})
	}
}

// A job sent while DeadLettered runs wakes the poll that called it: the
// poll looks at the queue again instead of waiting out its wait.
func TestMemoryDeadLetteringMissesNoSend(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		inCallback, release := make(chan struct{}), make(chan struct{})
		m := &queue.Memory{Visibility: time.Second, MaxReceives: 1,
			DeadLettered: func(queue.Message) { close(inCallback); <-release }}
		if err := m.Send(ctx, queuetest.Jobs(1)); err != nil {
			t.Fatal(err)
		}
		if got, err := m.Receive(ctx, 10, 0); err != nil || len(got) != 1 {
			t.Fatalf("first receive = %v, %v", got, err)
		}
		time.Sleep(time.Second) // the bubble's clock: the job is visible again
		start := time.Now()
		poll := queuetest.Poll(ctx, m, 1, 20*time.Second)
		<-inCallback // the poll dead-letters the job and waits in the callback
		if err := m.Send(ctx, queuetest.Jobs(1)); err != nil {
			t.Fatal(err)
		}
		close(release)
		r := <-poll
		if r.Err != nil || len(r.Msgs) != 1 {
			t.Fatalf("poll = %+v, %v; want the job sent during the callback", r.Msgs, r.Err)
		}
		if d := time.Since(start); d != 0 {
			t.Errorf("the poll returned after %s, want at once", d)
		}
	})
}
