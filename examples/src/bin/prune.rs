//! `prune`: thin a dataset's snapshots with a retention policy.
//!
//! ```text
//! prune DATASET --keep POLICY [--match REGEX | --all] [--tz ZONE] [--dry-run] [--json]
//!       [--batch N] [--pin-property PROP]... [-r] [--store DIR] [-v]
//! ```
//!
//! The policy owns, and so plans and may destroy, only DataVault's snapshots (short names
//! `dv-YYYYMMDDTHHMMSSZ`) and, with `--match REGEX`, those whose short name the regex matches
//! in full (anchored at both ends). Every other snapshot (a manual `@before-upgrade`,
//! syncoid's or zrepl's, `flocker-snap`'s) is foreign: never destroyed, not counted, shown as
//! `foreign (kept)`. `--all` plans every snapshot, as the tool did before, and says so on
//! stderr and in the JSON `warnings`; it excludes `--match`.
//!
//! Lists the snapshots through `flocker_core::inventory` (the kernel's list ioctls, no
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
//! snapshot could not be destroyed for another reason; 2 for bad arguments, a bad regex or
//! `--all` with `--match` included (nothing changed).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use flocker_core::name::DatasetName;
use flocker_core::retention::{RetentionPolicy, TimeZone};
use flocker_core::rollback;
use flocker_examples::prune::{self as core, JSON_HELP, Options, Ownership};
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

    /// Also own the snapshots whose short name (after the @) this regex matches in full
    /// (anchored at both ends). Default: only DataVault's `dv-YYYYMMDDTHHMMSSZ` snapshots;
    /// every other snapshot is foreign: never destroyed, not counted, shown as `foreign (kept)`.
    #[arg(long = "match", value_name = "REGEX")]
    matching: Option<String>,

    /// Own every snapshot of the dataset, other tools' and manual ones included (warns on
    /// stderr).
    #[arg(long, conflicts_with = "matching")]
    all: bool,

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
    ownership: Ownership,
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
    let ownership = if args.all {
        Ownership::All
    } else {
        Ownership::matching(args.matching.as_deref())
            .map_err(|e| Failure::Usage(format!("--match: {}", core::error_line(&e))))?
    };
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
        ownership,
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
    o.ownership = s.ownership;
    core::run_cli(&o)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::error::ErrorKind;

    fn args(extra: &[&str]) -> Result<Args, clap::Error> {
        let mut a = vec!["prune", "pool/fs", "--keep", "min=1"];
        a.extend(extra);
        Args::try_parse_from(a)
    }

    fn usage(extra: &[&str]) -> String {
        let a = args(extra).unwrap_or_else(|e| panic!("{extra:?}: {e}"));
        match setup(&a) {
            Err(Failure::Usage(m)) => m,
            Err(Failure::Other(m)) => panic!("{extra:?}: not a usage error: {m}"),
            Ok(_) => panic!("{extra:?}: accepted"),
        }
    }

    #[test]
    fn ownership_from_the_arguments() {
        let own = |extra: &[&str]| setup(&args(extra).unwrap()).ok().unwrap().ownership;
        assert!(matches!(own(&[]), Ownership::Scheme));
        assert!(matches!(own(&["--all"]), Ownership::All));
        let m = own(&["--match", "s[0-9]+"]);
        assert_eq!(m.regex(), Some("s[0-9]+"));
        assert!(m.owns("s12") && !m.owns("s12x") && m.owns("dv-20260101T000000Z"));
    }

    #[test]
    fn all_with_match_is_a_usage_error() {
        let e = args(&["--all", "--match", "x"]).err().unwrap();
        assert_eq!(e.kind(), ErrorKind::ArgumentConflict);
        assert_eq!(e.exit_code(), 2);
        let e = args(&["--match", "x", "--all"]).err().unwrap();
        assert_eq!(e.kind(), ErrorKind::ArgumentConflict);
    }

    #[test]
    fn bad_regex_is_one_line_naming_it() {
        for (re, why) in [
            ("(", "unclosed group"),
            ("a{2,1}", "invalid repetition"),
            ("", "empty"),
        ] {
            let m = usage(&["--match", re]);
            assert!(
                m.starts_with(&format!("--match: bad regex {re:?}: ")) && m.contains(why),
                "{re:?}: {m}"
            );
            assert!(!m.contains('\n'), "{re:?}: not one line: {m}");
        }
    }
}
