//! What every `datavault` command shares: the failure kinds, confirmation, JSON output, the
//! trusted store and the parsing of instants, time zones and policies.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use flocker_core::error::Error;
use flocker_core::retention::{RetentionPolicy, TimeZone};
use flocker_core::rollback::{self, Store};
use time::OffsetDateTime;

/// Why a command failed; `main` maps each kind to an exit code.
pub enum Failure {
    /// Bad command line: the message and the usage (exit 2).
    Usage(String),
    /// Refused (not confirmed, or unsafe): one line (exit 3).
    Refused(String),
    /// ZFS or the store failed: one line (exit 1).
    Zfs(Error),
    /// Bad input (a config file, a policy, a dataset that does not exist): one line naming
    /// the problem (exit 2); nothing was changed.
    Invalid(String),
    /// Something failed after work began (a prune that could not destroy everything): the
    /// details were printed; one line (exit 1).
    Failed(String),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        // A plan that no longer matches the datasets is refused, not failed: exit 3.
        // So is an operation that would roll back the store's own dataset.
        if e.kind() == flocker_core::error::ErrorKind::Changed
            || e.operation() == rollback::OP_STORE_CHECK
        {
            return Failure::Refused(e.to_string());
        }
        Failure::Zfs(e)
    }
}

/// The trusted record store (`FLOCKER_STORE` overrides the default directory).
pub fn store() -> Result<Store, Failure> {
    Ok(Store::open(store_dir(None))?)
}

/// The store's directory: `FLOCKER_STORE`, else `configured` (a config file's `store`), else
/// the default.
pub fn store_dir(configured: Option<&str>) -> PathBuf {
    match std::env::var_os("FLOCKER_STORE") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(configured.unwrap_or(rollback::DEFAULT_DIR)),
    }
}

/// `--now RFC3339` (testing: plan as if the clock read that), else the current time.
pub fn parse_now(v: Option<&str>) -> Result<OffsetDateTime, Failure> {
    match v {
        None => Ok(OffsetDateTime::now_utc()),
        Some(s) => {
            parse_instant(s).map_err(|why| Failure::Invalid(format!("bad --now {s:?}: {why}")))
        }
    }
}

/// An RFC 3339 instant (e.g. `2026-01-31T12:00:00Z`).
pub fn parse_instant(s: &str) -> Result<OffsetDateTime, String> {
    let ts: jiff::Timestamp = s
        .parse()
        .map_err(|e: jiff::Error| format!("{e} (expected RFC 3339, e.g. 2026-01-31T12:00:00Z)"))?;
    OffsetDateTime::from_unix_timestamp_nanos(ts.as_nanosecond()).map_err(|e| e.to_string())
}

/// A time zone by IANA name, else the system's (UTC when unknown); with its display name.
pub fn parse_tz(v: Option<&str>) -> Result<(TimeZone, String), String> {
    match v {
        Some(z) => {
            let tz = TimeZone::get(z).map_err(|e| format!("unknown time zone {z:?}: {e}"))?;
            Ok((tz, z.to_string()))
        }
        None => {
            let tz = TimeZone::try_system().unwrap_or(TimeZone::UTC);
            let name = tz.iana_name().unwrap_or("system local zone").to_string();
            Ok((tz, name))
        }
    }
}

/// Parses a retention policy as DataVault accepts it ([`flocker_core::vault::parse_policy`]:
/// refuses one that would keep nothing beyond the safety rules, `space=0`).
pub fn parse_policy(text: &str) -> Result<RetentionPolicy, String> {
    flocker_core::vault::parse_policy(text).map_err(|e| {
        let why = e.detail().unwrap_or_default();
        match e.operation() {
            flocker_core::vault::OP_CHECK_POLICY => format!("retention policy {text:?} {why}"),
            _ => format!("bad retention policy {text:?}: {why}"),
        }
    })
}

/// Asks `question` on a terminal unless `yes`; refuses when stdin is not a terminal.
pub fn confirm(yes: bool, question: &str) -> Result<(), Failure> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(Failure::Refused(
            "stdin is not a terminal: pass --yes to confirm".into(),
        ));
    }
    print!("{question} [y/N] ");
    let _ = std::io::stdout().flush();
    let mut line = String::new();
    let _ = std::io::stdin().lock().read_line(&mut line);
    if matches!(line.trim(), "y" | "Y" | "yes") {
        Ok(())
    } else {
        Err(Failure::Refused("not confirmed; nothing changed".into()))
    }
}

/// Pretty JSON of `v`.
pub fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}
