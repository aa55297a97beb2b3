//! `datavault ui [--config FILE] [DATASET]`: the history of datasets in a terminal. A thin
//! layer over a model (`model.rs`) read through a [`Source`](source::Source) (`live.rs`:
//! flocker-core, the same calls as `list`, `diff`, `browse`, `versions`, `restore-file
//! --overwrite` and `rollback`); `app.rs` holds the state and the keys, `render.rs` draws it
//! (ratatui), `term.rs` owns the terminal's mode.
//!
//! Screens: the datasets (DATASET and its descendants, else the config's datasets, else the
//! pools of the mounted ZFS filesystems); a dataset's timeline (time, age, used, written,
//! expiry and the rules that keep each snapshot, as `list` plans them; stashes marked `S`;
//! a density strip of snapshots over time above it); a snapshot's changes against the
//! previous one and its files; a file's versions with the line differences between two of
//! them. Actions: `r` restores a file or version over the live one after a guard snapshot,
//! `R` shows a rollback's plan and asks y/n. Needs a terminal on stdin and stdout (else
//! exit 2). Colours are off under `NO_COLOR`. `q` quits; the terminal is restored on every
//! way out, a panic included.

mod app;
mod live;
mod model;
mod render;
mod source;
mod term;
mod textdiff;

#[cfg(test)]
mod tests;

use std::io::IsTerminal;
use std::sync::Arc;

use ratatui::crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use app::{App, Key};
use render::Theme;
use term::Mode;

use crate::args::UiArgs;
use crate::common::Failure;

/// `datavault ui [--config FILE] [DATASET]`
pub fn ui(a: &UiArgs) -> Result<(), Failure> {
    if !(std::io::stdin().is_terminal() && std::io::stdout().is_terminal()) {
        return Err(Failure::Invalid(
            "ui needs a terminal on stdin and stdout (scripts: use list, diff, browse, \
             versions and restore-file)"
                .into(),
        ));
    }
    let mut source = live::Live::new(a)?;
    let theme = Theme::from_no_color(std::env::var_os("NO_COLOR").as_deref());
    let mut app = App::new(&mut source);
    term::restore_on_panic(Arc::new(|| term::Crossterm.leave()));
    let session = term::Session::start(term::Crossterm).map_err(terminal_failed)?;
    let r = event_loop(&mut app, &mut source, theme);
    drop(session);
    r
}

fn terminal_failed(e: std::io::Error) -> Failure {
    Failure::Failed(format!("terminal: {e}"))
}

/// Draws and handles keys until `q`.
fn event_loop(app: &mut App, source: &mut live::Live, theme: Theme) -> Result<(), Failure> {
    let backend = ratatui::backend::CrosstermBackend::new(std::io::stdout());
    let mut terminal = ratatui::Terminal::new(backend).map_err(terminal_failed)?;
    while !app.quit {
        terminal
            .draw(|f| render::draw(f, app, theme))
            .map_err(terminal_failed)?;
        if let Event::Key(k) = event::read().map_err(terminal_failed)?
            && k.kind != KeyEventKind::Release
            && let Some(key) = key_of(k)
        {
            app.key(key, source);
        }
    }
    Ok(())
}

/// The TUI's key for a terminal key (Ctrl-C quits like `q`: raw mode sends no signal).
fn key_of(k: KeyEvent) -> Option<Key> {
    Some(match k.code {
        KeyCode::Char('c') if k.modifiers.contains(KeyModifiers::CONTROL) => Key::Char('q'),
        KeyCode::Char(c) => Key::Char(c),
        KeyCode::Up => Key::Up,
        KeyCode::Down => Key::Down,
        KeyCode::PageUp => Key::PageUp,
        KeyCode::PageDown => Key::PageDown,
        KeyCode::Home => Key::Home,
        KeyCode::End => Key::End,
        KeyCode::Enter | KeyCode::Right => Key::Enter,
        KeyCode::Esc => Key::Esc,
        KeyCode::Tab | KeyCode::BackTab => Key::Tab,
        KeyCode::Left => Key::Left,
        KeyCode::Backspace => Key::Backspace,
        _ => return None,
    })
}
