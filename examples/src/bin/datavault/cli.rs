//! The whole command line of `datavault` as one clap [`Command`] tree. `main` parses every
//! command line with it (an unknown option, a missing argument or a misspelt subcommand is one
//! line and exit 2), `--help` and `--version` come from it, and the man pages are generated from
//! it (`datavault generate-man DIR`, hidden; run by `cargo xtask package`). Clap is the only
//! parser: every subcommand's arguments are read out of its matches into the typed structs of
//! `args.rs`. A missing or extra positional argument keeps the wording each subcommand had
//! (`count_words`, `usage_words`).

use std::path::Path;

use clap::{Arg, ArgAction, ColorChoice, Command};

use crate::args::{self, Parsed, Refused};

/// The man page section of `datavault` and its subcommands (system administration).
pub const MAN_SECTION: &str = "8";

const ABOUT: &str = "DataVault: scheduled ZFS snapshots with retention, and lossless rollback";

const LONG_ABOUT: &str = "DataVault takes atomic ZFS snapshots named by a UTC timestamp \
(dv-YYYYMMDDTHHMMSSZ), thins them with a retention policy, runs both on a schedule (`datavault \
run`, a systemd service), and rolls a dataset back to any snapshot without losing anything: the \
replaced state goes to a stash that can be listed, restored or dropped. Everything goes through \
libzfs_core; no zfs or zpool process is run.";

const AFTER_LONG_HELP: &str = "Retention (list, prune, run) owns only DataVault's snapshots \
(dv-YYYYMMDDTHHMMSSZ) and those whose name after the @ the `match` regex matches in full (config \
key `match`, per dataset or at the top; --match overrides it); every other snapshot is foreign \
(kept): never destroyed.

Exit status: 0 success; 1 ZFS or a step failed; 2 bad input or usage, nothing changed; 3 refused \
(not confirmed, or a plan that no longer matches the datasets). `status` exits like a Nagios \
check: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.

Files: /etc/datavault.toml (the configuration, see `datavault config check`), \
/var/lib/flocker-core (the trusted store: stash records, journals, the lock, the service's \
report; the environment variable FLOCKER_STORE or the config's `store` moves it).";

/// A flag (no value), long `--name`.
fn flag(long: &'static str, help: &'static str) -> Arg {
    Arg::new(long)
        .long(long)
        .action(ArgAction::SetTrue)
        .help(help)
}

/// An option with one value, long `--name VALUE`. The value may start with `-`. Every
/// occurrence is kept (`Append`): an option given twice is refused by `args.rs` with its name
/// (or, for `rollback --strategy` and `restore-file --to`, means its last occurrence), not
/// silently overridden.
fn opt(long: &'static str, value: &'static str, help: &'static str) -> Arg {
    Arg::new(long)
        .long(long)
        .value_name(value)
        .num_args(1)
        .action(ArgAction::Append)
        .allow_hyphen_values(true)
        .help(help)
}

/// A positional argument.
fn pos(name: &'static str, help: &'static str) -> Arg {
    Arg::new(name).value_name(name).help(help)
}

fn json() -> Arg {
    flag("json", "Print JSON instead of text")
}

/// `-H`, as `zfs list` has it.
fn scripted(help: &'static str) -> Arg {
    Arg::new("scripted")
        .short('H')
        .action(ArgAction::SetTrue)
        .help(help)
}

/// `-p`, as `zfs list` has it.
fn parsable() -> Arg {
    Arg::new("parsable")
        .short('p')
        .action(ArgAction::SetTrue)
        .help("Exact numbers: bytes, seconds, and times as seconds since the epoch")
}

fn recursive(help: &'static str) -> Arg {
    Arg::new("recursive")
        .short('r')
        .long("recursive")
        .action(ArgAction::SetTrue)
        .help(help)
}

fn yes() -> Arg {
    flag(
        "yes",
        "Do it without asking (needed when stdin is not a terminal)",
    )
}

fn config(help: &'static str) -> Arg {
    opt("config", "FILE", help)
}

fn now() -> Arg {
    opt(
        "now",
        "RFC3339",
        "Plan as if the clock read this instant (testing)",
    )
}

/// The options `list` and `prune` share: the policy, ownership and time zone.
fn policy_args() -> [Arg; 4] {
    [
        config("Take the policy, match and time zone of DATASET from this configuration"),
        opt(
            "keep",
            "POLICY",
            "Retention policy (e.g. 48x1h,30x1d,12x1mo,min=3; RETENTION.md)",
        ),
        opt(
            "match",
            "REGEX",
            "Also own the snapshots whose name after the @ this regex matches in full",
        ),
        opt(
            "tz",
            "ZONE",
            "Time zone of the calendar rules (IANA name; default: the config's, else the system's)",
        ),
    ]
}

fn snapshot() -> Command {
    Command::new("snapshot")
        .about("Take one atomic snapshot of datasets (dv-YYYYMMDDTHHMMSSZ), or a pre/post pair")
        .arg(pos("DATASET", "Datasets to snapshot, in one lzc_snapshot call per pool").num_args(0..))
        .arg(recursive("Also snapshot every descendant, atomically"))
        .arg(json())
        .arg(opt(
            "pre",
            "DESC",
            "Take a pre snapshot described by DESC and print its ID (e.g. before a package upgrade)",
        ))
        // --pre and --post exclude each other: snapshot.rs says so in its own words.
        .arg(opt(
            "post",
            "ID",
            "Take the post snapshot that closes the pre snapshot ID",
        ))
        .arg(config("Snapshot the datasets this configuration names"))
}

fn list() -> Command {
    Command::new("list")
        .about("List snapshots with their age, size, and what keeps or expires each")
        .arg(pos(
            "DATASET[@SNAP]",
            "A dataset (or one snapshot); default: every dataset of --config",
        ))
        .arg(recursive("Include the descendants"))
        .arg(json())
        .arg(scripted(
            "Scripted: only the snapshot rows, no header, columns separated by one tab",
        ))
        .arg(parsable())
        .args(policy_args())
        .arg(now())
}

fn prune() -> Command {
    Command::new("prune")
        .about("Destroy the snapshots of DATASET its retention policy does not keep")
        .arg(pos("DATASET", "The dataset to thin").required(true))
        .arg(
            Arg::new("dry-run")
                .long("dry-run")
                .short('n')
                .action(ArgAction::SetTrue)
                .help(
                    "Show the plan (and why each snapshot is kept or destroyed); destroy nothing",
                ),
        )
        .arg(json())
        .arg(recursive("Also thin every descendant"))
        // -v (every decision, not only the destroyed snapshots) is the global --verbose.
        .args(policy_args())
        .arg(now())
        .arg(opt(
            "batch",
            "N",
            "At most N snapshots per lzc_destroy_snaps call (1 to 100000)",
        ))
}

fn run() -> Command {
    Command::new("run")
        .about("The service: snapshot and prune the configured datasets on their schedule")
        .long_about(
            "The service: snapshot and prune the configured datasets on their schedule (`every` \
             or `at` per dataset), retry a failing dataset on its own, sleep until the next slot \
             or a signal, and stop cleanly on SIGTERM. Under systemd (Type=notify) it sends \
             READY and WATCHDOG and its lines carry journald priorities.",
        )
        .arg(config("The configuration (TOML; a sample is /etc/datavault.toml)").required(true))
        .arg(flag("once", "Run one cycle (what is due now) and exit"))
        .arg(opt("cycles", "N", "Run N cycles and exit"))
        .arg(opt("until", "RFC3339", "Exit at this instant"))
        .arg(opt(
            "clock-start",
            "RFC3339",
            "Run on a simulated clock starting at this instant (testing)",
        ))
        .arg(opt(
            "clock-speed",
            "N",
            "The simulated clock runs N times faster than the real one",
        ))
        .arg(opt(
            "clock-step",
            "INTERVAL",
            "The simulated clock jumps by INTERVAL between cycles and never sleeps",
        ))
}

fn status() -> Command {
    Command::new("status")
        .about("Report each dataset's freshness against its schedule (a Nagios check)")
        .long_about(
            "Report each configured dataset's last snapshot, its age against the schedule, the \
             last prune and failures, from the report the service writes after each cycle. Exit \
             status like a Nagios check: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.",
        )
        .arg(config(
            "The service's configuration (default /etc/datavault.toml)",
        ))
        .arg(json())
        .arg(now())
}

fn config_cmd() -> Command {
    Command::new("config")
        .about("Work with a configuration file")
        .subcommand_required(true)
        .subcommand(
            Command::new("check")
                .about("Validate a configuration without ZFS (exit 0 valid, 2 invalid)")
                .arg(pos("FILE", "The configuration file").required(true))
                .arg(json()),
        )
}

fn diff() -> Command {
    Command::new("diff")
        .about("What changed between two snapshots, or a snapshot and the live dataset")
        .arg(pos("FROM", "DATASET@A").required(true))
        .arg(pos("TO", "DATASET@B or DATASET").required(true))
        .arg(json())
}

fn browse() -> Command {
    Command::new("browse")
        .about("List a directory inside a snapshot")
        .arg(pos("DATASET@SNAP", "The snapshot").required(true))
        .arg(pos("PATH", "A directory relative to the dataset's root"))
        .arg(json())
}

fn restore_file() -> Command {
    Command::new("restore-file")
        .about("Copy one file or tree back from a snapshot; an existing one is never overwritten")
        .arg(pos("DATASET@SNAP", "The snapshot").required(true))
        .arg(
            pos(
                "PATH",
                "The file or directory, relative to the dataset's root",
            )
            .required(true),
        )
        .arg(opt("to", "DEST", "Restore to DEST instead of PATH"))
        .arg(flag(
            "rename-existing",
            "Move an existing file at the destination aside instead of refusing",
        ))
        .arg(
            flag(
                "overwrite",
                "Replace the live file or directory in place, after a guard snapshot of the \
                 dataset (its name is printed)",
            )
            .conflicts_with_all(["to", "rename-existing"]),
        )
        .arg(json())
}

fn versions() -> Command {
    Command::new("versions")
        .about("Every distinct version of a file across the snapshots, or what a directory lost")
        .arg(
            pos(
                "PATH",
                "A file or directory, live or deleted (absolute or relative)",
            )
            .num_args(1..)
            .required_unless_present("deleted"),
        )
        .arg(
            opt(
                "deleted",
                "DIR",
                "List the entries of DIR that snapshots hold and DIR lacks",
            )
            .conflicts_with_all(["PATH", "verify"]),
        )
        .arg(flag(
            "verify",
            "Also compare contents (slower: every copy is read)",
        ))
        .arg(opt("threads", "N", "Visit N snapshots at once (1-64)"))
        .arg(json())
}

fn rollback() -> Command {
    Command::new("rollback")
        .about("Roll a dataset back to a snapshot; what it replaces goes to a stash")
        .arg(
            pos("DATASET@SNAP", "The snapshot to roll back to")
                .required_unless_present("cancel"),
        )
        .arg(flag(
            "at-next-boot",
            "Prepare now, take effect at the next boot: the dataset keeps running under its \
             stash name until then, and what is written meanwhile lands in the stash (`auto` \
             does this for the running root filesystem; with -r, for a dataset without \
             descendants)",
        ))
        .arg(
            Arg::new("cancel")
                .long("cancel")
                .value_name("ID")
                .num_args(0..=1)
                .action(ArgAction::Set)
                .help("Cancel the pending rollback (or restore) at next boot ID (default: the only one)")
                .conflicts_with_all([
                    "DATASET@SNAP",
                    "at-next-boot",
                    "strategy",
                    "recursive",
                    "keep-missing",
                    "dry-run",
                ]),
        )
        .arg(
            opt("strategy", "STRATEGY", "swap (O(1), clones), copy, or auto")
                .value_parser(["auto", "swap", "copy"]),
        )
        .arg(
            flag(
                "recursive",
                "The dataset and every descendant, to one recursive snapshot (one tree stash)",
            )
            .short('r'),
        )
        .arg(
            flag(
                "keep-missing",
                "With -r: carry descendants without the snapshot over unchanged",
            )
            .requires("recursive"),
        )
        .arg(flag("dry-run", "Show the plan; change nothing"))
        .arg(json())
        .arg(yes())
}

fn stash() -> Command {
    let id = || {
        pos("ID", "The stash's ID (from `stash list`)")
            .required(true)
            .value_parser(stash_id)
    };
    Command::new("stash")
        .about("The stashes rollbacks made: list, show, restore, drop, export")
        .subcommand_required(true)
        .subcommand(
            Command::new("list")
                .about("List the stashes")
                .arg(json())
                .arg(scripted(
                    "Scripted: one row per stash (ID, DATASET, TARGET, CREATED, SNAPSHOTS, USED, \
                     VERIFIED), no header, columns separated by one tab",
                ))
                .arg(parsable()),
        )
        .subcommand(
            Command::new("show")
                .about("Show one stash")
                .arg(id())
                .arg(json()),
        )
        .subcommand(
            Command::new("restore")
                .about("Undo the rollback that made a stash (itself lossless)")
                .arg(id())
                .arg(flag(
                    "at-next-boot",
                    "Swap the stash back in at the next boot (what a restore of the running root \
                     filesystem does anyway)",
                ))
                .arg(yes()),
        )
        .subcommand(
            Command::new("drop")
                .about("Destroy a stash")
                .arg(id())
                .arg(yes()),
        )
        .subcommand(
            Command::new("export")
                .about("Write a stash's record to FILE")
                .arg(id())
                .arg(pos("FILE", "Where to write it").required(true)),
        )
}

fn recover() -> Command {
    Command::new("recover")
        .about("Finish or revert an operation a crash interrupted")
        .arg(
            opt(
                "abandon",
                "ID",
                "End the operation ID that cannot be finished, destroying nothing",
            )
            .value_parser(stash_id),
        )
}

fn store() -> Command {
    Command::new("store")
        .about("Where the trusted store lives; give it a dataset of its own")
        .subcommand_required(true)
        .subcommand(
            Command::new("init")
                .about(
                    "Create POOL/flocker-core, move the store into it and mount it on the \
                     store's directory (the old directory is kept aside); safe to run again",
                )
                .arg(pos("POOL", "The pool to hold the store's dataset").required(true))
                .arg(json()),
        )
        .subcommand(
            Command::new("status")
                .about("Show the store's directory, the filesystem holding it, and whether it is a dedicated dataset")
                .arg(json()),
        )
}

/// A stash or operation ID as the store names its records (`20261125T155714-6affcf`: ASCII
/// letters, digits and `-`); anything else is bad input (exit 2), never a path.
pub(crate) fn stash_id(s: &str) -> Result<String, String> {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        Ok(s.to_string())
    } else {
        Err("a stash ID is letters, digits and '-' (see `datavault stash list`)".to_string())
    }
}

fn ui() -> Command {
    Command::new("ui")
        .about("Browse the history interactively: timelines, changes, versions; restore, roll back")
        .long_about(
            "An interactive terminal program: the datasets, a dataset's snapshots and stashes on \
             a timeline (what keeps each and when it expires, a density strip over time), a \
             snapshot's changes and files, a file's versions with their differences; restore a \
             file (after a guard snapshot) or roll back (the plan first, then y/n). Needs a \
             terminal; colours are off under NO_COLOR; q quits.",
        )
        .arg(config(
            "Show this configuration's datasets, with their retention policies",
        ))
        .arg(pos("DATASET", "Show this dataset and its descendants"))
}

fn generate_man() -> Command {
    Command::new("generate-man")
        .about("Write the man pages (datavault.8 and one per subcommand) into DIR")
        .hide(true)
        .arg(pos("DIR", "The directory (created if missing)").required(true))
}

/// The command-line tree of `datavault`.
pub fn command() -> Command {
    Command::new("datavault")
        .version(env!("CARGO_PKG_VERSION"))
        .about(ABOUT)
        .long_about(LONG_ABOUT)
        .after_long_help(AFTER_LONG_HELP)
        .subcommand_required(true)
        // A repeated flag is accepted; a repeated option is refused after parsing (opt()).
        .args_override_self(true)
        .color(ColorChoice::Never)
        .arg(
            Arg::new("verbose")
                .short('v')
                .long("verbose")
                .global(true)
                .action(ArgAction::SetTrue)
                .help(
                    "More detail: error lines keep the operation and errno (prune: every decision)",
                ),
        )
        .subcommands([
            snapshot(),
            list(),
            prune(),
            run(),
            status(),
            config_cmd(),
            diff(),
            browse(),
            restore_file(),
            versions(),
            rollback(),
            stash(),
            recover(),
            store(),
            ui(),
            generate_man(),
        ])
}

/// What `main` does after validating the arguments.
pub enum Checked {
    /// Valid: run the subcommand with its typed arguments (`args.rs`); `verbose`: `-v` was
    /// given (an error line then keeps the library's operation and errno).
    Dispatch { parsed: Parsed, verbose: bool },
    /// Print this on stdout and exit 0 (`--help`, `help`, `--version`).
    Print(String),
    /// Write the man pages into this directory and exit.
    GenerateMan(String),
    /// Invalid: this one line (without the `datavault: ` prefix), exit 2.
    Invalid(String),
    /// Invalid: this line in the subcommand's own words, with its usage under it, exit 2.
    Usage(String),
}

/// The subcommand path `args` names (`["stash", "show"]`): its arguments that name
/// subcommands, in order, skipping options. An option's value is never taken for a subcommand
/// name where it matters: only `config` and `stash` have subcommands, and no options before them.
fn path_of(args: &[String]) -> Vec<String> {
    let mut root = command();
    root.build();
    let mut at = &root;
    let mut path = Vec::new();
    for a in args.iter().filter(|a| !a.starts_with('-')) {
        match at.find_subcommand(a) {
            Some(sub) => {
                at = sub;
                path.push(sub.get_name().to_string());
            }
            None => break,
        }
    }
    path
}

/// The wording a missing (`extra`: an extra positional) argument of `snapshot`, `list`,
/// `prune`, `run` or `diff` had before clap parsed them (scripts and the lab tests look for
/// it): one line.
fn count_words(sub: &str, extra: bool) -> Option<&'static str> {
    match (sub, extra) {
        ("prune", _) => Some("expected exactly one DATASET"),
        ("run", false) => Some("run needs --config FILE"),
        ("run", true) => Some("run takes no positional arguments"),
        ("list", true) => Some("list takes at most one DATASET"),
        ("diff", _) => Some("diff needs two arguments: DATASET@SNAP and DATASET@SNAP or DATASET"),
        _ => None,
    }
}

/// The wording a missing or extra positional argument of the other subcommands had (before
/// clap parsed them alone): printed with the usage under it.
fn usage_words(path: &[String]) -> Option<&'static str> {
    let path: Vec<&str> = path.iter().map(String::as_str).collect();
    Some(match path.as_slice() {
        ["status"] => "status takes no positional arguments",
        ["config", "check"] => "config check takes one FILE",
        ["browse"] => "browse needs DATASET@SNAP [PATH]",
        ["restore-file"] => "restore-file needs DATASET@SNAP PATH [--to DEST]",
        ["versions"] => "versions needs PATH... or --deleted DIR",
        ["rollback"] => "expected exactly one DATASET@SNAP",
        ["stash", "list"] => "stash list takes no arguments",
        ["stash", "show" | "restore" | "drop"] => "expected exactly one ID",
        ["stash", "export"] => "stash export ID FILE",
        ["recover"] => "recover takes only --abandon ID",
        ["store", "init"] => "expected exactly one POOL",
        ["store", "status"] => "store status takes no arguments",
        ["ui"] => "ui takes at most one DATASET",
        _ => return None,
    })
}

/// Validates `args` (without the program name) against the tree and reads the subcommand's
/// typed arguments.
pub fn check(args: &[String]) -> Checked {
    let argv = std::iter::once("datavault").chain(args.iter().map(String::as_str));
    let m = match command().try_get_matches_from(argv) {
        Ok(m) => m,
        Err(e) => return refused(args, &e),
    };
    if let Some(("generate-man", sub)) = m.subcommand() {
        return Checked::GenerateMan(sub.get_one::<String>("DIR").cloned().unwrap_or_default());
    }
    match Parsed::of(&m) {
        Ok(Some(parsed)) => Checked::Dispatch {
            parsed,
            verbose: args::verbose(&m),
        },
        // Never with a built tree: a subcommand is required.
        Ok(None) => Checked::Invalid("no command (see --help)".into()),
        Err(Refused::Line(m)) => Checked::Invalid(m),
        Err(Refused::Usage(m)) => Checked::Usage(m),
    }
}

/// What a command line clap refused becomes.
fn refused(args: &[String], e: &clap::Error) -> Checked {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    let path = path_of(args);
    let sub = path.first().map_or("", String::as_str);
    let arg = match e.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(a)) => Some(a.as_str()),
        _ => None,
    };
    // An argument clap did not expect that is not an option: an extra positional one.
    let extra = arg.is_none_or(|a| !a.starts_with('-'));
    let words = usage_words(&path);
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            Checked::Print(e.render().to_string())
        }
        ErrorKind::MissingRequiredArgument if words.is_some() => {
            Checked::Usage(words.unwrap_or_default().to_string())
        }
        ErrorKind::MissingRequiredArgument if count_words(sub, false).is_some() => {
            Checked::Invalid(count_words(sub, false).unwrap_or_default().to_string())
        }
        ErrorKind::UnknownArgument if extra && words.is_some() => {
            Checked::Usage(words.unwrap_or_default().to_string())
        }
        ErrorKind::UnknownArgument if extra && count_words(sub, true).is_some() => {
            Checked::Invalid(count_words(sub, true).unwrap_or_default().to_string())
        }
        // The wording of the hand parsers datavault had.
        ErrorKind::UnknownArgument if !extra => {
            Checked::Invalid(format!("unknown option {}", arg.unwrap_or_default()))
        }
        _ => Checked::Invalid(one_line(&e.render().to_string())),
    }
}

/// Clap's usage of the (sub)command `args` names, e.g. `Usage: datavault diff [OPTIONS] <FROM>
/// <TO>`, and where to find more: printed under a usage error.
pub fn usage(args: &[String]) -> String {
    let mut root = command();
    root.build();
    let mut at = &root;
    for a in args.iter().filter(|a| !a.starts_with('-')) {
        match at.find_subcommand(a) {
            Some(sub) => at = sub,
            None => break,
        }
    }
    let name = at.get_bin_name().unwrap_or("datavault").to_string();
    format!(
        "{}\nFor more information, try '{name} --help'.",
        at.clone().render_usage()
    )
}

/// The first paragraph of clap's error text as one line, without its `error: ` prefix (the
/// usage and tips that follow are dropped).
fn one_line(text: &str) -> String {
    let para: Vec<&str> = text
        .lines()
        .skip_while(|l| l.trim().is_empty())
        .take_while(|l| !l.trim().is_empty())
        .map(str::trim)
        .collect();
    let mut line = para.join(" ");
    // A missing subcommand's message lists them all, the hidden one too: point at --help.
    if let Some(at) = line.find(" [subcommands: ") {
        line.replace_range(at.., " (see --help)");
    }
    line.strip_prefix("error: ").unwrap_or(&line).to_string()
}

/// Writes `datavault.8` and one page per visible subcommand (`datavault-status.8`,
/// `datavault-stash-list.8`, ...) into `dir`; returns the files written.
pub fn write_man_pages(dir: &Path) -> std::io::Result<Vec<std::path::PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut cmd = command().disable_help_subcommand(true);
    cmd.build();
    let mut written = Vec::new();
    write_man(&cmd, dir, &mut written)?;
    Ok(written)
}

fn write_man(cmd: &Command, dir: &Path, out: &mut Vec<std::path::PathBuf>) -> std::io::Result<()> {
    let page = clap_mangen::Man::new(cmd.clone())
        .section(MAN_SECTION)
        .source(format!("DataVault {}", env!("CARGO_PKG_VERSION")))
        .manual("DataVault");
    out.push(page.generate_to(dir)?);
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_man(sub, dir, out)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(args: &[&str]) -> Result<(), String> {
        let v: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        match check(&v) {
            Checked::Dispatch { .. } => Ok(()),
            Checked::Invalid(m) | Checked::Usage(m) => Err(m),
            _ => Err("not a command".into()),
        }
    }

    #[test]
    fn the_tree_is_consistent() {
        command().debug_assert();
    }

    #[test]
    fn stash_list_takes_scripted_and_parsable() {
        for args in [
            &["stash", "list", "-H"][..],
            &["stash", "list", "-p"],
            &["stash", "list", "-H", "-p"],
            &["stash", "list", "-Hp"],
        ] {
            ok(args).unwrap_or_else(|e| panic!("{args:?} refused: {e}"));
        }
        assert!(ok(&["stash", "list", "-x"]).is_err());
    }

    /// The subcommand at `path` (e.g. `["stash", "list"]`).
    fn sub<'a>(root: &'a Command, path: &[&str]) -> &'a Command {
        path.iter().fold(root, |c, name| {
            c.find_subcommand(name)
                .unwrap_or_else(|| panic!("no subcommand {name} in the tree"))
        })
    }

    /// Placeholder values for a subcommand's required arguments (`--config` of `run`, ...).
    fn required_positionals(c: &Command) -> Vec<String> {
        let mut v = Vec::new();
        // `rollback`'s DATASET@SNAP is required unless `--cancel` is given.
        for a in c
            .get_arguments()
            .filter(|a| a.is_required_set() || a.get_id() == "DATASET@SNAP")
        {
            if let Some(l) = a.get_long() {
                v.push(format!("--{l}"));
            }
            v.push(format!("p-{}", a.get_id()));
        }
        v
    }

    /// The typed arguments of a valid command line.
    fn parsed(args: &[&str]) -> Parsed {
        let v: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        match check(&v) {
            Checked::Dispatch { parsed, .. } => parsed,
            Checked::Invalid(m) | Checked::Usage(m) => panic!("{args:?} refused: {m}"),
            _ => panic!("{args:?} is not a command"),
        }
    }

    /// The options the hand parsers of these subcommands accepted before clap parsed them
    /// alone (`Opts::parse`, `parse_flags`, browse.rs's and recover's own): those without a
    /// value and those with one.
    const FORMER_HAND_PARSED: &[(&[&str], &[&str], &[&str])] = &[
        (&["status"], &["--json"], &["--config", "--now"]),
        (&["config", "check"], &["--json"], &[]),
        (
            &["rollback"],
            &["--dry-run", "--json", "--yes"],
            &["--strategy"],
        ),
        (&["stash", "list"], &["--json", "-H", "-p"], &[]),
        (&["stash", "show"], &["--json"], &[]),
        (&["stash", "export"], &[], &[]),
        (&["stash", "restore"], &["--yes"], &[]),
        (&["stash", "drop"], &["--yes"], &[]),
        (&["browse"], &["--json"], &[]),
        (
            &["restore-file"],
            &["--json", "--rename-existing"],
            &["--to"],
        ),
        (&["recover"], &[], &["--abandon"]),
    ];

    #[test]
    fn every_option_of_the_former_hand_parsers_is_accepted_and_read() {
        // Built, so that the global -v/--verbose is in every subcommand.
        let mut root = command();
        root.build();
        let mut checked = 0;
        for (path, flags, valued) in FORMER_HAND_PARSED {
            let c = sub(&root, path);
            let mut base: Vec<String> = path.iter().map(|s| s.to_string()).collect();
            base.extend(required_positionals(c));
            let base_refs: Vec<&str> = base.iter().map(String::as_str).collect();
            let without = parsed(&base_refs);
            for (name, takes) in flags
                .iter()
                .map(|n| (n, false))
                .chain(valued.iter().map(|n| (n, true)))
            {
                let arg = c
                    .get_arguments()
                    .find(|a| {
                        a.get_long().map(|l| format!("--{l}")).as_deref() == Some(*name)
                            || a.get_short().map(|s| format!("-{s}")).as_deref() == Some(*name)
                    })
                    .unwrap_or_else(|| panic!("{name} of `{}` is not in the tree", path.join(" ")));
                let takes_value = arg.get_num_args().is_some_and(|n| n.takes_values());
                assert_eq!(takes_value, takes, "{name} of `{}`", path.join(" "));
                let mut argv = base.clone();
                argv.push(name.to_string());
                if takes {
                    argv.push(if *name == "--strategy" { "swap" } else { "v" }.into());
                }
                let refs: Vec<&str> = argv.iter().map(String::as_str).collect();
                // Accepted, and it reaches the typed arguments.
                assert_ne!(parsed(&refs), without, "{argv:?}: the option is not read");
                checked += 1;
            }
        }
        assert_eq!(checked, 19);
    }

    #[test]
    fn no_hand_parser_remains() {
        // Every module of datavault but this tree (which names them here).
        let sources = [
            ("main.rs", include_str!("main.rs")),
            ("args.rs", include_str!("args.rs")),
            ("common.rs", include_str!("common.rs")),
            ("status.rs", include_str!("status.rs")),
            ("config.rs", include_str!("config.rs")),
            ("browse.rs", include_str!("browse.rs")),
            ("rollback.rs", include_str!("rollback.rs")),
            ("diff.rs", include_str!("diff.rs")),
            ("state.rs", include_str!("state.rs")),
            ("snapshot.rs", include_str!("snapshot.rs")),
            ("list.rs", include_str!("list.rs")),
            ("prune.rs", include_str!("prune.rs")),
            ("service.rs", include_str!("service.rs")),
            ("hooks.rs", include_str!("hooks.rs")),
            ("schedule.rs", include_str!("schedule.rs")),
            ("systemd.rs", include_str!("systemd.rs")),
        ];
        let hand_parsers = [
            "Opts::parse(",
            "parse_flags(",
            "struct Opts",
            "struct Flags",
            "fn one(",
            "split_short_flags(",
            "take_verbose(",
            "run_hand_parsed(",
            "fn parse(args: &[String]",
            "(args: &[String]) -> Result<(), Failure>",
            "(rest: &[String]",
            "env::args",
        ];
        for (file, src) in sources {
            for pat in hand_parsers {
                assert!(!src.contains(pat), "{file} still parses by hand: {pat}");
            }
        }
    }

    #[test]
    fn hand_written_parsers_options_are_in_the_tree() {
        // browse.rs and recover had parsers of their own (not Opts/parse_flags): their command
        // lines still validate.
        for argv in [
            &["browse", "p/d@s", "dir", "--json"][..],
            &["browse", "p/d@s", "--", "-odd-name"],
            &[
                "restore-file",
                "p/d@s",
                "a",
                "--to",
                "/tmp/x",
                "--rename-existing",
                "--json",
            ],
            &["restore-file", "--to=/tmp/x", "p/d@s", "a"],
            &["recover"],
            &["recover", "--abandon", "20261125T155714-6affcf"],
        ] {
            ok(argv).unwrap_or_else(|e| panic!("{argv:?} refused: {e}"));
        }
    }

    /// The `datavault` argument vectors written as `&[...]` literals in the lab tests.
    fn lab_vectors() -> Vec<Vec<String>> {
        let sources = [
            include_str!("../../../../tests/tests/datavault.rs"),
            include_str!("../../../../tests/tests/rollback.rs"),
            include_str!("../../../../tests/tests/diff.rs"),
        ];
        let mut out = Vec::new();
        for src in sources {
            for pat in [
                "dv(&[",
                "dv_ok(&[",
                "dv(&st, &[",
                "dv(st, &[",
                "spawn_dv(&st, &[",
            ] {
                for (at, _) in src.match_indices(pat) {
                    let body = &src[at + pat.len()..];
                    let mut depth = 0;
                    let mut items = Vec::new();
                    let mut cur = String::new();
                    let (mut in_str, mut escaped) = (false, false);
                    for ch in body.chars() {
                        if in_str {
                            in_str = escaped || ch != '"';
                            escaped = !escaped && ch == '\\';
                            cur.push(ch);
                            continue;
                        }
                        match ch {
                            '"' => in_str = true,
                            '[' | '(' => depth += 1,
                            ']' | ')' if depth > 0 => depth -= 1,
                            ']' => break,
                            ',' if depth == 0 => {
                                items.push(std::mem::take(&mut cur));
                                continue;
                            }
                            _ => {}
                        }
                        cur.push(ch);
                    }
                    items.push(cur);
                    let argv: Vec<String> = items
                        .iter()
                        .map(|s| s.trim())
                        .filter(|s| !s.is_empty())
                        .map(
                            |s| match s.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
                                Some(lit) => lit.to_string(),
                                // A variable (a dataset, a file, an id): a plain placeholder
                                // (a valid stash ID too).
                                None => "p-x".to_string(),
                            },
                        )
                        .collect();
                    if !argv.is_empty() {
                        out.push(argv);
                    }
                }
            }
        }
        out
    }

    #[test]
    fn the_lab_tests_command_lines_validate() {
        let vectors = lab_vectors();
        assert!(
            vectors.len() >= 40,
            "only {} command lines found in the lab tests",
            vectors.len()
        );
        // The bad input the lab expects refused with exit 2 (rollback.rs): the tree refuses it.
        let refused: &[&[&str]] = &[&["recover", "--abandon", "../x"]];
        for argv in &vectors {
            let refs: Vec<&str> = argv.iter().map(String::as_str).collect();
            if refused.contains(&refs.as_slice()) {
                assert!(ok(&refs).is_err(), "{argv:?} accepted");
                continue;
            }
            ok(&refs).unwrap_or_else(|e| panic!("{argv:?} refused: {e}"));
        }
        // And command lines built at run time there.
        for argv in [
            &[
                "run",
                "--config",
                "/c.toml",
                "--clock-start",
                "2026-01-01T00:00:00Z",
                "--clock-step",
                "1h",
                "--until",
                "2026-01-02T00:00:00Z",
            ][..],
            &[
                "run",
                "--config",
                "/c.toml",
                "--cycles",
                "3",
                "--clock-start",
                "2026-01-01T00:00:00Z",
                "--clock-speed",
                "3600",
            ],
            &[
                "status",
                "--config",
                "/c.toml",
                "--json",
                "--now",
                "2026-01-01T00:00:00Z",
            ],
            &[
                "prune",
                "p/a",
                "--config",
                "/c.toml",
                "--dry-run",
                "--json",
                "--now",
                "2026-01-01T00:00:00Z",
                "--tz",
                "Europe/Berlin",
                "--batch",
                "2",
            ],
            &[
                "rollback",
                "p/a@b",
                "--strategy",
                "copy",
                "--dry-run",
                "--json",
            ],
            &["rollback", "p/a@b", "--strategy=swap", "--yes"],
            &[
                "snapshot",
                "--pre",
                "apt upgrade",
                "--config",
                "/etc/datavault.toml",
            ],
            &[
                "snapshot",
                "--post",
                "dv-20261125T185645Z",
                "p/a",
                "p/b",
                "-r",
                "--json",
            ],
            &["list", "-r", "--json", "--keep", "min=1", "p/a"],
            &["prune", "-n", "-v", "-r", "p/a", "--keep=min=1"],
            &["prune", "p/a", "--json", "--json", "--keep", "min=1"],
            &["stash", "export", "abc", "/tmp/x"],
            &["stash", "drop", "abc", "--yes"],
            &["config", "check", "/etc/datavault.toml", "--json"],
        ] {
            ok(argv).unwrap_or_else(|e| panic!("{argv:?} refused: {e}"));
        }
    }

    fn e_hides_man(argv: &[&str]) -> bool {
        argv.first() != Some(&"generate-man") && ok(argv).is_err_and(|e| e.contains("generate-man"))
    }

    #[test]
    fn invalid_command_lines_are_one_line() {
        for (argv, needle) in [
            (
                &["snapshot", "--bogus", "p/a"][..],
                "unknown option --bogus",
            ),
            (
                &["diff", "--bogus", "p/a@b", "p/a"],
                "unknown option --bogus",
            ),
            (&["prune", "p/a", "-x"], "unknown option -x"),
            (&["frobnicate"], "frobnicate"),
            (&[], "subcommand"),
            (&["config"], "subcommand"),
            (&["config", "chek", "f"], "chek"),
            (&["stash", "lsit"], "lsit"),
            (&["rollback", "p/a@b", "--strategy", "fast"], "fast"),
            (&["list", "--keep"], "--keep"),
            (&["stash", "show", "../x"], "stash ID"),
            (&["recover", "--abandon", "a/b"], "stash ID"),
            (&["generate-man"], "DIR"),
            (&["generate-man", "a", "b"], "'b'"),
        ] {
            assert!(!e_hides_man(argv), "{argv:?} names the hidden subcommand");
            let e = ok(argv).expect_err(&format!("{argv:?} accepted"));
            assert!(!e.contains('\n') && e.contains(needle), "{argv:?}: {e:?}");
            assert!(!e.starts_with("error"), "{e:?}");
        }
    }

    #[test]
    fn positional_counts_keep_the_modules_words() {
        // The subcommands once hand-parsed keep their own messages ("browse needs
        // DATASET@SNAP"), with the usage under them.
        for (argv, words) in [
            (&["browse"][..], "browse needs DATASET@SNAP [PATH]"),
            (
                &["browse", "p/a@s", "d", "x"],
                "browse needs DATASET@SNAP [PATH]",
            ),
            (
                &["restore-file", "p/a@b"],
                "restore-file needs DATASET@SNAP PATH [--to DEST]",
            ),
            (&["status", "extra"], "status takes no positional arguments"),
            (&["-v", "stash", "show"], "expected exactly one ID"),
            (&["stash", "drop", "a", "b"], "expected exactly one ID"),
            (&["stash", "export", "a"], "stash export ID FILE"),
            (&["stash", "list", "x"], "stash list takes no arguments"),
            (&["config", "check"], "config check takes one FILE"),
            (&["rollback"], "expected exactly one DATASET@SNAP"),
            (&["recover", "x"], "recover takes only --abandon ID"),
            (
                &["recover", "--abandon", "a", "--abandon", "b"],
                "recover takes only --abandon ID",
            ),
            (&["status", "--now", "a", "--now=b"], "--now given twice"),
        ] {
            let v: Vec<String> = argv.iter().map(|s| s.to_string()).collect();
            match check(&v) {
                Checked::Usage(m) => assert_eq!(m, words, "{argv:?}"),
                _ => panic!("{argv:?}: not refused in the module's words"),
            }
        }
    }

    #[test]
    fn clap_parsed_subcommands_count_their_arguments() {
        // Their messages of before clap parsed them stay ("diff needs two arguments").
        for (argv, needle) in [
            (&["prune"][..], "expected exactly one DATASET"),
            (&["-v", "prune"], "expected exactly one DATASET"),
            (&["run", "--once"], "run needs --config FILE"),
            (&["diff", "p/a@b"], "diff needs two arguments"),
            (&["list", "p/a", "p/b"], "list takes at most one DATASET"),
            (&["diff", "p/a@b", "p/a", "p/c"], "diff needs two arguments"),
            (&["prune", "p/a", "p/b"], "expected exactly one DATASET"),
            (
                &["run", "--config", "c", "x"],
                "run takes no positional arguments",
            ),
        ] {
            let e = ok(argv).expect_err(&format!("{argv:?} accepted"));
            assert!(!e.contains('\n') && e.contains(needle), "{argv:?}: {e:?}");
        }
        // --pre and --post together: snapshot.rs says so in its own words.
        assert!(ok(&["snapshot", "--pre", "x", "--post", "y", "p/a"]).is_ok());
    }

    #[test]
    fn verbose_is_read_anywhere() {
        let v = |a: &[&str]| match check(&a.iter().map(|s| s.to_string()).collect::<Vec<_>>()) {
            Checked::Dispatch { verbose, parsed } => (verbose, parsed),
            _ => panic!("{a:?} refused"),
        };
        assert!(v(&["-v", "list", "p/a"]).0);
        let (verbose, list) = v(&["list", "--verbose", "--match", "-v", "p/a"]);
        assert!(verbose);
        assert!(matches!(list, Parsed::List(l) if l.policy.matching.as_deref() == Some("-v")));
        assert!(!v(&["list", "--match=x", "p/a"]).0);
        let (verbose, prune) = v(&["prune", "--verbose", "p/a"]);
        assert!(verbose && matches!(prune, Parsed::Prune(p) if p.verbose));
        let (verbose, browse) = v(&["browse", "p/a@s", "--", "-v"]);
        assert!(!verbose);
        assert!(matches!(browse, Parsed::Browse(b) if b.path.as_deref() == Some("-v")));
        assert!(v(&["stash", "-v", "show", "abc"]).0);
        assert!(v(&["recover", "--verbose"]).0);
    }

    #[test]
    fn usage_names_the_subcommand() {
        let u = usage(&["stash".to_string(), "show".to_string()]);
        assert!(u.starts_with("Usage: datavault stash show"), "{u}");
        assert!(usage(&[]).starts_with("Usage: datavault"));
    }

    #[test]
    fn help_and_version_print() {
        let print =
            |args: &[&str]| match check(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>()) {
                Checked::Print(t) => t,
                _ => panic!("{args:?} did not print"),
            };
        assert_eq!(
            print(&["--version"]).trim(),
            format!("datavault {}", env!("CARGO_PKG_VERSION"))
        );
        for args in [&["--help"][..], &["help"], &["-h"]] {
            let t = print(args);
            assert!(
                t.contains("snapshot") && t.contains("rollback") && t.contains("status"),
                "{t}"
            );
            assert!(
                !t.contains("generate-man"),
                "the hidden subcommand shows: {t}"
            );
        }
        assert!(print(&["help", "prune"]).contains("--batch"));
        assert!(print(&["stash", "restore", "--help"]).contains("--yes"));
    }

    #[test]
    fn man_pages_are_written_for_every_subcommand() {
        let dir = std::env::temp_dir().join(format!("datavault-man-{}", std::process::id()));
        let files = write_man_pages(&dir).unwrap();
        let names: Vec<String> = files
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        for want in [
            "datavault.8",
            "datavault-run.8",
            "datavault-status.8",
            "datavault-config-check.8",
            "datavault-snapshot.8",
            "datavault-stash-restore.8",
        ] {
            assert!(names.iter().any(|n| n == want), "{want} missing: {names:?}");
        }
        assert!(
            !names
                .iter()
                .any(|n| n.contains("generate-man") || n.contains("help"))
        );
        let main = std::fs::read_to_string(dir.join("datavault.8")).unwrap();
        assert!(
            main.starts_with(".ie") || main.contains(".TH datavault 8"),
            "{main}"
        );
        assert!(main.contains(".TH datavault 8"));
        let snap = std::fs::read_to_string(dir.join("datavault-snapshot.8")).unwrap();
        assert!(snap.contains("pre") && snap.contains("post"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
