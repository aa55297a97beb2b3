//! Bringing back one file or directory from a snapshot, without rolling anything back.
//!
//! The copy is made under a temporary name next to the destination (`.NAME.flocker-restore-…`)
//! and renamed into place at the end, so the destination never holds a half-restored tree; on
//! any failure the temporary copy is removed and nothing else has changed. Regular files,
//! directories (recursively), symbolic links (not followed), named pipes, sockets and device
//! nodes are restored with their permission bits, owner, group, access and modification
//! times; hard links between restored files are kept. Extended attributes, ACLs and holes in
//! sparse files are not (yet) carried over.
//!
//! An existing destination is never overwritten: by default the restore is refused
//! ([`ErrorKind::Exists`]); with [`Existing::RenameAside`] the existing file is first renamed
//! to `NAME.before-restore-SNAP` (or `NAME.before-restore-SNAP.N` when that is taken) in the
//! same directory, and the report says so.

use std::collections::HashMap;
use std::ffi::{CString, OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::snapdir::TreeRoot;
use super::{FileType, io_err, snapshot_root};
use crate::error::{Error, ErrorKind, Result};
use crate::name::SnapshotName;

const OP: &str = "restore";

/// What to do when the destination exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Existing {
    /// Refuse with [`ErrorKind::Exists`]; nothing is changed.
    #[default]
    Refuse,
    /// Rename the existing file aside (`NAME.before-restore-SNAP`) and restore.
    RenameAside,
}

/// How to restore.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RestoreOptions {
    /// Where to put the restored file or directory (its exact new path). `None`: the same
    /// path in the live filesystem, which must then be mounted.
    pub dest: Option<PathBuf>,
    /// What to do when the destination exists.
    pub existing: Existing,
}

/// What a restore did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RestoreReport {
    /// The restored path, relative to the dataset's root.
    pub source: PathBuf,
    /// Where it was restored.
    pub dest: PathBuf,
    /// Where the file that was at the destination was renamed to, if there was one.
    pub set_aside: Option<PathBuf>,
    /// Regular files restored (each hard link counts once).
    pub files: u64,
    /// Directories restored.
    pub dirs: u64,
    /// Symbolic links restored.
    pub symlinks: u64,
    /// Other special files (pipes, sockets, devices) restored.
    pub special: u64,
    /// Extra names made for hard links.
    pub hard_links: u64,
    /// Bytes of file content copied.
    pub bytes: u64,
}

/// Restores `path` (relative to the dataset's root, or absolute under its mountpoint) from
/// snapshot `snap`, without rolling anything back.
///
/// The copy is made under a temporary name next to the destination and renamed into place at
/// the end; on any failure the temporary copy is removed and nothing else has changed.
/// Regular files, directories (recursively), symbolic links (not followed), pipes, sockets
/// and device nodes keep their permission bits, owner, group, access and modification times;
/// hard links between restored files are kept. Extended attributes, ACLs and holes in sparse
/// files are not carried over.
///
/// An existing destination is never overwritten: with [`Existing::Refuse`] the call fails
/// with [`ErrorKind::Exists`] and changes nothing; with [`Existing::RenameAside`] the
/// existing file is first renamed to `NAME.before-restore-SNAP` (or `….N` when taken) in the
/// same directory, and [`RestoreReport::set_aside`] says where.
///
/// Errors: [`ErrorKind::NotFound`] (no such filesystem, snapshot, path in the snapshot, or
/// destination directory), [`ErrorKind::InvalidArgument`] (a bad path, the dataset's root
/// without a destination, no destination for an unmounted filesystem),
/// [`ErrorKind::Exists`] (the destination exists and `existing` is [`Existing::Refuse`]),
/// [`ErrorKind::PermissionDenied`] (e.g. setting the owner without privileges),
/// [`ErrorKind::NoSpace`], [`ErrorKind::Io`].
///
/// # Example
///
/// ```no_run
/// use flocker_core::SnapshotName;
/// use flocker_core::diff::{self, Existing, RestoreOptions};
///
/// let monday = SnapshotName::new("tank/home@monday")?;
/// let opts = RestoreOptions {
///     existing: Existing::RenameAside,
///     ..RestoreOptions::default()
/// };
/// let report = diff::restore(&monday, "docs/report.odt", &opts)?;
/// if let Some(old) = &report.set_aside {
///     println!("the current file is now {}", old.display());
/// }
/// # Ok::<(), flocker_core::Error>(())
/// ```
pub fn restore(snap: &SnapshotName, path: &str, opts: &RestoreOptions) -> Result<RestoreReport> {
    let root = snapshot_root(snap)?;
    let rel = root.resolve(path)?;
    let dest = destination(snap, &root, &rel, opts)?;
    let (parent, name) = destination_dir(&dest)?;
    let exists = std::fs::symlink_metadata(&dest).is_ok();
    if exists && opts.existing == Existing::Refuse {
        return Err(Error::new(ErrorKind::Exists, OP)
            .with_name(dest.to_string_lossy())
            .with_detail("the destination exists; nothing was changed"));
    }
    let src = root.path().join(&rel);
    let tmp = temporary_name(parent, name)?;
    let mut report = RestoreReport {
        source: rel.clone(),
        dest: dest.clone(),
        set_aside: None,
        files: 0,
        dirs: 0,
        symlinks: 0,
        special: 0,
        hard_links: 0,
        bytes: 0,
    };
    let mut links = HashMap::new();
    if let Err(e) = copy_tree(&src, &tmp, &mut links, &mut report) {
        let _ = remove_tree(&tmp);
        return Err(e);
    }
    put_in_place(&tmp, &dest, exists.then(|| snap.short_name()), &mut report)?;
    // The restore is done: a private mount that cannot be removed now is removed on drop at
    // the latest, and is no reason to report a failure.
    let _ = root.close();
    Ok(report)
}

/// Where `rel` (of `root`, the tree of `snap`) is restored: `opts.dest`, or the same path in
/// the mounted live filesystem (never its root).
fn destination(
    snap: &SnapshotName,
    root: &TreeRoot,
    rel: &Path,
    opts: &RestoreOptions,
) -> Result<PathBuf> {
    if let Some(d) = &opts.dest {
        return Ok(d.clone());
    }
    let Some(m) = root.live_mountpoint() else {
        return Err(Error::new(ErrorKind::InvalidArgument, OP)
            .with_name(snap.dataset_str())
            .with_detail("the filesystem is not mounted: give a destination (--to)"));
    };
    if rel.as_os_str().is_empty() {
        return Err(Error::new(ErrorKind::InvalidArgument, OP)
            .with_name(snap.as_str())
            .with_detail(
                "restoring the whole root onto itself: give a destination (--to), \
                 or roll back",
            ));
    }
    Ok(m.join(rel))
}

/// The directory of `dest` (`.` for a bare name), which must exist, and `dest`'s file name.
fn destination_dir(dest: &Path) -> Result<(&Path, &OsStr)> {
    let (Some(parent), Some(name)) = (dest.parent(), dest.file_name()) else {
        return Err(Error::new(ErrorKind::InvalidArgument, OP)
            .with_name(dest.to_string_lossy())
            .with_detail("not a path to a file"));
    };
    let parent = if parent.as_os_str().is_empty() {
        Path::new(".")
    } else {
        parent
    };
    let pmd = std::fs::metadata(parent).map_err(|e| {
        io_err(OP, parent, &e).with_detail("the destination's directory does not exist")
    })?;
    if !pmd.is_dir() {
        return Err(Error::new(ErrorKind::NotFound, OP)
            .with_name(parent.to_string_lossy())
            .with_detail("the destination's directory is not a directory"));
    }
    Ok((parent, name))
}

/// A free temporary name next to the destination: `.NAME.flocker-restore-PID-N` in `parent`.
fn temporary_name(parent: &Path, name: &OsStr) -> Result<PathBuf> {
    for n in 0..1000u32 {
        let mut t = OsString::from(".");
        t.push(name);
        t.push(format!(".flocker-restore-{}-{n}", std::process::id()));
        let cand = parent.join(t);
        if std::fs::symlink_metadata(&cand).is_err() {
            return Ok(cand);
        }
    }
    Err(Error::new(ErrorKind::Exists, OP)
        .with_name(parent.to_string_lossy())
        .with_detail("no free temporary name"))
}

/// Renames the restored copy `tmp` to `dest`, after setting the existing `dest` aside when
/// `aside_of` names the snapshot (`report.set_aside` says where). On failure `tmp` is removed
/// and the file set aside is put back.
fn put_in_place(
    tmp: &Path,
    dest: &Path,
    aside_of: Option<&str>,
    report: &mut RestoreReport,
) -> Result<()> {
    if let Some(snap) = aside_of {
        let Some(aside) = aside_name(dest, snap) else {
            let _ = remove_tree(tmp);
            return Err(Error::new(ErrorKind::Exists, OP)
                .with_name(dest.to_string_lossy())
                .with_detail("no free name to set the existing file aside"));
        };
        if let Err(e) = rename_noreplace(dest, &aside) {
            let _ = remove_tree(tmp);
            return Err(e);
        }
        report.set_aside = Some(aside);
    }
    if let Err(e) = rename_noreplace(tmp, dest) {
        if let Some(a) = &report.set_aside {
            let _ = rename_noreplace(a, dest);
        }
        let _ = remove_tree(tmp);
        return Err(e);
    }
    Ok(())
}

/// `NAME.before-restore-SNAP`, or with `.N` appended, that does not exist.
fn aside_name(dest: &Path, snap: &str) -> Option<PathBuf> {
    let name = dest.file_name()?;
    for n in 0..1000u32 {
        let mut s = OsString::from(name);
        s.push(format!(".before-restore-{snap}"));
        if n > 0 {
            s.push(format!(".{n}"));
        }
        let cand = dest.with_file_name(s);
        if std::fs::symlink_metadata(&cand).is_err() {
            return Some(cand);
        }
    }
    None
}

fn cpath(p: &Path) -> Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| {
        Error::new(ErrorKind::InvalidArgument, OP)
            .with_name(p.to_string_lossy())
            .with_detail("NUL in path")
    })
}

fn last_err(p: &Path) -> Error {
    io_err(OP, p, &std::io::Error::last_os_error())
}

/// Renames `from` to `to`, failing with [`ErrorKind::Exists`] if `to` exists.
fn rename_noreplace(from: &Path, to: &Path) -> Result<()> {
    let a = cpath(from)?;
    let b = cpath(to)?;
    // SAFETY: two NUL-terminated paths alive for the call; AT_FDCWD directories.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if rc == 0 {
        return Ok(());
    }
    let e = std::io::Error::last_os_error();
    if e.raw_os_error() != Some(libc::EINVAL) {
        return Err(io_err(OP, to, &e));
    }
    // The filesystem does not take the flag (older ZFS): check, then rename.
    if std::fs::symlink_metadata(to).is_ok() {
        return Err(Error::new(ErrorKind::Exists, OP)
            .with_name(to.to_string_lossy())
            .with_detail("appeared while restoring; nothing was overwritten"));
    }
    std::fs::rename(from, to).map_err(|e| io_err(OP, to, &e))
}

fn remove_tree(p: &Path) -> std::io::Result<()> {
    match std::fs::symlink_metadata(p) {
        Ok(md) if md.is_dir() => std::fs::remove_dir_all(p),
        Ok(_) => std::fs::remove_file(p),
        Err(e) => Err(e),
    }
}

/// Copies `src` to the new path `dst` (which must not exist), recursively, with metadata.
fn copy_tree(
    src: &Path,
    dst: &Path,
    links: &mut HashMap<(u64, u64), PathBuf>,
    report: &mut RestoreReport,
) -> Result<()> {
    let md = std::fs::symlink_metadata(src).map_err(|e| io_err(OP, src, &e))?;
    let ft = FileType::of(md.file_type());
    if ft != FileType::Dir && md.nlink() > 1 {
        if let Some(first) = links.get(&(md.dev(), md.ino())) {
            std::fs::hard_link(first, dst).map_err(|e| io_err(OP, dst, &e))?;
            report.hard_links += 1;
            return Ok(());
        }
        links.insert((md.dev(), md.ino()), dst.to_path_buf());
    }
    match ft {
        FileType::File => {
            let mut from = std::fs::File::open(src).map_err(|e| io_err(OP, src, &e))?;
            let mut to = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(dst)
                .map_err(|e| io_err(OP, dst, &e))?;
            report.bytes += std::io::copy(&mut from, &mut to).map_err(|e| io_err(OP, dst, &e))?;
            to.sync_all().map_err(|e| io_err(OP, dst, &e))?;
            report.files += 1;
        }
        FileType::Dir => {
            std::fs::create_dir(dst).map_err(|e| io_err(OP, dst, &e))?;
            std::fs::set_permissions(dst, std::fs::Permissions::from_mode(0o700))
                .map_err(|e| io_err(OP, dst, &e))?;
            let rd = std::fs::read_dir(src).map_err(|e| io_err(OP, src, &e))?;
            for ent in rd {
                let ent = ent.map_err(|e| io_err(OP, src, &e))?;
                copy_tree(&ent.path(), &dst.join(ent.file_name()), links, report)?;
            }
            report.dirs += 1;
        }
        FileType::Symlink => {
            let target = std::fs::read_link(src).map_err(|e| io_err(OP, src, &e))?;
            std::os::unix::fs::symlink(&target, dst).map_err(|e| io_err(OP, dst, &e))?;
            report.symlinks += 1;
        }
        FileType::Fifo | FileType::Socket | FileType::BlockDevice | FileType::CharDevice => {
            let c = cpath(dst)?;
            // SAFETY: a NUL-terminated path alive for the call; mode and device from stat.
            let rc = unsafe {
                libc::mknod(
                    c.as_ptr(),
                    (md.mode() & (libc::S_IFMT | 0o600)) as libc::mode_t,
                    md.rdev() as libc::dev_t,
                )
            };
            if rc != 0 {
                return Err(last_err(dst));
            }
            report.special += 1;
        }
    }
    set_meta(dst, &md, ft)
}

/// Owner, then mode (chown clears set-id bits), then times, of the restored `dst`.
fn set_meta(dst: &Path, md: &std::fs::Metadata, ft: FileType) -> Result<()> {
    let c = cpath(dst)?;
    // SAFETY: a NUL-terminated path alive for the call; lchown does not follow symlinks.
    if unsafe { libc::lchown(c.as_ptr(), md.uid(), md.gid()) } != 0 {
        return Err(last_err(dst).with_detail("cannot set the owner (are you root?)"));
    }
    if ft != FileType::Symlink {
        std::fs::set_permissions(dst, std::fs::Permissions::from_mode(md.mode() & 0o7777))
            .map_err(|e| io_err(OP, dst, &e))?;
    }
    let times = [
        libc::timespec {
            tv_sec: md.atime() as libc::time_t,
            tv_nsec: md.atime_nsec() as _,
        },
        libc::timespec {
            tv_sec: md.mtime() as libc::time_t,
            tv_nsec: md.mtime_nsec() as _,
        },
    ];
    // SAFETY: a NUL-terminated path and an array of two timespecs, alive for the call.
    let rc = unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            c.as_ptr(),
            times.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if rc != 0 {
        return Err(last_err(dst));
    }
    Ok(())
}
