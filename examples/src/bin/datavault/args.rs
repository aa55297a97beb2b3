//! The arguments of every subcommand, read out of the [`ArgMatches`] of the tree in `cli.rs`
//! into one typed struct each: clap is the only parser of the command line. What a value means
//! (a policy, an instant, a whole number, a snapshot name) is checked by the module that uses
//! it, with its own message; clap has already refused an unknown option, a missing value, a
//! malformed stash ID, a missing or extra positional argument (exit 2).

use clap::ArgMatches;
use flocker_core::rollback::Strategy;

/// Why a command line clap accepted is refused all the same (exit 2).
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// One line (`--keep given twice`).
    Line(String),
    /// One line and the subcommand's usage under it (`status`: `--config given twice`).
    Usage(String),
}

/// A string option's value (`None` when absent or, never in a built tree, not a string); an
/// option given twice is refused (`--keep given twice`).
fn value(m: &ArgMatches, id: &str) -> Result<Option<String>, Refused> {
    once(m, id).map_err(Refused::Line)
}

/// [`value`], refused with the usage under the line (as `status` always did).
fn value_with_usage(m: &ArgMatches, id: &str) -> Result<Option<String>, Refused> {
    once(m, id).map_err(Refused::Usage)
}

fn once(m: &ArgMatches, id: &str) -> Result<Option<String>, String> {
    let mut all = values(m, id);
    if all.len() > 1 {
        return Err(format!("--{id} given twice"));
    }
    Ok(all.pop())
}

/// An option's last value: where a repeated option means its last occurrence (`rollback
/// --strategy`, `restore-file --to`).
fn last(m: &ArgMatches, id: &str) -> Option<String> {
    values(m, id).pop()
}

/// A positional argument's value.
fn positional(m: &ArgMatches, id: &str) -> Option<String> {
    values(m, id).pop()
}

/// Every value of a positional argument that takes several.
fn values(m: &ArgMatches, id: &str) -> Vec<String> {
    m.try_get_many::<String>(id)
        .ok()
        .flatten()
        .map(|v| v.cloned().collect())
        .unwrap_or_default()
}

/// Whether a flag was given (`false` for an id the subcommand lacks: never a panic).
fn flag(m: &ArgMatches, id: &str) -> bool {
    m.try_get_one::<bool>(id)
        .ok()
        .flatten()
        .copied()
        .unwrap_or(false)
}

/// The options `list` and `prune` share: where the policy, ownership and time zone come from.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct PolicyArgs {
    /// `--config FILE`.
    pub config: Option<String>,
    /// `--keep POLICY`.
    pub keep: Option<String>,
    /// `--match REGEX`.
    pub matching: Option<String>,
    /// `--tz ZONE`.
    pub tz: Option<String>,
    /// `--now RFC3339`.
    pub now: Option<String>,
}

impl PolicyArgs {
    fn of(m: &ArgMatches) -> Result<PolicyArgs, Refused> {
        Ok(PolicyArgs {
            config: value(m, "config")?,
            keep: value(m, "keep")?,
            matching: value(m, "match")?,
            tz: value(m, "tz")?,
            now: value(m, "now")?,
        })
    }
}

/// `datavault snapshot`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SnapshotArgs {
    pub datasets: Vec<String>,
    pub recursive: bool,
    pub json: bool,
    pub pre: Option<String>,
    pub post: Option<String>,
    pub config: Option<String>,
}

/// `datavault list`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ListArgs {
    /// `DATASET[@SNAP]`; `None`: every dataset of `--config`.
    pub target: Option<String>,
    pub recursive: bool,
    pub json: bool,
    /// `-H`.
    pub scripted: bool,
    /// `-p`.
    pub parsable: bool,
    pub policy: PolicyArgs,
}

/// `datavault prune`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct PruneArgs {
    pub dataset: String,
    pub dry_run: bool,
    pub json: bool,
    pub recursive: bool,
    /// The global `-v`: every decision, not only the destroyed snapshots.
    pub verbose: bool,
    pub policy: PolicyArgs,
    /// `--batch N`, checked by `prune` (1 to 100000).
    pub batch: Option<String>,
}

/// `datavault run`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct RunArgs {
    pub config: String,
    pub once: bool,
    pub cycles: Option<String>,
    pub until: Option<String>,
    pub clock_start: Option<String>,
    pub clock_speed: Option<String>,
    pub clock_step: Option<String>,
}

/// `datavault diff`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct DiffArgs {
    pub from: String,
    pub to: String,
    pub json: bool,
}

/// `datavault status`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct StatusArgs {
    /// `--config FILE`; `None`: `/etc/datavault.toml`.
    pub config: Option<String>,
    pub json: bool,
    /// `--now RFC3339`, checked by `status`.
    pub now: Option<String>,
}

/// `datavault config check`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ConfigCheckArgs {
    pub file: String,
    pub json: bool,
}

/// `datavault browse`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct BrowseArgs {
    /// `DATASET@SNAP`, checked by `browse`.
    pub snapshot: String,
    /// A directory relative to the dataset's root; `None`: the root.
    pub path: Option<String>,
    pub json: bool,
}

/// `datavault restore-file`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct RestoreFileArgs {
    /// `DATASET@SNAP`, checked by `restore-file`.
    pub snapshot: String,
    pub path: String,
    /// `--to DEST` (the last one when given twice).
    pub to: Option<String>,
    pub rename_existing: bool,
    /// `--overwrite`: a guard snapshot, then replace in place.
    pub overwrite: bool,
    pub json: bool,
}

/// `datavault versions`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct VersionsArgs {
    /// The paths (none with `--deleted`).
    pub paths: Vec<String>,
    /// `--deleted DIR`.
    pub deleted: Option<String>,
    pub verify: bool,
    /// `--threads N`, checked by `versions`.
    pub threads: Option<String>,
    pub json: bool,
}

/// `datavault rollback`.
#[derive(Debug, PartialEq, Eq)]
pub struct RollbackArgs {
    /// `DATASET@SNAP`, checked by `rollback`.
    pub target: String,
    /// `--strategy` (the last one when given twice; default `auto`).
    pub strategy: Strategy,
    /// `-r`: the dataset and its descendants.
    pub recursive: bool,
    /// `--keep-missing` (only with `-r`).
    pub keep_missing: bool,
    /// `--at-next-boot` (not with `--strategy copy`; with `-r` only for a dataset without
    /// descendants).
    pub at_next_boot: bool,
    /// `--cancel [ID]`: `Some(None)` cancels the only pending rollback at next boot; the
    /// target is then empty.
    pub cancel: Option<Option<String>>,
    pub dry_run: bool,
    pub json: bool,
    pub yes: bool,
}

/// `datavault stash ...`; every ID is a well-formed stash ID (the tree checked it).
#[derive(Debug, PartialEq, Eq)]
pub enum StashArgs {
    /// `stash list [--json] [-H] [-p]`.
    List {
        json: bool,
        scripted: bool,
        parsable: bool,
    },
    /// `stash show ID [--json]`.
    Show { id: String, json: bool },
    /// `stash restore ID [--at-next-boot] [--yes]`.
    Restore {
        id: String,
        at_next_boot: bool,
        yes: bool,
    },
    /// `stash drop ID [--yes]`.
    Drop { id: String, yes: bool },
    /// `stash export ID FILE`.
    Export { id: String, file: String },
}

/// `datavault store ...`.
#[derive(Debug, PartialEq, Eq)]
pub enum StoreArgs {
    /// `store init POOL [--json]`.
    Init { pool: String, json: bool },
    /// `store status [--json]`.
    Status { json: bool },
}

/// `datavault recover`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct RecoverArgs {
    /// `--abandon ID`, a well-formed stash ID.
    pub abandon: Option<String>,
}

/// `datavault ui`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct UiArgs {
    /// `--config FILE`: its datasets and their policies.
    pub config: Option<String>,
    /// `DATASET`: it and its descendants.
    pub dataset: Option<String>,
}

/// The typed command line of a subcommand.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    Snapshot(SnapshotArgs),
    List(ListArgs),
    Prune(PruneArgs),
    Run(RunArgs),
    Diff(DiffArgs),
    Status(StatusArgs),
    ConfigCheck(ConfigCheckArgs),
    Browse(BrowseArgs),
    RestoreFile(RestoreFileArgs),
    Rollback(RollbackArgs),
    Stash(StashArgs),
    Recover(RecoverArgs),
    Store(StoreArgs),
    Ui(UiArgs),
    Versions(VersionsArgs),
}

impl Parsed {
    /// The typed arguments of the subcommand `root` (the matches of the whole tree) names, or
    /// `None` without one (or for `generate-man`, which `cli.rs` runs). Err: why the command
    /// line is refused all the same (an option given twice).
    pub fn of(root: &ArgMatches) -> Result<Option<Parsed>, Refused> {
        let Some((name, m)) = root.subcommand() else {
            return Ok(None);
        };
        match name {
            "snapshot" | "list" | "prune" | "run" | "diff" => Self::planning(name, m),
            "status" => Ok(Some(Parsed::Status(StatusArgs {
                config: value_with_usage(m, "config")?,
                json: flag(m, "json"),
                now: value_with_usage(m, "now")?,
            }))),
            "config" => Ok(m.subcommand().map(|(_, m)| {
                Parsed::ConfigCheck(ConfigCheckArgs {
                    file: positional(m, "FILE").unwrap_or_default(),
                    json: flag(m, "json"),
                })
            })),
            "browse" => Ok(Some(Parsed::Browse(BrowseArgs {
                snapshot: positional(m, "DATASET@SNAP").unwrap_or_default(),
                path: positional(m, "PATH"),
                json: flag(m, "json"),
            }))),
            "restore-file" => Ok(Some(Parsed::RestoreFile(RestoreFileArgs {
                snapshot: positional(m, "DATASET@SNAP").unwrap_or_default(),
                path: positional(m, "PATH").unwrap_or_default(),
                to: last(m, "to"),
                rename_existing: flag(m, "rename-existing"),
                overwrite: flag(m, "overwrite"),
                json: flag(m, "json"),
            }))),
            "versions" => Ok(Some(Parsed::Versions(VersionsArgs {
                paths: values(m, "PATH"),
                deleted: value(m, "deleted")?,
                verify: flag(m, "verify"),
                threads: value(m, "threads")?,
                json: flag(m, "json"),
            }))),
            "rollback" => Ok(Some(Parsed::Rollback(rollback(m)?))),
            "stash" => Ok(m.subcommand().map(|(sub, m)| Parsed::Stash(stash(sub, m)))),
            "recover" => Ok(Some(Parsed::Recover(recover(m)?))),
            "store" => Ok(m.subcommand().map(|(sub, m)| {
                Parsed::Store(match sub {
                    "init" => StoreArgs::Init {
                        pool: positional(m, "POOL").unwrap_or_default(),
                        json: flag(m, "json"),
                    },
                    _ => StoreArgs::Status {
                        json: flag(m, "json"),
                    },
                })
            })),
            "ui" => Ok(Some(Parsed::Ui(UiArgs {
                config: value(m, "config")?,
                dataset: positional(m, "DATASET"),
            }))),
            _ => Ok(None),
        }
    }

    /// `snapshot`, `list`, `prune`, `run` and `diff`.
    fn planning(name: &str, m: &ArgMatches) -> Result<Option<Parsed>, Refused> {
        Ok(Some(match name {
            "snapshot" => Parsed::Snapshot(SnapshotArgs {
                datasets: values(m, "DATASET"),
                recursive: flag(m, "recursive"),
                json: flag(m, "json"),
                pre: value(m, "pre")?,
                post: value(m, "post")?,
                config: value(m, "config")?,
            }),
            "list" => Parsed::List(ListArgs {
                target: positional(m, "DATASET[@SNAP]"),
                recursive: flag(m, "recursive"),
                json: flag(m, "json"),
                scripted: flag(m, "scripted"),
                parsable: flag(m, "parsable"),
                policy: PolicyArgs::of(m)?,
            }),
            "prune" => Parsed::Prune(PruneArgs {
                dataset: positional(m, "DATASET").unwrap_or_default(),
                dry_run: flag(m, "dry-run"),
                json: flag(m, "json"),
                recursive: flag(m, "recursive"),
                verbose: flag(m, "verbose"),
                policy: PolicyArgs::of(m)?,
                batch: value(m, "batch")?,
            }),
            "run" => Parsed::Run(RunArgs {
                config: value(m, "config")?.unwrap_or_default(),
                once: flag(m, "once"),
                cycles: value(m, "cycles")?,
                until: value(m, "until")?,
                clock_start: value(m, "clock-start")?,
                clock_speed: value(m, "clock-speed")?,
                clock_step: value(m, "clock-step")?,
            }),
            "diff" => Parsed::Diff(DiffArgs {
                from: positional(m, "FROM").unwrap_or_default(),
                to: positional(m, "TO").unwrap_or_default(),
                json: flag(m, "json"),
            }),
            _ => return Ok(None),
        }))
    }
}

/// `rollback`: the strategy the tree already checked (`auto`, `swap` or `copy`).
fn rollback(m: &ArgMatches) -> Result<RollbackArgs, Refused> {
    let strategy = match last(m, "strategy") {
        None => Strategy::Auto,
        Some(s) => s.parse().map_err(|e: flocker_core::error::Error| {
            Refused::Usage(e.detail().unwrap_or_default().to_string())
        })?,
    };
    let cancel = match m.value_source("cancel") {
        None => None,
        Some(_) => match last(m, "cancel") {
            Some(id) if !id.is_empty() => {
                Some(Some(crate::cli::stash_id(&id).map_err(Refused::Usage)?))
            }
            _ => Some(None),
        },
    };
    let at_next_boot = flag(m, "at-next-boot");
    if at_next_boot && strategy == Strategy::Copy {
        return Err(Refused::Usage(
            "--at-next-boot swaps datasets at the boot: --strategy copy cannot be used with it"
                .into(),
        ));
    }
    Ok(RollbackArgs {
        target: positional(m, "DATASET@SNAP").unwrap_or_default(),
        strategy,
        recursive: flag(m, "recursive"),
        keep_missing: flag(m, "keep-missing"),
        at_next_boot,
        cancel,
        dry_run: flag(m, "dry-run"),
        json: flag(m, "json"),
        yes: flag(m, "yes"),
    })
}

/// `stash SUB`.
fn stash(sub: &str, m: &ArgMatches) -> StashArgs {
    let id = positional(m, "ID").unwrap_or_default();
    match sub {
        "show" => StashArgs::Show {
            id,
            json: flag(m, "json"),
        },
        "restore" => StashArgs::Restore {
            id,
            at_next_boot: flag(m, "at-next-boot"),
            yes: flag(m, "yes"),
        },
        "drop" => StashArgs::Drop {
            id,
            yes: flag(m, "yes"),
        },
        "export" => StashArgs::Export {
            id,
            file: positional(m, "FILE").unwrap_or_default(),
        },
        _ => StashArgs::List {
            json: flag(m, "json"),
            scripted: flag(m, "scripted"),
            parsable: flag(m, "parsable"),
        },
    }
}

/// `recover`: `--abandon` at most once, in the words `recover` always had.
fn recover(m: &ArgMatches) -> Result<RecoverArgs, Refused> {
    let mut ids = values(m, "abandon");
    if ids.len() > 1 {
        return Err(Refused::Usage("recover takes only --abandon ID".into()));
    }
    Ok(RecoverArgs { abandon: ids.pop() })
}

/// Whether `-v`/`--verbose` was given anywhere (before or after the subcommand) in the
/// command line `root` holds.
pub fn verbose(root: &ArgMatches) -> bool {
    flag(root, "verbose") || root.subcommand().is_some_and(|(_, m)| verbose(m))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Option<Parsed> {
        let argv = std::iter::once("datavault").chain(args.iter().copied());
        let m = crate::cli::command()
            .try_get_matches_from(argv)
            .unwrap_or_else(|e| panic!("{args:?}: {e}"));
        Parsed::of(&m).unwrap_or_else(|e| panic!("{args:?}: {e:?}"))
    }

    #[test]
    fn snapshot_arguments() {
        let want = SnapshotArgs {
            datasets: vec!["p/a".into(), "p/b".into()],
            recursive: true,
            json: true,
            post: Some("dv-20261125T185645Z".into()),
            ..Default::default()
        };
        assert_eq!(
            parse(&[
                "snapshot",
                "--post",
                "dv-20261125T185645Z",
                "p/a",
                "p/b",
                "-r",
                "--json"
            ]),
            Some(Parsed::Snapshot(want))
        );
        let Some(Parsed::Snapshot(s)) = parse(&["snapshot", "--pre=apt upgrade", "--config", "/c"])
        else {
            panic!("not a snapshot")
        };
        assert_eq!(s.pre.as_deref(), Some("apt upgrade"));
        assert_eq!(s.config.as_deref(), Some("/c"));
        assert!(s.datasets.is_empty());
    }

    #[test]
    fn list_and_prune_arguments() {
        let Some(Parsed::List(l)) = parse(&[
            "list", "-H", "-p", "--keep", "min=1", "--match", "-v", "p/a", "--tz", "UTC",
        ]) else {
            panic!("not a list")
        };
        assert!(l.scripted && l.parsable && !l.json && !l.recursive);
        assert_eq!(l.target.as_deref(), Some("p/a"));
        assert_eq!(l.policy.keep.as_deref(), Some("min=1"));
        assert_eq!(l.policy.matching.as_deref(), Some("-v"));
        assert_eq!(l.policy.tz.as_deref(), Some("UTC"));
        let Some(Parsed::Prune(p)) = parse(&["prune", "-n", "-v", "-r", "p/a", "--keep=min=1"])
        else {
            panic!("not a prune")
        };
        assert!(p.dry_run && p.verbose && p.recursive && !p.json);
        assert_eq!(p.dataset, "p/a");
        assert_eq!(p.policy.keep.as_deref(), Some("min=1"));
        let Some(Parsed::Prune(p)) = parse(&["--verbose", "prune", "p/a", "--batch", "2"]) else {
            panic!("not a prune")
        };
        assert!(p.verbose && !p.dry_run);
        assert_eq!(p.batch.as_deref(), Some("2"));
    }

    #[test]
    fn run_and_diff_arguments() {
        let Some(Parsed::Run(r)) = parse(&[
            "run",
            "--config",
            "/c.toml",
            "--clock-start",
            "2026-01-01T00:00:00Z",
            "--clock-step",
            "1h",
            "--once",
        ]) else {
            panic!("not a run")
        };
        assert_eq!(r.config, "/c.toml");
        assert!(r.once && r.cycles.is_none() && r.clock_speed.is_none());
        assert_eq!(r.clock_step.as_deref(), Some("1h"));
        assert_eq!(
            parse(&["diff", "p/a@x", "p/a", "--json"]),
            Some(Parsed::Diff(DiffArgs {
                from: "p/a@x".into(),
                to: "p/a".into(),
                json: true
            }))
        );
        // Every subcommand has typed arguments now.
        assert!(matches!(
            parse(&["stash", "list"]),
            Some(Parsed::Stash(StashArgs::List { .. }))
        ));
        assert_eq!(
            parse(&["status"]),
            Some(Parsed::Status(StatusArgs::default()))
        );
    }

    #[test]
    fn combined_short_flags_of_stash_list() {
        // -Hp is -H -p (once split by hand in rollback.rs).
        let both = Some(Parsed::Stash(StashArgs::List {
            json: false,
            scripted: true,
            parsable: true,
        }));
        assert_eq!(parse(&["stash", "list", "-Hp"]), both);
        assert_eq!(parse(&["stash", "list", "-pH"]), both);
        assert_eq!(parse(&["stash", "list", "-H", "-p"]), both);
    }

    #[test]
    fn status_config_browse_restore_arguments() {
        assert_eq!(
            parse(&[
                "status",
                "--now=2026-01-01T00:00:00Z",
                "--json",
                "--config",
                "/c"
            ]),
            Some(Parsed::Status(StatusArgs {
                config: Some("/c".into()),
                json: true,
                now: Some("2026-01-01T00:00:00Z".into()),
            }))
        );
        assert_eq!(
            parse(&["config", "check", "--json", "/c.toml"]),
            Some(Parsed::ConfigCheck(ConfigCheckArgs {
                file: "/c.toml".into(),
                json: true
            }))
        );
        assert_eq!(
            parse(&["browse", "p/a@s", "--", "-odd"]),
            Some(Parsed::Browse(BrowseArgs {
                snapshot: "p/a@s".into(),
                path: Some("-odd".into()),
                json: false
            }))
        );
        // A repeated --to means its last one, as restore-file's own parser had it.
        assert_eq!(
            parse(&[
                "restore-file",
                "--to=/x",
                "p/a@s",
                "a",
                "--to",
                "/y",
                "--json"
            ]),
            Some(Parsed::RestoreFile(RestoreFileArgs {
                snapshot: "p/a@s".into(),
                path: "a".into(),
                to: Some("/y".into()),
                rename_existing: false,
                overwrite: false,
                json: true
            }))
        );
        assert_eq!(
            parse(&["restore-file", "p/a@s", "a", "--overwrite"]),
            Some(Parsed::RestoreFile(RestoreFileArgs {
                snapshot: "p/a@s".into(),
                path: "a".into(),
                overwrite: true,
                ..RestoreFileArgs::default()
            }))
        );
        assert_eq!(
            parse(&[
                "versions",
                "a",
                "b/c",
                "--verify",
                "--threads",
                "3",
                "--json"
            ]),
            Some(Parsed::Versions(VersionsArgs {
                paths: vec!["a".into(), "b/c".into()],
                verify: true,
                threads: Some("3".into()),
                json: true,
                ..VersionsArgs::default()
            }))
        );
        assert_eq!(
            parse(&["versions", "--deleted", "d"]),
            Some(Parsed::Versions(VersionsArgs {
                deleted: Some("d".into()),
                ..VersionsArgs::default()
            }))
        );
    }

    #[test]
    fn rollback_at_next_boot_and_cancel_arguments() {
        assert!(matches!(
            parse(&["rollback", "rpool/ROOT/debian@S", "--at-next-boot", "--yes"]),
            Some(Parsed::Rollback(RollbackArgs {
                at_next_boot: true,
                cancel: None,
                strategy: Strategy::Auto,
                yes: true,
                ..
            }))
        ));
        assert!(matches!(
            parse(&["rollback", "--cancel"]),
            Some(Parsed::Rollback(RollbackArgs {
                cancel: Some(None),
                ..
            }))
        ));
        let with_id = parse(&["rollback", "--cancel", "20261206T194000-abcdef"]);
        let Some(Parsed::Rollback(a)) = with_id else {
            panic!("not a rollback: {with_id:?}")
        };
        assert_eq!(a.cancel, Some(Some("20261206T194000-abcdef".into())));
        assert!(a.target.is_empty());
        // `-r` with `--at-next-boot` parses (a tree of one dataset is scheduled; the planner
        // refuses one with descendants).
        let tree = parse(&["rollback", "p/a@b", "-r", "--at-next-boot"]);
        let Some(Parsed::Rollback(t)) = tree else {
            panic!("not a rollback: {tree:?}")
        };
        assert!(t.recursive && t.at_next_boot);
        // Usage errors (exit 2): each names what is wrong.
        for (args, words) in [
            (
                &["rollback", "p/a@b", "--at-next-boot", "--strategy", "copy"][..],
                "--strategy copy",
            ),
            (&["rollback", "--cancel", "bad/id"], "stash ID"),
            (&["rollback", "p/a@b", "--cancel"], "cannot be used with"),
            (
                &["rollback", "--cancel", "x", "--at-next-boot"],
                "cannot be used with",
            ),
            (&["rollback", "--cancel", "-r"], "cannot be used with"),
            (&["rollback"], "DATASET@SNAP"),
        ] {
            let v: Vec<String> = args.iter().map(|s| s.to_string()).collect();
            match crate::cli::check(&v) {
                crate::cli::Checked::Usage(m) | crate::cli::Checked::Invalid(m) => {
                    assert!(m.contains(words), "{args:?}: {m}")
                }
                _ => panic!("{args:?} was accepted"),
            }
        }
    }

    #[test]
    fn rollback_stash_recover_arguments() {
        // A repeated --strategy means its last one, as parse_flags had it.
        assert_eq!(
            parse(&[
                "rollback",
                "p/a@b",
                "--strategy",
                "swap",
                "--strategy=copy",
                "--yes"
            ]),
            Some(Parsed::Rollback(RollbackArgs {
                target: "p/a@b".into(),
                strategy: Strategy::Copy,
                recursive: false,
                keep_missing: false,
                at_next_boot: false,
                cancel: None,
                dry_run: false,
                json: false,
                yes: true
            }))
        );
        assert!(matches!(
            parse(&["rollback", "p/a@b", "--dry-run", "--json"]),
            Some(Parsed::Rollback(RollbackArgs {
                strategy: Strategy::Auto,
                recursive: false,
                keep_missing: false,
                dry_run: true,
                json: true,
                yes: false,
                ..
            }))
        ));
        for (args, want) in [
            (
                &["stash", "show", "abc", "--json"][..],
                StashArgs::Show {
                    id: "abc".into(),
                    json: true,
                },
            ),
            (
                &["stash", "restore", "abc"],
                StashArgs::Restore {
                    id: "abc".into(),
                    at_next_boot: false,
                    yes: false,
                },
            ),
            (
                &["stash", "restore", "abc", "--at-next-boot", "--yes"],
                StashArgs::Restore {
                    id: "abc".into(),
                    at_next_boot: true,
                    yes: true,
                },
            ),
            (
                &["stash", "drop", "--yes", "abc"],
                StashArgs::Drop {
                    id: "abc".into(),
                    yes: true,
                },
            ),
            (
                &["stash", "export", "abc", "/tmp/x"],
                StashArgs::Export {
                    id: "abc".into(),
                    file: "/tmp/x".into(),
                },
            ),
        ] {
            assert_eq!(parse(args), Some(Parsed::Stash(want)), "{args:?}");
        }
        assert_eq!(
            parse(&["recover"]),
            Some(Parsed::Recover(RecoverArgs::default()))
        );
        assert_eq!(
            parse(&["recover", "--abandon", "20261125T155714-6affcf"]),
            Some(Parsed::Recover(RecoverArgs {
                abandon: Some("20261125T155714-6affcf".into())
            }))
        );
    }

    #[test]
    fn store_arguments() {
        assert_eq!(
            parse(&["store", "init", "tank", "--json"]),
            Some(Parsed::Store(StoreArgs::Init {
                pool: "tank".into(),
                json: true
            }))
        );
        assert_eq!(
            parse(&["store", "status"]),
            Some(Parsed::Store(StoreArgs::Status { json: false }))
        );
    }

    #[test]
    fn ui_arguments() {
        assert_eq!(
            parse(&["ui", "--config", "/c.toml", "p/a"]),
            Some(Parsed::Ui(UiArgs {
                config: Some("/c.toml".into()),
                dataset: Some("p/a".into()),
            }))
        );
        assert_eq!(parse(&["ui"]), Some(Parsed::Ui(UiArgs::default())));
    }

    #[test]
    fn an_option_given_twice_is_refused() {
        for (args, name) in [
            (
                &["list", "p/a", "--keep", "min=1", "--keep=min=2"][..],
                "--keep",
            ),
            (&["prune", "p/a", "--batch", "1", "--batch", "2"], "--batch"),
            (&["run", "--config", "a", "--config", "b"], "--config"),
            (&["snapshot", "--pre", "a", "--pre", "b"], "--pre"),
        ] {
            let argv = std::iter::once("datavault").chain(args.iter().copied());
            let m = crate::cli::command().try_get_matches_from(argv).unwrap();
            assert_eq!(
                Parsed::of(&m),
                Err(Refused::Line(format!("{name} given twice"))),
                "{args:?}"
            );
        }
        // status had its own parser, which printed the usage under the line.
        for (args, want) in [
            (
                &["status", "--now", "a", "--now", "b"][..],
                Refused::Usage("--now given twice".into()),
            ),
            (
                &["status", "--config=a", "--config=b"],
                Refused::Usage("--config given twice".into()),
            ),
            (
                &["recover", "--abandon", "a", "--abandon", "b"],
                Refused::Usage("recover takes only --abandon ID".into()),
            ),
        ] {
            let argv = std::iter::once("datavault").chain(args.iter().copied());
            let m = crate::cli::command().try_get_matches_from(argv).unwrap();
            assert_eq!(Parsed::of(&m), Err(want), "{args:?}");
        }
        // A repeated flag is one flag.
        assert!(matches!(
            parse(&["prune", "p/a", "--json", "--json", "--keep", "min=1"]),
            Some(Parsed::Prune(PruneArgs { json: true, .. }))
        ));
    }
}
