package httpapi

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/rolecall/rolecall/infra"
	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/onboarding"
	"github.com/rolecall/rolecall/internal/opswire"
	"github.com/rolecall/rolecall/internal/rolearn"
	"github.com/rolecall/rolecall/internal/tenant"
)

// inviteView is GET /v1/invite: everything the form needs.
type inviteView struct {
	TenantID   string `json:"tenantId"`
	TenantName string `json:"tenantName"`
	ExternalID string `json:"externalId"`
	// ExternalIDVersion is the current ID's version: a connection last
	// verified with a lower one has not been checked since the rotation,
	// so its role may still trust only the previous ID.
	ExternalIDVersion int `json:"externalIdVersion"`
	// During a rotation's grace: the previous ID, still accepted until
	// GraceEndsAt, so the form can tell customers how to move to the new one.
	PreviousExternalID  string    `json:"previousExternalId,omitempty"`
	GraceEndsAt         time.Time `json:"graceEndsAt,omitzero"`
	PartnerName         string    `json:"partnerName"`
	PartnerAccountID    string    `json:"partnerAccountId"`
	TrustedPrincipalARN string    `json:"trustedPrincipalArn"`
	RoleName            string    `json:"roleName,omitempty"`
	QuickCreateURL      string    `json:"quickCreateUrl,omitempty"`
	TemplateDownload    string    `json:"templateDownload,omitempty"`
	Terraform           string    `json:"terraform,omitempty"`
	CLI                 string    `json:"cli,omitempty"`
	// TrustPolicy is the trust policy the role must have: what the
	// template creates, for a customer who builds the role by hand or
	// compares it with theirs after ASSUME_DENIED.
	TrustPolicy json.RawMessage         `json:"trustPolicy,omitempty"`
	Connections []connection.Connection `json:"connections"`
	Sandbox     *sandboxOffer           `json:"sandbox,omitempty"`
	// PropagationWindowSeconds is how long a denied new role is retried.
	PropagationWindowSeconds int `json:"propagationWindowSeconds,omitempty"`

	// SelfRegistration: POST /v1/invite/registration gives a stack that
	// registers itself.
	SelfRegistration bool `json:"selfRegistration,omitempty"`
}

// sandboxOffer is the role the form's sandbox button creates: the trust
// policy of the customer template, in a sandbox account of the tenant's own.
type sandboxOffer struct {
	AccountID   string          `json:"accountId"`
	RoleARN     string          `json:"roleArn"`
	TrustPolicy json.RawMessage `json:"trustPolicy"`
}

type connectionsPage struct {
	Connections []connection.Connection `json:"connections"`
	Cursor      string                  `json:"cursor,omitempty"`
}

// maxListed bounds the connections the form lists.
const maxListed = 100

func (h *Handler) inviteView(r *http.Request, t tenant.Tenant) (inviteView, error) {
	v := inviteView{
		TenantID: t.ID, TenantName: t.Name, ExternalID: t.ExternalID, ExternalIDVersion: t.ExternalIDVersion,
		PartnerName: h.cfg.PartnerName, PartnerAccountID: h.cfg.PartnerAccountID, TrustedPrincipalARN: h.cfg.TrustedPrincipalARN,
		PropagationWindowSeconds: int(h.cfg.PropagationWindow.Seconds()),
	}
	// The previous external ID only while it is accepted: past its grace
	// (before the sweep records the retirement) it is given to no one.
	if t.PreviousAccepted(h.cfg.Now()) {
		v.PreviousExternalID, v.GraceEndsAt = t.PreviousExternalID, t.GraceEndsAt
	}
	if h.cfg.Setup != nil {
		g, err := h.cfg.Setup.Guide(t)
		if err != nil {
			return inviteView{}, fmt.Errorf("setup guide for %s: %w", t.ID, err)
		}
		v.RoleName, v.QuickCreateURL, v.Terraform, v.CLI = g.RoleName, g.QuickCreateURL, g.Terraform, g.CLI
		v.TemplateDownload = "/v1/invite/template"
		pol, err := h.cfg.Setup.TrustPolicy(t)
		if err != nil {
			return inviteView{}, fmt.Errorf("trust policy for %s: %w", t.ID, err)
		}
		v.TrustPolicy = pol
		if h.cfg.Sandbox != nil && g.RoleName != "" {
			acct := SandboxAccountID(t.ID, h.cfg.PartnerAccountID)
			v.Sandbox = &sandboxOffer{AccountID: acct, RoleARN: rolearn.ARN{Partition: h.partition(), Account: acct, Path: "/", Name: g.RoleName}.String(), TrustPolicy: pol}
		}
	}
	v.SelfRegistration = h.selfRegistration()
	p, err := h.cfg.Service.ConnectionsOf(r.Context(), t, "", maxListed)
	if err != nil {
		return inviteView{}, err
	}
	v.Connections = nonNil(p.Items)
	return v, nil
}

func (h *Handler) getInvite(w http.ResponseWriter, r *http.Request, t tenant.Tenant) error {
	v, err := h.inviteView(r, t)
	return answer(w, http.StatusOK, v, err)
}

func (h *Handler) getTemplate(w http.ResponseWriter, r *http.Request, t tenant.Tenant) error {
	if h.cfg.Setup == nil {
		return refused(CodeNotFound, "no template is configured", "")
	}
	b, err := h.cfg.Setup.Template(t)
	if err != nil {
		return fmt.Errorf("render template for %s: %w", t.ID, err)
	}
	w.Header().Set("Content-Type", "application/yaml; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+infra.CustomerRoleTemplateName+`"`)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
	return nil
}

type submitRequest struct {
	RoleARN string `json:"roleArn"`
}

func (h *Handler) submit(w http.ResponseWriter, r *http.Request, t tenant.Tenant) error {
	var in submitRequest
	if err := decodeBody(r, &in, false); err != nil {
		return err
	}
	code, _ := credential(r, "Invite") // the customer wrapper resolved it
	c, err := h.cfg.Service.SubmitInvited(r.Context(), t, code, in.RoleARN)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/connections/"+c.AccountID)
	writeJSON(w, http.StatusAccepted, h.connectionStatus(c))
	return nil
}

func (h *Handler) getConnection(w http.ResponseWriter, r *http.Request, t tenant.Tenant) error {
	c, err := h.cfg.Service.Connection(r.Context(), t.ID, r.PathValue("accountId"))
	return answerAs(w, http.StatusOK, c, err, h.connectionStatus)
}

func (h *Handler) createTenant(w http.ResponseWriter, r *http.Request) error {
	var in opswire.CreateTenant
	if err := decodeBody(r, &in, false); err != nil {
		return err
	}
	t, err := h.cfg.Service.CreateTenantWith(r.Context(), in.TenantID, in.Name, onboarding.TenantOptions{MaxConnections: in.MaxConnections})
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/tenants/"+url.PathEscape(t.ID))
	writeJSON(w, http.StatusCreated, t)
	return nil
}

func (h *Handler) rotate(w http.ResponseWriter, r *http.Request) error {
	var in opswire.Rotate
	if err := decodeBody(r, &in, true); err != nil {
		return err
	}
	opts := onboarding.RotateOptions{Grace: tenant.DefaultRotationGrace}
	if in.GraceSeconds != nil {
		g := *in.GraceSeconds
		if g < 0 || g > int64(tenant.MaxRotationGrace/time.Second) {
			return refused(onboarding.CodeInvalidGrace, fmt.Sprintf("graceSeconds must be between 0 and %d (30 days)", int64(tenant.MaxRotationGrace/time.Second)), "graceSeconds")
		}
		opts.Grace = time.Duration(g) * time.Second
	}
	if in.RevokeInvites {
		if err := h.revokeAllInvites(r, r.PathValue("tenantId")); err != nil {
			return err
		}
	}
	t, err := h.cfg.Service.RotateExternalID(r.Context(), r.PathValue("tenantId"), opts)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, t)
	return nil
}

// listPage answers a listing: ?limit= within the listings' bounds, the
// page list reads from ?cursor=, as view shows it.
func listPage[P, V any](w http.ResponseWriter, r *http.Request, list func(cursor string, limit int) (P, error), view func(P) V) error {
	limit, err := limitParam(r, onboarding.DefaultLimit, onboarding.MaxLimit)
	if err != nil {
		return err
	}
	p, err := list(r.URL.Query().Get("cursor"), limit)
	return answerAs(w, http.StatusOK, p, err, view)
}

func viewConnections(p onboarding.Page) connectionsPage {
	return connectionsPage{Connections: nonNil(p.Items), Cursor: p.Cursor}
}

func (h *Handler) listByTenant(w http.ResponseWriter, r *http.Request) error {
	return listPage(w, r, func(cursor string, limit int) (onboarding.Page, error) {
		return h.cfg.Service.ListByTenant(r.Context(), r.PathValue("tenantId"), cursor, limit)
	}, viewConnections)
}

func (h *Handler) listByStatus(w http.ResponseWriter, r *http.Request) error {
	return listPage(w, r, func(cursor string, limit int) (onboarding.Page, error) {
		status := r.URL.Query().Get("status")
		if status == "" {
			return onboarding.Page{}, refused(onboarding.CodeInvalidStatus, "give the status to list: ?status=PENDING, VERIFIED, FAILED, ACCESS_LOST or DISCONNECTED", "status")
		}
		return h.cfg.Service.ListByStatus(r.Context(), status, cursor, limit)
	}, viewConnections)
}

func (h *Handler) requestCheck(w http.ResponseWriter, r *http.Request) error {
	if err := decodeBody(r, &struct{}{}, true); err != nil {
		return err
	}
	c, err := h.cfg.Service.RequestCheck(r.Context(), r.PathValue("tenantId"), r.PathValue("accountId"))
	return answer(w, http.StatusAccepted, c, err)
}

func (h *Handler) disconnect(w http.ResponseWriter, r *http.Request) error {
	c, err := h.cfg.Service.Disconnect(r.Context(), r.PathValue("tenantId"), r.PathValue("accountId"))
	return answer(w, http.StatusOK, c, err)
}

type eventsPage struct {
	Events []json.RawMessage `json:"events"`
}

func (h *Handler) events(w http.ResponseWriter, r *http.Request) error {
	limit, err := limitParam(r, 100, 1000)
	if err != nil {
		return err
	}
	after := r.URL.Query().Get("after")
	evs, ok := h.cfg.Events.EventsAfter(after, limit)
	if !ok {
		e := refused(CodeUnknownEvent, "after must be the eventId of an event this server emitted and still keeps", "after")
		e.Hint = "serve keeps its latest events only; leave after out to read from the oldest it keeps"
		return e
	}
	if evs == nil {
		evs = []json.RawMessage{}
	}
	writeJSON(w, http.StatusOK, eventsPage{Events: evs})
	return nil
}

func (h *Handler) sweep(w http.ResponseWriter, r *http.Request) error {
	var in opswire.Sweep
	if err := decodeBody(r, &in, true); err != nil {
		return err
	}
	n, err := h.cfg.Sweeper.Sweep(r.Context(), in.All)
	if err != nil {
		return fmt.Errorf("sweep (all=%t): %w", in.All, err)
	}
	writeJSON(w, http.StatusOK, opswire.SweepResult{Enqueued: n})
	return nil
}

// limitParam reads ?limit= (1..max, default def).
func limitParam(r *http.Request, def, maxN int) (int, error) {
	s := r.URL.Query().Get("limit")
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > maxN {
		return 0, refused(CodeInvalidParameter, fmt.Sprintf("limit must be an integer from 1 to %d", maxN), "limit")
	}
	return n, nil
}

// baseURL is the scheme and host invite links start with.
func (h *Handler) baseURL(r *http.Request) string {
	if h.cfg.BaseURL != "" {
		return h.cfg.BaseURL
	}
	scheme := "http"
	if r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https" || r.URL.Scheme == "https" {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// partition is the deployment's partition, from the trusted principal's
// ARN ("aws" when it is not set).
func (h *Handler) partition() string {
	return rolearn.PartitionOr(h.cfg.TrustedPrincipalARN, "aws")
}

// SandboxAccountID is the sandbox account the form offers a tenant: 12
// digits derived from the tenant ID, never the partner's account.
func SandboxAccountID(tenantID, partnerAccount string) string {
	for salt := byte(0); ; salt++ {
		sum := sha256.Sum256(append([]byte(tenantID), 0, salt))
		n := binary.BigEndian.Uint64(sum[:8]) % 900_000_000_000
		id := strconv.FormatUint(100_000_000_000+n, 10)
		if id != partnerAccount {
			return id
		}
	}
}

func nonNil(cs []connection.Connection) []connection.Connection {
	if cs == nil {
		return []connection.Connection{}
	}
	return cs
}

// mapSlice is f of each of items, an empty (not null) list for none.
func mapSlice[T, U any](items []T, f func(T) U) []U {
	out := make([]U, 0, len(items))
	for _, it := range items {
		out = append(out, f(it))
	}
	return out
}
