package httpapi

import (
	"context"
	"fmt"
	"net/http"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/onboarding"
	"github.com/rolecall/rolecall/internal/opswire"
	"github.com/rolecall/rolecall/internal/tenant"
)

// Directory is what the tenant listing and the connection history routes
// need of the onboarding service (*onboarding.Service implements it). A
// Service without it answers those routes with 404.
type Directory interface {
	ListTenants(ctx context.Context, cursor string, limit int) (onboarding.TenantPage, error)
	ConnectionHistory(ctx context.Context, tenantID, accountID string) (connection.Connection, []connection.Event, error)
}

// viewTenant is a tenant as the ops listing shows it (opswire.Tenant
// allowlists its fields: no secret).
func viewTenant(t tenant.Tenant) opswire.Tenant {
	v := opswire.Tenant{TenantID: t.ID, Name: t.Name, ExternalIDVersion: t.ExternalIDVersion, CreatedAt: t.CreatedAt, RotatedAt: t.RotatedAt,
		MaxConnections: t.MaxConnections}
	if t.InGrace() {
		v.PreviousExternalIDVersion, v.GraceEndsAt = t.PreviousExternalIDVersion, t.GraceEndsAt
	}
	return v
}

type tenantsPage struct {
	Tenants []opswire.Tenant `json:"tenants"`
	Cursor  string           `json:"cursor,omitempty"`
}

func (h *Handler) directory() (Directory, error) {
	d, ok := h.cfg.Service.(Directory)
	if !ok {
		return nil, refused(CodeNotFound, "no such route", "")
	}
	return d, nil
}

// listTenants is GET /v1/tenants?cursor=&limit=.
func (h *Handler) listTenants(w http.ResponseWriter, r *http.Request) error {
	d, err := h.directory()
	if err != nil {
		return err
	}
	return listPage(w, r, func(cursor string, limit int) (onboarding.TenantPage, error) {
		return d.ListTenants(r.Context(), cursor, limit)
	}, func(p onboarding.TenantPage) tenantsPage {
		return tenantsPage{Tenants: mapSlice(p.Items, viewTenant), Cursor: p.Cursor}
	})
}

// getTenant is GET /v1/tenants/{tenantId}.
func (h *Handler) getTenant(w http.ResponseWriter, r *http.Request) error {
	t, err := h.cfg.Service.Tenant(r.Context(), r.PathValue("tenantId"))
	return answerAs(w, http.StatusOK, t, err, viewTenant)
}

// updateTenant is PATCH /v1/tenants/{tenantId}: it sets the connection
// limit (the one setting a tenant may change) and answers the tenant as
// GET does, without its external ID.
func (h *Handler) updateTenant(w http.ResponseWriter, r *http.Request) error {
	var in opswire.UpdateTenant
	if err := decodeBody(r, &in, false); err != nil {
		return err
	}
	if in.MaxConnections == nil {
		return refused(CodeMissingField, fmt.Sprintf("maxConnections is required: the tenant's connection limit, %d to %d", tenant.MinMaxConnections, tenant.MaxMaxConnections), "maxConnections")
	}
	t, err := h.cfg.Service.SetMaxConnections(r.Context(), r.PathValue("tenantId"), *in.MaxConnections)
	return answerAs(w, http.StatusOK, t, err, viewTenant)
}

// getConnectionHistory is GET /v1/tenants/{tenantId}/connections/{accountId}:
// the connection and its events, oldest first.
func (h *Handler) getConnectionHistory(w http.ResponseWriter, r *http.Request) error {
	d, err := h.directory()
	if err != nil {
		return err
	}
	c, evs, err := d.ConnectionHistory(r.Context(), r.PathValue("tenantId"), r.PathValue("accountId"))
	if err != nil {
		return err
	}
	out := opswire.ConnectionHistory{Connection: c, Events: make([]opswire.HistoryEvent, 0, len(evs))}
	for _, e := range evs {
		out.Events = append(out.Events, opswire.HistoryEvent{DetailType: string(e.DetailType), Event: e})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
