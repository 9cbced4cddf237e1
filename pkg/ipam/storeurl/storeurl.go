// Package storeurl opens the IP pool's store from its location: the one way
// every diktyo binary (diktyo-ipam, diktyo-ifup, the hooks) selects and
// opens it.
//
// A location is
//
//	PATH, bolt:PATH                      the bbolt file (the embedded default)
//	etcd://HOST:PORT[,HOST:PORT...]/PREFIX   a pool in etcd (pkg/ipam/etcdstore)
//	etcds://HOST:PORT[,HOST:PORT...]/PREFIX  the same over TLS
//
// etcds:// uses the client certificate, key and CA named in
// /etc/default/diktyo (IPAM_ETCD_CERT, IPAM_ETCD_KEY, IPAM_ETCD_CA; the
// file is $DIKTYO_CONFIG when set). A process that is given no location
// uses Configured: $DIKTYO_IPAM_DB, else IPAM_DB of that file, else
// boltstore.DefaultPath.
//
// # etcd in-process or through diktyo-ipam
//
// This package does not link the etcd client: it costs every process that
// does about 4 ms at start and 10 MB of binary, which diktyo-ifup (a
// process per NIC up and down) must not pay. A caller that links it passes
// etcdstore.OpenConf as Options.Etcd and opens etcd pools in-process
// (diktyo-ipam, the hooks). Without it, an etcd pool opens read-only
// through a child "diktyo-ipam store view" (found next to the running
// program, else on PATH, else in /usr/sbin) that holds one snapshot of the
// pool and answers Get and Scan over a pipe (ServeView); writing needs
// Options.Etcd. The writers of one host queue for an etcd pool on a lock
// file in diktyo's state directory (STATE_DIR, /var/lib/diktyo), next to
// where the bbolt file and its lock live.
//
// It owns the syntax of locations and the child's protocol; pool logic
// stays in pkg/ipam. It must never import the etcd client, netlink,
// nftables or the binaries' packages.
package storeurl

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/diktyo/diktyo/pkg/ifupconf"
	"github.com/diktyo/diktyo/pkg/ipam"
	"github.com/diktyo/diktyo/pkg/ipam/boltstore"
	"github.com/diktyo/diktyo/pkg/ipam/etcdstore/etcdconf"
)

// ErrLocation means a store location does not parse.
var ErrLocation = errors.New("invalid pool location")

// Kind is the kind of store a location names.
type Kind int

// Kinds of store.
const (
	Bolt Kind = iota + 1
	Etcd
)

// Location is a parsed store location.
type Location struct {
	Kind Kind
	// Path is the bbolt file (Bolt).
	Path string
	// Endpoints (HOST:PORT), Prefix and TLS describe an etcd pool.
	// Endpoints is empty for the shorthand etcd:PREFIX, which only
	// Migrate accepts (it borrows the configured store's endpoints).
	Endpoints []string
	Prefix    string
	TLS       bool
}

// Parse parses a store location (see the package documentation); it also
// accepts etcd:PREFIX and etcds:PREFIX, without endpoints.
func Parse(s string) (Location, error) {
	scheme, rest, hasScheme := strings.Cut(s, ":")
	switch {
	case s == "":
		return Location{}, fmt.Errorf("%w: empty", ErrLocation)
	case scheme == "bolt" && hasScheme:
		if rest == "" {
			return Location{}, fmt.Errorf("%w %q: bolt: needs a path", ErrLocation, s)
		}
		return Location{Kind: Bolt, Path: rest}, nil
	case (scheme == "etcd" || scheme == "etcds") && hasScheme:
		return parseEtcd(s, scheme == "etcds", rest)
	case strings.Contains(s, "://"):
		return Location{}, fmt.Errorf("%w %q: want a path, etcd:// or etcds://", ErrLocation, s)
	}
	return Location{Kind: Bolt, Path: s}, nil
}

func parseEtcd(s string, secure bool, rest string) (Location, error) {
	loc := Location{Kind: Etcd, TLS: secure}
	prefix := rest
	if after, ok := strings.CutPrefix(rest, "//"); ok {
		var hosts string
		hosts, prefix, ok = strings.Cut(after, "/")
		if !ok || hosts == "" {
			return Location{}, fmt.Errorf("%w %q: want etcd://HOST:PORT[,HOST:PORT...]/PREFIX", ErrLocation, s)
		}
		for _, h := range strings.Split(hosts, ",") {
			host, port, err := net.SplitHostPort(h)
			if p, perr := strconv.Atoi(port); err != nil || host == "" || perr != nil || p < 1 || p > 65535 {
				return Location{}, fmt.Errorf("%w %q: endpoint %q is not HOST:PORT", ErrLocation, s, h)
			}
			loc.Endpoints = append(loc.Endpoints, h)
		}
	}
	if err := etcdconf.ValidPrefix(prefix); err != nil {
		return Location{}, fmt.Errorf("%w %q: %w", ErrLocation, s, err)
	}
	loc.Prefix = prefix
	return loc, nil
}

// String renders the location as Parse reads it.
func (l Location) String() string {
	switch l.Kind {
	case Bolt:
		return l.Path
	case Etcd:
		if len(l.Endpoints) == 0 {
			scheme := "etcd:"
			if l.TLS {
				scheme = "etcds:"
			}
			return scheme + l.Prefix
		}
		return etcdconf.Name(l.Endpoints, l.Prefix, l.TLS)
	}
	return ""
}

// Options configures Open.
type Options struct {
	// ReadOnly opens the store read-only; a missing pool is then an error
	// wrapping fs.ErrNotExist (no file, or nothing under the prefix).
	ReadOnly bool
	// Timeout bounds the wait for the bbolt lock, or for etcd: the
	// connection, and View and Update whose context has no deadline.
	// Zero means the store's default (10 s).
	Timeout time.Duration
	// TLS is used for etcds:// locations opened in-process; nil means the
	// files named in the configuration file.
	TLS *etcdconf.TLSFiles
	// Etcd opens etcd pools in-process (etcdstore.OpenConf); nil means
	// read-only through a diktyo-ipam child.
	Etcd func(context.Context, etcdconf.Options) (ipam.Store, error)
	// LockDir is where the writers of this host queue for an etcd pool;
	// empty means diktyo's state directory (STATE_DIR of the
	// configuration file, $DIKTYO_STATE_DIR).
	LockDir string
	// Helper is the diktyo-ipam program for the child; empty means
	// HelperPath().
	Helper string
	// Getenv looks up DIKTYO_CONFIG, DIKTYO_IPAM_DB and DIKTYO_STATE_DIR;
	// nil means os.Getenv.
	Getenv func(string) string
	// Logger receives the stores' debug records; nil discards them.
	Logger *slog.Logger
}

func (o Options) getenv(k string) string {
	if o.Getenv == nil {
		return os.Getenv(k)
	}
	return o.Getenv(k)
}

// Open parses loc and opens the store it names. ctx bounds connecting to
// etcd (with Options.Timeout).
func Open(ctx context.Context, loc string, opts Options) (ipam.Store, error) {
	l, err := Parse(loc)
	if err != nil {
		return nil, err
	}
	return l.Open(ctx, opts)
}

// Open opens the store l names.
func (l Location) Open(ctx context.Context, opts Options) (ipam.Store, error) {
	switch {
	case l.Kind == Bolt:
		st, err := boltstore.Open(l.Path, boltstore.Options{ReadOnly: opts.ReadOnly, Timeout: opts.Timeout, Logger: opts.Logger})
		if err != nil {
			return nil, err
		}
		return st, nil
	case l.Kind != Etcd:
		return nil, fmt.Errorf("%w: empty", ErrLocation)
	case len(l.Endpoints) == 0:
		return nil, fmt.Errorf("%w %s: no endpoints: give etcd://HOST:PORT[,HOST:PORT...]/%s", ErrLocation, l, l.Prefix)
	case opts.Etcd != nil:
		eo, err := l.EtcdOptions(opts)
		if err != nil {
			return nil, err
		}
		return opts.Etcd(ctx, eo)
	case opts.ReadOnly:
		return openView(ctx, l, opts)
	}
	return nil, fmt.Errorf("open store %s: %w: this program reads etcd pools only; use diktyo-ipam", l, ipam.ErrReadOnly)
}

// EtcdOptions turns l and opts into what etcdstore.OpenConf takes: the
// host's lock directory and, for etcds://, the TLS files, from the
// configuration file unless opts names them.
func (l Location) EtcdOptions(opts Options) (etcdconf.Options, error) {
	eo := etcdconf.Options{Endpoints: l.Endpoints, Prefix: l.Prefix, ReadOnly: opts.ReadOnly,
		Timeout: opts.Timeout, Logger: opts.Logger, LockDir: opts.LockDir}
	files := opts.TLS
	if eo.LockDir == "" || (l.TLS && files == nil) {
		c, err := config(opts.getenv)
		if err != nil {
			return eo, err
		}
		if eo.LockDir == "" {
			eo.LockDir = c.StateDir
		}
		if files == nil {
			files = &etcdconf.TLSFiles{Cert: c.IPAMEtcdCert, Key: c.IPAMEtcdKey, CA: c.IPAMEtcdCA}
		}
	}
	if !l.TLS {
		return eo, nil
	}
	conf, err := files.Config()
	if err != nil {
		return eo, fmt.Errorf("%s: %w (IPAM_ETCD_CERT, IPAM_ETCD_KEY, IPAM_ETCD_CA in %s)", l, err, configPath(opts.getenv))
	}
	eo.TLS = conf
	return eo, nil
}

// Configured returns the location a process uses when it is given none:
// $DIKTYO_IPAM_DB, else IPAM_DB in the configuration file, else
// boltstore.DefaultPath. getenv nil means os.Getenv.
func Configured(getenv func(string) string) (string, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	if v := getenv("DIKTYO_IPAM_DB"); v != "" {
		return v, nil
	}
	c, err := config(getenv)
	if err != nil {
		return "", err
	}
	return c.IPAMDB, nil
}

// config reads the configuration file, as diktyo-ifup does.
func config(getenv func(string) string) (*ifupconf.Config, error) {
	c, _, err := ifupconf.Load([]string{"DIKTYO_CONFIG=" + getenv("DIKTYO_CONFIG"), "DIKTYO_STATE_DIR=" + getenv("DIKTYO_STATE_DIR")})
	if err != nil {
		return nil, fmt.Errorf("pool configuration: %w", err)
	}
	return c, nil
}

func configPath(getenv func(string) string) string {
	if p := getenv("DIKTYO_CONFIG"); p != "" {
		return p
	}
	return ifupconf.DefaultPath
}
