package awsfake

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
)

// DynamoDBCall is one call the fake DynamoDB received.
type DynamoDBCall struct {
	Op   string
	Body map[string]any
}

// DynamoDB is a fake DynamoDB endpoint for smoke tests: an empty table.
// Reads find nothing (GetItem answers no item, Query and BatchGetItem no
// items) and writes succeed without storing anything.
type DynamoDB struct {
	api *jsonAPI

	mu    sync.Mutex
	calls []DynamoDBCall
}

// NewDynamoDB returns a fake DynamoDB; serve it with httptest.
func NewDynamoDB() *DynamoDB {
	f := &DynamoDB{api: newJSONAPI("DynamoDB_20120810.", "application/x-amz-json-1.0", false)}
	answers := map[string]any{
		"GetItem":            struct{}{},
		"Query":              map[string]any{"Items": []any{}, "Count": 0, "ScannedCount": 0},
		"BatchGetItem":       map[string]any{"Responses": map[string]any{}, "UnprocessedKeys": map[string]any{}},
		"PutItem":            struct{}{},
		"UpdateItem":         struct{}{},
		"DeleteItem":         struct{}{},
		"TransactWriteItems": struct{}{},
	}
	for op, out := range answers {
		f.api.ops[op] = func(_ context.Context, body []byte) (any, *Fault) {
			var in map[string]any
			if err := json.Unmarshal(body, &in); err != nil {
				return nil, &Fault{Status: http.StatusBadRequest, Code: "SerializationException"}
			}
			f.mu.Lock()
			f.calls = append(f.calls, DynamoDBCall{Op: op, Body: in})
			f.mu.Unlock()
			return out, nil
		}
	}
	return f
}

func (f *DynamoDB) ServeHTTP(w http.ResponseWriter, r *http.Request) { f.api.ServeHTTP(w, r) }

// Calls returns the calls received, in order.
func (f *DynamoDB) Calls() []DynamoDBCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]DynamoDBCall(nil), f.calls...)
}
