//! Metrics of one run: counts, restore-point precision (gap/age), burst states kept.

use super::{Run, Scenario};

/// The windows over which gap/age is summarised (name, seconds).
pub const WINDOWS: [(&str, i64); 4] = [
    ("hour", 3600),
    ("day", 86_400),
    ("month", 30 * 86_400),
    ("year", 365 * 86_400),
];

/// Summary of one policy over one scenario.
#[derive(Debug, Clone)]
pub struct Metrics {
    /// Policy name.
    pub policy: String,
    /// Snapshots alive at the end.
    pub kept: usize,
    /// Most snapshots alive at once.
    pub max_kept: usize,
    /// Snapshots created then destroyed.
    pub destroyed: usize,
    /// Times the newest snapshot was destroyed.
    pub newest_destroyed: usize,
    /// Per window: (worst, median) of gap/age over the restore points created in the window;
    /// `f64::INFINITY` when no kept snapshot is at or before a point; NaN when the window has
    /// no point.
    pub ratios: [(f64, f64); 4],
    /// Edit bursts whose final state is still restorable, and bursts in all (if the scenario
    /// has bursts).
    pub bursts: Option<(usize, usize)>,
}

/// Computes the metrics at the end of the scenario (T = true time of the last snapshot).
///
/// A *restore point* is the true instant x at which a snapshot was created: the finest state a
/// user could ever have gone back to. Its gap is x minus the true time of the latest kept
/// snapshot at or before x (0 if its own snapshot survived), its age is T − x; the ratio
/// gap/age is scale-free (losing an hour a day ago weighs like losing a month a year ago).
pub fn measure(policy: String, run: &Run, scenario: &Scenario) -> Metrics {
    let end = run.created.last().copied().unwrap_or(0);
    let kept_t: Vec<i64> = {
        let mut v: Vec<i64> = run.kept.iter().map(|s| s.true_t).collect();
        v.sort_unstable();
        v
    };
    let latest_at_or_before = |x: i64| -> Option<i64> {
        let n = kept_t.partition_point(|&t| t <= x);
        if n == 0 { None } else { Some(kept_t[n - 1]) }
    };
    let mut ratios = [(f64::NAN, f64::NAN); 4];
    for (w, &(_, len)) in WINDOWS.iter().enumerate() {
        let mut r: Vec<f64> = run
            .created
            .iter()
            .filter(|&&x| end - x > 0 && end - x <= len)
            .map(|&x| match latest_at_or_before(x) {
                Some(k) => (x - k) as f64 / (end - x) as f64,
                None => f64::INFINITY,
            })
            .collect();
        if r.is_empty() {
            continue;
        }
        r.sort_by(|a, b| a.total_cmp(b));
        ratios[w] = (r[r.len() - 1], r[r.len() / 2]);
    }
    let bursts = if scenario.bursts.is_empty() {
        None
    } else {
        let done: Vec<&(i64, i64)> = scenario.bursts.iter().filter(|b| b.1 <= end).collect();
        let kept = done
            .iter()
            .enumerate()
            .filter(|(i, b)| {
                let next = done.get(i + 1).map_or(end + 1, |n| n.0);
                let from = kept_t.partition_point(|&t| t < b.1);
                kept_t.get(from).is_some_and(|&t| t < next)
            })
            .count();
        Some((kept, done.len()))
    };
    Metrics {
        policy,
        kept: run.kept.len(),
        max_kept: run.max_kept,
        destroyed: run.destroyed,
        newest_destroyed: run.newest_destroyed,
        ratios,
        bursts,
    }
}

/// -1 if `a` is better (smaller) than `b`, 1 if worse, 0 if equal (within 1e-9 or both ∞/NaN).
pub fn compare_ratio(a: f64, b: f64) -> i32 {
    if a.is_nan() || b.is_nan() || a == b || (a - b).abs() < 1e-9 {
        0
    } else if a < b {
        -1
    } else {
        1
    }
}

/// (wins, ties, losses) of `ours` against `peer` over the ratio metrics and burst states.
pub fn score(ours: &Metrics, peer: &Metrics) -> (u32, u32, u32) {
    let mut s = (0, 0, 0);
    let mut add = |c: i32| match c {
        -1 => s.0 += 1,
        0 => s.1 += 1,
        _ => s.2 += 1,
    };
    for w in 0..4 {
        add(compare_ratio(ours.ratios[w].0, peer.ratios[w].0));
        add(compare_ratio(ours.ratios[w].1, peer.ratios[w].1));
    }
    if let (Some(a), Some(b)) = (ours.bursts, peer.bursts) {
        add(b.0.cmp(&a.0) as i32);
    }
    s
}

/// Formats a ratio for the table.
pub fn fmt_ratio(r: f64) -> String {
    if r.is_nan() {
        "-".into()
    } else if r.is_infinite() {
        "lost".into()
    } else {
        format!("{r:.3}")
    }
}
