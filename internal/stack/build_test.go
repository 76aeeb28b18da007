package stack_test

import (
	"debug/elf"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/rolecall/rolecall/internal/testkit/tool"
)

func TestGlobals(t *testing.T) {
	g := m(m(template(t)["Globals"])["Function"])
	want := map[string]any{"Runtime": "provided.al2023", "Handler": "bootstrap", "Tracing": "Active"}
	for k, v := range want {
		if g[k] != v {
			t.Errorf("Globals.Function.%s = %v, want %v", k, g[k], v)
		}
	}
	if a := list(g["Architectures"]); len(a) != 1 || a[0] != "arm64" {
		t.Errorf("Architectures = %v, want [arm64]", a)
	}
	if lc := m(g["LoggingConfig"]); lc["LogFormat"] != "JSON" {
		t.Errorf("LoggingConfig = %v, want LogFormat JSON", lc)
	}
	if ms, ok := g["MemorySize"].(int); !ok || ms < 128 || ms > 1024 {
		t.Errorf("MemorySize = %v", g["MemorySize"])
	}
	if to, ok := g["Timeout"].(int); !ok || to < 3 || to > 60 {
		t.Errorf("Timeout = %v", g["Timeout"])
	}
}

// TestFunctionsBuildFromTheMakefile: every function is built by its
// build-<LogicalId> target from functions/<name>, a main package that
// calls lambda.Start, with the flags provided.al2023 on arm64 needs.
func TestFunctionsBuildFromTheMakefile(t *testing.T) {
	fns := template(t).Resources("AWS::Serverless::Function")
	var ids []string
	for id := range fns {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var want []string
	for id := range functions {
		want = append(want, id)
	}
	slices.Sort(want)
	if !slices.Equal(ids, want) {
		t.Fatalf("template functions = %v, want %v", ids, want)
	}
	tool.Require(t, "make", "apt-get install make")
	for id, fn := range fns {
		t.Run(id, func(t *testing.T) {
			if bm := m(fn["Metadata"])["BuildMethod"]; bm != "makefile" {
				t.Errorf("Metadata.BuildMethod = %v, want makefile", bm)
			}
			p := m(fn["Properties"])
			if p["CodeUri"] != "." {
				t.Fatalf("CodeUri = %v, want . (the root, with the Makefile and go.mod)", p["CodeUri"])
			}
			for _, f := range []string{"Makefile", "go.mod"} {
				if _, err := os.Stat(filepath.Join(root, f)); err != nil {
					t.Errorf("CodeUri lacks %s: %v", f, err)
				}
			}
			art := t.TempDir()
			cmd := exec.Command("make", "--no-print-directory", "-n", "build-"+id, "ARTIFACTS_DIR="+art)
			cmd.Dir = root
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("make -n build-%s: %v\n%s", id, err, out)
			}
			line := strings.TrimSpace(string(out))
			for _, flag := range []string{"GOOS=linux ", "GOARCH=arm64 ", "CGO_ENABLED=0 ", " build ", "-tags lambda.norpc", "-trimpath", `-ldflags="-s -w"`, "-o " + art + "/bootstrap"} {
				if !strings.Contains(line, flag) {
					t.Errorf("build-%s runs %q, which lacks %q", id, line, flag)
				}
			}
			pkg := "./functions/" + functions[id]
			if !strings.HasSuffix(line, " "+pkg) {
				t.Fatalf("build-%s builds %q, want %s", id, line, pkg)
			}
			assertLambdaMain(t, filepath.Join(root, "functions", functions[id], "main.go"))

			// Without ARTIFACTS_DIR the target refuses instead of writing /bootstrap.
			cmd = exec.Command("make", "--no-print-directory", "-n", "build-"+id)
			cmd.Dir = root
			cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "ARTIFACTS_DIR=") })
			out, err = cmd.CombinedOutput()
			if err == nil || !strings.Contains(string(out), "ARTIFACTS_DIR is not set") || strings.Contains(string(out), "/bootstrap ") {
				t.Errorf("make build-%s without ARTIFACTS_DIR: err %v, output %s", id, err, out)
			}
		})
	}
}

// assertLambdaMain checks that path is package main and calls lambda.Start.
func assertLambdaMain(t *testing.T, path string) {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
	if err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	if f.Name.Name != "main" {
		t.Errorf("%s is package %s", path, f.Name.Name)
	}
	starts := false
	ast.Inspect(f, func(n ast.Node) bool {
		if sel, ok := n.(*ast.SelectorExpr); ok {
			if x, ok := sel.X.(*ast.Ident); ok && x.Name == "lambda" && sel.Sel.Name == "Start" {
				starts = true
			}
		}
		return true
	})
	if !starts {
		t.Errorf("%s does not call lambda.Start", path)
	}
}

// TestMakefileHasNoStrayBuildTargets: every build-<X> target of the
// Makefile belongs to a function of the template.
func TestMakefileHasNoStrayBuildTargets(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	fns := template(t).Resources("AWS::Serverless::Function")
	for _, mt := range regexp.MustCompile(`(?m)^build-([A-Za-z0-9]+):`).FindAllStringSubmatch(string(b), -1) {
		if _, ok := fns[mt[1]]; !ok {
			t.Errorf("Makefile target build-%s has no function in template.yaml", mt[1])
		}
	}
}

// maxBinaryBytes is the most a function's bootstrap may weigh as deployed
// (linux/arm64, the Makefile's flags): 12 MB.
const maxBinaryBytes = 12_000_000

// Every function's bootstrap, built by its Makefile target as sam build
// builds it, stays within maxBinaryBytes.
func TestFunctionBinariesStayWithinTheirSize(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every function; skipped with -short")
	}
	tool.Require(t, "make", "apt-get install make")
	for _, id := range []string{"ApiFunction", "PublishFunction", "VerifyFunction", "SweepFunction", "RegisterFunction"} {
		t.Run(id, func(t *testing.T) {
			art := t.TempDir()
			cmd := exec.Command("make", "--no-print-directory", "build-"+id, "ARTIFACTS_DIR="+art)
			cmd.Dir = root
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("make build-%s: %v\n%s", id, err, out)
			}
			st, err := os.Stat(filepath.Join(art, "bootstrap"))
			if err != nil {
				t.Fatal(err)
			}
			if st.Size() > maxBinaryBytes || st.Size() < 1_000_000 {
				t.Errorf("%s bootstrap is %d bytes, want at most %d", id, st.Size(), maxBinaryBytes)
			}
		})
	}
}

// TestFunctionsLinkOnlyTheirClients: each function's binary links the SDK
// clients of the AWS services it calls and no other (the composition root
// names each function's parts, so the linker drops the rest). The clients
// of the default credential chain (STS, SSO, SSO OIDC, sign-in), which it
// links into every binary, are left out.
func TestFunctionsLinkOnlyTheirClients(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every function; skipped with -short")
	}
	clientRE := regexp.MustCompile(`^github\.com/aws/aws-sdk-go-v2/service/([a-z0-9]+)\.New$`)
	credentialChain := map[string]bool{"sts": true, "sso": true, "ssooidc": true, "signin": true}
	for fn, want := range map[string][]string{
		"api":      {"dynamodb", "sqs"},
		"publish":  {"eventbridge"},
		"register": {"dynamodb"},
		"sweep":    {"dynamodb", "sqs"},
		"verify":   {"dynamodb", "sqs"},
	} {
		t.Run(fn, func(t *testing.T) {
			bin := filepath.Join(t.TempDir(), "bootstrap")
			cmd := exec.Command("go", "build", "-o", bin, "./functions/"+fn)
			cmd.Dir = root
			cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("go build ./functions/%s: %v\n%s", fn, err, out)
			}
			f, err := elf.Open(bin)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			syms, err := f.Symbols()
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, s := range syms {
				if m := clientRE.FindStringSubmatch(s.Name); m != nil && !credentialChain[m[1]] {
					got = append(got, m[1])
				}
			}
			slices.Sort(got)
			if got = slices.Compact(got); !slices.Equal(got, want) {
				t.Errorf("%s links the clients %v, want %v", fn, got, want)
			}
		})
	}
}

// TestMakeFuzzRunsEveryFuzzTarget: `make fuzz` runs each fuzz target of
// the tree, in its package, so a new one cannot be left out of it.
func TestMakeFuzzRunsEveryFuzzTarget(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	var inMake []string
	for _, mt := range regexp.MustCompile(`-fuzz='\^(Fuzz\w+)\$\$' \./(\S+)`).FindAllStringSubmatch(string(b), -1) {
		inMake = append(inMake, mt[2]+" "+mt[1])
	}
	var inTree []string
	decl := regexp.MustCompile(`(?m)^func (Fuzz\w+)\(\w+ \*testing\.F\)`)
	err = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "node_modules" || strings.HasPrefix(d.Name(), ".")) && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		dir, _ := filepath.Rel(root, filepath.Dir(path))
		for _, mt := range decl.FindAllStringSubmatch(string(src), -1) {
			inTree = append(inTree, filepath.ToSlash(dir)+" "+mt[1])
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(inMake)
	slices.Sort(inTree)
	if len(inTree) == 0 {
		t.Fatal("found no fuzz targets in the tree")
	}
	if !slices.Equal(inMake, inTree) {
		t.Errorf("make fuzz runs %v,\nthe tree has %v", inMake, inTree)
	}
}
