//! Conformance: lzc_create, lzc_clone, lzc_promote, lzc_rename, lzc_destroy, lzc_exists,
//! lzc_rollback, lzc_rollback_to (pyzfs checklist: clone across pools, clone of missing
//! snapshot, promote, promote not cloned, rollback, rollback without snapshots, rollback_to
//! not latest).

mod lzc_common;

use flocker_core::error::{ErrorKind, ZfsErrCode};
use flocker_core::lzc::{self, DatasetType};
use flocker_core::nvlist::NvList;
use flocker_tests::{TestPool, TestResult, ensure, fail, run, zfs_test};
use lzc_common::*;

fn create_filesystem() -> TestResult {
    let p = TestPool::new("create", 128)?;
    let fs = ds(&p.ds("fs"))?;
    ensure!(!ok(lzc::exists(&fs))?, "exists before create");
    ok(lzc::create(&fs, DatasetType::Filesystem, None, None))?;
    ensure!(ok(lzc::exists(&fs))?, "lzc_exists false after create");
    ensure!(prop(fs.as_str(), "type")? == "filesystem", "type");
    Ok(())
}

fn create_with_props() -> TestResult {
    let p = TestPool::new("createprops", 128)?;
    let fs = ds(&p.ds("fs"))?;
    let mut props = NvList::new().map_err(fail)?;
    props.add_u64("quota", 64 << 20).map_err(fail)?;
    props.add_string("user:owner", "flocker").map_err(fail)?;
    ok(lzc::create(
        &fs,
        DatasetType::Filesystem,
        Some(&props),
        None,
    ))?;
    ensure!(
        prop(fs.as_str(), "quota")? == (64u64 << 20).to_string(),
        "quota"
    );
    ensure!(prop(fs.as_str(), "user:owner")? == "flocker", "user prop");
    Ok(())
}

fn create_volume() -> TestResult {
    let p = TestPool::new("createvol", 128)?;
    let vol = ds(&p.ds("vol"))?;
    let mut props = NvList::new().map_err(fail)?;
    props.add_u64("volsize", 8 << 20).map_err(fail)?;
    ok(lzc::create(&vol, DatasetType::Volume, Some(&props), None))?;
    ensure!(prop(vol.as_str(), "type")? == "volume", "type");
    ensure!(
        prop(vol.as_str(), "volsize")? == (8u64 << 20).to_string(),
        "volsize"
    );
    Ok(())
}

fn create_exists() -> TestResult {
    let p = TestPool::new("createexists", 128)?;
    mkfs(&[&p.ds("fs")])?;
    let e = expect_err(
        lzc::create(&ds(&p.ds("fs"))?, DatasetType::Filesystem, None, None),
        ErrorKind::Exists,
    )?;
    ensure!(e.name() == Some(p.ds("fs").as_str()), "name {:?}", e.name());
    Ok(())
}

fn create_missing_parent() -> TestResult {
    let p = TestPool::new("createnoparent", 128)?;
    expect_err(
        lzc::create(
            &ds(&p.ds("no/such/parent"))?,
            DatasetType::Filesystem,
            None,
            None,
        ),
        ErrorKind::NotFound,
    )?;
    ensure!(!cli_exists(&p.ds("no")), "parent created");
    Ok(())
}

fn create_under_volume() -> TestResult {
    let p = TestPool::new("createwrongparent", 128)?;
    zfs(&["create", "-V", "8M", &p.ds("vol")])?;
    let e = expect_err(
        lzc::create(&ds(&p.ds("vol/fs"))?, DatasetType::Filesystem, None, None),
        ErrorKind::Zfs(ZfsErrCode::WrongParent),
    )?;
    ensure!(e.zfs_code() == Some(ZfsErrCode::WrongParent), "{e}");
    Ok(())
}

fn create_invalid_prop() -> TestResult {
    let p = TestPool::new("createbadprop", 128)?;
    let mut props = NvList::new().map_err(fail)?;
    props.add_string("nosuchproperty", "x").map_err(fail)?;
    let fs = ds(&p.ds("fs"))?;
    expect_err(
        lzc::create(&fs, DatasetType::Filesystem, Some(&props), None),
        ErrorKind::PropertyInvalid,
    )?;
    ensure!(!cli_exists(fs.as_str()), "created despite a bad property");
    Ok(())
}

fn clone_has_origin() -> TestResult {
    let p = TestPool::new("clone", 128)?;
    mkfs(&[&p.ds("fs")])?;
    let origin = format!("{}@o", p.ds("fs"));
    mksnap(&[&origin])?;
    let c = ds(&p.ds("clone"))?;
    ok(lzc::clone(&c, &snap(&origin)?, None))?;
    ensure!(prop(c.as_str(), "origin")? == origin, "origin");
    Ok(())
}

fn clone_missing_snapshot() -> TestResult {
    let p = TestPool::new("clonemissing", 128)?;
    mkfs(&[&p.ds("fs")])?;
    let c = ds(&p.ds("clone"))?;
    expect_err(
        lzc::clone(&c, &snap(&format!("{}@none", p.ds("fs")))?, None),
        ErrorKind::NotFound,
    )?;
    ensure!(!cli_exists(c.as_str()), "clone created");
    Ok(())
}

fn clone_across_pools() -> TestResult {
    let p1 = TestPool::new("clonexa", 128)?;
    let p2 = TestPool::new("clonexb", 128)?;
    mkfs(&[&p1.ds("fs")])?;
    let origin = format!("{}@o", p1.ds("fs"));
    mksnap(&[&origin])?;
    expect_err(
        lzc::clone(&ds(&p2.ds("clone"))?, &snap(&origin)?, None),
        ErrorKind::CrossPool,
    )?;
    Ok(())
}

fn clone_exists() -> TestResult {
    let p = TestPool::new("cloneexists", 128)?;
    mkfs(&[&p.ds("fs"), &p.ds("other")])?;
    let origin = format!("{}@o", p.ds("fs"));
    mksnap(&[&origin])?;
    expect_err(
        lzc::clone(&ds(&p.ds("other"))?, &snap(&origin)?, None),
        ErrorKind::Exists,
    )?;
    Ok(())
}

fn promote_swaps_origin() -> TestResult {
    let p = TestPool::new("promote", 128)?;
    mkfs(&[&p.ds("fs")])?;
    let origin = format!("{}@o", p.ds("fs"));
    mksnap(&[&format!("{}@early", p.ds("fs")), &origin])?;
    zfs(&["clone", &origin, &p.ds("clone")])?;
    ok(lzc::promote(&ds(&p.ds("clone"))?))?;
    ensure!(
        cli_exists(&format!("{}@o", p.ds("clone"))),
        "origin snapshot not moved"
    );
    ensure!(
        cli_exists(&format!("{}@early", p.ds("clone"))),
        "earlier snapshot not moved"
    );
    ensure!(
        prop(&p.ds("fs"), "origin")? == format!("{}@o", p.ds("clone")),
        "old parent origin"
    );
    ensure!(
        prop(&p.ds("clone"), "origin")? == "-",
        "promoted fs still has an origin"
    );
    Ok(())
}

fn promote_not_clone() -> TestResult {
    let p = TestPool::new("promotenot", 128)?;
    mkfs(&[&p.ds("fs")])?;
    expect_err(lzc::promote(&ds(&p.ds("fs"))?), ErrorKind::NotAClone)?;
    Ok(())
}

fn promote_missing() -> TestResult {
    let p = TestPool::new("promotemissing", 128)?;
    expect_err(lzc::promote(&ds(&p.ds("nofs"))?), ErrorKind::NotFound)?;
    Ok(())
}

fn promote_name_conflict() -> TestResult {
    let p = TestPool::new("promoteconflict", 128)?;
    mkfs(&[&p.ds("fs")])?;
    let origin = format!("{}@o", p.ds("fs"));
    mksnap(&[&format!("{}@dup", p.ds("fs")), &origin])?;
    zfs(&["clone", &origin, &p.ds("clone")])?;
    mksnap(&[&format!("{}@dup", p.ds("clone"))])?;
    let e = expect_err(lzc::promote(&ds(&p.ds("clone"))?), ErrorKind::Exists)?;
    let detail = e.detail().unwrap_or("");
    ensure!(detail.contains("dup"), "conflicting name not reported: {e}");
    ensure!(
        prop(&p.ds("clone"), "origin")? == origin,
        "promoted despite the conflict"
    );
    Ok(())
}

fn rename_filesystem() -> TestResult {
    let p = TestPool::new("rename", 128)?;
    mkfs(&[&p.ds("a/child"), &p.ds("b")])?;
    ok(lzc::rename(&ds(&p.ds("a"))?, &ds(&p.ds("b/a2"))?))?;
    ensure!(cli_exists(&p.ds("b/a2/child")), "child not moved");
    ensure!(!cli_exists(&p.ds("a")), "source still exists");
    Ok(())
}

fn rename_exists() -> TestResult {
    let p = TestPool::new("renameexists", 128)?;
    mkfs(&[&p.ds("a"), &p.ds("b")])?;
    expect_err(
        lzc::rename(&ds(&p.ds("a"))?, &ds(&p.ds("b"))?),
        ErrorKind::Exists,
    )?;
    ensure!(cli_exists(&p.ds("a")), "source lost");
    Ok(())
}

fn rename_missing() -> TestResult {
    let p = TestPool::new("renamemissing", 128)?;
    expect_err(
        lzc::rename(&ds(&p.ds("a"))?, &ds(&p.ds("b"))?),
        ErrorKind::NotFound,
    )?;
    Ok(())
}

fn rename_across_pools() -> TestResult {
    let p1 = TestPool::new("renamexa", 128)?;
    let p2 = TestPool::new("renamexb", 128)?;
    mkfs(&[&p1.ds("a")])?;
    expect_err(
        lzc::rename(&ds(&p1.ds("a"))?, &ds(&p2.ds("a"))?),
        ErrorKind::CrossPool,
    )?;
    ensure!(cli_exists(&p1.ds("a")), "source lost");
    Ok(())
}

fn rename_snapshot() -> TestResult {
    let p = TestPool::new("renamesnap", 128)?;
    mkfs(&[&p.ds("fs")])?;
    let a = format!("{}@a", p.ds("fs"));
    mksnap(&[&a])?;
    let guid = cli_guid(&a)?;
    let b = format!("{}@b", p.ds("fs"));
    ok(lzc::rename_snapshot(&snap(&a)?, &snap(&b)?))?;
    ensure!(!cli_exists(&a) && cli_exists(&b), "not renamed");
    ensure!(cli_guid(&b)? == guid, "guid changed");
    Ok(())
}

fn destroy_filesystem() -> TestResult {
    let p = TestPool::new("destroy", 128)?;
    mkfs(&[&p.ds("fs")])?;
    let fs = ds(&p.ds("fs"))?;
    ok(lzc::destroy(&fs))?;
    ensure!(!cli_exists(fs.as_str()), "still exists");
    ensure!(!ok(lzc::exists(&fs))?, "lzc_exists still true");
    Ok(())
}

fn destroy_missing() -> TestResult {
    let p = TestPool::new("destroymissing", 128)?;
    expect_err(lzc::destroy(&ds(&p.ds("none"))?), ErrorKind::NotFound)?;
    Ok(())
}

fn destroy_with_children() -> TestResult {
    let p = TestPool::new("destroychildren", 128)?;
    mkfs(&[&p.ds("fs/child")])?;
    expect_err(lzc::destroy(&ds(&p.ds("fs"))?), ErrorKind::HasChildren)?;
    ensure!(cli_exists(&p.ds("fs/child")), "child lost");
    Ok(())
}

fn destroy_with_snapshots() -> TestResult {
    let p = TestPool::new("destroysnaps", 128)?;
    mkfs(&[&p.ds("fs")])?;
    mksnap(&[&format!("{}@s", p.ds("fs"))])?;
    expect_err(lzc::destroy(&ds(&p.ds("fs"))?), ErrorKind::Busy)?;
    ensure!(cli_exists(&p.ds("fs")), "destroyed");
    Ok(())
}

fn exists_variants() -> TestResult {
    let p = TestPool::new("exists", 128)?;
    mkfs(&[&p.ds("fs")])?;
    let s = format!("{}@s", p.ds("fs"));
    mksnap(&[&s])?;
    ensure!(ok(lzc::exists(&pool_name(&p)?))?, "pool");
    ensure!(ok(lzc::exists(&ds(&p.ds("fs"))?))?, "filesystem");
    ensure!(ok(lzc::exists(&snap(&s)?))?, "snapshot");
    ensure!(
        !ok(lzc::exists(&snap(&format!("{}@t", p.ds("fs")))?))?,
        "missing snapshot"
    );
    ensure!(!ok(lzc::exists(&ds("nosuchpoolxyz/fs")?))?, "missing pool");
    Ok(())
}

fn rollback_restores_data() -> TestResult {
    let p = TestPool::new("rollback", 128)?;
    let fs = p.ds("fs");
    mkfs(&[&fs])?;
    let dir = mount_at_tmp(&fs)?;
    write_file(&dir, "keep", b"before")?;
    mksnap(&[&format!("{fs}@a")])?;
    write_file(&dir, "keep", b"after")?;
    write_file(&dir, "new", b"x")?;
    let target = ok(lzc::rollback(&ds(&fs)?))?;
    ensure!(
        target.as_str() == format!("{fs}@a"),
        "rolled back to {target}"
    );
    let content = std::fs::read(dir.join("keep")).map_err(fail)?;
    ensure!(
        content == b"before",
        "content {:?}",
        String::from_utf8_lossy(&content)
    );
    ensure!(
        !dir.join("new").exists(),
        "new file survived (filesystem stayed mounted?)"
    );
    Ok(())
}

fn rollback_without_snapshots() -> TestResult {
    let p = TestPool::new("rollbacknosnap", 128)?;
    mkfs(&[&p.ds("fs")])?;
    let e = expect_err(lzc::rollback(&ds(&p.ds("fs"))?), ErrorKind::NotFound)?;
    ensure!(e.errno() == Some(libc::ESRCH), "errno {:?}", e.errno());
    Ok(())
}

fn rollback_missing_filesystem() -> TestResult {
    let p = TestPool::new("rollbacknofs", 128)?;
    let e = expect_err(lzc::rollback(&ds(&p.ds("fs"))?), ErrorKind::NotFound)?;
    ensure!(e.errno() == Some(libc::ENOENT), "errno {:?}", e.errno());
    Ok(())
}

fn rollback_to_latest() -> TestResult {
    let p = TestPool::new("rollbackto", 128)?;
    let fs = p.ds("fs");
    mkfs(&[&fs])?;
    let dir = mount_at_tmp(&fs)?;
    mksnap(&[&format!("{fs}@a"), &format!("{fs}@b")])?;
    write_file(&dir, "f", b"x")?;
    ok(lzc::rollback_to(&ds(&fs)?, &snap(&format!("{fs}@b"))?))?;
    ensure!(!dir.join("f").exists(), "file survived rollback_to");
    ensure!(
        prop(&fs, "mounted")? == "yes",
        "rollback unmounted the filesystem"
    );
    Ok(())
}

fn rollback_to_not_latest() -> TestResult {
    let p = TestPool::new("rollbacktonl", 128)?;
    let fs = p.ds("fs");
    mkfs(&[&fs])?;
    mksnap(&[&format!("{fs}@a"), &format!("{fs}@b")])?;
    let e = expect_err(
        lzc::rollback_to(&ds(&fs)?, &snap(&format!("{fs}@a"))?),
        ErrorKind::NotLatest,
    )?;
    ensure!(e.errno() == Some(libc::EEXIST), "errno {:?}", e.errno());
    ensure!(cli_exists(&format!("{fs}@b")), "newer snapshot destroyed");
    Ok(())
}

fn rollback_to_with_newer_bookmark() -> TestResult {
    let p = TestPool::new("rollbacktobm", 128)?;
    let fs = p.ds("fs");
    mkfs(&[&fs])?;
    mksnap(&[&format!("{fs}@a"), &format!("{fs}@b")])?;
    zfs(&["bookmark", &format!("{fs}@b"), &format!("{fs}#b")])?;
    zfs(&["destroy", &format!("{fs}@b")])?;
    expect_err(
        lzc::rollback_to(&ds(&fs)?, &snap(&format!("{fs}@a"))?),
        ErrorKind::NotLatest,
    )?;
    Ok(())
}

fn rollback_to_foreign_snapshot() -> TestResult {
    let p = TestPool::new("rollbacktoforeign", 128)?;
    mkfs(&[&p.ds("a"), &p.ds("b")])?;
    mksnap(&[&format!("{}@s", p.ds("a")), &format!("{}@s", p.ds("b"))])?;
    let e = expect_err(
        lzc::rollback_to(&ds(&p.ds("a"))?, &snap(&format!("{}@s", p.ds("b")))?),
        ErrorKind::NotFound,
    )?;
    ensure!(e.errno() == Some(libc::ESRCH), "errno {:?}", e.errno());
    Ok(())
}

fn main() {
    run(vec![
        zfs_test("lzc_create::filesystem", create_filesystem),
        zfs_test("lzc_create::with_props", create_with_props),
        zfs_test("lzc_create::volume", create_volume),
        zfs_test("lzc_create::exists", create_exists),
        zfs_test("lzc_create::missing_parent", create_missing_parent),
        zfs_test("lzc_create::under_volume", create_under_volume),
        zfs_test("lzc_create::invalid_prop", create_invalid_prop),
        zfs_test("lzc_clone::has_origin", clone_has_origin),
        zfs_test("lzc_clone::missing_snapshot", clone_missing_snapshot),
        zfs_test("lzc_clone::across_pools", clone_across_pools),
        zfs_test("lzc_clone::exists", clone_exists),
        zfs_test("lzc_promote::swaps_origin", promote_swaps_origin),
        zfs_test("lzc_promote::not_clone", promote_not_clone),
        zfs_test("lzc_promote::missing", promote_missing),
        zfs_test("lzc_promote::name_conflict", promote_name_conflict),
        zfs_test("lzc_rename::filesystem", rename_filesystem),
        zfs_test("lzc_rename::exists", rename_exists),
        zfs_test("lzc_rename::missing", rename_missing),
        zfs_test("lzc_rename::across_pools", rename_across_pools),
        zfs_test("lzc_rename::snapshot", rename_snapshot),
        zfs_test("lzc_destroy::filesystem", destroy_filesystem),
        zfs_test("lzc_destroy::missing", destroy_missing),
        zfs_test("lzc_destroy::with_children", destroy_with_children),
        zfs_test("lzc_destroy::with_snapshots", destroy_with_snapshots),
        zfs_test("lzc_exists::variants", exists_variants),
        zfs_test("lzc_rollback::restores_data", rollback_restores_data),
        zfs_test(
            "lzc_rollback::without_snapshots",
            rollback_without_snapshots,
        ),
        zfs_test(
            "lzc_rollback::missing_filesystem",
            rollback_missing_filesystem,
        ),
        zfs_test("lzc_rollback_to::latest", rollback_to_latest),
        zfs_test("lzc_rollback_to::not_latest", rollback_to_not_latest),
        zfs_test(
            "lzc_rollback_to::newer_bookmark",
            rollback_to_with_newer_bookmark,
        ),
        zfs_test(
            "lzc_rollback_to::foreign_snapshot",
            rollback_to_foreign_snapshot,
        ),
    ])
}
