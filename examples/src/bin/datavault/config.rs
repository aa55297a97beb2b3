//! The service's configuration file (TOML), e.g. `examples/datavault.toml`:
//!
//! ```toml
//! every = "1h"              # default interval between snapshots (s, m/min, h, d, w)
//! # at = "03:00"            # or: wall-clock times in `tz` ("03:00,15:30"); not with every
//! tz = "UTC"                # time zone of the calendar rules and of `at` (default: the system's)
//! skip_empty = true         # no snapshot of a dataset nothing was written to (default false)
//! store = "/var/lib/flocker-core"   # the stash store (FLOCKER_STORE overrides it)
//! batch = 100               # at most this many snapshots per destroy call
//! match = "autosnap_.*"     # optional: the default `match` of every dataset
//! pre_snapshot = "..."      # optional: a command run before each snapshot (hooks.rs)
//! post_snapshot = "..."     # optional: a command run after each snapshot (hooks.rs)
//! hook_timeout = "60s"      # optional: a hook running longer is killed (default 60s)
//! hook_failure = "skip"     # optional: "skip" (default) or "continue" after a failed pre hook
//!
//! [[dataset]]
//! name = "tank/home"
//! keep = "24x1h,30x1d,12x1mo,min=3"   # flocker_core::retention's rule language
//! every = "15m"             # optional: this dataset's interval (or `at`)
//! skip_empty = false        # optional: this dataset's skip_empty
//! recursive = false         # optional: also its descendants (one atomic snapshot)
//! match = "auto-.*"         # optional: this dataset's `match` (replaces the default)
//! pre_snapshot = "..."      # optional: this dataset's hooks (replace the top-level ones)
//! post_snapshot = "..."
//! ```
//!
//! A dataset's policy owns (plans, counts, may destroy) the snapshots DataVault made, named
//! `dv-YYYYMMDDTHHMMSSZ`, and those whose short name (after the `@`) its `match` regex
//! matches in full (anchored at both ends); every other snapshot is foreign and kept
//! ([`flocker_examples::prune::Ownership`]).
//!
//! The rules (what a dataset inherits from the top of the file, the bounds of `batch`, which
//! entry governs a dataset) are the library's ([`flocker_core::vault::service::Defaults`],
//! [`Settings`], [`spec_for`]); this file parses the TOML and names the file, the line and the
//! field in every error.

use std::ops::Deref;
use std::path::Path;
use std::time::Duration;

use flocker_core::name::DatasetName;
use flocker_core::retention::TimeZone;
use flocker_core::vault::service::{self as engine, Settings, Spec, spec_for};
use flocker_examples::prune::{Ownership, error_line};
use serde::Deserialize;
use toml::Spanned;

use crate::common::{Failure, parse_policy, parse_tz, store_dir};
use crate::hooks::{self, HookConfig, Hooks};
use crate::schedule::{Schedule, parse_at};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    every: Option<Spanned<String>>,
    at: Option<Spanned<String>>,
    tz: Option<Spanned<String>>,
    store: Option<String>,
    skip_empty: Option<bool>,
    batch: Option<Spanned<i64>>,
    #[serde(rename = "match")]
    matching: Option<Spanned<String>>,
    #[serde(default)]
    dataset: Vec<Spanned<RawDataset>>,
    // Hooks (hooks.rs).
    pre_snapshot: Option<Spanned<String>>,
    post_snapshot: Option<Spanned<String>>,
    hook_timeout: Option<Spanned<String>>,
    hook_failure: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDataset {
    name: Spanned<String>,
    keep: Spanned<String>,
    every: Option<Spanned<String>>,
    at: Option<Spanned<String>>,
    skip_empty: Option<bool>,
    #[serde(default)]
    recursive: bool,
    #[serde(rename = "match")]
    matching: Option<Spanned<String>>,
    // Hooks (hooks.rs).
    pre_snapshot: Option<Spanned<String>>,
    post_snapshot: Option<Spanned<String>>,
}

/// One dataset the service keeps: the library's [`Spec`] (its name, policy, schedule,
/// `skip_empty`, `recursive` and ownership, read through `Deref`), where it is in the file,
/// and its hooks.
#[derive(Clone)]
pub struct DatasetConfig {
    /// What the engine runs for it (the top-level defaults where the entry says nothing).
    pub spec: Spec,
    /// The line of its `name` (for messages).
    pub line: usize,
    /// Its hook commands (its own, else the top-level ones).
    pub hooks: Hooks,
}

impl Deref for DatasetConfig {
    type Target = Spec;

    fn deref(&self) -> &Spec {
        &self.spec
    }
}

/// A validated configuration.
pub struct Config {
    /// The file it came from.
    pub path: String,
    /// Time zone of the calendar rules.
    pub tz: TimeZone,
    /// Its name.
    pub tz_name: String,
    /// The stash store directory, if set.
    pub store: Option<String>,
    /// Destroy batch cap.
    pub batch: usize,
    /// What a policy owns when its dataset sets no `match` (the top-level `match`).
    pub ownership: Ownership,
    /// The datasets.
    pub datasets: Vec<DatasetConfig>,
    /// The hook settings (`pre_snapshot`, `post_snapshot`, `hook_timeout`, `hook_failure`).
    pub hooks: HookConfig,
}

impl Config {
    /// The entry for `ds`: its own, else that of a recursive ancestor ([`spec_for`]).
    pub fn for_dataset(&self, ds: &str) -> Option<&DatasetConfig> {
        spec_for(self.datasets.iter().map(|d| &d.spec), ds).and_then(|i| self.datasets.get(i))
    }

    /// The engine's specs, one per entry, in the file's order.
    pub fn specs(&self) -> Vec<Spec> {
        self.datasets.iter().map(|d| d.spec.clone()).collect()
    }

    /// What the engine's datasets share: the time zone, the batch and the store
    /// (`FLOCKER_STORE` overrides the file's).
    pub fn settings(&self) -> Settings {
        let mut s = Settings::new(self.tz.clone()).with_store(store_dir(self.store.as_deref()));
        s.batch = self.batch;
        s
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset.min(text.len()))
        .map_or(1, |s| s.bytes().filter(|&b| b == b'\n').count() + 1)
}

/// Parses an interval: a whole number and a unit (`s`, `m` or `min`, `h`, `d`, `w`), e.g.
/// `15m`, `1h`, `30s`; at least one second.
pub fn parse_interval(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("bad interval {s:?} (expected e.g. 15m, 1h, 1d)"))?;
    let mult = match unit.trim() {
        "s" => 1,
        "m" | "min" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => {
            return Err(format!(
                "bad interval {s:?}: unit must be s, m (or min), h, d or w"
            ));
        }
    };
    match n.checked_mul(mult) {
        Some(0) => Err(format!("bad interval {s:?}: must be at least 1s")),
        Some(secs) if secs <= 100 * 365 * 86_400 => Ok(Duration::from_secs(secs)),
        _ => Err(format!("bad interval {s:?}: too long")),
    }
}

/// Reads and validates the file at `path`. Datasets are checked for their names here; their
/// existence is checked by the commands that use them.
pub fn load(path: &str) -> Result<Config, Failure> {
    let text = std::fs::read_to_string(Path::new(path))
        .map_err(|e| Failure::Invalid(format!("cannot read config {path}: {e}")))?;
    parse(path, &text)
}

/// Validates `text` (the contents of `path`).
pub fn parse(path: &str, text: &str) -> Result<Config, Failure> {
    let at = |offset: usize, field: &str, msg: String| {
        Failure::Invalid(format!(
            "config {path} line {} ({field}): {msg}",
            line_of(text, offset)
        ))
    };
    let raw: RawConfig = toml::from_str(text).map_err(|e| {
        let line = e.span().map_or(0, |s| line_of(text, s.start));
        let msg = e.message().trim().replace('\n', "; ");
        Failure::Invalid(format!("config {path} line {line}: {msg}"))
    })?;
    let (tz, tz_name) = match &raw.tz {
        Some(z) => parse_tz(Some(z.get_ref())).map_err(|m| at(z.span().start, "tz", m))?,
        None => parse_tz(None).map_err(|m| Failure::Invalid(format!("config {path}: {m}")))?,
    };
    // In the order of before: the first error in it is the one reported.
    let mut defaults = engine::Defaults::new();
    if let Some(s) = schedule_of(&raw.every, &raw.at, "", &tz, &at)? {
        defaults.schedule = s;
    }
    let batch = batch_of(&raw.batch, &tz, &at)?;
    if let Some(m) = &raw.matching {
        defaults.ownership = parse_match(m).map_err(|msg| at(m.span().start, "match", msg))?;
    }
    if let Some(b) = raw.skip_empty {
        defaults.skip_empty = b;
    }
    let defaults = Defaults {
        spec: defaults,
        hooks: top_hooks(&raw, &at)?,
    };
    if raw.dataset.is_empty() {
        return Err(Failure::Invalid(format!(
            "config {path}: no [[dataset]] entry (each needs name and keep)"
        )));
    }
    let mut datasets: Vec<DatasetConfig> = Vec::new();
    for (i, d) in raw.dataset.iter().enumerate() {
        let entry = dataset_of(i, d.get_ref(), &datasets, &defaults, text, &tz, &at)?;
        datasets.push(entry);
    }
    Ok(Config {
        path: path.to_string(),
        tz,
        tz_name,
        store: raw.store,
        batch,
        ownership: defaults.spec.ownership,
        datasets,
        hooks: defaults.hooks,
    })
}

/// What a `[[dataset]]` entry takes from the top of the file unless it says otherwise: the
/// library's defaults, and the hooks.
struct Defaults {
    spec: engine::Defaults,
    hooks: HookConfig,
}

/// The schedule `every` or `at` (of the top, `prefix` "", or of an entry) says, if any.
fn schedule_of(
    every: &Option<Spanned<String>>,
    at_time: &Option<Spanned<String>>,
    prefix: &str,
    tz: &TimeZone,
    at: &At<'_>,
) -> Result<Option<Schedule>, Failure> {
    match (every, at_time) {
        (Some(_), Some(a)) => Err(at(
            a.span().start,
            &format!("{prefix}at"),
            format!("give either every or at, not both (at {:?})", a.get_ref()),
        )),
        (Some(e), None) => parse_interval(e.get_ref())
            .map(|d| Some(Schedule::every(d)))
            .map_err(|m| at(e.span().start, &format!("{prefix}every"), m)),
        (None, Some(a)) => parse_at(a.get_ref(), tz)
            .map(Some)
            .map_err(|m| at(a.span().start, &format!("{prefix}at"), m)),
        (None, None) => Ok(None),
    }
}

/// `batch`: snapshots per destroy call, within the library's bounds ([`Settings::with_batch`]).
fn batch_of(batch: &Option<Spanned<i64>>, tz: &TimeZone, at: &At<'_>) -> Result<usize, Failure> {
    let s = Settings::new(tz.clone());
    match batch {
        None => Ok(s.batch),
        Some(b) => s
            .with_batch(*b.get_ref())
            .map(|s| s.batch)
            .map_err(|e| at(b.span().start, "batch", error_line(&e))),
    }
}

/// The `i`-th `[[dataset]]` entry `d`, validated (`before`: the entries read so far).
fn dataset_of(
    i: usize,
    d: &RawDataset,
    before: &[DatasetConfig],
    defaults: &Defaults,
    text: &str,
    tz: &TimeZone,
    at: &At<'_>,
) -> Result<DatasetConfig, Failure> {
    let field = |f: &str| format!("dataset[{i}].{f}");
    let name = DatasetName::new(d.name.get_ref()).map_err(|e| {
        at(
            d.name.span().start,
            &field("name"),
            format!("bad dataset name {:?}: {e}", d.name.get_ref()),
        )
    })?;
    if let Some(prev) = before.iter().find(|p| p.name == name) {
        return Err(at(
            d.name.span().start,
            &field("name"),
            format!("{name} is listed twice (first at line {})", prev.line),
        ));
    }
    let policy =
        parse_policy(d.keep.get_ref()).map_err(|m| at(d.keep.span().start, &field("keep"), m))?;
    // The library's defaults, then what the entry says (its own value replaces the default).
    let mut spec = defaults.spec.spec(name, policy);
    if let Some(s) = schedule_of(&d.every, &d.at, &format!("dataset[{i}]."), tz, at)? {
        spec.schedule = s;
    }
    if let Some(m) = &d.matching {
        spec.ownership = parse_match(m).map_err(|msg| at(m.span().start, &field("match"), msg))?;
    }
    if let Some(b) = d.skip_empty {
        spec.skip_empty = b;
    }
    spec.recursive = d.recursive;
    Ok(DatasetConfig {
        spec,
        line: line_of(text, d.name.span().start),
        hooks: dataset_hooks(d, &defaults.hooks.hooks, &field, at)?,
    })
}

/// What the policy of a dataset owns for `list` and `prune`: `--match REGEX` (`cli`), else
/// the dataset's entry, else the file's default `match`, else DataVault's snapshots only.
pub fn ownership(
    cli: Option<&str>,
    cfg: Option<&Config>,
    entry: Option<&DatasetConfig>,
) -> Result<Ownership, Failure> {
    match (cli, entry, cfg) {
        (Some(m), _, _) => Ownership::matching(Some(m))
            .map_err(|e| Failure::Invalid(format!("--match: {}", error_line(&e)))),
        (None, Some(e), _) => Ok(e.ownership.clone()),
        (None, None, Some(c)) => Ok(c.ownership.clone()),
        (None, None, None) => Ok(Ownership::default()),
    }
}

fn parse_match(m: &Spanned<String>) -> Result<Ownership, String> {
    Ownership::matching(Some(m.get_ref())).map_err(|e| error_line(&e))
}

// Hooks (hooks.rs): the top-level keys and each dataset's own commands.

type At<'a> = dyn Fn(usize, &str, String) -> Failure + 'a;

fn hook_command(
    v: &Option<Spanned<String>>,
    field: &str,
    at: &At<'_>,
) -> Result<Option<String>, Failure> {
    v.as_ref()
        .map(|c| hooks::check_command(c.get_ref()).map_err(|m| at(c.span().start, field, m)))
        .transpose()
}

fn top_hooks(raw: &RawConfig, at: &At<'_>) -> Result<HookConfig, Failure> {
    let mut h = HookConfig::default();
    h.hooks.pre = hook_command(&raw.pre_snapshot, "pre_snapshot", at)?;
    h.hooks.post = hook_command(&raw.post_snapshot, "post_snapshot", at)?;
    if let Some(t) = &raw.hook_timeout {
        h.timeout =
            parse_interval(t.get_ref()).map_err(|m| at(t.span().start, "hook_timeout", m))?;
    }
    if let Some(f) = &raw.hook_failure {
        h.on_failure = f.get_ref().parse().map_err(|e: flocker_core::Error| {
            at(
                f.span().start,
                "hook_failure",
                e.detail().unwrap_or_default().to_string(),
            )
        })?;
    }
    Ok(h)
}

fn dataset_hooks(
    d: &RawDataset,
    top: &Hooks,
    field: &dyn Fn(&str) -> String,
    at: &At<'_>,
) -> Result<Hooks, Failure> {
    let own = Hooks {
        pre: hook_command(&d.pre_snapshot, &field("pre_snapshot"), at)?,
        post: hook_command(&d.post_snapshot, &field("post_snapshot"), at)?,
    };
    Ok(own.or(top))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        match parse("c.toml", text) {
            Err(Failure::Invalid(m)) => m,
            Ok(_) => panic!("accepted: {text}"),
            Err(_) => panic!("wrong failure kind"),
        }
    }

    #[test]
    fn good_config() {
        let c = parse(
            "c.toml",
            "every = \"15m\"\ntz = \"UTC\"\n[[dataset]]\nname = \"p/a\"\nkeep = \"24x1h,min=2\"\n[[dataset]]\nname = \"p/b\"\nkeep = \"7x1d\"\nevery = \"1d\"\nrecursive = true\n",
        )
        .ok()
        .unwrap();
        assert_eq!(c.datasets.len(), 2);
        assert!(c.datasets[0].schedule.interval() == Some(Duration::from_secs(900)));
        assert!(c.datasets[1].schedule.interval() == Some(Duration::from_secs(86_400)));
        assert!(!c.datasets[0].skip_empty);
        assert!(
            c.for_dataset("p/b/c")
                .is_some_and(|d| d.name.as_str() == "p/b")
        );
        assert!(c.for_dataset("p/a/c").is_none());
    }

    #[test]
    fn errors_name_line_and_field() {
        let m = err("[[dataset]]\nname = \"p/a\"\nkeep = \"24x1q\"\n");
        assert!(m.contains("line 3") && m.contains("dataset[0].keep"), "{m}");
        let m = err("[[dataset]]\nname = \"p/a\"\nkeep = \"min=1\"\nevery = \"5x\"\n");
        assert!(
            m.contains("line 4") && m.contains("dataset[0].every"),
            "{m}"
        );
        let m = err("[[dataset]]\nname = \"p/a\"\nkeep = \"min=3\"\nkepp = 1\n");
        assert!(m.contains("line 4") && m.contains("kepp"), "{m}");
        let m = err("[[dataset]]\nname = \"p/a\"\n");
        assert!(m.contains("keep"), "{m}");
        let m = err("[[dataset]]\nname = \"p/a\"\nkeep = \"min=3,space=0\"\n");
        assert!(m.contains("keep nothing"), "{m}");
        let m = err("every = 5\n");
        assert!(m.contains("line 1"), "{m}");
        assert!(!err("x = [").contains('\n'));
    }

    #[test]
    fn match_default_and_per_dataset() {
        let c = parse(
            "c.toml",
            "match = \"auto-.*\"\n[[dataset]]\nname = \"p/a\"\nkeep = \"min=1\"\n[[dataset]]\nname = \"p/b\"\nkeep = \"min=1\"\nmatch = \"before-upgrade|syncoid_.*\"\n[[dataset]]\nname = \"p/c\"\nkeep = \"min=1\"\n",
        )
        .ok()
        .unwrap();
        let (a, b) = (&c.datasets[0].ownership, &c.datasets[1].ownership);
        assert_eq!(c.ownership.regex(), Some("auto-.*"));
        assert_eq!(a.regex(), Some("auto-.*"));
        assert!(a.owns("auto-1") && a.owns("dv-20261125T181500Z") && !a.owns("before-upgrade"));
        // A dataset's own `match` replaces the default (it is not added to it).
        assert!(b.owns("before-upgrade") && b.owns("syncoid_h_2026") && !b.owns("auto-1"));
        assert!(b.owns("dv-20261125T181500Z"));
        assert!(!b.owns("x-before-upgrade"), "a full match");

        // No `match` anywhere: DataVault's snapshots only.
        let c = parse("c.toml", "[[dataset]]\nname = \"p/a\"\nkeep = \"min=1\"\n")
            .ok()
            .unwrap();
        let own = &c.datasets[0].ownership;
        assert!(own.regex().is_none() && own.owns("dv-20261125T181500Z"));
        for foreign in ["monday", "before-upgrade", "dv-2026", "dv-20261125T181500"] {
            assert!(!own.owns(foreign), "{foreign}");
        }
    }

    #[test]
    fn the_sample_config_parses() {
        let c = parse("datavault.toml", include_str!("../../../datavault.toml"))
            .ok()
            .unwrap();
        let db = c.for_dataset("tank/db").unwrap();
        assert_eq!(db.ownership.regex(), Some("pre-migration-.*"));
        assert!(db.ownership.owns("pre-migration-1") && !db.ownership.owns("before-upgrade"));
        let home = c.for_dataset("tank/home").unwrap();
        assert!(home.ownership.regex().is_none());
    }

    #[test]
    fn bad_match_names_line_key_and_regex() {
        let m = err("[[dataset]]\nname = \"p/a\"\nkeep = \"min=1\"\nmatch = \"syncoid_(\"\n");
        assert!(
            m.contains("line 4")
                && m.contains("dataset[0].match")
                && m.contains("bad regex \"syncoid_(\"")
                && m.contains("unclosed group"),
            "{m}"
        );
        assert!(!m.contains('\n'), "{m}");
        let m = err("match = \"*\"\n[[dataset]]\nname = \"p/a\"\nkeep = \"min=1\"\n");
        assert!(
            m.contains("line 1 (match)") && m.contains("bad regex \"*\""),
            "{m}"
        );
        let m = err("[[dataset]]\nname = \"p/a\"\nkeep = \"min=1\"\nmatch = \"\"\n");
        assert!(m.contains("dataset[0].match") && m.contains("empty"), "{m}");
        let m = err("[[dataset]]\nname = \"p/a\"\nkeep = \"min=1\"\nmatch = 3\n");
        assert!(m.contains("line 4"), "{m}");
    }

    #[test]
    fn at_and_skip_empty() {
        let c = parse(
            "c.toml",
            "at = \"03:00\"\ntz = \"Europe/Berlin\"\nskip_empty = true\n[[dataset]]\nname = \"p/a\"\nkeep = \"min=1\"\n[[dataset]]\nname = \"p/b\"\nkeep = \"min=1\"\nevery = \"15m\"\nskip_empty = false\n",
        )
        .ok()
        .unwrap();
        let a = &c.datasets[0];
        assert!(a.skip_empty && !c.datasets[1].skip_empty);
        match a.schedule.time_zone() {
            Some(tz) => assert_eq!(tz.iana_name(), Some("Europe/Berlin")),
            None => panic!("{:?}", a.schedule),
        }
        assert!(c.datasets[1].schedule.interval().is_some());
        let m =
            err("[[dataset]]\nname = \"p/a\"\nkeep = \"min=1\"\nevery = \"1h\"\nat = \"03:00\"\n");
        assert!(
            m.contains("line 5") && m.contains("dataset[0].at") && m.contains("not both"),
            "{m}"
        );
        let m = err("at = \"3am\"\n[[dataset]]\nname = \"p/a\"\nkeep = \"min=1\"\n");
        assert!(m.contains("line 1 (at)") && m.contains("HH:MM"), "{m}");
        let m = err("skip_empty = \"yes\"\n[[dataset]]\nname = \"p/a\"\nkeep = \"min=1\"\n");
        assert!(m.contains("line 1"), "{m}");
    }

    #[test]
    fn hooks_top_level_and_per_dataset() {
        let c = parse(
            "c.toml",
            "pre_snapshot = \"sync\"\npost_snapshot = \"logger done\"\nhook_timeout = \"2m\"\nhook_failure = \"continue\"\n[[dataset]]\nname = \"p/a\"\nkeep = \"min=1\"\n[[dataset]]\nname = \"p/b\"\nkeep = \"min=1\"\npre_snapshot = \"freeze-db\"\n",
        )
        .ok()
        .unwrap();
        assert_eq!(c.hooks.timeout, Duration::from_secs(120));
        assert_eq!(c.hooks.on_failure, hooks::OnFailure::Continue);
        let (a, b) = (&c.datasets[0].hooks, &c.datasets[1].hooks);
        assert_eq!(a.pre.as_deref(), Some("sync"));
        assert_eq!(
            b.pre.as_deref(),
            Some("freeze-db"),
            "its own replaces the default"
        );
        assert_eq!(b.post.as_deref(), Some("logger done"));

        // No hook keys: none, 60 s, skip.
        let c = parse("c.toml", "[[dataset]]\nname = \"p/a\"\nkeep = \"min=1\"\n")
            .ok()
            .unwrap();
        assert_eq!(c.hooks, HookConfig::default());
        assert_eq!(c.hooks.timeout, Duration::from_secs(60));
        assert_eq!(c.hooks.on_failure, hooks::OnFailure::Skip);
        assert_eq!(c.datasets[0].hooks, Hooks::default());
    }

    #[test]
    fn bad_hooks_name_file_line_and_field() {
        let ds = "[[dataset]]\nname = \"p/a\"\nkeep = \"min=1\"\n";
        let m = err(&format!("hook_failure = \"abort\"\n{ds}"));
        assert!(
            m.contains("c.toml line 1 (hook_failure)") && m.contains("\"abort\""),
            "{m}"
        );
        let m = err(&format!("every = \"1h\"\nhook_timeout = \"0s\"\n{ds}"));
        assert!(m.contains("c.toml line 2 (hook_timeout)"), "{m}");
        let m = err(&format!("pre_snapshot = \" \"\n{ds}"));
        assert!(
            m.contains("line 1 (pre_snapshot)") && m.contains("empty"),
            "{m}"
        );
        let m = err(&format!("{ds}post_snapshot = \"\"\n"));
        assert!(m.contains("line 4 (dataset[0].post_snapshot)"), "{m}");
        let m = err(&format!("{ds}hook_timeout = \"1m\"\n"));
        assert!(m.contains("line 4") && m.contains("hook_timeout"), "{m}");
        let m = err(&format!("pre_snapshot = 3\n{ds}"));
        assert!(m.contains("line 1"), "{m}");
    }

    #[test]
    fn intervals() {
        assert_eq!(parse_interval("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_interval("2min"), Ok(Duration::from_secs(120)));
        assert!(parse_interval("0h").is_err());
        assert!(parse_interval("h").is_err());
        assert!(parse_interval("1y").is_err());
    }
}
