//! `datavault diff DATASET@A DATASET@B|DATASET [--json]`: what changed between two snapshots,
//! or between a snapshot and the live filesystem, like `zfs diff` (without running it).
//!
//! Human output: one line per change, `zfs diff -F` style: the change (`+` added, `-`
//! removed, `M` modified, `R` renamed), the file type (`F` file, `/` directory, `@` symlink,
//! `|` pipe, `=` socket, `B`/`C` devices) and the path from the dataset's root (`/` is the
//! root; `R` shows `old -> new`; a link count change is shown as `(+1)`). With `--json`: one
//! object with `from`, `to` and `changes` (each with `change`, `type`, `path`, `new_path`,
//! `object`, `links_delta`, `linked`, `unlinked`, `attributes`). While walking a big tree, a
//! progress line is shown on stderr when it is a terminal and `--json` is not given.

use std::io::Write;
use std::time::{Duration, Instant};

use flocker_core::diff::{Change, Diff, Phase, Progress, Target, slash};
use flocker_core::error::Error;
use flocker_core::name::{DatasetName, SnapshotName};
use serde_json::json;

/// `println!` that ignores a closed stdout (`datavault … | head`) instead of panicking.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

use crate::args::DiffArgs;
use crate::common::{Failure, json};

/// `datavault diff DATASET@A DATASET@B|DATASET`
pub fn diff(f: &DiffArgs) -> Result<(), Failure> {
    let (from, to) = (&f.from, &f.to);
    // A malformed name is bad input: exit 2, nothing read.
    let bad = |e: flocker_core::name::NameError| Failure::Invalid(Error::from(e).to_string());
    let from = SnapshotName::new(from).map_err(bad)?;
    let to = if to.contains('@') {
        Target::Snapshot(SnapshotName::new(to).map_err(bad)?)
    } else {
        Target::Live(DatasetName::new(to).map_err(bad)?)
    };
    let show = flocker_examples::show_progress(f.json);
    let mut bar = ProgressLine::new(show);
    let changes = Diff::new().on_progress(|p| bar.update(p)).run(&from, &to);
    bar.clear();
    let changes = changes?;
    if f.json {
        let list: Vec<_> = changes.iter().map(change_json).collect();
        out!(
            "{}",
            json(&json!({
                "from": from.as_str(),
                "to": to.to_string(),
                "changes": list,
            }))
        );
    } else {
        let mut out = std::io::stdout().lock();
        for c in &changes {
            let mut line = format!(
                "{}\t{}\t{}",
                c.kind.symbol(),
                c.file_type.letter(),
                c.display_path()
            );
            if c.links_delta != 0 {
                line.push_str(&format!("\t({:+})", c.links_delta));
            }
            let _ = writeln!(out, "{line}");
        }
    }
    Ok(())
}

fn change_json(c: &Change) -> serde_json::Value {
    json!({
        "change": c.kind.as_str(),
        "type": c.file_type.as_str(),
        "path": slash(&c.path),
        "new_path": c.new_path.as_deref().map(slash),
        "object": c.object,
        "links_delta": c.links_delta,
        "linked": c.linked.iter().map(|p| slash(p)).collect::<Vec<_>>(),
        "unlinked": c.unlinked.iter().map(|p| slash(p)).collect::<Vec<_>>(),
        "attributes": c.attributes.iter().map(|a| a.as_str()).collect::<Vec<_>>(),
    })
}

/// A one-line progress indication on stderr, redrawn at most a few times a second.
struct ProgressLine {
    enabled: bool,
    last: Option<Instant>,
    drawn: bool,
}

impl ProgressLine {
    fn new(enabled: bool) -> Self {
        ProgressLine {
            enabled,
            last: None,
            drawn: false,
        }
    }

    fn update(&mut self, p: &Progress) {
        if !self.enabled {
            return;
        }
        let now = Instant::now();
        if self
            .last
            .is_some_and(|t| now.duration_since(t) < Duration::from_millis(200))
            && p.phase != Phase::Compare
        {
            return;
        }
        self.last = Some(now);
        let what = match p.phase {
            Phase::ScanFrom => format!("scanning the older snapshot: {} entries", p.entries),
            Phase::ScanTo => format!("scanning the newer side: {} entries", p.entries),
            Phase::Compare => format!("comparing {} entries", p.entries),
            Phase::Done => return self.clear(),
        };
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[2Kdatavault diff: {what}");
        let _ = err.flush();
        self.drawn = true;
    }

    fn clear(&mut self) {
        if self.drawn {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
            self.drawn = false;
        }
    }
}
