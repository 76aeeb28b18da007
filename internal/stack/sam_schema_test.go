package stack_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// samRegexp is the schema's regexp engine: Go's, plus the one negative
// lookahead the SAM schema uses (^(?!X).+$, "a type that is not
// AWS::Serverless::*"), which Go's RE2 cannot express.
func samRegexp(s string) (jsonschema.Regexp, error) {
	if rest, ok := strings.CutPrefix(s, "^(?!"); ok {
		i := strings.Index(rest, ")")
		if i < 0 {
			return nil, errors.New("unterminated lookahead in " + s)
		}
		not, err := regexp.Compile("^(?:" + rest[:i] + ")")
		if err != nil {
			return nil, err
		}
		then, err := regexp.Compile("^" + rest[i+1:])
		if err != nil {
			return nil, err
		}
		return notThen{src: s, not: not, then: then}, nil
	}
	return regexp.Compile(s)
}

type notThen struct {
	src       string
	not, then *regexp.Regexp
}

func (n notThen) MatchString(s string) bool { return !n.not.MatchString(s) && n.then.MatchString(s) }
func (n notThen) String() string            { return n.src }

func TestSAMRegexpLookahead(t *testing.T) {
	re, err := samRegexp(`^(?!AWS::Serverless::).+$`)
	if err != nil {
		t.Fatal(err)
	}
	for s, want := range map[string]bool{"AWS::SQS::Queue": true, "AWS::Serverless::Function": false, "": false, "Custom::AWS::Serverless::X": true} {
		if got := re.MatchString(s); got != want {
			t.Errorf("match %q = %v, want %v", s, got, want)
		}
	}
	if re, err := samRegexp(`^[a-z]+$`); err != nil || !re.MatchString("abc") || re.MatchString("ABC") {
		t.Errorf("plain pattern: %v", err)
	}
}

func samSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "sam.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.UseRegexpEngine(samRegexp)
	if err := c.AddResource("sam.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("sam.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	return sch
}

func TestTemplateIsValidSAM(t *testing.T) {
	sch := samSchema(t)
	b, err := template(t).JSON()
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if err := sch.Validate(doc); err != nil {
		t.Fatalf("template.yaml is not valid against the SAM schema:\n%v", err)
	}

	// The schema is not vacuous: misspelt properties of Globals, of a
	// function and of an HTTP API fail.
	for _, tt := range []struct{ from, to string }{
		{`"MemorySize":256`, `"MemorySise":256`},
		{`"CodeUri":"."`, `"CodeUrl":"."`},
		{`"EnableIamAuthorizer":true`, `"EnableIAMAuthorizer":true`},
	} {
		bad := strings.Replace(string(b), tt.from, tt.to, 1)
		if bad == string(b) {
			t.Fatalf("fixture: %s not found in the template", tt.from)
		}
		doc, _ := jsonschema.UnmarshalJSON(strings.NewReader(bad))
		if err := sch.Validate(doc); err == nil {
			t.Errorf("%s passes the SAM schema", tt.to)
		}
	}
}
