package nettest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// CommandTimeout bounds every command a helper runs with Run.
const CommandTimeout = 2 * time.Minute

// requiredTools are the commands every helper may run.
var requiredTools = []string{"ip", "iptables", "ip6tables"}

// RequireRoot skips t when not running as root, with the reason. When root,
// a missing command in tools (or in the basic set: ip, iptables, ip6tables)
// fails the test: CI runs as root with every Debian package installed, so a
// skip there would hide a broken setup.
func RequireRoot(t testing.TB, tools ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces, links and netfilter rules")
	}
	for _, c := range append(requiredTools[:len(requiredTools):len(requiredTools)], tools...) {
		if _, err := exec.LookPath(c); err != nil {
			t.Fatalf("needs %s (make deps installs it): %v", c, err)
		}
	}
}

// UniqueName returns prefix followed by random hex digits, at most max
// bytes long (at least 4 random digits; interface names allow 15 bytes).
func UniqueName(prefix string, max int) string {
	n := max - len(prefix)
	if n < 4 {
		n = 4
	}
	var r [16]byte
	_, _ = rand.Read(r[:])
	return prefix + hex.EncodeToString(r[:])[:min(n, 32)]
}

// NS is a throwaway named network namespace (/run/netns/NAME, as made by
// `ip netns add`), with lo up and an empty /etc/netns/NAME/resolv.conf.
type NS struct {
	name string
	fd   int
}

// NewNS creates a namespace named prefix plus random hex digits and
// registers its removal. prefix should be short (names up to 15 bytes).
func NewNS(t testing.TB, prefix string) *NS {
	t.Helper()
	RequireRoot(t)
	name := UniqueName(prefix, 15)
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", name, err, out)
	}
	ns := &NS{name: name, fd: -1}
	t.Cleanup(func() {
		if ns.fd >= 0 {
			_ = unix.Close(ns.fd)
		}
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Logf("ip netns del %s: %v: %s", name, err, out)
		}
		_ = os.RemoveAll(filepath.Join("/etc/netns", name))
	})
	fd, err := unix.Open(ns.Path(), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("open netns %s: %v", name, err)
	}
	ns.fd = fd
	// Clients run by `ip netns exec` then see this file bind-mounted over
	// /etc/resolv.conf, so nothing they do reaches the machine's file.
	dir := filepath.Join("/etc/netns", name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("netns %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "resolv.conf"), []byte("# nettest "+name+"\n"), 0o644); err != nil {
		t.Fatalf("netns %s: %v", name, err)
	}
	ns.Run(t, "ip", "link", "set", "lo", "up")
	return ns
}

// Name is the namespace's name, as `ip netns` knows it.
func (ns *NS) Name() string { return ns.name }

// Path is the namespace's bind mount, /run/netns/NAME.
func (ns *NS) Path() string { return filepath.Join("/run/netns", ns.name) }

// Fd is an open descriptor of the namespace, valid until cleanup.
func (ns *NS) Fd() int { return ns.fd }

// String returns the name.
func (ns *NS) String() string { return ns.name }

// Exec returns a command that runs args inside the namespace with
// `ip netns exec` (which also bind-mounts /etc/netns/NAME/resolv.conf).
func (ns *NS) Exec(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns.name}, args...)...)
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// Output runs args inside the namespace with a CommandTimeout and returns
// the combined output; the error names the command and includes the output.
func (ns *NS) Output(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), CommandTimeout)
	defer cancel()
	out, err := ns.Exec(ctx, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("netns %s: %s: %w: %s", ns.name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// Run runs args inside the namespace and fails the test if it fails.
func (ns *NS) Run(t testing.TB, args ...string) string {
	t.Helper()
	out, err := ns.Output(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// ErrThreadLost is wrapped by Do when the thread could not return to its
// original namespace; the thread is then discarded.
var ErrThreadLost = errors.New("could not restore the thread's network namespace")

// Do runs fn on a locked OS thread inside the namespace, then moves the
// thread back (or discards it if that fails). Sockets fn opens stay in the
// namespace. fn runs on another goroutine: it must not call t.FailNow.
func (ns *NS) Do(fn func() error) error {
	ch := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			ch <- fmt.Errorf("netns %s: open own netns: %w", ns.name, err)
			return
		}
		defer unix.Close(orig)
		if err := unix.Setns(ns.fd, unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			ch <- fmt.Errorf("netns %s: setns: %w", ns.name, err)
			return
		}
		ferr := fn()
		if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
			// Stay locked: the thread exits with this goroutine.
			ch <- errors.Join(ferr, fmt.Errorf("netns %s: %w: %w", ns.name, ErrThreadLost, err))
			return
		}
		runtime.UnlockOSThread()
		ch <- ferr
	}()
	return <-ch
}

// Sysctl writes value to /proc/sys/KEY inside the namespace (KEY with
// slashes or dots, e.g. "net/ipv6/conf/eth0/accept_ra").
func (ns *NS) Sysctl(t testing.TB, key, value string) {
	t.Helper()
	if err := ns.Do(func() error {
		return os.WriteFile(sysctlPath(key), []byte(value), 0o644)
	}); err != nil {
		t.Fatalf("netns %s: sysctl %s=%s: %v", ns.name, key, value, err)
	}
}

// ReadSysctl reads /proc/sys/KEY inside the namespace.
func (ns *NS) ReadSysctl(key string) (string, error) {
	var v string
	err := ns.Do(func() error {
		b, err := os.ReadFile(sysctlPath(key))
		v = strings.TrimSpace(string(b))
		return err
	})
	if err != nil {
		return "", fmt.Errorf("netns %s: %w", ns.name, err)
	}
	return v, nil
}

// sysctlPath maps a key to its /proc/sys path. Dots become slashes except
// in interface names, which may not be given with dots.
func sysctlPath(key string) string {
	if !strings.Contains(key, "/") {
		key = strings.ReplaceAll(key, ".", "/")
	}
	return filepath.Join("/proc/sys", key)
}

// DaemonDir returns a new directory, removed at cleanup, holding an empty
// "bindings" directory, both readable by every user: a daemon under test
// that drops root (to nobody) still reads its files there, which it
// cannot under t.TempDir (whose parent is private to root).
func DaemonDir(t testing.TB, prefix string) (root, bindings string) {
	t.Helper()
	root, err := os.MkdirTemp("", prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(root) })
	bindings = filepath.Join(root, "bindings")
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(bindings, 0o755); err != nil {
		t.Fatal(err)
	}
	return root, bindings
}

// Snapshot runs args inside the namespace like Run, for commands that
// print its state (ip link show, ...): while the output carries ip's
// "netns reference is invalid" it runs them again, for a second at most.
// ip names a veth peer's namespace from /run/netns, where other tests
// add and remove theirs, and may fail at that for a moment.
func (ns *NS) Snapshot(t testing.TB, args ...string) string {
	t.Helper()
	for range 50 {
		out := ns.Run(t, args...)
		if !strings.Contains(out, "netns reference is invalid") {
			return out
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("netns %s: %s: ip keeps failing on /run/netns", ns.name, strings.Join(args, " "))
	return ""
}
