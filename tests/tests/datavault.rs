//! The DataVault service (`datavault snapshot|list|prune|run`, examples/src/bin/datavault/)
//! against real pools, with the `zfs` CLI as the oracle: a snapshot of several datasets is one
//! transaction group and `-r` takes the descendants; `list --json` matches the pool and the
//! policy; `prune` removes exactly what its plan says; `run` on a stepped clock builds hourly
//! history and thins it; a restart does not snapshot twice; a clock that jumps back neither
//! duplicates nor destroys history; SIGTERM stops it cleanly; bad input changes nothing;
//! `list`, `prune`, `run` and the `prune` tool never destroy or count snapshots they do not own
//! (a manual one, syncoid's, `flocker-snap`'s) and report them as `foreign (kept)`;
//! `skip_empty` takes no snapshot of an idle dataset and one after a write; a missing dataset
//! does not stop the others and is tried again; `status` exits 0/1/2 with freshness; under
//! systemd the lines carry journald priorities and READY=1 reaches the notify socket; between
//! cycles the service sleeps without waking.
//!
//! No test depends on timing: history is built on the service's stepped clock
//! (`--clock-start T --clock-step 1h`), or from snapshots named by the scheme with chosen
//! times; the one test on the real clock (SIGTERM) waits for events with a bound and says what
//! hung.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use flocker_core::name::SnapshotName;
use flocker_core::retention::{Decision, RetentionPolicy, SnapshotFacts, TimeZone};
use flocker_tests::{
    Failed, Out, TestPool, TestResult, ensure, example_bin, fail, host_test, run, sh, zfs_test,
};
use time::OffsetDateTime;

fn main() {
    run(vec![
        zfs_test(
            "datavault::snapshot_is_one_txg_and_r_takes_descendants",
            snapshot_one_txg,
        ),
        zfs_test("datavault::list_json_matches_pool_and_policy", list_json),
        zfs_test(
            "datavault::a_snapshot_has_one_json_shape_in_list_and_flocker_ls",
            one_json_shape,
        ),
        zfs_test(
            "datavault::prune_removes_exactly_what_the_plan_says",
            prune_exact,
        ),
        zfs_test("datavault::run_stepped_clock_builds_and_thins", run_builds),
        zfs_test("datavault::restart_does_not_snapshot_twice", restart),
        zfs_test(
            "datavault::clock_back_no_duplicates_no_lost_history",
            clock_back,
        ),
        zfs_test("datavault::sigterm_stops_cleanly", sigterm),
        zfs_test(
            "datavault::accelerated_clock_one_snapshot_per_slot",
            accelerated,
        ),
        zfs_test("datavault::bad_input_changes_nothing", bad_input),
        zfs_test(
            "datavault::foreign_snapshots_survive_prune_and_run",
            foreign_survive,
        ),
        zfs_test(
            "datavault::skip_empty_idle_takes_none_a_write_takes_one",
            skip_empty,
        ),
        zfs_test("datavault::at_is_local_time_once_a_day", at_local),
        zfs_test(
            "datavault::missing_dataset_does_not_stop_the_others",
            missing_dataset,
        ),
        zfs_test(
            "datavault::status_exit_codes_follow_freshness",
            status_codes,
        ),
        zfs_test(
            "datavault::under_systemd_priorities_and_notify",
            under_systemd,
        ),
        zfs_test("datavault::pre_post_pair_carries_properties", pre_post_pair),
        zfs_test(
            "datavault::service_hooks_around_the_snapshot",
            service_hooks,
        ),
        host_test("datavault::apt_hook_file_shape", apt_hook_shape),
        zfs_test("datavault::apt_hook_brackets_with_a_pair", apt_hook_pair),
    ]);
}

// ---------------------------------------------------------------------------------------
// Helpers

/// A pool with a private stash store.
struct Fix {
    pool: TestPool,
    store: PathBuf,
}

impl Fix {
    fn new(tag: &str) -> Result<Fix, Failed> {
        let pool = TestPool::new(tag, 256)?;
        let store = PathBuf::from(format!("/var/tmp/flocker-pools/{}-store", pool.name()));
        let _ = std::fs::remove_dir_all(&store);
        Ok(Fix { pool, store })
    }

    fn ds(&self, rel: &str) -> String {
        self.pool.ds(rel)
    }

    fn create(&self, rel: &str) -> Result<String, Failed> {
        let d = self.ds(rel);
        sh("zfs", &["create", "-p", &d])?;
        Ok(d)
    }

    fn dv(&self, args: &[&str]) -> Result<Out, Failed> {
        Out::of(
            Command::new(example_bin("datavault")?)
                .args(args)
                .env("FLOCKER_STORE", &self.store),
        )
    }

    fn dv_ok(&self, args: &[&str]) -> Result<Out, Failed> {
        self.dv(args)?.expect(0, ("datavault", args))
    }

    /// Writes a config file for this pool and returns its path.
    fn config(&self, body: &str) -> Result<String, Failed> {
        let p = format!("/var/tmp/flocker-pools/{}.toml", self.pool.name());
        std::fs::write(&p, body).map_err(fail)?;
        Ok(p)
    }
}

impl Drop for Fix {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.store);
        let _ = std::fs::remove_file(format!("/var/tmp/flocker-pools/{}.toml", self.pool.name()));
    }
}

/// One snapshot as the CLI sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Cli {
    name: String,
    guid: String,
    createtxg: u64,
    creation: i64,
    used: u64,
    referenced: u64,
}

/// `name → Cli` for the snapshots of `ds` and its descendants.
fn cli(ds: &str) -> Result<BTreeMap<String, Cli>, Failed> {
    let out = sh(
        "zfs",
        &[
            "list",
            "-Hp",
            "-t",
            "snapshot",
            "-o",
            "name,guid,createtxg,creation,used,referenced",
            "-r",
            ds,
        ],
    )?;
    let mut m = BTreeMap::new();
    for line in out.lines().filter(|l| !l.is_empty()) {
        let f: Vec<&str> = line.split('\t').collect();
        ensure!(f.len() == 6, "unexpected zfs list line {line:?}");
        let num = |s: &str| s.parse::<u64>().map_err(|e| fail(format!("{s:?}: {e}")));
        m.insert(
            f[0].to_string(),
            Cli {
                name: f[0].to_string(),
                guid: f[1].to_string(),
                createtxg: num(f[2])?,
                creation: f[3].parse().map_err(fail)?,
                used: num(f[4])?,
                referenced: num(f[5])?,
            },
        );
    }
    Ok(m)
}

fn names(ds: &str) -> Result<BTreeSet<String>, Failed> {
    Ok(cli(ds)?.into_keys().collect())
}

/// Short names of the snapshots of `ds` alone.
fn shorts(ds: &str) -> Result<BTreeSet<String>, Failed> {
    Ok(names(ds)?
        .into_iter()
        .filter_map(|n| n.strip_prefix(&format!("{ds}@")).map(ToString::to_string))
        .collect())
}

/// `dv-YYYYMMDDTHHMMSSZ` → Unix seconds (the scheme, parsed independently of the binary).
fn scheme_time(short: &str) -> Option<i64> {
    let r = short.strip_prefix("dv-")?;
    if r.len() != 16 || &r[8..9] != "T" || &r[15..] != "Z" {
        return None;
    }
    let n = |a: usize, b: usize| r.get(a..b)?.parse::<u32>().ok();
    let month = time::Month::try_from(u8::try_from(n(4, 6)?).ok()?).ok()?;
    let date = time::Date::from_calendar_date(
        i32::try_from(n(0, 4)?).ok()?,
        month,
        u8::try_from(n(6, 8)?).ok()?,
    )
    .ok()?;
    let tod = time::Time::from_hms(
        u8::try_from(n(9, 11)?).ok()?,
        u8::try_from(n(11, 13)?).ok()?,
        u8::try_from(n(13, 15)?).ok()?,
    )
    .ok()?;
    let t = time::PrimitiveDateTime::new(date, tod).assume_utc();
    Some(t.unix_timestamp())
}

fn fmt_t(secs: i64) -> Result<String, Failed> {
    let t = OffsetDateTime::from_unix_timestamp(secs).map_err(fail)?;
    Ok(format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    ))
}

fn dv_name(secs: i64) -> Result<String, Failed> {
    Ok(format!("dv-{}", fmt_t(secs)?.replace(['-', ':'], "")))
}

/// 2026-01-01T00:00:00Z.
const T0: i64 = 1_767_225_600;
const H: i64 = 3600;

// ---------------------------------------------------------------------------------------
// Tests

fn snapshot_one_txg() -> TestResult {
    let f = Fix::new("dvsnap")?;
    let a = f.create("a")?;
    let b = f.create("b")?;
    let c = f.create("b/c")?;
    let o = f.dv_ok(&["snapshot", &a, &b, "--json"])?;
    let v = o.json()?;
    let short = v["name"].as_str().unwrap_or("").to_string();
    ensure!(
        scheme_time(&short).is_some(),
        "name {short:?} is not dv-<UTC>"
    );
    let listed: BTreeSet<String> = v["snapshots"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|x| x.as_str().map(String::from))
        .collect();
    let want: BTreeSet<String> = [format!("{a}@{short}"), format!("{b}@{short}")].into();
    ensure!(listed == want, "printed {listed:?}, wanted {want:?}");
    let all = cli(f.pool.name())?;
    ensure!(
        all.keys().cloned().collect::<BTreeSet<_>>() == want,
        "pool has {:?}, wanted {want:?} (no snapshot of {c})",
        all.keys()
    );
    let txgs: BTreeSet<u64> = all.values().map(|s| s.createtxg).collect();
    ensure!(txgs.len() == 1, "createtxg differ: {all:?}");
    // The name is the time it was taken, within the creation second or close to it.
    let t = scheme_time(&short).unwrap_or(0);
    let cr = all.values().map(|s| s.creation).max().unwrap_or(0);
    ensure!((cr - t).abs() <= 5, "name time {t} vs creation {cr}");

    // -r: b and b/c, one txg, and a untouched.
    let o = f.dv_ok(&["snapshot", "-r", &b])?;
    ensure!(
        o.stdout.contains("one lzc_snapshot call"),
        "text output: {}",
        o.stdout
    );
    let after = cli(f.pool.name())?;
    let new: Vec<&Cli> = after
        .values()
        .filter(|s| !all.contains_key(&s.name))
        .collect();
    let new_ds: BTreeSet<&str> = new
        .iter()
        .filter_map(|s| s.name.split('@').next())
        .collect();
    ensure!(new_ds == [b.as_str(), c.as_str()].into(), "-r made {new:?}");
    ensure!(
        new.iter()
            .map(|s| s.createtxg)
            .collect::<BTreeSet<_>>()
            .len()
            == 1,
        "-r snapshots differ in createtxg: {new:?}"
    );
    ensure!(
        new.iter()
            .all(|s| s.name.split('@').nth(1).and_then(scheme_time).is_some()),
        "-r names {new:?}"
    );
    Ok(())
}

/// Snapshots of `ds` named by the scheme at T0 + h hours for each h, plus one manual one.
fn history(ds: &str, hours: &[i64]) -> Result<(), Failed> {
    for h in hours {
        sh(
            "zfs",
            &["snapshot", &format!("{ds}@{}", dv_name(T0 + h * H)?)],
        )?;
    }
    Ok(())
}

fn list_json() -> TestResult {
    let f = Fix::new("dvlist")?;
    let a = f.create("a")?;
    history(&a, &[0, 1, 2, 3, 5, 8, 24, 25])?;
    sh("zfs", &["snapshot", &format!("{a}@manual")])?;
    let now = T0 + 26 * H;
    let policy = "3x1h,1x1d,min=1";
    // `manual` is not a DataVault name: `--match` makes the policy own it, as the independent
    // plan below does.
    let o = f.dv_ok(&[
        "list",
        &a,
        "--keep",
        policy,
        "--match",
        "manual",
        "--tz",
        "UTC",
        "--now",
        &fmt_t(now)?,
        "--json",
    ])?;
    let v = o.json()?;
    let pool = cli(&a)?;
    let snaps = v["snapshots"].as_array().cloned().unwrap_or_default();
    ensure!(
        snaps.len() == pool.len(),
        "list shows {} snapshots, the pool has {}",
        snaps.len(),
        pool.len()
    );
    // Independent plan: the scheme's time for dv- names, creation for the others.
    let mut facts = Vec::new();
    for s in pool.values() {
        let short = s.name.split('@').nth(1).unwrap_or("");
        let t = scheme_time(short).unwrap_or(s.creation);
        let g: u64 = s.guid.parse().map_err(fail)?;
        facts.push(SnapshotFacts::new(
            SnapshotName::new(&s.name).map_err(fail)?,
            g,
            s.createtxg,
            OffsetDateTime::from_unix_timestamp(t).map_err(fail)?,
        ));
    }
    facts.sort_by_key(|x| x.createtxg());
    let p: RetentionPolicy = policy.parse().map_err(fail)?;
    let plan = p.plan(
        &facts,
        OffsetDateTime::from_unix_timestamp(now).map_err(fail)?,
        &TimeZone::UTC,
    );
    for x in &snaps {
        let name = x["name"].as_str().unwrap_or("");
        let c = pool
            .get(name)
            .ok_or_else(|| fail(format!("list shows {name}, not in the pool")))?;
        ensure!(
            x["guid"] == c.guid.as_str()
                && x["createtxg"] == c.createtxg
                && x["used"] == c.used
                && x["referenced"] == c.referenced,
            "{name}: list {x} vs zfs {c:?}"
        );
        let e = plan
            .entries
            .iter()
            .find(|e| e.name == name)
            .ok_or_else(|| fail(format!("{name} not planned")))?;
        let want = match e.decision {
            Decision::Keep => "keep",
            Decision::Destroy => "destroy",
        };
        ensure!(
            x["decision"] == want,
            "{name}: list says {}, plan {want}",
            x["decision"]
        );
        let short = name.split('@').nth(1).unwrap_or("");
        let src = if scheme_time(short).is_some() {
            "name"
        } else {
            "creation"
        };
        ensure!(
            x["time_source"] == src,
            "{name}: time_source {}",
            x["time_source"]
        );
        if e.decision == Decision::Keep {
            ensure!(
                x["kept_by"].as_array().is_some_and(|a| !a.is_empty()),
                "{name}: kept without a reason: {x}"
            );
        }
    }
    // Hand-checked: 3x1h keeps the three newest hours with snapshots (8h, 24h, 25h), 1x1d
    // the first of day 2 (24h); the manual snapshot is newest and dated after --now.
    for (h, want) in [
        (0, "destroy"),
        (1, "destroy"),
        (5, "destroy"),
        (8, "keep"),
        (24, "keep"),
        (25, "keep"),
    ] {
        let n = format!("{a}@{}", dv_name(T0 + h * H)?);
        ensure!(
            snaps
                .iter()
                .any(|x| x["name"] == n.as_str() && x["decision"] == want),
            "{n} should be {want}: {}",
            o.stdout
        );
    }
    ensure!(v["policy"] == policy, "policy {}", v["policy"]);
    ensure!(
        v["stashes"].as_array().is_some_and(Vec::is_empty),
        "stashes"
    );
    // list of one snapshot
    let one = format!("{a}@{}", dv_name(T0 + 24 * H)?);
    let o = f.dv_ok(&["list", &one, "--json"])?;
    let v = o.json()?;
    ensure!(
        v["snapshots"].as_array().map(Vec::len) == Some(1)
            && v["snapshots"][0]["name"] == one.as_str(),
        "list {one}: {}",
        o.stdout
    );
    Ok(())
}

/// A snapshot row of `datavault list --json` and of `flocker-ls --json` share one shape: the
/// guid a decimal string, `creation` RFC 3339 UTC, sizes numbers; each matches the pool.
fn one_json_shape() -> TestResult {
    let f = Fix::new("dvshape")?;
    let a = f.create("a")?;
    history(&a, &[0, 1, 2])?;
    sh("zfs", &["snapshot", &format!("{a}@manual")])?;
    let dv = f.dv_ok(&["list", &a, "--json"])?.json()?;
    let ls = Out::of(
        Command::new(example_bin("flocker-ls")?).args(["-t", "snapshot", "-r", "--json", &a]),
    )?
    .expect(0, "flocker-ls")?
    .json()?;
    let pool = cli(&a)?;
    let rows = |v: &serde_json::Value| v.as_array().cloned().unwrap_or_default();
    let (dv_rows, ls_rows) = (rows(&dv["snapshots"]), rows(&ls["snapshots"]));
    ensure!(
        dv_rows.len() == pool.len() && ls_rows.len() == pool.len(),
        "list {} rows, flocker-ls {}, pool {}",
        dv_rows.len(),
        ls_rows.len(),
        pool.len()
    );
    let shared = [
        "name",
        "guid",
        "createtxg",
        "creation",
        "used",
        "referenced",
        "written",
    ];
    for x in &dv_rows {
        let name = x["name"].as_str().unwrap_or("");
        let y = ls_rows
            .iter()
            .find(|y| y["name"] == name)
            .ok_or_else(|| fail(format!("{name} not in flocker-ls")))?;
        for k in shared {
            ensure!(
                x[k] == y[k],
                "{name}: {k} is {} in list, {} in flocker-ls",
                x[k],
                y[k]
            );
        }
        let c = pool
            .get(name)
            .ok_or_else(|| fail(format!("{name} not in the pool")))?;
        ensure!(
            x["guid"] == c.guid.as_str() && x["creation"] == fmt_t(c.creation)?.as_str(),
            "{name}: {x} vs zfs {c:?}"
        );
        ensure!(
            x["used"].is_u64() && x["referenced"].is_u64() && x["createtxg"].is_u64(),
            "{name}: numbers: {x}"
        );
    }
    Ok(())
}

fn prune_exact() -> TestResult {
    let f = Fix::new("dvprune")?;
    let a = f.create("a")?;
    let hours: Vec<i64> = (0..30).collect();
    history(&a, &hours)?;
    let now = fmt_t(T0 + 30 * H)?;
    let args = ["--keep", "4x1h,1x1d", "--tz", "UTC", "--now", &now];
    let before = cli(&a)?;
    let mut dry = vec!["prune", a.as_str(), "--dry-run", "--json"];
    dry.extend(args);
    let v = f.dv_ok(&dry)?.json()?;
    ensure!(cli(&a)? == before, "dry run changed the pool");
    let doomed: BTreeSet<String> = v["entries"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["decision"] == "destroy")
        .filter_map(|e| e["name"].as_str().map(String::from))
        .collect();
    // 4 newest hours (26..29) and the first of the two days? 1x1d keeps day 2's first (24h).
    let keep_want: BTreeSet<String> = [24, 26, 27, 28, 29]
        .iter()
        .map(|h| dv_name(T0 + h * H).map(|n| format!("{a}@{n}")))
        .collect::<Result<_, _>>()?;
    let all: BTreeSet<String> = before.keys().cloned().collect();
    ensure!(
        all.difference(&doomed).cloned().collect::<BTreeSet<_>>() == keep_want,
        "plan keeps {:?}",
        all.difference(&doomed).collect::<Vec<_>>()
    );
    let mut real = vec!["prune", a.as_str(), "--json"];
    real.extend(args);
    let v = f.dv_ok(&real)?.json()?;
    let after = names(&a)?;
    ensure!(after == keep_want, "after prune: {after:?}");
    let destroyed: BTreeSet<String> = v["entries"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["outcome"] == "destroyed")
        .filter_map(|e| e["name"].as_str().map(String::from))
        .collect();
    ensure!(destroyed == doomed, "reported destroyed {destroyed:?}");
    // Again: nothing more.
    let mut again = vec!["prune", a.as_str()];
    again.extend(args);
    let o = f.dv_ok(&again)?;
    ensure!(
        names(&a)? == keep_want && o.stdout.contains("destroyed 0"),
        "second prune: {}",
        o.stdout
    );
    Ok(())
}

/// `run` on a stepped clock with `cycles` hourly cycles from `start`; returns its stdout.
fn run_stepped(f: &Fix, cfg: &str, start: i64, cycles: u32) -> Result<Out, Failed> {
    let o = f.dv_ok(&[
        "run",
        "--config",
        cfg,
        "--clock-start",
        &fmt_t(start)?,
        "--clock-step",
        "1h",
        "--cycles",
        &cycles.to_string(),
    ])?;
    ensure!(o.stderr.trim().is_empty(), "run wrote errors: {}", o.stderr);
    Ok(o)
}

fn hourly_config(f: &Fix, a: &str, b: &str) -> Result<String, Failed> {
    f.config(&format!(
        "# test config\nevery = \"1h\"\ntz = \"UTC\"\n\n[[dataset]]\nname = \"{a}\"\nkeep = \"6x1h,2x1d\"\n\n[[dataset]]\nname = \"{b}\"\nkeep = \"6x1h,2x1d\"\nrecursive = true\n"
    ))
}

fn set_of(ds: &str, hours: &[i64]) -> Result<BTreeSet<String>, Failed> {
    hours
        .iter()
        .map(|h| dv_name(T0 + h * H).map(|n| format!("{ds}@{n}")))
        .collect()
}

fn run_builds() -> TestResult {
    let f = Fix::new("dvrun")?;
    let a = f.create("a")?;
    let b = f.create("b")?;
    let c = f.create("b/c")?;
    let cfg = hourly_config(&f, &a, &b)?;
    let o = run_stepped(&f, &cfg, T0, 48)?;
    let snap_lines = o
        .stdout
        .lines()
        .filter(|l| l.contains(" snapshot dv-"))
        .count();
    ensure!(
        snap_lines == 48,
        "{snap_lines} snapshot lines:\n{}",
        o.stdout
    );
    // Kept at the end (clock 2026-01-02T23:00): hours 18..23 of day 2, and the first
    // snapshot of each of the two days.
    let want = [0, 24, 42, 43, 44, 45, 46, 47];
    for ds in [&a, &b, &c] {
        let have: BTreeSet<String> = names(ds)?
            .into_iter()
            .filter(|n| n.starts_with(&format!("{ds}@")))
            .collect();
        ensure!(have == set_of(ds, &want)?, "{ds}: {have:?}");
    }
    // a and b were due together: one snapshot (one txg) per cycle for both pools' datasets.
    let all = cli(f.pool.name())?;
    for h in want {
        let n = dv_name(T0 + h * H)?;
        let txgs: BTreeSet<u64> = all
            .values()
            .filter(|s| s.name.ends_with(&format!("@{n}")))
            .map(|s| s.createtxg)
            .collect();
        ensure!(txgs.len() == 1, "{n}: createtxgs {txgs:?}");
    }
    ensure!(
        o.stdout
            .lines()
            .any(|l| l.contains(&format!("prune {a}:")) && l.contains("destroyed 1")),
        "no prune line destroyed anything:\n{}",
        o.stdout
    );
    Ok(())
}

fn restart() -> TestResult {
    let f = Fix::new("dvrestart")?;
    let a = f.create("a")?;
    let b = f.create("b")?;
    let cfg = hourly_config(&f, &a, &b)?;
    run_stepped(&f, &cfg, T0, 3)?;
    let before = cli(f.pool.name())?;
    ensure!(before.len() == 6, "3 cycles x 2 datasets: {before:?}");
    // Restarted in the same hour as the last snapshot (T0+2h): nothing new.
    let o = run_stepped(&f, &cfg, T0 + 2 * H + 1800, 1)?;
    ensure!(
        cli(f.pool.name())? == before && !o.stdout.contains(" snapshot dv-"),
        "restart in the same slot snapshotted:\n{}",
        o.stdout
    );
    // And the prune a restart makes up for: on start every dataset is pruned.
    ensure!(
        o.stdout.contains(&format!("prune {a}:")) && o.stdout.contains(&format!("prune {b}:")),
        "no prune on start:\n{}",
        o.stdout
    );
    // The next hour: exactly one new snapshot per dataset, named by the clock.
    run_stepped(&f, &cfg, T0 + 3 * H + 600, 1)?;
    let after = cli(f.pool.name())?;
    let new: BTreeSet<&String> = after.keys().filter(|k| !before.contains_key(*k)).collect();
    let n = dv_name(T0 + 3 * H + 600)?;
    let want: BTreeSet<String> = [format!("{a}@{n}"), format!("{b}@{n}")].into();
    ensure!(
        new.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>() == want,
        "new after restart: {new:?}"
    );
    Ok(())
}

fn clock_back() -> TestResult {
    let f = Fix::new("dvback")?;
    let a = f.create("a")?;
    let b = f.create("b")?;
    let cfg = hourly_config(&f, &a, &b)?;
    run_stepped(&f, &cfg, T0, 48)?;
    let before = cli(f.pool.name())?;
    // The clock jumps back 13 hours (to day 2, 10:00) and runs 5 hours: every slot is before
    // the newest snapshot (23:00), so nothing is taken; the snapshots after the clock are
    // dated in the future and kept, and the rest is what the policy kept anyway.
    let o = run_stepped(&f, &cfg, T0 + 34 * H, 5)?;
    ensure!(
        cli(f.pool.name())? == before,
        "clock back changed the pool:\n{}",
        o.stdout
    );
    ensure!(
        !o.stdout.contains(" snapshot dv-"),
        "snapshotted:\n{}",
        o.stdout
    );
    // Then it jumps forward past the newest: one snapshot, no duplicates, and the policy
    // thins as of that time (day 3 02:00: hours 19..23 of day 2 and 02:00 of day 3 are the
    // six newest hours; days 2 and 3 the two newest days).
    run_stepped(&f, &cfg, T0 + 50 * H, 1)?;
    let want = set_of(&a, &[24, 43, 44, 45, 46, 47, 50])?;
    let have = shorts(&a)?
        .into_iter()
        .map(|s| format!("{a}@{s}"))
        .collect::<BTreeSet<_>>();
    ensure!(have == want, "{a} after the jump forward: {have:?}");
    Ok(())
}

fn sigterm() -> TestResult {
    let f = Fix::new("dvterm")?;
    let a = f.create("a")?;
    let cfg = f.config(&format!(
        "every = \"1h\"\n[[dataset]]\nname = \"{a}\"\nkeep = \"24x1h,min=2\"\n"
    ))?;
    let log = format!("/var/tmp/flocker-pools/{}.log", f.pool.name());
    let logf = std::fs::File::create(&log).map_err(fail)?;
    let mut child = Command::new(example_bin("datavault")?)
        .args(["run", "--config", &cfg])
        .env("FLOCKER_STORE", &f.store)
        .stdin(Stdio::null())
        .stdout(logf)
        .stderr(Stdio::piped())
        .spawn()
        .map_err(fail)?;
    let pid = child.id();
    // Wait (bounded) for the first cycle: its prune line is logged after its snapshot.
    let started = Instant::now();
    let bound = Duration::from_secs(300);
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains(&format!("prune {a}:")) {
            break;
        }
        if let Ok(Some(st)) = child.try_wait() {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            return Err(fail(format!(
                "the service exited early ({st}): {text}\n{err}"
            )));
        }
        if started.elapsed() > bound {
            let _ = child.kill();
            return Err(fail(format!(
                "hung: no first cycle after {bound:?}; log so far:\n{text}"
            )));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    ensure!(shorts(&a)?.len() == 1, "first cycle: {:?}", shorts(&a)?);
    sleeps_without_waking(pid)?;
    // SAFETY: `pid` is our own child, still running (not yet waited for).
    let r = unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
    ensure!(r == 0, "kill failed");
    let sent = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().map_err(fail)? {
            break st;
        }
        if sent.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(fail(
                "hung: the service did not exit within 120 s of SIGTERM",
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = std::fs::remove_file(&log);
    ensure!(status.code() == Some(0), "exit status {status}: {text}");
    ensure!(text.contains("stopped cleanly"), "log: {text}");
    ensure!(shorts(&a)?.len() == 1, "after stop: {:?}", shorts(&a)?);
    Ok(())
}

fn accelerated() -> TestResult {
    let f = Fix::new("dvfast")?;
    let a = f.create("a")?;
    let cfg = f.config(&format!(
        "every = \"1h\"\n[[dataset]]\nname = \"{a}\"\nkeep = \"48x1h\"\n"
    ))?;
    // One simulated hour per real second, for five simulated hours. How many cycles fit
    // depends on the machine's speed; what must hold does not.
    let o = f.dv_ok(&[
        "run",
        "--config",
        &cfg,
        "--clock-start",
        &fmt_t(T0)?,
        "--clock-speed",
        "3600",
        "--until",
        &fmt_t(T0 + 5 * H)?,
    ])?;
    ensure!(o.stdout.contains("passed --until"), "log: {}", o.stdout);
    let times: Vec<i64> = shorts(&a)?
        .iter()
        .map(|s| scheme_time(s).ok_or_else(|| fail(format!("{s} is not a scheme name"))))
        .collect::<Result<_, _>>()?;
    ensure!(!times.is_empty(), "no snapshot: {}", o.stdout);
    let slots: BTreeSet<i64> = times.iter().map(|t| t.div_euclid(H)).collect();
    ensure!(
        slots.len() == times.len(),
        "two snapshots in one hour: {times:?}"
    );
    // Names carry the service's clock, which started at T0 (a cycle started before --until
    // may end after it: the clock runs on meanwhile).
    ensure!(
        times.iter().all(|t| *t >= T0),
        "names before the clock's start: {times:?}"
    );
    let logged = o
        .stdout
        .lines()
        .filter(|l| l.contains(" snapshot dv-"))
        .count();
    ensure!(
        logged == times.len(),
        "{logged} snapshot lines for {} snapshots",
        times.len()
    );
    Ok(())
}

fn one_line_error(o: &Out, what: &str, needle: &str) -> TestResult {
    ensure!(
        o.code == 2,
        "{what}: exit {} (wanted 2): {}",
        o.code,
        o.stderr
    );
    ensure!(
        o.stderr.trim().lines().count() == 1 && o.stderr.contains(needle),
        "{what}: stderr {:?} (wanted one line with {needle:?})",
        o.stderr
    );
    Ok(())
}

fn bad_input() -> TestResult {
    let f = Fix::new("dvbad")?;
    let a = f.create("a")?;
    history(&a, &[0, 1, 2])?;
    let before = cli(f.pool.name())?;
    let nope = f.ds("nope");

    let o = f.dv(&["snapshot", &a, &nope])?;
    one_line_error(&o, "snapshot of an unknown dataset", &nope)?;

    let o = f.dv(&["prune", &nope, "--keep", "min=1"])?;
    one_line_error(&o, "prune of an unknown dataset", &nope)?;

    let missing = format!("{a}@dv-20990101T000000Z");
    let o = f.dv(&["list", &missing])?;
    one_line_error(&o, "list of a missing snapshot", "does not exist")?;

    let o = f.dv(&["prune", &a, "--keep", "min=1,space=0"])?;
    one_line_error(&o, "a policy that keeps nothing", "keep nothing")?;

    let o = f.dv(&["prune", &a, "--keep", "3x1q"])?;
    one_line_error(&o, "a bad policy", "3x1q")?;

    let o = f.dv(&["prune", &a, "--keep", "min=1", "--match", "syncoid_("])?;
    one_line_error(&o, "a bad --match", "bad regex \"syncoid_(\"")?;

    let cfg = f.config(&format!(
        "every = \"1h\"\n[[dataset]]\nname = \"{a}\"\nkeep = \"min=1\"\nmatch = \"before-(\"\n"
    ))?;
    let o = f.dv(&["run", "--config", &cfg, "--once"])?;
    one_line_error(&o, "config with a bad match", "line 5 (dataset[0].match)")?;
    ensure!(
        o.stderr.contains("bad regex \"before-(\""),
        "regex not named: {}",
        o.stderr
    );

    let cfg = f.config(&format!(
        "every = \"1h\"\n[[dataset]]\nname = \"{a}\"\nkeep = \"min=1\"\nevrey = \"2h\"\n"
    ))?;
    let o = f.dv(&["run", "--config", &cfg, "--once"])?;
    one_line_error(&o, "config with an unknown field", "line 5")?;
    ensure!(o.stderr.contains("evrey"), "field not named: {}", o.stderr);

    let cfg = f.config(&format!(
        "every = \"1h\"\n[[dataset]]\nname = \"{a}\"\nkeep = \"24x1h,space=0\"\n"
    ))?;
    let o = f.dv(&["run", "--config", &cfg, "--once"])?;
    one_line_error(&o, "config policy keeping nothing", "dataset[0].keep")?;

    let cfg = f.config(&format!(
        "every = \"an hour\"\n[[dataset]]\nname = \"{a}\"\nkeep = \"min=1\"\n"
    ))?;
    let o = f.dv(&["run", "--config", &cfg, "--once"])?;
    one_line_error(&o, "config with a bad interval", "line 1 (every)")?;

    ensure!(
        cli(f.pool.name())? == before,
        "bad input changed the pool: {:?}",
        cli(f.pool.name())?.keys()
    );
    Ok(())
}

/// Other tools' and manual snapshot names: an administrator's, syncoid's, a `flocker-snap` one.
const FOREIGN: [&str; 3] = [
    "before-upgrade",
    "syncoid_host_2026-12-01:00:00:00-GMT00:00",
    "monday",
];

/// `name → guid` of the snapshots of `ds` (the CLI's view).
fn guids(ds: &str) -> Result<BTreeMap<String, String>, Failed> {
    Ok(cli(ds)?.into_iter().map(|(n, c)| (n, c.guid)).collect())
}

/// Each of `names` is still there with the GUID it had in `before`.
fn survive(
    what: &str,
    before: &BTreeMap<String, String>,
    ds: &str,
    names: &[String],
) -> TestResult {
    let now = guids(ds)?;
    for n in names {
        ensure!(
            now.contains_key(n) && now.get(n) == before.get(n),
            "{what}: {n} is gone or replaced (before {:?}, now {:?})",
            before.get(n),
            now.get(n)
        );
    }
    Ok(())
}

/// The dv- snapshots of `ds` left, by short name.
fn dv_left(ds: &str) -> Result<BTreeSet<String>, Failed> {
    Ok(shorts(ds)?
        .into_iter()
        .filter(|s| scheme_time(s).is_some())
        .collect())
}

/// A dataset with DataVault's snapshots and foreign ones, and an aggressive policy (`min=1`):
/// `datavault prune`, the `prune` tool, and one cycle of `datavault run` thin the dv- ones as
/// the policy says, and every foreign snapshot survives (by GUID); the dry runs and `list`
/// report them as foreign. A config `match` makes the service own one of them.
fn foreign_survive() -> TestResult {
    let f = Fix::new("dvforeign")?;
    let a = f.create("a")?;
    let b = f.create("b")?;
    for ds in [&a, &b] {
        history(ds, &[0, 1, 2])?;
        for name in FOREIGN {
            sh("zfs", &["snapshot", &format!("{ds}@{name}")])?;
        }
        history(ds, &[3, 4])?;
    }
    let foreign: Vec<String> = FOREIGN.iter().map(|n| format!("{a}@{n}")).collect();
    foreign_reported(&f, &a, &foreign)?;
    foreign_pruned(&f, &a, &foreign)?;
    foreign_in_service(&f, &a, &b, &foreign)
}

/// `list` and `prune --dry-run --json` (policy `min=1`) report `a`'s foreign snapshots as
/// foreign (kept) and change nothing.
fn foreign_reported(f: &Fix, a: &str, foreign: &[String]) -> TestResult {
    let before = guids(a)?;
    let now = fmt_t(T0 + 10 * H)?;
    let args = ["--keep", "min=1", "--tz", "UTC", "--now", &now];

    // list: the foreign ones as foreign (kept), the others planned.
    let mut list = vec!["list", a, "--json"];
    list.extend(args);
    let v = f.dv_ok(&list)?.json()?;
    let snaps = v["snapshots"].as_array().cloned().unwrap_or_default();
    ensure!(snaps.len() == 8, "list shows {} snapshots", snaps.len());
    for x in &snaps {
        let name = x["name"].as_str().unwrap_or("");
        let is_foreign = foreign.iter().any(|n| n == name);
        ensure!(
            (x["decision"] == "foreign") == is_foreign,
            "{name}: decision {}",
            x["decision"]
        );
        if is_foreign {
            ensure!(
                x["kept_by"] == serde_json::json!(["foreign (kept)"])
                    && x["guid"].as_str() == before.get(name).map(String::as_str),
                "{name}: {x}"
            );
        }
    }
    let mut text = vec!["list", a];
    text.extend(args);
    let o = f.dv_ok(&text)?;
    ensure!(
        o.stdout.contains("3 foreign (kept)")
            && foreign.iter().all(|n| o
                .stdout
                .lines()
                .any(|l| l.starts_with(n.as_str()) && l.contains("foreign (kept)"))),
        "list text:\n{}",
        o.stdout
    );

    // prune --dry-run --json: the foreign ones reported, nothing changed.
    let mut dry = vec!["prune", a, "--dry-run", "--json"];
    dry.extend(args);
    let v = f.dv_ok(&dry)?.json()?;
    ensure!(guids(a)? == before, "a dry run changed the pool");
    for n in foreign {
        let e = v["entries"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|e| e["name"] == n.as_str())
            .ok_or_else(|| fail(format!("no entry for {n}")))?;
        ensure!(
            e["decision"] == "foreign"
                && e["reasons"][0]["text"] == "foreign (kept)"
                && e["guid"].as_str() == before.get(n).map(String::as_str),
            "{n}: {e}"
        );
    }
    ensure!(
        v["summary"]["foreign"] == 3 && v["summary"]["destroy"] == 4 && v["summary"]["keep"] == 1,
        "summary {}",
        v["summary"]
    );
    Ok(())
}

/// `datavault prune` and then the `prune` tool (policy `min=1`) thin `a`'s dv- snapshots to
/// the newest; its foreign snapshots survive, by GUID.
fn foreign_pruned(f: &Fix, a: &str, foreign: &[String]) -> TestResult {
    let before = guids(a)?;
    let now = fmt_t(T0 + 10 * H)?;
    let args = ["--keep", "min=1", "--tz", "UTC", "--now", &now];

    // datavault prune: the dv- ones down to the newest, every foreign one left.
    let mut real = vec!["prune", a];
    real.extend(args);
    let o = f.dv_ok(&real)?;
    ensure!(
        o.stdout.contains("destroyed 4, kept 1") && o.stdout.contains("kept 3 foreign"),
        "datavault prune:\n{}",
        o.stdout
    );
    survive("datavault prune", &before, a, foreign)?;
    let newest = dv_name(T0 + 4 * H)?;
    ensure!(
        dv_left(a)? == [newest.clone()].into(),
        "after datavault prune: {:?}",
        shorts(a)?
    );

    // The prune tool, on more history: the same rule by default.
    history(a, &[5, 6])?;
    let before_tool = guids(a)?;
    let o = Out::of(Command::new(example_bin("prune")?).args([
        a,
        "--keep",
        "min=1",
        "--store",
        f.store.to_str().unwrap_or("/nonexistent"),
    ]))?
    .expect(0, "prune tool")?;
    ensure!(
        o.stdout.contains("destroyed 2, kept 1") && o.stdout.contains("kept 3 foreign"),
        "prune tool:\n{}",
        o.stdout
    );
    survive("the prune tool", &before_tool, a, foreign)?;
    ensure!(
        dv_left(a)? == [dv_name(T0 + 6 * H)?].into(),
        "after the prune tool: {:?}",
        shorts(a)?
    );
    Ok(())
}

/// One cycle of the service: `a`'s policy owns DataVault's snapshots only; `b`'s config owns
/// `monday` too (`match`), so that one goes with `b`'s older dv- snapshots. The service clock
/// starts two hours after the real one, so that `monday` (planned with its `creation`, the
/// real time) is older than the snapshot the cycle takes, not dated in the future.
fn foreign_in_service(f: &Fix, a: &str, b: &str, foreign: &[String]) -> TestResult {
    history(a, &[7])?;
    let before_run = guids(a)?;
    let before_b = guids(b)?;
    let cfg = f.config(&format!(
        "every = \"1h\"\ntz = \"UTC\"\n[[dataset]]\nname = \"{a}\"\nkeep = \"min=1\"\n\n[[dataset]]\nname = \"{b}\"\nkeep = \"min=1\"\nmatch = \"monday\"\n"
    ))?;
    let start = OffsetDateTime::now_utc().unix_timestamp() + 2 * H;
    let o = run_stepped(f, &cfg, start, 1)?;
    let taken = dv_name(start)?;
    ensure!(
        o.stdout.contains(&format!("snapshot {taken}")),
        "no snapshot in the cycle:\n{}",
        o.stdout
    );
    ensure!(
        o.stdout
            .lines()
            .any(|l| l.contains(&format!("prune {a}:")) && l.contains("kept 3 foreign")),
        "a's prune line:\n{}",
        o.stdout
    );
    survive("datavault run", &before_run, a, foreign)?;
    ensure!(
        dv_left(a)? == [taken.clone()].into(),
        "{a} after the cycle: {:?}",
        shorts(a)?
    );
    let b_foreign: Vec<String> = [FOREIGN[0], FOREIGN[1]]
        .iter()
        .map(|n| format!("{b}@{n}"))
        .collect();
    survive("datavault run (match)", &before_b, b, &b_foreign)?;
    let b_left = shorts(b)?;
    let want: BTreeSet<String> = [FOREIGN[0].to_string(), FOREIGN[1].to_string(), taken].into();
    ensure!(
        b_left == want,
        "{b} after the cycle: {b_left:?} (monday is owned through match and goes)"
    );
    ensure!(
        o.stdout
            .lines()
            .any(|l| l.contains(&format!("prune {b}:")) && l.contains("kept 2 foreign")),
        "b's prune line:\n{}",
        o.stdout
    );
    Ok(())
}

/// Between cycles the service sleeps in one `poll(2)` (x86_64 system call 7, or 271 for
/// `ppoll`) and nothing
/// wakes it: its context switches do not change over three seconds (unless an hour began in
/// between, when it wakes by design; then it looks again).
fn sleeps_without_waking(pid: u32) -> TestResult {
    let syscall = || {
        std::fs::read_to_string(format!("/proc/{pid}/syscall"))
            .unwrap_or_default()
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_string()
    };
    let switches = || {
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("ctxt_switches"))
            .map(|l| l.split_whitespace().last().unwrap_or("").to_string())
            .collect::<Vec<_>>()
    };
    let started = Instant::now();
    while !matches!(syscall().as_str(), "7" | "271") {
        if started.elapsed() > Duration::from_secs(300) {
            return Err(fail(format!(
                "hung: the service did not go to sleep in poll within 300 s (system call {:?})",
                syscall()
            )));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let hour = || OffsetDateTime::now_utc().unix_timestamp().div_euclid(H);
    for _ in 0..3 {
        let (h, before) = (hour(), switches());
        std::thread::sleep(Duration::from_secs(3));
        let after = switches();
        if hour() != h {
            continue;
        }
        ensure!(
            before == after && matches!(syscall().as_str(), "7" | "271") && before.len() == 2,
            "the sleeping service woke: context switches {before:?} -> {after:?}, system call {:?}",
            syscall()
        );
        return Ok(());
    }
    Err(fail("an hour began during each of three looks"))
}

/// Mounts `ds` under /var/tmp/flocker-pools and returns the mountpoint.
fn mount(ds: &str) -> Result<String, Failed> {
    let mp = format!("/var/tmp/flocker-pools/mnt/{}", ds.replace('/', "_"));
    sh("zfs", &["set", &format!("mountpoint={mp}"), ds])?;
    Ok(mp)
}

fn skip_empty() -> TestResult {
    let f = Fix::new("dvskip")?;
    let a = f.create("a")?;
    let b = f.create("b")?;
    let c = f.create("b/c")?;
    let (ma, mc) = (mount(&a)?, mount(&c)?);
    std::fs::write(format!("{ma}/one"), b"first").map_err(fail)?;
    let cfg = f.config(&format!(
        "every = \"1h\"\ntz = \"UTC\"\nskip_empty = true\n[[dataset]]\nname = \"{a}\"\nkeep = \"48x1h\"\n\n[[dataset]]\nname = \"{b}\"\nkeep = \"48x1h\"\nrecursive = true\n"
    ))?;
    // First cycle: no snapshot yet (written > 0): both entries are snapshotted.
    run_stepped(&f, &cfg, T0, 1)?;
    let first = dv_name(T0)?;
    for ds in [&a, &b, &c] {
        ensure!(
            shorts(ds)? == [first.clone()].into(),
            "{ds}: {:?}",
            shorts(ds)?
        );
    }
    // Three idle hours: no snapshot, and the change to skipping is logged once per entry.
    let o = run_stepped(&f, &cfg, T0 + H, 3)?;
    for ds in [&a, &b, &c] {
        ensure!(
            shorts(ds)? == [first.clone()].into(),
            "idle {ds} was snapshotted: {:?}\n{}",
            shorts(ds)?,
            o.stdout
        );
    }
    let skip_lines: Vec<&str> = o
        .stdout
        .lines()
        .filter(|l| l.contains("skip_empty: nothing written"))
        .collect();
    ensure!(
        skip_lines.len() == 2
            && skip_lines.iter().any(|l| l.contains(&format!(" {a} ")))
            && skip_lines
                .iter()
                .any(|l| l.contains(&format!(" {b} or below"))),
        "skip lines: {skip_lines:?}\n{}",
        o.stdout
    );
    // The service's report counts a skipped slot as up to date: status is OK at 03:20 though
    // the newest snapshot is from 00:00.
    let st = f.dv(&[
        "status",
        "--config",
        &cfg,
        "--now",
        &fmt_t(T0 + 3 * H + 1200)?,
    ])?;
    ensure!(
        st.code == 0 && st.stdout.starts_with("DATAVAULT OK"),
        "status after skipped slots: exit {}\n{}{}",
        st.code,
        st.stdout,
        st.stderr
    );
    // A write to the child of the recursive entry: that entry (b and c, one snapshot) is
    // taken at the next slot; a stays idle.
    std::fs::write(format!("{mc}/two"), b"second").map_err(fail)?;
    let o = run_stepped(&f, &cfg, T0 + 4 * H, 1)?;
    let fourth = dv_name(T0 + 4 * H)?;
    for ds in [&b, &c] {
        ensure!(
            shorts(ds)? == [first.clone(), fourth.clone()].into(),
            "{ds} after a write below it: {:?}\n{}",
            shorts(ds)?,
            o.stdout
        );
    }
    ensure!(
        shorts(&a)? == [first.clone()].into(),
        "{a}: {:?}",
        shorts(&a)?
    );
    // And a write to a: its snapshot comes back, with the resume line.
    std::fs::write(format!("{ma}/three"), b"third").map_err(fail)?;
    let o = run_stepped(&f, &cfg, T0 + 5 * H, 2)?;
    ensure!(
        shorts(&a)? == [first, dv_name(T0 + 5 * H)?].into(),
        "{a} after a write: {:?}\n{}",
        shorts(&a)?,
        o.stdout
    );
    Ok(())
}

fn missing_dataset() -> TestResult {
    let f = Fix::new("dvmiss")?;
    let a = f.create("a")?;
    let nope = f.ds("nope");
    let cfg = f.config(&format!(
        "every = \"1h\"\ntz = \"UTC\"\n[[dataset]]\nname = \"{nope}\"\nkeep = \"min=1\"\n\n[[dataset]]\nname = \"{a}\"\nkeep = \"48x1h\"\n"
    ))?;
    let args = |start: i64, cycles: u32| -> Result<Vec<String>, Failed> {
        Ok(vec![
            "run".into(),
            "--config".into(),
            cfg.clone(),
            "--clock-start".into(),
            fmt_t(start)?,
            "--clock-step".into(),
            "1h".into(),
            "--cycles".into(),
            cycles.to_string(),
        ])
    };
    let a1 = args(T0, 3)?;
    let o = f.dv(&a1.iter().map(String::as_str).collect::<Vec<_>>())?;
    ensure!(
        o.code == 1,
        "exit {} (wanted 1: a step failed)\n{}{}",
        o.code,
        o.stdout,
        o.stderr
    );
    let want: BTreeSet<String> = [0, 1, 2]
        .iter()
        .map(|h| dv_name(T0 + h * H))
        .collect::<Result<_, _>>()?;
    ensure!(
        shorts(&a)? == want,
        "{a} beside a missing dataset: {:?}\n{}",
        shorts(&a)?,
        o.stdout
    );
    let errors: Vec<&str> = o
        .stderr
        .lines()
        .filter(|l| !l.starts_with("datavault: error: some steps failed"))
        .collect();
    ensure!(
        errors.len() == 3
            && errors.iter().all(|l| l.contains(&nope)
                && l.contains("does not exist")
                && l.contains("config line 4")
                && l.contains("next try at")),
        "errors: {errors:?}"
    );
    // It appears: the next run takes it, and exits 0.
    sh("zfs", &["create", &nope])?;
    let a2 = args(T0 + 3 * H, 1)?;
    let o = f.dv(&a2.iter().map(String::as_str).collect::<Vec<_>>())?;
    ensure!(
        o.code == 0 && o.stderr.is_empty(),
        "exit {}\n{}{}",
        o.code,
        o.stdout,
        o.stderr
    );
    ensure!(
        shorts(&nope)? == [dv_name(T0 + 3 * H)?].into(),
        "{nope}: {:?}",
        shorts(&nope)?
    );
    Ok(())
}

fn status_codes() -> TestResult {
    let f = Fix::new("dvstatus")?;
    let a = f.create("a")?;
    let cfg = f.config(&format!(
        "every = \"1h\"\ntz = \"UTC\"\n[[dataset]]\nname = \"{a}\"\nkeep = \"48x1h\"\n"
    ))?;
    let status = |now: i64, json: bool| -> Result<Out, Failed> {
        let t = fmt_t(now)?;
        let mut v = vec!["status", "--config", &cfg, "--now", &t];
        if json {
            v.push("--json");
        }
        f.dv(&v)
    };
    // Never snapshotted: CRITICAL.
    let o = status(T0, false)?;
    ensure!(
        o.code == 2 && o.stdout.starts_with("DATAVAULT CRITICAL"),
        "no snapshot: {}\n{}",
        o.code,
        o.stdout
    );
    run_stepped(&f, &cfg, T0, 1)?;
    for (now, code, word) in [
        (T0 + 1200, 0, "OK"),
        (T0 + H + 1200, 1, "WARNING"),
        (T0 + 2 * H + 1200, 2, "CRITICAL"),
    ] {
        let o = status(now, false)?;
        ensure!(
            o.code == code
                && o.stdout.starts_with(&format!("DATAVAULT {word}"))
                && o.stdout.contains(&a),
            "at {}: exit {} (wanted {code}, {word})\n{}{}",
            fmt_t(now)?,
            o.code,
            o.stdout,
            o.stderr
        );
        let j = status(now, true)?;
        let v: serde_json::Value = serde_json::from_str(&j.stdout).map_err(fail)?;
        ensure!(
            j.code == code
                && v["status"] == word
                && v["datasets"][0]["name"] == a.as_str()
                && v["datasets"][0]["last_snapshot"] == fmt_t(T0)?.as_str()
                && v["datasets"][0]["last_prune"].is_string(),
            "json at {}: {}",
            fmt_t(now)?,
            j.stdout
        );
    }
    // A dataset that is gone: CRITICAL, named.
    sh("zfs", &["destroy", "-r", &a])?;
    let o = status(T0 + 1200, false)?;
    ensure!(
        o.code == 2 && o.stdout.contains("does not exist"),
        "gone: {}\n{}",
        o.code,
        o.stdout
    );
    // A config that cannot be read: UNKNOWN (3).
    let bad = f.config("every = 5\n")?;
    let o = f.dv(&["status", "--config", &bad])?;
    ensure!(
        o.code == 3 && o.stdout.starts_with("DATAVAULT UNKNOWN"),
        "bad config: {}\n{}",
        o.code,
        o.stdout
    );
    // config check: no ZFS needed; 0 for a good file, 2 with the line for a bad one.
    let o = f.dv(&["config", "check", &bad])?;
    one_line_error(&o, "config check of a bad file", "line 1")?;
    let good = f.config(&format!(
        "at = \"03:00\"\ntz = \"Europe/Berlin\"\nskip_empty = true\n[[dataset]]\nname = \"{a}\"\nkeep = \"48x1h\"\n"
    ))?;
    let o = f.dv_ok(&["config", "check", &good])?;
    ensure!(
        o.stdout.contains("ok, 1 dataset(s)")
            && o.stdout.contains("at 03:00 (Europe/Berlin)")
            && o.stdout.contains("skip_empty"),
        "config check: {}",
        o.stdout
    );
    Ok(())
}

fn under_systemd() -> TestResult {
    let f = Fix::new("dvsystemd")?;
    let a = f.create("a")?;
    let nope = f.ds("nope");
    let cfg = f.config(&format!(
        "every = \"1h\"\n[[dataset]]\nname = \"{a}\"\nkeep = \"48x1h\"\n\n[[dataset]]\nname = \"{nope}\"\nkeep = \"min=1\"\n"
    ))?;
    let sock_path = format!("/var/tmp/flocker-pools/{}.notify", f.pool.name());
    let _ = std::fs::remove_file(&sock_path);
    let sock = std::os::unix::net::UnixDatagram::bind(&sock_path).map_err(fail)?;
    sock.set_read_timeout(Some(Duration::from_secs(60)))
        .map_err(fail)?;
    let o = Out::of(
        Command::new(example_bin("datavault")?)
            .args(["run", "--config", &cfg, "--once"])
            .env("FLOCKER_STORE", &f.store)
            .env("JOURNAL_STREAM", "8:12345")
            .env("NOTIFY_SOCKET", &sock_path),
    )?;
    let _ = std::fs::remove_file(&sock_path);
    ensure!(
        o.code == 1,
        "exit {} (the missing dataset fails)\n{}{}",
        o.code,
        o.stdout,
        o.stderr
    );
    // Errors at priority 3, no timestamp of its own (the journal stamps lines).
    ensure!(
        !o.stderr.is_empty()
            && o.stderr
                .lines()
                .all(|l| l.starts_with("<3>error: ") || l.starts_with("<3>datavault: error: ")),
        "stderr: {}",
        o.stderr
    );
    ensure!(
        o.stdout
            .lines()
            .all(|l| l.starts_with('<') && !l[3..].starts_with("20"))
            && o.stdout.lines().any(|l| l.starts_with("<6>snapshot dv-")),
        "stdout: {}",
        o.stdout
    );
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    while let Ok(n) = sock.recv(&mut buf) {
        got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        if got.iter().any(|m| m == "READY=1") && got.iter().any(|m| m == "WATCHDOG=1") {
            break;
        }
    }
    ensure!(
        got.first().map(String::as_str) == Some("READY=1") && got.iter().any(|m| m == "WATCHDOG=1"),
        "notifications: {got:?}"
    );
    ensure!(shorts(&a)?.len() == 1, "{a}: {:?}", shorts(&a)?);
    Ok(())
}

fn at_local() -> TestResult {
    let f = Fix::new("dvat")?;
    let a = f.create("a")?;
    let cfg = f.config(&format!(
        "at = \"03:00\"\ntz = \"Europe/Berlin\"\n[[dataset]]\nname = \"{a}\"\nkeep = \"48x1h\"\n"
    ))?;
    // 30 hours from 2026-01-01T00:00Z: the first cycle takes one (none yet), then 03:00 in
    // Berlin (CET, 02:00Z) on each day, and nothing in the other hours.
    let o = run_stepped(&f, &cfg, T0, 30)?;
    let want: BTreeSet<String> = [0, 2, 26]
        .iter()
        .map(|h| dv_name(T0 + h * H))
        .collect::<Result<_, _>>()?;
    ensure!(shorts(&a)? == want, "{a}: {:?}\n{}", shorts(&a)?, o.stdout);
    ensure!(
        o.stdout.contains("at 03:00 (Europe/Berlin)"),
        "schedule not logged:\n{}",
        o.stdout
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Pre/post pairs, service hooks and the APT hook (issue 17, item 4)

/// `zfs get -H -o value PROP SNAP` (`-` when unset).
fn prop(snap: &str, name: &str) -> Result<String, Failed> {
    Ok(sh("zfs", &["get", "-H", "-o", "value", name, snap])?
        .trim()
        .to_string())
}

/// Checks the pre/post properties of `snap`: kind, description and (for a post) its pre.
fn check_props(snap: &str, kind: &str, desc: &str, pre: &str) -> TestResult {
    for (name, want) in [
        ("flocker:kind", kind),
        ("flocker:description", desc),
        ("flocker:pre", pre),
    ] {
        let got = prop(snap, name)?;
        ensure!(got == want, "{snap} {name} = {got:?}, wanted {want:?}");
    }
    Ok(())
}

fn pre_post_pair() -> TestResult {
    let f = Fix::new("dvpair")?;
    let a = f.create("a")?;
    let b = f.create("b")?;
    let c = f.create("b/c")?;
    let other = f.create("other")?;

    let o = f.dv_ok(&[
        "snapshot",
        "--pre",
        "before upgrade",
        &a,
        &b,
        "-r",
        "--json",
    ])?;
    let v = o.json()?;
    let id = v["id"].as_str().unwrap_or("").to_string();
    ensure!(scheme_time(&id).is_some(), "ID {id:?} is not dv-<UTC>: {v}");
    ensure!(
        v["kind"] == "pre" && v["description"] == "before upgrade",
        "JSON {v}"
    );
    let pre_snaps: Vec<String> = [&a, &b, &c].iter().map(|d| format!("{d}@{id}")).collect();
    let all = cli(f.pool.name())?;
    ensure!(
        all.keys().cloned().collect::<BTreeSet<_>>() == pre_snaps.iter().cloned().collect(),
        "pool has {:?}, wanted {pre_snaps:?}",
        all.keys()
    );
    ensure!(
        all.values()
            .map(|s| s.createtxg)
            .collect::<BTreeSet<_>>()
            .len()
            == 1,
        "pre snapshots differ in createtxg: {all:?}"
    );
    for s in &pre_snaps {
        check_props(s, "pre", "before upgrade", "-")?;
    }

    // Refusals: exit 2, one line, nothing created.
    let before = names(f.pool.name())?;
    let o = f.dv(&["snapshot", "--post", "dv-20990101T000000Z", &a])?;
    one_line_error(
        &o,
        "--post of a missing pre",
        "no pre snapshot dv-20990101T000000Z",
    )?;
    let o = f.dv(&["snapshot", "--post", &id, &a, &other])?;
    one_line_error(&o, "--post on a dataset without the pre", &other)?;
    let o = f.dv(&["snapshot", "--post", "monday", &a])?;
    one_line_error(&o, "--post of a bad ID", "bad ID \"monday\"")?;
    sh(
        "zfs",
        &["snapshot", &format!("{other}@dv-20260101T000000Z")],
    )?;
    let o = f.dv(&["snapshot", "--post", "dv-20260101T000000Z", &other])?;
    one_line_error(
        &o,
        "--post of a plain dv- snapshot",
        "is not a pre snapshot",
    )?;
    sh("zfs", &["destroy", &format!("{other}@dv-20260101T000000Z")])?;
    let o = f.dv(&["snapshot", "--pre", "x", "--post", &id, &a])?;
    ensure!(o.code == 2, "--pre with --post: exit {}", o.code);
    ensure!(
        names(f.pool.name())? == before,
        "a refused command changed the pool"
    );

    // The post: its ID alone on stdout, the pre's description, flocker:pre = ID.
    let o = f.dv_ok(&["snapshot", "--post", &id, &a, &b, "-r"])?;
    let post = o.stdout.trim().to_string();
    ensure!(
        o.stdout.lines().count() == 1 && scheme_time(&post).is_some() && post != id,
        "post printed {:?}",
        o.stdout
    );
    for d in [&a, &b, &c] {
        check_props(&format!("{d}@{post}"), "post", "before upgrade", &id)?;
    }
    // A post is not a pre.
    let o = f.dv(&["snapshot", "--post", &post, &a])?;
    one_line_error(&o, "--post of a post", "is not a pre snapshot")?;
    Ok(())
}

/// Runs `datavault run --config CFG --once` (real clock) and returns its output.
fn run_once(f: &Fix, cfg: &str) -> Result<Out, Failed> {
    f.dv(&["run", "--config", cfg, "--once"])
}

fn service_hooks() -> TestResult {
    let f = Fix::new("dvhook")?;
    let a = f.create("a")?;
    let b = f.create("b")?;
    let c = f.create("b/c")?;
    let dir = PathBuf::from(format!("/var/tmp/flocker-pools/{}-hooks", f.pool.name()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(fail)?;
    let (pre_f, post_f) = (dir.join("pre"), dir.join("post"));
    let read = |p: &PathBuf| std::fs::read_to_string(p).unwrap_or_default();
    let post_hook = format!(
        "post_snapshot = 'printf \"%s|%s|%s\" \"$DATAVAULT_SNAPSHOT_STATUS\" \"$DATAVAULT_SNAPSHOT\" \"$DATAVAULT_SNAPSHOTS\" > {}'\n",
        post_f.display()
    );
    let ds = |name: &str, rec: bool| {
        format!("[[dataset]]\nname = \"{name}\"\nkeep = \"min=3\"\nrecursive = {rec}\n")
    };

    // 1. A pre hook that writes a file, a post hook that records the snapshot.
    let cfg = f.config(&format!(
        "pre_snapshot = 'echo \"$DATAVAULT_HOOK:$DATAVAULT_POOL\" > {p}; echo \"$DATAVAULT_DATASETS\" >> {p}'\n{post_hook}{}",
        ds(&b, true),
        p = pre_f.display()
    ))?;
    let o = run_once(&f, &cfg)?.expect(0, "run with hooks")?;
    let made = shorts(&b)?;
    ensure!(made.len() == 1, "{b} has {made:?} after one cycle");
    let short = made.iter().next().cloned().unwrap_or_default();
    let want_pre = format!("pre_snapshot:{}\n{b}\n{c}\n", f.pool.name());
    ensure!(
        read(&pre_f) == want_pre,
        "pre hook wrote {:?}, wanted {want_pre:?}\n{}",
        read(&pre_f),
        o.stdout
    );
    let want_post = format!("taken|{short}|{b}@{short}\n{c}@{short}");
    ensure!(
        read(&post_f) == want_post,
        "post hook wrote {:?}, wanted {want_post:?}",
        read(&post_f)
    );

    // 2. A failing pre hook with the default `skip`: no snapshot, a failed step (exit 1),
    // the post hook still runs and says `skipped`.
    let _ = std::fs::remove_file(&post_f);
    let cfg = f.config(&format!(
        "pre_snapshot = 'exit 7'\n{post_hook}{}",
        ds(&a, false)
    ))?;
    let o = run_once(&f, &cfg)?;
    ensure!(o.code == 1, "skip: exit {} ({})", o.code, o.stderr);
    ensure!(
        o.stderr
            .contains("pre_snapshot hook \"exit 7\" exited with status 7")
            && o.stderr.contains("snapshot not taken"),
        "skip: stderr {:?}",
        o.stderr
    );
    ensure!(shorts(&a)?.is_empty(), "skip: {a} has {:?}", shorts(&a)?);
    ensure!(
        read(&post_f) == "skipped||",
        "skip: post hook wrote {:?}",
        read(&post_f)
    );

    // 3. A pre hook that outlives hook_timeout: killed, and no snapshot. Killed, not waited
    // for: the run ends before the hook's own 600 s, and the hook's process is gone.
    let pid_f = dir.join("hook-pid");
    let cfg = f.config(&format!(
        "pre_snapshot = 'echo $$ > {}; exec sleep 600'\nhook_timeout = \"1s\"\n{}",
        pid_f.display(),
        ds(&a, false)
    ))?;
    let began = Instant::now();
    let o = run_once(&f, &cfg)?;
    ensure!(
        o.code == 1 && o.stderr.contains("timed out after 1s"),
        "timeout: exit {}, stderr {:?}",
        o.code,
        o.stderr
    );
    ensure!(
        began.elapsed() < Duration::from_secs(600),
        "timeout: the run took {:?}: the hook was waited for",
        began.elapsed()
    );
    let hook_pid = read(&pid_f).trim().to_string();
    let stat = std::fs::read_to_string(format!("/proc/{hook_pid}/stat")).unwrap_or_default();
    let zombie =
        matches!(stat.rsplit(')').next().map(str::trim_start), Some(r) if r.starts_with('Z'));
    ensure!(!hook_pid.is_empty(), "timeout: the hook did not start");
    ensure!(
        !stat.contains("(sleep)") || zombie,
        "timeout: the hook (pid {hook_pid}) still runs after the run ended: {stat:?}"
    );
    ensure!(shorts(&a)?.is_empty(), "timeout: {a} has {:?}", shorts(&a)?);

    // 4. `continue`: logged (exit 1), the snapshot is taken.
    let cfg = f.config(&format!(
        "pre_snapshot = 'exit 7'\nhook_failure = \"continue\"\n{}",
        ds(&a, false)
    ))?;
    let o = run_once(&f, &cfg)?;
    ensure!(
        o.code == 1 && o.stderr.contains("snapshot taken anyway"),
        "continue: exit {}, stderr {:?}",
        o.code,
        o.stderr
    );
    ensure!(
        shorts(&a)?.len() == 1,
        "continue: {a} has {:?}",
        shorts(&a)?
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// The two commands of `packaging/apt/80datavault`, in order (Pre-Invoke, Post-Invoke).
fn apt_hook_commands() -> Result<(String, String), Failed> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../packaging/apt/80datavault");
    let text = std::fs::read_to_string(&path).map_err(fail)?;
    let mut found: BTreeMap<String, String> = BTreeMap::new();
    for line in text.lines() {
        let l = line.trim();
        if l.is_empty() || l.starts_with("//") {
            continue;
        }
        let (key, rest) = l
            .split_once(" { \"")
            .ok_or_else(|| fail(format!("not `KEY {{ \"...\"; }};`: {l}")))?;
        let cmd = rest
            .strip_suffix("\"; };")
            .ok_or_else(|| fail(format!("not `KEY {{ \"...\"; }};`: {l}")))?;
        ensure!(
            !cmd.contains('"'),
            "a double quote inside an APT string: {l}"
        );
        ensure!(
            found.insert(key.to_string(), cmd.to_string()).is_none(),
            "{key} twice"
        );
    }
    let keys: Vec<&String> = found.keys().collect();
    ensure!(
        keys == ["DPkg::Post-Invoke", "DPkg::Pre-Invoke"],
        "keys {keys:?}"
    );
    Ok((
        found["DPkg::Pre-Invoke"].clone(),
        found["DPkg::Post-Invoke"].clone(),
    ))
}

fn apt_hook_shape() -> TestResult {
    let (pre, post) = apt_hook_commands()?;
    for (what, cmd) in [("pre", &pre), ("post", &post)] {
        ensure!(
            cmd.starts_with(
                "if command -v datavault >/dev/null 2>&1 && [ -r /etc/datavault.toml ]"
            ) && cmd.ends_with("fi || true"),
            "{what}: must do nothing without the binary or config, and never fail: {cmd}"
        );
        let o = Out::of(Command::new("sh").args(["-n", "-c", cmd]))?;
        ensure!(o.code == 0, "{what}: sh -n: {}", o.stderr);
    }
    ensure!(
        pre.contains("datavault snapshot --pre apt --config /etc/datavault.toml")
            && pre.contains("/run/datavault-apt.id"),
        "pre: {pre}"
    );
    ensure!(
        post.contains(
            "datavault snapshot --post $(cat /run/datavault-apt.id) --config /etc/datavault.toml"
        ),
        "post: {post}"
    );
    // APT's own parser, where there is one: both entries as written.
    if Command::new("apt-config").arg("-v").output().is_ok() {
        let path = format!(
            "{}/../packaging/apt/80datavault",
            env!("CARGO_MANIFEST_DIR")
        );
        let o = Out::of(Command::new("apt-config").args(["-c", &path, "dump"]))?;
        ensure!(o.code == 0, "apt-config: {}", o.stderr);
        for (key, cmd) in [("Pre", &pre), ("Post", &post)] {
            let line = format!("DPkg::{key}-Invoke:: \"{cmd}\";");
            ensure!(
                o.stdout.lines().any(|l| l == line),
                "apt-config dump lacks {line}"
            );
        }
    }
    Ok(())
}

/// Runs one APT hook command as APT would (`sh -c`), with the test's config and state file
/// in place of `/etc/datavault.toml` and `/run/datavault-apt.id`, and `path` as
/// `PATH`.
fn apt_sh(f: &Fix, cmd: &str, cfg: &str, state: &str, path: &str) -> Result<Out, Failed> {
    let cmd = cmd
        .replace("/etc/datavault.toml", cfg)
        .replace("/run/datavault-apt.id", state);
    Out::of(
        Command::new("/bin/sh")
            .args(["-c", &cmd])
            .env("PATH", path)
            .env("FLOCKER_STORE", &f.store),
    )
}

fn apt_hook_pair() -> TestResult {
    let (pre, post) = apt_hook_commands()?;
    let f = Fix::new("dvapt")?;
    let a = f.create("a")?;
    let b = f.create("b")?;
    let c = f.create("b/c")?;
    let cfg = f.config(&format!(
        "[[dataset]]\nname = \"{a}\"\nkeep = \"min=3\"\n[[dataset]]\nname = \"{b}\"\nkeep = \"min=3\"\nrecursive = true\n"
    ))?;
    let state = format!("/var/tmp/flocker-pools/{}-apt.id", f.pool.name());
    let bin = example_bin("datavault")?;
    let bin_dir = bin
        .parent()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let path = format!("{bin_dir}:/usr/sbin:/usr/bin:/sbin:/bin");

    // No binary on PATH, or no config: nothing happens, exit 0.
    let o = apt_sh(&f, &pre, &cfg, &state, "/usr/sbin:/usr/bin:/sbin:/bin")?;
    ensure!(
        o.code == 0,
        "without the binary: exit {} {}",
        o.code,
        o.stderr
    );
    let o = apt_sh(&f, &pre, "/nonexistent.toml", &state, &path)?;
    ensure!(
        o.code == 0,
        "without the config: exit {} {}",
        o.code,
        o.stderr
    );
    ensure!(names(f.pool.name())?.is_empty(), "a snapshot appeared");
    ensure!(!PathBuf::from(&state).exists(), "state file written");

    // Pre-Invoke: the pre snapshot of every configured dataset, its ID in the state file.
    let o = apt_sh(&f, &pre, &cfg, &state, &path)?;
    ensure!(
        o.code == 0 && o.stderr.is_empty(),
        "pre: {} {}",
        o.code,
        o.stderr
    );
    let id = std::fs::read_to_string(&state)
        .map_err(fail)?
        .trim()
        .to_string();
    ensure!(scheme_time(&id).is_some(), "state file holds {id:?}");
    for d in [&a, &b, &c] {
        check_props(&format!("{d}@{id}"), "pre", "apt", "-")?;
    }
    // Post-Invoke: the post snapshot, the state file removed.
    let o = apt_sh(&f, &post, &cfg, &state, &path)?;
    ensure!(
        o.code == 0 && o.stderr.is_empty(),
        "post: {} {}",
        o.code,
        o.stderr
    );
    ensure!(
        !PathBuf::from(&state).exists(),
        "the state file is still there"
    );
    let posts: BTreeSet<String> = shorts(&a)?.into_iter().filter(|s| *s != id).collect();
    ensure!(posts.len() == 1, "{a} has {:?}", shorts(&a)?);
    let post_id = posts.iter().next().cloned().unwrap_or_default();
    for d in [&a, &b, &c] {
        check_props(&format!("{d}@{post_id}"), "post", "apt", &id)?;
    }
    // A second Post-Invoke without a pre does nothing; a failing datavault never fails apt.
    let before = names(f.pool.name())?;
    let o = apt_sh(&f, &post, &cfg, &state, &path)?;
    ensure!(o.code == 0, "post without a pre: exit {}", o.code);
    std::fs::write(&state, "dv-20990101T000000Z\n").map_err(fail)?;
    let o = apt_sh(&f, &post, &cfg, &state, &path)?;
    ensure!(
        o.code == 0 && o.stderr.contains("no pre snapshot"),
        "post with a stale ID: exit {} {:?}",
        o.code,
        o.stderr
    );
    ensure!(names(f.pool.name())? == before, "the pool changed");
    let _ = std::fs::remove_file(&state);
    Ok(())
}
