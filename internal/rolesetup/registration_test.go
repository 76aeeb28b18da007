package rolesetup

import (
	"encoding/json"
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/rolecall/rolecall/infra"
)

const (
	testTopic = "arn:aws:sns:eu-west-1:999988887777:rolecall-prod-registration"
	testToken = "rcr_0123456789abcdefghijABCDEFGHIJ-_0123456789x"
)

func regParams() Params {
	return Params{
		ExternalID:          "rc-a,b=c:d/e@f+g_h.i",
		TrustedPrincipalARN: "arn:aws:iam::999988887777:role/rolecall-prod-verifier",
		TemplateURL:         "https://partner.s3.eu-west-1.amazonaws.com/it's/customer-role.yaml",
		Region:              "us-east-1",
	}
}

func TestRegistrationQuickCreateURL(t *testing.T) {
	u, err := RegistrationQuickCreateURL(regParams(), Registration{TopicARN: testTopic, Token: testToken})
	if err != nil {
		t.Fatal(err)
	}
	pu, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	if pu.Query().Get("region") != "eu-west-1" {
		t.Errorf("region = %q, want the topic's eu-west-1", pu.Query().Get("region"))
	}
	_, frag, ok := strings.Cut(pu.EscapedFragment(), "?")
	if !ok || !strings.HasPrefix(pu.Fragment, "/stacks/quickcreate?") {
		t.Fatalf("fragment %q", pu.Fragment)
	}
	q, err := url.ParseQuery(frag)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"templateURL":                              regParams().TemplateURL,
		"param_" + infra.ParamExternalID:           regParams().ExternalID,
		"param_" + infra.ParamRegistrationTopicARN: testTopic,
		"param_" + infra.ParamRegistrationToken:    testToken,
		"param_" + infra.ParamRoleName:             DefaultRoleName(infra.DefaultRoleNamePrefix, regParams().TrustedPrincipalARN, regParams().TenantID),
	}
	for k, v := range want {
		if got := q.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if strings.ContainsAny(u, "' \"<>") {
		t.Errorf("the link has characters unsafe in HTML attributes: %s", u)
	}
}

// TestRenderingsAttachTheDefaultPolicyOfThePrincipalsPartition: the
// registration quick-create link, the StackSet commands and the CLI steps
// open the published template, whose ManagedPolicyArns default is of the
// aws partition, and the module snippet the module; outside the aws
// partition each passes the default policy in the principal's partition,
// so the customer's stack can attach it. Whatever a rendering leaves to
// the default is checked as the published default.
func TestRenderingsAttachTheDefaultPolicyOfThePrincipalsPartition(t *testing.T) {
	published := defaultManagedPolicies("aws")
	if len(published) == 0 || !strings.HasPrefix(published[0], "arn:aws:") {
		t.Fatalf("published default ManagedPolicyArns = %v, want the aws partition's", published)
	}
	tests := []struct{ partition, region, templateURL string }{
		{"aws", "eu-west-1", "https://b.s3.eu-west-1.amazonaws.com/customer-role.yaml"},
		{"aws-cn", "cn-north-1", "https://b.s3.cn-north-1.amazonaws.com.cn/customer-role.yaml"},
		{"aws-us-gov", "us-gov-west-1", "https://b.s3.us-gov-west-1.amazonaws.com/customer-role.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.partition, func(t *testing.T) {
			p := Params{ExternalID: extID, TrustedPrincipalARN: "arn:" + tt.partition + ":iam::111122223333:role/rolecall-prod-access", TenantID: "acme",
				TemplateURL: tt.templateURL, Region: tt.region}
			r := Registration{TopicARN: "arn:" + tt.partition + ":sns:" + tt.region + ":111122223333:rolecall-prod-registration", Token: testToken}
			attached := map[string][]string{} // rendering → the policies its stack attaches
			passed := func(name, v string, ok bool) {
				if attached[name] = published; ok {
					attached[name] = strings.Split(v, ",")
				}
			}

			link, err := RegistrationQuickCreateURL(p, r)
			if err != nil {
				t.Fatal(err)
			}
			_, frag, _ := strings.Cut(link, "#/stacks/quickcreate?")
			q, err := url.ParseQuery(frag)
			if err != nil {
				t.Fatal(err)
			}
			passed("registration quick-create link", q.Get("param_"+infra.ParamManagedPolicyARNs), q.Has("param_"+infra.ParamManagedPolicyARNs))

			cmds, err := StackSetCommands(p, r)
			if err != nil {
				t.Fatal(err)
			}
			set := cfnParams(t, flag(t, shellWords(t, cmds, map[string]string{})[0], "--parameters"))
			v, ok := set[infra.ParamManagedPolicyARNs]
			passed("StackSet", v, ok)

			cli, err := CLI(p)
			if err != nil {
				t.Fatal(err)
			}
			// The deploy command only: the steps after it read its output
			// with $(...), which shellWords does not model.
			_, step, _ := strings.Cut(cli, "aws cloudformation deploy")
			step, _, _ = strings.Cut(step, "\n\n")
			deploy := shellWords(t, "aws cloudformation deploy"+step, map[string]string{})[0]
			v, ok = "", false
			for _, w := range deploy[slices.Index(deploy, "--parameter-overrides")+1:] {
				if after, found := strings.CutPrefix(w, infra.ParamManagedPolicyARNs+"="); found {
					v, ok = after, true
				}
			}
			passed("CLI", v, ok)

			p.ModuleSource = "git::https://example.com/rolecall//infra/terraform/customer-role"
			_, f := terraformFile(t, p)
			body, _ := f.Body.(*hclsyntax.Body)
			if a := body.Blocks[0].Body.Attributes["managed_policy_arns"]; a != nil {
				list, diags := a.Expr.Value(nil)
				if diags.HasErrors() {
					t.Fatalf("managed_policy_arns: %v", diags)
				}
				var arns []string
				for _, e := range list.AsValueSlice() {
					arns = append(arns, e.AsString())
				}
				passed("module snippet", strings.Join(arns, ","), true)
			} else {
				passed("module snippet", "", false)
			}

			for name, arns := range attached {
				if tt.partition == "aws" && !slices.Equal(arns, published) {
					t.Errorf("%s: attaches %v, want the template's default %v", name, arns, published)
				}
				for _, a := range arns {
					if !strings.HasPrefix(a, "arn:"+tt.partition+":") {
						t.Errorf("%s: the stack attaches %s, a policy of another partition than the %s account's", name, a, tt.partition)
					}
				}
			}
			if len(attached) != 4 {
				t.Errorf("checked %d renderings, want 4", len(attached))
			}
		})
	}
}

// shellWords splits POSIX shell text into commands of words, as sh would
// for the subset the renderer emits: single quotes, double quotes with
// $VAR expansion from vars, backslash-newline continuations, # comments,
// NAME=value assignments (recorded in vars).
func shellWords(t *testing.T, s string, vars map[string]string) [][]string {
	t.Helper()
	var cmds [][]string
	var words []string
	var w strings.Builder
	inWord := false
	flush := func() {
		if inWord {
			words = append(words, w.String())
			w.Reset()
			inWord = false
		}
	}
	end := func() {
		flush()
		if len(words) == 1 && strings.Contains(words[0], "=") && !strings.HasPrefix(words[0], "-") {
			k, v, _ := strings.Cut(words[0], "=")
			vars[k] = v
		} else if len(words) > 0 {
			cmds = append(cmds, words)
		}
		words = nil
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s) && s[i+1] == '\n':
			i++
		case c == '\\' && i+1 < len(s):
			w.WriteByte(s[i+1])
			inWord = true
			i++
		case c == '\n':
			end()
		case c == ' ' || c == '\t':
			flush()
		case c == '#' && !inWord:
			for i < len(s) && s[i] != '\n' {
				i++
			}
			end()
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				t.Fatalf("unterminated single quote at %d", i)
			}
			w.WriteString(s[i+1 : i+1+j])
			inWord = true
			i += j + 1
		case c == '"':
			j := strings.IndexByte(s[i+1:], '"')
			if j < 0 {
				t.Fatalf("unterminated double quote at %d", i)
			}
			part := s[i+1 : i+1+j]
			if strings.ContainsAny(part, "`\\") {
				t.Fatalf("double-quoted %q has characters this parser does not model", part)
			}
			for k, v := range vars {
				part = strings.ReplaceAll(part, "$"+k, v)
			}
			if strings.Contains(part, "$") {
				t.Fatalf("unexpanded variable in %q", part)
			}
			w.WriteString(part)
			inWord = true
			i += j + 1
		case strings.IndexByte("$`;&|<>()", c) >= 0:
			t.Fatalf("unquoted shell metacharacter %q at %d: %q", c, i, s[max(0, i-20):min(len(s), i+20)])
		default:
			w.WriteByte(c)
			inWord = true
		}
	}
	end()
	return cmds
}

func flag(t *testing.T, cmd []string, name string) string {
	t.Helper()
	i := slices.Index(cmd, name)
	if i < 0 || i+1 >= len(cmd) {
		t.Fatalf("%v has no %s value", cmd[:3], name)
	}
	return cmd[i+1]
}

func cfnParams(t *testing.T, s string) map[string]string {
	t.Helper()
	var ps []cfnParameter
	if err := json.Unmarshal([]byte(s), &ps); err != nil {
		t.Fatalf("parameters %q: %v", s, err)
	}
	out := map[string]string{}
	for _, p := range ps {
		out[p.ParameterKey] = p.ParameterValue
	}
	return out
}

func TestStackSetCommands(t *testing.T) {
	for _, withURL := range []bool{true, false} {
		p := regParams()
		if !withURL {
			p.TemplateURL = ""
		}
		out, err := StackSetCommands(p, Registration{TopicARN: testTopic, Token: testToken})
		if err != nil {
			t.Fatal(err)
		}
		vars := map[string]string{}
		cmds := shellWords(t, out, vars)
		if len(cmds) != 2 {
			t.Fatalf("%d commands:\n%s", len(cmds), out)
		}
		set, inst := cmds[0], cmds[1]
		if !slices.Equal(set[:3], []string{"aws", "cloudformation", "create-stack-set"}) || !slices.Equal(inst[:3], []string{"aws", "cloudformation", "create-stack-instances"}) {
			t.Fatalf("commands %v / %v", set[:3], inst[:3])
		}
		if flag(t, set, "--permission-model") != "SERVICE_MANAGED" || flag(t, set, "--auto-deployment") != "Enabled=true,RetainStacksOnAccountRemoval=false" ||
			flag(t, set, "--capabilities") != "CAPABILITY_NAMED_IAM" {
			t.Errorf("create-stack-set: %q", set)
		}
		if withURL && flag(t, set, "--template-url") != p.TemplateURL {
			t.Errorf("--template-url = %q", flag(t, set, "--template-url"))
		}
		if !withURL && flag(t, set, "--template-body") != "file://"+DefaultTemplateFile {
			t.Errorf("--template-body = %q", flag(t, set, "--template-body"))
		}
		trust := cfnParams(t, flag(t, set, "--parameters"))
		if trust[infra.ParamExternalID] != p.ExternalID || trust[infra.ParamTrustedPrincipalARN] != p.TrustedPrincipalARN || trust[infra.ParamRoleName] != DefaultRoleName(infra.DefaultRoleNamePrefix, p.TrustedPrincipalARN, p.TenantID) || len(trust) != 3 {
			t.Errorf("stack set parameters = %v", trust)
		}
		reg := cfnParams(t, flag(t, inst, "--parameter-overrides"))
		if reg[infra.ParamRegistrationTopicARN] != testTopic || reg[infra.ParamRegistrationToken] != testToken || len(reg) != 2 {
			t.Errorf("instance parameters = %v", reg)
		}
		for _, c := range cmds {
			if flag(t, c, "--region") != "eu-west-1" || flag(t, c, "--stack-set-name") != DefaultStackName {
				t.Errorf("%s: region %q, name %q", c[2], flag(t, c, "--region"), flag(t, c, "--stack-set-name"))
			}
		}
		if flag(t, inst, "--regions") != "eu-west-1" || flag(t, inst, "--deployment-targets") != "OrganizationalUnitIds=ou-xxxx-xxxxxxxx" {
			t.Errorf("instances: regions %q, targets %q", flag(t, inst, "--regions"), flag(t, inst, "--deployment-targets"))
		}
	}
}

func TestRegistrationRejected(t *testing.T) {
	tests := []struct {
		name string
		r    Registration
	}{
		{"no topic", Registration{Token: testToken}},
		{"no token", Registration{TopicARN: testTopic}},
		{"lambda instead of topic", Registration{TopicARN: "arn:aws:lambda:eu-west-1:999988887777:function:x", Token: testToken}},
		{"other partition", Registration{TopicARN: "arn:aws-cn:sns:cn-north-1:999988887777:t", Token: testToken}},
		{"quote in topic", Registration{TopicARN: testTopic + "'", Token: testToken}},
		{"newline in token", Registration{TopicARN: testTopic, Token: testToken[:46] + "\n"}},
		{"invite code as token", Registration{TopicARN: testTopic, Token: strings.Repeat("a", 39)}},
	}
	for _, tc := range tests {
		for name, render := range map[string]func(Params, Registration) (string, error){"link": RegistrationQuickCreateURL, "stackset": StackSetCommands} {
			out, err := render(regParams(), tc.r)
			var e *Error
			if !errors.As(err, &e) || e.Code != CodeInvalidRegistration || out != "" {
				t.Errorf("%s %s: (%q, %v), want %s", tc.name, name, out, err, CodeInvalidRegistration)
			}
		}
	}
	if _, err := RegistrationQuickCreateURL(Params{ExternalID: "x'y", TrustedPrincipalARN: regParams().TrustedPrincipalARN}, Registration{TopicARN: testTopic, Token: testToken}); err == nil {
		t.Error("an invalid external ID was rendered")
	}
}

// TestValidateTopicARN: a registration topic is an SNS topic ARN of the
// partner's partition, nothing else.
func TestValidateTopicARN(t *testing.T) {
	tests := []struct {
		arn, partition string
		ok             bool
	}{
		{"arn:aws:sns:eu-west-1:111122223333:rolecall-prod-registration", "aws", true},
		{"arn:aws-cn:sns:cn-north-1:111122223333:rolecall-prod-registration", "aws-cn", true},
		{"arn:aws:sns:eu-west-1:111122223333:rolecall-prod-registration", "aws-cn", false},
		{"arn:aws:sqs:eu-west-1:111122223333:rolecall-prod-registration", "aws", false},
		{"arn:aws:sns:eu-west-1:1111:rolecall", "aws", false},
		{"", "aws", false},
	}
	for _, tt := range tests {
		err := ValidateTopicARN(tt.arn, tt.partition)
		var e *Error
		if tt.ok != (err == nil) || !tt.ok && (!errors.As(err, &e) || e.Code != CodeInvalidRegistration || e.Field != "registrationTopicArn") {
			t.Errorf("ValidateTopicARN(%q, %s) = %v, want ok %v", tt.arn, tt.partition, err, tt.ok)
		}
	}
}
