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

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use flocker_core::error::Error;
use flocker_core::name::SnapshotName;
use flocker_core::rollback::{self, StashView, Store, Strategy};

const USAGE: &str = "usage:
  datavault rollback DATASET@SNAP [--strategy auto|swap|copy] [--dry-run] [--json] [--yes]
  datavault stash list [--json]
  datavault stash show ID [--json]
  datavault stash restore ID [--yes]
  datavault stash drop ID [--yes]
  datavault stash export ID FILE
  datavault recover";

enum Failure {
    Usage(String),
    Refused(String),
    Zfs(Error),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Zfs(e)
    }
}

struct Flags {
    json: bool,
    yes: bool,
    dry_run: bool,
    strategy: Strategy,
    positional: Vec<String>,
}

fn parse_flags(args: &[String], allowed: &[&str]) -> Result<Flags, Failure> {
    let mut f = Flags {
        json: false,
        yes: false,
        dry_run: false,
        strategy: Strategy::Auto,
        positional: Vec::new(),
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let name = a.split('=').next().unwrap_or(a);
        if a.starts_with("--") && !allowed.contains(&name) {
            return Err(Failure::Usage(format!("unknown option {a}")));
        }
        match name {
            "--json" => f.json = true,
            "--yes" => f.yes = true,
            "--dry-run" => f.dry_run = true,
            "--strategy" => {
                let v = match a.split_once('=') {
                    Some((_, v)) => v.to_string(),
                    None => it
                        .next()
                        .cloned()
                        .ok_or_else(|| Failure::Usage("--strategy needs a value".into()))?,
                };
                f.strategy = v.parse().map_err(Failure::Usage)?;
            }
            _ => f.positional.push(a.clone()),
        }
    }
    Ok(f)
}

fn store() -> Result<Store, Failure> {
    let dir = std::env::var("FLOCKER_STORE").unwrap_or_else(|_| rollback::DEFAULT_DIR.to_string());
    Ok(Store::open(dir)?)
}

fn confirm(yes: bool, question: &str) -> Result<(), Failure> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(Failure::Refused(
            "stdin is not a terminal: pass --yes to confirm".into(),
        ));
    }
    print!("{question} [y/N] ");
    let _ = std::io::stdout().flush();
    let mut line = String::new();
    let _ = std::io::stdin().lock().read_line(&mut line);
    if matches!(line.trim(), "y" | "Y" | "yes") {
        Ok(())
    } else {
        Err(Failure::Refused("not confirmed; nothing changed".into()))
    }
}

fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

fn stash_json(v: &StashView) -> serde_json::Value {
    serde_json::json!({
        "id": v.record.id,
        "dataset": v.record.dataset,
        "target": v.record.target,
        "created": v.record.created,
        "strategy": v.record.strategy,
        "stash_dataset": v.record.stash_dataset,
        "snapshots": v.record.snapshots,
        "verified": v.verified,
        "used": v.used,
        "browse": v.browse,
    })
}

fn one(args: &[String], what: &str) -> Result<String, Failure> {
    match args {
        [x] => Ok(x.clone()),
        _ => Err(Failure::Usage(format!("expected exactly one {what}"))),
    }
}

fn run(args: &[String]) -> Result<(), Failure> {
    match args.first().map(String::as_str) {
        Some("rollback") => {
            let f = parse_flags(&args[1..], &["--strategy", "--dry-run", "--json", "--yes"])?;
            let target = one(&f.positional, "DATASET@SNAP")?;
            let target = SnapshotName::new(&target).map_err(|e| Failure::Zfs(e.into()))?;
            let st = store()?;
            let plan = rollback::plan_rollback(&target, f.strategy)?;
            if f.dry_run || !plan.is_runnable() {
                if f.json {
                    println!("{}", plan.to_json());
                } else {
                    print!("{plan}");
                }
                if !plan.is_runnable() {
                    let why: Vec<String> = plan.blockers.iter().map(ToString::to_string).collect();
                    return Err(Failure::Refused(format!(
                        "rollback refused, nothing changed: {}",
                        why.join("; ")
                    )));
                }
                return Ok(());
            }
            if !f.json {
                print!("{plan}");
            }
            confirm(
                f.yes,
                &format!("roll {} back to {}?", plan.dataset, plan.target),
            )?;
            let rec = rollback::rollback(&st, &plan)?;
            if f.json {
                println!("{}", json(&rec));
            } else {
                println!(
                    "rolled back {} to {}; stash {} holds {} snapshot(s)",
                    rec.dataset,
                    rec.target,
                    rec.id,
                    rec.snapshots.len()
                );
            }
            Ok(())
        }
        Some("stash") => stash(&args[1..]),
        Some("recover") => {
            if args.len() > 1 {
                return Err(Failure::Usage("recover takes no arguments".into()));
            }
            match rollback::recover(&store()?)? {
                Some(what) => println!("{what}"),
                None => println!("nothing to recover"),
            }
            Ok(())
        }
        Some(other) => Err(Failure::Usage(format!("unknown command {other:?}"))),
        None => Err(Failure::Usage("no command".into())),
    }
}

fn stash(args: &[String]) -> Result<(), Failure> {
    let sub = args.first().map(String::as_str);
    let rest = if args.is_empty() { &[][..] } else { &args[1..] };
    match sub {
        Some("list") => {
            let f = parse_flags(rest, &["--json"])?;
            if !f.positional.is_empty() {
                return Err(Failure::Usage("stash list takes no arguments".into()));
            }
            let v = rollback::stash_list(&store()?)?;
            if f.json {
                let arr: Vec<_> = v.iter().map(stash_json).collect();
                println!("{}", json(&arr));
            } else if v.is_empty() {
                println!("no stashes");
            } else {
                for s in &v {
                    println!(
                        "{}  {} -> {}  {} snapshot(s)  {} bytes  {}",
                        s.record.id,
                        s.record.dataset,
                        s.record.target,
                        s.record.snapshots.len(),
                        s.used,
                        if s.verified { "verified" } else { "UNVERIFIED" }
                    );
                }
            }
            Ok(())
        }
        Some("show") => {
            let f = parse_flags(rest, &["--json"])?;
            let id = one(&f.positional, "ID")?;
            let s = rollback::stash_show(&store()?, &id)?;
            if f.json {
                println!("{}", json(&stash_json(&s)));
            } else {
                println!(
                    "stash {} ({})",
                    s.record.id,
                    if s.verified { "verified" } else { "UNVERIFIED" }
                );
                println!(
                    "dataset: {} rolled back to {} with {}",
                    s.record.dataset, s.record.target, s.record.strategy
                );
                println!(
                    "stash dataset: {} ({} bytes)",
                    s.record.stash_dataset, s.used
                );
                for sn in &s.record.snapshots {
                    println!("  {}@{} guid {}", s.record.stash_dataset, sn.name, sn.guid);
                }
                match &s.browse {
                    Some(p) => println!("browse: {p}"),
                    None => println!("browse: not mounted (clone a snapshot to browse it)"),
                }
            }
            Ok(())
        }
        Some("restore") => {
            let f = parse_flags(rest, &["--yes"])?;
            let id = one(&f.positional, "ID")?;
            let st = store()?;
            let s = rollback::stash_show(&st, &id)?;
            confirm(
                f.yes,
                &format!(
                    "restore {} to its state before stash {id}?",
                    s.record.dataset
                ),
            )?;
            let newer = rollback::stash_restore(&st, &id, Strategy::Auto)?;
            println!(
                "restored {}; its replaced state is in stash {}",
                s.record.dataset, newer.id
            );
            Ok(())
        }
        Some("drop") => {
            let f = parse_flags(rest, &["--yes"])?;
            let id = one(&f.positional, "ID")?;
            let st = store()?;
            let s = rollback::stash_show(&st, &id)?;
            confirm(
                f.yes,
                &format!(
                    "destroy stash {id} ({} snapshot(s))?",
                    s.record.snapshots.len()
                ),
            )?;
            rollback::stash_drop(&st, &id)?;
            println!("dropped stash {id}");
            Ok(())
        }
        Some("export") => {
            let f = parse_flags(rest, &[])?;
            let [id, file] = f.positional.as_slice() else {
                return Err(Failure::Usage("stash export ID FILE".into()));
            };
            let n = rollback::stash_export(&store()?, id, std::path::Path::new(file))?;
            println!("wrote {n} bytes to {file}");
            Ok(())
        }
        _ => Err(Failure::Usage("stash list|show|restore|drop|export".into())),
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
