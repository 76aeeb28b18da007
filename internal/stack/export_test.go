package stack

// The methods only the package's tests use, compiled into the test binary
// alone (package stack_test sees them): the template as JSON for the SAM
// schema, and the evaluation of one condition.

import "encoding/json"

// JSON returns the template as JSON.
func (t Template) JSON() ([]byte, error) { return json.Marshal(map[string]any(t)) }

// Condition evaluates one of the template's Conditions with vals.
func (t Template) Condition(name string, vals Values) (bool, error) {
	return resolution{t: t, vals: vals}.condition(name)
}
