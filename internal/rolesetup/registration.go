package rolesetup

import (
	"encoding/json"
	"regexp"
	"strings"

	"github.com/rolecall/rolecall/infra"
)

// CodeInvalidRegistration: a registration topic or token that is not one.
const CodeInvalidRegistration = "INVALID_REGISTRATION"

// Registration is what makes a customer's stack register its role by
// itself: the partner's registration topic and a registration token.
type Registration struct {
	TopicARN string
	Token    string
}

var (
	topicRE = regexp.MustCompile(`^arn:(aws[a-z-]*):sns:([a-z]{2}(?:-[a-z]+)+-[0-9]{1,2}):[0-9]{12}:[A-Za-z0-9_-]{1,256}$`)
	tokenRE = regexp.MustCompile(`^rcr_[A-Za-z0-9_-]{43}$`)
)

// ValidateTopicARN reports whether topicARN can be a registration topic of
// a partner in partition: an SNS topic ARN of that partition, as
// RegistrationQuickCreateURL and StackSetCommands require.
func ValidateTopicARN(topicARN, partition string) error {
	_, err := topicRegion(topicARN, partition)
	return err
}

// topicRegion is the Region of topicARN, an SNS topic ARN of partition.
func topicRegion(topicARN, partition string) (string, error) {
	m := topicRE.FindStringSubmatch(topicARN)
	if m == nil || m[1] != partition {
		return "", &Error{Code: CodeInvalidRegistration, Field: "registrationTopicArn", Message: "the registration topic must be an SNS topic ARN of the partner's partition"}
	}
	return m[2], nil
}

// region validates r and returns the topic's Region: CloudFormation needs a
// custom resource's topic in the stack's Region, so the stack (and every
// StackSet instance) is created there.
func (r Registration) region(partition string) (string, error) {
	region, err := topicRegion(r.TopicARN, partition)
	if err != nil {
		return "", err
	}
	if !tokenRE.MatchString(r.Token) {
		return "", &Error{Code: CodeInvalidRegistration, Field: "registrationToken", Message: "a registration token is rcr_ and 43 letters, digits, - or _"}
	}
	return region, nil
}

// withRegistration validates r against p and returns p in the topic's Region.
func (p Params) withRegistration(r Registration) (Params, error) {
	p, err := p.normalized()
	if err != nil {
		return p, err
	}
	partition, _ := partitionOf(p.TrustedPrincipalARN)
	region, err := r.region(partition)
	if err != nil {
		return p, err
	}
	p.Region = region
	return p, nil
}

// RegistrationQuickCreateURL is the quick-create link whose stack registers
// the role by itself: QuickCreateURL with the topic and token parameters,
// in the topic's Region.
func RegistrationQuickCreateURL(p Params, r Registration) (string, error) {
	p, err := p.withRegistration(r)
	if err != nil {
		return "", err
	}
	u, err := QuickCreateURL(p)
	if err != nil {
		return "", err
	}
	return u + "&param_" + infra.ParamRegistrationTopicARN + "=" + component(r.TopicARN) +
		"&param_" + infra.ParamRegistrationToken + "=" + component(r.Token), nil
}

// StackSetTargetsVar is the shell variable the StackSet commands read the
// target OUs from.
const StackSetTargetsVar = "TARGET_OUS"

// cfnParameter is one entry of the CLI's --parameters JSON.
type cfnParameter struct {
	ParameterKey   string `json:"ParameterKey"`
	ParameterValue string `json:"ParameterValue"`
}

// jsonArg renders parameters as one single-quoted JSON argument: JSON,
// unlike the CLI's shorthand, keeps commas and equals signs in values.
func jsonArg(ps []cfnParameter) string {
	b, _ := json.Marshal(ps) // strings only: always marshals
	return shellQuote(string(b))
}

// StackSetCommands renders the AWS CLI commands that deploy the role to an
// AWS Organization as a service-managed StackSet with automatic deployment:
// every account in (or later moved into) the target OUs gets the role and
// registers itself; every account removed loses its stack, which
// disconnects it. Run from the management account or a delegated
// administrator (add --call-as DELEGATED_ADMIN). Values are quoted for
// POSIX shells; the parameters are JSON.
func StackSetCommands(p Params, r Registration) (string, error) {
	p, err := p.withRegistration(r)
	if err != nil {
		return "", err
	}
	q := shellQuote
	template := "--template-body " + q("file://"+p.TemplateFile)
	if p.TemplateURL != "" {
		template = "--template-url " + q(p.TemplateURL)
	}
	trust := []cfnParameter{
		{infra.ParamExternalID, p.ExternalID},
		{infra.ParamTrustedPrincipalARN, p.TrustedPrincipalARN},
		{infra.ParamRoleName, p.RoleName},
	}
	if arns, ok := p.managedPolicyOverride(); ok {
		trust = append(trust, cfnParameter{infra.ParamManagedPolicyARNs, arns})
	}
	reg := []cfnParameter{
		{infra.ParamRegistrationTopicARN, r.TopicARN},
		{infra.ParamRegistrationToken, r.Token},
	}
	lines := []string{
		"# Deploy the RoleCall role to your AWS Organization (run in the management account,",
		"# or a delegated administrator with --call-as DELEGATED_ADMIN). Every account in the",
		"# target OUs, and every account added to them later, gets the role and registers it",
		"# with the partner by itself; an account removed from them is disconnected.",
		"# The stacks must run in " + p.Region + ", the Region of the partner's registration topic.",
		"",
		"# 1. The StackSet.",
		"aws cloudformation create-stack-set \\",
		"  --region " + q(p.Region) + " \\",
		"  --stack-set-name " + q(p.StackName) + " \\",
		"  " + template + " \\",
		"  --capabilities CAPABILITY_NAMED_IAM \\",
		"  --permission-model SERVICE_MANAGED \\",
		"  --auto-deployment Enabled=true,RetainStacksOnAccountRemoval=false \\",
		"  --parameters " + jsonArg(trust),
		"",
		"# 2. Its instances: set the OUs (ou-...) or the root (r-...) to deploy to.",
		StackSetTargetsVar + "='ou-xxxx-xxxxxxxx'",
		"aws cloudformation create-stack-instances \\",
		"  --region " + q(p.Region) + " \\",
		"  --stack-set-name " + q(p.StackName) + " \\",
		"  --deployment-targets \"OrganizationalUnitIds=$" + StackSetTargetsVar + "\" \\",
		"  --regions " + q(p.Region) + " \\",
		"  --operation-preferences FailureTolerancePercentage=10,MaxConcurrentPercentage=25 \\",
		"  --parameter-overrides " + jsonArg(reg),
	}
	return strings.Join(lines, "\n") + "\n", nil
}
