package rolesetup

import (
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"

	"github.com/rolecall/rolecall/infra"
)

// TerraformModuleName is the module block's name in the Terraform snippet.
const TerraformModuleName = "rolecall_customer_role"

// Terraform renders the module block that creates the role with the
// Terraform module infra/terraform/customer-role, and an output with the
// role ARN. Values are written with hclwrite, so quotes, backslashes and
// template sequences (${, %{) are escaped.
func Terraform(p Params) (string, error) {
	p, err := p.normalized()
	if err != nil {
		return "", err
	}
	f := hclwrite.NewEmptyFile()
	body := f.Body()
	comment(body, "# The RoleCall customer role. Run `terraform init && terraform apply` with an AWS\n")
	comment(body, "# provider for the account you are connecting, then paste the role_arn output.\n")
	mod := body.AppendNewBlock("module", []string{TerraformModuleName}).Body()
	mod.SetAttributeValue("source", cty.StringVal(p.ModuleSource))
	mod.AppendNewline()
	mod.SetAttributeValue("external_id", cty.StringVal(p.ExternalID))
	mod.SetAttributeValue("trusted_principal_arn", cty.StringVal(p.TrustedPrincipalARN))
	mod.SetAttributeValue("role_name", cty.StringVal(p.RoleName))
	body.AppendNewline()
	out := body.AppendNewBlock("output", []string{"rolecall_role_arn"}).Body()
	out.SetAttributeTraversal("value", hcl.Traversal{
		hcl.TraverseRoot{Name: "module"},
		hcl.TraverseAttr{Name: TerraformModuleName},
		hcl.TraverseAttr{Name: "role_arn"},
	})
	return string(hclwrite.Format(f.Bytes())), nil
}

func comment(body *hclwrite.Body, text string) {
	body.AppendUnstructuredTokens(hclwrite.Tokens{{Type: hclsyntax.TokenComment, Bytes: []byte(text)}})
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
