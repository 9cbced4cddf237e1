package ganeti_test

import (
	"fmt"
	"log"
	"strings"

	"github.com/diktyo/diktyo/pkg/ganeti"
	"github.com/diktyo/diktyo/pkg/mac"
)

// A post-migration hook finds where the instance runs now, and its NICs.
func ExampleParseHookEnv() {
	environ, err := ganeti.ReadEnvFile("../../testdata/ganeti/kvm/instance-migrate-post.env")
	if err != nil {
		log.Fatal(err)
	}
	// In a hook: environ := os.Environ()
	env, err := ganeti.ParseHookEnv(environ)
	if err != nil {
		log.Fatal(err) // e.g. "GANETI_INSTANCE_NIC1_MAC: invalid MAC \"zz\""
	}
	fmt.Println(env.Path, env.Phase)
	fmt.Println("before:", env.Instance.Primary)
	fmt.Println("after: ", env.Post.Instance.Primary, env.PrimaryAfter())
	for _, nic := range env.Post.Instance.NICs {
		fmt.Println(nic.Index, nic.MAC, nic.IP, nic.Mode, nic.Link, nic.Network.Name, nic.Network.Subnet)
	}
	fmt.Println(env.Instance.Tags.Has("harness:tag1"))
	// Output:
	// instance-migrate post
	// before: n2.ganeti.test
	// after:  vm.ganeti.test vm.ganeti.test
	// 0 aa:00:00:0d:f1:78 198.51.100.2 bridged gntbr0 net1 198.51.100.0/24
	// true
}

func ExampleParseIfupEnv() {
	env, err := ganeti.ParseIfupEnv([]string{
		"PATH=/usr/sbin:/usr/bin", // ignored
		"INSTANCE=kvm2.ganeti.test", "INTERFACE=tap1", "INTERFACE_INDEX=0",
		"MAC=aa:00:01:2d:2b:3b", "IP=198.18.100.2", "MODE=routed", "LINK=100", "VLAN=", "TAGS=",
		"NETWORK_NAME=net2", "NETWORK_SUBNET=198.18.100.0/24", "NETWORK_TAGS=routed nfdhcpd",
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(env.Interface, env.Mode, env.IP, env.Link, env.Network.Subnet, env.Network.Tags)
	// Output:
	// tap1 routed 198.18.100.2 100 198.18.100.0/24 nfdhcpd routed
}

// Tests of other packages build environments from values.
func ExampleIfupEnv_Environ() {
	vlan, _ := ganeti.ParseVLAN(".10:20:30")
	e := ganeti.IfupEnv{Instance: "i1", Interface: "tap0", Mode: ganeti.ModeOpenvSwitch,
		Link: "br-int", VLAN: vlan, Tags: ganeti.NewTags("b", "a")}
	e.MAC, _ = mac.Parse("aa:00:00:00:00:01")
	fmt.Println(strings.Join(e.Environ(), "\n"))
	// Output:
	// INSTANCE=i1
	// INTERFACE=tap0
	// INTERFACE_INDEX=0
	// LINK=br-int
	// MAC=aa:00:00:00:00:01
	// MODE=openvswitch
	// TAGS=a b
	// VLAN=.10:20:30
}

func ExampleParseVLAN() {
	for _, s := range []string{"", ".10", ":10:20", ".10:20", ".10:"} {
		v, err := ganeti.ParseVLAN(s)
		fmt.Printf("%q access=%d trunks=%v err=%v\n", s, v.Access, v.Trunks, err)
	}
	// Output:
	// "" access=0 trunks=[] err=<nil>
	// ".10" access=10 trunks=[] err=<nil>
	// ":10:20" access=0 trunks=[10 20] err=<nil>
	// ".10:20" access=10 trunks=[20] err=<nil>
	// ".10:" access=0 trunks=[] err=invalid VLAN ".10:": empty VLAN ID
}
