// Package etcdtest starts real etcd members for tests, with the etcd server
// embedded from go.etcd.io/etcd/server/v3/embed: one member inside the test
// process (Start), or a cluster whose members are child processes (the
// test binary re-executed through Main) that a test can kill with SIGKILL,
// restart and cut off from their peers (StartCluster). It also issues TLS
// certificates (NewCA).
//
// Everything listens on loopback only, on ports the kernel picks, and is
// removed by t.Cleanup. It is test code: no binary may import it (it would
// link the whole etcd server), and it must never import pkg/ipam's users.
package etcdtest

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"testing"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// StartTimeout bounds how long a member may take to become ready.
const StartTimeout = 60 * time.Second

// Config is what a test can set on its members.
type Config struct {
	// MaxTxnOps and MaxRequestBytes override etcd's defaults (128 and
	// 1.5 MiB) when non-zero.
	MaxTxnOps       uint
	MaxRequestBytes uint
	// TLS, when set, makes the client port TLS-only with client
	// certificates required.
	TLS *ServerTLS
	// Fsync keeps etcd's fsyncs; by default tests skip them (a killed
	// process loses nothing the kernel has).
	Fsync bool
	// TickMs and ElectionMs override the raft timing (default 50 and 500,
	// faster than etcd's 100 and 1000 so that failovers are quick).
	TickMs, ElectionMs uint
}

// ServerTLS names the files of a member's client-side TLS.
type ServerTLS struct {
	CertFile, KeyFile string
	// CAFile is the CA whose client certificates are accepted.
	CAFile string
}

// Member is one etcd member running inside the test process.
type Member struct {
	// Endpoint is the client address, 127.0.0.1:PORT.
	Endpoint string
	etcd     *embed.Etcd
}

// Start starts a single-member cluster in this process, with its data in
// a temporary directory, and stops it when the test ends.
func Start(t testing.TB, c Config) *Member {
	t.Helper()
	ports := FreePorts(t, 2)
	cfg := embedConfig("m0", t.TempDir(), ports[0], ports[1], c)
	cfg.InitialCluster = "m0=" + cfg.AdvertisePeerUrls[0].String()
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		t.Fatalf("start etcd: %v", err)
	}
	t.Cleanup(e.Close)
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		t.Fatalf("etcd failed: %v", err)
	case <-time.After(StartTimeout):
		t.Fatalf("etcd not ready after %v", StartTimeout)
	}
	return &Member{Endpoint: "127.0.0.1:" + strconv.Itoa(ports[0]), etcd: e}
}

// Stop stops the member at once (its data stays until the test ends).
func (m *Member) Stop() { m.etcd.Close() }

// embedConfig is a member's configuration: client port cport on
// 127.0.0.1, peer port pport on 127.0.0.1 (advertised as peerHost:pport),
// no logging.
func embedConfig(name, dir string, cport, pport int, c Config) *embed.Config {
	cfg := embed.NewConfig()
	cfg.Name = name
	cfg.Dir = dir
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	cfg.LogLevel = "error"
	scheme := "http"
	if c.TLS != nil {
		scheme = "https"
		cfg.ClientTLSInfo = transport.TLSInfo{
			CertFile: c.TLS.CertFile, KeyFile: c.TLS.KeyFile,
			TrustedCAFile: c.TLS.CAFile, ClientCertAuth: true,
		}
	}
	curl := url.URL{Scheme: scheme, Host: "127.0.0.1:" + strconv.Itoa(cport)}
	purl := url.URL{Scheme: "http", Host: "127.0.0.1:" + strconv.Itoa(pport)}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{curl}, []url.URL{curl}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{purl}, []url.URL{purl}
	cfg.TickMs, cfg.ElectionMs = 50, 500
	if c.TickMs != 0 {
		cfg.TickMs = c.TickMs
	}
	if c.ElectionMs != 0 {
		cfg.ElectionMs = c.ElectionMs
	}
	if c.MaxTxnOps != 0 {
		cfg.MaxTxnOps = c.MaxTxnOps
	}
	if c.MaxRequestBytes != 0 {
		cfg.MaxRequestBytes = c.MaxRequestBytes
	}
	cfg.UnsafeNoFsync = !c.Fsync
	cfg.Metrics = "basic"
	return cfg
}

// FreePorts returns n distinct TCP ports that were free on 127.0.0.1.
func FreePorts(t testing.TB, n int) []int {
	t.Helper()
	ports := make([]int, 0, n)
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("free port: %v", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

// initialCluster renders NAME=URL,... for members m0..m(n-1).
func initialCluster(urls []string) string {
	s := ""
	for i, u := range urls {
		if i > 0 {
			s += ","
		}
		s += fmt.Sprintf("m%d=%s", i, u)
	}
	return s
}
