// Package infra holds what customers deploy in their own AWS accounts: the
// customer role as a CloudFormation template (customer-role.yaml, quick-create
// and StackSet ready, with the self-registration custom resource), as a
// Terraform module (terraform/customer-role) and as a CDK construct (cdk). The
// Go side only embeds the template and names its parameters and outputs, so
// other packages can fill it in (see internal/rolesetup) or serve it for
// download without reading files at run time; its tests prove that the
// module and the construct create the trust policy rolesetup defines.
package infra

import (
	"bytes"
	_ "embed"
)

//go:embed customer-role.yaml
var customerRole []byte

// CustomerRoleTemplate returns infra/customer-role.yaml, byte for byte (a
// copy: callers may modify it).
func CustomerRoleTemplate() []byte { return bytes.Clone(customerRole) }

// CustomerRoleTemplateName is the file name customers download the template as.
const CustomerRoleTemplateName = "customer-role.yaml"

// Parameter names of the customer role template.
const (
	ParamExternalID          = "ExternalId"
	ParamTrustedPrincipalARN = "TrustedPrincipalArn"
	ParamRoleName            = "RoleName"
	ParamRoleNamePrefix      = "RoleNamePrefix"
	ParamManagedPolicyARNs   = "ManagedPolicyArns"
	ParamInlinePolicy        = "InlinePolicy"
)

// DefaultRoleNamePrefix starts the name of a customer role RoleCall (or,
// given no name, the template and the module) names: the partner may
// choose another.
const DefaultRoleNamePrefix = "RoleCall"

// OutputRoleARN is the template output that carries the role ARN.
const OutputRoleARN = "RoleArn"
