//! Carrying out a plan: one journaled, GUID-checked, idempotent step at a time; recovery.

use std::cell::Cell;
use std::os::fd::{AsFd, FromRawFd, OwnedFd};

use super::plan::{BASE_BOOKMARK, RollbackPlan, Source, Step, Strategy};
use super::read::{Info, info_one};
use super::state::{PropValue, SnapshotState};
use super::store::{Journal, JournalOp, StashRecord, StashedSnapshot, Store};
use crate::error::{Error, ErrorKind, Result};
use crate::kernel;
use crate::lzc::{self, DatasetType, PointInTime, ReceiveOptions, SendFlags};
use crate::name::{DatasetName, SnapshotName};
use crate::nvlist::NvList;
use crate::snapshot::Snapshot;

#[cfg(feature = "fault-injection")]
thread_local! {
    static FAULT: Cell<Option<usize>> = const { Cell::new(None) };
}

/// Test-only (feature `fault-injection`): make the next operation on this thread stop before
/// step `step` (0-based) as if the process had died there (the journal stays; nothing is
/// cleaned up). `None` disables. With the feature, the environment variable
/// `FLOCKER_CORE_FAULT=<step>[:kill|:stall]` does the same for a whole process (`:kill` sends
/// it a real `SIGKILL`; `:stall` says so on stderr and waits forever, for the tests that cut
/// the lab VM's power mid-operation). Without the feature the variable is ignored.
#[cfg(feature = "fault-injection")]
#[doc(hidden)]
pub fn set_fault_injection(step: Option<usize>) {
    FAULT.with(|f| f.set(step));
}

#[cfg(not(feature = "fault-injection"))]
fn fault_point(_i: usize) -> Result<()> {
    Ok(())
}

#[cfg(not(feature = "fault-injection"))]
fn env_fault(_at: &str, _what: &str) -> Result<()> {
    Ok(())
}

#[cfg(feature = "fault-injection")]
fn fault_point(i: usize) -> Result<()> {
    let hit = FAULT.with(|f| {
        if f.get() == Some(i) {
            f.set(None);
            true
        } else {
            false
        }
    });
    if hit {
        return Err(Error::new(ErrorKind::Interrupted, "rollback")
            .with_detail(format!("fault injected before step {}", i + 1)));
    }
    env_fault(&i.to_string(), &format!("step {}", i + 1))
}

thread_local! {
    /// The member of a tree operation this thread is running (`tree::TreeMember`).
    static MEMBER: Cell<Option<usize>> = const { Cell::new(None) };
}

/// While alive, the single-dataset operation on this thread is member `k` of a tree
/// operation: its fault points are named `<k>.<point>` (see [`fault_point`]).
pub(crate) struct TreeMember(Option<usize>);

impl TreeMember {
    pub(crate) fn enter(k: usize) -> TreeMember {
        TreeMember(MEMBER.with(|m| m.replace(Some(k))))
    }
}

impl Drop for TreeMember {
    fn drop(&mut self) {
        MEMBER.with(|m| m.set(self.0));
    }
}

/// A named fault point (`tree.<step>`, `tree-restore.<step>`, `drop.<n>`, ...), test-only like
/// [`fault_point`]; inside member `k` of a tree operation, a name not starting with `tree` is
/// `<k>.<name>`.
pub(crate) fn named_fault(at: &str) -> Result<()> {
    env_fault(at, at)
}

#[cfg(feature = "fault-injection")]
/// The `FLOCKER_CORE_FAULT` half of [`fault_point`]: `at` is a step index or the name of a
/// point inside a step (`commit`: after the record is written, before the journal says so).
/// Inside member `k` of a tree operation the point is named `<k>.<at>`.
fn env_fault(at: &str, what: &str) -> Result<()> {
    let at = match MEMBER.with(Cell::get) {
        Some(k) if !at.starts_with("tree") => format!("{k}.{at}"),
        _ => at.to_string(),
    };
    let at = at.as_str();
    if let Ok(v) = std::env::var("FLOCKER_CORE_FAULT") {
        let (n, how) = match v.split_once(':') {
            Some((n, k)) => (n.to_string(), k),
            None => (v.clone(), ""),
        };
        if n == at {
            if how == "kill" {
                // SAFETY: sending SIGKILL to ourselves; test-only, explicitly requested.
                unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
            }
            if how == "stall" {
                // The reboot tests cut the VM's power while we wait here.
                eprintln!("flocker-core: fault: stalled before {what}");
                loop {
                    std::thread::sleep(std::time::Duration::from_secs(3600));
                }
            }
            return Err(Error::new(ErrorKind::Interrupted, "rollback")
                .with_detail(format!("fault injected before {what}")));
        }
    }
    Ok(())
}

fn sn(s: &str) -> Result<SnapshotName> {
    Ok(SnapshotName::new(s)?)
}

fn mismatch(name: &str, detail: impl Into<String>) -> Error {
    Error::new(ErrorKind::Mismatch, "rollback")
        .with_name(name)
        .with_detail(detail.into())
}

fn not_found(op: &'static str, name: &str) -> Error {
    Error::new(ErrorKind::NotFound, op).with_name(name)
}

fn is_mounted(dataset: &DatasetName) -> bool {
    kernel::zfs_mounts()
        .iter()
        .any(|(s, _)| s == dataset.as_str())
}

/// The fresh clone a `swap` makes next to the stash (`<stash>-new`).
pub(crate) fn fresh_name(stash: &DatasetName) -> Result<DatasetName> {
    Ok(DatasetName::new(format!("{stash}-new"))?)
}

/// `name` on `dataset` (same short name).
fn moved(name: &SnapshotName, dataset: &DatasetName) -> Result<SnapshotName> {
    Ok(dataset.snapshot(name.short_name())?)
}

/// Makes a pipe whose ends close on exec.
pub(crate) fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: `fds` is a valid array of two ints for pipe2 to fill.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        let e = std::io::Error::last_os_error();
        return Err(Error::new(ErrorKind::Io, "pipe").with_detail(e.to_string()));
    }
    // SAFETY: pipe2 succeeded: both descriptors are open and owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Sends `send` (incremental from `from`) and receives it as `receive`, through a pipe. The
/// send runs in a child process that dies with this one (`lzc::send_in_child`), so a SIGKILL
/// at any moment ends this process: see ROLLBACK.md, "A killed operation ends".
pub(crate) fn send_receive(
    send: &SnapshotName,
    from: Option<&Source>,
    receive: &SnapshotName,
    origin: Option<&SnapshotName>,
    force: bool,
) -> Result<()> {
    let pit = match from {
        Some(Source::Snapshot(s)) => Some(PointInTime::Snapshot(s)),
        Some(Source::Bookmark(b)) => Some(PointInTime::Bookmark(b)),
        None => None,
    };
    let (r, w) = pipe()?;
    let flags = SendFlags::LARGE_BLOCK | SendFlags::EMBED_DATA | SendFlags::COMPRESS;
    let sender = lzc::send_in_child(
        send,
        pit,
        w,
        super::crypt::send_flags(send.as_str(), flags)?,
    )?;
    let mut opts = ReceiveOptions::new().force(force);
    if let Some(o) = origin {
        opts = opts.origin(o);
    }
    let recv = lzc::receive(receive, &opts, r.as_fd());
    // A SIGKILL that the receive's kernel threads hid from this thread takes effect here.
    crate::kernel::child_send::act_on_pending_kill();
    drop(r);
    let sent = sender.finish();
    recv?;
    sent
}

/// Runs the journal's plan from its `next_step`.
pub(crate) struct Runner<'a> {
    pub(crate) store: &'a Store,
    pub(crate) journal: Journal,
}

impl Runner<'_> {
    fn plan(&self) -> &RollbackPlan {
        &self.journal.plan
    }

    /// The dataset that takes the live name in a `swap`.
    fn clone_name(&self) -> Result<DatasetName> {
        match &self.plan().incoming {
            Some(i) => Ok(i.clone()),
            None => fresh_name(&self.plan().stash_dataset),
        }
    }

    fn is_restore(&self) -> bool {
        self.journal.op == JournalOp::Restore
    }

    pub(crate) fn run(&mut self) -> Result<()> {
        self.store.put_journal(&self.journal)?;
        let steps = self.plan().steps.clone();
        while self.journal.next_step < steps.len() {
            let i = self.journal.next_step;
            fault_point(i)?;
            let step = &steps[i];
            if matches!(step, Step::AwaitBoot { .. }) && super::boot::still_pending(&self.journal) {
                // A rollback at next boot: scheduled; the journal waits for the boot.
                return Ok(());
            }
            self.check_guids(step)?;
            self.step(step)?;
            self.journal.next_step = i + 1;
            self.store.put_journal(&self.journal)?;
        }
        Ok(())
    }

    /// Whether the plan stopped at its wait for the next boot ([`Step::AwaitBoot`]).
    pub(crate) fn pending(&self) -> bool {
        matches!(
            self.plan().steps.get(self.journal.next_step),
            Some(Step::AwaitBoot { .. })
        )
    }

    /// The GUID the live dataset's name must have now.
    fn live_guid(&self) -> u64 {
        self.journal
            .guids
            .get("live")
            .copied()
            .unwrap_or(self.plan().dataset_guid)
    }

    fn check_live(&self) -> Result<Info> {
        let p = self.plan();
        let i = info_one(p.dataset.as_str())?
            .ok_or_else(|| not_found("rollback", p.dataset.as_str()))?;
        if i.guid != self.live_guid() {
            return Err(mismatch(
                p.dataset.as_str(),
                format!(
                    "GUID is {} but {} was expected: the dataset changed under us",
                    i.guid,
                    self.live_guid()
                ),
            ));
        }
        Ok(i)
    }

    /// The target as it is now, checked against the plan's GUID.
    fn check_target(&self) -> Result<Info> {
        let p = self.plan();
        let t =
            info_one(p.target.as_str())?.ok_or_else(|| not_found("rollback", p.target.as_str()))?;
        if t.guid != p.target_guid {
            return Err(mismatch(
                p.target.as_str(),
                format!("GUID is {} not {}", t.guid, p.target_guid),
            ));
        }
        Ok(t)
    }

    /// Re-checks, before every step, that the names still denote the objects planned.
    fn check_guids(&self, step: &Step) -> Result<()> {
        let p = self.plan();
        match step {
            Step::Snapshot { .. } | Step::RollbackTo { .. } | Step::Clone { .. } => {
                if !self.is_restore() {
                    self.check_live()?;
                }
                self.check_target().map(drop)
            }
            Step::SendReceive { send, .. } if send.dataset() == p.dataset => {
                self.check_live().map(drop)
            }
            Step::Rename { from, .. } => {
                let want = if *from == p.dataset {
                    Some(self.live_guid())
                } else if *from == self.clone_name()? {
                    self.journal.guids.get("clone").copied()
                } else {
                    None
                };
                if let (Some(w), Some(i)) = (want, info_one(from.as_str())?)
                    && i.guid != w
                {
                    return Err(mismatch(
                        from.as_str(),
                        format!("GUID is {} not {w}", i.guid),
                    ));
                }
                Ok(())
            }
            Step::Unmount { dataset, .. }
            | Step::Mount { dataset, .. }
            | Step::SetProp { dataset, .. }
            | Step::InheritProp { dataset, .. }
            | Step::Promote { dataset }
            | Step::SetBootfs { dataset } => self.check_named(dataset),
            Step::AwaitBoot { .. } | Step::SnapshotStash { .. } => Ok(()),
            Step::EnsureContainer { .. }
            | Step::SendReceive { .. }
            | Step::Bookmark { .. }
            | Step::VerifyGuids
            | Step::Commit
            | Step::DestroySnapshots { .. } => Ok(()),
        }
    }

    /// For a step on the live dataset or on the incoming clone: the name still denotes the
    /// object the journal expects (other names, e.g. mounted children, are not ours to check).
    fn check_named(&self, dataset: &DatasetName) -> Result<()> {
        let p = self.plan();
        if self.is_restore() {
            return Ok(());
        }
        let want = if *dataset == p.dataset {
            Some(self.live_guid())
        } else if *dataset == self.clone_name()? {
            self.journal.guids.get("clone").copied()
        } else {
            None
        };
        let Some(w) = want else { return Ok(()) };
        match info_one(dataset.as_str())? {
            Some(i) if i.guid == w => Ok(()),
            Some(i) => Err(mismatch(
                dataset.as_str(),
                format!(
                    "GUID is {} but {w} was expected: the dataset changed under us",
                    i.guid
                ),
            )),
            None => Err(not_found("rollback", dataset.as_str())
                .with_detail("renamed or destroyed by another program during the operation")),
        }
    }

    fn is_copy_rollback(&self) -> bool {
        !self.is_restore() && self.plan().strategy == Some(Strategy::Copy)
    }

    /// The live dataset's snapshots newer than the target, oldest first.
    fn newer_on_live(&self) -> Result<Vec<Snapshot>> {
        let p = self.plan();
        let t =
            info_one(p.target.as_str())?.ok_or_else(|| not_found("rollback", p.target.as_str()))?;
        let t_txg = t.snapshot.map_or(0, |s| s.createtxg());
        let live = self.check_live()?;
        let names: Vec<&str> = live.snaps.keys().map(String::as_str).collect();
        let mut v: Vec<Snapshot> = super::read::info(&p.pool(), &names)?
            .into_values()
            .filter_map(|i| i.snapshot)
            .filter(|s| s.createtxg() > t_txg)
            .collect();
        v.sort_by_key(Snapshot::createtxg);
        Ok(v)
    }

    /// Before the commit point of a `copy`: refuses (the operation is then reverted) when
    /// another program took a snapshot of the dataset between the plan's check and the
    /// pre-rollback snapshot: it would belong in the middle of the stash's chain.
    fn check_no_early_newcomer(&self) -> Result<()> {
        let p = self.plan();
        let Some(pre) = self.pre_guid() else {
            return Ok(());
        };
        let newer = self.newer_on_live()?;
        let pre_txg = newer
            .iter()
            .find(|x| x.guid() == pre)
            .map_or(u64::MAX, Snapshot::createtxg);
        let planned: Vec<u64> = p.stashed.iter().map(SnapshotState::guid).collect();
        let early: Vec<&str> = newer
            .iter()
            .filter(|x| x.createtxg() < pre_txg && !planned.contains(&x.guid()))
            .map(|x| x.name().as_str())
            .collect();
        if early.is_empty() {
            return Ok(());
        }
        Err(Error::new(ErrorKind::Changed, "rollback")
            .with_name(p.dataset.as_str())
            .with_detail(format!(
                "refused, nothing changed: {} taken by another program while the rollback \
                 started; plan again",
                early.join(", ")
            )))
    }

    /// After the commit point of a `copy`: receives into the stash every snapshot another
    /// program took of the dataset after the pre-rollback snapshot (incremental from the one
    /// before it, so it keeps its GUID), and records it, before anything is destroyed.
    fn stash_late(&mut self) -> Result<()> {
        let stash = self.plan().stash_dataset.clone();
        let pre = self.pre_guid().unwrap_or(0);
        let newer = self.newer_on_live()?;
        let Some(pre_at) = newer.iter().position(|x| x.guid() == pre) else {
            return Ok(());
        };
        let mut prev = newer[pre_at].name().clone();
        for s in newer.iter().skip(pre_at + 1) {
            let target = moved(s.name(), &stash)?;
            match info_one(target.as_str())? {
                Some(i) if i.guid == s.guid() => {}
                Some(_) => return Err(mismatch(target.as_str(), "exists with another GUID")),
                None => send_receive(
                    s.name(),
                    Some(&Source::Snapshot(prev.clone())),
                    &target,
                    None,
                    false,
                )?,
            }
            if !self.journal.late.iter().any(|l| l.guid == s.guid()) {
                self.journal
                    .late
                    .push(StashedSnapshot::new(s.name().short_name(), s.guid()));
                self.store.put_journal(&self.journal)?;
                self.store.put_record(&self.record()?)?;
            }
            prev = s.name().clone();
        }
        Ok(())
    }

    /// `lzc_rollback_to` found a snapshot newer than the target after the stashed ones were
    /// destroyed: another program took it in that instant. It stays on the dataset, the stash
    /// and its record are complete; the operation stops here with nothing lost.
    fn late_after_destroy(&self, e: Error) -> Error {
        let p = self.plan();
        let left: Vec<String> = self
            .newer_on_live()
            .unwrap_or_default()
            .into_iter()
            .map(|x| x.name().to_string())
            .collect();
        Error::new(ErrorKind::Changed, "rollback")
            .with_name(p.dataset.as_str())
            .with_errno(e.errno().unwrap_or(0))
            .with_detail(format!(
                "not completed: {} was taken by another program at the last moment and is \
                 kept on the dataset; everything the rollback replaced is in stash {}; roll \
                 back again to finish",
                if left.is_empty() {
                    "a snapshot".to_string()
                } else {
                    left.join(", ")
                },
                p.stash_id
            ))
    }

    fn pre_guid(&self) -> Option<u64> {
        self.journal.guids.get("pre").copied()
    }

    fn step(&mut self, step: &Step) -> Result<()> {
        match step {
            Step::Unmount { dataset, path } => {
                if is_mounted(dataset) {
                    kernel::unmount(std::path::Path::new(path))?;
                }
            }
            Step::Snapshot { snapshot } => self.snapshot(snapshot)?,
            Step::EnsureContainer { container } => ensure_container(container)?,
            Step::SendReceive {
                send,
                from,
                receive,
                origin,
            } => self.send_receive(send, from.as_ref(), receive, origin.as_ref())?,
            Step::Bookmark { bookmark, source } => {
                let have = lzc::get_bookmarks(&bookmark.dataset(), &["guid"])?;
                if !have.iter().any(|(n, _)| n == bookmark) {
                    lzc::bookmark(&[(bookmark.clone(), PointInTime::Snapshot(source))])?;
                }
            }
            Step::VerifyGuids => self.verify()?,
            Step::Commit => {
                // The record's rename into place is the commit point: recovery treats a
                // journal whose stash record exists as committed, so a crash between these
                // two writes cannot leave a record without its stash (or the reverse).
                let r = self.record()?;
                self.store.put_record(&r)?;
                env_fault("commit", "the journal's commit")?;
                self.journal.committed = true;
            }
            Step::DestroySnapshots { snapshots } => self.destroy_snapshots(snapshots)?,
            Step::RollbackTo { snapshot } => {
                match lzc::rollback_to(&self.plan().dataset, snapshot) {
                    Err(e) if e.kind() == ErrorKind::NotLatest && self.is_copy_rollback() => {
                        return Err(self.late_after_destroy(e));
                    }
                    r => r?,
                }
            }
            Step::Clone {
                clone,
                origin,
                props,
            } => self.clone(clone, origin, props)?,
            Step::Promote { dataset } => {
                if info_one(dataset.as_str())?.is_some_and(|i| i.origin.is_some()) {
                    lzc::promote(dataset)?;
                }
            }
            Step::Rename { from, to } => self.rename(from, to)?,
            Step::InheritProp { dataset, prop } => kernel::inherit_prop(dataset, prop)?,
            Step::SetProp {
                dataset,
                prop,
                value,
            } => kernel::set_prop(dataset, prop, value)?,
            Step::Mount { dataset, path } => {
                if !is_mounted(dataset) {
                    kernel::mount(dataset, std::path::Path::new(path))?;
                }
            }
            Step::SetBootfs { dataset } => kernel::set_pool_bootfs(dataset)?,
            Step::AwaitBoot { .. } => {}
            Step::SnapshotStash { snapshot } => {
                super::boot::snapshot_stash(self.store, &mut self.journal, snapshot)?;
            }
        }
        Ok(())
    }

    /// [`Step::Snapshot`]: the pre-rollback snapshot, its GUID journaled.
    fn snapshot(&mut self, snapshot: &SnapshotName) -> Result<()> {
        if !lzc::exists(snapshot)? {
            lzc::snapshot(std::slice::from_ref(snapshot), None)?;
        }
        if let Some(i) = info_one(snapshot.as_str())? {
            self.journal.guids.insert("pre".into(), i.guid);
        }
        Ok(())
    }

    /// [`Step::SendReceive`]: skipped when `receive` already holds the same GUID; the stash
    /// dataset's GUID is journaled once it exists.
    fn send_receive(
        &mut self,
        send: &SnapshotName,
        from: Option<&Source>,
        receive: &SnapshotName,
        origin: Option<&SnapshotName>,
    ) -> Result<()> {
        let want = info_one(send.as_str())?.map(|i| i.guid);
        if let Some(have) = info_one(receive.as_str())? {
            if Some(have.guid) == want {
                return Ok(());
            }
            return Err(mismatch(receive.as_str(), "exists with another GUID"));
        }
        send_receive(send, from, receive, origin, self.is_restore())?;
        let rd = receive.dataset();
        if rd == self.plan().stash_dataset
            && let Some(i) = info_one(rd.as_str())?
        {
            self.journal.guids.insert("stash".into(), i.guid);
        }
        Ok(())
    }

    /// [`Step::DestroySnapshots`]: each snapshot only when its copy (on the stash, or on the
    /// dataset for a restore) holds the same GUID; a `copy` first stashes late newcomers.
    fn destroy_snapshots(&mut self, snapshots: &[SnapshotName]) -> Result<()> {
        let mut snapshots = snapshots.to_vec();
        if self.is_copy_rollback() {
            self.stash_late()?;
            let fs = &self.plan().dataset;
            for l in &self.journal.late {
                snapshots.push(fs.snapshot(&l.name)?);
            }
        }
        let p = self.plan();
        let mut todo = Vec::new();
        for s in &snapshots {
            let Some(i) = info_one(s.as_str())? else {
                continue;
            };
            let other = if s.dataset() == p.dataset {
                moved(s, &p.stash_dataset)?
            } else {
                moved(s, &p.dataset)?
            };
            match info_one(other.as_str())? {
                Some(o) if o.guid == i.guid => todo.push(s.clone()),
                _ => {
                    return Err(mismatch(
                        s.as_str(),
                        format!(
                            "refusing to destroy: {other} does not hold the same GUID {}",
                            i.guid
                        ),
                    ));
                }
            }
        }
        if todo.is_empty() {
            return Ok(());
        }
        match lzc::destroy_snaps(&todo, false) {
            Err(e)
                if self.is_copy_rollback()
                    && matches!(e.kind(), ErrorKind::Held | ErrorKind::HasClones) =>
            {
                // A hold or a clone added by another program since the plan: nothing was
                // destroyed (one batch); stop with everything kept.
                Err(Error::new(ErrorKind::Changed, "rollback")
                    .with_name(p.dataset.as_str())
                    .with_errno(e.errno().unwrap_or(0))
                    .with_detail(format!(
                        "not completed: {e}; the snapshots stay on the dataset and their \
                         copies are in stash {}; release them and roll back again to finish",
                        p.stash_id
                    )))
            }
            r => r,
        }
    }

    /// [`Step::Clone`]: the fresh clone, its GUID journaled.
    fn clone(
        &mut self,
        clone: &DatasetName,
        origin: &SnapshotName,
        props: &std::collections::BTreeMap<String, PropValue>,
    ) -> Result<()> {
        if !lzc::exists(clone)? {
            let mut l = NvList::new()?;
            for (k, v) in props {
                match v {
                    PropValue::Number(n) => l.add_u64(k, *n)?,
                    PropValue::Text(t) => l.add_string(k, t)?,
                }
            }
            lzc::clone(clone, origin, Some(&l))?;
        }
        if let Some(i) = info_one(clone.as_str())? {
            self.journal.guids.insert("clone".into(), i.guid);
        }
        Ok(())
    }

    /// [`Step::Rename`]: done already when `from` is gone and `to` exists; the incoming
    /// dataset's GUID becomes the live one's once it has the live name.
    fn rename(&mut self, from: &DatasetName, to: &DatasetName) -> Result<()> {
        if lzc::exists(from)? {
            if *from == self.plan().dataset && super::boot::is_at_next_boot(self.plan()) {
                // Which boot runs the old state, journaled before it changes name.
                super::boot::note_rename(&mut self.journal);
                self.store.put_journal(&self.journal)?;
            }
            lzc::rename(from, to)?;
        } else if !lzc::exists(to)? {
            return Err(not_found("lzc_rename", from.as_str()));
        }
        if *from == self.clone_name()?
            && *to == self.plan().dataset
            && let Some(g) = self.journal.guids.get("clone").copied()
        {
            self.journal.guids.insert("live".into(), g);
        }
        Ok(())
    }

    fn verify(&self) -> Result<()> {
        let p = self.plan();
        let swap = p.strategy == Some(Strategy::Swap);
        let place = if self.is_restore() || swap {
            &p.dataset
        } else {
            &p.stash_dataset
        };
        let mut expect: Vec<(SnapshotName, u64)> = p
            .stashed
            .iter()
            .map(|s| Ok((moved(s.name(), place)?, s.guid())))
            .collect::<Result<_>>()?;
        if !self.is_restore() {
            let pre = p
                .pre_snapshot
                .as_ref()
                .ok_or_else(|| mismatch(p.dataset.as_str(), "no pre-rollback snapshot planned"))?;
            let g = self
                .pre_guid()
                .ok_or_else(|| mismatch(pre.as_str(), "its GUID was not recorded"))?;
            expect.push((moved(pre, place)?, g));
        }
        for (full, guid) in expect {
            let i = info_one(full.as_str())?.ok_or_else(|| not_found("verify", full.as_str()))?;
            if i.guid != guid {
                return Err(mismatch(
                    full.as_str(),
                    format!("GUID {} instead of {guid}", i.guid),
                ));
            }
        }
        if self.is_copy_rollback() {
            self.check_no_early_newcomer()?;
        }
        if swap && !self.is_restore() {
            let moved = moved(&p.target, &self.clone_name()?)?;
            let i = info_one(moved.as_str())?.ok_or_else(|| not_found("verify", moved.as_str()))?;
            if i.guid != p.target_guid {
                return Err(mismatch(
                    moved.as_str(),
                    "the promoted target has another GUID",
                ));
            }
        }
        Ok(())
    }

    fn record(&self) -> Result<StashRecord> {
        let p = self.plan();
        let swap = p.strategy == Some(Strategy::Swap);
        let stash_guid = if swap {
            p.dataset_guid
        } else {
            self.journal
                .guids
                .get("stash")
                .copied()
                .ok_or_else(|| mismatch(p.stash_dataset.as_str(), "GUID not recorded"))?
        };
        let mut snapshots: Vec<StashedSnapshot> = p
            .stashed
            .iter()
            .map(|s| StashedSnapshot::new(s.short_name(), s.guid()))
            .collect();
        let pre_short = p.pre_snapshot.as_ref().map_or("", |s| s.short_name());
        snapshots.push(StashedSnapshot::new(
            pre_short,
            self.pre_guid().unwrap_or(0),
        ));
        snapshots.extend(self.journal.late.iter().cloned());
        let mut r = StashRecord::new(
            &p.stash_id,
            p.target.clone(),
            p.target_guid,
            p.strategy.unwrap_or(Strategy::Copy),
            p.stash_dataset.clone(),
            stash_guid,
        )?;
        r.dataset = p.dataset.clone();
        r.snapshots = snapshots;
        r.local_props = p.local_props.clone();
        Ok(r)
    }
}

/// [`Step::EnsureContainer`]: creates the stash container, or secures an existing one.
fn ensure_container(c: &DatasetName) -> Result<()> {
    if lzc::exists(c)? {
        secure_container(c)?;
        return super::crypt::check_container(c);
    }
    let mut props = NvList::new()?;
    props.add_u64("canmount", 0)?;
    props.add_string("mountpoint", "none")?;
    match lzc::create(c, DatasetType::Filesystem, Some(&props), None) {
        Err(e) if e.kind() == ErrorKind::Exists => {}
        r => r?,
    }
    super::crypt::check_container(c)
}

/// Makes an existing stash container what this crate would have created: a filesystem, not a
/// clone, with `canmount=off` and `mountpoint=none` set locally, so that nobody who made it
/// first (e.g. a delegated user) decides where stashes mount. Wrong properties are fixed (the
/// container is unmounted first if it is mounted); anything else is refused.
fn secure_container(c: &DatasetName) -> Result<()> {
    let i = info_one(c.as_str())?.ok_or_else(|| not_found("rollback", c.as_str()))?;
    if i.origin.is_some() {
        return Err(mismatch(
            c.as_str(),
            "the stash container is a clone, not one this crate made; not using it",
        ));
    }
    let local = kernel::stored_local_props(c)?;
    let has = |k: &str, v: &PropValue| local.iter().any(|(n, x)| n == k && x == v);
    let canmount_off = has("canmount", &PropValue::Number(0));
    let mp_none = has("mountpoint", &PropValue::Text("none".into()));
    if canmount_off && mp_none {
        return Ok(());
    }
    if let Some((_, path)) = kernel::zfs_mounts()
        .into_iter()
        .find(|(d, _)| d == c.as_str())
    {
        kernel::unmount(std::path::Path::new(&path))?;
    }
    let mut props = NvList::new()?;
    props.add_u64("canmount", 0)?;
    props.add_string("mountpoint", "none")?;
    kernel::set_props(c, &props)
}

/// Reverts an uncommitted rollback: removes only what the operation created (the pre snapshot
/// and the fresh clone only with the GUIDs the journal recorded; the stash dataset only if
/// every snapshot GUID in it also lives on the original) and mounts again what it unmounted.
/// Returns what it left in place (created but never journaled, so not provably ours).
pub(crate) fn revert(j: &Journal) -> Result<Vec<String>> {
    let p = &j.plan;
    let fs = &p.dataset;
    let fs_info = info_one(fs.as_str())?.ok_or_else(|| not_found("recover", fs.as_str()))?;
    if fs_info.guid != p.dataset_guid {
        return Err(mismatch(
            fs.as_str(),
            "the dataset is not the one the journal names; not touching it",
        ));
    }
    let mut left = revert_clone(j)?;
    revert_stash(p)?;
    if let Some(pre) = &p.pre_snapshot
        && let Some(pi) = info_one(pre.as_str())?
    {
        if j.guids.get("pre") == Some(&pi.guid) {
            lzc::destroy_snaps(std::slice::from_ref(pre), false)?;
        } else {
            // Killed between the snapshot and the journal (or not ours): it stays.
            left.push(format!("{pre} (not journaled) left in place"));
        }
    }
    for s in &p.steps {
        if let Step::Mount { dataset, path } = s
            && !is_mounted(dataset)
        {
            kernel::mount(dataset, std::path::Path::new(path))?;
        }
    }
    Ok(left)
}

/// [`revert`]'s part for the incoming clone: promoted back and (a fresh one) destroyed when
/// its GUID was journaled. Returns what it left in place.
fn revert_clone(j: &Journal) -> Result<Vec<String>> {
    let p = &j.plan;
    let mut left = Vec::new();
    let fresh = fresh_name(&p.stash_dataset)?;
    let clone = p.incoming.clone().unwrap_or_else(|| fresh.clone());
    let Some(ci) = info_one(clone.as_str())? else {
        return Ok(left);
    };
    let journaled = j.guids.get("clone").copied();
    match journaled {
        Some(g) if g != ci.guid => {
            return Err(mismatch(
                clone.as_str(),
                "GUID differs from the journal; not touching it",
            ));
        }
        None if clone != fresh => {
            return Err(mismatch(
                clone.as_str(),
                "its GUID was not journaled; not touching it",
            ));
        }
        // Killed between the clone and the journal: not provably ours, so it stays.
        None => left.push(format!("{clone} (not journaled) left in place")),
        Some(_) => {}
    }
    if journaled.is_some() {
        if ci.origin.is_none() {
            // Promoted: give the snapshots back to the original.
            lzc::promote(&p.dataset)?;
        }
        if clone == fresh {
            let ci = info_one(clone.as_str())?.unwrap_or_default();
            if !ci.snaps.is_empty() {
                return Err(mismatch(
                    clone.as_str(),
                    "still has snapshots; not destroying it",
                ));
            }
            lzc::destroy(&clone)?;
        }
    }
    Ok(left)
}

/// [`revert`]'s part for the stash dataset: destroyed only when every snapshot in it also
/// lives on the original.
fn revert_stash(p: &RollbackPlan) -> Result<()> {
    let Some(si) = info_one(p.stash_dataset.as_str())? else {
        return Ok(());
    };
    let fs_info = info_one(p.dataset.as_str())?.unwrap_or_default();
    let fs_guids: Vec<u64> = fs_info.snaps.values().copied().collect();
    if si.guid == p.dataset_guid {
        return Err(mismatch(
            p.stash_dataset.as_str(),
            "is the original dataset; recovery must roll forward",
        ));
    }
    if !si.snaps.values().all(|g| fs_guids.contains(g)) {
        return Err(mismatch(
            p.stash_dataset.as_str(),
            "holds snapshots that are not on the dataset; not destroying it",
        ));
    }
    let snaps: Vec<SnapshotName> = si.snaps.keys().map(|s| sn(s)).collect::<Result<_>>()?;
    if !snaps.is_empty() {
        lzc::destroy_snaps(&snaps, false)?;
    }
    lzc::destroy(&p.stash_dataset)
}

/// The receive-back plan of a restore: bring the stash's snapshots back onto the dataset.
pub(crate) fn restore_plan(r: &StashRecord) -> Result<RollbackPlan> {
    let base = r.stash_dataset.bookmark(BASE_BOOKMARK)?;
    let mut steps = vec![Step::Bookmark {
        bookmark: base.clone(),
        source: r.target.clone(),
    }];
    let mut prev = Source::Bookmark(base);
    let mut stashed = Vec::new();
    let mut in_stash = Vec::new();
    for s in &r.snapshots {
        let send = r.stash_dataset.snapshot(&s.name)?;
        let receive = r.dataset.snapshot(&s.name)?;
        steps.push(Step::SendReceive {
            send: send.clone(),
            from: Some(prev),
            receive: receive.clone(),
            origin: None,
        });
        prev = Source::Snapshot(send.clone());
        in_stash.push(send);
        let epoch = time::OffsetDateTime::UNIX_EPOCH;
        stashed.push(SnapshotState::new(
            Snapshot::from_parts(receive, s.guid, 0, epoch),
            0,
        ));
    }
    steps.push(Step::VerifyGuids);
    steps.push(Step::DestroySnapshots {
        snapshots: in_stash,
    });
    Ok(RollbackPlan {
        dataset: r.dataset.clone(),
        dataset_guid: 0,
        target: r.target.clone(),
        target_guid: r.target_guid,
        requested: Strategy::Copy,
        strategy: Some(Strategy::Copy),
        reason: format!("restore of stash {}", r.id),
        stash_id: r.id.clone(),
        stash_dataset: r.stash_dataset.clone(),
        pre_snapshot: None,
        stashed,
        space_needed: 0,
        blockers: Vec::new(),
        notes: Vec::new(),
        steps,
        local_props: r.local_props.clone(),
        volume: false,
        incoming: None,
    })
}

/// A fresh journal for `plan`.
pub(crate) fn journal_for(
    op: JournalOp,
    plan: RollbackPlan,
    restore_of: Option<String>,
) -> Journal {
    Journal::new(op, plan, restore_of)
}
