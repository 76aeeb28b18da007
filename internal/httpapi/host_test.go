package httpapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestLoopbackHosts(t *testing.T) {
	reached := 0
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached++; w.WriteHeader(http.StatusNoContent) })
	tests := []struct {
		host  string
		extra []string
		ok    bool
	}{
		{"localhost", nil, true},
		{"localhost:8080", nil, true},
		{"LocalHost:1", nil, true},
		{"localhost.:8080", nil, true},
		{"127.0.0.1", nil, true},
		{"127.0.0.1:8080", nil, true},
		{"127.1.2.3:9", nil, true},
		{"[::1]:8080", nil, true},
		{"[::1]", nil, true},
		{"[::ffff:127.0.0.1]:80", nil, true},
		{"rolecall.example.com:443", []string{"RoleCall.example.com"}, true},
		{"rolecall.example.com", []string{"rolecall.example.com."}, true},
		{"203.0.113.7:8080", []string{"203.0.113.7"}, true},

		// DNS rebinding: the attacker's name, now resolving to 127.0.0.1.
		{"attacker.example:8080", nil, false},
		{"attacker.example", []string{"rolecall.example.com"}, false},
		{"x.rolecall.example.com", []string{"rolecall.example.com"}, false},
		{"localhost.attacker.example", nil, false},
		{"127.0.0.1.nip.io:8080", nil, false},
		{"evil.localhost", nil, false},
		{"0.0.0.0:8080", nil, false},
		{"[::]:8080", nil, false},
		{"10.0.0.1", nil, false},
		{"2130706433", nil, false},
		{"0x7f.1", nil, false},
		{"", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			reached = 0
			h := LoopbackHosts(next, tt.extra...)
			r := httptest.NewRequest("PUT", "/_sandbox/roles", nil)
			r.Host = tt.host
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if tt.ok {
				if w.Code != http.StatusNoContent || reached != 1 {
					t.Errorf("Host %q: %d (reached %d), want it served", tt.host, w.Code, reached)
				}
				return
			}
			var body errorBody
			if w.Code != http.StatusMisdirectedRequest || reached != 0 {
				t.Fatalf("Host %q: %d (reached %d), want 421 without reaching the handler", tt.host, w.Code, reached)
			}
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Error.Code != CodeMisdirected || body.Error.Message == "" {
				t.Errorf("Host %q: body %s (%v), want a %s error", tt.host, w.Body, err, CodeMisdirected)
			}
			if w.Header().Get("Content-Security-Policy") == "" || w.Header().Get("Content-Type") != "application/json; charset=utf-8" {
				t.Errorf("Host %q: headers %v lack the API's", tt.host, w.Header())
			}
		})
	}
}
