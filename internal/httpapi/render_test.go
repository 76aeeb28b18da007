package httpapi

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/rolecall/rolecall/internal/connection"
)

func TestRender(t *testing.T) {
	const hostile = `<script>"'&`
	tests := []struct {
		name, src string
		v         vars
		want      string
	}{
		{"text", `<p>{{X}}</p>`, vars{"X": hostile}, `<p>&lt;script&gt;&#34;&#39;&amp;</p>`},
		{"attribute", `<input value="{{X}}">`, vars{"X": hostile}, `<input value="&lt;script&gt;&#34;&#39;&amp;">`},
		{"attribute after others", `<a class="c" title="a {{X}}">`, vars{"X": `" onclick="x()`}, `<a class="c" title="a &#34; onclick=&#34;x()">`},
		{"title element", `<title>{{X}}</title>`, vars{"X": "</title><script>"}, `<title>&lt;/title&gt;&lt;script&gt;</title>`},
		{"script src", `<script src="/static/{{X}}" defer></script>`, vars{"X": "a.js"}, `<script src="/static/a.js" defer></script>`},
		{"https URL", `<a href="{{X}}">`, vars{"X": "https://e.example/?a=1&b=2"}, `<a href="https://e.example/?a=1&amp;b=2">`},
		{"relative URL", `<a href="{{X}}">`, vars{"X": "/v1/x?y=z:w"}, `<a href="/v1/x?y=z:w">`},
		{"javascript URL", `<a href="{{X}}">`, vars{"X": " JavaScript:alert(1)"}, `<a href="#ZgotmplZ">`},
		{"data URL in data-href", `<b data-href="{{X}}">`, vars{"X": "data:text/html,x"}, `<b data-href="#ZgotmplZ">`},
		{"trusted HTML", `<main>{{X}}</main>`, vars{"X": trustedHTML("<p>ok</p>")}, `<main><p>ok</p></main>`},
		{"if set", `{{if X}}yes{{else}}no{{end}}`, vars{"X": "x"}, `yes`},
		{"if empty", `{{if X}}yes{{else}}no{{end}}`, vars{"X": ""}, `no`},
		{"if false", `{{if X}}yes{{end}}`, vars{"X": false}, ``},
		{"if true", `{{if X}}yes{{end}}`, vars{"X": true}, `yes`},
		{"if not empty list", `<p{{if not X}} hidden{{end}}>`, vars{"X": []vars{}}, `<p hidden>`},
		{"nested if", `{{if A}}a{{if B}}b{{else}}c{{end}}{{end}}`, vars{"A": true, "B": ""}, `ac`},
		{"range", `<ul>{{range L}}<li class="{{C}}">{{T}}</li>{{end}}</ul>`, vars{"L": []vars{{"C": "a", "T": "<1>"}, {"C": `"`, "T": "2"}}},
			`<ul><li class="a">&lt;1&gt;</li><li class="&#34;">2</li></ul>`},
		{"no actions", `<p>{ x }</p>`, vars{}, `<p>{ x }</p>`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := parsePage(tt.name, tt.src)
			if err != nil {
				t.Fatal(err)
			}
			got, err := p.execute(tt.v)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestParsePageRefuses(t *testing.T) {
	tests := []struct{ name, src, want string }{
		{"script element", `<script>var x = "{{X}}";</script>`, "in a script element"},
		{"script element with attributes", `<script type="module">{{X}}</script>`, "in a script element"},
		{"style element", `<style>p { color: {{X}} }</style>`, "in a style element"},
		{"event handler", `<a onclick="go('{{X}}')">`, "in the onclick attribute"},
		{"style attribute", `<p style="color: {{X}}">`, "in the style attribute"},
		{"unquoted attribute", `<input value={{X}}>`, "not in a double-quoted attribute value"},
		{"single-quoted attribute", `<input value='{{X}}'>`, "not in a double-quoted attribute value"},
		{"attribute name", `<input {{X}}>`, "not in a double-quoted attribute value"},
		{"comment", `<!-- {{X}} -->`, "in a comment"},
		{"Go template syntax", `<p>{{.X}}</p>`, "unknown action"},
		{"template call", `{{template "x" .}}`, "unknown action"},
		{"pipeline", `{{X | html}}`, "unknown action"},
		{"unclosed action", `<p>{{X</p>`, "unclosed {{"},
		{"stray close", `<p>X}}</p>`, "stray }}"},
		{"if without end", `{{if X}}x`, "without {{end}}"},
		{"range without end", `{{range X}}x{{else}}y{{end}}`, "without {{end}}"},
		{"end without if", `x{{end}}`, "without {{if}}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parsePage(tt.name, tt.src)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("parsePage(%q) = %v, want an error containing %q", tt.src, err, tt.want)
			}
		})
	}
}

func TestExecuteErrors(t *testing.T) {
	tests := []struct {
		name, src string
		v         vars
		want      string
	}{
		{"missing value", `<p>{{X}}</p>`, vars{}, "no value for X"},
		{"missing in range item", `{{range L}}{{X}}{{end}}`, vars{"L": []vars{{}}, "X": "outer"}, "no value for X"},
		{"value not a string", `<p>{{X}}</p>`, vars{"X": 1}, "not a string"},
		{"HTML in an attribute", `<p title="{{X}}">`, vars{"X": trustedHTML("<b>")}, "HTML X in an attribute"},
		{"if on a number", `{{if X}}x{{end}}`, vars{"X": 1}, "{{if X}} on a int"},
		{"range on a string", `{{range X}}x{{end}}`, vars{"X": "s"}, "{{range X}} on a string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := parsePage(tt.name, tt.src)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := p.execute(tt.v); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("execute = %q, %v, want an error containing %q", got, err, tt.want)
			}
		})
	}
}

// TestConnectPageEscapes fills the real form with hostile values in every
// place the API lets a tenant or a setup put text.
func TestConnectPageEscapes(t *testing.T) {
	p, err := loadPages()
	if err != nil {
		t.Fatal(err)
	}
	const hostile, escaped = `<script>"'&`, `&lt;script&gt;&#34;&#39;&amp;`
	v := inviteView{
		TenantID: "t1", TenantName: hostile, ExternalID: `x" autofocus onfocus="alert(1)`, PartnerName: "Acme",
		PartnerAccountID: "111122223333", TrustedPrincipalARN: "arn:aws:iam::111122223333:role/p",
		RoleName: hostile, QuickCreateURL: "javascript:alert(1)", TemplateDownload: "/v1/invite/template",
		Terraform: "</code></pre>" + hostile, CLI: "aws iam create-role",
		Connections: []connection.Connection{
			{AccountID: "222233334444", RoleARN: "arn:aws:iam::222233334444:role/r", Status: connection.Failed,
				Reason: connection.Reason{Message: hostile}, LastCheckedAt: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)},
			{AccountID: "333344445555", RoleARN: "arn:aws:iam::333344445555:role/r", Status: connection.Verified,
				Reason: connection.Reason{Message: "stale reason"}},
		},
	}
	body, err := p.connect.execute(connectVars(v))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"<h1>Connect " + escaped + " to Acme</h1>",
		"<dd>" + escaped + ` <span class="muted">(t1)</span></dd>`,
		`value="x&#34; autofocus onfocus=&#34;alert(1)"`,
		`placeholder="arn:aws:iam::111122223333:role/` + escaped + `"`,
		`<code>` + escaped + `</code>,`,
		`href="#ZgotmplZ"`,
		`<code>&lt;/code&gt;&lt;/pre&gt;` + escaped + `</code>`,
		`<span class="chip failed">Failed</span><br><span class="muted small">` + escaped + `</span>`,
		`<time datetime="2025-01-02T03:04:05Z">2025-01-02 03:04:05 UTC</time>`,
		`<span class="chip verified">Connected</span></td>`,
		`<time datetime="">—</time>`,
		`<p id="conns-empty" class="muted" hidden>None yet.</p>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("form lacks %s", want)
		}
	}
	for _, bad := range []string{"<script>", "stale reason", `id="sandbox-create"`, "javascript:"} {
		if strings.Contains(body, bad) {
			t.Errorf("form has %s", bad)
		}
	}
}

// TestNoTemplateInLambda keeps text/template and html/template out of the
// API Lambda: text/template's executor makes the linker keep every exported
// method of the AWS SDK clients (several megabytes). The tags are those of
// the Lambda build (see the Makefile); without lambda.norpc, aws-lambda-go
// imports net/rpc, which imports html/template.
func TestNoTemplateInLambda(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("go is not on PATH")
		}
		t.Skip("go is not on PATH")
	}
	for _, pkg := range []string{"github.com/rolecall/rolecall/functions/api", "github.com/rolecall/rolecall/internal/httpapi"} {
		out, err := exec.Command("go", "list", "-tags", "lambda.norpc", "-deps", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
		}
		deps := strings.Fields(string(out))
		if len(deps) < 10 {
			t.Fatalf("go list -deps %s listed only %q", pkg, deps)
		}
		for _, d := range deps {
			if d == "text/template" || d == "html/template" {
				t.Errorf("%s depends on %s", pkg, d)
			}
		}
	}
}
