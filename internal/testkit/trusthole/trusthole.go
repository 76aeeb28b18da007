// Package trusthole renders the common ways of writing a trust policy that
// look as if they required the partner's external ID but do not: each is
// RoleCall's own trust policy (rolesetup.TrustPolicyDocument) with its
// condition replaced by a mistaken one. Tests load them into the sandbox STS
// to prove that RoleCall's probes catch every one; no production code needs
// them.
package trusthole

import (
	"encoding/json"

	"github.com/rolecall/rolecall/internal/rolesetup"
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
// principal: RoleCall's own trust policy (rolesetup.TrustPolicyDocument),
// Sid and all, with its condition replaced by the hole's, so that each reads
// like the real one and differs only where the mistake is. The holes that
// name an external ID name externalID. An unknown Hole renders the document
// with no condition.
func (h Hole) TrustPolicy(externalID, principal string) []byte {
	doc := rolesetup.TrustPolicyDocument(externalID, principal)
	doc.Statement[0].Condition = h.condition(externalID)
	b, _ := json.Marshal(doc) // strings and maps of strings always marshal
	return b
}

// condition is the hole's condition block in place of RoleCall's
// StringEquals on sts:ExternalId.
func (h Hole) condition(externalID string) map[string]map[string]string {
	const key = "sts:ExternalId"
	switch h {
	case IfExists:
		return map[string]map[string]string{"StringEqualsIfExists": {key: externalID}}
	case ForAllValues:
		return map[string]map[string]string{"ForAllValues:StringEquals": {key: externalID}}
	case PrefixWildcard:
		return map[string]map[string]string{"StringLike": {key: "rc-*"}}
	case Wildcard:
		return map[string]map[string]string{"StringLike": {key: "*"}}
	case NullFalse:
		return map[string]map[string]string{"Null": {key: "false"}}
	case ForAnyValue:
		return map[string]map[string]string{"ForAnyValue:StringLike": {key: "*"}}
	}
	return nil
}
