//! Where the TUI's data comes from and where its actions go: the [`Source`] trait. The real
//! one (`live.rs`) calls flocker-core as the commands do; the tests use a fake.

use super::model::{
    BrowserEntry, ChangeRow, DatasetRow, DiffLine, PlanSummary, RestoreRequest, Timeline,
    VersionRow,
};

/// A failure as the status line shows it: one sentence.
pub type Outcome<T> = Result<T, String>;

/// What the TUI reads and does. Every method is one library workflow.
pub trait Source {
    /// The datasets to choose from.
    fn datasets(&mut self) -> Outcome<Vec<DatasetRow>>;
    /// A dataset's snapshots and stashes with the retention plan (`datavault list`).
    fn timeline(&mut self, dataset: &str) -> Outcome<Timeline>;
    /// What changed in `snapshot` against `previous` (`datavault diff`).
    fn changes(&mut self, previous: &str, snapshot: &str) -> Outcome<Vec<ChangeRow>>;
    /// The entries of `dir` (from the dataset's root, `""` for it) in `snapshot`.
    fn browse(&mut self, snapshot: &str, dir: &str) -> Outcome<Vec<BrowserEntry>>;
    /// The distinct versions of `path` (from the root of `snapshot`'s dataset), oldest first.
    fn versions(&mut self, snapshot: &str, path: &str) -> Outcome<Vec<VersionRow>>;
    /// The line differences between versions `older` and `newer` of the last
    /// [`versions`](Source::versions) listing.
    fn preview(&mut self, older: usize, newer: usize) -> Outcome<Vec<DiffLine>>;
    /// Restores a file over the live one after a guard snapshot; the line saying what was
    /// done (with the guard's name).
    fn restore(&mut self, r: &RestoreRequest) -> Outcome<String>;
    /// The plan of a rollback to `snapshot` (nothing changes).
    fn plan_rollback(&mut self, snapshot: &str) -> Outcome<PlanSummary>;
    /// Carries out the plan last made for `plan.target`; the line saying what was done.
    fn rollback(&mut self, plan: &PlanSummary) -> Outcome<String>;
}
