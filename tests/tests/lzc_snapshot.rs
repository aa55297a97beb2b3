//! Conformance: lzc_snapshot, lzc_destroy_snaps, lzc_snaprange_space and the `Snapshot`
//! domain type (pyzfs checklist: snapshot, empty list, user props, read-only pool, multiple
//! errors, different pools, too long / invalid names, destroy cloned / deferred / mounted).

mod lzc_common;

use flocker_core::error::ErrorKind;
use flocker_core::lzc;
use flocker_core::nvlist::NvList;
use flocker_core::snapshot::{self, Snapshot};
use flocker_tests::{TestPool, TestResult, ensure, fail, run, zfs_test};
use lzc_common::*;

fn snapshot_single() -> TestResult {
    let p = TestPool::new("snap1", 128)?;
    mkfs(&[&p.ds("fs")])?;
    let s = snap(&format!("{}@a", p.ds("fs")))?;
    ok(lzc::snapshot(std::slice::from_ref(&s), None))?;
    ensure!(cli_exists(s.as_str()), "zfs does not see {s}");
    Ok(())
}

fn snapshot_empty_list() -> TestResult {
    let p = TestPool::new("snapempty", 128)?;
    ok(lzc::snapshot(&[], None))?;
    let out = zfs(&["list", "-H", "-t", "snapshot", "-r", p.name()])?;
    ensure!(out.trim().is_empty(), "snapshots appeared: {out}");
    Ok(())
}

fn snapshot_batch_is_one_txg() -> TestResult {
    let p = TestPool::new("snapbatch", 128)?;
    let names = [p.ds("a"), p.ds("b"), p.ds("b/c")];
    mkfs(&names.iter().map(String::as_str).collect::<Vec<_>>())?;
    let datasets = names.iter().map(|n| ds(n)).collect::<Result<Vec<_>, _>>()?;
    let created = ok(snapshot::snapshot(&datasets, "batch", &[]))?;
    ensure!(created.len() == 3, "created {created:?}");
    let infos = ok(Snapshot::get_many(&created))?;
    let txg = infos[0].createtxg();
    for (info, name) in infos.iter().zip(&created) {
        ensure!(
            info.name() == name,
            "order changed: {} vs {name}",
            info.name()
        );
        ensure!(
            info.createtxg() == txg,
            "{} in txg {} not {txg}",
            name,
            info.createtxg()
        );
        let cli_txg: u64 = prop(name.as_str(), "createtxg")?.parse().map_err(fail)?;
        ensure!(cli_txg == txg, "CLI says txg {cli_txg} for {name}");
    }
    Ok(())
}

fn snapshot_user_props() -> TestResult {
    let p = TestPool::new("snapprops", 128)?;
    mkfs(&[&p.ds("fs")])?;
    let created = ok(snapshot::snapshot(
        &[ds(&p.ds("fs"))?],
        "props",
        &[("user:reason", "upgrade"), ("com.example:n", "42")],
    ))?;
    let s = created[0].as_str();
    ensure!(prop(s, "user:reason")? == "upgrade", "user:reason");
    ensure!(prop(s, "com.example:n")? == "42", "com.example:n");
    Ok(())
}

fn snapshot_system_prop_rejected_by_kernel() -> TestResult {
    let p = TestPool::new("snapsysprop", 128)?;
    mkfs(&[&p.ds("fs")])?;
    let s = snap(&format!("{}@x", p.ds("fs")))?;
    let mut props = NvList::new().map_err(fail)?;
    props.add_string("compression", "on").map_err(fail)?;
    expect_err(
        lzc::snapshot(std::slice::from_ref(&s), Some(&props)),
        ErrorKind::PropertyInvalid,
    )?;
    ensure!(!cli_exists(s.as_str()), "snapshot was created");
    Ok(())
}

fn snapshot_exists_is_item_error() -> TestResult {
    let p = TestPool::new("snapexists", 128)?;
    mkfs(&[&p.ds("fs")])?;
    let s = snap(&format!("{}@a", p.ds("fs")))?;
    ok(lzc::snapshot(std::slice::from_ref(&s), None))?;
    let e = expect_err(
        lzc::snapshot(std::slice::from_ref(&s), None),
        ErrorKind::Exists,
    )?;
    ensure!(e.items().len() == 1, "items {:?}", e.items());
    ensure!(e.items()[0].name() == s.as_str(), "item {:?}", e.items()[0]);
    ensure!(e.items()[0].kind() == ErrorKind::Exists, "item kind");
    ensure!(e.errno() == Some(libc::EEXIST), "errno {:?}", e.errno());
    ensure!(
        e.operation() == "lzc_snapshot",
        "operation {}",
        e.operation()
    );
    Ok(())
}

fn snapshot_missing_filesystem() -> TestResult {
    let p = TestPool::new("snapmissing", 128)?;
    let s = snap(&format!("{}@a", p.ds("nope")))?;
    let e = expect_err(
        lzc::snapshot(std::slice::from_ref(&s), None),
        ErrorKind::NotFound,
    )?;
    ensure!(
        e.items()
            .iter()
            .any(|i| i.name() == s.as_str() && i.kind() == ErrorKind::NotFound),
        "{e}"
    );
    Ok(())
}

fn snapshot_multiple_errors_items() -> TestResult {
    let p = TestPool::new("snapmulti2", 128)?;
    mkfs(&[&p.ds("a"), &p.ds("b")])?;
    mksnap(&[&format!("{}@s", p.ds("a"))])?;
    let snaps = [
        snap(&format!("{}@s", p.ds("a")))?,
        snap(&format!("{}@s", p.ds("missing")))?,
        snap(&format!("{}@s", p.ds("b")))?,
    ];
    let e = match lzc::snapshot(&snaps, None) {
        Ok(()) => return Err(fail("batch with two bad snapshots succeeded")),
        Err(e) => e,
    };
    ensure!(
        matches!(e.kind(), ErrorKind::Exists | ErrorKind::NotFound),
        "overall kind {:?}",
        e.kind()
    );
    // As in pyzfs: the kernel may report only the missing filesystem (it checks holds
    // first), but every reported item must be one of the two failures.
    ensure!(!e.items().is_empty(), "no item errors: {e}");
    for i in e.items() {
        let fine = (i.name() == snaps[0].as_str() && i.kind() == ErrorKind::Exists)
            || (i.name() == snaps[1].as_str() && i.kind() == ErrorKind::NotFound);
        ensure!(fine, "unexpected item {i}");
    }
    ensure!(
        !cli_exists(snaps[2].as_str()),
        "the good snapshot was created: not atomic"
    );
    Ok(())
}

fn snapshot_two_existing_both_reported() -> TestResult {
    let p = TestPool::new("snapmulti3", 128)?;
    mkfs(&[&p.ds("a"), &p.ds("b"), &p.ds("c")])?;
    mksnap(&[&format!("{}@s", p.ds("a")), &format!("{}@s", p.ds("b"))])?;
    let snaps = [
        snap(&format!("{}@s", p.ds("a")))?,
        snap(&format!("{}@s", p.ds("b")))?,
        snap(&format!("{}@s", p.ds("c")))?,
    ];
    let e = expect_err(lzc::snapshot(&snaps, None), ErrorKind::Exists)?;
    let mut names: Vec<&str> = e.items().iter().map(|i| i.name()).collect();
    names.sort();
    ensure!(
        names == [snaps[0].as_str(), snaps[1].as_str()],
        "items {:?}",
        e.items()
    );
    ensure!(
        e.items()
            .iter()
            .all(|i| i.kind() == ErrorKind::Exists && i.errno() == Some(libc::EEXIST)),
        "{e}"
    );
    ensure!(e.suppressed() == 0, "suppressed {}", e.suppressed());
    ensure!(
        !cli_exists(snaps[2].as_str()),
        "the good snapshot was created: not atomic"
    );
    Ok(())
}

fn snapshot_two_of_one_filesystem() -> TestResult {
    let p = TestPool::new("snapdup", 128)?;
    mkfs(&[&p.ds("fs")])?;
    let snaps = [
        snap(&format!("{}@a", p.ds("fs")))?,
        snap(&format!("{}@b", p.ds("fs")))?,
    ];
    let e = expect_err(lzc::snapshot(&snaps, None), ErrorKind::DuplicateFilesystem)?;
    ensure!(e.errno() == Some(libc::EXDEV), "errno {:?}", e.errno());
    ensure!(
        !cli_exists(snaps[0].as_str()) && !cli_exists(snaps[1].as_str()),
        "created"
    );
    Ok(())
}

fn snapshot_different_pools() -> TestResult {
    let p1 = TestPool::new("snapxa", 128)?;
    let p2 = TestPool::new("snapxb", 128)?;
    mkfs(&[&p1.ds("fs"), &p2.ds("fs")])?;
    let snaps = [
        snap(&format!("{}@a", p1.ds("fs")))?,
        snap(&format!("{}@a", p2.ds("fs")))?,
    ];
    let e = expect_err(lzc::snapshot(&snaps, None), ErrorKind::CrossPool)?;
    ensure!(
        e.items().iter().all(|i| i.kind() == ErrorKind::CrossPool),
        "{e}"
    );
    ensure!(
        !cli_exists(snaps[0].as_str()),
        "snapshot in the first pool was created"
    );
    // The domain API refuses before any ioctl.
    let e = expect_err(
        snapshot::snapshot(&[ds(&p1.ds("fs"))?, ds(&p2.ds("fs"))?], "b", &[]),
        ErrorKind::CrossPool,
    )?;
    ensure!(
        e.errno().is_none(),
        "domain check should not reach the kernel: {e}"
    );
    Ok(())
}

fn snapshot_read_only_pool() -> TestResult {
    let p = TestPool::new("snapro", 128)?;
    mkfs(&[&p.ds("fs")])?;
    make_read_only(&p)?;
    let s = snap(&format!("{}@a", p.ds("fs")))?;
    expect_err(
        lzc::snapshot(std::slice::from_ref(&s), None),
        ErrorKind::ReadOnly,
    )?;
    ensure!(!cli_exists(s.as_str()), "created on a read-only pool");
    Ok(())
}

fn snapshot_too_long_name() -> TestResult {
    let p = TestPool::new("snaplong", 128)?;
    // A filesystem whose name leaves room for only a short snapshot name.
    let room = 255 - p.name().len() - 1;
    let fs = p.ds(&"f".repeat(room - 5));
    mkfs(&[&fs])?;
    ok(snapshot::snapshot(&[ds(&fs)?], "abcd", &[]))?;
    let e = expect_err(
        snapshot::snapshot(&[ds(&fs)?], "abcdef", &[]),
        ErrorKind::NameTooLong,
    )?;
    ensure!(
        e.errno().is_none(),
        "should be refused before the ioctl: {e}"
    );
    let n = zfs(&["list", "-H", "-t", "snapshot", "-o", "name", "-r", &fs])?;
    ensure!(n.lines().count() == 1, "snapshots: {n}");
    Ok(())
}

fn snapshot_invalid_name() -> TestResult {
    let p = TestPool::new("snapinval", 128)?;
    mkfs(&[&p.ds("fs")])?;
    for bad in ["a@b", "", "a/b", "a#b", "a\u{e9}"] {
        expect_err(
            snapshot::snapshot(&[ds(&p.ds("fs"))?], bad, &[]),
            ErrorKind::InvalidName,
        )?;
    }
    let n = zfs(&["list", "-H", "-t", "snapshot", "-r", p.name()])?;
    ensure!(n.trim().is_empty(), "snapshots appeared: {n}");
    Ok(())
}

fn snapshot_info_matches_cli() -> TestResult {
    let p = TestPool::new("snapinfo", 128)?;
    mkfs(&[&p.ds("fs")])?;
    let name = format!("{}@i", p.ds("fs"));
    mksnap(&[&name])?;
    let s = ok(Snapshot::get(&snap(&name)?))?;
    ensure!(s.guid() == cli_guid(&name)?, "guid {} vs CLI", s.guid());
    let txg: u64 = prop(&name, "createtxg")?.parse().map_err(fail)?;
    ensure!(s.createtxg() == txg, "createtxg {} vs {txg}", s.createtxg());
    let creation: i64 = prop(&name, "creation")?.parse().map_err(fail)?;
    ensure!(
        s.creation().unix_timestamp() == creation,
        "creation {} vs {creation}",
        s.creation()
    );
    Ok(())
}

fn snapshot_list_is_ordered() -> TestResult {
    let p = TestPool::new("snaplist", 128)?;
    let fs = p.ds("fs");
    mkfs(&[&fs, &p.ds("fs/child")])?;
    for s in ["c", "a", "b"] {
        mksnap(&[&format!("{fs}@{s}")])?;
    }
    mksnap(&[&format!("{}@other", p.ds("fs/child"))])?;
    let list = ok(Snapshot::list(&ds(&fs)?))?;
    let names: Vec<String> = list.iter().map(|s| s.name().to_string()).collect();
    let cli = zfs(&[
        "list",
        "-H",
        "-o",
        "name",
        "-t",
        "snapshot",
        "-s",
        "createtxg",
        "-d",
        "1",
        &fs,
    ])?;
    let cli: Vec<String> = cli.lines().map(str::to_string).collect();
    ensure!(names == cli, "list {names:?} vs CLI {cli:?}");
    ensure!(
        list.windows(2).all(|w| w[0].createtxg() < w[1].createtxg()),
        "not increasing"
    );
    Ok(())
}

fn snapshot_get_missing() -> TestResult {
    let p = TestPool::new("snapgetmiss", 128)?;
    mkfs(&[&p.ds("fs")])?;
    let e = expect_err(
        Snapshot::get(&snap(&format!("{}@none", p.ds("fs")))?),
        ErrorKind::NotFound,
    )?;
    ensure!(e.name().is_some_and(|n| n.ends_with("@none")), "{e}");
    expect_err(Snapshot::list(&ds(&p.ds("nofs"))?), ErrorKind::NotFound)?;
    Ok(())
}

fn destroy_snaps_batch() -> TestResult {
    let p = TestPool::new("dsbatch", 128)?;
    mkfs(&[&p.ds("a"), &p.ds("b")])?;
    let names = [
        format!("{}@1", p.ds("a")),
        format!("{}@1", p.ds("b")),
        format!("{}@2", p.ds("a")),
    ];
    mksnap(&names.iter().map(String::as_str).collect::<Vec<_>>())?;
    let snaps = names
        .iter()
        .map(|n| snap(n))
        .collect::<Result<Vec<_>, _>>()?;
    ok(lzc::destroy_snaps(&snaps, false))?;
    for n in &names {
        ensure!(!cli_exists(n), "{n} still exists");
    }
    Ok(())
}

fn destroy_snaps_missing_is_ignored() -> TestResult {
    let p = TestPool::new("dsmissing", 128)?;
    mkfs(&[&p.ds("a")])?;
    mksnap(&[&format!("{}@real", p.ds("a"))])?;
    let snaps = [
        snap(&format!("{}@ghost", p.ds("a")))?,
        snap(&format!("{}@real", p.ds("a")))?,
    ];
    ok(lzc::destroy_snaps(&snaps, false))?;
    ensure!(
        !cli_exists(snaps[1].as_str()),
        "real snapshot not destroyed"
    );
    Ok(())
}

fn destroy_snaps_cloned_fails() -> TestResult {
    let p = TestPool::new("dscloned", 128)?;
    mkfs(&[&p.ds("a"), &p.ds("b")])?;
    let origin = format!("{}@origin", p.ds("a"));
    let other = format!("{}@snap", p.ds("b"));
    mksnap(&[&origin, &other])?;
    zfs(&["clone", &origin, &p.ds("clone")])?;
    let snaps = [snap(&origin)?, snap(&other)?];
    let e = expect_err(lzc::destroy_snaps(&snaps, false), ErrorKind::HasClones)?;
    ensure!(e.items().len() == 1, "items {:?}", e.items());
    ensure!(
        e.items()[0].name() == origin && e.items()[0].kind() == ErrorKind::HasClones,
        "{e}"
    );
    ensure!(
        cli_exists(&origin) && cli_exists(&other),
        "something was destroyed"
    );
    Ok(())
}

fn destroy_snaps_deferred_cloned() -> TestResult {
    let p = TestPool::new("dsdefer", 128)?;
    mkfs(&[&p.ds("a"), &p.ds("b")])?;
    let origin = format!("{}@origin", p.ds("a"));
    let other = format!("{}@snap", p.ds("b"));
    mksnap(&[&origin, &other])?;
    zfs(&["clone", &origin, &p.ds("clone")])?;
    ok(lzc::destroy_snaps(&[snap(&origin)?, snap(&other)?], true))?;
    ensure!(
        cli_exists(&origin),
        "cloned snapshot destroyed despite defer"
    );
    ensure!(
        prop(&origin, "defer_destroy")? == "on",
        "defer_destroy not set"
    );
    ensure!(!cli_exists(&other), "uncloned snapshot not destroyed");
    // Destroying the clone lets the deferred destroy happen.
    ok(lzc::destroy(&ds(&p.ds("clone"))?))?;
    ensure!(
        !cli_exists(&origin),
        "deferred snapshot survived its last clone"
    );
    Ok(())
}

fn destroy_snaps_held_fails() -> TestResult {
    let p = TestPool::new("dsheld", 128)?;
    mkfs(&[&p.ds("a")])?;
    let s = format!("{}@held", p.ds("a"));
    mksnap(&[&s])?;
    zfs(&["hold", "keep", &s])?;
    let e = expect_err(lzc::destroy_snaps(&[snap(&s)?], false), ErrorKind::Held)?;
    ensure!(
        e.items()
            .iter()
            .any(|i| i.name() == s && i.kind() == ErrorKind::Held),
        "{e}"
    );
    ensure!(cli_exists(&s), "held snapshot destroyed");
    Ok(())
}

fn destroy_mounted_snapshot() -> TestResult {
    let p = TestPool::new("dsmounted", 128)?;
    mkfs(&[&p.ds("fs")])?;
    let dir = mount_at_tmp(&p.ds("fs"))?;
    let s = format!("{}@m", p.ds("fs"));
    mksnap(&[&s])?;
    // Entering .zfs/snapshot/m mounts the snapshot.
    let entries = std::fs::read_dir(dir.join(".zfs/snapshot/m"))
        .map_err(fail)?
        .count();
    let _ = entries;
    ok(lzc::destroy_snaps(&[snap(&s)?], false))?;
    ensure!(!cli_exists(&s), "mounted snapshot not destroyed");
    Ok(())
}

fn destroy_snaps_cross_pool() -> TestResult {
    let p1 = TestPool::new("dsxa", 128)?;
    let p2 = TestPool::new("dsxb", 128)?;
    let a = format!("{}@s", p1.ds("fs"));
    let b = format!("{}@s", p2.ds("fs"));
    mkfs(&[&p1.ds("fs"), &p2.ds("fs")])?;
    mksnap(&[&a, &b])?;
    expect_err(
        lzc::destroy_snaps(&[snap(&a)?, snap(&b)?], false),
        ErrorKind::CrossPool,
    )?;
    ensure!(cli_exists(&a) && cli_exists(&b), "destroyed across pools");
    Ok(())
}

fn snaprange_space_matches_cli() -> TestResult {
    let p = TestPool::new("srspace", 128)?;
    let fs = p.ds("fs");
    mkfs(&[&fs])?;
    let dir = mount_at_tmp(&fs)?;
    write_file(&dir, "one", &noise(1 << 20, 1))?;
    mksnap(&[&format!("{fs}@a")])?;
    std::fs::remove_file(dir.join("one")).map_err(fail)?;
    write_file(&dir, "two", &noise(1 << 20, 2))?;
    mksnap(&[&format!("{fs}@b")])?;
    std::fs::remove_file(dir.join("two")).map_err(fail)?;
    mksnap(&[&format!("{fs}@c")])?;
    let used = ok(lzc::snaprange_space(
        &snap(&format!("{fs}@a"))?,
        &snap(&format!("{fs}@b"))?,
    ))?;
    let cli = zfs(&["destroy", "-nvp", &format!("{fs}@a%b")])?;
    let reclaim: u64 = cli
        .lines()
        .find_map(|l| {
            l.strip_prefix("reclaim\t")
                .and_then(|v| v.trim().parse().ok())
        })
        .ok_or_else(|| fail(format!("no reclaim line in {cli:?}")))?;
    ensure!(
        used == reclaim,
        "snaprange_space {used} vs CLI reclaim {reclaim}"
    );
    ensure!(used >= 2 << 20, "expected at least 2 MiB, got {used}");
    Ok(())
}

fn snaprange_space_unrelated() -> TestResult {
    let p = TestPool::new("srunrel", 128)?;
    mkfs(&[&p.ds("a"), &p.ds("b")])?;
    let a = format!("{}@s", p.ds("a"));
    let b = format!("{}@s", p.ds("b"));
    mksnap(&[&a, &b])?;
    expect_err(
        lzc::snaprange_space(&snap(&a)?, &snap(&b)?),
        ErrorKind::Mismatch,
    )?;
    Ok(())
}

fn snapshot_from_many_threads() -> TestResult {
    let p = TestPool::new("snapthreads", 256)?;
    let fss: Vec<String> = (0..6).map(|i| p.ds(&format!("t{i}"))).collect();
    mkfs(&fss.iter().map(String::as_str).collect::<Vec<_>>())?;
    let handles: Vec<_> = fss
        .iter()
        .cloned()
        .map(|fs| {
            std::thread::spawn(move || -> Result<(), String> {
                let d = flocker_core::name::DatasetName::new(&fs).map_err(|e| e.to_string())?;
                for i in 0..5 {
                    snapshot::snapshot(std::slice::from_ref(&d), &format!("s{i}"), &[])
                        .map_err(|e| e.to_string())?;
                    let s = d.snapshot(&format!("s{i}")).map_err(|e| e.to_string())?;
                    if !lzc::exists(&s).map_err(|e| e.to_string())? {
                        return Err(format!("{s} missing right after creation"));
                    }
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
    let n = zfs(&["list", "-H", "-t", "snapshot", "-r", p.name()])?
        .lines()
        .count();
    ensure!(n == 30, "{n} snapshots, want 30");
    Ok(())
}

fn main() {
    run(vec![
        zfs_test("lzc_snapshot::single", snapshot_single),
        zfs_test("lzc_snapshot::empty_list", snapshot_empty_list),
        zfs_test("lzc_snapshot::batch_is_one_txg", snapshot_batch_is_one_txg),
        zfs_test("lzc_snapshot::user_props", snapshot_user_props),
        zfs_test(
            "lzc_snapshot::system_prop_rejected",
            snapshot_system_prop_rejected_by_kernel,
        ),
        zfs_test(
            "lzc_snapshot::exists_is_item_error",
            snapshot_exists_is_item_error,
        ),
        zfs_test(
            "lzc_snapshot::missing_filesystem",
            snapshot_missing_filesystem,
        ),
        zfs_test(
            "lzc_snapshot::multiple_errors_items",
            snapshot_multiple_errors_items,
        ),
        zfs_test(
            "lzc_snapshot::two_existing_both_reported",
            snapshot_two_existing_both_reported,
        ),
        zfs_test(
            "lzc_snapshot::two_of_one_filesystem",
            snapshot_two_of_one_filesystem,
        ),
        zfs_test("lzc_snapshot::different_pools", snapshot_different_pools),
        zfs_test("lzc_snapshot::read_only_pool", snapshot_read_only_pool),
        zfs_test("lzc_snapshot::too_long_name", snapshot_too_long_name),
        zfs_test("lzc_snapshot::invalid_name", snapshot_invalid_name),
        zfs_test("lzc_snapshot::info_matches_cli", snapshot_info_matches_cli),
        zfs_test("lzc_snapshot::list_is_ordered", snapshot_list_is_ordered),
        zfs_test("lzc_snapshot::get_missing", snapshot_get_missing),
        zfs_test("lzc_snapshot::many_threads", snapshot_from_many_threads),
        zfs_test("lzc_destroy_snaps::batch", destroy_snaps_batch),
        zfs_test(
            "lzc_destroy_snaps::missing_ignored",
            destroy_snaps_missing_is_ignored,
        ),
        zfs_test(
            "lzc_destroy_snaps::cloned_fails",
            destroy_snaps_cloned_fails,
        ),
        zfs_test(
            "lzc_destroy_snaps::deferred_cloned",
            destroy_snaps_deferred_cloned,
        ),
        zfs_test("lzc_destroy_snaps::held_fails", destroy_snaps_held_fails),
        zfs_test(
            "lzc_destroy_snaps::mounted_snapshot",
            destroy_mounted_snapshot,
        ),
        zfs_test("lzc_destroy_snaps::cross_pool", destroy_snaps_cross_pool),
        zfs_test(
            "lzc_snaprange_space::matches_cli",
            snaprange_space_matches_cli,
        ),
        zfs_test("lzc_snaprange_space::unrelated", snaprange_space_unrelated),
    ])
}
