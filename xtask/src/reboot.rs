//! Reboot tests: a rollback interrupted by a power cut of the lab VM, recovered in the next boot.
//!
//! Each case takes two boots sharing one raw disk image (`/dev/vdb` in the guest) and a host
//! directory (the trusted store and the snapshot GUIDs seen before). In the first boot
//! `rollback::reboot_prepare` (tests/tests/rollback.rs) builds a pool on the disk, starts a
//! rollback and prints the power-cut marker; the host then kills qemu, as a power failure would
//! (no unmount, no export, no flush beyond what the guest already wrote). In the second boot
//! `rollback::reboot_verify` imports the pool, runs `datavault recover` and checks the old or the
//! new state through the `zfs` CLI, then undoes the rollback if it happened.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::test::{Counts, parse_result_line};
use crate::{Flavour, VmArgs, vm};

/// One case: a strategy, and where the power goes: `mid` and `last` stall the rollback before
/// its middle or its last step and cut there (recovery then reverts, or finishes, the
/// operation); `random` cuts after a random delay, wherever the rollback is then.
const CASES: [(&str, &str, &str); 4] = [
    ("swap_power_cut_mid_operation", "swap", "mid"),
    ("swap_power_cut_before_last_step", "swap", "last"),
    ("copy_power_cut_mid_operation", "copy", "mid"),
    ("copy_power_cut_at_random_moment", "copy", "random"),
];

/// The full names of the reboot tests, for filtering.
pub fn names() -> Vec<String> {
    CASES
        .iter()
        .map(|(n, _, _)| format!("reboot::{n}"))
        .collect()
}

/// A delay in `[lo, hi)` ms from the clock and the process id; `FLOCKER_REBOOT_DELAY_MS`
/// forces one (the chosen delay is printed, so a failure can be replayed).
fn random_delay_ms(lo: u64, hi: u64) -> u64 {
    if let Some(ms) = std::env::var("FLOCKER_REBOOT_DELAY_MS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        return ms;
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64)
        .unwrap_or(0);
    let mut x = nanos ^ ((std::process::id() as u64) << 32) ^ 0x9e37_79b9_7f4a_7c15;
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    lo + x % (hi - lo).max(1)
}

/// Runs every case whose name `wanted` accepts; returns the counts.
pub fn run(
    flavour: Flavour,
    vm_args: &VmArgs,
    work: &Path,
    bin_dir: &Path,
    rollback_bin: &Path,
    wanted: &dyn Fn(&str) -> bool,
) -> Counts {
    let mut counts = Counts::default();
    for (name, strategy, at) in CASES {
        let full = format!("reboot::{name}");
        if !wanted(&full) {
            continue;
        }
        let at = if at == "random" {
            // Under TCG the rollback of this fixture takes several seconds to a minute.
            format!("random:{}", random_delay_ms(300, 10_000))
        } else {
            at.to_string()
        };
        println!("test {full} ({at}) ...");
        let _ = std::io::stdout().flush();
        let dir = work.join(format!("{}-{name}", flavour.as_str()));
        match one_case(flavour, vm_args, &dir, bin_dir, rollback_bin, strategy, &at) {
            Ok(()) => {
                println!("test {full} ... ok");
                counts.passed += 1;
                let _ = std::fs::remove_dir_all(&dir);
            }
            Err(e) => {
                println!(
                    "test {full} ... FAILED ({e}; files kept in {})",
                    dir.display()
                );
                counts.fail(full.clone());
            }
        }
    }
    counts
}

fn one_case(
    flavour: Flavour,
    vm_args: &VmArgs,
    dir: &Path,
    bin_dir: &Path,
    rollback_bin: &Path,
    strategy: &str,
    at: &str,
) -> Result<(), String> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let disk = dir.join("disk.img");
    let f = std::fs::File::create(&disk)
        .map_err(|e| format!("cannot create {}: {e}", disk.display()))?;
    f.set_len(512 << 20).map_err(|e| e.to_string())?;
    drop(f);

    let mut args = vm_args.clone();
    args.disks = vec![disk];
    args.shares.push(dir.to_path_buf());
    args.shares.push(bin_dir.to_path_buf());
    args.env.extend([
        format!("FLOCKER_REBOOT_DIR={}", dir.display()),
        format!("FLOCKER_REBOOT_STRATEGY={strategy}"),
        format!("FLOCKER_REBOOT_AT={at}"),
        format!("FLOCKER_BIN_DIR={}", bin_dir.display()),
    ]);
    let cmd = |test: &str| -> Vec<String> {
        [
            &rollback_bin.to_string_lossy(),
            "--exact",
            test,
            "--test-threads=1",
            "--color",
            "never",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };

    // Boot 1: prepare, start the rollback, lose the power.
    let mut first = args.clone();
    first.power_cut = true;
    first.env.push("FLOCKER_REBOOT_PHASE=prepare".into());
    let out = vm::run_in_lab(flavour, &first, &cmd("rollback::reboot_prepare"))
        .map_err(|e| format!("first boot: {e}"))?;
    if !out.power_cut {
        return Err(format!(
            "the first boot ended (status {}) without asking for the power cut",
            out.code
        ));
    }
    println!("[reboot] power cut; booting again on the same disk");

    // Boot 2: import, recover, check.
    let mut second = args;
    second.env.push("FLOCKER_REBOOT_PHASE=verify".into());
    let out = vm::run_in_lab(flavour, &second, &cmd("rollback::reboot_verify"))
        .map_err(|e| format!("second boot: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let result = text.lines().rev().find_map(parse_result_line);
    match result {
        Some(c) if c.passed == 1 && c.failed == 0 && out.code == 0 => Ok(()),
        Some(c) if c.skipped > 0 => Err("the verify half was skipped (no /dev/zfs?)".into()),
        _ => Err(format!(
            "the verify half failed (status {}; see its output above)",
            out.code
        )),
    }
}

/// Where the reboot tests keep their disks: under the target directory, which the lab shares.
pub fn work_dir(target: &Path) -> PathBuf {
    target.join("lab-reboot")
}
