//! `datavault run --config FILE [--once] [--cycles N] [--until RFC3339]
//! [--clock-start RFC3339 (--clock-speed N | --clock-step INTERVAL)]`: the service.
//!
//! Each configured dataset is snapshotted every `every` (interval slots aligned to the Unix
//! epoch in UTC: with `every = "1h"`, once in each clock hour) and pruned with its policy
//! right after. Datasets of one pool due at the same moment share one atomic snapshot (one
//! `lzc_snapshot` call).
//!
//! The service keeps no state of its own: the last snapshot of a dataset is the newest one in
//! the pool named by the scheme (`scheme.rs`), so a restart neither repeats a snapshot nor
//! misses one, and every dataset is pruned when the service starts (a prune that a stop
//! interrupted is made up). The clock is read afresh on each step: when it jumps back, no
//! snapshot is taken until it passes the slot of the newest one (no duplicates), and
//! snapshots dated after the clock are kept by retention's future-dated protection (no
//! history lost); when it jumps forward, one snapshot is taken (missed slots are not filled
//! in) and retention sees the time that passed.
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
//! One line per action on stdout (`<service time> <action>`), errors on stderr; never a
//! progress bar. SIGTERM or SIGINT: the current step finishes, then it exits 0. `--once` runs
//! one cycle, `--cycles N` N cycles, `--until T` until the service clock reaches T. Exit
//! status: 0, or 1 when `--once`/`--cycles`/`--until` was given and some step failed; 2 for a
//! bad config (nothing done).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use flocker_core::inventory::{Inventory, SnapshotQuery};
use flocker_core::name::DatasetName;
use flocker_core::rollback::Store;
use flocker_examples::prune::{self as core, Fate, Options, rfc3339, short_error};
use flocker_examples::scheme;
use time::OffsetDateTime;

use crate::common::{Failure, Opts, parse_instant, store_dir};
use crate::config::{self, Config, DatasetConfig, parse_interval};
use crate::snapshot::{expand, take};

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_sig: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

fn install_signal_handlers() {
    for sig in [libc::SIGTERM, libc::SIGINT] {
        // SAFETY: `on_signal` only stores to an atomic, which is async-signal-safe; the
        // handler stays valid for the whole process. The previous handler is not needed.
        unsafe {
            libc::signal(sig, on_signal as *const () as libc::sighandler_t);
        }
    }
}

fn stopping() -> bool {
    STOP.load(Ordering::SeqCst)
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

/// The clock's time to the second, for the log.
fn stamp(clock: &Clock) -> String {
    let t = clock.now();
    rfc3339(t.replace_nanosecond(0).unwrap_or(t))
}

fn log(clock: &Clock, msg: &str) {
    println!("{} {msg}", stamp(clock));
}

fn log_err(clock: &Clock, msg: &str) {
    eprintln!("{} error: {msg}", stamp(clock));
}

/// The start of the slot of length `every` containing `t` (Unix seconds).
fn slot(t: OffsetDateTime, every: Duration) -> i64 {
    let e = i64::try_from(every.as_secs().max(1)).unwrap_or(i64::MAX);
    t.unix_timestamp().div_euclid(e) * e
}

/// The newest service snapshot time of `ds`, from the pool.
fn last_snapshot(ds: &DatasetName) -> Result<Option<OffsetDateTime>, Failure> {
    let names = Inventory::new().snapshot_names(&SnapshotQuery::new(ds))?;
    Ok(names
        .iter()
        .filter_map(|n| scheme::name_time(n.short_name()))
        .max())
}

struct Service {
    cfg: Config,
    clock: Clock,
    failed: bool,
}

impl Service {
    fn prune(&mut self, d: &DatasetConfig) {
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
                log_err(&self.clock, &format!("prune {}: {m}", d.name));
                self.failed = true;
                return;
            }
        };
        let clock = &self.clock;
        let applied = core::apply(&po, &planned, |name, fate| match fate {
            Fate::Skipped(e) => log(clock, &format!("prune: skipped {name}: {}", short_error(e))),
            Fate::Failed(e) => log_err(clock, &format!("prune: failed {name}: {}", e.text)),
            Fate::Destroyed | Fate::NotAttempted => {}
        });
        let t = &applied.tally;
        let destroyed: Vec<&str> = planned
            .doomed()
            .iter()
            .filter(|e| matches!(applied.fates.get(&e.name), Some(Fate::Destroyed)))
            .map(|e| e.name.rsplit('@').next().unwrap_or(&e.name))
            .collect();
        log(
            &self.clock,
            &format!(
                "prune {}: {} snapshot(s), kept {}, destroyed {}{}{}{}",
                d.name,
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
            ),
        );
        if !applied.ok() {
            self.failed = true;
        }
    }

    /// Snapshots the due datasets (one call per pool) and prunes them; on the first cycle
    /// prunes every dataset.
    fn cycle(&mut self, first: bool) {
        let now = self.clock.now();
        let mut due: Vec<usize> = Vec::new();
        for (i, d) in self.cfg.datasets.iter().enumerate() {
            match last_snapshot(&d.name) {
                Ok(last) => {
                    if last.is_none_or(|l| l.unix_timestamp() < slot(now, d.every)) {
                        due.push(i);
                    }
                }
                Err(e) => {
                    log_err(&self.clock, &format!("cannot list {}: {}", d.name, msg(&e)));
                    self.failed = true;
                }
            }
        }
        let mut by_pool: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for &i in &due {
            by_pool
                .entry(self.cfg.datasets[i].name.pool().to_string())
                .or_default()
                .push(i);
        }
        let mut snapped: Vec<usize> = Vec::new();
        for idx in by_pool.values() {
            if stopping() {
                break;
            }
            let mut datasets = Vec::new();
            let mut ok = true;
            for &i in idx {
                let d = &self.cfg.datasets[i];
                if !d.recursive {
                    // Checked at start; if it is gone now, the snapshot call says so.
                    if !datasets.contains(&d.name) {
                        datasets.push(d.name.clone());
                    }
                    continue;
                }
                match expand(std::slice::from_ref(&d.name), true) {
                    Ok(v) => {
                        for n in v {
                            if !datasets.contains(&n) {
                                datasets.push(n);
                            }
                        }
                    }
                    Err(e) => {
                        log_err(&self.clock, &msg(&e));
                        ok = false;
                    }
                }
            }
            if !ok || datasets.is_empty() {
                self.failed = true;
                continue;
            }
            let clock = &self.clock;
            let store = match Store::open(store_dir(self.cfg.store.as_deref())) {
                Ok(s) => s,
                Err(e) => {
                    log_err(
                        &self.clock,
                        &format!("snapshot: {}", msg(&Failure::from(e))),
                    );
                    self.failed = true;
                    continue;
                }
            };
            // Hooks (hooks.rs): pre_snapshot before the snapshot, post_snapshot after it.
            let hooks = crate::hooks::Around::new(&self.cfg, idx, &datasets);
            let taken = hooks
                .pre(&|m| log_err(clock, m))
                .and_then(|()| take(&store, &datasets, || clock.now()));
            self.failed |= !hooks.post(&taken, &|m| log_err(clock, m));
            match taken {
                Ok((short, names)) => {
                    log(
                        &self.clock,
                        &format!(
                            "snapshot {short}: {} (one lzc_snapshot call)",
                            names
                                .iter()
                                .map(|n| n.dataset_str())
                                .collect::<Vec<_>>()
                                .join(" ")
                        ),
                    );
                    snapped.extend(idx);
                }
                Err(e) => {
                    log_err(&self.clock, &format!("snapshot: {}", msg(&e)));
                    self.failed = true;
                }
            }
        }
        let to_prune: Vec<usize> = if first {
            (0..self.cfg.datasets.len()).collect()
        } else {
            snapped
        };
        for i in to_prune {
            if stopping() {
                break;
            }
            let d = self.cfg.datasets[i].clone();
            self.prune(&d);
        }
    }

    /// The next instant a dataset falls due, after `now`.
    fn next_due(&self, now: OffsetDateTime) -> OffsetDateTime {
        self.cfg
            .datasets
            .iter()
            .map(|d| {
                let e = i64::try_from(d.every.as_secs().max(1)).unwrap_or(i64::MAX);
                slot(now, d.every).saturating_add(e)
            })
            .min()
            .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
            .unwrap_or(now + time::Duration::HOUR)
    }

    /// Waits until the next slot (or `until`), a stop signal, or (real clock) at most a
    /// second at a time so that a clock change is noticed.
    fn wait(&mut self, until: Option<OffsetDateTime>) {
        if let Clock::Step { t, step } = &mut self.clock {
            *t += *step;
            return;
        }
        let target = {
            let n = self.next_due(self.clock.now());
            until.map_or(n, |u| n.min(u))
        };
        while !stopping() {
            let now = self.clock.now();
            if now >= target {
                return;
            }
            let left = (target - now).as_seconds_f64();
            let real = match &self.clock {
                Clock::Speed { speed, .. } => left / speed,
                _ => left,
            };
            let nap = real.clamp(0.001, 0.1);
            std::thread::sleep(Duration::from_secs_f64(nap));
            if let Clock::Real = self.clock {
                // Re-read the wall clock: a jump moves the target's distance.
                if (self.clock.now() - now).whole_seconds().abs() > 5 {
                    return;
                }
            }
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
    // Every dataset must exist before anything is done.
    for d in &cfg.datasets {
        expand(std::slice::from_ref(&d.name), false).map_err(|e| match e {
            Failure::Invalid(m) => {
                Failure::Invalid(format!("config {} line {}: {m}", cfg.path, d.line))
            }
            other => other,
        })?;
    }
    let bounded = cycles.is_some() || until.is_some();
    install_signal_handlers();
    let mut svc = Service {
        cfg,
        clock,
        failed: false,
    };
    log(
        &svc.clock,
        &format!(
            "datavault service started: {} dataset(s) from {}, {}",
            svc.cfg.datasets.len(),
            svc.cfg.path,
            svc.clock.describe()
        ),
    );
    for d in &svc.cfg.datasets {
        log(
            &svc.clock,
            &format!(
                "  {}{} every {}s, keep {}{}",
                d.name,
                if d.recursive { " (recursive)" } else { "" },
                d.every.as_secs(),
                d.policy,
                match d.ownership.regex() {
                    Some(r) => format!(", owns dv- snapshots and those matching \"{r}\""),
                    None => String::new(),
                }
            ),
        );
    }
    let mut n = 0u64;
    loop {
        if stopping() {
            break;
        }
        if until.is_some_and(|u| svc.clock.now() > u) {
            log(&svc.clock, "the clock passed --until: stopping");
            break;
        }
        svc.cycle(n == 0);
        n += 1;
        if cycles.is_some_and(|c| n >= c) {
            break;
        }
        svc.wait(until);
    }
    if stopping() {
        log(&svc.clock, "signal received: stopped cleanly");
    } else {
        log(&svc.clock, &format!("stopped after {n} cycle(s)"));
    }
    if bounded && svc.failed {
        return Err(Failure::Failed("some steps failed (see above)".into()));
    }
    Ok(())
}
