package onboarding

import "github.com/rolecall/rolecall/internal/store"

// The pages the listings return and their bounds, so that the API's
// handlers (and any other caller of the service) page through listings
// without importing the store they are read from.
type (
	// Page is a page of connections.
	Page = store.Page
	// InvitePage is a page of a tenant's invites.
	InvitePage = store.InvitePage
	// TenantPage is a page of tenants.
	TenantPage = store.TenantPage
)

// DefaultLimit is the page size of a listing asked for none; MaxLimit is
// the largest page a listing returns.
const (
	DefaultLimit = store.DefaultLimit
	MaxLimit     = store.MaxLimit
)

// page returns a page a listing read, or the refusal of the error the
// client caused (a cursor this API did not return), or the error.
func page[P any](p P, err error) (P, error) {
	if e := AsError(err); e != nil {
		var none P
		return none, e
	}
	return p, err
}

// Errors a caller of the service matches with errors.Is. They are the
// store's own sentinels, so an error of the store and the refusal the
// service makes of it (AsError, Error.Err) both match.
var (
	// ErrNotFound: no such tenant, invite, connection or token; the
	// NOT_FOUND refusals wrap it.
	ErrNotFound = store.ErrNotFound
	// ErrInvalidCursor: a cursor this API did not return, or one of
	// another listing; the INVALID_CURSOR refusal wraps it.
	ErrInvalidCursor = store.ErrInvalidCursor
	// ErrConflict: a concurrent write won; the CONFLICT refusal wraps it.
	ErrConflict = store.ErrConflict
	// ErrTenantExists: the tenant ID is taken; TENANT_EXISTS wraps it.
	ErrTenantExists = store.ErrTenantExists
)
