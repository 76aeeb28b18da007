package stack_test

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/rolecall/rolecall/internal/app"
	"github.com/rolecall/rolecall/internal/config"
	"github.com/rolecall/rolecall/internal/stack"
)

// settingsReaders are internal/app's settings readers, by name: each
// function's main passes one to app.Lambda.
var settingsReaders = map[string]func(*config.Env){
	"ReadAPI":      func(e *config.Env) { app.ReadAPI(e) },
	"ReadPublish":  func(e *config.Env) { app.ReadPublish(e) },
	"ReadRegister": func(e *config.Env) { app.ReadRegister(e) },
	"ReadSweep":    func(e *config.Env) { app.ReadSweep(e) },
	"ReadVerify":   func(e *config.Env) { app.ReadVerify(e) },
}

// mainReader returns the name of the app settings reader a main passes to
// app.Lambda, and the environment reads the main makes itself (os.Getenv,
// os.LookupEnv calls), which must be none: every variable is read through
// app.
func mainReader(t *testing.T, path string) (reader string, own []string) {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
	if err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok {
			return true
		}
		x, _ := sel.X.(*ast.Ident)
		switch {
		case x != nil && x.Name == "os" && (sel.Sel.Name == "Getenv" || sel.Sel.Name == "LookupEnv"):
			own = append(own, "os."+sel.Sel.Name)
		case x != nil && x.Name == "app" && sel.Sel.Name == "Lambda" && len(call.Args) > 0:
			if arg, ok := call.Args[0].(*ast.SelectorExpr); ok {
				reader = arg.Sel.Name
			}
		}
		return true
	})
	return reader, own
}

// envReads returns the variables a settings reader looks up.
func envReads(read func(*config.Env)) []string {
	var names []string
	read(config.New(func(name string) (string, bool) {
		names = append(names, name)
		return "", false
	}))
	slices.Sort(names)
	return slices.Compact(names)
}

// TestEnvironmentMatchesMains: the template sets exactly the variables
// each function reads at start (its settings reader in internal/app).
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
			name, own := mainReader(t, filepath.Join(root, "functions", dir, "main.go"))
			if len(own) > 0 {
				t.Errorf("functions/%s/main.go reads the environment itself (%v); read it in internal/app", dir, own)
			}
			read, ok := settingsReaders[name]
			if !ok {
				t.Fatalf("functions/%s/main.go passes no known settings reader to app.Lambda (found %q)", dir, name)
			}
			got := envReads(read)
			if len(got) == 0 {
				t.Fatalf("app.%s reads no variable", name)
			}
			for _, v := range got {
				if !slices.Contains(set, v) {
					t.Errorf("functions/%s (app.%s) reads %s, which template.yaml does not set", dir, name, v)
				}
			}
			for _, v := range set {
				if !slices.Contains(got, v) {
					t.Errorf("template.yaml sets %s, which functions/%s (app.%s) does not read", v, dir, name)
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

// TestMainReaderFindsTheReader: the reader is found, and so is a main's
// own read of the environment.
func TestMainReaderFindsTheReader(t *testing.T) {
	for _, tc := range []struct {
		name, src, want string
		own             []string
	}{
		{"app.Lambda", "package main\nfunc main() { h := app.Lambda(app.ReadSweep, app.NewSweep); _ = h }", "ReadSweep", nil},
		{"os.Getenv", "package main\nimport \"os\"\nfunc main() { _ = os.Getenv(\"X\"); app.Lambda(app.ReadAPI, app.NewAPI) }", "ReadAPI", []string{"os.Getenv"}},
		{"os.LookupEnv", "package main\nimport \"os\"\nfunc main() { _, _ = os.LookupEnv(\"X\") }", "", []string{"os.LookupEnv"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "main.go")
			if err := writeFile(path, tc.src); err != nil {
				t.Fatal(err)
			}
			got, own := mainReader(t, path)
			if got != tc.want || !slices.Equal(own, tc.own) {
				t.Errorf("mainReader = %q, %v; want %q, %v", got, own, tc.want, tc.own)
			}
		})
	}
}

// TestEnvReadsRecordsEveryLookup: every variable a reader looks up is
// recorded once, required or optional.
func TestEnvReadsRecordsEveryLookup(t *testing.T) {
	got := envReads(func(e *config.Env) {
		_ = e.String("A_VAR")
		_ = e.StringOr("B_VAR", "x")
		_ = e.DurationOr("C_VAR", 0)
		_ = e.IntOr("D_VAR", 1)
		_ = e.String("A_VAR")
	})
	if want := []string{"A_VAR", "B_VAR", "C_VAR", "D_VAR"}; !slices.Equal(got, want) {
		t.Errorf("envReads = %v, want %v", got, want)
	}
}

// TestSettingsRefuseWhatTheParametersForbid: a variable the template sets
// from a bounded Number parameter (!Ref P, or !Sub ${P}<unit>) is refused
// by its function's settings reader just outside the parameter's MinValue
// and MaxValue, and accepted at both, so a function started by hand with
// a value the stack would refuse does not run with it.
func TestSettingsRefuseWhatTheParametersForbid(t *testing.T) {
	tm := template(t)
	params := m(tm["Parameters"])
	checked := 0
	for id, dir := range functions {
		name, _ := mainReader(t, filepath.Join(root, "functions", dir, "main.go"))
		read := settingsReaders[name]
		vars := m(m(m(tm.Resources("AWS::Serverless::Function")[id]["Properties"])["Environment"])["Variables"])
		for v, val := range vars {
			param, unit := boundedSource(val)
			p := m(params[param])
			lo, errLo := strconv.Atoi(fmt.Sprint(p["MinValue"]))
			hi, errHi := strconv.Atoi(fmt.Sprint(p["MaxValue"]))
			if param == "" || errLo != nil || errHi != nil {
				continue
			}
			checked++
			for _, tc := range []struct {
				n    int
				want bool // accepted
			}{{lo - 1, false}, {lo, true}, {hi, true}, {hi + 1, false}} {
				value := fmt.Sprintf("%d%s", tc.n, unit)
				env := config.New(func(k string) (string, bool) {
					if k == v {
						return value, true
					}
					return "", false
				})
				read(env)
				refused := env.Err() != nil && strings.Contains(env.Err().Error(), v+"=")
				if refused == tc.want {
					t.Errorf("%s (app.%s): %s=%s (parameter %s, %d to %d): accepted %v, want %v (%v)", id, name, v, value, param, lo, hi, !refused, tc.want, env.Err())
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("no variable set from a bounded parameter")
	}
}

// boundedSource is the parameter a variable's value names and the unit
// after it: !Ref P gives (P, ""), !Sub ${P}m gives (P, "m").
func boundedSource(val any) (param, unit string) {
	if r, ok := m(val)["Ref"].(string); ok {
		return r, ""
	}
	sub, _ := m(val)["Fn::Sub"].(string)
	parts := stack.SubRefs(sub)
	if len(parts) == 2 && parts[0].Ref && !parts[1].Ref {
		return parts[0].Text, parts[1].Text
	}
	return "", ""
}
