package register

import (
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/aws/aws-sdk-go-v2/aws/arn"

	"github.com/rolecall/rolecall/internal/onboarding"
	"github.com/rolecall/rolecall/internal/rolearn"
)

// request is a decoded, checked custom-resource request.
type request struct {
	cfn.Event
	stack   rolearn.ARN // only Partition and Account are meaningful
	roleARN string
	token   string
}

// serviceTimeout is how long CloudFormation waits for the answer to ev:
// the custom resource's ServiceTimeout property (whole seconds, 1 to
// 3600), else CloudFormation's default, an hour.
func serviceTimeout(ev cfn.Event) time.Duration {
	var n int
	switch v := ev.ResourceProperties["ServiceTimeout"].(type) {
	case string:
		n, _ = strconv.Atoi(v)
	case float64:
		n = int(v)
	}
	if n < 1 || n > 3600 {
		return time.Hour
	}
	return time.Duration(n) * time.Second
}

// Codes of refusals specific to registration by stack.
const (
	CodeStackAccountMismatch = "STACK_ACCOUNT_MISMATCH"
	CodeInvalidRequest       = "INVALID_REQUEST"
	CodeRoleSuperseded       = "ROLE_SUPERSEDED"
)

// parse reads the request's stack and resource properties.
func parse(ev cfn.Event) (request, *onboarding.Error) {
	r := request{Event: ev}
	stack, ok := parseStackID(ev.StackID)
	if !ok {
		return r, &onboarding.Error{Code: CodeInvalidRequest, Field: "StackId", Message: "StackId is not a CloudFormation stack ARN"}
	}
	r.stack = stack
	if !logicalID(ev.LogicalResourceID) {
		return r, &onboarding.Error{Code: CodeInvalidRequest, Field: "LogicalResourceId", Message: "LogicalResourceId is not a CloudFormation logical ID (1 to 255 letters and digits)"}
	}
	str := func(name string) (string, *onboarding.Error) {
		v, present := ev.ResourceProperties[name]
		s, isStr := v.(string)
		if !present || !isStr || s == "" {
			return "", &onboarding.Error{Code: CodeInvalidRequest, Field: name, Message: "the resource property " + name + " must be a non-empty string"}
		}
		if len(s) > 2048 {
			return "", &onboarding.Error{Code: CodeInvalidRequest, Field: name, Message: "the resource property " + name + " is longer than 2048 characters"}
		}
		return s, nil
	}
	var bad *onboarding.Error
	if r.roleARN, bad = str("RoleArn"); bad != nil {
		return r, bad
	}
	if r.token, bad = str("RegistrationToken"); bad != nil {
		return r, bad
	}
	return r, nil
}

// parseStackID reads arn:<partition>:cloudformation:<region>:<account>:stack/<name>/<id>,
// with a stack name as CloudFormation takes one (a letter, then letters,
// digits and hyphens, 128 at most) and an ID of letters, digits and
// hyphens (a UUID). The StackId is whatever a request's publisher writes,
// and it is recorded on the connection and sent in every check job:
// anything else (a control character, or U+FFFF, which SQS refuses in a
// message body) is no stack's.
func parseStackID(s string) (rolearn.ARN, bool) {
	p, err := arn.Parse(s)
	if err != nil || p.Partition == "" || p.Service != "cloudformation" || !rolearn.IsAccountID(p.AccountID) {
		return rolearn.ARN{}, false
	}
	rest, ok := strings.CutPrefix(p.Resource, "stack/")
	name, id, _ := strings.Cut(rest, "/")
	if !ok || !stackName.MatchString(name) || !stackUUID.MatchString(id) || !rolearn.IsRegion(p.Region) || !rolearn.OnlyChars(p.Partition, "-") {
		return rolearn.ARN{}, false
	}
	return rolearn.ARN{Partition: p.Partition, Account: p.AccountID}, true
}

var (
	stackName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]{0,127}$`)
	stackUUID = regexp.MustCompile(`^[A-Za-z0-9-]{1,128}$`)
)

// logicalID reports whether s is a CloudFormation logical ID: 1 to 255
// letters and digits. The request's is recorded on the connection too.
func logicalID(s string) bool {
	return len(s) >= 1 && len(s) <= 255 && rolearn.OnlyChars(s, "")
}
