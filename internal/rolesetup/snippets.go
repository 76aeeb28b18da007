package rolesetup

import (
	"fmt"
	"strings"
	"unicode"

	"github.com/rolecall/rolecall/infra"
)

// TerraformModuleName is the module block's name in the Terraform snippet
// when the partner configures a module source.
const TerraformModuleName = "rolecall_customer_role"

// TerraformResourceName is the aws_iam_role's name in the inline snippet.
const TerraformResourceName = "rolecall"

// Terraform renders the Terraform that creates the role, and an output with
// the role ARN. Without a module source it is self-contained: an inline
// aws_iam_role with the same trust policy as infra/customer-role.yaml and
// its default managed policies (in the principal's partition), so
// it works in any configuration with an AWS provider and names no module
// address that might not exist. With Params.ModuleSource (where the partner
// publishes infra/terraform/customer-role) it is a module block.
//
// Values are HCL-quoted (HCLString), so quotes, backslashes, control
// characters and template sequences (${, %{) are escaped; the tests parse
// the result with hcl/v2 to prove it. (Writing it by hand keeps the HCL
// libraries out of the API Lambda's binary.)
func Terraform(p Params) (string, error) { return renderWith(p, terraform) }

// terraform is Terraform of normalized parameters.
func terraform(p Params) string {
	module := p.ModuleSource != ""
	partition, _ := partitionOf(p.TrustedPrincipalARN)
	var b strings.Builder
	b.WriteString("# The RoleCall customer role. Run `terraform init && terraform apply` with an AWS\n")
	b.WriteString("# provider for the account you are connecting, then paste the role_arn output.\n")
	if module {
		b.WriteString("module \"" + TerraformModuleName + "\" {\n")
		b.WriteString("  source = " + HCLString(p.ModuleSource) + "\n\n")
		b.WriteString("  external_id           = " + HCLString(p.ExternalID) + "\n")
		b.WriteString("  trusted_principal_arn = " + HCLString(p.TrustedPrincipalARN) + "\n")
		b.WriteString("  role_name             = " + HCLString(p.RoleName) + "\n")
		if _, ok := p.managedPolicyOverride(); ok {
			b.WriteString("  managed_policy_arns   = " + hclList(defaultManagedPolicies(partition)) + "\n")
		}
		b.WriteString("}\n\n")
		b.WriteString("output \"rolecall_role_arn\" {\n")
		b.WriteString("  value = module." + TerraformModuleName + ".role_arn\n")
		b.WriteString("}\n")
		return b.String()
	}
	b.WriteString("resource \"aws_iam_role\" \"" + TerraformResourceName + "\" {\n")
	b.WriteString("  name                 = " + HCLString(p.RoleName) + "\n")
	b.WriteString("  description          = \"Assumed by the partner through RoleCall, only with your external ID.\"\n")
	b.WriteString("  max_session_duration = 3600\n\n")
	b.WriteString("  assume_role_policy = jsonencode({\n")
	b.WriteString("    Version = \"2012-10-17\"\n")
	b.WriteString("    Statement = [\n")
	b.WriteString("      {\n")
	b.WriteString("        Sid       = \"TrustPartnerWithExternalId\"\n")
	b.WriteString("        Effect    = \"Allow\"\n")
	b.WriteString("        Principal = { AWS = " + HCLString(p.TrustedPrincipalARN) + " }\n")
	b.WriteString("        Action    = \"sts:AssumeRole\"\n")
	b.WriteString("        Condition = {\n")
	b.WriteString("          StringEquals = { \"sts:ExternalId\" = " + HCLString(p.ExternalID) + " }\n")
	b.WriteString("        }\n")
	b.WriteString("      }\n")
	b.WriteString("    ]\n")
	b.WriteString("  })\n\n")
	b.WriteString("  tags = { \"managed-by\" = \"rolecall-customer-role\" }\n")
	b.WriteString("}\n\n")
	// The template's default permissions (ManagedPolicyArns), as the module
	// attaches them, in the principal's partition.
	b.WriteString("resource \"aws_iam_role_policy_attachment\" \"" + TerraformResourceName + "\" {\n")
	b.WriteString("  for_each   = toset(" + hclList(defaultManagedPolicies(partition)) + ")\n")
	b.WriteString("  role       = aws_iam_role." + TerraformResourceName + ".name\n")
	b.WriteString("  policy_arn = each.value\n")
	b.WriteString("}\n\n")
	b.WriteString("output \"rolecall_role_arn\" {\n")
	b.WriteString("  value = aws_iam_role." + TerraformResourceName + ".arn\n")
	b.WriteString("}\n")
	return b.String()
}

// hclList renders ss as an HCL tuple of quoted strings.
func hclList(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = HCLString(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// HCLString renders s as an HCL quoted string literal whose value is s,
// escaped as HCL's native syntax requires (the escapes hclwrite writes):
// \" and \\, \n \r \t, \uNNNN or \UNNNNNNNN for any other character
// that is not printable, and the template introducers "${" and "%{"
// doubled to "$${" and "%%{" so that no value can open an interpolation
// or a directive. Invalid UTF-8 (which an HCL file may not contain) is
// written as U+FFFD.
func HCLString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i, r := range s {
		switch r {
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '$', '%':
			b.WriteRune(r)
			if strings.HasPrefix(s[i+1:], "{") {
				b.WriteRune(r)
			}
		default:
			switch {
			case unicode.IsPrint(r):
				b.WriteRune(r)
			case r > 0xffff:
				fmt.Fprintf(&b, `\U%08x`, r)
			default:
				fmt.Fprintf(&b, `\u%04x`, r)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

// CLI renders the AWS CLI commands a customer runs: get the template,
// deploy it with the tenant's parameters and read the role ARN from the
// stack. The check itself (sts:AssumeRole with and without the external ID)
// needs the partner's principal, so it is the partner's to run, not the
// customer's. Every value is single-quoted for POSIX shells.
func CLI(p Params) (string, error) { return renderWith(p, cli) }

// cli is CLI of normalized parameters.
func cli(p Params) string {
	q := shellQuote
	var b strings.Builder
	w := func(lines ...string) {
		for _, l := range lines {
			b.WriteString(l)
			b.WriteByte('\n')
		}
	}
	// Outside the commercial partition the published template's default
	// policy is of another partition: pass the principal's.
	managedPolicies := ""
	if arns, ok := p.managedPolicyOverride(); ok {
		managedPolicies = " \\\n    " + q(infra.ParamManagedPolicyARNs+"="+arns)
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
		"    "+q(infra.ParamRoleName+"="+p.RoleName)+managedPolicies,
		"",
		"# 3. The role ARN to paste into the onboarding page:",
		"ROLE_ARN=$(aws cloudformation describe-stacks \\",
		"  --region "+q(p.Region)+" \\",
		"  --stack-name "+q(p.StackName)+" \\",
		"  --query \"Stacks[0].Outputs[?OutputKey=='"+infra.OutputRoleARN+"'].OutputValue\" \\",
		"  --output text)",
		"echo \"$ROLE_ARN\"",
		"",
		"# RoleCall, run by the partner, then checks that its principal can assume the role",
		"# with your external ID, and only with it.",
	)
	return b.String()
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

// renderWith validates and fills p, then renders it with render (which may
// read the customer role template: one it cannot read is refused here).
func renderWith(p Params, render func(Params) string) (string, error) {
	p, err := p.normalized()
	if err != nil {
		return "", err
	}
	if err := customerRoleTemplate().err; err != nil {
		return "", err
	}
	return render(p), nil
}
