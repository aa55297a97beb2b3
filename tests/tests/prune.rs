//! The `prune` example binary (examples/src/bin/prune.rs) against real pools, with the `zfs`
//! CLI as the oracle: dry runs change nothing and explain every snapshot, real runs destroy
//! exactly what the dry run said (names and GUIDs), the safety rules hold (newest, holds,
//! clones, pins, stashes), batches are capped (checked in the pool's ioctl history), and bad
//! input changes nothing. Ownership: by default the policy owns only DataVault's `dv-`
//! snapshots, so other tools' and manual ones survive any policy and are reported as
//! `foreign (kept)`; `--match` widens that (a full match) and `--all` plans everything, loudly.
//! The fixtures of the older tests (`s1`.., `c1`.., `n1`..) are owned through `--match`
//! (see [`prune`]).
//!
//! The binary is found in `FLOCKER_BIN_DIR` (set by `cargo xtask test`), else next to the
//! test binary's `deps/` directory. Snapshots made here are all seconds old, so the policies
//! are count-based (`min=`) or the plan is made a day or two ahead with `--now`; no test
//! depends on timing.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;

use flocker_core::name::{DatasetName, SnapshotName};
use flocker_core::rollback::{
    self, DatasetKind, Journal, JournalOp, LiveState, SnapshotState, StashRecord, StashedSnapshot,
    Store, Strategy,
};
use flocker_core::snapshot::Snapshot;
use flocker_tests::{
    Failed, Out, TestPool, TestResult, ensure, example_bin, fail, run, sh, zfs_test,
};
use serde_json::Value;

fn main() {
    run(vec![
        zfs_test("dry_run_lists_everything_and_destroys_nothing", dry_run),
        zfs_test(
            "real_run_destroys_exactly_what_the_dry_run_said",
            real_matches_dry,
        ),
        zfs_test("newest_is_never_destroyed", newest_kept),
        zfs_test("held_snapshot_is_kept_and_reported", held_kept),
        zfs_test("snapshot_with_clone_is_kept", clone_kept),
        zfs_test(
            "held_or_cloned_meanwhile_is_skipped_rest_retried",
            skipped_meanwhile,
        ),
        zfs_test("batch_cap_is_respected", batch_cap),
        zfs_test("pin_property_pins", pin_property),
        zfs_test("recursive_plans_each_dataset", recursive),
        zfs_test("stashed_snapshots_are_kept", stashed),
        zfs_test(
            "interrupted_rollback_or_lock_blocks_real_run",
            journal_and_lock,
        ),
        zfs_test("bad_input_changes_nothing", bad_input),
        zfs_test("foreign_snapshots_are_kept_and_reported", foreign_kept),
        zfs_test("match_widens_ownership_with_a_full_match", match_widens),
        zfs_test("all_plans_every_snapshot_and_warns", all_flag),
    ]);
}

// ---------------------------------------------------------------------------------------
// Helpers

/// The fixtures' own snapshot names (`s1`.., a child's `c1`.., a stash's `n1`..): not
/// DataVault's `dv-` names, so a policy owns them only through `--match`.
const FIXTURE_MATCH: &str = "[scn][0-9]+";

/// Runs prune. Unless the arguments choose what the policy owns themselves (`--match`,
/// `--all`), `--match FIXTURE_MATCH` is added, so that the policy owns the fixtures' snapshots.
fn prune(args: &[&str]) -> Result<Out, Failed> {
    let mut a = args.to_vec();
    let chosen = a
        .iter()
        .any(|x| *x == "--all" || *x == "--match" || x.starts_with("--match="));
    if !chosen {
        a.extend(["--match", FIXTURE_MATCH]);
    }
    Out::of(Command::new(example_bin("prune")?).args(&a))
}

/// Runs prune and requires exit status `want`.
fn prune_ok(args: &[&str], want: i32) -> Result<Out, Failed> {
    prune(args)?.expect(want, ("prune", args))
}

/// Runs prune with exactly these arguments (no `--match` added) and requires exit status
/// `want`.
fn prune_as_is(args: &[&str], want: i32) -> Result<Out, Failed> {
    Out::of(Command::new(example_bin("prune")?).args(args))?.expect(want, ("prune", args))
}

/// An RFC 3339 UTC instant `secs` from the guest's clock.
fn now_plus(secs: i64) -> String {
    let t = time::OffsetDateTime::now_utc() + time::Duration::seconds(secs);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

const DAY: i64 = 86_400;

/// The CLI's view: `name → guid` of the snapshots of `ds` and its descendants.
fn cli_snaps(ds: &str) -> Result<BTreeMap<String, String>, Failed> {
    let out = sh(
        "zfs",
        &["list", "-Hp", "-o", "name,guid", "-t", "snapshot", "-r", ds],
    )?;
    let mut m = BTreeMap::new();
    for line in out.lines().filter(|l| !l.is_empty()) {
        let (n, g) = line
            .split_once('\t')
            .ok_or_else(|| fail(format!("odd zfs list line {line:?}")))?;
        m.insert(n.to_string(), g.to_string());
    }
    Ok(m)
}

/// A pool with `pool/fs` and snapshots `s1..=sN`, plus a private stash-store path (not
/// created) so that parallel runs do not share the store's lock.
struct Fx {
    pool: TestPool,
    fs: String,
    store: PathBuf,
}

impl Fx {
    fn new(tag: &str, n: usize) -> Result<Fx, Failed> {
        let pool = TestPool::new(tag, 256)?;
        let fs = pool.ds("fs");
        sh("zfs", &["create", &fs])?;
        for i in 1..=n {
            sh("zfs", &["snapshot", &format!("{fs}@s{i}")])?;
        }
        let store = PathBuf::from("/var/tmp/flocker-prune-stores").join(pool.name());
        let _ = std::fs::remove_dir_all(&store);
        Ok(Fx { pool, fs, store })
    }

    fn snap(&self, i: usize) -> String {
        format!("{}@s{i}", self.fs)
    }

    fn store(&self) -> &str {
        self.store.to_str().unwrap_or("/nonexistent")
    }

    fn snaps(&self) -> Result<BTreeMap<String, String>, Failed> {
        cli_snaps(&self.fs)
    }

    /// The names (sorted) of the snapshots of `fs` still there.
    fn names(&self) -> Result<BTreeSet<String>, Failed> {
        Ok(self.snaps()?.into_keys().collect())
    }

    fn set(&self, idx: &[usize]) -> BTreeSet<String> {
        idx.iter().map(|&i| self.snap(i)).collect()
    }
}

impl Drop for Fx {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.store);
    }
}

/// `(name, guid)` of the snapshots of `ds` alone, in createtxg order (the CLI's view).
fn createtxg_rows(ds: &str) -> Result<Vec<(String, String)>, Failed> {
    let out = sh(
        "zfs",
        &[
            "list",
            "-Hp",
            "-o",
            "name,guid",
            "-t",
            "snapshot",
            "-s",
            "createtxg",
            "-d",
            "1",
            ds,
        ],
    )?;
    Ok(out
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(n, g)| (n.to_string(), g.to_string()))
        .collect())
}

/// `(name, guid)` of the report's entries, in their order.
fn entry_rows(v: &Value) -> Result<Vec<(String, String)>, Failed> {
    Ok(entries(v)?
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap_or("").to_string(),
                e["guid"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect())
}

fn entries(v: &Value) -> Result<&Vec<Value>, Failed> {
    v["entries"]
        .as_array()
        .ok_or_else(|| fail(format!("no entries array in {v}")))
}

fn entry<'a>(v: &'a Value, name: &str) -> Result<&'a Value, Failed> {
    entries(v)?
        .iter()
        .find(|e| e["name"] == name)
        .ok_or_else(|| fail(format!("no entry for {name}")))
}

/// `(name, guid)` of the entries with this decision.
fn decided(v: &Value, decision: &str) -> Result<BTreeMap<String, String>, Failed> {
    let mut m = BTreeMap::new();
    for e in entries(v)? {
        if e["decision"] == decision {
            let n = e["name"]
                .as_str()
                .ok_or_else(|| fail("entry without name"))?;
            let g = e["guid"]
                .as_str()
                .ok_or_else(|| fail("guid is not a string"))?;
            m.insert(n.to_string(), g.to_string());
        }
    }
    Ok(m)
}

/// The `protection` values of an entry's reasons.
fn protections(e: &Value) -> Vec<String> {
    e["reasons"]
        .as_array()
        .map(|rs| {
            rs.iter()
                .filter(|r| r["type"] == "protected")
                .filter_map(|r| r["protection"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn summary(v: &Value, key: &str) -> Result<u64, Failed> {
    v["summary"][key]
        .as_u64()
        .ok_or_else(|| fail(format!("summary.{key} missing in {}", v["summary"])))
}

// ---------------------------------------------------------------------------------------
// Scenarios

fn dry_run() -> TestResult {
    let fx = Fx::new("dry", 6)?;
    let before = fx.snaps()?;
    let now = now_plus(DAY);
    let args = [
        fx.fs.as_str(),
        "--keep",
        "min=2",
        "--now",
        &now,
        "--dry-run",
        "--json",
        "--store",
        fx.store(),
    ];
    let v = prune_ok(&args, 0)?.json()?;
    ensure!(fx.snaps()? == before, "a dry run changed the snapshots");
    ensure!(
        !fx.store.exists(),
        "a dry run created the stash store {}",
        fx.store.display()
    );

    // Every snapshot, in createtxg order, with the CLI's name and GUID.
    let es = entries(&v)?;
    let cli_rows = createtxg_rows(&fx.fs)?;
    let ours = entry_rows(&v)?;
    ensure!(
        ours == cli_rows,
        "entries {ours:?} differ from the CLI {cli_rows:?}"
    );
    for e in es {
        ensure!(
            e["reasons"].as_array().is_some_and(|r| !r.is_empty()),
            "entry without reasons: {e}"
        );
        ensure!(e["outcome"].is_null(), "a dry run reported an outcome: {e}");
        ensure!(e["createtxg"].as_u64().is_some(), "createtxg missing: {e}");
        ensure!(
            e["creation"].as_str().is_some_and(|c| c.ends_with('Z')),
            "creation not RFC 3339 UTC: {e}"
        );
    }
    let destroy: BTreeSet<String> = decided(&v, "destroy")?.into_keys().collect();
    ensure!(
        destroy == fx.set(&[1, 2, 3, 4]),
        "min=2 should destroy s1..s4, plan says {destroy:?}"
    );
    ensure!(
        v["policy"] == "min=2" && v["dry_run"] == true && v["now"] == now.as_str(),
        "header fields: policy {} dry_run {} now {}",
        v["policy"],
        v["dry_run"],
        v["now"]
    );
    ensure!(
        summary(&v, "destroy")? == 4
            && summary(&v, "keep")? == 2
            && summary(&v, "destroyed")? == 0
            && summary(&v, "calls")? == 0,
        "summary {}",
        v["summary"]
    );
    // Kept by min=: the reason says so, with its rank.
    let s6 = entry(&v, &fx.snap(6))?;
    ensure!(
        s6["reasons"]
            .as_array()
            .is_some_and(|rs| rs.iter().any(|r| r["by"] == "min" && r["rank"] == 1)),
        "s6 not kept as min #1: {s6}"
    );

    // The text form: one line per snapshot, and the totals.
    let o = prune_ok(
        &[
            fx.fs.as_str(),
            "--keep",
            "min=2",
            "--now",
            &now,
            "--dry-run",
            "--store",
            fx.store(),
        ],
        0,
    )?;
    for i in 1..=6 {
        let verb = if i <= 4 { "destroy" } else { "keep" };
        let name = fx.snap(i);
        ensure!(
            o.stdout
                .lines()
                .any(|l| l.starts_with(verb) && l.contains(&format!(" {name} "))),
            "no `{verb} {name}` line in:\n{}",
            o.stdout
        );
    }
    ensure!(
        o.stdout.contains("would destroy 4, keep 2"),
        "no totals in:\n{}",
        o.stdout
    );
    ensure!(
        fx.snaps()? == before,
        "the text dry run changed the snapshots"
    );
    Ok(())
}

fn real_matches_dry() -> TestResult {
    let fx = Fx::new("real", 8)?;
    let before = fx.snaps()?;
    let now = now_plus(DAY);
    // A calendar rule (first snapshot of each UTC day, 2 days) plus the 2 newest: at least
    // 4 of the 8 go, whichever days the snapshots fall on.
    let base = [
        fx.fs.as_str(),
        "--keep",
        "2x1d,min=2",
        "--tz",
        "UTC",
        "--now",
        &now,
        "--json",
        "--store",
        fx.store(),
    ];
    let mut dry_args = base.to_vec();
    dry_args.push("--dry-run");
    let dry = prune_ok(&dry_args, 0)?.json()?;
    let doomed = decided(&dry, "destroy")?;
    ensure!(
        doomed.len() >= 4,
        "expected at least 4 to destroy: {doomed:?}"
    );
    for (n, g) in &doomed {
        ensure!(
            before.get(n) == Some(g),
            "dry run names {n} with guid {g}, the CLI says {:?}",
            before.get(n)
        );
    }

    let real = prune_ok(&base, 0)?.json()?;
    ensure!(
        decided(&real, "destroy")? == doomed,
        "the real run planned differently"
    );
    for e in entries(&real)? {
        let want = if e["decision"] == "destroy" {
            Value::from("destroyed")
        } else {
            Value::Null
        };
        ensure!(e["outcome"] == want, "outcome of {}: {e}", e["name"]);
    }
    let after = fx.snaps()?;
    let mut expected = before.clone();
    expected.retain(|n, _| !doomed.contains_key(n));
    ensure!(
        after == expected,
        "after the run the CLI lists {after:?}, expected {expected:?}"
    );
    ensure!(
        summary(&real, "destroyed")? == doomed.len() as u64,
        "summary {}",
        real["summary"]
    );

    // Idempotence, in text mode: planning again at the same instant destroys nothing more.
    let mut text_args: Vec<&str> = base.iter().copied().filter(|a| *a != "--json").collect();
    text_args.push("-v");
    let o = prune_ok(&text_args, 0)?;
    ensure!(
        o.stdout.contains(&format!(
            "destroyed 0, kept {}, skipped 0, failed 0",
            expected.len()
        )),
        "second run:\n{}",
        o.stdout
    );
    ensure!(fx.snaps()? == expected, "the second run changed something");
    Ok(())
}

fn newest_kept() -> TestResult {
    let fx = Fx::new("new", 5)?;
    let now = now_plus(2 * DAY);
    // A window that keeps nothing two days later: only the safety rule keeps the newest.
    let args = [
        fx.fs.as_str(),
        "--keep",
        "within=1s",
        "--now",
        &now,
        "--store",
        fx.store(),
    ];
    let mut dry = args.to_vec();
    dry.extend(["--dry-run", "--json"]);
    let v = prune_ok(&dry, 0)?.json()?;
    let s5 = entry(&v, &fx.snap(5))?;
    ensure!(
        s5["decision"] == "keep" && protections(s5).contains(&"newest".to_string()),
        "newest not protected: {s5}"
    );
    ensure!(s5["expires"].is_null(), "the newest has an expiry: {s5}");
    let o = prune_ok(&args, 0)?;
    ensure!(
        o.stdout
            .contains("destroyed 4, kept 1, skipped 0, failed 0"),
        "summary:\n{}",
        o.stdout
    );
    ensure!(fx.names()? == fx.set(&[5]), "left: {:?}", fx.names()?);
    // Again: the newest stays, whatever the policy.
    prune_ok(&args, 0)?;
    ensure!(
        fx.names()? == fx.set(&[5]),
        "the newest went: {:?}",
        fx.names()?
    );
    Ok(())
}

fn held_kept() -> TestResult {
    let fx = Fx::new("hold", 5)?;
    sh("zfs", &["hold", "flocker-test", &fx.snap(2)])?;
    let now = now_plus(DAY);
    let args = [
        fx.fs.as_str(),
        "--keep",
        "min=1",
        "--now",
        &now,
        "--store",
        fx.store(),
    ];
    let mut dry = args.to_vec();
    dry.extend(["--dry-run", "--json"]);
    let v = prune_ok(&dry, 0)?.json()?;
    let s2 = entry(&v, &fx.snap(2))?;
    ensure!(
        s2["decision"] == "keep" && protections(s2) == ["held"],
        "held snapshot: {s2}"
    );
    // The real run reports it in its plan (-v) and keeps it.
    let mut verbose = args.to_vec();
    verbose.push("-v");
    let o = prune_ok(&verbose, 0)?;
    let line = format!("keep    {}  [protected: held", fx.snap(2));
    ensure!(o.stdout.contains(&line), "no {line:?} in:\n{}", o.stdout);
    ensure!(
        o.stdout
            .contains("destroyed 3, kept 2, skipped 0, failed 0"),
        "summary:\n{}",
        o.stdout
    );
    ensure!(fx.names()? == fx.set(&[2, 5]), "left: {:?}", fx.names()?);
    sh("zfs", &["release", "flocker-test", &fx.snap(2)])?;
    Ok(())
}

fn clone_kept() -> TestResult {
    let fx = Fx::new("clone", 5)?;
    let clone = fx.pool.ds("c");
    sh("zfs", &["clone", &fx.snap(3), &clone])?;
    let now = now_plus(DAY);
    let args = [
        fx.fs.as_str(),
        "--keep",
        "min=1",
        "--now",
        &now,
        "--json",
        "--store",
        fx.store(),
    ];
    let v = prune_ok(&args, 0)?.json()?;
    let s3 = entry(&v, &fx.snap(3))?;
    ensure!(
        s3["decision"] == "keep" && protections(s3) == ["has_clones"],
        "cloned snapshot: {s3}"
    );
    ensure!(summary(&v, "destroyed")? == 3, "summary {}", v["summary"]);
    ensure!(fx.names()? == fx.set(&[3, 5]), "left: {:?}", fx.names()?);
    Ok(())
}

/// `--debug-ignore-holds` plans as if there were no holds or clones, so the kernel refuses the
/// batches that contain them, exactly as when they appear between listing and destroying.
fn skipped_meanwhile() -> TestResult {
    let fx = Fx::new("race", 7)?;
    sh("zfs", &["hold", "flocker-test", &fx.snap(2)])?;
    sh("zfs", &["clone", &fx.snap(4), &fx.pool.ds("c")])?;
    let now = now_plus(DAY);
    let args = [
        fx.fs.as_str(),
        "--keep",
        "min=1",
        "--now",
        &now,
        "--batch",
        "3",
        "--debug-ignore-holds",
        "--store",
        fx.store(),
    ];
    let mut json_args = args.to_vec();
    json_args.push("--json");
    let v = prune_ok(&json_args, 0)?.json()?;
    let s2 = entry(&v, &fx.snap(2))?;
    ensure!(
        s2["decision"] == "destroy"
            && s2["outcome"] == "skipped"
            && s2["error"]["kind"] == "Held"
            && s2["error"]["errno"] == "EBUSY",
        "held one: {s2}"
    );
    let s4 = entry(&v, &fx.snap(4))?;
    ensure!(
        s4["outcome"] == "skipped"
            && s4["error"]["kind"] == "HasClones"
            && s4["error"]["errno"] == "EEXIST",
        "cloned one: {s4}"
    );
    for i in [1, 3, 5, 6] {
        let e = entry(&v, &fx.snap(i))?;
        ensure!(e["outcome"] == "destroyed", "s{i}: {e}");
    }
    ensure!(
        summary(&v, "destroyed")? == 4
            && summary(&v, "skipped")? == 2
            && summary(&v, "failed")? == 0,
        "summary {}",
        v["summary"]
    );
    ensure!(fx.names()? == fx.set(&[2, 4, 7]), "left: {:?}", fx.names()?);

    // The text form reports each skip on its own line, and still exits 0.
    sh("zfs", &["snapshot", &fx.snap(8)])?;
    let o = prune_ok(&args, 0)?;
    for (i, why) in [(2, "held"), (4, "has clones")] {
        let want = format!("skipped {}: {why}", fx.snap(i));
        ensure!(o.stdout.contains(&want), "no {want:?} in:\n{}", o.stdout);
    }
    ensure!(
        o.stdout
            .contains("destroyed 1, kept 1, skipped 2, failed 0"),
        "summary:\n{}",
        o.stdout
    );
    ensure!(fx.names()? == fx.set(&[2, 4, 8]), "left: {:?}", fx.names()?);
    sh("zfs", &["release", "flocker-test", &fx.snap(2)])?;
    Ok(())
}

/// `ioctl destroy_snaps` records of `zpool history -i`: the snapshot names of each call.
fn destroy_ioctls(pool: &str) -> Result<Vec<Vec<String>>, Failed> {
    let out = sh("zpool", &["history", "-i", pool])?;
    let mut calls: Vec<Vec<String>> = Vec::new();
    let mut inside = false;
    for line in out.lines() {
        if line.contains("ioctl destroy_snaps") {
            calls.push(Vec::new());
            inside = true;
        } else if !line.starts_with(' ') {
            inside = false;
        } else if inside {
            let t = line.trim().trim_matches('\'');
            if t.contains('@')
                && let Some(c) = calls.last_mut()
            {
                c.push(t.to_string());
            }
        }
    }
    Ok(calls)
}

fn batch_cap() -> TestResult {
    let fx = Fx::new("batch", 9)?;
    let now = now_plus(DAY);
    let v = prune_ok(
        &[
            fx.fs.as_str(),
            "--keep",
            "min=2",
            "--now",
            &now,
            "--batch",
            "2",
            "--json",
            "--store",
            fx.store(),
        ],
        0,
    )?
    .json()?;
    ensure!(
        summary(&v, "destroyed")? == 7 && summary(&v, "calls")? == 4,
        "7 snapshots in batches of 2 should take 4 calls: {}",
        v["summary"]
    );
    ensure!(fx.names()? == fx.set(&[8, 9]), "left: {:?}", fx.names()?);
    // The pool's own record of the ioctls: 4 calls of at most 2 names, oldest first.
    let calls = destroy_ioctls(fx.pool.name())?;
    ensure!(
        calls.len() == 4,
        "zpool history shows {} destroy_snaps calls: {calls:?}",
        calls.len()
    );
    ensure!(
        calls.iter().all(|c| !c.is_empty() && c.len() <= 2),
        "a call exceeded the cap: {calls:?}"
    );
    let flat: Vec<String> = calls.concat();
    let want: Vec<String> = (1..=7).map(|i| fx.snap(i)).collect();
    let mut sorted = flat.clone();
    sorted.sort();
    ensure!(sorted == want, "history names {flat:?}, expected s1..s7");
    // Oldest first across calls.
    let first_call: BTreeSet<&String> = calls[0].iter().collect();
    ensure!(
        first_call == [&want[0], &want[1]].into_iter().collect(),
        "first call was {:?}",
        calls[0]
    );
    Ok(())
}

fn pin_property() -> TestResult {
    let fx = Fx::new("pin", 5)?;
    sh("zfs", &["set", "com.example:keep=yes", &fx.snap(2)])?;
    sh("zfs", &["set", "com.example:keep=off", &fx.snap(3)])?;
    let now = now_plus(DAY);
    let v = prune_ok(
        &[
            fx.fs.as_str(),
            "--keep",
            "min=1",
            "--pin-property",
            "com.example:keep",
            "--now",
            &now,
            "--json",
            "--store",
            fx.store(),
        ],
        0,
    )?
    .json()?;
    ensure!(
        v["policy"] == "min=1,pin=com.example:keep",
        "policy {}",
        v["policy"]
    );
    let s2 = entry(&v, &fx.snap(2))?;
    let pinned = s2["reasons"].as_array().is_some_and(|rs| {
        rs.iter()
            .any(|r| r["protection"] == "pin_property" && r["property"] == "com.example:keep")
    });
    ensure!(s2["decision"] == "keep" && pinned, "pinned one: {s2}");
    let s3 = entry(&v, &fx.snap(3))?;
    ensure!(s3["outcome"] == "destroyed", "`off` must not pin: {s3}");
    ensure!(fx.names()? == fx.set(&[2, 5]), "left: {:?}", fx.names()?);
    Ok(())
}

fn recursive() -> TestResult {
    let fx = Fx::new("rec", 4)?;
    let child = format!("{}/child", fx.fs);
    sh("zfs", &["create", &child])?;
    for i in 1..=3 {
        sh("zfs", &["snapshot", &format!("{child}@c{i}")])?;
    }
    let now = now_plus(DAY);
    let v = prune_ok(
        &[
            fx.fs.as_str(),
            "-r",
            "--keep",
            "min=1",
            "--now",
            &now,
            "--json",
            "--store",
            fx.store(),
        ],
        0,
    )?
    .json()?;
    let ds: Vec<&str> = v["datasets"]
        .as_array()
        .map(|a| a.iter().filter_map(|d| d["name"].as_str()).collect())
        .unwrap_or_default();
    ensure!(ds == [fx.fs.as_str(), child.as_str()], "datasets {ds:?}");
    for e in entries(&v)? {
        let n = e["name"].as_str().unwrap_or("");
        ensure!(
            n.split('@').next() == e["dataset"].as_str(),
            "entry {n} in dataset {}",
            e["dataset"]
        );
    }
    // Each dataset keeps its own newest.
    let left: BTreeSet<String> = cli_snaps(&fx.fs)?.into_keys().collect();
    let want: BTreeSet<String> = [fx.snap(4), format!("{child}@c3")].into_iter().collect();
    ensure!(left == want, "left: {left:?}");
    Ok(())
}

fn stash_record(fx: &Fx, target: usize, extra_guid: u64) -> Result<StashRecord, Failed> {
    let snaps = fx.snaps()?;
    let guid = |n: &str| -> Result<u64, Failed> {
        snaps
            .get(n)
            .and_then(|g| g.parse().ok())
            .ok_or_else(|| fail(format!("no guid for {n}")))
    };
    let stash_dataset = format!("{}/flocker-stash/20260101T000000-abcdef", fx.pool.name());
    let mut r = StashRecord::new(
        "20260101T000000-abcdef",
        SnapshotName::new(fx.snap(target)).map_err(fail)?,
        guid(&fx.snap(target))?,
        Strategy::Copy,
        DatasetName::new(stash_dataset).map_err(fail)?,
        1,
    )
    .map_err(fail)?;
    r.snapshots = vec![StashedSnapshot::new("elsewhere", extra_guid)];
    r.created = time::OffsetDateTime::from_unix_timestamp(1_767_225_600).map_err(fail)?;
    Ok(r)
}

fn stashed() -> TestResult {
    let fx = Fx::new("stash", 5)?;
    // A record naming s2 as a stash's target, and s3's GUID among its snapshots.
    let s3_guid: u64 = fx
        .snaps()?
        .get(&fx.snap(3))
        .and_then(|g| g.parse().ok())
        .ok_or_else(|| fail("no guid for s3"))?;
    let store = Store::open(&fx.store).map_err(fail)?;
    store
        .put_record(&stash_record(&fx, 2, s3_guid)?)
        .map_err(fail)?;
    let now = now_plus(DAY);
    let v = prune_ok(
        &[
            fx.fs.as_str(),
            "--keep",
            "min=1",
            "--now",
            &now,
            "--json",
            "--store",
            fx.store(),
        ],
        0,
    )?
    .json()?;
    for i in [2, 3] {
        let e = entry(&v, &fx.snap(i))?;
        ensure!(
            e["decision"] == "keep" && protections(e) == ["stashed"],
            "s{i}: {e}"
        );
    }
    ensure!(fx.names()? == fx.set(&[2, 3, 5]), "left: {:?}", fx.names()?);

    // Snapshots inside the stash container are never destroyed, records or not.
    let container = fx.pool.ds(rollback::STASH_CONTAINER);
    let inner = format!("{container}/x");
    sh("zfs", &["create", "-p", &inner])?;
    for i in 1..=3 {
        sh("zfs", &["snapshot", &format!("{inner}@n{i}")])?;
    }
    let before = cli_snaps(&container)?;
    let v = prune_ok(
        &[
            container.as_str(),
            "-r",
            "--keep",
            "min=1",
            "--now",
            &now,
            "--json",
            "--store",
            fx.store(),
        ],
        0,
    )?
    .json()?;
    ensure!(
        summary(&v, "destroy")? == 0,
        "stash snapshots planned for destruction: {}",
        v["summary"]
    );
    for e in entries(&v)? {
        ensure!(
            protections(e).contains(&"stashed".to_string()),
            "not protected as stashed: {e}"
        );
    }
    ensure!(cli_snaps(&container)? == before, "stash snapshots changed");
    Ok(())
}

fn journal_and_lock() -> TestResult {
    let fx = Fx::new("jrnl", 4)?;
    let before = fx.snaps()?;
    let now = now_plus(DAY);
    let args = [
        fx.fs.as_str(),
        "--keep",
        "min=1",
        "--now",
        &now,
        "--store",
        fx.store(),
    ];
    let store = Store::open(&fx.store).map_err(fail)?;

    // Another flocker operation holds the lock: refused, nothing changed.
    {
        let _lock = store.lock().map_err(fail)?;
        let o = prune_ok(&args, 1)?;
        ensure!(o.stderr.contains("cannot lock"), "stderr: {}", o.stderr);
        ensure!(fx.snaps()? == before, "ran while the store was locked");
    }

    // An interrupted rollback of this dataset awaits recovery: a real run is refused, a dry run
    // warns.
    let state_of = |ds: &str| -> Result<LiveState, Failed> {
        let snap = |name: &str, txg: u64| -> Result<SnapshotState, Failed> {
            let name = SnapshotName::new(format!("{ds}@{name}")).map_err(fail)?;
            let at = time::OffsetDateTime::UNIX_EPOCH;
            Ok(SnapshotState::new(
                Snapshot::from_parts(name, txg, txg, at),
                0,
            ))
        };
        let dataset = DatasetName::new(ds).map_err(fail)?;
        let mut state = LiveState::new(dataset, 1, DatasetKind::Filesystem);
        state.snapshots = vec![snap("s1", 10)?, snap("s2", 20)?];
        state.available = 1 << 30;
        Ok(state)
    };
    let state = state_of(&fx.fs)?;
    // An uncommitted rollback of `state`'s dataset to s1, interrupted before its first step.
    let journal = |state: &LiveState, id: &str| -> Result<Journal, Failed> {
        Ok(Journal::new(
            JournalOp::Rollback,
            rollback::plan(state, "s1", Strategy::Copy, id).map_err(fail)?,
            None,
        ))
    };
    store
        .put_journal(&journal(&state, "20260101T000000-abcdef")?)
        .map_err(fail)?;
    let o = prune_ok(&args, 1)?;
    ensure!(
        o.stderr.contains("awaits recovery") && o.stderr.lines().count() == 1,
        "stderr: {}",
        o.stderr
    );
    ensure!(fx.snaps()? == before, "ran despite the journal");
    let mut dry = args.to_vec();
    dry.extend(["--dry-run", "--json"]);
    let v = prune_ok(&dry, 0)?.json()?;
    ensure!(
        v["warnings"].as_array().is_some_and(|w| w
            .iter()
            .any(|x| x.as_str().is_some_and(|s| s.contains("awaits recovery")))),
        "no warning: {}",
        v["warnings"]
    );
    store
        .clear_journal("20260101T000000-abcdef")
        .map_err(fail)?;
    // An interrupted rollback of another dataset of the pool does not block this one.
    let other = state_of(&format!("{}/other", fx.pool.name()))?;
    store
        .put_journal(&journal(&other, "20260101T000000-bbbbbb")?)
        .map_err(fail)?;
    prune_ok(&args, 0)?;
    ensure!(fx.names()? == fx.set(&[4]), "left: {:?}", fx.names()?);
    store
        .clear_journal("20260101T000000-bbbbbb")
        .map_err(fail)?;
    Ok(())
}

fn bad_input() -> TestResult {
    let fx = Fx::new("bad", 3)?;
    let before = fx.snaps()?;
    let now = now_plus(DAY);
    let bad_ds = format!("{}//fs", fx.pool.name());
    let snap_as_ds = fx.snap(1);
    let fs = fx.fs.as_str();
    let st = fx.store();
    // (arguments, expected exit status, text the one-line error must contain)
    let cases: Vec<(Vec<&str>, i32, &str)> = vec![
        (
            vec![fs, "--keep", "48x1h,30x1q", "--store", st],
            2,
            "unknown unit at byte 10: \"q\"",
        ),
        (vec![fs, "--keep", "", "--store", st], 2, "empty"),
        (
            vec![bad_ds.as_str(), "--keep", "min=1", "--store", st],
            2,
            "bad dataset name",
        ),
        (
            vec![snap_as_ds.as_str(), "--keep", "min=1", "--store", st],
            2,
            "bad dataset name",
        ),
        (
            vec![fs, "--keep", "min=1", "--tz", "Mars/Base", "--store", st],
            2,
            "unknown time zone",
        ),
        (
            vec![fs, "--keep", "min=1", "--now", "yesterday", "--store", st],
            2,
            "bad --now",
        ),
        (
            vec![
                fs,
                "--keep",
                "min=1",
                "--pin-property",
                "Bad",
                "--store",
                st,
            ],
            2,
            "bad --pin-property",
        ),
        (
            vec![fs, "--keep", "min=1", "--match", "syncoid_(", "--store", st],
            2,
            "bad regex \"syncoid_(\": unclosed group",
        ),
        (
            vec![fs, "--keep", "min=1", "--match", "", "--store", st],
            2,
            "bad regex \"\": empty",
        ),
    ];
    for (args, code, text) in &cases {
        let mut a = args.clone();
        if !a.contains(&"--now") {
            a.extend(["--now", now.as_str()]);
        }
        let o = prune_ok(&a, *code)?;
        ensure!(
            o.stderr.lines().count() == 1 && o.stderr.contains(text),
            "prune {a:?}: wanted one line with {text:?}, got: {}",
            o.stderr
        );
        ensure!(o.stdout.is_empty(), "prune {a:?} printed: {}", o.stdout);
        ensure!(fx.snaps()? == before, "prune {a:?} changed the snapshots");
        ensure!(!fx.store.exists(), "prune {a:?} created the stash store");
    }
    // clap's own refusals (exit 2).
    let o = prune_ok(&[fs, "--keep", "min=1", "--batch", "0", "--store", st], 2)?;
    ensure!(o.stderr.contains("--batch"), "stderr: {}", o.stderr);
    prune_ok(&[fs, "--store", st], 2)?;
    // --all and --match exclude each other, whatever the order.
    for args in [
        [
            fs, "--keep", "min=1", "--all", "--match", "s1", "--store", st,
        ],
        [
            fs, "--keep", "min=1", "--match", "s1", "--all", "--store", st,
        ],
    ] {
        let o = prune_ok(&args, 2)?;
        ensure!(
            o.stderr.contains("cannot be used with") && o.stdout.is_empty(),
            "prune {args:?}: {}",
            o.stderr
        );
    }
    ensure!(fx.snaps()? == before, "a refused run changed the snapshots");
    ensure!(!fx.store.exists(), "a refused run created the stash store");

    // An unknown dataset (valid name): ZFS says not found, exit 1, nothing changed.
    let missing = fx.pool.ds("nope");
    let o = prune_ok(
        &[
            missing.as_str(),
            "--keep",
            "min=1",
            "--now",
            &now,
            "--store",
            st,
        ],
        1,
    )?;
    ensure!(
        o.stderr.lines().count() == 1
            && o.stderr.contains("cannot list the snapshots of")
            && o.stderr.contains("not found"),
        "stderr: {}",
        o.stderr
    );
    ensure!(
        fx.snaps()? == before,
        "the unknown dataset run changed the snapshots"
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Ownership: DataVault's snapshots and other tools'

/// DataVault's names, and other tools' (a manual one, syncoid's, a `flocker-snap` one),
/// interleaved in this order: dv, foreign, dv, foreign, dv, foreign (the newest is foreign).
const DV: [&str; 3] = [
    "dv-20261201T000000Z",
    "dv-20261201T010000Z",
    "dv-20261201T020000Z",
];
const FOREIGN: [&str; 3] = [
    "before-upgrade",
    "syncoid_host_2026-12-01:00:00:00-GMT00:00",
    "monday",
];

/// A pool with `pool/fs` holding the snapshots of [`DV`] and [`FOREIGN`], interleaved.
fn mixed(tag: &str) -> Result<Fx, Failed> {
    let fx = Fx::new(tag, 0)?;
    for (d, f) in DV.iter().zip(FOREIGN) {
        sh("zfs", &["snapshot", &format!("{}@{d}", fx.fs)])?;
        sh("zfs", &["snapshot", &format!("{}@{f}", fx.fs)])?;
    }
    Ok(fx)
}

impl Fx {
    /// `pool/fs@short`.
    fn at(&self, short: &str) -> String {
        format!("{}@{short}", self.fs)
    }

    /// `pool/fs@short` for each.
    fn set_of(&self, shorts: &[&str]) -> BTreeSet<String> {
        shorts.iter().map(|s| self.at(s)).collect()
    }
}

/// `before` without the snapshots named (the CLI's `name → guid`).
fn without(before: &BTreeMap<String, String>, gone: &BTreeSet<String>) -> BTreeMap<String, String> {
    let mut m = before.clone();
    m.retain(|n, _| !gone.contains(n));
    m
}

/// The names of the entries with this decision.
fn decided_names(v: &Value, decision: &str) -> Result<BTreeSet<String>, Failed> {
    Ok(decided(v, decision)?.into_keys().collect())
}

fn foreign_kept() -> TestResult {
    let fx = mixed("own")?;
    let before = fx.snaps()?;
    let now = now_plus(DAY);
    let base = [
        fx.fs.as_str(),
        "--keep",
        "min=1",
        "--now",
        &now,
        "--store",
        fx.store(),
    ];

    foreign_dry_runs(&fx, &base)?;
    ensure!(fx.snaps()? == before, "a dry run changed the snapshots");

    // The real run destroys exactly the two older dv- snapshots; the CLI, by GUID, agrees.
    let mut real = base.to_vec();
    real.push("--json");
    let v = prune_as_is(&real, 0)?.json()?;
    let expected = without(&before, &fx.set_of(&DV[..2]));
    ensure!(
        fx.snaps()? == expected,
        "after the run the CLI lists {:?}, expected {expected:?}",
        fx.snaps()?
    );
    for f in FOREIGN {
        let e = entry(&v, &fx.at(f))?;
        ensure!(
            e["decision"] == "foreign" && e["outcome"].is_null(),
            "{f}: {e}"
        );
    }
    ensure!(
        summary(&v, "destroyed")? == 2 && summary(&v, "foreign")? == 3,
        "summary {}",
        v["summary"]
    );

    // Again, in text: nothing more goes.
    let o = prune_as_is(&base, 0)?;
    ensure!(
        o.stdout
            .contains("destroyed 0, kept 1, skipped 0, failed 0, kept 3 foreign"),
        "second run:\n{}",
        o.stdout
    );
    ensure!(fx.snaps()? == expected, "the second run changed something");
    Ok(())
}

/// The JSON and text dry runs of `base` (policy `min=1`) on [`mixed`]: every snapshot in
/// createtxg order, the foreign ones as foreign (kept), the dv- ones planned.
fn foreign_dry_runs(fx: &Fx, base: &[&str]) -> TestResult {
    let mut dry = base.to_vec();
    dry.extend(["--dry-run", "--json"]);
    let v = prune_as_is(&dry, 0)?.json()?;
    let cli_rows = createtxg_rows(&fx.fs)?;
    let ours = entry_rows(&v)?;
    ensure!(
        ours == cli_rows,
        "entries {ours:?} differ from the CLI {cli_rows:?}"
    );
    for f in FOREIGN {
        let e = entry(&v, &fx.at(f))?;
        ensure!(
            e["decision"] == "foreign"
                && e["reasons"]
                    == serde_json::json!([{"type": "foreign", "text": "foreign (kept)"}])
                && e["outcome"].is_null()
                && e["expires"].is_null(),
            "{f}: {e}"
        );
    }
    // min=1 and the newest protection see only DataVault's snapshots: the newest of those
    // stays, although a foreign one is newer.
    ensure!(
        decided_names(&v, "destroy")? == fx.set_of(&DV[..2])
            && decided_names(&v, "keep")? == fx.set_of(&DV[2..])
            && decided_names(&v, "foreign")? == fx.set_of(&FOREIGN),
        "plan: {}",
        v["entries"]
    );
    ensure!(
        summary(&v, "snapshots")? == 6
            && summary(&v, "keep")? == 1
            && summary(&v, "destroy")? == 2
            && summary(&v, "foreign")? == 3,
        "summary {}",
        v["summary"]
    );
    ensure!(
        v["ownership"]["all"] == false
            && v["ownership"]["match"].is_null()
            && v["warnings"].as_array().is_some_and(Vec::is_empty),
        "ownership {} warnings {}",
        v["ownership"],
        v["warnings"]
    );

    // The text dry run: a `foreign` line for each, and the totals.
    let mut text = base.to_vec();
    text.push("--dry-run");
    let o = prune_as_is(&text, 0)?;
    for f in FOREIGN {
        let name = fx.at(f);
        ensure!(
            o.stdout.lines().any(|l| l.starts_with("foreign ")
                && l.contains(&format!(" {name} "))
                && l.contains("[foreign (kept)]")),
            "no foreign line for {name} in:\n{}",
            o.stdout
        );
    }
    ensure!(
        o.stdout
            .contains("would destroy 2, keep 1, kept 3 foreign (of 6 snapshots)"),
        "totals:\n{}",
        o.stdout
    );
    ensure!(o.stderr.is_empty(), "stderr: {}", o.stderr);
    Ok(())
}

fn match_widens() -> TestResult {
    let fx = mixed("match")?;
    let before = fx.snaps()?;
    let now = now_plus(DAY);
    let run = |regex: &str, dry: bool| -> Result<Value, Failed> {
        let mut a = vec![
            fx.fs.as_str(),
            "--keep",
            "min=1",
            "--match",
            regex,
            "--now",
            &now,
            "--json",
            "--store",
            fx.store(),
        ];
        if dry {
            a.push("--dry-run");
        }
        prune_as_is(&a, 0)?.json()
    };

    // A full match: `before` and `sync.*` own neither before-upgrade nor the syncoid one.
    for regex in ["before", "sync", "upgrade", "onda"] {
        let v = run(regex, true)?;
        ensure!(
            decided_names(&v, "foreign")? == fx.set_of(&FOREIGN),
            "--match {regex}: {}",
            v["entries"]
        );
    }

    // syncoid's and monday owned: monday is now the newest owned snapshot (kept), the
    // syncoid one and every dv- one go; before-upgrade stays foreign.
    let v = run("syncoid_.*|monday", false)?;
    ensure!(
        v["ownership"]["match"] == "syncoid_.*|monday",
        "ownership {}",
        v["ownership"]
    );
    let gone: BTreeSet<String> = fx.set_of(&[DV[0], DV[1], DV[2], FOREIGN[1]]);
    ensure!(
        decided_names(&v, "destroy")? == gone
            && decided_names(&v, "keep")? == fx.set_of(&[FOREIGN[2]])
            && decided_names(&v, "foreign")? == fx.set_of(&[FOREIGN[0]]),
        "plan: {}",
        v["entries"]
    );
    let expected = without(&before, &gone);
    ensure!(
        fx.snaps()? == expected,
        "after --match the CLI lists {:?}, expected {expected:?}",
        fx.snaps()?
    );
    Ok(())
}

fn all_flag() -> TestResult {
    let fx = mixed("all")?;
    let before = fx.snaps()?;
    let now = now_plus(DAY);
    let base = [
        fx.fs.as_str(),
        "--keep",
        "min=1",
        "--all",
        "--now",
        &now,
        "--store",
        fx.store(),
    ];
    let loud = |o: &Out| -> TestResult {
        let lines: Vec<&str> = o.stderr.lines().collect();
        ensure!(
            lines.len() == 1
                && lines[0].starts_with("prune: warning: --all: every snapshot of ")
                && lines[0].contains(&fx.fs)
                && lines[0].contains("other tools"),
            "stderr: {}",
            o.stderr
        );
        Ok(())
    };

    // The JSON dry run: everything planned, the warning first in `warnings` and on stderr.
    let mut dry = base.to_vec();
    dry.extend(["--dry-run", "--json"]);
    let o = prune_as_is(&dry, 0)?;
    loud(&o)?;
    let v = o.json()?;
    ensure!(
        v["ownership"]["all"] == true
            && v["warnings"][0]
                .as_str()
                .is_some_and(|w| w.starts_with("--all: every snapshot of")),
        "ownership {} warnings {}",
        v["ownership"],
        v["warnings"]
    );
    ensure!(
        decided_names(&v, "foreign")?.is_empty() && summary(&v, "foreign")? == 0,
        "foreign entries with --all: {}",
        v["entries"]
    );
    let keep = fx.set_of(&[FOREIGN[2]]);
    let all: BTreeSet<String> = before.keys().cloned().collect();
    let gone: BTreeSet<String> = all.difference(&keep).cloned().collect();
    ensure!(
        decided_names(&v, "destroy")? == gone && decided_names(&v, "keep")? == keep,
        "plan: {}",
        v["entries"]
    );
    ensure!(fx.snaps()? == before, "a dry run changed the snapshots");

    // The text dry run says it too.
    let mut text = base.to_vec();
    text.push("--dry-run");
    let o = prune_as_is(&text, 0)?;
    loud(&o)?;
    ensure!(
        o.stdout.contains("owns every snapshot (--all)")
            && o.stdout.lines().any(
                |l| l.starts_with("destroy") && l.contains(&format!(" {} ", fx.at(FOREIGN[0])))
            ),
        "text plan:\n{}",
        o.stdout
    );

    // The real run destroys foreign snapshots too: only the newest of all is left.
    let o = prune_as_is(&base, 0)?;
    loud(&o)?;
    ensure!(
        o.stdout
            .contains("destroyed 5, kept 1, skipped 0, failed 0"),
        "summary:\n{}",
        o.stdout
    );
    let expected = without(&before, &gone);
    ensure!(
        fx.snaps()? == expected,
        "after --all the CLI lists {:?}, expected {expected:?}",
        fx.snaps()?
    );
    Ok(())
}
