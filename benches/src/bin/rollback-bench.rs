//! Rollback-with-stash benchmark (run inside the lab, as root):
//! `cargo xtask lab run --zfs 2.1 -- rollback-bench [--small-mib 1] [--large-mib 1024]`.
//!
//! For each strategy (`swap`, `copy`) and each amount of change after the target (1 MiB and
//! 1 GiB by default, incompressible data), a fresh mounted filesystem gets a 16 MiB base, a
//! snapshot `@base`, the changes, a snapshot `@after` and 64 KiB of unsnapshotted writes; the
//! time of `rollback::rollback` to `@base` (planning excluded) is measured. `swap` must not grow
//! with the data: the run fails when swap(large)/swap(small) > 1.5. The pool and the `zfs` CLI
//! (for setup only) live in the guest.

use std::io::Write;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use flocker_benches::{BenchPool, run};
use flocker_core::name::SnapshotName;
use flocker_core::rollback::{self, Store, Strategy};

/// `rollback-bench`'s options (see the module doc).
#[derive(Parser, Debug)]
#[command(
    name = "rollback-bench",
    version,
    about = "Rollback-with-stash benchmark, inside the lab (as root)"
)]
struct Args {
    /// The small amount of change after the target, MiB.
    #[arg(long, value_name = "MIB", default_value_t = 1)]
    small_mib: u64,
    /// The large amount of change after the target, MiB.
    #[arg(long, value_name = "MIB", default_value_t = 1024)]
    large_mib: u64,
}

fn sh(args: &[&str]) -> Result<String, String> {
    run(args[0], &args[1..])
}

fn write_random(path: &str, bytes: u64) -> Result<(), String> {
    let mut f = std::fs::File::create(path).map_err(|e| e.to_string())?;
    // xorshift: cheap, incompressible enough for ZFS compression.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut buf = vec![0u8; 1 << 20];
    let mut left = bytes;
    while left > 0 {
        for c in buf.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            c.copy_from_slice(&x.to_le_bytes()[..c.len()]);
        }
        let n = left.min(buf.len() as u64) as usize;
        f.write_all(&buf[..n]).map_err(|e| e.to_string())?;
        left -= n as u64;
    }
    f.sync_all().map_err(|e| e.to_string())
}

fn one(pool: &str, store: &Store, strategy: Strategy, mib: u64, round: u32) -> Result<f64, String> {
    let fs = format!("{pool}/b{round}");
    let dir = format!("/var/tmp/flocker-bench/{fs}");
    sh(&[
        "zfs",
        "create",
        "-o",
        &format!("mountpoint={dir}"),
        "-o",
        "compression=off",
        &fs,
    ])?;
    write_random(&format!("{dir}/base"), 16 << 20)?;
    sh(&["zfs", "snapshot", &format!("{fs}@base")])?;
    write_random(&format!("{dir}/changes"), mib << 20)?;
    sh(&["zfs", "snapshot", &format!("{fs}@after")])?;
    write_random(&format!("{dir}/live"), 64 << 10)?;
    let target = SnapshotName::new(format!("{fs}@base")).map_err(|e| e.to_string())?;
    let plan = rollback::plan_rollback(&target, strategy).map_err(|e| e.to_string())?;
    if plan.strategy != Some(strategy) {
        return Err(format!("plan refused: {plan}"));
    }
    let t = Instant::now();
    let rec = rollback::rollback(store, &plan).map_err(|e| e.to_string())?;
    let secs = t.elapsed().as_secs_f64();
    rollback::stash_drop(store, &rec.id).map_err(|e| e.to_string())?;
    sh(&["zfs", "destroy", "-r", &fs])?;
    Ok(secs)
}

fn main() -> ExitCode {
    let args = Args::parse();
    let (small, large) = (args.small_mib, args.large_mib);
    let bench = || -> Result<Vec<(Strategy, u64, f64)>, String> {
        let bench_pool = BenchPool::create("rbbench", "/var/tmp", (large * 3 + 512) << 20)?;
        let pool = bench_pool.name.as_str();
        let store_dir = format!("/var/tmp/flocker-bench-store-{pool}");
        let store = Store::open(&store_dir).map_err(|e| e.to_string())?;
        let mut rows = Vec::new();
        let mut round = 0;
        for strategy in [Strategy::Swap, Strategy::Copy] {
            for mib in [small, large] {
                round += 1;
                let secs = one(pool, &store, strategy, mib, round)?;
                eprintln!("{strategy} {mib} MiB: {secs:.3} s");
                rows.push((strategy, mib, secs));
            }
        }
        Ok(rows)
    };
    let result = bench();
    let rows = match result {
        Ok(r) => r,
        Err(e) => {
            eprintln!("rollback-bench: {e}");
            return ExitCode::FAILURE;
        }
    };
    let version = std::fs::read_to_string("/sys/module/zfs/version").unwrap_or_default();
    println!(
        "OpenZFS {} — rollback to the snapshot before N MiB of changes, stash included",
        version.trim()
    );
    println!();
    println!("| strategy | {small} MiB | {large} MiB | ratio |");
    println!("|---|---|---|---|");
    let mut ok = true;
    for strategy in [Strategy::Swap, Strategy::Copy] {
        let t = |m: u64| {
            rows.iter()
                .find(|r| r.0 == strategy && r.1 == m)
                .map_or(0.0, |r| r.2)
        };
        let ratio = if t(small) > 0.0 {
            t(large) / t(small)
        } else {
            f64::INFINITY
        };
        println!(
            "| {strategy} | {:.3} s | {:.3} s | {ratio:.2} |",
            t(small),
            t(large)
        );
        if strategy == Strategy::Swap && ratio > 1.5 {
            ok = false;
        }
    }
    if ok {
        println!("\nswap ratio <= 1.5: PASS");
        ExitCode::SUCCESS
    } else {
        println!("\nswap ratio <= 1.5: FAIL");
        ExitCode::FAILURE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(argv: &[&str]) -> Result<Args, clap::Error> {
        Args::try_parse_from(std::iter::once("rollback-bench").chain(argv.iter().copied()))
    }

    #[test]
    fn xtask_command_lines_parse() {
        let a = parse(&[]).unwrap();
        assert_eq!((a.small_mib, a.large_mib), (1, 1024));
        let a = parse(&["--small-mib", "1", "--large-mib", "64"]).unwrap();
        assert_eq!((a.small_mib, a.large_mib), (1, 64));
    }

    #[test]
    fn bad_values_are_refused() {
        for argv in [&["--small-mib", "x"][..], &["--large-mib"], &["--nope"]] {
            assert_eq!(parse(argv).unwrap_err().exit_code(), 2, "{argv:?}");
        }
    }
}
