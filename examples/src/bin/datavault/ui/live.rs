//! The real [`Source`]: flocker-core, through the same calls as the commands — the
//! inventory for datasets, `list`'s listing and plan for the timeline, `diff` and `browse`,
//! the versions search, the guarded restore, and `rollback`'s plan and execution.

use std::path::PathBuf;

use flocker_core::diff::{self, Diff, Existing, Listing, RestoreOptions, Target};
use flocker_core::error::Error;
use flocker_core::inventory::{DatasetQuery, Inventory};
use flocker_core::lzc::DatasetType;
use flocker_core::name::{DatasetName, SnapshotName};
use flocker_core::rollback::{self, RollbackPlan, Strategy};
use flocker_core::versions::{self, History, Search};
use flocker_examples::cli::error_line;
use serde_json::Value;

use super::model::{
    BrowserEntry, ChangeRow, DatasetRow, DiffLine, PlanSummary, RestoreRequest, RowKind, Timeline,
    TimelineRow, VersionRow,
};
use super::source::{Outcome, Source};
use super::textdiff;
use crate::args::{ListArgs, PolicyArgs, UiArgs};
use crate::common::{Failure, parse_instant, store};
use crate::config::{self, Config};

/// At most this many bytes of a version are read for the preview.
const PREVIEW_BYTES: u64 = 1 << 20;

/// The pool, read and changed through flocker-core.
pub struct Live {
    config: Option<String>,
    cfg: Option<Config>,
    roots: Vec<DatasetName>,
    history: Option<History>,
    plan: Option<RollbackPlan>,
}

/// A library error as the status line says it.
fn said(e: Error) -> String {
    error_line(&e, false)
}

/// A command's failure as the status line says it.
fn failed(f: Failure) -> String {
    match f {
        Failure::Zfs(e) => said(e),
        Failure::Usage(m) | Failure::Refused(m) | Failure::Invalid(m) | Failure::Failed(m) => m,
    }
}

fn snapshot(s: &str) -> Outcome<SnapshotName> {
    SnapshotName::new(s).map_err(|e| said(e.into()))
}

impl Live {
    /// The datasets to show: DATASET (and its descendants), else the config's, else every
    /// pool that has a mounted ZFS filesystem.
    pub fn new(a: &UiArgs) -> Result<Live, Failure> {
        let cfg = a.config.as_deref().map(config::load).transpose()?;
        let roots = match (&a.dataset, &cfg) {
            (Some(d), _) => vec![DatasetName::new(d).map_err(|e| {
                Failure::Invalid(format!("bad dataset name {d:?}: {}", Error::from(e)))
            })?],
            (None, Some(c)) => c.datasets.iter().map(|d| d.name.clone()).collect(),
            (None, None) => mounted_pools(),
        };
        Ok(Live {
            config: a.config.clone(),
            cfg,
            roots,
            history: None,
            plan: None,
        })
    }
}

/// The pools of the mounted ZFS filesystems (`/proc/self/mountinfo`), each once.
fn mounted_pools() -> Vec<DatasetName> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut pools: Vec<DatasetName> = text
        .lines()
        .filter_map(|l| l.split_once(" - ").map(|(_, tail)| tail))
        .filter_map(|tail| match tail.split(' ').collect::<Vec<_>>()[..] {
            ["zfs", source, ..] => source.split(['/', '@']).next().map(str::to_string),
            _ => None,
        })
        .filter_map(|p| DatasetName::new(&p).ok())
        .collect();
    pools.sort();
    pools.dedup();
    pools
}

fn dataset_row(i: flocker_core::inventory::DatasetInfo) -> DatasetRow {
    DatasetRow {
        name: i.name.to_string(),
        used: i.used,
        referenced: i.referenced,
        mountpoint: i.mountpoint,
    }
}

/// A snapshot of `datavault list --json`'s report as a timeline row.
fn snapshot_row(x: &Value) -> TimelineRow {
    let cols = crate::list::snapshot_row(x, false);
    let kind = match x["decision"].as_str() {
        Some("destroy") => RowKind::Doomed,
        Some("foreign") => RowKind::Foreign,
        _ => RowKind::Kept,
    };
    let expires = &cols[5];
    TimelineRow {
        name: cols[0].clone(),
        kind,
        time: instant(&x["time"]),
        used: x["used"].as_u64().unwrap_or(0),
        written: x["written"].as_u64(),
        kept_by: cols[6].clone(),
        expires: parse_instant(expires)
            .map_or(expires.clone(), |t| super::render::when(t.unix_timestamp())),
    }
}

fn instant(v: &Value) -> i64 {
    v.as_str()
        .and_then(|t| parse_instant(t).ok())
        .map_or(0, |t| t.unix_timestamp())
}

/// A stash of the report as a timeline row, at its creation time.
fn stash_row(s: &Value) -> TimelineRow {
    let n = s["snapshots"].as_array().map_or(0, Vec::len);
    TimelineRow {
        name: s["id"].as_str().unwrap_or("").to_string(),
        kind: RowKind::Stash,
        time: s["created"].as_i64().unwrap_or(0),
        used: s["used"].as_u64().unwrap_or(0),
        written: None,
        kept_by: format!("stash, {n} snapshots"),
        expires: "never".into(),
    }
}

/// `datavault list --json`'s report of one dataset as its timeline.
fn timeline_of(dataset: &str, r: &Value) -> Timeline {
    let mut rows: Vec<TimelineRow> = r["snapshots"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|x| x["dataset"] == dataset)
        .map(snapshot_row)
        .chain(r["stashes"].as_array().into_iter().flatten().map(stash_row))
        .collect();
    rows.sort_by_key(|r| r.time);
    let policy = match r["policy"].as_str() {
        Some(p) => format!("policy {p} ({})", r["policy_source"].as_str().unwrap_or("")),
        None => "no retention policy (give --config FILE)".to_string(),
    };
    Timeline {
        dataset: dataset.to_string(),
        policy,
        now: instant(&r["now"]),
        rows,
    }
}

fn entry(e: diff::Entry) -> BrowserEntry {
    BrowserEntry {
        name: e.name.to_string_lossy().into_owned(),
        path: diff::slash(&e.path).trim_start_matches('/').to_string(),
        dir: e.meta.file_type == diff::FileType::Dir,
        mode: e.meta.mode_string(),
        size: e.meta.size,
        mtime: e.meta.mtime.sec,
    }
}

fn version_row(v: &versions::Version) -> VersionRow {
    VersionRow {
        snapshots: v.snapshots.iter().map(ToString::to_string).collect(),
        live: v.live,
        size: v.size,
        mtime: v.mtime.sec,
    }
}

impl Live {
    /// Where `snapshot`'s dataset has `path` live.
    fn live_path(&self, snapshot: &SnapshotName, path: &str) -> Outcome<PathBuf> {
        let ds = snapshot.dataset();
        let info = Inventory::new().dataset(&ds).map_err(said)?;
        match info.mountpoint {
            Some(m) => Ok(PathBuf::from(m).join(path)),
            None => Err(format!(
                "{ds} is not mounted: its versions need the live path"
            )),
        }
    }

    fn plan_summary(plan: &RollbackPlan) -> PlanSummary {
        PlanSummary {
            dataset: plan.dataset.to_string(),
            target: plan.target.to_string(),
            lines: plan.to_string().lines().map(str::to_string).collect(),
            refused: crate::rollback::refusal(plan),
        }
    }
}

impl Source for Live {
    fn datasets(&mut self) -> Outcome<Vec<DatasetRow>> {
        let mut inv = Inventory::new();
        let mut rows = Vec::new();
        for root in &self.roots {
            let q = DatasetQuery::new(root)
                .recursive()
                .only(DatasetType::Filesystem);
            let found = inv.datasets(&q).map_err(said)?;
            rows.extend(
                found
                    .into_iter()
                    .filter(|i| !rollback::is_stash_dataset(i.name.as_str()))
                    .map(dataset_row),
            );
        }
        Ok(rows)
    }

    fn timeline(&mut self, dataset: &str) -> Outcome<Timeline> {
        let a = ListArgs {
            target: Some(dataset.to_string()),
            policy: PolicyArgs {
                config: self.config.clone(),
                ..PolicyArgs::default()
            },
            ..ListArgs::default()
        };
        let now = time::OffsetDateTime::now_utc();
        let now = now.replace_nanosecond(0).unwrap_or(now);
        let r =
            crate::list::one_dataset(&a, self.cfg.as_ref(), None, dataset, now).map_err(failed)?;
        Ok(timeline_of(dataset, &r))
    }

    fn changes(&mut self, previous: &str, snap: &str) -> Outcome<Vec<ChangeRow>> {
        let to = Target::Snapshot(snapshot(snap)?);
        let changes = Diff::new().run(&snapshot(previous)?, &to).map_err(said)?;
        Ok(changes
            .iter()
            .map(|c| ChangeRow {
                symbol: c.kind.symbol(),
                file_type: c.file_type.letter(),
                path: c.display_path(),
            })
            .collect())
    }

    fn browse(&mut self, snap: &str, dir: &str) -> Outcome<Vec<BrowserEntry>> {
        match diff::browse(&snapshot(snap)?, dir).map_err(said)? {
            Listing::Dir { entries, .. } => Ok(entries.into_iter().map(entry).collect()),
            Listing::File(_) => Err(format!("{dir} is not a directory")),
        }
    }

    fn versions(&mut self, snap: &str, path: &str) -> Outcome<Vec<VersionRow>> {
        let live = self.live_path(&snapshot(snap)?, path)?;
        let history = Search::new().versions(&live).map_err(said)?;
        let rows = history.versions.iter().map(version_row).collect();
        self.history = Some(history);
        Ok(rows)
    }

    fn preview(&mut self, older: usize, newer: usize) -> Outcome<Vec<DiffLine>> {
        let h = self.history.as_ref().ok_or("no versions listed")?;
        let read = |i: usize| -> Outcome<Vec<u8>> {
            let v = h.versions.get(i).ok_or("no such version")?;
            versions::contents(h, v, PREVIEW_BYTES).map_err(said)
        };
        Ok(textdiff::lines(&read(older)?, &read(newer)?))
    }

    fn restore(&mut self, r: &RestoreRequest) -> Outcome<String> {
        let snap = snapshot(&r.snapshot)?;
        let opts = RestoreOptions {
            dest: None,
            existing: Existing::Overwrite,
        };
        let rep = diff::restore(&snap, &r.path, &opts).map_err(said)?;
        // The dataset is on the title line: the guard's short name keeps this within 80.
        let guard = rep
            .guard
            .as_ref()
            .map_or("none".to_string(), |g| format!("@{}", g.short_name()));
        Ok(format!(
            "restored /{} from {}; guard snapshot {guard}",
            r.path,
            snap.short_name()
        ))
    }

    fn plan_rollback(&mut self, snap: &str) -> Outcome<PlanSummary> {
        store().map_err(failed)?;
        let plan = rollback::plan_rollback(&snapshot(snap)?, Strategy::Auto).map_err(said)?;
        let summary = Self::plan_summary(&plan);
        self.plan = Some(plan);
        Ok(summary)
    }

    fn rollback(&mut self, p: &PlanSummary) -> Outcome<String> {
        let plan = match self.plan.take() {
            Some(plan) if plan.target.as_str() == p.target => plan,
            _ => return Err("no plan for that rollback; nothing changed".into()),
        };
        let st = store().map_err(failed)?;
        let rec = rollback::rollback(&st, &plan).map_err(|e| failed(e.into()))?;
        Ok(crate::rollback::done_line(&rec))
    }
}
