package infra_test

import (
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/rolecall/rolecall/infra"
	"github.com/rolecall/rolecall/internal/yamlnode"
)

func template(t *testing.T) *yaml.Node {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal(infra.CustomerRoleTemplate(), &doc); err != nil {
		t.Fatalf("customer-role.yaml: %v", err)
	}
	return doc.Content[0]
}

// TestTemplateQuickCreateAndStackSetReady checks what quick-create links and
// service-managed StackSets need: no transform or macro (no
// CAPABILITY_AUTO_EXPAND), nothing but IAM resources, parameters for
// everything account-specific, and the role ARN as an output.
func TestTemplateQuickCreateAndStackSetReady(t *testing.T) {
	tpl := template(t)
	if yamlnode.Value(tpl, "Transform") != nil {
		t.Error("the template uses a Transform: quick-create links and StackSets would need CAPABILITY_AUTO_EXPAND")
	}
	if v := yamlnode.Value(tpl, "AWSTemplateFormatVersion"); v == nil || v.Value != "2010-09-09" {
		t.Error("AWSTemplateFormatVersion missing")
	}
	resources := yamlnode.Value(tpl, "Resources")
	for _, name := range yamlnode.Keys(resources) {
		typ := yamlnode.Value(yamlnode.Value(resources, name), "Type").Value
		if typ == infra.RegistrationResourceType && name == infra.RegistrationResource {
			continue // TestRegistrationResource
		}
		if typ != "AWS::IAM::Role" && typ != "AWS::IAM::RolePolicy" {
			t.Errorf("resource %s is %s; keep the template to IAM so it deploys anywhere", name, typ)
		}
	}
	out := yamlnode.Value(yamlnode.Value(tpl, "Outputs"), infra.OutputRoleARN)
	if out == nil || yamlnode.Value(out, "Value").Tag != "!GetAtt" || yamlnode.Value(out, "Value").Value != "Role.Arn" {
		t.Errorf("output %s must be !GetAtt Role.Arn", infra.OutputRoleARN)
	}
	if yamlnode.Value(out, "Export") != nil {
		t.Error("the RoleArn output is exported; exports collide when one account deploys the stack twice")
	}

	params := yamlnode.Value(tpl, "Parameters")
	want := map[string]struct {
		typ        string
		hasDefault bool
	}{
		infra.ParamExternalID:           {"String", false},
		infra.ParamTrustedPrincipalARN:  {"String", false},
		infra.ParamRoleName:             {"String", true},
		infra.ParamRoleNamePrefix:       {"String", true},
		infra.ParamManagedPolicyARNs:    {"CommaDelimitedList", true},
		infra.ParamInlinePolicy:         {"String", true},
		infra.ParamRegistrationTopicARN: {"String", true},
		infra.ParamRegistrationToken:    {"String", true},
	}
	for name, w := range want {
		p := yamlnode.Value(params, name)
		if p == nil {
			t.Errorf("no parameter %s", name)
			continue
		}
		if yamlnode.Value(p, "Type").Value != w.typ || (yamlnode.Value(p, "Default") != nil) != w.hasDefault || yamlnode.Value(p, "Description") == nil {
			t.Errorf("parameter %s: type %s, default %v, want %s, %v, with a description", name, yamlnode.Value(p, "Type").Value, yamlnode.Value(p, "Default") != nil, w.typ, w.hasDefault)
		}
	}
	if len(yamlnode.Keys(params)) != len(want) {
		t.Errorf("parameters %v, want exactly %d", yamlnode.Keys(params), len(want))
	}
	// No fixed name: a guessable name shared by every customer (and by
	// two partners) would collide and tell outsiders who is a customer.
	if d := yamlnode.Value(yamlnode.Value(params, infra.ParamRoleName), "Default"); d.Value != "" {
		t.Errorf("RoleName default %q, want none", d.Value)
	}
	if d := yamlnode.Value(yamlnode.Value(params, infra.ParamRoleNamePrefix), "Default"); d.Value != infra.DefaultRoleNamePrefix {
		t.Errorf("RoleNamePrefix default %q, want %q", d.Value, infra.DefaultRoleNamePrefix)
	}
	name := yamlnode.Value(yamlnode.Value(yamlnode.Value(yamlnode.Value(tpl, "Resources"), "Role"), "Properties"), "RoleName")
	if name == nil || name.Tag != "!If" || len(name.Content) != 3 || name.Content[0].Value != "HasRoleName" ||
		name.Content[1].Tag != "!Ref" || name.Content[1].Value != infra.ParamRoleName || name.Content[2].Tag != "!Join" {
		t.Errorf("Role.RoleName must be RoleName if given, else the prefix and the stack ID: %+v", name)
	} else {
		var refs []string
		var walk func(n *yaml.Node)
		walk = func(n *yaml.Node) {
			if n.Tag == "!Ref" {
				refs = append(refs, n.Value)
			}
			for _, c := range n.Content {
				walk(c)
			}
		}
		walk(name.Content[2])
		if strings.Join(refs, ",") != infra.ParamRoleNamePrefix+",AWS::StackId" {
			t.Errorf("the generated name uses %v, want the prefix and AWS::StackId", refs)
		}
	}
	if d := yamlnode.Value(yamlnode.Value(params, infra.ParamManagedPolicyARNs), "Default"); !strings.HasPrefix(d.Value, "arn:aws:iam::aws:policy/") || strings.Contains(d.Value, "Administrator") || strings.Contains(d.Value, "PowerUser") {
		t.Errorf("ManagedPolicyArns default %q is not a least-privilege AWS managed policy", d.Value)
	}
	// The console shows the parameters in the groups of the interface
	// metadata; every parameter must be in one.
	grouped := map[string]bool{}
	for _, g := range yamlnode.Value(yamlnode.Value(yamlnode.Value(tpl, "Metadata"), "AWS::CloudFormation::Interface"), "ParameterGroups").Content {
		for _, p := range yamlnode.Value(g, "Parameters").Content {
			grouped[p.Value] = true
		}
	}
	for name := range want {
		if !grouped[name] {
			t.Errorf("parameter %s is in no ParameterGroup", name)
		}
	}
}

// TestTemplateReferences: every Ref names a parameter, a resource or a
// pseudo parameter, and every condition used is defined.
func TestTemplateReferences(t *testing.T) {
	tpl := template(t)
	known := map[string]bool{"AWS::NoValue": true, "AWS::Partition": true, "AWS::AccountId": true, "AWS::Region": true, "AWS::URLSuffix": true, "AWS::StackName": true, "AWS::StackId": true}
	for _, k := range yamlnode.Keys(yamlnode.Value(tpl, "Parameters")) {
		known[k] = true
	}
	for _, k := range yamlnode.Keys(yamlnode.Value(tpl, "Resources")) {
		known[k] = true
	}
	conditions := map[string]bool{}
	for _, k := range yamlnode.Keys(yamlnode.Value(tpl, "Conditions")) {
		conditions[k] = true
	}
	var walk func(n *yaml.Node)
	refs := 0
	walk = func(n *yaml.Node) {
		if n.Tag == "!Ref" {
			refs++
			if !known[n.Value] {
				t.Errorf("line %d: !Ref %s names nothing", n.Line, n.Value)
			}
		}
		if n.Tag == "!If" && len(n.Content) > 0 && !conditions[n.Content[0].Value] {
			t.Errorf("line %d: !If on undefined condition %s", n.Line, n.Content[0].Value)
		}
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == "Condition" && n.Content[i+1].Kind == yaml.ScalarNode && !conditions[n.Content[i+1].Value] {
					t.Errorf("line %d: undefined condition %s", n.Line, n.Content[i+1].Value)
				}
			}
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(yamlnode.Value(tpl, "Resources"))
	walk(yamlnode.Value(tpl, "Conditions"))
	walk(yamlnode.Value(tpl, "Outputs"))
	if refs < 5 {
		t.Errorf("only %d !Ref found; is the walker reading the template?", refs)
	}
}

// TestTemplateAllowedPatterns runs the parameters' AllowedPattern (which
// CloudFormation matches against the whole value) on good and bad values.
func TestTemplateAllowedPatterns(t *testing.T) {
	params := yamlnode.Value(template(t), "Parameters")
	tests := []struct {
		param, value string
		ok           bool
	}{
		{infra.ParamExternalID, "rc-ABCDEFGHIJKLMNOP234567", true},
		{infra.ParamExternalID, "a+b=c,d.e@f:g/h-i_j", true},
		{infra.ParamExternalID, "has space", false},
		{infra.ParamExternalID, "quote'", false},
		{infra.ParamTrustedPrincipalARN, "arn:aws:iam::111122223333:role/RoleCallVerifier", true},
		{infra.ParamTrustedPrincipalARN, "arn:aws:iam::111122223333:role/path/RoleCallVerifier", true},
		{infra.ParamTrustedPrincipalARN, "arn:aws:iam::111122223333:role/rolecall-prod-access", true},
		{infra.ParamTrustedPrincipalARN, "arn:aws-cn:iam::111122223333:role/rolecall-prod-access", true},
		{infra.ParamTrustedPrincipalARN, "arn:aws:iam::111122223333:root", false},
		{infra.ParamTrustedPrincipalARN, "arn:aws-cn:iam::111122223333:root", false},
		{infra.ParamTrustedPrincipalARN, "arn:aws:iam::111122223333:user/bob", false},
		{infra.ParamTrustedPrincipalARN, "arn:aws:iam::1111:root", false},
		{infra.ParamTrustedPrincipalARN, "*", false},
		{infra.ParamRoleName, "RoleCallAccess", true},
		{infra.ParamRoleName, "a/b", false},
		{infra.ParamRoleName, "", true},
		{infra.ParamRoleNamePrefix, "AcmeCloud", true},
		{infra.ParamRoleNamePrefix, "", false},
		{infra.ParamRoleNamePrefix, "a b", false},
		{infra.ParamRegistrationTopicARN, "", true},
		{infra.ParamRegistrationTopicARN, "arn:aws:sns:us-east-1:111122223333:rolecall-prod-registration", true},
		{infra.ParamRegistrationTopicARN, "arn:aws-cn:sns:cn-north-1:111122223333:rolecall-prod-registration", true},
		{infra.ParamRegistrationTopicARN, "arn:aws:lambda:us-east-1:111122223333:function:x", false},
		{infra.ParamRegistrationTopicARN, "arn:aws:sns:us-east-1:1111:t", false},
		{infra.ParamRegistrationTopicARN, "arn:aws:sns:us-east-1:111122223333:t x", false},
		{infra.ParamRegistrationToken, "", true},
		{infra.ParamRegistrationToken, "rcr_" + strings.Repeat("A", 43), true},
		{infra.ParamRegistrationToken, "rcr_" + strings.Repeat("A", 42), false},
		{infra.ParamRegistrationToken, "rcr_" + strings.Repeat("A", 42) + "+", false},
		{infra.ParamRegistrationToken, strings.Repeat("a", 39), false},
	}
	for _, tt := range tests {
		pat := yamlnode.Value(yamlnode.Value(params, tt.param), "AllowedPattern")
		if pat == nil {
			t.Fatalf("parameter %s has no AllowedPattern", tt.param)
		}
		re := regexp.MustCompile(`^(?:` + pat.Value + `)$`)
		if got := re.MatchString(tt.value); got != tt.ok {
			t.Errorf("%s %q: allowed %v, want %v", tt.param, tt.value, got, tt.ok)
		}
	}
}

// TestRegistrationResource: the custom resource exists only when a topic
// and a token are given, sends the role it creates with the token, and the
// token is NoEcho.
func TestRegistrationResource(t *testing.T) {
	tpl := template(t)
	r := yamlnode.Value(yamlnode.Value(tpl, "Resources"), infra.RegistrationResource)
	if r == nil || yamlnode.Value(r, "Type").Value != infra.RegistrationResourceType {
		t.Fatalf("no %s resource of type %s", infra.RegistrationResource, infra.RegistrationResourceType)
	}
	if c := yamlnode.Value(r, "Condition"); c == nil || c.Value != infra.RegistrationCondition {
		t.Fatalf("the registration resource is not conditioned on %s", infra.RegistrationCondition)
	}
	p := yamlnode.Value(r, "Properties")
	want := map[string][2]string{
		"ServiceToken":      {"!Ref", infra.ParamRegistrationTopicARN},
		"RoleArn":           {"!GetAtt", "Role.Arn"},
		"RegistrationToken": {"!Ref", infra.ParamRegistrationToken},
	}
	for k, w := range want {
		v := yamlnode.Value(p, k)
		if v == nil || v.Tag != w[0] || v.Value != w[1] {
			t.Errorf("property %s = %v, want %s %s", k, v, w[0], w[1])
		}
	}
	if to := yamlnode.Value(p, "ServiceTimeout"); to == nil || to.Value == "" {
		t.Error("no ServiceTimeout: a partner outage would hold the stack for an hour")
	}
	for _, k := range yamlnode.Keys(p) {
		if _, ok := want[k]; !ok && k != "ServiceTimeout" {
			t.Errorf("unexpected property %s", k)
		}
	}
	cond := yamlnode.Value(yamlnode.Value(tpl, "Conditions"), infra.RegistrationCondition)
	if cond == nil || cond.Tag != "!And" || len(cond.Content) != 2 {
		t.Fatalf("condition %s must be !And of two non-empty checks", infra.RegistrationCondition)
	}
	seen := map[string]bool{}
	for _, c := range cond.Content {
		eq := c.Content[0]
		if c.Tag != "!Not" || eq.Tag != "!Equals" || eq.Content[0].Tag != "!Ref" || eq.Content[1].Value != "" {
			t.Errorf("condition part %v is not !Not [!Equals [!Ref X, \"\"]]", c)
			continue
		}
		seen[eq.Content[0].Value] = true
	}
	if !seen[infra.ParamRegistrationTopicARN] || !seen[infra.ParamRegistrationToken] {
		t.Errorf("condition checks %v, want both registration parameters", seen)
	}
	if ne := yamlnode.Value(yamlnode.Value(yamlnode.Value(tpl, "Parameters"), infra.ParamRegistrationToken), "NoEcho"); ne == nil || ne.Value != "true" {
		t.Error("RegistrationToken is not NoEcho")
	}
}
