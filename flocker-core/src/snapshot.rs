//! The `Snapshot` domain type and the atomic batch snapshot.
//!
//! [`snapshot`] takes one snapshot of many datasets in a single `lzc_snapshot` call: one
//! ioctl, one transaction group, all or nothing. [`Snapshot`] values (name, GUID, creation
//! txg and time) are read without the CLI, by a read-only channel program
//! (`lzc_channel_program_nosync` running `zfs.get_prop` / `zfs.list.snapshots`, see
//! zfs-program(8)); libzfs_core itself has no way to read properties or list snapshots.
//! The kernel refuses channel programs on pools imported read-only, so reading [`Snapshot`]
//! values there fails with [`ErrorKind::ReadOnly`].
//!
//! ```no_run
//! use flocker_core::name::DatasetName;
//! use flocker_core::snapshot::{Snapshot, snapshot};
//!
//! # fn main() -> Result<(), flocker_core::error::Error> {
//! let datasets = [DatasetName::new("tank/home")?, DatasetName::new("tank/db")?];
//! let created = snapshot(&datasets, "before-upgrade", &[("user:reason", "upgrade")])?;
//! for s in Snapshot::get_many(&created)? {
//!     println!("{} guid={} txg={} at {}", s.name(), s.guid(), s.createtxg(), s.creation());
//! }
//! # Ok(())
//! # }
//! ```

use std::collections::{BTreeMap, BTreeSet};

use time::OffsetDateTime;

use crate::error::{Error, ErrorKind, Result};
use crate::lzc;
use crate::name::{DatasetName, PoolName, SnapshotName};
use crate::nvlist::NvList;

/// Longest user property name the kernel accepts (`ZAP_MAXNAMELEN` − 1).
const MAX_PROP_NAME_LEN: usize = 255;
/// Longest property value the kernel accepts (`ZAP_MAXVALUELEN`).
const MAX_PROP_VALUE_LEN: usize = 8192;
/// Snapshots per channel program call (keeps each well inside the default limits).
const CHUNK: usize = 1000;

/// A snapshot as ZFS records it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Snapshot {
    name: SnapshotName,
    guid: u64,
    createtxg: u64,
    creation: OffsetDateTime,
}

impl Snapshot {
    /// A snapshot from known values (for tests and planners that work without ZFS).
    pub fn from_parts(
        name: SnapshotName,
        guid: u64,
        createtxg: u64,
        creation: OffsetDateTime,
    ) -> Self {
        Snapshot {
            name,
            guid,
            createtxg,
            creation,
        }
    }

    /// The full name (`pool/fs@snap`).
    pub fn name(&self) -> &SnapshotName {
        &self.name
    }

    /// The GUID: stable across renames and send/receive.
    pub fn guid(&self) -> u64 {
        self.guid
    }

    /// The transaction group that created it: orders the snapshots of a pool.
    pub fn createtxg(&self) -> u64 {
        self.createtxg
    }

    /// When it was created (seconds precision, UTC).
    pub fn creation(&self) -> OffsetDateTime {
        self.creation
    }

    /// Reads one snapshot's GUID, creation txg and time.
    ///
    /// Errors: [`ErrorKind::NotFound`], and those of
    /// [`lzc::channel_program_nosync`].
    pub fn get(name: &SnapshotName) -> Result<Snapshot> {
        let mut v = Snapshot::get_many(std::slice::from_ref(name))?;
        v.pop().ok_or_else(|| {
            Error::new(ErrorKind::NotFound, "snapshot info").with_name(name.as_str())
        })
    }

    /// Reads many snapshots (any pools; one read-only channel program per pool and per 1000
    /// names, so that each group is read at one moment), in the order given.
    ///
    /// Errors: [`ErrorKind::NotFound`] naming the first missing snapshot, and those of
    /// [`lzc::channel_program_nosync`].
    pub fn get_many(names: &[SnapshotName]) -> Result<Vec<Snapshot>> {
        let mut by_pool: BTreeMap<PoolName, Vec<&SnapshotName>> = BTreeMap::new();
        for n in names {
            by_pool.entry(n.pool()).or_default().push(n);
        }
        let mut found: BTreeMap<String, Snapshot> = BTreeMap::new();
        for (pool, list) in by_pool {
            for chunk in list.chunks(CHUNK) {
                let strs: Vec<&str> = chunk.iter().map(|s| s.as_str()).collect();
                // The rollback executor's atomic read of named items (one channel program).
                for (name, info) in crate::rollback::read::info(&pool, &strs)? {
                    if let Some(s) = info.snapshot {
                        found.insert(name, s);
                    }
                }
            }
        }
        names
            .iter()
            .map(|n| {
                found.get(n.as_str()).cloned().ok_or_else(|| {
                    Error::new(ErrorKind::NotFound, "snapshot info").with_name(n.as_str())
                })
            })
            .collect()
    }

    /// All snapshots of `dataset` (not of its children), oldest first (by creation txg),
    /// through [`Inventory::snapshot_basics`](crate::inventory::Inventory::snapshot_basics).
    ///
    /// Errors: [`ErrorKind::NotFound`] (no such dataset), and those of the inventory.
    pub fn list(dataset: &DatasetName) -> Result<Vec<Snapshot>> {
        crate::inventory::Inventory::new()
            .snapshot_basics(&crate::inventory::SnapshotQuery::new(dataset))
    }
}

/// Checks a user property name the way the kernel will (`zfs_prop_user`): a `:` in the name,
/// only lower-case letters, digits and `:-_.` in it, and at most [`MAX_PROP_NAME_LEN`] bytes.
/// Errors are [`ErrorKind::PropertyInvalid`] naming `op`.
pub(crate) fn check_user_prop_name(op: &'static str, name: &str) -> Result<()> {
    let bad = |why: String| {
        Error::new(ErrorKind::PropertyInvalid, op)
            .with_name(name)
            .with_detail(why)
    };
    if !name.contains(':') {
        return Err(bad(format!(
            "{name:?} is not a user property (it needs a ':')"
        )));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || ":-_.".contains(*c)))
    {
        return Err(bad(format!(
            "invalid character {c:?} in property name {name:?}"
        )));
    }
    if name.len() > MAX_PROP_NAME_LEN {
        return Err(bad(format!(
            "property name is {} bytes; at most {MAX_PROP_NAME_LEN}",
            name.len()
        )));
    }
    Ok(())
}

/// Checks a user property the way the kernel will: the name as [`check_user_prop_name`], and
/// the value's size within ZAP limits and free of NUL bytes.
fn check_user_prop(name: &str, value: &str) -> Result<()> {
    check_user_prop_name("lzc_snapshot", name)?;
    let bad = |why: String| {
        Error::new(ErrorKind::PropertyInvalid, "lzc_snapshot")
            .with_name(name)
            .with_detail(why)
    };
    if value.len() >= MAX_PROP_VALUE_LEN {
        return Err(bad(format!(
            "property value is {} bytes; less than {MAX_PROP_VALUE_LEN} allowed",
            value.len()
        )));
    }
    if value.as_bytes().contains(&0) {
        return Err(bad("property value contains a NUL byte".to_string()));
    }
    Ok(())
}

/// Takes the snapshot `short_name` of every dataset in `datasets` atomically: one
/// `lzc_snapshot` call, one ioctl, one transaction group; either all are created or none.
/// `user_props` (`user:name` → value) are set on every new snapshot. Returns the new
/// snapshots' names in the order of `datasets`.
///
/// Checked before any ioctl (nothing is changed on failure): the short name
/// ([`ErrorKind::InvalidName`], [`ErrorKind::NameTooLong`] when some `dataset@short_name`
/// exceeds 255 bytes), a dataset listed twice ([`ErrorKind::DuplicateFilesystem`]),
/// datasets of more than one pool ([`ErrorKind::CrossPool`]), user properties
/// ([`ErrorKind::PropertyInvalid`]). From the kernel: [`ErrorKind::Exists`],
/// [`ErrorKind::NotFound`], [`ErrorKind::ReadOnly`], ... with per-snapshot
/// [`Error::items`].
///
/// This takes no lock: see [`snapshot_locked`] for snapshots that must not land inside a
/// rollback of the same datasets.
pub fn snapshot(
    datasets: &[DatasetName],
    short_name: &str,
    user_props: &[(&str, &str)],
) -> Result<Vec<SnapshotName>> {
    let snaps = datasets
        .iter()
        .map(|d| d.snapshot(short_name).map_err(Error::from))
        .collect::<Result<Vec<_>>>()?;
    let mut seen = BTreeSet::new();
    for d in datasets {
        if !seen.insert(d.as_str()) {
            return Err(Error::new(ErrorKind::DuplicateFilesystem, "lzc_snapshot")
                .with_name(d.as_str())
                .with_detail("dataset listed twice"));
        }
    }
    if let Some(first) = datasets.first() {
        let pool = first.pool();
        if let Some(other) = datasets.iter().find(|d| d.pool() != pool) {
            return Err(Error::new(ErrorKind::CrossPool, "lzc_snapshot")
                .with_name(other.as_str())
                .with_detail(format!("all datasets must be in pool {pool}")));
        }
    }
    let props = if user_props.is_empty() {
        None
    } else {
        let mut p = NvList::new()?;
        for (k, v) in user_props {
            check_user_prop(k, v)?;
            p.add_string(k, v)?;
        }
        Some(p)
    };
    lzc::snapshot(&snaps, props.as_ref())?;
    Ok(snaps)
}

/// [`snapshot`] under the rollback store's lock: waits up to `wait` for a rollback, stash
/// restore or drop that holds it ([`ErrorKind::Busy`] after that), then takes the snapshot
/// named by `short_name()` (called once the lock is held, so a name that carries the time says
/// when the snapshot was really taken). The snapshots thus land before or after such an
/// operation, never inside it (ROLLBACK.md, "Concurrency"). DataVault's snapshots are taken
/// this way.
pub fn snapshot_locked(
    store: &crate::rollback::Store,
    wait: std::time::Duration,
    datasets: &[DatasetName],
    short_name: impl FnOnce() -> String,
    user_props: &[(&str, &str)],
) -> Result<Vec<SnapshotName>> {
    let _lock = store.lock_wait(wait)?;
    snapshot(datasets, &short_name(), user_props)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ds(s: &str) -> DatasetName {
        DatasetName::new(s).unwrap()
    }

    #[test]
    fn bad_names_fail_before_any_ioctl() {
        let e = snapshot(&[ds("p/a")], "bad@name", &[]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidName);
        let long = "x".repeat(300);
        let e = snapshot(&[ds("p/a")], &long, &[]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NameTooLong);
        let e = snapshot(&[ds("p/a"), ds("p/a")], "s", &[]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::DuplicateFilesystem);
        let e = snapshot(&[ds("p/a"), ds("q/a")], "s", &[]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::CrossPool);
        assert_eq!(e.name(), Some("q/a"));
    }

    #[test]
    fn user_props_are_checked() {
        for (k, v) in [
            ("compression", "on"),
            ("user:Upper", "x"),
            ("user:a", "a\0b"),
        ] {
            let e = snapshot(&[ds("p/a")], "s", &[(k, v)]).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::PropertyInvalid, "{k}");
        }
        let big = "v".repeat(MAX_PROP_VALUE_LEN);
        let e = snapshot(&[ds("p/a")], "s", &[("user:a", &big)]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::PropertyInvalid);
        assert!(check_user_prop("com.example:note-1_x", "ok").is_ok());
    }

    #[test]
    fn empty_batch_is_a_no_op() {
        // lzc_snapshot returns before any ioctl for an empty list; libzfs_core may still be
        // unavailable on this host, which is the only error allowed.
        match snapshot(&[], "s", &[]) {
            Ok(v) => assert!(v.is_empty()),
            Err(e) => assert_eq!(e.kind(), ErrorKind::Unavailable),
        }
    }
}
