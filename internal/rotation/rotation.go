// Package rotation completes external-ID rotations: a tenant's previous
// external ID is retired (and the External ID Rotation Completed event
// written) as soon as every connection that holds a role claim has verified
// with the current ID, or when the grace period ends, whichever comes
// first. Retired IDs are never accepted again.
package rotation

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/store"
	"github.com/rolecall/rolecall/internal/tenant"
)

// Store is what settling a rotation needs of the store.
type Store interface {
	GetTenant(ctx context.Context, id string) (tenant.Tenant, error)
	ListByTenant(ctx context.Context, tenantID, cursor string, limit int) (store.Page, error)
	CompleteRotation(ctx context.Context, t tenant.Tenant, completion string, at time.Time) error
}

// Settle completes the rotation of tenant t (as read) if it is due at now:
// at once when the grace has ended (connection.CompletionGraceEnded), else
// when no connection that holds a claim still relies on the previous ID
// (connection.CompletionAllCurrent, which reads the tenant's connections).
// It reports whether it completed the rotation; a rotation completed or
// superseded concurrently is not an error.
func Settle(ctx context.Context, st Store, t tenant.Tenant, now time.Time) (bool, error) {
	if !t.InGrace() {
		return false, nil
	}
	completion := connection.CompletionGraceEnded
	if t.PreviousAccepted(now) {
		current, err := allCurrent(ctx, st, t)
		if err != nil || !current {
			return false, err
		}
		completion = connection.CompletionAllCurrent
	}
	err := st.CompleteRotation(ctx, t, completion, now)
	switch {
	case errors.Is(err, store.ErrConflict):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("complete rotation of %s: %w", t.ID, err)
	}
	return true, nil
}

// SettleTenant reads the tenant, then Settle.
func SettleTenant(ctx context.Context, st Store, tenantID string, now time.Time) (bool, error) {
	t, err := st.GetTenant(ctx, tenantID)
	if err != nil {
		return false, fmt.Errorf("read tenant %s: %w", tenantID, err)
	}
	return Settle(ctx, st, t, now)
}

// allCurrent reports whether every connection of t that holds a claim
// verified with t's current external ID. It stops at the first one that
// does not.
func allCurrent(ctx context.Context, st Store, t tenant.Tenant) (bool, error) {
	cursor := ""
	for {
		p, err := st.ListByTenant(ctx, t.ID, cursor, store.MaxLimit)
		if err != nil {
			return false, fmt.Errorf("list connections of %s: %w", t.ID, err)
		}
		for _, c := range p.Items {
			if c.HoldsClaim() && (c.ExternalIDVersion != t.ExternalIDVersion || !c.ExternalIDCurrent) {
				return false, nil
			}
		}
		if p.Cursor == "" {
			return true, nil
		}
		cursor = p.Cursor
	}
}
