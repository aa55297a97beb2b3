//! `flocker-snap`: one atomic snapshot of several datasets.
//!
//! ```text
//! flocker-snap [--json] [-o user:prop=value]... SNAPNAME DATASET...
//! ```
//!
//! All snapshots are created by a single `lzc_snapshot` call: one ioctl, one transaction
//! group, all or nothing. Every argument (snapshot name, dataset names, properties) is checked
//! before anything is sent to the kernel, so a bad argument changes nothing. The new snapshots
//! are then read back (GUID, creation txg and time) with a read-only channel program and
//! printed as a table or, with `--json`, as a JSON array (the guid a decimal string, the
//! creation RFC 3339 UTC: the snapshot shape of `flocker_examples::json`).
//!
//! Exit status: 0 on success, 1 when ZFS refused (nothing was created), 2 for bad arguments.

use std::process::ExitCode;

use clap::Parser;
use flocker_core::error::Error;
use flocker_core::name::{DatasetName, SnapshotName};
use flocker_core::snapshot::{self, Snapshot};
use flocker_examples::json as shape;

/// Take one atomic snapshot of several datasets (one ioctl, one transaction group).
#[derive(Parser, Debug)]
#[command(
    name = "flocker-snap",
    version,
    about = "Take one atomic snapshot of several datasets (one ioctl, one transaction group)"
)]
#[command(after_help = "Examples:\n  \
    flocker-snap before-upgrade tank/home tank/db\n  \
    flocker-snap --json -o user:reason=upgrade nightly tank/a tank/b")]
struct Args {
    /// Print the created snapshots as JSON instead of a table.
    #[arg(long)]
    json: bool,

    /// Set a user property on every new snapshot (repeatable). Only user properties
    /// (names with a ':') are allowed.
    #[arg(short = 'o', long = "prop", value_name = "user:prop=value")]
    props: Vec<String>,

    /// Short snapshot name, the part after '@' (e.g. `before-upgrade`).
    #[arg(value_name = "SNAPNAME")]
    snapname: String,

    /// Datasets to snapshot, all in one pool, each at most once.
    #[arg(value_name = "DATASET", required = true)]
    datasets: Vec<String>,
}

fn main() -> ExitCode {
    flocker_examples::default_sigpipe();
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(msg)) => {
            eprintln!("flocker-snap: error: {msg}");
            ExitCode::from(2)
        }
        Err(Failure::Zfs(e)) => {
            eprintln!("flocker-snap: error: {e}");
            ExitCode::from(1)
        }
    }
}

enum Failure {
    /// A bad argument: nothing was sent to ZFS.
    Usage(String),
    /// ZFS refused, or reading the result back failed.
    Zfs(Error),
}

fn run(args: &Args) -> Result<(), Failure> {
    // Validate everything before the single ioctl.
    let datasets = args
        .datasets
        .iter()
        .map(|d| DatasetName::new(d).map_err(|e| Failure::Usage(format!("bad dataset name: {e}"))))
        .collect::<Result<Vec<_>, _>>()?;
    let first = datasets
        .first()
        .ok_or_else(|| Failure::Usage("no dataset given".to_string()))?;
    SnapshotName::new_parts(first, &args.snapname)
        .map_err(|e| Failure::Usage(format!("bad snapshot name {:?}: {e}", args.snapname)))?;
    let props = args
        .props
        .iter()
        .map(|p| {
            p.split_once('=').ok_or_else(|| {
                Failure::Usage(format!("property {p:?} is not of the form name=value"))
            })
        })
        .collect::<Result<Vec<(&str, &str)>, _>>()?;

    let created = snapshot::snapshot(&datasets, &args.snapname, &props).map_err(|e| {
        // Errors the library finds before the ioctl (no errno) are argument errors.
        use flocker_core::error::ErrorKind as K;
        let before_ioctl = e.errno().is_none()
            && matches!(
                e.kind(),
                K::InvalidName
                    | K::NameTooLong
                    | K::DuplicateFilesystem
                    | K::CrossPool
                    | K::PropertyInvalid
            );
        if before_ioctl {
            Failure::Usage(e.to_string())
        } else {
            Failure::Zfs(e)
        }
    })?;
    let infos = Snapshot::get_many(&created).map_err(Failure::Zfs)?;
    if args.json {
        print_json(&infos);
    } else {
        print_table(&infos);
    }
    Ok(())
}

fn creation(s: &Snapshot) -> String {
    shape::rfc3339(s.creation())
}

fn print_table(infos: &[Snapshot]) {
    let width = infos
        .iter()
        .map(|s| s.name().as_str().len())
        .max()
        .unwrap_or(4)
        .max(4);
    println!(
        "{:<width$}  {:>20}  {:>10}  CREATION",
        "NAME", "GUID", "CREATETXG"
    );
    for s in infos {
        println!(
            "{:<width$}  {:>20}  {:>10}  {}",
            s.name().as_str(),
            s.guid(),
            s.createtxg(),
            creation(s)
        );
    }
}

fn print_json(infos: &[Snapshot]) {
    let v: Vec<serde_json::Value> = infos
        .iter()
        .map(|s| {
            serde_json::json!({
                "name": s.name().as_str(),
                "guid": shape::guid(s.guid()),
                "createtxg": s.createtxg(),
                "creation": creation(s),
            })
        })
        .collect();
    println!("{}", serde_json::Value::Array(v));
}
