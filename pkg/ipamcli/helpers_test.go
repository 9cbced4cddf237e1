package ipamcli

import (
	"bytes"
	"context"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/diktyo/diktyo/pkg/golden"
	"github.com/diktyo/diktyo/pkg/ipam"
	"github.com/diktyo/diktyo/pkg/ipam/boltstore"
)

// result is what one Run produced.
type result struct {
	stdout, stderr string
	code           int
}

// runCLI runs diktyo-ipam with $DIKTYO_IPAM_DB set to db (if not empty),
// and a state directory (where etcd writers queue) of the test's own.
func runCLI(t *testing.T, db, stdin string, args ...string) result {
	t.Helper()
	env := map[string]string{"DIKTYO_STATE_DIR": t.TempDir()}
	if db != "" {
		env[EnvDB] = db
	}
	return runEnv(t, env, stdin, args...)
}

func runEnv(t *testing.T, env map[string]string, stdin string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	var environ []string
	for k, v := range env {
		environ = append(environ, k+"="+v)
	}
	code := Run(context.Background(), append([]string{Name}, args...), environ, strings.NewReader(stdin), &out, &errb)
	return result{stdout: out.String(), stderr: errb.String(), code: code}
}

// mustRun runs a command that must succeed.
func mustRun(t *testing.T, db string, args ...string) string {
	t.Helper()
	r := runCLI(t, db, "", args...)
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("%s: exit %d, stderr %q", strings.Join(args, " "), r.code, r.stderr)
	}
	return r.stdout
}

// goldenFile checks got against testdata (pkg/golden).
func goldenFile(t *testing.T, name, got string) {
	t.Helper()
	golden.Check(t, filepath.Join("testdata", name+".golden"), []byte(got))
}

// newDB returns the path of a fresh store file in t.TempDir().
func newDB(t *testing.T) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "ipam.db")
}

// setup fills the store at db directly through pkg/ipam (faster than many
// CLI runs for big fixtures).
func setup(t *testing.T, db string, fn func(*ipam.Txn) error) {
	t.Helper()
	st, err := boltstore.Open(db, boltstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := ipam.New(st).Update(context.Background(), fn); err != nil {
		t.Fatal(err)
	}
}

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }

// fixture is a store with a few networks in every state list and info show.
func fixture(t *testing.T) string {
	t.Helper()
	db := newDB(t)
	mustRun(t, db, "network", "add", "--network=198.18.2.0/24", "--gateway=198.18.2.1",
		"--network6=2001:db8:1::/64", "--gateway6=fe80::1", "--mac-prefix=aa:00:01",
		"--add-reserved-ips=198.18.2.250,198.18.2.251", "--tags=public,dhcp", "--ranges=198.18.2.10-198.18.2.200",
		"--uuid=4f1e9a52-2c1b-4d8e-9d53-0e4c1b7a6f10", "public")
	mustRun(t, db, "network", "connect", "--nic-parameters=mode=routed,link=100", "public", "default")
	mustRun(t, db, "network", "connect", "--nic-parameters=mode=bridged,link=br0,vlan=42", "public", "rack2")
	mustRun(t, db, "network", "add", "--network=198.51.100.0/30", "p2p")
	mustRun(t, db, "network", "add", "--network6=2001:db8:2::/64", "--mac-prefix=aa:00:02", "v6only")
	mustRun(t, db, "ip", "reserve", "--owner=vm1.example.org:0", "public", "198.18.2.10")
	mustRun(t, db, "ip", "reserve", "--owner=vm1.example.org:1", "public", "198.18.2.77")
	mustRun(t, db, "ip", "reserve", "--owner=vm2.example.org:0", "public", "198.18.2.11")
	mustRun(t, db, "ip", "reserve", "--owner=vm2.example.org:0", "p2p", "198.51.100.1")
	mustRun(t, db, "mac", "reserve", "--owner=vm1.example.org:0", "public", "aa:00:01:00:00:01")
	mustRun(t, db, "mac", "reserve", "--owner=vm3.example.org:0", "v6only", "aa:00:02:00:00:03")
	return db
}

// openRaw opens the store file itself, to damage it on purpose.
func openRaw(t *testing.T, db string) *boltstore.Store {
	t.Helper()
	st, err := boltstore.Open(db, boltstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	return st
}
