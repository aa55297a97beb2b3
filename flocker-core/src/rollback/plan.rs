//! The pure planner: from a [`LiveState`] and a target, the exact steps of a rollback.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::state::{DatasetKind, LiveState, PropValue, SnapshotState};
use super::store::StashRecord;
use crate::error::{ErrorKind, Result};
use crate::name::{BookmarkName, DatasetName, PoolName, SnapshotName};

/// Joins names with `", "`.
fn join<T: AsRef<str>>(names: &[T]) -> String {
    names
        .iter()
        .map(AsRef::as_ref)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Name of the per-pool dataset under which stashes live.
pub const STASH_CONTAINER: &str = "flocker-stash";
/// Prefix of the snapshot that captures the state at rollback time.
pub const PRE_PREFIX: &str = "flocker-pre-";
/// Short name of the bookmark of `fs@S` kept on each stash dataset.
pub const BASE_BOOKMARK: &str = "flocker-base";

/// Which way to roll back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// `swap` when the dataset can be unmounted (filesystems), `copy` otherwise.
    Auto,
    /// Clone, promote, rename: O(1); unmounts the dataset and its mounted children.
    Swap,
    /// Send/receive the newer history into the stash, then roll back in place: online.
    Copy,
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Strategy::Auto => "auto",
            Strategy::Swap => "swap",
            Strategy::Copy => "copy",
        })
    }
}

impl std::str::FromStr for Strategy {
    type Err = crate::error::Error;
    /// `auto`, `swap` or `copy`; anything else is [`ErrorKind::InvalidArgument`].
    fn from_str(s: &str) -> std::result::Result<Self, crate::error::Error> {
        match s {
            "auto" => Ok(Strategy::Auto),
            "swap" => Ok(Strategy::Swap),
            "copy" => Ok(Strategy::Copy),
            other => Err(
                crate::error::Error::new(ErrorKind::InvalidArgument, "strategy")
                    .with_detail(format!("unknown strategy {other:?} (auto, swap or copy)")),
            ),
        }
    }
}

/// Why a plan cannot be carried out.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Blocker {
    /// The target is not a snapshot of the dataset.
    TargetMissing {
        /// The requested snapshot.
        target: SnapshotName,
    },
    /// The dataset is encrypted but its encryption root is not known (a state built without
    /// it); the reader always fills it in.
    Encrypted,
    /// `swap` cannot keep the encryption layout: the dataset is its own encryption root, or it
    /// uses the key of an encryption root that is not its parent's (see ROLLBACK.md).
    EncryptionSwap {
        /// The dataset.
        dataset: DatasetName,
        /// Its encryption root.
        root: DatasetName,
    },
    /// The key of the encryption root the dataset inherits is not loaded.
    KeyNotLoaded {
        /// The encryption root.
        root: DatasetName,
    },
    /// The dataset is itself a stash.
    IsStash,
    /// Not enough free space.
    NoSpace {
        /// Bytes needed.
        needed: u64,
        /// Bytes available.
        available: u64,
    },
    /// A newer snapshot has user holds (`copy` cannot destroy it).
    Held {
        /// The snapshot.
        snapshot: SnapshotName,
        /// Its hold tags.
        tags: Vec<String>,
    },
    /// A newer snapshot has clones (`copy` cannot destroy it).
    Cloned {
        /// The snapshot.
        snapshot: SnapshotName,
        /// Its clones.
        clones: Vec<DatasetName>,
    },
    /// A bookmark newer than the target (`lzc_rollback_to` refuses).
    NewerBookmark {
        /// The bookmark.
        bookmark: BookmarkName,
    },
    /// A local property `swap` cannot copy onto the new dataset.
    Property {
        /// Property.
        prop: String,
        /// Its value.
        value: String,
    },
    /// What a rollback at next boot cannot do (a volume, ...): see `boot.rs`.
    AtNextBoot {
        /// Why.
        why: String,
    },
    /// A mount that a process uses (`swap` must unmount it).
    BusyMount {
        /// Dataset.
        dataset: DatasetName,
        /// Mount path.
        path: String,
    },
}

impl Blocker {
    /// The error kind a refusal because of this blocker carries.
    pub fn error_kind(&self) -> ErrorKind {
        match self {
            Blocker::TargetMissing { .. } => ErrorKind::NotFound,
            Blocker::Encrypted => ErrorKind::NotSupported,
            Blocker::EncryptionSwap { .. } => ErrorKind::NotSupported,
            Blocker::KeyNotLoaded { .. } => ErrorKind::KeyNotLoaded,
            Blocker::IsStash => ErrorKind::InvalidArgument,
            Blocker::NoSpace { .. } => ErrorKind::NoSpace,
            Blocker::Held { .. } => ErrorKind::Held,
            Blocker::Cloned { .. } => ErrorKind::HasClones,
            Blocker::NewerBookmark { .. } => ErrorKind::NotLatest,
            Blocker::BusyMount { .. } => ErrorKind::Busy,
            Blocker::AtNextBoot { .. } => ErrorKind::NotSupported,
            Blocker::Property { .. } => ErrorKind::NotSupported,
        }
    }
}

impl fmt::Display for Blocker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Blocker::TargetMissing { target } => {
                write!(f, "{target} is not a snapshot of the dataset")
            }
            Blocker::Encrypted => f.write_str("the dataset's encryption root is not known"),
            Blocker::EncryptionSwap { dataset, root } if dataset == root => write!(
                f,
                "{dataset} is its own encryption root: swap would hand the root to the clone; \
                 copy keeps it"
            ),
            Blocker::EncryptionSwap { dataset, root } => write!(
                f,
                "{dataset} uses the key of {root}, which is not its parent's encryption root: \
                 swap cannot rename the clone into place; copy keeps it"
            ),
            Blocker::KeyNotLoaded { root } => {
                write!(f, "the key of {root} is not loaded (zfs load-key {root})")
            }
            Blocker::IsStash => f.write_str("the dataset is a stash; use `stash restore` instead"),
            Blocker::NoSpace { needed, available } => {
                write!(f, "needs {needed} bytes, {available} available")
            }
            Blocker::Held { snapshot, tags } => {
                write!(
                    f,
                    "{snapshot} is held ({}); copy cannot destroy it",
                    tags.join(", ")
                )
            }
            Blocker::Cloned { snapshot, clones } => {
                write!(
                    f,
                    "{snapshot} has clones ({}); copy cannot destroy it",
                    join(clones)
                )
            }
            Blocker::NewerBookmark { bookmark } => {
                write!(
                    f,
                    "bookmark {bookmark} is newer than the target; copy cannot roll back past it"
                )
            }
            Blocker::Property { prop, value } => {
                write!(f, "local property {prop}={value} cannot be copied by swap")
            }
            Blocker::BusyMount { dataset, path } => {
                write!(
                    f,
                    "{dataset} is mounted at {path} and in use; swap cannot unmount it"
                )
            }
            Blocker::AtNextBoot { why } => write!(f, "at next boot: {why}"),
        }
    }
}

/// The incremental source of a send: a snapshot or a bookmark.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A snapshot.
    Snapshot(SnapshotName),
    /// A bookmark.
    Bookmark(BookmarkName),
}

impl Source {
    /// The full name.
    pub fn as_str(&self) -> &str {
        match self {
            Source::Snapshot(s) => s.as_str(),
            Source::Bookmark(b) => b.as_str(),
        }
    }

    /// `name` as a snapshot (with `@`) or a bookmark (with `#`).
    pub fn new(name: &str) -> std::result::Result<Source, crate::name::NameError> {
        if name.contains('#') {
            Ok(Source::Bookmark(BookmarkName::new(name)?))
        } else {
            Ok(Source::Snapshot(SnapshotName::new(name)?))
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One step of a plan; the executor carries out exactly these.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Step {
    /// `umount2(path)` (no force).
    Unmount {
        /// Dataset.
        dataset: DatasetName,
        /// Path.
        path: String,
    },
    /// `lzc_snapshot`.
    Snapshot {
        /// The snapshot.
        snapshot: SnapshotName,
    },
    /// `lzc_create` of the stash container if missing (`canmount=off`, `mountpoint=none`).
    EnsureContainer {
        /// Its name.
        container: DatasetName,
    },
    /// `lzc_send` piped into `lzc_receive`.
    SendReceive {
        /// Snapshot sent.
        send: SnapshotName,
        /// Incremental source (snapshot or bookmark).
        from: Option<Source>,
        /// Snapshot received.
        receive: SnapshotName,
        /// Clone origin for the first receive into a new dataset.
        origin: Option<SnapshotName>,
    },
    /// `lzc_bookmark`.
    Bookmark {
        /// The bookmark.
        bookmark: BookmarkName,
        /// Source snapshot.
        source: SnapshotName,
    },
    /// Check that every stashed snapshot has its original GUID.
    VerifyGuids,
    /// Write the stash record (the commit point).
    Commit,
    /// `lzc_destroy_snaps` (each GUID re-checked first).
    DestroySnapshots {
        /// The snapshots.
        snapshots: Vec<SnapshotName>,
    },
    /// `lzc_rollback_to`.
    RollbackTo {
        /// The snapshot.
        snapshot: SnapshotName,
    },
    /// `lzc_clone` with properties.
    Clone {
        /// New dataset.
        clone: DatasetName,
        /// Origin snapshot.
        origin: SnapshotName,
        /// Properties set at creation.
        props: BTreeMap<String, PropValue>,
    },
    /// `lzc_promote`.
    Promote {
        /// Dataset.
        dataset: DatasetName,
    },
    /// `lzc_rename`.
    Rename {
        /// Old name.
        from: DatasetName,
        /// New name.
        to: DatasetName,
    },
    /// `ZFS_IOC_INHERIT_PROP`.
    InheritProp {
        /// Dataset.
        dataset: DatasetName,
        /// Property.
        prop: String,
    },
    /// `ZFS_IOC_SET_PROP`.
    SetProp {
        /// Dataset.
        dataset: DatasetName,
        /// Property.
        prop: String,
        /// Value.
        value: PropValue,
    },
    /// `mount(2)`.
    Mount {
        /// Dataset.
        dataset: DatasetName,
        /// Path.
        path: String,
    },
    /// `ZFS_IOC_POOL_SET_PROPS bootfs=<dataset>`: the pool property names its dataset by
    /// object, so after the renames of a rollback at next boot it must be set again.
    SetBootfs {
        /// The dataset (its pool is the pool set).
        dataset: DatasetName,
    },
    /// A rollback at next boot waits here until the system has booted the new state: the old
    /// dataset (now the stash) is no longer mounted, in a later boot (see `boot.rs`).
    AwaitBoot {
        /// The dataset.
        dataset: DatasetName,
    },
    /// After the boot: a snapshot of the stash's last state (what was written until the
    /// reboot), added to the stash record.
    SnapshotStash {
        /// The snapshot.
        snapshot: SnapshotName,
    },
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Unmount { dataset, path } => write!(f, "unmount {dataset} from {path}"),
            Step::Snapshot { snapshot } => write!(f, "snapshot {snapshot}"),
            Step::EnsureContainer { container } => write!(
                f,
                "create {container} if missing (canmount=off, mountpoint=none)"
            ),
            Step::SendReceive {
                send,
                from,
                receive,
                origin,
            } => {
                write!(f, "send {send}")?;
                if let Some(fr) = from {
                    write!(f, " from {fr}")?;
                }
                write!(f, " | receive {receive}")?;
                if let Some(o) = origin {
                    write!(f, " as a clone of {o}")?;
                }
                Ok(())
            }
            Step::Bookmark { bookmark, source } => write!(f, "bookmark {source} as {bookmark}"),
            Step::VerifyGuids => f.write_str("verify the GUIDs of the stashed snapshots"),
            Step::Commit => f.write_str("write the stash record (commit point)"),
            Step::DestroySnapshots { snapshots } => {
                let names: Vec<&str> = snapshots.iter().map(SnapshotName::as_str).collect();
                write!(f, "destroy {}", names.join(" "))
            }
            Step::RollbackTo { snapshot } => write!(f, "roll back to {snapshot}"),
            Step::Clone {
                clone,
                origin,
                props,
            } => {
                write!(f, "clone {origin} as {clone}")?;
                if !props.is_empty() {
                    let p: Vec<String> = props.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    write!(f, " with {}", p.join(","))?;
                }
                Ok(())
            }
            Step::Promote { dataset } => write!(f, "promote {dataset}"),
            Step::Rename { from, to } => write!(f, "rename {from} to {to}"),
            Step::InheritProp { dataset, prop } => write!(f, "inherit {prop} on {dataset}"),
            Step::SetProp {
                dataset,
                prop,
                value,
            } => write!(f, "set {prop}={value} on {dataset}"),
            Step::Mount { dataset, path } => write!(f, "mount {dataset} at {path}"),
            Step::SetBootfs { dataset } => {
                write!(f, "set bootfs={dataset} on pool {}", dataset.pool())
            }
            Step::AwaitBoot { dataset } => write!(
                f,
                "wait for the next boot (the system then runs the rolled-back {dataset})"
            ),
            Step::SnapshotStash { snapshot } => {
                write!(
                    f,
                    "after the boot: snapshot {snapshot} (the state at shutdown)"
                )
            }
        }
    }
}

/// A computed rollback: what will be done, why, what gets stashed, what could block it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RollbackPlan {
    /// The dataset rolled back.
    pub dataset: DatasetName,
    /// Its GUID when planned.
    pub dataset_guid: u64,
    /// Target snapshot.
    pub target: SnapshotName,
    /// Target GUID (0 when missing).
    pub target_guid: u64,
    /// The strategy asked for.
    pub requested: Strategy,
    /// The strategy chosen (`Swap` or `Copy`), or `None` when refused.
    pub strategy: Option<Strategy>,
    /// Why that strategy.
    pub reason: String,
    /// Stash id.
    pub stash_id: String,
    /// Stash dataset.
    pub stash_dataset: DatasetName,
    /// Snapshot taken of the state at rollback time (`None`: the receive-back phase of a
    /// restore takes none).
    pub pre_snapshot: Option<SnapshotName>,
    /// Newer snapshots that move into the stash (same GUIDs), oldest first.
    pub stashed: Vec<SnapshotState>,
    /// Bytes of new space the plan needs (estimate).
    pub space_needed: u64,
    /// Why it cannot be done (empty when it can).
    pub blockers: Vec<Blocker>,
    /// Things worth knowing that do not block.
    pub notes: Vec<String>,
    /// The exact steps.
    pub steps: Vec<Step>,
    /// Local properties of the dataset when planned (restored on undo).
    pub local_props: BTreeMap<String, PropValue>,
    /// Whether the dataset is a volume.
    pub volume: bool,
    /// `swap`: the dataset that takes the live name (a fresh clone, or the stash being
    /// swapped back in by a restore); `None` for the receive-back phase of a restore.
    pub incoming: Option<DatasetName>,
}

impl RollbackPlan {
    /// True when the plan can be carried out.
    pub fn is_runnable(&self) -> bool {
        self.strategy.is_some() && self.blockers.is_empty()
    }

    /// The plan as JSON (the shape `datavault rollback --dry-run --json` prints: the fields
    /// as named here, names as strings, `pre_snapshot` and `incoming` `""` when absent,
    /// each step tagged with `op` and each blocker with `kind`).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// The pool the plan works in.
    pub fn pool(&self) -> PoolName {
        self.dataset.pool()
    }

    /// The stash container of the pool.
    pub fn container(&self) -> DatasetName {
        self.stash_dataset
            .parent()
            .unwrap_or_else(|| self.stash_dataset.clone())
    }
}

impl fmt::Display for RollbackPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "rollback {} to {}", self.dataset, self.target)?;
        match self.strategy {
            Some(s) => writeln!(
                f,
                "strategy: {s} (asked: {}) — {}",
                self.requested, self.reason
            )?,
            None => writeln!(
                f,
                "strategy: none (asked: {}) — {}",
                self.requested, self.reason
            )?,
        }
        writeln!(f, "stash: {} (id {})", self.stash_dataset, self.stash_id)?;
        writeln!(
            f,
            "stashed snapshots ({} + the state now as {}):",
            self.stashed.len(),
            self.pre_snapshot.as_ref().map_or("", SnapshotName::as_str)
        )?;
        for s in &self.stashed {
            writeln!(f, "  {} guid {}", s.name(), s.guid())?;
        }
        writeln!(f, "space needed: {} bytes", self.space_needed)?;
        for n in &self.notes {
            writeln!(f, "note: {n}")?;
        }
        if self.blockers.is_empty() {
            writeln!(f, "steps:")?;
            for (i, s) in self.steps.iter().enumerate() {
                writeln!(f, "  {:>2}. {s}", i + 1)?;
            }
        } else {
            writeln!(f, "REFUSED:")?;
            for b in &self.blockers {
                writeln!(f, "  - {b}")?;
            }
        }
        Ok(())
    }
}

/// Properties the kernel takes as strings.
const STRING_PROPS: &[&str] = &[
    "mountpoint",
    "sharenfs",
    "sharesmb",
    "context",
    "fscontext",
    "defcontext",
    "rootcontext",
];

/// The kernel's index of an index property's value (the kernel takes indices, not names;
/// channel programs report names). `None` when unknown: then `swap` refuses to copy it.
pub fn index_value(prop: &str, value: &str) -> Option<u64> {
    const ON_OFF: &[&str] = &[
        "atime", "relatime", "readonly", "exec", "setuid", "devices", "nbmand", "vscan", "zoned",
        "overlay",
    ];
    let v = match prop {
        p if ON_OFF.contains(&p) => match value {
            "off" => 0,
            "on" => 1,
            _ => return None,
        },
        "canmount" => match value {
            "off" => 0,
            "on" => 1,
            "noauto" => 2,
            _ => return None,
        },
        "compression" => match value {
            "on" => 1,
            "off" => 2,
            "lzjb" => 3,
            "gzip" => 10,
            "zle" => 14,
            "lz4" => 15,
            "zstd" => 16,
            g if g.starts_with("gzip-") => {
                let n: u64 = g[5..].parse().ok()?;
                if !(1..=9).contains(&n) {
                    return None;
                }
                4 + n
            }
            _ => return None,
        },
        "checksum" => match value {
            "on" => 1,
            "off" => 2,
            "fletcher2" => 6,
            "fletcher4" => 7,
            "sha256" => 8,
            "sha512" => 11,
            "skein" => 12,
            "edonr" => 13,
            "blake3" => 14,
            _ => return None,
        },
        "sync" => match value {
            "standard" => 0,
            "always" => 1,
            "disabled" => 2,
            _ => return None,
        },
        "logbias" => match value {
            "latency" => 0,
            "throughput" => 1,
            _ => return None,
        },
        "primarycache" | "secondarycache" => match value {
            "none" => 0,
            "metadata" => 1,
            "all" => 2,
            _ => return None,
        },
        "snapdir" | "snapdev" => match value {
            "hidden" => 0,
            "visible" => 1,
            _ => return None,
        },
        "xattr" => match value {
            "off" => 0,
            "on" | "dir" => 1,
            "sa" => 2,
            _ => return None,
        },
        _ => return None,
    };
    Some(v)
}

/// The value to pass to the kernel for a local property, or `None` when it cannot be mapped.
fn kernel_value(prop: &str, v: &PropValue) -> Option<PropValue> {
    match v {
        PropValue::Number(_) => Some(v.clone()),
        PropValue::Text(_) if prop.contains(':') || STRING_PROPS.contains(&prop) => Some(v.clone()),
        PropValue::Text(t) => index_value(prop, t).map(PropValue::Number),
    }
}

/// Properties never copied onto the clone by `swap` (set another way, or not settable).
const NOT_CLONED: &[&str] = &[
    "mountpoint",
    "volsize",
    "encryption",
    "keyformat",
    "keylocation",
    "pbkdf2iters",
    "volblocksize",
];

/// The names a plan works with, derived from the dataset, the target and the stash id.
struct Names {
    container: DatasetName,
    stash: DatasetName,
    fresh: DatasetName,
    pre: SnapshotName,
    target: SnapshotName,
}

impl Names {
    fn new(state: &LiveState, target: &str, stash_id: &str) -> Result<Names> {
        let dataset = &state.dataset;
        let container = super::crypt::stash_container(state)?;
        Ok(Names {
            stash: container.child(stash_id)?,
            fresh: container.child(&format!("{stash_id}-new"))?,
            container,
            pre: dataset.snapshot(&format!("{PRE_PREFIX}{stash_id}"))?,
            target: dataset.snapshot(target)?,
        })
    }
}

/// Computes the plan to roll `state.dataset` back to its snapshot `target` (short name) with
/// `strategy`, stashing under id `stash_id`. Pure: no I/O.
///
/// Errors: [`ErrorKind::InvalidArgument`] when `target` or `stash_id` cannot be part of a name
/// (a missing target is not an error: the plan is refused with [`Blocker::TargetMissing`]).
pub fn plan(
    state: &LiveState,
    target: &str,
    strategy: Strategy,
    stash_id: &str,
) -> Result<RollbackPlan> {
    let n = Names::new(state, target, stash_id)?;
    let mut p = empty_plan(state, &n, strategy, stash_id);
    let mut common = Vec::new();
    if n.container == state.dataset
        || n.container.is_ancestor_of(&state.dataset)
        || super::is_stash_dataset(state.dataset.as_str())
    {
        common.push(Blocker::IsStash);
    }
    common.extend(super::crypt::common_blockers(state));
    let Some(t) = state.snapshot(target) else {
        common.push(Blocker::TargetMissing { target: n.target });
        p.blockers = common;
        p.reason = "the target does not exist".into();
        return Ok(p);
    };
    p.target_guid = t.guid();
    let newer: Vec<SnapshotState> = state.newer_than(t).into_iter().cloned().collect();
    p.stashed = newer.clone();
    p.notes = notes(state, &newer);
    let copy_blockers = copy_blockers(state, t, &newer);
    let swap_blockers = swap_blockers(state);
    let Some((chosen, why)) = choose(state, strategy, &swap_blockers, &copy_blockers) else {
        common.extend(swap_blockers);
        common.extend(copy_blockers);
        p.blockers = common;
        p.reason = "both swap and copy are blocked".into();
        return Ok(p);
    };
    p.strategy = Some(chosen);
    p.reason = super::crypt::reason(state, strategy, chosen).unwrap_or(why);
    p.notes.extend(super::crypt::notes(state));
    let (space, mut blockers) = match chosen {
        Strategy::Swap => (swap_space(state), swap_blockers),
        _ => (copy_space(state, &newer), copy_blockers),
    };
    p.space_needed = space;
    if space > state.available {
        blockers.push(Blocker::NoSpace {
            needed: space,
            available: state.available,
        });
    }
    common.extend(blockers);
    p.blockers = common;
    p.steps = match chosen {
        Strategy::Swap => swap_steps(state, &n)?,
        _ => copy_steps(&n, &newer)?,
    };
    if !p.blockers.is_empty() {
        p.strategy = None;
    }
    Ok(p)
}

/// The plan before anything about the target is known: refused, no steps.
fn empty_plan(state: &LiveState, n: &Names, strategy: Strategy, stash_id: &str) -> RollbackPlan {
    RollbackPlan {
        dataset: state.dataset.clone(),
        dataset_guid: state.guid,
        target: n.target.clone(),
        target_guid: 0,
        requested: strategy,
        strategy: None,
        reason: String::new(),
        stash_id: stash_id.to_string(),
        stash_dataset: n.stash.clone(),
        pre_snapshot: Some(n.pre.clone()),
        stashed: Vec::new(),
        space_needed: 0,
        blockers: Vec::new(),
        notes: Vec::new(),
        steps: Vec::new(),
        local_props: state.local_props.clone(),
        volume: state.kind == DatasetKind::Volume,
        incoming: Some(n.fresh.clone()),
    }
}

/// Things worth knowing that do not block.
fn notes(state: &LiveState, newer: &[SnapshotState]) -> Vec<String> {
    let mut notes = Vec::new();
    if newer.is_empty() {
        notes.push("the target is the latest snapshot: only the state now is stashed".into());
    }
    if let Some(o) = &state.origin {
        notes.push(format!("the dataset is a clone of {o}; its origin is kept"));
    }
    if !state.children.is_empty() {
        notes.push(format!(
            "{} child dataset(s) keep their names and mounts",
            state.children.len()
        ));
    }
    notes
}

/// What blocks `copy`: held or cloned newer snapshots, bookmarks newer than the target.
fn copy_blockers(state: &LiveState, t: &SnapshotState, newer: &[SnapshotState]) -> Vec<Blocker> {
    let mut v = Vec::new();
    for s in newer {
        if !s.holds.is_empty() {
            v.push(Blocker::Held {
                snapshot: s.name().clone(),
                tags: s.holds.clone(),
            });
        }
        if !s.clones.is_empty() {
            v.push(Blocker::Cloned {
                snapshot: s.name().clone(),
                clones: s.clones.clone(),
            });
        }
    }
    for b in &state.bookmarks {
        if b.createtxg > t.createtxg() {
            v.push(Blocker::NewerBookmark {
                bookmark: b.name.clone(),
            });
        }
    }
    v
}

/// What blocks `swap`: busy mounts, local properties it cannot copy.
fn swap_blockers(state: &LiveState) -> Vec<Blocker> {
    let mut v = Vec::new();
    let mounts = std::iter::once((&state.dataset, &state.mount))
        .chain(state.children.iter().map(|c| (&c.name, &c.mount)));
    for (dataset, mount) in mounts {
        if let Some(m) = mount
            && m.busy
        {
            v.push(Blocker::BusyMount {
                dataset: dataset.clone(),
                path: m.path.clone(),
            });
        }
    }
    v.extend(super::crypt::swap_blockers(state));
    for (k, val) in &state.local_props {
        if !NOT_CLONED.contains(&k.as_str()) && kernel_value(k, val).is_none() {
            v.push(Blocker::Property {
                prop: k.clone(),
                value: val.to_string(),
            });
        }
    }
    v
}

/// New space `copy` needs: what the newer snapshots and the state now wrote.
fn copy_space(state: &LiveState, newer: &[SnapshotState]) -> u64 {
    newer
        .iter()
        .map(|s| s.written)
        .sum::<u64>()
        .saturating_add(state.written)
}

/// New space `swap` needs: the reservations the new dataset takes over.
fn swap_space(state: &LiveState) -> u64 {
    ["reservation", "refreservation"]
        .iter()
        .filter_map(|k| state.local_number(k))
        .fold(0u64, u64::saturating_add)
}

/// The strategy to use and why; `None` when `auto` finds both blocked.
fn choose(
    state: &LiveState,
    strategy: Strategy,
    swap_blockers: &[Blocker],
    copy_blockers: &[Blocker],
) -> Option<(Strategy, String)> {
    let vol = state.kind == DatasetKind::Volume;
    let (s, why) = match strategy {
        Strategy::Swap => (Strategy::Swap, "asked for"),
        Strategy::Copy => (Strategy::Copy, "asked for"),
        Strategy::Auto if !vol && swap_blockers.is_empty() => {
            (Strategy::Swap, "the dataset can be unmounted: O(1) swap")
        }
        Strategy::Auto if copy_blockers.is_empty() && vol => (
            Strategy::Copy,
            "a volume may be open: copy keeps its device",
        ),
        Strategy::Auto if copy_blockers.is_empty() => {
            (Strategy::Copy, "the dataset is in use: copy stays online")
        }
        Strategy::Auto if swap_blockers.is_empty() => {
            (Strategy::Swap, "copy is blocked; the volume is swapped")
        }
        Strategy::Auto => return None,
    };
    Some((s, why.to_string()))
}

fn copy_steps(n: &Names, newer: &[SnapshotState]) -> Result<Vec<Step>> {
    let mut steps = vec![
        Step::Snapshot {
            snapshot: n.pre.clone(),
        },
        Step::EnsureContainer {
            container: n.container.clone(),
        },
    ];
    let chain: Vec<&SnapshotName> = newer
        .iter()
        .map(SnapshotState::name)
        .chain(std::iter::once(&n.pre))
        .collect();
    let mut prev = &n.target;
    for (i, name) in chain.iter().enumerate() {
        steps.push(Step::SendReceive {
            send: (*name).clone(),
            from: Some(Source::Snapshot(prev.clone())),
            receive: n.stash.snapshot(name.short_name())?,
            origin: (i == 0).then(|| n.target.clone()),
        });
        prev = name;
    }
    steps.push(Step::Bookmark {
        bookmark: n.stash.bookmark(BASE_BOOKMARK)?,
        source: n.target.clone(),
    });
    steps.push(Step::VerifyGuids);
    steps.push(Step::Commit);
    steps.push(Step::DestroySnapshots {
        snapshots: chain.into_iter().cloned().collect(),
    });
    steps.push(Step::RollbackTo {
        snapshot: n.target.clone(),
    });
    Ok(steps)
}

/// What differs between a plan made earlier (`was`) and the same plan made again from the live
/// state now (`now`, same target, requested strategy and stash id): names, GUIDs, the set of
/// newer snapshots, mounts, local properties and the steps. Empty when `was` still describes
/// the datasets. Space estimates and notes may differ freely.
pub fn plan_differences(was: &RollbackPlan, now: &RollbackPlan) -> Vec<String> {
    let mut d = Vec::new();
    if was.dataset_guid != now.dataset_guid {
        d.push(format!(
            "{} is another dataset now (GUID {} instead of {})",
            was.dataset, now.dataset_guid, was.dataset_guid
        ));
    }
    if was.target_guid != now.target_guid {
        d.push(format!(
            "{} is another snapshot now (GUID {} instead of {})",
            was.target, now.target_guid, was.target_guid
        ));
    }
    let names = |p: &RollbackPlan| -> Vec<(SnapshotName, u64)> {
        p.stashed
            .iter()
            .map(|s| (s.name().clone(), s.guid()))
            .collect()
    };
    let (a, b) = (names(was), names(now));
    for (n, g) in &b {
        if !a.contains(&(n.clone(), *g)) {
            d.push(format!("new snapshot {n} (GUID {g})"));
        }
    }
    for (n, g) in &a {
        if !b.contains(&(n.clone(), *g)) {
            d.push(format!("snapshot {n} (GUID {g}) is gone or replaced"));
        }
    }
    if was.strategy != now.strategy {
        d.push(format!(
            "the strategy would now be {} ({})",
            now.strategy.map_or("none".to_string(), |s| s.to_string()),
            now.reason
        ));
    }
    if was.local_props != now.local_props {
        d.push("its local properties changed".to_string());
    }
    if was.volume != now.volume || was.incoming != now.incoming {
        d.push("the datasets involved changed".to_string());
    }
    if d.is_empty() && was.steps != now.steps {
        let first = was
            .steps
            .iter()
            .zip(&now.steps)
            .find(|(x, y)| x != y)
            .map_or_else(
                || "a step was added or removed".to_string(),
                |(x, y)| format!("planned \"{x}\", now \"{y}\""),
            );
        d.push(format!("the steps changed (mounts or children): {first}"));
    }
    d
}

/// Mounted descendants, deepest first (the unmount order).
fn mounted_children_deepest_first(state: &LiveState) -> Vec<(DatasetName, String)> {
    let mut v: Vec<(DatasetName, String)> = state
        .children
        .iter()
        .filter_map(|c| c.mount.as_ref().map(|m| (c.name.clone(), m.path.clone())))
        .collect();
    v.sort_by(|a, b| {
        let da = a.1.matches('/').count();
        let db = b.1.matches('/').count();
        db.cmp(&da).then_with(|| b.1.cmp(&a.1))
    });
    v
}

/// Unmounts of the mounted children (deepest first) and of the dataset.
fn unmount_steps(state: &LiveState, children_mounts: &[(DatasetName, String)]) -> Vec<Step> {
    let mut steps: Vec<Step> = children_mounts
        .iter()
        .map(|(d, path)| Step::Unmount {
            dataset: d.clone(),
            path: path.clone(),
        })
        .collect();
    if let Some(m) = &state.mount {
        steps.push(Step::Unmount {
            dataset: state.dataset.clone(),
            path: m.path.clone(),
        });
    }
    steps
}

/// Mounts of the dataset and of its children (parents first): the unmounts undone.
fn mount_steps(state: &LiveState, children_mounts: &[(DatasetName, String)]) -> Vec<Step> {
    let mut steps = Vec::new();
    if let Some(m) = &state.mount {
        steps.push(Step::Mount {
            dataset: state.dataset.clone(),
            path: m.path.clone(),
        });
    }
    for (d, path) in children_mounts.iter().rev() {
        steps.push(Step::Mount {
            dataset: d.clone(),
            path: path.clone(),
        });
    }
    steps
}

/// The two renames of a swap (the live dataset into the stash, `incoming` into the live name),
/// then the direct children moved from the stash to the new dataset (grandchildren follow).
fn rename_steps(
    state: &LiveState,
    stash: &DatasetName,
    incoming: &DatasetName,
) -> Result<Vec<Step>> {
    let fs = &state.dataset;
    let mut steps = vec![
        Step::Rename {
            from: fs.clone(),
            to: stash.clone(),
        },
        Step::Rename {
            from: incoming.clone(),
            to: fs.clone(),
        },
    ];
    for c in &state.children {
        if c.name.parent().as_ref() == Some(fs) {
            steps.push(Step::Rename {
                from: stash.child(c.name.last_component())?,
                to: c.name.clone(),
            });
        }
    }
    Ok(steps)
}

/// Sets `reservation` and `refreservation` to 0 on the stash when the dataset has them.
fn release_reservation_steps(state: &LiveState, stash: &DatasetName) -> Vec<Step> {
    ["reservation", "refreservation"]
        .into_iter()
        .filter(|r| state.local_number(r).is_some_and(|n| n > 0))
        .map(|r| Step::SetProp {
            dataset: stash.clone(),
            prop: r.into(),
            value: PropValue::Number(0),
        })
        .collect()
}

fn swap_steps(state: &LiveState, n: &Names) -> Result<Vec<Step>> {
    let fs = &state.dataset;
    let children_mounts = mounted_children_deepest_first(state);
    let mut steps = unmount_steps(state, &children_mounts);
    steps.push(Step::Snapshot {
        snapshot: n.pre.clone(),
    });
    steps.push(Step::EnsureContainer {
        container: n.container.clone(),
    });
    let props: BTreeMap<String, PropValue> = state
        .local_props
        .iter()
        .filter(|(k, _)| !NOT_CLONED.contains(&k.as_str()))
        .filter_map(|(k, v)| kernel_value(k, v).map(|v| (k.clone(), v)))
        .collect();
    steps.push(Step::Clone {
        clone: n.fresh.clone(),
        origin: n.target.clone(),
        props,
    });
    steps.push(Step::Promote {
        dataset: n.fresh.clone(),
    });
    steps.push(Step::VerifyGuids);
    steps.push(Step::Commit);
    steps.extend(rename_steps(state, &n.stash, &n.fresh)?);
    if let Some(mp) = state.local_text("mountpoint") {
        steps.push(Step::InheritProp {
            dataset: n.stash.clone(),
            prop: "mountpoint".into(),
        });
        steps.push(Step::SetProp {
            dataset: fs.clone(),
            prop: "mountpoint".into(),
            value: PropValue::Text(mp.to_string()),
        });
    }
    steps.extend(release_reservation_steps(state, &n.stash));
    steps.extend(mount_steps(state, &children_mounts));
    Ok(steps)
}

/// Plans a restore of the `swap`-made (or any) stash `rec` by swapping it back in: the stash is
/// promoted (it is a clone of the target), the live dataset becomes a new stash `new_id`
/// holding what it gained since, and the stash takes the live name, its children and its
/// saved properties. O(1); needs the mounts released, like `swap`. Pure.
///
/// Errors: those of [`plan`].
pub fn plan_swap_back(state: &LiveState, rec: &StashRecord, new_id: &str) -> Result<RollbackPlan> {
    swap_back(state, rec, new_id, false)
}

/// [`plan_swap_back`]; `mounted_ok`: busy mounts do not block (a restore at next boot, which
/// unmounts nothing; its caller removes the unmount and mount steps).
pub(crate) fn swap_back(
    state: &LiveState,
    rec: &StashRecord,
    new_id: &str,
    mounted_ok: bool,
) -> Result<RollbackPlan> {
    let short = rec.target.short_name();
    let mut p = plan(state, short, Strategy::Swap, new_id)?;
    p.reason = format!("restore of stash {} by swapping it back in", rec.id);
    p.incoming = Some(rec.stash_dataset.clone());
    if mounted_ok {
        p.blockers
            .retain(|b| !matches!(b, Blocker::BusyMount { .. }));
        if p.blockers.is_empty() {
            p.strategy = Some(Strategy::Swap);
        }
    }
    if !p.blockers.is_empty() {
        return Ok(p);
    }
    if state.snapshot(short).map(SnapshotState::guid) != Some(rec.target_guid) {
        p.blockers.push(Blocker::TargetMissing {
            target: rec.target.clone(),
        });
        p.strategy = None;
        return Ok(p);
    }
    p.steps = swap_back_steps(state, rec, &p)?;
    Ok(p)
}

fn swap_back_steps(state: &LiveState, rec: &StashRecord, p: &RollbackPlan) -> Result<Vec<Step>> {
    let fs = &state.dataset;
    let stash = &p.stash_dataset;
    let children_mounts = mounted_children_deepest_first(state);
    let mut steps = unmount_steps(state, &children_mounts);
    if let Some(pre) = &p.pre_snapshot {
        steps.push(Step::Snapshot {
            snapshot: pre.clone(),
        });
    }
    steps.push(Step::EnsureContainer {
        container: p.container(),
    });
    steps.push(Step::Promote {
        dataset: rec.stash_dataset.clone(),
    });
    steps.push(Step::VerifyGuids);
    steps.push(Step::Commit);
    steps.extend(rename_steps(state, stash, &rec.stash_dataset)?);
    if state.local_text("mountpoint").is_some() {
        steps.push(Step::InheritProp {
            dataset: stash.clone(),
            prop: "mountpoint".into(),
        });
    }
    if let Some(PropValue::Text(mp)) = rec.local_props.get("mountpoint") {
        steps.push(Step::SetProp {
            dataset: fs.clone(),
            prop: "mountpoint".into(),
            value: PropValue::Text(mp.clone()),
        });
    }
    for r in ["reservation", "refreservation"] {
        if state.local_number(r).is_some_and(|n| n > 0) {
            steps.push(Step::SetProp {
                dataset: stash.clone(),
                prop: r.into(),
                value: PropValue::Number(0),
            });
        }
        if let Some(PropValue::Number(n)) = rec.local_props.get(r) {
            steps.push(Step::SetProp {
                dataset: fs.clone(),
                prop: r.into(),
                value: PropValue::Number(*n),
            });
        }
    }
    steps.extend(mount_steps(state, &children_mounts));
    Ok(steps)
}
