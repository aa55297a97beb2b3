//! DataVault's snapshot names and the time they stand for (shared by `datavault` and, as the
//! default ownership rule, the prune workflow: [`crate::prune::Ownership`]).
//!
//! A snapshot made by `datavault snapshot` or `datavault run` is named
//! `dv-YYYYMMDDTHHMMSSZ`: the ISO 8601 basic form of the UTC instant it was taken at (for
//! example `tank/home@dv-20261125T181500Z`). Names sort like the times they carry, need no
//! quoting in a shell or under `.zfs/snapshot`, and do not depend on the host's time zone.
//!
//! Retention ([`crate::retention`]) plans with each snapshot's time. For a snapshot whose
//! short name has exactly this form, `datavault list`, `datavault prune` and `datavault run`
//! use the time in the name; for any other snapshot, its `creation` property. The two agree
//! to the second for snapshots the service takes on the real clock; under the accelerated
//! clock of `datavault run --clock-start` the name carries the service's clock, so history
//! built in seconds is planned as the hours or days it stands for. (The plain `prune` tool
//! always uses `creation`.)
//!
//! The scheme is also what a retention policy owns by default: `datavault list`, `prune` and
//! `run` and the `prune` tool plan (and may destroy) only the snapshots named by it, unless a
//! `match` regex widens the rule ([`crate::prune::Ownership`]).

use crate::inventory::SnapshotInfo;
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time};

/// The prefix of the service's snapshot names.
pub const PREFIX: &str = "dv-";

/// The short name for a snapshot taken at `t` (UTC, whole seconds).
///
/// ```
/// use flocker_core::vault::scheme;
/// use time::macros::datetime;
///
/// let t = datetime!(2026-11-25 19:15:07 +01:00);
/// assert_eq!(scheme::snap_name(t), "dv-20261125T181507Z");
/// assert_eq!(scheme::name_time("dv-20261125T181507Z"), Some(t));
/// assert!(!scheme::is_scheme_name("before-upgrade"));
/// ```
pub fn snap_name(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{PREFIX}{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Whether `short` (the part of a snapshot name after `@`) is named by the scheme.
pub fn is_scheme_name(short: &str) -> bool {
    name_time(short).is_some()
}

/// The instant a short name of the scheme stands for; `None` for any other name.
pub fn name_time(short: &str) -> Option<OffsetDateTime> {
    let rest = short.strip_prefix(PREFIX)?;
    let b = rest.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let digits = |r: std::ops::Range<usize>| -> Option<u32> {
        let s = rest.get(r)?;
        if !s.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    let year = i32::try_from(digits(0..4)?).ok()?;
    let month = Month::try_from(u8::try_from(digits(4..6)?).ok()?).ok()?;
    let day = u8::try_from(digits(6..8)?).ok()?;
    let hour = u8::try_from(digits(9..11)?).ok()?;
    let minute = u8::try_from(digits(11..13)?).ok()?;
    let second = u8::try_from(digits(13..15)?).ok()?;
    let date = Date::from_calendar_date(year, month, day).ok()?;
    let time = Time::from_hms(hour, minute, second).ok()?;
    Some(PrimitiveDateTime::new(date, time).assume_utc())
}

/// The time a listed snapshot counts as taken at, when its name carries one.
pub fn info_time(s: &SnapshotInfo) -> Option<OffsetDateTime> {
    name_time(s.name.short_name())
}

/// The time retention plans `s` with: its name's time, else `creation`; and which it was
/// (`"name"` or `"creation"`).
pub fn effective_time(s: &SnapshotInfo) -> (OffsetDateTime, &'static str) {
    match info_time(s) {
        Some(t) => (t, "name"),
        None => (s.creation, "creation"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejects() {
        let t = OffsetDateTime::from_unix_timestamp(1_795_630_507).unwrap();
        let n = snap_name(t);
        assert_eq!(n, "dv-20261125T181507Z", "{t}");
        assert_eq!(name_time(&n), Some(t));
        for bad in [
            "dv-20261125T181507",
            "dv-20261325T181507Z",
            "dv-2026112xT181507Z",
            "x-20261125T181507Z",
            "dv-20261125T246000Z",
            "dv-+0261125T181507Z",
        ] {
            assert_eq!(name_time(bad), None, "{bad}");
        }
    }

    #[test]
    fn names_carry_utc_whole_seconds_and_sort_like_times() {
        let t = OffsetDateTime::from_unix_timestamp_nanos(1_795_630_507_900_000_000).unwrap();
        assert_eq!(
            snap_name(t),
            "dv-20261125T181507Z",
            "nanoseconds are dropped"
        );
        let east = t.to_offset(time::UtcOffset::from_hms(5, 30, 0).unwrap());
        assert_eq!(snap_name(east), snap_name(t), "the offset does not matter");
        let later = snap_name(t + time::Duration::seconds(1));
        assert!(later > snap_name(t));
        assert!(is_scheme_name(&later) && !is_scheme_name("dv-20261125T181507Z-x"));
        assert_eq!(PREFIX, "dv-");
        // Years before 1000 keep four digits; the name reads back.
        let old = OffsetDateTime::from_unix_timestamp(-30_000_000_000).unwrap();
        assert_eq!(name_time(&snap_name(old)), Some(old));
    }
}
