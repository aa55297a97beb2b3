//! What every `datavault` command shares: the failure kinds, flag parsing, confirmation, JSON
//! output and the trusted store.

use std::io::{BufRead, IsTerminal, Write};

use flocker_core::error::Error;
use flocker_core::rollback::{self, Store, Strategy};

/// Why a command failed; `main` maps each kind to an exit code.
pub enum Failure {
    Usage(String),
    Refused(String),
    Zfs(Error),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Zfs(e)
    }
}

/// The common flags of a command and its positional arguments.
pub struct Flags {
    pub json: bool,
    pub yes: bool,
    pub dry_run: bool,
    pub strategy: Strategy,
    pub positional: Vec<String>,
}

/// Parses `args`, accepting only the `--options` in `allowed`.
pub fn parse_flags(args: &[String], allowed: &[&str]) -> Result<Flags, Failure> {
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

/// The trusted record store (`FLOCKER_STORE` overrides the default directory).
pub fn store() -> Result<Store, Failure> {
    let dir = std::env::var("FLOCKER_STORE").unwrap_or_else(|_| rollback::DEFAULT_DIR.to_string());
    Ok(Store::open(dir)?)
}

/// Asks `question` on a terminal unless `yes`; refuses when stdin is not a terminal.
pub fn confirm(yes: bool, question: &str) -> Result<(), Failure> {
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

/// Pretty JSON of `v`.
pub fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

/// The single positional argument, named `what` in the error.
pub fn one(args: &[String], what: &str) -> Result<String, Failure> {
    match args {
        [x] => Ok(x.clone()),
        _ => Err(Failure::Usage(format!("expected exactly one {what}"))),
    }
}
