//! Recursive rollback: a dataset and its descendants back to one recursive snapshot (`zfs
//! snapshot -r`), every dataset's newer history in one tree stash (ROLLBACK.md, "Trees").
//!
//! A tree operation is a sequence of the single-dataset operations of this module (each with
//! its own journal, GUID checks and revert), driven by one trusted tree file in the store
//! (`tree/<id>.json`): its journal while it runs (the step about to run), then the record that
//! groups the member stashes `<id>-0` (the root), `<id>-1`, ... The first step is one atomic
//! snapshot of every member (`@flocker-pre-<id>`, one `lzc_snapshot`, one txg): the
//! unsnapshotted state of the whole tree at one instant, stashed with everything else.
//! Recovery rolls a tree forward: every member ends rolled back, or `recover` says why not.

use std::fmt;

use time::OffsetDateTime;

use super::{
    LiveState, PRE_PREFIX, RollbackPlan, STASH_CONTAINER, StashRecord, Store, Strategy, exec,
    is_stash_dataset, new_stash_id, plan, plan_differences, read_state, recover_locked, refuse,
    rollback_journaled,
};
use crate::error::{Error, ErrorKind, Result};
use crate::lzc;
use crate::name::{DatasetName, SnapshotName};

/// Where a tree operation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TreePhase {
    /// Rolling back (the file is a journal).
    Rollback,
    /// Restoring another tree stash (`restore_of`); this tree receives the replaced states.
    Restore,
    /// Finished: the file groups the member stashes.
    Done,
}

impl TreePhase {
    /// `rollback`, `restore` or `done`.
    pub fn as_str(self) -> &'static str {
        match self {
            TreePhase::Rollback => "rollback",
            TreePhase::Restore => "restore",
            TreePhase::Done => "done",
        }
    }
}

/// The trusted record of a tree stash (and the journal of the operation making it).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TreeStash {
    /// Tree stash id; member `k`'s stash id is `<id>-<k>`.
    pub id: String,
    /// The root of the tree.
    pub root: DatasetName,
    /// Short name of the recursive snapshot.
    pub target: String,
    /// Its `createtxg` (the same on every member: one atomic set).
    pub createtxg: u64,
    /// Strategy asked for.
    pub strategy: Strategy,
    /// Where the operation is.
    pub phase: TreePhase,
    /// For [`TreePhase::Restore`]: the tree stash being restored.
    pub restore_of: Option<String>,
    /// Members, root first, parents before children: name, GUID and target GUID when planned.
    pub members: Vec<(DatasetName, u64, u64)>,
    /// Descendants carried over unchanged (no `@target`, `--keep-missing`).
    pub kept: Vec<DatasetName>,
    /// Index of the step about to run: 0 is the atomic pre snapshot, `k + 1` member `k`.
    pub next: usize,
    /// Creation time.
    pub created: OffsetDateTime,
}

impl TreeStash {
    /// The stash id of member `k`.
    pub fn member_id(&self, k: usize) -> String {
        member_id(&self.id, k)
    }
}

fn member_id(tree: &str, k: usize) -> String {
    format!("{tree}-{k}")
}

/// Why a tree cannot be rolled back, beyond its members' own blockers.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TreeBlocker {
    /// A descendant has no snapshot of the target's name.
    Missing {
        /// The descendant.
        dataset: DatasetName,
    },
    /// A descendant's snapshot of that name was not taken with the root's (another txg).
    NotAtomic {
        /// The snapshot.
        snapshot: SnapshotName,
        /// Its createtxg.
        createtxg: u64,
        /// The root snapshot's createtxg.
        expected: u64,
    },
}

impl TreeBlocker {
    /// The error kind a refusal because of this blocker carries.
    pub fn error_kind(&self) -> ErrorKind {
        match self {
            TreeBlocker::Missing { .. } => ErrorKind::NotFound,
            TreeBlocker::NotAtomic { .. } => ErrorKind::Mismatch,
        }
    }
}

impl fmt::Display for TreeBlocker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TreeBlocker::Missing { dataset } => write!(
                f,
                "{dataset} has no snapshot of that name (roll back with a recursive snapshot, \
                 or carry it over unchanged with --keep-missing)"
            ),
            TreeBlocker::NotAtomic {
                snapshot,
                createtxg,
                expected,
            } => write!(
                f,
                "{snapshot} was not taken with the root's snapshot (txg {createtxg}, not \
                 {expected}): not one recursive snapshot"
            ),
        }
    }
}

/// A computed recursive rollback.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TreePlan {
    /// Tree stash id.
    pub id: String,
    /// The root.
    pub root: DatasetName,
    /// The root's target snapshot.
    pub target: SnapshotName,
    /// Its createtxg (0 when missing).
    pub createtxg: u64,
    /// Strategy asked for (each member chooses its own under `auto`).
    pub requested: Strategy,
    /// Whether descendants without the snapshot are carried over unchanged.
    pub keep_missing: bool,
    /// One plan per member, root first, parents before children; member `k`'s stash id is
    /// `<id>-<k>`.
    pub members: Vec<RollbackPlan>,
    /// Descendants carried over unchanged.
    pub kept: Vec<DatasetName>,
    /// Tree-level blockers (the members' own are in their plans).
    pub blockers: Vec<TreeBlocker>,
}

impl TreePlan {
    /// True when every member can be rolled back.
    pub fn is_runnable(&self) -> bool {
        self.blockers.is_empty()
            && !self.members.is_empty()
            && self.members.iter().all(RollbackPlan::is_runnable)
    }

    /// The pre snapshot every member gets in the first step (one atomic `lzc_snapshot`).
    pub fn pre_name(&self) -> String {
        format!("{PRE_PREFIX}{}", self.id)
    }

    /// Why it cannot run, a line per reason (empty when it can).
    pub fn refusals(&self) -> Vec<String> {
        let mut v: Vec<String> = self.blockers.iter().map(ToString::to_string).collect();
        for m in &self.members {
            for b in &m.blockers {
                v.push(format!("{}: {b}", m.dataset));
            }
        }
        v
    }

    /// The error a refusal carries: the first blocker's kind.
    fn refusal(&self) -> Error {
        let kind = self
            .blockers
            .first()
            .map(TreeBlocker::error_kind)
            .or_else(|| {
                self.members
                    .iter()
                    .flat_map(|m| m.blockers.first())
                    .map(super::Blocker::error_kind)
                    .next()
            })
            .unwrap_or(ErrorKind::InvalidArgument);
        Error::new(kind, "rollback")
            .with_name(self.target.as_str())
            .with_detail(format!(
                "refused, nothing changed: {}",
                self.refusals().join("; ")
            ))
    }

    /// The plan as JSON (`datavault rollback -r --dry-run --json`): `id`, `root`, `target`,
    /// `createtxg`, `requested`, `keep_missing`, `runnable`, `members` (each a plan as
    /// [`RollbackPlan::to_json`] prints it), `kept`, `blockers` (strings).
    pub fn to_json(&self) -> String {
        let v = serde_json::json!({
            "id": self.id,
            "root": self.root.as_str(),
            "target": self.target.as_str(),
            "createtxg": self.createtxg,
            "requested": self.requested,
            "keep_missing": self.keep_missing,
            "runnable": self.is_runnable(),
            "pre_snapshot": self.pre_name(),
            "members": self.members,
            "kept": self.kept.iter().map(DatasetName::as_str).collect::<Vec<_>>(),
            "blockers": self.blockers.iter().map(ToString::to_string).collect::<Vec<_>>(),
        });
        serde_json::to_string_pretty(&v).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}

impl fmt::Display for TreePlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "recursive rollback of {} and {} descendant(s) to @{} (tree stash {})",
            self.root,
            self.members.len().saturating_sub(1),
            self.target.short_name(),
            self.id
        )?;
        writeln!(
            f,
            "first: one atomic snapshot @{} of every member (the state now)",
            self.pre_name()
        )?;
        for d in &self.kept {
            writeln!(f, "kept unchanged (no @{}): {d}", self.target.short_name())?;
        }
        for (k, m) in self.members.iter().enumerate() {
            writeln!(f, "--- member {k}: stash {}", m.stash_id)?;
            write!(f, "{m}")?;
        }
        if !self.blockers.is_empty() {
            writeln!(f, "REFUSED:")?;
            for b in &self.blockers {
                writeln!(f, "  - {b}")?;
            }
        }
        Ok(())
    }
}

/// Plans rolling `states[0].dataset` and the descendants in `states` back to their snapshot
/// `target` (short name). Pure: `states` holds the root's state first, then the state of
/// every descendant (stash datasets are skipped). Member `k`'s stash id is `<id>-<k>`.
pub fn plan_tree(
    states: &[LiveState],
    target: &str,
    strategy: Strategy,
    id: &str,
    keep_missing: bool,
) -> Result<TreePlan> {
    let root = states.first().ok_or_else(|| {
        Error::new(ErrorKind::InvalidArgument, "rollback").with_detail("no dataset to plan")
    })?;
    let root_target = root.dataset.snapshot(target)?;
    let createtxg = root.snapshot(target).map_or(0, |s| s.createtxg());
    let mut p = TreePlan {
        id: id.to_string(),
        root: root.dataset.clone(),
        target: root_target,
        createtxg,
        requested: strategy,
        keep_missing,
        members: Vec::new(),
        kept: Vec::new(),
        blockers: Vec::new(),
    };
    for (k, st) in states.iter().enumerate() {
        if k > 0 && in_stash(&st.dataset) {
            continue;
        }
        match st.snapshot(target) {
            None if k > 0 && keep_missing => {
                p.kept.push(st.dataset.clone());
                continue;
            }
            None if k > 0 => p.blockers.push(TreeBlocker::Missing {
                dataset: st.dataset.clone(),
            }),
            Some(s) if k > 0 && createtxg != 0 && s.createtxg() != createtxg => {
                p.blockers.push(TreeBlocker::NotAtomic {
                    snapshot: s.name().clone(),
                    createtxg: s.createtxg(),
                    expected: createtxg,
                })
            }
            _ => {}
        }
        let mid = member_id(id, p.members.len());
        p.members.push(plan(st, target, strategy, &mid)?);
    }
    Ok(p)
}

/// Whether a descendant is no member of a tree: a stash, or a stash container (the pool's, or
/// `<E>/flocker-stash` of an encryption root `E` inside the tree, and everything under it).
fn in_stash(d: &DatasetName) -> bool {
    is_stash_dataset(d.as_str()) || d.as_str().split('/').skip(1).any(|c| c == STASH_CONTAINER)
}

/// The live states of `root` and every descendant, root first, parents before children.
fn read_tree(root: &DatasetName) -> Result<Vec<LiveState>> {
    let r = read_state(root)?;
    let mut v = Vec::with_capacity(r.children.len() + 1);
    let children: Vec<DatasetName> = r
        .children
        .iter()
        .map(|c| c.name.clone())
        .filter(|c| !in_stash(c))
        .collect();
    v.push(r);
    for c in children {
        v.push(read_state(&c)?);
    }
    Ok(v)
}

/// Reads the live state of `target`'s dataset and its descendants and plans rolling them all
/// back to `target` (a recursive snapshot). Nothing is changed.
pub fn plan_rollback_tree(
    target: &SnapshotName,
    strategy: Strategy,
    keep_missing: bool,
) -> Result<TreePlan> {
    let states = read_tree(&target.dataset())?;
    plan_tree(
        &states,
        target.short_name(),
        strategy,
        &new_stash_id(),
        keep_missing,
    )
}

/// Carries out a tree plan (which must be runnable), after recovering any interrupted
/// operation: every member is rolled back and stashed (member `k` as stash `<id>-<k>`),
/// journaled as one operation. Returns the tree record.
///
/// The plan is made again under the store's lock and must be the same (members, kept
/// descendants, and each member's plan: [`plan_differences`]), else [`ErrorKind::Changed`]
/// and nothing changed. A failure after the first member has started leaves the tree journal
/// for [`super::recover`], which rolls the tree forward.
pub fn rollback_tree(store: &Store, tp: &TreePlan) -> Result<TreeStash> {
    if !tp.is_runnable() {
        return Err(tp.refusal());
    }
    let _lock = store.lock()?;
    let set: Vec<DatasetName> = tp.members.iter().map(|m| m.dataset.clone()).collect();
    store.check_outside(&set)?;
    recover_locked(store, Some(tp.root.as_str()))?;
    let states = read_tree(&tp.root).map_err(|e| {
        if e.kind() == ErrorKind::NotFound {
            changed(tp, format!("{} was renamed or destroyed", tp.root))
        } else {
            e
        }
    })?;
    let now = plan_tree(
        &states,
        tp.target.short_name(),
        tp.requested,
        &tp.id,
        tp.keep_missing,
    )?;
    let diffs = tree_differences(tp, &now);
    if !diffs.is_empty() {
        return Err(changed(tp, diffs.join("; ")));
    }
    if !now.is_runnable() {
        return Err(now.refusal());
    }
    let t = TreeStash {
        id: tp.id.clone(),
        root: tp.root.clone(),
        target: tp.target.short_name().to_string(),
        createtxg: tp.createtxg,
        strategy: tp.requested,
        phase: TreePhase::Rollback,
        restore_of: None,
        members: tp
            .members
            .iter()
            .map(|m| (m.dataset.clone(), m.dataset_guid, m.target_guid))
            .collect(),
        kept: tp.kept.clone(),
        next: 0,
        created: now_seconds(),
    };
    store.put_tree(&t)?;
    run_rollback(store, t)
}

fn now_seconds() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(0).unwrap_or(now)
}

fn changed(tp: &TreePlan, what: String) -> Error {
    Error::new(ErrorKind::Changed, "rollback")
        .with_name(tp.target.as_str())
        .with_detail(format!(
            "refused, nothing changed: since the plan was made, {what}"
        ))
}

/// What differs between a tree plan made earlier and the same plan made again now.
pub fn tree_differences(was: &TreePlan, now: &TreePlan) -> Vec<String> {
    let names = |p: &TreePlan| -> Vec<DatasetName> {
        p.members.iter().map(|m| m.dataset.clone()).collect()
    };
    let mut v = Vec::new();
    if names(was) != names(now) {
        v.push(format!(
            "the members changed (were {}, are {})",
            join(&names(was)),
            join(&names(now))
        ));
        return v;
    }
    if was.kept != now.kept {
        v.push(format!(
            "the descendants kept unchanged changed (were {}, are {})",
            join(&was.kept),
            join(&now.kept)
        ));
    }
    for (a, b) in was.members.iter().zip(&now.members) {
        for d in plan_differences(a, b) {
            v.push(format!("{}: {d}", a.dataset));
        }
    }
    v
}

fn join(v: &[DatasetName]) -> String {
    if v.is_empty() {
        return "none".into();
    }
    v.iter()
        .map(DatasetName::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Runs (or, from recovery, goes on with) a tree rollback from step `t.next`.
fn run_rollback(store: &Store, mut t: TreeStash) -> Result<TreeStash> {
    while t.next <= t.members.len() {
        exec::named_fault(&format!("tree.{}", t.next))?;
        if t.next == 0 {
            pre_snapshot(&t)?;
        } else {
            rollback_member(store, &t, t.next - 1)?;
        }
        t.next += 1;
        store.put_tree(&t)?;
    }
    t.phase = TreePhase::Done;
    store.put_tree(&t)?;
    Ok(t)
}

/// Step 0: `@flocker-pre-<id>` of every member in one `lzc_snapshot` (one txg). Done already
/// when every member has it; refused when only some have it (not ours to complete).
fn pre_snapshot(t: &TreeStash) -> Result<()> {
    let name = format!("{PRE_PREFIX}{}", t.id);
    let snaps = t
        .members
        .iter()
        .map(|(d, _, _)| Ok(d.snapshot(&name)?))
        .collect::<Result<Vec<SnapshotName>>>()?;
    let mut have = 0;
    for (k, s) in snaps.iter().enumerate() {
        let (d, guid, _) = &t.members[k];
        let i = super::info_one(d.as_str())?.ok_or_else(|| {
            Error::new(ErrorKind::Mismatch, "rollback")
                .with_name(d.as_str())
                .with_detail("the member is gone under its name")
        })?;
        if i.guid != *guid {
            return Err(Error::new(ErrorKind::Mismatch, "rollback")
                .with_name(d.as_str())
                .with_detail("the member was replaced under its name"));
        }
        if i.snaps.contains_key(s.as_str()) {
            have += 1;
        }
    }
    if have == snaps.len() {
        return Ok(());
    }
    if have > 0 {
        return Err(Error::new(ErrorKind::Mismatch, "rollback")
            .with_name(t.root.as_str())
            .with_detail(format!(
                "only {have} of {} members have @{name}; not one atomic snapshot",
                snaps.len()
            )));
    }
    lzc::snapshot(&snaps, None)
}

/// Step `k + 1`: member `k`'s own rollback (its own journal, stash `<id>-<k>`), planned now
/// (the pre snapshot is then among its newer snapshots). Done already when its record exists.
fn rollback_member(store: &Store, t: &TreeStash, k: usize) -> Result<()> {
    let id = t.member_id(k);
    if store.has_record(&id)? {
        return Ok(());
    }
    let (d, guid, target_guid) = &t.members[k];
    let state = read_state(d)?;
    if state.guid != *guid {
        return Err(Error::new(ErrorKind::Mismatch, "rollback")
            .with_name(d.as_str())
            .with_detail("the member was replaced under its name; nothing more done"));
    }
    if state.snapshot(&t.target).map(|s| s.guid()) != Some(*target_guid) {
        return Err(Error::new(ErrorKind::Mismatch, "rollback")
            .with_name(d.as_str())
            .with_detail(format!("@{} is gone or was replaced", t.target)));
    }
    let p = plan(&state, &t.target, t.strategy, &id)?;
    if !p.is_runnable() {
        return Err(refuse(&p));
    }
    let _member = exec::TreeMember::enter(k);
    rollback_journaled(store, &p, None).map(|_| ())
}

/// Goes on with an interrupted tree operation (called by recovery, under the lock, after the
/// members' own journals were recovered).
pub(crate) fn recover_tree(store: &Store, t: TreeStash) -> Result<String> {
    let id = t.id.clone();
    let root = t.root.clone();
    match t.phase {
        TreePhase::Rollback => {
            let done = run_rollback(store, t)?;
            Ok(format!(
                "finished the recursive rollback of {root} (tree stash {id}, {} member(s))",
                done.members.len()
            ))
        }
        TreePhase::Restore => {
            let of = t.restore_of.clone().unwrap_or_default();
            run_restore(store, t)?;
            Ok(format!(
                "finished the restore of tree stash {of} (its replaced state: {id})"
            ))
        }
        TreePhase::Done => Ok(String::new()),
    }
}

/// Gives up an interrupted tree operation ([`super::recover_abandon`]): its file becomes the
/// record of what was done (members done keep their stashes), nothing is destroyed.
pub(crate) fn abandon_tree(store: &Store, id: &str) -> Result<String> {
    let mut t = store.tree(id)?;
    if t.phase == TreePhase::Done {
        return Err(Error::new(ErrorKind::NotFound, "recover")
            .with_name(id)
            .with_detail("no interrupted operation has this id"));
    }
    let done: Vec<String> = member_records(store, &t)?
        .into_iter()
        .map(|r| format!("{} (stash {})", r.dataset, r.id))
        .collect();
    let what = t.phase;
    t.phase = TreePhase::Done;
    store.put_tree(&t)?;
    Ok(format!(
        "abandoned the tree {} {id}: nothing destroyed; members with a stash: {}",
        what.as_str(),
        if done.is_empty() {
            "none".to_string()
        } else {
            done.join(", ")
        }
    ))
}

/// The member records of tree `t` that still exist, root first.
pub fn member_records(store: &Store, t: &TreeStash) -> Result<Vec<StashRecord>> {
    let mut v = Vec::new();
    for k in 0..t.members.len() {
        let id = t.member_id(k);
        if store.has_record(&id)? {
            v.push(store.record(&id)?);
        }
    }
    Ok(v)
}

/// The tree record of `id`, when `id` names a tree stash.
pub fn tree_show(store: &Store, id: &str) -> Result<TreeStash> {
    store.tree(id)
}

/// Every tree stash and tree operation in the store, oldest first.
pub fn tree_list(store: &Store) -> Result<Vec<TreeStash>> {
    store.trees()
}

/// Undoes the recursive rollback that made tree stash `id`: every member is restored (children
/// before parents, each losslessly: what it replaces is stashed first), and the replaced
/// states form a new tree stash, whose record is returned.
///
/// Errors: [`ErrorKind::NotFound`] when `id` is not a tree stash; [`ErrorKind::Busy`] when
/// its operation is interrupted (run [`super::recover`]); those of each member's restore (the
/// tree's journal stays; [`super::recover`] finishes it).
pub fn stash_restore_tree(store: &Store, id: &str, strategy: Strategy) -> Result<TreeStash> {
    let _lock = store.lock()?;
    let tree = store.tree(id)?;
    let set: Vec<DatasetName> = tree.members.iter().map(|m| m.0.clone()).collect();
    store.check_outside(&set)?;
    recover_locked(store, Some(tree.root.as_str()))?;
    restore_tree_locked(store, id, strategy)
}

/// Destroys tree stash `id`: each member as [`super::stash_drop`] does (every check
/// included), then the tree's record.
pub fn stash_drop_tree(store: &Store, id: &str) -> Result<()> {
    let _lock = store.lock()?;
    let root = store.tree(id)?.root;
    recover_locked(store, Some(root.as_str()))?;
    drop_tree_locked(store, id)
}

/// Undoes a recursive rollback: every member is restored ([`super::stash_restore`]'s way,
/// children before parents), and the states they replace go into a new tree stash, whose
/// record is returned. Journaled as one operation (the new tree's file); [`super::recover`]
/// finishes it.
fn restore_tree_locked(store: &Store, id: &str, strategy: Strategy) -> Result<TreeStash> {
    let old = store.tree(id)?;
    if old.phase != TreePhase::Done {
        return Err(Error::new(ErrorKind::Busy, "stash restore")
            .with_name(id)
            .with_detail("the tree operation is interrupted; run `datavault recover` first"));
    }
    let t = TreeStash {
        id: new_stash_id(),
        root: old.root.clone(),
        target: old.target.clone(),
        createtxg: old.createtxg,
        strategy,
        phase: TreePhase::Restore,
        restore_of: Some(id.to_string()),
        members: old.members.clone(),
        kept: old.kept.clone(),
        next: 0,
        created: now_seconds(),
    };
    store.put_tree(&t)?;
    run_restore(store, t)
}

/// Restores the members of `t.restore_of` from the last to the first (children before their
/// parents); member `k`'s replaced state becomes stash `<t.id>-<k>`.
fn run_restore(store: &Store, mut t: TreeStash) -> Result<TreeStash> {
    let of = t.restore_of.clone().unwrap_or_default();
    let n = t.members.len();
    while t.next < n {
        exec::named_fault(&format!("tree-restore.{}", t.next))?;
        let k = n - 1 - t.next;
        let old_id = member_id(&of, k);
        if store.has_record(&old_id)? {
            let _member = exec::TreeMember::enter(k);
            super::restore_locked(store, &old_id, t.strategy, 0, Some(&t.member_id(k)))?;
        }
        t.next += 1;
        store.put_tree(&t)?;
    }
    // The restored tree's file goes first: killed before the next write, recovery finds this
    // tree at its end and only marks it done (no file is left that names no stash).
    store.remove_tree(&of)?;
    t.phase = TreePhase::Done;
    t.restore_of = None;
    store.put_tree(&t)?;
    Ok(t)
}

/// Destroys every member stash of tree `id` (as [`super::stash_drop`] does each, all checks
/// included), then its record. Run again after a failure, it goes on with what is left.
fn drop_tree_locked(store: &Store, id: &str) -> Result<()> {
    let t = store.tree(id)?;
    if t.phase != TreePhase::Done {
        return Err(Error::new(ErrorKind::Busy, "stash drop")
            .with_name(id)
            .with_detail("the tree operation is interrupted; run `datavault recover` first"));
    }
    for k in (0..t.members.len()).rev() {
        let mid = t.member_id(k);
        if store.has_record(&mid)? {
            let _member = exec::TreeMember::enter(k);
            super::drop_locked(store, &mid)?;
        }
    }
    store.remove_tree(id)
}

#[cfg(test)]
mod tests {
    use super::super::{DatasetKind, SnapshotState};
    use super::*;

    const ID: &str = "20261206T194000-abcdef";

    fn dn(s: &str) -> DatasetName {
        DatasetName::new(s).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Snapshot `ds@name` taken in txg `txg` (GUID unique per dataset and txg).
    fn snap(ds: &str, name: &str, txg: u64, salt: u64) -> SnapshotState {
        let n = SnapshotName::new(format!("{ds}@{name}")).unwrap_or_else(|e| panic!("{e}"));
        let at = OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(txg as i64);
        SnapshotState::new(
            crate::snapshot::Snapshot::from_parts(n, salt * 1_000_000 + txg, txg, at),
            1 << 20,
        )
    }

    /// Dataset `ds` (GUID `salt`) with snapshots `(name, txg)`.
    fn ds(name: &str, salt: u64, snaps: &[(&str, u64)]) -> LiveState {
        let mut s = LiveState::new(dn(name), salt, DatasetKind::Filesystem);
        s.snapshots = snaps.iter().map(|(n, t)| snap(name, n, *t, salt)).collect();
        s.written = 1 << 20;
        s.available = 1 << 40;
        s
    }

    /// `tank/fs`, `tank/fs/a`, `tank/fs/a/b`, each with the recursive snapshots S (txg 10) and
    /// N (txg 30); `tank/fs/a` also has its own `x` (txg 20).
    fn tree() -> Vec<LiveState> {
        vec![
            ds("tank/fs", 1, &[("S", 10), ("N", 30)]),
            ds("tank/fs/a", 2, &[("S", 10), ("x", 20), ("N", 30)]),
            ds("tank/fs/a/b", 3, &[("S", 10), ("N", 30)]),
        ]
    }

    fn plan_ok(states: &[LiveState], keep: bool) -> TreePlan {
        plan_tree(states, "S", Strategy::Auto, ID, keep).unwrap_or_else(|e| panic!("{e}"))
    }

    fn names(p: &TreePlan) -> Vec<&str> {
        p.members.iter().map(|m| m.dataset.as_str()).collect()
    }

    #[test]
    fn members_in_order_with_member_stash_ids() {
        let p = plan_ok(&tree(), false);
        assert!(p.is_runnable(), "{:?}", p.refusals());
        assert_eq!(names(&p), ["tank/fs", "tank/fs/a", "tank/fs/a/b"]);
        let ids: Vec<&str> = p.members.iter().map(|m| m.stash_id.as_str()).collect();
        assert_eq!(
            ids,
            [format!("{ID}-0"), format!("{ID}-1"), format!("{ID}-2")]
        );
        assert_eq!(p.createtxg, 10);
        assert_eq!(p.target.as_str(), "tank/fs@S");
        assert_eq!(p.pre_name(), format!("flocker-pre-{ID}"));
        assert!(p.kept.is_empty() && p.blockers.is_empty());
        // Each member's plan is its own: its target, its newer snapshots.
        let a = &p.members[1];
        assert_eq!(a.target.as_str(), "tank/fs/a@S");
        assert_eq!(a.target_guid, 2_000_010);
        let stashed: Vec<&str> = a.stashed.iter().map(|s| s.short_name()).collect();
        assert_eq!(stashed, ["x", "N"]);
        assert_eq!(
            a.stash_dataset.as_str(),
            format!("tank/flocker-stash/{ID}-1")
        );
        let s = p.to_string();
        assert!(
            s.contains("2 descendant(s)") && s.contains(&format!("stash {ID}-2")),
            "{s}"
        );
        let j: serde_json::Value =
            serde_json::from_str(&p.to_json()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(j["runnable"], true);
        assert_eq!(j["members"].as_array().map(Vec::len), Some(3));
    }

    #[test]
    fn missing_descendant_is_refused_with_a_clear_message() {
        let mut st = tree();
        st.insert(2, ds("tank/fs/c", 4, &[("N", 30)]));
        let p = plan_ok(&st, false);
        assert!(!p.is_runnable());
        assert_eq!(
            p.blockers,
            [TreeBlocker::Missing {
                dataset: dn("tank/fs/c")
            }]
        );
        let e = p.refusal();
        assert_eq!(e.kind(), ErrorKind::NotFound);
        let msg = e.to_string();
        assert!(
            msg.contains("tank/fs/c has no snapshot of that name")
                && msg.contains("--keep-missing")
                && msg.contains("nothing changed"),
            "{msg}"
        );
        assert!(p.to_string().contains("REFUSED"));
        assert!(p.kept.is_empty());
    }

    #[test]
    fn keep_missing_lists_the_descendant_as_kept() {
        let mut st = tree();
        st.insert(2, ds("tank/fs/c", 4, &[("N", 30)]));
        let p = plan_ok(&st, true);
        assert!(p.is_runnable(), "{:?}", p.refusals());
        assert_eq!(p.kept, [dn("tank/fs/c")]);
        assert_eq!(names(&p), ["tank/fs", "tank/fs/a", "tank/fs/a/b"]);
        // Member ids stay contiguous: the kept dataset is no member.
        assert_eq!(p.members[2].stash_id, format!("{ID}-2"));
        assert!(
            p.to_string().contains("kept unchanged (no @S): tank/fs/c"),
            "{p}"
        );
        let j: serde_json::Value =
            serde_json::from_str(&p.to_json()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(j["kept"][0], "tank/fs/c");
    }

    #[test]
    fn keep_missing_never_keeps_the_root() {
        let mut st = tree();
        st[0] = ds("tank/fs", 1, &[("N", 30)]);
        let p = plan_ok(&st, true);
        assert!(!p.is_runnable());
        assert!(p.kept.is_empty());
        assert_eq!(p.createtxg, 0);
        assert_eq!(p.refusal().kind(), ErrorKind::NotFound);
    }

    #[test]
    fn snapshot_of_another_txg_is_not_atomic() {
        let mut st = tree();
        st[2] = ds("tank/fs/a/b", 3, &[("S", 11), ("N", 30)]);
        let p = plan_ok(&st, false);
        assert!(!p.is_runnable());
        assert_eq!(
            p.blockers,
            [TreeBlocker::NotAtomic {
                snapshot: SnapshotName::new("tank/fs/a/b@S").unwrap_or_else(|e| panic!("{e}")),
                createtxg: 11,
                expected: 10,
            }]
        );
        assert_eq!(p.refusal().kind(), ErrorKind::Mismatch);
        assert!(
            p.refusal()
                .to_string()
                .contains("not one recursive snapshot")
        );
        // --keep-missing does not excuse it.
        assert!(!plan_ok(&st, true).is_runnable());
    }

    #[test]
    fn stash_datasets_below_the_root_are_no_members() {
        // An encryption root keeps its stashes under `<root>/flocker-stash`.
        let mut st = tree();
        st.push(ds("tank/fs/flocker-stash", 5, &[]));
        st.push(ds(&format!("tank/fs/flocker-stash/{ID}"), 6, &[]));
        let p = plan_ok(&st, false);
        assert_eq!(names(&p), ["tank/fs", "tank/fs/a", "tank/fs/a/b"]);
        assert!(p.is_runnable(), "{:?}", p.refusals());
    }

    #[test]
    fn empty_tree_is_invalid() {
        let e = plan_tree(&[], "S", Strategy::Auto, ID, false).err();
        assert_eq!(e.map(|e| e.kind()), Some(ErrorKind::InvalidArgument));
    }

    #[test]
    fn differences_name_what_changed() {
        let was = plan_ok(&tree(), false);
        assert!(tree_differences(&was, &plan_ok(&tree(), false)).is_empty());
        let mut st = tree();
        st.push(ds("tank/fs/d", 7, &[("S", 10)]));
        let d = tree_differences(&was, &plan_ok(&st, false));
        assert!(d.len() == 1 && d[0].contains("members changed"), "{d:?}");
        let mut st = tree();
        st[1].snapshots.push(snap("tank/fs/a", "late", 40, 2));
        let d = tree_differences(&was, &plan_ok(&st, false));
        assert!(
            d.iter().all(|x| x.starts_with("tank/fs/a: ")) && !d.is_empty(),
            "{d:?}"
        );
    }

    #[test]
    fn tree_file_round_trip() {
        let dir = std::env::temp_dir().join(format!("flocker-tree-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = Store::open(&dir).unwrap_or_else(|e| panic!("{e}"));
        assert!(store.trees().unwrap_or_else(|e| panic!("{e}")).is_empty());
        let p = plan_ok(&tree(), false);
        let t = TreeStash {
            id: ID.into(),
            root: p.root.clone(),
            target: "S".into(),
            createtxg: 10,
            strategy: Strategy::Copy,
            phase: TreePhase::Rollback,
            restore_of: None,
            members: p
                .members
                .iter()
                .map(|m| (m.dataset.clone(), m.dataset_guid, m.target_guid))
                .collect(),
            kept: vec![dn("tank/fs/c")],
            next: 2,
            created: now_seconds(),
        };
        store.put_tree(&t).unwrap_or_else(|e| panic!("{e}"));
        assert!(store.has_tree(ID).unwrap_or_else(|e| panic!("{e}")));
        assert_eq!(store.tree(ID).unwrap_or_else(|e| panic!("{e}")), t);
        assert_eq!(
            tree_list(&store).unwrap_or_else(|e| panic!("{e}")),
            std::slice::from_ref(&t)
        );
        assert_eq!(t.member_id(2), format!("{ID}-2"));
        store.remove_tree(ID).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            store.tree(ID).err().map(|e| e.kind()),
            Some(ErrorKind::NotFound)
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
