package httpapi

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/rolecall/rolecall/internal/connection"
)

// An invite holder cannot take a working connection down by submitting
// another role: the new role is a candidate, shown on GET, and the verified
// role stays in use.
func TestSubmitForVerifiedConnectionMakesCandidate(t *testing.T) {
	e := newEnv(t)
	inv := e.submitted(t, "acme")
	ctx := context.Background()
	c, _ := e.mem.GetConnection(ctx, "acme", customerAcct)
	tr, err := connection.DefaultPolicy().Apply(c, connection.Outcome{Result: connection.ResultOK, Version: c.Version, ExternalIDVersion: 1, ExternalIDCurrent: true, CheckedAt: e.now})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.mem.Apply(ctx, tr); err != nil {
		t.Fatal(err)
	}
	other := "arn:aws:iam::" + customerAcct + ":role/SomethingElse"
	type view struct {
		RoleARN   string `json:"roleArn"`
		Status    string `json:"status"`
		Candidate *struct {
			RoleARN string            `json:"roleArn"`
			Status  string            `json:"status"`
			Reason  connection.Reason `json:"reason"`
		} `json:"candidate"`
	}
	for _, r := range []req{
		{method: "POST", path: "/v1/connections", body: `{"roleArn":"` + other + `"}`, auth: inv},
		{method: "GET", path: "/v1/connections/" + customerAcct, auth: inv},
		{method: "GET", path: "/v1/tenants/acme/connections", auth: "Bearer " + testToken},
		{method: "GET", path: "/v1/connections?status=VERIFIED", auth: "Bearer " + testToken},
	} {
		w := e.do(r)
		if w.Code != 202 && w.Code != 200 {
			t.Fatalf("%s %s: %d %s", r.method, r.path, w.Code, w.Body)
		}
		var v view
		var page struct {
			Connections []view `json:"connections"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &page); err == nil && len(page.Connections) == 1 {
			v = page.Connections[0]
		} else if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil {
			t.Fatal(err)
		}
		if v.RoleARN != customerRole || v.Status != "VERIFIED" || v.Candidate == nil || v.Candidate.RoleARN != other ||
			v.Candidate.Status != "PENDING" || v.Candidate.Reason.Code != connection.CodeCandidateSubmitted {
			t.Fatalf("%s %s: %s", r.method, r.path, w.Body)
		}
	}
}
