package nettest

import (
	"bytes"
	"regexp"
	"sync"
	"testing"
	"time"
)

// LogBuffer collects what a daemon or a goroutine logs while the test
// reads it: safe for concurrent use, and the Writer of a command's Stdout
// and Stderr at once.
type LogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns everything written so far.
func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Wait returns the first match of re (and its submatches) in the log,
// polling for up to timeout; it fails t with the log if there is none.
func (l *LogBuffer) Wait(t testing.TB, re string, timeout time.Duration) []string {
	t.Helper()
	rx := regexp.MustCompile(re)
	for deadline := time.Now().Add(timeout); ; time.Sleep(20 * time.Millisecond) {
		if m := rx.FindStringSubmatch(l.String()); m != nil {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("never logged %q within %v; log:\n%s", re, timeout, l.String())
			return nil
		}
	}
}

// Eventually polls cond every 5 ms until it holds, failing t after
// timeout with what it waited for.
func Eventually(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(timeout); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
	}
}
