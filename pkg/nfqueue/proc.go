package nfqueue

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// ProcPath is the per-queue statistics file of the calling thread's network
// namespace.
const ProcPath = "/proc/thread-self/net/netfilter/nfnetlink_queue"

// QueueStats is one line of /proc/net/netfilter/nfnetlink_queue.
type QueueStats struct {
	// Queue is the queue number.
	Queue uint16
	// PortID is the netlink port id of the bound socket.
	PortID uint32
	// Outstanding is the number of packets waiting for a verdict.
	Outstanding uint32
	// CopyMode is 0 none, 1 meta, 2 packet.
	CopyMode uint8
	// CopyRange is the configured copy range.
	CopyRange uint32
	// QueueDropped counts packets dropped because the queue was full.
	QueueDropped uint32
	// UserDropped counts packets dropped because the socket could not take
	// them (receive buffer full).
	UserDropped uint32
	// IDSequence is the last packet id handed out.
	IDSequence uint32
}

// ParseProcStats parses the format of /proc/net/netfilter/nfnetlink_queue.
func ParseProcStats(r io.Reader) ([]QueueStats, error) {
	var out []QueueStats
	sc := bufio.NewScanner(r)
	for line := 1; sc.Scan(); line++ {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		if len(f) < 8 {
			return nil, fmt.Errorf("nfnetlink_queue line %d: %d fields, want at least 8", line, len(f))
		}
		var v [8]uint64
		for i := range v {
			bits := 32
			switch i {
			case 0:
				bits = 16
			case 3:
				bits = 8
			}
			n, err := strconv.ParseUint(f[i], 10, bits)
			if err != nil {
				return nil, fmt.Errorf("nfnetlink_queue line %d field %d: %w", line, i+1, err)
			}
			v[i] = n
		}
		out = append(out, QueueStats{
			Queue: uint16(v[0]), PortID: uint32(v[1]), Outstanding: uint32(v[2]),
			CopyMode: uint8(v[3]), CopyRange: uint32(v[4]), QueueDropped: uint32(v[5]),
			UserDropped: uint32(v[6]), IDSequence: uint32(v[7]),
		})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read nfnetlink_queue: %w", err)
	}
	return out, nil
}

// ReadProcStats reads ProcPath: the queues of the network namespace of the
// calling thread (lock the OS thread when that matters).
func ReadProcStats() ([]QueueStats, error) {
	f, err := os.Open(ProcPath)
	if err != nil {
		return nil, fmt.Errorf("open queue statistics: %w", err)
	}
	defer f.Close()
	return ParseProcStats(f)
}

// Find returns the statistics of queue num, if listed.
func Find(stats []QueueStats, num uint16) (QueueStats, bool) {
	for _, s := range stats {
		if s.Queue == num {
			return s, true
		}
	}
	return QueueStats{}, false
}
