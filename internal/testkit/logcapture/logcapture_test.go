package logcapture_test

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/slogtest"

	"github.com/rolecall/rolecall/internal/testkit/logcapture"
)

func TestHandlerRecordsAndForwards(t *testing.T) {
	var out bytes.Buffer
	h := logcapture.New(slog.NewJSONHandler(&out, &slog.HandlerOptions{Level: slog.LevelInfo}))
	log := slog.New(h).With("tenant", "acme").WithGroup("req")
	log.Info("checked", "account", "123456789012", slog.Group("sts", "region", "eu-west-1"))
	log.Info("checked", "account", "210987654321")
	log.Debug("checked") // below the forwarded handler's level: neither recorded nor written
	log.Warn("dropped")

	tests := []struct {
		msg  string
		want int
	}{{"checked", 2}, {"dropped", 1}, {"absent", 0}}
	for _, tt := range tests {
		if n := h.Count(tt.msg); n != tt.want {
			t.Errorf("Count(%q) = %d, want %d", tt.msg, n, tt.want)
		}
	}
	r := h.Records()[0]
	if r.Level != slog.LevelInfo || r.Attrs["tenant"].String() != "acme" || r.Attrs["req.account"].String() != "123456789012" ||
		r.Attrs["req.sts.region"].String() != "eu-west-1" {
		t.Errorf("first record %+v", r)
	}
	if n := strings.Count(out.String(), "\n"); n != 3 || !strings.Contains(out.String(), `"req":{"account":"123456789012"`) {
		t.Errorf("forwarded output (%d lines):\n%s", n, out.String())
	}
}

func TestHandlerWithoutNextRecordsEveryLevel(t *testing.T) {
	h := logcapture.New(nil)
	log := slog.New(h)
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() { log.Debug("tick") })
	}
	wg.Wait()
	if n := h.Count("tick"); n != 50 {
		t.Errorf("Count = %d, want 50 (concurrent debug records)", n)
	}
}

// The standard library's conformance suite for slog handlers, over the
// records this handler keeps.
func TestSlogConformance(t *testing.T) {
	var h *logcapture.Handler
	slogtest.Run(t, func(*testing.T) slog.Handler {
		h = logcapture.New(nil)
		return h
	}, func(t *testing.T) map[string]any {
		rs := h.Records()
		if len(rs) != 1 {
			t.Fatalf("%d records, want 1", len(rs))
		}
		m := map[string]any{slog.LevelKey: rs[0].Level, slog.MessageKey: rs[0].Message}
		if !rs[0].Time.IsZero() {
			m[slog.TimeKey] = rs[0].Time
		}
		for k, v := range rs[0].Attrs {
			cur := m
			parts := strings.Split(k, ".")
			for _, p := range parts[:len(parts)-1] {
				next, ok := cur[p].(map[string]any)
				if !ok {
					next = map[string]any{}
					cur[p] = next
				}
				cur = next
			}
			cur[parts[len(parts)-1]] = v.Any()
		}
		return m
	})
}
