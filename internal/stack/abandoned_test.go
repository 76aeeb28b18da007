package stack_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/rolecall/rolecall/internal/bus"
	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/publish"
	"github.com/rolecall/rolecall/internal/testkit/testarn"
)

// TestAbandonedEventContract: the Role Disconnected event of a FAILED
// connection RoleCall gives up on (reason ABANDONED), as the bus delivers
// it, validates against the Role Disconnected schema and no other.
func TestAbandonedEventContract(t *testing.T) {
	p := connection.DefaultPolicy()
	p.Jitter = 0
	start := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	c := p.Submit(nil, "acme", testarn.MustParse(t, "arn:aws:iam::123456789012:role/RoleCallAccess"), 1, start).After
	tr, err := p.Apply(c, connection.Outcome{Result: connection.ResultDenied, Version: c.Version, ExternalIDVersion: 1, CheckedAt: start.Add(time.Hour)})
	if err != nil || tr.After.Status != connection.Failed {
		t.Fatalf("%+v %v", tr.After, err)
	}
	c = tr.After
	tr, err = p.Apply(c, connection.Outcome{Result: connection.ResultDenied, Version: c.Version, ExternalIDVersion: 1, CheckedAt: start.Add(p.AbandonAfter)})
	if err != nil || tr.Event == nil || tr.Event.Reason.Code != connection.CodeAbandoned {
		t.Fatalf("%+v %v", tr, err)
	}
	b := bus.NewMemory()
	b.Account, b.Region = "111122223333", "us-east-1"
	pub := &publish.Publisher{Bus: b, Source: "rolecall", BusName: "rolecall-dev"}
	if failed, err := pub.Publish(context.Background(), []connection.Event{*tr.Event}); err != nil || failed != nil {
		t.Fatalf("publish: %v %v", failed, err)
	}
	envs, err := b.Since("", 0)
	if err != nil || len(envs) != 1 {
		t.Fatalf("bus: %d events, %v", len(envs), err)
	}
	ev, err := json.Marshal(envs[0])
	if err != nil {
		t.Fatal(err)
	}
	for dt, sch := range compileSchemas(t) {
		err := validate(sch, ev)
		if dt == connection.RoleDisconnected && err != nil {
			t.Errorf("the abandoned event does not validate against its schema: %v\n%s", err, ev)
		}
		if dt != connection.RoleDisconnected && err == nil {
			t.Errorf("the abandoned event validates against the %s schema", dt)
		}
	}
}
