//! `datavault store init POOL` and `datavault store status`: where the trusted store lives
//! (`flocker_core::rollback::store_location`), and giving it a dataset of its own
//! (`flocker_core::rollback::init_dataset`), out of reach of any rollback.

use flocker_core::error::ErrorKind;
use flocker_core::name::PoolName;
use flocker_core::rollback::{self, InitReport, StoreLocation};

use crate::args::StoreArgs;
use crate::common::{Failure, json, store_dir};

/// `datavault store init|status ...`
pub fn store(a: &StoreArgs) -> Result<(), Failure> {
    match a {
        StoreArgs::Init { pool, json } => init(pool, *json),
        StoreArgs::Status { json } => status(*json),
    }
}

/// `store init POOL [--json]`: a missing pool is bad input (exit 2).
fn init(pool: &str, json_out: bool) -> Result<(), Failure> {
    let pool = PoolName::new(pool)
        .map_err(|e| Failure::Invalid(format!("bad pool name {pool:?}: {e}")))?;
    let dir = store_dir(None);
    let r = rollback::init_dataset(&pool, &dir).map_err(|e| {
        if e.kind() == ErrorKind::NotFound && e.name() == Some(pool.as_str()) {
            Failure::Invalid(format!("no such pool: {pool}"))
        } else {
            Failure::from(e)
        }
    })?;
    if json_out {
        println!("{}", json(&r));
    } else {
        println!("{}", init_line(&r));
    }
    Ok(())
}

/// What `store init` did, in one line.
fn init_line(r: &InitReport) -> String {
    if r.already {
        return format!(
            "the store {} is already on {} (guid {}); nothing to do",
            r.dir.display(),
            r.dataset,
            r.guid
        );
    }
    let mut s = format!(
        "the store {} is on {} now ({}); {} file(s) copied",
        r.dir.display(),
        r.dataset,
        if r.created { "created" } else { "existing" },
        r.copied.len()
    );
    if let Some(a) = &r.set_aside {
        s.push_str(&format!(
            "; the former directory is kept at {}",
            a.display()
        ));
    }
    s
}

/// `store status [--json]`: reads only (mounts nothing, creates nothing).
fn status(json_out: bool) -> Result<(), Failure> {
    let loc = rollback::store_location(&store_dir(None))?;
    if json_out {
        println!("{}", json(&loc));
    } else {
        print!("{}", status_text(&loc));
    }
    Ok(())
}

fn status_text(l: &StoreLocation) -> String {
    let mut s = format!("store: {}", l.dir.display());
    if !l.exists {
        s.push_str(" (does not exist yet: created by the first operation that writes)");
    }
    s.push('\n');
    if let (Some(src), Some(t), Some(m)) = (&l.source, &l.fstype, &l.mount_point) {
        s.push_str(&format!(
            "filesystem: {src} ({t}), mounted at {}\n",
            m.display()
        ));
    }
    let dedicated = if l.dedicated { "yes" } else { "no" };
    s.push_str(&format!("dedicated store dataset: {dedicated}\n"));
    match (&l.pointer, &l.dataset) {
        (Some(p), d) if d.as_ref() != Some(p) => s.push_str(&format!(
            "warning: the store belongs on {p}, which is not mounted on it (the next store \
             operation mounts it)\n"
        )),
        (None, Some(d)) if !l.dedicated => s.push_str(&format!(
            "a rollback of {d} is refused while the store is on it: `datavault store init {}` \
             gives the store a dataset of its own\n",
            d.pool()
        )),
        _ => {}
    }
    s
}
