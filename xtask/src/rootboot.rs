//! Root-on-ZFS rollback at next boot (`rootboot::*`): several boots of the flavour's
//! root-on-ZFS system on one disk ([`rootfs::run_boots`]), each running a shell script that
//! drives the lab build's `datavault` (shared from the target directory) and checks the system
//! with the `zfs`/`zpool`/`dpkg` commands as an oracle.
//!
//! - `rootboot::round_trip`: boot 1 puts the store on its own dataset, takes `zfs snapshot -r
//!   rpool@S`, installs a package made offline with `dpkg-deb`, edits `/etc/issue`, schedules
//!   `datavault rollback rpool/ROOT/debian@S --at-next-boot`, then writes a file. Boot 2 runs the
//!   old system (package absent, `/etc/issue` as before, no file), `--cancel` is refused, the
//!   stash holds the upgraded system with the file (its final snapshot mounted read-only), and
//!   the stash's restore is scheduled (`stash restore`, which is at next boot for the running
//!   root). Boot 3 runs the upgraded system again (the original dataset, the file, the package).
//! - `rootboot::cancel`: boot 1 kills `datavault rollback --at-next-boot` (SIGKILL through
//!   `FLOCKER_CORE_FAULT`) before each of its steps and inside its commit, runs `datavault
//!   recover`, cancels what got scheduled (killing the cancel before one of its steps in turn,
//!   then recovering), and checks each time that the system is exactly as it was; then schedules
//!   and cancels cleanly. Boot 2 checks the system is the one it was (package, file, `/etc`).
//! - `rootboot::power_cut`: boot 1 schedules, writes and syncs a file, and loses the power;
//!   boot 2 runs the rolled-back system and the stash holds everything, the file included.

use std::io::Write;

use crate::image;
use crate::rootfs::{self, Boot};
use crate::test::Counts;
use crate::{Flavour, VmArgs};

/// The tests: name and number of boots.
const CASES: [&str; 3] = ["round_trip", "cancel", "power_cut"];

/// The full names of the tests, for filtering.
pub fn names() -> Vec<String> {
    CASES.iter().map(|n| format!("rootboot::{n}")).collect()
}

/// Shell functions every boot of every case starts with.
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

# Schedules the rollback of the running root to @S at next boot and checks what that did.
schedule() {
  "$DV" rollback "$ROOT@S" --at-next-boot --yes --json >"$K/sched.json" || fail "rollback --at-next-boot failed"
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

# The rolled-back system runs (boot 2 of round_trip and power_cut); the stash holds everything.
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
  [ "$(sha /mnt/stash/etc/issue)" = "$(cat "$K/issue.after")" ] || fail "the stash's /etc/issue is not the edited one"
  umount /mnt/stash
  say "the old system runs; stash $ID holds the upgraded one with the file written after scheduling"
}
"#;

const ROUND_TRIP_1: &str = r#"setup
schedule
echo after >/written-after-scheduling
sync
"#;

const ROUND_TRIP_2: &str = r#"# Too late to cancel: refused, before and after recovery.
if "$DV" rollback --cancel 2>"$K/cancel.err"; then fail "cancel after the reboot succeeded"; fi
grep -q "too late to cancel" "$K/cancel.err" || fail "cancel said: $(cat "$K/cancel.err")"
rolled_back
if "$DV" rollback --cancel "$(cat "$K/id")" 2>"$K/cancel.err"; then fail "cancel after recovery succeeded"; fi
grep -q "no pending rollback at next boot" "$K/cancel.err" || fail "cancel said: $(cat "$K/cancel.err")"
"$DV" stash restore "$(cat "$K/id")" --yes >"$K/restore.out" || fail "stash restore failed"
grep -q "at the next boot" "$K/restore.out" || fail "the restore was not scheduled at next boot: $(cat "$K/restore.out")"
"$DV" stash list | grep -q "pending: restored at the next boot" || fail "stash list does not show the restore pending"
sync
say "restore of $(cat "$K/id") scheduled"
"#;

const ROUND_TRIP_3: &str = r#"ID=$(cat "$K/id")
[ "$(mnt /)" = "zfs $ROOT" ] || fail "/ is '$(mnt /)'"
[ "$(guid "$ROOT")" = "$(cat "$K/root.guid")" ] || fail "$ROOT is not the original (upgraded) dataset"
installed || fail "the package is not installed after the restore"
[ "$(cat /written-after-scheduling)" = after ] || fail "the file written after scheduling is lost"
[ "$(sha /etc/issue)" = "$(cat "$K/issue.after")" ] || fail "/etc/issue is not the edited one"
"$DV" recover >/dev/null || fail "recover failed"
"$DV" stash list -H >"$K/list3"
if grep -q "^$ID" "$K/list3"; then fail "the restored stash is still listed"; fi
[ "$(grep -c "	$ROOT	" "$K/list3")" = 1 ] || fail "expected one stash of the rolled-back state: $(cat "$K/list3")"
grep -q "	yes$" "$K/list3" || fail "the new stash is not verified: $(cat "$K/list3")"
[ "$(zpool get -H -o value bootfs rpool)" = "$ROOT" ] || fail "bootfs is $(zpool get -H -o value bootfs rpool)"
say "the upgraded system runs again; the rolled-back state is a stash"
"#;

const CANCEL_1: &str = r#"setup
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
echo after >/written-after-scheduling
"$DV" rollback --cancel >"$K/cancel.out" || fail "cancel failed"
original "after the cancel"
installed || fail "the package is gone after the cancel"
sync
"#;

const CANCEL_2: &str = r#"original "after the reboot"
installed || fail "the package is gone"
[ "$(cat /written-after-scheduling)" = after ] || fail "the file written before the cancel is lost"
[ "$(cat /written-before)" = before-cancel ] || fail "/written-before is lost"
[ "$(sha /etc/issue)" = "$(cat "$K/issue.after")" ] || fail "/etc/issue is not the edited one"
say "the system is the one it was before the cancelled rollback"
"#;

const POWER_CUT_1: &str = r#"setup
schedule
echo after >/written-after-scheduling
sync
say "scheduled and synced; cutting the power"
echo "@@FLOCKER:POWERCUT@@ 0"
sleep 600
"#;

const POWER_CUT_2: &str = r#"rolled_back
"#;

fn boot(body: &str, power_cut: bool) -> Boot {
    Boot {
        cmd: vec!["sh".into(), "-c".into(), format!("{COMMON}{body}")],
        power_cut,
        ..Boot::default()
    }
}

/// The boots of a case.
fn boots(case: &str) -> Vec<Boot> {
    match case {
        "round_trip" => vec![
            boot(ROUND_TRIP_1, false),
            boot(ROUND_TRIP_2, false),
            boot(ROUND_TRIP_3, false),
        ],
        "cancel" => vec![boot(CANCEL_1, false), boot(CANCEL_2, false)],
        _ => vec![boot(POWER_CUT_1, true), boot(POWER_CUT_2, false)],
    }
}

/// Runs every case `wanted` accepts on a fresh disk each (kept on failure).
pub fn run(
    flavour: Flavour,
    vm_args: &VmArgs,
    target: &std::path::Path,
    bin_dir: &std::path::Path,
    wanted: &dyn Fn(&str) -> bool,
) -> Counts {
    let mut counts = Counts::default();
    for case in CASES {
        let full = format!("rootboot::{case}");
        if !wanted(&full) {
            continue;
        }
        println!("test {full} ...");
        let _ = std::io::stdout().flush();
        let dir = image::cache_dir().join("rootboot");
        let disk = dir.join(format!(
            "zfs-{}-{case}-{}.img",
            flavour.as_str(),
            std::process::id()
        ));
        let mut args = vm_args.clone();
        args.timeout = args.timeout.max(1800);
        args.shares.push(target.to_path_buf());
        args.env
            .push(format!("FLOCKER_BIN_DIR={}", bin_dir.display()));
        match rootfs::run_boots(flavour, &args, &disk, &boots(case)) {
            Ok(_) => {
                println!("test {full} ... ok");
                counts.passed += 1;
                let _ = std::fs::remove_file(&disk);
            }
            Err(e) => {
                println!(
                    "test {full} ... FAILED ({e}; disk kept: {})",
                    disk.display()
                );
                counts.failed += 1;
            }
        }
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_case_has_boots_and_only_power_cut_cuts_the_power() {
        for case in CASES {
            let b = boots(case);
            assert!(b.len() >= 2, "{case}");
            for (i, x) in b.iter().enumerate() {
                assert!(x.cmd[2].starts_with(COMMON));
                assert_eq!(
                    x.power_cut,
                    case == "power_cut" && i == 0,
                    "{case} boot {i}"
                );
                if x.power_cut {
                    assert!(x.cmd[2].contains("@@FLOCKER:POWERCUT@@"));
                }
            }
        }
        assert_eq!(names().len(), CASES.len());
        assert!(names().iter().all(|n| n.starts_with("rootboot::")));
    }
}
