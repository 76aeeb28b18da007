package stack

// The pieces of the package only its tests use, compiled into the test
// binary alone (package stack_test sees them): the template as JSON for the
// SAM schema, sample pseudo parameters with a lenient resolver that leaves
// what it cannot resolve in place, for the tests that inspect the
// template's shape rather than deploy it, and the evaluation of one
// condition.

import (
	"encoding/json"
	"strings"
)

// JSON returns the template as JSON.
func (t Template) JSON() ([]byte, error) { return json.Marshal(map[string]any(t)) }

// Pseudo are sample values of the pseudo parameters, for Resolve.
var Pseudo = map[string]string{
	"AWS::AccountId": "111122223333", "AWS::Region": "us-east-1", "AWS::Partition": "aws",
	"AWS::URLSuffix": "amazonaws.com", "AWS::StackName": "rolecall-dev", "AWS::NoValue": "",
}

// Resolve replaces Ref and Fn::Sub of parameters (with their values in
// params) and pseudo parameters in v by their values; references to
// resources are left as they are.
func Resolve(v any, params map[string]string) any {
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 1 {
			if r, ok := x["Ref"].(string); ok {
				if p, ok := params[r]; ok {
					return p
				}
				if p, ok := Pseudo[r]; ok {
					return p
				}
				return x
			}
			if s, ok := x["Fn::Sub"].(string); ok {
				out, complete := substitute(s, params)
				if complete {
					return out
				}
				return x
			}
		}
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = Resolve(e, params)
		}
		return m
	case []any:
		s := make([]any, len(x))
		for i, e := range x {
			s[i] = Resolve(e, params)
		}
		return s
	}
	return v
}

// substitute expands ${Name} in an Fn::Sub string from params and the
// pseudo parameters; complete is false when a name is neither.
func substitute(s string, params map[string]string) (string, bool) {
	var b strings.Builder
	complete := true
	for _, part := range SubRefs(s) {
		if !part.Ref {
			b.WriteString(part.Text)
			continue
		}
		if v, ok := params[part.Text]; ok {
			b.WriteString(v)
		} else if v, ok := Pseudo[part.Text]; ok {
			b.WriteString(v)
		} else {
			complete = false
			b.WriteString("${" + part.Text + "}")
		}
	}
	return b.String(), complete
}

// Condition evaluates one of the template's Conditions with vals.
func (t Template) Condition(name string, vals Values) (bool, error) {
	return resolution{t: t, vals: vals}.condition(name)
}
