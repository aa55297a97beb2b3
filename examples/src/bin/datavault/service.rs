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

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use flocker_core::error::ErrorKind;
use flocker_core::name::DatasetName;
use flocker_core::rollback::Store;
use flocker_core::vault;
use flocker_core::vault::service::{
    self as engine, Cause, Clock as _, Engine, Event, ScaledClock, Step, SteppedClock, SystemClock,
    Taken,
};
use flocker_examples::prune::{self as core, Fate, Planned, Report, rfc3339, short_error};
use time::OffsetDateTime;

use crate::args::RunArgs;
use crate::common::{Failure, parse_instant, store_dir};
use crate::config::{self, Config, parse_interval};
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

/// The service's clock: one of the library's, chosen by `--clock-*`; how to sleep until an
/// instant depends on which.
enum Clock {
    /// The system's wall clock.
    Real(SystemClock),
    /// Runs faster than real time (`--clock-speed`).
    Speed(ScaledClock),
    /// Advances by its step after each cycle (`--clock-step`).
    Step(SteppedClock),
}

impl Clock {
    fn now(&self) -> OffsetDateTime {
        match self {
            Clock::Real(c) => c.now(),
            Clock::Speed(c) => c.now(),
            Clock::Step(c) => c.now(),
        }
    }

    fn describe(&self) -> String {
        match self {
            Clock::Real(_) => "the system clock".into(),
            Clock::Speed(c) => format!(
                "an accelerated clock from {} at {}x",
                rfc3339(c.start()),
                c.speed()
            ),
            Clock::Step(c) => format!(
                "a stepped clock from {}, {}s per cycle",
                rfc3339(c.now()),
                c.step().as_secs()
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
            stamped: !journal || !matches!(clock, Clock::Real(_)),
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

/// A missing dataset is bad input (one line, naming it); other errors are ZFS's.
fn zfs_failure(ds: &DatasetName) -> impl Fn(flocker_core::error::Error) -> Failure + '_ {
    move |e| match e.kind() {
        ErrorKind::NotFound => Failure::Invalid(format!("dataset {ds} does not exist")),
        _ => Failure::Zfs(e),
    }
}

/// The newest service snapshot time of `ds`, from the pool
/// ([`vault::snapshot::last_snapshot`]).
pub fn last_snapshot(ds: &DatasetName) -> Result<Option<OffsetDateTime>, Failure> {
    vault::snapshot::last_snapshot(ds).map_err(zfs_failure(ds))
}

/// What `datavault run` keeps between cycles: the engine (the schedule and its failures, in
/// the library), the configuration, the clock, the log and the status report.
struct Service {
    engine: Engine,
    cfg: Config,
    clock: Clock,
    log: Log,
    signals: Signals,
    /// The report for `datavault status`, one per configured dataset.
    reports: Vec<DatasetState>,
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

    /// One cycle of the engine, its events logged and reported, its snapshots between the
    /// configured hooks; then the status report is written.
    fn cycle(&mut self) {
        let mut host = Output {
            cfg: &self.cfg,
            clock: &self.clock,
            log: &self.log,
            signals: &self.signals,
            reports: &mut self.reports,
            failed: &mut self.failed,
        };
        self.engine.run_cycle(&self.clock, &mut host);
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
                .zip(&self.reports)
                .map(|(d, r)| (d.name.to_string(), r.clone()))
                .collect(),
        };
        if let Err(e) = Store::create(&dir)
            .map_err(|e| e.to_string())
            .and_then(|_| state::write(&dir, &st))
        {
            self.warn(&format!("status report not written: {e}"));
        }
    }

    /// The next instant a dataset falls due (or is tried again), after `now`.
    fn next_due(&self, now: OffsetDateTime) -> OffsetDateTime {
        self.engine.next_due(now)
    }

    /// Waits until the next due instant (or `until`), a stop signal, or (system clock) a
    /// change of the clock; with a watchdog, wakes to ping it in between.
    fn wait(&mut self, until: Option<OffsetDateTime>) {
        if let Clock::Step(c) = &mut self.clock {
            c.advance();
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
                Clock::Real(_) => {
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
                Clock::Speed(c) => {
                    let real = c
                        .real_time(now, target)
                        .clamp(Duration::from_millis(1), Duration::from_secs(86_400));
                    sleep_on(
                        &self.signals,
                        None,
                        Some(watchdog.map_or(real, |w| w.min(real))),
                    );
                }
                Clock::Step(_) => return,
            }
            systemd::notify("WATCHDOG=1");
        }
    }
}

/// The engine's host in `datavault run`: logs each event as one line, keeps the status
/// report, runs the hooks around each snapshot, and stops on a signal.
struct Output<'a> {
    cfg: &'a Config,
    clock: &'a Clock,
    log: &'a Log,
    signals: &'a Signals,
    reports: &'a mut [DatasetState],
    failed: &'a mut bool,
}

impl Output<'_> {
    /// A failure of dataset `index` at `step`, in the log's words.
    fn what(&self, index: usize, step: Step, cause: Cause<'_>) -> String {
        let text = match cause {
            Cause::Zfs(e) => match (step, e.kind()) {
                (Step::Listing | Step::SkipEmpty | Step::Cover, ErrorKind::NotFound) => {
                    format!("dataset {} does not exist", self.cfg.datasets[index].name)
                }
                _ => e.to_string(),
            },
            Cause::Host(why) => why.to_string(),
            _ => String::new(),
        };
        match step {
            Step::Store | Step::Snapshot | Step::Hook => format!("snapshot: {text}"),
            _ => text,
        }
    }

    fn failed(
        &mut self,
        now: OffsetDateTime,
        index: usize,
        what: String,
        n: u32,
        retry: OffsetDateTime,
    ) {
        let d = &self.cfg.datasets[index];
        let r = &mut self.reports[index];
        r.failures = n;
        r.retry_at = Some(stamp_of(retry));
        r.last_failure = Some(LastFailure {
            at: stamp_of(now),
            message: what.clone(),
        });
        *self.failed = true;
        self.log.error(
            self.clock,
            &format!(
                "{} (config line {}): {what}; failure {n} in a row, next try at {}",
                d.name,
                d.line,
                stamp_of(retry)
            ),
        );
    }

    /// The prune's log line and report.
    fn pruned(&mut self, now: OffsetDateTime, index: usize, planned: &Planned, report: &Report) {
        let t = &report.tally;
        let destroyed: Vec<&str> = planned
            .doomed()
            .iter()
            .filter(|e| matches!(report.fates.get(&e.name), Some(Fate::Destroyed)))
            .map(|e| e.name.short_name())
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
        let name = &self.cfg.datasets[index].name;
        self.log
            .info(self.clock, &format!("prune {name}: {summary}"));
        let r = &mut self.reports[index];
        r.last_prune = Some(stamp_of(now));
        r.last_prune_summary = Some(summary);
        if !report.ok() {
            r.last_failure = Some(LastFailure {
                at: stamp_of(now),
                message: "prune: some snapshots could not be destroyed".into(),
            });
            *self.failed = true;
        }
    }

    /// A prune that could not plan.
    fn prune_failed(&mut self, now: OffsetDateTime, index: usize, e: &flocker_core::error::Error) {
        let m = match core::failure(e) {
            core::Failure::Usage(m) | core::Failure::Other(m) => m,
        };
        let name = &self.cfg.datasets[index].name;
        self.log.error(self.clock, &format!("prune {name}: {m}"));
        *self.failed = true;
        self.reports[index].last_failure = Some(LastFailure {
            at: stamp_of(now),
            message: format!("prune: {m}"),
        });
    }
}

impl engine::Host for Output<'_> {
    fn event(&mut self, now: OffsetDateTime, event: &Event<'_>) {
        let (clock, log) = (self.clock, self.log);
        match *event {
            Event::Served { index } => {
                let r = &mut self.reports[index];
                r.failures = 0;
                r.retry_at = None;
                r.last_checked = Some(stamp_of(now));
            }
            Event::SkipStarted { index } => {
                let d = &self.cfg.datasets[index];
                log.info(clock, &format!(
                    "skip_empty: nothing written to {}{} since its last snapshot: no snapshot until it changes",
                    d.name,
                    if d.recursive { " or below" } else { "" }
                ));
                self.reports[index].skipping_since = Some(stamp_of(now));
            }
            Event::SkipEnded { index } => {
                let d = &self.cfg.datasets[index];
                log.info(
                    clock,
                    &format!("skip_empty: {} was written to: snapshots resume", d.name),
                );
                self.reports[index].skipping_since = None;
            }
            Event::Failed {
                index,
                step,
                cause,
                failures,
                retry_at,
            } => {
                let what = self.what(index, step, cause);
                self.failed(now, index, what, failures, retry_at);
            }
            Event::Snapshot { short, names } => log.info(
                clock,
                &format!(
                    "snapshot {short}: {} (one lzc_snapshot call)",
                    names
                        .iter()
                        .map(|n| n.dataset_str())
                        .collect::<Vec<_>>()
                        .join(" ")
                ),
            ),
            Event::PruneItem { name, fate, .. } => match fate {
                Fate::Skipped(e) => {
                    log.warn(clock, &format!("prune: skipped {name}: {}", short_error(e)))
                }
                Fate::Failed(e) => log.error(clock, &format!("prune: failed {name}: {}", e.text)),
                _ => {}
            },
            Event::Pruned {
                index,
                planned,
                report,
            } => self.pruned(now, index, planned, report),
            Event::PruneFailed { index, error } => self.prune_failed(now, index, error),
            _ => {}
        }
    }

    /// Hooks (hooks.rs): pre_snapshot before the snapshot, post_snapshot after it, for the
    /// entries that take one (not those skip_empty skipped).
    fn around_snapshot(
        &mut self,
        entries: &[usize],
        datasets: &[DatasetName],
        take: &mut dyn FnMut() -> Taken,
    ) -> Taken {
        let (clock, log) = (self.clock, self.log);
        let log_err = |m: &str| log.error(clock, m);
        let hooks = crate::hooks::Around::new(self.cfg, entries, datasets);
        let taken = match hooks.pre(&log_err) {
            Ok(()) => take(),
            Err(f) => Taken::Skipped(msg(&f)),
        };
        *self.failed |= !hooks.post(&taken, &log_err);
        taken
    }

    fn stopping(&mut self) -> bool {
        self.signals.stopping()
    }
}

impl engine::Clock for Clock {
    fn now(&self) -> OffsetDateTime {
        Clock::now(self)
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

/// `datavault run ...`: build the engine from the config, then cycle and sleep until the
/// next due instant, a stop signal, or the end of a bounded run.
pub fn run(a: &RunArgs) -> Result<(), Failure> {
    let (cfg, cycles, until, clock) = run_args(a)?;
    // A dataset that does not exist (yet) is not a reason to stop: the first cycle logs it and
    // tries it again on its own while the others go on.
    let bounded = cycles.is_some() || until.is_some();
    let signals = Signals::install()?;
    let log = Log::new(&clock);
    let reports = vec![DatasetState::default(); cfg.datasets.len()];
    let mut svc = Service {
        engine: Engine::new(cfg.specs(), cfg.settings()),
        cfg,
        clock,
        log,
        signals,
        reports,
        failed: false,
    };
    svc.announce();
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
        svc.cycle();
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

/// The arguments of `datavault run`, validated: the config, `--cycles`/`--once`, `--until`
/// and the clock.
fn run_args(o: &RunArgs) -> Result<(Config, Option<u64>, Option<OffsetDateTime>, Clock), Failure> {
    let cfg = config::load(&o.config)?;
    let mut cycles = match o.cycles.as_deref() {
        Some(c) => Some(c.parse::<u64>().ok().filter(|&n| n > 0).ok_or_else(|| {
            Failure::Invalid(format!("bad --cycles {c:?}: a whole number, at least 1"))
        })?),
        None => None,
    };
    if o.once {
        if cycles.is_some() {
            return Err(Failure::Usage(
                "--once and --cycles exclude each other".into(),
            ));
        }
        cycles = Some(1);
    }
    let until = o
        .until
        .as_deref()
        .map(|u| parse_instant(u).map_err(|m| Failure::Invalid(format!("bad --until {u:?}: {m}"))))
        .transpose()?;
    let clock = clock_of(o)?;
    if matches!(clock, Clock::Step(_)) && cycles.is_none() && until.is_none() {
        return Err(Failure::Usage(
            "--clock-step needs --once, --cycles or --until (it never sleeps)".into(),
        ));
    }
    Ok((cfg, cycles, until, clock))
}

/// The service's clock from `--clock-start`, `--clock-speed` and `--clock-step`.
fn clock_of(o: &RunArgs) -> Result<Clock, Failure> {
    Ok(
        match (
            o.clock_start.as_deref(),
            o.clock_speed.as_deref(),
            o.clock_step.as_deref(),
        ) {
            (None, None, None) => Clock::Real(SystemClock),
            (Some(s), speed, step) => {
                let start = parse_instant(s)
                    .map_err(|m| Failure::Invalid(format!("bad --clock-start {s:?}: {m}")))?;
                match (speed, step) {
                    (Some(v), None) => {
                        let speed = v.parse().unwrap_or(f64::NAN);
                        Clock::Speed(ScaledClock::new(start, speed).map_err(|_| {
                            Failure::Invalid(format!(
                                "bad --clock-speed {v:?}: a number in (0, 1e7]"
                            ))
                        })?)
                    }
                    (None, Some(v)) => Clock::Step(SteppedClock::new(
                        start,
                        parse_interval(v)
                            .map_err(|m| Failure::Invalid(format!("bad --clock-step: {m}")))?,
                    )),
                    (None, None) => Clock::Speed(ScaledClock::new(start, 1.0)?),
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
        },
    )
}

impl Service {
    /// The first lines: what the service runs, and each dataset's schedule and policy.
    fn announce(&self) {
        self.info(&format!(
            "datavault service started: {} dataset(s) from {}, {}",
            self.cfg.datasets.len(),
            self.cfg.path,
            self.clock.describe()
        ));
        for d in &self.cfg.datasets {
            self.info(&format!(
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
    }
}
