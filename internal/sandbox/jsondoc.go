package sandbox

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// object is a JSON object with its keys in document order.
type object []member

type member struct {
	key string
	val any
}

func (o object) get(key string) any {
	for _, m := range o {
		if m.key == key {
			return m.val
		}
	}
	return nil
}

// decodeStrict decodes one JSON value, keeping key order and refusing
// duplicate keys (IAM's reading of a duplicated element is ambiguous) and
// trailing data.
//
// Every string, key or value, is checked with checkDecodedString: an
// escape that decodes outside IAM's character set is refused with the
// *PolicyError it returns.
func decodeStrict(doc []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	d := decoder{dec: dec, doc: doc}
	v, err := d.value(0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("unexpected data after the JSON document")
	}
	return v, nil
}

const maxDepth = 32

// decoder reads one document's tokens.
type decoder struct {
	dec *json.Decoder
	doc []byte
}

// token is the next token. A string's decoded characters are checked
// (checkDecodedString), and its refusal returned as it is.
func (d decoder) token() (json.Token, error) {
	tok, err := d.dec.Token()
	if err == io.EOF {
		return nil, errors.New("unexpected end of JSON")
	}
	if err != nil {
		return nil, fmt.Errorf("malformed JSON: %w", err)
	}
	if s, ok := tok.(string); ok {
		if err := checkDecodedString(d.doc, s, d.dec.InputOffset()); err != nil {
			return nil, err
		}
	}
	return tok, nil
}

func (d decoder) value(depth int) (any, error) {
	dec := d.dec
	if depth > maxDepth {
		return nil, errors.New("the document is nested too deeply")
	}
	tok, err := d.token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			var obj object
			seen := map[string]bool{}
			for dec.More() {
				kt, err := d.token()
				if err != nil {
					return nil, err
				}
				k, ok := kt.(string)
				if !ok {
					return nil, errors.New("malformed JSON object key")
				}
				if seen[k] {
					return nil, fmt.Errorf("duplicate key %q", k)
				}
				seen[k] = true
				v, err := d.value(depth + 1)
				if err != nil {
					return nil, err
				}
				obj = append(obj, member{k, v})
			}
			if _, err := dec.Token(); err != nil {
				return nil, fmt.Errorf("malformed JSON: %w", err)
			}
			if obj == nil {
				obj = object{}
			}
			return obj, nil
		case '[':
			list := []any{}
			for dec.More() {
				v, err := d.value(depth + 1)
				if err != nil {
					return nil, err
				}
				list = append(list, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, fmt.Errorf("malformed JSON: %w", err)
			}
			return list, nil
		}
		return nil, fmt.Errorf("malformed JSON: unexpected %v", t)
	}
	return tok, nil
}
