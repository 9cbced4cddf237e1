package dhcpload

import (
	"errors"
	"os"
	"testing"
	"time"
)

func TestParseProcStat(t *testing.T) {
	// A command name with spaces and a ')' inside; utime 1234, stime 56.
	line := "4242 (dns masq) x) S 1 4242 4242 0 -1 4194624 123 0 0 0 1234 56 0 0 20 0 1 0 100 1000 10 " +
		"18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 17 0 0 0 0 0 0\n"
	got, err := parseProcStat([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	if want := 12900 * time.Millisecond; got != want {
		t.Errorf("got %v, want %v", got, want)
	}
	for _, bad := range []string{"", "1 (x) S 1 2", "1 (x) S 1 2 3 4 5 6 7 8 9 10 x 5 6"} {
		if _, err := parseProcStat([]byte(bad)); !errors.Is(err, errStatFormat) {
			t.Errorf("%q: err %v", bad, err)
		}
	}
}

func TestProcessCPUSelf(t *testing.T) {
	if _, err := ProcessCPU(os.Getpid()); err != nil {
		t.Fatal(err)
	}
	if _, err := ProcessCPU(-1); err == nil {
		t.Error("no error for a missing process")
	}
}
