package httpapi

import (
	"fmt"
	"net/http"
	"time"

	"github.com/rolecall/rolecall/access"
	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/onboarding"
	"github.com/rolecall/rolecall/internal/tenant"
)

// CodeNotVerified refuses access to a connection that is not VERIFIED
// (409): its role must not be used.
const CodeNotVerified = "NOT_VERIFIED"

// notVerified is the 409 answer: the usual error, plus the connection's
// status and reason so a workload can say why it cannot proceed.
type notVerified struct {
	Error      errorDetail       `json:"error"`
	Connection notVerifiedDetail `json:"connection"`
}

type notVerifiedDetail struct {
	Status connection.Status `json:"status"`
	Reason connection.Reason `json:"reason"`
}

// accessOf is what a partner workload needs to use a VERIFIED connection,
// in the document the public access package decodes: the customer's role,
// the external ID its role works with (externalIDFor) and the partner
// access role to chain through. It is an ops route's answer only: the
// external ID is the tenant's secret with its customer.
func (h *Handler) accessOf(t tenant.Tenant, c connection.Connection, now time.Time) access.Connection {
	id, version := externalIDFor(t, c, now)
	return access.Connection{TenantID: c.TenantID, AccountID: c.AccountID, RoleARN: c.RoleARN, ExternalID: id, ExternalIDVersion: version,
		AccessRoleARN: h.cfg.TrustedPrincipalARN, Partition: h.partition(), Status: string(c.Status), VerifiedAt: c.VerifiedAt}
}

// externalIDFor returns the tenant's external ID (and its version) a
// workload must use for c at time now: the one c's last successful check
// used while the tenant still accepts it. During a rotation's grace a role
// whose trust policy names only the previous ID stays VERIFIED, so
// workloads get the previous ID, as the verifier's checks do; otherwise
// (no rotation, c verified with the current ID, or the grace is over) the
// current one.
func externalIDFor(t tenant.Tenant, c connection.Connection, now time.Time) (string, int) {
	if c.ExternalIDVersion != t.ExternalIDVersion && t.AcceptsExternalID(c.ExternalIDVersion, true, now) {
		return t.PreviousExternalID, t.PreviousExternalIDVersion
	}
	return t.ExternalID, t.ExternalIDVersion
}

// getAccess answers GET /v1/tenants/{tenantId}/connections/{accountId}/access.
func (h *Handler) getAccess(w http.ResponseWriter, r *http.Request) error {
	t, err := h.cfg.Service.Tenant(r.Context(), r.PathValue("tenantId"))
	if err != nil {
		return err
	}
	c, err := h.cfg.Service.Connection(r.Context(), t.ID, r.PathValue("accountId"))
	if err != nil {
		return err
	}
	if c.Status != connection.Verified {
		writeJSON(w, statusOf(CodeNotVerified), notVerified{
			Error: errorDetail{Code: CodeNotVerified, Field: "accountId",
				Message: fmt.Sprintf("the connection is %s, not VERIFIED: its role must not be used (%s)", c.Status, c.Reason.Code)},
			Connection: notVerifiedDetail{Status: c.Status, Reason: c.Reason},
		})
		return nil
	}
	writeJSON(w, http.StatusOK, h.accessOf(t, c, h.cfg.Now()))
	return nil
}

// listAccess answers GET /v1/tenants/{tenantId}/access: the tenant's
// VERIFIED connections, one page of the tenant's connections at a time
// (a page may hold fewer than limit, or none, and still have a cursor).
func (h *Handler) listAccess(w http.ResponseWriter, r *http.Request) error {
	var t tenant.Tenant
	return listPage(w, r, func(cursor string, limit int) (p onboarding.Page, err error) {
		if t, err = h.cfg.Service.Tenant(r.Context(), r.PathValue("tenantId")); err != nil {
			return p, err
		}
		return h.cfg.Service.ConnectionsOf(r.Context(), t, cursor, limit)
	}, func(p onboarding.Page) access.Page {
		out := access.Page{Connections: []access.Connection{}, Cursor: p.Cursor}
		now := h.cfg.Now()
		for _, c := range p.Items {
			if c.Status == connection.Verified {
				out.Connections = append(out.Connections, h.accessOf(t, c, now))
			}
		}
		return out
	})
}
