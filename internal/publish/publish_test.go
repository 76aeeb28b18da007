package publish_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rolecall/rolecall/internal/bus"
	"github.com/rolecall/rolecall/internal/bus/bustest"
	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/publish"
	"github.com/rolecall/rolecall/internal/publish/publishtest"
)

// scriptedBus is a Memory bus that refuses entries by eventId, a given
// number of times each, and can fail whole calls; it records the eventIds
// of every call.
type scriptedBus struct {
	*bus.Memory
	mu        sync.Mutex
	refuse    map[string][]string // eventId -> codes for successive attempts
	failCalls int                 // the next calls that fail as a whole
	calls     [][]string
}

func newScriptedBus() *scriptedBus {
	return &scriptedBus{Memory: bus.NewMemory(), refuse: map[string][]string{}}
}

func eventID(e bus.Entry) string {
	var d struct{ EventID string }
	_ = json.Unmarshal([]byte(e.Detail), &d)
	return d.EventID
}

// Put fails the call when a whole-call failure is scripted; otherwise it
// refuses each entry whose eventId has a code left, as EventBridge reports
// a refused entry, and puts the rest on the Memory bus, whose own failures
// keep their index in entries. A call the Memory bus refuses as a whole
// (too many entries, a done context) takes no scripted code.
func (b *scriptedBus) Put(ctx context.Context, entries []bus.Entry) ([]bus.Failure, error) {
	b.mu.Lock()
	var ids []string
	for _, e := range entries {
		ids = append(ids, eventID(e))
	}
	b.calls = append(b.calls, ids)
	fail := b.failCalls > 0
	if fail {
		b.failCalls--
	}
	if fail || len(entries) > bus.MaxBatch || ctx.Err() != nil {
		b.mu.Unlock()
		if fail {
			return nil, errors.New("scripted: service unavailable")
		}
		return b.Memory.Put(ctx, entries)
	}
	var refused []bus.Failure
	var kept []bus.Entry
	var at []int // at[k] is the index in entries of kept[k]
	for i, e := range entries {
		if q := b.refuse[ids[i]]; len(q) > 0 {
			b.refuse[ids[i]] = q[1:]
			if q[0] != "" {
				refused = append(refused, bus.Failure{Index: i, Code: q[0], Message: "refused by the script"})
				continue
			}
		}
		kept, at = append(kept, e), append(at, i)
	}
	b.mu.Unlock()
	failures, err := b.Memory.Put(ctx, kept)
	if err != nil {
		return nil, err
	}
	for k := range failures {
		failures[k].Index = at[failures[k].Index]
	}
	failures = append(failures, refused...)
	slices.SortFunc(failures, func(x, y bus.Failure) int { return x.Index - y.Index })
	return failures, nil
}

func (b *scriptedBus) published(t *testing.T) []string {
	envs, err := b.Since("", 0)
	if err != nil {
		t.Fatal(err)
	}
	return bustest.EventIDs(envs)
}

// manyEvents returns n distinct valid events.
func manyEvents(n int) []connection.Event {
	base := publishtest.LifecycleEvents()
	out := make([]connection.Event, n)
	for i := range out {
		e := base[i%len(base)]
		e.AccountID = fmt.Sprintf("%012d", i)
		e.EventID = connection.EventID(e.TenantID, e.AccountID, e.Version)
		out[i] = e
	}
	return out
}

func TestNewEntry(t *testing.T) {
	ev := publishtest.LifecycleEvents()[2]
	e, err := publish.NewEntry(ev, "", "rolecall-bus")
	if err != nil {
		t.Fatal(err)
	}
	if e.Source != "rolecall" || e.DetailType != "Role Access Lost" || e.EventBusName != "rolecall-bus" ||
		!e.Time.Equal(ev.OccurredAt) || !slices.Equal(e.Resources, []string{ev.RoleARN}) {
		t.Errorf("entry = %+v", e)
	}
	var detail connection.Event
	if err := json.Unmarshal([]byte(e.Detail), &detail); err != nil {
		t.Fatal(err)
	}
	detail.DetailType = ev.DetailType // not part of the detail
	if detail != ev {
		t.Errorf("detail decodes to %+v, want %+v", detail, ev)
	}
	for _, key := range []string{`"eventId":"evt-`, `"previousStatus":"VERIFIED"`, `"reason":{"code":"ASSUME_DENIED"`, `"version":3`} {
		if !strings.Contains(e.Detail, key) {
			t.Errorf("detail %s lacks %s", e.Detail, key)
		}
	}
	again, _ := publish.NewEntry(ev, "", "rolecall-bus")
	if fmt.Sprint(again) != fmt.Sprint(e) {
		t.Errorf("NewEntry is not deterministic:\n%+v\n%+v", e, again)
	}
	custom, _ := publish.NewEntry(ev, "com.example.rolecall", "")
	if custom.Source != "com.example.rolecall" {
		t.Errorf("source = %q", custom.Source)
	}

	for name, bad := range map[string]connection.Event{
		"no event id":         func() connection.Event { b := ev; b.EventID = ""; return b }(),
		"unknown detail-type": func() connection.Event { b := ev; b.DetailType = "Role Exploded"; return b }(),
	} {
		if _, err := publish.NewEntry(bad, "", ""); !errors.Is(err, publish.ErrInvalidEvent) {
			t.Errorf("%s: NewEntry error = %v, want ErrInvalidEvent", name, err)
		}
	}
}

func TestPublish(t *testing.T) {
	ctx := context.Background()
	evs := manyEvents(23)
	tests := []struct {
		name      string
		refuse    map[int][]string
		failCalls int
		events    []connection.Event
		wantCalls [][]int // event indexes per Put call
		wantFail  []int
		wantErr   string
	}{
		{name: "batches of ten", events: evs,
			wantCalls: [][]int{seq(0, 10), seq(10, 20), seq(20, 23)}},
		{name: "retries exactly the refused retryable entries", events: evs[:12],
			refuse:    map[int][]string{3: {"ThrottlingException"}, 11: {"InternalFailure", "InternalFailure"}},
			wantCalls: [][]int{seq(0, 10), seq(10, 12), {3, 11}, {11}}},
		{name: "non-retryable entries fail at once", events: evs[:4],
			refuse:    map[int][]string{1: {"MalformedDetail"}, 2: {"ThrottlingException"}},
			wantCalls: [][]int{seq(0, 4), {2}}, wantFail: []int{1}, wantErr: "MalformedDetail"},
		{name: "gives up after three attempts", events: evs[:2],
			refuse:    map[int][]string{0: {"ThrottlingException", "ThrottlingException", "ThrottlingException"}},
			wantCalls: [][]int{{0, 1}, {0}, {0}}, wantFail: []int{0}, wantErr: "ThrottlingException"},
		{name: "a call failing as a whole is retried", events: evs[:3], failCalls: 1,
			wantCalls: [][]int{{0, 1, 2}, {0, 1, 2}}},
		{name: "persistent whole-call failure fails every event", events: evs[:3], failCalls: 3,
			wantCalls: [][]int{{0, 1, 2}, {0, 1, 2}, {0, 1, 2}}, wantFail: []int{0, 1, 2}, wantErr: "service unavailable"},
		{name: "an invalid event fails without a call", events: []connection.Event{evs[0], {EventID: "x", DetailType: "Nope"}},
			wantCalls: [][]int{{0}}, wantFail: []int{1}, wantErr: "invalid event"},
		{name: "nothing to publish", events: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newScriptedBus()
			for i, codes := range tt.refuse {
				b.refuse[tt.events[i].EventID] = codes
			}
			b.failCalls = tt.failCalls
			p := &publish.Publisher{Bus: b, Backoff: time.Millisecond}
			failed, err := p.Publish(ctx, tt.events)
			if !slices.Equal(failed, tt.wantFail) {
				t.Errorf("failed = %v, want %v", failed, tt.wantFail)
			}
			if (err != nil) != (tt.wantErr != "") || err != nil && !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("err = %v, want one mentioning %q", err, tt.wantErr)
			}
			checkNamed(t, err, tt.events, failed)
			var want [][]string
			for _, call := range tt.wantCalls {
				var s []string
				for _, i := range call {
					s = append(s, tt.events[i].EventID)
				}
				want = append(want, s)
			}
			if fmt.Sprint(b.calls) != fmt.Sprint(want) {
				t.Errorf("calls = %v\nwant    %v", b.calls, want)
			}
			// Every event not reported failed was published exactly once.
			var wantPublished []string
			for i, e := range tt.events {
				if !slices.Contains(tt.wantFail, i) {
					wantPublished = append(wantPublished, e.EventID)
				}
			}
			got := b.published(t)
			slices.Sort(got)
			slices.Sort(wantPublished)
			if !slices.Equal(got, wantPublished) {
				t.Errorf("published %v, want %v", got, wantPublished)
			}
		})
	}
}

// checkNamed fails t unless err has one line per failed event, and each
// names the event's eventId and detail-type: the log of a batch says which
// events were not put, whatever stopped them.
func checkNamed(t *testing.T, err error, evs []connection.Event, failed []int) {
	t.Helper()
	if err == nil {
		return
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != len(failed) {
		t.Errorf("err has %d lines for %d failed events:\n%v", len(lines), len(failed), err)
		return
	}
	for k, i := range failed {
		if name := fmt.Sprintf("event %s (%s) not put: ", evs[i].EventID, evs[i].DetailType); !strings.HasPrefix(lines[k], name) {
			t.Errorf("err line %q does not start with %q", lines[k], name)
		}
	}
}

// cancelAfterPut ends a publish's context once a Put has returned.
type cancelAfterPut struct {
	publish.Bus
	cancel context.CancelFunc
}

func (b cancelAfterPut) Put(ctx context.Context, entries []bus.Entry) ([]bus.Failure, error) {
	defer b.cancel()
	return b.Bus.Put(ctx, entries)
}

// TestPublishStopsWhenContextDone: once the context ends nothing more is
// sent, the wait before a retry is cut short, and each event not put is
// named with the end of the context (and its last refusal) as the cause.
func TestPublishStopsWhenContextDone(t *testing.T) {
	evs := manyEvents(2)
	tests := []struct {
		name        string
		cancelFirst bool     // the context has ended before Publish
		refuse      []string // codes for evs[0]
		failCalls   int
		wantFail    []int
		wantErr     []string
	}{
		{name: "ended before the first put", cancelFirst: true, failCalls: 100, wantFail: []int{0, 1},
			wantErr: []string{"not sent before the context ended: context canceled"}},
		{name: "ended while a refused event waits for its retry", refuse: []string{"ThrottlingException"}, wantFail: []int{0},
			wantErr: []string{"not retried before the context ended: context canceled", "ThrottlingException"}},
		{name: "ended during a call that fails as a whole", failCalls: 1, wantFail: []int{0, 1},
			wantErr: []string{"put of 2 events failed: scripted: service unavailable"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newScriptedBus()
			b.failCalls = tt.failCalls
			if tt.refuse != nil {
				b.refuse[evs[0].EventID] = tt.refuse
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.cancelFirst {
				cancel()
			}
			p := &publish.Publisher{Bus: cancelAfterPut{Bus: b, cancel: cancel}, Backoff: time.Hour}
			start := time.Now()
			failed, err := p.Publish(ctx, evs)
			if !slices.Equal(failed, tt.wantFail) || err == nil || time.Since(start) > time.Second {
				t.Fatalf("Publish = %v, %v after %s; want %v failed at once", failed, err, time.Since(start), tt.wantFail)
			}
			for _, s := range tt.wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("err = %v, want one mentioning %q", err, s)
				}
			}
			checkNamed(t, err, evs, failed)
		})
	}
}

func seq(from, to int) []int {
	var s []int
	for i := from; i < to; i++ {
		s = append(s, i)
	}
	return s
}

func newLogger(w *bytes.Buffer) *slog.Logger { return slog.New(slog.NewJSONHandler(w, nil)) }

// strayFailureBus puts every entry and also reports a failure that names
// no entry of the call (an index past its end).
type strayFailureBus struct{ *bus.Memory }

func (b strayFailureBus) Put(ctx context.Context, entries []bus.Entry) ([]bus.Failure, error) {
	fs, err := b.Memory.Put(ctx, entries)
	return append(fs, bus.Failure{Index: len(entries), Code: "InternalFailure"}), err
}

// A failure that names no entry of the call fails no event: each event the
// bus put is published.
func TestPublishIgnoresAFailureNamingNoEntry(t *testing.T) {
	evs := manyEvents(3)
	failed, err := (&publish.Publisher{Bus: strayFailureBus{bus.NewMemory()}, Backoff: time.Millisecond}).Publish(context.Background(), evs)
	if len(failed) != 0 || err != nil {
		t.Errorf("Publish = %v, %v; want every event published", failed, err)
	}
}
