package rolesetup

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"

	"github.com/rolecall/rolecall/infra"
	"github.com/rolecall/rolecall/internal/yamlnode"
)

// ErrTemplate marks a customer role template the renderer cannot read (a
// bug in infra/customer-role.yaml, caught by the tests).
var ErrTemplate = errors.New("customer role template")

// paramLine says where a template parameter's Default is (or goes).
type paramLine struct {
	column int  // column of the parameter's properties
	line   int  // 0-based line of the Default, or of the line to insert after
	insert bool // no Default: insert one after line
}

// parsedTemplate is infra/customer-role.yaml read once: its lines and where
// the parameters a download fills in sit.
type parsedTemplate struct {
	lines         []string
	params        map[string]paramLine
	managedPolicy int // 0-based line of ManagedPolicyArns' Default, or -1
	// managedPolicies are ManagedPolicyArns' Default, in the commercial
	// partition.
	managedPolicies []string
	err             error
}

var (
	templateOnce sync.Once
	customerRole parsedTemplate
)

// customerRoleTemplate returns the embedded template, parsed on first use.
func customerRoleTemplate() *parsedTemplate {
	templateOnce.Do(func() { customerRole = parseTemplate(infra.CustomerRoleTemplate()) })
	return &customerRole
}

// parseTemplate locates the parameters Template fills in.
func parseTemplate(src []byte) parsedTemplate {
	t := parsedTemplate{lines: strings.Split(string(src), "\n"), params: map[string]paramLine{}, managedPolicy: -1}
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		t.err = fmt.Errorf("%w: parse: %v", ErrTemplate, err)
		return t
	}
	params := yamlnode.Mapping(yamlnode.Root(&doc), "Parameters")
	if params == nil {
		t.err = fmt.Errorf("%w: no Parameters", ErrTemplate)
		return t
	}
	for _, name := range []string{infra.ParamExternalID, infra.ParamTrustedPrincipalARN, infra.ParamRoleName} {
		p := yamlnode.Mapping(params, name)
		if p == nil || len(p.Content) < 2 {
			t.err = fmt.Errorf("%w: no parameter %s", ErrTemplate, name)
			return t
		}
		key := p.Content[0] // the parameter's first property
		if d := yamlnode.Value(p, "Default"); d != nil {
			if d.Kind != yaml.ScalarNode || strings.Contains(d.Value, "\n") {
				t.err = fmt.Errorf("%w: parameter %s has a multi-line Default", ErrTemplate, name)
				return t
			}
			t.params[name] = paramLine{column: key.Column, line: d.Line - 1}
		} else {
			t.params[name] = paramLine{column: key.Column, line: key.Line - 1, insert: true}
		}
	}
	if p := yamlnode.Mapping(params, infra.ParamManagedPolicyARNs); p != nil {
		if d := yamlnode.Value(p, "Default"); d != nil && d.Kind == yaml.ScalarNode {
			t.managedPolicy = d.Line - 1
			if d.Value != "" {
				t.managedPolicies = strings.Split(d.Value, ",")
			}
		}
	}
	return t
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
	tpl := customerRoleTemplate()
	if tpl.err != nil {
		return nil, tpl.err
	}
	// Edit the text line by line rather than re-encoding the YAML, so the
	// customer downloads the template as written, comments and layout
	// included. The values are validated above and cannot break quoting;
	// the tests re-parse downloads to prove the defaults land.
	lines := tpl.lines
	edits := map[int]string{}   // 0-based line → replacement
	inserts := map[int]string{} // 0-based line → line inserted after it
	for _, pv := range []struct{ name, value string }{
		{infra.ParamExternalID, externalID},
		{infra.ParamTrustedPrincipalARN, trustedPrincipalARN},
		{infra.ParamRoleName, p.RoleName},
	} {
		pl := tpl.params[pv.name]
		line := strings.Repeat(" ", pl.column-1) + "Default: " + strconvQuote(pv.value)
		if pl.insert {
			inserts[pl.line] = line
		} else {
			edits[pl.line] = line
		}
	}
	if partition != "aws" && tpl.managedPolicy >= 0 {
		edits[tpl.managedPolicy] = strings.ReplaceAll(lines[tpl.managedPolicy], "arn:aws:", "arn:"+partition+":")
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
	return []byte(out.String()), nil
}

// defaultManagedPolicies are the managed policies the template attaches by
// default (ManagedPolicyArns), in partition: what every rendering of the
// role attaches unless the customer chooses others. Renderers check the
// template's err first (renderWith): a template it cannot read gives none.
func defaultManagedPolicies(partition string) []string {
	tpl := customerRoleTemplate()
	arns := make([]string, len(tpl.managedPolicies))
	for i, a := range tpl.managedPolicies {
		arns[i] = strings.Replace(a, "arn:aws:", "arn:"+partition+":", 1)
	}
	return arns
}

// managedPolicyOverride is the ManagedPolicyArns value (comma-separated)
// the renderings that open the published template pass outside the
// commercial partition: that template's default names a policy of the aws
// partition, which a stack in an aws-cn or aws-us-gov account cannot
// attach. In the aws partition (or with no default) it is "", false: the
// default stands.
func (p Params) managedPolicyOverride() (string, bool) {
	partition, _ := partitionOf(p.TrustedPrincipalARN)
	arns := defaultManagedPolicies(partition)
	if partition == "aws" || len(arns) == 0 {
		return "", false
	}
	return strings.Join(arns, ","), true
}

// strconvQuote double-quotes s for YAML (JSON string syntax is valid YAML).
func strconvQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
