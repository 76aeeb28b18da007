package stack_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rolecall/rolecall/internal/stack"
)

func TestSAMConfig(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "samconfig.toml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := stack.ParseSAMConfig(string(b))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Version != 0.1 {
		t.Errorf("version = %v, want 0.1", cfg.Version)
	}
	params := template(t).Parameters()
	for env, confirm := range map[string]bool{"default": false, "prod": true} {
		d := cfg.Tables[env+".deploy.parameters"]
		if d == nil {
			t.Errorf("no [%s.deploy.parameters]", env)
			continue
		}
		if name, _ := d["stack_name"].(string); !strings.HasPrefix(name, "rolecall-") {
			t.Errorf("%s stack_name = %v", env, d["stack_name"])
		}
		if r, _ := d["region"].(string); r == "" {
			t.Errorf("%s has no region", env)
		}
		caps, _ := d["capabilities"].(string)
		if !strings.Contains(caps, "CAPABILITY_NAMED_IAM") {
			t.Errorf("%s capabilities = %q; the verifier role has a name, so CAPABILITY_NAMED_IAM is needed", env, caps)
		}
		if d["resolve_s3"] != true {
			t.Errorf("%s resolve_s3 = %v", env, d["resolve_s3"])
		}
		if d["confirm_changeset"] != confirm {
			t.Errorf("%s confirm_changeset = %v, want %v", env, d["confirm_changeset"], confirm)
		}
		po, _ := d["parameter_overrides"].(string)
		overrides, err := stack.ParameterOverrides(po)
		if err != nil {
			t.Errorf("%s: %v", env, err)
		}
		for k := range overrides {
			if _, ok := params[k]; !ok {
				t.Errorf("%s overrides %s, which is not a template parameter", env, k)
			}
		}
		if want := map[string]string{"default": "dev", "prod": "prod"}[env]; overrides["Stage"] != want {
			t.Errorf("%s Stage = %q, want %q", env, overrides["Stage"], want)
		}
	}
	if cfg.Tables["default.build.parameters"]["build_in_source"] != true {
		t.Error("builds do not run in source (one go.mod at the root)")
	}
}

func TestParseSAMConfig(t *testing.T) {
	good := "# c\nversion = 0.1\n[a.b.parameters]\ns = \"x # not a comment\" # comment\nn = 3\nbo = false\narr = [\"p\", \"q,r\"]\n"
	cfg, err := stack.ParseSAMConfig(good)
	if err != nil {
		t.Fatal(err)
	}
	tb := cfg.Tables["a.b.parameters"]
	if tb["s"] != "x # not a comment" || tb["n"] != int64(3) || tb["bo"] != false || fmt.Sprint(tb["arr"]) != "[p q,r]" {
		t.Errorf("parsed %v", tb)
	}
	for name, bad := range map[string]string{
		"no version":             "[a.b.parameters]\nk = 1\n",
		"version not a number":   "version = \"0.1\"\n",
		"duplicate key":          "version = 0.1\n[a.b.parameters]\nk = 1\nk = 2\n",
		"duplicate table":        "version = 0.1\n[a.b.parameters]\n[a.b.parameters]\n",
		"array of tables":        "version = 0.1\n[[a]]\n",
		"bare word":              "version = 0.1\n[a.b.parameters]\nk = yes\n",
		"unterminated array":     "version = 0.1\n[a.b.parameters]\nk = [\n",
		"no equals":              "version = 0.1\n[a.b.parameters]\nk\n",
		"other top-level key":    "version = 0.1\nk = 1\n",
		"table too shallow":      "version = 0.1\n[a]\nk = 1\n",
		"not a parameters table": "version = 0.1\n[a.b.other]\nk = 1\n",
	} {
		if _, err := stack.ParseSAMConfig(bad); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
}

func TestParameterOverrides(t *testing.T) {
	got, err := stack.ParameterOverrides(`Stage="dev" EventSource=rolecall Empty=""`)
	if err != nil || got["Stage"] != "dev" || got["EventSource"] != "rolecall" || got["Empty"] != "" || len(got) != 3 {
		t.Errorf("= %v, %v", got, err)
	}
	for _, bad := range []string{`Stage="dev`, `="x"`, `A=1 A=2`} {
		if _, err := stack.ParameterOverrides(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}
