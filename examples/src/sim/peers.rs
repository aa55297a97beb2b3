//! Peers' documented retention rules (see shared ANCHORS.md), and ours through flocker-core.
//!
//! Every peer takes a *shape* and a scale factor `f`. Shape 0 at `f` = 1.0 is its documented
//! default (or documented example); further shapes add the levels its configuration language
//! allows but its default lacks (a yearly level, a weekly one, a longer grid group); `f` scales
//! the counts (or durations). The simulator tunes a peer by trying each shape at the largest
//! factor that keeps no more snapshots than ours, and keeps the shape that does best.

use std::collections::HashMap;

use flocker_core::name::SnapshotName;
use flocker_core::retention::{
    Decision, KeepReason, PlanEntry, Reason, RetentionPolicy, SnapshotFacts, TimeZone,
};
use time::OffsetDateTime;

use super::{Civil, Policy, Snap};

const H: i64 = 3600;
const D: i64 = 86_400;

fn scale(n: u32, f: f64) -> u32 {
    ((f64::from(n) * f).round() as u32).max(if n == 0 { 0 } else { 1 })
}

fn scale_secs(s: i64, f: f64) -> i64 {
    ((s as f64) * f).round().max(1.0) as i64
}

/// The label-based tools' calendar periods.
#[derive(Clone, Copy)]
enum Per {
    Quarter,
    Hour,
    Day,
    Week,
    Month,
    QuarterYear,
    Year,
}

fn key(c: &Civil, p: Per) -> i64 {
    match p {
        Per::Quarter => c.quarters,
        Per::Hour => c.hours,
        Per::Day => c.days,
        Per::Week => c.week_mon,
        Per::Month => c.months,
        Per::QuarterYear => c.months.div_euclid(3),
        Per::Year => c.year,
    }
}

/// Labels a new snapshot with each label whose newest labelled snapshot is in an earlier
/// period (how cron-driven sanoid/zfs-auto-snapshot decide to take a snapshot of a type).
fn first_in_period_labels(existing: &[Snap], new: &Snap, labels: &[(Per, u32)]) -> u32 {
    let mut bits = 0;
    for (b, &(per, count)) in labels.iter().enumerate() {
        if count == 0 {
            continue;
        }
        let newest = existing
            .iter()
            .rev()
            .find(|s| s.labels & (1 << b) != 0)
            .map(|s| key(&s.civ, per));
        if newest.is_none_or(|k| k < key(&new.civ, per)) {
            bits |= 1 << b;
        }
    }
    bits
}

/// sanoid: per type counts; a snapshot of type T is pruned only if older than N×period and
/// more than N of that type exist. Defaults hourly 48, daily 90, monthly 6 (shape 0); shape 1
/// adds the weekly (8) and yearly (10) types its template language allows.
pub struct Sanoid {
    f: f64,
    shape: usize,
    types: Vec<(Per, u32, i64)>,
}

impl Sanoid {
    /// Shapes: 0 = defaults, 1 = with weekly and yearly.
    pub const SHAPES: usize = 2;

    /// sanoid in `shape`, scaled by `f`.
    pub fn new(shape: usize, f: f64) -> Self {
        let (weekly, yearly) = if shape == 0 { (0, 0) } else { (8, 10) };
        let types = [
            (Per::Quarter, 0, 15 * 60),
            (Per::Hour, 48, H),
            (Per::Day, 90, D),
            (Per::Week, weekly, 7 * D),
            (Per::Month, 6, 31 * D),
            (Per::Year, yearly, 31_557_600),
        ]
        .into_iter()
        .map(|(p, n, period)| (p, scale(n, f), period))
        .collect();
        Sanoid { f, shape, types }
    }
}

impl Policy for Sanoid {
    fn name(&self) -> String {
        match self.shape {
            0 => format!("sanoid x{:.2}", self.f),
            _ => format!("sanoid +weekly,yearly x{:.2}", self.f),
        }
    }
    fn label(&self, existing: &[Snap], new: &Snap) -> u32 {
        let l: Vec<(Per, u32)> = self.types.iter().map(|&(p, n, _)| (p, n)).collect();
        first_in_period_labels(existing, new, &l)
    }
    fn keep(&self, snaps: &[Snap], now: i64) -> Vec<bool> {
        let mut labels: Vec<u32> = snaps.iter().map(|s| s.labels).collect();
        for (b, &(_, n, period)) in self.types.iter().enumerate() {
            let bit = 1u32 << b;
            let mut count = labels.iter().filter(|l| *l & bit != 0).count() as i64;
            for (i, s) in snaps.iter().enumerate() {
                if labels[i] & bit != 0
                    && count > i64::from(n)
                    && now - s.clock_t > i64::from(n) * period
                {
                    labels[i] &= !bit;
                    count -= 1;
                }
            }
        }
        labels.iter().map(|&l| l != 0).collect()
    }
}

/// zrepl grid `1x1h(keep=all) | 24x1h | 14x1d` (shape 0; shape 1 adds `| 6x30d | 10x365d`,
/// the longer groups its grid language allows), anchored at the youngest snapshot, as zrepl's
/// `retentiongrid` does: the youngest snapshot (and any dated at or after it) is kept; the
/// grid's intervals are laid end to end going back from it, each interval `(start, start +
/// length]` in age (an age equal to an edge belongs to the younger interval), so empty
/// intervals count; each keeps its `keep` oldest; older than the whole grid is destroyed.
pub struct Zrepl {
    f: f64,
    shape: usize,
    groups: Vec<(u32, i64, Option<u32>)>,
}

impl Zrepl {
    /// Shapes: 0 = the documented grid, 1 = with monthly and yearly groups.
    pub const SHAPES: usize = 2;

    /// zrepl in `shape`, the bucket counts of the groups after the first scaled by `f`.
    pub fn new(shape: usize, f: f64) -> Self {
        let mut groups = vec![(1, H, None), (24, H, Some(1)), (14, D, Some(1))];
        if shape > 0 {
            groups.push((6, 30 * D, Some(1)));
            groups.push((10, 365 * D, Some(1)));
        }
        for g in groups.iter_mut().skip(1) {
            g.0 = scale(g.0, f);
        }
        Zrepl { f, shape, groups }
    }

    /// A grid given as (count, length in seconds, keep; `None` = all), unscaled.
    #[cfg(test)]
    pub fn grid(groups: Vec<(u32, i64, Option<u32>)>) -> Self {
        Zrepl {
            f: 1.0,
            shape: 0,
            groups,
        }
    }
}

impl Policy for Zrepl {
    fn name(&self) -> String {
        match self.shape {
            0 => format!("zrepl x{:.2}", self.f),
            _ => format!("zrepl +30d,365d x{:.2}", self.f),
        }
    }
    fn keep(&self, snaps: &[Snap], _now: i64) -> Vec<bool> {
        let Some(anchor) = snaps.iter().map(|s| s.clock_t).max() else {
            return Vec::new();
        };
        // One interval per bucket: (group, oldest edge in age).
        let mut edges: Vec<(usize, i64)> = Vec::new();
        let mut edge = 0i64;
        for (g, &(count, len, _)) in self.groups.iter().enumerate() {
            for _ in 0..count {
                edge += len;
                edges.push((g, edge));
            }
        }
        let mut buckets: Vec<Vec<usize>> = vec![Vec::new(); edges.len()];
        let mut keep = vec![false; snaps.len()];
        for (i, s) in snaps.iter().enumerate() {
            let age = anchor - s.clock_t;
            if age <= 0 {
                keep[i] = true;
                continue;
            }
            // The first interval whose oldest edge is at or beyond the age.
            let b = edges.partition_point(|&(_, e)| e < age);
            if let Some(bucket) = buckets.get_mut(b) {
                bucket.push(i);
            }
        }
        for (b, mut members) in buckets.into_iter().enumerate() {
            members.sort_by_key(|&i| (snaps[i].clock_t, snaps[i].id));
            let n = match self.groups[edges[b].0].2 {
                None => members.len(),
                Some(k) => k as usize,
            };
            members.iter().take(n).for_each(|&i| keep[i] = true);
        }
        keep
    }
}

/// znapzend `7d=>1h,30d=>4h,90d=>1d,1y=>1w` (shape 0; shape 1 adds `10y=>30d`, a longer
/// band its plan language allows): age bands, epoch-aligned slots of the band's interval, the
/// oldest per slot; never the newest; no minimum count.
pub struct Znapzend {
    f: f64,
    shape: usize,
    bands: Vec<(i64, i64)>,
}

impl Znapzend {
    /// Shapes: 0 = the documented plan, 1 = with a ten-year band of 30-day slots.
    pub const SHAPES: usize = 2;

    /// znapzend in `shape`, band retentions scaled by `f`.
    pub fn new(shape: usize, f: f64) -> Self {
        let mut bands = vec![(7 * D, H), (30 * D, 4 * H), (90 * D, D), (365 * D, 7 * D)];
        if shape > 0 {
            bands.push((3650 * D, 30 * D));
        }
        Znapzend {
            f,
            shape,
            bands: bands
                .into_iter()
                .map(|(r, i)| (scale_secs(r, f), i))
                .collect(),
        }
    }
}

impl Policy for Znapzend {
    fn name(&self) -> String {
        match self.shape {
            0 => format!("znapzend x{:.2}", self.f),
            _ => format!("znapzend +10y=>30d x{:.2}", self.f),
        }
    }
    fn keep(&self, snaps: &[Snap], now: i64) -> Vec<bool> {
        let mut keep = vec![false; snaps.len()];
        let mut slots: HashMap<(usize, i64), usize> = HashMap::new();
        for (i, s) in snaps.iter().enumerate() {
            let age = now - s.clock_t;
            if let Some(b) = self.bands.iter().position(|&(r, _)| age < r) {
                let slot = s.clock_t.div_euclid(self.bands[b].1);
                let e = slots.entry((b, slot)).or_insert(i);
                if (snaps[*e].clock_t, snaps[*e].id) > (s.clock_t, s.id) {
                    *e = i;
                }
            }
        }
        for &i in slots.values() {
            keep[i] = true;
        }
        if let Some(last) = keep.last_mut() {
            *last = true;
        }
        keep
    }
}

/// zfs-auto-snapshot: per label keep the newest N (frequent 4, hourly 24, daily 31, weekly 8,
/// monthly 12; shape 1 adds a yearly label, 10, as its `--label` and cron allow).
pub struct AutoSnapshot {
    f: f64,
    shape: usize,
    labels: Vec<(Per, u32)>,
}

impl AutoSnapshot {
    /// Shapes: 0 = the packaged cron jobs, 1 = with a yearly label.
    pub const SHAPES: usize = 2;

    /// zfs-auto-snapshot in `shape`, scaled by `f`.
    pub fn new(shape: usize, f: f64) -> Self {
        let mut labels = vec![
            (Per::Quarter, 4),
            (Per::Hour, 24),
            (Per::Day, 31),
            (Per::Week, 8),
            (Per::Month, 12),
        ];
        if shape > 0 {
            labels.push((Per::Year, 10));
        }
        AutoSnapshot {
            f,
            shape,
            labels: labels.into_iter().map(|(p, n)| (p, scale(n, f))).collect(),
        }
    }
}

impl Policy for AutoSnapshot {
    fn name(&self) -> String {
        match self.shape {
            0 => format!("zfs-auto-snapshot x{:.2}", self.f),
            _ => format!("zfs-auto-snapshot +yearly x{:.2}", self.f),
        }
    }
    fn label(&self, existing: &[Snap], new: &Snap) -> u32 {
        first_in_period_labels(existing, new, &self.labels)
    }
    fn keep(&self, snaps: &[Snap], _now: i64) -> Vec<bool> {
        let mut keep = vec![false; snaps.len()];
        for (b, &(_, n)) in self.labels.iter().enumerate() {
            snaps
                .iter()
                .enumerate()
                .rev()
                .filter(|(_, s)| s.labels & (1 << b) != 0)
                .take(n as usize)
                .for_each(|(i, _)| keep[i] = true);
        }
        keep
    }
}

/// snapper timeline: the first snapshot of each local hour/day/week/month/quarter/year while
/// each budget lasts (defaults 10/10/0/10/0/10; shape 1 sets the weekly and quarterly limits
/// to 10), counting only periods with snapshots; snapshots younger than TIMELINE_MIN_AGE
/// (1800 s) are kept.
pub struct Snapper {
    f: f64,
    shape: usize,
    limits: Vec<(Per, u32)>,
}

impl Snapper {
    /// Shapes: 0 = defaults, 1 = with weekly and quarterly limits.
    pub const SHAPES: usize = 2;

    /// snapper in `shape`, scaled by `f`.
    pub fn new(shape: usize, f: f64) -> Self {
        let extra = if shape == 0 { 0 } else { 10 };
        Snapper {
            f,
            shape,
            limits: [
                (Per::Hour, 10),
                (Per::Day, 10),
                (Per::Week, extra),
                (Per::Month, 10),
                (Per::QuarterYear, extra),
                (Per::Year, 10),
            ]
            .into_iter()
            .map(|(p, n)| (p, scale(n, f)))
            .collect(),
        }
    }
}

impl Policy for Snapper {
    fn name(&self) -> String {
        match self.shape {
            0 => format!("snapper x{:.2}", self.f),
            _ => format!("snapper +weekly,quarterly x{:.2}", self.f),
        }
    }
    fn keep(&self, snaps: &[Snap], now: i64) -> Vec<bool> {
        let mut keep: Vec<bool> = snaps.iter().map(|s| now - s.clock_t < 1800).collect();
        for &(per, n) in &self.limits {
            let mut left = n;
            for i in (0..snaps.len()).rev() {
                if left == 0 {
                    break;
                }
                let first = i == 0 || key(&snaps[i - 1].civ, per) != key(&snaps[i].civ, per);
                if first {
                    keep[i] = true;
                    left -= 1;
                }
            }
        }
        keep
    }
}

/// btrbk: `snapshot_preserve_min` and `snapshot_preserve [Nh] [Nd] [Nw] [Nm] [Ny]`.
/// Shape 0 is btrbk's documented default, `snapshot_preserve_min all`: every snapshot is
/// kept and `snapshot_preserve` has no effect. Shape 1: `preserve_min latest`, `preserve 14d
/// 4w 6m`; shape 2: `preserve_min latest`, `preserve 48h 14d 4w 12m 10y` (every level its
/// language has). Hierarchical first-of-period: hourly = first of an hour, daily = first of a
/// day, weekly = first daily of a week starting Sunday (`preserve_day_of_week`), monthly =
/// first weekly in a month, yearly = first monthly in a year; each kept while fewer than N
/// such local periods back from `now`.
pub struct Btrbk {
    f: f64,
    shape: usize,
    /// Hours, days, weeks, months, years.
    counts: [u32; 5],
    tz: TimeZone,
}

impl Btrbk {
    /// Shapes: 0 = defaults (keep all), 1 = `14d 4w 6m`, 2 = `48h 14d 4w 12m 10y`.
    pub const SHAPES: usize = 3;

    /// btrbk in `shape`, counts scaled by `f`.
    pub fn new(shape: usize, f: f64, tz: TimeZone) -> Self {
        let counts = match shape {
            0 | 1 => [0, 14, 4, 6, 0],
            _ => [48, 14, 4, 12, 10],
        };
        Btrbk {
            f,
            shape,
            counts: counts.map(|n| scale(n, f)),
            tz,
        }
    }
}

impl Policy for Btrbk {
    fn name(&self) -> String {
        match self.shape {
            0 => "btrbk (preserve_min all)".into(),
            1 => format!("btrbk 14d 4w 6m x{:.2}", self.f),
            _ => format!("btrbk 48h 14d 4w 12m 10y x{:.2}", self.f),
        }
    }
    fn keep(&self, snaps: &[Snap], now: i64) -> Vec<bool> {
        if self.shape == 0 {
            return vec![true; snaps.len()];
        }
        let now_c = super::civil(now, &self.tz);
        let [hours, days, weeks, months, years] = self.counts.map(i64::from);
        let mut keep = vec![false; snaps.len()];
        let (mut hour, mut day, mut week, mut month, mut year) = (None, None, None, None, None);
        for (i, s) in snaps.iter().enumerate() {
            let c = &s.civ;
            if hour != Some(c.hours) {
                hour = Some(c.hours);
                keep[i] |= now_c.hours - c.hours < hours;
            }
            if day == Some(c.days) {
                continue;
            }
            day = Some(c.days);
            keep[i] |= now_c.days - c.days < days;
            if week == Some(c.week_sun) {
                continue;
            }
            week = Some(c.week_sun);
            keep[i] |= now_c.week_sun - c.week_sun < weeks;
            if month == Some(c.months) {
                continue;
            }
            month = Some(c.months);
            keep[i] |= now_c.months - c.months < months;
            if year == Some(c.year) {
                continue;
            }
            year = Some(c.year);
            keep[i] |= now_c.year - c.year < years;
        }
        // preserve_min latest.
        if let Some(last) = keep.last_mut() {
            *last = true;
        }
        keep
    }
}

/// restic forget `--keep-hourly 24 --keep-daily 7 --keep-weekly 5 --keep-monthly 12
/// --keep-yearly 10`: the newest snapshot of each bucket, counting only buckets with snapshots.
/// This already uses every calendar level restic has, so it has one shape.
pub struct Restic {
    f: f64,
    limits: Vec<(Per, u32)>,
}

impl Restic {
    /// One shape.
    pub const SHAPES: usize = 1;

    /// restic scaled by `f` (`_shape` is always 0).
    pub fn new(_shape: usize, f: f64) -> Self {
        Restic {
            f,
            limits: [
                (Per::Hour, 24),
                (Per::Day, 7),
                (Per::Week, 5),
                (Per::Month, 12),
                (Per::Year, 10),
            ]
            .into_iter()
            .map(|(p, n)| (p, scale(n, f)))
            .collect(),
        }
    }
}

impl Policy for Restic {
    fn name(&self) -> String {
        format!("restic x{:.2}", self.f)
    }
    fn keep(&self, snaps: &[Snap], _now: i64) -> Vec<bool> {
        let mut keep = vec![false; snaps.len()];
        // restic sorts by time, newest first; future-dated snapshots take part like others.
        let mut idx: Vec<usize> = (0..snaps.len()).collect();
        idx.sort_by_key(|&i| std::cmp::Reverse((snaps[i].clock_t, snaps[i].id)));
        for &(per, n) in &self.limits {
            let mut left = n;
            let mut last = None;
            for &i in &idx {
                if left == 0 {
                    break;
                }
                let k = key(&snaps[i].civ, per);
                if last != Some(k) {
                    keep[i] = true;
                    left -= 1;
                    last = Some(k);
                }
            }
        }
        keep
    }
}

/// Time Machine: hourly for 24 h, daily for a month, weekly until the disk is full
/// (`cap` = the disk: at most that many snapshots, oldest weekly ones go first).
pub struct TimeMachine {
    cap: Option<usize>,
}

impl TimeMachine {
    /// With an optional snapshot cap standing for a full disk.
    pub fn new(cap: Option<usize>) -> Self {
        TimeMachine { cap }
    }
}

impl Policy for TimeMachine {
    fn name(&self) -> String {
        match self.cap {
            None => "time-machine".into(),
            Some(c) => format!("time-machine cap {c}"),
        }
    }
    fn keep(&self, snaps: &[Snap], now: i64) -> Vec<bool> {
        let mut keep = vec![false; snaps.len()];
        let mut last: Option<(u8, i64)> = None;
        for (i, s) in snaps.iter().enumerate() {
            let age = now - s.clock_t;
            let k = if age < D {
                (0, s.civ.hours)
            } else if age < 30 * D {
                (1, s.civ.days)
            } else {
                (2, s.civ.week_mon)
            };
            if last != Some(k) {
                keep[i] = true;
                last = Some(k);
            }
        }
        if let Some(l) = keep.last_mut() {
            *l = true;
        }
        if let Some(cap) = self.cap {
            let mut n = keep.iter().filter(|k| **k).count();
            for k in keep.iter_mut() {
                if n <= cap {
                    break;
                }
                if *k {
                    *k = false;
                    n -= 1;
                }
            }
        }
        keep
    }
}

/// The `used` of a snapshot in the simulator: what was written since the one before, as when
/// small writes overwrite data (a database, a VM image) so that each snapshot alone holds
/// them; a write of 1 GiB or more stands for new files that stay live, held by no snapshot
/// alone (0).
pub fn used(s: &Snap) -> u64 {
    if s.written >= 1 << 30 { 0 } else { s.written }
}

/// Ours: a flocker-core [`RetentionPolicy`] (creation = the clock, createtxg = order, `used`
/// from [`used`]).
pub struct Ours {
    label: String,
    policy: RetentionPolicy,
    tz: TimeZone,
    /// `Some((budget, skip_zero))`: the space target applied oldest-first (the planner's
    /// behaviour before even thinning; `skip_zero`: sparing snapshots whose `used` is 0, as
    /// thinning does) after planning with the policy's rules alone.
    oldest_first: Option<(u64, bool)>,
    /// `Some(bytes)`: every snapshot's `used` is this, instead of [`used`].
    equal_used: Option<u64>,
}

impl Ours {
    /// Our policy in the given zone.
    pub fn new(label: &str, policy: RetentionPolicy, tz: TimeZone) -> Self {
        Ours {
            label: label.into(),
            policy,
            tz,
            oldest_first: None,
            equal_used: None,
        }
    }

    /// The same with every snapshot's `used` equal to `bytes`.
    pub fn with_equal_used(mut self, bytes: u64) -> Self {
        self.equal_used = Some(bytes);
        self
    }

    fn used(&self, s: &Snap) -> u64 {
        self.equal_used.unwrap_or_else(|| used(s))
    }

    /// Our policy's rules, then a space target of `budget` bytes that destroys the oldest
    /// unprotected kept snapshots first (not the `min=` newest; not those whose `used` is 0
    /// if `skip_zero`), for comparison.
    pub fn oldest_first(
        label: &str,
        policy: RetentionPolicy,
        budget: u64,
        skip_zero: bool,
        tz: TimeZone,
    ) -> Self {
        let mut b = RetentionPolicy::builder();
        for r in policy.rules() {
            b.rule(r.clone());
        }
        for p in policy.pin_properties() {
            b.pin_property(p);
        }
        b.min_count(policy.min_count()).idle_cap(policy.idle_cap());
        Ours {
            label: label.into(),
            policy: b.build().unwrap_or(policy),
            tz,
            oldest_first: Some((budget, skip_zero)),
            equal_used: None,
        }
    }
}

/// The name of simulated snapshot `id` (`sim/fs@sID`).
fn sim_name(id: u64) -> SnapshotName {
    SnapshotName::new(format!("sim/fs@s{id}")).expect("`sim/fs@s` and digits is a valid name")
}

fn odt(t: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(t).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

impl Policy for Ours {
    fn name(&self) -> String {
        self.label.clone()
    }
    fn keep(&self, snaps: &[Snap], now: i64) -> Vec<bool> {
        let facts: Vec<SnapshotFacts> = snaps
            .iter()
            .map(|s| {
                let mut f = SnapshotFacts::new(sim_name(s.id), s.id, s.id + 1, odt(s.clock_t));
                f.written = s.written;
                f.used = self.used(s);
                f
            })
            .collect();
        let plan = self.policy.plan(&facts, odt(now), &self.tz);
        let mut keep: Vec<bool> = plan
            .entries
            .iter()
            .map(|e| e.decision == Decision::Keep)
            .collect();
        if let Some((budget, skip_zero)) = self.oldest_first {
            let spared = |e: &PlanEntry| {
                e.reasons.iter().any(|r| {
                    matches!(
                        r,
                        Reason::Protected(_) | Reason::Kept(KeepReason::Minimum { .. })
                    )
                })
            };
            let mut total: u128 = (0..snaps.len())
                .filter(|&i| keep[i])
                .map(|i| u128::from(self.used(&snaps[i])))
                .sum();
            let mut order: Vec<usize> = (0..snaps.len()).collect();
            order.sort_by_key(|&i| (snaps[i].clock_t, snaps[i].id));
            for i in order {
                if total <= u128::from(budget) {
                    break;
                }
                if keep[i] && !spared(&plan.entries[i]) && !(skip_zero && self.used(&snaps[i]) == 0)
                {
                    keep[i] = false;
                    total -= u128::from(self.used(&snaps[i]));
                }
            }
        }
        keep
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: i64 = 60;
    const T: i64 = 1_704_067_200; // 2024-01-01 00:00 UTC

    /// Snapshots at the given unix times (any order), ids in time order.
    fn snaps(times: &[i64]) -> Vec<Snap> {
        let mut t = times.to_vec();
        t.sort_unstable();
        t.iter()
            .enumerate()
            .map(|(k, &t)| Snap {
                id: k as u64,
                true_t: t,
                clock_t: t,
                written: 0,
                civ: super::super::civil(t, &TimeZone::UTC),
                labels: 0,
            })
            .collect()
    }

    fn kept_ages(p: &dyn Policy, times: &[i64]) -> Vec<i64> {
        let s = snaps(times);
        let anchor = s.iter().map(|s| s.clock_t).max().unwrap_or(0);
        let keep = p.keep(&s, anchor);
        let mut ages: Vec<i64> = s
            .iter()
            .zip(keep)
            .filter(|(_, k)| *k)
            .map(|(s, _)| (anchor - s.clock_t) / M)
            .collect();
        ages.sort_unstable();
        ages
    }

    /// zrepl's retention grid test example (pruning/retentiongrid), with its reference time
    /// at the youngest snapshot as zrepl's grid keep rule sets it: `10m(keep=all) | 10m |
    /// 10m(keep=2) | 1h`. Intervals are `(start, end]` in age; an interval with keep=2 keeps
    /// its two oldest; older than the grid is destroyed.
    #[test]
    fn zrepl_grid_follows_zrepls_example() {
        let grid = Zrepl::grid(vec![
            (1, 10 * M, None),
            (1, 10 * M, Some(1)),
            (1, 10 * M, Some(2)),
            (1, H, Some(1)),
        ]);
        // Ages in minutes: youngest 0; 6, 8, 9 (first interval, all kept); 11 and 19 (second:
        // its oldest, 19); 25, 26 and 30 (third: its two oldest, 26 and 30 — 30 is the edge,
        // which belongs to the younger interval); 75 (fourth); 91 and 120 beyond the grid.
        let ages = [0, 6, 8, 9, 11, 19, 25, 26, 30, 75, 91, 120];
        let times: Vec<i64> = ages.iter().map(|a| T - a * M).collect();
        assert_eq!(kept_ages(&grid, &times), [0, 6, 8, 9, 19, 26, 30, 75]);
    }

    /// zrepl's boundary example: `10m | 10m | 10m`; 10 minutes is in the first interval, 30
    /// in the third, 40 beyond.
    #[test]
    fn zrepl_grid_interval_edges_belong_to_the_younger_interval() {
        let grid = Zrepl::grid(vec![(3, 10 * M, Some(1))]);
        let times: Vec<i64> = [0, 10, 20, 30, 40].iter().map(|a| T - a * M).collect();
        assert_eq!(kept_ages(&grid, &times), [0, 10, 20, 30]);
        // Two in one interval: the older stays.
        let times: Vec<i64> = [0, 5, 10, 15, 20].iter().map(|a| T - a * M).collect();
        assert_eq!(kept_ages(&grid, &times), [0, 10, 20]);
    }

    /// zrepl's documented grid `1x1h(keep=all) | 24x1h | 35x1d | 6x30d` over hourly
    /// snapshots: the youngest, the one an hour old, 24 hourly, 35 daily and 6 thirty-day
    /// buckets; empty buckets count, so after a gap fewer are kept.
    #[test]
    fn zrepl_documented_grid_counts_empty_buckets() {
        let grid = Zrepl::grid(vec![
            (1, H, None),
            (24, H, Some(1)),
            (35, D, Some(1)),
            (6, 30 * D, Some(1)),
        ]);
        let hourly: Vec<i64> = (0..300 * 24).map(|k| T - k * H).collect();
        assert_eq!(kept_ages(&grid, &hourly).len(), 1 + 1 + 24 + 35 + 6);
        // The same history, then ten idle days and one snapshot: the empty buckets still
        // count (our grid(...) rule would not count them). Ages from the new youngest start at
        // 240 h: the first interval and the hourly group are empty, the daily buckets
        // (25 h + 24j, 49 h + 24j] hold snapshots from j = 8 (217, 241] to j = 34: 27 of 35.
        let mut idle = hourly.clone();
        idle.push(T + 10 * D);
        assert_eq!(kept_ages(&grid, &idle).len(), 1 + 27 + 6);
    }

    #[test]
    fn btrbk_default_keeps_everything_and_levels_add_up() {
        let hourly: Vec<i64> = (0..400 * 24).map(|k| T - k * H).collect();
        let all = Btrbk::new(0, 1.0, TimeZone::UTC);
        assert_eq!(kept_ages(&all, &hourly).len(), hourly.len());
        let short = kept_ages(&Btrbk::new(1, 1.0, TimeZone::UTC), &hourly).len();
        let full = kept_ages(&Btrbk::new(2, 1.0, TimeZone::UTC), &hourly).len();
        assert!(full > short, "{full} > {short}");
    }
}
