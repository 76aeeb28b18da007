package stack_test

import (
	"os/exec"
	"path"
	"strings"
	"testing"
)

const module = "github.com/rolecall/rolecall/"

// testSupport reports whether pkg is one of the module's test support
// packages: everything under internal/testkit/, and the contract suites and
// fakes beside the ports they test (storetest, queuetest, bustest, ...),
// whose names end in "test".
func testSupport(pkg string) bool {
	rel, ok := strings.CutPrefix(pkg, module)
	return ok && (strings.HasPrefix(rel, "internal/testkit/") || strings.HasSuffix(path.Base(rel), "test"))
}

// bench reports whether pkg is the bench, which measures with the fakes and
// meters of test support and is no part of what is deployed.
func bench(pkg string) bool {
	return pkg == module+"internal/bench" || pkg == module+"cmd/rolecall-bench"
}

// goList runs go list -f format over patterns from the module's root and
// returns one line per package, failing t unless at least `least` packages
// are listed.
func goList(t *testing.T, format string, least int, patterns ...string) [][]string {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list", "-f", format}, patterns...)...)
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %v: %v", patterns, err)
	}
	var pkgs [][]string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkgs = append(pkgs, strings.Fields(l))
	}
	if len(pkgs) < least {
		t.Fatalf("go list %v listed %d packages, want at least %d", patterns, len(pkgs), least)
	}
	return pkgs
}

func TestTestSupport(t *testing.T) {
	tests := []struct {
		pkg  string
		want bool
	}{
		{module + "internal/testkit/awsfake", true},
		{module + "internal/store/storetest", true},
		{module + "internal/opsapi/opsapitest", true},
		{module + "internal/store", false},
		{module + "internal/bench", false},
		{module + "internal/latest/store", false}, // only the last element counts
		{"github.com/other/contest", false},       // not the module's
		{"testing", false},
	}
	for _, tc := range tests {
		if got := testSupport(tc.pkg); got != tc.want {
			t.Errorf("testSupport(%s) = %v, want %v", tc.pkg, got, tc.want)
		}
	}
}

// The import rules of the layout: httpapi does not reach into the store
// (it maps onboarding's errors and pages), and no production package
// imports test support; only test support itself and the bench do.
func TestImportRules(t *testing.T) {
	for _, f := range goList(t, `{{.ImportPath}} {{join .Imports " "}}`, 30, "./...") {
		pkg, imports := f[0], f[1:]
		for _, imp := range imports {
			if pkg == module+"internal/httpapi" && imp == module+"internal/store" {
				t.Errorf("httpapi imports %s", imp)
			}
			if testSupport(imp) && !testSupport(pkg) && !bench(pkg) {
				t.Errorf("production package %s imports test support %s", pkg, imp)
			}
		}
	}
}

// What is deployed and shipped, the Lambdas and the rolecall command, is
// built of production packages only: neither the bench nor any test
// support is in their dependencies, however indirectly.
func TestDeployedDependencies(t *testing.T) {
	for _, f := range goList(t, `{{.ImportPath}} {{join .Deps " "}}`, 5, "./functions/...", "./cmd/rolecall") {
		pkg, deps := f[0], f[1:]
		for _, dep := range deps {
			if testSupport(dep) || bench(dep) {
				t.Errorf("%s depends on %s", pkg, dep)
			}
		}
	}
}
