//! The service's `pre_snapshot` / `post_snapshot` hook commands (config keys, at the top and
//! optionally per `[[dataset]]`, where they replace the top-level ones). The service runs them
//! around the atomic snapshot of its cycle through [`flocker_core::vault::hooks`], which owns
//! the protocol; this file adapts it to the config and the log:
//!
//! - each through `/bin/sh -c COMMAND`, stdin from `/dev/null`, stdout and stderr the
//!   service's, in a process group of its own;
//! - with at most `hook_timeout` (default 60s) to finish: then its whole process group gets
//!   SIGTERM, and SIGKILL a second later, and the hook has failed;
//! - a hook fails when it exits non-zero, is killed by a signal, times out or cannot start.
//!
//! Around one snapshot (one pool's due datasets), every distinct `pre_snapshot` of those
//! datasets runs once, in config order; then, with `hook_failure = "skip"` (the default),
//! a failed pre hook means the snapshot is not taken (logged as a failed step), while with
//! `"continue"` the failure is logged and the snapshot is taken. Then every distinct
//! `post_snapshot` runs, whatever happened (so that a post hook can undo what its pre hook
//! did, e.g. thaw a database), and `DATAVAULT_SNAPSHOT_STATUS` says what happened. A failed
//! hook is logged as an error and makes a bounded `run` exit 1.
//!
//! Environment of a hook (besides the service's own):
//! - `DATAVAULT_HOOK`: `pre_snapshot` or `post_snapshot`;
//! - `DATAVAULT_CONFIG`: the config file;
//! - `DATAVAULT_POOL`: the pool;
//! - `DATAVAULT_DATASETS`: the datasets of the snapshot (descendants included), one per line
//!   (ZFS names may contain spaces, never a newline);
//! - post only: `DATAVAULT_SNAPSHOT_STATUS`: `taken`, `failed` (the snapshot call failed) or
//!   `skipped` (a pre hook failed with `hook_failure = "skip"`);
//! - post only, when taken: `DATAVAULT_SNAPSHOT` (the short name, `dv-YYYYMMDDTHHMMSSZ`) and
//!   `DATAVAULT_SNAPSHOTS` (the full names, one per line).

use std::time::Duration;

use flocker_core::error::Error;
use flocker_core::vault::hooks as lib;
use flocker_core::vault::service::Taken;

pub use flocker_core::vault::hooks::{DEFAULT_TIMEOUT, Hooks, OnFailure};

use crate::common::Failure;
use crate::config::Config;

/// The top-level hook settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HookConfig {
    /// The top-level commands (each dataset's default).
    pub hooks: Hooks,
    /// `hook_timeout`.
    pub timeout: Duration,
    /// `hook_failure`.
    pub on_failure: OnFailure,
}

impl Default for HookConfig {
    fn default() -> Self {
        HookConfig {
            hooks: Hooks::default(),
            timeout: DEFAULT_TIMEOUT,
            on_failure: OnFailure::Skip,
        }
    }
}

/// The message of a library error (its detail).
fn detail(e: &Error) -> String {
    e.detail().unwrap_or_default().to_string()
}

/// Checks a hook command from the config ([`lib::check_command`]): not empty, no NUL.
pub fn check_command(cmd: &str) -> Result<String, String> {
    lib::check_command(cmd).map_err(|e| detail(&e))
}

/// The hooks around one snapshot of the service's cycle ([`lib::Around`]), logging as the
/// service does.
pub struct Around {
    inner: lib::Around,
}

impl Around {
    /// The hooks of the configured datasets `entries` (indices into `cfg.datasets`) around
    /// the snapshot of `datasets`.
    pub fn new(
        cfg: &Config,
        entries: &[usize],
        datasets: &[flocker_core::name::DatasetName],
    ) -> Around {
        let hooks = entries
            .iter()
            .filter_map(|&i| cfg.datasets.get(i))
            .map(|d| &d.hooks);
        let inner = lib::Around::new(hooks, datasets)
            .config_path(cfg.path.clone())
            .timeout(cfg.hooks.timeout)
            .on_failure(cfg.hooks.on_failure);
        Around { inner }
    }

    /// Runs the pre hooks; `Err` when one failed with `hook_failure = "skip"` (the snapshot
    /// must not be taken). Failures are given to `log_err`.
    pub fn pre(&self, log_err: &dyn Fn(&str)) -> Result<(), Failure> {
        self.inner
            .pre(|e| {
                log_err(&format!(
                    "{}: snapshot taken anyway (hook_failure = \"continue\")",
                    lib::describe(e)
                ))
            })
            .map_err(|e| {
                Failure::Failed(format!(
                    "{}: snapshot not taken (hook_failure = \"skip\")",
                    lib::describe(&e)
                ))
            })
    }

    /// Runs the post hooks after the snapshot (`taken`: what became of it). Returns false
    /// when any hook of this snapshot failed. Failures are given to `log_err`.
    pub fn post(&self, taken: &Taken, log_err: &dyn Fn(&str)) -> bool {
        self.inner.post(taken, |e| log_err(&lib::describe(e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_errors_are_the_library_message() {
        assert_eq!(check_command("  "), Err("the command is empty".into()));
        assert!(check_command("logger hi").is_ok());
    }
}
