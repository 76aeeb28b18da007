package rolesetup

import (
	"fmt"
	"strings"

	"github.com/rolecall/rolecall/infra"
)

// TerraformModuleName is the module block's name in the Terraform snippet.
const TerraformModuleName = "rolecall_customer_role"

// Terraform renders the module block that creates the role with the
// Terraform module infra/terraform/customer-role, and an output with the
// role ARN. Values are HCL-quoted (hclQuote), so quotes, backslashes,
// control characters and template sequences (${, %{) are escaped; the tests
// parse the result with hcl/v2 to prove it. (Writing it by hand keeps the
// HCL libraries out of the API Lambda's binary.)
func Terraform(p Params) (string, error) {
	p, err := p.normalized()
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString("# The RoleCall customer role. Run `terraform init && terraform apply` with an AWS\n")
	b.WriteString("# provider for the account you are connecting, then paste the role_arn output.\n")
	b.WriteString("module \"" + TerraformModuleName + "\" {\n")
	b.WriteString("  source = " + hclQuote(p.ModuleSource) + "\n\n")
	b.WriteString("  external_id           = " + hclQuote(p.ExternalID) + "\n")
	b.WriteString("  trusted_principal_arn = " + hclQuote(p.TrustedPrincipalARN) + "\n")
	b.WriteString("  role_name             = " + hclQuote(p.RoleName) + "\n")
	b.WriteString("}\n\n")
	b.WriteString("output \"rolecall_role_arn\" {\n")
	b.WriteString("  value = module." + TerraformModuleName + ".role_arn\n")
	b.WriteString("}\n")
	return b.String(), nil
}

// hclQuote renders s as an HCL quoted string literal.
func hclQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\r':
			b.WriteString(`\r`)
		case c == '\t':
			b.WriteString(`\t`)
		case c < 0x20 || c == 0x7f:
			fmt.Fprintf(&b, `\u%04x`, c)
		case (c == '$' || c == '%') && i+1 < len(s) && s[i+1] == '{':
			b.WriteByte(c) // "$${" and "%%{" are the literal "${" and "%{"
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// CLI renders the AWS CLI commands: deploy the template with the tenant's
// parameters, read the role ARN from the stack, and the two sts:AssumeRole
// calls RoleCall makes (with the external ID: allowed; without: denied),
// which the partner can run with the trusted principal's credentials.
// Every value is single-quoted for POSIX shells.
func CLI(p Params) (string, error) {
	p, err := p.normalized()
	if err != nil {
		return "", err
	}
	q := shellQuote
	var b strings.Builder
	w := func(lines ...string) {
		for _, l := range lines {
			b.WriteString(l)
			b.WriteByte('\n')
		}
	}
	w("# 1. Get the RoleCall customer role template.")
	if p.TemplateURL != "" {
		w("curl -fsSL -o "+q(p.TemplateFile)+" "+q(p.TemplateURL), "")
	} else {
		w("#    Download it from the onboarding page and save it as "+p.TemplateFile+".", "")
	}
	w("# 2. Create the role in the account you are connecting (IAM is global: one region is enough).",
		"aws cloudformation deploy \\",
		"  --region "+q(p.Region)+" \\",
		"  --stack-name "+q(p.StackName)+" \\",
		"  --template-file "+q(p.TemplateFile)+" \\",
		"  --capabilities CAPABILITY_NAMED_IAM \\",
		"  --parameter-overrides \\",
		"    "+q(infra.ParamExternalID+"="+p.ExternalID)+" \\",
		"    "+q(infra.ParamTrustedPrincipalARN+"="+p.TrustedPrincipalARN)+" \\",
		"    "+q(infra.ParamRoleName+"="+p.RoleName),
		"",
		"# 3. The role ARN to paste into the onboarding page:",
		"ROLE_ARN=$(aws cloudformation describe-stacks \\",
		"  --region "+q(p.Region)+" \\",
		"  --stack-name "+q(p.StackName)+" \\",
		"  --query \"Stacks[0].Outputs[?OutputKey=='"+infra.OutputRoleARN+"'].OutputValue\" \\",
		"  --output text)",
		"echo \"$ROLE_ARN\"",
		"",
		"# 4. What RoleCall checks, as the partner's principal ("+p.TrustedPrincipalARN+"):",
		"#    with the external ID the role can be assumed ...",
		"aws sts assume-role \\",
		"  --role-arn \"$ROLE_ARN\" \\",
		"  --role-session-name rolecall-check \\",
		"  --external-id "+q(p.ExternalID)+" \\",
		"  --duration-seconds 900",
		"#    ... and without it the call must fail with AccessDenied:",
		"aws sts assume-role \\",
		"  --role-arn \"$ROLE_ARN\" \\",
		"  --role-session-name rolecall-check \\",
		"  --duration-seconds 900",
	)
	return b.String(), nil
}

// shellQuote quotes s for a POSIX shell: safe words stay bare, anything else
// is single-quoted, each embedded single quote written as quote, backslash,
// quote, quote (close, escaped quote, reopen).
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.,/:@+=") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
