#!/bin/bash
# Lab image recipe: a Debian release + its kernel + OpenZFS from Debian's packages (module built by
# dkms). Run by `cargo xtask lab build` as root; every byte of this file is part of the cache key.
#
# Environment (set by xtask): FLAVOUR (2.1|2.3|2.4), MIRROR (read from the host's apt sources),
# WORK (scratch directory), OUT (directory receiving rootfs.img, vmlinuz, initrd.img, manifest and
# dev/: the flavour's OpenZFS headers and libraries, for building code against them on the host),
# DEBS (a directory of downloaded .deb files shared by every build of the same Debian suite, so a
# second flavour or a rebuild after a recipe change downloads nothing it already has).
set -euo pipefail

: "${FLAVOUR:?}" "${MIRROR:?}" "${WORK:?}" "${OUT:?}" "${DEBS:?}"
ROOT="$WORK/rootfs"
step() { printf '[lab build %s] %s\n' "$FLAVOUR" "$*"; }

# SUITE: the Debian release; KTARGET: where the kernel comes from; ZTARGET: where OpenZFS does.
case "$FLAVOUR" in
  2.1) SUITE=bookworm; KTARGET=(); ZTARGET=(); ;;
  2.3) SUITE=bookworm; KTARGET=(-t bookworm-backports); ZTARGET=(-t bookworm-backports); ;;
  2.4) SUITE=trixie; KTARGET=(); ZTARGET=(-t trixie-backports); ;;
  *) echo "unknown flavour $FLAVOUR" >&2; exit 2 ;;
esac

cleanup() {
  # Stop anything still running inside the chroot (an interrupted apt or dkms), then unmount.
  for p in /proc/[0-9]*; do
    if [ "$(readlink "$p/root" 2>/dev/null)" = "$ROOT" ]; then kill -9 "${p#/proc/}" 2>/dev/null || true; fi
  done
  for m in var/cache/apt/archives dev/pts dev sys proc; do
    if mountpoint -q "$ROOT/$m" 2>/dev/null; then umount -l "$ROOT/$m" || true; fi
  done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

rm -rf "$ROOT"
mkdir -p "$ROOT" "$OUT" "$DEBS"

step "debootstrap $SUITE (minbase)"
debootstrap --variant=minbase --cache-dir="$DEBS" "$SUITE" "$ROOT" "$MIRROR" \
  >"$WORK/debootstrap.log" 2>&1 || { tail -n 30 "$WORK/debootstrap.log" >&2; exit 1; }

cat >"$ROOT/etc/apt/sources.list" <<SRC
deb $MIRROR $SUITE main contrib
deb $MIRROR $SUITE-updates main contrib
deb $MIRROR $SUITE-backports main contrib
SRC
printf '#!/bin/sh\nexit 101\n' >"$ROOT/usr/sbin/policy-rc.d"
chmod +x "$ROOT/usr/sbin/policy-rc.d"
echo flocker-lab >"$ROOT/etc/hostname"

mount -t proc proc "$ROOT/proc"
mount --bind /sys "$ROOT/sys"
mount --bind /dev "$ROOT/dev"
mount --bind /dev/pts "$ROOT/dev/pts"
# apt keeps what it downloads in the shared per-suite directory.
mount --bind "$DEBS" "$ROOT/var/cache/apt/archives"

in_root() { chroot "$ROOT" env DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 "$@"; }
APT=(apt-get -y -q -o Dpkg::Use-Pty=0 --no-install-recommends)

step "apt-get update"
in_root apt-get -q update >"$WORK/apt.log" 2>&1 || { tail -n 30 "$WORK/apt.log" >&2; exit 1; }

step "kernel, headers, udev, kmod"
in_root "${APT[@]}" "${KTARGET[@]}" install linux-image-amd64 linux-headers-amd64 udev kmod lz4 \
  >>"$WORK/apt.log" 2>&1 || { tail -n 30 "$WORK/apt.log" >&2; exit 1; }

step "OpenZFS (zfs-dkms builds the module; takes minutes)"
in_root "${APT[@]}" "${ZTARGET[@]}" install zfs-dkms zfsutils-linux libzfslinux-dev \
  >>"$WORK/apt.log" 2>&1 || { tail -n 40 "$WORK/apt.log" >&2; exit 1; }

step "tools used by tests and benchmarks"
in_root "${APT[@]}" "${ZTARGET[@]}" install python3-pyzfs procps \
  >>"$WORK/apt.log" 2>&1 || { tail -n 30 "$WORK/apt.log" >&2; exit 1; }

KVER=$(ls "$ROOT/lib/modules" | sort -V | tail -n 1)
if ! find "$ROOT/lib/modules/$KVER" -name 'zfs.ko*' | grep -q .; then
  echo "zfs.ko was not built for kernel $KVER (see $WORK/apt.log)" >&2
  exit 1
fi
in_root depmod "$KVER"

step "a small initramfs"
# Only what mounts the virtio root disk, lz4-compressed: unpacking Debian's default one took
# ~10 s of every boot under software emulation.
printf 'MODULES=list\nCOMPRESS=lz4\n' >"$ROOT/etc/initramfs-tools/conf.d/flocker-lab.conf"
printf 'virtio_pci\nvirtio_blk\next4\n' >>"$ROOT/etc/initramfs-tools/modules"
in_root update-initramfs -u -k "$KVER" >>"$WORK/apt.log" 2>&1 || { tail -n 20 "$WORK/apt.log" >&2; exit 1; }
ZVER=$(in_root dpkg-query -W -f='${Version}' zfsutils-linux)

step "the flavour's OpenZFS headers and libraries (dev/)"
# Code tested on this flavour is compiled on the host against exactly these. The libraries'
# development symlinks are absolute (they would point at the host's own copies), so relative
# ones are made next to the real files.
mkdir -p "$OUT/dev/include" "$OUT/dev/lib"
cp -a "$ROOT/usr/include/libzfs" "$ROOT/usr/include/libspl" "$OUT/dev/include/"
for base in libzfs_core libnvpair libuutil libzfs libzfsbootenv; do
  real=$(find "$ROOT/lib" "$ROOT/usr/lib" -name "$base.so.*.*" -type f 2>/dev/null | head -n 1)
  [ -n "$real" ] || { echo "no $base library in the image" >&2; exit 1; }
  cp "$real" "$OUT/dev/lib/"
  soname=$(basename "$real" | sed -E 's/^(.*\.so\.[0-9]+)\..*$/\1/')
  ln -sf "$(basename "$real")" "$OUT/dev/lib/$soname"
  ln -sf "$(basename "$real")" "$OUT/dev/lib/$base.so"
done
echo "$ZVER" >"$OUT/dev/version"

step "trimming caches"
umount "$ROOT/var/cache/apt/archives"
rm -rf "$ROOT/var/lib/apt/lists/"* "$ROOT/usr/share/doc/"* "$ROOT/usr/share/man/"* \
  "$ROOT/var/lib/dkms/zfs/"*/build "$ROOT/usr/src/zfs-"*

install -m 0755 "$(dirname "$0")/guest-init" "$ROOT/sbin/flocker-init"

cleanup
trap - EXIT

step "making the image"
cp "$ROOT/boot/vmlinuz-$KVER" "$OUT/vmlinuz"
cp "$ROOT/boot/initrd.img-$KVER" "$OUT/initrd.img"
rm -f "$OUT/rootfs.img"
truncate -s 6G "$OUT/rootfs.img"
mkfs.ext4 -q -F -L flocker-lab -d "$ROOT" "$OUT/rootfs.img"
printf 'flavour=%s\nkernel=%s\nzfs=%s\n' "$FLAVOUR" "$KVER" "$ZVER" >"$OUT/manifest"
rm -rf "$ROOT"
step "done: kernel $KVER, zfs $ZVER"
