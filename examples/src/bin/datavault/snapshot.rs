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

use flocker_core::error::{Error, ErrorKind};
use flocker_core::name::{DatasetName, SnapshotName};
use flocker_core::vault::snapshot as vsnap;
use flocker_examples::scheme;
use time::OffsetDateTime;

use crate::args::SnapshotArgs;
use crate::common::{Failure, json, store};
use crate::config;

/// The datasets a snapshot of `roots` covers ([`vsnap::covered`]: no stash
/// dataset). Fails (one line, naming it) when a root does not exist.
pub fn expand(roots: &[DatasetName], recursive: bool) -> Result<Vec<DatasetName>, Failure> {
    vsnap::covered(roots, recursive).map_err(cover_failure)
}

/// A root that does not exist is bad input (exit 2), naming it.
fn cover_failure(e: Error) -> Failure {
    match e.kind() {
        ErrorKind::NotFound => Failure::Invalid(format!(
            "dataset {} does not exist",
            e.name().unwrap_or_default()
        )),
        _ => Failure::Zfs(e),
    }
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
    let groups = vsnap::by_pool(&entries).map_err(cover_failure)?;
    Ok((entries.into_iter().map(|(d, _)| d).collect(), groups))
}

/// The description of the pre snapshot `id` of every root ([`vsnap::pre_description`]);
/// refuses (exit 2) when one root lacks it or it is not a pre snapshot.
fn pre_description(roots: &[DatasetName], id: &str) -> Result<String, Failure> {
    vsnap::pre_description(roots, id).map_err(|e| {
        let name = e.name().unwrap_or_default();
        let why = e.detail().unwrap_or_default();
        match (e.operation(), e.kind()) {
            (vsnap::OP_PRE_ID, ErrorKind::InvalidArgument) => Failure::Invalid(format!(
                "bad ID {id:?}: expected the dv-YYYYMMDDTHHMMSSZ name that `snapshot --pre` printed"
            )),
            (vsnap::OP_PRE_ID, _) => Failure::Invalid(format!("bad ID {id:?}: {why}")),
            (vsnap::OP_FIND_PRE, _) => {
                let root = name.split_once('@').map_or(name, |(d, _)| d);
                Failure::Invalid(format!(
                    "no pre snapshot {id} on {root}: {name} does not exist"
                ))
            }
            (vsnap::OP_CHECK_PRE, _) => {
                Failure::Invalid(format!("{name} is not a pre snapshot ({why})"))
            }
            _ => Failure::Zfs(e),
        }
    })
}

/// Takes one snapshot per group (pool), all with the name the first one got
/// ([`vsnap::take_pools`]); a bad user property is bad input (exit 2).
fn take_groups(
    groups: &[Vec<DatasetName>],
    props: &[(&str, &str)],
) -> Result<(String, Vec<SnapshotName>), Failure> {
    let store = store()?;
    let taken = vsnap::take_pools(&store, groups, OffsetDateTime::now_utc, props).map_err(|e| {
        match (e.kind(), e.operation()) {
            (ErrorKind::PropertyInvalid, _) => Failure::Invalid(e.to_string()),
            (_, vsnap::OP_TAKE_POOLS) => {
                Failure::Invalid(e.detail().unwrap_or_default().to_string())
            }
            _ => Failure::Zfs(e),
        }
    })?;
    if let Some((pool, e)) = &taken.failed {
        let made: Vec<&str> = taken.snapshots.iter().map(SnapshotName::as_str).collect();
        return Err(Failure::Failed(format!(
            "snapshot of pool {pool} failed: {e}; already created: {}",
            made.join(" ")
        )));
    }
    Ok((taken.short, taken.snapshots))
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
            let props = vsnap::pre_properties(desc);
            let (short, names) = take_groups(&groups, &props)?;
            (short, names, Some("pre"), Some(desc.clone()))
        }
        Mode::Post(id) => {
            let desc = pre_description(&roots, id)?;
            let props = vsnap::post_properties(&desc, id);
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
