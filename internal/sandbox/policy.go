package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrUnsupported marks a trust policy that uses IAM grammar the sandbox does
// not evaluate. Such a policy is refused when it is loaded, never evaluated
// as a silent allow or deny; test with errors.Is.
var ErrUnsupported = errors.New("unsupported trust policy grammar")

// ErrInvalidPolicy marks a trust policy that is not valid IAM policy grammar.
var ErrInvalidPolicy = errors.New("invalid trust policy")

// PolicyError is a refused trust policy: where in the document, and why.
type PolicyError struct {
	Kind error  // ErrUnsupported or ErrInvalidPolicy
	Path string // e.g. Statement[0].Condition.StringEquals
	Msg  string
}

func (e *PolicyError) Error() string {
	if e.Path == "" {
		return fmt.Sprintf("%v: %s", e.Kind, e.Msg)
	}
	return fmt.Sprintf("%v: %s: %s", e.Kind, e.Path, e.Msg)
}

func (e *PolicyError) Unwrap() error { return e.Kind }

func invalid(path, format string, args ...any) error {
	return &PolicyError{Kind: ErrInvalidPolicy, Path: path, Msg: fmt.Sprintf(format, args...)}
}

func unsupported(path, format string, args ...any) error {
	return &PolicyError{Kind: ErrUnsupported, Path: path, Msg: fmt.Sprintf(format, args...)}
}

// Policy is a parsed trust policy (ParsePolicy) or identity-based policy
// (ParseIdentityPolicy). It is immutable and safe for concurrent use.
type Policy struct {
	identity   bool // an identity-based policy: Resource, no Principal
	statements []statement
}

// versionWithVariables is the policy language version that introduced
// policy variables (IAM User Guide, "IAM JSON policy elements: Version"):
// in "2008-10-17", also the version of a document without the element,
// "${...}" is literal text.
const versionWithVariables = "2012-10-17"

type statement struct {
	allow      bool
	principals principalSet // trust policies
	resources  []string     // identity policies: "*" or six-part ARN patterns
	actions    []string     // lower-cased patterns
	conditions []condition
}

// Request is the context a trust policy is evaluated in.
type Request struct {
	// Principal is the caller as IAM sees it: an IAM user or role ARN, the
	// account root, or an assumed-role session ARN.
	Principal string
	// Action is the STS action, e.g. "sts:AssumeRole".
	Action string
	// ExternalID is the sts:ExternalId of the call; HasExternalID says
	// whether the call carried one.
	ExternalID    string
	HasExternalID bool
	// RoleSessionName is the sts:RoleSessionName of the call.
	RoleSessionName string
	// PrincipalOrgID is the aws:PrincipalOrgID of the caller: the ID of the
	// AWS Organization its account belongs to; empty (the key is absent)
	// when the account is in none.
	PrincipalOrgID string
	// ResourceAccount and ResourceOrgID are aws:ResourceAccount and
	// aws:ResourceOrgID of the role being assumed; identity policies test
	// them. An empty ResourceOrgID is absent.
	ResourceAccount string
	ResourceOrgID   string
	// Resource is the ARN of the role being assumed; identity policies
	// match it against their Resource element.
	Resource string
}

// Decision is the result of evaluating a trust policy.
type Decision int

// Decisions. IAM's evaluation: an explicit deny wins over any allow; without
// an applicable allow the request is implicitly denied.
const (
	ImplicitDeny Decision = iota
	Allow
	ExplicitDeny
)

func (d Decision) String() string {
	switch d {
	case Allow:
		return "Allow"
	case ExplicitDeny:
		return "ExplicitDeny"
	}
	return "ImplicitDeny"
}

// ParsePolicy parses and validates a trust policy document. The text must
// be UTF-8 of the characters IAM accepts in a policy (tab, line feed,
// carriage return, U+0020 to U+00FF) and at most MaxTrustPolicyChars long,
// whitespace not counted (checkDocumentText). It accepts the
// IAM grammar a role trust policy uses: Version, Id, Statement (object or
// list) with Sid, Effect (Allow|Deny), Principal ("*" or {"AWS": account ID,
// arn:…:root, role/user/assumed-role ARN or "*", string or list}; "Service"
// and "Federated" principals are accepted and never match an IAM caller),
// Action (string or list, wildcards * and ?), and Condition with the
// operators StringEquals, StringNotEquals, StringEqualsIgnoreCase,
// StringNotEqualsIgnoreCase, StringLike, StringNotLike, ArnEquals, ArnLike,
// ArnNotEquals, ArnNotLike and Bool, each also with the IfExists suffix and
// the ForAnyValue:/ForAllValues: qualifiers, and Null, on the keys
// sts:ExternalId, sts:RoleSessionName, aws:PrincipalAccount,
// aws:PrincipalArn, aws:PrincipalOrgID, aws:SecureTransport and
// aws:MultiFactorAuthPresent. In a policy of Version 2012-10-17, a
// condition value may be exactly one of the policy variables
// ${aws:PrincipalOrgID}, ${aws:PrincipalAccount}, ${aws:ResourceAccount} or
// ${aws:ResourceOrgID} under a String or Arn operator that is not negated,
// and is replaced with the request's value of that key; in a policy of
// Version 2008-10-17 or without a Version, "${...}" is literal text, as IAM
// treats it (IAM User Guide, "IAM JSON policy elements: Version"). Anything
// else (NotPrincipal, NotAction, numeric, date, address and binary
// operators, other policy variables or variables inside a value, other
// keys) is refused with an error wrapping ErrUnsupported; malformed
// documents with one wrapping ErrInvalidPolicy. Grammar IAM accepts is evaluated as IAM
// evaluates it, holes included: a document that accepts any external ID
// parses, so that a test can show the hole.
func ParsePolicy(doc []byte) (*Policy, error) { return parseDocument(doc, false) }

func parseDocument(doc []byte, identityPolicy bool) (*Policy, error) {
	limit := MaxTrustPolicyChars
	if identityPolicy {
		limit = MaxPolicyChars
	}
	if err := checkDocumentText(doc, limit); err != nil {
		return nil, err
	}
	v, err := decodeStrict(doc)
	var pe *PolicyError
	if errors.As(err, &pe) {
		return nil, pe
	}
	if err != nil {
		return nil, invalid("", "%v", err)
	}
	root, ok := v.(object)
	if !ok {
		return nil, invalid("", "the document must be a JSON object")
	}
	p := &Policy{identity: identityPolicy}
	var stmts []any
	variables := false // until a Version 2012-10-17 element
	for _, kv := range root {
		switch kv.key {
		case "Version":
			s, ok := kv.val.(string)
			if !ok || (s != versionWithVariables && s != "2008-10-17") {
				return nil, invalid("Version", `must be "2012-10-17" (or "2008-10-17")`)
			}
			variables = s == versionWithVariables
		case "Id":
			if _, ok := kv.val.(string); !ok {
				return nil, invalid("Id", "must be a string")
			}
		case "Statement":
			switch s := kv.val.(type) {
			case object:
				stmts = []any{s}
			case []any:
				stmts = s
			default:
				return nil, invalid("Statement", "must be an object or a list of objects")
			}
		default:
			return nil, invalid(kv.key, "unknown policy element")
		}
	}
	if root.get("Statement") == nil {
		return nil, invalid("", "the document has no Statement")
	}
	sids := map[string]bool{}
	for i, raw := range stmts {
		path := fmt.Sprintf("Statement[%d]", i)
		obj, ok := raw.(object)
		if !ok {
			return nil, invalid(path, "a statement must be an object")
		}
		// IAM: a Sid is unique within its policy (an empty one is none).
		if sid, _ := obj.get("Sid").(string); sid != "" {
			if sids[sid] {
				return nil, invalid(path+".Sid", "Statement IDs (SID) in a single policy must be unique")
			}
			sids[sid] = true
		}
		st, err := parseStatement(path, obj, identityPolicy, variables)
		if err != nil {
			return nil, err
		}
		p.statements = append(p.statements, st)
	}
	return p, nil
}

func parseStatement(path string, obj object, identityPolicy, variables bool) (statement, error) {
	var st statement
	keys, keyNames := trustKeys, trustKeyNames
	required := []string{"Effect", "Principal", "Action"}
	if identityPolicy {
		keys, keyNames = identityKeys, identityKeyNames
		required = []string{"Effect", "Action", "Resource"}
	}
	seen := map[string]bool{}
	for _, kv := range obj {
		seen[kv.key] = true
		p := path + "." + kv.key
		var err error
		switch kv.key {
		case "Sid":
			// IAM takes ASCII letters and digits only.
			sid, ok := kv.val.(string)
			if !ok || !sidChars(sid) {
				return st, invalid(p, "must be alpha-numeric: Statement IDs (SID) match [0-9A-Za-z]*")
			}
		case "Effect":
			switch kv.val {
			case "Allow":
				st.allow = true
			case "Deny":
			default:
				return st, invalid(p, `must be "Allow" or "Deny"`)
			}
		case "Principal", "NotPrincipal":
			if identityPolicy {
				return st, invalid(p, "an identity-based policy has no %s (the principal is the identity it is attached to)", kv.key)
			}
			if kv.key == "NotPrincipal" {
				return st, unsupported(p, "the sandbox does not evaluate NotPrincipal; use Principal (and a Deny statement)")
			}
			st.principals, err = parsePrincipal(p, kv.val)
		case "Action":
			st.actions, err = parseActions(p, kv.val)
		case "Condition":
			st.conditions, err = parseConditions(p, kv.val, keys, keyNames, variables)
		case "NotAction":
			return st, unsupported(p, "the sandbox does not evaluate NotAction; use Action (and a Deny statement)")
		case "Resource", "NotResource":
			if !identityPolicy {
				return st, invalid(p, "a trust policy has no %s (the role itself is the resource)", kv.key)
			}
			if kv.key == "NotResource" {
				return st, unsupported(p, "the sandbox does not evaluate NotResource; use Resource (and a Deny statement)")
			}
			st.resources, err = parseResources(p, kv.val, variables)
		default:
			return st, invalid(p, "unknown statement element")
		}
		if err != nil {
			return st, err
		}
	}
	for _, k := range required {
		if !seen[k] {
			return st, invalid(path, "the statement has no %s", k)
		}
	}
	return st, nil
}

func parseActions(path string, v any) ([]string, error) {
	vals, err := stringList(path, v, false)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(vals))
	for _, a := range vals {
		if a != "*" {
			svc, name, ok := strings.Cut(a, ":")
			if !ok || svc == "" || name == "" || strings.ContainsAny(svc, "*?") || !actionChars(svc) || !actionChars(name) {
				return nil, invalid(path, "action %q is not <service>:<action>", a)
			}
		}
		out = append(out, strings.ToLower(a))
	}
	return out, nil
}

// sidChars reports whether s holds ASCII letters and digits only.
func sidChars(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func actionChars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '*' || c == '?') {
			return false
		}
	}
	return true
}

// stringList accepts a string or a non-empty list of strings; scalars
// (numbers, booleans) are accepted as their text when scalars is set, as IAM
// does for condition values.
func stringList(path string, v any, scalars bool) ([]string, error) {
	one := func(x any) (string, bool) {
		switch t := x.(type) {
		case string:
			return t, true
		case json.Number:
			return t.String(), scalars
		case bool:
			return strconv.FormatBool(t), scalars
		}
		return "", false
	}
	if s, ok := one(v); ok {
		return []string{s}, nil
	}
	list, ok := v.([]any)
	if !ok || len(list) == 0 {
		return nil, invalid(path, "must be a string or a non-empty list of strings")
	}
	out := make([]string, 0, len(list))
	for _, x := range list {
		s, ok := one(x)
		if !ok {
			return nil, invalid(path, "must be a string or a non-empty list of strings")
		}
		out = append(out, s)
	}
	return out, nil
}
