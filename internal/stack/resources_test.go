package stack_test

import (
	"strings"
	"testing"

	"github.com/rolecall/rolecall/internal/stack"
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

// TestResourcesDependOnNoCycle: CloudFormation refuses a template whose
// resources depend on each other in a circle (through Ref, Fn::GetAtt, a
// reference inside Fn::Sub, or DependsOn), so such a change would pass every
// other test here and fail only at deploy time.
func TestResourcesDependOnNoCycle(t *testing.T) {
	resources := template(t).Resources("")
	deps := map[string][]string{}
	for id, r := range resources {
		seen := map[string]bool{}
		add := func(name string) {
			name, _, _ = strings.Cut(name, ".")
			if _, ok := resources[name]; ok && !seen[name] {
				seen[name] = true
				deps[id] = append(deps[id], name)
			}
		}
		var walk func(v any)
		walk = func(v any) {
			switch v := v.(type) {
			case map[string]any:
				for k, x := range v {
					switch k {
					case "Ref", "DependsOn":
						if s, ok := x.(string); ok {
							add(s)
						}
					case "Fn::GetAtt":
						if l, ok := x.([]any); ok && len(l) > 0 {
							add(sprint(l[0]))
						}
					case "Fn::Sub":
						s, _ := x.(string)
						if l, ok := x.([]any); ok && len(l) > 0 {
							s = sprint(l[0])
						}
						for _, p := range stack.SubRefs(s) {
							if p.Ref {
								add(p.Text)
							}
						}
					}
					walk(x)
				}
			case []any:
				for _, x := range v {
					walk(x)
				}
			}
		}
		walk(r)
		if l, ok := r["DependsOn"].([]any); ok {
			for _, x := range l {
				add(sprint(x))
			}
		}
	}
	const unvisited, visiting, done = 0, 1, 2
	state := map[string]int{}
	var visit func(id string, path []string)
	visit = func(id string, path []string) {
		switch state[id] {
		case visiting:
			t.Errorf("resources depend on each other in a circle: %s", strings.Join(append(path, id), " -> "))
			return
		case done:
			return
		}
		state[id] = visiting
		for _, d := range deps[id] {
			visit(d, append(path, id))
		}
		state[id] = done
	}
	for id := range resources {
		visit(id, nil)
	}
	if len(deps["RegisterFunction"]) == 0 {
		t.Error("found no dependency of RegisterFunction: the walk reads nothing")
	}
}
