package verify_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/rolecall/rolecall/internal/bus"
	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/probe"
	"github.com/rolecall/rolecall/internal/publish"
	"github.com/rolecall/rolecall/internal/store"
	"github.com/rolecall/rolecall/internal/testkit/golden"
	"github.com/rolecall/rolecall/internal/testkit/logcapture"
)

var update = flag.Bool("update", false, "rewrite events/verify/sqs-batch.json")

const samplePath = "../../events/verify/sqs-batch.json"

// sampleWorld seeds the store the sample batch refers to: tenant acme, a
// VERIFIED connection (the sweeper's job) and a PENDING one (its Role
// Submitted event).
func sampleWorld(t *testing.T) (*store.Memory, connection.Connection, connection.Event) {
	st := store.NewMemory()
	verified := seed(t, st, "123456789012", connection.Verified)
	seed(t, st, "210987654321", connection.Pending)
	evs, _ := st.Events(context.Background(), "acme", "210987654321")
	return st, verified, evs[0]
}

func sampleBatch(t *testing.T, verified connection.Connection, submitted connection.Event) []byte {
	t.Helper()
	jobBody, err := json.Marshal(job(verified, probe.WhyScheduled))
	if err != nil {
		t.Fatal(err)
	}
	entry, err := publish.NewEntry(submitted, publish.DefaultSource, "rolecall-dev")
	if err != nil {
		t.Fatal(err)
	}
	env, err := json.Marshal(bus.Envelope{Version: "0", ID: "6a7e8feb-b491-4cf7-a9f1-bf3703467718", DetailType: entry.DetailType,
		Source: entry.Source, Account: "111122223333", Time: entry.Time, Region: "us-east-1", Resources: entry.Resources, Detail: json.RawMessage(entry.Detail)})
	if err != nil {
		t.Fatal(err)
	}
	rec := func(id int, body []byte) map[string]any {
		return map[string]any{
			"messageId":     fmt.Sprintf("059f36b4-87a3-44ab-83d2-66197545960%d", id),
			"receiptHandle": fmt.Sprintf("AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a%d", id),
			"body":          string(body),
			"attributes": map[string]string{
				"ApproximateReceiveCount":          "1",
				"SentTimestamp":                    "1740830400000",
				"SenderId":                         "AROAEXAMPLE:rolecall-sweep",
				"ApproximateFirstReceiveTimestamp": "1740830400100",
			},
			"messageAttributes": map[string]any{},
			"md5OfBody":         fmt.Sprintf("%x", md5.Sum(body)),
			"eventSource":       "aws:sqs",
			"eventSourceARN":    "arn:aws:sqs:us-east-1:111122223333:rolecall-dev-verify",
			"awsRegion":         "us-east-1",
		}
	}
	b, err := json.MarshalIndent(map[string]any{"Records": []any{rec(1, jobBody), rec(2, env)}}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

// TestSQSSample keeps events/verify/sqs-batch.json in step with the job
// and event formats (run with -update to regenerate).
func TestSQSSample(t *testing.T) {
	_, verified, submitted := sampleWorld(t)
	want := sampleBatch(t, verified, submitted)
	golden.Check(t, samplePath, want, *update, "is out of date; run go test ./internal/verify -run TestSQSSample -update")
}

func loadSample(t *testing.T) events.SQSEvent { return golden.Load[events.SQSEvent](t, samplePath) }

// recordingVisibility records visibility changes.
type recordingVisibility struct {
	mu      sync.Mutex
	changes []string
	err     error // what ChangeVisibility returns
}

func (r *recordingVisibility) ChangeVisibility(_ context.Context, h string, d time.Duration) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.changes = append(r.changes, fmt.Sprintf("%s=%s", h, d))
	return r.err
}

func TestHandleSample(t *testing.T) {
	tests := []struct {
		name         string
		result       connection.Result
		checkedAt    time.Duration
		wantFailures []int // record indexes
		wantChanges  []string
		wantStatus   [2]connection.Status
	}{
		{name: "both verified", result: connection.ResultOK, checkedAt: 5 * time.Second,
			wantStatus: [2]connection.Status{connection.Verified, connection.Verified}},
		{name: "denied: the pending one backs off", result: connection.ResultDenied, checkedAt: 5 * time.Second,
			wantFailures: []int{1}, wantChanges: []string{"AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a2=5s"},
			wantStatus: [2]connection.Status{connection.Verified, connection.Pending}},
		{name: "transient: both retried later", result: connection.ResultTransient, checkedAt: 5 * time.Second,
			wantFailures: []int{0, 1}, wantChanges: []string{"AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a1=30s", "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a2=30s"},
			wantStatus: [2]connection.Status{connection.Verified, connection.Pending}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, _, _ := sampleWorld(t)
			in := loadSample(t)
			ch := &fakeChecker{result: tt.result, now: t0.Add(tt.checkedAt)}
			vis := &recordingVisibility{}
			var logs bytes.Buffer
			w := newWorker(st, ch, &logs)
			w.Visibility = vis
			resp, err := w.Handle(context.Background(), in)
			if err != nil {
				t.Fatal(err)
			}
			var got, want []string
			for _, f := range resp.BatchItemFailures {
				got = append(got, f.ItemIdentifier)
			}
			for _, i := range tt.wantFailures {
				want = append(want, in.Records[i].MessageId)
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("failures = %v, want %v", got, want)
			}
			vis.mu.Lock()
			changes := strings.Join(slices.Sorted(slices.Values(vis.changes)), ",")
			vis.mu.Unlock()
			if changes != strings.Join(tt.wantChanges, ",") {
				t.Errorf("visibility changes = %s, want %s", changes, strings.Join(tt.wantChanges, ","))
			}
			for i, acct := range []string{"123456789012", "210987654321"} {
				c, _ := st.GetConnection(context.Background(), "acme", acct)
				if c.Status != tt.wantStatus[i] {
					t.Errorf("%s is %s, want %s", acct, c.Status, tt.wantStatus[i])
				}
			}
			if len(ch.requests) != 2 {
				t.Fatalf("%d checks, want 2", len(ch.requests))
			}
			for _, r := range ch.requests {
				if r.ExternalID != externalID {
					t.Errorf("check of %s used external ID %q", r.AccountID, r.ExternalID)
				}
			}
			if strings.Contains(logs.String(), externalID) {
				t.Errorf("logs disclose the external ID:\n%s", logs.String())
			}
			out, _ := json.Marshal(resp)
			if !strings.HasPrefix(string(out), `{"batchItemFailures":[`) {
				t.Errorf("response JSON = %s", out)
			}
		})
	}
}

func TestHandleDropsWhatCannotBeChecked(t *testing.T) {
	st, _, _ := sampleWorld(t)
	var logs bytes.Buffer
	w := newWorker(st, &fakeChecker{result: connection.ResultOK, now: t0.Add(time.Minute)}, &logs)
	rec := logcapture.New(w.Log.Handler()) // counts the records; logs keeps the text to scan for secrets
	w.Log = slog.New(rec)
	in := events.SQSEvent{Records: []events.SQSMessage{
		{MessageId: "m1", Body: "garbage"},
		{MessageId: "m2", Body: `{"detail-type":"Role Verified","detail":{}}`},
		{MessageId: "m3", Body: `{"connection":{"tenantId":"acme","accountId":"123456789012","roleArn":"arn:aws:iam::123456789012:role/RoleCall","status":"VERIFIED","version":1},"externalId":"` + externalID + `","why":"scheduled"}`, Attributes: map[string]string{"ApproximateReceiveCount": "2"}},
	}}
	resp, err := w.Handle(context.Background(), in)
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("Handle = %+v, %v; malformed and stale messages are dropped, not retried", resp, err)
	}
	if n := rec.Count("message dropped"); n != 3 {
		t.Errorf("logged %d drops, want 3:\n%s", n, logs.String())
	}
	if strings.Contains(logs.String(), externalID) {
		t.Errorf("logs disclose the external ID")
	}
}

// TestHandleBoundsConcurrency: a batch of 12 runs exactly Concurrency (3)
// checks at once, and a new one starts only when one finishes. Checks finish
// one at a time, when the test releases them; synctest.Wait lets every other
// goroutine settle first, so the count in flight is exact.
func TestHandleBoundsConcurrency(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := store.NewMemory()
		recs := scheduledBatch(t, st, 12)
		ch := &fakeChecker{result: connection.ResultOK, now: t0.Add(time.Hour), gate: make(chan struct{})}
		w := newWorker(st, ch, nil)
		w.Concurrency = 3
		var resp events.SQSEventResponse
		var err error
		done := make(chan struct{})
		go func() {
			defer close(done)
			resp, err = w.Handle(context.Background(), events.SQSEvent{Records: recs})
		}()
		for finished := range 12 {
			synctest.Wait()
			if n, want := ch.inFlight.Load(), int32(min(3, 12-finished)); n != want {
				t.Fatalf("after %d finished: %d checks in flight, want %d", finished, n, want)
			}
			ch.gate <- struct{}{}
		}
		<-done
		if err != nil || len(resp.BatchItemFailures) != 0 {
			t.Fatalf("Handle = %+v, %v", resp, err)
		}
		if ch.calls() != 12 {
			t.Errorf("%d checks, want 12", ch.calls())
		}
	})
}

// TestHandleDelayFailures: when the redelivery cannot be delayed (the
// queue refuses, or the message has no receipt handle) the message is still
// reported for redelivery, after the queue's own visibility timeout.
func TestHandleDelayFailures(t *testing.T) {
	tests := []struct {
		name        string
		vis         *recordingVisibility
		noHandle    bool
		wantChanges int
		wantWarns   int
	}{
		{"the queue refuses", &recordingVisibility{err: errors.New("sqs: receipt handle expired")}, false, 2, 2},
		{"no receipt handle", &recordingVisibility{}, true, 0, 0},
		{"no visibility port", nil, false, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, _, _ := sampleWorld(t)
			in := loadSample(t)
			if tt.noHandle {
				for i := range in.Records {
					in.Records[i].ReceiptHandle = ""
				}
			}
			w := newWorker(st, &fakeChecker{result: connection.ResultTransient, now: t0.Add(5 * time.Second)}, nil)
			capture := logcapture.New(nil)
			w.Log = slog.New(capture)
			if tt.vis != nil {
				w.Visibility = tt.vis
			}
			resp, err := w.Handle(context.Background(), in)
			if err != nil || len(resp.BatchItemFailures) != 2 {
				t.Fatalf("Handle = %+v, %v; want both messages back", resp, err)
			}
			if tt.vis != nil && len(tt.vis.changes) != tt.wantChanges {
				t.Fatalf("visibility changes %v, want %d", tt.vis.changes, tt.wantChanges)
			}
			if n := capture.Count("could not delay redelivery"); n != tt.wantWarns {
				t.Fatalf("%d warnings of an undelayed redelivery, want %d", n, tt.wantWarns)
			}
		})
	}
}

func TestHandleReportsStoreFailures(t *testing.T) {
	st, _, _ := sampleWorld(t)
	fs := failingStore{Memory: st, applyErr: fmt.Errorf("dynamodb: %w", context.DeadlineExceeded)}
	w := newWorker(fs, &fakeChecker{result: connection.ResultOK, now: t0.Add(time.Hour)}, nil)
	in := loadSample(t)
	resp, _ := w.Handle(context.Background(), in)
	if len(resp.BatchItemFailures) != 2 {
		t.Fatalf("failures = %+v, want both messages", resp.BatchItemFailures)
	}
}

// scheduledBatch stores n VERIFIED connections (accounts 100000000000 on)
// and returns the SQS records of their scheduled checks' jobs, message IDs
// 0 to n-1.
func scheduledBatch(t *testing.T, st *store.Memory, n int) []events.SQSMessage {
	t.Helper()
	recs := make([]events.SQSMessage, 0, n)
	for i := range n {
		c := seed(t, st, fmt.Sprintf("%012d", 100000000000+i), connection.Verified)
		b, _ := json.Marshal(job(c, probe.WhyScheduled))
		recs = append(recs, events.SQSMessage{MessageId: fmt.Sprint(i), Body: string(b)})
	}
	return recs
}
