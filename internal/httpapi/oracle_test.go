package httpapi

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"testing"

	"github.com/rolecall/rolecall/internal/connection"
)

// A submission answers the same whether or not another tenant holds the
// role: same status, same body shape, same reason, and the same work (one
// read, one write; no claim is looked at), so an invite holder cannot learn
// which roles the partner's other customers use.
func TestSubmitIsNoOracleForClaims(t *testing.T) {
	e := newEnv(t)
	e.tenant("acme")
	e.tenant("other")
	acme := "Invite " + e.invite("acme")
	other := "Invite " + e.invite("other")
	if w := e.do(req{method: "POST", path: "/v1/connections", body: `{"roleArn":"` + customerRole2 + `"}`, auth: acme}); w.Code != 202 {
		t.Fatalf("setup submit: %d %s", w.Code, w.Body)
	}
	ctx := context.Background()
	c, err := e.mem.GetConnection(ctx, "acme", "444455556666")
	if err != nil {
		t.Fatal(err)
	}
	tr, err := connection.DefaultPolicy().Apply(c, connection.Outcome{ExternalIDCurrent: true, Result: connection.ResultOK, Version: c.Version, ExternalIDVersion: 1, CheckedAt: e.now})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.mem.Apply(ctx, tr); err != nil { // acme's connection is VERIFIED and holds the role
		t.Fatal(err)
	}

	shape := func(body []byte) (map[string]any, []string) {
		t.Helper()
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatalf("body %s: %v", body, err)
		}
		return m, slices.Sorted(maps.Keys(m))
	}
	tests := []struct{ name, arn string }{
		{"unclaimed role", customerRole},
		{"role another tenant holds", customerRole2},
		{"another spelling of it", "arn:aws:iam::444455556666:role/team/roleCALLaccess"},
	}
	var first []string
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := e.do(req{method: "POST", path: "/v1/connections", body: `{"roleArn":"` + tc.arn + `"}`, auth: other})
			if w.Code != 202 {
				t.Fatalf("status %d, want 202: %s", w.Code, w.Body)
			}
			m, keys := shape(w.Body.Bytes())
			if i == 0 {
				first = keys
			} else if !slices.Equal(keys, first) {
				t.Fatalf("body fields %v, want %v as for an unclaimed role", keys, first)
			}
			reason, _ := m["reason"].(map[string]any)
			if m["status"] != "PENDING" || reason["code"] != connection.CodeSubmitted {
				t.Fatalf("answered %v", m)
			}
		})
	}
}
