package stack_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rolecall/rolecall/internal/stack"
	"github.com/rolecall/rolecall/internal/testkit/iamcalls"
)

func TestLoadTemplate(t *testing.T) {
	src := `Resources:
  A:
    Type: X
    Properties:
      Name: !Sub "${B}-x"
      Arn: !GetAtt B.Arn
      List: !GetAtt [B, Arn]
      Ref: !Ref B
      When: !If [Cond, !Ref B, !Ref "AWS::NoValue"]
      Port: 443
      On: true
`
	path := filepath.Join(t.TempDir(), "t.yaml")
	if err := writeFile(path, src); err != nil {
		t.Fatal(err)
	}
	tm, err := stack.LoadTemplate(path)
	if err != nil {
		t.Fatal(err)
	}
	p := m(tm.Resources("X")["A"]["Properties"])
	want := map[string]string{
		"Name": "map[Fn::Sub:${B}-x]",
		"Arn":  "map[Fn::GetAtt:[B Arn]]",
		"List": "map[Fn::GetAtt:[B Arn]]",
		"Ref":  "map[Ref:B]",
		"When": "map[Fn::If:[Cond map[Ref:B] map[Ref:AWS::NoValue]]]",
		"Port": "443",
		"On":   "true",
	}
	for k, w := range want {
		if got := fmt.Sprint(p[k]); got != w {
			t.Errorf("%s = %s, want %s", k, got, w)
		}
	}
	if _, ok := p["Port"].(int); !ok {
		t.Errorf("Port is %T, want int", p["Port"])
	}
	for name, bad := range map[string]string{
		"unknown tag":   "A: !Bogus x\n",
		"duplicate key": "A: 1\nA: 2\n",
		"bad GetAtt":    "A: !GetAtt NoDot\n",
		"not a mapping": "- a\n",
	} {
		path := filepath.Join(t.TempDir(), "bad.yaml")
		_ = writeFile(path, bad)
		if _, err := stack.LoadTemplate(path); err == nil {
			t.Errorf("%s: loaded", name)
		}
	}
}

func TestSubRefs(t *testing.T) {
	got := fmt.Sprint(stack.SubRefs("arn:${AWS::Partition}:x:${Table.Arn}/${!Lit}end"))
	want := "[{arn: false} {AWS::Partition true} {:x: false} {Table.Arn true} {/ false} {${Lit} false} {end false}]"
	if got != want {
		t.Errorf("SubRefs = %s, want %s", got, want)
	}
}

// refs collects the names a value refers to: Ref, Fn::GetAtt, ${...} in
// Fn::Sub (without its variable map's names), Condition names in Fn::If.
func refs(v any, out map[string]bool, conds map[string]bool) {
	switch x := v.(type) {
	case map[string]any:
		if r, ok := x["Ref"].(string); ok && len(x) == 1 {
			out[r] = true
			return
		}
		if g, ok := x["Fn::GetAtt"].([]any); ok && len(x) == 1 && len(g) == 2 {
			out[fmt.Sprint(g[0])] = true
			return
		}
		if s, ok := x["Fn::Sub"].(string); ok && len(x) == 1 {
			for _, p := range stack.SubRefs(s) {
				if p.Ref {
					name, _, _ := strings.Cut(p.Text, ".")
					out[name] = true
				}
			}
			return
		}
		if f, ok := x["Fn::If"].([]any); ok && len(x) == 1 && len(f) == 3 {
			conds[fmt.Sprint(f[0])] = true
			refs(f[1], out, conds)
			refs(f[2], out, conds)
			return
		}
		for _, e := range x {
			refs(e, out, conds)
		}
	case []any:
		for _, e := range x {
			refs(e, out, conds)
		}
	}
}

// TestReferencesResolve: every Ref, GetAtt and ${} names a resource, a
// parameter or a pseudo parameter, and every condition used is defined.
func TestReferencesResolve(t *testing.T) {
	tm := template(t)
	names := map[string]bool{}
	for id := range tm.Resources("") {
		names[id] = true
	}
	for p := range tm.Parameters() {
		names[p] = true
	}
	for p := range pseudo {
		names[p] = true
	}
	used, conds := map[string]bool{}, map[string]bool{}
	refs(tm["Resources"], used, conds)
	refs(tm["Outputs"], used, conds)
	// A parameter may be used by a condition only (DenyOwnOrganization).
	refs(tm["Conditions"], used, map[string]bool{})
	for _, r := range tm.Resources("") {
		if c, ok := r["Condition"].(string); ok {
			conds[c] = true
		}
	}
	for name := range used {
		if !names[name] {
			t.Errorf("reference to %s, which is neither a resource nor a parameter", name)
		}
	}
	defined := m(tm["Conditions"])
	for c := range conds {
		if _, ok := defined[c]; !ok {
			t.Errorf("condition %s is used but not defined", c)
		}
	}
	for c := range defined {
		if !conds[c] {
			t.Errorf("condition %s is defined but not used", c)
		}
	}
	for p := range tm.Parameters() {
		if !used[p] {
			t.Errorf("parameter %s is not used", p)
		}
	}
}

func TestParametersAndOutputs(t *testing.T) {
	tm := template(t)
	params := tm.Parameters()
	for _, p := range []string{"Stage", "EventSource", "OpsAlertEmail", "CustomerRoleTemplateUrl", "CheckInterval"} {
		if _, ok := params[p]; !ok {
			t.Errorf("no parameter %s", p)
		}
	}
	if params["EventSource"] != "rolecall" || params["OpsAlertEmail"] != "" {
		t.Errorf("defaults: EventSource %q, OpsAlertEmail %q", params["EventSource"], params["OpsAlertEmail"])
	}
	sub := tm.Resources("AWS::SNS::Subscription")["AlertEmailSubscription"]
	if sub["Condition"] != "HasOpsAlertEmail" {
		t.Errorf("the e-mail subscription is not conditional on an address: %v", sub["Condition"])
	}
	outs := m(tm["Outputs"])
	for _, o := range []string{"ApiUrl", "EventBusName", "TableName", "VerifyQueueUrl"} {
		if m(outs[o])["Value"] == nil {
			t.Errorf("no output %s", o)
		}
	}
}

func TestQueuesAndAlarms(t *testing.T) {
	tm := template(t)
	res := tm.Resources("")
	q := m(res["VerifyQueue"]["Properties"])
	vfn := m(res["VerifyFunction"]["Properties"])
	timeout := 30
	if to, ok := vfn["Timeout"].(int); ok {
		timeout = to
	}
	if vt, _ := q["VisibilityTimeout"].(int); vt < 6*timeout {
		t.Errorf("VisibilityTimeout %d < 6x the verify timeout %d", vt, timeout)
	}
	rp := m(q["RedrivePolicy"])
	if iamcalls.Canon(rp["deadLetterTargetArn"]) != "GetAtt:VerifyDeadLetterQueue.Arn" {
		t.Errorf("the verify queue has no dead-letter queue: %v", rp)
	}
	if mr, _ := rp["maxReceiveCount"].(int); mr < 8 {
		t.Errorf("maxReceiveCount %d leaves too few deliveries for the propagation window", mr)
	}
	jobs := m(m(vfn["Events"])["Jobs"])
	jp := m(jobs["Properties"])
	if jobs["Type"] != "SQS" || iamcalls.Canon(jp["Queue"]) != "GetAtt:VerifyQueue.Arn" || !slices.Equal(list(jp["FunctionResponseTypes"]), []any{"ReportBatchItemFailures"}) {
		t.Errorf("verify's SQS event = %v", jobs)
	}
	for id, r := range tm.Resources("AWS::SQS::Queue") {
		if m(r["Properties"])["SqsManagedSseEnabled"] != true {
			t.Errorf("%s is not encrypted", id)
		}
	}

	alarmed := map[string]bool{}
	for _, a := range tm.Resources("AWS::CloudWatch::Alarm") {
		p := m(a["Properties"])
		for _, d := range list(p["Dimensions"]) {
			alarmed[fmt.Sprintf("%v %v %s", p["Namespace"], p["MetricName"], iamcalls.Canon(m(d)["Value"]))] = true
		}
		if !slices.ContainsFunc(list(p["AlarmActions"]), func(v any) bool { return iamcalls.Canon(v) == "Ref:AlertTopic" }) {
			t.Errorf("alarm %v does not notify the alert topic", p["AlarmDescription"])
		}
	}
	var want []string
	for _, dlq := range []string{"VerifyDeadLetterQueue", "StreamDeadLetterQueue", "DeliveryDeadLetterQueue"} {
		want = append(want, "AWS/SQS ApproximateNumberOfMessagesVisible GetAtt:"+dlq+".QueueName")
	}
	for id := range functions {
		want = append(want, "AWS/Lambda Errors Ref:"+id, "AWS/Lambda Throttles Ref:"+id)
	}
	for _, w := range want {
		if !alarmed[w] {
			t.Errorf("no alarm on %s", w)
		}
	}
}

func TestScheduleInvokesTheSweep(t *testing.T) {
	res := template(t).Resources("")
	s := m(res["SweepSchedule"]["Properties"])
	if res["SweepSchedule"]["Type"] != "AWS::Scheduler::Schedule" {
		t.Fatalf("SweepSchedule is %v", res["SweepSchedule"]["Type"])
	}
	tg := m(s["Target"])
	if iamcalls.Canon(tg["Arn"]) != "GetAtt:SweepFunction.Arn" || iamcalls.Canon(tg["RoleArn"]) != "GetAtt:SweepScheduleRole.Arn" {
		t.Errorf("schedule target = %v", tg)
	}
	// The schedule's input is the sample sweep event.
	sample, err := os.ReadFile(filepath.Join(root, "events", "sweep", "scheduled.json"))
	if err != nil {
		t.Fatal(err)
	}
	var a, b any
	if err := jsonUnmarshal([]byte(fmt.Sprint(tg["Input"])), &a); err != nil {
		t.Fatalf("schedule Input: %v", err)
	}
	_ = jsonUnmarshal(sample, &b)
	if !jsonEqual(a, b) {
		t.Errorf("schedule Input %v differs from events/sweep/scheduled.json %v", a, b)
	}
	trust := m(list(m(m(res["SweepScheduleRole"]["Properties"])["AssumeRolePolicyDocument"])["Statement"])[0])
	if m(trust["Principal"])["Service"] != "scheduler.amazonaws.com" || m(trust["Condition"]) == nil {
		t.Errorf("schedule role trust = %v", trust)
	}
}
