//! The one error type of flocker-core.
//!
//! Every failing call returns an [`Error`]: what kind of failure it was ([`ErrorKind`]), the raw
//! errno when the kernel or libzfs_core gave one, the libzfs_core operation (`"lzc_snapshot"`),
//! the dataset or name involved, and, for batch operations (`lzc_snapshot`, `lzc_destroy_snaps`,
//! `lzc_hold`, `lzc_bookmark`, ...), one [`ItemError`] per failed item from libzfs_core's
//! `errlist` plus the number of errors the kernel suppressed (`N_MORE_ERRORS`).
//!
//! The same errno means different things in different operations (`EEXIST` is "already exists"
//! when creating, "the snapshot has clones" in `lzc_destroy_snaps` and "not the latest snapshot"
//! in `lzc_rollback_to`), so errnos are translated per operation, following the model of
//! OpenZFS's pyzfs (`contrib/pyzfs/libzfs_core/_error_translation.py`). The original errno is
//! always kept ([`Error::errno`]).

use std::fmt;
use std::io;

use crate::name::NameError;
use crate::nvlist::NvListError;

/// The result type of flocker-core.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, independent of the errno that reported it.
///
/// Translated per operation: see the documentation of each `lzc` function for the kinds it
/// returns. New kinds may be added in minor releases.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// A dataset, snapshot, bookmark, pool, hold or vdev does not exist (`ENOENT`, `ESRCH`).
    NotFound,
    /// The dataset, snapshot, bookmark or hold already exists (`EEXIST`).
    Exists,
    /// The dataset or pool is busy: mounted, in use, being sent, ... (`EBUSY`).
    Busy,
    /// The snapshot has user holds or is otherwise in use (`EBUSY` in `lzc_destroy_snaps`).
    Held,
    /// The snapshot has clones (`EEXIST` in `lzc_destroy_snaps`).
    HasClones,
    /// The filesystem has children, so it cannot be destroyed (`EEXIST` in `lzc_destroy`).
    HasChildren,
    /// The snapshot is not the latest one of its filesystem, or newer bookmarks exist
    /// (`EEXIST` in `lzc_rollback_to`).
    NotLatest,
    /// The filesystem is not a clone, so it cannot be promoted (`EINVAL` in `lzc_promote`).
    NotAClone,
    /// A name is not a valid ZFS name (rejected before any ioctl, or by the kernel).
    InvalidName,
    /// A name, or a hold tag, is too long (`ENAMETOOLONG`, `E2BIG` in `lzc_hold`).
    NameTooLong,
    /// The names of one batch (or a source and a target) belong to different pools (`EXDEV`).
    CrossPool,
    /// One `lzc_snapshot` batch names two snapshots of the same filesystem (`EXDEV` with all
    /// names in one pool).
    DuplicateFilesystem,
    /// Two snapshots (or a snapshot and a bookmark) are not related as the call requires: an
    /// incremental source that is not an ancestor, a bookmark whose filesystem differs from its
    /// snapshot's (`EXDEV`/`EINVAL` in send, space and bookmark calls).
    Mismatch,
    /// The datasets changed since the operation was planned (another program renamed,
    /// replaced, snapshotted or rolled back what the plan names): refused, nothing changed,
    /// or, after a rollback's commit point, stopped with everything kept (see ROLLBACK.md,
    /// "Concurrency"). Plan again.
    Changed,
    /// Not permitted (`EPERM`, `EACCES`), e.g. not root, or a channel program calling a
    /// forbidden function.
    PermissionDenied,
    /// The pool is read-only (`EROFS`).
    ReadOnly,
    /// Out of space in the pool (`ENOSPC`).
    NoSpace,
    /// A quota would be exceeded (`EDQUOT`).
    QuotaExceeded,
    /// The operation or a requested feature is not supported by this pool or module
    /// (`ENOTSUP`, `EOPNOTSUPP`, `ENOSYS`).
    NotSupported,
    /// The loaded ZFS kernel module does not know this ioctl: userland is newer than the module
    /// (`ZFS_ERR_IOC_CMD_UNAVAIL`); a reboot or module reload may help.
    IocUnavailable,
    /// An argument was rejected (`EINVAL`) for a reason other than a name.
    InvalidArgument,
    /// A property name or value was rejected (`EINVAL` with properties involved, or a
    /// received property that could not be set).
    PropertyInvalid,
    /// An I/O error (`EIO`, or another errno while reading or writing a stream).
    Io,
    /// The reader of a send stream went away (`EPIPE`).
    BrokenPipe,
    /// A file descriptor argument is not open or not usable for this call (`EBADF`).
    BadFileDescriptor,
    /// A send stream is corrupt, truncated or has a bad checksum (`ECKSUM`, or `EINVAL` while
    /// receiving).
    BadStream,
    /// An incremental stream does not apply to the target: its source is not the target's
    /// latest snapshot (`ENODEV` in receive).
    StreamMismatch,
    /// The receive target was modified since its latest snapshot; receive with `force` to roll
    /// it back (`ETXTBSY` in receive).
    DestinationModified,
    /// Temporary condition: retry later (`EAGAIN`), e.g. the rollback target was created in the
    /// still-open transaction group, or the pool is suspended.
    TryAgain,
    /// The call was interrupted by a signal (`EINTR`).
    Interrupted,
    /// The kernel or libzfs_core ran out of memory (`ENOMEM`).
    OutOfMemory,
    /// A channel program hit its instruction limit (`ETIME`) or memory limit (`ENOSPC`), or its
    /// output did not fit (`ENOMEM`). It may have partly run.
    ChannelProgramLimit,
    /// A channel program failed at run time (`ECHRNG`): `error()`, a failed `assert`, a bad
    /// argument to a `zfs.*` function. [`Error::detail`] holds Lua's message.
    ChannelProgramFailed,
    /// A channel program does not compile (`EINVAL` with a message). [`Error::detail`] holds
    /// Lua's message.
    ChannelProgramSyntax,
    /// The encryption key is not loaded (`EACCES` in unload/change key).
    KeyNotLoaded,
    /// The encryption key is wrong (`EACCES` in `lzc_load_key`).
    KeyInvalid,
    /// The encryption key is already loaded (`EEXIST` in `lzc_load_key`).
    KeyAlreadyLoaded,
    /// libzfs_core could not be initialised, e.g. `/dev/zfs` is missing (no ZFS kernel module)
    /// or not accessible. Every call returns this until initialisation succeeds.
    Unavailable,
    /// libzfs_core or the kernel answered with data of an unexpected shape.
    InvalidData,
    /// One of OpenZFS's own error codes (`ZFS_ERR_*`, from 1024 up) other than
    /// `ZFS_ERR_IOC_CMD_UNAVAIL` (see [`ErrorKind::IocUnavailable`]).
    Zfs(ZfsErrCode),
    /// Any other errno.
    Other,
}

impl ErrorKind {
    /// A short lower-case description.
    pub fn description(self) -> &'static str {
        use ErrorKind::*;
        match self {
            NotFound => "not found",
            Exists => "already exists",
            Busy => "busy",
            Held => "snapshot is held or in use",
            HasClones => "snapshot has clones",
            HasChildren => "dataset has children",
            NotLatest => "not the latest snapshot",
            NotAClone => "not a clone",
            InvalidName => "invalid name",
            NameTooLong => "name too long",
            CrossPool => "names belong to different pools",
            DuplicateFilesystem => "two snapshots of one filesystem in one batch",
            Mismatch => "snapshots or bookmarks are not related",
            Changed => "changed since it was planned",
            PermissionDenied => "permission denied",
            ReadOnly => "read-only pool",
            NoSpace => "out of space",
            QuotaExceeded => "quota exceeded",
            NotSupported => "not supported",
            IocUnavailable => "the loaded zfs module does not support this operation",
            InvalidArgument => "invalid argument",
            PropertyInvalid => "invalid property",
            Io => "I/O error",
            BrokenPipe => "broken pipe",
            BadFileDescriptor => "bad file descriptor",
            BadStream => "invalid or corrupt send stream",
            StreamMismatch => "stream does not match the destination",
            DestinationModified => "destination modified since its latest snapshot",
            TryAgain => "temporarily unavailable, try again",
            Interrupted => "interrupted",
            OutOfMemory => "out of memory",
            ChannelProgramLimit => "channel program exceeded a limit",
            ChannelProgramFailed => "channel program failed",
            ChannelProgramSyntax => "channel program syntax error",
            KeyNotLoaded => "encryption key not loaded",
            KeyInvalid => "incorrect encryption key",
            KeyAlreadyLoaded => "encryption key already loaded",
            Unavailable => "ZFS is not available (libzfs_core_init failed)",
            InvalidData => "unexpected reply from libzfs_core",
            Zfs(code) => code.description(),
            Other => "error",
        }
    }

    /// The closest [`io::ErrorKind`].
    pub fn io_kind(self) -> io::ErrorKind {
        use ErrorKind::*;
        match self {
            NotFound => io::ErrorKind::NotFound,
            Exists => io::ErrorKind::AlreadyExists,
            Busy | Held | HasClones => io::ErrorKind::ResourceBusy,
            HasChildren => io::ErrorKind::DirectoryNotEmpty,
            InvalidName => io::ErrorKind::InvalidInput,
            NameTooLong => io::ErrorKind::InvalidFilename,
            NotLatest | NotAClone | CrossPool | DuplicateFilesystem | Mismatch | Changed
            | InvalidArgument | PropertyInvalid | ChannelProgramSyntax => {
                io::ErrorKind::InvalidInput
            }
            PermissionDenied | KeyNotLoaded | KeyInvalid => io::ErrorKind::PermissionDenied,
            ReadOnly => io::ErrorKind::ReadOnlyFilesystem,
            NoSpace => io::ErrorKind::StorageFull,
            QuotaExceeded => io::ErrorKind::QuotaExceeded,
            NotSupported | IocUnavailable | Unavailable => io::ErrorKind::Unsupported,
            BrokenPipe => io::ErrorKind::BrokenPipe,
            BadStream | InvalidData => io::ErrorKind::InvalidData,
            TryAgain => io::ErrorKind::WouldBlock,
            Interrupted => io::ErrorKind::Interrupted,
            OutOfMemory => io::ErrorKind::OutOfMemory,
            _ => io::ErrorKind::Other,
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.description())
    }
}

macro_rules! zfs_err_codes {
    ($($(#[$m:meta])* $variant:ident = $code:literal, $cname:literal, $desc:literal;)*) => {
        /// OpenZFS's own error codes (`zfs_errno_t`, `ZFS_ERR_*` in `sys/fs/zfs.h`), returned in
        /// `errno` from 1024 up. The values are append-only across releases, so every code of
        /// 2.1 and 2.3 is named here whatever headers the crate was built against (a binary
        /// built against 2.1 may talk to a 2.3 kernel module).
        #[non_exhaustive]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ZfsErrCode {
            $($(#[$m])* $variant,)*
        }

        impl ZfsErrCode {
            /// All known codes, in numeric order.
            pub const ALL: &'static [ZfsErrCode] = &[$(ZfsErrCode::$variant,)*];

            /// The numeric value (the errno).
            pub fn code(self) -> i32 {
                match self { $(ZfsErrCode::$variant => $code,)* }
            }

            /// The C name, e.g. `"ZFS_ERR_WRONG_PARENT"`.
            pub fn c_name(self) -> &'static str {
                match self { $(ZfsErrCode::$variant => $cname,)* }
            }

            /// A short description.
            pub fn description(self) -> &'static str {
                match self { $(ZfsErrCode::$variant => $desc,)* }
            }

            /// The code for an errno, if it is one of OpenZFS's own.
            pub fn from_errno(errno: i32) -> Option<ZfsErrCode> {
                match errno { $($code => Some(ZfsErrCode::$variant),)* _ => None }
            }
        }
    };
}

zfs_err_codes! {
    /// `ZFS_ERR_CHECKPOINT_EXISTS`: the pool already has a checkpoint.
    CheckpointExists = 1024, "ZFS_ERR_CHECKPOINT_EXISTS", "pool already has a checkpoint";
    /// `ZFS_ERR_DISCARDING_CHECKPOINT`: a checkpoint is being discarded.
    DiscardingCheckpoint = 1025, "ZFS_ERR_DISCARDING_CHECKPOINT", "checkpoint is being discarded";
    /// `ZFS_ERR_NO_CHECKPOINT`: the pool has no checkpoint.
    NoCheckpoint = 1026, "ZFS_ERR_NO_CHECKPOINT", "pool has no checkpoint";
    /// `ZFS_ERR_DEVRM_IN_PROGRESS`: a device removal is in progress.
    DevrmInProgress = 1027, "ZFS_ERR_DEVRM_IN_PROGRESS", "device removal in progress";
    /// `ZFS_ERR_VDEV_TOO_BIG`: a top-level vdev is too big for this operation.
    VdevTooBig = 1028, "ZFS_ERR_VDEV_TOO_BIG", "vdev too big";
    /// `ZFS_ERR_IOC_CMD_UNAVAIL`: the kernel module does not know this ioctl.
    IocCmdUnavail = 1029, "ZFS_ERR_IOC_CMD_UNAVAIL", "the loaded zfs module does not support this operation";
    /// `ZFS_ERR_IOC_ARG_UNAVAIL`: the kernel module does not know an ioctl argument.
    IocArgUnavail = 1030, "ZFS_ERR_IOC_ARG_UNAVAIL", "the loaded zfs module does not support an argument";
    /// `ZFS_ERR_IOC_ARG_REQUIRED`: a required ioctl argument is missing.
    IocArgRequired = 1031, "ZFS_ERR_IOC_ARG_REQUIRED", "required ioctl argument missing";
    /// `ZFS_ERR_IOC_ARG_BADTYPE`: an ioctl argument has the wrong type.
    IocArgBadtype = 1032, "ZFS_ERR_IOC_ARG_BADTYPE", "ioctl argument has the wrong type";
    /// `ZFS_ERR_WRONG_PARENT`: the parent is not a filesystem (e.g. a volume).
    WrongParent = 1033, "ZFS_ERR_WRONG_PARENT", "parent is not a filesystem";
    /// `ZFS_ERR_FROM_IVSET_GUID_MISSING`: raw incremental source lacks its IV set guid.
    FromIvsetGuidMissing = 1034, "ZFS_ERR_FROM_IVSET_GUID_MISSING", "incremental source lacks an IV set guid";
    /// `ZFS_ERR_FROM_IVSET_GUID_MISMATCH`: raw incremental source has another IV set guid.
    FromIvsetGuidMismatch = 1035, "ZFS_ERR_FROM_IVSET_GUID_MISMATCH", "incremental source IV set guid mismatch";
    /// `ZFS_ERR_SPILL_BLOCK_FLAG_MISSING`: the stream lacks the spill block flag.
    SpillBlockFlagMissing = 1036, "ZFS_ERR_SPILL_BLOCK_FLAG_MISSING", "stream lacks the spill block flag";
    /// `ZFS_ERR_UNKNOWN_SEND_STREAM_FEATURE`: the stream uses a feature this module lacks.
    UnknownSendStreamFeature = 1037, "ZFS_ERR_UNKNOWN_SEND_STREAM_FEATURE", "unknown send stream feature";
    /// `ZFS_ERR_EXPORT_IN_PROGRESS`: the pool is being exported.
    ExportInProgress = 1038, "ZFS_ERR_EXPORT_IN_PROGRESS", "pool export in progress";
    /// `ZFS_ERR_BOOKMARK_SOURCE_NOT_ANCESTOR`: a bookmark's source is not an ancestor.
    BookmarkSourceNotAncestor = 1039, "ZFS_ERR_BOOKMARK_SOURCE_NOT_ANCESTOR", "bookmark source is not an ancestor";
    /// `ZFS_ERR_STREAM_TRUNCATED`: the send stream ended early.
    StreamTruncated = 1040, "ZFS_ERR_STREAM_TRUNCATED", "send stream truncated";
    /// `ZFS_ERR_STREAM_LARGE_BLOCK_MISMATCH`: large-block settings of stream and target differ.
    StreamLargeBlockMismatch = 1041, "ZFS_ERR_STREAM_LARGE_BLOCK_MISMATCH", "large block mismatch between stream and target";
    /// `ZFS_ERR_RESILVER_IN_PROGRESS`: a resilver is in progress.
    ResilverInProgress = 1042, "ZFS_ERR_RESILVER_IN_PROGRESS", "resilver in progress";
    /// `ZFS_ERR_REBUILD_IN_PROGRESS`: a sequential rebuild is in progress.
    RebuildInProgress = 1043, "ZFS_ERR_REBUILD_IN_PROGRESS", "rebuild in progress";
    /// `ZFS_ERR_BADPROP`: a property is invalid.
    BadProp = 1044, "ZFS_ERR_BADPROP", "invalid property";
    /// `ZFS_ERR_VDEV_NOTSUP` (2.2+): the vdev does not support the operation.
    VdevNotSup = 1045, "ZFS_ERR_VDEV_NOTSUP", "operation not supported on this vdev";
    /// `ZFS_ERR_NOT_USER_NAMESPACE` (2.2+): not a user namespace.
    NotUserNamespace = 1046, "ZFS_ERR_NOT_USER_NAMESPACE", "not a user namespace";
    /// `ZFS_ERR_RESUME_EXISTS` (2.2+): a resumable receive state already exists.
    ResumeExists = 1047, "ZFS_ERR_RESUME_EXISTS", "resumable receive state exists";
    /// `ZFS_ERR_CRYPTO_NOTSUP` (2.2+): the encryption suite is not supported.
    CryptoNotSup = 1048, "ZFS_ERR_CRYPTO_NOTSUP", "encryption not supported";
    /// `ZFS_ERR_RAIDZ_EXPAND_IN_PROGRESS` (2.3+): a RAID-Z expansion is in progress.
    RaidzExpandInProgress = 1049, "ZFS_ERR_RAIDZ_EXPAND_IN_PROGRESS", "raidz expansion in progress";
    /// `ZFS_ERR_ASHIFT_MISMATCH` (2.3+): the ashift of a new vdev does not match.
    AshiftMismatch = 1050, "ZFS_ERR_ASHIFT_MISMATCH", "ashift mismatch";
    /// `ZFS_ERR_STREAM_LARGE_MICROZAP` (2.3+): the stream has large microzaps the target lacks.
    StreamLargeMicrozap = 1051, "ZFS_ERR_STREAM_LARGE_MICROZAP", "stream uses large microzaps";
}

impl fmt::Display for ZfsErrCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.description())
    }
}

/// One failed item of a batch operation, from libzfs_core's `errlist`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemError {
    name: String,
    errno: Option<i32>,
    kind: ErrorKind,
}

impl ItemError {
    pub(crate) fn new(name: String, errno: Option<i32>, kind: ErrorKind) -> Self {
        ItemError { name, errno, kind }
    }

    /// The item's name as the kernel reported it (a snapshot, bookmark, hold's snapshot, vdev
    /// guid, or a property name for receive).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The item's errno; `None` when the kernel's value was not a number that fits an `i32`
    /// (then [`ItemError::kind`] is [`ErrorKind::InvalidData`]).
    pub fn errno(&self) -> Option<i32> {
        self.errno
    }

    /// The translated kind.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
}

impl fmt::Display for ItemError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.name, self.kind)?;
        if let Some(e) = self.errno {
            write!(f, " ({})", errno_name(e))?;
        }
        Ok(())
    }
}

/// The error of every fallible flocker-core call. See the [module documentation](self).
///
/// Small (two pointers) so that `Result<T, Error>` stays cheap to return.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
#[error("{}", self.inner.render())]
pub struct Error {
    inner: Box<Inner>,
    #[source]
    source: Option<Box<NameError>>,
}

#[derive(Debug)]
struct Inner {
    kind: ErrorKind,
    errno: Option<i32>,
    operation: &'static str,
    name: Option<String>,
    items: Vec<ItemError>,
    suppressed: u64,
    detail: Option<String>,
}

impl Error {
    /// A new error of `kind` from `operation`.
    pub(crate) fn new(kind: ErrorKind, operation: &'static str) -> Self {
        Error {
            inner: Box::new(Inner {
                kind,
                errno: None,
                operation,
                name: None,
                items: Vec::new(),
                suppressed: 0,
                detail: None,
            }),
            source: None,
        }
    }

    pub(crate) fn with_errno(mut self, errno: i32) -> Self {
        self.inner.errno = Some(errno);
        self
    }

    pub(crate) fn with_name(mut self, name: impl Into<String>) -> Self {
        self.inner.name = Some(name.into());
        self
    }

    pub(crate) fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.inner.detail = Some(detail.into());
        self
    }

    pub(crate) fn with_items(mut self, items: Vec<ItemError>, suppressed: u64) -> Self {
        self.inner.items = items;
        self.inner.suppressed = suppressed;
        self
    }

    pub(crate) fn set_kind(mut self, kind: ErrorKind) -> Self {
        self.inner.kind = kind;
        self
    }

    /// What went wrong. For a batch operation whose items all failed the same way, this is
    /// that kind; otherwise it is the translation of the call's own return value.
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }

    /// The errno that libzfs_core returned, if any (`None` for errors found before any call,
    /// such as an invalid name).
    pub fn errno(&self) -> Option<i32> {
        self.inner.errno
    }

    /// The OpenZFS error code, when the errno is one of `ZFS_ERR_*`.
    pub fn zfs_code(&self) -> Option<ZfsErrCode> {
        self.inner.errno.and_then(ZfsErrCode::from_errno)
    }

    /// The operation that failed, e.g. `"lzc_snapshot"`.
    pub fn operation(&self) -> &'static str {
        self.inner.operation
    }

    /// The dataset, snapshot, bookmark or pool the failure is about, when known.
    pub fn name(&self) -> Option<&str> {
        self.inner.name.as_deref()
    }

    /// Per-item errors of a batch operation (from libzfs_core's `errlist`), in the kernel's
    /// order. Empty for single-item operations, and possibly empty for a batch operation whose
    /// kernel reply named no item.
    pub fn items(&self) -> &[ItemError] {
        &self.inner.items
    }

    /// How many further item errors the kernel left out of the `errlist` (`N_MORE_ERRORS`).
    pub fn suppressed(&self) -> u64 {
        self.inner.suppressed
    }

    /// Extra text: the conflicting snapshot of a failed promote, a channel program's error
    /// message, the reason a name was rejected.
    pub fn detail(&self) -> Option<&str> {
        self.inner.detail.as_deref()
    }
}

impl Inner {
    fn render(&self) -> String {
        let mut s = String::from(self.operation);
        if let Some(n) = &self.name {
            s.push_str(&format!(" '{n}'"));
        }
        s.push_str(": ");
        s.push_str(self.kind.description());
        if let Some(e) = self.errno {
            s.push_str(&format!(" ({})", errno_name(e)));
        }
        if let Some(d) = &self.detail {
            s.push_str(": ");
            s.push_str(d);
        }
        // A lone item that repeats the error itself adds nothing.
        let redundant = self.items.len() == 1
            && self.suppressed == 0
            && self.items[0].kind == self.kind
            && self.name.as_deref() == Some(self.items[0].name.as_str());
        if !self.items.is_empty() && !redundant {
            s.push_str(" [");
            for (i, it) in self.items.iter().enumerate() {
                if i > 0 {
                    s.push_str("; ");
                }
                s.push_str(&it.to_string());
            }
            if self.suppressed > 0 {
                s.push_str(&format!("; and {} more", self.suppressed));
            }
            s.push(']');
        }
        s
    }
}

impl From<NameError> for Error {
    fn from(e: NameError) -> Self {
        let kind = match e {
            NameError::TooLong { .. } | NameError::PoolNameTooLong { .. } => ErrorKind::NameTooLong,
            _ => ErrorKind::InvalidName,
        };
        let mut err = Error::new(kind, "validate name").with_detail(e.to_string());
        err.source = Some(Box::new(e));
        err
    }
}

impl From<NvListError> for Error {
    fn from(e: NvListError) -> Self {
        let kind = match &e {
            NvListError::InteriorNul => ErrorKind::InvalidArgument,
            NvListError::TooLarge { .. } => ErrorKind::InvalidArgument,
            NvListError::Errno { errno, .. } if *errno == libc::ENOMEM => ErrorKind::OutOfMemory,
            _ => ErrorKind::InvalidData,
        };
        Error::new(kind, "nvlist").with_detail(e.to_string())
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> Self {
        io::Error::new(e.kind().io_kind(), e)
    }
}

/// The symbolic name of an errno as ZFS uses it on Linux (`"ENOENT"`, `"ECKSUM"`,
/// `"ZFS_ERR_WRONG_PARENT"`), or `"errno N"`.
pub fn errno_name(errno: i32) -> String {
    if let Some(c) = ZfsErrCode::from_errno(errno) {
        return c.c_name().to_string();
    }
    let s = match errno {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::ESRCH => "ESRCH",
        libc::EINTR => "EINTR",
        libc::EIO => "EIO",
        libc::ENXIO => "ENXIO",
        libc::E2BIG => "E2BIG",
        libc::EBADF => "EBADF",
        libc::EAGAIN => "EAGAIN",
        libc::ENOMEM => "ENOMEM",
        libc::EACCES => "EACCES",
        libc::EFAULT => "EFAULT",
        libc::EBUSY => "EBUSY",
        libc::EEXIST => "EEXIST",
        libc::EXDEV => "EXDEV",
        libc::ENODEV => "ENODEV",
        libc::ENOTDIR => "ENOTDIR",
        libc::EISDIR => "EISDIR",
        libc::EINVAL => "EINVAL",
        libc::ENFILE => "ENFILE",
        libc::EMFILE => "EMFILE",
        libc::ENOTTY => "ENOTTY",
        libc::ETXTBSY => "ETXTBSY",
        libc::EFBIG => "EFBIG",
        libc::ENOSPC => "ENOSPC",
        libc::ESPIPE => "ESPIPE",
        libc::EROFS => "EROFS",
        libc::EMLINK => "EMLINK",
        libc::EPIPE => "EPIPE",
        libc::EDOM => "EDOM",
        libc::ERANGE => "ERANGE",
        libc::ENAMETOOLONG => "ENAMETOOLONG",
        libc::ENOSYS => "ENOSYS",
        libc::ENOTEMPTY => "ENOTEMPTY",
        libc::ECHRNG => "ECHRNG",
        libc::ETIME => "ETIME",
        libc::ENOTSOCK => "ENOTSOCK",
        libc::EOPNOTSUPP => "ENOTSUP",
        libc::EDQUOT => "EDQUOT",
        libc::EOVERFLOW => "EOVERFLOW",
        #[cfg(target_os = "linux")]
        libc::EBADE => "ECKSUM",
        #[cfg(target_os = "linux")]
        libc::EBADR => "EFRAGS",
        #[cfg(target_os = "linux")]
        libc::ENOANO => "ENOTACTIVE",
        _ => return format!("errno {errno}"),
    };
    s.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zfs_codes_are_dense_from_1024() {
        for (i, c) in ZfsErrCode::ALL.iter().enumerate() {
            assert_eq!(c.code(), 1024 + i as i32, "{c:?}");
            assert_eq!(ZfsErrCode::from_errno(c.code()), Some(*c));
            assert!(c.c_name().starts_with("ZFS_ERR_"));
        }
        assert_eq!(ZfsErrCode::ALL.len(), 28);
        assert_eq!(ZfsErrCode::from_errno(1023), None);
        assert_eq!(ZfsErrCode::from_errno(1052), None);
    }

    #[test]
    fn display_mentions_everything() {
        let e = Error::new(ErrorKind::HasClones, "lzc_destroy_snaps")
            .with_errno(libc::EEXIST)
            .with_name("p/fs@a")
            .with_items(
                vec![ItemError::new(
                    "p/fs@a".into(),
                    Some(libc::EEXIST),
                    ErrorKind::HasClones,
                )],
                2,
            );
        let s = e.to_string();
        assert!(
            s.starts_with("lzc_destroy_snaps 'p/fs@a': snapshot has clones (EEXIST)"),
            "{s}"
        );
        assert!(s.contains("and 2 more"), "{s}");
        let io: io::Error = e.into();
        assert_eq!(io.kind(), io::ErrorKind::ResourceBusy);
    }

    #[test]
    fn error_is_small_send_sync() {
        fn assert_send_sync<T: Send + Sync + 'static>() {}
        assert_send_sync::<Error>();
        assert!(std::mem::size_of::<Error>() <= 2 * std::mem::size_of::<usize>());
    }

    #[test]
    fn name_errors_convert() {
        let e: Error = crate::name::DatasetName::new("a//b").unwrap_err().into();
        assert_eq!(e.kind(), ErrorKind::InvalidName);
        assert!(std::error::Error::source(&e).is_some());
        let long = format!("p/{}", "x".repeat(300));
        let e: Error = crate::name::DatasetName::new(&long).unwrap_err().into();
        assert_eq!(e.kind(), ErrorKind::NameTooLong);
        assert_eq!(e.errno(), None);
    }

    #[test]
    fn errno_names() {
        assert_eq!(errno_name(libc::ENOENT), "ENOENT");
        assert_eq!(errno_name(1033), "ZFS_ERR_WRONG_PARENT");
        assert_eq!(errno_name(99999), "errno 99999");
    }
}
