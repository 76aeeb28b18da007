package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/onboarding"
	"github.com/rolecall/rolecall/internal/tenant"
)

// Directory is what the tenant listing and the connection history routes
// need of the onboarding service (*onboarding.Service implements it). A
// Service without it answers those routes with 404.
type Directory interface {
	ListTenants(ctx context.Context, cursor string, limit int) (onboarding.TenantPage, error)
	ConnectionHistory(ctx context.Context, tenantID, accountID string) (connection.Connection, []connection.Event, error)
}

// tenantView is a tenant as the ops listing shows it: an allowlist of
// fields that leaves out every secret (the external ID is shown only at
// creation and rotation; invite codes only when issued).
type tenantView struct {
	TenantID          string    `json:"tenantId"`
	Name              string    `json:"name"`
	ExternalIDVersion int       `json:"externalIdVersion"`
	CreatedAt         time.Time `json:"createdAt"`
	RotatedAt         time.Time `json:"rotatedAt,omitzero"`
	MaxConnections    int       `json:"maxConnections"`
	// During a rotation's grace: the version of the previous external ID
	// (never the ID) and when it stops being accepted.
	PreviousExternalIDVersion int       `json:"previousExternalIdVersion,omitempty"`
	GraceEndsAt               time.Time `json:"graceEndsAt,omitzero"`
}

func viewTenant(t tenant.Tenant) tenantView {
	v := tenantView{TenantID: t.ID, Name: t.Name, ExternalIDVersion: t.ExternalIDVersion, CreatedAt: t.CreatedAt, RotatedAt: t.RotatedAt,
		MaxConnections: t.MaxConnections}
	if t.InGrace() {
		v.PreviousExternalIDVersion, v.GraceEndsAt = t.PreviousExternalIDVersion, t.GraceEndsAt
	}
	return v
}

type tenantsPage struct {
	Tenants []tenantView `json:"tenants"`
	Cursor  string       `json:"cursor,omitempty"`
}

// eventView is a history entry: the event's detail and its detail-type.
type eventView struct {
	DetailType string `json:"detailType"`
	connection.Event
}

// MarshalJSON renders the detail-type beside the event's detail (the
// event's own MarshalJSON, promoted, would leave it out).
func (v eventView) MarshalJSON() ([]byte, error) {
	detail, err := json.Marshal(v.Event)
	if err != nil {
		return nil, err
	}
	dt, err := json.Marshal(v.DetailType)
	if err != nil {
		return nil, err
	}
	if len(detail) < 2 || detail[0] != '{' {
		return nil, fmt.Errorf("event %s: detail is not an object", v.EventID)
	}
	out := append([]byte(`{"detailType":`), dt...)
	if len(detail) > 2 {
		out = append(out, ',')
	}
	return append(out, detail[1:]...), nil
}

type connectionHistory struct {
	Connection connection.Connection `json:"connection"`
	Events     []eventView           `json:"events"`
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
	return answer(w, http.StatusOK, viewTenant(t), err)
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
	out := connectionHistory{Connection: c, Events: make([]eventView, 0, len(evs))}
	for _, e := range evs {
		out.Events = append(out.Events, eventView{DetailType: string(e.DetailType), Event: e})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
