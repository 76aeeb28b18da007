package stack_test

import (
	"errors"
	"reflect"
	"testing"

	"github.com/rolecall/rolecall/internal/stack"
)

func TestResolveValue(t *testing.T) {
	tm := stack.Template{
		"Parameters": map[string]any{
			"Stage": map[string]any{"Type": "String"},
			"List":  map[string]any{"Type": "CommaDelimitedList"},
			"Flag":  map[string]any{"Type": "String"},
		},
		"Conditions": map[string]any{
			"HasList": map[string]any{"Fn::Not": []any{map[string]any{"Fn::Equals": []any{map[string]any{"Fn::Join": []any{"", map[string]any{"Ref": "List"}}}, ""}}}},
			"FlagOn":  map[string]any{"Fn::Equals": []any{map[string]any{"Ref": "Flag"}, "true"}},
			"Both":    map[string]any{"Fn::And": []any{map[string]any{"Condition": "HasList"}, map[string]any{"Condition": "FlagOn"}}},
			"Broken":  map[string]any{"Fn::Equals": []any{map[string]any{"Ref": "Nope"}, "a"}},
			"NotBool": "yes",
		},
	}
	vals := func(list, flag string) stack.Values {
		return stack.Values{Params: map[string]string{"Stage": "dev", "List": list, "Flag": flag, "AWS::Partition": "aws", "AWS::AccountId": "111122223333"},
			Attrs: map[string]string{"R.Arn": "arn:r"}}
	}
	noValue := map[string]any{"Ref": "AWS::NoValue"}
	tests := []struct {
		name string
		in   any
		vals stack.Values
		want any
		err  bool
	}{
		{"Ref", map[string]any{"Ref": "Stage"}, vals("", "true"), "dev", false},
		{"pseudo", map[string]any{"Ref": "AWS::Partition"}, vals("", "true"), "aws", false},
		{"list", map[string]any{"Ref": "List"}, vals("a,b", "true"), []any{"a", "b"}, false},
		{"empty list", map[string]any{"Ref": "List"}, vals("", "true"), []any{}, false},
		{"Sub", map[string]any{"Fn::Sub": "x-${Stage}-${R.Arn}-${AWS::AccountId}"}, vals("", "true"), "x-dev-arn:r-111122223333", false},
		{"GetAtt", map[string]any{"Fn::GetAtt": []any{"R", "Arn"}}, vals("", "true"), "arn:r", false},
		{"If true", map[string]any{"Fn::If": []any{"FlagOn", "y", "n"}}, vals("", "true"), "y", false},
		{"If false", map[string]any{"Fn::If": []any{"FlagOn", "y", "n"}}, vals("", "false"), "n", false},
		{"NoValue dropped", []any{"a", map[string]any{"Fn::If": []any{"HasList", "b", noValue}}, map[string]any{"k": noValue}}, vals("", "true"), []any{"a", map[string]any{}}, false},
		{"And", map[string]any{"Fn::If": []any{"Both", "y", "n"}}, vals("a", "true"), "y", false},
		{"And false", map[string]any{"Fn::If": []any{"Both", "y", "n"}}, vals("", "true"), "n", false},
		{"unknown Ref", map[string]any{"Ref": "Table"}, vals("", "true"), nil, true},
		{"unknown GetAtt", map[string]any{"Fn::GetAtt": []any{"Table", "Arn"}}, vals("", "true"), nil, true},
		{"unknown condition", map[string]any{"Fn::If": []any{"Nope", "y", "n"}}, vals("", "true"), nil, true},
		{"unmodelled function", map[string]any{"Fn::Select": []any{0, []any{"a"}}}, vals("", "true"), nil, true},
		{"top-level NoValue", noValue, vals("", "true"), nil, true},
		{"Join", map[string]any{"Fn::Join": []any{":", []any{"a", map[string]any{"Ref": "Stage"}}}}, vals("", "true"), "a:dev", false},
		{"Join of a non-list", map[string]any{"Fn::Join": []any{":", "a"}}, vals("", "true"), nil, true},
		{"Join with a function as delimiter", map[string]any{"Fn::Join": []any{map[string]any{"Ref": "Stage"}, []any{"a", "b"}}}, vals("", "true"), nil, true},
		{"Join of a number", map[string]any{"Fn::Join": []any{":", []any{"a", 1}}}, vals("", "true"), nil, true},
		{"Join with one argument", map[string]any{"Fn::Join": []any{":"}}, vals("", "true"), nil, true},
		{"pseudo parameter not given", map[string]any{"Ref": "AWS::Region"}, vals("", "true"), nil, true},
		{"pseudo parameter not given in Sub", map[string]any{"Fn::Sub": "${AWS::Region}"}, vals("", "true"), nil, true},
		{"Ref of a non-name", map[string]any{"Ref": []any{"Stage"}}, vals("", "true"), nil, true},
		{"Sub with variables", map[string]any{"Fn::Sub": []any{"${V}/${Stage}/${W}", map[string]any{"V": map[string]any{"Ref": "Stage"}, "W": "w", "Stage": "var"}}}, vals("", "true"), "dev/var/w", false},
		{"Sub with a non-string variable", map[string]any{"Fn::Sub": []any{"${V}", map[string]any{"V": []any{"a"}}}}, vals("", "true"), nil, true},
		{"Sub with an unresolved variable", map[string]any{"Fn::Sub": []any{"${V}", map[string]any{"V": map[string]any{"Ref": "Nope"}}}}, vals("", "true"), nil, true},
		{"Sub with variables not a mapping", map[string]any{"Fn::Sub": []any{"${V}", []any{"V"}}}, vals("", "true"), nil, true},
		{"Sub of a number", map[string]any{"Fn::Sub": 1}, vals("", "true"), nil, true},
		{"Sub unterminated", map[string]any{"Fn::Sub": "a-${Stage"}, vals("", "true"), nil, true},
		{"Sub of an unknown attribute", map[string]any{"Fn::Sub": "${Table.Arn}"}, vals("", "true"), nil, true},
		{"GetAtt of one name", map[string]any{"Fn::GetAtt": []any{"R"}}, vals("", "true"), nil, true},
		{"If with two arguments", map[string]any{"Fn::If": []any{"FlagOn", "y"}}, vals("", "true"), nil, true},
		{"If of a failing condition", map[string]any{"Fn::If": []any{"Broken", "y", "n"}}, vals("", "true"), nil, true},
		{"If of a non-boolean condition", map[string]any{"Fn::If": []any{"NotBool", "y", "n"}}, vals("", "true"), nil, true},
		{"Not of a string", map[string]any{"Fn::Not": []any{"true"}}, vals("", "true"), nil, true},
		{"Not of an unresolved value", map[string]any{"Fn::Not": []any{map[string]any{"Ref": "Nope"}}}, vals("", "true"), nil, true},
		{"Not with two arguments", map[string]any{"Fn::Not": []any{true, false}}, vals("", "true"), nil, true},
		{"Or", map[string]any{"Fn::Or": []any{map[string]any{"Condition": "FlagOn"}, map[string]any{"Condition": "HasList"}}}, vals("", "false"), false, false},
		{"Or true", map[string]any{"Fn::Or": []any{map[string]any{"Condition": "FlagOn"}, map[string]any{"Condition": "HasList"}}}, vals("a", "false"), true, false},
		{"Or of one condition", map[string]any{"Fn::Or": []any{true}}, vals("", "true"), nil, true},
		{"And of an unresolved condition", map[string]any{"Fn::And": []any{true, map[string]any{"Condition": "Nope"}}}, vals("", "true"), nil, true},
		{"Equals of an unresolved value", map[string]any{"Fn::Equals": []any{map[string]any{"Ref": "Nope"}, "a"}}, vals("", "true"), nil, true},
		{"Equals of an unresolved second value", map[string]any{"Fn::Equals": []any{"a", map[string]any{"Ref": "Nope"}}}, vals("", "true"), nil, true},
		{"Equals with one argument", map[string]any{"Fn::Equals": []any{"a"}}, vals("", "true"), nil, true},
		{"unresolved in a list", []any{"a", map[string]any{"Ref": "Nope"}}, vals("", "true"), nil, true},
		{"unresolved in a mapping", map[string]any{"a": "b", "c": map[string]any{"Ref": "Nope"}}, vals("", "true"), nil, true},
		{"Join of an unresolved list", map[string]any{"Fn::Join": []any{":", map[string]any{"Ref": "Nope"}}}, vals("", "true"), nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tm.ResolveValue(tt.in, tt.vals)
			if tt.err {
				if !errors.Is(err, stack.ErrUnresolved) {
					t.Errorf("error %v, want ErrUnresolved", err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v (%v), want %#v", got, err, tt.want)
			}
		})
	}
}

// TestResolveAccessRole: the access role resolves fully from
// template.yaml, as `rolecall serve` models it.
func TestResolveAccessRole(t *testing.T) {
	tm := template(t)
	r := tm.Resources("AWS::IAM::Role")["PartnerAccessRole"]
	params := withParams(t, map[string]string{"WorkloadPrincipalArns": ""})
	params["AWS::Partition"], params["AWS::AccountId"] = "aws", "111122223333"
	vals := stack.Values{Params: params, Attrs: map[string]string{"VerifyFunctionRole.Arn": "arn:aws:iam::111122223333:role/v"}}
	for _, prop := range []string{"RoleName", "AssumeRolePolicyDocument", "Policies"} {
		if _, err := tm.ResolveValue(stack.Properties(r)[prop], vals); err != nil {
			t.Errorf("%s: %v", prop, err)
		}
	}
	if on, err := tm.Condition("OwnOrganizationDenied", vals); err != nil || !on {
		t.Errorf("OwnOrganizationDenied = %v (%v)", on, err)
	}
}
