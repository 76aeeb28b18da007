package trusthole

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/rolecall/rolecall/internal/rolesetup"
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

// TestEveryHoleLooksLikeTheRealPolicy: each hole is RoleCall's trust policy
// (rolesetup.TrustPolicyDocument) with another condition and nothing else
// changed, so it reads as if it enforced the external ID.
func TestEveryHoleLooksLikeTheRealPolicy(t *testing.T) {
	const extID, principal = "rc-EXTERNALIDEXTERNALIDEXTERNALID", "arn:aws:iam::111122223333:role/RoleCallAccess"
	genuine := rolesetup.TrustPolicyDocument(extID, principal)
	for _, h := range All {
		raw := h.TrustPolicy(extID, principal)
		var doc rolesetup.Policy
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&doc); err != nil || len(doc.Statement) != 1 {
			t.Fatalf("%s: %s, %v", h, raw, err)
		}
		if reflect.DeepEqual(doc.Statement[0].Condition, genuine.Statement[0].Condition) {
			t.Errorf("%s has the real condition", h)
		}
		if h == NoCondition && bytes.Contains(raw, []byte(`"Condition"`)) {
			t.Errorf("%s has a Condition key: %s", h, raw)
		}
		doc.Statement[0].Condition = genuine.Statement[0].Condition
		if !bytes.Equal(doc.JSON(), genuine.JSON()) {
			t.Errorf("%s differs from the real policy beyond its condition:\n%s", h, raw)
		}
	}
}
