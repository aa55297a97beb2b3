//! Every version of a file across a filesystem's snapshots, and the files deleted from a
//! directory since a snapshot (httm's questions, answered without the CLI).
//!
//! A path (absolute, or relative to the working directory; it need not exist any more) is
//! mapped to its filesystem through the mount table (`/proc/self/mountinfo`, type `zfs`, the
//! longest mount point that is a prefix) or, for a filesystem that is not mounted, through
//! the effective `mountpoint` property. Each snapshot of that filesystem is read through
//! `<mountpoint>/.zfs/snapshot/<snap>/` or, when the filesystem is not mounted, a private
//! read-only mount (see [`diff::snapshot_root`](crate::diff::snapshot_root)); snapshots are
//! visited on several threads, and results do not depend on their number. A path inside a
//! snapshot's copy (`<mountpoint>/.zfs/snapshot/<snap>/dir/file`) stands for `dir/file`.
//!
//! # Versions
//!
//! What a snapshot holds at the path is read with `lstat` (a symbolic link is not followed).
//! Two snapshots hold the same version when the file type, size and modification time are
//! equal and, with [`Search::verify`], the content too (SHA-256 of a regular file's bytes, a
//! symbolic link's target). So a file deleted and re-created with the same size and
//! modification time is the same version; any other change makes a new one. Versions are
//! ordered by the oldest snapshot that holds them (`createtxg` order); the version equal to the
//! live file has [`Version::live`] set, and a live file equal to no snapshot's version is a
//! last version of its own with no snapshots. (When the live file is back to an older
//! version — same size, same modification time — that older version is the live one.)
//!
//! # Example
//!
//! ```no_run
//! use flocker_core::versions::Search;
//! use std::path::Path;
//!
//! let mut search = Search::new().verify(true);
//! let history = search.versions(Path::new("/tank/home/alice/notes.txt"))?;
//! for v in &history.versions {
//!     let first = v.snapshots.first().map_or("-".into(), |s| s.to_string());
//!     println!("{} bytes, mtime {}, first in {first}{}", v.size, v.mtime.sec,
//!              if v.live { " (live)" } else { "" });
//! }
//! for d in search.deleted(Path::new("/tank/home/alice"))? {
//!     println!("{} deleted; last in {}", d.rel.display(), d.last);
//! }
//! # Ok::<(), flocker_core::Error>(())
//! ```

use std::collections::HashMap;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::diff::{FileType, Timestamp, io_err, live_root, snapshot_root};
use crate::error::{Error, ErrorKind, Result};
use crate::inventory::{Inventory, SnapshotQuery};
use crate::name::{DatasetName, SnapshotName};

mod group;
mod locate;
mod visit;

use group::Seen;
use locate::Located;

const OP: &str = "versions";

/// The distinct versions of one path, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct History {
    /// The filesystem that holds the path.
    pub dataset: DatasetName,
    /// The path relative to the filesystem's root (`""` for the root).
    pub rel: PathBuf,
    /// The versions, ordered by the oldest snapshot holding each; a version only the live
    /// file has comes last.
    pub versions: Vec<Version>,
}

/// One distinct version of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    /// The snapshots that hold it, oldest first (empty for a version only the live file has).
    pub snapshots: Vec<SnapshotName>,
    /// Whether the live file is this version.
    pub live: bool,
    /// The size in bytes (`st_size`; for a symbolic link the target's length).
    pub size: u64,
    /// The modification time.
    pub mtime: Timestamp,
    /// The file type.
    pub file_type: FileType,
}

impl Version {
    /// A version: for callers that build histories themselves (tests, other front ends).
    pub fn new(
        snapshots: Vec<SnapshotName>,
        live: bool,
        size: u64,
        mtime: Timestamp,
        file_type: FileType,
    ) -> Version {
        Version {
            snapshots,
            live,
            size,
            mtime,
            file_type,
        }
    }

    fn of(seen: &Seen, snapshots: Vec<SnapshotName>, live: bool) -> Version {
        Version::new(snapshots, live, seen.size, seen.mtime, seen.file_type)
    }
}

/// An entry of a directory that some snapshot holds and the live directory does not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deleted {
    /// Its path relative to the filesystem's root.
    pub rel: PathBuf,
    /// Its file type in [`Deleted::last`].
    pub file_type: FileType,
    /// The newest snapshot that holds it.
    pub last: SnapshotName,
    /// Its size in [`Deleted::last`].
    pub size: u64,
    /// Its modification time in [`Deleted::last`].
    pub mtime: Timestamp,
}

/// How far a search is, passed to the callback of [`Search::on_progress`] after each
/// snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Snapshots visited so far.
    pub visited: usize,
    /// Snapshots to visit.
    pub total: usize,
}

type ProgressFn<'a> = Box<dyn FnMut(&Progress) + 'a>;

/// The version search: options, the progress callback, and what it read before (an
/// incremental snapshot listing, and what each snapshot holds at the paths asked about:
/// snapshots do not change, so asking again reads only the new ones).
pub struct Search<'a> {
    verify: bool,
    threads: usize,
    progress: Option<ProgressFn<'a>>,
    inventory: Inventory<'static>,
    /// (snapshot GUID, path in the filesystem) → what the snapshot holds there.
    seen: HashMap<(u64, PathBuf), Option<Seen>>,
}

impl fmt::Debug for Search<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Search")
            .field("verify", &self.verify)
            .field("threads", &self.threads)
            .field("progress", &self.progress.is_some())
            .field("remembered", &self.seen.len())
            .finish()
    }
}

impl Default for Search<'_> {
    fn default() -> Self {
        Search::new()
    }
}

/// Remembered per-snapshot results at most (the memory is dropped beyond).
const REMEMBER: usize = 1_000_000;

impl<'a> Search<'a> {
    /// Threads at most, whatever [`Search::threads`] asks.
    pub const MAX_THREADS: usize = 64;

    /// A search without verification, on as many threads as the machine has processors (at
    /// most 8), without a progress callback.
    pub fn new() -> Self {
        let cpus = std::thread::available_parallelism().map_or(1, usize::from);
        Search {
            verify: false,
            threads: cpus.clamp(1, 8),
            progress: None,
            inventory: Inventory::new().incremental(),
            seen: HashMap::new(),
        }
    }

    /// Also compares the content (SHA-256) of versions whose type, size and modification
    /// time are equal: slower, every copy is read.
    pub fn verify(mut self, on: bool) -> Self {
        self.verify = on;
        self
    }

    /// Visits up to `n` snapshots at once (clamped to 1..=[`Search::MAX_THREADS`]).
    pub fn threads(mut self, n: usize) -> Self {
        self.threads = n.clamp(1, Self::MAX_THREADS);
        self
    }

    /// Calls `f` after each snapshot visited (on the calling thread).
    pub fn on_progress(mut self, f: impl FnMut(&Progress) + 'a) -> Self {
        self.progress = Some(Box::new(f));
        self
    }

    /// The distinct versions of `path` (absolute or relative to the working directory, live
    /// or deleted) across its filesystem's snapshots and the live filesystem (see the
    /// [module documentation](self)).
    ///
    /// Errors: [`ErrorKind::NotFound`] (no ZFS filesystem holds the path, or neither a
    /// snapshot nor the live filesystem has it), [`ErrorKind::InvalidArgument`] (an empty
    /// path, a NUL, `..` after a missing directory), [`ErrorKind::PermissionDenied`]
    /// (reading, or mounting a filesystem that is not mounted), [`ErrorKind::Io`].
    pub fn versions(&mut self, path: &Path) -> Result<History> {
        let loc = locate::locate(path, &mut self.inventory)?;
        let snaps = self.snapshots(&loc.dataset)?;
        let live = self.read_live(&loc, |root| {
            visit::observe(&root.join(&loc.rel), self.verify)
        })?;
        let held = self.held(&loc, &snaps)?;
        if live.is_none() && held.iter().all(|(_, s)| s.is_none()) {
            return Err(Error::new(ErrorKind::NotFound, OP)
                .with_name(path.to_string_lossy())
                .with_detail(format!(
                    "not in {} now nor in any of its {} snapshot(s)",
                    loc.dataset,
                    snaps.len()
                )));
        }
        let versions = group::group(&held, live.as_ref());
        Ok(History {
            dataset: loc.dataset,
            rel: loc.rel,
            versions,
        })
    }

    /// The entries of directory `dir` (one level, by name) that some snapshot holds and the
    /// live directory does not, sorted by name, each with the newest snapshot holding it.
    /// A directory that no longer exists is fine: all its entries are deleted.
    ///
    /// Errors: [`ErrorKind::NotFound`] (no ZFS filesystem holds the path, or it is a
    /// directory neither in a snapshot nor now), [`ErrorKind::InvalidArgument`] (a bad path,
    /// or not a directory now), and those of [`Search::versions`].
    pub fn deleted(&mut self, dir: &Path) -> Result<Vec<Deleted>> {
        let loc = locate::locate(dir, &mut self.inventory)?;
        let snaps: Vec<SnapshotName> = self
            .snapshots(&loc.dataset)?
            .into_iter()
            .map(|s| s.name)
            .collect();
        let is_root = loc.rel.as_os_str().is_empty();
        let live = self.read_live(&loc, |root| live_names(&root.join(&loc.rel), dir, is_root))?;
        let rel = &loc.rel;
        let lister = |root: &Path| visit::list(&root.join(rel), is_root);
        let mut progress = self.progress.take();
        let r = visit::visit(
            &snaps,
            loc.mountpoint.as_deref(),
            self.threads,
            &mut |p| report(&mut progress, p),
            &lister,
        );
        self.progress = progress;
        let listed: Vec<_> = snaps.into_iter().zip(r?).collect();
        if live.is_none() && listed.iter().all(|(_, l)| l.is_none()) {
            return Err(Error::new(ErrorKind::NotFound, OP)
                .with_name(dir.to_string_lossy())
                .with_detail(format!(
                    "no such directory in {} now nor in a snapshot",
                    loc.dataset
                )));
        }
        Ok(group::deleted(rel, &listed, &live.unwrap_or_default()))
    }

    /// The snapshots of `ds`, oldest first, from the incremental listing.
    fn snapshots(&mut self, ds: &DatasetName) -> Result<Vec<SnapshotInfoLite>> {
        let list = self.inventory.snapshots(&SnapshotQuery::new(ds))?;
        Ok(list
            .into_iter()
            .map(|s| SnapshotInfoLite {
                name: s.name,
                guid: s.guid,
            })
            .collect())
    }

    /// `f` on the live filesystem's root: its mount point, or a private read-only mount.
    fn read_live<T>(&self, loc: &Located, f: impl FnOnce(&Path) -> Result<T>) -> Result<T> {
        if let Some(m) = &loc.mountpoint {
            return f(m);
        }
        let root = live_root(&loc.dataset)?;
        let r = f(root.path());
        let _ = root.close();
        r
    }

    /// What each snapshot holds at `loc.rel`: remembered, or read (in parallel).
    fn held(
        &mut self,
        loc: &Located,
        snaps: &[SnapshotInfoLite],
    ) -> Result<Vec<(SnapshotName, Option<Seen>)>> {
        let verify = self.verify;
        let known = |s: &SnapshotInfoLite| {
            self.seen
                .get(&(s.guid, loc.rel.clone()))
                .filter(|v| !verify || v.as_ref().is_none_or(has_digest))
        };
        let todo: Vec<SnapshotName> = snaps
            .iter()
            .filter(|s| known(s).is_none())
            .map(|s| s.name.clone())
            .collect();
        let rel = &loc.rel;
        let observe = |root: &Path| visit::observe(&root.join(rel), verify).map(Some);
        let mut progress = self.progress.take();
        let r = visit::visit(
            &todo,
            loc.mountpoint.as_deref(),
            self.threads,
            &mut |p| report(&mut progress, p),
            &observe,
        );
        self.progress = progress;
        let read = r?;
        if self.seen.len() + todo.len() > REMEMBER {
            self.seen.clear();
        }
        let mut fresh: HashMap<&SnapshotName, Option<Seen>> = HashMap::new();
        for (name, v) in todo.iter().zip(read) {
            // `None`: the snapshot went away meanwhile; it holds nothing.
            fresh.insert(name, v.flatten());
        }
        let mut out = Vec::with_capacity(snaps.len());
        for s in snaps {
            let v = match fresh.remove(&s.name) {
                Some(v) => {
                    self.seen.insert((s.guid, rel.clone()), v.clone());
                    v
                }
                None => self.seen.get(&(s.guid, rel.clone())).cloned().flatten(),
            };
            out.push((s.name.clone(), v));
        }
        Ok(out)
    }
}

/// A regular file or symbolic link observed with verification has a digest.
fn has_digest(s: &Seen) -> bool {
    s.digest.is_some() || !matches!(s.file_type, FileType::File | FileType::Symlink)
}

/// A snapshot's name and GUID.
struct SnapshotInfoLite {
    name: SnapshotName,
    guid: u64,
}

fn report(f: &mut Option<ProgressFn<'_>>, p: &Progress) {
    if let Some(f) = f.as_mut() {
        f(p);
    }
}

/// The names in live directory `full`; `None` when it does not exist; an error when it is
/// not a directory.
fn live_names(full: &Path, user: &Path, is_root: bool) -> Result<Option<Vec<std::ffi::OsString>>> {
    match std::fs::symlink_metadata(full) {
        Ok(md) if !md.is_dir() => {
            return Err(Error::new(ErrorKind::InvalidArgument, OP)
                .with_name(user.to_string_lossy())
                .with_detail("not a directory"));
        }
        _ => {}
    }
    Ok(visit::list(full, is_root)?.map(|l| l.into_iter().map(|(n, _)| n).collect()))
}

/// Reads up to `max` bytes of `version` of `history`'s path: the live file when it is the
/// live version and still unchanged, else the copy in its first snapshot. A symbolic link
/// gives its target.
///
/// Errors: [`ErrorKind::InvalidArgument`] (a directory or another file type without
/// content), [`ErrorKind::NotFound`] (the live-only version changed since and no snapshot
/// holds it, or the snapshot is gone), and those of [`diff::snapshot_root`](snapshot_root).
///
/// ```no_run
/// use flocker_core::versions::{self, Search};
/// use std::path::Path;
///
/// let h = Search::new().versions(Path::new("/tank/home/alice/notes.txt"))?;
/// if let Some(oldest) = h.versions.first() {
///     let head = versions::contents(&h, oldest, 4096)?;
///     println!("{}", String::from_utf8_lossy(&head));
/// }
/// # Ok::<(), flocker_core::Error>(())
/// ```
pub fn contents(history: &History, version: &Version, max: u64) -> Result<Vec<u8>> {
    if !matches!(version.file_type, FileType::File | FileType::Symlink) {
        return Err(Error::new(ErrorKind::InvalidArgument, OP)
            .with_name(history.rel.to_string_lossy())
            .with_detail(format!("a {} has no contents to read", version.file_type)));
    }
    if version.live {
        let root = live_root(&history.dataset)?;
        let full = root.path().join(&history.rel);
        if still(&full, version) {
            let r = read_at(&full, version.file_type, max);
            let _ = root.close();
            return r;
        }
    }
    let Some(first) = version.snapshots.first() else {
        return Err(Error::new(ErrorKind::NotFound, OP)
            .with_name(history.rel.to_string_lossy())
            .with_detail("the live file changed since the search, and no snapshot holds it"));
    };
    let root = snapshot_root(first)?;
    let r = read_at(&root.path().join(&history.rel), version.file_type, max);
    let _ = root.close();
    r
}

/// Whether `full` is still `version` (type, size, modification time).
fn still(full: &Path, version: &Version) -> bool {
    visit::observe(full, false).ok().flatten().is_some_and(|s| {
        (s.file_type, s.size, s.mtime) == (version.file_type, version.size, version.mtime)
    })
}

fn read_at(full: &Path, ft: FileType, max: u64) -> Result<Vec<u8>> {
    if ft == FileType::Symlink {
        let t = std::fs::read_link(full).map_err(|e| io_err(OP, full, &e))?;
        let mut b = t.into_os_string().into_encoded_bytes();
        b.truncate(usize::try_from(max).unwrap_or(usize::MAX));
        return Ok(b);
    }
    let f = std::fs::File::open(full).map_err(|e| io_err(OP, full, &e))?;
    let mut out = Vec::new();
    f.take(max)
        .read_to_end(&mut out)
        .map_err(|e| io_err(OP, full, &e))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_clamps_threads() {
        let s = Search::new().threads(0).verify(true);
        assert_eq!(s.threads, 1);
        assert!(s.verify);
        let s = Search::default().threads(1000);
        assert_eq!(s.threads, Search::MAX_THREADS);
        assert!(!s.verify);
        assert!(Search::new().threads >= 1 && Search::new().threads <= 8);
    }

    #[test]
    fn bad_paths_are_invalid_argument() {
        let mut s = Search::new();
        for p in ["", "a\0b"] {
            let k = s.versions(Path::new(p)).err().map(|e| e.kind());
            assert_eq!(k, Some(ErrorKind::InvalidArgument), "{p:?}");
            let k = s.deleted(Path::new(p)).err().map(|e| e.kind());
            assert_eq!(k, Some(ErrorKind::InvalidArgument), "{p:?}");
        }
    }

    #[test]
    fn path_outside_zfs_is_not_found() {
        // The host has no ZFS mounted at the temporary directory (nor, usually, anywhere).
        if !crate::kernel::zfs_mounts().is_empty() {
            return;
        }
        let k = Search::new()
            .versions(&std::env::temp_dir())
            .err()
            .map(|e| e.kind());
        assert_eq!(k, Some(ErrorKind::NotFound));
    }

    #[test]
    fn contents_of_a_directory_is_invalid() {
        let h = History {
            dataset: DatasetName::new("tank/fs").expect("valid"),
            rel: PathBuf::from("d"),
            versions: Vec::new(),
        };
        let v = Version::new(Vec::new(), true, 3, Timestamp::default(), FileType::Dir);
        let k = contents(&h, &v, 10).err().map(|e| e.kind());
        assert_eq!(k, Some(ErrorKind::InvalidArgument));
    }
}
