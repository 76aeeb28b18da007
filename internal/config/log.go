package config

import (
	"io"
	"log/slog"
	"regexp"
	"strings"
)

// LambdaLogLevel is the variable Lambda sets from the function's
// LoggingConfig.ApplicationLogLevel when its log format is JSON.
const LambdaLogLevel = "AWS_LAMBDA_LOG_LEVEL"

// Logger is a function's JSON logger, at the level Lambda asks for in
// AWS_LAMBDA_LOG_LEVEL (TRACE, DEBUG, INFO, WARN, ERROR or FATAL; INFO when
// unset or unknown), so that changing ApplicationLogLevel in the template
// changes what the function writes, not only what CloudWatch keeps.
func Logger(w io.Writer, lookup func(string) (string, bool)) *slog.Logger {
	lvl := slog.LevelInfo
	v, _ := lookup(LambdaLogLevel)
	switch strings.ToUpper(strings.TrimSpace(v)) {
	case "TRACE":
		lvl = slog.LevelDebug - 4
	case "DEBUG":
		lvl = slog.LevelDebug
	case "WARN":
		lvl = slog.LevelWarn
	case "ERROR":
		lvl = slog.LevelError
	case "FATAL":
		lvl = slog.LevelError + 4
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: lvl, ReplaceAttr: RedactAttr}))
}

// signingDiagnostics is what an AWS service adds to its refusal of a
// request's signature (InvalidSignatureException, SignatureDoesNotMatch):
// the canonical request and the string to sign it computed, each quoted on
// lines of its own (one whose closing quote is missing goes to the end of
// the text). The SDK puts them in the error's text, and the
// canonical request's signed headers hold the session token.
var signingDiagnostics = regexp.MustCompile(`(?is)\n*The (?:Canonical String for this request|String-to-Sign) should have been\n'(?:.*?'(?:\n|$)|.*$)`)

// RedactAttr is the loggers' slog.HandlerOptions.ReplaceAttr: an error or
// a string logged keeps its text but for an AWS service's signing
// diagnostics, so that no record carries a session token.
func RedactAttr(_ []string, a slog.Attr) slog.Attr {
	var s string
	switch v := a.Value.Resolve(); {
	case v.Kind() == slog.KindString:
		s = v.String()
	case v.Kind() == slog.KindAny:
		err, ok := v.Any().(error)
		if !ok {
			return a
		}
		s = err.Error()
	default:
		return a
	}
	if !strings.Contains(s, "should have been") {
		return a
	}
	return slog.String(a.Key, signingDiagnostics.ReplaceAllString(s, "\n"))
}
