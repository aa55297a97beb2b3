//! Lab tests of `flocker_core::rollback`: both strategies, each edge case of issue 6, stash
//! operations, fault injection at every step, and forged markers. The `zfs` CLI is the oracle
//! (GUIDs, names, mountpoints); file contents are read through the mounts.

use std::collections::BTreeMap;
use std::path::PathBuf;

use flocker_core::error::ErrorKind;
use flocker_core::name::{DatasetName, SnapshotName};
use flocker_core::rollback::{self, RollbackPlan, StashRecord, Step, Store, Strategy};
use flocker_tests::{
    Failed, TestPool, TestResult, ensure, example_bin, fail, read_text as read, run, sh,
    snapshot_guids as snaps, write_synced as write, zfs, zfs_exists as exists, zfs_guids,
    zfs_prop as prop, zfs_test,
};

fn prop_source(name: &str, p: &str) -> Result<String, Failed> {
    Ok(zfs(&["get", "-H", "-o", "source", p, name])?
        .trim()
        .to_string())
}

fn ok<T>(r: flocker_core::error::Result<T>) -> Result<T, Failed> {
    r.map_err(|e| fail(format!("unexpected error: {e} (kind {:?})", e.kind())))
}

fn expect_kind<T>(r: flocker_core::error::Result<T>, kind: ErrorKind) -> TestResult {
    match r {
        Ok(_) => Err(fail(format!("expected {kind:?}, got success"))),
        Err(e) if e.kind() == kind => Ok(()),
        Err(e) => Err(fail(format!("expected {kind:?}, got {:?}: {e}", e.kind()))),
    }
}

fn store(p: &TestPool) -> Result<Store, Failed> {
    let dir = PathBuf::from(format!("/var/tmp/flocker-store-{}", p.name()));
    let _ = std::fs::remove_dir_all(&dir);
    ok(Store::open(dir))
}

fn mnt(p: &TestPool, rel: &str) -> String {
    format!("/var/tmp/flocker-rb/{}/{}", p.name(), rel)
}

/// A mounted filesystem `pool/fs` with snapshots a, b, c (file `v` = "a", "b", "c") and the
/// unsnapshotted content "now". Returns (fs, mount dir).
fn fixture(p: &TestPool) -> Result<(String, String), Failed> {
    let fs = p.ds("fs");
    let dir = mnt(p, "fs");
    zfs(&["create", "-o", &format!("mountpoint={dir}"), &fs])?;
    for s in ["a", "b", "c"] {
        write(&format!("{dir}/v"), s)?;
        zfs(&["snapshot", &format!("{fs}@{s}")])?;
    }
    write(&format!("{dir}/v"), "now")?;
    Ok((fs, dir))
}

/// The content of `file` in snapshot `snap`, read through a temporary clone.
fn snap_file(p: &TestPool, snap: &str, file: &str) -> Result<String, Failed> {
    read_through_clone(snap, &p.ds("chk"), &mnt(p, "chk"), file)
}

/// Reads `file` of snapshot `snap` through a scratch clone `clone` mounted at `dir`.
fn read_through_clone(snap: &str, clone: &str, dir: &str, file: &str) -> Result<String, Failed> {
    zfs(&["clone", "-o", &format!("mountpoint={dir}"), snap, clone])?;
    let r = read(&format!("{dir}/{file}"));
    zfs(&["destroy", clone])?;
    r
}

fn plan(target: &str, s: Strategy) -> Result<RollbackPlan, Failed> {
    ok(rollback::plan_rollback(
        &SnapshotName::new(target).map_err(fail)?,
        s,
    ))
}

/// Checks the state after a rollback of the fixture to `@a`.
fn check_rolled_back_to_a(
    p: &TestPool,
    fs: &str,
    dir: &str,
    before: &BTreeMap<String, String>,
    rec: &StashRecord,
) -> TestResult {
    check_at_a(fs, dir, before, rec, &p.ds("chk"), &mnt(p, "chk"))
}

/// Checks the state after a rollback of the fixture to `@a`: `fs` holds only `a` (its GUID
/// from `before`) and a's content, mounted at `dir`; the stash of `rec` is a clone of `fs@a`
/// holding `b` and `c` with their GUIDs and, in its last snapshot, the unsnapshotted data
/// (read through the scratch clone `scratch` mounted at `scratch_dir`).
fn check_at_a(
    fs: &str,
    dir: &str,
    before: &BTreeMap<String, String>,
    rec: &StashRecord,
    scratch: &str,
    scratch_dir: &str,
) -> TestResult {
    let after = snaps(fs)?;
    ensure!(
        after.len() == 1 && after.get("a") == before.get("a"),
        "{fs} is not at a: snapshots {after:?} (before {before:?})"
    );
    ensure!(read(&format!("{dir}/v"))? == "a", "content is not a's");
    ensure!(prop(fs, "mountpoint")? == dir, "mountpoint moved");
    ensure!(prop(fs, "mounted")? == "yes", "not mounted");
    let stashed = snaps(rec.stash_dataset.as_str())?;
    for s in ["b", "c"] {
        ensure!(
            stashed.get(s) == before.get(s),
            "stash {s}: {stashed:?} vs {before:?}"
        );
    }
    let pre = rec
        .snapshots
        .last()
        .map(|s| s.name.clone())
        .unwrap_or_default();
    ensure!(stashed.contains_key(&pre), "no pre snapshot in {stashed:?}");
    let now = read_through_clone(
        &format!("{}@{pre}", rec.stash_dataset),
        scratch,
        scratch_dir,
        "v",
    )?;
    ensure!(
        now == "now",
        "the stashed state lost the unsnapshotted data: {now:?}"
    );
    ensure!(
        prop(rec.stash_dataset.as_str(), "origin")? == format!("{fs}@a"),
        "stash is not a clone of {fs}@a"
    );
    Ok(())
}

fn rollback_strategy(s: Strategy) -> TestResult {
    let p = TestPool::new("rb", 256)?;
    let (fs, dir) = fixture(&p)?;
    let st = store(&p)?;
    let before = snaps(&fs)?;
    let guid = prop(&fs, "guid")?;
    let pl = plan(&format!("{fs}@a"), s)?;
    ensure!(
        pl.strategy
            == Some(if s == Strategy::Auto {
                Strategy::Swap
            } else {
                s
            }),
        "strategy {:?}",
        pl.strategy
    );
    let rec = ok(rollback::rollback(&st, &pl))?;
    check_rolled_back_to_a(&p, &fs, &dir, &before, &rec)?;
    if s == Strategy::Copy {
        ensure!(prop(&fs, "guid")? == guid, "copy changed the dataset GUID");
    }
    ensure!(ok(st.journal())?.is_none(), "journal left behind");
    Ok(())
}

fn copy_basic() -> TestResult {
    rollback_strategy(Strategy::Copy)
}
fn swap_basic() -> TestResult {
    rollback_strategy(Strategy::Swap)
}
fn auto_basic() -> TestResult {
    rollback_strategy(Strategy::Auto)
}

fn busy_mount_blocks_swap_auto_copies() -> TestResult {
    let p = TestPool::new("rbbusy", 256)?;
    let (fs, dir) = fixture(&p)?;
    let st = store(&p)?;
    let before = snaps(&fs)?;
    let mut child = std::process::Command::new("sleep")
        .arg("600")
        .current_dir(&dir)
        .spawn()
        .map_err(fail)?;
    let r = (|| -> TestResult {
        let pl = plan(&format!("{fs}@a"), Strategy::Swap)?;
        expect_kind(rollback::rollback(&st, &pl), ErrorKind::Busy)?;
        ensure!(
            snaps(&fs)? == before,
            "swap on a busy mount changed snapshots"
        );
        ensure!(prop(&fs, "mounted")? == "yes", "unmounted");
        let pl = plan(&format!("{fs}@a"), Strategy::Auto)?;
        ensure!(
            pl.strategy == Some(Strategy::Copy),
            "auto chose {:?}",
            pl.strategy
        );
        let rec = ok(rollback::rollback(&st, &pl))?;
        check_rolled_back_to_a(&p, &fs, &dir, &before, &rec)
    })();
    let _ = child.kill();
    let _ = child.wait();
    r
}

fn child_filesystem(s: Strategy) -> TestResult {
    let p = TestPool::new("rbchild", 256)?;
    let (fs, dir) = fixture(&p)?;
    let st = store(&p)?;
    let kid = format!("{fs}/kid");
    zfs(&["create", &kid])?;
    write(&format!("{dir}/kid/k"), "kid")?;
    zfs(&["snapshot", &format!("{kid}@k1")])?;
    let kid_guid = prop(&kid, "guid")?;
    let before = snaps(&fs)?;
    let pl = plan(&format!("{fs}@a"), s)?;
    let rec = ok(rollback::rollback(&st, &pl))?;
    check_rolled_back_to_a(&p, &fs, &dir, &before, &rec)?;
    ensure!(prop(&kid, "guid")? == kid_guid, "child replaced");
    ensure!(prop(&kid, "mounted")? == "yes", "child not mounted");
    ensure!(
        prop(&kid, "mountpoint")? == format!("{dir}/kid"),
        "child mountpoint"
    );
    ensure!(read(&format!("{dir}/kid/k"))? == "kid", "child content");
    ensure!(snaps(&kid)?.contains_key("k1"), "child snapshot");
    Ok(())
}
fn child_swap() -> TestResult {
    child_filesystem(Strategy::Swap)
}
fn child_copy() -> TestResult {
    child_filesystem(Strategy::Copy)
}

fn local_mountpoint_swap() -> TestResult {
    let p = TestPool::new("rbmp", 256)?;
    let (fs, dir) = fixture(&p)?;
    let st = store(&p)?;
    ensure!(
        prop_source(&fs, "mountpoint")? == "local",
        "fixture mountpoint not local"
    );
    zfs(&["set", "quota=200M", &fs])?;
    zfs(&["set", "compression=lz4", &fs])?;
    zfs(&["set", "atime=off", &fs])?;
    zfs(&["set", "com.example:tag=x", &fs])?;
    let rec = ok(rollback::rollback(
        &st,
        &plan(&format!("{fs}@a"), Strategy::Swap)?,
    ))?;
    ensure!(
        prop(&fs, "mountpoint")? == dir && prop_source(&fs, "mountpoint")? == "local",
        "fs mountpoint"
    );
    ensure!(
        prop(&fs, "quota")? == (200u64 << 20).to_string(),
        "quota not kept"
    );
    ensure!(
        prop(&fs, "compression")? == "lz4" && prop_source(&fs, "compression")? == "local",
        "compression"
    );
    ensure!(prop(&fs, "atime")? == "off", "atime");
    ensure!(prop(&fs, "com.example:tag")? == "x", "user property");
    ensure!(
        prop(rec.stash_dataset.as_str(), "mountpoint")? == "none",
        "stash mountpoint {}",
        prop(rec.stash_dataset.as_str(), "mountpoint")?
    );
    ensure!(
        prop(rec.stash_dataset.as_str(), "mounted")? == "no",
        "stash mounted"
    );
    ensure!(read(&format!("{dir}/v"))? == "a", "content");
    Ok(())
}

fn held_snapshot() -> TestResult {
    let p = TestPool::new("rbhold", 256)?;
    let (fs, dir) = fixture(&p)?;
    let st = store(&p)?;
    zfs(&["hold", "keep", &format!("{fs}@b")])?;
    let before = snaps(&fs)?;
    let pl = plan(&format!("{fs}@a"), Strategy::Copy)?;
    expect_kind(rollback::rollback(&st, &pl), ErrorKind::Held)?;
    ensure!(snaps(&fs)? == before, "refused plan changed something");
    let rec = ok(rollback::rollback(
        &st,
        &plan(&format!("{fs}@a"), Strategy::Auto)?,
    ))?;
    check_rolled_back_to_a(&p, &fs, &dir, &before, &rec)?;
    let holds = zfs(&["holds", "-H", &format!("{}@b", rec.stash_dataset)])?;
    ensure!(holds.contains("keep"), "hold lost: {holds:?}");
    Ok(())
}

fn clone_of_newer_snapshot() -> TestResult {
    let p = TestPool::new("rbclone", 256)?;
    let (fs, dir) = fixture(&p)?;
    let st = store(&p)?;
    let cl = p.ds("cl");
    zfs(&["clone", &format!("{fs}@c"), &cl])?;
    let before = snaps(&fs)?;
    expect_kind(
        rollback::rollback(&st, &plan(&format!("{fs}@a"), Strategy::Copy)?),
        ErrorKind::HasClones,
    )?;
    let rec = ok(rollback::rollback(
        &st,
        &plan(&format!("{fs}@a"), Strategy::Auto)?,
    ))?;
    check_rolled_back_to_a(&p, &fs, &dir, &before, &rec)?;
    ensure!(
        prop(&cl, "origin")? == format!("{}@c", rec.stash_dataset),
        "clone origin {}",
        prop(&cl, "origin")?
    );
    Ok(())
}

fn newer_bookmark() -> TestResult {
    let p = TestPool::new("rbbm", 256)?;
    let (fs, dir) = fixture(&p)?;
    let st = store(&p)?;
    zfs(&["bookmark", &format!("{fs}@c"), &format!("{fs}#bc")])?;
    let before = snaps(&fs)?;
    expect_kind(
        rollback::rollback(&st, &plan(&format!("{fs}@a"), Strategy::Copy)?),
        ErrorKind::NotLatest,
    )?;
    let rec = ok(rollback::rollback(
        &st,
        &plan(&format!("{fs}@a"), Strategy::Swap)?,
    ))?;
    check_rolled_back_to_a(&p, &fs, &dir, &before, &rec)?;
    let bms = zfs(&[
        "list",
        "-H",
        "-o",
        "name,guid",
        "-t",
        "bookmark",
        "-r",
        p.name(),
    ])?;
    ensure!(
        bms.contains("#bc") && bms.contains(&before["c"]),
        "bookmark lost: {bms}"
    );
    Ok(())
}

fn to_latest_and_oldest(s: Strategy) -> TestResult {
    let p = TestPool::new("rblatest", 256)?;
    let (fs, dir) = fixture(&p)?;
    let st = store(&p)?;
    let before = snaps(&fs)?;
    let rec = ok(rollback::rollback(&st, &plan(&format!("{fs}@c"), s)?))?;
    ensure!(read(&format!("{dir}/v"))? == "c", "latest: content");
    ensure!(snaps(&fs)? == before, "latest: snapshots changed");
    ensure!(
        rec.snapshots.len() == 1,
        "latest: stashed {:?}",
        rec.snapshots
    );
    if s == Strategy::Copy {
        // The first stash is a clone of fs@c (it pins it): copy cannot destroy c; auto swaps.
        expect_kind(
            rollback::rollback(&st, &plan(&format!("{fs}@a"), s)?),
            ErrorKind::HasClones,
        )?;
    }
    let rec2 = ok(rollback::rollback(
        &st,
        &plan(&format!("{fs}@a"), Strategy::Auto)?,
    ))?;
    ensure!(read(&format!("{dir}/v"))? == "a", "oldest: content");
    ensure!(
        rec2.snapshots.len() == 3,
        "oldest: stashed {:?}",
        rec2.snapshots
    );
    ensure!(
        ok(rollback::stash_list(&st))?.iter().all(|v| v.verified),
        "unverified stash"
    );
    Ok(())
}
fn latest_oldest_copy() -> TestResult {
    to_latest_and_oldest(Strategy::Copy)
}
fn latest_oldest_swap() -> TestResult {
    to_latest_and_oldest(Strategy::Swap)
}

/// Restore brings back every original GUID and the pre-rollback content; the replaced state
/// is stashed (lossless).
fn restore(s: Strategy) -> TestResult {
    let p = TestPool::new("rbrest", 256)?;
    let (fs, dir) = fixture(&p)?;
    let st = store(&p)?;
    let before = snaps(&fs)?;
    let rec = ok(rollback::rollback(&st, &plan(&format!("{fs}@a"), s)?))?;
    write(&format!("{dir}/v"), "after")?;
    let newer = ok(rollback::stash_restore(&st, &rec.id, s))?;
    let after = snaps(&fs)?;
    for (n, g) in &before {
        ensure!(after.get(n) == Some(g), "{n} not back: {after:?}");
    }
    ensure!(read(&format!("{dir}/v"))? == "now", "content not restored");
    ensure!(!exists(rec.stash_dataset.as_str()), "old stash still there");
    let pre = newer
        .snapshots
        .last()
        .map(|x| x.name.clone())
        .unwrap_or_default();
    ensure!(
        snap_file(&p, &format!("{}@{pre}", newer.stash_dataset), "v")? == "after",
        "replaced state lost"
    );
    ensure!(
        ok(st.record(&rec.id)).is_err(),
        "record of the restored stash remains"
    );
    Ok(())
}
fn restore_copy() -> TestResult {
    restore(Strategy::Copy)
}
fn restore_swap() -> TestResult {
    restore(Strategy::Swap)
}

fn two_rollbacks_restore_first() -> TestResult {
    let p = TestPool::new("rbtwo", 256)?;
    let (fs, dir) = fixture(&p)?;
    let st = store(&p)?;
    let before = snaps(&fs)?;
    let first = ok(rollback::rollback(
        &st,
        &plan(&format!("{fs}@b"), Strategy::Auto)?,
    ))?;
    let _second = ok(rollback::rollback(
        &st,
        &plan(&format!("{fs}@a"), Strategy::Auto)?,
    ))?;
    ok(rollback::stash_restore(&st, &first.id, Strategy::Auto))?;
    let after = snaps(&fs)?;
    for (n, g) in &before {
        ensure!(after.get(n) == Some(g), "{n} not back: {after:?}");
    }
    ensure!(read(&format!("{dir}/v"))? == "now", "content not restored");
    Ok(())
}

fn zvol() -> TestResult {
    let p = TestPool::new("rbvol", 256)?;
    let vol = p.ds("vol");
    zfs(&["create", "-V", "16M", &vol])?;
    let snaps_before = {
        for s in ["a", "b"] {
            zfs(&["snapshot", &format!("{vol}@{s}")])?;
        }
        snaps(&vol)?
    };
    let st = store(&p)?;
    let pl = plan(&format!("{vol}@a"), Strategy::Auto)?;
    ensure!(
        pl.strategy == Some(Strategy::Copy),
        "auto chose {:?} for a volume",
        pl.strategy
    );
    let rec = ok(rollback::rollback(&st, &pl))?;
    ensure!(snaps(&vol)?.len() == 1, "volume still has newer snapshots");
    ensure!(
        snaps(rec.stash_dataset.as_str())?.get("b") == snaps_before.get("b"),
        "b not stashed"
    );
    ensure!(
        prop(rec.stash_dataset.as_str(), "type")? == "volume",
        "stash is not a volume"
    );
    Ok(())
}

fn drop_and_export() -> TestResult {
    let p = TestPool::new("rbdrop", 256)?;
    let (fs, _dir) = fixture(&p)?;
    let st = store(&p)?;
    let before = snaps(&fs)?;
    let rec = ok(rollback::rollback(
        &st,
        &plan(&format!("{fs}@a"), Strategy::Copy)?,
    ))?;
    let file = format!("/var/tmp/flocker-export-{}", p.name());
    let _ = std::fs::remove_file(&file);
    let n = ok(rollback::stash_export(
        &st,
        &rec.id,
        std::path::Path::new(&file),
    ))?;
    ensure!(n > 0, "empty export");
    expect_kind(
        rollback::stash_export(&st, &rec.id, std::path::Path::new(&file)),
        ErrorKind::Exists,
    )?;
    // Import: one `zfs receive` per stream, all reading the same file.
    let imp = p.ds("imported");
    let script = format!(
        "exec < {file}; for i in {}; do zfs receive -u {imp} || exit 1; done",
        (0..rec.snapshots.len())
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(" ")
    );
    sh("sh", &["-c", &script])?;
    let imported = snaps(&imp)?;
    ensure!(
        imported.get("b") == before.get("b") && imported.get("c") == before.get("c"),
        "imported {imported:?}"
    );
    ok(rollback::stash_drop(&st, &rec.id))?;
    ensure!(!exists(rec.stash_dataset.as_str()), "stash still exists");
    expect_kind(rollback::stash_show(&st, &rec.id), ErrorKind::NotFound)?;
    let _ = std::fs::remove_file(&file);
    Ok(())
}

/// Stops the operation before each step in turn (as if the process died), recovers, and checks
/// that the result is the old or the new state with every GUID and the data reachable.
fn fault_at_every_step(s: Strategy) -> TestResult {
    let p = TestPool::new("rbfault", 384)?;
    let (fs, dir) = fixture(&p)?;
    let st = store(&p)?;
    let before = snaps(&fs)?;
    let n = plan(&format!("{fs}@a"), s)?.steps.len();
    for i in 0..n {
        let pl = plan(&format!("{fs}@a"), s)?;
        rollback::set_fault_injection(Some(i));
        let r = rollback::rollback(&st, &pl);
        rollback::set_fault_injection(None);
        expect_kind(r, ErrorKind::Interrupted).map_err(|e| fail(format!("step {i}: {e:?}")))?;
        ensure!(ok(st.journal())?.is_some(), "step {i}: no journal");
        ok(rollback::recover(&st))?;
        ensure!(ok(st.journal())?.is_none(), "step {i}: journal left");
        let now = snaps(&fs)?;
        if now.len() == 1 {
            // New state: rolled back, stash complete.
            let rec = ok(st.record(&pl.stash_id))?;
            let stashed = snaps(rec.stash_dataset.as_str())?;
            for x in ["b", "c"] {
                ensure!(stashed.get(x) == before.get(x), "step {i}: {x} not stashed");
            }
            ensure!(read(&format!("{dir}/v"))? == "a", "step {i}: content");
            // Go back to the old state for the next round.
            ok(rollback::stash_restore(&st, &rec.id, s))?;
            for r in ok(rollback::stash_list(&st))? {
                ok(rollback::stash_drop(&st, &r.record.id))?;
            }
        } else {
            ensure!(
                now == before,
                "step {i}: neither old nor new state: {now:?}"
            );
            ensure!(
                ok(st.records())?.is_empty(),
                "step {i}: record without rollback"
            );
        }
        ensure!(
            read(&format!("{dir}/v"))? == "now" || snaps(&fs)?.len() == 1,
            "step {i}: data"
        );
        ensure!(prop(&fs, "mounted")? == "yes", "step {i}: not mounted");
        let leftovers = zfs(&[
            "list",
            "-H",
            "-o",
            "name",
            "-r",
            &format!("{}/flocker-stash", p.name()),
        ])
        .unwrap_or_default();
        ensure!(
            leftovers.lines().count() <= 1,
            "step {i}: leftovers {leftovers}"
        );
    }
    Ok(())
}
fn fault_copy() -> TestResult {
    fault_at_every_step(Strategy::Copy)
}
fn fault_swap() -> TestResult {
    fault_at_every_step(Strategy::Swap)
}

/// A marker forged in the pool never makes drop/restore/recover act; a record that does not
/// match the pool's GUIDs is refused.
fn forged_markers_are_ignored() -> TestResult {
    let p = TestPool::new("rbforge", 256)?;
    let (fs, _dir) = fixture(&p)?;
    let st = store(&p)?;
    let fake = format!("{}/flocker-stash/20260101T000000-abcdef", p.name());
    zfs(&[
        "create",
        "-p",
        "-o",
        "org.flocker:stash=20260101T000000-abcdef",
        &fake,
    ])?;
    zfs(&["set", "org.flocker:journal=rollback", &fs])?;
    ensure!(
        ok(rollback::stash_list(&st))?.is_empty(),
        "a marker became a stash"
    );
    expect_kind(
        rollback::stash_drop(&st, "20260101T000000-abcdef"),
        ErrorKind::NotFound,
    )?;
    ensure!(
        ok(rollback::recover(&st))?.is_none(),
        "recovered from a marker"
    );
    // A record naming the victim dataset, but with a wrong GUID.
    let mut forged = ok(StashRecord::new(
        "20260101T000000-abcdef",
        SnapshotName::new(format!("{fs}@a")).map_err(fail)?,
        1,
        Strategy::Copy,
        DatasetName::new(&fs).map_err(fail)?,
        12345,
    ))?;
    forged.created = time::OffsetDateTime::UNIX_EPOCH;
    ok(st.put_record(&forged))?;
    expect_kind(rollback::stash_drop(&st, &forged.id), ErrorKind::Mismatch)?;
    expect_kind(
        rollback::stash_restore(&st, &forged.id, Strategy::Auto),
        ErrorKind::Mismatch,
    )?;
    ensure!(
        exists(&fs) && exists(&fake) && snaps(&fs)?.len() == 3,
        "something was destroyed"
    );
    Ok(())
}

/// The plan's steps are exactly what `Display` prints, numbered.
fn dry_run_changes_nothing() -> TestResult {
    let p = TestPool::new("rbdry", 256)?;
    let (fs, _dir) = fixture(&p)?;
    let before = snaps(&fs)?;
    let pl = plan(&format!("{fs}@a"), Strategy::Auto)?;
    let text = pl.to_string();
    ensure!(
        pl.steps.iter().all(|s| text.contains(&s.to_string())),
        "dry run misses steps"
    );
    ensure!(
        pl.steps.iter().any(|s| matches!(s, Step::Promote { .. })),
        "swap without promote"
    );
    ensure!(snaps(&fs)? == before, "dry run changed snapshots");
    ensure!(
        !exists(&format!("{}/flocker-stash", p.name())),
        "dry run created the container"
    );
    Ok(())
}

fn dv(store: &Store, args: &[&str], env: &[(&str, &str)]) -> Result<std::process::Output, Failed> {
    let mut c = std::process::Command::new(example_bin("datavault")?);
    c.args(args)
        .env("FLOCKER_STORE", store.dir())
        .stdin(std::process::Stdio::null());
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().map_err(fail)
}

fn cli_contract() -> TestResult {
    let p = TestPool::new("rbcli", 256)?;
    let (fs, _dir) = fixture(&p)?;
    let st = store(&p)?;
    let before = snaps(&fs)?;
    // Without --yes and with stdin not a terminal: refused, nothing changed.
    let o = dv(&st, &["rollback", &format!("{fs}@a")], &[])?;
    ensure!(
        !o.status.success() && snaps(&fs)? == before,
        "rollback without --yes ran"
    );
    // Errors: one line, non-zero, nothing changed.
    for bad in [format!("{fs}@nope"), "not a name@x".to_string()] {
        let o = dv(&st, &["rollback", &bad, "--yes"], &[])?;
        let err = String::from_utf8_lossy(&o.stderr).to_string();
        ensure!(
            !o.status.success() && err.trim().lines().count() == 1,
            "{bad}: {err:?}"
        );
    }
    ensure!(snaps(&fs)? == before, "errors changed something");
    // Dry run as JSON changes nothing.
    let o = dv(
        &st,
        &["rollback", &format!("{fs}@a"), "--dry-run", "--json"],
        &[],
    )?;
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).map_err(fail)?;
    ensure!(
        v["steps"].as_array().is_some_and(|a| !a.is_empty()) && snaps(&fs)? == before,
        "dry run"
    );
    let o = dv(
        &st,
        &[
            "rollback",
            &format!("{fs}@a"),
            "--strategy",
            "copy",
            "--yes",
        ],
        &[],
    )?;
    ensure!(
        o.status.success(),
        "rollback: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = dv(&st, &["stash", "list", "--json"], &[])?;
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).map_err(fail)?;
    let arr = v.as_array().cloned().unwrap_or_default();
    ensure!(arr.len() == 1, "list: {v}");
    for k in ["id", "dataset", "target", "created", "snapshots"] {
        ensure!(!arr[0][k].is_null(), "list entry lacks {k}: {v}");
    }
    let id = arr[0]["id"].as_str().unwrap_or_default().to_string();
    // -H: one tab-separated row per stash, no header (ID, DATASET, TARGET, CREATED, SNAPSHOTS,
    // USED, VERIFIED); -p: exact numbers in those rows.
    for (flags, exact) in [
        (&["-H"][..], false),
        (&["-H", "-p"][..], true),
        (&["-Hp"][..], true),
    ] {
        let mut args = vec!["stash", "list"];
        args.extend_from_slice(flags);
        let o = dv(&st, &args, &[])?;
        let out = String::from_utf8_lossy(&o.stdout).to_string();
        let rows: Vec<Vec<&str>> = out.lines().map(|l| l.split('\t').collect()).collect();
        ensure!(o.status.success() && rows.len() == 1, "{flags:?}: {out:?}");
        let r = &rows[0];
        ensure!(r.len() == 7, "{flags:?}: {r:?}");
        ensure!(
            r[0] == id && r[1] == fs && r[2] == format!("{fs}@a") && r[6] == "yes",
            "{flags:?}: {r:?}"
        );
        ensure!(
            r[4] == arr[0]["snapshots"]
                .as_array()
                .map_or(0, Vec::len)
                .to_string(),
            "{flags:?}: {r:?}"
        );
        if exact {
            ensure!(
                // `used` may move between the two listings while the pool syncs.
                r[3].parse::<i64>().ok() == arr[0]["created"].as_i64()
                    && r[5].parse::<u64>().is_ok(),
                "{flags:?}: {r:?} vs {}",
                arr[0]
            );
        } else {
            ensure!(
                r[3].contains('T') && r[3].parse::<i64>().is_err(),
                "{flags:?}: {r:?}"
            );
        }
    }
    let o = dv(&st, &["stash", "drop", &id], &[])?;
    ensure!(
        !o.status.success() && ok(st.record(&id)).is_ok(),
        "drop without --yes ran"
    );
    let o = dv(&st, &["stash", "restore", &id, "--yes"], &[])?;
    ensure!(
        o.status.success(),
        "restore: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let after = snaps(&fs)?;
    ensure!(
        before.iter().all(|(n, g)| after.get(n) == Some(g)),
        "restore lost snapshots"
    );
    let o = dv(&st, &["recover"], &[])?;
    ensure!(
        o.status.success() && String::from_utf8_lossy(&o.stdout).contains("nothing"),
        "recover"
    );
    Ok(())
}

/// Real SIGKILL of the `datavault` process before every step, then `datavault recover`.
fn kill_at_every_step(s: Strategy) -> TestResult {
    let p = TestPool::new("rbkill", 384)?;
    let (fs, dir) = fixture(&p)?;
    let st = store(&p)?;
    let before = snaps(&fs)?;
    let strat = s.to_string();
    let n = plan(&format!("{fs}@a"), s)?.steps.len();
    for i in 0..n {
        let fault = format!("{i}:kill");
        let o = dv(
            &st,
            &[
                "rollback",
                &format!("{fs}@a"),
                "--strategy",
                &strat,
                "--yes",
            ],
            &[("FLOCKER_CORE_FAULT", &fault)],
        )?;
        use std::os::unix::process::ExitStatusExt;
        ensure!(
            o.status.signal() == Some(9),
            "step {i}: not killed: {:?} {}",
            o.status,
            String::from_utf8_lossy(&o.stderr)
        );
        let o = dv(&st, &["recover"], &[])?;
        ensure!(
            o.status.success(),
            "step {i}: recover: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let now = snaps(&fs)?;
        if now.len() == 1 {
            ensure!(read(&format!("{dir}/v"))? == "a", "step {i}: content");
            for r in ok(st.records())? {
                let stashed = snaps(r.stash_dataset.as_str())?;
                ensure!(
                    stashed.get("b") == before.get("b") && stashed.get("c") == before.get("c"),
                    "step {i}: stash"
                );
                ok(rollback::stash_restore(&st, &r.id, s))?;
            }
            for r in ok(rollback::stash_list(&st))? {
                ok(rollback::stash_drop(&st, &r.record.id))?;
            }
            let back = snaps(&fs)?;
            ensure!(
                before.iter().all(|(n, g)| back.get(n) == Some(g)),
                "step {i}: restore lost {back:?}"
            );
            // Restore keeps the pre-rollback snapshot on the dataset; remove it for the next round.
            for n in back.keys().filter(|n| n.starts_with(rollback::PRE_PREFIX)) {
                zfs(&["destroy", &format!("{fs}@{n}")])?;
            }
        } else {
            ensure!(now == before, "step {i}: neither old nor new: {now:?}");
        }
        ensure!(
            snaps(&fs)? == before && read(&format!("{dir}/v"))? == "now",
            "step {i}: not back to the old state"
        );
    }
    Ok(())
}
fn kill_copy() -> TestResult {
    kill_at_every_step(Strategy::Copy)
}
fn kill_swap() -> TestResult {
    kill_at_every_step(Strategy::Swap)
}

// ---------------------------------------------------------------------------------------------
// kill -9 inside a stream (issue 21). A receive can miss a SIGKILL (its kernel threads clear the
// signal-pending flag) and then wait for the rest of its stream; with the writer a thread of the
// same process, that never came and the process never died. Each cycle starts a datavault
// operation whose streams are tens of MiB, waits until one of its threads (or its send child) is
// inside a send or receive ioctl, waits a random 0-1200 ms (0 in a third of the cycles: the
// receive's start, where the signal is lost), kills it with SIGKILL, and then checks: the process
// and its send child are gone within a bound, `datavault recover` finishes, nothing is lost, and
// the pool exports and imports.

/// How many kills must land inside a stream, per kind of operation (rollback, export, restore).
const MID_STREAM_KILLS: [usize; 3] = [12, 9, 9];
/// Bound on a killed process's end (software emulation is slow; a real machine takes < 1 s).
const GONE_WITHIN: std::time::Duration = std::time::Duration::from_secs(90);

/// A small xorshift generator, seeded from the clock (the seed is printed for a replay).
struct Rng(u64);
impl Rng {
    fn new() -> Rng {
        let seed = std::env::var("FLOCKER_KILL_SEED")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(1)
                    | 1
            });
        eprintln!("kill_mid_stream: seed {seed} (FLOCKER_KILL_SEED replays it)");
        Rng(seed)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

/// The processes of `pid`'s tree: itself and its children (the send child).
fn process_tree(pid: u32) -> Vec<u32> {
    let mut all = vec![pid];
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for t in tasks.flatten() {
            if let Ok(c) = std::fs::read_to_string(t.path().join("children")) {
                all.extend(c.split_whitespace().filter_map(|x| x.parse::<u32>().ok()));
            }
        }
    }
    all
}

/// Whether a thread of `pid`'s tree is inside a send or receive ioctl (kernel stacks).
fn in_stream(pid: u32) -> bool {
    process_tree(pid).iter().any(|p| {
        std::fs::read_dir(format!("/proc/{p}/task"))
            .map(|tasks| {
                tasks.flatten().any(|t| {
                    std::fs::read_to_string(t.path().join("stack")).is_ok_and(|st| {
                        ["zfs_ioc_recv", "dmu_recv", "zfs_ioc_send", "dmu_send"]
                            .iter()
                            .any(|f| st.contains(f))
                    })
                })
            })
            .unwrap_or(false)
    })
}

/// Every thread's kernel stack in `pid`'s tree, for a failure message.
fn stacks(pids: &[u32]) -> String {
    let mut out = String::new();
    for p in pids {
        if let Ok(tasks) = std::fs::read_dir(format!("/proc/{p}/task")) {
            for t in tasks.flatten() {
                let st = std::fs::read_to_string(t.path().join("stack")).unwrap_or_default();
                out.push_str(&format!("{p}/{:?}:\n{st}", t.file_name()));
            }
        }
    }
    out
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(
        |s| !matches!(s.rsplit(')').next().map(str::trim_start), Some(r) if r.starts_with('Z')),
    )
}

/// Starts `datavault args`, kills it with SIGKILL at a random moment inside a stream, and
/// waits (bounded) until it and its send child are gone. Returns whether the kill landed
/// inside a stream (`false`: the operation ended or left its streams first).
fn kill_inside_stream(st: &Store, args: &[&str], rng: &mut Rng) -> Result<bool, Failed> {
    let mut child = std::process::Command::new(example_bin("datavault")?)
        .args(args)
        .env("FLOCKER_STORE", st.dir())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(fail)?;
    let pid = child.id();
    let started = std::time::Instant::now();
    let mut seen = false;
    while started.elapsed() < GONE_WITHIN {
        if child.try_wait().map_err(fail)?.is_some() {
            break;
        }
        if in_stream(pid) {
            seen = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    if !seen {
        if child.try_wait().map_err(fail)?.is_none() {
            let _ = child.kill();
            let _ = child.wait();
            return Err(fail(format!(
                "datavault {args:?} neither ended nor entered a send or receive in \
                 {GONE_WITHIN:?}"
            )));
        }
        // Its streams were too quick to catch: it ran to its end, and the caller sees that.
        return Ok(false);
    }
    let delay = if rng.below(3) == 0 {
        0
    } else {
        rng.below(1200)
    };
    std::thread::sleep(std::time::Duration::from_millis(delay));
    let tree = process_tree(pid);
    let mid = in_stream(pid);
    // SAFETY: sending a signal to our own child.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    let killed_at = std::time::Instant::now();
    loop {
        if child.try_wait().map_err(fail)?.is_some() && tree[1..].iter().all(|p| !alive(*p)) {
            break;
        }
        if killed_at.elapsed() > GONE_WITHIN {
            return Err(fail(format!(
                "datavault {args:?} (pid {pid}, killed {delay} ms into a stream) or its send \
                 child {:?} is still there after {GONE_WITHIN:?}; kernel stacks:\n{}",
                &tree[1..],
                stacks(&tree)
            )));
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    Ok(mid)
}

/// `datavault recover` succeeds and leaves no journal.
fn recover_ok(st: &Store, what: &str) -> TestResult {
    let o = dv(st, &["recover"], &[])?;
    ensure!(
        o.status.success(),
        "{what}: recover failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    ensure!(
        ok(st.journal())?.is_none(),
        "{what}: journal left after recover"
    );
    Ok(())
}

/// The pool exports and imports again; `fs` is mounted afterwards.
fn export_import(p: &TestPool, fs: &str, what: &str) -> TestResult {
    zfs_pool(&["export", p.name()]).map_err(|e| fail(format!("{what}: export: {e:?}")))?;
    zfs_pool(&["import", "-d", "/var/tmp/flocker-pools", p.name()])
        .map_err(|e| fail(format!("{what}: import: {e:?}")))?;
    ensure!(
        prop(fs, "mounted")? == "yes",
        "{what}: {fs} not mounted after import"
    );
    Ok(())
}

fn zfs_pool(args: &[&str]) -> Result<String, Failed> {
    sh("zpool", args)
}

/// Writes `mib` MiB of random (incompressible) data to `path`.
fn random_file(path: &str, mib: u64) -> TestResult {
    use std::io::Read;
    let mut src = std::fs::File::open("/dev/urandom")
        .map_err(fail)?
        .take(mib << 20);
    let mut dst = std::fs::File::create(path).map_err(fail)?;
    std::io::copy(&mut src, &mut dst).map_err(fail)?;
    dst.sync_all().map_err(fail)
}

/// What each `kill_mid_stream_*` test starts from: a pool (`tag`) with `fs` (mounted at `dir`),
/// history a, b, c with two 40 MiB files, "now" unsnapshotted, a store, the snapshots before and
/// the target `fs@a`: `(pool, fs, dir, store, before, target)`.
type MidStream = (
    TestPool,
    String,
    String,
    Store,
    BTreeMap<String, String>,
    String,
);

fn mid_stream_fixture(tag: &str) -> Result<MidStream, Failed> {
    let p = TestPool::new(tag, 1024)?;
    let fs = p.ds("fs");
    let dir = mnt(&p, "fs");
    zfs(&["create", "-o", &format!("mountpoint={dir}"), &fs])?;
    write(&format!("{dir}/v"), "a")?;
    zfs(&["snapshot", &format!("{fs}@a")])?;
    for s in ["b", "c"] {
        random_file(&format!("{dir}/big-{s}"), 40)?;
        write(&format!("{dir}/v"), s)?;
        zfs(&["snapshot", &format!("{fs}@{s}")])?;
    }
    write(&format!("{dir}/v"), "now")?;
    let st = store(&p)?;
    let before = snaps(&fs)?;
    let target = format!("{fs}@a");
    Ok((p, fs, dir, st, before, target))
}

/// Finally everything comes back from `stash`: all the original snapshots and the unsnapshotted
/// data.
fn mid_stream_restored(m: &MidStream, stash: &str) -> TestResult {
    let (_, fs, dir, st, before, _) = m;
    ok(rollback::stash_restore(st, stash, Strategy::Copy))?;
    let now = snaps(fs)?;
    ensure!(
        before.iter().all(|(n, g)| now.get(n) == Some(g)),
        "lost snapshots: {now:?} vs {before:?}"
    );
    ensure!(
        read(&format!("{dir}/v"))? == "now",
        "lost the unsnapshotted data"
    );
    Ok(())
}

/// Kills inside the streams of a copy rollback: recover reverts, nothing changed.
fn kill_mid_stream_rollback() -> TestResult {
    let m = mid_stream_fixture("rbstream1")?;
    let (p, fs, dir, st, before, target) = &m;
    let rng = &mut Rng::new();
    let mut counted = 0;
    let mut tries = 0;
    while counted < MID_STREAM_KILLS[0] {
        tries += 1;
        ensure!(
            tries <= 3 * MID_STREAM_KILLS[0],
            "rollback: too few kills landed in a stream"
        );
        let what = format!("rollback kill {tries}");
        let rb = ["rollback", target, "--strategy", "copy", "--yes"];
        if kill_inside_stream(st, &rb, rng)? {
            counted += 1;
        }
        recover_ok(st, &what)?;
        if snaps(fs)? != *before {
            // The kill came after the commit: the rollback was finished; undo it.
            let recs = ok(st.records())?;
            ensure!(recs.len() == 1, "{what}: neither old nor new state");
            check_at_a(fs, dir, before, &recs[0], &p.ds("chk"), &mnt(p, "chk"))?;
            ok(rollback::stash_restore(st, &recs[0].id, Strategy::Copy))?;
            for r in ok(rollback::stash_list(st))? {
                ok(rollback::stash_drop(st, &r.record.id))?;
            }
            for n in snaps(fs)?
                .keys()
                .filter(|n| n.starts_with(rollback::PRE_PREFIX))
            {
                zfs(&["destroy", &format!("{fs}@{n}")])?;
            }
        }
        ensure!(
            snaps(fs)? == *before && read(&format!("{dir}/v"))? == "now",
            "{what}: not back to the old state: {:?}",
            snaps(fs)?
        );
        ensure!(ok(st.records())?.is_empty(), "{what}: a stash was left");
        export_import(p, fs, &what)?;
    }

    eprintln!("kill_mid_stream_rollback: {counted} kills inside a stream");
    Ok(())
}

/// Kills inside an export of a copy stash: the stash is intact afterwards, and restores.
fn kill_mid_stream_export() -> TestResult {
    let m = mid_stream_fixture("rbstream2")?;
    let (p, fs, dir, st, before, target) = &m;
    let rng = &mut Rng::new();
    let mut counted = 0;
    let rec = ok(rollback::rollback(st, &plan(target, Strategy::Copy)?))?;
    check_at_a(fs, dir, before, &rec, &p.ds("chk"), &mnt(p, "chk"))?;
    let file = format!("/var/tmp/flocker-export-{}", p.name());
    let mut tries = 0;
    while counted < MID_STREAM_KILLS[1] {
        tries += 1;
        ensure!(
            tries <= 3 * MID_STREAM_KILLS[1],
            "export: too few kills landed in a stream"
        );
        let what = format!("export kill {tries}");
        let _ = std::fs::remove_file(&file);
        if kill_inside_stream(st, &["stash", "export", &rec.id, &file], rng)? {
            counted += 1;
        }
        recover_ok(st, &what)?;
        ok(rollback::stash_show(st, &rec.id)).map_err(|e| fail(format!("{what}: {e:?}")))?;
        check_at_a(fs, dir, before, &rec, &p.ds("chk"), &mnt(p, "chk"))?;
        export_import(p, fs, &what)?;
    }
    let _ = std::fs::remove_file(&file);
    eprintln!("kill_mid_stream_export: {counted} kills inside a stream");
    mid_stream_restored(&m, &rec.id)
}

/// Kills inside the streams of a copy restore (a busy mount makes restore copy): the stash (or,
/// when the kill came after the commit, the restored dataset) keeps everything.
fn kill_mid_stream_restore() -> TestResult {
    let m = mid_stream_fixture("rbstream3")?;
    let (p, fs, dir, st, before, target) = &m;
    let rng = &mut Rng::new();
    let rec = ok(rollback::rollback(st, &plan(target, Strategy::Copy)?))?;
    check_at_a(fs, dir, before, &rec, &p.ds("chk"), &mnt(p, "chk"))?;
    let mut counted = 0;
    let mut tries = 0;
    let mut stash = rec.id.clone();
    while counted < MID_STREAM_KILLS[2] {
        tries += 1;
        ensure!(
            tries <= 3 * MID_STREAM_KILLS[2],
            "restore: too few kills landed in a stream"
        );
        let what = format!("restore kill {tries}");
        let mut busy = std::process::Command::new("sleep")
            .arg("3600")
            .current_dir(dir)
            .spawn()
            .map_err(fail)?;
        let landed = kill_inside_stream(st, &["stash", "restore", &stash, "--yes"], rng);
        let _ = busy.kill();
        let _ = busy.wait();
        if landed? {
            counted += 1;
        }
        recover_ok(st, &what)?;
        let now = snaps(fs)?;
        if before.iter().all(|(n, g)| now.get(n) == Some(g)) {
            // The kill came after the commit: the restore was finished; roll back again.
            for r in ok(rollback::stash_list(st))? {
                ok(rollback::stash_drop(st, &r.record.id))?;
            }
            for n in now.keys().filter(|n| n.starts_with(rollback::PRE_PREFIX)) {
                zfs(&["destroy", &format!("{fs}@{n}")])?;
            }
            stash = ok(rollback::rollback(st, &plan(target, Strategy::Copy)?))?.id;
        }
        let recs = ok(st.records())?;
        let r = recs
            .iter()
            .find(|r| r.id == stash)
            .ok_or_else(|| fail(format!("{what}: stash {stash} is gone")))?;
        check_at_a(fs, dir, before, r, &p.ds("chk"), &mnt(p, "chk"))?;
        export_import(p, fs, &what)?;
    }
    eprintln!("kill_mid_stream_restore: {counted} kills inside a stream");
    mid_stream_restored(&m, &stash)
}

// ---------------------------------------------------------------------------------------------
// Concurrency (issue 16): a rollback beside another rollback, another program's snapshot or
// rename, and a kill inside the commit. After each: nothing lost (every snapshot GUID is on the
// dataset or in a stash), `datavault recover` has nothing pending, and a following rollback of
// the same dataset works.

/// Bound on one datavault command here (software emulation is slow).
const OP_WITHIN: std::time::Duration = std::time::Duration::from_secs(600);

/// `full name → guid` of every snapshot of the pool.
fn pool_snaps(pool: &str) -> Result<BTreeMap<String, String>, Failed> {
    zfs_guids(pool, "snapshot")
}

/// Fails naming every GUID of `guids` that is on no snapshot of the pool.
fn nothing_lost(pool: &str, guids: &[String], what: &str) -> TestResult {
    let all = pool_snaps(pool)?;
    let lost: Vec<&String> = guids
        .iter()
        .filter(|g| !all.values().any(|x| x == *g))
        .collect();
    ensure!(
        lost.is_empty(),
        "{what}: lost snapshot GUIDs {lost:?}; the pool has {all:?}"
    );
    Ok(())
}

/// `datavault recover` succeeds with nothing to do, and no journal is left.
fn nothing_pending(st: &Store, what: &str) -> TestResult {
    let o = dv(st, &["recover"], &[])?;
    let out = String::from_utf8_lossy(&o.stdout);
    ensure!(
        o.status.success() && out.trim() == "nothing to recover",
        "{what}: recover: {:?} {out} {}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    ensure!(ok(st.journals())?.is_empty(), "{what}: a journal is left");
    Ok(())
}

/// A filesystem `pool/name` whose snapshots b and c each add `mib` MiB of random data (so a
/// copy rollback to a streams for a while), with unsnapshotted content "now".
fn big_fixture(p: &TestPool, name: &str, mib: u64) -> Result<(String, String), Failed> {
    let fs = p.ds(name);
    let dir = mnt(p, name);
    zfs(&["create", "-o", &format!("mountpoint={dir}"), &fs])?;
    write(&format!("{dir}/v"), "a")?;
    zfs(&["snapshot", &format!("{fs}@a")])?;
    for s in ["b", "c"] {
        random_file(&format!("{dir}/big-{s}"), mib)?;
        write(&format!("{dir}/v"), s)?;
        zfs(&["snapshot", &format!("{fs}@{s}")])?;
    }
    write(&format!("{dir}/v"), "now")?;
    Ok((fs, dir))
}

fn spawn_dv(st: &Store, args: &[&str]) -> Result<std::process::Child, Failed> {
    std::process::Command::new(example_bin("datavault")?)
        .args(args)
        .env("FLOCKER_STORE", st.dir())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(fail)
}

/// Waits (bounded) for `child`; its exit code and output.
fn finish(mut child: std::process::Child, what: &str) -> Result<(i32, String), Failed> {
    let started = std::time::Instant::now();
    while child.try_wait().map_err(fail)?.is_none() {
        if started.elapsed() > OP_WITHIN {
            let pid = child.id();
            let st = stacks(&process_tree(pid));
            let _ = child.kill();
            let _ = child.wait();
            return Err(fail(format!(
                "{what}: still running after {OP_WITHIN:?}:\n{st}"
            )));
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let o = child.wait_with_output().map_err(fail)?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    Ok((o.status.code().unwrap_or(-1), text))
}

/// The end of a concurrency test's cycle: nothing pending, a following rollback of `fs` works,
/// then the cycle's stashes and `fs` are destroyed.
fn end_of_cycle(st: &Store, fs: &str, what: &str) -> TestResult {
    nothing_pending(st, what)?;
    following_rollback_works(st, fs, what)?;
    clear_cycle(st, fs)
}

/// Drops every stash of the store and destroys `fs` with its snapshots.
fn clear_cycle(st: &Store, fs: &str) -> TestResult {
    for r in ok(rollback::stash_list(st))? {
        ok(rollback::stash_drop(st, &r.record.id))?;
    }
    zfs(&["destroy", "-r", fs])?;
    Ok(())
}

/// A rollback of `fs` to its newest snapshot (copy) works now: the snapshots stay, the state
/// since is stashed. (The newest, because an older target may be pinned by an earlier stash,
/// which a `copy` refuses by design.)
fn following_rollback_works(st: &Store, fs: &str, what: &str) -> TestResult {
    let before = snaps(fs)?;
    let guids: Vec<String> = before.values().cloned().collect();
    let pool = fs.split('/').next().unwrap_or(fs);
    let newest = zfs(&[
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
        fs,
    ])?
    .lines()
    .last()
    .map(str::to_string)
    .ok_or_else(|| fail(format!("{what}: {fs} has no snapshot left")))?;
    let rec = ok(rollback::rollback(st, &plan(&newest, Strategy::Copy)?))
        .map_err(|e| fail(format!("{what}: the following rollback: {e:?}")))?;
    ensure!(
        snaps(fs)? == before,
        "{what}: the following rollback changed the snapshots: {:?} (before {before:?})",
        snaps(fs)?
    );
    ensure!(
        ok(rollback::stash_show(st, &rec.id))?.verified,
        "{what}: the following rollback's stash is not verified"
    );
    nothing_lost(pool, &guids, &format!("{what}, following rollback"))
}

/// A rollback and a prune of the same dataset started together: they take turns on the store's
/// lock (or one is refused); prune destroys only what its policy planned, never what the
/// rollback stashes or pins.
fn rollback_and_prune_together() -> TestResult {
    let p = TestPool::new("rbprune", 512)?;
    let st = store(&p)?;
    for n in 0..3 {
        let what = format!("rollback and prune, round {n}");
        let (fs, _dir) = big_fixture(&p, &format!("fs{n}"), 8)?;
        let before = snaps(&fs)?;
        // min=2 keeps the two newest of a, b, c (owned through --match; they are not dv- names):
        // only a may go.
        let rb = spawn_dv(
            &st,
            &[
                "rollback",
                &format!("{fs}@b"),
                "--strategy",
                "copy",
                "--yes",
            ],
        )?;
        let pr = spawn_dv(&st, &["prune", &fs, "--keep", "min=2", "--match", "[abc]"])?;
        let (rc, rt) = finish(rb, &what)?;
        let (pc, pt) = finish(pr, &format!("{what}: prune"))?;
        ensure!(
            rc == 0 || (rc == 1 && rt.contains("another flocker operation is running")) || rc == 3,
            "{what}: rollback exit {rc}: {rt}"
        );
        ensure!(
            pc == 0 || (pc == 1 && pt.contains("cannot lock")),
            "{what}: prune exit {pc}: {pt}"
        );
        ensure!(rc == 0 || pc == 0, "{what}: neither ran: {rt} / {pt}");
        let keep: Vec<String> = before
            .iter()
            .filter(|(k, _)| k.as_str() != "a")
            .map(|(_, g)| g.clone())
            .collect();
        nothing_lost(p.name(), &keep, &what)?;
        let all = pool_snaps(p.name())?;
        if pc != 0 {
            nothing_lost(
                p.name(),
                &before.values().cloned().collect::<Vec<_>>(),
                &what,
            )?;
        }
        if rc == 0 {
            ensure!(
                snaps(&fs)?.contains_key("b"),
                "{what}: the stash's target b is gone: {all:?}"
            );
        }
        end_of_cycle(&st, &fs, &what)?;
    }
    Ok(())
}

/// A plan made before another operation swapped the same dataset is refused under the lock
/// (Changed), with nothing changed; planning again works.
fn stale_plan_after_swap() -> TestResult {
    let p = TestPool::new("rbstale", 256)?;
    let (fs, dir) = fixture(&p)?;
    let st = store(&p)?;
    let stale = plan(&format!("{fs}@a"), Strategy::Swap)?;
    // Another operation swaps the dataset in between.
    ok(rollback::rollback(
        &st,
        &plan(&format!("{fs}@b"), Strategy::Swap)?,
    ))?;
    let after = snaps(&fs)?;
    let guid = prop(&fs, "guid")?;
    ensure!(
        guid != stale.dataset_guid.to_string(),
        "the swap kept the GUID"
    );
    let r = rollback::rollback(&st, &stale);
    if let Err(e) = &r {
        ensure!(
            e.to_string().contains("another dataset"),
            "the refusal does not say what changed: {e}"
        );
    }
    expect_kind(r, ErrorKind::Changed)?;
    ensure!(
        snaps(&fs)? == after && prop(&fs, "guid")? == guid,
        "the stale plan changed {fs}"
    );
    ensure!(
        prop(&fs, "mounted")? == "yes",
        "the stale plan left {fs} unmounted"
    );
    ensure!(read(&format!("{dir}/v"))? == "b", "content changed");
    ensure!(ok(st.records())?.len() == 1, "a record was added");
    nothing_pending(&st, "stale plan")?;
    ok(rollback::rollback(
        &st,
        &plan(&format!("{fs}@a"), Strategy::Swap)?,
    ))?;
    ensure!(
        read(&format!("{dir}/v"))? == "a",
        "the new plan did not roll back"
    );
    Ok(())
}

/// Another program renames the dataset between plan and execution: refused, nothing changed.
fn rename_between_plan_and_execute() -> TestResult {
    let p = TestPool::new("rbrename", 256)?;
    let (fs, dir) = fixture(&p)?;
    let st = store(&p)?;
    let before = snaps(&fs)?;
    let moved = p.ds("moved");
    for s in [Strategy::Swap, Strategy::Copy] {
        let what = format!("rename ({s})");
        let pl = plan(&format!("{fs}@a"), s)?;
        zfs(&["rename", &fs, &moved])?;
        expect_kind(rollback::rollback(&st, &pl), ErrorKind::Changed)
            .map_err(|e| fail(format!("{what}: {e:?}")))?;
        ensure!(snaps(&moved)? == before, "{what}: snapshots changed");
        ensure!(prop(&moved, "mounted")? == "yes", "{what}: unmounted");
        ensure!(ok(st.records())?.is_empty(), "{what}: a record was written");
        nothing_pending(&st, &what)?;
        zfs(&["rename", &moved, &fs])?;
        ensure!(
            read_after_remount(&format!("{dir}/v"), &what)? == "now",
            "{what}: content"
        );
    }
    following_rollback_works(&st, &fs, "rename")
}

/// Reads `path` on a filesystem that `zfs rename` has just unmounted and mounted again. Once
/// (zfs 2.1, four tests at once) the first read there failed with EIO, which is the kernel's
/// answer for a file of a filesystem being unmounted; this is not what the tests using it check,
/// so EIO is retried for up to 60 s (and said on stderr), and any other error, or EIO for
/// longer, fails.
fn read_after_remount(path: &str, what: &str) -> Result<String, Failed> {
    let started = std::time::Instant::now();
    loop {
        match std::fs::read_to_string(path) {
            Ok(s) => return Ok(s),
            Err(e)
                if e.raw_os_error() == Some(libc::EIO)
                    && started.elapsed() < std::time::Duration::from_secs(60) =>
            {
                eprintln!("{what}: {path}: EIO after the remount; reading again");
                std::thread::sleep(std::time::Duration::from_millis(500));
            }
            Err(e) => return Err(fail(format!("{what}: {path}: {e}"))),
        }
    }
}

/// Snapshots taken while a copy rollback streams: by `datavault snapshot` (which waits for the
/// rollback's lock) and by the `zfs` CLI (which does not), at several moments.
fn snapshot_during_copy() -> TestResult {
    let p = TestPool::new("rbsnap", 1024)?;
    let st = store(&p)?;
    let mut rng = Rng::new();
    // (tool, moment): moment 0 = right after the start, 1 = as soon as a stream runs, 2 = a
    // random 0-1500 ms into the streams.
    let cycles = [
        ("zfs", 0u8),
        ("zfs", 1),
        ("zfs", 2),
        ("zfs", 2),
        ("zfs", 2),
        ("datavault", 1),
        ("datavault", 2),
    ];
    let mut outcomes = Vec::new();
    for (n, (tool, moment)) in cycles.iter().enumerate() {
        let what = format!("cycle {n} ({tool}, moment {moment})");
        let (fs, dir) = big_fixture(&p, &format!("fs{n}"), 24)?;
        let before: Vec<String> = snaps(&fs)?.into_values().collect();
        let rb = spawn_dv(
            &st,
            &[
                "rollback",
                &format!("{fs}@a"),
                "--strategy",
                "copy",
                "--yes",
            ],
        )?;
        let pid = rb.id();
        if *moment > 0 {
            let started = std::time::Instant::now();
            while !in_stream(pid) && started.elapsed() < GONE_WITHIN && alive(pid) {
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            if *moment == 2 {
                std::thread::sleep(std::time::Duration::from_millis(rng.below(1500)));
            }
        }
        let ext_name = format!("ext{n}");
        let snapper = if *tool == "zfs" {
            zfs(&["snapshot", &format!("{fs}@{ext_name}")])?;
            None
        } else {
            Some(spawn_dv(&st, &["snapshot", &fs])?)
        };
        let (code, text) = finish(rb, &what)?;
        let dv_snap = match snapper {
            Some(c) => {
                let (sc, stext) = finish(c, &format!("{what}: datavault snapshot"))?;
                ensure!(sc == 0, "{what}: datavault snapshot failed ({sc}): {stext}");
                stext
                    .lines()
                    .find_map(|l| l.strip_prefix("created "))
                    .map(|s| s.trim().to_string())
            }
            None => Some(format!("{fs}@{ext_name}")),
        };
        let ext_short = dv_snap
            .as_deref()
            .and_then(|s| s.split_once('@'))
            .map(|x| x.1.to_string())
            .ok_or_else(|| fail(format!("{what}: which snapshot was taken?")))?;
        // Where the extra snapshot is: on the dataset, or in a stash (same name).
        let all = pool_snaps(p.name())?;
        let places: Vec<&String> = all
            .keys()
            .filter(|k| k.ends_with(&format!("@{ext_short}")))
            .collect();
        ensure!(
            !places.is_empty(),
            "{what}: the extra snapshot @{ext_short} is gone: {all:?}"
        );
        nothing_lost(p.name(), &before, &what)?;
        let on_fs = snaps(&fs)?;
        match code {
            0 => {
                // Rolled back: fs holds a (and the extra one only if it came after the end).
                ensure!(
                    on_fs.contains_key("a") && on_fs.keys().all(|k| k == "a" || *k == ext_short),
                    "{what}: after success {fs} has {on_fs:?}"
                );
                ensure!(
                    read(&format!("{dir}/v"))? == "a",
                    "{what}: success but the content is not a's"
                );
                if *tool == "datavault" {
                    // It waited for the rollback's lock: taken after the rollback, on fs.
                    ensure!(
                        on_fs.contains_key(&ext_short),
                        "{what}: datavault's snapshot did not wait for the rollback"
                    );
                }
                outcomes.push(if on_fs.contains_key(&ext_short) {
                    "after"
                } else {
                    "stashed"
                });
            }
            3 => {
                // Refused before any change, or stopped after the commit with everything kept.
                ensure!(
                    text.contains("changed") || text.contains("not completed"),
                    "{what}: exit 3 without a reason: {text}"
                );
                ensure!(
                    on_fs.contains_key(&ext_short),
                    "{what}: refused but @{ext_short} is not on {fs}: {on_fs:?}"
                );
                outcomes.push(if ok(st.records())?.is_empty() {
                    "refused"
                } else {
                    "stopped"
                });
            }
            c => return Err(fail(format!("{what}: rollback exit {c}: {text}"))),
        }
        end_of_cycle(&st, &fs, &what)?;
    }
    eprintln!("snapshot_during_copy: outcomes {outcomes:?}");
    Ok(())
}

/// A rollback whose plan cannot be made, or is refused, while another operation holds the
/// store's lock reports that operation (busy, exit 1): the datasets it read were being changed.
/// A dry run still shows the plan; once the lock is free, the same commands give their own
/// answers (the missing snapshot refused, exit 3; the missing dataset an error naming it).
fn plan_during_another_operation_is_busy() -> TestResult {
    let p = TestPool::new("rbbusy", 256)?;
    let (fs, _dir) = fixture(&p)?;
    let st = store(&p)?;
    let before = snaps(&fs)?;
    let missing_snap = format!("{fs}@nope");
    let missing_fs = format!("{}@a", p.ds("gone"));
    let lock = ok(st.lock())?;
    for target in [&missing_snap, &missing_fs] {
        let o = dv(&st, &["rollback", target, "--yes"], &[])?;
        let err = String::from_utf8_lossy(&o.stderr).to_string();
        ensure!(
            o.status.code() == Some(1) && err.contains("another flocker operation is running"),
            "{target} with the lock held: status {:?}, {err:?}",
            o.status.code()
        );
    }
    let o = dv(&st, &["rollback", &format!("{fs}@a"), "--dry-run"], &[])?;
    ensure!(
        o.status.success() && String::from_utf8_lossy(&o.stdout).contains("steps:"),
        "dry run with the lock held: status {:?}, {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stderr)
    );
    drop(lock);
    let o = dv(&st, &["rollback", &missing_snap, "--yes"], &[])?;
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    ensure!(
        o.status.code() == Some(3) && !err.contains("another flocker operation"),
        "{missing_snap} with the lock free: status {:?}, {err:?}",
        o.status.code()
    );
    let o = dv(&st, &["rollback", &missing_fs, "--yes"], &[])?;
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    ensure!(
        o.status.code().is_some_and(|c| c != 0)
            && err.contains(&p.ds("gone"))
            && !err.contains("another flocker operation"),
        "{missing_fs} with the lock free: status {:?}, {err:?}",
        o.status.code()
    );
    ensure!(
        snaps(&fs)? == before,
        "a refused rollback changed snapshots"
    );
    ensure!(
        ok(st.records())?.is_empty(),
        "a refused rollback left a stash"
    );
    Ok(())
}

/// Two rollbacks of one dataset started together: one runs, the other is refused (busy, or
/// changed when it gets the lock after the first one ended); nothing is lost.
fn two_rollbacks_together() -> TestResult {
    let p = TestPool::new("rbtwo", 512)?;
    let st = store(&p)?;
    for (n, s) in ["copy", "swap", "auto"].iter().enumerate() {
        let what = format!("two rollbacks ({s})");
        let (fs, _dir) = big_fixture(&p, &format!("fs{n}"), 8)?;
        let before: Vec<String> = snaps(&fs)?.into_values().collect();
        let args = ["rollback", &format!("{fs}@a"), "--strategy", s, "--yes"].map(String::from);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let one = spawn_dv(&st, &args)?;
        let two = spawn_dv(&st, &args)?;
        let (c1, t1) = finish(one, &what)?;
        let (c2, t2) = finish(two, &what)?;
        let codes = [c1, c2];
        ensure!(
            codes.iter().filter(|c| **c == 0).count() == 1,
            "{what}: exits {codes:?}: {t1} / {t2}"
        );
        let loser = if c1 == 0 { (c2, &t2) } else { (c1, &t1) };
        ensure!(
            (loser.0 == 1 && loser.1.contains("another flocker operation is running"))
                || (loser.0 == 3 && loser.1.contains("changed")),
            "{what}: the second one: exit {} {}",
            loser.0,
            loser.1
        );
        ensure!(
            ok(st.records())?.len() == 1,
            "{what}: {} stashes",
            ok(st.records())?.len()
        );
        nothing_lost(p.name(), &before, &what)?;
        end_of_cycle(&st, &fs, &what)?;
    }
    Ok(())
}

/// kill -9 inside the commit step (record written, journal not yet): recovery finishes the
/// rollback; the record and the stash agree.
fn kill_inside_commit() -> TestResult {
    let p = TestPool::new("rbcommit", 384)?;
    let (fs, dir) = fixture(&p)?;
    let st = store(&p)?;
    let before = snaps(&fs)?;
    for s in [Strategy::Copy, Strategy::Swap] {
        let what = format!("commit kill ({s})");
        let o = dv(
            &st,
            &[
                "rollback",
                &format!("{fs}@a"),
                "--strategy",
                &s.to_string(),
                "--yes",
            ],
            &[("FLOCKER_CORE_FAULT", "commit:kill")],
        )?;
        use std::os::unix::process::ExitStatusExt;
        ensure!(
            o.status.signal() == Some(9),
            "{what}: not killed: {:?}",
            o.status
        );
        let recs = ok(st.records())?;
        let js = ok(st.journals())?;
        ensure!(
            recs.len() == 1 && js.len() == 1 && !js[0].committed,
            "{what}: expected a record and an uncommitted journal: {} records, journals {js:?}",
            recs.len()
        );
        let o = dv(&st, &["recover"], &[])?;
        let out = String::from_utf8_lossy(&o.stdout);
        ensure!(
            o.status.success() && out.contains("finished the rollback"),
            "{what}: recover: {out} {}",
            String::from_utf8_lossy(&o.stderr)
        );
        ensure!(ok(st.journals())?.is_empty(), "{what}: journal left");
        let v = ok(rollback::stash_list(&st))?;
        ensure!(
            v.len() == 1 && v[0].verified,
            "{what}: stash not verified: {v:?}"
        );
        check_rolled_back_to_a(&p, &fs, &dir, &before, &recs[0])?;
        ok(rollback::stash_restore(&st, &recs[0].id, s))?;
        for r in ok(rollback::stash_list(&st))? {
            ok(rollback::stash_drop(&st, &r.record.id))?;
        }
        for n in snaps(&fs)?
            .keys()
            .filter(|n| n.starts_with(rollback::PRE_PREFIX))
        {
            zfs(&["destroy", &format!("{fs}@{n}")])?;
        }
        ensure!(snaps(&fs)? == before, "{what}: not back: {:?}", snaps(&fs)?);
        nothing_pending(&st, &what)?;
    }
    Ok(())
}

/// A journal that cannot be recovered (another program renamed the dataset after our kill)
/// blocks nothing else, and `recover --abandon` ends it without destroying anything.
fn abandon_a_wedged_journal() -> TestResult {
    let p = TestPool::new("rbabandon", 384)?;
    let (fs, _dir) = fixture(&p)?;
    let st = store(&p)?;
    let before: Vec<String> = snaps(&fs)?.into_values().collect();
    // Kill a swap after its unmount, before its commit.
    let pl = plan(&format!("{fs}@a"), Strategy::Swap)?;
    let at = pl
        .steps
        .iter()
        .position(|s| matches!(s, Step::EnsureContainer { .. }))
        .ok_or_else(|| fail("no container step"))?;
    let o = dv(
        &st,
        &[
            "rollback",
            &format!("{fs}@a"),
            "--strategy",
            "swap",
            "--yes",
        ],
        &[("FLOCKER_CORE_FAULT", &format!("{at}:kill"))],
    )?;
    use std::os::unix::process::ExitStatusExt;
    ensure!(o.status.signal() == Some(9), "not killed: {:?}", o.status);
    let id = ok(st.journals())?
        .first()
        .map(|j| j.plan.stash_id.clone())
        .ok_or_else(|| fail("no journal after the kill"))?;
    let moved = p.ds("moved");
    zfs(&["rename", &fs, &moved])?;
    let o = dv(&st, &["recover"], &[])?;
    ensure!(
        !o.status.success(),
        "recover succeeded on a renamed dataset"
    );
    // Another dataset of the same store is not blocked by that journal.
    let (other, _odir) = big_fixture(&p, "other", 1)?;
    following_rollback_works(&st, &other, "beside a wedged journal")?;
    let o = dv(&st, &["recover", "--abandon", &id], &[])?;
    let out = String::from_utf8_lossy(&o.stdout);
    ensure!(
        o.status.success() && out.contains("abandoned"),
        "abandon: {out} {}",
        String::from_utf8_lossy(&o.stderr)
    );
    ensure!(ok(st.journals())?.is_empty(), "journal left after abandon");
    nothing_lost(p.name(), &before, "abandon")?;
    let o = dv(&st, &["recover", "--abandon", &id], &[])?;
    ensure!(
        o.status.code() == Some(1),
        "abandoning twice: {:?}",
        o.status
    );
    let o = dv(&st, &["recover", "--abandon", "../x"], &[])?;
    ensure!(o.status.code() == Some(2), "a bad id: {:?}", o.status);
    nothing_pending(&st, "abandon")?;
    zfs(&["rename", &moved, &fs])?;
    zfs(&["mount", &fs])?;
    following_rollback_works(&st, &fs, "after abandon")
}

// ---------------------------------------------------------------------------------------------
// Reboot mid-operation. `cargo xtask test` drives these from the host (xtask/src/reboot.rs): in
// one boot `reboot_prepare` builds a pool on the VM's second disk (/dev/vdb), starts a rollback
// and asks the host to cut the power mid-operation; in the next boot `reboot_verify` imports the
// pool, runs `datavault recover` and checks that the dataset is in the old or the new state with
// every original snapshot GUID and the unsnapshotted data reachable, then undoes the rollback if
// it happened. Registered only when `FLOCKER_REBOOT_PHASE` is set (they are halves of one test).

const REBOOT_POOL: &str = "rbreboot";
const REBOOT_DISK: &str = "/dev/vdb";

struct RebootEnv {
    dir: PathBuf,
    strategy: Strategy,
    /// `mid` or `last` (stall before the middle or the last step, cut there) or `random:<ms>`
    /// (cut after a delay, wherever the rollback is then).
    at: String,
}

fn reboot_env() -> Result<RebootEnv, Failed> {
    let var = |k: &str| std::env::var(k).map_err(|_| fail(format!("{k} is not set")));
    Ok(RebootEnv {
        dir: PathBuf::from(var("FLOCKER_REBOOT_DIR")?),
        strategy: var("FLOCKER_REBOOT_STRATEGY")?.parse().map_err(fail)?,
        at: var("FLOCKER_REBOOT_AT")?,
    })
}

fn reboot_fs() -> String {
    format!("{REBOOT_POOL}/fs")
}

fn reboot_mount() -> String {
    format!("/var/tmp/{REBOOT_POOL}/fs")
}

/// The marker that makes the host kill the VM `ms` milliseconds later (see xtask/src/vm.rs).
fn ask_power_cut(ms: u64) {
    use std::io::Write;
    let mut o = std::io::stdout().lock();
    let _ = writeln!(o, "\n@@FLOCKER:POWERCUT@@ {ms}");
    let _ = o.flush();
}

fn reboot_prepare() -> TestResult {
    use std::io::BufRead;
    let env = reboot_env()?;
    ensure!(
        std::path::Path::new(REBOOT_DISK).exists(),
        "{REBOOT_DISK} is missing: the host must attach a disk"
    );
    sh(
        "zpool",
        &[
            "create",
            "-f",
            "-O",
            "mountpoint=none",
            REBOOT_POOL,
            REBOOT_DISK,
        ],
    )?;
    let fs = reboot_fs();
    let dir = reboot_mount();
    zfs(&["create", "-o", &format!("mountpoint={dir}"), &fs])?;
    // 4 MiB of data per snapshot and unsnapshotted, so that a copy takes a while.
    let blob = |tag: &str| -> TestResult {
        let chunk: Vec<u8> = (0..4u32 << 20)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8 ^ tag.as_bytes()[0])
            .collect();
        std::fs::write(format!("{dir}/blob"), chunk).map_err(fail)
    };
    for s in ["a", "b", "c"] {
        write(&format!("{dir}/v"), s)?;
        blob(s)?;
        zfs(&["snapshot", &format!("{fs}@{s}")])?;
    }
    write(&format!("{dir}/v"), "now")?;
    blob("n")?;
    // Everything above is on disk before the rollback starts.
    // SAFETY: sync(2) takes no arguments and cannot fail.
    unsafe { libc::sync() };
    let before = snaps(&fs)?;
    std::fs::write(
        env.dir.join("before.json"),
        serde_json::to_string(&before).map_err(fail)?,
    )
    .map_err(fail)?;
    let store_dir = env.dir.join("store");
    let mut cmd = std::process::Command::new(example_bin("datavault")?);
    cmd.args([
        "rollback",
        &format!("{fs}@a"),
        "--strategy",
        &env.strategy.to_string(),
        "--yes",
    ])
    .env("FLOCKER_STORE", &store_dir)
    .stdin(std::process::Stdio::null())
    .stderr(std::process::Stdio::piped());
    if env.at == "mid" || env.at == "last" {
        let n = plan(&format!("{fs}@a"), env.strategy)?.steps.len();
        let k = if env.at == "mid" { n / 2 } else { n - 1 };
        println!(
            "stalling the {} rollback before step {} of {n}",
            env.strategy,
            k + 1
        );
        cmd.env("FLOCKER_CORE_FAULT", format!("{k}:stall"));
        let mut child = cmd.spawn().map_err(fail)?;
        let err = child.stderr.take().ok_or_else(|| fail("no stderr"))?;
        let mut stalled = false;
        for line in std::io::BufReader::new(err).lines() {
            let line = line.map_err(fail)?;
            eprintln!("datavault: {line}");
            if line.contains("fault: stalled before step") {
                stalled = true;
                break;
            }
        }
        ensure!(
            stalled,
            "the rollback ended before reaching its stall point: {:?}",
            child.wait()
        );
        ask_power_cut(0);
    } else if let Some(ms) = env.at.strip_prefix("random:") {
        let ms: u64 = ms.parse().map_err(fail)?;
        println!(
            "{} rollback with the power cut {ms} ms from now",
            env.strategy
        );
        ask_power_cut(ms);
        let o = cmd.output().map_err(fail)?;
        println!(
            "the rollback finished before the power cut ({}): {}",
            o.status,
            String::from_utf8_lossy(&o.stderr).trim()
        );
    } else {
        return Err(fail(format!("bad FLOCKER_REBOOT_AT {:?}", env.at)));
    }
    // The host kills the VM now; a guest still running after ten minutes means it did not.
    std::thread::sleep(std::time::Duration::from_secs(600));
    Err(fail("the host did not cut the power within 600 s"))
}

fn reboot_verify() -> TestResult {
    let env = reboot_env()?;
    let before: BTreeMap<String, String> =
        serde_json::from_str(&read(&env.dir.join("before.json").to_string_lossy())?)
            .map_err(fail)?;
    ensure!(before.len() == 3, "before.json: {before:?}");
    // What the boot would do: import the pool (it was never exported) and mount it.
    if let Err(e) = sh("zpool", &["import", "-f", "-d", "/dev", REBOOT_POOL]) {
        let seen = sh("zpool", &["import", "-d", "/dev"]).unwrap_or_else(|e| format!("{e:?}"));
        return Err(fail(format!("{e:?}; `zpool import -d /dev` sees: {seen}")));
    }
    let r = reboot_check(&env, &before);
    let _ = sh("zpool", &["destroy", "-f", REBOOT_POOL]);
    r
}

fn reboot_check(env: &RebootEnv, before: &BTreeMap<String, String>) -> TestResult {
    let fs = reboot_fs();
    let dir = reboot_mount();
    let st = ok(Store::open(env.dir.join("store")))?;
    let o = dv(&st, &["recover"], &[])?;
    ensure!(
        o.status.success(),
        "datavault recover failed after the reboot: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    println!("recover: {}", String::from_utf8_lossy(&o.stdout).trim());
    ensure!(
        ok(st.journal())?.is_none(),
        "a journal is left after recover"
    );
    ensure!(prop(&fs, "mounted")? == "yes", "{fs} is not mounted");
    ensure!(prop(&fs, "mountpoint")? == dir, "{fs} mountpoint moved");
    let now = snaps(&fs)?;
    if &now == before {
        println!("state after the reboot: old (not rolled back)");
        ensure!(
            read(&format!("{dir}/v"))? == "now",
            "old state lost its data"
        );
        ensure!(
            ok(st.records())?.is_empty(),
            "a stash record without a rollback"
        );
    } else {
        println!("state after the reboot: new (rolled back)");
        let recs = ok(st.records())?;
        ensure!(recs.len() == 1, "{} stash records", recs.len());
        let rec = &recs[0];
        check_at_a(
            &fs,
            &dir,
            before,
            rec,
            &format!("{REBOOT_POOL}/chk"),
            &format!("/var/tmp/{REBOOT_POOL}/chk"),
        )?;
        // Undo: everything comes back with its GUIDs.
        let o = dv(&st, &["stash", "restore", &rec.id, "--yes"], &[])?;
        ensure!(
            o.status.success(),
            "stash restore after the reboot failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let back = snaps(&fs)?;
        ensure!(
            before.iter().all(|(n, g)| back.get(n) == Some(g)),
            "restore lost snapshots: {back:?} vs {before:?}"
        );
        ensure!(read(&format!("{dir}/v"))? == "now", "restore lost the data");
    }
    Ok(())
}

fn main() {
    if let Ok(phase) = std::env::var("FLOCKER_REBOOT_PHASE") {
        let t = match phase.as_str() {
            "prepare" => zfs_test("rollback::reboot_prepare", reboot_prepare),
            _ => zfs_test("rollback::reboot_verify", reboot_verify),
        };
        run(vec![t]);
    }
    run(vec![
        // The longest first: tests run 4 at a time in the lab.
        zfs_test("rollback::kill_mid_stream_restore", kill_mid_stream_restore),
        zfs_test("rollback::snapshot_during_copy", snapshot_during_copy),
        zfs_test(
            "rollback::kill_mid_stream_rollback",
            kill_mid_stream_rollback,
        ),
        zfs_test("rollback::kill_mid_stream_export", kill_mid_stream_export),
        zfs_test("rollback::kill_swap", kill_swap),
        zfs_test("rollback::kill_copy", kill_copy),
        zfs_test(
            "rollback::rollback_and_prune_together",
            rollback_and_prune_together,
        ),
        zfs_test("rollback::two_rollbacks_together", two_rollbacks_together),
        zfs_test(
            "rollback::plan_during_another_operation_is_busy",
            plan_during_another_operation_is_busy,
        ),
        zfs_test("rollback::copy_basic", copy_basic),
        zfs_test("rollback::swap_basic", swap_basic),
        zfs_test("rollback::auto_basic", auto_basic),
        zfs_test(
            "rollback::busy_mount_blocks_swap_auto_copies",
            busy_mount_blocks_swap_auto_copies,
        ),
        zfs_test("rollback::child_swap", child_swap),
        zfs_test("rollback::child_copy", child_copy),
        zfs_test("rollback::local_mountpoint_swap", local_mountpoint_swap),
        zfs_test("rollback::held_snapshot", held_snapshot),
        zfs_test("rollback::clone_of_newer_snapshot", clone_of_newer_snapshot),
        zfs_test("rollback::newer_bookmark", newer_bookmark),
        zfs_test("rollback::latest_oldest_copy", latest_oldest_copy),
        zfs_test("rollback::latest_oldest_swap", latest_oldest_swap),
        zfs_test("rollback::restore_copy", restore_copy),
        zfs_test("rollback::restore_swap", restore_swap),
        zfs_test(
            "rollback::two_rollbacks_restore_first",
            two_rollbacks_restore_first,
        ),
        zfs_test("rollback::zvol", zvol),
        zfs_test("rollback::drop_and_export", drop_and_export),
        zfs_test("rollback::fault_copy", fault_copy),
        zfs_test("rollback::fault_swap", fault_swap),
        zfs_test(
            "rollback::forged_markers_are_ignored",
            forged_markers_are_ignored,
        ),
        zfs_test("rollback::dry_run_changes_nothing", dry_run_changes_nothing),
        zfs_test("rollback::cli_contract", cli_contract),
        zfs_test("rollback::stale_plan_after_swap", stale_plan_after_swap),
        zfs_test(
            "rollback::rename_between_plan_and_execute",
            rename_between_plan_and_execute,
        ),
        zfs_test("rollback::kill_inside_commit", kill_inside_commit),
        zfs_test(
            "rollback::abandon_a_wedged_journal",
            abandon_a_wedged_journal,
        ),
    ])
}
