// Package rolesetup renders, for one tenant, everything a customer needs to
// create the RoleCall role in their AWS account: the CloudFormation
// quick-create link, the template with the tenant's values filled in for
// download, the Terraform module snippet, and the AWS CLI commands. It also
// defines the customer role's trust policy once, as a Go value
// (TrustPolicyDocument, rendered by TrustPolicy without reading the
// template); the tests prove that infra/customer-role.yaml, the Terraform
// module and the CDK construct create exactly it.
package rolesetup

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/rolecall/rolecall/infra"
	"github.com/rolecall/rolecall/internal/refusal"
	"github.com/rolecall/rolecall/internal/rolearn"
)

// Stable error codes.
const (
	CodeInvalidExternalID = "INVALID_EXTERNAL_ID"
	CodeInvalidPrincipal  = "INVALID_TRUSTED_PRINCIPAL"
	CodeInvalidRoleName   = "INVALID_ROLE_NAME"
	CodeInvalidPrefix     = "INVALID_ROLE_NAME_PREFIX"
	CodeInvalidRegion     = "INVALID_REGION"
	CodeInvalidStackName  = "INVALID_STACK_NAME"
	CodeInvalidTemplate   = "INVALID_TEMPLATE_URL"
)

// Error is a rejected parameter: a refusal with a stable code, the field
// and a message; errors.Is matches on the code:
// errors.Is(err, &rolesetup.Error{Code: CodeInvalidRegion}).
type Error = refusal.Error

// ErrNoTemplateURL: a quick-create link needs the template's S3 URL, and
// none is configured.
var ErrNoTemplateURL = errors.New("no template URL configured: the quick-create link needs the S3 URL of customer-role.yaml")

// Defaults.
const (
	DefaultRegion       = "us-east-1"
	DefaultStackName    = "rolecall-customer-role"
	DefaultTemplateFile = infra.CustomerRoleTemplateName
)

// Params are one tenant's values.
type Params struct {
	ExternalID          string // the tenant's external ID (required)
	TrustedPrincipalARN string // the partner access role (required)
	// TenantID names the tenant; with the principal it derives the
	// default role name (DefaultRoleName).
	TenantID string
	// RoleNamePrefix starts the default role name (default
	// infra.DefaultRoleNamePrefix).
	RoleNamePrefix string
	RoleName       string // default DefaultRoleName(RoleNamePrefix, TrustedPrincipalARN, TenantID)
	Region         string // where the stack is created (default DefaultRegion)
	StackName      string // default DefaultStackName
	// TemplateURL is the S3 URL the partner publishes customer-role.yaml
	// at; without it there is no quick-create link.
	TemplateURL string
	// ModuleSource is where the partner publishes the Terraform module
	// infra/terraform/customer-role; without it the snippet inlines the role.
	ModuleSource string
	TemplateFile string // file name in the CLI commands (default DefaultTemplateFile)
}

// Instructions are everything the customer is shown. Its JSON form is what
// the API returns.
type Instructions struct {
	ExternalID          string          `json:"externalId"`
	TrustedPrincipalARN string          `json:"trustedPrincipalArn"`
	RoleName            string          `json:"roleName"`
	Region              string          `json:"region"`
	StackName           string          `json:"stackName"`
	TemplateURL         string          `json:"templateUrl,omitempty"`
	QuickCreateURL      string          `json:"quickCreateUrl,omitempty"`
	Terraform           string          `json:"terraform"`
	CLI                 string          `json:"cli"`
	TrustPolicy         json.RawMessage `json:"trustPolicy"`
}

// Render renders all instructions. QuickCreateURL is empty when no template
// URL is configured.
func Render(p Params) (Instructions, error) {
	p, err := p.normalized()
	if err != nil {
		return Instructions{}, err
	}
	in := Instructions{
		ExternalID:          p.ExternalID,
		TrustedPrincipalARN: p.TrustedPrincipalARN,
		RoleName:            p.RoleName,
		Region:              p.Region,
		StackName:           p.StackName,
		TemplateURL:         p.TemplateURL,
	}
	if p.TemplateURL != "" {
		if in.QuickCreateURL, err = quickCreateURL(p); err != nil {
			return Instructions{}, err
		}
	}
	in.Terraform, in.CLI = terraform(p), cli(p)
	in.TrustPolicy = TrustPolicyDocument(p.ExternalID, p.TrustedPrincipalARN).JSON()
	return in, nil
}

var stackNameRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]{0,127}$`)

// normalized fills defaults and validates every value.
func (p Params) normalized() (Params, error) {
	if p.RoleNamePrefix == "" {
		p.RoleNamePrefix = infra.DefaultRoleNamePrefix
	}
	if len(p.RoleNamePrefix) > MaxPrefix || !rolearn.ValidName(p.RoleNamePrefix, 64) {
		return p, &Error{Code: CodeInvalidPrefix, Field: "roleNamePrefix", Message: fmt.Sprintf("a role name prefix is 1-%d characters of letters, digits and + = , . @ _ -", MaxPrefix)}
	}
	if p.RoleName == "" {
		p.RoleName = DefaultRoleName(p.RoleNamePrefix, p.TrustedPrincipalARN, p.TenantID)
	}
	if p.Region == "" {
		p.Region = DefaultRegion
	}
	if p.StackName == "" {
		p.StackName = DefaultStackName
	}
	if p.TemplateFile == "" {
		p.TemplateFile = DefaultTemplateFile
	}
	if err := ValidateExternalID(p.ExternalID); err != nil {
		return p, err
	}
	if _, err := partitionOf(p.TrustedPrincipalARN); err != nil {
		return p, err
	}
	if !rolearn.ValidName(p.RoleName, 64) {
		return p, &Error{Code: CodeInvalidRoleName, Field: "roleName", Message: "a role name is 1-64 characters of letters, digits and + = , . @ _ -"}
	}
	if !rolearn.IsRegion(p.Region) {
		return p, &Error{Code: CodeInvalidRegion, Field: "region", Message: fmt.Sprintf("%q is not an AWS region name such as us-east-1", p.Region)}
	}
	if !stackNameRE.MatchString(p.StackName) {
		return p, &Error{Code: CodeInvalidStackName, Field: "stackName", Message: "a stack name starts with a letter and has at most 128 letters, digits and hyphens"}
	}
	if p.TemplateURL != "" {
		if err := ValidateTemplateURL(p.TemplateURL); err != nil {
			return p, err
		}
	}
	return p, nil
}

// MaxPrefix is the longest role name prefix: the name adds "-" and 8 hex
// digits within IAM's 64 characters.
const MaxPrefix = 55

// DefaultRoleName is the name RoleCall gives a tenant's role:
// "<prefix>-<8 hex digits of SHA-256 of the trusted principal and the
// tenant ID>". It differs between two partners (their access roles
// differ) and between a partner's customers, without being a name anyone
// can guess for every customer, and it stays the same across external-ID
// rotations.
func DefaultRoleName(prefix, trustedPrincipalARN, tenantID string) string {
	sum := sha256.Sum256([]byte(trustedPrincipalARN + "\x00" + tenantID))
	return prefix + "-" + hex.EncodeToString(sum[:4])
}

// ValidateExternalID checks an external ID against STS's rules: 2-1224
// characters of [\w+=,.@:/-].
func ValidateExternalID(id string) error {
	if n := len(id); n < 2 || n > 1224 {
		return &Error{Code: CodeInvalidExternalID, Field: "externalId", Message: fmt.Sprintf("an external ID is 2 to 1224 characters long, this one has %d", n)}
	}
	if !rolearn.OnlyChars(id, rolearn.ExternalIDChars) {
		return &Error{Code: CodeInvalidExternalID, Field: "externalId", Message: "an external ID may contain only letters, digits and + = , . @ : / - _"}
	}
	return nil
}

// ValidatePrincipal checks a trusted principal: the partner access role's
// ARN (with its path), the one principal infra/customer-role.yaml and the
// Terraform module trust. An IAM user is refused although IAM allows it in
// a trust policy: the template and module do not take one, and a user's
// long-lived access keys should not be what customer roles trust. An
// account root is refused (customer roles trust exactly the access role,
// never the partner's whole account), and an assumed-role session ARN with
// the hint that its role is what to name.
func ValidatePrincipal(principal string) error {
	_, err := partitionOf(principal)
	return err
}

// partitionOf validates a trusted principal (the partner access role's
// ARN) and returns its partition.
func partitionOf(principal string) (string, error) {
	bad := &Error{Code: CodeInvalidPrincipal, Field: "trustedPrincipalArn",
		Message: "the trusted principal must be the partner access role, arn:<partition>:iam::<account>:role/<name>"}
	if p, err := rolearn.ParsePrincipal(principal); err == nil {
		switch p.Kind {
		case rolearn.KindUser:
			bad.Message = principal + " is an IAM user: customer roles trust only the partner access role " +
				"(arn:<partition>:iam::<account>:role/<path/><name>), and should not trust a user's long-lived keys; " +
				"name the access role (assume it with the user's credentials)"
			return "", bad
		case rolearn.KindAssumedRole:
			bad.Message = principal + " is a role session, which a trust policy cannot name durably; name its role, arn:<partition>:iam::<account>:role/<path/><name>"
			return "", bad
		}
	}
	a, err := rolearn.Parse(principal, rolearn.Rules{})
	if err != nil {
		bad.Message += " (" + err.Error() + ")"
		return "", bad
	}
	return a.Partition, nil
}

// ValidateTemplateURL accepts an https URL of an object on an S3 endpoint,
// which is what the CloudFormation console's quick-create link requires.
// The API function checks its configured URL with it at start, and
// template.yaml's CustomerRoleTemplateUrl pattern accepts the same URLs:
// so both take the scheme and the partition's DNS suffix in lower case
// only, the bucket and Region labels in either.
func ValidateTemplateURL(s string) error {
	u, err := url.Parse(s)
	bad := func(msg string) error {
		return &Error{Code: CodeInvalidTemplate, Field: "templateUrl", Message: msg}
	}
	if err != nil || !strings.HasPrefix(s, "https://") || u.Host == "" || u.User != nil || u.Fragment != "" ||
		strings.HasSuffix(u.Host, ":") || (u.Port() != "" && u.Port() != "443") {
		return bad("the template URL must be an https URL without credentials, fragment or another port than 443")
	}
	host := strings.ToLower(u.Hostname())
	s3 := strings.HasPrefix(host, "s3.") || strings.HasPrefix(host, "s3-") || strings.Contains(host, ".s3.") || strings.Contains(host, ".s3-")
	inPartition := slices.ContainsFunc(rolearn.DNSSuffixes(), func(suffix string) bool { return strings.HasSuffix(u.Hostname(), "."+suffix) })
	if !s3 || !inPartition {
		return bad("CloudFormation quick-create links need the template in S3 (https://<bucket>.s3.<region>.amazonaws.com/<key>)")
	}
	if u.Path == "" || u.Path == "/" {
		return bad("the template URL names no object")
	}
	return nil
}

// QuickCreateURL renders the CloudFormation console link that opens the
// quick-create page with the tenant's parameters filled in:
//
//	https://console.aws.amazon.com/cloudformation/home?region=R#/stacks/quickcreate?templateURL=…&stackName=…&param_ExternalId=…&param_TrustedPrincipalArn=…&param_RoleName=…
//
// and, outside the commercial partition, param_ManagedPolicyArns: the
// template's default policies in the principal's partition.
//
// Every value is percent-encoded as encodeURIComponent does, since the
// console reads the part after # itself.
func QuickCreateURL(p Params) (string, error) {
	p, err := p.normalized()
	if err != nil {
		return "", err
	}
	return quickCreateURL(p)
}

// quickCreateURL is QuickCreateURL of normalized parameters.
func quickCreateURL(p Params) (string, error) {
	if p.TemplateURL == "" {
		return "", ErrNoTemplateURL
	}
	partition, _ := partitionOf(p.TrustedPrincipalARN)
	var b strings.Builder
	b.WriteString("https://" + rolearn.ConsoleHost(partition) + "/cloudformation/home?region=" + component(p.Region))
	b.WriteString("#/stacks/quickcreate?templateURL=" + component(p.TemplateURL))
	b.WriteString("&stackName=" + component(p.StackName))
	b.WriteString("&param_" + infra.ParamExternalID + "=" + component(p.ExternalID))
	b.WriteString("&param_" + infra.ParamTrustedPrincipalARN + "=" + component(p.TrustedPrincipalARN))
	b.WriteString("&param_" + infra.ParamRoleName + "=" + component(p.RoleName))
	if arns, ok := p.managedPolicyOverride(); ok {
		b.WriteString("&param_" + infra.ParamManagedPolicyARNs + "=" + component(arns))
	}
	return b.String(), nil
}

// component percent-encodes s like JavaScript's encodeURIComponent, and the
// single quote too (so the link is safe in any HTML attribute): only
// A-Z a-z 0-9 - _ . ! ~ * ( ) stay as they are.
func component(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-_.!~*()", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}
