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
//! full,basic,names` (the default: all three) picks the property sets compared.
//!
//! ```text
//! cargo build --release -p flocker-benches --bin inventory-bench
//! cargo xtask lab run --zfs 2.1 -- target/release/inventory-bench --one 5000 --datasets 1000 --per-dataset 10
//! ```

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use flocker_benches::BenchPool;
use flocker_core::inventory::{DatasetQuery, Inventory, SnapshotQuery};
use flocker_core::lzc::{self, DatasetType};
use flocker_core::name::{DatasetName, SnapshotName};

const CLI_SNAP_COLS: &str = "name,guid,createtxg,creation,used,referenced,written,userrefs";
const CLI_DS_COLS: &str =
    "name,type,guid,createtxg,creation,used,referenced,available,written,origin,volsize,mountpoint";

struct Args {
    one: usize,
    datasets: usize,
    per_dataset: usize,
    runs: usize,
    dir: String,
    size_gib: u64,
    page_size: Option<usize>,
    modes: Vec<Mode>,
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        one: 2000,
        datasets: 1000,
        per_dataset: 5,
        runs: 1,
        dir: "/var/tmp".into(),
        size_gib: 8,
        page_size: None,
        modes: vec![Mode::Full, Mode::Basic, Mode::Names],
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut v = || it.next().ok_or_else(|| format!("{k} needs a value"));
        let num = |s: String| s.parse::<usize>().map_err(|_| format!("bad number {s:?}"));
        match k.as_str() {
            "--one" => a.one = num(v()?)?,
            "--datasets" => a.datasets = num(v()?)?,
            "--per-dataset" => a.per_dataset = num(v()?)?,
            "--runs" => a.runs = num(v()?)?.max(1),
            "--dir" => a.dir = v()?,
            "--size-gib" => a.size_gib = num(v()?)? as u64,
            "--page-size" => a.page_size = Some(num(v()?)?),
            "--modes" => {
                a.modes = v()?
                    .split(',')
                    .map(|m| match m {
                        "full" => Ok(Mode::Full),
                        "basic" => Ok(Mode::Basic),
                        "names" => Ok(Mode::Names),
                        other => Err(format!("unknown mode {other:?} (full, basic, names)")),
                    })
                    .collect::<Result<_, _>>()?
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(a)
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// What is listed: all the inventory's properties, the basic ones, or names only.
#[derive(Clone, Copy)]
enum Mode {
    Full,
    Basic,
    Names,
}

impl Mode {
    fn cli_cols(self) -> &'static str {
        match self {
            Mode::Full => CLI_SNAP_COLS,
            Mode::Basic => "name,guid,createtxg,creation",
            Mode::Names => "name",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Mode::Full => "all properties (ours: 9, cli: 7 + name)",
            Mode::Basic => "guid, createtxg, creation",
            Mode::Names => "names only",
        }
    }
}

/// Lists `root`'s snapshots with the inventory in `mode`; returns the names, the seconds it
/// took and the number of calls.
fn our_snapshots(
    root: &DatasetName,
    recursive: bool,
    mode: Mode,
    page_size: Option<usize>,
) -> Result<(Vec<String>, f64, u64), String> {
    let mut inv = Inventory::new();
    if let Some(p) = page_size {
        inv = inv.with_page_size(p);
    }
    let mut c = 0;
    let t0 = Instant::now();
    let mut inv = inv.on_progress(|p| {
        c = p.calls;
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
    });
    let mut q = SnapshotQuery::new(root);
    if recursive {
        q = q.recursive();
    }
    let t = Instant::now();
    let mine: Vec<String> = match mode {
        Mode::Full => inv
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
    let took = secs(t.elapsed());
    drop(inv);
    Ok((mine, took, c))
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

/// Lists `root`'s snapshots both ways `runs` times, alternating; returns (count, ours, cli
/// median seconds, our calls).
fn compare_snapshots(
    root: &DatasetName,
    recursive: bool,
    mode: Mode,
    runs: usize,
    page_size: Option<usize>,
) -> Result<(usize, f64, f64, u64), String> {
    let mut ours = Vec::new();
    let mut cli = Vec::new();
    let mut count = 0;
    let mut calls = 0;
    for run in 0..runs {
        let (mine, took, c) = our_snapshots(root, recursive, mode, page_size)?;
        ours.push(took);
        calls = c;

        let (out, took) = cli_snapshots(root, recursive, mode)?;
        cli.push(took);

        if run == 0 {
            count = same_names(&out, mine.iter().map(String::as_str))
                .map_err(|(m, t)| format!("listings differ: ours {m} snapshots, cli {t}"))?;
        }
        eprintln!(
            "  {}: run {}: ours {:.2} s ({} calls), cli {:.2} s",
            mode.label(),
            run + 1,
            ours[run],
            calls,
            cli[run]
        );
    }
    Ok((count, median(&mut ours), median(&mut cli), calls))
}

/// Runs every mode and adds a table row for each.
fn snapshot_rows(
    rows: &mut Vec<String>,
    what: &str,
    root: &DatasetName,
    recursive: bool,
    made: f64,
    a: &Args,
) -> Result<(), String> {
    for &mode in &a.modes {
        let (n, ours, cli, calls) = compare_snapshots(root, recursive, mode, a.runs, a.page_size)?;
        let row = format!(
            "| {what}, {} | {n} | {made:.0} s | {ours:.1} s ({calls} calls) | {cli:.1} s | {:.2}x |",
            mode.label(),
            cli / ours
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
    snapshot_rows(rows, "snapshots of one dataset", &one, false, made, a)
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
    snapshot_rows(rows, &what, &tree, true, made, a)
}

fn main_inner() -> Result<(), String> {
    let a = parse()?;
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
    match main_inner() {
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
}
