//! `prune`: thin a dataset's snapshots with a retention policy.
//!
//! ```text
//! prune DATASET --keep POLICY [--tz ZONE] [--dry-run] [--json] [--batch N]
//!       [--pin-property PROP]... [-r] [--store DIR] [-v]
//! ```
//!
//! Lists the snapshots through `flocker_core::inventory` (read-only channel programs, no
//! CLI), plans with `flocker_core::retention` (every snapshot: keep or destroy, and why), and
//! destroys the `Destroy` entries oldest first in batches of at most `--batch` names, one
//! `lzc_destroy_snaps` call per batch (no defer). A snapshot that became held or cloned
//! between the listing and its batch makes the kernel refuse the whole batch; it is skipped and
//! reported, and the rest of the batch is sent again. No process is spawned.
//!
//! Snapshots that belong to a stash (`flocker_core::rollback`: under `<pool>/flocker-stash/`,
//! or named by a stash record of the store as a stash's target or content) are never
//! destroyed. A real run takes the store's lock for its whole duration, so it never races a
//! rollback, and refuses to run while an interrupted rollback of the pool awaits recovery.
//!
//! Two options exist for tests (`tests/tests/prune.rs`) and debugging, listed under their own
//! heading in `--help`: `--now RFC3339` plans as if the clock read that instant, and
//! `--debug-ignore-holds` plans as if no snapshot had holds or clones, so that the destroy
//! meets them exactly as when they appear between the listing and the destroy.
//!
//! Exit status: 0 when everything the plan destroys is destroyed or was skipped because it is
//! held or cloned; 1 when listing failed, the store could not be read or locked, or some
//! snapshot could not be destroyed for another reason; 2 for bad arguments (nothing changed).

use std::cell::Cell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
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

const JSON_HELP: &str = "\
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

/// Thin a dataset's snapshots with a retention policy (see RETENTION.md for the grammar).
#[derive(Parser, Debug)]
#[command(
    name = "prune",
    version,
    about = "Thin a dataset's snapshots with a retention policy, explaining every decision"
)]
#[command(after_long_help = JSON_HELP)]
struct Args {
    /// The dataset whose snapshots are thinned.
    #[arg(value_name = "DATASET")]
    dataset: String,

    /// The retention policy, e.g. `48x1h,30x1d,12x1mo,10x1y,min=10` (RETENTION.md).
    #[arg(long = "keep", value_name = "POLICY")]
    keep: String,

    /// Time zone of the calendar periods (IANA name, e.g. Europe/Berlin). Default: the
    /// system's local zone (TZ, /etc/localtime), else UTC.
    #[arg(long, value_name = "ZONE")]
    tz: Option<String>,

    /// Print the plan and destroy nothing.
    #[arg(short = 'n', long)]
    dry_run: bool,

    /// Print the plan (and outcome) as one JSON object; no progress output. See --help.
    #[arg(long)]
    json: bool,

    /// At most this many snapshots per lzc_destroy_snaps call.
    #[arg(long, value_name = "N", default_value_t = 100,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    batch: u32,

    /// A user property that pins a snapshot when set (to anything but "", -, off, no, false,
    /// 0), like `pin=PROP` in the policy; repeatable. A value inherited from the dataset pins
    /// every snapshot of it.
    #[arg(long = "pin-property", value_name = "PROP")]
    pin_property: Vec<String>,

    /// Also thin the snapshots of every descendant (each dataset planned on its own).
    #[arg(short = 'r', long)]
    recursive: bool,

    /// Directory of the stash store (stash records, journal and lock of flocker rollbacks).
    #[arg(long, value_name = "DIR", default_value = rollback::DEFAULT_DIR)]
    store: PathBuf,

    /// Print the plan before applying it (text output without --dry-run).
    #[arg(short = 'v', long)]
    verbose: bool,

    /// Testing/debugging: plan as if the clock read this instant (RFC 3339, e.g.
    /// 2026-01-31T12:00:00Z) instead of the current time.
    #[arg(long, value_name = "RFC3339", help_heading = "Testing and debugging")]
    now: Option<String>,

    /// Testing/debugging: plan as if no snapshot had holds or clones, so that destroying meets
    /// them as if they had appeared after the listing, and they are skipped and reported.
    #[arg(long, help_heading = "Testing and debugging")]
    debug_ignore_holds: bool,
}

/// Why the run stopped before applying anything.
enum Failure {
    /// A bad argument: nothing was read or changed.
    Usage(String),
    /// Listing, the store or ZFS failed: nothing was changed.
    Other(String),
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(Failure::Usage(msg)) => {
            eprintln!("prune: error: {msg}");
            ExitCode::from(2)
        }
        Err(Failure::Other(msg)) => {
            eprintln!("prune: error: {msg}");
            ExitCode::from(1)
        }
    }
}

/// What the arguments say, validated.
struct Setup {
    dataset: DatasetName,
    policy: RetentionPolicy,
    tz: TimeZone,
    tz_name: String,
    now: OffsetDateTime,
}

fn setup(args: &Args) -> Result<Setup, Failure> {
    let dataset = DatasetName::new(&args.dataset)
        .map_err(|e| Failure::Usage(format!("bad dataset name {:?}: {e}", args.dataset)))?;
    let mut policy: RetentionPolicy = args
        .keep
        .parse()
        .map_err(|e| Failure::Usage(format!("bad --keep {:?}: {e}", args.keep)))?;
    for prop in &args.pin_property {
        if policy.pin_properties().contains(prop) {
            continue;
        }
        // The canonical text parses back to an equal policy; adding `pin=` reuses its checks.
        policy = format!("{policy},pin={prop}").parse().map_err(
            |e: flocker_core::retention::ParseError| {
                Failure::Usage(format!("bad --pin-property {prop:?}: {}", e.kind))
            },
        )?;
    }
    let (tz, tz_name) = match &args.tz {
        Some(z) => {
            let tz = TimeZone::get(z)
                .map_err(|e| Failure::Usage(format!("unknown time zone {z:?}: {e}")))?;
            (tz, z.clone())
        }
        None => {
            let tz = TimeZone::try_system().unwrap_or(TimeZone::UTC);
            let name = tz.iana_name().unwrap_or("system local zone").to_string();
            (tz, name)
        }
    };
    let now = match &args.now {
        None => OffsetDateTime::now_utc(),
        Some(s) => {
            let bad = |why: String| {
                Failure::Usage(format!(
                    "bad --now {s:?}: {why} (expected RFC 3339, e.g. 2026-01-31T12:00:00Z)"
                ))
            };
            let ts: jiff::Timestamp = s.parse().map_err(|e: jiff::Error| bad(e.to_string()))?;
            OffsetDateTime::from_unix_timestamp_nanos(ts.as_nanosecond())
                .map_err(|e| bad(e.to_string()))?
        }
    };
    Ok(Setup {
        dataset,
        policy,
        tz,
        tz_name,
        now,
    })
}

/// What the stash store protects, and its lock for a real run.
struct Stashes {
    names: HashSet<String>,
    guids: HashSet<u64>,
    _lock: Option<rollback::Lock>,
}

/// Reads the stash records. A dry run reads them only if the store exists (it creates nothing)
/// and takes no lock; a real run opens (creates) the store, takes its lock for the whole run
/// and refuses to go on while an interrupted operation on the pool awaits recovery.
fn read_stashes(args: &Args, pool: &str, warnings: &mut Vec<String>) -> Result<Stashes, Failure> {
    let mut st = Stashes {
        names: HashSet::new(),
        guids: HashSet::new(),
        _lock: None,
    };
    let dir = &args.store;
    if args.dry_run && !dir.exists() {
        return Ok(st);
    }
    let fail = |what: &str, e: Error| {
        Failure::Other(format!(
            "{what} the stash store {}: {e}; nothing changed",
            dir.display()
        ))
    };
    let store = Store::open(dir).map_err(|e| fail("cannot open", e))?;
    if !args.dry_run {
        st._lock = Some(store.lock().map_err(|e| fail("cannot lock", e))?);
    }
    let journal = store
        .journal()
        .map_err(|e| fail("cannot read the journal of", e))?;
    if let Some(j) = journal.filter(|j| j.plan.pool() == pool) {
        let msg = format!(
            "an interrupted flocker {} of {} awaits recovery (datavault recover)",
            j.op, j.plan.dataset
        );
        if !args.dry_run {
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

fn facts(s: &SnapshotInfo, stashes: &Stashes, ignore_holds: bool) -> SnapshotFacts {
    let name = s.name.as_str();
    let mut f = SnapshotFacts::new(name, s.guid, s.createtxg, s.creation);
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
enum Fate {
    Destroyed,
    /// Held or cloned meanwhile (the kernel's item error).
    Skipped(ErrorInfo),
    Failed(ErrorInfo),
    NotAttempted,
}

#[derive(Debug, Clone)]
struct ErrorInfo {
    kind: ErrorKind,
    errno: Option<i32>,
    text: String,
}

#[derive(Default)]
struct Tally {
    destroyed: usize,
    skipped: usize,
    failed: usize,
    not_attempted: usize,
    calls: usize,
}

/// A one-line, overwritten progress report on a terminal.
struct Progress {
    on: bool,
    dirty: bool,
}

impl Progress {
    fn show(&mut self, text: &str) {
        if self.on {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[Kprune: {text}");
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
fn apply(
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

fn run(args: &Args) -> Result<bool, Failure> {
    let s = setup(args)?;
    let mut warnings = Vec::new();
    let pool = s.dataset.pool();
    let stashes = read_stashes(args, pool.as_str(), &mut warnings)?;

    let show_progress = !args.json && std::io::stderr().is_terminal();
    let mut progress = Progress {
        on: show_progress,
        dirty: false,
    };

    // List.
    let props = if s.policy.pin_properties().is_empty() {
        UserProps::None
    } else {
        UserProps::named(s.policy.pin_properties().iter().cloned())
            .map_err(|e| Failure::Usage(e.to_string()))?
    };
    let mut query = SnapshotQuery::new(&s.dataset).user_properties(props);
    if args.recursive {
        query = query.recursive();
    }
    let listing = {
        let shown = Cell::new(false);
        let mut inv = Inventory::new();
        if show_progress {
            inv = inv.on_progress(|p| {
                if !p.done {
                    eprint!("\r\x1b[Kprune: listing {}: {} so far", p.listing, p.items);
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
                s.dataset.as_str()
            ))
        })?
    };

    // Plan, one dataset at a time (listing order: by dataset, then createtxg).
    let mut groups: BTreeMap<String, Vec<SnapshotFacts>> = BTreeMap::new();
    for info in &listing {
        groups
            .entry(info.name.dataset_str().to_string())
            .or_default()
            .push(facts(info, &stashes, args.debug_ignore_holds));
    }
    let plans: Vec<(String, RetentionPlan)> = groups
        .into_iter()
        .map(|(ds, f)| {
            let plan = s.policy.plan(&f, s.now, &s.tz);
            (ds, plan)
        })
        .collect();

    // Apply.
    let mut doomed: Vec<&PlanEntry> = plans.iter().flat_map(|(_, p)| p.destroyed()).collect();
    doomed.sort_by(|a, b| {
        (a.creation, a.createtxg, &a.name).cmp(&(b.creation, b.createtxg, &b.name))
    });
    let kept: usize = plans.iter().map(|(_, p)| p.kept().count()).sum();
    let mut fates: HashMap<String, Fate> = HashMap::new();

    if !args.json && (args.dry_run || args.verbose) {
        print_text_plan(&s, &plans, &warnings);
    } else if !args.json {
        for w in &warnings {
            eprintln!("prune: warning: {w}");
        }
    }

    let tally = if args.dry_run {
        Tally::default()
    } else {
        let text = !args.json;
        apply(
            &doomed,
            args.batch as usize,
            &mut fates,
            &mut progress,
            |name, fate| {
                if !text {
                    return;
                }
                match fate {
                    Fate::Skipped(e) => println!("skipped {name}: {}", short_error(e)),
                    Fate::Failed(e) => println!("failed  {name}: {}", e.text),
                    Fate::Destroyed | Fate::NotAttempted => {}
                }
            },
        )
    };
    let ok = tally.failed == 0 && tally.not_attempted == 0;

    if args.json {
        let v = json_report(args, &s, &plans, &fates, &tally, &warnings);
        println!(
            "{}",
            serde_json::to_string_pretty(&v).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
        );
    } else if args.dry_run {
        println!(
            "dry run: would destroy {}, keep {} (of {} snapshots)",
            doomed.len(),
            kept,
            listing.len()
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
            args.batch
        );
    }
    if !ok && !args.json {
        eprintln!(
            "prune: error: {} snapshots could not be destroyed",
            tally.failed + tally.not_attempted
        );
    }
    Ok(ok)
}

fn short_error(e: &ErrorInfo) -> String {
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

fn print_text_plan(s: &Setup, plans: &[(String, RetentionPlan)], warnings: &[String]) {
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

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

fn json_report(
    args: &Args,
    s: &Setup,
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
        "dry_run": args.dry_run,
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

fn reason_json(plan: &RetentionPlan, s: &Setup, r: &Reason) -> Value {
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
