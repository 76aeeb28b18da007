package opsapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/opswire"
)

// Tenant is a tenant as the API shows it: the listing's fields, and the
// external ID, which only the answers of creation and rotation carry.
type Tenant struct {
	opswire.Tenant
	ExternalID string `json:"externalId,omitempty"`
}

// The documents the server writes as the ops routes' answers.
type (
	// InviteCreated is the answer to an invite creation: the code is
	// shown once.
	InviteCreated = opswire.InviteCreated
	// Invite is an invite as listed: never its code.
	Invite = opswire.Invite
	// ConnectionHistory is a connection with its events, oldest first.
	ConnectionHistory = opswire.ConnectionHistory
)

// Envelope is an event as the bus carries it (GET /v1/events, and the
// messages of the stack's events log group).
type Envelope struct {
	ID         string           `json:"id"`
	DetailType string           `json:"detail-type"`
	Source     string           `json:"source"`
	Time       time.Time        `json:"time"`
	Detail     connection.Event `json:"detail"`
}

// decode unmarshals raw into v, naming what it decoded on failure.
func decode[T any](raw json.RawMessage, what string) (T, error) {
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		return v, fmt.Errorf("opsapi: decode %s: %w", what, err)
	}
	return v, nil
}

// call sends one request (see Client.Do) and decodes its answer as a T
// (named what in errors); it returns the answer as it came too.
func call[T any](ctx context.Context, c *Client, method, path string, in any, what string) (T, json.RawMessage, error) {
	raw, err := c.Do(ctx, method, path, nil, in)
	if err != nil {
		var zero T
		return zero, nil, err
	}
	v, err := decode[T](raw, what)
	return v, raw, err
}

// CreateTenant is POST /v1/tenants. maxConnections 0 leaves the
// deployment's default.
func (c *Client) CreateTenant(ctx context.Context, id, name string, maxConnections int) (Tenant, json.RawMessage, error) {
	in := opswire.CreateTenant{TenantID: id, Name: name}
	if maxConnections != 0 {
		in.MaxConnections = &maxConnections
	}
	return call[Tenant](ctx, c, "POST", "/v1/tenants", in, "tenant")
}

// Tenants walks GET /v1/tenants to the end.
func (c *Client) Tenants(ctx context.Context) ([]Tenant, []json.RawMessage, error) {
	return list[Tenant](ctx, c, "/v1/tenants", url.Values{"limit": {pageSize}}, "tenants", "tenant")
}

// Tenant is GET /v1/tenants/{id}.
func (c *Client) Tenant(ctx context.Context, id string) (Tenant, json.RawMessage, error) {
	return call[Tenant](ctx, c, "GET", "/v1/tenants/"+seg(id), nil, "tenant")
}

// SetMaxConnections is PATCH /v1/tenants/{id}: the tenant's connection
// limit. The answer, as GET's, carries no external ID.
func (c *Client) SetMaxConnections(ctx context.Context, id string, maxConnections int) (Tenant, json.RawMessage, error) {
	return call[Tenant](ctx, c, "PATCH", "/v1/tenants/"+seg(id), opswire.UpdateTenant{MaxConnections: &maxConnections}, "tenant")
}

// CreateInvite is POST /v1/tenants/{id}/invites; ttl 0 leaves the
// deployment's default.
func (c *Client) CreateInvite(ctx context.Context, tenantID string, ttl time.Duration) (InviteCreated, json.RawMessage, error) {
	var in any // no body: the deployment's default
	if ttl > 0 {
		n := int64(ttl / time.Second)
		in = opswire.CreateInvite{TTLSeconds: &n}
	}
	return call[InviteCreated](ctx, c, "POST", "/v1/tenants/"+seg(tenantID)+"/invites", in, "invite")
}

// Invites is GET /v1/tenants/{id}/invites: its {"invites": [...],
// "cursor"} pages, followed to the end.
func (c *Client) Invites(ctx context.Context, tenantID string) ([]Invite, []json.RawMessage, error) {
	return list[Invite](ctx, c, "/v1/tenants/"+seg(tenantID)+"/invites", nil, "invites", "invite")
}

// RevokeInvite is DELETE /v1/tenants/{id}/invites/{inviteId}.
func (c *Client) RevokeInvite(ctx context.Context, tenantID, inviteID string) (json.RawMessage, error) {
	return c.Do(ctx, "DELETE", "/v1/tenants/"+seg(tenantID)+"/invites/"+seg(inviteID), nil, nil)
}

// Rotate is POST /v1/tenants/{id}/external-id/rotate. grace < 0 leaves the
// deployment's default; the API takes whole seconds, so a grace of a
// fraction of one is refused rather than cut (a grace under a second
// would be sent as 0, which retires the previous ID at once).
func (c *Client) Rotate(ctx context.Context, tenantID string, grace time.Duration, revokeInvites bool) (Tenant, json.RawMessage, error) {
	in := opswire.Rotate{RevokeInvites: revokeInvites}
	if grace >= 0 && grace%time.Second != 0 {
		return Tenant{}, nil, fmt.Errorf("rotate %s: a grace of %s is not a whole number of seconds", tenantID, grace)
	}
	if grace >= 0 {
		n := int64(grace / time.Second)
		in.GraceSeconds = &n
	}
	var body any // no body when every option is the default
	if in != (opswire.Rotate{}) {
		body = in
	}
	return call[Tenant](ctx, c, "POST", "/v1/tenants/"+seg(tenantID)+"/external-id/rotate", body, "tenant")
}

// Connections walks one listing to the end: a tenant's connections
// (tenantID set) or one status's (tenantID "").
func (c *Client) Connections(ctx context.Context, tenantID string, status connection.Status) ([]connection.Connection, []json.RawMessage, error) {
	path, q := "/v1/connections", url.Values{"status": {string(status)}, "limit": {pageSize}}
	if tenantID != "" {
		path, q = "/v1/tenants/"+seg(tenantID)+"/connections", url.Values{"limit": {pageSize}}
	}
	return list[connection.Connection](ctx, c, path, q, "connections", "connection")
}

// History is GET /v1/tenants/{id}/connections/{accountId}.
func (c *Client) History(ctx context.Context, tenantID, accountID string) (ConnectionHistory, json.RawMessage, error) {
	return call[ConnectionHistory](ctx, c, "GET", "/v1/tenants/"+seg(tenantID)+"/connections/"+seg(accountID), nil, "connection history")
}

// Check is POST /v1/tenants/{id}/connections/{accountId}/check: the
// connection as it was when the check was queued.
func (c *Client) Check(ctx context.Context, tenantID, accountID string) (connection.Connection, json.RawMessage, error) {
	return call[connection.Connection](ctx, c, "POST", "/v1/tenants/"+seg(tenantID)+"/connections/"+seg(accountID)+"/check", nil, "connection")
}

// Disconnect is DELETE /v1/tenants/{id}/connections/{accountId}.
func (c *Client) Disconnect(ctx context.Context, tenantID, accountID string) (connection.Connection, json.RawMessage, error) {
	return call[connection.Connection](ctx, c, "DELETE", "/v1/tenants/"+seg(tenantID)+"/connections/"+seg(accountID), nil, "connection")
}

// Events is GET /v1/events?after=&limit= (rolecall serve).
func (c *Client) Events(ctx context.Context, after string, limit int) ([]Envelope, []json.RawMessage, error) {
	q := url.Values{"limit": {strconv.Itoa(limit)}}
	if after != "" {
		q.Set("after", after)
	}
	raw, err := c.Do(ctx, "GET", "/v1/events", q, nil)
	if err != nil {
		return nil, nil, err
	}
	items, _, err := page(raw, "events")
	if err != nil {
		return nil, nil, err
	}
	out, err := decodeItems[Envelope](items, "event")
	if err != nil {
		return nil, nil, err
	}
	return out, items, nil
}

// Sweep is POST /v1/sweeps: how many checks it queued.
func (c *Client) Sweep(ctx context.Context, all bool) (int, json.RawMessage, error) {
	r, raw, err := call[opswire.SweepResult](ctx, c, "POST", "/v1/sweeps", opswire.Sweep{All: all}, "sweep")
	return r.Enqueued, raw, err
}

// page splits one page of a listing into its items (under key) and its
// cursor ("" on the last page). Every listing of the API is an object
// ({key: [...], "cursor": ...}); anything else is refused.
func page(raw json.RawMessage, key string) ([]json.RawMessage, string, error) {
	p, err := decode[map[string]json.RawMessage](raw, key)
	if err != nil {
		return nil, "", err
	}
	var items []json.RawMessage
	if v, ok := p[key]; ok {
		if items, err = decode[[]json.RawMessage](v, key); err != nil {
			return nil, "", err
		}
	}
	cursor := ""
	if v, ok := p["cursor"]; ok {
		if cursor, err = decode[string](v, key+" cursor"); err != nil {
			return nil, "", err
		}
	}
	return items, cursor, nil
}

// decodeItems decodes each item as a T (named what in errors).
func decodeItems[T any](items []json.RawMessage, what string) ([]T, error) {
	out := make([]T, 0, len(items))
	for _, r := range items {
		v, err := decode[T](r, what)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// list walks a listing to the end (its items under key) and decodes
// every item as a T; it returns the items as they came too.
func list[T any](ctx context.Context, c *Client, path string, q url.Values, key, what string) ([]T, []json.RawMessage, error) {
	var out []T
	var raws []json.RawMessage
	err := c.api.Walk(ctx, path, q, func(raw json.RawMessage) (string, error) {
		items, cursor, err := page(raw, key)
		if err != nil {
			return "", err
		}
		vs, err := decodeItems[T](items, what)
		if err != nil {
			return "", err
		}
		out, raws = append(out, vs...), append(raws, items...)
		return cursor, nil
	})
	return out, raws, err
}

// pageSize is the page size of the listings the client walks.
const pageSize = "500"
