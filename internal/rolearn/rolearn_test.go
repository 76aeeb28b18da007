package rolearn_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/rolecall/rolecall/internal/rolearn"
)

const acct = "123456789012"

// validARNs are role ARNs Parse accepts, with what it parses them to.
var validARNs = []struct {
	in   string
	want rolearn.ARN
}{
	{"arn:aws:iam::123456789012:role/RoleCall", rolearn.ARN{Partition: "aws", Account: acct, Path: "/", Name: "RoleCall"}},
	{"arn:aws:iam::123456789012:role/x", rolearn.ARN{Partition: "aws", Account: acct, Path: "/", Name: "x"}},
	{"arn:aws:iam::123456789012:role/service-role/RoleCall", rolearn.ARN{Partition: "aws", Account: acct, Path: "/service-role/", Name: "RoleCall"}},
	{"arn:aws:iam::123456789012:role/a/b/c/Name", rolearn.ARN{Partition: "aws", Account: acct, Path: "/a/b/c/", Name: "Name"}},
	{"arn:aws:iam::123456789012:role/team:x/R", rolearn.ARN{Partition: "aws", Account: acct, Path: "/team:x/", Name: "R"}},
	{"arn:aws:iam::123456789012:role/p.q/R", rolearn.ARN{Partition: "aws", Account: acct, Path: "/p.q/", Name: "R"}},
	{"arn:aws:iam::123456789012:role/...x/R", rolearn.ARN{Partition: "aws", Account: acct, Path: "/...x/", Name: "R"}},
	{"arn:aws:iam::123456789012:role/a+=,.@_-Z9", rolearn.ARN{Partition: "aws", Account: acct, Path: "/", Name: "a+=,.@_-Z9"}},
	{"arn:aws:iam::000000000000:role/" + strings.Repeat("n", 64), rolearn.ARN{Partition: "aws", Account: "000000000000", Path: "/", Name: strings.Repeat("n", 64)}},
	{"arn:aws:iam::123456789012:role/" + strings.Repeat("p", 510) + "/R", rolearn.ARN{Partition: "aws", Account: acct, Path: "/" + strings.Repeat("p", 510) + "/", Name: "R"}},
	{"arn:aws-cn:iam::123456789012:role/R", rolearn.ARN{Partition: "aws-cn", Account: acct, Path: "/", Name: "R"}},
	{"arn:aws-us-gov:iam::123456789012:role/R", rolearn.ARN{Partition: "aws-us-gov", Account: acct, Path: "/", Name: "R"}},
}

func TestParseValid(t *testing.T) {
	for _, tt := range validARNs {
		t.Run(tt.in[:min(len(tt.in), 60)], func(t *testing.T) {
			got, err := rolearn.Parse(tt.in, rolearn.Rules{})
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Fatalf("Parse(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
			if got.String() != tt.in {
				t.Fatalf("String() = %q, want the input %q", got.String(), tt.in)
			}
		})
	}
}

// long is a run of n letters.
func long(n int) string { return strings.Repeat("a", n) }

// rejectedARNs are strings Parse refuses, with the code it refuses each
// with.
var rejectedARNs = []struct {
	name, in, code string
}{
	// not an ARN
	{"empty", "", rolearn.CodeInvalidARN},
	{"plain text", "not-an-arn-at-all-just-text", rolearn.CodeInvalidARN},
	{"upper-case prefix", "ARN:aws:iam::123456789012:role/R", rolearn.CodeInvalidARN},
	{"too few fields", "arn:aws:iam::123456789012", rolearn.CodeInvalidARN},
	{"unknown partition", "arn:awz:iam::123456789012:role/R", rolearn.CodeInvalidARN},
	{"empty partition", "arn::iam::123456789012:role/R", rolearn.CodeInvalidARN},
	{"account id only", "123456789012345678901234", rolearn.CodeInvalidARN},
	// not IAM
	{"s3 bucket", "arn:aws:s3:::my-bucket-name", rolearn.CodeNotIAM},
	{"lambda", "arn:aws:lambda:us-east-1:123456789012:function:f", rolearn.CodeNotIAM},
	{"sts federated user", "arn:aws:sts::123456789012:federated-user/bob", rolearn.CodeNotIAM},
	{"upper-case service", "arn:aws:IAM::123456789012:role/R", rolearn.CodeNotIAM},
	// not a role
	{"user", "arn:aws:iam::123456789012:user/alice", rolearn.CodeNotRole},
	{"user with path", "arn:aws:iam::123456789012:user/dev/alice", rolearn.CodeNotRole},
	{"group", "arn:aws:iam::123456789012:group/admins", rolearn.CodeNotRole},
	{"root", "arn:aws:iam::123456789012:root", rolearn.CodeNotRole},
	{"assumed role", "arn:aws:sts::123456789012:assumed-role/RoleCall/session", rolearn.CodeNotRole},
	{"instance profile", "arn:aws:iam::123456789012:instance-profile/web", rolearn.CodeNotRole},
	{"policy", "arn:aws:iam::123456789012:policy/p", rolearn.CodeNotRole},
	{"upper-case Role", "arn:aws:iam::123456789012:Role/R", rolearn.CodeNotRole},
	{"roles", "arn:aws:iam::123456789012:roles/R", rolearn.CodeNotRole},
	// region
	{"region present", "arn:aws:iam:us-east-1:123456789012:role/R", rolearn.CodeRegionPresent},
	// account
	{"account 11 digits", "arn:aws:iam::12345678901:role/R", rolearn.CodeInvalidAccount},
	{"account 13 digits", "arn:aws:iam::1234567890123:role/R", rolearn.CodeInvalidAccount},
	{"account letters", "arn:aws:iam::12345678901a:role/R", rolearn.CodeInvalidAccount},
	{"account empty", "arn:aws:iam:::role/RoleCall", rolearn.CodeInvalidAccount},
	{"account aws (managed policy)", "arn:aws:iam::aws:policy/AdministratorAccess", rolearn.CodeInvalidAccount},
	{"account with dashes", "arn:aws:iam::1234-5678-9012:role/R", rolearn.CodeInvalidAccount},
	// name
	{"no name", "arn:aws:iam::123456789012:role/", rolearn.CodeInvalidName},
	{"role without slash", "arn:aws:iam::123456789012:role", rolearn.CodeInvalidName},
	{"path without name", "arn:aws:iam::123456789012:role/path/", rolearn.CodeInvalidName},
	{"name 65", "arn:aws:iam::123456789012:role/" + long(65), rolearn.CodeInvalidName},
	{"name with colon", "arn:aws:iam::123456789012:role/a:b", rolearn.CodeInvalidName},
	{"name with hash", "arn:aws:iam::123456789012:role/a#b", rolearn.CodeInvalidName},
	{"name with star", "arn:aws:iam::123456789012:role/Role*", rolearn.CodeInvalidName},
	{"name with question mark", "arn:aws:iam::123456789012:role/Rol?", rolearn.CodeInvalidName},
	{"name with bang", "arn:aws:iam::123456789012:role/a!b", rolearn.CodeInvalidName},
	// path
	{"empty first segment", "arn:aws:iam::123456789012:role//R", rolearn.CodeInvalidPath},
	{"empty middle segment", "arn:aws:iam::123456789012:role/a//R", rolearn.CodeInvalidPath},
	{"dot segment", "arn:aws:iam::123456789012:role/./R", rolearn.CodeInvalidPath},
	{"dotdot segment", "arn:aws:iam::123456789012:role/a/../R", rolearn.CodeInvalidPath},
	{"star in path", "arn:aws:iam::123456789012:role/a*/R", rolearn.CodeInvalidPath},
	{"question mark in path", "arn:aws:iam::123456789012:role/?/R", rolearn.CodeInvalidPath},
	{"path 513", "arn:aws:iam::123456789012:role/" + long(511) + "/R", rolearn.CodeInvalidPath},
	{"non-printable in path", "arn:aws:iam::123456789012:role/a\x01b/R", rolearn.CodeWhitespace},
	{"DEL in path", "arn:aws:iam::123456789012:role/a\x7fb/R", rolearn.CodeWhitespace},
	// total length
	{"too short", "arn:aws:iam::1:r/x", rolearn.CodeInvalidLength},
	{"19 chars", "arn:aws:iam::12:r/x", rolearn.CodeInvalidLength},
	{"longer than 2048", "arn:aws:iam::123456789012:role/" + long(2100), rolearn.CodeInvalidLength},
	// whitespace and control characters
	{"leading space", " arn:aws:iam::123456789012:role/R", rolearn.CodeWhitespace},
	{"trailing space", "arn:aws:iam::123456789012:role/R ", rolearn.CodeWhitespace},
	{"trailing newline", "arn:aws:iam::123456789012:role/R\n", rolearn.CodeWhitespace},
	{"trailing CRLF", "arn:aws:iam::123456789012:role/R\r\n", rolearn.CodeWhitespace},
	{"leading tab", "\tarn:aws:iam::123456789012:role/R", rolearn.CodeWhitespace},
	{"inner space", "arn:aws:iam::123456789012:role/My Role", rolearn.CodeWhitespace},
	{"NUL", "arn:aws:iam::123456789012:role/R\x00", rolearn.CodeWhitespace},
	{"NUL inside", "arn:aws:iam::1234567\x0089012:role/R", rolearn.CodeWhitespace},
	{"escape", "arn:aws:iam::123456789012:role/R\x1b[0m", rolearn.CodeWhitespace},
	{"DEL", "arn:aws:iam::123456789012:role/R\x7f", rolearn.CodeWhitespace},
	// non-ASCII and look-alikes
	{"cyrillic a in arn", "\u0430rn:aws:iam::123456789012:role/R", rolearn.CodeLookalike},
	{"cyrillic a in name", "arn:aws:iam::123456789012:role/D\u0430ta", rolearn.CodeLookalike},
	{"cyrillic o in partition", "arn:aws:iam::123456789012:r\u043ele/R", rolearn.CodeLookalike},
	{"fullwidth colon", "arn\uff1aaws:iam::123456789012:role/R", rolearn.CodeLookalike},
	{"fullwidth digit", "arn:aws:iam::12345678901\uff12:role/R", rolearn.CodeLookalike},
	{"fullwidth solidus", "arn:aws:iam::123456789012:role\uff0fR", rolearn.CodeLookalike},
	{"zero-width space", "arn:aws:iam::123456789012:role/R\u200b", rolearn.CodeLookalike},
	{"zero-width joiner inside", "arn:aws:iam::123456789012:ro\u200dle/R", rolearn.CodeLookalike},
	{"byte order mark", "\ufeffarn:aws:iam::123456789012:role/R", rolearn.CodeLookalike},
	{"non-breaking space", "arn:aws:iam::123456789012:role/R\u00a0", rolearn.CodeLookalike},
	{"ideographic space", "\u3000arn:aws:iam::123456789012:role/R", rolearn.CodeLookalike},
	{"en dash", "arn:aws\u2013cn:iam::123456789012:role/R", rolearn.CodeLookalike},
	{"latin e acute", "arn:aws:iam::123456789012:role/caf\u00e9", rolearn.CodeLookalike},
	{"invalid UTF-8", "arn:aws:iam::123456789012:role/R\xff", rolearn.CodeLookalike},
	{"replacement character", "arn:aws:iam::123456789012:role/R\ufffd", rolearn.CodeLookalike},
	{"C1 control", "arn:aws:iam::123456789012:role/R\u0085", rolearn.CodeLookalike},
}

func TestParseRejects(t *testing.T) {
	for _, tt := range rejectedARNs {
		t.Run(tt.name, func(t *testing.T) {
			a, err := rolearn.Parse(tt.in, rolearn.Rules{})
			if err == nil {
				t.Fatalf("Parse(%q) = %+v, want %s", tt.in, a, tt.code)
			}
			var e *rolearn.Error
			if !errors.As(err, &e) {
				t.Fatalf("Parse(%q) error %T %v is not a *rolearn.Error", tt.in, err, err)
			}
			if e.Code != tt.code {
				t.Fatalf("Parse(%q) code = %s (%s), want %s", tt.in, e.Code, e.Message, tt.code)
			}
			if !errors.Is(err, &rolearn.Error{Code: tt.code}) {
				t.Fatalf("errors.Is(err, &Error{Code: %s}) = false", tt.code)
			}
			if e.Message == "" || strings.ContainsAny(e.Message, "\x00\r\n") {
				t.Fatalf("message %q must be a non-empty single line", e.Message)
			}
			if a != (rolearn.ARN{}) {
				t.Fatalf("a rejected ARN must return the zero ARN, got %+v", a)
			}
		})
	}
}

func TestParseRules(t *testing.T) {
	rules := rolearn.Rules{Partition: "aws", OwnAccount: "111122223333"}
	tests := []struct {
		name, in, code string
	}{
		{"ok", "arn:aws:iam::123456789012:role/R", ""},
		{"china partition", "arn:aws-cn:iam::123456789012:role/R", rolearn.CodeWrongPartition},
		{"govcloud partition", "arn:aws-us-gov:iam::123456789012:role/R", rolearn.CodeWrongPartition},
		{"own account", "arn:aws:iam::111122223333:role/R", rolearn.CodeOwnAccount},
		{"own account with path", "arn:aws:iam::111122223333:role/p/R", rolearn.CodeOwnAccount},
		{"syntax before rules", "arn:aws-cn:iam::111122223333:user/u", rolearn.CodeNotRole},
		{"unknown partition stays invalid", "arn:aws-xx:iam::123456789012:role/R", rolearn.CodeInvalidARN},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := rolearn.Parse(tt.in, rules)
			if tt.code == "" {
				if err != nil {
					t.Fatalf("Parse(%q): %v", tt.in, err)
				}
				return
			}
			if !errors.Is(err, &rolearn.Error{Code: tt.code}) {
				t.Fatalf("Parse(%q) = %v, want code %s", tt.in, err, tt.code)
			}
		})
	}
	// Without rules, the same ARNs pass.
	for _, in := range []string{"arn:aws-cn:iam::123456789012:role/R", "arn:aws:iam::111122223333:role/R"} {
		if _, err := rolearn.Parse(in, rolearn.Rules{}); err != nil {
			t.Errorf("Parse(%q) without rules: %v", in, err)
		}
	}
}

func TestErrorIsAndAs(t *testing.T) {
	_, err := rolearn.Parse("arn:aws:iam::123456789012:user/u", rolearn.Rules{})
	wrapped := fmt.Errorf("submit: %w", err)
	if !errors.Is(wrapped, &rolearn.Error{Code: rolearn.CodeNotRole}) {
		t.Fatal("errors.Is through a wrap must match the code")
	}
	if errors.Is(wrapped, &rolearn.Error{Code: rolearn.CodeNotIAM}) {
		t.Fatal("errors.Is must not match another code")
	}
	if errors.Is(wrapped, errors.New(rolearn.CodeNotRole)) {
		t.Fatal("errors.Is must not match a non-*Error")
	}
	var e *rolearn.Error
	if !errors.As(wrapped, &e) || e.Code != rolearn.CodeNotRole {
		t.Fatalf("errors.As = %v", e)
	}
	if !strings.HasPrefix(err.Error(), rolearn.CodeNotRole+": ") {
		t.Fatalf("Error() = %q, want the code first", err.Error())
	}
}

func TestClaimKey(t *testing.T) {
	key := func(s string) string {
		t.Helper()
		a, err := rolearn.Parse(s, rolearn.Rules{})
		if err != nil {
			t.Fatalf("Parse(%q): %v", s, err)
		}
		return a.ClaimKey()
	}
	same := []string{
		"arn:aws:iam::123456789012:role/RoleCall",
		"arn:aws:iam::123456789012:role/rolecall",
		"arn:aws:iam::123456789012:role/ROLECALL",
		"arn:aws:iam::123456789012:role/service-role/RoleCall",
		"arn:aws:iam::123456789012:role/a/b/c/rOlEcAlL",
		"arn:aws-cn:iam::123456789012:role/RoleCall",
	}
	want := key(same[0])
	if want != "123456789012/rolecall" {
		t.Fatalf("ClaimKey = %q", want)
	}
	for _, s := range same[1:] {
		if got := key(s); got != want {
			t.Errorf("ClaimKey(%q) = %q, want %q", s, got, want)
		}
	}
	different := []string{
		"arn:aws:iam::123456789013:role/RoleCall",
		"arn:aws:iam::123456789012:role/RoleCall2",
		"arn:aws:iam::123456789012:role/Role-Call",
	}
	for _, s := range different {
		if got := key(s); got == want {
			t.Errorf("ClaimKey(%q) = %q, must differ from %q", s, got, want)
		}
	}
}

// fuzzSeeds are every string of validARNs and rejectedARNs, and a few
// more shapes.
func fuzzSeeds() []string {
	seeds := []string{
		"arn:aws:iam::123456789012:role/R",
		"arn:aws:sts::123456789012:assumed-role/R/s",
		"arn:aws:iam::123456789012:role/" + strings.Repeat("n", 65),
		":::::",
		"arn:::::",
		"arn:aws:iam::123456789012:role/:/:",
	}
	for _, v := range validARNs {
		seeds = append(seeds, v.in)
	}
	for _, r := range rejectedARNs {
		seeds = append(seeds, r.in)
	}
	return seeds
}

func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := rolearn.Parse(s, rolearn.Rules{})
		if err != nil {
			var e *rolearn.Error
			if !errors.As(err, &e) || e.Code == "" || e.Message == "" {
				t.Fatalf("Parse(%q) error %#v lacks a code or message", s, err)
			}
			return
		}
		if len(a.Name) < 1 || len(a.Name) > 64 || !strings.HasPrefix(a.Path, "/") || !strings.HasSuffix(a.Path, "/") || len(a.Account) != 12 {
			t.Fatalf("Parse(%q) = %+v breaks an invariant", s, a)
		}
		r := a.String()
		if r != s {
			t.Fatalf("Parse(%q).String() = %q, want the input back", s, r)
		}
		b, err := rolearn.Parse(r, rolearn.Rules{})
		if err != nil {
			t.Fatalf("re-parse of %q: %v", r, err)
		}
		if b != a {
			t.Fatalf("re-parse of %q = %+v, want %+v", r, b, a)
		}
		if b.ClaimKey() != strings.ToLower(b.ClaimKey()) {
			t.Fatalf("ClaimKey %q must be lower-case", b.ClaimKey())
		}
	})
}

func TestIsAccountID(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"123456789012", true},
		{"000000000000", true},
		{"12345678901", false},
		{"1234567890123", false},
		{"", false},
		{"12345678901a", false},
		{" 23456789012", false},
		{"１23456789012", false}, // a fullwidth digit
		{"-12345678901", false},
	}
	for _, tc := range tests {
		if got := rolearn.IsAccountID(tc.in); got != tc.want {
			t.Errorf("IsAccountID(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

// TestSubmissionsRefuseServiceLinkedRoles: a service-linked role's trust
// policy cannot be changed (IAM refuses it), so it can never trust the
// partner: a submission's rules refuse it with SERVICE_LINKED_ROLE. Parsing
// an ARN stored already (Rules{}) still takes it, so that a stack that
// registered one before can undo it.
func TestSubmissionsRefuseServiceLinkedRoles(t *testing.T) {
	for _, s := range []string{
		"arn:aws:iam::123456789012:role/aws-service-role/elasticbeanstalk.amazonaws.com/AWSServiceRoleForElasticBeanstalk",
		"arn:aws:iam::123456789012:role/aws-service-role/organizations.amazonaws.com/AWSServiceRoleForOrganizations",
	} {
		for _, r := range []rolearn.Rules{{Partition: "aws"}, {OwnAccount: "999988887777"}, {Partition: "aws", OwnAccount: "999988887777"}} {
			_, err := rolearn.Parse(s, r)
			if e, ok := errors.AsType[*rolearn.Error](err); !ok || e.Code != rolearn.CodeServiceLinked || e.Field != rolearn.Field {
				t.Errorf("Parse(%q, %+v) = %v, want %s on %s", s, r, err, rolearn.CodeServiceLinked, rolearn.Field)
			}
		}
		if a, err := rolearn.Parse(s, rolearn.Rules{}); err != nil || a.String() != s {
			t.Errorf("Parse(%q) of a stored ARN = %+v, %v", s, a, err)
		}
	}
}
