package sandbox

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The callers and external ID of the policy tests; the policies of
// testdata/*.json spell them out.
const (
	partner = "arn:aws:iam::111122223333:role/RoleCallVerifier"
	other   = "arn:aws:iam::444455556666:role/RoleCallVerifier"
	extID   = "rc-EXAMPLEEXAMPLE"
)

func stmt(body string) string {
	return `{"Version":"2012-10-17","Statement":[` + body + `]}`
}

// TestEvaluate: the decision of each trust policy testdata/evaluate.json
// lists for the request it names (defined here).
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

	runEvalFile(t, "evaluate.json", map[string]Request{
		"withExt": withExt, "noExt": noExt, "wrongExt": wrongExt, "otherCaller": otherCaller,
		"session": session, "user": user, "tagSession": tagSession,
		"malformedCaller": {Principal: "bob", Action: "sts:AssumeRole"},
	})
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
		// IAM matches the six parts of an ARN pattern one by one; what a
		// shorter pattern matches it does not say (taken as nothing, a
		// Deny would be lenient).
		{"short ARN pattern", stmt(`{` + allow + `,"Condition":{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::*"}}}`), ErrUnsupported, "Statement[0].Condition.ArnLike.aws:PrincipalArn"},
		{"ARN pattern *", stmt(`{` + allow + `,"Condition":{"ArnNotEquals":{"aws:PrincipalArn":"*"}}}`), ErrUnsupported, "Statement[0].Condition.ArnNotEquals.aws:PrincipalArn"},
		{"empty condition values", stmt(`{` + allow + `,"Condition":{"StringEquals":{"sts:ExternalId":[]}}}`), ErrInvalidPolicy, "Statement[0].Condition.StringEquals.sts:ExternalId"},
		{"a condition key twice in two cases", stmt(`{` + allow + `,"Condition":{"StringEquals":{"sts:ExternalId":"x1","sts:externalid":"x2"}}}`), ErrUnsupported, "Statement[0].Condition.StringEquals.sts:externalid"},
		{"a Sid not alpha-numeric", stmt(`{` + allow + `,"Sid":"trust partner: rc-1"}`), ErrInvalidPolicy, "Statement[0].Sid"},
		{"a Sid not a string", stmt(`{` + allow + `,"Sid":7}`), ErrInvalidPolicy, "Statement[0].Sid"},
		{"a Sid twice", stmt(`{` + allow + `,"Sid":"Same"},{` + allow + `,"Sid":"Same"}`), ErrInvalidPolicy, "Statement[1].Sid"},
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
		// Without Version 2012-10-17, "${...}" is literal text wherever it is.
		`{"Version":"2008-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"arn:aws:iam::${aws:PrincipalAccount}:role/*"}]}`,
		`{"Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*","Condition":{"StringNotEquals":{"aws:ResourceOrgID":"x-${aws:username}"}}}]}`,
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

// evalGroup is a group of evaluation cases, with what they have in common
// (About, where the file says), as testdata/evaluate.json and
// testdata/iamrules.json list them
// (encoding/json matches their lower-case keys to these fields).
type evalGroup struct {
	About string
	Cases []evalCase
}

// evalCase is a trust policy, the name of a request and the decision IAM
// makes.
type evalCase struct {
	Name, Request, Want string
	Policy              json.RawMessage
}

// decisions names each Decision as the case files spell it.
var decisions = map[string]Decision{"Allow": Allow, "ImplicitDeny": ImplicitDeny, "ExplicitDeny": ExplicitDeny}

// runEvalFile reads the groups of testdata/<file>, parses each case's
// policy as written (the bytes of the file) and checks its decision for
// the request the case names, in a subtest per case. A case naming an
// unknown request or decision fails, and so does a request no case uses.
func runEvalFile(t *testing.T, file string, requests map[string]Request) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var groups []evalGroup
	if err := dec.Decode(&groups); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	used := map[string]bool{}
	for _, g := range groups {
		if len(g.Cases) == 0 {
			t.Fatalf("%s: group %q has no cases", file, g.About)
		}
		for _, tt := range g.Cases {
			req, ok := requests[tt.Request]
			if !ok {
				t.Fatalf("%s: case %q names no known request %q", file, tt.Name, tt.Request)
			}
			want, ok := decisions[tt.Want]
			if !ok {
				t.Fatalf("%s: case %q wants no known decision %q", file, tt.Name, tt.Want)
			}
			used[tt.Request] = true
			t.Run(tt.Name, func(t *testing.T) {
				p, err := ParsePolicy(tt.Policy)
				if err != nil {
					t.Fatalf("ParsePolicy: %v", err)
				}
				if got := p.Evaluate(req); got != want {
					t.Errorf("Evaluate(%s) = %v, want %v\n%s", tt.Request, got, want, tt.Policy)
				}
			})
		}
	}
	for name := range requests {
		if !used[name] {
			t.Errorf("%s: no case uses the request %q", file, name)
		}
	}
}
