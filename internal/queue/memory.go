package queue

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/rolecall/rolecall/internal/backoff"
	"github.com/rolecall/rolecall/internal/probe"
)

// Message is a received message.
type Message struct {
	ID            string
	ReceiptHandle string // valid until the message is received again
	// Body is the message body as sent: the JSON of a probe.Job, or, on a
	// real queue, whatever else was sent to it (the EventBridge event of a
	// "Role Submitted", which the bus rule in AWS delivers). The verify
	// handler decodes it (verify's jobFromMessage).
	Body string
	// Job is Body decoded when it is a probe.Job, zero otherwise.
	Job          probe.Job
	ReceiveCount int
}

// Memory is the embedded adapter: an in-process queue with SQS's delivery
// semantics. A received message is invisible for Visibility, then delivered
// again with a higher receive count unless deleted; ChangeVisibility moves
// that moment. A message received more than MaxReceives times moves to the
// dead-letter list instead.
type Memory struct {
	Visibility  time.Duration // default 30s
	MaxReceives int           // 0: no dead-letter list
	// DeadLettered, when set, is called outside the queue's lock with each
	// message moved to the dead-letter list: what an alarm on a deployed
	// dead-letter queue tells an operator.
	DeadLettered func(Message)
	Now          func() time.Time
	// Attempts and Backoff bound Send's retries of refused entries.
	Attempts int
	Backoff  time.Duration

	mu     sync.Mutex
	msgs   []*held
	dead   []Message
	seq    int
	notify chan struct{}
	// reject, when set (only by this package's tests, through
	// export_test.go), is asked for every job sent; a non-empty code
	// refuses it, with sender fault unless the code is a service-side one
	// (InternalError, ServiceUnavailable), which Send retries: the
	// contract suite's partial failures.
	reject func(probe.Job) string
	// polling, when set (only by this package's tests, through
	// export_test.go), is signalled each time a Receive finds nothing
	// visible and starts to wait: the contract suite sends its job only
	// then, so its long-poll test cannot pass on a poll that began late.
	polling chan struct{}
}

type held struct {
	Message
	visibleAt time.Time
}

var _ Queue = (*Memory)(nil)

// NewMemory returns an empty in-process queue.
func NewMemory() *Memory { return &Memory{} }

func (m *Memory) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

// Send implements Queue.
func (m *Memory) Send(ctx context.Context, jobs []probe.Job) error {
	return sendBatches(ctx, jobs, backoff.Retries{Attempts: m.Attempts, Base: m.Backoff}, m.sendBatch)
}

func (m *Memory) sendBatch(ctx context.Context, batch []probe.Job) ([]EntryFailure, error) {
	var fs []EntryFailure
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	added := false
	for i, j := range batch {
		if m.reject != nil {
			if code := m.reject(j); code != "" {
				fs = append(fs, EntryFailure{Index: i, Code: code, Message: "refused by the in-process queue", SenderFault: code != "InternalError" && code != "ServiceUnavailable"})
				continue
			}
		}
		body, err := json.Marshal(j)
		if err != nil {
			fs = append(fs, EntryFailure{Index: i, Code: "InvalidMessageContents", Message: err.Error(), SenderFault: true})
			continue
		}
		m.seq++
		m.msgs = append(m.msgs, &held{Message: Message{ID: fmt.Sprintf("mem-%08d", m.seq), Body: string(body), Job: j}, visibleAt: now})
		added = true
	}
	if added {
		m.wake()
	}
	return fs, nil
}

func (m *Memory) wake() {
	if m.notify != nil {
		close(m.notify)
		m.notify = nil
	}
}

// Receive returns up to max visible messages, oldest first, waiting up to
// wait for one to become visible (long polling). Each is hidden for
// Visibility and gets a new receipt handle.
func (m *Memory) Receive(ctx context.Context, max int, wait time.Duration) ([]Message, error) {
	if max <= 0 {
		max = 1
	}
	deadline := time.Now().Add(wait)
	for {
		m.mu.Lock()
		out, dead, next := m.take(max)
		if len(dead) > 0 && m.DeadLettered != nil {
			m.mu.Unlock()
			for _, d := range dead {
				m.DeadLettered(d)
			}
			if len(out) > 0 || wait <= 0 {
				return out, nil
			}
			continue // what was sent meanwhile woke no one: look again
		}
		if len(out) > 0 || wait <= 0 {
			m.mu.Unlock()
			return out, nil
		}
		if m.notify == nil {
			m.notify = make(chan struct{})
		}
		ch := m.notify
		if m.polling != nil {
			select {
			case m.polling <- struct{}{}:
			default: // a signal is already pending
			}
		}
		m.mu.Unlock()
		sleep := time.Until(deadline)
		if sleep <= 0 {
			return nil, nil
		}
		if !next.IsZero() {
			sleep = min(sleep, max0(next.Sub(m.now())))
		}
		t := time.NewTimer(sleep)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("receive: %w", ctx.Err())
		case <-ch:
		case <-t.C:
		}
		t.Stop()
	}
}

func max0(d time.Duration) time.Duration {
	if d < time.Millisecond {
		return time.Millisecond
	}
	return d
}

// take receives up to max visible messages; it also returns the messages it
// moved to the dead-letter list, and when the next invisible one becomes
// visible. m.mu is held.
func (m *Memory) take(max int) (out, dead []Message, next time.Time) {
	now := m.now()
	vis := m.Visibility
	if vis <= 0 {
		vis = 30 * time.Second
	}
	kept := m.msgs[:0]
	for _, h := range m.msgs {
		if len(out) >= max || h.visibleAt.After(now) {
			if h.visibleAt.After(now) && (next.IsZero() || h.visibleAt.Before(next)) {
				next = h.visibleAt
			}
			kept = append(kept, h)
			continue
		}
		h.ReceiveCount++
		if m.MaxReceives > 0 && h.ReceiveCount > m.MaxReceives {
			h.ReceiptHandle = ""
			m.dead = append(m.dead, h.Message)
			dead = append(dead, h.Message)
			continue
		}
		h.ReceiptHandle = fmt.Sprintf("%s#%d", h.ID, h.ReceiveCount)
		h.visibleAt = now.Add(vis)
		out = append(out, h.Message)
		kept = append(kept, h)
	}
	m.msgs = kept
	return out, dead, next
}

func (m *Memory) find(receiptHandle string) *held {
	for _, h := range m.msgs {
		if receiptHandle != "" && h.ReceiptHandle == receiptHandle {
			return h
		}
	}
	return nil
}

// Delete removes a received message.
func (m *Memory) Delete(ctx context.Context, receiptHandle string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, h := range m.msgs {
		if receiptHandle != "" && h.ReceiptHandle == receiptHandle {
			m.msgs = append(m.msgs[:i], m.msgs[i+1:]...)
			return nil
		}
	}
	return fmt.Errorf("delete message: %w", ErrReceiptHandle)
}

// ChangeVisibility makes a received message visible again after d.
func (m *Memory) ChangeVisibility(ctx context.Context, receiptHandle string, d time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	h := m.find(receiptHandle)
	if h == nil {
		return fmt.Errorf("change message visibility: %w", ErrReceiptHandle)
	}
	h.visibleAt = m.now().Add(min(max(d, 0), MaxVisibility))
	if d <= 0 {
		m.wake()
	}
	return nil
}
