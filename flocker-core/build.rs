//! Re-emits libzfs-core-sys's OpenZFS API-level cfgs for this crate.
//!
//! libzfs-core-sys (`links = "zfs_core"`) publishes the API level of the headers it was built
//! against as `DEP_ZFS_CORE_VERSION` (`2.1`, `2.2` or `2.3`). The same cumulative cfgs are turned
//! on here, so `#[cfg(zfs_2_3)]` in flocker-core matches exactly the functions that exist in the
//! bindings. The logic lives in `build_cfgs.rs`, which flocker-tests' build script includes too.

include!("build_cfgs.rs");

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-changed=build_cfgs.rs");
    emit_zfs_cfgs("flocker-core");
}
