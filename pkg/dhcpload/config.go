package dhcpload

import (
	"errors"
	"fmt"
	"math/bits"
	"net"
	"net/netip"
	"time"
)

// Mode is the kind of exchange the generator runs.
type Mode string

// Modes.
const (
	// ModeDORA runs full DHCPv4 exchanges: DISCOVER→OFFER, REQUEST→ACK.
	ModeDORA Mode = "dora"
	// ModeRS sends router solicitations and waits for advertisements.
	ModeRS Mode = "rs"
	// ModeNS sends neighbour solicitations for Config.Target and waits for
	// neighbour advertisements.
	ModeNS Mode = "ns"
	// ModeDHCP6 sends DHCPv6 Information-requests and waits for Replies.
	ModeDHCP6 Mode = "dhcp6"
)

// Title returns a short human name of m for tables.
func (m Mode) Title() string {
	switch m {
	case ModeDORA:
		return "DHCPv4 DORA"
	case ModeRS:
		return "RS→RA"
	case ModeNS:
		return "NS→NA"
	case ModeDHCP6:
		return "DHCPv6 IR→Reply"
	}
	return string(m)
}

// ErrConfig is wrapped by errors about an unusable Config.
var ErrConfig = errors.New("invalid load configuration")

// Defaults for zero Config fields.
const (
	DefaultDuration    = 10 * time.Second
	DefaultTimeout     = time.Second
	DefaultMaxInFlight = 4096
	maxSlots           = 1 << 16
)

// Config describes one load run.
type Config struct {
	// Mode is the exchange to run.
	Mode Mode
	// Interface is the VM-side interface the frames leave from (an
	// AF_PACKET socket on it), or with Tap the tap device to attach to.
	Interface string
	// Tap makes the generator play the VM's QEMU: it attaches to the tap
	// device Interface (which then needs no VM-side peer) and writes and
	// reads frames on its file descriptor.
	Tap bool
	// MAC is the first client MAC; the interface's MAC when nil (required
	// with Tap: the tap's own MAC is the host's side).
	MAC net.HardwareAddr
	// MACs is how many client MACs exchanges rotate over: MAC, MAC+1, …
	// (added to its last three bytes). 0 means 1. A real VM has one MAC
	// and nfdhcpd only answers a binding's MAC unless it sets MACSPOOF.
	MACs int
	// InFlight is, in closed loop (Rate 0), how many exchanges are kept
	// in flight: each completed or timed-out one starts the next.
	InFlight int
	// Rate, when positive, makes the load open loop: exchanges start at
	// this rate per second whatever the answers, up to MaxInFlight at once.
	Rate float64
	// MaxInFlight caps open-loop exchanges in flight; starts beyond it are
	// counted as skipped. 0 means DefaultMaxInFlight.
	MaxInFlight int
	// Duration is how long to measure after Warmup; 0 means
	// DefaultDuration.
	Duration time.Duration
	// Warmup runs the load unmeasured first (caches, leases, ARP).
	Warmup time.Duration
	// Timeout is how long one message waits for its answer; 0 means
	// DefaultTimeout. A timed-out exchange is counted and started anew.
	Timeout time.Duration
	// ServerPID, when non-zero, is the server process whose CPU time
	// (/proc/PID/stat utime+stime) is reported per exchange.
	ServerPID int
	// Server names the server in reports.
	Server string
	// Broadcast sets the BOOTP broadcast flag in DHCPv4 requests.
	Broadcast bool
	// BusyPoll makes the generator spin on non-blocking receives instead
	// of sleeping until a reply arrives. It takes the generator's wake-up
	// out of the measured latency (one CPU is then always busy, so its
	// CPU per exchange means nothing).
	BusyPoll bool
	// Target is the address neighbour solicitations ask for (ModeNS),
	// e.g. the router's link-local address or the binding's GATEWAY6.
	Target netip.Addr
}

// withDefaults returns c with defaults filled in, or an error wrapping
// ErrConfig.
func (c Config) withDefaults() (Config, error) {
	switch c.Mode {
	case ModeDORA, ModeRS, ModeDHCP6:
	case ModeNS:
		if !c.Target.Is6() || c.Target.Is4In6() {
			return c, fmt.Errorf("%w: mode ns needs an IPv6 target", ErrConfig)
		}
	default:
		return c, fmt.Errorf("%w: unknown mode %q", ErrConfig, c.Mode)
	}
	if c.Interface == "" {
		return c, fmt.Errorf("%w: no interface", ErrConfig)
	}
	if c.Tap && c.MAC == nil {
		return c, fmt.Errorf("%w: a tap needs the VM's MAC", ErrConfig)
	}
	if c.MAC != nil && len(c.MAC) != 6 {
		return c, fmt.Errorf("%w: MAC %v is not 48 bits", ErrConfig, c.MAC)
	}
	c.MACs = max(c.MACs, 1)
	if c.MACs > 1<<24 {
		return c, fmt.Errorf("%w: %d MACs is more than 2^24", ErrConfig, c.MACs)
	}
	if c.Rate < 0 || c.InFlight < 0 || c.MaxInFlight < 0 || c.Duration < 0 || c.Warmup < 0 || c.Timeout < 0 {
		return c, fmt.Errorf("%w: negative rate, count or duration", ErrConfig)
	}
	if c.Rate == 0 && c.InFlight == 0 {
		c.InFlight = 1
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = DefaultMaxInFlight
	}
	if c.Duration == 0 {
		c.Duration = DefaultDuration
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.slotCount() > maxSlots {
		return c, fmt.Errorf("%w: at most %d exchanges in flight", ErrConfig, maxSlots)
	}
	return c, nil
}

// openLoop reports whether c starts exchanges at a fixed rate.
func (c *Config) openLoop() bool { return c.Rate > 0 }

// slotCount is the number of exchange slots the run needs.
func (c *Config) slotCount() int {
	if c.openLoop() {
		return c.MaxInFlight
	}
	return c.InFlight
}

// xidLayout says how transaction ids encode a slot and its sequence
// number: xid = seq<<slotBits | slot, masked to the protocol's width.
type xidLayout struct {
	slotBits uint
	mask     uint32
}

func newXIDLayout(slots int, width uint) xidLayout {
	sb := uint(max(bits.Len(uint(slots-1)), 1))
	return xidLayout{slotBits: sb, mask: uint32(1<<width - 1)}
}

func (l xidLayout) xid(slot int, seq uint32) uint32 {
	return (seq<<l.slotBits | uint32(slot)) & l.mask
}

func (l xidLayout) slot(xid uint32) int { return int(xid & (1<<l.slotBits - 1)) }

// nthMAC returns base plus n, added to its last three bytes (the OUI
// stays).
func nthMAC(base [6]byte, n int) [6]byte {
	v := uint32(base[3])<<16 | uint32(base[4])<<8 | uint32(base[5])
	v += uint32(n)
	base[3], base[4], base[5] = byte(v>>16), byte(v>>8), byte(v)
	return base
}
