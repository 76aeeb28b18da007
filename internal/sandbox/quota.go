package sandbox

import (
	"net/http"
	"sync"
	"time"
)

// quota is STS's request quota: at most rps requests in any one second per
// caller account and Region (STS counts every call an account makes in a
// Region against one quota). It keeps the times of the calls it admitted
// in the last second, per account and Region, so it never admits more than
// rps in any window of one second, however the calls are spaced.
type quota struct {
	mu        sync.Mutex
	rps       int // 0: no quota
	windows   map[string]*window
	throttled uint64
}

// window is a ring of the admission times of the last second, oldest first.
type window struct {
	times []time.Time
	head  int
	n     int
}

func (q *quota) set(rps int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.rps = max(rps, 0)
	q.windows = map[string]*window{}
}

// admit records a call of account in region at now and reports whether the
// quota lets it through. Refused calls do not count against the quota.
func (q *quota) admit(account, region string, now time.Time) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.rps == 0 {
		return true
	}
	key := account + "/" + region
	w := q.windows[key]
	if w == nil {
		w = &window{times: make([]time.Time, q.rps)}
		q.windows[key] = w
	}
	cutoff := now.Add(-time.Second)
	for w.n > 0 && !w.times[w.head].After(cutoff) {
		w.head = (w.head + 1) % len(w.times)
		w.n--
	}
	if w.n == len(w.times) {
		q.throttled++
		return false
	}
	w.times[(w.head+w.n)%len(w.times)] = now
	w.n++
	return true
}

// throttling is the error STS answers when a quota is exceeded.
func throttling() *APIError {
	return &APIError{Code: "Throttling", Message: "Rate exceeded", Status: http.StatusBadRequest}
}

// SetRequestsPerSecond sets the sandbox's STS request quota per caller
// account and Region (see Config.RequestsPerSecond); 0 removes it. The
// calls already counted are forgotten.
func (s *STS) SetRequestsPerSecond(rps int) { s.quota.set(rps) }

// QuotaThrottled returns how many calls the request quota refused.
func (s *STS) QuotaThrottled() uint64 {
	s.quota.mu.Lock()
	defer s.quota.mu.Unlock()
	return s.quota.throttled
}
