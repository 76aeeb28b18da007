package onboarding_test

import (
	"context"
	"testing"

	"github.com/rolecall/rolecall/internal/connection"
)

// TestStackDeletedAfterADisconnectionChangesNothing: disconnecting a
// disconnected connection changes nothing. Deleting the stack that
// registered the role in use after an operator disconnected the connection
// writes nothing and answers the connection as stored.
func TestStackDeletedAfterADisconnectionChangesNothing(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	regs, _ := f.registrations()
	acme := f.tenant(t, "acme")
	if _, err := regs.SubmitFromStack(ctx, acme, roleARN, stackA, "Registration"); err != nil {
		t.Fatal(err)
	}
	f.verify(t, "acme", custAccount)
	if c, err := f.svc.Disconnect(ctx, "acme", custAccount); err != nil || c.Status != connection.Disconnected {
		t.Fatalf("disconnect: %+v, %v", c, err)
	}
	stored, _ := f.mem.GetConnection(ctx, "acme", custAccount)
	writes := 0
	f.hooks.apply = func(connection.Transition) error { writes++; return nil }
	again, _, err := regs.StackRoleDeleted(ctx, acme, custAccount, roleARN, stackA, "Registration")
	if err != nil {
		t.Fatal(err)
	}
	if writes != 0 || again != stored {
		t.Fatalf("stack deleted after the disconnection: %d writes; answered reason %s v%d, stored %s v%d", writes, again.Reason.Code, again.Version, stored.Reason.Code, stored.Version)
	}
}
