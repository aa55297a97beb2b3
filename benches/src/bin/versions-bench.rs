//! Version-search benchmark (run inside the lab, as root):
//! `cargo xtask bench --zfs 2.4 --only versions`, or
//! `cargo xtask lab run --zfs 2.4 -- versions-bench [--snapshots 1000] [--every 10]`.
//!
//! A fresh mounted filesystem gets N snapshots (one `lzc_snapshot` each) of a file changed
//! before every `--every`-th one. Then the distinct versions of the file are found four ways,
//! in this order: the naive shell loop an administrator would write (`stat` of
//! `.zfs/snapshot/*/f`, then `sort -u`; the first run also automounts every snapshot), the
//! library's `Search::versions` on 1 thread and on the default threads (snapshots mounted by
//! then), and the same `Search` asked again (incremental: nothing new to read). Each way must
//! find the same number of versions; the table gives the times and the ratio to the naive
//! loop (warm: its second run).

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use flocker_benches::{BenchPool, fmt_secs, run};
use flocker_core::DatasetName;
use flocker_core::versions::Search;

/// `versions-bench`'s options (see the module doc).
#[derive(Parser, Debug)]
#[command(
    name = "versions-bench",
    version,
    about = "Version-search benchmark, inside the lab (as root)"
)]
struct Args {
    /// Snapshots to take.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    snapshots: u32,
    /// Change the file before every N-th snapshot.
    #[arg(long, value_name = "N", default_value_t = 10)]
    every: u32,
}

/// The fixture: `pool/fs` mounted under /var/tmp, its file's path.
fn fixture(pool: &str, args: &Args) -> Result<String, String> {
    let fs = format!("{pool}/fs");
    let dir = format!("/var/tmp/flocker-bench/{fs}");
    run("zfs", &["create", "-o", &format!("mountpoint={dir}"), &fs])?;
    let ds = DatasetName::new(&fs).map_err(|e| e.to_string())?;
    let file = format!("{dir}/f");
    for n in 0..args.snapshots {
        if n % args.every.max(1) == 0 {
            std::fs::write(&file, format!("round {n}\n")).map_err(|e| e.to_string())?;
        }
        flocker_core::snapshot::snapshot(std::slice::from_ref(&ds), &format!("s{n:05}"), &[])
            .map_err(|e| e.to_string())?;
    }
    Ok(file)
}

/// The naive loop: distinct (size, mtime) over every snapshot's copy; (seconds, count).
fn naive(dir: &str) -> Result<(f64, usize), String> {
    let script = format!(
        "for d in {dir}/.zfs/snapshot/*; do stat -c '%s %.9Y' \"$d/f\" 2>/dev/null; done | sort -u"
    );
    let t = Instant::now();
    let out = run("sh", &["-c", &script])?;
    Ok((t.elapsed().as_secs_f64(), out.lines().count()))
}

fn library(search: &mut Search<'_>, file: &str) -> Result<(f64, usize), String> {
    let t = Instant::now();
    let h = search
        .versions(Path::new(file))
        .map_err(|e| e.to_string())?;
    // The live file equals the newest snapshot's version: not a version of its own.
    Ok((t.elapsed().as_secs_f64(), h.versions.len()))
}

fn bench(args: &Args) -> Result<Vec<(&'static str, f64, usize)>, String> {
    let pool = BenchPool::create("vbench", "/var/tmp", 1 << 30)?;
    let file = fixture(&pool.name, args)?;
    let dir = file.trim_end_matches("/f").to_string();
    let mut rows = vec![];
    let (t, n) = naive(&dir)?;
    rows.push(("naive shell loop (first: automounts)", t, n));
    let (t, n) = naive(&dir)?;
    rows.push(("naive shell loop (again)", t, n));
    let (t, n) = library(&mut Search::new().threads(1), &file)?;
    rows.push(("Search::versions, 1 thread", t, n));
    let mut search = Search::new();
    let (t, n) = library(&mut search, &file)?;
    rows.push(("Search::versions, default threads", t, n));
    let (t, n) = library(&mut search, &file)?;
    rows.push(("the same Search again (incremental)", t, n));
    Ok(rows)
}

fn main() -> ExitCode {
    let args = Args::parse();
    let rows = match bench(&args) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("versions-bench: {e}");
            return ExitCode::FAILURE;
        }
    };
    let version = std::fs::read_to_string("/sys/module/zfs/version").unwrap_or_default();
    println!(
        "OpenZFS {} — the versions of one file in {} snapshots, changed before every {}th",
        version.trim(),
        args.snapshots,
        args.every
    );
    println!();
    println!("| method | time | versions | naive loop (again) ÷ this |");
    println!("|---|---|---|---|");
    let warm = rows.get(1).map_or(0.0, |r| r.1);
    for (name, t, n) in &rows {
        let ratio = if *t > 0.0 { warm / t } else { f64::INFINITY };
        println!("| {name} | {} | {n} | {ratio:.1}× |", fmt_secs(*t));
    }
    let want = args.snapshots.div_ceil(args.every.max(1)) as usize;
    if rows.iter().all(|r| r.2 == want) {
        println!("\nevery method found {want} versions: PASS");
        ExitCode::SUCCESS
    } else {
        println!("\nthe methods disagree (expected {want} versions): FAIL");
        ExitCode::FAILURE
    }
}
