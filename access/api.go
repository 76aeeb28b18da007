package access

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/rolecall/rolecall/internal/rolearn"
	"github.com/rolecall/rolecall/internal/tenant"
	"github.com/rolecall/rolecall/internal/truncate"
)

// Connection is what RoleCall hands a workload for one VERIFIED
// connection: the customer's role, the tenant's external ID to assume it
// with, and the partner access role to reach it through. The external ID
// is the tenant's current one, except during a rotation's grace for a
// connection whose role RoleCall verified with the previous one: then it
// is the previous one, which that role trusts. RoleCall's API encodes
// this very type, so its JSON field names are the access routes' wire
// format.
type Connection struct {
	TenantID   string `json:"tenantId"`
	AccountID  string `json:"accountId"`
	RoleARN    string `json:"roleArn"`
	ExternalID string `json:"externalId"`
	// ExternalIDVersion is the tenant's version of ExternalID (1 at the
	// tenant's creation, +1 per rotation): it tells which one was handed
	// out without showing it.
	ExternalIDVersion int       `json:"externalIdVersion"`
	AccessRoleARN     string    `json:"accessRoleArn"`
	Partition         string    `json:"partition"`
	Status            string    `json:"status"`
	VerifiedAt        time.Time `json:"verifiedAt"`
}

// String never shows the external ID.
func (c Connection) String() string {
	return fmt.Sprintf("%s/%s %s (%s)", c.TenantID, c.AccountID, c.RoleARN, c.Status)
}

// GoString (%#v) is String: the external ID never shows.
func (c Connection) GoString() string { return c.String() }

// LogValue logs the connection without its external ID (its version
// tells which one it is), for a slog handler of any kind.
func (c Connection) LogValue() slog.Value {
	return slog.GroupValue(slog.String("tenantId", c.TenantID), slog.String("accountId", c.AccountID),
		slog.String("roleArn", c.RoleARN), slog.Int("externalIdVersion", c.ExternalIDVersion),
		slog.String("accessRoleArn", c.AccessRoleARN), slog.String("status", c.Status))
}

// Connection returns the connection's role, external ID and access role.
// A connection that is not VERIFIED is refused with a *NotVerifiedError.
func (a *API) Connection(ctx context.Context, tenantID, accountID string) (Connection, error) {
	var c Connection
	err := a.do(ctx, http.MethodGet, "/v1/tenants/"+url.PathEscape(tenantID)+"/connections/"+url.PathEscape(accountID)+"/access", nil, nil, &c)
	var nv *NotVerifiedError
	if errors.As(err, &nv) {
		nv.TenantID, nv.AccountID = tenantID, accountID
	}
	if err != nil {
		return Connection{}, err
	}
	if c.TenantID != tenantID || c.AccountID != accountID {
		return Connection{}, fmt.Errorf("rolecall API: malformed answer: asked for %s, answered %s", Ref{TenantID: tenantID, AccountID: accountID}, c.ref())
	}
	if c.Status != "VERIFIED" {
		return Connection{}, &NotVerifiedError{TenantID: tenantID, AccountID: accountID, Status: c.Status}
	}
	return c, nil
}

// Page is one page of a tenant's VERIFIED connections, as RoleCall's API
// encodes it.
type Page struct {
	Connections []Connection `json:"connections"`
	// Cursor continues the listing; "" on the last page.
	Cursor string `json:"cursor,omitempty"`
}

// Connections lists one page of a tenant's VERIFIED connections.
func (a *API) Connections(ctx context.Context, tenantID, cursor string, limit int) (Page, error) {
	q := url.Values{}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var page Page
	if err := a.do(ctx, http.MethodGet, "/v1/tenants/"+url.PathEscape(tenantID)+"/access", q, nil, &page); err != nil {
		return Page{}, err
	}
	if err := checkListed(page.Connections, tenantID); err != nil {
		return Page{}, err
	}
	return page, nil
}

// AllConnections lists every VERIFIED connection of a tenant.
func (a *API) AllConnections(ctx context.Context, tenantID string) ([]Connection, error) {
	return walkConnections[Connection](ctx, a, "/v1/tenants/"+url.PathEscape(tenantID)+"/access", nil, tenantID)
}

// walkConnections walks a listing of connections to its last page and
// returns every page's connections, each decoded as a T. A listing that
// names a connection by IDs RoleCall does not make, or of a tenant other
// than tenantID ("": any), is an error.
func walkConnections[T interface{ ref() Ref }](ctx context.Context, a *API, path string, query url.Values, tenantID string) ([]T, error) {
	var out []T
	err := a.Walk(ctx, path, query, func(raw json.RawMessage) (string, error) {
		var p struct {
			Connections []T    `json:"connections"`
			Cursor      string `json:"cursor"`
		}
		if err := json.Unmarshal(raw, &p); err != nil {
			return "", fmt.Errorf("rolecall API: malformed page of connections: %w", err)
		}
		if err := checkListed(p.Connections, tenantID); err != nil {
			return "", err
		}
		out = append(out, p.Connections...)
		return p.Cursor, nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// checkListed refuses a page of connections that names IDs RoleCall does
// not make, or a tenant other than tenantID ("": any).
func checkListed[T interface{ ref() Ref }](conns []T, tenantID string) error {
	for _, c := range conns {
		switch r := c.ref(); {
		case !r.wellFormed():
			return fmt.Errorf("rolecall API: malformed page of connections: %s is not a tenant ID and an account ID", r)
		case tenantID != "" && r.TenantID != tenantID:
			return fmt.Errorf("rolecall API: malformed page of connections: %s in the listing of tenant %q", r, tenantID)
		}
	}
	return nil
}

// Ref names one connection.
type Ref struct {
	TenantID  string `json:"tenantId"`
	AccountID string `json:"accountId"`
}

// String quotes the IDs, cut short, so that an answer's odd bytes
// (newlines) reach no log as they are.
func (r Ref) String() string {
	return fmt.Sprintf("%q/%q", truncate.String(r.TenantID, 64), truncate.String(r.AccountID, 12))
}

// wellFormed reports whether r's IDs are ones RoleCall makes. Listings
// are refused otherwise: commands write the IDs into AWS config files,
// HCL and session names, where a newline would add lines of its own.
func (r Ref) wellFormed() bool {
	return tenant.ValidateID(r.TenantID) == nil && rolearn.IsAccountID(r.AccountID)
}

func (r Ref) ref() Ref        { return r }
func (c Connection) ref() Ref { return Ref{TenantID: c.TenantID, AccountID: c.AccountID} }

// Verified lists every VERIFIED connection of every tenant (GET
// /v1/connections?status=VERIFIED), for commands that cover all tenants.
func (a *API) Verified(ctx context.Context) ([]Ref, error) {
	return walkConnections[Ref](ctx, a, "/v1/connections", url.Values{"status": {"VERIFIED"}}, "")
}

// RequestCheck asks RoleCall to re-check a connection now.
func (a *API) RequestCheck(ctx context.Context, tenantID, accountID string) error {
	return a.do(ctx, http.MethodPost, "/v1/tenants/"+url.PathEscape(tenantID)+"/connections/"+url.PathEscape(accountID)+"/check", nil, struct{}{}, nil)
}
