package httpapi

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
	"time"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/tenant"
)

// The web pages are server-rendered with html/template; a little vanilla
// JavaScript (no build step) adds copying, tabs, submission and live
// status. All of it is embedded in the binary.
//
//go:embed web
var webFS embed.FS

type pages struct {
	connect *template.Template
	ops     *template.Template
	problem *template.Template
	static  fs.FS
}

var funcs = template.FuncMap{
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	},
	"iso": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	},
	"label":  StatusLabel,
	"lower":  func(s connection.Status) string { return strings.ToLower(string(s)) },
	"prefix": strings.HasPrefix,
}

// StatusLabel is the customer-facing name of a status.
func StatusLabel(s connection.Status) string {
	switch s {
	case connection.Pending:
		return "Verifying"
	case connection.Verified:
		return "Connected"
	case connection.Failed:
		return "Failed"
	case connection.AccessLost:
		return "Access lost"
	case connection.Disconnected:
		return "Disconnected"
	}
	return string(s)
}

func loadPages() (*pages, error) {
	parse := func(name string) (*template.Template, error) {
		t, err := template.New(name).Funcs(funcs).ParseFS(webFS, "web/layout.html", "web/"+name)
		if err != nil {
			return nil, fmt.Errorf("httpapi: parse %s: %w", name, err)
		}
		return t, nil
	}
	var p pages
	var err error
	if p.connect, err = parse("connect.html"); err != nil {
		return nil, err
	}
	if p.ops, err = parse("ops.html"); err != nil {
		return nil, err
	}
	if p.problem, err = parse("problem.html"); err != nil {
		return nil, err
	}
	if p.static, err = fs.Sub(webFS, "web/static"); err != nil {
		return nil, fmt.Errorf("httpapi: static files: %w", err)
	}
	return &p, nil
}

// render executes a page into a buffer first, so a template error becomes
// a clean 500 instead of half a page.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, t *template.Template, status int, data any) {
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", data); err != nil {
		h.log.ErrorContext(r.Context(), "render page", "route", r.Pattern, "error", err)
		http.Error(w, "Something went wrong on our side. Try again later.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

type problemData struct {
	Title       string
	PartnerName string
	Heading     string
	Message     string
}

func (h *Handler) problem(w http.ResponseWriter, r *http.Request, status int, heading, msg string) {
	h.render(w, r, h.pages.problem, status, problemData{Title: heading, PartnerName: h.cfg.PartnerName, Heading: heading, Message: msg})
}

type connectData struct {
	Title string
	inviteView
	Statuses []connection.Status
}

// connectPage is the customer web form, GET /connect?invite=CODE.
func (h *Handler) connectPage(w http.ResponseWriter, r *http.Request) {
	code := r.URL.Query().Get("invite")
	if code == "" {
		h.problem(w, r, http.StatusUnauthorized, "An invite link is needed",
			"Open this page from the invite link your partner sent you. It ends with ?invite= and a code.")
		return
	}
	t, err := h.cfg.Service.ResolveInvite(r.Context(), code)
	switch {
	case errors.Is(err, tenant.ErrInviteExpired):
		h.problem(w, r, http.StatusUnauthorized, "This invite link has expired",
			"Invite links are valid for a limited time. Ask "+h.cfg.PartnerName+" for a new one.")
		return
	case errors.Is(err, tenant.ErrInvalidInvite):
		h.problem(w, r, http.StatusNotFound, "This invite link is not valid",
			"Check that you copied the whole link, or ask "+h.cfg.PartnerName+" for a new one.")
		return
	case err != nil:
		h.log.ErrorContext(r.Context(), "resolve invite for the form", "error", err)
		h.problem(w, r, http.StatusInternalServerError, "Something went wrong on our side", "Try again in a minute.")
		return
	}
	v, err := h.inviteView(r, t)
	if err != nil {
		h.log.ErrorContext(r.Context(), "build the form", "tenantId", t.ID, "error", err)
		h.problem(w, r, http.StatusInternalServerError, "Something went wrong on our side", "Try again in a minute.")
		return
	}
	h.render(w, r, h.pages.connect, http.StatusOK, connectData{Title: "Connect your AWS account to " + h.cfg.PartnerName, inviteView: v, Statuses: connection.Statuses})
}

type opsData struct {
	Title               string
	PartnerName         string
	PartnerAccountID    string
	TrustedPrincipalARN string
	EventSource         string
	Statuses            []connection.Status
	Events              bool
	Sweeps              bool
}

// opsPage is the local operations view. The page itself holds no data; its
// script asks for the ops token once and calls the ops routes with it.
func (h *Handler) opsPage(w http.ResponseWriter, r *http.Request) {
	h.render(w, r, h.pages.ops, http.StatusOK, opsData{
		Title: "RoleCall operations", PartnerName: h.cfg.PartnerName, PartnerAccountID: h.cfg.PartnerAccountID,
		TrustedPrincipalARN: h.cfg.TrustedPrincipalARN, EventSource: h.cfg.EventSource,
		Statuses: connection.Statuses, Events: h.cfg.Events != nil, Sweeps: h.cfg.Sweeper != nil,
	})
}

func (h *Handler) static() http.Handler {
	files := http.StripPrefix("/static/", http.FileServerFS(h.pages.static))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(r.URL.Path, "/static/")
		if fi, err := fs.Stat(h.pages.static, name); err != nil || fi.IsDir() { // no directory listings
			writeError(w, http.StatusNotFound, CodeNotFound, "no such file", "")
			return
		}
		w.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
}
