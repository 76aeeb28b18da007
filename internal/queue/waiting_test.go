package queue_test

import (
	"context"
	"testing"
	"time"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/probe"
	"github.com/rolecall/rolecall/internal/queue"
)

// TestSQSWaiting: the sweep learns how many jobs are not done yet, through
// the SDK: sent and not yet received, and received but not deleted.
func TestSQSWaiting(t *testing.T) {
	ctx := context.Background()
	q, _ := fakeSQS(t, 1)
	n, err := q.Waiting(ctx)
	if err != nil || n != (queue.Backlog{}) {
		t.Fatalf("empty queue: %+v, %v", n, err)
	}
	var jobs []probe.Job
	for i := range 7 {
		jobs = append(jobs, probe.Job{Connection: connection.Connection{TenantID: "acme", AccountID: "11112222333" + string(rune('0'+i)), Version: 1}, ExternalID: "x"})
	}
	if err := q.Send(ctx, jobs); err != nil {
		t.Fatal(err)
	}
	if n, err := q.Waiting(ctx); err != nil || n != (queue.Backlog{Visible: 7}) {
		t.Fatalf("after 7 sends: %+v, %v", n, err)
	}
	if _, err := q.Receive(ctx, 3, time.Second); err != nil {
		t.Fatal(err)
	}
	msgs, err := q.Receive(ctx, 3, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := q.Waiting(ctx); err != nil || n != (queue.Backlog{Visible: 1, NotVisible: 6}) {
		t.Fatalf("after receiving 3 more: %+v, %v; want 1 visible, 6 received", n, err)
	}
	for _, m := range msgs {
		if err := q.Delete(ctx, m.ReceiptHandle); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := q.Waiting(ctx); err != nil || n != (queue.Backlog{Visible: 1, NotVisible: 3}) || n.Total() != 4 {
		t.Fatalf("after deleting 3: %+v, %v; want 4 not done", n, err)
	}
}
