package sandbox

import (
	"errors"
	"strings"
	"testing"
)

const (
	partner     = "arn:aws:iam::111122223333:role/RoleCallVerifier"
	partnerAcct = "111122223333"
	other       = "arn:aws:iam::444455556666:role/RoleCallVerifier"
	extID       = "rc-EXAMPLEEXAMPLE"
)

func stmt(body string) string {
	return `{"Version":"2012-10-17","Statement":[` + body + `]}`
}

func TestEvaluate(t *testing.T) {
	withExt := Request{Principal: partner, Action: "sts:AssumeRole", ExternalID: extID, HasExternalID: true, RoleSessionName: "rolecall-t"}
	noExt := Request{Principal: partner, Action: "sts:AssumeRole", RoleSessionName: "rolecall-t"}
	wrongExt := withExt
	wrongExt.ExternalID = "rc-WRONG"
	otherCaller := withExt
	otherCaller.Principal = other
	session := withExt
	session.Principal = "arn:aws:sts::111122223333:assumed-role/RoleCallVerifier/worker-1"
	user := withExt
	user.Principal = "arn:aws:iam::111122223333:user/alice"
	tagSession := withExt
	tagSession.Action = "sts:TagSession"

	enforced := stmt(`{"Effect":"Allow","Principal":{"AWS":"` + partner + `"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"` + extID + `"}}}`)
	tests := []evalCase{
		{"enforced, right external ID", enforced, withExt, Allow},
		{"enforced, wrong external ID", enforced, wrongExt, ImplicitDeny},
		{"enforced, no external ID", enforced, noExt, ImplicitDeny},
		{"enforced, other account's role", enforced, otherCaller, ImplicitDeny},
		{"enforced, session of the trusted role", enforced, session, Allow},
		{"enforced, other action", enforced, tagSession, ImplicitDeny},
		{"no condition allows without external ID",
			stmt(`{"Effect":"Allow","Principal":{"AWS":"` + partner + `"},"Action":"sts:AssumeRole"}`), noExt, Allow},
		{"principal account ID",
			stmt(`{"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"sts:AssumeRole"}`), user, Allow},
		{"principal root ARN",
			stmt(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"sts:AssumeRole"}`), session, Allow},
		{"principal root ARN of another partition",
			stmt(`{"Effect":"Allow","Principal":{"AWS":"arn:aws-cn:iam::111122223333:root"},"Action":"sts:AssumeRole"}`), withExt, ImplicitDeny},
		{"principal root of another account",
			stmt(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:root"},"Action":"sts:AssumeRole"}`), withExt, ImplicitDeny},
		{"principal star string",
			stmt(`{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole"}`), otherCaller, Allow},
		{"principal AWS star",
			stmt(`{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole"}`), otherCaller, Allow},
		{"principal list",
			stmt(`{"Effect":"Allow","Principal":{"AWS":["999988887777","` + other + `"]},"Action":"sts:AssumeRole"}`), otherCaller, Allow},
		// IAM saves a role principal as the unique ID of the role the ARN
		// names; another spelling names no role and matches no caller.
		{"role principal in another case is another role",
			stmt(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/rolecallverifier"},"Action":"sts:AssumeRole"}`), withExt, ImplicitDeny},
		{"user principal is exact",
			stmt(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"sts:AssumeRole"}`), withExt, ImplicitDeny},
		{"service principal never matches an IAM caller",
			stmt(`{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}`), withExt, ImplicitDeny},
		{"action wildcard sts:*",
			stmt(`{"Effect":"Allow","Principal":{"AWS":"` + partner + `"},"Action":"sts:*"}`), withExt, Allow},
		{"action wildcard sts:Assume?ole",
			stmt(`{"Effect":"Allow","Principal":{"AWS":"` + partner + `"},"Action":"sts:Assume?ole"}`), withExt, Allow},
		{"action case-insensitive",
			stmt(`{"Effect":"Allow","Principal":{"AWS":"` + partner + `"},"Action":"STS:assumerole"}`), withExt, Allow},
		{"action list without AssumeRole",
			stmt(`{"Effect":"Allow","Principal":{"AWS":"` + partner + `"},"Action":["sts:TagSession","sts:SetSourceIdentity"]}`), withExt, ImplicitDeny},
		{"action star",
			stmt(`{"Effect":"Allow","Principal":{"AWS":"` + partner + `"},"Action":"*"}`), withExt, Allow},
		{"explicit deny wins",
			stmt(`{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole"},{"Effect":"Deny","Principal":{"AWS":"` + partner + `"},"Action":"sts:AssumeRole"}`), withExt, ExplicitDeny},
		{"deny without external ID (Null)",
			stmt(`{"Effect":"Allow","Principal":{"AWS":"` + partner + `"},"Action":"sts:AssumeRole"},{"Effect":"Deny","Principal":"*","Action":"sts:AssumeRole","Condition":{"Null":{"sts:ExternalId":"true"}}}`), noExt, ExplicitDeny},
		{"Null deny does not hit a call with external ID",
			stmt(`{"Effect":"Allow","Principal":{"AWS":"` + partner + `"},"Action":"sts:AssumeRole"},{"Effect":"Deny","Principal":"*","Action":"sts:AssumeRole","Condition":{"Null":{"sts:ExternalId":true}}}`), withExt, Allow},
		{"Null false requires the key",
			stmt(`{"Effect":"Allow","Principal":{"AWS":"` + partner + `"},"Action":"sts:AssumeRole","Condition":{"Null":{"sts:ExternalId":"false"}}}`), noExt, ImplicitDeny},
		{"StringEquals value list is ORed",
			stmt(`{"Effect":"Allow","Principal":{"AWS":"` + partner + `"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":["old-id","` + extID + `"]}}}`), withExt, Allow},
		{"StringEquals is case-sensitive",
			stmt(`{"Effect":"Allow","Principal":{"AWS":"` + partner + `"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"` + strings.ToLower(extID) + `"}}}`), withExt, ImplicitDeny},
		{"condition key case-insensitive",
			stmt(`{"Effect":"Allow","Principal":{"AWS":"` + partner + `"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"STS:EXTERNALID":"` + extID + `"}}}`), withExt, Allow},
		{"several keys are ANDed",
			stmt(`{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"` + extID + `","aws:PrincipalAccount":"444455556666"}}}`), withExt, ImplicitDeny},
		{"several operators are ANDed",
			stmt(`{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"` + extID + `"},"StringLike":{"aws:PrincipalArn":"arn:aws:iam::111122223333:role/RoleCall*"}}}`), withExt, Allow},
		{"StringLike on the external ID",
			stmt(`{"Effect":"Allow","Principal":{"AWS":"` + partner + `"},"Action":"sts:AssumeRole","Condition":{"StringLike":{"sts:ExternalId":"rc-*"}}}`), withExt, Allow},
		{"StringLike does not match an absent key",
			stmt(`{"Effect":"Allow","Principal":{"AWS":"` + partner + `"},"Action":"sts:AssumeRole","Condition":{"StringLike":{"sts:ExternalId":"*"}}}`), noExt, ImplicitDeny},
		{"StringNotEquals holds for an absent key",
			stmt(`{"Effect":"Allow","Principal":{"AWS":"` + partner + `"},"Action":"sts:AssumeRole","Condition":{"StringNotEquals":{"sts:ExternalId":"` + extID + `"}}}`), noExt, Allow},
		{"StringNotEquals value list is NORed",
			stmt(`{"Effect":"Allow","Principal":{"AWS":"` + partner + `"},"Action":"sts:AssumeRole","Condition":{"StringNotEquals":{"sts:ExternalId":["a1","` + extID + `"]}}}`), withExt, ImplicitDeny},
		{"deny other accounts with StringNotEquals aws:PrincipalAccount",
			stmt(`{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole"},{"Effect":"Deny","Principal":"*","Action":"sts:AssumeRole","Condition":{"StringNotEquals":{"aws:PrincipalAccount":"` + partnerAcct + `"}}}`), otherCaller, ExplicitDeny},
		{"aws:PrincipalArn of a session is the role ARN",
			stmt(`{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole","Condition":{"StringEquals":{"aws:PrincipalArn":"` + partner + `"}}}`), session, Allow},
		{"ArnLike on aws:PrincipalArn",
			stmt(`{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole","Condition":{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::*:role/RoleCall*"}}}`), otherCaller, Allow},
		{"ArnLike components do not cross colons",
			stmt(`{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole","Condition":{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::*"}}}`), otherCaller, ImplicitDeny},
		{"numeric condition value",
			stmt(`{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole","Condition":{"StringEquals":{"aws:PrincipalAccount":111122223333}}}`), withExt, Allow},
		{"single statement object",
			`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"` + partner + `"},"Action":"sts:AssumeRole"}}`, withExt, Allow},
		{"empty statement list denies", stmt(``), withExt, ImplicitDeny},
		{"malformed caller is denied",
			stmt(`{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole"}`), Request{Principal: "bob", Action: "sts:AssumeRole"}, ImplicitDeny},
	}
	runEvalCases(t, tests)
}

func TestParsePolicyRefuses(t *testing.T) {
	allow := `"Effect":"Allow","Principal":{"AWS":"` + partner + `"},"Action":"sts:AssumeRole"`
	tests := []struct {
		name string
		doc  string
		kind error
		path string
	}{
		{"not JSON", `{"Version":`, ErrInvalidPolicy, ""},
		{"trailing data", stmt(`{`+allow+`}`) + `{}`, ErrInvalidPolicy, ""},
		{"not an object", `[]`, ErrInvalidPolicy, ""},
		{"no statement", `{"Version":"2012-10-17"}`, ErrInvalidPolicy, ""},
		{"bad version", `{"Version":"2020-01-01","Statement":[]}`, ErrInvalidPolicy, "Version"},
		{"unknown top-level element", `{"Version":"2012-10-17","Statement":[],"Foo":1}`, ErrInvalidPolicy, "Foo"},
		{"duplicate key", `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Effect":"Allow","Principal":"*","Action":"*"}]}`, ErrInvalidPolicy, ""},
		{"NotPrincipal", stmt(`{"Effect":"Allow","NotPrincipal":{"AWS":"` + other + `"},"Action":"sts:AssumeRole"}`), ErrUnsupported, "Statement[0].NotPrincipal"},
		{"NotAction", stmt(`{"Effect":"Allow","Principal":"*","NotAction":"sts:TagSession"}`), ErrUnsupported, "Statement[0].NotAction"},
		{"Resource", stmt(`{` + allow + `,"Resource":"*"}`), ErrInvalidPolicy, "Statement[0].Resource"},
		{"lower-case effect", stmt(`{"Effect":"allow","Principal":"*","Action":"*"}`), ErrInvalidPolicy, "Statement[0].Effect"},
		{"missing effect", stmt(`{"Principal":"*","Action":"*"}`), ErrInvalidPolicy, "Statement[0]"},
		{"missing principal", stmt(`{"Effect":"Allow","Action":"*"}`), ErrInvalidPolicy, "Statement[0]"},
		{"missing action", stmt(`{"Effect":"Allow","Principal":"*"}`), ErrInvalidPolicy, "Statement[0]"},
		{"string principal not star", stmt(`{"Effect":"Allow","Principal":"` + partner + `","Action":"*"}`), ErrInvalidPolicy, "Statement[0].Principal"},
		{"wildcard in principal ARN", stmt(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/*"},"Action":"*"}`), ErrInvalidPolicy, "Statement[0].Principal.AWS"},
		{"bad principal", stmt(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:s3:::bucket"},"Action":"*"}`), ErrInvalidPolicy, "Statement[0].Principal.AWS"},
		{"empty principal list", stmt(`{"Effect":"Allow","Principal":{"AWS":[]},"Action":"*"}`), ErrInvalidPolicy, "Statement[0].Principal.AWS"},
		{"canonical user principal", stmt(`{"Effect":"Allow","Principal":{"CanonicalUser":"abc"},"Action":"*"}`), ErrUnsupported, "Statement[0].Principal.CanonicalUser"},
		{"bad action", stmt(`{"Effect":"Allow","Principal":"*","Action":"AssumeRole"}`), ErrInvalidPolicy, "Statement[0].Action"},
		{"numeric operator", stmt(`{` + allow + `,"Condition":{"NumericLessThan":{"aws:MultiFactorAuthAge":"3600"}}}`), ErrUnsupported, "Statement[0].Condition.NumericLessThan"},
		{"date operator", stmt(`{` + allow + `,"Condition":{"DateGreaterThanIfExists":{"aws:CurrentTime":"2020-01-01T00:00:00Z"}}}`), ErrUnsupported, "Statement[0].Condition.DateGreaterThanIfExists"},
		{"address operator", stmt(`{` + allow + `,"Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}`), ErrUnsupported, "Statement[0].Condition.IpAddress"},
		{"unknown operator", stmt(`{` + allow + `,"Condition":{"StringAlmostEquals":{"sts:ExternalId":"x1"}}}`), ErrUnsupported, "Statement[0].Condition.StringAlmostEquals"},
		{"unknown set qualifier", stmt(`{` + allow + `,"Condition":{"ForSomeValues:StringEquals":{"sts:ExternalId":"x1"}}}`), ErrUnsupported, "Statement[0].Condition.ForSomeValues:StringEquals"},
		{"operator name case", stmt(`{` + allow + `,"Condition":{"stringequals":{"sts:ExternalId":"x1"}}}`), ErrUnsupported, "Statement[0].Condition.stringequals"},
		{"Null with IfExists", stmt(`{` + allow + `,"Condition":{"NullIfExists":{"sts:ExternalId":"true"}}}`), ErrInvalidPolicy, "Statement[0].Condition.NullIfExists"},
		{"Null with a set qualifier", stmt(`{` + allow + `,"Condition":{"ForAnyValue:Null":{"sts:ExternalId":"true"}}}`), ErrInvalidPolicy, "Statement[0].Condition.ForAnyValue:Null"},
		{"Bool on a string key", stmt(`{` + allow + `,"Condition":{"Bool":{"sts:ExternalId":"true"}}}`), ErrInvalidPolicy, "Statement[0].Condition.Bool.sts:ExternalId"},
		{"Bool with another value", stmt(`{` + allow + `,"Condition":{"Bool":{"aws:SecureTransport":"yes"}}}`), ErrInvalidPolicy, "Statement[0].Condition.Bool.aws:SecureTransport"},
		{"String operator on a Boolean key", stmt(`{` + allow + `,"Condition":{"StringEquals":{"aws:SecureTransport":"true"}}}`), ErrUnsupported, "Statement[0].Condition.StringEquals.aws:SecureTransport"},
		{"ArnNotLike on external ID", stmt(`{` + allow + `,"Condition":{"ForAllValues:ArnNotLikeIfExists":{"sts:ExternalId":"x1"}}}`), ErrInvalidPolicy, "Statement[0].Condition.ForAllValues:ArnNotLikeIfExists.sts:ExternalId"},
		{"unmodelled key with a set qualifier", stmt(`{` + allow + `,"Condition":{"ForAnyValue:StringEquals":{"aws:PrincipalOrgPaths":"o-1/r-1/"}}}`), ErrUnsupported, "Statement[0].Condition.ForAnyValue:StringEquals.aws:PrincipalOrgPaths"},
		{"unknown key", stmt(`{` + allow + `,"Condition":{"StringEquals":{"aws:SourceIp":"1.2.3.4"}}}`), ErrUnsupported, "Statement[0].Condition.StringEquals.aws:SourceIp"},
		{"policy variable", stmt(`{` + allow + `,"Condition":{"StringEquals":{"sts:ExternalId":"${aws:username}"}}}`), ErrUnsupported, "Statement[0].Condition.StringEquals.sts:ExternalId"},
		{"Null with other value", stmt(`{` + allow + `,"Condition":{"Null":{"sts:ExternalId":"yes"}}}`), ErrInvalidPolicy, "Statement[0].Condition.Null.sts:ExternalId"},
		{"ArnLike on external ID", stmt(`{` + allow + `,"Condition":{"ArnLike":{"sts:ExternalId":"x1"}}}`), ErrInvalidPolicy, "Statement[0].Condition.ArnLike.sts:ExternalId"},
		{"empty condition values", stmt(`{` + allow + `,"Condition":{"StringEquals":{"sts:ExternalId":[]}}}`), ErrInvalidPolicy, "Statement[0].Condition.StringEquals.sts:ExternalId"},
		{"too large", stmt(`{` + allow + `,"Sid":"` + strings.Repeat("x", MaxPolicyChars) + `"}`), ErrInvalidPolicy, ""},
		{"nested too deep", strings.Repeat("[", 100) + strings.Repeat("]", 100), ErrInvalidPolicy, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParsePolicy([]byte(tt.doc))
			if err == nil {
				t.Fatalf("ParsePolicy accepted %s (%v)", tt.doc, p)
			}
			if !errors.Is(err, tt.kind) {
				t.Errorf("error %v is not %v", err, tt.kind)
			}
			var pe *PolicyError
			if !errors.As(err, &pe) {
				t.Fatalf("error %T is not a *PolicyError", err)
			}
			if pe.Path != tt.path {
				t.Errorf("path = %q, want %q (%v)", pe.Path, tt.path, err)
			}
		})
	}
}

func TestGlob(t *testing.T) {
	tests := []struct {
		p, s string
		want bool
	}{
		{"", "", true},
		{"*", "", true},
		{"*", "anything", true},
		{"a*c", "abbbc", true},
		{"a*c", "abbb", false},
		{"a?c", "abc", true},
		{"a?c", "ac", false},
		{"*a*a*a*b", strings.Repeat("a", 200), false},
		{"rc-*", "rc-XYZ", true},
		{"é?", "éx", true},
	}
	for _, tt := range tests {
		if got := glob(tt.p, tt.s); got != tt.want {
			t.Errorf("glob(%q, %q) = %v, want %v", tt.p, tt.s, got, tt.want)
		}
	}
}

func TestParseIdentityPolicy(t *testing.T) {
	ok := []string{
		stmt(`{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}`),
		stmt(`{"Effect":"Deny","Action":["sts:AssumeRole"],"Resource":["arn:aws:iam::*:role/*","arn:aws:iam::111122223333:role/x"],"Condition":{"StringEquals":{"aws:ResourceOrgID":"${aws:PrincipalOrgID}"},"StringLike":{"aws:ResourceAccount":"${aws:PrincipalAccount}"}}}`),
	}
	for _, doc := range ok {
		if _, err := ParseIdentityPolicy([]byte(doc)); err != nil {
			t.Errorf("ParseIdentityPolicy(%s): %v", doc, err)
		}
	}
	refused := []struct {
		name, doc string
		kind      error
		path      string
	}{
		{"principal", stmt(`{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole","Resource":"*"}`), ErrInvalidPolicy, "Statement[0].Principal"},
		{"no resource", stmt(`{"Effect":"Allow","Action":"sts:AssumeRole"}`), ErrInvalidPolicy, "Statement[0]"},
		{"short resource ARN", stmt(`{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"arn:aws:iam::*"}`), ErrInvalidPolicy, "Statement[0].Resource"},
		{"resource not an ARN", stmt(`{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"role/*"}`), ErrInvalidPolicy, "Statement[0].Resource"},
		{"variable in resource", stmt(`{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"arn:aws:iam::${aws:PrincipalAccount}:role/*"}`), ErrUnsupported, "Statement[0].Resource"},
		{"NotResource", stmt(`{"Effect":"Allow","Action":"sts:AssumeRole","NotResource":"*"}`), ErrUnsupported, "Statement[0].NotResource"},
		{"variable with a negated operator", stmt(`{"Effect":"Deny","Action":"sts:AssumeRole","Resource":"*","Condition":{"StringNotEquals":{"aws:ResourceOrgID":"${aws:PrincipalOrgID}"}}}`), ErrUnsupported, "Statement[0].Condition.StringNotEquals.aws:ResourceOrgID"},
		{"variable inside a value", stmt(`{"Effect":"Deny","Action":"sts:AssumeRole","Resource":"*","Condition":{"StringEquals":{"aws:ResourceOrgID":"x-${aws:PrincipalOrgID}"}}}`), ErrUnsupported, "Statement[0].Condition.StringEquals.aws:ResourceOrgID"},
		{"resource key in a trust policy", stmt(`{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole","Condition":{"StringEquals":{"aws:ResourceAccount":"111122223333"}}}`), ErrUnsupported, "Statement[0].Condition.StringEquals.aws:ResourceAccount"},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			parse := ParseIdentityPolicy
			if tt.name == "resource key in a trust policy" {
				parse = ParsePolicy
			}
			_, err := parse([]byte(tt.doc))
			var pe *PolicyError
			if !errors.Is(err, tt.kind) || !errors.As(err, &pe) || pe.Path != tt.path {
				t.Errorf("error %v, want %v at %q", err, tt.kind, tt.path)
			}
		})
	}
}

// evalCase is a trust policy, a request and the decision IAM makes.
type evalCase struct {
	name string
	doc  string
	req  Request
	want Decision
}

// runEvalCases parses each case's policy and checks its decision, in a
// subtest per case.
func runEvalCases(t *testing.T, tests []evalCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParsePolicy([]byte(tt.doc))
			if err != nil {
				t.Fatalf("ParsePolicy: %v", err)
			}
			if got := p.Evaluate(tt.req); got != tt.want {
				t.Errorf("Evaluate = %v, want %v\n%s", got, tt.want, tt.doc)
			}
		})
	}
}
