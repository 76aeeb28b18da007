package stack_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/rolecall/rolecall/internal/store"
)

// TestTableMatchesTheStore: the template's table is the store's
// TableDefinition (keys, attribute types, indexes, projections, billing,
// stream) plus TTL on the store's TTL attribute, point-in-time recovery and
// encryption.
func TestTableMatchesTheStore(t *testing.T) {
	p := m(template(t).Resources("AWS::DynamoDB::Table")["Table"]["Properties"])
	if p == nil {
		t.Fatal("no AWS::DynamoDB::Table named Table")
	}
	def := store.TableDefinition("x")

	var wantAttrs, gotAttrs []string
	for _, a := range def.AttributeDefinitions {
		wantAttrs = append(wantAttrs, aws.ToString(a.AttributeName)+":"+string(a.AttributeType))
	}
	for _, a := range list(p["AttributeDefinitions"]) {
		gotAttrs = append(gotAttrs, fmt.Sprintf("%v:%v", m(a)["AttributeName"], m(a)["AttributeType"]))
	}
	slices.Sort(wantAttrs)
	slices.Sort(gotAttrs)
	if !slices.Equal(gotAttrs, wantAttrs) {
		t.Errorf("AttributeDefinitions = %v, want %v", gotAttrs, wantAttrs)
	}

	keys := func(ks []ddbtypes.KeySchemaElement) string {
		var s []string
		for _, k := range ks {
			s = append(s, aws.ToString(k.AttributeName)+":"+string(k.KeyType))
		}
		return fmt.Sprint(s)
	}
	tkeys := func(v any) string {
		var s []string
		for _, k := range list(v) {
			s = append(s, fmt.Sprintf("%v:%v", m(k)["AttributeName"], m(k)["KeyType"]))
		}
		return fmt.Sprint(s)
	}
	if got, want := tkeys(p["KeySchema"]), keys(def.KeySchema); got != want {
		t.Errorf("KeySchema = %s, want %s", got, want)
	}

	var want, got []string
	for _, g := range def.GlobalSecondaryIndexes {
		want = append(want, fmt.Sprintf("%s %s %s", aws.ToString(g.IndexName), keys(g.KeySchema), g.Projection.ProjectionType))
	}
	for _, g := range list(p["GlobalSecondaryIndexes"]) {
		gm := m(g)
		got = append(got, fmt.Sprintf("%v %s %v", gm["IndexName"], tkeys(gm["KeySchema"]), m(gm["Projection"])["ProjectionType"]))
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("GlobalSecondaryIndexes = %v, want %v", got, want)
	}

	if p["BillingMode"] != string(def.BillingMode) {
		t.Errorf("BillingMode = %v, want %s", p["BillingMode"], def.BillingMode)
	}
	if v := m(p["StreamSpecification"])["StreamViewType"]; v != string(def.StreamSpecification.StreamViewType) {
		t.Errorf("StreamViewType = %v, want %s", v, def.StreamSpecification.StreamViewType)
	}
	if ttl := m(p["TimeToLiveSpecification"]); ttl["AttributeName"] != store.AttrTTL || ttl["Enabled"] != true {
		t.Errorf("TimeToLiveSpecification = %v, want %s enabled", ttl, store.AttrTTL)
	}
	if m(p["PointInTimeRecoverySpecification"])["PointInTimeRecoveryEnabled"] != true {
		t.Error("point-in-time recovery is off")
	}
	if m(p["SSESpecification"])["SSEEnabled"] != true {
		t.Error("SSE is off")
	}
	r := template(t).Resources("")["Table"]
	if r["DeletionPolicy"] != "Retain" || r["UpdateReplacePolicy"] != "Retain" {
		t.Errorf("the table is not retained on deletion or replacement: %v %v", r["DeletionPolicy"], r["UpdateReplacePolicy"])
	}
}
