// Package ganetitest loads the environment dumps of a real Ganeti 3.0.2
// cluster kept in the repository's testdata/ganeti (see pkg/ganeti), with
// a test's changes applied, for the tests of every package that reads
// Ganeti's environment.
//
// This package is for tests only; production code must never import it.
package ganetitest

import (
	"path/filepath"
	"runtime"
	"testing"

	"github.com/diktyo/diktyo/pkg/ganeti"
	"github.com/diktyo/diktyo/pkg/osenv"
)

// Dir is the directory of the dumps: testdata/ganeti at the repository's
// top, found from this source file so that tests in any directory reach it.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "testdata", "ganeti")
}

// Env returns the variables of the dump Dir()/NAME (e.g.
// "kvm/kvm-ifup-kvm1.ganeti.test-nic0.env") with over applied: a value
// replaces the dump's, "" deletes the variable.
func Env(t testing.TB, name string, over map[string]string) map[string]string {
	t.Helper()
	env, err := ganeti.ReadEnvFile(filepath.Join(Dir(), name))
	if err != nil {
		t.Fatal(err)
	}
	m := osenv.Map(env)
	for k, v := range over {
		if v == "" {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	return m
}

// HookEnv returns the parsed hook environment of the dump Dir()/NAME
// (e.g. "kvm/instance-migrate-post.env").
func HookEnv(t testing.TB, name string) *ganeti.HookEnv {
	t.Helper()
	env, err := ganeti.ReadEnvFile(filepath.Join(Dir(), name))
	if err != nil {
		t.Fatal(err)
	}
	e, err := ganeti.ParseHookEnv(env)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return e
}
