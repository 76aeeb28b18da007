// Package tool finds the external programs tests run on the PATH (make,
// npm): in CI (CI=true) a missing one fails the test, since CI installs
// everything the tests need; on a laptop it skips the test with what to
// install. (The tests of real AWS clients need Debian's own aws and
// python3 at fixed paths and check for them themselves.)
package tool

import (
	"os"
	"os/exec"
	"testing"
)

// Require returns the path of the program name, or ends the test: Fatal in
// CI, Skip elsewhere, saying how to install it.
func Require(t testing.TB, name, install string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not installed (%v); CI installs it: %s", name, err, install)
		return ""
	}
	t.Skipf("%s is not installed: %s", name, install)
	return ""
}
