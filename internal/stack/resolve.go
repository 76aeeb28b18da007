package stack

import (
	"errors"
	"fmt"
	"strings"
)

// Values are what ResolveValue substitutes: parameter values (a
// CommaDelimitedList as its comma-joined string) and the pseudo parameters
// the caller models ("AWS::AccountId"), both in Params, and resource
// attributes ("Role.Arn") in Attrs. Nothing else resolves: a pseudo
// parameter the caller does not give is unresolved, never a sample value.
type Values struct {
	Params map[string]string
	Attrs  map[string]string
}

// ErrUnresolved marks a template value ResolveValue cannot resolve.
var ErrUnresolved = errors.New("unresolved template value")

// ResolveValue resolves v as CloudFormation would deploy it with vals:
// Ref, Fn::Sub (a string, or [string, {variables}]), Fn::GetAtt, Fn::If
// (with the template's Conditions: Fn::Not, Fn::Equals, Fn::Join, Fn::And,
// Fn::Or, Condition), Fn::Join of strings, and AWS::NoValue dropped from
// lists and mappings. A reference to anything not in vals, any other
// function and any other form of these is an ErrUnresolved error, so a
// caller modelling part of the stack notices when the template changes
// under it.
func (t Template) ResolveValue(v any, vals Values) (any, error) {
	r := resolution{t: t, vals: vals}
	out, err := r.value(v)
	if err != nil {
		return nil, err
	}
	if out == noValue {
		return nil, fmt.Errorf("%w: the value is AWS::NoValue", ErrUnresolved)
	}
	return out, nil
}

type noValueT struct{}

var noValue = noValueT{}

type resolution struct {
	t    Template
	vals Values
}

func (r resolution) param(name string) (string, bool) {
	v, ok := r.vals.Params[name]
	return v, ok
}

func (r resolution) listParam(name string) bool {
	ps, _ := r.t["Parameters"].(map[string]any)
	p, _ := ps[name].(map[string]any)
	typ, _ := p["Type"].(string)
	return strings.HasPrefix(typ, "List<") || typ == "CommaDelimitedList"
}

func (r resolution) condition(name string) (bool, error) {
	conds, _ := r.t["Conditions"].(map[string]any)
	c, ok := conds[name]
	if !ok {
		return false, fmt.Errorf("%w: no condition %s", ErrUnresolved, name)
	}
	v, err := r.value(c)
	if err != nil {
		return false, fmt.Errorf("condition %s: %w", name, err)
	}
	b, ok := v.(bool)
	if !ok {
		return false, fmt.Errorf("%w: condition %s is not a boolean", ErrUnresolved, name)
	}
	return b, nil
}

func (r resolution) value(v any) (any, error) {
	switch x := v.(type) {
	case []any:
		out := make([]any, 0, len(x))
		for _, e := range x {
			rv, err := r.value(e)
			if err != nil {
				return nil, err
			}
			if rv != noValue {
				out = append(out, rv)
			}
		}
		return out, nil
	case map[string]any:
		if len(x) == 1 {
			for fn, arg := range x {
				if strings.HasPrefix(fn, "Fn::") || fn == "Ref" || fn == "Condition" {
					return r.intrinsic(fn, arg)
				}
			}
		}
		out := make(map[string]any, len(x))
		for k, e := range x {
			rv, err := r.value(e)
			if err != nil {
				return nil, err
			}
			if rv != noValue {
				out[k] = rv
			}
		}
		return out, nil
	}
	return v, nil
}

func (r resolution) args(arg any, n int, fn string) ([]any, error) {
	a, ok := arg.([]any)
	if !ok || len(a) != n {
		return nil, fmt.Errorf("%w: %s takes %d arguments", ErrUnresolved, fn, n)
	}
	return a, nil
}

func (r resolution) intrinsic(fn string, arg any) (any, error) {
	switch fn {
	case "Ref":
		name, ok := arg.(string)
		if !ok {
			return nil, fmt.Errorf("%w: Ref takes a name", ErrUnresolved)
		}
		if name == "AWS::NoValue" {
			return noValue, nil
		}
		v, ok := r.param(name)
		if !ok {
			return nil, fmt.Errorf("%w: Ref %s", ErrUnresolved, name)
		}
		if r.listParam(name) {
			out := []any{}
			if v != "" {
				for _, e := range strings.Split(v, ",") {
					out = append(out, strings.TrimSpace(e))
				}
			}
			return out, nil
		}
		return v, nil
	case "Fn::GetAtt":
		g, err := r.args(arg, 2, fn)
		if err != nil {
			return nil, err
		}
		key := fmt.Sprintf("%v.%v", g[0], g[1])
		v, ok := r.vals.Attrs[key]
		if !ok {
			return nil, fmt.Errorf("%w: GetAtt %s", ErrUnresolved, key)
		}
		return v, nil
	case "Fn::Sub":
		return r.sub(arg)
	case "Fn::Join":
		a, err := r.args(arg, 2, fn)
		if err != nil {
			return nil, err
		}
		// CloudFormation takes no function as the delimiter: a string only.
		sep, ok := a[0].(string)
		if !ok {
			return nil, fmt.Errorf("%w: Fn::Join's delimiter is not a string", ErrUnresolved)
		}
		items, err := r.value(a[1])
		if err != nil {
			return nil, err
		}
		list, ok := items.([]any)
		if !ok {
			return nil, fmt.Errorf("%w: Fn::Join of a non-list", ErrUnresolved)
		}
		parts := make([]string, len(list))
		for i, e := range list {
			if parts[i], ok = e.(string); !ok {
				return nil, fmt.Errorf("%w: Fn::Join of %v, not a string", ErrUnresolved, e)
			}
		}
		return strings.Join(parts, sep), nil
	case "Fn::If":
		a, err := r.args(arg, 3, fn)
		if err != nil {
			return nil, err
		}
		ok, err := r.condition(fmt.Sprint(a[0]))
		if err != nil {
			return nil, err
		}
		if ok {
			return r.value(a[1])
		}
		return r.value(a[2])
	case "Condition":
		return r.condition(fmt.Sprint(arg))
	case "Fn::Not":
		a, err := r.args(arg, 1, fn)
		if err != nil {
			return nil, err
		}
		b, err := r.boolean(a[0])
		return !b, err
	case "Fn::And", "Fn::Or":
		a, ok := arg.([]any)
		if !ok || len(a) < 2 {
			return nil, fmt.Errorf("%w: %s takes 2 or more conditions", ErrUnresolved, fn)
		}
		and := fn == "Fn::And"
		for _, c := range a {
			b, err := r.boolean(c)
			if err != nil {
				return nil, err
			}
			if b != and {
				return !and, nil
			}
		}
		return and, nil
	case "Fn::Equals":
		a, err := r.args(arg, 2, fn)
		if err != nil {
			return nil, err
		}
		x, err := r.value(a[0])
		if err != nil {
			return nil, err
		}
		y, err := r.value(a[1])
		if err != nil {
			return nil, err
		}
		return fmt.Sprint(x) == fmt.Sprint(y), nil
	}
	return nil, fmt.Errorf("%w: %s is not modelled", ErrUnresolved, fn)
}

// sub resolves Fn::Sub: "text ${Name} ${Resource.Attr} ${!Literal}", or
// [text, {Name: value}], whose variables (strings) take precedence over
// parameters and attributes of the same name.
func (r resolution) sub(arg any) (string, error) {
	s, isText := arg.(string)
	vars := map[string]any{}
	if !isText {
		a, err := r.args(arg, 2, "Fn::Sub")
		if err != nil {
			return "", err
		}
		s, isText = a[0].(string)
		vm, isMap := a[1].(map[string]any)
		if !isText || !isMap {
			return "", fmt.Errorf("%w: Fn::Sub takes a string or [string, {variables}]", ErrUnresolved)
		}
		for name, e := range vm {
			v, err := r.value(e)
			if err != nil {
				return "", err
			}
			vars[name] = v
		}
	}
	if i := strings.LastIndex(s, "${"); i >= 0 && !strings.Contains(s[i:], "}") {
		return "", fmt.Errorf("%w: Fn::Sub %q has an unterminated ${", ErrUnresolved, s)
	}
	var b strings.Builder
	for _, part := range SubRefs(s) {
		if !part.Ref {
			b.WriteString(part.Text)
			continue
		}
		v, ok := r.subRef(part.Text, vars)
		if !ok {
			return "", fmt.Errorf("%w: ${%s} in Fn::Sub", ErrUnresolved, part.Text)
		}
		b.WriteString(v)
	}
	return b.String(), nil
}

// subRef resolves one ${Name} of Fn::Sub: a variable (a string), a
// resource attribute, or a parameter.
func (r resolution) subRef(name string, vars map[string]any) (string, bool) {
	if v, ok := vars[name]; ok {
		s, isStr := v.(string)
		return s, isStr
	}
	if strings.Contains(name, ".") {
		v, ok := r.vals.Attrs[name]
		return v, ok
	}
	return r.param(name)
}

func (r resolution) boolean(v any) (bool, error) {
	x, err := r.value(v)
	if err != nil {
		return false, err
	}
	b, ok := x.(bool)
	if !ok {
		return false, fmt.Errorf("%w: %v is not a condition", ErrUnresolved, v)
	}
	return b, nil
}
