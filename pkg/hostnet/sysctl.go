package hostnet

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Sysctl reads and writes /proc/sys keys ("net/ipv4/conf/tap0/proxy_arp").
// Get of a missing key returns an error matching ErrNoSysctl.
type Sysctl interface {
	Get(key string) (string, error)
	Set(key, value string) error
}

// ProcSysctl is Sysctl on the /proc/sys of the calling thread's network
// namespace.
type ProcSysctl struct {
	// Root replaces /proc/sys (tests).
	Root string
}

func (p ProcSysctl) path(key string) (string, error) {
	if err := checkKey(key); err != nil {
		return "", err
	}
	root := p.Root
	if root == "" {
		root = "/proc/sys"
	}
	return filepath.Join(root, key), nil
}

// Get returns the key's value without the trailing newline.
func (p ProcSysctl) Get(key string) (string, error) {
	path, err := p.path(key)
	if err != nil {
		return "", err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", sysctlErr(key, err)
	}
	return strings.TrimRight(string(b), "\n"), nil
}

// Set writes value to the key.
func (p ProcSysctl) Set(key, value string) error {
	path, err := p.path(key)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return sysctlErr(key, err)
	}
	_, err = f.WriteString(value)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sysctl %s=%s: %w", key, value, err)
	}
	return nil
}

func sysctlErr(key string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("sysctl %s: %w", key, ErrNoSysctl)
	}
	return fmt.Errorf("sysctl %s: %w", key, err)
}

// checkKey accepts relative slash-separated keys of device-name-safe
// characters: nothing that could leave /proc/sys.
func checkKey(key string) error {
	if key == "" || strings.HasPrefix(key, "/") {
		return fmt.Errorf("sysctl %q: %w: not a relative key", key, ErrInvalid)
	}
	for _, part := range strings.Split(key, "/") {
		if part == "" || part == "." || part == ".." {
			return fmt.Errorf("sysctl %q: %w: bad path element", key, ErrInvalid)
		}
	}
	for _, c := range key {
		if c <= ' ' || c == 0x7f {
			return fmt.Errorf("sysctl %q: %w: control or space character", key, ErrInvalid)
		}
	}
	return nil
}

// NetNSSysctl is Sysctl inside the namespace of NS: /proc/sys/net shows
// the network namespace of the thread that opens the file.
type NetNSSysctl struct {
	NS *NetNS
}

// Get reads key from the namespace's thread.
func (s NetNSSysctl) Get(key string) (string, error) {
	var v string
	var err error
	// v and err are read only when Run returned after fn did.
	rerr := s.NS.Run(func() error {
		v, err = ProcSysctl{}.Get(key)
		return nil
	})
	if rerr != nil {
		return "", fmt.Errorf("sysctl %s: %w", key, rerr)
	}
	return v, err
}

// Set writes key from the namespace's thread.
func (s NetNSSysctl) Set(key, value string) error {
	var err error
	rerr := s.NS.Run(func() error {
		err = ProcSysctl{}.Set(key, value)
		return nil
	})
	if rerr != nil {
		return fmt.Errorf("sysctl %s: %w", key, rerr)
	}
	return err
}

// sameValue compares sysctl values as the kernel prints them (fields
// separated by tabs or spaces).
func sameValue(a, b string) bool {
	return strings.Join(strings.Fields(a), " ") == strings.Join(strings.Fields(b), " ")
}
