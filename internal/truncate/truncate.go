// Package truncate shortens text that RoleCall echoes in an answer or a
// log line (a field name a client sent, a stack ID, an error from a
// service) to a bounded size without splitting a UTF-8 character: a cut
// inside a multi-byte rune would leave invalid UTF-8, which JSON encoders
// replace with U+FFFD and log readers show as garbage.
package truncate

import "unicode/utf8"

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
