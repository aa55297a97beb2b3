//! Conformance: lzc_hold, lzc_release, lzc_get_holds and bookmarks (pyzfs checklist: hold
//! with cleanup fd, hold many with one missing, hold too long tag, hold across pools, holds
//! gone after fd cleanup, release then destroy; bookmarks cross pool, missing snapshots,
//! destroy bookmarks).

mod lzc_common;

use std::os::fd::AsFd;

use flocker_core::error::ErrorKind;
use flocker_core::lzc::{self, PointInTime};
use flocker_core::snapshot::Snapshot;
use flocker_tests::{TestPool, TestResult, ensure, fail, run, zfs_test};
use lzc_common::*;

fn cli_holds(s: &str) -> Result<Vec<String>, flocker_tests::Failed> {
    let out = zfs(&["holds", "-H", s])?;
    let mut tags: Vec<String> = out
        .lines()
        .filter_map(|l| l.split('\t').nth(1))
        .map(str::to_string)
        .collect();
    tags.sort();
    Ok(tags)
}

fn hold_and_get_holds() -> TestResult {
    let p = TestPool::new("hold", 128)?;
    mkfs(&[&p.ds("fs")])?;
    let s = format!("{}@s", p.ds("fs"));
    mksnap(&[&s])?;
    let missing = ok(lzc::hold(&[(snap(&s)?, "alpha")], None))?;
    ensure!(missing.is_empty(), "missing {missing:?}");
    ok(lzc::hold(&[(snap(&s)?, "beta")], None))?;
    let holds = ok(lzc::get_holds(&snap(&s)?))?;
    let tags: Vec<&String> = holds.keys().collect();
    ensure!(tags == ["alpha", "beta"], "tags {tags:?}");
    ensure!(cli_holds(&s)? == ["alpha", "beta"], "CLI disagrees");
    let now = time::OffsetDateTime::now_utc();
    for t in holds.values() {
        ensure!(
            (now - *t).whole_seconds().abs() < 3600,
            "hold time {t} far from now {now}"
        );
    }
    Ok(())
}

fn hold_many_one_missing() -> TestResult {
    let p = TestPool::new("holdmissing", 128)?;
    mkfs(&[&p.ds("a"), &p.ds("b")])?;
    let a = format!("{}@s", p.ds("a"));
    let b = format!("{}@s", p.ds("b"));
    let ghost = format!("{}@ghost", p.ds("a"));
    mksnap(&[&a, &b])?;
    let skipped = ok(lzc::hold(
        &[(snap(&a)?, "t"), (snap(&ghost)?, "t"), (snap(&b)?, "t")],
        None,
    ))?;
    ensure!(skipped.len() == 1, "skipped {skipped:?}");
    ensure!(
        skipped[0].name() == ghost && skipped[0].kind() == ErrorKind::NotFound,
        "{:?}",
        skipped[0]
    );
    ensure!(
        cli_holds(&a)? == ["t"] && cli_holds(&b)? == ["t"],
        "holds not placed"
    );
    Ok(())
}

fn hold_too_long_tag() -> TestResult {
    let p = TestPool::new("holdlongtag", 128)?;
    mkfs(&[&p.ds("fs")])?;
    let s = format!("{}@s", p.ds("fs"));
    mksnap(&[&s])?;
    let tag = "t".repeat(300);
    expect_err(
        lzc::hold(&[(snap(&s)?, tag.as_str())], None),
        ErrorKind::NameTooLong,
    )?;
    ensure!(cli_holds(&s)?.is_empty(), "hold placed");
    Ok(())
}

fn hold_empty_or_nul_tag() -> TestResult {
    let p = TestPool::new("holdemptytag", 128)?;
    mkfs(&[&p.ds("fs")])?;
    let s = format!("{}@s", p.ds("fs"));
    mksnap(&[&s])?;
    expect_err(
        lzc::hold(&[(snap(&s)?, "")], None),
        ErrorKind::InvalidArgument,
    )?;
    let e = expect_err(
        lzc::hold(&[(snap(&s)?, "a\0b")], None),
        ErrorKind::InvalidArgument,
    )?;
    ensure!(e.errno().is_none(), "NUL tag reached the kernel: {e}");
    Ok(())
}

fn hold_across_pools() -> TestResult {
    let p1 = TestPool::new("holdxa", 128)?;
    let p2 = TestPool::new("holdxb", 128)?;
    mkfs(&[&p1.ds("fs"), &p2.ds("fs")])?;
    let a = format!("{}@s", p1.ds("fs"));
    let b = format!("{}@s", p2.ds("fs"));
    mksnap(&[&a, &b])?;
    expect_err(
        lzc::hold(&[(snap(&a)?, "t"), (snap(&b)?, "t")], None),
        ErrorKind::CrossPool,
    )?;
    ensure!(cli_holds(&a)?.is_empty(), "hold placed in the first pool");
    Ok(())
}

fn hold_twice_exists() -> TestResult {
    let p = TestPool::new("holdtwice", 128)?;
    mkfs(&[&p.ds("fs")])?;
    let s = format!("{}@s", p.ds("fs"));
    mksnap(&[&s])?;
    ok(lzc::hold(&[(snap(&s)?, "t")], None))?;
    let e = expect_err(lzc::hold(&[(snap(&s)?, "t")], None), ErrorKind::Exists)?;
    ensure!(e.items().iter().any(|i| i.name() == s), "{e}");
    Ok(())
}

fn hold_with_cleanup_fd() -> TestResult {
    let p = TestPool::new("holdfd", 128)?;
    mkfs(&[&p.ds("fs")])?;
    let s = format!("{}@s", p.ds("fs"));
    mksnap(&[&s])?;
    let fd = ok(lzc::open_cleanup_fd())?;
    ok(lzc::hold(&[(snap(&s)?, "temp")], Some(fd.as_fd())))?;
    ensure!(
        cli_holds(&s)? == ["temp"],
        "temporary hold missing while fd open"
    );
    expect_err(lzc::destroy_snaps(&[snap(&s)?], false), ErrorKind::Held)?;
    drop(fd);
    // The kernel releases cleanup-fd holds when the descriptor's last reference goes away: a
    // program another test thread is starting holds a copy from its fork to its exec. The
    // bound is generous (software emulation, four tests at once).
    let bound = std::time::Duration::from_secs(120);
    let closed = std::time::Instant::now();
    while !cli_holds(&s)?.is_empty() {
        ensure!(
            closed.elapsed() < bound,
            "hung: holds still there {bound:?} after closing the cleanup fd"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    ok(lzc::destroy_snaps(&[snap(&s)?], false))?;
    Ok(())
}

fn hold_bad_cleanup_fd() -> TestResult {
    let p = TestPool::new("holdbadfd", 128)?;
    mkfs(&[&p.ds("fs")])?;
    let s = format!("{}@s", p.ds("fs"));
    mksnap(&[&s])?;
    let (r, _w) = std::io::pipe().map_err(fail)?;
    expect_err(
        lzc::hold(&[(snap(&s)?, "t")], Some(r.as_fd())),
        ErrorKind::BadFileDescriptor,
    )?;
    ensure!(cli_holds(&s)?.is_empty(), "hold placed");
    Ok(())
}

fn release_then_destroy() -> TestResult {
    let p = TestPool::new("release", 128)?;
    mkfs(&[&p.ds("fs")])?;
    let s = format!("{}@s", p.ds("fs"));
    mksnap(&[&s])?;
    ok(lzc::hold(&[(snap(&s)?, "a")], None))?;
    expect_err(lzc::destroy_snaps(&[snap(&s)?], false), ErrorKind::Held)?;
    let not_found = ok(lzc::release(&[(snap(&s)?, &["a"][..])]))?;
    ensure!(not_found.is_empty(), "{not_found:?}");
    ok(lzc::destroy_snaps(&[snap(&s)?], false))?;
    ensure!(!cli_exists(&s), "not destroyed");
    Ok(())
}

fn release_destroys_deferred() -> TestResult {
    let p = TestPool::new("releasedefer", 128)?;
    mkfs(&[&p.ds("fs")])?;
    let s = format!("{}@s", p.ds("fs"));
    mksnap(&[&s])?;
    ok(lzc::hold(&[(snap(&s)?, "a")], None))?;
    ok(lzc::destroy_snaps(&[snap(&s)?], true))?;
    ensure!(
        cli_exists(&s) && prop(&s, "defer_destroy")? == "on",
        "not deferred"
    );
    ok(lzc::release(&[(snap(&s)?, &["a"][..])]))?;
    ensure!(!cli_exists(&s), "deferred snapshot survived its last hold");
    Ok(())
}

fn release_missing_hold() -> TestResult {
    let p = TestPool::new("releasemissing", 128)?;
    mkfs(&[&p.ds("fs")])?;
    let s = format!("{}@s", p.ds("fs"));
    mksnap(&[&s])?;
    ok(lzc::hold(&[(snap(&s)?, "a")], None))?;
    let not_found = ok(lzc::release(&[(snap(&s)?, &["a", "zz"][..])]))?;
    ensure!(not_found.len() == 1, "{not_found:?}");
    ensure!(
        not_found[0].name() == format!("{s}#zz") && not_found[0].kind() == ErrorKind::NotFound,
        "{:?}",
        not_found[0]
    );
    ensure!(cli_holds(&s)?.is_empty(), "existing hold not released");
    Ok(())
}

fn get_holds_missing_snapshot() -> TestResult {
    let p = TestPool::new("getholdsmissing", 128)?;
    mkfs(&[&p.ds("fs")])?;
    expect_err(
        lzc::get_holds(&snap(&format!("{}@none", p.ds("fs")))?),
        ErrorKind::NotFound,
    )?;
    Ok(())
}

fn bookmark_create_and_list() -> TestResult {
    let p = TestPool::new("bookmark", 128)?;
    let fs = p.ds("fs");
    mkfs(&[&fs])?;
    mksnap(&[&format!("{fs}@a"), &format!("{fs}@b")])?;
    let sa = snap(&format!("{fs}@a"))?;
    let sb = snap(&format!("{fs}@b"))?;
    ok(lzc::bookmark(&[
        (bm(&format!("{fs}#a"))?, PointInTime::from(&sa)),
        (bm(&format!("{fs}#b"))?, (&sb).into()),
    ]))?;
    let list = ok(lzc::get_bookmarks(
        &ds(&fs)?,
        &["guid", "createtxg", "creation"],
    ))?;
    let names: Vec<String> = list.iter().map(|(n, _)| n.to_string()).collect();
    ensure!(
        names == [format!("{fs}#a"), format!("{fs}#b")],
        "bookmarks {names:?}"
    );
    let cli = zfs(&["list", "-H", "-o", "name", "-t", "bookmark", "-r", &fs])?;
    ensure!(cli.lines().count() == 2, "CLI sees {cli}");
    let info = ok(Snapshot::get(&sa))?;
    let props = &list[0].1;
    ensure!(
        props.guid() == Some(info.guid()),
        "guid {:?} vs {}",
        props.guid(),
        info.guid()
    );
    ensure!(props.createtxg() == Some(info.createtxg()), "createtxg");
    ensure!(
        props.creation() == Some(info.creation().unix_timestamp() as u64),
        "creation"
    );
    Ok(())
}

fn bookmark_from_bookmark() -> TestResult {
    let p = TestPool::new("bookmarkcopy", 128)?;
    let fs = p.ds("fs");
    mkfs(&[&fs])?;
    mksnap(&[&format!("{fs}@a")])?;
    zfs(&["bookmark", &format!("{fs}@a"), &format!("{fs}#one")])?;
    let one = bm(&format!("{fs}#one"))?;
    let two = bm(&format!("{fs}#two"))?;
    ok(lzc::bookmark(&[(two.clone(), PointInTime::from(&one))]))?;
    let p1 = ok(lzc::get_bookmark_props(&one))?;
    let p2 = ok(lzc::get_bookmark_props(&two))?;
    ensure!(
        p1.guid().is_some() && p1.guid() == p2.guid(),
        "copy has another guid"
    );
    Ok(())
}

fn bookmark_missing_snapshot() -> TestResult {
    let p = TestPool::new("bookmarkmissing", 128)?;
    let fs = p.ds("fs");
    mkfs(&[&fs])?;
    let s = snap(&format!("{fs}@none"))?;
    let e = expect_err(
        lzc::bookmark(&[(bm(&format!("{fs}#b"))?, PointInTime::from(&s))]),
        ErrorKind::NotFound,
    )?;
    ensure!(
        e.items().iter().all(|i| i.kind() == ErrorKind::NotFound),
        "{e}"
    );
    ensure!(!cli_exists(&format!("{fs}#b")), "bookmark created");
    Ok(())
}

fn bookmark_across_pools() -> TestResult {
    let p1 = TestPool::new("bookmarkxa", 128)?;
    let p2 = TestPool::new("bookmarkxb", 128)?;
    mkfs(&[&p1.ds("fs"), &p2.ds("fs")])?;
    let a = snap(&format!("{}@s", p1.ds("fs")))?;
    let b = snap(&format!("{}@s", p2.ds("fs")))?;
    mksnap(&[a.as_str(), b.as_str()])?;
    expect_err(
        lzc::bookmark(&[
            (bm(&format!("{}#b", p1.ds("fs")))?, PointInTime::from(&a)),
            (bm(&format!("{}#b", p2.ds("fs")))?, PointInTime::from(&b)),
        ]),
        ErrorKind::CrossPool,
    )?;
    ensure!(
        !cli_exists(&format!("{}#b", p1.ds("fs"))),
        "bookmark created"
    );
    Ok(())
}

fn bookmark_other_filesystem() -> TestResult {
    let p = TestPool::new("bookmarkmismatch", 128)?;
    mkfs(&[&p.ds("a"), &p.ds("b")])?;
    let s = snap(&format!("{}@s", p.ds("a")))?;
    mksnap(&[s.as_str()])?;
    expect_err(
        lzc::bookmark(&[(bm(&format!("{}#x", p.ds("b")))?, PointInTime::from(&s))]),
        ErrorKind::Mismatch,
    )?;
    Ok(())
}

fn bookmark_exists() -> TestResult {
    let p = TestPool::new("bookmarkexists", 128)?;
    let fs = p.ds("fs");
    mkfs(&[&fs])?;
    mksnap(&[&format!("{fs}@a"), &format!("{fs}@b")])?;
    zfs(&["bookmark", &format!("{fs}@a"), &format!("{fs}#x")])?;
    let sb = snap(&format!("{fs}@b"))?;
    expect_err(
        lzc::bookmark(&[(bm(&format!("{fs}#x"))?, PointInTime::from(&sb))]),
        ErrorKind::Exists,
    )?;
    Ok(())
}

fn destroy_bookmarks() -> TestResult {
    let p = TestPool::new("bookmarkdestroy", 128)?;
    let fs = p.ds("fs");
    mkfs(&[&fs])?;
    mksnap(&[&format!("{fs}@a")])?;
    zfs(&["bookmark", &format!("{fs}@a"), &format!("{fs}#x")])?;
    ok(lzc::destroy_bookmarks(&[
        bm(&format!("{fs}#x"))?,
        bm(&format!("{fs}#ghost"))?,
    ]))?;
    ensure!(!cli_exists(&format!("{fs}#x")), "bookmark still exists");
    ensure!(
        ok(lzc::get_bookmarks(&ds(&fs)?, &[]))?.is_empty(),
        "lzc still lists it"
    );
    Ok(())
}

fn get_bookmarks_missing_filesystem() -> TestResult {
    let p = TestPool::new("bookmarknofs", 128)?;
    expect_err(
        lzc::get_bookmarks(&ds(&p.ds("none"))?, &["guid"]),
        ErrorKind::NotFound,
    )?;
    expect_err(
        lzc::get_bookmark_props(&bm(&format!("{}#none", p.ds("none")))?),
        ErrorKind::NotFound,
    )?;
    Ok(())
}

fn main() {
    run(vec![
        zfs_test("lzc_hold::and_get_holds", hold_and_get_holds),
        zfs_test("lzc_hold::many_one_missing", hold_many_one_missing),
        zfs_test("lzc_hold::too_long_tag", hold_too_long_tag),
        zfs_test("lzc_hold::empty_or_nul_tag", hold_empty_or_nul_tag),
        zfs_test("lzc_hold::across_pools", hold_across_pools),
        zfs_test("lzc_hold::twice_exists", hold_twice_exists),
        zfs_test("lzc_hold::cleanup_fd", hold_with_cleanup_fd),
        zfs_test("lzc_hold::bad_cleanup_fd", hold_bad_cleanup_fd),
        zfs_test("lzc_release::then_destroy", release_then_destroy),
        zfs_test("lzc_release::destroys_deferred", release_destroys_deferred),
        zfs_test("lzc_release::missing_hold", release_missing_hold),
        zfs_test(
            "lzc_get_holds::missing_snapshot",
            get_holds_missing_snapshot,
        ),
        zfs_test("lzc_bookmark::create_and_list", bookmark_create_and_list),
        zfs_test("lzc_bookmark::from_bookmark", bookmark_from_bookmark),
        zfs_test("lzc_bookmark::missing_snapshot", bookmark_missing_snapshot),
        zfs_test("lzc_bookmark::across_pools", bookmark_across_pools),
        zfs_test("lzc_bookmark::other_filesystem", bookmark_other_filesystem),
        zfs_test("lzc_bookmark::exists", bookmark_exists),
        zfs_test(
            "lzc_destroy_bookmarks::existing_and_missing",
            destroy_bookmarks,
        ),
        zfs_test(
            "lzc_get_bookmarks::missing_filesystem",
            get_bookmarks_missing_filesystem,
        ),
    ])
}
