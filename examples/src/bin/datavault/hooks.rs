//! The service's `pre_snapshot` / `post_snapshot` hook commands (config keys, at the top and
//! optionally per `[[dataset]]`, where they replace the top-level ones). The service binary
//! runs them around the atomic snapshot of its cycle (the library never runs a process):
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

use std::cell::Cell;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use flocker_core::name::{DatasetName, SnapshotName};
use flocker_core::vault::service::Taken;

use crate::common::Failure;
use crate::config::Config;

/// The default of `hook_timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// What a failed `pre_snapshot` hook does to the snapshot (`hook_failure`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnFailure {
    /// The snapshot is not taken (`"skip"`, the default).
    Skip,
    /// The snapshot is taken anyway (`"continue"`).
    Continue,
}

impl std::str::FromStr for OnFailure {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "skip" => Ok(OnFailure::Skip),
            "continue" => Ok(OnFailure::Continue),
            _ => Err(format!("{s:?} is not \"skip\" or \"continue\"")),
        }
    }
}

/// The hook commands of one dataset (its own, else the top-level ones).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Hooks {
    /// `pre_snapshot`.
    pub pre: Option<String>,
    /// `post_snapshot`.
    pub post: Option<String>,
}

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

/// Checks a hook command from the config: not empty, no NUL.
pub fn check_command(cmd: &str) -> Result<String, String> {
    if cmd.trim().is_empty() {
        return Err("the command is empty".into());
    }
    if cmd.contains('\0') {
        return Err("the command contains a NUL byte".into());
    }
    Ok(cmd.to_string())
}

/// Runs `command` through `/bin/sh -c` with `env` added, in its own process group; kills the
/// group when it runs longer than `timeout`. `Err` says why it failed.
pub fn run(command: &str, env: &[(&str, String)], timeout: Duration) -> Result<(), String> {
    let mut child = Command::new("/bin/sh")
        .arg("-c")
        .arg(command)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot start /bin/sh: {e}"))?;
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return judge(status),
            Ok(None) if Instant::now() >= deadline => {
                kill_group(&mut child);
                return Err(format!(
                    "timed out after {}s (its process group was killed)",
                    timeout.as_secs_f64()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => {
                kill_group(&mut child);
                return Err(format!("cannot wait for it: {e}"));
            }
        }
    }
}

fn judge(status: ExitStatus) -> Result<(), String> {
    match (status.code(), status.signal()) {
        (Some(0), _) => Ok(()),
        (Some(c), _) => Err(format!("exited with status {c}")),
        (None, Some(s)) => Err(format!("killed by signal {s}")),
        (None, None) => Err(format!("ended with {status}")),
    }
}

/// SIGTERM to the child's process group, SIGKILL a second later; reaps the child.
fn kill_group(child: &mut Child) {
    let Ok(pgid) = libc::pid_t::try_from(child.id()) else {
        return;
    };
    // SAFETY: kill(2) with a negative pid signals the process group we created for this child
    // (process_group(0) made its pid the group id); the child is not reaped yet, so the id
    // cannot have been reused.
    unsafe {
        libc::kill(-pgid, libc::SIGTERM);
    }
    let grace = Instant::now() + Duration::from_secs(1);
    while Instant::now() < grace {
        if matches!(child.try_wait(), Ok(Some(_))) {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // SAFETY: as above; the group id stays reserved while any member is alive, and the child
    // itself may already be reaped, in which case this reaches only what is left of its group.
    unsafe {
        libc::kill(-pgid, libc::SIGKILL);
    }
    let _ = child.wait();
}

/// The hooks around one snapshot of the service's cycle.
pub struct Around<'a> {
    cfg: &'a Config,
    pre: Vec<String>,
    post: Vec<String>,
    env: Vec<(&'static str, String)>,
    /// Every hook so far succeeded.
    ok: Cell<bool>,
    /// A pre hook failed with `hook_failure = "skip"`.
    skipped: Cell<bool>,
}

impl<'a> Around<'a> {
    /// The hooks of the configured datasets `entries` (indices into `cfg.datasets`) around
    /// the snapshot of `datasets`.
    pub fn new(cfg: &'a Config, entries: &[usize], datasets: &[DatasetName]) -> Around<'a> {
        let mut pre: Vec<String> = Vec::new();
        let mut post: Vec<String> = Vec::new();
        for d in entries.iter().filter_map(|&i| cfg.datasets.get(i)) {
            for (cmd, list) in [(&d.hooks.pre, &mut pre), (&d.hooks.post, &mut post)] {
                if let Some(c) = cmd
                    && !list.contains(c)
                {
                    list.push(c.clone());
                }
            }
        }
        let names: Vec<&str> = datasets.iter().map(DatasetName::as_str).collect();
        let env = vec![
            ("DATAVAULT_CONFIG", cfg.path.clone()),
            (
                "DATAVAULT_POOL",
                datasets
                    .first()
                    .map(|d| d.pool().to_string())
                    .unwrap_or_default(),
            ),
            ("DATAVAULT_DATASETS", names.join("\n")),
        ];
        Around {
            cfg,
            pre,
            post,
            env,
            ok: Cell::new(true),
            skipped: Cell::new(false),
        }
    }

    /// Runs the pre hooks; `Err` when one failed with `hook_failure = "skip"` (the snapshot
    /// must not be taken). Failures are given to `log_err`.
    pub fn pre(&self, log_err: &dyn Fn(&str)) -> Result<(), Failure> {
        let mut env = self.env.clone();
        env.push(("DATAVAULT_HOOK", "pre_snapshot".into()));
        for cmd in &self.pre {
            if let Err(why) = run(cmd, &env, self.cfg.hooks.timeout) {
                self.ok.set(false);
                let m = format!("pre_snapshot hook {cmd:?} {why}");
                if self.cfg.hooks.on_failure == OnFailure::Skip {
                    self.skipped.set(true);
                    return Err(Failure::Failed(format!(
                        "{m}: snapshot not taken (hook_failure = \"skip\")"
                    )));
                }
                log_err(&format!(
                    "{m}: snapshot taken anyway (hook_failure = \"continue\")"
                ));
            }
        }
        Ok(())
    }

    /// Runs the post hooks after the snapshot (`taken`: what became of it). Returns false
    /// when any hook of this snapshot failed. Failures are given to `log_err`.
    pub fn post(&self, taken: &Taken, log_err: &dyn Fn(&str)) -> bool {
        let mut env = self.env.clone();
        env.push(("DATAVAULT_HOOK", "post_snapshot".into()));
        let status = match taken {
            Taken::Done(short, names) => {
                env.push(("DATAVAULT_SNAPSHOT", short.clone()));
                let full: Vec<&str> = names.iter().map(SnapshotName::as_str).collect();
                env.push(("DATAVAULT_SNAPSHOTS", full.join("\n")));
                "taken"
            }
            _ if self.skipped.get() => "skipped",
            _ => "failed",
        };
        env.push(("DATAVAULT_SNAPSHOT_STATUS", status.into()));
        for cmd in &self.post {
            if let Err(why) = run(cmd, &env, self.cfg.hooks.timeout) {
                self.ok.set(false);
                log_err(&format!("post_snapshot hook {cmd:?} {why}"));
            }
        }
        self.ok.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(tag: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("dv-hooks-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn exit_status_and_signal() {
        let t = Duration::from_secs(10);
        assert_eq!(run("true", &[], t), Ok(()));
        assert_eq!(run("exit 3", &[], t), Err("exited with status 3".into()));
        assert_eq!(run("kill -9 $$", &[], t), Err("killed by signal 9".into()));
        assert_eq!(
            run("no-such-command-dv-hooks 2>/dev/null", &[], t),
            Err("exited with status 127".into())
        );
    }

    #[test]
    fn env_reaches_the_command() {
        let d = tmp("env");
        let out = d.join("out");
        let cmd = format!(
            "printf '%s|%s' \"$DATAVAULT_SNAPSHOT\" \"$DATAVAULT_DATASETS\" > '{}'",
            out.display()
        );
        let env = [
            ("DATAVAULT_SNAPSHOT", "dv-20260101T000000Z".to_string()),
            ("DATAVAULT_DATASETS", "p/a\np/b c".to_string()),
        ];
        assert_eq!(run(&cmd, &env, Duration::from_secs(10)), Ok(()));
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            "dv-20260101T000000Z|p/a\np/b c"
        );
        let _ = std::fs::remove_dir_all(&d);
    }

    /// A hook that outlives its timeout is killed with everything it started.
    #[test]
    fn timeout_kills_the_process_group() {
        let d = tmp("timeout");
        let pid_file = d.join("pid");
        let cmd = format!(
            "sleep 30 & echo $! > '{}'; trap '' TERM; sleep 30; wait",
            pid_file.display()
        );
        let began = Instant::now();
        let r = run(&cmd, &[], Duration::from_millis(500));
        let took = began.elapsed();
        assert!(
            matches!(&r, Err(m) if m.contains("timed out after 0.5s")),
            "{r:?}"
        );
        // 0.5 s, then 1 s of grace (the shell ignores SIGTERM), then SIGKILL.
        assert!(took < Duration::from_secs(10), "took {took:?}");
        let pid: libc::pid_t = std::fs::read_to_string(&pid_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // The background sleep was in the group: gone, or a zombie waiting for its reaper.
        let gone = Instant::now() + Duration::from_secs(5);
        loop {
            let state = std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|s| s.rsplit(')').next().map(|r| r.trim().chars().next()))
                .flatten();
            if matches!(state, None | Some('Z' | 'X')) {
                break;
            }
            assert!(Instant::now() < gone, "pid {pid} still runs ({state:?})");
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn on_failure_values() {
        assert_eq!("skip".parse(), Ok(OnFailure::Skip));
        assert_eq!("continue".parse(), Ok(OnFailure::Continue));
        assert!("abort".parse::<OnFailure>().is_err());
        assert!(check_command("  ").is_err());
        assert!(check_command("logger hi").is_ok());
    }
}
