//! `datavault snapshot DATASET... [-r] [--json]`: one atomic snapshot of every named dataset
//! (and, with `-r`, of their descendants), named by the service's scheme (`scheme.rs`).

use std::collections::BTreeSet;

use flocker_core::error::ErrorKind;
use flocker_core::inventory::{DatasetQuery, Inventory};
use flocker_core::name::{DatasetName, SnapshotName};
use flocker_core::rollback::{self, Store};
use flocker_core::snapshot;
use flocker_examples::scheme;
use time::OffsetDateTime;

use crate::common::{Failure, Opts, json, store};

/// The datasets a snapshot of `roots` covers: the roots in order, then (with `recursive`)
/// their descendants, without duplicates and without stash datasets. Fails (one line, naming
/// it) when a root does not exist.
pub fn expand(roots: &[DatasetName], recursive: bool) -> Result<Vec<DatasetName>, Failure> {
    let mut inv = Inventory::new();
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for root in roots {
        let mut q = DatasetQuery::new(root);
        if recursive {
            q = q.recursive();
        }
        let found = inv.datasets(&q).map_err(|e| match e.kind() {
            ErrorKind::NotFound => Failure::Invalid(format!("dataset {root} does not exist")),
            _ => Failure::Zfs(e),
        })?;
        if !found.iter().any(|d| d.name == *root) {
            return Err(Failure::Invalid(format!("dataset {root} does not exist")));
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

/// How long a snapshot waits for a rollback or stash operation that holds the store's lock.
pub const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(6 * 3600);

/// Takes `dv-<time>` of every dataset in one `lzc_snapshot` call, holding the store's lock
/// (waiting up to [`LOCK_WAIT`] for a running rollback, so that no snapshot lands between a
/// rollback's plan and its end). When a snapshot of that name already exists (two snapshots
/// within one second), waits for the next second and tries again (the failed call changed
/// nothing); at most three tries.
pub fn take(
    store: &Store,
    datasets: &[DatasetName],
    mut at: impl FnMut() -> OffsetDateTime,
) -> Result<(String, Vec<SnapshotName>), Failure> {
    let mut tries = 0;
    loop {
        let mut short = String::new();
        let name = || {
            short = scheme::snap_name(at());
            short.clone()
        };
        match snapshot::snapshot_locked(store, LOCK_WAIT, datasets, name, &[]) {
            Ok(names) => return Ok((short, names)),
            Err(e) if e.kind() == ErrorKind::Exists && tries < 2 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(1000));
            }
            Err(e) => return Err(Failure::Zfs(e)),
        }
    }
}

/// `datavault snapshot DATASET... [-r] [--json]`
pub fn snapshot(args: &[String]) -> Result<(), Failure> {
    let o = Opts::parse(args, &["-r", "--recursive", "--json"], &[])?;
    if o.positional.is_empty() {
        return Err(Failure::Usage("snapshot needs at least one DATASET".into()));
    }
    let mut roots = Vec::new();
    for p in &o.positional {
        let d = DatasetName::new(p)
            .map_err(|e| Failure::Invalid(format!("bad dataset name {p:?}: {e}")))?;
        if roots.contains(&d) {
            return Err(Failure::Invalid(format!("dataset {d} is named twice")));
        }
        roots.push(d);
    }
    if let Some(other) = roots.iter().find(|d| d.pool() != roots[0].pool()) {
        return Err(Failure::Invalid(format!(
            "{other} is not in pool {}: one atomic snapshot covers one pool",
            roots[0].pool()
        )));
    }
    let recursive = o.flag("-r") || o.flag("--recursive");
    let datasets = expand(&roots, recursive)?;
    let (short, names) = take(&store()?, &datasets, OffsetDateTime::now_utc)?;
    let time = scheme::name_time(&short).map(flocker_examples::prune::rfc3339);
    if o.flag("--json") {
        let v = serde_json::json!({
            "name": short,
            "time": time,
            "snapshots": names.iter().map(SnapshotName::as_str).collect::<Vec<_>>(),
        });
        println!("{}", json(&v));
    } else {
        for n in &names {
            println!("created {n}");
        }
        println!(
            "{} snapshot(s) in one lzc_snapshot call, time {}",
            names.len(),
            time.unwrap_or_default()
        );
    }
    Ok(())
}
