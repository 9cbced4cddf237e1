package ganeti

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

// hookWant is what a hook fixture must parse to.
type hookWant struct {
	opCode, objectType string
	// Instance (empty inst: no instance in either view).
	inst               string
	primary, postPri   string // INSTANCE_PRIMARY, POST_INSTANCE_PRIMARY
	after              string // PrimaryAfter()
	nics               []string
	status, postStatus string
	tags               []string
	// Old and new primary of the Migration in the pre view; empty: none.
	oldPri, newPri string
	check          func(t *testing.T, e *HookEnv)
}

const (
	vm = "vm.ganeti.test"
	n2 = "n2.ganeti.test"
)

var hookFixtures = map[string]hookWant{
	"kvm/cluster-destroy-post.env": {opCode: "OP_CLUSTER_DESTROY", objectType: "CLUSTER", check: func(t *testing.T, e *HookEnv) {
		assertEqual(t, "post view", e.Post, &HookView{OpTarget: "cluster.ganeti.test"})
	}},
	"kvm/cluster-init-post.env": {opCode: "OP_CLUSTER_POST_INIT", objectType: "CLUSTER"},
	"kvm/cluster-modify-pre.env": {opCode: "OP_CLUSTER_SET_PARAMS", objectType: "CLUSTER", check: func(t *testing.T, e *HookEnv) {
		assertEqual(t, "extra", e.Extra, map[string]string{"NEW_VG_NAME": "None"})
	}},
	"kvm/cluster-modify-post.env": {opCode: "OP_CLUSTER_SET_PARAMS", objectType: "CLUSTER", check: func(t *testing.T, e *HookEnv) {
		assertEqual(t, "post extra", e.Post.Extra, map[string]string{"NEW_VG_NAME": "None"})
	}},

	"kvm/instance-add-pre.env": {opCode: "OP_INSTANCE_CREATE", inst: "kvm2.ganeti.test", primary: vm, after: vm,
		nics: []string{"kvm2"}, status: "False", check: checkKVMAdd},
	"kvm/instance-add-post.env": {opCode: "OP_INSTANCE_CREATE", inst: "kvm2.ganeti.test", primary: vm, postPri: vm, after: vm,
		nics: []string{"kvm2"}, status: "False", postStatus: "False", check: checkKVMAdd},

	"kvm/instance-failover-pre.env": {opCode: "OP_INSTANCE_FAILOVER", inst: "kvm1.ganeti.test", primary: n2, after: vm,
		nics: []string{"kvm1"}, status: "up", tags: []string{"harness:tag1"}, oldPri: n2, newPri: vm, check: checkFailover},
	"kvm/instance-failover-post.env": {opCode: "OP_INSTANCE_FAILOVER", inst: "kvm1.ganeti.test", primary: n2, postPri: vm, after: vm,
		nics: []string{"kvm1"}, status: "up", postStatus: "up", tags: []string{"harness:tag1"}, oldPri: n2, newPri: vm, check: checkFailover},
	"kvm/instance-failover-to-n2-pre.env": {opCode: "OP_INSTANCE_FAILOVER", inst: "kvm1.ganeti.test", primary: vm, after: n2,
		nics: []string{"kvm1"}, status: "up", tags: []string{"harness:tag1"}, oldPri: vm, newPri: n2, check: checkFailover},
	"kvm/instance-failover-to-n2-post.env": {opCode: "OP_INSTANCE_FAILOVER", inst: "kvm1.ganeti.test", primary: vm, postPri: n2, after: n2,
		nics: []string{"kvm1"}, status: "up", postStatus: "up", tags: []string{"harness:tag1"}, oldPri: vm, newPri: n2, check: checkFailover},

	"kvm/instance-migrate-pre.env": {opCode: "OP_INSTANCE_MIGRATE", inst: "kvm1.ganeti.test", primary: n2, after: vm,
		nics: []string{"kvm1"}, status: "up", tags: []string{"harness:tag1"}, oldPri: n2, newPri: vm, check: checkMigrate},
	"kvm/instance-migrate-post.env": {opCode: "OP_INSTANCE_MIGRATE", inst: "kvm1.ganeti.test", primary: n2, postPri: vm, after: vm,
		nics: []string{"kvm1"}, status: "up", postStatus: "up", tags: []string{"harness:tag1"}, oldPri: n2, newPri: vm, check: checkMigrate},
	"kvm/instance-migrate-back-pre.env": {opCode: "OP_INSTANCE_MIGRATE", inst: "kvm1.ganeti.test", primary: n2, after: vm,
		nics: []string{"kvm1"}, status: "up", tags: []string{"harness:tag1"}, oldPri: n2, newPri: vm, check: checkMigrate},
	"kvm/instance-migrate-back-post.env": {opCode: "OP_INSTANCE_MIGRATE", inst: "kvm1.ganeti.test", primary: n2, postPri: vm, after: vm,
		nics: []string{"kvm1"}, status: "up", postStatus: "up", tags: []string{"harness:tag1"}, oldPri: n2, newPri: vm, check: checkMigrate},
	"kvm/instance-migrate-to-n2-pre.env": {opCode: "OP_INSTANCE_MIGRATE", inst: "kvm1.ganeti.test", primary: vm, after: n2,
		nics: []string{"kvm1"}, status: "up", tags: []string{"harness:tag1"}, oldPri: vm, newPri: n2, check: checkMigrate},
	"kvm/instance-migrate-to-n2-post.env": {opCode: "OP_INSTANCE_MIGRATE", inst: "kvm1.ganeti.test", primary: vm, postPri: n2, after: n2,
		nics: []string{"kvm1"}, status: "up", postStatus: "up", tags: []string{"harness:tag1"}, oldPri: vm, newPri: n2, check: checkMigrate},

	// The pre phase of instance-modify already shows the NIC being added.
	"kvm/instance-modify-add-nic-hotplug-pre.env": {opCode: "OP_INSTANCE_SET_PARAMS", inst: "kvm1.ganeti.test", primary: vm, after: vm,
		nics: []string{"kvm1-noname", "kvm1-nic1"}, status: "up", tags: []string{"harness:tag1"}},
	"kvm/instance-modify-add-nic-hotplug-post.env": {opCode: "OP_INSTANCE_SET_PARAMS", inst: "kvm1.ganeti.test", primary: vm, postPri: vm, after: vm,
		nics: []string{"kvm1-noname", "kvm1-nic1"}, status: "up", postStatus: "up", tags: []string{"harness:tag1"}},
	"kvm/instance-modify-modify-nic-hotplug-pre.env": {opCode: "OP_INSTANCE_SET_PARAMS", inst: "kvm1.ganeti.test", primary: vm, after: vm,
		nics: []string{"kvm1", "kvm1-nic1"}, status: "up", tags: []string{"harness:tag1"}},
	"kvm/instance-modify-modify-nic-hotplug-post.env": {opCode: "OP_INSTANCE_SET_PARAMS", inst: "kvm1.ganeti.test", primary: vm, postPri: vm, after: vm,
		nics: []string{"kvm1", "kvm1-nic1"}, status: "up", postStatus: "up", tags: []string{"harness:tag1"}},
	"kvm/instance-modify-remove-nic-hotplug-pre.env": {opCode: "OP_INSTANCE_SET_PARAMS", inst: "kvm1.ganeti.test", primary: vm, after: vm,
		nics: []string{"kvm1"}, status: "up", tags: []string{"harness:tag1"}},
	"kvm/instance-modify-remove-nic-hotplug-post.env": {opCode: "OP_INSTANCE_SET_PARAMS", inst: "kvm1.ganeti.test", primary: vm, postPri: vm, after: vm,
		nics: []string{"kvm1"}, status: "up", postStatus: "up", tags: []string{"harness:tag1"}},
	"kvm/instance-modify-pre.env": {opCode: "OP_INSTANCE_SET_PARAMS", inst: "kvm1.ganeti.test", primary: vm, after: vm,
		nics: []string{"kvm1"}, status: "up", tags: []string{"harness:tag1"}},
	"kvm/instance-modify-post.env": {opCode: "OP_INSTANCE_SET_PARAMS", inst: "kvm1.ganeti.test", primary: vm, postPri: vm, after: vm,
		nics: []string{"kvm1"}, status: "up", postStatus: "up", tags: []string{"harness:tag1"}},

	"kvm/instance-reboot-pre.env": {opCode: "OP_INSTANCE_REBOOT", inst: "kvm1.ganeti.test", primary: vm, after: vm,
		nics: []string{"kvm1"}, status: "up", tags: []string{"harness:tag1"}, check: checkExtra("REBOOT_TYPE", "hard")},
	"kvm/instance-reboot-post.env": {opCode: "OP_INSTANCE_REBOOT", inst: "kvm1.ganeti.test", primary: vm, postPri: vm, after: vm,
		nics: []string{"kvm1"}, status: "up", postStatus: "up", tags: []string{"harness:tag1"}, check: checkExtra("REBOOT_TYPE", "hard")},
	"kvm/instance-reboot-hard-pre.env": {opCode: "OP_INSTANCE_REBOOT", inst: "kvm1.ganeti.test", primary: vm, after: vm,
		nics: []string{"kvm1"}, status: "up", tags: []string{"harness:tag1"}, check: checkExtra("REBOOT_TYPE", "hard")},
	"kvm/instance-reboot-hard-post.env": {opCode: "OP_INSTANCE_REBOOT", inst: "kvm1.ganeti.test", primary: vm, postPri: vm, after: vm,
		nics: []string{"kvm1"}, status: "up", postStatus: "up", tags: []string{"harness:tag1"}, check: checkExtra("REBOOT_TYPE", "hard")},
	"kvm/instance-reboot-soft-pre.env": {opCode: "OP_INSTANCE_REBOOT", inst: "kvm1.ganeti.test", primary: vm, after: vm,
		nics: []string{"kvm1"}, status: "up", tags: []string{"harness:tag1"}, check: checkExtra("REBOOT_TYPE", "soft")},
	"kvm/instance-reboot-soft-post.env": {opCode: "OP_INSTANCE_REBOOT", inst: "kvm1.ganeti.test", primary: vm, postPri: vm, after: vm,
		nics: []string{"kvm1"}, status: "up", postStatus: "up", tags: []string{"harness:tag1"}, check: checkExtra("REBOOT_TYPE", "soft")},

	"kvm/instance-remove-pre.env": {opCode: "OP_INSTANCE_REMOVE", inst: "kvm2.ganeti.test", primary: vm, after: vm,
		nics: []string{"kvm2"}, status: "up"},
	"kvm/instance-remove-post.env": {opCode: "OP_INSTANCE_REMOVE", inst: "kvm2.ganeti.test", primary: vm, postPri: vm, after: vm,
		nics: []string{"kvm2"}, status: "up", postStatus: "up"},
	"kvm/instance-start-pre.env": {opCode: "OP_INSTANCE_STARTUP", inst: "kvm2.ganeti.test", primary: vm, after: vm,
		nics: []string{"kvm2"}, status: "down"},
	"kvm/instance-start-post.env": {opCode: "OP_INSTANCE_STARTUP", inst: "kvm2.ganeti.test", primary: vm, postPri: vm, after: vm,
		nics: []string{"kvm2"}, status: "down", postStatus: "up"},
	"kvm/instance-stop-pre.env": {opCode: "OP_INSTANCE_SHUTDOWN", inst: "kvm1.ganeti.test", primary: vm, after: vm,
		nics: []string{"kvm1"}, status: "up", tags: []string{"harness:tag1"}},
	"kvm/instance-stop-post.env": {opCode: "OP_INSTANCE_SHUTDOWN", inst: "kvm1.ganeti.test", primary: vm, postPri: vm, after: vm,
		nics: []string{"kvm1"}, status: "up", postStatus: "down", tags: []string{"harness:tag1"}},

	"kvm/network-add-pre.env":      {opCode: "OP_NETWORK_ADD", objectType: "NETWORK", check: checkNetworkAdd},
	"kvm/network-add-post.env":     {opCode: "OP_NETWORK_ADD", objectType: "NETWORK", check: checkNetworkAdd},
	"kvm/network-connect-pre.env":  {opCode: "OP_NETWORK_CONNECT", objectType: "NETWORK", check: checkNetworkConnect},
	"kvm/network-connect-post.env": {opCode: "OP_NETWORK_CONNECT", objectType: "NETWORK", check: checkNetworkConnect},
	"kvm/node-add-pre.env":         {opCode: "OP_NODE_ADD", objectType: "NODE", check: checkNodeAdd},
	"kvm/node-add-post.env":        {opCode: "OP_NODE_ADD", objectType: "NODE", check: checkNodeAdd},
	"kvm/node-remove-pre.env": {opCode: "OP_NODE_REMOVE", objectType: "NODE", check: func(t *testing.T, e *HookEnv) {
		assertEqual(t, "node", e.Node, &Node{Name: n2})
	}},
	"kvm/node-remove-post.env": {opCode: "OP_NODE_REMOVE", objectType: "NODE", check: func(t *testing.T, e *HookEnv) {
		assertEqual(t, "node", e.Node, &Node{Name: n2})
		assertEqual(t, "post node", e.Post.Node, &Node{Name: n2})
	}},

	"fake/instance-add-pre.env": {opCode: "OP_INSTANCE_CREATE", inst: "fake1.ganeti.test", primary: vm, after: vm,
		nics: []string{"fake1"}, status: "False", check: checkExtra("ADD_MODE", "create")},
	"fake/instance-add-post.env": {opCode: "OP_INSTANCE_CREATE", inst: "fake1.ganeti.test", primary: vm, postPri: vm, after: vm,
		nics: []string{"fake1"}, status: "False", postStatus: "False", check: checkExtra("ADD_MODE", "create")},
	"fake/instance-modify-add-nic-pre.env": {opCode: "OP_INSTANCE_SET_PARAMS", inst: "fake1.ganeti.test", primary: vm, after: vm,
		nics: []string{"fake1", "fake1-nic1"}, status: "up", tags: []string{"harness:tag1"}},
	"fake/instance-modify-add-nic-post.env": {opCode: "OP_INSTANCE_SET_PARAMS", inst: "fake1.ganeti.test", primary: vm, postPri: vm, after: vm,
		nics: []string{"fake1", "fake1-nic1"}, status: "up", postStatus: "up", tags: []string{"harness:tag1"}},
	"fake/instance-modify-pre.env": {opCode: "OP_INSTANCE_SET_PARAMS", inst: "fake1.ganeti.test", primary: vm, after: vm,
		nics: []string{"fake1"}, status: "up", tags: []string{"harness:tag1"}},
	"fake/instance-modify-post.env": {opCode: "OP_INSTANCE_SET_PARAMS", inst: "fake1.ganeti.test", primary: vm, postPri: vm, after: vm,
		nics: []string{"fake1"}, status: "up", postStatus: "up", tags: []string{"harness:tag1"}},
	"fake/instance-modify-remove-nic-pre.env": {opCode: "OP_INSTANCE_SET_PARAMS", inst: "fake1.ganeti.test", primary: vm, after: vm,
		nics: []string{"fake1"}, status: "up", tags: []string{"harness:tag1"}},
	"fake/instance-modify-remove-nic-post.env": {opCode: "OP_INSTANCE_SET_PARAMS", inst: "fake1.ganeti.test", primary: vm, postPri: vm, after: vm,
		nics: []string{"fake1"}, status: "up", postStatus: "up", tags: []string{"harness:tag1"}},
	"fake/instance-reboot-pre.env": {opCode: "OP_INSTANCE_REBOOT", inst: "fake1.ganeti.test", primary: vm, after: vm,
		nics: []string{"fake1"}, status: "up", tags: []string{"harness:tag1"}, check: checkExtra("REBOOT_TYPE", "hard")},
	"fake/instance-reboot-post.env": {opCode: "OP_INSTANCE_REBOOT", inst: "fake1.ganeti.test", primary: vm, postPri: vm, after: vm,
		nics: []string{"fake1"}, status: "up", postStatus: "up", tags: []string{"harness:tag1"}, check: checkExtra("REBOOT_TYPE", "hard")},
	"fake/instance-remove-pre.env": {opCode: "OP_INSTANCE_REMOVE", inst: "fake9.ganeti.test", primary: vm, after: vm,
		nics: []string{"fake1"}, status: "down", tags: []string{"harness:tag1"}},
	"fake/instance-remove-post.env": {opCode: "OP_INSTANCE_REMOVE", inst: "fake9.ganeti.test", primary: vm, postPri: vm, after: vm,
		nics: []string{"fake1"}, status: "down", postStatus: "down", tags: []string{"harness:tag1"}},
	"fake/instance-rename-pre.env": {opCode: "OP_INSTANCE_RENAME", inst: "fake1.ganeti.test", primary: vm, after: vm,
		nics: []string{"fake1"}, status: "down", tags: []string{"harness:tag1"}, check: checkRename},
	"fake/instance-rename-post.env": {opCode: "OP_INSTANCE_RENAME", inst: "fake1.ganeti.test", primary: vm, postPri: vm, after: vm,
		nics: []string{"fake1"}, status: "down", postStatus: "down", tags: []string{"harness:tag1"}, check: checkRename},
	"fake/instance-start-pre.env": {opCode: "OP_INSTANCE_STARTUP", inst: "fake1.ganeti.test", primary: vm, after: vm,
		nics: []string{"fake1"}, status: "down", tags: []string{"harness:tag1"}, check: checkExtra("FORCE", "False")},
	"fake/instance-start-post.env": {opCode: "OP_INSTANCE_STARTUP", inst: "fake1.ganeti.test", primary: vm, postPri: vm, after: vm,
		nics: []string{"fake1"}, status: "down", postStatus: "up", tags: []string{"harness:tag1"}, check: checkExtra("FORCE", "False")},
	"fake/instance-stop-pre.env": {opCode: "OP_INSTANCE_SHUTDOWN", inst: "fake1.ganeti.test", primary: vm, after: vm,
		nics: []string{"fake1"}, status: "up", tags: []string{"harness:tag1"}, check: checkExtra("TIMEOUT", "120")},
	"fake/instance-stop-post.env": {opCode: "OP_INSTANCE_SHUTDOWN", inst: "fake1.ganeti.test", primary: vm, postPri: vm, after: vm,
		nics: []string{"fake1"}, status: "up", postStatus: "down", tags: []string{"harness:tag1"}, check: checkExtra("TIMEOUT", "120")},
}

func checkExtra(k, v string) func(*testing.T, *HookEnv) {
	return func(t *testing.T, e *HookEnv) {
		if got := e.Extra[k]; got != v {
			t.Errorf("Extra[%s] = %q, want %q", k, got, v)
		}
		if e.Post != nil && e.Post.Extra[k] != v {
			t.Errorf("Post.Extra[%s] = %q, want %q", k, e.Post.Extra[k], v)
		}
	}
}

func checkKVMAdd(t *testing.T, e *HookEnv) {
	checkExtra("ADD_MODE", "create")(t, e)
	in := e.Instance
	if in.AdminUp() {
		t.Error("AdminUp() = true for an instance created without starting it")
	}
	if in.Hypervisor != "kvm" || in.DiskTemplate != "diskless" || in.OSType != "harness+default" {
		t.Errorf("hypervisor/disk template/os = %q/%q/%q", in.Hypervisor, in.DiskTemplate, in.OSType)
	}
	if in.MinMem != 256 || in.MaxMem != 256 || in.Memory != 256 || in.VCPUs != 1 || in.DiskCount != 0 {
		t.Errorf("min/max/mem/vcpus/disks = %d/%d/%d/%d/%d", in.MinMem, in.MaxMem, in.Memory, in.VCPUs, in.DiskCount)
	}
	if in.Secondaries != nil {
		t.Errorf("Secondaries = %q, want none", in.Secondaries)
	}
	if got := in.HV["kernel_args"]; got != "quiet panic=-1" {
		t.Errorf("HV[kernel_args] = %q", got)
	}
	if got := in.HV["cdrom_image_path"]; got != "" {
		t.Errorf("HV[cdrom_image_path] = %q", got)
	}
	if len(in.HV) != 65 {
		t.Errorf("%d HV parameters, want 65", len(in.HV))
	}
	assertEqual(t, "BE", in.BE, map[string]string{"always_failover": "False", "auto_balance": "True",
		"maxmem": "256", "minmem": "256", "spindle_use": "1", "vcpus": "1"})
}

func checkMigration(t *testing.T, e *HookEnv, extra map[string]string) {
	assertEqual(t, "extra", e.Extra, extra)
	if e.Post == nil {
		return
	}
	// Ganeti recomputes OLD_PRIMARY after the move: in the post view it is
	// the new primary, and so is NEW_PRIMARY.
	want := &Migration{OldPrimary: e.Migration.NewPrimary, NewPrimary: e.Migration.NewPrimary}
	assertEqual(t, "post migration", e.Post.Migration, want)
	assertEqual(t, "post extra", e.Post.Extra, extra)
}

func checkMigrate(t *testing.T, e *HookEnv) {
	checkMigration(t, e, map[string]string{"ALLOW_RUNTIME_CHANGES": "True", "MIGRATE_CLEANUP": "False", "MIGRATE_LIVE": "True"})
}

func checkFailover(t *testing.T, e *HookEnv) {
	checkMigration(t, e, map[string]string{"FAILOVER_CLEANUP": "False", "IGNORE_CONSISTENCY": "False", "SHUTDOWN_TIMEOUT": "120"})
}

func checkRename(t *testing.T, e *HookEnv) {
	if e.Instance.NewName != "fake9.ganeti.test" {
		t.Errorf("NewName = %q", e.Instance.NewName)
	}
	if e.Post != nil && (e.Post.Instance.Name != "fake1.ganeti.test" || e.Post.Instance.NewName != "fake9.ganeti.test") {
		t.Errorf("post Name, NewName = %q, %q", e.Post.Instance.Name, e.Post.Instance.NewName)
	}
}

func checkNetworkAdd(t *testing.T, e *HookEnv) {
	want := *net2
	want.UUID = "" // network-add has no uuid yet
	assertEqual(t, "network", e.Network, &want)
	if e.Post != nil {
		assertEqual(t, "post network", e.Post.Network, &want)
	}
	if e.OpTarget != "" || e.Extra != nil {
		t.Errorf("OpTarget, Extra = %q, %v", e.OpTarget, e.Extra)
	}
}

func checkNetworkConnect(t *testing.T, e *HookEnv) {
	want := &Group{Name: "default", NetworkMode: ModeRouted, NetworkLink: "100"}
	assertEqual(t, "group", e.Group, want)
	if e.Post != nil {
		assertEqual(t, "post group", e.Post.Group, want)
	}
}

func checkNodeAdd(t *testing.T, e *HookEnv) {
	ip := netip.MustParseAddr("198.18.0.11")
	want := &Node{Name: n2, PrimaryIP: ip, SecondaryIP: ip}
	assertEqual(t, "node", e.Node, want)
	assertEqual(t, "extra", e.Extra, map[string]string{"MASTER_CAPABLE": "True", "VM_CAPABLE": "True"})
	if e.Post != nil {
		assertEqual(t, "post node", e.Post.Node, want)
	}
}

func TestHookFixtures(t *testing.T) {
	nics := fixtureNICs(t)
	seen := 0
	for _, name := range allFixtures(t) {
		if isIfupFixture(name) {
			continue
		}
		seen++
		w, ok := hookFixtures[name]
		if !ok {
			t.Errorf("fixture %s has no entry in hookFixtures", name)
			continue
		}
		t.Run(name, func(t *testing.T) {
			e := loadHook(t, name)
			base := strings.TrimSuffix(name[strings.IndexByte(name, '/')+1:], ".env")
			wantPhase := PhasePre
			if strings.HasSuffix(base, "-post") {
				wantPhase = PhasePost
			}
			if e.Phase != wantPhase || e.Version != 2 || e.OpCode != w.opCode {
				t.Errorf("phase, version, opcode = %q, %d, %q; want %q, 2, %q", e.Phase, e.Version, e.OpCode, wantPhase, w.opCode)
			}
			if !strings.HasPrefix(base, e.Path+"-") {
				t.Errorf("Path = %q, file %s", e.Path, base)
			}
			if e.Cluster != "cluster.ganeti.test" || e.Master != vm || e.DataDir != "/var/lib/ganeti" {
				t.Errorf("cluster, master, data dir = %q, %q, %q", e.Cluster, e.Master, e.DataDir)
			}
			if (e.Post != nil) != (wantPhase == PhasePost) {
				t.Errorf("Post = %v in phase %s", e.Post, e.Phase)
			}
			if wantPhase == PhasePost && e.Latest() != e.Post || wantPhase == PhasePre && e.Latest() != &e.HookView {
				t.Error("Latest() is not the latest view")
			}
			objectType := w.objectType
			if w.inst != "" {
				objectType = "INSTANCE"
			}
			if e.ObjectType != objectType {
				t.Errorf("ObjectType = %q, want %q", e.ObjectType, objectType)
			}
			if got := e.PrimaryAfter(); got != w.after {
				t.Errorf("PrimaryAfter() = %q, want %q", got, w.after)
			}
			if w.oldPri == "" {
				if e.Migration != nil {
					t.Errorf("Migration = %+v, want nil", e.Migration)
				}
			} else {
				assertEqual(t, "migration", e.Migration, &Migration{OldPrimary: w.oldPri, NewPrimary: w.newPri})
			}
			if w.inst == "" {
				if e.Instance != nil || (e.Post != nil && e.Post.Instance != nil) {
					t.Errorf("unexpected instance")
				}
			} else {
				checkInstance(t, "pre", e.Instance, w.inst, w.primary, w.status, w.tags, w.nics, nics)
				if e.OpTarget != w.inst {
					t.Errorf("OpTarget = %q, want %q", e.OpTarget, w.inst)
				}
				if e.Post != nil {
					checkInstance(t, "post", e.Post.Instance, w.inst, w.postPri, w.postStatus, w.tags, w.nics, nics)
					// Apart from primary and status, the two views agree.
					pre, post := *e.Instance, *e.Post.Instance
					pre.Primary, pre.Status, post.Primary, post.Status = "", "", "", ""
					assertEqual(t, "post instance minus primary and status", post, pre)
				}
			}
			if w.check != nil {
				w.check(t, e)
			}
		})
	}
	if seen != len(hookFixtures) {
		t.Errorf("%d hook fixtures on disk, %d in the table", seen, len(hookFixtures))
	}
}

func checkInstance(t *testing.T, view string, in *Instance, name, primary, status string, tags, nicNames []string, nics map[string]NIC) {
	t.Helper()
	if in == nil {
		t.Fatalf("%s: no instance", view)
	}
	if in.Name != name || in.Primary != primary || in.Status != status {
		t.Errorf("%s: name, primary, status = %q, %q, %q; want %q, %q, %q", view, in.Name, in.Primary, in.Status, name, primary, status)
	}
	if got := in.Tags.Sorted(); !reflect.DeepEqual(got, tags) {
		t.Errorf("%s: tags = %q, want %q", view, got, tags)
	}
	for _, tag := range tags {
		if !in.Tags.Has(tag) {
			t.Errorf("%s: Tags.Has(%q) = false", view, tag)
		}
	}
	if len(in.NICs) != len(nicNames) {
		t.Fatalf("%s: %d NICs, want %d", view, len(in.NICs), len(nicNames))
	}
	for i, n := range nicNames {
		assertEqual(t, view+" NIC "+n, in.NICs[i], nics[n])
	}
}

// The ifup environment of a NIC and the hook environment of its instance
// describe the same NIC: NIC() and NIC.IfupEnv convert one into the other
// (the migrate pre hook builds the ifup environment of the NICs Ganeti
// will set up on the target).
func TestIfupAgreesWithHook(t *testing.T) {
	for _, c := range []struct{ ifup, hook string }{
		{"kvm/kvm-ifup-kvm1.ganeti.test-nic0.env", "kvm/instance-modify-modify-nic-hotplug-post.env"},
		{"kvm/kvm-ifup-kvm1.ganeti.test-nic1.env", "kvm/instance-modify-add-nic-hotplug-post.env"},
		{"kvm/kvm-ifup-kvm2.ganeti.test-nic0.env", "kvm/instance-start-post.env"},
		{"kvm/kvm-ifup-kvm1.ganeti.test-nic0.env", "kvm/instance-migrate-to-n2-pre.env"},
	} {
		i := loadIfup(t, c.ifup)
		h := loadHook(t, c.hook)
		in := h.Latest().Instance
		assertEqual(t, c.ifup+" NIC()", i.NIC(), in.NICs[i.Index])
		assertEqual(t, c.hook+" IfupEnv()", in.NICs[i.Index].IfupEnv(in.Name, in.Tags, i.Interface), i)
		if i.Instance != in.Name || !reflect.DeepEqual(i.Tags, in.Tags) {
			t.Errorf("%s: instance %q tags %v; hook: %q %v", c.ifup, i.Instance, i.Tags, in.Name, in.Tags)
		}
	}
}

func TestHookEnvironRoundTrip(t *testing.T) {
	for _, name := range allFixtures(t) {
		if isIfupFixture(name) {
			continue
		}
		env := loadEnv(t, name)
		e := loadHook(t, name)
		out := e.Environ()
		e2, err := ParseHookEnv(out)
		if err != nil {
			t.Fatalf("%s: reparse: %v", name, err)
		}
		assertEqual(t, name+" round trip", e2, e)
		// Environ reproduces Ganeti's own environment, less PATH and PWD,
		// up to the order of the tags.
		assertSameEnv(t, name, out, env, "GANETI_")
	}
}

// assertSameEnv checks that got and the entries of want whose names start
// with prefix are the same variables with the same values, tags compared as
// sets.
func assertSameEnv(t *testing.T, name string, got, want []string, prefix string) {
	t.Helper()
	toMap := func(env []string) map[string]string {
		m := make(map[string]string)
		for _, kv := range env {
			k, v, _ := strings.Cut(kv, "=")
			if strings.HasPrefix(k, prefix) {
				if strings.HasSuffix(k, "TAGS") {
					v = ParseTags(v).String()
				}
				m[k] = v
			}
		}
		return m
	}
	assertEqual(t, name+" Environ", toMap(got), toMap(want))
}

func TestParseHookEnvMap(t *testing.T) {
	env := loadEnv(t, "kvm/instance-migrate-post.env")
	m := make(map[string]string)
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	e, err := ParseHookEnvMap(m)
	if err != nil {
		t.Fatal(err)
	}
	assertEqual(t, "map vs slice", e, loadHook(t, "kvm/instance-migrate-post.env"))
	assertEqual(t, "EnvMap", e.EnvMap(), func() map[string]string {
		delete(m, "PATH")
		delete(m, "PWD")
		return m
	}())
}
