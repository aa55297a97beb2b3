//! Conformance: pool and vdev calls (sync, reopen, checkpoints, initialize, trim, wait,
//! boot environment), encryption keys, and concurrent mixed use from several threads.

mod lzc_common;

use flocker_core::error::{ErrorKind, ZfsErrCode};
use flocker_core::lzc::{
    self, DatasetType, FsWaitActivity, InitializeCommand, KeyCommand, PoolWaitActivity, TrimCommand,
};
use flocker_core::name::PoolName;
use flocker_core::nvlist::{NvList, Value};
use flocker_core::snapshot;
use flocker_tests::{TestPool, TestResult, ensure, fail, run, zfs_test};
use lzc_common::*;

fn sync_pool() -> TestResult {
    let p = TestPool::new("sync", 128)?;
    let pool = pool_name(&p)?;
    ok(lzc::sync(&pool, false))?;
    ok(lzc::sync(&pool, true))?;
    let missing = PoolName::new("nosuchpoolflocker").map_err(fail)?;
    expect_err(lzc::sync(&missing, false), ErrorKind::NotFound)?;
    Ok(())
}

fn reopen_pool() -> TestResult {
    let p = TestPool::new("reopen", 128)?;
    ok(lzc::reopen(&pool_name(&p)?, false))?;
    let health = zpool(&["list", "-H", "-o", "health", p.name()])?;
    ensure!(health.trim() == "ONLINE", "health {health}");
    let missing = PoolName::new("nosuchpoolflocker").map_err(fail)?;
    expect_err(lzc::reopen(&missing, false), ErrorKind::NotFound)?;
    Ok(())
}

fn checkpoint_lifecycle() -> TestResult {
    let p = TestPool::new("ckpt", 128)?;
    let pool = pool_name(&p)?;
    ok(lzc::pool_checkpoint(&pool))?;
    let size = zpool(&["get", "-Hp", "-o", "value", "checkpoint", p.name()])?;
    ensure!(
        size.trim() != "-" && size.trim() != "0",
        "no checkpoint per zpool: {size}"
    );
    let e = expect_err(
        lzc::pool_checkpoint(&pool),
        ErrorKind::Zfs(ZfsErrCode::CheckpointExists),
    )?;
    ensure!(e.errno() == Some(1024), "errno {:?}", e.errno());
    ok(lzc::pool_checkpoint_discard(&pool))?;
    ok(lzc::wait(&pool, PoolWaitActivity::CheckpointDiscard))?;
    let size = zpool(&["get", "-Hp", "-o", "value", "checkpoint", p.name()])?;
    ensure!(
        size.trim() == "-" || size.trim() == "0",
        "checkpoint still there: {size}"
    );
    expect_err(
        lzc::pool_checkpoint_discard(&pool),
        ErrorKind::Zfs(ZfsErrCode::NoCheckpoint),
    )?;
    Ok(())
}

fn initialize_and_wait() -> TestResult {
    let p = TestPool::new("init", 64)?;
    let pool = pool_name(&p)?;
    let guid = leaf_vdev_guid(&p)?;
    ok(lzc::initialize(&pool, InitializeCommand::Start, &[guid]))?;
    ok(lzc::wait_tag(&pool, PoolWaitActivity::Initialize, guid))?;
    let status = zpool(&["status", "-i", p.name()])?;
    ensure!(
        status.contains("initialized"),
        "zpool status does not show initialisation: {status}"
    );
    Ok(())
}

fn initialize_unknown_vdev() -> TestResult {
    let p = TestPool::new("initbad", 64)?;
    let e = expect_err(
        lzc::initialize(&pool_name(&p)?, InitializeCommand::Start, &[12_345]),
        ErrorKind::NotFound,
    )?;
    ensure!(
        e.items().len() == 1 && e.items()[0].name() == "12345",
        "items {:?}",
        e.items()
    );
    ensure!(
        e.items()[0].errno() == Some(libc::ENODEV),
        "item errno {:?}",
        e.items()[0].errno()
    );
    Ok(())
}

fn trim_file_vdev() -> TestResult {
    let p = TestPool::new("trim", 64)?;
    let pool = pool_name(&p)?;
    let guid = leaf_vdev_guid(&p)?;
    ok(lzc::trim(&pool, TrimCommand::Start, 0, false, &[guid]))?;
    ok(lzc::wait_tag(&pool, PoolWaitActivity::Trim, guid))?;
    let status = zpool(&["status", "-t", p.name()])?;
    ensure!(
        status.contains("trimmed"),
        "zpool status does not show a trim: {status}"
    );
    Ok(())
}

fn wait_when_idle() -> TestResult {
    let p = TestPool::new("waitidle", 128)?;
    mkfs(&[&p.ds("fs")])?;
    ensure!(
        !ok(lzc::wait(&pool_name(&p)?, PoolWaitActivity::Scrub))?,
        "waited for no scrub"
    );
    ensure!(
        !ok(lzc::wait_fs(&ds(&p.ds("fs"))?, FsWaitActivity::DeleteQueue))?,
        "waited for an empty delete queue"
    );
    expect_err(
        lzc::wait_fs(&ds(&p.ds("none"))?, FsWaitActivity::DeleteQueue),
        ErrorKind::NotFound,
    )?;
    Ok(())
}

fn wait_for_scrub() -> TestResult {
    let p = TestPool::new("waitscrub", 128)?;
    mkfs(&[&p.ds("fs")])?;
    let dir = mount_at_tmp(&p.ds("fs"))?;
    write_file(&dir, "data", &noise(4 << 20, 7))?;
    zpool(&["scrub", p.name()])?;
    ok(lzc::wait(&pool_name(&p)?, PoolWaitActivity::Scrub))?;
    let status = zpool(&["status", p.name()])?;
    ensure!(
        status.contains("scrub repaired"),
        "scrub not finished after wait: {status}"
    );
    Ok(())
}

fn bootenv_roundtrip() -> TestResult {
    let p = TestPool::new("bootenv", 128)?;
    let pool = pool_name(&p)?;
    let mut env = NvList::new().map_err(fail)?;
    env.add_u64("version", 1).map_err(fail)?;
    env.add_string("flocker:test", "hello").map_err(fail)?;
    ok(lzc::set_bootenv(&pool, &env))?;
    let got = ok(lzc::get_bootenv(&pool))?;
    let v = got.as_ref();
    ensure!(
        v.get_str("flocker:test").map_err(fail)? == "hello",
        "bootenv {v:?}"
    );
    ensure!(
        matches!(v.get("version"), Some(Value::U64(1))),
        "version {:?}",
        v.get("version")
    );
    Ok(())
}

fn encryption_keys() -> TestResult {
    let p = TestPool::new("keys", 128)?;
    let fs = ds(&p.ds("secret"))?;
    let key = [0x42u8; 32];
    let mut props = NvList::new().map_err(fail)?;
    props.add_u64("encryption", 8).map_err(fail)?; // aes-256-gcm
    props.add_u64("keyformat", 1).map_err(fail)?; // raw
    props.add_string("keylocation", "prompt").map_err(fail)?;
    ok(lzc::create(
        &fs,
        DatasetType::Filesystem,
        Some(&props),
        Some(&key),
    ))?;
    ensure!(
        prop(fs.as_str(), "encryption")? == "aes-256-gcm",
        "encryption"
    );
    ensure!(
        prop(fs.as_str(), "keystatus")? == "available",
        "key not loaded after create"
    );
    expect_err(lzc::load_key(&fs, false, &key), ErrorKind::KeyAlreadyLoaded)?;
    ok(lzc::unload_key(&fs))?;
    ensure!(
        prop(fs.as_str(), "keystatus")? == "unavailable",
        "key still loaded"
    );
    expect_err(lzc::unload_key(&fs), ErrorKind::KeyNotLoaded)?;
    expect_err(
        lzc::load_key(&fs, false, &[0x24u8; 32]),
        ErrorKind::KeyInvalid,
    )?;
    ok(lzc::load_key(&fs, true, &key))?; // a dry run checks without loading
    ensure!(
        prop(fs.as_str(), "keystatus")? == "unavailable",
        "noop load loaded the key"
    );
    ok(lzc::load_key(&fs, false, &key))?;
    let new_key = [0x17u8; 32];
    // Without a keyformat the kernel refuses a new key.
    expect_err(
        lzc::change_key(&fs, KeyCommand::NewKey, None, Some(&new_key)),
        ErrorKind::InvalidArgument,
    )?;
    let mut kprops = NvList::new().map_err(fail)?;
    kprops.add_u64("keyformat", 1).map_err(fail)?;
    kprops.add_string("keylocation", "prompt").map_err(fail)?;
    ok(lzc::change_key(
        &fs,
        KeyCommand::NewKey,
        Some(&kprops),
        Some(&new_key),
    ))?;
    ok(lzc::unload_key(&fs))?;
    expect_err(lzc::load_key(&fs, false, &key), ErrorKind::KeyInvalid)?;
    ok(lzc::load_key(&fs, false, &new_key))?;
    Ok(())
}

fn read_only_pool_refuses_changes() -> TestResult {
    let p = TestPool::new("roall", 128)?;
    mkfs(&[&p.ds("fs")])?;
    let s = format!("{}@s", p.ds("fs"));
    mksnap(&[&s])?;
    make_read_only(&p)?;
    expect_err(
        lzc::create(&ds(&p.ds("new"))?, DatasetType::Filesystem, None, None),
        ErrorKind::ReadOnly,
    )?;
    expect_err(lzc::destroy_snaps(&[snap(&s)?], false), ErrorKind::ReadOnly)?;
    expect_err(lzc::hold(&[(snap(&s)?, "t")], None), ErrorKind::ReadOnly)?;
    // lzc_exists still works; channel programs (hence Snapshot::get) are refused.
    ensure!(
        ok(lzc::exists(&snap(&s)?))?,
        "snapshot invisible on a read-only pool"
    );
    expect_err(
        flocker_core::snapshot::Snapshot::get(&snap(&s)?),
        ErrorKind::ReadOnly,
    )?;
    Ok(())
}

fn concurrent_mixed_use() -> TestResult {
    let p = TestPool::new("mixedthreads", 256)?;
    let names: Vec<String> = (0..4).map(|i| p.ds(&format!("m{i}"))).collect();
    mkfs(&names.iter().map(String::as_str).collect::<Vec<_>>())?;
    let handles: Vec<_> = names
        .iter()
        .cloned()
        .enumerate()
        .map(|(i, fs)| {
            std::thread::spawn(move || -> Result<(), String> {
                let d = flocker_core::name::DatasetName::new(&fs).map_err(|e| e.to_string())?;
                for round in 0..4 {
                    let created =
                        snapshot::snapshot(std::slice::from_ref(&d), &format!("r{round}"), &[])
                            .map_err(|e| e.to_string())?;
                    let s = &created[0];
                    lzc::hold(&[(s.clone(), "t")], None).map_err(|e| e.to_string())?;
                    let holds = lzc::get_holds(s).map_err(|e| e.to_string())?;
                    if holds.len() != 1 {
                        return Err(format!("thread {i}: holds {holds:?}"));
                    }
                    lzc::release(&[(s.clone(), &["t"][..])]).map_err(|e| e.to_string())?;
                    let info =
                        flocker_core::snapshot::Snapshot::get(s).map_err(|e| e.to_string())?;
                    if info.name() != s {
                        return Err("wrong snapshot info".into());
                    }
                    lzc::destroy_snaps(std::slice::from_ref(s), false)
                        .map_err(|e| e.to_string())?;
                }
                Ok(())
            })
        })
        .collect();
    for h in handles {
        h.join()
            .map_err(|_| fail("thread panicked"))?
            .map_err(fail)?;
    }
    let left = zfs(&["list", "-H", "-t", "snapshot", "-r", p.name()])?;
    ensure!(left.trim().is_empty(), "snapshots left: {left}");
    Ok(())
}

fn main() {
    run(vec![
        zfs_test("lzc_sync::pool", sync_pool),
        zfs_test("lzc_reopen::pool", reopen_pool),
        zfs_test("lzc_pool_checkpoint::lifecycle", checkpoint_lifecycle),
        zfs_test("lzc_initialize::and_wait", initialize_and_wait),
        zfs_test("lzc_initialize::unknown_vdev", initialize_unknown_vdev),
        zfs_test("lzc_trim::file_vdev", trim_file_vdev),
        zfs_test("lzc_wait::idle", wait_when_idle),
        zfs_test("lzc_wait::scrub", wait_for_scrub),
        zfs_test("lzc_bootenv::roundtrip", bootenv_roundtrip),
        zfs_test("lzc_keys::lifecycle", encryption_keys),
        zfs_test(
            "lzc::read_only_pool_refuses_changes",
            read_only_pool_refuses_changes,
        ),
        zfs_test("lzc::concurrent_mixed_use", concurrent_mixed_use),
    ])
}
