//! `datavault versions`: every distinct version of a file across its dataset's snapshots, and
//! what a directory lost (the library's `flocker_core::versions`).
//!
//! ```text
//! datavault versions PATH... [--json] [--verify] [--threads N]
//! datavault versions --deleted DIR [--json] [--threads N]
//! ```
//!
//! PATH is a live path or one that no longer exists, absolute or relative to the working
//! directory; its dataset comes from the mount table (or, for a dataset that is not mounted,
//! its `mountpoint` property). Versions are the same when type, size and modification time
//! are (and, with `--verify`, the content).
//!
//! Text: per PATH a header `DATASET:/REL (N versions)`, then one line per version, oldest
//! first: the modification time, the size, the type letter (`zfs diff -F`'s), the snapshots
//! holding it (`@first..@last (count)`), and `(live)` on the live file's version.
//!
//! JSON, one PATH: an array, one object per version, oldest first: `snapshots` (full names,
//! oldest first), `live`, `size`, `mtime` (RFC 3339 UTC, seconds, as `browse` prints it),
//! `mtime_unix`, `mtime_nsec`, `type`. Several PATHs: an array of objects `{path, dataset,
//! rel, versions}` in the order given, `versions` being that array.
//!
//! `--deleted DIR`: one line per entry of DIR that some snapshot holds and DIR does not (one
//! level, by name): mtime, size, type, path, and the newest snapshot holding it; JSON: an
//! array of `{path, type, size, mtime, mtime_unix, mtime_nsec, last}`.
//!
//! Exit status: 0; 2 when a path is bad or holds nothing (no ZFS dataset, in no snapshot and
//! not live), a bad `--threads`; 1 when reading fails. A progress line is shown on stderr when
//! it is a terminal and `--json` is not given.

use std::io::Write;
use std::path::Path;

use flocker_core::diff::slash;
use flocker_core::error::{Error, ErrorKind};
use flocker_core::versions::{Deleted, History, Progress, Search, Version};
use flocker_examples::cli::error_line;
use serde_json::{Value, json};

/// `println!` that ignores a closed stdout (`datavault … | head`) instead of panicking.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

use crate::args::VersionsArgs;
use crate::browse::ts_string;
use crate::common::{Failure, json};

/// `datavault versions`
pub fn versions(a: &VersionsArgs) -> Result<(), Failure> {
    let threads = threads(a.threads.as_deref())?;
    let show = flocker_examples::show_progress(a.json);
    let mut search = Search::new()
        .verify(a.verify)
        .on_progress(move |p| progress_line(show, p));
    if let Some(t) = threads {
        search = search.threads(t);
    }
    let r = match &a.deleted {
        Some(dir) => deleted(&mut search, dir, a.json),
        None => histories(&mut search, &a.paths, a.json),
    };
    if show {
        eprint!("\r\x1b[K");
    }
    r
}

/// `--threads N`: 1 to 64.
fn threads(v: Option<&str>) -> Result<Option<usize>, Failure> {
    let Some(v) = v else { return Ok(None) };
    match v.parse::<usize>() {
        Ok(n) if (1..=Search::MAX_THREADS).contains(&n) => Ok(Some(n)),
        _ => Err(Failure::Invalid(format!(
            "bad --threads {v:?}: a whole number from 1 to {}",
            Search::MAX_THREADS
        ))),
    }
}

fn progress_line(show: bool, p: &Progress) {
    if show {
        eprint!("\rversions: {}/{} snapshots", p.visited, p.total);
        let _ = std::io::stderr().flush();
    }
}

/// A path that holds nothing or is malformed is bad input (exit 2); else a failure (exit 1).
fn failure(e: Error) -> Failure {
    match e.kind() {
        ErrorKind::NotFound | ErrorKind::InvalidArgument => Failure::Invalid(error_line(&e, false)),
        _ => e.into(),
    }
}

fn histories(search: &mut Search<'_>, paths: &[String], as_json: bool) -> Result<(), Failure> {
    let mut all = Vec::with_capacity(paths.len());
    for p in paths {
        let h = search.versions(Path::new(p)).map_err(failure)?;
        if !as_json {
            print_history(&h);
        }
        all.push((p, h));
    }
    if as_json {
        let v = match all.as_slice() {
            [(_, h)] => versions_json(h),
            _ => Value::Array(
                all.iter()
                    .map(|(p, h)| {
                        json!({
                            "path": p,
                            "dataset": h.dataset.as_str(),
                            "rel": slash(&h.rel),
                            "versions": versions_json(h),
                        })
                    })
                    .collect(),
            ),
        };
        out!("{}", json(&v));
    }
    Ok(())
}

fn versions_json(h: &History) -> Value {
    Value::Array(h.versions.iter().map(version_json).collect())
}

fn version_json(v: &Version) -> Value {
    json!({
        "snapshots": v.snapshots.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        "live": v.live,
        "size": v.size,
        "mtime": ts_string(v.mtime),
        "mtime_unix": v.mtime.sec,
        "mtime_nsec": v.mtime.nsec,
        "type": v.file_type.as_str(),
    })
}

fn print_history(h: &History) {
    let n = h.versions.len();
    let s = if n == 1 { "" } else { "s" };
    out!("{}:{} ({n} version{s})", h.dataset, slash(&h.rel));
    for v in &h.versions {
        out!(
            "  {} {:>12} {} {}{}",
            ts_string(v.mtime),
            v.size,
            v.file_type.letter(),
            held_by(v),
            if v.live { " (live)" } else { "" }
        );
    }
}

/// `@first..@last (N snapshots)`, `@only (1 snapshot)`, or `-` for a live-only version.
fn held_by(v: &Version) -> String {
    let short = |i: usize| v.snapshots[i].short_name().to_string();
    match v.snapshots.len() {
        0 => "-".to_string(),
        1 => format!("@{} (1 snapshot)", short(0)),
        n => format!("@{}..@{} ({n} snapshots)", short(0), short(n - 1)),
    }
}

fn deleted(search: &mut Search<'_>, dir: &str, as_json: bool) -> Result<(), Failure> {
    let list = search.deleted(Path::new(dir)).map_err(failure)?;
    if as_json {
        let v: Vec<Value> = list.iter().map(deleted_json).collect();
        out!("{}", json(&v));
        return Ok(());
    }
    for d in &list {
        out!(
            "{} {:>12} {} {}  (last in {})",
            ts_string(d.mtime),
            d.size,
            d.file_type.letter(),
            slash(&d.rel),
            d.last
        );
    }
    Ok(())
}

fn deleted_json(d: &Deleted) -> Value {
    json!({
        "path": slash(&d.rel),
        "type": d.file_type.as_str(),
        "size": d.size,
        "mtime": ts_string(d.mtime),
        "mtime_unix": d.mtime.sec,
        "mtime_nsec": d.mtime.nsec,
        "last": d.last.as_str(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use flocker_core::diff::{FileType, Timestamp};
    use flocker_core::name::SnapshotName;

    fn version(snaps: &[&str], live: bool) -> Version {
        let snapshots = snaps
            .iter()
            .map(|s| SnapshotName::new(*s).expect("valid"))
            .collect();
        let t = Timestamp {
            sec: 1_767_225_600,
            nsec: 5,
        };
        Version::new(snapshots, live, 42, t, FileType::File)
    }

    #[test]
    fn json_fields() {
        let v = version_json(&version(&["p/a@s1", "p/a@s2"], true));
        assert_eq!(
            v,
            json!({
                "snapshots": ["p/a@s1", "p/a@s2"],
                "live": true,
                "size": 42,
                "mtime": "2026-01-01T00:00:00Z",
                "mtime_unix": 1_767_225_600,
                "mtime_nsec": 5,
                "type": "file",
            })
        );
    }

    #[test]
    fn snapshot_ranges() {
        assert_eq!(held_by(&version(&[], true)), "-");
        assert_eq!(held_by(&version(&["p/a@x"], false)), "@x (1 snapshot)");
        let v = version(&["p/a@x", "p/a@y", "p/a@z"], false);
        assert_eq!(held_by(&v), "@x..@z (3 snapshots)");
    }

    #[test]
    fn thread_counts() {
        assert!(matches!(threads(None), Ok(None)));
        assert!(matches!(threads(Some("4")), Ok(Some(4))));
        for bad in ["0", "65", "x", "-1"] {
            assert!(
                matches!(threads(Some(bad)), Err(Failure::Invalid(_))),
                "{bad}"
            );
        }
    }
}
