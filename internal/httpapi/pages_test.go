package httpapi

import (
	"context"
	"io/fs"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rolecall/rolecall/internal/connection"
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

func TestConnectPage(t *testing.T) {
	e := newEnv(t)
	tn, err := e.svc.CreateTenant(context.Background(), "evil", `Evil <script>alert(1)</script> "Corp"`)
	if err != nil {
		t.Fatal(err)
	}
	code := e.invite("evil")
	if w := e.do(req{method: "POST", path: "/v1/connections", body: `{"roleArn":"` + customerRole + `"}`, auth: "Invite " + code}); w.Code != 202 {
		t.Fatalf("submit: %d", w.Code)
	}
	w := e.do(req{method: "GET", path: "/connect?invite=" + code})
	body := w.Body.String()
	if w.Code != 200 || w.Header().Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("form: %d %v", w.Code, w.Header())
	}
	for _, want := range []string{
		`value="` + tn.ExternalID + `"`, partnerAcct, principalARN, "Acme Cloud",
		`Evil &lt;script&gt;alert(1)&lt;/script&gt; &#34;Corp&#34;`,
		`id="quick-create"`, `rel="noopener noreferrer"`, `target="_blank"`,
		`role="tablist"`, `aria-controls="panel-tf"`, `<label for="role-arn">`, `<label for="external-id">`,
		`id="sandbox-create"`, `id="download-template"`, customerAcct, "Verifying",
		`<script src="/static/connect.js" defer></script>`, `<meta name="viewport"`, `lang="en"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("form lacks %q", want)
		}
	}
	if strings.Contains(body, "<script>alert") {
		t.Error("tenant name not escaped")
	}
	if m := inlineCode(body); m != "" {
		t.Errorf("form has inline code the CSP would block: %q", m)
	}
}

func TestConnectPageWithoutSandboxOrQuickCreate(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Sandbox = nil; c.Setup = noQuickCreate{fakeSetup{}} })
	e.tenant("a")
	w := e.do(req{method: "GET", path: "/connect?invite=" + e.invite("a")})
	body := w.Body.String()
	if w.Code != 200 || strings.Contains(body, `id="sandbox-create"`) || strings.Contains(body, `id="quick-create"`) || !strings.Contains(body, `id="download-template"`) {
		t.Fatalf("form: %d\n%s", w.Code, body)
	}
}

type noQuickCreate struct{ fakeSetup }

func (n noQuickCreate) Guide(t tenant.Tenant) (Guide, error) {
	g, err := n.fakeSetup.Guide(t)
	g.QuickCreateURL = ""
	return g, err
}

func TestConnectPageProblems(t *testing.T) {
	e := newEnv(t)
	e.tenant("a")
	expired, _, err := (&onboarding.Service{Store: e.st, InviteTTL: time.Minute, Now: func() time.Time { return e.now.Add(-time.Hour) }}).CreateInvite(context.Background(), "a")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, query string
		status      int
		heading     string
	}{
		{"missing", "", 401, "An invite link is needed"},
		{"empty", "?invite=", 401, "An invite link is needed"},
		{"garbage", "?invite=%3Cscript%3E", 404, "This invite link is not valid"},
		{"unknown", "?invite=" + strings.Repeat("b", 39), 404, "This invite link is not valid"},
		{"expired", "?invite=" + expired, 401, "This invite link has expired"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := e.do(req{method: "GET", path: "/connect" + tt.query})
			body := w.Body.String()
			if w.Code != tt.status || !strings.Contains(body, tt.heading) || w.Header().Get("Content-Type") != "text/html; charset=utf-8" {
				t.Fatalf("%d %q\n%s", w.Code, w.Header().Get("Content-Type"), body)
			}
			if strings.Contains(body, "<script>") || strings.Contains(body, "goroutine") || strings.Contains(body, "INVALID_INVITE") {
				t.Errorf("problem page leaks: %s", body)
			}
		})
	}
}

func TestOpsPage(t *testing.T) {
	e := newEnv(t)
	w := e.do(req{method: "GET", path: "/ops"})
	body := w.Body.String()
	if w.Code != 200 {
		t.Fatalf("ops: %d", w.Code)
	}
	for _, want := range []string{`<label for="ops-token">`, `type="password"`, `id="events"`, `id="sweep-all"`, `data-count="ACCESS_LOST"`, `/static/ops.js`} {
		if !strings.Contains(body, want) {
			t.Errorf("ops page lacks %q", want)
		}
	}
	if strings.Contains(body, testToken) {
		t.Error("ops page embeds the token")
	}
	if m := inlineCode(body); m != "" {
		t.Errorf("ops page has inline code: %q", m)
	}
}

func TestStaticFiles(t *testing.T) {
	e := newEnv(t)
	tests := []struct{ path, ctype string }{
		{"/static/app.css", "text/css; charset=utf-8"},
		{"/static/connect.js", "text/javascript; charset=utf-8"},
		{"/static/ops.js", "text/javascript; charset=utf-8"},
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

func TestStatusLabel(t *testing.T) {
	for s, want := range map[string]string{"PENDING": "Verifying", "VERIFIED": "Connected", "FAILED": "Failed", "ACCESS_LOST": "Access lost", "DISCONNECTED": "Disconnected", "X": "X"} {
		if got := StatusLabel(connection.Status(s)); got != want {
			t.Errorf("StatusLabel(%s) = %q, want %q", s, got, want)
		}
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
