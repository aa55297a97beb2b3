#!/bin/bash
# Root-on-ZFS lab template, host half. Run by `cargo xtask` as root; every byte of this file and
# of root-pool.sh (the guest half) is part of the template's cache key, with the flavour's image.
#
# It copies the flavour's lab root filesystem (the ext4 rootfs.img, mounted read-only), installs
# Debian's own zfs-initramfs in the copy (the exact version of the image's zfsutils-linux), writes
# a fixed /etc/hostid BEFORE the initramfs is made (so the initramfs and the installed system agree
# on it, and a pool left imported by a power cut imports again without `zfsforce`), makes the
# initramfs, and packs the copy into a tar that the guest half unpacks onto the root pool.
#
# Environment (set by xtask): FLAVOUR (2.1|2.3|2.4), MIRROR (read from the host's apt sources),
# BASE (the flavour's lab image directory), HOSTID (8 hex digits), WORK (scratch directory:
# receives rootfs.tar), OUT (receives vmlinuz, initrd.img, kver and zver), DEBS (the per-suite
# directory of downloaded .deb files shared with build-image.sh). apt gets its own archive
# directory, seeded with hard links to DEBS and whose new files are linked back into DEBS: an
# image build of the same suite may be running apt on DEBS at the same time.
set -euo pipefail

: "${FLAVOUR:?}" "${MIRROR:?}" "${BASE:?}" "${HOSTID:?}" "${WORK:?}" "${OUT:?}" "${DEBS:?}"
ROOT="$WORK/rootfs"
MNT="$WORK/base"
ARCHIVES="$WORK/archives"
step() { printf '[lab root-image %s] %s\n' "$FLAVOUR" "$*"; }

case "$FLAVOUR" in
  2.1|2.3) SUITE=bookworm ;;
  2.4) SUITE=trixie ;;
  *) echo "unknown flavour $FLAVOUR" >&2; exit 2 ;;
esac

cleanup() {
  for p in /proc/[0-9]*; do
    if [ "$(readlink "$p/root" 2>/dev/null)" = "$ROOT" ]; then kill -9 "${p#/proc/}" 2>/dev/null || true; fi
  done
  for m in var/cache/apt/archives dev/pts dev sys proc; do
    if mountpoint -q "$ROOT/$m" 2>/dev/null; then umount -l "$ROOT/$m" || true; fi
  done
  if mountpoint -q "$MNT" 2>/dev/null; then umount "$MNT" || umount -l "$MNT" || true; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cleanup
rm -rf "$ROOT" "$WORK/rootfs.tar" "$ARCHIVES"
mkdir -p "$ROOT" "$MNT" "$OUT" "$DEBS" "$ARCHIVES/partial"
shopt -s nullglob
for deb in "$DEBS"/*.deb; do ln -f "$deb" "$ARCHIVES/" 2>/dev/null || cp "$deb" "$ARCHIVES/"; done

step "copying the zfs $FLAVOUR lab root file system"
# noload: no journal replay, the image is never written.
mount -o loop,ro,noload "$BASE/rootfs.img" "$MNT"
cp -a "$MNT/." "$ROOT/"
umount "$MNT"

cat >"$ROOT/etc/apt/sources.list" <<SRC
deb $MIRROR $SUITE main contrib
deb $MIRROR $SUITE-updates main contrib
deb $MIRROR $SUITE-backports main contrib
SRC

mount -t proc proc "$ROOT/proc"
mount --bind /sys "$ROOT/sys"
mount --bind /dev "$ROOT/dev"
mount --bind /dev/pts "$ROOT/dev/pts"
mount --bind "$ARCHIVES" "$ROOT/var/cache/apt/archives"

in_root() { chroot "$ROOT" env DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 "$@"; }
APT=(apt-get -y -q -o Dpkg::Use-Pty=0 --no-install-recommends)

KVER=$(ls "$ROOT/lib/modules" | sort -V | tail -n 1)
ZVER=$(in_root dpkg-query -W -f='${Version}' zfsutils-linux)

step "hostid $HOSTID (before any initramfs is made)"
in_root zgenhostid -f "$HOSTID"

step "apt-get update"
in_root apt-get -q update >"$WORK/apt.log" 2>&1 || { tail -n 30 "$WORK/apt.log" >&2; exit 1; }

step "zfs-initramfs $ZVER (the version of the image's zfsutils-linux)"
# Pinned: a newer zfs-initramfs would pull a zfsutils-linux that no longer matches the module.
in_root "${APT[@]}" install initramfs-tools "zfs-initramfs=$ZVER" \
  >>"$WORK/apt.log" 2>&1 || {
  tail -n 30 "$WORK/apt.log" >&2
  echo "(if zfs-initramfs $ZVER is no longer in the archive, rebuild the zfs $FLAVOUR lab image)" >&2
  exit 1
}

step "the initramfs for kernel $KVER (zfs, hostid)"
rm -f "$ROOT/boot/initrd.img-$KVER"
in_root update-initramfs -c -k "$KVER" >>"$WORK/apt.log" 2>&1 || { tail -n 20 "$WORK/apt.log" >&2; exit 1; }
LIST=$(in_root lsinitramfs "/boot/initrd.img-$KVER")
for want in 'zfs\.ko' 'scripts/zfs$' 'etc/hostid$' 'sbin/zpool$'; do
  if ! grep -Eq "$want" <<<"$LIST"; then
    echo "the initramfs lacks $want" >&2
    exit 1
  fi
done
# The initramfs's /etc/hostid must be the system's: compare the bytes.
rm -rf "$ROOT/tmp/flocker-initrd"
in_root unmkinitramfs "/boot/initrd.img-$KVER" /tmp/flocker-initrd >>"$WORK/apt.log" 2>&1 || {
  tail -n 20 "$WORK/apt.log" >&2; exit 1; }
found=$(find "$ROOT/tmp/flocker-initrd" -path '*/etc/hostid' | head -n 1)
if [ -z "$found" ] || ! cmp -s "$found" "$ROOT/etc/hostid"; then
  echo "the initramfs's /etc/hostid differs from the system's" >&2
  exit 1
fi
rm -rf "$ROOT/tmp/flocker-initrd"

step "trimming"
umount "$ROOT/var/cache/apt/archives"
for deb in "$ARCHIVES"/*.deb; do
  [ -e "$DEBS/${deb##*/}" ] || ln "$deb" "$DEBS/" 2>/dev/null || cp "$deb" "$DEBS/" || true
done
rm -rf "$ARCHIVES"
rm -rf "$ROOT/var/lib/apt/lists/"* "$ROOT/usr/share/doc/"* "$ROOT/usr/share/man/"*
cleanup
trap - EXIT

step "the root file system archive"
cp "$ROOT/boot/vmlinuz-$KVER" "$OUT/vmlinuz"
cp "$ROOT/boot/initrd.img-$KVER" "$OUT/initrd.img"
echo "$KVER" >"$OUT/kver"
echo "$ZVER" >"$OUT/zver"
tar -C "$ROOT" --numeric-owner --xattrs --xattrs-include='*' -cpf "$WORK/rootfs.tar" .
rm -rf "$ROOT"
step "done: kernel $KVER, zfs $ZVER, $(du -m "$WORK/rootfs.tar" | cut -f1) MiB archive"
