package stack_test

import (
	"strings"
	"testing"
)

// stackTypes are the resource types the stack may hold, and how the tests
// read the permissions each carries: a policy reaches the stack only
// through a type listed here. Separately attached IAM policies
// (AWS::IAM::Policy, RolePolicy, ManagedPolicy), Lambda permissions and
// event-bus policies are not: the grant check
// (TestRolesGrantExactlyWhatEachFunctionUses) reads a role's inline
// policies only, and nothing reads the others. A new type comes here with
// the test that reads its permissions.
var stackTypes = map[string]string{
	"AWS::IAM::Role":            "inline policies: TestPolicyStatementsAreExact and the grant check; trust: TestFunctionRolesTrustOneService, TestPartnerAccessRoleTrust",
	"AWS::Logs::ResourcePolicy": "TestPolicyStatementsAreExact",
	"AWS::S3::BucketPolicy":     "TestPolicyStatementsAreExact",
	"AWS::SNS::TopicPolicy":     "TestPolicyStatementsAreExact",
	"AWS::SQS::QueuePolicy":     "TestPolicyStatementsAreExact",
	"AWS::Serverless::Function": "runs as its own role (TestFunctionsUseTheirOwnRoles)",
	"AWS::Serverless::HttpApi":  "no policy; each operations route is AWS_IAM-authorized",
	// No policy of their own.
	"AWS::CloudWatch::Alarm": "", "AWS::DynamoDB::Table": "", "AWS::EventSchemas::Registry": "",
	"AWS::EventSchemas::Schema": "", "AWS::Events::Archive": "", "AWS::Events::EventBus": "",
	"AWS::Events::Rule": "", "AWS::Logs::LogGroup": "", "AWS::S3::Bucket": "",
	"AWS::SNS::Subscription": "", "AWS::SNS::Topic": "", "AWS::SQS::Queue": "",
	"AWS::Scheduler::Schedule": "",
}

func TestStackHoldsOnlyKnownResourceTypes(t *testing.T) {
	for id, r := range template(t).Resources("") {
		if _, ok := stackTypes[sprint(r["Type"])]; !ok {
			t.Errorf("%s is a %v, whose permissions no test of the stack reads; attach policies inline on their role", id, r["Type"])
		}
	}
}

// TestFunctionRolesTrustOneService: every role but the partner access role
// (TestPartnerAccessRoleTrust) is assumed by exactly one service, with
// nothing beside it in its one statement: Lambda for a function's role,
// EventBridge Scheduler, of this account only, for the sweep's schedule.
func TestFunctionRolesTrustOneService(t *testing.T) {
	lambda := `{"Action":"sts:AssumeRole","Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"}}`
	want := map[string]string{
		"ApiFunctionRole": lambda, "PublishFunctionRole": lambda, "VerifyFunctionRole": lambda,
		"SweepFunctionRole": lambda, "RegisterFunctionRole": lambda,
		"SweepScheduleRole": `{"Action":"sts:AssumeRole","Condition":{"StringEquals":{"aws:SourceAccount":{"Ref":"AWS::AccountId"}}},"Effect":"Allow","Principal":{"Service":"scheduler.amazonaws.com"}}`,
	}
	roles := template(t).Resources("AWS::IAM::Role")
	for id, r := range roles {
		if id == "PartnerAccessRole" {
			continue
		}
		w, ok := want[id]
		if !ok {
			t.Errorf("role %s: no trust pinned for it here", id)
			continue
		}
		doc := m(m(r["Properties"])["AssumeRolePolicyDocument"])
		var got []string
		for _, s := range list(doc["Statement"]) {
			got = append(got, asJSON(t, s))
		}
		if doc["Version"] != "2012-10-17" || strings.Join(got, "\n") != w {
			t.Errorf("%s trust:\n  %s\nwant\n  %s", id, strings.Join(got, "\n  "), w)
		}
	}
	for id := range want {
		if _, ok := roles[id]; !ok {
			t.Errorf("role %s is gone; update the pinned trust", id)
		}
	}
}
