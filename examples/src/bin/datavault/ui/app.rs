//! The TUI's state and its key handling: pure transitions of [`App`], which asks a
//! [`Source`] for data and actions. No terminal here (`mod.rs` feeds the keys, `render.rs`
//! draws the state).
//!
//! Keys: arrows/`j`/`k` move, Enter opens, Esc (or Left/Backspace in the file browser) goes
//! back, Tab switches between a snapshot's changes and its files, `d`/`f` open a snapshot on
//! its changes/files, `r` restores the selected file or version (guarded; asks first), `R`
//! plans a rollback to the selected snapshot and asks, `m` marks a version to compare with,
//! `q` quits (in a dialog it answers no).

use super::model::{
    BrowserEntry, ChangeRow, DatasetRow, PlanSummary, RestoreRequest, RowKind, Timeline, Versions,
};
use super::source::Source;

/// A key, from the terminal's events (`mod.rs`) or a test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Up,
    Down,
    PageUp,
    PageDown,
    Home,
    End,
    Enter,
    Esc,
    Tab,
    Left,
    Backspace,
    Char(char),
}

/// Which screen is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Datasets,
    Timeline,
    Snapshot,
    Versions,
}

/// The two halves of the snapshot screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    Changes,
    Files,
}

/// A selected snapshot: its changes against the previous one and a file browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotView {
    pub name: String,
    pub previous: Option<String>,
    pub tab: Tab,
    /// The changes, or why there are none to show.
    pub changes: Result<Vec<ChangeRow>, String>,
    pub changes_at: usize,
    /// The browsed directory (from the dataset's root, `""` for it).
    pub dir: String,
    pub entries: Vec<BrowserEntry>,
    pub entries_at: usize,
}

/// A question waiting for y/n.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dialog {
    /// A rollback's plan (refused plans only show why, any key closes them).
    Rollback(PlanSummary),
    /// A guarded restore of a file.
    Restore(RestoreRequest),
}

/// The whole state of the TUI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct App {
    pub view: View,
    pub datasets: Vec<DatasetRow>,
    pub datasets_at: usize,
    pub timeline: Timeline,
    pub timeline_at: usize,
    pub snapshot: Option<SnapshotView>,
    pub versions: Versions,
    pub versions_at: usize,
    /// A version marked to compare the selected one with.
    pub mark: Option<usize>,
    pub dialog: Option<Dialog>,
    /// The status line: what was done, or what failed.
    pub status: String,
    pub quit: bool,
}

/// `at` moved by `delta` within `len` rows.
fn moved(at: usize, delta: isize, len: usize) -> usize {
    if len == 0 {
        return 0;
    }
    at.saturating_add_signed(delta).min(len - 1)
}

/// A list move for a key, if it is one.
fn delta(key: Key) -> Option<isize> {
    Some(match key {
        Key::Up | Key::Char('k') => -1,
        Key::Down | Key::Char('j') => 1,
        Key::PageUp => -10,
        Key::PageDown => 10,
        Key::Home => isize::MIN / 2,
        Key::End => isize::MAX / 2,
        _ => return None,
    })
}

impl App {
    /// The first screen: the datasets `source` lists (none is not an error).
    pub fn new(source: &mut dyn Source) -> App {
        let mut app = App {
            view: View::Datasets,
            datasets: Vec::new(),
            datasets_at: 0,
            timeline: Timeline::default(),
            timeline_at: 0,
            snapshot: None,
            versions: Versions::default(),
            versions_at: 0,
            mark: None,
            dialog: None,
            status: String::new(),
            quit: false,
        };
        match source.datasets() {
            Ok(d) if d.is_empty() => app.status = "no datasets found".into(),
            Ok(d) => app.datasets = d,
            Err(e) => app.fail(e),
        }
        app
    }

    fn fail(&mut self, e: String) {
        self.status = format!("error: {e}");
    }

    /// Handles one key.
    pub fn key(&mut self, key: Key, source: &mut dyn Source) {
        if self.dialog.is_some() {
            return self.answer(key, source);
        }
        if key == Key::Char('q') {
            self.quit = true;
            return;
        }
        match self.view {
            View::Datasets => self.datasets_key(key, source),
            View::Timeline => self.timeline_key(key, source),
            View::Snapshot => self.snapshot_key(key, source),
            View::Versions => self.versions_key(key, source),
        }
    }

    /// A key while a dialog is open: `y` does it, anything else cancels.
    fn answer(&mut self, key: Key, source: &mut dyn Source) {
        let Some(d) = self.dialog.take() else { return };
        let yes = matches!(key, Key::Char('y' | 'Y'));
        match d {
            Dialog::Rollback(p) if p.refused.is_some() => self.status = "nothing changed".into(),
            Dialog::Rollback(p) if yes => self.do_rollback(&p, source),
            Dialog::Restore(r) if yes => self.do_restore(&r, source),
            _ => self.status = "not confirmed; nothing changed".into(),
        }
    }

    fn do_rollback(&mut self, p: &PlanSummary, source: &mut dyn Source) {
        match source.rollback(p) {
            Ok(line) => {
                self.status = line;
                self.snapshot = None;
                self.view = View::Timeline;
                self.reload_timeline(source);
            }
            Err(e) => self.fail(e),
        }
    }

    fn do_restore(&mut self, r: &RestoreRequest, source: &mut dyn Source) {
        match source.restore(r) {
            Ok(line) => {
                // The guard snapshot is new: the timeline and the versions are read again.
                self.reload_timeline(source);
                if self.view == View::Versions {
                    self.load_versions(&r.snapshot, &r.path, source);
                }
                self.status = line;
            }
            Err(e) => self.fail(e),
        }
    }

    fn datasets_key(&mut self, key: Key, source: &mut dyn Source) {
        if let Some(d) = delta(key) {
            self.datasets_at = moved(self.datasets_at, d, self.datasets.len());
        } else if key == Key::Enter
            && let Some(ds) = self.datasets.get(self.datasets_at).map(|d| d.name.clone())
        {
            self.open_timeline(&ds, source);
        }
    }

    /// Shows `dataset`'s timeline, the newest row selected.
    pub fn open_timeline(&mut self, dataset: &str, source: &mut dyn Source) {
        match source.timeline(dataset) {
            Ok(t) => {
                self.timeline_at = t.rows.len().saturating_sub(1);
                self.timeline = t;
                self.view = View::Timeline;
                self.status.clear();
            }
            Err(e) => self.fail(e),
        }
    }

    fn reload_timeline(&mut self, source: &mut dyn Source) {
        let ds = self.timeline.dataset.clone();
        match source.timeline(&ds) {
            Ok(t) => {
                self.timeline_at = moved(self.timeline_at, 0, t.rows.len());
                self.timeline = t;
            }
            Err(e) => self.fail(e),
        }
    }

    fn timeline_key(&mut self, key: Key, source: &mut dyn Source) {
        if let Some(d) = delta(key) {
            self.timeline_at = moved(self.timeline_at, d, self.timeline.rows.len());
            return;
        }
        let Some(row) = self.timeline.rows.get(self.timeline_at).cloned() else {
            if key == Key::Esc {
                self.view = View::Datasets;
            }
            return;
        };
        let stash = row.kind == RowKind::Stash;
        match key {
            Key::Esc => self.view = View::Datasets,
            Key::Enter | Key::Char('d' | 'f' | 'R') if stash => {
                self.status = format!(
                    "stash {}: see `datavault stash show {}`",
                    row.name, row.name
                )
            }
            Key::Enter | Key::Char('d') => self.open_snapshot(&row.name, Tab::Changes, source),
            Key::Char('f') => self.open_snapshot(&row.name, Tab::Files, source),
            Key::Char('R') => self.ask_rollback(&row.name, source),
            _ => {}
        }
    }

    /// Shows `name`: its changes against the previous snapshot and its root directory.
    pub fn open_snapshot(&mut self, name: &str, tab: Tab, source: &mut dyn Source) {
        let previous = self.timeline.previous(name).map(str::to_string);
        let changes = match &previous {
            Some(p) => source.changes(p, name),
            None => Err("the oldest snapshot: nothing before it to compare with".into()),
        };
        let mut v = SnapshotView {
            name: name.to_string(),
            previous,
            tab,
            changes,
            changes_at: 0,
            dir: String::new(),
            entries: Vec::new(),
            entries_at: 0,
        };
        match source.browse(name, "") {
            Ok(e) => v.entries = e,
            Err(e) => self.fail(e),
        }
        self.snapshot = Some(v);
        self.view = View::Snapshot;
    }

    fn ask_rollback(&mut self, snapshot: &str, source: &mut dyn Source) {
        match source.plan_rollback(snapshot) {
            Ok(p) => self.dialog = Some(Dialog::Rollback(p)),
            Err(e) => self.fail(e),
        }
    }

    fn snapshot_key(&mut self, key: Key, source: &mut dyn Source) {
        let Some(mut v) = self.snapshot.take() else {
            self.view = View::Timeline;
            return;
        };
        match (key, v.tab) {
            (Key::Esc, _) => self.view = View::Timeline,
            (Key::Tab, Tab::Changes) | (Key::Char('f'), _) => v.tab = Tab::Files,
            (Key::Tab, Tab::Files) | (Key::Char('d'), _) => v.tab = Tab::Changes,
            (Key::Char('R'), _) => self.ask_rollback(&v.name, source),
            (_, Tab::Changes) => {
                let len = v.changes.as_ref().map_or(0, Vec::len);
                if let Some(d) = delta(key) {
                    v.changes_at = moved(v.changes_at, d, len);
                }
            }
            (_, Tab::Files) => self.files_key(key, &mut v, source),
        }
        self.snapshot = Some(v);
    }

    fn files_key(&mut self, key: Key, v: &mut SnapshotView, source: &mut dyn Source) {
        if let Some(d) = delta(key) {
            v.entries_at = moved(v.entries_at, d, v.entries.len());
            return;
        }
        let entry = v.entries.get(v.entries_at).cloned();
        match (key, entry) {
            (Key::Left | Key::Backspace, _) if !v.dir.is_empty() => {
                let up = v.dir.rsplit_once('/').map_or("", |(p, _)| p).to_string();
                self.browse(v, &up, source);
            }
            (Key::Enter, Some(e)) if e.dir => self.browse(v, &e.path, source),
            (Key::Enter, Some(e)) => {
                self.load_versions(&v.name, &e.path, source);
                self.view = View::Versions;
            }
            (Key::Char('r'), Some(e)) if e.dir => {
                self.status = "restore picks a file; `datavault restore-file` copies trees".into()
            }
            (Key::Char('r'), Some(e)) => {
                self.dialog = Some(Dialog::Restore(RestoreRequest {
                    snapshot: v.name.clone(),
                    path: e.path,
                }))
            }
            _ => {}
        }
    }

    fn browse(&mut self, v: &mut SnapshotView, dir: &str, source: &mut dyn Source) {
        match source.browse(&v.name, dir) {
            Ok(e) => {
                v.entries = e;
                v.entries_at = 0;
                v.dir = dir.to_string();
            }
            Err(e) => self.fail(e),
        }
    }

    /// Lists `path`'s versions (the newest snapshot version selected) and its preview.
    fn load_versions(&mut self, snapshot: &str, path: &str, source: &mut dyn Source) {
        self.versions = Versions {
            snapshot: snapshot.to_string(),
            path: path.to_string(),
            ..Versions::default()
        };
        self.mark = None;
        match source.versions(snapshot, path) {
            Ok(rows) => {
                self.versions_at = rows
                    .iter()
                    .rposition(|r| r.snapshots.iter().any(|s| s == snapshot))
                    .unwrap_or(0);
                self.versions.rows = rows;
                self.update_preview(source);
            }
            Err(e) => self.fail(e),
        }
    }

    /// The two versions the preview compares: the marked one and the selected one, else the
    /// selected one and the next newer (the one before for the newest).
    pub fn preview_pair(&self) -> Option<(usize, usize)> {
        let (at, len) = (self.versions_at, self.versions.rows.len());
        match self.mark {
            Some(m) if m != at && m < len => Some((m.min(at), m.max(at))),
            _ if at + 1 < len => Some((at, at + 1)),
            _ if at > 0 && at < len => Some((at - 1, at)),
            _ => None,
        }
    }

    fn update_preview(&mut self, source: &mut dyn Source) {
        self.versions.preview = match self.preview_pair() {
            Some((a, b)) => match source.preview(a, b) {
                Ok(lines) => Some(((a, b), lines)),
                Err(e) => {
                    self.fail(e);
                    None
                }
            },
            None => None,
        };
    }

    fn versions_key(&mut self, key: Key, source: &mut dyn Source) {
        if let Some(d) = delta(key) {
            self.versions_at = moved(self.versions_at, d, self.versions.rows.len());
            return self.update_preview(source);
        }
        match key {
            Key::Esc => self.view = View::Snapshot,
            Key::Char('m') => {
                self.mark = (self.mark != Some(self.versions_at)).then_some(self.versions_at);
                self.update_preview(source);
            }
            Key::Char('r') => self.ask_restore_version(),
            _ => {}
        }
    }

    /// Asks to restore the selected version from the newest snapshot that holds it.
    fn ask_restore_version(&mut self) {
        let Some(row) = self.versions.rows.get(self.versions_at) else {
            return;
        };
        match row.snapshots.last() {
            _ if row.live => self.status = "the live file is this version already".into(),
            Some(s) => {
                self.dialog = Some(Dialog::Restore(RestoreRequest {
                    snapshot: s.clone(),
                    path: self.versions.path.clone(),
                }))
            }
            None => self.status = "no snapshot holds this version".into(),
        }
    }
}
