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

/// Default directory of the store.
pub const DEFAULT_DIR: &str = "/var/lib/flocker-core";

/// One stashed snapshot as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StashedSnapshot {
    /// Short name.
    pub name: String,
    /// GUID (the original's, kept by the stash).
    pub guid: u64,
}

/// The trusted record of one stash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StashRecord {
    /// Stash id.
    pub id: String,
    /// Dataset that was rolled back.
    pub dataset: String,
    /// Target snapshot (full name).
    pub target: String,
    /// Target GUID (the stash is a clone of it).
    pub target_guid: u64,
    /// Strategy used.
    pub strategy: Strategy,
    /// Stash dataset.
    pub stash_dataset: String,
    /// Its GUID.
    pub stash_guid: u64,
    /// Stashed snapshots, oldest first; the last is the state at rollback time.
    pub snapshots: Vec<StashedSnapshot>,
    /// Creation time (seconds since the epoch).
    pub created: i64,
    /// Local properties of the dataset at rollback time.
    pub local_props: BTreeMap<String, PropValue>,
}

/// What an interrupted operation was doing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Journal {
    /// `rollback` or `restore`.
    pub op: String,
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
    #[serde(default)]
    pub late: Vec<StashedSnapshot>,
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
    let kind = match e.kind() {
        std::io::ErrorKind::NotFound => ErrorKind::NotFound,
        std::io::ErrorKind::PermissionDenied => ErrorKind::PermissionDenied,
        _ => ErrorKind::Io,
    };
    crate::kernel::io_error(kind, op, &path.to_string_lossy(), &e)
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

    /// Opens (creating with mode 0700 if missing) the store at `dir`, which must be owned by
    /// the effective user and not writable by others ([`ErrorKind::PermissionDenied`]).
    pub fn open(dir: impl AsRef<Path>) -> Result<Store> {
        let dir = dir.as_ref().to_path_buf();
        for sub in [dir.clone(), dir.join("stash")] {
            if !sub.exists() {
                fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(&sub)
                    .map_err(|e| io_err("store", &sub, e))?;
            }
            check_trusted(&sub)?;
        }
        Ok(Store { dir })
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
        let p = self.dir.join("lock");
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&p)
            .map_err(|e| io_err("lock", &p, e))?;
        let deadline = Instant::now() + LOCK_GRACE;
        loop {
            // SAFETY: a valid open descriptor; flock has no memory effects.
            let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
            if rc == 0 {
                return Ok(Lock { _file: f });
            }
            let e = std::io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::EWOULDBLOCK) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Some(libc::EWOULDBLOCK) => {
                    return Err(Error::new(ErrorKind::Busy, "lock")
                        .with_name(p.to_string_lossy())
                        .with_detail("another flocker operation is running"));
                }
                _ => return Err(io_err("lock", &p, e)),
            }
        }
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
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(Error::new(ErrorKind::InvalidArgument, "stash")
                .with_name(id)
                .with_detail("not a stash id"));
        }
        Ok(self.dir.join("stash").join(format!("{id}.json")))
    }

    /// Writes (replaces) a stash record.
    pub fn put_record(&self, r: &StashRecord) -> Result<()> {
        let p = self.record_path(&r.id)?;
        self.write_json(&p, r)
    }

    /// The record of stash `id` ([`ErrorKind::NotFound`] when there is none).
    pub fn record(&self, id: &str) -> Result<StashRecord> {
        let p = self.record_path(id)?;
        self.read_json(&p)?.ok_or_else(|| {
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
        for e in fs::read_dir(&d)
            .map_err(|e| io_err("store", &d, e))?
            .flatten()
        {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "json")
                && let Some(r) = self.read_json::<StashRecord>(&p)?
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
        if let Some(j) = self.read_json::<Journal>(&self.dir.join("journal.json"))? {
            v.push(j);
        }
        for e in fs::read_dir(&self.dir)
            .map_err(|e| io_err("store", &self.dir, e))?
            .flatten()
        {
            let name = e.file_name();
            let name = name.to_string_lossy();
            if name.starts_with("journal-")
                && name.ends_with(".json")
                && let Some(j) = self.read_json::<Journal>(&e.path())?
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

    /// Writes the journal of the operation making (or restoring) stash `j.plan.stash_id`.
    pub fn put_journal(&self, j: &Journal) -> Result<()> {
        self.write_json(&self.journal_path(&j.plan.stash_id)?, j)?;
        self.remove_legacy_journal(&j.plan.stash_id)
    }

    /// Removes the journal of the operation on stash `id`.
    pub fn clear_journal(&self, id: &str) -> Result<()> {
        let p = self.journal_path(id)?;
        match fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err("store", &p, e)),
        }
        self.remove_legacy_journal(id)
    }

    fn remove_legacy_journal(&self, id: &str) -> Result<()> {
        let p = self.dir.join("journal.json");
        if self
            .read_json::<Journal>(&p)?
            .is_some_and(|j| j.plan.stash_id == id)
        {
            fs::remove_file(&p).map_err(|e| io_err("store", &p, e))?;
        }
        Ok(())
    }
}
