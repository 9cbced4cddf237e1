package nfqueue

import (
	"strings"
	"testing"
)

func TestParseProcStats(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []QueueStats
		wantErr bool
	}{
		{"empty", "", nil, false},
		{
			// Format: "%5u %6u %5u %1u %5u %5u %5u %8u %2d\n"
			"two queues",
			"   42 3052249013     0 2 65535     0     0        5  1\n   45   1234     3 2   512    17     2 4294967295  1\n",
			[]QueueStats{
				{Queue: 42, PortID: 3052249013, Outstanding: 0, CopyMode: 2, CopyRange: 65535, IDSequence: 5},
				{Queue: 45, PortID: 1234, Outstanding: 3, CopyMode: 2, CopyRange: 512, QueueDropped: 17, UserDropped: 2, IDSequence: 4294967295},
			},
			false,
		},
		{"blank lines skipped", "\n42 1 0 2 100 0 0 1 1\n\n", []QueueStats{{Queue: 42, PortID: 1, CopyMode: 2, CopyRange: 100, IDSequence: 1}}, false},
		{"too few fields", "42 1 0 2 100 0 0\n", nil, true},
		{"queue out of range", "65536 1 0 2 100 0 0 1 1\n", nil, true},
		{"not a number", "42 x 0 2 100 0 0 1 1\n", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseProcStats(strings.NewReader(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("line %d: got %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestFind(t *testing.T) {
	st := []QueueStats{{Queue: 42}, {Queue: 43, Outstanding: 2}}
	if s, ok := Find(st, 43); !ok || s.Outstanding != 2 {
		t.Errorf("Find 43 = %+v, %v", s, ok)
	}
	if _, ok := Find(st, 44); ok {
		t.Error("Find 44 found something")
	}
}
