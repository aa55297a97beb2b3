//! The policy: rules, settings, the builder and validation.

use std::fmt;
use std::time::Duration;

/// Seconds in one minute, hour, day, week and (fixed) year.
pub(crate) const MINUTE: u64 = 60;
pub(crate) const HOUR: u64 = 3_600;
pub(crate) const DAY: u64 = 86_400;
pub(crate) const WEEK: u64 = 7 * DAY;
pub(crate) const YEAR: u64 = 365 * DAY;

/// The default idle cap: an idle gap (between two snapshots, or since the newest one) counts
/// at most this much towards the age that `within=`, `bursts(...)` and `changes(...)` measure.
pub const DEFAULT_IDLE_CAP: Duration = Duration::from_secs(DAY);

/// A local calendar unit for [`CalendarRule`]s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum CalendarUnit {
    /// A local minute (`min`).
    Minute,
    /// A local hour (`h`); in a fall-back DST change the repeated hour is one local hour.
    Hour,
    /// A local day (`d`), midnight to midnight, 23 or 25 hours long on DST days.
    Day,
    /// A local week (`w`), Monday to Sunday.
    Week,
    /// A local month (`mo`).
    Month,
    /// A local year (`y`).
    Year,
}

impl CalendarUnit {
    /// The unit's suffix in the textual form.
    pub fn suffix(self) -> &'static str {
        match self {
            CalendarUnit::Minute => "min",
            CalendarUnit::Hour => "h",
            CalendarUnit::Day => "d",
            CalendarUnit::Week => "w",
            CalendarUnit::Month => "mo",
            CalendarUnit::Year => "y",
        }
    }

    /// A human name ("hour", "month", ...).
    pub fn name(self) -> &'static str {
        match self {
            CalendarUnit::Minute => "minute",
            CalendarUnit::Hour => "hour",
            CalendarUnit::Day => "day",
            CalendarUnit::Week => "week",
            CalendarUnit::Month => "month",
            CalendarUnit::Year => "year",
        }
    }
}

/// `NxKU`: keep the first (oldest) snapshot of each of the `count` newest local calendar
/// periods of `every` × `unit` **that contain snapshots** (empty periods, such as the nights a
/// laptop sleeps, are not counted, so idle time never thins history).
///
/// Periods of `every` > 1 units are aligned on the unit's epoch: local midnight of 1970-01-01
/// for minutes, hours and days, Monday 1970-01-05 for weeks, January of year 0 for months and
/// years (so `1x6mo` periods are January–June and July–December).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CalendarRule {
    /// How many periods (with snapshots) to keep, newest first.
    pub count: u32,
    /// How many units make one period (usually 1).
    pub every: u32,
    /// The calendar unit.
    pub unit: CalendarUnit,
}

impl CalendarRule {
    /// `count` periods of one `unit` each.
    pub fn new(count: u32, unit: CalendarUnit) -> Self {
        CalendarRule {
            count,
            every: 1,
            unit,
        }
    }
}

/// How many snapshots a grid bucket keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GridKeep {
    /// The oldest `n` snapshots of the bucket.
    Oldest(u32),
    /// Every snapshot of the bucket.
    All,
}

/// One `NxL` part of a [`GridRule`]: `count` buckets of `length` each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GridGroup {
    /// Number of (non-empty) buckets.
    pub count: u32,
    /// Length of each bucket (a fixed duration).
    pub length: Duration,
    /// What each bucket keeps (zrepl's `keep=`, default the oldest one).
    pub keep: GridKeep,
}

impl GridGroup {
    /// `count` buckets of `length`, each keeping its oldest snapshot.
    pub fn new(count: u32, length: Duration) -> Self {
        GridGroup {
            count,
            length,
            keep: GridKeep::Oldest(1),
        }
    }

    /// The same group with another `keep`.
    pub fn keep(mut self, keep: GridKeep) -> Self {
        self.keep = keep;
        self
    }
}

/// `grid(1x1h(keep=all)|24x1h|14x1d)`: zrepl-style buckets laid end to end going back in time
/// from the newest snapshot (not from `now`, so an idle machine keeps its grid).
///
/// Unlike zrepl, a bucket that contains no snapshot is not counted: a group of `24x1h` spans
/// the 24 newest one-hour buckets that contain snapshots, so a sleeping machine's history is
/// not pushed out of the grid.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GridRule {
    /// The groups, newest first.
    pub groups: Vec<GridGroup>,
}

/// `bursts(for=90d,gap=2h,quiet=64K)`: landmarks at the end of each burst of edits.
///
/// A snapshot *changed* if its `written` is above `quiet`. A changed snapshot ends a burst
/// when no other changed snapshot follows it within `gap`. Burst ends are kept while their
/// age (see [`RetentionPolicy::idle_cap`]) is below `horizon`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BurstRule {
    /// How long burst ends are kept.
    pub horizon: Duration,
    /// The quiet time that ends a burst.
    pub gap: Duration,
    /// `written` at or below this many bytes counts as "no change".
    pub quiet: u64,
}

/// `changes(for=1y,size=1G)`: landmarks around large changes.
///
/// A snapshot whose `written` is at least `size` follows a large change: it is kept (the state
/// after the change), and so is the snapshot just before it (the state the change replaced,
/// which no other snapshot holds), while the change's age is below `horizon`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChangeRule {
    /// How long the pair around a large change is kept.
    pub horizon: Duration,
    /// The `written` size (bytes) that makes a change large.
    pub size: u64,
}

/// One keeping rule of a policy. A snapshot is kept if any rule (or a safety rule) keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Rule {
    /// First snapshot of each local calendar period (`48x1h`).
    Calendar(CalendarRule),
    /// zrepl-style grid (`grid(...)`).
    Grid(GridRule),
    /// Every snapshot younger than the duration (`within=36h`), age as in
    /// [`RetentionPolicy::idle_cap`].
    Within(Duration),
    /// Burst-end landmarks (`bursts(...)`).
    Bursts(BurstRule),
    /// Large-change landmarks (`changes(...)`).
    Changes(ChangeRule),
}

/// An invalid policy (from the builder, or inside a [`ParseError`](super::ParseError)).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// A count (periods, buckets, `keep=`) is zero.
    #[error("{what} must be at least 1")]
    ZeroCount {
        /// Which count.
        what: &'static str,
    },
    /// A duration is zero or shorter than a second.
    #[error("{what} must be at least one second")]
    ZeroDuration {
        /// Which duration.
        what: &'static str,
    },
    /// A grid has no groups.
    #[error("a grid needs at least one group")]
    EmptyGrid,
    /// The policy keeps nothing but the safety rules.
    #[error("the policy has no keeping rule (calendar, grid, within, min, bursts, changes)")]
    NoRules,
    /// A pin property is not a ZFS user property name.
    #[error(
        "pin property {0:?} is not a ZFS user property (lowercase letters, digits, ':', '_', '-', '.'; needs a ':'; at most 255 bytes)"
    )]
    BadPinProperty(String),
}

/// A retention policy: keeping rules, a minimum count, pins, an optional space target, and
/// the idle cap. Build it with [`RetentionPolicy::builder`] or parse its textual form
/// (see the [module documentation](super) for the grammar); [`Display`](fmt::Display) prints
/// the canonical textual form, which parses back to an equal policy.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RetentionPolicy {
    pub(crate) rules: Vec<Rule>,
    pub(crate) min_count: u32,
    pub(crate) pins: Vec<String>,
    pub(crate) space: Option<u64>,
    pub(crate) idle_cap: Duration,
}

impl RetentionPolicy {
    /// A builder with no rules, no minimum, no pins, no space target and the default idle cap.
    pub fn builder() -> RetentionPolicyBuilder {
        RetentionPolicyBuilder::default()
    }

    /// The keeping rules, in the order given. Plan reasons refer to them by index.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// `min=N`: the `N` newest snapshots are always kept (0 = no minimum).
    pub fn min_count(&self) -> u32 {
        self.min_count
    }

    /// `pin=PROP`: user properties that pin a snapshot when set to anything but `""`, `-`,
    /// `off`, `no`, `false` or `0` (the `pinned` fact always pins too).
    pub fn pin_properties(&self) -> &[String] {
        &self.pins
    }

    /// `space=SIZE`: once the rules have decided, kept snapshots are thinned evenly until the
    /// sum of `used` of the kept ones is at most this many bytes (or no candidate is left).
    ///
    /// Candidates are the kept snapshots that no safety rule protects, that are not among the
    /// `min=` newest, and whose `used` is above 0 (one that holds nothing by this count frees
    /// nothing: destroying it would only lose history). For two consecutive kept snapshots `a` older than `b`, the gap/age
    /// ratio is `(b - a) / (now - a)` in creation times, with `now` at most the idle cap past the
    /// newest snapshot: the share of
    /// `a`'s age that the gap spans, between 0 and 1 (it is `r / (1 + r)` for the restore
    /// ratio `r = (b - a) / (now - b)` of the simulator). Each step destroys the candidate
    /// whose loss leaves the smallest ratio for the gap it merges (so the worst ratio of the
    /// history grows as little as possible); ties go to the newer candidate; the oldest kept
    /// snapshot goes only when it is the last candidate left. Each one is explained by
    /// [`Reason::SpaceThinned`](super::Reason::SpaceThinned). Survivors are then planned
    /// again until stable, so that applying the plan and planning again destroys nothing more.
    pub fn space_budget(&self) -> Option<u64> {
        self.space
    }

    /// `idle=DUR` (default one day): ages for `within=`, `bursts(...)` and `changes(...)` are
    /// measured in *active time*, in which a gap between two consecutive snapshots, or
    /// between the newest snapshot and `now`, counts at most this much. A machine that was
    /// asleep or off for three weeks has aged by one idle cap, not three weeks.
    pub fn idle_cap(&self) -> Duration {
        self.idle_cap
    }
}

/// Builder for [`RetentionPolicy`] (`&mut self` methods, then [`build`](Self::build)).
///
/// ```
/// use flocker_core::retention::{CalendarUnit, RetentionPolicy};
/// use std::time::Duration;
///
/// let policy = RetentionPolicy::builder()
///     .calendar(48, CalendarUnit::Hour)
///     .calendar(30, CalendarUnit::Day)
///     .within(Duration::from_secs(6 * 3600))
///     .min_count(10)
///     .build()
///     .unwrap();
/// assert_eq!(policy.to_string(), "48x1h,30x1d,within=6h,min=10");
/// assert_eq!(policy.to_string().parse::<RetentionPolicy>().unwrap(), policy);
/// ```
#[derive(Debug, Clone)]
pub struct RetentionPolicyBuilder {
    rules: Vec<Rule>,
    min_count: u32,
    pins: Vec<String>,
    space: Option<u64>,
    idle_cap: Duration,
}

impl Default for RetentionPolicyBuilder {
    fn default() -> Self {
        RetentionPolicyBuilder {
            rules: Vec::new(),
            min_count: 0,
            pins: Vec::new(),
            space: None,
            idle_cap: DEFAULT_IDLE_CAP,
        }
    }
}

impl RetentionPolicyBuilder {
    /// Adds any rule.
    pub fn rule(&mut self, rule: Rule) -> &mut Self {
        self.rules.push(rule);
        self
    }

    /// Adds `NxU`: the first snapshot of each of the `count` newest local `unit`s with snapshots.
    pub fn calendar(&mut self, count: u32, unit: CalendarUnit) -> &mut Self {
        self.rule(Rule::Calendar(CalendarRule::new(count, unit)))
    }

    /// Adds `NxKU`: like [`calendar`](Self::calendar) with periods of `every` units.
    pub fn calendar_every(&mut self, count: u32, every: u32, unit: CalendarUnit) -> &mut Self {
        self.rule(Rule::Calendar(CalendarRule { count, every, unit }))
    }

    /// Adds a zrepl-style grid made of `groups`, newest first.
    pub fn grid(&mut self, groups: impl IntoIterator<Item = GridGroup>) -> &mut Self {
        self.rule(Rule::Grid(GridRule {
            groups: groups.into_iter().collect(),
        }))
    }

    /// Adds `within=DUR`.
    pub fn within(&mut self, window: Duration) -> &mut Self {
        self.rule(Rule::Within(window))
    }

    /// Adds `bursts(for=horizon,gap=gap,quiet=quiet)`.
    pub fn bursts(&mut self, horizon: Duration, gap: Duration, quiet: u64) -> &mut Self {
        self.rule(Rule::Bursts(BurstRule {
            horizon,
            gap,
            quiet,
        }))
    }

    /// Adds `changes(for=horizon,size=size)`.
    pub fn changes(&mut self, horizon: Duration, size: u64) -> &mut Self {
        self.rule(Rule::Changes(ChangeRule { horizon, size }))
    }

    /// Sets `min=N`.
    pub fn min_count(&mut self, n: u32) -> &mut Self {
        self.min_count = n;
        self
    }

    /// Adds `pin=PROP`.
    pub fn pin_property(&mut self, property: impl Into<String>) -> &mut Self {
        self.pins.push(property.into());
        self
    }

    /// Sets `space=SIZE` (bytes), or removes it with `None`.
    pub fn space_budget(&mut self, bytes: Option<u64>) -> &mut Self {
        self.space = bytes;
        self
    }

    /// Sets `idle=DUR`.
    pub fn idle_cap(&mut self, cap: Duration) -> &mut Self {
        self.idle_cap = cap;
        self
    }

    /// Validates and returns the policy.
    pub fn build(&self) -> Result<RetentionPolicy, PolicyError> {
        for rule in &self.rules {
            validate_rule(rule)?;
        }
        if self.idle_cap.as_secs() == 0 {
            return Err(PolicyError::ZeroDuration { what: "idle" });
        }
        for pin in &self.pins {
            if !valid_user_property(pin) {
                return Err(PolicyError::BadPinProperty(pin.clone()));
            }
        }
        if self.rules.is_empty() && self.min_count == 0 {
            return Err(PolicyError::NoRules);
        }
        Ok(RetentionPolicy {
            rules: self.rules.iter().map(whole_seconds).collect(),
            min_count: self.min_count,
            pins: self.pins.clone(),
            space: self.space,
            idle_cap: Duration::from_secs(self.idle_cap.as_secs()),
        })
    }
}

/// A ZFS user property name as `zfs set` accepts it (conservatively: lowercase only).
pub(crate) fn valid_user_property(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name.contains(':')
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b':' | b'_' | b'-' | b'.')
        })
}

/// Formats a whole number of seconds with the largest unit that divides it (`y` = 365 d).
pub(crate) fn fmt_duration(f: &mut fmt::Formatter<'_>, d: Duration) -> fmt::Result {
    let s = d.as_secs();
    for (unit, suffix) in [
        (YEAR, "y"),
        (WEEK, "w"),
        (DAY, "d"),
        (HOUR, "h"),
        (MINUTE, "min"),
    ] {
        if s != 0 && s.is_multiple_of(unit) {
            return write!(f, "{}{}", s / unit, suffix);
        }
    }
    write!(f, "{s}s")
}

/// Formats bytes with the largest binary unit that divides it.
pub(crate) fn fmt_size(f: &mut fmt::Formatter<'_>, bytes: u64) -> fmt::Result {
    for (shift, suffix) in [
        (60, "E"),
        (50, "P"),
        (40, "T"),
        (30, "G"),
        (20, "M"),
        (10, "K"),
    ] {
        let unit = 1u64 << shift;
        if bytes != 0 && bytes.is_multiple_of(unit) {
            return write!(f, "{}{}", bytes / unit, suffix);
        }
    }
    write!(f, "{bytes}")
}

struct D(Duration);
impl fmt::Display for D {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_duration(f, self.0)
    }
}
struct S(u64);
impl fmt::Display for S {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_size(f, self.0)
    }
}

impl fmt::Display for CalendarRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}{}", self.count, self.every, self.unit.suffix())
    }
}

impl fmt::Display for GridGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}", self.count, D(self.length))?;
        match self.keep {
            GridKeep::Oldest(1) => Ok(()),
            GridKeep::Oldest(n) => write!(f, "(keep={n})"),
            GridKeep::All => write!(f, "(keep=all)"),
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rule::Calendar(c) => c.fmt(f),
            Rule::Grid(g) => {
                f.write_str("grid(")?;
                for (i, group) in g.groups.iter().enumerate() {
                    if i > 0 {
                        f.write_str("|")?;
                    }
                    group.fmt(f)?;
                }
                f.write_str(")")
            }
            Rule::Within(d) => write!(f, "within={}", D(*d)),
            Rule::Bursts(b) => write!(
                f,
                "bursts(for={},gap={},quiet={})",
                D(b.horizon),
                D(b.gap),
                S(b.quiet)
            ),
            Rule::Changes(c) => write!(f, "changes(for={},size={})", D(c.horizon), S(c.size)),
        }
    }
}

impl fmt::Display for RetentionPolicy {
    /// The canonical textual form: rules in order, then `min`, `pin`s, `space`, `idle` (the
    /// last only when not the default).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        let mut sep = |f: &mut fmt::Formatter<'_>| {
            if first {
                first = false;
                Ok(())
            } else {
                f.write_str(",")
            }
        };
        for rule in &self.rules {
            sep(f)?;
            rule.fmt(f)?;
        }
        if self.min_count > 0 {
            sep(f)?;
            write!(f, "min={}", self.min_count)?;
        }
        for pin in &self.pins {
            sep(f)?;
            write!(f, "pin={pin}")?;
        }
        if let Some(space) = self.space {
            sep(f)?;
            write!(f, "space={}", S(space))?;
        }
        if self.idle_cap != DEFAULT_IDLE_CAP {
            sep(f)?;
            write!(f, "idle={}", D(self.idle_cap))?;
        }
        Ok(())
    }
}

/// Checks one rule's numbers (counts at least 1, durations at least a second).
pub(crate) fn validate_rule(rule: &Rule) -> Result<(), PolicyError> {
    fn dur(d: Duration, what: &'static str) -> Result<(), PolicyError> {
        if d.as_secs() == 0 {
            Err(PolicyError::ZeroDuration { what })
        } else {
            Ok(())
        }
    }
    fn count(n: u32, what: &'static str) -> Result<(), PolicyError> {
        if n == 0 {
            Err(PolicyError::ZeroCount { what })
        } else {
            Ok(())
        }
    }
    match rule {
        Rule::Calendar(c) => {
            count(c.count, "a calendar rule's count")?;
            count(c.every, "a calendar rule's period multiple")?;
        }
        Rule::Grid(g) => {
            if g.groups.is_empty() {
                return Err(PolicyError::EmptyGrid);
            }
            for group in &g.groups {
                count(group.count, "a grid group's bucket count")?;
                dur(group.length, "a grid bucket's length")?;
                if let GridKeep::Oldest(k) = group.keep {
                    count(k, "a grid bucket's keep")?;
                }
            }
        }
        Rule::Within(d) => dur(*d, "within")?,
        Rule::Bursts(b) => {
            dur(b.horizon, "bursts(for=)")?;
            dur(b.gap, "bursts(gap=)")?;
        }
        Rule::Changes(c) => {
            dur(c.horizon, "changes(for=)")?;
            if c.size == 0 {
                return Err(PolicyError::ZeroCount {
                    what: "changes(size=)",
                });
            }
        }
    }
    Ok(())
}

/// The rule with every duration truncated to whole seconds (the textual form has no fractions).
fn whole_seconds(rule: &Rule) -> Rule {
    let t = |d: Duration| Duration::from_secs(d.as_secs());
    match rule {
        Rule::Calendar(c) => Rule::Calendar(*c),
        Rule::Grid(g) => Rule::Grid(GridRule {
            groups: g
                .groups
                .iter()
                .map(|x| GridGroup {
                    length: t(x.length),
                    ..*x
                })
                .collect(),
        }),
        Rule::Within(d) => Rule::Within(t(*d)),
        Rule::Bursts(b) => Rule::Bursts(BurstRule {
            horizon: t(b.horizon),
            gap: t(b.gap),
            quiet: b.quiet,
        }),
        Rule::Changes(c) => Rule::Changes(ChangeRule {
            horizon: t(c.horizon),
            size: c.size,
        }),
    }
}
