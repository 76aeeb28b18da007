// Package httpapi is RoleCall's HTTP interface: the JSON API
// (customer routes authenticated by invite, operations routes authenticated
// by a pluggable OpsAuth), the customer web form (GET /connect), the local
// ops page (GET /ops), the event feed and sweep trigger of `rolecall serve`,
// and the sandbox control routes.
//
// It is one net/http handler, so the same code serves API Gateway (through
// aws-lambda-go-api-proxy's httpadapter) and `rolecall serve`, which also
// wraps it with LoopbackHosts (the Host check against DNS rebinding).
//
// Every error is JSON {"error":{"code","message","field"?}} with a 4xx status
// for anything the client can fix; internal errors are logged and answered
// with a generic 500 that never carries the error text. Every response
// carries strict security headers (a CSP without 'unsafe-inline',
// frame-ancestors 'none', Referrer-Policy no-referrer, nosniff).
//
// The package depends on small interfaces it defines (Onboarding, Setup,
// EventLog, Sweeper, Sandbox, OpsAuth); optional ones left nil disable their
// routes (404), which is how the Lambda deployment runs.
package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"path"
	"time"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/onboarding"
	"github.com/rolecall/rolecall/internal/tenant"
)

// Onboarding is what the handler needs of the onboarding service
// (*onboarding.Service implements it). Errors the client can fix are
// recognised with onboarding.AsError.
type Onboarding interface {
	CreateTenant(ctx context.Context, id, name string) (tenant.Tenant, error)
	Tenant(ctx context.Context, id string) (tenant.Tenant, error)
	RotateExternalID(ctx context.Context, id string, opts onboarding.RotateOptions) (tenant.Tenant, error)
	CreateInvite(ctx context.Context, tenantID string) (string, tenant.Invite, error)
	ResolveInvite(ctx context.Context, code string) (tenant.Tenant, error)
	Submit(ctx context.Context, t tenant.Tenant, roleARN string) (connection.Connection, error)
	Connection(ctx context.Context, tenantID, accountID string) (connection.Connection, error)
	Disconnect(ctx context.Context, tenantID, accountID string) (connection.Connection, error)
	RequestCheck(ctx context.Context, tenantID, accountID string) (connection.Connection, error)
	CheckInvited(ctx context.Context, t tenant.Tenant, code string, c connection.Connection) error
	ListByTenant(ctx context.Context, tenantID, cursor string, limit int) (onboarding.Page, error)
	ConnectionsOf(ctx context.Context, t tenant.Tenant, cursor string, limit int) (onboarding.Page, error)
	ListByStatus(ctx context.Context, status string, cursor string, limit int) (onboarding.Page, error)

	// Limits and invites (invites.go).
	CreateTenantWith(ctx context.Context, id, name string, opts onboarding.TenantOptions) (tenant.Tenant, error)
	SetMaxConnections(ctx context.Context, id string, limit int) (tenant.Tenant, error)
	CreateInviteWith(ctx context.Context, tenantID string, opts onboarding.InviteOptions) (string, tenant.Invite, error)
	ListInvites(ctx context.Context, tenantID, cursor string, limit int) (onboarding.InvitePage, error)
	RevokeInvite(ctx context.Context, tenantID, inviteID string) (tenant.Invite, error)
	RevokeInvites(ctx context.Context, tenantID string) (int, error)
	SubmitInvited(ctx context.Context, t tenant.Tenant, code, roleARN string) (connection.Connection, error)
}

// Guide is what the form shows a customer to create the role.
type Guide struct {
	// RoleName is the name the template, module and commands give the role.
	RoleName string `json:"roleName"`
	// QuickCreateURL opens the CloudFormation console's quick-create page
	// with the template and the tenant's parameters; "" when no template
	// URL is configured.
	QuickCreateURL string `json:"quickCreateUrl,omitempty"`
	Terraform      string `json:"terraform"`
	CLI            string `json:"cli"`
}

// Setup renders the ways a customer creates the role for a tenant.
type Setup interface {
	Guide(t tenant.Tenant) (Guide, error)
	// Template is the customer-role CloudFormation template with the
	// tenant's parameters as defaults, for download.
	Template(t tenant.Tenant) ([]byte, error)
	// TrustPolicy is the trust policy document the template creates.
	TrustPolicy(t tenant.Tenant) (json.RawMessage, error)
}

// EventLog is the record of the events emitted so far (serve mode).
type EventLog interface {
	// EventsAfter returns up to limit EventBridge entries recorded after the
	// one whose detail.eventId is afterID ("" for the start), oldest first.
	// ok is false when afterID is not in the record: never emitted, or
	// dropped from it as older than the events it keeps.
	EventsAfter(afterID string, limit int) (entries []json.RawMessage, ok bool)
}

// Sweeper runs a sweep now (serve mode).
type Sweeper interface {
	// Sweep enqueues checks of the due connections, or of every live
	// connection when all is set, and returns how many it enqueued.
	Sweep(ctx context.Context, all bool) (int, error)
}

// SandboxInfo describes the sandbox STS.
type SandboxInfo struct {
	PartnerPrincipalARN string `json:"partnerPrincipalArn"`
	// TrustedPrincipalARN is the principal customer roles trust: the
	// partner access role.
	TrustedPrincipalARN string `json:"trustedPrincipalArn,omitempty"`
	STSEndpoint         string `json:"stsEndpoint"`
	// WorkloadAccessKeyID and WorkloadSecretAccessKey sign as the
	// partner's workload principal: a key of the sandbox, no AWS
	// credential, shown to whoever reaches serve's loopback listener as the
	// banner shows it.
	WorkloadAccessKeyID     string `json:"workloadAccessKeyId,omitempty"`
	WorkloadSecretAccessKey string `json:"workloadSecretAccessKey,omitempty"`
}

// Faults are the sandbox STS's injected failures.
type Faults struct {
	Latency      time.Duration
	ThrottleRate float64
	ErrorRate    float64
}

// Sandbox controls the sandbox STS (serve mode without --aws). Errors the
// client can fix are returned as *onboarding.Error (code, message, field);
// DeleteRole of an unknown role returns one with code NOT_FOUND.
type Sandbox interface {
	Info() SandboxInfo
	PutRole(roleARN string, trustPolicy []byte) error
	DeleteRole(roleARN string) error
	SetFaults(f Faults) error
}

// Config configures the handler. Service, Ops and Partition-related fields
// are required; the optional interfaces enable their routes.
type Config struct {
	Service Onboarding
	// Ops authorizes the operations routes.
	Ops OpsAuth
	// PartnerName is shown on the form (default "RoleCall").
	PartnerName         string
	PartnerAccountID    string
	TrustedPrincipalARN string
	// EventSource is the events' source, shown on the ops page.
	EventSource string
	// BaseURL ("https://host") prefixes the invite links the API returns;
	// default: the scheme and host of the request.
	BaseURL string
	Setup   Setup
	Events  EventLog
	Sweeper Sweeper
	Sandbox Sandbox
	// Registrations enables the registration-token routes.
	Registrations RegistrationTokens
	// RegistrationInbox, with Sandbox, serves the sandbox registration topic.
	RegistrationInbox RegistrationInbox
	// SandboxStacks, with Sandbox, serves the form's sandbox stack button.
	SandboxStacks SandboxStacks
	// OpsPage serves GET /ops (serve mode), and makes GET / a page that
	// links the form and the ops page instead of a JSON pointer to the API.
	OpsPage bool
	// DemoInviteURL, when set, is the form of serve's demo tenant, linked
	// from GET /.
	DemoInviteURL string
	// PropagationWindow is how long a denied new role is retried before it
	// is FAILED (connection.Policy.PropagationWindow); the form counts it
	// down.
	PropagationWindow time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	Log *slog.Logger
}

// MaxBody is the largest request body accepted (413 beyond).
const MaxBody = 16 << 10

// Handler serves RoleCall's HTTP interface.
type Handler struct {
	cfg   Config
	mux   *http.ServeMux
	log   *slog.Logger
	pages *pages
}

var _ http.Handler = (*Handler)(nil)

// New returns the handler. It fails when a required setting is missing.
func New(cfg Config) (*Handler, error) {
	if cfg.Service == nil {
		return nil, errors.New("httpapi: Config.Service is required")
	}
	if cfg.Ops == nil {
		return nil, errors.New("httpapi: Config.Ops is required")
	}
	if cfg.PartnerName == "" {
		cfg.PartnerName = "RoleCall"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	h := &Handler{cfg: cfg, mux: http.NewServeMux(), log: cfg.Log}
	if h.log == nil {
		h.log = slog.Default()
	}
	p, err := loadPages()
	if err != nil {
		return nil, err
	}
	h.pages = p
	h.routes()
	return h, nil
}

func (h *Handler) routes() {
	m := h.mux
	// Customer routes, authenticated by invite.
	m.Handle("GET /v1/invite", h.customer(h.getInvite))
	m.Handle("GET /v1/invite/template", h.customer(h.getTemplate))
	m.Handle("POST /v1/connections", h.customer(h.submit))
	m.Handle("GET /v1/connections/{accountId}", h.customer(h.getConnection))
	m.Handle("POST /v1/connections/{accountId}/check", h.customer(h.customerCheck))

	// Operations routes.
	m.Handle("POST /v1/tenants", h.ops(h.createTenant))
	m.Handle("GET /v1/tenants", h.ops(h.listTenants))
	m.Handle("GET /v1/tenants/{tenantId}", h.ops(h.getTenant))
	m.Handle("PATCH /v1/tenants/{tenantId}", h.ops(h.updateTenant))
	m.Handle("GET /v1/tenants/{tenantId}/connections/{accountId}", h.ops(h.getConnectionHistory))
	m.Handle("POST /v1/tenants/{tenantId}/invites", h.ops(h.createInvite))
	m.Handle("GET /v1/tenants/{tenantId}/invites", h.ops(h.listInvites))
	m.Handle("DELETE /v1/tenants/{tenantId}/invites/{inviteId}", h.ops(h.revokeInvite))
	m.Handle("POST /v1/tenants/{tenantId}/external-id/rotate", h.ops(h.rotate))
	m.Handle("GET /v1/tenants/{tenantId}/connections", h.ops(h.listByTenant))
	m.Handle("GET /v1/connections", h.ops(h.listByStatus))
	m.Handle("POST /v1/tenants/{tenantId}/connections/{accountId}/check", h.ops(h.requestCheck))
	m.Handle("DELETE /v1/tenants/{tenantId}/connections/{accountId}", h.ops(h.disconnect))
	m.Handle("GET /v1/tenants/{tenantId}/connections/{accountId}/access", h.ops(h.getAccess))
	m.Handle("GET /v1/tenants/{tenantId}/access", h.ops(h.listAccess))
	if h.cfg.Events != nil {
		m.Handle("GET /v1/events", h.ops(h.events))
	}
	if h.cfg.Sweeper != nil {
		m.Handle("POST /v1/sweeps", h.ops(h.sweep))
	}
	h.registrationRoutes()

	// Pages.
	m.HandleFunc("GET /{$}", h.home)
	m.HandleFunc("GET /connect", page(h.pages.connect))
	m.Handle("GET /static/", h.static())
	if h.cfg.OpsPage {
		m.HandleFunc("GET /ops", page(h.pages.ops))
	}

	// Sandbox control.
	if h.cfg.Sandbox != nil {
		m.HandleFunc("GET /_sandbox", h.sandboxInfo)
		m.HandleFunc("PUT /_sandbox/roles", h.sandboxPutRole)
		m.HandleFunc("DELETE /_sandbox/roles", h.sandboxDeleteRole)
		m.HandleFunc("PUT /_sandbox/faults", h.sandboxFaults)
	}
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w}
	securityHeaders(sw.Header(), r)
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			h.log.ErrorContext(r.Context(), "http handler panicked", "method", r.Method, "route", r.Pattern, "panic", v)
			if !sw.wrote {
				writeError(sw, http.StatusInternalServerError, CodeInternal, internalMessage, "")
			}
		}
		// Log the route pattern, never the URL: /connect?invite=… carries a secret.
		h.log.DebugContext(r.Context(), "http request", "method", r.Method, "route", r.Pattern,
			"status", sw.status(), "durationMs", time.Since(start).Milliseconds())
	}()

	// An oversized body is refused at once and the connection closed, so
	// that the server neither reads nor waits for the rest of it.
	if r.ContentLength > MaxBody {
		sw.Header().Set("Connection", "close")
		refuse(sw, refused(CodeTooLarge, "the request body is larger than 16 KiB", ""))
		return
	}
	if r.Body != nil {
		// The server's own writer, not sw: net/http only learns that the
		// limit was hit (and closes the connection after the 413) through
		// it; given a wrapper, it keeps reading the unread body before it
		// answers, for up to its ReadTimeout.
		r.Body = http.MaxBytesReader(w, r.Body, MaxBody)
	}

	// A path with dot or empty segments gets a JSON 404, not the mux's
	// redirect to its clean form: an API never redirects, and a client
	// following a 307 would re-send its body and credentials to another
	// resource (/v1/tenants/acme/../globex/invites).
	if p := r.URL.EscapedPath(); p != cleanPath(p) {
		refuse(sw, refused(CodeNotFound, "no such route; send the path without dot or empty segments", ""))
		return
	}

	// Unknown routes and methods get JSON errors, not the mux's text ones.
	if _, pattern := h.mux.Handler(r); pattern == "" {
		probe := &headerProbe{header: http.Header{}}
		hh, _ := h.mux.Handler(r)
		hh.ServeHTTP(probe, r)
		if probe.code == http.StatusMethodNotAllowed {
			sw.Header().Set("Allow", probe.header.Get("Allow"))
			refuse(sw, refused(CodeMethodNotAllowed, "this route does not support "+r.Method, ""))
			return
		}
		refuse(sw, refused(CodeNotFound, "no such route", ""))
		return
	}
	h.mux.ServeHTTP(sw, r)
	if sw.status() == http.StatusRequestEntityTooLarge {
		// The body went past MaxBody: the rest is not read. Without a
		// deadline, net/http would still drain up to 256 KiB of it after
		// the 413 before closing, holding the connection for as long as
		// a slow client keeps sending (up to the ReadTimeout). Unsupported
		// outside net/http's server (Lambda): nothing to hold there.
		_ = http.NewResponseController(w).SetReadDeadline(time.Now())
	}
}

// cleanPath is p without dot or empty segments, keeping a trailing slash
// (as net/http's ServeMux cleans paths).
func cleanPath(p string) string {
	if p == "" {
		return "/"
	}
	np := path.Clean(p)
	if p[len(p)-1] == '/' && np != "/" {
		np += "/"
	}
	return np
}

// securityHeaders sets the headers every response carries.
func securityHeaders(hd http.Header, r *http.Request) {
	hd.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
		"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Cross-Origin-Opener-Policy", "same-origin")
	hd.Set("Cross-Origin-Resource-Policy", "same-origin")
	hd.Set("Cache-Control", "no-store")
	if r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https" {
		hd.Set("Strict-Transport-Security", "max-age=31536000")
	}
}

// statusWriter remembers whether and what the handler wrote.
type statusWriter struct {
	http.ResponseWriter
	code  int
	wrote bool
}

func (s *statusWriter) WriteHeader(code int) {
	if !s.wrote {
		s.code, s.wrote = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if !s.wrote {
		s.code, s.wrote = http.StatusOK, true
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusWriter) status() int {
	if !s.wrote {
		return http.StatusOK
	}
	return s.code
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// headerProbe captures what the mux would answer for an unmatched request.
type headerProbe struct {
	header http.Header
	code   int
}

func (p *headerProbe) Header() http.Header { return p.header }
func (p *headerProbe) Write(b []byte) (int, error) {
	if p.code == 0 {
		p.code = http.StatusOK
	}
	return len(b), nil
}
func (p *headerProbe) WriteHeader(code int) {
	if p.code == 0 {
		p.code = code
	}
}
