#!/bin/sh
# The lab demo (`cargo xtask lab demo`), run inside the VM as root. Every line it prints is either
# a narration header (`==`), a command it is about to run (prefixed with `$`), or that command's
# own output. The example binaries come from the host build in $FLOCKER_BIN_DIR.
set -eu
B=${FLOCKER_BIN_DIR:?the demo needs FLOCKER_BIN_DIR (cargo xtask lab demo sets it)}
export PATH="$B:$PATH"
run() { printf '$ %s\n' "$*"; "$@"; }

POOL=demo
FILE=/var/tmp/demo-pool.img
echo "== The lab: a real OpenZFS kernel module in a VM"
run cat /sys/module/zfs/version
run uname -r
echo
echo "== A pool on a 512 MiB file, a filesystem with a file"
run truncate -s 512M "$FILE"
run zpool create -f -O mountpoint=/demo "$POOL" "$FILE"
run zfs create "$POOL/home"
run sh -c "echo 'version 1' > /demo/home/notes.txt"
echo
echo "== Snapshots through libzfs_core (flocker-snap: one ioctl, one transaction group)"
run flocker-snap monday "$POOL/home"
run sh -c "echo 'version 2' > /demo/home/notes.txt"
run flocker-snap tuesday "$POOL/home"
run sh -c "echo 'version 3, not snapshotted yet' > /demo/home/notes.txt; echo draft > /demo/home/draft.txt"
run flocker-ls -t snapshot "$POOL/home"
echo
echo "== What a retention policy would keep (dry run)"
run prune "$POOL/home" --keep 7x1d,min=1 --dry-run
echo
echo "== Roll back to monday without losing tuesday or the unsnapshotted changes"
run datavault rollback "$POOL/home@monday" --dry-run
run datavault rollback "$POOL/home@monday" --yes
run cat /demo/home/notes.txt
run ls /demo/home
echo
echo "== The stash holds what the rollback replaced (checked with the zfs CLI)"
run datavault stash list
ID=$(datavault stash list --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
run datavault stash show "$ID"
run zfs list -t all -o name,guid,used -r "$POOL"
echo
echo "== Undo: restore the stash"
run datavault stash restore "$ID" --yes
run cat /demo/home/notes.txt
run ls /demo/home
run zfs list -t snapshot -o name,guid "$POOL/home"
echo
echo "== Cleaning up"
run zpool destroy "$POOL"
run rm -f "$FILE"
