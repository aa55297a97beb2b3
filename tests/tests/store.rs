//! Lab tests of the store's own dataset (`rollback::init_dataset`, `datavault store`): the
//! migration of a directory store, the refusal to roll back the dataset that holds the store,
//! the store surviving a rollback of the dataset of "/var/lib", errors, and a fault before every
//! step of the migration. The `zfs` CLI and `/proc/self/mountinfo` are the oracles.

use std::collections::BTreeSet;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use flocker_core::error::ErrorKind;
use flocker_core::name::{DatasetName, PoolName, SnapshotName};
use flocker_core::rollback::{self, StashRecord, Store, Strategy};
use flocker_tests::{
    Failed, Out, TestPool, TestResult, ensure, example_bin, fail, run, zfs, zfs_test,
};

fn prop(name: &str, p: &str) -> Result<String, Failed> {
    Ok(zfs(&["get", "-H", "-o", "value", p, name])?
        .trim()
        .to_string())
}

fn ok<T>(r: flocker_core::error::Result<T>) -> Result<T, Failed> {
    r.map_err(|e| fail(format!("unexpected error: {e} (kind {:?})", e.kind())))
}

fn expect_kind<T>(r: flocker_core::error::Result<T>, kind: ErrorKind) -> Result<String, Failed> {
    match r {
        Ok(_) => Err(fail(format!("expected {kind:?}, got success"))),
        Err(e) if e.kind() == kind => Ok(e.to_string()),
        Err(e) => Err(fail(format!("expected {kind:?}, got {:?}: {e}", e.kind()))),
    }
}

/// A fresh base directory for pool `p`'s files: `/var/tmp/flocker-st/<pool>`.
fn base(p: &TestPool) -> Result<PathBuf, Failed> {
    let d = PathBuf::from(format!("/var/tmp/flocker-st/{}", p.name()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).map_err(fail)?;
    Ok(d)
}

fn write(path: &Path, data: &str) -> TestResult {
    std::fs::write(path, data).map_err(|e| fail(format!("{}: {e}", path.display())))?;
    let _ = std::fs::File::open(path).and_then(|f| f.sync_all());
    Ok(())
}

/// `pool/name` mounted at `dir`, with snapshots a and b (file `v` = "a", "b") and the
/// unsnapshotted content "now".
fn data_fs(p: &TestPool, name: &str, dir: &Path) -> Result<String, Failed> {
    let fs = p.ds(name);
    zfs(&[
        "create",
        "-o",
        &format!("mountpoint={}", dir.display()),
        &fs,
    ])?;
    for s in ["a", "b"] {
        write(&dir.join("v"), s)?;
        zfs(&["snapshot", &format!("{fs}@{s}")])?;
    }
    write(&dir.join("v"), "now")?;
    Ok(fs)
}

fn plan_of(target: &str, s: Strategy) -> Result<rollback::RollbackPlan, Failed> {
    let t = SnapshotName::new(target).map_err(fail)?;
    ok(rollback::plan_rollback(&t, s))
}

fn rollback_to(st: &Store, target: &str, s: Strategy) -> flocker_core::error::Result<StashRecord> {
    let t = SnapshotName::new(target)?;
    let plan = rollback::plan_rollback(&t, s)?;
    rollback::rollback(st, &plan)
}

fn ids(st: &Store) -> Result<BTreeSet<String>, Failed> {
    Ok(ok(st.records())?.into_iter().map(|r| r.id).collect())
}

/// The ZFS dataset mounted exactly on `dir` (top mount), from mountinfo.
fn mounted_on(dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    text.lines().rev().find_map(|l| {
        let (left, right) = l.split_once(" - ")?;
        let mp = left.split(' ').nth(4)?;
        let mut r = right.split(' ');
        let (t, src) = (r.next()?, r.next()?);
        (Path::new(mp) == dir && t == "zfs").then(|| src.to_string())
    })
}

fn dv(store: &Path, args: &[&str]) -> Result<Out, Failed> {
    let mut c = Command::new(example_bin("datavault")?);
    c.args(args).env("FLOCKER_STORE", store);
    Out::of(&mut c)
}

/// The set-aside directories of store `dir` (`<dir>.migrated-*`).
fn set_aside(dir: &Path) -> Result<Vec<PathBuf>, Failed> {
    let parent = dir.parent().ok_or_else(|| fail("no parent"))?;
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut v: Vec<PathBuf> = std::fs::read_dir(parent)
        .map_err(fail)?
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(&format!("{name}.migrated-"))
        })
        .map(|e| e.path())
        .collect();
    v.sort();
    Ok(v)
}

/// The end state of a migration of `dir` into `pool/flocker-core`: mounted there, private,
/// `canmount=on`, `mountpoint=dir`; the records `want`; one set-aside directory holding them
/// too; no leftovers of the migration.
fn check_migrated(pool: &str, dir: &Path, want: &BTreeSet<String>) -> TestResult {
    let ds = format!("{pool}/flocker-core");
    ensure!(
        mounted_on(dir).as_deref() == Some(ds.as_str()),
        "{} is not mounted on {}",
        ds,
        dir.display()
    );
    ensure!(
        prop(&ds, "mountpoint")? == dir.to_string_lossy(),
        "mountpoint of {ds}"
    );
    ensure!(prop(&ds, "canmount")? == "on", "canmount of {ds}");
    ensure!(
        prop(&ds, "mounted")? == "yes",
        "zfs says {ds} is not mounted"
    );
    let m = std::fs::metadata(dir).map_err(fail)?;
    ensure!(
        m.uid() == 0 && m.mode() & 0o777 == 0o700,
        "store directory mode {:o} uid {}",
        m.mode(),
        m.uid()
    );
    let st = ok(Store::open(dir))?;
    ensure!(
        &ids(&st)? == want,
        "records after the migration: {:?}, wanted {want:?}",
        ids(&st)?
    );
    for id in want {
        let f = dir.join(format!("stash/{id}.json"));
        let fm = std::fs::metadata(&f).map_err(fail)?;
        ensure!(
            fm.uid() == 0 && fm.mode() & 0o777 == 0o600,
            "{} mode {:o}",
            f.display(),
            fm.mode()
        );
    }
    let aside = set_aside(dir)?;
    ensure!(aside.len() == 1, "set-aside directories: {aside:?}");
    let old = ok(Store::open(&aside[0]))?;
    ensure!(&ids(&old)? == want, "the set-aside store lost records");
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let parent = dir.parent().ok_or_else(|| fail("no parent"))?;
    for left in [".store-new", ".store-old", ".store-copy"] {
        let p = parent.join(format!("{name}{left}"));
        ensure!(!p.exists(), "{} left behind", p.display());
    }
    Ok(())
}

/// (a) `store init` on a pool with a directory store holding a stash record.
fn init_migrates_a_directory_store() -> TestResult {
    let p = TestPool::new("stinit", 256)?;
    let b = base(&p)?;
    let dir = b.join("lib/flocker-core");
    let fs = data_fs(&p, "data", &b.join("data"))?;
    let st = ok(Store::open(&dir))?;
    let rec = ok(rollback_to(&st, &format!("{fs}@a"), Strategy::Copy))?;
    let want: BTreeSet<String> = [rec.id.clone()].into();
    let o = dv(&dir, &["store", "init", p.name(), "--json"])?.expect(0, "store init")?;
    let v = o.json()?;
    let ds = p.ds("flocker-core");
    ensure!(
        v["dataset"] == ds.as_str() && v["created"] == true && v["already"] == false,
        "{v}"
    );
    ensure!(
        v["copied"].as_array().is_some_and(|a| a
            .iter()
            .any(|f| f == format!("stash/{}.json", rec.id).as_str())),
        "{v}"
    );
    check_migrated(p.name(), &dir, &want)?;
    // The CLI sees the same stash, verified.
    let o = dv(&dir, &["stash", "list", "--json"])?.expect(0, "stash list")?;
    let l = o.json()?;
    ensure!(
        l.as_array().is_some_and(|a| a.len() == 1
            && a[0]["id"] == rec.id.as_str()
            && a[0]["verified"] == true),
        "{l}"
    );
    // Status: a dedicated dataset.
    let s = dv(&dir, &["store", "status", "--json"])?
        .expect(0, "store status")?
        .json()?;
    ensure!(
        s["dedicated"] == true && s["dataset"] == ds.as_str() && s["fstype"] == "zfs",
        "{s}"
    );
    // Again: nothing to do.
    let v = dv(&dir, &["store", "init", p.name(), "--json"])?
        .expect(0, "store init again")?
        .json()?;
    ensure!(v["already"] == true && v["created"] == false, "{v}");
    check_migrated(p.name(), &dir, &want)?;
    // The dataset not mounted (a boot without the mount service): opening the store mounts it
    // rather than using the directory underneath.
    zfs(&["unmount", &ds])?;
    ensure!(mounted_on(&dir).is_none(), "still mounted");
    let st = ok(Store::open(&dir))?;
    ensure!(
        mounted_on(&dir).as_deref() == Some(ds.as_str()),
        "opening the store did not mount {ds}"
    );
    ensure!(ids(&st)? == want, "records after the mount");
    // The stash restores from the new store.
    ok(rollback::stash_restore(&st, &rec.id, Strategy::Auto))?;
    ensure!(
        std::fs::read_to_string(b.join("data/v")).map_err(fail)? == "now",
        "restore lost data"
    );
    ensure!(
        !ids(&st)?.contains(&rec.id),
        "the restored stash's record stayed"
    );
    zfs(&["unmount", &ds])?;
    Ok(())
}

/// (b) The store survives a rollback of the dataset that holds /var/lib.
fn survives_a_rollback_of_var_lib() -> TestResult {
    let p = TestPool::new("stvar", 512)?;
    let b = base(&p)?;
    let varlib_dir = b.join("var/lib");
    let varlib = p.ds("varlib");
    zfs(&[
        "create",
        "-o",
        &format!("mountpoint={}", varlib_dir.display()),
        &varlib,
    ])?;
    let dir = varlib_dir.join("flocker-core");
    let fs = data_fs(&p, "data", &b.join("data"))?;
    let st = ok(Store::open(&dir))?;
    let r1 = ok(rollback_to(&st, &format!("{fs}@a"), Strategy::Copy))?;
    zfs(&["snapshot", &format!("{varlib}@s1")])?;
    write(&varlib_dir.join("after"), "after s1")?;
    let varlib_snaps = || zfs(&["list", "-H", "-o", "name", "-t", "snapshot", "-r", &varlib]);
    let before = varlib_snaps()?;
    // Refused: the store is on p/varlib.
    for s in [Strategy::Copy, Strategy::Swap, Strategy::Auto] {
        let why = expect_kind(
            rollback_to(&st, &format!("{varlib}@s1"), s),
            ErrorKind::InvalidArgument,
        )?;
        ensure!(
            why.contains(&varlib) && why.contains(&format!("datavault store init {}", p.name())),
            "{why}"
        );
    }
    let o = dv(
        &dir,
        &[
            "rollback",
            &format!("{varlib}@s1"),
            "--yes",
            "--strategy",
            "copy",
        ],
    )?
    .expect(3, "rollback of the store's dataset")?;
    ensure!(o.stderr.contains("store init"), "{}", o.stderr);
    ensure!(
        varlib_snaps()? == before && varlib_dir.join("after").exists(),
        "the refusal changed something"
    );
    ensure!(ids(&st)? == [r1.id.clone()].into(), "records changed");
    // Status says why.
    let s = dv(&dir, &["store", "status", "--json"])?
        .expect(0, "store status")?
        .json()?;
    ensure!(
        s["dataset"] == varlib.as_str() && s["dedicated"] == false,
        "{s}"
    );
    // The store gets its own dataset.
    dv(&dir, &["store", "init", p.name()])?.expect(0, "store init")?;
    check_migrated(p.name(), &dir, &[r1.id.clone()].into())?;
    let st = ok(Store::open(&dir))?;
    // Copy: rolls p/varlib back under the mounted store.
    let r2 = ok(rollback_to(&st, &format!("{varlib}@s1"), Strategy::Copy))?;
    ensure!(
        !varlib_dir.join("after").exists(),
        "p/varlib was not rolled back"
    );
    ensure!(
        mounted_on(&dir).as_deref() == Some(p.ds("flocker-core").as_str()),
        "the store was unmounted by the rollback"
    );
    ensure!(
        ids(&st)? == [r1.id.clone(), r2.id.clone()].into(),
        "records after the copy rollback: {:?}",
        ids(&st)?
    );
    // Swap: p/varlib's mount cannot be released while the store's dataset is mounted inside
    // it (umount2 would fail with EBUSY; unmounting the store in the middle of the operation
    // would send its journal into the directory underneath), so `swap` is refused with Busy
    // before anything changes, and `auto` takes `copy` whether the plan is made with the
    // store's lock held or not (no `Changed` between plan and execution).
    zfs(&["snapshot", &format!("{varlib}@s2")])?;
    write(&varlib_dir.join("after2"), "after s2")?;
    let why = expect_kind(
        rollback_to(&st, &format!("{varlib}@s2"), Strategy::Swap),
        ErrorKind::Busy,
    )?;
    ensure!(why.contains(&varlib), "{why}");
    ensure!(
        varlib_dir.join("after2").exists() && ids(&st)?.len() == 2,
        "a refused swap changed something"
    );
    let auto = plan_of(&format!("{varlib}@s2"), Strategy::Auto)?;
    ensure!(
        auto.strategy == Some(Strategy::Copy),
        "auto picked {:?} for p/varlib with the store mounted inside it",
        auto.strategy
    );
    let r3 = ok(rollback::rollback(&st, &auto))?;
    ensure!(
        !varlib_dir.join("after2").exists(),
        "p/varlib was not rolled back to s2"
    );
    ensure!(
        mounted_on(&dir).as_deref() == Some(p.ds("flocker-core").as_str()),
        "the store was unmounted"
    );
    ensure!(
        ids(&st)? == [r1.id.clone(), r2.id.clone(), r3.id.clone()].into(),
        "records after the second rollback"
    );
    // Every stash verifies, and the restores work from the store.
    for v in ok(rollback::stash_list(&st))? {
        ensure!(v.verified, "stash {} does not verify", v.record.id);
    }
    ok(rollback::stash_restore(&st, &r3.id, Strategy::Auto))?;
    ensure!(
        varlib_dir.join("after2").exists(),
        "restore of r3 did not bring after2 back"
    );
    ok(rollback::stash_restore(&st, &r1.id, Strategy::Auto))?;
    ensure!(
        std::fs::read_to_string(b.join("data/v")).map_err(fail)? == "now",
        "restore of r1 lost data"
    );
    ensure!(
        mounted_on(&dir).as_deref() == Some(p.ds("flocker-core").as_str()),
        "the store was unmounted"
    );
    let left = ids(&st)?;
    ensure!(
        left.contains(&r2.id) && !left.contains(&r1.id) && !left.contains(&r3.id),
        "records at the end: {left:?}"
    );
    zfs(&["unmount", &p.ds("flocker-core")])?;
    Ok(())
}

/// (c) Errors: a missing pool, a second pool, an untrusted directory, a dataset not ours.
fn init_errors() -> TestResult {
    let p = TestPool::new("sterr", 256)?;
    let q = TestPool::new("sterq", 256)?;
    let b = base(&p)?;
    let pool = |n: &str| PoolName::new(n).map_err(fail);
    // A missing pool: NotFound; the CLI says so (exit 2); nothing created.
    let dir = b.join("a/flocker-core");
    expect_kind(
        rollback::init_dataset(&pool("nosuchpool4711")?, &dir),
        ErrorKind::NotFound,
    )?;
    let o = dv(&dir, &["store", "init", "nosuchpool4711"])?.expect(2, "init on a missing pool")?;
    ensure!(o.stderr.contains("nosuchpool4711"), "{}", o.stderr);
    ensure!(!dir.exists(), "a failed init created the directory");
    // Twice, then on another pool: the second is a no-op, the third refused (Exists).
    ok(rollback::init_dataset(&pool(p.name())?, &dir))?;
    ensure!(
        ok(rollback::init_dataset(&pool(p.name())?, &dir))?.already,
        "second init not a no-op"
    );
    let why = expect_kind(
        rollback::init_dataset(&pool(q.name())?, &dir),
        ErrorKind::Exists,
    )?;
    ensure!(why.contains(&p.ds("flocker-core")), "{why}");
    ensure!(
        zfs(&["list", &q.ds("flocker-core")]).is_err(),
        "created on the second pool"
    );
    zfs(&["unmount", &p.ds("flocker-core")])?;
    // An untrusted directory (another owner, or writable by others): PermissionDenied.
    for (tag, uid, mode) in [("owner", 1000, 0o700), ("mode", 0, 0o777)] {
        let d = b.join(format!("{tag}/flocker-core"));
        std::fs::create_dir_all(d.join("stash")).map_err(fail)?;
        std::os::unix::fs::chown(&d, Some(uid), Some(uid)).map_err(fail)?;
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(mode)).map_err(fail)?;
        expect_kind(
            rollback::init_dataset(&pool(q.name())?, &d),
            ErrorKind::PermissionDenied,
        )?;
        ensure!(
            std::fs::symlink_metadata(&d).is_ok_and(|m| m.is_dir()),
            "{tag}: the directory moved"
        );
        dv(&d, &["store", "init", q.name()])?.expect(1, "init of an untrusted directory")?;
    }
    ensure!(
        mounted_on(&b.join("owner/flocker-core")).is_none(),
        "mounted on an untrusted directory"
    );
    // q/flocker-core made by someone else, holding a file: not taken over (Exists).
    zfs(&[
        "create",
        "-o",
        &format!("mountpoint={}", b.join("forged").display()),
        &q.ds("flocker-core"),
    ])?;
    write(&b.join("forged/dataset.json"), "{}")?;
    zfs(&["unmount", &q.ds("flocker-core")])?;
    let d = b.join("c/flocker-core");
    let st = ok(Store::open(&d))?;
    drop(ok(st.lock())?);
    let why = expect_kind(
        rollback::init_dataset(&pool(q.name())?, &d),
        ErrorKind::Exists,
    )?;
    ensure!(why.contains("not empty"), "{why}");
    ensure!(
        mounted_on(&d).is_none() && set_aside(&d)?.is_empty(),
        "the store moved onto a dataset not ours"
    );
    Ok(())
}

/// A stash record for the fault test (not of a real rollback: only its file matters here).
fn record(id: &str) -> Result<StashRecord, Failed> {
    ok(StashRecord::new(
        id,
        SnapshotName::new("tank/x@a").map_err(fail)?,
        1,
        Strategy::Copy,
        DatasetName::new(format!("tank/flocker-stash/{id}")).map_err(fail)?,
        2,
    ))
}

fn at(step: usize, e: Failed) -> Failed {
    fail(format!("step {step}: {}", e.message().unwrap_or("failed")))
}

/// A fault before every step of the migration: the store reads the same records right after
/// (from the old directory, or the dataset once the names were exchanged), and running `init`
/// again finishes the job.
fn init_fault_at_every_step() -> TestResult {
    for step in 1..=rollback::INIT_STEPS {
        let p = TestPool::new(&format!("stf{step}"), 128)?;
        let b = base(&p)?;
        let dir = b.join("flocker-core");
        let st = ok(Store::open(&dir))?;
        let want: BTreeSet<String> = ["20261206T100000-aaaaaa", "20261206T100001-bbbbbb"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        for id in &want {
            ok(st.put_record(&record(id)?))?;
        }
        let pool = PoolName::new(p.name()).map_err(fail)?;
        rollback::set_init_fault(Some(step));
        let r = rollback::init_dataset(&pool, &dir);
        rollback::set_init_fault(None);
        expect_kind(r, ErrorKind::Interrupted).map_err(|e| at(step, e))?;
        let after = ok(Store::open(&dir))
            .and_then(|s| ids(&s))
            .map_err(|e| at(step, e))?;
        ensure!(
            after == want,
            "step {step}: after the fault the store reads {after:?}"
        );
        let r = ok(rollback::init_dataset(&pool, &dir)).map_err(|e| at(step, e))?;
        ensure!(!r.already, "step {step}: the second run did nothing");
        check_migrated(p.name(), &dir, &want).map_err(|e| at(step, e))?;
        ensure!(
            ok(rollback::init_dataset(&pool, &dir))?.already,
            "step {step}: third run not a no-op"
        );
        zfs(&["unmount", &p.ds("flocker-core")])?;
    }
    Ok(())
}

fn main() {
    run(vec![
        zfs_test(
            "store::init_migrates_a_directory_store",
            init_migrates_a_directory_store,
        ),
        zfs_test(
            "store::survives_a_rollback_of_var_lib",
            survives_a_rollback_of_var_lib,
        ),
        zfs_test("store::init_errors", init_errors),
        zfs_test("store::init_fault_at_every_step", init_fault_at_every_step),
    ]);
}
