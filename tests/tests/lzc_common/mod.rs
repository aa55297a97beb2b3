//! Helpers shared by the `lzc_*` conformance tests (included with `mod lzc_common;`).
#![allow(dead_code)]

use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::path::PathBuf;
use std::thread;

use flocker_core::error::{Error, ErrorKind};
use flocker_core::name::{BookmarkName, DatasetName, PoolName, SnapshotName};
use flocker_tests::{Failed, TestPool, fail, sh};

/// A validated dataset name, or a test failure.
pub fn ds(s: &str) -> Result<DatasetName, Failed> {
    DatasetName::new(s).map_err(fail)
}

/// A validated snapshot name, or a test failure.
pub fn snap(s: &str) -> Result<SnapshotName, Failed> {
    SnapshotName::new(s).map_err(fail)
}

/// A validated bookmark name, or a test failure.
pub fn bm(s: &str) -> Result<BookmarkName, Failed> {
    BookmarkName::new(s).map_err(fail)
}

/// The pool's name as a `PoolName`.
pub fn pool_name(p: &TestPool) -> Result<PoolName, Failed> {
    PoolName::new(p.name()).map_err(fail)
}

/// `zfs ARGS`.
pub fn zfs(args: &[&str]) -> Result<String, Failed> {
    sh("zfs", args)
}

/// `zpool ARGS`.
pub fn zpool(args: &[&str]) -> Result<String, Failed> {
    sh("zpool", args)
}

/// Whether the CLI sees a dataset, snapshot or bookmark of this name.
pub fn cli_exists(name: &str) -> bool {
    sh("zfs", &["list", "-H", "-o", "name", "-t", "all", name]).is_ok()
}

/// `zfs get -Hp -o value PROP NAME`, trimmed.
pub fn prop(name: &str, prop: &str) -> Result<String, Failed> {
    Ok(zfs(&["get", "-Hp", "-o", "value", prop, name])?
        .trim()
        .to_string())
}

/// Creates filesystems with the CLI.
pub fn mkfs(names: &[&str]) -> Result<(), Failed> {
    for n in names {
        zfs(&["create", "-p", n])?;
    }
    Ok(())
}

/// Takes snapshots with the CLI, one by one.
pub fn mksnap(names: &[&str]) -> Result<(), Failed> {
    for n in names {
        zfs(&["snapshot", n])?;
    }
    Ok(())
}

/// The error of `r`, which must be an `Err` of `kind`.
pub fn expect_err<T: std::fmt::Debug>(
    r: Result<T, Error>,
    kind: ErrorKind,
) -> Result<Error, Failed> {
    match r {
        Ok(v) => Err(fail(format!(
            "expected an error of kind {kind:?}, got Ok({v:?})"
        ))),
        Err(e) if e.kind() == kind => Ok(e),
        Err(e) => Err(fail(format!(
            "expected kind {kind:?}, got {:?}: {e}",
            e.kind()
        ))),
    }
}

/// Converts a library error into a test failure (with its message).
pub fn ok<T>(r: Result<T, Error>) -> Result<T, Failed> {
    r.map_err(|e| fail(format!("unexpected error: {e} (kind {:?})", e.kind())))
}

/// Mounts `fs` at a fresh directory under /var/tmp and returns it.
pub fn mount_at_tmp(fs: &str) -> Result<PathBuf, Failed> {
    let dir = PathBuf::from("/var/tmp/flocker-mnt").join(fs.replace('/', "_"));
    std::fs::create_dir_all(&dir).map_err(fail)?;
    let mp = format!("mountpoint={}", dir.display());
    zfs(&["set", &mp, fs])?;
    // Setting the mountpoint mounts it when canmount=on; make sure.
    let _ = zfs(&["mount", fs]);
    Ok(dir)
}

/// Writes `data` to `dir/file` and syncs it.
pub fn write_file(dir: &std::path::Path, file: &str, data: &[u8]) -> Result<(), Failed> {
    let mut f = std::fs::File::create(dir.join(file)).map_err(fail)?;
    f.write_all(data).map_err(fail)?;
    f.sync_all().map_err(fail)?;
    Ok(())
}

/// Runs `send` with the write end of a pipe while a thread collects the stream.
pub fn capture_stream(
    send: impl FnOnce(BorrowedFd<'_>) -> Result<(), Error>,
) -> Result<(Result<(), Error>, Vec<u8>), Failed> {
    let (mut reader, writer) = std::io::pipe().map_err(fail)?;
    let collector = thread::spawn(move || {
        let mut buf = Vec::new();
        reader.read_to_end(&mut buf).map(|_| buf)
    });
    let r = send(writer.as_fd());
    drop(writer);
    let data = collector
        .join()
        .map_err(|_| fail("collector thread panicked"))?
        .map_err(fail)?;
    Ok((r, data))
}

/// Runs `recv` with the read end of a pipe while a thread feeds it `data`.
pub fn feed_stream<T>(
    data: Vec<u8>,
    recv: impl FnOnce(BorrowedFd<'_>) -> Result<T, Error>,
) -> Result<Result<T, Error>, Failed> {
    let (reader, mut writer) = std::io::pipe().map_err(fail)?;
    let feeder = thread::spawn(move || {
        // The receiver may stop early (an error): a broken pipe is expected then.
        let _ = writer.write_all(&data);
    });
    let r = recv(reader.as_fd());
    drop(reader);
    feeder.join().map_err(|_| fail("feeder thread panicked"))?;
    Ok(r)
}

/// GUID of the (single) leaf vdev of a test pool, from `zpool status -g`.
pub fn leaf_vdev_guid(pool: &TestPool) -> Result<u64, Failed> {
    let out = zpool(&["status", "-g", pool.name()])?;
    let mut in_config = false;
    for line in out.lines() {
        let t = line.trim();
        if t.starts_with("NAME") {
            in_config = true;
            continue;
        }
        if !in_config || t.is_empty() {
            continue;
        }
        let first = t.split_whitespace().next().unwrap_or("");
        if first == pool.name() {
            continue;
        }
        if let Ok(g) = first.parse::<u64>() {
            return Ok(g);
        }
    }
    Err(fail(format!("no vdev guid in `zpool status -g`: {out}")))
}

/// Exports the pool and imports it read-only.
pub fn make_read_only(pool: &TestPool) -> Result<(), Failed> {
    zpool(&["export", pool.name()])?;
    zpool(&[
        "import",
        "-o",
        "readonly=on",
        "-d",
        "/var/tmp/flocker-pools",
        pool.name(),
    ])?;
    Ok(())
}

/// The guid of a snapshot per the CLI.
pub fn cli_guid(name: &str) -> Result<u64, Failed> {
    prop(name, "guid")?.parse().map_err(fail)
}

/// `n` incompressible pseudo-random bytes (xorshift), so that space and stream sizes do not
/// depend on the pool's compression default (off in 2.1, lz4 from 2.2).
pub fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut v = Vec::with_capacity(n + 8);
    while v.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(n);
    v
}
