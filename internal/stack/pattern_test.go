package stack_test

import (
	"testing"

	"github.com/rolecall/rolecall/internal/stack"
)

func TestMatch(t *testing.T) {
	ev := `{"source":"rolecall","detail-type":"Role Verified","resources":["arn:a","arn:b"],
		"detail":{"status":"VERIFIED","version":3,"ok":true,"none":null,"reason":{"code":"VERIFIED"}}}`
	tests := []struct {
		name    string
		pattern string
		want    bool
		wantErr bool
	}{
		{"one field", `{"source":["rolecall"]}`, true, false},
		{"one of several values", `{"detail-type":["Role Submitted","Role Verified"]}`, true, false},
		{"all fields must match", `{"source":["rolecall"],"detail-type":["Role Submitted"]}`, false, false},
		{"nested", `{"detail":{"reason":{"code":["VERIFIED"]}}}`, true, false},
		{"nested mismatch", `{"detail":{"reason":{"code":["ASSUME_DENIED"]}}}`, false, false},
		{"missing field", `{"detail":{"hint":["x"]}}`, false, false},
		{"missing object", `{"nothing":{"x":["y"]}}`, false, false},
		{"object where a value is", `{"source":{"x":["y"]}}`, false, false},
		{"any element of an event array", `{"resources":["arn:b"]}`, true, false},
		{"no element of an event array", `{"resources":["arn:c"]}`, false, false},
		{"number", `{"detail":{"version":[3]}}`, true, false},
		{"number is not a string", `{"detail":{"version":["3"]}}`, false, false},
		{"boolean", `{"detail":{"ok":[true]}}`, true, false},
		{"null", `{"detail":{"none":[null]}}`, true, false},
		{"null does not match a missing field", `{"detail":{"absent":[null]}}`, false, false},
		{"prefix filter is unsupported", `{"source":[{"prefix":"role"}]}`, false, true},
		{"unsupported even after a mismatch", `{"source":["x"],"detail":{"status":[{"anything-but":"X"}]}}`, false, true},
		{"bare value", `{"source":"rolecall"}`, false, true},
		{"empty array", `{"source":[]}`, false, true},
		{"empty object", `{}`, false, true},
		{"nested array value", `{"source":[["rolecall"]]}`, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := stack.MatchJSON([]byte(tt.pattern), []byte(ev))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("Match = %v, want %v", got, tt.want)
			}
		})
	}
	if _, err := stack.Match([]any{"x"}, map[string]any{}); err == nil {
		t.Error("a pattern that is not an object matched")
	}
}
