package rolesetup

import (
	"bytes"
	"testing"

	"github.com/rolecall/rolecall/infra"
)

// TestTemplateRendersTrustPolicyDocument: infra/customer-role.yaml,
// evaluated with its parameters, creates exactly TrustPolicyDocument.
func TestTemplateRendersTrustPolicyDocument(t *testing.T) {
	for _, tt := range []struct{ externalID, principal string }{
		{"rc-ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", "arn:aws:iam::111122223333:role/rolecall-prod-verifier"},
		{"rc-ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ", "arn:aws-cn:iam::111122223333:role/team/partner"},
	} {
		fromTemplate, err := TemplateTrustPolicy(infra.CustomerRoleTemplate(), tt.externalID, tt.principal)
		if err != nil {
			t.Fatal(err)
		}
		if want := TrustPolicyDocument(tt.externalID, tt.principal).JSON(); !bytes.Equal(fromTemplate, want) {
			t.Errorf("template renders\n%s\nthe Go value is\n%s", fromTemplate, want)
		}
	}
}

// TestRequestsParseNoYAML: after the first use, rendering the instructions,
// the download and the trust policy parses no YAML.
func TestRequestsParseNoYAML(t *testing.T) {
	p := Params{ExternalID: "rc-ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", TrustedPrincipalARN: "arn:aws-us-gov:iam::111122223333:role/p", TenantID: "t1"}
	if _, err := Template(p); err != nil { // first use parses the template once
		t.Fatal(err)
	}
	before := yamlParses.Load()
	for range 3 {
		if _, err := Render(p); err != nil {
			t.Fatal(err)
		}
		if _, err := Template(p); err != nil {
			t.Fatal(err)
		}
		if _, err := TrustPolicy(p.ExternalID, p.TrustedPrincipalARN); err != nil {
			t.Fatal(err)
		}
	}
	if n := yamlParses.Load() - before; n != 0 {
		t.Fatalf("requests parsed YAML %d times, want 0", n)
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
// TemplateTrustPolicy all take the external ID first, then the principal,
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
	fromTemplate, err := TemplateTrustPolicy(infra.CustomerRoleTemplate(), ext, principal)
	if err != nil || !bytes.Equal(fromTemplate, doc.JSON()) {
		t.Errorf("TemplateTrustPolicy(template, ext, principal) = %s, %v; want\n%s", fromTemplate, err, doc.JSON())
	}
}
