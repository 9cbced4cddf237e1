package hook

import (
	"bytes"
	"net"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// One line per record on stderr and the same line to syslog, with the
// record's severity (facility daemon).
func TestLogger(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "log")
	l, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var stderr bytes.Buffer
	log, closeLog := NewLogger(&stderr, sock, false)
	log.Info("pool: claimed 198.18.100.2 in net2", "instance", "kvm2", "empty", "")
	log.Warn("two\nlines", "taps", "tap0,tap1", "quoted", "a b")
	log.Error("instance-add pre: refused")
	log.Debug("not shown")
	closeLog()
	want := "diktyo-hook: pool: claimed 198.18.100.2 in net2 instance=kvm2\n" +
		"diktyo-hook: warning: two; lines taps=tap0,tap1 quoted=\"a b\"\n" +
		"diktyo-hook: error: instance-add pre: refused\n"
	if stderr.String() != want {
		t.Errorf("stderr:\n%s\nwant:\n%s", stderr.String(), want)
	}
	lines := strings.Split(strings.TrimSuffix(want, "\n"), "\n")
	for i, pri := range []string{"<30>", "<28>", "<27>"} {
		buf := make([]byte, 1024)
		_ = l.SetReadDeadline(time.Now().Add(time.Second))
		n, err := l.Read(buf)
		if err != nil {
			t.Fatalf("syslog message %d: %v", i, err)
		}
		msg := string(buf[:n])
		re := regexp.MustCompile(`^` + regexp.QuoteMeta(pri) + `[A-Z][a-z]{2} [ 0-9]\d \d\d:\d\d:\d\d diktyo-hook\[\d+\]: ` +
			regexp.QuoteMeta(strings.TrimPrefix(lines[i], "diktyo-hook: ")) + `$`)
		if !re.MatchString(msg) {
			t.Errorf("syslog message %d: %q", i, msg)
		}
	}
	// No syslog: stderr alone.
	stderr.Reset()
	log, closeLog = NewLogger(&stderr, filepath.Join(t.TempDir(), "none"), false)
	log.Info("x")
	closeLog()
	if stderr.String() != "diktyo-hook: x\n" {
		t.Errorf("without syslog: %q", stderr.String())
	}
}
