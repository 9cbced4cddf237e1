package storeurl

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/diktyo/diktyo/pkg/ipam"
)

// HelperName is the program that serves read-only views of etcd pools to
// programs that do not link the etcd client.
const HelperName = "diktyo-ipam"

// The view protocol: frames of one type byte, a uvarint length and the
// payload. The child first sends frameReady, or frameError if it could
// not open the pool; then it answers each frameGet (payload: key) with
// frameValue or frameAbsent, and each frameScan (payload: prefix) with
// framePairs (uvarint key length, key, value) and frameEnd, or with
// frameError. It ends its transaction when its input ends.
const (
	frameReady  = 'R'
	frameError  = 'E' // payload: error class, then the message
	frameGet    = 'G'
	frameScan   = 'S'
	frameValue  = 'V'
	frameAbsent = 'A'
	framePair   = 'P'
	frameEnd    = 'Z'
	// maxFrame bounds a payload: far above any pool value.
	maxFrame = 64 << 20
)

// Error classes carried by frameError, so that callers can still test
// the sentinels with errors.Is.
var errorClasses = []struct {
	class byte
	err   error
}{
	{'n', fs.ErrNotExist},
	{'b', ipam.ErrBusy},
	{'c', ipam.ErrCorrupt},
	{'s', ipam.ErrSchemaTooNew},
	{'r', ipam.ErrReadOnly},
}

var errProtocol = errors.New("view protocol error")

// HelperPath finds the diktyo-ipam program: next to the running program,
// else on PATH, else /usr/sbin/diktyo-ipam.
func HelperPath() string {
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), HelperName)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	if p, err := exec.LookPath(HelperName); err == nil {
		return p
	}
	return "/usr/sbin/" + HelperName
}

// putFrame buffers one frame; writeFrame also sends it.
func putFrame(w *bufio.Writer, typ byte, parts ...[]byte) error {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	_ = w.WriteByte(typ)
	_, err := w.Write(binary.AppendUvarint(nil, uint64(n)))
	for _, p := range parts {
		_, err = w.Write(p)
	}
	return err
}

func writeFrame(w *bufio.Writer, typ byte, parts ...[]byte) error {
	if err := putFrame(w, typ, parts...); err != nil {
		return err
	}
	return w.Flush()
}

func readFrame(r *bufio.Reader) (byte, []byte, error) {
	typ, err := r.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	n, err := binary.ReadUvarint(r)
	if err != nil || n > maxFrame {
		return 0, nil, fmt.Errorf("%w: bad frame length", errProtocol)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return 0, nil, fmt.Errorf("%w: short frame: %w", errProtocol, err)
	}
	return typ, b, nil
}

func errorFrame(w *bufio.Writer, err error) error {
	class := byte('o')
	for _, c := range errorClasses {
		if errors.Is(err, c.err) {
			class = c.class
			break
		}
	}
	return writeFrame(w, frameError, []byte{class}, []byte(err.Error()))
}

// frameErr turns an error frame back into an error that matches the
// sentinel it carried.
func frameErr(b []byte) error {
	if len(b) == 0 {
		return fmt.Errorf("%w: empty error", errProtocol)
	}
	for _, c := range errorClasses {
		if c.class == b[0] {
			return &remoteError{msg: string(b[1:]), err: c.err}
		}
	}
	return &remoteError{msg: string(b[1:])}
}

// remoteError is an error the child reported.
type remoteError struct {
	msg string
	err error // the sentinel it matched, or nil
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.err }

// ServeView is the child's side: it reports openErr if the pool could not
// be opened, else runs one read-only transaction of st and answers
// requests from r on w until r ends.
func ServeView(ctx context.Context, st ipam.Store, openErr error, r io.Reader, w io.Writer) error {
	bw, br := bufio.NewWriter(w), bufio.NewReader(r)
	if openErr != nil {
		_ = errorFrame(bw, openErr)
		return openErr
	}
	return st.View(ctx, func(tx ipam.StoreTx) error {
		if err := writeFrame(bw, frameReady); err != nil {
			return err
		}
		for {
			typ, key, err := readFrame(br)
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return err
			}
			switch typ {
			case frameGet:
				v, err := tx.Get(key)
				switch {
				case err != nil:
					err = errorFrame(bw, err)
				case v == nil:
					err = writeFrame(bw, frameAbsent)
				default:
					err = writeFrame(bw, frameValue, v)
				}
				if err != nil {
					return err
				}
			case frameScan:
				err := tx.Scan(key, func(k, v []byte) error {
					return putFrame(bw, framePair, binary.AppendUvarint(nil, uint64(len(k))), k, v)
				})
				if err != nil {
					err = errorFrame(bw, err)
				} else {
					err = writeFrame(bw, frameEnd)
				}
				if err != nil {
					return err
				}
			default:
				return fmt.Errorf("%w: unknown request %q", errProtocol, typ)
			}
		}
	})
}

// viewStore is a read-only ipam.Store served by a diktyo-ipam child. All
// its transactions see the child's one snapshot.
type viewStore struct {
	name   string
	cmd    *exec.Cmd
	in     io.WriteCloser
	w      *bufio.Writer
	r      *bufio.Reader
	stderr *bytes.Buffer
	exited chan struct{}

	mu     sync.Mutex
	closed bool
	failed error // the pipe broke: every later call fails
}

var _ ipam.Store = (*viewStore)(nil)

// openView starts "diktyo-ipam store view" for l and waits, within ctx,
// until it has opened the pool.
func openView(ctx context.Context, l Location, opts Options) (ipam.Store, error) {
	helper := opts.Helper
	if helper == "" {
		helper = HelperPath()
	}
	timeout := opts.Timeout
	if d, ok := ctx.Deadline(); ok {
		// Leave the child a fifth of the time to start and to say why it
		// failed, before this side gives up on it.
		left := time.Until(d)
		left = max(left-max(left/5, 50*time.Millisecond), time.Millisecond)
		if timeout == 0 || left < timeout {
			timeout = left
		}
	}
	args := []string{"store", "view", "--db", l.String()}
	if timeout > 0 {
		args = append(args, "--timeout", timeout.String())
	}
	cmd := exec.Command(helper, args...)
	cmd.Env = os.Environ()
	if p := opts.getenv("DIKTYO_CONFIG"); p != "" {
		cmd.Env = append(cmd.Env, "DIKTYO_CONFIG="+p)
	}
	s := &viewStore{name: l.String(), cmd: cmd, stderr: &bytes.Buffer{}, exited: make(chan struct{})}
	cmd.Stderr = s.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if s.in, err = cmd.StdinPipe(); err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("open store %s: reading an etcd pool needs %s (next to this program, on PATH or in /usr/sbin): %w", s.name, HelperName, err)
	}
	go func() { _ = cmd.Wait(); close(s.exited) }()
	s.w, s.r = bufio.NewWriter(s.in), bufio.NewReader(out)
	ready := make(chan error, 1)
	go func() {
		typ, b, err := readFrame(s.r)
		switch {
		case err != nil:
			ready <- s.childError(err)
		case typ == frameError:
			ready <- frameErr(b)
		case typ != frameReady:
			ready <- fmt.Errorf("%w: %q instead of ready", errProtocol, typ)
		default:
			ready <- nil
		}
	}()
	select {
	case err = <-ready:
	case <-ctx.Done():
		err = fmt.Errorf("%s did not open the pool within %v: %w", HelperName, timeout, ctx.Err())
	}
	var remote *remoteError
	switch {
	case errors.As(err, &remote):
		s.kill()
		return nil, err // it names the store already
	case err != nil:
		s.kill()
		return nil, fmt.Errorf("open store %s: %w", s.name, err)
	}
	return s, nil
}

// childError explains a broken pipe with what the child wrote on stderr.
func (s *viewStore) childError(err error) error {
	select {
	case <-s.exited:
	case <-time.After(time.Second):
	}
	if msg := bytes.TrimSpace(s.stderr.Bytes()); len(msg) > 0 {
		return fmt.Errorf("%s: %s", HelperName, msg)
	}
	return fmt.Errorf("%s: %w", HelperName, err)
}

func (s *viewStore) kill() {
	_ = s.cmd.Process.Kill()
	<-s.exited
}

// View runs fn on the child's snapshot; ctx ending kills the child.
func (s *viewStore) View(ctx context.Context, fn func(ipam.StoreTx) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("view store %s: closed", s.name)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("view store %s: %w", s.name, err)
	}
	stop := context.AfterFunc(ctx, func() { _ = s.cmd.Process.Kill() })
	defer stop()
	t := &viewTx{s: s}
	err := fn(t)
	t.done = true
	if s.failed != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("view store %s: %w", s.name, ctx.Err())
		}
		return fmt.Errorf("view store %s: %w", s.name, s.failed)
	}
	return err
}

// Update is refused: the child serves reads only.
func (s *viewStore) Update(context.Context, func(ipam.StoreTx) error) error {
	return fmt.Errorf("update store %s: %w: this program reads etcd pools only; use diktyo-ipam", s.name, ipam.ErrReadOnly)
}

// Close ends the child's transaction and waits for it to exit.
func (s *viewStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	_ = s.in.Close()
	select {
	case <-s.exited:
	case <-time.After(2 * time.Second):
		s.kill()
	}
	return nil
}

// viewTx is one transaction on a viewStore.
type viewTx struct {
	s    *viewStore
	done bool
}

func (t *viewTx) request(typ byte, key []byte) error {
	if t.done {
		return errors.New("transaction has ended")
	}
	if t.s.failed != nil {
		return t.s.failed
	}
	if err := writeFrame(t.s.w, typ, key); err != nil {
		t.s.failed = t.s.childError(err)
		return t.s.failed
	}
	return nil
}

// reply reads one frame, remembering a broken pipe.
func (t *viewTx) reply() (byte, []byte, error) {
	typ, b, err := readFrame(t.s.r)
	if err != nil {
		t.s.failed = t.s.childError(err)
		return 0, nil, t.s.failed
	}
	if typ == frameError {
		return typ, nil, frameErr(b)
	}
	return typ, b, nil
}

func (t *viewTx) Get(key []byte) ([]byte, error) {
	if err := t.request(frameGet, key); err != nil {
		return nil, err
	}
	typ, b, err := t.reply()
	switch {
	case err != nil:
		return nil, err
	case typ == frameAbsent:
		return nil, nil
	case typ == frameValue:
		return b, nil
	}
	t.s.failed = fmt.Errorf("%w: %q answers a get", errProtocol, typ)
	return nil, t.s.failed
}

func (t *viewTx) Scan(prefix []byte, fn func(key, value []byte) error) error {
	if err := t.request(frameScan, prefix); err != nil {
		return err
	}
	var fnErr error
	for {
		typ, b, err := t.reply()
		if err != nil {
			return err
		}
		switch typ {
		case frameEnd:
			return fnErr
		case framePair:
			n, k := binary.Uvarint(b)
			if k <= 0 || uint64(len(b)-k) < n {
				t.s.failed = fmt.Errorf("%w: bad pair", errProtocol)
				return t.s.failed
			}
			if fnErr == nil { // after an error, drain the rest of the answer
				fnErr = fn(b[k:k+int(n)], b[k+int(n):])
			}
		default:
			t.s.failed = fmt.Errorf("%w: %q answers a scan", errProtocol, typ)
			return t.s.failed
		}
	}
}

func (t *viewTx) Put(key, _ []byte) error {
	return fmt.Errorf("put %s in store %s: %w", strconv.Quote(string(key)), t.s.name, ipam.ErrReadOnly)
}

func (t *viewTx) Delete(key []byte) error {
	return fmt.Errorf("delete %s in store %s: %w", strconv.Quote(string(key)), t.s.name, ipam.ErrReadOnly)
}
