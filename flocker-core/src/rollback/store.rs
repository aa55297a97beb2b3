//! The trusted side: stash records, the journal and the lock, in a directory owned by the
//! effective user (root: `/var/lib/flocker-core`) and writable by nobody else.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::plan::{RollbackPlan, Strategy};
use super::state::PropValue;
use crate::error::{Error, ErrorKind, Result};
use crate::name::{DatasetName, SnapshotName};
use plan_v1::PlanV1;
use time::OffsetDateTime;

/// Default directory of the store.
pub const DEFAULT_DIR: &str = "/var/lib/flocker-core";

/// One stashed snapshot as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct StashedSnapshot {
    /// Short name (after the `@`; the snapshot lives on the stash dataset).
    pub name: String,
    /// GUID (the original's, kept by the stash).
    pub guid: u64,
}

impl StashedSnapshot {
    /// A stashed snapshot with short name `name` and GUID `guid`.
    pub fn new(name: impl Into<String>, guid: u64) -> StashedSnapshot {
        StashedSnapshot {
            name: name.into(),
            guid,
        }
    }
}

/// The trusted record of one stash.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StashRecord {
    /// Stash id (`<UTC yyyymmddThhmmss>-<6 hex>`).
    pub id: String,
    /// Dataset that was rolled back.
    pub dataset: DatasetName,
    /// Target snapshot.
    pub target: SnapshotName,
    /// Target GUID (the stash is a clone of it).
    pub target_guid: u64,
    /// Strategy used.
    pub strategy: Strategy,
    /// Stash dataset.
    pub stash_dataset: DatasetName,
    /// Its GUID.
    pub stash_guid: u64,
    /// Stashed snapshots, oldest first; the last is the state at rollback time.
    pub snapshots: Vec<StashedSnapshot>,
    /// Creation time (whole seconds).
    pub created: OffsetDateTime,
    /// Local properties of the dataset at rollback time.
    pub local_props: BTreeMap<String, PropValue>,
}

impl StashRecord {
    /// A record of stash `id` (which must be a stash id: [`ErrorKind::InvalidArgument`]) of a
    /// rollback of `target`'s dataset to `target` with `strategy`, into `stash_dataset`; no
    /// snapshots, no properties, created now. The fields are public to fill in the rest.
    pub fn new(
        id: &str,
        target: SnapshotName,
        target_guid: u64,
        strategy: Strategy,
        stash_dataset: DatasetName,
        stash_guid: u64,
    ) -> Result<StashRecord> {
        check_id(id)?;
        let now = OffsetDateTime::now_utc();
        Ok(StashRecord {
            id: id.to_string(),
            dataset: target.dataset(),
            target,
            target_guid,
            strategy,
            stash_dataset,
            stash_guid,
            snapshots: Vec::new(),
            created: now.replace_nanosecond(0).unwrap_or(now),
            local_props: BTreeMap::new(),
        })
    }
}

/// The JSON shape of a record for output (`datavault rollback --json`, and the record's part of
/// a stash view): the fields as named here, `created` in seconds since the epoch.
#[derive(Serialize)]
pub(crate) struct RecordJson<'a> {
    pub(crate) id: &'a str,
    pub(crate) dataset: &'a str,
    pub(crate) target: &'a str,
    pub(crate) target_guid: u64,
    pub(crate) strategy: Strategy,
    pub(crate) stash_dataset: &'a str,
    pub(crate) stash_guid: u64,
    pub(crate) snapshots: &'a [StashedSnapshot],
    pub(crate) created: i64,
    pub(crate) local_props: &'a BTreeMap<String, PropValue>,
}

impl<'a> From<&'a StashRecord> for RecordJson<'a> {
    fn from(r: &'a StashRecord) -> Self {
        RecordJson {
            id: &r.id,
            dataset: r.dataset.as_str(),
            target: r.target.as_str(),
            target_guid: r.target_guid,
            strategy: r.strategy,
            stash_dataset: r.stash_dataset.as_str(),
            stash_guid: r.stash_guid,
            snapshots: &r.snapshots,
            created: r.created.unix_timestamp(),
            local_props: &r.local_props,
        }
    }
}

/// Serializes as JSON output: `created` in seconds since the epoch. Not the on-disk format,
/// which is private to the store.
impl Serialize for StashRecord {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        RecordJson::from(self).serialize(s)
    }
}

/// What an interrupted operation was doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum JournalOp {
    /// A rollback (also the first phase of a restore, and a restore by swapping back).
    Rollback,
    /// The receive-back phase of a stash restore.
    Restore,
}

impl JournalOp {
    /// `rollback` or `restore`.
    pub fn as_str(self) -> &'static str {
        match self {
            JournalOp::Rollback => "rollback",
            JournalOp::Restore => "restore",
        }
    }
}

impl std::fmt::Display for JournalOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The journal of an operation: what it was doing when interrupted.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Journal {
    /// The kind of operation.
    pub op: JournalOp,
    /// The plan being carried out (for `restore`: of the receive-back phase).
    pub plan: RollbackPlan,
    /// Index of the step about to run (or running).
    pub next_step: usize,
    /// Whether the commit point has been passed.
    pub committed: bool,
    /// GUIDs observed while running (`pre`, `clone`, `stash`).
    pub guids: BTreeMap<String, u64>,
    /// For `restore`: the stash being restored.
    pub restore_of: Option<String>,
    /// `copy`: snapshots another program took of the dataset during the operation, after the
    /// pre-rollback snapshot, received into the stash after the commit point (oldest first).
    pub late: Vec<StashedSnapshot>,
}

impl Journal {
    /// The journal of `op` carrying out `plan`, before its first step (`restore_of`: the
    /// stash being restored). A restore's receive-back phase starts committed.
    pub fn new(op: JournalOp, plan: RollbackPlan, restore_of: Option<String>) -> Journal {
        Journal {
            op,
            plan,
            next_step: 0,
            committed: op == JournalOp::Restore,
            guids: BTreeMap::new(),
            restore_of,
            late: Vec::new(),
        }
    }
}

/// The version of the on-disk formats this code writes. Files without a `version` field
/// (written before it existed) are version 1 too.
const FORMAT_VERSION: u32 = 1;

fn one() -> u32 {
    1
}

/// A stashed snapshot on disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct SnapshotV1 {
    name: String,
    guid: u64,
}

/// A stash record on disk (`stash/<id>.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct RecordV1 {
    #[serde(default = "one")]
    version: u32,
    id: String,
    dataset: String,
    target: String,
    target_guid: u64,
    strategy: Strategy,
    stash_dataset: String,
    stash_guid: u64,
    snapshots: Vec<SnapshotV1>,
    /// Seconds since the epoch.
    created: i64,
    local_props: BTreeMap<String, PropValue>,
}

/// A journal on disk (`journal-<id>.json`; `journal.json` from earlier versions).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct JournalV1 {
    #[serde(default = "one")]
    version: u32,
    /// `rollback` or `restore`.
    op: String,
    plan: PlanV1,
    next_step: usize,
    committed: bool,
    guids: BTreeMap<String, u64>,
    restore_of: Option<String>,
    #[serde(default)]
    late: Vec<SnapshotV1>,
}

/// Something the store read that this version cannot use.
fn unusable(detail: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidData, "store").with_detail(detail)
}

fn check_version(v: u32) -> Result<()> {
    if v > FORMAT_VERSION {
        return Err(unusable(format!(
            "format version {v} was written by a newer flocker-core (this one reads up to {FORMAT_VERSION})"
        )));
    }
    Ok(())
}

impl From<&StashedSnapshot> for SnapshotV1 {
    fn from(s: &StashedSnapshot) -> Self {
        SnapshotV1 {
            name: s.name.clone(),
            guid: s.guid,
        }
    }
}

impl From<SnapshotV1> for StashedSnapshot {
    fn from(s: SnapshotV1) -> Self {
        StashedSnapshot::new(s.name, s.guid)
    }
}

impl From<&StashRecord> for RecordV1 {
    fn from(r: &StashRecord) -> Self {
        RecordV1 {
            version: FORMAT_VERSION,
            id: r.id.clone(),
            dataset: r.dataset.to_string(),
            target: r.target.to_string(),
            target_guid: r.target_guid,
            strategy: r.strategy,
            stash_dataset: r.stash_dataset.to_string(),
            stash_guid: r.stash_guid,
            snapshots: r.snapshots.iter().map(SnapshotV1::from).collect(),
            created: r.created.unix_timestamp(),
            local_props: r.local_props.clone(),
        }
    }
}

impl TryFrom<RecordV1> for StashRecord {
    type Error = Error;
    fn try_from(r: RecordV1) -> Result<Self> {
        check_version(r.version)?;
        let bad = |e: crate::name::NameError| unusable(format!("stash record {}: {e}", r.id));
        let stash_dataset = DatasetName::new(&r.stash_dataset).map_err(bad)?;
        for s in &r.snapshots {
            // Each stashed snapshot is `<stash dataset>@<name>`: a name that cannot be one
            // makes the record unusable.
            stash_dataset.snapshot(&s.name).map_err(bad)?;
        }
        Ok(StashRecord {
            dataset: DatasetName::new(&r.dataset).map_err(bad)?,
            target: SnapshotName::new(&r.target).map_err(bad)?,
            stash_dataset,
            created: OffsetDateTime::from_unix_timestamp(r.created)
                .map_err(|e| unusable(format!("stash record {}: created: {e}", r.id)))?,
            id: r.id,
            target_guid: r.target_guid,
            strategy: r.strategy,
            stash_guid: r.stash_guid,
            snapshots: r.snapshots.into_iter().map(StashedSnapshot::from).collect(),
            local_props: r.local_props,
        })
    }
}

impl From<&Journal> for JournalV1 {
    fn from(j: &Journal) -> Self {
        JournalV1 {
            version: FORMAT_VERSION,
            op: j.op.as_str().to_string(),
            plan: PlanV1::from(&j.plan),
            next_step: j.next_step,
            committed: j.committed,
            guids: j.guids.clone(),
            restore_of: j.restore_of.clone(),
            late: j.late.iter().map(SnapshotV1::from).collect(),
        }
    }
}

impl TryFrom<JournalV1> for Journal {
    type Error = Error;
    fn try_from(j: JournalV1) -> Result<Self> {
        check_version(j.version)?;
        let op = match j.op.as_str() {
            "rollback" => JournalOp::Rollback,
            "restore" => JournalOp::Restore,
            other => return Err(unusable(format!("journal: unknown operation {other:?}"))),
        };
        Ok(Journal {
            op,
            plan: RollbackPlan::try_from(j.plan)?,
            next_step: j.next_step,
            committed: j.committed,
            guids: j.guids,
            restore_of: j.restore_of,
            late: j.late.into_iter().map(StashedSnapshot::from).collect(),
        })
    }
}

/// Checks that `id` is a stash id (ASCII letters, digits and `-`): it names files.
fn check_id(id: &str) -> Result<()> {
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err(Error::new(ErrorKind::InvalidArgument, "stash")
            .with_name(id)
            .with_detail("not a stash id"));
    }
    Ok(())
}

/// Declares a store method that only this crate may call, unless the `fault-injection` feature
/// (for the tests, which forge records and journals) makes it public.
macro_rules! test_hook {
    ($(#[$m:meta])* fn $($rest:tt)*) => {
        #[cfg(feature = "fault-injection")]
        $(#[$m])*
        #[doc = ""]
        #[doc = "Public only with the `fault-injection` feature (for tests)."]
        pub fn $($rest)*
        #[cfg(not(feature = "fault-injection"))]
        $(#[$m])*
        pub(crate) fn $($rest)*
    };
}

/// The store directory.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

/// How long [`Store::lock`] retries a lock that looks held before it reports
/// [`ErrorKind::Busy`].
pub const LOCK_GRACE: Duration = Duration::from_secs(2);

/// The exclusive lock of a store; released on drop (and by the kernel when the process dies).
#[derive(Debug)]
pub struct Lock {
    _file: File,
}

fn io_err(op: &'static str, path: &Path, e: std::io::Error) -> Error {
    crate::lzc::io_error(crate::lzc::Family::File, op, &path.to_string_lossy(), &e)
}

/// One non-blocking attempt at the exclusive `flock` of `f` (the file `p`; errors name `op`):
/// `true` when taken, `false` when another open file holds it.
fn try_flock(f: &File, p: &Path, op: &'static str) -> Result<bool> {
    loop {
        // SAFETY: a valid open descriptor; flock has no memory effects.
        let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc == 0 {
            return Ok(true);
        }
        let e = std::io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EWOULDBLOCK) => return Ok(false),
            _ => return Err(io_err(op, p, e)),
        }
    }
}

/// Refuses a path not owned by the effective user or writable by group/others.
fn check_trusted(path: &Path) -> Result<()> {
    let m = fs::symlink_metadata(path).map_err(|e| io_err("store", path, e))?;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    if m.file_type().is_symlink() || m.uid() != euid || m.mode() & 0o022 != 0 {
        return Err(Error::new(ErrorKind::PermissionDenied, "store")
            .with_name(path.to_string_lossy())
            .with_detail(format!(
                "not trusted: owner {} (expected {euid}), mode {:o}; must not be a symlink nor writable by others",
                m.uid(),
                m.mode() & 0o7777
            )));
    }
    Ok(())
}

impl Store {
    /// The store at [`DEFAULT_DIR`].
    pub fn open_default() -> Result<Store> {
        Store::open(DEFAULT_DIR)
    }

    /// Opens the store at `dir`, which must be owned by the effective user and not writable
    /// by others ([`ErrorKind::PermissionDenied`]). A missing directory is not created here:
    /// reading an empty store creates nothing; the first operation that writes (or takes the
    /// lock) creates it with mode 0700.
    ///
    /// When the directory is the mount point of the store's own dataset (`store init`, see
    /// [`location`]) and that dataset is not mounted there, it is mounted first (after its GUID
    /// is checked), or the store is refused ([`ErrorKind::Unavailable`], [`ErrorKind::Mismatch`]):
    /// never are records read from or written into the directory underneath.
    pub fn open(dir: impl AsRef<Path>) -> Result<Store> {
        let dir = dir.as_ref().to_path_buf();
        location::ensure_mounted(&dir)?;
        for sub in [dir.clone(), dir.join("stash")] {
            if fs::symlink_metadata(&sub).is_ok() {
                check_trusted(&sub)?;
            }
        }
        Ok(Store { dir })
    }

    /// Opens the store at `dir` like [`Store::open`], creating the directory (mode 0700) when
    /// missing, for a program that keeps files of its own there.
    pub fn create(dir: impl AsRef<Path>) -> Result<Store> {
        let store = Store::open(dir)?;
        store.create_dirs()?;
        Ok(store)
    }

    /// Creates the directory and its `stash` directory (mode 0700) when missing, and checks
    /// that both are trusted.
    fn create_dirs(&self) -> Result<()> {
        location::ensure_mounted(&self.dir)?;
        for sub in [
            self.dir.clone(),
            self.dir.join("stash"),
            self.dir.join("tree"),
        ] {
            if !sub.exists() {
                fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(&sub)
                    .map_err(|e| io_err("store", &sub, e))?;
            }
            check_trusted(&sub)?;
        }
        Ok(())
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Takes the store's exclusive lock: [`ErrorKind::Busy`] when another operation holds it.
    ///
    /// It does not wait for another operation, but it retries for up to [`LOCK_GRACE`] before
    /// reporting `Busy`: the lock belongs to an open file, and when another thread of this
    /// process starts a program, the child holds a copy of every descriptor from `fork` until
    /// `exec` closes them, so a lock just released can look held for that moment.
    pub fn lock(&self) -> Result<Lock> {
        self.create_dirs()?;
        let p = self.dir.join("lock");
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&p)
            .map_err(|e| io_err("lock", &p, e))?;
        let deadline = Instant::now() + LOCK_GRACE;
        while !try_flock(&f, &p, "lock")? {
            if Instant::now() >= deadline {
                return Err(self.busy_error());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(Lock { _file: f })
    }

    /// The [`ErrorKind::Busy`] error of [`Store::lock`]: another operation holds the lock.
    pub fn busy_error(&self) -> Error {
        Error::new(ErrorKind::Busy, "lock")
            .with_name(self.dir.join("lock").to_string_lossy())
            .with_detail("another flocker operation is running")
    }

    /// Whether another operation holds the store's lock at this moment: one attempt, without
    /// the grace of [`Store::lock`] and without creating anything (no lock file: `false`).
    ///
    /// A plan is made without the lock, so that it can be shown and confirmed; when reading the
    /// datasets failed, or gave a plan that is refused, while another operation held the lock,
    /// that operation (changing those datasets) is the likelier reason, and a caller reports
    /// [`Store::busy_error`] instead of what the reading saw.
    pub fn is_locked(&self) -> Result<bool> {
        let p = self.dir.join("lock");
        let f = match File::open(&p) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(io_err("lock", &p, e)),
        };
        // A lock taken here is released when `f` is closed, at the end of this function.
        Ok(!try_flock(&f, &p, "lock")?)
    }

    /// Takes the store's exclusive lock, waiting up to `timeout` for an operation that holds
    /// it (a rollback can hold it for as long as its streams take), then [`ErrorKind::Busy`].
    /// Snapshots that must not land in the middle of a rollback take it this way.
    pub fn lock_wait(&self, timeout: Duration) -> Result<Lock> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.lock() {
                Err(e) if e.kind() == ErrorKind::Busy && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(200));
                }
                r => return r,
            }
        }
    }

    fn write_json<T: Serialize>(&self, path: &Path, v: &T) -> Result<()> {
        self.create_dirs()?;
        let text = serde_json::to_vec_pretty(v)
            .map_err(|e| Error::new(ErrorKind::InvalidData, "store").with_detail(e.to_string()))?;
        let tmp = path.with_extension("tmp");
        let mut f = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| io_err("store", &tmp, e))?;
        f.write_all(&text).map_err(|e| io_err("store", &tmp, e))?;
        f.sync_all().map_err(|e| io_err("store", &tmp, e))?;
        fs::rename(&tmp, path).map_err(|e| io_err("store", path, e))?;
        if let Ok(d) = File::open(path.parent().unwrap_or(&self.dir)) {
            let _ = d.sync_all();
        }
        Ok(())
    }

    fn read_json<T: for<'de> Deserialize<'de>>(&self, path: &Path) -> Result<Option<T>> {
        if !path.exists() {
            return Ok(None);
        }
        check_trusted(path)?;
        let text = fs::read(path).map_err(|e| io_err("store", path, e))?;
        serde_json::from_slice(&text).map(Some).map_err(|e| {
            Error::new(ErrorKind::InvalidData, "store")
                .with_name(path.to_string_lossy())
                .with_detail(e.to_string())
        })
    }

    fn record_path(&self, id: &str) -> Result<PathBuf> {
        check_id(id)?;
        Ok(self.dir.join("stash").join(format!("{id}.json")))
    }

    test_hook! {
        /// Writes (replaces) a stash record.
        fn put_record(&self, r: &StashRecord) -> Result<()> {
            let p = self.record_path(&r.id)?;
            self.write_json(&p, &RecordV1::from(r))
        }
    }

    fn read_record(&self, path: &Path) -> Result<Option<StashRecord>> {
        self.read_json::<RecordV1>(path)?
            .map(StashRecord::try_from)
            .transpose()
            .map_err(|e| with_path(e, path))
    }

    fn read_journal(&self, path: &Path) -> Result<Option<Journal>> {
        self.read_json::<JournalV1>(path)?
            .map(Journal::try_from)
            .transpose()
            .map_err(|e| with_path(e, path))
    }

    /// The record of stash `id` ([`ErrorKind::NotFound`] when there is none).
    pub fn record(&self, id: &str) -> Result<StashRecord> {
        let p = self.record_path(id)?;
        self.read_record(&p)?.ok_or_else(|| {
            Error::new(ErrorKind::NotFound, "stash")
                .with_name(id)
                .with_detail("no such stash record")
        })
    }

    /// Whether stash `id` has a record.
    pub fn has_record(&self, id: &str) -> Result<bool> {
        Ok(self.record_path(id)?.exists())
    }

    /// Removes the record of stash `id`.
    pub fn remove_record(&self, id: &str) -> Result<()> {
        let p = self.record_path(id)?;
        match fs::remove_file(&p) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err("store", &p, e)),
        }
    }

    /// All stash records, oldest first.
    pub fn records(&self) -> Result<Vec<StashRecord>> {
        let d = self.dir.join("stash");
        let mut v = Vec::new();
        for e in read_dir_or_empty(&d)? {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "json")
                && let Some(r) = self.read_record(&p)?
            {
                v.push(r);
            }
        }
        v.sort_by(|a, b| (a.created, &a.id).cmp(&(b.created, &b.id)));
        Ok(v)
    }

    /// The journals of interrupted operations, oldest stash id first: one per operation
    /// (`journal-<stash id>.json`), so that one operation that cannot be recovered never
    /// blocks operations on other datasets. A `journal.json` written by an earlier version is
    /// read too.
    pub fn journals(&self) -> Result<Vec<Journal>> {
        let mut v: Vec<Journal> = Vec::new();
        if let Some(j) = self.read_journal(&self.dir.join("journal.json"))? {
            v.push(j);
        }
        for e in read_dir_or_empty(&self.dir)? {
            let name = e.file_name();
            let name = name.to_string_lossy();
            if name.starts_with("journal-")
                && name.ends_with(".json")
                && let Some(j) = self.read_journal(&e.path())?
                && !v.iter().any(|o| o.plan.stash_id == j.plan.stash_id)
            {
                v.push(j);
            }
        }
        v.sort_by(|a, b| a.plan.stash_id.cmp(&b.plan.stash_id));
        Ok(v)
    }

    /// The journal of an interrupted operation, if any (the first of [`Store::journals`]).
    pub fn journal(&self) -> Result<Option<Journal>> {
        Ok(self.journals()?.into_iter().next())
    }

    fn journal_path(&self, id: &str) -> Result<PathBuf> {
        let p = self.record_path(id)?;
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(self.dir.join(format!("journal-{name}")))
    }

    test_hook! {
        /// Writes the journal of the operation making (or restoring) stash `j.plan.stash_id`.
        fn put_journal(&self, j: &Journal) -> Result<()> {
            self.write_json(&self.journal_path(&j.plan.stash_id)?, &JournalV1::from(j))?;
            self.remove_legacy_journal(&j.plan.stash_id)
        }
    }

    test_hook! {
        /// Removes the journal of the operation on stash `id`.
        fn clear_journal(&self, id: &str) -> Result<()> {
            let p = self.journal_path(id)?;
            match fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err("store", &p, e)),
            }
            self.remove_legacy_journal(id)
        }
    }

    fn remove_legacy_journal(&self, id: &str) -> Result<()> {
        let p = self.dir.join("journal.json");
        if self
            .read_journal(&p)?
            .is_some_and(|j| j.plan.stash_id == id)
        {
            fs::remove_file(&p).map_err(|e| io_err("store", &p, e))?;
        }
        Ok(())
    }
}

/// The entries of directory `d`; none when it does not exist (a store nothing was written to).
fn read_dir_or_empty(d: &Path) -> Result<Vec<fs::DirEntry>> {
    match fs::read_dir(d) {
        Ok(it) => Ok(it.flatten().collect()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(io_err("store", d, e)),
    }
}

/// `e` about the file at `path` (the conversions of what was read do not know it).
fn with_path(e: Error, path: &Path) -> Error {
    if e.name().is_some() {
        return e;
    }
    e.with_name(path.to_string_lossy())
}

pub mod location;
pub(super) mod plan_v1;
#[cfg(test)]
mod tests;
mod tree_v1;
