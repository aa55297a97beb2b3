#!/bin/sh
# The lab demo (`cargo xtask lab demo`), run inside the VM as root. Every line it prints is either
# a command it is about to run (prefixed with `$`) or that command's own output.
set -eu
run() { printf '$ %s\n' "$*"; "$@"; }

POOL=demo
FILE=/var/tmp/demo-pool.img
echo "== The lab: a real OpenZFS kernel module in a VM"
run cat /sys/module/zfs/version
run uname -r
echo
echo "== A pool on a 512 MiB file"
run truncate -s 512M "$FILE"
run zpool create -f -O mountpoint=/demo "$POOL" "$FILE"
run zfs create "$POOL/home"
run sh -c "echo hello > /demo/home/greeting.txt"
run zfs snapshot "$POOL/home@first"
run zpool status "$POOL"
run zfs list -t all -o name,used,refer,mountpoint -r "$POOL"
echo
echo "== Cleaning up"
run zpool destroy "$POOL"
run rm -f "$FILE"
