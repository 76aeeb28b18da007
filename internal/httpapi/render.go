package httpapi

import (
	"fmt"
	"html"
	"regexp"
	"strings"
)

// The pages are filled by this small renderer instead of html/template:
// text/template's executor calls reflect.Value.MethodByName with names
// known only at run time, which makes the linker keep every exported method
// of every type in the binary (all of the AWS SDK clients' operations) and
// the Lambda binary several megabytes larger.
//
// A page is HTML with these actions, and nothing else:
//
//	{{Name}}                  the value Name, HTML-escaped
//	{{if Name}} … {{end}}     the part when Name is set (a non-empty string or list, true)
//	{{if not Name}} … {{end}} the part when Name is not set; both may have {{else}}
//	{{range Name}} … {{end}}  the part once for each vars in the list Name
//
// Values go only into text and into double-quoted attribute values, where
// html.EscapeString makes them inert. Parsing refuses a value anywhere else:
// in a tag outside quotes, in an event-handler or style attribute, or in a
// script or style element. A value in a URL attribute (href, src, …) whose
// scheme is not http, https or mailto is replaced by "#ZgotmplZ", as
// html/template does.

// vars are the values of a page: string, bool, []vars, or trustedHTML.
type vars map[string]any

// trustedHTML is markup this package rendered itself; it is written as is.
// Only the layout takes it, for the page body, and only in text.
type trustedHTML string

type nodeKind int

const (
	textNode nodeKind = iota
	valueNode
	ifNode
	rangeNode
)

type node struct {
	kind nodeKind
	text string // textNode: the markup
	name string // the value's name
	url  bool   // valueNode: in a URL attribute
	attr bool   // valueNode: in an attribute value
	not  bool   // ifNode: {{if not Name}}
	body []node // ifNode: the part when set; rangeNode: the repeated part
	els  []node // ifNode: the {{else}} part
}

// page is a parsed page.
type page struct {
	name  string
	nodes []node
}

var (
	actionName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9]*$`)
	// openAttr matches the start of a tag's last attribute, still in its
	// double-quoted value.
	openAttr  = regexp.MustCompile(`\s([A-Za-z][A-Za-z0-9_:-]*)\s*=\s*"[^"]*$`)
	urlAttrs  = map[string]bool{"href": true, "src": true, "action": true, "formaction": true, "cite": true, "poster": true, "data-href": true, "data-src": true}
	rawBlocks = []string{"script", "style"} // raw text: no entities
)

// parsePage parses src, the page called name.
func parsePage(name, src string) (*page, error) {
	p := &parser{name: name, src: src}
	nodes, end, err := p.parse()
	if err != nil {
		return nil, fmt.Errorf("httpapi: page %s: %w", name, err)
	}
	if end != "" {
		return nil, fmt.Errorf("httpapi: page %s: {{%s}} without {{if}} or {{range}}", name, end)
	}
	return &page{name: name, nodes: nodes}, nil
}

type parser struct {
	name string
	src  string
	// seen is the markup before the current position, without actions, to
	// tell where a value goes.
	seen strings.Builder
}

// parse reads nodes up to the end of the source or an {{else}} or {{end}},
// which it returns.
func (p *parser) parse() ([]node, string, error) {
	var nodes []node
	for p.src != "" {
		i := strings.Index(p.src, "{{")
		if i < 0 {
			i = len(p.src)
		}
		if i > 0 {
			text := p.src[:i]
			if strings.Contains(text, "}}") {
				return nil, "", fmt.Errorf("stray }} in %q", text)
			}
			nodes = append(nodes, node{kind: textNode, text: text})
			p.seen.WriteString(text)
			p.src = p.src[i:]
			continue
		}
		j := strings.Index(p.src, "}}")
		if j < 0 {
			return nil, "", fmt.Errorf("unclosed {{")
		}
		action := strings.Fields(p.src[2:j])
		p.src = p.src[j+2:]
		switch {
		case len(action) == 1 && (action[0] == "else" || action[0] == "end"):
			return nodes, action[0], nil
		case len(action) == 1 && actionName.MatchString(action[0]):
			n, err := p.value(action[0])
			if err != nil {
				return nil, "", err
			}
			nodes = append(nodes, n)
		case len(action) == 2 && action[0] == "if" && actionName.MatchString(action[1]),
			len(action) == 3 && action[0] == "if" && action[1] == "not" && actionName.MatchString(action[2]):
			n := node{kind: ifNode, name: action[len(action)-1], not: len(action) == 3}
			body, end, err := p.parse()
			if err != nil {
				return nil, "", err
			}
			n.body = body
			if end == "else" {
				if n.els, end, err = p.parse(); err != nil {
					return nil, "", err
				}
			}
			if end != "end" {
				return nil, "", fmt.Errorf("{{if %s}} without {{end}}", n.name)
			}
			nodes = append(nodes, n)
		case len(action) == 2 && action[0] == "range" && actionName.MatchString(action[1]):
			body, end, err := p.parse()
			if err != nil {
				return nil, "", err
			}
			if end != "end" {
				return nil, "", fmt.Errorf("{{range %s}} without {{end}}", action[1])
			}
			nodes = append(nodes, node{kind: rangeNode, name: action[1], body: body})
		default:
			return nil, "", fmt.Errorf("unknown action {{%s}}", strings.Join(action, " "))
		}
	}
	return nodes, "", nil
}

// value is a {{Name}} at the current position, if a value may go there.
func (p *parser) value(name string) (node, error) {
	seen := p.seen.String()
	lower := strings.ToLower(seen)
	for _, el := range rawBlocks {
		if i := strings.LastIndex(lower, "<"+el); i > strings.LastIndex(lower, "</"+el) && strings.Contains(lower[i:], ">") {
			return node{}, fmt.Errorf("{{%s}} in a %s element", name, el)
		}
	}
	if strings.LastIndex(seen, "<!--") > strings.LastIndex(seen, "-->") {
		return node{}, fmt.Errorf("{{%s}} in a comment", name)
	}
	lt := strings.LastIndexByte(seen, '<')
	if lt <= strings.LastIndexByte(seen, '>') {
		return node{kind: valueNode, name: name}, nil // text
	}
	m := openAttr.FindStringSubmatch(seen[lt:])
	if m == nil {
		return node{}, fmt.Errorf("{{%s}} in a tag but not in a double-quoted attribute value", name)
	}
	attr := strings.ToLower(m[1])
	if strings.HasPrefix(attr, "on") || attr == "style" || attr == "srcdoc" {
		return node{}, fmt.Errorf("{{%s}} in the %s attribute", name, attr)
	}
	return node{kind: valueNode, name: name, attr: true, url: urlAttrs[attr]}, nil
}

// execute renders the page with v.
func (p *page) execute(v vars) (string, error) {
	var b strings.Builder
	if err := p.run(&b, p.nodes, v); err != nil {
		return "", fmt.Errorf("httpapi: page %s: %w", p.name, err)
	}
	return b.String(), nil
}

func (p *page) run(b *strings.Builder, nodes []node, v vars) error {
	for _, n := range nodes {
		val, ok := v[n.name]
		if n.kind != textNode && !ok {
			return fmt.Errorf("no value for %s", n.name)
		}
		switch n.kind {
		case textNode:
			b.WriteString(n.text)
		case valueNode:
			switch s := val.(type) {
			case string:
				if n.url {
					s = safeURL(s)
				}
				b.WriteString(html.EscapeString(s))
			case trustedHTML:
				if n.attr {
					return fmt.Errorf("HTML %s in an attribute", n.name)
				}
				b.WriteString(string(s))
			default:
				return fmt.Errorf("%s is a %T, not a string", n.name, val)
			}
		case ifNode:
			var set bool
			switch s := val.(type) {
			case string:
				set = s != ""
			case bool:
				set = s
			case []vars:
				set = len(s) > 0
			default:
				return fmt.Errorf("{{if %s}} on a %T", n.name, val)
			}
			part := n.els
			if set != n.not {
				part = n.body
			}
			if err := p.run(b, part, v); err != nil {
				return err
			}
		case rangeNode:
			list, ok := val.([]vars)
			if !ok {
				return fmt.Errorf("{{range %s}} on a %T", n.name, val)
			}
			for _, item := range list {
				if err := p.run(b, n.body, item); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// safeURL is u, or "#ZgotmplZ" when u has a scheme other than http, https
// or mailto (javascript:, data:, …).
func safeURL(u string) string {
	if i := strings.IndexByte(u, ':'); i >= 0 && !strings.ContainsAny(u[:i], "/?#") {
		switch strings.ToLower(u[:i]) {
		case "http", "https", "mailto":
		default:
			return "#ZgotmplZ"
		}
	}
	return u
}
