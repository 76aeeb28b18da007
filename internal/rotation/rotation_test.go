package rotation_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/rolearn"
	"github.com/rolecall/rolecall/internal/rotation"
	"github.com/rolecall/rolecall/internal/store"
	"github.com/rolecall/rolecall/internal/tenant"
	"github.com/rolecall/rolecall/internal/testkit/testarn"
)

// newTenant is a memory store holding tenant acme, created at t0.
func newTenant(t *testing.T, t0 time.Time) (*store.Memory, tenant.Tenant) {
	t.Helper()
	st := store.NewMemory()
	tn, err := tenant.New("acme", "Acme", t0)
	if err == nil {
		err = st.CreateTenant(context.Background(), tn)
	}
	if err != nil {
		t.Fatal(err)
	}
	return st, tn
}

func TestSettle(t *testing.T) {
	t0 := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	p := connection.DefaultPolicy()
	tests := []struct {
		name       string
		conns      []connection.Status // one connection each, verified with v1 unless PENDING/FAILED
		upgraded   int                 // how many of them then verify with v2
		at         time.Duration       // after the rotation
		want       bool
		completion string
	}{
		{"no connection", nil, 0, time.Minute, true, connection.CompletionAllCurrent},
		{"pending and failed rely on nothing", []connection.Status{connection.Pending, connection.Failed}, 0, time.Minute, true, connection.CompletionAllCurrent},
		{"a verified one on the previous ID", []connection.Status{connection.Verified, connection.Verified}, 1, time.Minute, false, ""},
		{"a lost one on the previous ID", []connection.Status{connection.AccessLost}, 0, time.Minute, false, ""},
		{"all verified on the current ID", []connection.Status{connection.Verified, connection.Verified}, 2, time.Minute, true, connection.CompletionAllCurrent},
		{"grace ended", []connection.Status{connection.Verified}, 0, 2 * time.Hour, true, connection.CompletionGraceEnded},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			st, tn := newTenant(t, t0)
			apply := func(tr connection.Transition, err error) connection.Connection {
				t.Helper()
				if err == nil {
					err = st.Apply(ctx, tr)
				}
				if err != nil {
					t.Fatal(err)
				}
				return tr.After
			}
			var cs []connection.Connection
			for i, s := range tc.conns {
				a, _ := rolearn.Parse("arn:aws:iam::12345678901"+string(rune('0'+i))+":role/R", rolearn.Rules{})
				c := apply(p.Submit(nil, "acme", a, 1, t0), nil)
				ok := connection.Outcome{Result: connection.ResultOK, Version: c.Version, ExternalIDVersion: 1, ExternalIDCurrent: true, CheckedAt: t0}
				switch s {
				case connection.Verified, connection.AccessLost:
					c = apply(p.Apply(c, ok))
				case connection.Failed:
					c = apply(p.Apply(c, connection.Outcome{Result: connection.ResultNotEnforced, Version: c.Version, ExternalIDVersion: 1, CheckedAt: t0}))
				}
				if s == connection.AccessLost {
					for k := range p.LostAfter {
						c = apply(p.Apply(c, connection.Outcome{Result: connection.ResultDenied, Version: c.Version, ExternalIDVersion: 1, CheckedAt: t0.Add(time.Duration(k+1) * time.Second)}))
					}
				}
				cs = append(cs, c)
			}
			r := tn.RotatedWithGrace(t0.Add(time.Minute), time.Hour)
			if err := st.RotateExternalID(ctx, tn, r); err != nil {
				t.Fatal(err)
			}
			for i := range tc.upgraded {
				c := cs[i]
				apply(p.Apply(c, connection.Outcome{Result: connection.ResultOK, Version: c.Version, ExternalIDVersion: 2, ExternalIDCurrent: true, CheckedAt: t0.Add(2 * time.Minute)}))
			}
			at := t0.Add(time.Minute + tc.at)
			done, err := rotation.SettleTenant(ctx, st, "acme", at)
			if err != nil || done != tc.want {
				t.Fatalf("Settle = %v, %v; want %v", done, err, tc.want)
			}
			got, _ := st.GetTenant(ctx, "acme")
			evs, _ := st.TenantEvents(ctx, "acme")
			if got.InGrace() == tc.want || (tc.want && (len(evs) != 2 || evs[1].Completion != tc.completion)) {
				t.Fatalf("tenant %+v, events %+v", got, evs)
			}
			// Settling again is a no-op.
			if again, err := rotation.SettleTenant(ctx, st, "acme", at); err != nil || again {
				t.Fatalf("settle again = %v, %v", again, err)
			}
		})
	}
}

// failing is the memory store with failures injected per method.
type failing struct {
	*store.Memory
	get, list, complete error
}

func (f *failing) GetTenant(ctx context.Context, id string) (tenant.Tenant, error) {
	if f.get != nil {
		return tenant.Tenant{}, f.get
	}
	return f.Memory.GetTenant(ctx, id)
}

func (f *failing) ListByTenant(ctx context.Context, tenantID, cursor string, limit int) (store.Page, error) {
	if f.list != nil {
		return store.Page{}, f.list
	}
	return f.Memory.ListByTenant(ctx, tenantID, cursor, limit)
}

func (f *failing) CompleteRotation(ctx context.Context, t tenant.Tenant, completion string, at time.Time) error {
	if f.complete != nil {
		return f.complete
	}
	return f.Memory.CompleteRotation(ctx, t, completion, at)
}

// TestSettleFailures: a store that fails makes Settle fail and complete
// nothing; a rotation completed concurrently (a conflict) is not an error;
// a tenant not in a grace has nothing to settle.
func TestSettleFailures(t *testing.T) {
	t0 := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	boom := errors.New("dynamodb is down")
	tests := []struct {
		name    string
		st      failing
		grace   time.Duration
		wantErr error
	}{
		{"tenant not read", failing{get: boom}, time.Hour, boom},
		{"connections not listed", failing{list: boom}, time.Hour, boom},
		{"completion fails", failing{complete: boom}, time.Hour, boom},
		{"completed concurrently", failing{complete: fmt.Errorf("complete: %w", store.ErrConflict)}, time.Hour, nil},
		{"no grace: nothing to settle", failing{}, 0, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			mem, tn := newTenant(t, t0)
			if err := mem.RotateExternalID(ctx, tn, tn.RotatedWithGrace(t0, tc.grace)); err != nil {
				t.Fatal(err)
			}
			before := mem.Snapshot()
			st := tc.st
			st.Memory = mem
			done, err := rotation.SettleTenant(ctx, &st, "acme", t0.Add(time.Minute))
			if done || !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("SettleTenant = %v, %v; want false, %v", done, err, tc.wantErr)
			}
			if mem.Snapshot() != before {
				t.Fatal("a rotation that did not settle changed the store")
			}
		})
	}
}

// TestSettleReadsEveryPage: a connection on the previous ID past the first
// page of the listing still holds the rotation open.
func TestSettleReadsEveryPage(t *testing.T) {
	t0 := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	ctx := context.Background()
	p := connection.DefaultPolicy()
	st, tn := newTenant(t, t0)
	for i := range store.MaxLimit + 1 {
		a, _ := rolearn.Parse(fmt.Sprintf("arn:aws:iam::%012d:role/R", 100000000000+i), rolearn.Rules{})
		tr := p.Submit(nil, "acme", a, 1, t0)
		if i == store.MaxLimit { // the last, on the second page: verified with v1
			if err := st.Apply(ctx, tr); err != nil {
				t.Fatal(err)
			}
			c := tr.After
			tr, _ = p.Apply(c, connection.Outcome{Result: connection.ResultOK, Version: c.Version, ExternalIDVersion: 1, ExternalIDCurrent: true, CheckedAt: t0})
		}
		if err := st.Apply(ctx, tr); err != nil {
			t.Fatal(err)
		}
	}
	r := tn.RotatedWithGrace(t0.Add(time.Minute), time.Hour)
	if err := st.RotateExternalID(ctx, tn, r); err != nil {
		t.Fatal(err)
	}
	if done, err := rotation.Settle(ctx, st, r, t0.Add(2*time.Minute)); err != nil || done {
		t.Fatalf("Settle = %v, %v; want the rotation kept open by the connection on the second page", done, err)
	}
}

// racingStore applies a write between Settle's listing and its completion,
// as a concurrent verify worker does.
type racingStore struct {
	*store.Memory
	between func()
}

func (s *racingStore) ListByTenant(ctx context.Context, tenantID, cursor string, limit int) (store.Page, error) {
	p, err := s.Memory.ListByTenant(ctx, tenantID, cursor, limit)
	if s.between != nil {
		s.between()
		s.between = nil
	}
	return p, err
}

// TestSettleRacesAPreviousOnlyVerification: a PENDING connection (its role
// made with the pre-rotation ID) verifies with the previous ID alone while
// Settle lists the tenant's connections; the rotation is not completed
// ALL_CURRENT then, which would retire the ID the connection relies on
// before the grace ends. A later Settle, with the tenant read again, sees
// the connection and keeps the grace.
func TestSettleRacesAPreviousOnlyVerification(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	mem, tn := newTenant(t, t0)
	p := connection.DefaultPolicy()
	r := tn.RotatedWithGrace(t0.Add(time.Minute), 24*time.Hour)
	if err := mem.RotateExternalID(ctx, tn, r); err != nil {
		t.Fatal(err)
	}
	// A: VERIFIED with the current ID.
	a := p.Submit(nil, "acme", testarn.MustParse(t, "arn:aws:iam::111111111111:role/A"), 2, t0.Add(2*time.Minute))
	if err := mem.Apply(ctx, a); err != nil {
		t.Fatal(err)
	}
	aok, _ := p.Apply(a.After, connection.Outcome{Result: connection.ResultOK, Version: a.After.Version, ExternalIDVersion: 2, ExternalIDCurrent: true, CheckedAt: t0.Add(3 * time.Minute)})
	if err := mem.Apply(ctx, aok); err != nil {
		t.Fatal(err)
	}
	// B: PENDING, submitted before the rotation.
	b := p.Submit(nil, "acme", testarn.MustParse(t, "arn:aws:iam::222222222222:role/B"), 1, t0)
	if err := mem.Apply(ctx, b); err != nil {
		t.Fatal(err)
	}
	st := &racingStore{Memory: mem, between: func() {
		bok, err := p.Apply(b.After, connection.Outcome{Result: connection.ResultOK, Version: b.After.Version, ExternalIDVersion: 1, ExternalIDCurrent: false, CheckedAt: t0.Add(4 * time.Minute)})
		if err == nil {
			err = mem.Apply(ctx, bok)
		}
		if err != nil {
			t.Errorf("previous-only verification of B: %v", err)
		}
	}}
	for range 2 {
		done, err := rotation.SettleTenant(ctx, st, "acme", t0.Add(5*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		got, _ := mem.GetConnection(ctx, "acme", "222222222222")
		if done || !got.HoldsClaim() || got.ExternalIDCurrent {
			t.Fatalf("rotation completed %v while %s/%s is %s with only the previous ID (v%d)", done, got.TenantID, got.AccountID, got.Status, got.ExternalIDVersion)
		}
	}
	if tn, _ := mem.GetTenant(ctx, "acme"); !tn.InGrace() {
		t.Fatalf("the grace ended early: %+v", tn)
	}
}
