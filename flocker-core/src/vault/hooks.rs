//! DataVault's `pre_snapshot` / `post_snapshot` hooks: commands run around the atomic snapshot
//! of one service cycle ([`super::service::Host::around_snapshot`]).
//!
//! - Each runs through `/bin/sh -c COMMAND` ([`run`]), stdin from `/dev/null`, stdout and
//!   stderr the caller's, in a process group of its own;
//! - with at most a timeout ([`DEFAULT_TIMEOUT`] unless set) to finish: then its whole
//!   process group gets SIGTERM, and SIGKILL a second later, and the hook has failed;
//! - a hook fails when it exits non-zero, is killed by a signal, times out or cannot start.
//!
//! Around one snapshot (one pool's due datasets), [`Around`] runs every distinct pre hook of
//! those datasets once, in order; then, with [`OnFailure::Skip`] (the default), a failed pre
//! hook means the snapshot is not taken, while with [`OnFailure::Continue`] the failure is
//! reported and the snapshot is taken. Then every distinct post hook runs, whatever happened
//! (so that a post hook can undo what its pre hook did, e.g. thaw a database), and
//! `DATAVAULT_SNAPSHOT_STATUS` says what happened.
//!
//! Environment of a hook (besides the caller's own):
//! - `DATAVAULT_HOOK`: `pre_snapshot` or `post_snapshot`;
//! - `DATAVAULT_CONFIG`: the config file ([`Around::config_path`]; unset without one);
//! - `DATAVAULT_POOL`: the pool;
//! - `DATAVAULT_DATASETS`: the datasets of the snapshot (descendants included), one per line
//!   (ZFS names may contain spaces, never a newline);
//! - post only: `DATAVAULT_SNAPSHOT_STATUS`: `taken`, `failed` (the snapshot call failed) or
//!   `skipped` (a pre hook failed with [`OnFailure::Skip`]);
//! - post only, when taken: `DATAVAULT_SNAPSHOT` (the short name, `dv-YYYYMMDDTHHMMSSZ`) and
//!   `DATAVAULT_SNAPSHOTS` (the full names, one per line).
//!
//! A failed hook is an [`Error`] whose [`Error::operation`] is [`OP_RUN`], [`OP_PRE`] or
//! [`OP_POST`], whose [`Error::name`] is the command and whose [`Error::detail`] says why
//! (`exited with status 3`, `killed by signal 9`, `timed out after 60s (its process group
//! was killed)`); [`describe`] makes one line of it.

use std::cell::Cell;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::service::Taken;
use crate::error::{Error, ErrorKind, Result};
use crate::name::{DatasetName, SnapshotName};

/// How long a hook may run unless [`Around::timeout`] says otherwise (`hook_timeout`).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// The operation of the errors of [`run`].
pub const OP_RUN: &str = "hook";
/// The operation of the error of a failed pre hook ([`Around::pre`]).
pub const OP_PRE: &str = "pre_snapshot hook";
/// The operation of the error of a failed post hook ([`Around::post`]).
pub const OP_POST: &str = "post_snapshot hook";
/// The operation of the [`ErrorKind::InvalidArgument`] errors of [`check_command`].
pub const OP_CHECK: &str = "check the hook command";
/// The operation of the [`ErrorKind::InvalidArgument`] error of parsing an [`OnFailure`].
pub const OP_ON_FAILURE: &str = "hook_failure";

/// What a failed pre hook does to the snapshot (`hook_failure`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum OnFailure {
    /// The snapshot is not taken (`"skip"`, the default).
    #[default]
    Skip,
    /// The snapshot is taken anyway (`"continue"`).
    Continue,
}

impl std::str::FromStr for OnFailure {
    type Err = Error;
    /// `skip` or `continue`; anything else is [`ErrorKind::InvalidArgument`] from
    /// [`OP_ON_FAILURE`], its detail saying so.
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "skip" => Ok(OnFailure::Skip),
            "continue" => Ok(OnFailure::Continue),
            _ => Err(Error::new(ErrorKind::InvalidArgument, OP_ON_FAILURE)
                .with_detail(format!("{s:?} is not \"skip\" or \"continue\""))),
        }
    }
}

/// The hook commands of one dataset: a pre/post pair, each optional.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Hooks {
    /// `pre_snapshot`: run before the snapshot.
    pub pre: Option<String>,
    /// `post_snapshot`: run after it.
    pub post: Option<String>,
}

impl Hooks {
    /// A dataset's hooks given its own (`self`) and the top-level ones: each of `pre` and
    /// `post` that the dataset does not set is inherited, separately.
    ///
    /// ```
    /// use flocker_core::vault::hooks::Hooks;
    ///
    /// let top = Hooks { pre: Some("sync".into()), post: Some("logger done".into()) };
    /// let own = Hooks { pre: Some("freeze-db".into()), post: None };
    /// let h = own.or(&top);
    /// assert_eq!(h.pre.as_deref(), Some("freeze-db"));
    /// assert_eq!(h.post.as_deref(), Some("logger done"));
    /// ```
    #[must_use]
    pub fn or(self, top: &Hooks) -> Hooks {
        Hooks {
            pre: self.pre.or_else(|| top.pre.clone()),
            post: self.post.or_else(|| top.post.clone()),
        }
    }
}

/// Checks a hook command (from a config file): not blank, no NUL byte. Returns it.
///
/// Err: [`ErrorKind::InvalidArgument`] from [`OP_CHECK`]; the detail is `the command is
/// empty` or `the command contains a NUL byte`.
pub fn check_command(cmd: &str) -> Result<String> {
    let bad = |why: &str| Error::new(ErrorKind::InvalidArgument, OP_CHECK).with_detail(why);
    if cmd.trim().is_empty() {
        return Err(bad("the command is empty"));
    }
    if cmd.contains('\0') {
        return Err(bad("the command contains a NUL byte"));
    }
    Ok(cmd.to_string())
}

/// One line saying which hook failed and why: `pre_snapshot hook "COMMAND" exited with status
/// 3` (the operation, the command quoted, the detail).
pub fn describe(e: &Error) -> String {
    format!(
        "{} {:?} {}",
        e.operation(),
        e.name().unwrap_or_default(),
        e.detail().unwrap_or_default()
    )
}

/// Runs `command` through `/bin/sh -c` with `env` added to the environment, stdin from
/// `/dev/null`, in a process group of its own; when it runs longer than `timeout`, its
/// group gets SIGTERM, then SIGKILL a second later.
///
/// Err (operation [`OP_RUN`], named by the command, the detail saying why):
/// [`ErrorKind::Io`] when `/bin/sh` cannot start or be waited for (with the errno),
/// [`ErrorKind::Other`] when it exits non-zero, is killed by a signal or times out.
///
/// ```no_run
/// use std::time::Duration;
/// use flocker_core::vault::hooks;
///
/// let env = [("DATAVAULT_POOL", "tank".to_string())];
/// if let Err(e) = hooks::run("sync", &env, Duration::from_secs(10)) {
///     eprintln!("{}", hooks::describe(&e));
/// }
/// ```
pub fn run(command: &str, env: &[(&str, String)], timeout: Duration) -> Result<()> {
    run_as(OP_RUN, command, env, timeout)
}

/// [`run`], its errors from `op`.
fn run_as(
    op: &'static str,
    command: &str,
    env: &[(&str, String)],
    timeout: Duration,
) -> Result<()> {
    let fail =
        |kind: ErrorKind, why: String| Error::new(kind, op).with_name(command).with_detail(why);
    let io = |what: &str, e: std::io::Error| {
        let err = fail(ErrorKind::Io, format!("{what}: {e}"));
        match e.raw_os_error() {
            Some(n) => err.with_errno(n),
            None => err,
        }
    };
    let mut child = Command::new("/bin/sh")
        .arg("-c")
        .arg(command)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(|e| io("cannot start /bin/sh", e))?;
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return judge(status).map_err(|why| fail(ErrorKind::Other, why)),
            Ok(None) if Instant::now() >= deadline => {
                kill_group(&mut child);
                let why = format!(
                    "timed out after {}s (its process group was killed)",
                    timeout.as_secs_f64()
                );
                return Err(fail(ErrorKind::Other, why));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => {
                kill_group(&mut child);
                return Err(io("cannot wait for it", e));
            }
        }
    }
}

/// Whether an exit status is a success; `Err` says how it failed.
fn judge(status: ExitStatus) -> std::result::Result<(), String> {
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

/// The hooks around one snapshot: the pre hooks, the snapshot, the post hooks (see the
/// [module documentation](self) for the protocol and the environment).
///
/// ```no_run
/// use flocker_core::name::DatasetName;
/// use flocker_core::rollback::Store;
/// use flocker_core::vault::hooks::{Around, Hooks, OnFailure};
/// use flocker_core::vault::service::Taken;
/// use flocker_core::vault::snapshot;
///
/// let datasets = vec![DatasetName::new("tank/db")?];
/// let hooks = Hooks {
///     pre: Some("db-freeze".into()),
///     post: Some("db-thaw".into()),
/// };
/// let around = Around::new([&hooks], &datasets)
///     .config_path("/etc/datavault.toml")
///     .on_failure(OnFailure::Skip);
/// let store = Store::open_default()?;
/// let (taken, hooks_ok) = around.wrap(
///     || match snapshot::take(&store, &datasets, time::OffsetDateTime::now_utc, &[]) {
///         Ok((short, made)) => Taken::Done(short, made),
///         Err(e) => Taken::Failed(e),
///     },
///     |e| eprintln!("{}", flocker_core::vault::hooks::describe(e)),
/// );
/// if !hooks_ok {
///     eprintln!("a hook failed");
/// }
/// # let _ = taken;
/// # Ok::<(), flocker_core::error::Error>(())
/// ```
#[derive(Debug)]
pub struct Around {
    pre: Vec<String>,
    post: Vec<String>,
    config: Option<String>,
    pool: String,
    datasets: String,
    timeout: Duration,
    on_failure: OnFailure,
    /// Every hook so far succeeded.
    ok: Cell<bool>,
    /// A pre hook failed with [`OnFailure::Skip`].
    skipped: Cell<bool>,
}

impl Around {
    /// The hooks `hooks` (those of the datasets' config entries, in order; each distinct
    /// command runs once) around the snapshot of `datasets` (one pool), with the
    /// [`DEFAULT_TIMEOUT`], [`OnFailure::Skip`] and no config path.
    pub fn new<'h>(hooks: impl IntoIterator<Item = &'h Hooks>, datasets: &[DatasetName]) -> Around {
        let mut pre: Vec<String> = Vec::new();
        let mut post: Vec<String> = Vec::new();
        for h in hooks {
            for (cmd, list) in [(&h.pre, &mut pre), (&h.post, &mut post)] {
                if let Some(c) = cmd
                    && !list.contains(c)
                {
                    list.push(c.clone());
                }
            }
        }
        let names: Vec<&str> = datasets.iter().map(DatasetName::as_str).collect();
        Around {
            pre,
            post,
            config: None,
            pool: datasets
                .first()
                .map(|d| d.pool().to_string())
                .unwrap_or_default(),
            datasets: names.join("\n"),
            timeout: DEFAULT_TIMEOUT,
            on_failure: OnFailure::Skip,
            ok: Cell::new(true),
            skipped: Cell::new(false),
        }
    }

    /// Sets the config file the hooks are told of (`DATAVAULT_CONFIG`).
    pub fn config_path(mut self, path: impl Into<String>) -> Around {
        self.config = Some(path.into());
        self
    }

    /// Sets how long each hook may run (`hook_timeout`).
    pub fn timeout(mut self, timeout: Duration) -> Around {
        self.timeout = timeout;
        self
    }

    /// Sets what a failed pre hook does (`hook_failure`).
    pub fn on_failure(mut self, on_failure: OnFailure) -> Around {
        self.on_failure = on_failure;
        self
    }

    /// The environment every hook gets, `hook` being `pre_snapshot` or `post_snapshot`.
    fn env(&self, hook: &str) -> Vec<(&'static str, String)> {
        let mut env = Vec::new();
        if let Some(c) = &self.config {
            env.push(("DATAVAULT_CONFIG", c.clone()));
        }
        env.push(("DATAVAULT_POOL", self.pool.clone()));
        env.push(("DATAVAULT_DATASETS", self.datasets.clone()));
        env.push(("DATAVAULT_HOOK", hook.to_string()));
        env
    }

    /// Runs the pre hooks, in order. With [`OnFailure::Skip`], the first that fails stops
    /// them and is the `Err` (operation [`OP_PRE`]): the snapshot must not be taken. With
    /// [`OnFailure::Continue`], each failure is given to `failed` and the rest run.
    pub fn pre(&self, mut failed: impl FnMut(&Error)) -> Result<()> {
        let env = self.env("pre_snapshot");
        for cmd in &self.pre {
            if let Err(e) = run_as(OP_PRE, cmd, &env, self.timeout) {
                self.ok.set(false);
                if self.on_failure == OnFailure::Skip {
                    self.skipped.set(true);
                    return Err(e);
                }
                failed(&e);
            }
        }
        Ok(())
    }

    /// Runs the post hooks after the snapshot (`taken`: what became of it), every one of
    /// them; each failure (operation [`OP_POST`]) is given to `failed`. Returns false when
    /// any hook of this snapshot, pre or post, failed.
    pub fn post(&self, taken: &Taken, mut failed: impl FnMut(&Error)) -> bool {
        let mut env = self.env("post_snapshot");
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
            if let Err(e) = run_as(OP_POST, cmd, &env, self.timeout) {
                self.ok.set(false);
                failed(&e);
            }
        }
        self.ok.get()
    }

    /// The whole protocol: [`Around::pre`], then `take` unless a pre hook failed with
    /// [`OnFailure::Skip`] (then [`Taken::Skipped`], saying
    /// `<describe>: snapshot not taken (hook_failure = "skip")`), then [`Around::post`].
    /// Failures that do not stop the snapshot go to `failed`. Returns what became of the
    /// snapshot and whether every hook succeeded.
    pub fn wrap(
        &self,
        take: impl FnOnce() -> Taken,
        mut failed: impl FnMut(&Error),
    ) -> (Taken, bool) {
        let taken = match self.pre(&mut failed) {
            Ok(()) => take(),
            Err(e) => Taken::Skipped(format!(
                "{}: snapshot not taken (hook_failure = \"skip\")",
                describe(&e)
            )),
        };
        let ok = self.post(&taken, &mut failed);
        (taken, ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(tag: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("fc-hooks-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// The detail of `run`'s error, or `Ok`.
    fn why(r: Result<()>) -> std::result::Result<(), String> {
        r.map_err(|e| {
            assert_eq!(e.operation(), OP_RUN);
            e.detail().unwrap_or_default().to_string()
        })
    }

    #[test]
    fn exit_status_and_signal() {
        let t = Duration::from_secs(10);
        assert_eq!(why(run("true", &[], t)), Ok(()));
        assert_eq!(
            why(run("exit 3", &[], t)),
            Err("exited with status 3".into())
        );
        assert_eq!(
            why(run("kill -9 $$", &[], t)),
            Err("killed by signal 9".into())
        );
        assert_eq!(
            why(run("no-such-command-dv-hooks 2>/dev/null", &[], t)),
            Err("exited with status 127".into())
        );
        let e = run("exit 3", &[], t).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Other);
        assert_eq!(e.name(), Some("exit 3"));
        assert_eq!(describe(&e), "hook \"exit 3\" exited with status 3");
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
        assert_eq!(why(run(&cmd, &env, Duration::from_secs(10))), Ok(()));
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
        let r = why(run(&cmd, &[], Duration::from_millis(500)));
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
        assert_eq!("skip".parse::<OnFailure>().ok(), Some(OnFailure::Skip));
        assert_eq!(
            "continue".parse::<OnFailure>().ok(),
            Some(OnFailure::Continue)
        );
        let e = "abort".parse::<OnFailure>().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
        assert_eq!(
            e.detail(),
            Some("\"abort\" is not \"skip\" or \"continue\"")
        );
        assert_eq!(OnFailure::default(), OnFailure::Skip);
        let e = check_command("  ").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
        assert_eq!(e.detail(), Some("the command is empty"));
        let e = check_command("a\0b").unwrap_err();
        assert_eq!(e.detail(), Some("the command contains a NUL byte"));
        assert_eq!(
            check_command("logger hi").ok().as_deref(),
            Some("logger hi")
        );
    }

    /// Pre hooks run once each, in order; a failed one with `Skip` skips the snapshot, the
    /// post hooks still run and are told so.
    #[test]
    fn wrap_skips_on_a_failed_pre_hook() {
        let d = tmp("wrap");
        let log = d.join("log");
        let rec = |tag: &str| {
            format!(
                "echo \"{tag} $DATAVAULT_HOOK $DATAVAULT_POOL ${{DATAVAULT_SNAPSHOT_STATUS:-}}\" >> '{}'",
                log.display()
            )
        };
        let a = Hooks {
            pre: Some(rec("a")),
            post: Some(rec("z")),
        };
        let b = Hooks {
            pre: Some(format!("{}; exit 4", rec("b"))),
            post: Some(rec("z")),
        };
        let ds = [
            DatasetName::new("p/a").unwrap(),
            DatasetName::new("p/b").unwrap(),
        ];
        let around = Around::new([&a, &b, &a], &ds).config_path("/c.toml");
        let mut seen = Vec::new();
        let (taken, ok) = around.wrap(
            || panic!("taken despite the failed pre hook"),
            |e| seen.push(describe(e)),
        );
        assert!(!ok);
        assert!(seen.is_empty(), "{seen:?}");
        match taken {
            Taken::Skipped(m) => {
                assert!(m.starts_with("pre_snapshot hook \""), "{m}");
                assert!(
                    m.ends_with(
                        "exited with status 4: snapshot not taken (hook_failure = \"skip\")"
                    ),
                    "{m}"
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            std::fs::read_to_string(&log).unwrap(),
            "a pre_snapshot p \nb pre_snapshot p \nz post_snapshot p skipped\n"
        );
        let _ = std::fs::remove_dir_all(&d);
    }

    /// With `Continue` the failure is reported and the snapshot taken; post hooks are told.
    #[test]
    fn wrap_continues_when_asked() {
        let ds = [DatasetName::new("p/a").unwrap()];
        let h = Hooks {
            pre: Some("exit 5".into()),
            post: Some("test \"$DATAVAULT_SNAPSHOT_STATUS\" = taken && test \"$DATAVAULT_SNAPSHOT\" = dv-x".into()),
        };
        let around = Around::new([&h], &ds).on_failure(OnFailure::Continue);
        let mut seen = Vec::new();
        let (taken, ok) = around.wrap(
            || Taken::Done("dv-x".into(), vec![]),
            |e| seen.push(describe(e)),
        );
        assert!(matches!(taken, Taken::Done(..)));
        assert!(!ok);
        assert_eq!(seen, ["pre_snapshot hook \"exit 5\" exited with status 5"]);
    }
}
