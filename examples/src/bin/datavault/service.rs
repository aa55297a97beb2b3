//! `datavault run --config FILE [--once] [--cycles N] [--until RFC3339]
//! [--clock-start RFC3339 (--clock-speed N | --clock-step INTERVAL)]`: the service.
//!
//! Each configured dataset falls due on its schedule (`schedule.rs`): `every` (interval slots
//! aligned to the Unix epoch in UTC: with `every = "1h"`, once in each clock hour) or `at`
//! (wall-clock times in the configuration's time zone, e.g. `at = "03:00"`). A due dataset is
//! snapshotted and then pruned with its policy. Datasets of one pool due at the same moment
//! share one atomic snapshot (one `lzc_snapshot` call).
//!
//! `skip_empty`: a due dataset whose `written` property is 0 (nothing written since its latest
//! snapshot; for a recursive entry, every dataset of it) takes no snapshot in that slot. The
//! retention rules count snapshots, not slots, so a skipped slot leaves the policy's counts
//! as they are, and the landmark rules (`bursts`, `changes`) read the same `written` facts. The
//! change from snapshotting to skipping (and back) is logged once, not at every slot.
//!
//! The schedule keeps no state of its own: the last snapshot of a dataset is the newest one in
//! the pool named by the scheme (`scheme.rs`), so a restart neither repeats a snapshot nor
//! misses one, and every dataset is pruned when the service starts (a prune that a stop
//! interrupted is made up). For `datavault status` the service writes a report after each
//! cycle (`state.rs`); no decision reads it. When the clock jumps back, no snapshot is taken
//! until it passes the slot of the newest one (no duplicates), and snapshots dated after the
//! clock are kept by retention's future-dated protection (no history lost); when it jumps
//! forward, one snapshot is taken (missed slots are not filled in) and retention sees the
//! time that passed.
//!
//! A dataset that is missing or fails (listing, snapshot) is logged and tried again on its
//! own: after a minute, then after twice the previous wait, never later than its next slot;
//! the other datasets go on. In a bounded run (`--once`, `--cycles`, `--until`) such a failure
//! makes the exit status 1.
//!
//! Between cycles the service sleeps until the next due instant, a stop signal or (system
//! clock) a change of the clock: one `poll(2)` on a `signalfd` and a `timerfd` armed at that
//! instant with `TFD_TIMER_CANCEL_ON_SET`; nothing wakes it in between.
//!
//! Accelerated clocks, for demos and tests: `--clock-start T --clock-speed N` runs a clock
//! that starts at T and goes N times as fast as real time; `--clock-start T --clock-step D`
//! one that starts at T and advances by D after each cycle, without sleeping (deterministic).
//! Snapshot names carry the service's clock, and retention plans with that time, so history
//! built in seconds thins as the hours it stands for (`creation` stays the real time).
//!
//! Each dataset's policy owns only DataVault's snapshots and those its `match` regex matches
//! in full (`config.rs`); the prune never destroys or counts any other snapshot (a manual
//! one, syncoid's, zrepl's), and its log line says how many such foreign ones it kept.
//!
//! One line per action on stdout (`<service time> <action>`), errors on stderr
//! (`<service time> error: ...`); never a progress bar. Under systemd (`systemd.rs`) lines
//! carry journald priorities (`<3>` errors, `<4>` warnings) and, with the system clock, no
//! timestamp; `READY=1`, `WATCHDOG=1` and `STOPPING=1` are sent when systemd asks for them.
//! SIGTERM or SIGINT: the current step finishes, then it exits 0. `--once` runs one cycle,
//! `--cycles N` N cycles, `--until T` until the service clock reaches T. Exit status: 0, or 1
//! when `--once`/`--cycles`/`--until` was given and some step failed; 2 for a bad config
//! (nothing done).

use std::collections::BTreeMap;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use flocker_core::error::ErrorKind;
use flocker_core::inventory::{DatasetQuery, Inventory, SnapshotQuery};
use flocker_core::name::DatasetName;
use flocker_core::rollback::{self, Store};
use flocker_examples::prune::{self as core, Fate, Options, rfc3339, short_error};
use flocker_examples::scheme;
use time::OffsetDateTime;

use crate::common::{Failure, Opts, parse_instant, store_dir};
use crate::config::{self, Config, parse_interval};
use crate::snapshot::{expand, take};
use crate::state::{self, DatasetState, LastFailure, ServiceState};
use crate::systemd;

static STOP: AtomicBool = AtomicBool::new(false);

/// SIGTERM and SIGINT, blocked and read from a `signalfd`, so that a signal is seen between
/// steps and wakes the sleep between cycles.
struct Signals {
    fd: OwnedFd,
}

impl Signals {
    fn install() -> Result<Signals, Failure> {
        // SAFETY: `set` is initialised by sigemptyset before use; blocking the two signals in
        // this (the only) thread before any other thread exists makes them pending for the
        // signalfd instead of killing the process; children get an empty mask from `Command`.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGTERM);
            libc::sigaddset(&mut set, libc::SIGINT);
            if libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) != 0 {
                return Err(Failure::Failed("cannot block SIGTERM/SIGINT".into()));
            }
            let fd = libc::signalfd(-1, &set, libc::SFD_NONBLOCK | libc::SFD_CLOEXEC);
            if fd < 0 {
                return Err(Failure::Failed(format!(
                    "signalfd: {}",
                    std::io::Error::last_os_error()
                )));
            }
            Ok(Signals {
                fd: OwnedFd::from_raw_fd(fd),
            })
        }
    }

    /// Whether a stop was asked for (reads the pending signals without waiting).
    fn stopping(&self) -> bool {
        if STOP.load(Ordering::SeqCst) {
            return true;
        }
        // SAFETY: `info` is a plain C struct the kernel fills; the descriptor is ours and
        // non-blocking, so this returns at once.
        let n = unsafe {
            let mut info: libc::signalfd_siginfo = std::mem::zeroed();
            libc::read(
                self.fd.as_raw_fd(),
                (&mut info as *mut libc::signalfd_siginfo).cast(),
                std::mem::size_of::<libc::signalfd_siginfo>(),
            )
        };
        if n > 0 {
            STOP.store(true, Ordering::SeqCst);
        }
        STOP.load(Ordering::SeqCst)
    }
}

/// A `timerfd` on the system clock that fires at an instant and also when the clock is set.
fn realtime_timer(at: OffsetDateTime) -> Option<OwnedFd> {
    // SAFETY: plain system calls on a descriptor we own; `spec` is fully initialised.
    unsafe {
        let fd = libc::timerfd_create(libc::CLOCK_REALTIME, libc::TFD_NONBLOCK | libc::TFD_CLOEXEC);
        if fd < 0 {
            return None;
        }
        let fd = OwnedFd::from_raw_fd(fd);
        let secs = at.unix_timestamp().max(1);
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                tv_sec: secs as libc::time_t,
                tv_nsec: 0,
            },
        };
        let flags = libc::TFD_TIMER_ABSTIME | libc::TFD_TIMER_CANCEL_ON_SET;
        if libc::timerfd_settime(fd.as_raw_fd(), flags, &spec, std::ptr::null_mut()) != 0 {
            return None;
        }
        Some(fd)
    }
}

/// Sleeps in `poll(2)` until `signals` or `timer` is readable or `timeout` passes (None: no
/// limit).
fn sleep_on(signals: &Signals, timer: Option<&OwnedFd>, timeout: Option<Duration>) {
    let mut fds = vec![libc::pollfd {
        fd: signals.fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    }];
    if let Some(t) = timer {
        fds.push(libc::pollfd {
            fd: t.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        });
    }
    let ms = timeout.map_or(-1, |d| {
        i32::try_from(d.as_millis().clamp(1, 24 * 3600 * 1000)).unwrap_or(i32::MAX)
    });
    // SAFETY: `fds` is a valid array of `fds.len()` entries for the duration of the call.
    unsafe {
        libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms);
    }
}

/// The service's clock.
enum Clock {
    /// The system's wall clock.
    Real,
    /// Starts at `start` and runs `speed` times as fast as real time.
    Speed {
        start: OffsetDateTime,
        began: Instant,
        speed: f64,
    },
    /// Starts at `t` and advances by `step` after each cycle.
    Step { t: OffsetDateTime, step: Duration },
}

impl Clock {
    fn now(&self) -> OffsetDateTime {
        match self {
            Clock::Real => OffsetDateTime::now_utc(),
            Clock::Speed {
                start,
                began,
                speed,
            } => {
                let secs = began.elapsed().as_secs_f64() * speed;
                *start + time::Duration::seconds_f64(secs.min(1e12))
            }
            Clock::Step { t, .. } => *t,
        }
    }

    fn describe(&self) -> String {
        match self {
            Clock::Real => "the system clock".into(),
            Clock::Speed { start, speed, .. } => {
                format!("an accelerated clock from {} at {speed}x", rfc3339(*start))
            }
            Clock::Step { t, step } => format!(
                "a stepped clock from {}, {}s per cycle",
                rfc3339(*t),
                step.as_secs()
            ),
        }
    }
}

/// The clock's time to the second.
fn stamp_of(t: OffsetDateTime) -> String {
    rfc3339(t.replace_nanosecond(0).unwrap_or(t))
}

/// How lines are written: with the service's time first (a terminal, a file), or with a
/// journald priority and no time (systemd, system clock).
struct Log {
    journal: bool,
    stamped: bool,
}

impl Log {
    fn new(clock: &Clock) -> Log {
        let journal = systemd::journal();
        Log {
            journal,
            // The journal stamps real time; an accelerated clock's time is still printed.
            stamped: !journal || !matches!(clock, Clock::Real),
        }
    }

    fn line(&self, clock: &Clock, prio: &str, msg: &str) -> String {
        let mut out = String::new();
        if self.journal {
            out.push_str(prio);
        }
        if self.stamped {
            out.push_str(&stamp_of(clock.now()));
            out.push(' ');
        }
        out.push_str(msg);
        out
    }

    fn info(&self, clock: &Clock, msg: &str) {
        println!("{}", self.line(clock, "<6>", msg));
    }

    fn warn(&self, clock: &Clock, msg: &str) {
        println!("{}", self.line(clock, "<4>", msg));
    }

    fn error(&self, clock: &Clock, msg: &str) {
        eprintln!("{}", self.line(clock, "<3>", &format!("error: {msg}")));
    }
}

/// The newest service snapshot time of `ds`, from the pool.
pub fn last_snapshot(ds: &DatasetName) -> Result<Option<OffsetDateTime>, Failure> {
    let names = Inventory::new()
        .snapshot_names(&SnapshotQuery::new(ds))
        .map_err(|e| match e.kind() {
            ErrorKind::NotFound => Failure::Invalid(format!("dataset {ds} does not exist")),
            _ => Failure::Zfs(e),
        })?;
    Ok(names
        .iter()
        .filter_map(|n| scheme::name_time(n.short_name()))
        .max())
}

/// Whether nothing was written to `root` (and, when `recursive`, to any of its descendants
/// but stash datasets) since its latest snapshot: every `written` is 0. A dataset whose
/// `written` the kernel does not report counts as written. The pool is synced first
/// (`lzc_sync`), so that data written in the last seconds, still in memory, counts.
fn unwritten(root: &DatasetName, recursive: bool) -> Result<bool, Failure> {
    flocker_core::lzc::sync(&root.pool(), false).map_err(|e| match e.kind() {
        ErrorKind::NotFound => Failure::Invalid(format!("dataset {root} does not exist")),
        _ => Failure::Zfs(e),
    })?;
    let mut q = DatasetQuery::new(root);
    if recursive {
        q = q.recursive();
    }
    let found = Inventory::new().datasets(&q).map_err(|e| match e.kind() {
        ErrorKind::NotFound => Failure::Invalid(format!("dataset {root} does not exist")),
        _ => Failure::Zfs(e),
    })?;
    Ok(found
        .iter()
        .filter(|d| d.name == *root || !rollback::is_stash_dataset(d.name.as_str()))
        .all(|d| d.written == Some(0)))
}

/// What the service knows of a dataset between cycles.
#[derive(Default)]
struct Tracked {
    /// The slot (start, Unix seconds) it was last served in: snapshotted, found up to date,
    /// or skipped as empty.
    served: Option<i64>,
    /// When it is tried again after a failure.
    retry_at: Option<OffsetDateTime>,
    /// Whether its slots are being skipped (skip_empty), for logging a change once.
    skipping: bool,
    /// The report for `datavault status`.
    report: DatasetState,
}

struct Service {
    cfg: Config,
    clock: Clock,
    log: Log,
    signals: Signals,
    tracked: Vec<Tracked>,
    failed: bool,
}

impl Service {
    fn stopping(&self) -> bool {
        self.signals.stopping()
    }

    fn info(&self, msg: &str) {
        self.log.info(&self.clock, msg);
    }

    fn warn(&self, msg: &str) {
        self.log.warn(&self.clock, msg);
    }

    fn error(&self, msg: &str) {
        self.log.error(&self.clock, msg);
    }

    /// Records a failure of dataset `i` and when it is tried again.
    fn fail(&mut self, i: usize, what: &str) {
        let now = self.clock.now();
        let d = &self.cfg.datasets[i];
        let t = &mut self.tracked[i];
        t.report.failures = t.report.failures.saturating_add(1);
        let n = t.report.failures;
        let backoff = Duration::from_secs(60u64.saturating_mul(1 << (n - 1).min(20)));
        let retry = (now + backoff.min(d.schedule.period())).min(d.schedule.next_after(now));
        t.retry_at = Some(retry);
        t.report.retry_at = Some(stamp_of(retry));
        t.report.last_failure = Some(LastFailure {
            at: stamp_of(now),
            message: what.to_string(),
        });
        self.failed = true;
        let msg = format!(
            "{} (config line {}): {what}; failure {n} in a row, next try at {}",
            d.name,
            d.line,
            stamp_of(retry)
        );
        self.error(&msg);
    }

    /// Dataset `i` is up to date in the slot starting at `slot`.
    fn served(&mut self, i: usize, slot: i64) {
        let now = stamp_of(self.clock.now());
        let t = &mut self.tracked[i];
        t.served = Some(slot);
        t.retry_at = None;
        t.report.failures = 0;
        t.report.retry_at = None;
        t.report.last_checked = Some(now);
    }

    fn prune(&mut self, i: usize) {
        let d = self.cfg.datasets[i].clone();
        let now = self.clock.now();
        let mut po = Options::new(
            "datavault",
            d.name.clone(),
            d.policy.clone(),
            self.cfg.tz.clone(),
            self.cfg.tz_name.clone(),
            now,
        );
        po.json = true; // no progress output, no text from the core
        po.recursive = d.recursive;
        po.batch = self.cfg.batch;
        po.store = store_dir(self.cfg.store.as_deref());
        po.snapshot_time = Some(scheme::info_time);
        po.ownership = d.ownership.clone();
        let planned = match core::plan(&po) {
            Ok(p) => p,
            Err(core::Failure::Usage(m) | core::Failure::Other(m)) => {
                self.error(&format!("prune {}: {m}", d.name));
                self.failed = true;
                let t = &mut self.tracked[i];
                t.report.last_failure = Some(LastFailure {
                    at: stamp_of(now),
                    message: format!("prune: {m}"),
                });
                return;
            }
        };
        let (clock, log) = (&self.clock, &self.log);
        let applied = core::apply(&po, &planned, |name, fate| match fate {
            Fate::Skipped(e) => {
                log.warn(clock, &format!("prune: skipped {name}: {}", short_error(e)))
            }
            Fate::Failed(e) => log.error(clock, &format!("prune: failed {name}: {}", e.text)),
            Fate::Destroyed | Fate::NotAttempted => {}
        });
        let t = &applied.tally;
        let destroyed: Vec<&str> = planned
            .doomed()
            .iter()
            .filter(|e| matches!(applied.fates.get(&e.name), Some(Fate::Destroyed)))
            .map(|e| e.name.rsplit('@').next().unwrap_or(&e.name))
            .collect();
        let summary = format!(
            "{} snapshot(s), kept {}, destroyed {}{}{}{}",
            planned.listing.len(),
            planned.kept(),
            t.destroyed,
            if destroyed.is_empty() {
                String::new()
            } else {
                format!(" ({})", destroyed.join(" "))
            },
            match planned.foreign.len() {
                0 => String::new(),
                n => format!(", kept {n} foreign"),
            },
            if t.skipped + t.failed + t.not_attempted > 0 {
                format!(
                    ", skipped {}, failed {}",
                    t.skipped,
                    t.failed + t.not_attempted
                )
            } else {
                String::new()
            }
        );
        self.info(&format!("prune {}: {summary}", d.name));
        let ok = applied.ok();
        let r = &mut self.tracked[i].report;
        r.last_prune = Some(stamp_of(now));
        r.last_prune_summary = Some(summary);
        if !ok {
            r.last_failure = Some(LastFailure {
                at: stamp_of(now),
                message: "prune: some snapshots could not be destroyed".into(),
            });
            self.failed = true;
        }
    }

    /// Which datasets are due now; records the failures of those that cannot be listed.
    fn due(&mut self, now: OffsetDateTime) -> Vec<usize> {
        let mut due = Vec::new();
        for i in 0..self.cfg.datasets.len() {
            let d = &self.cfg.datasets[i];
            let t = &self.tracked[i];
            let slot = d.schedule.slot_start(now).unix_timestamp();
            match t.retry_at {
                Some(r) if now < r => continue,
                Some(_) => {}
                None if t.served == Some(slot) => continue,
                None => {}
            }
            match last_snapshot(&d.name) {
                Ok(last) if last.is_none_or(|l| l.unix_timestamp() < slot) => due.push(i),
                Ok(_) => self.served(i, slot),
                Err(e) => self.fail(i, &msg(&e)),
            }
        }
        due
    }

    /// Whether entry `i` is skipped this slot (skip_empty and nothing written); logs a change.
    fn skip_empty(&mut self, i: usize, slot: i64) -> Result<bool, Failure> {
        let d = &self.cfg.datasets[i];
        if !d.skip_empty {
            return Ok(false);
        }
        let empty = unwritten(&d.name, d.recursive)?;
        let was = self.tracked[i].skipping;
        if empty && !was {
            self.info(&format!(
                "skip_empty: nothing written to {}{} since its last snapshot: no snapshot until it changes",
                d.name,
                if d.recursive { " or below" } else { "" }
            ));
            self.tracked[i].report.skipping_since = Some(stamp_of(self.clock.now()));
        } else if !empty && was {
            self.info(&format!(
                "skip_empty: {} was written to: snapshots resume",
                d.name
            ));
            self.tracked[i].report.skipping_since = None;
        }
        self.tracked[i].skipping = empty;
        if empty {
            self.served(i, slot);
        }
        Ok(empty)
    }

    /// Snapshots the due datasets (one call per pool) and prunes them; on the first cycle
    /// prunes every dataset that could be listed.
    fn cycle(&mut self, first: bool) {
        let now = self.clock.now();
        let due = self.due(now);
        let mut by_pool: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for &i in &due {
            by_pool
                .entry(self.cfg.datasets[i].name.pool().to_string())
                .or_default()
                .push(i);
        }
        let mut snapped: Vec<usize> = Vec::new();
        for idx in by_pool.values() {
            if self.stopping() {
                break;
            }
            let mut datasets = Vec::new();
            let mut entries = Vec::new();
            for &i in idx {
                let slot = self.cfg.datasets[i]
                    .schedule
                    .slot_start(now)
                    .unix_timestamp();
                match self.skip_empty(i, slot) {
                    Ok(true) => continue,
                    Ok(false) => {}
                    Err(e) => {
                        self.fail(i, &msg(&e));
                        continue;
                    }
                }
                let d = &self.cfg.datasets[i];
                match expand(std::slice::from_ref(&d.name), d.recursive) {
                    Ok(v) => {
                        for n in v {
                            if !datasets.contains(&n) {
                                datasets.push(n);
                            }
                        }
                        entries.push(i);
                    }
                    Err(e) => self.fail(i, &msg(&e)),
                }
            }
            if datasets.is_empty() {
                continue;
            }
            let store = match Store::open(store_dir(self.cfg.store.as_deref())) {
                Ok(s) => s,
                Err(e) => {
                    let m = format!("snapshot: {}", msg(&Failure::from(e)));
                    for &i in &entries {
                        self.fail(i, &m);
                    }
                    continue;
                }
            };
            // Hooks (hooks.rs): pre_snapshot before the snapshot, post_snapshot after it, for
            // the entries that take one (not those skip_empty skipped).
            let (clock, log) = (&self.clock, &self.log);
            let hooks = crate::hooks::Around::new(&self.cfg, &entries, &datasets);
            let taken = hooks
                .pre(&|m| log.error(clock, m))
                .and_then(|()| take(&store, &datasets, || clock.now()));
            self.failed |= !hooks.post(&taken, &|m| log.error(clock, m));
            match taken {
                Ok((short, names)) => {
                    self.info(&format!(
                        "snapshot {short}: {} (one lzc_snapshot call)",
                        names
                            .iter()
                            .map(|n| n.dataset_str())
                            .collect::<Vec<_>>()
                            .join(" ")
                    ));
                    for &i in &entries {
                        let slot = self.cfg.datasets[i]
                            .schedule
                            .slot_start(now)
                            .unix_timestamp();
                        self.served(i, slot);
                    }
                    snapped.extend(entries);
                }
                Err(e) => {
                    let m = format!("snapshot: {}", msg(&e));
                    for &i in &entries {
                        self.fail(i, &m);
                    }
                }
            }
        }
        let to_prune: Vec<usize> = if first {
            (0..self.cfg.datasets.len())
                .filter(|&i| self.tracked[i].retry_at.is_none())
                .collect()
        } else {
            snapped
        };
        for i in to_prune {
            if self.stopping() {
                break;
            }
            self.prune(i);
        }
        self.write_state();
    }

    /// Writes the report for `datavault status` (a failure is a warning: no decision reads it).
    fn write_state(&self) {
        let dir: PathBuf = store_dir(self.cfg.store.as_deref());
        let st = ServiceState {
            pid: std::process::id(),
            config: self.cfg.path.clone(),
            updated: Some(stamp_of(self.clock.now())),
            datasets: self
                .cfg
                .datasets
                .iter()
                .zip(&self.tracked)
                .map(|(d, t)| (d.name.to_string(), t.report.clone()))
                .collect(),
        };
        if let Err(e) = Store::open(&dir)
            .map_err(|e| e.to_string())
            .and_then(|_| state::write(&dir, &st))
        {
            self.warn(&format!("status report not written: {e}"));
        }
    }

    /// The next instant a dataset falls due (or is tried again), after `now`.
    fn next_due(&self, now: OffsetDateTime) -> OffsetDateTime {
        self.cfg
            .datasets
            .iter()
            .zip(&self.tracked)
            .map(|(d, t)| t.retry_at.unwrap_or_else(|| d.schedule.next_after(now)))
            .min()
            .unwrap_or(now + time::Duration::HOUR)
    }

    /// Waits until the next due instant (or `until`), a stop signal, or (system clock) a
    /// change of the clock; with a watchdog, wakes to ping it in between.
    fn wait(&mut self, until: Option<OffsetDateTime>) {
        if let Clock::Step { t, step } = &mut self.clock {
            *t += *step;
            return;
        }
        let target = {
            let n = self.next_due(self.clock.now());
            until.map_or(n, |u| n.min(u))
        };
        let watchdog = systemd::watchdog_interval();
        while !self.stopping() {
            let now = self.clock.now();
            if now >= target {
                return;
            }
            match &self.clock {
                Clock::Real => {
                    let timer = realtime_timer(target);
                    // Without a timer (cannot happen on Linux >= 3.0), wake every minute.
                    let limit =
                        match (&timer, watchdog) {
                            (Some(_), w) => w,
                            (None, w) => Some(w.map_or(Duration::from_secs(60), |w| {
                                w.min(Duration::from_secs(60))
                            })),
                        };
                    sleep_on(&self.signals, timer.as_ref(), limit);
                    if let Some(t) = &timer {
                        let mut buf = [0u8; 8];
                        // SAFETY: reads at most 8 bytes into `buf` from our descriptor.
                        let n = unsafe { libc::read(t.as_raw_fd(), buf.as_mut_ptr().cast(), 8) };
                        if n < 0
                            && std::io::Error::last_os_error().raw_os_error()
                                == Some(libc::ECANCELED)
                        {
                            // The clock was set: the cycle re-reads it.
                            systemd::notify("WATCHDOG=1");
                            return;
                        }
                    }
                }
                Clock::Speed { speed, .. } => {
                    let real = Duration::from_secs_f64(
                        ((target - now).as_seconds_f64() / speed).clamp(0.001, 86_400.0),
                    );
                    sleep_on(
                        &self.signals,
                        None,
                        Some(watchdog.map_or(real, |w| w.min(real))),
                    );
                }
                Clock::Step { .. } => return,
            }
            systemd::notify("WATCHDOG=1");
        }
    }
}

fn msg(f: &Failure) -> String {
    match f {
        Failure::Usage(m) | Failure::Refused(m) | Failure::Invalid(m) | Failure::Failed(m) => {
            m.clone()
        }
        Failure::Zfs(e) => e.to_string(),
    }
}

/// `datavault run ...`
pub fn run(args: &[String]) -> Result<(), Failure> {
    let o = Opts::parse(
        args,
        &["--once"],
        &[
            "--config",
            "--cycles",
            "--until",
            "--clock-start",
            "--clock-speed",
            "--clock-step",
        ],
    )?;
    if !o.positional.is_empty() {
        return Err(Failure::Usage("run takes no positional arguments".into()));
    }
    let path = o
        .value("--config")
        .ok_or_else(|| Failure::Usage("run needs --config FILE".into()))?;
    let cfg = config::load(path)?;
    let mut cycles = match o.value("--cycles") {
        Some(c) => Some(c.parse::<u64>().ok().filter(|&n| n > 0).ok_or_else(|| {
            Failure::Invalid(format!("bad --cycles {c:?}: a whole number, at least 1"))
        })?),
        None => None,
    };
    if o.flag("--once") {
        if cycles.is_some() {
            return Err(Failure::Usage(
                "--once and --cycles exclude each other".into(),
            ));
        }
        cycles = Some(1);
    }
    let until = o
        .value("--until")
        .map(|u| parse_instant(u).map_err(|m| Failure::Invalid(format!("bad --until {u:?}: {m}"))))
        .transpose()?;
    let clock = match (
        o.value("--clock-start"),
        o.value("--clock-speed"),
        o.value("--clock-step"),
    ) {
        (None, None, None) => Clock::Real,
        (Some(s), speed, step) => {
            let start = parse_instant(s)
                .map_err(|m| Failure::Invalid(format!("bad --clock-start {s:?}: {m}")))?;
            match (speed, step) {
                (Some(v), None) => {
                    let speed: f64 = v
                        .parse()
                        .ok()
                        .filter(|x: &f64| x.is_finite() && *x > 0.0 && *x <= 1e7)
                        .ok_or_else(|| {
                            Failure::Invalid(format!(
                                "bad --clock-speed {v:?}: a number in (0, 1e7]"
                            ))
                        })?;
                    Clock::Speed {
                        start,
                        began: Instant::now(),
                        speed,
                    }
                }
                (None, Some(v)) => Clock::Step {
                    t: start,
                    step: parse_interval(v)
                        .map_err(|m| Failure::Invalid(format!("bad --clock-step: {m}")))?,
                },
                (None, None) => Clock::Speed {
                    start,
                    began: Instant::now(),
                    speed: 1.0,
                },
                (Some(_), Some(_)) => {
                    return Err(Failure::Usage(
                        "--clock-speed and --clock-step exclude each other".into(),
                    ));
                }
            }
        }
        (None, _, _) => {
            return Err(Failure::Usage(
                "--clock-speed and --clock-step need --clock-start".into(),
            ));
        }
    };
    if matches!(clock, Clock::Step { .. }) && cycles.is_none() && until.is_none() {
        return Err(Failure::Usage(
            "--clock-step needs --once, --cycles or --until (it never sleeps)".into(),
        ));
    }
    // A dataset that does not exist (yet) is not a reason to stop: the first cycle logs it and
    // tries it again on its own while the others go on.
    let bounded = cycles.is_some() || until.is_some();
    let signals = Signals::install()?;
    let log = Log::new(&clock);
    let tracked = cfg.datasets.iter().map(|_| Tracked::default()).collect();
    let mut svc = Service {
        cfg,
        clock,
        log,
        signals,
        tracked,
        failed: false,
    };
    svc.info(&format!(
        "datavault service started: {} dataset(s) from {}, {}",
        svc.cfg.datasets.len(),
        svc.cfg.path,
        svc.clock.describe()
    ));
    for d in &svc.cfg.datasets {
        svc.info(&format!(
            "  {}{} {}, keep {}{}{}",
            d.name,
            if d.recursive { " (recursive)" } else { "" },
            d.schedule,
            d.policy,
            if d.skip_empty { ", skip_empty" } else { "" },
            match d.ownership.regex() {
                Some(r) => format!(", owns dv- snapshots and those matching \"{r}\""),
                None => String::new(),
            }
        ));
    }
    systemd::notify("READY=1");
    let mut n = 0u64;
    loop {
        if svc.stopping() {
            break;
        }
        if until.is_some_and(|u| svc.clock.now() > u) {
            svc.info("the clock passed --until: stopping");
            break;
        }
        svc.cycle(n == 0);
        systemd::notify("WATCHDOG=1");
        n += 1;
        if cycles.is_some_and(|c| n >= c) {
            break;
        }
        svc.wait(until);
    }
    if svc.stopping() {
        systemd::notify("STOPPING=1");
        svc.info("signal received: stopped cleanly");
    } else {
        svc.info(&format!("stopped after {n} cycle(s)"));
    }
    if bounded && svc.failed {
        return Err(Failure::Failed("some steps failed (see above)".into()));
    }
    Ok(())
}
