package onboarding

import (
	"context"
	"fmt"

	"github.com/rolecall/rolecall/internal/connection"
)

// ListTenants lists tenants in ID order. The tenants carry their secrets
// (external ID); callers that show them must leave those out.
func (s *Service) ListTenants(ctx context.Context, cursor string, limit int) (TenantPage, error) {
	p, err := page(s.Store.ListTenants(ctx, cursor, limit))
	if err != nil && AsError(err) == nil {
		return TenantPage{}, fmt.Errorf("list tenants: %w", err)
	}
	return p, err
}

// ConnectionHistory returns one connection of a tenant and its events,
// oldest first, or NOT_FOUND.
func (s *Service) ConnectionHistory(ctx context.Context, tenantID, accountID string) (connection.Connection, []connection.Event, error) {
	if _, err := s.Tenant(ctx, tenantID); err != nil {
		return connection.Connection{}, nil, err
	}
	c, err := s.Connection(ctx, tenantID, accountID)
	if err != nil {
		return connection.Connection{}, nil, err
	}
	evs, err := s.Store.Events(ctx, tenantID, accountID)
	if err != nil {
		return connection.Connection{}, nil, fmt.Errorf("events of %s/%s: %w", tenantID, accountID, err)
	}
	return c, evs, nil
}
