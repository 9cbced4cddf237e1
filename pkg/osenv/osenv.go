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

// Getenv returns a lookup of env's variables in the form of os.Getenv
// ("" for a variable env does not set), for code written against it.
func Getenv(env []string) func(key string) string {
	m := Map(env)
	return func(key string) string { return m[key] }
}
