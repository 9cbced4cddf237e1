package nettest

import (
	"slices"
	"strings"
)

// LineDiff lists, sorted, the lines only in a ("- line") and only in b
// ("+ line"), counting repeated lines: what root tests print when a host
// snapshot differs from the one taken before.
func LineDiff(a, b string) string {
	count := map[string]int{}
	for _, l := range strings.Split(a, "\n") {
		count[l]++
	}
	for _, l := range strings.Split(b, "\n") {
		count[l]--
	}
	var d []string
	for l, c := range count {
		for ; c > 0; c-- {
			d = append(d, "- "+l)
		}
		for ; c < 0; c++ {
			d = append(d, "+ "+l)
		}
	}
	slices.Sort(d)
	return strings.Join(d, "\n")
}
