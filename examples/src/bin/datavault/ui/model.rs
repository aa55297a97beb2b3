//! The plain data the TUI shows: what a [`Source`](super::source::Source) reads from the
//! pool, already formatted where the commands format it (`list`'s columns, `diff`'s letters).
//! Nothing here touches ZFS, so rendering and key handling are tested from fixed values.

/// One dataset of the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatasetRow {
    /// The full name (`pool/fs`).
    pub name: String,
    /// Bytes used by the dataset and its snapshots.
    pub used: u64,
    /// Bytes referenced by the live dataset.
    pub referenced: u64,
    /// Where it is mounted, if it is.
    pub mountpoint: Option<String>,
}

/// What a timeline row is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowKind {
    /// A snapshot the retention plan keeps (or no policy applies).
    Kept,
    /// A snapshot the next prune destroys.
    Doomed,
    /// A snapshot the policy does not own (`foreign (kept)`).
    Foreign,
    /// A stash a rollback made (`datavault stash show ID`).
    Stash,
}

impl RowKind {
    /// The one-character mark of the row's first column (readable without colours).
    pub fn mark(self) -> char {
        match self {
            RowKind::Kept => ' ',
            RowKind::Doomed => 'x',
            RowKind::Foreign => 'f',
            RowKind::Stash => 'S',
        }
    }
}

/// One row of a dataset's timeline: a snapshot, or a stash (at its creation time).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineRow {
    /// The full snapshot name, or the stash's ID.
    pub name: String,
    /// What the row is.
    pub kind: RowKind,
    /// Seconds since the epoch: the snapshot's time as `list` shows it, a stash's creation.
    pub time: i64,
    /// Bytes only this snapshot holds (a stash: its dataset's used).
    pub used: u64,
    /// Bytes written since the previous snapshot (`None`: unknown).
    pub written: Option<u64>,
    /// Which rules keep it (`list`'s KEPT BY), or what the stash holds.
    pub kept_by: String,
    /// When it expires (`list`'s EXPIRES: a time, `by count`, `never`, `-`).
    pub expires: String,
}

/// A dataset's snapshots and stashes, oldest first, as `datavault list` plans them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Timeline {
    /// The dataset.
    pub dataset: String,
    /// The policy line (`48x1h,30x1d (--config …)`, or why there is none).
    pub policy: String,
    /// The planning instant (seconds since the epoch).
    pub now: i64,
    /// The rows, oldest first.
    pub rows: Vec<TimelineRow>,
}

impl Timeline {
    /// The snapshot rows' full names, oldest first (stashes left out).
    pub fn snapshots(&self) -> impl Iterator<Item = &TimelineRow> {
        self.rows.iter().filter(|r| r.kind != RowKind::Stash)
    }

    /// The snapshot just before `name` (what its changes are compared with).
    pub fn previous(&self, name: &str) -> Option<&str> {
        let snaps: Vec<&TimelineRow> = self.snapshots().collect();
        let i = snaps.iter().position(|r| r.name == name)?;
        i.checked_sub(1).map(|j| snaps[j].name.as_str())
    }
}

/// One change of a snapshot against the previous one (`datavault diff`'s line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeRow {
    /// `+`, `-`, `M`, `R`.
    pub symbol: char,
    /// `F`, `/`, `@`, ….
    pub file_type: char,
    /// The path from the dataset's root (`old -> new` for a rename).
    pub path: String,
}

/// One entry of the snapshot's file browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrowserEntry {
    /// The name in its directory.
    pub name: String,
    /// The path from the dataset's root (no leading `/`).
    pub path: String,
    /// Whether it is a directory (Enter opens it).
    pub dir: bool,
    /// `-rw-r--r--`.
    pub mode: String,
    /// Bytes.
    pub size: u64,
    /// Modification time, seconds since the epoch.
    pub mtime: i64,
}

/// One distinct version of a file, oldest first, the live file last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionRow {
    /// The full names of the snapshots that hold it, oldest first.
    pub snapshots: Vec<String>,
    /// Whether the live file is this version.
    pub live: bool,
    /// Bytes.
    pub size: u64,
    /// Modification time, seconds since the epoch.
    pub mtime: i64,
}

/// One line of a text diff between two versions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiffLine {
    /// In both.
    Same(String),
    /// Only in the older version.
    Removed(String),
    /// Only in the newer version.
    Added(String),
    /// A note (`binary file`, `identical`, `… more lines`).
    Note(String),
}

/// A file's versions and the preview of the differences between two of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Versions {
    /// The snapshot the file was picked in.
    pub snapshot: String,
    /// The file's path from the dataset's root.
    pub path: String,
    /// The versions, oldest first.
    pub rows: Vec<VersionRow>,
    /// The preview: which two versions (older, newer) and the lines.
    pub preview: Option<((usize, usize), Vec<DiffLine>)>,
}

/// A rollback's plan as the dialog shows it (the `RollbackPlan`'s text, as `datavault
/// rollback` prints it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanSummary {
    /// The dataset rolled back.
    pub dataset: String,
    /// The target snapshot.
    pub target: String,
    /// The plan's text, one entry per line.
    pub lines: Vec<String>,
    /// `None`: runnable; else why it is refused (nothing changes).
    pub refused: Option<String>,
}

/// A file restore waiting for confirmation: `path` from `snapshot` over the live file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreRequest {
    /// The snapshot that holds the version to restore.
    pub snapshot: String,
    /// The file's path from the dataset's root.
    pub path: String,
}
