package opsapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/rolecall/rolecall/internal/connection"
)

// Tenant is a tenant as the API shows it. ExternalID is set only in the
// answers of creation and rotation.
type Tenant struct {
	TenantID          string    `json:"tenantId"`
	Name              string    `json:"name"`
	ExternalID        string    `json:"externalId,omitempty"`
	ExternalIDVersion int       `json:"externalIdVersion"`
	CreatedAt         time.Time `json:"createdAt"`
	RotatedAt         time.Time `json:"rotatedAt,omitzero"`
}

// InviteCreated is the answer to an invite creation: the code is shown
// once.
type InviteCreated struct {
	InviteID  string    `json:"inviteId,omitempty"`
	TenantID  string    `json:"tenantId,omitempty"`
	Code      string    `json:"code"`
	URL       string    `json:"url,omitempty"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// Invite is an invite as listed: never its code.
type Invite struct {
	InviteID  string    `json:"inviteId"`
	CreatedAt time.Time `json:"createdAt"`
	ExpiresAt time.Time `json:"expiresAt"`
	Revoked   bool      `json:"revoked"`
}

// HistoryEvent is one entry of a connection's history.
type HistoryEvent struct {
	DetailType string `json:"detailType"`
	connection.Event
}

// ConnectionHistory is a connection with its events, oldest first.
type ConnectionHistory struct {
	Connection connection.Connection `json:"connection"`
	Events     []HistoryEvent        `json:"events"`
}

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

// CreateTenant is POST /v1/tenants. maxConnections 0 leaves the
// deployment's default.
func (c *Client) CreateTenant(ctx context.Context, id, name string, maxConnections int) (Tenant, json.RawMessage, error) {
	in := struct {
		TenantID       string `json:"tenantId"`
		Name           string `json:"name"`
		MaxConnections int    `json:"maxConnections,omitempty"`
	}{id, name, maxConnections}
	raw, err := c.Do(ctx, "POST", "/v1/tenants", nil, in)
	if err != nil {
		return Tenant{}, nil, err
	}
	t, err := decode[Tenant](raw, "tenant")
	return t, raw, err
}

// Tenants walks GET /v1/tenants to the end.
func (c *Client) Tenants(ctx context.Context) ([]Tenant, []json.RawMessage, error) {
	var ts []Tenant
	var raws []json.RawMessage
	err := c.walk(ctx, "/v1/tenants", url.Values{"limit": {pageSize}}, func(raw json.RawMessage) (string, error) {
		p, err := decode[struct {
			Tenants []json.RawMessage `json:"tenants"`
			Cursor  string            `json:"cursor"`
		}](raw, "tenants")
		if err != nil {
			return "", err
		}
		for _, r := range p.Tenants {
			t, err := decode[Tenant](r, "tenant")
			if err != nil {
				return "", err
			}
			ts, raws = append(ts, t), append(raws, r)
		}
		return p.Cursor, nil
	})
	return ts, raws, err
}

// Tenant is GET /v1/tenants/{id}.
func (c *Client) Tenant(ctx context.Context, id string) (Tenant, json.RawMessage, error) {
	raw, err := c.Do(ctx, "GET", "/v1/tenants/"+Seg(id), nil, nil)
	if err != nil {
		return Tenant{}, nil, err
	}
	t, err := decode[Tenant](raw, "tenant")
	return t, raw, err
}

// CreateInvite is POST /v1/tenants/{id}/invites; ttl 0 leaves the
// deployment's default.
func (c *Client) CreateInvite(ctx context.Context, tenantID string, ttl time.Duration) (InviteCreated, json.RawMessage, error) {
	var in any
	if ttl > 0 {
		in = struct {
			TTLSeconds int64 `json:"ttlSeconds"`
		}{int64(ttl / time.Second)}
	}
	raw, err := c.Do(ctx, "POST", "/v1/tenants/"+Seg(tenantID)+"/invites", nil, in)
	if err != nil {
		return InviteCreated{}, nil, err
	}
	v, err := decode[InviteCreated](raw, "invite")
	return v, raw, err
}

// Invites is GET /v1/tenants/{id}/invites. It accepts a bare array and
// an {"invites": [...], "cursor"} page (followed to the end).
func (c *Client) Invites(ctx context.Context, tenantID string) ([]Invite, []json.RawMessage, error) {
	var out []Invite
	var raws []json.RawMessage
	err := c.walk(ctx, "/v1/tenants/"+Seg(tenantID)+"/invites", nil, func(raw json.RawMessage) (string, error) {
		var items []json.RawMessage
		cursor := ""
		if t := bytes.TrimSpace(raw); len(t) > 0 && t[0] == '[' {
			v, err := decode[[]json.RawMessage](raw, "invites")
			if err != nil {
				return "", err
			}
			items = v
		} else {
			p, err := decode[struct {
				Invites []json.RawMessage `json:"invites"`
				Cursor  string            `json:"cursor"`
			}](raw, "invites")
			if err != nil {
				return "", err
			}
			items, cursor = p.Invites, p.Cursor
		}
		for _, r := range items {
			inv, err := decode[Invite](r, "invite")
			if err != nil {
				return "", err
			}
			out, raws = append(out, inv), append(raws, r)
		}
		return cursor, nil
	})
	return out, raws, err
}

// RevokeInvite is DELETE /v1/tenants/{id}/invites/{inviteId}.
func (c *Client) RevokeInvite(ctx context.Context, tenantID, inviteID string) (json.RawMessage, error) {
	return c.Do(ctx, "DELETE", "/v1/tenants/"+Seg(tenantID)+"/invites/"+Seg(inviteID), nil, nil)
}

// Rotate is POST /v1/tenants/{id}/external-id/rotate. grace < 0 leaves the
// deployment's default.
func (c *Client) Rotate(ctx context.Context, tenantID string, grace time.Duration, revokeInvites bool) (Tenant, json.RawMessage, error) {
	in := map[string]any{}
	if grace >= 0 {
		in["graceSeconds"] = int64(grace / time.Second)
	}
	if revokeInvites {
		in["revokeInvites"] = true
	}
	var body any
	if len(in) > 0 {
		body = in
	}
	raw, err := c.Do(ctx, "POST", "/v1/tenants/"+Seg(tenantID)+"/external-id/rotate", nil, body)
	if err != nil {
		return Tenant{}, nil, err
	}
	t, err := decode[Tenant](raw, "tenant")
	return t, raw, err
}

// Connections walks one listing to the end: a tenant's connections
// (tenantID set) or one status's (tenantID "").
func (c *Client) Connections(ctx context.Context, tenantID string, status connection.Status) ([]connection.Connection, []json.RawMessage, error) {
	path, q := "/v1/connections", url.Values{"status": {string(status)}, "limit": {pageSize}}
	if tenantID != "" {
		path, q = "/v1/tenants/"+Seg(tenantID)+"/connections", url.Values{"limit": {pageSize}}
	}
	var out []connection.Connection
	var raws []json.RawMessage
	err := c.walk(ctx, path, q, func(raw json.RawMessage) (string, error) {
		p, err := decode[struct {
			Connections []json.RawMessage `json:"connections"`
			Cursor      string            `json:"cursor"`
		}](raw, "connections")
		if err != nil {
			return "", err
		}
		for _, r := range p.Connections {
			cn, err := decode[connection.Connection](r, "connection")
			if err != nil {
				return "", err
			}
			out, raws = append(out, cn), append(raws, r)
		}
		return p.Cursor, nil
	})
	return out, raws, err
}

// History is GET /v1/tenants/{id}/connections/{accountId}.
func (c *Client) History(ctx context.Context, tenantID, accountID string) (ConnectionHistory, json.RawMessage, error) {
	raw, err := c.Do(ctx, "GET", "/v1/tenants/"+Seg(tenantID)+"/connections/"+Seg(accountID), nil, nil)
	if err != nil {
		return ConnectionHistory{}, nil, err
	}
	h, err := decode[ConnectionHistory](raw, "connection history")
	return h, raw, err
}

// Check is POST /v1/tenants/{id}/connections/{accountId}/check: the
// connection as it was when the check was queued.
func (c *Client) Check(ctx context.Context, tenantID, accountID string) (connection.Connection, json.RawMessage, error) {
	raw, err := c.Do(ctx, "POST", "/v1/tenants/"+Seg(tenantID)+"/connections/"+Seg(accountID)+"/check", nil, nil)
	if err != nil {
		return connection.Connection{}, nil, err
	}
	cn, err := decode[connection.Connection](raw, "connection")
	return cn, raw, err
}

// Disconnect is DELETE /v1/tenants/{id}/connections/{accountId}.
func (c *Client) Disconnect(ctx context.Context, tenantID, accountID string) (connection.Connection, json.RawMessage, error) {
	raw, err := c.Do(ctx, "DELETE", "/v1/tenants/"+Seg(tenantID)+"/connections/"+Seg(accountID), nil, nil)
	if err != nil {
		return connection.Connection{}, nil, err
	}
	cn, err := decode[connection.Connection](raw, "connection")
	return cn, raw, err
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
	p, err := decode[struct {
		Events []json.RawMessage `json:"events"`
	}](raw, "events")
	if err != nil {
		return nil, nil, err
	}
	out := make([]Envelope, 0, len(p.Events))
	for _, r := range p.Events {
		e, err := decode[Envelope](r, "event")
		if err != nil {
			return nil, nil, err
		}
		out = append(out, e)
	}
	return out, p.Events, nil
}

// Sweep is POST /v1/sweeps: how many checks it queued.
func (c *Client) Sweep(ctx context.Context, all bool) (int, json.RawMessage, error) {
	raw, err := c.Do(ctx, "POST", "/v1/sweeps", nil, map[string]bool{"all": all})
	if err != nil {
		return 0, nil, err
	}
	r, err := decode[struct {
		Enqueued int `json:"enqueued"`
	}](raw, "sweep")
	return r.Enqueued, raw, err
}

// pageSize is the page size of the listings the client walks.
const pageSize = "500"

// maxPages bounds a walk, so a server that keeps answering with a cursor
// cannot keep the client busy for ever.
const maxPages = 10000

// walk follows cursors: page handles one page and returns its cursor.
func (c *Client) walk(ctx context.Context, path string, q url.Values, page func(json.RawMessage) (string, error)) error {
	seen := map[string]bool{}
	cursor := ""
	for range maxPages {
		qq := url.Values{}
		for k, v := range q {
			qq[k] = v
		}
		if cursor != "" {
			qq.Set("cursor", cursor)
		}
		raw, err := c.Do(ctx, "GET", path, qq, nil)
		if err != nil {
			return err
		}
		next, err := page(raw)
		if err != nil {
			return err
		}
		if next == "" {
			return nil
		}
		if seen[next] {
			return fmt.Errorf("opsapi: GET %s returned a cursor twice", path)
		}
		seen[next], cursor = true, next
	}
	return fmt.Errorf("opsapi: GET %s has more than %d pages", path, maxPages)
}
