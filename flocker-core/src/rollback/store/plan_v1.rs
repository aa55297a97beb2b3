//! A plan as the journal stores it (format version 1), and as `RollbackPlan::to_json` prints
//! it: names as strings, stashed snapshots by short name, each step tagged with `op` and each
//! blocker with `kind`. Private: the public types convert to and from it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::unusable;
use crate::error::{Error, Result};
use crate::name::{BookmarkName, DatasetName, NameError, SnapshotName};
use crate::rollback::plan::{Blocker, RollbackPlan, Source, Step, Strategy};
use crate::rollback::state::{PropValue, SnapshotState};
use crate::snapshot::Snapshot;

/// A stashed snapshot of a plan (`stashed`): short name on the plan's dataset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SnapshotStateV1 {
    name: String,
    guid: u64,
    createtxg: u64,
    /// Seconds since the epoch; absent in journals written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    creation: Option<i64>,
    written: u64,
    holds: Vec<String>,
    clones: Vec<String>,
}

/// A blocker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum BlockerV1 {
    TargetMissing {
        target: String,
    },
    Encrypted,
    EncryptionSwap {
        dataset: String,
        root: String,
    },
    KeyNotLoaded {
        root: String,
    },
    IsStash,
    NoSpace {
        needed: u64,
        available: u64,
    },
    Held {
        snapshot: String,
        tags: Vec<String>,
    },
    Cloned {
        snapshot: String,
        clones: Vec<String>,
    },
    NewerBookmark {
        bookmark: String,
    },
    Property {
        prop: String,
        value: String,
    },
    BusyMount {
        dataset: String,
        path: String,
    },
    AtNextBoot {
        why: String,
    },
}

/// A step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub(crate) enum StepV1 {
    Unmount {
        dataset: String,
        path: String,
    },
    Snapshot {
        snapshot: String,
    },
    EnsureContainer {
        container: String,
    },
    SendReceive {
        send: String,
        from: Option<String>,
        receive: String,
        origin: Option<String>,
    },
    Bookmark {
        bookmark: String,
        source: String,
    },
    VerifyGuids,
    Commit,
    DestroySnapshots {
        snapshots: Vec<String>,
    },
    RollbackTo {
        snapshot: String,
    },
    Clone {
        clone: String,
        origin: String,
        props: BTreeMap<String, PropValue>,
    },
    Promote {
        dataset: String,
    },
    Rename {
        from: String,
        to: String,
    },
    InheritProp {
        dataset: String,
        prop: String,
    },
    SetProp {
        dataset: String,
        prop: String,
        value: PropValue,
    },
    Mount {
        dataset: String,
        path: String,
    },
    SetBootfs {
        dataset: String,
    },
    AwaitBoot {
        dataset: String,
    },
    SnapshotStash {
        snapshot: String,
    },
}

/// A plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PlanV1 {
    dataset: String,
    dataset_guid: u64,
    target: String,
    target_guid: u64,
    requested: Strategy,
    strategy: Option<Strategy>,
    reason: String,
    stash_id: String,
    stash_dataset: String,
    /// `""`: none.
    pre_snapshot: String,
    stashed: Vec<SnapshotStateV1>,
    space_needed: u64,
    blockers: Vec<BlockerV1>,
    notes: Vec<String>,
    steps: Vec<StepV1>,
    local_props: BTreeMap<String, PropValue>,
    volume: bool,
    /// `""` (or absent, in journals written before it existed): none.
    #[serde(default)]
    incoming: String,
}

fn names<T: AsRef<str>>(v: &[T]) -> Vec<String> {
    v.iter().map(|n| n.as_ref().to_string()).collect()
}

impl From<&SnapshotState> for SnapshotStateV1 {
    fn from(s: &SnapshotState) -> Self {
        let creation = s.snapshot.creation().unix_timestamp();
        SnapshotStateV1 {
            name: s.short_name().to_string(),
            guid: s.guid(),
            createtxg: s.createtxg(),
            creation: (creation != 0).then_some(creation),
            written: s.written,
            holds: s.holds.clone(),
            clones: names(&s.clones),
        }
    }
}

impl From<&Blocker> for BlockerV1 {
    fn from(b: &Blocker) -> Self {
        match b.clone() {
            Blocker::TargetMissing { target } => BlockerV1::TargetMissing {
                target: target.into(),
            },
            Blocker::Encrypted => BlockerV1::Encrypted,
            Blocker::EncryptionSwap { dataset, root } => BlockerV1::EncryptionSwap {
                dataset: dataset.into(),
                root: root.into(),
            },
            Blocker::KeyNotLoaded { root } => BlockerV1::KeyNotLoaded { root: root.into() },
            Blocker::IsStash => BlockerV1::IsStash,
            Blocker::NoSpace { needed, available } => BlockerV1::NoSpace { needed, available },
            Blocker::Held { snapshot, tags } => BlockerV1::Held {
                snapshot: snapshot.into(),
                tags,
            },
            Blocker::Cloned { snapshot, clones } => BlockerV1::Cloned {
                snapshot: snapshot.into(),
                clones: names(&clones),
            },
            Blocker::NewerBookmark { bookmark } => BlockerV1::NewerBookmark {
                bookmark: bookmark.into(),
            },
            Blocker::Property { prop, value } => BlockerV1::Property { prop, value },
            Blocker::BusyMount { dataset, path } => BlockerV1::BusyMount {
                dataset: dataset.into(),
                path,
            },
            Blocker::AtNextBoot { why } => BlockerV1::AtNextBoot { why },
        }
    }
}

impl From<&Step> for StepV1 {
    fn from(s: &Step) -> Self {
        match s.clone() {
            Step::Unmount { dataset, path } => StepV1::Unmount {
                dataset: dataset.into(),
                path,
            },
            Step::Snapshot { snapshot } => StepV1::Snapshot {
                snapshot: snapshot.into(),
            },
            Step::EnsureContainer { container } => StepV1::EnsureContainer {
                container: container.into(),
            },
            Step::SendReceive {
                send,
                from,
                receive,
                origin,
            } => StepV1::SendReceive {
                send: send.into(),
                from: from.map(|f| f.as_str().to_string()),
                receive: receive.into(),
                origin: origin.map(String::from),
            },
            Step::Bookmark { bookmark, source } => StepV1::Bookmark {
                bookmark: bookmark.into(),
                source: source.into(),
            },
            Step::VerifyGuids => StepV1::VerifyGuids,
            Step::Commit => StepV1::Commit,
            Step::DestroySnapshots { snapshots } => StepV1::DestroySnapshots {
                snapshots: names(&snapshots),
            },
            Step::RollbackTo { snapshot } => StepV1::RollbackTo {
                snapshot: snapshot.into(),
            },
            Step::Clone {
                clone,
                origin,
                props,
            } => StepV1::Clone {
                clone: clone.into(),
                origin: origin.into(),
                props,
            },
            Step::Promote { dataset } => StepV1::Promote {
                dataset: dataset.into(),
            },
            Step::Rename { from, to } => StepV1::Rename {
                from: from.into(),
                to: to.into(),
            },
            Step::InheritProp { dataset, prop } => StepV1::InheritProp {
                dataset: dataset.into(),
                prop,
            },
            Step::SetProp {
                dataset,
                prop,
                value,
            } => StepV1::SetProp {
                dataset: dataset.into(),
                prop,
                value,
            },
            Step::Mount { dataset, path } => StepV1::Mount {
                dataset: dataset.into(),
                path,
            },
            Step::SetBootfs { dataset } => StepV1::SetBootfs {
                dataset: dataset.into(),
            },
            Step::AwaitBoot { dataset } => StepV1::AwaitBoot {
                dataset: dataset.into(),
            },
            Step::SnapshotStash { snapshot } => StepV1::SnapshotStash {
                snapshot: snapshot.into(),
            },
        }
    }
}

impl From<&RollbackPlan> for PlanV1 {
    fn from(p: &RollbackPlan) -> Self {
        PlanV1 {
            dataset: p.dataset.to_string(),
            dataset_guid: p.dataset_guid,
            target: p.target.to_string(),
            target_guid: p.target_guid,
            requested: p.requested,
            strategy: p.strategy,
            reason: p.reason.clone(),
            stash_id: p.stash_id.clone(),
            stash_dataset: p.stash_dataset.to_string(),
            pre_snapshot: p
                .pre_snapshot
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
            stashed: p.stashed.iter().map(SnapshotStateV1::from).collect(),
            space_needed: p.space_needed,
            blockers: p.blockers.iter().map(BlockerV1::from).collect(),
            notes: p.notes.clone(),
            steps: p.steps.iter().map(StepV1::from).collect(),
            local_props: p.local_props.clone(),
            volume: p.volume,
            incoming: p
                .incoming
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
        }
    }
}

/// The names of a plan read from a journal: a bad one makes the journal unusable.
fn bad_name(e: NameError) -> Error {
    unusable(format!("journal: {e}"))
}

fn dn(s: &str) -> Result<DatasetName> {
    DatasetName::new(s).map_err(bad_name)
}

fn sn(s: &str) -> Result<SnapshotName> {
    SnapshotName::new(s).map_err(bad_name)
}

fn bn(s: &str) -> Result<BookmarkName> {
    BookmarkName::new(s).map_err(bad_name)
}

fn dns(v: &[String]) -> Result<Vec<DatasetName>> {
    v.iter().map(|s| dn(s)).collect()
}

fn sns(v: &[String]) -> Result<Vec<SnapshotName>> {
    v.iter().map(|s| sn(s)).collect()
}

/// `""` as `None`.
fn optional<T>(s: &str, f: impl Fn(&str) -> Result<T>) -> Result<Option<T>> {
    if s.is_empty() {
        Ok(None)
    } else {
        f(s).map(Some)
    }
}

impl SnapshotStateV1 {
    fn into_state(self, dataset: &DatasetName) -> Result<SnapshotState> {
        let name = dataset.snapshot(&self.name).map_err(bad_name)?;
        let creation = OffsetDateTime::from_unix_timestamp(self.creation.unwrap_or(0))
            .map_err(|e| unusable(format!("journal: {}: creation: {e}", self.name)))?;
        let mut s = SnapshotState::new(
            Snapshot::from_parts(name, self.guid, self.createtxg, creation),
            self.written,
        );
        s.holds = self.holds;
        s.clones = dns(&self.clones)?;
        Ok(s)
    }
}

impl TryFrom<BlockerV1> for Blocker {
    type Error = Error;
    fn try_from(b: BlockerV1) -> Result<Self> {
        Ok(match b {
            BlockerV1::TargetMissing { target } => Blocker::TargetMissing {
                target: sn(&target)?,
            },
            BlockerV1::Encrypted => Blocker::Encrypted,
            BlockerV1::EncryptionSwap { dataset, root } => Blocker::EncryptionSwap {
                dataset: dn(&dataset)?,
                root: dn(&root)?,
            },
            BlockerV1::KeyNotLoaded { root } => Blocker::KeyNotLoaded { root: dn(&root)? },
            BlockerV1::IsStash => Blocker::IsStash,
            BlockerV1::NoSpace { needed, available } => Blocker::NoSpace { needed, available },
            BlockerV1::Held { snapshot, tags } => Blocker::Held {
                snapshot: sn(&snapshot)?,
                tags,
            },
            BlockerV1::Cloned { snapshot, clones } => Blocker::Cloned {
                snapshot: sn(&snapshot)?,
                clones: dns(&clones)?,
            },
            BlockerV1::NewerBookmark { bookmark } => Blocker::NewerBookmark {
                bookmark: bn(&bookmark)?,
            },
            BlockerV1::Property { prop, value } => Blocker::Property { prop, value },
            BlockerV1::BusyMount { dataset, path } => Blocker::BusyMount {
                dataset: dn(&dataset)?,
                path,
            },
            BlockerV1::AtNextBoot { why } => Blocker::AtNextBoot { why },
        })
    }
}

impl TryFrom<StepV1> for Step {
    type Error = Error;
    fn try_from(s: StepV1) -> Result<Self> {
        Ok(match s {
            StepV1::Unmount { dataset, path } => Step::Unmount {
                dataset: dn(&dataset)?,
                path,
            },
            StepV1::Snapshot { snapshot } => Step::Snapshot {
                snapshot: sn(&snapshot)?,
            },
            StepV1::EnsureContainer { container } => Step::EnsureContainer {
                container: dn(&container)?,
            },
            StepV1::SendReceive {
                send,
                from,
                receive,
                origin,
            } => Step::SendReceive {
                send: sn(&send)?,
                from: from
                    .map(|f| Source::new(&f).map_err(bad_name))
                    .transpose()?,
                receive: sn(&receive)?,
                origin: origin.map(|o| sn(&o)).transpose()?,
            },
            StepV1::Bookmark { bookmark, source } => Step::Bookmark {
                bookmark: bn(&bookmark)?,
                source: sn(&source)?,
            },
            StepV1::VerifyGuids => Step::VerifyGuids,
            StepV1::Commit => Step::Commit,
            StepV1::DestroySnapshots { snapshots } => Step::DestroySnapshots {
                snapshots: sns(&snapshots)?,
            },
            StepV1::RollbackTo { snapshot } => Step::RollbackTo {
                snapshot: sn(&snapshot)?,
            },
            StepV1::Clone {
                clone,
                origin,
                props,
            } => Step::Clone {
                clone: dn(&clone)?,
                origin: sn(&origin)?,
                props,
            },
            StepV1::Promote { dataset } => Step::Promote {
                dataset: dn(&dataset)?,
            },
            StepV1::Rename { from, to } => Step::Rename {
                from: dn(&from)?,
                to: dn(&to)?,
            },
            StepV1::InheritProp { dataset, prop } => Step::InheritProp {
                dataset: dn(&dataset)?,
                prop,
            },
            StepV1::SetProp {
                dataset,
                prop,
                value,
            } => Step::SetProp {
                dataset: dn(&dataset)?,
                prop,
                value,
            },
            StepV1::Mount { dataset, path } => Step::Mount {
                dataset: dn(&dataset)?,
                path,
            },
            StepV1::SetBootfs { dataset } => Step::SetBootfs {
                dataset: dn(&dataset)?,
            },
            StepV1::AwaitBoot { dataset } => Step::AwaitBoot {
                dataset: dn(&dataset)?,
            },
            StepV1::SnapshotStash { snapshot } => Step::SnapshotStash {
                snapshot: sn(&snapshot)?,
            },
        })
    }
}

impl TryFrom<PlanV1> for RollbackPlan {
    type Error = Error;
    fn try_from(p: PlanV1) -> Result<Self> {
        let dataset = dn(&p.dataset)?;
        Ok(RollbackPlan {
            dataset_guid: p.dataset_guid,
            target: sn(&p.target)?,
            target_guid: p.target_guid,
            requested: p.requested,
            strategy: p.strategy,
            reason: p.reason,
            stash_id: p.stash_id,
            stash_dataset: dn(&p.stash_dataset)?,
            pre_snapshot: optional(&p.pre_snapshot, sn)?,
            stashed: p
                .stashed
                .into_iter()
                .map(|s| s.into_state(&dataset))
                .collect::<Result<_>>()?,
            space_needed: p.space_needed,
            blockers: p
                .blockers
                .into_iter()
                .map(Blocker::try_from)
                .collect::<Result<_>>()?,
            notes: p.notes,
            steps: p
                .steps
                .into_iter()
                .map(Step::try_from)
                .collect::<Result<_>>()?,
            local_props: p.local_props,
            volume: p.volume,
            incoming: optional(&p.incoming, dn)?,
            dataset,
        })
    }
}

/// Serializes as [`RollbackPlan::to_json`] prints it (the journal's shape of a plan).
impl Serialize for RollbackPlan {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        PlanV1::from(self).serialize(s)
    }
}
