package trusthole

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestEveryHoleTrustsThePrincipal: each hole is one Allow of sts:AssumeRole
// to the principal, names the external ID only where its condition tests
// it, and lets in at least one call a negative probe makes. (The sandbox's
// tests evaluate each one as IAM would.)
func TestEveryHoleTrustsThePrincipal(t *testing.T) {
	const extID, principal = "rc-EXTERNALIDEXTERNALIDEXTERNALID", "arn:aws:iam::111122223333:role/RoleCallAccess"
	seen := map[Hole]bool{}
	for _, h := range All {
		if seen[h] {
			t.Fatalf("%s listed twice", h)
		}
		seen[h] = true
		var doc struct {
			Version   string
			Statement []struct {
				Effect    string
				Principal map[string]string
				Action    string
				Condition map[string]map[string]string
			}
		}
		raw := h.TrustPolicy(extID, principal)
		if err := json.Unmarshal(raw, &doc); err != nil || len(doc.Statement) != 1 {
			t.Fatalf("%s: %s, %v", h, raw, err)
		}
		s := doc.Statement[0]
		if doc.Version != "2012-10-17" || s.Effect != "Allow" || s.Principal["AWS"] != principal || s.Action != "sts:AssumeRole" {
			t.Errorf("%s: %s", h, raw)
		}
		if (h == NoCondition) != (s.Condition == nil) {
			t.Errorf("%s: condition %v", h, s.Condition)
		}
		names := h == IfExists || h == ForAllValues
		if strings.Contains(string(raw), extID) != names {
			t.Errorf("%s: names the external ID: %v, want %v", h, !names, names)
		}
		if !h.AllowsWithoutExternalID() && !h.AllowsAnyExternalID() {
			t.Errorf("%s lets in neither negative probe", h)
		}
	}
}
