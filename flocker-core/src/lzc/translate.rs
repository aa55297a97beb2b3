//! Per-operation translation of errnos into [`ErrorKind`]s: the one errno mapping of the crate
//! (libzfs_core calls, and through [`io_error`] the system calls of `diff`, `kernel` and the
//! rollback store).
//!
//! The same errno means different things in different libzfs_core calls; this table follows
//! the kernel's sources (`module/zfs/zfs_ioctl.c`, `dsl_destroy.c`, `dsl_dataset.c`,
//! `dsl_userhold.c`, `zcp.c`) and pyzfs's `_error_translation.py`. Names never reach the kernel
//! unvalidated here (see [`crate::name`]), so the `EINVAL`-means-bad-name cases of pyzfs are
//! decided from what is left: properties, pools, relations between names.

use crate::error::{Error, ErrorKind, ZfsErrCode};

/// Linux's values of OpenZFS's private errnos (`include/os/linux/spl/sys/errno.h`).
#[cfg(target_os = "linux")]
pub(crate) const ECKSUM: i32 = libc::EBADE;
#[cfg(not(target_os = "linux"))]
pub(crate) const ECKSUM: i32 = 97; // FreeBSD's EINTEGRITY

/// Families of libzfs_core operations that share one translation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    Snapshot,
    Create,
    Clone,
    Promote,
    Destroy,
    DestroySnaps,
    Bookmark,
    GetBookmarks,
    DestroyBookmarks,
    Rollback,
    Rename,
    Hold,
    Release,
    GetHolds,
    Send,
    SnaprangeSpace,
    Receive,
    ChannelProgram,
    LoadKey,
    UnloadKey,
    ChangeKey,
    Pool,
    Vdev,
    Generic,
    /// File-system calls on paths (reading a snapshot's files, restoring them, the store).
    File,
    /// `ZFS_IOC_SET_PROP` and other ioctls issued without libzfs_core.
    SetProps,
    /// `mount(2)` of a dataset.
    Mount,
    /// `umount2(2)`.
    Unmount,
}

/// What the caller knows about the arguments, for the translations that depend on them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Hints {
    /// All names of the call belong to one pool.
    pub same_pool: bool,
    /// Properties were passed.
    pub has_props: bool,
    /// Some bookmark's filesystem differs from its source's.
    pub fs_mismatch: bool,
    /// A channel program's reply carried an error message.
    pub program_message: bool,
}

impl Default for Hints {
    fn default() -> Self {
        Hints {
            same_pool: true,
            has_props: false,
            fs_mismatch: false,
            program_message: false,
        }
    }
}

/// The kind of `errno` in an operation of `family`.
pub(crate) fn translate(family: Family, errno: i32, h: Hints) -> ErrorKind {
    use ErrorKind as K;
    use Family as F;
    match (family, errno) {
        (F::Snapshot, libc::EXDEV) => {
            if h.same_pool {
                K::DuplicateFilesystem
            } else {
                K::CrossPool
            }
        }
        (F::Snapshot | F::Create | F::Clone, libc::EINVAL) if h.has_props => K::PropertyInvalid,
        (F::Promote, libc::EINVAL | libc::ENOTSOCK) => K::NotAClone,
        (F::Destroy, libc::EEXIST) => K::HasChildren,
        (F::DestroySnaps, libc::EEXIST) => K::HasClones,
        (F::DestroySnaps, libc::EBUSY) => K::Held,
        (F::Rollback, libc::EEXIST) => K::NotLatest,
        (F::Rollback, libc::ESRCH) => K::NotFound,
        (F::Bookmark, libc::EINVAL) => {
            if !h.same_pool {
                K::CrossPool
            } else if h.fs_mismatch {
                K::Mismatch
            } else {
                K::InvalidArgument
            }
        }
        (F::Bookmark, 1039) => K::Mismatch, // ZFS_ERR_BOOKMARK_SOURCE_NOT_ANCESTOR
        (F::DestroyBookmarks | F::Hold | F::Release | F::Rename, libc::EINVAL) if !h.same_pool => {
            K::CrossPool
        }
        (F::Hold | F::Release, libc::E2BIG) => K::NameTooLong,
        (F::Send | F::SnaprangeSpace, libc::EXDEV) => {
            if h.same_pool {
                K::Mismatch
            } else {
                K::CrossPool
            }
        }
        (F::Send | F::SnaprangeSpace, libc::EINVAL) => {
            if h.same_pool {
                K::Mismatch
            } else {
                K::CrossPool
            }
        }
        (F::Send, libc::EIO) => K::Io,
        (F::Receive, libc::EINVAL) => K::BadStream,
        (F::Receive, libc::ENODEV) => K::StreamMismatch,
        (F::Receive, libc::ETXTBSY) => K::DestinationModified,
        (F::Receive, e) if e == ECKSUM => K::BadStream,
        (F::ChannelProgram, libc::ETIME | libc::ENOSPC | libc::ENOMEM) => K::ChannelProgramLimit,
        (F::ChannelProgram, libc::ECHRNG) => K::ChannelProgramFailed,
        (F::ChannelProgram, libc::EINVAL) if h.program_message => K::ChannelProgramSyntax,
        (F::LoadKey, libc::EACCES) => K::KeyInvalid,
        (F::LoadKey, libc::EEXIST) => K::KeyAlreadyLoaded,
        (F::UnloadKey | F::ChangeKey, libc::EACCES) => K::KeyNotLoaded,
        (F::Vdev, libc::ENODEV) => K::NotFound,
        (F::File, libc::ENOTDIR) => K::NotFound,
        (F::File, libc::ENOTEMPTY) => K::Exists,
        (F::File | F::Mount, libc::EXDEV) => K::Io,
        (F::SetProps, libc::EINVAL) => K::PropertyInvalid,
        (F::Unmount, libc::EINVAL) => K::NotFound,
        (F::Send | F::Receive | F::File | F::Mount | F::Unmount, e) => match generic(e) {
            K::Other => K::Io,
            k => k,
        },
        (_, e) => generic(e),
    }
}

/// The kind of a failed system call's error `e` in an operation of `family`: its errno as
/// [`translate`] reads it, or (an error without errno) its [`std::io::ErrorKind`].
pub(crate) fn kind_of_io(family: Family, e: &std::io::Error) -> ErrorKind {
    match e.raw_os_error() {
        Some(errno) => translate(family, errno, Hints::default()),
        None => match e.kind() {
            std::io::ErrorKind::NotFound => ErrorKind::NotFound,
            std::io::ErrorKind::PermissionDenied => ErrorKind::PermissionDenied,
            std::io::ErrorKind::InvalidInput => ErrorKind::InvalidArgument,
            _ => ErrorKind::Io,
        },
    }
}

/// The error of a system call of operation `op` on `name` (a path, a dataset) that failed
/// with `e`: its kind from [`kind_of_io`], the errno and the system's message.
pub(crate) fn io_error(family: Family, op: &'static str, name: &str, e: &std::io::Error) -> Error {
    crate::kernel::io_error(kind_of_io(family, e), op, name, e)
}

/// The translation shared by all operations.
pub(crate) fn generic(errno: i32) -> ErrorKind {
    use ErrorKind as K;
    match errno {
        libc::ENOENT | libc::ESRCH | libc::ENXIO => K::NotFound,
        libc::EEXIST => K::Exists,
        libc::EBUSY => K::Busy,
        libc::EPERM | libc::EACCES => K::PermissionDenied,
        libc::EROFS => K::ReadOnly,
        libc::ENOSPC => K::NoSpace,
        libc::EDQUOT => K::QuotaExceeded,
        libc::EOPNOTSUPP | libc::ENOSYS | libc::ENOTTY => K::NotSupported,
        libc::EINVAL => K::InvalidArgument,
        libc::EIO => K::Io,
        libc::ENAMETOOLONG => K::NameTooLong,
        libc::EXDEV => K::CrossPool,
        libc::EPIPE => K::BrokenPipe,
        libc::EBADF => K::BadFileDescriptor,
        libc::EINTR => K::Interrupted,
        libc::EAGAIN => K::TryAgain,
        libc::ENOMEM => K::OutOfMemory,
        e if e == ECKSUM => K::Io,
        e => match ZfsErrCode::from_errno(e) {
            Some(ZfsErrCode::IocCmdUnavail) => K::IocUnavailable,
            Some(ZfsErrCode::BadProp) => K::PropertyInvalid,
            Some(c) => K::Zfs(c),
            None => K::Other,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(f: Family, e: i32) -> ErrorKind {
        translate(f, e, Hints::default())
    }

    #[test]
    fn eexist_depends_on_operation() {
        assert_eq!(t(Family::Snapshot, libc::EEXIST), ErrorKind::Exists);
        assert_eq!(t(Family::DestroySnaps, libc::EEXIST), ErrorKind::HasClones);
        assert_eq!(t(Family::Rollback, libc::EEXIST), ErrorKind::NotLatest);
        assert_eq!(t(Family::Destroy, libc::EEXIST), ErrorKind::HasChildren);
        assert_eq!(
            t(Family::LoadKey, libc::EEXIST),
            ErrorKind::KeyAlreadyLoaded
        );
    }

    #[test]
    fn snapshot_exdev_depends_on_pools() {
        assert_eq!(
            t(Family::Snapshot, libc::EXDEV),
            ErrorKind::DuplicateFilesystem
        );
        let h = Hints {
            same_pool: false,
            ..Hints::default()
        };
        assert_eq!(
            translate(Family::Snapshot, libc::EXDEV, h),
            ErrorKind::CrossPool
        );
    }

    #[test]
    fn misc() {
        assert_eq!(t(Family::DestroySnaps, libc::EBUSY), ErrorKind::Held);
        assert_eq!(t(Family::Promote, libc::EINVAL), ErrorKind::NotAClone);
        assert_eq!(t(Family::Hold, libc::E2BIG), ErrorKind::NameTooLong);
        assert_eq!(t(Family::Receive, ECKSUM), ErrorKind::BadStream);
        assert_eq!(
            t(Family::ChannelProgram, libc::ETIME),
            ErrorKind::ChannelProgramLimit
        );
        assert_eq!(
            t(Family::ChannelProgram, libc::EINVAL),
            ErrorKind::InvalidArgument
        );
        let h = Hints {
            program_message: true,
            ..Hints::default()
        };
        assert_eq!(
            translate(Family::ChannelProgram, libc::EINVAL, h),
            ErrorKind::ChannelProgramSyntax
        );
        assert_eq!(t(Family::Generic, 1029), ErrorKind::IocUnavailable);
        assert_eq!(
            t(Family::Generic, 1033),
            ErrorKind::Zfs(ZfsErrCode::WrongParent)
        );
        assert_eq!(t(Family::Generic, 4242), ErrorKind::Other);
        assert_eq!(t(Family::Send, 4242), ErrorKind::Io);
    }

    #[test]
    fn system_calls_share_the_mapping() {
        assert_eq!(t(Family::File, libc::ENOTDIR), ErrorKind::NotFound);
        assert_eq!(t(Family::File, libc::ENOTEMPTY), ErrorKind::Exists);
        assert_eq!(t(Family::File, libc::EXDEV), ErrorKind::Io);
        assert_eq!(t(Family::File, 4242), ErrorKind::Io);
        assert_eq!(
            t(Family::SetProps, libc::EINVAL),
            ErrorKind::PropertyInvalid
        );
        assert_eq!(t(Family::SetProps, 4242), ErrorKind::Other);
        assert_eq!(t(Family::Unmount, libc::EINVAL), ErrorKind::NotFound);
        assert_eq!(t(Family::Mount, libc::EBUSY), ErrorKind::Busy);
        let e = std::io::Error::from_raw_os_error(libc::EACCES);
        let err = io_error(Family::File, "open", "/x", &e);
        assert_eq!(
            (err.kind(), err.errno(), err.name()),
            (ErrorKind::PermissionDenied, Some(libc::EACCES), Some("/x"))
        );
        let e = std::io::Error::new(std::io::ErrorKind::InvalidInput, "NUL");
        assert_eq!(kind_of_io(Family::Mount, &e), ErrorKind::InvalidArgument);
    }
}
