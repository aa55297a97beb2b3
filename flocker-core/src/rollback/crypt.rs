//! Encrypted datasets: where the stash of a rollback lives, which strategy keeps the
//! encryption layout intact, and how streams are sent (see ROLLBACK.md, "Encrypted datasets").
//!
//! What the kernel allows (module/zfs/dsl_crypt.c, checked in the lab on 2.1 and 2.4):
//! - a clone of an encrypted snapshot may be made anywhere; it keeps the origin's encryption
//!   root and key;
//! - a dataset that inherits its key (not an encryption root) may only be renamed to a parent
//!   under the same encryption root, and a clone that inherits may only be promoted when both
//!   parents are under the same encryption root (`EACCES` otherwise);
//! - promoting a clone over an encryption root makes the clone the encryption root (the
//!   `keylocation` moves with it), after which the old dataset can only live under the clone.
//!
//! Hence: a dataset that inherits its key from `E` keeps its stashes in `E/flocker-stash`
//! (encrypted with `E`'s key), where `swap` and `copy` work as for any dataset; a dataset that
//! is its own encryption root is rolled back by `copy` only, its stash in the pool's container.
//! Every stream of an encrypted dataset is sent raw (`LZC_SEND_FLAG_RAW`): the ciphertext as it
//! is on disk, no key needed, and the same key and IV set lineage on both sides, so that it can
//! be received back raw.

use super::plan::{Blocker, STASH_CONTAINER, Strategy};
use super::state::LiveState;
use crate::error::Result;
use crate::kernel;
use crate::lzc::SendFlags;
use crate::name::DatasetName;

/// `keystatus` value `available` (`zfs_keystatus_t`).
const KEYSTATUS_AVAILABLE: u64 = 2;

/// The encryption of a dataset, as the planner needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EncryptionState {
    /// Its encryption root (the dataset itself when it has its own key).
    pub root: DatasetName,
    /// The encryption root of its parent (`None`: the parent is not encrypted).
    pub parent_root: Option<DatasetName>,
    /// Whether the key is loaded (`keystatus=available`).
    pub key_loaded: bool,
}

impl EncryptionState {
    /// Encrypted with the key of `root`; the parent's encryption root `parent_root`; the key
    /// loaded or not.
    pub fn new(
        root: DatasetName,
        parent_root: Option<DatasetName>,
        key_loaded: bool,
    ) -> EncryptionState {
        EncryptionState {
            root,
            parent_root,
            key_loaded,
        }
    }
}

/// The dataset's encryption root and key status as `ZFS_IOC_OBJSET_STATS` reports them
/// (`None`: not encrypted). The channel program's `zfs.get_prop` does not know
/// `encryptionroot` before OpenZFS 2.2, the objset statistics do on every version.
fn stats(name: &str) -> Result<Option<(DatasetName, bool)>> {
    let entry = kernel::list::stats(name, &mut kernel::list::Buffer::new())?;
    let Some(props) = entry.props else {
        return Ok(None);
    };
    let props = props.as_ref();
    let value = |p: &str| match props.get(p) {
        Some(crate::nvlist::Value::NvList(l)) => l.get("value"),
        _ => None,
    };
    let root = match value("encryptionroot") {
        Some(crate::nvlist::Value::String(s)) => s.to_string_lossy().into_owned(),
        _ => return Ok(None),
    };
    if root.is_empty() {
        return Ok(None);
    }
    let loaded = matches!(
        value("keystatus"),
        Some(crate::nvlist::Value::U64(KEYSTATUS_AVAILABLE))
    );
    Ok(Some((DatasetName::new(&root)?, loaded)))
}

/// Reads the encryption of `dataset` (`None`: not encrypted).
pub(crate) fn read(dataset: &DatasetName) -> Result<Option<EncryptionState>> {
    let Some((root, key_loaded)) = stats(dataset.as_str())? else {
        return Ok(None);
    };
    let parent_root = match dataset.parent() {
        Some(p) => stats(p.as_str())?.map(|(r, _)| r),
        None => None,
    };
    Ok(Some(EncryptionState::new(root, parent_root, key_loaded)))
}

/// The stash container for `state`'s dataset: `<E>/flocker-stash` when it inherits its key
/// from the encryption root `E`, else `<pool>/flocker-stash`.
pub(crate) fn stash_container(state: &LiveState) -> Result<DatasetName> {
    match &state.encryption {
        Some(e) if state.encrypted && e.root != state.dataset => {
            Ok(e.root.child(STASH_CONTAINER)?)
        }
        _ => Ok(state.dataset.pool().as_dataset().child(STASH_CONTAINER)?),
    }
}

/// Whether `state`'s dataset is its own encryption root.
fn own_root(state: &LiveState) -> bool {
    state.encrypted
        && state
            .encryption
            .as_ref()
            .is_some_and(|e| e.root == state.dataset)
}

/// What blocks every strategy: an encrypted dataset whose encryption the reader did not
/// report ([`Blocker::Encrypted`]); one that inherits its key while that key is not loaded (the
/// container under the encryption root may have to be created, which needs the key:
/// [`Blocker::KeyNotLoaded`]).
pub(crate) fn common_blockers(state: &LiveState) -> Vec<Blocker> {
    if !state.encrypted {
        return Vec::new();
    }
    match &state.encryption {
        None => vec![Blocker::Encrypted],
        Some(e) if e.root != state.dataset && !e.key_loaded => vec![Blocker::KeyNotLoaded {
            root: e.root.clone(),
        }],
        Some(_) => Vec::new(),
    }
}

/// What blocks `swap` ([`Blocker::EncryptionSwap`]): the dataset is its own encryption root
/// (the promote would hand the root and its `keylocation` to the clone, and the old dataset
/// could then not be renamed into the stash), or it uses the key of an encryption root that is
/// not its parent's (a clone of another root's snapshot: the clone could not take its name).
pub(crate) fn swap_blockers(state: &LiveState) -> Vec<Blocker> {
    let Some(e) = state.encryption.as_ref().filter(|_| state.encrypted) else {
        return Vec::new();
    };
    if e.root == state.dataset || e.parent_root.as_ref() != Some(&e.root) {
        return vec![Blocker::EncryptionSwap {
            dataset: state.dataset.clone(),
            root: e.root.clone(),
        }];
    }
    Vec::new()
}

/// Why `auto` chose `copy` when only the encryption ruled `swap` out.
pub(crate) fn reason(state: &LiveState, requested: Strategy, chosen: Strategy) -> Option<String> {
    if requested != Strategy::Auto || chosen != Strategy::Copy || swap_blockers(state).is_empty() {
        return None;
    }
    Some(if own_root(state) {
        "the dataset is its own encryption root: copy (raw streams) keeps its key and keylocation"
            .to_string()
    } else {
        "its encryption root is not its parent's: copy (raw streams) keeps its key".to_string()
    })
}

/// What to know about an encrypted dataset's plan.
pub(crate) fn notes(state: &LiveState) -> Vec<String> {
    let Some(e) = state.encryption.as_ref().filter(|_| state.encrypted) else {
        return Vec::new();
    };
    if own_root(state) {
        vec![format!(
            "encrypted, its own encryption root: streams are sent raw; the stash keeps {} as its \
             encryption root",
            e.root
        )]
    } else {
        vec![format!(
            "encrypted with the key of {}: the stash lives under {}/{STASH_CONTAINER} with the \
             same key; streams are sent raw",
            e.root, e.root
        )]
    }
}

/// Whether the dataset `ds` is a stash in the container of an encryption root, or lies under
/// one: a component `flocker-stash` below the pool followed by one shaped like a stash id
/// (`yyyymmddThhmmss-xxxxxx`, or that with `-new`). A name check only: a user's own
/// `flocker-stash` dataset with other children is not taken for a stash.
pub(crate) fn in_root_container(ds: &str) -> bool {
    let parts: Vec<&str> = ds.split('/').collect();
    parts
        .windows(2)
        .skip(1)
        .any(|w| w[0] == STASH_CONTAINER && is_stash_id_shaped(w[1]))
}

/// `yyyymmddThhmmss-xxxxxx` (digits, `T`, hex), optionally followed by a tree member's `-K`
/// (decimal), then optionally by `-new`.
fn is_stash_id_shaped(c: &str) -> bool {
    let c = c.strip_suffix("-new").unwrap_or(c);
    let c = match c.get(22..) {
        Some(k)
            if k.len() > 1 && k.starts_with('-') && k[1..].bytes().all(|d| d.is_ascii_digit()) =>
        {
            &c[..22]
        }
        _ => c,
    };
    let b = c.as_bytes();
    b.len() == 22
        && b[..8].iter().all(u8::is_ascii_digit)
        && b[8] == b'T'
        && b[9..15].iter().all(u8::is_ascii_digit)
        && b[15] == b'-'
        && b[16..].iter().all(u8::is_ascii_hexdigit)
}

/// The send flags for a stream of `snap`: raw when it is encrypted.
pub(crate) fn send_flags(snap: &str, flags: SendFlags) -> Result<SendFlags> {
    Ok(if stats(snap)?.is_some() {
        flags | SendFlags::RAW
    } else {
        flags
    })
}

/// Checks that the stash container `c` shares its parent's encryption root when the parent is
/// encrypted (a container someone else made with its own key would make the renames of a
/// `swap` fail after its commit point): [`crate::error::ErrorKind::Mismatch`] otherwise.
pub(crate) fn check_container(c: &DatasetName) -> Result<()> {
    let Some(parent) = c.parent() else {
        return Ok(());
    };
    let Some((want, _)) = stats(parent.as_str())? else {
        return Ok(());
    };
    match stats(c.as_str())? {
        Some((have, _)) if have == want => Ok(()),
        have => Err(
            crate::error::Error::new(crate::error::ErrorKind::Mismatch, "rollback")
                .with_name(c.as_str())
                .with_detail(format!(
                    "the stash container's encryption root is {} instead of {want}; not using it",
                    have.map_or_else(|| "none".to_string(), |(r, _)| r.to_string())
                )),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use crate::rollback::{
        DatasetKind, MountState, RollbackPlan, SnapshotState, StashRecord, Step, plan,
        plan_swap_back,
    };
    use crate::snapshot::Snapshot;

    const ID: &str = "20261206T160000-abcdef";

    fn dn(s: &str) -> DatasetName {
        DatasetName::new(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    /// `ds` with snapshots a, b, c, mounted (not busy), encrypted with the key of `root`
    /// (whose parent's root is `parent_root`), the key loaded or not.
    fn state(ds: &str, root: &str, parent_root: Option<&str>, key_loaded: bool) -> LiveState {
        let mut s = LiveState::new(dn(ds), 42, DatasetKind::Filesystem);
        for (i, n) in ["a", "b", "c"].iter().enumerate() {
            let txg = 10 * (i as u64 + 1);
            let name = crate::name::SnapshotName::new(format!("{ds}@{n}"))
                .unwrap_or_else(|e| panic!("{e}"));
            let at = time::OffsetDateTime::UNIX_EPOCH;
            s.snapshots.push(SnapshotState::new(
                Snapshot::from_parts(name, 1000 + txg, txg, at),
                1 << 20,
            ));
        }
        s.mount = Some(MountState::new(format!("/{ds}"), false));
        s.available = 1 << 40;
        s.encrypted = true;
        s.encryption = Some(EncryptionState::new(
            dn(root),
            parent_root.map(dn),
            key_loaded,
        ));
        s
    }

    fn plan_of(s: &LiveState, strategy: Strategy) -> RollbackPlan {
        plan(s, "a", strategy, ID).unwrap_or_else(|e| panic!("{e}"))
    }

    /// A dataset that inherits its key: the stash, the fresh clone and the container live under
    /// its encryption root, and `swap` (auto) and `copy` both work there.
    #[test]
    fn inheriting_stashes_under_its_encryption_root() {
        let s = state("tank/E/home", "tank/E", Some("tank/E"), true);
        let p = plan_of(&s, Strategy::Auto);
        assert!(p.is_runnable(), "{p}");
        assert_eq!(p.strategy, Some(Strategy::Swap));
        assert_eq!(p.stash_dataset, dn(&format!("tank/E/flocker-stash/{ID}")));
        assert_eq!(p.container(), dn("tank/E/flocker-stash"));
        assert!(p.steps.contains(&Step::EnsureContainer {
            container: dn("tank/E/flocker-stash")
        }));
        assert!(
            p.steps
                .iter()
                .any(|st| matches!(st, Step::Clone { clone, .. }
            if *clone == dn(&format!("tank/E/flocker-stash/{ID}-new"))))
        );
        assert!(p.notes.iter().any(|n| n.contains("tank/E/flocker-stash")));
        let c = plan_of(&s, Strategy::Copy);
        assert!(c.is_runnable(), "{c}");
        assert_eq!(c.stash_dataset, p.stash_dataset);
        assert!(
            c.steps
                .iter()
                .any(|st| matches!(st, Step::SendReceive { receive, .. }
            if receive.dataset() == p.stash_dataset))
        );
    }

    /// A dataset that is its own encryption root: `auto` takes `copy` (and says why), a forced
    /// `swap` is refused with [`Blocker::EncryptionSwap`], the stash is in the pool's container.
    #[test]
    fn own_root_copies_and_refuses_swap() {
        let s = state("tank/secret", "tank/secret", None, true);
        let p = plan_of(&s, Strategy::Auto);
        assert!(p.is_runnable(), "{p}");
        assert_eq!(p.strategy, Some(Strategy::Copy));
        assert!(p.reason.contains("own encryption root"), "{}", p.reason);
        assert_eq!(p.stash_dataset, dn(&format!("tank/flocker-stash/{ID}")));
        let sw = plan_of(&s, Strategy::Swap);
        assert!(!sw.is_runnable());
        assert_eq!(
            sw.blockers,
            vec![Blocker::EncryptionSwap {
                dataset: dn("tank/secret"),
                root: dn("tank/secret")
            }]
        );
        assert_eq!(sw.blockers[0].error_kind(), ErrorKind::NotSupported);
        assert!(sw.to_string().contains("own encryption root"), "{sw}");
        assert!(
            sw.to_json().contains("\"encryption_swap\""),
            "{}",
            sw.to_json()
        );
        // An own root under an encrypted parent with another key: the same.
        let s = state("tank/E/secret", "tank/E/secret", Some("tank/E"), true);
        assert_eq!(plan_of(&s, Strategy::Auto).strategy, Some(Strategy::Copy));
        assert_eq!(
            plan_of(&s, Strategy::Auto).container(),
            dn("tank/flocker-stash")
        );
        // No key needed: raw streams, and no mount.
        let mut s = state("tank/secret", "tank/secret", None, false);
        s.mount = None;
        assert!(plan_of(&s, Strategy::Copy).is_runnable());
    }

    /// Both strategies blocked (copy by a held snapshot, swap by the encryption root): refused.
    #[test]
    fn own_root_with_copy_blocked_is_refused() {
        let mut s = state("tank/secret", "tank/secret", None, true);
        s.snapshots[2].holds = vec!["keep".into()];
        let p = plan_of(&s, Strategy::Auto);
        assert_eq!(p.strategy, None);
        assert!(
            p.blockers
                .iter()
                .any(|b| matches!(b, Blocker::EncryptionSwap { .. }))
        );
        assert!(p.blockers.iter().any(|b| matches!(b, Blocker::Held { .. })));
    }

    /// The key of the encryption root a dataset inherits is not loaded: every strategy is
    /// refused with [`ErrorKind::KeyNotLoaded`].
    #[test]
    fn inheriting_without_key_is_refused() {
        let mut s = state("tank/E/home", "tank/E", Some("tank/E"), false);
        s.mount = None;
        for st in [Strategy::Auto, Strategy::Swap, Strategy::Copy] {
            let p = plan_of(&s, st);
            assert!(!p.is_runnable(), "{st}");
            assert_eq!(p.blockers[0], Blocker::KeyNotLoaded { root: dn("tank/E") });
            assert_eq!(p.blockers[0].error_kind(), ErrorKind::KeyNotLoaded);
        }
    }

    /// A clone of another encryption root's snapshot (its root is not its parent's): `swap`
    /// blocked, `auto` takes `copy`.
    #[test]
    fn foreign_root_takes_copy() {
        let s = state("tank/plain/c", "tank/E", None, true);
        let p = plan_of(&s, Strategy::Auto);
        assert_eq!(p.strategy, Some(Strategy::Copy));
        assert_eq!(p.container(), dn("tank/E/flocker-stash"));
        let sw = plan_of(&s, Strategy::Swap);
        assert!(matches!(sw.blockers[..], [Blocker::EncryptionSwap { .. }]));
        assert!(sw.to_string().contains("not its parent's"), "{sw}");
    }

    /// Encrypted with no encryption state (a hand-made state): refused as before.
    #[test]
    fn unknown_encryption_is_refused() {
        let mut s = state("tank/E/home", "tank/E", Some("tank/E"), true);
        s.encryption = None;
        let p = plan_of(&s, Strategy::Auto);
        assert_eq!(p.blockers, vec![Blocker::Encrypted]);
    }

    /// Stash datasets under an encryption root's container are stashes: retention skips them
    /// and a rollback of one is refused ([`Blocker::IsStash`]), also for a `copy` stash of an
    /// encryption root (whose root is the original dataset, not its container's parent).
    #[test]
    fn stashes_under_an_encryption_root_are_stashes() {
        use crate::rollback::is_stash_dataset;
        assert!(is_stash_dataset(&format!("tank/E/flocker-stash/{ID}")));
        assert!(is_stash_dataset(&format!("tank/E/flocker-stash/{ID}@b")));
        assert!(is_stash_dataset(&format!(
            "tank/E/flocker-stash/{ID}-new/child"
        )));
        // A tree member's stash (`<tree id>-K`) and its fresh clone.
        assert!(is_stash_dataset(&format!("tank/E/flocker-stash/{ID}-3")));
        assert!(is_stash_dataset(&format!(
            "tank/E/flocker-stash/{ID}-12-new@x"
        )));
        assert!(!is_stash_dataset(&format!("tank/E/flocker-stash/{ID}-")));
        assert!(!is_stash_dataset(&format!("tank/E/flocker-stash/{ID}-3x")));
        assert!(!is_stash_dataset(&format!("tank/E/flocker-stash/{ID}x")));
        assert!(!is_stash_dataset("tank/E/flocker-stash/mine"));
        assert!(!is_stash_dataset("tank/E/flocker-stash"));
        assert!(!is_stash_dataset(&format!("tank/E/home/{ID}")));
        assert!(!is_stash_dataset("tank/E/home"));
        let s = state(
            &format!("tank/E/flocker-stash/{ID}"),
            "tank/E",
            Some("tank/E"),
            true,
        );
        assert!(
            plan_of(&s, Strategy::Copy)
                .blockers
                .contains(&Blocker::IsStash)
        );
        let s = state(
            &format!("tank/flocker-stash/{ID}"),
            "tank/secret",
            None,
            true,
        );
        assert!(
            plan_of(&s, Strategy::Copy)
                .blockers
                .contains(&Blocker::IsStash)
        );
    }

    /// Restoring a stash of an encryption root cannot swap it back in (the promote would move
    /// the root): the swap-back plan is refused, so restore receives back; for an inheriting
    /// dataset the swap-back plan works under the encryption root's container.
    #[test]
    fn swap_back_follows_the_encryption_rules() {
        let rec = |ds: &str, stash: &str| {
            let t =
                crate::name::SnapshotName::new(format!("{ds}@a")).unwrap_or_else(|e| panic!("{e}"));
            StashRecord::new(ID, t, 1010, Strategy::Copy, dn(stash), 7)
                .unwrap_or_else(|e| panic!("{e}"))
        };
        let s = state("tank/secret", "tank/secret", None, true);
        let r = rec("tank/secret", &format!("tank/flocker-stash/{ID}"));
        let p = plan_swap_back(&s, &r, "20261206T170000-abcdef").unwrap_or_else(|e| panic!("{e}"));
        assert!(!p.is_runnable());
        let s = state("tank/E/home", "tank/E", Some("tank/E"), true);
        let r = rec("tank/E/home", &format!("tank/E/flocker-stash/{ID}"));
        let p = plan_swap_back(&s, &r, "20261206T170000-abcdef").unwrap_or_else(|e| panic!("{e}"));
        assert!(p.is_runnable(), "{p}");
        assert_eq!(
            p.stash_dataset,
            dn("tank/E/flocker-stash/20261206T170000-abcdef")
        );
    }

    /// A plan refused for encryption survives the journal's format (the blockers' kinds).
    #[test]
    fn blockers_round_trip_through_json() {
        let s = state("tank/E/home", "tank/E", Some("tank/E"), false);
        let j = plan_of(&s, Strategy::Auto).to_json();
        assert!(j.contains("\"key_not_loaded\""), "{j}");
    }
}
