package rolesetup

import (
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// TestHCLStringOfHostileValues: every value renders as the literal HCL's
// own writer would write, and parsing that literal (with no variables or
// functions in scope) gives the value back: no value can end the string,
// open an interpolation or a directive, or break the file.
func TestHCLStringOfHostileValues(t *testing.T) {
	tests := []struct {
		name, in, want string
		value          string // what HCL reads back; in unless set
	}{
		{"plain", "arn:aws:iam::111122223333:role/x", `"arn:aws:iam::111122223333:role/x"`, ""},
		{"empty", "", `""`, ""},
		{"quote", `a"b`, `"a\"b"`, ""},
		{"quote then code", `x" } resource "evil" {`, `"x\" } resource \"evil\" {"`, ""},
		{"backslash", `a\b`, `"a\\b"`, ""},
		{"backslash before quote", `a\"`, `"a\\\""`, ""},
		{"newline", "l\n", `"l\n"`, ""},
		{"carriage return", "a\rb", `"a\rb"`, ""},
		{"tab", "a\tb", `"a\tb"`, ""},
		{"interpolation", "${file(\"/etc/passwd\")}", `"$${file(\"/etc/passwd\")}"`, ""},
		{"directive", "%{if true}x%{endif}", `"%%{if true}x%%{endif}"`, ""},
		{"escaped interpolation stays literal", "$${x}", `"$$${x}"`, ""},
		{"dollar and percent alone", "100% $5 {}", `"100% $5 {}"`, ""},
		{"trailing introducer", "a$", `"a$"`, ""},
		{"NUL and bell", "a\x00b\x07", `"a\u0000b\u0007"`, ""},
		{"DEL", "a\x7f", `"a\u007f"`, ""},
		{"line separator", "a\u2028b", `"a\u2028b"`, ""},
		{"zero width space", "a\u200bb", `"a\u200bb"`, ""},
		{"outside the BMP, not printable", "a\U000e0001", `"a\U000e0001"`, ""},
		{"printable non-ASCII", "rôle-€-😀", `"rôle-€-😀"`, ""},
		{"invalid UTF-8", "a\xffb", "\"a\uFFFDb\"", "a\uFFFDb"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := HCLString(tc.in)
			if got != tc.want {
				t.Errorf("HCLString(%q) = %s, want %s", tc.in, got, tc.want)
			}
			expr, diags := hclsyntax.ParseExpression([]byte(got), "value.tf", hcl.InitialPos)
			if diags.HasErrors() {
				t.Fatalf("%s does not parse: %s", got, diags)
			}
			if len(expr.Variables()) > 0 {
				t.Fatalf("%s references variables %v", got, expr.Variables())
			}
			v, diags := expr.Value(nil)
			if diags.HasErrors() {
				t.Fatalf("%s does not evaluate without a scope: %s", got, diags)
			}
			want := tc.in
			if tc.value != "" {
				want = tc.value
			}
			if v.AsString() != want {
				t.Errorf("%s reads back as %q, want %q", got, v.AsString(), want)
			}
		})
	}
}
