package stack_test

import (
	"os/exec"
	"strings"
	"testing"
)

// The import rules of the layout: httpapi does not reach into the store
// (it maps onboarding's errors and pages), and no production package
// imports test support; only the bench, which measures with its fakes and
// meters, does.
func TestImportRules(t *testing.T) {
	cmd := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, "./...")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	const mod = "github.com/rolecall/rolecall/"
	benches := map[string]bool{mod + "internal/bench": true, mod + "cmd/rolecall-bench": true}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) < 30 {
		t.Fatalf("go list listed %d packages", len(lines))
	}
	for _, l := range lines {
		f := strings.Fields(l)
		pkg, imports := f[0], f[1:]
		testSupport := strings.HasPrefix(pkg, mod+"internal/testkit/") || strings.HasSuffix(pkg, "test")
		for _, imp := range imports {
			if pkg == mod+"internal/httpapi" && imp == mod+"internal/store" {
				t.Errorf("httpapi imports %s", imp)
			}
			if strings.HasPrefix(imp, mod+"internal/testkit/") && !testSupport && !benches[pkg] {
				t.Errorf("production package %s imports test support %s", pkg, imp)
			}
		}
	}
}
