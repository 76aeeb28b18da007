package sweep_test

import (
	"context"
	"testing"
	"time"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/store"
	"github.com/rolecall/rolecall/internal/tenant"
	"github.com/rolecall/rolecall/internal/testkit/testarn"
)

// acmeStore is an embedded store holding tenant acme, created at t0.
func acmeStore(t *testing.T) (*store.Memory, tenant.Tenant) {
	t.Helper()
	st := store.NewMemory()
	tn, err := tenant.New("acme", "Acme", t0)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateTenant(context.Background(), tn); err != nil {
		t.Fatal(err)
	}
	return st, tn
}

// storeVerified stores a connection of tenant acme to role, submitted at
// submitted and verified (external-ID version 1) by a check at checked;
// a non-zero due sets its next check. It returns the stored connection.
func storeVerified(t *testing.T, st *store.Memory, role string, submitted, checked, due time.Time) connection.Connection {
	t.Helper()
	ctx := context.Background()
	p := connection.DefaultPolicy()
	sub := p.Submit(nil, "acme", testarn.MustParse(t, role), 1, submitted)
	if err := st.Apply(ctx, sub); err != nil {
		t.Fatal(err)
	}
	ok, err := p.Apply(sub.After, connection.Outcome{Result: connection.ResultOK, Version: sub.After.Version, ExternalIDVersion: 1, ExternalIDCurrent: true, CheckedAt: checked})
	if err != nil {
		t.Fatal(err)
	}
	if !due.IsZero() {
		ok.After.NextCheckAt = due
	}
	if err := st.Apply(ctx, ok); err != nil {
		t.Fatal(err)
	}
	return ok.After
}
