package etcdstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strconv"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc"

	"github.com/diktyo/diktyo/pkg/ipam"
)

// ErrNotEmpty means Restore found a pool under the prefix.
var ErrNotEmpty = errors.New("a pool already exists there")

// restoreBatch is how many keys one Txn of Restore writes: within etcd's
// default --max-txn-ops of 128.
const restoreBatch = 100

// Restore creates the pool under opts.Prefix from the keys fill hands to
// put, in batches of 100 keys per etcd transaction, so that a pool of any
// size loads under etcd's default limits. The prefix must hold no pool
// (no schema key); what an interrupted Restore left there is deleted
// first. The schema key is written last: until then Open refuses the
// prefix (keys without a schema), so nobody uses a half-copied pool. It
// returns the number of keys written and the pool, open read-write.
func Restore(ctx context.Context, opts Options, fill func(put func(key, value []byte) error) error) (*Store, int, error) {
	opts.ReadOnly = true // no schema is written by Open
	s, err := Open(ctx, opts)
	switch {
	case err == nil:
		s.Close()
		return nil, 0, fmt.Errorf("restore into %s: %w", s.name, ErrNotEmpty)
	case errors.Is(err, errNoSchema):
		// Debris of an interrupted Restore (or of something else, which
		// Restore refuses below).
	case !errors.Is(err, fs.ErrNotExist):
		return nil, 0, fmt.Errorf("restore: %w", err)
	}
	opts.ReadOnly = false
	s, err = connect(opts)
	if err != nil {
		return nil, 0, fmt.Errorf("restore: %w", err)
	}
	n, err := s.restore(ctx, fill)
	if err != nil {
		s.Close()
		return nil, n, fmt.Errorf("restore into %s: %w", s.name, err)
	}
	return s, n, nil
}

func (s *Store) restore(ctx context.Context, fill func(put func(key, value []byte) error) error) (int, error) {
	ctx, cancel := s.deadline(ctx)
	defer cancel()
	noSchema := &pb.Compare{Target: pb.Compare_CREATE, Result: pb.Compare_EQUAL, Key: []byte(s.root + keySchema),
		TargetUnion: &pb.Compare_CreateRevision{CreateRevision: 0}}
	// Only data keys and this package's own may be in the way: anything
	// else under the prefix is not ours to delete.
	for _, r := range [][2]string{{s.root + "/", s.root + dataDir}, {string(rangeEnd(s.root+dataDir, true)), string(rangeEnd(s.root+"/", true))}} {
		var resp *pb.RangeResponse
		err := s.call(ctx, "look at the prefix", func(ctx context.Context) (err error) {
			resp, err = s.kv.Range(ctx, &pb.RangeRequest{Key: []byte(r[0]), RangeEnd: []byte(r[1]), Limit: 8, KeysOnly: true},
				grpc.WaitForReady(false))
			return err
		})
		if err != nil {
			return 0, err
		}
		for _, kv := range resp.Kvs {
			if k := string(kv.Key[len(s.root):]); k != keyTxn && k != keyDel && k != keyFence {
				return 0, fmt.Errorf("%w: prefix %s/ holds %q, which is not a diktyo pool's", ipam.ErrCorrupt, s.root, kv.Key)
			}
		}
	}
	send := func(what string, ops []*pb.RequestOp) error {
		var resp *pb.TxnResponse
		err := s.call(ctx, what, func(ctx context.Context) (err error) {
			resp, err = s.kv.Txn(ctx, &pb.TxnRequest{Compare: []*pb.Compare{noSchema}, Success: ops}, grpc.WaitForReady(false))
			return err
		})
		if err != nil {
			return err
		}
		if !resp.Succeeded {
			return fmt.Errorf("%w: another process created a pool under %s/ meanwhile", ErrNotEmpty, s.root)
		}
		return nil
	}
	// Writing a batch again after a lost answer is harmless: the keys get
	// the same values.
	wipe := &pb.RequestOp{Request: &pb.RequestOp_RequestDeleteRange{RequestDeleteRange: &pb.DeleteRangeRequest{
		Key: []byte(s.root + dataDir), RangeEnd: rangeEnd(s.root+dataDir, true)}}}
	if err := send("clear an interrupted restore", []*pb.RequestOp{wipe}); err != nil {
		return 0, err
	}
	n := 0
	batch := make([]*pb.RequestOp, 0, restoreBatch)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := send("write keys "+strconv.Itoa(n-len(batch)+1)+" to "+strconv.Itoa(n), batch); err != nil {
			return err
		}
		batch = batch[:0]
		return nil
	}
	err := fill(func(key, value []byte) error {
		if len(key) == 0 || len(key) > MaxKeySize {
			return fmt.Errorf("restore (%d-byte key): %w", len(key), errKey)
		}
		batch = append(batch, putOp(s.root+dataDir+string(key), bytes.Clone(value)))
		n++
		if len(batch) == restoreBatch {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err == nil {
		err = send("write the schema", []*pb.RequestOp{putOp(s.root+keySchema, []byte(strconv.Itoa(ipam.SchemaVersion)))})
	}
	return n, err
}

// Discard deletes every key of the pool, schema included, and closes the
// store. It is for undoing a Restore that failed its verification; it
// never touches keys outside the prefix.
func (s *Store) Discard(ctx context.Context) error {
	ctx, cancel := s.deadline(ctx)
	defer cancel()
	defer s.Close()
	return s.call(ctx, "discard the pool", func(ctx context.Context) error {
		_, err := s.kv.DeleteRange(ctx, &pb.DeleteRangeRequest{Key: []byte(s.root + "/"), RangeEnd: rangeEnd(s.root+"/", true)},
			grpc.WaitForReady(false))
		return err
	})
}
