package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/testkit/syncbuf"
)

func TestConnectionsCommands(t *testing.T) {
	s := startServe(t)
	acct := connect(t, s, "acme")
	bravo := connect(t, s, "bravo")

	list := rolecall(t, "connections", "list").must(t, 0)
	rs := rows(list.stdout)
	if len(rs) != 3 || strings.Join(rs[0], "|") != "TENANT|ACCOUNT|STATUS|REASON|EXTERNAL ID|ROLE|LAST CHECKED|NEXT CHECK" {
		t.Fatalf("list:\n%s", list.stdout)
	}
	if rs[1][0] != "acme" || rs[1][1] != acct || rs[1][2] != "VERIFIED" || rs[1][4] != "v1" || !strings.HasPrefix(rs[1][5], "arn:aws:iam::"+acct+":role/") || rs[2][0] != "bravo" {
		t.Errorf("list rows %v", rs[1:])
	}
	tests := []struct {
		name string
		args []string
		want []string // tenant/account, in order
	}{
		{"by status", []string{"--status", "VERIFIED"}, []string{"acme/" + acct, "bravo/" + bravo}},
		{"by status, lower case", []string{"--status", "verified"}, []string{"acme/" + acct, "bravo/" + bravo}},
		{"by tenant", []string{"--tenant", "bravo"}, []string{"bravo/" + bravo}},
		{"by tenant and status", []string{"--tenant", "acme", "--status", "FAILED"}, nil},
		{"in a status no one has", []string{"--status", "PENDING"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var page struct {
				Connections []connection.Connection `json:"connections"`
			}
			rolecall(t, append([]string{"connections", "list", "--json"}, tc.args...)...).must(t, 0).json(t, &page)
			var got []string
			for _, c := range page.Connections {
				got = append(got, c.TenantID+"/"+c.AccountID)
			}
			if strings.Join(got, " ") != strings.Join(tc.want, " ") || page.Connections == nil {
				t.Errorf("listed %v, want %v", got, tc.want)
			}
		})
	}

	get := rolecall(t, "connections", "get", "acme", acct).must(t, 0)
	if field(t, get.stdout, "Status") != "VERIFIED" || field(t, get.stdout, "Version") != "2" {
		t.Errorf("get:\n%s", get.stdout)
	}
	for _, want := range []string{"VERSION", "Role Submitted", "Role Verified"} {
		if !strings.Contains(get.stdout, want) {
			t.Errorf("get lacks %q:\n%s", want, get.stdout)
		}
	}
	var h struct {
		Connection connection.Connection `json:"connection"`
		Events     []struct {
			DetailType string `json:"detailType"`
			Version    int64  `json:"version"`
		} `json:"events"`
	}
	rolecall(t, "connections", "get", "acme", acct, "--json").must(t, 0).json(t, &h)
	if h.Connection.AccountID != acct || len(h.Events) != 2 || h.Events[1].DetailType != "Role Verified" || h.Events[1].Version != 2 {
		t.Errorf("get --json: %+v", h)
	}

	t.Run("check --wait lands a passing check", func(t *testing.T) {
		r := rolecall(t, "connections", "check", "acme", acct, "--wait").must(t, 0)
		if field(t, r.stdout, "Status") != "VERIFIED" || field(t, r.stdout, "Last checked") == "-" {
			t.Errorf("check --wait:\n%s", r.stdout)
		}
	})
	t.Run("a second check within five minutes is refused", func(t *testing.T) {
		r := rolecall(t, "connections", "check", "acme", acct)
		if r.code != 1 || !strings.Contains(r.stderr, "CHECK_TOO_SOON") || r.stdout != "" {
			t.Errorf("check again: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
	})
	// Each of the next checks is of a connection of its own: one check per
	// connection per five minutes.
	t.Run("check without --wait only queues", func(t *testing.T) {
		a := connect(t, s, "charlie")
		r := rolecall(t, "connections", "check", "charlie", a).must(t, 0)
		if !strings.HasPrefix(r.stdout, "Check of charlie/"+a+" queued (status VERIFIED") {
			t.Errorf("check: %q", r.stdout)
		}
	})
	t.Run("check --json without --wait is the queued connection", func(t *testing.T) {
		a := connect(t, s, "delta")
		var c connection.Connection
		rolecall(t, "connections", "check", "delta", a, "--json").must(t, 0).json(t, &c)
		if c.TenantID != "delta" || c.AccountID != a || c.Status != connection.Verified {
			t.Errorf("check --json: %+v", c)
		}
	})
	t.Run("check --wait of a deleted role exits 1 with the reason", func(t *testing.T) {
		a := connect(t, s, "echo")
		var before connection.Connection
		rolecall(t, "connections", "get", "echo", a, "--json").must(t, 0).json(t, &struct {
			Connection *connection.Connection `json:"connection"`
		}{&before})
		httpJSON(t, "DELETE", s.URL+"/_sandbox/roles?roleArn="+url.QueryEscape(before.RoleARN), "", nil, 200, nil)
		r := rolecall(t, "connections", "check", "echo", a, "--wait", "--json")
		var c connection.Connection
		r.json(t, &c)
		if r.code != 1 || c.Status != connection.AccessLost || c.Reason.Code == "" {
			t.Errorf("check --wait --json: exit %d, %s", r.code, r.stdout)
		}
	})

	dis := rolecall(t, "connections", "disconnect", "bravo", bravo).must(t, 0)
	if field(t, dis.stdout, "Status") != "DISCONNECTED" {
		t.Errorf("disconnect:\n%s", dis.stdout)
	}
	var again connection.Connection
	rolecall(t, "connections", "disconnect", "bravo", bravo, "--json").must(t, 0).json(t, &again)
	if again.Status != connection.Disconnected || again.AccountID != bravo {
		t.Errorf("disconnect --json (again): %+v", again)
	}
	expectRefusals(t, []refusal{
		{"check of a disconnected connection", []string{"connections", "check", "bravo", bravo}, 1, "CONNECTION_DISCONNECTED"},
		{"get of an unknown account", []string{"connections", "get", "acme", "999999999999"}, 1, "NOT_FOUND"},
		{"get of a bad account", []string{"connections", "get", "acme", "12"}, 1, "INVALID_ACCOUNT"},
		{"disconnect of an unknown tenant", []string{"connections", "disconnect", "nobody", acct}, 1, "NOT_FOUND"},
		{"unknown status", []string{"connections", "list", "--status", "GREEN"}, 2, "--status"},
		{"check without account", []string{"connections", "check", "acme"}, 2, ""},
	})
}

func TestEventsCommand(t *testing.T) {
	s := startServe(t)
	acct := connect(t, s, "acme")
	waitEventLine := func(t *testing.T, out *syncbuf.Buffer, want string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if !out.WaitFor(ctx, want) {
			t.Fatalf("no %q in\n%s", want, out.String())
		}
	}
	// connect returned once the bus recorded Role Verified: what
	// GET /v1/events reads.
	r := rolecall(t, "events").must(t, 0)
	rs := rows(r.stdout)
	if strings.Join(rs[0], "|") != "TIME|EVENT|TENANT|ACCOUNT|STATUS|REASON" {
		t.Fatalf("events header %v", rs[0])
	}
	var acme []string
	for _, row := range rs[1:] {
		if row[2] == "acme" && row[3] == acct {
			acme = append(acme, row[1]+":"+row[4])
		}
	}
	if strings.Join(acme, " ") != "Role Submitted:PENDING Role Verified:VERIFIED" {
		t.Errorf("acme's events %v in\n%s", acme, r.stdout)
	}

	js := rolecall(t, "events", "--json").must(t, 0)
	lines := strings.Split(strings.TrimSpace(js.stdout), "\n")
	if len(lines) != len(rs)-1 {
		t.Errorf("%d JSON lines, %d table rows", len(lines), len(rs)-1)
	}
	for _, l := range lines {
		var e struct {
			DetailType string `json:"detail-type"`
			Detail     struct {
				EventID string `json:"eventId"`
			} `json:"detail"`
		}
		if err := json.Unmarshal([]byte(l), &e); err != nil || e.DetailType == "" || e.Detail.EventID == "" {
			t.Errorf("line %q: %v", l, err)
		}
	}

	t.Run("follow prints new events until interrupted", func(t *testing.T) {
		eventsPoll = 20 * time.Millisecond
		t.Cleanup(func() { eventsPoll = time.Second })
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var out, errOut syncbuf.Buffer
		root := newRoot()
		root.SetArgs([]string{"events", "--follow"})
		root.SetOut(&out)
		root.SetErr(&errOut)
		done := make(chan error, 1)
		go func() { done <- root.ExecuteContext(ctx) }()
		waitEventLine(t, &out, "Role Verified")
		rolecall(t, "connections", "disconnect", "acme", acct).must(t, 0)
		waitEventLine(t, &out, "Role Disconnected")
		cancel()
		select {
		case err := <-done:
			if exitStatus(err) != 0 {
				t.Errorf("follow ended with %v: %s", err, errOut.String())
			}
		case <-time.After(10 * time.Second):
			t.Fatal("follow did not stop")
		}
		if n := strings.Count(out.String(), "Role Verified"); n != 1 {
			t.Errorf("an event printed %d times:\n%s", n, out.String())
		}
	})
}

// TestEventsFollowerFallsBehind: serve keeps its latest events only; a
// --follow whose cursor was dropped (it fell behind) stops with an error
// naming the last event it printed, instead of reading again from the
// oldest kept and printing events twice.
func TestEventsFollowerFallsBehind(t *testing.T) {
	eventsPoll = time.Millisecond
	t.Cleanup(func() { eventsPoll = time.Second })
	const first = `{"version":"0","id":"env-1","detail-type":"Role Verified","source":"rolecall","account":"000000000000","time":"2026-12-01T00:00:00Z","region":"local","resources":[],"detail":{"eventId":"evt-1","tenantId":"acme","accountId":"111122223333","status":"VERIFIED"}}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Query().Get("after") == "" {
			io.WriteString(w, `{"events":[`+first+`]}`)
			return
		}
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"error":{"code":"UNKNOWN_EVENT","message":"after must be the eventId of an event this server emitted and still keeps","field":"after"}}`)
	}))
	defer srv.Close()
	t.Setenv("ROLECALL_API", srv.URL)
	t.Setenv("ROLECALL_OPS_TOKEN", testOpsToken)
	r := rolecall(t, "events", "--follow")
	if r.code != 1 || strings.Count(r.stdout, "Role Verified") != 1 || !strings.Contains(r.stderr, "no longer keeps event evt-1") {
		t.Errorf("exit %d, stdout %q, stderr %q; want the event printed once, then exit 1 naming evt-1", r.code, r.stdout, r.stderr)
	}
}

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

func TestExternalIDUsed(t *testing.T) {
	tests := []struct {
		name    string
		status  connection.Status
		version int
		current bool
		want    string
	}{
		{"never verified", connection.Pending, 0, false, "-"},
		{"verified with the current ID", connection.Verified, 3, true, "v3"},
		{"verified with the previous ID only", connection.Verified, 2, false, "v2 previous"},
		{"access lost, last worked with the previous ID", connection.AccessLost, 2, false, "v2 previous"},
		{"failed since", connection.Failed, 2, false, "v2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := connection.Connection{Status: tt.status, ExternalIDVersion: tt.version, ExternalIDCurrent: tt.current}
			if got := externalIDUsed(c); got != tt.want {
				t.Errorf("externalIDUsed = %q, want %q", got, tt.want)
			}
		})
	}
}
