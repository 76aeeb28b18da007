package httpapi

import "testing"

func TestUnpairedSurrogate(t *testing.T) {
	tests := []struct {
		body string
		want bool
	}{
		{`{"name":"ok"}`, false},
		{`{"name":"\ud83d\ude00"}`, false},          // a pair: 😀
		{`{"name":"\uD83D\uDE00 and more"}`, false}, // upper-case hex
		{`{"name":"\u00e9\u200b"}`, false},
		{`{"name":"\\ud800"}`, false}, // an escaped backslash, then text
		{`{"a\\":"\\\\ud800"}`, false},
		{`{"name":"\ud800"}`, true},
		{`{"name":"\udc00"}`, true}, // a low half first
		{`{"name":"\ud800\u0041"}`, true},
		{`{"name":"\ud800\ud800"}`, true},
		{`{"\ud800":1}`, true}, // in a key
		{`{"name":"x\ud83d"}`, true},
		{`{"name":"\ud83d\ude00\udc00"}`, true},
		{`{"name":"\u12"}`, false}, // malformed: left to the JSON decoder
		{`"\ud800`, true},
	}
	for _, tt := range tests {
		if got := unpairedSurrogate([]byte(tt.body)); got != tt.want {
			t.Errorf("unpairedSurrogate(%s) = %t, want %t", tt.body, got, tt.want)
		}
	}
}
