package sandbox

import (
	"strings"
)

// Condition operators the sandbox evaluates, as IAM names them (IAM User
// Guide, "IAM JSON policy elements: Condition operators"). Each may take the
// ...IfExists suffix (except Null) and the ForAnyValue:/ForAllValues: set
// qualifiers (except Null).
const (
	opStringEquals              = "StringEquals"
	opStringNotEquals           = "StringNotEquals"
	opStringEqualsIgnoreCase    = "StringEqualsIgnoreCase"
	opStringNotEqualsIgnoreCase = "StringNotEqualsIgnoreCase"
	opStringLike                = "StringLike"
	opStringNotLike             = "StringNotLike"
	opArnEquals                 = "ArnEquals"
	opArnLike                   = "ArnLike"
	opArnNotEquals              = "ArnNotEquals"
	opArnNotLike                = "ArnNotLike"
	opBool                      = "Bool"
	opNull                      = "Null"
)

// operators maps each base operator to whether it is negated (holds when
// the request's value matches none of the policy's values).
var operators = map[string]bool{
	opStringEquals: false, opStringNotEquals: true,
	opStringEqualsIgnoreCase: false, opStringNotEqualsIgnoreCase: true,
	opStringLike: false, opStringNotLike: true,
	opArnEquals: false, opArnLike: false, opArnNotEquals: true, opArnNotLike: true,
	opBool: false, opNull: false,
}

// unmodelledOperators are IAM operators the sandbox refuses: no key it models
// is a number, a date, an address or binary.
var unmodelledOperators = []string{"Numeric", "Date", "IpAddress", "NotIpAddress", "Binary"}

// Condition keys the sandbox knows, lower-cased (IAM keys are case-insensitive).
const (
	KeyExternalID       = "sts:externalid"
	KeyRoleSessionName  = "sts:rolesessionname"
	KeyPrincipalAccount = "aws:principalaccount"
	KeyPrincipalARN     = "aws:principalarn"
	KeyPrincipalOrgID   = "aws:principalorgid"
	KeySecureTransport  = "aws:securetransport"
	KeyMultiFactorAuth  = "aws:multifactorauthpresent"
	KeyResourceAccount  = "aws:resourceaccount"
	KeyResourceOrgID    = "aws:resourceorgid"
)

type keyType int

const (
	keyString keyType = iota + 1
	keyARN
	keyBool
)

// trustKeys are the keys a trust policy may test in the sandbox.
var trustKeys = map[string]keyType{
	KeyExternalID: keyString, KeyRoleSessionName: keyString,
	KeyPrincipalAccount: keyString, KeyPrincipalARN: keyARN, KeyPrincipalOrgID: keyString,
	KeySecureTransport: keyBool, KeyMultiFactorAuth: keyBool,
}

const trustKeyNames = "sts:ExternalId, sts:RoleSessionName, aws:PrincipalAccount, aws:PrincipalArn, aws:PrincipalOrgID, aws:SecureTransport and aws:MultiFactorAuthPresent"

type setQualifier int

const (
	setNone setQualifier = iota
	setAnyValue
	setAllValues
)

type condition struct {
	base     string // one of operators
	set      setQualifier
	ifExists bool
	key      string // lower-cased
	values   []string
	// variables: a value that is exactly "${key}" names a policy variable
	// (Version 2012-10-17); otherwise every value is literal text.
	variables bool
}

// parseOperator splits an operator name into its qualifier, base operator
// and IfExists suffix. ok is false for anything the sandbox does not
// evaluate.
func parseOperator(name string) (set setQualifier, base string, ifExists, ok bool) {
	base = name
	if rest, found := strings.CutPrefix(base, "ForAnyValue:"); found {
		set, base = setAnyValue, rest
	} else if rest, found := strings.CutPrefix(base, "ForAllValues:"); found {
		set, base = setAllValues, rest
	}
	if rest, found := strings.CutSuffix(base, "IfExists"); found {
		ifExists, base = true, rest
	}
	if _, known := operators[base]; !known {
		return 0, "", false, false
	}
	if base == opNull && (ifExists || set != setNone) {
		return 0, "", false, false
	}
	return set, base, ifExists, true
}

func parseConditions(path string, v any, keys map[string]keyType, keyNames string, variables bool) ([]condition, error) {
	obj, ok := v.(object)
	if !ok {
		return nil, invalid(path, "must be an object of condition operators")
	}
	var out []condition
	for _, kv := range obj {
		p := path + "." + kv.key
		set, base, ifExists, ok := parseOperator(kv.key)
		if !ok {
			for _, u := range unmodelledOperators {
				if strings.Contains(kv.key, u) {
					return nil, unsupported(p, "condition operator %q: no condition key the sandbox models takes %s operators", kv.key, u)
				}
			}
			if strings.HasPrefix(kv.key, "Null") || strings.HasSuffix(kv.key, ":Null") {
				return nil, invalid(p, "Null takes neither IfExists nor a set qualifier")
			}
			return nil, unsupported(p, "condition operator %q; the sandbox evaluates the String, Arn, Bool and Null operators, with IfExists and ForAnyValue:/ForAllValues:", kv.key)
		}
		keyObj, ok := kv.val.(object)
		if !ok || len(keyObj) == 0 {
			return nil, invalid(p, "must be an object of condition keys")
		}
		seen := map[string]bool{}
		for _, kkv := range keyObj {
			kp := p + "." + kkv.key
			key := strings.ToLower(kkv.key)
			if seen[key] {
				// Condition keys are case-insensitive: IAM does not say how
				// it reads one key given twice under an operator, and any
				// reading the sandbox chose could be more lenient than
				// IAM's (requiring both, in a Deny).
				return nil, unsupported(kp, "condition key %q is given twice under %s (condition keys are case-insensitive)", kkv.key, kv.key)
			}
			seen[key] = true
			kt, known := keys[key]
			if !known {
				return nil, unsupported(kp, "condition key %q; the sandbox evaluates %s", kkv.key, keyNames)
			}
			switch {
			case strings.HasPrefix(base, "Arn") && kt != keyARN:
				return nil, invalid(kp, "%s applies to ARN keys such as aws:PrincipalArn", base)
			case base == opBool && kt != keyBool:
				return nil, invalid(kp, "Bool applies to Boolean keys such as aws:SecureTransport")
			case strings.HasPrefix(base, "String") && kt == keyBool:
				return nil, unsupported(kp, "%s on the Boolean key %s; use Bool", base, kkv.key)
			}
			vals, err := stringList(kp, kkv.val, true)
			if err != nil {
				return nil, err
			}
			for _, s := range vals {
				if variables && strings.Contains(s, "${") {
					if _, ok := policyVariable(s); !ok || operators[base] || base == opNull || base == opBool {
						return nil, unsupported(kp, "policy variable %q: the sandbox resolves only a whole value ${aws:PrincipalOrgID}, ${aws:PrincipalAccount}, ${aws:ResourceAccount} or ${aws:ResourceOrgID}, with a String or Arn operator that is not negated", s)
					}
					continue
				}
				if (base == opNull || base == opBool) && s != "true" && s != "false" {
					return nil, invalid(kp, `%s takes "true" or "false"`, base)
				}
				if strings.HasPrefix(base, "Arn") && len(strings.SplitN(s, ":", 6)) != 6 {
					// The User Guide matches an ARN pattern part by part; it
					// does not say what a shorter one ("*") matches, and
					// taking it to match nothing would make a Deny lenient.
					return nil, unsupported(kp, "ARN pattern %q has fewer than the six colon-separated parts the sandbox matches part by part", s)
				}
			}
			out = append(out, condition{base: base, set: set, ifExists: ifExists, key: key, values: vals, variables: variables})
		}
	}
	return out, nil
}

// holds evaluates one operator/key pair on a single-valued key as the IAM
// User Guide describes:
//   - several values of a positive operator are ORed; a negated operator
//     holds when the request's value matches none of them;
//   - a key absent from the request context makes a positive operator false
//     and a negated one true ("Condition operators", Important);
//   - ...IfExists: an absent key makes the condition true, a present one is
//     tested as without the suffix;
//   - ForAnyValue: over an absent key is false; ForAllValues: over an absent
//     (empty) key is true. A present single-valued key is a set of one, so
//     both then behave as the plain operator ("Single-valued vs. multivalued
//     context keys");
//   - Null "true" holds when the key is absent, "false" when it is present.
func (cond condition) holds(c evalContext) bool {
	v, present := c.value(cond.key)
	if cond.base == opNull {
		for _, s := range cond.values {
			if (s == "true") == !present {
				return true
			}
		}
		return false
	}
	negated := operators[cond.base]
	if !present {
		switch {
		case cond.ifExists:
			return true
		case cond.set == setAnyValue:
			return false
		case cond.set == setAllValues:
			return true
		}
		return negated
	}
	matched := false
	for _, p := range cond.values {
		if key, ok := policyVariable(p); ok && cond.variables {
			// IAM substitutes the variable with the request's value of
			// its key; a key absent from the request matches nothing.
			if p, ok = c.value(key); !ok {
				continue
			}
		}
		if matchValue(cond.base, p, v) {
			matched = true
			break
		}
	}
	return matched != negated
}

// variableKeys are the keys a condition value may name as a policy
// variable, ${key}.
var variableKeys = map[string]bool{KeyPrincipalOrgID: true, KeyPrincipalAccount: true, KeyResourceAccount: true, KeyResourceOrgID: true}

// policyVariable returns the lower-cased key of a condition value that is
// exactly one policy variable of a key in variableKeys.
func policyVariable(v string) (string, bool) {
	inner, ok := strings.CutPrefix(v, "${")
	if !ok {
		return "", false
	}
	inner, ok = strings.CutSuffix(inner, "}")
	key := strings.ToLower(inner)
	if !ok || !variableKeys[key] {
		return "", false
	}
	return key, true
}

// matchValue compares one policy value p with the request's value v.
func matchValue(base, p, v string) bool {
	switch base {
	case opStringEquals, opStringNotEquals, opBool:
		return p == v
	case opStringEqualsIgnoreCase, opStringNotEqualsIgnoreCase:
		return strings.EqualFold(p, v)
	case opStringLike, opStringNotLike:
		return glob(p, v)
	case opArnEquals, opArnLike, opArnNotEquals, opArnNotLike:
		// The User Guide documents ArnEquals and ArnLike alike: each of the
		// six colon-separated parts is matched on its own, case-sensitively,
		// with * and ? wildcards.
		return arnLike(p, v)
	}
	return false
}

// glob matches s against pattern with * (any run) and ? (one character),
// in linear space and O(len(p)·len(s)) time at worst.
func glob(pattern, s string) bool {
	p, t := []rune(pattern), []rune(s)
	pi, ti := 0, 0
	star, mark := -1, 0
	for ti < len(t) {
		switch {
		case pi < len(p) && (p[pi] == '?' || p[pi] == t[ti]):
			pi++
			ti++
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, ti
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			ti = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

// arnLike matches an ARN against an ARN pattern component by component, as
// IAM's ArnLike and ArnEquals do: each of the six colon-separated parts is
// globbed on its own.
func arnLike(pattern, arn string) bool {
	pp := strings.SplitN(pattern, ":", 6)
	ap := strings.SplitN(arn, ":", 6)
	if len(pp) != 6 || len(ap) != 6 {
		return false
	}
	for i := range pp {
		if !glob(pp[i], ap[i]) {
			return false
		}
	}
	return true
}
