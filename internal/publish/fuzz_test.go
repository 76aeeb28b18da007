package publish_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"reflect"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/rolecall/rolecall/internal/bus"
	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/publish"
	"github.com/rolecall/rolecall/internal/publish/publishtest"
	"github.com/rolecall/rolecall/internal/store"
)

// recordingBus accepts every entry and keeps them.
type recordingBus struct{ entries []bus.Entry }

func (b *recordingBus) Put(ctx context.Context, entries []bus.Entry) ([]bus.Failure, error) {
	b.entries = append(b.entries, entries...)
	return nil, nil
}

// FuzzOutboxEntry feeds arbitrary stream images (the NewImage of a DynamoDB
// stream record, in its JSON form) through what the publish function does
// with an outbox item: decode it into an event, derive its EventBridge
// entry, publish it through the stream handler. Nothing may panic. When the
// image decodes:
//   - the entry is deterministic: derived twice, and derived again from the
//     event's item written and read back, it is identical, so a retry after a
//     crash sends the same bytes with the same eventId;
//   - its detail is a valid JSON object that decodes back to the event, its
//     detail-type, time and resources are the event's;
//   - the handler publishes exactly that entry and reports no failure.
//
// When it does not decode, the handler reports the record as a batch item
// failure and publishes nothing (nothing is dropped silently).
//
//	go test ./internal/publish -run '^$' -fuzz '^FuzzOutboxEntry$' -fuzztime 60s
func FuzzOutboxEntry(f *testing.F) {
	for _, ev := range publishtest.LifecycleEvents() {
		b, err := json.Marshal(outboxImage(f, ev))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		`{}`, `null`, `[]`, `{"kind":{"S":"event"}}`,
		`{"kind":{"S":"event"},"eventId":{"S":"evt-1"},"detailType":{"S":"Role Verified"},"tenantId":{"S":"t"},"accountId":{"S":"1"},"version":{"N":"1"}}`,
		`{"kind":{"S":"event"},"eventId":{"S":"evt-1"},"detailType":{"S":"Role Verified"},"tenantId":{"S":"t"},"accountId":{"S":"1"},"version":{"N":"9223372036854775807"},"occurredAt":{"N":"253402300800"}}`,
		`{"kind":{"S":"event"},"eventId":{"S":"evt-\u2028"},"detailType":{"S":"Role Disconnected"},"tenantId":{"S":"<t>&"},"accountId":{"S":"\u0000"},"version":{"N":"2"},"reason":{"M":{"code":{"N":"1"}}}}`,
		`{"kind":{"S":"event"},"eventId":{"S":"e"},"detailType":{"S":"Role Verified"},"tenantId":{"S":"t"},"accountId":{"S":"a"},"version":{"N":"1e3"},"occurredAt":{"S":"2025-01-02T03:04:05.123456789+05:30"}}`,
		`{"kind":{"BOOL":true},"version":{"L":[{"N":"1"}]}}`,
	} {
		f.Add([]byte(s))
	}
	quiet := slog.New(slog.DiscardHandler)
	f.Fuzz(func(t *testing.T, image []byte) {
		var img map[string]events.DynamoDBAttributeValue
		if err := json.Unmarshal(image, &img); err != nil {
			return
		}
		ev, decodeErr := store.EventFromStreamImage(img)

		// The stream handler, as the publish Lambda runs it.
		rec := &recordingBus{}
		h := &publish.Handler{Publisher: &publish.Publisher{Bus: rec, Attempts: 1, Log: quiet}, Log: quiet}
		in := events.DynamoDBEvent{Records: []events.DynamoDBEventRecord{{
			EventID: "1", EventName: string(events.DynamoDBOperationTypeInsert),
			Change: events.DynamoDBStreamRecord{SequenceNumber: "100", NewImage: img},
		}}}
		resp, err := h.Handle(context.Background(), in)
		if err != nil {
			t.Fatalf("handler error: %v", err)
		}
		kind, hasKind := img[store.AttrKind]
		outbox := hasKind && kind.DataType() == events.DataTypeString && kind.String() == store.KindEvent

		if decodeErr != nil {
			if len(rec.entries) != 0 {
				t.Fatalf("an undecodable image was published: %+v", rec.entries)
			}
			if outbox && len(resp.BatchItemFailures) != 1 {
				t.Fatalf("an undecodable outbox record was not reported: %+v (%v)", resp, decodeErr)
			}
			if !outbox && len(resp.BatchItemFailures) != 0 {
				t.Fatalf("a record that is not an outbox insert was reported: %+v", resp)
			}
			return
		}

		e1, err1 := publish.NewEntry(ev, "", "")
		e2, err2 := publish.NewEntry(ev, "", "")
		if (err1 == nil) != (err2 == nil) || !reflect.DeepEqual(e1, e2) {
			t.Fatalf("NewEntry is not deterministic:\n%+v %v\n%+v %v", e1, err1, e2, err2)
		}
		if err1 != nil {
			// An event the bus cannot carry is reported, never dropped.
			if len(rec.entries) != 0 || len(resp.BatchItemFailures) != 1 {
				t.Fatalf("entry error %v, but published %d and reported %+v", err1, len(rec.entries), resp)
			}
			return
		}

		// Written and read back, the event gives the same entry.
		item, err := store.ItemFromEvent(ev)
		if err != nil {
			t.Fatalf("re-encode the event: %v", err)
		}
		again, err := store.EventFromItem(item)
		if err != nil {
			t.Fatalf("decode the re-encoded item: %v", err)
		}
		if e3, err := publish.NewEntry(again, "", ""); err != nil || !reflect.DeepEqual(e1, e3) {
			t.Fatalf("the entry changed after an item round trip:\n%+v\n%+v (%v)", e1, e3, err)
		}

		if !json.Valid([]byte(e1.Detail)) || len(e1.Detail) == 0 || e1.Detail[0] != '{' {
			t.Fatalf("detail is not a JSON object: %q", e1.Detail)
		}
		var detail connection.Event
		if err := json.Unmarshal([]byte(e1.Detail), &detail); err != nil {
			t.Fatalf("decode detail %s: %v", e1.Detail, err)
		}
		if !detail.OccurredAt.Equal(ev.OccurredAt) {
			t.Fatalf("detail occurredAt %v, event %v", detail.OccurredAt, ev.OccurredAt)
		}
		detail.OccurredAt, detail.DetailType = ev.OccurredAt, ev.DetailType
		if detail != ev {
			t.Fatalf("detail decodes to %+v, want %+v", detail, ev)
		}
		if e1.DetailType != string(ev.DetailType) || e1.Source != publish.DefaultSource || !e1.Time.Equal(ev.OccurredAt) ||
			e1.Time.Location().String() != "UTC" {
			t.Fatalf("entry %+v for event %+v", e1, ev)
		}
		if (ev.RoleARN == "") != (e1.Resources == nil) || (ev.RoleARN != "" && (len(e1.Resources) != 1 || e1.Resources[0] != ev.RoleARN)) {
			t.Fatalf("resources %q for role %q", e1.Resources, ev.RoleARN)
		}

		if len(resp.BatchItemFailures) != 0 || len(rec.entries) != 1 || !reflect.DeepEqual(rec.entries[0], e1) {
			t.Fatalf("handler published %+v and reported %+v, want exactly %+v", rec.entries, resp.BatchItemFailures, e1)
		}
	})
}
