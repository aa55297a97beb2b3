//! Non-destructive rollback: roll a dataset back to any of its snapshots and keep everything
//! `zfs rollback -r` would destroy in a **stash** (see `ROLLBACK.md` for the design).
//!
//! - [`plan`] / [`RollbackPlan`]: pure planning from a [`LiveState`] (unit-tested anywhere);
//!   [`plan_rollback`] reads the live state first. A plan prints as a dry run
//!   ([`std::fmt::Display`]) and as JSON ([`RollbackPlan::to_json`]).
//! - [`rollback`]: carries a plan out (strategy `swap` or `copy`), journaled and GUID-checked.
//! - Stashes: [`stash_list`], [`stash_show`], [`stash_restore`], [`stash_drop`], [`stash_export`].
//! - [`recover`]: finishes or reverts an interrupted operation (also run at the start of every
//!   mutating call).
//! - For retention: [`is_stash_dataset`] and [`protected_snapshots`].
//!
//! ```
//! use flocker_core::name::{DatasetName, SnapshotName};
//! use flocker_core::rollback::{plan, LiveState, DatasetKind, SnapshotState, Strategy};
//! use flocker_core::snapshot::Snapshot;
//! # fn main() -> Result<(), flocker_core::error::Error> {
//! let snap = |name: &str, txg: u64| -> Result<SnapshotState, flocker_core::error::Error> {
//!     let name = SnapshotName::new(format!("tank/home@{name}"))?;
//!     let at = time::OffsetDateTime::UNIX_EPOCH;
//!     Ok(SnapshotState::new(Snapshot::from_parts(name, txg * 7, txg, at), 4096))
//! };
//! let mut state = LiveState::new(DatasetName::new("tank/home")?, 1, DatasetKind::Filesystem);
//! state.snapshots = vec![snap("a", 10)?, snap("b", 20)?, snap("c", 30)?];
//! state.available = 1 << 30;
//! let p = plan(&state, "a", Strategy::Auto, "20261125T101500-abcdef")?;
//! assert_eq!(p.strategy, Some(Strategy::Swap));
//! let stashed: Vec<&str> = p.stashed.iter().map(|s| s.short_name()).collect();
//! assert_eq!(stashed, ["b", "c"]);
//! println!("{p}");
//! # Ok(())
//! # }
//! ```

mod boot;
mod crypt;
mod exec;
mod plan;
pub(crate) mod read;
mod state;
mod store;
mod tree;

use std::io::Read;

pub use boot::{
    FINAL_PREFIX, PendingBoot, cancel_at_next_boot, is_at_next_boot, is_running_root, pending_boot,
    plan_at_next_boot, plan_restore_at_next_boot, plan_rollback_at_next_boot,
    stash_restore_at_next_boot,
};
pub use crypt::EncryptionState;
#[cfg(feature = "fault-injection")]
pub use exec::set_fault_injection;
pub use plan::{
    BASE_BOOKMARK, Blocker, PRE_PREFIX, RollbackPlan, STASH_CONTAINER, Source, Step, Strategy,
    index_value, plan, plan_differences, plan_swap_back,
};
use read::info_one;
pub use read::read_state;
pub use state::{
    BookmarkState, ChildState, DatasetKind, LiveState, MountState, PropValue, SnapshotState,
};
#[cfg(feature = "fault-injection")]
pub use store::location::set_init_fault;
pub use store::location::{
    INIT_STEPS, InitReport, OP_STORE_CHECK, STORE_DATASET, StoreLocation, init_dataset,
    is_store_dataset_name, store_dataset, store_location,
};
pub use store::{
    DEFAULT_DIR, Journal, JournalOp, LOCK_GRACE, Lock, StashRecord, StashedSnapshot, Store,
};
pub use tree::{
    TreeBlocker, TreePhase, TreePlan, TreeStash, member_records, plan_rollback_tree, plan_tree,
    rollback_tree, stash_drop_tree, stash_restore_tree, tree_differences, tree_list, tree_show,
};

use crate::error::{Error, ErrorKind, Result};
use crate::kernel;
use crate::lzc::{self, PointInTime, SendFlags};
use crate::name::{DatasetName, SnapshotName};

/// A new stash id: `<UTC yyyymmddThhmmss>-<6 hex>`.
pub fn new_stash_id() -> String {
    let now = time::OffsetDateTime::now_utc();
    let mut rnd = [0u8; 3];
    let ok = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut rnd))
        .is_ok();
    if !ok {
        let n = now.nanosecond() ^ std::process::id();
        rnd = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
    }
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}-{:02x}{:02x}{:02x}",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
        rnd[0],
        rnd[1],
        rnd[2]
    )
}

/// Whether `name` (a dataset, snapshot or bookmark) belongs to a stash: it lives under
/// `<pool>/flocker-stash/`, or it is (or lies under) a stash `<E>/flocker-stash/<stash id>`
/// of a dataset that inherits its key from the encryption root `E`. Retention must never
/// destroy these.
pub fn is_stash_dataset(name: &str) -> bool {
    let ds = name.split(['@', '#']).next().unwrap_or(name);
    let mut parts = ds.split('/');
    parts.next();
    parts.next() == Some(STASH_CONTAINER) || crypt::in_root_container(ds)
}

/// Snapshots retention must keep: each stash's target `fs@S` (the stash is a clone of it) and
/// every snapshot inside a stash.
pub fn protected_snapshots(store: &Store) -> Result<Vec<SnapshotName>> {
    let mut v = Vec::new();
    for r in store.records()? {
        v.push(r.target.clone());
        for s in &r.snapshots {
            v.push(r.stash_dataset.snapshot(&s.name)?);
        }
    }
    Ok(v)
}

/// Reads the live state and plans rolling `target`'s dataset back to it. Pure apart from the
/// read: nothing is changed.
///
/// `auto` for the running root filesystem (mounted at `/`) plans a rollback at next boot
/// ([`plan_at_next_boot`]) when that is possible, and `copy` otherwise.
pub fn plan_rollback(target: &SnapshotName, strategy: Strategy) -> Result<RollbackPlan> {
    let state = read_state(&target.dataset())?;
    let id = new_stash_id();
    if strategy == Strategy::Auto && boot::is_running_root(&state) {
        let bootfs = boot::current_bootfs(&state.dataset)?;
        let p = plan_at_next_boot(&state, target.short_name(), strategy, &id, bootfs.as_ref())?;
        if p.is_runnable() {
            return Ok(p);
        }
    }
    plan(&state, target.short_name(), strategy, &id)
}

fn refuse(p: &RollbackPlan) -> Error {
    let kind = p
        .blockers
        .first()
        .map_or(ErrorKind::InvalidArgument, Blocker::error_kind);
    let why: Vec<String> = p.blockers.iter().map(ToString::to_string).collect();
    Error::new(kind, "rollback")
        .with_name(p.dataset.as_str())
        .with_detail(format!("refused, nothing changed: {}", why.join("; ")))
}

/// Finishes or reverts every interrupted operation recorded in the store's journals. Returns
/// a description of what was done, a line per operation (`None`: there was nothing to
/// recover). The caller holds no lock; this takes it.
///
/// A rollback killed inside its commit step (the record written, the journal not yet) is
/// finished: the record is the commit point. A rollback stopped after its commit point with
/// everything kept ([`ErrorKind::Changed`], see ROLLBACK.md, "Concurrency") is reported and
/// its journal removed.
///
/// With nothing to recover it only reads: it creates no file, not even the store's directory.
pub fn recover(store: &Store) -> Result<Option<String>> {
    if store.journals()?.is_empty() && !store.trees()?.iter().any(|t| t.phase != TreePhase::Done) {
        return Ok(None);
    }
    let _lock = store.lock()?;
    recover_locked(store, None)
}

/// Whether one of two datasets is the other or lies under it: an interrupted operation on one
/// of them stops operations on the other (see [`recover`]).
pub fn related(a: &str, b: &str) -> bool {
    match (DatasetName::new(a), DatasetName::new(b)) {
        (Ok(x), Ok(y)) => x == y || x.is_ancestor_of(&y) || y.is_ancestor_of(&x),
        _ => a == b,
    }
}

/// Recovers every journal. With `scope` (the dataset an operation is about to change), a
/// journal of an unrelated dataset that cannot be recovered is left for `recover` and does
/// not stop the operation.
fn recover_locked(store: &Store, scope: Option<&str>) -> Result<Option<String>> {
    let mut done = Vec::new();
    for j in store.journals()? {
        let dataset = j.plan.dataset.clone();
        let key = j.plan.stash_id.clone();
        let at_boot = boot::is_at_next_boot(&j.plan);
        match recover_one(store, j) {
            Ok(w)
                if at_boot
                    && scope.is_some_and(|s| related(s, dataset.as_str()))
                    && store.journals()?.iter().any(|x| x.plan.stash_id == key) =>
            {
                return Err(Error::new(ErrorKind::Busy, "rollback")
                    .with_name(dataset.as_str())
                    .with_detail(format!(
                        "{w}: reboot first, or cancel it (`datavault rollback --cancel {key}`)"
                    )));
            }
            Ok(w) => done.push(w),
            Err(_) if scope.is_some_and(|s| !related(s, dataset.as_str())) => {}
            Err(e) => return Err(e),
        }
    }
    // Then the tree operations, whose members' own journals are now recovered: each goes on.
    for t in store.trees()? {
        if t.phase == TreePhase::Done {
            continue;
        }
        let root = t.root.clone();
        match tree::recover_tree(store, t) {
            Ok(w) => done.push(w),
            Err(_) if scope.is_some_and(|s| !related(s, root.as_str())) => {}
            Err(e) => return Err(e),
        }
    }
    Ok((!done.is_empty()).then(|| done.join("\n")))
}

fn recover_one(store: &Store, mut j: Journal) -> Result<String> {
    let key = j.plan.stash_id.clone();
    if boot::is_cancelling(&j) {
        return boot::run_cancel(store, &j);
    }
    if j.op == JournalOp::Rollback && !j.committed && store.has_record(&j.plan.stash_id)? {
        // Killed inside the commit step: the record was written, so the commit happened.
        j.committed = true;
    }
    let what = if j.op == JournalOp::Restore {
        let id = j.restore_of.clone().unwrap_or_default();
        let mut r = exec::Runner { store, journal: j };
        r.run()?;
        finish_restore(store, &id)?;
        format!("finished the restore of stash {id}")
    } else if j.committed {
        let id = j.plan.stash_id.clone();
        let restored = j.restore_of.clone();
        let dataset = j.plan.dataset.clone();
        let mut r = exec::Runner { store, journal: j };
        match r.run() {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::Changed => {
                // Stopped after the commit with everything kept (see `exec`): nothing to
                // finish, and nothing to retry.
                store.clear_journal(&key)?;
                return Ok(format!(
                    "stopped the rollback of {dataset} (stash {id}): {}",
                    e.detail().unwrap_or_default()
                ));
            }
            Err(e) => return Err(e),
        }
        if r.pending() {
            // Scheduled at next boot; the journal waits for the boot.
            return Ok(format!(
                "the {} at next boot of {dataset} (stash {id}) is pending: it takes effect when                  the system boots again",
                if restored.is_some() {
                    "restore"
                } else {
                    "rollback"
                }
            ));
        }
        if let Some(old) = restored {
            store.remove_record(&old)?;
        }
        format!(
            "finished the rollback of {} (stash {id})",
            r.journal.plan.dataset
        )
    } else {
        let left = exec::revert(&j)?;
        format!(
            "reverted the rollback of {}: nothing changed{}{}",
            j.plan.dataset,
            if left.is_empty() { "" } else { "; " },
            left.join("; ")
        )
    };
    store.clear_journal(&key)?;
    Ok(what)
}

/// Carries out `plan` (which must be runnable), after recovering any interrupted operation.
/// Returns the stash record.
///
/// The plan is made again under the store's lock and must be the same: a plan made before
/// another operation (or program) changed the dataset is refused with [`ErrorKind::Changed`]
/// and nothing changed.
///
/// Errors: the plan's first blocker's kind when refused (nothing changed); [`ErrorKind::Busy`]
/// when another operation holds the lock or a mount is in use under `swap` (then everything is
/// put back); [`ErrorKind::Mismatch`] when a GUID changed between steps; those of each step.
/// A failure after the commit point leaves the journal: [`recover`] finishes it.
pub fn rollback(store: &Store, plan: &RollbackPlan) -> Result<StashRecord> {
    if !plan.is_runnable() {
        return Err(refuse(plan));
    }
    store.check_outside(std::slice::from_ref(&plan.dataset))?;
    let _lock = store.lock()?;
    recover_locked(store, Some(plan.dataset.as_str()))?;
    check_still_current(plan)?;
    rollback_locked(store, plan)
}

fn rollback_locked(store: &Store, plan: &RollbackPlan) -> Result<StashRecord> {
    rollback_journaled(store, plan, None)
}

/// Checks, under the lock, that `plan` still describes the live datasets: the plan is made
/// again from the state now and compared ([`plan_differences`]). [`ErrorKind::Changed`] (with
/// what changed) when it does not; the new plan's refusal when it would now be refused.
fn check_still_current(plan: &RollbackPlan) -> Result<()> {
    let changed = |what: String| {
        Error::new(ErrorKind::Changed, "rollback")
            .with_name(plan.dataset.as_str())
            .with_detail(format!(
                "refused, nothing changed: since the plan was made, {what}"
            ))
    };
    let state = match read_state(&plan.dataset) {
        Ok(s) => s,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            return Err(changed(format!(
                "{} was renamed or destroyed",
                plan.dataset
            )));
        }
        Err(e) => return Err(e),
    };
    let short = plan.target.short_name();
    let now = if boot::is_at_next_boot(plan) {
        boot::replan(&state, plan)?
    } else {
        self::plan(&state, short, plan.requested, &plan.stash_id)?
    };
    let diffs = plan_differences(plan, &now);
    if !diffs.is_empty() {
        return Err(changed(diffs.join("; ")));
    }
    if !now.is_runnable() {
        return Err(refuse(&now));
    }
    Ok(())
}

fn rollback_journaled(
    store: &Store,
    plan: &RollbackPlan,
    restore_of: Option<String>,
) -> Result<StashRecord> {
    if !plan.is_runnable() {
        return Err(refuse(plan));
    }
    let mut journal = exec::journal_for(JournalOp::Rollback, plan.clone(), restore_of.clone());
    if let Some(id) = &restore_of
        && let Ok(r) = store.record(id)
    {
        journal.guids.insert("clone".into(), r.stash_guid);
    }
    let mut r = exec::Runner { store, journal };
    match r.run() {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::Interrupted => return Err(e),
        Err(e) if r.journal.committed && e.kind() == ErrorKind::Changed => {
            // Stopped after the commit with everything kept: the stash and its record are
            // complete; another program's snapshot or hold stays on the dataset.
            store.clear_journal(&plan.stash_id)?;
            return Err(e);
        }
        Err(e) if !r.journal.committed => {
            // Put everything back; the original error is what the caller needs to see.
            if exec::revert(&r.journal).is_ok() {
                store.clear_journal(&plan.stash_id)?;
            }
            return Err(e);
        }
        Err(e) => return Err(e),
    }
    let rec = store.record(&plan.stash_id)?;
    if r.pending() {
        // At next boot: the journal waits for the boot; a restored stash keeps its record
        // until then (a cancel gives it back).
        return Ok(rec);
    }
    if let Some(id) = &restore_of {
        store.remove_record(id)?;
    }
    store.clear_journal(&plan.stash_id)?;
    Ok(rec)
}

/// What [`stash_list`] and [`stash_show`] report.
///
/// It serializes as the one JSON shape of a stash (`datavault stash list|show --json`,
/// `datavault list --json`'s `stashes`): `id`, `dataset`, `target`, `created` (seconds since the
/// epoch), `strategy`, `stash_dataset`, `snapshots` (`[{"name", "guid"}]`, oldest first),
/// `verified`, `used` and `browse`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StashView {
    /// The trusted record.
    pub record: StashRecord,
    /// Whether the stash dataset and every snapshot were found with the recorded GUIDs.
    pub verified: bool,
    /// Space used by the stash dataset.
    pub used: u64,
    /// Where it can be browsed, if mounted (`<path>/.zfs/snapshot/<name>`).
    pub browse: Option<String>,
    /// The tree stash it is a member of (a recursive rollback), if any.
    pub tree: Option<String>,
    /// `Some("rollback")`: the rollback at next boot that made this stash has not taken
    /// effect yet (the stash dataset is still the running one); `Some("restore")`: a restore of
    /// this stash at next boot is pending. `None`: nothing pending.
    pub pending_boot: Option<&'static str>,
}

/// The JSON shape of a [`StashView`].
#[derive(serde::Serialize)]
struct StashJson<'a> {
    id: &'a str,
    dataset: &'a str,
    target: &'a str,
    created: i64,
    strategy: Strategy,
    stash_dataset: &'a str,
    snapshots: &'a [StashedSnapshot],
    verified: bool,
    used: u64,
    browse: Option<&'a str>,
    tree: Option<&'a str>,
    pending_boot: Option<&'static str>,
}

impl serde::Serialize for StashView {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let r = &self.record;
        StashJson {
            id: &r.id,
            dataset: r.dataset.as_str(),
            target: r.target.as_str(),
            created: r.created.unix_timestamp(),
            strategy: r.strategy,
            stash_dataset: r.stash_dataset.as_str(),
            snapshots: &r.snapshots,
            verified: self.verified,
            used: self.used,
            browse: self.browse.as_deref(),
            tree: self.tree.as_deref(),
            pending_boot: self.pending_boot,
        }
        .serialize(s)
    }
}

/// What is pending at next boot for stash `id`.
fn pending_for(id: &str, pending: &[PendingBoot]) -> Option<&'static str> {
    pending.iter().find_map(|p| {
        if p.id == id {
            Some("rollback")
        } else if p.restore_of.as_deref() == Some(id) {
            Some("restore")
        } else {
            None
        }
    })
}

fn view_with(r: StashRecord, pending: &[PendingBoot]) -> Result<StashView> {
    let pending_boot = pending_for(&r.id, pending);
    let i = info_one(r.stash_dataset.as_str())?;
    let verified = i.as_ref().is_some_and(|i| {
        i.guid == r.stash_guid
            && r.snapshots
                .iter()
                .all(|s| i.snaps.get(&format!("{}@{}", r.stash_dataset, s.name)) == Some(&s.guid))
    });
    let browse = kernel::zfs_mounts()
        .into_iter()
        .find(|(d, _)| *d == r.stash_dataset.as_str())
        .map(|(_, p)| format!("{p}/.zfs/snapshot"));
    Ok(StashView {
        used: i.map_or(0, |i| i.used),
        record: r,
        verified,
        browse,
        tree: None,
        pending_boot,
    })
}

/// All stashes (from the trusted records), each verified against the pool; the members of a
/// tree stash (a recursive rollback) name it in [`StashView::tree`].
pub fn stash_list(store: &Store) -> Result<Vec<StashView>> {
    let trees = store.trees()?;
    let pending = pending_boot(store)?;
    store
        .records()?
        .into_iter()
        .map(|r| {
            let tree = trees
                .iter()
                .find(|t| (0..t.members.len()).any(|k| t.member_id(k) == r.id))
                .map(|t| t.id.clone());
            view_with(r, &pending).map(|v| StashView { tree, ..v })
        })
        .collect()
}

/// One stash.
pub fn stash_show(store: &Store, id: &str) -> Result<StashView> {
    view_with(store.record(id)?, &pending_boot(store)?)
}

fn verified(store: &Store, id: &str) -> Result<StashRecord> {
    let v = stash_show(store, id)?;
    if !v.verified {
        return Err(Error::new(ErrorKind::Mismatch, "stash")
            .with_name(id)
            .with_detail(format!(
                "{} does not match its record (GUIDs); not touching it",
                v.record.stash_dataset
            )));
    }
    Ok(v.record)
}

/// Undoes the rollback that made stash `id`: the dataset's current state newer than the target
/// is stashed first (a rollback to the target with `strategy`, so nothing is lost), then the
/// stash's snapshots are received back onto the dataset (same GUIDs) and the stash is
/// destroyed. Returns the record of the stash that now holds the replaced state.
pub fn stash_restore(store: &Store, id: &str, strategy: Strategy) -> Result<StashRecord> {
    let _lock = store.lock()?;
    let dataset = store.record(id)?.dataset;
    store.check_outside(std::slice::from_ref(&dataset))?;
    recover_locked(store, Some(dataset.as_str()))?;
    restore_locked(store, id, strategy, 0, None)
}

/// Refuses a restore of `r` when its target snapshot is gone (`NotFound`) or was replaced
/// (another GUID: `Mismatch`).
pub(crate) fn check_target(r: &StashRecord) -> Result<()> {
    let t = info_one(r.target.as_str())?
        .ok_or_else(|| Error::new(ErrorKind::NotFound, "restore").with_name(r.target.as_str()))?;
    if t.guid != r.target_guid {
        return Err(Error::new(ErrorKind::Mismatch, "restore")
            .with_name(r.target.as_str())
            .with_detail("the target snapshot was replaced"));
    }
    Ok(())
}

/// Restores stash `id` under the lock; the replaced state becomes stash `new_id` (a new id
/// when `None`).
fn restore_locked(
    store: &Store,
    id: &str,
    strategy: Strategy,
    depth: usize,
    new_id: Option<&str>,
) -> Result<StashRecord> {
    let new_id = new_id.map_or_else(new_stash_id, str::to_string);
    let r = verified(store, id)?;
    let target = r.target.clone();
    if info_one(r.target.as_str())?.is_none() && depth < 64 {
        // The target itself was stashed by a later rollback: restore that stash first.
        let holder = store.records()?.into_iter().find(|o| {
            o.id != r.id
                && o.dataset == r.dataset
                && o.snapshots.iter().any(|s| s.guid == r.target_guid)
        });
        if let Some(h) = holder {
            restore_locked(store, &h.id, strategy, depth + 1, None)?;
        }
    }
    check_target(&r)?;
    let state = read_state(&target.dataset())?;
    if strategy == Strategy::Auto && boot::is_running_root(&state) {
        // The running root cannot be released: swap the stash back in at next boot.
        let bootfs = boot::current_bootfs(&state.dataset)?;
        let p = plan_restore_at_next_boot(&state, &r, &new_id, bootfs.as_ref())?;
        if p.is_runnable() {
            return rollback_journaled(store, &p, Some(id.to_string()));
        }
    }
    if strategy != Strategy::Copy && state.kind == DatasetKind::Filesystem {
        // Swap the stash back in (O(1), keeps every object and its clones) when possible.
        let sb = plan_swap_back(&state, &r, &new_id)?;
        if sb.is_runnable() {
            return rollback_journaled(store, &sb, Some(id.to_string()));
        }
        if strategy == Strategy::Swap {
            return Err(refuse(&sb));
        }
    }
    let p = plan(&state, target.short_name(), strategy, &new_id)?;
    let newer = rollback_locked(store, &p)?;
    let mut runner = exec::Runner {
        store,
        journal: exec::journal_for(
            JournalOp::Restore,
            exec::restore_plan(&r)?,
            Some(id.to_string()),
        ),
    };
    runner.run()?;
    finish_restore(store, id)?;
    store.clear_journal(id)?;
    Ok(newer)
}

fn finish_restore(store: &Store, id: &str) -> Result<()> {
    let Ok(r) = store.record(id) else {
        return Ok(());
    };
    if let Some(i) = info_one(r.stash_dataset.as_str())?
        && i.guid == r.stash_guid
        && i.snaps.is_empty()
    {
        lzc::destroy(&r.stash_dataset)?;
    }
    store.remove_record(id)
}

/// Destroys stash `id` (its snapshots and dataset) and its record, after checking every GUID
/// against the record: only snapshots the record names are destroyed. Nothing is destroyed if
/// the dataset or a snapshot is not the one the record names ([`ErrorKind::Mismatch`]), if the
/// stash dataset holds a snapshot its record does not name (taken by another program:
/// [`ErrorKind::Mismatch`], naming it; it is not ours to destroy), or if a stashed snapshot is
/// held or cloned. A drop that was killed is finished by the next `stash_drop` of the same id.
pub fn stash_drop(store: &Store, id: &str) -> Result<()> {
    let _lock = store.lock()?;
    let dataset = store.record(id)?.dataset;
    recover_locked(store, Some(dataset.as_str()))?;
    drop_locked(store, id)
}

/// [`stash_drop`] under the lock. Killed at any point, it is run again to its end: the stash
/// dataset may then have lost its snapshots (every one left must be one the record names, with
/// its GUID) or be gone (only the record is left to remove). A dataset of another GUID under
/// the stash's name is never touched.
fn drop_locked(store: &Store, id: &str) -> Result<()> {
    let r = store.record(id)?;
    let Some(i) = info_one(r.stash_dataset.as_str())? else {
        // Destroyed by a drop killed before it removed the record (or by someone else):
        // nothing is left to destroy.
        return store.remove_record(id);
    };
    let refuse = |detail: String| {
        Err(Error::new(ErrorKind::Mismatch, "stash drop")
            .with_name(id)
            .with_detail(detail))
    };
    if i.guid != r.stash_guid {
        return refuse(format!(
            "nothing destroyed: {} is not the dataset its record names (GUID {} instead of {}); \
             not touching it",
            r.stash_dataset, i.guid, r.stash_guid
        ));
    }
    let ours: std::collections::BTreeMap<String, u64> = r
        .snapshots
        .iter()
        .map(|s| (format!("{}@{}", r.stash_dataset, s.name), s.guid))
        .collect();
    let foreign: Vec<&str> = i
        .snaps
        .keys()
        .filter(|n| !ours.contains_key(*n))
        .map(String::as_str)
        .collect();
    if !foreign.is_empty() {
        return refuse(format!(
            "nothing destroyed: {} holds {} that its record does not name (taken by another \
             program; destroy or keep it yourself, then drop again)",
            r.stash_dataset,
            foreign.join(", ")
        ));
    }
    let replaced: Vec<&str> = i
        .snaps
        .iter()
        .filter(|(n, g)| ours.get(*n) != Some(*g))
        .map(|(n, _)| n.as_str())
        .collect();
    if !replaced.is_empty() {
        return refuse(format!(
            "nothing destroyed: {} does not match its record (GUIDs); not touching it",
            replaced.join(", ")
        ));
    }
    let snaps: Vec<SnapshotName> = i
        .snaps
        .keys()
        .map(SnapshotName::new)
        .collect::<std::result::Result<_, _>>()?;
    exec::named_fault("drop.0")?;
    if !snaps.is_empty() {
        lzc::destroy_snaps(&snaps, false)?;
    }
    exec::named_fault("drop.1")?;
    lzc::destroy(&r.stash_dataset)?;
    exec::named_fault("drop.2")?;
    store.remove_record(id)
}

/// Gives up an interrupted operation that [`recover`] cannot finish or revert (e.g. another
/// program renamed or destroyed its dataset meanwhile): its journal is removed, nothing is
/// destroyed, and every dataset the operation unmounted and that still exists is mounted again
/// where it was. `id` is the operation's stash id (as `recover` and `stash list` print it).
/// Returns what was left behind for the administrator (a stash record is kept when the
/// operation had passed its commit point; partial objects of an operation that had not are
/// listed, never destroyed).
///
/// Errors: [`ErrorKind::NotFound`] when no interrupted operation has that id.
pub fn recover_abandon(store: &Store, id: &str) -> Result<String> {
    let _lock = store.lock()?;
    if store.has_tree(id)? {
        return tree::abandon_tree(store, id);
    }
    let j = store
        .journals()?
        .into_iter()
        .find(|j| j.plan.stash_id == id || j.restore_of.as_deref() == Some(id))
        .ok_or_else(|| {
            Error::new(ErrorKind::NotFound, "recover")
                .with_name(id)
                .with_detail("no interrupted operation has this id")
        })?;
    let p = &j.plan;
    let mut left = Vec::new();
    let committed = j.committed || store.has_record(&p.stash_id)?;
    if committed {
        left.push(format!("stash record {} kept", p.stash_id));
    } else {
        let mut names: Vec<String> = p.pre_snapshot.iter().map(ToString::to_string).collect();
        names.push(p.stash_dataset.to_string());
        names.push(format!("{}-new", p.stash_dataset));
        for n in &names {
            if info_one(n)?.is_some() {
                left.push(format!("{n} left in place"));
            }
        }
    }
    // The live dataset is mounted again only if its name still denotes the dataset the
    // journal expects (another program may have put something else there).
    let live = j.guids.get("live").copied().unwrap_or(p.dataset_guid);
    let mut not_mounted = Vec::new();
    for s in &p.steps {
        if let Step::Mount { dataset, path } = s
            && info_one(dataset.as_str())?.is_some_and(|i| *dataset != p.dataset || i.guid == live)
            && !kernel::zfs_mounts()
                .iter()
                .any(|(d, _)| d == dataset.as_str())
            && let Err(e) = kernel::mount(dataset, std::path::Path::new(path))
        {
            not_mounted.push(format!("{dataset} could not be mounted at {path}: {e}"));
        }
    }
    store.clear_journal(&p.stash_id)?;
    left.extend(not_mounted);
    Ok(format!(
        "abandoned the {} of {} (id {id}){}{}",
        j.op,
        p.dataset,
        if left.is_empty() { "" } else { "; " },
        left.join("; ")
    ))
}

/// Writes stash `id` to `path` (which must not exist) as self-contained send streams: a full
/// stream of the first stashed snapshot, then one incremental stream per following snapshot.
/// Import with one `zfs receive` (or `lzc::receive`) per stream from the same file.
/// Returns the bytes written.
pub fn stash_export(store: &Store, id: &str, path: &std::path::Path) -> Result<u64> {
    let r = verified(store, id)?;
    let f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| {
            Error::new(
                if e.kind() == std::io::ErrorKind::AlreadyExists {
                    ErrorKind::Exists
                } else {
                    ErrorKind::Io
                },
                "export",
            )
            .with_name(path.to_string_lossy())
            .with_detail(e.to_string())
        })?;
    let mut f = f;
    let mut prev: Option<SnapshotName> = None;
    for s in &r.snapshots {
        let snap = SnapshotName::new(format!("{}@{}", r.stash_dataset, s.name))?;
        // The send runs in a child process writing to a pipe, copied to the file here: a
        // killed export always ends (see `exec::send_receive`).
        let (pr, pw) = exec::pipe()?;
        let child = lzc::send_in_child(
            &snap,
            prev.as_ref().map(PointInTime::Snapshot),
            pw,
            crypt::send_flags(
                snap.as_str(),
                SendFlags::LARGE_BLOCK | SendFlags::EMBED_DATA,
            )?,
        )?;
        let copied = std::io::copy(&mut std::fs::File::from(pr), &mut f);
        let sent = child.finish();
        if let Err(e) = copied {
            // Not the send's broken pipe: the write to the file is what failed.
            let _ = std::fs::remove_file(path);
            return Err(kernel::io_error(
                ErrorKind::Io,
                "export",
                &path.to_string_lossy(),
                &e,
            ));
        }
        if let Err(e) = sent {
            let _ = std::fs::remove_file(path);
            return Err(e);
        }
        prev = Some(snap);
    }
    f.sync_all()
        .map_err(|e| Error::new(ErrorKind::Io, "export").with_detail(e.to_string()))?;
    Ok(f.metadata().map(|m| m.len()).unwrap_or(0))
}

#[cfg(test)]
mod tests;
