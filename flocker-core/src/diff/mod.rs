//! What changed between two snapshots, or between a snapshot and the live filesystem, and
//! access to a snapshot's files: listing ([`browse`]) and bringing back one file or directory
//! ([`restore`](fn@restore)) without rolling anything back.
//!
//! # How the diff works
//!
//! Like `zfs diff`, but without spawning it and without the `ZFS_IOC_DIFF` ioctl: both trees
//! are walked through the filesystem (the snapshot through the ZPL control directory
//! `<mountpoint>/.zfs/snapshot/<snap>/`, or a private read-only mount when the dataset is not
//! mounted, see [`TreeRoot`]). Symbolic links are never followed and the walk stays on one
//! filesystem (nested datasets are not entered, `.zfs` is skipped).
//!
//! Entries are keyed by their inode number, which on ZFS is the object number and is stable
//! across snapshots, together with the birth time (`statx` `btime`, ZFS's `crtime`), which
//! tells a re-used object number apart (ZFS's `FS_IOC_GETVERSION` is not implemented, and the
//! generation `zfs diff` compares is not otherwise visible). The classification follows
//! `zfs diff` (`lib/libzfs/libzfs_diff.c`):
//!
//! - an object only in the older tree is [`ChangeKind::Removed`], only in the newer one
//!   [`ChangeKind::Added`] (one change per name when it has several hard links);
//! - an object in both whose file type changed is removed and added;
//! - an object in both with the same change time (`ctime`) is unchanged, even if its path
//!   differs (that happens when a parent directory was renamed: only the directory is
//!   reported, as `zfs diff` does);
//! - otherwise: [`ChangeKind::Modified`] when it kept a name (with the link count change for
//!   hard links, see [`Change::links_delta`]), else [`ChangeKind::Renamed`].
//!
//! Directories whose entries changed have a new `ctime` and so appear as modified, the root
//! included (path `""`, shown as `/`). Changes are sorted by path.
//!
//! Paths are relative to the dataset's root (`"dir/file"`; the root itself is `""`).
//!
//! # Restoring
//!
//! [`restore`](fn@restore) copies a file or a tree back under a temporary name and renames it
//! into place, with permission bits, owner, group, times, hard links and extended attributes
//! (every namespace the process can read: `user.*`, `trusted.*`, `security.*`, and the POSIX
//! ACLs `system.posix_acl_access`/`system.posix_acl_default`; those the destination does not
//! support are skipped, and on symbolic links those Linux refuses there). An existing
//! destination is refused, set aside ([`Existing::RenameAside`]) or, with
//! [`Existing::Overwrite`], replaced after a *guard snapshot* of the filesystem
//! (`<dataset>@guard-YYYYMMDDTHHMMSSZ`, never pruned by DataVault's retention) that keeps the
//! replaced version recoverable.
//!
//! # Example
//!
//! ```no_run
//! use flocker_core::diff::{Diff, Target};
//! use flocker_core::name::SnapshotName;
//!
//! let from = SnapshotName::new("tank/home@monday")?;
//! let changes = Diff::new().run(&from, &Target::Live(from.dataset()))?;
//! for c in &changes {
//!     println!("{} {}", c.kind.symbol(), c.display_path());
//! }
//! # Ok::<(), flocker_core::error::Error>(())
//! ```

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::error::{Error, ErrorKind, Result};
use crate::name::{DatasetName, SnapshotName};

mod classify;
mod restore;
pub(crate) mod snapdir;
mod walk;
mod xattr;

pub use restore::{Existing, RestoreOptions, RestoreReport, restore};
pub use snapdir::{TreeRoot, live_root, snapshot_root};

/// The kind of a file, with the letter `zfs diff -F` prints for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FileType {
    /// A regular file (`F`).
    File,
    /// A directory (`/`).
    Dir,
    /// A symbolic link (`@`).
    Symlink,
    /// A block device (`B`).
    BlockDevice,
    /// A character device (`C`).
    CharDevice,
    /// A named pipe (`|`).
    Fifo,
    /// A socket (`=`).
    Socket,
}

impl FileType {
    /// The type of `ft`.
    pub fn of(ft: std::fs::FileType) -> FileType {
        if ft.is_dir() {
            FileType::Dir
        } else if ft.is_symlink() {
            FileType::Symlink
        } else if ft.is_block_device() {
            FileType::BlockDevice
        } else if ft.is_char_device() {
            FileType::CharDevice
        } else if ft.is_fifo() {
            FileType::Fifo
        } else if ft.is_socket() {
            FileType::Socket
        } else {
            FileType::File
        }
    }

    /// The letter `zfs diff -F` prints (`F`, `/`, `@`, `B`, `C`, `|`, `=`).
    pub fn letter(self) -> char {
        match self {
            FileType::File => 'F',
            FileType::Dir => '/',
            FileType::Symlink => '@',
            FileType::BlockDevice => 'B',
            FileType::CharDevice => 'C',
            FileType::Fifo => '|',
            FileType::Socket => '=',
        }
    }

    /// A lower-case word: `file`, `dir`, `symlink`, `block`, `char`, `fifo`, `socket`.
    pub fn as_str(self) -> &'static str {
        match self {
            FileType::File => "file",
            FileType::Dir => "dir",
            FileType::Symlink => "symlink",
            FileType::BlockDevice => "block",
            FileType::CharDevice => "char",
            FileType::Fifo => "fifo",
            FileType::Socket => "socket",
        }
    }
}

impl fmt::Display for FileType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A point in time as the filesystem stores it: seconds since the Unix epoch and nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Timestamp {
    /// Seconds since 1970-01-01 UTC (negative before).
    pub sec: i64,
    /// Nanoseconds, 0..1e9.
    pub nsec: u32,
}

impl Timestamp {
    fn from_parts(sec: i64, nsec: i64) -> Timestamp {
        Timestamp {
            sec,
            nsec: u32::try_from(nsec.clamp(0, 999_999_999)).unwrap_or(0),
        }
    }

    fn from_system(t: std::time::SystemTime) -> Timestamp {
        match t.duration_since(std::time::UNIX_EPOCH) {
            Ok(d) => Timestamp {
                sec: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
                nsec: d.subsec_nanos(),
            },
            Err(e) => {
                let d = e.duration();
                let sec = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
                if d.subsec_nanos() == 0 {
                    Timestamp { sec: -sec, nsec: 0 }
                } else {
                    Timestamp {
                        sec: -sec - 1,
                        nsec: 1_000_000_000 - d.subsec_nanos(),
                    }
                }
            }
        }
    }
}

/// The metadata of one file that the diff compares and [`browse`] shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileMeta {
    /// The inode number: the ZFS object number.
    pub object: u64,
    /// The birth time (`statx` `btime`), when the kernel reports it.
    pub birth: Option<Timestamp>,
    /// The file type.
    pub file_type: FileType,
    /// The permission bits (`st_mode & 0o7777`).
    pub mode: u32,
    /// The owner.
    pub uid: u32,
    /// The group.
    pub gid: u32,
    /// The number of hard links.
    pub nlink: u64,
    /// The size in bytes (for a directory on ZFS: its number of entries plus 2).
    pub size: u64,
    /// The modification time.
    pub mtime: Timestamp,
    /// The change time (any change of content or metadata, renames included).
    pub ctime: Timestamp,
    /// The device number of a block or character device (0 otherwise).
    pub rdev: u64,
    pub(crate) dev: u64,
}

impl FileMeta {
    /// The metadata of `md` (from `symlink_metadata`).
    pub fn from_metadata(md: &std::fs::Metadata) -> FileMeta {
        FileMeta {
            object: md.ino(),
            birth: md.created().ok().map(Timestamp::from_system),
            file_type: FileType::of(md.file_type()),
            mode: md.mode() & 0o7777,
            uid: md.uid(),
            gid: md.gid(),
            nlink: md.nlink(),
            size: md.size(),
            mtime: Timestamp::from_parts(md.mtime(), md.mtime_nsec()),
            ctime: Timestamp::from_parts(md.ctime(), md.ctime_nsec()),
            rdev: md.rdev(),
            dev: md.dev(),
        }
    }

    /// The mode as `ls -l` prints it, e.g. `drwxr-xr-x`.
    pub fn mode_string(&self) -> String {
        let mut s = String::with_capacity(10);
        s.push(match self.file_type {
            FileType::File => '-',
            FileType::Dir => 'd',
            FileType::Symlink => 'l',
            FileType::BlockDevice => 'b',
            FileType::CharDevice => 'c',
            FileType::Fifo => 'p',
            FileType::Socket => 's',
        });
        let m = self.mode;
        let bit = |mask: u32, c: char| if m & mask != 0 { c } else { '-' };
        let special = |x: bool, special: u32, lower: char, upper: char| match (m & special != 0, x)
        {
            (true, true) => lower,
            (true, false) => upper,
            (false, true) => 'x',
            (false, false) => '-',
        };
        s.push(bit(0o400, 'r'));
        s.push(bit(0o200, 'w'));
        s.push(special(m & 0o100 != 0, 0o4000, 's', 'S'));
        s.push(bit(0o040, 'r'));
        s.push(bit(0o020, 'w'));
        s.push(special(m & 0o010 != 0, 0o2000, 's', 'S'));
        s.push(bit(0o004, 'r'));
        s.push(bit(0o002, 'w'));
        s.push(special(m & 0o001 != 0, 0o1000, 't', 'T'));
        s
    }
}

/// What kind of change a [`Change`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ChangeKind {
    /// The file was removed (`-`).
    Removed,
    /// The file was created (`+`).
    Added,
    /// The file changed in place: content, metadata, or hard links (`M`).
    Modified,
    /// The file was renamed, and maybe changed as well (`R`).
    Renamed,
}

impl ChangeKind {
    /// The symbol `zfs diff` prints: `-`, `+`, `M`, `R`.
    pub fn symbol(self) -> char {
        match self {
            ChangeKind::Removed => '-',
            ChangeKind::Added => '+',
            ChangeKind::Modified => 'M',
            ChangeKind::Renamed => 'R',
        }
    }

    /// A lower-case word: `removed`, `added`, `modified`, `renamed`.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Removed => "removed",
            ChangeKind::Added => "added",
            ChangeKind::Modified => "modified",
            ChangeKind::Renamed => "renamed",
        }
    }
}

/// One attribute that differs between the two versions of a modified or renamed file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Attribute {
    /// The size (for a directory: entries were added or removed).
    Size,
    /// The modification time (content written).
    Mtime,
    /// The permission bits.
    Mode,
    /// The owner or group.
    Owner,
    /// The number of hard links.
    Links,
    /// Only the change time: another metadata change (an extended attribute, an ACL, a
    /// rename).
    Ctime,
}

impl Attribute {
    /// A lower-case word: `size`, `mtime`, `mode`, `owner`, `links`, `ctime`.
    pub fn as_str(self) -> &'static str {
        match self {
            Attribute::Size => "size",
            Attribute::Mtime => "mtime",
            Attribute::Mode => "mode",
            Attribute::Owner => "owner",
            Attribute::Links => "links",
            Attribute::Ctime => "ctime",
        }
    }
}

/// One change between the two trees.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Change {
    /// What happened.
    pub kind: ChangeKind,
    /// The path (relative to the dataset's root, `""` for the root). For a rename, the old
    /// path.
    pub path: PathBuf,
    /// For a rename, the new path.
    pub new_path: Option<PathBuf>,
    /// The file type (the newer version's, except for a removal).
    pub file_type: FileType,
    /// The object number.
    pub object: u64,
    /// For a file (not a directory) whose link count changed: the change (`+1` when a hard
    /// link was added); 0 otherwise. `zfs diff` prints it as `(+1)`.
    pub links_delta: i64,
    /// Names the object gained (hard links added), for a link count change.
    pub linked: Vec<PathBuf>,
    /// Names the object lost (hard links removed), for a link count change.
    pub unlinked: Vec<PathBuf>,
    /// For a modified or renamed file, the attributes that differ (empty for added and
    /// removed files).
    pub attributes: Vec<Attribute>,
}

impl Change {
    /// The path as `zfs diff` shows it relative to the mountpoint: `/` for the root,
    /// `/dir/file` otherwise; for a rename `/old -> /new`.
    pub fn display_path(&self) -> String {
        match &self.new_path {
            Some(n) => format!("{} -> {}", slash(&self.path), slash(n)),
            None => slash(&self.path),
        }
    }
}

/// `rel` shown from the dataset's root: `/` + `rel` (lossy for non-UTF-8 names).
pub fn slash(rel: &Path) -> String {
    format!("/{}", rel.to_string_lossy())
}

/// The newer side of a diff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A snapshot of the same filesystem.
    Snapshot(SnapshotName),
    /// The filesystem itself, as it is now.
    Live(DatasetName),
}

impl Target {
    /// The filesystem the target belongs to.
    pub fn dataset(&self) -> DatasetName {
        match self {
            Target::Snapshot(s) => s.dataset(),
            Target::Live(d) => d.clone(),
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Snapshot(s) => f.write_str(s.as_str()),
            Target::Live(d) => f.write_str(d.as_str()),
        }
    }
}

/// Which part of the work a [`Progress`] report is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Walking the older snapshot.
    ScanFrom,
    /// Walking the newer snapshot or the live filesystem.
    ScanTo,
    /// Comparing the two trees.
    Compare,
    /// Finished.
    Done,
}

/// A progress report of a long diff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Progress {
    /// The current phase.
    pub phase: Phase,
    /// Entries seen so far in this phase.
    pub entries: u64,
}

type ProgressFn<'a> = Box<dyn FnMut(&Progress) + 'a>;

/// The diff runner: holds the progress callback.
pub struct Diff<'a> {
    progress: Option<ProgressFn<'a>>,
}

impl fmt::Debug for Diff<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Diff")
            .field("progress", &self.progress.is_some())
            .finish()
    }
}

impl Default for Diff<'_> {
    fn default() -> Self {
        Diff::new()
    }
}

impl<'a> Diff<'a> {
    /// A runner without a progress callback.
    pub fn new() -> Self {
        Diff { progress: None }
    }

    /// Calls `f` every few thousand entries while walking, and at each phase change.
    pub fn on_progress(mut self, f: impl FnMut(&Progress) + 'a) -> Self {
        self.progress = Some(Box::new(f));
        self
    }

    fn report(&mut self, phase: Phase, entries: u64) {
        if let Some(f) = self.progress.as_mut() {
            f(&Progress { phase, entries });
        }
    }

    /// The changes from `from` to `to`, sorted by path.
    ///
    /// Errors: [`ErrorKind::InvalidArgument`] (`to` is not of `from`'s filesystem, or a
    /// volume), [`ErrorKind::NotFound`] (no such filesystem or snapshot),
    /// [`ErrorKind::PermissionDenied`] (mounting or reading), [`ErrorKind::Io`], and those of
    /// [`snapshot_root`] and [`live_root`].
    pub fn run(&mut self, from: &SnapshotName, to: &Target) -> Result<Vec<Change>> {
        if to.dataset() != from.dataset() {
            return Err(Error::new(ErrorKind::InvalidArgument, OP_DIFF)
                .with_name(to.to_string())
                .with_detail(format!("not a snapshot of {}", from.dataset_str())));
        }
        let old_root = snapshot_root(from)?;
        let new_root = match to {
            Target::Snapshot(s) => snapshot_root(s)?,
            Target::Live(d) => live_root(d)?,
        };
        self.report(Phase::ScanFrom, 0);
        let old = walk::walk(old_root.path(), &mut |n| self.report(Phase::ScanFrom, n))?;
        self.report(Phase::ScanTo, 0);
        let new = walk::walk(new_root.path(), &mut |n| self.report(Phase::ScanTo, n))?;
        self.report(Phase::Compare, old.len() as u64 + new.len() as u64);
        let changes = classify::classify(&old, &new);
        new_root.close()?;
        old_root.close()?;
        self.report(Phase::Done, changes.len() as u64);
        Ok(changes)
    }
}

const OP_DIFF: &str = "diff";
const OP_BROWSE: &str = "browse";

/// One entry of a snapshot's directory, or the file [`browse`] was asked about.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Entry {
    /// The name (the last path component; `""` for the root).
    pub name: OsString,
    /// The path relative to the dataset's root.
    pub path: PathBuf,
    /// Its metadata.
    pub meta: FileMeta,
    /// For a symbolic link, where it points (not followed).
    pub link_target: Option<PathBuf>,
}

/// What [`browse`] found at a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listing {
    /// A directory and its entries, sorted by name (without `.` and `..`).
    Dir {
        /// The directory itself.
        dir: Entry,
        /// Its entries.
        entries: Vec<Entry>,
    },
    /// Anything that is not a directory.
    File(Entry),
}

/// Lists `path` (from the dataset's root, or absolute under its mountpoint: see
/// [`TreeRoot::resolve`]) in snapshot `snap`: a directory's entries, or a file's metadata.
///
/// Errors: [`ErrorKind::NotFound`] (no such filesystem, snapshot or path in the snapshot),
/// [`ErrorKind::InvalidArgument`] (a `..` component, a path through a symbolic link), and
/// those of [`snapshot_root`].
pub fn browse(snap: &SnapshotName, path: &str) -> Result<Listing> {
    let root = snapshot_root(snap)?;
    let rel = root.resolve(path)?;
    let full = root.path().join(&rel);
    let entry = entry_at(&full, &rel)?;
    let listing = if entry.meta.file_type == FileType::Dir {
        let mut entries = Vec::new();
        let rd = std::fs::read_dir(&full).map_err(|e| io_err(OP_BROWSE, &full, &e))?;
        for d in rd {
            let d = d.map_err(|e| io_err(OP_BROWSE, &full, &e))?;
            if rel.as_os_str().is_empty() && d.file_name() == ".zfs" {
                continue;
            }
            let p = d.path();
            match entry_at(&p, &rel.join(d.file_name())) {
                Ok(e) => entries.push(e),
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        Listing::Dir {
            dir: entry,
            entries,
        }
    } else {
        Listing::File(entry)
    };
    root.close()?;
    Ok(listing)
}

fn entry_at(full: &Path, rel: &Path) -> Result<Entry> {
    let md = std::fs::symlink_metadata(full).map_err(|e| io_err(OP_BROWSE, full, &e))?;
    let meta = FileMeta::from_metadata(&md);
    let link_target = if meta.file_type == FileType::Symlink {
        Some(std::fs::read_link(full).map_err(|e| io_err(OP_BROWSE, full, &e))?)
    } else {
        None
    };
    Ok(Entry {
        name: rel.file_name().map(OsString::from).unwrap_or_default(),
        path: rel.to_path_buf(),
        meta,
        link_target,
    })
}

/// An error from an I/O call on `path`, its kind from the errno.
pub(crate) fn io_err(op: &'static str, path: &Path, e: &std::io::Error) -> Error {
    crate::lzc::io_error(crate::lzc::Family::File, op, &path.to_string_lossy(), e)
}

/// The tree of one side: key → node.
pub(crate) type Tree = BTreeMap<walk::Key, walk::Node>;

#[cfg(test)]
mod tests;
