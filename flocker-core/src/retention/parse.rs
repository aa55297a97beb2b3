//! The textual form of a policy: `FromStr` and typed parse errors.

use std::str::FromStr;
use std::time::Duration;

use super::policy::{
    BurstRule, CalendarRule, CalendarUnit, ChangeRule, DAY, GridGroup, GridKeep, GridRule, HOUR,
    MINUTE, PolicyError, RetentionPolicy, RetentionPolicyBuilder, Rule, WEEK, YEAR,
    valid_user_property, validate_rule,
};

/// What is wrong with the textual form of a policy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// The text is empty (or only spaces).
    #[error("the policy is empty")]
    Empty,
    /// An item between two commas is empty.
    #[error("empty item")]
    EmptyItem,
    /// A `(` without its `)` or the reverse.
    #[error("unbalanced parentheses")]
    Unbalanced,
    /// An item that is no rule or setting of the grammar.
    #[error(
        "unknown item (expected NxKU, grid(...), within=, min=, bursts(...), changes(...), pin=, space= or idle=)"
    )]
    UnknownItem,
    /// A number was expected.
    #[error("expected a number")]
    ExpectedNumber,
    /// A number does not fit.
    #[error("number too large")]
    NumberTooLarge,
    /// A number without its unit.
    #[error("missing unit")]
    MissingUnit,
    /// A unit that the grammar does not know here.
    #[error("unknown unit")]
    UnknownUnit,
    /// `mo` used as a fixed duration (months differ in length; `mo` is for calendar rules).
    #[error("months have no fixed length: use d or w here, or a calendar rule such as 12x1mo")]
    MonthsNotFixed,
    /// An unknown `key=` inside `bursts(...)`, `changes(...)` or a grid bucket.
    #[error("unknown key")]
    UnknownKey,
    /// A required `key=` is missing.
    #[error("missing {0}")]
    MissingKey(&'static str),
    /// A key or setting given twice.
    #[error("given twice")]
    Duplicate,
    /// Well-formed but invalid (zero count, bad property name, no rules...).
    #[error("{0}")]
    Invalid(PolicyError),
}

/// A parse error of a policy's textual form, with the byte offset and text of the bad token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("retention policy: {kind} at byte {offset}: {token:?}")]
#[non_exhaustive]
pub struct ParseError {
    /// What is wrong.
    pub kind: ParseErrorKind,
    /// Byte offset of the bad token in the parsed text.
    pub offset: usize,
    /// The bad token.
    pub token: String,
}

/// A slice of the input with its byte offset.
#[derive(Clone, Copy)]
struct Tok<'a> {
    text: &'a str,
    offset: usize,
}

impl<'a> Tok<'a> {
    fn err(self, kind: ParseErrorKind) -> ParseError {
        ParseError {
            kind,
            offset: self.offset,
            token: self.text.to_string(),
        }
    }

    fn trim(self) -> Tok<'a> {
        let start = self.text.len() - self.text.trim_start().len();
        Tok {
            text: self.text.trim(),
            offset: self.offset + start,
        }
    }

    fn slice(self, from: usize, to: usize) -> Tok<'a> {
        Tok {
            text: &self.text[from..to],
            offset: self.offset + from,
        }
    }

    /// Splits on `sep` at parenthesis depth 0; each part is trimmed.
    fn split_top(self, sep: u8) -> Result<Vec<Tok<'a>>, ParseError> {
        let mut parts = Vec::new();
        let mut depth = 0usize;
        let mut start = 0;
        let mut open_at = 0;
        for (i, b) in self.text.bytes().enumerate() {
            match b {
                b'(' => {
                    if depth == 0 {
                        open_at = i;
                    }
                    depth += 1;
                }
                b')' => {
                    if depth == 0 {
                        return Err(self.slice(i, i + 1).err(ParseErrorKind::Unbalanced));
                    }
                    depth -= 1;
                }
                _ if b == sep && depth == 0 => {
                    parts.push(self.slice(start, i).trim());
                    start = i + 1;
                }
                _ => {}
            }
        }
        if depth != 0 {
            return Err(self
                .slice(open_at, self.text.len())
                .err(ParseErrorKind::Unbalanced));
        }
        parts.push(self.slice(start, self.text.len()).trim());
        Ok(parts)
    }

    /// `name(inner)` → inner, if the token has that shape.
    fn call(self, name: &str) -> Option<Tok<'a>> {
        let rest = self.text.strip_prefix(name)?;
        let rest = rest.trim_start();
        if rest.starts_with('(') && rest.ends_with(')') {
            let open = self.text.len() - rest.len();
            Some(self.slice(open + 1, self.text.len() - 1))
        } else {
            None
        }
    }

    /// `key=value` → (key, value), both trimmed.
    fn key_value(self) -> Option<(Tok<'a>, Tok<'a>)> {
        let eq = self.text.find('=')?;
        Some((
            self.slice(0, eq).trim(),
            self.slice(eq + 1, self.text.len()).trim(),
        ))
    }

    /// Splits leading ASCII digits from the rest.
    fn digits(self) -> (Tok<'a>, Tok<'a>) {
        let n = self.text.bytes().take_while(|b| b.is_ascii_digit()).count();
        (self.slice(0, n), self.slice(n, self.text.len()))
    }
}

fn number<T: FromStr>(tok: Tok<'_>) -> Result<T, ParseError> {
    if tok.text.is_empty() || !tok.text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(tok.err(ParseErrorKind::ExpectedNumber));
    }
    tok.text
        .parse()
        .map_err(|_| tok.err(ParseErrorKind::NumberTooLarge))
}

fn count(tok: Tok<'_>) -> Result<u32, ParseError> {
    number(tok)
}

/// `<n><unit>` with s, min, h, d, w, y (= 365 d).
fn duration(tok: Tok<'_>) -> Result<Duration, ParseError> {
    let (num, unit) = tok.digits();
    let n: u64 = number(num)?;
    let secs = match unit.text {
        "" => return Err(tok.err(ParseErrorKind::MissingUnit)),
        "s" => 1,
        "min" => MINUTE,
        "h" => HOUR,
        "d" => DAY,
        "w" => WEEK,
        "y" => YEAR,
        "mo" => return Err(unit.err(ParseErrorKind::MonthsNotFixed)),
        _ => return Err(unit.err(ParseErrorKind::UnknownUnit)),
    };
    n.checked_mul(secs)
        .map(Duration::from_secs)
        .ok_or_else(|| tok.err(ParseErrorKind::NumberTooLarge))
}

/// `<n>[K|M|G|T|P|E][B|iB]` (binary multiples), or plain bytes.
fn size(tok: Tok<'_>) -> Result<u64, ParseError> {
    let (num, unit) = tok.digits();
    let n: u64 = number(num)?;
    let u = unit.text;
    let u = u
        .strip_suffix("iB")
        .or_else(|| u.strip_suffix('B'))
        .unwrap_or(u);
    let shift = match u {
        "" => 0,
        "K" | "k" => 10,
        "M" | "m" => 20,
        "G" | "g" => 30,
        "T" | "t" => 40,
        "P" | "p" => 50,
        "E" | "e" => 60,
        _ => return Err(unit.err(ParseErrorKind::UnknownUnit)),
    };
    n.checked_mul(1u64 << shift)
        .ok_or_else(|| tok.err(ParseErrorKind::NumberTooLarge))
}

/// `NxKU` or `NxU`.
fn calendar(tok: Tok<'_>) -> Result<Rule, ParseError> {
    let (num, rest) = tok.digits();
    let n = count(num)?;
    let rest = match rest.text.strip_prefix('x') {
        Some(_) => rest.slice(1, rest.text.len()),
        None => return Err(tok.err(ParseErrorKind::UnknownItem)),
    };
    let (mult, unit) = rest.digits();
    let every = if mult.text.is_empty() {
        1
    } else {
        count(mult)?
    };
    let unit = match unit.text {
        "min" => CalendarUnit::Minute,
        "h" => CalendarUnit::Hour,
        "d" => CalendarUnit::Day,
        "w" => CalendarUnit::Week,
        "mo" => CalendarUnit::Month,
        "y" => CalendarUnit::Year,
        "" => return Err(rest.err(ParseErrorKind::MissingUnit)),
        _ => return Err(unit.err(ParseErrorKind::UnknownUnit)),
    };
    let rule = Rule::Calendar(CalendarRule {
        count: n,
        every,
        unit,
    });
    validate_rule(&rule).map_err(|e| tok.err(ParseErrorKind::Invalid(e)))?;
    Ok(rule)
}

/// `NxDUR` or `NxDUR(keep=K|all)`.
fn grid_group(tok: Tok<'_>) -> Result<GridGroup, ParseError> {
    if tok.text.is_empty() {
        return Err(tok.err(ParseErrorKind::EmptyItem));
    }
    let (head, keep) = match tok.text.find('(') {
        Some(open) => {
            let inner = tok.slice(open, tok.text.len());
            let body = inner
                .call("")
                .ok_or_else(|| inner.err(ParseErrorKind::Unbalanced))?
                .trim();
            let (k, v) = body
                .key_value()
                .ok_or_else(|| body.err(ParseErrorKind::UnknownKey))?;
            if k.text != "keep" {
                return Err(k.err(ParseErrorKind::UnknownKey));
            }
            let keep = if v.text == "all" {
                GridKeep::All
            } else {
                GridKeep::Oldest(count(v)?)
            };
            (tok.slice(0, open).trim(), keep)
        }
        None => (tok, GridKeep::Oldest(1)),
    };
    let (num, rest) = head.digits();
    let n = count(num)?;
    if !rest.text.starts_with('x') {
        return Err(head.err(ParseErrorKind::UnknownItem));
    }
    let length = duration(rest.slice(1, rest.text.len()).trim())?;
    Ok(GridGroup {
        count: n,
        length,
        keep,
    })
}

/// Parses `key=value` pairs of a `name(...)` item; each key at most once.
fn pairs<'a>(inner: Tok<'a>, known: &[&'static str]) -> Result<Vec<Option<Tok<'a>>>, ParseError> {
    let mut values: Vec<Option<Tok<'a>>> = vec![None; known.len()];
    for part in inner.split_top(b',')? {
        if part.text.is_empty() {
            return Err(part.err(ParseErrorKind::EmptyItem));
        }
        let (k, v) = part
            .key_value()
            .ok_or_else(|| part.err(ParseErrorKind::UnknownKey))?;
        let slot = known
            .iter()
            .position(|name| *name == k.text)
            .ok_or_else(|| k.err(ParseErrorKind::UnknownKey))?;
        if values[slot].is_some() {
            return Err(k.err(ParseErrorKind::Duplicate));
        }
        values[slot] = Some(v);
    }
    Ok(values)
}

impl FromStr for RetentionPolicy {
    type Err = ParseError;

    fn from_str(text: &str) -> Result<Self, ParseError> {
        let all = Tok { text, offset: 0 };
        if text.trim().is_empty() {
            return Err(all.err(ParseErrorKind::Empty));
        }
        let mut builder = RetentionPolicy::builder();
        let mut seen = Seen::default();
        for item in all.split_top(b',')? {
            if item.text.is_empty() {
                return Err(item.err(ParseErrorKind::EmptyItem));
            }
            let first = item.text.as_bytes()[0];
            let rule = if let Some(rule) = call_rule(item)? {
                Some(rule)
            } else if let Some((key, value)) = item.key_value() {
                setting(key, value, &mut seen, &mut builder)?
            } else if first.is_ascii_digit() {
                Some(calendar(item)?)
            } else {
                return Err(item.err(ParseErrorKind::UnknownItem));
            };
            if let Some(rule) = rule {
                validate_rule(&rule).map_err(|e| item.err(ParseErrorKind::Invalid(e)))?;
                builder.rule(rule);
            }
        }
        builder
            .build()
            .map_err(|e| all.trim().err(ParseErrorKind::Invalid(e)))
    }
}

/// The settings given so far (each may be given once).
#[derive(Default)]
struct Seen {
    min: bool,
    space: bool,
    idle: bool,
}

/// A rule written as a call: `grid(...)`, `bursts(...)` or `changes(...)`; `None` for any
/// other item.
fn call_rule(item: Tok<'_>) -> Result<Option<Rule>, ParseError> {
    if let Some(inner) = item.call("grid") {
        let mut groups = Vec::new();
        for part in inner.split_top(b'|')? {
            groups.push(grid_group(part)?);
        }
        Ok(Some(Rule::Grid(GridRule { groups })))
    } else if let Some(inner) = item.call("bursts") {
        let v = pairs(inner, &["for", "gap", "quiet"])?;
        let horizon = duration(v[0].ok_or_else(|| item.err(ParseErrorKind::MissingKey("for=")))?)?;
        let gap = match v[1] {
            Some(t) => duration(t)?,
            None => Duration::from_secs(2 * HOUR),
        };
        let quiet = match v[2] {
            Some(t) => size(t)?,
            None => 64 << 10,
        };
        Ok(Some(Rule::Bursts(BurstRule {
            horizon,
            gap,
            quiet,
        })))
    } else if let Some(inner) = item.call("changes") {
        let v = pairs(inner, &["for", "size"])?;
        let horizon = duration(v[0].ok_or_else(|| item.err(ParseErrorKind::MissingKey("for=")))?)?;
        let size = size(v[1].ok_or_else(|| item.err(ParseErrorKind::MissingKey("size=")))?)?;
        Ok(Some(Rule::Changes(ChangeRule { horizon, size })))
    } else {
        Ok(None)
    }
}

/// A `key=value` item: the `within=` rule, or a setting (`min=`, `space=`, `idle=`, `pin=`)
/// applied to `builder` (then `None`).
fn setting(
    key: Tok<'_>,
    value: Tok<'_>,
    seen: &mut Seen,
    builder: &mut RetentionPolicyBuilder,
) -> Result<Option<Rule>, ParseError> {
    let once = |flag: &mut bool| {
        if std::mem::replace(flag, true) {
            Err(key.err(ParseErrorKind::Duplicate))
        } else {
            Ok(())
        }
    };
    match key.text {
        "within" => return Ok(Some(Rule::Within(duration(value)?))),
        "min" => {
            once(&mut seen.min)?;
            builder.min_count(count(value)?);
        }
        "space" => {
            once(&mut seen.space)?;
            builder.space_budget(Some(size(value)?));
        }
        "idle" => {
            once(&mut seen.idle)?;
            let d = duration(value)?;
            if d.as_secs() == 0 {
                return Err(
                    value.err(ParseErrorKind::Invalid(PolicyError::ZeroDuration {
                        what: "idle",
                    })),
                );
            }
            builder.idle_cap(d);
        }
        "pin" => {
            if !valid_user_property(value.text) {
                return Err(
                    value.err(ParseErrorKind::Invalid(PolicyError::BadPinProperty(
                        value.text.to_string(),
                    ))),
                );
            }
            builder.pin_property(value.text);
        }
        _ => return Err(key.err(ParseErrorKind::UnknownKey)),
    }
    Ok(None)
}
