//! The inventory (flocker_core::inventory) against the `zfs` CLI as an oracle: every field of
//! datasets, snapshots, holds, bookmarks and user properties, the paging boundaries, changes
//! between pages, and the typed errors.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::ControlFlow;

use flocker_core::error::ErrorKind;
use flocker_core::inventory::{
    DatasetInfo, DatasetQuery, HoldInfo, Inventory, SnapshotInfo, SnapshotQuery, UserProps,
};
use flocker_core::lzc::{self, DatasetType, ProgramLimits};
use flocker_core::name::{DatasetName, SnapshotName};
use flocker_tests::{Failed, TestPool, TestResult, Trial, ensure, fail, run, sh, zfs_test};

const SNAP_COLS: &str =
    "name,guid,createtxg,creation,used,referenced,written,userrefs,clones,defer_destroy";
const DS_COLS: &str =
    "name,type,guid,createtxg,creation,used,referenced,available,written,origin,volsize,mountpoint";

fn ds(s: &str) -> Result<DatasetName, Failed> {
    DatasetName::new(s).map_err(fail)
}

fn snap(s: &str) -> Result<SnapshotName, Failed> {
    SnapshotName::new(s).map_err(fail)
}

/// `zfs list -Hp` rows as name → the other columns.
fn cli_rows(args: &[&str]) -> Result<BTreeMap<String, Vec<String>>, Failed> {
    let out = sh("zfs", args)?;
    let mut rows = BTreeMap::new();
    for line in out.lines().filter(|l| !l.is_empty()) {
        let mut cols: Vec<String> = line.split('\t').map(str::to_string).collect();
        let name = cols.remove(0);
        rows.insert(name, cols);
    }
    Ok(rows)
}

fn opt(v: Option<u64>) -> String {
    v.map_or_else(|| "-".to_string(), |n| n.to_string())
}

/// Our snapshot as the CLI's columns (after the name).
fn snap_cols(s: &SnapshotInfo) -> Vec<String> {
    let clones = if s.clones.is_empty() {
        String::new()
    } else {
        s.clones
            .iter()
            .map(|c| c.as_str())
            .collect::<Vec<_>>()
            .join(",")
    };
    vec![
        s.guid.to_string(),
        s.createtxg.to_string(),
        s.creation.unix_timestamp().to_string(),
        s.used.to_string(),
        s.referenced.to_string(),
        opt(s.written),
        s.userrefs.to_string(),
        clones,
        if s.defer_destroy { "on" } else { "off" }.to_string(),
    ]
}

/// The CLI prints clones as a comma-separated list in its own order, or `-`/empty.
fn normalise_snap_row(mut cols: Vec<String>) -> Vec<String> {
    if let Some(c) = cols.get_mut(7) {
        let mut v: Vec<&str> = c
            .split(',')
            .filter(|x| !x.is_empty() && *x != "-")
            .collect();
        v.sort();
        *c = v.join(",");
    }
    cols
}

fn ds_cols(d: &DatasetInfo) -> Vec<String> {
    vec![
        match d.kind {
            DatasetType::Filesystem => "filesystem".to_string(),
            DatasetType::Volume => "volume".to_string(),
        },
        d.guid.to_string(),
        d.createtxg.to_string(),
        d.creation.unix_timestamp().to_string(),
        d.used.to_string(),
        d.referenced.to_string(),
        d.available.to_string(),
        opt(d.written),
        d.origin
            .as_ref()
            .map_or("-".to_string(), |o| o.as_str().to_string()),
        opt(d.volsize),
        d.mountpoint.clone().unwrap_or_else(|| "-".to_string()),
    ]
}

/// Compares our listing with the CLI's, retrying when the CLI itself saw the pool change
/// (space figures settle after a txg sync).
fn compare_with_cli<T>(
    pool: &str,
    mut ours: impl FnMut() -> Result<Vec<T>, Failed>,
    cli: impl Fn() -> Result<BTreeMap<String, Vec<String>>, Failed>,
    name: impl Fn(&T) -> String,
    cols: impl Fn(&T) -> Vec<String>,
) -> Result<usize, Failed> {
    let mut last_err = String::new();
    for _ in 0..3 {
        sh("zpool", &["sync", pool])?;
        let before = cli()?;
        let list = ours()?;
        let after = cli()?;
        if before != after {
            last_err = "the pool changed during the comparison".into();
            continue;
        }
        let mine: BTreeMap<String, Vec<String>> = list.iter().map(|t| (name(t), cols(t))).collect();
        ensure!(mine.len() == list.len(), "duplicate names in our listing");
        if mine == before {
            return Ok(mine.len());
        }
        let mut diff = Vec::new();
        for (k, v) in &before {
            match mine.get(k) {
                None => diff.push(format!("missing {k}")),
                Some(m) if m != v => diff.push(format!("{k}: ours {m:?} cli {v:?}")),
                _ => {}
            }
        }
        for k in mine.keys().filter(|k| !before.contains_key(*k)) {
            diff.push(format!("extra {k}"));
        }
        last_err = diff.join("\n");
    }
    Err(fail(format!("listing differs from the CLI:\n{last_err}")))
}

/// A tree with data churn, a volume, a clone, a hold, a deferred destroy, user properties and
/// bookmarks.
struct Fixture {
    pool: TestPool,
}

impl Fixture {
    fn new(tag: &str) -> Result<Fixture, Failed> {
        let pool = TestPool::new(tag, 256)?;
        let root = pool.ds("fs");
        let mnt = format!("/var/tmp/flocker-mnt/{}", pool.name());
        sh(
            "zfs",
            &["create", "-o", &format!("mountpoint={mnt}"), &root],
        )?;
        sh("zfs", &["create", &pool.ds("fs/a")])?;
        sh("zfs", &["create", &pool.ds("fs/a/deep")])?;
        sh("zfs", &["create", "-s", "-V", "16M", &pool.ds("fs/vol")])?;
        sh("zfs", &["set", "com.example:tag=blue", &root])?;
        sh("zfs", &["set", "com.example:other=x y", &pool.ds("fs/a")])?;
        let file = format!("{mnt}/data");
        std::fs::write(&file, vec![1u8; 1 << 20]).map_err(fail)?;
        sh("zfs", &["snapshot", "-r", &format!("{root}@s1")])?;
        std::fs::write(&file, vec![2u8; 512 << 10]).map_err(fail)?;
        sh("zfs", &["snapshot", &format!("{root}@s2")])?;
        std::fs::write(format!("{mnt}/more"), vec![3u8; 256 << 10]).map_err(fail)?;
        sh("zfs", &["snapshot", "-r", &format!("{root}@s3")])?;
        std::fs::remove_file(&file).map_err(fail)?;
        sh("zfs", &["snapshot", &format!("{root}@s4")])?;
        sh(
            "zfs",
            &["set", "com.example:tag=red", &format!("{root}@s3")],
        )?;
        sh("zfs", &["clone", &format!("{root}@s2"), &pool.ds("clone")])?;
        sh("zfs", &["hold", "keep", &format!("{root}@s3")])?;
        sh("zfs", &["hold", "other", &format!("{root}@s3")])?;
        sh("zfs", &["hold", "keep", &format!("{root}/a@s1")])?;
        // Held and cloned: both stay, marked for deferred destroy.
        sh("zfs", &["destroy", "-d", &format!("{root}@s2")])?;
        sh("zfs", &["destroy", "-d", &format!("{root}/a@s1")])?;
        sh(
            "zfs",
            &["bookmark", &format!("{root}@s1"), &format!("{root}#b1")],
        )?;
        sh(
            "zfs",
            &["bookmark", &format!("{root}/a@s3"), &format!("{root}/a#b2")],
        )?;
        Ok(Fixture { pool })
    }

    fn root(&self) -> Result<DatasetName, Failed> {
        ds(self.pool.name())
    }
}

fn snapshots_match_cli() -> TestResult {
    let fx = Fixture::new("invs")?;
    let pool = fx.pool.name().to_string();
    let root = fx.root()?;
    for page in [1000, 3, 1] {
        let n = compare_with_cli(
            &pool,
            || {
                Inventory::new()
                    .with_page_size(page)
                    .snapshots(&SnapshotQuery::new(&root).recursive())
                    .map_err(fail)
            },
            || {
                let rows = cli_rows(&[
                    "list", "-Hp", "-t", "snapshot", "-o", SNAP_COLS, "-r", &pool,
                ])?;
                Ok(rows
                    .into_iter()
                    .map(|(k, v)| (k, normalise_snap_row(v)))
                    .collect())
            },
            |s: &SnapshotInfo| s.name.as_str().to_string(),
            snap_cols,
        )?;
        ensure!(n == 10, "expected 10 snapshots, compared {n}");
    }
    // The fixture's special cases, explicitly.
    let list = Inventory::new().snapshots(&SnapshotQuery::new(&ds(&fx.pool.ds("fs"))?))?;
    let names: Vec<&str> = list.iter().map(|s| s.name.short_name()).collect();
    ensure!(
        names == ["s1", "s2", "s3", "s4"],
        "not oldest first: {names:?}"
    );
    ensure!(
        list[1].defer_destroy && list[1].clones.len() == 1,
        "s2: {:?}",
        list[1]
    );
    ensure!(list[2].userrefs == 2, "s3 userrefs {}", list[2].userrefs);
    Ok(())
}

fn datasets_match_cli() -> TestResult {
    let fx = Fixture::new("invd")?;
    let pool = fx.pool.name().to_string();
    let root = fx.root()?;
    for page in [1000, 2] {
        let n = compare_with_cli(
            &pool,
            || {
                Inventory::new()
                    .with_page_size(page)
                    .datasets(&DatasetQuery::new(&root).recursive())
                    .map_err(fail)
            },
            || cli_rows(&["list", "-Hp", "-o", DS_COLS, "-r", &pool]),
            |d: &DatasetInfo| d.name.as_str().to_string(),
            ds_cols,
        )?;
        ensure!(n == 6, "expected 6 datasets, compared {n}");
    }
    // Depth and type filters, as `zfs list -d` and `-t`.
    let fs = ds(&fx.pool.ds("fs"))?;
    let mut inv = Inventory::new();
    let d1: Vec<String> = inv
        .datasets(&DatasetQuery::new(&fs).max_depth(1))?
        .iter()
        .map(|d| d.name.as_str().to_string())
        .collect();
    let cli: Vec<String> = cli_rows(&["list", "-H", "-o", "name", "-d", "1", &fx.pool.ds("fs")])?
        .into_keys()
        .collect();
    ensure!(d1 == cli, "depth 1: ours {d1:?} cli {cli:?}");
    let vols = inv.datasets(
        &DatasetQuery::new(&root)
            .recursive()
            .only(DatasetType::Volume),
    )?;
    ensure!(
        vols.len() == 1 && vols[0].name.as_str() == fx.pool.ds("fs/vol"),
        "volumes: {vols:?}"
    );
    let clone = inv.dataset(&ds(&fx.pool.ds("clone"))?)?;
    ensure!(
        clone.origin.as_ref().map(|o| o.as_str().to_string()) == Some(fx.pool.ds("fs@s2")),
        "clone origin {:?}",
        clone.origin
    );
    Ok(())
}

/// User properties: (name, property) → (value, source).
type UserPropRows = BTreeMap<(String, String), (String, String)>;

/// `zfs get` rows for user properties.
fn cli_user_props(pool: &str) -> Result<UserPropRows, Failed> {
    let out = sh(
        "zfs",
        &[
            "get",
            "-Hp",
            "-r",
            "-t",
            "all",
            "-o",
            "name,property,value,source",
            "all",
            pool,
        ],
    )?;
    let mut m = BTreeMap::new();
    for line in out.lines() {
        let c: Vec<&str> = line.split('\t').collect();
        if c.len() == 4 && c[1].contains(':') && c[3] != "-" {
            m.insert(
                (c[0].to_string(), c[1].to_string()),
                (c[2].to_string(), c[3].to_string()),
            );
        }
    }
    Ok(m)
}

fn user_properties_match_cli() -> TestResult {
    let fx = Fixture::new("invu")?;
    let pool = fx.pool.name().to_string();
    let root = fx.root()?;
    let cli = cli_user_props(&pool)?;
    ensure!(cli.len() >= 10, "fixture too small: {cli:?}");
    let mut inv = Inventory::new().with_page_size(4);
    let mut ours = BTreeMap::new();
    let all = SnapshotQuery::new(&root)
        .recursive()
        .user_properties(UserProps::All);
    for s in inv.snapshots(&all)? {
        for (k, v) in &s.user_properties {
            ours.insert(
                (s.name.as_str().to_string(), k.clone()),
                (v.value.clone(), v.source.to_cli_string()),
            );
        }
    }
    let dq = DatasetQuery::new(&root)
        .recursive()
        .user_properties(UserProps::All);
    for d in inv.datasets(&dq)? {
        for (k, v) in &d.user_properties {
            ours.insert(
                (d.name.as_str().to_string(), k.clone()),
                (v.value.clone(), v.source.to_cli_string()),
            );
        }
    }
    ensure!(
        ours == cli,
        "user properties differ:\nours {ours:#?}\ncli {cli:#?}"
    );
    // Named: only those asked for, unset ones left out.
    let named = UserProps::named(["com.example:tag", "com.example:absent"])?;
    let list = inv.snapshots(&SnapshotQuery::new(&root).recursive().user_properties(named))?;
    for s in &list {
        let want: BTreeMap<&str, &(String, String)> = cli
            .iter()
            .filter(|((n, p), _)| n == s.name.as_str() && p == "com.example:tag")
            .map(|((_, p), v)| (p.as_str(), v))
            .collect();
        let got: BTreeMap<&str, (String, String)> = s
            .user_properties
            .iter()
            .map(|(k, v)| (k.as_str(), (v.value.clone(), v.source.to_cli_string())))
            .collect();
        ensure!(
            got.len() == want.len() && want.iter().all(|(k, v)| got.get(k) == Some(*v)),
            "{}: ours {got:?} cli {want:?}",
            s.name
        );
    }
    let e = UserProps::named(["NotAUserProp"]).unwrap_err();
    ensure!(
        e.kind() == ErrorKind::PropertyInvalid,
        "bad user prop name: {e}"
    );
    Ok(())
}

/// `Sat Nov 25 14:05 2026`, the CLI's hold time (local time; the test runs it with TZ=UTC).
fn cli_time(h: &HoldInfo) -> String {
    let t = h.created;
    format!(
        "{} {} {:>2} {:02}:{:02} {}",
        &t.weekday().to_string()[..3],
        &t.month().to_string()[..3],
        t.day(),
        t.hour(),
        t.minute(),
        t.year()
    )
}

fn holds_and_bookmarks_match_cli() -> TestResult {
    let fx = Fixture::new("invh")?;
    let pool = fx.pool.name().to_string();
    let root = fx.root()?;
    let mut inv = Inventory::new().with_page_size(2);
    // Holds: every snapshot, against `zfs holds -rH`.
    let snaps = inv.snapshots(&SnapshotQuery::new(&root).recursive().with_holds(true))?;
    let all: Vec<String> = snaps.iter().map(|s| s.name.as_str().to_string()).collect();
    let mut args = vec!["TZ=UTC", "zfs", "holds", "-H"];
    args.extend(all.iter().map(String::as_str));
    let out = sh("env", &args)?;
    let cli: BTreeSet<(String, String, String)> = out
        .lines()
        .filter_map(|l| {
            let c: Vec<&str> = l.split('\t').collect();
            (c.len() == 3).then(|| (c[0].to_string(), c[1].to_string(), c[2].to_string()))
        })
        .collect();
    let mut ours = BTreeSet::new();
    for s in &snaps {
        let holds = s.holds.as_ref().ok_or_else(|| fail("holds not listed"))?;
        ensure!(
            holds.len() as u64 == s.userrefs,
            "{}: userrefs vs holds",
            s.name
        );
        for h in holds {
            ours.insert((s.name.as_str().to_string(), h.tag.clone(), cli_time(h)));
        }
        let single = inv.holds(&s.name)?;
        ensure!(
            &single == holds,
            "{}: holds() {single:?} vs listing {holds:?}",
            s.name
        );
    }
    ensure!(
        ours.len() == 3 && ours == cli,
        "holds differ: ours {ours:?} cli {cli:?}"
    );
    // One snapshot with everything.
    let s3 = inv.snapshot(&snap(&format!("{}@s3", fx.pool.ds("fs")))?)?;
    ensure!(s3.holds.as_ref().map(Vec::len) == Some(2), "{s3:?}");
    ensure!(
        s3.user_properties
            .get("com.example:tag")
            .map(|p| p.value.as_str())
            == Some("red"),
        "{s3:?}"
    );
    // Bookmarks, against `zfs list -t bookmark`.
    let marks = inv.bookmarks(&root, None)?;
    let cli = cli_rows(&[
        "list",
        "-Hp",
        "-t",
        "bookmark",
        "-o",
        "name,guid,createtxg,creation",
        "-r",
        &pool,
    ])?;
    let mine: BTreeMap<String, Vec<String>> = marks
        .iter()
        .map(|b| {
            (
                b.name.as_str().to_string(),
                vec![
                    b.guid.to_string(),
                    b.createtxg.to_string(),
                    b.creation.unix_timestamp().to_string(),
                ],
            )
        })
        .collect();
    ensure!(
        mine.len() == 2 && mine == cli,
        "bookmarks: ours {mine:?} cli {cli:?}"
    );
    let top = inv.bookmarks(&ds(&fx.pool.ds("fs"))?, Some(0))?;
    ensure!(top.len() == 1, "depth 0 bookmarks: {top:?}");
    Ok(())
}

/// Makes `n` snapshots `s000`.. of `fs`, one lzc_snapshot (one txg) each.
fn make_snapshots(fs: &str, n: usize, prefix: &str) -> TestResult {
    for i in 0..n {
        lzc::snapshot(&[snap(&format!("{fs}@{prefix}{i:03}"))?], None)?;
    }
    Ok(())
}

fn paging_boundaries() -> TestResult {
    let pool = TestPool::new("invp", 256)?;
    let fs = pool.ds("one");
    sh("zfs", &["create", &fs])?;
    const N: usize = 25;
    make_snapshots(&fs, N, "s")?;
    let cli: BTreeSet<String> =
        cli_rows(&["list", "-H", "-t", "snapshot", "-o", "name", "-r", &fs])?
            .into_keys()
            .collect();
    ensure!(cli.len() == N, "fixture: {} snapshots", cli.len());
    let root = ds(&fs)?;
    for page in [1, 2, 5, N - 1, N, N + 1, 10_000] {
        let mut calls = 0;
        let mut done = false;
        let list = Inventory::new()
            .with_page_size(page)
            .on_progress(|p| {
                calls = p.calls;
                done = p.done;
            })
            .snapshots(&SnapshotQuery::new(&root))?;
        let names: Vec<String> = list.iter().map(|s| s.name.as_str().to_string()).collect();
        let set: BTreeSet<String> = names.iter().cloned().collect();
        ensure!(set.len() == names.len(), "page {page}: duplicates");
        ensure!(
            set == cli,
            "page {page}: {} listed, cli {}",
            set.len(),
            cli.len()
        );
        let want = N.div_ceil(page) as u64;
        ensure!(
            calls == want && done,
            "page {page}: {calls} calls, expected {want}"
        );
    }
    // A tree: pages that end exactly at a dataset boundary and pages spanning datasets.
    for i in 0..4 {
        let child = pool.ds(&format!("one/c{i}"));
        sh("zfs", &["create", &child])?;
        make_snapshots(&child, i * 3, "t")?;
    }
    let cli: BTreeSet<String> =
        cli_rows(&["list", "-H", "-t", "snapshot", "-o", "name", "-r", &fs])?
            .into_keys()
            .collect();
    ensure!(cli.len() == N + 18, "tree fixture: {}", cli.len());
    for page in [1, 3, 4, 7, 25, 26, 1000] {
        let mut pages = Vec::new();
        Inventory::new().with_page_size(page).snapshot_pages(
            &SnapshotQuery::new(&root).recursive(),
            |p| {
                pages.push(p);
                ControlFlow::Continue(())
            },
        )?;
        let names: Vec<String> = pages
            .iter()
            .flatten()
            .map(|s| s.name.as_str().to_string())
            .collect();
        ensure!(
            pages.iter().all(|p| p.len() <= page),
            "page {page}: a page is too big"
        );
        let sorted = {
            let mut v = names.clone();
            v.sort_by(|a, b| {
                let (da, sa) = a.split_once('@').unwrap_or((a, ""));
                let (db, sb) = b.split_once('@').unwrap_or((b, ""));
                (da, sa).cmp(&(db, sb))
            });
            v
        };
        ensure!(
            names == sorted,
            "page {page}: pages not in (dataset, name) order"
        );
        let set: BTreeSet<String> = names.iter().cloned().collect();
        ensure!(
            set.len() == names.len() && set == cli,
            "page {page}: listing differs"
        );
        let max_calls = (N + 18).div_ceil(page) + 1;
        ensure!(
            pages.len() <= max_calls,
            "page {page}: {} pages",
            pages.len()
        );
    }
    // The cheaper listings agree with the full one.
    let mut inv = Inventory::new().with_page_size(4);
    let q = SnapshotQuery::new(&root).recursive();
    let full = inv.snapshots(&q)?;
    let names: BTreeSet<String> = inv
        .snapshot_names(&q)?
        .iter()
        .map(|n| n.as_str().to_string())
        .collect();
    ensure!(names == cli, "snapshot_names differs from the CLI");
    let basics = inv.snapshot_basics(&q)?;
    let projected: Vec<(String, u64, u64, i64)> = full
        .iter()
        .map(|s| {
            (
                s.name.as_str().to_string(),
                s.guid,
                s.createtxg,
                s.creation.unix_timestamp(),
            )
        })
        .collect();
    let got: Vec<(String, u64, u64, i64)> = basics
        .iter()
        .map(|s| {
            (
                s.name().as_str().to_string(),
                s.guid(),
                s.createtxg(),
                s.creation().unix_timestamp(),
            )
        })
        .collect();
    ensure!(got == projected, "snapshot_basics differs from snapshots");
    // Stopping early.
    let mut seen = 0;
    Inventory::new()
        .with_page_size(5)
        .snapshot_pages(&SnapshotQuery::new(&root), |p| {
            seen += p.len();
            ControlFlow::Break(())
        })?;
    ensure!(seen == 5, "break after one page saw {seen}");
    Ok(())
}

fn changes_between_pages() -> TestResult {
    let pool = TestPool::new("invc", 256)?;
    let fs = pool.ds("fs");
    sh("zfs", &["create", &fs])?;
    make_snapshots(&fs, 12, "s")?;
    let root = ds(&fs)?;
    let mut pages: Vec<Vec<String>> = Vec::new();
    let mut err = None;
    Inventory::new()
        .with_page_size(3)
        .snapshot_pages(&SnapshotQuery::new(&root), |p| {
            pages.push(p.iter().map(|s| s.name.short_name().to_string()).collect());
            if pages.len() == 1 {
                // The page ended on s002: destroy it (the resume point), destroy s007 (not yet
                // listed), create s005x (after the position) and s001x (before it).
                let r = (|| -> TestResult {
                    sh("zfs", &["destroy", &format!("{fs}@s002")])?;
                    sh("zfs", &["destroy", &format!("{fs}@s007")])?;
                    lzc::snapshot(&[snap(&format!("{fs}@s005x"))?], None)?;
                    lzc::snapshot(&[snap(&format!("{fs}@s001x"))?], None)?;
                    Ok(())
                })();
                if let Err(e) = r {
                    err = Some(e);
                    return ControlFlow::Break(());
                }
            }
            ControlFlow::Continue(())
        })?;
    if let Some(e) = err {
        return Err(e);
    }
    ensure!(
        pages[0] == ["s000", "s001", "s002"],
        "first page {:?}",
        pages[0]
    );
    let all: Vec<&str> = pages.iter().flatten().map(String::as_str).collect();
    let set: BTreeSet<&str> = all.iter().copied().collect();
    ensure!(set.len() == all.len(), "duplicates: {all:?}");
    let want: BTreeSet<&str> = [
        "s000", "s001", "s002", "s003", "s004", "s005", "s005x", "s006", "s008", "s009", "s010",
        "s011",
    ]
    .into_iter()
    .collect();
    ensure!(set == want, "got {set:?}");
    // A dataset destroyed between pages of a recursive listing disappears with its
    // snapshots; one created after the position appears.
    for c in ["a", "b", "c"] {
        sh("zfs", &["create", &format!("{fs}/{c}")])?;
        make_snapshots(&format!("{fs}/{c}"), 2, "t")?;
    }
    let mut n = 0;
    let mut names = Vec::new();
    let mut err = None;
    Inventory::new().with_page_size(13).snapshot_pages(
        &SnapshotQuery::new(&root).recursive(),
        |p| {
            n += 1;
            names.extend(p.iter().map(|s| s.name.as_str().to_string()));
            if n == 1 {
                let r = (|| -> TestResult {
                    sh("zfs", &["destroy", "-r", &format!("{fs}/b")])?;
                    sh("zfs", &["create", &format!("{fs}/d")])?;
                    make_snapshots(&format!("{fs}/d"), 1, "t")?;
                    Ok(())
                })();
                if let Err(e) = r {
                    err = Some(e);
                    return ControlFlow::Break(());
                }
            }
            ControlFlow::Continue(())
        },
    )?;
    if let Some(e) = err {
        return Err(e);
    }
    ensure!(n == 2, "{n} pages");
    let children: Vec<&str> = names
        .iter()
        .filter(|s| s.contains('/') && s.split('@').next() != Some(&fs))
        .map(String::as_str)
        .collect();
    let want = [
        format!("{fs}/a@t000"),
        format!("{fs}/a@t001"),
        format!("{fs}/c@t000"),
        format!("{fs}/c@t001"),
        format!("{fs}/d@t000"),
    ];
    ensure!(children == want, "children: {children:?}");
    // The root itself destroyed between pages: NotFound.
    let victim = pool.ds("victim");
    sh("zfs", &["create", &victim])?;
    make_snapshots(&victim, 4, "v")?;
    let mut cleanup = None;
    let r = Inventory::new().with_page_size(2).snapshot_pages(
        &SnapshotQuery::new(&ds(&victim)?),
        |_| {
            cleanup = Some(sh("zfs", &["destroy", "-r", &victim]));
            ControlFlow::Continue(())
        },
    );
    if let Some(Err(e)) = cleanup {
        return Err(e);
    }
    let e = r
        .err()
        .ok_or_else(|| fail("listing a destroyed root succeeded"))?;
    ensure!(e.kind() == ErrorKind::NotFound, "destroyed root: {e}");
    Ok(())
}

fn errors_are_typed() -> TestResult {
    let pool = TestPool::new("inve", 128)?;
    let fs = pool.ds("fs");
    sh("zfs", &["create", &fs])?;
    make_snapshots(&fs, 3, "s")?;
    let mut inv = Inventory::new();
    let missing = ds(&pool.ds("nope"))?;
    for e in [
        inv.snapshots(&SnapshotQuery::new(&missing)).err(),
        inv.datasets(&DatasetQuery::new(&missing)).err(),
        inv.bookmarks(&missing, None).err(),
        inv.dataset(&missing).err(),
        inv.snapshot(&snap(&format!("{fs}@nope"))?).err(),
        inv.holds(&snap(&format!("{fs}@nope"))?).err(),
        inv.snapshots(&SnapshotQuery::new(&ds("nosuchpool/fs")?))
            .err(),
    ] {
        let e = e.ok_or_else(|| fail("a missing item was listed"))?;
        ensure!(e.kind() == ErrorKind::NotFound, "missing: {e}");
    }
    // Limits: a single item that cannot fit is a typed error, not a panic or a loop.
    let mut tiny = Inventory::new().with_limits(ProgramLimits::new(100, 10 << 20));
    let e = tiny.snapshots(&SnapshotQuery::new(&ds(&fs)?)).err();
    let e = e.ok_or_else(|| fail("100 instructions were enough"))?;
    ensure!(
        e.kind() == ErrorKind::ChannelProgramLimit,
        "tiny limits: {e}"
    );
    let e = Inventory::new()
        .with_limits(ProgramLimits::new(u64::MAX, 10 << 20))
        .snapshots(&SnapshotQuery::new(&ds(&fs)?))
        .err()
        .ok_or_else(|| fail("limits above the tunables were accepted"))?;
    ensure!(e.kind() == ErrorKind::InvalidArgument, "huge limits: {e}");
    // Exported, then read-only.
    let name = pool.name().to_string();
    sh("zpool", &["export", &name])?;
    let e = Inventory::new()
        .snapshots(&SnapshotQuery::new(&ds(&fs)?))
        .err();
    let reimport = |extra: &[&str]| -> TestResult {
        let mut args = vec!["import", "-d", "/var/tmp/flocker-pools"];
        args.extend_from_slice(extra);
        args.push(&name);
        sh("zpool", &args).map(drop)
    };
    let r = (|| -> TestResult {
        let e = e.ok_or_else(|| fail("listed an exported pool"))?;
        ensure!(e.kind() == ErrorKind::NotFound, "exported: {e}");
        reimport(&["-o", "readonly=on"])?;
        let e = Inventory::new()
            .snapshots(&SnapshotQuery::new(&ds(&fs)?))
            .err();
        let e = e.ok_or_else(|| fail("listed a read-only pool"))?;
        ensure!(e.kind() == ErrorKind::ReadOnly, "read-only: {e}");
        Ok(())
    })();
    // Leave the pool imported read-write for TestPool's cleanup.
    let _ = sh("zpool", &["export", &name]);
    let _ = reimport(&[]);
    r
}

fn limits_shrink_the_page() -> TestResult {
    let pool = TestPool::new("invl", 128)?;
    let fs = pool.ds("fs");
    sh("zfs", &["create", &fs])?;
    make_snapshots(&fs, 40, "s")?;
    let root = ds(&fs)?;
    let full = Inventory::new().snapshots(&SnapshotQuery::new(&root))?;
    ensure!(full.len() == 40, "fixture");
    // Enough instructions for a few items per call, not for 40.
    let mut retries = 0;
    let mut calls = 0;
    let list = Inventory::new()
        .with_limits(ProgramLimits::new(3_000, 10 << 20))
        .with_page_size(40)
        .on_progress(|p| {
            retries = p.retries;
            calls = p.calls;
        })
        .snapshots(&SnapshotQuery::new(&root))?;
    ensure!(list == full, "listing under tight limits differs");
    ensure!(retries > 0, "no retry happened ({calls} calls)");
    ensure!(calls < 200, "{calls} calls for 40 snapshots");
    Ok(())
}

/// The inventory's Lua programs run by stock Lua 5.2 against a mock `zfs` library: 100,000
/// snapshots in one dataset (10 pages of 10,000), 1,000 datasets, page boundaries, and
/// changes between pages. The kernel's Lua has integer numbers and stock Lua has floats; the
/// programs are written to work with both. Needs `lua5.2` on the host (ignored otherwise).
const LUA_HARNESS: &str = r#"-- Runs flocker-core's inventory programs (stock Lua 5.2) against a mock `zfs` library.
-- usage: lua5.2 harness.lua DIR  (DIR holds prelude.lua, snapshots.lua, datasets.lua)
local dir = arg[1]
local function read(f) local h = assert(io.open(dir .. "/" .. f)); local s = h:read("*a"); h:close(); return s end
local prelude = read("prelude.lua")
local SNAPSHOTS = assert(load(prelude .. read("snapshots.lua"), "snapshots"))
local DATASETS = assert(load(prelude .. read("datasets.lua"), "datasets"))

-- The mock pool: datasets with children and snapshots, iterated in a scrambled but stable
-- order, like the kernel's ZAP hash order.
local DS, SNAP, TXG = {}, {}, 0
local KEY = {}
local function scramble(s)
  local h = KEY[s]
  if h == nil then
    h = 0
    for i = 1, #s do h = (h * 31 + s:byte(i)) % 1000003 end
    KEY[s] = h
  end
  return h
end
local function hash_order(x, y)
  local a, b = scramble(x), scramble(y)
  return a < b or (a == b and x < y)
end
local function insert_ordered(list, name)
  list[#list + 1] = name
  table.sort(list, hash_order)
end
local function mkds(name)
  DS[name] = { children = {}, snaps = {} }
  local parent = name:match("^(.*)/[^/]*$")
  if parent then insert_ordered(DS[parent].children, name) end
end
local function rmds(name)
  for _, s in ipairs(DS[name].snaps) do SNAP[s] = nil end
  DS[name] = nil
end
local function mksnap(ds, short)
  TXG = TXG + 1
  local n = ds .. "@" .. short
  SNAP[n] = { txg = TXG }
  insert_ordered(DS[ds].snaps, n)
  return n
end
-- Bulk creation without re-sorting each time.
local function mksnaps(ds, count, prefix)
  local l = DS[ds].snaps
  for i = 1, count do TXG = TXG + 1; local n = string.format("%s@%s%06d", ds, prefix, i); SNAP[n] = { txg = TXG }; l[#l + 1] = n end
  table.sort(l, hash_order)
end
local function iter(list, live)
  local i = 0
  return function()
    while true do
      i = i + 1
      local v = list[i]
      if v == nil then return nil end
      if live[v] ~= nil then return v end
    end
  end
end
zfs = {
  exists = function(n) return DS[n] ~= nil or SNAP[n] ~= nil end,
  get_prop = function(n, p)
    local s = SNAP[n]
    if s and p == "createtxg" then return s.txg, nil end
    if DS[n] and p == "type" then return "filesystem", nil end
    return nil
  end,
  list = {
    snapshots = function(d) assert(DS[d], "no dataset " .. d); return iter(DS[d].snaps, SNAP) end,
    children = function(d) assert(DS[d], "no dataset " .. d); return iter(DS[d].children, DS) end,
  },
}

local function fail(msg) io.stderr:write("FAIL " .. msg .. "\n"); os.exit(1) end

-- Pages a snapshot listing to the end; `between(page)` may change the pool between pages.
local function list_snaps(root, depth, lim, between)
  local ads, asn, seen, order, pages = nil, nil, {}, {}, 0
  while true do
    local r = SNAPSHOTS({ root = root, depth = depth, lim = lim, props = { "createtxg" }, ads = ads, asn = asn })
    if r.gone then return nil, pages end
    pages = pages + 1
    local n = 0
    for name, t in pairs(r.i) do
      if seen[name] then fail("duplicate " .. name) end
      if t[1] ~= SNAP[name].txg then fail("wrong createtxg for " .. name) end
      seen[name] = true
      order[#order + 1] = name
      n = n + 1
    end
    if n ~= r.n or n > lim then fail("page of " .. n .. " items, reported " .. r.n .. ", limit " .. lim) end
    if between then between(pages) end
    if not r.m then return seen, pages end
    local pos = r.d .. "\0" .. (r.s or "")
    if ads ~= nil and pos <= ads .. "\0" .. (asn or "") then fail("position did not advance") end
    ads, asn = r.d, r.s
  end
end

local function count(t) local n = 0 for _ in pairs(t) do n = n + 1 end return n end
local function expect_all(seen, names, what)
  for n in pairs(names) do if not seen[n] then fail(what .. ": missing " .. n) end end
  if count(seen) ~= count(names) then fail(what .. ": " .. count(seen) .. " listed, " .. count(names) .. " exist") end
end
local function snaps_under(prefix)
  local t = {}
  for n in pairs(SNAP) do if n:sub(1, #prefix) == prefix then t[n] = true end end
  return t
end

-- 1. 100,000 snapshots in one dataset, pages of 10,000: ten calls, all listed once.
mkds("p"); mkds("p/big")
mksnaps("p/big", 100000, "s")
local seen, pages = list_snaps("p/big", 0, 10000)
expect_all(seen, snaps_under("p/big@"), "100k")
if pages ~= 10 then fail("100k: " .. pages .. " pages, expected 10") end
print("ok 100000 snapshots in one dataset in 10 pages")

-- 2. Page boundaries.
mkds("p/small"); mksnaps("p/small", 25, "s")
for _, lim in ipairs({ 1, 2, 5, 24, 25, 26, 1000 }) do
  local seen, pages = list_snaps("p/small", 0, lim)
  expect_all(seen, snaps_under("p/small@"), "boundary " .. lim)
  local want = math.ceil(25 / lim)
  if pages ~= want then fail("boundary " .. lim .. ": " .. pages .. " pages, expected " .. want) end
end
print("ok page boundaries")

-- 3. 1,000 datasets with snapshots (nested), recursive, pages spanning datasets.
mkds("p/tree")
for i = 1, 1000 do
  local d = string.format("p/tree/d%04d", i)
  mkds(d)
  mksnaps(d, i % 4, "k")
  if i % 100 == 0 then mkds(d .. "/sub"); mksnaps(d .. "/sub", 7, "k") end
end
local total = count(snaps_under("p/tree"))
for _, lim in ipairs({ 1, 3, 100, 777, 100000 }) do
  local seen, pages = list_snaps("p/tree", -1, lim)
  expect_all(seen, snaps_under("p/tree"), "tree " .. lim)
  if pages > math.ceil(total / lim) + 1 then fail("tree " .. lim .. ": " .. pages .. " pages") end
end
-- Depth 1: the children's snapshots, not the grandchildren's.
local seen = list_snaps("p/tree", 1, 50)
for n in pairs(seen) do if n:find("/sub@") then fail("depth 1 listed " .. n) end end
print("ok 1000 datasets, " .. total .. " snapshots")

-- 4. Datasets: 1,000+ in pages of 100, in name order.
local after, names, dpages = nil, {}, 0
while true do
  local r = DATASETS({ root = "p/tree", depth = -1, lim = 100, props = { "type" }, after = after })
  dpages = dpages + 1
  for n, t in pairs(r.i) do
    if names[n] then fail("duplicate dataset " .. n) end
    if t[1] ~= "filesystem" then fail("type of " .. n) end
    names[n] = true
  end
  if not r.m then break end
  after = r.d
end
local want = {}
for n in pairs(DS) do if n == "p/tree" or n:sub(1, 7) == "p/tree/" then want[n] = true end end
expect_all(names, want, "datasets")
if dpages ~= math.ceil(count(want) / 100) then fail("dataset pages " .. dpages) end
print("ok " .. count(want) .. " datasets in " .. dpages .. " pages")

-- 5. Changes between pages.
mkds("p/chg"); mksnaps("p/chg", 12, "s")  -- p/chg@s000001 .. s000012
local seen = list_snaps("p/chg", 0, 3, function(page)
  if page == 1 then
    SNAP["p/chg@s000003"] = nil  -- the position the first page ended on
    SNAP["p/chg@s000008"] = nil  -- not listed yet
    mksnap("p/chg", "s000005x")  -- after the position
    mksnap("p/chg", "s000001x")  -- before the position
  end
end)
local want = {}
for _, s in ipairs({ "01", "02", "03", "04", "05", "05x", "06", "07", "09", "10", "11", "12" }) do
  want["p/chg@s0000" .. s] = true
end
expect_all(seen, want, "changes")
-- A dataset destroyed between pages: its snapshots vanish; the root destroyed: gone.
mkds("p/chg2"); mkds("p/chg2/a"); mkds("p/chg2/b"); mkds("p/chg2/c")
for _, c in ipairs({ "a", "b", "c" }) do mksnaps("p/chg2/" .. c, 3, "t") end
local seen = list_snaps("p/chg2", -1, 2, function(page) if page == 1 then rmds("p/chg2/b") end end)
if count(seen) ~= 6 then fail("destroyed child: " .. count(seen) .. " listed") end
local seen = list_snaps("p/chg2", -1, 2, function(page) if page == 1 then rmds("p/chg2") end end)
if seen ~= nil then fail("destroyed root not reported") end
print("ok changes between pages")
"#;

fn lua_available() -> bool {
    std::process::Command::new("lua5.2")
        .arg("-v")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn lua_paging_model() -> TestResult {
    let programs = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../flocker-core/src/inventory/lua"
    );
    let dir = std::env::temp_dir().join(format!("flocker-inventory-lua-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(fail)?;
    let harness = dir.join("harness.lua");
    std::fs::write(&harness, LUA_HARNESS).map_err(fail)?;
    let out = std::process::Command::new("lua5.2")
        .arg(&harness)
        .arg(programs)
        .output()
        .map_err(fail);
    let _ = std::fs::remove_dir_all(&dir);
    let out = out?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    ensure!(
        out.status.success(),
        "lua harness failed: {}{}",
        stdout,
        String::from_utf8_lossy(&out.stderr)
    );
    ensure!(
        stdout.lines().filter(|l| l.starts_with("ok ")).count() == 5,
        "{stdout}"
    );
    Ok(())
}

fn main() {
    run(vec![
        zfs_test("inventory::snapshots_match_cli", snapshots_match_cli),
        zfs_test("inventory::datasets_match_cli", datasets_match_cli),
        zfs_test(
            "inventory::user_properties_match_cli",
            user_properties_match_cli,
        ),
        zfs_test(
            "inventory::holds_and_bookmarks_match_cli",
            holds_and_bookmarks_match_cli,
        ),
        zfs_test("inventory::paging_boundaries", paging_boundaries),
        zfs_test("inventory::changes_between_pages", changes_between_pages),
        zfs_test("inventory::errors_are_typed", errors_are_typed),
        zfs_test("inventory::limits_shrink_the_page", limits_shrink_the_page),
        Trial::test("inventory::lua_paging_model", lua_paging_model)
            .with_ignored_flag(!lua_available()),
    ])
}
