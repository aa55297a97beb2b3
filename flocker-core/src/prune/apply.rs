//! Destroying a plan's doomed snapshots: capped batches, retries, and what became of each.

use std::collections::HashMap;

use crate::error::{Error, ErrorKind, ItemError, Result};
use crate::name::SnapshotName;
use crate::retention::PlanEntry;

use super::Progress;

/// What happened to a snapshot the plan destroys.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Fate {
    /// Destroyed.
    Destroyed,
    /// Held or cloned meanwhile (the kernel's item error): kept.
    Skipped(ErrorInfo),
    /// Could not be destroyed for another reason.
    Failed(ErrorInfo),
    /// Not tried: an earlier batch failed as a whole.
    NotAttempted,
}

/// An error the kernel reported for one snapshot (or a whole call).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ErrorInfo {
    /// The error kind.
    pub kind: ErrorKind,
    /// The errno, when the kernel gave one.
    pub errno: Option<i32>,
    /// The error text.
    pub text: String,
}

impl From<&ItemError> for ErrorInfo {
    fn from(item: &ItemError) -> Self {
        ErrorInfo {
            kind: item.kind(),
            errno: item.errno(),
            text: item.to_string(),
        }
    }
}

impl From<&Error> for ErrorInfo {
    fn from(err: &Error) -> Self {
        ErrorInfo {
            kind: err.kind(),
            errno: err.errno(),
            text: err.to_string(),
        }
    }
}

/// Counts of what applying a plan did.
#[derive(Default, Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Tally {
    /// Snapshots destroyed.
    pub destroyed: usize,
    /// Held or cloned meanwhile: kept.
    pub skipped: usize,
    /// Could not be destroyed.
    pub failed: usize,
    /// Not tried: an earlier batch failed as a whole.
    pub not_attempted: usize,
    /// `lzc_destroy_snaps` calls made.
    pub calls: usize,
}

/// What applying a plan did ([`crate::prune::apply`]).
#[derive(Default, Debug, Clone)]
#[non_exhaustive]
pub struct Report {
    /// The fate of each snapshot the plan destroys, by full name (none on a dry run).
    pub fates: HashMap<SnapshotName, Fate>,
    /// The counts.
    pub tally: Tally,
}

impl Report {
    /// True when nothing failed (held/cloned skips are fine).
    pub fn ok(&self) -> bool {
        self.tally.failed == 0 && self.tally.not_attempted == 0
    }

    /// Records `fate` for `name`, counts it and tells `progress` of a skip or failure.
    fn settle(&mut self, name: SnapshotName, fate: Fate, progress: &mut impl FnMut(&Progress)) {
        match &fate {
            Fate::Destroyed => self.tally.destroyed += 1,
            Fate::Skipped(_) => self.tally.skipped += 1,
            Fate::Failed(_) => self.tally.failed += 1,
            Fate::NotAttempted => self.tally.not_attempted += 1,
        }
        if matches!(fate, Fate::Skipped(_) | Fate::Failed(_)) {
            progress(&Progress::Item {
                name: &name,
                fate: &fate,
            });
        }
        self.fates.insert(name, fate);
    }
}

/// Destroys `doomed` (oldest first) in batches of at most `batch` names, one `destroy` call a
/// round: a named item that fails leaves the batch (held or cloned: skipped; else failed) and
/// the rest is retried; a call that fails as a whole fails its batch and leaves the later
/// batches not attempted.
pub(super) fn destroy_in_batches(
    doomed: &[&PlanEntry],
    batch: usize,
    mut destroy: impl FnMut(&[SnapshotName]) -> Result<()>,
    mut progress: impl FnMut(&Progress),
) -> Report {
    let mut r = Report::default();
    let total = doomed.len();
    let mut whole_call_failed = false;
    for chunk in doomed.chunks(batch.max(1)) {
        if whole_call_failed {
            for e in chunk {
                r.settle(e.name.clone(), Fate::NotAttempted, &mut progress);
            }
            continue;
        }
        let mut pending: Vec<SnapshotName> = chunk.iter().map(|e| e.name.clone()).collect();
        // Each round either succeeds or removes at least one name, so this ends.
        while !pending.is_empty() {
            r.tally.calls += 1;
            let Err(err) = destroy(&pending) else {
                for n in pending.drain(..) {
                    r.settle(n, Fate::Destroyed, &mut progress);
                }
                continue;
            };
            let mut removed = 0;
            for item in err.items() {
                let Some(pos) = pending.iter().position(|n| n.as_str() == item.name()) else {
                    continue;
                };
                let n = pending.remove(pos);
                removed += 1;
                let f = match item.kind() {
                    ErrorKind::Held | ErrorKind::HasClones => Fate::Skipped(item.into()),
                    _ => Fate::Failed(item.into()),
                };
                r.settle(n, f, &mut progress);
            }
            if removed == 0 {
                // The call failed as a whole (no item named): later batches would fail the
                // same way, so they are not attempted.
                let info = ErrorInfo::from(&err);
                for n in pending.drain(..) {
                    r.settle(n, Fate::Failed(info.clone()), &mut progress);
                }
                whole_call_failed = true;
            }
        }
        progress(&Progress::Batch {
            destroyed: r.tally.destroyed,
            skipped: r.tally.skipped,
            failed: r.tally.failed,
            total,
        });
    }
    progress(&Progress::Applied);
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::OffsetDateTime;

    /// Destroyed plan entries `p/fs@s1..=sN`, oldest first.
    fn entries(n: usize) -> Vec<PlanEntry> {
        (1..=n)
            .map(|i| PlanEntry {
                index: i - 1,
                name: SnapshotName::new(format!("p/fs@s{i}")).unwrap(),
                guid: i as u64,
                createtxg: i as u64,
                creation: OffsetDateTime::UNIX_EPOCH,
                decision: crate::retention::Decision::Destroy,
                reasons: Vec::new(),
                expires_at: None,
            })
            .collect()
    }

    fn item_error(names: &[(&str, ErrorKind)]) -> Error {
        let items = names
            .iter()
            .map(|(n, k)| ItemError::new((*n).to_string(), Some(libc::EBUSY), *k))
            .collect();
        Error::new(ErrorKind::Busy, "lzc_destroy_snaps").with_items(items, 0)
    }

    #[test]
    fn batches_are_capped_and_all_destroyed() {
        let e = entries(5);
        let doomed: Vec<&PlanEntry> = e.iter().collect();
        let mut calls = Vec::new();
        let r = destroy_in_batches(
            &doomed,
            2,
            |b| {
                calls.push(b.len());
                Ok(())
            },
            |_| {},
        );
        assert_eq!(calls, [2, 2, 1]);
        assert_eq!(r.tally.destroyed, 5);
        assert_eq!(r.tally.calls, 3);
        assert!(r.ok());
        assert!(r.fates.values().all(|f| matches!(f, Fate::Destroyed)));
    }

    #[test]
    fn held_and_failed_items_leave_the_batch_and_the_rest_is_retried() {
        let e = entries(3);
        let doomed: Vec<&PlanEntry> = e.iter().collect();
        let mut round = 0;
        let mut heard = Vec::new();
        let r = destroy_in_batches(
            &doomed,
            10,
            |b| {
                round += 1;
                match round {
                    1 => Err(item_error(&[
                        ("p/fs@s1", ErrorKind::Held),
                        ("p/fs@s2", ErrorKind::Io),
                    ])),
                    _ => {
                        assert_eq!(b.len(), 1);
                        Ok(())
                    }
                }
            },
            |p| {
                if let Progress::Item { name, .. } = p {
                    heard.push(name.to_string());
                }
            },
        );
        assert_eq!(heard, ["p/fs@s1", "p/fs@s2"]);
        let t = &r.tally;
        assert_eq!((t.destroyed, t.skipped, t.failed, t.calls), (1, 1, 1, 2));
        assert!(!r.ok());
        assert!(matches!(r.fates["p/fs@s1"], Fate::Skipped(_)));
        assert!(matches!(r.fates["p/fs@s2"], Fate::Failed(_)));
        assert!(matches!(r.fates["p/fs@s3"], Fate::Destroyed));
    }

    #[test]
    fn a_whole_call_failure_leaves_later_batches_not_attempted() {
        let e = entries(5);
        let doomed: Vec<&PlanEntry> = e.iter().collect();
        let r = destroy_in_batches(
            &doomed,
            2,
            |_| Err(Error::new(ErrorKind::PermissionDenied, "lzc_destroy_snaps")),
            |_| {},
        );
        let t = &r.tally;
        assert_eq!(
            (t.destroyed, t.failed, t.not_attempted, t.calls),
            (0, 2, 3, 1)
        );
        assert!(!r.ok());
        assert!(matches!(r.fates["p/fs@s5"], Fate::NotAttempted));
    }

    #[test]
    fn progress_reports_each_batch_then_the_end() {
        let e = entries(3);
        let doomed: Vec<&PlanEntry> = e.iter().collect();
        let mut seen = Vec::new();
        destroy_in_batches(
            &doomed,
            2,
            |_| Ok(()),
            |p| {
                seen.push(match p {
                    Progress::Batch {
                        destroyed, total, ..
                    } => format!("{destroyed}/{total}"),
                    Progress::Applied => "end".into(),
                    _ => "other".into(),
                })
            },
        );
        assert_eq!(seen, ["2/3", "3/3", "end"]);
    }
}
