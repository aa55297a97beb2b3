//! From a user's path to the filesystem that holds it and the path inside it: the mount table
//! first (`/proc/self/mountinfo`, type `zfs`, the longest mount point that is a prefix), then
//! the effective `mountpoint` property of the filesystems that are not mounted.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use super::OP;
use crate::diff::io_err;
use crate::error::{Error, ErrorKind, Result};
use crate::inventory::{DatasetQuery, Inventory};
use crate::lzc::DatasetType;
use crate::name::DatasetName;

/// Where a user's path lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Located {
    pub dataset: DatasetName,
    /// Relative to the filesystem's root (`""` for the root).
    pub rel: PathBuf,
    /// Where the filesystem is mounted now (`None`: not mounted).
    pub mountpoint: Option<PathBuf>,
}

fn bad(path: &Path, why: &str) -> Error {
    Error::new(ErrorKind::InvalidArgument, OP)
        .with_name(path.to_string_lossy())
        .with_detail(why.to_string())
}

/// Finds the filesystem of `path` (absolute or relative to the working directory; it need
/// not exist).
pub(crate) fn locate(path: &Path, inv: &mut Inventory<'_>) -> Result<Located> {
    let abs = canonical(path)?;
    let mounts = mounted();
    let here = longest_prefix(&abs, mounts.iter().map(|(d, m)| (d, m.as_path())))
        .map(|(d, m)| (d.clone(), m.to_path_buf()));
    // A filesystem that is not mounted may sit at a longer prefix (below the mounted one,
    // or anywhere when nothing mounted holds the path).
    let roots = match &here {
        Some((d, _)) => vec![d.clone()],
        None => pools(&mounts),
    };
    let names: BTreeSet<&str> = mounts.iter().map(|(d, _)| d.as_str()).collect();
    let depth = here.as_ref().map_or(0, |(_, m)| m.components().count());
    if let Some((d, m)) = unmounted_below(&abs, &roots, &names, depth, here.is_none(), inv)? {
        return Ok(Located {
            dataset: d,
            rel: relative(&abs, &m),
            mountpoint: None,
        });
    }
    let Some((dataset, m)) = here else {
        return Err(Error::new(ErrorKind::NotFound, OP)
            .with_name(abs.to_string_lossy())
            .with_detail(
                "no ZFS filesystem holds this path (it is under no mounted ZFS filesystem \
                 and under no filesystem's mountpoint property)",
            ));
    };
    Ok(Located {
        rel: relative(&abs, &m),
        dataset,
        mountpoint: Some(m),
    })
}

/// `abs` relative to `mountpoint`; a path inside a snapshot's copy
/// (`.zfs/snapshot/SNAP/REST`) stands for `REST`.
fn relative(abs: &Path, mountpoint: &Path) -> PathBuf {
    let rel = abs.strip_prefix(mountpoint).unwrap_or(Path::new(""));
    let mut c = rel.components();
    let head: Vec<_> = c.by_ref().take(3).collect();
    match head.as_slice() {
        [a, b, _] if a.as_os_str() == ".zfs" && b.as_os_str() == "snapshot" => {
            c.as_path().to_path_buf()
        }
        _ => rel.to_path_buf(),
    }
}

/// The mounted ZFS filesystems (not snapshots) and where.
fn mounted() -> Vec<(DatasetName, PathBuf)> {
    crate::kernel::zfs_mounts()
        .into_iter()
        .filter(|(src, _)| !src.contains('@'))
        .filter_map(|(src, m)| Some((DatasetName::new(&src).ok()?, PathBuf::from(m))))
        .collect()
}

/// The imported pools: `/proc/spl/kstat/zfs/<pool>/` directories, and the pools of mounted
/// filesystems.
fn pools(mounts: &[(DatasetName, PathBuf)]) -> Vec<DatasetName> {
    let mut names: BTreeSet<String> = mounts.iter().map(|(d, _)| d.pool().to_string()).collect();
    if let Ok(rd) = std::fs::read_dir("/proc/spl/kstat/zfs") {
        for e in rd.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                names.insert(e.file_name().to_string_lossy().into_owned());
            }
        }
    }
    names
        .into_iter()
        .filter_map(|n| DatasetName::new(&n).ok())
        .collect()
}

/// Whether `pool` is imported now (its `/proc/spl/kstat/zfs/<pool>/` directory exists).
fn imported(pool: &str) -> bool {
    Path::new("/proc/spl/kstat/zfs").join(pool).is_dir()
}

/// The filesystem under `roots` (recursively) that is not mounted and whose effective
/// mountpoint is the longest prefix of `abs` with more than `depth` components. `scanned`: the
/// roots are every imported pool, not the filesystem that holds the path.
fn unmounted_below(
    abs: &Path,
    roots: &[DatasetName],
    mounted: &BTreeSet<&str>,
    depth: usize,
    scanned: bool,
    inv: &mut Inventory<'_>,
) -> Result<Option<(DatasetName, PathBuf)>> {
    let mut cands: Vec<(DatasetName, PathBuf)> = Vec::new();
    for root in roots {
        let q = DatasetQuery::new(root)
            .recursive()
            .only(DatasetType::Filesystem);
        let list = match inv.datasets(&q) {
            Ok(l) => l,
            Err(e) if e.kind() == ErrorKind::NotFound => continue,
            // Another program's pool, met by the scan of every imported pool, that is being
            // created, exported or destroyed while it is listed holds none of our path.
            Err(e)
                if scanned && (e.kind() == ErrorKind::Busy || !imported(root.pool().as_str())) =>
            {
                continue;
            }
            Err(e) => return Err(e),
        };
        for d in list {
            let Some(m) = d.mountpoint.filter(|m| m.starts_with('/')) else {
                continue;
            };
            if !mounted.contains(d.name.as_str()) {
                cands.push((d.name, PathBuf::from(m)));
            }
        }
    }
    let best = longest_prefix(abs, cands.iter().map(|(d, m)| (d, m.as_path())));
    Ok(best
        .filter(|(_, m)| m.components().count() > depth)
        .map(|(d, m)| (d.clone(), m.to_path_buf())))
}

/// Of `cands` (dataset, mount point), the one whose mount point is the longest
/// (component-wise) prefix of `abs`; on a tie, the first.
pub(crate) fn longest_prefix<'a>(
    abs: &Path,
    cands: impl Iterator<Item = (&'a DatasetName, &'a Path)>,
) -> Option<(&'a DatasetName, &'a Path)> {
    let mut best: Option<(&DatasetName, &Path)> = None;
    for (d, m) in cands {
        if !abs.starts_with(m) {
            continue;
        }
        let longer = best.is_none_or(|(_, b)| m.components().count() > b.components().count());
        if longer {
            best = Some((d, m));
        }
    }
    best
}

/// `path` made absolute without symbolic links, except in its last component (which is not
/// followed): the longest existing ancestor is canonicalised and the rest appended.
pub(crate) fn canonical(path: &Path) -> Result<PathBuf> {
    if path.as_os_str().is_empty() {
        return Err(bad(path, "empty path"));
    }
    if path.as_os_str().as_bytes().contains(&0) {
        return Err(bad(path, "NUL in path"));
    }
    let abs = if path.is_absolute() {
        path.to_path_buf()
    } else {
        let cwd = std::env::current_dir().map_err(|e| io_err(OP, Path::new("."), &e))?;
        cwd.join(path)
    };
    let (mut base, mut tail) = split_last(&abs);
    loop {
        match std::fs::canonicalize(&base) {
            Ok(c) => return append(path, c, &tail),
            Err(_) => match (base.parent(), base.file_name()) {
                (Some(p), Some(n)) => {
                    tail.insert(0, n.to_os_string());
                    base = p.to_path_buf();
                }
                _ => return Err(bad(path, "no existing directory on the way")),
            },
        }
    }
}

/// `abs` as (the directory to canonicalise, the components after it): the last component is
/// kept out (not followed) when it is a name.
fn split_last(abs: &Path) -> (PathBuf, Vec<OsString>) {
    match (abs.parent(), abs.file_name()) {
        (Some(p), Some(n)) => (p.to_path_buf(), vec![n.to_os_string()]),
        _ => (abs.to_path_buf(), Vec::new()),
    }
}

/// `base` joined with the names of `tail` (lexically: `.` dropped, `..` refused since the
/// directory it would leave does not exist).
fn append(user: &Path, mut base: PathBuf, tail: &[OsString]) -> Result<PathBuf> {
    for t in tail {
        for c in Path::new(t).components() {
            match c {
                Component::Normal(x) => base.push(x),
                Component::CurDir => {}
                _ => return Err(bad(user, "`..` after a directory that does not exist")),
            }
        }
    }
    Ok(base)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_mount_point_wins() {
        let a = DatasetName::new("tank").expect("valid");
        let b = DatasetName::new("tank/home").expect("valid");
        let c = DatasetName::new("tank/homework").expect("valid");
        let cands = [
            (a.clone(), PathBuf::from("/tank")),
            (b.clone(), PathBuf::from("/tank/home")),
            (c.clone(), PathBuf::from("/tank/homework")),
        ];
        let it = || cands.iter().map(|(d, m)| (d, m.as_path()));
        let got = longest_prefix(Path::new("/tank/home/u/f"), it()).map(|(d, _)| d);
        assert_eq!(got, Some(&b));
        let got = longest_prefix(Path::new("/tank/homeless"), it()).map(|(d, _)| d);
        assert_eq!(got, Some(&a));
        assert_eq!(longest_prefix(Path::new("/etc/x"), it()), None);
        let got = longest_prefix(Path::new("/tank/homework"), it()).map(|(d, _)| d);
        assert_eq!(got, Some(&c));
    }

    #[test]
    fn relative_paths() {
        let m = Path::new("/tank/home");
        let rel = |p: &str| relative(Path::new(p), m);
        assert_eq!(rel("/tank/home/a/b"), Path::new("a/b"));
        assert_eq!(rel("/tank/home"), Path::new(""));
        assert_eq!(rel("/tank/home/.zfs/snapshot/s1/a/b"), Path::new("a/b"));
        assert_eq!(rel("/tank/home/.zfs/snapshot/s1"), Path::new(""));
        assert_eq!(rel("/tank/home/.zfs/snapshot"), Path::new(".zfs/snapshot"));
        assert_eq!(
            rel("/tank/home/x/.zfs/snapshot/s1/a"),
            Path::new("x/.zfs/snapshot/s1/a")
        );
    }

    #[test]
    fn canonical_paths() {
        let tmp = std::env::temp_dir().canonicalize().expect("tmp");
        let dir = tmp.join(format!("flocker-versions-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("mkdir");
        let link = dir.join("link");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&tmp, &link).expect("symlink");
        // A symbolic link as the last component is not followed.
        assert_eq!(canonical(&link).ok(), Some(link.clone()));
        // One on the way is.
        assert_eq!(canonical(&link.join("x")).ok(), Some(tmp.join("x")));
        // Missing components are appended.
        let missing = dir.join("no/such/./file");
        assert_eq!(canonical(&missing).ok(), Some(dir.join("no/such/file")));
        let k = canonical(&dir.join("no/../x")).err().map(|e| e.kind());
        assert_eq!(k, Some(ErrorKind::InvalidArgument));
        // `..` through existing directories is resolved.
        assert_eq!(canonical(&dir.join("../x")).ok(), Some(tmp.join("x")));
        for bad in ["", "a\0b"] {
            let k = canonical(Path::new(bad)).err().map(|e| e.kind());
            assert_eq!(k, Some(ErrorKind::InvalidArgument), "{bad:?}");
        }
        let _ = std::fs::remove_file(&link);
        let _ = std::fs::remove_dir(&dir);
    }
}
