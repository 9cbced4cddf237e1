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
