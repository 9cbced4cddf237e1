// Package etcdconf describes an etcd pool without talking to etcd: the
// syntax of its key prefix, its name as a URL and its TLS files. It is the
// small part of pkg/ipam/etcdstore that pkg/ipam/storeurl needs, so that
// binaries which never open etcd themselves (diktyo-ifup) do not link the
// etcd client.
//
// It is a leaf: it must never import the etcd client, bbolt or pkg/ipam.
package etcdconf

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"
)

// ErrPrefix means a key prefix is not valid.
var ErrPrefix = errors.New("invalid etcd key prefix")

// ValidPrefix checks a key prefix: one or more '/'-separated segments of
// ASCII letters, digits, '.', '_' and '-', none of them "." or "..", and
// at most 200 bytes.
func ValidPrefix(p string) error {
	if p == "" || len(p) > 200 {
		return fmt.Errorf("%w %q: want 1 to 200 bytes", ErrPrefix, p)
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("%w %q: empty, \".\" or \"..\" segment", ErrPrefix, p)
		}
		for _, c := range []byte(seg) {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
				return fmt.Errorf("%w %q: only letters, digits, '.', '_', '-' and '/' between segments", ErrPrefix, p)
			}
		}
	}
	return nil
}

// Name renders a pool's location as an etcd:// (or etcds://) URL.
func Name(endpoints []string, prefix string, secure bool) string {
	scheme := "etcd"
	if secure {
		scheme = "etcds"
	}
	return scheme + "://" + strings.Join(endpoints, ",") + "/" + prefix
}

// Options is what opening an etcd pool takes, short of an etcd client.
type Options struct {
	// Endpoints are the members' client addresses, HOST:PORT.
	Endpoints []string
	// Prefix names the pool (ValidPrefix).
	Prefix string
	// TLS, when set, is used to talk to etcd (etcds:// URLs).
	TLS *tls.Config
	// ReadOnly refuses writes; opening a prefix that holds no pool is
	// then an error wrapping fs.ErrNotExist.
	ReadOnly bool
	// Timeout bounds connecting, and each transaction whose context has
	// no deadline (zero: the store's default).
	Timeout time.Duration
	// Logger receives debug records; nil discards them.
	Logger *slog.Logger
	// LockDir holds the host's lock files through which the writers of
	// one host queue (diktyo's state directory), or "" for none.
	LockDir string
}

// TLSFiles names the PEM files of an etcds:// connection.
type TLSFiles struct {
	// Cert and Key are the client certificate and its key (etcd members
	// usually require one: --client-cert-auth).
	Cert, Key string
	// CA is the certificate of the CA that signed the members'
	// certificates; empty means the system's roots.
	CA string
}

// Config loads the files into a TLS configuration. Cert and Key go
// together: one without the other is an error.
func (f TLSFiles) Config() (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	switch {
	case f.Cert != "" && f.Key != "":
		pair, err := tls.LoadX509KeyPair(f.Cert, f.Key)
		if err != nil {
			return nil, fmt.Errorf("etcd client certificate %s, key %s: %w", f.Cert, f.Key, err)
		}
		c.Certificates = []tls.Certificate{pair}
	case f.Cert != "" || f.Key != "":
		return nil, fmt.Errorf("etcd client certificate %q and key %q: give both or neither", f.Cert, f.Key)
	}
	if f.CA != "" {
		pem, err := os.ReadFile(f.CA)
		if err != nil {
			return nil, fmt.Errorf("etcd CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("etcd CA %s: no PEM certificate in it", f.CA)
		}
		c.RootCAs = pool
	}
	return c, nil
}
