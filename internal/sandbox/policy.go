package sandbox

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"

	"github.com/rolecall/rolecall/internal/rolearn"
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

// MaxPolicyChars is the largest trust policy IAM accepts (characters other
// than whitespace, after a quota increase; the default quota is 2048).
const MaxPolicyChars = 4096

// Policy is a parsed trust policy. It is immutable and safe for concurrent use.
type Policy struct {
	statements []statement
}

type statement struct {
	allow      bool
	principals principalSet
	actions    []string // lower-cased patterns
	conditions []condition
}

type principalSet struct {
	any      bool
	accounts []string // "<partition>:<account>" ("*:<account>" for a bare account ID)
	roles    []string // "<partition>:<account>/<lower-case role name>"
	exact    []string // user and assumed-role session ARNs
}

// Condition operators the sandbox evaluates.
const (
	opStringEquals    = "StringEquals"
	opStringNotEquals = "StringNotEquals"
	opStringLike      = "StringLike"
	opStringNotLike   = "StringNotLike"
	opArnEquals       = "ArnEquals"
	opArnLike         = "ArnLike"
	opNull            = "Null"
)

var operators = map[string]bool{opStringEquals: true, opStringNotEquals: true, opStringLike: true, opStringNotLike: true, opArnEquals: true, opArnLike: true, opNull: true}

// Condition keys the sandbox knows, lower-cased (IAM keys are case-insensitive).
const (
	KeyExternalID       = "sts:externalid"
	KeyRoleSessionName  = "sts:rolesessionname"
	KeyPrincipalAccount = "aws:principalaccount"
	KeyPrincipalARN     = "aws:principalarn"
)

var conditionKeys = map[string]bool{KeyExternalID: true, KeyRoleSessionName: true, KeyPrincipalAccount: true, KeyPrincipalARN: true}

type condition struct {
	op     string
	key    string
	values []string
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

// ParsePolicy parses and validates a trust policy document. It accepts the
// IAM grammar a role trust policy uses: Version, Id, Statement (object or
// list) with Sid, Effect (Allow|Deny), Principal ("*" or {"AWS": account ID,
// arn:…:root, role/user/assumed-role ARN or "*", string or list}; "Service"
// and "Federated" principals are accepted and never match an IAM caller),
// Action (string or list, wildcards * and ?), and Condition with the
// operators StringEquals, StringNotEquals, StringLike, StringNotLike,
// ArnEquals, ArnLike and Null on the keys sts:ExternalId,
// sts:RoleSessionName, aws:PrincipalAccount and aws:PrincipalArn. Anything
// else (NotPrincipal, NotAction, set operators, IfExists, policy variables,
// other keys) is refused with an error wrapping ErrUnsupported; malformed
// documents with one wrapping ErrInvalidPolicy.
func ParsePolicy(doc []byte) (*Policy, error) {
	n := 0
	for _, r := range string(doc) {
		if !unicode.IsSpace(r) {
			n++
		}
	}
	if n > MaxPolicyChars {
		return nil, invalid("", "the document has %d characters, IAM allows at most %d", n, MaxPolicyChars)
	}
	v, err := decodeStrict(doc)
	if err != nil {
		return nil, invalid("", "%v", err)
	}
	root, ok := v.(object)
	if !ok {
		return nil, invalid("", "the document must be a JSON object")
	}
	p := &Policy{}
	var stmts []any
	for _, kv := range root {
		switch kv.key {
		case "Version":
			s, ok := kv.val.(string)
			if !ok || (s != "2012-10-17" && s != "2008-10-17") {
				return nil, invalid("Version", `must be "2012-10-17" (or "2008-10-17")`)
			}
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
	for i, raw := range stmts {
		path := fmt.Sprintf("Statement[%d]", i)
		obj, ok := raw.(object)
		if !ok {
			return nil, invalid(path, "a statement must be an object")
		}
		st, err := parseStatement(path, obj)
		if err != nil {
			return nil, err
		}
		p.statements = append(p.statements, st)
	}
	return p, nil
}

func parseStatement(path string, obj object) (statement, error) {
	var st statement
	seen := map[string]bool{}
	for _, kv := range obj {
		seen[kv.key] = true
		p := path + "." + kv.key
		var err error
		switch kv.key {
		case "Sid":
			if _, ok := kv.val.(string); !ok {
				return st, invalid(p, "must be a string")
			}
		case "Effect":
			switch kv.val {
			case "Allow":
				st.allow = true
			case "Deny":
			default:
				return st, invalid(p, `must be "Allow" or "Deny"`)
			}
		case "Principal":
			st.principals, err = parsePrincipal(p, kv.val)
		case "Action":
			st.actions, err = parseActions(p, kv.val)
		case "Condition":
			st.conditions, err = parseConditions(p, kv.val)
		case "NotPrincipal", "NotAction":
			return st, unsupported(p, "the sandbox does not evaluate %s; use Principal/Action (and a Deny statement)", kv.key)
		case "Resource", "NotResource":
			return st, invalid(p, "a trust policy has no %s (the role itself is the resource)", kv.key)
		default:
			return st, invalid(p, "unknown statement element")
		}
		if err != nil {
			return st, err
		}
	}
	for _, k := range []string{"Effect", "Principal", "Action"} {
		if !seen[k] {
			return st, invalid(path, "the statement has no %s", k)
		}
	}
	return st, nil
}

func parsePrincipal(path string, v any) (principalSet, error) {
	var ps principalSet
	if s, ok := v.(string); ok {
		if s != "*" {
			return ps, invalid(path, `a string principal must be "*"; use {"AWS": "<ARN or account ID>"}`)
		}
		ps.any = true
		return ps, nil
	}
	obj, ok := v.(object)
	if !ok || len(obj) == 0 {
		return ps, invalid(path, `must be "*" or an object such as {"AWS": "<ARN or account ID>"}`)
	}
	for _, kv := range obj {
		p := path + "." + kv.key
		vals, err := stringList(p, kv.val, false)
		if err != nil {
			return ps, err
		}
		switch kv.key {
		case "AWS":
			for _, s := range vals {
				if err := ps.add(p, s); err != nil {
					return ps, err
				}
			}
		case "Service", "Federated":
			// Valid grammar; such principals are never an IAM caller, so
			// they never match in the sandbox (as in IAM for AssumeRole
			// called with IAM credentials).
		default:
			return ps, unsupported(p, `principal type %q; the sandbox evaluates "AWS" principals`, kv.key)
		}
	}
	return ps, nil
}

func (ps *principalSet) add(path, s string) error {
	if s == "*" {
		ps.any = true
		return nil
	}
	if rolearn.IsAccountID(s) {
		ps.accounts = append(ps.accounts, "*:"+s)
		return nil
	}
	if strings.ContainsAny(s, "*?") {
		return invalid(path, "principal %q: IAM principals take no wildcards except \"*\" alone", s)
	}
	id, err := parseIdentity(s)
	if err != nil {
		return invalid(path, "principal %q: %v", s, err)
	}
	switch id.kind {
	case kindRoot:
		ps.accounts = append(ps.accounts, id.partition+":"+id.account)
	case kindRole:
		ps.roles = append(ps.roles, id.roleKey())
	default:
		ps.exact = append(ps.exact, s)
	}
	return nil
}

func (ps principalSet) matches(id identity) bool {
	if ps.any {
		return true
	}
	for _, a := range ps.accounts {
		if a == id.partition+":"+id.account || a == "*:"+id.account {
			return true
		}
	}
	if id.kind == kindRole || id.kind == kindSession {
		for _, r := range ps.roles {
			if r == id.roleKey() {
				return true
			}
		}
	}
	for _, e := range ps.exact {
		if e == id.arn {
			return true
		}
	}
	return false
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

func actionChars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '*' || c == '?') {
			return false
		}
	}
	return true
}

func parseConditions(path string, v any) ([]condition, error) {
	obj, ok := v.(object)
	if !ok {
		return nil, invalid(path, "must be an object of condition operators")
	}
	var out []condition
	for _, kv := range obj {
		p := path + "." + kv.key
		op := kv.key
		if !operators[op] {
			return nil, unsupported(p, "condition operator %q; the sandbox evaluates StringEquals, StringNotEquals, StringLike, StringNotLike, ArnEquals, ArnLike and Null (without ForAnyValue:/ForAllValues: or IfExists)", op)
		}
		keys, ok := kv.val.(object)
		if !ok || len(keys) == 0 {
			return nil, invalid(p, "must be an object of condition keys")
		}
		for _, kkv := range keys {
			kp := p + "." + kkv.key
			key := strings.ToLower(kkv.key)
			if !conditionKeys[key] {
				return nil, unsupported(kp, "condition key %q; the sandbox evaluates sts:ExternalId, sts:RoleSessionName, aws:PrincipalAccount and aws:PrincipalArn", kkv.key)
			}
			if (op == opArnEquals || op == opArnLike) && key != KeyPrincipalARN {
				return nil, invalid(kp, "%s applies to ARN keys such as aws:PrincipalArn", op)
			}
			vals, err := stringList(kp, kkv.val, true)
			if err != nil {
				return nil, err
			}
			for _, s := range vals {
				if strings.Contains(s, "${") {
					return nil, unsupported(kp, "policy variables (%q)", s)
				}
				if op == opNull && s != "true" && s != "false" {
					return nil, invalid(kp, `Null takes "true" or "false"`)
				}
			}
			out = append(out, condition{op: op, key: key, values: vals})
		}
	}
	return out, nil
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

// Evaluate decides req against the policy: ExplicitDeny when a Deny
// statement applies, else Allow when an Allow statement applies, else
// ImplicitDeny. A caller principal that does not parse is denied.
func (p *Policy) Evaluate(req Request) Decision {
	id, err := parseIdentity(req.Principal)
	if err != nil {
		return ImplicitDeny
	}
	ctx := evalContext{req: req, id: id}
	allowed := false
	for _, st := range p.statements {
		if !st.applies(ctx) {
			continue
		}
		if !st.allow {
			return ExplicitDeny
		}
		allowed = true
	}
	if allowed {
		return Allow
	}
	return ImplicitDeny
}

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

// holds evaluates one operator/key pair as IAM does: several values of a
// positive operator are ORed; a negated operator holds when the value
// matches none of them, including when the key is absent.
func (cond condition) holds(c evalContext) bool {
	v, present := c.value(cond.key)
	if cond.op == opNull {
		// "true": the key is absent; "false": it is present. Values ORed.
		for _, s := range cond.values {
			if (s == "true") == !present {
				return true
			}
		}
		return false
	}
	var match func(pattern string) bool
	switch cond.op {
	case opStringEquals, opStringNotEquals, opArnEquals:
		match = func(p string) bool { return p == v }
	case opStringLike, opStringNotLike:
		match = func(p string) bool { return glob(p, v) }
	case opArnLike:
		match = func(p string) bool { return arnLike(p, v) }
	}
	any := false
	if present {
		for _, s := range cond.values {
			if match(s) {
				any = true
				break
			}
		}
	}
	switch cond.op {
	case opStringNotEquals, opStringNotLike:
		return !any
	}
	return any
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
// IAM's ArnLike does: each of the six colon-separated parts is globbed on its
// own.
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

// object is a JSON object with its keys in document order.
type object []member

type member struct {
	key string
	val any
}

func (o object) get(key string) any {
	for _, m := range o {
		if m.key == key {
			return m.val
		}
	}
	return nil
}

// decodeStrict decodes one JSON value, keeping key order and refusing
// duplicate keys (IAM's reading of a duplicated element is ambiguous) and
// trailing data.
func decodeStrict(doc []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	v, err := decodeValue(dec, 0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("unexpected data after the JSON document")
	}
	return v, nil
}

const maxDepth = 32

func decodeValue(dec *json.Decoder, depth int) (any, error) {
	if depth > maxDepth {
		return nil, errors.New("the document is nested too deeply")
	}
	tok, err := dec.Token()
	if err != nil {
		if err == io.EOF {
			return nil, errors.New("unexpected end of JSON")
		}
		return nil, fmt.Errorf("malformed JSON: %w", err)
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			var obj object
			seen := map[string]bool{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, fmt.Errorf("malformed JSON: %w", err)
				}
				k, ok := kt.(string)
				if !ok {
					return nil, errors.New("malformed JSON object key")
				}
				if seen[k] {
					return nil, fmt.Errorf("duplicate key %q", k)
				}
				seen[k] = true
				v, err := decodeValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				obj = append(obj, member{k, v})
			}
			if _, err := dec.Token(); err != nil {
				return nil, fmt.Errorf("malformed JSON: %w", err)
			}
			if obj == nil {
				obj = object{}
			}
			return obj, nil
		case '[':
			list := []any{}
			for dec.More() {
				v, err := decodeValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				list = append(list, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, fmt.Errorf("malformed JSON: %w", err)
			}
			return list, nil
		}
		return nil, fmt.Errorf("malformed JSON: unexpected %v", t)
	}
	return tok, nil
}
