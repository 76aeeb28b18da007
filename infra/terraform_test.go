package infra_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/tryfunc"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"

	"github.com/rolecall/rolecall/infra"
	"github.com/rolecall/rolecall/internal/rolesetup"
	"github.com/rolecall/rolecall/internal/yamlnode"
)

const moduleDir = "terraform/customer-role"

// tfSchema is the part of Terraform's language the tests read.
var tfSchema = &hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{
	{Type: "terraform"},
	{Type: "provider", LabelNames: []string{"name"}},
	{Type: "variable", LabelNames: []string{"name"}},
	{Type: "resource", LabelNames: []string{"type", "name"}},
	{Type: "data", LabelNames: []string{"type", "name"}},
	{Type: "module", LabelNames: []string{"name"}},
	{Type: "output", LabelNames: []string{"name"}},
	{Type: "locals"},
}}

// parseDir parses every .tf file of a directory into its top-level blocks.
func parseDir(t *testing.T, dir string) hcl.Blocks {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.tf"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no .tf files in %s (%v)", dir, err)
	}
	p := hclparse.NewParser()
	var blocks hcl.Blocks
	for _, f := range files {
		file, diags := p.ParseHCLFile(f)
		if diags.HasErrors() {
			t.Fatalf("parse %s: %v", f, diags)
		}
		content, diags := file.Body.Content(tfSchema)
		if diags.HasErrors() {
			t.Fatalf("%s: %v", f, diags)
		}
		blocks = append(blocks, content.Blocks...)
	}
	return blocks
}

func find(blocks hcl.Blocks, typ string, labels ...string) *hcl.Block {
	for _, b := range blocks {
		if b.Type == typ && reflect.DeepEqual(b.Labels, labels) {
			return b
		}
	}
	return nil
}

func attrs(t *testing.T, b *hcl.Block) hcl.Attributes {
	t.Helper()
	a, diags := b.Body.JustAttributes()
	if diags.HasErrors() {
		t.Fatalf("%s %v: %v", b.Type, b.Labels, diags)
	}
	return a
}

// functions are the Terraform functions the module uses.
var functions = map[string]function.Function{
	"jsonencode": stdlib.JSONEncodeFunc,
	"length":     lengthFunc,
	"regex":      stdlib.RegexFunc,
	"can":        tryfunc.CanFunc,
	"merge":      stdlib.MergeFunc,
}

// lengthFunc is Terraform's length: of a string (in characters) or of a
// collection. go-cty's stdlib.LengthFunc takes collections only.
var lengthFunc = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "value", Type: cty.DynamicPseudoType, AllowDynamicType: true}},
	Type:   function.StaticReturnType(cty.Number),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		if args[0].Type() == cty.String {
			return stdlib.Strlen(args[0])
		}
		return stdlib.Length(args[0])
	},
})

func evalCtx(vars map[string]cty.Value) *hcl.EvalContext {
	return &hcl.EvalContext{
		Variables: map[string]cty.Value{"var": cty.ObjectVal(vars)},
		Functions: functions,
	}
}

type variable struct {
	def         *cty.Value
	validations []hcl.Expression
}

func variables(t *testing.T, blocks hcl.Blocks) map[string]variable {
	t.Helper()
	out := map[string]variable{}
	for _, b := range blocks {
		if b.Type != "variable" {
			continue
		}
		content, diags := b.Body.Content(&hcl.BodySchema{
			Attributes: []hcl.AttributeSchema{{Name: "description"}, {Name: "type"}, {Name: "default"}, {Name: "sensitive"}, {Name: "nullable"}},
			Blocks:     []hcl.BlockHeaderSchema{{Type: "validation"}},
		})
		if diags.HasErrors() {
			t.Fatalf("variable %s: %v", b.Labels[0], diags)
		}
		var v variable
		if a := content.Attributes["default"]; a != nil {
			d, diags := a.Expr.Value(nil)
			if diags.HasErrors() {
				t.Fatalf("default of %s: %v", b.Labels[0], diags)
			}
			v.def = &d
		}
		if content.Attributes["description"] == nil {
			t.Errorf("variable %s has no description", b.Labels[0])
		}
		for _, vb := range content.Blocks {
			va, _ := vb.Body.JustAttributes()
			if va["condition"] == nil || va["error_message"] == nil {
				t.Errorf("variable %s: validation without condition or error_message", b.Labels[0])
				continue
			}
			v.validations = append(v.validations, va["condition"].Expr)
		}
		out[b.Labels[0]] = v
	}
	return out
}

const (
	tfExternalID = "rc-TERRAFORMTERRAFORMTERRAFORM234"
	tfPrincipal  = "arn:aws:iam::111122223333:role/RoleCallVerifier"
)

// inputs are the module's variables with the test's values and defaults.
func inputs(t *testing.T, vars map[string]variable, set map[string]cty.Value) map[string]cty.Value {
	t.Helper()
	out := map[string]cty.Value{}
	for name, v := range vars {
		switch {
		case set[name] != cty.NilVal:
			out[name] = set[name]
		case v.def != nil:
			out[name] = *v.def
		default:
			t.Fatalf("required variable %s not set", name)
		}
	}
	return out
}

func TestTerraformModuleTrustPolicy(t *testing.T) {
	blocks := parseDir(t, moduleDir)
	vars := variables(t, blocks)
	for _, name := range []string{"external_id", "trusted_principal_arn", "role_name", "role_name_prefix", "managed_policy_arns", "inline_policy"} {
		if _, ok := vars[name]; !ok {
			t.Errorf("module has no variable %s", name)
		}
	}
	if d := vars["role_name"].def; d == nil || !d.IsNull() {
		t.Errorf("role_name default = %v, want null (the template's has none either)", d)
	}
	if d := vars["role_name_prefix"].def; d == nil || d.AsString() != infra.DefaultRoleNamePrefix {
		t.Errorf("role_name_prefix default = %v, want %s (the template's)", d, infra.DefaultRoleNamePrefix)
	}
	for _, name := range []string{"external_id", "trusted_principal_arn"} {
		if vars[name].def != nil {
			t.Errorf("%s has a default; it must be required", name)
		}
	}

	role := find(blocks, "resource", "aws_iam_role", "this")
	if role == nil {
		t.Fatal(`no resource "aws_iam_role" "this"`)
	}
	a := attrs(t, role)
	if a["assume_role_policy"] == nil {
		t.Fatal("aws_iam_role.this has no assume_role_policy")
	}
	ctx := evalCtx(inputs(t, vars, map[string]cty.Value{
		"external_id":           cty.StringVal(tfExternalID),
		"trusted_principal_arn": cty.StringVal(tfPrincipal),
	}))
	v, diags := a["assume_role_policy"].Expr.Value(ctx)
	if diags.HasErrors() {
		t.Fatalf("evaluate assume_role_policy: %v", diags)
	}
	var policy struct {
		Version   string
		Statement []struct {
			Effect    string
			Principal map[string]any
			Action    any
			Condition map[string]map[string]any
		}
	}
	if err := json.Unmarshal([]byte(v.AsString()), &policy); err != nil {
		t.Fatalf("assume_role_policy is not JSON: %v\n%s", err, v.AsString())
	}
	if len(policy.Statement) != 1 {
		t.Fatalf("want one statement, got %d", len(policy.Statement))
	}
	st := policy.Statement[0]
	if policy.Version != "2012-10-17" || st.Effect != "Allow" || st.Action != "sts:AssumeRole" {
		t.Errorf("statement = %+v", st)
	}
	if st.Principal["AWS"] != tfPrincipal {
		t.Errorf("principal = %v, want %s", st.Principal, tfPrincipal)
	}
	if got := st.Condition["StringEquals"]["sts:ExternalId"]; got != tfExternalID {
		t.Errorf("StringEquals sts:ExternalId = %v, want %s", got, tfExternalID)
	}

	// The module creates the trust policy rolesetup defines, which the
	// CloudFormation template is tested to create too: the same policy.
	fromCFN, err := rolesetup.TrustPolicy(tfExternalID, tfPrincipal)
	if err != nil {
		t.Fatal(err)
	}
	var cfn, tf any
	_ = json.Unmarshal(fromCFN, &cfn)
	_ = json.Unmarshal([]byte(v.AsString()), &tf)
	if !reflect.DeepEqual(cfn, tf) {
		t.Errorf("Terraform and CloudFormation trust policies differ:\n%s\n%s", v.AsString(), fromCFN)
	}

	for _, name := range []string{"name", "name_prefix", "max_session_duration"} {
		if a[name] == nil {
			t.Errorf("aws_iam_role.this has no %s", name)
		}
	}
	// Without role_name: a unique name from the prefix; with it: exactly it.
	if n, diags := a["name"].Expr.Value(ctx); diags.HasErrors() || !n.IsNull() {
		t.Errorf("default role name = %v %v, want null", n, diags)
	}
	if n, diags := a["name_prefix"].Expr.Value(ctx); diags.HasErrors() || n.AsString() != infra.DefaultRoleNamePrefix+"-" {
		t.Errorf("default name_prefix = %v %v", n, diags)
	}
	named := evalCtx(inputs(t, vars, map[string]cty.Value{
		"external_id": cty.StringVal(tfExternalID), "trusted_principal_arn": cty.StringVal(tfPrincipal), "role_name": cty.StringVal("RoleCall-1a2b3c4d"),
	}))
	if n, diags := a["name"].Expr.Value(named); diags.HasErrors() || n.AsString() != "RoleCall-1a2b3c4d" {
		t.Errorf("role name = %v %v", n, diags)
	}
	if n, diags := a["name_prefix"].Expr.Value(named); diags.HasErrors() || !n.IsNull() {
		t.Errorf("name_prefix with a name = %v %v, want null", n, diags)
	}
	if find(blocks, "resource", "aws_iam_role_policy_attachment", "managed") == nil || find(blocks, "resource", "aws_iam_role_policy", "inline") == nil {
		t.Error("the module must attach the managed policies and the optional inline policy")
	}

	out := find(blocks, "output", "role_arn")
	if out == nil {
		t.Fatal(`no output "role_arn"`)
	}
	trav, diags := hcl.AbsTraversalForExpr(attrs(t, out)["value"].Expr)
	if diags.HasErrors() || len(trav) != 3 || trav.RootName() != "aws_iam_role" || trav[2].(hcl.TraverseAttr).Name != "arn" {
		t.Errorf("output role_arn = %v, want aws_iam_role.this.arn", trav)
	}
}

// TestTerraformModuleDefaultPolicyIsThePartitions: without
// managed_policy_arns the module attaches the template's default policy
// (ViewOnlyAccess) in the partition of the provider's account (data
// "aws_partition"), so it attaches in aws-cn and aws-us-gov accounts too;
// a list given is attached as is, and an empty one attaches none.
func TestTerraformModuleDefaultPolicyIsThePartitions(t *testing.T) {
	blocks := parseDir(t, moduleDir)
	if find(blocks, "data", "aws_partition", "current") == nil {
		t.Fatal(`no data "aws_partition" "current"`)
	}
	locals := find(blocks, "locals")
	if locals == nil || attrs(t, locals)["managed_policy_arns"] == nil {
		t.Fatal("no local managed_policy_arns")
	}
	expr := attrs(t, locals)["managed_policy_arns"].Expr
	attach := find(blocks, "resource", "aws_iam_role_policy_attachment", "managed")
	if attach == nil {
		t.Fatal(`no resource "aws_iam_role_policy_attachment" "managed"`)
	}
	if trav := attrs(t, attach)["for_each"].Expr.Variables(); len(trav) != 1 || trav[0].RootName() != "local" {
		t.Errorf("the attachments' for_each reads %v, want local.managed_policy_arns", trav)
	}
	def := yamlnode.Value(yamlnode.Value(yamlnode.Value(template(t), "Parameters"), infra.ParamManagedPolicyARNs), "Default")
	if def == nil || !strings.HasPrefix(def.Value, "arn:aws:") {
		t.Fatalf("customer-role.yaml's ManagedPolicyArns default = %v", def)
	}
	vars := variables(t, blocks)
	given := cty.ListVal([]cty.Value{cty.StringVal("arn:aws-cn:iam::111122223333:policy/Mine")})
	tests := []struct {
		name, partition string
		set             cty.Value
		want            []string
	}{
		{"default, commercial", "aws", cty.NilVal, []string{def.Value}},
		{"default, China", "aws-cn", cty.NilVal, []string{strings.Replace(def.Value, "arn:aws:", "arn:aws-cn:", 1)}},
		{"default, GovCloud", "aws-us-gov", cty.NilVal, []string{strings.Replace(def.Value, "arn:aws:", "arn:aws-us-gov:", 1)}},
		{"given", "aws-cn", given, []string{"arn:aws-cn:iam::111122223333:policy/Mine"}},
		{"none", "aws-cn", cty.ListValEmpty(cty.String), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := inputs(t, vars, map[string]cty.Value{
				"external_id": cty.StringVal(tfExternalID), "trusted_principal_arn": cty.StringVal(tfPrincipal), "managed_policy_arns": tt.set,
			})
			ctx := evalCtx(in)
			ctx.Variables["data"] = cty.ObjectVal(map[string]cty.Value{"aws_partition": cty.ObjectVal(map[string]cty.Value{
				"current": cty.ObjectVal(map[string]cty.Value{"partition": cty.StringVal(tt.partition)}),
			})})
			v, diags := expr.Value(ctx)
			if diags.HasErrors() {
				t.Fatalf("evaluate local.managed_policy_arns: %v", diags)
			}
			var got []string
			for _, e := range v.AsValueSlice() {
				got = append(got, e.AsString())
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("managed policies = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestTerraformModuleValidations(t *testing.T) {
	vars := variables(t, parseDir(t, moduleDir))
	tests := []struct {
		variable string
		value    string
		ok       bool
	}{
		{"external_id", tfExternalID, true},
		{"external_id", "a+b=c,d.e@f:g/h-_", true},
		{"external_id", "x", false},
		{"external_id", "has space", false},
		{"external_id", strings.Repeat("a", 1224), true},
		{"external_id", strings.Repeat("a", 1225), false},
		{"trusted_principal_arn", tfPrincipal, true},
		{"trusted_principal_arn", "arn:aws:iam::111122223333:root", false},
		{"trusted_principal_arn", "arn:aws-us-gov:iam::111122223333:role/path/V", true},
		{"trusted_principal_arn", "arn:aws:iam::111122223333:user/bob", false},
		{"trusted_principal_arn", "111122223333", false},
		{"role_name", "RoleCallAccess", true},
		{"role_name", strings.Repeat("r", 65), false},
		{"role_name", "a/b", false},
		{"role_name_prefix", "AcmeCloud", true},
		{"role_name_prefix", strings.Repeat("p", 38), false},
		{"role_name_prefix", "a b", false},
	}
	for _, tt := range tests {
		v := vars[tt.variable]
		if len(v.validations) == 0 {
			t.Fatalf("variable %s has no validation", tt.variable)
		}
		ctx := evalCtx(map[string]cty.Value{tt.variable: cty.StringVal(tt.value)})
		ok := true
		for _, cond := range v.validations {
			r, diags := cond.Value(ctx)
			if diags.HasErrors() {
				t.Fatalf("%s validation with %.30q: %v", tt.variable, tt.value, diags)
			}
			ok = ok && r.True()
		}
		if ok != tt.ok {
			t.Errorf("%s = %.40q: valid %v, want %v", tt.variable, tt.value, ok, tt.ok)
		}
	}
}

func TestTerraformExample(t *testing.T) {
	moduleVars := variables(t, parseDir(t, moduleDir))
	blocks := parseDir(t, filepath.Join(moduleDir, "example"))
	var mod *hcl.Block
	for _, b := range blocks {
		if b.Type == "module" {
			mod = b
		}
	}
	if mod == nil {
		t.Fatal("the example has no module block")
	}
	a := attrs(t, mod)
	src, diags := a["source"].Expr.Value(nil)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if dir := filepath.Join(moduleDir, "example", src.AsString()); filepath.Clean(dir) != filepath.Clean(moduleDir) {
		t.Errorf("example source %q does not point at the module", src.AsString())
	}
	var args []string
	set := map[string]cty.Value{}
	for name, attr := range a {
		if name == "source" {
			continue
		}
		if _, ok := moduleVars[name]; !ok {
			t.Errorf("example sets %s, which the module does not declare", name)
		}
		v, diags := attr.Expr.Value(nil)
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		set[name] = v
		args = append(args, name)
	}
	sort.Strings(args)
	if !reflect.DeepEqual(args, []string{"external_id", "trusted_principal_arn"}) {
		t.Errorf("example sets %v", args)
	}
	// The example's values pass the module's validations.
	ctx := evalCtx(inputs(t, moduleVars, set))
	for name, v := range moduleVars {
		for _, cond := range v.validations {
			r, diags := cond.Value(ctx)
			if diags.HasErrors() || !r.True() {
				t.Errorf("example value of %s fails validation (%v)", name, diags)
			}
		}
	}
	out := find(blocks, "output", "role_arn")
	if out == nil {
		t.Fatal("the example has no role_arn output")
	}
	trav, diags := hcl.AbsTraversalForExpr(attrs(t, out)["value"].Expr)
	if diags.HasErrors() || len(trav) != 3 || trav.RootName() != "module" || trav[2].(hcl.TraverseAttr).Name != "role_arn" {
		t.Errorf("example output = %v", trav)
	}
}

func TestEmbeddedTemplateIsTheFile(t *testing.T) {
	b, err := os.ReadFile(infra.CustomerRoleTemplateName)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != string(infra.CustomerRoleTemplate()) {
		t.Error("embedded template differs from customer-role.yaml")
	}
	c := infra.CustomerRoleTemplate()
	c[0] = 'X'
	if infra.CustomerRoleTemplate()[0] == 'X' {
		t.Error("CustomerRoleTemplate returns shared memory")
	}
}
