package boltstore

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/diktyo/diktyo/pkg/ipam"
	"github.com/diktyo/diktyo/pkg/ipam/storetest"
)

// Helper processes: the test binary re-executes itself with
// BOLTSTORE_HELPER set to run one of these instead of the tests.
const (
	envHelper = "BOLTSTORE_HELPER"
	envPath   = "BOLTSTORE_PATH"
	envCount  = "BOLTSTORE_COUNT"
	envNoSync = "BOLTSTORE_NOSYNC"
	envRO     = "BOLTSTORE_READONLY"
	envFlush  = "BOLTSTORE_FLUSH"
	envThink  = "BOLTSTORE_THINK" // pause between cycles, outside the lock
)

func TestMain(m *testing.M) {
	switch os.Getenv(envHelper) {
	case "":
		os.Exit(m.Run())
	case "increment":
		os.Exit(helperIncrement())
	case "hold":
		os.Exit(helperHold())
	default:
		fmt.Fprintln(os.Stderr, "unknown helper", os.Getenv(envHelper))
		os.Exit(2)
	}
}

func helperOpts() Options {
	return Options{
		Timeout:  time.Minute,
		NoSync:   os.Getenv(envNoSync) != "",
		ReadOnly: os.Getenv(envRO) != "",
	}
}

// helperIncrement runs BOLTSTORE_COUNT Open/Update/Close cycles, each
// adding one to the key "counter", and prints the value after each commit
// and how long Open waited, in nanoseconds.
func helperIncrement() int {
	n, _ := strconv.Atoi(os.Getenv(envCount))
	think, _ := time.ParseDuration(os.Getenv(envThink))
	opts := helperOpts()
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	for range n {
		if think > 0 {
			time.Sleep(think/2 + rand.N(think))
		}
		start := time.Now()
		s, err := Open(os.Getenv(envPath), opts)
		wait := time.Since(start)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		var now int
		err = s.Update(context.Background(), func(tx ipam.StoreTx) error {
			v, err := tx.Get([]byte("counter"))
			if err != nil {
				return err
			}
			now, _ = strconv.Atoi(string(v))
			now++
			return tx.Put([]byte("counter"), []byte(strconv.Itoa(now)))
		})
		if err := errors.Join(err, s.Close()); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Fprintln(out, now, wait.Nanoseconds())
		if os.Getenv(envFlush) != "" {
			out.Flush()
		}
	}
	return 0
}

// helperHold opens the store, says "locked" and holds it until stdin
// closes.
func helperHold() int {
	opts := helperOpts()
	s, err := Open(os.Getenv(envPath), opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("locked")
	_, _ = io.Copy(io.Discard, os.Stdin)
	if err := s.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

func helper(t testing.TB, mode, path string, env ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envHelper+"="+mode, envPath+"="+path)
	cmd.Env = append(cmd.Env, env...)
	cmd.Stderr = os.Stderr
	return cmd
}

// holdInOtherProcess opens path in a helper process and returns once it
// holds the lock; the returned func releases it.
func holdInOtherProcess(t *testing.T, path string, env ...string) func() {
	t.Helper()
	cmd := helper(t, "hold", path, env...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "locked\n" {
		_ = cmd.Process.Kill()
		t.Fatalf("helper: %q, %v", line, err)
	}
	var once sync.Once
	release := func() {
		once.Do(func() {
			_ = stdin.Close()
			if err := cmd.Wait(); err != nil {
				t.Errorf("helper: %v", err)
			}
		})
	}
	t.Cleanup(release)
	return release
}

func testOpts() Options { return Options{NoSync: true, Timeout: 10 * time.Second} }

func mustOpen(t testing.TB, path string, opts Options) *Store {
	t.Helper()
	s, err := Open(path, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) ipam.Store {
		return mustOpen(t, filepath.Join(t.TempDir(), "ipam.db"), testOpts())
	})
}

func TestCreateReopen(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "var", "lib", "diktyo")
	path := filepath.Join(dir, "ipam.db")
	s := mustOpen(t, path, Options{}) // with fsync, default timeout
	if err := s.Update(ctx, func(tx ipam.StoreTx) error { return tx.Put([]byte("k"), []byte("v")) }); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}

	checks := []struct {
		path string
		mode fs.FileMode
	}{
		{dir, fs.ModeDir | 0o755},
		{path, 0o640},
		{path + ".lock", 0o640},
	}
	for _, c := range checks {
		fi, err := os.Stat(c.path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode() &^ (0o022 &^ c.mode.Perm()); got != c.mode {
			t.Errorf("%s mode %v, want %v", c.path, fi.Mode(), c.mode)
		}
	}
	if _, err := os.Stat(path + ".new"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("temporary file left behind: %v", err)
	}

	db, err := bolt.Open(path, 0, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	_ = db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket([]byte(bucketMeta)).Get([]byte(keySchema)); string(v) != "1" {
			t.Errorf("schema = %q, want 1", v)
		}
		return nil
	})
	_ = db.Close()

	for _, ro := range []bool{false, true} {
		s := mustOpen(t, path, Options{ReadOnly: ro})
		err := s.View(ctx, func(tx ipam.StoreTx) error {
			if v, err := tx.Get([]byte("k")); string(v) != "v" || err != nil {
				t.Errorf("ReadOnly=%v: Get = %q, %v", ro, v, err)
			}
			return nil
		})
		if err != nil {
			t.Error(err)
		}
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	}
}

func setMeta(t *testing.T, path string, fn func(tx *bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o640, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(fn); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestSchemaTooNew(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ipam.db")
	if err := mustOpen(t, path, testOpts()).Close(); err != nil {
		t.Fatal(err)
	}
	setMeta(t, path, func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(bucketMeta)).Put([]byte(keySchema), []byte("999"))
	})
	before := snapshot(t, path)
	for _, ro := range []bool{false, true} {
		_, err := Open(path, Options{ReadOnly: ro})
		if !errors.Is(err, ipam.ErrSchemaTooNew) {
			t.Fatalf("ReadOnly=%v: Open = %v, want ErrSchemaTooNew", ro, err)
		}
		if msg := err.Error(); !strings.Contains(msg, "999") || !strings.Contains(msg, "up to 1") || !strings.Contains(msg, path) {
			t.Errorf("error %q should name the path and both versions", msg)
		}
	}
	before.check(t, path)
}

// fileState is a file's bytes and mtime, to prove that Open left it alone.
type fileState struct {
	data  []byte
	mtime time.Time
}

func snapshot(t *testing.T, path string) fileState {
	t.Helper()
	old := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return fileState{data: data, mtime: old}
}

func (f fileState) check(t *testing.T, path string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, f.data) {
		t.Errorf("%s was modified (%d bytes, was %d)", path, len(data), len(f.data))
	}
	if !fi.ModTime().Equal(f.mtime) {
		t.Errorf("%s mtime changed to %v", path, fi.ModTime())
	}
}

// validStore returns the bytes of a store with enough data to span many
// pages.
func validStore(t *testing.T) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "valid.db")
	s := mustOpen(t, path, testOpts())
	err := s.Update(context.Background(), func(tx ipam.StoreTx) error {
		for i := range 2000 {
			if err := tx.Put(fmt.Appendf(nil, "key%05d", i), bytes.Repeat([]byte{'v'}, 100)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// lastPage returns the offset of the last page in use by the store in data.
func lastPage(t *testing.T, data []byte) int {
	t.Helper()
	m0, err0 := parseMeta(data)
	m1, err1 := parseMeta(data[4096:])
	if err0 != nil || err1 != nil {
		t.Fatalf("meta pages: %v, %v", err0, err1)
	}
	m := max(m0.pgid, m1.pgid)
	return int(m-1) * int(m0.pageSize)
}

func boltFile(t *testing.T, opts *bolt.Options, fn func(*bolt.Tx) error) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "other.db")
	db, err := bolt.Open(path, 0o640, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(fn); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestNotAStoreIsUntouched(t *testing.T) {
	valid := validStore(t)
	if len(valid) < 64<<10 {
		t.Fatalf("valid store only %d bytes", len(valid))
	}
	random := make([]byte, 64<<10)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	corruptMeta := bytes.Clone(valid)
	for _, off := range []int{16 + 20, 4096 + 16 + 20} { // root pgid in both metas
		corruptMeta[off] ^= 0xff
	}
	wrongVersion := bytes.Clone(valid)
	wrongVersion[16+4], wrongVersion[4096+16+4] = 1, 1
	foreign := func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("other"))
		if err != nil {
			return err
		}
		return b.Put([]byte("k"), []byte("v"))
	}
	badSchema := func(tx *bolt.Tx) error {
		if err := initialise(tx); err != nil {
			return err
		}
		return tx.Bucket([]byte(bucketMeta)).Put([]byte(keySchema), []byte("one"))
	}

	tests := []struct {
		name string
		data []byte
	}{
		{"random bytes", random},
		{"text file", []byte(strings.Repeat("network=pub cidr=198.18.2.0/24\n", 400))},
		{"one byte", []byte{0}},
		{"truncated to 100 bytes", valid[:100]},
		{"truncated to one meta page", valid[:4096]},
		{"truncated to both meta pages", valid[:8192]},
		{"truncated to half", valid[:len(valid)/2]},
		{"last page cut off", valid[:lastPage(t, valid)]},
		{"both meta checksums bad", corruptMeta},
		{"other bbolt version", wrongVersion},
		{"foreign bbolt file", boltFile(t, nil, foreign)},
		{"foreign bbolt file without freelist", boltFile(t, &bolt.Options{NoFreelistSync: true}, foreign)},
		{"bad schema value", boltFile(t, nil, badSchema)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "ipam.db")
			if err := os.WriteFile(path, tc.data, 0o640); err != nil {
				t.Fatal(err)
			}
			before := snapshot(t, path)
			for _, ro := range []bool{false, true} {
				s, err := Open(path, Options{ReadOnly: ro, Timeout: time.Second})
				if err == nil {
					_ = s.Close()
				}
				if !errors.Is(err, ipam.ErrCorrupt) {
					t.Errorf("ReadOnly=%v: Open = %v, want ErrCorrupt", ro, err)
				} else if !strings.Contains(err.Error(), path) {
					t.Errorf("error %q does not name the file", err)
				}
			}
			before.check(t, path)
		})
	}
}

func TestEmptyAndMissing(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(path string) error
		ro      bool
		wantErr error // nil: opens and works
	}{
		{"missing read-only", func(string) error { return nil }, true, fs.ErrNotExist},
		{"zero-length read-only", func(p string) error { return os.WriteFile(p, nil, 0o640) }, true, fs.ErrNotExist},
		{"zero-length is new", func(p string) error { return os.WriteFile(p, nil, 0o600) }, false, nil},
		{"empty bbolt file is new", func(p string) error {
			db, err := bolt.Open(p, 0o640, nil)
			if err != nil {
				return err
			}
			return db.Close()
		}, false, nil},
		{"empty bbolt file read-only", func(p string) error {
			db, err := bolt.Open(p, 0o640, nil)
			if err != nil {
				return err
			}
			return db.Close()
		}, true, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "ipam.db")
			if err := tc.prepare(path); err != nil {
				t.Fatal(err)
			}
			s, err := Open(path, Options{ReadOnly: tc.ro, NoSync: true})
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Open = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer s.Close()
			err = s.View(context.Background(), func(tx ipam.StoreTx) error {
				v, err := tx.Get([]byte("k"))
				if v != nil || err != nil {
					return fmt.Errorf("Get = %q, %v", v, err)
				}
				return tx.Scan(nil, func(k, _ []byte) error { return fmt.Errorf("unexpected key %q", k) })
			})
			if err != nil {
				t.Error(err)
			}
			if !tc.ro {
				if err := s.Update(context.Background(), func(tx ipam.StoreTx) error { return tx.Put([]byte("k"), nil) }); err != nil {
					t.Error(err)
				}
			}
		})
	}
	t.Run("zero-length keeps its mode", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "ipam.db")
		if err := os.WriteFile(path, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		_ = mustOpen(t, path, testOpts()).Close()
		if fi, err := os.Stat(path); err != nil || fi.Mode() != 0o600 || fi.Size() == 0 {
			t.Errorf("after Open: %v, %v", fi.Mode(), err)
		}
	})
}

func TestReadOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ipam.db")
	_ = mustOpen(t, path, testOpts()).Close()
	ro1 := mustOpen(t, path, Options{ReadOnly: true})
	defer ro1.Close()
	ro2 := mustOpen(t, path, Options{ReadOnly: true}) // readers share
	defer ro2.Close()
	err := ro1.Update(context.Background(), func(ipam.StoreTx) error { return nil })
	if !errors.Is(err, ipam.ErrReadOnly) {
		t.Errorf("Update = %v, want ErrReadOnly", err)
	}
	_, err = Open(path, Options{Timeout: 100 * time.Millisecond})
	if !errors.Is(err, ipam.ErrBusy) {
		t.Errorf("writer while readers hold = %v, want ErrBusy", err)
	}
}

// TestReadOnlyWithoutLockFile opens read-only as a user who may not create
// the missing lock file: Open falls back to bbolt's shared lock, which
// still keeps a writer out.
func TestReadOnlyWithoutLockFile(t *testing.T) {
	dir, err := os.MkdirTemp("", "boltstore-ro")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = os.Chmod(dir, 0o755)
		_ = os.RemoveAll(dir)
	})
	path := filepath.Join(dir, "ipam.db")
	_ = mustOpen(t, path, testOpts()).Close()
	if err := errors.Join(os.Remove(path+".lock"), os.Chmod(path, 0o644), os.Chmod(dir, 0o755)); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() != 0 {
		if err := os.Chmod(dir, 0o555); err != nil {
			t.Fatal(err)
		}
		_ = mustOpen(t, path, Options{ReadOnly: true}).Close()
		return
	}
	// As root, read as nobody from a copy of this binary nobody may run.
	bin := filepath.Join(dir, "boltstore.test")
	data, err := os.ReadFile(os.Args[0])
	if err == nil {
		err = os.WriteFile(bin, data, 0o755)
	}
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^$")
	cmd.Env = append(os.Environ(), envHelper+"=hold", envPath+"="+path, envRO+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	cmd.Stderr = os.Stderr
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = stdin.Close()
		if err := cmd.Wait(); err != nil {
			t.Errorf("reader: %v", err)
		}
	}()
	if line, err := bufio.NewReader(stdout).ReadString('\n'); line != "locked\n" {
		t.Fatalf("reader: %q, %v", line, err)
	}
	if _, err := os.Stat(path + ".lock"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("reader created the lock file: %v", err)
	}
	_, err = Open(path, Options{Timeout: 200 * time.Millisecond})
	if !errors.Is(err, ipam.ErrBusy) {
		t.Errorf("writer while reader holds bbolt's lock = %v, want ErrBusy", err)
	}
}

func TestBusy(t *testing.T) {
	tests := []struct {
		name      string
		holderRO  bool
		waiterRO  bool
		otherProc bool
	}{
		{"writer vs writer, same process", false, false, false},
		{"writer vs writer, other process", false, false, true},
		{"reader vs writer, other process", false, true, true},
		{"writer vs reader, other process", true, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "ipam.db")
			_ = mustOpen(t, path, testOpts()).Close()
			var release func()
			if tc.otherProc {
				env := []string{}
				if tc.holderRO {
					env = append(env, envRO+"=1")
				}
				release = holdInOtherProcess(t, path, env...)
			} else {
				h := mustOpen(t, path, Options{ReadOnly: tc.holderRO})
				release = func() { _ = h.Close() }
			}
			start := time.Now()
			_, err := Open(path, Options{ReadOnly: tc.waiterRO, Timeout: 200 * time.Millisecond})
			waited := time.Since(start)
			if !errors.Is(err, ipam.ErrBusy) {
				t.Fatalf("Open = %v, want ErrBusy", err)
			}
			want := fmt.Sprintf("store %s busy: locked by another process for 200ms", path)
			if err.Error() != want {
				t.Errorf("error %q, want %q", err, want)
			}
			if waited < 200*time.Millisecond {
				t.Errorf("gave up after %v, before the timeout", waited)
			}
			release()
			s, err := Open(path, Options{ReadOnly: tc.waiterRO, Timeout: 5 * time.Second})
			if err != nil {
				t.Fatalf("Open after release: %v", err)
			}
			_ = s.Close()
		})
	}
}

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	return len(ents)
}

// TestGiveUpReleases checks that a waiter that timed out does not keep the
// lock or its descriptor once the holder lets go.
func TestGiveUpReleases(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ipam.db")
	_ = mustOpen(t, path, testOpts()).Close()
	fds := openFDs(t)
	holder := mustOpen(t, path, testOpts())
	for range 3 {
		if _, err := Open(path, Options{Timeout: 20 * time.Millisecond}); !errors.Is(err, ipam.ErrBusy) {
			t.Fatalf("Open = %v, want ErrBusy", err)
		}
	}
	if err := holder.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path, Options{NoSync: true, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("Open after the abandoned waiters: %v", err)
	}
	_ = s.Close()
	deadline := time.Now().Add(5 * time.Second)
	for openFDs(t) > fds && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := openFDs(t); n > fds {
		t.Errorf("%d descriptors open, %d before", n, fds)
	}
}

// TestMultiProcess runs 8 processes doing 200 Open/Update/Close cycles
// each on one counter: every increment must survive.
func TestMultiProcess(t *testing.T) {
	const procs, each = 8, 200
	path := filepath.Join(t.TempDir(), "ipam.db")
	_ = mustOpen(t, path, testOpts()).Close()
	env := []string{envCount + "=" + strconv.Itoa(each)}
	if testing.Short() {
		env = append(env, envNoSync+"=1")
	}
	var cmds []*exec.Cmd
	for range procs {
		cmd := helper(t, "increment", path, env...)
		cmd.Stdout = io.Discard
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	for _, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Errorf("helper: %v", err)
		}
	}
	s := mustOpen(t, path, Options{ReadOnly: true})
	defer s.Close()
	_ = s.View(context.Background(), func(tx ipam.StoreTx) error {
		if v, _ := tx.Get([]byte("counter")); string(v) != strconv.Itoa(procs*each) {
			t.Errorf("counter = %s, want %d", v, procs*each)
		}
		return nil
	})
}

// TestKilled kills a writer process at random moments: the store must
// open and hold the last acknowledged commit (or the one after it, if the
// kill came between commit and acknowledgement).
func TestKilled(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ipam.db")
	_ = mustOpen(t, path, testOpts()).Close()
	rng := rand.New(rand.NewPCG(5, 6))
	prev := 0
	for round := range 5 {
		cmd := helper(t, "increment", path, envFlush+"=1", envCount+"=1000000")
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = nil
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		acked := make(chan int, 1)
		go func() {
			last := -1
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				last, _ = strconv.Atoi(strings.Fields(sc.Text())[0])
			}
			acked <- last
		}()
		time.Sleep(time.Duration(20+rng.IntN(80)) * time.Millisecond)
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		last := <-acked
		if last < 0 {
			last = prev
		}

		s, err := Open(path, Options{ReadOnly: true, Timeout: 5 * time.Second})
		if err != nil {
			t.Fatalf("round %d: Open after kill: %v", round, err)
		}
		_ = s.View(context.Background(), func(tx ipam.StoreTx) error {
			v, _ := tx.Get([]byte("counter"))
			n, _ := strconv.Atoi(string(v))
			if n != last && n != last+1 {
				t.Errorf("round %d: counter %d, last acknowledged %d", round, n, last)
			}
			prev = n
			return nil
		})
		_ = s.Close()
	}
}

// TestWaiterWakes checks that an Open already waiting gets the store once
// the holder closes it.
func TestWaiterWakes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ipam.db")
	holder := mustOpen(t, path, testOpts())
	got := make(chan error, 1)
	go func() {
		s, err := Open(path, Options{NoSync: true, Timeout: 10 * time.Second})
		if err == nil {
			err = s.Close()
		}
		got <- err
	}()
	time.Sleep(50 * time.Millisecond)
	if err := holder.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Errorf("waiter: %v", err)
	}
}
