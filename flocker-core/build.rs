//! Re-emits libzfs-core-sys's OpenZFS API-level cfgs for this crate.
//!
//! libzfs-core-sys (`links = "zfs_core"`) publishes the API level of the headers it was built
//! against as `DEP_ZFS_CORE_VERSION` (`2.1`, `2.2` or `2.3`). The same cumulative cfgs are turned
//! on here, so `#[cfg(zfs_2_3)]` in flocker-core matches exactly the functions that exist in the
//! bindings.

use std::env;

/// `(cfg, minimum minor version of OpenZFS 2.x)`.
const LEVELS: &[(&str, u32)] = &[("zfs_2_2", 2), ("zfs_2_3", 3)];

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=DEP_ZFS_CORE_VERSION");
    for (cfg, _) in LEVELS {
        println!("cargo::rustc-check-cfg=cfg({cfg})");
    }

    let version = env::var("DEP_ZFS_CORE_VERSION").unwrap_or_default();
    let minor = match version.split_once('.') {
        Some(("2", minor)) => minor.parse::<u32>().ok(),
        _ => None,
    };
    let Some(minor) = minor else {
        println!(
            "cargo::warning=flocker-core: libzfs-core-sys reported no usable OpenZFS version \
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
