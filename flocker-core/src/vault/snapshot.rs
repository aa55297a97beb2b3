//! DataVault's snapshots: which datasets a recursive snapshot covers (never a stash dataset),
//! taking one atomic snapshot named by the [`scheme`] under the stash store's
//! lock (and one per pool, all with the same name: [`take_pools`]), the facts the service's
//! schedule reads (the newest snapshot's time, whether anything was written since), and the
//! pre/post pair around a change.
//!
//! # The pre/post pair
//!
//! Around a change (an APT run), as snapper's apt plugin does, DataVault takes a *pre*
//! snapshot, then a *post* one. Each is the usual `dv-YYYYMMDDTHHMMSSZ` snapshot, carrying user
//! properties set in the same `lzc_snapshot` call: [`PROP_KIND`] (`pre` or `post`),
//! [`PROP_DESCRIPTION`] (a post copies its pre's) and, on a post, [`PROP_PRE`] (the ID of its
//! pre). The ID of a pre or post is its short name (`dv-...`). A post is taken only when every
//! dataset it covers has the pre snapshot of that ID ([`pre_description`]). These snapshots
//! are DataVault's, so retention owns and thins them like the others.

use std::collections::BTreeSet;
use std::time::Duration;

use time::OffsetDateTime;

use super::scheme;
use crate::error::{Error, ErrorKind, Result};
use crate::inventory::{DatasetQuery, Inventory, SnapshotQuery};
use crate::name::{DatasetName, PoolName, SnapshotName};
use crate::rollback::{self, Store};
use crate::snapshot;

/// The operation of the [`ErrorKind::NotFound`] error [`covered`] returns for a root that
/// does not exist; its [`Error::name`] is the root.
pub const OP_COVER: &str = "find the datasets to snapshot";

/// How long [`take`] waits for a rollback or stash operation that holds the store's lock.
pub const LOCK_WAIT: Duration = Duration::from_secs(6 * 3600);

/// The datasets a snapshot of `roots` covers: the roots in order, then (with `recursive`)
/// their descendants, without duplicates and without stash datasets
/// ([`rollback::is_stash_dataset`]): a stash is never snapshotted, so retention never sees
/// it.
///
/// Err: a root that does not exist is [`ErrorKind::NotFound`] from [`OP_COVER`], named by the
/// root; any other listing error as it is.
///
/// ```no_run
/// use flocker_core::name::DatasetName;
/// use flocker_core::vault::snapshot;
///
/// let all = snapshot::covered(&[DatasetName::new("tank/home")?], true)?;
/// println!("{} datasets", all.len());
/// # Ok::<(), flocker_core::error::Error>(())
/// ```
pub fn covered(roots: &[DatasetName], recursive: bool) -> Result<Vec<DatasetName>> {
    let mut inv = Inventory::new();
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for root in roots {
        let mut q = DatasetQuery::new(root);
        if recursive {
            q = q.recursive();
        }
        let missing = || Error::new(ErrorKind::NotFound, OP_COVER).with_name(root.to_string());
        let found = inv.datasets(&q).map_err(|e| match e.kind() {
            ErrorKind::NotFound => missing(),
            _ => e,
        })?;
        if !found.iter().any(|d| d.name == *root) {
            return Err(missing());
        }
        for d in found {
            if d.name != *root && rollback::is_stash_dataset(d.name.as_str()) {
                continue;
            }
            if seen.insert(d.name.as_str().to_string()) {
                out.push(d.name);
            }
        }
    }
    Ok(out)
}

/// Takes `dv-<time>` of every dataset (one pool) in one `lzc_snapshot` call, with the user
/// properties `props` (`name:x` → value) set in the same call, holding the store's lock
/// (waiting up to [`LOCK_WAIT`] for a running rollback, so that no snapshot lands between a
/// rollback's plan and its end). `at` gives the time the name carries, read once the lock is
/// held. When a snapshot of that name already exists (two snapshots within one second), this
/// waits for the next second and tries again (the failed call changed nothing); at most
/// three tries. Returns the short name and the snapshots made.
///
/// ```no_run
/// use flocker_core::name::DatasetName;
/// use flocker_core::rollback::Store;
/// use flocker_core::vault::snapshot;
///
/// let store = Store::open_default()?;
/// let datasets = snapshot::covered(&[DatasetName::new("tank/home")?], true)?;
/// let (short, made) = snapshot::take(&store, &datasets, time::OffsetDateTime::now_utc, &[])?;
/// println!("{short}: {} snapshots", made.len());
/// # Ok::<(), flocker_core::error::Error>(())
/// ```
pub fn take(
    store: &Store,
    datasets: &[DatasetName],
    mut at: impl FnMut() -> OffsetDateTime,
    props: &[(&str, &str)],
) -> Result<(String, Vec<SnapshotName>)> {
    let mut tries = 0;
    loop {
        let mut short = String::new();
        let name = || {
            short = scheme::snap_name(at());
            short.clone()
        };
        match snapshot::snapshot_locked(store, LOCK_WAIT, datasets, name, props) {
            Ok(names) => return Ok((short, names)),
            Err(e) if e.kind() == ErrorKind::Exists && tries < 2 => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(1000));
            }
            Err(e) => return Err(e),
        }
    }
}

/// The time of the newest snapshot of `ds` named by the scheme (`None`: there is none).
/// Err: the listing's (a missing dataset is [`ErrorKind::NotFound`]).
pub fn last_snapshot(ds: &DatasetName) -> Result<Option<OffsetDateTime>> {
    let names = Inventory::new().snapshot_names(&SnapshotQuery::new(ds))?;
    Ok(names
        .iter()
        .filter_map(|n| scheme::name_time(n.short_name()))
        .max())
}

/// Whether nothing was written to `root` (and, when `recursive`, to any of its descendants
/// but stash datasets) since its latest snapshot: every `written` is 0. A dataset whose
/// `written` the kernel does not report counts as written. The pool is synced first
/// (`lzc_sync`), so that data written in the last seconds, still in memory, counts.
/// Err: the sync's or the listing's (a missing dataset is [`ErrorKind::NotFound`]).
pub fn unwritten(root: &DatasetName, recursive: bool) -> Result<bool> {
    crate::lzc::sync(&root.pool(), false)?;
    let mut q = DatasetQuery::new(root);
    if recursive {
        q = q.recursive();
    }
    let found = Inventory::new().datasets(&q)?;
    Ok(found
        .iter()
        .filter(|d| d.name == *root || !rollback::is_stash_dataset(d.name.as_str()))
        .all(|d| d.written == Some(0)))
}

/// User property naming the kind of a pre/post snapshot: `pre` or `post`.
pub const PROP_KIND: &str = "flocker:kind";
/// User property holding the description of a pre/post pair.
pub const PROP_DESCRIPTION: &str = "flocker:description";
/// User property of a post snapshot: the ID (short name) of its pre.
pub const PROP_PRE: &str = "flocker:pre";

/// The operation of [`pre_description`]'s errors for an ID that is not a snapshot name of the
/// scheme ([`ErrorKind::InvalidArgument`]) or too long a name for a dataset
/// ([`ErrorKind::InvalidName`], [`ErrorKind::NameTooLong`]); named by the ID.
pub const OP_PRE_ID: &str = "check the pre snapshot ID";
/// The operation of [`pre_description`]'s [`ErrorKind::NotFound`] error: named by the
/// snapshot that does not exist.
pub const OP_FIND_PRE: &str = "find the pre snapshot";
/// The operation of [`pre_description`]'s [`ErrorKind::InvalidArgument`] error for a snapshot
/// that is not a pre snapshot: named by it; the detail is `flocker:kind is "post"` or
/// `flocker:kind is not set`.
pub const OP_CHECK_PRE: &str = "check the pre snapshot";
/// The operation of [`take_pools`]'s [`ErrorKind::InvalidArgument`] error when there is no
/// dataset to snapshot.
pub const OP_TAKE_POOLS: &str = "take the snapshots";

/// The datasets that snapshots of `entries` (each a root and whether with its descendants)
/// cover ([`covered`]), grouped by pool in order of first appearance, each dataset once.
///
/// Err: [`covered`]'s (a root that does not exist is [`ErrorKind::NotFound`] from
/// [`OP_COVER`]).
pub fn by_pool(entries: &[(DatasetName, bool)]) -> Result<Vec<Vec<DatasetName>>> {
    let mut groups: Vec<Vec<DatasetName>> = Vec::new();
    for (root, rec) in entries {
        for d in covered(std::slice::from_ref(root), *rec)? {
            let pos = groups.iter().position(|g| g[0].pool() == d.pool());
            match pos {
                Some(i) if groups[i].contains(&d) => {}
                Some(i) => groups[i].push(d),
                None => groups.push(vec![d]),
            }
        }
    }
    Ok(groups)
}

/// The user properties of a pre snapshot described by `description` (for [`take_pools`]).
pub fn pre_properties(description: &str) -> [(&'static str, &str); 2] {
    [(PROP_KIND, "pre"), (PROP_DESCRIPTION, description)]
}

/// The user properties of the post snapshot of the pre `pre` (its ID), described by
/// `description` (the pre's, [`pre_description`]).
pub fn post_properties<'a>(description: &'a str, pre: &'a str) -> [(&'static str, &'a str); 3] {
    [
        (PROP_KIND, "post"),
        (PROP_DESCRIPTION, description),
        (PROP_PRE, pre),
    ]
}

/// The description of the pre snapshot `id` (its short name) of every root, which a post
/// snapshot copies; checks that every root has it and that it is a pre snapshot
/// ([`PROP_KIND`] is `pre`). The description is the first root's (empty when unset).
///
/// Err: from [`OP_PRE_ID`] (not a `dv-` name, or too long with a root), [`OP_FIND_PRE`]
/// ([`ErrorKind::NotFound`]: a root lacks it), [`OP_CHECK_PRE`] (not a pre snapshot), or the
/// listing's.
///
/// ```no_run
/// use flocker_core::name::DatasetName;
/// use flocker_core::rollback::Store;
/// use flocker_core::vault::snapshot;
/// use time::OffsetDateTime;
///
/// let roots = vec![(DatasetName::new("rpool/ROOT")?, true)];
/// let groups = snapshot::by_pool(&roots)?;
/// let store = Store::open_default()?;
/// // Before the change: the pre snapshot; its short name is the pair's ID.
/// let props = snapshot::pre_properties("apt install nginx");
/// let pre = snapshot::take_pools(&store, &groups, OffsetDateTime::now_utc, &props)?;
/// // ... the change ...
/// // After it: the post snapshot, once every root is known to have the pre.
/// let names: Vec<DatasetName> = roots.iter().map(|(d, _)| d.clone()).collect();
/// let description = snapshot::pre_description(&names, &pre.short)?;
/// let props = snapshot::post_properties(&description, &pre.short);
/// let post = snapshot::take_pools(&store, &groups, OffsetDateTime::now_utc, &props)?;
/// println!("{} -> {}", pre.short, post.short);
/// # Ok::<(), flocker_core::error::Error>(())
/// ```
pub fn pre_description(roots: &[DatasetName], id: &str) -> Result<String> {
    if scheme::name_time(id).is_none() {
        return Err(Error::new(ErrorKind::InvalidArgument, OP_PRE_ID)
            .with_name(id)
            .with_detail("not a DataVault snapshot name (dv-YYYYMMDDTHHMMSSZ)"));
    }
    let mut inv = Inventory::new();
    let mut description = None;
    for root in roots {
        let name = root.snapshot(id).map_err(|e| {
            let why = e.to_string();
            Error::new(Error::from(e).kind(), OP_PRE_ID)
                .with_name(id)
                .with_detail(why)
        })?;
        let info = inv.snapshot(&name).map_err(|e| match e.kind() {
            ErrorKind::NotFound => {
                Error::new(ErrorKind::NotFound, OP_FIND_PRE).with_name(name.as_str())
            }
            _ => e,
        })?;
        let prop = |k: &str| info.user_properties.get(k).map(|p| p.value.clone());
        if prop(PROP_KIND).as_deref() != Some("pre") {
            let is = prop(PROP_KIND).map_or("not set".into(), |k| format!("{k:?}"));
            return Err(Error::new(ErrorKind::InvalidArgument, OP_CHECK_PRE)
                .with_name(name.as_str())
                .with_detail(format!("{PROP_KIND} is {is}")));
        }
        description.get_or_insert(prop(PROP_DESCRIPTION).unwrap_or_default());
    }
    Ok(description.unwrap_or_default())
}

/// What [`take_pools`] made.
#[derive(Debug)]
#[non_exhaustive]
pub struct PoolsTaken {
    /// The short name every snapshot has (`dv-...`).
    pub short: String,
    /// The snapshots made, pool after pool.
    pub snapshots: Vec<SnapshotName>,
    /// The pool whose snapshot failed after others were made, and why; its later pools were
    /// not tried. `None`: every pool's snapshot was made.
    pub failed: Option<(PoolName, Error)>,
}

/// Takes one atomic snapshot per group (pool) of `groups` ([`by_pool`]; empty ones are
/// skipped), all with the name
/// the first one got ([`take`], with its time from `at` and its retries; the others under the
/// store's lock), with the user properties `props`.
///
/// Err: nothing was made: no group ([`ErrorKind::InvalidArgument`] from [`OP_TAKE_POOLS`]) or
/// [`take`]'s error for the first pool. A later pool's failure is in
/// [`PoolsTaken::failed`], beside what was made.
pub fn take_pools(
    store: &Store,
    groups: &[Vec<DatasetName>],
    at: impl FnMut() -> OffsetDateTime,
    props: &[(&str, &str)],
) -> Result<PoolsTaken> {
    let mut pools = groups.iter().filter_map(|g| Some((g.first()?.pool(), g)));
    let Some((_, first)) = pools.next() else {
        return Err(Error::new(ErrorKind::InvalidArgument, OP_TAKE_POOLS)
            .with_detail("no dataset to snapshot"));
    };
    let (short, mut snapshots) = take(store, first, at, props)?;
    for (pool, g) in pools {
        match snapshot::snapshot_locked(store, LOCK_WAIT, g, || short.clone(), props) {
            Ok(more) => snapshots.extend(more),
            Err(e) => {
                return Ok(PoolsTaken {
                    short,
                    snapshots,
                    failed: Some((pool, e)),
                });
            }
        }
    }
    Ok(PoolsTaken {
        short,
        snapshots,
        failed: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pair_properties() {
        assert_eq!(
            pre_properties("apt"),
            [("flocker:kind", "pre"), ("flocker:description", "apt")]
        );
        assert_eq!(
            post_properties("apt", "dv-20260101T000000Z"),
            [
                ("flocker:kind", "post"),
                ("flocker:description", "apt"),
                ("flocker:pre", "dv-20260101T000000Z"),
            ]
        );
    }

    /// A bad ID is refused before anything is listed.
    #[test]
    fn pre_id_must_be_a_scheme_name() {
        let roots = [DatasetName::new("p/a").unwrap()];
        let e = pre_description(&roots, "snap1").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
        assert_eq!(e.operation(), OP_PRE_ID);
        assert_eq!(e.name(), Some("snap1"));
        let long = [DatasetName::new(format!("p/{}", "x".repeat(240))).unwrap()];
        let e = pre_description(&long, "dv-20260101T000000Z").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NameTooLong);
        assert_eq!(e.operation(), OP_PRE_ID);
    }
}
