package dhcpload

import (
	"bufio"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// Latency summarizes a histogram in microseconds.
type Latency struct {
	Count uint64  `json:"count"`
	Mean  float64 `json:"mean_us"`
	P50   float64 `json:"p50_us"`
	P90   float64 `json:"p90_us"`
	P99   float64 `json:"p99_us"`
	Max   float64 `json:"max_us"`
}

func micros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// Summary returns the count, mean, p50, p90, p99 and maximum of h.
func (h *Histogram) Summary() Latency {
	return Latency{
		Count: h.Count(),
		Mean:  micros(h.Mean()),
		P50:   micros(h.Quantile(0.50)),
		P90:   micros(h.Quantile(0.90)),
		P99:   micros(h.Quantile(0.99)),
		Max:   micros(h.Max()),
	}
}

// Report is what one run measured.
type Report struct {
	Server   string  `json:"server"`
	Mode     Mode    `json:"mode"`
	MACs     int     `json:"macs"`
	InFlight int     `json:"in_flight,omitempty"` // closed loop
	Rate     float64 `json:"offered_rate,omitempty"`
	BusyPoll bool    `json:"busy_poll,omitempty"`
	Tap      bool    `json:"tap,omitempty"`
	Seconds  float64 `json:"seconds"`
	// Exchanges completed in the measured window, and per second.
	Exchanges uint64  `json:"exchanges"`
	PerSecond float64 `json:"per_second"`
	// Full is the whole exchange (DISCOVER to ACK; the only message for
	// the other modes); First and Second are its messages (DISCOVER→OFFER,
	// REQUEST→ACK).
	Full   Latency `json:"full"`
	First  Latency `json:"first"`
	Second Latency `json:"second,omitzero"`
	// Timeouts are messages left unanswered for Config.Timeout; Naks are
	// REQUESTs NAKed; Late are replies to exchanges already finished;
	// Unmatched are replies that fit no exchange; Other are frames that
	// are no reply of the mode's kind (a tap delivers everything the host
	// sends); Skipped are open-loop
	// starts with MaxInFlight already in flight; RxDrops are frames the
	// kernel dropped at the generator's socket.
	Timeouts   uint64 `json:"timeouts"`
	Naks       uint64 `json:"naks"`
	Late       uint64 `json:"late"`
	Unmatched  uint64 `json:"unmatched"`
	Other      uint64 `json:"other,omitempty"`
	SendErrors uint64 `json:"send_errors"`
	Skipped    uint64 `json:"skipped,omitempty"`
	RxDrops    uint64 `json:"rx_drops"`
	Unfinished int    `json:"unfinished"`
	// ServerPID's CPU time (user+system) in the window, in total and per
	// exchange; zero without a PID. LoadCPUPerExchange is the generator's.
	ServerPID          int     `json:"server_pid,omitempty"`
	ServerCPUSeconds   float64 `json:"server_cpu_s"`
	ServerCPUPerExch   float64 `json:"server_cpu_us_per_exchange"`
	LoadCPUPerExchange float64 `json:"load_cpu_us_per_exchange"`
	// LoadAllocs counts heap objects the generator allocated in the window
	// (besides reading /proc at its edges): 0 proves an allocation-free
	// hot path.
	LoadAllocs uint64 `json:"load_allocs"`
}

func (e *engine) report(m0, m1 measurement) *Report {
	secs := time.Duration(m1.at - m0.at).Seconds()
	r := &Report{
		Server:     e.cfg.Server,
		Mode:       e.cfg.Mode,
		MACs:       e.cfg.MACs,
		Seconds:    secs,
		BusyPoll:   e.cfg.BusyPoll,
		Tap:        e.cfg.Tap,
		Exchanges:  e.c.completed,
		Full:       e.full.Summary(),
		First:      e.first.Summary(),
		Second:     e.second.Summary(),
		Timeouts:   e.c.timeouts,
		Naks:       e.c.naks,
		Late:       e.c.late,
		Unmatched:  e.c.unmatched,
		Other:      e.c.other,
		SendErrors: e.c.sendErrors,
		Skipped:    e.c.skipped,
		RxDrops:    m1.drops, // PACKET_STATISTICS resets on read: m0 zeroed it
		Unfinished: e.inFlight(),
		ServerPID:  e.cfg.ServerPID,
		LoadAllocs: m1.allocs - m0.allocs,
	}
	if e.cfg.openLoop() {
		r.Rate = e.cfg.Rate
	} else {
		r.InFlight = e.cfg.InFlight
	}
	if secs > 0 {
		r.PerSecond = float64(r.Exchanges) / secs
	}
	if e.cfg.ServerPID != 0 {
		r.ServerCPUSeconds = (m1.serverCPU - m0.serverCPU).Seconds()
	}
	if r.Exchanges > 0 {
		r.ServerCPUPerExch = micros(m1.serverCPU-m0.serverCPU) / float64(r.Exchanges)
		r.LoadCPUPerExchange = micros(m1.selfCPU-m0.selfCPU) / float64(r.Exchanges)
	}
	return r
}

// load describes the offered load for the table's in-flight column: the
// closed-loop count, or "open 20000/s".
func (r *Report) load() string {
	if r.Rate > 0 {
		return fmt.Sprintf("open %.0f/s", r.Rate)
	}
	return fmt.Sprintf("%d", r.InFlight)
}

// WriteText writes r for humans.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	name := r.Server
	if name == "" {
		name = "server"
	}
	load := fmt.Sprintf("%d in flight", r.InFlight)
	if r.Rate > 0 {
		load = fmt.Sprintf("open loop at %.0f/s", r.Rate)
	}
	fmt.Fprintf(&b, "%s %s, %d MAC(s), %s: %d exchanges in %.2f s = %.0f/s\n",
		name, r.Mode.Title(), r.MACs, load, r.Exchanges, r.Seconds, r.PerSecond)
	line := func(label string, l Latency) {
		fmt.Fprintf(&b, "  %-14s p50 %7.1f µs  p90 %7.1f µs  p99 %7.1f µs  max %8.1f µs  mean %7.1f µs  (n=%d)\n",
			label, l.P50, l.P90, l.P99, l.Max, l.Mean, l.Count)
	}
	if r.Mode == ModeDORA {
		line("full DORA", r.Full)
		line("DISCOVER→OFFER", r.First)
		line("REQUEST→ACK", r.Second)
	} else {
		line(r.Mode.Title(), r.Full)
	}
	fmt.Fprintf(&b, "  timeouts %d, naks %d, late %d, unmatched %d, other frames %d, send errors %d, skipped %d, rx drops %d, unfinished %d\n",
		r.Timeouts, r.Naks, r.Late, r.Unmatched, r.Other, r.SendErrors, r.Skipped, r.RxDrops, r.Unfinished)
	if r.ServerPID != 0 {
		fmt.Fprintf(&b, "  server pid %d: %.2f s CPU = %.1f µs per exchange; ", r.ServerPID, r.ServerCPUSeconds, r.ServerCPUPerExch)
	} else {
		b.WriteString("  ")
	}
	fmt.Fprintf(&b, "generator %.1f µs CPU per exchange, %d heap allocations\n", r.LoadCPUPerExchange, r.LoadAllocs)
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteJSON writes r as one line of JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// ReadReports reads reports written by WriteJSON, one per line; blank
// lines are skipped.
func ReadReports(rd io.Reader) ([]Report, error) {
	var out []Report
	sc := bufio.NewScanner(rd)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var r Report
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			return out, fmt.Errorf("report line %d: %w", n, err)
		}
		out = append(out, r)
	}
	if err := sc.Err(); err != nil {
		return out, fmt.Errorf("reports: %w", err)
	}
	return out, nil
}

// WriteTable writes reports as a Markdown table: server, mode, link, MACs,
// in flight, exchanges/s, full-exchange p50 and p99, server CPU per exchange,
// timeouts. Repeated runs of the same load on the same server (same server,
// mode, link, MACs and in-flight column) make one row, from the run with the
// median exchanges/s; a runs column then says how many there were.
func WriteTable(w io.Writer, reports []Report) error {
	groups := groupRuns(reports)
	multi := false
	for _, g := range groups {
		multi = multi || len(g) > 1
	}
	var b strings.Builder
	b.WriteString("| server | mode | link | MACs | in flight | exchanges/s | p50 µs | p99 µs | server CPU µs/exchange | timeouts |")
	sep := "|---|---|---|---:|---:|---:|---:|---:|---:|---:|"
	if multi {
		b.WriteString(" runs |")
		sep += "---:|"
	}
	b.WriteString("\n" + sep + "\n")
	for _, g := range groups {
		r := median(g)
		cpu := "–"
		if r.ServerPID != 0 {
			cpu = fmt.Sprintf("%.1f", r.ServerCPUPerExch)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %d | %s | %.0f | %.1f | %.1f | %s | %d |",
			cell(r.Server), r.Mode.Title(), r.link(), r.MACs, r.column(), r.PerSecond, r.Full.P50, r.Full.P99, cpu, r.Timeouts)
		if multi {
			fmt.Fprintf(&b, " %d |", len(g))
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// link says how the load reached the server: "veth" (AF_PACKET on a veth
// peer) or "tap" (on the tap's file descriptor).
func (r *Report) link() string {
	if r.Tap {
		return "tap"
	}
	return "veth"
}

// column is the in-flight column: the load, marked when busy polling.
func (r *Report) column() string {
	if r.BusyPoll {
		return r.load() + " (busy poll)"
	}
	return r.load()
}

// groupRuns groups reports of the same load on the same server, in order
// of first appearance.
func groupRuns(reports []Report) [][]*Report {
	var groups [][]*Report
	index := map[string]int{}
	for i := range reports {
		r := &reports[i]
		key := fmt.Sprintf("%s\x00%s\x00%s\x00%d\x00%s", r.Server, r.Mode, r.link(), r.MACs, r.column())
		j, ok := index[key]
		if !ok {
			j = len(groups)
			index[key] = j
			groups = append(groups, nil)
		}
		groups[j] = append(groups[j], r)
	}
	return groups
}

// median returns the run with the median exchanges/s (the lower middle
// one of an even count).
func median(g []*Report) *Report {
	s := slices.Clone(g)
	slices.SortStableFunc(s, func(a, b *Report) int { return cmp.Compare(a.PerSecond, b.PerSecond) })
	return s[(len(s)-1)/2]
}

// cell escapes a Markdown table cell.
func cell(s string) string {
	if s == "" {
		return "–"
	}
	return strings.ReplaceAll(s, "|", `\|`)
}
