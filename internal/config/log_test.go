package config

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"
)

// TestLoggerHonoursLambdaLogLevel: AWS_LAMBDA_LOG_LEVEL sets the lowest
// level logged (INFO when it is unset or unknown); errors are logged, as
// JSON, whatever it says.
func TestLoggerHonoursLambdaLogLevel(t *testing.T) {
	for _, tc := range []struct {
		env    string
		set    bool
		lowest slog.Level // the lowest level enabled
	}{
		{"", false, slog.LevelInfo},
		{"DEBUG", true, slog.LevelDebug},
		{"debug", true, slog.LevelDebug},
		{"TRACE", true, slog.LevelDebug},
		{"INFO", true, slog.LevelInfo},
		{"WARN", true, slog.LevelWarn},
		{"ERROR", true, slog.LevelError},
		{"FATAL", true, slog.LevelError},
		{"nonsense", true, slog.LevelInfo},
	} {
		t.Run(tc.env, func(t *testing.T) {
			var buf bytes.Buffer
			log := Logger(&buf, func(k string) (string, bool) {
				if k == LambdaLogLevel {
					return tc.env, tc.set
				}
				return "", false
			})
			ctx := context.Background()
			for _, lvl := range []slog.Level{slog.LevelDebug, slog.LevelInfo, slog.LevelWarn} {
				if got, want := log.Enabled(ctx, lvl), lvl >= tc.lowest; got != want {
					t.Errorf("level %s enabled = %v, want %v", lvl, got, want)
				}
			}
			log.Log(ctx, slog.LevelError+8, "boom", "k", "v")
			var rec map[string]any
			if err := json.Unmarshal(buf.Bytes(), &rec); err != nil || rec["msg"] != "boom" {
				t.Errorf("error line %q is not JSON with msg boom (%v)", buf.String(), err)
			}
		})
	}
}
