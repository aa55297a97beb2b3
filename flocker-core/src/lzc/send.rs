//! Send streams: send and its resumable / redacted variants, space estimates, resume tokens.

use std::ffi::c_char;
use std::fmt;
use std::ops::{BitOr, BitOrAssign};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::ptr;

use libzfs_core_sys as sys;

use super::translate::{Family, Hints};
use super::{Ctx, PointInTime, raw_fd};
use crate::error::{Error, ErrorKind, Result};
use crate::name::{BookmarkName, DatasetName, SnapshotName};
use crate::nvlist::{NvList, Value};

/// Stream features a send may use (`enum lzc_send_flags`). Combine with `|`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SendFlags(u32);

// The C enum's Rust type depends on the target (u32 or i32), hence the casts.
#[allow(clippy::unnecessary_cast)]
impl SendFlags {
    /// `LZC_SEND_FLAG_EMBED_DATA`: `WRITE_EMBEDDED` records (the receiver needs the
    /// `embedded_data` feature).
    pub const EMBED_DATA: SendFlags = SendFlags(sys::LZC_SEND_FLAG_EMBED_DATA as u32);
    /// `LZC_SEND_FLAG_LARGE_BLOCK`: blocks larger than 128 KiB.
    pub const LARGE_BLOCK: SendFlags = SendFlags(sys::LZC_SEND_FLAG_LARGE_BLOCK as u32);
    /// `LZC_SEND_FLAG_COMPRESS`: compressed `WRITE` records as stored on disk.
    pub const COMPRESS: SendFlags = SendFlags(sys::LZC_SEND_FLAG_COMPRESS as u32);
    /// `LZC_SEND_FLAG_RAW`: encrypted data exactly as on disk (keys need not be loaded).
    pub const RAW: SendFlags = SendFlags(sys::LZC_SEND_FLAG_RAW as u32);
    /// `LZC_SEND_FLAG_SAVED`: send the partially received state of a filesystem (see
    /// [`send_saved`]).
    pub const SAVED: SendFlags = SendFlags(sys::LZC_SEND_FLAG_SAVED as u32);

    /// No flags.
    pub const fn empty() -> SendFlags {
        SendFlags(0)
    }

    /// The raw value.
    pub const fn bits(self) -> u32 {
        self.0
    }

    /// Whether every flag of `other` is set.
    pub const fn contains(self, other: SendFlags) -> bool {
        self.0 & other.0 == other.0
    }

    fn raw(self) -> sys::lzc_send_flags {
        self.0 as sys::lzc_send_flags
    }
}

impl BitOr for SendFlags {
    type Output = SendFlags;
    fn bitor(self, rhs: SendFlags) -> SendFlags {
        SendFlags(self.0 | rhs.0)
    }
}

impl BitOrAssign for SendFlags {
    fn bitor_assign(&mut self, rhs: SendFlags) {
        self.0 |= rhs.0;
    }
}

impl fmt::Debug for SendFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = [
            (SendFlags::EMBED_DATA, "EMBED_DATA"),
            (SendFlags::LARGE_BLOCK, "LARGE_BLOCK"),
            (SendFlags::COMPRESS, "COMPRESS"),
            (SendFlags::RAW, "RAW"),
            (SendFlags::SAVED, "SAVED"),
        ];
        let set: Vec<&str> = names
            .iter()
            .filter(|(v, _)| self.contains(*v))
            .map(|(_, n)| *n)
            .collect();
        write!(
            f,
            "SendFlags({})",
            if set.is_empty() {
                "empty".to_string()
            } else {
                set.join(" | ")
            }
        )
    }
}

fn from_ptr(from: Option<PointInTime<'_>>) -> *const c_char {
    from.map_or(ptr::null(), |f| f.as_c_str().as_ptr())
}

/// The kernel takes a redaction bookmark by its short name and looks it up on the sent
/// snapshot's filesystem; refuse a bookmark of another filesystem before the ioctl.
fn redact_book(
    op: &'static str,
    snap: &SnapshotName,
    book: Option<&BookmarkName>,
) -> Result<Option<std::ffi::CString>> {
    let Some(b) = book else { return Ok(None) };
    if b.dataset() != snap.dataset() {
        return Err(Error::new(ErrorKind::Mismatch, op)
            .with_name(b.as_str())
            .with_detail(format!(
                "the redaction bookmark must belong to {}",
                snap.dataset()
            )));
    }
    super::c_string(op, "bookmark name", b.short_name()).map(Some)
}

fn opt_c(s: &Option<std::ffi::CString>) -> *const c_char {
    s.as_ref().map_or(ptr::null(), |c| c.as_ptr())
}

fn send_ctx<'a>(
    op: &'static str,
    snap: &'a str,
    from: Option<PointInTime<'_>>,
    pool: crate::name::PoolName,
) -> Ctx<'a> {
    Ctx::new(op, Family::Send).name(snap).hints(Hints {
        same_pool: from.is_none_or(|f| f.pool() == pool),
        ..Hints::default()
    })
}

/// Writes a send stream of `snap` to `fd`: a full stream, or an incremental one from the
/// earlier snapshot or bookmark `from` (of the same filesystem or of its origin). Blocks until
/// the stream is written; `fd` may be a pipe (read it from another thread), a file or a
/// socket.
///
/// Errors: [`ErrorKind::NotFound`], [`ErrorKind::Mismatch`] (`from` is not an earlier point
/// of `snap`'s history), [`ErrorKind::CrossPool`], [`ErrorKind::BrokenPipe`] (the reader went
/// away), [`ErrorKind::BadFileDescriptor`], [`ErrorKind::Io`].
///
/// Reading the stream with [`receive`](super::receive) in another thread of the same process
/// can leave a killed process unable to exit (a receive may miss the SIGKILL and wait for the
/// rest of a stream whose writer died with the process): put the send in another process, as
/// this crate's rollback does (ROLLBACK.md, "A killed operation ends").
///
/// Corresponds to `lzc_send`.
///
/// # Example
///
/// ```no_run
/// use std::fs::File;
/// use std::os::fd::AsFd;
///
/// use flocker_core::lzc::{self, PointInTime, SendFlags};
/// use flocker_core::name::SnapshotName;
///
/// let monday = SnapshotName::new("tank/home@monday")?;
/// let tuesday = SnapshotName::new("tank/home@tuesday")?;
/// let out = File::create("/backup/home-monday-tuesday.zstream")?;
/// let flags = SendFlags::LARGE_BLOCK | SendFlags::COMPRESS;
/// lzc::send(&tuesday, Some(PointInTime::from(&monday)), out.as_fd(), flags)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[doc(alias = "lzc_send")]
pub fn send(
    snap: &SnapshotName,
    from: Option<PointInTime<'_>>,
    fd: BorrowedFd<'_>,
    flags: SendFlags,
) -> Result<()> {
    let ctx = send_ctx("lzc_send", snap.as_str(), from, snap.pool());
    // SAFETY: names are NUL-terminated (or NULL for no `from`); `fd` is borrowed for the call.
    ctx.call(|| unsafe {
        sys::lzc_send(
            snap.as_c_str().as_ptr(),
            from_ptr(from),
            fd.as_raw_fd(),
            flags.raw(),
        )
    })
}

/// A [`send`] running in a child process that dies with this one, writing to a pipe whose
/// reader is in this process (see `kernel::child_send`). Finish it with [`ChildSend::finish`].
pub(crate) struct ChildSend {
    child: crate::kernel::child_send::ChildSend,
    snap: SnapshotName,
    from: Option<String>,
}

impl ChildSend {
    /// Waits for the send to end; its errors as [`send`] reports them.
    pub(crate) fn finish(self) -> Result<()> {
        let errno = self.child.wait()?;
        let same_pool = self
            .from
            .as_deref()
            .is_none_or(|f| f.split(['/', '@', '#']).next() == Some(self.snap.pool().as_str()));
        Ctx::new("lzc_send", Family::Send)
            .name(self.snap.as_str())
            .hints(Hints {
                same_pool,
                ..Hints::default()
            })
            .check(errno)
    }
}

/// Starts [`send`] in a child process, writing to `out` (moved there; keep no copy of the
/// write end). Used wherever this crate's own receive or copy reads the stream: a killed
/// process then always ends (a receive can miss the SIGKILL and wait for a writer that is a
/// thread of the dying process itself).
pub(crate) fn send_in_child(
    snap: &SnapshotName,
    from: Option<PointInTime<'_>>,
    out: std::os::fd::OwnedFd,
    flags: SendFlags,
) -> Result<ChildSend> {
    let names = [
        (SendFlags::LARGE_BLOCK, "largeblockok"),
        (SendFlags::EMBED_DATA, "embedok"),
        (SendFlags::COMPRESS, "compressok"),
        (SendFlags::RAW, "rawok"),
        (SendFlags::SAVED, "savedok"),
    ];
    let options: Vec<&str> = names
        .iter()
        .filter(|(f, _)| flags.contains(*f))
        .map(|(_, n)| *n)
        .collect();
    let from = from.map(|f| f.as_str().to_string());
    let child = crate::kernel::child_send::start(snap.as_str(), from.as_deref(), &options, out)?;
    Ok(ChildSend {
        child,
        snap: snap.clone(),
        from,
    })
}

/// Sends the partially received state saved by an interrupted resumable receive into `fs`
/// (`zfs send -S`). [`SendFlags::SAVED`] is added to `flags`.
///
/// Corresponds to `lzc_send` with `LZC_SEND_FLAG_SAVED`.
#[doc(alias = "lzc_send")]
pub fn send_saved(fs: &DatasetName, fd: BorrowedFd<'_>, flags: SendFlags) -> Result<()> {
    let ctx = Ctx::new("lzc_send", Family::Send).name(fs.as_str());
    let flags = flags | SendFlags::SAVED;
    // SAFETY: the name is NUL-terminated; `fd` is borrowed for the call.
    ctx.call(|| unsafe {
        sys::lzc_send(
            fs.as_c_str().as_ptr(),
            ptr::null(),
            fd.as_raw_fd(),
            flags.raw(),
        )
    })
}

/// Where to resume a send: the object and offset from a receive's resume token (see
/// [`ResumeToken`]), and for space estimates the bytes already sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ResumePoint {
    /// Object number to resume from.
    pub object: u64,
    /// Offset within that object.
    pub offset: u64,
    /// Bytes already received (used by [`send_space_resume_redacted`] only).
    pub bytes: u64,
}

/// Like [`send`], resuming an interrupted stream at `resume` (take it from the target's
/// `receive_resume_token`, parsed with [`ResumeToken::parse`]).
///
/// Corresponds to `lzc_send_resume`.
#[doc(alias = "lzc_send_resume")]
pub fn send_resume(
    snap: &SnapshotName,
    from: Option<PointInTime<'_>>,
    fd: BorrowedFd<'_>,
    flags: SendFlags,
    resume: ResumePoint,
) -> Result<()> {
    let ctx = send_ctx("lzc_send_resume", snap.as_str(), from, snap.pool());
    // SAFETY: names are NUL-terminated (or NULL); `fd` is borrowed for the call.
    ctx.call(|| unsafe {
        sys::lzc_send_resume(
            snap.as_c_str().as_ptr(),
            from_ptr(from),
            fd.as_raw_fd(),
            flags.raw(),
            resume.object,
            resume.offset,
        )
    })
}

/// Like [`send`], sending a redacted stream with respect to the redaction bookmark
/// `redactbook` (made by [`redact`](super::redact); it must be a bookmark of `snap`'s
/// filesystem, else [`ErrorKind::Mismatch`] before any ioctl).
///
/// Corresponds to `lzc_send_redacted`.
#[doc(alias = "lzc_send_redacted")]
pub fn send_redacted(
    snap: &SnapshotName,
    from: Option<PointInTime<'_>>,
    fd: BorrowedFd<'_>,
    flags: SendFlags,
    redactbook: &BookmarkName,
) -> Result<()> {
    let ctx = send_ctx("lzc_send_redacted", snap.as_str(), from, snap.pool());
    let book = redact_book("lzc_send_redacted", snap, Some(redactbook))?;
    // SAFETY: names are NUL-terminated (or NULL); `fd` is borrowed for the call.
    ctx.call(|| unsafe {
        sys::lzc_send_redacted(
            snap.as_c_str().as_ptr(),
            from_ptr(from),
            fd.as_raw_fd(),
            flags.raw(),
            opt_c(&book),
        )
    })
}

/// The general form of [`send`]: optionally resuming and optionally redacted.
///
/// Corresponds to `lzc_send_resume_redacted`.
#[doc(alias = "lzc_send_resume_redacted")]
pub fn send_resume_redacted(
    snap: &SnapshotName,
    from: Option<PointInTime<'_>>,
    fd: BorrowedFd<'_>,
    flags: SendFlags,
    resume: ResumePoint,
    redactbook: Option<&BookmarkName>,
) -> Result<()> {
    let ctx = send_ctx("lzc_send_resume_redacted", snap.as_str(), from, snap.pool());
    let book = redact_book("lzc_send_resume_redacted", snap, redactbook)?;
    // SAFETY: names are NUL-terminated (or NULL); `fd` is borrowed for the call.
    ctx.call(|| unsafe {
        sys::lzc_send_resume_redacted(
            snap.as_c_str().as_ptr(),
            from_ptr(from),
            fd.as_raw_fd(),
            flags.raw(),
            resume.object,
            resume.offset,
            opt_c(&book),
        )
    })
}

/// Estimates the size in bytes of the stream [`send`] would write.
///
/// Errors as for [`send`].
///
/// Corresponds to `lzc_send_space`.
#[doc(alias = "lzc_send_space")]
pub fn send_space(
    snap: &SnapshotName,
    from: Option<PointInTime<'_>>,
    flags: SendFlags,
) -> Result<u64> {
    let ctx = send_ctx("lzc_send_space", snap.as_str(), from, snap.pool());
    let mut space = 0u64;
    // SAFETY: names are NUL-terminated (or NULL); `space` is a valid out-pointer.
    ctx.call(|| unsafe {
        sys::lzc_send_space(
            snap.as_c_str().as_ptr(),
            from_ptr(from),
            flags.raw(),
            &raw mut space,
        )
    })?;
    Ok(space)
}

/// The general form of [`send_space`]: resuming at `resume` (its `bytes` are subtracted),
/// optionally redacted, optionally estimating by a dry-run send to `fd`.
///
/// Corresponds to `lzc_send_space_resume_redacted`.
#[doc(alias = "lzc_send_space_resume_redacted")]
pub fn send_space_resume_redacted(
    snap: &SnapshotName,
    from: Option<PointInTime<'_>>,
    flags: SendFlags,
    resume: ResumePoint,
    redactbook: Option<&BookmarkName>,
    fd: Option<BorrowedFd<'_>>,
) -> Result<u64> {
    let ctx = send_ctx(
        "lzc_send_space_resume_redacted",
        snap.as_str(),
        from,
        snap.pool(),
    );
    let book = redact_book("lzc_send_space_resume_redacted", snap, redactbook)?;
    let mut space = 0u64;
    // SAFETY: names are NUL-terminated (or NULL); `fd` is -1 or borrowed for the call;
    // `space` is a valid out-pointer.
    ctx.call(|| unsafe {
        sys::lzc_send_space_resume_redacted(
            snap.as_c_str().as_ptr(),
            from_ptr(from),
            flags.raw(),
            resume.object,
            resume.offset,
            resume.bytes,
            opt_c(&book),
            raw_fd(fd),
            &raw mut space,
        )
    })?;
    Ok(space)
}

/// Runs `f` with a descriptor a send may write to: `fd` itself when it is a pipe, otherwise
/// a pipe whose contents a libzfs_core thread copies to `fd` (Linux 5.10+ refuses kernel
/// writes to some descriptors, such as `/dev/null`). The send functions of this module already
/// do this on 2.2+ libraries; use it for your own multi-step sends.
///
/// Returns `f`'s error if it failed, otherwise the copy's.
///
/// Corresponds to `lzc_send_wrapper`.
#[cfg(zfs_2_2)]
#[doc(alias = "lzc_send_wrapper")]
pub fn send_wrapper<F>(fd: BorrowedFd<'_>, f: F) -> Result<()>
where
    F: FnOnce(BorrowedFd<'_>) -> Result<()>,
{
    use std::ffi::{c_int, c_void};
    use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

    struct State<F> {
        f: Option<F>,
        result: Option<std::thread::Result<Result<()>>>,
    }

    unsafe extern "C" fn trampoline<F>(fd: c_int, arg: *mut c_void) -> c_int
    where
        F: FnOnce(BorrowedFd<'_>) -> Result<()>,
    {
        // SAFETY: `arg` is the `State<F>` passed below, alive and exclusively ours for the
        // duration of lzc_send_wrapper, which calls us at most once on this thread.
        let state = unsafe { &mut *arg.cast::<State<F>>() };
        let Some(f) = state.f.take() else {
            return libc::EINVAL;
        };
        // SAFETY: lzc_send_wrapper passes a descriptor that stays open until we return.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        let r = catch_unwind(AssertUnwindSafe(|| f(fd)));
        let code = match &r {
            Ok(Ok(())) => 0,
            Ok(Err(e)) => e.errno().unwrap_or(libc::EIO),
            Err(_) => libc::EIO,
        };
        state.result = Some(r);
        code
    }

    let ctx = Ctx::new("lzc_send_wrapper", Family::Send);
    let mut state = State {
        f: Some(f),
        result: None,
    };
    // SAFETY: the trampoline matches the callback type and only uses `state` (passed as the
    // opaque argument) while lzc_send_wrapper runs; `fd` is borrowed for the call.
    let r = ctx.call(|| unsafe {
        sys::lzc_send_wrapper(
            Some(trampoline::<F>),
            fd.as_raw_fd(),
            (&raw mut state).cast::<c_void>(),
        )
    });
    match state.result {
        Some(Err(panic)) => resume_unwind(panic),
        Some(Ok(Err(e))) => Err(e),
        _ => r,
    }
}

/// The contents of a `receive_resume_token` (the property a filesystem gets when a resumable
/// receive into it was interrupted), decoded without libzfs: version 1, a Fletcher-4 checksum,
/// a zlib-compressed packed nvlist, as `zfs send -t` reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResumeToken {
    object: u64,
    offset: u64,
    bytes: u64,
    toguid: u64,
    toname: String,
    fromguid: Option<u64>,
    flags: SendFlags,
}

impl ResumeToken {
    /// Decodes a token.
    ///
    /// Errors: [`ErrorKind::InvalidArgument`] with a detail saying what is wrong (format,
    /// version, checksum, compression, nvlist).
    pub fn parse(token: &str) -> Result<ResumeToken> {
        let mut packed = token_payload(token)?;
        let nvl = unpack(&mut packed).ok_or_else(|| token_error("nvlist_unpack failed"))?;
        let l = nvl.as_ref();
        let u64_of = |name: &str| {
            l.get_u64(name)
                .map_err(|_| token_error(&format!("no {name}")))
        };
        let mut flags = SendFlags::empty();
        for (key, flag) in [
            ("embedok", SendFlags::EMBED_DATA),
            ("largeblockok", SendFlags::LARGE_BLOCK),
            ("compressok", SendFlags::COMPRESS),
            ("rawok", SendFlags::RAW),
            ("savedok", SendFlags::SAVED),
        ] {
            if l.contains(key) {
                flags |= flag;
            }
        }
        let toname = match l.get("toname") {
            Some(Value::String(s)) => s.to_string_lossy().into_owned(),
            _ => return Err(token_error("no toname")),
        };
        Ok(ResumeToken {
            object: u64_of("object")?,
            offset: u64_of("offset")?,
            bytes: l.get_u64("bytes").unwrap_or(0),
            toguid: u64_of("toguid")?,
            toname,
            fromguid: l.get_u64("fromguid").ok(),
            flags,
        })
    }

    /// Object to resume from.
    pub fn object(&self) -> u64 {
        self.object
    }

    /// Offset to resume from.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Bytes received before the interruption.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// GUID of the snapshot being sent.
    pub fn toguid(&self) -> u64 {
        self.toguid
    }

    /// Name (on the sending side) of the snapshot being sent.
    pub fn toname(&self) -> &str {
        &self.toname
    }

    /// GUID of the incremental source, if the stream was incremental.
    pub fn fromguid(&self) -> Option<u64> {
        self.fromguid
    }

    /// The stream features the interrupted send used (a resumed send must use them too).
    pub fn flags(&self) -> SendFlags {
        self.flags
    }

    /// The resume point for [`send_resume`] and [`send_space_resume_redacted`].
    pub fn resume_point(&self) -> ResumePoint {
        ResumePoint {
            object: self.object,
            offset: self.offset,
            bytes: self.bytes,
        }
    }
}

/// The error of [`ResumeToken::parse`]: the token is corrupt, for the reason `why`.
fn token_error(why: &str) -> Error {
    Error::new(ErrorKind::InvalidArgument, "parse resume token")
        .with_detail(format!("resume token is corrupt ({why})"))
}

/// The packed nvlist of a resume token (`1-CKSUM-LEN-HEX`): the version checked, the hex
/// payload decoded, its checksum checked and decompressed to exactly `LEN` bytes.
fn token_payload(token: &str) -> Result<Vec<u8>> {
    let token = token.trim();
    let mut parts = token.splitn(4, '-');
    let (Some(version), Some(cksum), Some(len), Some(hex)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(token_error("invalid format"));
    };
    if version != "1" {
        return Err(token_error("unsupported version"));
    }
    let cksum =
        u64::from_str_radix(cksum, 16).map_err(|_| token_error("invalid checksum field"))?;
    let packed_len =
        usize::from_str_radix(len, 16).map_err(|_| token_error("invalid length field"))?;
    if hex.len() % 2 != 0 {
        return Err(token_error("payload is not hex-encoded"));
    }
    let compressed = (0..hex.len())
        .step_by(2)
        .map(|i| {
            hex.get(i..i + 2)
                .and_then(|b| u8::from_str_radix(b, 16).ok())
        })
        .collect::<Option<Vec<u8>>>()
        .ok_or_else(|| token_error("payload is not hex-encoded"))?;
    if fletcher4_word0(&compressed) != cksum {
        return Err(token_error("incorrect checksum"));
    }
    // A packed nvlist of a token is small; refuse absurd sizes instead of allocating them.
    if packed_len > 16 << 20 {
        return Err(token_error("payload too large"));
    }
    let packed = miniz_oxide::inflate::decompress_to_vec_zlib_with_limit(&compressed, packed_len)
        .map_err(|_| token_error("decompression failed"))?;
    if packed.len() != packed_len {
        return Err(token_error("decompressed length differs"));
    }
    Ok(packed)
}

/// The nvlist packed in `packed` (`nvlist_unpack`), or `None` when it does not unpack.
fn unpack(packed: &mut [u8]) -> Option<NvList> {
    let mut raw: *mut sys::nvlist_t = ptr::null_mut();
    // SAFETY: `packed` is a readable buffer of the length passed (nvlist_unpack only
    // reads it, despite the `char *`); `raw` is a valid out-pointer; 0 is the userland
    // allocation flag.
    let rc = unsafe {
        sys::nvlist_unpack(
            packed.as_mut_ptr().cast::<c_char>(),
            packed.len(),
            &raw mut raw,
            0,
        )
    };
    if rc != 0 {
        return None;
    }
    // SAFETY: on success nvlist_unpack stores a new list that we now own.
    unsafe { NvList::from_raw_opt(raw) }
}

/// Word 0 of OpenZFS's `fletcher_4_native_varsize`: the sum of the buffer's native-endian
/// 32-bit words (a trailing partial word is ignored, as in C).
fn fletcher4_word0(buf: &[u8]) -> u64 {
    buf.chunks_exact(4)
        .map(|w| u64::from(u32::from_ne_bytes([w[0], w[1], w[2], w[3]])))
        .fold(0u64, u64::wrapping_add)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_combine() {
        let f = SendFlags::LARGE_BLOCK | SendFlags::COMPRESS;
        assert!(f.contains(SendFlags::COMPRESS));
        assert!(!f.contains(SendFlags::RAW));
        assert_eq!(f.bits(), 2 | 4);
        assert_eq!(format!("{f:?}"), "SendFlags(LARGE_BLOCK | COMPRESS)");
    }

    #[test]
    fn token_errors_are_typed() {
        for t in [
            "",
            "1",
            "2-0-0-00",
            "1-zz-10-00",
            "1-0-10-0",
            "1-0-10-zz",
            "1-5-10-00",
        ] {
            let e = ResumeToken::parse(t).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{t}: {e}");
        }
    }

    #[test]
    fn fletcher_sums_words() {
        let mut b = Vec::new();
        b.extend_from_slice(&1u32.to_ne_bytes());
        b.extend_from_slice(&2u32.to_ne_bytes());
        b.push(7);
        assert_eq!(fletcher4_word0(&b), 3);
    }
}
