package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rolecall/rolecall/internal/testkit/syncbuf"
)

// lateLogs stands in for FilterLogEvents and honours startTime, as the
// service does: the first poll finds e2 (at T+2s); from the second on, e1
// (at T, published late, as a retrying publisher's events are) is in the
// group too. It reports each poll's number on calls.
type lateLogs struct {
	mu    sync.Mutex
	n     int
	at    time.Time
	calls chan int
}

func (f *lateLogs) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var in struct {
		StartTime int64 `json:"startTime"`
	}
	b, _ := io.ReadAll(r.Body)
	_ = json.Unmarshal(b, &in)
	f.mu.Lock()
	f.n++
	n := f.n
	f.mu.Unlock()
	all := []map[string]any{logEvent("e2", "Role Verified", "acme", "111122223333", "VERIFIED", f.at.Add(2*time.Second))}
	if n > 1 {
		all = append([]map[string]any{logEvent("e1", "Role Submitted", "bravo", "444455556666", "PENDING", f.at)}, all...)
	}
	var evs []any
	for _, e := range all {
		if e["timestamp"].(int64) >= in.StartTime {
			evs = append(evs, e)
		}
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_ = json.NewEncoder(w).Encode(map[string]any{"events": evs})
	select {
	case f.calls <- n:
	default:
	}
}

// TestFollowLogsPrintsLateEvents: `events --follow` on a log group prints
// an event that reached the group after a newer one, and each event once.
func TestFollowLogsPrintsLateEvents(t *testing.T) {
	eventsPoll = time.Millisecond
	t.Cleanup(func() { eventsPoll = time.Second })
	logs := &lateLogs{at: time.Now().Add(-10 * time.Second).Truncate(time.Second), calls: make(chan int, 1)}
	ls := httptest.NewServer(logs)
	defer ls.Close()
	awsEnv(t, "http://127.0.0.1:1", ls.URL)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out syncbuf.Buffer
	root := newRoot()
	root.SetArgs([]string{"events", "--log-group", "/g", "--follow", "--json"})
	root.SetOut(&out)
	root.SetErr(io.Discard)
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	for n := range logs.calls {
		if n >= 4 {
			break
		}
	}
	cancel()
	if err := <-done; exitStatus(err) != 0 {
		t.Fatalf("follow: %v", err)
	}
	for _, id := range []string{"e1", "e2"} {
		if n := strings.Count(out.String(), `"eventId":"`+id+`"`); n != 1 {
			t.Errorf("%s printed %d times, want once:\n%s", id, n, out.String())
		}
	}
}
