package httpapi

import (
	"net/http"
	"testing"
	"time"

	"github.com/rolecall/rolecall/internal/onboarding"
)

// TestOpsCheckLimit: the operations route's re-checks are limited to one per
// connection per five-minute window, in the store: a request over it is
// 429 CHECK_TOO_SOON with Retry-After and the field, changes nothing and
// queues nothing; the next window queues another.
func TestOpsCheckLimit(t *testing.T) {
	path := "/v1/tenants/acme/connections/" + customerAcct + "/check"
	// The env's clock is 55 s before a window's end.
	steps := []struct {
		name       string
		advance    time.Duration
		wantStatus int
		retryAfter string
	}{
		{"first request", 0, http.StatusAccepted, ""},
		{"2 s later", 2 * time.Second, http.StatusTooManyRequests, "53"},
		{"at the window's last second", 52 * time.Second, http.StatusTooManyRequests, "1"},
		{"next window", time.Second, http.StatusAccepted, ""},
		{"again at once", 0, http.StatusTooManyRequests, "300"},
		{"a window later", onboarding.CheckRequestWindow, http.StatusAccepted, ""},
	}
	e := newEnv(t)
	e.submitAs(e.tenant("acme"), customerRole)
	queued := 0
	for _, s := range steps {
		e.now = e.now.Add(s.advance)
		before := e.mem.Snapshot()
		w := e.do(ops("POST", path, ""))
		if s.wantStatus == http.StatusAccepted {
			if w.Code != s.wantStatus {
				t.Fatalf("%s: %d %s", s.name, w.Code, w.Body)
			}
			queued++
		} else {
			if got := w.Header().Get("Retry-After"); got != s.retryAfter {
				t.Errorf("%s: Retry-After %q, want %q", s.name, got, s.retryAfter)
			}
			wantAPIError(t, w, s.wantStatus, CodeCheckTooSoon, "accountId")
			if after := e.mem.Snapshot(); after != before {
				t.Fatalf("%s: the refusal changed the store:\n%s\nwas\n%s", s.name, after, before)
			}
		}
		if n := len(e.queue.Jobs()); n != queued {
			t.Fatalf("%s: %d checks queued, want %d", s.name, n, queued)
		}
	}
}
