package main

import (
	"errors"
	"fmt"
	"testing"
)

// An error main prints (serve failing to start on a DynamoDB table whose
// service refused the signature, say) keeps what went wrong and leaves out
// the canonical request, whose signed headers hold the session token.
func TestFailureLeavesOutTheSigningDiagnostics(t *testing.T) {
	refused := errors.New("InvalidSignatureException: The request signature we calculated does not match the signature you provided.\n\n" +
		"The Canonical String for this request should have been\n'POST\n/\n\nx-amz-security-token:IQoJSESSION\n'\n")
	tests := []struct {
		err  error
		want string
	}{
		{fmt.Errorf("open the DynamoDB table: %w", refused), "rolecall: open the DynamoDB table: InvalidSignatureException: The request signature we calculated does not match the signature you provided."},
		{errors.New("listen tcp 127.0.0.1:8080: address already in use"), "rolecall: listen tcp 127.0.0.1:8080: address already in use"},
	}
	for _, tt := range tests {
		if got := failure(tt.err); got != tt.want {
			t.Errorf("failure(%q) = %q, want %q", tt.err, got, tt.want)
		}
	}
}
