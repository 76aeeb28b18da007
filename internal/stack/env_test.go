package stack_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
)

// envReaders are the config.Env methods that read a variable by name.
var envReaders = map[string]bool{"String": true, "StringOr": true, "DurationOr": true, "IntOr": true}

// envReads returns the variables a main reads: the literal first argument
// of every config.Env read, and of os.Getenv/os.LookupEnv. A read with a
// computed name is an error, since it cannot be checked.
func envReads(t *testing.T, path string) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
	if err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	var names []string
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok || len(call.Args) == 0 {
			return true
		}
		x, _ := sel.X.(*ast.Ident)
		isOS := x != nil && x.Name == "os" && (sel.Sel.Name == "Getenv" || sel.Sel.Name == "LookupEnv")
		if !isOS && !envReaders[sel.Sel.Name] {
			return true
		}
		lit, ok := call.Args[0].(*ast.BasicLit)
		if !ok || lit.Kind != token.STRING {
			if isOS || x != nil && x.Name == "env" {
				t.Errorf("%s: %s.%s with a computed name", path, x.Name, sel.Sel.Name)
			}
			return true
		}
		name, _ := strconv.Unquote(lit.Value)
		names = append(names, name)
		return true
	})
	slices.Sort(names)
	return slices.Compact(names)
}

// TestEnvironmentMatchesMains: the template sets exactly the variables
// each function's main reads.
func TestEnvironmentMatchesMains(t *testing.T) {
	tm := template(t)
	global := m(m(m(m(tm["Globals"])["Function"])["Environment"])["Variables"])
	for id, dir := range functions {
		t.Run(id, func(t *testing.T) {
			fn := tm.Resources("AWS::Serverless::Function")[id]
			vars := m(m(m(fn["Properties"])["Environment"])["Variables"])
			var set []string
			for k := range vars {
				set = append(set, k)
			}
			for k := range global {
				set = append(set, k)
			}
			slices.Sort(set)
			set = slices.Compact(set)
			read := envReads(t, filepath.Join(root, "functions", dir, "main.go"))
			if len(read) == 0 {
				t.Fatalf("functions/%s/main.go reads no variable through config.Env", dir)
			}
			for _, v := range read {
				if !slices.Contains(set, v) {
					t.Errorf("functions/%s/main.go reads %s, which template.yaml does not set", dir, v)
				}
			}
			for _, v := range set {
				if !slices.Contains(read, v) {
					t.Errorf("template.yaml sets %s, which functions/%s/main.go does not read", v, dir)
				}
			}
		})
	}
}

// TestAPIEnvironment pins the API's variables to their sources.
func TestAPIEnvironment(t *testing.T) {
	vars := m(m(m(template(t).Resources("")["ApiFunction"]["Properties"])["Environment"])["Variables"])
	want := map[string]string{
		"TABLE_NAME":                        `map[Ref:Table]`,
		"VERIFY_QUEUE_URL":                  `map[Ref:PriorityQueue]`,
		"PARTNER_ACCOUNT_ID":                `map[Ref:AWS::AccountId]`,
		"TRUSTED_PRINCIPAL_ARN":             `map[Fn::GetAtt:[PartnerAccessRole Arn]]`,
		"CUSTOMER_ROLE_TEMPLATE_URL":        `map[Fn::If:[HasOwnTemplateUrl map[Ref:CustomerRoleTemplateUrl] map[Fn::Sub:https://${CustomerTemplateBucket.RegionalDomainName}/customer-role.yaml]]]`,
		"CUSTOMER_ROLE_NAME_PREFIX":         `map[Ref:CustomerRoleNamePrefix]`,
		"EVENT_SOURCE":                      `map[Ref:EventSource]`,
		"SUBMISSIONS_PER_INVITE_PER_MINUTE": `map[Ref:SubmissionsPerInvitePerMinute]`,
		"REGISTRATION_TOPIC_ARN":            `map[Ref:RegistrationTopic]`,
	}
	for k, w := range want {
		if got := sprint(vars[k]); got != w {
			t.Errorf("ApiFunction %s = %s, want %s", k, got, w)
		}
	}
}

func TestEnvReadsFindsEveryForm(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "main.go")
	src := `package main
import "os"
func main() {
	env := cfg()
	_ = env.String("A_VAR")
	_ = env.StringOr("B_VAR", "x")
	_ = env.DurationOr("C_VAR", 0)
	_ = env.IntOr("D_VAR", 1)
	_ = os.Getenv("E_VAR")
	_, _ = os.LookupEnv("F_VAR")
	_ = env.String("A_VAR")
}`
	if err := writeFile(path, src); err != nil {
		t.Fatal(err)
	}
	got := envReads(t, path)
	if want := []string{"A_VAR", "B_VAR", "C_VAR", "D_VAR", "E_VAR", "F_VAR"}; !slices.Equal(got, want) {
		t.Errorf("envReads = %v, want %v", got, want)
	}
}
