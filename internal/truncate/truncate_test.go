package truncate

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// TestString covers String and, in the rows marked printable, Printable,
// which cleans s before String shortens it.
func TestString(t *testing.T) {
	tests := []struct {
		name      string
		printable bool
		s         string
		n         int
		want      string
	}{
		{"short", false, "abc", 5, "abc"},
		{"exactly n", false, "abcde", 5, "abcde"},
		{"empty", false, "", 0, ""},
		{"ascii cut", false, "abcdef", 3, "abc…"},
		{"zero", false, "abc", 0, "…"},
		{"negative", false, "abc", -4, "…"},
		// é is 2 bytes, € 3, 🔑 4: a cut inside one backs off to its start.
		{"cut after a 2-byte rune", false, "aéb", 3, "aé…"},
		{"cut inside a 2-byte rune", false, "aéb", 2, "a…"},
		{"cut inside a 3-byte rune, 1 byte in", false, "a€b", 2, "a…"},
		{"cut inside a 3-byte rune, 2 bytes in", false, "a€b", 3, "a…"},
		{"cut after a 3-byte rune", false, "a€b", 4, "a€…"},
		{"cut inside a 4-byte rune, 3 bytes in", false, "🔑🔑", 7, "🔑…"},
		{"cut inside the first rune", false, "🔑", 3, "…"},
		{"multi-byte string that fits", false, "€🔑", 7, "€🔑"},
		{"invalid UTF-8 kept", false, "a\xffbc", 3, "a\xffb…"},
		{"plain text", true, "role refused", 100, "role refused"},
		{"line breaks and tabs kept", true, "a\n\tb", 100, "a\n\tb"},
		{"escape sequences dropped", true, "\x1b[2Jcleared\x1b]0;title\x07", 100, "[2Jcleared]0;title"},
		{"carriage return and C1 controls dropped", true, "ok\rfake\u0085", 100, "okfake"},
		{"format characters dropped", true, "abc\u202edcba\u200b", 100, "abcdcba"},
		{"cut after cleaning", true, "\x1b\x1b\x1babcdef", 3, "abc…"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fn, f := "String", String
			if tc.printable {
				fn, f = "Printable", Printable
			}
			got := f(tc.s, tc.n)
			if got != tc.want {
				t.Errorf("%s(%q, %d) = %q, want %q", fn, tc.s, tc.n, got, tc.want)
			}
			if utf8.ValidString(tc.s) && !utf8.ValidString(got) {
				t.Errorf("%s(%q, %d) = %q: not valid UTF-8", fn, tc.s, tc.n, got)
			}
		})
	}
}

// TestStringEveryCut cuts a string of runes of every length at every byte:
// the result is valid UTF-8, a prefix of s (without the ellipsis) of at
// most n bytes, and no shorter than it has to be.
func TestStringEveryCut(t *testing.T) {
	s := strings.Repeat("aé€🔑", 3)
	for n := 0; n <= len(s); n++ {
		got := String(s, n)
		if n == len(s) {
			if got != s {
				t.Errorf("String(s, len(s)) = %q", got)
			}
			continue
		}
		prefix, ok := strings.CutSuffix(got, Ellipsis)
		if !ok || !strings.HasPrefix(s, prefix) || len(prefix) > n || !utf8.ValidString(got) || n-len(prefix) >= utf8.UTFMax {
			t.Errorf("String(s, %d) = %q", n, got)
		}
	}
}
