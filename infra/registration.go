package infra

// Registration without copy-paste: the template's Custom::RoleCallRegistration
// resource, which exists only when both parameters are given (condition
// HasRegistration), sends the role ARN to the partner's registration topic.
const (
	ParamRegistrationTopicARN = "RegistrationTopicArn"
	ParamRegistrationToken    = "RegistrationToken"
	// RegistrationResource is the custom resource's logical ID, and
	// RegistrationResourceType its type.
	RegistrationResource     = "Registration"
	RegistrationResourceType = "Custom::RoleCallRegistration"
	RegistrationCondition    = "HasRegistration"
)
