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
// also the keys aws:ResourceAccount and aws:ResourceOrgID. Policy variables
// are as ParsePolicy takes them in conditions (Version 2012-10-17 only;
// literal text otherwise); in Resource a 2012-10-17 policy's variable is
// refused. NotResource, NotAction and Principal are refused.
func ParseIdentityPolicy(doc []byte) (*Policy, error) { return parseDocument(doc, true) }

// parseResources parses a Resource element. A "${" is refused in a
// 2012-10-17 policy, where it starts a policy variable the sandbox does not
// resolve in resources; in an older policy it is literal text, which no
// role ARN contains.
func parseResources(path string, v any, variables bool) ([]string, error) {
	vals, err := stringList(path, v, false)
	if err != nil {
		return nil, err
	}
	for _, r := range vals {
		if variables && strings.Contains(r, "${") {
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
