//! DataVault's service engine: for each configured dataset, when it falls due on its
//! [`Schedule`], one snapshot (datasets of one pool due together share one atomic
//! `lzc_snapshot` call; `skip_empty` takes none while nothing was written) and then a prune
//! with its policy. A dataset that fails is tried again on its own: after a minute, then
//! after twice the previous wait, never later than its period or its next slot.
//!
//! The engine holds no clock, runs no process and prints nothing: the caller gives the time
//! ([`Clock`]), and a [`Host`] hears every [`Event`] (to log it, to keep a status report) and
//! wraps each snapshot (to run hooks around it). Sleeping until [`Engine::next_due`], signals
//! and the configuration file are the caller's, so that another daemon can run DataVault's
//! cycle.
//!
//! The clocks `datavault run` chooses from are here too: [`SystemClock`], and for demos and
//! tests [`ScaledClock`] (faster than real time) and [`SteppedClock`] (moves only when told
//! to). So are the configuration's rules, apart from any file format: [`Defaults`] (what a
//! dataset gets when its entry does not say), the bounds of [`Settings`], and [`spec_for`]
//! (the entry that governs a dataset).
//!
//! The schedule keeps no state of its own that matters across restarts: the last snapshot
//! of a dataset is the newest one named by the [`scheme`], so a restart neither
//! repeats a snapshot nor misses one, and the first cycle prunes every dataset.
//!
//! ```no_run
//! use flocker_core::name::DatasetName;
//! use flocker_core::retention::TimeZone;
//! use flocker_core::vault::schedule::Schedule;
//! use flocker_core::vault::service::{Engine, Event, Host, Settings, Spec};
//!
//! struct Log;
//! impl Host for Log {
//!     fn event(&mut self, now: time::OffsetDateTime, e: &Event<'_>) {
//!         eprintln!("{now}: {e:?}");
//!     }
//! }
//!
//! let hourly = Schedule::every(std::time::Duration::from_secs(3600));
//! let spec = Spec::new(DatasetName::new("tank/home")?, hourly, "24x1h,30x1d".parse().unwrap());
//! let mut engine = Engine::new(vec![spec], Settings::new(TimeZone::UTC));
//! let clock = time::OffsetDateTime::now_utc;
//! loop {
//!     engine.run_cycle(&clock, &mut Log);
//!     let next = engine.next_due(clock());
//!     let wait = (next - clock()).max(time::Duration::ZERO);
//!     std::thread::sleep(wait.try_into().unwrap_or_default());
//! }
//! # Ok::<(), flocker_core::error::Error>(())
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use time::OffsetDateTime;

use super::schedule::Schedule;
use super::{scheme, snapshot};
use crate::error::{Error, Result};
use crate::inventory::{Inventory, ListingCache};
use crate::name::{DatasetName, SnapshotName};
use crate::prune::{self, Fate, Ownership, Planned, Report};
use crate::retention::{RetentionPolicy, TimeZone};
use crate::rollback::{self, Store};

mod clocks;
mod defaults;

pub use clocks::{OP_CLOCK_SPEED, ScaledClock, SteppedClock, SystemClock};
pub use defaults::{Defaults, OP_BATCH, spec_for};

/// The service's time: anything that tells the current instant (a closure
/// `Fn() -> OffsetDateTime` is one).
pub trait Clock {
    /// The current instant.
    fn now(&self) -> OffsetDateTime;
}

impl<F: Fn() -> OffsetDateTime> Clock for F {
    fn now(&self) -> OffsetDateTime {
        self()
    }
}

/// One configured dataset.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Spec {
    /// The dataset.
    pub name: DatasetName,
    /// Also its descendants (one snapshot covers them, stash datasets excepted).
    pub recursive: bool,
    /// When it falls due.
    pub schedule: Schedule,
    /// Its retention policy.
    pub policy: RetentionPolicy,
    /// Which snapshots the policy owns.
    pub ownership: Ownership,
    /// Take no snapshot while nothing was written since the last one.
    pub skip_empty: bool,
}

impl Spec {
    /// Not recursive, DataVault's snapshots owned, no `skip_empty`.
    pub fn new(name: DatasetName, schedule: Schedule, policy: RetentionPolicy) -> Self {
        Spec {
            name,
            recursive: false,
            schedule,
            policy,
            ownership: Ownership::default(),
            skip_empty: false,
        }
    }
}

/// What all datasets share.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Settings {
    /// Time zone of the policies' calendar periods.
    pub tz: TimeZone,
    /// At most this many snapshots per `lzc_destroy_snaps` call.
    pub batch: usize,
    /// Directory of the stash store.
    pub store: PathBuf,
}

impl Settings {
    /// Batches of 100, the default store ([`rollback::DEFAULT_DIR`]).
    pub fn new(tz: TimeZone) -> Self {
        Settings {
            tz,
            batch: Self::DEFAULT_BATCH,
            store: PathBuf::from(rollback::DEFAULT_DIR),
        }
    }
}

/// The step of a cycle that failed for a dataset ([`Event::Failed`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Step {
    /// Reading its newest snapshot (is it due?).
    Listing,
    /// `skip_empty`'s check of what was written.
    SkipEmpty,
    /// Finding the datasets its snapshot covers.
    Cover,
    /// Opening the stash store before the snapshot.
    Store,
    /// The snapshot itself.
    Snapshot,
    /// The [`Host`] did not take the snapshot (a pre-snapshot hook failed).
    Hook,
}

/// Why a step failed.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum Cause<'a> {
    /// A library error.
    Zfs(&'a Error),
    /// The host's reason for not taking the snapshot ([`Taken::Skipped`]).
    Host(&'a str),
}

/// What the engine did, for a log and a status report. `index` is the dataset's position in
/// the specs given to [`Engine::new`].
#[derive(Debug)]
#[non_exhaustive]
pub enum Event<'a> {
    /// The dataset is up to date in its current slot: snapshotted, found up to date, or
    /// skipped as empty. Its failures are over.
    Served {
        /// The dataset.
        index: usize,
    },
    /// `skip_empty`: nothing was written, so no snapshot until it changes (said once).
    SkipStarted {
        /// The dataset.
        index: usize,
    },
    /// `skip_empty`: it was written to, snapshots resume (said once).
    SkipEnded {
        /// The dataset.
        index: usize,
    },
    /// A step failed for the dataset; it is tried again at `retry_at`.
    Failed {
        /// The dataset.
        index: usize,
        /// The step.
        step: Step,
        /// Why.
        cause: Cause<'a>,
        /// Failures in a row, this one included.
        failures: u32,
        /// When it is tried again.
        retry_at: OffsetDateTime,
    },
    /// One atomic snapshot of one pool's due datasets.
    Snapshot {
        /// Its short name (`dv-...`).
        short: &'a str,
        /// The snapshots made.
        names: &'a [SnapshotName],
    },
    /// A snapshot the prune destroys was skipped (held or cloned) or failed.
    PruneItem {
        /// The dataset pruned.
        index: usize,
        /// The snapshot.
        name: &'a str,
        /// [`Fate::Skipped`] or [`Fate::Failed`].
        fate: &'a Fate,
    },
    /// The dataset was pruned (see [`Report::ok`] for failures).
    Pruned {
        /// The dataset.
        index: usize,
        /// The plans.
        planned: &'a Planned,
        /// What was destroyed.
        report: &'a Report,
    },
    /// The prune could not plan (nothing was changed); not retried before the next cycle.
    PruneFailed {
        /// The dataset.
        index: usize,
        /// Why ([`prune::plan`]'s error).
        error: &'a Error,
    },
}

/// What became of a snapshot the [`Host`] wrapped.
#[derive(Debug)]
#[non_exhaustive]
pub enum Taken {
    /// Taken: the short name and the snapshots made.
    Done(String, Vec<SnapshotName>),
    /// The snapshot call failed.
    Failed(Error),
    /// The host did not take it (a pre-snapshot hook failed), and says why.
    Skipped(String),
}

/// The engine's caller: hears the events and wraps each snapshot.
pub trait Host {
    /// Hears an event; `now` is the clock's time.
    fn event(&mut self, now: OffsetDateTime, event: &Event<'_>) {
        let _ = (now, event);
    }

    /// Wraps the snapshot of `datasets` (for the specs `entries`): runs `take` (which takes
    /// it) and returns its result, or returns [`Taken::Skipped`] without calling it. The
    /// default just takes it; DataVault runs its pre/post hooks here.
    fn around_snapshot(
        &mut self,
        entries: &[usize],
        datasets: &[DatasetName],
        take: &mut dyn FnMut() -> Taken,
    ) -> Taken {
        let _ = (entries, datasets);
        take()
    }

    /// Whether to stop the cycle between steps (a stop signal).
    fn stopping(&mut self) -> bool {
        false
    }
}

/// What the engine knows of a dataset between cycles.
#[derive(Clone, Debug, Default)]
struct Tracked {
    /// The slot (start, Unix seconds) it was last served in.
    served: Option<i64>,
    /// When it is tried again after a failure.
    retry_at: Option<OffsetDateTime>,
    /// Failures in a row.
    failures: u32,
    /// Whether its slots are being skipped (skip_empty), to tell a change once.
    skipping: bool,
}

/// The service engine: the specs and what it knows of each between cycles.
///
/// # Example
///
/// One cycle now, as a cron job would run it, with a host that reports what was destroyed and
/// skips the snapshot when a pre-snapshot step fails:
///
/// ```no_run
/// use flocker_core::DatasetName;
/// use flocker_core::retention::TimeZone;
/// use flocker_core::vault::schedule::Schedule;
/// use flocker_core::vault::service::{Engine, Event, Host, Settings, Spec, Taken};
///
/// struct Cron;
/// impl Host for Cron {
///     fn event(&mut self, _now: time::OffsetDateTime, e: &Event<'_>) {
///         match e {
///             Event::Snapshot { short, names } => println!("took {short}: {names:?}"),
///             Event::Pruned { index, report, .. } => println!("pruned #{index}: {report:?}"),
///             Event::Failed { index, step, cause, .. } => {
///                 eprintln!("#{index} {step:?}: {cause:?}")
///             }
///             _ => {}
///         }
///     }
///     fn around_snapshot(
///         &mut self,
///         _entries: &[usize],
///         datasets: &[DatasetName],
///         take: &mut dyn FnMut() -> Taken,
///     ) -> Taken {
///         if datasets.is_empty() {
///             return Taken::Skipped("nothing to snapshot".into());
///         }
///         take()
///     }
/// }
///
/// let tz = TimeZone::get("Europe/Berlin")?;
/// let daily = Schedule::at("03:00", &tz)?;
/// let mut spec = Spec::new(DatasetName::new("tank/vm")?, daily, "14x1d,8x1w".parse()?);
/// spec.recursive = true;
/// let mut settings = Settings::new(tz);
/// settings.batch = 50;
/// let mut engine = Engine::new(vec![spec], settings);
/// engine.run_cycle(&time::OffsetDateTime::now_utc, &mut Cron);
/// if engine.failures(0) > 0 {
///     eprintln!("tank/vm is tried again at {:?}", engine.retry_at(0));
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Engine {
    specs: Vec<Spec>,
    settings: Settings,
    tracked: Vec<Tracked>,
    cycles: u64,
    /// What the incremental lister every prune plans with keeps: a cycle re-reads only what
    /// changed.
    listings: Option<ListingCache>,
}

impl Engine {
    /// An engine for `specs`, before its first cycle.
    pub fn new(specs: Vec<Spec>, settings: Settings) -> Self {
        let tracked = vec![Tracked::default(); specs.len()];
        Engine {
            specs,
            settings,
            tracked,
            cycles: 0,
            listings: None,
        }
    }

    /// The specs, in the order given.
    pub fn specs(&self) -> &[Spec] {
        &self.specs
    }

    /// Cycles run so far.
    pub fn cycles(&self) -> u64 {
        self.cycles
    }

    /// Failures in a row of dataset `index` (0 when it is fine or unknown).
    pub fn failures(&self, index: usize) -> u32 {
        self.tracked.get(index).map_or(0, |t| t.failures)
    }

    /// When dataset `index` is tried again after a failure.
    pub fn retry_at(&self, index: usize) -> Option<OffsetDateTime> {
        self.tracked.get(index).and_then(|t| t.retry_at)
    }

    /// The next instant a dataset falls due (or is tried again) after `now`; an hour on when
    /// there is no dataset.
    pub fn next_due(&self, now: OffsetDateTime) -> OffsetDateTime {
        self.specs
            .iter()
            .zip(&self.tracked)
            .map(|(d, t)| t.retry_at.unwrap_or_else(|| d.schedule.next_after(now)))
            .min()
            .unwrap_or(now + time::Duration::HOUR)
    }

    /// One cycle: snapshots the due datasets (one call per pool, through
    /// [`Host::around_snapshot`]) and prunes them; the first cycle prunes every dataset that
    /// could be listed. Stops between steps when [`Host::stopping`] says so.
    pub fn run_cycle(&mut self, clock: &impl Clock, host: &mut impl Host) {
        let first = self.cycles == 0;
        self.cycles += 1;
        let now = clock.now();
        let due = self.due(now, clock, host);
        let mut by_pool: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for &i in &due {
            by_pool
                .entry(self.specs[i].name.pool().to_string())
                .or_default()
                .push(i);
        }
        let mut snapped: Vec<usize> = Vec::new();
        for idx in by_pool.values() {
            if host.stopping() {
                break;
            }
            snapped.extend(self.snapshot_pool(idx, now, clock, host));
        }
        let to_prune: Vec<usize> = if first {
            (0..self.specs.len())
                .filter(|&i| self.tracked[i].retry_at.is_none())
                .collect()
        } else {
            snapped
        };
        for i in to_prune {
            if host.stopping() {
                break;
            }
            self.prune(i, clock, host);
        }
    }

    /// Which datasets are due at `now`; records the failures of those that cannot be listed.
    fn due(&mut self, now: OffsetDateTime, clock: &impl Clock, host: &mut impl Host) -> Vec<usize> {
        let mut due = Vec::new();
        for i in 0..self.specs.len() {
            let slot = self.slot(i, now);
            if !awaits_check(&self.tracked[i], slot, now) {
                continue;
            }
            match snapshot::last_snapshot(&self.specs[i].name) {
                Ok(last) if last.is_none_or(|l| l.unix_timestamp() < slot) => due.push(i),
                Ok(_) => self.served(i, slot, clock, host),
                Err(e) => self.fail(i, Step::Listing, Cause::Zfs(&e), clock, host),
            }
        }
        due
    }

    /// The start (Unix seconds) of dataset `i`'s slot at `now`.
    fn slot(&self, i: usize, now: OffsetDateTime) -> i64 {
        self.specs[i].schedule.slot_start(now).unix_timestamp()
    }

    /// Snapshots the due datasets `idx` of one pool (those `skip_empty` skips excepted);
    /// returns those snapshotted.
    fn snapshot_pool(
        &mut self,
        idx: &[usize],
        now: OffsetDateTime,
        clock: &impl Clock,
        host: &mut impl Host,
    ) -> Vec<usize> {
        let mut datasets = Vec::new();
        let mut entries = Vec::new();
        for &i in idx {
            let slot = self.slot(i, now);
            match self.skip_empty(i, slot, clock, host) {
                Ok(true) => continue,
                Ok(false) => {}
                Err(e) => {
                    self.fail(i, Step::SkipEmpty, Cause::Zfs(&e), clock, host);
                    continue;
                }
            }
            let d = &self.specs[i];
            match snapshot::covered(std::slice::from_ref(&d.name), d.recursive) {
                Ok(v) => {
                    for n in v {
                        if !datasets.contains(&n) {
                            datasets.push(n);
                        }
                    }
                    entries.push(i);
                }
                Err(e) => self.fail(i, Step::Cover, Cause::Zfs(&e), clock, host),
            }
        }
        if datasets.is_empty() {
            return Vec::new();
        }
        let store = match Store::open(&self.settings.store) {
            Ok(s) => s,
            Err(e) => {
                for &i in &entries {
                    self.fail(i, Step::Store, Cause::Zfs(&e), clock, host);
                }
                return Vec::new();
            }
        };
        let mut take = || match snapshot::take(&store, &datasets, || clock.now(), &[]) {
            Ok((short, names)) => Taken::Done(short, names),
            Err(e) => Taken::Failed(e),
        };
        let taken = host.around_snapshot(&entries, &datasets, &mut take);
        self.settle_snapshot(&entries, now, taken, clock, host)
    }

    /// Records what became of the snapshot of `entries`.
    fn settle_snapshot(
        &mut self,
        entries: &[usize],
        now: OffsetDateTime,
        taken: Taken,
        clock: &impl Clock,
        host: &mut impl Host,
    ) -> Vec<usize> {
        let (step, cause) = match &taken {
            Taken::Done(short, names) => {
                host.event(clock.now(), &Event::Snapshot { short, names });
                for &i in entries {
                    let slot = self.slot(i, now);
                    self.served(i, slot, clock, host);
                }
                return entries.to_vec();
            }
            Taken::Failed(e) => (Step::Snapshot, Cause::Zfs(e)),
            Taken::Skipped(why) => (Step::Hook, Cause::Host(why)),
        };
        for &i in entries {
            self.fail(i, step, cause, clock, host);
        }
        Vec::new()
    }

    /// Whether dataset `i` is skipped this slot (skip_empty and nothing written); tells a
    /// change.
    fn skip_empty(
        &mut self,
        i: usize,
        slot: i64,
        clock: &impl Clock,
        host: &mut impl Host,
    ) -> Result<bool> {
        let d = &self.specs[i];
        if !d.skip_empty {
            return Ok(false);
        }
        let empty = snapshot::unwritten(&d.name, d.recursive)?;
        let was = self.tracked[i].skipping;
        if empty && !was {
            host.event(clock.now(), &Event::SkipStarted { index: i });
        } else if !empty && was {
            host.event(clock.now(), &Event::SkipEnded { index: i });
        }
        self.tracked[i].skipping = empty;
        if empty {
            self.served(i, slot, clock, host);
        }
        Ok(empty)
    }

    /// Dataset `i` is up to date in the slot starting at `slot`.
    fn served(&mut self, i: usize, slot: i64, clock: &impl Clock, host: &mut impl Host) {
        let t = &mut self.tracked[i];
        t.served = Some(slot);
        t.retry_at = None;
        t.failures = 0;
        host.event(clock.now(), &Event::Served { index: i });
    }

    /// Records a failure of dataset `i` and when it is tried again.
    fn fail(
        &mut self,
        i: usize,
        step: Step,
        cause: Cause<'_>,
        clock: &impl Clock,
        host: &mut impl Host,
    ) {
        let now = clock.now();
        let t = &mut self.tracked[i];
        t.failures = t.failures.saturating_add(1);
        let retry_at = retry_at(&self.specs[i].schedule, t.failures, now);
        t.retry_at = Some(retry_at);
        let event = Event::Failed {
            index: i,
            step,
            cause,
            failures: t.failures,
            retry_at,
        };
        host.event(now, &event);
    }

    /// Prunes dataset `i` with its policy (the time in a scheme name counts as the
    /// snapshot's time).
    fn prune(&mut self, i: usize, clock: &impl Clock, host: &mut impl Host) {
        let d = &self.specs[i];
        let now = clock.now();
        let mut o = prune::Options::new(
            d.name.clone(),
            d.policy.clone(),
            self.settings.tz.clone(),
            now,
        );
        o.recursive = d.recursive;
        o.batch = self.settings.batch;
        o.store = self.settings.store.clone();
        o.snapshot_time = Some(scheme::info_time);
        o.ownership = d.ownership.clone();
        let mut inv = Inventory::new().with_cache(self.listings.take());
        let planned = prune::plan_with(&o, &mut inv);
        self.listings = inv.take_cache();
        let planned = match planned {
            Ok(p) => p,
            Err(error) => {
                host.event(
                    now,
                    &Event::PruneFailed {
                        index: i,
                        error: &error,
                    },
                );
                return;
            }
        };
        let report = prune::apply(&o, &planned, |p| {
            if let prune::Progress::Item { name, fate } = p {
                host.event(
                    clock.now(),
                    &Event::PruneItem {
                        index: i,
                        name: name.as_str(),
                        fate,
                    },
                );
            }
        });
        let event = Event::Pruned {
            index: i,
            planned: &planned,
            report: &report,
        };
        host.event(now, &event);
    }
}

/// Whether a dataset must be checked at `now` in the slot starting at `slot`: once its
/// retry time has come after a failure, else unless it was served in this slot.
fn awaits_check(t: &Tracked, slot: i64, now: OffsetDateTime) -> bool {
    match t.retry_at {
        Some(r) => now >= r,
        None => t.served != Some(slot),
    }
}

/// When a dataset that failed `failures` times in a row (at least 1) at `now` is tried again:
/// after 60 s doubling with each failure, at most its schedule's period, and never later than
/// its next slot.
///
/// ```
/// use flocker_core::vault::schedule::Schedule;
/// use flocker_core::vault::service::retry_at;
/// use time::macros::datetime;
///
/// let hourly = Schedule::every(std::time::Duration::from_secs(3600));
/// let now = datetime!(2026-12-05 11:00 UTC);
/// assert_eq!(retry_at(&hourly, 1, now), datetime!(2026-12-05 11:01 UTC));
/// assert_eq!(retry_at(&hourly, 3, now), datetime!(2026-12-05 11:04 UTC));
/// assert_eq!(retry_at(&hourly, 10, now), datetime!(2026-12-05 12:00 UTC));
/// ```
pub fn retry_at(schedule: &Schedule, failures: u32, now: OffsetDateTime) -> OffsetDateTime {
    let n = failures.max(1);
    let backoff = Duration::from_secs(60u64.saturating_mul(1 << (n - 1).min(20)));
    (now + backoff.min(schedule.period())).min(schedule.next_after(now))
}

#[cfg(test)]
mod tests;

// An embedding daemon may move the engine to a thread of its own.
const _: () = {
    const fn send<T: Send>() {}
    send::<Engine>();
};
