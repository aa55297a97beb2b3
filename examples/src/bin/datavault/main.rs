//! `datavault`: the DataVault service and its tools. It takes atomic snapshots named by a
//! UTC timestamp, thins them with a retention policy, runs both on a schedule, and rolls a
//! dataset back to any snapshot without losing anything (the replaced state goes to a stash).
//! Built on flocker-core (`lzc`, `inventory`, `retention`, `rollback`, `snapshot`); it spawns
//! no process, except the `pre_snapshot`/`post_snapshot` hook commands of a config, which
//! `run` executes through `/bin/sh -c` around each snapshot (`hooks.rs`).
//!
//! ```text
//! datavault snapshot DATASET... [-r] [--json]
//! datavault snapshot (--pre DESC | --post ID) [DATASET... | --config FILE] [-r] [--json]
//! datavault list [DATASET[@SNAP]] [-r] [-H] [-p] [--json] [--config FILE] [--keep POLICY]
//!                [--match REGEX] [--tz ZONE]
//! datavault prune DATASET [--dry-run] [--json] [-r] [-v] [--config FILE] [--keep POLICY]
//!                 [--match REGEX] [--tz ZONE] [--batch N]
//! datavault run --config FILE [--once | --cycles N] [--until RFC3339]
//!               [--clock-start RFC3339 (--clock-speed N | --clock-step INTERVAL)]
//! datavault status [--config FILE] [--json] [--now RFC3339]
//! datavault config check FILE [--json]
//! datavault diff DATASET@A DATASET@B|DATASET [--json]
//! datavault browse DATASET@SNAP [PATH] [--json]
//! datavault restore-file DATASET@SNAP PATH [--to DEST] [--rename-existing | --overwrite] [--json]
//! datavault versions PATH... [--json] [--verify] [--threads N]
//! datavault versions --deleted DIR [--json] [--threads N]
//! datavault rollback DATASET@SNAP [--strategy auto|swap|copy] [--dry-run] [--json] [--yes]
//! datavault stash list [--json]
//! datavault stash show ID [--json]
//! datavault stash restore ID [--yes]
//! datavault stash drop ID [--yes]
//! datavault stash export ID FILE
//! datavault recover [--abandon ID]
//! datavault store init POOL [--json]
//! datavault store status [--json]
//! datavault ui [--config FILE] [DATASET]
//! ```
//!
//! Every command takes `--help`, and `-v`/`--verbose` (an error line then keeps the library's
//! operation and errno after the administrator's words, `flocker_examples::cli`). The command
//! line is clap's alone (`cli.rs`: the tree, `--help`, `--version`, the man pages; `args.rs`:
//! the typed arguments of every subcommand).
//!
//! `snapshot --pre DESC` / `--post ID` take a pre/post pair (snapper's apt plugin's model;
//! `packaging/apt/80datavault` brackets every dpkg run): properties `flocker:kind`,
//! `flocker:description`, `flocker:pre`; the ID printed is the short name (`snapshot.rs`).
//!
//! Snapshot names: `dv-YYYYMMDDTHHMMSSZ` (UTC; see `flocker_examples::scheme`); `list`,
//! `prune` and `run` plan such snapshots with the time in their name, others with their
//! `creation` property. Retention owns only these snapshots, and those whose short name a
//! `match` regex (config key, or `--match` on `list`/`prune`) matches in full: `list`,
//! `prune` and `run` never destroy or count any other snapshot (a manual `@before-upgrade`,
//! syncoid's, zrepl's) and show it as `foreign (kept)`.
//! The configuration file of `run` (and optionally `list`/`prune`) is TOML
//! (`examples/datavault.toml`, `config.rs`); `run`'s schedule, restart and clock-change
//! behaviour and its accelerated clocks are described in `service.rs`. `--now RFC3339` on
//! `list` and `prune` plans as if the clock read that (testing).
//!
//! `status` reports each configured dataset's freshness against its schedule and exits like a
//! Nagios check (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN); `config check` validates a
//! configuration without ZFS (`status.rs`).
//!
//! Mutating rollback/stash commands ask for confirmation on a terminal and refuse when stdin
//! is not a terminal, unless `--yes`. Errors print one line and exit non-zero (2: bad input or
//! usage, nothing changed, including a malformed name and an argument that is not UTF-8; 3:
//! refused, including a plan that no longer matches the datasets
//! when it runs; 1: ZFS or a step failed). A long prune shows a progress
//! line on a terminal only (never with `--json`, never in `run`). The trusted records live in
//! `/var/lib/flocker-core` (`FLOCKER_STORE` overrides it, and a config file's `store`).

use std::process::ExitCode;

mod args;
mod browse;
mod cli;
mod common;
mod config;
mod diff;
mod hooks;
mod list;
mod prune;
mod rollback;
mod schedule;
mod service;
mod snapshot;
mod state;
mod status;
mod store;
mod systemd;
mod ui;
mod versions;

use args::Parsed;
use common::Failure;
use flocker_examples::cli::{EXIT_FAILED, EXIT_USAGE, error_line};

/// Runs a subcommand with its typed arguments.
fn run(p: &Parsed) -> Result<(), Failure> {
    match p {
        Parsed::Snapshot(a) => snapshot::snapshot(a),
        Parsed::List(a) => list::list(a),
        Parsed::Prune(a) => prune::prune(a),
        Parsed::Run(a) => service::run(a),
        Parsed::Diff(a) => diff::diff(a),
        Parsed::Status(a) => status::status(a),
        Parsed::ConfigCheck(a) => status::config_check(a),
        Parsed::Browse(a) => browse::browse(a),
        Parsed::RestoreFile(a) => browse::restore_file(a),
        Parsed::Rollback(a) => rollback::rollback(a),
        Parsed::Stash(a) => rollback::stash(a),
        Parsed::Recover(a) => rollback::recover(a),
        Parsed::Store(a) => store::store(a),
        Parsed::Ui(a) => ui::ui(a),
        Parsed::Versions(a) => versions::versions(a),
    }
}

fn main() -> ExitCode {
    flocker_examples::default_sigpipe();
    // Under systemd the journal reads the priority from the line: errors are `<3>`.
    let p = if systemd::journal() { "<3>" } else { "" };
    let args = match flocker_examples::cli::utf8_args() {
        Ok(a) => a,
        Err(m) => {
            eprintln!("{p}datavault: {m}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    // The clap tree (cli.rs) parses the whole command line into typed arguments (args.rs).
    let (parsed, verbose) = match cli::check(&args) {
        cli::Checked::Dispatch { parsed, verbose } => (parsed, verbose),
        cli::Checked::Print(text) => {
            print!("{text}");
            return ExitCode::SUCCESS;
        }
        cli::Checked::Invalid(m) => {
            eprintln!("{p}datavault: {m}");
            return ExitCode::from(EXIT_USAGE);
        }
        cli::Checked::Usage(m) => return report(Failure::Usage(m), &args, false, p),
        cli::Checked::GenerateMan(dir) => return generate_man(&dir, p),
    };
    match run(&parsed) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => report(f, &args, verbose, p),
    }
}

/// `datavault generate-man DIR`.
fn generate_man(dir: &str, p: &str) -> ExitCode {
    match cli::write_man_pages(std::path::Path::new(dir)) {
        Ok(files) => {
            files.iter().for_each(|f| println!("{}", f.display()));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{p}datavault: error: cannot write the man pages into {dir}: {e}");
            ExitCode::from(EXIT_FAILED)
        }
    }
}

/// Prints why the command failed (`p`: the journal priority) and returns its exit code.
fn report(f: Failure, args: &[String], verbose: bool, p: &str) -> ExitCode {
    match f {
        Failure::Usage(m) => {
            eprintln!("{p}datavault: {m}\n{}", cli::usage(args));
            ExitCode::from(EXIT_USAGE)
        }
        Failure::Refused(m) => {
            eprintln!("{p}datavault: {m}");
            ExitCode::from(3)
        }
        Failure::Zfs(e) => {
            eprintln!("{p}datavault: error: {}", error_line(&e, verbose));
            ExitCode::from(EXIT_FAILED)
        }
        Failure::Invalid(m) => {
            eprintln!("{p}datavault: error: {m}");
            ExitCode::from(EXIT_USAGE)
        }
        Failure::Failed(m) => {
            if !m.is_empty() {
                eprintln!("{p}datavault: error: {m}");
            }
            ExitCode::from(EXIT_FAILED)
        }
    }
}
