package etcdtest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"testing"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"golang.org/x/sys/unix"
)

// envMember carries a child member's spec (JSON) from StartCluster.
const envMember = "DIKTYO_ETCDTEST_MEMBER"

// readyLine is what a child member prints on stdout once it serves.
const readyLine = "etcdtest: ready"

// Main is TestMain for packages that use StartCluster: in a child started
// by StartCluster it runs the etcd member until its stdin closes (so it
// never outlives the test) and exits; otherwise it runs the tests.
func Main(m *testing.M) {
	if spec := os.Getenv(envMember); spec != "" {
		os.Exit(runMember(spec))
	}
	os.Exit(m.Run())
}

// memberSpec is what a child member needs to start.
type memberSpec struct {
	Name           string
	Dir            string
	ClientPort     int
	PeerPort       int
	InitialCluster string
	Existing       bool   // restart: the data directory has the cluster
	Hosts          string // file bind-mounted over /etc/hosts
	Config         Config
}

func runMember(raw string) int {
	var spec memberSpec
	if err := json.Unmarshal([]byte(raw), &spec); err != nil {
		fmt.Fprintln(os.Stderr, "etcdtest member: bad spec:", err)
		return 2
	}
	// StartCluster made this process in a mount namespace of its own: its
	// view of the member names (and so of the peer proxies) is private.
	if spec.Hosts != "" {
		if err := unix.Mount(spec.Hosts, "/etc/hosts", "", unix.MS_BIND, ""); err != nil {
			fmt.Fprintln(os.Stderr, "etcdtest member: bind-mount hosts file:", err)
			return 2
		}
	}
	cfg := embedConfig(spec.Name, spec.Dir, spec.ClientPort, spec.PeerPort, spec.Config)
	cfg.AdvertisePeerUrls[0].Host = fmt.Sprintf("%s:%d", spec.Name, spec.PeerPort)
	cfg.InitialCluster = spec.InitialCluster
	cfg.InitialClusterToken = "diktyo-etcdtest"
	if spec.Existing {
		cfg.ClusterState = embed.ClusterStateFlagExisting
	}
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "etcdtest member: start:", err)
		return 1
	}
	defer e.Close()
	select {
	case <-e.Server.ReadyNotify():
		fmt.Println(readyLine)
	case err := <-e.Err():
		fmt.Fprintln(os.Stderr, "etcdtest member:", err)
		return 1
	case <-time.After(StartTimeout):
		fmt.Fprintln(os.Stderr, "etcdtest member: not ready after", StartTimeout)
		return 1
	}
	stdinClosed := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, bufio.NewReader(os.Stdin))
		close(stdinClosed)
	}()
	select {
	case <-stdinClosed:
		return 0
	case err := <-e.Err():
		fmt.Fprintln(os.Stderr, "etcdtest member:", err)
		return 1
	}
}
