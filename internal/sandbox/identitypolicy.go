package sandbox

import (
	"strings"
)

// identityKeys are the keys an identity-based policy may test in the
// sandbox: the trust policy's, and the resource's account and organization.
var identityKeys = map[string]keyType{
	KeyExternalID: keyString, KeyRoleSessionName: keyString,
	KeyPrincipalAccount: keyString, KeyPrincipalARN: keyARN, KeyPrincipalOrgID: keyString,
	KeySecureTransport: keyBool, KeyMultiFactorAuth: keyBool,
	KeyResourceAccount: keyString, KeyResourceOrgID: keyString,
}

const identityKeyNames = trustKeyNames + ", aws:ResourceAccount and aws:ResourceOrgID"

// ParseIdentityPolicy parses and validates an identity-based policy (a
// policy attached to the calling user or role, or a session policy): the
// grammar ParsePolicy takes, with Resource ("*" or ARN patterns of six
// colon-separated parts, wildcards in each part) instead of Principal, and
// also the keys aws:ResourceAccount and aws:ResourceOrgID. Condition values
// may be exactly one of the policy variables ${aws:PrincipalOrgID},
// ${aws:PrincipalAccount}, ${aws:ResourceAccount} or ${aws:ResourceOrgID}.
// NotResource, NotAction and Principal are refused.
func ParseIdentityPolicy(doc []byte) (*Policy, error) { return parseDocument(doc, true) }

func parseResources(path string, v any) ([]string, error) {
	vals, err := stringList(path, v, false)
	if err != nil {
		return nil, err
	}
	for _, r := range vals {
		if strings.Contains(r, "${") {
			return nil, unsupported(path, "policy variables in Resource (%q)", r)
		}
		if r != "*" && len(strings.SplitN(r, ":", 6)) != 6 || !strings.HasPrefix(r, "arn:") && r != "*" {
			return nil, invalid(path, "resource %q is neither \"*\" nor an ARN of six colon-separated parts", r)
		}
	}
	return vals, nil
}

// matchesResource matches the role ARN against the statement's Resource
// patterns: "*" matches every resource; an ARN pattern is matched part by
// part, * and ? within each part, case-sensitively.
func (st statement) matchesResource(arn string) bool {
	for _, r := range st.resources {
		if r == "*" || arnLike(r, arn) {
			return true
		}
	}
	return false
}
