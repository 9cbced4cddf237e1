package ipamcli

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/diktyo/diktyo/pkg/ipam"
	"github.com/diktyo/diktyo/pkg/ipam/etcdstore"
	"github.com/diktyo/diktyo/pkg/ipam/etcdstore/etcdtest"
	"github.com/diktyo/diktyo/pkg/ipam/storeurl"
)

// session is the command sequence of the README, plus a /8 and the
// commands that read back.
var session = [][]string{
	{"network", "add", "--network=198.51.100.0/24", "--gateway=198.51.100.1", "--network6=2001:db8::/64",
		"--gateway6=2001:db8::1", "--mac-prefix=aa:00:00", "--add-reserved-ips=198.51.100.2", "--tags=nfdhcpd", "public"},
	{"network", "connect", "--nic-parameters=mode=routed,link=100", "public", "default"},
	{"network", "add", "--network=10.0.0.0/8", "--ranges=10.1.0.0-10.1.255.255", "big"},
	{"ip", "allocate", "--owner=vm1.example.org:0", "public"},
	{"ip", "allocate", "--owner=vm1.example.org:1", "big"},
	{"ip", "reserve", "--owner=vm2.example.org:0", "public", "198.51.100.50"},
	{"ip", "reserve", "--external", "big", "10.1.0.9"},
	{"mac", "reserve", "--owner=vm1.example.org:0", "public", "aa:00:00:00:00:01"},
	{"ip", "release", "--owner=vm1.example.org:0", "public", "198.51.100.3"},
	{"ip", "lookup", "--owner=vm2.example.org"},
	{"network", "info", "public"},
	{"network", "list"},
	{"ip", "list", "big"},
	{"ip", "reserve", "--owner=vm3.example.org:0", "public", "198.51.100.50"}, // conflict: exit 4
	{"network", "rename", "big", "large"},
	{"ip", "release-owner", "--owner=vm2.example.org"},
	{"check"},
	{"export"},
}

// TestEtcdSameAsBolt runs the same commands on a bbolt file and on etcd:
// same output, same exit status, same export.
func TestEtcdSameAsBolt(t *testing.T) {
	m := etcdtest.Start(t, etcdtest.Config{})
	bolt, etcd := newDB(t), "etcd://"+m.Endpoint+"/cli/same"
	for _, args := range session {
		b, e := runCLI(t, bolt, "", args...), runCLI(t, etcd, "", args...)
		if b != e {
			t.Errorf("%s:\nbbolt: %+v\netcd:  %+v", strings.Join(args, " "), b, e)
		}
	}
	if r := runCLI(t, etcd, "", "check"); r.code != 0 || !strings.HasPrefix(r.stdout, "consistent: 2 networks") {
		t.Errorf("check on etcd: %+v", r)
	}
}

// TestEtcdUnreachable: with no etcd answering, a command fails after
// --timeout with exit status 6 and one line naming the endpoint.
func TestEtcdUnreachable(t *testing.T) {
	dead := "127.0.0.1:" + strconv.Itoa(etcdtest.FreePorts(t, 1)[0])
	start := time.Now()
	r := runCLI(t, "", "", "--db", "etcd://"+dead+"/x", "--timeout", "1s", "ip", "allocate", "--owner=vm1", "public")
	took := time.Since(start)
	if r.code != ExitBusy || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, dead) || r.stdout != "" {
		t.Errorf("exit %d, stdout %q, stderr %q; want exit %d and one line naming %s", r.code, r.stdout, r.stderr, ExitBusy, dead)
	}
	if took > 3*time.Second {
		t.Errorf("gave up after %v with --timeout 1s", took)
	}
}

// TestMigrate moves a pool from bbolt to etcd, to another etcd prefix and
// back to bbolt: every copy checks clean and exports the same JSON as the
// original, and the copies refuse to overwrite a pool.
func TestMigrate(t *testing.T) {
	m := etcdtest.Start(t, etcdtest.Config{})
	src := fixture(t)
	for _, args := range session[:9] {
		runCLI(t, src, "", args...)
	}
	want := mustRun(t, src, "export")
	dir := t.TempDir()
	back := filepath.Join(dir, "back.db")
	e1, e2 := "etcd://"+m.Endpoint+"/cli/m1", "etcd://"+m.Endpoint+"/cli/m2"
	steps := []struct {
		db, from, to, exported string
	}{
		{"", "bolt:" + src, e1, e1},
		{e1, "etcd:cli/m1", "etcd:cli/m2", e2}, // endpoints of --db
		{"", e2, "bolt:" + back, back},
	}
	for _, s := range steps {
		args := []string{"store", "migrate", "--from", s.from, "--to", s.to}
		r := runCLI(t, s.db, "", args...)
		if r.code != 0 || !strings.Contains(r.stdout, "check clean on both sides, identical exports") {
			t.Fatalf("%s: %+v", strings.Join(args, " "), r)
		}
		t.Log(strings.TrimSpace(r.stdout))
		if got := mustRun(t, s.exported, "export"); got != want {
			t.Errorf("export of %s differs from the original", s.exported)
		}
		if r := runCLI(t, s.db, "", args...); r.code != ExitConflict {
			t.Errorf("migrating onto an existing pool: %+v, want exit %d", r, ExitConflict)
		}
	}
	if _, err := os.Stat(back + ".migrating"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s.migrating left behind: %v", back, err)
	}
	if r := mustRun(t, back, "ip", "allocate", "--owner=vm9.example.org:0", "public"); r == "" {
		t.Error("allocate in the migrated pool printed nothing")
	}
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"store", "migrate", "--from", e1}, ExitUsage},
		{[]string{"store", "migrate", "--from", e1, "--to", e1}, ExitUsage},
		{[]string{"store", "migrate", "--from", "etcd:cli/m1", "--to", "bolt:" + filepath.Join(dir, "x.db")}, ExitUsage}, // no etcd --db
		{[]string{"store", "migrate", "--from", "ftp://x/y", "--to", e1}, ExitUsage},
	} {
		if r := runCLI(t, filepath.Join(dir, "none.db"), "", tc.args...); r.code != tc.code {
			t.Errorf("%s: %+v, want exit %d", strings.Join(tc.args, " "), r, tc.code)
		}
	}
}

// TestMigrateRefusesInconsistent: a source that check finds problems in
// is not copied.
func TestMigrateRefusesInconsistent(t *testing.T) {
	db := fixture(t)
	st := openRaw(t, db)
	err := st.Update(t.Context(), func(tx ipam.StoreTx) error {
		return tx.Put(append([]byte("o/public/"), 198, 18, 2, 99), []byte("instance\x00ghost\x00"))
	})
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	to := filepath.Join(t.TempDir(), "copy.db")
	r := runCLI(t, "", "", "store", "migrate", "--from", db, "--to", to)
	if r.code != ExitInconsistent || !strings.Contains(r.stderr, "problems") {
		t.Errorf("%+v, want exit %d", r, ExitInconsistent)
	}
	if _, err := os.Stat(to); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("target written: %v", err)
	}
}

// TestMigrateDiscard: a copy that fails its verification is removed, on
// bbolt and on etcd.
func TestMigrateDiscard(t *testing.T) {
	m := etcdtest.Start(t, etcdtest.Config{})
	ctx := context.Background()
	src, other := fixture(t), newDB(t)
	mustRun(t, other, "network", "add", "--network=198.51.100.0/24", "other")
	open := func(db string) ipam.Store {
		st, err := storeurl.Open(ctx, db, storeurl.Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	fill := func(put func(k, v []byte) error) error {
		return open(src).View(ctx, func(tx ipam.StoreTx) error { return tx.Scan(nil, put) })
	}
	target := filepath.Join(t.TempDir(), "t.db")
	dst, _, discard, err := copyToBolt(target, storeurl.Options{}, fill)
	if err != nil {
		t.Fatal(err)
	}
	from, _ := storeurl.Parse(other)
	to, _ := storeurl.Parse(target)
	if err := verify(ctx, open(other), dst, from, to, &migration{}); !errors.Is(err, errVerify) {
		t.Errorf("verify of different pools = %v, want errVerify", err)
	}
	if err := discard(); err != nil {
		t.Fatal(err)
	}
	left, _ := filepath.Glob(target + "*")
	if len(left) != 0 {
		t.Errorf("left behind: %v", left)
	}
	eto, _ := storeurl.Parse("etcd://" + m.Endpoint + "/cli/discard")
	_, discardEtcd, err := copyToEtcd(ctx, eto, storeurl.Options{}, fill)
	if err != nil {
		t.Fatal(err)
	}
	if err := discardEtcd(); err != nil {
		t.Fatal(err)
	}
	if _, err := storeurl.Open(ctx, eto.String(), storeurl.Options{ReadOnly: true, Etcd: etcdstore.OpenConf}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("etcd pool after discard: %v, want none", err)
	}
}
