package storeurl_test

import (
	"context"
	"errors"
	"io/fs"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/diktyo/diktyo/pkg/ifup"
	"github.com/diktyo/diktyo/pkg/ipam"
	"github.com/diktyo/diktyo/pkg/ipam/boltstore"
	"github.com/diktyo/diktyo/pkg/ipam/etcdstore"
	"github.com/diktyo/diktyo/pkg/ipam/etcdstore/etcdtest"
	"github.com/diktyo/diktyo/pkg/ipam/storeurl"
	"github.com/diktyo/diktyo/pkg/ipamcli"
)

// TestMain lets the test binary stand in for diktyo-ipam: invoked under
// that name (through a symlink), it runs the real command.
func TestMain(m *testing.M) {
	if filepath.Base(os.Args[0]) == storeurl.HelperName {
		os.Exit(ipamcli.Run(context.Background(), os.Args, os.Environ(), os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// helper makes a directory holding "diktyo-ipam", a link to this test
// binary, and returns the link.
func helper(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(t.TempDir(), storeurl.HelperName)
	if err := os.Symlink(exe, link); err != nil {
		t.Fatal(err)
	}
	return link
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want storeurl.Location
		str  string // String(), if not in
	}{
		{"/var/lib/diktyo/ipam.db", storeurl.Location{Kind: storeurl.Bolt, Path: "/var/lib/diktyo/ipam.db"}, ""},
		{"relative.db", storeurl.Location{Kind: storeurl.Bolt, Path: "relative.db"}, ""},
		{"bolt:/x/y.db", storeurl.Location{Kind: storeurl.Bolt, Path: "/x/y.db"}, "/x/y.db"},
		{"/odd:name", storeurl.Location{Kind: storeurl.Bolt, Path: "/odd:name"}, ""},
		{"etcd://10.0.0.1:2379/ganeti1", storeurl.Location{Kind: storeurl.Etcd, Endpoints: []string{"10.0.0.1:2379"}, Prefix: "ganeti1"}, ""},
		{"etcds://a.example.org:2379,[2001:db8::1]:2379/diktyo/c1", storeurl.Location{Kind: storeurl.Etcd,
			Endpoints: []string{"a.example.org:2379", "[2001:db8::1]:2379"}, Prefix: "diktyo/c1", TLS: true}, ""},
		{"etcd:ganeti1", storeurl.Location{Kind: storeurl.Etcd, Prefix: "ganeti1"}, ""},
		{"etcds:a/b", storeurl.Location{Kind: storeurl.Etcd, Prefix: "a/b", TLS: true}, ""},
	} {
		got, err := storeurl.Parse(tc.in)
		if err != nil || got.Kind != tc.want.Kind || got.Path != tc.want.Path || got.Prefix != tc.want.Prefix ||
			got.TLS != tc.want.TLS || !slices.Equal(got.Endpoints, tc.want.Endpoints) {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
			continue
		}
		want := tc.str
		if want == "" {
			want = tc.in
		}
		if got.String() != want {
			t.Errorf("Parse(%q).String() = %q, want %q", tc.in, got.String(), want)
		}
	}
	for _, in := range []string{"", "bolt:", "etcd://", "etcd://h:1", "etcd://h:1/", "etcd://h/p", "etcd://h:x/p",
		"etcd://:1/p", "etcd://h:1,/p", "etcd://h:1/p@q", "etcd:", "etcd:/p", "ftp://x/y", "etcd://h:99999/p"} {
		if l, err := storeurl.Parse(in); !errors.Is(err, storeurl.ErrLocation) {
			t.Errorf("Parse(%q) = %+v, %v; want ErrLocation", in, l, err)
		}
	}
}

// env returns a Getenv for the given variables.
func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func writeConfig(t *testing.T, lines ...string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "diktyo")
	if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestConfigured: $DIKTYO_IPAM_DB, else IPAM_DB of the configuration
// file, else the bbolt default.
func TestConfigured(t *testing.T) {
	cfg := writeConfig(t, "IPAM_DB=etcd://10.0.0.1:2379/ganeti1")
	empty := writeConfig(t, "# nothing")
	for _, tc := range []struct {
		getenv func(string) string
		want   string
	}{
		{env("DIKTYO_IPAM_DB", "/srv/pool.db", "DIKTYO_CONFIG", cfg), "/srv/pool.db"},
		{env("DIKTYO_IPAM_DB", "etcds://h:1/p", "DIKTYO_CONFIG", cfg), "etcds://h:1/p"},
		{env("DIKTYO_CONFIG", cfg), "etcd://10.0.0.1:2379/ganeti1"},
		{env("DIKTYO_CONFIG", empty), boltstore.DefaultPath},
	} {
		if got, err := storeurl.Configured(tc.getenv); err != nil || got != tc.want {
			t.Errorf("Configured = %q, %v; want %q", got, err, tc.want)
		}
	}
	if _, err := storeurl.Configured(env("DIKTYO_CONFIG", filepath.Join(t.TempDir(), "missing"))); err == nil {
		t.Error("Configured with a missing $DIKTYO_CONFIG succeeded")
	}
	bad := writeConfig(t, "IPAM_DB=ftp://x/y")
	if _, err := storeurl.Configured(env("DIKTYO_CONFIG", bad)); err == nil {
		t.Error("Configured accepted IPAM_DB=ftp://x/y")
	}
}

// addNetwork creates the network the lookups find.
func addNetwork(t *testing.T, st ipam.Store) {
	t.Helper()
	err := ipam.New(st).Update(context.Background(), func(tx *ipam.Txn) error {
		if err := tx.AddNetwork(ipam.Network{Name: "net1", Subnet: netip.MustParsePrefix("198.51.100.0/24"),
			Gateway: netip.MustParseAddr("198.51.100.1")}, ipam.AddOptions{}); err != nil {
			return err
		}
		return tx.Connect("net1", "default", ipam.Connection{Mode: ipam.ModeRouted, Link: "100"})
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestOpen opens the same pool in every way: bbolt, etcd in-process,
// etcd through the diktyo-ipam child, and etcds:// with the TLS files of
// the configuration file.
func TestOpen(t *testing.T) {
	ca := etcdtest.NewCA(t, "diktyo-test")
	srvCert, srvKey := ca.Issue(t, "server")
	cliCert, cliKey := ca.Issue(t, "client")
	plain := etcdtest.Start(t, etcdtest.Config{})
	secure := etcdtest.Start(t, etcdtest.Config{TLS: &etcdtest.ServerTLS{CertFile: srvCert, KeyFile: srvKey, CAFile: ca.File}})
	cfg := writeConfig(t, "IPAM_ETCD_CERT="+cliCert, "IPAM_ETCD_KEY="+cliKey, "IPAM_ETCD_CA="+ca.File)
	ctx := context.Background()
	bolt := filepath.Join(t.TempDir(), "ipam.db")
	prog := helper(t)
	for _, loc := range []string{bolt, "etcd://" + plain.Endpoint + "/open", "etcds://" + secure.Endpoint + "/open"} {
		opts := storeurl.Options{Getenv: env("DIKTYO_CONFIG", cfg), Etcd: etcdstore.OpenConf, Helper: prog, Timeout: 5 * time.Second,
			LockDir: t.TempDir()}
		st, err := storeurl.Open(ctx, loc, opts)
		if err != nil {
			t.Fatalf("Open(%s): %v", loc, err)
		}
		addNetwork(t, st)
		st.Close()
		for _, how := range []string{"in-process", "child"} {
			ro := opts
			ro.ReadOnly = true
			if how == "child" {
				ro.Etcd = nil
			}
			st, err := storeurl.Open(ctx, loc, ro)
			if err != nil {
				t.Fatalf("Open(%s) read-only %s: %v", loc, how, err)
			}
			var nets []*ipam.Network
			err = ipam.New(st).View(ctx, func(tx *ipam.Txn) (err error) {
				nets, err = tx.FindNetworks("100", netip.MustParseAddr("198.51.100.7"))
				return err
			})
			if err != nil || len(nets) != 1 || nets[0].Name != "net1" {
				t.Errorf("%s %s: FindNetworks = %v, %v", loc, how, nets, err)
			}
			if err := st.Update(ctx, func(ipam.StoreTx) error { return nil }); !errors.Is(err, ipam.ErrReadOnly) {
				t.Errorf("%s %s: Update = %v, want ErrReadOnly", loc, how, err)
			}
			if err := st.Close(); err != nil {
				t.Errorf("%s %s: Close: %v", loc, how, err)
			}
		}
	}
	t.Run("etcds without the TLS files", func(t *testing.T) {
		_, err := storeurl.Open(ctx, "etcds://"+secure.Endpoint+"/open", storeurl.Options{
			Getenv: env("DIKTYO_CONFIG", writeConfig(t, "IPAM_ETCD_CA="+ca.File)), Etcd: etcdstore.OpenConf, Timeout: 5 * time.Second})
		if !errors.Is(err, etcdstore.ErrTLS) || !strings.Contains(err.Error(), "client certificate") {
			t.Errorf("Open = %v, want ErrTLS about the client certificate", err)
		}
	})
	t.Run("missing pool", func(t *testing.T) {
		for _, how := range []string{"in-process", "child"} {
			opts := storeurl.Options{ReadOnly: true, Helper: prog, Timeout: 5 * time.Second}
			if how == "in-process" {
				opts.Etcd = etcdstore.OpenConf
			}
			_, err := storeurl.Open(ctx, "etcd://"+plain.Endpoint+"/nothing/here", opts)
			if !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("%s: Open of an empty prefix = %v, want fs.ErrNotExist", how, err)
			}
		}
	})
	t.Run("writing without etcd in-process", func(t *testing.T) {
		_, err := storeurl.Open(ctx, "etcd://"+plain.Endpoint+"/open", storeurl.Options{Helper: prog})
		if !errors.Is(err, ipam.ErrReadOnly) {
			t.Errorf("Open read-write through the child = %v, want ErrReadOnly", err)
		}
	})
	t.Run("no diktyo-ipam", func(t *testing.T) {
		_, err := storeurl.Open(ctx, "etcd://"+plain.Endpoint+"/open", storeurl.Options{ReadOnly: true,
			Helper: filepath.Join(t.TempDir(), storeurl.HelperName)})
		if err == nil || !strings.Contains(err.Error(), "needs "+storeurl.HelperName) {
			t.Errorf("Open without the helper = %v", err)
		}
	})
	t.Run("shorthand without endpoints", func(t *testing.T) {
		if _, err := storeurl.Open(ctx, "etcd:open", storeurl.Options{Etcd: etcdstore.OpenConf}); !errors.Is(err, storeurl.ErrLocation) {
			t.Errorf("Open(etcd:open) = %v, want ErrLocation", err)
		}
	})
}

// TestIfupLookup is diktyo-ifup's network lookup on an etcd pool (through
// the diktyo-ipam child it finds on PATH): it finds the network, treats a
// missing pool as no network, and fails within its timeout, saying why,
// when no quorum answers.
func TestIfupLookup(t *testing.T) {
	m := etcdtest.Start(t, etcdtest.Config{})
	t.Setenv("PATH", filepath.Dir(helper(t))+string(os.PathListSeparator)+os.Getenv("PATH"))
	loc := "etcd://" + m.Endpoint + "/ifup"
	st, err := storeurl.Open(context.Background(), loc, storeurl.Options{Etcd: etcdstore.OpenConf, LockDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	addNetwork(t, st)
	st.Close()
	ctx := context.Background()
	ip := netip.MustParseAddr("198.51.100.9")
	n, err := ifup.Pool{Path: loc}.Lookup(ctx, "100", ip, nil)
	if err != nil || n == nil || n.Name != "net1" || n.Gateway != netip.MustParseAddr("198.51.100.1") {
		t.Errorf("Lookup = %+v, %v; want net1", n, err)
	}
	if n, err := (ifup.Pool{Path: "etcd://" + m.Endpoint + "/empty"}).Lookup(ctx, "100", ip, nil); n != nil || err != nil {
		t.Errorf("Lookup in a missing pool = %+v, %v; want no network, no error", n, err)
	}
	dead := "127.0.0.1:" + strconv.Itoa(etcdtest.FreePorts(t, 1)[0])
	const timeout = time.Second
	start := time.Now()
	_, err = ifup.Pool{Path: "etcd://" + dead + "/ifup", Timeout: timeout}.Lookup(ctx, "100", ip, nil)
	took := time.Since(start)
	t.Logf("unreachable after %v: %v", took.Round(time.Millisecond), err)
	if err == nil || !strings.Contains(err.Error(), dead) || !strings.Contains(err.Error(), "unavailable") {
		t.Errorf("Lookup with etcd down = %v, want an error naming %s", err, dead)
	}
	if took > timeout+time.Second {
		t.Errorf("Lookup with etcd down took %v, timeout %v", took, timeout)
	}
}

// TestNoEtcdClient: diktyo-ifup links this package, and must not link the
// etcd client (it would add milliseconds to every process start).
func TestNoEtcdClient(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("needs the go command on PATH: %v", err)
	}
	out, err := exec.Command(goBin, "list", "-deps", "github.com/diktyo/diktyo/pkg/ipam/storeurl", "github.com/diktyo/diktyo/pkg/ifup").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.HasPrefix(dep, "go.etcd.io/etcd/client") || strings.HasPrefix(dep, "google.golang.org/grpc") {
			t.Errorf("storeurl or ifup depends on %s", dep)
		}
	}
}
