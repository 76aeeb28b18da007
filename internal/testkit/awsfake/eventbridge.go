package awsfake

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// PutEntry is one entry EventBridge accepted.
type PutEntry struct {
	Source       string
	DetailType   string
	Detail       string
	EventBusName string
	Resources    []string
	Time         time.Time
	EventID      string
}

// EventBridge is a fake EventBridge endpoint answering PutEvents.
type EventBridge struct {
	api *jsonAPI

	mu       sync.Mutex
	accepted []PutEntry
	seq      int
	// reject holds scripted per-entry error codes, consumed one per entry
	// put ("" accepts the entry).
	reject []string
}

// NewEventBridge returns a fake EventBridge; serve it with httptest.
func NewEventBridge() *EventBridge {
	f := &EventBridge{api: newJSONAPI("AWSEvents.", "application/x-amz-json-1.1", false)}
	f.api.ops["PutEvents"] = f.putEvents
	return f
}

func (f *EventBridge) ServeHTTP(w http.ResponseWriter, r *http.Request) { f.api.ServeHTTP(w, r) }

// FailCalls makes the next PutEvents calls fail as a whole.
func (f *EventBridge) FailCalls(faults ...Fault) { f.api.failNext("PutEvents", faults...) }

// RejectEntries scripts per-entry outcomes of the next entries put, in
// order: an error code rejects the entry, "" accepts it.
func (f *EventBridge) RejectEntries(codes ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reject = append(f.reject, codes...)
}

// Calls is the number of PutEvents calls received.
func (f *EventBridge) Calls() int { return f.api.callCount("PutEvents") }

// Accepted returns every accepted entry in order.
func (f *EventBridge) Accepted() []PutEntry {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]PutEntry(nil), f.accepted...)
}

func (f *EventBridge) putEvents(_ context.Context, body []byte) (any, *Fault) {
	var in struct {
		Entries []struct {
			Source       string
			DetailType   string
			Detail       string
			EventBusName string
			Resources    []string
			Time         *epochTime
		}
	}
	if fault := decode(body, &in); fault != nil {
		return nil, fault
	}
	if len(in.Entries) == 0 || len(in.Entries) > 10 {
		return nil, &Fault{Status: http.StatusBadRequest, Code: "ValidationException"}
	}
	type result struct {
		EventId      string `json:",omitempty"`
		ErrorCode    string `json:",omitempty"`
		ErrorMessage string `json:",omitempty"`
	}
	out := struct {
		FailedEntryCount int
		Entries          []result
	}{}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, e := range in.Entries {
		code := ""
		if len(f.reject) > 0 {
			code, f.reject = f.reject[0], f.reject[1:]
		}
		if code == "" && (e.Source == "" || e.DetailType == "" || e.Detail == "") {
			code = "InvalidArgument"
		}
		if code != "" {
			out.FailedEntryCount++
			out.Entries = append(out.Entries, result{ErrorCode: code, ErrorMessage: "entry rejected: " + code})
			continue
		}
		f.seq++
		id := fmt.Sprintf("00000000-0000-4000-8000-%012d", f.seq)
		pe := PutEntry{Source: e.Source, DetailType: e.DetailType, Detail: e.Detail, EventBusName: e.EventBusName, Resources: e.Resources, EventID: id}
		if e.Time != nil {
			pe.Time = e.Time.Time
		}
		f.accepted = append(f.accepted, pe)
		out.Entries = append(out.Entries, result{EventId: id})
	}
	return out, nil
}
