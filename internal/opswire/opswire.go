// Package opswire defines the JSON documents of RoleCall's operations API
// that its server (httpapi) writes and its client (opsapi) reads, once, so
// that a field added to one side cannot silently be missing from the
// other. The documents a partner workload reads (a connection's role and
// external ID) are the public access package's, not this package's.
// Outside it still: the answers of a tenant's creation and rotation (the
// domain tenant.Tenant, the one place its external IDs are shown), the
// list pages' wrappers, and opsapi's event envelope.
//
// Field names and omitempty/omitzero are the API's wire format: changing
// one breaks deployed clients.
package opswire

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/rolecall/rolecall/internal/connection"
)

// Tenant is a tenant as the ops listing and GET /v1/tenants/{id} show it:
// an allowlist of fields that leaves out every secret (the external ID is
// shown only in the answers of creation and rotation; invite codes only
// when issued).
type Tenant struct {
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

// CreateTenant is the body of POST /v1/tenants.
type CreateTenant struct {
	TenantID string `json:"tenantId"`
	Name     string `json:"name"`
	// MaxConnections is optional (default 100, 1 to 10,000).
	MaxConnections *int `json:"maxConnections,omitempty"`
}

// UpdateTenant is the body of PATCH /v1/tenants/{id}: the tenant's new
// connection limit (required, 1 to 10,000). A limit below the tenant's
// live connections disconnects none; it refuses new ones until enough are
// disconnected.
type UpdateTenant struct {
	MaxConnections *int `json:"maxConnections"`
}

// Rotate is the optional body of POST /v1/tenants/{id}/external-id/rotate:
// how long the previous external ID stays accepted (default 7 days; 0
// revokes it now), and whether to revoke every invite of the tenant
// before the rotation, so that links that may have leaked stop working and
// are never shown the new external ID.
type Rotate struct {
	GraceSeconds  *int64 `json:"graceSeconds,omitempty"`
	RevokeInvites bool   `json:"revokeInvites,omitempty"`
}

// CreateInvite is the optional body of POST /v1/tenants/{id}/invites.
type CreateInvite struct {
	// TTLSeconds is optional (default 7 days, 3600 to 2592000).
	TTLSeconds *int64 `json:"ttlSeconds,omitempty"`
}

// InviteCreated is the answer to an invite's creation: the only answer
// that shows its code.
type InviteCreated struct {
	InviteID  string    `json:"inviteId"`
	TenantID  string    `json:"tenantId"`
	Code      string    `json:"code"`
	URL       string    `json:"url"`
	CreatedAt time.Time `json:"createdAt"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// Invite is an invite as listings and revocations show it: its public ID,
// never its code or the code's hash.
type Invite struct {
	InviteID  string    `json:"inviteId"`
	CreatedAt time.Time `json:"createdAt"`
	ExpiresAt time.Time `json:"expiresAt"`
	Revoked   bool      `json:"revoked"`
}

// HistoryEvent is one entry of a connection's history: the event's detail
// and its detail-type.
type HistoryEvent struct {
	DetailType string `json:"detailType"`
	connection.Event
}

// MarshalJSON renders the detail-type beside the event's detail (the
// event's own MarshalJSON, promoted, would leave it out). Decoding needs
// no counterpart: the event has no UnmarshalJSON of its own.
func (v HistoryEvent) MarshalJSON() ([]byte, error) {
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

// ConnectionHistory is GET /v1/tenants/{id}/connections/{accountId}: a
// connection and its events, oldest first.
type ConnectionHistory struct {
	Connection connection.Connection `json:"connection"`
	Events     []HistoryEvent        `json:"events"`
}

// Sweep is the optional body of POST /v1/sweeps (rolecall serve): all
// queues a check of every live connection, not only of those due.
type Sweep struct {
	All bool `json:"all"`
}

// SweepResult is the answer of POST /v1/sweeps: how many checks it queued.
type SweepResult struct {
	Enqueued int `json:"enqueued"`
}
