//! When a DataVault dataset falls due: `every = "15m"` (slots aligned to the Unix epoch in UTC) or
//! `at = "03:00"` / `at = "03:00,15:00"` (wall-clock times in the configuration's time zone,
//! `tz`, the system's by default).
//!
//! Daylight saving time, for `at`: a time that does not exist on a day (02:30 on the day the
//! clocks go forward) falls due at the same distance after the gap (03:30); a time that exists
//! twice (01:30 on the day the clocks go back) falls due once, at its first occurrence. Each
//! listed time falls due exactly once per calendar day either way.

use std::time::Duration;

use jiff::Timestamp;
use jiff::civil::{Date, Time};
use time::OffsetDateTime;

use crate::error::{Error, ErrorKind, Result};
use crate::retention::TimeZone;

/// The operation of the [`ErrorKind::InvalidArgument`] error [`Schedule::at`] returns; its
/// [`Error::detail`] says what is wrong (one line).
pub const OP_AT: &str = "parse the at times";

/// A dataset's schedule: `every` interval slots or `at` wall-clock times.
///
/// ```
/// use flocker_core::retention::TimeZone;
/// use flocker_core::vault::schedule::Schedule;
/// use time::macros::datetime;
///
/// let hourly = Schedule::every(std::time::Duration::from_secs(3600));
/// let t = datetime!(2026-12-05 11:32:40 UTC);
/// assert_eq!(hourly.slot_start(t), datetime!(2026-12-05 11:00 UTC));
/// assert_eq!(hourly.next_after(t), datetime!(2026-12-05 12:00 UTC));
///
/// let nightly = Schedule::at("03:00", &TimeZone::get("Europe/Berlin").unwrap()).unwrap();
/// assert_eq!(nightly.next_after(t), datetime!(2026-12-06 02:00 UTC)); // 03:00 CET
/// assert_eq!(nightly.to_string(), "at 03:00 (Europe/Berlin)");
/// ```
#[derive(Clone, Debug)]
pub struct Schedule {
    kind: Kind,
}

#[derive(Clone, Debug)]
enum Kind {
    /// Slots of this length, aligned to the Unix epoch.
    Every(Duration),
    /// These wall-clock times (sorted, distinct) of every day in `tz`.
    At {
        times: Vec<Time>,
        tz: TimeZone,
        text: String,
    },
}

impl Schedule {
    /// Slots of `interval` (at least a second), aligned to the Unix epoch in UTC.
    pub fn every(interval: Duration) -> Schedule {
        Schedule {
            kind: Kind::Every(interval),
        }
    }

    /// Parses `at`: one or more wall-clock times `HH:MM` (or `HH:MM:SS`) of `tz`, separated
    /// by commas. Err: see [`OP_AT`].
    pub fn at(text: &str, tz: &TimeZone) -> Result<Schedule> {
        parse_at(text, tz)
            .map_err(|why| Error::new(ErrorKind::InvalidArgument, OP_AT).with_detail(why))
    }

    /// The interval of an `every` schedule.
    pub fn interval(&self) -> Option<Duration> {
        match &self.kind {
            Kind::Every(e) => Some(*e),
            Kind::At { .. } => None,
        }
    }

    /// The time zone of an `at` schedule.
    pub fn time_zone(&self) -> Option<&TimeZone> {
        match &self.kind {
            Kind::Every(_) => None,
            Kind::At { tz, .. } => Some(tz),
        }
    }

    /// The start of the slot that contains `t`: the latest due instant at or before `t`.
    pub fn slot_start(&self, t: OffsetDateTime) -> OffsetDateTime {
        match &self.kind {
            Kind::Every(every) => {
                let e = i64::try_from(every.as_secs().max(1)).unwrap_or(i64::MAX);
                let s = t.unix_timestamp().div_euclid(e) * e;
                OffsetDateTime::from_unix_timestamp(s).unwrap_or(t)
            }
            Kind::At { .. } => {
                let day = self.local_date(t);
                // Yesterday's times cover an instant before today's first one.
                let mut best = None;
                for d in [day.yesterday(), Ok(day)].into_iter().flatten() {
                    for at in self.instants_on(d) {
                        if at <= t && best.is_none_or(|b| at > b) {
                            best = Some(at);
                        }
                    }
                }
                best.unwrap_or(t)
            }
        }
    }

    /// The first due instant strictly after `t`.
    pub fn next_after(&self, t: OffsetDateTime) -> OffsetDateTime {
        match &self.kind {
            Kind::Every(every) => {
                let e = i64::try_from(every.as_secs().max(1)).unwrap_or(i64::MAX);
                let s = self.slot_start(t).unix_timestamp().saturating_add(e);
                OffsetDateTime::from_unix_timestamp(s).unwrap_or(t + time::Duration::HOUR)
            }
            Kind::At { .. } => {
                let day = self.local_date(t);
                let mut best = None;
                for d in [
                    Ok(day),
                    day.tomorrow(),
                    day.tomorrow().and_then(|x| x.tomorrow()),
                ]
                .into_iter()
                .flatten()
                {
                    for at in self.instants_on(d) {
                        if at > t && best.is_none_or(|b| at < b) {
                            best = Some(at);
                        }
                    }
                }
                best.unwrap_or(t + time::Duration::DAY)
            }
        }
    }

    /// The longest distance between two due instants (for freshness checks): the interval, or
    /// for `at` the longest gap between consecutive times plus an hour for a DST change.
    pub fn period(&self) -> Duration {
        match &self.kind {
            Kind::Every(e) => *e,
            Kind::At { times, .. } => {
                let secs: Vec<i64> = times
                    .iter()
                    .map(|t| {
                        i64::from(t.hour()) * 3600
                            + i64::from(t.minute()) * 60
                            + i64::from(t.second())
                    })
                    .collect();
                let mut gap = 0;
                for (i, s) in secs.iter().enumerate() {
                    let next = secs.get(i + 1).copied().unwrap_or(secs[0] + 86_400);
                    gap = gap.max(next - s);
                }
                Duration::from_secs(u64::try_from(gap).unwrap_or(86_400) + 3600)
            }
        }
    }

    fn local_date(&self, t: OffsetDateTime) -> Date {
        match &self.kind {
            Kind::Every(_) => Date::constant(1970, 1, 1),
            Kind::At { tz, .. } => Timestamp::from_second(t.unix_timestamp())
                .map(|ts| tz.to_datetime(ts).date())
                .unwrap_or(Date::constant(1970, 1, 1)),
        }
    }

    /// The due instants of `day` (local), one per listed time.
    fn instants_on(&self, day: Date) -> Vec<OffsetDateTime> {
        let Kind::At { times, tz, .. } = &self.kind else {
            return Vec::new();
        };
        times
            .iter()
            .filter_map(|time| {
                // `compatible`: a time in a gap moves forward by the gap, a time in a fold
                // takes its first occurrence.
                let z = tz
                    .to_ambiguous_zoned_datetime(day.to_datetime(*time))
                    .compatible()
                    .ok()?;
                OffsetDateTime::from_unix_timestamp(z.timestamp().as_second()).ok()
            })
            .collect()
    }
}

impl std::fmt::Display for Schedule {
    /// `every 3600s`, or `at 03:00 (Europe/Berlin)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.kind {
            Kind::Every(e) => write!(f, "every {}s", e.as_secs()),
            Kind::At { text, tz, .. } => {
                write!(f, "at {text} ({})", tz.iana_name().unwrap_or("local time"))
            }
        }
    }
}

/// Parses `at`: one or more wall-clock times `HH:MM` (or `HH:MM:SS`), separated by commas.
fn parse_at(s: &str, tz: &TimeZone) -> std::result::Result<Schedule, String> {
    let mut times = Vec::new();
    for part in s.split(',') {
        let p = part.trim();
        let fields: Vec<&str> = p.split(':').collect();
        let num = |x: &str, max: i8| -> Option<i8> {
            if x.len() != 2 || !x.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            x.parse::<i8>().ok().filter(|&n| n <= max)
        };
        let t = match fields.as_slice() {
            [h, m] => num(h, 23).zip(num(m, 59)).map(|(h, m)| (h, m, 0)),
            [h, m, sec] => num(h, 23)
                .zip(num(m, 59))
                .zip(num(sec, 59))
                .map(|((h, m), s)| (h, m, s)),
            _ => None,
        }
        .and_then(|(h, m, sec)| Time::new(h, m, sec, 0).ok())
        .ok_or_else(|| {
            format!(
                "bad time {p:?} in at {s:?} (expected HH:MM, e.g. \"03:00\" or \"03:00,15:30\")"
            )
        })?;
        if times.contains(&t) {
            return Err(format!("{p} is listed twice in at {s:?}"));
        }
        times.push(t);
    }
    times.sort();
    Ok(Schedule {
        kind: Kind::At {
            times,
            tz: tz.clone(),
            text: s.trim().to_string(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn berlin(at: &str) -> Schedule {
        parse_at(at, &TimeZone::get("Europe/Berlin").unwrap()).unwrap()
    }

    #[test]
    fn every_is_aligned_to_the_epoch() {
        let s = Schedule::every(Duration::from_secs(3600));
        let t = datetime!(2026-12-05 11:32:40 UTC);
        assert_eq!(s.slot_start(t), datetime!(2026-12-05 11:00 UTC));
        assert_eq!(s.next_after(t), datetime!(2026-12-05 12:00 UTC));
        assert_eq!(
            s.next_after(datetime!(2026-12-05 12:00 UTC)),
            datetime!(2026-12-05 13:00 UTC)
        );
    }

    #[test]
    fn at_is_local_time() {
        let s = berlin("03:00");
        // Winter: Berlin is UTC+1, so 03:00 local is 02:00 UTC.
        let t = datetime!(2026-12-05 11:00 UTC);
        assert_eq!(s.slot_start(t), datetime!(2026-12-05 02:00 UTC));
        assert_eq!(s.next_after(t), datetime!(2026-12-06 02:00 UTC));
        // Before today's 03:00, the slot is yesterday's.
        assert_eq!(
            s.slot_start(datetime!(2026-12-05 01:59 UTC)),
            datetime!(2026-12-04 02:00 UTC)
        );
        // Summer: UTC+2.
        assert_eq!(
            s.next_after(datetime!(2026-07-01 00:00 UTC)),
            datetime!(2026-07-01 01:00 UTC)
        );
    }

    #[test]
    fn at_across_spring_forward() {
        // 2026-03-29 in Berlin: 02:00 local jumps to 03:00 (UTC+1 -> UTC+2).
        let s = berlin("02:30");
        // 02:30 does not exist that day: due at 03:30 CEST = 01:30 UTC, once.
        assert_eq!(
            s.next_after(datetime!(2026-03-28 12:00 UTC)),
            datetime!(2026-03-29 01:30 UTC)
        );
        assert_eq!(
            s.next_after(datetime!(2026-03-29 01:30 UTC)),
            datetime!(2026-03-30 00:30 UTC)
        );
        let s = berlin("03:00");
        assert_eq!(
            s.next_after(datetime!(2026-03-28 12:00 UTC)),
            datetime!(2026-03-29 01:00 UTC)
        );
        // The day before and after are 24 h slots apart from it in local terms.
        assert_eq!(
            s.next_after(datetime!(2026-03-29 01:00 UTC)),
            datetime!(2026-03-30 01:00 UTC)
        );
        assert_eq!(
            s.slot_start(datetime!(2026-03-29 00:59 UTC)),
            datetime!(2026-03-28 02:00 UTC)
        );
    }

    #[test]
    fn at_across_fall_back() {
        // 2026-10-25 in Berlin: 03:00 CEST goes back to 02:00 CET; 02:30 happens twice.
        let s = berlin("02:30");
        let first = datetime!(2026-10-25 00:30 UTC); // 02:30 CEST
        assert_eq!(s.next_after(datetime!(2026-10-24 12:00 UTC)), first);
        // Not again at 02:30 CET (01:30 UTC): the next is the next day's.
        assert_eq!(s.next_after(first), datetime!(2026-10-26 01:30 UTC));
        assert_eq!(s.slot_start(datetime!(2026-10-25 01:45 UTC)), first);
        // 03:00 after the change is 02:00 UTC (a 25-hour day between the slots).
        let s = berlin("03:00");
        assert_eq!(
            s.next_after(datetime!(2026-10-24 01:00 UTC)),
            datetime!(2026-10-25 02:00 UTC)
        );
    }

    #[test]
    fn several_times_a_day() {
        let s = parse_at("15:30, 03:00", &TimeZone::UTC).unwrap();
        assert_eq!(
            s.next_after(datetime!(2026-12-05 04:00 UTC)),
            datetime!(2026-12-05 15:30 UTC)
        );
        assert_eq!(
            s.next_after(datetime!(2026-12-05 15:30 UTC)),
            datetime!(2026-12-06 03:00 UTC)
        );
        assert_eq!(
            s.slot_start(datetime!(2026-12-05 02:00 UTC)),
            datetime!(2026-12-04 15:30 UTC)
        );
        assert_eq!(
            s.period(),
            Duration::from_secs((12 * 3600 + 30 * 60) + 3600)
        );
    }

    #[test]
    fn bad_at() {
        for bad in [
            "3:00",
            "24:00",
            "03:60",
            "03",
            "",
            "03:00,03:00",
            "03:00:61",
            "ab:cd",
            "03:00,",
        ] {
            assert!(parse_at(bad, &TimeZone::UTC).is_err(), "{bad:?}");
        }
        assert!(parse_at("00:00,23:59:59", &TimeZone::UTC).is_ok());
    }
}
