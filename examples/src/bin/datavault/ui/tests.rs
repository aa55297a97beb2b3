//! Host tests of the TUI: rendering a fixed model on ratatui's test backend (80×24), the keys
//! as state transitions over a fake [`Source`], `NO_COLOR`, the terminal's restore after a
//! panic, and the screenshot in `docs/ui-screenshot.txt`.

use std::sync::{Arc, Mutex};

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::style::Color;

use super::app::{App, Dialog, Key, Tab, View};
use super::model::*;
use super::render::{self, Theme, density};
use super::source::{Outcome, Source};
use super::term::{self, Mode, Session};

/// 2026-12-06T09:00:00Z.
const NOW: i64 = 1_796_547_600;
const HOUR: i64 = 3600;
const DAY: i64 = 86_400;

fn snap_row(i: usize, age: i64, kind: RowKind) -> TimelineRow {
    let t = NOW - age;
    let (kept_by, expires) = match kind {
        RowKind::Doomed => (
            "-- destroyed by the next prune".to_string(),
            "-".to_string(),
        ),
        RowKind::Foreign => ("foreign (kept)".to_string(), "never".to_string()),
        _ if age < 2 * DAY => ("48x1h".to_string(), render::when(t + 2 * DAY)),
        _ if age < 30 * DAY => ("30x1d".to_string(), render::when(t + 30 * DAY)),
        _ => ("6x1mo".to_string(), "by count".to_string()),
    };
    let name = match kind {
        RowKind::Foreign => "tank/home@before-upgrade".to_string(),
        _ => format!(
            "tank/home@dv-{}00Z",
            render::when(t).replace(['-', ':'], "").replace(' ', "T")
        ),
    };
    TimelineRow {
        name,
        kind,
        time: t,
        used: 4096 * (i as u64 % 7 + 1) * 1024,
        written: Some(1024 * 1024 * (i as u64 % 5)),
        kept_by,
        expires,
    }
}

/// A timeline thinned like `48x1h,30x1d,6x1mo`: monthly, then daily, then hourly; one
/// doomed, one foreign snapshot and a stash.
fn fixture_timeline() -> Timeline {
    let mut ages: Vec<(i64, RowKind)> = (1..6).map(|m| (m * 30 * DAY, RowKind::Kept)).collect();
    ages.extend((2..14).map(|d| (d * DAY, RowKind::Kept)));
    ages.extend((0..8).map(|h| (h * 3 * HOUR + 600, RowKind::Kept)));
    ages.push((31 * DAY, RowKind::Doomed));
    ages.push((20 * DAY + 300, RowKind::Foreign));
    ages.sort_by_key(|(a, _)| -a);
    let mut rows: Vec<TimelineRow> = ages
        .iter()
        .enumerate()
        .map(|(i, (a, k))| snap_row(i, *a, *k))
        .collect();
    rows.push(TimelineRow {
        name: "20261205T101500-6affcf".into(),
        kind: RowKind::Stash,
        time: NOW - DAY + 900,
        used: 3 << 20,
        written: None,
        kept_by: "stash, 2 snapshots".into(),
        expires: "never".into(),
    });
    rows.sort_by_key(|r| r.time);
    Timeline {
        dataset: "tank/home".into(),
        policy: "policy 48x1h,30x1d,6x1mo (/etc/datavault.toml line 4)".into(),
        now: NOW,
        rows,
    }
}

fn entry(name: &str, path: &str, dir: bool) -> BrowserEntry {
    BrowserEntry {
        name: name.into(),
        path: path.into(),
        dir,
        mode: if dir { "drwxr-xr-x" } else { "-rw-r--r--" }.into(),
        size: if dir { 4 } else { 1234 },
        mtime: NOW - 2 * DAY,
    }
}

fn fixture_versions(snapshots: &[&str]) -> Vec<VersionRow> {
    let v = |s: &[&str], live, size, age| VersionRow {
        snapshots: s.iter().map(|s| s.to_string()).collect(),
        live,
        size,
        mtime: NOW - age,
    };
    vec![
        v(&snapshots[..2], false, 120, 90 * DAY),
        v(&snapshots[2..4], false, 134, 9 * DAY),
        v(&snapshots[4..], true, 151, HOUR),
    ]
}

/// A pool in memory; what was done is logged.
struct Fake {
    datasets: Vec<DatasetRow>,
    timeline: Timeline,
    log: Vec<String>,
    refuse: bool,
}

impl Fake {
    fn new() -> Fake {
        let ds = |n: &str| DatasetRow {
            name: n.into(),
            used: 5 << 30,
            referenced: 2 << 30,
            mountpoint: Some(format!("/{n}")),
        };
        Fake {
            datasets: vec![ds("tank"), ds("tank/home")],
            timeline: fixture_timeline(),
            log: Vec::new(),
            refuse: false,
        }
    }

    fn empty() -> Fake {
        Fake {
            datasets: Vec::new(),
            timeline: Timeline::default(),
            ..Fake::new()
        }
    }

    fn snapshot_names(&self) -> Vec<String> {
        self.timeline.snapshots().map(|r| r.name.clone()).collect()
    }
}

impl Source for Fake {
    fn datasets(&mut self) -> Outcome<Vec<DatasetRow>> {
        Ok(self.datasets.clone())
    }
    fn timeline(&mut self, dataset: &str) -> Outcome<Timeline> {
        self.log.push(format!("timeline {dataset}"));
        Ok(Timeline {
            dataset: dataset.into(),
            ..self.timeline.clone()
        })
    }
    fn changes(&mut self, previous: &str, snapshot: &str) -> Outcome<Vec<ChangeRow>> {
        self.log.push(format!("changes {previous} {snapshot}"));
        Ok(vec![ChangeRow {
            symbol: 'M',
            file_type: 'F',
            path: "/notes.txt".into(),
        }])
    }
    fn browse(&mut self, snapshot: &str, dir: &str) -> Outcome<Vec<BrowserEntry>> {
        self.log.push(format!("browse {snapshot} /{dir}"));
        Ok(match dir {
            "" => vec![
                entry("docs", "docs", true),
                entry("notes.txt", "notes.txt", false),
            ],
            "docs" => vec![entry("plan.md", "docs/plan.md", false)],
            _ => return Err(format!("{dir}: no such directory")),
        })
    }
    fn versions(&mut self, snapshot: &str, path: &str) -> Outcome<Vec<VersionRow>> {
        self.log.push(format!("versions {snapshot} {path}"));
        let names = self.snapshot_names();
        let last: Vec<&str> = names
            .iter()
            .rev()
            .take(6)
            .rev()
            .map(String::as_str)
            .collect();
        Ok(fixture_versions(&last))
    }
    fn preview(&mut self, older: usize, newer: usize) -> Outcome<Vec<DiffLine>> {
        self.log.push(format!("preview {older} {newer}"));
        Ok(fixture_preview())
    }
    fn restore(&mut self, r: &RestoreRequest) -> Outcome<String> {
        self.log.push(format!("restore {} {}", r.snapshot, r.path));
        Ok(format!(
            "restored /{}; guard snapshot tank/home@guard",
            r.path
        ))
    }
    fn plan_rollback(&mut self, snapshot: &str) -> Outcome<PlanSummary> {
        self.log.push(format!("plan {snapshot}"));
        Ok(fixture_plan(snapshot, self.refuse))
    }
    fn rollback(&mut self, plan: &PlanSummary) -> Outcome<String> {
        self.log.push(format!("rollback {}", plan.target));
        Ok(format!("rolled back to {}", plan.target))
    }
}

fn fixture_preview() -> Vec<DiffLine> {
    vec![
        DiffLine::Same("# Notes".into()),
        DiffLine::Removed("- buy milk".into()),
        DiffLine::Added("- buy oat milk".into()),
        DiffLine::Same("- call Bob".into()),
        DiffLine::Added("- book the train".into()),
    ]
}

fn fixture_plan(target: &str, refused: bool) -> PlanSummary {
    let lines = [
        format!("rollback tank/home to {target}"),
        "strategy: copy (asked: auto) — the dataset has no clones".into(),
        "stash: tank/flocker-stash/20261206T090000-1a2b3c (id 20261206T090000-1a2b3c)".into(),
        "stashed snapshots (2 + the state now as tank/home@flocker-pre-1a2b3c):".into(),
        "space needed: 4194304 bytes".into(),
        "steps:".into(),
        "   1. snapshot the state now".into(),
    ];
    PlanSummary {
        dataset: "tank/home".into(),
        target: target.into(),
        lines: lines.to_vec(),
        refused: refused.then(|| "rollback refused, nothing changed: a clone depends on it".into()),
    }
}

fn draw(app: &App, theme: Theme) -> Buffer {
    let mut t = Terminal::new(TestBackend::new(80, 24)).unwrap();
    t.draw(|f| render::draw(f, app, theme)).unwrap();
    t.backend().buffer().clone()
}

fn lines(b: &Buffer) -> Vec<String> {
    (0..b.area.height)
        .map(|y| {
            let row: String = (0..b.area.width).map(|x| b[(x, y)].symbol()).collect();
            row.trim_end().to_string()
        })
        .collect()
}

fn screen(b: &Buffer) -> String {
    lines(b).join("\n")
}

const COLOR: Theme = Theme { color: true };
const PLAIN: Theme = Theme { color: false };

/// An app on the timeline of the fixture, the newest snapshot selected.
fn on_timeline(fake: &mut Fake) -> App {
    let mut app = App::new(fake);
    app.key(Key::Down, fake);
    app.key(Key::Enter, fake);
    app
}

/// An app on the versions of `notes.txt` in the newest snapshot.
fn on_versions(fake: &mut Fake) -> App {
    let mut app = on_timeline(fake);
    app.key(Key::Up, fake); // the stash is not the newest row; the newest snapshot is
    app.key(Key::End, fake);
    app.key(Key::Char('f'), fake);
    app.key(Key::Down, fake);
    app.key(Key::Enter, fake);
    app
}

#[test]
fn the_timeline_fits_80x24_with_its_strip_and_a_stash() {
    let mut fake = Fake::new();
    let app = on_timeline(&mut fake);
    let s = lines(&draw(&app, COLOR));
    assert_eq!(s.len(), 24);
    assert!(s[0].contains("datavault ui › tank/home"), "{s:#?}");
    assert!(s[1].starts_with("policy 48x1h,30x1d,6x1mo"), "{s:#?}");
    // The density strip: denser on the right (hourly), sparse on the left (monthly).
    let strip: Vec<char> = s[2].chars().collect();
    assert_eq!(strip.first(), Some(&'▁'), "{s:#?}");
    assert!(strip.iter().filter(|c| **c == ' ').count() > 40, "{s:#?}");
    assert!(matches!(strip.last(), Some('▂'..='█')), "{s:#?}");
    assert!(
        s[3].starts_with("└ 150d0h ago") && s[3].ends_with("now ┘"),
        "{s:#?}"
    );
    for col in ["TIME (UTC)", "AGE", "USED", "WRITTEN", "EXPIRES", "KEPT BY"] {
        assert!(s[4].contains(col), "{col} missing: {s:#?}");
    }
    let stash = s
        .iter()
        .find(|l| l.starts_with(" S "))
        .expect("a stash row");
    assert!(stash.contains("stash, 2 snapshots"), "{stash}");
    assert!(s.iter().any(|l| l.contains("48x1h")), "{s:#?}");
    assert!(s[20].starts_with("›  2026-12-06 08:50"), "{s:#?}");
    assert!(
        s[21].starts_with("selected: tank/home@dv-20261206T085000Z"),
        "{s:#?}"
    );
    assert!(
        s[23].contains("R roll back") && s[23].contains("q quit"),
        "{s:#?}"
    );
}

#[test]
fn the_versions_list_and_its_preview_render() {
    let mut fake = Fake::new();
    let app = on_versions(&mut fake);
    assert_eq!(app.view, View::Versions);
    let s = screen(&draw(&app, COLOR));
    assert!(
        s.contains("MODIFIED (UTC)") && s.contains("IN SNAPSHOTS"),
        "{s}"
    );
    assert!(s.contains("›3    live 151"), "{s}");
    assert!(
        s.contains("(2) dv-20261205T175000Z … dv-20261205T205000Z"),
        "{s}"
    );
    assert!(s.contains("differences: version 2 → 3"), "{s}");
    assert!(
        s.contains("- - buy milk") && s.contains("+ - buy oat milk"),
        "{s}"
    );
    assert!(s.contains("m mark to compare"), "{s}");
}

#[test]
fn the_snapshot_screen_shows_its_changes_and_files() {
    let mut fake = Fake::new();
    let mut app = on_timeline(&mut fake);
    app.key(Key::Char('d'), &mut fake);
    let s = lines(&draw(&app, COLOR));
    assert!(s[1].contains("Changes since dv-20261206T055000Z"), "{s:#?}");
    assert!(s[1].contains("Files /"), "{s:#?}");
    assert!(s[2].starts_with("›M F /notes.txt"), "{s:#?}");
    assert!(
        s[23].contains("Tab changes/files") && s[23].contains("Esc"),
        "{s:#?}"
    );
    app.key(Key::Tab, &mut fake);
    let s = lines(&draw(&app, COLOR));
    assert!(s[2].contains("MODE") && s[2].contains("NAME"), "{s:#?}");
    assert!(
        s[3].starts_with("›drwxr-xr-x") && s[3].ends_with("docs/"),
        "{s:#?}"
    );
    assert!(s[4].ends_with(" notes.txt"), "{s:#?}");
}

#[test]
fn the_plan_is_shown_before_the_confirmation() {
    let mut fake = Fake::new();
    let mut app = on_timeline(&mut fake);
    app.key(Key::Up, &mut fake);
    app.key(Key::Char('R'), &mut fake);
    let s = screen(&draw(&app, COLOR));
    assert!(s.contains("roll tank/home back to dv-"), "{s}");
    assert!(s.contains("strategy: copy (asked: auto)"), "{s}");
    assert!(s.contains("roll back? y/n"), "{s}");
    assert!(s.contains("y yes   n/Esc no"), "{s}");
    assert!(!fake.log.iter().any(|l| l.starts_with("rollback")));
}

#[test]
fn a_refused_plan_only_says_why() {
    let mut fake = Fake::new();
    fake.refuse = true;
    let mut app = on_timeline(&mut fake);
    app.key(Key::Up, &mut fake);
    app.key(Key::Char('R'), &mut fake);
    let s = screen(&draw(&app, PLAIN));
    assert!(s.contains("refused: rollback refused"), "{s}");
    app.key(Key::Char('y'), &mut fake);
    assert_eq!(app.dialog, None);
    assert_eq!(app.status, "nothing changed");
    assert!(!fake.log.iter().any(|l| l.starts_with("rollback")));
}

/// Every cell's colours (foreground, background).
fn colours(b: &Buffer) -> Vec<(Color, Color)> {
    b.content.iter().map(|c| (c.fg, c.bg)).collect()
}

#[test]
fn no_color_means_no_colours() {
    assert_eq!(Theme::from_no_color(None), COLOR);
    assert_eq!(Theme::from_no_color(Some("".as_ref())), COLOR);
    assert_eq!(Theme::from_no_color(Some("1".as_ref())), PLAIN);
    let mut fake = Fake::new();
    let mut app = on_versions(&mut fake);
    let coloured = colours(&draw(&app, COLOR));
    assert!(coloured.iter().any(|c| *c != (Color::Reset, Color::Reset)));
    let plain = colours(&draw(&app, PLAIN));
    assert!(plain.iter().all(|c| *c == (Color::Reset, Color::Reset)));
    app.key(Key::Esc, &mut fake);
    app.key(Key::Esc, &mut fake);
    for b in [draw(&app, PLAIN), {
        app.key(Key::Char('R'), &mut fake);
        draw(&app, PLAIN)
    }] {
        assert!(
            colours(&b)
                .iter()
                .all(|c| *c == (Color::Reset, Color::Reset))
        );
    }
}

#[test]
fn keys_walk_from_a_dataset_to_a_file_and_back() {
    let mut fake = Fake::new();
    let mut app = App::new(&mut fake);
    assert_eq!((app.view, app.datasets_at), (View::Datasets, 0));
    app.key(Key::Up, &mut fake);
    assert_eq!(app.datasets_at, 0);
    app.key(Key::Char('j'), &mut fake);
    app.key(Key::Down, &mut fake);
    assert_eq!(app.datasets_at, 1);
    app.key(Key::Enter, &mut fake);
    assert_eq!(app.view, View::Timeline);
    assert_eq!(app.timeline.dataset, "tank/home");
    assert_eq!(app.timeline_at, app.timeline.rows.len() - 1);
    // The newest row is a snapshot; its changes are against the one before.
    app.key(Key::Enter, &mut fake);
    let names = fake.snapshot_names();
    let n = names.len();
    let want = format!("changes {} {}", names[n - 2], names[n - 1]);
    assert_eq!(fake.log.last(), Some(&format!("browse {} /", names[n - 1])));
    assert!(fake.log.contains(&want), "{:?}", fake.log);
    let v = app.snapshot.clone().unwrap();
    assert_eq!((app.view, v.tab), (View::Snapshot, Tab::Changes));
    app.key(Key::Tab, &mut fake);
    app.key(Key::Enter, &mut fake); // docs/
    let v = app.snapshot.clone().unwrap();
    assert_eq!(
        (v.tab, v.dir.as_str(), v.entries.len()),
        (Tab::Files, "docs", 1)
    );
    app.key(Key::Backspace, &mut fake);
    assert_eq!(app.snapshot.as_ref().unwrap().dir, "");
    app.key(Key::Down, &mut fake);
    app.key(Key::Enter, &mut fake); // notes.txt
    assert_eq!(app.view, View::Versions);
    assert_eq!(app.versions.path, "notes.txt");
    // The version the snapshot holds is selected; the preview compares it with the next.
    assert_eq!(app.versions_at, 2);
    assert_eq!(app.preview_pair(), Some((1, 2)));
    app.key(Key::Home, &mut fake);
    assert_eq!(app.preview_pair(), Some((0, 1)));
    app.key(Key::Char('m'), &mut fake);
    app.key(Key::End, &mut fake);
    assert_eq!(app.preview_pair(), Some((0, 2)));
    assert_eq!(fake.log.last().map(String::as_str), Some("preview 0 2"));
    app.key(Key::Esc, &mut fake);
    assert_eq!(app.view, View::Snapshot);
    app.key(Key::Esc, &mut fake);
    assert_eq!(app.view, View::Timeline);
    app.key(Key::Esc, &mut fake);
    assert_eq!(app.view, View::Datasets);
    assert!(!app.quit);
    app.key(Key::Char('q'), &mut fake);
    assert!(app.quit);
}

#[test]
fn restore_asks_and_only_yes_restores() {
    let mut fake = Fake::new();
    let mut app = on_versions(&mut fake);
    app.key(Key::End, &mut fake);
    app.key(Key::Char('r'), &mut fake);
    assert_eq!(
        app.dialog, None,
        "the live version is not restored over itself"
    );
    assert_eq!(app.status, "the live file is this version already");
    app.key(Key::Home, &mut fake);
    app.key(Key::Char('r'), &mut fake);
    let Some(Dialog::Restore(r)) = app.dialog.clone() else {
        panic!("no restore dialog: {:?}", app.dialog)
    };
    assert_eq!(r.path, "notes.txt");
    assert_eq!(&r.snapshot, &app.versions.rows[0].snapshots[1]);
    let s = screen(&draw(&app, COLOR));
    assert!(
        s.contains("guard snapshot") && s.contains("restore? y/n"),
        "{s}"
    );
    app.key(Key::Char('n'), &mut fake);
    assert_eq!(app.status, "not confirmed; nothing changed");
    app.key(Key::Char('r'), &mut fake);
    app.key(Key::Char('q'), &mut fake);
    assert!(!app.quit, "q answers no in a dialog");
    assert!(!fake.log.iter().any(|l| l.starts_with("restore")));
    app.key(Key::Char('r'), &mut fake);
    app.key(Key::Char('y'), &mut fake);
    let want = format!("restore {} notes.txt", r.snapshot);
    assert!(fake.log.contains(&want), "{:?}", fake.log);
    assert_eq!(
        app.status,
        "restored /notes.txt; guard snapshot tank/home@guard"
    );
    // The timeline and the versions are read again (the guard snapshot holds one more).
    let n = fake.log.len();
    assert!(fake.log[n - 3].starts_with("timeline"), "{:?}", fake.log);
    assert!(fake.log[n - 2].starts_with("versions"), "{:?}", fake.log);
    assert!(fake.log[n - 1].starts_with("preview"), "{:?}", fake.log);
    assert_eq!(app.view, View::Versions);
}

#[test]
fn rollback_runs_only_after_yes_and_reloads_the_timeline() {
    let mut fake = Fake::new();
    let mut app = on_timeline(&mut fake);
    app.key(Key::Up, &mut fake);
    let target = app.timeline.rows[app.timeline_at].name.clone();
    for no in [Key::Esc, Key::Char('n'), Key::Char('x')] {
        app.key(Key::Char('R'), &mut fake);
        assert!(matches!(app.dialog, Some(Dialog::Rollback(_))));
        app.key(no, &mut fake);
        assert_eq!(app.dialog, None);
    }
    assert!(!fake.log.iter().any(|l| l.starts_with("rollback")));
    let loads = fake
        .log
        .iter()
        .filter(|l| l.starts_with("timeline"))
        .count();
    app.key(Key::Char('R'), &mut fake);
    app.key(Key::Char('y'), &mut fake);
    assert!(fake.log.contains(&format!("rollback {target}")));
    assert_eq!(app.status, format!("rolled back to {target}"));
    let now = fake
        .log
        .iter()
        .filter(|l| l.starts_with("timeline"))
        .count();
    assert_eq!(now, loads + 1);
    assert_eq!(app.view, View::Timeline);
}

#[test]
fn a_stash_row_is_not_a_snapshot() {
    let mut fake = Fake::new();
    let mut app = on_timeline(&mut fake);
    let at = app
        .timeline
        .rows
        .iter()
        .position(|r| r.kind == RowKind::Stash)
        .unwrap();
    app.timeline_at = at;
    for k in [Key::Enter, Key::Char('R'), Key::Char('f')] {
        app.key(k, &mut fake);
        assert_eq!((app.view, &app.dialog), (View::Timeline, &None));
        assert!(
            app.status.contains("datavault stash show"),
            "{}",
            app.status
        );
    }
}

#[test]
fn the_oldest_snapshot_has_no_changes_to_show() {
    let mut fake = Fake::new();
    let mut app = on_timeline(&mut fake);
    app.key(Key::Home, &mut fake);
    app.key(Key::Enter, &mut fake);
    let v = app.snapshot.clone().unwrap();
    assert_eq!(v.previous, None);
    assert!(v.changes.is_err());
    assert!(screen(&draw(&app, PLAIN)).contains("nothing before it to compare with"));
}

#[test]
fn nothing_to_show_never_panics() {
    let mut fake = Fake::empty();
    let mut app = App::new(&mut fake);
    assert_eq!(app.status, "no datasets found");
    let keys = [
        Key::Enter,
        Key::Down,
        Key::Up,
        Key::End,
        Key::Home,
        Key::PageDown,
        Key::Tab,
        Key::Char('R'),
        Key::Char('r'),
        Key::Char('m'),
        Key::Backspace,
        Key::Esc,
    ];
    for k in keys {
        app.key(k, &mut fake);
        draw(&app, PLAIN);
    }
    // A dataset without snapshots.
    app.open_timeline("tank/empty", &mut fake);
    assert_eq!(app.view, View::Timeline);
    for k in keys.iter().take(keys.len() - 1) {
        app.key(*k, &mut fake);
        assert!(screen(&draw(&app, PLAIN)).contains("no snapshots"));
    }
    // And a tiny terminal.
    let mut t = Terminal::new(TestBackend::new(10, 4)).unwrap();
    app.key(Key::Char('R'), &mut fake);
    t.draw(|f| render::draw(f, &app, COLOR)).unwrap();
    app.key(Key::Char('q'), &mut fake);
    assert!(app.quit);
}

#[test]
fn the_density_strip_counts_snapshots_per_span() {
    assert_eq!(density(&[], 100, 4), "    ");
    // 0..=99 in 4 spans of 25 s: one, none, two, eight.
    let mut times = vec![0, 60, 70];
    times.extend(std::iter::repeat_n(99, 8));
    assert_eq!(density(&times, 99, 4), "▁ ▂▄");
    // One snapshot, or all at one instant: never a division by zero.
    assert_eq!(density(&[5], 5, 3), "▁  ");
    assert_eq!(density(&[5, 5], 0, 2), "▂ ");
    assert_eq!(density(&vec![1; 100_000], 1, 1), "█");
}

/// A terminal mode that logs what was done to it.
#[derive(Clone)]
struct FakeMode {
    log: Arc<Mutex<Vec<&'static str>>>,
    fail: bool,
}

impl Mode for FakeMode {
    fn enter(&mut self) -> std::io::Result<()> {
        self.log.lock().unwrap().push("enter");
        if self.fail {
            return Err(std::io::Error::other("no terminal"));
        }
        Ok(())
    }
    fn leave(&self) {
        self.log.lock().unwrap().push("leave");
    }
}

#[test]
fn the_terminal_is_restored_after_a_panic_and_an_error() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let mode = FakeMode {
        log: log.clone(),
        fail: false,
    };
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _s = Session::start(mode.clone()).unwrap();
        panic!("a bug in the TUI");
    }));
    assert!(r.is_err());
    assert_eq!(*log.lock().unwrap(), ["enter", "leave"]);
    log.lock().unwrap().clear();
    let failing = FakeMode { fail: true, ..mode };
    assert!(Session::start(failing).is_err());
    assert_eq!(*log.lock().unwrap(), ["enter", "leave"]);
}

#[test]
fn the_panic_hook_restores_before_the_message() {
    // Panic hooks are process-wide: entries are kept for this thread only.
    let log: Arc<Mutex<Vec<(std::thread::ThreadId, &str)>>> = Arc::default();
    let me = std::thread::current().id();
    let original = std::panic::take_hook();
    let l = log.clone();
    std::panic::set_hook(Box::new(move |_| {
        l.lock()
            .unwrap()
            .push((std::thread::current().id(), "message"));
    }));
    let l = log.clone();
    term::restore_on_panic(Arc::new(move || {
        l.lock()
            .unwrap()
            .push((std::thread::current().id(), "leave"));
    }));
    let r = std::panic::catch_unwind(|| panic!("a bug in the TUI"));
    std::panic::set_hook(original);
    assert!(r.is_err());
    let mine: Vec<&str> = log
        .lock()
        .unwrap()
        .iter()
        .filter(|(t, _)| *t == me)
        .map(|e| e.1)
        .collect();
    assert_eq!(mine, ["leave", "message"]);
}

/// The screenshot in the docs: the timeline, a file's versions and a rollback's plan of
/// the fixed model at 80×24.
fn screenshot() -> String {
    let mut fake = Fake::new();
    let timeline = on_timeline(&mut fake);
    let versions = on_versions(&mut fake);
    let mut plan = on_timeline(&mut fake);
    plan.key(Key::Up, &mut fake);
    plan.key(Key::Char('R'), &mut fake);
    let frame = |app: &App| {
        let rule = format!("+{}+", "-".repeat(80));
        let body: Vec<String> = lines(&draw(app, PLAIN))
            .iter()
            .map(|l| format!("|{l:<80}|"))
            .collect();
        format!("{rule}\n{}\n{rule}\n", body.join("\n"))
    };
    format!(
        "`datavault ui` at 80×24, rendered from the test model (examples/src/bin/datavault/ui/tests.rs):\n\
         the timeline, a file's versions, and a rollback's plan awaiting y/n.\n\n{}\n{}\n{}",
        frame(&timeline),
        frame(&versions),
        frame(&plan)
    )
}

const SCREENSHOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/ui-screenshot.txt");

#[test]
fn the_docs_screenshot_is_up_to_date() {
    let have = std::fs::read_to_string(SCREENSHOT).unwrap_or_default();
    assert!(
        have == screenshot(),
        "{SCREENSHOT} is stale: run `cargo test -p flocker-examples --bin datavault -- --ignored write_the_docs_screenshot`"
    );
}

#[test]
#[ignore = "writes docs/ui-screenshot.txt"]
fn write_the_docs_screenshot() {
    std::fs::write(SCREENSHOT, screenshot()).unwrap();
}
