#!/bin/sh
# Root-on-ZFS lab template, guest half. Run by `cargo xtask` in the flavour's normal lab VM, with
# the blank template disk as /dev/vdb and the archive made by build-root-image.sh on a 9p share.
# Every byte of this file is part of the template's cache key.
#
# The layout is the usual Debian root-on-ZFS one: rpool/ROOT (no mountpoint, canmount=off),
# rpool/ROOT/debian as / (canmount=noauto, so only the initramfs mounts it), rpool/home as /home,
# bootfs=rpool/ROOT/debian. The pool is exported at the end, so the first boot imports it clean.
#
# Environment: ROOT_TAR (the archive), HOSTID (the one in the archive's /etc/hostid).
set -eu
: "${ROOT_TAR:?}" "${HOSTID:?}"
DISK=/dev/vdb
step() { echo "[root-pool] $*" >&2; }

[ -b "$DISK" ] || { echo "no $DISK in the guest" >&2; exit 1; }
# The pool's labels record the hostid of whoever imported it last: make it the template's.
zgenhostid -f "$HOSTID"

step "pool rpool on $DISK"
zpool create -f -o ashift=12 \
  -O compression=lz4 -O acltype=posixacl -O xattr=sa -O relatime=on \
  -O mountpoint=none -O canmount=off -R /mnt rpool "$DISK"
zfs create -o canmount=off -o mountpoint=none rpool/ROOT
zfs create -o canmount=noauto -o mountpoint=/ rpool/ROOT/debian
zfs mount rpool/ROOT/debian
zfs create -o mountpoint=/home rpool/home
zpool set bootfs=rpool/ROOT/debian rpool

step "unpacking the root file system"
tar -C /mnt --numeric-owner --xattrs --xattrs-include='*' -xpf "$ROOT_TAR"
[ -x /mnt/sbin/flocker-init ] || { echo "the archive has no /sbin/flocker-init" >&2; exit 1; }
cmp -s /etc/hostid /mnt/etc/hostid || { echo "the archive's /etc/hostid is not $HOSTID" >&2; exit 1; }

zfs list -o name,mountpoint,canmount,used -r rpool >&2
zpool export rpool
step "done"
