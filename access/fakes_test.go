package access

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
)

// fakeAPI is RoleCall's access and check routes over a fixed set of
// connections, authorized by a bearer token.
type fakeAPI struct {
	mu      sync.Mutex
	token   string
	conns   map[Ref]Connection
	reasons map[Ref]Reason
	checks  []Ref
	// checkStatus and checkBody, when set, answer a re-check request.
	checkStatus int
	checkBody   string
	requests    int
	reads       int // GETs of a connection's access
}

func (f *fakeAPI) setStatus(ref Ref, status string, reason Reason) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.conns[ref]
	c.Status = status
	f.conns[ref] = c
	f.reasons[ref] = reason
}

func (f *fakeAPI) accessReads() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reads
}

func (f *fakeAPI) checked() []Ref {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Ref(nil), f.checks...)
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests++
	w.Header().Set("Content-Type", "application/json")
	if r.Header.Get("Authorization") != "Bearer "+f.token {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"error":{"code":"UNAUTHENTICATED","message":"this route needs the operations credentials"}}`))
		return
	}
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/v1/tenants/"), "/")
	if len(parts) != 4 || parts[1] != "connections" {
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"error":{"code":"NOT_FOUND","message":"no such route"}}`))
		return
	}
	ref := Ref{TenantID: parts[0], AccountID: parts[2]}
	if r.Method == http.MethodGet && parts[3] == "access" {
		f.reads++
	}
	c, ok := f.conns[ref]
	switch {
	case !ok:
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"error":{"code":"NOT_FOUND","message":"no such connection"}}`))
	case r.Method == http.MethodPost && parts[3] == "check":
		f.checks = append(f.checks, ref)
		if f.checkStatus != 0 {
			w.WriteHeader(f.checkStatus)
			_, _ = w.Write([]byte(f.checkBody))
			return
		}
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write([]byte(`{}`))
	case r.Method == http.MethodGet && parts[3] == "access" && c.Status != "VERIFIED":
		w.WriteHeader(http.StatusConflict)
		_ = json.NewEncoder(w).Encode(map[string]any{
			"error":      map[string]string{"code": "NOT_VERIFIED", "message": "the connection is " + c.Status},
			"connection": map[string]any{"status": c.Status, "reason": f.reasons[ref]},
		})
	case r.Method == http.MethodGet && parts[3] == "access":
		_ = json.NewEncoder(w).Encode(c)
	default:
		w.WriteHeader(http.StatusMethodNotAllowed)
	}
}
