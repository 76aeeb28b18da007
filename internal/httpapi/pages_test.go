package httpapi

import (
	"context"
	"io/fs"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rolecall/rolecall/internal/onboarding"
	"github.com/rolecall/rolecall/internal/tenant"
)

// inlineCode returns what a CSP without 'unsafe-inline' would block:
// scripts without src, event-handler attributes, style attributes and
// elements, and javascript: URLs.
func inlineCode(html string) string {
	for _, tag := range regexp.MustCompile(`(?i)<script[^>]*>`).FindAllString(html, -1) {
		if !strings.Contains(tag, ` src="/static/`) {
			return tag
		}
	}
	return regexp.MustCompile(`(?i)\son[a-z]+\s*=|\sstyle\s*=|<style|javascript:`).FindString(html)
}

// TestPagesAreStatic: every page is its embedded file as is, whatever the
// request carries, with no inline code for the CSP to block, no data of a
// tenant and no credential; its scripts are the shared page.js and its own.
func TestPagesAreStatic(t *testing.T) {
	e := newEnv(t)
	tn := e.tenant("a")
	code := e.invite("a")
	tests := []struct {
		name, path, file, script string
	}{
		{"form", "/connect?invite=" + code, "connect.html", "connect.js"},
		{"form without an invite", "/connect", "connect.html", "connect.js"},
		{"form with a hostile invite", "/connect?invite=%3Cscript%3Ealert(1)%3C%2Fscript%3E", "connect.html", "connect.js"},
		{"ops page", "/ops", "ops.html", "ops.js"},
		{"home page", "/", "home.html", "home.js"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := e.do(req{method: "GET", path: tt.path, accept: "text/html,application/xhtml+xml,*/*;q=0.8"})
			want := map[string][]byte{"connect.html": e.h.pages.connect, "ops.html": e.h.pages.ops, "home.html": e.h.pages.home}[tt.file]
			body := w.Body.String()
			if w.Code != 200 || w.Header().Get("Content-Type") != "text/html; charset=utf-8" || len(want) == 0 || body != string(want) {
				t.Fatalf("%d %q, the body is not the page of %s", w.Code, w.Header().Get("Content-Type"), tt.file)
			}
			for _, s := range []string{`<script src="/static/page.js" defer></script>`, `<script src="/static/` + tt.script + `" defer></script>`, `<meta name="viewport"`, `lang="en"`} {
				if !strings.Contains(body, s) {
					t.Errorf("lacks %q", s)
				}
			}
			for _, secret := range []string{tn.ExternalID, code, testToken, "<script>alert"} {
				if strings.Contains(body, secret) {
					t.Errorf("carries %q", secret)
				}
			}
			if m := inlineCode(body); m != "" {
				t.Errorf("has inline code the CSP would block: %q", m)
			}
			if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self';") || strings.Contains(csp, "unsafe-inline") {
				t.Errorf("CSP %q", csp)
			}
		})
	}
}

// TestPageShell: each page is web/page.html around its own markup, as
// is, with its own title, subtitle, width and script, and no marker of the
// shell left.
func TestPageShell(t *testing.T) {
	p, err := loadPages()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		doc                                  []byte
		file, title, subtitle, class, script string
	}{
		{p.connect, "connect.html", "Connect your AWS account", "Connect your AWS account", "wrap", "connect.js"},
		{p.ops, "ops.html", "RoleCall operations", "Operations", "wrap wide", "ops.js"},
		{p.home, "home.html", "RoleCall", "Running locally", "wrap", "home.js"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			main, err := fs.ReadFile(webFS, "web/"+tt.file)
			if err != nil {
				t.Fatal(err)
			}
			doc := string(tt.doc)
			if !strings.HasPrefix(doc, "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n") {
				t.Errorf("does not start as an HTML document: %.80q", doc)
			}
			for _, s := range []string{
				"\n<title>" + tt.title + "</title>\n",
				"\n<body data-subtitle=\"" + tt.subtitle + "\">\n",
				"\n<main id=\"main\" class=\"" + tt.class + "\" tabindex=\"-1\">\n" + string(main) + "</main>\n" +
					"<script src=\"/static/page.js\" defer></script>\n<script src=\"/static/" + tt.script + "\" defer></script>\n</body>\n</html>\n",
			} {
				if !strings.Contains(doc, s) {
					t.Errorf("lacks %.120q", s)
				}
			}
			if n := strings.Count(doc, "<main"); n != 1 {
				t.Errorf("%d main elements", n)
			}
			if m := regexp.MustCompile(`\{[a-z-]+\}`).FindString(doc); m != "" {
				t.Errorf("the shell's marker %s is left", m)
			}
		})
	}
}

// TestFormData: GET /v1/invite is everything the form shows, a hostile
// tenant name included as data (the browser test shows it renders as
// text), and each way the invite link fails is a code the form's script
// turns into its explanation.
func TestFormData(t *testing.T) {
	e := newEnv(t)
	const name = `Evil <script>alert(1)</script> "Corp"`
	tn, err := e.svc.CreateTenant(context.Background(), "evil", name)
	if err != nil {
		t.Fatal(err)
	}
	code := e.invite("evil")
	if w := e.do(submitAs(code, customerRole)); w.Code != 202 {
		t.Fatalf("submit: %d %s", w.Code, w.Body)
	}
	v := decode[inviteView](t, e.do(req{method: "GET", path: "/v1/invite", auth: "Invite " + code}))
	if v.TenantName != name || v.ExternalID != tn.ExternalID || v.PartnerName != "Acme Cloud" || v.PartnerAccountID != partnerAcct ||
		v.TrustedPrincipalARN != principalARN || v.QuickCreateURL == "" || v.TemplateDownload != "/v1/invite/template" ||
		v.Terraform == "" || v.CLI == "" || v.Sandbox == nil || len(v.TrustPolicy) == 0 || len(v.Connections) != 1 || v.Connections[0].AccountID != customerAcct {
		t.Fatalf("the form's data: %+v", v)
	}

	noExtras := newEnv(t, func(c *Config) { c.Sandbox = nil; c.Setup = noQuickCreate{fakeSetup{}} })
	noExtras.tenant("a")
	v = decode[inviteView](t, noExtras.do(req{method: "GET", path: "/v1/invite", auth: "Invite " + noExtras.invite("a")}))
	if v.Sandbox != nil || v.QuickCreateURL != "" || v.TemplateDownload == "" {
		t.Fatalf("without a sandbox or a template URL: %+v", v)
	}

	e.tenant("a")
	expired, _, err := (&onboarding.Service{Store: e.st, InviteTTL: time.Minute, Now: func() time.Time { return e.now.Add(-time.Hour) }}).CreateInvite(context.Background(), "a")
	if err != nil {
		t.Fatal(err)
	}
	revoked := e.createInvite(t, "a")
	if w := e.do(ops("DELETE", "/v1/tenants/a/invites/"+revoked.InviteID, "")); w.Code != 200 {
		t.Fatalf("revoke: %d %s", w.Code, w.Body)
	}
	script, err := fs.ReadFile(webFS, "web/static/connect.js")
	if err != nil {
		t.Fatal(err)
	}
	problems := []rejection{
		{"no invite", req{method: "GET", path: "/v1/invite"}, 401, CodeUnauthenticated, ""},
		{"garbage", req{method: "GET", path: "/v1/invite", auth: "Invite <script>"}, 401, tenant.CodeInvalidInvite, ""},
		{"unknown", req{method: "GET", path: "/v1/invite", auth: "Invite " + strings.Repeat("b", 39)}, 401, tenant.CodeInvalidInvite, ""},
		{"expired", req{method: "GET", path: "/v1/invite", auth: "Invite " + expired}, 401, tenant.CodeInviteExpired, ""},
		{"revoked", req{method: "GET", path: "/v1/invite", auth: "Invite " + revoked.Code}, 401, tenant.CodeInviteRevoked, ""},
	}
	e.wantRefusals(t, problems)
	// The form explains each of them (without an invite it asks for the link).
	for _, p := range problems[1:] {
		if !strings.Contains(string(script), "\n    "+p.code+": [") {
			t.Errorf("connect.js does not explain %s", p.code)
		}
	}
}

type noQuickCreate struct{ fakeSetup }

func (n noQuickCreate) Guide(t tenant.Tenant) (Guide, error) {
	g, err := n.fakeSetup.Guide(t)
	g.QuickCreateURL = ""
	return g, err
}

func TestStaticFiles(t *testing.T) {
	e := newEnv(t)
	tests := []struct{ path, ctype string }{
		{"/static/app.css", "text/css; charset=utf-8"},
		{"/static/connect.js", "text/javascript; charset=utf-8"},
		{"/static/ops.js", "text/javascript; charset=utf-8"},
		{"/static/page.js", "text/javascript; charset=utf-8"},
		{"/static/home.js", "text/javascript; charset=utf-8"},
	}
	for _, tt := range tests {
		w := e.do(req{method: "GET", path: tt.path})
		if w.Code != 200 || w.Header().Get("Content-Type") != tt.ctype || w.Body.Len() < 100 {
			t.Errorf("%s: %d %q", tt.path, w.Code, w.Header().Get("Content-Type"))
		}
	}
	// Scripts build the DOM with textContent, never from strings of HTML.
	err := fs.WalkDir(webFS, "web/static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".js") {
			return err
		}
		b, err := fs.ReadFile(webFS, p)
		if err != nil {
			return err
		}
		for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"} {
			if strings.Contains(string(b), bad) {
				t.Errorf("%s uses %s", p, bad)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestInlineCodeDetector(t *testing.T) {
	for _, bad := range []string{`<script>x()</script>`, `<script type="module">`, `<a onclick="x()">`, `<p style="color:red">`, `<style>p{}</style>`, `<a href="javascript:x()">`} {
		if inlineCode(bad) == "" {
			t.Errorf("inlineCode missed %q", bad)
		}
	}
	if got := inlineCode(`<script src="/static/connect.js" defer></script><p class="x">on time</p>`); got != "" {
		t.Errorf("inlineCode flagged clean HTML: %q", got)
	}
}

// TestAPIBinaryLinksNoTemplateEngine: the API Lambda does not depend on
// text/template (nor html/template, built on it), whose reflection by
// method name keeps every method of every type in the binary and takes it
// past its size budget.
func TestAPIBinaryLinksNoTemplateEngine(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-tags", "lambda.norpc", "github.com/rolecall/rolecall/functions/api").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 || !slices.Contains(deps, "github.com/rolecall/rolecall/internal/httpapi") {
		t.Fatalf("go list -deps gave no dependency list: %q", out)
	}
	for _, bad := range []string{"text/template", "html/template"} {
		if slices.Contains(deps, bad) {
			t.Errorf("functions/api depends on %s", bad)
		}
	}
}
