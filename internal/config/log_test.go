package config

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"
)

func TestLoggerHonoursLambdaLogLevel(t *testing.T) {
	for _, tc := range []struct {
		env         string
		set         bool
		debug, info bool
		warn        bool
	}{
		{env: "", set: false, info: true, warn: true},
		{env: "DEBUG", set: true, debug: true, info: true, warn: true},
		{env: "debug", set: true, debug: true, info: true, warn: true},
		{env: "TRACE", set: true, debug: true, info: true, warn: true},
		{env: "INFO", set: true, info: true, warn: true},
		{env: "WARN", set: true, warn: true},
		{env: "ERROR", set: true},
		{env: "FATAL", set: true},
		{env: "nonsense", set: true, info: true, warn: true},
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
			for lvl, want := range map[slog.Level]bool{slog.LevelDebug: tc.debug, slog.LevelInfo: tc.info, slog.LevelWarn: tc.warn} {
				if got := log.Enabled(ctx, lvl); got != want {
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
