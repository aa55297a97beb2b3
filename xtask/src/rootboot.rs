//! Root-on-ZFS rollback at next boot (`rootboot::at_next_boot`): four boots of the flavour's
//! root-on-ZFS system on one disk ([`rootfs::run_boots`]), each running a shell script that
//! drives the lab build's `datavault` (shared from the target directory) and checks the system
//! with the `zfs`/`zpool`/`dpkg` commands as an oracle. One sequence rather than one disk per
//! case: every boot costs about a minute under emulation, and CI runs this on every flavour.
//!
//! 1. Puts the store on its own dataset, takes `zfs snapshot -r rpool@S`, installs a package made
//!    offline with `dpkg-deb` and edits `/etc/issue`. Kills `datavault rollback
//!    rpool/ROOT/debian@S --at-next-boot` (SIGKILL through `FLOCKER_CORE_FAULT`) before each of
//!    its steps and inside its commit, runs `datavault recover`, cancels what got scheduled
//!    (killing the cancel before one of its steps in turn, then recovering), and checks each
//!    time that the system is exactly as it was; then schedules, writes a file and cancels.
//! 2. Checks that the cancelled rollback did not take effect (package, files, `/etc`), schedules
//!    the rollback of the root tree (`-r`: the root has no descendants) again, writes and syncs
//!    a file, and loses the power.
//! 3. Runs the old system (package absent, `/etc/issue` as before, no file); `--cancel` is
//!    refused; the stash holds the upgraded system with the file written after scheduling (its
//!    final snapshot mounted read-only); the stash's restore is scheduled (`stash restore`, which
//!    is at next boot for the running root).
//! 4. Runs the upgraded system again (the original dataset, every file, the package); the
//!    rolled-back state is a verified stash.

use std::io::Write;

use crate::image;
use crate::rootfs::{self, Boot};
use crate::test::Counts;
use crate::{Flavour, VmArgs};

/// The test's full name, for filtering.
pub const NAME: &str = "rootboot::at_next_boot";

/// Shell functions every boot starts with.
const COMMON: &str = r#"set -eu
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
DV="$FLOCKER_BIN_DIR/datavault"
B="$FLOCKER_ROOT_BOOT"
ROOT=rpool/ROOT/debian
K=/home/rootboot
mkdir -p "$K"
fail() { echo "rootboot boot $B: FAIL: $*" >&2; exit 1; }
say() { echo "rootboot boot $B: $*"; }
mnt() { awk -v m="$1" '$5 == m { for (i = 7; i <= NF; i++) if ($i == "-") { print $(i+1), $(i+2); break } }' /proc/self/mountinfo | tail -n 1; }
guid() { zfs get -H -p -o value guid "$1"; }
sha() { sha256sum "$1" | cut -d' ' -f1; }
installed() { dpkg-query -W -f='${Status}' flocker-probe 2>/dev/null | grep -q 'install ok installed'; }
json_id() { grep -o '"id": *"[^"]*"' "$1" | head -n 1 | cut -d'"' -f4; }
[ -x "$DV" ] || fail "no datavault at $DV"
[ "$(mnt /)" = "zfs $ROOT" ] || say "note: / is '$(mnt /)'"

# Boot 1: the store on its own dataset, the recursive snapshot, then a package and /etc edited.
setup() {
  "$DV" store init rpool >/dev/null || fail "store init failed"
  [ "$(mnt /var/lib/flocker-core)" = "zfs rpool/flocker-core" ] || fail "the store is not on rpool/flocker-core: $(mnt /var/lib/flocker-core)"
  sha /etc/issue >"$K/issue.before"
  guid "$ROOT" >"$K/root.guid"
  zfs snapshot -r rpool@S
  rm -rf /tmp/pkg && mkdir -p /tmp/pkg/DEBIAN /tmp/pkg/usr/share/flocker-probe
  printf 'Package: flocker-probe\nVersion: 1.0\nArchitecture: all\nMaintainer: flocker <flocker@localhost>\nDescription: rollback probe\n' >/tmp/pkg/DEBIAN/control
  echo v1 >/tmp/pkg/usr/share/flocker-probe/version
  dpkg-deb --build /tmp/pkg /tmp/flocker-probe.deb >/dev/null
  dpkg -i /tmp/flocker-probe.deb >/dev/null || fail "dpkg -i failed"
  installed || fail "the package is not installed"
  echo "flocker rootboot edit" >>/etc/issue
  sha /etc/issue >"$K/issue.after"
  say "set up: store on rpool/flocker-core, rpool@S, package installed, /etc/issue edited"
}

# `datavault status` (with a configuration of its own, no service report) has the line $1.
pending_status() {
  printf 'every = "1h"\n[[dataset]]\nname = "rpool/home"\nkeep = "min=1"\n' >"$K/dv.toml"
  "$DV" status --config "$K/dv.toml" >"$K/status.out" 2>&1 || true
  grep -qF "$1" "$K/status.out" || fail "status has no line '$1': $(cat "$K/status.out")"
}

# Schedules the rollback of the running root to @S at next boot (extra arguments: "$@") and
# checks what that did.
schedule() {
  "$DV" rollback "$ROOT@S" --at-next-boot "$@" --yes --json >"$K/sched.json" || fail "rollback --at-next-boot $* failed"
  ID=$(json_id "$K/sched.json")
  echo "$ID" >"$K/id"
  grep -q '"pending_boot": true' "$K/sched.json" || fail "not pending: $(cat "$K/sched.json")"
  [ "$(guid "rpool/flocker-stash/$ID")" = "$(cat "$K/root.guid")" ] || fail "the running root is not named as the stash"
  [ "$(guid "$ROOT")" != "$(cat "$K/root.guid")" ] || fail "$ROOT is still the running dataset"
  [ "$(zpool get -H -o value bootfs rpool)" = "$ROOT" ] || fail "bootfs is $(zpool get -H -o value bootfs rpool)"
  [ "$(zfs get -H -o value canmount "rpool/flocker-stash/$ID")" = noauto ] || fail "the stash's canmount is not noauto"
  [ "$(zfs get -H -o value mountpoint "rpool/flocker-stash/$ID")" = none ] || fail "the stash's mountpoint is not none"
  [ "$(zfs get -H -o value mountpoint "$ROOT")" = / ] || fail "$ROOT's mountpoint is not /"
  [ "$(zfs get -H -o value canmount "$ROOT")" = noauto ] || fail "$ROOT's canmount is not noauto"
  "$DV" stash list | grep -q "pending: the rollback takes effect at the next boot" || fail "stash list does not show it pending: $("$DV" stash list)"
  "$DV" stash list --json | grep -q '"pending_boot": "rollback"' || fail "stash list --json does not show it pending"
  "$DV" recover | grep -q "pending" || fail "recover does not report it pending"
  pending_status "PENDING $ROOT: rollback to $ROOT@S at the next boot (stash $ID)"
  say "scheduled $ID; / is now mounted as '$(mnt /)'"
}

# The system is exactly the one of boot 1 before any rollback: the original dataset, as it was.
original() {
  [ "$(guid "$ROOT")" = "$(cat "$K/root.guid")" ] || fail "$1: $ROOT is not the original dataset"
  [ "$(zfs get -H -o value mountpoint "$ROOT")" = / ] || fail "$1: mountpoint $(zfs get -H -o value mountpoint "$ROOT")"
  [ "$(zfs get -H -o value canmount "$ROOT")" = noauto ] || fail "$1: canmount $(zfs get -H -o value canmount "$ROOT")"
  [ "$(zpool get -H -o value bootfs rpool)" = "$ROOT" ] || fail "$1: bootfs is $(zpool get -H -o value bootfs rpool)"
  [ -z "$(zfs list -H -o name -r rpool/flocker-stash 2>/dev/null | grep "^rpool/flocker-stash/")" ] || fail "$1: left under the container: $(zfs list -H -o name -r rpool/flocker-stash)"
  [ -z "$(zfs list -H -o name -t snapshot "$ROOT" | grep flocker-)" ] || fail "$1: snapshots left: $(zfs list -H -o name -t snapshot "$ROOT")"
  "$DV" stash list | grep -q "no stashes" || fail "$1: stash list: $("$DV" stash list)"
  [ "$(mnt /)" = "zfs $ROOT" ] || fail "$1: / is '$(mnt /)'"
}

# The upgraded system of boot 1 runs ($1: when): the package, its files, the edited /etc/issue.
upgraded() {
  installed || fail "$1: the package is not installed"
  [ "$(cat /written-before)" = before-cancel ] || fail "$1: /written-before is lost"
  [ "$(cat /written-then-cancelled)" = after-cancelled ] || fail "$1: /written-then-cancelled is lost"
  [ "$(sha /etc/issue)" = "$(cat "$K/issue.after")" ] || fail "$1: /etc/issue is not the edited one"
}

# The rolled-back system runs (boot 3); the stash holds everything.
rolled_back() {
  ID=$(cat "$K/id")
  [ "$(mnt /)" = "zfs $ROOT" ] || fail "/ is '$(mnt /)'"
  [ "$(guid "$ROOT")" != "$(cat "$K/root.guid")" ] || fail "booted the original dataset: the rollback did not take effect"
  if installed; then fail "the package is still installed"; fi
  [ "$(sha /etc/issue)" = "$(cat "$K/issue.before")" ] || fail "/etc/issue is not as before"
  [ ! -e /written-after-scheduling ] || fail "/written-after-scheduling exists in the rolled-back system"
  [ "$(guid "rpool/flocker-stash/$ID")" = "$(cat "$K/root.guid")" ] || fail "the stash is not the old root"
  "$DV" recover >"$K/recover.out" 2>&1 || fail "recover: $(cat "$K/recover.out")"
  "$DV" stash list --json >"$K/list.json"
  grep -q "flocker-final-$ID" "$K/list.json" || fail "no final snapshot in the record: $(cat "$K/list.json")"
  if grep -q '"pending_boot": "' "$K/list.json"; then fail "still pending after the boot"; fi
  "$DV" stash show "$ID" | grep -q "(verified)" || fail "stash $ID is not verified: $("$DV" stash show "$ID")"
  mkdir -p /mnt/stash
  mount -t zfs -o ro "rpool/flocker-stash/$ID@flocker-final-$ID" /mnt/stash || fail "cannot mount the final snapshot"
  [ "$(cat /mnt/stash/written-after-scheduling)" = after ] || fail "the file written after scheduling is not in the stash"
  [ -e /mnt/stash/usr/share/flocker-probe/version ] || fail "the package is not in the stash"
  [ "$(cat /mnt/stash/written-before)" = before-cancel ] || fail "/written-before is not in the stash"
  [ "$(sha /mnt/stash/etc/issue)" = "$(cat "$K/issue.after")" ] || fail "the stash's /etc/issue is not the edited one"
  umount /mnt/stash
  say "the old system runs; stash $ID holds the upgraded one with the file written after scheduling"
}
"#;

// Boot 1: kills of the scheduling and of the cancel at every step, each recovered to the
// system as it was; then a clean schedule, a write, a cancel.
const BOOT_1: &str = r#"setup
echo before-cancel >/written-before
N=$("$DV" rollback "$ROOT@S" --at-next-boot --dry-run --json | grep -c '"op":')
[ "$N" -gt 10 ] || fail "the plan has $N steps"
k=1
for i in $(seq 0 $((N - 1))) commit; do
  rc=0
  FLOCKER_CORE_FAULT="$i:kill" "$DV" rollback "$ROOT@S" --at-next-boot --yes >"$K/kill.out" 2>&1 || rc=$?
  # Every fault point up to the wait is reached in this boot (the last step runs after the boot).
  if [ "$i" = commit ] || [ "$i" -lt $((N - 1)) ]; then
    [ "$rc" = 137 ] || fail "the rollback was not killed before step $i (status $rc; a datavault without fault injection?): $(cat "$K/kill.out")"
  fi
  "$DV" recover >"$K/recover.out" 2>&1 || fail "recover after a kill before step $i (status $rc) failed: $(cat "$K/recover.out")"
  if "$DV" stash list --json | grep -q '"pending_boot": "rollback"'; then
    ID=$("$DV" stash list -H | cut -f1 | head -n 1)
    [ "$(guid "rpool/flocker-stash/$ID")" = "$(cat "$K/root.guid")" ] || fail "kill before $i: pending but the root is not the stash"
    [ "$(zpool get -H -o value bootfs rpool)" = "$ROOT" ] || fail "kill before $i: bootfs $(zpool get -H -o value bootfs rpool)"
    rc2=0
    FLOCKER_CORE_FAULT="boot-cancel.$k:kill" "$DV" rollback --cancel >"$K/cancel.out" 2>&1 || rc2=$?
    [ "$rc2" = 137 ] || fail "cancel was not killed at boot-cancel.$k (status $rc2): $(cat "$K/cancel.out")"
    "$DV" recover >"$K/recover.out" 2>&1 || fail "recover after a cancel killed at boot-cancel.$k failed: $(cat "$K/recover.out")"
    grep -q "cancelled" "$K/recover.out" || fail "recover did not finish the cancel: $(cat "$K/recover.out")"
    say "kill before step $i (status $rc): recovery scheduled it; cancel killed at boot-cancel.$k, recovery finished it"
    k=$((k % 5 + 1))
  else
    say "kill before step $i (status $rc): recovery reverted it"
  fi
  original "after a kill before step $i"
done
# And once more without faults: schedule, write, cancel.
schedule
echo after-cancelled >/written-then-cancelled
"$DV" rollback --cancel >"$K/cancel.out" || fail "cancel failed"
original "after the cancel"
upgraded "after the cancel"
sync
say "scheduled, wrote, cancelled; rebooting"
"#;

// Boot 2: the cancelled rollback did not take effect; then a schedule, a write and sync, and
// the power is cut.
const BOOT_2: &str = r#"original "after the reboot"
upgraded "after the reboot"
say "the system is the one it was before the cancelled rollback"
# The root tree: rpool/ROOT/debian has no descendants (/home is rpool/home), so -r is its
# rollback at next boot.
schedule -r
echo after >/written-after-scheduling
sync
say "scheduled and synced; cutting the power"
echo "@@FLOCKER:POWERCUT@@ 0"
sleep 600
"#;

// Boot 3: the old system runs, the stash holds everything (the file written after scheduling
// included); cancelling is too late; the stash's restore is scheduled.
const BOOT_3: &str = r#"# Too late to cancel: refused, before and after recovery.
if "$DV" rollback --cancel 2>"$K/cancel.err"; then fail "cancel after the reboot succeeded"; fi
grep -q "too late to cancel" "$K/cancel.err" || fail "cancel said: $(cat "$K/cancel.err")"
rolled_back
if "$DV" rollback --cancel "$(cat "$K/id")" 2>"$K/cancel.err"; then fail "cancel after recovery succeeded"; fi
grep -q "no pending rollback at next boot" "$K/cancel.err" || fail "cancel said: $(cat "$K/cancel.err")"
"$DV" stash restore "$(cat "$K/id")" --yes >"$K/restore.out" || fail "stash restore failed"
grep -q "at the next boot" "$K/restore.out" || fail "the restore was not scheduled at next boot: $(cat "$K/restore.out")"
"$DV" stash list | grep -q "pending: restored at the next boot" || fail "stash list does not show the restore pending"
pending_status "PENDING $ROOT: restore to "
sync
say "restore of $(cat "$K/id") scheduled"
"#;

// Boot 4: the upgraded system runs again, with everything written in boots 1 and 2.
const BOOT_4: &str = r#"ID=$(cat "$K/id")
[ "$(mnt /)" = "zfs $ROOT" ] || fail "/ is '$(mnt /)'"
[ "$(guid "$ROOT")" = "$(cat "$K/root.guid")" ] || fail "$ROOT is not the original (upgraded) dataset"
upgraded "after the restore"
[ "$(cat /written-after-scheduling)" = after ] || fail "the file written after scheduling is lost"
"$DV" recover >/dev/null || fail "recover failed"
"$DV" stash list -H >"$K/list4"
if grep -q "^$ID" "$K/list4"; then fail "the restored stash is still listed"; fi
[ "$(grep -c "	$ROOT	" "$K/list4")" = 1 ] || fail "expected one stash of the rolled-back state: $(cat "$K/list4")"
grep -q "	yes$" "$K/list4" || fail "the new stash is not verified: $(cat "$K/list4")"
[ "$(zpool get -H -o value bootfs rpool)" = "$ROOT" ] || fail "bootfs is $(zpool get -H -o value bootfs rpool)"
say "the upgraded system runs again; the rolled-back state is a stash"
"#;

fn boot(body: &str, power_cut: bool) -> Boot {
    Boot {
        cmd: vec!["sh".into(), "-c".into(), format!("{COMMON}{body}")],
        power_cut,
        ..Boot::default()
    }
}

/// The boots of the sequence, on one disk.
fn boots() -> Vec<Boot> {
    vec![
        boot(BOOT_1, false),
        boot(BOOT_2, true),
        boot(BOOT_3, false),
        boot(BOOT_4, false),
    ]
}

/// Runs the sequence on a fresh disk (kept on failure).
pub fn run(
    flavour: Flavour,
    vm_args: &VmArgs,
    target: &std::path::Path,
    bin_dir: &std::path::Path,
) -> Counts {
    let mut counts = Counts::default();
    println!("test {NAME} ...");
    let _ = std::io::stdout().flush();
    let dir = image::cache_dir().join("rootboot");
    let disk = dir.join(format!(
        "zfs-{}-at-next-boot-{}.img",
        flavour.as_str(),
        std::process::id()
    ));
    let mut args = vm_args.clone();
    args.timeout = args.timeout.max(1800);
    args.shares.push(target.to_path_buf());
    args.env
        .push(format!("FLOCKER_BIN_DIR={}", bin_dir.display()));
    let started = std::time::Instant::now();
    match rootfs::run_boots(flavour, &args, &disk, &boots()) {
        Ok(_) => {
            println!(
                "test {NAME} ... ok ({:.0} s)",
                started.elapsed().as_secs_f64()
            );
            counts.passed += 1;
            let _ = std::fs::remove_file(&disk);
        }
        Err(e) => {
            println!(
                "test {NAME} ... FAILED ({e}; disk kept: {})",
                disk.display()
            );
            counts.fail(NAME);
        }
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn four_boots_and_only_the_second_cuts_the_power() {
        let b = boots();
        assert_eq!(b.len(), 4);
        for (i, x) in b.iter().enumerate() {
            assert!(x.cmd[2].starts_with(COMMON));
            assert_eq!(x.power_cut, i == 1, "boot {}", i + 1);
            assert_eq!(
                x.cmd[2].contains("@@FLOCKER:POWERCUT@@"),
                i == 1,
                "boot {}",
                i + 1
            );
        }
        assert!(NAME.starts_with("rootboot::"));
    }
}
