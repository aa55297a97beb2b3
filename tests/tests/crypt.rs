//! Lab tests of rollback, stash restore and stash drop on encrypted datasets (issue 18, part 4),
//! with a passphrase key and a raw key, on a dataset that is its own encryption root and on one
//! that inherits its key. `datavault` does the work; the `zfs` CLI is the oracle: snapshot
//! GUIDs, where the stash lives, and `encryptionroot`, `keylocation`, `keyformat`, `keystatus`
//! of the dataset and of its encryption root, which no operation may change.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use flocker_core::error::ErrorKind;
use flocker_core::name::SnapshotName;
use flocker_core::rollback::{self, Blocker, Store, Strategy};
use flocker_tests::{
    Failed, TestPool, TestResult, ensure, example_bin, fail, read_text as read, run,
    snapshot_guids as snaps, write_synced as write, zfs, zfs_exists as exists, zfs_guids, zfs_test,
};

fn main() {
    run(vec![
        zfs_test("crypt::own_root_passphrase", || own_root(Key::Passphrase)),
        zfs_test("crypt::own_root_raw_key", || own_root(Key::Raw)),
        zfs_test("crypt::inheriting_passphrase", || {
            inheriting(Key::Passphrase)
        }),
        zfs_test("crypt::inheriting_raw_key", || inheriting(Key::Raw)),
        zfs_test("crypt::own_root_copy_without_the_key", own_root_without_key),
        zfs_test(
            "crypt::inheriting_without_the_key_is_refused",
            inheriting_without_key,
        ),
        zfs_test("crypt::tree_round_trip", tree_round_trip),
    ]);
}

// ---------------------------------------------------------------------------------------
// Helpers

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    Passphrase,
    Raw,
}

/// The encryption properties the oracle compares before and after each operation.
const CRYPT_PROPS: &str = "encryptionroot,keylocation,keyformat,keystatus";

/// Every dataset and snapshot of the pool with its GUID.
fn everything(pool: &str) -> Result<BTreeMap<String, String>, Failed> {
    zfs_guids(pool, "all")
}

/// `property=value` of [`CRYPT_PROPS`] for each of `names`.
fn crypt_props(names: &[&str]) -> Result<Vec<String>, Failed> {
    let mut args = vec!["get", "-H", "-o", "name,property,value", CRYPT_PROPS];
    args.extend_from_slice(names);
    Ok(zfs(&args)?.lines().map(str::to_string).collect())
}

fn ok<T>(r: flocker_core::error::Result<T>) -> Result<T, Failed> {
    r.map_err(|e| fail(format!("unexpected error: {e} (kind {:?})", e.kind())))
}

/// A stash as `stash list --json` reports it: id, stash dataset, `(name, guid)` of each
/// stashed snapshot.
type StashRow = (String, String, Vec<(String, String)>);

/// A pool, a private store and key files.
struct Fix {
    pool: TestPool,
    store: PathBuf,
    keys: PathBuf,
}

impl Fix {
    fn new(tag: &str) -> Result<Fix, Failed> {
        let pool = TestPool::new(tag, 384)?;
        let base = PathBuf::from(format!("/var/tmp/flocker-crypt/{}", pool.name()));
        let _ = std::fs::remove_dir_all(&base);
        let keys = base.join("keys");
        std::fs::create_dir_all(&keys).map_err(fail)?;
        std::fs::write(keys.join("pass"), "correct horse battery staple\n").map_err(fail)?;
        let mut raw = [0u8; 32];
        for (i, b) in raw.iter_mut().enumerate() {
            *b = (i as u8).wrapping_mul(37).wrapping_add(11);
        }
        std::fs::write(keys.join("raw"), raw).map_err(fail)?;
        Ok(Fix {
            store: base.join("store"),
            pool,
            keys,
        })
    }

    fn ds(&self, rel: &str) -> String {
        self.pool.ds(rel)
    }

    fn mnt(&self, rel: &str) -> String {
        format!("/var/tmp/flocker-crypt/{}/m/{rel}", self.pool.name())
    }

    /// Creates `pool/rel`, its own encryption root with `key`, mounted at [`Fix::mnt`].
    fn create_root(&self, rel: &str, key: Key) -> Result<String, Failed> {
        let ds = self.ds(rel);
        let (format, file) = match key {
            Key::Passphrase => ("passphrase", "pass"),
            Key::Raw => ("raw", "raw"),
        };
        let loc = format!("keylocation=file://{}", self.keys.join(file).display());
        let mp = format!("mountpoint={}", self.mnt(rel));
        zfs(&[
            "create",
            "-o",
            "encryption=on",
            "-o",
            &format!("keyformat={format}"),
            "-o",
            &loc,
            "-o",
            &mp,
            &ds,
        ])?;
        Ok(ds)
    }

    /// Snapshots a, b, c of `ds` (file `v` = "a", "b", "c"), then "now" unsnapshotted.
    fn history(&self, ds: &str) -> TestResult {
        let dir = zfs(&["get", "-H", "-o", "value", "mountpoint", ds])?
            .trim()
            .to_string();
        for s in ["a", "b", "c"] {
            write(&format!("{dir}/v"), s)?;
            zfs(&["snapshot", &format!("{ds}@{s}")])?;
        }
        write(&format!("{dir}/v"), "now")
    }

    fn content(&self, ds: &str) -> Result<String, Failed> {
        let dir = zfs(&["get", "-H", "-o", "value", "mountpoint", ds])?
            .trim()
            .to_string();
        read(&format!("{dir}/v"))
    }

    fn dv(&self, args: &[&str]) -> Result<std::process::Output, Failed> {
        Command::new(example_bin("datavault")?)
            .args(args)
            .env("FLOCKER_STORE", &self.store)
            .stdin(Stdio::null())
            .output()
            .map_err(fail)
    }

    fn dv_ok(&self, args: &[&str]) -> Result<String, Failed> {
        let o = self.dv(args)?;
        ensure!(
            o.status.success(),
            "datavault {args:?}: {:?}\n{}{}",
            o.status.code(),
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        Ok(String::from_utf8_lossy(&o.stdout).into_owned())
    }

    /// The stashes `datavault stash list --json` reports: `(id, stash dataset, [(name, guid)])`.
    fn stashes(&self) -> Result<Vec<StashRow>, Failed> {
        let out = self.dv_ok(&["stash", "list", "--json"])?;
        let v: serde_json::Value = serde_json::from_str(&out).map_err(fail)?;
        let mut list = Vec::new();
        for s in v.as_array().cloned().unwrap_or_default() {
            let snaps = s["snapshots"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .map(|x| {
                    let g = match &x["guid"] {
                        serde_json::Value::String(g) => g.clone(),
                        g => g.to_string(),
                    };
                    (x["name"].as_str().unwrap_or_default().to_string(), g)
                })
                .collect();
            list.push((
                s["id"].as_str().unwrap_or_default().to_string(),
                s["stash_dataset"].as_str().unwrap_or_default().to_string(),
                snaps,
            ));
        }
        Ok(list)
    }

    fn store(&self) -> Result<Store, Failed> {
        ok(Store::open(self.store.clone()))
    }
}

impl Drop for Fix {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(format!("/var/tmp/flocker-crypt/{}", self.pool.name()));
    }
}

/// One round trip on the encrypted `fs` (history a, b, c, "now"; encryption root `root`):
/// `datavault rollback fs@a --strategy <strategy>` → content "a", every newer snapshot GUID and
/// the pre-rollback state in the one new stash, which lives under `container`; the encryption
/// properties of `fs`, `root` and the stash unchanged (the stash's root is `root`); `stash
/// restore` → every original GUID and "now" back; `stash drop` of the stash the restore left
/// and of a second rollback destroys exactly those stashes.
fn round_trip(f: &Fix, fs: &str, root: &str, container: &str, strategy: &str) -> TestResult {
    let what = format!("{fs} ({strategy})");
    let before = snaps(fs)?;
    let crypt_before = crypt_props(&[fs, root])?;
    let target = format!("{fs}@a");
    f.dv_ok(&["rollback", &target, "--strategy", strategy, "--yes"])?;
    ensure!(f.content(fs)? == "a", "{what}: content after the rollback");
    ensure!(
        crypt_props(&[fs, root])? == crypt_before,
        "{what}: encryption properties changed by the rollback: {:?} → {:?}",
        crypt_before,
        crypt_props(&[fs, root])?
    );
    let now = snaps(fs)?;
    ensure!(
        now.len() == 1 && now.get("a") == before.get("a"),
        "{what}: snapshots after the rollback {now:?}"
    );
    let list = f.stashes()?;
    ensure!(list.len() == 1, "{what}: stashes {list:?}");
    let (id, stash, recorded) = list[0].clone();
    ensure!(
        stash.starts_with(&format!("{container}/")),
        "{what}: stash {stash} not under {container}"
    );
    let in_stash = snaps(&stash)?;
    for s in ["b", "c"] {
        ensure!(
            in_stash.get(s) == before.get(s),
            "{what}: {s} (GUID {:?}) not in the stash {in_stash:?}",
            before.get(s)
        );
    }
    ensure!(
        recorded.len() == 3 && in_stash.keys().any(|k| k.starts_with("flocker-pre-")),
        "{what}: stash record {recorded:?}, stash {in_stash:?}"
    );
    let stash_root = zfs(&["get", "-H", "-o", "value", "encryptionroot", &stash])?;
    ensure!(
        stash_root.trim() == root,
        "{what}: the stash's encryption root is {stash_root:?}, not {root}"
    );
    // Restore: everything back, with the same GUIDs and the pre-rollback content.
    f.dv_ok(&["stash", "restore", &id, "--yes"])?;
    let after = snaps(fs)?;
    for (k, g) in &before {
        ensure!(
            after.get(k) == Some(g),
            "{what}: {k} not restored: {after:?}"
        );
    }
    ensure!(f.content(fs)? == "now", "{what}: content after the restore");
    ensure!(
        crypt_props(&[fs, root])? == crypt_before,
        "{what}: encryption properties changed by the restore"
    );
    ensure!(!exists(&stash), "{what}: {stash} left after the restore");
    // Drop the stash the restore made, then roll back again and drop that stash: exactly the
    // stash goes each time.
    for (other, ostash, _) in f.stashes()? {
        drop_exactly(f, &other, &ostash, &what)?;
    }
    f.dv_ok(&[
        "rollback",
        &format!("{fs}@b"),
        "--strategy",
        strategy,
        "--yes",
    ])?;
    let list = f.stashes()?;
    ensure!(
        list.len() == 1,
        "{what}: stashes after the second rollback {list:?}"
    );
    drop_exactly(f, &list[0].0, &list[0].1, &what)?;
    ensure!(f.content(fs)? == "b", "{what}: content after the drop");
    ensure!(
        crypt_props(&[fs, root])? == crypt_before,
        "{what}: encryption properties changed by the drop"
    );
    Ok(())
}

/// `datavault stash drop id`: afterwards the pool holds exactly what it held before, minus the
/// stash dataset `stash`, its snapshots and its bookmarks.
fn drop_exactly(f: &Fix, id: &str, stash: &str, what: &str) -> TestResult {
    let before = everything(f.pool.name())?;
    f.dv_ok(&["stash", "drop", id, "--yes"])?;
    let after = everything(f.pool.name())?;
    let expected: BTreeMap<String, String> = before
        .into_iter()
        .filter(|(n, _)| {
            n != stash
                && !n.starts_with(&format!("{stash}@"))
                && !n.starts_with(&format!("{stash}#"))
        })
        .collect();
    ensure!(
        after == expected,
        "{what}: drop of {id} changed more than {stash}: {after:?} vs {expected:?}"
    );
    Ok(())
}

/// `datavault rollback fs@a --strategy <s>` is refused (exit 3) naming `why`, and nothing
/// changed; the library's plan is refused with `kind`.
fn refused(f: &Fix, fs: &str, strategy: Strategy, kind: ErrorKind, why: &str) -> TestResult {
    let before = everything(f.pool.name())?;
    let target = format!("{fs}@a");
    let o = f.dv(&[
        "rollback",
        &target,
        "--strategy",
        &strategy.to_string(),
        "--yes",
    ])?;
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    ensure!(
        o.status.code() == Some(3) && err.contains(why),
        "{fs} {strategy}: exit {:?}, stderr {err:?}",
        o.status.code()
    );
    let plan = ok(rollback::plan_rollback(
        &SnapshotName::new(&target).map_err(fail)?,
        strategy,
    ))?;
    ensure!(
        plan.blockers.first().map(Blocker::error_kind) == Some(kind),
        "{fs} {strategy}: blockers {:?}",
        plan.blockers
    );
    match rollback::rollback(&f.store()?, &plan) {
        Err(e) if e.kind() == kind => {}
        other => return Err(fail(format!("{fs} {strategy}: {other:?}"))),
    }
    ensure!(
        everything(f.pool.name())? == before,
        "{fs} {strategy}: a refused rollback changed the pool"
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Tests

/// A dataset that is its own encryption root: `auto` and `copy` round-trip (raw streams, the
/// stash in the pool's container, rooted at the dataset); `swap` is refused.
fn own_root(key: Key) -> TestResult {
    let f = Fix::new("cro")?;
    let container = f.ds("flocker-stash");
    for (i, strategy) in ["auto", "copy"].iter().enumerate() {
        let fs = f.create_root(&format!("r{i}"), key)?;
        f.history(&fs)?;
        let plan = ok(rollback::plan_rollback(
            &SnapshotName::new(format!("{fs}@a")).map_err(fail)?,
            strategy.parse().map_err(fail)?,
        ))?;
        ensure!(
            plan.strategy == Some(Strategy::Copy),
            "{fs} {strategy}: {plan}"
        );
        round_trip(&f, &fs, &fs, &container, strategy)?;
    }
    let fs = f.create_root("rs", key)?;
    f.history(&fs)?;
    refused(
        &f,
        &fs,
        Strategy::Swap,
        ErrorKind::NotSupported,
        "own encryption root",
    )?;
    ensure!(f.content(&fs)? == "now", "refused swap changed the content");
    Ok(())
}

/// A dataset that inherits its key: `auto` (a swap: nothing uses the mount), `swap` and
/// `copy` round-trip with the stash under `<root>/flocker-stash`, which the first rollback
/// creates (encrypted with the root's key).
fn inheriting(key: Key) -> TestResult {
    let f = Fix::new("cri")?;
    for (i, strategy) in ["auto", "swap", "copy"].iter().enumerate() {
        let root = f.create_root(&format!("e{i}"), key)?;
        let fs = format!("{root}/fs");
        zfs(&["create", &fs])?;
        f.history(&fs)?;
        let plan = ok(rollback::plan_rollback(
            &SnapshotName::new(format!("{fs}@a")).map_err(fail)?,
            strategy.parse().map_err(fail)?,
        ))?;
        let want = if *strategy == "copy" {
            Strategy::Copy
        } else {
            Strategy::Swap
        };
        ensure!(plan.strategy == Some(want), "{fs} {strategy}: {plan}");
        let container = format!("{root}/flocker-stash");
        ensure!(
            !exists(&container),
            "{container} exists before the rollback"
        );
        round_trip(&f, &fs, &root, &container, strategy)?;
        let c = crypt_props(&[&container])?;
        ensure!(
            c.iter()
                .any(|l| l.ends_with(&format!("encryptionroot\t{root}"))),
            "{container}: {c:?}"
        );
    }
    Ok(())
}

/// An encryption root whose key is not loaded (so not mounted): `copy` works with raw streams
/// and leaves the key unloaded; loading the key shows the target's content; restore (raw
/// receive back) brings every snapshot back, still without the key.
fn own_root_without_key() -> TestResult {
    let f = Fix::new("crk")?;
    let fs = f.create_root("r", Key::Raw)?;
    f.history(&fs)?;
    let before = snaps(&fs)?;
    zfs(&["unmount", &fs])?;
    zfs(&["unload-key", &fs])?;
    let crypt_before = crypt_props(&[&fs])?;
    ensure!(
        crypt_before
            .iter()
            .any(|l| l.ends_with("keystatus\tunavailable")),
        "{crypt_before:?}"
    );
    f.dv_ok(&["rollback", &format!("{fs}@a"), "--yes"])?;
    ensure!(crypt_props(&[&fs])? == crypt_before, "key state changed");
    let list = f.stashes()?;
    ensure!(list.len() == 1, "stashes {list:?}");
    let in_stash = snaps(&list[0].1)?;
    ensure!(
        in_stash.get("b") == before.get("b") && in_stash.get("c") == before.get("c"),
        "stash {in_stash:?}"
    );
    f.dv_ok(&["stash", "restore", &list[0].0, "--yes"])?;
    ensure!(
        crypt_props(&[&fs])? == crypt_before,
        "key state changed by restore"
    );
    let after = snaps(&fs)?;
    ensure!(
        before.iter().all(|(k, g)| after.get(k) == Some(g)),
        "{after:?}"
    );
    zfs(&["load-key", &fs])?;
    zfs(&["mount", &fs])?;
    ensure!(f.content(&fs)? == "now", "content after load-key");
    Ok(())
}

/// A dataset that inherits its key from a root whose key is not loaded: every strategy is
/// refused with `KeyNotLoaded`, nothing changed.
fn inheriting_without_key() -> TestResult {
    let f = Fix::new("crn")?;
    let root = f.create_root("e", Key::Passphrase)?;
    let fs = format!("{root}/fs");
    zfs(&["create", &fs])?;
    f.history(&fs)?;
    zfs(&["unmount", &root])?;
    zfs(&["unload-key", &root])?;
    for s in [Strategy::Auto, Strategy::Swap, Strategy::Copy] {
        refused(&f, &fs, s, ErrorKind::KeyNotLoaded, "is not loaded")?;
    }
    zfs(&["load-key", &root])?;
    zfs(&["mount", &root])?;
    zfs(&["mount", &fs])?;
    ensure!(f.content(&fs)? == "now", "content changed");
    Ok(())
}

/// A tree (issue 18, part 1) that is encrypted: the root `E` is its own encryption root
/// (passphrase), `E/a` and `E/a/b` inherit its key. `rollback -r` to the recursive `E@a` (auto:
/// the root copies, the members swap) puts every newer snapshot GUID of every member into that
/// member's stash, which keeps `E`'s key and which retention takes for a stash (`<id>-K` under
/// `E/flocker-stash`); the encryption properties never change; the tree's restore brings every
/// GUID and the unsnapshotted content back; dropping the replaced states destroys exactly their
/// stashes.
fn tree_round_trip() -> TestResult {
    let f = Fix::new("crtree")?;
    let root = f.create_root("E", Key::Passphrase)?;
    let members = [root.clone(), format!("{root}/a"), format!("{root}/a/b")];
    zfs(&["create", &members[1]])?;
    zfs(&["create", &members[2]])?;
    let dirs: Vec<String> = members
        .iter()
        .map(|m| {
            Ok(zfs(&["get", "-H", "-o", "value", "mountpoint", m])?
                .trim()
                .to_string())
        })
        .collect::<Result<_, Failed>>()?;
    for s in ["a", "b", "c", "now"] {
        for d in &dirs {
            write(&format!("{d}/v"), s)?;
        }
        if s != "now" {
            zfs(&["snapshot", "-r", &format!("{root}@{s}")])?;
        }
    }
    let before: Vec<BTreeMap<String, String>> =
        members.iter().map(|m| snaps(m)).collect::<Result<_, _>>()?;
    let refs: Vec<&str> = members.iter().map(String::as_str).collect();
    let crypt_before = crypt_props(&refs)?;
    let st = f.store()?;
    let target = SnapshotName::new(format!("{root}@a")).map_err(fail)?;
    let plan = ok(rollback::plan_rollback_tree(&target, Strategy::Auto, false))?;
    ensure!(plan.is_runnable(), "not runnable: {:?}", plan.refusals());
    let strategies: Vec<Option<Strategy>> = plan.members.iter().map(|m| m.strategy).collect();
    ensure!(
        strategies
            == [
                Some(Strategy::Copy),
                Some(Strategy::Swap),
                Some(Strategy::Swap)
            ],
        "strategies {strategies:?}"
    );
    let done = ok(rollback::rollback_tree(&st, &plan))?;
    for (k, m) in members.iter().enumerate() {
        ensure!(f.content(m)? == "a", "{m}: content after the rollback");
        let now = snaps(m)?;
        ensure!(
            now.len() == 1 && now.get("a") == before[k].get("a"),
            "{m}: snapshots after the rollback {now:?}"
        );
    }
    ensure!(
        crypt_props(&refs)? == crypt_before,
        "encryption properties changed by the rollback"
    );
    let recs = ok(rollback::member_records(&st, &done))?;
    ensure!(recs.len() == 3, "{} member records", recs.len());
    for r in &recs {
        let k = members
            .iter()
            .position(|m| m.as_str() == r.dataset.as_str())
            .ok_or_else(|| fail(format!("a record of {}", r.dataset)))?;
        let stash = r.stash_dataset.as_str();
        let in_stash = snaps(stash)?;
        for s in ["b", "c"] {
            ensure!(
                in_stash.get(s) == before[k].get(s),
                "{}: {s} not in its stash {stash}: {in_stash:?}",
                members[k]
            );
        }
        let stash_root = zfs(&["get", "-H", "-o", "value", "encryptionroot", stash])?;
        ensure!(
            stash_root.trim() == root,
            "{stash}: encryption root {stash_root:?}, not {root}"
        );
        ensure!(
            rollback::is_stash_dataset(stash),
            "retention would not take {stash} for a stash"
        );
        if k > 0 {
            ensure!(
                stash.starts_with(&format!("{root}/flocker-stash/")),
                "{stash} is not under {root}/flocker-stash"
            );
        }
    }
    let newer = ok(rollback::stash_restore_tree(&st, &done.id, Strategy::Auto))?;
    for (k, m) in members.iter().enumerate() {
        let after = snaps(m)?;
        for (n, g) in &before[k] {
            ensure!(after.get(n) == Some(g), "{m}: {n} not restored: {after:?}");
        }
        ensure!(f.content(m)? == "now", "{m}: content after the restore");
    }
    ensure!(
        crypt_props(&refs)? == crypt_before,
        "encryption properties changed by the restore"
    );
    let replaced = ok(rollback::member_records(&st, &newer))?;
    ok(rollback::stash_drop_tree(&st, &newer.id))?;
    for r in &replaced {
        ensure!(
            !exists(r.stash_dataset.as_str()),
            "{} not destroyed by the drop",
            r.stash_dataset
        );
    }
    ensure!(ok(st.records())?.is_empty(), "records left after the drop");
    for (k, m) in members.iter().enumerate() {
        let after = snaps(m)?;
        ensure!(
            before[k].iter().all(|(n, g)| after.get(n) == Some(g)),
            "{m}: snapshots lost by the drop: {after:?}"
        );
        ensure!(f.content(m)? == "now", "{m}: content after the drop");
    }
    ensure!(
        crypt_props(&refs)? == crypt_before,
        "encryption properties changed by the drop"
    );
    Ok(())
}
