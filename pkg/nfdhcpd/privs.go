package nfdhcpd

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ErrPrivileges is wrapped by privilege drop failures.
var ErrPrivileges = errors.New("cannot drop privileges")

// keptCaps are the capabilities the daemon keeps: CAP_NET_ADMIN for
// nfnetlink verdicts and queue (re)binding, CAP_NET_RAW for AF_PACKET.
const keptCaps = 1<<unix.CAP_NET_ADMIN | 1<<unix.CAP_NET_RAW

// account is a resolved [general] user.
type account struct {
	name     string
	uid, gid int
	groups   []int
}

// isRoot reports whether spec means "stay root".
func isRoot(spec string) bool { return spec == "" || spec == "root" || spec == "0" }

// lookupAccount resolves a user name or numeric uid with its groups.
func lookupAccount(spec string) (*account, error) {
	var u *user.User
	var err error
	if _, nerr := strconv.Atoi(spec); nerr == nil {
		u, err = user.LookupId(spec)
	} else {
		u, err = user.Lookup(spec)
	}
	if err != nil {
		return nil, fmt.Errorf("user %q: %w", spec, err)
	}
	a := &account{name: u.Username}
	if a.uid, err = strconv.Atoi(u.Uid); err != nil {
		return nil, fmt.Errorf("user %q: uid %q: %w", spec, u.Uid, err)
	}
	if a.gid, err = strconv.Atoi(u.Gid); err != nil {
		return nil, fmt.Errorf("user %q: gid %q: %w", spec, u.Gid, err)
	}
	a.groups = []int{a.gid}
	if gs, err := u.GroupIds(); err == nil {
		for _, g := range gs {
			if n, err := strconv.Atoi(g); err == nil && n != a.gid {
				a.groups = append(a.groups, n)
			}
		}
	}
	return a, nil
}

// checkCanDrop fails early (before anything is opened) when the binary
// cannot change the credentials of all its threads: a cgo binary.
func checkCanDrop() error {
	if _, _, e := syscall.AllThreadsSyscall(unix.SYS_PRCTL, unix.PR_GET_KEEPCAPS, 0, 0); e == syscall.ENOTSUP {
		return fmt.Errorf("%w: this binary uses cgo and cannot change the capabilities of all threads; build it with CGO_ENABLED=0 or set [general] user = root", ErrPrivileges)
	}
	return nil
}

func allThreads(what string, trap, a1, a2 uintptr) error {
	if _, _, e := syscall.AllThreadsSyscall6(trap, a1, a2, 0, 0, 0, 0); e != 0 {
		return fmt.Errorf("%w: %s: %w", ErrPrivileges, what, e)
	}
	return nil
}

// capLastCap is the highest capability the kernel knows.
func capLastCap() int {
	b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			return n
		}
	}
	return 63
}

// dropPrivileges switches every thread to a, keeping only keptCaps in the
// permitted and effective sets, clearing the ambient and inheritable sets
// and every other capability from the bounding set.
func dropPrivileges(a *account) error {
	if err := allThreads("PR_SET_KEEPCAPS", unix.SYS_PRCTL, unix.PR_SET_KEEPCAPS, 1); err != nil {
		return err
	}
	for c := 0; c <= capLastCap(); c++ {
		if keptCaps&(1<<c) != 0 {
			continue
		}
		if err := allThreads("PR_CAPBSET_DROP "+strconv.Itoa(c), unix.SYS_PRCTL, unix.PR_CAPBSET_DROP, uintptr(c)); err != nil && !errors.Is(err, unix.EINVAL) {
			return err
		}
	}
	if err := allThreads("PR_CAP_AMBIENT_CLEAR_ALL", unix.SYS_PRCTL, unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL); err != nil && !errors.Is(err, unix.EINVAL) {
		return err
	}
	// syscall.Set* apply to every thread (Go ≥ 1.16).
	if err := syscall.Setgroups(a.groups); err != nil {
		return fmt.Errorf("%w: setgroups %v: %w", ErrPrivileges, a.groups, err)
	}
	if err := syscall.Setgid(a.gid); err != nil {
		return fmt.Errorf("%w: setgid %d: %w", ErrPrivileges, a.gid, err)
	}
	if err := syscall.Setuid(a.uid); err != nil {
		return fmt.Errorf("%w: setuid %d: %w", ErrPrivileges, a.uid, err)
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	data := [2]unix.CapUserData{{Effective: keptCaps, Permitted: keptCaps}}
	if _, _, e := syscall.AllThreadsSyscall(unix.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0); e != 0 {
		return fmt.Errorf("%w: capset: %w", ErrPrivileges, e)
	}
	if err := allThreads("PR_SET_KEEPCAPS 0", unix.SYS_PRCTL, unix.PR_SET_KEEPCAPS, 0); err != nil {
		return err
	}
	return nil
}
