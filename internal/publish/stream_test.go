package publish_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-lambda-go/events"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/rolecall/rolecall/internal/bus"
	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/publish"
	"github.com/rolecall/rolecall/internal/publish/publishtest"
	"github.com/rolecall/rolecall/internal/store"
	"github.com/rolecall/rolecall/internal/testkit/golden"
)

var update = flag.Bool("update", false, "rewrite events/publish/outbox-inserts.json from the lifecycle and the store's item format")

const samplePath = "../../events/publish/outbox-inserts.json"

// streamValue renders an attribute value in the DynamoDB stream JSON form.
func streamValue(av ddbtypes.AttributeValue) any {
	switch v := av.(type) {
	case *ddbtypes.AttributeValueMemberS:
		return map[string]any{"S": v.Value}
	case *ddbtypes.AttributeValueMemberN:
		return map[string]any{"N": v.Value}
	case *ddbtypes.AttributeValueMemberBOOL:
		return map[string]any{"BOOL": v.Value}
	case *ddbtypes.AttributeValueMemberNULL:
		return map[string]any{"NULL": true}
	case *ddbtypes.AttributeValueMemberM:
		m := map[string]any{}
		for k, e := range v.Value {
			m[k] = streamValue(e)
		}
		return map[string]any{"M": m}
	case *ddbtypes.AttributeValueMemberL:
		var l []any
		for _, e := range v.Value {
			l = append(l, streamValue(e))
		}
		return map[string]any{"L": l}
	case *ddbtypes.AttributeValueMemberSS:
		return map[string]any{"SS": v.Value}
	}
	panic(fmt.Sprintf("attribute type %T not used by outbox items", av))
}

// outboxImage is ev's outbox item as a DynamoDB stream record's NewImage.
func outboxImage(t testing.TB, ev connection.Event) map[string]any {
	t.Helper()
	item, err := store.ItemFromEvent(ev)
	if err != nil {
		t.Fatal(err)
	}
	img := map[string]any{}
	for k, v := range item {
		img[k] = streamValue(v)
	}
	return img
}

// streamBatch renders evs as the publish function receives them: a batch
// of INSERT records of their outbox items.
func streamBatch(t *testing.T, evs []connection.Event) []byte {
	t.Helper()
	var recs []any
	for i, ev := range evs {
		img := outboxImage(t, ev)
		size, _ := json.Marshal(img)
		recs = append(recs, map[string]any{
			"eventID":      fmt.Sprintf("%032x", i+1),
			"eventName":    "INSERT",
			"eventVersion": "1.1",
			"eventSource":  "aws:dynamodb",
			"awsRegion":    "us-east-1",
			"dynamodb": map[string]any{
				"ApproximateCreationDateTime": ev.OccurredAt.Unix(),
				"Keys":                        map[string]any{store.AttrPK: img[store.AttrPK], store.AttrSK: img[store.AttrSK]},
				"NewImage":                    img,
				"SequenceNumber":              fmt.Sprintf("%d", 100000000000000000+i*100),
				"SizeBytes":                   len(size),
				"StreamViewType":              "NEW_AND_OLD_IMAGES",
			},
			"eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/rolecall-dev/stream/2025-03-01T00:00:00.000",
		})
	}
	b, err := json.MarshalIndent(map[string]any{"Records": recs}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

// TestStreamSample keeps events/publish/outbox-inserts.json equal to what
// the store writes for the lifecycle's events (run with -update to
// regenerate it after the item format changes).
func TestStreamSample(t *testing.T) {
	want := streamBatch(t, publishtest.LifecycleEvents())
	golden.Check(t, samplePath, want, *update, "is not what the store writes for the lifecycle events; run go test ./internal/publish -run TestStreamSample -update")
}

func loadSample(t *testing.T) events.DynamoDBEvent {
	return golden.Load[events.DynamoDBEvent](t, samplePath)
}

func TestHandlerPublishesTheSample(t *testing.T) {
	in := loadSample(t)
	b := newScriptedBus()
	h := &publish.Handler{Publisher: &publish.Publisher{Bus: b, Source: "rolecall", BusName: "rolecall-dev", Backoff: time.Millisecond}}
	resp, err := h.Handle(context.Background(), in)
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("Handle = %+v, %v", resp, err)
	}
	out, _ := json.Marshal(resp)
	if string(out) != `{"batchItemFailures":[]}` {
		t.Errorf("response JSON = %s", out)
	}
	want := publishtest.LifecycleEvents()
	envs, _ := b.Since("", 0)
	if len(envs) != len(want) {
		t.Fatalf("published %d events, want %d", len(envs), len(want))
	}
	for i, env := range envs {
		e, _ := publish.NewEntry(want[i], "rolecall", "rolecall-dev")
		if env.DetailType != e.DetailType || string(env.Detail) != e.Detail || env.Source != "rolecall" || !env.Time.Equal(e.Time) {
			t.Errorf("event %d = %s %s, want %s %s", i, env.DetailType, env.Detail, e.DetailType, e.Detail)
		}
	}
}

func TestHandlerReportsFailures(t *testing.T) {
	in := loadSample(t)
	evs := publishtest.LifecycleEvents()
	// Record 1 will be refused for good, record 4 is garbled; a MODIFY
	// record and a connection item are skipped.
	garbled := in.Records[4]
	garbled.Change.NewImage = map[string]events.DynamoDBAttributeValue{
		store.AttrKind: events.NewStringAttribute(store.KindEvent),
		"eventId":      events.NewStringAttribute("evt-garbled"),
	}
	in.Records[4] = garbled
	modify := in.Records[0]
	modify.EventName = "MODIFY"
	conn := in.Records[0]
	conn.Change.NewImage = map[string]events.DynamoDBAttributeValue{store.AttrKind: events.NewStringAttribute("connection")}
	noKind := in.Records[0]
	noKind.Change.NewImage = map[string]events.DynamoDBAttributeValue{"eventId": events.NewStringAttribute(evs[0].EventID)}
	in.Records = append(in.Records, modify, conn, noKind)

	b := newScriptedBus()
	b.refuse[evs[1].EventID] = []string{"AccessDeniedException"}
	var logs bytes.Buffer
	h := &publish.Handler{Publisher: &publish.Publisher{Bus: b, Backoff: time.Millisecond}, Log: newLogger(&logs)}
	resp, err := h.Handle(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range resp.BatchItemFailures {
		got = append(got, f.ItemIdentifier)
	}
	want := []string{in.Records[4].Change.SequenceNumber, in.Records[1].Change.SequenceNumber}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("batch item failures = %v, want %v", got, want)
	}
	if envs, _ := b.Since("", 0); len(envs) != len(evs)-2 {
		t.Errorf("published %d events, want %d", len(envs), len(evs)-2)
	}
	for _, s := range []string{"undecodable outbox record", `"skipped":3`, "AccessDeniedException"} {
		if !strings.Contains(logs.String(), s) {
			t.Errorf("logs lack %q:\n%s", s, logs.String())
		}
	}
}

// TestHandlerLogsEveryEventNotPut: when PutEvents fails as a whole on
// every round, every record is reported as a batch item failure and the
// log names each event not put (the README's "What operators see").
func TestHandlerLogsEveryEventNotPut(t *testing.T) {
	in := loadSample(t)
	b := newScriptedBus()
	b.failCalls = 100
	var logs bytes.Buffer
	h := &publish.Handler{Publisher: &publish.Publisher{Bus: b, Backoff: time.Millisecond}, Log: newLogger(&logs)}
	resp, err := h.Handle(context.Background(), in)
	if err != nil || len(resp.BatchItemFailures) != len(in.Records) {
		t.Fatalf("Handle = %d failures, %v; want all %d records reported", len(resp.BatchItemFailures), err, len(in.Records))
	}
	for _, ev := range publishtest.LifecycleEvents() {
		if n := strings.Count(logs.String(), ev.EventID); n != 1 {
			t.Errorf("event %s (%s) was not put; the logs name it %d times, want once", ev.EventID, ev.DetailType, n)
		}
	}
	if t.Failed() {
		t.Logf("logs:\n%s", logs.String())
	}
}

// hangingBus puts the entries of its first call and holds the next calls
// until their context ends, as an event bus that stops answering.
type hangingBus struct {
	*bus.Memory
	calls int
}

func (b *hangingBus) Put(ctx context.Context, entries []bus.Entry) ([]bus.Failure, error) {
	if b.calls++; b.calls == 1 {
		return b.Memory.Put(ctx, entries)
	}
	<-ctx.Done()
	return nil, ctx.Err()
}

// TestHandlerAnswersBeforeTheInvocationDeadline: when the bus stops
// answering, the handler stops publishing before the invocation's deadline
// and answers in time with the records not put as batch item failures;
// answering at the deadline, Lambda would have timed the invocation out and
// retried the whole batch, the events already put included.
func TestHandlerAnswersBeforeTheInvocationDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		in := loadSample(t)
		b := &hangingBus{Memory: bus.NewMemory()}
		var logs bytes.Buffer
		h := &publish.Handler{Publisher: &publish.Publisher{Bus: b, Backoff: time.Millisecond}, Log: newLogger(&logs)}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		deadline, _ := ctx.Deadline()
		resp, err := h.Handle(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		if now := time.Now(); !now.Before(deadline) {
			t.Fatalf("Handle answered %v after the invocation's deadline", now.Sub(deadline))
		}
		var got, want []string
		for _, f := range resp.BatchItemFailures {
			got = append(got, f.ItemIdentifier)
		}
		for _, r := range in.Records[bus.MaxBatch:] {
			want = append(want, r.Change.SequenceNumber)
		}
		if !slices.Equal(got, want) {
			t.Errorf("batch item failures = %v, want the records after the first put's %d: %v", got, bus.MaxBatch, want)
		}
		if !strings.Contains(logs.String(), "events not published") {
			t.Errorf("no log of the events not published:\n%s", logs.String())
		}
	})
}
