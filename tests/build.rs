//! Gives the test crate flocker-core's OpenZFS API-level cfgs (`zfs_2_2`, `zfs_2_3`), so that
//! tests of the wrappers that exist only with newer headers are compiled exactly when
//! flocker-core has them. libzfs-core-sys is a normal dependency of this crate for the sole
//! purpose of handing this script `DEP_ZFS_CORE_VERSION`; the logic is flocker-core's own.

include!("../flocker-core/build_cfgs.rs");

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-changed=../flocker-core/build_cfgs.rs");
    emit_zfs_cfgs("flocker-tests");
}
