package awsfake

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"net/http"
	"sync"
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

// SQS is a fake SQS endpoint answering SendMessageBatch and
// ChangeMessageVisibility in the AWS JSON 1.0 protocol the SDK uses.
type SQS struct {
	api *jsonAPI

	mu       sync.Mutex
	messages []SQSMessage
	changes  []VisibilityChange
	seq      int
	reject   []string // per-entry scripted codes, "" accepts
	// BadMD5 makes the fake answer with a wrong MD5OfMessageBody, as a
	// corrupted response would.
	BadMD5 bool
}

// NewSQS returns a fake SQS; serve it with httptest.
func NewSQS() *SQS {
	f := &SQS{api: newJSONAPI("AmazonSQS.", "application/x-amz-json-1.0", true)}
	f.api.ops["SendMessageBatch"] = f.sendMessageBatch
	f.api.ops["ChangeMessageVisibility"] = f.changeMessageVisibility
	return f
}

func (f *SQS) ServeHTTP(w http.ResponseWriter, r *http.Request) { f.api.ServeHTTP(w, r) }

// FailCalls makes the next calls of op ("SendMessageBatch",
// "ChangeMessageVisibility") fail as a whole.
func (f *SQS) FailCalls(op string, faults ...Fault) { f.api.failNext(op, faults...) }

// RejectEntries scripts per-entry outcomes of the next batch entries.
func (f *SQS) RejectEntries(codes ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reject = append(f.reject, codes...)
}

// Calls is the number of calls of op received.
func (f *SQS) Calls(op string) int { return f.api.callCount(op) }

// Messages returns the accepted messages in order.
func (f *SQS) Messages() []SQSMessage {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]SQSMessage(nil), f.messages...)
}

// VisibilityChanges returns the accepted visibility changes in order.
func (f *SQS) VisibilityChanges() []VisibilityChange {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]VisibilityChange(nil), f.changes...)
}

func (f *SQS) sendMessageBatch(body []byte) (any, *Fault) {
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
		id := fmt.Sprintf("msg-%06d", f.seq)
		sum := md5.Sum([]byte(e.MessageBody))
		digest := hex.EncodeToString(sum[:])
		if f.BadMD5 {
			digest = "00000000000000000000000000000000"
		}
		f.messages = append(f.messages, SQSMessage{QueueURL: in.QueueUrl, MessageID: id, Body: e.MessageBody, DelaySeconds: e.DelaySeconds})
		out.Successful = append(out.Successful, ok{Id: e.Id, MessageId: id, MD5OfMessageBody: digest})
	}
	return out, nil
}

func (f *SQS) changeMessageVisibility(body []byte) (any, *Fault) {
	var in struct {
		QueueUrl          string
		ReceiptHandle     string
		VisibilityTimeout int32
	}
	if fault := decode(body, &in); fault != nil {
		return nil, fault
	}
	if in.ReceiptHandle == "" || in.ReceiptHandle == "invalid" {
		return nil, &Fault{Status: http.StatusBadRequest, Code: "ReceiptHandleIsInvalid"}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.changes = append(f.changes, VisibilityChange{QueueURL: in.QueueUrl, ReceiptHandle: in.ReceiptHandle, VisibilityTimeout: in.VisibilityTimeout})
	return struct{}{}, nil
}
