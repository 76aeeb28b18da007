package main

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// TestServeLogKeepsTheSessionTokenOut: an error serve logs (a DynamoDB
// table or SQS queue of --aws refusing a request's signature, say) keeps
// what went wrong and leaves out the canonical request, whose signed
// headers hold the session token; the level given is kept.
func TestServeLogKeepsTheSessionTokenOut(t *testing.T) {
	refused := errors.New("operation error SQS: SendMessage, https response error StatusCode: 403, InvalidSignatureException: The request signature we calculated does not match the signature you provided.\n\n" +
		"The Canonical String for this request should have been\n'POST\n/\n\nhost:sqs.eu-west-1.amazonaws.com\nx-amz-security-token:IQoJSERVESESSION\n\nhost;x-amz-security-token\nabc'\n")
	var buf bytes.Buffer
	log := serveLogger(&buf, "warn")
	log.Info("not at warn", "error", refused)
	log.Error("enqueue a check", "error", fmt.Errorf("sweep: %w", refused), "detail", refused.Error())
	out := buf.String()
	if strings.Contains(out, "IQoJSERVESESSION") || strings.Contains(out, "Canonical String") {
		t.Errorf("SECURITY: serve's log carries the canonical request with the session token:\n%s", out)
	}
	if !strings.Contains(out, "enqueue a check") || !strings.Contains(out, "InvalidSignatureException") || strings.Contains(out, "not at warn") {
		t.Errorf("serve's log at warn, want the error record alone saying what went wrong:\n%s", out)
	}
}
