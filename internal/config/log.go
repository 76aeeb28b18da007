package config

import (
	"io"
	"log/slog"
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
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: lvl}))
}
