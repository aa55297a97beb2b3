//! A description of the live state of a dataset, the input of the (pure) planner.
//!
//! [`LiveState`] is plain data: the reader ([`super::read_state`]) fills it from the pool, tests
//! build it by hand.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Filesystem or volume.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
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

/// One snapshot of the dataset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotState {
    /// Short name (after the `@`).
    pub name: String,
    /// Its GUID.
    pub guid: u64,
    /// The transaction group it was created in (orders snapshots).
    pub createtxg: u64,
    /// Bytes written since the previous snapshot (`written`).
    pub written: u64,
    /// Tags of user holds.
    pub holds: Vec<String>,
    /// Full names of its clones.
    pub clones: Vec<String>,
}

/// One bookmark of the dataset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookmarkState {
    /// Short name (after the `#`).
    pub name: String,
    /// GUID of the snapshot it was made from.
    pub guid: u64,
    /// Its creation txg.
    pub createtxg: u64,
}

/// A mount of the dataset or of a child.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountState {
    /// Where it is mounted.
    pub path: String,
    /// Whether a process uses it (cwd, root, open file or mapping below `path`).
    pub busy: bool,
}

/// A descendant filesystem or volume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChildState {
    /// Full name.
    pub name: String,
    /// Its mount, if mounted.
    pub mount: Option<MountState>,
}

/// Everything the planner needs to know about the dataset being rolled back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveState {
    /// Full name of the dataset.
    pub dataset: String,
    /// Its GUID.
    pub guid: u64,
    /// Filesystem or volume.
    pub kind: DatasetKind,
    /// Its origin snapshot when it is a clone.
    pub origin: Option<String>,
    /// Whether it is encrypted.
    pub encrypted: bool,
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
    /// The snapshot with this short name.
    pub fn snapshot(&self, short: &str) -> Option<&SnapshotState> {
        self.snapshots.iter().find(|s| s.name == short)
    }

    /// The snapshots created after `target` (by createtxg), oldest first.
    pub fn newer_than(&self, target: &SnapshotState) -> Vec<&SnapshotState> {
        self.snapshots
            .iter()
            .filter(|s| s.createtxg > target.createtxg)
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
