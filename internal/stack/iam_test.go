package stack_test

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/rolecall/rolecall/internal/testkit/iamcalls"
)

// publicGrant is the one public statement a resource policy of the stack
// may hold: anyone ("AWS": "*") may take one action on one resource,
// nothing more, without condition.
type publicGrant struct{ policy, action, resource string }

// The stack's two public grants: customers' stacks publish registrations
// to the topic from their own accounts (each request is authenticated by
// its registration token), and CloudFormation in each customer's account
// reads the customer role template for quick-create links.
var (
	registrationPublish = publicGrant{"RegistrationTopicPolicy", "sns:Publish", "Ref:RegistrationTopic"}
	templateRead        = publicGrant{"CustomerTemplateBucketPolicy", "s3:GetObject", "Sub:${CustomerTemplateBucket.Arn}/customer-role.yaml"}
)

// allows reports whether st, a statement of policy where, is exactly g.
func (g publicGrant) allows(where string, st map[string]any) bool {
	p := m(st["Principal"])
	return where == g.policy && len(p) == 1 && p["AWS"] == "*" && st["Effect"] == "Allow" &&
		slices.Equal(list(st["Action"]), []any{g.action}) && len(list(st["Resource"])) == 1 &&
		iamcalls.Canon(list(st["Resource"])[0]) == g.resource && st["Condition"] == nil
}

// policyDoc is one policy document of the template and where it is.
type policyDoc struct {
	where    string
	resource bool // a resource policy (queue, topic, log group), with principals
	trust    bool // a role's trust policy
	doc      map[string]any
}

// policyDocs returns every policy document in the template.
func policyDocs(t *testing.T) []policyDoc {
	t.Helper()
	var out []policyDoc
	for id, r := range template(t).Resources("") {
		p := m(r["Properties"])
		switch r["Type"] {
		case "AWS::IAM::Role":
			out = append(out, policyDoc{where: id + " trust", trust: true, doc: m(p["AssumeRolePolicyDocument"])})
			for _, pol := range list(p["Policies"]) {
				out = append(out, policyDoc{where: fmt.Sprintf("%s/%v", id, m(pol)["PolicyName"]), doc: m(m(pol)["PolicyDocument"])})
			}
			if len(list(p["ManagedPolicyArns"])) > 0 {
				t.Errorf("%s attaches managed policies %v; use exact inline statements", id, p["ManagedPolicyArns"])
			}
		case "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy":
			out = append(out, policyDoc{where: id, doc: m(p["PolicyDocument"])})
		case "AWS::SQS::QueuePolicy", "AWS::SNS::TopicPolicy", "AWS::S3::BucketPolicy":
			out = append(out, policyDoc{where: id, resource: true, doc: m(p["PolicyDocument"])})
		case "AWS::Logs::ResourcePolicy":
			src, _ := m(p["PolicyDocument"])["Fn::Sub"].(string)
			var doc map[string]any
			if err := json.Unmarshal([]byte(src), &doc); err != nil {
				t.Errorf("%s: policy document is not JSON: %v", id, err)
			}
			out = append(out, policyDoc{where: id, resource: true, doc: doc})
		}
	}
	if len(out) == 0 {
		t.Fatal("no policy document found")
	}
	return out
}

// Actions whose resource can only be "*" (no resource-level permissions).
var starOnly = map[string]bool{"xray:PutTraceSegments": true, "xray:PutTelemetryRecords": true}

// Wildcard resources allowed for an action, each for a documented reason.
var wildcardOK = map[string]string{
	// Customers' roles live in any account: the verifier may assume any
	// role, except the partner's own (the Deny below).
	"sts:AssumeRole Sub:arn:${AWS::Partition}:iam::*:role/*": "customer roles",
	// The stream's ARN carries a label chosen at creation.
	"dynamodb:ListStreams Sub:${Table.Arn}/stream/*": "the table's streams",
}

var exactAction = regexp.MustCompile(`^[a-z0-9-]+:[A-Za-z0-9]+$`)

// TestPolicyStatementsAreExact: every statement of every policy document
// names exact actions and exact resources.
func TestPolicyStatementsAreExact(t *testing.T) {
	for _, pd := range policyDocs(t) {
		if pd.doc["Version"] != "2012-10-17" {
			t.Errorf("%s: Version = %v", pd.where, pd.doc["Version"])
		}
		stmts := statements(pd.doc)
		if len(stmts) == 0 {
			t.Errorf("%s: no statement", pd.where)
		}
		for i, s := range stmts {
			st := m(s)
			where := fmt.Sprintf("%s statement %d (%v)", pd.where, i, st["Sid"])
			for _, forbidden := range []string{"NotAction", "NotResource", "NotPrincipal"} {
				if _, ok := st[forbidden]; ok {
					t.Errorf("%s uses %s", where, forbidden)
				}
			}
			if st["Effect"] != "Allow" && st["Effect"] != "Deny" {
				t.Errorf("%s: Effect %v", where, st["Effect"])
			}
			actions := list(st["Action"])
			if len(actions) == 0 {
				t.Errorf("%s: no Action", where)
			}
			for _, a := range actions {
				if s, ok := a.(string); !ok || !exactAction.MatchString(s) {
					t.Errorf("%s: action %v is not one exact action", where, a)
				}
			}
			if pd.trust {
				// A service assumes a function's role; only the partner
				// access role trusts principals of the partner's account
				// (TestPartnerAccessRoleTrust pins which).
				service := m(st["Principal"])["Service"] != nil
				if len(actions) != 1 || actions[0] != "sts:AssumeRole" || (!service && pd.where != "PartnerAccessRole trust") {
					t.Errorf("%s: a trust statement lets a service assume the role, nothing else: %v", where, st)
				}
				continue
			}
			resources := list(st["Resource"])
			if len(resources) == 0 {
				t.Errorf("%s: no Resource", where)
			}
			for _, r := range resources {
				c := iamcalls.Canon(r)
				for _, a := range actions {
					key := fmt.Sprint(a) + " " + c
					switch {
					case c == "*":
						if !starOnly[fmt.Sprint(a)] {
							t.Errorf("%s: %v on every resource", where, a)
						}
					case strings.Contains(strings.ReplaceAll(c, "${", ""), "*") || strings.HasPrefix(c, "?"):
						if _, ok := wildcardOK[key]; !ok {
							t.Errorf("%s: %v on %s is not an exact resource", where, a, c)
						}
					}
				}
			}
			if pd.resource && !registrationPublish.allows(pd.where, st) && !templateRead.allows(pd.where, st) {
				// A service principal acts for this stack only (no
				// confused deputy).
				if m(st["Principal"])["Service"] == nil {
					t.Errorf("%s: resource policy statements grant a service principal under a source condition: %v", where, st)
				} else if err := scopedToStack(m(st["Condition"]), template(t).Resources("")); err != nil {
					t.Errorf("%s: %v", where, err)
				}
			}
		}
	}
}

// scopedToStack checks that a service principal's statement condition
// limits it to this stack's own sources: exactly ArnEquals aws:SourceArn
// naming resources of the template, or StringEquals aws:SourceAccount of
// this account. A condition that merely exists is not enough: StringLike
// "*" or an ArnLike on every account's rules would let any account's
// rule use the resource.
func scopedToStack(cond map[string]any, resources map[string]map[string]any) error {
	own := func(v any) bool {
		c := iamcalls.Canon(v)
		if str, ok := v.(string); ok && strings.HasPrefix(str, "${") && strings.HasSuffix(str, ".Arn}") {
			c = "GetAtt:" + str[2:len(str)-1] // a Fn::Sub string: "${Rule.Arn}"
		}
		id, ok := strings.CutPrefix(c, "GetAtt:")
		id, isArn := strings.CutSuffix(id, ".Arn")
		return ok && isArn && resources[id] != nil
	}
	switch {
	case len(cond) != 1:
	case len(m(cond["ArnEquals"])) == 1 && m(cond["ArnEquals"])["aws:SourceArn"] != nil:
		arns := list(m(cond["ArnEquals"])["aws:SourceArn"])
		if len(arns) == 0 {
			arns = []any{m(cond["ArnEquals"])["aws:SourceArn"]}
		}
		for _, a := range arns {
			if !own(a) {
				return fmt.Errorf("aws:SourceArn %v is not one of this stack's resources", a)
			}
		}
		return nil
	case len(m(cond["StringEquals"])) == 1 && iamcalls.Canon(m(cond["StringEquals"])["aws:SourceAccount"]) == "Ref:AWS::AccountId":
		return nil
	}
	return fmt.Errorf("condition %v does not scope the service principal to this stack (ArnEquals aws:SourceArn on its own resources, or StringEquals aws:SourceAccount on AWS::AccountId)", cond)
}

// grants renders a role's inline statements as "Effect action resource".
func grants(t *testing.T, role string) []string {
	t.Helper()
	g, err := iamcalls.Grants(template(t), role)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// TestRolesGrantExactlyWhatEachFunctionUses pins each role's permissions:
// what the function's code calls, on the resources it uses.
func TestRolesGrantExactlyWhatEachFunctionUses(t *testing.T) {
	base := func(logGroup string) []string {
		return []string{
			"Allow logs:CreateLogStream GetAtt:" + logGroup + ".Arn",
			"Allow logs:PutLogEvents GetAtt:" + logGroup + ".Arn",
			"Allow xray:PutTelemetryRecords *",
			"Allow xray:PutTraceSegments *",
		}
	}
	want := map[string][]string{
		"ApiFunctionRole": append(base("ApiLogGroup"),
			"Allow dynamodb:GetItem GetAtt:Table.Arn",
			"Allow dynamodb:PutItem GetAtt:Table.Arn",
			"Allow dynamodb:UpdateItem GetAtt:Table.Arn", // rate counters, invite and registration-token revocation
			"Allow dynamodb:DeleteItem GetAtt:Table.Arn",
			"Allow dynamodb:BatchGetItem GetAtt:Table.Arn",
			"Allow dynamodb:Query GetAtt:Table.Arn",
			"Allow dynamodb:Query Sub:${Table.Arn}/index/byStatus",
			"Allow dynamodb:Query Sub:${Table.Arn}/index/tenants",
			"Allow sqs:SendMessage GetAtt:PriorityQueue.Arn",
		),
		"PublishFunctionRole": append(base("PublishLogGroup"),
			"Allow dynamodb:DescribeStream GetAtt:Table.StreamArn",
			"Allow dynamodb:GetRecords GetAtt:Table.StreamArn",
			"Allow dynamodb:GetShardIterator GetAtt:Table.StreamArn",
			"Allow dynamodb:ListStreams Sub:${Table.Arn}/stream/*",
			"Allow events:PutEvents GetAtt:EventBus.Arn",
			"Allow sqs:SendMessage GetAtt:StreamDeadLetterQueue.Arn",
		),
		"VerifyFunctionRole": append(base("VerifyLogGroup"),
			"Allow dynamodb:GetItem GetAtt:Table.Arn",
			"Allow dynamodb:PutItem GetAtt:Table.Arn",
			"Allow dynamodb:UpdateItem GetAtt:Table.Arn",
			"Allow dynamodb:DeleteItem GetAtt:Table.Arn",         // a replaced role's claim
			"Allow dynamodb:ConditionCheckItem GetAtt:Table.Arn", // the tenant's external ID version, in each status change
			"Allow dynamodb:Query GetAtt:Table.Arn",              // the tenant's connections, to complete a rotation early
			"Allow sqs:ReceiveMessage GetAtt:VerifyQueue.Arn",
			"Allow sqs:DeleteMessage GetAtt:VerifyQueue.Arn",
			"Allow sqs:GetQueueAttributes GetAtt:VerifyQueue.Arn",
			"Allow sqs:ChangeMessageVisibility GetAtt:VerifyQueue.Arn",
			"Allow sqs:ReceiveMessage GetAtt:PriorityQueue.Arn",
			"Allow sqs:DeleteMessage GetAtt:PriorityQueue.Arn",
			"Allow sqs:GetQueueAttributes GetAtt:PriorityQueue.Arn",
			"Allow sqs:ChangeMessageVisibility GetAtt:PriorityQueue.Arn",
			"Allow sts:AssumeRole Sub:arn:${AWS::Partition}:iam::${AWS::AccountId}:role/rolecall-${Stage}-access",
		),
		// Nothing but sts:AssumeRole into customer roles, never into the
		// partner's own account nor (by default) its Organization.
		"PartnerAccessRole": {
			"Allow sts:AssumeRole Sub:arn:${AWS::Partition}:iam::*:role/*",
			"Deny sts:AssumeRole Sub:arn:${AWS::Partition}:iam::*:role/*",
			"Deny sts:AssumeRole Sub:arn:${AWS::Partition}:iam::*:role/*",
		},
		"SweepFunctionRole": append(base("SweepLogGroup"),
			"Allow dynamodb:Query Sub:${Table.Arn}/index/due",
			"Allow dynamodb:Query Sub:${Table.Arn}/index/byStatus",
			"Allow dynamodb:GetItem GetAtt:Table.Arn",
			"Allow dynamodb:BatchGetItem GetAtt:Table.Arn",
			"Allow dynamodb:PutItem GetAtt:Table.Arn",    // completing a rotation whose grace ended: its event
			"Allow dynamodb:UpdateItem GetAtt:Table.Arn", // and the tenant
			"Allow sqs:SendMessage GetAtt:VerifyQueue.Arn",
			"Allow sqs:GetQueueAttributes GetAtt:VerifyQueue.Arn",
		),
		"SweepScheduleRole": {"Allow lambda:InvokeFunction GetAtt:SweepFunction.Arn"},
		"RegisterFunctionRole": append(base("RegisterLogGroup"),
			"Allow dynamodb:GetItem GetAtt:Table.Arn",
			"Allow dynamodb:Query GetAtt:Table.Arn", // the tenant's live connections, against its limit
			"Allow dynamodb:PutItem GetAtt:Table.Arn",
			"Allow dynamodb:UpdateItem GetAtt:Table.Arn", // a takeover by a stack's new resource; an ACCESS_LOST role resubmitted
			"Allow dynamodb:DeleteItem GetAtt:Table.Arn",
			"Allow sqs:SendMessage GetAtt:RegisterDeadLetterQueue.Arn",
		),
	}
	roles := template(t).Resources("AWS::IAM::Role")
	if len(roles) != len(want) {
		var ids []string
		for id := range roles {
			ids = append(ids, id)
		}
		t.Errorf("roles %v, want exactly %d", ids, len(want))
	}
	for role, w := range want {
		slices.Sort(w)
		if got := grants(t, role); !slices.Equal(got, w) {
			t.Errorf("%s grants\n  %s\nwant\n  %s", role, strings.Join(got, "\n  "), strings.Join(w, "\n  "))
		}
	}
}

// TestOnlyTheAccessRoleAssumesCustomerRoles: the verifier may assume the
// partner access role and nothing else; no other role grants any sts:
// action but the access role itself.
func TestOnlyTheAccessRoleAssumesCustomerRoles(t *testing.T) {
	var sts []string
	for _, g := range grants(t, "VerifyFunctionRole") {
		if strings.Contains(g, "sts:") {
			sts = append(sts, g)
		}
	}
	want := []string{"Allow sts:AssumeRole Sub:arn:${AWS::Partition}:iam::${AWS::AccountId}:role/rolecall-${Stage}-access"}
	if !slices.Equal(sts, want) {
		t.Errorf("the verifier's sts grants = %v, want only %v", sts, want)
	}
	// The spelled-out ARN is the access role's: same account, same name.
	r := template(t).Resources("AWS::IAM::Role")
	params := template(t).Parameters()
	name := resolve(t, m(r["PartnerAccessRole"]["Properties"])["RoleName"], params)
	arn := resolve(t, map[string]any{"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/rolecall-${Stage}-access"}, params)
	if name != "rolecall-dev-access" || arn != "arn:aws:iam::111122223333:role/"+fmt.Sprint(name) {
		t.Errorf("access role name %v, the verifier may assume %v", name, arn)
	}
	if name := iamcalls.Canon(m(r["VerifyFunctionRole"]["Properties"])["RoleName"]); name != "Sub:rolecall-${Stage}-verifier" {
		t.Errorf("the verifier's RoleName = %s", name)
	}
	for role := range r {
		if role == "VerifyFunctionRole" || role == "PartnerAccessRole" {
			continue
		}
		for _, g := range grants(t, role) {
			if strings.Contains(g, "sts:") {
				t.Errorf("%s grants %s", role, g)
			}
		}
	}
}

// TestFunctionsUseTheirOwnRoles: no function gets SAM-generated policies.
func TestFunctionsUseTheirOwnRoles(t *testing.T) {
	for id, fn := range template(t).Resources("AWS::Serverless::Function") {
		p := m(fn["Properties"])
		if got := iamcalls.Canon(p["Role"]); got != "GetAtt:"+id+"Role.Arn" {
			t.Errorf("%s Role = %s, want its own %sRole", id, got, id)
		}
		if _, ok := p["Policies"]; ok {
			t.Errorf("%s has SAM Policies; grant exact statements on its role", id)
		}
	}
}

func TestCanon(t *testing.T) {
	tests := map[string]any{
		"*":                  "*",
		"GetAtt:Table.Arn":   map[string]any{"Fn::GetAtt": []any{"Table", "Arn"}},
		"Sub:${Table.Arn}/x": map[string]any{"Fn::Sub": "${Table.Arn}/x"},
		"Ref:AlertTopic":     map[string]any{"Ref": "AlertTopic"},
		"?map[Fn::Join:[a]]": map[string]any{"Fn::Join": []any{"a"}},
	}
	for want, in := range tests {
		if got := iamcalls.Canon(in); got != want {
			t.Errorf("iamcalls.Canon(%v) = %s, want %s", in, got, want)
		}
	}
}
