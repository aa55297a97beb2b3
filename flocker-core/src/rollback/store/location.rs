//! Where the store lives, and its own dataset.
//!
//! The store (records, journals, lock) is a directory. When that directory is on a dataset a
//! rollback would roll back (the root filesystem, the dataset of `/var/lib`), the rollback
//! would roll back its own records: [`Store::check_outside`] refuses it. [`init_dataset`]
//! gives the store a dataset of its own, `<pool>/flocker-core`, mounted on the store's
//! directory, and migrates an existing directory store into it (crash-safe, idempotent: see
//! ROLLBACK.md, "Store").
//!
//! The directory the dataset is mounted on holds a *pointer*, `dataset.json` (the dataset's
//! name and GUID), hidden under the mount; the dataset holds the same file. Opening the store
//! ([`Store::open`], and before every write) reads it: when the directory is not that
//! dataset's mount (a boot that did not mount it), the dataset is mounted there after its GUID
//! is checked, so that records are never written into the directory underneath. The pointer is
//! believed under the same rules as records (owned by the effective user, not writable by
//! others); no property decides anything.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::{Store, check_trusted, io_err, try_flock};
use crate::error::{Error, ErrorKind, Result};
use crate::kernel;
use crate::lzc::{self, DatasetType};
use crate::name::{DatasetName, PoolName};
use crate::nvlist::NvList;
use crate::rollback::PropValue;
use crate::rollback::read::info_one;

/// The name of the store's dataset under a pool's root: `<pool>/flocker-core`.
pub const STORE_DATASET: &str = "flocker-core";

/// The operation named by the error of [`Store::check_outside`] (a refusal: nothing changed).
pub const OP_STORE_CHECK: &str = "store check";

/// The pointer file: in the mount-point directory (under the mount) and in the dataset.
const POINTER: &str = "dataset.json";
/// The migration's journal, in the old store directory.
const MIGRATION: &str = "migrate.json";
/// How long opening the store waits for another process that is mounting its dataset.
const MOUNT_WAIT: Duration = Duration::from_secs(60);
const OP: &str = "store init";

/// `<pool>/flocker-core`.
pub fn store_dataset(pool: &PoolName) -> Result<DatasetName> {
    Ok(DatasetName::new(format!("{pool}/{STORE_DATASET}"))?)
}

/// Whether `d` is named like a store dataset: `<pool>/flocker-core`.
pub fn is_store_dataset_name(d: &DatasetName) -> bool {
    let mut c = d.components();
    c.next();
    c.next() == Some(STORE_DATASET) && c.next().is_none()
}

/// One mount of `/proc/self/mountinfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MountEntry {
    pub(crate) mount_point: PathBuf,
    pub(crate) fstype: String,
    pub(crate) source: String,
}

/// Parses mountinfo text into its mounts, in the file's order (a later mount on the same
/// mount point is on top).
pub(crate) fn parse_mounts(text: &str) -> Vec<MountEntry> {
    let mut v = Vec::new();
    for line in text.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let l: Vec<&str> = left.split(' ').collect();
        let r: Vec<&str> = right.split(' ').collect();
        if l.len() < 5 || r.len() < 2 {
            continue;
        }
        v.push(MountEntry {
            mount_point: PathBuf::from(kernel::unescape(l[4])),
            fstype: r[0].to_string(),
            source: kernel::unescape(r[1]),
        });
    }
    v
}

fn mounts() -> Vec<MountEntry> {
    parse_mounts(&fs::read_to_string("/proc/self/mountinfo").unwrap_or_default())
}

/// The mount that holds `path` (absolute, canonical): the one on the longest mount point that
/// is `path` or one of its ancestors; of several on that point, the last (on top).
pub(crate) fn containing_mount<'a>(
    mounts: &'a [MountEntry],
    path: &Path,
) -> Option<&'a MountEntry> {
    let mut best: Option<&MountEntry> = None;
    for m in mounts {
        if path.starts_with(&m.mount_point)
            && best
                .is_none_or(|b| m.mount_point.as_os_str().len() >= b.mount_point.as_os_str().len())
        {
            best = Some(m);
        }
    }
    best
}

/// The ZFS dataset a mount is of (`None`: not ZFS, or a snapshot).
fn dataset_of(m: &MountEntry) -> Option<DatasetName> {
    if m.fstype != "zfs" || m.source.contains('@') {
        return None;
    }
    DatasetName::new(&m.source).ok()
}

/// Which of `set` (the datasets an operation would roll back) holds the store, given the
/// dataset that holds the store's directory (`holder`): only that very dataset counts (a
/// descendant with a mount of its own is another filesystem).
pub(crate) fn holder_in<'a>(
    holder: Option<&DatasetName>,
    set: &'a [DatasetName],
) -> Option<&'a DatasetName> {
    let h = holder?;
    set.iter().find(|d| *d == h)
}

/// Whether a mount that is not `dataset`'s, one of its descendants' or their snapshots' lies
/// below `path` (a mount of `dataset` or of a descendant): `umount2` of `path` then fails with
/// `EBUSY`, so the mount cannot be released (e.g. the store's own dataset mounted inside the
/// dataset of `/var/lib`). Those of the dataset's tree are unmounted by a swap itself.
pub(crate) fn foreign_mount_below(path: &str, dataset: &DatasetName) -> bool {
    foreign_below(&mounts(), Path::new(path), dataset)
}

fn foreign_below(mounts: &[MountEntry], path: &Path, dataset: &DatasetName) -> bool {
    mounts.iter().any(|m| {
        if m.mount_point == path || !m.mount_point.starts_with(path) {
            return false;
        }
        let own = m.fstype == "zfs"
            && DatasetName::new(m.source.split('@').next().unwrap_or(&m.source))
                .is_ok_and(|d| d == *dataset || dataset.is_ancestor_of(&d));
        !own
    })
}

/// `path` made absolute and canonical as far as it exists (the missing tail appended): where
/// the directory is, or would be created.
fn canonical(path: &Path) -> PathBuf {
    let abs = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(path)
    };
    let mut tail = Vec::new();
    let mut at = abs.as_path();
    loop {
        if let Ok(c) = fs::canonicalize(at) {
            let mut out = c;
            for t in tail.iter().rev() {
                out.push(t);
            }
            return out;
        }
        match (at.parent(), at.file_name()) {
            (Some(p), Some(n)) => {
                tail.push(n.to_os_string());
                at = p;
            }
            _ => return abs,
        }
    }
}

/// The pointer (and the in-dataset identity): which dataset the store lives on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct PointerV1 {
    version: u32,
    dataset: String,
    guid: u64,
}

/// The migration's journal: the dataset being made the store's, and its GUID once known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct MigrationV1 {
    version: u32,
    dataset: String,
    guid: Option<u64>,
}

fn bad_data(path: &Path, detail: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidData, "store")
        .with_name(path.to_string_lossy())
        .with_detail(detail)
}

/// Reads a small trusted JSON file (`None` when missing).
fn read_trusted<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Option<T>> {
    if fs::symlink_metadata(path).is_err() {
        return Ok(None);
    }
    check_trusted(path)?;
    let text = fs::read(path).map_err(|e| io_err("store", path, e))?;
    serde_json::from_slice(&text)
        .map(Some)
        .map_err(|e| bad_data(path, e.to_string()))
}

/// Writes `bytes` to `path` durably: a temporary file (mode 0600), fsync, rename, fsync of the
/// directory.
fn write_durably(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut tmp = path.as_os_str().to_os_string();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut f = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| io_err(OP, &tmp, e))?;
    f.set_permissions(fs::Permissions::from_mode(0o600))
        .map_err(|e| io_err(OP, &tmp, e))?;
    f.write_all(bytes).map_err(|e| io_err(OP, &tmp, e))?;
    f.sync_all().map_err(|e| io_err(OP, &tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| io_err(OP, path, e))?;
    sync_dir(path.parent().unwrap_or(Path::new("/")))
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_err(OP, dir, e))
}

fn write_json<T: Serialize>(path: &Path, v: &T) -> Result<()> {
    let text = serde_json::to_vec_pretty(v).map_err(|e| bad_data(path, e.to_string()))?;
    write_durably(path, &text)
}

fn read_pointer(dir: &Path) -> Result<Option<(DatasetName, u64)>> {
    let p = dir.join(POINTER);
    let Some(v) = read_trusted::<PointerV1>(&p)? else {
        return Ok(None);
    };
    if v.version > 1 {
        return Err(bad_data(&p, "written by a newer flocker-core"));
    }
    let d = DatasetName::new(&v.dataset).map_err(|e| bad_data(&p, e.to_string()))?;
    Ok(Some((d, v.guid)))
}

fn pointer_bytes(d: &DatasetName, guid: u64) -> Result<Vec<u8>> {
    let v = PointerV1 {
        version: 1,
        dataset: d.to_string(),
        guid,
    };
    serde_json::to_vec_pretty(&v).map_err(|e| bad_data(Path::new(POINTER), e.to_string()))
}

/// The ZFS dataset mounted exactly on `dir` (the top mount there), if any.
fn mounted_at(dir: &Path) -> Option<String> {
    let dir = canonical(dir);
    mounts()
        .into_iter()
        .rev()
        .find(|m| m.mount_point == dir && m.fstype == "zfs")
        .map(|m| m.source)
}

/// `flock(LOCK_EX)` on `f`, retried until `timeout` ([`ErrorKind::Busy`] then).
fn flock_wait(f: &File, path: &Path, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    while !try_flock(f, path, "store")? {
        if Instant::now() >= deadline {
            return Err(Error::new(ErrorKind::Busy, "store")
                .with_name(path.to_string_lossy())
                .with_detail(
                    "another process has been mounting the store's dataset for too long",
                ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// Makes sure that, when `dir` holds a pointer, the dataset it names is mounted on `dir`
/// (mounting it after checking its GUID): records are never read from or written into the
/// directory underneath. Nothing to do for a plain directory store.
pub(crate) fn ensure_mounted(dir: &Path) -> Result<()> {
    let p = dir.join(POINTER);
    if fs::symlink_metadata(&p).is_err() {
        return refuse_half_moved(dir);
    }
    check_trusted(dir)?;
    let Some((ds, guid)) = read_pointer(dir)? else {
        return Ok(());
    };
    if mounted_at(dir).as_deref() == Some(ds.as_str()) {
        return Ok(());
    }
    // Not mounted: `p` is the pointer under the mount point. Whoever mounts holds its lock,
    // so that two processes never mount the dataset twice.
    let f = File::open(&p).map_err(|e| io_err("store", &p, e))?;
    flock_wait(&f, &p, MOUNT_WAIT)?;
    if mounted_at(dir).as_deref() == Some(ds.as_str()) {
        return Ok(());
    }
    mount_store(&ds, guid, dir)
}

/// Refuses a store whose directory is missing because a migration that had to rename it in
/// two steps (no `RENAME_EXCHANGE`, e.g. on OpenZFS 2.1) was interrupted between them: the
/// records are in `<dir>.store-old`, and an empty store must not be created in their place.
fn refuse_half_moved(dir: &Path) -> Result<()> {
    if fs::symlink_metadata(dir).is_ok() {
        return Ok(());
    }
    let Ok(p) = Paths::of(dir) else {
        return Ok(());
    };
    if fs::symlink_metadata(p.old.join(MIGRATION)).is_err() {
        return Ok(());
    }
    Err(Error::new(ErrorKind::Unavailable, "store")
        .with_name(dir.to_string_lossy())
        .with_detail(format!(
            "a move of the store to its own dataset was interrupted (the records are in {}): \
             run `datavault store init POOL` again to finish it",
            p.old.display()
        )))
}

/// Mounts the store's dataset `ds` (whose GUID must be `guid`) on `dir`.
fn mount_store(ds: &DatasetName, guid: u64, dir: &Path) -> Result<()> {
    let unavailable = |why: String| {
        Error::new(ErrorKind::Unavailable, "store")
            .with_name(dir.to_string_lossy())
            .with_detail(why)
    };
    let i = info_one(ds.as_str()).map_err(|e| {
        unavailable(format!(
            "the store lives on {ds}, which is not mounted and cannot be read ({e}); import its \
             pool, then try again"
        ))
    })?;
    let Some(i) = i else {
        return Err(unavailable(format!(
            "the store lives on {ds}, which does not exist (is its pool imported?); not using the \
             directory underneath"
        )));
    };
    if i.guid != guid {
        return Err(Error::new(ErrorKind::Mismatch, "store")
            .with_name(ds.as_str())
            .with_detail(format!(
                "{} names {ds} with GUID {guid}, but {ds} has GUID {}: not the store's dataset; \
                 not mounting it",
                dir.join(POINTER).display(),
                i.guid
            )));
    }
    kernel::mount(ds, dir).map_err(|e| {
        unavailable(format!(
            "the store lives on {ds}, which is not mounted, and mounting it failed: {e}"
        ))
    })
}

/// Where a store is: its directory, the filesystem holding it, and whether that is a
/// dedicated store dataset. Serializes as `datavault store status --json` prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct StoreLocation {
    /// The store's directory (canonical, as far as it exists).
    pub dir: PathBuf,
    /// Whether the directory exists.
    pub exists: bool,
    /// The mount point of the filesystem holding it.
    pub mount_point: Option<PathBuf>,
    /// That filesystem's type (`zfs`, `ext4`, ...).
    pub fstype: Option<String>,
    /// That filesystem's source (for ZFS: the dataset).
    pub source: Option<String>,
    /// The ZFS dataset holding the directory: what a rollback must not roll back.
    #[serde(serialize_with = "name_opt")]
    pub dataset: Option<DatasetName>,
    /// Whether the directory is a dedicated store dataset: `<pool>/flocker-core` mounted on
    /// the directory itself, whose `dataset.json` names it.
    pub dedicated: bool,
    /// The dataset the directory's `dataset.json` names (the store's dataset since `store
    /// init`), if any.
    #[serde(serialize_with = "name_opt")]
    pub pointer: Option<DatasetName>,
}

fn name<S: serde::Serializer>(d: &DatasetName, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(d.as_str())
}

fn name_opt<S: serde::Serializer>(
    d: &Option<DatasetName>,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    d.as_ref().map(DatasetName::as_str).serialize(s)
}

/// Where the store in `dir` is (read only: mounts nothing, creates nothing).
pub fn store_location(dir: &Path) -> Result<StoreLocation> {
    let canon = canonical(dir);
    let all = mounts();
    let m = containing_mount(&all, &canon);
    let dataset = m.and_then(dataset_of);
    let pointer = read_pointer(dir)?.map(|(d, _)| d);
    let dedicated = dataset.as_ref().is_some_and(|d| {
        is_store_dataset_name(d)
            && m.is_some_and(|m| m.mount_point == canon)
            && pointer.as_ref() == Some(d)
    });
    Ok(StoreLocation {
        exists: canon.is_dir(),
        mount_point: m.map(|m| m.mount_point.clone()),
        fstype: m.map(|m| m.fstype.clone()),
        source: m.map(|m| m.source.clone()),
        dataset,
        dedicated,
        pointer,
        dir: canon,
    })
}

impl Store {
    /// Where this store is ([`store_location`]).
    pub fn location(&self) -> Result<StoreLocation> {
        store_location(self.dir())
    }

    /// Refuses an operation that would roll back the datasets `set` when one of them holds the
    /// store's directory (its records and journal would be rolled back with it):
    /// [`ErrorKind::InvalidArgument`], operation [`OP_STORE_CHECK`], naming the dataset;
    /// nothing changed. Only the dataset whose filesystem holds the directory counts: a
    /// descendant mounted on its own is another filesystem. A recursive rollback passes every
    /// member of its tree.
    pub fn check_outside(&self, set: &[DatasetName]) -> Result<()> {
        let loc = self.location()?;
        let Some(d) = holder_in(loc.dataset.as_ref(), set) else {
            return Ok(());
        };
        Err(Error::new(ErrorKind::InvalidArgument, OP_STORE_CHECK)
            .with_name(d.as_str())
            .with_detail(format!(
                "refused, nothing changed: the trusted store {} is on {d}, which this operation \
                 would roll back (with the store's records and journal); give the store a \
                 dataset of its own first: `datavault store init {}`",
                loc.dir.display(),
                d.pool()
            )))
    }
}

/// What [`init_dataset`] did. Serializes as `datavault store init --json` prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct InitReport {
    /// The store's directory.
    pub dir: PathBuf,
    /// The store's dataset.
    #[serde(serialize_with = "name")]
    pub dataset: DatasetName,
    /// Its GUID.
    pub guid: u64,
    /// Whether this call created the dataset.
    pub created: bool,
    /// Files copied from the directory store (relative paths), by this call.
    pub copied: Vec<PathBuf>,
    /// Where the former directory was set aside (kept), by this call or an interrupted one.
    pub set_aside: Option<PathBuf>,
    /// Whether the store was already on the dataset and nothing was left to do.
    pub already: bool,
}

// The step of [`init_dataset`] to stop before (fault injection, tests only).
#[cfg(feature = "fault-injection")]
thread_local! {
    static FAULT: std::cell::Cell<Option<usize>> = const { std::cell::Cell::new(None) };
}

/// Test-only (feature `fault-injection`): make the next [`init_dataset`] on this thread stop
/// before step `step` (1 to [`INIT_STEPS`]) as if the process had died there: nothing is
/// cleaned up. `None` disables.
#[cfg(feature = "fault-injection")]
#[doc(hidden)]
pub fn set_init_fault(step: Option<usize>) {
    FAULT.with(|f| f.set(step));
}

/// How many steps [`init_dataset`] has (see [`set_init_fault`]-style fault injection).
pub const INIT_STEPS: usize = 9;

fn fault(_i: usize) -> Result<()> {
    #[cfg(feature = "fault-injection")]
    {
        let hit = FAULT.with(|f| {
            let hit = f.get() == Some(_i);
            if hit {
                f.set(None);
            }
            hit
        });
        if hit {
            return Err(Error::new(ErrorKind::Interrupted, OP)
                .with_detail(format!("fault injected before step {_i}")));
        }
    }
    Ok(())
}

/// The sibling directories the migration uses: the prepared mount point (holding the old
/// store after the exchange), the private mount point for the copy, and the set-aside name.
struct Paths {
    dir: PathBuf,
    new: PathBuf,
    old: PathBuf,
    copy: PathBuf,
    parent: PathBuf,
    name: String,
}

impl Paths {
    fn of(dir: &Path) -> Result<Paths> {
        let dir = canonical(dir);
        let (Some(parent), Some(name)) = (dir.parent(), dir.file_name()) else {
            return Err(Error::new(ErrorKind::InvalidArgument, OP)
                .with_name(dir.to_string_lossy())
                .with_detail("the store's directory cannot be the root directory"));
        };
        let name = name.to_string_lossy().into_owned();
        Ok(Paths {
            new: parent.join(format!("{name}.store-new")),
            old: parent.join(format!("{name}.store-old")),
            copy: parent.join(format!("{name}.store-copy")),
            parent: parent.to_path_buf(),
            name,
            dir,
        })
    }

    fn aside(&self) -> PathBuf {
        let now = time::OffsetDateTime::now_utc();
        let stamp = format!(
            "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
            now.year(),
            u8::from(now.month()),
            now.day(),
            now.hour(),
            now.minute(),
            now.second()
        );
        let base = self.parent.join(format!("{}.migrated-{stamp}", self.name));
        let mut p = base.clone();
        let mut n = 1;
        while fs::symlink_metadata(&p).is_ok() {
            p = PathBuf::from(format!("{}-{n}", base.display()));
            n += 1;
        }
        p
    }
}

/// Gives the store in `dir` a dataset of its own: creates `<pool>/flocker-core` (`canmount`,
/// `mountpoint=<dir>`, `snapdir=hidden`, `exec`/`setuid`/`devices`/`atime` off, and the user
/// property `com.sun:auto-snapshot=false` as a courtesy to snapshot tools: it decides
/// nothing), copies the directory store into it under the store's lock, sets the directory
/// aside as `<dir>.migrated-<UTC>` (kept) and mounts the dataset on `dir`.
///
/// Crash-safe and idempotent: run again after a crash at any point, it finishes the job (see
/// ROLLBACK.md, "Store"). Already done: [`InitReport::already`].
///
/// Errors: [`ErrorKind::NotFound`] (no such pool); [`ErrorKind::Exists`] (the store already
/// lives on another dataset, or `<pool>/flocker-core` exists and is not an empty filesystem
/// this crate could take over); [`ErrorKind::Busy`] (`dir` is another mount point, or the
/// store's lock is held); [`ErrorKind::PermissionDenied`] (the directory is not trusted).
pub fn init_dataset(pool: &PoolName, dir: &Path) -> Result<InitReport> {
    let ds = store_dataset(pool)?;
    let no_pool = || {
        Error::new(ErrorKind::NotFound, OP)
            .with_name(pool.as_str())
            .with_detail("no such pool")
    };
    match info_one(pool.as_str()) {
        Ok(Some(_)) => {}
        Ok(None) => return Err(no_pool()),
        Err(e) if e.kind() == ErrorKind::NotFound => return Err(no_pool()),
        Err(e) => return Err(e),
    }
    let paths = Paths::of(dir)?;
    if fs::symlink_metadata(&paths.dir).is_err()
        && fs::symlink_metadata(paths.old.join(MIGRATION)).is_ok()
    {
        // Interrupted between the two renames of `swap_names`: the second one.
        check_trusted(&paths.new)?;
        fs::rename(&paths.new, &paths.dir).map_err(|e| io_err(OP, &paths.new, e))?;
        sync_dir(&paths.parent)?;
    }
    if let Some((named, _)) = read_pointer(&paths.dir)? {
        if named != ds {
            return Err(Error::new(ErrorKind::Exists, OP)
                .with_name(paths.dir.to_string_lossy())
                .with_detail(format!("the store already lives on {named}")));
        }
        return finish(&paths, &ds, InitReport::empty(&paths, &ds));
    }
    if let Some(src) = mounted_at(&paths.dir) {
        return Err(Error::new(ErrorKind::Busy, OP)
            .with_name(paths.dir.to_string_lossy())
            .with_detail(format!(
                "the directory is the mount point of {src}, not a directory store this can move"
            )));
    }
    migrate(&paths, &ds)
}

impl InitReport {
    fn empty(p: &Paths, ds: &DatasetName) -> InitReport {
        InitReport {
            dir: p.dir.clone(),
            dataset: ds.clone(),
            guid: 0,
            created: false,
            copied: Vec::new(),
            set_aside: None,
            already: false,
        }
    }
}

/// Steps 1-6: the old directory is the store until the exchange (step 6).
fn migrate(p: &Paths, ds: &DatasetName) -> Result<InitReport> {
    let store = Store::open(&p.dir)?;
    let _lock = store.lock()?;
    let mfile = p.dir.join(MIGRATION);
    let mut m = read_trusted::<MigrationV1>(&mfile)?.unwrap_or(MigrationV1 {
        version: 1,
        dataset: ds.to_string(),
        guid: None,
    });
    if m.dataset != ds.as_str() {
        return Err(Error::new(ErrorKind::Exists, OP)
            .with_name(p.dir.to_string_lossy())
            .with_detail(format!(
                "an interrupted migration to {} is under way: run it again with that pool",
                m.dataset
            )));
    }
    write_json(&mfile, &m)?;
    let mut report = InitReport::empty(p, ds);
    fault(1)?;
    let (guid, created) = create_or_adopt(ds, &p.dir, m.guid, p)?;
    report.guid = guid;
    report.created = created;
    m.guid = Some(guid);
    write_json(&mfile, &m)?;
    fault(2)?;
    release_stale_mount(&p.copy)?;
    mkdir_private(&p.copy)?;
    mount_private(ds, &p.copy)?;
    fault(3)?;
    report.copied = sync_tree(&p.dir, &p.copy, true)?;
    write_durably(&p.copy.join(POINTER), &pointer_bytes(ds, guid)?)?;
    fault(4)?;
    kernel::unmount(&p.copy)?;
    let _ = fs::remove_dir(&p.copy);
    fault(5)?;
    let ptr = prepare_mount_point(p, ds, guid)?;
    // Held from before the exchange until the dataset is mounted: an opener that sees the
    // pointer waits for it (see `ensure_mounted`).
    let pf = File::open(&ptr).map_err(|e| io_err(OP, &ptr, e))?;
    flock_wait(&pf, &ptr, MOUNT_WAIT)?;
    fault(6)?;
    swap_names(p)?;
    sync_dir(&p.parent)?;
    fault(7)?;
    mount_store(ds, guid, &p.dir)?;
    drop(pf);
    finish(p, ds, report)
}

/// After the exchange: the dataset mounted on `dir` (when an interrupted run did not), the old
/// store (now at `<dir>.store-new`) set aside (step 8), `canmount=on` (step 9). Also what a run
/// after a crash past the exchange, or on a finished store, does.
fn finish(p: &Paths, ds: &DatasetName, mut report: InitReport) -> Result<InitReport> {
    let mut did = false;
    if mounted_at(&p.dir).as_deref() != Some(ds.as_str()) {
        ensure_mounted(&p.dir)?;
        did = true;
    }
    let (_, guid) = read_pointer(&p.dir)?.ok_or_else(|| {
        bad_data(
            &p.dir.join(POINTER),
            "the store's dataset holds no dataset.json",
        )
    })?;
    report.guid = guid;
    fault(8)?;
    for from in [&p.new, &p.old] {
        if fs::symlink_metadata(from.join(MIGRATION)).is_ok() {
            check_trusted(from)?;
            let aside = p.aside();
            fs::rename(from, &aside).map_err(|e| io_err(OP, from, e))?;
            sync_dir(&p.parent)?;
            report.set_aside = Some(aside);
            did = true;
        }
    }
    release_stale_mount(&p.copy)?;
    let _ = fs::remove_dir(&p.copy);
    fault(9)?;
    let on = PropValue::Number(1);
    let local = kernel::stored_local_props(ds)?;
    if !local.iter().any(|(n, v)| n == "canmount" && *v == on) {
        kernel::set_prop(ds, "canmount", &on)?;
        did = true;
    }
    report.already = !did && report.copied.is_empty() && !report.created;
    Ok(report)
}

/// The properties the store's dataset is created with (`canmount=noauto` until the migration
/// is done, so that a boot in the middle does not mount it over the old directory).
fn create_props(dir: &Path) -> Result<NvList> {
    let mut props = NvList::new()?;
    props.add_string("mountpoint", &dir.to_string_lossy())?;
    props.add_u64("canmount", 2)?;
    props.add_u64("snapdir", 0)?;
    props.add_u64("exec", 0)?;
    props.add_u64("setuid", 0)?;
    props.add_u64("devices", 0)?;
    props.add_u64("atime", 0)?;
    props.add_string("com.sun:auto-snapshot", "false")?;
    Ok(props)
}

/// Step 1: creates the dataset, or takes over an existing one: the one an interrupted run
/// recorded (`known` GUID), or an empty filesystem (no snapshot, not a clone, no file) that
/// nobody can have filled with forged records. Returns its GUID and whether it was created.
fn create_or_adopt(
    ds: &DatasetName,
    dir: &Path,
    known: Option<u64>,
    p: &Paths,
) -> Result<(u64, bool)> {
    let props = create_props(dir)?;
    let created = match lzc::create(ds, DatasetType::Filesystem, Some(&props), None) {
        Ok(()) => true,
        Err(e) if e.kind() == ErrorKind::Exists => false,
        Err(e) => return Err(e),
    };
    let i = info_one(ds.as_str())?.ok_or_else(|| {
        Error::new(ErrorKind::NotFound, OP)
            .with_name(ds.as_str())
            .with_detail("vanished after its creation")
    })?;
    if created || known == Some(i.guid) {
        return Ok((i.guid, created));
    }
    let refuse = |why: &str| {
        Error::new(ErrorKind::Exists, OP)
            .with_name(ds.as_str())
            .with_detail(format!(
                "exists and {why}: not one this crate made, and taking it over could let whoever \
                 made it forge records; destroy or rename it, then run store init again"
            ))
    };
    if i.origin.is_some() {
        return Err(refuse("is a clone"));
    }
    if !i.snaps.is_empty() {
        return Err(refuse("has snapshots"));
    }
    if mounts().iter().any(|m| m.source == ds.as_str()) {
        return Err(refuse("is mounted"));
    }
    kernel::set_props(ds, &props)?;
    release_stale_mount(&p.copy)?;
    mkdir_private(&p.copy)?;
    mount_private(ds, &p.copy)?;
    let empty = fs::read_dir(&p.copy)
        .map(|mut d| d.next().is_none())
        .unwrap_or(false);
    kernel::unmount(&p.copy)?;
    if !empty {
        return Err(refuse("is not empty"));
    }
    Ok((i.guid, false))
}

fn mkdir_private(d: &Path) -> Result<()> {
    match fs::DirBuilder::new().mode(0o700).create(d) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            check_trusted(d)?;
            Ok(())
        }
        Err(e) => Err(io_err(OP, d, e)),
    }
}

/// Unmounts whatever an interrupted run left mounted on `d` (its private copy mount).
fn release_stale_mount(d: &Path) -> Result<()> {
    while mounts().iter().any(|m| m.mount_point == d) {
        kernel::unmount(d)?;
    }
    Ok(())
}

/// Mounts `ds` on the private directory `d` (no exec, setuid or devices) and makes the
/// dataset's root directory private (mode 0700).
fn mount_private(ds: &DatasetName, d: &Path) -> Result<()> {
    kernel::mount_zfs(
        ds.as_str(),
        d,
        libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
    )
    .map_err(|e| lzc::io_error(lzc::Family::Mount, "mount", ds.as_str(), &e))?;
    fs::set_permissions(d, fs::Permissions::from_mode(0o700)).map_err(|e| io_err(OP, d, e))
}

/// Whether a top-level name of the old store is left out of the copy: its lock, the migration
/// journal, the pointer, temporary files.
fn skipped(name: &str) -> bool {
    matches!(name, "lock" | MIGRATION | POINTER) || name.ends_with(".tmp")
}

/// Makes `dst` an exact copy of `src` (directories 0700, files 0600, each written durably):
/// files that differ are copied, files and directories `src` lacks are removed (`top`: the
/// names [`skipped`] are neither copied nor removed). Refuses anything but files and
/// directories. Returns the files copied, relative to `src`.
pub(crate) fn sync_tree(src: &Path, dst: &Path, top: bool) -> Result<Vec<PathBuf>> {
    let mut copied = Vec::new();
    let mut seen = Vec::new();
    let entries = fs::read_dir(src).map_err(|e| io_err(OP, src, e))?;
    for e in entries {
        let e = e.map_err(|e| io_err(OP, src, e))?;
        let name = e.file_name();
        let n = name.to_string_lossy();
        if top && skipped(&n) {
            continue;
        }
        seen.push(name.clone());
        let (s, d) = (e.path(), dst.join(&name));
        let t = fs::symlink_metadata(&s).map_err(|e| io_err(OP, &s, e))?;
        if t.is_dir() {
            check_trusted(&s)?;
            if fs::symlink_metadata(&d).is_ok_and(|m| !m.is_dir()) {
                fs::remove_file(&d).map_err(|e| io_err(OP, &d, e))?;
            }
            mkdir_private(&d)?;
            for c in sync_tree(&s, &d, false)? {
                copied.push(Path::new(&name).join(c));
            }
        } else if t.is_file() {
            check_trusted(&s)?;
            let data = fs::read(&s).map_err(|e| io_err(OP, &s, e))?;
            if fs::read(&d).ok().as_deref() != Some(data.as_slice()) {
                if fs::symlink_metadata(&d).is_ok_and(|m| m.is_dir()) {
                    fs::remove_dir_all(&d).map_err(|e| io_err(OP, &d, e))?;
                }
                write_durably(&d, &data)?;
                copied.push(PathBuf::from(&name));
            }
        } else {
            return Err(bad_data(
                &s,
                "not a file or directory: the store holds no such thing",
            ));
        }
    }
    for e in fs::read_dir(dst).map_err(|e| io_err(OP, dst, e))?.flatten() {
        let name = e.file_name();
        if seen.contains(&name) || (top && skipped(&name.to_string_lossy())) {
            continue;
        }
        let d = e.path();
        let r = if e.file_type().is_ok_and(|t| t.is_dir()) {
            fs::remove_dir_all(&d)
        } else {
            fs::remove_file(&d)
        };
        r.map_err(|e| io_err(OP, &d, e))?;
    }
    sync_dir(dst)?;
    copied.sort();
    Ok(copied)
}

/// Step 5: `<dir>.store-new`, mode 0700, holding only the pointer (a leftover of an
/// interrupted run is made again; anything else there is refused). Returns the pointer's path.
fn prepare_mount_point(p: &Paths, ds: &DatasetName, guid: u64) -> Result<PathBuf> {
    if fs::symlink_metadata(&p.new).is_ok() {
        check_trusted(&p.new)?;
        let names: Vec<String> = fs::read_dir(&p.new)
            .map_err(|e| io_err(OP, &p.new, e))?
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        if names.iter().any(|n| n != POINTER && !n.ends_with(".tmp")) {
            return Err(Error::new(ErrorKind::Exists, OP)
                .with_name(p.new.to_string_lossy())
                .with_detail("holds files this crate did not put there; move it away first"));
        }
        fs::remove_dir_all(&p.new).map_err(|e| io_err(OP, &p.new, e))?;
    }
    mkdir_private(&p.new)?;
    let ptr = p.new.join(POINTER);
    write_durably(&ptr, &pointer_bytes(ds, guid)?)?;
    Ok(ptr)
}

/// Step 6: the old store's directory and the prepared mount point swap names: atomically
/// with [`exchange`]; where the filesystem holding them cannot (OpenZFS before 2.2 answers
/// `EINVAL`), in two renames (`dir` → `<dir>.store-old`, `<dir>.store-new` → `dir`), between
/// which opening the store is refused ([`refuse_half_moved`]) and `init` finishes the second.
fn swap_names(p: &Paths) -> Result<()> {
    match exchange(&p.dir, &p.new) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == ErrorKind::InvalidArgument || e.kind() == ErrorKind::NotSupported => {
        }
        Err(e) => return Err(e),
    }
    fs::rename(&p.dir, &p.old).map_err(|e| io_err(OP, &p.dir, e))?;
    fs::rename(&p.new, &p.dir).map_err(|e| io_err(OP, &p.new, e))
}

/// Swaps the names `a` and `b` atomically (`renameat2(RENAME_EXCHANGE)`): at every
/// instant the store's path is either the old store or the new mount point with its pointer.
fn exchange(a: &Path, b: &Path) -> Result<()> {
    let c = |p: &Path| {
        std::ffi::CString::new(p.as_os_str().as_bytes()).map_err(|_| {
            Error::new(ErrorKind::InvalidArgument, OP)
                .with_name(p.to_string_lossy())
                .with_detail("NUL in a path")
        })
    };
    let (ca, cb) = (c(a)?, c(b)?);
    // SAFETY: two NUL-terminated paths alive for the call; AT_FDCWD for absolute paths.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            ca.as_ptr(),
            libc::AT_FDCWD,
            cb.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if rc == 0 {
        return Ok(());
    }
    Err(io_err(OP, a, std::io::Error::last_os_error()))
}

#[cfg(test)]
mod tests;
