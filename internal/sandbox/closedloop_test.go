package sandbox_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/probe"
	"github.com/rolecall/rolecall/internal/rolesetup"
	"github.com/rolecall/rolecall/internal/sandbox"
)

// TestClosedLoop proves infra/customer-role.yaml against the real checks:
// the trust policy the template creates (rendered from the template file by
// rolesetup.TrustPolicy) is loaded into the sandbox, and probe.Checker runs
// through the sandbox, over HTTP with the real SDK and embedded.
func TestClosedLoop(t *testing.T) {
	const tenantExtID = "rc-CLOSEDLOOPCLOSEDLOOPCLOSEDLOOP2"

	render := func(t *testing.T, extID, principal string) []byte {
		t.Helper()
		doc, err := rolesetup.TrustPolicy(extID, principal)
		if err != nil {
			t.Fatalf("render trust policy: %v", err)
		}
		return doc
	}
	withoutCondition := func(t *testing.T, doc []byte) []byte {
		t.Helper()
		var p map[string]any
		if err := json.Unmarshal(doc, &p); err != nil {
			t.Fatal(err)
		}
		for _, st := range p["Statement"].([]any) {
			delete(st.(map[string]any), "Condition")
		}
		out, _ := json.Marshal(p)
		return out
	}

	tests := []struct {
		name   string
		policy func(t *testing.T) []byte
		caller string // the checker's principal
		extID  string // the external ID the check uses
		setup  func(s *sandbox.STS)
		want   connection.Result
		steps  []bool // OK of each step
	}{
		{"template as rendered", func(t *testing.T) []byte { return render(t, tenantExtID, partnerRole) },
			partnerRole, tenantExtID, nil, connection.ResultOK, []bool{true, true, true, true}},
		{"external-ID condition removed", func(t *testing.T) []byte { return withoutCondition(t, render(t, tenantExtID, partnerRole)) },
			partnerRole, tenantExtID, nil, connection.ResultNotEnforced, []bool{true, true, false, false}},
		{"wrong external ID", func(t *testing.T) []byte { return render(t, tenantExtID, partnerRole) },
			partnerRole, "rc-SOMEOTHERTENANTSEXTERNALID", nil, connection.ResultDenied, []bool{false, true, true}},
		{"principal of another account", func(t *testing.T) []byte { return render(t, tenantExtID, partnerRole) },
			otherRole, tenantExtID, nil, connection.ResultDenied, []bool{false, true, true}},
		{"template rendered for another partner", func(t *testing.T) []byte {
			return render(t, tenantExtID, "arn:aws:iam::444455556666:role/RoleCallVerifier")
		},
			partnerRole, tenantExtID, nil, connection.ResultDenied, []bool{false, true, true}},
		{"role not created yet", nil,
			partnerRole, tenantExtID, nil, connection.ResultDenied, []bool{false, true, true}},
		{"STS region not activated", func(t *testing.T) []byte { return render(t, tenantExtID, partnerRole) },
			partnerRole, tenantExtID, func(s *sandbox.STS) { s.SetRegionDisabled(customer, "us-east-1", true) }, connection.ResultRegionDisabled, []bool{false, false, false}},
	}
	for _, ad := range adapters() {
		t.Run(ad.name, func(t *testing.T) {
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					s := sandbox.New(sandbox.Config{Callers: map[string]string{partnerKey: partnerRole, otherKey: otherRole}})
					if tt.policy != nil {
						if err := s.PutRole(roleARN, tt.policy(t)); err != nil {
							t.Fatalf("PutRole: %v", err)
						}
					}
					if tt.setup != nil {
						tt.setup(s)
					}
					c := &probe.Checker{
						STS:       ad.make(t, s, tt.caller),
						Attempts:  1,
						BaseDelay: time.Millisecond,
						Budget:    5 * time.Second,
						Log:       slog.New(slog.NewTextHandler(io.Discard, nil)),
					}
					rep := c.Check(context.Background(), probe.Request{
						TenantID: "acme", AccountID: customer, RoleARN: roleARN, ExternalID: tt.extID, ExternalIDVersion: 1, Version: 1,
					})
					if rep.Outcome.Result != tt.want {
						t.Fatalf("outcome %s, want %s (steps %+v)", rep.Outcome.Result, tt.want, rep.Steps)
					}
					if len(rep.Steps) != len(tt.steps) {
						t.Fatalf("steps %+v, want %d", rep.Steps, len(tt.steps))
					}
					for i, ok := range tt.steps {
						if rep.Steps[i].OK != ok {
							t.Errorf("step %q OK=%v, want %v", rep.Steps[i].Name, rep.Steps[i].OK, ok)
						}
					}
				})
			}
		})
	}
}
