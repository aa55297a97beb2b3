//! The core of the `prune` tool, shared by the `prune` binary and `datavault prune` / `datavault
//! run`: list a dataset's snapshots through `flocker_core::inventory`, plan with
//! `flocker_core::retention`, and destroy the plan's `Destroy` entries oldest first in capped
//! batches (one `lzc_destroy_snaps` call per batch; held or cloned snapshots skipped and
//! reported). Stashed snapshots (`flocker_core::rollback`) are never destroyed; a real run
//! holds the stash store's lock from the listing to the last destroy.
//!
//! [`run_cli`] is the whole `prune` command (its text and JSON output); [`plan`] and
//! [`apply`] are its two halves for callers that print their own report.

use std::cell::Cell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;
use std::path::PathBuf;

use flocker_core::error::{Error, ErrorKind, errno_name};
use flocker_core::inventory::{Inventory, SnapshotInfo, SnapshotQuery, UserProps};
use flocker_core::lzc;
use flocker_core::name::{DatasetName, SnapshotName};
use flocker_core::retention::{
    ChangeSide, Decision, KeepReason, PlanEntry, Protection, Reason, RetentionPlan,
    RetentionPolicy, RuleMiss, SnapshotFacts, TimeZone,
};
use flocker_core::rollback::{self, Store};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The `--help` text describing the JSON output and the exit status.
pub const JSON_HELP: &str = "\
JSON output (--json): one object, printed after the plan is applied (or at once with --dry-run)
  {
    \"policy\":  canonical policy text (--keep plus any --pin-property),
    \"rules\":   [rule text, ...]   (reasons refer to these by rule_index),
    \"now\":     RFC 3339 instant planned for,
    \"tz\":      time zone of the calendar periods,
    \"dry_run\": bool,
    \"warnings\": [text, ...],
    \"datasets\": [{\"name\", \"snapshots\", \"keep\", \"destroy\",
                  \"space\": null | {\"budget\", \"used_before\", \"used_after\"}}],
    \"entries\": [{                 one per snapshot, by dataset, oldest (createtxg) first
        \"name\":      \"pool/fs@snap\",
        \"dataset\":   \"pool/fs\",
        \"guid\":      decimal STRING (64-bit values do not fit a JSON double),
        \"createtxg\": number,
        \"creation\":  RFC 3339 (UTC),
        \"decision\":  \"keep\" | \"destroy\",
        \"reasons\":   [{\"type\": \"protected\" | \"kept\" | \"missed\" | \"over_space_budget\",
                       \"text\": human-readable line, and by type:
                       protected: \"protection\": \"newest\" | \"held\" | \"has_clones\" | \"pinned\" |
                                  \"pin_property\" (+\"property\") | \"stashed\" | \"future_dated\";
                       kept:   \"rule\", \"rule_index\" (null for min=), \"by\": \"calendar\" (+\"period\",
                               \"rank\") | \"grid\" (+\"group\", \"bucket\") | \"within\" | \"burst_end\"
                               (+\"age_seconds\", \"until\") | \"large_change\" (+\"side\", \"written\",
                               \"until\") | \"min\" (+\"rank\");
                       missed: \"rule\", \"rule_index\", \"why\": \"not_first_in_period\" |
                               \"period_too_old\" | \"not_oldest_in_bucket\" | \"beyond_grid\" |
                               \"too_old\" | \"not_burst_end\" | \"no_large_change\" | \"beyond_minimum\";
                       over_space_budget: \"budget\" (bytes)}],
        \"expires\":   null (never, unless newer snapshots displace it; always null for
                     destroy) | RFC 3339 instant the keeping window passes it,
        \"outcome\":   null (kept, or --dry-run) | \"destroyed\" | \"skipped\" (held or cloned
                     meanwhile) | \"failed\" | \"not_attempted\" (an earlier batch failed as a whole),
        \"error\":     null | {\"kind\", \"errno\", \"text\"}
    }],
    \"summary\": {\"snapshots\", \"keep\", \"destroy\", \"destroyed\", \"skipped\", \"failed\",
                \"not_attempted\", \"calls\" (lzc_destroy_snaps calls made)}
  }

Exit status: 0 success (held/cloned skips included), 1 listing/store/destroy failure,
2 bad arguments. Nothing is changed on exit status 2.

Examples:
  prune tank/home --keep 48x1h,30x1d,12x1mo,10x1y --dry-run
  prune tank/home --keep 24x1h,min=10 --json --dry-run | jq '.entries[] | select(.decision==\"destroy\")'
  prune -r tank --keep 4x15min,24x1h,30x1d --tz Europe/Berlin --batch 50";

/// Why a prune stopped before applying anything.
#[derive(Debug)]
pub enum Failure {
    /// A bad argument: nothing was read or changed.
    Usage(String),
    /// Listing, the store or ZFS failed: nothing was changed.
    Other(String),
}

/// What to prune and how: the validated arguments.
pub struct Options {
    /// Program name for progress lines and warnings (`prune`, `datavault`).
    pub program: &'static str,
    /// The dataset whose snapshots are thinned.
    pub dataset: DatasetName,
    /// The policy.
    pub policy: RetentionPolicy,
    /// Time zone of the calendar periods.
    pub tz: TimeZone,
    /// Its name, for the output.
    pub tz_name: String,
    /// The instant planned for.
    pub now: OffsetDateTime,
    /// Plan only.
    pub dry_run: bool,
    /// JSON output (no progress, no text).
    pub json: bool,
    /// Print the plan before applying it (text output).
    pub verbose: bool,
    /// At most this many snapshots per `lzc_destroy_snaps` call.
    pub batch: usize,
    /// Also the descendants (each planned on its own).
    pub recursive: bool,
    /// Directory of the stash store.
    pub store: PathBuf,
    /// Plan as if no snapshot had holds or clones (testing).
    pub ignore_holds: bool,
    /// The time a snapshot counts as taken at, when not its `creation` property (`None` from
    /// the function, or no function: `creation`). `datavault` reads it from its snapshot names.
    pub snapshot_time: Option<fn(&SnapshotInfo) -> Option<OffsetDateTime>>,
}

impl Options {
    /// Options with the defaults of the `prune` binary: no dry run, text output, batches of
    /// 100, not recursive, the default store, `creation` times.
    pub fn new(
        program: &'static str,
        dataset: DatasetName,
        policy: RetentionPolicy,
        tz: TimeZone,
        tz_name: String,
        now: OffsetDateTime,
    ) -> Self {
        Options {
            program,
            dataset,
            policy,
            tz,
            tz_name,
            now,
            dry_run: false,
            json: false,
            verbose: false,
            batch: 100,
            recursive: false,
            store: PathBuf::from(rollback::DEFAULT_DIR),
            ignore_holds: false,
            snapshot_time: None,
        }
    }
}

/// The listing and the plans, with the store's lock (real runs) held until dropped.
pub struct Planned {
    /// Every snapshot listed.
    pub listing: Vec<SnapshotInfo>,
    /// One plan per dataset, by dataset name.
    pub plans: Vec<(String, RetentionPlan)>,
    /// Warnings (an interrupted rollback awaiting recovery, on a dry run).
    pub warnings: Vec<String>,
    _stashes: Stashes,
}

impl Planned {
    /// The entries to destroy, oldest first.
    pub fn doomed(&self) -> Vec<&PlanEntry> {
        let mut doomed: Vec<&PlanEntry> =
            self.plans.iter().flat_map(|(_, p)| p.destroyed()).collect();
        doomed.sort_by(|a, b| {
            (a.creation, a.createtxg, &a.name).cmp(&(b.creation, b.createtxg, &b.name))
        });
        doomed
    }

    /// How many snapshots the plans keep.
    pub fn kept(&self) -> usize {
        self.plans.iter().map(|(_, p)| p.kept().count()).sum()
    }
}

/// What applying a plan did.
#[derive(Default)]
pub struct Applied {
    /// The fate of each snapshot the plan destroys, by name.
    pub fates: HashMap<String, Fate>,
    /// The counts.
    pub tally: Tally,
}

impl Applied {
    /// True when nothing failed (held/cloned skips are fine).
    pub fn ok(&self) -> bool {
        self.tally.failed == 0 && self.tally.not_attempted == 0
    }
}

fn show_progress(o: &Options) -> bool {
    crate::show_progress(o.json)
}

/// Reads the stash records (a real run takes the store's lock), lists the snapshots and plans
/// each dataset. Changes nothing.
pub fn plan(o: &Options) -> Result<Planned, Failure> {
    let mut warnings = Vec::new();
    let stashes = read_stashes(o, &mut warnings)?;
    let show_progress = show_progress(o);

    // List.
    let props = if o.policy.pin_properties().is_empty() {
        UserProps::None
    } else {
        UserProps::named(o.policy.pin_properties().iter().cloned())
            .map_err(|e| Failure::Usage(e.to_string()))?
    };
    let mut query = SnapshotQuery::new(&o.dataset).user_properties(props);
    if o.recursive {
        query = query.recursive();
    }
    let listing = {
        let shown = Cell::new(false);
        let mut inv = Inventory::new();
        if show_progress {
            inv = inv.on_progress(|p| {
                if !p.done {
                    eprint!(
                        "\r\x1b[K{}: listing {}: {} so far",
                        o.program, p.listing, p.items
                    );
                    shown.set(true);
                }
            });
        }
        let r = inv.snapshots(&query);
        drop(inv);
        if shown.get() {
            eprint!("\r\x1b[K");
        }
        r.map_err(|e| {
            Failure::Other(format!(
                "cannot list the snapshots of {}: {e}",
                o.dataset.as_str()
            ))
        })?
    };

    // Plan, one dataset at a time (listing order: by dataset, then createtxg).
    let mut groups: BTreeMap<String, Vec<SnapshotFacts>> = BTreeMap::new();
    for info in &listing {
        groups
            .entry(info.name.dataset_str().to_string())
            .or_default()
            .push(facts(o, info, &stashes));
    }
    let plans: Vec<(String, RetentionPlan)> = groups
        .into_iter()
        .map(|(ds, f)| {
            let plan = o.policy.plan(&f, o.now, &o.tz);
            (ds, plan)
        })
        .collect();
    Ok(Planned {
        listing,
        plans,
        warnings,
        _stashes: stashes,
    })
}

/// Destroys what `planned` destroys (nothing on a dry run), oldest first, in batches;
/// `report` hears of each snapshot skipped or failed. A progress line is shown on a terminal
/// (never with `json`).
pub fn apply(o: &Options, planned: &Planned, report: impl FnMut(&str, &Fate)) -> Applied {
    let mut a = Applied::default();
    if o.dry_run {
        return a;
    }
    let mut progress = Progress {
        on: show_progress(o),
        dirty: false,
        program: o.program,
    };
    let doomed = planned.doomed();
    a.tally = apply_batches(&doomed, o.batch, &mut a.fates, &mut progress, report);
    a
}

/// The whole `prune` command: plan, print, apply, print. Ok(false) when some snapshot could
/// not be destroyed.
pub fn run_cli(o: &Options) -> Result<bool, Failure> {
    let planned = plan(o)?;
    let doomed = planned.doomed();
    let kept = planned.kept();

    if !o.json && (o.dry_run || o.verbose) {
        print_text_plan(o, &planned.plans, &planned.warnings);
    } else if !o.json {
        for w in &planned.warnings {
            eprintln!("{}: warning: {w}", o.program);
        }
    }

    let text = !o.json;
    let applied = apply(o, &planned, |name, fate| {
        if !text {
            return;
        }
        match fate {
            Fate::Skipped(e) => println!("skipped {name}: {}", short_error(e)),
            Fate::Failed(e) => println!("failed  {name}: {}", e.text),
            Fate::Destroyed | Fate::NotAttempted => {}
        }
    });
    let tally = &applied.tally;
    let ok = applied.ok();

    if o.json {
        let v = json_report(o, &planned.plans, &applied.fates, tally, &planned.warnings);
        println!(
            "{}",
            serde_json::to_string_pretty(&v).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
        );
    } else if o.dry_run {
        println!(
            "dry run: would destroy {}, keep {} (of {} snapshots)",
            doomed.len(),
            kept,
            planned.listing.len()
        );
    } else {
        if tally.not_attempted > 0 {
            println!(
                "not attempted: {} snapshots (a batch failed as a whole)",
                tally.not_attempted
            );
        }
        println!(
            "destroyed {}, kept {}, skipped {}, failed {} ({} lzc_destroy_snaps calls, batches of at most {})",
            tally.destroyed,
            kept,
            tally.skipped,
            tally.failed + tally.not_attempted,
            tally.calls,
            o.batch
        );
    }
    if !ok && !o.json {
        eprintln!(
            "{}: error: {} snapshots could not be destroyed",
            o.program,
            tally.failed + tally.not_attempted
        );
    }
    Ok(ok)
}

/// What the stash store protects, and its lock for a real run.
struct Stashes {
    names: HashSet<String>,
    guids: HashSet<u64>,
    _lock: Option<rollback::Lock>,
}

/// Reads the stash records. A dry run reads them only if the store exists (it creates nothing)
/// and takes no lock; a real run opens (creates) the store, takes its lock for the whole run
/// and refuses to go on while an interrupted operation on the dataset (or one above or below
/// it) awaits recovery.
fn read_stashes(o: &Options, warnings: &mut Vec<String>) -> Result<Stashes, Failure> {
    let mut st = Stashes {
        names: HashSet::new(),
        guids: HashSet::new(),
        _lock: None,
    };
    let dir = &o.store;
    if o.dry_run && !dir.exists() {
        return Ok(st);
    }
    let fail = |what: &str, e: Error| {
        Failure::Other(format!(
            "{what} the stash store {}: {e}; nothing changed",
            dir.display()
        ))
    };
    let store = Store::open(dir).map_err(|e| fail("cannot open", e))?;
    if !o.dry_run {
        st._lock = Some(store.lock().map_err(|e| fail("cannot lock", e))?);
    }
    let journals = store
        .journals()
        .map_err(|e| fail("cannot read the journals of", e))?;
    let ds = o.dataset.as_str();
    if let Some(j) = journals
        .into_iter()
        .find(|j| rollback::related(&j.plan.dataset, ds))
    {
        let msg = format!(
            "an interrupted flocker {} of {} awaits recovery (datavault recover)",
            j.op, j.plan.dataset
        );
        if !o.dry_run {
            return Err(Failure::Other(format!("{msg}; nothing changed")));
        }
        warnings.push(msg);
    }
    let names = rollback::protected_snapshots(&store).map_err(|e| fail("cannot read", e))?;
    st.names.extend(names);
    for r in store.records().map_err(|e| fail("cannot read", e))? {
        st.guids.insert(r.target_guid);
        st.guids.extend(r.snapshots.iter().map(|s| s.guid));
    }
    Ok(st)
}

fn facts(o: &Options, s: &SnapshotInfo, stashes: &Stashes) -> SnapshotFacts {
    let ignore_holds = o.ignore_holds;
    let name = s.name.as_str();
    let creation = o.snapshot_time.and_then(|f| f(s)).unwrap_or(s.creation);
    let mut f = SnapshotFacts::new(name, s.guid, s.createtxg, creation);
    f.written = s.written.unwrap_or(0);
    f.used = s.used;
    f.held = !ignore_holds && s.userrefs > 0;
    f.has_clones = !ignore_holds && !s.clones.is_empty();
    f.stashed = rollback::is_stash_dataset(name)
        || stashes.names.contains(name)
        || stashes.guids.contains(&s.guid);
    f.user_props = s
        .user_properties
        .iter()
        .map(|(k, v)| (k.clone(), v.value.clone()))
        .collect();
    f
}

/// What happened to a snapshot the plan destroys.
#[derive(Debug, Clone)]
pub enum Fate {
    /// Destroyed.
    Destroyed,
    /// Held or cloned meanwhile (the kernel's item error).
    Skipped(ErrorInfo),
    /// Could not be destroyed for another reason.
    Failed(ErrorInfo),
    /// Not tried: an earlier batch failed as a whole.
    NotAttempted,
}

/// An error the kernel reported for one snapshot (or a whole call).
#[derive(Debug, Clone)]
pub struct ErrorInfo {
    /// The error kind.
    pub kind: ErrorKind,
    /// The errno, when the kernel gave one.
    pub errno: Option<i32>,
    /// The error text.
    pub text: String,
}

/// Counts of what applying a plan did.
#[derive(Default, Debug, Clone)]
pub struct Tally {
    /// Snapshots destroyed.
    pub destroyed: usize,
    /// Held or cloned meanwhile: kept.
    pub skipped: usize,
    /// Could not be destroyed.
    pub failed: usize,
    /// Not tried: an earlier batch failed as a whole.
    pub not_attempted: usize,
    /// `lzc_destroy_snaps` calls made.
    pub calls: usize,
}

/// A one-line, overwritten progress report on a terminal.
struct Progress {
    on: bool,
    dirty: bool,
    program: &'static str,
}

impl Progress {
    fn show(&mut self, text: &str) {
        if self.on {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[K{}: {text}", self.program);
            let _ = err.flush();
            self.dirty = true;
        }
    }
    fn clear(&mut self) {
        if self.dirty {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[K");
            let _ = err.flush();
            self.dirty = false;
        }
    }
}

/// Destroys `doomed` (oldest first) in batches of at most `batch`.
fn apply_batches(
    doomed: &[&PlanEntry],
    batch: usize,
    fates: &mut HashMap<String, Fate>,
    progress: &mut Progress,
    mut report: impl FnMut(&str, &Fate),
) -> Tally {
    let mut t = Tally::default();
    let total = doomed.len();
    let mut whole_call_failed = false;
    for chunk in doomed.chunks(batch.max(1)) {
        if whole_call_failed {
            for e in chunk {
                fates.insert(e.name.clone(), Fate::NotAttempted);
                t.not_attempted += 1;
            }
            continue;
        }
        let mut pending: Vec<SnapshotName> = Vec::with_capacity(chunk.len());
        for e in chunk {
            match SnapshotName::new(&e.name) {
                Ok(n) => pending.push(n),
                Err(err) => {
                    let f = Fate::Failed(ErrorInfo {
                        kind: ErrorKind::InvalidName,
                        errno: None,
                        text: err.to_string(),
                    });
                    progress.clear();
                    report(&e.name, &f);
                    fates.insert(e.name.clone(), f);
                    t.failed += 1;
                }
            }
        }
        // Each round either succeeds or removes at least one name, so this ends.
        while !pending.is_empty() {
            t.calls += 1;
            match lzc::destroy_snaps(&pending, false) {
                Ok(()) => {
                    for n in pending.drain(..) {
                        fates.insert(n.into_string(), Fate::Destroyed);
                        t.destroyed += 1;
                    }
                }
                Err(err) => {
                    let mut removed = 0;
                    for item in err.items() {
                        let Some(pos) = pending.iter().position(|n| n.as_str() == item.name())
                        else {
                            continue;
                        };
                        let n = pending.remove(pos);
                        removed += 1;
                        let info = ErrorInfo {
                            kind: item.kind(),
                            errno: item.errno(),
                            text: item.to_string(),
                        };
                        let f = match item.kind() {
                            ErrorKind::Held | ErrorKind::HasClones => {
                                t.skipped += 1;
                                Fate::Skipped(info)
                            }
                            _ => {
                                t.failed += 1;
                                Fate::Failed(info)
                            }
                        };
                        progress.clear();
                        report(n.as_str(), &f);
                        fates.insert(n.into_string(), f);
                    }
                    if removed == 0 {
                        // The call failed as a whole (no item named): later batches would
                        // fail the same way, so they are not attempted.
                        let info = ErrorInfo {
                            kind: err.kind(),
                            errno: err.errno(),
                            text: err.to_string(),
                        };
                        for n in pending.drain(..) {
                            let f = Fate::Failed(info.clone());
                            progress.clear();
                            report(n.as_str(), &f);
                            fates.insert(n.into_string(), f);
                            t.failed += 1;
                        }
                        whole_call_failed = true;
                    }
                }
            }
        }
        progress.show(&format!(
            "destroyed {} of {total} ({} skipped, {} failed)",
            t.destroyed, t.skipped, t.failed
        ));
    }
    progress.clear();
    t
}

/// A short text for a skip or failure (`held or in use (EBUSY); kept`).
pub fn short_error(e: &ErrorInfo) -> String {
    let what = match e.kind {
        ErrorKind::Held => "held or in use".to_string(),
        ErrorKind::HasClones => "has clones".to_string(),
        other => other.to_string(),
    };
    match e.errno {
        Some(n) => format!("{what} ({}); kept", errno_name(n)),
        None => format!("{what}; kept"),
    }
}

/// Prints the plans as text (policy line, warnings, one block per dataset).
pub fn print_text_plan(s: &Options, plans: &[(String, RetentionPlan)], warnings: &[String]) {
    println!(
        "policy {} at {} (time zone {})",
        s.policy,
        rfc3339(s.now),
        s.tz_name
    );
    for w in warnings {
        println!("warning: {w}");
    }
    for (ds, plan) in plans {
        if plans.len() > 1 {
            println!("== {ds}");
        }
        print!("{plan}");
    }
}

/// RFC 3339 text of `t`.
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

/// The JSON report of [`JSON_HELP`].
pub fn json_report(
    s: &Options,
    plans: &[(String, RetentionPlan)],
    fates: &HashMap<String, Fate>,
    t: &Tally,
    warnings: &[String],
) -> Value {
    let mut datasets = Vec::new();
    let mut entries = Vec::new();
    let (mut n, mut keep, mut destroy) = (0, 0, 0);
    for (ds, plan) in plans {
        let k = plan.kept().count();
        let d = plan.destroyed().count();
        n += plan.entries.len();
        keep += k;
        destroy += d;
        datasets.push(json!({
            "name": ds,
            "snapshots": plan.entries.len(),
            "keep": k,
            "destroy": d,
            "space": plan.space.map(|sp| json!({
                "budget": sp.budget,
                "used_before": sp.used_before,
                "used_after": sp.used_after,
            })),
        }));
        for e in &plan.entries {
            let (outcome, error) = match fates.get(&e.name) {
                None => (Value::Null, Value::Null),
                Some(Fate::Destroyed) => (json!("destroyed"), Value::Null),
                Some(Fate::NotAttempted) => (json!("not_attempted"), Value::Null),
                Some(Fate::Skipped(i)) => (json!("skipped"), error_json(i)),
                Some(Fate::Failed(i)) => (json!("failed"), error_json(i)),
            };
            entries.push(json!({
                "name": e.name,
                "dataset": ds,
                "guid": e.guid.to_string(),
                "createtxg": e.createtxg,
                "creation": rfc3339(e.creation),
                "decision": match e.decision {
                    Decision::Keep => "keep",
                    Decision::Destroy => "destroy",
                },
                "reasons": e.reasons.iter().map(|r| reason_json(plan, s, r)).collect::<Vec<_>>(),
                "expires": e.expires_at.map(rfc3339),
                "outcome": outcome,
                "error": error,
            }));
        }
    }
    let rules: Vec<String> = s.policy.rules().iter().map(|r| r.to_string()).collect();
    json!({
        "policy": s.policy.to_string(),
        "rules": rules,
        "now": rfc3339(s.now),
        "tz": s.tz_name,
        "dry_run": s.dry_run,
        "warnings": warnings,
        "datasets": datasets,
        "entries": entries,
        "summary": {
            "snapshots": n,
            "keep": keep,
            "destroy": destroy,
            "destroyed": t.destroyed,
            "skipped": t.skipped,
            "failed": t.failed,
            "not_attempted": t.not_attempted,
            "calls": t.calls,
        },
    })
}

fn error_json(e: &ErrorInfo) -> Value {
    json!({
        "kind": format!("{:?}", e.kind),
        "errno": e.errno.map(errno_name),
        "text": e.text,
    })
}

fn reason_json(plan: &RetentionPlan, s: &Options, r: &Reason) -> Value {
    let text = plan.describe(r);
    let rule = |i: &usize| plan.rules.get(*i).cloned();
    let until = |u: &Option<OffsetDateTime>| u.map(rfc3339);
    match r {
        Reason::Protected(p) => {
            let (what, property) = match p {
                Protection::Newest => ("newest", None),
                Protection::Held => ("held", None),
                Protection::HasClones => ("has_clones", None),
                Protection::Pinned => ("pinned", None),
                Protection::PinProperty(prop) => ("pin_property", Some(prop.clone())),
                Protection::Stashed => ("stashed", None),
                Protection::FutureDated => ("future_dated", None),
                _ => ("other", None),
            };
            let mut v = json!({"type": "protected", "protection": what, "text": text});
            if let Some(prop) = property {
                v["property"] = json!(prop);
            }
            v
        }
        Reason::Kept(k) => match k {
            KeepReason::Calendar {
                rule: i,
                period,
                rank,
            } => json!({
                "type": "kept", "rule": rule(i), "rule_index": i, "by": "calendar",
                "period": period.to_string(), "rank": rank, "text": text,
            }),
            KeepReason::Grid {
                rule: i,
                group,
                bucket,
            } => json!({
                "type": "kept", "rule": rule(i), "rule_index": i, "by": "grid",
                "group": group, "bucket": bucket, "text": text,
            }),
            KeepReason::Within {
                rule: i,
                age,
                until: u,
            } => json!({
                "type": "kept", "rule": rule(i), "rule_index": i, "by": "within",
                "age_seconds": age.as_secs(), "until": until(u), "text": text,
            }),
            KeepReason::Minimum { rank } => json!({
                "type": "kept", "rule": format!("min={}", s.policy.min_count()),
                "rule_index": Value::Null, "by": "min", "rank": rank, "text": text,
            }),
            KeepReason::BurstEnd {
                rule: i,
                age,
                until: u,
            } => json!({
                "type": "kept", "rule": rule(i), "rule_index": i, "by": "burst_end",
                "age_seconds": age.as_secs(), "until": until(u), "text": text,
            }),
            KeepReason::LargeChange {
                rule: i,
                side,
                written,
                until: u,
            } => json!({
                "type": "kept", "rule": rule(i), "rule_index": i, "by": "large_change",
                "side": match side { ChangeSide::Before => "before", ChangeSide::After => "after" },
                "written": written, "until": until(u), "text": text,
            }),
            _ => json!({"type": "kept", "by": "other", "text": text}),
        },
        Reason::Missed(m) => {
            let (i, why) = match m {
                RuleMiss::NotFirstInPeriod { rule: i, .. } => (Some(*i), "not_first_in_period"),
                RuleMiss::PeriodTooOld { rule: i, .. } => (Some(*i), "period_too_old"),
                RuleMiss::NotOldestInBucket { rule: i, .. } => (Some(*i), "not_oldest_in_bucket"),
                RuleMiss::BeyondGrid { rule: i } => (Some(*i), "beyond_grid"),
                RuleMiss::TooOld { rule: i, .. } => (Some(*i), "too_old"),
                RuleMiss::NotBurstEnd { rule: i } => (Some(*i), "not_burst_end"),
                RuleMiss::NoLargeChange { rule: i } => (Some(*i), "no_large_change"),
                RuleMiss::BeyondMinimum { .. } => (None, "beyond_minimum"),
                _ => (None, "other"),
            };
            let rule_text = match i {
                Some(i) => rule(&i),
                None if why == "beyond_minimum" => Some(format!("min={}", s.policy.min_count())),
                None => None,
            };
            json!({"type": "missed", "rule": rule_text, "rule_index": i, "why": why, "text": text})
        }
        Reason::OverSpaceBudget { budget } => {
            json!({"type": "over_space_budget", "budget": budget, "text": text})
        }
        _ => json!({"type": "other", "text": text}),
    }
}
