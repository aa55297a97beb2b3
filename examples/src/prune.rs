//! The core of the `prune` tool, shared by the `prune` binary and `datavault prune` / `datavault
//! run`: list a dataset's snapshots through `flocker_core::inventory`, plan with
//! `flocker_core::retention`, and destroy the plan's `Destroy` entries oldest first in capped
//! batches (one `lzc_destroy_snaps` call per batch; held or cloned snapshots skipped and
//! reported). Stashed snapshots (`flocker_core::rollback`) are never destroyed; a real run
//! holds the stash store's lock from the listing to the last destroy.
//!
//! A policy plans only the snapshots it owns ([`Ownership`]): by default DataVault's, named
//! `dv-YYYYMMDDTHHMMSSZ` ([`crate::scheme`]); a `match` regex widens that, `--all` (the `prune`
//! tool only) takes every snapshot. The others are *foreign*: never destroyed, not counted by
//! the policy (neither its counts nor its "newest" protection see them), and reported as
//! `foreign (kept)` (JSON: `"decision": "foreign"`).
//!
//! [`run_cli`] is the whole `prune` command (its text and JSON output); [`plan`] and
//! [`apply`] are its two halves for callers that print their own report.

use std::cell::Cell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
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
use regex::Regex;
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
    \"ownership\": {\"all\": bool (--all), \"match\": null | the --match regex, \"text\": the rule},
    \"warnings\": [text, ...]       (with --all, first: every snapshot is planned),
    \"datasets\": [{\"name\", \"snapshots\" (keep + destroy + foreign), \"keep\", \"destroy\",
                  \"foreign\", \"space\": null | {\"budget\", \"used_before\", \"used_after\"}}],
    \"entries\": [{                 one per snapshot, by dataset, oldest (createtxg) first
        \"name\":      \"pool/fs@snap\",
        \"dataset\":   \"pool/fs\",
        \"guid\":      decimal STRING (64-bit values do not fit a JSON double),
        \"createtxg\": number,
        \"creation\":  RFC 3339 (UTC),
        \"decision\":  \"keep\" | \"destroy\" | \"foreign\" (not owned by the policy: never
                     destroyed, not counted; its one reason is {\"type\": \"foreign\",
                     \"text\": \"foreign (kept)\"}),
        \"reasons\":   [{\"type\": \"protected\" | \"kept\" | \"missed\" | \"space_thinned\" |
                       \"over_space_budget\" (older versions) | \"foreign\",
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
                       space_thinned: \"budget\" (bytes), \"oldest\" (it went last), \"gap\"
                               (gap/age its loss left), \"worst\" (worst gap/age after it);
                       over_space_budget: \"budget\" (bytes)}],
        \"expires\":   null (never, unless newer snapshots displace it; always null for
                     destroy and foreign) | RFC 3339 instant the keeping window passes it,
        \"outcome\":   null (kept, or --dry-run) | \"destroyed\" | \"skipped\" (held or cloned
                     meanwhile) | \"failed\" | \"not_attempted\" (an earlier batch failed as a whole),
        \"error\":     null | {\"kind\", \"errno\", \"text\"}
    }],
    \"summary\": {\"snapshots\", \"keep\", \"destroy\", \"foreign\", \"destroyed\", \"skipped\",
                \"failed\", \"not_attempted\", \"calls\" (lzc_destroy_snaps calls made)}
  }

Ownership: the policy plans, counts and may destroy only the snapshots it owns: those named
dv-YYYYMMDDTHHMMSSZ (DataVault's scheme), and with --match REGEX also those whose short name
(after the @) the regex matches in full (it is anchored at both ends: --match 'auto-.*', not
--match auto-). --all plans every snapshot of the dataset, other tools' and manual ones too,
and says so on stderr. Every other snapshot is foreign (kept).

Exit status: 0 success (held/cloned skips included), 1 listing/store/destroy failure,
2 bad arguments. Nothing is changed on exit status 2.

Examples:
  prune tank/home --keep 48x1h,30x1d,12x1mo,10x1y --dry-run
  prune tank/home --keep 24x1h,30x1d --match 'autosnap_.*' --dry-run
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
    /// Which snapshots the policy owns (plans and may destroy); the others are foreign.
    pub ownership: Ownership,
}

impl Options {
    /// Options with the defaults of the `prune` binary: no dry run, text output, batches of
    /// 100, not recursive, the default store, `creation` times, DataVault's snapshots owned.
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
            ownership: Ownership::default(),
        }
    }
}

/// How a snapshot the policy does not own is reported (text, and the JSON reason's `text`).
pub const FOREIGN: &str = "foreign (kept)";

/// Which snapshots a retention policy owns: plans, counts, and may destroy. Every other
/// snapshot is *foreign*: never destroyed, not counted by the policy, reported as [`FOREIGN`].
///
/// ```
/// use flocker_examples::prune::Ownership;
///
/// let dv = Ownership::default();
/// assert!(dv.owns("dv-20261125T181500Z") && !dv.owns("before-upgrade"));
/// let wider = Ownership::matching(Some("auto-.*")).unwrap();
/// assert!(wider.owns("auto-1") && wider.owns("dv-20261125T181500Z"));
/// assert!(!wider.owns("x-auto-1")); // a full match
/// assert!(Ownership::All.owns("syncoid_host_2026-12-01:00:00:00-GMT00:00"));
/// ```
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub enum Ownership {
    /// DataVault's snapshots only: short names `dv-YYYYMMDDTHHMMSSZ` ([`crate::scheme`]).
    #[default]
    Scheme,
    /// DataVault's, and those whose short name the regex matches in full.
    SchemeOr(NameMatch),
    /// Every snapshot (`prune --all`).
    All,
}

impl Ownership {
    /// DataVault's snapshots, and with `regex` those it matches in full. Err: one line naming
    /// the regex (see [`NameMatch::new`]).
    pub fn matching(regex: Option<&str>) -> Result<Ownership, String> {
        Ok(match regex {
            None => Ownership::Scheme,
            Some(r) => Ownership::SchemeOr(NameMatch::new(r)?),
        })
    }

    /// Whether the policy owns the snapshot with this short name (the part after `@`).
    pub fn owns(&self, short: &str) -> bool {
        match self {
            Ownership::Scheme => crate::scheme::is_scheme_name(short),
            Ownership::SchemeOr(m) => crate::scheme::is_scheme_name(short) || m.matches(short),
            Ownership::All => true,
        }
    }

    /// Whether the policy owns the snapshot named `name` (`pool/fs@snap`).
    pub fn owns_name(&self, name: &str) -> bool {
        self.owns(name.rsplit_once('@').map_or("", |(_, short)| short))
    }

    /// The regex given, if any.
    pub fn regex(&self) -> Option<&str> {
        match self {
            Ownership::SchemeOr(m) => Some(m.as_str()),
            Ownership::Scheme | Ownership::All => None,
        }
    }

    /// The warning [`Ownership::All`] gives (on stderr and in the JSON `warnings`).
    pub fn warning(&self, dataset: &DatasetName, recursive: bool) -> Option<String> {
        match self {
            Ownership::All => Some(format!(
                "--all: every snapshot of {}{} is planned and may be destroyed, including those of other tools (syncoid, zrepl, flocker-snap) and manual ones",
                dataset.as_str(),
                if recursive {
                    " and its descendants"
                } else {
                    ""
                }
            )),
            Ownership::Scheme | Ownership::SchemeOr(_) => None,
        }
    }

    /// The JSON `ownership` object of [`JSON_HELP`] (also in `datavault list --json`).
    pub fn to_json(&self) -> Value {
        json!({
            "all": matches!(self, Ownership::All),
            "match": self.regex(),
            "text": self.to_string(),
        })
    }
}

impl fmt::Display for Ownership {
    /// What the policy owns, and what happens to the rest.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ownership::Scheme => write!(
                f,
                "snapshots named dv-YYYYMMDDTHHMMSSZ; the others are {FOREIGN}"
            ),
            Ownership::SchemeOr(m) => write!(
                f,
                "snapshots named dv-YYYYMMDDTHHMMSSZ or matching {} in full; the others are {FOREIGN}",
                quoted(m.as_str())
            ),
            Ownership::All => write!(f, "every snapshot (--all)"),
        }
    }
}

/// A regular expression (the `regex` crate's syntax) that a snapshot's short name must match
/// in full: it is anchored at both ends, so `auto-.*` matches `auto-1` but not `x-auto-1`, and
/// `auto` matches only `auto`.
#[derive(Clone, Debug)]
pub struct NameMatch {
    text: String,
    full: Regex,
}

impl NameMatch {
    /// Compiles `text` for a full match. Err: one line naming the regex and what is wrong
    /// with it (`bad regex "(": unclosed group`); an empty regex is refused too.
    pub fn new(text: &str) -> Result<NameMatch, String> {
        let bad = |why: &str| format!("bad regex {}: {why}", quoted(text));
        if text.is_empty() {
            return Err(bad("empty (it would match no snapshot name)"));
        }
        Regex::new(text).map_err(|e| bad(&regex_error(&e)))?;
        // Valid alone but not inside the anchors: an `(?x)` comment swallowed the end.
        let full = Regex::new(&format!(r"\A(?:{text})\z")).map_err(|e| {
            bad(&format!(
                "cannot be anchored for a full match ({})",
                regex_error(&e)
            ))
        })?;
        Ok(NameMatch {
            text: text.to_string(),
            full,
        })
    }

    /// The regex as given.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the regex matches all of `short`.
    pub fn matches(&self, short: &str) -> bool {
        self.full.is_match(short)
    }
}

/// `text` in double quotes, as written (a regex's backslashes are not doubled) unless it holds
/// a quote or a control character: then Rust's escaped form.
fn quoted(text: &str) -> String {
    if text.contains(|c: char| c == '"' || c.is_control()) {
        format!("{text:?}")
    } else {
        format!("\"{text}\"")
    }
}

/// The regex crate's error in one line: the `error: ...` line of a syntax error (whose text
/// repeats the pattern over several lines), else the text with its lines joined.
fn regex_error(e: &regex::Error) -> String {
    let text = e.to_string();
    text.lines()
        .find_map(|l| l.trim().strip_prefix("error: "))
        .map(str::to_string)
        .unwrap_or_else(|| text.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// The listing and the plans, with the store's lock (real runs) held until dropped.
pub struct Planned {
    /// Every snapshot listed.
    pub listing: Vec<SnapshotInfo>,
    /// One plan per dataset that has snapshots, by dataset name: of the snapshots the policy
    /// owns (possibly none).
    pub plans: Vec<(String, RetentionPlan)>,
    /// The snapshots the policy does not own (listing order): never planned or destroyed.
    pub foreign: Vec<SnapshotFacts>,
    /// Warnings (`--all`; an interrupted rollback awaiting recovery, on a dry run).
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

    /// How many snapshots the plans keep (foreign ones not included).
    pub fn kept(&self) -> usize {
        self.plans.iter().map(|(_, p)| p.kept().count()).sum()
    }

    /// The foreign snapshots of dataset `ds`, oldest first.
    pub fn foreign_of<'a>(&'a self, ds: &'a str) -> impl Iterator<Item = &'a SnapshotFacts> {
        self.foreign
            .iter()
            .filter(move |f| f.name.split_once('@').is_some_and(|(d, _)| d == ds))
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
    let mut warnings: Vec<String> = o
        .ownership
        .warning(&o.dataset, o.recursive)
        .into_iter()
        .collect();
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

    let (plans, foreign) = plan_facts(o, listing.iter().map(|info| facts(o, info, &stashes)));
    Ok(Planned {
        listing,
        plans,
        foreign,
        warnings,
        _stashes: stashes,
    })
}

/// Sets the foreign snapshots apart and plans the owned ones, one dataset at a time. `all` is
/// in listing order (by dataset, then createtxg); every dataset in it gets a plan, even one
/// of no snapshot.
fn plan_facts(
    o: &Options,
    all: impl IntoIterator<Item = SnapshotFacts>,
) -> (Vec<(String, RetentionPlan)>, Vec<SnapshotFacts>) {
    let mut groups: BTreeMap<String, Vec<SnapshotFacts>> = BTreeMap::new();
    let mut foreign = Vec::new();
    for f in all {
        let ds = f.name.split_once('@').map_or("", |(d, _)| d).to_string();
        let owned = groups.entry(ds).or_default();
        if o.ownership.owns_name(&f.name) {
            owned.push(f);
        } else {
            foreign.push(f);
        }
    }
    let plans = groups
        .into_iter()
        .map(|(ds, f)| {
            let plan = o.policy.plan(&f, o.now, &o.tz);
            (ds, plan)
        })
        .collect();
    (plans, foreign)
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
    // Said loudly, before anything is listed, whatever the output format.
    let loud = o.ownership.warning(&o.dataset, o.recursive);
    if let Some(w) = &loud {
        eprintln!("{}: warning: {w}", o.program);
    }
    let planned = plan(o)?;

    if !o.json && (o.dry_run || o.verbose) {
        print_text_plan(o, &planned);
    } else if !o.json {
        for w in planned
            .warnings
            .iter()
            .filter(|w| Some(*w) != loud.as_ref())
        {
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
        let v = json_report(o, &planned, &applied.fates, tally);
        println!(
            "{}",
            serde_json::to_string_pretty(&v).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
        );
    } else {
        print_totals(o, &planned, tally);
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

/// The text totals: what a dry run would do, or what the run did.
fn print_totals(o: &Options, planned: &Planned, tally: &Tally) {
    let kept = planned.kept();
    let foreign = match planned.foreign.len() {
        0 => String::new(),
        n => format!(", kept {n} foreign"),
    };
    if o.dry_run {
        println!(
            "dry run: would destroy {}, keep {kept}{foreign} (of {} snapshots)",
            planned.doomed().len(),
            planned.listing.len()
        );
        return;
    }
    if tally.not_attempted > 0 {
        println!(
            "not attempted: {} snapshots (a batch failed as a whole)",
            tally.not_attempted
        );
    }
    println!(
        "destroyed {}, kept {kept}, skipped {}, failed {}{foreign} ({} lzc_destroy_snaps calls, batches of at most {})",
        tally.destroyed,
        tally.skipped,
        tally.failed + tally.not_attempted,
        tally.calls,
        o.batch
    );
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

/// Prints the plans as text (policy and ownership lines, warnings, one block per dataset with
/// the foreign snapshots among the planned ones, oldest first).
pub fn print_text_plan(s: &Options, planned: &Planned) {
    println!(
        "policy {} at {} (time zone {})",
        s.policy,
        rfc3339(s.now),
        s.tz_name
    );
    println!("owns {}", s.ownership);
    for w in &planned.warnings {
        println!("warning: {w}");
    }
    for (ds, plan) in &planned.plans {
        if planned.plans.len() > 1 {
            println!("== {ds}");
        }
        let foreign: Vec<&SnapshotFacts> = planned.foreign_of(ds).collect();
        print!("{}", plan_text(plan, &foreign));
    }
}

/// The plan's text with a `foreign NAME  [foreign (kept)]` line for each foreign snapshot,
/// in createtxg order. The plan's `Display` writes one line per entry, in entry order, then
/// its space line.
fn plan_text(plan: &RetentionPlan, foreign: &[&SnapshotFacts]) -> String {
    let text = plan.to_string();
    let mut lines = text.lines();
    let mut out = String::new();
    let mut fi = foreign.iter().peekable();
    let line = |f: &SnapshotFacts| format!("foreign {}  [{FOREIGN}]\n", f.name);
    for e in &plan.entries {
        while let Some(f) = fi.next_if(|f| f.createtxg < e.createtxg) {
            out.push_str(&line(f));
        }
        if let Some(l) = lines.next() {
            out.push_str(l);
            out.push('\n');
        }
    }
    for f in fi {
        out.push_str(&line(f));
    }
    for l in lines {
        out.push_str(l);
        out.push('\n');
    }
    out
}

/// RFC 3339 text of `t`.
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

/// The JSON report of [`JSON_HELP`].
pub fn json_report(
    s: &Options,
    planned: &Planned,
    fates: &HashMap<String, Fate>,
    t: &Tally,
) -> Value {
    let mut datasets = Vec::new();
    let mut entries = Vec::new();
    let (mut n, mut keep, mut destroy) = (0, 0, 0);
    for (ds, plan) in &planned.plans {
        let k = plan.kept().count();
        let d = plan.destroyed().count();
        let foreign: Vec<&SnapshotFacts> = planned.foreign_of(ds).collect();
        n += plan.entries.len() + foreign.len();
        keep += k;
        destroy += d;
        datasets.push(json!({
            "name": ds,
            "snapshots": plan.entries.len() + foreign.len(),
            "keep": k,
            "destroy": d,
            "foreign": foreign.len(),
            "space": plan.space.map(|sp| json!({
                "budget": sp.budget,
                "used_before": sp.used_before,
                "used_after": sp.used_after,
            })),
        }));
        // Oldest first: the foreign snapshots among the planned ones.
        let mut fi = foreign.into_iter().peekable();
        for e in &plan.entries {
            while let Some(f) = fi.next_if(|f| f.createtxg < e.createtxg) {
                entries.push(foreign_json(ds, f));
            }
            entries.push(entry_json(s, ds, plan, e, fates));
        }
        entries.extend(fi.map(|f| foreign_json(ds, f)));
    }
    let rules: Vec<String> = s.policy.rules().iter().map(|r| r.to_string()).collect();
    json!({
        "policy": s.policy.to_string(),
        "rules": rules,
        "now": rfc3339(s.now),
        "tz": s.tz_name,
        "dry_run": s.dry_run,
        "ownership": s.ownership.to_json(),
        "warnings": planned.warnings,
        "datasets": datasets,
        "entries": entries,
        "summary": {
            "snapshots": n,
            "keep": keep,
            "destroy": destroy,
            "foreign": planned.foreign.len(),
            "destroyed": t.destroyed,
            "skipped": t.skipped,
            "failed": t.failed,
            "not_attempted": t.not_attempted,
            "calls": t.calls,
        },
    })
}

/// One planned snapshot's entry of [`JSON_HELP`].
fn entry_json(
    s: &Options,
    ds: &str,
    plan: &RetentionPlan,
    e: &PlanEntry,
    fates: &HashMap<String, Fate>,
) -> Value {
    let (outcome, error) = match fates.get(&e.name) {
        None => (Value::Null, Value::Null),
        Some(Fate::Destroyed) => (json!("destroyed"), Value::Null),
        Some(Fate::NotAttempted) => (json!("not_attempted"), Value::Null),
        Some(Fate::Skipped(i)) => (json!("skipped"), error_json(i)),
        Some(Fate::Failed(i)) => (json!("failed"), error_json(i)),
    };
    json!({
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
    })
}

/// A foreign snapshot's entry of [`JSON_HELP`]: the same fields, `"decision": "foreign"`.
fn foreign_json(ds: &str, f: &SnapshotFacts) -> Value {
    json!({
        "name": f.name,
        "dataset": ds,
        "guid": f.guid.to_string(),
        "createtxg": f.createtxg,
        "creation": rfc3339(f.creation),
        "decision": "foreign",
        "reasons": [{"type": "foreign", "text": FOREIGN}],
        "expires": Value::Null,
        "outcome": Value::Null,
        "error": Value::Null,
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
        Reason::SpaceThinned {
            budget,
            oldest,
            gap_ppm,
            worst_ppm,
        } => json!({
            "type": "space_thinned",
            "budget": budget,
            "oldest": oldest,
            "gap": f64::from(*gap_ppm) / 1e6,
            "worst": f64::from(*worst_ppm) / 1e6,
            "text": text,
        }),
        _ => json!({"type": "other", "text": text}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DV1: &str = "dv-20261201T000000Z";
    const DV2: &str = "dv-20261201T010000Z";
    const DV3: &str = "dv-20261201T020000Z";
    const SYNCOID: &str = "syncoid_host_2026-12-01:00:00:00-GMT00:00";

    fn t(hours: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_795_996_800 + hours * 3600).unwrap()
    }

    fn options(policy: &str, ownership: Ownership) -> Options {
        let mut o = Options::new(
            "test",
            DatasetName::new("p/fs").unwrap(),
            policy.parse().unwrap(),
            TimeZone::UTC,
            "UTC".into(),
            t(48),
        );
        o.ownership = ownership;
        o
    }

    /// `p/fs@NAME` facts, createtxg = position, one hour apart.
    fn facts_of(shorts: &[&str]) -> Vec<SnapshotFacts> {
        shorts
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let i = i as u64 + 1;
                SnapshotFacts::new(format!("p/fs@{s}"), 1000 + i, 10 * i, t(i as i64))
            })
            .collect()
    }

    fn planned(o: &Options, shorts: &[&str]) -> Planned {
        let (plans, foreign) = plan_facts(o, facts_of(shorts));
        Planned {
            listing: Vec::new(),
            plans,
            foreign,
            warnings: o
                .ownership
                .warning(&o.dataset, o.recursive)
                .into_iter()
                .collect(),
            _stashes: Stashes {
                names: HashSet::new(),
                guids: HashSet::new(),
                _lock: None,
            },
        }
    }

    #[test]
    fn scheme_names_are_owned_by_default() {
        let o = Ownership::default();
        assert!(matches!(o, Ownership::Scheme));
        assert!(o.owns(DV1) && o.owns("dv-19991231T235959Z"));
        for foreign in [
            "before-upgrade",
            SYNCOID,
            "monday",
            "zrepl_20261201_000000_000",
            "autosnap_2026-12-01_00:00:00_hourly",
            "dv-",
            "dv-20261201T000000",
            "dv-20261301T000000Z",
            "dv-20261201T000000Z-extra",
            "",
        ] {
            assert!(!o.owns(foreign), "{foreign:?} owned");
        }
        assert!(o.owns_name(&format!("p/fs@{DV1}")) && !o.owns_name("p/fs@monday"));
        assert!(
            !o.owns_name("p/fs"),
            "a name without @ is no snapshot of the scheme"
        );
        assert_eq!(o.regex(), None);
    }

    #[test]
    fn match_widens_with_a_full_match() {
        let o = Ownership::matching(Some("s[0-9]+|before-.*")).unwrap();
        assert_eq!(o.regex(), Some("s[0-9]+|before-.*"));
        assert!(o.owns(DV1), "the scheme stays owned");
        assert!(o.owns("s1") && o.owns("s42") && o.owns("before-upgrade"));
        // Anchored at both ends, around the whole alternation.
        for no in ["xs1", "s1x", "s", "x-before-upgrade", "monday", SYNCOID] {
            assert!(!o.owns(no), "{no:?} owned");
        }
        let o = Ownership::matching(Some("syncoid_.*")).unwrap();
        assert!(o.owns(SYNCOID) && !o.owns("before-upgrade"));
        // A plain word matches only itself.
        let o = Ownership::matching(Some("monday")).unwrap();
        assert!(o.owns("monday") && !o.owns("mondays") && !o.owns("a-monday"));
        // `$` and `^` inside the regex change nothing.
        let o = Ownership::matching(Some("^a$")).unwrap();
        assert!(o.owns("a") && !o.owns("ab"));
        assert!(matches!(Ownership::matching(None), Ok(Ownership::Scheme)));
    }

    #[test]
    fn all_owns_everything_and_warns() {
        let o = Ownership::All;
        for s in [DV1, "before-upgrade", SYNCOID, "monday", ""] {
            assert!(o.owns(s), "{s:?}");
        }
        let ds = DatasetName::new("p/fs").unwrap();
        let w = o.warning(&ds, false).unwrap();
        assert!(
            w.contains("--all") && w.contains("every snapshot of p/fs"),
            "{w}"
        );
        assert!(o.warning(&ds, true).unwrap().contains("descendants"));
        assert!(Ownership::Scheme.warning(&ds, false).is_none());
        let v = o.to_json();
        assert!(v["all"] == true && v["match"].is_null(), "{v}");
    }

    #[test]
    fn bad_regex_is_one_line_naming_it() {
        for (re, why) in [
            ("(", "unclosed group"),
            ("syncoid_[", "unclosed character class"),
            ("*", "repetition operator missing expression"),
            ("", "empty"),
            ("(?x)a # a comment", "cannot be anchored"),
        ] {
            let e = NameMatch::new(re).err().unwrap();
            assert!(
                e.starts_with(&format!("bad regex \"{re}\": ")) && e.contains(why),
                "{re:?}: {e}"
            );
            assert!(!e.contains('\n'), "{re:?}: {e}");
        }
        // Backslashes are shown as written; a quote is escaped.
        let e = NameMatch::new(r"\d(").err().unwrap();
        assert!(e.starts_with(r#"bad regex "\d(""#), "{e}");
        let e = NameMatch::new("\"(").err().unwrap();
        assert!(e.starts_with(r#"bad regex "\"(""#), "{e}");
    }

    #[test]
    fn foreign_snapshots_are_not_planned_or_counted() {
        // min=1 keeps one snapshot; the newest of all is foreign, so the newest owned one is
        // what min=1 and the newest protection see.
        let o = options("min=1", Ownership::default());
        let p = planned(&o, &[DV1, "before-upgrade", DV2, SYNCOID, DV3, "monday"]);
        assert_eq!(p.plans.len(), 1);
        let plan = &p.plans[0].1;
        let names: Vec<&str> = plan.entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(
            names,
            [
                format!("p/fs@{DV1}"),
                format!("p/fs@{DV2}"),
                format!("p/fs@{DV3}")
            ]
        );
        let doomed: Vec<&str> = p.doomed().iter().map(|e| e.name.as_str()).collect();
        assert_eq!(doomed, [format!("p/fs@{DV1}"), format!("p/fs@{DV2}")]);
        assert_eq!(p.kept(), 1);
        let foreign: Vec<&str> = p.foreign.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            foreign,
            [
                "p/fs@before-upgrade".to_string(),
                format!("p/fs@{SYNCOID}"),
                "p/fs@monday".into()
            ]
        );
        assert_eq!(p.foreign_of("p/fs").count(), 3);
        assert_eq!(p.foreign_of("p/fs/child").count(), 0);
    }

    #[test]
    fn a_dataset_of_foreign_snapshots_only_gets_an_empty_plan() {
        let o = options("min=1", Ownership::default());
        let p = planned(&o, &["a", "b"]);
        assert_eq!(p.plans.len(), 1);
        assert!(p.plans[0].1.entries.is_empty());
        assert!(p.doomed().is_empty());
        assert_eq!(p.foreign.len(), 2);
    }

    #[test]
    fn all_plans_every_snapshot() {
        let o = options("min=1", Ownership::All);
        let p = planned(&o, &[DV1, "before-upgrade", SYNCOID, "monday"]);
        assert!(p.foreign.is_empty());
        let doomed: Vec<&str> = p.doomed().iter().map(|e| e.name.as_str()).collect();
        assert_eq!(
            doomed,
            [
                format!("p/fs@{DV1}"),
                "p/fs@before-upgrade".into(),
                format!("p/fs@{SYNCOID}")
            ]
        );
        assert!(p.warnings[0].contains("--all"), "{:?}", p.warnings);
    }

    #[test]
    fn json_reports_foreign_entries_in_order() {
        let o = options("min=1", Ownership::matching(Some("s[0-9]")).unwrap());
        let p = planned(&o, &["s1", "before-upgrade", "s2", DV1, "monday"]);
        let v = json_report(&o, &p, &HashMap::new(), &Tally::default());
        let entries = v["entries"].as_array().unwrap();
        let seen: Vec<(&str, &str)> = entries
            .iter()
            .map(|e| (e["name"].as_str().unwrap(), e["decision"].as_str().unwrap()))
            .collect();
        let dv1 = format!("p/fs@{DV1}");
        assert_eq!(
            seen,
            [
                ("p/fs@s1", "destroy"),
                ("p/fs@before-upgrade", "foreign"),
                ("p/fs@s2", "destroy"),
                (dv1.as_str(), "keep"),
                ("p/fs@monday", "foreign"),
            ]
        );
        let f = &entries[1];
        assert_eq!(
            f["reasons"],
            json!([{"type": "foreign", "text": "foreign (kept)"}])
        );
        assert_eq!(f["guid"], "1002");
        assert_eq!(f["createtxg"], 20);
        assert_eq!(f["dataset"], "p/fs");
        assert!(f["expires"].is_null() && f["outcome"].is_null() && f["error"].is_null());
        // The same fields as a planned entry.
        let keys = |e: &Value| e.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
        assert_eq!(keys(f), keys(&entries[0]));
        assert_eq!(v["summary"]["snapshots"], 5);
        assert_eq!(v["summary"]["foreign"], 2);
        assert_eq!(v["summary"]["keep"], 1);
        assert_eq!(v["summary"]["destroy"], 2);
        assert_eq!(v["datasets"][0]["foreign"], 2);
        assert_eq!(v["datasets"][0]["snapshots"], 5);
        assert_eq!(v["ownership"]["match"], "s[0-9]");
        assert_eq!(v["ownership"]["all"], false);
        assert!(v["warnings"].as_array().unwrap().is_empty());
    }

    #[test]
    fn text_plan_shows_foreign_lines_in_order() {
        let o = options("min=1", Ownership::default());
        let p = planned(&o, &["before-upgrade", DV1, "monday", DV2, SYNCOID]);
        let foreign: Vec<&SnapshotFacts> = p.foreign_of("p/fs").collect();
        let text = plan_text(&p.plans[0].1, &foreign);
        let heads: Vec<(&str, &str)> = text
            .lines()
            .map(|l| {
                let mut w = l.split_whitespace();
                (w.next().unwrap(), w.next().unwrap())
            })
            .collect();
        let (dv1, dv2) = (format!("p/fs@{DV1}"), format!("p/fs@{DV2}"));
        let sync = format!("p/fs@{SYNCOID}");
        assert_eq!(
            heads,
            [
                ("foreign", "p/fs@before-upgrade"),
                ("destroy", dv1.as_str()),
                ("foreign", "p/fs@monday"),
                ("keep", dv2.as_str()),
                ("foreign", sync.as_str()),
            ],
            "{text}"
        );
        assert!(
            text.contains("foreign p/fs@monday  [foreign (kept)]"),
            "{text}"
        );
    }
}
