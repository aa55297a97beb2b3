//! What a plan says about each kept snapshot, in the words a listing shows: which rule keeps
//! it ([`RetentionPlan::keeper`], [`RetentionPlan::kept_by`]) and how it expires
//! ([`PlanEntry::expiry`]).

use time::OffsetDateTime;

use super::plan::{Decision, PlanEntry, Protection, Reason, RetentionPlan};

/// How a planned snapshot leaves (the `expiry` column of `datavault list`).
///
/// ```
/// use flocker_core::name::SnapshotName;
/// use flocker_core::retention::{Expiry, RetentionPolicy, SnapshotFacts, TimeZone};
/// use time::macros::datetime;
///
/// let policy: RetentionPolicy = "within=2h".parse().unwrap();
/// let snaps: Vec<SnapshotFacts> = [datetime!(2026-12-05 09:00 UTC), datetime!(2026-12-05 10:00 UTC)]
///     .iter()
///     .enumerate()
///     .map(|(i, t)| {
///         let name = SnapshotName::new(format!("tank/fs@s{i}")).unwrap();
///         SnapshotFacts::new(name, i as u64, 100 + i as u64, *t)
///     })
///     .collect();
/// let plan = policy.plan(&snaps, datetime!(2026-12-05 10:30 UTC), &TimeZone::UTC);
/// let older = &plan.entries[0];
/// assert!(matches!(older.expiry(), Expiry::At(_)));
/// assert_eq!(older.expiry().as_str(), "at");
/// assert_eq!(plan.kept_by(older), ["within=2h"]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Expiry {
    /// The plan destroys it.
    Destroy,
    /// Kept until then, if no newer snapshot arrives first ([`PlanEntry::expires_at`]).
    At(OffsetDateTime),
    /// Kept for good by a protection other than "newest" (a hold, a clone, a pin...).
    Protected,
    /// Kept by a count-based rule until newer snapshots displace it.
    ByCount,
}

impl Expiry {
    /// Its name in reports: `destroy`, `at`, `protected` or `by_count`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Expiry::Destroy => "destroy",
            Expiry::At(_) => "at",
            Expiry::Protected => "protected",
            Expiry::ByCount => "by_count",
        }
    }
}

impl Decision {
    /// Its name in reports: `keep` or `destroy`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Decision::Keep => "keep",
            Decision::Destroy => "destroy",
        }
    }
}

impl PlanEntry {
    /// How it expires: destroyed by the plan, at [`PlanEntry::expires_at`], never (a
    /// protection other than "newest" keeps it), or when newer snapshots displace it.
    pub fn expiry(&self) -> Expiry {
        let protected = self
            .reasons
            .iter()
            .any(|r| matches!(r, Reason::Protected(p) if *p != Protection::Newest));
        match (self.decision, self.expires_at, protected) {
            (Decision::Destroy, _, _) => Expiry::Destroy,
            (_, Some(t), _) => Expiry::At(t),
            (_, None, true) => Expiry::Protected,
            (_, None, false) => Expiry::ByCount,
        }
    }
}

impl RetentionPlan {
    /// The short name of what `reason` says keeps a snapshot: a rule's text (`24x1h`,
    /// `min=3`) or a protection (`newest`, `held`...); `None` for a reason that keeps nothing.
    pub fn keeper(&self, reason: &Reason) -> Option<String> {
        match reason {
            Reason::Protected(_) => {
                let d = self.describe(reason);
                Some(d.strip_prefix("protected: ").unwrap_or(&d).to_string())
            }
            Reason::Kept(_) => {
                let d = self.describe(reason);
                Some(d.split(':').next().unwrap_or(&d).to_string())
            }
            _ => None,
        }
    }

    /// What keeps `entry` ([`RetentionPlan::keeper`] of each reason); empty when the plan
    /// destroys it.
    pub fn kept_by(&self, entry: &PlanEntry) -> Vec<String> {
        match entry.decision {
            Decision::Keep => entry
                .reasons
                .iter()
                .filter_map(|r| self.keeper(r))
                .collect(),
            Decision::Destroy => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;
    use crate::name::SnapshotName;
    use crate::retention::{RetentionPolicy, SnapshotFacts, TimeZone};

    fn plan(policy: &str, hours: &[i64], now: OffsetDateTime) -> RetentionPlan {
        let base = datetime!(2026-12-05 00:00 UTC);
        let snaps: Vec<SnapshotFacts> = hours
            .iter()
            .enumerate()
            .map(|(i, h)| {
                let name = SnapshotName::new(format!("tank/fs@s{i}")).unwrap();
                SnapshotFacts::new(
                    name,
                    i as u64,
                    100 + i as u64,
                    base + time::Duration::hours(*h),
                )
            })
            .collect();
        let p: RetentionPolicy = policy.parse().unwrap();
        p.plan(&snaps, now, &TimeZone::UTC)
    }

    #[test]
    fn expiry_classes_and_keepers() {
        let now = datetime!(2026-12-05 10:30 UTC);
        let p = plan("within=2h", &[7, 9, 10], now);
        let [old, mid, newest] = [&p.entries[0], &p.entries[1], &p.entries[2]];
        assert_eq!(old.expiry(), Expiry::Destroy);
        assert!(p.kept_by(old).is_empty());
        assert_eq!(mid.expiry().as_str(), "at");
        assert_eq!(p.kept_by(mid), ["within=2h"]);
        assert_eq!(
            newest.expiry(),
            Expiry::ByCount,
            "newest is no protection for good"
        );
        assert!(p.kept_by(newest).iter().any(|k| k == "newest snapshot"));
        assert_eq!(Decision::Keep.as_str(), "keep");
        assert_eq!(Decision::Destroy.as_str(), "destroy");

        let p = plan("min=2", &[7, 9], now);
        assert_eq!(p.entries[0].expiry(), Expiry::ByCount);
        assert_eq!(p.kept_by(&p.entries[0]), ["min"]);
        let miss = Reason::Missed(crate::retention::RuleMiss::BeyondGrid { rule: 0 });
        assert!(p.keeper(&miss).is_none());
        assert_eq!(
            p.keeper(&Reason::Protected(Protection::Held)).as_deref(),
            Some("held")
        );
    }
}
