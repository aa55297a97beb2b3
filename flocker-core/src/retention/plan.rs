//! Planning: which snapshots to keep, which to destroy, and why.

use std::fmt;
use std::time::Duration;

use jiff::tz::TimeZone;
use time::{Date, OffsetDateTime, PrimitiveDateTime, Time};

use crate::name::SnapshotName;

use super::policy::{
    BurstRule, CalendarRule, CalendarUnit, ChangeRule, GridKeep, GridRule, RetentionPolicy, Rule,
    fmt_duration, fmt_size,
};
use super::space;
use super::{LocalTime, SnapshotFacts};

/// Keep or destroy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decision {
    /// The snapshot stays.
    Keep,
    /// The snapshot may be destroyed.
    Destroy,
}

/// A safety rule that protects a snapshot whatever the policy says.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Protection {
    /// The newest snapshot: highest `createtxg` overall, highest `createtxg` among the
    /// snapshots not dated in the future, or latest creation time among those.
    Newest,
    /// It has user holds (`userrefs` > 0): ZFS would refuse to destroy it anyway.
    Held,
    /// It has clones: destroying it would need the clones destroyed or promoted.
    HasClones,
    /// Pinned by flocker (the `pinned` fact).
    Pinned,
    /// Pinned through the named user property (`pin=PROP`).
    PinProperty(String),
    /// It belongs to a stash (history kept by a non-destructive rollback).
    Stashed,
    /// Its creation time is after `now` (clock skew): it is left alone until `now` reaches it.
    FutureDated,
}

/// A local calendar period (as used by calendar rules).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Period {
    /// The unit.
    pub unit: CalendarUnit,
    /// Units per period.
    pub every: u32,
    /// Index of the period since the unit's epoch (see [`CalendarRule`]).
    pub index: i64,
}

impl Period {
    /// The local date and time at which the period starts.
    pub fn start(&self) -> PrimitiveDateTime {
        let every = i64::from(self.every);
        let idx = self.index.saturating_mul(every);
        let (date, hour, minute) = match self.unit {
            CalendarUnit::Minute => (
                date_of_days(idx.div_euclid(1440)),
                idx.rem_euclid(1440) / 60,
                idx % 60,
            ),
            CalendarUnit::Hour => (date_of_days(idx.div_euclid(24)), idx.rem_euclid(24), 0),
            CalendarUnit::Day => (date_of_days(idx), 0, 0),
            CalendarUnit::Week => (date_of_days(idx.saturating_mul(7).saturating_add(4)), 0, 0),
            CalendarUnit::Month => (first_of_month(idx.div_euclid(12), idx.rem_euclid(12)), 0, 0),
            CalendarUnit::Year => (first_of_month(idx, 0), 0, 0),
        };
        let minute = minute.rem_euclid(60);
        let t = Time::from_hms(hour as u8, minute as u8, 0).unwrap_or(Time::MIDNIGHT);
        PrimitiveDateTime::new(date, t)
    }
}

/// The date `days` after 1970-01-01, or the first or last representable date.
fn date_of_days(days: i64) -> Date {
    i32::try_from(days.saturating_add(2_440_588))
        .ok()
        .and_then(|jd| Date::from_julian_day(jd).ok())
        .unwrap_or(if days < 0 { Date::MIN } else { Date::MAX })
}

/// The first day of month `month0` (0 = January) of `year`, or the first or last
/// representable date.
fn first_of_month(year: i64, month0: i64) -> Date {
    let month = u8::try_from(month0 + 1)
        .ok()
        .and_then(|m| time::Month::try_from(m).ok())
        .unwrap_or(time::Month::January);
    i32::try_from(year)
        .ok()
        .and_then(|y| Date::from_calendar_date(y, month, 1).ok())
        .unwrap_or(if year < 0 { Date::MIN } else { Date::MAX })
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.start();
        let (y, mo, d, h, mi) = (s.year(), u8::from(s.month()), s.day(), s.hour(), s.minute());
        if self.every != 1 {
            write!(f, "{} {}s from ", self.every, self.unit.name())?;
        } else {
            write!(f, "{} ", self.unit.name())?;
        }
        match self.unit {
            CalendarUnit::Minute | CalendarUnit::Hour => {
                write!(f, "{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}")
            }
            CalendarUnit::Day | CalendarUnit::Week => write!(f, "{y:04}-{mo:02}-{d:02}"),
            CalendarUnit::Month => write!(f, "{y:04}-{mo:02}"),
            CalendarUnit::Year => write!(f, "{y:04}"),
        }
    }
}

/// A rule that keeps a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeepReason {
    /// First snapshot of `period`, the `rank`-th newest period with snapshots.
    Calendar {
        /// Index into [`RetentionPolicy::rules`].
        rule: usize,
        /// The local period.
        period: Period,
        /// 1 = the newest period with snapshots.
        rank: u32,
    },
    /// Among the oldest of a grid bucket.
    Grid {
        /// Index into [`RetentionPolicy::rules`].
        rule: usize,
        /// 1-based group of the grid.
        group: u32,
        /// 1-based non-empty bucket of that group, newest first.
        bucket: u32,
    },
    /// Younger than a `within=` window.
    Within {
        /// Index into [`RetentionPolicy::rules`].
        rule: usize,
        /// Active age (see [`RetentionPolicy::idle_cap`]).
        age: Duration,
        /// When the window passes it if no snapshot is taken (`None`: the idle cap stops the
        /// clock first, so never).
        until: Option<OffsetDateTime>,
    },
    /// One of the `min=` newest.
    Minimum {
        /// 1 = the newest.
        rank: u32,
    },
    /// The last snapshot of a burst of changes.
    BurstEnd {
        /// Index into [`RetentionPolicy::rules`].
        rule: usize,
        /// Active age.
        age: Duration,
        /// When the horizon passes it if no snapshot is taken (`None`: never).
        until: Option<OffsetDateTime>,
    },
    /// Next to a large change (`written` ≥ the rule's size).
    LargeChange {
        /// Index into [`RetentionPolicy::rules`].
        rule: usize,
        /// `After`: it holds the change; `Before`: it holds the state the change replaced.
        side: ChangeSide,
        /// The change's `written` bytes.
        written: u64,
        /// When the horizon passes the change if no snapshot is taken (`None`: never).
        until: Option<OffsetDateTime>,
    },
}

/// Which side of a large change a snapshot is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChangeSide {
    /// The snapshot just before the change.
    Before,
    /// The snapshot that recorded the change.
    After,
}

/// Why one rule did not keep a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RuleMiss {
    /// An older snapshot is the first of the same period.
    NotFirstInPeriod {
        /// Index into [`RetentionPolicy::rules`].
        rule: usize,
        /// The period.
        period: Period,
    },
    /// First of its period, but too many newer periods have snapshots.
    PeriodTooOld {
        /// Index into [`RetentionPolicy::rules`].
        rule: usize,
        /// The period.
        period: Period,
        /// Its rank among periods with snapshots (1 = newest).
        rank: u32,
    },
    /// Older snapshots of the same grid bucket are kept.
    NotOldestInBucket {
        /// Index into [`RetentionPolicy::rules`].
        rule: usize,
        /// 1-based group.
        group: u32,
        /// 1-based non-empty bucket.
        bucket: u32,
    },
    /// Older than the whole grid.
    BeyondGrid {
        /// Index into [`RetentionPolicy::rules`].
        rule: usize,
    },
    /// Older than the window or horizon of a `within=`, `bursts(...)` or `changes(...)` rule.
    TooOld {
        /// Index into [`RetentionPolicy::rules`].
        rule: usize,
        /// Active age.
        age: Duration,
    },
    /// Not the end of a burst (quiet itself, or another change followed within the gap).
    NotBurstEnd {
        /// Index into [`RetentionPolicy::rules`].
        rule: usize,
    },
    /// Not next to a large change.
    NoLargeChange {
        /// Index into [`RetentionPolicy::rules`].
        rule: usize,
    },
    /// Not one of the `min=` newest.
    BeyondMinimum {
        /// Its rank (1 = newest).
        rank: u32,
    },
}

/// One line of explanation for a decision.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Reason {
    /// Kept by a safety rule.
    Protected(Protection),
    /// Kept by a rule of the policy.
    Kept(KeepReason),
    /// A rule that did not keep it (a destroyed snapshot lists one per rule).
    Missed(RuleMiss),
    /// Kept by rules but destroyed, oldest first, to meet the space target. No longer
    /// produced by the planner (see [`Reason::SpaceThinned`]); kept so that code matching it
    /// still builds.
    OverSpaceBudget {
        /// The budget in bytes.
        budget: u64,
    },
    /// Kept by rules but destroyed to meet the space target by even thinning (listed after its
    /// keep reasons): of the candidates left, its loss left the smallest gap/age ratio (see
    /// [`RetentionPolicy::space_budget`] for the metric).
    SpaceThinned {
        /// The budget in bytes.
        budget: u64,
        /// It was the oldest kept snapshot, destroyed last: no other candidate was left.
        oldest: bool,
        /// gap/age of the gap its loss left, in millionths (1,000,000 when `oldest`).
        gap_ppm: u32,
        /// The worst gap/age over the kept history after its loss, in millionths.
        worst_ppm: u32,
    },
}

/// The decision for one snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PlanEntry {
    /// Index of the snapshot in the input slice.
    pub index: usize,
    /// Its name (copied from the input).
    pub name: SnapshotName,
    /// Its guid.
    pub guid: u64,
    /// Its createtxg.
    pub createtxg: u64,
    /// Its creation time.
    pub creation: OffsetDateTime,
    /// Keep or destroy.
    pub decision: Decision,
    /// Why: for a kept snapshot the protections and rules that keep it; for a destroyed one,
    /// what each rule said, or its keep reasons followed by [`Reason::SpaceThinned`].
    pub reasons: Vec<Reason>,
    /// For a kept snapshot, when it will be destroyed if no new snapshot arrives: `None` when
    /// never (a protection, a count-based rule, or the idle cap keeps it for good). Always
    /// `None` for a destroyed snapshot. Future-dated snapshots reaching `now` may still change
    /// the picture.
    pub expires_at: Option<OffsetDateTime>,
}

/// The space target's arithmetic (sums of the `used` property of the kept snapshots).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SpaceReport {
    /// The budget in bytes.
    pub budget: u64,
    /// Sum of `used` over the snapshots the rules keep.
    pub used_before: u64,
    /// Sum of `used` over the snapshots finally kept.
    pub used_after: u64,
}

/// A retention plan: one [`PlanEntry`] for every input snapshot, in input order.
///
/// The `used` arithmetic of the space target underestimates what destroying frees (blocks
/// shared by destroyed neighbours only count once they are all gone), so a caller that applies
/// the plan should refresh the facts and plan again until nothing more is destroyed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetentionPlan {
    /// The instant the plan was made for.
    pub now: OffsetDateTime,
    /// The textual form of each rule of the policy (reasons refer to these by index).
    pub rules: Vec<String>,
    /// One entry per input snapshot, in input order.
    pub entries: Vec<PlanEntry>,
    /// Present when the policy has a space target.
    pub space: Option<SpaceReport>,
}

impl RetentionPlan {
    /// Entries to keep.
    pub fn kept(&self) -> impl Iterator<Item = &PlanEntry> {
        self.entries.iter().filter(|e| e.decision == Decision::Keep)
    }

    /// Entries to destroy.
    pub fn destroyed(&self) -> impl Iterator<Item = &PlanEntry> {
        self.entries
            .iter()
            .filter(|e| e.decision == Decision::Destroy)
    }

    /// Names to destroy, oldest first (creation, then createtxg), in batches of at most
    /// `max_batch` (at least 1): what a caller feeds to `lzc_destroy_snaps` one batch at a time.
    pub fn destroy_batches(&self, max_batch: usize) -> Vec<Vec<&SnapshotName>> {
        let mut doomed: Vec<&PlanEntry> = self.destroyed().collect();
        doomed.sort_by_key(|e| (e.creation, e.createtxg, e.index));
        doomed
            .chunks(max_batch.max(1))
            .map(|c| c.iter().map(|e| &e.name).collect())
            .collect()
    }

    /// Describes one reason with the rule's text.
    pub fn describe(&self, reason: &Reason) -> String {
        match reason {
            Reason::Protected(p) => describe_protection(p),
            Reason::Kept(k) => self.describe_kept(k),
            Reason::Missed(m) => self.describe_miss(m),
            Reason::OverSpaceBudget { budget } => {
                format!("space={}: oldest beyond the budget", SizeText(*budget))
            }
            Reason::SpaceThinned {
                budget,
                oldest: true,
                ..
            } => format!(
                "space={}: the oldest state, thinned last (no other snapshot could go)",
                SizeText(*budget)
            ),
            Reason::SpaceThinned {
                budget,
                oldest: false,
                gap_ppm,
                worst_ppm,
            } => format!(
                "space={}: thinned evenly, its loss leaves gap/age {} (worst {})",
                SizeText(*budget),
                PpmText(*gap_ppm),
                PpmText(*worst_ppm)
            ),
        }
    }

    /// The text of rule `i` (`rule #i` if there is no such rule).
    fn rule_text(&self, i: usize) -> String {
        self.rules
            .get(i)
            .map_or_else(|| format!("rule #{i}"), |r| r.clone())
    }

    fn describe_kept(&self, k: &KeepReason) -> String {
        let rule = |i: &usize| self.rule_text(*i);
        let dur = |d: &Duration| DurText(*d).to_string();
        let until = |u: &Option<OffsetDateTime>| match u {
            Some(t) => format!(", until {t}"),
            None => String::new(),
        };
        match k {
            KeepReason::Calendar {
                rule: r,
                period,
                rank,
            } => {
                format!(
                    "{}: first of {period} (period {rank} with snapshots)",
                    rule(r)
                )
            }
            KeepReason::Grid {
                rule: r,
                group,
                bucket,
            } => format!("{}: oldest of bucket {bucket} of group {group}", rule(r)),
            KeepReason::Within {
                rule: r,
                age,
                until: u,
            } => {
                format!("{}: age {}{}", rule(r), dur(age), until(u))
            }
            KeepReason::Minimum { rank } => format!("min: newest #{rank}"),
            KeepReason::BurstEnd {
                rule: r,
                age,
                until: u,
            } => {
                format!("{}: end of a burst, age {}{}", rule(r), dur(age), until(u))
            }
            KeepReason::LargeChange {
                rule: r,
                side,
                written,
                until: u,
            } => format!(
                "{}: {} a change of {} bytes{}",
                rule(r),
                match side {
                    ChangeSide::Before => "just before",
                    ChangeSide::After => "holds",
                },
                written,
                until(u)
            ),
        }
    }

    fn describe_miss(&self, m: &RuleMiss) -> String {
        let rule = |i: &usize| self.rule_text(*i);
        match m {
            RuleMiss::NotFirstInPeriod { rule: r, period } => {
                format!("{}: not the first of {period}", rule(r))
            }
            RuleMiss::PeriodTooOld {
                rule: r,
                period,
                rank,
            } => {
                format!("{}: {period} is period {rank} with snapshots", rule(r))
            }
            RuleMiss::NotOldestInBucket {
                rule: r,
                group,
                bucket,
            } => format!(
                "{}: older snapshots kept in bucket {bucket} of group {group}",
                rule(r)
            ),
            RuleMiss::BeyondGrid { rule: r } => format!("{}: older than the grid", rule(r)),
            RuleMiss::TooOld { rule: r, age } => {
                format!("{}: age {}", rule(r), DurText(*age))
            }
            RuleMiss::NotBurstEnd { rule: r } => format!("{}: not a burst end", rule(r)),
            RuleMiss::NoLargeChange { rule: r } => {
                format!("{}: not next to a large change", rule(r))
            }
            RuleMiss::BeyondMinimum { rank } => format!("min: newest #{rank}"),
        }
    }
}

fn describe_protection(p: &Protection) -> String {
    match p {
        Protection::Newest => "protected: newest snapshot".into(),
        Protection::Held => "protected: held".into(),
        Protection::HasClones => "protected: has clones".into(),
        Protection::Pinned => "protected: pinned".into(),
        Protection::PinProperty(name) => format!("protected: pinned by {name}"),
        Protection::Stashed => "protected: part of a stash".into(),
        Protection::FutureDated => "protected: dated in the future".into(),
    }
}

struct DurText(Duration);
impl fmt::Display for DurText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Ages are shown in whole minutes at least.
        let secs = self.0.as_secs();
        if secs >= 60 {
            fmt_duration(f, Duration::from_secs(secs - secs % 60))
        } else {
            write!(f, "{secs}s")
        }
    }
}
struct PpmText(u32);
impl fmt::Display for PpmText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let milli = (u64::from(self.0) + 500) / 1000;
        write!(f, "{}.{:03}", milli / 1000, milli % 1000)
    }
}
struct SizeText(u64);
impl fmt::Display for SizeText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_size(f, self.0)
    }
}

impl fmt::Display for RetentionPlan {
    /// One line per snapshot: `keep`/`destroy`, the name, the reasons and any expiry.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for e in &self.entries {
            let verb = match e.decision {
                Decision::Keep => "keep   ",
                Decision::Destroy => "destroy",
            };
            write!(f, "{verb} {}", e.name)?;
            let texts: Vec<String> = e.reasons.iter().map(|r| self.describe(r)).collect();
            if !texts.is_empty() {
                write!(f, "  [{}]", texts.join("; "))?;
            }
            if let Some(t) = e.expires_at {
                write!(f, "  expires {t}")?;
            }
            writeln!(f)?;
        }
        if let Some(s) = self.space {
            writeln!(
                f,
                "space: budget {} bytes, kept used {} -> {} bytes",
                s.budget, s.used_before, s.used_after
            )?;
        }
        Ok(())
    }
}

fn period_index(c: &LocalTime, rule: &CalendarRule) -> i64 {
    let raw = match rule.unit {
        CalendarUnit::Minute => c.days() * 1440 + c.minute_of_day(),
        CalendarUnit::Hour => c.days() * 24 + c.minute_of_day() / 60,
        CalendarUnit::Day => c.days(),
        CalendarUnit::Week => (c.days() - 4).div_euclid(7),
        CalendarUnit::Month => c.months(),
        CalendarUnit::Year => c.year(),
    };
    raw.div_euclid(i64::from(rule.every.max(1)))
}

fn to_odt(secs: i128, like: OffsetDateTime) -> Option<OffsetDateTime> {
    let secs = i64::try_from(secs).ok()?;
    let t = OffsetDateTime::from_unix_timestamp(secs).ok()?;
    Some(t.checked_to_offset(like.offset()).unwrap_or(t))
}

fn secs_u(d: Duration) -> i128 {
    i128::from(d.as_secs())
}

fn age_dur(a: i128) -> Duration {
    Duration::from_secs(u64::try_from(a.max(0)).unwrap_or(u64::MAX))
}

fn truthy(value: &str) -> bool {
    !matches!(
        value.trim().to_ascii_lowercase().as_str(),
        "" | "-" | "off" | "no" | "false" | "0"
    )
}

impl RetentionPolicy {
    /// Plans which of `snapshots` (one dataset's) to keep at `now`, with local calendar
    /// periods in `tz`. Never fails and never panics: every input gets an entry.
    ///
    /// ```
    /// use flocker_core::name::SnapshotName;
    /// use flocker_core::retention::{Decision, RetentionPolicy, SnapshotFacts, TimeZone};
    /// use time::macros::datetime;
    ///
    /// let policy: RetentionPolicy = "2x1d".parse().unwrap();
    /// let snaps: Vec<SnapshotFacts> = [
    ///     datetime!(2024-05-01 09:00 UTC), // first of May 1st
    ///     datetime!(2024-05-01 17:00 UTC),
    ///     datetime!(2024-05-02 09:00 UTC), // first of May 2nd
    ///     datetime!(2024-05-02 17:00 UTC), // newest: protected
    /// ]
    /// .iter()
    /// .enumerate()
    /// .map(|(i, t)| {
    ///     let name = SnapshotName::new(format!("pool/fs@s{i}")).unwrap();
    ///     SnapshotFacts::new(name, i as u64, 100 + i as u64, *t)
    /// })
    /// .collect();
    /// let plan = policy.plan(&snaps, datetime!(2024-05-02 18:00 UTC), &TimeZone::UTC);
    /// let keep: Vec<bool> = plan.entries.iter().map(|e| e.decision == Decision::Keep).collect();
    /// assert_eq!(keep, [true, false, true, true]);
    /// ```
    pub fn plan(
        &self,
        snapshots: &[SnapshotFacts],
        now: OffsetDateTime,
        tz: &TimeZone,
    ) -> RetentionPlan {
        let mut plan = self.plan_once(snapshots, now, tz);
        if !plan.entries.iter().any(|e| {
            e.reasons
                .iter()
                .any(|r| matches!(r, Reason::SpaceThinned { .. }))
        }) {
            return plan;
        }
        // Thinning can take away what kept a neighbour (the large change beside a `changes`
        // "before" snapshot, a grid bucket that shifted the next group): plan the survivors
        // again until nothing more goes, so that applying the plan and planning again destroys
        // nothing more. Later rounds never thin (the budget is met, or no candidate is left).
        loop {
            let alive: Vec<usize> = plan
                .entries
                .iter()
                .filter(|e| e.decision == Decision::Keep)
                .map(|e| e.index)
                .collect();
            let rest: Vec<SnapshotFacts> = alive.iter().map(|&i| snapshots[i].clone()).collect();
            let again = self.plan_once(&rest, now, tz);
            let settled = again.destroyed().next().is_none();
            for (e, &i) in again.entries.into_iter().zip(&alive) {
                let entry = &mut plan.entries[i];
                entry.decision = e.decision;
                entry.reasons = e.reasons;
                entry.expires_at = e.expires_at;
            }
            if settled {
                break;
            }
        }
        let after: u128 = plan
            .kept()
            .map(|e| u128::from(snapshots[e.index].used))
            .sum();
        if let Some(space) = &mut plan.space {
            space.used_after = u64::try_from(after).unwrap_or(u64::MAX);
        }
        plan
    }

    /// One pass of the rules and the space target.
    fn plan_once(
        &self,
        snapshots: &[SnapshotFacts],
        now: OffsetDateTime,
        tz: &TimeZone,
    ) -> RetentionPlan {
        let mut pass = Pass::new(self, snapshots, now);
        pass.protect(&self.pins);
        pass.rules(&self.rules, tz);
        pass.minimum(self.min_count);
        let mut keep = pass.kept();
        let space = self.space.map(|budget| pass.thin(budget, &mut keep));
        RetentionPlan {
            now,
            rules: self.rules.iter().map(|r| r.to_string()).collect(),
            entries: pass.entries(&keep),
            space,
        }
    }
}

/// The working state of one planning pass over one dataset's snapshots.
struct Pass<'a> {
    snapshots: &'a [SnapshotFacts],
    now: OffsetDateTime,
    /// `now` in Unix seconds.
    now_s: i64,
    /// Creation times (Unix seconds), by input index.
    secs: Vec<i64>,
    /// The reasons gathered so far, by input index.
    reasons: Vec<Vec<Reason>>,
    /// Whether a safety rule protects it, by input index.
    protected: Vec<bool>,
    /// Reasons a snapshot can get (the capacity reserved at its first).
    reserve: usize,
    /// Input indexes of the snapshots not dated in the future, oldest first (positions).
    order: Vec<usize>,
    /// Creation times by position.
    psecs: Vec<i64>,
    /// Active times by position (gaps count at most the idle cap).
    act: Vec<i128>,
    /// The idle cap in seconds.
    cap: i128,
    /// Active and true time of the newest position (`now` if none).
    act_last: i128,
    secs_last: i128,
    /// Active time of `now`.
    act_now: i128,
}

/// Adds `r` to the reasons of snapshot `i` (reserving `reserve` at its first).
fn push_reason(reasons: &mut [Vec<Reason>], i: usize, r: Reason, reserve: usize) {
    let v = &mut reasons[i];
    if v.capacity() == 0 {
        v.reserve_exact(reserve);
    }
    v.push(r);
}

impl<'a> Pass<'a> {
    fn new(policy: &RetentionPolicy, snapshots: &'a [SnapshotFacts], now: OffsetDateTime) -> Self {
        let n = snapshots.len();
        let now_s = now.unix_timestamp();
        let secs: Vec<i64> = snapshots
            .iter()
            .map(|s| s.creation().unix_timestamp())
            .collect();
        let mut order: Vec<usize> = (0..n).filter(|&i| secs[i] <= now_s).collect();
        order.sort_unstable_by_key(|&i| {
            let s = &snapshots[i];
            (secs[i], s.createtxg(), s.guid(), i)
        });
        // Rules, over the snapshots not dated in the future, oldest first.
        let m = order.len();
        let psecs: Vec<i64> = order.iter().map(|&i| secs[i]).collect();
        let cap = secs_u(policy.idle_cap);
        let mut act: Vec<i128> = Vec::with_capacity(m);
        for p in 0..m {
            let a = if p == 0 {
                0
            } else {
                act[p - 1] + (i128::from(psecs[p]) - i128::from(psecs[p - 1])).min(cap)
            };
            act.push(a);
        }
        let (act_last, secs_last) = match m {
            0 => (0, i128::from(now_s)),
            _ => (act[m - 1], i128::from(psecs[m - 1])),
        };
        let act_now = act_last + (i128::from(now_s) - secs_last).clamp(0, cap);
        Pass {
            snapshots,
            now,
            now_s,
            secs,
            reasons: (0..n).map(|_| Vec::new()).collect(),
            protected: vec![false; n],
            reserve: policy.rules.len() + usize::from(policy.min_count > 0) + 1,
            order,
            psecs,
            act,
            cap,
            act_last,
            secs_last,
            act_now,
        }
    }

    fn push(&mut self, i: usize, r: Reason) {
        push_reason(&mut self.reasons, i, r, self.reserve);
    }

    fn protect_one(&mut self, i: usize, p: Protection) {
        self.protected[i] = true;
        self.push(i, Reason::Protected(p));
    }

    /// The safety rules.
    fn protect(&mut self, pins: &[String]) {
        let (snapshots, secs, now_s) = (self.snapshots, &self.secs, self.now_s);
        let n = snapshots.len();
        let newest_txg = (0..n).max_by_key(|&i| (snapshots[i].createtxg(), secs[i], i));
        let present_txg = (0..n)
            .filter(|&i| secs[i] <= now_s)
            .max_by_key(|&i| (snapshots[i].createtxg(), secs[i], i));
        let newest_time = self.order.last().copied();
        for (i, s) in snapshots.iter().enumerate() {
            if Some(i) == newest_txg || Some(i) == present_txg || Some(i) == newest_time {
                self.protect_one(i, Protection::Newest);
            }
            if self.secs[i] > now_s {
                self.protect_one(i, Protection::FutureDated);
            }
            if s.held {
                self.protect_one(i, Protection::Held);
            }
            if s.has_clones {
                self.protect_one(i, Protection::HasClones);
            }
            if s.pinned {
                self.protect_one(i, Protection::Pinned);
            }
            for prop in pins {
                if s.user_props.get(prop).is_some_and(|v| truthy(v)) {
                    self.protect_one(i, Protection::PinProperty(prop.clone()));
                }
            }
            if s.stashed {
                self.protect_one(i, Protection::Stashed);
            }
        }
    }

    /// The instant at which active age `window` is reached from active time `a`, if no
    /// snapshot is taken; None if the idle cap stops the clock first.
    fn until(&self, a: i128, window: i128) -> Option<OffsetDateTime> {
        let need = a + window - self.act_last;
        if need <= self.cap {
            to_odt(self.secs_last + need, self.now)
        } else {
            None
        }
    }

    /// The policy's rules, in order.
    fn rules(&mut self, rules: &[Rule], tz: &TimeZone) {
        let civils: Vec<LocalTime> = if rules.iter().any(|r| matches!(r, Rule::Calendar(_))) {
            self.psecs.iter().map(|&s| LocalTime::at(s, tz)).collect()
        } else {
            Vec::new()
        };
        let reserve = self.reserve;
        let mut push = move |reasons: &mut Vec<Vec<Reason>>, i: usize, r: Reason| {
            push_reason(reasons, i, r, reserve)
        };
        for (ri, rule) in rules.iter().enumerate() {
            match rule {
                Rule::Calendar(c) => {
                    calendar(ri, c, &civils, &self.order, &mut self.reasons, &mut push);
                }
                Rule::Grid(g) => grid(
                    ri,
                    g,
                    &self.psecs,
                    &self.order,
                    &mut self.reasons,
                    &mut push,
                ),
                Rule::Within(window) => self.within(ri, *window),
                Rule::Bursts(b) => self.bursts(ri, b),
                Rule::Changes(c) => self.changes(ri, c),
            }
        }
    }

    /// A `within=` rule.
    fn within(&mut self, ri: usize, window: Duration) {
        let w = secs_u(window);
        for p in 0..self.order.len() {
            let age = self.act_now - self.act[p];
            let r = if age < w {
                Reason::Kept(KeepReason::Within {
                    rule: ri,
                    age: age_dur(age),
                    until: self.until(self.act[p], w),
                })
            } else {
                Reason::Missed(RuleMiss::TooOld {
                    rule: ri,
                    age: age_dur(age),
                })
            };
            self.push(self.order[p], r);
        }
    }

    /// A `bursts(...)` rule.
    fn bursts(&mut self, ri: usize, b: &BurstRule) {
        let h = secs_u(b.horizon);
        let gap = secs_u(b.gap);
        let mut next_change: Option<i128> = None;
        for p in (0..self.order.len()).rev() {
            let i = self.order[p];
            let t = i128::from(self.psecs[p]);
            let changed = self.snapshots[i].written > b.quiet;
            let end = changed && next_change.is_none_or(|nc| nc - t >= gap);
            if changed {
                next_change = Some(t);
            }
            let age = self.act_now - self.act[p];
            let r = if !end {
                Reason::Missed(RuleMiss::NotBurstEnd { rule: ri })
            } else if age < h {
                Reason::Kept(KeepReason::BurstEnd {
                    rule: ri,
                    age: age_dur(age),
                    until: self.until(self.act[p], h),
                })
            } else {
                Reason::Missed(RuleMiss::TooOld {
                    rule: ri,
                    age: age_dur(age),
                })
            };
            self.push(i, r);
        }
    }

    /// A `changes(...)` rule.
    fn changes(&mut self, ri: usize, c: &ChangeRule) {
        let h = secs_u(c.horizon);
        let m = self.order.len();
        let (snapshots, order) = (self.snapshots, &self.order);
        let large = |p: usize| snapshots[order[p]].written >= c.size;
        for p in 0..m {
            let i = self.order[p];
            let age = self.act_now - self.act[p];
            let r = if large(p) && age < h {
                Reason::Kept(KeepReason::LargeChange {
                    rule: ri,
                    side: ChangeSide::After,
                    written: snapshots[i].written,
                    until: self.until(self.act[p], h),
                })
            } else if p + 1 < m && large(p + 1) && self.act_now - self.act[p + 1] < h {
                Reason::Kept(KeepReason::LargeChange {
                    rule: ri,
                    side: ChangeSide::Before,
                    written: snapshots[self.order[p + 1]].written,
                    until: self.until(self.act[p + 1], h),
                })
            } else if large(p) {
                Reason::Missed(RuleMiss::TooOld {
                    rule: ri,
                    age: age_dur(age),
                })
            } else {
                Reason::Missed(RuleMiss::NoLargeChange { rule: ri })
            };
            push_reason(&mut self.reasons, i, r, self.reserve);
        }
    }

    /// The `min=` rule.
    fn minimum(&mut self, min_count: u32) {
        if min_count == 0 {
            return;
        }
        let m = self.order.len();
        for p in 0..m {
            let i = self.order[p];
            let rank = u32::try_from(m - p).unwrap_or(u32::MAX);
            let r = if rank <= min_count {
                Reason::Kept(KeepReason::Minimum { rank })
            } else {
                Reason::Missed(RuleMiss::BeyondMinimum { rank })
            };
            self.push(i, r);
        }
    }

    /// Whether the protections and rules keep each snapshot, by input index.
    fn kept(&self) -> Vec<bool> {
        (0..self.snapshots.len())
            .map(|i| {
                self.protected[i] || self.reasons[i].iter().any(|r| matches!(r, Reason::Kept(_)))
            })
            .collect()
    }

    /// The space target: even thinning of the unprotected kept snapshots (see space.rs).
    fn thin(&mut self, budget: u64, keep: &mut [bool]) -> SpaceReport {
        let snapshots = self.snapshots;
        let used = |i: usize| u128::from(snapshots[i].used);
        let before: u128 = (0..keep.len()).filter(|&i| keep[i]).map(used).sum();
        let minimum = |i: usize| {
            self.reasons[i]
                .iter()
                .any(|r| matches!(r, Reason::Kept(KeepReason::Minimum { .. })))
        };
        let mut kept_pos: Vec<bool> = self.order.iter().map(|&i| keep[i]).collect();
        // A snapshot whose `used` is 0 frees nothing by this count: thinning it would only
        // lose history.
        let candidate: Vec<bool> = self
            .order
            .iter()
            .map(|&i| keep[i] && !self.protected[i] && !minimum(i) && snapshots[i].used > 0)
            .collect();
        let used_pos: Vec<u64> = self.order.iter().map(|&i| snapshots[i].used).collect();
        // Creation times, and `now` at most the idle cap past the newest (see space.rs).
        let times: Vec<i128> = self.psecs.iter().map(|&t| i128::from(t)).collect();
        let now_t = (i128::from(self.now_s)).min(self.secs_last + self.cap);
        let losses = space::thin(&mut kept_pos, &candidate, &times, now_t, &used_pos, |f| {
            before - f > u128::from(budget)
        });
        let mut total = before;
        for l in losses {
            let i = self.order[l.pos];
            keep[i] = false;
            total -= used(i);
            let ppm = |r: f64| (r.clamp(0.0, 1.0) * 1e6).round() as u32;
            let r = Reason::SpaceThinned {
                budget,
                oldest: l.oldest,
                gap_ppm: ppm(l.ratio),
                worst_ppm: ppm(l.worst),
            };
            self.push(i, r);
        }
        SpaceReport {
            budget,
            used_before: u64::try_from(before).unwrap_or(u64::MAX),
            used_after: u64::try_from(total).unwrap_or(u64::MAX),
        }
    }

    /// One entry per snapshot: its decision, the reasons that bear on it, its expiry.
    fn entries(self, keep: &[bool]) -> Vec<PlanEntry> {
        let snapshots = self.snapshots;
        self.reasons
            .into_iter()
            .enumerate()
            .map(|(i, rs)| entry(i, &snapshots[i], keep[i], rs))
            .collect()
    }
}

/// The entry of snapshot `i` (`s`), kept or not, from all its reasons.
fn entry(i: usize, s: &SnapshotFacts, keep: bool, mut rs: Vec<Reason>) -> PlanEntry {
    let decision = if keep {
        Decision::Keep
    } else {
        Decision::Destroy
    };
    let over_budget = rs.iter().any(|r| {
        matches!(
            r,
            Reason::OverSpaceBudget { .. } | Reason::SpaceThinned { .. }
        )
    });
    match decision {
        Decision::Keep => rs.retain(|r| matches!(r, Reason::Protected(_) | Reason::Kept(_))),
        Decision::Destroy if over_budget => rs.retain(|r| !matches!(r, Reason::Missed(_))),
        Decision::Destroy => rs.retain(|r| matches!(r, Reason::Missed(_))),
    }
    let expires_at = match decision {
        Decision::Destroy => None,
        Decision::Keep => expiry(&rs),
    };
    PlanEntry {
        index: i,
        name: s.name().clone(),
        guid: s.guid(),
        createtxg: s.createtxg(),
        creation: s.creation(),
        decision,
        reasons: rs,
        expires_at,
    }
}

/// The latest expiry among the keep reasons, `None` if any keeps it for good.
fn expiry(reasons: &[Reason]) -> Option<OffsetDateTime> {
    let mut latest: Option<OffsetDateTime> = None;
    for r in reasons {
        let u = match r {
            Reason::Kept(
                KeepReason::Within { until, .. }
                | KeepReason::BurstEnd { until, .. }
                | KeepReason::LargeChange { until, .. },
            ) => *until,
            Reason::Kept(_) | Reason::Protected(_) => None,
            _ => continue,
        };
        match u {
            None => return None,
            Some(t) => latest = Some(latest.map_or(t, |l| l.max(t))),
        }
    }
    latest
}

/// First snapshot of each of the `count` newest periods that contain snapshots.
fn calendar(
    ri: usize,
    rule: &CalendarRule,
    civils: &[LocalTime],
    order: &[usize],
    reasons: &mut Vec<Vec<Reason>>,
    push: &mut impl FnMut(&mut Vec<Vec<Reason>>, usize, Reason),
) {
    let m = order.len();
    let keys: Vec<i64> = civils.iter().map(|c| period_index(c, rule)).collect();
    // first[p]: p is the earliest snapshot of its period; rank[p]: 1 = newest period.
    let mut first = vec![false; m];
    let mut rank = vec![0u32; m];
    if keys.windows(2).all(|w| w[0] <= w[1]) {
        let mut r = 0u32;
        for p in (0..m).rev() {
            if p + 1 == m || keys[p + 1] != keys[p] {
                r = r.saturating_add(1);
            }
            rank[p] = r;
            first[p] = p == 0 || keys[p - 1] != keys[p];
        }
    } else {
        // Local time ran backwards (a fall-back hour with minute periods): sort by period.
        let mut by_key: Vec<usize> = (0..m).collect();
        by_key.sort_unstable_by_key(|&p| (keys[p], p));
        let mut r = 0u32;
        for (j, &p) in by_key.iter().enumerate().rev() {
            if j + 1 == m || keys[by_key[j + 1]] != keys[p] {
                r = r.saturating_add(1);
            }
            rank[p] = r;
            first[p] = j == 0 || keys[by_key[j - 1]] != keys[p];
        }
    }
    for p in 0..m {
        let period = Period {
            unit: rule.unit,
            every: rule.every,
            index: keys[p],
        };
        let r = if !first[p] {
            Reason::Missed(RuleMiss::NotFirstInPeriod { rule: ri, period })
        } else if rank[p] <= rule.count {
            Reason::Kept(KeepReason::Calendar {
                rule: ri,
                period,
                rank: rank[p],
            })
        } else {
            Reason::Missed(RuleMiss::PeriodTooOld {
                rule: ri,
                period,
                rank: rank[p],
            })
        };
        push(reasons, order[p], r);
    }
}

/// zrepl-style buckets going back from the newest snapshot; empty buckets are not counted.
fn grid(
    ri: usize,
    rule: &GridRule,
    psecs: &[i64],
    order: &[usize],
    reasons: &mut Vec<Vec<Reason>>,
    push: &mut impl FnMut(&mut Vec<Vec<Reason>>, usize, Reason),
) {
    let m = order.len();
    let Some(&anchor) = psecs.last() else {
        return;
    };
    let anchor = i128::from(anchor);
    let mut g = 0usize; // current group
    let mut start: i128 = 0; // age at which the current group starts
    let mut cur: Option<i128> = None; // current bucket index within the group
    let mut counted: u32 = 0; // non-empty buckets counted in the current group
    let mut members: Vec<usize> = Vec::new(); // positions in the current bucket, newest first

    for p in (0..m).rev() {
        let age = anchor - i128::from(psecs[p]);
        loop {
            let Some(group) = rule.groups.get(g) else {
                push(
                    reasons,
                    order[p],
                    Reason::Missed(RuleMiss::BeyondGrid { rule: ri }),
                );
                break;
            };
            let len = secs_u(group.length).max(1);
            let idx = (age - start).max(0) / len;
            if cur == Some(idx) {
                members.push(p);
                break;
            }
            flush(ri, rule, order, &mut members, g, counted, reasons, push);
            if counted >= group.count {
                start += (cur.unwrap_or(0) + 1) * len;
                g += 1;
                counted = 0;
                cur = None;
                continue;
            }
            counted += 1;
            cur = Some(idx);
            members.push(p);
            break;
        }
    }
    flush(ri, rule, order, &mut members, g, counted, reasons, push);
}

/// Decides the members (positions, newest first) of one finished grid bucket.
#[allow(clippy::too_many_arguments)]
fn flush(
    ri: usize,
    rule: &GridRule,
    order: &[usize],
    members: &mut Vec<usize>,
    g: usize,
    counted: u32,
    reasons: &mut Vec<Vec<Reason>>,
    push: &mut impl FnMut(&mut Vec<Vec<Reason>>, usize, Reason),
) {
    let Some(group) = rule.groups.get(g) else {
        members.clear();
        return;
    };
    let kept_from = match group.keep {
        GridKeep::All => 0,
        GridKeep::Oldest(k) => members.len().saturating_sub(k as usize),
    };
    let (group, bucket) = (u32::try_from(g + 1).unwrap_or(u32::MAX), counted);
    for (j, &p) in members.iter().enumerate() {
        let r = if j >= kept_from {
            Reason::Kept(KeepReason::Grid {
                rule: ri,
                group,
                bucket,
            })
        } else {
            Reason::Missed(RuleMiss::NotOldestInBucket {
                rule: ri,
                group,
                bucket,
            })
        };
        push(reasons, order[p], r);
    }
    members.clear();
}
