package stack

import (
	"encoding/json"
	"fmt"
	"slices"
)

// Match reports whether an event matches an EventBridge event pattern, for
// the exact-value subset of the pattern language that RoleCall's rules,
// archive and stream filter use:
//   - every field of the pattern must be present in the event;
//   - a pattern object matches an event object field by field;
//   - a pattern array lists the values a field may have (string, number,
//     boolean or null); it matches when the event's value, or any element
//     of the event's array, equals one of them.
//
// Content filters (prefix, anything-but, numeric, exists, ...) and any
// other pattern shape are reported as errors, never silently matched.
// Both arguments are decoded JSON (map[string]any, []any, string, float64,
// bool, nil); see MatchJSON.
func Match(pattern, event any) (bool, error) {
	p, ok := pattern.(map[string]any)
	if !ok {
		return false, fmt.Errorf("event pattern: want an object, got %T", pattern)
	}
	ev, _ := event.(map[string]any)
	return matchObject(p, ev, "")
}

// MatchJSON is Match over JSON texts.
func MatchJSON(pattern, event []byte) (bool, error) {
	var p, e any
	if err := json.Unmarshal(pattern, &p); err != nil {
		return false, fmt.Errorf("event pattern: %w", err)
	}
	if err := json.Unmarshal(event, &e); err != nil {
		return false, fmt.Errorf("event: %w", err)
	}
	return Match(p, e)
}

func matchObject(p map[string]any, ev map[string]any, path string) (bool, error) {
	if len(p) == 0 {
		return false, fmt.Errorf("event pattern %s: empty object", orRoot(path))
	}
	// Check the whole pattern's shape even after a mismatch, so that an
	// unsupported pattern is always an error.
	matched := true
	for _, k := range sortedKeys(p) {
		field := path + "." + k
		v, present := ev[k]
		switch pv := p[k].(type) {
		case map[string]any:
			sub, _ := v.(map[string]any)
			ok, err := matchObject(pv, sub, field)
			if err != nil {
				return false, err
			}
			matched = matched && present && sub != nil && ok
		case []any:
			ok, err := matchValues(pv, v, field)
			if err != nil {
				return false, err
			}
			matched = matched && present && ok
		default:
			return false, fmt.Errorf("event pattern %s: want an object or an array of values, got %T", field, pv)
		}
	}
	return matched, nil
}

func matchValues(allowed []any, v any, path string) (bool, error) {
	if len(allowed) == 0 {
		return false, fmt.Errorf("event pattern %s: empty array", path)
	}
	for _, a := range allowed {
		switch a.(type) {
		case string, float64, bool, nil:
		case map[string]any:
			return false, fmt.Errorf("event pattern %s: content filter %v is not supported", path, a)
		default:
			return false, fmt.Errorf("event pattern %s: unsupported value %T", path, a)
		}
	}
	values := []any{v}
	if arr, ok := v.([]any); ok {
		values = arr
	}
	for _, x := range values {
		if slices.ContainsFunc(allowed, func(a any) bool { return a == x }) {
			return true, nil
		}
	}
	return false, nil
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func orRoot(path string) string {
	if path == "" {
		return "(root)"
	}
	return path
}
