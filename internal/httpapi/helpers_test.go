package httpapi

import (
	"io"
	"log/slog"
)

func discardLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

func newTextLog(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
