package rolesetup

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
	"gopkg.in/yaml.v3"

	"github.com/rolecall/rolecall/infra"
	"github.com/rolecall/rolecall/internal/yamlnode"
)

const (
	extID     = "rc-ABCDEFGHIJKLMNOPQRSTUVWXYZ234567ABCD"
	principal = "arn:aws:iam::111122223333:role/RoleCallVerifier"
	s3URL     = "https://partner-templates.s3.us-east-1.amazonaws.com/rolecall/customer-role.yaml"
)

func params() Params {
	return Params{ExternalID: extID, TrustedPrincipalARN: principal, TemplateURL: s3URL}
}

func TestTrustPolicyFromTemplate(t *testing.T) {
	doc, err := TrustPolicy(extID, principal)
	if err != nil {
		t.Fatal(err)
	}
	var got any
	if err := json.Unmarshal(doc, &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, doc)
	}
	var want any
	_ = json.Unmarshal([]byte(`{"Version":"2012-10-17","Statement":[{"Sid":"TrustPartnerWithExternalId","Effect":"Allow",
		"Principal":{"AWS":"`+principal+`"},"Action":"sts:AssumeRole",
		"Condition":{"StringEquals":{"sts:ExternalId":"`+extID+`"}}}]}`), &want)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("trust policy:\n%s\nwant %v", doc, want)
	}
	// Key order is the template's.
	if i, j := bytes.Index(doc, []byte(`"Version"`)), bytes.Index(doc, []byte(`"Statement"`)); i < 0 || j < i {
		t.Errorf("key order lost:\n%s", doc)
	}
	// Customer roles trust the partner access role, never the partner's
	// whole account.
	if _, err := TrustPolicy(extID, "arn:aws:iam::111122223333:root"); !errors.Is(err, &Error{Code: CodeInvalidPrincipal}) {
		t.Errorf("root principal: %v", err)
	}
}

func TestTrustPolicyRejects(t *testing.T) {
	tests := []struct {
		ext, principal, code string
	}{
		{"x", principal, CodeInvalidExternalID},
		{"has space", principal, CodeInvalidExternalID},
		{strings.Repeat("a", 1225), principal, CodeInvalidExternalID},
		{extID, "arn:aws:iam::111122223333:user/bob", CodeInvalidPrincipal},
		{extID, "arn:aws:iam::1111:root", CodeInvalidPrincipal},
		{extID, "arn:aws:iam::111122223333:root", CodeInvalidPrincipal},
		{extID, "111122223333", CodeInvalidPrincipal},
		{extID, "arn:aws:iam::111122223333:root ", CodeInvalidPrincipal},
	}
	for _, tt := range tests {
		_, err := TrustPolicy(tt.ext, tt.principal)
		if !errors.Is(err, &Error{Code: tt.code}) {
			t.Errorf("TrustPolicy(%.20q, %q) = %v, want %s", tt.ext, tt.principal, err, tt.code)
		}
	}
}

// TestTrustPolicyIntrinsics evaluates the templates testdata/intrinsics.yaml
// lists: the intrinsic functions the evaluation resolves and the templates
// it refuses.
func TestTrustPolicyIntrinsics(t *testing.T) {
	const head = "Parameters:\n  ExternalId: {Type: String}\n  TrustedPrincipalArn: {Type: String}\n  Extra: {Type: String, Default: extra-value}\n  NoDefault: {Type: String}\n"
	data, err := os.ReadFile(filepath.Join("testdata", "intrinsics.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var tests []struct {
		Name, Template, Want, Err string
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&tests); err != nil {
		t.Fatalf("intrinsics.yaml: %v", err)
	}
	if len(tests) == 0 {
		t.Fatal("intrinsics.yaml has no cases")
	}
	for _, tt := range tests {
		t.Run(tt.Name, func(t *testing.T) {
			if (tt.Want == "") == (tt.Err == "") {
				t.Fatalf("case %q wants exactly one of want and err", tt.Name)
			}
			doc, err := templateTrustPolicy([]byte(head+tt.Template), "X1", "arn:aws:iam::111122223333:role/P")
			if tt.Err != "" {
				if !errors.Is(err, ErrTemplate) || !strings.Contains(err.Error(), tt.Err) {
					t.Fatalf("error %v, want ErrTemplate mentioning %q", err, tt.Err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want, err := canonicalJSON([]byte(tt.Want))
			if err != nil {
				t.Fatalf("want: %v", err)
			}
			if !bytes.Equal(doc, want) {
				t.Errorf("got  %s\nwant %s", doc, want)
			}
		})
	}
}

func TestTemplateForDownload(t *testing.T) {
	tests := []struct {
		principal, managedPolicy string
	}{
		{principal, "arn:aws:iam::aws:policy/job-function/ViewOnlyAccess"},
		{"arn:aws-cn:iam::111122223333:role/rolecall-prod-access", "arn:aws-cn:iam::aws:policy/job-function/ViewOnlyAccess"},
	}
	for _, tt := range tests {
		t.Run(tt.principal, func(t *testing.T) {
			tpl, err := Template(Params{ExternalID: extID, TrustedPrincipalARN: tt.principal, TenantID: "acme"})
			if err != nil {
				t.Fatal(err)
			}
			var doc yaml.Node
			if err := yaml.Unmarshal(tpl, &doc); err != nil {
				t.Fatalf("rendered template does not parse: %v", err)
			}
			ps := yamlnode.Mapping(yamlnode.Root(&doc), "Parameters")
			for name, want := range map[string]string{
				infra.ParamExternalID:          extID,
				infra.ParamTrustedPrincipalARN: tt.principal,
				infra.ParamRoleName:            DefaultRoleName(infra.DefaultRoleNamePrefix, tt.principal, "acme"),
				infra.ParamManagedPolicyARNs:   tt.managedPolicy,
			} {
				if d := yamlnode.Value(yamlnode.Mapping(ps, name), "Default"); d == nil || d.Value != want {
					t.Errorf("default of %s = %v, want %q", name, d, want)
				}
			}
			// Only the edited lines differ from the source: the two inserted
			// defaults, the role name's, and outside "aws" the managed
			// policy's partition.
			src := strings.Split(string(infra.CustomerRoleTemplate()), "\n")
			var kept []string
			inserted := 0
			for _, l := range strings.Split(string(tpl), "\n") {
				if l == `    Default: "`+extID+`"` || l == `    Default: "`+tt.principal+`"` {
					inserted++
					continue
				}
				kept = append(kept, l)
			}
			if inserted != 2 || len(kept) != len(src) {
				t.Fatalf("%d defaults inserted, %d lines kept of %d", inserted, len(kept), len(src))
			}
			changed := 0
			for i := range src {
				if src[i] != kept[i] {
					changed++
				}
			}
			if want := map[bool]int{true: 1, false: 2}[tt.principal == principal]; changed != want {
				t.Errorf("%d source lines changed, want %d", changed, want)
			}
			// The downloaded template creates the same trust policy.
			fromDownload, err := templateTrustPolicy(tpl, extID, tt.principal)
			if err != nil {
				t.Fatal(err)
			}
			direct, _ := TrustPolicy(extID, tt.principal)
			if direct, _ = canonicalJSON(direct); !bytes.Equal(fromDownload, direct) {
				t.Errorf("downloaded template's policy differs:\n%s\n%s", fromDownload, direct)
			}
		})
	}
	if _, err := Template(Params{ExternalID: "x", TrustedPrincipalARN: principal}); !errors.Is(err, &Error{Code: CodeInvalidExternalID}) {
		t.Errorf("Template with a bad external ID: %v", err)
	}
}

// TestQuickCreateURL: the link opens the partition's console with every
// parameter percent-encoded, and outside the commercial partition passes
// ManagedPolicyArns in the principal's partition (the published
// template's default is of the aws partition).
func TestQuickCreateURL(t *testing.T) {
	tricky := "https://partner-templates.s3.eu-west-1.amazonaws.com/a b/c&d=e+f'%25.yaml"
	tests := []struct {
		name     string
		p        Params
		host     string
		template string
		policies string // param_ManagedPolicyArns; "": none
	}{
		{"plain", params(), "console.aws.amazon.com", s3URL, ""},
		{"escaping", Params{ExternalID: "rc-a+b=c,d.e@f:g/h", TrustedPrincipalARN: principal, TemplateURL: tricky, Region: "eu-west-1", StackName: "RoleCall-acme", RoleName: "Role+Call=1"}, "console.aws.amazon.com", tricky, ""},
		{"china", Params{ExternalID: extID, TrustedPrincipalARN: "arn:aws-cn:iam::111122223333:role/rolecall-prod-access", TemplateURL: "https://b.s3.cn-north-1.amazonaws.com.cn/t.yaml", Region: "cn-north-1"}, "console.amazonaws.cn", "https://b.s3.cn-north-1.amazonaws.com.cn/t.yaml",
			"arn:aws-cn:iam::aws:policy/job-function/ViewOnlyAccess"},
		{"govcloud", Params{ExternalID: extID, TrustedPrincipalARN: "arn:aws-us-gov:iam::111122223333:role/V", TemplateURL: "https://s3.us-gov-west-1.amazonaws.com/b/t.yaml", Region: "us-gov-west-1"}, "console.amazonaws-us-gov.com", "https://s3.us-gov-west-1.amazonaws.com/b/t.yaml",
			"arn:aws-us-gov:iam::aws:policy/job-function/ViewOnlyAccess"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			link, err := QuickCreateURL(tt.p)
			if err != nil {
				t.Fatal(err)
			}
			if strings.ContainsAny(link, " '+\"<>") {
				t.Errorf("link has unescaped characters: %s", link)
			}
			u, err := url.Parse(link)
			if err != nil {
				t.Fatal(err)
			}
			p, _ := tt.p.normalized()
			if u.Scheme != "https" || u.Host != tt.host || u.Path != "/cloudformation/home" || u.Query().Get("region") != p.Region {
				t.Errorf("link = %s", link)
			}
			route, query, ok := strings.Cut(u.EscapedFragment(), "?")
			if !ok || route != "/stacks/quickcreate" {
				t.Fatalf("fragment = %q", u.Fragment)
			}
			// The console decodes the fragment's query as decodeURIComponent
			// does; url.PathUnescape is that (no '+' → space).
			got := map[string]string{}
			for _, kv := range strings.Split(query, "&") {
				k, v, _ := strings.Cut(kv, "=")
				dv, err := url.PathUnescape(v)
				if err != nil {
					t.Fatalf("%s: %v", kv, err)
				}
				got[k] = dv
			}
			want := map[string]string{
				"templateURL": tt.template, "stackName": p.StackName,
				"param_ExternalId": p.ExternalID, "param_TrustedPrincipalArn": p.TrustedPrincipalARN, "param_RoleName": p.RoleName,
			}
			if tt.policies != "" {
				want["param_"+infra.ParamManagedPolicyARNs] = tt.policies
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("parameters = %v\nwant %v", got, want)
			}
		})
	}
}

func TestParamsRejected(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Params)
		code string
	}{
		{"http template", func(p *Params) { p.TemplateURL = "http://b.s3.amazonaws.com/t.yaml" }, CodeInvalidTemplate},
		{"not S3", func(p *Params) { p.TemplateURL = "https://example.com/t.yaml" }, CodeInvalidTemplate},
		{"S3 look-alike", func(p *Params) { p.TemplateURL = "https://s3.amazonaws.com.evil.example/t.yaml" }, CodeInvalidTemplate},
		{"no object", func(p *Params) { p.TemplateURL = "https://b.s3.amazonaws.com/" }, CodeInvalidTemplate},
		{"credentials in URL", func(p *Params) { p.TemplateURL = "https://u:p@b.s3.amazonaws.com/t.yaml" }, CodeInvalidTemplate},
		{"region", func(p *Params) { p.Region = "US-EAST-1" }, CodeInvalidRegion},
		{"region injection", func(p *Params) { p.Region = "us-east-1#x" }, CodeInvalidRegion},
		{"stack name", func(p *Params) { p.StackName = "1stack" }, CodeInvalidStackName},
		{"role name", func(p *Params) { p.RoleName = "a/b" }, CodeInvalidRoleName},
		{"external ID", func(p *Params) { p.ExternalID = "" }, CodeInvalidExternalID},
		{"principal", func(p *Params) { p.TrustedPrincipalARN = "" }, CodeInvalidPrincipal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := params()
			tt.mod(&p)
			_, err := Render(p)
			if !errors.Is(err, &Error{Code: tt.code}) {
				t.Errorf("Render: %v, want %s", err, tt.code)
			}
		})
	}
	p := params()
	p.TemplateURL = ""
	if _, err := QuickCreateURL(p); !errors.Is(err, ErrNoTemplateURL) {
		t.Errorf("QuickCreateURL without template URL: %v", err)
	}
	in, err := Render(p)
	if err != nil || in.QuickCreateURL != "" || !strings.Contains(in.CLI, "Download it from the onboarding page") {
		t.Errorf("Render without template URL: %v %q", err, in.QuickCreateURL)
	}
}

func TestTerraformSnippet(t *testing.T) {
	tests := []struct {
		name   string
		source string
	}{
		{"a configured source", "git::https://git.example.com/partner/rolecall.git//infra/terraform/customer-role?ref=v1"},
		{"escaping", `git::https://example.com/m.git//x?ref=v1"quote\back${var.x}%{if true}`},
		{"control characters and a lone $", "./m\n\tx\x01$ $$ %"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := params()
			p.ModuleSource = tt.source
			_, f := terraformFile(t, p)
			content, diags := f.Body.Content(&hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{
				{Type: "module", LabelNames: []string{"name"}}, {Type: "output", LabelNames: []string{"name"}},
			}})
			if diags.HasErrors() || len(content.Blocks) != 2 || content.Blocks[0].Labels[0] != TerraformModuleName {
				t.Fatalf("blocks: %v %v", diags, content.Blocks)
			}
			attrs, _ := content.Blocks[0].Body.JustAttributes()
			want := map[string]string{"source": tt.source, "external_id": extID, "trusted_principal_arn": principal, "role_name": DefaultRoleName(infra.DefaultRoleNamePrefix, principal, "")}
			for name, w := range want {
				a := attrs[name]
				if a == nil {
					t.Errorf("no attribute %s", name)
					continue
				}
				// A literal evaluates without any context; an unescaped ${
				// would be a variable reference and fail here.
				v, diags := a.Expr.Value(nil)
				if diags.HasErrors() || v.AsString() != w {
					t.Errorf("%s = %v (%v), want %q", name, v, diags, w)
				}
			}
			out, _ := content.Blocks[1].Body.JustAttributes()
			trav, diags := hcl.AbsTraversalForExpr(out["value"].Expr)
			if diags.HasErrors() || len(trav) != 3 || trav.RootName() != "module" {
				t.Errorf("output value: %v %v", trav, diags)
			}
			if _, ok := out["value"].Expr.(*hclsyntax.ScopeTraversalExpr); !ok {
				t.Errorf("output value is %T, want a traversal", out["value"].Expr)
			}
		})
	}
}

// TestTerraformInline: without a module source the snippet is a
// self-contained aws_iam_role whose trust policy, evaluated as Terraform's
// jsonencode would, is the template's, with the template's default
// managed policies (ViewOnlyAccess) attached in the principal's partition,
// as the template, the module and the CDK construct attach them.
func TestTerraformInline(t *testing.T) {
	for _, tc := range []struct {
		name      string
		p         func(*Params)
		partition string
	}{
		{"defaults", func(*Params) {}, "aws"},
		{"a custom role name", func(p *Params) { p.RoleName = "Acme-RoleCall+1@x" }, "aws"},
		{"china", func(p *Params) { p.TrustedPrincipalARN = "arn:aws-cn:iam::111122223333:role/rolecall-prod-access" }, "aws-cn"},
		{"govcloud", func(p *Params) { p.TrustedPrincipalARN = "arn:aws-us-gov:iam::111122223333:role/rolecall-prod-access" }, "aws-us-gov"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := params()
			tc.p(&p)
			src, f := terraformFile(t, p)
			if strings.Contains(src, "module ") || strings.Contains(src, "source =") {
				t.Errorf("the inline snippet names a module:\n%s", src)
			}
			content, diags := f.Body.Content(&hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{
				{Type: "resource", LabelNames: []string{"type", "name"}}, {Type: "output", LabelNames: []string{"name"}},
			}})
			if diags.HasErrors() || len(content.Blocks) != 3 || content.Blocks[0].Labels[0] != "aws_iam_role" || content.Blocks[1].Labels[0] != "aws_iam_role_policy_attachment" {
				t.Fatalf("blocks: %v %v", diags, content.Blocks)
			}
			attach, _ := content.Blocks[1].Body.JustAttributes()
			call, ok := attach["for_each"].Expr.(*hclsyntax.FunctionCallExpr)
			if !ok || call.Name != "toset" || len(call.Args) != 1 {
				t.Fatalf("attachment for_each = %T, want toset([...])", attach["for_each"].Expr)
			}
			arns, diags := call.Args[0].Value(nil)
			want := "arn:" + tc.partition + ":iam::aws:policy/job-function/ViewOnlyAccess"
			if diags.HasErrors() || arns.LengthInt() != 1 || arns.Index(cty.NumberIntVal(0)).AsString() != want {
				t.Errorf("attached policies %v (%v), want [%s]", arns, diags, want)
			}
			for name, ref := range map[string]string{"role": "aws_iam_role", "policy_arn": "each"} {
				if trav, diags := hcl.AbsTraversalForExpr(attach[name].Expr); diags.HasErrors() || trav.RootName() != ref {
					t.Errorf("attachment %s = %v %v, want a reference to %s", name, trav, diags, ref)
				}
			}
			attrs, _ := content.Blocks[0].Body.JustAttributes()
			name, diags := attrs["name"].Expr.Value(nil)
			wantName := p.RoleName
			if wantName == "" {
				wantName = DefaultRoleName(infra.DefaultRoleNamePrefix, p.TrustedPrincipalARN, p.TenantID)
			}
			if diags.HasErrors() || name.AsString() != wantName {
				t.Errorf("name = %v (%v), want %q", name, diags, wantName)
			}
			ctx := &hcl.EvalContext{Functions: map[string]function.Function{"jsonencode": stdlib.JSONEncodeFunc}}
			pol, diags := attrs["assume_role_policy"].Expr.Value(ctx)
			if diags.HasErrors() {
				t.Fatalf("assume_role_policy: %v", diags)
			}
			wantPolicy, err := TrustPolicy(extID, p.TrustedPrincipalARN)
			if err != nil {
				t.Fatal(err)
			}
			var got, exp any
			if err := json.Unmarshal([]byte(pol.AsString()), &got); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(wantPolicy, &exp); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, exp) {
				t.Errorf("trust policy %s, want the template's %s", pol.AsString(), wantPolicy)
			}
			out, _ := content.Blocks[2].Body.JustAttributes()
			trav, diags := hcl.AbsTraversalForExpr(out["value"].Expr)
			if diags.HasErrors() || trav.RootName() != "aws_iam_role" || len(trav) != 3 {
				t.Errorf("output value: %v %v", trav, diags)
			}
		})
	}
}

func TestCLI(t *testing.T) {
	p := params()
	cli, err := CLI(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"curl -fsSL -o customer-role.yaml " + s3URL,
		"aws cloudformation deploy \\\n",
		"--capabilities CAPABILITY_NAMED_IAM",
		"ExternalId=" + extID,
		"TrustedPrincipalArn=" + principal,
		"--query \"Stacks[0].Outputs[?OutputKey=='RoleArn'].OutputValue\"",
		"run by the partner",
	} {
		if !strings.Contains(cli, want) {
			t.Errorf("CLI lacks %q:\n%s", want, cli)
		}
	}
	// The check needs the partner's principal: no command of it is the
	// customer's to run.
	if strings.Contains(cli, "aws sts assume-role") {
		t.Errorf("the customer's commands include the partner's check:\n%s", cli)
	}
	p.TemplateFile = "my 'role' $HOME.yaml"
	cli, _ = CLI(p)
	if !strings.Contains(cli, `--template-file 'my '\''role'\'' $HOME.yaml'`) {
		t.Errorf("template file not quoted:\n%s", cli)
	}
}

// TestShellQuote runs the quoted words through a real shell.
func TestShellQuote(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	for _, s := range []string{"plain", "", "a b", "it's", `"$(rm -rf /)"`, "`x`", "a\\b", "new\nline", "ExternalId=rc-1+2=3,4.5@6:7/8"} {
		out, err := exec.Command(sh, "-c", "printf %s "+shellQuote(s)).Output()
		if err != nil || string(out) != s {
			t.Errorf("shellQuote(%q) → %q through sh (%v)", s, out, err)
		}
	}
}

func TestRenderJSON(t *testing.T) {
	in, err := Render(params())
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"externalId", "trustedPrincipalArn", "roleName", "region", "stackName", "templateUrl", "quickCreateUrl", "terraform", "cli", "trustPolicy"} {
		if _, ok := back[k]; !ok {
			t.Errorf("JSON lacks %s", k)
		}
	}
	if _, ok := back["trustPolicy"].(map[string]any); !ok {
		t.Errorf("trustPolicy is %T, want an object", back["trustPolicy"])
	}
	// Render's pieces are what each renderer gives on its own, for the
	// same parameters, defaults left to fill (with a module source too).
	for _, p := range []Params{params(), func() Params { p := params(); p.RoleName, p.ModuleSource = "", "git::https://example.com/m"; return p }()} {
		in, err := Render(p)
		if err != nil {
			t.Fatal(err)
		}
		quick, err1 := QuickCreateURL(p)
		tf, err2 := Terraform(p)
		cli, err3 := CLI(p)
		if err := errors.Join(err1, err2, err3); err != nil {
			t.Fatal(err)
		}
		if in.QuickCreateURL != quick || in.Terraform != tf || in.CLI != cli {
			t.Errorf("Render(%+v) differs from the renderers: %+v", p, in)
		}
	}
}

// TestValidatePrincipal: the principals the customer template and the
// Terraform module accept (a role, with its path) are accepted; an account
// root, an IAM user, an assumed-role session and anything else are
// refused with a message that says why and what to use instead, so that a
// deployment refuses them at start rather than answering 500 for every
// invite.
func TestValidatePrincipal(t *testing.T) {
	tests := []struct {
		arn  string
		want string // "" accepts; else in the message
	}{
		{"arn:aws:iam::123456789012:role/RoleCallVerifier", ""},
		{"arn:aws:iam::123456789012:role/service/rolecall/Verifier", ""},
		{"arn:aws:iam::123456789012:root", "must be the partner access role"},
		{"arn:aws-cn:iam::123456789012:role/V", ""},
		{"arn:aws:iam::123456789012:user/alice", "is an IAM user"},
		{"arn:aws:iam::123456789012:user/ops/alice", "is an IAM user"},
		{"arn:aws:sts::123456789012:assumed-role/Verifier/session", "role session"},
		{"arn:aws:iam::123456789012:group/admins", "must be the partner access role"},
		{"", "must be the partner access role"},
		{"arn:aws:iam::12345678901:role/V", "must be the partner access role"},
	}
	for _, tt := range tests {
		t.Run(tt.arn, func(t *testing.T) {
			err := ValidatePrincipal(tt.arn)
			if tt.want == "" {
				if err != nil {
					t.Errorf("ValidatePrincipal: %v", err)
				}
				if _, err := Render(Params{ExternalID: extID, TrustedPrincipalARN: tt.arn}); err != nil {
					t.Errorf("accepted, but Render: %v", err)
				}
				return
			}
			if !errors.Is(err, &Error{Code: CodeInvalidPrincipal}) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ValidatePrincipal = %v, want %s saying %q", err, CodeInvalidPrincipal, tt.want)
			}
			if _, err := Render(Params{ExternalID: extID, TrustedPrincipalARN: tt.arn}); !errors.Is(err, &Error{Code: CodeInvalidPrincipal}) {
				t.Errorf("refused, but Render: %v", err)
			}
		})
	}
}

// TestDefaultRoleName: a tenant's role name starts with the partner's
// prefix, differs between tenants and between partners, is stable, and
// fits IAM's 64 characters.
func TestDefaultRoleName(t *testing.T) {
	a := DefaultRoleName("RoleCall", principal, "acme")
	tests := []struct {
		name  string
		other string
		same  bool
	}{
		{"stable", DefaultRoleName("RoleCall", principal, "acme"), true},
		{"another tenant", DefaultRoleName("RoleCall", principal, "globex"), false},
		{"another partner", DefaultRoleName("RoleCall", "arn:aws:iam::444455556666:role/rolecall-dev-access", "acme"), false},
		{"another stage", DefaultRoleName("RoleCall", "arn:aws:iam::111122223333:role/rolecall-prod-access", "acme"), false},
	}
	for _, tt := range tests {
		if (tt.other == a) != tt.same {
			t.Errorf("%s: %s vs %s", tt.name, tt.other, a)
		}
	}
	if !regexp.MustCompile(`^RoleCall-[0-9a-f]{8}$`).MatchString(a) {
		t.Errorf("name %q", a)
	}
	long := strings.Repeat("p", MaxPrefix)
	in, err := Render(Params{ExternalID: extID, TrustedPrincipalARN: principal, TenantID: "acme", RoleNamePrefix: long})
	if err != nil || len(in.RoleName) != 64 || !strings.HasPrefix(in.RoleName, long+"-") {
		t.Errorf("longest prefix: %q (%v)", in.RoleName, err)
	}
	for _, bad := range []string{long + "p", "a/b", "sp ace"} {
		if _, err := Render(Params{ExternalID: extID, TrustedPrincipalARN: principal, RoleNamePrefix: bad}); !errors.Is(err, &Error{Code: CodeInvalidPrefix}) {
			t.Errorf("prefix %q: %v", bad, err)
		}
	}
	// An explicit name wins.
	if in, err := Render(Params{ExternalID: extID, TrustedPrincipalARN: principal, RoleName: "Mine"}); err != nil || in.RoleName != "Mine" {
		t.Errorf("explicit name %q (%v)", in.RoleName, err)
	}
}

// The snippets and the quick-create link refuse the parameters Render
// refuses, with the same error, rendering nothing.
func TestSnippetsRefuseBadParams(t *testing.T) {
	p := params()
	p.ExternalID = "x"
	for name, render := range map[string]func(Params) (string, error){"Terraform": Terraform, "CLI": CLI, "QuickCreateURL": QuickCreateURL} {
		out, err := render(p)
		var e *Error
		if !errors.As(err, &e) || e.Field != "externalId" || out != "" {
			t.Errorf("%s = %q, %v; want the externalId refusal", name, out, err)
		}
	}
}

// terraformFile renders p's Terraform snippet and parses it as HCL, failing
// the test when either fails.
func terraformFile(t *testing.T, p Params) (string, *hcl.File) {
	t.Helper()
	src, err := Terraform(p)
	if err != nil {
		t.Fatal(err)
	}
	f, diags := hclparse.NewParser().ParseHCL([]byte(src), "snippet.tf")
	if diags.HasErrors() {
		t.Fatalf("snippet does not parse: %v\n%s", diags, src)
	}
	return src, f
}
