package emulator

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/rolecall/rolecall"
	"github.com/rolecall/rolecall/internal/probe"
	"github.com/rolecall/rolecall/internal/queue"
	"github.com/rolecall/rolecall/internal/queue/queuetest"
	"github.com/rolecall/rolecall/internal/stack"
	"github.com/rolecall/rolecall/internal/testkit/logcapture"
	"github.com/rolecall/rolecall/internal/testkit/testclock"
)

// TestInProcessQueueIsTheTemplates: serve's verify queue hides a received
// job and gives up on it as template.yaml's two verify queues do.
func TestInProcessQueueIsTheTemplates(t *testing.T) {
	tm, err := stack.ParseTemplate("template.yaml", rolecall.Template())
	if err != nil {
		t.Fatal(err)
	}
	queues := tm.Resources("AWS::SQS::Queue")
	for _, id := range []string{"VerifyQueue", "PriorityQueue"} {
		p := stack.Properties(queues[id])
		if v, _ := p["VisibilityTimeout"].(int); time.Duration(v)*time.Second != queueVisibility {
			t.Errorf("%s VisibilityTimeout = %v, queueVisibility = %v", id, p["VisibilityTimeout"], queueVisibility)
		}
		redrive, _ := p["RedrivePolicy"].(map[string]any)
		if n, _ := redrive["maxReceiveCount"].(int); n != queueMaxReceives {
			t.Errorf("%s maxReceiveCount = %v, queueMaxReceives = %d", id, redrive["maxReceiveCount"], queueMaxReceives)
		}
	}
}

// A job the in-process queue delivers queueMaxReceives times without being
// deleted is dead-lettered once, with an error log that names the
// connection and not its external ID.
func TestInProcessQueueDeadLetters(t *testing.T) {
	ctx := context.Background()
	logs := logcapture.New(nil)
	st := &Stack{opts: Options{Log: slog.New(logs)}}
	st.verifyQueue(nil)
	mem := st.Components.Queue.(*queue.Memory)
	clk := testclock.New(time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC))
	mem.Now = clk.Now
	job := queuetest.Jobs(1)[0]
	if err := mem.Send(ctx, []probe.Job{job}); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= queueMaxReceives; i++ {
		got, err := mem.Receive(ctx, 10, 0)
		if err != nil || len(got) != 1 {
			t.Fatalf("receive %d = %v, %v; want the job", i, got, err)
		}
		if n := logs.Count(deadLetteredMessage); n != 0 {
			t.Fatalf("dead-lettered after %d receives", i)
		}
		clk.Advance(queueVisibility)
	}
	if got, _ := mem.Receive(ctx, 10, 0); len(got) != 0 {
		t.Fatalf("receive %d = %v; want none", queueMaxReceives+1, got)
	}
	recs := logs.Records()
	if len(recs) != 1 || recs[0].Level != slog.LevelError || recs[0].Message != deadLetteredMessage {
		t.Fatalf("logs = %+v; want one error that the job was dead-lettered", recs)
	}
	attrs := recs[0].Attrs
	if attrs["tenantId"].String() != job.Connection.TenantID || attrs["accountId"].String() != job.Connection.AccountID || attrs["receives"].Int64() != queueMaxReceives {
		t.Errorf("attrs = %v; want the connection and %d receives", attrs, queueMaxReceives)
	}
	for k, v := range attrs {
		if strings.Contains(v.String(), job.ExternalID) {
			t.Errorf("attribute %s carries the external ID", k)
		}
	}
}
