# shellcheck shell=bash
# guest.sh: the test guest, a Debian kernel plus a busybox initramfs whose
# /init is guest/init (sourced by run.sh).

# guest_fetch downloads (once) Debian's kernel and busybox-static packages
# into E2E_CACHE and extracts what the guest needs.
guest_fetch() {
  [ -s $E2E_CACHE/vmlinuz ] && [ -x $E2E_CACHE/bb/bin/busybox ] && [ -d $E2E_CACHE/modules ] && return 0
  local kpkg K m
  mkdir -p $E2E_CACHE/debs
  kpkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
  (cd $E2E_CACHE/debs && apt-get download "$kpkg" busybox-static)
  rm -rf $E2E_CACHE/kpkg $E2E_CACHE/bb $E2E_CACHE/modules
  mkdir -p $E2E_CACHE/kpkg $E2E_CACHE/bb $E2E_CACHE/modules
  dpkg-deb -x $E2E_CACHE/debs/"${kpkg}"_*.deb $E2E_CACHE/kpkg
  dpkg-deb -x $E2E_CACHE/debs/busybox-static_*.deb $E2E_CACHE/bb
  K=$(echo $E2E_CACHE/kpkg/lib/modules/*/kernel)
  # virtio-net is a module in Debian's kernel; evdev + button for ACPI
  for m in drivers/virtio/virtio_ring drivers/virtio/virtio drivers/virtio/virtio_pci_modern_dev \
           drivers/virtio/virtio_pci_legacy_dev drivers/virtio/virtio_pci net/core/failover \
           drivers/net/net_failover drivers/net/virtio_net drivers/input/evdev drivers/acpi/button; do
    cp $K/$m.ko $E2E_CACHE/modules/
  done
  cp $E2E_CACHE/kpkg/boot/vmlinuz-* $E2E_CACHE/vmlinuz.tmp && mv $E2E_CACHE/vmlinuz.tmp $E2E_CACHE/vmlinuz
  rm -rf $E2E_CACHE/kpkg
}

# guest_build writes $E2E_RUN/guest/{vmlinuz,initrd.gz} from the cache and
# guest/ (rebuilt every run: it is small).
guest_build() {
  local dir=$1 r=$E2E_RUN/guest/root
  guest_fetch
  rm -rf $r; mkdir -p $r/{bin,proc,sys,dev,run,tmp,etc/acpi/PWRF,lib/modules,usr/share/udhcpc}
  cp $E2E_CACHE/bb/bin/busybox $r/bin/busybox
  cp $E2E_CACHE/modules/*.ko $r/lib/modules/
  install -m 755 "$dir"/guest/init $r/init
  install -m 755 "$dir"/guest/udhcpc.script $r/usr/share/udhcpc/default.script
  printf '#!/bin/sh\necho "E2E-POWEROFF (ACPI power button)"\nsync; poweroff -f\n' > $r/etc/acpi/PWRF/00000080
  chmod 755 $r/etc/acpi/PWRF/00000080
  (cd $r && find . | $E2E_CACHE/bb/bin/busybox cpio -o -H newc 2>/dev/null) | gzip -6 > $E2E_RUN/guest/initrd.gz
  cp $E2E_CACHE/vmlinuz $E2E_RUN/guest/vmlinuz
}
