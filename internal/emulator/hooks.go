package emulator

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/probe"
	"github.com/rolecall/rolecall/internal/publish"
	"github.com/rolecall/rolecall/internal/store"
	"github.com/rolecall/rolecall/internal/verify"
)

// Hooks inject faults into the pipeline and observe it, for the tests that
// prove it correct under failure. The zero value changes nothing;
// `rolecall serve` never sets them.
type Hooks struct {
	// WrapBus wraps the bus the publisher puts entries on (the in-process
	// bus, or its tee to EventBridge), e.g. to refuse entries or to route
	// them through an EventBridge adapter first.
	WrapBus func(publish.Bus) publish.Bus
	// CrashPublish is asked each time the change feed hands a batch with n
	// outbox events to the publish handler. When it answers crash, the
	// handler "crashes" after publishing the first k events of the batch:
	// it returns without acknowledging any of them, and the feed delivers
	// the whole batch again, as Lambda retries a failed invocation.
	CrashPublish func(n int) (k int, crash bool)
	// WrapChecker wraps the verify worker's checker, e.g. to record every
	// check's outcome.
	WrapChecker func(verify.Checker) verify.Checker
	// WrapAssumer wraps the checker's STS port, e.g. to count or disturb
	// every STS call.
	WrapAssumer func(probe.Assumer) probe.Assumer
	// WrapSandboxSTS wraps the sandbox STS HTTP handler the checker calls,
	// e.g. to see the credentials it issues.
	WrapSandboxSTS func(http.Handler) http.Handler
	// SandboxSeed seeds the sandbox's fault injection and identifiers
	// (default: the start time).
	SandboxSeed int64
}

// ErrPublisherCrashed is what a publish handler crashed by
// Hooks.CrashPublish returns.
var ErrPublisherCrashed = errors.New("publisher crashed mid-batch (injected)")

func (h Hooks) sandboxSeed() int64 {
	if h.SandboxSeed != 0 {
		return h.SandboxSeed
	}
	return time.Now().UnixNano()
}

func (h Hooks) wrapBus(b publish.Bus) publish.Bus {
	if h.WrapBus == nil {
		return b
	}
	return h.WrapBus(b)
}

func (h Hooks) wrapChecker(c verify.Checker) verify.Checker {
	if h.WrapChecker == nil {
		return c
	}
	return h.WrapChecker(c)
}

func (h Hooks) wrapAssumer(a probe.Assumer) probe.Assumer {
	if h.WrapAssumer == nil {
		return a
	}
	return h.WrapAssumer(a)
}

func (h Hooks) wrapSandboxSTS(s http.Handler) http.Handler {
	if h.WrapSandboxSTS == nil {
		return s
	}
	return h.WrapSandboxSTS(s)
}

// eventPublisher is what the embedded store's change feed needs of the
// publisher (*publish.Publisher).
type eventPublisher interface {
	Publish(ctx context.Context, evs []connection.Event) (failed []int, err error)
}

// crashingPublisher is the publish step of the embedded change feed with
// Hooks.CrashPublish.
type crashingPublisher struct {
	next  eventPublisher
	crash func(n int) (int, bool)
}

func (h Hooks) wrapPublisher(p eventPublisher) eventPublisher {
	if h.CrashPublish == nil {
		return p
	}
	return crashingPublisher{next: p, crash: h.CrashPublish}
}

func (c crashingPublisher) Publish(ctx context.Context, evs []connection.Event) ([]int, error) {
	k, crash := c.crash(len(evs))
	if !crash {
		return c.next.Publish(ctx, evs)
	}
	k = min(max(k, 0), len(evs))
	_, _ = c.next.Publish(ctx, evs[:k])
	all := make([]int, len(evs))
	for i := range all {
		all[i] = i
	}
	return all, ErrPublisherCrashed
}

// crashingHandler is the publish handler of the DynamoDB stream feed with
// Hooks.CrashPublish.
type crashingHandler struct {
	next  StreamHandler
	crash func(n int) (int, bool)
}

func (h Hooks) wrapStreamHandler(sh StreamHandler) StreamHandler {
	if h.CrashPublish == nil {
		return sh
	}
	return crashingHandler{next: sh, crash: h.CrashPublish}
}

// Handle counts the batch's outbox events (the stream also carries the
// connection and claim items, which the handler skips), and on a crash
// hands the handler the records up to the k-th of them.
func (c crashingHandler) Handle(ctx context.Context, in events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
	var evs []int
	for i, r := range in.Records {
		kind, ok := r.Change.NewImage[store.AttrKind]
		if r.EventName == string(events.DynamoDBOperationTypeInsert) && ok &&
			kind.DataType() == events.DataTypeString && kind.String() == store.KindEvent {
			evs = append(evs, i)
		}
	}
	k, crash := c.crash(len(evs))
	if !crash {
		return c.next.Handle(ctx, in)
	}
	cut := 0
	if k = min(max(k, 0), len(evs)); k > 0 {
		cut = evs[k-1] + 1
	}
	_, _ = c.next.Handle(ctx, events.DynamoDBEvent{Records: in.Records[:cut]})
	return events.DynamoDBEventResponse{}, ErrPublisherCrashed
}
