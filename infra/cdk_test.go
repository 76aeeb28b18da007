package infra_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rolecall/rolecall/infra"
	"github.com/rolecall/rolecall/internal/rolesetup"
	"github.com/rolecall/rolecall/internal/testkit/tool"
	"github.com/rolecall/rolecall/internal/yamlnode"
)

// cdkTest runs the CDK construct's suite (infra/cdk, node's test runner
// with aws-cdk-lib/assertions) with the trust policy expected.
func cdkTest(t *testing.T, externalID, principal string, expected []byte) (string, error) {
	t.Helper()
	cmd := exec.Command("npm", "test", "--silent")
	cmd.Dir = "cdk"
	cmd.Env = append(os.Environ(),
		"CI=true", // the trust-policy test fails instead of skipping without its input
		"ROLECALL_EXTERNAL_ID="+externalID,
		"ROLECALL_TRUSTED_PRINCIPAL_ARN="+principal,
		"ROLECALL_EXPECTED_TRUST_POLICY="+string(expected),
		"ROLECALL_TRUSTED_PRINCIPAL_PATTERN="+principalPattern(t),
	)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// principalPattern is customer-role.yaml's AllowedPattern of the trusted
// principal, which the construct checks with and exports.
func principalPattern(t *testing.T) string {
	t.Helper()
	p := yamlnode.Value(yamlnode.Value(yamlnode.Value(template(t), "Parameters"), infra.ParamTrustedPrincipalARN), "AllowedPattern")
	if p == nil || p.Value == "" {
		t.Fatal("customer-role.yaml: TrustedPrincipalArn has no AllowedPattern")
	}
	return p.Value
}

// TestCDKConstructTrustPolicy: the CDK construct synthesizes exactly the
// customer role's trust policy (rolesetup.TrustPolicy, which
// infra/customer-role.yaml is tested to create too), and the comparison
// fails when they differ.
func TestCDKConstructTrustPolicy(t *testing.T) {
	if _, err := os.Stat(filepath.Join("cdk", "node_modules", "aws-cdk-lib")); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("infra/cdk/node_modules is missing: `make cdk-deps` (run by `make test` and .ci/run) installs it with npm ci")
		}
		t.Skip("infra/cdk/node_modules is missing; run `make cdk-deps`")
	}
	tool.Require(t, "npm", "install Node.js with npm")
	const externalID = "rc-ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	const principal = "arn:aws:iam::111122223333:role/rolecall-prod-verifier"
	want, err := rolesetup.TrustPolicy(externalID, principal)
	if err != nil {
		t.Fatal(err)
	}
	out, err := cdkTest(t, externalID, principal, want)
	if err != nil || !strings.Contains(out, "# fail 0") || !strings.Contains(out, "# skipped 0") {
		t.Fatalf("the CDK suite failed (%v):\n%s", err, out)
	}
	// The same suite against another template's policy must fail.
	other, err := rolesetup.TrustPolicy("rc-ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ", principal)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := cdkTest(t, externalID, principal, other); err == nil || !strings.Contains(out, "trust policy equals") {
		t.Fatalf("the CDK suite passed against a different trust policy:\n%s", out)
	}
}
