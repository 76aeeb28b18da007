package register

import (
	"context"
	"testing"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/store/storetest"
)

// TestReplacedResourceKeepsTheConnection: a stack whose registration
// resource changes its logical ID (a renamed or moved CDK construct) gets a
// new resource: CloudFormation creates it, then deletes the old one. The
// new resource's Create, of the role in use, takes the registration over,
// so the old one's Delete leaves the connection VERIFIED; the new one's
// Delete, when the stack goes, disconnects it.
func TestReplacedResourceKeepsTheConnection(t *testing.T) {
	const renamed = "RoleCallRoleRegistrationA1B2C3D4"
	for _, a := range storetest.Adapters() {
		t.Run(a.Name, func(t *testing.T) {
			ctx := context.Background()
			e := newEnvOn(t, a.New(t))
			e.h.Wait = -1
			e.tenant("acme")
			secret, _ := e.token("acme")
			e.create(secret) // LogicalResourceId RoleCallRegistration
			e.check("acme", custAcct, connection.ResultOK)
			before, err := e.st.GetConnection(ctx, "acme", custAcct)
			if err != nil || before.StackResource != "RoleCallRegistration" || before.Stack != stackID {
				t.Fatalf("registered %+v, %v; want it bound to its stack's resource", before, err)
			}

			create := withField(msg("Create", "c2", "", props(custRole, secret)), "LogicalResourceId", renamed)
			if err := e.h.HandleMessage(ctx, create); err != nil {
				t.Fatal(err)
			}
			if got := e.rec.last(t); got["Status"] != "SUCCESS" || got["PhysicalResourceId"] != "acme/"+custAcct {
				t.Fatalf("the new resource's Create answered %v", got)
			}
			taken, _ := e.st.GetConnection(ctx, "acme", custAcct)
			if taken.StackResource != renamed || taken.Version != before.Version || taken.Status != connection.Verified {
				t.Fatalf("after the new resource's Create: %+v, want %s's, the rest unchanged", taken, renamed)
			}
			nEvents := len(e.events("acme"))

			// CloudFormation's cleanup deletes the old resource.
			if err := e.h.HandleMessage(ctx, msg("Delete", "d-old", "acme/"+custAcct, props(custRole, secret))); err != nil {
				t.Fatal(err)
			}
			if got := e.rec.last(t); got["Status"] != "SUCCESS" {
				t.Fatalf("the old resource's Delete answered %v", got)
			}
			if c, _ := e.st.GetConnection(ctx, "acme", custAcct); c != taken || len(e.events("acme")) != nEvents {
				t.Fatalf("the old resource's Delete changed the connection: %+v, was %+v", c, taken)
			}

			// Deleting the stack deletes the new resource.
			del := withField(msg("Delete", "d-new", "acme/"+custAcct, props(custRole, secret)), "LogicalResourceId", renamed)
			if err := e.h.HandleMessage(ctx, del); err != nil {
				t.Fatal(err)
			}
			if c, _ := e.st.GetConnection(ctx, "acme", custAcct); c.Status != connection.Disconnected {
				t.Fatalf("the new resource's Delete left the connection %s", c.Status)
			}
		})
	}
}
