// Package redact removes from error texts what AWS services echo of a
// request that must not reach a log or a terminal.
package redact

import (
	"regexp"
	"strings"
)

// signingDiagnostics is what an AWS service adds to its refusal of a
// request's signature (InvalidSignatureException, SignatureDoesNotMatch):
// the canonical request and the string to sign it computed, each quoted on
// lines of its own (one whose closing quote is missing goes to the end of
// the text). The SDK puts them in the error's text, and the canonical
// request's signed headers hold the session token.
var signingDiagnostics = regexp.MustCompile(`(?is)\n*The (?:Canonical String for this request|String-to-Sign) should have been\n'(?:.*?'(?:\n|$)|.*$)`)

// Signing returns s without an AWS service's signing diagnostics, keeping
// the rest of it (what went wrong, and what follows, such as the next
// error of a joined list).
func Signing(s string) string {
	if !strings.Contains(strings.ToLower(s), "should have been") {
		return s
	}
	return signingDiagnostics.ReplaceAllString(s, "\n")
}

// Error returns err with its text as Signing leaves it, for an error that
// is printed outside the redacting loggers (a Lambda handler's, which the
// runtime library writes to the function's log and X-Ray); errors.Is and
// errors.As still see err. It returns err itself when nothing is left out.
func Error(err error) error {
	if err == nil {
		return nil
	}
	if s := Signing(err.Error()); s != err.Error() {
		return &redacted{text: s, err: err}
	}
	return err
}

type redacted struct {
	text string
	err  error
}

func (r *redacted) Error() string { return r.text }
func (r *redacted) Unwrap() error { return r.err }
