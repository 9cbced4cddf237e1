package hook

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"

	"github.com/diktyo/diktyo/pkg/announce"
	"github.com/diktyo/diktyo/pkg/ganetisync"
	"github.com/diktyo/diktyo/pkg/ifup"
	"github.com/diktyo/diktyo/pkg/ifupconf"
	"github.com/diktyo/diktyo/pkg/ipam"
	"github.com/diktyo/diktyo/pkg/ipam/boltstore"
	"github.com/diktyo/diktyo/pkg/ipam/etcdstore"
	"github.com/diktyo/diktyo/pkg/ipam/etcdstore/etcdconf"
	"github.com/diktyo/diktyo/pkg/ipam/storeurl"
)

// StoreTimeout bounds the wait for the pool store: a bbolt file's lock,
// an etcd pool's quorum.
const StoreTimeout = boltstore.DefaultTimeout

// OpenStore opens the pool store at loc (a bbolt path or an etcd URL,
// pkg/ipam/storeurl) for one run of a hook, waiting at most StoreTimeout.
// With create false a missing bbolt file is ErrNoPool (nothing of
// Ganeti's is diktyo's yet). The host's lock directory and the etcd TLS
// files come from cfg. It is the hooks' only way to the store.
func OpenStore(cfg *ifupconf.Config, loc string, create bool) (ipam.Store, error) {
	l, err := storeurl.Parse(loc)
	if err != nil {
		return nil, err
	}
	if l.Kind == storeurl.Bolt && !create {
		if _, err := os.Stat(l.Path); errors.Is(err, fs.ErrNotExist) {
			return nil, ErrNoPool
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), StoreTimeout)
	defer cancel()
	st, err := l.Open(ctx, storeurl.Options{Timeout: StoreTimeout, Etcd: etcdstore.OpenConf, LockDir: cfg.StateDir,
		TLS: &etcdconf.TLSFiles{Cert: cfg.IPAMEtcdCert, Key: cfg.IPAMEtcdKey, CA: cfg.IPAMEtcdCA}})
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", l, err)
	}
	return st, nil
}

// System returns the Deps of a hook run on this host: the pool store at
// dbPath, diktyo-ifup's records under cfg.StateDir and its Runner
// (ifup.NewSystem: netlink and nftables), Ganeti through its gnt-*
// commands. announcer is passed to ifup.NewSystem (the detached sender
// of re-announcements).
func System(cfg *ifupconf.Config, log *slog.Logger, node, dbPath string, announcer *announce.Command) Deps {
	return Deps{
		Config:   cfg,
		Node:     node,
		Log:      log,
		OpenPool: func(create bool) (ipam.Store, error) { return OpenStore(cfg, dbPath, create) },
		Host: func() (HostOps, func(), error) {
			r, closeFn, err := ifup.NewSystem(cfg, log, announcer)
			if err != nil {
				return nil, nil, err
			}
			return r, closeFn, nil
		},
		InstanceRecords: func(instance string) ([]Record, error) {
			recs, err := ifup.InstanceRecords(cfg.StateDir, instance)
			if err != nil {
				return nil, err
			}
			out := make([]Record, len(recs))
			for i, rec := range recs {
				out[i] = recordOf(rec)
			}
			return out, nil
		},
		ExpectIncoming: func(in ifup.Incoming) error { return ifup.ExpectIncoming(cfg.StateDir, in) },
		ForgetIncoming: func(instance string) error { return ifup.ForgetIncoming(cfg.StateDir, instance) },
		Ganeti:         ganetisync.CLI{},
	}
}

// recordOf keeps what the host actions need of a diktyo-ifup record.
func recordOf(rec *ifup.Record) Record {
	r := Record{NIC: rec.NIC}
	p := rec.Plan
	switch {
	case p.Binding != nil && p.Binding.IP.IsValid():
		r.IPv4 = p.Binding.IP.String()
	case len(p.Filter.IPv4) > 0:
		r.IPv4 = p.Filter.IPv4[0].String()
	}
	return r
}
