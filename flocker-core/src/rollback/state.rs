//! A description of the live state of a dataset, the input of the (pure) planner.
//!
//! [`LiveState`] is plain data: the reader ([`super::read_state`]) fills it from the pool, tests
//! build it by hand.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::name::{BookmarkName, DatasetName, SnapshotName};
use crate::snapshot::Snapshot;

/// Filesystem or volume.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatasetKind {
    /// A filesystem.
    Filesystem,
    /// A volume (zvol).
    Volume,
}

/// A property value as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PropValue {
    /// A numeric property (`quota`, `canmount` as its index, ...).
    Number(u64),
    /// A string property (`mountpoint`, `compression`, user properties, ...).
    Text(String),
}

impl std::fmt::Display for PropValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PropValue::Number(n) => write!(f, "{n}"),
            PropValue::Text(s) => f.write_str(s),
        }
    }
}

/// One snapshot of the dataset: its identity ([`Snapshot`]: full name, GUID, creation txg and
/// time) and what the planner needs besides.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SnapshotState {
    /// Name, GUID, creation txg (orders snapshots) and creation time.
    pub snapshot: Snapshot,
    /// Bytes written since the previous snapshot (`written`).
    pub written: u64,
    /// Tags of user holds.
    pub holds: Vec<String>,
    /// Its clones.
    pub clones: Vec<DatasetName>,
}

impl SnapshotState {
    /// The state of `snapshot`: `written` bytes since the previous one, no holds, no clones.
    pub fn new(snapshot: Snapshot, written: u64) -> SnapshotState {
        SnapshotState {
            snapshot,
            written,
            holds: Vec::new(),
            clones: Vec::new(),
        }
    }

    /// The full name.
    pub fn name(&self) -> &SnapshotName {
        self.snapshot.name()
    }

    /// The short name (after the `@`).
    pub fn short_name(&self) -> &str {
        self.snapshot.name().short_name()
    }

    /// The GUID.
    pub fn guid(&self) -> u64 {
        self.snapshot.guid()
    }

    /// The transaction group it was created in.
    pub fn createtxg(&self) -> u64 {
        self.snapshot.createtxg()
    }
}

/// One bookmark of the dataset.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BookmarkState {
    /// Full name.
    pub name: BookmarkName,
    /// GUID of the snapshot it was made from.
    pub guid: u64,
    /// Its creation txg.
    pub createtxg: u64,
}

impl BookmarkState {
    /// Bookmark `name` of the snapshot with `guid`, created in txg `createtxg`.
    pub fn new(name: BookmarkName, guid: u64, createtxg: u64) -> BookmarkState {
        BookmarkState {
            name,
            guid,
            createtxg,
        }
    }
}

/// A mount of the dataset or of a child.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MountState {
    /// Where it is mounted.
    pub path: String,
    /// Whether a process uses it (cwd, root, open file or mapping below `path`).
    pub busy: bool,
}

impl MountState {
    /// A mount at `path`, `busy` when a process uses it.
    pub fn new(path: impl Into<String>, busy: bool) -> MountState {
        MountState {
            path: path.into(),
            busy,
        }
    }
}

/// A descendant filesystem or volume.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ChildState {
    /// Its name.
    pub name: DatasetName,
    /// Its mount, if mounted.
    pub mount: Option<MountState>,
}

impl ChildState {
    /// Descendant `name`, mounted as `mount`.
    pub fn new(name: DatasetName, mount: Option<MountState>) -> ChildState {
        ChildState { name, mount }
    }
}

/// Everything the planner needs to know about the dataset being rolled back.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LiveState {
    /// The dataset.
    pub dataset: DatasetName,
    /// Its GUID.
    pub guid: u64,
    /// Filesystem or volume.
    pub kind: DatasetKind,
    /// Its origin snapshot when it is a clone.
    pub origin: Option<SnapshotName>,
    /// Whether it is encrypted.
    pub encrypted: bool,
    /// Its encryption root, its parent's and its key status, when encrypted.
    pub encryption: Option<super::crypt::EncryptionState>,
    /// Its mount, if mounted.
    pub mount: Option<MountState>,
    /// Locally set properties (source `local`), user properties included.
    pub local_props: BTreeMap<String, PropValue>,
    /// Snapshots, oldest first.
    pub snapshots: Vec<SnapshotState>,
    /// Bookmarks.
    pub bookmarks: Vec<BookmarkState>,
    /// Descendant datasets (all depths), parents before children.
    pub children: Vec<ChildState>,
    /// Bytes written since the latest snapshot (`written` of the dataset).
    pub written: u64,
    /// Free space available to the dataset.
    pub available: u64,
}

impl LiveState {
    /// The state of `dataset` (GUID `guid`) with nothing else known yet: not a clone, not
    /// encrypted, not mounted, no local properties, snapshots, bookmarks or children, nothing
    /// written, no space available. The fields are public to fill in the rest.
    pub fn new(dataset: DatasetName, guid: u64, kind: DatasetKind) -> LiveState {
        LiveState {
            dataset,
            guid,
            kind,
            origin: None,
            encrypted: false,
            encryption: None,
            mount: None,
            local_props: BTreeMap::new(),
            snapshots: Vec::new(),
            bookmarks: Vec::new(),
            children: Vec::new(),
            written: 0,
            available: 0,
        }
    }

    /// The snapshot with this short name.
    pub fn snapshot(&self, short: &str) -> Option<&SnapshotState> {
        self.snapshots.iter().find(|s| s.short_name() == short)
    }

    /// The snapshots created after `target` (by createtxg), oldest first.
    pub fn newer_than(&self, target: &SnapshotState) -> Vec<&SnapshotState> {
        self.snapshots
            .iter()
            .filter(|s| s.createtxg() > target.createtxg())
            .collect()
    }

    /// A numeric local property.
    pub fn local_number(&self, prop: &str) -> Option<u64> {
        match self.local_props.get(prop) {
            Some(PropValue::Number(n)) => Some(*n),
            _ => None,
        }
    }

    /// A string local property.
    pub fn local_text(&self, prop: &str) -> Option<&str> {
        match self.local_props.get(prop) {
            Some(PropValue::Text(s)) => Some(s),
            _ => None,
        }
    }
}
