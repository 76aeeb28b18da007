package rolesetup

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/rolecall/rolecall/infra"
	"github.com/rolecall/rolecall/internal/yamlnode"
)

// The CloudFormation evaluation of the customer role template's trust
// policy, for the tests only: they prove infra/customer-role.yaml creates
// exactly TrustPolicyDocument. No request evaluates the template.

// TemplateTrustPolicy evaluates a customer role template's trust policy:
// it finds the AWS::IAM::Role resource and resolves its
// AssumeRolePolicyDocument's intrinsic functions (Ref, Sub, Join, in short
// !Tag or long Fn:: form) against the given external ID and principal, the
// other parameters' defaults and the pseudo parameters AWS::Partition and
// AWS::URLSuffix. The result is indented JSON with the template's key
// order. Tests use it to prove infra/customer-role.yaml creates
// TrustPolicyDocument; no request evaluates the template.
func TemplateTrustPolicy(template []byte, externalID, trustedPrincipalARN string) ([]byte, error) {
	return trustPolicy(template, values{externalID: externalID, principal: trustedPrincipalARN})
}

type values struct {
	externalID, principal, roleName string
}

// trustPolicy renders the role's trust policy from a template.
func trustPolicy(template []byte, v values) ([]byte, error) {
	var doc yaml.Node
	if err := parseYAML(template, &doc); err != nil {
		return nil, fmt.Errorf("%w: parse: %v", ErrTemplate, err)
	}
	top := yamlnode.Root(&doc)
	if top == nil {
		return nil, fmt.Errorf("%w: not a YAML mapping", ErrTemplate)
	}
	partition, err := partitionOf(v.principal)
	if err != nil {
		return nil, err
	}
	r := resolver{params: map[string]string{}, partition: partition}
	// Every parameter with a default resolves to it, unless given.
	if params := yamlnode.Mapping(top, "Parameters"); params != nil {
		for i := 0; i+1 < len(params.Content); i += 2 {
			if d := yamlnode.Value(params.Content[i+1], "Default"); d != nil && d.Kind == yaml.ScalarNode {
				r.params[params.Content[i].Value] = d.Value
			}
		}
	}
	r.params[infra.ParamExternalID] = v.externalID
	r.params[infra.ParamTrustedPrincipalARN] = v.principal
	if v.roleName != "" {
		r.params[infra.ParamRoleName] = v.roleName
	}

	resources := yamlnode.Mapping(top, "Resources")
	if resources == nil {
		return nil, fmt.Errorf("%w: no Resources", ErrTemplate)
	}
	var policy *yaml.Node
	for i := 0; i+1 < len(resources.Content); i += 2 {
		res := resources.Content[i+1]
		if t := yamlnode.Value(res, "Type"); t == nil || t.Value != "AWS::IAM::Role" {
			continue
		}
		if policy != nil {
			return nil, fmt.Errorf("%w: more than one AWS::IAM::Role", ErrTemplate)
		}
		policy = yamlnode.Value(yamlnode.Mapping(res, "Properties"), "AssumeRolePolicyDocument")
		if policy == nil {
			return nil, fmt.Errorf("%w: resource %s has no AssumeRolePolicyDocument", ErrTemplate, resources.Content[i].Value)
		}
	}
	if policy == nil {
		return nil, fmt.Errorf("%w: no AWS::IAM::Role resource", ErrTemplate)
	}
	var buf bytes.Buffer
	if _, err := r.write(&buf, policy, "AssumeRolePolicyDocument"); err != nil {
		return nil, err
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, buf.Bytes(), "", "  "); err != nil {
		return nil, fmt.Errorf("%w: rendered invalid JSON: %v", ErrTemplate, err)
	}
	pretty.WriteByte('\n')
	return pretty.Bytes(), nil
}

// resolver turns a template node into JSON, resolving intrinsic functions.
type resolver struct {
	params    map[string]string
	partition string
}

// write writes n as JSON. It reports false when n is AWS::NoValue (the
// caller then omits the key or element).
func (r resolver) write(b *bytes.Buffer, n *yaml.Node, path string) (bool, error) {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	// Short-form intrinsic functions: !Ref, !Sub, !Join.
	if strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(n.Tag, "!!") {
		return r.intrinsic(b, strings.TrimPrefix(n.Tag, "!"), n, path)
	}
	switch n.Kind {
	case yaml.MappingNode:
		if len(n.Content) == 2 {
			k := n.Content[0].Value
			if k == "Ref" || strings.HasPrefix(k, "Fn::") {
				name := strings.TrimPrefix(k, "Fn::")
				arg := *n.Content[1]
				return r.intrinsic(b, name, &arg, path)
			}
		}
		err := r.writeMembers(b, '{', '}', len(n.Content)/2, func(i int, vb *bytes.Buffer) (string, bool, error) {
			key := n.Content[2*i].Value
			ok, err := r.write(vb, n.Content[2*i+1], path+"."+key)
			return key, ok, err
		})
		if err != nil {
			return false, err
		}
	case yaml.SequenceNode:
		err := r.writeMembers(b, '[', ']', len(n.Content), func(i int, vb *bytes.Buffer) (string, bool, error) {
			ok, err := r.write(vb, n.Content[i], fmt.Sprintf("%s[%d]", path, i))
			return "", ok, err
		})
		if err != nil {
			return false, err
		}
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!int", "!!float", "!!bool":
			b.WriteString(n.Value)
		case "!!null":
			b.WriteString("null")
		default:
			writeJSONString(b, n.Value)
		}
	default:
		return false, fmt.Errorf("%w: %s: unexpected YAML node", ErrTemplate, path)
	}
	return true, nil
}

// writeMembers writes the n members of an object ('{') or an array ('[')
// between open and end, leaving out those that are AWS::NoValue: member
// writes the i-th value into vb and returns its key (ignored in arrays)
// and false for AWS::NoValue.
func (r resolver) writeMembers(b *bytes.Buffer, open, end byte, n int, member func(i int, vb *bytes.Buffer) (string, bool, error)) error {
	b.WriteByte(open)
	first := true
	for i := range n {
		var vb bytes.Buffer
		key, ok, err := member(i, &vb)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		if open == '{' {
			writeJSONString(b, key)
			b.WriteByte(':')
		}
		b.Write(vb.Bytes())
	}
	b.WriteByte(end)
	return nil
}

func (r resolver) intrinsic(b *bytes.Buffer, fn string, n *yaml.Node, path string) (bool, error) {
	n.Tag = "" // the argument itself is plain
	if n.Kind == yaml.ScalarNode {
		n.Tag = "!!str"
	}
	switch fn {
	case "Ref":
		if n.Kind != yaml.ScalarNode {
			return false, fmt.Errorf("%w: %s: Ref takes a name", ErrTemplate, path)
		}
		if n.Value == "AWS::NoValue" {
			return false, nil
		}
		s, err := r.ref(n.Value, path)
		if err != nil {
			return false, err
		}
		writeJSONString(b, s)
		return true, nil
	case "Sub":
		s, err := r.sub(n, path)
		if err != nil {
			return false, err
		}
		writeJSONString(b, s)
		return true, nil
	case "Join":
		// The delimiter is a string, never a function or another scalar
		// (as internal/stack's evaluator of template.yaml has it).
		if n.Kind != yaml.SequenceNode || len(n.Content) != 2 || n.Content[0].ShortTag() != "!!str" || n.Content[1].Kind != yaml.SequenceNode {
			return false, fmt.Errorf("%w: %s: Join takes [delimiter string, [values]]", ErrTemplate, path)
		}
		var parts []string
		for i, c := range n.Content[1].Content {
			var vb bytes.Buffer
			ok, err := r.write(&vb, c, fmt.Sprintf("%s.Join[%d]", path, i))
			if err != nil {
				return false, err
			}
			if !ok {
				continue
			}
			var s string
			if err := json.Unmarshal(vb.Bytes(), &s); err != nil {
				return false, fmt.Errorf("%w: %s: Join of a non-string", ErrTemplate, path)
			}
			parts = append(parts, s)
		}
		writeJSONString(b, strings.Join(parts, n.Content[0].Value))
		return true, nil
	}
	return false, fmt.Errorf("%w: %s: intrinsic function %s cannot be rendered before deployment", ErrTemplate, path, fn)
}

// ref resolves a parameter or pseudo parameter.
func (r resolver) ref(name, path string) (string, error) {
	if v, ok := r.params[name]; ok {
		return v, nil
	}
	switch name {
	case "AWS::Partition":
		return r.partition, nil
	case "AWS::URLSuffix":
		if r.partition == "aws-cn" {
			return "amazonaws.com.cn", nil
		}
		return "amazonaws.com", nil
	}
	return "", fmt.Errorf("%w: %s: %s is known only at deployment", ErrTemplate, path, name)
}

// sub resolves Fn::Sub: "text ${Name} ${!Literal}" or [text, {Name: value}].
func (r resolver) sub(n *yaml.Node, path string) (string, error) {
	text := n
	vars := map[string]string{}
	if n.Kind == yaml.SequenceNode {
		if len(n.Content) != 2 || n.Content[1].Kind != yaml.MappingNode {
			return "", fmt.Errorf("%w: %s: Sub takes a string or [string, {variables}]", ErrTemplate, path)
		}
		text = n.Content[0]
		m := n.Content[1]
		for i := 0; i+1 < len(m.Content); i += 2 {
			var vb bytes.Buffer
			if _, err := r.write(&vb, m.Content[i+1], path+".Sub."+m.Content[i].Value); err != nil {
				return "", err
			}
			var s string
			if err := json.Unmarshal(vb.Bytes(), &s); err != nil {
				return "", fmt.Errorf("%w: %s: Sub variable %s is not a string", ErrTemplate, path, m.Content[i].Value)
			}
			vars[m.Content[i].Value] = s
		}
	}
	if text.Kind != yaml.ScalarNode {
		return "", fmt.Errorf("%w: %s: Sub takes a string", ErrTemplate, path)
	}
	s := text.Value
	var out strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			out.WriteString(s)
			return out.String(), nil
		}
		out.WriteString(s[:i])
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			return "", fmt.Errorf("%w: %s: unterminated ${ in Sub", ErrTemplate, path)
		}
		name := s[i+2 : i+j]
		s = s[i+j+1:]
		if strings.HasPrefix(name, "!") { // ${!Literal} → ${Literal}
			out.WriteString("${" + name[1:] + "}")
			continue
		}
		if v, ok := vars[name]; ok {
			out.WriteString(v)
			continue
		}
		if strings.Contains(name, ".") {
			return "", fmt.Errorf("%w: %s: ${%s} (GetAtt) is known only at deployment", ErrTemplate, path, name)
		}
		v, err := r.ref(name, path)
		if err != nil {
			return "", err
		}
		out.WriteString(v)
	}
}

func writeJSONString(b *bytes.Buffer, s string) {
	enc, _ := json.Marshal(s) // strings always marshal
	b.Write(enc)
}
