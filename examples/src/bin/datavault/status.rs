//! `datavault status [--config FILE] [--json] [--now RFC3339]` and
//! `datavault config check FILE [--json]`.
//!
//! `status` reports per configured dataset its newest DataVault snapshot (from the pool), its
//! age against the schedule, and from the service's report (`state.rs`) when it was last found
//! up to date (a `skip_empty` slot counts), its last prune and its failures. It exits like a
//! Nagios check, so that monitoring can call it: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (the
//! configuration cannot be read). The first line is the summary
//! (`DATAVAULT OK: ...`, `DATAVAULT WARNING: ...`).
//!
//! Freshness of a dataset, with `grace` = half its period, at most 10 minutes (time for the
//! service to reach a slot that just began) and `expected` = the start of the slot that
//! contains `now - grace`: OK when it was last up to date at or after `expected`; WARNING when
//! that slot was missed but the one before was not, or when its last attempt failed; CRITICAL
//! when two or more slots were missed, it never had a snapshot, or it does not exist.
//!
//! `config check` validates a configuration file without ZFS (no dataset is looked up): the
//! same checks `run` makes before it starts, one line naming file, line and field on error
//! (exit 2), a summary of each dataset otherwise (exit 0).

use std::time::Duration;

use flocker_examples::prune::rfc3339;
use serde_json::json;
use time::OffsetDateTime;

use crate::args::{ConfigCheckArgs, StatusArgs};
use crate::common::{Failure, parse_instant, store_dir};
use crate::config::{self, Config, DatasetConfig};
use crate::service::last_snapshot;
use crate::state::{self, DatasetState};

/// The default configuration file of `status`.
pub const DEFAULT_CONFIG: &str = "/etc/datavault.toml";

/// A Nagios state, ordered by severity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Ok,
    Warning,
    Critical,
}

impl Level {
    fn word(self) -> &'static str {
        match self {
            Level::Ok => "OK",
            Level::Warning => "WARNING",
            Level::Critical => "CRITICAL",
        }
    }

    fn exit(self) -> i32 {
        self as i32
    }
}

/// One dataset's verdict.
struct Verdict {
    level: Level,
    why: String,
}

/// How fresh a dataset is at `now`: `last_up_to_date` is the later of its newest snapshot and
/// the service's last finding that it was up to date; `failures` its failures in a row.
fn freshness(
    d: &DatasetConfig,
    now: OffsetDateTime,
    last_up_to_date: Option<OffsetDateTime>,
    failures: u32,
) -> Verdict {
    let period = d.schedule.period();
    let grace = (period / 2).min(Duration::from_secs(600));
    let expected = d.schedule.slot_start(now - grace);
    let before = d.schedule.slot_start(expected - time::Duration::SECOND);
    let (mut level, mut why) = match last_up_to_date {
        None => (Level::Critical, "no snapshot yet".to_string()),
        Some(t) if t >= expected => (Level::Ok, format!("up to date {} ago", ago(now - t))),
        Some(t) if t >= before => (
            Level::Warning,
            format!(
                "last up to date {} ago: the slot of {} was missed",
                ago(now - t),
                rfc3339(expected)
            ),
        ),
        Some(t) => (
            Level::Critical,
            format!(
                "last up to date {} ago: slots missed since {}",
                ago(now - t),
                rfc3339(before)
            ),
        ),
    };
    if failures > 0 && level < Level::Warning {
        level = Level::Warning;
        why = format!("{why}; {failures} failure(s) in a row");
    }
    Verdict { level, why }
}

fn ago(d: time::Duration) -> String {
    crate::list::age(d.whole_seconds().max(0))
}

fn parse_time(s: &Option<String>) -> Option<OffsetDateTime> {
    s.as_deref().and_then(|t| parse_instant(t).ok())
}

/// `datavault status ...`: prints the report and exits with the Nagios code.
pub fn status(a: &StatusArgs) -> Result<(), Failure> {
    let json_out = a.json;
    let unknown = |m: String| -> ! {
        if json_out {
            println!("{}", json!({"status": "UNKNOWN", "exit": 3, "message": m}));
        } else {
            println!("DATAVAULT UNKNOWN: {m}");
        }
        std::process::exit(3)
    };
    let now = match a.now.as_deref() {
        Some(t) => {
            parse_instant(t).map_err(|m| Failure::Invalid(format!("bad --now {t:?}: {m}")))?
        }
        None => OffsetDateTime::now_utc(),
    };
    let path = a.config.as_deref().unwrap_or(DEFAULT_CONFIG);
    let cfg = match config::load(path) {
        Ok(c) => c,
        Err(Failure::Invalid(m) | Failure::Failed(m) | Failure::Usage(m) | Failure::Refused(m)) => {
            unknown(m)
        }
        Err(Failure::Zfs(e)) => unknown(e.to_string()),
    };
    let dir = store_dir(cfg.store.as_deref());
    let report = match state::read(&dir) {
        Ok(r) => r,
        Err(m) => unknown(m),
    };
    let (worst, rows) = assess(&cfg, report.as_ref(), now);
    // Rollbacks (or restores) at next boot not yet in effect: shown, not a failure.
    let pending = flocker_core::rollback::Store::open(&dir)
        .and_then(|st| flocker_core::rollback::pending_boot(&st))
        .unwrap_or_default();
    if json_out {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "status": worst.word(),
                "exit": worst.exit(),
                "now": rfc3339(now),
                "service_report": report.as_ref().and_then(|r| r.updated.clone()),
                "datasets": rows,
                "pending_boot": pending,
            }))
            .unwrap_or_default()
        );
    } else {
        print_text(worst, &rows);
        for p in &pending {
            println!(
                "PENDING {}: {} to {} at the next boot (stash {}{})",
                p.dataset,
                if p.restore_of.is_some() {
                    "restore"
                } else {
                    "rollback"
                },
                p.target,
                p.id,
                if p.scheduled {
                    String::new()
                } else {
                    "; interrupted: `datavault recover` finishes it".to_string()
                }
            );
        }
        if report.is_none() {
            println!(
                "(no service report in {}: the service has not run)",
                dir.display()
            );
        }
    }
    use std::io::Write;
    let _ = std::io::stdout().flush();
    std::process::exit(worst.exit())
}

/// The text report: the Nagios summary line, then one line per dataset.
fn print_text(worst: Level, rows: &[serde_json::Value]) {
    let bad: Vec<&serde_json::Value> = rows
        .iter()
        .filter(|r| r["status"] != Level::Ok.word())
        .collect();
    let summary = if bad.is_empty() {
        format!("{} dataset(s) up to date", rows.len())
    } else {
        bad.iter()
            .map(|r| {
                format!(
                    "{} {}: {}",
                    r["name"].as_str().unwrap_or(""),
                    r["status"].as_str().unwrap_or(""),
                    r["reason"].as_str().unwrap_or("")
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    println!("DATAVAULT {}: {summary}", worst.word());
    for r in rows {
        println!(
            "{} {}: {} ({}; last snapshot {}; last prune {}{})",
            r["status"].as_str().unwrap_or(""),
            r["name"].as_str().unwrap_or(""),
            r["reason"].as_str().unwrap_or(""),
            r["schedule"].as_str().unwrap_or(""),
            r["last_snapshot"].as_str().unwrap_or("none"),
            r["last_prune"].as_str().unwrap_or("none"),
            match r["last_failure"]["message"].as_str() {
                Some(m) if r["failures"].as_u64().unwrap_or(0) > 0 => format!("; failing: {m}"),
                _ => String::new(),
            }
        );
    }
}

/// The verdict of every dataset and the worst of them.
fn assess(
    cfg: &Config,
    report: Option<&state::ServiceState>,
    now: OffsetDateTime,
) -> (Level, Vec<serde_json::Value>) {
    let mut worst = Level::Ok;
    let mut rows = Vec::new();
    let empty = DatasetState::default();
    for d in &cfg.datasets {
        let st = report
            .and_then(|r| r.datasets.get(d.name.as_str()))
            .unwrap_or(&empty);
        let (verdict, last) = match last_snapshot(&d.name) {
            Ok(last) => {
                let checked = parse_time(&st.last_checked);
                let up = last.max(checked);
                (freshness(d, now, up, st.failures), last)
            }
            Err(e) => (
                Verdict {
                    level: Level::Critical,
                    why: match e {
                        Failure::Zfs(e) => e.to_string(),
                        Failure::Invalid(m)
                        | Failure::Failed(m)
                        | Failure::Usage(m)
                        | Failure::Refused(m) => m,
                    },
                },
                None,
            ),
        };
        worst = worst.max(verdict.level);
        rows.push(json!({
            "name": d.name.as_str(),
            "status": verdict.level.word(),
            "reason": verdict.why,
            "schedule": d.schedule.to_string(),
            "last_snapshot": last.map(rfc3339),
            "age_seconds": last.map(|l| (now - l).whole_seconds()),
            "last_checked": st.last_checked,
            "skipping_since": st.skipping_since,
            "last_prune": st.last_prune,
            "last_prune_summary": st.last_prune_summary,
            "failures": st.failures,
            "last_failure": st.last_failure,
            "retry_at": st.retry_at,
        }));
    }
    (worst, rows)
}

/// `datavault config check FILE [--json]`.
pub fn config_check(a: &ConfigCheckArgs) -> Result<(), Failure> {
    let path = &a.file;
    let cfg = config::load(path)?;
    let datasets: Vec<serde_json::Value> = cfg
        .datasets
        .iter()
        .map(|d| {
            json!({
                "name": d.name.as_str(),
                "schedule": d.schedule.to_string(),
                "keep": d.policy.to_string(),
                "recursive": d.recursive,
                "skip_empty": d.skip_empty,
                "match": d.ownership.regex(),
                "line": d.line,
            })
        })
        .collect();
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "config": path,
                "ok": true,
                "tz": cfg.tz_name,
                "store": store_dir(cfg.store.as_deref()),
                "datasets": datasets,
            }))
            .unwrap_or_default()
        );
    } else {
        println!(
            "config {path}: ok, {} dataset(s), tz {}",
            cfg.datasets.len(),
            cfg.tz_name
        );
        for d in &datasets {
            println!(
                "  {}{}: {}, keep {}{}{}",
                d["name"].as_str().unwrap_or(""),
                if d["recursive"] == true {
                    " (recursive)"
                } else {
                    ""
                },
                d["schedule"].as_str().unwrap_or(""),
                d["keep"].as_str().unwrap_or(""),
                if d["skip_empty"] == true {
                    ", skip_empty"
                } else {
                    ""
                },
                match d["match"].as_str() {
                    Some(r) => format!(", owns dv- and \"{r}\""),
                    None => String::new(),
                }
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn entry(text: &str) -> DatasetConfig {
        config::parse("c.toml", text).ok().unwrap().datasets[0].clone()
    }

    #[test]
    fn freshness_follows_the_schedule() {
        let d = entry("every = \"1h\"\n[[dataset]]\nname = \"p/a\"\nkeep = \"min=1\"\n");
        let now = datetime!(2026-12-05 12:20 UTC);
        let v = |t: Option<OffsetDateTime>, f: u32| freshness(&d, now, t, f).level;
        assert_eq!(v(Some(datetime!(2026-12-05 12:00 UTC)), 0), Level::Ok);
        assert_eq!(v(Some(datetime!(2026-12-05 11:30 UTC)), 0), Level::Warning);
        assert_eq!(v(Some(datetime!(2026-12-05 11:00 UTC)), 0), Level::Warning);
        assert_eq!(v(Some(datetime!(2026-12-05 10:59 UTC)), 0), Level::Critical);
        assert_eq!(v(None, 0), Level::Critical);
        // A failure makes a fresh dataset a warning, never hides a critical one.
        assert_eq!(v(Some(datetime!(2026-12-05 12:00 UTC)), 1), Level::Warning);
        assert_eq!(v(None, 3), Level::Critical);
        // Within the grace after a slot began (10 minutes for an hour), the previous slot
        // still counts as current.
        let early = datetime!(2026-12-05 12:05 UTC);
        assert_eq!(
            freshness(&d, early, Some(datetime!(2026-12-05 11:00 UTC)), 0).level,
            Level::Ok
        );
    }

    #[test]
    fn freshness_of_a_daily_local_time() {
        let d = entry(
            "at = \"03:00\"\ntz = \"Europe/Berlin\"\n[[dataset]]\nname = \"p/a\"\nkeep = \"min=1\"\n",
        );
        // 03:00 CET = 02:00 UTC.
        let now = datetime!(2026-12-05 20:00 UTC);
        let v = |t| freshness(&d, now, Some(t), 0).level;
        assert_eq!(v(datetime!(2026-12-05 02:00 UTC)), Level::Ok);
        assert_eq!(v(datetime!(2026-12-04 02:00 UTC)), Level::Warning);
        assert_eq!(v(datetime!(2026-12-03 23:00 UTC)), Level::Critical);
    }

    #[test]
    fn levels_are_nagios_codes() {
        assert_eq!(Level::Ok.exit(), 0);
        assert_eq!(Level::Warning.exit(), 1);
        assert_eq!(Level::Critical.exit(), 2);
        assert_eq!(Level::Ok.max(Level::Critical), Level::Critical);
    }
}
