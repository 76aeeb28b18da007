package httpapi

import (
	"fmt"
	"net/http"

	"github.com/rolecall/rolecall/internal/onboarding"
	"github.com/rolecall/rolecall/internal/opswire"
	"github.com/rolecall/rolecall/internal/tenant"
)

// Invite routes (operations):
//
//	POST   /v1/tenants/{tenantId}/invites             {"ttlSeconds": N} (optional body) → 201 opswire.InviteCreated
//	GET    /v1/tenants/{tenantId}/invites?cursor=&limit= → 200 {"invites": [opswire.Invite], "cursor"}
//	DELETE /v1/tenants/{tenantId}/invites/{inviteId}  → 200 opswire.Invite (revoked)
//
// A code is shown only in the answer that creates it; listings and
// revocations show the invite's public ID, never the code or its hash.

type invitesPage struct {
	Invites []opswire.Invite `json:"invites"`
	Cursor  string           `json:"cursor,omitempty"`
}

func summaryOf(inv tenant.Invite) opswire.Invite {
	return opswire.Invite{InviteID: inv.ID, CreatedAt: inv.CreatedAt, ExpiresAt: inv.ExpiresAt, Revoked: inv.Revoked}
}

func (h *Handler) createInvite(w http.ResponseWriter, r *http.Request) error {
	var in opswire.CreateInvite
	if err := decodeBody(r, &in, true); err != nil {
		return err
	}
	code, inv, err := h.cfg.Service.CreateInviteWith(r.Context(), r.PathValue("tenantId"), onboarding.InviteOptions{TTLSeconds: in.TTLSeconds})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, opswire.InviteCreated{InviteID: inv.ID, TenantID: inv.TenantID, Code: code,
		URL: h.baseURL(r) + "/connect?invite=" + code, CreatedAt: inv.CreatedAt, ExpiresAt: inv.ExpiresAt})
	return nil
}

func (h *Handler) listInvites(w http.ResponseWriter, r *http.Request) error {
	return listPage(w, r, func(cursor string, limit int) (onboarding.InvitePage, error) {
		return h.cfg.Service.ListInvites(r.Context(), r.PathValue("tenantId"), cursor, limit)
	}, func(p onboarding.InvitePage) invitesPage {
		return invitesPage{Invites: mapSlice(p.Items, summaryOf), Cursor: p.Cursor}
	})
}

func (h *Handler) revokeInvite(w http.ResponseWriter, r *http.Request) error {
	inv, err := h.cfg.Service.RevokeInvite(r.Context(), r.PathValue("tenantId"), r.PathValue("inviteId"))
	return answerAs(w, http.StatusOK, inv, err, summaryOf)
}

// revokeAllInvites is the rotation's "revokeInvites": true. It runs before
// the rotation, so no invite it revokes is ever shown the new external ID
// (the invite view shows the tenant's current one). Should it fail, nothing
// is rotated, the answer is an error, and the request can be sent again:
// the invites revoked stay revoked.
func (h *Handler) revokeAllInvites(r *http.Request, tenantID string) error {
	n, err := h.cfg.Service.RevokeInvites(r.Context(), tenantID)
	if err != nil {
		return fmt.Errorf("revoke the invites of %s before rotating (%d revoked): %w", tenantID, n, err)
	}
	return nil
}
