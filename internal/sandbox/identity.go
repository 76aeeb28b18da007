package sandbox

import (
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

// parseIdentity parses an IAM principal ARN (root, user, role or
// assumed-role session) with rolearn's principal rules.
func parseIdentity(s string) (identity, error) {
	p, err := rolearn.ParsePrincipal(s)
	if err != nil {
		return identity{}, err
	}
	id := identity{arn: s, partition: p.Partition, account: p.Account}
	switch p.Kind {
	case rolearn.KindRoot:
		id.kind = kindRoot
	case rolearn.KindUser:
		id.kind = kindUser
	case rolearn.KindRole:
		id.kind, id.roleName, id.rolePath = kindRole, p.Name, p.Path
	case rolearn.KindAssumedRole:
		id.kind, id.roleName, id.rolePath, id.session = kindSession, p.Name, "/", p.Session
	}
	return id, nil
}
