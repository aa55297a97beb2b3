//! User holds: hold, release, get_holds, and the cleanup descriptor.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;

use libzfs_core_sys as sys;
use time::OffsetDateTime;

use super::translate::{Family, Hints};
use super::{Ctx, raw_fd, same_pool, value_as_i64};
use crate::error::{Error, ErrorKind, ItemError, Result};
use crate::name::SnapshotName;
use crate::nvlist::NvList;

/// Opens a descriptor on `/dev/zfs` to pass as [`hold`]'s `cleanup_fd`: the holds made with
/// it are released when it is closed (dropped), when the process exits, or at the next import
/// after a crash.
///
/// Errors: [`ErrorKind::Unavailable`] with the errno of `open(2)`.
pub fn open_cleanup_fd() -> Result<OwnedFd> {
    let f = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_EXCL)
        .open("/dev/zfs")
        .map_err(|e| {
            let mut err = Error::new(ErrorKind::Unavailable, "open /dev/zfs")
                .with_detail(format!("cannot open /dev/zfs: {e}"));
            if let Some(n) = e.raw_os_error() {
                err = err.with_errno(n);
            }
            err
        })?;
    Ok(OwnedFd::from(f))
}

/// Places user holds: each `(snapshot, tag)` pair holds `snapshot` under `tag` (a snapshot
/// with holds cannot be destroyed, only marked for deferred destroy). All snapshots must be in
/// one pool, and one call holds each snapshot at most once (a later pair for the same snapshot
/// replaces an earlier one).
///
/// With `cleanup_fd` (see [`open_cleanup_fd`]) the holds are temporary: they go away when
/// that descriptor is closed.
///
/// Holds on snapshots that do not exist are skipped without failing the call; they are
/// returned as [`ItemError`]s of kind [`ErrorKind::NotFound`]. On failure no hold is made.
///
/// Errors (with [`Error::items`]): [`ErrorKind::Exists`] (the tag is already on the
/// snapshot), [`ErrorKind::NameTooLong`] (`E2BIG`: tag longer than 255 bytes),
/// [`ErrorKind::InvalidArgument`] (empty tag, or a tag with a NUL byte),
/// [`ErrorKind::CrossPool`], [`ErrorKind::BadFileDescriptor`] (`cleanup_fd` is not a
/// `/dev/zfs` descriptor), [`ErrorKind::NotFound`] (none of the snapshots exist).
///
/// Corresponds to `lzc_hold`.
///
/// # Example
///
/// ```no_run
/// use std::os::fd::AsFd;
///
/// use flocker_core::lzc;
/// use flocker_core::name::SnapshotName;
///
/// let snap = SnapshotName::new("tank/home@monday")?;
/// // Held while `cleanup` is open (until it is dropped, or the process ends).
/// let cleanup = lzc::open_cleanup_fd()?;
/// let missing = lzc::hold(&[(snap.clone(), "backup")], Some(cleanup.as_fd()))?;
/// assert!(missing.is_empty(), "no such snapshot");
/// // ... send it somewhere; it cannot be destroyed meanwhile ...
/// # Ok::<(), flocker_core::Error>(())
/// ```
#[doc(alias = "lzc_hold")]
pub fn hold(
    holds: &[(SnapshotName, &str)],
    cleanup_fd: Option<BorrowedFd<'_>>,
) -> Result<Vec<ItemError>> {
    let names: Vec<&str> = holds.iter().map(|(s, _)| s.as_str()).collect();
    let ctx = Ctx::new("lzc_hold", Family::Hold).hints(Hints {
        same_pool: same_pool(holds.iter().map(|(s, _)| s.pool())),
        ..Hints::default()
    });
    let mut list = NvList::new()?;
    for (snap, tag) in holds {
        if tag.as_bytes().contains(&0) {
            return Err(Error::new(ErrorKind::InvalidArgument, "lzc_hold")
                .with_name(snap.as_str())
                .with_detail("hold tag contains a NUL byte"));
        }
        list.add_string(snap.as_str(), tag)?;
    }
    let fd = raw_fd(cleanup_fd);
    // SAFETY: `list` is a valid nvlist lzc only reads; `fd` is -1 or a descriptor borrowed
    // for the duration of the call; the out-parameter is handled by `call_batch`.
    ctx.call_batch(&names, |errlist| unsafe {
        sys::lzc_hold(list.as_ptr(), fd, errlist)
    })
}

/// Releases user holds: each `(snapshot, tags)` entry releases those tags from the snapshot.
/// A snapshot marked for deferred destroy is destroyed when its last hold goes.
///
/// Missing snapshots and missing tags do not fail the call: they are returned as
/// [`ItemError`]s of kind [`ErrorKind::NotFound`] (named `snapshot` or `snapshot#tag`). On
/// failure no hold is released.
///
/// Errors: [`ErrorKind::CrossPool`], [`ErrorKind::NameTooLong`], [`ErrorKind::Busy`].
///
/// Corresponds to `lzc_release`.
///
/// # Example
///
/// ```no_run
/// use flocker_core::lzc;
/// use flocker_core::name::SnapshotName;
///
/// let snap = SnapshotName::new("tank/home@monday")?;
/// lzc::hold(&[(snap.clone(), "keep")], None)?; // until released
/// println!("{:?}", lzc::get_holds(&snap)?.keys().collect::<Vec<_>>());
/// let not_found = lzc::release(&[(snap, &["keep"][..])])?;
/// assert!(not_found.is_empty());
/// # Ok::<(), flocker_core::Error>(())
/// ```
#[doc(alias = "lzc_release")]
pub fn release(holds: &[(SnapshotName, &[&str])]) -> Result<Vec<ItemError>> {
    let names: Vec<&str> = holds.iter().map(|(s, _)| s.as_str()).collect();
    let ctx = Ctx::new("lzc_release", Family::Release).hints(Hints {
        same_pool: same_pool(holds.iter().map(|(s, _)| s.pool())),
        ..Hints::default()
    });
    let mut list = NvList::new()?;
    for (snap, tags) in holds {
        let mut t = NvList::new()?;
        for tag in tags.iter() {
            if tag.as_bytes().contains(&0) {
                return Err(Error::new(ErrorKind::InvalidArgument, "lzc_release")
                    .with_name(snap.as_str())
                    .with_detail("hold tag contains a NUL byte"));
            }
            t.add_boolean(tag)?;
        }
        list.add_nvlist(snap.as_str(), &t.as_ref())?;
    }
    // SAFETY: `list` is a valid nvlist lzc only reads; the out-parameter is handled by
    // `call_batch`.
    ctx.call_batch(&names, |errlist| unsafe {
        sys::lzc_release(list.as_ptr(), errlist)
    })
}

/// The user holds on `snap`: tag → time the hold was placed.
///
/// Errors: [`ErrorKind::NotFound`].
///
/// Corresponds to `lzc_get_holds`.
#[doc(alias = "lzc_get_holds")]
pub fn get_holds(snap: &SnapshotName) -> Result<BTreeMap<String, OffsetDateTime>> {
    let ctx = Ctx::new("lzc_get_holds", Family::GetHolds).name(snap.as_str());
    // SAFETY: the name is NUL-terminated; the out-parameter is handled by `call_out`.
    let out = ctx.call_out(|out| unsafe { sys::lzc_get_holds(snap.as_c_str().as_ptr(), out) })?;
    let mut holds = BTreeMap::new();
    let Some(out) = out else { return Ok(holds) };
    for (tag, value) in out.as_ref().iter() {
        let tag = tag.to_string_lossy().into_owned();
        let when = value_as_i64(&value)
            .and_then(|secs| OffsetDateTime::from_unix_timestamp(secs).ok())
            .ok_or_else(|| {
                Error::new(ErrorKind::InvalidData, "lzc_get_holds")
                    .with_name(snap.as_str())
                    .with_detail(format!("hold {tag:?} has no valid timestamp"))
            })?;
        holds.insert(tag, when);
    }
    Ok(holds)
}
