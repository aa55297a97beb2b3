//! `datavault`: roll a dataset back to any snapshot without losing anything, and manage the
//! stashes that keep what a rollback replaced. Built on `flocker_core::rollback`.
//!
//! ```text
//! datavault rollback DATASET@SNAP [--strategy auto|swap|copy] [--dry-run] [--json] [--yes]
//! datavault stash list [--json]
//! datavault stash show ID [--json]
//! datavault stash restore ID [--yes]
//! datavault stash drop ID [--yes]
//! datavault stash export ID FILE
//! datavault recover
//! ```
//!
//! Mutating commands ask for confirmation on a terminal and refuse when stdin is not a
//! terminal, unless `--yes`. Errors print one line and exit non-zero. The trusted records live
//! in `/var/lib/flocker-core` (`FLOCKER_STORE` overrides it, for tests).

use std::process::ExitCode;

mod browse;
mod common;
mod diff;
mod rollback;

use common::Failure;

const USAGE: &str = "usage:
  datavault rollback DATASET@SNAP [--strategy auto|swap|copy] [--dry-run] [--json] [--yes]
  datavault stash list [--json]
  datavault stash show ID [--json]
  datavault stash restore ID [--yes]
  datavault stash drop ID [--yes]
  datavault stash export ID FILE
  datavault recover";

fn run(args: &[String]) -> Result<(), Failure> {
    let rest = args.get(1..).unwrap_or(&[]);
    match args.first().map(String::as_str) {
        Some("rollback") => rollback::rollback(rest),
        Some("stash") => rollback::stash(rest),
        Some("recover") => rollback::recover(rest),
        Some("diff") => diff::diff(rest),
        Some("browse") => browse::browse(rest),
        Some("restore-file") => browse::restore_file(rest),
        Some(other) => Err(Failure::Usage(format!("unknown command {other:?}"))),
        None => Err(Failure::Usage("no command".into())),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(m)) => {
            eprintln!("datavault: {m}\n{USAGE}");
            ExitCode::from(2)
        }
        Err(Failure::Refused(m)) => {
            eprintln!("datavault: {m}");
            ExitCode::from(3)
        }
        Err(Failure::Zfs(e)) => {
            eprintln!("datavault: error: {e}");
            ExitCode::FAILURE
        }
    }
}
