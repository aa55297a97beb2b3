//! DataVault's snapshots: which datasets a recursive snapshot covers (never a stash dataset),
//! taking one atomic snapshot named by the [`scheme`] under the stash store's
//! lock, and the facts the service's schedule reads (the newest snapshot's time, whether
//! anything was written since).

use std::collections::BTreeSet;
use std::time::Duration;

use time::OffsetDateTime;

use super::scheme;
use crate::error::{Error, ErrorKind, Result};
use crate::inventory::{DatasetQuery, Inventory, SnapshotQuery};
use crate::name::{DatasetName, SnapshotName};
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
