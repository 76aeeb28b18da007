package yamlnode_test

import (
	"slices"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/rolecall/rolecall/internal/yamlnode"
)

func parse(t *testing.T, src string) *yaml.Node {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatalf("%q: %v", src, err)
	}
	return &doc
}

func TestRoot(t *testing.T) {
	// A document is one mapping, or has no root.
	for src, mapping := range map[string]bool{"a: 1\n": true, "- a\n": false, "a\n": false} {
		if got := yamlnode.Root(parse(t, src)); (got != nil) != mapping {
			t.Errorf("Root(%q) = %v, want found %v", src, got, mapping)
		}
	}
	if yamlnode.Root(nil) != nil || yamlnode.Root(&yaml.Node{Kind: yaml.DocumentNode}) != nil {
		t.Error("Root of no document or an empty one is not nil")
	}
}

func TestLookups(t *testing.T) {
	top := yamlnode.Root(parse(t, "Out:\n  Value: !GetAtt Role.Arn\nList: [a, b]\nName: x\nEmpty: {}\n"))
	if top == nil {
		t.Fatal("no root")
	}
	if got := yamlnode.Keys(top); !slices.Equal(got, []string{"Out", "List", "Name", "Empty"}) {
		t.Errorf("Keys = %v, want document order", got)
	}
	v := yamlnode.Value(yamlnode.Mapping(top, "Out"), "Value")
	if v == nil || v.Tag != "!GetAtt" || v.Value != "Role.Arn" {
		t.Errorf("Out.Value = %+v, want the tagged scalar", v)
	}
	if yamlnode.Value(top, "Name").Value != "x" {
		t.Error("Name is not x")
	}
	tests := []struct {
		name string
		got  *yaml.Node
	}{
		{"missing key", yamlnode.Value(top, "Nope")},
		{"value of a scalar", yamlnode.Value(yamlnode.Value(top, "Name"), "x")},
		{"value of nil", yamlnode.Value(nil, "x")},
		{"mapping of a sequence", yamlnode.Mapping(top, "List")},
		{"mapping of a scalar", yamlnode.Mapping(top, "Name")},
		{"missing mapping", yamlnode.Mapping(top, "Nope")},
	}
	for _, tt := range tests {
		if tt.got != nil {
			t.Errorf("%s = %+v, want nil", tt.name, tt.got)
		}
	}
	if got := yamlnode.Keys(yamlnode.Value(top, "List")); got != nil {
		t.Errorf("Keys of a sequence = %v, want none", got)
	}
	if got := yamlnode.Keys(yamlnode.Mapping(top, "Empty")); len(got) != 0 {
		t.Errorf("Keys of {} = %v", got)
	}
}
