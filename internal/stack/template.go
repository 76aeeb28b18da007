// Package stack reads RoleCall's deployable stack (template.yaml) and
// evaluates it offline.
//
// The production part, in the non-test files, is what `rolecall serve`
// (internal/emulator) and the bench need: ParseTemplate and LoadTemplate
// (the YAML template in its JSON form), Resources, Properties and
// Parameters, and the CloudFormation evaluator ResolveValue. serve models
// the partner account through it: the access role's trust and permission
// policies and the verifier's sts: statements, resolved with the sandbox's
// stage, account and workload principal, so the local sandbox authorizes
// exactly what the deployed stack would. rolesetup's tests evaluate the
// customer role template's trust policy with the same evaluator.
//
// Everything else is test support and lives in _test.go files, so no
// production binary links it: the EventBridge pattern matcher (Match), the
// samconfig.toml reader (ParseSAMConfig, on the go-toml parser), and the
// tests themselves, which prove what can be proven without AWS: the
// template is valid SAM, every function builds from its Makefile target and
// gets exactly the environment its settings reader in internal/app reads,
// IAM is least privilege, the table is the one the store defines, the event
// schemas are registered and every event the lifecycle emits validates
// against its schema, the bus rules and the stream filter match exactly the
// events they are meant for, and the layout's import rules hold (no
// production package imports test support).
//
// The evaluator and the pattern matcher are written here because no
// library the Go module proxy serves does either offline the way these
// callers need. The closest evaluator, goformation's intrinsics package,
// resolves a whole template with fixed sample pseudo parameters (account
// 123456789012, us-east-1) and turns what it cannot resolve (Fn::GetAtt, a
// Ref to a resource, an unknown name) into null without an error; serve has
// to supply its own account, partition and resource attributes, and has to
// fail when template.yaml changes under its model (ErrUnresolved) rather
// than authorize against a null. For event patterns the AWS SDK offers
// only EventBridge's TestEventPattern API, a call to AWS, and the Go
// implementation of the pattern language (quamina) is not served. The
// parameter_overrides string of samconfig.toml is SAM's own format
// (shell-like pairs inside one TOML string), which no library parses.
// ResolveValue and Match implement only the subset RoleCall's templates
// use and report anything else as an error, never as a silent value or
// match.
package stack

import (
	"fmt"
	"os"
	"strings"

	"gopkg.in/yaml.v3"
)

// Template is a CloudFormation template in its JSON form: intrinsic
// functions written with YAML tags (!Ref, !GetAtt, !Sub, ...) become their
// JSON forms ({"Ref": ...}, {"Fn::GetAtt": [...]}, {"Fn::Sub": ...}).
type Template map[string]any

// LoadTemplate reads a YAML CloudFormation template.
func LoadTemplate(path string) (Template, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read template: %w", err)
	}
	return ParseTemplate(path, b)
}

// ParseTemplate parses a YAML CloudFormation template; path names it in
// errors.
func ParseTemplate(path string, b []byte) (Template, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	if len(doc.Content) != 1 {
		return nil, fmt.Errorf("parse %s: not one YAML document", path)
	}
	v, err := fromNode(doc.Content[0])
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("parse %s: the template is not a mapping", path)
	}
	return Template(m), nil
}

// intrinsics maps a YAML tag to its JSON key.
var intrinsics = map[string]string{
	"!Ref": "Ref", "!Condition": "Condition",
	"!Sub": "Fn::Sub", "!GetAtt": "Fn::GetAtt", "!If": "Fn::If", "!Not": "Fn::Not", "!Equals": "Fn::Equals",
	"!And": "Fn::And", "!Or": "Fn::Or", "!Join": "Fn::Join", "!Select": "Fn::Select", "!Split": "Fn::Split",
	"!FindInMap": "Fn::FindInMap", "!Base64": "Fn::Base64", "!Cidr": "Fn::Cidr", "!ImportValue": "Fn::ImportValue",
	"!GetAZs": "Fn::GetAZs", "!ToJsonString": "Fn::ToJsonString", "!Length": "Fn::Length",
}

func fromNode(n *yaml.Node) (any, error) {
	if n.Kind == yaml.AliasNode {
		return fromNode(n.Alias)
	}
	if strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(n.Tag, "!!") {
		key, ok := intrinsics[n.Tag]
		if !ok {
			return nil, fmt.Errorf("line %d: unknown tag %s", n.Line, n.Tag)
		}
		plain := *n
		plain.Tag = ""
		v, err := fromNode(&plain)
		if err != nil {
			return nil, err
		}
		if s, isStr := v.(string); isStr && key == "Fn::GetAtt" {
			res, attr, found := strings.Cut(s, ".")
			if !found {
				return nil, fmt.Errorf("line %d: !GetAtt %q is not Resource.Attribute", n.Line, s)
			}
			v = []any{res, attr}
		}
		return map[string]any{key: v}, nil
	}
	switch n.Kind {
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i].Value
			if _, dup := m[k]; dup {
				return nil, fmt.Errorf("line %d: duplicate key %q", n.Content[i].Line, k)
			}
			v, err := fromNode(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			m[k] = v
		}
		return m, nil
	case yaml.SequenceNode:
		s := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := fromNode(c)
			if err != nil {
				return nil, err
			}
			s = append(s, v)
		}
		return s, nil
	case yaml.ScalarNode:
		if n.Tag == "" {
			return n.Value, nil // a tagged node's content
		}
		var v any
		if err := n.Decode(&v); err != nil {
			return nil, fmt.Errorf("line %d: %w", n.Line, err)
		}
		return v, nil
	}
	return nil, fmt.Errorf("line %d: unexpected YAML node", n.Line)
}

// Resources returns the logical IDs of the resources of type typ ("" for
// all), with their definitions.
func (t Template) Resources(typ string) map[string]map[string]any {
	out := map[string]map[string]any{}
	res, _ := t["Resources"].(map[string]any)
	for id, r := range res {
		rm, _ := r.(map[string]any)
		if typ == "" || rm["Type"] == typ {
			out[id] = rm
		}
	}
	return out
}

// Properties returns a resource's properties (nil when it has none).
func Properties(r map[string]any) map[string]any {
	p, _ := r["Properties"].(map[string]any)
	return p
}

// Parameters returns each parameter's default ("" without one).
func (t Template) Parameters() map[string]string {
	out := map[string]string{}
	ps, _ := t["Parameters"].(map[string]any)
	for name, p := range ps {
		pm, _ := p.(map[string]any)
		if d, ok := pm["Default"]; ok {
			out[name] = fmt.Sprint(d)
		} else {
			out[name] = ""
		}
	}
	return out
}

// SubPart is a piece of an Fn::Sub string: literal text, or a reference
// (${Name} or ${Resource.Attribute}). ${!Literal} is text.
type SubPart struct {
	Text string
	Ref  bool
}

// SubRefs splits an Fn::Sub string into literal text and references.
func SubRefs(s string) []SubPart {
	var out []SubPart
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			break
		}
		j := strings.Index(s[i:], "}")
		if j < 0 {
			break
		}
		if i > 0 {
			out = append(out, SubPart{Text: s[:i]})
		}
		name := s[i+2 : i+j]
		if strings.HasPrefix(name, "!") {
			out = append(out, SubPart{Text: "${" + name[1:] + "}"})
		} else {
			out = append(out, SubPart{Text: name, Ref: true})
		}
		s = s[i+j+1:]
	}
	if s != "" {
		out = append(out, SubPart{Text: s})
	}
	return out
}
