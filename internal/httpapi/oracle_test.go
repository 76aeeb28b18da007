package httpapi

import (
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
	acme := e.tenant("acme")
	e.tenant("other")
	other := "Invite " + e.invite("other")
	if c := e.submitAs(acme, customerRole2, connection.ResultOK); c.Status != connection.Verified {
		t.Fatalf("acme's connection must be VERIFIED and hold the role: %+v", c)
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
			keys, m := jsonKeys(t, w.Body.Bytes())
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
