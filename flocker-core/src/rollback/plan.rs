//! The pure planner: from a [`LiveState`] and a target, the exact steps of a rollback.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::state::{DatasetKind, LiveState, PropValue, SnapshotState};
use super::store::StashRecord;
use crate::error::ErrorKind;

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
    fn from_str(s: &str) -> Result<Self, crate::error::Error> {
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Blocker {
    /// The target is not a snapshot of the dataset.
    TargetMissing {
        /// The requested snapshot.
        target: String,
    },
    /// Encrypted datasets are not supported yet.
    Encrypted,
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
        snapshot: String,
        /// Its hold tags.
        tags: Vec<String>,
    },
    /// A newer snapshot has clones (`copy` cannot destroy it).
    Cloned {
        /// The snapshot.
        snapshot: String,
        /// Its clones.
        clones: Vec<String>,
    },
    /// A bookmark newer than the target (`lzc_rollback_to` refuses).
    NewerBookmark {
        /// The bookmark.
        bookmark: String,
    },
    /// A local property `swap` cannot copy onto the new dataset.
    Property {
        /// Property.
        prop: String,
        /// Its value.
        value: String,
    },
    /// A mount that a process uses (`swap` must unmount it).
    BusyMount {
        /// Dataset.
        dataset: String,
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
            Blocker::IsStash => ErrorKind::InvalidArgument,
            Blocker::NoSpace { .. } => ErrorKind::NoSpace,
            Blocker::Held { .. } => ErrorKind::Held,
            Blocker::Cloned { .. } => ErrorKind::HasClones,
            Blocker::NewerBookmark { .. } => ErrorKind::NotLatest,
            Blocker::BusyMount { .. } => ErrorKind::Busy,
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
            Blocker::Encrypted => f.write_str("encrypted datasets are not supported yet"),
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
                    clones.join(", ")
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
        }
    }
}

/// One step of a plan; the executor carries out exactly these.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Step {
    /// `umount2(path)` (no force).
    Unmount {
        /// Dataset.
        dataset: String,
        /// Path.
        path: String,
    },
    /// `lzc_snapshot`.
    Snapshot {
        /// Full snapshot name.
        snapshot: String,
    },
    /// `lzc_create` of the stash container if missing (`canmount=off`, `mountpoint=none`).
    EnsureContainer {
        /// Its name.
        container: String,
    },
    /// `lzc_send` piped into `lzc_receive`.
    SendReceive {
        /// Snapshot sent.
        send: String,
        /// Incremental source (snapshot or bookmark).
        from: Option<String>,
        /// Snapshot received.
        receive: String,
        /// Clone origin for the first receive into a new dataset.
        origin: Option<String>,
    },
    /// `lzc_bookmark`.
    Bookmark {
        /// Full bookmark name.
        bookmark: String,
        /// Source snapshot.
        source: String,
    },
    /// Check that every stashed snapshot has its original GUID.
    VerifyGuids,
    /// Write the stash record (the commit point).
    Commit,
    /// `lzc_destroy_snaps` (each GUID re-checked first).
    DestroySnapshots {
        /// Full names.
        snapshots: Vec<String>,
    },
    /// `lzc_rollback_to`.
    RollbackTo {
        /// Full snapshot name.
        snapshot: String,
    },
    /// `lzc_clone` with properties.
    Clone {
        /// New dataset.
        clone: String,
        /// Origin snapshot.
        origin: String,
        /// Properties set at creation.
        props: BTreeMap<String, PropValue>,
    },
    /// `lzc_promote`.
    Promote {
        /// Dataset.
        dataset: String,
    },
    /// `lzc_rename`.
    Rename {
        /// Old name.
        from: String,
        /// New name.
        to: String,
    },
    /// `ZFS_IOC_INHERIT_PROP`.
    InheritProp {
        /// Dataset.
        dataset: String,
        /// Property.
        prop: String,
    },
    /// `ZFS_IOC_SET_PROP`.
    SetProp {
        /// Dataset.
        dataset: String,
        /// Property.
        prop: String,
        /// Value.
        value: PropValue,
    },
    /// `mount(2)`.
    Mount {
        /// Dataset.
        dataset: String,
        /// Path.
        path: String,
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
            Step::DestroySnapshots { snapshots } => write!(f, "destroy {}", snapshots.join(" ")),
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
        }
    }
}

/// A computed rollback: what will be done, why, what gets stashed, what could block it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RollbackPlan {
    /// The dataset rolled back.
    pub dataset: String,
    /// Its GUID when planned.
    pub dataset_guid: u64,
    /// Target snapshot (full name).
    pub target: String,
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
    pub stash_dataset: String,
    /// Snapshot taken of the state at rollback time (full name).
    pub pre_snapshot: String,
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
    /// swapped back in by a restore).
    #[serde(default)]
    pub incoming: String,
}

impl RollbackPlan {
    /// True when the plan can be carried out.
    pub fn is_runnable(&self) -> bool {
        self.strategy.is_some() && self.blockers.is_empty()
    }

    /// The plan as JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// The pool the plan works in.
    pub fn pool(&self) -> &str {
        self.dataset.split('/').next().unwrap_or(&self.dataset)
    }

    /// The stash container of the pool.
    pub fn container(&self) -> String {
        format!("{}/{STASH_CONTAINER}", self.pool())
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
            self.pre_snapshot
        )?;
        for s in &self.stashed {
            writeln!(f, "  {}@{} guid {}", self.dataset, s.name, s.guid)?;
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

/// Computes the plan to roll `state.dataset` back to its snapshot `target` (short name) with
/// `strategy`, stashing under id `stash_id`. Pure: no I/O.
pub fn plan(state: &LiveState, target: &str, strategy: Strategy, stash_id: &str) -> RollbackPlan {
    let pool = state
        .dataset
        .split('/')
        .next()
        .unwrap_or(&state.dataset)
        .to_string();
    let container = format!("{pool}/{STASH_CONTAINER}");
    let stash_dataset = format!("{container}/{stash_id}");
    let pre_short = format!("{PRE_PREFIX}{stash_id}");
    let pre_snapshot = format!("{}@{pre_short}", state.dataset);
    let target_full = format!("{}@{target}", state.dataset);
    let mut p = RollbackPlan {
        dataset: state.dataset.clone(),
        dataset_guid: state.guid,
        target: target_full.clone(),
        target_guid: 0,
        requested: strategy,
        strategy: None,
        reason: String::new(),
        stash_id: stash_id.to_string(),
        stash_dataset: stash_dataset.clone(),
        pre_snapshot: pre_snapshot.clone(),
        stashed: Vec::new(),
        space_needed: 0,
        blockers: Vec::new(),
        notes: Vec::new(),
        steps: Vec::new(),
        local_props: state.local_props.clone(),
        volume: state.kind == DatasetKind::Volume,
        incoming: format!("{stash_dataset}-new"),
    };

    let mut common = Vec::new();
    if state.dataset.starts_with(&format!("{container}/")) || state.dataset == container {
        common.push(Blocker::IsStash);
    }
    if state.encrypted {
        common.push(Blocker::Encrypted);
    }
    let Some(t) = state.snapshot(target) else {
        common.push(Blocker::TargetMissing {
            target: target_full,
        });
        p.blockers = common;
        p.reason = "the target does not exist".into();
        return p;
    };
    p.target_guid = t.guid;
    let newer: Vec<SnapshotState> = state.newer_than(t).into_iter().cloned().collect();
    p.stashed = newer.clone();
    if newer.is_empty() {
        p.notes
            .push("the target is the latest snapshot: only the state now is stashed".into());
    }
    if let Some(o) = &state.origin {
        p.notes
            .push(format!("the dataset is a clone of {o}; its origin is kept"));
    }
    if !state.children.is_empty() {
        p.notes.push(format!(
            "{} child dataset(s) keep their names and mounts",
            state.children.len()
        ));
    }

    // What blocks each strategy.
    let mut copy_blockers = Vec::new();
    for s in &newer {
        let full = format!("{}@{}", state.dataset, s.name);
        if !s.holds.is_empty() {
            copy_blockers.push(Blocker::Held {
                snapshot: full.clone(),
                tags: s.holds.clone(),
            });
        }
        if !s.clones.is_empty() {
            copy_blockers.push(Blocker::Cloned {
                snapshot: full,
                clones: s.clones.clone(),
            });
        }
    }
    for b in &state.bookmarks {
        if b.createtxg > t.createtxg {
            copy_blockers.push(Blocker::NewerBookmark {
                bookmark: format!("{}#{}", state.dataset, b.name),
            });
        }
    }
    let mut swap_blockers = Vec::new();
    if let Some(m) = &state.mount
        && m.busy
    {
        swap_blockers.push(Blocker::BusyMount {
            dataset: state.dataset.clone(),
            path: m.path.clone(),
        });
    }
    for c in &state.children {
        if let Some(m) = &c.mount
            && m.busy
        {
            swap_blockers.push(Blocker::BusyMount {
                dataset: c.name.clone(),
                path: m.path.clone(),
            });
        }
    }
    for (k, v) in &state.local_props {
        if !NOT_CLONED.contains(&k.as_str()) && kernel_value(k, v).is_none() {
            swap_blockers.push(Blocker::Property {
                prop: k.clone(),
                value: v.to_string(),
            });
        }
    }
    let copy_space: u64 = newer
        .iter()
        .map(|s| s.written)
        .sum::<u64>()
        .saturating_add(state.written);
    let swap_space: u64 = ["reservation", "refreservation"]
        .iter()
        .filter_map(|k| state.local_number(k))
        .fold(0u64, u64::saturating_add);

    let chosen = match strategy {
        Strategy::Swap => Ok((Strategy::Swap, "asked for".to_string())),
        Strategy::Copy => Ok((Strategy::Copy, "asked for".to_string())),
        Strategy::Auto => {
            let vol = state.kind == DatasetKind::Volume;
            if !vol && swap_blockers.is_empty() {
                Ok((
                    Strategy::Swap,
                    "the dataset can be unmounted: O(1) swap".to_string(),
                ))
            } else if copy_blockers.is_empty() {
                let why = if vol {
                    "a volume may be open: copy keeps its device".to_string()
                } else {
                    "the dataset is in use: copy stays online".to_string()
                };
                Ok((Strategy::Copy, why))
            } else if swap_blockers.is_empty() {
                Ok((
                    Strategy::Swap,
                    "copy is blocked; the volume is swapped".to_string(),
                ))
            } else {
                Err(())
            }
        }
    };
    let (chosen, why) = match chosen {
        Ok(c) => c,
        Err(()) => {
            common.extend(swap_blockers);
            common.extend(copy_blockers);
            p.blockers = common;
            p.reason = "both swap and copy are blocked".into();
            return p;
        }
    };
    p.strategy = Some(chosen);
    p.reason = why;
    let (space, mut blockers) = match chosen {
        Strategy::Swap => (swap_space, swap_blockers),
        _ => (copy_space, copy_blockers),
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
        Strategy::Swap => swap_steps(
            state,
            target,
            &container,
            &stash_dataset,
            &pre_snapshot,
            &newer,
        ),
        _ => copy_steps(
            state,
            target,
            &container,
            &stash_dataset,
            &pre_short,
            &newer,
        ),
    };
    if !p.blockers.is_empty() {
        p.strategy = None;
    }
    p
}

fn copy_steps(
    state: &LiveState,
    target: &str,
    container: &str,
    stash: &str,
    pre_short: &str,
    newer: &[SnapshotState],
) -> Vec<Step> {
    let fs = &state.dataset;
    let target_full = format!("{fs}@{target}");
    let mut steps = vec![
        Step::Snapshot {
            snapshot: format!("{fs}@{pre_short}"),
        },
        Step::EnsureContainer {
            container: container.to_string(),
        },
    ];
    let mut prev = target.to_string();
    let mut first = true;
    let chain: Vec<&str> = newer
        .iter()
        .map(|s| s.name.as_str())
        .chain(std::iter::once(pre_short))
        .collect();
    for name in &chain {
        steps.push(Step::SendReceive {
            send: format!("{fs}@{name}"),
            from: Some(format!("{fs}@{prev}")),
            receive: format!("{stash}@{name}"),
            origin: first.then(|| target_full.clone()),
        });
        first = false;
        prev = (*name).to_string();
    }
    steps.push(Step::Bookmark {
        bookmark: format!("{stash}#{BASE_BOOKMARK}"),
        source: target_full.clone(),
    });
    steps.push(Step::VerifyGuids);
    steps.push(Step::Commit);
    steps.push(Step::DestroySnapshots {
        snapshots: chain.iter().map(|n| format!("{fs}@{n}")).collect(),
    });
    steps.push(Step::RollbackTo {
        snapshot: target_full,
    });
    steps
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
    let names = |p: &RollbackPlan| -> Vec<(String, u64)> {
        p.stashed.iter().map(|s| (s.name.clone(), s.guid)).collect()
    };
    let (a, b) = (names(was), names(now));
    for (n, g) in &b {
        if !a.contains(&(n.clone(), *g)) {
            d.push(format!("new snapshot {}@{n} (GUID {g})", was.dataset));
        }
    }
    for (n, g) in &a {
        if !b.contains(&(n.clone(), *g)) {
            d.push(format!(
                "snapshot {}@{n} (GUID {g}) is gone or replaced",
                was.dataset
            ));
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
fn mounted_children_deepest_first(state: &LiveState) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = state
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

fn swap_steps(
    state: &LiveState,
    target: &str,
    container: &str,
    stash: &str,
    pre_snapshot: &str,
    _newer: &[SnapshotState],
) -> Vec<Step> {
    let fs = &state.dataset;
    let clone = format!("{stash}-new");
    let mut steps = Vec::new();
    let children_mounts = mounted_children_deepest_first(state);
    for (d, path) in &children_mounts {
        steps.push(Step::Unmount {
            dataset: d.clone(),
            path: path.clone(),
        });
    }
    if let Some(m) = &state.mount {
        steps.push(Step::Unmount {
            dataset: fs.clone(),
            path: m.path.clone(),
        });
    }
    steps.push(Step::Snapshot {
        snapshot: pre_snapshot.to_string(),
    });
    steps.push(Step::EnsureContainer {
        container: container.to_string(),
    });
    let props: BTreeMap<String, PropValue> = state
        .local_props
        .iter()
        .filter(|(k, _)| !NOT_CLONED.contains(&k.as_str()))
        .filter_map(|(k, v)| kernel_value(k, v).map(|v| (k.clone(), v)))
        .collect();
    steps.push(Step::Clone {
        clone: clone.clone(),
        origin: format!("{fs}@{target}"),
        props,
    });
    steps.push(Step::Promote {
        dataset: clone.clone(),
    });
    steps.push(Step::VerifyGuids);
    steps.push(Step::Commit);
    steps.push(Step::Rename {
        from: fs.clone(),
        to: stash.to_string(),
    });
    steps.push(Step::Rename {
        from: clone,
        to: fs.clone(),
    });
    // Direct children move from the stash to the new dataset (grandchildren follow).
    let prefix = format!("{fs}/");
    for c in &state.children {
        if let Some(rest) = c.name.strip_prefix(&prefix)
            && !rest.contains('/')
        {
            steps.push(Step::Rename {
                from: format!("{stash}/{rest}"),
                to: c.name.clone(),
            });
        }
    }
    if let Some(mp) = state.local_text("mountpoint") {
        steps.push(Step::InheritProp {
            dataset: stash.to_string(),
            prop: "mountpoint".into(),
        });
        steps.push(Step::SetProp {
            dataset: fs.clone(),
            prop: "mountpoint".into(),
            value: PropValue::Text(mp.to_string()),
        });
    }
    for r in ["reservation", "refreservation"] {
        if state.local_number(r).is_some_and(|n| n > 0) {
            steps.push(Step::SetProp {
                dataset: stash.to_string(),
                prop: r.into(),
                value: PropValue::Number(0),
            });
        }
    }
    if let Some(m) = &state.mount {
        steps.push(Step::Mount {
            dataset: fs.clone(),
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

/// Plans a restore of the `swap`-made (or any) stash `rec` by swapping it back in: the stash is
/// promoted (it is a clone of the target), the live dataset becomes a new stash `new_id`
/// holding what it gained since, and the stash takes the live name, its children and its
/// saved properties. O(1); needs the mounts released, like `swap`. Pure.
pub fn plan_swap_back(state: &LiveState, rec: &StashRecord, new_id: &str) -> RollbackPlan {
    let short = rec.target.short_name().to_string();
    let mut p = plan(state, &short, Strategy::Swap, new_id);
    p.reason = format!("restore of stash {} by swapping it back in", rec.id);
    p.incoming = rec.stash_dataset.to_string();
    if !p.blockers.is_empty() {
        return p;
    }
    if state.snapshot(&short).map(|s| s.guid) != Some(rec.target_guid) {
        p.blockers.push(Blocker::TargetMissing {
            target: rec.target.to_string(),
        });
        p.strategy = None;
        return p;
    }
    let fs = &state.dataset;
    let stash = p.stash_dataset.clone();
    let children_mounts = mounted_children_deepest_first(state);
    let mut steps = Vec::new();
    for (d, path) in &children_mounts {
        steps.push(Step::Unmount {
            dataset: d.clone(),
            path: path.clone(),
        });
    }
    if let Some(m) = &state.mount {
        steps.push(Step::Unmount {
            dataset: fs.clone(),
            path: m.path.clone(),
        });
    }
    steps.push(Step::Snapshot {
        snapshot: p.pre_snapshot.clone(),
    });
    steps.push(Step::EnsureContainer {
        container: p.container(),
    });
    steps.push(Step::Promote {
        dataset: rec.stash_dataset.to_string(),
    });
    steps.push(Step::VerifyGuids);
    steps.push(Step::Commit);
    steps.push(Step::Rename {
        from: fs.clone(),
        to: stash.clone(),
    });
    steps.push(Step::Rename {
        from: rec.stash_dataset.to_string(),
        to: fs.clone(),
    });
    let prefix = format!("{fs}/");
    for c in &state.children {
        if let Some(rest) = c.name.strip_prefix(&prefix)
            && !rest.contains('/')
        {
            steps.push(Step::Rename {
                from: format!("{stash}/{rest}"),
                to: c.name.clone(),
            });
        }
    }
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
    if let Some(m) = &state.mount {
        steps.push(Step::Mount {
            dataset: fs.clone(),
            path: m.path.clone(),
        });
    }
    for (d, path) in children_mounts.iter().rev() {
        steps.push(Step::Mount {
            dataset: d.clone(),
            path: path.clone(),
        });
    }
    p.steps = steps;
    p
}
