package ipamcli

import (
	"bytes"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/diktyo/diktyo/pkg/ipam"
)

// Usage maps show one character per address up to a /16 (1024 lines of
// 64), as gnt-network info does. Bigger pools get a coarse map of
// coarseBlocks characters, each standing for a block of addresses.
const (
	mapWidth     = 64
	fineMax      = 1 << 16
	coarseBlocks = 4096
)

// poolMap is a usage map: one character per block of addresses.
type poolMap struct {
	def   *ipam.Network
	chars []byte
	block uint32 // addresses per character
}

// usageMap draws the IPv4 pool of def: X used, . free and, in a coarse
// map, + for a partly used block.
func usageMap(t *ipam.Txn, def *ipam.Network) (*poolMap, error) {
	size := def.Size()
	m := &poolMap{def: def, block: 1}
	if size > fineMax {
		m.block = size / coarseBlocks
	}
	n := size / m.block
	counts := make([]uint32, n)
	err := t.ForEachTaken(def.Name, func(off uint32) error {
		counts[off/m.block]++
		return nil
	})
	if err != nil {
		return nil, err
	}
	m.chars = bytes.Repeat([]byte{'.'}, int(n))
	for i, c := range counts {
		switch {
		case c == m.block:
			m.chars[i] = 'X'
		case c > 0:
			m.chars[i] = '+'
		}
	}
	return m, nil
}

func (m *poolMap) flat() string { return string(m.chars) }

// write prints the map the way gnt-network info does: 64 characters per
// line between the offsets of the first and the last address it covers. A
// coarse map names addresses instead: offsets in the millions mean little.
func (m *poolMap) write(w io.Writer) {
	lines := (len(m.chars) + mapWidth - 1) / mapWidth
	last := uint32(len(m.chars))*m.block - 1
	label := func(off uint32) string {
		if m.block == 1 {
			return fmt.Sprint(off)
		}
		return m.def.AddrAt(off).String()
	}
	width := 3
	for l := range lines {
		width = max(width, len(label(uint32(l*mapWidth)*m.block)))
	}
	for l := range lines {
		lo := l * mapWidth
		hi := min(lo+mapWidth, len(m.chars))
		first := uint32(lo) * m.block
		end := min(first+mapWidth*m.block-1, last)
		fmt.Fprintf(w, "     %*s %-*s %s\n", width, label(first), mapWidth, m.chars[lo:hi], label(end))
	}
	if m.block == 1 {
		fmt.Fprintf(w, "         (X) used    (.) free\n")
	} else {
		fmt.Fprintf(w, "         (X) full    (+) partly used    (.) free\n")
	}
}

// blockBits is the prefix length of one block of a coarse map.
func (m *poolMap) blockBits() int {
	b := 32
	for s := m.block; s > 1; s >>= 1 {
		b--
	}
	return b
}

// collapse renders sorted addresses, runs of consecutive ones as
// FIRST-LAST, so a reserved block does not print thousands of addresses.
func collapse(ips []netip.Addr) []string {
	var out []string
	for i := 0; i < len(ips); {
		j := i
		for j+1 < len(ips) && ips[j].Next() == ips[j+1] {
			j++
		}
		if j-i >= 2 {
			out = append(out, ips[i].String()+"-"+ips[j].String())
		} else {
			for k := i; k <= j; k++ {
				out = append(out, ips[k].String())
			}
		}
		i = j + 1
	}
	return out
}

func none(s string) string {
	if s == "" {
		return "None"
	}
	return s
}

// wrap64 joins items with ", " and wraps the result at 64 columns, like
// Python's textwrap.wrap, which gnt-network info uses.
func wrap64(items []string) []string {
	var lines []string
	cur := ""
	for i, it := range items {
		if i < len(items)-1 {
			it += ","
		}
		switch {
		case cur == "":
			cur = it
		case len(cur)+1+len(it) <= mapWidth:
			cur += " " + it
		default:
			lines = append(lines, cur)
			cur = it
		}
	}
	if cur != "" {
		lines = append(lines, cur)
	}
	return lines
}

// holdingsByInstance groups the instance holdings of a network.
func holdingsByInstance(hs []ipam.Holding) (names []string, by map[string][]ipam.Holding) {
	by = map[string][]ipam.Holding{}
	for _, h := range hs {
		if h.Kind != ipam.KindInstance {
			continue
		}
		if _, ok := by[h.Owner.Instance]; !ok {
			names = append(names, h.Owner.Instance)
		}
		by[h.Owner.Instance] = append(by[h.Owner.Instance], h)
	}
	slices.Sort(names)
	return names, by
}

// holdingValue renders NIC:IP like gnt-network info, and NIC:mac=MAC for a
// MAC (a bare NIC:MAC would read as one longer MAC).
func holdingValue(h ipam.Holding) string {
	v := "mac=" + h.MAC
	if h.IP.IsValid() {
		v = h.IP.String()
	}
	if h.Owner.NIC != "" {
		return h.Owner.NIC + ":" + v
	}
	return v
}

// writeInfo prints one network like gnt-network info, with diktyo's
// additions (tags, ranges, allocatable count, coarse maps).
func writeInfo(w io.Writer, r *netRow, m *poolMap) {
	d := r.def
	fmt.Fprintf(w, "Network name: %s\n", d.Name)
	fmt.Fprintf(w, "UUID: %s\n", none(d.UUID))
	fmt.Fprintf(w, "  Subnet: %s\n", none(prefixString(d.Subnet)))
	fmt.Fprintf(w, "  Gateway: %s\n", none(addrString(d.Gateway)))
	fmt.Fprintf(w, "  IPv6 Subnet: %s\n", none(prefixString(d.Subnet6)))
	fmt.Fprintf(w, "  IPv6 Gateway: %s\n", none(addrString(d.Gateway6)))
	fmt.Fprintf(w, "  Mac Prefix: %s\n", none(d.MACPrefix.String()))
	fmt.Fprintf(w, "  Tags: %s\n", none(strings.Join(d.Tags, ", ")))
	fmt.Fprintf(w, "  Ranges: %s\n", none(joinStringers(d.Ranges, ", ")))
	st := r.stats
	fmt.Fprintf(w, "  Size: %d\n", st.Size)
	if st.Size == 0 {
		fmt.Fprintf(w, "  Free: 0\n")
		fmt.Fprintf(w, "  Usage map: none (no IPv4 subnet)\n")
	} else {
		fmt.Fprintf(w, "  Free: %d (%.2f%%)\n", st.Free, 100*float64(st.Free)/float64(st.Size))
		if len(d.Ranges) > 0 {
			fmt.Fprintf(w, "  Allocatable: %d (free inside the ranges)\n", st.Eligible)
		}
		if m.block == 1 {
			fmt.Fprintf(w, "  Usage map:\n")
		} else {
			fmt.Fprintf(w, "  Usage map (one character per block of %d addresses, a /%d):\n", m.block, m.blockBits())
		}
		m.write(w)
	}
	if ext := r.external(); len(ext) > 0 {
		fmt.Fprintf(w, "  externally reserved IPs:\n")
		for _, l := range wrap64(collapse(ext)) {
			fmt.Fprintf(w, "    %s\n", l)
		}
	}
	if gl := r.groupList(); len(gl) > 0 {
		fmt.Fprintf(w, "  connected to node groups:\n")
		for _, g := range gl {
			fmt.Fprintf(w, "    %s (mode:%s link:%s vlan:%s)\n", g.Group, g.Mode, g.Link, g.VLAN)
		}
	} else {
		fmt.Fprintf(w, "  not connected to any node group\n")
	}
	names, by := holdingsByInstance(r.held)
	if len(names) == 0 {
		fmt.Fprintf(w, "  not used by any instances\n")
		return
	}
	fmt.Fprintf(w, "  used by %d instances:\n", len(names))
	for _, n := range names {
		var vs []string
		for _, h := range by[n] {
			vs = append(vs, holdingValue(h))
		}
		fmt.Fprintf(w, "    %s: %s\n", n, strings.Join(vs, ", "))
	}
}

// infoJSON is network info -o json.
type infoJSON struct {
	Name                 string        `json:"name"`
	UUID                 *string       `json:"uuid"`
	Network              *string       `json:"network"`
	Gateway              *string       `json:"gateway"`
	Network6             *string       `json:"network6"`
	Gateway6             *string       `json:"gateway6"`
	MACPrefix            *string       `json:"mac_prefix"`
	Tags                 []string      `json:"tags"`
	Ranges               []ipam.Range  `json:"ranges"`
	Size                 uint32        `json:"size"`
	FreeCount            uint32        `json:"free_count"`
	ReservedCount        uint32        `json:"reserved_count"`
	AllocCount           uint32        `json:"alloc_count"`
	ExternalReservations []netip.Addr  `json:"external_reservations"`
	GroupList            []groupJSON   `json:"group_list"`
	Instances            []holdingJSON `json:"instances"`
	Map                  *mapJSON      `json:"map"`
}

// mapJSON is the usage map: one character per block of addresses.
type mapJSON struct {
	Block uint32 `json:"block"`
	Map   string `json:"map"`
}

func strPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func toInfoJSON(r *netRow, m *poolMap) infoJSON {
	d := r.def
	j := infoJSON{
		Name: d.Name, UUID: strPtr(d.UUID),
		Network: strPtr(prefixString(d.Subnet)), Gateway: strPtr(addrString(d.Gateway)),
		Network6: strPtr(prefixString(d.Subnet6)), Gateway6: strPtr(addrString(d.Gateway6)),
		MACPrefix: strPtr(d.MACPrefix.String()), Tags: nonNil(d.Tags), Ranges: nonNil(d.Ranges),
		Size: r.stats.Size, FreeCount: r.stats.Free, ReservedCount: r.stats.Taken, AllocCount: r.stats.Eligible,
		ExternalReservations: nonNil(r.external()), GroupList: r.groupList(), Instances: []holdingJSON{},
	}
	for _, h := range r.held {
		if h.Kind == ipam.KindInstance {
			j.Instances = append(j.Instances, toHoldingJSON(h))
		}
	}
	if m != nil {
		j.Map = &mapJSON{Block: m.block, Map: m.flat()}
	}
	return j
}

func (e *env) networkInfo() *cli.Command {
	return &cli.Command{
		Name:         "info",
		Usage:        "show networks in detail: definition, counters, usage map, reservations, groups, instances",
		ArgsUsage:    "[NAME...]",
		BashComplete: e.completeNetworks,
		Flags:        []cli.Flag{jsonOutputFlag()},
		Action: func(c *cli.Context) error {
			names, err := posArgs(c, 0, -1, "network info [-o json] [NAME...]")
			if err != nil {
				return err
			}
			asJSON, err := wantJSON(c, "network info")
			if err != nil {
				return err
			}
			var out bytes.Buffer
			var docs []infoJSON
			err = e.view(c, func(t *ipam.Txn) error {
				rows, err := loadNetworks(t, names, false)
				if err != nil {
					return err
				}
				for _, r := range rows {
					var m *poolMap
					if r.def.Subnet.IsValid() {
						if m, err = usageMap(t, r.def); err != nil {
							return err
						}
					}
					if asJSON {
						docs = append(docs, toInfoJSON(r, m))
					} else {
						writeInfo(&out, r, m)
					}
				}
				return nil
			})
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(e.stdout, nonNil(docs))
			}
			_, err = e.stdout.Write(out.Bytes())
			return err
		},
	}
}
