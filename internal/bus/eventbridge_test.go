package bus_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/smithy-go"

	"github.com/rolecall/rolecall/internal/bus"
	"github.com/rolecall/rolecall/internal/bus/bustest"
	"github.com/rolecall/rolecall/internal/testkit/awsfake"
)

func fakeEventBridge(t *testing.T, attempts int) (*bus.EventBridge, *awsfake.EventBridge) {
	t.Helper()
	fake := awsfake.NewEventBridge()
	client := eventbridge.NewFromConfig(awsfake.Serve(t, fake, attempts))
	return &bus.EventBridge{Client: client}, fake
}

func TestEventBridgeContract(t *testing.T) {
	bustest.Run(t, func(t *testing.T) bustest.Harness {
		b, fake := fakeEventBridge(t, 3)
		return bustest.Harness{
			Bus: b,
			Accepted: func() []bus.Entry {
				var out []bus.Entry
				for _, e := range fake.Accepted() {
					out = append(out, bus.Entry{Source: e.Source, DetailType: e.DetailType, Detail: e.Detail, EventBusName: e.EventBusName, Time: e.Time, Resources: e.Resources})
				}
				return out
			},
			RejectNext: fake.RejectEntries,
		}
	})
}

func TestEventBridgeWire(t *testing.T) {
	ctx := context.Background()
	t.Run("sends the bus name and time", func(t *testing.T) {
		b, fake := fakeEventBridge(t, 1)
		in := bustest.Entries(2)
		if f, err := b.Put(ctx, in); err != nil || f != nil {
			t.Fatalf("Put = %v, %v", f, err)
		}
		got := fake.Accepted()
		if got[0].EventBusName != "rolecall-test" || !got[1].Time.Equal(in[1].Time) {
			t.Errorf("accepted %+v", got)
		}
	})
	t.Run("5xx is retried by the SDK, then succeeds", func(t *testing.T) {
		b, fake := fakeEventBridge(t, 3)
		fake.FailCalls(awsfake.Fault{Status: 503, Code: "ServiceUnavailable"}, awsfake.Fault{Status: 500, Code: "InternalException"})
		if f, err := b.Put(ctx, bustest.Entries(3)); err != nil || f != nil {
			t.Fatalf("Put = %v, %v", f, err)
		}
		if fake.Calls() != 3 || len(fake.Accepted()) != 3 {
			t.Errorf("calls %d, accepted %d; want 3 calls, 3 entries", fake.Calls(), len(fake.Accepted()))
		}
	})
	t.Run("persistent 5xx fails the call as a whole with the API error", func(t *testing.T) {
		b, fake := fakeEventBridge(t, 2)
		fake.FailCalls(awsfake.Fault{Status: 500, Code: "InternalException"}, awsfake.Fault{Status: 500, Code: "InternalException"})
		_, err := b.Put(ctx, bustest.Entries(2))
		var ae smithy.APIError
		if !errors.As(err, &ae) || ae.ErrorCode() != "InternalException" {
			t.Fatalf("Put error = %v, want InternalException API error", err)
		}
		if fake.Calls() != 2 || len(fake.Accepted()) != 0 {
			t.Errorf("calls %d, accepted %d", fake.Calls(), len(fake.Accepted()))
		}
	})
	t.Run("4xx is not retried", func(t *testing.T) {
		b, fake := fakeEventBridge(t, 3)
		fake.FailCalls(awsfake.Fault{Status: http.StatusBadRequest, Code: "AccessDeniedException"})
		_, err := b.Put(ctx, bustest.Entries(1))
		var ae smithy.APIError
		if !errors.As(err, &ae) || ae.ErrorCode() != "AccessDeniedException" || fake.Calls() != 1 {
			t.Fatalf("Put error = %v after %d calls, want AccessDeniedException after 1", err, fake.Calls())
		}
	})
	t.Run("partial failure with FailedEntryCount", func(t *testing.T) {
		b, fake := fakeEventBridge(t, 1)
		fake.RejectEntries("InternalFailure", "", "MalformedDetail")
		f, err := b.Put(ctx, bustest.Entries(3))
		if err != nil || len(f) != 2 || f[0] != (bus.Failure{Index: 0, Code: "InternalFailure", Message: "entry rejected: InternalFailure"}) || f[1].Index != 2 || f[1].Code != "MalformedDetail" {
			t.Fatalf("Put = %+v, %v", f, err)
		}
	})
}

// stubEB answers PutEvents with a fixed output, for responses the fake
// server never produces.
type stubEB struct{ out *eventbridge.PutEventsOutput }

func (s stubEB) PutEvents(context.Context, *eventbridge.PutEventsInput, ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error) {
	return s.out, nil
}

func TestEventBridgeMalformedResponses(t *testing.T) {
	ok := ebtypes.PutEventsResultEntry{EventId: aws.String("e1")}
	tests := []struct {
		name        string
		out         *eventbridge.PutEventsOutput
		wantErr     bool
		wantFailure []int
	}{
		{"fewer result entries than sent", &eventbridge.PutEventsOutput{Entries: []ebtypes.PutEventsResultEntry{ok}}, true, nil},
		{"count without codes", &eventbridge.PutEventsOutput{FailedEntryCount: 1, Entries: []ebtypes.PutEventsResultEntry{ok, ok}}, true, nil},
		{"entry without event id or code", &eventbridge.PutEventsOutput{Entries: []ebtypes.PutEventsResultEntry{ok, {}}}, false, []int{1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &bus.EventBridge{Client: stubEB{tt.out}}
			f, err := b.Put(context.Background(), bustest.Entries(2))
			if (err != nil) != tt.wantErr {
				t.Fatalf("Put error = %v, wantErr %v", err, tt.wantErr)
			}
			var idx []int
			for _, x := range f {
				idx = append(idx, x.Index)
			}
			if len(idx) != len(tt.wantFailure) || (len(idx) > 0 && idx[0] != tt.wantFailure[0]) {
				t.Errorf("failures %v, want %v", idx, tt.wantFailure)
			}
		})
	}
}

func TestEventBridgePutWithIDs(t *testing.T) {
	b, fake := fakeEventBridge(t, 1)
	fake.RejectEntries("", "InvalidArgument", "")
	ids, failed, err := b.PutWithIDs(context.Background(), bustest.Entries(3))
	if err != nil || len(failed) != 1 || failed[0].Index != 1 {
		t.Fatalf("PutWithIDs = %v, %v, %v", ids, failed, err)
	}
	acc := fake.Accepted()
	if len(ids) != 3 || len(acc) != 2 || ids[0] != acc[0].EventID || ids[2] != acc[1].EventID || ids[1] != "" || ids[0] == ids[2] {
		t.Errorf("ids %q for accepted %+v", ids, acc)
	}
}
