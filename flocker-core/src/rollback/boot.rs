//! Rollback at next boot: for a filesystem that cannot be released now (the running root
//! filesystem, or any filesystem with `--at-next-boot`), the rollback is prepared now and takes
//! effect when the system next boots; nothing is lost (see ROLLBACK.md, "At next boot").
//!
//! It is a `swap` without the unmount and the mounts. `lzc_rename` is the raw
//! `ZFS_IOC_RENAME`, which does not unmount (libzfs's changelist does, the ioctl does not), so
//! the live dataset keeps running, mounted, under its stash name, while the clone of the target
//! takes the live name; the boot loader and the initramfs (`root=ZFS=<name>`, or the pool's
//! `bootfs`) then find the rolled-back state under the old name. Steps:
//!
//! 1. `lzc_snapshot fs@flocker-pre-<id>`; the stash container if missing.
//! 2. `lzc_clone <container>/<id>-new` from `fs@S` with `fs`'s local properties (not its
//!    `mountpoint`: it inherits `none` from the container, so nothing mounts it).
//! 3. `lzc_promote <id>-new`; verify the GUIDs; **commit** (the stash record).
//! 4. `canmount=noauto` on `fs` (so that no boot mounts it once it is the stash).
//! 5. `lzc_rename fs → <container>/<id>` then at once `<id>-new → fs` (the window: between the
//!    two, no dataset has the live name), then the direct children back under `fs`.
//! 6. the stash inherits `mountpoint` (`none`), `fs` gets its old local `mountpoint`;
//!    reservations move; for a restore, `canmount` of the incoming stash is put back.
//! 7. `bootfs=fs` again when the pool's `bootfs` named `fs` (the property stores an object).
//! 8. **await boot**: the journal stays here ("pending boot") until the old dataset is no
//!    longer mounted in a later boot; writes until then land in the stash.
//! 9. after the boot: `lzc_snapshot <stash>@flocker-final-<id>` (the state at shutdown), added
//!    to the record; the journal ends: the stash is a normal `swap` stash.
//!
//! [`cancel_at_next_boot`] before the reboot undoes it (journaled, idempotent): the renames
//! back, the properties and `bootfs` back, then the revert of an uncommitted `swap` (promote
//! back, destroy the clone and the pre snapshot) and the record removed.

use std::collections::BTreeMap;

use super::exec::{self, fresh_name};
use super::plan::{Blocker, RollbackPlan, Step, Strategy, index_value, plan};
use super::read::{info_one, read_state};
use super::state::{DatasetKind, LiveState, PropValue};
#[cfg(test)]
use super::store::JournalOp;
use super::store::{Journal, StashRecord, StashedSnapshot, Store};
use crate::error::{Error, ErrorKind, Result};
use crate::kernel;
use crate::lzc;
use crate::name::{DatasetName, SnapshotName};

/// Prefix of the snapshot of the stash taken after the boot (what was written until then).
pub const FINAL_PREFIX: &str = "flocker-final-";

/// Journal key: the hash of the boot id in which the live dataset was renamed into the stash.
const BOOT: &str = "boot";
/// Journal key: 1 when the live dataset was mounted when it was renamed into the stash.
const MOUNTED: &str = "mounted";
/// Journal key: a cancel has started (recovery goes on with it).
const CANCEL: &str = "cancel";

/// Whether `p` is a rollback (or a stash restore) at next boot.
pub fn is_at_next_boot(p: &RollbackPlan) -> bool {
    p.steps.iter().any(|s| matches!(s, Step::AwaitBoot { .. }))
}

/// Whether `state` is the running root filesystem (a filesystem mounted at `/`).
pub fn is_running_root(state: &LiveState) -> bool {
    state.kind == DatasetKind::Filesystem && state.mount.as_ref().is_some_and(|m| m.path == "/")
}

/// Plans rolling `state.dataset` back to `target` at next boot (pure). `bootfs`: the pool's
/// `bootfs` now (set again to the dataset after the renames when it names it). `requested`
/// is what the caller asked for (`auto` or `swap`; `copy` is refused: it rolls back in place).
///
/// Errors: those of [`plan`]. A plan that cannot be carried out is refused by its blockers:
/// those of `swap` except busy mounts (nothing is unmounted), plus [`Blocker::AtNextBoot`] for
/// a volume or a `copy` request.
pub fn plan_at_next_boot(
    state: &LiveState,
    target: &str,
    requested: Strategy,
    stash_id: &str,
    bootfs: Option<&DatasetName>,
) -> Result<RollbackPlan> {
    let mut p = plan(state, target, Strategy::Swap, stash_id)?;
    p.requested = requested;
    if requested == Strategy::Copy {
        p.blockers.push(Blocker::AtNextBoot {
            why: "copy rolls back in place, now; at next boot swaps datasets (strategy auto or \
                  swap)"
                .into(),
        });
    }
    at_boot(p, state, bootfs, Vec::new())
}

/// Plans the restore of stash `rec` at next boot (pure): the stash is swapped back in as a
/// `swap` restore does, without unmounting; the live dataset becomes stash `new_id` at the
/// reboot. `bootfs` as in [`plan_at_next_boot`].
///
/// Errors: those of [`plan`].
pub fn plan_restore_at_next_boot(
    state: &LiveState,
    rec: &StashRecord,
    new_id: &str,
    bootfs: Option<&DatasetName>,
) -> Result<RollbackPlan> {
    let p = super::plan::swap_back(state, rec, new_id, true)?;
    // The incoming stash had `canmount=noauto` (set when it became a stash at next boot):
    // it takes the dataset's own value back.
    let back = Step::SetProp {
        dataset: state.dataset.clone(),
        prop: "canmount".into(),
        value: PropValue::Number(canmount_back(&rec.local_props)),
    };
    at_boot(p, state, bootfs, vec![back])
}

/// A `swap` plan made into one at next boot: no unmount or mount; `canmount=noauto` on the
/// live dataset before the renames; `extra` after them; `bootfs`; the wait; the final snapshot.
fn at_boot(
    mut p: RollbackPlan,
    state: &LiveState,
    bootfs: Option<&DatasetName>,
    extra: Vec<Step>,
) -> Result<RollbackPlan> {
    p.blockers
        .retain(|b| !matches!(b, Blocker::BusyMount { .. }));
    if state.kind == DatasetKind::Volume {
        p.blockers.push(Blocker::AtNextBoot {
            why: format!(
                "{} is a volume: there is no mount to switch at boot (use copy)",
                state.dataset
            ),
        });
    }
    let first_rename = p
        .steps
        .iter()
        .position(|s| matches!(s, Step::Rename { .. }));
    if !p.blockers.is_empty() || first_rename.is_none() {
        p.strategy = None;
        return Ok(p);
    }
    p.strategy = Some(Strategy::Swap);
    let fs = p.dataset.clone();
    let mut steps: Vec<Step> = std::mem::take(&mut p.steps)
        .into_iter()
        .filter(|s| !matches!(s, Step::Unmount { .. } | Step::Mount { .. }))
        .collect();
    let at = steps
        .iter()
        .position(|s| matches!(s, Step::Rename { .. }))
        .unwrap_or(steps.len());
    steps.insert(
        at,
        Step::SetProp {
            dataset: fs.clone(),
            prop: "canmount".into(),
            value: PropValue::Number(2),
        },
    );
    steps.extend(extra);
    if bootfs == Some(&fs) {
        steps.push(Step::SetBootfs {
            dataset: fs.clone(),
        });
    }
    steps.push(Step::AwaitBoot {
        dataset: fs.clone(),
    });
    steps.push(Step::SnapshotStash {
        snapshot: p
            .stash_dataset
            .snapshot(&format!("{FINAL_PREFIX}{}", p.stash_id))?,
    });
    p.steps = steps;
    p.reason = format!(
        "at next boot: {} keeps running as {} until the reboot, {}",
        fs,
        p.stash_dataset,
        if p.reason.starts_with("restore") {
            p.reason.clone()
        } else {
            format!("the clone of {} takes its name", p.target)
        }
    );
    p.notes.push(format!(
        "takes effect at the next boot; everything written until then lands in stash {} \
         (snapshot @{FINAL_PREFIX}{} after the boot); `datavault rollback --cancel {}` undoes \
         it before the reboot",
        p.stash_id, p.stash_id, p.stash_id
    ));
    Ok(p)
}

/// The pool's `bootfs` now (`None` when unset).
pub(crate) fn current_bootfs(dataset: &DatasetName) -> Result<Option<DatasetName>> {
    let pool = dataset.pool();
    let v = kernel::list::pool_bootfs(pool.as_str(), &mut kernel::list::Buffer::new())?;
    Ok(DatasetName::new(v).ok())
}

/// Reads the live state and plans rolling `target`'s dataset back to it at next boot.
pub fn plan_rollback_at_next_boot(
    target: &SnapshotName,
    requested: Strategy,
) -> Result<RollbackPlan> {
    let ds = target.dataset();
    let state = read_state(&ds)?;
    let bootfs = current_bootfs(&ds)?;
    plan_at_next_boot(
        &state,
        target.short_name(),
        requested,
        &super::new_stash_id(),
        bootfs.as_ref(),
    )
}

/// The plan made again from the live state (for the check under the lock).
pub(crate) fn replan(state: &LiveState, was: &RollbackPlan) -> Result<RollbackPlan> {
    let bootfs = current_bootfs(&state.dataset)?;
    plan_at_next_boot(
        state,
        was.target.short_name(),
        was.requested,
        &was.stash_id,
        bootfs.as_ref(),
    )
}

/// A hash of this boot's id (`/proc/sys/kernel/random/boot_id`; 0 when unreadable).
fn boot_hash() -> u64 {
    let id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap_or_default();
    // FNV-1a: stable across builds (the journal keeps it across a reboot).
    id.trim().bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn is_mounted(dataset: &DatasetName) -> bool {
    kernel::zfs_mounts()
        .iter()
        .any(|(s, _)| s == dataset.as_str())
}

/// Just before the live dataset is renamed into the stash: notes the boot and whether it is
/// mounted (in the journal, which the caller writes before the rename).
pub(crate) fn note_rename(j: &mut Journal) {
    let mounted = is_mounted(&j.plan.dataset);
    j.guids.insert(BOOT.into(), boot_hash());
    j.guids.insert(MOUNTED.into(), u64::from(mounted));
}

/// Whether the system still runs the old state: the old dataset (now named as the stash) is
/// mounted, or it was mounted when renamed in this same boot (names in the mount table may lag
/// on some kernels; the boot id does not).
pub(crate) fn still_pending(j: &Journal) -> bool {
    if is_mounted(&j.plan.stash_dataset) {
        return true;
    }
    j.guids.get(MOUNTED) == Some(&1) && j.guids.get(BOOT) == Some(&boot_hash())
}

/// [`Step::SnapshotStash`]: the stash's last state as a snapshot, added to the record.
pub(crate) fn snapshot_stash(
    store: &Store,
    j: &mut Journal,
    snapshot: &SnapshotName,
) -> Result<()> {
    let p = &j.plan;
    let stash = snapshot.dataset();
    let si = info_one(stash.as_str())?
        .ok_or_else(|| Error::new(ErrorKind::NotFound, "rollback").with_name(stash.as_str()))?;
    if si.guid != p.dataset_guid {
        return Err(Error::new(ErrorKind::Mismatch, "rollback")
            .with_name(stash.as_str())
            .with_detail(format!(
                "GUID is {} but {} was expected: not the dataset the rollback stashed",
                si.guid, p.dataset_guid
            )));
    }
    if !lzc::exists(snapshot)? {
        // What was written last before the shutdown may be only in the stash's intent log
        // (`sync` commits the ZIL, not a transaction group), which the kernel replays when the
        // filesystem is mounted, never into a snapshot: mount it once, privately, first.
        let dir = replay_dir(&p.stash_id);
        if !is_mounted(&stash) {
            std::fs::create_dir_all(&dir).map_err(|e| {
                kernel::io_error(ErrorKind::Io, "rollback", &dir.to_string_lossy(), &e)
            })?;
            let flags = libc::MS_NOEXEC | libc::MS_NOSUID | libc::MS_NODEV;
            kernel::mount_zfs(stash.as_str(), &dir, flags).map_err(|e| {
                kernel::io_error(ErrorKind::Io, "rollback", stash.as_str(), &e)
                    .with_detail(format!("mounting the stash to replay its intent log: {e}"))
            })?;
        }
        let snap = lzc::snapshot(std::slice::from_ref(snapshot), None);
        unmount_replay(&stash, &dir)?;
        snap?;
    } else {
        unmount_replay(&stash, &replay_dir(&p.stash_id))?;
    }
    let g = info_one(snapshot.as_str())?
        .map(|i| i.guid)
        .ok_or_else(|| Error::new(ErrorKind::NotFound, "rollback").with_name(snapshot.as_str()))?;
    j.guids.insert("final".into(), g);
    let mut r = store.record(&p.stash_id)?;
    if !r.snapshots.iter().any(|s| s.guid == g) {
        r.snapshots
            .push(StashedSnapshot::new(snapshot.short_name(), g));
        store.put_record(&r)?;
    }
    Ok(())
}

/// Where [`snapshot_stash`] mounts the stash for a moment (its intent log is replayed).
fn replay_dir(id: &str) -> std::path::PathBuf {
    std::path::Path::new("/run/flocker-core/replay").join(id)
}

/// Unmounts the stash from [`replay_dir`] if it is mounted there (a crash may have left it).
fn unmount_replay(stash: &DatasetName, dir: &std::path::Path) -> Result<()> {
    let here = dir.to_string_lossy();
    if kernel::zfs_mounts()
        .iter()
        .any(|(s, p)| s == stash.as_str() && *p == here)
    {
        kernel::unmount(dir)?;
    }
    let _ = std::fs::remove_dir(dir);
    Ok(())
}

/// A rollback or restore at next boot that has not taken effect yet.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct PendingBoot {
    /// The operation's stash id (the stash that will hold the current state).
    pub id: String,
    /// The dataset.
    pub dataset: String,
    /// The snapshot it goes back to.
    pub target: String,
    /// For a restore: the stash being restored.
    pub restore_of: Option<String>,
    /// Whether it reached its wait (scheduled completely; otherwise it was interrupted and
    /// recovery finishes or reverts it).
    pub scheduled: bool,
}

/// The operations at next boot still pending (read-only: nothing is recovered).
pub fn pending_boot(store: &Store) -> Result<Vec<PendingBoot>> {
    Ok(store
        .journals()?
        .into_iter()
        .filter(|j| is_at_next_boot(&j.plan) && !j.guids.contains_key(CANCEL))
        .filter(|j| await_index(&j.plan).is_some_and(|a| j.next_step <= a))
        .filter(|j| j.next_step < await_index(&j.plan).unwrap_or(0) || still_pending(j))
        .map(|j| PendingBoot {
            scheduled: await_index(&j.plan) == Some(j.next_step),
            id: j.plan.stash_id.clone(),
            dataset: j.plan.dataset.to_string(),
            target: j.plan.target.to_string(),
            restore_of: j.restore_of.clone(),
        })
        .collect())
}

fn await_index(p: &RollbackPlan) -> Option<usize> {
    p.steps
        .iter()
        .position(|s| matches!(s, Step::AwaitBoot { .. }))
}

/// Whether recovery must go on with a cancel.
pub(crate) fn is_cancelling(j: &Journal) -> bool {
    j.guids.contains_key(CANCEL)
}

/// The incoming dataset (the fresh clone, or the stash a restore swaps back in) is mounted:
/// the system booted it, so the operation can no longer be cancelled.
fn incoming_mounted(j: &Journal) -> Result<bool> {
    let p = &j.plan;
    let Some(cg) = j.guids.get("clone").copied() else {
        return Ok(false);
    };
    let incoming = p
        .incoming
        .clone()
        .map_or_else(|| fresh_name(&p.stash_dataset), Ok)?;
    for n in [&p.dataset, &incoming] {
        if info_one(n.as_str())?.is_some_and(|i| i.guid == cg) && is_mounted(n) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Cancels the rollback (or restore) at next boot `id` (`None`: the only one pending) before
/// the reboot: the live dataset gets its name, properties and `bootfs` back, the clone and the
/// pre snapshot are destroyed (a restore's stash goes back to its stash name), the record is
/// removed. Journaled: a crash at any point is finished by [`super::recover`]. Returns what
/// was done.
///
/// Errors: [`ErrorKind::NotFound`] when nothing is pending (or not `id`);
/// [`ErrorKind::InvalidArgument`] when several are pending and `id` is `None`;
/// [`ErrorKind::NotSupported`] when the system has already booted the rolled-back state (the
/// stash is then a normal stash: restore it instead).
pub fn cancel_at_next_boot(store: &Store, id: Option<&str>) -> Result<String> {
    let _lock = store.lock()?;
    let matches = |j: &Journal| {
        is_at_next_boot(&j.plan)
            && id.is_none_or(|i| j.plan.stash_id == i || j.restore_of.as_deref() == Some(i))
    };
    let mut found: Vec<Journal> = store.journals()?.into_iter().filter(matches).collect();
    if found.is_empty() {
        let detail = match id {
            Some(i) if store.has_record(i)? => format!(
                "stash {i} has no pending rollback at next boot (it took effect, or was never \
                 one): restore the stash instead"
            ),
            Some(i) => format!("no rollback at next boot has id {i}"),
            None => "no rollback at next boot is pending".into(),
        };
        return Err(Error::new(ErrorKind::NotFound, "cancel").with_detail(detail));
    }
    if found.len() > 1 {
        let ids: Vec<String> = found.iter().map(|j| j.plan.stash_id.clone()).collect();
        return Err(
            Error::new(ErrorKind::InvalidArgument, "cancel").with_detail(format!(
                "several rollbacks at next boot are pending ({}): name one",
                ids.join(", ")
            )),
        );
    }
    let mut j = found.remove(0);
    if is_cancelling(&j) {
        return run_cancel(store, &j);
    }
    let p = j.plan.clone();
    if !j.committed && !store.has_record(&p.stash_id)? {
        // Interrupted before its commit point: the revert is the cancel.
        let left = exec::revert(&j)?;
        store.clear_journal(&p.stash_id)?;
        return Ok(format!(
            "cancelled the rollback at next boot of {} (it had not got far: nothing changed){}",
            p.dataset,
            if left.is_empty() {
                String::new()
            } else {
                format!("; {}", left.join("; "))
            }
        ));
    }
    let a = await_index(&p).unwrap_or(usize::MAX);
    let booted =
        j.next_step > a || (j.next_step == a && !still_pending(&j)) || incoming_mounted(&j)?;
    if booted {
        return Err(Error::new(ErrorKind::NotSupported, "cancel")
            .with_name(p.dataset.as_str())
            .with_detail(format!(
                "the system has booted the rolled-back {} already: too late to cancel; stash {} \
                 holds the state it replaced (`datavault stash restore {}`)",
                p.dataset, p.stash_id, p.stash_id
            )));
    }
    j.guids.insert(CANCEL.into(), 1);
    store.put_journal(&j)?;
    run_cancel(store, &j)
}

fn fault(at: &str) -> Result<()> {
    exec::named_fault(at)
}

/// The cancel's steps, each idempotent (checked by GUID), then the revert. Fault points
/// `boot-cancel.1` to `boot-cancel.5` (test builds).
pub(crate) fn run_cancel(store: &Store, j: &Journal) -> Result<String> {
    let p = &j.plan;
    let fs = &p.dataset;
    let stash = &p.stash_dataset;
    let orig = p.dataset_guid;
    let incoming = p.incoming.clone().map_or_else(|| fresh_name(stash), Ok)?;
    let clone_guid = j.guids.get("clone").copied();
    fault("boot-cancel.1")?;
    // The incoming dataset leaves the live name; at once the original takes it back.
    if let (Some(cg), Some(i)) = (clone_guid, info_one(fs.as_str())?)
        && i.guid == cg
        && !lzc::exists(&incoming)?
    {
        lzc::rename(fs, &incoming)?;
    }
    fault("boot-cancel.2")?;
    if info_one(stash.as_str())?.is_some_and(|i| i.guid == orig) && !lzc::exists(fs)? {
        lzc::rename(stash, fs)?;
    }
    let now = info_one(fs.as_str())?.ok_or_else(|| {
        Error::new(ErrorKind::NotFound, "cancel")
            .with_name(fs.as_str())
            .with_detail("neither the original dataset nor its stash name holds it")
    })?;
    if now.guid != orig {
        return Err(Error::new(ErrorKind::Mismatch, "cancel")
            .with_name(fs.as_str())
            .with_detail(format!(
                "GUID is {} but the original {orig} was expected; not touching it",
                now.guid
            )));
    }
    // Children the renames moved under the incoming dataset (which took them along when it
    // left the live name) come back under the original.
    for s in &p.steps {
        if let Step::Rename { from, to } = s
            && from != fs
            && *from != incoming
            && to != fs
        {
            let moved = incoming.child(to.last_component())?;
            if lzc::exists(&moved)? && !lzc::exists(to)? {
                lzc::rename(&moved, to)?;
            }
        }
    }
    fault("boot-cancel.3")?;
    restore_props(fs, &p.local_props)?;
    if lzc::exists(&incoming)?
        && kernel::stored_local_props(&incoming)?
            .iter()
            .any(|(k, _)| k == "mountpoint")
    {
        kernel::inherit_prop(&incoming, "mountpoint")?;
    }
    fault("boot-cancel.4")?;
    if p.steps.iter().any(|s| matches!(s, Step::SetBootfs { .. })) {
        kernel::set_pool_bootfs(fs)?;
    }
    fault("boot-cancel.5")?;
    let left = exec::revert(j)?;
    if store.has_record(&p.stash_id)? {
        store.remove_record(&p.stash_id)?;
    }
    store.clear_journal(&p.stash_id)?;
    Ok(format!(
        "cancelled the {} at next boot of {} (stash {}): it runs as before{}",
        if j.restore_of.is_some() {
            "restore"
        } else {
            "rollback"
        },
        fs,
        p.stash_id,
        if left.is_empty() {
            String::new()
        } else {
            format!("; {}", left.join("; "))
        }
    ))
}

/// The `canmount` to give a dataset back: its local value in `local`, else `on` (1), the value
/// of a dataset that never had a local one (`canmount` cannot be inherited: `EINVAL`).
fn canmount_back(local: &BTreeMap<String, PropValue>) -> u64 {
    match local.get("canmount") {
        Some(PropValue::Number(n)) => Some(*n),
        Some(PropValue::Text(t)) => index_value("canmount", t),
        None => None,
    }
    .unwrap_or(1)
}

/// The original's local `mountpoint`, `canmount` and reservations as they were planned.
fn restore_props(fs: &DatasetName, local: &BTreeMap<String, PropValue>) -> Result<()> {
    match local.get("mountpoint") {
        Some(v) => kernel::set_prop(fs, "mountpoint", v)?,
        None => kernel::inherit_prop(fs, "mountpoint")?,
    }
    kernel::set_prop(fs, "canmount", &PropValue::Number(canmount_back(local)))?;
    for r in ["reservation", "refreservation"] {
        if let Some(PropValue::Number(n)) = local.get(r)
            && *n > 0
        {
            kernel::set_prop(fs, r, &PropValue::Number(*n))?;
        }
    }
    Ok(())
}

/// Restores stash `id` at next boot: the stash is swapped back in now under the live name
/// without unmounting anything; the system runs the restored state after the reboot and the
/// state it replaces becomes a new stash. Returns the record of that new stash (pending until
/// the boot).
///
/// Errors: those of [`super::stash_restore`]; refused ([`ErrorKind::NotSupported`] and the
/// others of the plan's blockers) when the stash cannot be swapped back.
pub fn stash_restore_at_next_boot(store: &Store, id: &str) -> Result<StashRecord> {
    let _lock = store.lock()?;
    let dataset = store.record(id)?.dataset;
    store.check_outside(std::slice::from_ref(&dataset))?;
    super::recover_locked(store, Some(dataset.as_str()))?;
    restore_locked(store, id)
}

/// [`stash_restore_at_next_boot`] under the lock.
pub(crate) fn restore_locked(store: &Store, id: &str) -> Result<StashRecord> {
    let r = super::verified(store, id)?;
    super::check_target(&r)?;
    let state = read_state(&r.dataset)?;
    let bootfs = current_bootfs(&r.dataset)?;
    let p = plan_restore_at_next_boot(&state, &r, &super::new_stash_id(), bootfs.as_ref())?;
    if !p.is_runnable() {
        return Err(super::refuse(&p));
    }
    super::rollback_journaled(store, &p, Some(id.to_string()))
}

/// The journal op of a rollback at next boot (a restore at next boot is a `swap` rollback
/// too, with `restore_of`).
#[cfg(test)]
const OP: JournalOp = JournalOp::Rollback;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollback::state::{ChildState, MountState, SnapshotState};
    use crate::snapshot::Snapshot;

    const ID: &str = "20261206T194000-abcdef";

    fn snap(ds: &str, name: &str, txg: u64) -> SnapshotState {
        let n = SnapshotName::new(format!("{ds}@{name}")).unwrap();
        SnapshotState::new(
            Snapshot::from_parts(n, txg * 7, txg, time::OffsetDateTime::UNIX_EPOCH),
            4096,
        )
    }

    fn root() -> LiveState {
        let ds = "rpool/ROOT/debian";
        let mut s = LiveState::new(DatasetName::new(ds).unwrap(), 11, DatasetKind::Filesystem);
        s.snapshots = vec![snap(ds, "S", 10), snap(ds, "T", 20)];
        s.mount = Some(MountState::new("/", true));
        s.local_props
            .insert("mountpoint".into(), PropValue::Text("/".into()));
        s.local_props
            .insert("canmount".into(), PropValue::Text("noauto".into()));
        s.available = 1 << 30;
        s
    }

    fn ds(n: &str) -> DatasetName {
        DatasetName::new(n).unwrap()
    }

    #[test]
    fn the_running_root_is_swapped_without_unmounting_and_waits_for_the_boot() {
        let s = root();
        assert!(is_running_root(&s));
        let bootfs = ds("rpool/ROOT/debian");
        let p = plan_at_next_boot(&s, "S", Strategy::Auto, ID, Some(&bootfs)).unwrap();
        assert!(p.is_runnable(), "{p}");
        assert!(is_at_next_boot(&p));
        assert_eq!(p.strategy, Some(Strategy::Swap));
        assert_eq!(p.requested, Strategy::Auto);
        assert!(
            !p.steps
                .iter()
                .any(|s| matches!(s, Step::Unmount { .. } | Step::Mount { .. })),
            "{p}"
        );
        let stash = ds(&format!("rpool/flocker-stash/{ID}"));
        let fresh = ds(&format!("rpool/flocker-stash/{ID}-new"));
        let root = ds("rpool/ROOT/debian");
        let pos = |want: &Step| p.steps.iter().position(|s| s == want).unwrap_or(usize::MAX);
        let commit = pos(&Step::Commit);
        let noauto = pos(&Step::SetProp {
            dataset: root.clone(),
            prop: "canmount".into(),
            value: PropValue::Number(2),
        });
        let r1 = pos(&Step::Rename {
            from: root.clone(),
            to: stash.clone(),
        });
        let r2 = pos(&Step::Rename {
            from: fresh.clone(),
            to: root.clone(),
        });
        let bfs = pos(&Step::SetBootfs {
            dataset: root.clone(),
        });
        let wait = pos(&Step::AwaitBoot {
            dataset: root.clone(),
        });
        // commit, noauto, the two renames back to back, ..., bootfs, wait, final snapshot.
        assert!(commit < noauto && noauto + 1 == r1 && r1 + 1 == r2, "{p}");
        assert!(
            r2 < bfs && bfs + 1 == wait && wait + 2 == p.steps.len(),
            "{p}"
        );
        assert_eq!(
            p.steps.last(),
            Some(&Step::SnapshotStash {
                snapshot: stash.snapshot(&format!("{FINAL_PREFIX}{ID}")).unwrap()
            })
        );
        // The clone keeps canmount=noauto, not the mountpoint (it inherits none until named).
        let Some(Step::Clone { props, .. }) =
            p.steps.iter().find(|s| matches!(s, Step::Clone { .. }))
        else {
            panic!("no clone step: {p}")
        };
        assert_eq!(props.get("canmount"), Some(&PropValue::Number(2)));
        assert!(!props.contains_key("mountpoint"));
        // The mountpoint moves to the new dataset; the stash inherits none.
        assert!(
            pos(&Step::InheritProp {
                dataset: stash.clone(),
                prop: "mountpoint".into()
            }) < wait
        );
        assert!(
            pos(&Step::SetProp {
                dataset: root.clone(),
                prop: "mountpoint".into(),
                value: PropValue::Text("/".into())
            }) < wait
        );
        // The JSON round trip of a journal keeps the new steps.
        let j = Journal::new(OP, p.clone(), None);
        let text = serde_json::to_string(&crate::rollback::store::JournalV1::from(&j)).unwrap();
        let v1: crate::rollback::store::JournalV1 = serde_json::from_str(&text).unwrap();
        assert!(text.contains("\"op\":\"await_boot\""), "{text}");
        assert_eq!(Journal::try_from(v1).unwrap().plan, p);
    }

    #[test]
    fn bootfs_is_set_only_when_it_named_the_dataset() {
        let s = root();
        for bootfs in [None, Some(ds("rpool/ROOT/other"))] {
            let p = plan_at_next_boot(&s, "S", Strategy::Swap, ID, bootfs.as_ref()).unwrap();
            assert!(p.is_runnable());
            assert!(
                !p.steps.iter().any(|s| matches!(s, Step::SetBootfs { .. })),
                "{p}"
            );
        }
    }

    #[test]
    fn what_at_next_boot_refuses() {
        // copy asked for
        let p = plan_at_next_boot(&root(), "S", Strategy::Copy, ID, None).unwrap();
        assert!(!p.is_runnable());
        assert!(
            p.blockers
                .iter()
                .any(|b| matches!(b, Blocker::AtNextBoot { .. })
                    && b.error_kind() == ErrorKind::NotSupported)
        );
        // a volume
        let mut v = root();
        v.kind = DatasetKind::Volume;
        v.mount = None;
        v.local_props.clear();
        let p = plan_at_next_boot(&v, "S", Strategy::Auto, ID, None).unwrap();
        assert!(!p.is_runnable());
        assert_eq!(
            p.blockers.first().map(Blocker::error_kind),
            Some(ErrorKind::NotSupported)
        );
        assert!(p.to_string().contains("is a volume"), "{p}");
        // a missing target
        let p = plan_at_next_boot(&root(), "nope", Strategy::Auto, ID, None).unwrap();
        assert!(!p.is_runnable());
        assert_eq!(p.blockers[0].error_kind(), ErrorKind::NotFound);
        // a local property swap cannot copy
        let mut s = root();
        s.local_props
            .insert("dedup".into(), PropValue::Text("sha256,verify".into()));
        let p = plan_at_next_boot(&s, "S", Strategy::Auto, ID, None).unwrap();
        assert!(!p.is_runnable());
        // a stash
        let mut st = root();
        st.dataset = ds(&format!("rpool/flocker-stash/{ID}"));
        st.snapshots = vec![snap(st.dataset.as_str(), "S", 10)];
        let p =
            plan_at_next_boot(&st, "S", Strategy::Auto, "20261206T194001-abcdef", None).unwrap();
        assert!(p.blockers.contains(&Blocker::IsStash));
    }

    #[test]
    fn a_busy_mount_does_not_block_and_children_move_under_the_new_dataset() {
        let mut s = root();
        s.children = vec![ChildState::new(
            ds("rpool/ROOT/debian/var"),
            Some(MountState::new("/var", true)),
        )];
        let p = plan_at_next_boot(&s, "S", Strategy::Auto, ID, None).unwrap();
        assert!(p.is_runnable(), "{p}");
        assert!(p.steps.contains(&Step::Rename {
            from: ds(&format!("rpool/flocker-stash/{ID}/var")),
            to: ds("rpool/ROOT/debian/var"),
        }));
        assert!(!p.steps.iter().any(|s| matches!(s, Step::Unmount { .. })));
    }

    #[test]
    fn a_restore_at_next_boot_swaps_the_stash_back_and_gives_back_canmount() {
        let mut s = root();
        // After the rollback: the live root is the clone of S (T went to the stash).
        s.snapshots = vec![snap("rpool/ROOT/debian", "S", 10)];
        s.guid = 12;
        let mut rec = StashRecord::new(
            ID,
            SnapshotName::new("rpool/ROOT/debian@S").unwrap(),
            70,
            Strategy::Swap,
            ds(&format!("rpool/flocker-stash/{ID}")),
            11,
        )
        .unwrap();
        rec.dataset = ds("rpool/ROOT/debian");
        rec.local_props = root().local_props;
        let new_id = "20261206T200000-123456";
        let bootfs = ds("rpool/ROOT/debian");
        let p = plan_restore_at_next_boot(&s, &rec, new_id, Some(&bootfs)).unwrap();
        assert!(p.is_runnable(), "{p}");
        assert!(is_at_next_boot(&p));
        assert_eq!(p.incoming, Some(rec.stash_dataset.clone()));
        assert!(p.steps.contains(&Step::Rename {
            from: rec.stash_dataset.clone(),
            to: ds("rpool/ROOT/debian"),
        }));
        assert!(p.steps.contains(&Step::SetProp {
            dataset: ds("rpool/ROOT/debian"),
            prop: "canmount".into(),
            value: PropValue::Number(2),
        }));
        assert!(p.steps.contains(&Step::SetBootfs {
            dataset: ds("rpool/ROOT/debian")
        }));
        assert!(!p.steps.iter().any(|s| matches!(s, Step::Clone { .. })));
        // Without a local canmount in the record, the incoming stash gets the default (`on`):
        // canmount cannot be inherited.
        rec.local_props.remove("canmount");
        let p = plan_restore_at_next_boot(&s, &rec, new_id, None).unwrap();
        assert!(p.steps.contains(&Step::SetProp {
            dataset: ds("rpool/ROOT/debian"),
            prop: "canmount".into(),
            value: PropValue::Number(1),
        }));
        assert!(
            !p.steps
                .iter()
                .any(|s| matches!(s, Step::InheritProp { prop, .. } if prop == "canmount"))
        );
    }
}
