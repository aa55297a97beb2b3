//! Tests of the lab itself: the module the VM loaded, and a pool on a file.

use flocker_tests::{TestPool, TestResult, ensure, fail, lab_flavour, run, sh, zfs_test};

fn module_version_matches_flavour() -> TestResult {
    let version = std::fs::read_to_string("/sys/module/zfs/version").map_err(fail)?;
    let version = version.trim();
    let flavour = lab_flavour().ok_or_else(|| fail("FLOCKER_LAB_FLAVOUR is not set"))?;
    ensure!(
        version.starts_with(&format!("{flavour}.")),
        "module version {version} does not belong to flavour {flavour}"
    );
    Ok(())
}

fn userland_matches_module() -> TestResult {
    let out = sh("zfs", &["version"])?;
    let module = std::fs::read_to_string("/sys/module/zfs/version").map_err(fail)?;
    ensure!(
        out.contains(module.trim()),
        "`zfs version` ({}) does not mention the loaded module {}",
        out.trim(),
        module.trim()
    );
    Ok(())
}

fn pool_on_file_is_online() -> TestResult {
    let pool = TestPool::new("lab", 128)?;
    let health = sh("zpool", &["list", "-H", "-o", "health", pool.name()])?;
    ensure!(health.trim() == "ONLINE", "pool health is {health:?}");
    sh("zfs", &["create", &pool.ds("fs")])?;
    sh("zfs", &["snapshot", &format!("{}@one", pool.ds("fs"))])?;
    let snaps = sh(
        "zfs",
        &[
            "list",
            "-H",
            "-t",
            "snapshot",
            "-o",
            "name",
            "-r",
            pool.name(),
        ],
    )?;
    ensure!(
        snaps.lines().any(|l| l == format!("{}@one", pool.ds("fs"))),
        "snapshot missing from `zfs list`: {snaps:?}"
    );
    Ok(())
}

fn main() {
    run(vec![
        zfs_test(
            "lab::module_version_matches_flavour",
            module_version_matches_flavour,
        ),
        zfs_test("lab::userland_matches_module", userland_matches_module),
        zfs_test("lab::pool_on_file_is_online", pool_on_file_is_online),
    ])
}
