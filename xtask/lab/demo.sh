#!/bin/sh
# The lab demo (`cargo xtask lab demo`), run inside the VM as root. Every line it prints is either
# a narration header (`==`), a command it is about to run (prefixed with `$`), or that command's
# own output. The example binaries come from the host build in $FLOCKER_BIN_DIR.
#
# The story: a pool with files; the DataVault service builds two days of hourly history on a
# stepped clock (the files change between its runs) and thins it with its policy; the service
# on the real clock, stopped with SIGTERM; `datavault list` explains what is kept and until
# when; `datavault diff`, `datavault versions` and `datavault restore-file` look into the
# history; a rollback keeps the newer snapshots and the unsnapshotted changes in a stash;
# `stash restore` undoes it.
set -eu
B=${FLOCKER_BIN_DIR:?the demo needs FLOCKER_BIN_DIR (cargo xtask lab demo sets it)}
export PATH="$B:$PATH"
run() {
  if [ "$1" = sh ] && [ "$2" = -c ]; then printf '$ %s\n' "$3"; else printf '$ %s\n' "$*"; fi
  "$@"
}
# For the commands another part of the project may not have finished: show the exit status.
try() {
    printf '$ %s\n' "$*"
    st=0
    "$@" || st=$?
    if [ "$st" -ne 0 ]; then printf '(exit status %s)\n' "$st"; fi
}

POOL=demo
FILE=/var/tmp/demo-pool.img
CONF=/var/tmp/demo-datavault.toml
export FLOCKER_STORE=/var/tmp/demo-store
rm -rf "$FLOCKER_STORE"

echo "== The lab: a real OpenZFS kernel module in a VM"
run cat /sys/module/zfs/version
run uname -r
echo
echo "== A pool on a 512 MiB file, two filesystems with files"
run truncate -s 512M "$FILE"
run zpool create -f -O mountpoint=/demo "$POOL" "$FILE"
run zfs create "$POOL/home"
run zfs create "$POOL/db"
run sh -c "echo 'version 1' > /demo/home/notes.txt; seq 1 1000 > /demo/db/table.csv"
echo
echo "== Snapshots through libzfs_core (flocker-snap: one ioctl, one transaction group)"
run flocker-snap before-service "$POOL/home" "$POOL/db"
run flocker-ls -t snapshot "$POOL"
echo
echo "== The service's configuration: an hourly snapshot of both, a retention policy each"
cat > "$CONF" <<EOF
every = "1h"
tz = "UTC"
[[dataset]]
name = "$POOL/home"
keep = "12x1h,3x1d,min=3"
[[dataset]]
name = "$POOL/db"
keep = "6x1h,2x1d"
EOF
run cat "$CONF"
echo
# Two days ago, on the hour (GNU date).
T0=$(date -u -d "$(date -u +%Y-%m-%dT%H:00:00Z) - 2 days" +%Y-%m-%dT%H:%M:%SZ)
T1=$(date -u -d "$T0 + 12 hours" +%Y-%m-%dT%H:%M:%SZ)
T2=$(date -u -d "$T0 + 24 hours" +%Y-%m-%dT%H:%M:%SZ)
echo "== The service on a stepped clock (one hour per cycle, no sleeping): 12 hours from $T0"
run datavault run --config "$CONF" --clock-start "$T0" --clock-step 1h --cycles 12
echo
echo "== The files change; 12 more hours (the last lines of the service's log)"
run sh -c "echo 'version 2' > /demo/home/notes.txt; echo 'draft of the report' > /demo/home/report.txt; seq 1 2000 > /demo/db/table.csv"
run sh -c "datavault run --config $CONF --clock-start $T1 --clock-step 1h --cycles 12 | tail -n 5"
echo
echo "== They change again; another day (the thinning: each prune destroys what aged out)"
run sh -c "echo 'version 3' > /demo/home/notes.txt; seq 1 3000 > /demo/db/table.csv"
run sh -c "datavault run --config $CONF --clock-start $T2 --clock-step 1h --cycles 23 | tail -n 6"
echo
echo "== The service on the real clock: it takes the snapshot due now, prunes, and waits;"
echo "== SIGTERM stops it cleanly (exit status 0)"
run sh -c "echo 'version 4' > /demo/home/notes.txt; rm /demo/home/report.txt"
LOG=/var/tmp/demo-service.log
printf '$ %s\n' "datavault run --config $CONF > $LOG &"
datavault run --config "$CONF" > "$LOG" 2>&1 &
PID=$!
n=0
until grep -q "prune $POOL/db:" "$LOG"; do
    n=$((n + 1))
    if [ "$n" -gt 600 ]; then
        echo "the service did not finish its first cycle within 60 s"
        exit 1
    fi
    sleep 0.1
done
run kill -TERM "$PID"
st=0
wait "$PID" || st=$?
run cat "$LOG"
echo "(exit status $st)"
echo
echo "== For monitoring: datavault status (exit 0 OK, 1 WARNING, 2 CRITICAL, like a Nagios check)"
try datavault status --config "$CONF"
echo
echo "== What the pool holds now, and why: datavault list (time, age, space, rule, expiry)"
run datavault list "$POOL/home" --config "$CONF"
echo
run datavault list "$POOL/db" --config "$CONF"
echo
echo "== What changed between the first snapshot and one of the last day"
OLD=$(datavault list "$POOL/home" --json | python3 -c 'import json,sys; s=[x["name"] for x in json.load(sys.stdin)["snapshots"] if "@dv-" in x["name"]]; print(s[0])')
MID=$(datavault list "$POOL/home" --json | python3 -c 'import json,sys; s=[x["name"] for x in json.load(sys.stdin)["snapshots"] if "@dv-" in x["name"]]; print(s[len(s)//2])')
try datavault diff "$OLD" "$MID"
echo
echo "== Every distinct version of notes.txt across the snapshots (the live file last), and"
echo "== what /demo/home lost since a snapshot"
try datavault versions /demo/home/notes.txt
try datavault versions --deleted /demo/home
echo
echo "== Restore one file from the history (report.txt was deleted before the last snapshot)"
run ls /demo/home
run cat "/demo/home/.zfs/snapshot/${MID#*@}/notes.txt"
try datavault restore-file "$MID" report.txt
run ls /demo/home
echo
echo "== Roll back to the oldest service snapshot without losing the newer ones or the"
echo "== unsnapshotted changes"
run sh -c "echo 'version 5, not snapshotted yet' > /demo/home/notes.txt; echo draft > /demo/home/draft.txt"
run datavault rollback "$OLD" --dry-run
run datavault rollback "$OLD" --yes
run cat /demo/home/notes.txt
run ls /demo/home
echo
echo "== The stash holds what the rollback replaced (checked with the zfs CLI)"
run datavault stash list
ID=$(datavault stash list --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
run datavault stash show "$ID"
run datavault list "$POOL/home" --config "$CONF"
run zfs list -t all -o name,guid,used -r "$POOL/flocker-stash"
echo
echo "== Undo: restore the stash"
run datavault stash restore "$ID" --yes
run cat /demo/home/notes.txt
run ls /demo/home
run zfs list -t snapshot -o name,guid "$POOL/home"
echo
echo "== What the prune tool would keep with another policy (dry run, creation times)"
run prune "$POOL/home" --keep 7x1d,min=1 --dry-run
echo
echo "== Cleaning up"
run zpool destroy "$POOL"
run rm -rf "$FILE" "$CONF" "$LOG" "$FLOCKER_STORE"
