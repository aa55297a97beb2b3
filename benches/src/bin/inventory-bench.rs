//! `inventory-bench`: flocker-core's inventory against `zfs list`, inside the lab.
//!
//! Creates a pool on a file, then two scenarios:
//! - **one dataset** with `--one N` snapshots (one `lzc_snapshot` per snapshot: the kernel
//!   allows one snapshot per dataset per transaction group);
//! - **a tree** of `--datasets D` filesystems with `--per-dataset K` snapshots each (one
//!   `lzc_snapshot` of all D datasets per round: one txg per round).
//!
//! and lists each with all the inventory's snapshot properties, ours
//! (`Inventory::snapshots`) against `zfs list -Hp -t snapshot -o
//! name,guid,createtxg,creation,used,referenced,written,userrefs`, alternating, `--runs`
//! times, checking that both see the same snapshots. Prints a Markdown table. `--modes
//! full,basic,names,repeat` (the default: all four) picks the listings compared; `repeat` is
//! what a service cycle does: an incremental `Inventory` that has listed everything once
//! lists again after 10 new snapshots (one `lzc_snapshot` in 10 datasets), against `zfs list`
//! listing everything again. `--threads T` sets the inventory's threads (default: its own).
//!
//! ```text
//! cargo build --release -p flocker-benches --bin inventory-bench
//! cargo xtask lab run --zfs 2.1 -- target/release/inventory-bench --one 5000 --datasets 1000 --per-dataset 10
//! ```

use std::cell::Cell;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use flocker_benches::BenchPool;
use flocker_core::inventory::{DatasetQuery, Inventory, SnapshotQuery};
use flocker_core::lzc::{self, DatasetType};
use flocker_core::name::{DatasetName, SnapshotName};

const CLI_SNAP_COLS: &str = "name,guid,createtxg,creation,used,referenced,written,userrefs";
const CLI_DS_COLS: &str =
    "name,type,guid,createtxg,creation,used,referenced,available,written,origin,volsize,mountpoint";

/// `inventory-bench`'s options (see the module doc).
#[derive(Parser, Debug)]
#[command(
    name = "inventory-bench",
    version,
    about = "flocker-core's inventory against `zfs list`, inside the lab"
)]
struct Args {
    /// Snapshots of the one-dataset scenario (0: skip it).
    #[arg(long, value_name = "N", default_value_t = 2000)]
    one: usize,
    /// Filesystems of the tree scenario (0: skip it).
    #[arg(long, value_name = "D", default_value_t = 1000)]
    datasets: usize,
    /// Snapshots of each filesystem of the tree.
    #[arg(long, value_name = "K", default_value_t = 5)]
    per_dataset: usize,
    /// Runs of each listing (medians are printed); 0 counts as 1.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = at_least_one)]
    runs: usize,
    /// Directory of the pool's file.
    #[arg(long, value_name = "DIR", default_value = "/var/tmp")]
    dir: String,
    /// Size of the pool's file, GiB.
    #[arg(long, value_name = "GIB", default_value_t = 8)]
    size_gib: u64,
    /// The inventory's page size (default: its own).
    #[arg(long, value_name = "N")]
    page_size: Option<usize>,
    /// The inventory's threads (default: its own).
    #[arg(long, value_name = "T")]
    threads: Option<usize>,
    /// The listings compared, a comma list.
    #[arg(
        long,
        value_name = "MODES",
        value_enum,
        value_delimiter = ',',
        default_value = "full,repeat,basic,names"
    )]
    modes: Vec<Mode>,
}

/// A count of at least 1: 0 counts as 1, as before clap.
fn at_least_one(s: &str) -> Result<usize, String> {
    s.parse::<usize>()
        .map(|n| n.max(1))
        .map_err(|e| format!("{e}"))
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// What is listed: all the inventory's properties, the basic ones, or names only.
#[derive(Clone, Copy, PartialEq, Eq, Debug, ValueEnum)]
enum Mode {
    Full,
    Basic,
    Names,
    /// All properties again, incrementally, after 10 new snapshots.
    Repeat,
}

impl Mode {
    fn cli_cols(self) -> &'static str {
        match self {
            Mode::Full | Mode::Repeat => CLI_SNAP_COLS,
            Mode::Basic => "name,guid,createtxg,creation",
            Mode::Names => "name",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Mode::Full => "all properties (ours: 9, cli: 7 + name)",
            Mode::Basic => "guid, createtxg, creation",
            Mode::Names => "names only",
            Mode::Repeat => "all properties again after 10 new snapshots (ours: incremental)",
        }
    }
}

/// An inventory with the bench's page size and threads, printing a line per 10,000 items.
fn inventory<'a>(a: &Args, calls: &'a Cell<u64>) -> Inventory<'a> {
    let mut inv = Inventory::new();
    if let Some(p) = a.page_size {
        inv = inv.with_page_size(p);
    }
    if let Some(t) = a.threads {
        inv = inv.with_threads(t);
    }
    let t0 = Instant::now();
    inv.on_progress(move |p| {
        calls.set(p.calls);
        // A line per page of a long listing (a page of 10,000 takes minutes under TCG).
        if p.items >= 10_000 {
            eprintln!(
                "  ours: {} {} in {} calls, {:.0} s",
                p.items,
                p.listing,
                p.calls,
                secs(t0.elapsed())
            );
        }
    })
}

/// Lists `root`'s snapshots with `inv` in `mode` (`Full` and `Repeat` through
/// `Inventory::snapshots`); returns the names and the seconds it took.
fn our_snapshots(
    inv: &mut Inventory<'_>,
    root: &DatasetName,
    recursive: bool,
    mode: Mode,
) -> Result<(Vec<String>, f64), String> {
    let mut q = SnapshotQuery::new(root);
    if recursive {
        q = q.recursive();
    }
    let t = Instant::now();
    let mine: Vec<String> = match mode {
        Mode::Full | Mode::Repeat => inv
            .snapshots(&q)
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|s| s.name.into_string())
            .collect(),
        Mode::Basic => inv
            .snapshot_basics(&q)
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|s| s.name().as_str().to_string())
            .collect(),
        Mode::Names => inv
            .snapshot_names(&q)
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|s| s.into_string())
            .collect(),
    };
    Ok((mine, secs(t.elapsed())))
}

/// Lists `root`'s snapshots with `zfs list` in `mode`; returns its output and the seconds it
/// took.
fn cli_snapshots(root: &DatasetName, recursive: bool, mode: Mode) -> Result<(String, f64), String> {
    let mut args = vec!["list", "-Hp", "-t", "snapshot", "-o", mode.cli_cols()];
    if recursive {
        args.push("-r");
    } else {
        args.extend(["-d", "1"]);
    }
    args.push(root.as_str());
    let t = Instant::now();
    let out = flocker_benches::run("zfs", &args)?;
    Ok((out, secs(t.elapsed())))
}

/// The number of names listed if `zfs list`'s output (`cli`, the name in the first column)
/// names the same set as `ours`; otherwise (ours, cli) counts.
fn same_names<'a>(
    cli: &'a str,
    ours: impl IntoIterator<Item = &'a str>,
) -> Result<usize, (usize, usize)> {
    let theirs: BTreeSet<&str> = cli.lines().filter_map(|l| l.split('\t').next()).collect();
    let mine: BTreeSet<&str> = ours.into_iter().collect();
    if theirs != mine {
        return Err((mine.len(), theirs.len()));
    }
    Ok(mine.len())
}

/// What one listing compared: the count, the medians and how ours did it.
struct Compared {
    count: usize,
    ours: f64,
    cli: f64,
    how: String,
}

/// Lists `root`'s snapshots both ways `a.runs` times, alternating. `inc` is the kept
/// incremental inventory: `Full` is its first (full) listing, `Repeat` its later ones, each
/// after `more_snapshots` made 10 new snapshots.
fn compare_snapshots(
    root: &DatasetName,
    recursive: bool,
    mode: Mode,
    a: &Args,
    inc: &mut Inventory<'_>,
    more_snapshots: &dyn Fn(usize) -> Result<(), String>,
) -> Result<Compared, String> {
    let (mut ours, mut cli) = (Vec::new(), Vec::new());
    let mut count = 0;
    let mut how = String::new();
    let calls = Cell::new(0);
    for run in 0..a.runs {
        if mode == Mode::Repeat {
            more_snapshots(run)?;
        }
        let (mine, took) = match mode {
            Mode::Full | Mode::Repeat => our_snapshots(inc, root, recursive, mode)?,
            Mode::Basic | Mode::Names => {
                our_snapshots(&mut inventory(a, &calls), root, recursive, mode)?
            }
        };
        ours.push(took);
        how = match inc
            .last_refresh()
            .filter(|_| matches!(mode, Mode::Full | Mode::Repeat))
        {
            Some(r) if r.full => format!("{} calls, full", r.calls),
            Some(r) => format!(
                "{} calls: {} events, {} snapshots re-read, {} datasets re-listed",
                r.calls, r.events, r.snapshots_reread, r.datasets_relisted
            ),
            None => format!("{} calls", calls.get()),
        };
        let (out, took) = cli_snapshots(root, recursive, mode)?;
        cli.push(took);
        if run == 0 {
            count = same_names(&out, mine.iter().map(String::as_str))
                .map_err(|(m, t)| format!("listings differ: ours {m} snapshots, cli {t}"))?;
        }
        eprintln!(
            "  {}: run {}: ours {:.2} s ({how}), cli {:.2} s",
            mode.label(),
            run + 1,
            ours[run],
            cli[run]
        );
    }
    Ok(Compared {
        count,
        ours: median(&mut ours),
        cli: median(&mut cli),
        how,
    })
}

/// Runs every mode (`Full` first: it primes the incremental inventory that `Repeat` uses)
/// and adds a table row for each.
fn snapshot_rows(
    rows: &mut Vec<String>,
    what: &str,
    root: &DatasetName,
    recursive: bool,
    made: f64,
    a: &Args,
    more_snapshots: &dyn Fn(usize) -> Result<(), String>,
) -> Result<(), String> {
    let calls = Cell::new(0);
    let mut inc = inventory(a, &calls).incremental();
    let mut modes = a.modes.clone();
    if modes.contains(&Mode::Repeat) && !modes.contains(&Mode::Full) {
        modes.insert(0, Mode::Full);
    }
    modes.sort_by_key(|m| *m != Mode::Full);
    for mode in modes {
        let c = compare_snapshots(root, recursive, mode, a, &mut inc, more_snapshots)?;
        let per = c.ours * 1000.0 / c.count.max(1) as f64;
        let row = format!(
            "| {what}, {} | {} | {made:.0} s | {:.1} s ({}; {per:.2} ms a snapshot) | {:.1} s | {:.2}x |",
            mode.label(),
            c.count,
            c.ours,
            c.how,
            c.cli,
            c.cli / c.ours
        );
        add_row(rows, row);
    }
    Ok(())
}

/// Keeps a table row for the end and also prints it to stderr at once, so a long run that is
/// cut short still leaves the rows it finished.
fn add_row(rows: &mut Vec<String>, row: String) {
    eprintln!("row: {row}");
    rows.push(row);
}

fn compare_datasets(root: &DatasetName, runs: usize) -> Result<(usize, f64, f64), String> {
    let mut ours = Vec::new();
    let mut cli = Vec::new();
    let mut count = 0;
    for run in 0..runs {
        let t = Instant::now();
        let list = Inventory::new()
            .datasets(&DatasetQuery::new(root).recursive())
            .map_err(|e| e.to_string())?;
        ours.push(secs(t.elapsed()));
        let t = Instant::now();
        let out = flocker_benches::run(
            "zfs",
            &["list", "-Hp", "-o", CLI_DS_COLS, "-r", root.as_str()],
        )?;
        cli.push(secs(t.elapsed()));
        if run == 0 {
            count = same_names(&out, list.iter().map(|d| d.name.as_str()))
                .map_err(|(m, t)| format!("dataset listings differ: {m} vs {t}"))?;
        }
        eprintln!(
            "  run {}: ours {:.2} s, cli {:.2} s",
            run + 1,
            ours[run],
            cli[run]
        );
    }
    Ok((count, median(&mut ours), median(&mut cli)))
}

fn ds(s: &str) -> Result<DatasetName, String> {
    DatasetName::new(s).map_err(|e| e.to_string())
}

/// One dataset, many snapshots: creates `pool/one` with `a.one` snapshots and adds the rows
/// of its listings.
fn one_dataset(pool: &str, a: &Args, rows: &mut Vec<String>) -> Result<(), String> {
    let one = ds(&format!("{pool}/one"))?;
    lzc::create(&one, DatasetType::Filesystem, None, None).map_err(|e| e.to_string())?;
    let t = Instant::now();
    for i in 0..a.one {
        let s =
            SnapshotName::new(format!("{}@s{i:06}", one.as_str())).map_err(|e| e.to_string())?;
        lzc::snapshot(&[s], None).map_err(|e| e.to_string())?;
        if (i + 1) % 1000 == 0 {
            eprintln!("  {} snapshots in {:.0} s", i + 1, secs(t.elapsed()));
        }
    }
    let made = secs(t.elapsed());
    eprintln!(
        "one dataset: {} snapshots created in {made:.1} s ({:.1}/s)",
        a.one,
        a.one as f64 / made
    );
    let more = |run: usize| -> Result<(), String> {
        for i in 0..10 {
            let s = one
                .snapshot(&format!("more{run}-{i}"))
                .map_err(|e| e.to_string())?;
            lzc::snapshot(&[s], None).map_err(|e| e.to_string())?;
        }
        Ok(())
    };
    snapshot_rows(
        rows,
        "snapshots of one dataset",
        &one,
        false,
        made,
        a,
        &more,
    )
}

/// A tree: creates `pool/tree` with `a.datasets` datasets of `a.per_dataset` snapshots each and
/// adds the rows of its listings.
fn tree(pool: &str, a: &Args, rows: &mut Vec<String>) -> Result<(), String> {
    let tree = ds(&format!("{pool}/tree"))?;
    lzc::create(&tree, DatasetType::Filesystem, None, None).map_err(|e| e.to_string())?;
    let t = Instant::now();
    let mut children = Vec::new();
    for i in 0..a.datasets {
        let c = ds(&format!("{}/d{i:05}", tree.as_str()))?;
        lzc::create(&c, DatasetType::Filesystem, None, None).map_err(|e| e.to_string())?;
        children.push(c);
    }
    let made_ds = secs(t.elapsed());
    eprintln!("tree: {} datasets created in {made_ds:.1} s", a.datasets);
    let t = Instant::now();
    for k in 0..a.per_dataset {
        let snaps = children
            .iter()
            .map(|c| c.snapshot(&format!("k{k:04}")).map_err(|e| e.to_string()))
            .collect::<Result<Vec<_>, _>>()?;
        lzc::snapshot(&snaps, None).map_err(|e| e.to_string())?;
        eprintln!("  round {} in {:.0} s", k + 1, secs(t.elapsed()));
    }
    let made = secs(t.elapsed());
    let nsnaps = a.datasets * a.per_dataset;
    eprintln!(
        "tree: {nsnaps} snapshots created in {made:.1} s ({:.1}/s)",
        nsnaps as f64 / made
    );
    let (n, ours, cli) = compare_datasets(&tree, a.runs)?;
    let row = format!(
        "| datasets of the tree (11 properties each) | {n} | {made_ds:.0} s | {ours:.1} s | {cli:.1} s | {:.2}x |",
        cli / ours
    );
    add_row(rows, row);
    let what = format!("snapshots of {} datasets × {}", a.datasets, a.per_dataset);
    // What a service cycle does: one atomic snapshot of 10 datasets.
    let more = |run: usize| -> Result<(), String> {
        let snaps = children
            .iter()
            .take(10)
            .map(|c| c.snapshot(&format!("more{run}")).map_err(|e| e.to_string()))
            .collect::<Result<Vec<_>, _>>()?;
        lzc::snapshot(&snaps, None).map_err(|e| e.to_string())
    };
    snapshot_rows(rows, &what, &tree, true, made, a, &more)
}

fn main_inner(a: Args) -> Result<(), String> {
    let version = std::fs::read_to_string("/sys/module/zfs/version")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into());
    let flavour = std::env::var("FLOCKER_LAB_FLAVOUR").unwrap_or_else(|_| "?".into());
    eprintln!("inventory-bench: OpenZFS {version} (flavour {flavour})");
    let pool = BenchPool::create("ib", &a.dir, a.size_gib << 30)?;
    let total = Instant::now();
    let mut rows = Vec::new();

    if a.one > 0 {
        one_dataset(&pool.name, &a, &mut rows)?;
    }
    if a.datasets > 0 {
        tree(&pool.name, &a, &mut rows)?;
    }

    println!();
    println!(
        "OpenZFS {version}, flavour {flavour}, {} runs (medians), total {:.0} s",
        a.runs,
        secs(total.elapsed())
    );
    println!();
    println!(
        "| listing | items | created in | flocker-core | `zfs list -Hp` | ratio (cli / ours) |"
    );
    println!("|---|---|---|---|---|---|");
    for r in rows {
        println!("{r}");
    }
    drop(pool);
    Ok(())
}

fn main() -> std::process::ExitCode {
    let a = Args::parse();
    match main_inner(a) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("inventory-bench: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_names_compares_the_first_column() {
        let cli = "p/a@1\t1\t2\np/a@2\t3\t4\n";
        assert_eq!(same_names(cli, ["p/a@2", "p/a@1"]), Ok(2));
        assert_eq!(same_names(cli, ["p/a@1"]), Err((1, 2)));
    }

    fn parse(argv: &[&str]) -> Result<Args, clap::Error> {
        Args::try_parse_from(std::iter::once("inventory-bench").chain(argv.iter().copied()))
    }

    #[test]
    fn defaults_are_the_hand_parser_s() {
        let a = parse(&[]).unwrap();
        assert_eq!(
            (a.one, a.datasets, a.per_dataset, a.runs, a.size_gib),
            (2000, 1000, 5, 1, 8)
        );
        assert_eq!(a.dir, "/var/tmp");
        assert_eq!((a.page_size, a.threads), (None, None));
        assert_eq!(
            a.modes,
            [Mode::Full, Mode::Repeat, Mode::Basic, Mode::Names]
        );
    }

    #[test]
    fn xtask_command_lines_parse() {
        let a = parse(&[
            "--one",
            "300",
            "--datasets",
            "100",
            "--per-dataset",
            "5",
            "--runs",
            "1",
            "--size-gib",
            "2",
        ])
        .unwrap();
        assert_eq!(
            (a.one, a.datasets, a.per_dataset, a.runs, a.size_gib),
            (300, 100, 5, 1, 2)
        );
        let a = parse(&[
            "--one",
            "0",
            "--datasets",
            "1000",
            "--per-dataset",
            "100",
            "--modes",
            "full,repeat,names",
            "--runs",
            "1",
            "--size-gib",
            "8",
        ])
        .unwrap();
        assert_eq!((a.one, a.datasets, a.per_dataset), (0, 1000, 100));
        assert_eq!(a.modes, [Mode::Full, Mode::Repeat, Mode::Names]);
        let a = parse(&[
            "--runs",
            "0",
            "--threads",
            "4",
            "--page-size",
            "64",
            "--dir",
            "/d",
        ])
        .unwrap();
        assert_eq!((a.runs, a.threads, a.page_size), (1, Some(4), Some(64)));
        assert_eq!(a.dir, "/d");
        assert_eq!(parse(&["--modes", "basic"]).unwrap().modes, [Mode::Basic]);
    }

    #[test]
    fn bad_values_are_refused() {
        for argv in [
            &["--modes", "full,bogus"][..],
            &["--runs", "x"],
            &["--one", "-1"],
            &["--one"],
            &["--nope"],
            &["--size-gib", "1.5"],
        ] {
            let e = parse(argv).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{argv:?}");
        }
    }
}
