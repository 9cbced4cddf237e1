// Package osenv reads a process environment given as "KEY=value"
// entries (os.Environ's form), which every binary's Run takes instead of
// reading the process's own, so that tests can pass theirs. It imports
// only the standard library.
package osenv

import "strings"

// Map returns the variables of env. Entries without "=" are skipped; of
// a key given twice the last value wins.
func Map(env []string) map[string]string {
	m := make(map[string]string, len(env))
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return m
}
