package config

import (
	"io"
	"log/slog"
	"strings"

	"github.com/rolecall/rolecall/internal/redact"
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

// RedactAttr is the loggers' slog.HandlerOptions.ReplaceAttr: an error or
// a string logged keeps its text but for an AWS service's signing
// diagnostics (redact.Signing), so that no record carries a session token.
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
	if r := redact.Signing(s); r != s {
		return slog.String(a.Key, r)
	}
	return a
}
