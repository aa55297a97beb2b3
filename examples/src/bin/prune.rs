//! `prune`: thin a dataset's snapshots with a retention policy.
//!
//! ```text
//! prune DATASET --keep POLICY [--tz ZONE] [--dry-run] [--json] [--batch N]
//!       [--pin-property PROP]... [-r] [--store DIR] [-v]
//! ```
//!
//! Lists the snapshots through `flocker_core::inventory` (read-only channel programs, no
//! CLI), plans with `flocker_core::retention` (every snapshot: keep or destroy, and why), and
//! destroys the `Destroy` entries oldest first in batches of at most `--batch` names, one
//! `lzc_destroy_snaps` call per batch (no defer). A snapshot that became held or cloned
//! between the listing and its batch makes the kernel refuse the whole batch; it is skipped and
//! reported, and the rest of the batch is sent again. No process is spawned.
//!
//! Snapshots that belong to a stash (`flocker_core::rollback`: under `<pool>/flocker-stash/`,
//! or named by a stash record of the store as a stash's target or content) are never
//! destroyed. A real run takes the store's lock for its whole duration, so it never races a
//! rollback, and refuses to run while an interrupted rollback of the pool awaits recovery.
//!
//! Two options exist for tests (`tests/tests/prune.rs`) and debugging, listed under their own
//! heading in `--help`: `--now RFC3339` plans as if the clock read that instant, and
//! `--debug-ignore-holds` plans as if no snapshot had holds or clones, so that the destroy
//! meets them exactly as when they appear between the listing and the destroy.
//!
//! Exit status: 0 when everything the plan destroys is destroyed or was skipped because it is
//! held or cloned; 1 when listing failed, the store could not be read or locked, or some
//! snapshot could not be destroyed for another reason; 2 for bad arguments (nothing changed).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use flocker_core::name::DatasetName;
use flocker_core::retention::{RetentionPolicy, TimeZone};
use flocker_core::rollback;
use flocker_examples::prune::{self as core, JSON_HELP, Options};
use time::OffsetDateTime;

/// Thin a dataset's snapshots with a retention policy (see RETENTION.md for the grammar).
#[derive(Parser, Debug)]
#[command(
    name = "prune",
    version,
    about = "Thin a dataset's snapshots with a retention policy, explaining every decision"
)]
#[command(after_long_help = JSON_HELP)]
struct Args {
    /// The dataset whose snapshots are thinned.
    #[arg(value_name = "DATASET")]
    dataset: String,

    /// The retention policy, e.g. `48x1h,30x1d,12x1mo,10x1y,min=10` (RETENTION.md).
    #[arg(long = "keep", value_name = "POLICY")]
    keep: String,

    /// Time zone of the calendar periods (IANA name, e.g. Europe/Berlin). Default: the
    /// system's local zone (TZ, /etc/localtime), else UTC.
    #[arg(long, value_name = "ZONE")]
    tz: Option<String>,

    /// Print the plan and destroy nothing.
    #[arg(short = 'n', long)]
    dry_run: bool,

    /// Print the plan (and outcome) as one JSON object; no progress output. See --help.
    #[arg(long)]
    json: bool,

    /// At most this many snapshots per lzc_destroy_snaps call.
    #[arg(long, value_name = "N", default_value_t = 100,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    batch: u32,

    /// A user property that pins a snapshot when set (to anything but "", -, off, no, false,
    /// 0), like `pin=PROP` in the policy; repeatable. A value inherited from the dataset pins
    /// every snapshot of it.
    #[arg(long = "pin-property", value_name = "PROP")]
    pin_property: Vec<String>,

    /// Also thin the snapshots of every descendant (each dataset planned on its own).
    #[arg(short = 'r', long)]
    recursive: bool,

    /// Directory of the stash store (stash records, journal and lock of flocker rollbacks).
    #[arg(long, value_name = "DIR", default_value = rollback::DEFAULT_DIR)]
    store: PathBuf,

    /// Print the plan before applying it (text output without --dry-run).
    #[arg(short = 'v', long)]
    verbose: bool,

    /// Testing/debugging: plan as if the clock read this instant (RFC 3339, e.g.
    /// 2026-01-31T12:00:00Z) instead of the current time.
    #[arg(long, value_name = "RFC3339", help_heading = "Testing and debugging")]
    now: Option<String>,

    /// Testing/debugging: plan as if no snapshot had holds or clones, so that destroying meets
    /// them as if they had appeared after the listing, and they are skipped and reported.
    #[arg(long, help_heading = "Testing and debugging")]
    debug_ignore_holds: bool,
}

use core::Failure;

fn main() -> ExitCode {
    flocker_examples::default_sigpipe();
    let args = Args::parse();
    match run(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(Failure::Usage(msg)) => {
            eprintln!("prune: error: {msg}");
            ExitCode::from(2)
        }
        Err(Failure::Other(msg)) => {
            eprintln!("prune: error: {msg}");
            ExitCode::from(1)
        }
    }
}

/// What the arguments say, validated.
struct Setup {
    dataset: DatasetName,
    policy: RetentionPolicy,
    tz: TimeZone,
    tz_name: String,
    now: OffsetDateTime,
}

fn setup(args: &Args) -> Result<Setup, Failure> {
    let dataset = DatasetName::new(&args.dataset)
        .map_err(|e| Failure::Usage(format!("bad dataset name {:?}: {e}", args.dataset)))?;
    let mut policy: RetentionPolicy = args
        .keep
        .parse()
        .map_err(|e| Failure::Usage(format!("bad --keep {:?}: {e}", args.keep)))?;
    for prop in &args.pin_property {
        if policy.pin_properties().contains(prop) {
            continue;
        }
        // The canonical text parses back to an equal policy; adding `pin=` reuses its checks.
        policy = format!("{policy},pin={prop}").parse().map_err(
            |e: flocker_core::retention::ParseError| {
                Failure::Usage(format!("bad --pin-property {prop:?}: {}", e.kind))
            },
        )?;
    }
    let (tz, tz_name) = match &args.tz {
        Some(z) => {
            let tz = TimeZone::get(z)
                .map_err(|e| Failure::Usage(format!("unknown time zone {z:?}: {e}")))?;
            (tz, z.clone())
        }
        None => {
            let tz = TimeZone::try_system().unwrap_or(TimeZone::UTC);
            let name = tz.iana_name().unwrap_or("system local zone").to_string();
            (tz, name)
        }
    };
    let now = match &args.now {
        None => OffsetDateTime::now_utc(),
        Some(s) => {
            let bad = |why: String| {
                Failure::Usage(format!(
                    "bad --now {s:?}: {why} (expected RFC 3339, e.g. 2026-01-31T12:00:00Z)"
                ))
            };
            let ts: jiff::Timestamp = s.parse().map_err(|e: jiff::Error| bad(e.to_string()))?;
            OffsetDateTime::from_unix_timestamp_nanos(ts.as_nanosecond())
                .map_err(|e| bad(e.to_string()))?
        }
    };
    Ok(Setup {
        dataset,
        policy,
        tz,
        tz_name,
        now,
    })
}

fn run(args: &Args) -> Result<bool, Failure> {
    let s = setup(args)?;
    let mut o = Options::new("prune", s.dataset, s.policy, s.tz, s.tz_name, s.now);
    o.dry_run = args.dry_run;
    o.json = args.json;
    o.verbose = args.verbose;
    o.batch = args.batch as usize;
    o.recursive = args.recursive;
    o.store = args.store.clone();
    o.ignore_holds = args.debug_ignore_holds;
    core::run_cli(&o)
}
