//! Which snapshots a retention policy owns: [`Ownership`] and its regex, [`NameMatch`].

use std::fmt;

use regex::Regex;
use serde_json::{Value, json};

use crate::error::{Error, ErrorKind, Result};
use crate::name::DatasetName;
use crate::vault::scheme;

/// How a snapshot the policy does not own is reported (text, and the JSON reason's `text`).
pub const FOREIGN: &str = "foreign (kept)";

/// The operation of the [`Error`] that [`NameMatch::new`] and [`Ownership::matching`] return.
pub const OP_REGEX: &str = "compile the match regex";

/// Which snapshots a retention policy owns: plans, counts, and may destroy. Every other
/// snapshot is *foreign*: never destroyed, not counted by the policy, reported as [`FOREIGN`].
///
/// ```
/// use flocker_core::prune::Ownership;
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
    /// DataVault's snapshots only: short names `dv-YYYYMMDDTHHMMSSZ` ([`crate::vault::scheme`]).
    #[default]
    Scheme,
    /// DataVault's, and those whose short name the regex matches in full.
    SchemeOr(NameMatch),
    /// Every snapshot (`prune --all`).
    All,
}

impl Ownership {
    /// DataVault's snapshots, and with `regex` those it matches in full. Err: see
    /// [`NameMatch::new`].
    pub fn matching(regex: Option<&str>) -> Result<Ownership> {
        Ok(match regex {
            None => Ownership::Scheme,
            Some(r) => Ownership::SchemeOr(NameMatch::new(r)?),
        })
    }

    /// Whether the policy owns the snapshot with this short name (the part after `@`).
    pub fn owns(&self, short: &str) -> bool {
        match self {
            Ownership::Scheme => scheme::is_scheme_name(short),
            Ownership::SchemeOr(m) => scheme::is_scheme_name(short) || m.matches(short),
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

    /// The warning [`Ownership::All`] gives (the `prune` tool prints it on stderr and in its
    /// JSON `warnings`; [`crate::prune::plan`] puts it first in [`crate::prune::Planned::warnings`]).
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

    /// The rule as a JSON object: `{"all": bool, "match": null | regex, "text": the rule}`.
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
    /// Compiles `text` for a full match. An empty regex is refused too.
    ///
    /// Err: [`ErrorKind::InvalidArgument`] from [`OP_REGEX`], whose [`Error::detail`] is one
    /// line naming the regex and what is wrong with it (`bad regex "(": unclosed group`).
    ///
    /// ```
    /// use flocker_core::prune::NameMatch;
    ///
    /// let m = NameMatch::new("auto-.*").unwrap();
    /// assert!(m.matches("auto-1") && !m.matches("x-auto-1"));
    /// let e = NameMatch::new("(").unwrap_err();
    /// assert_eq!(e.detail(), Some("bad regex \"(\": unclosed group"));
    /// ```
    pub fn new(text: &str) -> Result<NameMatch> {
        let bad = |why: &str| {
            Error::new(ErrorKind::InvalidArgument, OP_REGEX)
                .with_detail(format!("bad regex {}: {why}", quoted(text)))
        };
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

#[cfg(test)]
mod tests {
    use super::*;

    const DV1: &str = "dv-20261201T000000Z";
    const SYNCOID: &str = "syncoid_host_2026-12-01:00:00:00-GMT00:00";

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
    fn display_says_what_is_owned() {
        assert_eq!(
            Ownership::default().to_string(),
            "snapshots named dv-YYYYMMDDTHHMMSSZ; the others are foreign (kept)"
        );
        let o = Ownership::matching(Some(r"a\d")).unwrap();
        assert_eq!(
            o.to_string(),
            r#"snapshots named dv-YYYYMMDDTHHMMSSZ or matching "a\d" in full; the others are foreign (kept)"#
        );
        assert_eq!(o.to_json()["match"], r"a\d");
        assert_eq!(Ownership::All.to_string(), "every snapshot (--all)");
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
            assert_eq!(e.kind(), ErrorKind::InvalidArgument);
            assert_eq!(e.operation(), OP_REGEX);
            let e = e.detail().unwrap();
            assert!(
                e.starts_with(&format!("bad regex \"{re}\": ")) && e.contains(why),
                "{re:?}: {e}"
            );
            assert!(!e.contains('\n'), "{re:?}: {e}");
        }
        // Backslashes are shown as written; a quote is escaped.
        let e = NameMatch::new(r"\d(").err().unwrap();
        assert!(e.detail().unwrap().starts_with(r#"bad regex "\d(""#), "{e}");
        let e = NameMatch::new("\"(").err().unwrap();
        assert!(e.detail().unwrap().starts_with(r#"bad regex "\"(""#), "{e}");
    }
}
