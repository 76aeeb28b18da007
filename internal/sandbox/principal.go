package sandbox

import (
	"fmt"
	"slices"
	"strings"

	"github.com/rolecall/rolecall/internal/rolearn"
)

// principalSet is the parsed Principal element of a trust policy statement.
//
// How each form matches follows the IAM User Guide ("AWS JSON policy
// elements: Principal"):
//   - "*" and {"AWS": "*"} match every caller;
//   - an account ID or arn:<p>:iam::<account>:root matches every principal of
//     that account (the account delegates; its identity policies decide).
//     A bare account ID is shorthand for arn:<p>:iam::<account>:root in the
//     policy's own partition (the role's): partitions are separate IAM
//     instances, and no principal of another one ever assumes the role;
//   - a role ARN matches the role's sessions. IAM turns the ARN into the
//     role's unique ID when the policy is saved, so the ARN must name the
//     role exactly as it is: path included, byte for byte. A principal that
//     names the role without its path (or with another path, or another case)
//     names a role that does not exist, and never matches its sessions;
//   - a user ARN matches that user, exactly;
//   - an assumed-role session ARN (arn:<p>:sts::<account>:assumed-role/<role>/<session>)
//     matches that one session, exactly.
type principalSet struct {
	any      bool
	accounts []accountPrincipal
	roles    []string // canonical role ARNs, path included
	users    []string // user ARNs
	sessions []string // assumed-role session ARNs
}

// accountPrincipal is an account a trust policy names, by its root ARN or
// its bare ID.
type accountPrincipal struct {
	partition string // "" for a bare account ID: the policy's own partition
	account   string
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
		ps.accounts = append(ps.accounts, accountPrincipal{account: s})
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
		ps.accounts = append(ps.accounts, accountPrincipal{partition: id.partition, account: id.account})
	case kindRole:
		ps.roles = append(ps.roles, id.roleARN())
	case kindUser:
		ps.users = append(ps.users, s)
	case kindSession:
		ps.sessions = append(ps.sessions, s)
	}
	return nil
}

// principalMatch says how a principal set matches a caller.
type principalMatch int

const (
	noMatch       principalMatch = iota
	broadMatch                   // "*" or the caller's account
	specificMatch                // the caller's role, user or session ARN
)

// match reports how ps, in a policy of partition, matches id: a specific
// match (the caller's own ARN) counts for more than a broad one in IAM's
// same-account evaluation.
func (ps principalSet) match(id identity, partition string) principalMatch {
	if ps.matchesSpecifically(id) {
		return specificMatch
	}
	if ps.any {
		return broadMatch
	}
	for _, a := range ps.accounts {
		p := a.partition
		if p == "" {
			p = partition
		}
		if p == id.partition && a.account == id.account {
			return broadMatch
		}
	}
	return noMatch
}

// withoutRole returns p with the role roleARN taken out of its
// principals, or p itself when no statement names it. p is not changed:
// a role's policy is read without the sandbox's lock.
func (p *Policy) withoutRole(roleARN string) *Policy {
	if p == nil || !slices.ContainsFunc(p.statements, func(st statement) bool { return slices.Contains(st.principals.roles, roleARN) }) {
		return p
	}
	out := &Policy{identity: p.identity, statements: slices.Clone(p.statements)}
	for i, st := range out.statements {
		st.principals.roles = slices.DeleteFunc(slices.Clone(st.principals.roles), func(r string) bool { return r == roleARN })
		out.statements[i] = st
	}
	return out
}

// deletedRoleLocked is the refusal of trust policy p naming as a principal
// a role that was deleted and not created again (nor in created, the
// claim keys of roles created with p): IAM stores a role principal as the
// role's unique ID when the policy is saved, so it refuses to save one
// naming a role that does not exist ("Invalid principal in policy"),
// and a role created later with that ARN is not trusted through it. s.mu
// must be held.
func (s *STS) deletedRoleLocked(p *Policy, created map[string]bool) error {
	for i, st := range p.statements {
		for _, r := range st.principals.roles {
			a, err := rolearn.Parse(r, rolearn.Rules{})
			if err == nil && s.gone[a.ClaimKey()] && !created[a.ClaimKey()] {
				return invalid(fmt.Sprintf("Statement[%d].Principal.AWS", i), "Invalid principal in policy: the role %s does not exist (it was deleted)", a)
			}
		}
	}
	return nil
}

func (ps principalSet) matchesSpecifically(id identity) bool {
	switch id.kind {
	case kindRole, kindSession:
		// A role is only ever a caller through one of its sessions: the
		// role principal matches every session of the role, the session
		// principal only the one session.
		for _, r := range ps.roles {
			if r == id.roleARN() {
				return true
			}
		}
		for _, s := range ps.sessions {
			if s == id.callerARN() {
				return true
			}
		}
	case kindUser:
		for _, u := range ps.users {
			if u == id.arn {
				return true
			}
		}
	}
	return false
}
