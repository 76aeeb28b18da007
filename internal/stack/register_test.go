package stack_test

import (
	"context"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/aws/aws-lambda-go/events"

	"github.com/rolecall/rolecall/internal/bus"
	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/onboarding"
	"github.com/rolecall/rolecall/internal/publish"
	"github.com/rolecall/rolecall/internal/register"
	"github.com/rolecall/rolecall/internal/rolearn"
	"github.com/rolecall/rolecall/internal/store"
	"github.com/rolecall/rolecall/internal/testkit/iamcalls"
)

// TestRegistrationTopicGrantsOnlyPublish: the topic policy has exactly one
// statement, granting sns:Publish on the registration topic and nothing
// else, and no other policy of the template names a "*" principal.
func TestRegistrationTopicGrantsOnlyPublish(t *testing.T) {
	res := template(t).Resources("")
	pol := res["RegistrationTopicPolicy"]
	if pol == nil || pol["Type"] != "AWS::SNS::TopicPolicy" {
		t.Fatalf("RegistrationTopicPolicy = %v", pol)
	}
	p := m(pol["Properties"])
	if topics := list(p["Topics"]); len(topics) != 1 || iamcalls.Canon(topics[0]) != "Ref:RegistrationTopic" {
		t.Errorf("Topics = %v, want the registration topic only", p["Topics"])
	}
	stmts := list(m(p["PolicyDocument"])["Statement"])
	if len(stmts) != 1 || !registrationPublish.allows("RegistrationTopicPolicy", m(stmts[0])) {
		t.Fatalf("statements = %v, want exactly Allow sns:Publish on Ref:RegistrationTopic to AWS:*", stmts)
	}
	for _, pd := range policyDocs(t) {
		if pd.where == "RegistrationTopicPolicy" || pd.where == "CustomerTemplateBucketPolicy" {
			continue // their one public statement is pinned by its own test
		}
		b, _ := json.Marshal(pd.doc)
		if strings.Contains(string(b), `"AWS":"*"`) || strings.Contains(string(b), `"Principal":"*"`) {
			t.Errorf("%s grants a \"*\" principal", pd.where)
		}
	}
	if rt := res["RegistrationTopic"]; rt == nil || rt["Type"] != "AWS::SNS::Topic" {
		t.Fatalf("RegistrationTopic = %v", rt)
	}
	out := m(m(template(t)["Outputs"])["RegistrationTopicArn"])
	if iamcalls.Canon(out["Value"]) != "Ref:RegistrationTopic" {
		t.Errorf("Outputs.RegistrationTopicArn = %v", out["Value"])
	}
}

// TestRegisterFunction: subscribed to the topic, bounded concurrency, a
// timeout above its wait, retries that end within CloudFormation's hour in
// a dead-letter queue that alarms.
func TestRegisterFunction(t *testing.T) {
	res := template(t).Resources("")
	p := m(res["RegisterFunction"]["Properties"])
	ev := m(m(p["Events"])["Registration"])
	if ev["Type"] != "SNS" || iamcalls.Canon(m(ev["Properties"])["Topic"]) != "Ref:RegistrationTopic" {
		t.Errorf("event = %v, want the registration topic's SNS subscription", ev)
	}
	if rc, ok := p["ReservedConcurrentExecutions"].(int); !ok || rc < 1 || rc > 10 {
		t.Errorf("ReservedConcurrentExecutions = %v, want 1-10", p["ReservedConcurrentExecutions"])
	}
	vars := m(m(p["Environment"])["Variables"])
	wait, err := time.ParseDuration(sprint(vars["REGISTRATION_WAIT"]))
	if err != nil {
		t.Fatalf("REGISTRATION_WAIT = %v: %v", vars["REGISTRATION_WAIT"], err)
	}
	// The handler ends its wait this long before the invocation's deadline;
	// a shorter Timeout would cut every wait short.
	reserve := register.AnswerReserve(register.DefaultAnswerTimeout)
	if to, _ := p["Timeout"].(int); time.Duration(to)*time.Second < wait+reserve {
		t.Errorf("Timeout %v s leaves less than the handler's %v after the %v wait to answer", p["Timeout"], reserve, wait)
	}
	want := map[string]string{
		"TABLE_NAME":            `map[Ref:Table]`,
		"PARTNER_ACCOUNT_ID":    `map[Ref:AWS::AccountId]`,
		"TRUSTED_PRINCIPAL_ARN": `map[Fn::GetAtt:[PartnerAccessRole Arn]]`,
	}
	for k, w := range want {
		if got := sprint(vars[k]); got != w {
			t.Errorf("RegisterFunction %s = %s, want %s", k, got, w)
		}
	}
	eic := m(p["EventInvokeConfig"])
	if age, _ := eic["MaximumEventAgeInSeconds"].(int); age < 60 || age > 3600 {
		t.Errorf("MaximumEventAgeInSeconds = %v, want at most CloudFormation's 3600", eic["MaximumEventAgeInSeconds"])
	}
	if n, ok := eic["MaximumRetryAttempts"].(int); !ok || n < 1 {
		t.Errorf("MaximumRetryAttempts = %v", eic["MaximumRetryAttempts"])
	}
	onFailure := m(m(eic["DestinationConfig"])["OnFailure"])
	if onFailure["Type"] != "SQS" || iamcalls.Canon(onFailure["Destination"]) != "GetAtt:RegisterDeadLetterQueue.Arn" {
		t.Errorf("OnFailure = %v", onFailure)
	}
	alarm := m(res["RegisterDeadLetterAlarm"]["Properties"])
	dims := list(alarm["Dimensions"])
	if len(dims) != 1 || iamcalls.Canon(m(dims[0])["Value"]) != "GetAtt:RegisterDeadLetterQueue.QueueName" || iamcalls.Canon(list(alarm["AlarmActions"])[0]) != "Ref:AlertTopic" {
		t.Errorf("RegisterDeadLetterAlarm = %v", alarm)
	}
	for _, id := range []string{"RegisterFunctionErrorsAlarm", "RegisterFunctionThrottlesAlarm"} {
		if res[id] == nil {
			t.Errorf("no %s", id)
		}
	}
}

// TestRegisterSamples: each events/register sample is an SNS event whose
// messages are custom-resource requests the handler would answer.
func TestRegisterSamples(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(root, "events", "register", "*.json"))
	if len(files) == 0 {
		t.Fatal("no sample under events/register")
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var ev events.SNSEvent
		if err := strictDecode(b, &ev); err != nil || len(ev.Records) == 0 {
			t.Fatalf("%s: %v (%d records)", f, err, len(ev.Records))
		}
		for _, r := range ev.Records {
			var req cfn.Event
			if err := json.Unmarshal([]byte(r.SNS.Message), &req); err != nil {
				t.Fatalf("%s: message: %v", f, err)
			}
			if req.ResourceType != register.ResourceType || req.RequestID == "" || req.StackID == "" {
				t.Errorf("%s: request = %+v", f, req)
			}
			if _, err := register.CheckResponseURL(req.ResponseURL, register.URLPolicy{Region: "us-east-1"}); err != nil {
				t.Errorf("%s: ResponseURL refused: %v", f, err)
			}
			if u, _ := url.Parse(req.ResponseURL); u == nil || !strings.HasPrefix(u.Host, "cloudformation-custom-resource-response-") {
				t.Errorf("%s: ResponseURL host %v", f, u)
			}
		}
	}
}

// TestStackDeletedEventMatchesSchema: the Role Disconnected event of a
// deleted stack (reason STACK_DELETED), as the registration flow writes it
// and the publisher puts it on the bus, validates against its schema.
func TestStackDeletedEventMatchesSchema(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	st := store.NewMemory()
	svc := &onboarding.Service{Store: st, Policy: connection.DefaultPolicy(), Rules: rolearn.Rules{Partition: "aws", OwnAccount: "999988887777"}, Now: func() time.Time { return now }}
	regs := &onboarding.Registrations{Service: svc, Tokens: store.NewMemoryRegistrations()}
	tn, err := svc.CreateTenant(ctx, "acme", "Acme")
	if err != nil {
		t.Fatal(err)
	}
	const stackID = "arn:aws:cloudformation:us-east-1:123456789012:stack/rolecall/0a1b2c3d-4e5f-6789-abcd-ef0123456789"
	if _, err := regs.SubmitFromStack(ctx, tn, "arn:aws:iam::123456789012:role/RoleCallAccess", stackID, "Registration"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := regs.StackRoleDeleted(ctx, tn, "123456789012", "arn:aws:iam::123456789012:role/RoleCallAccess", stackID, "Registration"); err != nil {
		t.Fatal(err)
	}
	evs, err := st.Events(ctx, "acme", "123456789012")
	if err != nil || len(evs) != 2 || evs[1].Reason.Code != onboarding.CodeStackDeleted {
		t.Fatalf("events = %+v, %v", evs, err)
	}
	b := bus.NewMemory()
	b.Account, b.Region = "111122223333", "us-east-1"
	p := &publish.Publisher{Bus: b, Source: "rolecall", BusName: "rolecall-dev"}
	if failed, err := p.Publish(ctx, evs[1:]); err != nil || failed != nil {
		t.Fatalf("publish: %v %v", failed, err)
	}
	envs, err := b.Since("", 0)
	if err != nil || len(envs) != 1 {
		t.Fatalf("bus: %d, %v", len(envs), err)
	}
	j, _ := json.Marshal(envs[0])
	if err := validate(compileSchemas(t)[connection.RoleDisconnected], j); err != nil {
		t.Fatalf("the STACK_DELETED event does not validate: %v\n%s", err, j)
	}
}
