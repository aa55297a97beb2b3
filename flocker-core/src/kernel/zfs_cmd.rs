//! `zfs_cmd_t`, the argument of the legacy ZFS ioctls, declared once.
//!
//! OpenZFS does not install the header that declares it (`include/sys/zfs_ioctl.h` stays in
//! the source tree; the installed `libzfs_impl.h` only names the type), so the layout is
//! declared here from that header as it is in 2.1.11, 2.2, 2.3.2 and 2.4.4 on x86_64 and other
//! LP64 targets: the same field offsets and the same size in all of them (2.4 grew
//! `zinject_record_t` into a union that keeps the size). The `const` assertions below fail the
//! build if this declaration ever drifts from the offsets the kernel uses; the lab suites run
//! every ioctl of the crate against each flavour's real module.
//!
//! The kernel copies the whole struct in and out (`ddi_copyin` of `sizeof (zfs_cmd_t)`), so a
//! command is always a full, zeroed [`ZfsCmd`] on the heap.

use std::mem::{offset_of, size_of};

use crate::error::{Error, ErrorKind, Result};

/// `MAXPATHLEN`, the size of `zc_name`.
pub(crate) const MAXPATHLEN: usize = 4096;

/// `dmu_objset_stats_t`: what every list and stats ioctl fills in without a property list.
#[repr(C)]
#[derive(Clone, Copy)]
pub(crate) struct ObjsetStats {
    /// `dds_num_clones`.
    pub(crate) num_clones: u64,
    /// `dds_creation_txg`.
    pub(crate) creation_txg: u64,
    /// `dds_guid`.
    pub(crate) guid: u64,
    /// `dds_type` (`dmu_objset_type_t`: 2 filesystem, 3 volume).
    pub(crate) kind: u32,
    /// `dds_is_snapshot`.
    pub(crate) is_snapshot: u8,
    /// `dds_inconsistent` (a receive in progress).
    pub(crate) inconsistent: u8,
    /// `dds_redacted`.
    pub(crate) redacted: u8,
    /// `dds_origin[ZFS_MAX_DATASET_NAME_LEN]`, then 2.4's `dds_flags`, then padding.
    origin_and_flags: [u8; 257],
}

/// `zfs_cmd_t`. Fields the crate does not use are opaque byte ranges of the right size.
#[repr(C)]
pub(crate) struct ZfsCmd {
    /// `zc_name[MAXPATHLEN]`: the pool, dataset or snapshot; the list ioctls write the next
    /// name here.
    pub(crate) name: [u8; MAXPATHLEN],
    /// `zc_nvlist_src` (a user pointer) and `zc_nvlist_src_size`.
    pub(crate) nvlist_src: u64,
    pub(crate) nvlist_src_size: u64,
    /// `zc_nvlist_dst` (a user pointer) and `zc_nvlist_dst_size` (in: the buffer's size; out:
    /// the packed list's size, also when it did not fit).
    pub(crate) nvlist_dst: u64,
    pub(crate) nvlist_dst_size: u64,
    /// `zc_nvlist_dst_filled`, `zc_pad2`.
    nvlist_dst_filled: u32,
    pad2: i32,
    /// `zc_history` (a user pointer).
    pub(crate) history: u64,
    /// `zc_value[MAXPATHLEN * 2]`.
    pub(crate) value: [u8; 2 * MAXPATHLEN],
    /// `zc_string[MAXNAMELEN]`.
    string: [u8; 256],
    /// `zc_guid`, `zc_nvlist_conf`, `zc_nvlist_conf_size`.
    guid: u64,
    nvlist_conf: u64,
    nvlist_conf_size: u64,
    /// `zc_cookie`: the list ioctls' iterator position.
    pub(crate) cookie: u64,
    /// `zc_objset_type`, `zc_perm_action`.
    objset_type: u64,
    perm_action: u64,
    /// `zc_history_len` (in: the buffer's size; out: bytes read) and `zc_history_offset` (in:
    /// the logical offset to read from; out: the next one).
    pub(crate) history_len: u64,
    pub(crate) history_offset: u64,
    /// `zc_obj`, `zc_iflags`, `zc_share`.
    obj: u64,
    iflags: u64,
    share: [u64; 4],
    /// `zc_objset_stats`.
    pub(crate) objset_stats: ObjsetStats,
    /// `zc_begin_record`, `zc_inject_record` (with 2.4's union), `zc_cleanup_fd`.
    middle: [u8; 676],
    /// `zc_simple`: list without the property list (names only in 2.1; name, GUID and
    /// creation txg from 2.2 on).
    pub(crate) simple: u8,
    pad: [u8; 3],
    /// `zc_sendobj`, `zc_fromobj`, `zc_createtxg`, `zc_stat`, `zc_zoneid`.
    tail: [u64; 9],
}

// The layout of include/sys/zfs_ioctl.h (2.1.11–2.4.4): offsets the ioctls of this crate use.
const _: () = {
    assert!(size_of::<ZfsCmd>() == 13_744);
    assert!(offset_of!(ZfsCmd, nvlist_src) == 4096);
    assert!(offset_of!(ZfsCmd, nvlist_src_size) == 4104);
    assert!(offset_of!(ZfsCmd, nvlist_dst) == 4112);
    assert!(offset_of!(ZfsCmd, nvlist_dst_size) == 4120);
    assert!(offset_of!(ZfsCmd, history) == 4136);
    assert!(offset_of!(ZfsCmd, value) == 4144);
    assert!(offset_of!(ZfsCmd, cookie) == 12_616);
    assert!(offset_of!(ZfsCmd, history_len) == 12_640);
    assert!(offset_of!(ZfsCmd, history_offset) == 12_648);
    assert!(offset_of!(ZfsCmd, objset_stats) == 12_704);
    assert!(size_of::<ObjsetStats>() == 288);
    assert!(offset_of!(ObjsetStats, creation_txg) == 8);
    assert!(offset_of!(ObjsetStats, guid) == 16);
    assert!(offset_of!(ObjsetStats, kind) == 24);
    assert!(offset_of!(ObjsetStats, is_snapshot) == 28);
    assert!(offset_of!(ZfsCmd, simple) == 13_668);
};

impl ZfsCmd {
    /// A zeroed command naming `name`.
    ///
    /// Errors: [`ErrorKind::InvalidArgument`] when `name` does not fit or holds a NUL.
    pub(crate) fn new(name: &str) -> Result<Box<ZfsCmd>> {
        let layout = std::alloc::Layout::new::<ZfsCmd>();
        // SAFETY: the layout has a non-zero size. Every field is an integer or an array of
        // integers, for which all-zero bytes are a valid value, so the zeroed allocation is a
        // valid ZfsCmd, allocated by the global allocator with its own layout as Box expects.
        let mut c = unsafe {
            let p = std::alloc::alloc_zeroed(layout).cast::<ZfsCmd>();
            if p.is_null() {
                std::alloc::handle_alloc_error(layout);
            }
            Box::from_raw(p)
        };
        put_str(&mut c.name, name)?;
        Ok(c)
    }

    /// `zc_name` up to its NUL, as text (lossy).
    pub(crate) fn name_str(&self) -> String {
        c_str(&self.name)
    }

    /// Replaces `zc_name`.
    pub(crate) fn set_name(&mut self, name: &str) -> Result<()> {
        self.name = [0; MAXPATHLEN];
        put_str(&mut self.name, name)
    }

    /// Puts `s` in `zc_value`.
    pub(crate) fn set_value(&mut self, s: &str) -> Result<()> {
        put_str(&mut self.value, s)
    }
}

/// The text of a NUL-terminated byte array (lossy).
fn c_str(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

/// Copies `s` and a NUL into `field`.
fn put_str(field: &mut [u8], s: &str) -> Result<()> {
    if s.len() >= field.len() || s.as_bytes().contains(&0) {
        return Err(Error::new(ErrorKind::InvalidArgument, "zfs_cmd")
            .with_name(s)
            .with_detail("the name does not fit in the ioctl's argument"));
    }
    field[..s.len()].copy_from_slice(s.as_bytes());
    field[s.len()] = 0;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_bad_ones_are_errors() {
        let mut c = ZfsCmd::new("tank/a").unwrap();
        assert_eq!(c.name_str(), "tank/a");
        c.set_name("tank").unwrap();
        assert_eq!(c.name_str(), "tank");
        let e = c.set_name(&"x".repeat(MAXPATHLEN)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
        let e = ZfsCmd::new("a\0b").err().unwrap();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
        assert_eq!(c.cookie, 0);
        assert_eq!(c.simple, 0);
    }
}
