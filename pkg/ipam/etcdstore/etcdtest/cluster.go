package etcdtest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Cluster is a multi-member etcd cluster whose members are child
// processes on loopback. Peer traffic from member i to member j goes
// through a proxy of its own (each member resolves the others' names, in
// a private /etc/hosts, to the proxies it uses), so that Partition can cut
// one member off from all its peers in both directions while clients still
// reach it.
type Cluster struct {
	t       testing.TB
	dir     string
	members []*proc
	proxies map[[2]int]*proxy // [from, to]
}

// proc is one member process.
type proc struct {
	spec  memberSpec
	cmd   *exec.Cmd
	stdin io.WriteCloser
	done  chan struct{} // closed when the process has exited
	log   string
}

// StartCluster starts an n-member cluster (n ≤ 9) and stops it when the
// test ends. It needs root: each member runs in a mount namespace of its
// own to get its private /etc/hosts.
func StartCluster(t testing.TB, n int, c Config) *Cluster {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: etcd members run in mount namespaces of their own")
	}
	if n < 1 || n > 9 {
		t.Fatalf("StartCluster: %d members, want 1 to 9", n)
	}
	cl := &Cluster{t: t, dir: t.TempDir(), proxies: map[[2]int]*proxy{}}
	ports := FreePorts(t, 2*n)
	urls := make([]string, n)
	for i := range n {
		urls[i] = fmt.Sprintf("http://m%d:%d", i, ports[n+i])
	}
	for i := range n {
		hosts := filepath.Join(cl.dir, fmt.Sprintf("hosts%d", i))
		var b strings.Builder
		b.WriteString("127.0.0.1 localhost\n")
		for j := range n {
			addr := "127.0.0.1"
			if j != i {
				// Member i reaches member j through proxy [i, j] on its
				// own loopback address, 127.1.i.j, at j's peer port.
				addr = fmt.Sprintf("127.1.%d.%d", i, j)
				p, err := newProxy(fmt.Sprintf("%s:%d", addr, ports[n+j]), fmt.Sprintf("127.0.0.1:%d", ports[n+j]))
				if err != nil {
					t.Fatalf("peer proxy m%d->m%d: %v", i, j, err)
				}
				t.Cleanup(p.close)
				cl.proxies[[2]int{i, j}] = p
			}
			fmt.Fprintf(&b, "%s m%d\n", addr, j)
		}
		if err := os.WriteFile(hosts, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		cl.members = append(cl.members, &proc{spec: memberSpec{
			Name: fmt.Sprintf("m%d", i), Dir: filepath.Join(cl.dir, fmt.Sprintf("data%d", i)),
			ClientPort: ports[i], PeerPort: ports[n+i], InitialCluster: initialCluster(urls),
			Hosts: hosts, Config: c,
		}})
	}
	t.Cleanup(func() {
		for i := range cl.members {
			cl.Kill(i)
		}
	})
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { errs[i] = cl.start(i) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	return cl
}

// Endpoints returns the members' client addresses, HOST:PORT.
func (cl *Cluster) Endpoints() []string {
	eps := make([]string, len(cl.members))
	for i := range cl.members {
		eps[i] = cl.Endpoint(i)
	}
	return eps
}

// Endpoint returns member i's client address.
func (cl *Cluster) Endpoint(i int) string {
	return "127.0.0.1:" + strconv.Itoa(cl.members[i].spec.ClientPort)
}

// start runs member i and waits until it serves.
func (cl *Cluster) start(i int) error {
	m := cl.members[i]
	spec, _ := json.Marshal(m.spec)
	m.log = filepath.Join(cl.dir, fmt.Sprintf("m%d.log", i))
	logf, err := os.OpenFile(m.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envMember+"="+string(spec), "GODEBUG=netdns=go")
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if m.stdin, err = cmd.StdinPipe(); err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start etcd member m%d: %w", i, err)
	}
	m.cmd, m.done = cmd, make(chan struct{})
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		ok := false
		for sc.Scan() {
			if sc.Text() == readyLine && !ok {
				ok = true
				ready <- true
			}
		}
		if !ok {
			ready <- false
		}
	}()
	go func() { _ = cmd.Wait(); close(m.done) }()
	select {
	case ok := <-ready:
		if ok {
			return nil
		}
	case <-time.After(StartTimeout):
	}
	log, _ := os.ReadFile(m.log)
	return fmt.Errorf("etcd member m%d did not start: %s", i, tail(log, 2000))
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return strings.TrimSpace(string(b))
}

// Kill kills member i with SIGKILL and waits for it to exit; killing a
// member that is not running does nothing.
func (cl *Cluster) Kill(i int) {
	m := cl.members[i]
	if m.cmd == nil {
		return
	}
	_ = m.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-m.done:
	case <-time.After(10 * time.Second):
		cl.t.Errorf("etcd member m%d survived SIGKILL", i)
	}
	m.cmd = nil
}

// Restart starts the killed member i again on its data directory and waits
// until it serves (which needs a quorum).
func (cl *Cluster) Restart(i int) {
	cl.t.Helper()
	cl.members[i].spec.Existing = true
	if err := cl.start(i); err != nil {
		cl.t.Fatal(err)
	}
}

// Partition cuts member i off from every peer, both ways: its open peer
// connections are closed and new ones hang until Heal. Clients still
// reach it.
func (cl *Cluster) Partition(i int) { cl.setPartition(i, true) }

// Heal undoes Partition.
func (cl *Cluster) Heal(i int) { cl.setPartition(i, false) }

func (cl *Cluster) setPartition(i int, cut bool) {
	for k, p := range cl.proxies {
		if k[0] == i || k[1] == i {
			p.setCut(cut)
		}
	}
}

// proxy forwards TCP connections from a listening address to a target.
// While cut, it closes the connections it carries and holds new ones
// without forwarding a byte, like a network that drops every packet.
type proxy struct {
	l      net.Listener
	target string

	mu    sync.Mutex
	cut   bool
	conns map[net.Conn]struct{}
	held  []net.Conn
}

func newProxy(listen, target string) (*proxy, error) {
	l, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, err
	}
	p := &proxy{l: l, target: target, conns: map[net.Conn]struct{}{}}
	go p.serve()
	return p, nil
}

func (p *proxy) serve() {
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.cut {
			p.held = append(p.held, c)
			p.mu.Unlock()
			continue
		}
		p.mu.Unlock()
		go p.forward(c)
	}
}

func (p *proxy) forward(c net.Conn) {
	u, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	if p.cut {
		p.mu.Unlock()
		c.Close()
		u.Close()
		return
	}
	p.conns[c], p.conns[u] = struct{}{}, struct{}{}
	p.mu.Unlock()
	var wg sync.WaitGroup
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		dst.Close()
		src.Close()
	}
	wg.Go(func() { pipe(u, c) })
	wg.Go(func() { pipe(c, u) })
	wg.Wait()
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, u)
	p.mu.Unlock()
}

func (p *proxy) setCut(cut bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = cut
	if cut {
		for c := range p.conns {
			c.Close()
		}
		return
	}
	for _, c := range p.held {
		c.Close()
	}
	p.held = nil
}

func (p *proxy) close() {
	p.l.Close()
	p.setCut(true)
	p.setCut(false)
}
