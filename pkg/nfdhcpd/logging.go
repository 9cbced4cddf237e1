package nfdhcpd

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/diktyo/diktyo/pkg/syslog"
)

// newStderrLogger logs text lines to w (foreground mode).
func newStderrLogger(w io.Writer, debug bool) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level(debug)}))
}

func level(debug bool) slog.Level {
	if debug {
		return slog.LevelDebug
	}
	return slog.LevelInfo
}

// newDaemonLogger logs to syslog (facility daemon, tag nfdhcpd), or when
// there is no syslog to logdir/nfdhcpd.log. The returned closer closes the
// destination.
func newDaemonLogger(logDir string, debug bool) (*slog.Logger, io.Closer, error) {
	opts := &slog.HandlerOptions{Level: level(debug)}
	if w, err := syslog.Dial(syslog.DefaultPath, "nfdhcpd", 0); err == nil {
		h := &syslogHandler{mu: &sync.Mutex{}, buf: &bytes.Buffer{}, w: w}
		// syslog stamps the time itself.
		h.inner = slog.NewTextHandler(h.buf, &slog.HandlerOptions{Level: opts.Level,
			ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
				if len(groups) == 0 && (a.Key == slog.TimeKey || a.Key == slog.LevelKey) {
					return slog.Attr{}
				}
				return a
			}})
		return slog.New(h), w, nil
	}
	if err := os.MkdirAll(logDir, 0o750); err != nil {
		return nil, nil, fmt.Errorf("no syslog, and log directory %s: %w", logDir, err)
	}
	path := filepath.Join(logDir, "nfdhcpd.log")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, nil, fmt.Errorf("no syslog, and log file: %w", err)
	}
	return slog.New(slog.NewTextHandler(f, opts)), f, nil
}

// syslogHandler formats records as text and writes each with the syslog
// severity of its level (pkg/syslog bounds every write).
type syslogHandler struct {
	mu    *sync.Mutex
	buf   *bytes.Buffer
	inner slog.Handler
	w     *syslog.Writer
}

func (h *syslogHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.inner.Enabled(ctx, l)
}

func (h *syslogHandler) Handle(ctx context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.buf.Reset()
	if err := h.inner.Handle(ctx, r); err != nil {
		return err
	}
	return h.w.Write(syslog.SeverityOf(r.Level), string(bytes.TrimRight(h.buf.Bytes(), "\n")))
}

func (h *syslogHandler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.inner = h.inner.WithAttrs(as)
	return &c
}

func (h *syslogHandler) WithGroup(name string) slog.Handler {
	c := *h
	c.inner = h.inner.WithGroup(name)
	return &c
}
