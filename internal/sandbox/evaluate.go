package sandbox

import "strings"

type evalContext struct {
	req Request
	id  identity
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

func (st statement) applies(c evalContext) bool {
	if !st.principals.matches(c.id) {
		return false
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
		return false
	}
	for _, cond := range st.conditions {
		if !cond.holds(c) {
			return false
		}
	}
	return true
}
