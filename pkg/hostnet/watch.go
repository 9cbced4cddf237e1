package hostnet

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// linkEventPoll bounds each wait for device events, so that the reader
// notices the end of its context.
const linkEventPoll = time.Second

// DeletedLinks subscribes to the kernel's device events (RTNLGRP_LINK) in
// the calling thread's network namespace and returns the names of deleted
// devices. The channel is closed when ctx ends or the subscription fails
// (a receive error, or events lost to a full socket buffer, ENOBUFS): the
// caller then subscribes again and rescans what it tracks. It has the
// shape of ifup.DeletedTaps.
//
// It reads the socket itself rather than through vishvananda/netlink's
// LinkSubscribe, whose reader blocks in recvfrom with no way to stop it
// but a receive timeout that it reports as a failure.
func DeletedLinks(ctx context.Context) (<-chan string, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("device events: netlink socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: unix.RTMGRP_LINK}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("device events: bind: %w", err)
	}
	// Room for a burst (a host stopping many VMs at once) before ENOBUFS.
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 4<<20)
	out := make(chan string, 256)
	go func() {
		defer close(out)
		defer unix.Close(fd)
		buf := make([]byte, 1<<16)
		for ctx.Err() == nil {
			pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
			n, err := unix.Poll(pfd, int(linkEventPoll/time.Millisecond))
			if errors.Is(err, unix.EINTR) || n == 0 {
				continue
			}
			if err != nil {
				return
			}
			m, _, err := unix.Recvfrom(fd, buf, unix.MSG_DONTWAIT)
			if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
				continue
			}
			if err != nil { // ENOBUFS: events were lost
				return
			}
			for _, name := range deletedNames(buf[:m]) {
				select {
				case out <- name:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out, nil
}

// deletedNames returns the device names of the RTM_DELLINK messages in b.
func deletedNames(b []byte) []string {
	msgs, err := syscall.ParseNetlinkMessage(b)
	if err != nil {
		return nil
	}
	var names []string
	for i := range msgs {
		if msgs[i].Header.Type != unix.RTM_DELLINK {
			continue
		}
		attrs, err := syscall.ParseNetlinkRouteAttr(&msgs[i])
		if err != nil {
			continue
		}
		for _, a := range attrs {
			if a.Attr.Type == unix.IFLA_IFNAME {
				names = append(names, strings.TrimRight(string(a.Value), "\x00"))
			}
		}
	}
	return names
}
