package awsfake

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"
)

// SQSMessage is one message the fake queue accepted.
type SQSMessage struct {
	QueueURL     string
	MessageID    string
	Body         string
	DelaySeconds int32
}

// VisibilityChange is one accepted ChangeMessageVisibility call.
type VisibilityChange struct {
	QueueURL          string
	ReceiptHandle     string
	VisibilityTimeout int32
}

// SQS is a fake SQS endpoint answering SendMessageBatch, ReceiveMessage,
// DeleteMessage and ChangeMessageVisibility in the AWS JSON 1.0 protocol
// the SDK uses, with SQS's delivery semantics: a received message is
// invisible for the visibility timeout, then delivered again with a higher
// ApproximateReceiveCount and a new receipt handle unless deleted. Only a
// message's current receipt handle is valid.
type SQS struct {
	api *jsonAPI

	// Visibility is the queue's default visibility timeout (default 30s).
	Visibility time.Duration
	// BadMD5 makes the fake answer with a wrong MD5 of each message body,
	// as a corrupted response would.
	BadMD5 bool

	mu       sync.Mutex
	messages []SQSMessage
	live     []*sqsHeld // not deleted, oldest first
	deleted  []string   // message IDs
	changes  []VisibilityChange
	seq      int
	reject   []string      // per-entry scripted codes, "" accepts
	notify   chan struct{} // closed when a message may have become visible
	polling  chan struct{} // signalled when a long poll starts waiting
}

type sqsHeld struct {
	SQSMessage
	receipt   string
	receives  int
	visibleAt time.Time
}

// NewSQS returns a fake SQS; serve it with httptest.
func NewSQS() *SQS {
	f := &SQS{api: newJSONAPI("AmazonSQS.", "application/x-amz-json-1.0", true), polling: make(chan struct{}, 1)}
	f.api.ops["SendMessageBatch"] = f.sendMessageBatch
	f.api.ops["ChangeMessageVisibility"] = f.changeMessageVisibility
	f.api.ops["ReceiveMessage"] = f.receiveMessage
	f.api.ops["DeleteMessage"] = f.deleteMessage
	f.api.ops["GetQueueAttributes"] = f.getQueueAttributes
	return f
}

// getQueueAttributes answers ApproximateNumberOfMessages (the queue's
// messages visible now) and ApproximateNumberOfMessagesNotVisible (in
// flight or delayed).
func (f *SQS) getQueueAttributes(ctx context.Context, body []byte) (any, *Fault) {
	var in struct {
		QueueUrl       string
		AttributeNames []string
	}
	if fault := decode(body, &in); fault != nil {
		return nil, fault
	}
	if !slices.Contains(in.AttributeNames, "ApproximateNumberOfMessages") && !slices.Contains(in.AttributeNames, "All") {
		return nil, &Fault{Status: http.StatusBadRequest, Code: "InvalidAttributeName"}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	now, visible, hidden := time.Now(), 0, 0
	for _, h := range f.live {
		switch {
		case h.QueueURL != in.QueueUrl:
		case h.visibleAt.After(now):
			hidden++
		default:
			visible++
		}
	}
	return map[string]any{"Attributes": map[string]string{
		"ApproximateNumberOfMessages": strconv.Itoa(visible), "ApproximateNumberOfMessagesNotVisible": strconv.Itoa(hidden)}}, nil
}

func (f *SQS) ServeHTTP(w http.ResponseWriter, r *http.Request) { f.api.ServeHTTP(w, r) }

// FailCalls makes the next calls of op ("SendMessageBatch",
// "ReceiveMessage", "DeleteMessage", "ChangeMessageVisibility") fail as a
// whole.
func (f *SQS) FailCalls(op string, faults ...Fault) { f.api.failNext(op, faults...) }

// Polling receives a value once a ReceiveMessage has found no visible
// message and waits (a long poll): a message sent after that must wake
// it. At most one signal is pending, however many polls began waiting.
func (f *SQS) Polling() <-chan struct{} { return f.polling }

// RejectEntries scripts per-entry outcomes of the next batch entries.
func (f *SQS) RejectEntries(codes ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reject = append(f.reject, codes...)
}

// Calls is the number of calls of op received.
func (f *SQS) Calls(op string) int { return f.api.callCount(op) }

// Messages returns every accepted message in order, deleted or not.
func (f *SQS) Messages() []SQSMessage {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]SQSMessage(nil), f.messages...)
}

// Pending is the number of messages not deleted, in flight or not.
func (f *SQS) Pending() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.live)
}

// Deleted returns the IDs of the deleted messages in order.
func (f *SQS) Deleted() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.deleted...)
}

// VisibilityChanges returns the accepted visibility changes in order.
func (f *SQS) VisibilityChanges() []VisibilityChange {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]VisibilityChange(nil), f.changes...)
}

func (f *SQS) md5(body string) string {
	if f.BadMD5 {
		return "00000000000000000000000000000000"
	}
	sum := md5.Sum([]byte(body))
	return hex.EncodeToString(sum[:])
}

// wake tells long polls to look again. f.mu is held.
func (f *SQS) wake() {
	if f.notify != nil {
		close(f.notify)
		f.notify = nil
	}
}

func (f *SQS) sendMessageBatch(_ context.Context, body []byte) (any, *Fault) {
	var in struct {
		QueueUrl string
		Entries  []struct {
			Id           string
			MessageBody  string
			DelaySeconds int32
		}
	}
	if fault := decode(body, &in); fault != nil {
		return nil, fault
	}
	if len(in.Entries) == 0 {
		return nil, &Fault{Status: http.StatusBadRequest, Code: "EmptyBatchRequest"}
	}
	if len(in.Entries) > 10 {
		return nil, &Fault{Status: http.StatusBadRequest, Code: "TooManyEntriesInBatchRequest"}
	}
	seen := map[string]bool{}
	for _, e := range in.Entries {
		if seen[e.Id] || e.Id == "" {
			return nil, &Fault{Status: http.StatusBadRequest, Code: "BatchEntryIdsNotDistinct"}
		}
		seen[e.Id] = true
	}
	type ok struct{ Id, MessageId, MD5OfMessageBody string }
	type failed struct {
		Id, Code, Message string
		SenderFault       bool
	}
	out := struct {
		Successful []ok
		Failed     []failed
	}{Successful: []ok{}, Failed: []failed{}}
	f.mu.Lock()
	defer f.mu.Unlock()
	now := time.Now()
	for _, e := range in.Entries {
		code := ""
		if len(f.reject) > 0 {
			code, f.reject = f.reject[0], f.reject[1:]
		}
		if code != "" {
			out.Failed = append(out.Failed, failed{Id: e.Id, Code: code, Message: "entry rejected: " + code, SenderFault: code != "InternalError" && code != "ServiceUnavailable"})
			continue
		}
		f.seq++
		m := SQSMessage{QueueURL: in.QueueUrl, MessageID: fmt.Sprintf("msg-%06d", f.seq), Body: e.MessageBody, DelaySeconds: e.DelaySeconds}
		f.messages = append(f.messages, m)
		f.live = append(f.live, &sqsHeld{SQSMessage: m, visibleAt: now.Add(time.Duration(e.DelaySeconds) * time.Second)})
		out.Successful = append(out.Successful, ok{Id: e.Id, MessageId: m.MessageID, MD5OfMessageBody: f.md5(e.MessageBody)})
	}
	f.wake()
	return out, nil
}

type sqsReceived struct {
	MessageId, ReceiptHandle, MD5OfBody, Body string
	Attributes                                map[string]string `json:",omitempty"`
}

func (f *SQS) receiveMessage(ctx context.Context, body []byte) (any, *Fault) {
	var in struct {
		QueueUrl                    string
		MaxNumberOfMessages         int32
		WaitTimeSeconds             int32
		VisibilityTimeout           *int32
		AttributeNames              []string
		MessageSystemAttributeNames []string
	}
	if fault := decode(body, &in); fault != nil {
		return nil, fault
	}
	if in.MaxNumberOfMessages == 0 {
		in.MaxNumberOfMessages = 1
	}
	if in.MaxNumberOfMessages < 1 || in.MaxNumberOfMessages > 10 || in.WaitTimeSeconds < 0 || in.WaitTimeSeconds > 20 ||
		(in.VisibilityTimeout != nil && (*in.VisibilityTimeout < 0 || *in.VisibilityTimeout > 43200)) {
		return nil, &Fault{Status: http.StatusBadRequest, Code: "InvalidParameterValue"}
	}
	names := slices.Concat(in.AttributeNames, in.MessageSystemAttributeNames)
	withCount := slices.Contains(names, "ApproximateReceiveCount") || slices.Contains(names, "All")
	vis := f.Visibility
	if vis <= 0 {
		vis = 30 * time.Second
	}
	if in.VisibilityTimeout != nil {
		vis = time.Duration(*in.VisibilityTimeout) * time.Second
	}
	deadline := time.Now().Add(time.Duration(in.WaitTimeSeconds) * time.Second)
	for {
		f.mu.Lock()
		now := time.Now()
		out := []sqsReceived{}
		var next time.Time
		for _, h := range f.live {
			if h.QueueURL != in.QueueUrl {
				continue
			}
			if h.visibleAt.After(now) {
				if next.IsZero() || h.visibleAt.Before(next) {
					next = h.visibleAt
				}
				continue
			}
			if len(out) >= int(in.MaxNumberOfMessages) {
				break
			}
			h.receives++
			h.receipt = fmt.Sprintf("rh-%s-%d", h.MessageID, h.receives)
			h.visibleAt = now.Add(vis)
			m := sqsReceived{MessageId: h.MessageID, ReceiptHandle: h.receipt, MD5OfBody: f.md5(h.Body), Body: h.Body}
			if withCount {
				m.Attributes = map[string]string{"ApproximateReceiveCount": fmt.Sprint(h.receives)}
			}
			out = append(out, m)
		}
		if len(out) > 0 || !now.Before(deadline) {
			f.mu.Unlock()
			return map[string]any{"Messages": out}, nil
		}
		if f.notify == nil {
			f.notify = make(chan struct{})
		}
		ch := f.notify
		select {
		case f.polling <- struct{}{}:
		default: // a signal is already pending
		}
		f.mu.Unlock()
		sleep := time.Until(deadline)
		if !next.IsZero() {
			sleep = min(sleep, max(time.Until(next), time.Millisecond))
		}
		t := time.NewTimer(sleep)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, &Fault{Status: http.StatusBadRequest, Code: "RequestCanceled"}
		case <-ch:
		case <-t.C:
		}
		t.Stop()
	}
}

// held finds the in-flight message whose current receipt handle is rh.
// f.mu is held.
func (f *SQS) held(queueURL, rh string) (int, *sqsHeld) {
	for i, h := range f.live {
		if rh != "" && h.receipt == rh && h.QueueURL == queueURL {
			return i, h
		}
	}
	return -1, nil
}

func (f *SQS) deleteMessage(_ context.Context, body []byte) (any, *Fault) {
	var in struct{ QueueUrl, ReceiptHandle string }
	if fault := decode(body, &in); fault != nil {
		return nil, fault
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	i, h := f.held(in.QueueUrl, in.ReceiptHandle)
	if h == nil {
		return nil, &Fault{Status: http.StatusBadRequest, Code: "ReceiptHandleIsInvalid"}
	}
	f.live = slices.Delete(f.live, i, i+1)
	f.deleted = append(f.deleted, h.MessageID)
	return struct{}{}, nil
}

func (f *SQS) changeMessageVisibility(_ context.Context, body []byte) (any, *Fault) {
	var in struct {
		QueueUrl          string
		ReceiptHandle     string
		VisibilityTimeout int32
	}
	if fault := decode(body, &in); fault != nil {
		return nil, fault
	}
	if in.VisibilityTimeout < 0 || in.VisibilityTimeout > 43200 {
		return nil, &Fault{Status: http.StatusBadRequest, Code: "InvalidParameterValue"}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	_, h := f.held(in.QueueUrl, in.ReceiptHandle)
	if h == nil {
		return nil, &Fault{Status: http.StatusBadRequest, Code: "ReceiptHandleIsInvalid"}
	}
	h.visibleAt = time.Now().Add(time.Duration(in.VisibilityTimeout) * time.Second)
	if in.VisibilityTimeout == 0 {
		f.wake()
	}
	f.changes = append(f.changes, VisibilityChange{QueueURL: in.QueueUrl, ReceiptHandle: in.ReceiptHandle, VisibilityTimeout: in.VisibilityTimeout})
	return struct{}{}, nil
}
