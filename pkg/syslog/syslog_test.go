package syslog

import (
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// listen is a syslog daemon on a datagram socket in a temporary directory.
func listen(t *testing.T, path string) *net.UnixConn {
	t.Helper()
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func read(t *testing.T, c *net.UnixConn) string {
	t.Helper()
	buf := make([]byte, 4096)
	if err := c.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	n, err := c.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	return string(buf[:n])
}

// listenDial is a syslog daemon and a Writer connected to it.
func listenDial(t *testing.T) (*net.UnixConn, *Writer) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "log")
	srv := listen(t, path)
	w, err := Dial(path, "diktyo-test", 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return srv, w
}

func TestWrite(t *testing.T) {
	srv, w := listenDial(t)
	for _, tc := range []struct {
		sev  Severity
		pri  string
		text string
	}{{Err, "27", "broken"}, {Warning, "28", "odd"}, {Info, "30", "fine"}, {Debug, "31", "detail"}} {
		if err := w.Write(tc.sev, tc.text); err != nil {
			t.Fatal(err)
		}
		want := regexp.MustCompile(`^<` + tc.pri + `>[A-Z][a-z]{2} [ 0-9]\d \d\d:\d\d:\d\d diktyo-test\[` + strconv.Itoa(os.Getpid()) + `\]: ` + tc.text + `$`)
		if got := read(t, srv); !want.MatchString(got) {
			t.Errorf("got %q, want %v", got, want)
		}
	}
}

// TestReconnect: a restarted syslog daemon gets the next line.
func TestReconnect(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	srv := listen(t, path)
	w, err := Dial(path, "t", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	srv.Close()
	os.Remove(path)
	srv = listen(t, path)
	if err := w.Write(Info, "after restart"); err != nil {
		t.Fatal(err)
	}
	if got := read(t, srv); !regexp.MustCompile(`: after restart$`).MatchString(got) {
		t.Errorf("got %q", got)
	}
}

// TestDeadline: a syslog daemon that stops reading makes writes fail after
// the timeout instead of blocking.
func TestDeadline(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	_ = listen(t, path) // never read
	w, err := Dial(path, "t", 20*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	start := time.Now()
	var werr error
	for i := 0; i < 100000 && werr == nil; i++ {
		werr = w.Write(Info, "filler filler filler filler filler filler filler filler")
	}
	if werr == nil {
		t.Fatal("100000 writes to a socket nobody reads all succeeded")
	}
	if !errors.Is(werr, os.ErrDeadlineExceeded) {
		t.Errorf("err = %v, want a deadline error", werr)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %v", d)
	}
}

func TestDialMissing(t *testing.T) {
	if _, err := Dial(filepath.Join(t.TempDir(), "none"), "t", 0); err == nil {
		t.Error("Dial of a missing socket succeeded")
	}
}

func TestSeverityOf(t *testing.T) {
	for l, want := range map[slog.Level]Severity{slog.LevelError: Err, slog.LevelError + 4: Err, slog.LevelWarn: Warning,
		slog.LevelInfo: Info, slog.LevelInfo + 1: Info, slog.LevelDebug: Debug, slog.LevelDebug - 4: Debug} {
		if got := SeverityOf(l); got != want {
			t.Errorf("SeverityOf(%v) = %d, want %d", l, got, want)
		}
	}
}

// TestHandler: records below the level are dropped, others become one line
// each with their level's severity, without time and level attributes.
func TestHandler(t *testing.T) {
	srv, w := listenDial(t)
	log := slog.New(NewHandler(w, slog.LevelInfo)).With("tap", "tap0")
	log.Debug("hidden")
	log.Warn("removed state", "instance", "vm1")
	want := regexp.MustCompile(`^<28>.* diktyo-test\[\d+\]: msg="removed state" tap=tap0 instance=vm1$`)
	if got := read(t, srv); !want.MatchString(got) {
		t.Errorf("got %q, want %v", got, want)
	}
	log.WithGroup("g").Info("x", "k", 1)
	if got := read(t, srv); !regexp.MustCompile(`^<30>.*: msg=x tap=tap0 g.k=1$`).MatchString(got) {
		t.Errorf("group: got %q", got)
	}
}
