# shellcheck shell=bash
# cleanup.sh: undo everything run.sh did, whatever state it stopped in
# (sourced; every step tolerates "already gone").

# kill_tree PID: PID and its descendants (by process id only).
kill_tree() {
  local c
  for c in $(ps -o pid= --ppid "$1" 2>/dev/null); do kill_tree "$c"; done
  kill "$1" 2>/dev/null || true
}

# qemu_pids NODE-RUN-DIR: the QEMU processes Ganeti recorded there.
qemu_pids() { cat "$1"/kvm-hypervisor/pid/* 2>/dev/null; }

# purge_left_nothing: no /etc/ganeti NIC script is left that runs
# diktyo (an earlier package's link, Ganeti's copy of diktyo-ifup, or a
# script naming /usr/lib/diktyo); such leftovers are removed.
purge_left_nothing() {
  local f left=""
  for f in /etc/ganeti/kvm-vif-bridge /etc/ganeti/kvm-ifup-custom /etc/ganeti/kvm-ifdown-custom; do
    { [ -L "$f" ] || [ -e "$f" ]; } || continue
    if readlink "$f" | grep -q diktyo || grep -aq -e /usr/lib/diktyo -e github.com/diktyo/diktyo "$f"; then
      left="$left $(ls -l "$f")"; rm -f "$f"
    fi
  done
  [ -z "$left" ] || { echo "left:$left"; return 1; }
}

# keep_logs: both nodes' Ganeti and nfdhcpd logs into the log directory.
keep_logs() {
  local d
  for d in /var/log/ganeti /var/log/nfdhcpd; do
    [ -d $d ] && cp -r $d "$E2E_OUT/n1-${d##*/}-logs"
    [ -d $E2E_N2DIR$d ] && cp -r $E2E_N2DIR$d "$E2E_OUT/n2-${d##*/}-logs"
  done
}

cleanup() {
  set +e
  log "cleanup"
  local f p inst
  keep_logs
  for f in $E2E_RUN/console-*.pid $E2E_RUN/ping-*.pid; do [ -s "$f" ] && kill_tree "$(cat "$f")"; rm -f "$f"; done
  rm -f $E2E_RUN/console-*.node
  if [ -e $E2E_RUN/cluster ] && G /usr/lib/ganeti/daemon-util check ganeti-luxid 2>/dev/null; then
    for inst in $(G timeout 60 gnt-instance list --no-headers -o name 2>/dev/null); do
      G timeout 180 gnt-instance remove -f --ignore-failures "$inst" >>"$E2E_OUT/cleanup-ganeti.log" 2>&1
    done
    if G timeout 30 gnt-node list --no-headers -o name 2>/dev/null | grep -qx $N2; then
      G timeout 120 gnt-node remove $N2 >>"$E2E_OUT/cleanup-ganeti.log" 2>&1
    fi
    G timeout 120 gnt-cluster destroy --yes-do-it >>"$E2E_OUT/cleanup-ganeti.log" 2>&1
  fi
  # QEMU left behind by a failed remove, on either node
  for p in $(qemu_pids /run/ganeti) $(qemu_pids $E2E_N2DIR/run/ganeti); do
    grep -q qemu /proc/"$p"/cmdline 2>/dev/null && kill "$p"
  done
  # node 2 first: removing node 1's /run/diktyo-watch.pid (its init
  # script does) also removes node 2's private pid file mounted over it
  if n2_alive; then
    [ -e $E2E_RUN/watch-started ] && N2X /etc/init.d/diktyo-watch stop >/dev/null 2>&1
    [ -e $E2E_RUN/nfdhcpd-started ] && N2X /etc/init.d/nfdhcpd stop >/dev/null 2>&1
    N2X /usr/lib/ganeti/daemon-util stop-all >/dev/null 2>&1
  fi
  [ -e $E2E_RUN/nfdhcpd-started ] && /etc/init.d/nfdhcpd stop >/dev/null 2>&1
  [ -e $E2E_RUN/watch-started ] && /etc/init.d/diktyo-watch stop >/dev/null 2>&1
  rm -f $E2E_RUN/nfdhcpd-started $E2E_RUN/watch-started
  [ -e $E2E_RUN/rm-watch-pid ] && rm -f /run/diktyo-watch.pid
  G /usr/lib/ganeti/daemon-util stop-all >/dev/null 2>&1
  # A destroy that failed (node 2 could not be removed, see
  # cleanup-ganeti.log) leaves the cluster's files, and the next run would
  # refuse to start: the daemons are stopped, remove them (the package
  # ships the directory empty).
  if [ -e $E2E_RUN/cluster ] && [ -e /var/lib/ganeti/config.data ]; then
    echo "e2e: cleanup: gnt-cluster destroy left /var/lib/ganeti/config.data; removing the cluster's files" | tee -a "$E2E_OUT/cleanup-ganeti.log"
    find /var/lib/ganeti -mindepth 1 -delete
  fi
  [ -s $E2E_RUN/sshd-n2.pid ] && kill "$(cat $E2E_RUN/sshd-n2.pid)" 2>/dev/null
  [ -s $E2E_RUN/sshd-n1.pid ] && kill "$(cat $E2E_RUN/sshd-n1.pid)" 2>/dev/null
  rm -f $E2E_RUN/sshd-n?.pid /etc/ssh/sshd_config.d/diktyo-e2e.conf
  n2_alive && kill "$(n2_holder)"
  rm -f $E2E_RUN/n2-holder.pid
  for f in $NS_N2 $NS_RT $NS_PEER; do ip netns del $f 2>/dev/null; done
  for f in e2en2a e2en2v e2erta e2ertc e2epa gntbr0 gnt0; do ip link del $f 2>/dev/null; done
  # diktyo's state in the root namespace (the interfaces are gone already)
  while ip rule del lookup $TABLE 2>/dev/null; do :; done
  while ip -6 rule del lookup $TABLE 2>/dev/null; do :; done
  ip route flush table $TABLE 2>/dev/null; ip -6 route flush table $TABLE 2>/dev/null
  for f in $(nft list tables 2>/dev/null | awk '$3 ~ /^diktyo/ {print $2 ":" $3}'); do
    nft delete table "${f%%:*}" "${f#*:}"
  done
  if [ -e $E2E_RUN/installed-diktyo ]; then
    dpkg --purge diktyo diktyo-nfdhcpd >"$E2E_OUT/dpkg-purge.log" 2>&1
    rm -f $E2E_RUN/installed-diktyo
    check "cleanup: the purge leaves no NIC script of diktyo in /etc/ganeti" purge_left_nothing
  fi
  [ -e $E2E_RUN/rm-var-lib-nfdhcpd ] && rm -rf /var/lib/nfdhcpd /run/nfdhcpd && rm -f $E2E_RUN/rm-var-lib-nfdhcpd
  rm -rf /srv/ganeti/os/e2e
  [ -e $E2E_RUN/rm-srv-ganeti ] && rm -rf /srv/ganeti
  if [ -e $E2E_RUN/sysctl.orig ]; then
    tac $E2E_RUN/sysctl.orig | while read -r f; do sysctl -qw "$f"; done
    rm -f $E2E_RUN/sysctl.orig
  fi
  if [ -e $E2E_RUN/hosts.orig ]; then cat $E2E_RUN/hosts.orig > /etc/hosts; rm -f $E2E_RUN/hosts.orig; fi
  if [ -e $E2E_RUN/root-ssh.saved ]; then
    rm -rf /root/.ssh
    [ -d $E2E_RUN/root-ssh.orig ] && cp -a $E2E_RUN/root-ssh.orig /root/.ssh
    rm -rf $E2E_RUN/root-ssh.orig $E2E_RUN/root-ssh.saved
  fi
  rm -f $E2E_RUN/cluster
  rm -rf $E2E_N2DIR $E2E_RUN
  echo "cleanup done; logs kept in $E2E_OUT"
}
