//! Bringing back one file or directory from a snapshot, without rolling anything back.
//!
//! The copy is made under a temporary name next to the destination (`.NAME.flocker-restore-…`)
//! and renamed into place at the end, so the destination never holds a half-restored tree; on
//! any failure the temporary copy is removed and nothing else has changed. Regular files,
//! directories (recursively), symbolic links (not followed), named pipes, sockets and device
//! nodes are restored with their permission bits, owner, group, access and modification
//! times, and their extended attributes — every namespace the process can read: `user.*`,
//! `trusted.*`, `security.*`, and the POSIX ACLs (`system.posix_acl_access`,
//! `system.posix_acl_default`); attributes the destination's filesystem does not support are
//! skipped, and on symbolic links only those Linux allows there. Hard links between restored
//! files are kept. Holes in sparse files are not (yet) carried over.
//!
//! An existing destination is by default never overwritten: the restore is refused
//! ([`ErrorKind::Exists`]); with [`Existing::RenameAside`] the existing file is first renamed
//! to `NAME.before-restore-SNAP` (or `NAME.before-restore-SNAP.N` when that is taken) in the
//! same directory, and the report says so. With [`Existing::Overwrite`] a *guard snapshot* of
//! the filesystem is taken first (`<dataset>@guard-YYYYMMDDTHHMMSSZ`, `-N` appended when
//! taken; DataVault's retention never prunes it), so the replaced version stays recoverable;
//! then the destination is replaced: a file by one `rename(2)` over it (atomic), a directory
//! by renaming the old one aside, the new one in, and removing the old one. Nothing else is
//! touched.

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
    /// Take a guard snapshot of the filesystem, then replace the existing file or directory
    /// ([`RestoreReport::guard`] names the snapshot). Only for a destination inside the
    /// snapshot's filesystem as it is mounted now.
    Overwrite,
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
    /// Extended attributes set (ACLs included).
    pub xattrs: u64,
    /// The guard snapshot taken before overwriting ([`Existing::Overwrite`] with an existing
    /// destination).
    pub guard: Option<SnapshotName>,
}

impl RestoreReport {
    fn new(source: PathBuf, dest: PathBuf) -> RestoreReport {
        RestoreReport {
            source,
            dest,
            set_aside: None,
            files: 0,
            dirs: 0,
            symlinks: 0,
            special: 0,
            hard_links: 0,
            bytes: 0,
            xattrs: 0,
            guard: None,
        }
    }
}

/// Restores `path` (relative to the dataset's root, or absolute under its mountpoint) from
/// snapshot `snap`, without rolling anything back.
///
/// The copy is made under a temporary name next to the destination and renamed into place at
/// the end; on any failure the temporary copy is removed and nothing else has changed.
/// Regular files, directories (recursively), symbolic links (not followed), pipes, sockets
/// and device nodes keep their permission bits, owner, group, access and modification times
/// and extended attributes (POSIX ACLs included, see [the module documentation](crate::diff#restoring));
/// hard links between restored files are kept. Holes in sparse files are not carried over.
///
/// With [`Existing::Refuse`] an existing destination makes the call fail with
/// [`ErrorKind::Exists`] and change nothing; with [`Existing::RenameAside`] the existing file
/// is first renamed to `NAME.before-restore-SNAP` (or `….N` when taken) in the same
/// directory, and [`RestoreReport::set_aside`] says where; with [`Existing::Overwrite`] a
/// guard snapshot is taken ([`RestoreReport::guard`]) and the destination replaced.
///
/// Errors: [`ErrorKind::NotFound`] (no such filesystem, snapshot, path in the snapshot, or
/// destination directory), [`ErrorKind::InvalidArgument`] (a bad path, the dataset's root
/// without a destination, no destination for an unmounted filesystem, an overwrite outside
/// the filesystem's live mount),
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
    let overwrite = exists && opts.existing == Existing::Overwrite;
    if opts.existing == Existing::Overwrite {
        inside_live_mount(snap, &root, parent)?;
    }
    let src = root.path().join(&rel);
    let tmp = temporary_name(parent, name, "restore")?;
    let mut report = RestoreReport::new(rel.clone(), dest.clone());
    if overwrite {
        report.guard = Some(take_guard(&snap.dataset())?);
    }
    let mut links = HashMap::new();
    if let Err(e) = copy_tree(&src, &tmp, &mut links, &mut report) {
        let _ = remove_tree(&tmp);
        return Err(e);
    }
    if overwrite {
        replace(&tmp, &dest, parent, name, &mut report)?;
    } else {
        let aside = exists.then(|| snap.short_name());
        put_in_place(&tmp, &dest, aside, &mut report)?;
    }
    // The restore is done: a private mount that cannot be removed now is removed on drop at
    // the latest, and is no reason to report a failure.
    let _ = root.close();
    Ok(report)
}

/// Checks that directory `parent` is on `snap`'s filesystem as it is mounted now (the same
/// device as its mount point; a nested filesystem is another one).
fn inside_live_mount(snap: &SnapshotName, root: &TreeRoot, parent: &Path) -> Result<()> {
    let dev = |p: &Path| std::fs::metadata(p).map(|m| m.dev()).ok();
    let ok = match root.live_mountpoint() {
        Some(m) => dev(&m.join(".")).is_some() && dev(&m.join(".")) == dev(parent),
        None => false,
    };
    if ok {
        return Ok(());
    }
    Err(Error::new(ErrorKind::InvalidArgument, OP)
        .with_name(parent.to_string_lossy())
        .with_detail(format!(
            "overwriting works only inside {} as it is mounted now (the guard snapshot \
             must hold what is replaced); restore elsewhere with a destination instead",
            snap.dataset_str()
        )))
}

/// The guard snapshot's short name for time `t`: `guard-YYYYMMDDTHHMMSSZ`, with `-N` for
/// `n > 1`.
pub(crate) fn guard_name(t: time::OffsetDateTime, n: u32) -> String {
    let stamp = crate::vault::scheme::snap_name(t);
    let stamp = stamp
        .strip_prefix(crate::vault::scheme::PREFIX)
        .unwrap_or(&stamp);
    if n > 1 {
        format!("guard-{stamp}-{n}")
    } else {
        format!("guard-{stamp}")
    }
}

/// Takes the guard snapshot of `ds` (one `lzc_snapshot`), under the first free name.
fn take_guard(ds: &crate::name::DatasetName) -> Result<SnapshotName> {
    let now = time::OffsetDateTime::now_utc();
    for n in 1..=100 {
        let short = guard_name(now, n);
        match crate::snapshot::snapshot(std::slice::from_ref(ds), &short, &[]) {
            Ok(mut taken) => {
                if let Some(s) = taken.pop() {
                    return Ok(s);
                }
            }
            Err(e) if e.kind() == ErrorKind::Exists => continue,
            Err(e) => {
                return Err(e.with_detail("taking the guard snapshot; nothing was changed"));
            }
        }
    }
    Err(Error::new(ErrorKind::Exists, OP)
        .with_name(ds.as_str())
        .with_detail("no free guard snapshot name; nothing was changed"))
}

/// Replaces the existing `dest` with the restored copy `tmp`: one rename over it when
/// neither is a directory, else the old one renamed aside, the new one in, the old one
/// removed (if that fails, `report.set_aside` says where it is). On failure `tmp` is removed
/// and `dest` is as it was.
fn replace(
    tmp: &Path,
    dest: &Path,
    parent: &Path,
    name: &OsStr,
    report: &mut RestoreReport,
) -> Result<()> {
    let is_dir = |p: &Path| std::fs::symlink_metadata(p).is_ok_and(|m| m.is_dir());
    if !is_dir(dest) && !is_dir(tmp) {
        return std::fs::rename(tmp, dest).map_err(|e| {
            let _ = remove_tree(tmp);
            io_err(OP, dest, &e)
        });
    }
    let old = temporary_name(parent, name, "old").inspect_err(|_| {
        let _ = remove_tree(tmp);
    })?;
    if let Err(e) = rename_noreplace(dest, &old) {
        let _ = remove_tree(tmp);
        return Err(e);
    }
    if let Err(e) = rename_noreplace(tmp, dest) {
        let _ = rename_noreplace(&old, dest);
        let _ = remove_tree(tmp);
        return Err(e);
    }
    if remove_tree(&old).is_err() {
        report.set_aside = Some(old);
    }
    Ok(())
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

/// A free temporary name next to the destination: `.NAME.flocker-WHAT-PID-N` in `parent`.
fn temporary_name(parent: &Path, name: &OsStr, what: &str) -> Result<PathBuf> {
    for n in 0..1000u32 {
        let mut t = OsString::from(".");
        t.push(name);
        t.push(format!(".flocker-{what}-{}-{n}", std::process::id()));
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
    set_owner_mode(dst, &md, ft)?;
    // After the owner (chown drops `security.capability`), before the times.
    report.xattrs += super::xattr::copy(src, dst, ft == FileType::Symlink)?;
    set_times(dst, &md)
}

/// Owner, then mode (chown clears set-id bits), of the restored `dst`.
fn set_owner_mode(dst: &Path, md: &std::fs::Metadata, ft: FileType) -> Result<()> {
    let c = cpath(dst)?;
    // SAFETY: a NUL-terminated path alive for the call; lchown does not follow symlinks.
    if unsafe { libc::lchown(c.as_ptr(), md.uid(), md.gid()) } != 0 {
        return Err(last_err(dst).with_detail("cannot set the owner (are you root?)"));
    }
    if ft != FileType::Symlink {
        std::fs::set_permissions(dst, std::fs::Permissions::from_mode(md.mode() & 0o7777))
            .map_err(|e| io_err(OP, dst, &e))?;
    }
    Ok(())
}

/// The access and modification times of the restored `dst` (not followed).
fn set_times(dst: &Path, md: &std::fs::Metadata) -> Result<()> {
    let c = cpath(dst)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guard_names() {
        let t = time::macros::datetime!(2026-12-06 09:15:07 +01:00);
        assert_eq!(guard_name(t, 1), "guard-20261206T081507Z");
        assert_eq!(guard_name(t, 2), "guard-20261206T081507Z-2");
        // Foreign to DataVault's retention.
        assert!(!crate::vault::scheme::is_scheme_name(&guard_name(t, 1)));
    }

    #[test]
    fn replace_a_file_and_a_directory() {
        let dir = std::env::temp_dir().join(format!("flocker-replace-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("d/old")).expect("mkdir");
        std::fs::create_dir_all(dir.join("new/inner")).expect("mkdir");
        std::fs::write(dir.join("f"), b"old").expect("write");
        std::fs::write(dir.join("g"), b"new").expect("write");
        std::fs::write(dir.join("other"), b"keep").expect("write");
        let mut r = RestoreReport::new(PathBuf::new(), PathBuf::new());
        replace(
            &dir.join("g"),
            &dir.join("f"),
            &dir,
            OsStr::new("f"),
            &mut r,
        )
        .expect("file");
        assert_eq!(std::fs::read(dir.join("f")).expect("read"), b"new");
        assert!(!dir.join("g").exists());
        replace(
            &dir.join("new"),
            &dir.join("d"),
            &dir,
            OsStr::new("d"),
            &mut r,
        )
        .expect("dir");
        assert!(dir.join("d/inner").is_dir() && !dir.join("d/old").exists());
        let mut names: Vec<_> = std::fs::read_dir(&dir)
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        names.sort();
        assert_eq!(names, ["d", "f", "other"]);
        assert_eq!(r.set_aside, None);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
