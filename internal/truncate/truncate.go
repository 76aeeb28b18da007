// Package truncate shortens text that RoleCall echoes in an answer or a
// log line (a field name a client sent, a stack ID, an error from a
// service) to a bounded size without splitting a UTF-8 character: a cut
// inside a multi-byte rune would leave invalid UTF-8, which JSON encoders
// replace with U+FFFD and log readers show as garbage. Printable also
// drops the characters a terminal would act on instead of showing.
package truncate

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Ellipsis ends a string String shortened.
const Ellipsis = "…"

// String is s when it has at most n bytes; otherwise the longest prefix of
// s of at most n bytes that ends on a rune boundary, followed by Ellipsis
// (so the result has at most n+len(Ellipsis) bytes). A negative n counts
// as 0. Bytes of s that are not valid UTF-8 are kept as they are.
func String(s string, n int) string {
	if len(s) <= n {
		return s
	}
	n = max(n, 0)
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + Ellipsis
}

// Printable is s without control characters but line breaks and tabs (a
// hint may quote a policy on several lines), nor format characters (such
// as a bidirectional override that would show the text in another order),
// shortened as String shortens it to at most n bytes. Text from another
// program goes through it before it reaches a terminal: an escape
// sequence in it could clear the screen or rewrite what was printed.
func Printable(s string, n int) string {
	return String(strings.Map(func(r rune) rune {
		if unicode.IsControl(r) && r != '\n' && r != '\t' || unicode.Is(unicode.Cf, r) {
			return -1
		}
		return r
	}, s), n)
}
