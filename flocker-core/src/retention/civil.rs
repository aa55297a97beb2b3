//! The crate's one civil-time conversion: an instant's local calendar fields in a time zone,
//! on jiff (offsets from the tz database, dates from jiff's proleptic Gregorian calendar).

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;

/// Days in 400 Gregorian years: the calendar repeats with this period, which lets any day
/// count (even one beyond jiff's years -9999..=9999) be read from a date in range.
const DAYS_PER_400_YEARS: i64 = 146_097;

/// Local calendar fields of one instant in one time zone, as the calendar rules of a
/// [`RetentionPolicy`](super::RetentionPolicy) count periods.
///
/// ```
/// use flocker_core::retention::{LocalTime, TimeZone};
/// // 2024-03-31 01:30 UTC is 03:30 in Berlin (summer time began at 01:00 UTC).
/// let t = LocalTime::at(1_711_848_600, &TimeZone::get("Europe/Berlin").unwrap());
/// assert_eq!((t.year(), t.month(), t.minute_of_day()), (2024, 3, 3 * 60 + 30));
/// assert_eq!(t.days(), 19_813);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalTime {
    days: i64,
    minute_of_day: i64,
    year: i64,
    month: i64,
}

impl LocalTime {
    /// The local fields of unix time `secs` (seconds since 1970-01-01 UTC) in `tz`. Times
    /// beyond jiff's range take the offset of the nearest time in range.
    pub fn at(secs: i64, tz: &TimeZone) -> LocalTime {
        let ts = Timestamp::from_second(
            secs.clamp(Timestamp::MIN.as_second(), Timestamp::MAX.as_second()),
        )
        .unwrap_or(Timestamp::UNIX_EPOCH);
        let local = secs.saturating_add(i64::from(tz.to_offset(ts).seconds()));
        let days = local.div_euclid(86_400);
        let (year, month) = year_month(days);
        LocalTime {
            days,
            minute_of_day: local.rem_euclid(86_400) / 60,
            year,
            month,
        }
    }

    /// Local days since 1970-01-01.
    pub fn days(&self) -> i64 {
        self.days
    }

    /// Minutes since local midnight (0..1440).
    pub fn minute_of_day(&self) -> i64 {
        self.minute_of_day
    }

    /// The local year.
    pub fn year(&self) -> i64 {
        self.year
    }

    /// The local month, 1..=12.
    pub fn month(&self) -> i64 {
        self.month
    }

    /// Months since January of year 0 (`year * 12 + month - 1`).
    pub fn months(&self) -> i64 {
        self.year.saturating_mul(12).saturating_add(self.month - 1)
    }
}

/// (year, month) of a day count since 1970-01-01.
fn year_month(days: i64) -> (i64, i64) {
    let cycles = days.div_euclid(DAYS_PER_400_YEARS);
    let rest = days.rem_euclid(DAYS_PER_400_YEARS);
    // `rest` lies within 1970..2370, always in jiff's range.
    let epoch = Date::constant(1970, 1, 1);
    let date = epoch
        .checked_add(jiff::Span::new().days(rest))
        .unwrap_or(epoch);
    (
        i64::from(date.year()).saturating_add(cycles.saturating_mul(400)),
        i64::from(date.month()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Howard Hinnant's `civil_from_days`, the algorithm this module replaced: the reference.
    fn hinnant(z: i64) -> (i64, i64) {
        let z = z + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let m = if mp < 10 { mp + 3 } else { mp - 9 };
        (yoe + era * 400 + i64::from(m <= 2), m)
    }

    #[test]
    fn year_month_matches_the_reference() {
        let probes = (-800_000..800_000).step_by(97).chain([
            -1,
            0,
            1,
            59,
            60,
            11_016,
            2_932_896,
            -719_468,
            10_000_000_000,
        ]);
        for d in probes {
            assert_eq!(year_month(d), hinnant(d), "day {d}");
        }
    }

    #[test]
    fn extremes_do_not_panic() {
        for s in [i64::MIN, i64::MAX, 0] {
            let _ = LocalTime::at(s, &TimeZone::UTC);
        }
    }
}
