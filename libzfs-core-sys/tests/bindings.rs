//! Checks that the bindings cover the headers they were generated from, that the version cfgs
//! agree with them, and that libzfs_core/libnvpair link and run (no /dev/zfs needed).

use std::collections::BTreeSet;
use std::ffi::CStr;
use std::ptr;

use libzfs_core_sys as sys;

/// The bindings as compiled into the crate.
const BINDINGS: &str = include_str!(concat!(env!("OUT_DIR"), "/bindings.rs"));

/// Names `lzc_*` that appear as `name(` (a call or declaration) in `text`.
fn lzc_names_followed_by_paren(text: &str) -> BTreeSet<String> {
    let bytes = text.as_bytes();
    let mut out = BTreeSet::new();
    let mut i = 0;
    while let Some(pos) = text[i..].find("lzc_") {
        let start = i + pos;
        let mut end = start;
        while end < bytes.len() && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_') {
            end += 1;
        }
        let before_ok =
            start == 0 || !(bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_');
        if before_ok && text[end..].trim_start().starts_with('(') {
            out.insert(text[start..end].to_owned());
        }
        i = end.max(start + 1);
    }
    out
}

/// `pub fn lzc_*` declared in the bindings.
fn bound_lzc_functions() -> BTreeSet<String> {
    BINDINGS
        .split("pub fn ")
        .skip(1)
        .filter_map(|rest| {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            name.starts_with("lzc_").then_some(name)
        })
        .collect()
}

/// Declared in libzfs_core.h but not exported by libzfs_core.so (blocklisted by build.rs).
const DECLARED_NOT_EXPORTED: &[&str] = &["lzc_send_progress"];

#[test]
fn every_lzc_function_of_the_header_is_bound() {
    let header = env!("LIBZFS_CORE_SYS_HEADER");
    if header.is_empty() {
        // Pregenerated bindings: nothing to compare with; the count test still runs.
        return;
    }
    let text = std::fs::read_to_string(header).expect("header readable");
    let mut declared = lzc_names_followed_by_paren(&text);
    for name in DECLARED_NOT_EXPORTED {
        assert!(
            declared.remove(*name),
            "{name} is no longer declared: update the list"
        );
    }
    assert_eq!(declared, bound_lzc_functions(), "header {header}");
}

#[test]
fn lzc_function_count_matches_the_api_level() {
    // Counted in OpenZFS's include/libzfs_core.h: 47 declared in 2.1.11, +6 in 2.2, +3 in 2.3,
    // none in 2.4 (its libzfs_core.h is 2.3.2's byte for byte); minus lzc_send_progress,
    // declared but never defined.
    let expected = match sys::API_VERSION {
        "2.1" => 46,
        "2.2" => 52,
        "2.3" | "2.4" => 55,
        other => panic!("unknown API_VERSION {other}"),
    };
    assert_eq!(bound_lzc_functions().len(), expected);
}

#[test]
fn cfgs_agree_with_api_version() {
    assert_eq!(cfg!(zfs_2_2), sys::API_VERSION != "2.1");
    assert_eq!(cfg!(zfs_2_3), matches!(sys::API_VERSION, "2.3" | "2.4"));
    assert_eq!(cfg!(zfs_2_4), sys::API_VERSION == "2.4");
}

/// Takes the address of every function, so a missing symbol fails at link time.
macro_rules! addresses {
    ($($f:ident),* $(,)?) => {
        vec![$((stringify!($f), sys::$f as *const () as usize)),*]
    };
}

#[test]
fn all_2_1_functions_link() {
    #[allow(unused_mut)]
    let mut fns = addresses![
        lzc_bookmark,
        lzc_change_key,
        lzc_channel_program,
        lzc_channel_program_nosync,
        lzc_clone,
        lzc_create,
        lzc_destroy,
        lzc_destroy_bookmarks,
        lzc_destroy_snaps,
        lzc_exists,
        lzc_get_bookmark_props,
        lzc_get_bookmarks,
        lzc_get_bootenv,
        lzc_get_holds,
        lzc_hold,
        lzc_initialize,
        lzc_load_key,
        lzc_pool_checkpoint,
        lzc_pool_checkpoint_discard,
        lzc_promote,
        lzc_receive,
        lzc_receive_one,
        lzc_receive_resumable,
        lzc_receive_with_cmdprops,
        lzc_receive_with_header,
        lzc_redact,
        lzc_release,
        lzc_rename,
        lzc_reopen,
        lzc_rollback,
        lzc_rollback_to,
        lzc_send,
        lzc_send_redacted,
        lzc_send_resume,
        lzc_send_resume_redacted,
        lzc_send_space,
        lzc_send_space_resume_redacted,
        lzc_set_bootenv,
        lzc_snaprange_space,
        lzc_snapshot,
        lzc_sync,
        lzc_trim,
        lzc_unload_key,
        lzc_wait,
        lzc_wait_fs,
        lzc_wait_tag,
    ];
    assert_eq!(fns.len(), 46);
    #[cfg(zfs_2_2)]
    fns.extend(addresses![
        lzc_ioctl_fd,
        lzc_send_wrapper,
        lzc_receive_with_heal,
        lzc_scrub,
        lzc_get_vdev_prop,
        lzc_set_vdev_prop,
    ]);
    #[cfg(zfs_2_3)]
    fns.extend(addresses![lzc_get_props, lzc_pool_prefetch, lzc_ddt_prune]);
    assert_eq!(fns.len(), bound_lzc_functions().len());
    let distinct: BTreeSet<usize> = fns.iter().map(|(_, a)| *a).collect();
    assert_eq!(
        distinct.len(),
        fns.len(),
        "every function has its own address"
    );
    assert!(fns.iter().all(|(_, a)| *a != 0));
}

#[test]
fn zfs_err_codes_are_contiguous_from_1024() {
    let count = BINDINGS.matches("pub const ZFS_ERR_").count();
    // 21 in 2.1.11 (1024..=1044), 28 in 2.3.2, 29 in 2.4.4 (ZFS_ERR_TOO_MANY_SITOUTS); 2.2 is
    // not pinned here.
    match sys::API_VERSION {
        "2.1" => assert_eq!(count, 21),
        "2.3" => assert_eq!(count, 28),
        "2.4" => assert_eq!(count, 29),
        _ => assert!(count > 21),
    }
    assert_eq!(sys::ZFS_ERR_CHECKPOINT_EXISTS, 1024);
    assert_eq!(sys::ZFS_ERR_BADPROP, 1044);
    assert_eq!(sys::ZFS_ERR_IOC_CMD_UNAVAIL, 1029);
}

#[test]
fn constants_have_their_header_values() {
    assert_eq!(sys::ZFS_MAX_DATASET_NAME_LEN, 256);
    assert_eq!(sys::NV_UNIQUE_NAME, 1);
    assert_eq!(sys::DATA_TYPE_UINT64, 8);
    assert_eq!(sys::DATA_TYPE_DOUBLE, 27);
    assert_eq!(sys::LZC_SEND_FLAG_RAW, 8);
    assert_eq!(sys::ZCP_DEFAULT_INSTRLIMIT, 10_000_000);
    assert_eq!(sys::ZCP_DEFAULT_MEMLIMIT, 10 << 20);
}

#[test]
fn libnvpair_round_trip_at_runtime() {
    let mut nvl: *mut sys::nvlist_t = ptr::null_mut();
    // SAFETY: valid out-pointer and flags.
    assert_eq!(
        unsafe { sys::nvlist_alloc(&raw mut nvl, sys::NV_UNIQUE_NAME, 0) },
        0
    );
    assert!(!nvl.is_null());
    // SAFETY: nvl is a fresh list; names and values are NUL-terminated literals.
    unsafe {
        assert_eq!(sys::nvlist_add_uint64(nvl, c"guid".as_ptr(), 42), 0);
        assert_eq!(
            sys::nvlist_add_string(nvl, c"name".as_ptr(), c"pool/fs@a".as_ptr()),
            0
        );
        let mut v = 0u64;
        assert_eq!(
            sys::nvlist_lookup_uint64(nvl, c"guid".as_ptr(), &raw mut v),
            0
        );
        assert_eq!(v, 42);
        let mut s: *const std::ffi::c_char = ptr::null();
        assert_eq!(
            sys::nvlist_lookup_string(nvl, c"name".as_ptr(), (&raw mut s).cast()),
            0
        );
        assert_eq!(CStr::from_ptr(s), c"pool/fs@a");
        assert_eq!(
            sys::nvlist_lookup_uint64(nvl, c"missing".as_ptr(), &raw mut v),
            libc_enoent()
        );
        sys::nvlist_free(nvl);
    }
}

/// ENOENT on Linux and FreeBSD (no libc dependency for one constant).
fn libc_enoent() -> i32 {
    2
}

#[test]
fn libzfs_core_init_fails_cleanly_without_dev_zfs() {
    // Only meaningful on a host without ZFS: initialisation must report an errno, not abort.
    // (No lzc_* call follows: after a failed init they would abort on the VERIFY of the fd.)
    if std::path::Path::new("/dev/zfs").exists() {
        return;
    }
    // SAFETY: libzfs_core_init has no preconditions; it returns an errno on failure.
    let rc = unsafe { sys::libzfs_core_init() };
    assert_ne!(rc, 0, "libzfs_core_init must fail without /dev/zfs");
}
