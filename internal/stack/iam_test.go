package stack_test

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// canon renders a policy value (a string or an intrinsic function) as a
// comparable string: "*", "GetAtt:Table.Arn", "Sub:${Table.Arn}/index/due",
// "Ref:AlertTopic".
func canon(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case map[string]any:
		if r, ok := x["Ref"]; ok {
			return "Ref:" + fmt.Sprint(r)
		}
		if g, ok := x["Fn::GetAtt"].([]any); ok && len(g) == 2 {
			return fmt.Sprintf("GetAtt:%v.%v", g[0], g[1])
		}
		if s, ok := x["Fn::Sub"].(string); ok {
			return "Sub:" + s
		}
	}
	return fmt.Sprintf("?%v", v)
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
		case "AWS::SQS::QueuePolicy", "AWS::SNS::TopicPolicy":
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
		stmts := list(pd.doc["Statement"])
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
				if len(actions) != 1 || actions[0] != "sts:AssumeRole" || m(st["Principal"])["Service"] == nil {
					t.Errorf("%s: a trust statement lets a service assume the role, nothing else: %v", where, st)
				}
				continue
			}
			resources := list(st["Resource"])
			if len(resources) == 0 {
				t.Errorf("%s: no Resource", where)
			}
			for _, r := range resources {
				c := canon(r)
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
			if pd.resource && !registrationPublish(pd.where, st) {
				// A service principal acts for this stack only (no
				// confused deputy).
				if m(st["Principal"])["Service"] == nil || len(m(st["Condition"])) == 0 {
					t.Errorf("%s: resource policy statements grant a service principal under a source condition: %v", where, st)
				}
			}
		}
	}
}

// grants renders a role's inline statements as "Effect action resource".
func grants(t *testing.T, role string) []string {
	t.Helper()
	r := template(t).Resources("AWS::IAM::Role")[role]
	if r == nil {
		t.Fatalf("no role %s", role)
	}
	var out []string
	for _, pol := range list(m(r["Properties"])["Policies"]) {
		for _, s := range list(m(m(pol)["PolicyDocument"])["Statement"]) {
			st := m(s)
			for _, a := range list(st["Action"]) {
				for _, res := range list(st["Resource"]) {
					out = append(out, fmt.Sprintf("%v %v %s", st["Effect"], a, canon(res)))
				}
			}
		}
	}
	slices.Sort(out)
	return out
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
			"Allow dynamodb:DeleteItem GetAtt:Table.Arn",
			"Allow dynamodb:UpdateItem GetAtt:Table.Arn", // revoking a registration token
			"Allow dynamodb:BatchGetItem GetAtt:Table.Arn",
			"Allow dynamodb:Query GetAtt:Table.Arn",
			"Allow dynamodb:Query Sub:${Table.Arn}/index/byStatus",
			"Allow sqs:SendMessage GetAtt:VerifyQueue.Arn",
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
			"Allow sqs:ReceiveMessage GetAtt:VerifyQueue.Arn",
			"Allow sqs:DeleteMessage GetAtt:VerifyQueue.Arn",
			"Allow sqs:GetQueueAttributes GetAtt:VerifyQueue.Arn",
			"Allow sqs:ChangeMessageVisibility GetAtt:VerifyQueue.Arn",
			"Allow sts:AssumeRole Sub:arn:${AWS::Partition}:iam::*:role/*",
			"Deny sts:AssumeRole Sub:arn:${AWS::Partition}:iam::*:role/*",
		),
		"SweepFunctionRole": append(base("SweepLogGroup"),
			"Allow dynamodb:Query Sub:${Table.Arn}/index/due",
			"Allow dynamodb:Query Sub:${Table.Arn}/index/byStatus",
			"Allow dynamodb:GetItem GetAtt:Table.Arn",
			"Allow dynamodb:BatchGetItem GetAtt:Table.Arn",
			"Allow sqs:SendMessage GetAtt:VerifyQueue.Arn",
		),
		"SweepScheduleRole": {"Allow lambda:InvokeFunction GetAtt:SweepFunction.Arn"},
		"RegisterFunctionRole": append(base("RegisterLogGroup"),
			"Allow dynamodb:GetItem GetAtt:Table.Arn",
			"Allow dynamodb:PutItem GetAtt:Table.Arn",
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

// TestVerifierNeverAssumesPartnerRoles: the verifier's AssumeRole is denied
// on the partner's own account, and no other role may assume roles.
func TestVerifierNeverAssumesPartnerRoles(t *testing.T) {
	r := template(t).Resources("AWS::IAM::Role")["VerifyFunctionRole"]
	found := false
	for _, pol := range list(m(r["Properties"])["Policies"]) {
		for _, s := range list(m(m(pol)["PolicyDocument"])["Statement"]) {
			st := m(s)
			if st["Effect"] != "Deny" {
				continue
			}
			cond := m(m(st["Condition"])["StringEquals"])
			if slices.Equal(list(st["Action"]), []any{"sts:AssumeRole"}) && cond["aws:ResourceAccount"] == "${aws:PrincipalAccount}" && len(m(st["Condition"])) == 1 {
				found = true
			}
		}
	}
	if !found {
		t.Error("VerifyFunctionRole lacks Deny sts:AssumeRole when aws:ResourceAccount equals ${aws:PrincipalAccount}")
	}
	if name := canon(m(r["Properties"])["RoleName"]); name != "Sub:rolecall-${Stage}-verifier" {
		t.Errorf("the verifier's RoleName = %s; customers' trust policies need a stable ARN", name)
	}
	for role := range template(t).Resources("AWS::IAM::Role") {
		if role == "VerifyFunctionRole" {
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
		if got := canon(p["Role"]); got != "GetAtt:"+id+"Role.Arn" {
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
		if got := canon(in); got != want {
			t.Errorf("canon(%v) = %s, want %s", in, got, want)
		}
	}
}
