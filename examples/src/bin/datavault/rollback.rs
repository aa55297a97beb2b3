//! `datavault rollback`, `datavault stash ...` and `datavault recover`: the rollback with stash
//! of `flocker_core::rollback`.

use flocker_core::name::SnapshotName;
use flocker_core::rollback::{self, StashView, Store, Strategy};

use crate::common::{Failure, Opts, confirm, json, one, parse_flags, store};

/// `datavault rollback DATASET@SNAP [--strategy auto|swap|copy] [--dry-run] [--json] [--yes]`
pub fn rollback(args: &[String]) -> Result<(), Failure> {
    let f = parse_flags(args, &["--strategy", "--dry-run", "--json", "--yes"])?;
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

/// `datavault recover [--abandon ID]`
pub fn recover(args: &[String]) -> Result<(), Failure> {
    match args {
        [] => {}
        [flag, id] if flag == "--abandon" => {
            if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
                return Err(Failure::Invalid(format!("bad id {id:?}: not a stash id")));
            }
            println!("{}", rollback::recover_abandon(&store()?, id)?);
            return Ok(());
        }
        [flag] if flag == "--abandon" => {
            return Err(Failure::Usage("--abandon needs an ID".into()));
        }
        _ => return Err(Failure::Usage("recover takes only --abandon ID".into())),
    }
    match rollback::recover(&store()?)? {
        Some(what) => println!("{what}"),
        None => println!("nothing to recover"),
    }
    Ok(())
}

/// `datavault stash list|show|restore|drop|export ...`
pub fn stash(args: &[String]) -> Result<(), Failure> {
    let sub = args.first().map(String::as_str);
    let rest = if args.is_empty() { &[][..] } else { &args[1..] };
    match sub {
        Some("list") => stash_list(rest),
        Some("show") => stash_show(rest),
        Some("restore") => {
            let (st, id, s) = confirmed(rest, |id, s| {
                format!(
                    "restore {} to its state before stash {id}?",
                    s.record.dataset
                )
            })?;
            let newer = rollback::stash_restore(&st, &id, Strategy::Auto)?;
            println!(
                "restored {}; its replaced state is in stash {}",
                s.record.dataset, newer.id
            );
            Ok(())
        }
        Some("drop") => {
            let (st, id, _) = confirmed(rest, |id, s| {
                format!(
                    "destroy stash {id} ({} snapshot(s))?",
                    s.record.snapshots.len()
                )
            })?;
            rollback::stash_drop(&st, &id)?;
            println!("dropped stash {id}");
            Ok(())
        }
        Some("export") => stash_export(rest),
        _ => Err(Failure::Usage("stash list|show|restore|drop|export".into())),
    }
}

/// `stash list [--json] [-H] [-p]`: `-H` prints one tab-separated row per stash without a
/// header (ID, DATASET, TARGET, CREATED, SNAPSHOTS, USED, VERIFIED, as `zfs list -H` does);
/// `-p` prints exact numbers there (CREATED in seconds since the epoch, USED in bytes).
fn stash_list(rest: &[String]) -> Result<(), Failure> {
    let rest = split_short_flags(rest);
    let o = Opts::parse(&rest, &["--json", "-H", "-p"], &[])?;
    if !o.positional.is_empty() {
        return Err(Failure::Usage("stash list takes no arguments".into()));
    }
    let v = rollback::stash_list(&store()?)?;
    if o.flag("--json") {
        let arr: Vec<_> = v.iter().collect();
        println!("{}", json(&arr));
    } else if o.flag("-H") {
        for s in &v {
            println!("{}", stash_row(s, o.flag("-p")).join("\t"));
        }
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

/// `-Hp` as `-H -p` (clap accepts both; the hand parser takes one flag per argument).
fn split_short_flags(args: &[String]) -> Vec<String> {
    let mut v = Vec::new();
    for a in args {
        match a.strip_prefix('-') {
            Some(f) if f.len() > 1 && f.chars().all(|c| "Hp".contains(c)) => {
                v.extend(f.chars().map(|c| format!("-{c}")));
            }
            _ => v.push(a.clone()),
        }
    }
    v
}

/// The `-H` columns of one stash: ID, DATASET, TARGET, CREATED (RFC 3339; `-p`: seconds since
/// the epoch), SNAPSHOTS (how many), USED (`1.5G`-style; `-p`: bytes), VERIFIED (`yes`/`no`).
fn stash_row(s: &StashView, parsable: bool) -> Vec<String> {
    let r = &s.record;
    let created = if parsable {
        r.created.unix_timestamp().to_string()
    } else {
        r.created
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_else(|_| r.created.unix_timestamp().to_string())
    };
    vec![
        r.id.clone(),
        r.dataset.to_string(),
        r.target.to_string(),
        created,
        r.snapshots.len().to_string(),
        if parsable {
            s.used.to_string()
        } else {
            crate::list::size(s.used)
        },
        if s.verified { "yes" } else { "no" }.to_string(),
    ]
}

/// `stash show ID [--json]`
fn stash_show(rest: &[String]) -> Result<(), Failure> {
    let f = parse_flags(rest, &["--json"])?;
    let id = one(&f.positional, "ID")?;
    let s = rollback::stash_show(&store()?, &id)?;
    if f.json {
        println!("{}", json(&s));
        return Ok(());
    }
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
    Ok(())
}

/// `stash export ID FILE`
fn stash_export(rest: &[String]) -> Result<(), Failure> {
    let f = parse_flags(rest, &[])?;
    let [id, file] = f.positional.as_slice() else {
        return Err(Failure::Usage("stash export ID FILE".into()));
    };
    let st = store()?;
    let path = std::path::Path::new(file);
    let watch = flocker_examples::show_progress(false).then(|| SizeWatch::start(path));
    let r = rollback::stash_export(&st, id, path);
    drop(watch);
    let n = r?;
    println!("wrote {n} bytes to {file}");
    Ok(())
}

/// `stash restore|drop ID [--yes]`: the store, the ID and its stash, once the user agreed to
/// `question(id, stash)` (or `--yes`).
fn confirmed(
    rest: &[String],
    question: impl FnOnce(&str, &StashView) -> String,
) -> Result<(Store, String, StashView), Failure> {
    let f = parse_flags(rest, &["--yes"])?;
    let id = one(&f.positional, "ID")?;
    let st = store()?;
    let s = rollback::stash_show(&st, &id)?;
    confirm(f.yes, &question(&id, &s))?;
    Ok((st, id, s))
}

/// A progress line for `stash export` on a terminal: the size of the stream file so far,
/// redrawn twice a second by a thread until dropped.
struct SizeWatch {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SizeWatch {
    fn start(path: &std::path::Path) -> SizeWatch {
        use std::sync::atomic::Ordering;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (flag, path) = (stop.clone(), path.to_path_buf());
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                if let Ok(m) = std::fs::metadata(&path) {
                    eprint!(
                        "\r\x1b[2Kdatavault stash export: {:.1} MiB written",
                        m.len() as f64 / 1048576.0
                    );
                }
                std::thread::sleep(std::time::Duration::from_millis(500));
            }
            eprint!("\r\x1b[2K");
        });
        SizeWatch {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for SizeWatch {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combined_short_flags_are_split() {
        let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(split_short_flags(&v(&["-Hp"])), v(&["-H", "-p"]));
        assert_eq!(
            split_short_flags(&v(&["-pH", "--json"])),
            v(&["-p", "-H", "--json"])
        );
        assert_eq!(
            split_short_flags(&v(&["-H", "-x", "-Hx"])),
            v(&["-H", "-x", "-Hx"])
        );
    }
}
