//! The kernel's list and stats ioctls, as `zfs list` and `zpool history` use them:
//! `ZFS_IOC_DATASET_LIST_NEXT`, `ZFS_IOC_SNAPSHOT_LIST_NEXT`, `ZFS_IOC_OBJSET_STATS` and
//! `ZFS_IOC_POOL_GET_HISTORY`, on the library's own `/dev/zfs` descriptor.
//!
//! A list ioctl returns one item per call: its name in `zc_name`, its identity in
//! `zc_objset_stats`, and (unless `zc_simple`) every property in one packed nvlist
//! (`{name: {value, source}}`). `zc_cookie` is the iterator's position (a ZAP cursor): the
//! next call resumes there. `ESRCH` ends the iteration. `ENOMEM` means the property list did
//! not fit in `zc_nvlist_dst`: the kernel has put the size it needs in `zc_nvlist_dst_size`,
//! and the same call (same cookie) is repeated with a larger buffer.

use libzfs_core_sys as sys;

use super::raw_ioctl;
use super::zfs_cmd::ZfsCmd;
use crate::error::{Error, ErrorKind, Result};
use crate::lzc::{self, Family};
use crate::nvlist::NvList;

const DATASET_LIST_NEXT: libc::c_ulong = sys::ZFS_IOC_DATASET_LIST_NEXT as libc::c_ulong;
const SNAPSHOT_LIST_NEXT: libc::c_ulong = sys::ZFS_IOC_SNAPSHOT_LIST_NEXT as libc::c_ulong;
const OBJSET_STATS: libc::c_ulong = sys::ZFS_IOC_OBJSET_STATS as libc::c_ulong;
const POOL_GET_HISTORY: libc::c_ulong = sys::ZFS_IOC_POOL_GET_HISTORY as libc::c_ulong;
const POOL_GET_PROPS: libc::c_ulong = sys::ZFS_IOC_POOL_GET_PROPS as libc::c_ulong;

/// The property buffer's first size; it grows when the kernel asks for more.
const FIRST_BUFFER: usize = 16 * 1024;
/// No property list is allowed to grow the buffer beyond this.
const MAX_BUFFER: usize = 256 << 20;

/// `dmu_objset_type_t` of a volume.
pub(crate) const DMU_OST_ZVOL: u32 = 3;

/// One item of a listing.
pub(crate) struct Entry {
    /// The full name.
    pub(crate) name: String,
    /// `dds_guid` (0 in 2.1's simple snapshot listing).
    pub(crate) guid: u64,
    /// `dds_type`.
    pub(crate) kind: u32,
    /// Every property (`{name: {value, source}}`), unless the listing was simple.
    pub(crate) props: Option<NvList>,
}

/// A reusable buffer for the property lists of one thread's calls.
pub(crate) struct Buffer(Vec<u8>);

impl Buffer {
    pub(crate) fn new() -> Buffer {
        Buffer(vec![0; FIRST_BUFFER])
    }
}

impl Default for Buffer {
    fn default() -> Self {
        Buffer::new()
    }
}

/// An iterator position: the parent and the kernel's cookie.
pub(crate) struct Cursor {
    parent: String,
    cookie: u64,
    done: bool,
}

impl Cursor {
    /// The start of the children (or snapshots) of `parent`.
    pub(crate) fn new(parent: &str) -> Cursor {
        Cursor {
            parent: parent.to_string(),
            cookie: 0,
            done: false,
        }
    }
}

/// What a list call reads.
#[derive(Clone, Copy)]
pub(crate) struct Mode {
    /// Without the property list (`zc_simple`).
    pub(crate) simple: bool,
    /// Snapshots created before this txg are skipped by the kernel (0: none), snapshot
    /// listings only.
    pub(crate) min_txg: u64,
}

/// The next child filesystem or volume of the cursor's parent, `None` at the end.
/// Hidden datasets (`$ORIGIN`, `%recv`) are skipped by the kernel.
///
/// Errors: the parent is gone ([`ErrorKind::NotFound`]), and the ioctl's others.
pub(crate) fn next_dataset(c: &mut Cursor, mode: Mode, buf: &mut Buffer) -> Result<Option<Entry>> {
    next(
        DATASET_LIST_NEXT,
        "ZFS_IOC_DATASET_LIST_NEXT",
        c,
        mode,
        None,
        buf,
    )
}

/// The next snapshot of the cursor's dataset (in the kernel's order, not by txg), `None` at
/// the end.
///
/// Errors: as [`next_dataset`].
pub(crate) fn next_snapshot(c: &mut Cursor, mode: Mode, buf: &mut Buffer) -> Result<Option<Entry>> {
    let range = if mode.min_txg > 0 {
        let mut l = NvList::new()?;
        l.add_u64("snap_iter_min_txg", mode.min_txg)?;
        Some(l.pack()?)
    } else {
        None
    };
    next(
        SNAPSHOT_LIST_NEXT,
        "ZFS_IOC_SNAPSHOT_LIST_NEXT",
        c,
        mode,
        range.as_deref(),
        buf,
    )
}

/// One list call, repeated with a larger buffer while the property list does not fit.
fn next(
    request: libc::c_ulong,
    op: &'static str,
    c: &mut Cursor,
    mode: Mode,
    src: Option<&[u8]>,
    buf: &mut Buffer,
) -> Result<Option<Entry>> {
    if c.done {
        return Ok(None);
    }
    let prepare = |cmd: &mut ZfsCmd| {
        cmd.set_name(&c.parent)?;
        cmd.cookie = c.cookie;
        cmd.simple = u8::from(mode.simple);
        if let Some(src) = src {
            cmd.nvlist_src = src.as_ptr() as u64;
            cmd.nvlist_src_size = src.len() as u64;
        }
        Ok(())
    };
    match call(op, request, &c.parent, buf, !mode.simple, prepare) {
        Ok(cmd) => {
            c.cookie = cmd.cookie;
            entry(op, &cmd, mode.simple, buf).map(Some)
        }
        Err(e) if e.errno() == Some(libc::ESRCH) => {
            c.done = true;
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Grows `buf` to what the kernel asked for (at least double), within [`MAX_BUFFER`].
fn grow(op: &'static str, name: &str, buf: &mut Buffer, wanted: u64) -> Result<()> {
    let want = usize::try_from(wanted)
        .unwrap_or(usize::MAX)
        .max(buf.0.len() * 2);
    if want > MAX_BUFFER {
        return Err(Error::new(ErrorKind::OutOfMemory, op)
            .with_errno(libc::ENOMEM)
            .with_name(name)
            .with_detail(format!("a property list of {want} bytes")));
    }
    buf.0 = vec![0; want];
    Ok(())
}

/// Runs `request` on `name`; `prepare` sets the command's input before each try (the kernel
/// writes into it). With `list`, `buf` is the output list, grown while the kernel asks for
/// more. Returns the command the kernel filled in; an error keeps the ioctl's errno.
fn call(
    op: &'static str,
    request: libc::c_ulong,
    name: &str,
    buf: &mut Buffer,
    list: bool,
    prepare: impl Fn(&mut ZfsCmd) -> Result<()>,
) -> Result<Box<ZfsCmd>> {
    let mut cmd = ZfsCmd::new(name)?;
    loop {
        prepare(&mut cmd)?;
        if list {
            cmd.nvlist_dst = buf.0.as_mut_ptr() as u64;
            cmd.nvlist_dst_size = buf.0.len() as u64;
        }
        match raw_ioctl(op, request, &mut cmd)? {
            0 => return Ok(cmd),
            libc::ENOMEM if list => grow(op, name, buf, cmd.nvlist_dst_size)?,
            e => return Err(errno_error(op, name, e)),
        }
    }
}

/// The packed list the kernel wrote into `buf`.
fn filled<'a>(cmd: &ZfsCmd, buf: &'a Buffer) -> &'a [u8] {
    let n = usize::try_from(cmd.nvlist_dst_size)
        .unwrap_or(usize::MAX)
        .min(buf.0.len());
    &buf.0[..n]
}

/// The item the kernel put in `cmd` (and `buf`).
fn entry(op: &'static str, cmd: &ZfsCmd, simple: bool, buf: &Buffer) -> Result<Entry> {
    let props = if simple {
        None
    } else {
        Some(unpack(op, &cmd.name_str(), filled(cmd, buf))?)
    };
    let s = &cmd.objset_stats;
    Ok(Entry {
        name: cmd.name_str(),
        guid: s.guid,
        kind: s.kind,
        props,
    })
}

/// The stats of one dataset or snapshot by name (`ZFS_IOC_OBJSET_STATS`), with every
/// property.
///
/// Errors: [`ErrorKind::NotFound`] when it does not exist, and the ioctl's others.
pub(crate) fn stats(name: &str, buf: &mut Buffer) -> Result<Entry> {
    const OP: &str = "ZFS_IOC_OBJSET_STATS";
    let cmd = call(OP, OBJSET_STATS, name, buf, true, |_| Ok(()))?;
    entry(OP, &cmd, false, buf)
}

/// Reads the pool's history from the logical `offset` into `buf`: returns the bytes read
/// and the offset that follows them. The kernel moves an offset that the ring has
/// overwritten forward to the oldest record it keeps, so `next - read != offset` means
/// records were lost. Zero bytes: the end.
///
/// Errors: [`ErrorKind::NotFound`] (no such pool, or a pool without history),
/// [`ErrorKind::PermissionDenied`], and the ioctl's others.
pub(crate) fn history(pool: &str, offset: u64, buf: &mut [u8]) -> Result<(usize, u64)> {
    const OP: &str = "ZFS_IOC_POOL_GET_HISTORY";
    let mut cmd = ZfsCmd::new(pool)?;
    cmd.history = buf.as_mut_ptr() as u64;
    cmd.history_len = buf.len() as u64;
    cmd.history_offset = offset;
    match raw_ioctl(OP, POOL_GET_HISTORY, &mut cmd)? {
        0 => {}
        e => return Err(errno_error(OP, pool, e)),
    }
    let read = usize::try_from(cmd.history_len)
        .unwrap_or(usize::MAX)
        .min(buf.len());
    Ok((read, cmd.history_offset))
}

/// An error for `errno` from `op` on `name`, kind from the crate's one mapping.
fn errno_error(op: &'static str, name: &str, errno: i32) -> Error {
    let e = std::io::Error::from_raw_os_error(errno);
    lzc::io_error(Family::Generic, op, name, &e)
}

/// Unpacks a packed nvlist the kernel wrote.
///
/// Errors: [`ErrorKind::InvalidData`] when it is not a packed nvlist.
pub(crate) fn unpack(op: &'static str, name: &str, packed: &[u8]) -> Result<NvList> {
    NvList::unpack(packed).map_err(|e| {
        Error::new(ErrorKind::InvalidData, op)
            .with_name(name)
            .with_detail(format!("cannot unpack the property list: {e}"))
    })
}

/// The pool's `bootfs` (empty when it has none), from `ZFS_IOC_POOL_GET_PROPS` (the kernel
/// reports the dataset it stores by object under its current name).
///
/// Errors: [`ErrorKind::NotFound`] (no such pool), and the ioctl's others.
pub(crate) fn pool_bootfs(pool: &str, buf: &mut Buffer) -> Result<String> {
    const OP: &str = "ZFS_IOC_POOL_GET_PROPS";
    let cmd = call(OP, POOL_GET_PROPS, pool, buf, true, |_| Ok(()))?;
    let props = unpack(OP, pool, filled(&cmd, buf))?;
    let v = props
        .as_ref()
        .get_nvlist("bootfs")
        .ok()
        .and_then(|p| p.get_str("value").ok().map(str::to_string));
    Ok(v.filter(|v| v != "-").unwrap_or_default())
}

/// The pool's `altroot` (empty when it has none), from `ZFS_IOC_POOL_GET_PROPS`.
///
/// Errors: [`ErrorKind::NotFound`] (no such pool), and the ioctl's others.
pub(crate) fn pool_altroot(pool: &str, buf: &mut Buffer) -> Result<String> {
    const OP: &str = "ZFS_IOC_POOL_GET_PROPS";
    let cmd = call(OP, POOL_GET_PROPS, pool, buf, true, |_| Ok(()))?;
    let props = unpack(OP, pool, filled(&cmd, buf))?;
    let props = props.as_ref();
    let altroot = props
        .get_nvlist("altroot")
        .ok()
        .and_then(|p| p.get_str("value").ok().map(str::to_string));
    Ok(altroot.unwrap_or_default())
}
