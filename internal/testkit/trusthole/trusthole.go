// Package trusthole renders the common ways of writing a trust policy that
// look as if they required the partner's external ID but do not. Tests load
// them into the sandbox STS to prove that RoleCall's probes catch every one;
// no production code needs them.
package trusthole

import (
	"encoding/json"
)

// Hole names a common way of writing a trust policy that looks as if it
// required the partner's external ID but does not: each is valid IAM grammar,
// IAM evaluates it, and so does the sandbox.
type Hole string

// The holes. Each trusts the given principal for sts:AssumeRole; what it
// does with the external ID is in its name.
const (
	// NoCondition has no condition at all.
	NoCondition Hole = "no-condition"
	// IfExists: StringEqualsIfExists on sts:ExternalId: a call without
	// an external ID makes the condition true.
	IfExists Hole = "string-equals-if-exists"
	// ForAllValues: ForAllValues:StringEquals on the single-valued
	// sts:ExternalId: true when the key is absent.
	ForAllValues Hole = "for-all-values-string-equals"
	// PrefixWildcard: StringLike "rc-*": any ID of RoleCall's shape,
	// including another tenant's.
	PrefixWildcard Hole = "string-like-prefix"
	// Wildcard: StringLike "*": any external ID at all.
	Wildcard Hole = "string-like-star"
	// NullFalse: Null "false": any external ID, as long as there is one.
	NullFalse Hole = "null-false"
	// ForAnyValue: ForAnyValue:StringLike "*": any external ID.
	ForAnyValue Hole = "for-any-value-string-like"
)

// All lists every Hole.
var All = []Hole{NoCondition, IfExists, ForAllValues, PrefixWildcard, Wildcard, NullFalse, ForAnyValue}

// AllowsWithoutExternalID reports whether IAM allows the trusted principal a
// call that carries no external ID (otherwise the hole lets in a call with
// any external ID but still needs one).
func (h Hole) AllowsWithoutExternalID() bool {
	switch h {
	case NoCondition, IfExists, ForAllValues:
		return true
	}
	return false
}

// AllowsAnyExternalID reports whether IAM allows the trusted principal a
// call with an external ID other than the one the policy was rendered with
// (a random decoy, another tenant's). Every hole allows one of the two.
func (h Hole) AllowsAnyExternalID() bool {
	switch h {
	case IfExists, ForAllValues:
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
	case IfExists:
		cond = map[string]map[string]string{"StringEqualsIfExists": {"sts:ExternalId": externalID}}
	case ForAllValues:
		cond = map[string]map[string]string{"ForAllValues:StringEquals": {"sts:ExternalId": externalID}}
	case PrefixWildcard:
		cond = map[string]map[string]string{"StringLike": {"sts:ExternalId": "rc-*"}}
	case Wildcard:
		cond = map[string]map[string]string{"StringLike": {"sts:ExternalId": "*"}}
	case NullFalse:
		cond = map[string]map[string]string{"Null": {"sts:ExternalId": "false"}}
	case ForAnyValue:
		cond = map[string]map[string]string{"ForAnyValue:StringLike": {"sts:ExternalId": "*"}}
	}
	return trustDocument(principal, cond)
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
