package httpapi

import (
	"embed"
	"fmt"
	"io/fs"
	"net/http"
	"strings"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/loopback"
)

// The web pages are static HTML, the same bytes for every request: their
// scripts (web/static) fetch what they show from the JSON API — the
// form GET /v1/invite with its invite code, the ops page and the home page
// GET / — and put it in with textContent, never as HTML. No Go code fills
// a page, so nothing here can inject markup, and the binary carries no
// template engine (html/template's reflection would keep every method of
// every type, the AWS SDK clients' included, and grow the Lambda binary by
// megabytes). All of it is embedded in the binary.
//
// Every page is web/page.html, the document all pages share (the head,
// the body's subtitle for the header page.js draws, the script tags of
// page.js and of the page's own web/static/<name>.js), around the page's
// own markup, web/<name>.html, the content of its main element. loadPages
// puts each together once, when the handler is made, by replacing the
// shell's {…} markers with the page's constants (plain text, written here:
// nothing to escape).
//
//go:embed web
var webFS embed.FS

type pages struct {
	connect, ops, home []byte
	static             fs.FS
}

func loadPages() (*pages, error) {
	shell, err := fs.ReadFile(webFS, "web/page.html")
	if err != nil {
		return nil, fmt.Errorf("httpapi: read page.html: %w", err)
	}
	var p pages
	for _, pg := range []struct {
		dst                   *[]byte
		name, title, subtitle string
		wide                  bool // the main column takes the window's width (the ops page's tables)
	}{
		{&p.connect, "connect", "Connect your AWS account", "Connect your AWS account", false},
		{&p.ops, "ops", "RoleCall operations", "Operations", true},
		{&p.home, "home", "RoleCall", "Running locally", false},
	} {
		main, err := fs.ReadFile(webFS, "web/"+pg.name+".html")
		if err != nil {
			return nil, fmt.Errorf("httpapi: read %s.html: %w", pg.name, err)
		}
		class := "wrap"
		if pg.wide {
			class += " wide"
		}
		*pg.dst = []byte(strings.NewReplacer(
			"{title}", pg.title,
			"{subtitle}", pg.subtitle,
			"{main-class}", class,
			"{script}", pg.name+".js",
			"{main}", strings.TrimSuffix(string(main), "\n"),
		).Replace(string(shell)))
	}
	if p.static, err = fs.Sub(webFS, "web/static"); err != nil {
		return nil, fmt.Errorf("httpapi: static files: %w", err)
	}
	return &p, nil
}

// page serves a static page.
func page(doc []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write(doc)
	}
}

// site is GET / as JSON: where the API is, and the partner's name the
// pages show (the form shows it when an invite link does not work). Local
// is what the pages of `rolecall serve` show, only there.
type site struct {
	Service     string            `json:"service"`
	Message     string            `json:"message"`
	Routes      map[string]string `json:"routes"`
	PartnerName string            `json:"partnerName"`
	Local       *localSite        `json:"local,omitempty"`
}

// localSite is what the home and ops pages of `rolecall serve` show: the
// same facts the ops page showed to anyone who opened it.
type localSite struct {
	// DemoInviteURL is the demo tenant's form, only for a browser on this
	// machine.
	DemoInviteURL       string   `json:"demoInviteUrl,omitempty"`
	Sandbox             bool     `json:"sandbox"`
	PartnerAccountID    string   `json:"partnerAccountId"`
	TrustedPrincipalARN string   `json:"trustedPrincipalArn"`
	EventSource         string   `json:"eventSource,omitempty"`
	Statuses            []string `json:"statuses"`
	Events              bool     `json:"events"`
	Sweeps              bool     `json:"sweeps"`
}

// home is GET /: in serve, a page linking the form and the ops page for a
// browser, and its data as JSON for a client asking for JSON; in Lambda,
// always JSON, a pointer to the API instead of a bare 404.
func (h *Handler) home(w http.ResponseWriter, r *http.Request) {
	if h.cfg.OpsPage {
		w.Header().Set("Vary", "Accept")
		if !wantsJSON(r) {
			page(h.pages.home)(w, r)
			return
		}
	}
	// The operations routes take what h.cfg.Ops checks: serve's bearer
	// token, or SigV4 (API Gateway's IAM authorizer).
	opsCreds := "SigV4"
	if _, ok := h.cfg.Ops.(*BearerToken); ok {
		opsCreds = "Authorization: Bearer <ops token>"
	}
	s := site{
		Service:     "rolecall",
		Message:     "RoleCall's API. Customers open the invite link their partner sent (/connect?invite=…); operators call the /v1 operations routes with " + opsCreds + ".",
		PartnerName: h.cfg.PartnerName,
		Routes: map[string]string{
			"form":        "GET /connect?invite=CODE",
			"invite":      "GET /v1/invite (Authorization: Invite CODE)",
			"submit":      "POST /v1/connections (Authorization: Invite CODE)",
			"connections": "GET /v1/connections?status=STATUS (operations, " + opsCreds + ")",
			"tenants":     "POST /v1/tenants (operations, " + opsCreds + ")",
		},
	}
	if h.cfg.OpsPage {
		l := &localSite{
			Sandbox: h.cfg.Sandbox != nil, PartnerAccountID: h.cfg.PartnerAccountID, TrustedPrincipalARN: h.cfg.TrustedPrincipalARN,
			EventSource: h.cfg.EventSource, Events: h.cfg.Events != nil, Sweeps: h.cfg.Sweeper != nil,
		}
		for _, st := range connection.Statuses {
			l.Statuses = append(l.Statuses, string(st))
		}
		// The demo invite is a credential for the demo tenant: only a
		// browser on this machine gets it, never one reaching a public serve.
		if fromLoopback(r) {
			l.DemoInviteURL = h.cfg.DemoInviteURL
		}
		s.Local = l
	}
	writeJSON(w, http.StatusOK, s)
}

// wantsJSON reports whether the client asks for JSON rather than a page
// (a browser's navigation accepts text/html).
func wantsJSON(r *http.Request) bool {
	accept := r.Header.Get("Accept")
	return strings.Contains(accept, "application/json") && !strings.Contains(accept, "text/html")
}

// fromLoopback reports whether the request's peer is this machine and it
// asked for a loopback host (a proxy on this machine forwarding a public
// name is not a local browser).
func fromLoopback(r *http.Request) bool {
	return loopback.Host(canonicalHost(r.RemoteAddr)) && loopback.Host(canonicalHost(r.Host))
}

func (h *Handler) static() http.Handler {
	files := http.StripPrefix("/static/", http.FileServerFS(h.pages.static))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(r.URL.Path, "/static/")
		if fi, err := fs.Stat(h.pages.static, name); err != nil || fi.IsDir() { // no directory listings
			refuse(w, refused(CodeNotFound, "no such file", ""))
			return
		}
		w.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
}
