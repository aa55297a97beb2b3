//! Host tests of the engine's decisions: when a dataset is checked, the backoff, the next
//! due instant, and a cycle whose listing fails (no ZFS needed: the dataset is never found).

use std::cell::Cell;

use time::macros::datetime;

use super::*;

fn hourly() -> Schedule {
    Schedule::every(Duration::from_secs(3600))
}

fn spec(name: &str, schedule: Schedule) -> Spec {
    Spec::new(
        DatasetName::new(name).unwrap(),
        schedule,
        "min=1".parse().unwrap(),
    )
}

/// Records the events by kind; stops when asked to.
#[derive(Default)]
struct Recorder {
    seen: Vec<String>,
    stop: bool,
}

impl Host for Recorder {
    fn event(&mut self, _now: OffsetDateTime, e: &Event<'_>) {
        self.seen.push(match e {
            Event::Failed {
                index,
                step,
                failures,
                retry_at,
                ..
            } => format!("failed {index} {step:?} {failures} {retry_at}"),
            Event::Served { index } => format!("served {index}"),
            other => format!("{other:?}"),
        });
    }

    fn stopping(&mut self) -> bool {
        self.stop
    }
}

#[test]
fn backoff_doubles_from_a_minute_capped_by_period_and_next_slot() {
    let now = datetime!(2026-12-05 11:00 UTC);
    let s = hourly();
    let waits: Vec<i64> = (1..=8)
        .map(|n| (retry_at(&s, n, now) - now).whole_seconds())
        .collect();
    assert_eq!(waits, [60, 120, 240, 480, 960, 1920, 3600, 3600]);
    // Near the end of a slot, the next slot comes first.
    let late = datetime!(2026-12-05 11:59:30 UTC);
    assert_eq!(retry_at(&s, 1, late), datetime!(2026-12-05 12:00 UTC));
    // A short period caps the wait.
    let quarter = Schedule::every(Duration::from_secs(90));
    assert_eq!(
        retry_at(&quarter, 5, datetime!(2026-12-05 11:00:10 UTC)),
        datetime!(2026-12-05 11:01:30 UTC)
    );
    // Many failures do not overflow; 0 counts as 1.
    assert_eq!(retry_at(&s, u32::MAX, now), datetime!(2026-12-05 12:00 UTC));
    assert_eq!(retry_at(&s, 0, now), datetime!(2026-12-05 11:01 UTC));
}

#[test]
fn a_dataset_is_checked_once_a_slot_or_when_its_retry_comes() {
    let now = datetime!(2026-12-05 11:30 UTC);
    let slot = hourly().slot_start(now).unix_timestamp();
    let fresh = Tracked::default();
    assert!(awaits_check(&fresh, slot, now));
    let served = Tracked {
        served: Some(slot),
        ..Tracked::default()
    };
    assert!(!awaits_check(&served, slot, now));
    assert!(awaits_check(&served, slot + 3600, now));
    let failed = Tracked {
        retry_at: Some(now + time::Duration::minutes(1)),
        failures: 1,
        ..Tracked::default()
    };
    assert!(!awaits_check(&failed, slot, now));
    assert!(awaits_check(
        &failed,
        slot,
        now + time::Duration::minutes(1)
    ));
}

#[test]
fn next_due_is_the_earliest_slot_or_retry() {
    let now = datetime!(2026-12-05 11:30 UTC);
    let e = Engine::new(
        vec![
            spec("p/a", hourly()),
            spec("p/b", Schedule::every(Duration::from_secs(900))),
        ],
        Settings::new(TimeZone::UTC),
    );
    assert_eq!(e.next_due(now), datetime!(2026-12-05 11:45 UTC));
    let none = Engine::new(Vec::new(), Settings::new(TimeZone::UTC));
    assert_eq!(none.next_due(now), now + time::Duration::HOUR);
    assert_eq!(e.failures(5), 0);
    assert_eq!(e.retry_at(5), None);
}

#[test]
fn a_failing_dataset_backs_off_on_its_own() {
    // The dataset does not exist (and without ZFS nothing can be listed): every check fails.
    let mut e = Engine::new(
        vec![spec("nonexistent-pool-w15/fs", hourly())],
        Settings::new(TimeZone::UTC),
    );
    let t = Cell::new(datetime!(2026-12-05 11:00 UTC));
    let clock = || t.get();
    let mut host = Recorder::default();
    e.run_cycle(&clock, &mut host);
    assert_eq!(e.cycles(), 1);
    assert_eq!(
        host.seen,
        ["failed 0 Listing 1 2026-12-05 11:01:00.0 +00:00:00"]
    );
    assert_eq!(e.failures(0), 1);
    // The first cycle prunes only the datasets that could be listed: none here.
    assert_eq!(e.next_due(t.get()), datetime!(2026-12-05 11:01 UTC));

    // Before the retry: not checked again.
    host.seen.clear();
    t.set(datetime!(2026-12-05 11:00:30 UTC));
    e.run_cycle(&clock, &mut host);
    assert!(host.seen.is_empty(), "{:?}", host.seen);

    // At the retry: checked, and the wait doubles.
    t.set(datetime!(2026-12-05 11:01 UTC));
    e.run_cycle(&clock, &mut host);
    assert_eq!(
        host.seen,
        ["failed 0 Listing 2 2026-12-05 11:03:00.0 +00:00:00"]
    );
    assert_eq!(e.retry_at(0), Some(datetime!(2026-12-05 11:03 UTC)));
}

#[test]
fn a_stop_ends_the_cycle_between_steps() {
    let mut e = Engine::new(
        vec![spec("nonexistent-pool-w15/fs", hourly())],
        Settings::new(TimeZone::UTC),
    );
    let clock = || datetime!(2026-12-05 11:00 UTC);
    let mut host = Recorder {
        stop: true,
        ..Recorder::default()
    };
    e.run_cycle(&clock, &mut host);
    // Checking what is due is one step; no snapshot or prune follows.
    assert_eq!(host.seen.len(), 1, "{:?}", host.seen);
}
