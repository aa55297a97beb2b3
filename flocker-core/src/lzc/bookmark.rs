//! Bookmarks: bookmark, get_bookmarks, get_bookmark_props, destroy_bookmarks, redact.

use std::collections::BTreeMap;

use libzfs_core_sys as sys;

use super::translate::{Family, Hints};
use super::{Ctx, PointInTime, name_set, same_pool, value_as_i64};
use crate::error::{Error, ErrorKind, Result};
use crate::name::{BookmarkName, DatasetName, SnapshotName};
use crate::nvlist::{NvList, NvListRef, Value};

/// The properties of a bookmark, as [`get_bookmarks`] and [`get_bookmark_props`] report
/// them. Each is `None` when not requested or not reported.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BookmarkProps {
    guid: Option<u64>,
    createtxg: Option<u64>,
    creation: Option<u64>,
    ivsetguid: Option<u64>,
    redact_snaps: Option<Vec<u64>>,
    redact_complete: Option<bool>,
    other: BTreeMap<String, u64>,
}

impl BookmarkProps {
    /// The GUID of the snapshot the bookmark was made from.
    pub fn guid(&self) -> Option<u64> {
        self.guid
    }

    /// The txg in which that snapshot was created.
    pub fn createtxg(&self) -> Option<u64> {
        self.createtxg
    }

    /// When that snapshot was created, in seconds since the Unix epoch.
    pub fn creation(&self) -> Option<u64> {
        self.creation
    }

    /// The IV set GUID (encrypted datasets).
    pub fn ivsetguid(&self) -> Option<u64> {
        self.ivsetguid
    }

    /// For a redaction bookmark, the GUIDs of the redaction snapshots.
    pub fn redact_snaps(&self) -> Option<&[u64]> {
        self.redact_snaps.as_deref()
    }

    /// For a redaction bookmark, whether the redaction is complete.
    pub fn redact_complete(&self) -> Option<bool> {
        self.redact_complete
    }

    /// Every other numeric property reported (`referenced`, `compressed`,
    /// `logicalreferenced`, ...).
    pub fn other(&self) -> &BTreeMap<String, u64> {
        &self.other
    }

    /// Parses `{ prop → { "value" → v } }`; unknown shapes are skipped, never a panic.
    fn parse(list: NvListRef<'_>) -> BookmarkProps {
        let mut p = BookmarkProps::default();
        for (name, v) in list.iter() {
            let name = name.to_string_lossy();
            let Value::NvList(inner) = v else { continue };
            let Some(value) = inner.get("value") else {
                continue;
            };
            let num = match value {
                Value::U64(n) => Some(n),
                ref v => value_as_i64(v).and_then(|n| u64::try_from(n).ok()),
            };
            match (name.as_ref(), &value) {
                ("redact_snaps", Value::U64Array(a)) => p.redact_snaps = Some(a.to_vec()),
                ("redact_complete", Value::BooleanValue(b)) => p.redact_complete = Some(*b),
                ("guid", _) => p.guid = num,
                ("createtxg", _) => p.createtxg = num,
                ("creation", _) => p.creation = num,
                ("ivsetguid", _) => p.ivsetguid = num,
                (other, _) => {
                    if let Some(n) = num {
                        p.other.insert(other.to_string(), n);
                    }
                }
            }
        }
        p
    }
}

/// Creates bookmarks: each `(bookmark, source)` pair makes `bookmark` from the snapshot or
/// existing bookmark `source` (same filesystem). All in one pool; atomic.
///
/// Errors (with [`Error::items`]): [`ErrorKind::Exists`], [`ErrorKind::NotFound`] (source
/// missing), [`ErrorKind::CrossPool`], [`ErrorKind::Mismatch`] (bookmark and source in
/// different filesystems), [`ErrorKind::NotSupported`] (pool feature disabled).
///
/// Corresponds to `lzc_bookmark`.
///
/// # Example
///
/// ```no_run
/// use flocker_core::lzc::{self, PointInTime};
/// use flocker_core::name::{BookmarkName, SnapshotName};
///
/// let snap = SnapshotName::new("tank/home@monday")?;
/// let mark = BookmarkName::new("tank/home#monday")?;
/// lzc::bookmark(&[(mark, PointInTime::from(&snap))])?;
/// // The snapshot may go now: the bookmark stays a source for incremental sends.
/// lzc::destroy_snaps(&[snap], false)?;
/// # Ok::<(), flocker_core::Error>(())
/// ```
#[doc(alias = "lzc_bookmark")]
pub fn bookmark(bookmarks: &[(BookmarkName, PointInTime<'_>)]) -> Result<()> {
    let names: Vec<&str> = bookmarks.iter().map(|(b, _)| b.as_str()).collect();
    let pools = bookmarks.iter().flat_map(|(b, s)| [b.pool(), s.pool()]);
    let ctx = Ctx::new("lzc_bookmark", Family::Bookmark).hints(Hints {
        same_pool: same_pool(pools),
        fs_mismatch: bookmarks.iter().any(|(b, s)| b.dataset() != s.dataset()),
        ..Hints::default()
    });
    let mut list = NvList::new()?;
    for (b, s) in bookmarks {
        list.add_string(b.as_str(), s.as_str())?;
    }
    // SAFETY: `list` is a valid nvlist that lzc only reads; the out-parameter is handled by
    // `call_batch`.
    ctx.call_batch(&names, |errlist| unsafe {
        sys::lzc_bookmark(list.as_ptr(), errlist)
    })
    .map(drop)
}

/// The bookmarks of `fs` with the requested properties (`"guid"`, `"createtxg"`,
/// `"creation"`, `"ivsetguid"`, `"redact_snaps"`, `"redact_complete"`, ...), sorted by name.
///
/// Errors: [`ErrorKind::NotFound`].
///
/// Corresponds to `lzc_get_bookmarks`.
#[doc(alias = "lzc_get_bookmarks")]
pub fn get_bookmarks(
    fs: &DatasetName,
    props: &[&str],
) -> Result<Vec<(BookmarkName, BookmarkProps)>> {
    let ctx = Ctx::new("lzc_get_bookmarks", Family::GetBookmarks).name(fs.as_str());
    let wanted = name_set(props.iter().copied())?;
    // SAFETY: the name is NUL-terminated; `wanted` is a valid nvlist lzc only reads; the
    // out-parameter is handled by `call_out`.
    let out = ctx.call_out(|out| unsafe {
        sys::lzc_get_bookmarks(fs.as_c_str().as_ptr(), wanted.as_ptr(), out)
    })?;
    let mut result = Vec::new();
    let Some(out) = out else { return Ok(result) };
    for (short, v) in out.as_ref().iter() {
        let short = short.to_string_lossy();
        let name = fs.bookmark(&short).map_err(|e| {
            Error::new(ErrorKind::InvalidData, "lzc_get_bookmarks")
                .with_name(fs.as_str())
                .with_detail(format!("kernel returned bookmark {short:?}: {e}"))
        })?;
        let props = match v {
            Value::NvList(l) => BookmarkProps::parse(l),
            _ => BookmarkProps::default(),
        };
        result.push((name, props));
    }
    result.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(result)
}

/// The properties of one bookmark (`guid`, `createtxg`, `creation`, `ivsetguid`, space
/// figures). The redaction properties (`redact_snaps`, `redact_complete`) are reported only by
/// [`get_bookmarks`] when requested.
///
/// Errors: [`ErrorKind::NotFound`].
///
/// Corresponds to `lzc_get_bookmark_props`.
#[doc(alias = "lzc_get_bookmark_props")]
pub fn get_bookmark_props(bookmark: &BookmarkName) -> Result<BookmarkProps> {
    let ctx = Ctx::new("lzc_get_bookmark_props", Family::GetBookmarks).name(bookmark.as_str());
    // SAFETY: the name is NUL-terminated; the out-parameter is handled by `call_out`.
    let out = ctx.call_out(|out| unsafe {
        sys::lzc_get_bookmark_props(bookmark.as_c_str().as_ptr(), out)
    })?;
    Ok(out
        .map(|l| BookmarkProps::parse(l.as_ref()))
        .unwrap_or_default())
}

/// Destroys bookmarks (all in one pool). Missing bookmarks are silently ignored; on failure
/// none is destroyed.
///
/// Errors (with [`Error::items`]): [`ErrorKind::CrossPool`].
///
/// Corresponds to `lzc_destroy_bookmarks`.
#[doc(alias = "lzc_destroy_bookmarks")]
pub fn destroy_bookmarks(bookmarks: &[BookmarkName]) -> Result<()> {
    let names: Vec<&str> = bookmarks.iter().map(BookmarkName::as_str).collect();
    let ctx = Ctx::new("lzc_destroy_bookmarks", Family::DestroyBookmarks).hints(Hints {
        same_pool: same_pool(bookmarks.iter().map(BookmarkName::pool)),
        ..Hints::default()
    });
    let list = name_set(names.iter().copied())?;
    // SAFETY: `list` is a valid nvlist lzc only reads; the out-parameter is handled by
    // `call_batch`.
    ctx.call_batch(&names, |errlist| unsafe {
        sys::lzc_destroy_bookmarks(list.as_ptr(), errlist)
    })
    .map(drop)
}

/// Creates the redaction bookmark `snap`'s filesystem `#book` by redacting `snap` with
/// respect to `redaction_snaps` (snapshots of clones of `snap`), for a later
/// [`send_redacted`](super::send_redacted). Returns the bookmark's name.
///
/// Errors: [`ErrorKind::Exists`], [`ErrorKind::NotFound`], [`ErrorKind::NotSupported`]
/// (`redaction_bookmarks` feature disabled), [`ErrorKind::InvalidArgument`].
///
/// Corresponds to `lzc_redact`.
#[doc(alias = "lzc_redact")]
pub fn redact(
    snap: &SnapshotName,
    book: &str,
    redaction_snaps: &[SnapshotName],
) -> Result<BookmarkName> {
    let bookmark = snap.dataset().bookmark(book)?;
    let ctx = Ctx::new("lzc_redact", Family::Generic).name(snap.as_str());
    let list = name_set(redaction_snaps.iter().map(SnapshotName::as_str))?;
    let book_c = super::c_string("lzc_redact", "bookmark name", book)?;
    // SAFETY: the names are NUL-terminated; `list` is a valid nvlist lzc only reads.
    ctx.call(|| unsafe {
        sys::lzc_redact(snap.as_c_str().as_ptr(), book_c.as_ptr(), list.as_ptr())
    })?;
    Ok(bookmark)
}
