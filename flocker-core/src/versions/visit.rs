//! Reading one path in many snapshots: what each holds there ([`observe`], [`list`]), the
//! snapshots visited on a bounded number of threads ([`visit`]), results in snapshot order.

use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

use sha2::{Digest, Sha256};

use super::group::Seen;
use super::{OP, Progress};
use crate::diff::snapdir::snapshot_root_at;
use crate::diff::{FileMeta, FileType, io_err};
use crate::error::{ErrorKind, Result};
use crate::name::SnapshotName;

/// Whether an I/O error means "nothing there" (the path, or a directory on the way, is
/// missing or is not a directory).
fn absent(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENOTDIR))
}

/// What `full` is (not followed), with a content digest when `verify`; `None` when nothing is
/// there.
pub(crate) fn observe(full: &Path, verify: bool) -> Result<Option<Seen>> {
    let md = match std::fs::symlink_metadata(full) {
        Ok(md) => md,
        Err(e) if absent(&e) => return Ok(None),
        Err(e) => return Err(io_err(OP, full, &e)),
    };
    let meta = FileMeta::from_metadata(&md);
    let digest = if verify {
        digest(full, meta.file_type)?
    } else {
        None
    };
    Ok(Some(Seen {
        file_type: meta.file_type,
        size: meta.size,
        mtime: meta.mtime,
        digest,
    }))
}

/// SHA-256 of a regular file's bytes or a symbolic link's target; `None` for other types.
fn digest(full: &Path, ft: FileType) -> Result<Option<[u8; 32]>> {
    let mut h = Sha256::new();
    match ft {
        FileType::Symlink => {
            let t = std::fs::read_link(full).map_err(|e| io_err(OP, full, &e))?;
            h.update(t.as_os_str().as_encoded_bytes());
        }
        FileType::File => {
            let mut f = std::fs::File::open(full).map_err(|e| io_err(OP, full, &e))?;
            let mut buf = vec![0u8; 128 * 1024];
            loop {
                let n = f.read(&mut buf).map_err(|e| io_err(OP, full, &e))?;
                if n == 0 {
                    break;
                }
                h.update(&buf[..n]);
            }
        }
        _ => return Ok(None),
    }
    Ok(Some(h.finalize().into()))
}

/// The entries of directory `full` (one level, without `.zfs` at a root), each observed
/// without verification; `None` when there is no directory there.
pub(crate) fn list(full: &Path, is_root: bool) -> Result<Option<Vec<(OsString, Seen)>>> {
    let rd = match std::fs::read_dir(full) {
        Ok(rd) => rd,
        Err(e) if absent(&e) => return Ok(None),
        Err(e) => return Err(io_err(OP, full, &e)),
    };
    let mut out = Vec::new();
    for ent in rd {
        let ent = ent.map_err(|e| io_err(OP, full, &e))?;
        let name = ent.file_name();
        if is_root && name == ".zfs" {
            continue;
        }
        if let Some(seen) = observe(&ent.path(), false)? {
            out.push((name, seen));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(Some(out))
}

/// Runs `f` on the root of each snapshot of `snaps` (all of one filesystem, mounted at
/// `mountpoint` or not mounted), on at most `threads` threads, calling `progress` on this
/// thread after each. Results are in `snaps`' order; a snapshot gone meanwhile gives `None`.
pub(crate) fn visit<T: Send>(
    snaps: &[SnapshotName],
    mountpoint: Option<&Path>,
    threads: usize,
    progress: &mut dyn FnMut(&Progress),
    f: &(dyn Fn(&Path) -> Result<Option<T>> + Sync),
) -> Result<Vec<Option<T>>> {
    let total = snaps.len();
    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel::<(usize, Result<Option<T>>)>();
    let mut out: Vec<Option<T>> = std::iter::repeat_with(|| None).take(total).collect();
    let mut first_err = None;
    std::thread::scope(|s| {
        for _ in 0..threads.clamp(1, total.max(1)) {
            let tx = tx.clone();
            let next = &next;
            s.spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(snap) = snaps.get(i) else { break };
                    let r = one(snap, mountpoint, f);
                    if tx.send((i, r)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        for (visited, (i, r)) in rx.iter().enumerate() {
            match r {
                Ok(v) => out[i] = v,
                Err(e) => {
                    // Stop the others: no index is handed out any more.
                    next.store(total, Ordering::Relaxed);
                    first_err.get_or_insert((i, e));
                }
            }
            progress(&Progress {
                visited: visited + 1,
                total,
            });
        }
    });
    match first_err {
        Some((_, e)) => Err(e),
        None => Ok(out),
    }
}

/// `f` on the root of one snapshot; `None` when the snapshot is gone.
fn one<T>(
    snap: &SnapshotName,
    mountpoint: Option<&Path>,
    f: &(dyn Fn(&Path) -> Result<Option<T>> + Sync),
) -> Result<Option<T>> {
    let root = match snapshot_root_at(snap, mountpoint.map(PathBuf::from)) {
        Ok(r) => r,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let r = f(root.path());
    // Reading is done: a private mount that cannot be removed now goes on drop at the latest.
    let _ = root.close();
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observe_and_list_a_directory() {
        let dir = std::env::temp_dir().join(format!("flocker-visit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("sub")).expect("mkdir");
        std::fs::write(dir.join("a"), b"hello").expect("write");
        std::fs::write(dir.join("b"), b"hellp").expect("write");
        std::os::unix::fs::symlink("a", dir.join("l")).expect("symlink");
        let a = observe(&dir.join("a"), true).ok().flatten().expect("a");
        let b = observe(&dir.join("b"), true).ok().flatten().expect("b");
        assert_eq!((a.file_type, a.size), (FileType::File, 5));
        assert!(a.digest.is_some() && a.digest != b.digest);
        let l = observe(&dir.join("l"), true).ok().flatten().expect("l");
        assert_eq!(l.file_type, FileType::Symlink);
        assert!(
            observe(&dir.join("l"), false)
                .ok()
                .flatten()
                .expect("l")
                .digest
                .is_none()
        );
        assert_eq!(observe(&dir.join("none"), true).ok(), Some(None));
        assert_eq!(observe(&dir.join("a/x"), true).ok(), Some(None));
        let names: Vec<OsString> = list(&dir, false)
            .ok()
            .flatten()
            .expect("listed")
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(names, ["a", "b", "l", "sub"]);
        assert_eq!(list(&dir.join("none"), false).ok(), Some(None));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
