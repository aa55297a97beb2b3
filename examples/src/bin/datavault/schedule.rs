//! When a dataset falls due: the library's [`flocker_core::vault::schedule`] (`every`
//! slots aligned to the Unix epoch, `at` wall-clock times with daylight saving time).

use flocker_core::retention::TimeZone;
pub use flocker_core::vault::schedule::Schedule;
use flocker_examples::prune::error_line;

/// Parses `at`: one or more wall-clock times `HH:MM` (or `HH:MM:SS`), separated by commas.
/// Err: one line saying what is wrong.
pub fn parse_at(s: &str, tz: &TimeZone) -> Result<Schedule, String> {
    Schedule::at(s, tz).map_err(|e| error_line(&e))
}
