package sandbox

import (
	"errors"
	"strconv"
	"strings"
	"testing"
)

// secretID stands for an external ID in the documents below: no refusal
// may repeat the document's text, so it must never appear in a message.
const secretID = "rc-SECRETSECRETSECRETSECRET234"

// TestPolicyCharacters: IAM accepts only tab, line feed, carriage return
// and U+0020 to U+00FF in a policy document. Any other character, or bytes
// that are not UTF-8, is refused as an invalid policy naming the character
// and its line and column, never the document's text; a JSON escape that
// decodes outside the set is refused as unmodelled. Trust and
// identity-based policies alike.
func TestPolicyCharacters(t *testing.T) {
	// id is the policy's Id, which takes any text IAM takes (a Sid takes
	// letters and digits only).
	trust := func(id, value string) string {
		return `{"Version":"2012-10-17","Id":"` + id + `","Statement":[{"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"` + value + `"}}}]}`
	}
	identity := func(id, value string) string {
		return `{"Version":"2012-10-17","Id":"` + id + `","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*","Condition":{"StringEquals":{"aws:ResourceAccount":"` + value + `"}}}]}`
	}
	tests := []struct {
		name string
		doc  func(build func(sid, value string) string) string
		kind error  // nil: accepted
		msg  string // in the refusal
	}{
		{"ASCII", func(b func(string, string) string) string { return b("Trust", secretID) }, nil, ""},
		{"Latin-1 Supplement", func(b func(string, string) string) string { return b("Confiance\u00e9\u00ff", secretID) }, nil, ""},
		{"tab, line feed and carriage return between tokens", func(b func(string, string) string) string {
			return strings.Replace(b("Trust", secretID), `"Statement":`, "\t\"Statement\":\r\n", 1)
		}, nil, ""},
		{"escape of a Latin-1 character", func(b func(string, string) string) string { return b(`Confiance\u00e9`, secretID) }, nil, ""},
		{"escaped line feed", func(b func(string, string) string) string { return b(`line\nfeed`, secretID) }, nil, ""},
		{"Cyrillic look-alike", func(b func(string, string) string) string { return b("Trust", "rc-\u0410"+secretID[4:]) }, ErrInvalidPolicy, "character U+0410 at line 1, column "},
		{"first character past Latin-1", func(b func(string, string) string) string { return b("Trust\u0100", secretID) }, ErrInvalidPolicy, "character U+0100 at line 1, column 36"},
		{"emoji", func(b func(string, string) string) string { return b("Trust\U0001F600", secretID) }, ErrInvalidPolicy, "character U+1F600 at line 1, column 36"},
		{"zero-width space", func(b func(string, string) string) string { return b("Trust\u200b", secretID) }, ErrInvalidPolicy, "character U+200B"},
		{"line separator", func(b func(string, string) string) string { return b("Trust\u2028", secretID) }, ErrInvalidPolicy, "character U+2028"},
		{"byte-order mark", func(b func(string, string) string) string { return "\ufeff" + b("Trust", secretID) }, ErrInvalidPolicy, "character U+FEFF at line 1, column 1"},
		{"NUL", func(b func(string, string) string) string { return b("Trust\x00", secretID) }, ErrInvalidPolicy, "character U+0000"},
		{"bell", func(b func(string, string) string) string { return b("Trust\a", secretID) }, ErrInvalidPolicy, "character U+0007"},
		{"on a later line", func(b func(string, string) string) string {
			return strings.Replace(b("Trust\u0410", secretID), `"Id":`, "\n\n\"Id\":", 1)
		}, ErrInvalidPolicy, "character U+0410 at line 3, column 12"},
		{"not UTF-8", func(b func(string, string) string) string { return b("Trust\xff", secretID) }, ErrInvalidPolicy, "not UTF-8 text: line 1, column 36"},
		{"Latin-1 bytes, not UTF-8", func(b func(string, string) string) string { return b("Confianc\xe9", secretID) }, ErrInvalidPolicy, "not UTF-8"},
		{"escape of a Cyrillic character", func(b func(string, string) string) string { return b(`Trust\u0410`, secretID) }, ErrUnsupported, "decodes to U+0410"},
		{"escape of NUL", func(b func(string, string) string) string { return b(`Trust\u0000`, secretID) }, ErrUnsupported, "decodes to U+0000"},
		{"escaped surrogate pair", func(b func(string, string) string) string { return b(`Trust\ud83d\ude00`, secretID) }, ErrUnsupported, "decodes to U+1F600"},
		{"escape in a key", func(b func(string, string) string) string {
			return strings.Replace(b("Trust", secretID), `"Version"`, `"Versio\u0273"`, 1)
		}, ErrUnsupported, "decodes to U+0273"},
	}
	parsers := []struct {
		name  string
		build func(sid, value string) string
		parse func([]byte) (*Policy, error)
	}{
		{"trust", trust, ParsePolicy},
		{"identity", identity, ParseIdentityPolicy},
	}
	for _, p := range parsers {
		for _, tt := range tests {
			t.Run(p.name+"/"+tt.name, func(t *testing.T) {
				_, err := p.parse([]byte(tt.doc(p.build)))
				if tt.kind == nil {
					if err != nil {
						t.Fatalf("refused: %v", err)
					}
					return
				}
				var pe *PolicyError
				if !errors.Is(err, tt.kind) || !errors.As(err, &pe) {
					t.Fatalf("error %v, want a *PolicyError of %v", err, tt.kind)
				}
				if !strings.Contains(err.Error(), tt.msg) {
					t.Errorf("error %q does not say %q", err, tt.msg)
				}
				if strings.Contains(err.Error(), secretID[4:]) || strings.Contains(err.Error(), "Trust") {
					t.Errorf("error %q repeats the document", err)
				}
			})
		}
	}
}

// TestPolicyLength: a trust policy is held to IAM's default quota of 2,048
// characters, an identity-based policy to 4,096; whitespace is not counted,
// and a Latin-1 character counts once however many bytes it takes.
func TestPolicyLength(t *testing.T) {
	// sized returns a document of exactly n characters other than
	// whitespace, padded in its Id with pad, plus extra whitespace.
	sized := func(identity bool, n int, pad string, space int) []byte {
		body := `"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"sts:AssumeRole"`
		if identity {
			body = `"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"`
		}
		doc := func(id string) string {
			return `{"Version":"2012-10-17","Id":"` + id + `","Statement":[{` + body + `}]}`
		}
		fill := n - len(doc(""))
		return []byte(strings.Replace(doc(strings.Repeat(pad, fill)), `"Statement":`, strings.Repeat(" \n\t\r", space)+`"Statement":`, 1))
	}
	tests := []struct {
		name     string
		identity bool
		n        int
		pad      string
		space    int
		ok       bool
	}{
		{"trust at the quota", false, MaxTrustPolicyChars, "x", 0, true},
		{"trust over the quota", false, MaxTrustPolicyChars + 1, "x", 0, false},
		{"trust at the raised quota", false, 4096, "x", 0, false},
		{"trust at the quota with whitespace", false, MaxTrustPolicyChars, "x", 500, true},
		{"trust at the quota in two-byte characters", false, MaxTrustPolicyChars, "\u00e9", 0, true},
		{"trust over the quota in two-byte characters", false, MaxTrustPolicyChars + 1, "\u00e9", 0, false},
		{"identity over the trust quota", true, MaxTrustPolicyChars + 1, "x", 0, true},
		{"identity at its limit", true, MaxPolicyChars, "x", 100, true},
		{"identity over its limit", true, MaxPolicyChars + 1, "x", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := sized(tt.identity, tt.n, tt.pad, tt.space)
			parse := ParsePolicy
			if tt.identity {
				parse = ParseIdentityPolicy
			}
			_, err := parse(doc)
			if tt.ok {
				if err != nil {
					t.Fatalf("refused a document of %d characters (%d bytes): %v", tt.n, len(doc), err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidPolicy) {
				t.Fatalf("error %v, want ErrInvalidPolicy", err)
			}
			if want := "has " + strconv.Itoa(tt.n) + " characters"; !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not say %q", err, want)
			}
		})
	}
}
