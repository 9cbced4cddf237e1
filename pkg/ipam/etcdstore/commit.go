package etcdstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc"
)

// commit sends t's writes in one etcd Txn guarded by its reads. done is
// false on a conflict (fn must run again on a new snapshot).
func (s *Store) commit(ctx context.Context, t *tx) (done bool, err error) {
	if len(t.pending) == 0 {
		return true, nil // nothing to write: the snapshot was consistent
	}
	id := newID()
	req := &pb.TxnRequest{
		Compare: t.compares(s.fence.Load()),
		Success: t.ops(id),
		Failure: []*pb.RequestOp{{Request: &pb.RequestOp_RequestRange{RequestRange: &pb.RangeRequest{Key: []byte(s.root + keyFence)}}}},
	}
	low := s.seen.Load() // the commit, if applied, is applied after this
	var resp *pb.TxnResponse
	err = s.once(ctx, func(ctx context.Context) (err error) {
		resp, err = s.kv.Txn(ctx, req, grpc.WaitForReady(false))
		return err
	})
	if err == nil {
		s.observe(resp.Header)
		if !resp.Succeeded {
			s.learnFence(resp)
		}
		return resp.Succeeded, nil
	}
	switch classify(err) {
	case kindRetry:
		s.log.Debug("commit refused before it was proposed", "store", s.name, "err", err)
		return false, nil
	case kindPermanent:
		return false, s.failure(ctx, "commit", err, time.Now())
	}
	s.log.Debug("commit answer lost, fencing it", "store", s.name, "err", err)
	applied, err := s.resolve(ctx, req.Compare, id, low, err)
	if err != nil {
		return false, err
	}
	return applied, nil
}

// learnFence updates the fence revision from a failed commit's answer.
func (s *Store) learnFence(resp *pb.TxnResponse) {
	if len(resp.Responses) != 1 {
		return
	}
	if kvs := resp.Responses[0].GetResponseRange().GetKvs(); len(kvs) == 1 {
		s.fence.Store(kvs[0].ModRevision)
	}
}

// resolve settles a commit whose answer was lost (lostErr): it fences the
// commit with a Txn of the same compares that rewrites @fence, so that it
// can never apply later. If the fence fails, the commit applied before it
// or never will, and the history of @txn back to revision low tells which.
func (s *Store) resolve(ctx context.Context, cmps []*pb.Compare, id []byte, low int64, lostErr error) (bool, error) {
	fence := &pb.TxnRequest{
		Compare: cmps,
		Success: []*pb.RequestOp{putOp(s.root+keyFence, newID())},
		Failure: []*pb.RequestOp{{Request: &pb.RequestOp_RequestRange{RequestRange: &pb.RangeRequest{Key: []byte(s.root + keyFence)}}}},
	}
	var resp *pb.TxnResponse
	// A fence whose answer is lost is simply sent again: if the first one
	// applied, the second one fails its compares and the walk finds no id.
	err := s.call(ctx, "fence a commit whose answer was lost ("+errText(lostErr)+")", func(ctx context.Context) (err error) {
		resp, err = s.kv.Txn(ctx, fence, grpc.WaitForReady(false))
		return err
	})
	if err != nil {
		// Without a fence the commit may still be applied, e.g. by a
		// leader that kept it in its log and is elected again.
		return false, fmt.Errorf("%w: it may still be applied when etcd answers again: %w", ErrUnknownOutcome, err)
	}
	s.observe(resp.Header)
	if resp.Succeeded {
		s.fence.Store(resp.Header.Revision)
		s.log.Debug("lost commit fenced: not applied", "store", s.name)
		return false, nil
	}
	s.learnFence(resp)
	applied, err := s.walk(ctx, id, low, resp.Header.Revision)
	s.log.Debug("lost commit settled from history", "store", s.name, "applied", applied, "err", err)
	return applied, err
}

// walk looks for a commit id in the values @txn had between revisions low
// (exclusive) and high (inclusive), newest first.
func (s *Store) walk(ctx context.Context, id []byte, low, high int64) (bool, error) {
	key := []byte(s.root + keyTxn)
	for rev := high; rev > low; {
		req := &pb.RangeRequest{Key: key, Revision: rev}
		var resp *pb.RangeResponse
		err := s.call(ctx, "read commit history", func(ctx context.Context) (err error) {
			resp, err = s.kv.Range(ctx, req, grpc.WaitForReady(false))
			return err
		})
		if errors.Is(err, rpctypes.ErrCompacted) {
			return false, fmt.Errorf("%w: the history of %s before revision %d was compacted", ErrUnknownOutcome, keyTxn, rev)
		}
		if err != nil {
			return false, fmt.Errorf("%w: %w", ErrUnknownOutcome, err)
		}
		if len(resp.Kvs) == 0 {
			return false, nil
		}
		kv := resp.Kvs[0]
		if kv.ModRevision <= low {
			return false, nil
		}
		if bytes.Equal(kv.Value, id) {
			return true, nil
		}
		rev = kv.ModRevision - 1
	}
	return false, nil
}

// ops are the writes of t in key order, plus the commit id in @txn and,
// when t deletes, in @deleted.
func (t *tx) ops(id []byte) []*pb.RequestOp {
	keys := make([]string, 0, len(t.pending))
	for k := range t.pending {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	ops := make([]*pb.RequestOp, 0, len(keys)+2)
	deletes := false
	for _, k := range keys {
		w := t.pending[k]
		full := t.s.root + dataDir + k
		if w.del {
			deletes = true
			ops = append(ops, &pb.RequestOp{Request: &pb.RequestOp_RequestDeleteRange{RequestDeleteRange: &pb.DeleteRangeRequest{Key: []byte(full)}}})
			continue
		}
		ops = append(ops, putOp(full, w.val))
	}
	ops = append(ops, putOp(t.s.root+keyTxn, id))
	if deletes {
		ops = append(ops, putOp(t.s.root+keyDel, id))
	}
	return ops
}

// compares proves that nothing t read changed after its snapshot, and that
// no fence was written since fence. See "Transactions" in the package
// documentation for the exact and the coarse form.
func (t *tx) compares(fence int64) []*pb.Compare {
	cmps := []*pb.Compare{modEqual(t.s.root+keyFence, fence)}
	if t.rev == 0 {
		return cmps // nothing was read
	}
	n := len(t.reads)
	for _, sr := range t.scans {
		n += 1 + len(sr.keys)
	}
	if 1+n <= t.s.maxCompares {
		for k, r := range t.reads {
			cmps = append(cmps, modEqual(k, r.mod))
		}
		for _, sr := range t.scans {
			cmps = append(cmps, modBefore(sr.start, sr.end, t.rev+1))
			for _, kr := range sr.keys {
				cmps = append(cmps, modEqual(kr.key, kr.mod))
			}
		}
		return cmps
	}
	spans := make([][2]string, 0, len(t.reads)+len(t.scans))
	for k := range t.reads {
		spans = append(spans, [2]string{k, k + "\x00"})
	}
	for _, sr := range t.scans {
		spans = append(spans, [2]string{sr.start, sr.end})
	}
	for _, sp := range cover(spans, t.s.maxCompares-2) {
		cmps = append(cmps, modBefore(sp[0], sp[1], t.rev+1))
	}
	return append(cmps, modBefore(t.s.root+keyDel, "", t.rev+1))
}

// cover merges spans [start, end) into at most max spans covering them all.
func cover(spans [][2]string, max int) [][2]string {
	slices.SortFunc(spans, func(a, b [2]string) int { return strings.Compare(a[0], b[0]) })
	var merged [][2]string
	for _, sp := range spans {
		if n := len(merged); n > 0 && sp[0] <= merged[n-1][1] {
			merged[n-1][1] = maxString(merged[n-1][1], sp[1])
			continue
		}
		merged = append(merged, sp)
	}
	if len(merged) <= max {
		return merged
	}
	out := make([][2]string, 0, max)
	per := (len(merged) + max - 1) / max
	for i := 0; i < len(merged); i += per {
		j := min(i+per, len(merged)) - 1
		out = append(out, [2]string{merged[i][0], merged[j][1]})
	}
	return out
}

func maxString(a, b string) string {
	if a > b {
		return a
	}
	return b
}

// modEqual holds when key's mod revision is mod (0: the key is absent).
func modEqual(key string, mod int64) *pb.Compare {
	return &pb.Compare{Target: pb.Compare_MOD, Result: pb.Compare_EQUAL, Key: []byte(key),
		TargetUnion: &pb.Compare_ModRevision{ModRevision: mod}}
}

// modBefore holds when every key in [key, end) (key alone if end is "")
// has a mod revision below rev, i.e. none was written at or after rev.
func modBefore(key, end string, rev int64) *pb.Compare {
	c := &pb.Compare{Target: pb.Compare_MOD, Result: pb.Compare_LESS, Key: []byte(key),
		TargetUnion: &pb.Compare_ModRevision{ModRevision: rev}}
	if end != "" {
		c.RangeEnd = []byte(end)
	}
	return c
}
