package redact

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestSigning(t *testing.T) {
	const refusal = "operation error DynamoDB: GetItem, https response error StatusCode: 400, InvalidSignatureException: The request signature we calculated does not match the signature you provided."
	const canonical = "\n\nThe Canonical String for this request should have been\n'POST\n/\n\nhost:dynamodb.eu-west-1.amazonaws.com\nx-amz-security-token:IQoJSECRET\n\nhost;x-amz-security-token\nabc'\n"
	const toSign = "\nThe String-to-Sign should have been\n'AWS4-HMAC-SHA256\n20261203T000000Z\n20261203/eu-west-1/dynamodb/aws4_request\ndef'\n"
	tests := []struct {
		name, in, want string
	}{
		{"no diagnostics", refusal, refusal},
		{"both blocks", refusal + canonical + toSign, refusal + "\n\n"},
		{"a joined error after them", refusal + canonical + toSign + "second error", refusal + "\n\nsecond error"},
		{"an unclosed block runs to the end", refusal + "\nThe Canonical String for this request should have been\n'POST\nx-amz-security-token:IQoJSECRET", refusal + "\n"},
		{"another case", refusal + strings.ToLower(canonical), refusal + "\n"},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Signing(tt.in)
			if got != tt.want {
				t.Errorf("Signing = %q, want %q", got, tt.want)
			}
			if strings.Contains(strings.ToLower(got), "iqojsecret") {
				t.Errorf("the session token is left in %q", got)
			}
		})
	}
}

// TestError: an error with signing diagnostics is reported without them
// and still matches what it wraps; any other error is returned as it is.
func TestError(t *testing.T) {
	cause := errors.New("refused")
	err := fmt.Errorf("call: %w\n\nThe Canonical String for this request should have been\n'POST\nx-amz-security-token:IQoJSECRET\nabc'\n", cause)
	got := Error(err)
	if got.Error() != "call: refused\n" || !errors.Is(got, cause) {
		t.Errorf("Error = %q (Is its cause: %t), want %q wrapping it", got, errors.Is(got, cause), "call: refused\n")
	}
	if plain := errors.New("plain"); Error(plain) != plain || Error(nil) != nil {
		t.Error("an error without diagnostics, or nil, is not returned as it is")
	}
}
