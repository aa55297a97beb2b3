//! `datavault list [DATASET[@SNAP]] [-r] [-H] [-p] [--json] [--config FILE] [--keep POLICY]
//! [--match REGEX] [--tz ZONE]`: the snapshots with their time, age and space, which retention
//! rule keeps each and when it expires (the plan `datavault prune` would carry out now), and
//! the stashes apart. A snapshot the policy does not own (not named `dv-YYYYMMDDTHHMMSSZ`, not
//! matched by `match`: `--match`, else the config's) is shown as `foreign (kept)`
//! (JSON: `"decision": "foreign"`), with or without a policy.
//!
//! The policy is `--keep`, else the config file's entry for the dataset (or for a recursive
//! ancestor); without either, the snapshots are listed without retention columns. (Datasets
//! carry no policy property: the `prune` tool takes its policy on the command line too.)
//!
//! `-H` prints only the snapshot rows, tab-separated, without header or summary (like `zfs list
//! -H`); `-p` prints exact numbers (bytes, seconds, times as seconds since the epoch). The
//! default output is the table for people.

use std::path::PathBuf;

use flocker_core::inventory::{Inventory, SnapshotInfo, SnapshotQuery};
use flocker_core::name::{DatasetName, SnapshotName};
use flocker_core::retention::{PlanEntry, RetentionPlan, RetentionPolicy};
use flocker_core::rollback::{self, StashView, Store};
use flocker_examples::json::{self as shape, rfc3339};
use flocker_examples::prune::{self as core, FOREIGN, Options, Ownership};
use flocker_examples::scheme;
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::args::{ListArgs, PolicyArgs};
use crate::common::{
    Failure, json as pretty, parse_instant, parse_now, parse_policy, parse_tz, store_dir,
};
use crate::config::{self, Config, DatasetConfig};
use crate::snapshot::expand;

/// `datavault list ...`
pub fn list(a: &ListArgs) -> Result<(), Failure> {
    let cfg = a.policy.config.as_deref().map(config::load).transpose()?;
    let targets: Vec<String> = match (&a.target, &cfg) {
        (Some(one), _) => vec![one.clone()],
        (None, Some(c)) => c.datasets.iter().map(|d| d.name.to_string()).collect(),
        (None, None) => {
            return Err(Failure::Usage(
                "list needs a DATASET or --config FILE".into(),
            ));
        }
    };
    let now = parse_now(a.policy.now.as_deref())?;
    let now = now.replace_nanosecond(0).unwrap_or(now);
    let keep = a
        .policy
        .keep
        .as_deref()
        .map(parse_policy)
        .transpose()
        .map_err(Failure::Invalid)?;
    let mut reports = Vec::new();
    for t in &targets {
        reports.push(one_dataset(a, cfg.as_ref(), keep.as_ref(), t, now)?);
    }
    print(a, reports);
    Ok(())
}

/// Prints the reports of [`one_dataset`]: JSON, `-H` rows, or the tables.
fn print(a: &ListArgs, mut reports: Vec<Value>) {
    if a.json {
        if a.target.is_none() {
            println!("{}", pretty(&Value::Array(reports)));
        } else if let Some(r) = reports.pop() {
            println!("{}", pretty(&r));
        }
    } else if a.scripted {
        // Scripted (`zfs list -H`): the snapshot rows of every dataset, nothing else.
        for r in &reports {
            for x in r["snapshots"].as_array().into_iter().flatten() {
                println!("{}", snapshot_row(x, a.parsable).join("\t"));
            }
        }
    } else {
        for (i, r) in reports.iter().enumerate() {
            if i > 0 {
                println!();
            }
            print_text(r, a.parsable);
        }
    }
}

/// The dataset `target` names and, when it names a snapshot, that snapshot.
fn target_names(target: &str) -> Result<(DatasetName, Option<SnapshotName>), Failure> {
    if target.contains('@') {
        let s = SnapshotName::new(target)
            .map_err(|e| Failure::Invalid(format!("bad snapshot name {target:?}: {e}")))?;
        Ok((s.dataset(), Some(s)))
    } else {
        let d = DatasetName::new(target)
            .map_err(|e| Failure::Invalid(format!("bad dataset name {target:?}: {e}")))?;
        Ok((d, None))
    }
}

/// What one dataset is listed with: from the options, else its config entry, else defaults.
struct Settings<'c> {
    ds: DatasetName,
    entry: Option<&'c DatasetConfig>,
    recursive: bool,
    policy: Option<RetentionPolicy>,
    tz: flocker_core::retention::TimeZone,
    tz_name: String,
    store: PathBuf,
    ownership: Ownership,
}

impl<'c> Settings<'c> {
    fn of(
        a: &ListArgs,
        cfg: Option<&'c Config>,
        keep: Option<&RetentionPolicy>,
        ds: DatasetName,
    ) -> Result<Settings<'c>, Failure> {
        let o: &PolicyArgs = &a.policy;
        let entry = cfg.and_then(|c| c.for_dataset(ds.as_str()));
        let (tz, tz_name) = match (o.tz.as_deref(), cfg) {
            (Some(z), _) => parse_tz(Some(z)).map_err(Failure::Invalid)?,
            (None, Some(c)) => (c.tz.clone(), c.tz_name.clone()),
            (None, None) => parse_tz(None).map_err(Failure::Invalid)?,
        };
        Ok(Settings {
            recursive: a.recursive || entry.is_some_and(|e| e.recursive),
            policy: keep.cloned().or_else(|| entry.map(|e| e.policy.clone())),
            store: store_dir(cfg.and_then(|c| c.store.as_deref())),
            ownership: config::ownership(o.matching.as_deref(), cfg, entry)?,
            ds,
            entry,
            tz,
            tz_name,
        })
    }

    /// The listing, and the plan `datavault prune` would make now (a dry run: no lock).
    fn listing(&self, now: OffsetDateTime) -> Result<Planned, Failure> {
        let Some(p) = &self.policy else {
            let mut q = SnapshotQuery::new(&self.ds);
            if self.recursive {
                q = q.recursive();
            }
            return Ok((Inventory::new().snapshots(&q)?, Vec::new(), Vec::new()));
        };
        let mut po = Options::new(
            "datavault",
            self.ds.clone(),
            p.clone(),
            self.tz.clone(),
            self.tz_name.clone(),
            now,
        );
        po.dry_run = true;
        po.json = true;
        po.recursive = self.recursive;
        po.store = self.store.clone();
        po.snapshot_time = Some(scheme::info_time);
        po.ownership = self.ownership.clone();
        let planned = core::plan(&po).map_err(|e| match e {
            core::Failure::Usage(m) => Failure::Invalid(m),
            core::Failure::Other(m) => Failure::Failed(m),
        })?;
        Ok((
            planned.listing.clone(),
            planned.plans.clone(),
            planned.warnings.clone(),
        ))
    }

    /// The stashes of the dataset (and its descendants when recursive).
    fn stashes(&self) -> Result<Vec<Value>, Failure> {
        if !self.store.is_dir() {
            return Ok(Vec::new());
        }
        let st = Store::open(&self.store)?;
        let below = format!("{}/", self.ds.as_str());
        Ok(rollback::stash_list(&st)?
            .iter()
            .filter(|v| {
                let d = &v.record.dataset;
                d == self.ds.as_str() || (self.recursive && d.as_str().starts_with(&below))
            })
            .map(stash_json)
            .collect())
    }
}

/// The snapshots, the plans of each dataset, and the planner's warnings.
type Planned = (
    Vec<SnapshotInfo>,
    Vec<(DatasetName, RetentionPlan)>,
    Vec<String>,
);

/// One dataset's listing as `datavault list --json` prints it (also the `ui` timeline's).
pub(crate) fn one_dataset(
    a: &ListArgs,
    cfg: Option<&Config>,
    keep: Option<&RetentionPolicy>,
    target: &str,
    now: OffsetDateTime,
) -> Result<Value, Failure> {
    let (ds, only) = target_names(target)?;
    expand(std::slice::from_ref(&ds), false)?;
    let s = Settings::of(a, cfg, keep, ds)?;
    let (listing, plans, warnings) = s.listing(now)?;
    if let Some(one) = &only
        && !listing.iter().any(|i| i.name == *one)
    {
        return Err(Failure::Invalid(format!("snapshot {one} does not exist")));
    }
    let snaps: Vec<Value> = listing
        .iter()
        .filter(|i| !rollback::is_stash_dataset(i.name.as_str()))
        .filter(|i| only.as_ref().is_none_or(|one| *one == i.name))
        .map(|info| {
            let plan = plans
                .iter()
                .find(|(d, _)| d == info.name.dataset_str())
                .map(|(_, p)| p);
            let entry = plan.and_then(|p| p.entries.iter().find(|e| e.name == info.name.as_str()));
            let owned = s.ownership.owns(info.name.short_name());
            snap_json(info, plan, entry, owned, now)
        })
        .collect();
    let policy_source = if keep.is_some() {
        Some("--keep".to_string())
    } else {
        s.entry
            .map(|e| format!("{} line {}", cfg.map_or("", |c| c.path.as_str()), e.line))
    };
    Ok(json!({
        "dataset": s.ds.as_str(),
        "recursive": s.recursive,
        "policy": s.policy.as_ref().map(ToString::to_string),
        "policy_source": policy_source,
        "now": rfc3339(now),
        "tz": s.tz_name,
        "ownership": s.ownership.to_json(),
        "warnings": warnings,
        "snapshots": snaps,
        "stashes": s.stashes()?,
    }))
}

fn snap_json(
    info: &SnapshotInfo,
    plan: Option<&RetentionPlan>,
    entry: Option<&PlanEntry>,
    owned: bool,
    now: OffsetDateTime,
) -> Value {
    let (t, source) = scheme::effective_time(info);
    // name, guid, createtxg, creation, used, referenced, written: the shape of every snapshot.
    let mut v = shape::with(
        shape::snapshot(info),
        json!({
        "dataset": info.name.dataset_str(),
        "time": rfc3339(t),
        "time_source": source,
        "age_seconds": (now - t).whole_seconds(),
        "decision": Value::Null,
        "kept_by": [],
        "reasons": [],
        "expires": Value::Null,
        "expiry": Value::Null,
        }),
    );
    if !owned {
        // Not the policy's: never planned, never destroyed, with or without a policy.
        v["decision"] = json!("foreign");
        v["kept_by"] = json!([FOREIGN]);
        v["reasons"] = json!([FOREIGN]);
        v["expiry"] = json!("foreign");
    } else if let (Some(p), Some(e)) = (plan, entry) {
        v["decision"] = json!(e.decision.as_str());
        v["kept_by"] = json!(p.kept_by(e));
        v["reasons"] = json!(e.reasons.iter().map(|r| p.describe(r)).collect::<Vec<_>>());
        v["expires"] = json!(e.expires_at.map(rfc3339));
        // Why there is no expiry: the library's classes (RetentionPlan's entries).
        v["expiry"] = json!(e.expiry().as_str());
    }
    v
}

fn stash_json(v: &StashView) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// `1.5G`-style sizes (binary units, like `zfs list`).
pub fn size(n: u64) -> String {
    const UNITS: [&str; 6] = ["K", "M", "G", "T", "P", "E"];
    if n < 1024 {
        return n.to_string();
    }
    let mut v = n as f64;
    let mut u = 0;
    v /= 1024.0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if v < 10.0 {
        format!("{v:.1}{}", UNITS[u])
    } else {
        format!("{v:.0}{}", UNITS[u])
    }
}

/// `2d3h`, `45m`, `12s`; `-5m` for a snapshot dated in the future.
pub fn age(secs: i64) -> String {
    let sign = if secs < 0 { "-" } else { "" };
    let s = secs.unsigned_abs();
    let (d, h, m) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60);
    if d > 0 {
        format!("{sign}{d}d{h}h")
    } else if h > 0 {
        format!("{sign}{h}h{m}m")
    } else if m > 0 {
        format!("{sign}{m}m")
    } else {
        format!("{sign}{s}s")
    }
}

/// A string field of a JSON report ("" when absent).
fn text(v: &Value) -> String {
    v.as_str().unwrap_or("").to_string()
}

/// An RFC 3339 time of a report as seconds since the epoch (`-p`); `-` when absent.
fn epoch(v: &Value) -> String {
    v.as_str()
        .and_then(|t| parse_instant(t).ok())
        .map_or("-".to_string(), |t| t.unix_timestamp().to_string())
}

/// The columns of one snapshot: SNAPSHOT, TIME, AGE, USED, REFER, EXPIRES, KEPT BY. With
/// `parsable` (`-p`): times as seconds since the epoch, the age in seconds, sizes in bytes.
pub(crate) fn snapshot_row(x: &Value, parsable: bool) -> Vec<String> {
    let kept_by = match x["decision"].as_str() {
        Some("destroy") => "-- destroyed by the next prune".to_string(),
        Some(_) => x["kept_by"]
            .as_array()
            .map(|a| a.iter().map(text).collect::<Vec<_>>().join(", "))
            .unwrap_or_default(),
        None => String::new(),
    };
    let expires = match (x["expiry"].as_str(), x["expires"].as_str()) {
        (Some("at"), Some(_)) if parsable => epoch(&x["expires"]),
        (Some("at"), Some(e)) => e.to_string(),
        (Some("by_count"), _) => "by count".to_string(),
        (Some("protected" | "foreign"), _) => "never".to_string(),
        _ => "-".to_string(),
    };
    let age_s = x["age_seconds"].as_i64().unwrap_or(0);
    let (used, refer) = (
        x["used"].as_u64().unwrap_or(0),
        x["referenced"].as_u64().unwrap_or(0),
    );
    if parsable {
        vec![
            text(&x["name"]),
            epoch(&x["time"]),
            age_s.to_string(),
            used.to_string(),
            refer.to_string(),
            expires,
            kept_by,
        ]
    } else {
        vec![
            text(&x["name"]),
            text(&x["time"]),
            age(age_s),
            size(used),
            size(refer),
            expires,
            kept_by,
        ]
    }
}

/// The lines above the table: the policy and where it comes from, what it owns, warnings.
fn print_preamble(r: &Value) {
    match r["policy"].as_str() {
        Some(p) => println!(
            "{}: policy {p} ({}), at {} (time zone {})",
            text(&r["dataset"]),
            text(&r["policy_source"]),
            text(&r["now"]),
            text(&r["tz"])
        ),
        None => println!(
            "{}: no retention policy (give --keep POLICY or --config FILE)",
            text(&r["dataset"])
        ),
    }
    if r["policy"].is_string() {
        println!("owns {}", text(&r["ownership"]["text"]));
    }
    for w in r["warnings"].as_array().into_iter().flatten() {
        println!("warning: {}", text(w));
    }
}

/// The snapshot table and its summary.
fn print_snapshots(r: &Value, snaps: &[Value], parsable: bool) {
    let width = snaps
        .iter()
        .map(|x| text(&x["name"]).len())
        .max()
        .unwrap_or(8)
        .max(8);
    println!(
        "{:<width$}  {:<20}  {:>7}  {:>6}  {:>6}  {:<20}  KEPT BY",
        "SNAPSHOT", "TIME", "AGE", "USED", "REFER", "EXPIRES"
    );
    for x in snaps {
        let c = snapshot_row(x, parsable);
        println!(
            "{:<width$}  {:<20}  {:>7}  {:>6}  {:>6}  {:<20}  {}",
            c[0], c[1], c[2], c[3], c[4], c[5], c[6]
        );
    }
    let destroy = snaps.iter().filter(|x| x["decision"] == "destroy").count();
    let foreign = snaps.iter().filter(|x| x["decision"] == "foreign").count();
    let foreign_text = match foreign {
        0 => String::new(),
        n => format!(", {n} {FOREIGN}"),
    };
    if r["policy"].is_string() {
        println!(
            "EXPIRES: when its keeping window passes it; \"by count\": until newer snapshots displace it; \"never\": protected, or foreign (not the policy's)"
        );
        println!(
            "{} snapshot(s): {} kept, {} destroyed by the next prune{foreign_text}",
            snaps.len(),
            snaps.len() - destroy - foreign,
            destroy
        );
    } else {
        println!("{} snapshot(s){foreign_text}", snaps.len());
    }
}

/// The stashes of the dataset, apart from its snapshots.
fn print_stashes(r: &Value, parsable: bool) {
    let stashes = r["stashes"].as_array().cloned().unwrap_or_default();
    if stashes.is_empty() {
        println!("stashes: none");
        return;
    }
    println!("stashes (datavault stash show ID):");
    for st in &stashes {
        let names: Vec<String> = st["snapshots"]
            .as_array()
            .map(|a| a.iter().map(text).collect())
            .unwrap_or_default();
        let used = st["used"].as_u64().unwrap_or(0);
        println!(
            "  {}  {} rolled back to {}; holds {} ({}){}",
            text(&st["id"]),
            text(&st["dataset"]),
            text(&st["target"]),
            names.join(", "),
            if parsable {
                used.to_string()
            } else {
                size(used)
            },
            if st["verified"] == true {
                ""
            } else {
                "  UNVERIFIED"
            }
        );
    }
}

fn print_text(r: &Value, parsable: bool) {
    print_preamble(r);
    let snaps = r["snapshots"].as_array().cloned().unwrap_or_default();
    if snaps.is_empty() {
        println!("no snapshots");
    } else {
        print_snapshots(r, &snaps, parsable);
    }
    print_stashes(r, parsable);
}
