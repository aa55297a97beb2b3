//! The terminal's mode: raw input on the alternate screen while the TUI runs, and the
//! restore of the ordinary mode on every way out — `q`, an error (the [`Session`] guard's
//! `Drop`), a panic (the hook of [`restore_on_panic`] restores before the message is
//! printed, then unwinding drops the guard; restoring twice is harmless).

use std::io::Write;
use std::sync::Arc;

/// Switching the terminal into the TUI's mode and back.
pub trait Mode {
    /// Raw mode, the alternate screen, the cursor hidden.
    fn enter(&mut self) -> std::io::Result<()>;
    /// Back to the ordinary mode; must be safe to call more than once and after a partial
    /// [`enter`](Mode::enter).
    fn leave(&self);
}

/// The real terminal, through crossterm.
#[derive(Debug, Clone, Copy, Default)]
pub struct Crossterm;

impl Mode for Crossterm {
    fn enter(&mut self) -> std::io::Result<()> {
        use ratatui::crossterm::{cursor, execute, terminal};
        terminal::enable_raw_mode()?;
        execute!(
            std::io::stdout(),
            terminal::EnterAlternateScreen,
            cursor::Hide
        )
    }

    fn leave(&self) {
        use ratatui::crossterm::{cursor, execute, terminal};
        let _ = terminal::disable_raw_mode();
        let mut out = std::io::stdout();
        let _ = execute!(out, terminal::LeaveAlternateScreen, cursor::Show);
        let _ = out.flush();
    }
}

/// The TUI's terminal mode for as long as it lives: dropping it restores the terminal.
#[derive(Debug)]
pub struct Session<M: Mode> {
    mode: M,
}

impl<M: Mode> Session<M> {
    /// Enters the mode; on failure the terminal is restored before the error is returned.
    pub fn start(mut mode: M) -> std::io::Result<Session<M>> {
        match mode.enter() {
            Ok(()) => Ok(Session { mode }),
            Err(e) => {
                mode.leave();
                Err(e)
            }
        }
    }
}

impl<M: Mode> Drop for Session<M> {
    fn drop(&mut self) {
        self.mode.leave();
    }
}

/// Installs a panic hook that runs `leave` first, then the hook that was there (which
/// prints the message, now on a sane terminal).
pub fn restore_on_panic(leave: Arc<dyn Fn() + Send + Sync>) {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        leave();
        previous(info);
    }));
}
