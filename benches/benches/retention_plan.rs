//! Planning retention for 1,000,000 snapshots (the budget: under 2 s on one core).
//!
//! Run: `cargo bench -p flocker-benches --bench retention_plan`.

use std::hint::black_box;
use std::time::Duration as StdDuration;

use criterion::{Criterion, criterion_group, criterion_main};
use flocker_core::name::SnapshotName;
use flocker_core::retention::{RetentionPolicy, SnapshotFacts, TimeZone};
use time::{Duration, macros::datetime};

/// One snapshot every 5 minutes for about 9.5 years, with pseudo-random `written`/`used`.
fn snapshots(n: u64) -> Vec<SnapshotFacts> {
    let start = datetime!(2015-01-01 00:00 UTC);
    (0..n)
        .map(|k| {
            let mut s = SnapshotFacts::new(
                SnapshotName::new(format!("tank/home@auto-{k:07}")).expect("a valid name"),
                k.wrapping_mul(0x9E37_79B9_7F4A_7C15),
                1000 + k,
                start + Duration::minutes(5 * k as i64),
            );
            s.written = k.wrapping_mul(2_654_435_761) % (4 << 20);
            s.used = s.written / 2;
            s
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let snaps = snapshots(1_000_000);
    let now = snaps
        .last()
        .map(|s| s.creation())
        .unwrap_or(datetime!(2025-01-01 00:00 UTC));
    let tz = TimeZone::get("Europe/Berlin").expect("bundled tz database");
    let mut group = c.benchmark_group("retention_plan_1M");
    group.sample_size(10);
    group.measurement_time(StdDuration::from_secs(20));
    for (label, text) in [
        ("calendar", "48x1h,30x1d,8x1w,12x1mo,10x1y"),
        (
            "everything",
            "48x1h,30x1d,8x1w,12x1mo,10x1y,grid(1x1h(keep=all)|24x1h|14x1d),within=1d,\
             bursts(for=90d),changes(for=1y,size=4M),min=10,pin=com.example:keep,space=1T",
        ),
    ] {
        let policy: RetentionPolicy = text.parse().expect("valid policy");
        group.bench_function(label, |b| {
            b.iter(|| black_box(policy.plan(black_box(&snaps), now, &tz)))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
