# shellcheck shell=bash
# cluster.sh: the two-node Ganeti cluster with diktyo installed (sourced).
# Node 1 is this machine's root namespace; node 2 lives in netns e2e-n2
# plus its own UTS and mount namespaces, sharing /usr and /etc with node 1
# (one package install serves both) but with private state directories.

# Node 2's private directories (bind-mounted over the shared ones).
N2_PRIVATE="/var/lib/ganeti /run/ganeti /var/log/ganeti /root/.ssh /etc/ssh
/var/lib/diktyo /var/lib/nfdhcpd /run/nfdhcpd /var/log/nfdhcpd"

# install_diktyo installs the packages of make deb (dpkg -i, then apt-get
# install -f if dependencies are missing).
install_diktyo() {
  local debs=("$@")
  [ -e /var/lib/nfdhcpd ] || touch $E2E_RUN/rm-var-lib-nfdhcpd
  if ! dpkg -i "${debs[@]}" >"$E2E_OUT/dpkg-install.log" 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get install -f -y >>"$E2E_OUT/dpkg-install.log" 2>&1
  fi
  touch $E2E_RUN/installed-diktyo
  check "1 diktyo packages installed ($(dpkg-query -W -f='${Version}' diktyo))" \
    dpkg-query -W -f='${Status}\n' diktyo diktyo-nfdhcpd
  check "1 /etc/ganeti/kvm-vif-bridge is diktyo's" vif_bridge_is_diktyos
  check "1 diktyo hooks installed (diktyo-hook list: none missing or foreign)" hooks_installed
}

# vif_bridge_is_diktyos: /etc/ganeti/kvm-vif-bridge is what the package
# made: its script (/usr/share/diktyo/kvm-vif-bridge) or, from packages
# before that, a link to diktyo-ifup.
vif_bridge_is_diktyos() {
  local f=/etc/ganeti/kvm-vif-bridge
  [ "$(readlink $f)" = /usr/sbin/diktyo-ifup ] && return 0
  [ -e /usr/share/diktyo/kvm-vif-bridge ] && [ ! -L $f ] && cmp -s $f /usr/share/diktyo/kvm-vif-bridge && return 0
  ls -l $f; return 1
}

hooks_installed() {
  local out; out=$(diktyo-hook list) || return 1
  echo "$out" > "$E2E_OUT/hooks.txt"
  grep -q installed <<<"$out" && ! grep -Eq 'missing|foreign' <<<"$out"
}

# host_network: gnt0 (an empty bridge standing in for the node's NIC on
# the node segment) and gntbr0 (the instance bridge). No addresses on
# gntbr0: the bridged network's gateway is the router.
host_network() {
  ip link add gnt0 type bridge
  ip addr add $N1_IP/24 dev gnt0
  ip -6 addr add $N1_IP6/64 dev gnt0 nodad
  ip link set gnt0 up
  ip link add gntbr0 type bridge
  ip link set gntbr0 up
}

# hosts_setup: the node names must resolve to non-loopback addresses.
hosts_setup() {
  cp /etc/hosts $E2E_RUN/hosts.orig
  local hn; hn=$(hostname)
  sed -i "s/^127\.0\.[0-9.]*[[:space:]]\+$hn\$/# & # disabled by diktyo-e2e/" /etc/hosts
  cat >> /etc/hosts <<H
# BEGIN diktyo-e2e
$N1_IP $N1 $hn
$CLUSTER_IP $CLUSTER cluster
$N2_IP $N2 n2
# END diktyo-e2e
H
}

# sshd_start: Ganeti needs root ssh to every node (itself included).
# Listens only on loopback and node 1's address.
sshd_start() {
  [ -d /root/.ssh ] && cp -a /root/.ssh $E2E_RUN/root-ssh.orig
  touch $E2E_RUN/root-ssh.saved
  cat > /etc/ssh/sshd_config.d/diktyo-e2e.conf <<C
# diktyo-e2e: only listen on loopback and the Ganeti node address
ListenAddress 127.0.0.1
ListenAddress $N1_IP
PermitRootLogin prohibit-password
PidFile $E2E_RUN/sshd-n1.pid
C
  mkdir -p /run/sshd
  /usr/sbin/sshd -t
  /usr/sbin/sshd
  wait_for 5 test -s $E2E_RUN/sshd-n1.pid
}

# dummy_os: an OS definition so -o e2e+default is valid (--no-install).
dummy_os() {
  local s d=/srv/ganeti/os/e2e
  [ -e /srv/ganeti ] || touch $E2E_RUN/rm-srv-ganeti
  mkdir -p $d
  echo 20 > $d/ganeti_api_version; echo default > $d/variants.list; : > $d/parameters.list
  for s in create import export rename verify; do printf '#!/bin/sh\nexit 0\n' > $d/$s; chmod 755 $d/$s; done
}

# cluster_init: gnt-cluster init, then the kvm hypervisor in software
# emulation booting the e2e guest (kernel_args carry the IPv6 gateways the
# guest pings).
cluster_init() {
  local t0; t0=$(now)
  touch $E2E_RUN/cluster # before: a failed init is cleaned up too
  G gnt-cluster init --enabled-hypervisors=kvm --enabled-disk-templates=diskless \
    --no-etc-hosts --master-netdev=gnt0 --nic-parameters mode=bridged,link=gntbr0 $CLUSTER \
    >"$E2E_OUT/cluster-init.log" 2>&1 || { cat "$E2E_OUT/cluster-init.log"; return 1; }
  G gnt-cluster modify -H kvm:kvm_flag=disabled,kvm_path=/usr/bin/qemu-system-x86_64,kernel_path=$E2E_RUN/guest/vmlinuz,initrd_path=$E2E_RUN/guest/initrd.gz,root_path=/dev/ram0,kernel_args="quiet panic=-1 e2e_gw6=$ROUTED_GW6\,$BRIDGED_GW6",serial_console=true,vnc_bind_address=,nic_type=paravirtual,use_chroot=false,acpi=true
  measure "cluster init took $(since "$t0") s"
}

# node2_namespaces: netns e2e-n2 with eth0 on the node segment and its own
# gntbr0 joined to node 1's; a holder process keeps UTS + mount namespaces
# with private copies of N2_PRIVATE (and /etc/machine-id, nfdhcpd's DUID).
node2_namespaces() {
  local d
  ip netns add $NS_N2
  ip link add e2en2a type veth peer name e2en2b
  ip link set e2en2b netns $NS_N2
  ip -n $NS_N2 link set e2en2b name eth0
  ip link set e2en2a master gnt0 up
  ip -n $NS_N2 link set lo up
  ip -n $NS_N2 addr add $N2_IP/24 dev eth0
  ip -n $NS_N2 -6 addr add $N2_IP6/64 dev eth0 nodad
  ip -n $NS_N2 link set eth0 up
  ip -n $NS_N2 link add gntbr0 type bridge
  ip -n $NS_N2 link set gntbr0 up
  ip link add e2en2v type veth peer name e2en2w
  ip link set e2en2w netns $NS_N2
  ip link set e2en2v master gntbr0 up
  ip -n $NS_N2 link set e2en2w master gntbr0 up

  rm -rf $E2E_N2DIR; mkdir -p $E2E_N2DIR
  local binds=""
  for d in $N2_PRIVATE; do
    mkdir -p "$d" "$E2E_N2DIR$d"
    case $d in
      /root/.ssh|/etc/ssh) cp -a "$d/." "$E2E_N2DIR$d/" ;;
      *) chmod --reference="$d" "$E2E_N2DIR$d"; chown --reference="$d" "$E2E_N2DIR$d" ;;
    esac
    binds="$binds mount --bind $E2E_N2DIR$d $d;"
  done
  mkdir -p $E2E_N2DIR/etc; echo "e2e0000000000000000000000000n2" | md5sum | cut -c1-32 > $E2E_N2DIR/etc/machine-id
  # diktyo-watch's pid file is directly in the shared /run: a private one
  # (a bind mount needs the file to exist on node 1 as well)
  [ -e /run/diktyo-watch.pid ] || { : > /run/diktyo-watch.pid; touch $E2E_RUN/rm-watch-pid; }
  : > $E2E_N2DIR/diktyo-watch.pid
  cat > $E2E_N2DIR/sshd_config <<C
# diktyo-e2e: sshd of node 2
ListenAddress $N2_IP
PermitRootLogin prohibit-password
PidFile $E2E_RUN/sshd-n2.pid
UsePAM no
KbdInteractiveAuthentication no
Subsystem sftp /usr/lib/openssh/sftp-server
C
  # gnt-node add runs "service ssh restart" on the new node: node 2 gets
  # its own /etc/init.d/ssh, which only ever touches node 2's sshd.
  cat > $E2E_N2DIR/initd-ssh <<C
#!/bin/sh
[ -s $E2E_RUN/sshd-n2.pid ] && kill \$(cat $E2E_RUN/sshd-n2.pid) 2>/dev/null && sleep 0.5
case "\$1" in stop) exit 0;; esac
mkdir -p /run/sshd; exec /usr/sbin/sshd -f $E2E_N2DIR/sshd_config
C
  chmod 755 $E2E_N2DIR/initd-ssh
  cat > $E2E_N2DIR/holder.sh <<C
#!/bin/sh
set -e
hostname n2
$binds
mount --bind $E2E_N2DIR/etc/machine-id /etc/machine-id
mount --bind $E2E_N2DIR/diktyo-watch.pid /run/diktyo-watch.pid
mount --bind $E2E_N2DIR/initd-ssh /etc/init.d/ssh
echo \$\$ > $E2E_RUN/n2-holder.pid
exec sleep infinity
C
  chmod 755 $E2E_N2DIR/holder.sh
  setsid env -i PATH=$PATH HOME=/root LANG=C.UTF-8 \
    ip netns exec $NS_N2 unshare --uts --mount --propagation private $E2E_N2DIR/holder.sh \
    </dev/null >"$E2E_OUT/n2-holder.log" 2>&1 &
  wait_for 10 n2_alive
}

# node2_add: node 2's sshd, then gnt-node add.
node2_add() {
  local t0
  N2X /etc/init.d/ssh start
  wait_for 5 test -s $E2E_RUN/sshd-n2.pid
  t0=$(now)
  G gnt-node add --no-ssh-key-check $N2 </dev/null >"$E2E_OUT/node-add.log" 2>&1 || { cat "$E2E_OUT/node-add.log"; return 1; }
  measure "gnt-node add took $(since "$t0") s"
  # Ganeti redistributes /etc/ganeti/kvm-vif-bridge (a kvm ancillary file)
  # from the master to every node; node 2 shares /etc, so this shows what
  # becomes of the package's link on every node of a real cluster.
  check "1 /etc/ganeti/kvm-vif-bridge is still diktyo's after gnt-node add" vif_bridge_is_diktyos
  check "1 cluster has both nodes" test "$(G gnt-node list --no-headers -o name | sort | tr '\n' ' ')" = "$(printf '%s\n' $N1 $N2 | sort | tr '\n' ' ')"
}

# nfdhcpd_start: the package's init script on each node.
nfdhcpd_start() {
  local node
  for node in $N1 $N2; do
    on $node /etc/init.d/nfdhcpd start >>"$E2E_OUT/nfdhcpd-start.log" 2>&1
    touch $E2E_RUN/nfdhcpd-started
    check "1 nfdhcpd runs on $node (init script)" on $node /etc/init.d/nfdhcpd status
  done
  check "1 the two nfdhcpd are distinct processes" test "$(G cat /run/nfdhcpd/nfdhcpd.pid)" != "$(N2X cat /run/nfdhcpd/nfdhcpd.pid)"
}

# watch_start: diktyo-ifup watch on each node, from the package's init
# script, when the package ships one.
watch_start() {
  local node
  [ -x /etc/init.d/diktyo-watch ] || { measure "1 the package ships no /etc/init.d/diktyo-watch: not started"; return 0; }
  for node in $N1 $N2; do
    on $node /etc/init.d/diktyo-watch start >>"$E2E_OUT/diktyo-watch-start.log" 2>&1
    touch $E2E_RUN/watch-started
    check "1 diktyo-watch runs on $node (init script)" on $node /etc/init.d/diktyo-watch status
  done
  check "1 the two diktyo-watch are distinct processes" test "$(G cat /run/diktyo-watch.pid)" != "$(N2X cat /run/diktyo-watch.pid)"
}
