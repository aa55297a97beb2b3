//! What the inventory returns.

use std::collections::BTreeMap;

use time::OffsetDateTime;

use crate::lzc::DatasetType;
use crate::name::{BookmarkName, DatasetName, SnapshotName};
use crate::snapshot::Snapshot;

/// Where the value of a user property comes from (the `SOURCE` column of `zfs get`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PropertySource {
    /// Set on this dataset or snapshot itself (`local`).
    Local,
    /// Inherited from an ancestor (`inherited from <dataset>`).
    Inherited(String),
    /// Set by `zfs receive` (`received`).
    Received,
}

impl PropertySource {
    /// Decodes the kernel's setpoint for a property of `owner`: the owner's own name for a
    /// local value, `$recvd` for a received one, the ancestor's name otherwise.
    pub(crate) fn from_setpoint(owner: &str, setpoint: &str) -> PropertySource {
        if setpoint == owner {
            PropertySource::Local
        } else if setpoint == "$recvd" {
            PropertySource::Received
        } else {
            PropertySource::Inherited(setpoint.to_string())
        }
    }

    /// How `zfs get` prints it: `local`, `received`, `inherited from X`.
    pub fn to_cli_string(&self) -> String {
        match self {
            PropertySource::Local => "local".to_string(),
            PropertySource::Received => "received".to_string(),
            PropertySource::Inherited(from) => format!("inherited from {from}"),
        }
    }
}

/// A user property (`module:name`, e.g. `com.example:tag`) with its value and source.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct UserProperty {
    /// The value (any bytes but NUL; converted lossily to UTF-8).
    pub value: String,
    /// Where it comes from.
    pub source: PropertySource,
}

/// A user hold on a snapshot (`zfs holds`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct HoldInfo {
    /// The held snapshot.
    pub snapshot: SnapshotName,
    /// The hold's tag.
    pub tag: String,
    /// When the hold was placed (seconds precision, UTC).
    pub created: OffsetDateTime,
}

/// A filesystem or volume, with the properties the inventory reads.
///
/// Numbers are bytes, as `zfs list -p` prints them.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DatasetInfo {
    /// The full name.
    pub name: DatasetName,
    /// Filesystem or volume.
    pub kind: DatasetType,
    /// `guid`.
    pub guid: u64,
    /// `createtxg`: the transaction group that created it.
    pub createtxg: u64,
    /// `creation` (seconds precision, UTC).
    pub creation: OffsetDateTime,
    /// `used`: space used by the dataset and all its descendants.
    pub used: u64,
    /// `referenced`: data reachable from the dataset.
    pub referenced: u64,
    /// `available`.
    pub available: u64,
    /// `written`: referenced data written since the latest snapshot (`None` when the kernel
    /// does not report it).
    pub written: Option<u64>,
    /// `origin`: the snapshot it was cloned from, for a clone.
    pub origin: Option<SnapshotName>,
    /// `volsize`, for a volume.
    pub volsize: Option<u64>,
    /// `mountpoint` (the effective value: a path, `none` or `legacy`), for a filesystem.
    pub mountpoint: Option<String>,
    /// The user properties asked for (see [`UserProps`](super::UserProps)), by name.
    pub user_properties: BTreeMap<String, UserProperty>,
}

impl DatasetInfo {
    /// True for a clone (it has an origin).
    pub fn is_clone(&self) -> bool {
        self.origin.is_some()
    }
}

/// A snapshot, with every property the inventory reads.
///
/// Numbers are bytes, as `zfs list -p` prints them.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SnapshotInfo {
    /// The full name.
    pub name: SnapshotName,
    /// `guid`: stable across renames and send/receive.
    pub guid: u64,
    /// `createtxg`: the transaction group that created it; orders the snapshots of a pool.
    pub createtxg: u64,
    /// `creation` (seconds precision, UTC).
    pub creation: OffsetDateTime,
    /// `used`: space that destroying only this snapshot would free.
    pub used: u64,
    /// `referenced`.
    pub referenced: u64,
    /// `written`: referenced data written between the previous snapshot and this one (`None`
    /// when the kernel does not report it).
    pub written: Option<u64>,
    /// `userrefs`: the number of user holds.
    pub userrefs: u64,
    /// `clones`: the datasets cloned from this snapshot, sorted.
    pub clones: Vec<DatasetName>,
    /// `defer_destroy`: a deferred destroy (`zfs destroy -d`) is pending until the holds and
    /// clones are gone.
    pub defer_destroy: bool,
    /// The user properties asked for (see [`UserProps`](super::UserProps)), by name.
    pub user_properties: BTreeMap<String, UserProperty>,
    /// The holds, when asked for ([`SnapshotQuery::with_holds`](super::SnapshotQuery::with_holds)),
    /// sorted by tag.
    pub holds: Option<Vec<HoldInfo>>,
}

impl SnapshotInfo {
    /// The crate's plain [`Snapshot`] (name, GUID, creation txg and time).
    pub fn to_snapshot(&self) -> Snapshot {
        Snapshot::from_parts(self.name.clone(), self.guid, self.createtxg, self.creation)
    }
}

impl From<&SnapshotInfo> for Snapshot {
    fn from(s: &SnapshotInfo) -> Snapshot {
        s.to_snapshot()
    }
}

impl From<SnapshotInfo> for Snapshot {
    fn from(s: SnapshotInfo) -> Snapshot {
        Snapshot::from_parts(s.name, s.guid, s.createtxg, s.creation)
    }
}

/// A bookmark with the properties of the snapshot it was made from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct BookmarkInfo {
    /// The full name (`pool/fs#mark`).
    pub name: BookmarkName,
    /// `guid` of the bookmarked snapshot.
    pub guid: u64,
    /// `createtxg` of the bookmarked snapshot.
    pub createtxg: u64,
    /// `creation` of the bookmarked snapshot (seconds precision, UTC).
    pub creation: OffsetDateTime,
}

/// Where a long listing stands, passed to the progress callback after every page
/// ([`Inventory::on_progress`](super::Inventory::on_progress)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Progress {
    /// What is being listed: `"datasets"`, `"snapshots"`, `"bookmarks"`.
    pub listing: &'static str,
    /// Channel program calls so far, retries included.
    pub calls: u64,
    /// Pages returned so far.
    pub pages: u64,
    /// Items returned so far.
    pub items: u64,
    /// Pages re-run with a smaller page size after hitting a limit.
    pub retries: u64,
    /// The page size the next page will use.
    pub page_size: usize,
    /// The last name returned (the position the next page resumes after), if any.
    pub position: Option<String>,
    /// Whether the listing is complete.
    pub done: bool,
}
