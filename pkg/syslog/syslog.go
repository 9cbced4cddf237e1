// Package syslog is diktyo's one syslog client: it writes RFC 3164 lines
// (as syslog(3) does, facility daemon) to the local syslog datagram
// socket, with a deadline on the connect and on every write, so that a
// stuck syslog daemon can never hang a Ganeti hook, diktyo-ifup's
// announcer or nfdhcpd (the standard log/syslog has no deadline). A write
// that fails reconnects once, so a long-lived daemon survives a restart of
// the syslog daemon.
package syslog

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"
)

// DefaultPath is the local syslog socket.
const DefaultPath = "/dev/log"

// DefaultTimeout bounds the connect and each write by default.
const DefaultTimeout = time.Second

// facilityDaemon is syslog's daemon facility (3), shifted into a priority.
const facilityDaemon = 3 << 3

// Severity is a syslog severity (RFC 5424 6.2.1).
type Severity int

// The severities diktyo logs at.
const (
	Err     Severity = 3
	Warning Severity = 4
	Info    Severity = 6
	Debug   Severity = 7
)

// SeverityOf maps a slog level to the severity syslog(3) users would pick.
func SeverityOf(l slog.Level) Severity {
	switch {
	case l >= slog.LevelError:
		return Err
	case l >= slog.LevelWarn:
		return Warning
	case l >= slog.LevelInfo:
		return Info
	}
	return Debug
}

// Writer sends lines to a syslog socket. It is safe for concurrent use.
type Writer struct {
	path    string
	tag     string
	timeout time.Duration

	mu sync.Mutex
	c  net.Conn // nil after a failed reconnect
}

// Dial connects to the syslog datagram socket at path (DefaultPath if
// empty); tag names the program in every line; timeout (DefaultTimeout if
// not positive) bounds the connect and each write.
func Dial(path, tag string, timeout time.Duration) (*Writer, error) {
	if path == "" {
		path = DefaultPath
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	c, err := net.DialTimeout("unixgram", path, timeout)
	if err != nil {
		return nil, fmt.Errorf("syslog %s: %w", path, err)
	}
	return &Writer{path: path, tag: tag, timeout: timeout, c: c}, nil
}

// Write sends msg at severity sev, facility daemon. On failure it
// reconnects once and sends again.
func (w *Writer) Write(sev Severity, msg string) error {
	line := fmt.Sprintf("<%d>%s %s[%d]: %s", facilityDaemon|int(sev), time.Now().Format(time.Stamp), w.tag, os.Getpid(), msg)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.c != nil {
		if err := w.send(line); err == nil {
			return nil
		}
		w.c.Close()
		w.c = nil
	}
	c, err := net.DialTimeout("unixgram", w.path, w.timeout)
	if err != nil {
		return fmt.Errorf("syslog %s: %w", w.path, err)
	}
	w.c = c
	if err := w.send(line); err != nil {
		return fmt.Errorf("syslog %s: %w", w.path, err)
	}
	return nil
}

func (w *Writer) send(line string) error {
	if err := w.c.SetWriteDeadline(time.Now().Add(w.timeout)); err != nil {
		return err
	}
	_, err := w.c.Write([]byte(line))
	return err
}

// Close closes the connection.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.c == nil {
		return nil
	}
	err := w.c.Close()
	w.c = nil
	return err
}
