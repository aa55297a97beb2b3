//! Shared helpers for the example binaries.
//!
//! - [`prune`]: the output of the prune workflow (`flocker_core::prune`: list, plan, destroy in
//!   batches): its text plan, JSON report and progress line, used by the `prune` binary and by
//!   `datavault prune` / `list` / `run`.
//! - [`scheme`]: DataVault's snapshot names (`dv-YYYYMMDDTHHMMSSZ`), re-exported from
//!   `flocker_core::vault::scheme`.
//! - [`show_progress`] and [`default_sigpipe`]: terminal behaviour shared by the binaries.
//! - [`cli`]: the command-line conventions every binary shares (error lines, arguments that are
//!   not UTF-8, exit codes).
//! - [`json`]: the JSON shape of a snapshot row (and its guid and times), the same in every
//!   binary that prints one.

pub mod cli;
pub mod json;
pub mod prune;
pub mod scheme;

use std::io::IsTerminal;

/// Whether to draw a progress line on stderr: never with `--json`, only on a terminal, and not
/// on a `dumb` one (or with no `TERM` at all, as on a serial console or in a service log).
pub fn show_progress(json: bool) -> bool {
    !json
        && std::io::stderr().is_terminal()
        && std::env::var("TERM").is_ok_and(|t| !t.is_empty() && t != "dumb")
}

/// Restores the default action of `SIGPIPE`, so that `datavault list | head` ends quietly
/// like any Unix tool instead of failing on a closed pipe (Rust ignores the signal, which
/// makes `println!` panic on `EPIPE`).
pub fn default_sigpipe() {
    // SAFETY: setting a signal's disposition to SIG_DFL at the start of `main`, before any
    // thread exists, has no memory-safety requirement.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
