package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// fakeConnection is a connection's JSON as the API answers it.
func fakeConnection(status string, version int) string {
	return fmt.Sprintf(`{"tenantId":"acme","accountId":"111122223333","roleArn":"arn:aws:iam::111122223333:role/R","status":%q,"version":%d}`, status, version)
}

// TestConnectionsListShowsEachOnce: listing every status is one listing per
// status, one after the other; a connection whose check moved it between
// two of them (PENDING, then VERIFIED) is shown once, at its latest
// version, in the table and in --json.
func TestConnectionsListShowsEachOnce(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Query().Get("status") {
		case "PENDING":
			io.WriteString(w, `{"connections":[`+fakeConnection("PENDING", 1)+`]}`)
		case "VERIFIED":
			io.WriteString(w, `{"connections":[`+fakeConnection("VERIFIED", 2)+`]}`)
		default:
			io.WriteString(w, `{"connections":[]}`)
		}
	}))
	defer srv.Close()
	t.Setenv("ROLECALL_API", srv.URL)
	t.Setenv("ROLECALL_OPS_TOKEN", testOpsToken)
	var page struct {
		Connections []struct{ Status string } `json:"connections"`
	}
	rolecall(t, "connections", "list", "--json").must(t, 0).json(t, &page)
	if len(page.Connections) != 1 || page.Connections[0].Status != "VERIFIED" {
		t.Errorf("--json lists %+v, want the connection once, VERIFIED", page.Connections)
	}
	table := rolecall(t, "connections", "list").must(t, 0).stdout
	if n := strings.Count(table, "role/R"); n != 1 || !strings.Contains(table, "VERIFIED") {
		t.Errorf("the table shows the connection %d times:\n%s", n, table)
	}
}

// TestCheckWaitInterrupted: an interrupt while `connections check --wait`
// polls is reported as one, not as the --timeout running out.
func TestCheckWaitInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var once sync.Once
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Method == http.MethodPost {
			io.WriteString(w, fakeConnection("VERIFIED", 3))
			return
		}
		// The first poll: the check has not landed; the operator presses
		// Ctrl-C.
		once.Do(cancel)
		io.WriteString(w, `{"connection":`+fakeConnection("VERIFIED", 3)+`,"events":[]}`)
	}))
	defer srv.Close()
	t.Setenv("ROLECALL_API", srv.URL)
	t.Setenv("ROLECALL_OPS_TOKEN", testOpsToken)
	r := rolecallCtx(ctx, t, "connections", "check", "acme", "111122223333", "--wait", "--timeout", "10m")
	if r.code == 0 || strings.Contains(r.stderr, "10m0s") || strings.Contains(r.stderr, "timed out") || !strings.Contains(r.stderr, "canceled") {
		t.Errorf("exit %d, stderr %q; want the interrupt reported as such", r.code, r.stderr)
	}
}
