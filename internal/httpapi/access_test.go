package httpapi

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/rolecall/rolecall/access"
	"github.com/rolecall/rolecall/internal/connection"
)

func TestAccessOfAVerifiedConnection(t *testing.T) {
	e := newEnv(t)
	tn := e.tenant("acme")
	c := e.submitAs(tn, customerRole, connection.ResultOK)
	if c.Status != connection.Verified {
		t.Fatalf("status %s", c.Status)
	}
	w := e.do(ops("GET", "/v1/tenants/acme/connections/"+customerAcct+"/access", ""))
	if w.Code != http.StatusOK {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	got := decode[access.Connection](t, w)
	want := access.Connection{TenantID: "acme", AccountID: customerAcct, RoleARN: customerRole, ExternalID: tn.ExternalID,
		ExternalIDVersion: tn.ExternalIDVersion, AccessRoleARN: principalARN, Partition: "aws", Status: string(connection.Verified), VerifiedAt: c.VerifiedAt}
	if got != want {
		t.Errorf("access\n %+v\nwant\n %+v", got, want)
	}
	// The document itself, field by field: the access package decodes it.
	verifiedAt, _ := c.VerifiedAt.MarshalJSON()
	doc := `{"tenantId":"acme","accountId":"` + customerAcct + `","roleArn":"` + customerRole + `","externalId":"` + tn.ExternalID +
		`","externalIdVersion":1,"accessRoleArn":"` + principalARN + `","partition":"aws","status":"VERIFIED","verifiedAt":` + string(verifiedAt) + `}`
	if body := strings.TrimSpace(w.Body.String()); body != doc {
		t.Errorf("answer\n %s\nwant\n %s", body, doc)
	}
}

func TestAccessIsRefusedUnlessVerified(t *testing.T) {
	tests := []struct {
		name    string
		results []connection.Result
		status  connection.Status
		reason  string
	}{
		{"pending", nil, connection.Pending, "SUBMITTED"},
		{"failed", []connection.Result{connection.ResultDenied}, connection.Failed, "ASSUME_DENIED"},
		{"access lost", []connection.Result{connection.ResultOK, connection.ResultDenied, connection.ResultDenied, connection.ResultDenied}, connection.AccessLost, "ASSUME_DENIED"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			tn := e.tenant("acme")
			c := e.submitAs(tn, customerRole, tt.results...)
			if c.Status != tt.status {
				t.Fatalf("status %s, want %s", c.Status, tt.status)
			}
			w := e.do(ops("GET", "/v1/tenants/acme/connections/"+customerAcct+"/access", ""))
			if w.Code != http.StatusConflict {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			got := decode[notVerified](t, w)
			if got.Error.Code != CodeNotVerified || got.Error.Field != "accountId" || !strings.Contains(got.Error.Message, string(tt.status)) {
				t.Errorf("error %+v", got.Error)
			}
			if got.Connection.Status != tt.status || (tt.reason != "SUBMITTED" && got.Connection.Reason.Code != tt.reason) || got.Connection.Reason.Code == "" {
				t.Errorf("connection %+v", got.Connection)
			}
			if strings.Contains(w.Body.String(), tn.ExternalID) {
				t.Error("a refusal carries the external ID")
			}
		})
	}
	t.Run("disconnected", func(t *testing.T) {
		e := newEnv(t)
		tn := e.tenant("acme")
		e.submitAs(tn, customerRole, connection.ResultOK)
		if _, err := e.svc.Disconnect(context.Background(), "acme", customerAcct); err != nil {
			t.Fatal(err)
		}
		w := e.do(ops("GET", "/v1/tenants/acme/connections/"+customerAcct+"/access", ""))
		if w.Code != http.StatusConflict || decode[notVerified](t, w).Connection.Status != connection.Disconnected {
			t.Errorf("status %d: %s", w.Code, w.Body)
		}
	})
}

func TestAccessRefusals(t *testing.T) {
	e := newEnv(t)
	tn := e.tenant("acme")
	e.submitAs(tn, customerRole, connection.ResultOK)
	tests := []struct {
		name string
		r    req
		code int
		err  string
	}{
		{"no credentials", req{method: "GET", path: "/v1/tenants/acme/connections/" + customerAcct + "/access"}, 401, CodeUnauthenticated},
		{"an invite is not an ops credential", req{method: "GET", path: "/v1/tenants/acme/connections/" + customerAcct + "/access", auth: "Invite " + e.invite("acme")}, 401, CodeUnauthenticated},
		{"wrong token", req{method: "GET", path: "/v1/tenants/acme/access", auth: "Bearer nope"}, 401, CodeUnauthenticated},
		{"unknown tenant", ops("GET", "/v1/tenants/globex/connections/"+customerAcct+"/access", ""), 404, CodeNotFound},
		{"unknown tenant list", ops("GET", "/v1/tenants/globex/access", ""), 404, CodeNotFound},
		{"unknown account", ops("GET", "/v1/tenants/acme/connections/444455556666/access", ""), 404, CodeNotFound},
		{"bad limit", ops("GET", "/v1/tenants/acme/access?limit=0", ""), 400, CodeInvalidParameter},
		{"POST is not allowed", ops("POST", "/v1/tenants/acme/access", "{}"), 405, CodeMethodNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := e.do(tt.r)
			if w.Code != tt.code {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.code, w.Body)
			}
			if got := apiErr(t, w); got.Code != tt.err {
				t.Errorf("code %s, want %s", got.Code, tt.err)
			}
			if strings.Contains(w.Body.String(), tn.ExternalID) {
				t.Error("a refusal carries the external ID")
			}
		})
	}
}

// TestListAccessPages: only VERIFIED connections, every one exactly once
// across the pages.
func TestListAccessPages(t *testing.T) {
	e := newEnv(t)
	tn := e.tenant("acme")
	verified := map[string]bool{}
	for i := range 7 {
		acct := "11112222" + string(rune('0'+i)) + "000"
		arn := "arn:aws:iam::" + acct + ":role/RoleCallAccess"
		if i%3 == 0 {
			e.submitAs(tn, arn) // stays PENDING
			continue
		}
		e.submitAs(tn, arn, connection.ResultOK)
		verified[acct] = true
	}
	seen := map[string]bool{}
	cursor, pages := "", 0
	for {
		path := "/v1/tenants/acme/access?limit=2"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		w := e.do(ops("GET", path, ""))
		if w.Code != http.StatusOK {
			t.Fatalf("status %d: %s", w.Code, w.Body)
		}
		p := decode[access.Page](t, w)
		for _, c := range p.Connections {
			if c.Status != string(connection.Verified) || c.ExternalID != tn.ExternalID || c.AccessRoleARN != principalARN || seen[c.AccountID] {
				t.Errorf("listed %+v", c)
			}
			seen[c.AccountID] = true
		}
		pages++
		if p.Cursor == "" || pages > 10 {
			break
		}
		cursor = p.Cursor
	}
	if len(seen) != len(verified) {
		t.Errorf("listed %v, want %v", seen, verified)
	}
	for a := range verified {
		if !seen[a] {
			t.Errorf("%s not listed", a)
		}
	}
	w := e.do(ops("GET", "/v1/tenants/acme/access", ""))
	if !strings.Contains(w.Body.String(), `"connections":[`) {
		t.Errorf("body %s", w.Body)
	}
}

func TestAccessNeverLogsTheExternalID(t *testing.T) {
	var buf strings.Builder
	e := newEnv(t, func(c *Config) { c.Log = newTextLog(&buf) })
	tn := e.tenant("acme")
	e.submitAs(tn, customerRole, connection.ResultOK)
	e.do(ops("GET", "/v1/tenants/acme/connections/"+customerAcct+"/access", ""))
	e.do(ops("GET", "/v1/tenants/acme/access", ""))
	if !strings.Contains(buf.String(), "/access") {
		t.Fatalf("requests not logged: %s", buf.String())
	}
	if strings.Contains(buf.String(), tn.ExternalID) {
		t.Errorf("logs carry the external ID:\n%s", buf.String())
	}
}
