package stack

import (
	"fmt"
	"strconv"
	"strings"
)

// SAMConfig is samconfig.toml: "version" at the top level, and each table
// ("default.deploy.parameters") with its keys.
type SAMConfig struct {
	Version float64
	Tables  map[string]map[string]any
}

// ParseSAMConfig parses the subset of TOML that samconfig.toml uses:
// comments, [dotted.table] headers, and key = value lines whose value is a
// basic string, a number, a boolean or a one-line array of strings.
// Anything else is an error, so the file stays within what this check
// understands.
func ParseSAMConfig(src string) (SAMConfig, error) {
	cfg := SAMConfig{Tables: map[string]map[string]any{}}
	table := ""
	seenVersion := false
	for i, line := range strings.Split(src, "\n") {
		n := i + 1
		line = strings.TrimSpace(stripComment(line))
		if line == "" {
			continue
		}
		if strings.HasPrefix(line, "[") {
			if !strings.HasSuffix(line, "]") || strings.HasPrefix(line, "[[") {
				return cfg, fmt.Errorf("line %d: bad table header %q", n, line)
			}
			table = strings.TrimSpace(line[1 : len(line)-1])
			if _, dup := cfg.Tables[table]; dup {
				return cfg, fmt.Errorf("line %d: table [%s] defined twice", n, table)
			}
			cfg.Tables[table] = map[string]any{}
			continue
		}
		k, raw, ok := strings.Cut(line, "=")
		if !ok {
			return cfg, fmt.Errorf("line %d: want key = value", n)
		}
		k = strings.TrimSpace(k)
		v, err := parseValue(strings.TrimSpace(raw))
		if err != nil {
			return cfg, fmt.Errorf("line %d: %s: %w", n, k, err)
		}
		if table == "" {
			if k != "version" {
				return cfg, fmt.Errorf("line %d: unexpected top-level key %q", n, k)
			}
			f, ok := v.(float64)
			if !ok {
				return cfg, fmt.Errorf("line %d: version is not a number", n)
			}
			cfg.Version, seenVersion = f, true
			continue
		}
		if _, dup := cfg.Tables[table][k]; dup {
			return cfg, fmt.Errorf("line %d: %s set twice in [%s]", n, k, table)
		}
		cfg.Tables[table][k] = v
	}
	if !seenVersion {
		return cfg, fmt.Errorf("samconfig: no version")
	}
	return cfg, nil
}

func stripComment(line string) string {
	inString := false
	for i := 0; i < len(line); i++ {
		switch line[i] {
		case '\\':
			if inString {
				i++
			}
		case '"':
			inString = !inString
		case '#':
			if !inString {
				return line[:i]
			}
		}
	}
	return line
}

func parseValue(s string) (any, error) {
	switch {
	case s == "true":
		return true, nil
	case s == "false":
		return false, nil
	case strings.HasPrefix(s, `"`):
		v, err := strconv.Unquote(s)
		if err != nil {
			return nil, fmt.Errorf("bad string %s", s)
		}
		return v, nil
	case strings.HasPrefix(s, "["):
		if !strings.HasSuffix(s, "]") {
			return nil, fmt.Errorf("arrays must fit on one line")
		}
		var out []string
		for _, e := range splitArray(s[1 : len(s)-1]) {
			e = strings.TrimSpace(e)
			if e == "" {
				continue
			}
			v, err := strconv.Unquote(e)
			if err != nil {
				return nil, fmt.Errorf("bad array element %s", e)
			}
			out = append(out, v)
		}
		return out, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return nil, fmt.Errorf("unsupported value %s", s)
	}
	return f, nil
}

// splitArray splits on commas outside strings.
func splitArray(s string) []string {
	var out []string
	inString, start := false, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if inString {
				i++
			}
		case '"':
			inString = !inString
		case ',':
			if !inString {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}

// ParameterOverrides parses a parameter_overrides string
// (`Name="value" Other=value`) into its pairs.
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
