package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestAnswersAreShownAsText: the texts of an API's successful answers
// reach the terminal without escape sequences, other control characters
// or format characters (a bidirectional override), in every table and
// line the CLI prints; what is left of them still shows. A mistyped --api
// or a broken proxy must not clear the screen or rewrite what was printed.
func TestAnswersAreShownAsText(t *testing.T) {
	// JSON escapes of an ESC sequence, a BEL and a right-to-left override.
	const (
		esc  = `\u001b[2J\u001b]0;owned\u0007`
		bidi = `\u202e`
	)
	conn := `{"tenantId":"acme","accountId":"111122223333","roleArn":"arn:aws:iam::111122223333:role/R","status":"FAILED` + `","version":2,` +
		`"reason":{"code":"ROLE_` + esc + `GONE","message":"the role ` + bidi + `is gone` + esc + `","hint":"create it` + esc + ` again"}}`
	event := `{"version":"0","id":"env-1","detail-type":"Role ` + esc + `Failed","source":"rolecall","account":"000000000000","time":"2026-12-01T00:00:00Z","region":"local","resources":[],` +
		`"detail":{"eventId":"evt-1","tenantId":"acme` + bidi + `","accountId":"111122223333","status":"FAILED","reason":{"code":"ROLE_` + esc + `GONE"}}}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.URL.Path == "/v1/tenants":
			io.WriteString(w, `{"tenants":[{"tenantId":"acme","name":"Acme `+esc+bidi+`Inc","externalIdVersion":1,"maxConnections":100,"createdAt":"2026-12-01T00:00:00Z"}]}`)
		case r.URL.Path == "/v1/connections":
			io.WriteString(w, `{"connections":[`+conn+`]}`)
		case r.URL.Path == "/v1/tenants/acme/connections/111122223333":
			io.WriteString(w, `{"connection":`+conn+`,"events":[]}`)
		case r.URL.Path == "/v1/events":
			io.WriteString(w, `{"events":[`+event+`]}`)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	t.Setenv("ROLECALL_API", srv.URL)
	t.Setenv("ROLECALL_OPS_TOKEN", testOpsToken)
	tests := []struct {
		name string
		args []string
		want []string // what shows of the texts
	}{
		{"tenants list", []string{"tenants", "list"}, []string{"Acme [2J]0;ownedInc"}},
		{"connections list", []string{"connections", "list", "--status", "FAILED"}, []string{"ROLE_[2J]0;ownedGONE"}},
		{"connections get", []string{"connections", "get", "acme", "111122223333"}, []string{"the role is gone[2J]0;owned", "create it[2J]0;owned again"}},
		{"events", []string{"events"}, []string{"Role [2J]0;ownedFailed", "acme ", "ROLE_[2J]0;ownedGONE"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rolecall(t, tt.args...).must(t, 0)
			if strings.ContainsAny(r.stdout, "\x1b\x07\u202e") {
				t.Errorf("%v printed control or format characters:\n%q", tt.args, r.stdout)
			}
			for _, w := range tt.want {
				if !strings.Contains(r.stdout, w) {
					t.Errorf("%v does not show %q:\n%s", tt.args, w, r.stdout)
				}
			}
		})
	}
}
