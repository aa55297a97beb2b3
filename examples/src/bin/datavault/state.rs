//! What the service tells `datavault status`: a small JSON file in the store,
//! `service-state.json`, rewritten (temporary file and rename) after every cycle.
//!
//! It is a report, not a source of truth: the schedule is still derived from the pool alone
//! (the newest `dv-` snapshot of each dataset), so a lost or stale file changes no decision of
//! the service. It holds what the pool cannot say: when a dataset was last found up to date
//! (also when `skip_empty` took no snapshot), its last prune, and its failures.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The file's name in the store directory.
pub const FILE: &str = "service-state.json";

/// The last failure of a dataset.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct LastFailure {
    /// When (RFC 3339, the service's clock).
    pub at: String,
    /// The message that was logged.
    pub message: String,
}

/// One dataset's report.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct DatasetState {
    /// When the service last found it up to date: it took a snapshot, or (skip_empty) found
    /// nothing written since the last one.
    pub last_checked: Option<String>,
    /// Since when its slots have been skipped because nothing was written (None: not skipping).
    pub skipping_since: Option<String>,
    /// When it was last pruned, and the prune's summary.
    pub last_prune: Option<String>,
    pub last_prune_summary: Option<String>,
    /// Failures in a row (0 after a success).
    pub failures: u32,
    pub last_failure: Option<LastFailure>,
    /// When a failed dataset is tried again.
    pub retry_at: Option<String>,
}

/// The whole file.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct ServiceState {
    /// The service's process id and configuration file, when it last wrote.
    pub pid: u32,
    pub config: String,
    /// When it last wrote (the service's clock).
    pub updated: Option<String>,
    /// Per dataset, by name.
    pub datasets: BTreeMap<String, DatasetState>,
}

/// The file's path for a store directory.
pub fn path(store: &Path) -> PathBuf {
    store.join(FILE)
}

/// Reads the file; `Ok(None)` when the service never wrote it.
pub fn read(store: &Path) -> Result<Option<ServiceState>, String> {
    let p = path(store);
    match std::fs::read(&p) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| format!("{}: not a service state file: {e}", p.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read {}: {e}", p.display())),
    }
}

/// Replaces the file (a temporary file in the same directory, then a rename: a reader sees the
/// old file or the new one, never half of one).
pub fn write(store: &Path, state: &ServiceState) -> Result<(), String> {
    let p = path(store);
    let tmp = store.join(format!(".{FILE}.{}", std::process::id()));
    let text = serde_json::to_vec_pretty(state).map_err(|e| e.to_string())?;
    let res = (|| -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&text)?;
        f.write_all(b"\n")?;
        f.sync_all()?;
        std::fs::rename(&tmp, &p)
    })();
    if let Err(e) = res {
        let _ = std::fs::remove_file(&tmp);
        return Err(format!("cannot write {}: {e}", p.display()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_missing() {
        let dir = std::env::temp_dir().join(format!("dv-state-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(read(&dir), Ok(None));
        let mut s = ServiceState {
            pid: 7,
            config: "c.toml".into(),
            ..Default::default()
        };
        s.datasets.insert(
            "p/a".into(),
            DatasetState {
                failures: 2,
                last_failure: Some(LastFailure {
                    at: "2026-12-05T11:00:00Z".into(),
                    message: "dataset p/a does not exist".into(),
                }),
                ..Default::default()
            },
        );
        write(&dir, &s).unwrap();
        assert_eq!(read(&dir), Ok(Some(s)));
        std::fs::write(path(&dir), b"{not json").unwrap();
        assert!(read(&dir).unwrap_err().contains("not a service state file"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
