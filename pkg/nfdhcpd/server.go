package nfdhcpd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/diktyo/diktyo/pkg/afpacket"
	"github.com/diktyo/diktyo/pkg/binding"
	"github.com/diktyo/diktyo/pkg/nfqueue"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Timeouts of the daemon's waits.
const (
	queueTimeout    = 5 * time.Second  // each queue configuration exchange and Close
	stopTimeout     = 10 * time.Second // goroutines to finish at exit
	httpTimeout     = 10 * time.Second // metrics requests
	watchLockWait   = 5 * time.Second  // binding watcher updates
	maxQueueLen     = 4096             // NFQA_CFG_QUEUE_MAXLEN
	queueReadBuffer = 4 << 20
)

// server is one running daemon.
type server struct {
	opts Options
	log  *slog.Logger
	s    *settings
	duid []byte

	sock    *afpacket.Socket
	eng     *engine
	ra      *raScheduler
	watcher *binding.Watcher
	m       *metrics
	pid     *pidFile
	httpSrv *http.Server

	procMu sync.Mutex // guards proc
	proc   *os.File   // the namespace's nfnetlink_queue statistics, opened as root

	ctx  context.Context
	errc chan error // fatal errors of serving goroutines
	wg   sync.WaitGroup

	qmu    sync.Mutex // guards queues; held only for map updates
	queues map[proto]*runningQueue
}

// runningQueue is one bound queue and its Serve goroutine.
type runningQueue struct {
	q    *nfqueue.Queue
	num  uint16
	done chan struct{}
}

// run runs the daemon until ctx is done (Run's caller cancels it on
// SIGTERM and SIGINT); it handles SIGHUP (reload) and SIGUSR1 (dump
// bindings). ready, if set, is
// called once every queue is bound and the privileges are dropped.
func run(ctx context.Context, opts Options, s *settings, log *slog.Logger, ready func()) (err error) {
	if !isRoot(s.user) && os.Geteuid() == 0 {
		if err := checkCanDrop(); err != nil {
			return err
		}
	}
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGUSR1)
	defer signal.Stop(sigs)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	srv := &server{opts: opts, log: log, s: s, duid: serverDUID(), ctx: ctx,
		errc: make(chan error, 8), queues: map[proto]*runningQueue{}, m: newMetrics()}
	defer func() {
		cancel()
		if cerr := srv.shutdown(); err == nil {
			err = cerr
		}
	}()
	if err := srv.start(); err != nil {
		return err
	}
	if ready != nil {
		ready()
	}
	log.Info("nfdhcpd serving", "bindings", s.dir, "dhcp", s.cfg.DHCP.Enable, "ipv6", s.cfg.IPv6.Enable,
		"mode", string(s.cfg.IPv6.Mode), "uid", os.Getuid(), "duid", fmt.Sprintf("%x", srv.duid))
	for {
		select {
		case <-ctx.Done():
			log.Info("nfdhcpd stopping", "reason", context.Cause(ctx).Error())
			return nil
		case err := <-srv.errc:
			return err
		case sig := <-sigs:
			switch sig {
			case syscall.SIGHUP:
				srv.reload()
			case syscall.SIGUSR1:
				srv.dump()
			}
		}
	}
}

func (srv *server) start() error {
	s := srv.s
	var err error
	if s.pidfile != "" {
		if srv.pid, err = createPIDFile(s.pidfile, os.Getpid()); err != nil {
			return err
		}
	}
	resp, err := buildResponders(s, srv.duid)
	if err != nil {
		return err
	}
	if srv.sock, err = afpacket.Open(0); err != nil {
		return err
	}
	srv.eng = newEngine(srv.sock, srv.sock.HardwareAddr, srv.m, srv.log)
	srv.eng.resp.Store(resp)
	srv.ra = newRAScheduler(srv.eng)
	srv.eng.onTab = func(*binding.Table) { srv.ra.notify() }

	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return fmt.Errorf("binding directory %s: %w", s.dir, err)
	}
	srv.watcher, err = binding.NewWatcher(binding.WatcherConfig{
		Dir:         s.dir,
		Resolve:     srv.sock.Index,
		Logger:      srv.log,
		OnChange:    srv.eng.setTable,
		LockTimeout: watchLockWait,
	})
	if err != nil {
		return err
	}
	srv.eng.setTable(srv.watcher.Table())
	if err := srv.syncQueues(); err != nil {
		return err
	}
	if s.metrics != "" {
		if err := srv.listenMetrics(s.metrics); err != nil {
			return err
		}
	}
	if err := srv.watchLinks(); err != nil {
		return err
	}
	if err := srv.dropPrivileges(); err != nil {
		return err
	}
	srv.goRun("binding watcher", func() error { return srv.watcher.Run(srv.ctx) })
	srv.goRun("RA scheduler", func() error { srv.ra.Run(srv.ctx); return nil })
	return nil
}

// goRun runs fn in a tracked goroutine; its error stops the daemon.
func (srv *server) goRun(what string, fn func() error) {
	srv.wg.Add(1)
	go func() {
		defer srv.wg.Done()
		if err := fn(); err != nil && srv.ctx.Err() == nil {
			srv.fatal(fmt.Errorf("%s: %w", what, err))
		}
	}()
}

func (srv *server) fatal(err error) {
	select {
	case srv.errc <- err:
	default:
	}
}

func (srv *server) dropPrivileges() error {
	spec := srv.s.user
	if isRoot(spec) {
		srv.log.Warn("running as root: set [general] user to drop privileges", "user", spec)
		return nil
	}
	if os.Geteuid() != 0 {
		srv.log.Warn("not started as root: keeping the current user", "uid", os.Geteuid(), "user", spec)
		return nil
	}
	a, err := lookupAccount(spec)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrPrivileges, err)
	}
	if err := srv.pid.chown(a.uid, a.gid); err != nil {
		srv.log.Warn("cannot give the pidfile to the daemon user; it will stay at exit", "err", err)
	}
	if err := dropPrivileges(a); err != nil {
		return err
	}
	if _, err := os.ReadDir(srv.s.dir); err != nil {
		return fmt.Errorf("%w: binding directory not readable as %s: %w", ErrPrivileges, a.name, err)
	}
	srv.log.Info("privileges dropped", "user", a.name, "uid", a.uid, "gid", a.gid, "kept", "CAP_NET_ADMIN,CAP_NET_RAW")
	return nil
}

func (srv *server) listenMetrics(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("metrics listener %s: %w", addr, err)
	}
	// Only root may open the statistics: keep the file for the daemon's life.
	if srv.proc, err = os.Open(nfqueue.ProcPath); err != nil {
		srv.log.Warn("queue statistics unavailable", "err", err)
	}
	srv.m.reg.MustRegister(newStateCollector(srv.queueSnapshots, srv.bindingCounts, srv.procStats))
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(srv.m.reg, promhttp.HandlerOpts{Timeout: httpTimeout}))
	srv.httpSrv = &http.Server{Handler: mux, ReadHeaderTimeout: httpTimeout, ReadTimeout: httpTimeout,
		WriteTimeout: httpTimeout, IdleTimeout: 60 * time.Second}
	srv.log.Info("metrics endpoint", "listen", ln.Addr().String())
	srv.goRun("metrics endpoint", func() error {
		if err := srv.httpSrv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	return nil
}

// procStats rereads the kernel's per-queue statistics.
func (srv *server) procStats() ([]nfqueue.QueueStats, error) {
	srv.procMu.Lock()
	defer srv.procMu.Unlock()
	if srv.proc == nil {
		return nil, os.ErrNotExist
	}
	if _, err := srv.proc.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	return nfqueue.ParseProcStats(srv.proc)
}

func (srv *server) queueSnapshots() []queueSnapshot {
	srv.qmu.Lock()
	defer srv.qmu.Unlock()
	out := make([]queueSnapshot, 0, len(srv.queues))
	for p := range numProtos {
		if rq, ok := srv.queues[p]; ok {
			out = append(out, queueSnapshot{proto: p, num: rq.num, stats: rq.q.Stats()})
		}
	}
	return out
}

func (srv *server) bindingCounts() (resolved, stale int) {
	for _, e := range srv.eng.tab.Load().Entries() {
		if e.TapIndex > 0 {
			resolved++
		} else {
			stale++
		}
	}
	return resolved, stale
}

// syncQueues binds the queue of every enabled function and unbinds the
// others; a function whose queue number changed is rebound. Queues are
// closed before any is opened, so numbers may move between functions.
func (srv *server) syncQueues() error {
	srv.qmu.Lock()
	var closing []*runningQueue
	for p := range numProtos {
		rq, ok := srv.queues[p]
		if !ok {
			continue
		}
		if num, on := srv.s.queueNum(p); !on || num != rq.num {
			closing = append(closing, rq)
			delete(srv.queues, p)
		}
	}
	srv.qmu.Unlock()
	for _, rq := range closing {
		srv.closeQueue(rq)
	}
	for p := range numProtos {
		num, on := srv.s.queueNum(p)
		srv.qmu.Lock()
		_, have := srv.queues[p]
		srv.qmu.Unlock()
		if !on || have {
			continue
		}
		q, err := nfqueue.Open(nfqueue.Config{
			Queue:      num,
			MaxLen:     maxQueueLen,
			FailOpen:   srv.s.failOpen,
			ReadBuffer: queueReadBuffer,
			Timeout:    queueTimeout,
			Logger:     srv.log,
		})
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		rq := &runningQueue{q: q, num: num, done: make(chan struct{})}
		h := newQueueHandler(srv.eng, p)
		srv.wg.Add(1)
		go func() {
			defer srv.wg.Done()
			defer close(rq.done)
			err := q.Serve(srv.ctx, h.handle)
			if err != nil && !errors.Is(err, nfqueue.ErrClosed) && srv.ctx.Err() == nil {
				srv.fatal(fmt.Errorf("%s: %w", p, err))
			}
		}()
		srv.qmu.Lock()
		srv.queues[p] = rq
		srv.qmu.Unlock()
		srv.log.Info("queue bound", "function", p.String(), "queue", num, "fail_open", srv.s.failOpen)
	}
	return nil
}

func (srv *server) closeQueue(rq *runningQueue) {
	if err := rq.q.Close(); err != nil {
		srv.log.Error("queue close", "queue", rq.num, "err", err)
	}
	select {
	case <-rq.done:
	case <-time.After(stopTimeout):
		srv.log.Error("queue did not stop", "queue", rq.num)
	}
	srv.log.Info("queue unbound", "queue", rq.num)
}

// reload rereads the configuration (SIGHUP); on error the running one is
// kept.
func (srv *server) reload() {
	srv.log.Info("reloading (SIGHUP)")
	s, warns, err := loadSettings(srv.opts)
	for _, w := range warns {
		srv.log.Warn("config", "warning", w)
	}
	if err == nil {
		var resp *responders
		if resp, err = buildResponders(s, srv.duid); err == nil {
			for _, c := range []struct{ what, old, new string }{
				{"datapath", srv.s.dir, s.dir}, {"pidfile", srv.s.pidfile, s.pidfile},
				{"user", srv.s.user, s.user}, {"metrics_listen", srv.s.metrics, s.metrics},
			} {
				if c.old != c.new {
					srv.log.Warn("config change needs a restart, keeping the running value", "key", c.what, "running", c.old, "new", c.new)
				}
			}
			s.dir, s.pidfile, s.user, s.metrics = srv.s.dir, srv.s.pidfile, srv.s.user, srv.s.metrics
			srv.s = s
			srv.eng.resp.Store(resp)
			if err = srv.syncQueues(); err != nil {
				srv.fatal(fmt.Errorf("reload: %w", err))
			}
		}
	}
	if err != nil {
		srv.log.Error("reload failed, keeping the running configuration", "err", err)
	}
	ctx, cancel := context.WithTimeout(srv.ctx, watchLockWait)
	defer cancel()
	if err := srv.watcher.Rescan(ctx); err != nil {
		srv.log.Error("binding rescan", "err", err)
	}
	srv.ra.notify()
}

// dump logs the binding table (SIGUSR1).
func (srv *server) dump() {
	t := srv.eng.tab.Load()
	srv.log.Info("binding table", "bindings", t.Len())
	for _, e := range t.Entries() {
		b := e.Binding
		srv.log.Info("binding", "tap", b.Tap, "indev", b.InDev, "tap_index", e.TapIndex, "indev_index", e.InDevIndex,
			"stale", e.TapIndex == 0, "mac", b.MAC.String(), "ip", b.IP, "subnet", b.Subnet, "gateway", b.Gateway,
			"subnet6", b.Subnet6, "gateway6", b.Gateway6, "hostname", b.Hostname, "private", b.Private, "macspoof", b.MACSpoof)
	}
}

// shutdown unbinds the queues, stops the goroutines and removes the
// pidfile; it is safe after a partial start.
func (srv *server) shutdown() error {
	srv.qmu.Lock()
	qs := srv.queues
	srv.queues = map[proto]*runningQueue{}
	srv.qmu.Unlock()
	for _, rq := range qs {
		srv.closeQueue(rq)
	}
	if srv.watcher != nil {
		_ = srv.watcher.Close()
	}
	if srv.httpSrv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
		_ = srv.httpSrv.Shutdown(ctx)
		cancel()
	}
	done := make(chan struct{})
	go func() { srv.wg.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-time.After(stopTimeout):
		err = fmt.Errorf("shutdown: goroutines still running after %v", stopTimeout)
	}
	if srv.sock != nil {
		_ = srv.sock.Close()
	}
	if srv.proc != nil {
		srv.procMu.Lock()
		_ = srv.proc.Close()
		srv.proc = nil
		srv.procMu.Unlock()
	}
	if perr := srv.pid.Remove(); perr != nil {
		srv.log.Warn("pidfile not removed", "err", perr)
	}
	return err
}
