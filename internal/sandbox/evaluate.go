package sandbox

import "strings"

// evalContext is what a policy is evaluated in: the request, its caller,
// and the partition of the policy (the role's, the sandbox's), in which a
// bare account ID in a Principal names that account.
type evalContext struct {
	req       Request
	id        identity
	partition string
}

// value returns the request's value of a condition key and whether the key
// is present in the request context.
func (c evalContext) value(key string) (string, bool) {
	switch key {
	case KeyExternalID:
		return c.req.ExternalID, c.req.HasExternalID
	case KeyRoleSessionName:
		return c.req.RoleSessionName, c.req.RoleSessionName != ""
	case KeyPrincipalAccount:
		return c.id.account, true
	case KeyPrincipalARN:
		return c.id.principalARN(), true
	case KeyPrincipalOrgID:
		return c.req.PrincipalOrgID, c.req.PrincipalOrgID != ""
	case KeyResourceAccount:
		return c.req.ResourceAccount, c.req.ResourceAccount != ""
	case KeyResourceOrgID:
		return c.req.ResourceOrgID, c.req.ResourceOrgID != ""
	case KeySecureTransport:
		// STS endpoints answer HTTPS only, so every request IAM evaluates
		// for an STS call came over TLS.
		return "true", true
	case KeyMultiFactorAuth:
		// Present only for temporary credentials (role sessions), and
		// "false" there: the sandbox issues no MFA-authenticated sessions.
		// Long-term credentials (users, root) carry no such key.
		if c.id.kind == kindRole || c.id.kind == kindSession {
			return "false", true
		}
		return "", false
	}
	return "", false
}

// evaluate decides the request in c against the policy: ExplicitDeny when
// a Deny statement applies, else Allow when an Allow statement applies,
// else ImplicitDeny; for an identity-based policy the statement's Resource
// must match the request's. specific reports whether an
// applying Allow statement of a trust policy names the caller's own ARN
// (not "*" nor its account): within one account, that alone lets a
// principal assume the role, where an account principal also needs the
// caller's identity-based policy.
func (p *Policy) evaluate(c evalContext) (d Decision, specific bool) {
	allowed := false
	for _, st := range p.statements {
		m, ok := st.applies(c, p.identity)
		if !ok {
			continue
		}
		if !st.allow {
			return ExplicitDeny, false
		}
		allowed = true
		specific = specific || m == specificMatch
	}
	if allowed {
		return Allow, specific
	}
	return ImplicitDeny, false
}

func (st statement) applies(c evalContext, identityPolicy bool) (principalMatch, bool) {
	m := noMatch
	if identityPolicy {
		if !st.matchesResource(c.req.Resource) {
			return noMatch, false
		}
	} else if m = st.principals.match(c.id, c.partition); m == noMatch {
		return noMatch, false
	}
	action := strings.ToLower(c.req.Action)
	matched := false
	for _, a := range st.actions {
		if glob(a, action) {
			matched = true
			break
		}
	}
	if !matched {
		return noMatch, false
	}
	for _, cond := range st.conditions {
		if !cond.holds(c) {
			return noMatch, false
		}
	}
	return m, true
}
