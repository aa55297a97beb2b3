//! Draws an [`App`] into a ratatui frame. The layout fits 80×24: a title line, the view, the
//! status line and the keys line. Colours only where [`Theme::color`] allows (`NO_COLOR`);
//! without them, selection is reverse video and every row kind keeps a mark character.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Block, Borders, Clear, HighlightSpacing, Paragraph, Row, Table, TableState, Wrap,
};

use super::app::{App, Dialog, SnapshotView, Tab, View};
use super::model::{DiffLine, RowKind, Timeline, TimelineRow, VersionRow};
use crate::list::{age, size};

/// Whether colours are used: off when `NO_COLOR` is set to anything but the empty string
/// (<https://no-color.org>).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Theme {
    pub color: bool,
}

impl Theme {
    /// From the value of `NO_COLOR`.
    pub fn from_no_color(v: Option<&std::ffi::OsStr>) -> Theme {
        Theme {
            color: v.is_none_or(|v| v.is_empty()),
        }
    }

    fn fg(self, c: Color) -> Style {
        if self.color {
            Style::new().fg(c)
        } else {
            Style::new()
        }
    }

    fn bar(self) -> Style {
        Style::new().add_modifier(Modifier::REVERSED)
    }

    fn selected(self) -> Style {
        Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD)
    }

    fn kind(self, k: RowKind) -> Style {
        match k {
            RowKind::Kept => Style::new(),
            RowKind::Doomed => self.fg(Color::Red),
            RowKind::Foreign => self.fg(Color::DarkGray),
            RowKind::Stash => self.fg(Color::Magenta).add_modifier(Modifier::ITALIC),
        }
    }
}

/// Draws the whole screen.
pub fn draw(f: &mut Frame, app: &App, theme: Theme) {
    let [title, body, status, keys] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(f.area());
    f.render_widget(Paragraph::new(title_text(app)).style(theme.bar()), title);
    match app.view {
        View::Datasets => datasets(f, app, body, theme),
        View::Timeline => timeline(f, app, body, theme),
        View::Snapshot => snapshot(f, app, body, theme),
        View::Versions => versions(f, app, body, theme),
    }
    f.render_widget(Paragraph::new(app.status.as_str()), status);
    f.render_widget(Paragraph::new(keys_text(app)).style(theme.bar()), keys);
    if let Some(d) = &app.dialog {
        dialog(f, d, theme);
    }
}

/// `datavault ui │ pool/fs › dv-… › path`.
fn title_text(app: &App) -> String {
    let mut parts = vec!["datavault ui".to_string()];
    if app.view != View::Datasets {
        parts.push(app.timeline.dataset.clone());
    }
    if let (View::Snapshot | View::Versions, Some(s)) = (app.view, &app.snapshot) {
        parts.push(short(&s.name).to_string());
    }
    if app.view == View::Versions {
        parts.push(app.versions.path.clone());
    }
    format!(" {}", parts.join(" › "))
}

fn keys_text(app: &App) -> &'static str {
    if app.dialog.is_some() {
        return " y yes   n/Esc no";
    }
    match app.view {
        View::Datasets => " ↑↓ move  Enter timeline  q quit",
        View::Timeline => " ↑↓ move  Enter/d changes  f files  R roll back  Esc back  q quit",
        View::Snapshot => " Tab changes/files  Enter open  ← up  r restore  R roll back  Esc  q",
        View::Versions => " ↑↓ move  m mark to compare  r restore (guarded)  Esc back  q quit",
    }
}

/// The part of a snapshot name after the `@`.
fn short(name: &str) -> &str {
    name.split_once('@').map_or(name, |(_, s)| s)
}

/// `2026-12-06 08:00` (UTC).
pub fn when(secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| {
            t.format(time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute]"
            ))
            .ok()
        })
        .unwrap_or_else(|| secs.to_string())
}

fn table_state(at: usize) -> TableState {
    TableState::new().with_selected(Some(at))
}

/// A table with a header (`None`: without one) whose selected row is in reverse video and
/// marked `›`.
fn table<'a>(
    rows: impl IntoIterator<Item = Row<'a>>,
    widths: impl IntoIterator<Item = Constraint>,
    header: Option<&[&'a str]>,
    theme: Theme,
) -> Table<'a> {
    let t = Table::new(rows, widths)
        .row_highlight_style(theme.selected())
        .highlight_symbol("›")
        .highlight_spacing(HighlightSpacing::Always);
    match header {
        Some(h) => t.header(Row::new(h.to_vec()).style(theme.bar())),
        None => t,
    }
}

fn datasets(f: &mut Frame, app: &App, area: Rect, theme: Theme) {
    let rows = app.datasets.iter().map(|d| {
        Row::new([
            d.name.clone(),
            size(d.used),
            size(d.referenced),
            d.mountpoint
                .clone()
                .unwrap_or_else(|| "(not mounted)".into()),
        ])
    });
    let widths = [
        Constraint::Fill(2),
        Constraint::Length(6),
        Constraint::Length(6),
        Constraint::Fill(1),
    ];
    let header = ["DATASET", "USED", "REFER", "MOUNTPOINT"];
    let t = table(rows, widths, Some(&header), theme);
    f.render_stateful_widget(t, area, &mut table_state(app.datasets_at));
}

/// One line of glyphs: how many snapshots fall in each of `width` equal spans of time from
/// the oldest to `now` (▁ one, each step up about twice as many), so thinning shows as the
/// strip getting sparser to the left.
pub fn density(times: &[i64], now: i64, width: usize) -> String {
    const GLYPHS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let Some(&oldest) = times.iter().min() else {
        return " ".repeat(width);
    };
    let span = (now.max(oldest) - oldest).max(1) as i128 + 1;
    let mut counts = vec![0u32; width];
    for &t in times {
        let i =
            ((t.clamp(oldest, now.max(oldest)) - oldest) as i128 * width as i128 / span) as usize;
        if let Some(c) = counts.get_mut(i) {
            *c += 1;
        }
    }
    counts
        .iter()
        .map(|&c| match c {
            0 => ' ',
            c => GLYPHS[(c.ilog2() as usize).min(GLYPHS.len() - 1)],
        })
        .collect()
}

/// The strip's axis: the oldest row's age on the left, `now` on the right.
fn axis(t: &Timeline, width: usize) -> String {
    let oldest = t.rows.iter().map(|r| r.time).min().unwrap_or(t.now);
    let left = format!("└ {} ago", age(t.now - oldest));
    let right = "now ┘";
    let pad = width.saturating_sub(left.chars().count() + right.chars().count());
    format!("{left}{}{right}", " ".repeat(pad))
}

fn timeline(f: &mut Frame, app: &App, area: Rect, theme: Theme) {
    let t = &app.timeline;
    let [policy, strip, axis_area, list, detail] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Min(2),
        Constraint::Length(1),
    ])
    .areas(area);
    f.render_widget(Paragraph::new(t.policy.as_str()), policy);
    let times: Vec<i64> = t.snapshots().map(|r| r.time).collect();
    let w = strip.width as usize;
    f.render_widget(
        Paragraph::new(density(&times, t.now, w)).style(theme.fg(Color::Cyan)),
        strip,
    );
    f.render_widget(Paragraph::new(axis(t, w)), axis_area);
    if t.rows.is_empty() {
        f.render_widget(Paragraph::new("no snapshots"), list);
        return;
    }
    let rows = t.rows.iter().map(|r| timeline_row(r, t.now, theme));
    let widths = [1, 16, 6, 6, 7, 16].map(Constraint::Length);
    let header = [
        "",
        "TIME (UTC)",
        "AGE",
        "USED",
        "WRITTEN",
        "EXPIRES",
        "KEPT BY",
    ];
    let widths = widths.into_iter().chain([Constraint::Fill(1)]);
    let tbl = table(rows, widths, Some(&header), theme);
    f.render_stateful_widget(tbl, list, &mut table_state(app.timeline_at));
    let line = match t.rows.get(app.timeline_at) {
        Some(r) if r.kind == RowKind::Stash => {
            format!("stash {0}: datavault stash show {0}", r.name)
        }
        Some(r) => format!("selected: {}", r.name),
        None => String::new(),
    };
    f.render_widget(Paragraph::new(line), detail);
}

fn timeline_row(r: &TimelineRow, now: i64, theme: Theme) -> Row<'static> {
    Row::new([
        r.kind.mark().to_string(),
        when(r.time),
        age(now - r.time),
        size(r.used),
        r.written.map_or("-".into(), size),
        r.expires.clone(),
        r.kept_by.clone(),
    ])
    .style(theme.kind(r.kind))
}

fn snapshot(f: &mut Frame, app: &App, area: Rect, theme: Theme) {
    let Some(v) = &app.snapshot else { return };
    let [tabs, list] = Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(area);
    let on = |t: Tab| {
        if v.tab == t {
            theme.selected()
        } else {
            Style::new()
        }
    };
    let prev = v.previous.as_deref().map_or("-", short);
    let dir = format!(" Files /{} ", v.dir);
    f.render_widget(
        Paragraph::new(Line::from(vec![
            Span::styled(format!(" Changes since {prev} "), on(Tab::Changes)),
            Span::raw(" "),
            Span::styled(dir, on(Tab::Files)),
        ])),
        tabs,
    );
    match v.tab {
        Tab::Changes => changes(f, v, list, theme),
        Tab::Files => files(f, v, list, theme),
    }
}

fn changes(f: &mut Frame, v: &SnapshotView, area: Rect, theme: Theme) {
    let rows = match &v.changes {
        Ok(c) if c.is_empty() => return f.render_widget(Paragraph::new("no changes"), area),
        Ok(c) => c,
        Err(why) => return f.render_widget(Paragraph::new(why.as_str()), area),
    };
    let rows = rows.iter().map(|c| {
        let style = match c.symbol {
            '+' => theme.fg(Color::Green),
            '-' => theme.fg(Color::Red),
            _ => theme.fg(Color::Yellow),
        };
        Row::new([
            c.symbol.to_string(),
            c.file_type.to_string(),
            c.path.clone(),
        ])
        .style(style)
    });
    let widths = [
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Fill(1),
    ];
    let t = table(rows, widths, None, theme);
    f.render_stateful_widget(t, area, &mut table_state(v.changes_at));
}

fn files(f: &mut Frame, v: &SnapshotView, area: Rect, theme: Theme) {
    if v.entries.is_empty() {
        return f.render_widget(Paragraph::new("empty directory"), area);
    }
    let rows = v.entries.iter().map(|e| {
        let name = if e.dir {
            format!("{}/", e.name)
        } else {
            e.name.clone()
        };
        let style = if e.dir {
            theme.fg(Color::Blue)
        } else {
            Style::new()
        };
        Row::new([e.mode.clone(), size(e.size), when(e.mtime), name]).style(style)
    });
    let widths = [10, 6, 16].map(Constraint::Length);
    let widths = widths.into_iter().chain([Constraint::Fill(1)]);
    let t = table(
        rows,
        widths,
        Some(&["MODE", "SIZE", "MODIFIED (UTC)", "NAME"]),
        theme,
    );
    f.render_stateful_widget(t, area, &mut table_state(v.entries_at));
}

fn versions(f: &mut Frame, app: &App, area: Rect, theme: Theme) {
    let v = &app.versions;
    let n = (v.rows.len() as u16 + 1).clamp(2, 9);
    let [list, preview] = Layout::vertical([Constraint::Length(n), Constraint::Min(3)]).areas(area);
    let rows = v
        .rows
        .iter()
        .enumerate()
        .map(|(i, r)| version_row(i, r, app.mark == Some(i)));
    let widths = [2, 1, 4, 6, 16].map(Constraint::Length);
    let widths = widths.into_iter().chain([Constraint::Fill(1)]);
    let header = ["#", "", "LIVE", "SIZE", "MODIFIED (UTC)", "IN SNAPSHOTS"];
    let t = table(rows, widths, Some(&header), theme);
    f.render_stateful_widget(t, list, &mut table_state(app.versions_at));
    let Some(((a, b), lines)) = &v.preview else {
        return f.render_widget(
            Paragraph::new("only one version: nothing to compare"),
            preview,
        );
    };
    let block = Block::new().borders(Borders::TOP).title(format!(
        " differences: version {} → {} ",
        a + 1,
        b + 1
    ));
    let text: Vec<Line> = lines.iter().map(|l| diff_line(l, theme)).collect();
    f.render_widget(Paragraph::new(text).block(block), preview);
}

/// `(n) dv-A … dv-B`, `live` for the live file's version, `*` for the marked one.
fn version_row(i: usize, r: &VersionRow, marked: bool) -> Row<'static> {
    let held = match (r.snapshots.first(), r.snapshots.last()) {
        (Some(a), Some(b)) if a == b => short(a).to_string(),
        (Some(a), Some(b)) => format!("({}) {} … {}", r.snapshots.len(), short(a), short(b)),
        _ => "-".to_string(),
    };
    let flag = if marked { "*" } else { "" };
    let live = if r.live { "live" } else { "" };
    Row::new([
        (i + 1).to_string(),
        flag.into(),
        live.into(),
        size(r.size),
        when(r.mtime),
        held,
    ])
}

fn diff_line(l: &DiffLine, theme: Theme) -> Line<'static> {
    match l {
        DiffLine::Same(s) => Line::raw(format!("  {s}")),
        DiffLine::Removed(s) => Line::styled(format!("- {s}"), theme.fg(Color::Red)),
        DiffLine::Added(s) => Line::styled(format!("+ {s}"), theme.fg(Color::Green)),
        DiffLine::Note(s) => Line::styled(s.clone(), Style::new().add_modifier(Modifier::ITALIC)),
    }
}

/// The centred box of a question: the plan (or the restore) and what y/n do.
fn dialog(f: &mut Frame, d: &Dialog, theme: Theme) {
    let a = f.area();
    let (w, h) = (
        a.width.saturating_sub(4).min(76),
        a.height.saturating_sub(4).min(18),
    );
    let area = Rect::new(a.x + (a.width - w) / 2, a.y + (a.height - h) / 2, w, h);
    let (title, body, prompt) = dialog_text(d);
    let block = Block::bordered()
        .title(title)
        .border_style(theme.fg(Color::Yellow));
    let inner = block.inner(area);
    f.render_widget(Clear, area);
    f.render_widget(block, area);
    let [text, ask] = Layout::vertical([Constraint::Min(1), Constraint::Length(1)]).areas(inner);
    f.render_widget(Paragraph::new(body).wrap(Wrap { trim: false }), text);
    f.render_widget(Paragraph::new(prompt).style(theme.selected()), ask);
}

fn dialog_text(d: &Dialog) -> (String, String, String) {
    match d {
        Dialog::Rollback(p) => {
            let title = format!(" roll {} back to {} ", p.dataset, short(&p.target));
            let prompt = match &p.refused {
                Some(why) => format!("refused: {why} (any key)"),
                None => "roll back? y/n (what it replaces goes to a stash)".to_string(),
            };
            (title, p.lines.join("\n"), prompt)
        }
        Dialog::Restore(r) => (
            " restore a file ".to_string(),
            format!(
                "Replace the live /{} with its version in\n{}?\n\nA guard snapshot of the dataset is taken first, so the \
                 replaced version stays recoverable; no other file is touched.",
                r.path, r.snapshot
            ),
            "restore? y/n".to_string(),
        ),
    }
}
