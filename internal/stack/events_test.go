package stack_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/rolecall/rolecall/internal/bus"
	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/publish"
	"github.com/rolecall/rolecall/internal/publish/publishtest"
	"github.com/rolecall/rolecall/internal/stack"
	"github.com/rolecall/rolecall/internal/store"
	"github.com/rolecall/rolecall/internal/testkit/iamcalls"
)

// schemaFile is the file of a detail-type's schema under events/schemas.
func schemaFile(dt connection.DetailType) string {
	return strings.ToLower(strings.ReplaceAll(string(dt), " ", "-")) + ".json"
}

// delivered returns the lifecycle's events as the bus delivers them to
// targets, by detail-type: each is published with publish's entry and
// read back from the in-process bus's record.
func delivered(t *testing.T, source string) map[connection.DetailType][][]byte {
	t.Helper()
	b := bus.NewMemory()
	b.Account, b.Region = "111122223333", "us-east-1"
	evs := publishtest.LifecycleEvents()
	p := &publish.Publisher{Bus: b, Source: source, BusName: "rolecall-dev"}
	if failed, err := p.Publish(context.Background(), evs); err != nil || failed != nil {
		t.Fatalf("publish lifecycle events: %v %v", failed, err)
	}
	envs, err := b.Since("", 0)
	if err != nil || len(envs) != len(evs) {
		t.Fatalf("bus recorded %d events, want %d (%v)", len(envs), len(evs), err)
	}
	out := map[connection.DetailType][][]byte{}
	for _, e := range envs {
		j, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		out[connection.DetailType(e.DetailType)] = append(out[connection.DetailType(e.DetailType)], j)
	}
	for _, dt := range connection.DetailTypes {
		if len(out[dt]) == 0 {
			t.Fatalf("the lifecycle emitted no %s event", dt)
		}
	}
	return out
}

func compileSchemas(t *testing.T) map[connection.DetailType]*jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft4)
	c.AssertFormat()
	out := map[connection.DetailType]*jsonschema.Schema{}
	for _, dt := range connection.DetailTypes {
		path := filepath.Join(root, "events", "schemas", schemaFile(dt))
		f, err := os.Open(path)
		if err != nil {
			t.Fatalf("%s has no schema: %v", dt, err)
		}
		doc, err := jsonschema.UnmarshalJSON(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if err := c.AddResource(path, doc); err != nil {
			t.Fatal(err)
		}
		sch, err := c.Compile(path)
		if err != nil {
			t.Fatalf("compile %s: %v", path, err)
		}
		out[dt] = sch
	}
	return out
}

func validate(sch *jsonschema.Schema, event []byte) error {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(event))
	if err != nil {
		return err
	}
	return sch.Validate(doc)
}

// TestEventContract: every event the lifecycle emits validates against
// the schema of its detail-type and no other.
func TestEventContract(t *testing.T) {
	schemas := compileSchemas(t)
	for dt, evs := range delivered(t, "rolecall") {
		for i, ev := range evs {
			for sdt, sch := range schemas {
				err := validate(sch, ev)
				if sdt == dt && err != nil {
					t.Errorf("%s event %d does not validate against its schema: %v\n%s", dt, i, err, ev)
				}
				if sdt != dt && err == nil {
					t.Errorf("%s event %d validates against the %s schema", dt, i, sdt)
				}
			}
		}
	}
}

// TestSchemasRejectBrokenEvents: the schemas are strict enough to catch a
// changed event.
func TestSchemasRejectBrokenEvents(t *testing.T) {
	schemas := compileSchemas(t)
	good := delivered(t, "rolecall")[connection.RoleAccessLost][0]
	mutate := func(f func(env, detail map[string]any)) []byte {
		var env map[string]any
		_ = json.Unmarshal(good, &env)
		f(env, env["detail"].(map[string]any))
		b, _ := json.Marshal(env)
		return b
	}
	tests := map[string][]byte{
		"no eventId":                   mutate(func(_, d map[string]any) { delete(d, "eventId") }),
		"bad account":                  mutate(func(_, d map[string]any) { d["accountId"] = "12345" }),
		"a status of another type":     mutate(func(_, d map[string]any) { d["status"] = "VERIFIED" }),
		"an unknown reason code":       mutate(func(_, d map[string]any) { d["reason"].(map[string]any)["code"] = "OOPS" }),
		"an extra detail field":        mutate(func(_, d map[string]any) { d["externalId"] = "rc-LEAK" }),
		"version 0":                    mutate(func(_, d map[string]any) { d["version"] = 0 }),
		"a time that is not date-time": mutate(func(_, d map[string]any) { d["occurredAt"] = "yesterday" }),
		"no detail":                    mutate(func(e, _ map[string]any) { delete(e, "detail") }),
		"not a role ARN":               mutate(func(_, d map[string]any) { d["roleArn"] = "arn:aws:iam::123456789012:user/x" }),
	}
	if err := validate(schemas[connection.RoleAccessLost], good); err != nil {
		t.Fatalf("fixture does not validate: %v", err)
	}
	for name, ev := range tests {
		if err := validate(schemas[connection.RoleAccessLost], ev); err == nil {
			t.Errorf("%s: validates", name)
		}
	}
}

// TestSchemasAreRegistered: one AWS::EventSchemas::Schema per detail-type,
// whose Content is the schema file.
func TestSchemasAreRegistered(t *testing.T) {
	res := template(t).Resources("AWS::EventSchemas::Schema")
	if len(res) != len(connection.DetailTypes) {
		t.Errorf("%d registered schemas, want %d", len(res), len(connection.DetailTypes))
	}
	for _, dt := range connection.DetailTypes {
		id := strings.ReplaceAll(string(dt), " ", "") + "Schema"
		p := m(res[id]["Properties"])
		if p == nil {
			t.Errorf("no %s resource for %s", id, dt)
			continue
		}
		if p["Type"] != "JSONSchemaDraft4" || iamcalls.Canon(p["RegistryName"]) != "GetAtt:SchemaRegistry.RegistryName" ||
			p["SchemaName"] != "rolecall@"+strings.ReplaceAll(string(dt), " ", "") {
			t.Errorf("%s: Type %v, registry %s, name %v", id, p["Type"], iamcalls.Canon(p["RegistryName"]), p["SchemaName"])
		}
		file, err := os.ReadFile(filepath.Join(root, "events", "schemas", schemaFile(dt)))
		if err != nil {
			t.Fatal(err)
		}
		var want, got any
		if err := json.Unmarshal(file, &want); err != nil {
			t.Fatal(err)
		}
		content, _ := p["Content"].(string)
		if err := json.Unmarshal([]byte(content), &got); err != nil {
			t.Errorf("%s Content is not JSON: %v", id, err)
			continue
		}
		if !jsonEqual(got, want) {
			min, _ := json.Marshal(want)
			t.Errorf("%s Content differs from events/schemas/%s; set it to:\n%q", id, schemaFile(dt), min)
		}
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

// rulePatterns returns each rule's (and the archive's) event pattern with
// parameters resolved to the given values.
func rulePatterns(t *testing.T, params map[string]string) map[string]any {
	t.Helper()
	tm := template(t)
	out := map[string]any{}
	for id, r := range tm.Resources("AWS::Events::Rule") {
		p := m(r["Properties"])
		if iamcalls.Canon(p["EventBusName"]) != "Ref:EventBus" {
			t.Errorf("%s is not on RoleCall's bus: %v", id, p["EventBusName"])
		}
		out[id] = resolve(t, p["EventPattern"], params)
	}
	for id, r := range tm.Resources("AWS::Events::Archive") {
		out[id] = resolve(t, m(r["Properties"])["EventPattern"], params)
	}
	return out
}

// TestRulePatterns: each rule matches the events publish puts on the bus
// for exactly its detail-types, with the default and a custom source.
func TestRulePatterns(t *testing.T) {
	all := slices.Clone(connection.DetailTypes)
	want := map[string][]connection.DetailType{
		"RoleSubmittedRule": {connection.RoleSubmitted},
		"AllEventsLogRule":  all,
		"AlertsRule":        {connection.RoleAccessLost, connection.RoleVerificationFailed},
		"EventArchive":      all,
	}
	params := template(t).Parameters()
	for _, source := range []string{params["EventSource"], "com.example.partner"} {
		params := map[string]string{}
		for k, v := range template(t).Parameters() {
			params[k] = v
		}
		params["EventSource"] = source
		patterns := rulePatterns(t, params)
		if len(patterns) != len(want) {
			t.Errorf("%d rules and archives, want %d", len(patterns), len(want))
		}
		events := delivered(t, source)
		others := delivered(t, "someone.else")
		for id, dts := range want {
			pat, ok := patterns[id]
			if !ok {
				t.Errorf("no %s", id)
				continue
			}
			for _, dt := range connection.DetailTypes {
				for _, ev := range events[dt] {
					var e any
					_ = json.Unmarshal(ev, &e)
					got, err := stack.Match(pat, e)
					if err != nil {
						t.Fatalf("%s: %v", id, err)
					}
					if wantMatch := slices.Contains(dts, dt); got != wantMatch {
						t.Errorf("source %s: %s matches %s: %v, want %v", source, id, dt, got, wantMatch)
					}
				}
				var e any
				_ = json.Unmarshal(others[dt][0], &e)
				if got, _ := stack.Match(pat, e); got {
					t.Errorf("%s matches a %s event of another source", id, dt)
				}
			}
		}
	}
}

// TestRuleTargets: Role Submitted reaches the priority verify queue (which lets
// exactly that rule send), alerts reach the topic, everything reaches the
// log group; failed deliveries are dead-lettered.
func TestRuleTargets(t *testing.T) {
	rules := template(t).Resources("AWS::Events::Rule")
	want := map[string]string{
		"RoleSubmittedRule": "GetAtt:PriorityQueue.Arn",
		"AlertsRule":        "Ref:AlertTopic",
		"AllEventsLogRule":  "Sub:arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:${EventLogGroup}",
	}
	for id, arn := range want {
		targets := list(m(rules[id]["Properties"])["Targets"])
		if len(targets) != 1 || iamcalls.Canon(m(targets[0])["Arn"]) != arn {
			t.Errorf("%s targets %v, want %s", id, targets, arn)
			continue
		}
		if iamcalls.Canon(m(m(targets[0])["DeadLetterConfig"])["Arn"]) != "GetAtt:DeliveryDeadLetterQueue.Arn" {
			t.Errorf("%s target has no dead-letter queue", id)
		}
	}
	qp := m(template(t).Resources("")["VerifyQueuePolicy"]["Properties"])
	st := m(list(m(qp["PolicyDocument"])["Statement"])[0])
	if iamcalls.Canon(m(m(st["Condition"])["ArnEquals"])["aws:SourceArn"]) != "GetAtt:RoleSubmittedRule.Arn" {
		t.Errorf("the verify queue's policy is not scoped to the Role Submitted rule: %v", st)
	}
}

// TestStreamFilter: the publish function's event source mapping passes
// exactly the INSERTs of outbox items (the store's kind attribute).
func TestStreamFilter(t *testing.T) {
	fn := template(t).Resources("AWS::Serverless::Function")["PublishFunction"]
	ev := m(m(m(fn["Properties"])["Events"])["Outbox"])
	p := m(ev["Properties"])
	if ev["Type"] != "DynamoDB" || iamcalls.Canon(p["Stream"]) != "GetAtt:Table.StreamArn" {
		t.Fatalf("Outbox event = %v", ev)
	}
	if !slices.Equal(list(p["FunctionResponseTypes"]), []any{"ReportBatchItemFailures"}) {
		t.Errorf("FunctionResponseTypes = %v", p["FunctionResponseTypes"])
	}
	if iamcalls.Canon(m(m(p["DestinationConfig"])["OnFailure"])["Destination"]) != "GetAtt:StreamDeadLetterQueue.Arn" {
		t.Errorf("stream failures are not sent to the stream dead-letter queue")
	}
	filters := list(m(p["FilterCriteria"])["Filters"])
	if len(filters) != 1 {
		t.Fatalf("filters = %v", filters)
	}
	pattern, _ := m(filters[0])["Pattern"].(string)
	wantPattern := `{"eventName":["INSERT"],"dynamodb":{"NewImage":{"` + store.AttrKind + `":{"S":["` + store.KindEvent + `"]}}}}`
	if pattern != wantPattern {
		t.Errorf("filter = %s, want %s", pattern, wantPattern)
	}

	sample, err := os.ReadFile(filepath.Join(root, "events", "publish", "outbox-inserts.json"))
	if err != nil {
		t.Fatal(err)
	}
	var batch struct{ Records []map[string]any }
	if err := json.Unmarshal(sample, &batch); err != nil {
		t.Fatal(err)
	}
	var pat any
	_ = json.Unmarshal([]byte(pattern), &pat)
	for i, rec := range batch.Records {
		if ok, err := stack.Match(pat, rec); err != nil || !ok {
			t.Errorf("outbox insert %d does not pass the filter (%v)", i, err)
		}
	}
	rec := batch.Records[0]
	clone := func() map[string]any {
		var c map[string]any
		b, _ := json.Marshal(rec)
		_ = json.Unmarshal(b, &c)
		return c
	}
	modify := clone()
	modify["eventName"] = "MODIFY"
	conn := clone()
	m(m(conn["dynamodb"])["NewImage"])["kind"] = map[string]any{"S": "connection"}
	remove := clone()
	remove["eventName"] = "REMOVE"
	delete(m(remove["dynamodb"]), "NewImage")
	for name, r := range map[string]map[string]any{"a MODIFY": modify, "a connection item": conn, "a TTL removal": remove} {
		if ok, err := stack.Match(pat, r); err != nil || ok {
			t.Errorf("%s passes the filter (%v)", name, err)
		}
	}
}

// TestVerifySampleEventsValidate: an EventBridge event in the verify
// function's sample batch (a Role Submitted event the bus rule queues)
// validates against its detail-type's schema, like the events the code
// emits.
func TestVerifySampleEventsValidate(t *testing.T) {
	schemas := compileSchemas(t)
	b, err := os.ReadFile(filepath.Join(root, "events", "verify", "sqs-batch.json"))
	if err != nil {
		t.Fatal(err)
	}
	var batch events.SQSEvent
	if err := json.Unmarshal(b, &batch); err != nil {
		t.Fatal(err)
	}
	n := 0
	for i, r := range batch.Records {
		var head struct {
			DetailType connection.DetailType `json:"detail-type"`
		}
		if err := json.Unmarshal([]byte(r.Body), &head); err != nil || head.DetailType == "" {
			continue // a job, not an event
		}
		n++
		sch, ok := schemas[head.DetailType]
		if !ok {
			t.Errorf("record %d: %q has no schema", i, head.DetailType)
			continue
		}
		if err := validate(sch, []byte(r.Body)); err != nil {
			t.Errorf("record %d (%s) does not validate: %v", i, head.DetailType, err)
		}
	}
	if n == 0 {
		t.Error("the sample batch holds no event")
	}
}
