package stack_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/rolecall/rolecall/internal/stack"
)

// root is the repository root, where template.yaml lives.
const root = "../.."

var (
	loadOnce sync.Once
	tmpl     stack.Template
	loadErr  error
)

// template returns the parsed template.yaml (parsed once).
func template(t *testing.T) stack.Template {
	t.Helper()
	loadOnce.Do(func() { tmpl, loadErr = stack.LoadTemplate(filepath.Join(root, "template.yaml")) })
	if loadErr != nil {
		t.Fatal(loadErr)
	}
	return tmpl
}

// functions maps each function's logical ID to its directory under
// functions/.
var functions = map[string]string{
	"ApiFunction":      "api",
	"PublishFunction":  "publish",
	"VerifyFunction":   "verify",
	"SweepFunction":    "sweep",
	"RegisterFunction": "register",
}

// pseudo are sample values of the pseudo parameters, for resolve.
var pseudo = map[string]string{
	"AWS::AccountId": "111122223333", "AWS::Region": "us-east-1", "AWS::Partition": "aws",
	"AWS::URLSuffix": "amazonaws.com", "AWS::StackName": "rolecall-dev", "AWS::NoValue": "",
}

// resolve resolves v from template.yaml with ResolveValue, the parameter
// values given and the sample pseudo parameters; what does not resolve
// fails the test.
func resolve(t *testing.T, v any, params map[string]string) any {
	t.Helper()
	vals := stack.Values{Params: maps.Clone(pseudo)}
	maps.Copy(vals.Params, params)
	out, err := template(t).ResolveValue(v, vals)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func m(v any) map[string]any {
	x, _ := v.(map[string]any)
	return x
}

func list(v any) []any {
	switch x := v.(type) {
	case []any:
		return x
	case nil:
		return nil
	}
	return []any{v}
}

func sprint(v any) string { return fmt.Sprint(v) }

func writeFile(path, content string) error { return os.WriteFile(path, []byte(content), 0o644) }

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
