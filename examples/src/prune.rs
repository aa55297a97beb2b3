//! The output of the prune workflow (`flocker_core::prune`), shared by the `prune` binary and
//! `datavault prune` / `list` / `run`: the text plan, the JSON report of [`JSON_HELP`], the
//! progress line on a terminal, and the error lines. The workflow itself (listing, ownership,
//! stash protection, the store's lock, the capped destroy batches) is the library's.
//!
//! [`run_cli`] is the whole `prune` command; [`plan`] and [`apply`] are its two halves (with
//! the progress line) for callers that print their own report.

use std::collections::HashMap;
use std::io::Write;
use std::ops::{Deref, DerefMut};

use flocker_core::error::{Error, ErrorKind, errno_name};
use flocker_core::name::{DatasetName, SnapshotName};
use flocker_core::prune::{self as workflow, Progress};
use flocker_core::retention::{
    ChangeSide, Decision, KeepReason, PlanEntry, Protection, Reason, RetentionPlan,
    RetentionPolicy, RuleMiss, SnapshotFacts, TimeZone,
};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

pub use flocker_core::prune::{
    ErrorInfo, FOREIGN, Fate, NameMatch, Ownership, Planned, Report, Row, Tally,
};

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

/// What to prune and how: the workflow's options ([`workflow::Options`], reached through
/// `Deref`) and the output's.
pub struct Options {
    /// Program name for progress lines and warnings (`prune`, `datavault`).
    pub program: &'static str,
    /// The time zone's name, for the output.
    pub tz_name: String,
    /// JSON output (no progress, no text).
    pub json: bool,
    /// Print the plan before applying it (text output).
    pub verbose: bool,
    /// The workflow's options.
    pub prune: workflow::Options,
}

impl Options {
    /// Options with the defaults of the `prune` binary: text output, and the workflow's
    /// defaults ([`workflow::Options::new`]).
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
            tz_name,
            json: false,
            verbose: false,
            prune: workflow::Options::new(dataset, policy, tz, now),
        }
    }
}

impl Deref for Options {
    type Target = workflow::Options;
    fn deref(&self) -> &workflow::Options {
        &self.prune
    }
}

impl DerefMut for Options {
    fn deref_mut(&mut self) -> &mut workflow::Options {
        &mut self.prune
    }
}

/// The one line a library error of the workflow stands for: its detail (the regex's
/// complaint of `--match`), else its text.
pub fn error_line(e: &Error) -> String {
    e.detail().map_or_else(|| e.to_string(), str::to_string)
}

/// The error lines of a failed [`workflow::plan`], by its step: bad input (pin properties)
/// is a usage error; the others say what could not be done, and that nothing changed.
pub fn failure(e: &Error) -> Failure {
    let detail = error_line(e);
    let name = e.name().unwrap_or_default();
    let store = |what: &str| {
        Failure::Other(format!(
            "{what} the stash store {name}: {detail}; nothing changed"
        ))
    };
    match e.operation() {
        workflow::OP_PROPERTIES => Failure::Usage(detail),
        workflow::OP_LIST => {
            Failure::Other(format!("cannot list the snapshots of {name}: {detail}"))
        }
        workflow::OP_STORE_OPEN => store("cannot open"),
        workflow::OP_STORE_LOCK => store("cannot lock"),
        workflow::OP_STORE_JOURNALS => store("cannot read the journals of"),
        workflow::OP_STORE_READ => store("cannot read"),
        workflow::OP_RECOVERY => Failure::Other(format!("{detail}; nothing changed")),
        _ => Failure::Other(e.to_string()),
    }
}

/// A one-line, overwritten progress report on a terminal (`prune: listing snapshots: 4000
/// so far`, `prune: destroyed 100 of 250 (0 skipped, 0 failed)`), cleared before any other
/// output.
struct ProgressLine {
    on: bool,
    dirty: bool,
    program: &'static str,
}

impl ProgressLine {
    fn new(o: &Options) -> Self {
        ProgressLine {
            on: crate::show_progress(o.json),
            dirty: false,
            program: o.program,
        }
    }

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

    /// Shows or clears the line for `p`; a skipped or failed snapshot goes to `report`.
    fn hear(&mut self, p: &Progress, report: &mut impl FnMut(&SnapshotName, &Fate)) {
        match p {
            Progress::Listing(l) => {
                self.show(&format!("listing {}: {} so far", l.listing, l.items))
            }
            Progress::Item { name, fate } => {
                self.clear();
                report(name, fate);
            }
            Progress::Batch {
                destroyed,
                skipped,
                failed,
                total,
                ..
            } => self.show(&format!(
                "destroyed {destroyed} of {total} ({skipped} skipped, {failed} failed)"
            )),
            _ => self.clear(),
        }
    }
}

/// Reads the stash records (a real run takes the store's lock), lists the snapshots and plans
/// each dataset, with a progress line on a terminal. Changes nothing.
pub fn plan(o: &Options) -> Result<Planned, Failure> {
    let mut line = ProgressLine::new(o);
    workflow::plan(o, |p| line.hear(p, &mut |_, _| {})).map_err(|e| failure(&e))
}

/// Destroys what `planned` destroys (nothing on a dry run), oldest first, in batches;
/// `report` hears of each snapshot skipped or failed. A progress line is shown on a terminal
/// (never with `json`).
pub fn apply(
    o: &Options,
    planned: &Planned,
    mut report: impl FnMut(&SnapshotName, &Fate),
) -> Report {
    let mut line = ProgressLine::new(o);
    workflow::apply(o, planned, |p| line.hear(p, &mut report))
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
            _ => {}
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
        print!("{}", plan_text(plan, &planned.rows_of(ds)));
    }
}

/// The plan's text with a `foreign NAME  [foreign (kept)]` line for each foreign snapshot,
/// in the order of `rows` ([`Planned::rows_of`]). The plan's `Display` writes one line per
/// entry, in entry order, then its space line.
fn plan_text(plan: &RetentionPlan, rows: &[Row]) -> String {
    let text = plan.to_string();
    let mut lines = text.lines();
    let mut out = String::new();
    for row in rows {
        match row {
            Row::Foreign(f) => out.push_str(&format!("foreign {}  [{FOREIGN}]\n", f.name())),
            _ => {
                if let Some(l) = lines.next() {
                    out.push_str(l);
                    out.push('\n');
                }
            }
        }
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
    fates: &HashMap<SnapshotName, Fate>,
    t: &Tally,
) -> Value {
    let mut datasets = Vec::new();
    let mut entries = Vec::new();
    let (mut n, mut keep, mut destroy) = (0, 0, 0);
    for (ds, plan) in &planned.plans {
        let k = plan.kept().count();
        let d = plan.destroyed().count();
        let rows = planned.rows_of(ds);
        let foreign = rows.len() - plan.entries.len();
        n += rows.len();
        keep += k;
        destroy += d;
        datasets.push(json!({
            "name": ds.as_str(),
            "snapshots": rows.len(),
            "keep": k,
            "destroy": d,
            "foreign": foreign,
            "space": plan.space.map(|sp| json!({
                "budget": sp.budget,
                "used_before": sp.used_before,
                "used_after": sp.used_after,
            })),
        }));
        // Oldest first: the foreign snapshots among the planned ones.
        entries.extend(rows.iter().map(|row| match row {
            Row::Planned(e) => entry_json(s, ds, plan, e, fates),
            Row::Foreign(f) => foreign_json(ds, f),
            _ => Value::Null,
        }));
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
    ds: &DatasetName,
    plan: &RetentionPlan,
    e: &PlanEntry,
    fates: &HashMap<SnapshotName, Fate>,
) -> Value {
    let (outcome, error) = match fates.get(&e.name) {
        None => (Value::Null, Value::Null),
        Some(Fate::Destroyed) => (json!("destroyed"), Value::Null),
        Some(Fate::NotAttempted) => (json!("not_attempted"), Value::Null),
        Some(Fate::Skipped(i)) => (json!("skipped"), error_json(i)),
        Some(Fate::Failed(i)) => (json!("failed"), error_json(i)),
        Some(_) => (json!("other"), Value::Null),
    };
    json!({
        "name": e.name.as_str(),
        "dataset": ds.as_str(),
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
fn foreign_json(ds: &DatasetName, f: &SnapshotFacts) -> Value {
    json!({
        "name": f.name().as_str(),
        "dataset": ds.as_str(),
        "guid": f.guid().to_string(),
        "createtxg": f.createtxg(),
        "creation": rfc3339(f.creation()),
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

/// One reason of an entry of [`JSON_HELP`].
fn reason_json(plan: &RetentionPlan, s: &Options, r: &Reason) -> Value {
    let text = plan.describe(r);
    match r {
        Reason::Protected(p) => protected_json(p, text),
        Reason::Kept(k) => kept_json(plan, s, k, text),
        Reason::Missed(m) => missed_json(plan, s, m, text),
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

/// A `protected` reason.
fn protected_json(p: &Protection, text: String) -> Value {
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

/// A `kept` reason.
fn kept_json(plan: &RetentionPlan, s: &Options, k: &KeepReason, text: String) -> Value {
    let rule = |i: &usize| plan.rules.get(*i).cloned();
    let until = |u: &Option<OffsetDateTime>| u.map(rfc3339);
    match k {
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
    }
}

/// A `missed` reason.
fn missed_json(plan: &RetentionPlan, s: &Options, m: &RuleMiss, text: String) -> Value {
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
        Some(i) => plan.rules.get(i).cloned(),
        None if why == "beyond_minimum" => Some(format!("min={}", s.policy.min_count())),
        None => None,
    };
    json!({"type": "missed", "rule": rule_text, "rule_index": i, "why": why, "text": text})
}

#[cfg(test)]
mod tests {
    use super::*;

    const DV1: &str = "dv-20261201T000000Z";
    const DV2: &str = "dv-20261201T010000Z";
    const SYNCOID: &str = "syncoid_host_2026-12-01:00:00:00-GMT00:00";

    fn t(hours: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_795_996_800 + hours * 3600).unwrap()
    }

    /// The plans of `p/fs@NAME` for each short name (createtxg 10 × position, one hour
    /// apart, GUID 1000 + position) with `policy` and `ownership` at hour 48.
    fn planned_with(policy: &str, ownership: Ownership, shorts: &[&str]) -> (Options, Planned) {
        let fs = DatasetName::new("p/fs").unwrap();
        let mut o = Options::new(
            "test",
            fs.clone(),
            policy.parse().unwrap(),
            TimeZone::UTC,
            "UTC".into(),
            t(48),
        );
        o.ownership = ownership;
        let mut facts = Vec::new();
        for (n, short) in (1u64..).zip(shorts) {
            let name = SnapshotName::new(format!("p/fs@{short}")).unwrap();
            facts.push((
                fs.clone(),
                SnapshotFacts::new(name, 1000 + n, 10 * n, t(n as i64)),
            ));
        }
        let planned = workflow::plan_facts(&o, facts);
        (o, planned)
    }

    #[test]
    fn json_reports_foreign_entries_in_order() {
        let own = Ownership::matching(Some("s[0-9]")).unwrap();
        let (o, p) = planned_with("min=1", own, &["s1", "before-upgrade", "s2", DV1, "monday"]);
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
        let shorts = ["before-upgrade", DV1, "monday", DV2, SYNCOID];
        let (_, p) = planned_with("min=1", Ownership::default(), &shorts);
        let text = plan_text(&p.plans[0].1, &p.rows_of(&p.plans[0].0));
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
