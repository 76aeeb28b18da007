package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/rolecall/rolecall/internal/truncate"
)

// decodeBody reads a JSON object into dst, a pointer to a struct, strictly:
// the content type must be application/json; the body must be one valid
// UTF-8 JSON object of at most MaxBody bytes with no duplicate key at any
// depth, no key other than dst's json names (matched exactly, not
// case-insensitively), and values of the right types. When optional is set,
// an empty body is accepted and leaves dst untouched.
func decodeBody(r *http.Request, dst any, optional bool) error {
	if r.Body == nil {
		r.Body = http.NoBody
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return refused(CodeTooLarge, "the request body is larger than 16 KiB", "")
		}
		return refused(CodeMalformedJSON, "the request body could not be read", "")
	}
	if len(body) == 0 && optional && r.Header.Get("Content-Type") == "" {
		return nil
	}
	if err := requireJSON(r); err != nil {
		return err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		if optional {
			return nil
		}
		return refused(CodeMalformedJSON, "the request body is empty; send a JSON object", "")
	}
	if !utf8.Valid(body) {
		return refused(CodeMalformedJSON, "the request body is not valid UTF-8", "")
	}
	if unpairedSurrogate(body) {
		return refused(CodeMalformedJSON, `the request body escapes half of a UTF-16 surrogate pair (\uD800-\uDFFF alone); send valid Unicode`, "")
	}
	keys, err := scanObject(body)
	if err != nil {
		return err
	}
	allowed := jsonNames(dst)
	for _, k := range keys {
		if !allowed[k] {
			return refused(CodeUnknownField, fmt.Sprintf("unknown field %q", truncate.String(k, 64)), truncate.String(k, 64))
		}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return refused(CodeInvalidType, fmt.Sprintf("field %q must be %s", te.Field, jsonKind(te.Type)), te.Field)
		}
		return refused(CodeMalformedJSON, "the request body is not valid JSON", "")
	}
	return nil
}

// unpairedSurrogate reports whether a JSON text has a \uD800-\uDFFF escape
// that is not half of a high-low surrogate pair. encoding/json would turn
// it into U+FFFD silently, storing garbage the client never meant to send.
func unpairedSurrogate(body []byte) bool {
	inString := false
	for i := 0; i < len(body); i++ {
		c := body[i]
		if !inString {
			inString = c == '"'
			continue
		}
		switch c {
		case '"':
			inString = false
		case '\\':
			if r, ok := hex4(body, i+2); ok && body[i+1] == 'u' && utf16.IsSurrogate(r) {
				if r2, ok := hex4(body, i+8); ok && r < 0xdc00 && body[i+6] == '\\' && body[i+7] == 'u' && r2 >= 0xdc00 && r2 <= 0xdfff {
					i += 11 // the pair, \uXXXX\uYYYY
					continue
				}
				return true
			}
			i++ // the escaped character
		}
	}
	return false
}

// hex4 decodes the four hex digits at b[i:i+4].
func hex4(b []byte, i int) (rune, bool) {
	if i < 0 || i+4 > len(b) {
		return 0, false
	}
	n, err := strconv.ParseUint(string(b[i:i+4]), 16, 16)
	return rune(n), err == nil
}

// requireJSON refuses a request whose Content-Type is not application/json
// (with an optional utf-8 charset).
func requireJSON(r *http.Request) error {
	ct := r.Header.Get("Content-Type")
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return refused(CodeUnsupportedMedia, "send the request body as Content-Type: application/json", "")
	}
	for k, v := range params {
		if k != "charset" || !strings.EqualFold(v, "utf-8") {
			return refused(CodeUnsupportedMedia, "the only supported charset is utf-8", "")
		}
	}
	return nil
}

// scanObject checks that body is exactly one JSON object without duplicate
// keys at any depth, and returns its top-level keys.
func scanObject(body []byte) ([]string, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, refused(CodeMalformedJSON, "the request body is not valid JSON", "")
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, refused(CodeMalformedJSON, "the request body must be a JSON object", "")
	}
	keys, err := scanMembers(dec, "", 1)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, refused(CodeMalformedJSON, "the request body has data after the JSON object", "")
	}
	return keys, nil
}

const maxDepth = 32

// scanMembers reads an object's members after its '{' up to and including
// its '}'.
func scanMembers(dec *json.Decoder, path string, depth int) ([]string, error) {
	if depth > maxDepth {
		return nil, refused(CodeMalformedJSON, "the request body is nested too deeply", "")
	}
	seen := map[string]bool{}
	var keys []string
	for {
		tok, err := dec.Token()
		if err != nil {
			return nil, refused(CodeMalformedJSON, "the request body is not valid JSON", "")
		}
		if d, ok := tok.(json.Delim); ok && d == '}' {
			return keys, nil
		}
		k, ok := tok.(string)
		if !ok {
			return nil, refused(CodeMalformedJSON, "the request body is not valid JSON", "")
		}
		field := k
		if path != "" {
			field = path + "." + k
		}
		if seen[k] {
			return nil, refused(CodeDuplicateField, fmt.Sprintf("field %q appears more than once", truncate.String(field, 64)), truncate.String(field, 64))
		}
		seen[k] = true
		keys = append(keys, k)
		if err := scanValue(dec, field, depth); err != nil {
			return nil, err
		}
	}
}

func scanValue(dec *json.Decoder, path string, depth int) error {
	tok, err := dec.Token()
	if err != nil {
		return refused(CodeMalformedJSON, "the request body is not valid JSON", "")
	}
	if tok == nil {
		// encoding/json takes null as "absent": an optional field would
		// get its default (a rotation its 7-day grace) from a value that
		// names none. No RoleCall field takes null.
		f := truncate.String(path, 64)
		return refused(CodeInvalidType, fmt.Sprintf("field %q may not be null: give it a value, or leave an optional field out for its default", f), f)
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return nil
	}
	switch d {
	case '{':
		_, err := scanMembers(dec, path, depth+1)
		return err
	case '[':
		if depth+1 > maxDepth {
			return refused(CodeMalformedJSON, "the request body is nested too deeply", "")
		}
		for dec.More() {
			if err := scanValue(dec, path, depth+1); err != nil {
				return err
			}
		}
		if _, err := dec.Token(); err != nil { // ']'
			return refused(CodeMalformedJSON, "the request body is not valid JSON", "")
		}
		return nil
	}
	return refused(CodeMalformedJSON, "the request body is not valid JSON", "")
}

// jsonNames returns the JSON names of the fields of the struct dst points to.
func jsonNames(dst any) map[string]bool {
	t := reflect.TypeOf(dst)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	names := map[string]bool{}
	if t.Kind() != reflect.Struct {
		return names
	}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		names[name] = true
	}
	return names
}

func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	}
	return "an object"
}
