//! A safe, 1:1 layer over libzfs_core (`lzc_*`): the only place in flocker-core where
//! libzfs_core is called.
//!
//! Each public function wraps one C function (or a small family of them), carries a
//! `#[doc(alias)]` with the C name, takes validated names ([`crate::name`]) so that nothing
//! reaches an ioctl unchecked, borrows file descriptors as [`BorrowedFd`], and returns
//! [`Result`] with a per-operation translated [`Error`].
//!
//! | area | functions |
//! |---|---|
//! | datasets | [`create`], [`clone`], [`promote`], [`rename`], [`destroy`], [`exists`], [`rollback`], [`rollback_to`] |
//! | snapshots | [`snapshot`], [`destroy_snaps`], [`snaprange_space`] |
//! | holds | [`hold`](fn@hold), [`release`], [`get_holds`], [`open_cleanup_fd`] |
//! | bookmarks | [`bookmark`](fn@bookmark), [`get_bookmarks`], [`get_bookmark_props`], [`destroy_bookmarks`], [`redact`] |
//! | send | [`send`](fn@send), [`send_resume`], [`send_redacted`], [`send_resume_redacted`], [`send_space`], [`send_space_resume_redacted`] |
//! | receive | [`receive`], [`receive_resumable`], [`receive_with_header`], [`receive_one`], [`receive_with_cmdprops`], [`BeginRecord`], [`ResumeToken`] |
//! | channel programs | [`channel_program`], [`channel_program_nosync`] |
//! | encryption | [`load_key`], [`unload_key`], [`change_key`] |
//! | pools | [`sync`], [`reopen`], [`pool_checkpoint`], [`pool_checkpoint_discard`], [`initialize`], [`trim`], [`wait`], [`wait_tag`], [`wait_fs`], [`set_bootenv`], [`get_bootenv`] |
//!
//! Functions added in OpenZFS 2.2 (`receive_with_heal`, `scrub`, `get_vdev_prop`,
//! `set_vdev_prop`, `send_wrapper`) and 2.3 (`get_props`, `pool_prefetch`, `ddt_prune`) exist
//! when the crate is built against those headers (`cfg(zfs_2_2)`, `cfg(zfs_2_3)`).
//!
//! Not wrapped, on purpose: `lzc_send_progress` (declared in `libzfs_core.h` but not exported
//! by `libzfs_core.so` in 2.1 or 2.3, so it cannot be linked), `lzc_ioctl_fd` (2.2+; a raw ioctl
//! on a `zfs_cmd_t`, whose definition OpenZFS does not install), and `libzfs_core_fini` (see
//! below).
//!
//! # Initialisation
//!
//! `libzfs_core_init` opens `/dev/zfs` once per process and is refcounted; every lzc call
//! checks that the descriptor is open and *aborts the process* otherwise, in release builds too
//! (OpenZFS #7745). This module calls `libzfs_core_init` lazily, before the first call, exactly
//! once successfully per process, and never calls `libzfs_core_fini`. If initialisation fails
//! (no ZFS kernel module, no permission on `/dev/zfs`), every call returns an [`Error`] of kind
//! [`ErrorKind::Unavailable`] with the errno, and the next
//! call tries again. [`init`] does it eagerly.
//!
//! # Threads
//!
//! Every function here may be called from many threads at once. libzfs_core keeps one global
//! descriptor that is only written under its own mutex by init/fini (and we never fini); each
//! call builds its own `zfs_cmd_t` and argument nvlists on its own stack and heap and issues
//! independent `ioctl(2)`s, which the kernel serialises where it must (dataset and pool locks,
//! transaction groups). No lzc function keeps other global state.
//!
//! # Errors
//!
//! The private choke point turns each C return value (and the `errlist` of batch calls) into
//! a `Result`; see [`crate::error`] for the model. Batch calls whose kernel reply lists failed
//! items return them in [`Error::items`].

use std::ffi::{CStr, CString, c_int};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::ptr;
use std::sync::{Mutex, OnceLock};

use libzfs_core_sys as sys;

use crate::error::{Error, ErrorKind, ItemError, Result};
use crate::name::{BookmarkName, DatasetName, PoolName, SnapshotName};
use crate::nvlist::{NvList, NvListRef, Value};

mod bookmark;
mod dataset;
mod hold;
mod pool;
mod program;
mod recv;
mod send;
mod translate;

pub use bookmark::{
    BookmarkProps, bookmark, destroy_bookmarks, get_bookmark_props, get_bookmarks, redact,
};
pub use dataset::{
    DatasetType, clone, create, destroy, destroy_snaps, exists, promote, rename, rename_snapshot,
    rollback, rollback_to, snaprange_space, snapshot,
};
pub use hold::{get_holds, hold, open_cleanup_fd, release};
#[cfg(zfs_2_3)]
pub use pool::{DdtPruneUnit, PrefetchType, ddt_prune, get_props, pool_prefetch};
pub use pool::{
    FsWaitActivity, InitializeCommand, KeyCommand, PoolWaitActivity, TrimCommand, change_key,
    get_bootenv, initialize, load_key, pool_checkpoint, pool_checkpoint_discard, reopen,
    set_bootenv, sync, trim, unload_key, wait, wait_fs, wait_tag,
};
#[cfg(zfs_2_2)]
pub use pool::{ScrubCommand, ScrubType, get_vdev_prop, scrub, set_vdev_prop};
pub use program::{ProgramLimits, ProgramOutput, channel_program, channel_program_nosync};
#[cfg(zfs_2_2)]
pub use recv::receive_with_heal;
pub use recv::{
    BeginRecord, REPLAY_RECORD_SIZE, ReceiveOptions, ReceiveOutcome, receive, receive_one,
    receive_resumable, receive_with_cmdprops, receive_with_header,
};
pub(crate) use send::send_in_child;
#[cfg(zfs_2_2)]
pub use send::send_wrapper;
pub use send::{
    ResumePoint, ResumeToken, SendFlags, send, send_redacted, send_resume, send_resume_redacted,
    send_saved, send_space, send_space_resume_redacted,
};

pub(crate) use translate::{Family, io_error};
use translate::{Hints, translate};

/// A snapshot or a bookmark: the source of an incremental send, of a space estimate or of a
/// new bookmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PointInTime<'a> {
    /// `fs@snap`.
    Snapshot(&'a SnapshotName),
    /// `fs#bookmark`.
    Bookmark(&'a BookmarkName),
}

impl PointInTime<'_> {
    /// The full name.
    pub fn as_str(&self) -> &str {
        match self {
            PointInTime::Snapshot(s) => s.as_str(),
            PointInTime::Bookmark(b) => b.as_str(),
        }
    }

    /// The full name as a C string.
    pub fn as_c_str(&self) -> &CStr {
        match self {
            PointInTime::Snapshot(s) => s.as_c_str(),
            PointInTime::Bookmark(b) => b.as_c_str(),
        }
    }

    /// The filesystem or volume it belongs to.
    pub fn dataset(&self) -> DatasetName {
        match self {
            PointInTime::Snapshot(s) => s.dataset(),
            PointInTime::Bookmark(b) => b.dataset(),
        }
    }

    /// Its pool.
    pub fn pool(&self) -> PoolName {
        match self {
            PointInTime::Snapshot(s) => s.pool(),
            PointInTime::Bookmark(b) => b.pool(),
        }
    }
}

impl<'a> From<&'a SnapshotName> for PointInTime<'a> {
    fn from(s: &'a SnapshotName) -> Self {
        PointInTime::Snapshot(s)
    }
}

impl<'a> From<&'a BookmarkName> for PointInTime<'a> {
    fn from(b: &'a BookmarkName) -> Self {
        PointInTime::Bookmark(b)
    }
}

/// Names [`exists`] can check: pools, filesystems and volumes, snapshots. (The kernel's
/// `ZFS_IOC_OBJSET_STATS` does not look up bookmarks.)
pub trait ObjsetName: sealed::Sealed {
    /// The full name as a C string.
    fn objset_c_str(&self) -> &CStr;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for crate::name::PoolName {}
    impl Sealed for crate::name::DatasetName {}
    impl Sealed for crate::name::SnapshotName {}
}

impl ObjsetName for PoolName {
    fn objset_c_str(&self) -> &CStr {
        self.as_c_str()
    }
}
impl ObjsetName for DatasetName {
    fn objset_c_str(&self) -> &CStr {
        self.as_c_str()
    }
}
impl ObjsetName for SnapshotName {
    fn objset_c_str(&self) -> &CStr {
        self.as_c_str()
    }
}

// ---------------------------------------------------------------------------------------------
// Initialisation.

/// Set once `libzfs_core_init` has succeeded; never reset (we never call `libzfs_core_fini`).
static INITIALISED: OnceLock<()> = OnceLock::new();
/// Serialises initialisation attempts so that only one succeeds.
static INIT_LOCK: Mutex<()> = Mutex::new(());

/// Initialises libzfs_core for this process if that has not been done yet.
///
/// Every function of this module does this itself; call it to find out early whether ZFS is
/// usable. Fails with [`ErrorKind::Unavailable`] (and the errno of `open("/dev/zfs")`) when
/// the ZFS kernel module is not loaded or `/dev/zfs` cannot be opened; a later call tries again.
///
/// Corresponds to `libzfs_core_init`. `libzfs_core_fini` is never called.
#[doc(alias = "libzfs_core_init")]
pub fn init() -> Result<()> {
    ensure_init("libzfs_core_init")
}

fn ensure_init(op: &'static str) -> Result<()> {
    if INITIALISED.get().is_some() {
        return Ok(());
    }
    // A poisoned lock only means another thread panicked while holding it; the state it
    // protects is the OnceLock, which is always consistent.
    let _guard = INIT_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    if INITIALISED.get().is_some() {
        return Ok(());
    }
    // SAFETY: libzfs_core_init takes no arguments and only opens /dev/zfs under its own mutex;
    // on failure it leaves its refcount at zero, so retrying later is allowed.
    let rc = unsafe { sys::libzfs_core_init() };
    if rc == 0 {
        let _ = INITIALISED.set(());
        Ok(())
    } else {
        Err(Error::new(ErrorKind::Unavailable, op)
            .with_errno(rc)
            .with_detail(format!(
                "libzfs_core_init cannot open /dev/zfs: {}",
                std::io::Error::from_raw_os_error(rc)
            )))
    }
}

// ---------------------------------------------------------------------------------------------
// The choke point.

/// Context of one raw call: the C function, its translation family, hints about the
/// arguments, and the name the error should mention.
#[derive(Clone, Copy)]
pub(crate) struct Ctx<'n> {
    op: &'static str,
    family: Family,
    hints: Hints,
    name: Option<&'n str>,
}

impl<'n> Ctx<'n> {
    pub(crate) fn new(op: &'static str, family: Family) -> Self {
        Ctx {
            op,
            family,
            hints: Hints::default(),
            name: None,
        }
    }

    pub(crate) fn name(mut self, name: &'n str) -> Self {
        self.name = Some(name);
        self
    }

    pub(crate) fn hints(mut self, hints: Hints) -> Self {
        self.hints = hints;
        self
    }

    /// The error for a non-zero return value `ret`.
    fn error(&self, ret: c_int) -> Error {
        let mut e = Error::new(translate(self.family, ret, self.hints), self.op).with_errno(ret);
        if let Some(n) = self.name {
            e = e.with_name(n);
        }
        e
    }

    /// `Ok` for 0, the translated error otherwise (also for an errno that did not come from a
    /// raw call made here, such as a send child's exit status).
    pub(crate) fn check(&self, ret: c_int) -> Result<()> {
        if ret == 0 {
            Ok(())
        } else {
            Err(self.error(ret))
        }
    }

    /// The one place raw calls are made: initialises libzfs_core, runs `prepare` (work that
    /// must wait until ZFS is known to be usable, such as reading a stream's first record),
    /// then the raw call `f` with an nvlist out-parameter, whose list is returned with the
    /// return value (lzc may leave it NULL, also on success).
    fn raw<P>(
        &self,
        prepare: impl FnOnce() -> Result<P>,
        f: impl FnOnce(P, *mut *mut sys::nvlist_t) -> c_int,
    ) -> Result<(c_int, Option<NvList>)> {
        ensure_init(self.op)?;
        let p = prepare()?;
        let mut out: *mut sys::nvlist_t = ptr::null_mut();
        let ret = f(p, &raw mut out);
        // SAFETY: lzc functions store in their out-parameter either NULL or a list allocated
        // by libnvpair that the caller owns and must free; we take ownership exactly once.
        let out = unsafe { NvList::from_raw_opt(out) };
        Ok((ret, out))
    }

    /// Initialises libzfs_core, runs the raw call `f` and checks its return value.
    pub(crate) fn call(&self, f: impl FnOnce() -> c_int) -> Result<()> {
        let (ret, _) = self.raw(|| Ok(()), |(), _| f())?;
        self.check(ret)
    }

    /// Initialises libzfs_core and runs the raw call `f`, whose result is not an errno
    /// (`lzc_exists` answers a boolean).
    pub(crate) fn call_value<T>(&self, f: impl FnOnce() -> T) -> Result<T> {
        ensure_init(self.op)?;
        Ok(f())
    }

    /// Like [`Ctx::call`] for functions with an nvlist out-parameter, which is returned (lzc
    /// may leave it NULL, also on success).
    pub(crate) fn call_out(
        &self,
        f: impl FnOnce(*mut *mut sys::nvlist_t) -> c_int,
    ) -> Result<Option<NvList>> {
        self.call_out_prepared(|| Ok(()), |(), out| f(out))
    }

    /// Like [`Ctx::call_out`], with `prepare` run after initialisation and before the call;
    /// its result is handed to `f` (a receive reads the stream's BEGIN record there, so that
    /// nothing is consumed from the stream when ZFS is unavailable).
    pub(crate) fn call_out_prepared<P>(
        &self,
        prepare: impl FnOnce() -> Result<P>,
        f: impl FnOnce(P, *mut *mut sys::nvlist_t) -> c_int,
    ) -> Result<Option<NvList>> {
        let (ret, out) = self.raw(prepare, f)?;
        self.check(ret)?;
        Ok(out)
    }

    /// Like [`Ctx::call_out`] for calls whose out-list carries a message when they fail (a
    /// channel program's Lua error, found by `message`): it becomes the error's detail, and
    /// the translation knows there was one ([`Hints::program_message`]).
    pub(crate) fn call_out_with_message(
        &self,
        f: impl FnOnce(*mut *mut sys::nvlist_t) -> c_int,
        message: impl FnOnce(NvListRef<'_>) -> Option<String>,
    ) -> Result<Option<NvList>> {
        let (ret, out) = self.raw(|| Ok(()), |(), o| f(o))?;
        if ret == 0 {
            return Ok(out);
        }
        let message = out.as_ref().and_then(|l| message(l.as_ref()));
        let ctx = self.hints(Hints {
            program_message: message.is_some(),
            ..self.hints
        });
        let mut err = ctx.error(ret);
        if let Some(m) = message {
            err = err.with_detail(m);
        }
        Err(err)
    }

    /// A batch call with an `errlist` out-parameter. `names` are the items of the batch (the
    /// error names the only item when there is one). Returns the item errors the kernel
    /// reported for a successful call (holds on missing snapshots, ...).
    pub(crate) fn call_batch(
        &self,
        names: &[&str],
        f: impl FnOnce(*mut *mut sys::nvlist_t) -> c_int,
    ) -> Result<Vec<ItemError>> {
        self.call_batch_under(None, names, f)
    }

    /// Like [`Ctx::call_batch`]; with `errkey`, the errlist is the list under that key of the
    /// out-list (vdev calls reply `{ errkey: { guid: errno } }`).
    pub(crate) fn call_batch_under(
        &self,
        errkey: Option<&str>,
        names: &[&str],
        f: impl FnOnce(*mut *mut sys::nvlist_t) -> c_int,
    ) -> Result<Vec<ItemError>> {
        let (ret, out) = self.raw(|| Ok(()), |(), o| f(o))?;
        let errlist = out.as_ref().and_then(|l| match errkey {
            None => Some(l.as_ref()),
            Some(k) => match l.as_ref().get(k) {
                Some(Value::NvList(inner)) => Some(inner),
                _ => None,
            },
        });
        let (items, suppressed) = match errlist {
            Some(l) => parse_errlist(l, self.family, self.hints),
            None => (Vec::new(), 0),
        };
        if ret == 0 {
            return Ok(items);
        }
        Err(self.batch_error(ret, names, items, suppressed))
    }

    fn batch_error(
        &self,
        ret: c_int,
        names: &[&str],
        items: Vec<ItemError>,
        suppressed: u64,
    ) -> Error {
        let name = if items.len() == 1 {
            Some(items[0].name().to_string())
        } else if names.len() == 1 {
            Some(names[0].to_string())
        } else {
            self.name.map(str::to_string)
        };
        let mut e = Error::new(translate(self.family, ret, self.hints), self.op)
            .with_errno(ret)
            .with_items(items, suppressed);
        if let Some(n) = name {
            e = e.with_name(n);
        }
        e
    }
}

/// The key under which lzc reports how many errors it left out of an errlist.
pub(crate) const N_MORE_ERRORS: &str = "N_MORE_ERRORS";

/// Any integer value of an nvpair as an `i64`, whatever its C type (the kernel uses `int32`
/// for most errlists, `int64` for vdev errlists; nothing here may panic on other types).
pub(crate) fn value_as_i64(v: &Value<'_>) -> Option<i64> {
    match *v {
        Value::I8(x) => Some(x.into()),
        Value::U8(x) | Value::Byte(x) => Some(x.into()),
        Value::I16(x) => Some(x.into()),
        Value::U16(x) => Some(x.into()),
        Value::I32(x) => Some(x.into()),
        Value::U32(x) => Some(x.into()),
        Value::I64(x) => Some(x),
        Value::U64(x) => i64::try_from(x).ok(),
        _ => None,
    }
}

/// Turns an lzc errlist (`name → errno`, plus `N_MORE_ERRORS → count`) into item errors.
pub(crate) fn parse_errlist(
    list: NvListRef<'_>,
    family: Family,
    hints: Hints,
) -> (Vec<ItemError>, u64) {
    let mut items = Vec::new();
    let mut suppressed = 0u64;
    for (name, value) in list.iter() {
        let name = name.to_string_lossy().into_owned();
        let number = value_as_i64(&value);
        if name == N_MORE_ERRORS {
            suppressed = number.and_then(|n| u64::try_from(n).ok()).unwrap_or(0);
            continue;
        }
        let item = match number.and_then(|n| i32::try_from(n).ok()) {
            Some(errno) => ItemError::new(name, Some(errno), translate(family, errno, hints)),
            None => ItemError::new(name, None, ErrorKind::InvalidData),
        };
        items.push(item);
    }
    (items, suppressed)
}

/// An nvlist whose keys are `names` with no values (`DATA_TYPE_BOOLEAN`), the form of most lzc
/// batch arguments.
pub(crate) fn name_set<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<NvList> {
    let mut l = NvList::new()?;
    for n in names {
        l.add_boolean(n)?;
    }
    Ok(l)
}

/// True when all names belong to the same pool (vacuously for none).
pub(crate) fn same_pool(pools: impl IntoIterator<Item = PoolName>) -> bool {
    let mut it = pools.into_iter();
    match it.next() {
        None => true,
        Some(first) => it.all(|p| p == first),
    }
}

/// A C string from a caller-supplied `&str` (a hold tag, a program), or a typed error.
pub(crate) fn c_string(op: &'static str, what: &str, s: &str) -> Result<CString> {
    CString::new(s).map_err(|_| {
        Error::new(ErrorKind::InvalidArgument, op)
            .with_detail(format!("{what} contains a NUL byte"))
    })
}

/// `B_TRUE` / `B_FALSE`.
pub(crate) fn boolean(b: bool) -> sys::boolean_t {
    if b { sys::B_TRUE } else { sys::B_FALSE }
}

/// A raw fd for C, or -1.
pub(crate) fn raw_fd(fd: Option<BorrowedFd<'_>>) -> c_int {
    fd.map_or(-1, |f| f.as_raw_fd())
}

/// The nvlist pointer of an optional input list, or NULL.
pub(crate) fn opt_ptr(l: Option<&NvList>) -> *mut sys::nvlist_t {
    l.map_or(ptr::null_mut(), NvList::as_ptr)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ZfsErrCode;

    #[test]
    fn errlist_with_odd_values_does_not_panic() {
        let mut l = NvList::new().unwrap();
        l.add_i32("p/a@s", libc::EEXIST).unwrap();
        l.add_i64("p/b@s", i64::from(libc::ENOENT)).unwrap();
        l.add_u64("p/c@s", u64::MAX).unwrap();
        l.add_string("p/d@s", "not a number").unwrap();
        l.add_boolean("p/e@s").unwrap();
        l.add_i32(N_MORE_ERRORS, 7).unwrap();
        let (items, more) = parse_errlist(l.as_ref(), Family::Snapshot, Hints::default());
        assert_eq!(more, 7);
        let kinds: Vec<_> = items
            .iter()
            .map(|i| (i.name(), i.errno(), i.kind()))
            .collect();
        assert_eq!(
            kinds,
            vec![
                ("p/a@s", Some(libc::EEXIST), ErrorKind::Exists),
                ("p/b@s", Some(libc::ENOENT), ErrorKind::NotFound),
                ("p/c@s", None, ErrorKind::InvalidData),
                ("p/d@s", None, ErrorKind::InvalidData),
                ("p/e@s", None, ErrorKind::InvalidData),
            ]
        );
    }

    #[test]
    fn batch_error_names_the_single_item() {
        let ctx = Ctx::new("lzc_destroy_snaps", Family::DestroySnaps);
        let items = vec![ItemError::new(
            "p/a@s".into(),
            Some(libc::EBUSY),
            ErrorKind::Held,
        )];
        let e = ctx.batch_error(libc::EBUSY, &["p/a@s", "p/b@s"], items, 0);
        assert_eq!(e.kind(), ErrorKind::Held);
        assert_eq!(e.name(), Some("p/a@s"));
        assert_eq!(e.operation(), "lzc_destroy_snaps");
        assert_eq!(e.items().len(), 1);
    }

    #[test]
    fn zfs_codes_match_the_headers() {
        let pairs: &[(ZfsErrCode, u32)] = &[
            (ZfsErrCode::CheckpointExists, sys::ZFS_ERR_CHECKPOINT_EXISTS),
            (ZfsErrCode::IocCmdUnavail, sys::ZFS_ERR_IOC_CMD_UNAVAIL),
            (ZfsErrCode::WrongParent, sys::ZFS_ERR_WRONG_PARENT),
            (ZfsErrCode::StreamTruncated, sys::ZFS_ERR_STREAM_TRUNCATED),
            (ZfsErrCode::BadProp, sys::ZFS_ERR_BADPROP),
        ];
        for (c, raw) in pairs {
            assert_eq!(c.code() as u32, *raw, "{c:?}");
        }
        #[cfg(zfs_2_3)]
        assert_eq!(
            ZfsErrCode::StreamLargeMicrozap.code() as u32,
            sys::ZFS_ERR_STREAM_LARGE_MICROZAP
        );
    }

    #[test]
    fn missing_dev_zfs_is_a_typed_error_from_every_call() {
        if std::path::Path::new("/dev/zfs").exists() {
            return; // inside the lab: initialisation may succeed
        }
        let e = init().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unavailable);
        assert_eq!(e.errno(), Some(libc::ENOENT));
        let fs = DatasetName::new("p/x").unwrap();
        let e = exists(&fs).unwrap_err();
        assert_eq!(
            (e.kind(), e.operation()),
            (ErrorKind::Unavailable, "lzc_exists")
        );
        let e = destroy(&fs).unwrap_err();
        assert_eq!(
            (e.kind(), e.operation()),
            (ErrorKind::Unavailable, "lzc_destroy")
        );
        let snap = fs.snapshot("s").unwrap();
        let e = snapshot(std::slice::from_ref(&snap), None).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unavailable);
    }

    #[test]
    fn same_pool_checks_all() {
        let p = |s: &str| PoolName::new(s).unwrap();
        assert!(same_pool([]));
        assert!(same_pool([p("a"), p("a")]));
        assert!(!same_pool([p("a"), p("b"), p("a")]));
    }
}
