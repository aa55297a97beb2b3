//! Peers' documented retention rules (see shared ANCHORS.md), and ours through flocker-core.
//!
//! Every peer takes a scale factor `f`: 1.0 is its documented default (or documented
//! example), other values scale its counts (or durations), which is how the simulator tunes a
//! peer to keep as many snapshots as ours.

use std::collections::HashMap;

use flocker_core::retention::{Decision, RetentionPolicy, SnapshotFacts, TimeZone};
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
    Year,
}

fn key(c: &Civil, p: Per) -> i64 {
    match p {
        Per::Quarter => c.quarters,
        Per::Hour => c.hours,
        Per::Day => c.days,
        Per::Week => c.week_mon,
        Per::Month => c.months,
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
/// more than N of that type exist. Defaults hourly 48, daily 90, monthly 6.
pub struct Sanoid {
    f: f64,
    types: Vec<(Per, u32, i64)>,
}

impl Sanoid {
    /// sanoid scaled by `f`.
    pub fn new(f: f64) -> Self {
        let types = [
            (Per::Quarter, 0, 15 * 60),
            (Per::Hour, 48, H),
            (Per::Day, 90, D),
            (Per::Week, 0, 7 * D),
            (Per::Month, 6, 31 * D),
            (Per::Year, 0, 31_557_600),
        ]
        .into_iter()
        .map(|(p, n, period)| (p, scale(n, f), period))
        .collect();
        Sanoid { f, types }
    }
}

impl Policy for Sanoid {
    fn name(&self) -> String {
        format!("sanoid x{:.2}", self.f)
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

/// zrepl grid `1x1h(keep=all) | 24x1h | 14x1d` anchored at the youngest snapshot; buckets keep
/// their oldest; empty buckets count; older than the grid is destroyed.
pub struct Zrepl {
    f: f64,
    groups: Vec<(u32, i64, Option<u32>)>,
}

impl Zrepl {
    /// zrepl scaled by `f` (bucket counts of the 24x1h and 14x1d groups).
    pub fn new(f: f64) -> Self {
        Zrepl {
            f,
            groups: vec![
                (1, H, None),
                (scale(24, f), H, Some(1)),
                (scale(14, f), D, Some(1)),
            ],
        }
    }
}

impl Policy for Zrepl {
    fn name(&self) -> String {
        format!("zrepl x{:.2}", self.f)
    }
    fn keep(&self, snaps: &[Snap], _now: i64) -> Vec<bool> {
        let Some(anchor) = snaps.iter().map(|s| s.clock_t).max() else {
            return Vec::new();
        };
        // (group, bucket) -> members
        let mut buckets: HashMap<(usize, i64), Vec<usize>> = HashMap::new();
        let mut keep = vec![false; snaps.len()];
        for (i, s) in snaps.iter().enumerate() {
            let mut age = anchor - s.clock_t;
            for (g, &(count, len, _)) in self.groups.iter().enumerate() {
                let span = i64::from(count) * len;
                if age < span {
                    buckets.entry((g, age / len)).or_default().push(i);
                    break;
                }
                age -= span;
            }
        }
        for ((g, _), mut members) in buckets {
            match self.groups[g].2 {
                None => members.iter().for_each(|&i| keep[i] = true),
                Some(k) => {
                    members.sort_by_key(|&i| (snaps[i].clock_t, snaps[i].id));
                    members
                        .iter()
                        .take(k as usize)
                        .for_each(|&i| keep[i] = true);
                }
            }
        }
        keep
    }
}

/// znapzend `7d=>1h,30d=>4h,90d=>1d,1y=>1w`: age bands, epoch-aligned slots of the band's
/// interval, the oldest per slot; never the newest; no minimum count.
pub struct Znapzend {
    f: f64,
    bands: Vec<(i64, i64)>,
}

impl Znapzend {
    /// znapzend scaled by `f` (band retentions).
    pub fn new(f: f64) -> Self {
        Znapzend {
            f,
            bands: [(7 * D, H), (30 * D, 4 * H), (90 * D, D), (365 * D, 7 * D)]
                .into_iter()
                .map(|(r, i)| (scale_secs(r, f), i))
                .collect(),
        }
    }
}

impl Policy for Znapzend {
    fn name(&self) -> String {
        format!("znapzend x{:.2}", self.f)
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
/// monthly 12).
pub struct AutoSnapshot {
    f: f64,
    labels: Vec<(Per, u32)>,
}

impl AutoSnapshot {
    /// zfs-auto-snapshot scaled by `f`.
    pub fn new(f: f64) -> Self {
        AutoSnapshot {
            f,
            labels: [
                (Per::Quarter, 4),
                (Per::Hour, 24),
                (Per::Day, 31),
                (Per::Week, 8),
                (Per::Month, 12),
            ]
            .into_iter()
            .map(|(p, n)| (p, scale(n, f)))
            .collect(),
        }
    }
}

impl Policy for AutoSnapshot {
    fn name(&self) -> String {
        format!("zfs-auto-snapshot x{:.2}", self.f)
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
/// each budget lasts (10/10/0/10/0/10), counting only periods with snapshots; snapshots
/// younger than TIMELINE_MIN_AGE (1800 s) are kept.
pub struct Snapper {
    f: f64,
    limits: Vec<(Per, u32)>,
}

impl Snapper {
    /// snapper scaled by `f`.
    pub fn new(f: f64) -> Self {
        Snapper {
            f,
            limits: [
                (Per::Hour, 10),
                (Per::Day, 10),
                (Per::Week, 0),
                (Per::Month, 10),
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
        format!("snapper x{:.2}", self.f)
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

/// btrbk `snapshot_preserve 14d 4w 6m` with `snapshot_preserve_min latest`: hierarchical
/// first-of-period (day → week starting Sunday → month), counted in calendar units back from
/// `now`.
pub struct Btrbk {
    f: f64,
    days: u32,
    weeks: u32,
    months: u32,
    tz: TimeZone,
}

impl Btrbk {
    /// btrbk scaled by `f`.
    pub fn new(f: f64, tz: TimeZone) -> Self {
        Btrbk {
            f,
            days: scale(14, f),
            weeks: scale(4, f),
            months: scale(6, f),
            tz,
        }
    }
}

impl Policy for Btrbk {
    fn name(&self) -> String {
        format!("btrbk x{:.2}", self.f)
    }
    fn keep(&self, snaps: &[Snap], now: i64) -> Vec<bool> {
        let now_c = super::civil(now, &self.tz);
        let mut keep = vec![false; snaps.len()];
        let mut seen_day = None;
        let mut seen_week = None;
        let mut seen_month = None;
        for (i, s) in snaps.iter().enumerate() {
            let c = &s.civ;
            if seen_day == Some(c.days) {
                continue;
            }
            seen_day = Some(c.days);
            // A daily: first of its day.
            if now_c.days - c.days < i64::from(self.days) {
                keep[i] = true;
            }
            if seen_week == Some(c.week_sun) {
                continue;
            }
            seen_week = Some(c.week_sun);
            if now_c.week_sun - c.week_sun < i64::from(self.weeks) {
                keep[i] = true;
            }
            if seen_month == Some(c.months) {
                continue;
            }
            seen_month = Some(c.months);
            if now_c.months - c.months < i64::from(self.months) {
                keep[i] = true;
            }
        }
        if let Some(last) = keep.last_mut() {
            *last = true;
        }
        keep
    }
}

/// restic forget `--keep-hourly 24 --keep-daily 7 --keep-weekly 5 --keep-monthly 12
/// --keep-yearly 10`: the newest snapshot of each bucket, counting only buckets with snapshots.
pub struct Restic {
    f: f64,
    limits: Vec<(Per, u32)>,
}

impl Restic {
    /// restic scaled by `f`.
    pub fn new(f: f64) -> Self {
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

/// Ours: a flocker-core [`RetentionPolicy`] (creation = the clock, createtxg = order).
pub struct Ours {
    label: String,
    policy: RetentionPolicy,
    tz: TimeZone,
}

impl Ours {
    /// Our policy in the given zone.
    pub fn new(label: &str, policy: RetentionPolicy, tz: TimeZone) -> Self {
        Ours {
            label: label.into(),
            policy,
            tz,
        }
    }
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
                let mut f = SnapshotFacts::new(String::new(), s.id, s.id + 1, odt(s.clock_t));
                f.written = s.written;
                f
            })
            .collect();
        let plan = self.policy.plan(&facts, odt(now), &self.tz);
        plan.entries
            .iter()
            .map(|e| e.decision == Decision::Keep)
            .collect()
    }
}
