//! The space target: even thinning of the kept history.
//!
//! When the snapshots the rules keep hold more than the budget, candidates (kept by a rule,
//! not protected by a safety rule, not one of the `min=` newest, `used` above 0: destroying
//! one that holds nothing by the plan's count would lose history and free nothing) are
//! destroyed one at a time,
//! always the one whose loss leaves the smallest gap/age ratio, until the budget is met or no
//! candidate is left.
//!
//! **The metric.** Positions are creation times; `now` counts at most the idle cap past the
//! newest snapshot (a machine asleep does not age its history). Not active time: once
//! thinned, consecutive snapshots are far apart by design, and capping those gaps as if the
//! machine had slept made old history look cheap to thin, step after step. For two consecutive
//! kept snapshots `a` older than `b`:
//!
//! ```text
//! gap/age = (b - a) / (now - a)
//! ```
//!
//! the share of `a`'s age that the gap spans. It lies in `[0, 1]`, is finite even when `b` is
//! at `now`, and equals `r / (1 + r)` where `r = (b - a) / (now - b)` is the simulator's
//! restore-point ratio (the worst point of the gap, just before `b`), so minimising the worst
//! of one minimises the worst of the other. Destroying a candidate merges its two gaps into
//! one whose ratio is at least each of theirs; the worst ratio of the history after the loss
//! is the larger of the worst before and the merged gap's. Destroying the oldest kept
//! snapshot loses every state before its successor: that counts as worse than any gap, so
//! the oldest goes only when it is the last candidate left. Ties (equal ratios) go to the
//! newer candidate first.
//!
//! A binary heap holds one entry per candidate, keyed by the ratio of the gap its loss would
//! leave; a loss changes only its two neighbours' keys, which are pushed again (stale entries
//! are skipped when popped): O(n log n) for n kept snapshots.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// What one loss did, for the snapshot's explanation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Loss {
    /// Position (into the time-ordered, not future-dated snapshots) of the destroyed one.
    pub pos: usize,
    /// It was the oldest kept snapshot: the states before its successor are lost.
    pub oldest: bool,
    /// gap/age of the gap its loss left (1 when `oldest`).
    pub ratio: f64,
    /// The worst gap/age over the kept history after its loss (1 once the oldest is lost).
    pub worst: f64,
}

/// One heap entry: smaller is destroyed first.
#[derive(Debug, Clone, Copy)]
struct Entry {
    oldest: bool,
    ratio: f64,
    pos: usize,
    stamp: u32,
}

impl Entry {
    fn rank(&self) -> (bool, f64, usize) {
        (self.oldest, self.ratio, self.pos)
    }
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    /// Reversed for `BinaryHeap` (a max-heap): the entry to destroy first is the greatest.
    /// Not oldest before oldest, then the smaller ratio, then the newer (larger position).
    fn cmp(&self, other: &Self) -> Ordering {
        let (a, b) = (self.rank(), other.rank());
        b.0.cmp(&a.0)
            .then_with(|| b.1.total_cmp(&a.1))
            .then_with(|| a.2.cmp(&b.2))
            .then_with(|| self.stamp.cmp(&other.stamp))
    }
}

/// gap/age of the gap from `a` to `b` (active times) at active time `now`.
pub(super) fn gap_ratio(a: i128, b: i128, now: i128) -> f64 {
    let gap = (b - a).max(0);
    let age = (now - a).max(gap).max(1);
    gap as f64 / age as f64
}

/// The worst gap/age between consecutive kept positions (`act`: active time per position).
pub(super) fn worst_ratio(kept: &[bool], act: &[i128], now: i128) -> f64 {
    let mut worst = 0.0f64;
    let mut prev: Option<usize> = None;
    for p in (0..kept.len()).filter(|&p| kept[p]) {
        if let Some(a) = prev {
            worst = worst.max(gap_ratio(act[a], act[p], now));
        }
        prev = Some(p);
    }
    worst
}

/// Thins the kept positions evenly until `over(freed)` is false.
///
/// `kept[p]`: kept by the rules or a safety rule; `candidate[p]`: may be destroyed (implies
/// `kept`); `act[p]`: active time, non-decreasing in `p`; `now`: active time of `now`;
/// `used[p]`: bytes the destruction is counted to free; `over(bytes freed so far)`: whether the
/// budget is still exceeded. Returns the losses in the order they were decided; `kept` is
/// updated.
pub(super) fn thin(
    kept: &mut [bool],
    candidate: &[bool],
    act: &[i128],
    now: i128,
    used: &[u64],
    over: impl Fn(u128) -> bool,
) -> Vec<Loss> {
    let m = kept.len();
    let mut freed: u128 = 0;
    let mut losses = Vec::new();
    if !over(freed) {
        return losses;
    }
    // Doubly linked list over the kept positions.
    let mut prev: Vec<Option<usize>> = vec![None; m];
    let mut next: Vec<Option<usize>> = vec![None; m];
    let mut last: Option<usize> = None;
    for p in (0..m).filter(|&p| kept[p]) {
        prev[p] = last;
        if let Some(l) = last {
            next[l] = Some(p);
        }
        last = Some(p);
    }
    let mut stamp = vec![0u32; m];
    let entry = |p: usize, prev: &[Option<usize>], next: &[Option<usize>], stamp: u32| {
        let (oldest, ratio) = match (prev[p], next[p]) {
            (None, _) => (true, 1.0),
            (Some(a), Some(b)) => (false, gap_ratio(act[a], act[b], now)),
            // The newest kept one is never a candidate (it is protected); if it were, its loss
            // would leave the gap from its predecessor to now.
            (Some(a), None) => (false, gap_ratio(act[a], now, now)),
        };
        Entry {
            oldest,
            ratio,
            pos: p,
            stamp,
        }
    };
    let mut heap: BinaryHeap<Entry> = (0..m)
        .filter(|&p| kept[p] && candidate[p])
        .map(|p| entry(p, &prev, &next, 0))
        .collect();
    let mut worst = worst_ratio(kept, act, now);
    while over(freed) {
        let Some(e) = heap.pop() else {
            break;
        };
        let p = e.pos;
        if !kept[p] || e.stamp != stamp[p] {
            continue; // stale
        }
        kept[p] = false;
        freed += u128::from(used[p]);
        worst = if e.oldest { 1.0 } else { worst.max(e.ratio) };
        losses.push(Loss {
            pos: p,
            oldest: e.oldest,
            ratio: e.ratio,
            worst,
        });
        let (a, b) = (prev[p], next[p]);
        if let Some(a) = a {
            next[a] = b;
        }
        if let Some(b) = b {
            prev[b] = a;
        }
        for q in [a, b].into_iter().flatten() {
            if candidate[q] {
                stamp[q] = stamp[q].wrapping_add(1);
                heap.push(entry(q, &prev, &next, stamp[q]));
            }
        }
    }
    losses
}

/// Oldest-first over the same inputs (the planner's behaviour before even thinning), for
/// comparisons in tests and the simulator.
#[cfg(test)]
pub(super) fn oldest_first(
    kept: &mut [bool],
    candidate: &[bool],
    used: &[u64],
    over: impl Fn(u128) -> bool,
) {
    let mut freed: u128 = 0;
    for p in 0..kept.len() {
        if !over(freed) {
            break;
        }
        if kept[p] && candidate[p] {
            kept[p] = false;
            freed += u128::from(used[p]);
        }
    }
}
