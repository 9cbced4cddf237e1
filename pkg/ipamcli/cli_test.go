package ipamcli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/diktyo/diktyo/pkg/ipam"
	"github.com/diktyo/diktyo/pkg/ipam/boltstore"
	"github.com/diktyo/diktyo/pkg/ipam/etcdstore"
)

func TestExitCodeOfErrors(t *testing.T) {
	tests := []struct {
		err  error
		want int
	}{
		{nil, ExitOK},
		{errors.New("disk on fire"), ExitError},
		{usagef("bad"), ExitUsage},
		{fmt.Errorf("x: %w", ipam.ErrInvalid), ExitUsage},
		{fmt.Errorf("x: %w", ipam.ErrOutOfNetwork), ExitUsage},
		{fmt.Errorf("x: %w", ipam.ErrNoIPv4), ExitUsage},
		{fmt.Errorf("x: %w", ipam.ErrNotFound), ExitNotFound},
		{fmt.Errorf("x: %w", ipam.ErrExists), ExitConflict},
		{fmt.Errorf("x: %w", ipam.ErrOverlap), ExitConflict},
		{fmt.Errorf("x: %w", ipam.ErrConflict), ExitConflict},
		{fmt.Errorf("x: %w", ipam.ErrNotOwner), ExitConflict},
		{fmt.Errorf("x: %w", ipam.ErrInUse), ExitConflict},
		{fmt.Errorf("x: %w", ipam.ErrExhausted), ExitExhausted},
		{fmt.Errorf("x: %w", ipam.ErrBusy), ExitBusy},
		{fmt.Errorf("x: %w", ipam.ErrCorrupt), ExitStore},
		{fmt.Errorf("x: %w", ipam.ErrSchemaTooNew), ExitStore},
		{fmt.Errorf("x: %w", errInconsistent), ExitInconsistent},
		{fmt.Errorf("x: %w", etcdstore.ErrUnavailable), ExitBusy},
		{fmt.Errorf("x: %w: %w", etcdstore.ErrUnknownOutcome, etcdstore.ErrUnavailable), ExitUnknown},
		{fmt.Errorf("x: %w", etcdstore.ErrNotEmpty), ExitConflict},
		{errors.Join(fmt.Errorf("x: %w", ipam.ErrNotFound), errors.New("close")), ExitNotFound},
	}
	for _, tt := range tests {
		if got := ExitCode(tt.err); got != tt.want {
			t.Errorf("ExitCode(%v) = %d, want %d", tt.err, got, tt.want)
		}
	}
}

// TestExitCodes runs each class of failure through the CLI: one line on
// stderr, nothing on stdout, the documented status.
func TestExitCodes(t *testing.T) {
	db := fixture(t)
	mustRun(t, db, "network", "add", "--network=198.18.4.0/30", "--gateway=198.18.4.1", "tiny")
	mustRun(t, db, "ip", "allocate", "--owner=vm9", "tiny")

	garbage := filepath.Join(t.TempDir(), "garbage.db")
	if err := os.WriteFile(garbage, []byte(strings.Repeat("not a bbolt file\n", 1000)), 0o644); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		db   string
		args []string
		want int
		msg  string
	}{
		{"unknown flag", db, []string{"network", "add", "--bogus", "x"}, ExitUsage, "flag provided but not defined"},
		{"unknown command", db, []string{"netwrok"}, ExitUsage, `unknown command "netwrok"`},
		{"missing argument", db, []string{"ip", "allocate", "--owner=vm1"}, ExitUsage, "wrong number of arguments"},
		{"missing owner", db, []string{"ip", "allocate", "public"}, ExitUsage, "--owner is required"},
		{"unknown field", db, []string{"network", "list", "-o", "name,bogus"}, ExitUsage, `unknown field "bogus"`},
		{"bad CIDR", db, []string{"network", "add", "--network=10.0.0/24", "x"}, ExitUsage, "not an IPv4 CIDR"},
		{"slash 31", db, []string{"network", "add", "--network=10.9.0.0/31", "x"}, ExitUsage, "prefix length must be /8 to /30"},
		{"gateway outside", db, []string{"network", "add", "--network=10.9.0.0/24", "--gateway=10.8.0.1", "x"}, ExitUsage, "gateway 10.8.0.1"},
		{"bad MAC prefix", db, []string{"network", "add", "--network=10.9.0.0/24", "--mac-prefix=01:00:00", "x"}, ExitUsage, "multicast"},
		{"bad owner", db, []string{"ip", "allocate", "--owner=a b", "public"}, ExitUsage, "--owner"},
		{"address outside", db, []string{"ip", "reserve", "--owner=vm1", "public", "10.0.0.1"}, ExitUsage, "outside the network"},
		{"no IPv4", db, []string{"ip", "allocate", "--owner=vm1", "v6only"}, ExitUsage, "no IPv4"},
		{"unknown network", db, []string{"network", "info", "nope"}, ExitNotFound, "network nope: not found"},
		{"unknown network ip", db, []string{"ip", "allocate", "--owner=vm1", "nope"}, ExitNotFound, "not found"},
		{"not connected", db, []string{"network", "disconnect", "public", "nogroup"}, ExitNotFound, "not connected"},
		{"lookup nowhere", db, []string{"ip", "lookup", "10.99.0.1"}, ExitNotFound, "in no network"},
		{"exists", db, []string{"network", "add", "--network=10.9.0.0/24", "public"}, ExitConflict, "already exists"},
		{"overlap", db, []string{"network", "add", "--network=198.18.2.128/25", "x"}, ExitConflict, "overlaps"},
		{"reserved", db, []string{"ip", "reserve", "--owner=vm5", "public", "198.18.2.10"}, ExitConflict, "held by vm1.example.org:0"},
		{"not owner", db, []string{"ip", "release", "--owner=vm5", "public", "198.18.2.10"}, ExitConflict, "held by another owner"},
		{"in use", db, []string{"network", "remove", "public"}, ExitConflict, "in use"},
		{"exhausted", db, []string{"ip", "allocate", "--owner=vm10", "tiny"}, ExitExhausted, "exhausted"},
		{"corrupt", garbage, []string{"network", "list"}, ExitStore, "corrupt"},
		{"missing store", filepath.Join(t.TempDir(), "none.db"), []string{"network", "list"}, ExitError, "none.db"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, tt.db, "", tt.args...)
			if r.code != tt.want {
				t.Errorf("exit %d, want %d (stderr %q)", r.code, tt.want, r.stderr)
			}
			if !strings.HasPrefix(r.stderr, Name+": ") || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, tt.msg) {
				t.Errorf("stderr %q: want one line %q... containing %q", r.stderr, Name+": ", tt.msg)
			}
			if r.stdout != "" {
				t.Errorf("stdout %q, want nothing", r.stdout)
			}
		})
	}
}

func TestBusy(t *testing.T) {
	db := fixture(t)
	st, err := boltstore.Open(db, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	start := time.Now()
	r := runCLI(t, db, "", "--timeout=100ms", "network", "list")
	if r.code != ExitBusy || !strings.Contains(r.stderr, "busy") {
		t.Errorf("exit %d, stderr %q; want %d busy", r.code, r.stderr, ExitBusy)
	}
	// --timeout also works after the subcommand.
	r = runCLI(t, db, "", "ip", "allocate", "--owner=vm1", "--timeout=100ms", "public")
	if r.code != ExitBusy {
		t.Errorf("exit %d, stderr %q; want %d", r.code, r.stderr, ExitBusy)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v; --timeout ignored?", d)
	}
}

// TestBadInputChangesNothing checks that failing commands leave the store
// as it was (and do not create a missing store).
func TestBadInputChangesNothing(t *testing.T) {
	db := fixture(t)
	before := mustRun(t, db, "export")
	bad := [][]string{
		{"network", "add", "--network=10.0.0/24", "x"},
		{"network", "add", "--network=10.9.0.0/24", "--gateway=10.8.0.1", "x"},
		{"network", "add", "--network=10.9.0.0/31", "x"},
		{"network", "add", "--network=10.9.0.0/24", "--mac-prefix=zz:00:00", "x"},
		{"network", "add", "--network=10.9.0.0/24", "--add-reserved-ips=10.9.0.5,10.10.0.1", "x"},
		{"network", "modify", "--gateway=198.18.2.10", "public"},
		{"network", "modify", "--add-reserved-ips=198.18.2.30,198.18.2.10", "public"},
		{"network", "modify", "--remove-reserved-ips=198.18.2.250,198.18.2.10", "public"},
		{"network", "modify", "--gateway6=2001:db8:9::1", "public"},
		{"network", "modify", "--ranges=10.0.0.1-10.0.0.9", "public"},
		{"network", "modify"},
		{"network", "connect", "--nic-parameters=mode=routed,link=1", "nope", "default"},
		{"network", "connect", "--nic-parameters=mode=nat,link=1", "public", "g2"},
		{"ip", "reserve", "--owner=vm7", "public", "198.18.2.40", "198.18.2.10"},
		{"ip", "allocate", "--owner=vm1:", "nope"},
		{"ip", "allocate", "--owner=:0", "public"},
		{"ip", "release", "--owner=vm5", "public", "198.18.2.10"},
		{"ip", "reassign", "--from=nobody", "--to=vm1"},
		{"mac", "reserve", "--owner=vm1", "public", "aa:00:09:00:00:01"},
		{"network", "rename", "public", "bad name"},
		{"network", "remove", "public"},
		{"import"},
	}
	for _, args := range bad {
		r := runCLI(t, db, "{", args...)
		if r.code == 0 || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("%s: exit %d, stderr %q; want a failure on one line", strings.Join(args, " "), r.code, r.stderr)
		}
	}
	if after := mustRun(t, db, "export"); after != before {
		t.Errorf("the store changed:\n%s\n---\n%s", before, after)
	}
	missing := filepath.Join(t.TempDir(), "sub", "ipam.db")
	if r := runCLI(t, missing, "", "network", "add", "--network=10.0.0.0/33", "x"); r.code != ExitUsage {
		t.Errorf("exit %d, want %d", r.code, ExitUsage)
	}
	if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("bad input created the store: %v", err)
	}
}

func TestAllocatePrintsOnlyTheAddress(t *testing.T) {
	db := fixture(t)
	for _, want := range []string{"198.18.2.12\n", "198.18.2.13\n"} {
		r := runCLI(t, db, "", "ip", "allocate", "--owner=vm4:0", "public")
		if r.code != 0 || r.stdout != want || r.stderr != "" {
			t.Errorf("got exit %d stdout %q stderr %q, want %q only", r.code, r.stdout, r.stderr, want)
		}
	}
	// Flags may follow the arguments, as with gnt-* commands.
	if got := mustRun(t, db, "ip", "allocate", "p2p", "--owner", "vm4:1"); got != "198.51.100.2\n" {
		t.Errorf("got %q", got)
	}
	mac := mustRun(t, db, "mac", "generate", "--owner=vm4:0", "public")
	if !regexp.MustCompile(`^aa:00:01:[0-9a-f]{2}:[0-9a-f]{2}:[0-9a-f]{2}\n$`).MatchString(mac) {
		t.Errorf("mac generate printed %q", mac)
	}
	got := mustRun(t, db, "ip", "lookup", "--owner=vm4", "--no-headers", "-o", "ip,mac,owner")
	// Rows are sorted by network, so p2p comes first.
	want := "198.51.100.2 - vm4:1\n198.18.2.12 - vm4:0\n198.18.2.13 - vm4:0\n- " + strings.TrimSpace(mac) + " vm4:0\n"
	if strings.Join(strings.Fields(got), " ") != strings.Join(strings.Fields(want), " ") {
		t.Errorf("lookup:\n%s\nwant\n%s", got, want)
	}
}

func TestStorePath(t *testing.T) {
	dir := t.TempDir()
	envDB, flagDB := filepath.Join(dir, "env.db"), filepath.Join(dir, "flag.db")
	env := map[string]string{EnvDB: envDB}
	if r := runEnv(t, env, "", "network", "add", "--network=10.1.0.0/24", "fromenv"); r.code != 0 {
		t.Fatal(r.stderr)
	}
	if r := runEnv(t, env, "", "--db", flagDB, "network", "add", "--network=10.2.0.0/24", "fromflag"); r.code != 0 {
		t.Fatal(r.stderr)
	}
	if r := runEnv(t, env, "", "network", "list", "--db="+flagDB, "-o", "name", "--no-headers"); r.stdout != "fromflag\n" {
		t.Errorf("--db after the command: %q %q", r.stdout, r.stderr)
	}
	if r := runEnv(t, env, "", "network", "list", "-o", "name", "--no-headers"); r.stdout != "fromenv\n" {
		t.Errorf("$%s: %q %q", EnvDB, r.stdout, r.stderr)
	}
}

// TestExportImportRoundTrip: export, import into an empty store, export
// again: byte-identical.
func TestExportImportRoundTrip(t *testing.T) {
	db := fixture(t)
	mustRun(t, db, "ip", "allocate", "--owner=vm4:0", "public") // moves the cursor
	mustRun(t, db, "mac", "generate", "--owner=vm4:0", "public")
	first := mustRun(t, db, "export")

	db2 := newDB(t)
	if r := runCLI(t, db2, first, "import"); r.code != 0 || r.stdout != "" {
		t.Fatalf("import: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
	if second := mustRun(t, db2, "export"); second != first {
		t.Errorf("export after import differs:\n%s\n---\n%s", first, second)
	}
	// Importing again conflicts; --replace succeeds; a file works too.
	if r := runCLI(t, db2, first, "import"); r.code != ExitConflict {
		t.Errorf("second import: exit %d %q", r.code, r.stderr)
	}
	file := filepath.Join(t.TempDir(), "dump.json")
	mustRun(t, db, "export", file)
	mustRun(t, db2, "import", "--replace", file)
	if third := mustRun(t, db2, "export"); third != first {
		t.Errorf("export after import --replace differs")
	}
	if r := runCLI(t, db2, `{"schema": 99, "networks": []}`, "import"); r.code != ExitStore {
		t.Errorf("newer schema: exit %d %q", r.code, r.stderr)
	}
}

func TestModifyAndLifecycle(t *testing.T) {
	db := fixture(t)
	mustRun(t, db, "network", "modify", "--gateway=198.18.2.254", "--add-tags=new", "--remove-tags=dhcp",
		"--remove-reserved-ips=198.18.2.250", "--add-reserved-ips=198.18.2.20", "--ranges=none", "--uuid=none",
		"--network6=none", "public")
	got := mustRun(t, db, "network", "list", "--separator=;", "--no-headers",
		"-o", "gateway,network6,gateway6,tags,ranges,uuid,external_reservations,alloc_count", "public")
	if want := "198.18.2.254;-;-;new,public;;-;198.18.2.20, 198.18.2.251;248\n"; got != want {
		t.Errorf("after modify: %q, want %q", got, want)
	}
	mustRun(t, db, "network", "modify", "--gateway=none", "--mac-prefix=none", "--tags=none", "public")
	got = mustRun(t, db, "network", "list", "--separator=;", "--no-headers", "-o", "gateway,mac_prefix,tags,free_count", "public")
	if want := "-;-;;249\n"; got != want {
		t.Errorf("after clearing: %q, want %q", got, want)
	}
	// Old-style connect NAME GROUP MODE LINK, then disconnect.
	mustRun(t, db, "network", "connect", "p2p", "g1", "routed", "tap-rt")
	mustRun(t, db, "network", "connect", "-N", "link=br9", "p2p", "g2", "g3")
	got = mustRun(t, db, "network", "list", "--no-headers", "-o", "group_list", "p2p")
	if want := "g1 (routed, tap-rt, ), g2 (bridged, br9, ), g3 (bridged, br9, )\n"; got != want {
		t.Errorf("groups: %q, want %q", got, want)
	}
	mustRun(t, db, "network", "disconnect", "p2p", "g1", "g3")
	// Reassign, release-owner.
	got = mustRun(t, db, "ip", "reassign", "--from=vm1.example.org", "--to=vm1-renamed", "--no-headers", "--separator= ", "-o", "ip,mac,owner")
	if want := "198.18.2.10 - vm1-renamed:0\n198.18.2.77 - vm1-renamed:1\n- aa:00:01:00:00:01 vm1-renamed:0\n"; got != want {
		t.Errorf("reassign: %q, want %q", got, want)
	}
	got = mustRun(t, db, "ip", "release-owner", "--owner=vm1-renamed:1", "--no-headers", "-o", "ip")
	if got != "198.18.2.77\n" {
		t.Errorf("release-owner: %q", got)
	}
	mustRun(t, db, "ip", "release", "--owner=vm1-renamed:1", "public", "198.18.2.77") // already free: fine
	mustRun(t, db, "ip", "release", "public", "198.18.2.10")                          // admin release
	mustRun(t, db, "mac", "release", "aa:00:01:00:00:01")
	mustRun(t, db, "network", "rename", "p2p", "link1")
	mustRun(t, db, "network", "remove", "--force", "link1")
	if r := runCLI(t, db, "", "network", "remove", "public"); r.code != ExitConflict {
		t.Errorf("remove in use: exit %d", r.code)
	}
	mustRun(t, db, "ip", "release-owner", "--owner=vm2.example.org")
	mustRun(t, db, "network", "remove", "public")
	if got := mustRun(t, db, "network", "list", "-o", "name", "--no-headers"); got != "v6only\n" {
		t.Errorf("left: %q", got)
	}
	if got := mustRun(t, db, "check"); got != "consistent: 1 networks\n" {
		t.Errorf("check: %q", got)
	}
}

func TestEUI64(t *testing.T) {
	db := fixture(t)
	const want = "2001:db8:1:0:a800:1ff:fe12:3456\n"
	if got := mustRun(t, db, "eui64", "--network6=2001:db8:1::/64", "aa:00:01:12:34:56"); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got := mustRun(t, db, "eui64", "public", "aa:00:01:12:34:56"); got != want {
		t.Errorf("via network: got %q, want %q", got, want)
	}
	if r := runCLI(t, db, "", "eui64", "p2p", "aa:00:01:12:34:56"); r.code != ExitUsage {
		t.Errorf("network without IPv6: exit %d %q", r.code, r.stderr)
	}
}

func TestCompletion(t *testing.T) {
	db := fixture(t)
	for shell, want := range map[string]string{
		"bash": "complete -o bashdefault -o default -F _diktyo_ipam diktyo-ipam",
		"zsh":  "compdef _diktyo_ipam diktyo-ipam",
		"fish": "network list --no-headers -o name",
	} {
		if got := mustRun(t, db, "completion", shell); !strings.Contains(got, want) {
			t.Errorf("completion %s lacks %q", shell, want)
		}
	}
	if r := runCLI(t, db, "", "completion", "tcsh"); r.code != ExitUsage {
		t.Errorf("tcsh: exit %d", r.code)
	}
	if got := mustRun(t, db, "network", "info", "--generate-bash-completion"); got != "p2p\npublic\nv6only\n" {
		t.Errorf("network names: %q", got)
	}
	if got := mustRun(t, db, "ip", "allocate", "--ow", "--generate-bash-completion"); got != "--owner\n" {
		t.Errorf("flags: %q", got)
	}
	if got := mustRun(t, db, "--generate-bash-completion"); !strings.Contains(got, "network\nip\nmac\n") {
		t.Errorf("commands: %q", got)
	}
	if got := mustRun(t, db, "network", "--generate-bash-completion"); !strings.Contains(got, "connect\n") {
		t.Errorf("subcommands: %q", got)
	}
}

func TestVersionAndUsageLine(t *testing.T) {
	db := filepath.Join(t.TempDir(), "ipam.db")
	r := runCLI(t, db, "", "--version")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "diktyo-ipam version ") {
		t.Fatalf("--version: exit %d, stdout %q", r.code, r.stdout)
	}
	r = runCLI(t, db, "", "--bogus")
	if r.code != ExitUsage || r.stderr != "diktyo-ipam: flag provided but not defined: -bogus (see --help)\n" {
		t.Fatalf("--bogus: exit %d, stderr %q", r.code, r.stderr)
	}
}
