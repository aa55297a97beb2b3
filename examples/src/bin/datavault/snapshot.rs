//! `datavault snapshot DATASET... [-r] [--json]`: one atomic snapshot of every named dataset
//! (and, with `-r`, of their descendants), named by the service's scheme (`scheme.rs`).
//!
//! `datavault snapshot --pre DESC [DATASET... | --config FILE] [-r] [--json]` and
//! `datavault snapshot --post ID [DATASET... | --config FILE] [-r] [--json]`: a pre/post
//! pair around a change (an APT run, `packaging/apt/80datavault`), as snapper's apt plugin
//! makes. Each is the usual `dv-YYYYMMDDTHHMMSSZ` snapshot, carrying user properties set in
//! the same `lzc_snapshot` call: `flocker:kind` (`pre` or `post`), `flocker:description`
//! (DESC; a post copies its pre's) and, on a post, `flocker:pre` (the ID of its pre). The ID
//! of a pre or post is its short name (`dv-...`); it is printed alone on stdout (JSON with
//! `--json`). `--post ID` refuses (exit 2, nothing changed) unless every named dataset (or
//! configured one) has the snapshot ID with `flocker:kind=pre`. With `--config FILE` the
//! datasets are those of the file, each with descendants when its entry says `recursive`
//! (or `-r`); datasets of several pools get one snapshot per pool, all with the same name.
//! These snapshots are DataVault's (`dv-`), so retention owns and thins them like the others.

use flocker_core::error::ErrorKind;
use flocker_core::inventory::Inventory;
use flocker_core::name::{DatasetName, SnapshotName};
use flocker_core::rollback::Store;
use flocker_core::snapshot;
use flocker_core::vault::{self, snapshot::LOCK_WAIT};
use flocker_examples::scheme;
use time::OffsetDateTime;

use crate::args::SnapshotArgs;
use crate::common::{Failure, json, store};
use crate::config;

/// User property naming the kind of a pre/post snapshot: `pre` or `post`.
pub const PROP_KIND: &str = "flocker:kind";
/// User property holding the description of a pre/post pair.
pub const PROP_DESCRIPTION: &str = "flocker:description";
/// User property of a post snapshot: the ID (short name) of its pre.
pub const PROP_PRE: &str = "flocker:pre";

/// The datasets a snapshot of `roots` covers ([`vault::snapshot::covered`]: no stash
/// dataset). Fails (one line, naming it) when a root does not exist.
pub fn expand(roots: &[DatasetName], recursive: bool) -> Result<Vec<DatasetName>, Failure> {
    vault::snapshot::covered(roots, recursive).map_err(|e| match e.kind() {
        ErrorKind::NotFound => Failure::Invalid(format!(
            "dataset {} does not exist",
            e.name().unwrap_or_default()
        )),
        _ => Failure::Zfs(e),
    })
}

/// [`vault::snapshot::take`]: a bad user property is bad input (exit 2).
pub fn take_with(
    store: &Store,
    datasets: &[DatasetName],
    at: impl FnMut() -> OffsetDateTime,
    props: &[(&str, &str)],
) -> Result<(String, Vec<SnapshotName>), Failure> {
    vault::snapshot::take(store, datasets, at, props).map_err(|e| match e.kind() {
        ErrorKind::PropertyInvalid => Failure::Invalid(e.to_string()),
        _ => Failure::Zfs(e),
    })
}

/// What `datavault snapshot` was asked for.
enum Mode {
    /// A plain snapshot.
    Plain,
    /// `--pre DESC`.
    Pre(String),
    /// `--post ID`.
    Post(String),
}

/// The datasets named on the command line: valid names, none twice, one pool.
fn named_roots(positional: &[String]) -> Result<Vec<DatasetName>, Failure> {
    let mut roots = Vec::new();
    for p in positional {
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
    Ok(roots)
}

/// The roots and the datasets to snapshot, grouped by pool (in order of first appearance):
/// the named datasets, or with `--config` those of the file (each recursive as its entry
/// says, or with `-r`).
fn targets(a: &SnapshotArgs) -> Result<(Vec<DatasetName>, Vec<Vec<DatasetName>>), Failure> {
    let recursive = a.recursive;
    let entries: Vec<(DatasetName, bool)> = match &a.config {
        Some(path) => {
            if !a.datasets.is_empty() {
                return Err(Failure::Usage(
                    "DATASET and --config exclude each other".into(),
                ));
            }
            let cfg = config::load(path)?;
            cfg.datasets
                .iter()
                .map(|d| (d.name.clone(), d.recursive || recursive))
                .collect()
        }
        None => {
            if a.datasets.is_empty() {
                return Err(Failure::Usage(
                    "snapshot needs at least one DATASET (or --config FILE)".into(),
                ));
            }
            named_roots(&a.datasets)?
                .into_iter()
                .map(|d| (d, recursive))
                .collect()
        }
    };
    let mut groups: Vec<Vec<DatasetName>> = Vec::new();
    for (root, rec) in &entries {
        for d in expand(std::slice::from_ref(root), *rec)? {
            let pos = groups.iter().position(|g| g[0].pool() == d.pool());
            match pos {
                Some(i) if groups[i].contains(&d) => {}
                Some(i) => groups[i].push(d),
                None => groups.push(vec![d]),
            }
        }
    }
    Ok((entries.into_iter().map(|(d, _)| d).collect(), groups))
}

/// The description of the pre snapshot `id` of every root; refuses (exit 2) when one root
/// lacks it or it is not a pre snapshot.
fn pre_description(roots: &[DatasetName], id: &str) -> Result<String, Failure> {
    if scheme::name_time(id).is_none() {
        return Err(Failure::Invalid(format!(
            "bad ID {id:?}: expected the dv-YYYYMMDDTHHMMSSZ name that `snapshot --pre` printed"
        )));
    }
    let mut inv = Inventory::new();
    let mut description = None;
    for root in roots {
        let name = root
            .snapshot(id)
            .map_err(|e| Failure::Invalid(format!("bad ID {id:?}: {e}")))?;
        let info = inv.snapshot(&name).map_err(|e| match e.kind() {
            ErrorKind::NotFound => Failure::Invalid(format!(
                "no pre snapshot {id} on {root}: {name} does not exist"
            )),
            _ => Failure::Zfs(e),
        })?;
        let prop = |k: &str| info.user_properties.get(k).map(|p| p.value.clone());
        if prop(PROP_KIND).as_deref() != Some("pre") {
            return Err(Failure::Invalid(format!(
                "{name} is not a pre snapshot ({PROP_KIND} is {})",
                prop(PROP_KIND).map_or("not set".into(), |k| format!("{k:?}"))
            )));
        }
        description.get_or_insert(prop(PROP_DESCRIPTION).unwrap_or_default());
    }
    Ok(description.unwrap_or_default())
}

/// Takes one snapshot per group (pool), all with the name the first one got.
fn take_groups(
    groups: &[Vec<DatasetName>],
    props: &[(&str, &str)],
) -> Result<(String, Vec<SnapshotName>), Failure> {
    let store = store()?;
    let Some((first, rest)) = groups.split_first() else {
        return Err(Failure::Invalid("no dataset to snapshot".into()));
    };
    let (short, mut names) = take_with(&store, first, OffsetDateTime::now_utc, props)?;
    for g in rest {
        match snapshot::snapshot_locked(&store, LOCK_WAIT, g, || short.clone(), props) {
            Ok(more) => names.extend(more),
            Err(e) => {
                let made: Vec<&str> = names.iter().map(SnapshotName::as_str).collect();
                return Err(Failure::Failed(format!(
                    "snapshot of pool {} failed: {e}; already created: {}",
                    g[0].pool(),
                    made.join(" ")
                )));
            }
        }
    }
    Ok((short, names))
}

/// `datavault snapshot (DATASET... | --config FILE) [-r] [--json] [--pre DESC | --post ID]`
pub fn snapshot(a: &SnapshotArgs) -> Result<(), Failure> {
    let mode = match (&a.pre, &a.post) {
        (None, None) => Mode::Plain,
        (Some(d), None) => Mode::Pre(d.clone()),
        (None, Some(id)) => Mode::Post(id.clone()),
        (Some(_), Some(_)) => {
            return Err(Failure::Usage("--pre and --post exclude each other".into()));
        }
    };
    let (roots, groups) = targets(a)?;
    let (short, names, kind, description) = match &mode {
        Mode::Plain => {
            let (short, names) = take_groups(&groups, &[])?;
            (short, names, None, None)
        }
        Mode::Pre(desc) => {
            let props = [(PROP_KIND, "pre"), (PROP_DESCRIPTION, desc.as_str())];
            let (short, names) = take_groups(&groups, &props)?;
            (short, names, Some("pre"), Some(desc.clone()))
        }
        Mode::Post(id) => {
            let desc = pre_description(&roots, id)?;
            let props = [
                (PROP_KIND, "post"),
                (PROP_DESCRIPTION, desc.as_str()),
                (PROP_PRE, id.as_str()),
            ];
            let (short, names) = take_groups(&groups, &props)?;
            (short, names, Some("post"), Some(desc))
        }
    };
    let time = scheme::name_time(&short).map(flocker_examples::prune::rfc3339);
    let snapshots: Vec<&str> = names.iter().map(SnapshotName::as_str).collect();
    if a.json {
        let mut v = serde_json::json!({
            "name": short,
            "time": time,
            "snapshots": snapshots,
        });
        if let Some(kind) = kind {
            v["id"] = short.clone().into();
            v["kind"] = kind.into();
            v["description"] = description.into();
            if let Mode::Post(id) = &mode {
                v["pre"] = id.clone().into();
            }
        }
        println!("{}", json(&v));
    } else if kind.is_some() {
        // Only the ID: the APT hook (and any script) captures it.
        println!("{short}");
    } else {
        for n in &names {
            println!("created {n}");
        }
        let calls = match groups.len() {
            1 => "one lzc_snapshot call".to_string(),
            n => format!("{n} lzc_snapshot calls (one per pool)"),
        };
        println!(
            "{} snapshot(s) in {calls}, time {}",
            names.len(),
            time.unwrap_or_default()
        );
    }
    Ok(())
}
