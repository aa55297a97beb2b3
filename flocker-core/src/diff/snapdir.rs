//! Where a snapshot's (or a filesystem's) files can be read.
//!
//! A mounted filesystem shows each snapshot under its ZPL control directory,
//! `<mountpoint>/.zfs/snapshot/<snap>/`, which the kernel mounts on first access (whatever
//! `snapdir` says: `hidden` only hides `.zfs` from directory listings). When the filesystem is
//! not mounted (`mountpoint=none` or `legacy`, `canmount=off`), or the automount did not
//! happen, the snapshot is mounted read-only with `mount(2)` (type `zfs`, source
//! `pool/fs@snap`) on a private directory under the temporary directory, and unmounted when
//! the [`TreeRoot`] is closed or dropped. A live filesystem that is not mounted is mounted the
//! same way, read-only.

use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use super::io_err;
use crate::error::{Error, ErrorKind, Result};
use crate::inventory::Inventory;
use crate::lzc::{self, DatasetType};
use crate::name::{DatasetName, SnapshotName};

const OP: &str = "snapshot files";

static SEQ: AtomicU32 = AtomicU32::new(0);

/// The root of a tree of files to read: a snapshot's directory or a mounted filesystem.
///
/// When this value mounted something itself, [`TreeRoot::close`] (or dropping it) unmounts it
/// and removes the private directory.
#[derive(Debug)]
pub struct TreeRoot {
    path: PathBuf,
    mountpoint: Option<PathBuf>,
    own_mount: bool,
}

impl TreeRoot {
    /// The directory whose contents are the tree.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where the filesystem is mounted now, if it is (absolute paths given by a user are
    /// taken relative to it).
    pub fn live_mountpoint(&self) -> Option<&Path> {
        self.mountpoint.as_deref()
    }

    /// Whether the tree is on a private mount made by this value.
    pub fn is_private_mount(&self) -> bool {
        self.own_mount
    }

    /// Turns `user` into a path relative to the tree's root, checked: it exists (without
    /// following a symbolic link in its last component), it goes through no symbolic link,
    /// it does not escape the root.
    ///
    /// `user` is from the dataset's root (`a/b` or `/a/b`, as a diff shows paths); an
    /// absolute path under the live mountpoint is taken from there (`/tank/home/a/b` is `a/b`
    /// when the dataset is mounted at `/tank/home`).
    ///
    /// Errors: [`ErrorKind::InvalidArgument`] (a `..` component, a path through a symbolic
    /// link), [`ErrorKind::NotFound`] (nothing there in the snapshot).
    pub fn resolve(&self, user: &str) -> Result<PathBuf> {
        let rel = normalize(user, self.mountpoint.as_deref())?;
        let mut cur = self.path.clone();
        let mut so_far = PathBuf::new();
        let n = rel.components().count();
        for (i, c) in rel.components().enumerate() {
            cur.push(c);
            so_far.push(c);
            let md = std::fs::symlink_metadata(&cur).map_err(|e| {
                let err = io_err(OP, &so_far, &e);
                if err.kind() == ErrorKind::NotFound {
                    err.with_detail(
                        "no such file or directory in the snapshot (paths are from the \
                         dataset's root, or absolute under its mountpoint)",
                    )
                } else {
                    err
                }
            })?;
            if i + 1 < n && !md.is_dir() {
                let what = if md.file_type().is_symlink() {
                    "goes through a symbolic link"
                } else {
                    "goes through something that is not a directory"
                };
                return Err(Error::new(ErrorKind::InvalidArgument, OP)
                    .with_name(user)
                    .with_detail(format!("{what} ({})", so_far.display())));
            }
        }
        Ok(rel)
    }

    /// Unmounts what this value mounted and removes its private directory.
    ///
    /// Errors: [`ErrorKind::Busy`] (something still uses the mount; it is left mounted).
    pub fn close(mut self) -> Result<()> {
        self.release()
    }

    fn release(&mut self) -> Result<()> {
        if !self.own_mount {
            return Ok(());
        }
        crate::kernel::unmount(&self.path)?;
        self.own_mount = false;
        let _ = std::fs::remove_dir(&self.path);
        Ok(())
    }
}

impl Drop for TreeRoot {
    fn drop(&mut self) {
        let _ = self.release();
    }
}

/// Normalises a user path into a relative one (pure).
pub(crate) fn normalize(user: &str, mountpoint: Option<&Path>) -> Result<PathBuf> {
    let bad = |why: &str| {
        Error::new(ErrorKind::InvalidArgument, OP)
            .with_name(user)
            .with_detail(why.to_string())
    };
    if user.as_bytes().contains(&0) {
        return Err(bad("NUL in path"));
    }
    let p = Path::new(user);
    // An absolute path under the live mountpoint is taken from there; any other absolute
    // path from the dataset's root (as `datavault diff` prints paths).
    let rel: &Path = match mountpoint {
        Some(m) if p.is_absolute() => p.strip_prefix(m).unwrap_or(p),
        _ => p,
    };
    let mut out = PathBuf::new();
    for c in rel.components() {
        match c {
            Component::Normal(x) => out.push(x),
            Component::CurDir => {}
            Component::ParentDir => return Err(bad("`..` is not allowed")),
            Component::RootDir => {}
            Component::Prefix(_) => return Err(bad("not a relative path")),
        }
    }
    Ok(out)
}

/// Checks that `ds` is an existing filesystem; returns where it is mounted now.
pub(crate) fn mounted_filesystem(op: &'static str, ds: &DatasetName) -> Result<Option<PathBuf>> {
    let info = Inventory::new().dataset(ds).map_err(|e| {
        if e.kind() == ErrorKind::NotFound {
            Error::new(ErrorKind::NotFound, op)
                .with_name(ds.as_str())
                .with_detail("no such filesystem")
        } else {
            e
        }
    })?;
    if info.kind != DatasetType::Filesystem {
        return Err(Error::new(ErrorKind::InvalidArgument, op)
            .with_name(ds.as_str())
            .with_detail("not a filesystem (a volume has no files to read)"));
    }
    let mounts = crate::kernel::zfs_mounts();
    let here: Vec<&String> = mounts
        .iter()
        .filter(|(src, _)| src == ds.as_str())
        .map(|(_, m)| m)
        .collect();
    // Prefer the mount at the `mountpoint` property; else any mount (legacy).
    let prop = info.mountpoint.as_deref().filter(|m| m.starts_with('/'));
    let chosen = here
        .iter()
        .find(|m| Some(m.as_str()) == prop)
        .or_else(|| here.first())
        .map(|m| PathBuf::from(m.as_str()));
    Ok(chosen)
}

fn dev_of(p: &Path) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(p).ok().map(|m| m.dev())
}

/// The files of snapshot `snap`: its control directory when the filesystem is mounted, else a
/// private read-only mount.
///
/// Errors: [`ErrorKind::NotFound`] (no such filesystem or snapshot),
/// [`ErrorKind::InvalidArgument`] (a volume), [`ErrorKind::PermissionDenied`] (mounting needs
/// `CAP_SYS_ADMIN`), and the errors of `mount(2)`.
pub fn snapshot_root(snap: &SnapshotName) -> Result<TreeRoot> {
    let ds = snap.dataset();
    let mountpoint = mounted_filesystem(OP, &ds)?;
    if !lzc::exists(snap)? {
        return Err(Error::new(ErrorKind::NotFound, OP)
            .with_name(snap.as_str())
            .with_detail("no such snapshot"));
    }
    snapshot_root_at(snap, mountpoint)
}

/// [`snapshot_root`] for a snapshot known to exist, of a filesystem mounted at `mountpoint`
/// (`None`: not mounted), without checking either again: for callers that visit many
/// snapshots of one filesystem.
pub(crate) fn snapshot_root_at(
    snap: &SnapshotName,
    mountpoint: Option<PathBuf>,
) -> Result<TreeRoot> {
    if let Some(m) = &mountpoint {
        let dir = m.join(".zfs").join("snapshot").join(snap.short_name());
        // Reading the directory triggers the automount; `<dir>/.` is then the snapshot's root,
        // on another device than the filesystem.
        let listed = std::fs::read_dir(&dir).is_ok();
        if listed
            && let (Some(a), Some(b)) = (dev_of(&dir.join(".")), dev_of(m))
            && a != b
        {
            return Ok(TreeRoot {
                path: dir,
                mountpoint,
                own_mount: false,
            });
        }
    }
    private_mount(snap.as_str(), mountpoint)
}

/// The files of filesystem `ds` as they are now: its mountpoint, else a private read-only
/// mount.
///
/// Errors: as [`snapshot_root`].
pub fn live_root(ds: &DatasetName) -> Result<TreeRoot> {
    let mountpoint = mounted_filesystem(OP, ds)?;
    match mountpoint {
        Some(m) => Ok(TreeRoot {
            path: m.clone(),
            mountpoint: Some(m),
            own_mount: false,
        }),
        None => private_mount(ds.as_str(), None),
    }
}

fn private_mount(source: &str, mountpoint: Option<PathBuf>) -> Result<TreeRoot> {
    const MOP: &str = "mount";
    let base = std::env::temp_dir();
    let mut dir = PathBuf::new();
    let mut made = false;
    for _ in 0..100 {
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        dir = base.join(format!("flocker-snap-{}-{n}", std::process::id()));
        match std::fs::create_dir(&dir) {
            Ok(()) => {
                made = true;
                break;
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(io_err(MOP, &dir, &e)),
        }
    }
    if !made {
        return Err(Error::new(ErrorKind::Exists, MOP)
            .with_name(base.to_string_lossy())
            .with_detail("no free private directory name"));
    }
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700));
    }
    let rc = crate::kernel::mount_zfs(
        source,
        &dir,
        libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV,
    );
    if let Err(e) = rc {
        let _ = std::fs::remove_dir(&dir);
        let mut err = io_err(MOP, Path::new(source), &e);
        if err.kind() == ErrorKind::NotFound {
            err = err.with_detail("no such snapshot or filesystem");
        }
        return Err(err);
    }
    Ok(TreeRoot {
        path: dir,
        mountpoint,
        own_mount: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_paths() {
        let m = Some(Path::new("/tank/home"));
        assert_eq!(normalize("a/b", m).ok(), Some(PathBuf::from("a/b")));
        assert_eq!(normalize("./a//b/", m).ok(), Some(PathBuf::from("a/b")));
        assert_eq!(normalize("", m).ok(), Some(PathBuf::new()));
        assert_eq!(normalize("/tank/home/a", m).ok(), Some(PathBuf::from("a")));
        assert_eq!(normalize("/tank/home", m).ok(), Some(PathBuf::new()));
        assert_eq!(normalize("/a/b", m).ok(), Some(PathBuf::from("a/b")));
        assert_eq!(normalize("/a", None).ok(), Some(PathBuf::from("a")));
        assert_eq!(normalize("/", None).ok(), Some(PathBuf::new()));
        for bad in ["../x", "a/../../x", "a/..", "/tank/home/../etc", "a\0b"] {
            let k = normalize(bad, m).err().map(|e| e.kind());
            assert_eq!(k, Some(ErrorKind::InvalidArgument), "{bad}");
        }
    }
}
