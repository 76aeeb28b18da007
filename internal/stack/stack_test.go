package stack_test

import (
	"encoding/json"
	"fmt"
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
