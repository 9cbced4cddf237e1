package dhcpload

import (
	"bytes"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/diktyo/diktyo/pkg/golden"
)

// goldenFile checks got against testdata (pkg/golden).
func goldenFile(t *testing.T, name string, got []byte) {
	t.Helper()
	golden.Check(t, filepath.Join("testdata", name), got)
}

func sampleReports() []Report {
	lat := func(p50, p99 float64) Latency {
		return Latency{Count: 1000, Mean: p50 * 1.1, P50: p50, P90: p50 * 1.5, P99: p99, Max: p99 * 3}
	}
	return []Report{
		{Server: "nfdhcpd", Mode: ModeDORA, MACs: 1, InFlight: 16, Seconds: 10, Exchanges: 480000, PerSecond: 48000,
			Full: lat(300, 612.5), First: lat(150, 300), Second: lat(150, 310), ServerPID: 42,
			ServerCPUSeconds: 9.1, ServerCPUPerExch: 18.96, LoadCPUPerExchange: 15},
		{Server: "dnsmasq", Mode: ModeDORA, MACs: 128, InFlight: 1, Seconds: 10, Exchanges: 170000, PerSecond: 17000,
			Full: lat(56, 90), First: lat(28, 45), Second: lat(28, 45), Timeouts: 3, ServerPID: 43,
			ServerCPUSeconds: 5, ServerCPUPerExch: 29.4},
		{Server: "a|b", Mode: ModeNS, MACs: 1, Rate: 20000, Seconds: 10, Exchanges: 200000, PerSecond: 20000,
			Full: lat(40, 80), First: lat(40, 80), Skipped: 5},
	}
}

func TestWriteTable(t *testing.T) {
	var b bytes.Buffer
	if err := WriteTable(&b, sampleReports()); err != nil {
		t.Fatal(err)
	}
	goldenFile(t, "table.golden.md", b.Bytes())
}

func TestWriteText(t *testing.T) {
	var b bytes.Buffer
	for _, r := range sampleReports() {
		if err := r.WriteText(&b); err != nil {
			t.Fatal(err)
		}
	}
	goldenFile(t, "report.golden.txt", b.Bytes())
}

func TestJSONRoundTrip(t *testing.T) {
	var b bytes.Buffer
	want := sampleReports()
	for i := range want {
		if err := want[i].WriteJSON(&b); err != nil {
			t.Fatal(err)
		}
		b.WriteString("\n") // blank lines are skipped
	}
	got, err := ReadReports(&b)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d reports, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("report %d: got %+v\nwant %+v", i, got[i], want[i])
		}
	}
	if _, err := ReadReports(strings.NewReader("{\n")); err == nil {
		t.Error("no error for a broken line")
	}
}

func TestReportFromEngine(t *testing.T) {
	e, _ := newTestEngine(t, Config{Mode: ModeDORA, InFlight: 2, ServerPID: 7, Server: "x"})
	for range 100 {
		e.full.Record(50 * time.Microsecond)
		e.first.Record(25 * time.Microsecond)
		e.second.Record(25 * time.Microsecond)
	}
	e.c.completed, e.c.timeouts = 100, 2
	r := e.report(
		measurement{at: 0, serverCPU: time.Second, selfCPU: time.Second},
		measurement{at: int64(2 * time.Second), serverCPU: time.Second + 2*time.Millisecond,
			selfCPU: time.Second + time.Millisecond, drops: 4})
	if r.PerSecond != 50 || r.ServerCPUPerExch != 20 || r.LoadCPUPerExchange != 10 || r.RxDrops != 4 ||
		r.Full.P50 != 50 || r.InFlight != 2 || r.Timeouts != 2 || r.ServerCPUSeconds != 0.002 {
		t.Errorf("%+v", r)
	}
}

func TestConfigDefaults(t *testing.T) {
	c, err := Config{Mode: ModeDORA, Interface: "eth0"}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if c.InFlight != 1 || c.MACs != 1 || c.Duration != DefaultDuration || c.Timeout != DefaultTimeout ||
		c.slotCount() != 1 || c.openLoop() {
		t.Errorf("%+v", c)
	}
	c, err = Config{Mode: ModeRS, Interface: "eth0", Rate: 100}.withDefaults()
	if err != nil || c.slotCount() != DefaultMaxInFlight || !c.openLoop() {
		t.Errorf("open loop: %+v %v", c, err)
	}
	for name, bad := range map[string]Config{
		"mode":      {Mode: "x", Interface: "eth0"},
		"interface": {Mode: ModeDORA},
		"ns target": {Mode: ModeNS, Interface: "eth0"},
		"v4 target": {Mode: ModeNS, Interface: "eth0", Target: serverIP},
		"mac":       {Mode: ModeDORA, Interface: "eth0", MAC: []byte{1, 2, 3}},
		"negative":  {Mode: ModeDORA, Interface: "eth0", Rate: -1},
		"slots":     {Mode: ModeDORA, Interface: "eth0", InFlight: maxSlots + 1},
	} {
		if _, err := bad.withDefaults(); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: err %v", name, err)
		}
	}
}

func TestWriteTableMedianOfRuns(t *testing.T) {
	base := sampleReports()[0]
	var rs []Report
	for _, rate := range []float64{30000, 50000, 40000} {
		r := base
		r.PerSecond, r.Full.P50 = rate, rate/100
		rs = append(rs, r)
	}
	other := base
	other.InFlight = 1
	rs = append(rs, other)
	busy := other
	busy.BusyPoll = true
	rs = append(rs, busy)
	tap := busy
	tap.Tap = true
	rs = append(rs, tap)
	var b bytes.Buffer
	if err := WriteTable(&b, rs); err != nil {
		t.Fatal(err)
	}
	goldenFile(t, "table-runs.golden.md", b.Bytes())
}
