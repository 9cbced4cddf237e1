#!/bin/bash
# Package test (issue 13): installs the packages of `make deb` into a clean
# Debian 12 root and checks files, conffiles, the hook entries, Ganeti's NIC
# script links (an operator's own file left alone), every binary's
# --version, that nfdhcpd starts as the systemd unit runs it (system user,
# CAP_NET_ADMIN + CAP_NET_RAW only) and from its init script, then purges
# and checks that nothing is left behind. A second root gets GRNET's
# nfdhcpd package (a stand-in with GRNET's file layout and sample config)
# and binding files first: installing diktyo-nfdhcpd over it keeps the
# operator's config and bindings, and nfdhcpd serves them unchanged.
#
# usage: scripts/deb/test.sh DEB_DIR
#
# The clean root is debootstrap's minbase of bookworm (plus the packages'
# dependencies, and systemd for systemd-analyze: it does not run), made
# once and cached as a tarball ($DIKTYO_DEBTEST_CACHE, default
# /var/cache/diktyo/debtest-bookworm-adduser-procps-systemd.tar); making it needs the Debian
# archive ($DIKTYO_DEBTEST_MIRROR). Everything after that runs in new
# network and mount namespaces: the daemons bind their queues there, and
# the machine's network is never touched. Needs debootstrap, iproute2 and
# util-linux (make deb installs debootstrap).
set -euo pipefail

deb_dir=$(realpath "${1:?usage: $0 DEB_DIR}")
src=$(cd "$(dirname "$0")/../.." && pwd)
# Packages the root gets beyond minbase: the packages' dependencies that
# are not in minbase, and systemd for systemd-analyze.
includes=adduser,procps,systemd
cache=${DIKTYO_DEBTEST_CACHE:-/var/cache/diktyo/debtest-bookworm-${includes//,/-}.tar}
mirror=${DIKTYO_DEBTEST_MIRROR:-http://deb.debian.org/debian}

fail() { echo "deb-test: FAIL: $*" >&2; exit 1; }
step() { echo "deb-test: $*"; }

for tool in debootstrap ip unshare setpriv; do
	command -v "$tool" >/dev/null || fail "$tool missing: install debootstrap, iproute2 and util-linux (make deb installs debootstrap)"
done

if [ -z "${DIKTYO_DEBTEST_INNER:-}" ]; then
	if [ ! -s "$cache" ]; then
		step "making the clean Debian 12 root (once; cached in $cache)"
		tmp=$(mktemp -d /var/tmp/diktyo-debootstrap.XXXXXX)
		trap 'rm -rf --one-file-system "$tmp"' EXIT
		debootstrap --variant=minbase --include="$includes" bookworm "$tmp/root" "$mirror" >"$tmp/log" 2>&1 ||
			{ tail -20 "$tmp/log" >&2; fail "debootstrap bookworm from $mirror"; }
		rm -rf "$tmp/root/var/cache/apt/archives/"*.deb
		mkdir -p "$(dirname "$cache")"
		tar -C "$tmp/root" -cf "$cache.new" . && mv "$cache.new" "$cache"
		rm -rf --one-file-system "$tmp"
		trap - EXIT
	fi
	exec unshare --net --mount --fork env DIKTYO_DEBTEST_INNER=1 "$0" "$@"
fi

# From here on: private network and mount namespaces.
ip link set lo up
work=$(mktemp -d /var/tmp/diktyo-debtest.XXXXXX)
root=""
cleanup() {
	if [ -n "$root" ]; then
		pkill_root
		umount "$root/proc" 2>/dev/null || true
	fi
	rm -rf --one-file-system "$work"
}
# pkill_root kills what still runs from the chroot (its daemons).
pkill_root() {
	local p
	for p in /proc/[0-9]*; do
		[ "$(readlink "$p/root" 2>/dev/null)" = "$root" ] && kill -9 "${p#/proc/}" 2>/dev/null || true
	done
}
trap cleanup EXIT

# new_root unpacks a clean root into $work/$1 and sets $root.
new_root() {
	root=$work/$1
	mkdir -p "$root"
	tar -C "$root" -xf "$cache"
	mount -t proc proc "$root/proc"
	# Services are started by hand below, not by the maintainer scripts.
	printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
	chmod 755 "$root/usr/sbin/policy-rc.d"
	mkdir -p "$root/tmp/debs"
	cp "$deb_dir"/*.deb "$root/tmp/debs/"
}
in_root() { chroot "$root" "$@"; }
# snapshot lists the root's files, without the package database, dpkg's
# logs, caches and /proc, /tmp.
snapshot() {
	(cd "$root" && find . -xdev \( -path ./proc -o -path ./tmp -o -path ./var/lib/dpkg -o -path ./var/log/dpkg.log \
		-o -path ./var/log/alternatives.log -o -path ./var/cache -o -path ./var/lib/apt \) -prune -o -print | sort)
}
expect_file() { [ -f "$root$1" ] || fail "$1 missing"; }
expect_link() {
	[ -L "$root$1" ] || fail "$1 is not a symlink"
	[ "$(readlink "$root$1")" = "$2" ] || fail "$1 -> $(readlink "$root$1"), want $2"
}
# expect_nic_script NAME: /etc/ganeti/NAME is diktyo's script (a copy of
# /usr/share/diktyo/NAME, executable) and runs diktyo-ifup as NAME.
expect_nic_script() {
	local f=/etc/ganeti/$1 out
	[ -f "$root$f" ] && [ ! -L "$root$f" ] && [ -x "$root$f" ] || fail "$f is not an executable file"
	cmp -s "$root$f" "$root/usr/share/diktyo/$1" || fail "$f differs from /usr/share/diktyo/$1"
	[ -L "$root/usr/lib/diktyo/$1" ] && [ "$(readlink -f "$root/usr/lib/diktyo/$1")" = "$root/usr/sbin/diktyo-ifup" ] ||
		fail "/usr/lib/diktyo/$1 is not a link to diktyo-ifup"
	out=$(in_root env -i "$f" 2>&1) && fail "$f without Ganeti's environment succeeded: $out"
	grep -q '^diktyo-ifup: ' <<<"$out" || fail "$f does not run diktyo-ifup: $out"
}
wait_for() { # wait_for SECONDS FILE PATTERN
	local i
	for ((i = 0; i < $1 * 10; i++)); do
		grep -q -- "$3" "$2" 2>/dev/null && return 0
		sleep 0.1
	done
	fail "no \"$3\" in $2 within $1 s: $(tail -5 "$2" 2>/dev/null)"
}
# taps creates the taps and bridge of the sample binding files.
taps() {
	ip link add gntbr0 type bridge 2>/dev/null || true
	for t in tap5 tap7 tap9; do ip tuntap add "$t" mode tap 2>/dev/null || true; done
	ip link set tap7 master gntbr0
}
check_bindings() { # check_bindings LOG: the sample bindings are served
	wait_for 10 "$1" 'msg="binding table" bindings=3'
	grep -q 'tap=tap5 .*stale=false mac=aa:00:01:12:34:56 ip=198.18.100.77 .*gateway6=2001:db8:100::1' "$1" || fail "tap5 binding not served: $1"
	grep -q 'tap=tap7 indev=gntbr0 .*stale=false mac=aa:00:00:5e:10:07 ip=198.51.100.23' "$1" || fail "tap7 binding not served: $1"
	grep -q 'tap=tap9 .*private=true' "$1" || fail "tap9 binding not served: $1"
}
# unit_serves LOG runs nfdhcpd as nfdhcpd.service does (its ExecStart,
# user nfdhcpd, ambient and bounding capabilities CAP_NET_ADMIN and
# CAP_NET_RAW only), checks it serves the sample bindings, and stops it.
unit_serves() {
	local unit=$root/lib/systemd/system/nfdhcpd.service pid
	# shellcheck disable=SC2046 # ExecStart's words
	chroot "$root" setpriv --reuid=nfdhcpd --regid=nfdhcpd --init-groups --inh-caps=-all,+net_admin,+net_raw \
		--ambient-caps=-all,+net_admin,+net_raw --bounding-set=-all,+net_admin,+net_raw \
		$(sed -n 's/^ExecStart=//p' "$unit") >"$1" 2>&1 &
	pid=$!
	wait_for 10 "$1" 'nfdhcpd serving'
	grep -q "uid=$(in_root id -u nfdhcpd) " "$1" || fail "nfdhcpd not serving as nfdhcpd: $(cat "$1")"
	usr1 "$pid"
	check_bindings "$1"
	kill "$pid"
	wait "$pid" || fail "nfdhcpd (as the unit) exit status $?: $(tail -3 "$1")"
}
# gone PID: the process has exited (or is a zombie) within 5 s.
gone() {
	local i
	for ((i = 0; i < 50; i++)); do
		[ -e "/proc/$1" ] && [ "$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)" != Z ] || return 0
		sleep 0.1
	done
	return 1
}
# usr1 PID: ask nfdhcpd to log its binding table.
usr1() { kill -USR1 "$1"; }

diktyo_deb=$(cd "$deb_dir" && ls diktyo_*.deb)
nfdhcpd_deb=$(cd "$deb_dir" && ls diktyo-nfdhcpd_*.deb)
vers=$(dpkg-deb -f "$deb_dir/$diktyo_deb" Version)

### 1. Install into a clean root.
new_root fresh
# An operator's own GRNET ifup script: must stay as it is.
mkdir -p "$root/etc/ganeti"
printf '#!/bin/sh\n# operator script\n' >"$root/etc/ganeti/kvm-ifup-custom"
chmod 755 "$root/etc/ganeti/kvm-ifup-custom"
operator_sum=$(md5sum <"$root/etc/ganeti/kvm-ifup-custom")
before=$(snapshot)

step "installing diktyo $vers and diktyo-nfdhcpd into a clean Debian 12 root"
in_root dpkg -i "/tmp/debs/$diktyo_deb" "/tmp/debs/$nfdhcpd_deb" >"$work/install.log" 2>&1 ||
	{ cat "$work/install.log" >&2; fail "dpkg -i"; }
in_root dpkg-query -W -f='${Status}\n' diktyo diktyo-nfdhcpd | grep -vqx 'install ok installed' &&
	fail "packages not installed: $(in_root dpkg-query -W -f='${Package} ${Status}\n' diktyo diktyo-nfdhcpd)"

step "files"
for f in /usr/sbin/diktyo-ifup /usr/sbin/diktyo-hook /usr/sbin/diktyo-ipam /usr/sbin/nfdhcpd \
	/etc/default/diktyo /etc/nfdhcpd/nfdhcpd.conf /etc/init.d/nfdhcpd /etc/cron.d/diktyo \
	/etc/init.d/diktyo-watch /lib/systemd/system/diktyo-watch.service \
	/lib/systemd/system/nfdhcpd.service /lib/systemd/system/diktyo-reconcile.service \
	/lib/systemd/system/diktyo-reconcile.timer /usr/share/bash-completion/completions/diktyo-ipam \
	/usr/share/man/man8/diktyo-ifup.8.gz /usr/share/man/man8/diktyo-hook.8.gz \
	/usr/share/man/man8/diktyo-ipam.8.gz /usr/share/man/man8/nfdhcpd.8.gz; do
	expect_file "$f"
done
for d in /var/lib/diktyo /var/lib/nfdhcpd /var/log/nfdhcpd; do [ -d "$root$d" ] || fail "$d missing"; done
expect_link /etc/systemd/system/timers.target.wants/diktyo-reconcile.timer /lib/systemd/system/diktyo-reconcile.timer
expect_link /etc/systemd/system/multi-user.target.wants/nfdhcpd.service /lib/systemd/system/nfdhcpd.service
expect_link /etc/systemd/system/multi-user.target.wants/diktyo-watch.service /lib/systemd/system/diktyo-watch.service
ls "$root"/etc/rc2.d/S*nfdhcpd >/dev/null 2>&1 || fail "init script not enabled (no /etc/rc2.d/S*nfdhcpd)"
ls "$root"/etc/rc2.d/S*diktyo-watch >/dev/null 2>&1 || fail "init script not enabled (no /etc/rc2.d/S*diktyo-watch)"
in_root getent passwd nfdhcpd >/dev/null || fail "system user nfdhcpd missing"
in_root bash -c '. /usr/share/bash-completion/completions/diktyo-ipam && complete -p diktyo-ipam' >/dev/null ||
	fail "bash completion of diktyo-ipam does not load"

step "conffiles"
conffiles=$(in_root dpkg-query -W -f='${Conffiles}\n' diktyo diktyo-nfdhcpd | awk 'NF { print $1 }' | sort | tr '\n' ' ')
[ "$conffiles" = "/etc/cron.d/diktyo /etc/default/diktyo /etc/init.d/diktyo-watch /etc/init.d/nfdhcpd /etc/nfdhcpd/nfdhcpd.conf " ] ||
	fail "conffiles: $conffiles"
# /etc/default/diktyo lists every key pkg/ifupconf accepts.
keys=$(sed -n '/^var setters = map/,/^}/p' "$src/pkg/ifupconf/config.go" | grep -o '^[[:space:]]*"[A-Z0-9_]*":' | tr -d ' \t":')
[ -n "$keys" ] || fail "no keys found in pkg/ifupconf/config.go"
for k in $keys UPLINK_; do
	grep -q "^#$k" "$root/etc/default/diktyo" || fail "/etc/default/diktyo does not list $k"
done
# ... and is read without a warning when every listed default is set
# (but IP_LESS_ROUTED_TAG, which warns that it has no effect while
# ROUTED_REQUIRE_TAG=no).
sed -n 's/^#\([A-Z0-9_]*=\)/\1/p' "$root/etc/default/diktyo" | grep -Ev '^(UPLINK_<|IP_LESS_ROUTED_TAG=)' >"$root/tmp/defaults"
out=$(in_root env DIKTYO_CONFIG=/tmp/defaults DIKTYO_STATE_DIR=/tmp/state diktyo-ifup show 2>&1) ||
	fail "diktyo-ifup show with every documented default set: $out"
[ -z "$(grep -i warn <<<"$out")" ] || fail "documented defaults give warnings: $out"

step "Ganeti's NIC scripts and hook entries"
expect_nic_script kvm-vif-bridge
expect_nic_script kvm-ifdown-custom
[ "$(md5sum <"$root/etc/ganeti/kvm-ifup-custom")" = "$operator_sum" ] || fail "the operator's kvm-ifup-custom was changed"
grep -q "/etc/ganeti/kvm-ifup-custom exists and is not diktyo's: left alone" "$work/install.log" ||
	fail "postinst did not say it left kvm-ifup-custom alone: $(cat "$work/install.log")"
hooks=$(in_root diktyo-hook list)
served=$(wc -l <<<"$hooks")
[ "$served" -ge 17 ] || fail "diktyo-hook list shows $served directories: $hooks"
grep -v '^installed ' <<<"$hooks" && fail "hook entries not all installed"
for e in $(awk '{ print $2 }' <<<"$hooks"); do expect_link "$e" /usr/sbin/diktyo-hook; done

step "every binary's --version"
for b in diktyo-ifup diktyo-hook diktyo-ipam nfdhcpd; do
	out=$(in_root "$b" --version 2>&1) || fail "$b --version: $out"
	grep -q "version $vers\$" <<<"$out" || fail "$b --version says \"$out\", want version $vers"
done

step "systemd units (systemd-analyze verify and security --offline)"
in_root systemd-analyze verify --man=no /lib/systemd/system/nfdhcpd.service /lib/systemd/system/diktyo-reconcile.service \
	/lib/systemd/system/diktyo-reconcile.timer /lib/systemd/system/diktyo-watch.service >"$work/verify.log" 2>&1 || fail "systemd-analyze verify: $(cat "$work/verify.log")"
in_root systemd-analyze security --offline=true --threshold=25 /lib/systemd/system/nfdhcpd.service >"$work/security.log" 2>&1 ||
	fail "nfdhcpd.service exposure above 2.5: $(tail -3 "$work/security.log")"
step "  nfdhcpd.service: $(grep -o 'Overall exposure level.*' "$work/security.log")"
rm -f "$root/run/systemd/systemd-units-load" # systemd-analyze's, not the packages'

step "reinstalling diktyo (an upgrade) keeps the NIC scripts and hook entries, and replaces older diktyo's"
# kvm-vif-bridge as earlier versions left it on the master (a link), and
# kvm-ifdown-custom as Ganeti copied that link to another node (the
# binary itself): both are diktyo's and become the script.
ln -sf /usr/sbin/diktyo-ifup "$root/etc/ganeti/kvm-vif-bridge"
cp "$root/usr/sbin/diktyo-ifup" "$root/etc/ganeti/kvm-ifdown-custom"
in_root dpkg -i "/tmp/debs/$diktyo_deb" >"$work/reinstall.log" 2>&1 || { cat "$work/reinstall.log" >&2; fail "dpkg -i again"; }
[ "$(in_root diktyo-hook list)" = "$hooks" ] || fail "hook entries changed by an upgrade: $(in_root diktyo-hook list)"
expect_nic_script kvm-vif-bridge
expect_nic_script kvm-ifdown-custom
[ "$(md5sum <"$root/etc/ganeti/kvm-ifup-custom")" = "$operator_sum" ] || fail "an upgrade changed the operator's kvm-ifup-custom"

step "nfdhcpd as the systemd unit runs it (user nfdhcpd, CAP_NET_ADMIN and CAP_NET_RAW only)"
taps
cp "$src"/pkg/binding/testdata/tap5 "$src"/pkg/binding/testdata/tap7 "$src"/pkg/binding/testdata/tap9 "$root/var/lib/nfdhcpd/"
caps=$(sed -n 's/^AmbientCapabilities=//p' "$root/lib/systemd/system/nfdhcpd.service")
[ "$caps" = "CAP_NET_ADMIN CAP_NET_RAW" ] || fail "unit AmbientCapabilities=$caps"
grep -qx 'CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_RAW' "$root/lib/systemd/system/nfdhcpd.service" || fail "unit CapabilityBoundingSet"
grep -qx 'Restart=on-failure' "$root/lib/systemd/system/nfdhcpd.service" || fail "unit Restart"
unit_serves "$work/unit.log"

step "nfdhcpd from its init script (hosts without systemd)"
in_root /etc/init.d/nfdhcpd start >"$work/init.log" 2>&1 || fail "init script start: $(cat "$work/init.log")"
pid=$(cat "$root/run/nfdhcpd/nfdhcpd.pid")
in_root /etc/init.d/nfdhcpd status >/dev/null || fail "init script status after start"
[ "$(stat -c %u "/proc/$pid")" = "$(in_root id -u nfdhcpd)" ] || fail "nfdhcpd from the init script runs as uid $(stat -c %u "/proc/$pid")"
usr1 "$pid"
check_bindings "$root/var/log/nfdhcpd/nfdhcpd.log"
in_root /etc/init.d/nfdhcpd stop >>"$work/init.log" 2>&1 || fail "init script stop: $(cat "$work/init.log")"
gone "$pid" || fail "nfdhcpd still runs after init script stop"
rm -f "$root"/var/lib/nfdhcpd/tap[579]

step "diktyo-ifup watch from its init script"
in_root /etc/init.d/diktyo-watch start >"$work/watch.log" 2>&1 || fail "diktyo-watch start: $(cat "$work/watch.log")"
pid=$(cat "$root/run/diktyo-watch.pid")
sleep 0.5
in_root /etc/init.d/diktyo-watch status >/dev/null || fail "diktyo-watch status after start"
tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q 'diktyo-ifup watch' || fail "pid $pid is not diktyo-ifup watch"
in_root /etc/init.d/diktyo-watch stop >>"$work/watch.log" 2>&1 || fail "diktyo-watch stop: $(cat "$work/watch.log")"
gone "$pid" || fail "diktyo-ifup watch still runs after init script stop"
[ ! -e "$root/run/diktyo-watch.pid" ] || fail "diktyo-watch left its pid file"

step "purge"
in_root dpkg --purge diktyo diktyo-nfdhcpd >"$work/purge.log" 2>&1 || { cat "$work/purge.log" >&2; fail "dpkg --purge"; }
[ "$(md5sum <"$root/etc/ganeti/kvm-ifup-custom")" = "$operator_sum" ] || fail "purge changed the operator's kvm-ifup-custom"
after=$(snapshot)
# The system user stays, as Debian leaves system users (files may carry
# its uid): only the account files may differ, and adduser's lock file in
# /run (a tmpfs on a real host).
left=$(diff <(echo "$before") <(echo "$after") | grep -Ev '^[<>] \./(etc/(passwd|group|shadow|gshadow)-?|run/adduser)$' |
	grep '^[<>]' || true)
[ -z "$left" ] || fail "purge left the root different from before install:
$left"
pkill_root
umount "$root/proc"

### 2. Upgrade over GRNET's nfdhcpd.
new_root grnet
step "installing a GRNET nfdhcpd package (stand-in: GRNET's paths, the sample config) with binding files"
pkg=$work/grnet-nfdhcpd
mkdir -p "$pkg/DEBIAN" "$pkg/etc/nfdhcpd" "$pkg/etc/init.d" "$pkg/usr/sbin" "$pkg/var/lib/nfdhcpd"
cp "$src/pkg/nfdconf/testdata/nfdhcpd.conf" "$pkg/etc/nfdhcpd/nfdhcpd.conf"
printf '#!/bin/sh\nexit 0\n' >"$pkg/etc/init.d/nfdhcpd"
printf '#!/bin/sh\necho GRNET nfdhcpd stand-in\n' >"$pkg/usr/sbin/nfdhcpd"
chmod 755 "$pkg/etc/init.d/nfdhcpd" "$pkg/usr/sbin/nfdhcpd"
printf '/etc/nfdhcpd/nfdhcpd.conf\n/etc/init.d/nfdhcpd\n' >"$pkg/DEBIAN/conffiles"
cat >"$pkg/DEBIAN/control" <<CONTROL
Package: nfdhcpd
Version: 0.12.4-1
Architecture: all
Maintainer: test <test@example.org>
Description: stand-in for GRNET's nfdhcpd
CONTROL
dpkg-deb --root-owner-group -b "$pkg" "$root/tmp/debs/nfdhcpd_0.12.4-1_all.deb" >/dev/null
in_root dpkg -i /tmp/debs/nfdhcpd_0.12.4-1_all.deb >/dev/null
cp "$src"/pkg/binding/testdata/tap5 "$src"/pkg/binding/testdata/tap7 "$src"/pkg/binding/testdata/tap9 "$root/var/lib/nfdhcpd/"
# The operator's edit of the packaged config.
echo "# edited by the operator" >>"$root/etc/nfdhcpd/nfdhcpd.conf"
conf_sum=$(md5sum <"$root/etc/nfdhcpd/nfdhcpd.conf")
bind_sum=$(cat "$root"/var/lib/nfdhcpd/tap[579] | md5sum)

step "installing diktyo-nfdhcpd over it (dpkg --force-confold, as unattended upgrades run)"
in_root dpkg -i --force-confdef --force-confold "/tmp/debs/$nfdhcpd_deb" </dev/null >"$work/upgrade.log" 2>&1 ||
	{ cat "$work/upgrade.log" >&2; fail "dpkg -i diktyo-nfdhcpd over nfdhcpd"; }
in_root dpkg-query -W -f='${Status}\n' nfdhcpd 2>/dev/null | grep -q '^install ok installed' && fail "GRNET's nfdhcpd still installed"
[ "$(md5sum <"$root/etc/nfdhcpd/nfdhcpd.conf")" = "$conf_sum" ] || fail "the operator's nfdhcpd.conf was replaced"
[ "$(cat "$root"/var/lib/nfdhcpd/tap[579] | md5sum)" = "$bind_sum" ] || fail "binding files changed"
in_root dpkg-query -W -f='${Conffiles}\n' diktyo-nfdhcpd | grep -q '^ /etc/nfdhcpd/nfdhcpd.conf ' ||
	fail "diktyo-nfdhcpd does not own /etc/nfdhcpd/nfdhcpd.conf"

step "nfdhcpd serves GRNET's config and binding files unchanged (unit and init script)"
unit_serves "$work/unit2.log"
in_root /etc/init.d/nfdhcpd start >"$work/init2.log" 2>&1 || fail "init script start with GRNET's config: $(cat "$work/init2.log")"
pid=$(cat "$root/run/nfdhcpd/nfdhcpd.pid")
[ "$(stat -c %u "/proc/$pid")" = "$(in_root id -u nobody)" ] || fail "nfdhcpd with GRNET's config (user = nobody) runs as uid $(stat -c %u "/proc/$pid")"
usr1 "$pid"
check_bindings "$root/var/log/nfdhcpd/nfdhcpd.log"
in_root /etc/init.d/nfdhcpd stop >/dev/null 2>&1 || fail "init script stop"
gone "$pid" || fail "nfdhcpd still runs after init script stop"

step "PASS"
