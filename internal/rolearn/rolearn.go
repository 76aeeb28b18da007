// Package rolearn holds RoleCall's ARN and IAM-name rules in one place: it
// parses and validates the IAM role ARNs customers paste into RoleCall,
// derives the claim key that identifies a role the way IAM does, parses the
// principals RoleCall meets (root, user, role, assumed-role session), reads
// an ARN's partition and account, and defines IAM's name character set
// (and, beside it, STS's external-ID set, the same kind of rule).
// ARNs are split with the SDK's aws/arn package; the rules on top are ours.
//
// A valid role ARN has the form
//
//	arn:<partition>:iam::<12-digit account>:role/<optional path/><name>
//
// Everything else (users, groups, root, assumed-role session ARNs, instance
// profiles, a region, whitespace, look-alike characters, another partition, the
// partner's own account) is rejected with an *Error carrying a stable code.
package rolearn

import (
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws/arn"

	"github.com/rolecall/rolecall/internal/refusal"
)

// Stable error codes. They are part of RoleCall's public contract.
const (
	CodeInvalidARN     = "INVALID_ARN"         // not an ARN at all
	CodeNotIAM         = "NOT_IAM"             // an ARN of another service
	CodeNotRole        = "NOT_A_ROLE"          // an IAM ARN that is not a role
	CodeRegionPresent  = "REGION_NOT_ALLOWED"  // IAM ARNs have no region
	CodeInvalidAccount = "INVALID_ACCOUNT"     // account is not 12 digits
	CodeInvalidName    = "INVALID_ROLE_NAME"   // name outside 1-64 of [\w+=,.@-]
	CodeInvalidPath    = "INVALID_ROLE_PATH"   // path rules broken
	CodeServiceLinked  = "SERVICE_LINKED_ROLE" // a service-linked role: its trust policy cannot be edited
	CodeInvalidLength  = "INVALID_LENGTH"      // total length outside 20-2048
	CodeWhitespace     = "INVALID_CHARACTERS"  // whitespace or control characters
	CodeLookalike      = "NON_ASCII"           // non-ASCII, e.g. look-alike characters
	CodeWrongPartition = "WRONG_PARTITION"     // partition is not the deployment's
	CodeOwnAccount     = "OWN_ACCOUNT"         // the partner's own account
)

// Field is the request field every error of this package refers to.
const Field = "roleArn"

// Error is a rejected ARN: a refusal with a stable code, a message a
// customer can act on, and Field. errors.Is matches on the code:
// errors.Is(err, &Error{Code: CodeOwnAccount}).
type Error = refusal.Error

// ARN is a parsed IAM role ARN.
type ARN struct {
	Partition string
	Account   string
	Path      string // "/" when none; always starts and ends with "/"
	Name      string
}

// String renders the ARN in canonical form.
func (a ARN) String() string {
	return "arn:" + a.Partition + ":iam::" + a.Account + ":role" + a.Path + a.Name
}

// ClaimKey identifies the role the way IAM does: role names are unique per
// account case-insensitively and independently of the path, so two spellings
// of one role yield the same key.
func (a ARN) ClaimKey() string {
	return a.Account + "/" + strings.ToLower(a.Name)
}

// Rules are the deployment-specific checks applied after the syntax.
// Rules{} parses any role ARN (one stored already); rules that name a
// partition or the partner's account check a submission, and also refuse
// a service-linked role, which can never serve a connection.
type Rules struct {
	Partition  string // required partition, e.g. "aws"; empty accepts any known
	OwnAccount string // the partner's account ID, refused
}

func fail(code, format string, args ...any) error {
	return refusal.New(code, Field, format, args...)
}

// Parse validates s as a role ARN under the given rules.
func Parse(s string, r Rules) (ARN, error) {
	a, err := parseSyntax(s)
	if err != nil {
		return ARN{}, err
	}
	if r.Partition != "" && a.Partition != r.Partition {
		return ARN{}, fail(CodeWrongPartition, "the role is in partition %q, but this deployment runs in %q", a.Partition, r.Partition)
	}
	if r.OwnAccount != "" && a.Account == r.OwnAccount {
		return ARN{}, fail(CodeOwnAccount, "account %s is the partner's own account; create the role in your own AWS account", a.Account)
	}
	if r != (Rules{}) && strings.HasPrefix(a.Path, "/aws-service-role/") {
		// IAM refuses every change to a service-linked role's trust
		// policy: it can never trust the partner nor require the
		// external ID.
		return ARN{}, fail(CodeServiceLinked, "this is a service-linked role, whose trust policy cannot be changed; create a role for this connection and paste its ARN")
	}
	return a, nil
}

func parseSyntax(s string) (ARN, error) {
	if s == "" {
		return ARN{}, fail(CodeInvalidARN, "the role ARN is empty")
	}
	for i, r := range s {
		if r == utf8.RuneError && !strings.HasPrefix(s[i:], "\uFFFD") {
			return ARN{}, fail(CodeLookalike, "the role ARN is not valid UTF-8 (byte %d)", i)
		}
		if r >= utf8.RuneSelf {
			return ARN{}, fail(CodeLookalike, "the role ARN contains the non-ASCII character %U at position %d; retype it or copy it from the IAM console", r, i)
		}
		if r <= ' ' || r == 0x7f {
			return ARN{}, fail(CodeWhitespace, "the role ARN contains whitespace or a control character at position %d; remove it", i)
		}
	}
	if n := len(s); n < 20 || n > 2048 {
		return ARN{}, fail(CodeInvalidLength, "a role ARN is 20 to 2048 characters long, this one has %d", n)
	}
	parsed, err := arn.Parse(s)
	if err != nil {
		return ARN{}, fail(CodeInvalidARN, "expected arn:aws:iam::<account-id>:role/<role-name>")
	}
	partition, service, region, account, resource := parsed.Partition, parsed.Service, parsed.Region, parsed.AccountID, parsed.Resource
	if !knownPartition(partition) {
		return ARN{}, fail(CodeInvalidARN, "unknown partition %q", partition)
	}
	if service != "iam" {
		if service == "sts" && strings.HasPrefix(resource, "assumed-role/") {
			return ARN{}, fail(CodeNotRole, "this is an assumed-role session ARN; paste the role's ARN (arn:%s:iam::<account-id>:role/<name>)", partition)
		}
		return ARN{}, fail(CodeNotIAM, "this is an ARN of the %q service, not an IAM role", service)
	}
	if region != "" {
		return ARN{}, fail(CodeRegionPresent, "IAM role ARNs have no region, remove %q", region)
	}
	if !IsAccountID(account) {
		return ARN{}, fail(CodeInvalidAccount, "the account ID must be exactly 12 digits")
	}
	if resource == "root" {
		return ARN{}, fail(CodeNotRole, "this is the account root, not a role")
	}
	if resource == "role" {
		return ARN{}, fail(CodeInvalidName, "the ARN names no role; add the role name after %q", "role/")
	}
	rest, ok := strings.CutPrefix(resource, "role/")
	if !ok {
		kind, _, _ := strings.Cut(resource, "/")
		return ARN{}, fail(CodeNotRole, "this is an IAM %s, not a role", kind)
	}
	slash := strings.LastIndexByte(rest, '/')
	path, name := "/"+rest[:slash+1], rest[slash+1:]
	if err := checkPath(path); err != nil {
		return ARN{}, err
	}
	if err := checkName(name); err != nil {
		return ARN{}, err
	}
	return ARN{Partition: partition, Account: account, Path: path, Name: name}, nil
}

// IsAccountID reports whether s is an AWS account ID: exactly 12 ASCII
// digits.
func IsAccountID(s string) bool {
	if len(s) != 12 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func checkName(name string) error {
	if len(name) < 1 || len(name) > 64 {
		return fail(CodeInvalidName, "a role name is 1 to 64 characters long, this one has %d", len(name))
	}
	for i := 0; i < len(name); i++ {
		if !IsNameChar(name[i]) {
			return fail(CodeInvalidName, "the role name contains %q; allowed are letters, digits and + = , . @ _ -", name[i])
		}
	}
	return nil
}

// checkPath applies IAM's path rules: "/" alone, or "/" + segments + "/", at
// most 512 characters of printable ASCII. It is stricter than IAM in three
// ways no real role needs: no empty segment, no "." or ".." segment, and no
// wildcard ("*", "?"), since a role ARN must name one role, never a pattern.
func checkPath(p string) error {
	if len(p) > 512 {
		return fail(CodeInvalidPath, "a role path is at most 512 characters long, this one has %d", len(p))
	}
	if p == "/" {
		return nil
	}
	if strings.Contains(p, "//") {
		return fail(CodeInvalidPath, "the role path %q contains an empty segment", p)
	}
	for i := 0; i < len(p); i++ {
		if p[i] < 0x21 || p[i] > 0x7e {
			return fail(CodeInvalidPath, "the role path must be printable ASCII")
		}
		if p[i] == '*' || p[i] == '?' {
			return fail(CodeInvalidPath, "the role path contains the wildcard %q; paste the ARN of one role", p[i])
		}
	}
	for _, seg := range strings.Split(p[1:len(p)-1], "/") {
		if seg == "." || seg == ".." {
			return fail(CodeInvalidPath, "the role path %q contains a %q segment", p, seg)
		}
	}
	return nil
}
