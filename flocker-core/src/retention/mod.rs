//! Retention: which snapshots of a dataset to keep, which to destroy, and why.
//!
//! Pure logic (no FFI, no ZFS): feed [`SnapshotFacts`] (built from the inventory's listing
//! rows, or by hand) to [`RetentionPolicy::plan`] and get a [`RetentionPlan`] with a [`Decision`], the
//! reasons, and an expiry prediction for **every** snapshot.
//!
//! # The rule language
//!
//! A policy is a comma-separated list of items (spaces around items are ignored). A snapshot
//! is kept if any rule keeps it or a safety rule protects it; otherwise it is destroyed.
//!
//! | item | meaning |
//! |---|---|
//! | `48x1h`, `30x1d`, `8x1w`, `12x1mo`, `10x1y`, `6x4h`, `60x1min` | calendar: the first (oldest) snapshot of each of the N newest local periods **that contain snapshots** (`NxKU`: periods of K units; units `min h d w mo y`; weeks start on Monday) |
//! | `grid(1x1h(keep=all)\|24x1h\|14x1d)` | zrepl-style grid from the newest snapshot back: groups of N buckets of a fixed length (`s min h d w y`, `y` = 365 d), each keeping its oldest snapshot (or `keep=K`, `keep=all`); empty buckets are not counted |
//! | `within=36h` | every snapshot younger than that (active age, see `idle=`) |
//! | `min=10` | the 10 newest snapshots, always |
//! | `bursts(for=90d,gap=2h,quiet=64K)` | landmarks: the last snapshot of each burst of changes (a snapshot *changed* if its `written` > `quiet`; a burst ends when no change follows within `gap`), kept while younger than `for` (`gap` defaults to 2h, `quiet` to 64K) |
//! | `changes(for=1y,size=1G)` | landmarks: each snapshot whose `written` ≥ `size` and the snapshot just before it, kept while the change is younger than `for` |
//! | `pin=com.example:keep` | a user property that pins a snapshot when set (to anything but `""`, `-`, `off`, `no`, `false`, `0`) |
//! | `space=500G` | space target: after the rules, thin the kept snapshots evenly until the sum of their `used` is at most this (`K M G T P E`, binary): of those not protected, not among the `min=` newest and with `used` above 0, destroy first the one whose loss leaves the smallest gap/age ratio, the oldest last (see [`RetentionPolicy::space_budget`]) |
//! | `idle=1d` | idle cap (default 1d): in *active age*, a gap between consecutive snapshots, or since the newest one, counts at most this much |
//!
//! Parse errors ([`ParseError`]) carry the byte offset and the text of the bad token.
//! `Display` prints the canonical form, which parses back to an equal policy.
//!
//! # Safety rules (whatever the policy says)
//!
//! Never destroyed: the newest snapshot (highest `createtxg`, and the latest not dated in the
//! future), held snapshots, snapshots with clones, pinned snapshots, stashed snapshots, and
//! snapshots dated after `now` (clock skew: they take no part in the rules until `now`
//! reaches them, so they change no other snapshot's fate). Local periods come from the tz
//! database (bundled, so results do not depend on the host). Idle time does not thin
//! history: calendar and grid rules count only periods and buckets that contain snapshots and
//! the time-based rules age in active time.
//!
//! Applying a plan (destroying its `Destroy` entries) and planning again at the same `now`
//! destroys nothing more. Expiry predictions cover the rules; under a space target the even
//! spacing moves as snapshots age, so a later plan may thin other snapshots.
//!
//! ```
//! use flocker_core::name::SnapshotName;
//! use flocker_core::retention::{Decision, RetentionPolicy, SnapshotFacts, TimeZone};
//! use time::{Duration, macros::datetime};
//!
//! let policy: RetentionPolicy = "24x1h,7x1d,min=3".parse().unwrap();
//! let start = datetime!(2024-03-01 00:00 UTC);
//! let snaps: Vec<SnapshotFacts> = (0..24 * 30)
//!     .map(|h| {
//!         let t = start + Duration::hours(h);
//!         let name = SnapshotName::new(format!("tank/home@h{h}")).unwrap();
//!         SnapshotFacts::new(name, h as u64, 1000 + h as u64, t)
//!     })
//!     .collect();
//! let tz = TimeZone::get("Europe/Berlin").unwrap();
//! let plan = policy.plan(&snaps, start + Duration::hours(24 * 30), &tz);
//! assert_eq!(plan.kept().count(), 24 + 6); // 24 hours, plus the first of 6 earlier days
//! for batch in plan.destroy_batches(100) {
//!     assert!(batch.len() <= 100); // hand each batch to lzc_destroy_snaps
//! }
//! ```

use std::collections::BTreeMap;

use time::OffsetDateTime;

use crate::inventory::SnapshotInfo;
use crate::name::SnapshotName;
use crate::snapshot::Snapshot;

mod civil;
mod expiry;
mod parse;
mod plan;
mod policy;
mod space;
#[cfg(test)]
mod tests;

pub use civil::LocalTime;
pub use expiry::Expiry;
pub use jiff::tz::TimeZone;
pub use parse::{ParseError, ParseErrorKind};
pub use plan::{
    ChangeSide, Decision, KeepReason, Period, PlanEntry, Protection, Reason, RetentionPlan,
    RuleMiss, SpaceReport,
};
pub use policy::{
    BurstRule, CalendarRule, CalendarUnit, ChangeRule, DEFAULT_IDLE_CAP, GridGroup, GridKeep,
    GridRule, PolicyError, RetentionPolicy, RetentionPolicyBuilder, Rule,
};

/// What the planner needs to know about one snapshot: its identity ([`Snapshot`]) and the
/// listing's space, holds and clones ([`SnapshotInfo`], see [`SnapshotFacts::from_info`]),
/// with flocker's own flags (pinned, stashed). Built from a listing row, or by hand
/// ([`SnapshotFacts::new`]) in tests and simulations.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SnapshotFacts {
    /// Name, GUID, `createtxg` (orders snapshots even when the clock jumped) and the time the
    /// snapshot counts as taken at (its `creation` property unless the caller knows better).
    pub snapshot: Snapshot,
    /// The `written` property: bytes written between the previous snapshot and this one.
    pub written: u64,
    /// The `used` property: bytes only this snapshot holds.
    pub used: u64,
    /// `userrefs` > 0.
    pub held: bool,
    /// The `clones` property is not empty.
    pub has_clones: bool,
    /// Pinned by flocker.
    pub pinned: bool,
    /// Part of a stash.
    pub stashed: bool,
    /// User properties (`module:name` → value), for `pin=` rules.
    pub user_props: BTreeMap<String, String>,
}

impl SnapshotFacts {
    /// Facts with the given identity and creation time; `written`/`used` zero, no holds,
    /// clones, pins, stash or user properties.
    pub fn new(name: SnapshotName, guid: u64, createtxg: u64, creation: OffsetDateTime) -> Self {
        SnapshotFacts::from(Snapshot::from_parts(name, guid, createtxg, creation))
    }

    /// The facts of a listed snapshot: its identity, `written` (0 when the kernel does not
    /// report it), `used`, holds (`userrefs` > 0), clones and user properties, with flocker's
    /// `pinned` and `stashed` flags.
    pub fn from_info(info: &SnapshotInfo, pinned: bool, stashed: bool) -> Self {
        SnapshotFacts {
            snapshot: info.to_snapshot(),
            written: info.written.unwrap_or(0),
            used: info.used,
            held: info.userrefs > 0,
            has_clones: !info.clones.is_empty(),
            pinned,
            stashed,
            user_props: info
                .user_properties
                .iter()
                .map(|(k, v)| (k.clone(), v.value.clone()))
                .collect(),
        }
    }

    /// The same facts with the snapshot counted as taken at `time` (a time its name records,
    /// say, instead of its `creation` property).
    pub fn with_creation(mut self, time: OffsetDateTime) -> Self {
        let s = &self.snapshot;
        self.snapshot = Snapshot::from_parts(s.name().clone(), s.guid(), s.createtxg(), time);
        self
    }

    /// The full name (`pool/fs@snap`), copied into the plan.
    pub fn name(&self) -> &SnapshotName {
        self.snapshot.name()
    }

    /// The `guid` property.
    pub fn guid(&self) -> u64 {
        self.snapshot.guid()
    }

    /// The `createtxg` property.
    pub fn createtxg(&self) -> u64 {
        self.snapshot.createtxg()
    }

    /// The time the snapshot counts as taken at (its `creation` property by default).
    pub fn creation(&self) -> OffsetDateTime {
        self.snapshot.creation()
    }
}

impl From<Snapshot> for SnapshotFacts {
    /// Facts of `snapshot` alone: `written`/`used` zero, no holds, clones, pins, stash or user
    /// properties.
    fn from(snapshot: Snapshot) -> Self {
        SnapshotFacts {
            snapshot,
            written: 0,
            used: 0,
            held: false,
            has_clones: false,
            pinned: false,
            stashed: false,
            user_props: BTreeMap::new(),
        }
    }
}

impl From<&SnapshotInfo> for SnapshotFacts {
    /// [`SnapshotFacts::from_info`], neither pinned nor stashed.
    fn from(info: &SnapshotInfo) -> Self {
        SnapshotFacts::from_info(info, false, false)
    }
}
