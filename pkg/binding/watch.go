package binding

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/diktyo/diktyo/pkg/flock"
)

// DefaultLockTimeout bounds how long Rescan or an event waits for another
// update of the same Watcher to finish.
const DefaultLockTimeout = 5 * time.Second

// maxBatch bounds how many queued events are applied before a Table is
// published, so a burst costs one rebuild, not one per file.
const maxBatch = 1024

// WatcherConfig configures a Watcher.
type WatcherConfig struct {
	// Dir is the binding directory (GRNET's datapath, /var/lib/nfdhcpd).
	Dir string
	// Resolve maps interface names to ifindexes (required).
	Resolve Resolver
	// Logger receives parse errors and stale bindings; nil discards.
	Logger *slog.Logger
	// OnChange, if set, is called with each newly published Table, in order,
	// from the goroutine that made the change. It must not block for long
	// and must not call Rescan.
	OnChange func(*Table)
	// LockTimeout defaults to DefaultLockTimeout.
	LockTimeout time.Duration
}

// Watcher keeps a Table in step with a binding directory using inotify.
//
// Semantics, following GRNET's nfdhcpd where it has any:
//   - a file that is created, renamed into place or written is (re)read at
//     once, without debouncing; the new Table is published atomically;
//   - a file that is deleted or renamed away drops its binding;
//   - a file that fails to parse is logged and the previous good binding of
//     that tap, if any, is kept (GRNET's add_tap keeps it too); in-place
//     writers may thus be seen half-written for a moment, and should use
//     WriteFile instead;
//   - hidden files (WriteFile's temp files) and names that cannot be
//     interface names are ignored; so are subdirectories and non-regular
//     files;
//   - an inotify queue overflow triggers a full rescan; so does Rescan
//     (SIGHUP in the daemon), which also re-resolves every ifindex.
type Watcher struct {
	dir      string
	resolve  Resolver
	log      *slog.Logger
	onChange func(*Table)
	timeout  time.Duration

	fsw *fsnotify.Watcher
	sem chan struct{}     // a lock with a timeout; guards ents
	ent map[string]*Entry // current entries by tap name
	cur atomic.Pointer[Table]
}

// NewWatcher starts watching cfg.Dir and loads every binding in it. Events
// are applied once Run is called; call Close when done.
func NewWatcher(cfg WatcherConfig) (*Watcher, error) {
	if cfg.Resolve == nil {
		return nil, fmt.Errorf("binding watcher %s: no resolver", cfg.Dir)
	}
	w := &Watcher{
		dir:      cfg.Dir,
		resolve:  cfg.Resolve,
		log:      cfg.Logger,
		onChange: cfg.OnChange,
		timeout:  cfg.LockTimeout,
		sem:      make(chan struct{}, 1),
		ent:      map[string]*Entry{},
	}
	if w.log == nil {
		w.log = slog.New(slog.DiscardHandler)
	}
	if w.timeout <= 0 {
		w.timeout = DefaultLockTimeout
	}
	w.cur.Store(buildTable(map[string]*Entry{}))
	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("binding watcher %s: %w", cfg.Dir, err)
	}
	// Watch before the first scan so that no change falls between the two.
	if err := fsw.Add(cfg.Dir); err != nil {
		fsw.Close()
		return nil, fmt.Errorf("binding watcher %s: %w", cfg.Dir, err)
	}
	w.fsw = fsw
	if err := w.Rescan(context.Background()); err != nil {
		fsw.Close()
		return nil, err
	}
	return w, nil
}

// Table returns the current snapshot; it never returns nil. Safe for
// concurrent use, lock-free.
func (w *Watcher) Table() *Table { return w.cur.Load() }

// Close stops watching; Run then returns.
func (w *Watcher) Close() error { return w.fsw.Close() }

// Run applies directory events until ctx is done or the Watcher is closed.
// It returns nil in both cases.
func (w *Watcher) Run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.fsw.Events:
			if !ok {
				return nil
			}
			w.applyEvents(ctx, ev)
		case err, ok := <-w.fsw.Errors:
			if !ok {
				return nil
			}
			w.handleError(ctx, err)
		}
	}
}

func (w *Watcher) lock(ctx context.Context) error {
	t := time.NewTimer(w.timeout)
	defer t.Stop()
	select {
	case w.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("binding watcher %s: %w", w.dir, ctx.Err())
	case <-t.C:
		return fmt.Errorf("binding watcher %s: %w after %v", w.dir, flock.ErrTimeout, w.timeout)
	}
}

func (w *Watcher) unlock() { <-w.sem }

func (w *Watcher) handleError(ctx context.Context, err error) {
	if errors.Is(err, fsnotify.ErrEventOverflow) {
		w.log.Warn("binding watcher: inotify queue overflow, rescanning", "dir", w.dir)
		if err := w.Rescan(ctx); err != nil {
			w.log.Error("binding watcher: rescan failed", "dir", w.dir, "err", err)
		}
		return
	}
	w.log.Error("binding watcher: inotify error", "dir", w.dir, "err", err)
}

// applyEvents applies ev and whatever else is already queued (up to
// maxBatch), then publishes one Table.
func (w *Watcher) applyEvents(ctx context.Context, ev fsnotify.Event) {
	if err := w.lock(ctx); err != nil {
		// Changes are lost: recover with a rescan as soon as possible.
		w.log.Error("binding watcher: dropping event, will rescan", "event", ev.String(), "err", err)
		go func() {
			if err := w.Rescan(ctx); err != nil {
				w.log.Error("binding watcher: rescan failed", "dir", w.dir, "err", err)
			}
		}()
		return
	}
	defer w.unlock()
	next := maps.Clone(w.ent)
	changed := w.apply(next, ev)
drain:
	for range maxBatch - 1 {
		select {
		case ev, ok := <-w.fsw.Events:
			if !ok {
				break drain
			}
			changed = w.apply(next, ev) || changed
		default:
			break drain
		}
	}
	if changed {
		w.publish(next)
	}
}

// apply updates ents for one event and reports whether anything changed.
func (w *Watcher) apply(ents map[string]*Entry, ev fsnotify.Event) bool {
	name := filepath.Base(ev.Name)
	if filepath.Dir(ev.Name) != filepath.Clean(w.dir) || ignoredName(name) {
		return false
	}
	changed := false
	if ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
		if _, ok := ents[name]; ok {
			delete(ents, name)
			w.log.Info("binding removed", "tap", name)
			changed = true
		}
	}
	if ev.Has(fsnotify.Create) || ev.Has(fsnotify.Write) {
		changed = w.load(ents, name) || changed
	}
	return changed
}

// load (re)reads one file into ents and reports whether ents changed.
func (w *Watcher) load(ents map[string]*Entry, name string) bool {
	old, had := ents[name]
	b, err := ReadFile(filepath.Join(w.dir, name))
	switch {
	case errors.Is(err, fs.ErrNotExist) || errors.Is(err, ErrNotRegular):
		delete(ents, name)
		return had
	case err != nil:
		if st, serr := os.Stat(filepath.Join(w.dir, name)); serr == nil && st.Size() == 0 {
			// An in-place writer (GRNET's snf-network: cat > file) has
			// created or truncated the file; its content follows.
			w.log.Debug("binding file empty, waiting for content", "tap", name)
			return false
		}
		w.log.Error("binding file rejected, keeping previous binding", "tap", name, "had", had, "err", err)
		return false
	}
	e, err := resolveEntry(b, w.resolve)
	if err != nil {
		w.log.Warn("binding stale", "tap", name, "err", err)
	}
	if had && old.TapIndex == e.TapIndex && old.InDevIndex == e.InDevIndex && old.Binding.Equal(e.Binding) {
		return false
	}
	ents[name] = e
	w.log.Info("binding loaded", "tap", name, "tap_index", e.TapIndex, "indev_index", e.InDevIndex)
	return true
}

func (w *Watcher) publish(ents map[string]*Entry) {
	w.ent = ents
	t := buildTable(maps.Clone(ents))
	w.cur.Store(t)
	if w.onChange != nil {
		w.onChange(t)
	}
}

// Rescan rereads the whole directory and re-resolves every ifindex (GRNET's
// build_config, without dropping a tap whose file no longer parses: its
// previous binding is kept, re-resolved). It is safe to call from any
// goroutine, for instance on SIGHUP.
func (w *Watcher) Rescan(ctx context.Context) error {
	if err := w.lock(ctx); err != nil {
		return err
	}
	defer w.unlock()
	des, err := os.ReadDir(w.dir)
	if err != nil {
		return fmt.Errorf("binding watcher: rescan %s: %w", w.dir, err)
	}
	next := make(map[string]*Entry, len(des))
	for _, de := range des {
		name := de.Name()
		if ignoredName(name) || de.IsDir() {
			continue
		}
		b, err := ReadFile(filepath.Join(w.dir, name))
		switch {
		case errors.Is(err, fs.ErrNotExist) || errors.Is(err, ErrNotRegular):
			continue
		case err != nil:
			old, had := w.ent[name]
			w.log.Error("binding file rejected, keeping previous binding", "tap", name, "had", had, "err", err)
			if !had {
				continue
			}
			b = old.Binding
		}
		e, err := resolveEntry(b, w.resolve)
		if err != nil {
			w.log.Warn("binding stale", "tap", name, "err", err)
		}
		next[name] = e
	}
	w.publish(next)
	return nil
}
