package rolearn

import (
	"errors"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws/arn"
)

// NameChars are the punctuation characters IAM allows in role, user and
// session names besides ASCII letters and digits: the names match
// [\w+=,.@-].
const NameChars = "_+=,.@-"

// ExternalIDChars are the punctuation characters STS allows in an
// external ID besides ASCII letters and digits: [\w+=,.@:/-].
const ExternalIDChars = "_+=,.@:/-"

// IsNameChar reports whether c may appear in an IAM role, user or session
// name.
func IsNameChar(c byte) bool { return isCharOf(c, NameChars) }

// OnlyChars reports whether every byte of s is an ASCII letter, an ASCII
// digit or one of extra (NameChars, ExternalIDChars).
func OnlyChars(s, extra string) bool {
	for i := 0; i < len(s); i++ {
		if !isCharOf(s[i], extra) {
			return false
		}
	}
	return true
}

func isCharOf(c byte, extra string) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte(extra, c) >= 0
}

// ValidName reports whether s is 1 to max characters of IAM's name set
// [\w+=,.@-].
func ValidName(s string, max int) bool {
	return len(s) >= 1 && len(s) <= max && OnlyChars(s, NameChars)
}

// Partition is the partition of an ARN, "" when s is not an ARN.
func Partition(s string) string {
	a, err := arn.Parse(s)
	if err != nil {
		return ""
	}
	return a.Partition
}

// Account is the account ID of an ARN, "" when s is not an ARN or names no
// account.
func Account(s string) string {
	a, err := arn.Parse(s)
	if err != nil {
		return ""
	}
	return a.AccountID
}

// Kind is the kind of IAM principal an ARN names.
type Kind int

// The principal kinds ParsePrincipal accepts.
const (
	KindRoot        Kind = iota + 1 // arn:P:iam::A:root
	KindUser                        // arn:P:iam::A:user/[path/]name
	KindRole                        // arn:P:iam::A:role/[path/]name
	KindAssumedRole                 // arn:P:sts::A:assumed-role/role/session
)

// Principal is a parsed IAM principal ARN.
type Principal struct {
	Kind      Kind
	Partition string
	Account   string
	Path      string // KindRole: "/" or "/path/"; KindAssumedRole: "/" (IAM drops it)
	Name      string // the role or user name; for KindAssumedRole the role's
	Session   string // KindAssumedRole only
}

// RoleARN is the ARN of the role of a role or assumed-role principal.
func (p Principal) RoleARN() string {
	return ARN{Partition: p.Partition, Account: p.Account, Path: p.Path, Name: p.Name}.String()
}

// SessionARN is the ARN STS gives a session of the role named by p.
func (p Principal) SessionARN(session string) string {
	return "arn:" + p.Partition + ":sts::" + p.Account + ":assumed-role/" + p.Name + "/" + session
}

// ParsePrincipal parses the ARN of an account root, an IAM user, an IAM role
// (under the role rules of Parse) or an assumed-role session. Anything else,
// including an ARN with a region or an unknown partition, is an error.
func ParsePrincipal(s string) (Principal, error) {
	a, err := arn.Parse(s)
	if err != nil || a.Region != "" {
		return Principal{}, errors.New("not an IAM principal ARN")
	}
	if !knownPartition(a.Partition) || !IsAccountID(a.AccountID) {
		return Principal{}, errors.New("not an IAM principal ARN (partition or account)")
	}
	p := Principal{Partition: a.Partition, Account: a.AccountID}
	res := a.Resource
	switch a.Service {
	case "iam":
		switch {
		case res == "root":
			p.Kind = KindRoot
		case strings.HasPrefix(res, "role/"):
			r, err := Parse(s, Rules{})
			if err != nil {
				return Principal{}, err
			}
			p.Kind, p.Path, p.Name = KindRole, r.Path, r.Name
		case strings.HasPrefix(res, "user/"):
			slash := strings.LastIndexByte(res, '/')
			p.Kind, p.Path, p.Name = KindUser, res[len("user"):slash+1], res[slash+1:]
			if !ValidName(p.Name, 64) {
				return Principal{}, errors.New("invalid user name")
			}
		default:
			return Principal{}, errors.New("not a root, user or role ARN")
		}
	case "sts":
		rest, ok := strings.CutPrefix(res, "assumed-role/")
		role, session, ok2 := strings.Cut(rest, "/")
		if !ok || !ok2 || !ValidName(role, 64) || !ValidName(session, 64) {
			return Principal{}, errors.New("not an assumed-role session ARN")
		}
		p.Kind, p.Path, p.Name, p.Session = KindAssumedRole, "/", role, session
	default:
		return Principal{}, errors.New("not an IAM or STS ARN")
	}
	return p, nil
}

// PartitionOr is the partition of an ARN, or fallback when s is not an ARN
// (an unset setting, say).
func PartitionOr(s, fallback string) string {
	if p := Partition(s); p != "" {
		return p
	}
	return fallback
}
