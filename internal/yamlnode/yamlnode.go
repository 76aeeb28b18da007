// Package yamlnode looks up keys in parsed YAML documents (yaml.v3 nodes)
// without decoding them, so that CloudFormation tags such as !Ref and
// !GetAtt stay visible to what reads a template.
package yamlnode

import "gopkg.in/yaml.v3"

// Root returns the top mapping of a parsed document, or nil when the
// document is not one mapping.
func Root(doc *yaml.Node) *yaml.Node {
	if doc != nil && doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 && doc.Content[0].Kind == yaml.MappingNode {
		return doc.Content[0]
	}
	return nil
}

// Value returns the value of key in mapping m, or nil when m is not a
// mapping or has no such key.
func Value(m *yaml.Node, key string) *yaml.Node {
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

// Mapping returns the value of key in m when it is a mapping, or nil.
func Mapping(m *yaml.Node, key string) *yaml.Node {
	v := Value(m, key)
	if v == nil || v.Kind != yaml.MappingNode {
		return nil
	}
	return v
}

// Keys returns the keys of mapping m in document order (none when m is
// not a mapping).
func Keys(m *yaml.Node) []string {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	out := make([]string, 0, len(m.Content)/2)
	for i := 0; i+1 < len(m.Content); i += 2 {
		out = append(out, m.Content[i].Value)
	}
	return out
}
