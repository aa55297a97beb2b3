//! `datavault rollback`, `datavault stash ...` and `datavault recover`: the rollback with stash
//! of `flocker_core::rollback`.

use flocker_core::name::SnapshotName;
use flocker_core::rollback::{
    self, RollbackPlan, StashRecord, StashView, Store, Strategy, TreePlan, TreeStash,
};

use crate::args::{RecoverArgs, RollbackArgs, StashArgs};
use crate::common::{Failure, confirm, json, store};

/// `datavault rollback DATASET@SNAP [-r [--keep-missing]] [--strategy auto|swap|copy]
/// [--dry-run] [--json] [--yes]`
pub fn rollback(f: &RollbackArgs) -> Result<(), Failure> {
    if let Some(id) = &f.cancel {
        let st = store()?;
        println!("{}", rollback::cancel_at_next_boot(&st, id.as_deref())?);
        return Ok(());
    }
    let target = SnapshotName::new(&f.target).map_err(|e| Failure::Zfs(e.into()))?;
    let st = store()?;
    let planned = if f.recursive {
        recursive_plan(f, &target)
    } else {
        single_plan(f, &target).map(Recursive::Single)
    };
    let plan = match planned {
        Ok(Recursive::Single(p)) => p,
        Ok(Recursive::Tree(t)) => return rollback_tree(f, &st, t),
        Err(e) if f.dry_run => return Err(e),
        Err(e) => return Err(busy_instead(&st, e)),
    };
    if !f.dry_run && !plan.is_runnable() {
        busy_now(&st)?;
    }
    if f.dry_run || !plan.is_runnable() {
        if f.json {
            println!("{}", plan.to_json());
        } else {
            print!("{plan}");
        }
        if let Some(why) = refusal(&plan) {
            return Err(Failure::Refused(why));
        }
        return Ok(());
    }
    if !f.json {
        print!("{plan}");
    }
    let at_boot = rollback::is_at_next_boot(&plan);
    confirm(
        f.yes,
        &format!(
            "roll {} back to {}{}?",
            plan.dataset,
            plan.target,
            if at_boot { " at the next boot" } else { "" }
        ),
    )?;
    let rec = rollback::rollback(&st, &plan)?;
    let pending = at_boot && rollback::pending_boot(&st)?.iter().any(|p| p.id == rec.id);
    if f.json {
        let mut v = serde_json::to_value(&rec).unwrap_or_default();
        if let Some(o) = v.as_object_mut() {
            o.insert("pending_boot".into(), serde_json::Value::Bool(pending));
        }
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    } else if pending {
        println!(
            "scheduled: {} rolls back to {} at the next boot; until then it runs as {}, and \
             everything written meanwhile lands in stash {} (cancel: `datavault rollback \
             --cancel {}`)",
            rec.dataset, rec.target, rec.stash_dataset, rec.id, rec.id
        );
    } else {
        println!("{}", done_line(&rec));
    }
    Ok(())
}

/// A plan is made without the store's lock (it is shown and confirmed first; the rollback makes
/// it again under the lock and refuses one that changed). When making it failed while another
/// flocker operation held the lock, the datasets were read while that operation changed them:
/// that operation is reported (busy, exit 1), not what the reading met (a dataset renamed away
/// for a moment, a snapshot destroyed between two reads).
fn busy_instead(st: &Store, e: Failure) -> Failure {
    match e {
        Failure::Zfs(_) | Failure::Refused(_) if st.is_locked().unwrap_or(false) => {
            Failure::Zfs(st.busy_error())
        }
        e => e,
    }
}

/// Busy (exit 1) when another flocker operation holds the store's lock now: a refused plan is
/// reported so too ([`busy_instead`]), before it is printed.
fn busy_now(st: &Store) -> Result<(), Failure> {
    if st.is_locked()? {
        return Err(Failure::Zfs(st.busy_error()));
    }
    Ok(())
}

/// The plan of one dataset's rollback: at next boot with `--at-next-boot`.
fn single_plan(f: &RollbackArgs, target: &SnapshotName) -> Result<RollbackPlan, Failure> {
    Ok(if f.at_next_boot {
        rollback::plan_rollback_at_next_boot(target, f.strategy)?
    } else {
        rollback::plan_rollback(target, f.strategy)?
    })
}

/// What `rollback -r` does: one dataset's rollback at next boot, or the tree's rollback.
enum Recursive {
    Single(RollbackPlan),
    Tree(TreePlan),
}

/// `rollback -r`. At next boot (`--at-next-boot`, or `auto` for the running root), a tree of one
/// dataset (the root file system without descendants, as in Debian's root-on-ZFS layout, where
/// `/home` and `/var` are siblings) is that dataset's rollback at next boot: its plan. A tree
/// with descendants is refused (not supported yet) when `--at-next-boot` is asked; without it,
/// and for a tree of one that is not rolled back at next boot, the tree's plan.
fn recursive_plan(f: &RollbackArgs, target: &SnapshotName) -> Result<Recursive, Failure> {
    let tree = rollback::plan_rollback_tree(target, f.strategy, f.keep_missing)?;
    if tree.members.len() != 1 || !tree.kept.is_empty() {
        if f.at_next_boot {
            return Err(Failure::Refused(format!(
                "rollback refused, nothing changed: {} has {} descendant(s); a tree at next boot \
                 is not supported yet (only a dataset without descendants): roll the tree back \
                 without --at-next-boot, or each dataset alone",
                tree.root,
                tree.members.len() + tree.kept.len() - 1
            )));
        }
        return Ok(Recursive::Tree(tree));
    }
    let plan = single_plan(f, target)?;
    // Asked for, the single plan stands even when it is refused (never a rollback now instead).
    Ok(if f.at_next_boot || rollback::is_at_next_boot(&plan) {
        Recursive::Single(plan)
    } else {
        Recursive::Tree(tree)
    })
}

/// `rollback -r`: the tree plan, then every member (one tree stash).
fn rollback_tree(f: &RollbackArgs, st: &Store, plan: TreePlan) -> Result<(), Failure> {
    if !f.dry_run && !plan.is_runnable() {
        busy_now(st)?;
    }
    if f.dry_run || !plan.is_runnable() {
        if f.json {
            println!("{}", plan.to_json());
        } else {
            print!("{plan}");
        }
        if !plan.is_runnable() {
            return Err(Failure::Refused(format!(
                "rollback refused, nothing changed: {}",
                plan.refusals().join("; ")
            )));
        }
        return Ok(());
    }
    if !f.json {
        print!("{plan}");
    }
    confirm(
        f.yes,
        &format!(
            "roll {} and {} descendant(s) back to @{}?",
            plan.root,
            plan.members.len() - 1,
            plan.target.short_name()
        ),
    )?;
    let t = rollback::rollback_tree(st, &plan)?;
    tree_done(st, &t, f.json, &plan)
}

/// What a tree rollback did: a line, or the tree record with its members' records as JSON.
fn tree_done(st: &Store, t: &TreeStash, json_out: bool, plan: &TreePlan) -> Result<(), Failure> {
    let members = rollback::member_records(st, t)?;
    if json_out {
        println!("{}", tree_json(t, &members));
        return Ok(());
    }
    let snaps: usize = members.iter().map(|r| r.snapshots.len()).sum();
    println!(
        "rolled back {} dataset(s) of {} to @{}; stash {} holds {snaps} snapshot(s){}",
        members.len(),
        t.root,
        t.target,
        t.id,
        if plan.kept.is_empty() {
            String::new()
        } else {
            format!("; {} kept unchanged", plan.kept.len())
        }
    );
    Ok(())
}

/// A tree stash as JSON: `id`, `root`, `target`, `strategy`, `phase`, `kept`, `members` (each
/// member's stash record, as `rollback --json` prints one).
fn tree_json(t: &TreeStash, members: &[StashRecord]) -> String {
    let v = serde_json::json!({
        "id": t.id,
        "tree": true,
        "root": t.root.as_str(),
        "target": t.target,
        "strategy": t.strategy,
        "phase": t.phase.as_str(),
        "created": t.created.unix_timestamp(),
        "kept": t.kept.iter().map(|d| d.as_str()).collect::<Vec<_>>(),
        "members": members,
    });
    serde_json::to_string_pretty(&v).unwrap_or_default()
}

/// Why `plan` cannot run (`None`: it can), as `rollback` and the `ui` say it.
pub(crate) fn refusal(plan: &RollbackPlan) -> Option<String> {
    if plan.is_runnable() {
        return None;
    }
    let why: Vec<String> = plan.blockers.iter().map(ToString::to_string).collect();
    Some(format!(
        "rollback refused, nothing changed: {}",
        why.join("; ")
    ))
}

/// What a rollback did, as `rollback` and the `ui` say it.
pub(crate) fn done_line(rec: &StashRecord) -> String {
    format!(
        "rolled back {} to {}; stash {} holds {} snapshot(s)",
        rec.dataset,
        rec.target,
        rec.id,
        rec.snapshots.len()
    )
}

/// `datavault recover [--abandon ID]`
pub fn recover(a: &RecoverArgs) -> Result<(), Failure> {
    if let Some(id) = &a.abandon {
        // A well-formed stash ID: the tree checked it (cli.rs, `stash_id`).
        println!("{}", rollback::recover_abandon(&store()?, id)?);
        return Ok(());
    }
    match rollback::recover(&store()?)? {
        Some(what) => println!("{what}"),
        None => println!("nothing to recover"),
    }
    Ok(())
}

/// `datavault stash list|show|restore|drop|export ...`
pub fn stash(a: &StashArgs) -> Result<(), Failure> {
    match a {
        StashArgs::List {
            json,
            scripted,
            parsable,
        } => stash_list(*json, *scripted, *parsable),
        StashArgs::Show { id, json } if is_tree(id)? => tree_show(id, *json),
        StashArgs::Restore { id, yes, .. } if is_tree(id)? => {
            let st = store()?;
            let t = rollback::tree_show(&st, id)?;
            confirm(
                *yes,
                &format!(
                    "restore {} and its {} descendant(s) to their state before stash {id}?",
                    t.root,
                    t.members.len() - 1
                ),
            )?;
            let newer = rollback::stash_restore_tree(&st, id, Strategy::Auto)?;
            println!(
                "restored {} dataset(s) of {}; their replaced state is in stash {}",
                newer.members.len(),
                t.root,
                newer.id
            );
            Ok(())
        }
        StashArgs::Drop { id, yes } if is_tree(id)? => {
            let st = store()?;
            let t = rollback::tree_show(&st, id)?;
            let n: usize = rollback::member_records(&st, &t)?
                .iter()
                .map(|r| r.snapshots.len())
                .sum();
            confirm(
                *yes,
                &format!(
                    "destroy stash {id} ({} dataset(s), {n} snapshot(s))?",
                    t.members.len()
                ),
            )?;
            rollback::stash_drop_tree(&st, id)?;
            println!("dropped stash {id}");
            Ok(())
        }
        StashArgs::Show { id, json } => stash_show(id, *json),
        StashArgs::Restore {
            id,
            at_next_boot,
            yes,
        } => {
            let (st, s) = confirmed(id, *yes, |id, s| {
                format!(
                    "restore {} to its state before stash {id}{}?",
                    s.record.dataset,
                    if *at_next_boot {
                        " at the next boot"
                    } else {
                        ""
                    }
                )
            })?;
            let newer = if *at_next_boot {
                rollback::stash_restore_at_next_boot(&st, id)?
            } else {
                rollback::stash_restore(&st, id, Strategy::Auto)?
            };
            if rollback::pending_boot(&st)?
                .iter()
                .any(|p| p.id == newer.id)
            {
                println!(
                    "scheduled: {} is restored from stash {id} at the next boot; its state now \
                     (and what is written until then) goes to stash {} (cancel: `datavault \
                     rollback --cancel {}`)",
                    s.record.dataset, newer.id, newer.id
                );
            } else {
                println!(
                    "restored {}; its replaced state is in stash {}",
                    s.record.dataset, newer.id
                );
            }
            Ok(())
        }
        StashArgs::Drop { id, yes } => {
            let (st, _) = confirmed(id, *yes, |id, s| {
                format!(
                    "destroy stash {id} ({} snapshot(s))?",
                    s.record.snapshots.len()
                )
            })?;
            rollback::stash_drop(&st, id)?;
            println!("dropped stash {id}");
            Ok(())
        }
        StashArgs::Export { id, file } => stash_export(id, file),
    }
}

/// `stash list [--json] [-H] [-p]`: `-H` prints one tab-separated row per stash without a
/// header (ID, DATASET, TARGET, CREATED, SNAPSHOTS, USED, VERIFIED, as `zfs list -H` does);
/// `-p` prints exact numbers there (CREATED in seconds since the epoch, USED in bytes).
fn stash_list(json_out: bool, scripted: bool, parsable: bool) -> Result<(), Failure> {
    let v = rollback::stash_list(&store()?)?;
    if json_out {
        let arr: Vec<_> = v.iter().collect();
        println!("{}", json(&arr));
    } else if scripted {
        for s in &v {
            println!("{}", stash_row(s, parsable).join("\t"));
        }
    } else if v.is_empty() {
        println!("no stashes");
    } else {
        for s in &v {
            println!(
                "{}  {} -> {}  {} snapshot(s)  {} bytes  {}{}",
                s.record.id,
                s.record.dataset,
                s.record.target,
                s.record.snapshots.len(),
                s.used,
                if s.verified { "verified" } else { "UNVERIFIED" },
                s.tree
                    .as_ref()
                    .map(|t| format!("  (tree stash {t})"))
                    .unwrap_or_default()
            );
            match s.pending_boot {
                Some("restore") => println!("  pending: restored at the next boot"),
                Some(_) => println!(
                    "  pending: the rollback takes effect at the next boot ({} still runs as {})",
                    s.record.dataset, s.record.stash_dataset
                ),
                None => {}
            }
        }
    }
    Ok(())
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
fn stash_show(id: &str, json_out: bool) -> Result<(), Failure> {
    let s = rollback::stash_show(&store()?, id)?;
    if json_out {
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
    if let Some(what) = s.pending_boot {
        println!("pending at next boot: {what}");
    }
    for sn in &s.record.snapshots {
        println!("  {}@{} guid {}", s.record.stash_dataset, sn.name, sn.guid);
    }
    match &s.browse {
        Some(p) => println!("browse: {p}"),
        None => println!("browse: not mounted (clone a snapshot to browse it)"),
    }
    Ok(())
}

/// Whether `id` names a tree stash (a recursive rollback's) rather than one dataset's.
fn is_tree(id: &str) -> Result<bool, Failure> {
    Ok(store()?.has_tree(id)?)
}

/// `stash show ID [--json]` of a tree stash: the tree, then each member.
fn tree_show(id: &str, json_out: bool) -> Result<(), Failure> {
    let st = store()?;
    let t = rollback::tree_show(&st, id)?;
    let members = rollback::member_records(&st, &t)?;
    if json_out {
        println!("{}", tree_json(&t, &members));
        return Ok(());
    }
    println!(
        "stash {} (tree of {} dataset(s), {})",
        t.id,
        t.members.len(),
        t.phase.as_str()
    );
    println!("root: {} rolled back to @{}", t.root, t.target);
    for d in &t.kept {
        println!("kept unchanged: {d}");
    }
    for r in &members {
        println!(
            "member {}: {} ({} snapshot(s))",
            r.id,
            r.dataset,
            r.snapshots.len()
        );
        for sn in &r.snapshots {
            println!("  {}@{} guid {}", r.stash_dataset, sn.name, sn.guid);
        }
    }
    Ok(())
}

/// `stash export ID FILE`
fn stash_export(id: &str, file: &str) -> Result<(), Failure> {
    let st = store()?;
    let path = std::path::Path::new(file);
    let watch = flocker_examples::show_progress(false).then(|| SizeWatch::start(path));
    let r = rollback::stash_export(&st, id, path);
    drop(watch);
    let n = r?;
    println!("wrote {n} bytes to {file}");
    Ok(())
}

/// `stash restore|drop ID [--yes]`: the store and the stash `id`, once the user agreed to
/// `question(id, stash)` (or `yes`).
fn confirmed(
    id: &str,
    yes: bool,
    question: impl FnOnce(&str, &StashView) -> String,
) -> Result<(Store, StashView), Failure> {
    let st = store()?;
    let s = rollback::stash_show(&st, id)?;
    confirm(yes, &question(id, &s))?;
    Ok((st, s))
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
