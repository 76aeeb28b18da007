package truncate

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestString(t *testing.T) {
	tests := []struct {
		name string
		s    string
		n    int
		want string
	}{
		{"short", "abc", 5, "abc"},
		{"exactly n", "abcde", 5, "abcde"},
		{"empty", "", 0, ""},
		{"ascii cut", "abcdef", 3, "abc…"},
		{"zero", "abc", 0, "…"},
		{"negative", "abc", -4, "…"},
		// é is 2 bytes, € 3, 🔑 4: a cut inside one backs off to its start.
		{"cut after a 2-byte rune", "aéb", 3, "aé…"},
		{"cut inside a 2-byte rune", "aéb", 2, "a…"},
		{"cut inside a 3-byte rune, 1 byte in", "a€b", 2, "a…"},
		{"cut inside a 3-byte rune, 2 bytes in", "a€b", 3, "a…"},
		{"cut after a 3-byte rune", "a€b", 4, "a€…"},
		{"cut inside a 4-byte rune, 3 bytes in", "🔑🔑", 7, "🔑…"},
		{"cut inside the first rune", "🔑", 3, "…"},
		{"multi-byte string that fits", "€🔑", 7, "€🔑"},
		{"invalid UTF-8 kept", "a\xffbc", 3, "a\xffb…"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := String(tc.s, tc.n)
			if got != tc.want {
				t.Errorf("String(%q, %d) = %q, want %q", tc.s, tc.n, got, tc.want)
			}
			if utf8.ValidString(tc.s) && !utf8.ValidString(got) {
				t.Errorf("String(%q, %d) = %q: not valid UTF-8", tc.s, tc.n, got)
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
