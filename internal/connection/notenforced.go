package connection

// Details of an EXTERNAL_ID_NOT_ENFORCED outcome: which negative probe of the
// check assumed the role, and so which trust-policy mistake it is.
const (
	// NotEnforcedWithoutExternalID: the role was assumed without any
	// external ID. The sts:ExternalId condition is missing, or uses an
	// ...IfExists operator, which also holds when the key is absent.
	NotEnforcedWithoutExternalID = "ASSUMED_WITHOUT_EXTERNAL_ID"
	// NotEnforcedAnyExternalID: calls without an external ID were refused,
	// but a random one that is not the tenant's was accepted: a wildcard
	// (StringLike "*" or "rc-*"), Null {"sts:ExternalId": "false"} or a
	// ForAnyValue: condition.
	NotEnforcedAnyExternalID = "ASSUMED_WITH_ANY_EXTERNAL_ID"
)

// conditionToUse is the trust-policy condition every hint points to. It names
// the external ID by where the customer sees it rather than embedding it:
// reasons travel in events, and every event is written to a log group,
// where no external ID may appear.
const conditionToUse = `"Condition": {"StringEquals": {"sts:ExternalId": "<the external ID shown in the form>"}}`

// notEnforcedReason is the reason for EXTERNAL_ID_NOT_ENFORCED, with a hint
// that names the mistake the check's detail identified.
func notEnforcedReason(detail string) Reason {
	r := Reason{Code: string(ResultNotEnforced)}
	switch detail {
	case NotEnforcedWithoutExternalID:
		r.Message = "The role can be assumed without an external ID, so another customer of the partner could use it (confused deputy)."
		r.Hint = "The statement of the role's trust policy that trusts the partner has no sts:ExternalId condition, or uses an ...IfExists operator (which also matches a call without an external ID). " +
			"Use exactly " + conditionToUse + "."
	case NotEnforcedAnyExternalID:
		r.Message = "The role can be assumed with an external ID that is not yours, so another customer of the partner could use it (confused deputy)."
		r.Hint = `The role's sts:ExternalId condition accepts other values than yours: a wildcard (StringLike "*" or "rc-*"), Null {"sts:ExternalId": "false"} or a ForAnyValue: condition. ` +
			"Replace it with exactly " + conditionToUse + "."
	default:
		r.Message = "The role can be assumed without your external ID, so another customer of the partner could use it (confused deputy)."
		r.Hint = "Put exactly " + conditionToUse + " on the statement of the role's trust policy that trusts the partner."
	}
	return r
}
