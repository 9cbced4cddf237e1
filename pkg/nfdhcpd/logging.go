package nfdhcpd

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

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
		return slog.New(syslog.NewHandler(w, opts.Level)), w, nil
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
