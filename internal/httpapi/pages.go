package httpapi

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/rolecall/rolecall/internal/connection"
	"github.com/rolecall/rolecall/internal/tenant"
)

// The web pages are server-rendered from the HTML in web/ by the small
// renderer in render.go (not html/template: see there why); a little
// vanilla JavaScript (no build step) adds copying, tabs, submission and
// live status. All of it is embedded in the binary.
//
//go:embed web
var webFS embed.FS

type pages struct {
	layout  *page
	connect *page
	ops     *page
	problem *page
	home    *page
	static  fs.FS
}

// when is a time for people to read, "—" when there is none.
func when(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

// iso is a time for a datetime attribute, "" when there is none.
func iso(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// statusClass is the CSS class of a status.
func statusClass(s connection.Status) string { return strings.ToLower(string(s)) }

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
	parse := func(name string) (*page, error) {
		b, err := fs.ReadFile(webFS, "web/"+name)
		if err != nil {
			return nil, fmt.Errorf("httpapi: read %s: %w", name, err)
		}
		return parsePage(name, string(b))
	}
	var p pages
	var err error
	if p.layout, err = parse("layout.html"); err != nil {
		return nil, err
	}
	if p.connect, err = parse("connect.html"); err != nil {
		return nil, err
	}
	if p.ops, err = parse("ops.html"); err != nil {
		return nil, err
	}
	if p.problem, err = parse("problem.html"); err != nil {
		return nil, err
	}
	if p.home, err = parse("home.html"); err != nil {
		return nil, err
	}
	if p.static, err = fs.Sub(webFS, "web/static"); err != nil {
		return nil, fmt.Errorf("httpapi: static files: %w", err)
	}
	return &p, nil
}

// frame is what a page puts in the layout around its body.
type frame struct {
	title    string
	subtitle string // under the brand; "" for none
	wide     bool   // the wide page width
	script   string // the page's script in /static/; "" for none
}

// render fills a page and the layout around it into a buffer first, so an
// error becomes a clean 500 instead of half a page.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, body *page, status int, f frame, v vars) {
	content, err := body.execute(v)
	var doc string
	if err == nil {
		doc, err = h.pages.layout.execute(vars{
			"Title": f.title, "PartnerName": h.cfg.PartnerName, "Subtitle": f.subtitle,
			"Wide": f.wide, "Script": f.script, "Content": trustedHTML(content),
		})
	}
	if err != nil {
		h.log.ErrorContext(r.Context(), "render page", "route", r.Pattern, "error", err)
		http.Error(w, "Something went wrong on our side. Try again later.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(doc))
}

func (h *Handler) problem(w http.ResponseWriter, r *http.Request, status int, heading, msg string) {
	h.render(w, r, h.pages.problem, status, frame{title: heading}, vars{"Heading": heading, "Message": msg})
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
	case errors.Is(err, tenant.ErrInviteRevoked):
		h.problem(w, r, http.StatusUnauthorized, "This invite link was revoked",
			"The partner withdrew this link. Ask "+h.cfg.PartnerName+" for a new one.")
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
	h.render(w, r, h.pages.connect, http.StatusOK,
		frame{title: "Connect your AWS account to " + h.cfg.PartnerName, subtitle: "Connect your AWS account", script: "connect.js"},
		connectVars(v))
}

// connectVars are the values of the form: those of GET /v1/invite.
func connectVars(v inviteView) vars {
	sandboxAccount := ""
	if v.Sandbox != nil {
		sandboxAccount = v.Sandbox.AccountID
	}
	conns := make([]vars, 0, len(v.Connections))
	for _, c := range v.Connections {
		reason := ""
		if c.Status != connection.Verified {
			reason = c.Reason.Message
		}
		conns = append(conns, vars{
			"AccountID": c.AccountID, "RoleARN": c.RoleARN,
			"StatusClass": statusClass(c.Status), "StatusLabel": StatusLabel(c.Status), "Reason": reason,
			"LastCheckedISO": iso(c.LastCheckedAt), "LastChecked": when(c.LastCheckedAt),
		})
	}
	return vars{
		"TenantID": v.TenantID, "TenantName": v.TenantName, "ExternalID": v.ExternalID,
		"PartnerName": v.PartnerName, "PartnerAccountID": v.PartnerAccountID, "TrustedPrincipalARN": v.TrustedPrincipalARN,
		"RoleName": v.RoleName, "QuickCreateURL": v.QuickCreateURL, "TemplateDownload": v.TemplateDownload,
		"Terraform": v.Terraform, "CLI": v.CLI, "SandboxAccountID": sandboxAccount, "Connections": conns,
		"TrustPolicy": indentJSON(v.TrustPolicy), "PropagationSeconds": strconv.Itoa(int(v.propagation.Seconds())),
		"SelfRegistration": v.SelfRegistration,
	}
}

// indentJSON is a JSON document indented for reading, "" for none.
func indentJSON(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var b bytes.Buffer
	if err := json.Indent(&b, raw, "", "  "); err != nil {
		return string(raw)
	}
	return b.String()
}

// apiPointer is GET / without the local pages (Lambda): where the API is.
type apiPointer struct {
	Service string            `json:"service"`
	Message string            `json:"message"`
	Routes  map[string]string `json:"routes"`
}

// home is GET /: in serve, a page linking the form and the ops page; in
// Lambda, a JSON pointer to the API instead of a bare 404.
func (h *Handler) home(w http.ResponseWriter, r *http.Request) {
	if !h.cfg.OpsPage {
		writeJSON(w, http.StatusOK, apiPointer{
			Service: "rolecall",
			Message: "RoleCall's API. Customers open the invite link their partner sent (/connect?invite=…); operators call the /v1 operations routes with SigV4.",
			Routes: map[string]string{
				"form":        "GET /connect?invite=CODE",
				"invite":      "GET /v1/invite (Authorization: Invite CODE)",
				"submit":      "POST /v1/connections (Authorization: Invite CODE)",
				"connections": "GET /v1/connections?status=STATUS (operations, SigV4)",
				"tenants":     "POST /v1/tenants (operations, SigV4)",
			},
		})
		return
	}
	// The demo invite is a credential for the demo tenant: only a browser
	// on this machine gets it, never one reaching a public serve.
	demo := ""
	if fromLoopback(r) {
		demo = h.cfg.DemoInviteURL
	}
	h.render(w, r, h.pages.home, http.StatusOK,
		frame{title: "RoleCall", subtitle: "Running locally"},
		vars{"DemoInviteURL": demo, "Sandbox": h.cfg.Sandbox != nil, "PartnerName": h.cfg.PartnerName})
}

// fromLoopback reports whether the request's peer is this machine and it
// asked for a loopback host (a proxy on this machine forwarding a public
// name is not a local browser).
func fromLoopback(r *http.Request) bool {
	return loopbackHost(r.RemoteAddr) && loopbackHost(r.Host)
}

func loopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// opsPage is the local operations view. The page itself holds no data; its
// script asks for the ops token once and calls the ops routes with it.
func (h *Handler) opsPage(w http.ResponseWriter, r *http.Request) {
	statuses := make([]vars, 0, len(connection.Statuses))
	for _, s := range connection.Statuses {
		statuses = append(statuses, vars{"Status": string(s), "Class": statusClass(s)})
	}
	h.render(w, r, h.pages.ops, http.StatusOK,
		frame{title: "RoleCall operations", subtitle: "Operations", wide: true, script: "ops.js"},
		vars{
			"PartnerAccountID": h.cfg.PartnerAccountID, "TrustedPrincipalARN": h.cfg.TrustedPrincipalARN,
			"EventSource": h.cfg.EventSource, "Statuses": statuses,
			"Events": h.cfg.Events != nil, "Sweeps": h.cfg.Sweeper != nil,
		})
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
