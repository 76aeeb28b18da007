package stack_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/rolecall/rolecall/internal/probe"
	"github.com/rolecall/rolecall/internal/sandbox"
	"github.com/rolecall/rolecall/internal/stack"
	"github.com/rolecall/rolecall/internal/testkit/iamcalls"
)

// isNoValue reports whether v is {"Ref": "AWS::NoValue"}.
func isNoValue(v any) bool { return m(v)["Ref"] == "AWS::NoValue" && len(m(v)) == 1 }

// statements returns a policy document's statements with every branch of
// a conditional (Fn::If) statement.
func statements(doc map[string]any) []any { return iamcalls.Statements(doc) }

// evalCondition evaluates a template condition with parameter values (a
// CommaDelimitedList given as its comma-joined string); a condition the
// evaluator cannot resolve fails the test.
func evalCondition(t *testing.T, name string, params map[string]string) bool {
	t.Helper()
	b, err := template(t).Condition(name, stack.Values{Params: params})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// resolveIfs replaces each Fn::If by the branch its condition picks and
// drops AWS::NoValue from lists and mappings, as CloudFormation does.
func resolveIfs(t *testing.T, v any, params map[string]string) any {
	t.Helper()
	switch x := v.(type) {
	case map[string]any:
		if br, ok := x["Fn::If"].([]any); ok && len(x) == 1 && len(br) == 3 {
			if evalCondition(t, fmt.Sprint(br[0]), params) {
				return resolveIfs(t, br[1], params)
			}
			return resolveIfs(t, br[2], params)
		}
		out := map[string]any{}
		for k, e := range x {
			if r := resolveIfs(t, e, params); !isNoValue(r) {
				out[k] = r
			}
		}
		return out
	case []any:
		var out []any
		for _, e := range x {
			if r := resolveIfs(t, e, params); !isNoValue(r) {
				out = append(out, r)
			}
		}
		return out
	}
	return v
}

func accessRole(t *testing.T) map[string]any {
	t.Helper()
	r := template(t).Resources("AWS::IAM::Role")["PartnerAccessRole"]
	if r == nil {
		t.Fatal("no PartnerAccessRole")
	}
	return m(r["Properties"])
}

func withParams(t *testing.T, set map[string]string) map[string]string {
	t.Helper()
	p := template(t).Parameters()
	for k, v := range set {
		if _, ok := p[k]; !ok {
			t.Fatalf("no parameter %s", k)
		}
		p[k] = v
	}
	return p
}

func asJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestPartnerAccessRolePermissions pins the access role's permissions:
// sts:AssumeRole on any role, denied in the partner's own account, and in
// its own Organization unless DenyOwnOrganization is false.
func TestPartnerAccessRolePermissions(t *testing.T) {
	allow := `{"Action":["sts:AssumeRole"],"Effect":"Allow","Resource":{"Fn::Sub":"arn:${AWS::Partition}:iam::*:role/*"},"Sid":"AssumeCustomerRoles"}`
	ownAccount := `{"Action":["sts:AssumeRole"],"Condition":{"StringEquals":{"aws:ResourceAccount":{"Ref":"AWS::AccountId"}}},"Effect":"Deny","Resource":{"Fn::Sub":"arn:${AWS::Partition}:iam::*:role/*"},"Sid":"NoOwnAccountRoles"}`
	ownOrg := `{"Action":["sts:AssumeRole"],"Condition":{"StringEquals":{"aws:ResourceOrgID":"${aws:PrincipalOrgID}"}},"Effect":"Deny","Resource":{"Fn::Sub":"arn:${AWS::Partition}:iam::*:role/*"},"Sid":"NoOwnOrganizationRoles"}`
	tests := []struct {
		name   string
		params map[string]string
		want   []string
	}{
		{"defaults", nil, []string{allow, ownAccount, ownOrg}},
		{"organization allowed", map[string]string{"DenyOwnOrganization": "false"}, []string{allow, ownAccount}},
		{"organization denied", map[string]string{"DenyOwnOrganization": "true"}, []string{allow, ownAccount, ownOrg}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pols := list(resolveIfs(t, accessRole(t)["Policies"], withParams(t, tt.params)))
			if len(pols) != 1 {
				t.Fatalf("%d policies, want 1", len(pols))
			}
			doc := m(m(pols[0])["PolicyDocument"])
			var got []string
			for _, s := range list(doc["Statement"]) {
				got = append(got, asJSON(t, s))
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("statements\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(tt.want, "\n  "))
			}
		})
	}
	if d := template(t).Parameters()["DenyOwnOrganization"]; d != "true" {
		t.Errorf("DenyOwnOrganization defaults to %q, want true", d)
	}
	for _, k := range []string{"ManagedPolicyArns", "PermissionsBoundary", "Path"} {
		if _, ok := accessRole(t)[k]; ok {
			t.Errorf("PartnerAccessRole sets %s", k)
		}
	}
}

// TestPartnerAccessRoleTrust: the verify function's role and each
// workload principal, and with no workload principals a policy with the
// verifier's statement only (never an empty Principal, which IAM
// rejects).
func TestPartnerAccessRoleTrust(t *testing.T) {
	verifier := `{"Action":"sts:AssumeRole","Effect":"Allow","Principal":{"AWS":{"Fn::GetAtt":["VerifyFunctionRole","Arn"]}},"Sid":"Verifier"}`
	workloads := `{"Action":"sts:AssumeRole","Condition":{"StringEquals":{"aws:PrincipalAccount":{"Ref":"AWS::AccountId"}}},"Effect":"Allow","Principal":{"AWS":{"Ref":"WorkloadPrincipalArns"}},"Sid":"Workloads"}`
	tests := []struct {
		name      string
		workloads string
		want      []string
	}{
		{"none", "", []string{verifier}},
		{"one", "arn:aws:iam::111122223333:role/backend", []string{verifier, workloads}},
		{"two", "arn:aws:iam::111122223333:role/backend,arn:aws:iam::111122223333:role/terraform", []string{verifier, workloads}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := m(resolveIfs(t, accessRole(t)["AssumeRolePolicyDocument"], withParams(t, map[string]string{"WorkloadPrincipalArns": tt.workloads})))
			if doc["Version"] != "2012-10-17" {
				t.Errorf("Version %v", doc["Version"])
			}
			var got []string
			for _, s := range list(doc["Statement"]) {
				got = append(got, asJSON(t, s))
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("trust statements\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(tt.want, "\n  "))
			}
		})
	}
	p := m(m(template(t)["Parameters"])["WorkloadPrincipalArns"])
	if p["Type"] != "CommaDelimitedList" || p["Default"] != "" {
		t.Errorf("WorkloadPrincipalArns is %v with default %q, want an empty CommaDelimitedList", p["Type"], p["Default"])
	}
}

// TestWorkloadPrincipalsAreOfThisAccount: a principal of another account
// in WorkloadPrincipalArns cannot assume the access role (its trust is
// evaluated by the sandbox STS, as deployed), one of this account can;
// and the parameter refuses what is no role or user ARN.
func TestWorkloadPrincipalsAreOfThisAccount(t *testing.T) {
	const (
		partner  = "111122223333"
		backend  = "arn:aws:iam::" + partner + ":role/backend"
		outsider = "arn:aws:iam::444455556666:role/outsider"
		access   = "arn:aws:iam::" + partner + ":role/rolecall-prod-access"
	)
	vals := stack.Values{Params: withParams(t, map[string]string{"Stage": "prod", "WorkloadPrincipalArns": backend + "," + outsider}),
		Attrs: map[string]string{"VerifyFunctionRole.Arn": "arn:aws:iam::" + partner + ":role/rolecall-prod-verifier"}}
	vals.Params["AWS::AccountId"], vals.Params["AWS::Partition"] = partner, "aws"
	trust, err := template(t).ResolveValue(accessRole(t)["AssumeRolePolicyDocument"], vals)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := json.Marshal(trust)
	if err != nil {
		t.Fatal(err)
	}
	sts := sandbox.New(sandbox.Config{})
	if err := sts.PutRole(access, doc); err != nil {
		t.Fatalf("the sandbox refuses the trust policy: %v\n%s", err, doc)
	}
	allowAssume := []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"` + access + `"}]}`)
	for _, caller := range []string{backend, outsider} {
		if err := errors.Join(sts.SetCaller("AKIA"+caller[13:25], caller), sts.SetIdentityPolicies(caller, allowAssume)); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		caller string
		denied bool
	}{{backend, false}, {outsider, true}}
	for _, tt := range tests {
		_, err := sts.Assumer(tt.caller).AssumeRole(context.Background(), probe.AssumeRequest{RoleARN: access, SessionName: "workload", DurationSeconds: 900})
		if denied := errors.Is(err, probe.ErrDenied); denied != tt.denied || !tt.denied && err != nil {
			t.Errorf("%s assumes the access role: %v, want denied %v", tt.caller, err, tt.denied)
		}
	}

	pat := m(m(template(t)["Parameters"])["WorkloadPrincipalArns"])["AllowedPattern"]
	re := regexp.MustCompile(`^(?:` + fmt.Sprint(pat) + `)$`)
	for v, ok := range map[string]bool{"": true, backend: true, "arn:aws:iam::" + partner + ":user/ci": true,
		"arn:aws:iam::" + partner + ":root": false, "*": false, "arn:aws:sts::" + partner + ":assumed-role/r/s": false} {
		if re.MatchString(v) != ok {
			t.Errorf("WorkloadPrincipalArns item %q: allowed %v, want %v", v, !ok, ok)
		}
	}
}

// TestPartnerAccessRoleIsTheTrustedPrincipal: named per stage, a one-hour
// session at most (role chaining's limit), and the principal the stack
// output and the API hand to customers, and the verifier chains through.
func TestPartnerAccessRoleIsTheTrustedPrincipal(t *testing.T) {
	p := accessRole(t)
	if got := iamcalls.Canon(p["RoleName"]); got != "Sub:rolecall-${Stage}-access" {
		t.Errorf("RoleName = %s", got)
	}
	if got := fmt.Sprint(p["MaxSessionDuration"]); got != "3600" {
		t.Errorf("MaxSessionDuration = %s", got)
	}
	out := m(m(template(t)["Outputs"])["TrustedPrincipalArn"])
	if got := iamcalls.Canon(out["Value"]); got != "GetAtt:PartnerAccessRole.Arn" {
		t.Errorf("output TrustedPrincipalArn = %s", got)
	}
	fns := template(t).Resources("AWS::Serverless::Function")
	// Every function told of the principal customers trust is told the
	// access role's ARN, and these three must be.
	told := map[string]bool{}
	for fn, res := range fns {
		vars := m(m(m(res["Properties"])["Environment"])["Variables"])
		for _, env := range []string{"TRUSTED_PRINCIPAL_ARN", "ACCESS_ROLE_ARN"} {
			if v, ok := vars[env]; ok {
				told[fn] = true
				if got := iamcalls.Canon(v); got != "GetAtt:PartnerAccessRole.Arn" {
					t.Errorf("%s %s = %s", fn, env, got)
				}
			}
		}
	}
	for _, fn := range []string{"ApiFunction", "RegisterFunction", "VerifyFunction"} {
		if !told[fn] {
			t.Errorf("%s is not told the access role's ARN", fn)
		}
	}
}

func TestResolveIfs(t *testing.T) {
	params := withParams(t, map[string]string{"DenyOwnOrganization": "false"})
	in := []any{"a", map[string]any{"Fn::If": []any{"OwnOrganizationDenied", "b", map[string]any{"Ref": "AWS::NoValue"}}},
		map[string]any{"Fn::If": []any{"OwnOrganizationDenied", "c", "d"}}}
	if got := resolveIfs(t, in, params); !reflect.DeepEqual(got, []any{"a", "d"}) {
		t.Errorf("resolveIfs = %v", got)
	}
	if got := resolve(t, map[string]any{"Ref": "DenyOwnOrganization"}, params); got != "false" {
		t.Errorf("Resolve = %v", got)
	}
}
