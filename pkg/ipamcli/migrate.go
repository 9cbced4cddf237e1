package ipamcli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/diktyo/diktyo/pkg/ipam"
	"github.com/diktyo/diktyo/pkg/ipam/boltstore"
	"github.com/diktyo/diktyo/pkg/ipam/etcdstore"
	"github.com/diktyo/diktyo/pkg/ipam/storeurl"
)

// errVerify means a migrated copy differs from its source.
var errVerify = errors.New("the copy does not match its source")

// copyTimeout bounds a whole migration whose context has no deadline;
// each store call still gives up after Options.Timeout.
const copyTimeout = time.Hour

// migration says what migrate copied.
type migration struct {
	Keys     int // store keys copied
	Networks int
	// ExportBytes is the size of the JSON export both sides gave.
	ExportBytes int
}

// migrate copies the pool at from into a new pool at to, key by key, and
// verifies the copy: check finds no problem on either side and both
// export the same JSON. The source is opened read-only (for bbolt, its
// shared lock keeps writers out while the copy runs); an etcd source should
// have no writers, or the exports differ and Migrate fails. The target must
// not exist: a bbolt file is written under PATH.migrating and renamed into
// place once verified; an etcd pool is loaded with etcdstore.Restore and
// discarded again if the verification fails. The source is never written.
func migrate(ctx context.Context, from, to storeurl.Location, opts storeurl.Options) (migration, error) {
	var rep migration
	if from.String() == to.String() {
		return rep, usagef("store migrate: source and target are both %s", from)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, copyTimeout)
		defer cancel()
	}
	ro := opts
	ro.ReadOnly = true
	src, err := from.Open(ctx, ro)
	if err != nil {
		return rep, fmt.Errorf("migrate: source: %w", err)
	}
	defer src.Close()
	if err := clean(ctx, src, "source "+from.String()); err != nil {
		return rep, err
	}
	fill := func(put func(k, v []byte) error) error {
		return src.View(ctx, func(tx ipam.StoreTx) error {
			return tx.Scan(nil, func(k, v []byte) error {
				rep.Keys++
				return put(k, v)
			})
		})
	}
	var dst ipam.Store
	var commit, discard func() error
	if to.Kind == storeurl.Bolt {
		dst, commit, discard, err = copyToBolt(to.Path, opts, fill)
	} else {
		dst, discard, err = copyToEtcd(ctx, to, opts, fill)
	}
	if err != nil {
		return rep, fmt.Errorf("migrate to %s: %w", to, err)
	}
	if err := verify(ctx, src, dst, from, to, &rep); err != nil {
		return rep, errors.Join(err, discard())
	}
	if commit != nil {
		if err := commit(); err != nil {
			return rep, fmt.Errorf("migrate to %s: %w", to, errors.Join(err, discard()))
		}
	}
	return rep, nil
}

// clean fails if check finds problems in st.
func clean(ctx context.Context, st ipam.Store, what string) error {
	var probs []string
	err := ipam.New(st).View(ctx, func(t *ipam.Txn) (err error) {
		probs, err = t.Check()
		return err
	})
	if err != nil {
		return fmt.Errorf("migrate: check %s: %w", what, err)
	}
	if len(probs) > 0 {
		return fmt.Errorf("migrate: check %s: %w: %d problems, the first: %s (see diktyo-ipam check)", what, errInconsistent, len(probs), probs[0])
	}
	return nil
}

// verify checks the copy and compares both exports.
func verify(ctx context.Context, src, dst ipam.Store, from, to storeurl.Location, rep *migration) error {
	if err := clean(ctx, dst, "copy "+to.String()); err != nil {
		return err
	}
	export := func(st ipam.Store) ([]byte, int, error) {
		var b bytes.Buffer
		n := 0
		err := ipam.New(st).View(ctx, func(t *ipam.Txn) error {
			d, err := t.Export()
			if err != nil {
				return err
			}
			n = len(d.Networks)
			return d.WriteJSON(&b)
		})
		return b.Bytes(), n, err
	}
	a, n, err := export(src)
	if err != nil {
		return fmt.Errorf("migrate: export %s: %w", from, err)
	}
	b, _, err := export(dst)
	if err != nil {
		return fmt.Errorf("migrate: export %s: %w", to, err)
	}
	if !bytes.Equal(a, b) {
		return fmt.Errorf("migrate: %w: the exports of %s and %s differ (did something write to the source meanwhile?)", errVerify, from, to)
	}
	rep.Networks, rep.ExportBytes = n, len(a)
	return nil
}

// copyToBolt writes the pool into PATH.migrating; commit renames it to
// PATH, discard removes it.
func copyToBolt(path string, opts storeurl.Options, fill func(put func(k, v []byte) error) error) (ipam.Store, func() error, func() error, error) {
	if _, err := os.Stat(path); err == nil {
		return nil, nil, nil, fmt.Errorf("%w: %s exists", etcdstore.ErrNotEmpty, path)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil, err
	}
	tmp := path + ".migrating"
	removeTmp := func() error {
		var errs []error
		for _, p := range []string{tmp, tmp + ".lock"} {
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	}
	if err := removeTmp(); err != nil { // debris of an interrupted migration
		return nil, nil, nil, err
	}
	st, err := boltstore.Open(tmp, boltstore.Options{Timeout: opts.Timeout, Logger: opts.Logger})
	if err != nil {
		return nil, nil, nil, err
	}
	err = st.Update(context.Background(), func(tx ipam.StoreTx) error { return fill(tx.Put) })
	if err != nil {
		return nil, nil, nil, errors.Join(err, st.Close(), removeTmp())
	}
	commit := func() error {
		if err := st.Close(); err != nil {
			return err
		}
		if err := os.Rename(tmp, path); err != nil {
			return err
		}
		_ = os.Remove(tmp + ".lock")
		d, err := os.Open(filepath.Dir(path))
		if err != nil {
			return err
		}
		defer d.Close()
		return d.Sync()
	}
	discard := func() error { return errors.Join(st.Close(), removeTmp()) }
	return st, commit, discard, nil
}

// copyToEtcd restores the pool into an empty etcd prefix.
func copyToEtcd(ctx context.Context, to storeurl.Location, opts storeurl.Options, fill func(put func(k, v []byte) error) error) (ipam.Store, func() error, error) {
	eo, err := to.EtcdOptions(opts)
	if err != nil {
		return nil, nil, err
	}
	st, _, err := etcdstore.Restore(ctx, etcdstore.Options{Options: eo}, fill)
	if err != nil {
		return nil, nil, err
	}
	return st, func() error { return st.Discard(ctx) }, nil
}
