package syslog

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
)

// NewHandler returns a slog.Handler that formats records as text (without
// time and level: syslog stamps the time, and the severity carries the
// level) and writes each to w with the severity of its level.
func NewHandler(w *Writer, level slog.Leveler) slog.Handler {
	h := &handler{mu: &sync.Mutex{}, buf: &bytes.Buffer{}, w: w}
	h.inner = slog.NewTextHandler(h.buf, &slog.HandlerOptions{Level: level,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && (a.Key == slog.TimeKey || a.Key == slog.LevelKey) {
				return slog.Attr{}
			}
			return a
		}})
	return h
}

type handler struct {
	mu    *sync.Mutex
	buf   *bytes.Buffer
	inner slog.Handler
	w     *Writer
}

func (h *handler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.inner.Enabled(ctx, l)
}

func (h *handler) Handle(ctx context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.buf.Reset()
	if err := h.inner.Handle(ctx, r); err != nil {
		return err
	}
	return h.w.Write(SeverityOf(r.Level), string(bytes.TrimRight(h.buf.Bytes(), "\n")))
}

func (h *handler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.inner = h.inner.WithAttrs(as)
	return &c
}

func (h *handler) WithGroup(name string) slog.Handler {
	c := *h
	c.inner = h.inner.WithGroup(name)
	return &c
}
