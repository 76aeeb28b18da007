package stack

import (
	"fmt"
	"strings"

	"github.com/pelletier/go-toml/v2"
)

// SAMConfig is samconfig.toml: "version" at the top level, and each table
// ("default.deploy.parameters") with its keys.
type SAMConfig struct {
	Version float64
	Tables  map[string]map[string]any
}

// ParseSAMConfig parses samconfig.toml with a TOML parser (go-toml) and
// flattens SAM's three-level layout ([env.command.parameters]) into tables
// named by their dotted path. Besides "version", a top-level key, or a table
// at another depth, is refused, so the file stays within what SAM reads.
func ParseSAMConfig(src string) (SAMConfig, error) {
	cfg := SAMConfig{Tables: map[string]map[string]any{}}
	var doc map[string]any
	if err := toml.Unmarshal([]byte(src), &doc); err != nil {
		return cfg, fmt.Errorf("samconfig: %w", err)
	}
	v, ok := doc["version"]
	if !ok {
		return cfg, fmt.Errorf("samconfig: no version")
	}
	switch n := v.(type) {
	case float64:
		cfg.Version = n
	case int64:
		cfg.Version = float64(n)
	default:
		return cfg, fmt.Errorf("samconfig: version is not a number")
	}
	for env, cmds := range doc {
		if env == "version" {
			continue
		}
		cmdTables, ok := cmds.(map[string]any)
		if !ok {
			return cfg, fmt.Errorf("samconfig: unexpected top-level key %q", env)
		}
		for cmd, params := range cmdTables {
			pt, ok := params.(map[string]any)
			if !ok {
				return cfg, fmt.Errorf("samconfig: [%s] holds %q, want [%s.%s.parameters]", env, cmd, env, cmd)
			}
			for name, kv := range pt {
				t, ok := kv.(map[string]any)
				if !ok || name != "parameters" {
					return cfg, fmt.Errorf("samconfig: [%s.%s] holds %q, want a parameters table", env, cmd, name)
				}
				cfg.Tables[env+"."+cmd+".parameters"] = t
			}
		}
	}
	return cfg, nil
}

// ParameterOverrides parses a parameter_overrides string
// (`Name="value" Other=value`) into its pairs. It is written here because
// the format is SAM's own (shell-like pairs inside one TOML string) and no
// library parses it.
func ParameterOverrides(s string) (map[string]string, error) {
	out := map[string]string{}
	for s = strings.TrimSpace(s); s != ""; s = strings.TrimSpace(s) {
		k, rest, ok := strings.Cut(s, "=")
		if !ok || k == "" || strings.ContainsAny(k, " \"") {
			return nil, fmt.Errorf("parameter overrides: bad pair at %q", s)
		}
		var v string
		if strings.HasPrefix(rest, `"`) {
			end := strings.Index(rest[1:], `"`)
			if end < 0 {
				return nil, fmt.Errorf("parameter overrides: unterminated value of %s", k)
			}
			v, s = rest[1:end+1], rest[end+2:]
		} else {
			v, s, _ = strings.Cut(rest, " ")
		}
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("parameter overrides: %s twice", k)
		}
		out[k] = v
	}
	return out, nil
}
