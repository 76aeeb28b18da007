package tool

import (
	"testing"
)

// fakeT records how a test ended.
type fakeT struct {
	testing.TB
	fatal, skip bool
}

func (f *fakeT) Helper()               {}
func (f *fakeT) Fatalf(string, ...any) { f.fatal = true }
func (f *fakeT) Skipf(string, ...any)  { f.skip = true }

func TestRequire(t *testing.T) {
	tests := []struct {
		name, prog, ci     string
		found, fatal, skip bool
	}{
		{"installed", "go", "true", true, false, false},
		{"missing in CI", "rolecall-no-such-program", "true", false, true, false},
		{"missing on a laptop", "rolecall-no-such-program", "", false, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("CI", tc.ci)
			f := &fakeT{TB: t}
			path := Require(f, tc.prog, "apt-get install it")
			if (path != "") != tc.found || f.fatal != tc.fatal || f.skip != tc.skip {
				t.Fatalf("Require(%q) with CI=%q = %q (fatal %v, skip %v)", tc.prog, tc.ci, path, f.fatal, f.skip)
			}
		})
	}
}
