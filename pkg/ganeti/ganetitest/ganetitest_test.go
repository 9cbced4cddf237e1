package ganetitest

import "testing"

func TestEnv(t *testing.T) {
	m := Env(t, "kvm/kvm-ifup-kvm1.ganeti.test-nic0.env", map[string]string{"INTERFACE": "tap9", "BRIDGE": "", "NEW": "x"})
	if m["INTERFACE"] != "tap9" || m["NEW"] != "x" || m["INSTANCE"] != "kvm1.ganeti.test" {
		t.Errorf("overrides or dump values missing: %v", m)
	}
	if _, ok := m["BRIDGE"]; ok {
		t.Error("BRIDGE not deleted")
	}
}

func TestHookEnv(t *testing.T) {
	e := HookEnv(t, "kvm/instance-migrate-post.env")
	if e.Path != "instance-migrate" || e.Phase != "post" {
		t.Errorf("path %q phase %q", e.Path, e.Phase)
	}
}
