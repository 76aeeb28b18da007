package rolesetup

import (
	"bytes"
	"encoding/json"
	"fmt"

	"gopkg.in/yaml.v3"

	"github.com/rolecall/rolecall/infra"
	"github.com/rolecall/rolecall/internal/stack"
	"github.com/rolecall/rolecall/internal/yamlnode"
)

// The CloudFormation evaluation of the customer role template's trust
// policy, for the tests only: they prove infra/customer-role.yaml creates
// exactly TrustPolicyDocument. No request evaluates the template.

// templateTrustPolicy evaluates the trust policy a customer role template
// creates: the AssumeRolePolicyDocument of its one AWS::IAM::Role, resolved
// by internal/stack's evaluator (the one `rolecall serve` resolves
// template.yaml with, which refuses every function and form it does not
// model) against the given external ID and principal, the other
// parameters' defaults, and the pseudo parameters the principal's
// partition fixes (AWS::Partition, AWS::URLSuffix). Anything known only at
// deployment (the account, the Region, a resource's attributes) is an
// ErrTemplate. The result is canonical JSON (see canonicalJSON).
func templateTrustPolicy(template []byte, externalID, principal string) ([]byte, error) {
	t, err := stack.ParseTemplate("customer role template", template)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTemplate, err)
	}
	partition, err := partitionOf(principal)
	if err != nil {
		return nil, err
	}
	params := map[string]string{"AWS::Partition": partition, "AWS::URLSuffix": "amazonaws.com"}
	if partition == "aws-cn" {
		params["AWS::URLSuffix"] = "amazonaws.com.cn"
	}
	// Only a parameter with a default resolves without being given.
	declared, _ := t["Parameters"].(map[string]any)
	for name, p := range declared {
		if d, ok := p.(map[string]any)["Default"]; ok {
			params[name] = fmt.Sprint(d)
		}
	}
	params[infra.ParamExternalID] = externalID
	params[infra.ParamTrustedPrincipalARN] = principal

	roles := t.Resources("AWS::IAM::Role")
	if len(roles) == 0 {
		return nil, fmt.Errorf("%w: no AWS::IAM::Role resource", ErrTemplate)
	}
	if len(roles) > 1 {
		return nil, fmt.Errorf("%w: more than one AWS::IAM::Role", ErrTemplate)
	}
	var id string
	var role map[string]any
	for id, role = range roles { // the one role
	}
	doc, ok := stack.Properties(role)["AssumeRolePolicyDocument"]
	if !ok {
		return nil, fmt.Errorf("%w: resource %s has no AssumeRolePolicyDocument", ErrTemplate, id)
	}
	v, err := t.ResolveValue(doc, stack.Values{Params: params})
	if err != nil {
		return nil, fmt.Errorf("%w: %s AssumeRolePolicyDocument: %w", ErrTemplate, id, err)
	}
	return json.Marshal(v)
}

// canonicalJSON re-encodes a JSON document compactly with sorted keys, so
// that two documents with the same content compare equal as bytes.
func canonicalJSON(doc []byte) ([]byte, error) {
	var v any
	if err := json.Unmarshal(doc, &v); err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

// keysInOrder reports whether every mapping key under the customer role
// template's AssumeRolePolicyDocument appears in doc in the template's
// order (so the Go value reads like the template); it returns the first
// key out of order.
func keysInOrder(template, doc []byte) (string, bool) {
	var root yaml.Node
	if err := yaml.Unmarshal(template, &root); err != nil {
		return "(template does not parse)", false
	}
	props := yamlnode.Mapping(yamlnode.Mapping(yamlnode.Mapping(yamlnode.Root(&root), "Resources"), "Role"), "Properties")
	policy := yamlnode.Value(props, "AssumeRolePolicyDocument")
	if policy == nil {
		return "(no AssumeRolePolicyDocument)", false
	}
	var keys []string
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		for i, c := range n.Content {
			if n.Kind == yaml.MappingNode && i%2 == 0 {
				keys = append(keys, c.Value)
				continue
			}
			walk(c)
		}
	}
	walk(policy)
	rest := doc
	for _, k := range keys {
		key, _ := json.Marshal(k) // strings always marshal
		i := bytes.Index(rest, append(key, ':'))
		if i < 0 {
			return k, false
		}
		rest = rest[i+len(key):]
	}
	return "", len(keys) > 0
}
