package sandbox

import (
	"encoding/json"
)

// Hole names a common way of writing a trust policy that looks as if it
// required the partner's external ID but does not: each is valid IAM grammar,
// IAM evaluates it, and so does the sandbox. Tests load them into the sandbox
// to prove that RoleCall's probes catch every one.
type Hole string

// The holes. Each trusts the given principal for sts:AssumeRole; what it
// does with the external ID is in its name.
const (
	// HoleNoCondition has no condition at all.
	HoleNoCondition Hole = "no-condition"
	// HoleIfExists: StringEqualsIfExists on sts:ExternalId: a call without
	// an external ID makes the condition true.
	HoleIfExists Hole = "string-equals-if-exists"
	// HoleForAllValues: ForAllValues:StringEquals on the single-valued
	// sts:ExternalId: true when the key is absent.
	HoleForAllValues Hole = "for-all-values-string-equals"
	// HolePrefixWildcard: StringLike "rc-*": any ID of RoleCall's shape,
	// including another tenant's.
	HolePrefixWildcard Hole = "string-like-prefix"
	// HoleWildcard: StringLike "*": any external ID at all.
	HoleWildcard Hole = "string-like-star"
	// HoleNullFalse: Null "false": any external ID, as long as there is one.
	HoleNullFalse Hole = "null-false"
	// HoleForAnyValue: ForAnyValue:StringLike "*": any external ID.
	HoleForAnyValue Hole = "for-any-value-string-like"
)

// Holes lists every Hole.
var Holes = []Hole{HoleNoCondition, HoleIfExists, HoleForAllValues, HolePrefixWildcard, HoleWildcard, HoleNullFalse, HoleForAnyValue}

// AllowsWithoutExternalID reports whether IAM allows the trusted principal a
// call that carries no external ID (otherwise the hole lets in a call with
// any external ID but still needs one).
func (h Hole) AllowsWithoutExternalID() bool {
	switch h {
	case HoleNoCondition, HoleIfExists, HoleForAllValues:
		return true
	}
	return false
}

// AllowsAnyExternalID reports whether IAM allows the trusted principal a
// call with an external ID other than the one the policy was rendered with
// (a random decoy, another tenant's). Every hole allows one of the two.
func (h Hole) AllowsAnyExternalID() bool {
	switch h {
	case HoleIfExists, HoleForAllValues:
		return false
	}
	return true
}

// TrustPolicy renders the hole as a trust policy document trusting
// principal; the holes that name an external ID name externalID. An unknown
// Hole renders the document with no condition.
func (h Hole) TrustPolicy(externalID, principal string) []byte {
	var cond map[string]map[string]string
	switch h {
	case HoleIfExists:
		cond = map[string]map[string]string{"StringEqualsIfExists": {"sts:ExternalId": externalID}}
	case HoleForAllValues:
		cond = map[string]map[string]string{"ForAllValues:StringEquals": {"sts:ExternalId": externalID}}
	case HolePrefixWildcard:
		cond = map[string]map[string]string{"StringLike": {"sts:ExternalId": "rc-*"}}
	case HoleWildcard:
		cond = map[string]map[string]string{"StringLike": {"sts:ExternalId": "*"}}
	case HoleNullFalse:
		cond = map[string]map[string]string{"Null": {"sts:ExternalId": "false"}}
	case HoleForAnyValue:
		cond = map[string]map[string]string{"ForAnyValue:StringLike": {"sts:ExternalId": "*"}}
	}
	return trustDocument(principal, cond)
}

// EnforcedTrustPolicy is the trust policy RoleCall asks for: principal may
// assume the role only with exactly externalID (StringEquals).
func EnforcedTrustPolicy(externalID, principal string) []byte {
	return trustDocument(principal, map[string]map[string]string{"StringEquals": {"sts:ExternalId": externalID}})
}

func trustDocument(principal string, cond map[string]map[string]string) []byte {
	type stmt struct {
		Effect    string
		Principal map[string]string
		Action    string
		Condition map[string]map[string]string `json:",omitempty"`
	}
	doc := struct {
		Version   string
		Statement []stmt
	}{"2012-10-17", []stmt{{"Allow", map[string]string{"AWS": principal}, "sts:AssumeRole", cond}}}
	b, _ := json.Marshal(doc) // strings and maps of strings always marshal
	return b
}
