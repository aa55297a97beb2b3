//! Datasets and snapshots: create, clone, promote, rename, destroy, exists, rollback,
//! snapshot, destroy_snaps, snaprange_space.

use std::ffi::{CStr, c_char, c_int};

use libzfs_core_sys as sys;

use super::translate::{Family, Hints};
use super::{Ctx, ObjsetName, boolean, name_set, opt_ptr, same_pool};
use crate::error::{Error, ErrorKind, Result};
use crate::name::{DatasetName, SnapshotName, ZFS_MAX_DATASET_NAME_LEN};
use crate::nvlist::NvList;

/// What [`create`] makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DatasetType {
    /// A filesystem (`LZC_DATSET_TYPE_ZFS`).
    Filesystem,
    /// A volume (`LZC_DATSET_TYPE_ZVOL`); its properties must include `volsize`.
    Volume,
}

impl DatasetType {
    fn raw(self) -> sys::lzc_dataset_type {
        match self {
            DatasetType::Filesystem => sys::LZC_DATSET_TYPE_ZFS,
            DatasetType::Volume => sys::LZC_DATSET_TYPE_ZVOL,
        }
    }
}

fn has_props(p: Option<&NvList>) -> bool {
    p.is_some_and(|p| !p.as_ref().is_empty())
}

/// The length of an optional key as libzfs_core's `uint_t`, and its pointer.
pub(crate) fn key_parts(op: &'static str, key: Option<&[u8]>) -> Result<(*mut u8, sys::uint_t)> {
    match key {
        None => Ok((std::ptr::null_mut(), 0)),
        Some(k) => {
            let len = sys::uint_t::try_from(k.len()).map_err(|_| {
                Error::new(ErrorKind::InvalidArgument, op).with_detail("key too large")
            })?;
            // libzfs_core copies the key into an nvlist and never writes through the pointer.
            Ok((k.as_ptr().cast_mut(), len))
        }
    }
}

/// Creates a filesystem or volume with optional properties (`props`: property name → value,
/// as `zfs create -o` would set them; numbers as `uint64`, strings as strings) and, for an
/// encrypted dataset, its wrapping key (`wkey`, 32 bytes of raw key material).
///
/// Errors: [`ErrorKind::Exists`], [`ErrorKind::NotFound`] (parent missing),
/// [`ErrorKind::PropertyInvalid`] (`EINVAL` with properties), [`ErrorKind::Zfs`] with
/// `WrongParent` (the parent is a volume), [`ErrorKind::ReadOnly`].
///
/// Corresponds to `lzc_create`.
#[doc(alias = "lzc_create")]
pub fn create(
    name: &DatasetName,
    kind: DatasetType,
    props: Option<&NvList>,
    wkey: Option<&[u8]>,
) -> Result<()> {
    let ctx = Ctx::new("lzc_create", Family::Create)
        .name(name.as_str())
        .hints(Hints {
            has_props: has_props(props),
            ..Hints::default()
        });
    let (kptr, klen) = key_parts("lzc_create", wkey)?;
    // SAFETY: the name is NUL-terminated and valid for the call; `props` is NULL or a valid
    // nvlist that lzc only reads; the key pointer is NULL or points to `klen` readable bytes
    // that lzc copies without writing.
    ctx.call(|| unsafe {
        sys::lzc_create(
            name.as_c_str().as_ptr(),
            kind.raw(),
            opt_ptr(props),
            kptr,
            klen,
        )
    })
}

/// Creates the filesystem `name` as a clone of `origin`, with optional properties.
///
/// The clone is not mounted. Errors: [`ErrorKind::Exists`], [`ErrorKind::NotFound`] (origin or
/// parent missing), [`ErrorKind::CrossPool`] (origin in another pool),
/// [`ErrorKind::PropertyInvalid`].
///
/// Corresponds to `lzc_clone`.
///
/// # Example
///
/// ```no_run
/// use flocker_core::lzc;
/// use flocker_core::name::{DatasetName, SnapshotName};
///
/// let origin = SnapshotName::new("tank/home@monday")?;
/// let copy = DatasetName::new("tank/home-monday")?;
/// lzc::clone(&copy, &origin, None)?; // a writable copy of monday, not mounted
/// # Ok::<(), flocker_core::Error>(())
/// ```
#[doc(alias = "lzc_clone")]
pub fn clone(name: &DatasetName, origin: &SnapshotName, props: Option<&NvList>) -> Result<()> {
    let ctx = Ctx::new("lzc_clone", Family::Clone)
        .name(name.as_str())
        .hints(Hints {
            has_props: has_props(props),
            same_pool: name.pool() == origin.pool(),
            ..Hints::default()
        });
    // SAFETY: both names are NUL-terminated and valid for the call; `props` is NULL or a valid
    // nvlist that lzc only reads.
    ctx.call(|| unsafe {
        sys::lzc_clone(
            name.as_c_str().as_ptr(),
            origin.as_c_str().as_ptr(),
            opt_ptr(props),
        )
    })
}

/// Promotes the clone `fs`: its origin snapshot and all earlier snapshots of the origin's
/// filesystem move to `fs`, and the former parent becomes a clone of it. Works on mounted
/// filesystems.
///
/// Errors: [`ErrorKind::NotAClone`], [`ErrorKind::NotFound`], [`ErrorKind::Exists`] when a
/// snapshot to be moved has the same name as one of `fs`'s snapshots — then
/// [`Error::detail`] holds the conflicting snapshot's short name — and [`ErrorKind::Busy`].
///
/// Corresponds to `lzc_promote`.
///
/// # Example
///
/// ```no_run
/// use flocker_core::lzc;
/// use flocker_core::name::{DatasetName, SnapshotName};
///
/// let copy = DatasetName::new("tank/home-monday")?;
/// lzc::clone(&copy, &SnapshotName::new("tank/home@monday")?, None)?;
/// lzc::promote(&copy)?; // tank/home is now the clone, of tank/home-monday@monday
/// # Ok::<(), flocker_core::Error>(())
/// ```
#[doc(alias = "lzc_promote")]
pub fn promote(fs: &DatasetName) -> Result<()> {
    let ctx = Ctx::new("lzc_promote", Family::Promote).name(fs.as_str());
    let mut buf = [0 as c_char; ZFS_MAX_DATASET_NAME_LEN];
    // SAFETY: the name is NUL-terminated; `buf` is a writable buffer of the length passed,
    // which lzc fills with strlcpy (always NUL-terminated).
    ctx.call(|| unsafe {
        sys::lzc_promote(fs.as_c_str().as_ptr(), buf.as_mut_ptr(), buf.len() as c_int)
    })
    .map_err(|err| {
        let conflict = c_buf_to_string(&buf);
        if err.errno() == Some(libc::EEXIST) && !conflict.is_empty() {
            err.with_detail(conflict)
        } else {
            err
        }
    })
}

/// The NUL-terminated string in `buf` (all of it if there is no NUL), lossily as UTF-8.
pub(crate) fn c_buf_to_string(buf: &[c_char]) -> String {
    // c_char is i8 or u8 depending on the target; reinterpret the bytes.
    let bytes: Vec<u8> = buf.iter().map(|&c| c as u8).collect();
    match CStr::from_bytes_until_nul(&bytes) {
        Ok(s) => s.to_string_lossy().into_owned(),
        Err(_) => String::from_utf8_lossy(&bytes).into_owned(),
    }
}

/// Renames the filesystem or volume `source` to `target` (in the same pool; the new parent
/// must exist). The kernel only renames: mounted filesystems stay mounted where they were
/// (mountpoint handling is the CLI's job).
///
/// Errors: [`ErrorKind::Exists`], [`ErrorKind::NotFound`], [`ErrorKind::CrossPool`],
/// [`ErrorKind::NameTooLong`] (a descendant's new name would be too long),
/// [`ErrorKind::PermissionDenied`] (moving under another encryption root), `WrongParent`.
///
/// Corresponds to `lzc_rename`.
#[doc(alias = "lzc_rename")]
pub fn rename(source: &DatasetName, target: &DatasetName) -> Result<()> {
    let ctx = Ctx::new("lzc_rename", Family::Rename)
        .name(source.as_str())
        .hints(Hints {
            same_pool: source.pool() == target.pool(),
            ..Hints::default()
        });
    // SAFETY: both names are NUL-terminated and valid for the call.
    ctx.call(|| unsafe { sys::lzc_rename(source.as_c_str().as_ptr(), target.as_c_str().as_ptr()) })
}

/// Renames a snapshot within its filesystem (`pool/fs@a` → `pool/fs@b`).
///
/// Errors: [`ErrorKind::Exists`], [`ErrorKind::NotFound`], [`ErrorKind::CrossPool`] (the
/// kernel's `EXDEV` for a target in another filesystem or pool).
///
/// Corresponds to `lzc_rename` (with snapshot names).
#[doc(alias = "lzc_rename")]
pub fn rename_snapshot(source: &SnapshotName, target: &SnapshotName) -> Result<()> {
    let ctx = Ctx::new("lzc_rename", Family::Rename)
        .name(source.as_str())
        .hints(Hints {
            same_pool: source.pool() == target.pool(),
            ..Hints::default()
        });
    // SAFETY: both names are NUL-terminated and valid for the call.
    ctx.call(|| unsafe { sys::lzc_rename(source.as_c_str().as_ptr(), target.as_c_str().as_ptr()) })
}

/// Destroys a filesystem or volume (it must have no snapshots and no children; it is not
/// unmounted first: destroying a mounted filesystem fails with [`ErrorKind::Busy`]).
///
/// Errors: [`ErrorKind::NotFound`], [`ErrorKind::Busy`] (mounted, or has snapshots),
/// [`ErrorKind::HasChildren`].
///
/// Corresponds to `lzc_destroy`.
///
/// # Example
///
/// ```no_run
/// use flocker_core::name::DatasetName;
/// use flocker_core::{ErrorKind, lzc};
///
/// let fs = DatasetName::new("tank/scratch")?;
/// match lzc::destroy(&fs) {
///     Ok(()) => println!("destroyed {fs}"),
///     Err(e) if e.kind() == ErrorKind::HasChildren => eprintln!("{fs} has children: kept"),
///     Err(e) => return Err(e),
/// }
/// # Ok::<(), flocker_core::Error>(())
/// ```
#[doc(alias = "lzc_destroy")]
pub fn destroy(name: &DatasetName) -> Result<()> {
    let ctx = Ctx::new("lzc_destroy", Family::Destroy).name(name.as_str());
    // SAFETY: the name is NUL-terminated and valid for the call.
    ctx.call(|| unsafe { sys::lzc_destroy(name.as_c_str().as_ptr()) })
}

/// Whether a pool, filesystem, volume or snapshot exists.
///
/// libzfs_core answers `false` on *any* error, so `Ok(false)` also covers "not permitted to
/// look"; the only error is [`ErrorKind::Unavailable`] (ZFS not usable at all).
///
/// Corresponds to `lzc_exists`.
///
/// # Example
///
/// ```no_run
/// use flocker_core::lzc;
/// use flocker_core::name::{PoolName, SnapshotName};
///
/// let snap = SnapshotName::new("tank/home@monday")?;
/// if lzc::exists(&PoolName::new("tank")?)? && !lzc::exists(&snap)? {
///     lzc::snapshot(std::slice::from_ref(&snap), None)?;
/// }
/// # Ok::<(), flocker_core::Error>(())
/// ```
#[doc(alias = "lzc_exists")]
pub fn exists<N: ObjsetName + ?Sized>(name: &N) -> Result<bool> {
    let ctx = Ctx::new("lzc_exists", Family::Generic);
    // SAFETY: the name is NUL-terminated and valid for the call.
    let r = ctx.call_value(|| unsafe { sys::lzc_exists(name.objset_c_str().as_ptr()) })?;
    Ok(r != sys::B_FALSE)
}

/// Rolls `fs` back to its latest snapshot and returns that snapshot's name. A mounted
/// filesystem stays mounted (it is suspended and resumed).
///
/// Errors: [`ErrorKind::NotFound`] (`ESRCH`: no snapshot; `ENOENT`: no such filesystem),
/// [`ErrorKind::NotLatest`] (a bookmark newer than the latest snapshot exists),
/// [`ErrorKind::TryAgain`] (the snapshot was created in the still-open txg),
/// [`ErrorKind::Busy`].
///
/// Corresponds to `lzc_rollback`.
///
/// # Example
///
/// ```no_run
/// use flocker_core::lzc;
/// use flocker_core::name::DatasetName;
///
/// let fs = DatasetName::new("tank/home")?;
/// let latest = lzc::rollback(&fs)?; // discards what was written since the latest snapshot
/// println!("{fs} is back at {latest}");
/// # Ok::<(), flocker_core::Error>(())
/// ```
#[doc(alias = "lzc_rollback")]
pub fn rollback(fs: &DatasetName) -> Result<SnapshotName> {
    let ctx = Ctx::new("lzc_rollback", Family::Rollback).name(fs.as_str());
    let mut buf = [0 as c_char; ZFS_MAX_DATASET_NAME_LEN];
    // SAFETY: the name is NUL-terminated; `buf` is writable for the length passed and lzc
    // fills it with strlcpy.
    ctx.call(|| unsafe {
        sys::lzc_rollback(fs.as_c_str().as_ptr(), buf.as_mut_ptr(), buf.len() as c_int)
    })?;
    let s = c_buf_to_string(&buf);
    SnapshotName::new(&s).map_err(|e| {
        Error::new(ErrorKind::InvalidData, "lzc_rollback")
            .with_name(fs.as_str())
            .with_detail(format!("kernel named the rollback target {s:?}: {e}"))
    })
}

/// Rolls `fs` back to `snap`, which must be its latest snapshot (this guards against a
/// snapshot created concurrently). Works on mounted, busy filesystems.
///
/// Errors: [`ErrorKind::NotLatest`] (newer snapshots or bookmarks exist),
/// [`ErrorKind::NotFound`] (`ESRCH`: `snap` missing or not a snapshot of `fs`; `ENOENT`: `fs`
/// missing), [`ErrorKind::TryAgain`].
///
/// Corresponds to `lzc_rollback_to`.
///
/// # Example
///
/// ```no_run
/// use flocker_core::name::DatasetName;
/// use flocker_core::{ErrorKind, lzc};
///
/// let fs = DatasetName::new("tank/home")?;
/// match lzc::rollback_to(&fs, &fs.snapshot("monday")?) {
///     Ok(()) => {}
///     // A newer snapshot exists (perhaps taken meanwhile): nothing changed.
///     Err(e) if e.kind() == ErrorKind::NotLatest => eprintln!("monday is not the latest: {e}"),
///     Err(e) => return Err(e),
/// }
/// # Ok::<(), flocker_core::Error>(())
/// ```
#[doc(alias = "lzc_rollback_to")]
pub fn rollback_to(fs: &DatasetName, snap: &SnapshotName) -> Result<()> {
    let ctx = Ctx::new("lzc_rollback_to", Family::Rollback).name(snap.as_str());
    // SAFETY: both names are NUL-terminated and valid for the call.
    ctx.call(|| unsafe { sys::lzc_rollback_to(fs.as_c_str().as_ptr(), snap.as_c_str().as_ptr()) })
}

/// Creates all `snaps` atomically, in one transaction group and one ioctl, with optional
/// user properties (`props`: `user:name` → string value; only user properties are allowed).
///
/// All snapshots must be in one pool and at most one per filesystem. An empty list succeeds
/// without doing anything. On failure nothing is created and [`Error::items`] lists the
/// failed snapshots.
///
/// Errors: [`ErrorKind::Exists`], [`ErrorKind::NotFound`] (filesystem missing),
/// [`ErrorKind::CrossPool`], [`ErrorKind::DuplicateFilesystem`] (two snapshots of one
/// filesystem), [`ErrorKind::PropertyInvalid`], [`ErrorKind::ReadOnly`],
/// [`ErrorKind::NameTooLong`].
///
/// Corresponds to `lzc_snapshot`.
///
/// # Example
///
/// ```no_run
/// use flocker_core::lzc;
/// use flocker_core::name::SnapshotName;
/// use flocker_core::nvlist::NvList;
///
/// let snaps = [SnapshotName::new("tank/home@monday")?, SnapshotName::new("tank/db@monday")?];
/// let mut props = NvList::new()?;
/// props.add_string("com.example:reason", "before the upgrade")?;
/// lzc::snapshot(&snaps, Some(&props))?; // both or neither
/// # Ok::<(), flocker_core::Error>(())
/// ```
#[doc(alias = "lzc_snapshot")]
pub fn snapshot(snaps: &[SnapshotName], props: Option<&NvList>) -> Result<()> {
    let names: Vec<&str> = snaps.iter().map(SnapshotName::as_str).collect();
    let ctx = Ctx::new("lzc_snapshot", Family::Snapshot).hints(Hints {
        same_pool: same_pool(snaps.iter().map(SnapshotName::pool)),
        has_props: has_props(props),
        ..Hints::default()
    });
    let list = name_set(names.iter().copied())?;
    // SAFETY: `list` and `props` are valid nvlists (or NULL for props) that lzc only reads;
    // the out-parameter is handled by `call_batch`.
    ctx.call_batch(&names, |errlist| unsafe {
        sys::lzc_snapshot(list.as_ptr(), opt_ptr(props), errlist)
    })
    .map(drop)
}

/// Destroys `snaps` (all in one pool) in one operation. Missing snapshots are silently
/// ignored. Without `defer`, a snapshot with holds or clones makes the whole call fail and
/// nothing is destroyed; with `defer` such snapshots are marked for deferred destruction and
/// disappear when their last hold or clone goes.
///
/// Errors (with [`Error::items`]): [`ErrorKind::HasClones`], [`ErrorKind::Held`] (user hold,
/// or in use), [`ErrorKind::CrossPool`], [`ErrorKind::NotFound`] (pool missing).
///
/// Corresponds to `lzc_destroy_snaps`.
///
/// # Example
///
/// ```no_run
/// use flocker_core::lzc;
/// use flocker_core::name::SnapshotName;
///
/// let old = [SnapshotName::new("tank/home@monday")?, SnapshotName::new("tank/home@tuesday")?];
/// if let Err(e) = lzc::destroy_snaps(&old, false) {
///     for item in e.items() {
///         eprintln!("{}: {}", item.name(), item.kind()); // held or cloned: nothing was destroyed
///     }
/// }
/// # Ok::<(), flocker_core::Error>(())
/// ```
#[doc(alias = "lzc_destroy_snaps")]
pub fn destroy_snaps(snaps: &[SnapshotName], defer: bool) -> Result<()> {
    let names: Vec<&str> = snaps.iter().map(SnapshotName::as_str).collect();
    let ctx = Ctx::new("lzc_destroy_snaps", Family::DestroySnaps).hints(Hints {
        same_pool: same_pool(snaps.iter().map(SnapshotName::pool)),
        ..Hints::default()
    });
    let list = name_set(names.iter().copied())?;
    // SAFETY: `list` is a valid nvlist that lzc only reads; the out-parameter is handled by
    // `call_batch` (lzc leaves it untouched for an empty list; it starts NULL).
    ctx.call_batch(&names, |errlist| unsafe {
        sys::lzc_destroy_snaps(list.as_ptr(), boolean(defer), errlist)
    })
    .map(drop)
}

/// The space, in bytes, that destroying every snapshot from `first` to `last` (inclusive,
/// same filesystem, `first` not newer than `last`) would free.
///
/// Errors: [`ErrorKind::NotFound`], [`ErrorKind::Mismatch`] (not snapshots of one filesystem
/// in this order), [`ErrorKind::CrossPool`].
///
/// Corresponds to `lzc_snaprange_space`.
#[doc(alias = "lzc_snaprange_space")]
pub fn snaprange_space(first: &SnapshotName, last: &SnapshotName) -> Result<u64> {
    let ctx = Ctx::new("lzc_snaprange_space", Family::SnaprangeSpace)
        .name(last.as_str())
        .hints(Hints {
            same_pool: first.pool() == last.pool(),
            ..Hints::default()
        });
    let mut used = 0u64;
    // SAFETY: both names are NUL-terminated; `used` is a valid out-pointer.
    ctx.call(|| unsafe {
        sys::lzc_snaprange_space(
            first.as_c_str().as_ptr(),
            last.as_c_str().as_ptr(),
            &raw mut used,
        )
    })?;
    Ok(used)
}
