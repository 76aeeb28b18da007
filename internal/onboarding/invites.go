package onboarding

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rolecall/rolecall/internal/store"
	"github.com/rolecall/rolecall/internal/tenant"
)

// InviteOptions are a new invite's optional settings.
type InviteOptions struct {
	// TTLSeconds is how long the invite is valid (Service.InviteTTL, by
	// default tenant.DefaultInviteTTL, when nil; 1 hour to 30 days).
	TTLSeconds *int64
}

// CreateInviteWith issues an invite for a tenant with the given options,
// validated before anything is stored. The code is returned once.
func (s *Service) CreateInviteWith(ctx context.Context, tenantID string, opts InviteOptions) (string, tenant.Invite, error) {
	ttl := s.InviteTTL
	if opts.TTLSeconds != nil {
		if err := tenant.ValidateInviteTTL(*opts.TTLSeconds); err != nil {
			return "", tenant.Invite{}, err
		}
		ttl = time.Duration(*opts.TTLSeconds) * time.Second
	}
	if _, err := s.Tenant(ctx, tenantID); err != nil {
		return "", tenant.Invite{}, err
	}
	code, inv := tenant.NewInvite(tenantID, s.now(), ttl)
	if err := s.Store.PutInvite(ctx, inv); err != nil {
		return "", tenant.Invite{}, fmt.Errorf("put invite for %s: %w", tenantID, err)
	}
	return code, inv, nil
}

// ListInvites lists a tenant's invites, oldest first.
func (s *Service) ListInvites(ctx context.Context, tenantID, cursor string, limit int) (InvitePage, error) {
	if _, err := s.Tenant(ctx, tenantID); err != nil {
		return InvitePage{}, err
	}
	return page(s.Store.ListInvites(ctx, tenantID, cursor, limit))
}

// RevokeInvite revokes one invite of a tenant: its code is refused from
// then on. Revoking a revoked invite changes nothing.
func (s *Service) RevokeInvite(ctx context.Context, tenantID, inviteID string) (tenant.Invite, error) {
	if _, err := s.Tenant(ctx, tenantID); err != nil {
		return tenant.Invite{}, err
	}
	if err := tenant.ValidateInviteID(inviteID); err != nil {
		return tenant.Invite{}, err
	}
	inv, err := s.Store.RevokeInvite(ctx, tenantID, inviteID)
	if errors.Is(err, store.ErrNotFound) {
		return tenant.Invite{}, &Error{Code: CodeNotFound, Field: "inviteId", Message: fmt.Sprintf("tenant %q has no invite %s", tenantID, inviteID), Err: err}
	}
	if err != nil {
		return tenant.Invite{}, fmt.Errorf("revoke invite %s of %s: %w", inviteID, tenantID, err)
	}
	return inv, nil
}

// RevokeInvites revokes every invite of a tenant that is not revoked yet
// and returns how many it revoked. It is not one transaction: after an
// error some may be revoked; calling it again revokes the rest.
func (s *Service) RevokeInvites(ctx context.Context, tenantID string) (int, error) {
	if _, err := s.Tenant(ctx, tenantID); err != nil {
		return 0, err
	}
	n, cursor := 0, ""
	for {
		p, err := s.Store.ListInvites(ctx, tenantID, cursor, MaxLimit)
		if err != nil {
			return n, fmt.Errorf("revoke invites of %s: %w", tenantID, err)
		}
		for _, inv := range p.Items {
			if inv.Revoked {
				continue
			}
			if _, err := s.Store.RevokeInvite(ctx, tenantID, inv.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
				return n, fmt.Errorf("revoke invites of %s: %w", tenantID, err)
			}
			n++
		}
		if p.Cursor == "" {
			return n, nil
		}
		cursor = p.Cursor
	}
}
