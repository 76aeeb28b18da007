package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// contractAPI implements the documented contract of the invite and
// rotation routes (POST/GET/DELETE invites with a TTL, rotation with a
// grace period) and tenant creation with a connection limit, recording
// each request it gets.
type contractAPI struct {
	mu       sync.Mutex
	requests []string // "METHOD path body"
	bareList bool     // GET invites answers a bare array, which the API never sends
}

func (c *contractAPI) handler(t *testing.T) http.Handler {
	m := http.NewServeMux()
	reply := func(w http.ResponseWriter, status int, body string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
	m.HandleFunc("POST /v1/tenants", func(w http.ResponseWriter, r *http.Request) {
		reply(w, 201, `{"tenantId":"acme","name":"Acme","externalId":"rc-NEWNEWNEW","externalIdVersion":1,"createdAt":"2026-01-02T03:04:05Z","maxConnections":5}`)
	})
	m.HandleFunc("POST /v1/tenants/{id}/invites", func(w http.ResponseWriter, r *http.Request) {
		reply(w, 201, `{"inviteId":"inv-1","code":"secretcode","url":"https://rc.example/connect?invite=secretcode","expiresAt":"2026-01-02T04:04:05Z"}`)
	})
	m.HandleFunc("GET /v1/tenants/{id}/invites", func(w http.ResponseWriter, r *http.Request) {
		list := `[{"inviteId":"inv-1","createdAt":"2026-01-02T03:04:05Z","expiresAt":"2999-01-01T00:00:00Z","revoked":false},` +
			`{"inviteId":"inv-2","createdAt":"2026-01-01T00:00:00Z","expiresAt":"2026-01-08T00:00:00Z","revoked":true},` +
			`{"inviteId":"inv-3","createdAt":"2020-01-01T00:00:00Z","expiresAt":"2020-01-08T00:00:00Z","revoked":false}]`
		if c.bareList {
			reply(w, 200, list)
			return
		}
		reply(w, 200, `{"invites":`+list+`}`)
	})
	m.HandleFunc("DELETE /v1/tenants/{id}/invites/{invite}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("invite") != "inv-1" {
			reply(w, 404, `{"error":{"code":"NOT_FOUND","message":"no invite \"`+r.PathValue("invite")+`\"","field":"inviteId"}}`)
			return
		}
		w.WriteHeader(204)
	})
	m.HandleFunc("POST /v1/tenants/{id}/external-id/rotate", func(w http.ResponseWriter, r *http.Request) {
		reply(w, 200, `{"tenantId":"acme","name":"Acme","externalId":"rc-ROTATED","externalIdVersion":2,"createdAt":"2026-01-02T03:04:05Z","rotatedAt":"2026-01-03T00:00:00Z"}`)
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+testOpsToken {
			reply(w, 401, `{"error":{"code":"UNAUTHENTICATED","message":"no"}}`)
			return
		}
		if r.ContentLength > 0 && r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s %s: content type %q", r.Method, r.URL.Path, r.Header.Get("Content-Type"))
		}
		b, _ := io.ReadAll(r.Body)
		c.mu.Lock()
		c.requests = append(c.requests, strings.TrimSpace(r.Method+" "+r.URL.Path+" "+string(b)))
		c.mu.Unlock()
		m.ServeHTTP(w, r)
	})
}

func TestCommandsAgainstTheInviteAndRotationContract(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		bare    bool
		request string // what the API got
		code    int
		stdout  []string // substrings of stdout
		stderr  string
		json    map[string]any
	}{
		{name: "invite with a TTL", args: []string{"invites", "create", "acme", "--ttl", "1h"},
			request: `POST /v1/tenants/acme/invites {"ttlSeconds":3600}`, stdout: []string{"inv-1", "https://rc.example/connect?invite=secretcode", "2026-01-02T04:04:05Z"}},
		{name: "invite with the default TTL", args: []string{"invites", "create", "acme"}, request: `POST /v1/tenants/acme/invites`},
		{name: "invite --json", args: []string{"invites", "create", "acme", "--ttl", "90m", "--json"},
			request: `POST /v1/tenants/acme/invites {"ttlSeconds":5400}`, json: map[string]any{"inviteId": "inv-1", "code": "secretcode"}},
		{name: "invites list", args: []string{"invites", "list", "acme"}, request: "GET /v1/tenants/acme/invites",
			stdout: []string{"INVITE", "inv-1", "active", "inv-2", "revoked", "inv-3", "expired"}},
		{name: "invites list refuses a bare array", args: []string{"invites", "list", "acme"}, bare: true, request: "GET /v1/tenants/acme/invites",
			code: 1, stderr: "opsapi: decode invites"},
		{name: "invites list --json", args: []string{"invites", "list", "acme", "--json"}, request: "GET /v1/tenants/acme/invites",
			stdout: []string{`"invites": [`, `"inviteId": "inv-3"`}},
		{name: "revoke", args: []string{"invites", "revoke", "acme", "inv-1"}, request: "DELETE /v1/tenants/acme/invites/inv-1",
			stdout: []string{"Invite inv-1 of tenant acme revoked."}},
		{name: "revoke an unknown invite", args: []string{"invites", "revoke", "acme", "inv-9"}, request: "DELETE /v1/tenants/acme/invites/inv-9", code: 1},
		{name: "rotate with grace and revocation", args: []string{"external-id", "rotate", "acme", "--grace", "72h", "--revoke-invites"},
			request: `POST /v1/tenants/acme/external-id/rotate {"graceSeconds":259200,"revokeInvites":true}`, stdout: []string{"rc-ROTATED", "2026-01-03T00:00:00Z"}},
		{name: "rotate retiring the old ID at once", args: []string{"external-id", "rotate", "acme", "--grace", "0s"},
			request: `POST /v1/tenants/acme/external-id/rotate {"graceSeconds":0}`},
		{name: "rotate with the default grace", args: []string{"external-id", "rotate", "acme", "--json"},
			request: `POST /v1/tenants/acme/external-id/rotate`, json: map[string]any{"externalId": "rc-ROTATED", "externalIdVersion": 2.0}},
		{name: "tenant with a connection limit", args: []string{"tenants", "create", "acme", "--name", "Acme", "--max-connections", "5", "--json"},
			request: `POST /v1/tenants {"tenantId":"acme","name":"Acme","maxConnections":5}`, json: map[string]any{"maxConnections": 5.0}},
		{name: "sweep on an API without the route", args: []string{"sweep"}, request: `POST /v1/sweeps {"all":false}`, code: 1,
			stderr: "this API has no sweep route; a deployed stack sweeps on its schedule, and `connections check` re-checks one connection\nrolecall sweep: refused (HTTP 404)"},
		{name: "revoke refusal names the API's code", args: []string{"invites", "revoke", "acme", "inv-7"}, request: "DELETE /v1/tenants/acme/invites/inv-7", code: 1,
			stderr: `refused (HTTP 404): NOT_FOUND: no invite "inv-7" (field inviteId)`},
		{name: "negative grace", args: []string{"external-id", "rotate", "acme", "--grace", "-1h"}, code: 2},
		{name: "sub-second TTL", args: []string{"invites", "create", "acme", "--ttl", "10ms"}, code: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			api := &contractAPI{bareList: tc.bare}
			srv := httptest.NewServer(api.handler(t))
			defer srv.Close()
			t.Setenv("ROLECALL_API", srv.URL)
			t.Setenv("ROLECALL_OPS_TOKEN", testOpsToken)
			r := rolecall(t, tc.args...).must(t, tc.code)
			var want []string
			if tc.request != "" {
				want = []string{tc.request}
			}
			if fmt.Sprint(api.requests) != fmt.Sprint(want) {
				t.Errorf("requests %q, want %q", api.requests, want)
			}
			if !strings.Contains(r.stderr, tc.stderr) {
				t.Errorf("stderr %q lacks %q", r.stderr, tc.stderr)
			}
			for _, s := range tc.stdout {
				if !strings.Contains(r.stdout, s) {
					t.Errorf("stdout lacks %q:\n%s", s, r.stdout)
				}
			}
			if tc.json != nil {
				var got map[string]any
				r.json(t, &got)
				for k, v := range tc.json {
					if got[k] != v {
						t.Errorf("JSON %s = %v, want %v", k, got[k], v)
					}
				}
			}
		})
	}
}

// The invite table marks an invite expired by the clock.
func TestInviteStates(t *testing.T) {
	api := &contractAPI{}
	srv := httptest.NewServer(api.handler(t))
	defer srv.Close()
	t.Setenv("ROLECALL_API", srv.URL)
	t.Setenv("ROLECALL_OPS_TOKEN", testOpsToken)
	rs := rows(rolecall(t, "invites", "list", "acme").must(t, 0).stdout)
	got := map[string]string{}
	for _, r := range rs[1:] {
		got[r[0]] = r[3]
	}
	want := map[string]string{"inv-1": "active", "inv-2": "revoked", "inv-3": "expired"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("states %v, want %v", got, want)
	}
}
