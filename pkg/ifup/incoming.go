package ifup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/diktyo/diktyo/pkg/ganeti"
	"github.com/diktyo/diktyo/pkg/ifname"
	"github.com/diktyo/diktyo/pkg/netplan"
)

// Incoming is what the pre hook of a live migration stores on the target
// node for `diktyo-ifup watch`: the kvm-ifup environments of the
// instance's routed NICs, without their taps, which Ganeti opens later.
//
// Ganeti's KVM hypervisor sets a routed NIC up on the target only after
// the VM has resumed there (FinalizeMigrationDst, after polling QEMU's
// migration status every 2 s): until then the tap is down and the VM's
// traffic is lost. Bridged and Open vSwitch NICs are set up before QEMU
// starts and need nothing of this.
type Incoming struct {
	Instance string `json:"instance"`
	// Since is when the hook ran. Ganeti writes the NIC files of the
	// incoming QEMU after it: older files are another run's.
	Since time.Time `json:"since"`
	// NICs are the routed NICs' environments; Interface is empty.
	NICs []ganeti.IfupEnv `json:"nics"`
}

// IncomingTimeout is how long watch looks for the taps of an incoming
// migration (Ganeti creates them at the start of the migration, after
// the pre hooks): then it leaves the NICs to Ganeti's own ifup.
const IncomingTimeout = 10 * time.Minute

// incomingPoll is how often watch reads Ganeti's NIC files while a
// migration is incoming (they appear after the taps, and QEMU's
// migration takes far longer than this).
const incomingPoll = 20 * time.Millisecond

// incomingRescan is how often the directory of incoming migrations is
// read when its changes cannot be watched (inotify unavailable).
const incomingRescan = time.Second

// nicFileSlack allows for the coarse clock of file times: a NIC file
// this much older than the hook still counts as written after it.
const nicFileSlack = time.Second

// IncomingDir is the directory of incoming migrations under a state
// directory.
func IncomingDir(stateDir string) string { return filepath.Join(stateDir, "incoming") }

// checkInstanceName accepts instance names that are safe file names
// (Ganeti's are host names) and short enough for NAME.json and its
// temporary sibling .NAME.tmp-NNNNNNNNNN to fit in 255 bytes.
func checkInstanceName(name string) error {
	if name == "" || len(name) > 239 || name[0] == '.' || strings.ContainsAny(name, "/\x00") {
		return fmt.Errorf("instance name %q: %w", name, ganeti.ErrInvalid)
	}
	return nil
}

// ExpectIncoming stores in for watch, replacing what was stored for the
// same instance. Only routed NICs are kept; with none, nothing is stored
// (and an earlier entry is removed).
func ExpectIncoming(stateDir string, in Incoming) error {
	if err := checkInstanceName(in.Instance); err != nil {
		return err
	}
	var routed []ganeti.IfupEnv
	for _, e := range in.NICs {
		if e.Mode == ganeti.ModeRouted {
			e.Interface = ""
			routed = append(routed, e)
		}
	}
	if len(routed) == 0 {
		return ForgetIncoming(stateDir, in.Instance)
	}
	in.NICs = routed
	data, err := json.Marshal(in)
	if err != nil {
		return err
	}
	dir := IncomingDir(stateDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("incoming migration: %w", err)
	}
	if err := writeFile(dir, in.Instance, data); err != nil {
		return fmt.Errorf("incoming migration of %s: %w", in.Instance, err)
	}
	return nil
}

// ForgetIncoming removes what ExpectIncoming stored for instance; none
// is success.
func ForgetIncoming(stateDir, instance string) error {
	if err := checkInstanceName(instance); err != nil {
		return err
	}
	err := os.Remove(filepath.Join(IncomingDir(stateDir), instance+".json"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("incoming migration of %s: %w", instance, err)
	}
	return nil
}

// pendingIncoming is an incoming migration watch is serving.
type pendingIncoming struct {
	in   Incoming
	mod  time.Time // the file's time, to notice a new migration
	done []bool    // per NIC: set up, or left to Ganeti
}

// incomingWatch serves incoming migrations in the watch loop: it learns
// them from the directory the pre hook writes to, then reads Ganeti's NIC
// files until each routed NIC's tap is known and sets it up at once, so
// that it is ready when the VM resumes; the announcer of the up waits for
// the VM's first frame there. Ganeti's own ifup after the migration then
// finds the NIC set up with the same plan and changes nothing.
type incomingWatch struct {
	r       *Runner
	dir     string
	fsw     *fsnotify.Watcher // nil: the directory is read every incomingRescan
	pending map[string]*pendingIncoming
	poll    *time.Ticker // runs while pending is not empty
	rescan  *time.Ticker // runs while fsw is nil
}

// newIncomingWatch starts watching the directory of incoming migrations;
// it returns nil when the Runner has no KVM NIC directory configured.
func (r *Runner) newIncomingWatch() *incomingWatch {
	if r.cfg.KVMNICDir == "" {
		return nil
	}
	w := &incomingWatch{r: r, dir: IncomingDir(r.cfg.StateDir), pending: map[string]*pendingIncoming{}}
	err := os.MkdirAll(w.dir, 0o755)
	if err == nil {
		w.fsw, err = fsnotify.NewWatcher()
		if err == nil {
			if err = w.fsw.Add(w.dir); err != nil {
				w.fsw.Close()
				w.fsw = nil
			}
		}
	}
	if err != nil {
		r.log.Warn("watch: cannot watch incoming migrations; reading their directory every second", "dir", w.dir, "err", err)
		w.rescan = time.NewTicker(incomingRescan)
	}
	w.scan()
	return w
}

func (w *incomingWatch) close() {
	if w == nil {
		return
	}
	if w.fsw != nil {
		w.fsw.Close()
	}
	if w.poll != nil {
		w.poll.Stop()
	}
	if w.rescan != nil {
		w.rescan.Stop()
	}
}

// The channels of the watch loop; nil (never ready) when unused.
func (w *incomingWatch) changes() (<-chan fsnotify.Event, <-chan error) {
	if w == nil || w.fsw == nil {
		return nil, nil
	}
	return w.fsw.Events, w.fsw.Errors
}

func (w *incomingWatch) ticks() (poll, rescan <-chan time.Time) {
	if w == nil {
		return nil, nil
	}
	if w.poll != nil {
		poll = w.poll.C
	}
	if w.rescan != nil {
		rescan = w.rescan.C
	}
	return poll, rescan
}

// scan reads the directory: new or rewritten entries are served, removed
// ones (the migrate post hook forgets them) are dropped.
func (w *incomingWatch) scan() {
	ents, err := os.ReadDir(w.dir)
	if err != nil {
		w.r.log.Error("watch: read incoming migrations", "dir", w.dir, "err", err)
		return
	}
	seen := map[string]bool{}
	for _, ent := range ents {
		name, ok := strings.CutSuffix(ent.Name(), ".json")
		if !ok || strings.HasPrefix(name, ".") || !ent.Type().IsRegular() {
			continue
		}
		fi, err := ent.Info()
		if err != nil {
			continue // removed meanwhile
		}
		seen[name] = true
		if p := w.pending[name]; p != nil && p.mod.Equal(fi.ModTime()) {
			continue
		}
		in, err := readIncoming(filepath.Join(w.dir, ent.Name()))
		if err != nil || in.Instance != name {
			w.r.log.Warn("watch: dropping an unreadable incoming migration", "file", ent.Name(), "err", err)
			w.forget(name)
			continue
		}
		w.pending[name] = &pendingIncoming{in: *in, mod: fi.ModTime(), done: make([]bool, len(in.NICs))}
		w.r.log.Info("watch: live migration incoming; waiting for its taps", "instance", name, "routed_nics", len(in.NICs))
	}
	for name := range w.pending {
		if !seen[name] {
			delete(w.pending, name)
		}
	}
	w.setPoll()
}

func readIncoming(path string) (*Incoming, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var in Incoming
	if err := json.Unmarshal(data, &in); err != nil {
		return nil, err
	}
	return &in, checkInstanceName(in.Instance)
}

// setPoll runs the poll ticker exactly while migrations are pending.
func (w *incomingWatch) setPoll() {
	switch {
	case len(w.pending) > 0 && w.poll == nil:
		w.poll = time.NewTicker(incomingPoll)
	case len(w.pending) == 0 && w.poll != nil:
		w.poll.Stop()
		w.poll = nil
	}
}

// forget drops an entry and its file.
func (w *incomingWatch) forget(instance string) {
	delete(w.pending, instance)
	if err := ForgetIncoming(w.r.cfg.StateDir, instance); err != nil {
		w.r.log.Error("watch: remove incoming migration", "instance", instance, "err", err)
	}
	w.setPoll()
}

// serve sets up the NICs whose taps Ganeti has named since the last call.
func (w *incomingWatch) serve(ctx context.Context) {
	now := w.r.now()
	for name, p := range w.pending {
		if now.Sub(p.in.Since) > IncomingTimeout {
			w.r.log.Warn("watch: the taps of an incoming migration did not appear; Ganeti's ifup will set its routed NICs up", "instance", name)
			w.forget(name)
			continue
		}
		left := 0
		for i := range p.in.NICs {
			if !p.done[i] {
				p.done[i] = w.serveNIC(ctx, &p.in, i)
			}
			if !p.done[i] {
				left++
			}
		}
		if left == 0 {
			w.forget(name)
		}
	}
}

// serveNIC sets NIC i of in up once Ganeti has named its tap, and reports
// whether the NIC needs nothing more.
func (w *incomingWatch) serveNIC(ctx context.Context, in *Incoming, i int) bool {
	e := in.NICs[i]
	tap, ok := w.tapOf(in, e.Index)
	if !ok {
		return false
	}
	e.Interface = tap
	start := time.Now()
	err := w.r.up(ctx, &e)
	switch {
	case errors.Is(err, netplan.ErrNoSuchLink):
		return false // named before QEMU's exit removed it, or not there yet
	case err != nil:
		w.r.log.Error("watch: setting up a routed NIC of an incoming migration failed; Ganeti's ifup will", "instance", in.Instance, "nic", e.Index, "tap", tap, "err", err)
		return true
	}
	w.r.log.Info("watch: routed NIC of an incoming migration set up", "instance", in.Instance, "nic", e.Index, "tap", tap,
		"took", time.Since(start).Round(time.Microsecond))
	return true
}

// tapOf reads the tap Ganeti's KVM hypervisor opened for NIC index of
// in's instance from its NIC file, written after QEMU started; a file from
// before in was stored is another run's.
func (w *incomingWatch) tapOf(in *Incoming, index int) (string, bool) {
	path := filepath.Join(w.r.cfg.KVMNICDir, in.Instance, strconv.Itoa(index))
	fi, err := os.Stat(path)
	if err != nil || fi.ModTime().Before(in.Since.Add(-nicFileSlack)) {
		return "", false
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", false
	}
	tap := strings.TrimSpace(string(data))
	if ifname.Validate(tap) != nil {
		return "", false
	}
	return tap, true
}
