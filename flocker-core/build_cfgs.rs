// Shared by `flocker-core/build.rs` and `tests/build.rs` (each `include!`s this file), so that
// both crates turn libzfs-core-sys's OpenZFS API level into the same cfgs.
//
// libzfs-core-sys (`links = "zfs_core"`) publishes the API level of the headers it was built
// against as `DEP_ZFS_CORE_VERSION` (`2.1`, `2.2`, `2.3` or `2.4`); only build scripts of crates that
// depend on it as a normal dependency receive it. The cfgs are cumulative: a 2.4 build has
// `zfs_2_2`, `zfs_2_3` and `zfs_2_4`. No inner doc comments here: `include!` does not accept them.

/// `(cfg, minimum minor version of OpenZFS 2.x)`.
const LEVELS: &[(&str, u32)] = &[("zfs_2_2", 2), ("zfs_2_3", 3), ("zfs_2_4", 4)];

/// Declares the cfgs with `rustc-check-cfg` and turns on those that `DEP_ZFS_CORE_VERSION`
/// allows; warns (naming `krate`) and assumes the 2.1 API when the version is missing or not
/// `2.<minor>`.
fn emit_zfs_cfgs(krate: &str) {
    println!("cargo::rerun-if-env-changed=DEP_ZFS_CORE_VERSION");
    for (cfg, _) in LEVELS {
        println!("cargo::rustc-check-cfg=cfg({cfg})");
    }

    let version = std::env::var("DEP_ZFS_CORE_VERSION").unwrap_or_default();
    let minor = match version.split_once('.') {
        Some(("2", minor)) => minor.parse::<u32>().ok(),
        _ => None,
    };
    let Some(minor) = minor else {
        println!(
            "cargo::warning={krate}: libzfs-core-sys reported no usable OpenZFS version \
             ({version:?}); assuming the 2.1 API"
        );
        return;
    };
    for (cfg, min) in LEVELS {
        if minor >= *min {
            println!("cargo::rustc-cfg={cfg}");
        }
    }
}
