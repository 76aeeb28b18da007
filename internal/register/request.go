package register

import (
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

// parseStackID reads arn:<partition>:cloudformation:<region>:<account>:stack/<name>/<id>.
func parseStackID(s string) (rolearn.ARN, bool) {
	p, err := arn.Parse(s)
	if err != nil || p.Partition == "" || p.Service != "cloudformation" || p.Region == "" || !rolearn.IsAccountID(p.AccountID) {
		return rolearn.ARN{}, false
	}
	rest, ok := strings.CutPrefix(p.Resource, "stack/")
	if !ok || strings.Count(rest, "/") != 1 || strings.HasPrefix(rest, "/") || strings.HasSuffix(rest, "/") {
		return rolearn.ARN{}, false
	}
	return rolearn.ARN{Partition: p.Partition, Account: p.AccountID}, true
}
