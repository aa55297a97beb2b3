//! The inventory (flocker_core::inventory) against the `zfs` CLI as an oracle: every field of
//! datasets, snapshots, holds, bookmarks and user properties, the paging boundaries, changes
//! during a listing, threads, the incremental listing against full ones, and the typed errors.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::ControlFlow;

use flocker_core::error::ErrorKind;
use flocker_core::inventory::{
    DatasetInfo, DatasetQuery, HoldInfo, Inventory, Refresh, SnapshotInfo, SnapshotQuery, UserProps,
};
use flocker_core::lzc::{self, DatasetType};
use flocker_core::name::{DatasetName, SnapshotName};
use flocker_tests::{Failed, TestPool, TestResult, ensure, fail, run, sh, zfs_test};

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

/// What differs between two listings by name: missing and extra names, and the values of
/// the names in both (`ours_label` and `want_label` name the two sides).
fn differences<K: Ord + std::fmt::Display, V: PartialEq + std::fmt::Debug>(
    ours: &BTreeMap<K, V>,
    want: &BTreeMap<K, V>,
    ours_label: &str,
    want_label: &str,
) -> Vec<String> {
    let mut diff = Vec::new();
    for (k, v) in want {
        match ours.get(k) {
            None => diff.push(format!("missing {k}")),
            Some(m) if m != v => diff.push(format!("{k}: {ours_label} {m:?} {want_label} {v:?}")),
            _ => {}
        }
    }
    for k in ours.keys().filter(|k| !want.contains_key(*k)) {
        diff.push(format!("extra {k}"));
    }
    diff
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
    for _ in 0..10 {
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
        last_err = differences(&mine, &before, "ours", "cli").join("\n");
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
        let mut pages = 0;
        let mut calls = 0;
        let mut done = false;
        let list = Inventory::new()
            .with_page_size(page)
            .on_progress(|p| {
                pages = p.pages;
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
            pages == want && done,
            "page {page}: {pages} pages, expected {want}"
        );
        // One stats call for the root (no child listing at depth 0), one list call per
        // snapshot, and one that ends them.
        ensure!(
            calls == N as u64 + 2,
            "page {page}: {calls} kernel calls for {N} snapshots"
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

fn changes_during_a_listing() -> TestResult {
    let pool = TestPool::new("invc", 256)?;
    let fs = pool.ds("fs");
    sh("zfs", &["create", &fs])?;
    for c in ["a", "b", "c"] {
        sh("zfs", &["create", &format!("{fs}/{c}")])?;
        make_snapshots(&format!("{fs}/{c}"), 2, "t")?;
    }
    make_snapshots(&fs, 12, "s")?;
    let root = ds(&fs)?;
    // Between pages of one listing: destroy a snapshot and a whole child that may not have
    // been read yet, create new ones. What existed all along is listed exactly once; what
    // changed may or may not be; nothing is listed twice; nothing that never existed is.
    let mut names: Vec<String> = Vec::new();
    let mut err = None;
    let mut made = false;
    Inventory::new()
        .with_page_size(3)
        .with_threads(1)
        .snapshot_pages(&SnapshotQuery::new(&root).recursive(), |p| {
            names.extend(p.iter().map(|s| s.name.as_str().to_string()));
            if !made {
                made = true;
                let r = (|| -> TestResult {
                    sh("zfs", &["destroy", &format!("{fs}@s007")])?;
                    sh("zfs", &["destroy", "-r", &format!("{fs}/b")])?;
                    lzc::snapshot(&[snap(&format!("{fs}/c@new"))?], None)?;
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
        })?;
    if let Some(e) = err {
        return Err(e);
    }
    let set: BTreeSet<&str> = names.iter().map(String::as_str).collect();
    ensure!(set.len() == names.len(), "duplicates: {names:?}");
    let mut all_along: Vec<String> = (0..12)
        .filter(|i| *i != 7)
        .map(|i| format!("{fs}@s{i:03}"))
        .collect();
    for c in ["a", "c"] {
        all_along.extend((0..2).map(|i| format!("{fs}/{c}@t{i:03}")));
    }
    for n in &all_along {
        ensure!(
            set.contains(n.as_str()),
            "{n} existed all along but was not listed"
        );
    }
    let maybe: BTreeSet<String> = [
        format!("{fs}@s007"),
        format!("{fs}/b@t000"),
        format!("{fs}/b@t001"),
        format!("{fs}/c@new"),
        format!("{fs}/d@t000"),
    ]
    .into_iter()
    .collect();
    for n in &set {
        ensure!(
            all_along.iter().any(|a| a == n) || maybe.contains(*n),
            "{n} was listed but never existed"
        );
    }
    // The root destroyed before a listing: NotFound.
    let victim = pool.ds("victim");
    sh("zfs", &["create", &victim])?;
    make_snapshots(&victim, 2, "v")?;
    sh("zfs", &["destroy", "-r", &victim])?;
    let e = Inventory::new()
        .snapshots(&SnapshotQuery::new(&ds(&victim)?))
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
        inv.snapshot_names(&SnapshotQuery::new(&missing)).err(),
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
    let before = Inventory::new().snapshots(&SnapshotQuery::new(&ds(&fs)?))?;
    // Exported: NotFound. Read-only: listed like before (the list ioctls only read).
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
        let ro = Inventory::new().snapshots(&SnapshotQuery::new(&ds(&fs)?))?;
        let key = |v: &[SnapshotInfo]| -> Vec<(String, u64)> {
            v.iter()
                .map(|s| (s.name.as_str().to_string(), s.guid))
                .collect()
        };
        ensure!(key(&ro) == key(&before), "read-only listing differs");
        Ok(())
    })();
    // Leave the pool imported read-write for TestPool's cleanup.
    let _ = sh("zpool", &["export", &name]);
    let _ = reimport(&[]);
    r
}

fn threads_do_not_change_the_result() -> TestResult {
    let pool = TestPool::new("invt", 128)?;
    let fs = pool.ds("fs");
    sh("zfs", &["create", &fs])?;
    let mut names = Vec::new();
    for i in 0..6 {
        let child = format!("{fs}/c{i}");
        sh("zfs", &["create", &child])?;
        names.push(child);
    }
    // One txg per round, every child in it.
    for r in 0..4 {
        let snaps: Vec<SnapshotName> = names
            .iter()
            .filter(|c| r < 3 || c.ends_with('0'))
            .map(|c| snap(&format!("{c}@r{r}")))
            .collect::<Result<_, _>>()?;
        lzc::snapshot(&snaps, None)?;
    }
    let q = SnapshotQuery::new(&ds(&fs)?).recursive().with_holds(true);
    let one = Inventory::new().with_threads(1).snapshots(&q)?;
    ensure!(one.len() == 6 * 3 + 1, "fixture: {}", one.len());
    for threads in [2, 4, 16] {
        let many = Inventory::new().with_threads(threads).snapshots(&q)?;
        ensure!(many == one, "{threads} threads list differently");
        let mut inv = Inventory::new().with_threads(threads).with_page_size(4);
        let mut paged = Vec::new();
        inv.snapshot_pages(&q, |p| {
            paged.extend(p);
            ControlFlow::Continue(())
        })?;
        let sorted = {
            let mut v = paged.clone();
            v.sort_by(|a, b| {
                (a.name.dataset_str(), a.name.as_str())
                    .cmp(&(b.name.dataset_str(), b.name.as_str()))
            });
            v
        };
        ensure!(paged == sorted, "{threads} threads: pages out of order");
        ensure!(
            paged.len() == one.len(),
            "{threads} threads: {} paged",
            paged.len()
        );
    }
    Ok(())
}

/// A small deterministic generator (xorshift), seeded from `FLOCKER_INV_SEED` or the clock;
/// the seed is printed so that a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn new() -> Rng {
        let seed = std::env::var("FLOCKER_INV_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(1, |d| d.as_nanos() as u64)
            })
            | 1;
        eprintln!("inventory::incremental_matches_full: FLOCKER_INV_SEED={seed}");
        Rng(seed)
    }
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n.max(1) as u64) as usize
    }
}

/// One random change to the pool under `fs`; returns what it did (for the failure message).
fn random_change(rng: &mut Rng, pool: &TestPool, fs: &str, step: usize) -> Result<String, Failed> {
    let datasets: Vec<String> =
        cli_rows(&["list", "-H", "-o", "name", "-t", "filesystem", "-r", fs])?
            .into_keys()
            .filter(|d| !d.contains("clone"))
            .collect();
    let snaps: Vec<String> = cli_rows(&["list", "-H", "-o", "name", "-t", "snapshot", "-r", fs])?
        .into_keys()
        .collect();
    let ds = datasets[rng.below(datasets.len())].clone();
    let any_snap = |rng: &mut Rng| snaps.get(rng.below(snaps.len())).cloned();
    let what = match rng.below(10) {
        0..=2 => {
            let n = format!("{ds}@x{step}");
            lzc::snapshot(&[snap(&n)?], None)?;
            format!("snapshot {n}")
        }
        3 => match any_snap(rng) {
            Some(s) => {
                // Held or cloned snapshots refuse: that is a change too (nothing happens).
                let _ = sh("zfs", &["destroy", &s]);
                format!("destroy {s}")
            }
            None => "nothing".into(),
        },
        4 => match any_snap(rng) {
            Some(s) => {
                let _ = sh("zfs", &["hold", &format!("h{step}"), &s]);
                format!("hold {s}")
            }
            None => "nothing".into(),
        },
        5 => {
            let mut args = vec!["holds", "-H"];
            args.extend(snaps.iter().map(String::as_str));
            let holds = if snaps.is_empty() {
                String::new()
            } else {
                sh("zfs", &args)?
            };
            match holds.lines().next() {
                Some(l) => {
                    let cols: Vec<&str> = l.split('\t').collect();
                    sh("zfs", &["release", cols[1], cols[0]])?;
                    format!("release {} {}", cols[1], cols[0])
                }
                None => "nothing".into(),
            }
        }
        6 => match any_snap(rng) {
            Some(s) => {
                let c = pool.ds(&format!("fs/clone{step}"));
                sh("zfs", &["clone", &s, &c])?;
                format!("clone {s} {c}")
            }
            None => "nothing".into(),
        },
        7 => {
            let c = format!("{ds}/n{step}");
            sh("zfs", &["create", &c])?;
            format!("create {c}")
        }
        8 => match any_snap(rng) {
            Some(s) => {
                sh("zfs", &["set", &format!("com.example:v={step}"), &s])?;
                format!("set on {s}")
            }
            None => "nothing".into(),
        },
        _ => {
            let mnt = sh("zfs", &["get", "-H", "-o", "value", "mountpoint", &ds])?;
            let f = format!("{}/f{}", mnt.trim(), step % 3);
            std::fs::write(&f, vec![step as u8; 64 << 10]).map_err(fail)?;
            format!("write {f}")
        }
    };
    Ok(what)
}

fn incremental_matches_full() -> TestResult {
    let pool = TestPool::new("invi", 256)?;
    let fs = pool.ds("fs");
    let mnt = format!("/var/tmp/flocker-mnt/{}", pool.name());
    sh("zfs", &["create", "-o", &format!("mountpoint={mnt}"), &fs])?;
    for c in ["a", "b", "a/deep"] {
        sh("zfs", &["create", &format!("{fs}/{c}")])?;
    }
    sh("zfs", &["snapshot", "-r", &format!("{fs}@start")])?;
    let mut rng = Rng::new();
    let root = ds(pool.name())?;
    let q = SnapshotQuery::new(&root)
        .recursive()
        .with_holds(true)
        .user_properties(UserProps::All);
    let mut inc = Inventory::new().incremental();
    let first = inc.snapshots(&q)?;
    let r = inc
        .last_refresh()
        .ok_or_else(|| fail("no refresh recorded"))?;
    ensure!(r.full, "the first listing was not full: {r:?}");
    ensure!(first.len() == 4, "fixture: {}", first.len());
    let mut log = Vec::new();
    let mut incremental_rounds = 0;
    for round in 0..12 {
        for k in 0..3 {
            log.push(random_change(&mut rng, &pool, &fs, round * 3 + k)?);
        }
        sh("zpool", &["sync", pool.name()])?;
        let got = inc.snapshots(&q)?;
        let refresh = inc
            .last_refresh()
            .cloned()
            .ok_or_else(|| fail("no refresh"))?;
        let want = Inventory::new().snapshots(&q)?;
        if got != want {
            let g: BTreeMap<&str, &SnapshotInfo> =
                got.iter().map(|s| (s.name.as_str(), s)).collect();
            let w: BTreeMap<&str, &SnapshotInfo> =
                want.iter().map(|s| (s.name.as_str(), s)).collect();
            let diff = differences(&g, &w, "incremental", "\nfull");
            return Err(fail(format!(
                "round {round}: incremental differs from full ({refresh:?}) after {log:?}:\n{}",
                diff.join("\n")
            )));
        }
        if !refresh.full {
            incremental_rounds += 1;
        }
    }
    // Renames and promotions are allowed to force full listings; the others must not.
    ensure!(
        incremental_rounds >= 6,
        "only {incremental_rounds} of 12 listings were incremental"
    );
    // A rename forces a full listing, and it is still right.
    sh("zfs", &["rename", &format!("{fs}/b"), &format!("{fs}/b2")])?;
    let (_, r) = list_again(&mut inc, &q, "after a rename")?;
    ensure!(r.full, "a rename did not force a full listing: {r:?}");
    // Nothing changed: incremental, and re-reads only the newest snapshot of each dataset.
    let (_, r) = list_again(&mut inc, &q, "idle")?;
    let datasets = Inventory::new()
        .datasets(&DatasetQuery::new(&root).recursive())?
        .len();
    ensure!(!r.full && r.datasets_relisted == 0, "idle listing: {r:?}");
    ensure!(
        r.snapshots_reread <= datasets,
        "idle listing re-read {} snapshots for {datasets} datasets",
        r.snapshots_reread
    );
    Ok(())
}

/// Lists `q` with the incremental `inc`, checks the result against a fresh full listing, and
/// returns it with what the incremental listing did.
fn list_again(
    inc: &mut Inventory<'_>,
    q: &SnapshotQuery,
    what: &str,
) -> Result<(Vec<SnapshotInfo>, Refresh), Failed> {
    let got = inc.snapshots(q)?;
    let r = inc
        .last_refresh()
        .cloned()
        .ok_or_else(|| fail(format!("{what}: no refresh recorded")))?;
    ensure!(
        got == Inventory::new().snapshots(q)?,
        "{what}: the incremental listing differs from a full one ({r:?})"
    );
    Ok((got, r))
}

/// The pool history is a ring (128 KiB on a small pool): when the records since the last
/// listing have been overwritten, the listing is full (and right), and the next one is
/// incremental again.
fn incremental_survives_a_wrapped_history() -> TestResult {
    let pool = TestPool::new("invw", 128)?;
    let fs = pool.ds("fs");
    sh("zfs", &["create", &fs])?;
    let snaps: Vec<SnapshotName> = (0..60)
        .map(|i| snap(&format!("{fs}@w{i:03}")))
        .collect::<Result<_, _>>()?;
    for s in &snaps {
        lzc::snapshot(std::slice::from_ref(s), None)?;
    }
    let q = SnapshotQuery::new(&ds(&fs)?).with_holds(true);
    let mut inc = Inventory::new().incremental();
    inc.snapshots(&q)?;
    // Each round logs 120 internal events (a hold and a release per snapshot), about 200
    // bytes each: 12 rounds are well past 128 KiB.
    for round in 0..12 {
        let tag = format!("wrap{round}");
        let holds: Vec<(SnapshotName, &str)> =
            snaps.iter().map(|s| (s.clone(), tag.as_str())).collect();
        let failed = lzc::hold(&holds, None)?;
        ensure!(failed.is_empty(), "hold: {failed:?}");
        let tags = [tag.as_str()];
        let rel: Vec<(SnapshotName, &[&str])> =
            snaps.iter().map(|s| (s.clone(), &tags[..])).collect();
        let failed = lzc::release(&rel)?;
        ensure!(failed.is_empty(), "release: {failed:?}");
    }
    lzc::hold(&[(snaps[3].clone(), "kept")], None)?;
    let (got, r) = list_again(&mut inc, &q, "after the ring wrapped")?;
    ensure!(
        r.full
            && r.reason
                .as_deref()
                .is_some_and(|w| w.contains("overwritten")),
        "after the ring wrapped: {r:?}"
    );
    ensure!(got[3].userrefs == 1, "the new hold: {:?}", got[3]);
    lzc::release(&[(snaps[3].clone(), &["kept"][..])])?;
    let (got, r) = list_again(&mut inc, &q, "after the release")?;
    ensure!(
        !r.full,
        "the listing after a wrap was not incremental: {r:?}"
    );
    ensure!(got[3].userrefs == 0, "the release: {:?}", got[3]);
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
        zfs_test(
            "inventory::changes_during_a_listing",
            changes_during_a_listing,
        ),
        zfs_test("inventory::errors_are_typed", errors_are_typed),
        zfs_test(
            "inventory::threads_do_not_change_the_result",
            threads_do_not_change_the_result,
        ),
        zfs_test(
            "inventory::incremental_matches_full",
            incremental_matches_full,
        ),
        zfs_test(
            "inventory::incremental_survives_a_wrapped_history",
            incremental_survives_a_wrapped_history,
        ),
    ])
}
