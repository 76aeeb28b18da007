package sandbox

import (
	"errors"
	"strings"

	"github.com/rolecall/rolecall/internal/rolearn"
)

type identityKind int

const (
	kindRoot identityKind = iota + 1
	kindUser
	kindRole
	kindSession
)

// identity is an IAM principal: the account root, a user, a role, or an
// assumed-role session.
type identity struct {
	kind      identityKind
	arn       string // as given
	partition string
	account   string
	roleName  string // kindRole, kindSession
	rolePath  string // kindRole, kindSession: "/" or "/path/"
	session   string // kindSession
}

// roleKey identifies a role as IAM does (names are unique per account,
// case-insensitively, whatever the path).
func (id identity) roleKey() string {
	return id.partition + ":" + id.account + "/" + strings.ToLower(id.roleName)
}

// roleARN is the ARN of the role of a role or session identity, path
// included.
func (id identity) roleARN() string {
	return "arn:" + id.partition + ":iam::" + id.account + ":role" + id.rolePath + id.roleName
}

// principalARN is the aws:PrincipalArn of the identity: for a role session
// the role's ARN (IAM's request context holds the role, not the session),
// otherwise the ARN itself.
func (id identity) principalARN() string {
	if id.kind == kindSession || id.kind == kindRole {
		return id.roleARN()
	}
	return id.arn
}

// sessionARN is the assumed-role ARN of a session of the role of id.
func (id identity) sessionARN(session string) string {
	return "arn:" + id.partition + ":sts::" + id.account + ":assumed-role/" + id.roleName + "/" + session
}

// callerARN is what GetCallerIdentity returns and AccessDenied messages
// name: a role is always used through a session.
func (id identity) callerARN() string {
	if id.kind == kindRole {
		return "arn:" + id.partition + ":sts::" + id.account + ":assumed-role/" + id.roleName + "/" + sandboxSessionName
	}
	return id.arn
}

// sandboxSessionName names the session of a caller configured as a role.
const sandboxSessionName = "rolecall-sandbox"

// parseIdentity parses an IAM principal ARN: arn:P:iam::A:root,
// arn:P:iam::A:user/[path/]name, arn:P:iam::A:role/[path/]name or
// arn:P:sts::A:assumed-role/name/session.
func parseIdentity(s string) (identity, error) {
	parts := strings.SplitN(s, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[3] != "" {
		return identity{}, errors.New("not an IAM principal ARN")
	}
	id := identity{arn: s, partition: parts[1], account: parts[4]}
	if !validPartition(id.partition) || !rolearn.IsAccountID(id.account) {
		return identity{}, errors.New("not an IAM principal ARN (partition or account)")
	}
	res := parts[5]
	switch parts[2] {
	case "iam":
		switch {
		case res == "root":
			id.kind = kindRoot
		case strings.HasPrefix(res, "role/"):
			a, err := rolearn.Parse(s, rolearn.Rules{})
			if err != nil {
				return identity{}, err
			}
			id.kind, id.roleName, id.rolePath = kindRole, a.Name, a.Path
		case strings.HasPrefix(res, "user/"):
			name := res[strings.LastIndexByte(res, '/')+1:]
			if !validName(name, 64) {
				return identity{}, errors.New("invalid user name")
			}
			id.kind = kindUser
		default:
			return identity{}, errors.New("not a root, user or role ARN")
		}
	case "sts":
		rest, ok := strings.CutPrefix(res, "assumed-role/")
		role, session, ok2 := strings.Cut(rest, "/")
		if !ok || !ok2 || !validName(role, 64) || !validName(session, 64) {
			return identity{}, errors.New("not an assumed-role session ARN")
		}
		id.kind, id.roleName, id.rolePath, id.session = kindSession, role, "/", session
	default:
		return identity{}, errors.New("not an IAM or STS ARN")
	}
	return id, nil
}

func validPartition(p string) bool {
	if p == "" {
		return false
	}
	_, err := rolearn.Parse("arn:"+p+":iam::123456789012:role/x", rolearn.Rules{})
	return err == nil
}

// validName reports whether s is 1..max of IAM's [\w+=,.@-].
func validName(s string, max int) bool {
	if len(s) < 1 || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("_+=,.@-", c) >= 0) {
			return false
		}
	}
	return true
}
