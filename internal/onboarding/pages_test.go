package onboarding_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/rolecall/rolecall/internal/onboarding"
	"github.com/rolecall/rolecall/internal/store"
	"github.com/rolecall/rolecall/internal/tenant"
)

// TestRefusalsMatchTheSentinels: the refusals the service makes of the
// store's errors match onboarding's sentinels with errors.Is (and still the
// store's), so a caller maps them without importing the store.
func TestRefusalsMatchTheSentinels(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.tenant(t, "acme")
	for _, tt := range []struct {
		name     string
		call     func() error
		sentinel error
		storeErr error
		code     string
	}{
		{"unknown tenant", func() error { _, err := f.svc.Tenant(ctx, "nobody"); return err }, onboarding.ErrNotFound, store.ErrNotFound, onboarding.CodeNotFound},
		{"unknown connection", func() error { _, err := f.svc.Connection(ctx, "acme", custAccount); return err }, onboarding.ErrNotFound, store.ErrNotFound, onboarding.CodeNotFound},
		{"tenant exists", func() error { _, err := f.svc.CreateTenant(ctx, "acme", "Again"); return err }, onboarding.ErrTenantExists, store.ErrTenantExists, onboarding.CodeTenantExists},
		{"cursor not returned by the API", func() error { _, err := f.svc.ListByTenant(ctx, "acme", "not a cursor!", 10); return err }, onboarding.ErrInvalidCursor, store.ErrInvalidCursor, onboarding.CodeInvalidCursor},
		{"cursor of another listing", func() error {
			if _, err := f.svc.Submit(ctx, f.tenant(t, "bravo"), roleARN); err != nil {
				return err
			}
			f.tenant(t, "charlie")
			p, err := f.svc.ListTenants(ctx, "", 1)
			if err != nil || p.Cursor == "" {
				return fmt.Errorf("list tenants: %+v, %v", p, err)
			}
			_, err = f.svc.ListByStatus(ctx, "PENDING", p.Cursor, 10)
			return err
		}, onboarding.ErrInvalidCursor, store.ErrInvalidCursor, onboarding.CodeInvalidCursor},
		{"concurrent rotation", func() error {
			f.hooks.rotate = func(tenant.Tenant) error { return fmt.Errorf("rotate: %w", store.ErrConflict) }
			defer func() { f.hooks.rotate = nil }()
			_, err := f.svc.RotateExternalID(ctx, "acme", onboarding.RotateOptions{})
			return err
		}, onboarding.ErrConflict, store.ErrConflict, onboarding.CodeConflict},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if !errors.Is(err, tt.sentinel) || !errors.Is(err, tt.storeErr) {
				t.Fatalf("%v: errors.Is %v = %t, want true", err, tt.sentinel, errors.Is(err, tt.sentinel))
			}
			if e := onboarding.AsError(err); e == nil || e.Code != tt.code {
				t.Fatalf("%v: refusal %+v, want %s", err, e, tt.code)
			}
		})
	}
}
