package hook

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/diktyo/diktyo/pkg/syslog"
)

// Name is the command's name in messages and syslog.
const Name = "diktyo-hook"

// DefaultSyslog is the local syslog socket.
const DefaultSyslog = syslog.DefaultPath

// syslogTimeout bounds the connect and every write to syslog: a hook must
// never hang Ganeti on a stuck logger.
const syslogTimeout = time.Second

// NewLogger returns the logger of a hook run and its closer. Every record
// is one line on w (Ganeti keeps a hook's output in the job log), e.g.
//
//	diktyo-hook: pool: claimed 198.18.100.2 in net2 instance=kvm2.ganeti.test
//	diktyo-hook: error: instance-add pre: refused: kvm2 NIC 0: 198.18.100.2 in net2 is held by vm9:1
//
// and the same line goes to syslog (facility daemon, tag diktyo-hook)
// through the unix datagram socket syslogPath ("" for none), when it
// takes it. Debug records are kept only with debug.
func NewLogger(w io.Writer, syslogPath string, debug bool) (*slog.Logger, func()) {
	h := &lineHandler{out: &lineOut{w: w}, level: slog.LevelInfo}
	if debug {
		h.level = slog.LevelDebug
	}
	if syslogPath != "" {
		if sw, err := syslog.Dial(syslogPath, Name, syslogTimeout); err == nil {
			h.out.sys = sw
		}
	}
	return slog.New(h), func() {
		if h.out.sys != nil {
			h.out.sys.Close()
		}
	}
}

// lineOut is where a lineHandler and its derivatives write.
type lineOut struct {
	mu  sync.Mutex
	w   io.Writer
	sys *syslog.Writer
}

type lineHandler struct {
	out   *lineOut
	level slog.Level
	attrs []slog.Attr
}

func (h *lineHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }

func (h *lineHandler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append(h.attrs[:len(h.attrs):len(h.attrs)], as...)
	return &c
}

func (h *lineHandler) WithGroup(string) slog.Handler { return h }

func (h *lineHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	switch {
	case r.Level >= slog.LevelError:
		b.WriteString("error: ")
	case r.Level >= slog.LevelWarn:
		b.WriteString("warning: ")
	case r.Level < slog.LevelInfo:
		b.WriteString("debug: ")
	}
	b.WriteString(oneLine(r.Message))
	attr := func(a slog.Attr) bool {
		v := a.Value.Resolve().String()
		if v == "" {
			return true
		}
		b.WriteString(" " + a.Key + "=")
		if strings.ContainsAny(v, " \t\n\"=") {
			v = strconv.Quote(v)
		}
		b.WriteString(v)
		return true
	}
	for _, a := range h.attrs {
		attr(a)
	}
	r.Attrs(attr)
	line := b.String()
	h.out.mu.Lock()
	defer h.out.mu.Unlock()
	_, err := fmt.Fprintf(h.out.w, "%s: %s\n", Name, line)
	if h.out.sys != nil {
		_ = h.out.sys.Write(syslog.SeverityOf(r.Level), line)
	}
	return err
}

// oneLine folds a message onto one line, as Ganeti's job log wants.
func oneLine(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' }), "; ")
}
