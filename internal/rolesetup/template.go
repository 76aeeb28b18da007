package rolesetup

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/rolecall/rolecall/infra"
)

// ErrTemplate marks a customer role template the renderer cannot read (a
// bug in infra/customer-role.yaml, caught by the tests).
var ErrTemplate = errors.New("customer role template")

// TrustPolicy renders the trust policy document that infra/customer-role.yaml
// creates for the given parameters (RoleName and the others at their
// defaults). It reads the template, finds the AWS::IAM::Role resource and
// resolves its AssumeRolePolicyDocument's intrinsic functions (Ref, Sub,
// Join, in short !Tag or long Fn:: form) against the parameters and the
// pseudo parameters AWS::Partition and AWS::URLSuffix. The result is
// indented JSON with the template's key order.
func TrustPolicy(externalID, trustedPrincipalARN string) ([]byte, error) {
	if err := ValidateExternalID(externalID); err != nil {
		return nil, err
	}
	if _, err := partitionOf(trustedPrincipalARN); err != nil {
		return nil, err
	}
	return trustPolicy(infra.CustomerRoleTemplate(), values{externalID: externalID, principal: trustedPrincipalARN})
}

// Template returns infra/customer-role.yaml with the ExternalId,
// TrustedPrincipalArn and RoleName parameters' defaults set to the
// tenant's values, for download: deployed as is (console upload or `aws
// cloudformation deploy` without overrides) it creates the tenant's role.
// Outside the commercial partition the default managed policy ARN is
// moved to the principal's partition.
func Template(p Params) ([]byte, error) {
	p, err := p.normalized()
	if err != nil {
		return nil, err
	}
	externalID, trustedPrincipalARN := p.ExternalID, p.TrustedPrincipalARN
	partition, _ := partitionOf(trustedPrincipalARN)
	src := infra.CustomerRoleTemplate()
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, fmt.Errorf("%w: parse: %v", ErrTemplate, err)
	}
	params := mapping(root(&doc), "Parameters")
	if params == nil {
		return nil, fmt.Errorf("%w: no Parameters", ErrTemplate)
	}
	// Edit the text line by line rather than re-encoding the YAML, so the
	// customer downloads the template as written, comments and layout
	// included. The values are validated above and cannot break quoting.
	lines := strings.Split(string(src), "\n")
	edits := map[int]string{}   // 0-based line → replacement
	inserts := map[int]string{} // 0-based line → line inserted after it
	for _, pv := range []struct{ name, value string }{
		{infra.ParamExternalID, externalID},
		{infra.ParamTrustedPrincipalARN, trustedPrincipalARN},
		{infra.ParamRoleName, p.RoleName},
	} {
		p := mapping(params, pv.name)
		if p == nil || len(p.Content) < 2 {
			return nil, fmt.Errorf("%w: no parameter %s", ErrTemplate, pv.name)
		}
		key := p.Content[0] // the parameter's first property
		line := strings.Repeat(" ", key.Column-1) + "Default: " + strconvQuote(pv.value)
		if d := value(p, "Default"); d != nil {
			if d.Kind != yaml.ScalarNode || strings.Contains(d.Value, "\n") {
				return nil, fmt.Errorf("%w: parameter %s has a multi-line Default", ErrTemplate, pv.name)
			}
			edits[d.Line-1] = line
		} else {
			inserts[key.Line-1] = line
		}
	}
	if partition != "aws" {
		if p := mapping(params, infra.ParamManagedPolicyARNs); p != nil {
			if d := value(p, "Default"); d != nil && d.Kind == yaml.ScalarNode {
				edits[d.Line-1] = strings.ReplaceAll(lines[d.Line-1], "arn:aws:", "arn:"+partition+":")
			}
		}
	}
	var out strings.Builder
	for i, l := range lines {
		if e, ok := edits[i]; ok {
			l = e
		}
		out.WriteString(l)
		if i < len(lines)-1 {
			out.WriteByte('\n')
		}
		if ins, ok := inserts[i]; ok {
			out.WriteString(ins + "\n")
		}
	}
	rendered := []byte(out.String())
	if err := checkDefaults(rendered, map[string]string{infra.ParamExternalID: externalID, infra.ParamTrustedPrincipalARN: trustedPrincipalARN, infra.ParamRoleName: p.RoleName}); err != nil {
		return nil, err
	}
	return rendered, nil
}

// checkDefaults re-reads a rendered template and checks the defaults.
func checkDefaults(tpl []byte, want map[string]string) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(tpl, &doc); err != nil {
		return fmt.Errorf("%w: rendered template does not parse: %v", ErrTemplate, err)
	}
	params := mapping(root(&doc), "Parameters")
	for name, v := range want {
		d := value(mapping(params, name), "Default")
		if d == nil || d.Value != v {
			return fmt.Errorf("%w: rendered template lost the default of %s", ErrTemplate, name)
		}
	}
	return nil
}

// strconvQuote double-quotes s for YAML (JSON string syntax is valid YAML).
func strconvQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

type values struct {
	externalID, principal, roleName string
}

// trustPolicy renders the role's trust policy from a template.
func trustPolicy(template []byte, v values) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(template, &doc); err != nil {
		return nil, fmt.Errorf("%w: parse: %v", ErrTemplate, err)
	}
	top := root(&doc)
	if top == nil {
		return nil, fmt.Errorf("%w: not a YAML mapping", ErrTemplate)
	}
	partition, err := partitionOf(v.principal)
	if err != nil {
		return nil, err
	}
	r := resolver{params: map[string]string{}, partition: partition}
	// Every parameter with a default resolves to it, unless given.
	if params := mapping(top, "Parameters"); params != nil {
		for i := 0; i+1 < len(params.Content); i += 2 {
			if d := value(params.Content[i+1], "Default"); d != nil && d.Kind == yaml.ScalarNode {
				r.params[params.Content[i].Value] = d.Value
			}
		}
	}
	r.params[infra.ParamExternalID] = v.externalID
	r.params[infra.ParamTrustedPrincipalARN] = v.principal
	if v.roleName != "" {
		r.params[infra.ParamRoleName] = v.roleName
	}

	resources := mapping(top, "Resources")
	if resources == nil {
		return nil, fmt.Errorf("%w: no Resources", ErrTemplate)
	}
	var policy *yaml.Node
	for i := 0; i+1 < len(resources.Content); i += 2 {
		res := resources.Content[i+1]
		if t := value(res, "Type"); t == nil || t.Value != "AWS::IAM::Role" {
			continue
		}
		if policy != nil {
			return nil, fmt.Errorf("%w: more than one AWS::IAM::Role", ErrTemplate)
		}
		policy = value(mapping(res, "Properties"), "AssumeRolePolicyDocument")
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
		b.WriteByte('{')
		first := true
		for i := 0; i+1 < len(n.Content); i += 2 {
			key := n.Content[i].Value
			var vb bytes.Buffer
			ok, err := r.write(&vb, n.Content[i+1], path+"."+key)
			if err != nil {
				return false, err
			}
			if !ok {
				continue
			}
			if !first {
				b.WriteByte(',')
			}
			first = false
			writeJSONString(b, key)
			b.WriteByte(':')
			b.Write(vb.Bytes())
		}
		b.WriteByte('}')
	case yaml.SequenceNode:
		b.WriteByte('[')
		first := true
		for i, c := range n.Content {
			var vb bytes.Buffer
			ok, err := r.write(&vb, c, fmt.Sprintf("%s[%d]", path, i))
			if err != nil {
				return false, err
			}
			if !ok {
				continue
			}
			if !first {
				b.WriteByte(',')
			}
			first = false
			b.Write(vb.Bytes())
		}
		b.WriteByte(']')
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
		if n.Kind != yaml.SequenceNode || len(n.Content) != 2 || n.Content[0].Kind != yaml.ScalarNode || n.Content[1].Kind != yaml.SequenceNode {
			return false, fmt.Errorf("%w: %s: Join takes [delimiter, [values]]", ErrTemplate, path)
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

// root returns the document's top mapping.
func root(doc *yaml.Node) *yaml.Node {
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 && doc.Content[0].Kind == yaml.MappingNode {
		return doc.Content[0]
	}
	return nil
}

// value returns the value of key in mapping m, or nil.
func value(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// mapping returns the value of key in m when it is a mapping, or nil.
func mapping(m *yaml.Node, key string) *yaml.Node {
	v := value(m, key)
	if v == nil || v.Kind != yaml.MappingNode {
		return nil
	}
	return v
}
