//! Receiving send streams.

use std::ffi::{CStr, c_char};
use std::io::Read;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::ptr;

use libzfs_core_sys as sys;

use super::translate::{Family, Hints};
use super::{Ctx, boolean, opt_ptr, parse_errlist};
use crate::error::{Error, ErrorKind, ItemError, Result};
use crate::name::SnapshotName;
use crate::nvlist::NvList;

/// Size of `dmu_replay_record_t`, the fixed-size records of a send stream.
pub const REPLAY_RECORD_SIZE: usize = 312;

/// `DMU_BACKUP_MAGIC`, the first field of a BEGIN record.
const DMU_BACKUP_MAGIC: u64 = 0x2_f5ba_cbac;

/// The first record of a send stream (`dmu_replay_record_t` holding a `drr_begin`), read by
/// the caller to look at the stream before receiving it (for example to derive the target
/// name from [`BeginRecord::toname`]), then handed to [`receive_with_header`].
#[derive(Clone)]
#[repr(C, align(8))]
pub struct BeginRecord([u8; REPLAY_RECORD_SIZE]);

impl BeginRecord {
    /// Reads the record from the start of a stream. `r` must not read ahead (use the raw
    /// descriptor, a `File` or a pipe reader, not a `BufReader`): the rest of the stream is
    /// then received from the same descriptor.
    ///
    /// Errors: [`ErrorKind::Io`] if fewer than 312 bytes could be read,
    /// [`ErrorKind::BadStream`] if the record is not a BEGIN record.
    pub fn read_from(r: &mut impl Read) -> Result<BeginRecord> {
        let mut buf = [0u8; REPLAY_RECORD_SIZE];
        r.read_exact(&mut buf).map_err(|e| {
            let mut err = Error::new(ErrorKind::Io, "read begin record").with_detail(e.to_string());
            if let Some(n) = e.raw_os_error() {
                err = err.with_errno(n);
            }
            err
        })?;
        BeginRecord::from_bytes(buf)
    }

    /// A record from its 312 bytes, as read from the stream.
    ///
    /// Errors: [`ErrorKind::BadStream`] if it is not a BEGIN record in either byte order.
    pub fn from_bytes(bytes: [u8; REPLAY_RECORD_SIZE]) -> Result<BeginRecord> {
        let rec = BeginRecord(bytes);
        let mut m = [0u8; 8];
        m.copy_from_slice(&rec.0[8..16]);
        let raw_magic = u64::from_ne_bytes(m);
        // DRR_BEGIN is 0, which reads the same in both byte orders.
        if rec.u32_at(0) != 0
            || (raw_magic != DMU_BACKUP_MAGIC && raw_magic.swap_bytes() != DMU_BACKUP_MAGIC)
        {
            return Err(Error::new(ErrorKind::BadStream, "read begin record")
                .with_detail("not a send stream (no BEGIN record)"));
        }
        Ok(rec)
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; REPLAY_RECORD_SIZE] {
        &self.0
    }

    fn u32_at(&self, off: usize) -> u32 {
        let mut b = [0u8; 4];
        b.copy_from_slice(&self.0[off..off + 4]);
        u32::from_ne_bytes(b)
    }

    fn u64_at(&self, off: usize) -> u64 {
        let mut b = [0u8; 8];
        b.copy_from_slice(&self.0[off..off + 8]);
        let v = u64::from_ne_bytes(b);
        if self.byteswapped() {
            v.swap_bytes()
        } else {
            v
        }
    }

    /// Whether the stream was written on a machine of the other byte order.
    pub fn byteswapped(&self) -> bool {
        let mut b = [0u8; 8];
        b.copy_from_slice(&self.0[8..16]);
        u64::from_ne_bytes(b) != DMU_BACKUP_MAGIC
    }

    /// Length of the payload that follows the record (the packed nvlist of a replication
    /// stream's header; 0 for a plain stream).
    pub fn payload_len(&self) -> u32 {
        let v = self.u32_at(4);
        if self.byteswapped() {
            v.swap_bytes()
        } else {
            v
        }
    }

    /// Creation time of the sent snapshot, seconds since the epoch.
    pub fn creation_time(&self) -> u64 {
        self.u64_at(24)
    }

    /// GUID of the sent snapshot.
    pub fn toguid(&self) -> u64 {
        self.u64_at(40)
    }

    /// GUID of the incremental source (0 for a full stream).
    pub fn fromguid(&self) -> u64 {
        self.u64_at(48)
    }

    /// Name of the sent snapshot on the sending side.
    pub fn toname(&self) -> String {
        let name = &self.0[56..];
        match CStr::from_bytes_until_nul(name) {
            Ok(s) => s.to_string_lossy().into_owned(),
            Err(_) => String::from_utf8_lossy(name).into_owned(),
        }
    }

    fn as_raw(&self) -> *const sys::dmu_replay_record {
        (&raw const self.0).cast()
    }
}

impl std::fmt::Debug for BeginRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BeginRecord")
            .field("toname", &self.toname())
            .field("toguid", &self.toguid())
            .field("fromguid", &self.fromguid())
            .finish_non_exhaustive()
    }
}

/// Reads the BEGIN record from `fd` (through a duplicate of the descriptor, which shares the
/// file offset; nothing is buffered beyond the record).
fn read_begin(op: &'static str, snap: &SnapshotName, fd: BorrowedFd<'_>) -> Result<BeginRecord> {
    let owned = fd.try_clone_to_owned().map_err(|e| {
        let mut err = Error::new(ErrorKind::BadFileDescriptor, op)
            .with_name(snap.as_str())
            .with_detail(format!("cannot duplicate the stream descriptor: {e}"));
        if let Some(n) = e.raw_os_error() {
            err = err.with_errno(n);
        }
        err
    })?;
    let mut file = std::fs::File::from(owned);
    BeginRecord::read_from(&mut file)
}

/// The record to pass to libzfs_core: the caller's, or one read here.
///
/// libzfs_core can read the BEGIN record itself, but then it ignores a payload announced in it
/// (`drr_payloadlen`, e.g. the redaction list of a redacted stream) and, for a non-resumable,
/// non-raw receive, uses the legacy ioctl, which does not read that payload: an OpenZFS 2.3
/// kernel then fails a `VERIFY` in `dmu_recv_begin_sync` and the receiving thread hangs for
/// good (seen in the lab with a redacted stream). Given the record, libzfs_core sees the
/// payload and uses the new ioctl. So every receive here passes a record.
fn begin_or_read(
    op: &'static str,
    snap: &SnapshotName,
    fd: BorrowedFd<'_>,
    begin: Option<&BeginRecord>,
) -> Result<BeginRecord> {
    match begin {
        Some(b) => Ok(b.clone()),
        None => read_begin(op, snap, fd),
    }
}

/// Options of a receive. Build with [`ReceiveOptions::new`] and the setters.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReceiveOptions<'a> {
    props: Option<&'a NvList>,
    origin: Option<&'a SnapshotName>,
    force: bool,
    raw: bool,
    resumable: bool,
}

impl<'a> ReceiveOptions<'a> {
    /// No properties, no origin, no force, not raw, not resumable.
    pub fn new() -> Self {
        Self::default()
    }

    /// Properties to set as *received* properties (local ones override them).
    pub fn props(mut self, props: &'a NvList) -> Self {
        self.props = Some(props);
        self
    }

    /// For a stream of a clone (or an incremental stream received as a new clone): the origin
    /// snapshot on the receiving side.
    pub fn origin(mut self, origin: &'a SnapshotName) -> Self {
        self.origin = Some(origin);
        self
    }

    /// Roll the target back (or destroy it, for a full stream) if needed.
    pub fn force(mut self, force: bool) -> Self {
        self.force = force;
        self
    }

    /// The stream is raw (encrypted data as on disk).
    pub fn raw(mut self, raw: bool) -> Self {
        self.raw = raw;
        self
    }

    /// Keep the partial state if the stream ends early, so that the receive can be resumed
    /// (see [`ResumeToken`](super::ResumeToken)).
    pub fn resumable(mut self, resumable: bool) -> Self {
        self.resumable = resumable;
        self
    }

    fn origin_ptr(&self) -> *const c_char {
        self.origin.map_or(ptr::null(), |o| o.as_c_str().as_ptr())
    }

    fn ctx<'n>(&self, op: &'static str, snap: &'n SnapshotName) -> Ctx<'n> {
        Ctx::new(op, Family::Receive)
            .name(snap.as_str())
            .hints(Hints {
                has_props: self.props.is_some(),
                ..Hints::default()
            })
    }
}

/// What [`receive_one`] and friends report besides success.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReceiveOutcome {
    read_bytes: u64,
    error_flags: u64,
    prop_errors: Vec<ItemError>,
}

impl ReceiveOutcome {
    /// Bytes the kernel read from the descriptor. The 312-byte BEGIN record is not included:
    /// libzfs_core reads it in userland (or the caller did, see [`BeginRecord`]).
    pub fn read_bytes(&self) -> u64 {
        self.read_bytes
    }

    /// `zprop_errflags_t` bits describing failures to apply properties.
    pub fn error_flags(&self) -> u64 {
        self.error_flags
    }

    /// Received properties that could not be set (name → errno).
    pub fn prop_errors(&self) -> &[ItemError] {
        &self.prop_errors
    }
}

/// Receives the stream read from `fd` into the new snapshot `snap` (creating its filesystem
/// for a full stream). With [`ReceiveOptions::resumable`] an interrupted receive keeps its
/// partial state.
///
/// The 312-byte BEGIN record is read here and handed to `lzc_receive_with_header` rather than
/// left to `lzc_receive`, whose own header read mishandles streams with a BEGIN payload (a
/// redacted stream hangs the kernel's receive thread on OpenZFS 2.3; see the source). A
/// stream that does not start with a BEGIN record fails with [`ErrorKind::BadStream`], one
/// shorter than a record with [`ErrorKind::Io`], both before any ioctl.
///
/// Errors: [`ErrorKind::Exists`] (target exists and the stream is full, without force),
/// [`ErrorKind::NotFound`] (parent, target of an incremental, or origin missing),
/// [`ErrorKind::StreamMismatch`] (incremental source is not the target's latest snapshot, or
/// wrong origin), [`ErrorKind::DestinationModified`], [`ErrorKind::BadStream`],
/// [`ErrorKind::Busy`], [`ErrorKind::NoSpace`], [`ErrorKind::ReadOnly`], [`ErrorKind::Io`],
/// and `ZFS_ERR_STREAM_TRUNCATED` or [`ErrorKind::BadStream`] for a stream that ended early.
///
/// Corresponds to `lzc_receive` and `lzc_receive_resumable` (through
/// `lzc_receive_with_header`).
///
/// # Example
///
/// ```no_run
/// use std::fs::File;
/// use std::os::fd::AsFd;
///
/// use flocker_core::lzc::{self, ReceiveOptions};
/// use flocker_core::name::SnapshotName;
///
/// let stream = File::open("/backup/home-monday-tuesday.zstream")?;
/// let target = SnapshotName::new("backup/home@tuesday")?; // backup/home is at @monday
/// lzc::receive(&target, &ReceiveOptions::new().resumable(true), stream.as_fd())?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[doc(alias = "lzc_receive")]
#[doc(alias = "lzc_receive_resumable")]
pub fn receive(snap: &SnapshotName, opts: &ReceiveOptions<'_>, fd: BorrowedFd<'_>) -> Result<()> {
    let op = if opts.resumable {
        "lzc_receive_resumable"
    } else {
        "lzc_receive"
    };
    let begin = read_begin(op, snap, fd)?;
    with_header(op, snap, opts, fd, &begin)
}

/// Like [`receive`], but if the stream ends early the partial state is kept and the target
/// gets a `receive_resume_token` (whatever [`ReceiveOptions::resumable`] says).
///
/// Corresponds to `lzc_receive_resumable` (through `lzc_receive_with_header`, see
/// [`receive`]).
#[doc(alias = "lzc_receive_resumable")]
pub fn receive_resumable(
    snap: &SnapshotName,
    opts: &ReceiveOptions<'_>,
    fd: BorrowedFd<'_>,
) -> Result<()> {
    receive(snap, &opts.resumable(true), fd)
}

/// Like [`receive`], for a stream whose first record the caller has already read from `fd`.
///
/// Corresponds to `lzc_receive_with_header`.
#[doc(alias = "lzc_receive_with_header")]
pub fn receive_with_header(
    snap: &SnapshotName,
    opts: &ReceiveOptions<'_>,
    fd: BorrowedFd<'_>,
    begin: &BeginRecord,
) -> Result<()> {
    with_header("lzc_receive_with_header", snap, opts, fd, begin)
}

fn with_header(
    op: &'static str,
    snap: &SnapshotName,
    opts: &ReceiveOptions<'_>,
    fd: BorrowedFd<'_>,
    begin: &BeginRecord,
) -> Result<()> {
    let ctx = opts.ctx(op, snap);
    // SAFETY: names are NUL-terminated (origin may be NULL); `props` is NULL or a valid list
    // lzc only reads; `fd` is borrowed for the call; `begin` points to a 312-byte, 8-aligned
    // record that lzc only reads (it copies it).
    ctx.call(|| unsafe {
        sys::lzc_receive_with_header(
            snap.as_c_str().as_ptr(),
            opt_ptr(opts.props),
            opts.origin_ptr(),
            boolean(opts.force),
            boolean(opts.resumable),
            boolean(opts.raw),
            fd.as_raw_fd(),
            begin.as_raw(),
        )
    })
}

struct OutParams {
    read_bytes: u64,
    errflags: u64,
    action_handle: u64,
}

impl OutParams {
    fn new() -> Self {
        OutParams {
            read_bytes: 0,
            errflags: 0,
            action_handle: 0,
        }
    }

    /// The outcome of a successful call, whose property errors lzc returned in `errors`.
    fn finish(&self, errors: Option<NvList>) -> ReceiveOutcome {
        let prop_errors = match &errors {
            Some(l) => parse_errlist(l.as_ref(), Family::Receive, Hints::default()).0,
            None => Vec::new(),
        };
        // Property errors are reported with the property translation.
        let prop_errors = prop_errors
            .into_iter()
            .map(|e| {
                let kind = if e.errno() == Some(libc::EINVAL) {
                    ErrorKind::PropertyInvalid
                } else {
                    e.kind()
                };
                ItemError::new(e.name().to_string(), e.errno(), kind)
            })
            .collect();
        ReceiveOutcome {
            read_bytes: self.read_bytes,
            error_flags: self.errflags,
            prop_errors,
        }
    }
}

/// Like [`receive`] (optionally with an already-read first record; otherwise it is read
/// here, see [`receive`]) and reporting the bytes read and the received properties that
/// could not be set.
///
/// Corresponds to `lzc_receive_one`.
#[doc(alias = "lzc_receive_one")]
pub fn receive_one(
    snap: &SnapshotName,
    opts: &ReceiveOptions<'_>,
    fd: BorrowedFd<'_>,
    begin: Option<&BeginRecord>,
) -> Result<ReceiveOutcome> {
    let ctx = opts.ctx("lzc_receive_one", snap);
    let mut out = OutParams::new();
    // SAFETY: as in `receive_with_header` (the record may be NULL); the out-pointers are
    // valid for the call; the ignored cleanup fd is -1.
    let errors = ctx.call_out_prepared(
        || begin_or_read("lzc_receive_one", snap, fd, begin),
        |begin, errors| unsafe {
            sys::lzc_receive_one(
                snap.as_c_str().as_ptr(),
                opt_ptr(opts.props),
                opts.origin_ptr(),
                boolean(opts.force),
                boolean(opts.resumable),
                boolean(opts.raw),
                fd.as_raw_fd(),
                begin.as_raw(),
                -1,
                &raw mut out.read_bytes,
                &raw mut out.errflags,
                &raw mut out.action_handle,
                errors,
            )
        },
    )?;
    Ok(out.finish(errors))
}

/// Like [`receive_one`], with `cmdprops` (properties to override, `zfs receive -o`, or to
/// exclude, `-x`, as lzc expects them) and the wrapping key `wkey` of an encrypted target.
///
/// Corresponds to `lzc_receive_with_cmdprops`.
#[doc(alias = "lzc_receive_with_cmdprops")]
pub fn receive_with_cmdprops(
    snap: &SnapshotName,
    opts: &ReceiveOptions<'_>,
    cmdprops: Option<&NvList>,
    wkey: Option<&[u8]>,
    fd: BorrowedFd<'_>,
    begin: Option<&BeginRecord>,
) -> Result<ReceiveOutcome> {
    let ctx = opts.ctx("lzc_receive_with_cmdprops", snap);
    let (kptr, klen) = super::dataset::key_parts("lzc_receive_with_cmdprops", wkey)?;
    let mut out = OutParams::new();
    // SAFETY: as in `receive_one`; `cmdprops` is NULL or a valid list lzc only reads; the
    // key is NULL or `klen` readable bytes that lzc copies.
    let errors = ctx.call_out_prepared(
        || begin_or_read("lzc_receive_with_cmdprops", snap, fd, begin),
        |begin, errors| unsafe {
            sys::lzc_receive_with_cmdprops(
                snap.as_c_str().as_ptr(),
                opt_ptr(opts.props),
                opt_ptr(cmdprops),
                kptr,
                klen,
                opts.origin_ptr(),
                boolean(opts.force),
                boolean(opts.resumable),
                boolean(opts.raw),
                fd.as_raw_fd(),
                begin.as_raw(),
                -1,
                &raw mut out.read_bytes,
                &raw mut out.errflags,
                &raw mut out.action_handle,
                errors,
            )
        },
    )?;
    Ok(out.finish(errors))
}

/// Like [`receive_with_cmdprops`]; with `heal` the stream repairs corrupted blocks of the
/// existing snapshot `snap` instead of creating it (`zfs receive -c`).
///
/// Errors (with `heal`): the stream of another snapshot, or no such filesystem,
/// [`ErrorKind::NotSupported`]; no such snapshot, [`ErrorKind::NotFound`]; `opts.force`
/// together with `heal` is refused by the kernel with `EINVAL`, which this family reports as
/// [`ErrorKind::BadStream`] (check [`Error::errno`]).
///
/// Corresponds to `lzc_receive_with_heal`.
#[cfg(zfs_2_2)]
#[doc(alias = "lzc_receive_with_heal")]
pub fn receive_with_heal(
    snap: &SnapshotName,
    opts: &ReceiveOptions<'_>,
    cmdprops: Option<&NvList>,
    wkey: Option<&[u8]>,
    heal: bool,
    fd: BorrowedFd<'_>,
    begin: Option<&BeginRecord>,
) -> Result<ReceiveOutcome> {
    let ctx = opts.ctx("lzc_receive_with_heal", snap);
    let (kptr, klen) = super::dataset::key_parts("lzc_receive_with_heal", wkey)?;
    let mut out = OutParams::new();
    // SAFETY: as in `receive_with_cmdprops`.
    let errors = ctx.call_out_prepared(
        || begin_or_read("lzc_receive_with_heal", snap, fd, begin),
        |begin, errors| unsafe {
            sys::lzc_receive_with_heal(
                snap.as_c_str().as_ptr(),
                opt_ptr(opts.props),
                opt_ptr(cmdprops),
                kptr,
                klen,
                opts.origin_ptr(),
                boolean(opts.force),
                boolean(heal),
                boolean(opts.resumable),
                boolean(opts.raw),
                fd.as_raw_fd(),
                begin.as_raw(),
                -1,
                &raw mut out.read_bytes,
                &raw mut out.errflags,
                &raw mut out.action_handle,
                errors,
            )
        },
    )?;
    Ok(out.finish(errors))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn begin_record_fields() {
        let mut b = [0u8; REPLAY_RECORD_SIZE];
        b[8..16].copy_from_slice(&DMU_BACKUP_MAGIC.to_ne_bytes());
        b[40..48].copy_from_slice(&42u64.to_ne_bytes());
        b[56..64].copy_from_slice(b"p/fs@s\0\0");
        let r = BeginRecord::from_bytes(b).unwrap();
        assert_eq!(r.toguid(), 42);
        assert_eq!(r.toname(), "p/fs@s");
        assert!(!r.byteswapped());
        assert_eq!(std::mem::size_of::<BeginRecord>(), 312);
        assert_eq!(std::mem::align_of::<BeginRecord>(), 8);
    }

    #[test]
    fn not_a_stream_is_bad_stream() {
        let e = BeginRecord::from_bytes([7u8; REPLAY_RECORD_SIZE]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::BadStream);
        let e = BeginRecord::read_from(&mut &[0u8; 10][..]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Io);
    }
}
