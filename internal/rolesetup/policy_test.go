package rolesetup

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/rolecall/rolecall/infra"
)

// TestTemplateRendersTrustPolicyDocument: infra/customer-role.yaml,
// evaluated with its parameters, creates exactly TrustPolicyDocument, whose
// keys are in the template's order.
func TestTemplateRendersTrustPolicyDocument(t *testing.T) {
	for _, tt := range []struct{ externalID, principal string }{
		{"rc-ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", "arn:aws:iam::111122223333:role/rolecall-prod-verifier"},
		{"rc-ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ", "arn:aws-cn:iam::111122223333:role/team/partner"},
	} {
		fromTemplate, err := templateTrustPolicy(infra.CustomerRoleTemplate(), tt.externalID, tt.principal)
		if err != nil {
			t.Fatal(err)
		}
		doc := TrustPolicyDocument(tt.externalID, tt.principal).JSON()
		if want, _ := canonicalJSON(doc); !bytes.Equal(fromTemplate, want) {
			t.Errorf("template renders\n%s\nthe Go value is\n%s", fromTemplate, want)
		}
		if key, ok := keysInOrder(infra.CustomerRoleTemplate(), doc); !ok {
			t.Errorf("the Go value's keys are not in the template's order (first out of order: %s):\n%s", key, doc)
		}
	}
}

// TestRequestsParseNoYAML: after the first use, rendering the instructions,
// the download and the trust policy parses no YAML: the three together
// allocate fewer times than one parse of the template alone does.
func TestRequestsParseNoYAML(t *testing.T) {
	p := Params{ExternalID: "rc-ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", TrustedPrincipalARN: "arn:aws-us-gov:iam::111122223333:role/p", TenantID: "t1"}
	if _, err := Template(p); err != nil { // first use parses the template once
		t.Fatal(err)
	}
	src := infra.CustomerRoleTemplate()
	parse := testing.AllocsPerRun(5, func() {
		var doc yaml.Node
		if err := yaml.Unmarshal(src, &doc); err != nil {
			t.Fatal(err)
		}
	})
	request := testing.AllocsPerRun(5, func() {
		if _, err := Render(p); err != nil {
			t.Fatal(err)
		}
		if _, err := Template(p); err != nil {
			t.Fatal(err)
		}
		if _, err := TrustPolicy(p.ExternalID, p.TrustedPrincipalARN); err != nil {
			t.Fatal(err)
		}
	})
	if request >= parse {
		t.Fatalf("a request allocates %.0f times, one parse of the template %.0f: the request parses YAML", request, parse)
	}
}

func BenchmarkRenderAndTemplate(b *testing.B) {
	p := Params{ExternalID: "rc-ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", TrustedPrincipalARN: "arn:aws:iam::111122223333:role/p", TenantID: "t1"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Render(p); err != nil {
			b.Fatal(err)
		}
		if _, err := Template(p); err != nil {
			b.Fatal(err)
		}
	}
}

// TestTrustPolicyArgumentsInOneOrder: TrustPolicyDocument, TrustPolicy and
// templateTrustPolicy all take the external ID first, then the principal,
// and put each where it belongs.
func TestTrustPolicyArgumentsInOneOrder(t *testing.T) {
	const ext, principal = "rc-ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", "arn:aws:iam::111122223333:role/rolecall-prod-access"
	doc := TrustPolicyDocument(ext, principal)
	if st := doc.Statement[0]; st.Principal.AWS != principal || st.Condition["StringEquals"]["sts:ExternalId"] != ext {
		t.Errorf("TrustPolicyDocument(ext, principal) = %+v", st)
	}
	rendered, err := TrustPolicy(ext, principal)
	if err != nil || !bytes.Equal(rendered, doc.JSON()) {
		t.Errorf("TrustPolicy(ext, principal) = %s, %v; want\n%s", rendered, err, doc.JSON())
	}
	fromTemplate, err := templateTrustPolicy(infra.CustomerRoleTemplate(), ext, principal)
	if want, _ := canonicalJSON(doc.JSON()); err != nil || !bytes.Equal(fromTemplate, want) {
		t.Errorf("templateTrustPolicy(template, ext, principal) = %s, %v; want\n%s", fromTemplate, err, want)
	}
}

// TestKeysInOrderFindsAReorderedKey: the key order check fails a document
// whose keys are not in the template's order, and names the key.
func TestKeysInOrderFindsAReorderedKey(t *testing.T) {
	tests := []struct {
		name, doc, key string
		ok             bool
	}{
		{"template order", string(TrustPolicyDocument("X1", "arn:aws:iam::111122223333:role/P").JSON()), "", true},
		{"Statement first", `{"Statement":[{"Sid":"S","Effect":"Allow","Principal":{"AWS":"P"},"Action":"A","Condition":{"StringEquals":{"sts:ExternalId":"X1"}}}],"Version":"2012-10-17"}`, "Statement", false},
		{"Sid missing", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow"}]}`, "Sid", false},
	}
	for _, tt := range tests {
		if key, ok := keysInOrder(infra.CustomerRoleTemplate(), []byte(tt.doc)); ok != tt.ok || key != tt.key {
			t.Errorf("%s: keysInOrder = %q, %v; want %q, %v", tt.name, key, ok, tt.key, tt.ok)
		}
	}
}

// A customer role template the renderer cannot fill in is refused with an
// error wrapping ErrTemplate that says what is wrong; one whose parameters
// have no Default gets them inserted after the parameter's first property.
func TestParseTemplateRefusesWhatItCannotFill(t *testing.T) {
	const params = "Parameters:\n  ExternalId:\n    Type: String\n  TrustedPrincipalArn:\n    Type: String\n  RoleName:\n    Type: String\n"
	tests := []struct {
		name, src, want string // want "": parsed
	}{
		{"not YAML", "Parameters: [unclosed\n", "parse"},
		{"no parameters", "Resources: {}\n", "no Parameters"},
		{"a parameter missing", "Parameters:\n  ExternalId:\n    Type: String\n  RoleName:\n    Type: String\n", "no parameter TrustedPrincipalArn"},
		{"a multi-line default", strings.Replace(params, "  RoleName:\n    Type: String\n", "  RoleName:\n    Type: String\n    Default: |\n      two\n      lines\n", 1), "parameter RoleName has a multi-line Default"},
		{"no defaults", params, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := parseTemplate([]byte(tt.src))
			if tt.want == "" {
				if got.err != nil {
					t.Fatal(got.err)
				}
				// RoleName's first property, Type, is the 7th line (0-based 6).
				if l := got.params[infra.ParamRoleName]; !l.insert || l.line != 6 || l.column != 5 {
					t.Errorf("RoleName's Default goes at %+v, want inserted after 0-based line 6 at column 5", l)
				}
				return
			}
			if !errors.Is(got.err, ErrTemplate) || !strings.Contains(got.err.Error(), tt.want) {
				t.Errorf("error %v, want ErrTemplate saying %q", got.err, tt.want)
			}
		})
	}
}
