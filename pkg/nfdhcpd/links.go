package nfdhcpd

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// linkSettle is how long link events are collected before one rescan.
const linkSettle = 200 * time.Millisecond

// watchLinks subscribes to link changes and rescans the bindings when a
// link that a binding names appears, goes away, is renamed onto or off it,
// or changes MAC: a binding written before its tap exists is resolved as
// soon as the tap appears, and a deleted tap is never answered on again
// (GRNET needed a SIGHUP for both). It must run before the privilege drop;
// events are handled by a tracked goroutine until the daemon stops.
func (srv *server) watchLinks() error {
	ch := make(chan netlink.LinkUpdate, 1024)
	done := make(chan struct{})
	err := netlink.LinkSubscribeWithOptions(ch, done, netlink.LinkSubscribeOptions{
		ErrorCallback:     func(err error) { srv.log.Warn("link watch", "err", err) },
		ReceiveBufferSize: 1 << 20,
	})
	if err != nil {
		return fmt.Errorf("subscribe to link changes: %w", err)
	}
	srv.goRun("link watch", func() error {
		defer close(done)
		timer := time.NewTimer(time.Hour)
		timer.Stop()
		for {
			select {
			case <-srv.ctx.Done():
				return nil
			case u, ok := <-ch:
				if !ok {
					srv.log.Warn("link watch ended: tap changes now need SIGHUP")
					return nil
				}
				if srv.linkMatters(u) {
					timer.Reset(linkSettle)
				}
			case <-timer.C:
				ctx, cancel := context.WithTimeout(srv.ctx, watchLockWait)
				if err := srv.watcher.Rescan(ctx); err != nil {
					srv.log.Error("binding rescan after link change", "err", err)
				}
				cancel()
			}
		}
	})
	return nil
}

// linkMatters reports whether u changes how a binding resolves.
func (srv *server) linkMatters(u netlink.LinkUpdate) bool {
	a := u.Attrs()
	if a == nil {
		return false
	}
	gone := u.Header.Type == unix.RTM_DELLINK
	for _, e := range srv.eng.tab.Load().Entries() {
		b := e.Binding
		switch {
		case a.Name == b.Tap:
			if gone || e.TapIndex != a.Index {
				return true
			}
			if mac, err := srv.eng.macs.get(e); err != nil || (len(a.HardwareAddr) == 6 && !bytes.Equal(mac[:], a.HardwareAddr)) {
				return true
			}
		case a.Name == b.InDev:
			if gone || e.InDevIndex != a.Index {
				return true
			}
		case a.Index == e.TapIndex || (a.Index == e.InDevIndex && e.InDevIndex != 0):
			return true // renamed away, or deleted under another name
		}
	}
	return false
}
