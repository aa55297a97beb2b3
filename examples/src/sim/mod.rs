//! The retention simulator: peers' documented rules and ours over the same snapshot streams.

pub mod metrics;
pub mod peers;
pub mod scenarios;
pub mod svg;

use flocker_core::retention::{LocalTime, TimeZone};

/// Local calendar fields of a snapshot's (clock) creation time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Civil {
    /// Days since 1970-01-01, local.
    pub days: i64,
    /// Hours since 1970-01-01 00:00, local.
    pub hours: i64,
    /// Quarter-hours since 1970-01-01 00:00, local.
    pub quarters: i64,
    /// Weeks starting Monday.
    pub week_mon: i64,
    /// Weeks starting Sunday.
    pub week_sun: i64,
    /// Months since year 0.
    pub months: i64,
    /// Year.
    pub year: i64,
}

/// Local calendar fields of unix time `t` in `tz`, from the library's civil time.
pub fn civil(t: i64, tz: &TimeZone) -> Civil {
    let l = LocalTime::at(t, tz);
    let days = l.days();
    Civil {
        days,
        hours: days * 24 + l.minute_of_day() / 60,
        quarters: days * 96 + l.minute_of_day() / 15,
        week_mon: (days - 4).div_euclid(7),
        week_sun: (days - 3).div_euclid(7),
        months: l.months(),
        year: l.year(),
    }
}

/// One snapshot in the simulation.
#[derive(Debug, Clone)]
pub struct Snap {
    /// Sequence number (= createtxg order = true time order).
    pub id: u64,
    /// True creation instant (unix seconds): what a user means by "back then".
    pub true_t: i64,
    /// What the machine's clock said (the `creation` property).
    pub clock_t: i64,
    /// Bytes written since the previous snapshot.
    pub written: u64,
    /// Local calendar fields of `clock_t`.
    pub civ: Civil,
    /// Labels a peer gave it at creation (bit per label), for label-based tools.
    pub labels: u32,
}

/// A retention policy under test.
pub trait Policy {
    /// Display name.
    fn name(&self) -> String;
    /// Labels for a new snapshot given the existing ones (label-based tools only).
    fn label(&self, _existing: &[Snap], _new: &Snap) -> u32 {
        0
    }
    /// Which snapshots to keep (same order as `snaps`, sorted by id), pruning at clock `now`.
    fn keep(&self, snaps: &[Snap], now: i64) -> Vec<bool>;
}

/// One snapshot creation event of a scenario.
#[derive(Debug, Clone, Copy)]
pub struct Event {
    /// True instant.
    pub true_t: i64,
    /// Clock reading.
    pub clock_t: i64,
    /// Bytes written since the previous snapshot.
    pub written: u64,
}

/// A scenario: a stream of snapshot creations in a time zone.
pub struct Scenario {
    /// Short name.
    pub name: &'static str,
    /// One-line description.
    pub description: &'static str,
    /// Time zone of the machine.
    pub tz: TimeZone,
    /// Snapshot creations in true-time order.
    pub events: Vec<Event>,
    /// Edit bursts (true start, true end), for the burst-state metric.
    pub bursts: Vec<(i64, i64)>,
}

/// The outcome of one policy over one scenario.
pub struct Run {
    /// Snapshots alive at the end.
    pub kept: Vec<Snap>,
    /// All snapshots created (true times, in order).
    pub created: Vec<i64>,
    /// Most snapshots alive at once.
    pub max_kept: usize,
    /// Snapshots created then destroyed.
    pub destroyed: usize,
    /// Snapshots destroyed while they were the newest (should be 0).
    pub newest_destroyed: usize,
}

/// Runs `policy` over `scenario`: after each snapshot is taken, prune at the clock's time.
pub fn run(policy: &dyn Policy, scenario: &Scenario) -> Run {
    let mut snaps: Vec<Snap> = Vec::new();
    let mut created = Vec::with_capacity(scenario.events.len());
    let mut max_kept = 0;
    let mut destroyed = 0;
    let mut newest_destroyed = 0;
    for (k, ev) in scenario.events.iter().enumerate() {
        let mut s = Snap {
            id: k as u64,
            true_t: ev.true_t,
            clock_t: ev.clock_t,
            written: ev.written,
            civ: civil(ev.clock_t, &scenario.tz),
            labels: 0,
        };
        s.labels = policy.label(&snaps, &s);
        snaps.push(s);
        created.push(ev.true_t);
        let keep = policy.keep(&snaps, ev.clock_t);
        let before = snaps.len();
        if keep.last() == Some(&false) {
            newest_destroyed += 1;
        }
        let mut it = keep.iter();
        snaps.retain(|_| *it.next().unwrap_or(&true));
        destroyed += before - snaps.len();
        max_kept = max_kept.max(snaps.len());
    }
    Run {
        kept: snaps,
        created,
        max_kept,
        destroyed,
        newest_destroyed,
    }
}

/// A small deterministic PRNG (splitmix64), so runs are reproducible without dependencies.
pub struct Rng(u64);

impl Rng {
    /// Seeded generator.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Uniform in [lo, hi).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo).max(1)
    }
}
