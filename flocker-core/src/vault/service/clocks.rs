//! The service's clocks: the system's, and two for demos and tests (`datavault run
//! --clock-start ... --clock-speed N | --clock-step D`): one that runs N times as fast as
//! real time, and one that moves only when told to. Snapshot names carry the clock's time and
//! retention plans with it, so history built in seconds thins as the hours it stands for.

use std::time::{Duration, Instant};

use time::OffsetDateTime;

use super::Clock;
use crate::error::{Error, ErrorKind, Result};

/// The operation of the [`ErrorKind::InvalidArgument`] error [`ScaledClock::new`] returns.
pub const OP_CLOCK_SPEED: &str = "set the clock speed";

/// The system's wall clock, in UTC.
///
/// ```
/// use flocker_core::vault::service::{Clock, SystemClock};
///
/// let before = time::OffsetDateTime::now_utc();
/// assert!(SystemClock.now() >= before);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// A clock that starts at a given instant when it is made and runs a number of times as fast
/// as real time (`--clock-start T --clock-speed N`).
///
/// ```
/// use flocker_core::vault::service::{Clock, ScaledClock};
/// use time::macros::datetime;
///
/// let start = datetime!(2026-01-01 00:00 UTC);
/// let clock = ScaledClock::new(start, 3600.0)?; // an hour per second
/// assert!(clock.now() >= start);
/// assert!(ScaledClock::new(start, 0.0).is_err());
/// # Ok::<(), flocker_core::error::Error>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct ScaledClock {
    start: OffsetDateTime,
    began: Instant,
    speed: f64,
}

impl ScaledClock {
    /// The fastest speed accepted.
    pub const MAX_SPEED: f64 = 1e7;

    /// A clock at `start` now, running `speed` times as fast as real time. Err
    /// ([`ErrorKind::InvalidArgument`], [`OP_CLOCK_SPEED`]): `speed` is not a number in
    /// (0, [`ScaledClock::MAX_SPEED`]].
    pub fn new(start: OffsetDateTime, speed: f64) -> Result<ScaledClock> {
        if !(speed.is_finite() && speed > 0.0 && speed <= Self::MAX_SPEED) {
            return Err(Error::new(ErrorKind::InvalidArgument, OP_CLOCK_SPEED)
                .with_detail(format!("{speed} is not a number in (0, 1e7]")));
        }
        Ok(ScaledClock {
            start,
            began: Instant::now(),
            speed,
        })
    }

    /// The instant it started at.
    pub fn start(&self) -> OffsetDateTime {
        self.start
    }

    /// How many times as fast as real time it runs.
    pub fn speed(&self) -> f64 {
        self.speed
    }

    /// The real time it takes this clock to go from `from` to `to` (zero when `to` is not
    /// after `from`; at most a year).
    pub fn real_time(&self, from: OffsetDateTime, to: OffsetDateTime) -> Duration {
        let secs = (to - from).as_seconds_f64() / self.speed;
        Duration::from_secs_f64(secs.clamp(0.0, 365.0 * 86_400.0))
    }
}

impl Clock for ScaledClock {
    fn now(&self) -> OffsetDateTime {
        let secs = self.began.elapsed().as_secs_f64() * self.speed;
        self.start + time::Duration::seconds_f64(secs.min(1e12))
    }
}

/// A clock that stands still until [`SteppedClock::advance`] moves it by its step
/// (`--clock-start T --clock-step D`: one step after each cycle, no sleeping; deterministic).
///
/// ```
/// use flocker_core::vault::service::{Clock, SteppedClock};
/// use time::macros::datetime;
///
/// let mut clock = SteppedClock::new(datetime!(2026-01-01 00:00 UTC), std::time::Duration::from_secs(900));
/// clock.advance();
/// assert_eq!(clock.now(), datetime!(2026-01-01 00:15 UTC));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SteppedClock {
    t: OffsetDateTime,
    step: Duration,
}

impl SteppedClock {
    /// A clock at `start` that moves by `step` at each [`SteppedClock::advance`].
    pub fn new(start: OffsetDateTime, step: Duration) -> SteppedClock {
        SteppedClock { t: start, step }
    }

    /// Its step.
    pub fn step(&self) -> Duration {
        self.step
    }

    /// Moves it on by its step.
    pub fn advance(&mut self) {
        self.t += self.step;
    }
}

impl Clock for SteppedClock {
    fn now(&self) -> OffsetDateTime {
        self.t
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn scaled_clock_bounds_and_pace() {
        let start = datetime!(2026-01-01 00:00 UTC);
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY, 1.1e7] {
            let e = ScaledClock::new(start, bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{bad}");
            assert_eq!(e.operation(), OP_CLOCK_SPEED);
        }
        let c = ScaledClock::new(start, 60.0).unwrap();
        assert_eq!((c.start(), c.speed()), (start, 60.0));
        assert!(c.now() >= start && c.now() < start + time::Duration::HOUR);
        let to = start + time::Duration::minutes(2);
        assert_eq!(c.real_time(start, to), Duration::from_secs(2));
        assert_eq!(c.real_time(to, start), Duration::ZERO);
    }

    #[test]
    fn stepped_clock_moves_only_when_told() {
        let start = datetime!(2026-01-01 00:00 UTC);
        let mut c = SteppedClock::new(start, Duration::from_secs(60));
        assert_eq!(c.now(), start);
        assert_eq!(c.now(), start);
        c.advance();
        c.advance();
        assert_eq!(c.now(), datetime!(2026-01-01 00:02 UTC));
        assert_eq!(c.step(), Duration::from_secs(60));
    }
}
