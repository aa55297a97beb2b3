//! `datavault browse` and `datavault restore-file`: look inside a snapshot, and bring back one
//! file or directory from it without rolling anything back.
//!
//! ```text
//! datavault browse DATASET@SNAP [PATH] [--json]
//! datavault restore-file DATASET@SNAP PATH [--to DEST] [--rename-existing | --overwrite] [--json]
//! ```
//!
//! PATH is relative to the dataset's root (`/` or nothing for the root), or an absolute path
//! under the dataset's mountpoint. `..` components and paths through a symbolic link are
//! refused.
//!
//! `browse` lists a directory (`ls -l` style: mode, links, owner, group, size, mtime, name; a
//! symlink's target after `->`), or shows one file's metadata. With `--json`: an object with
//! `path`, `entry` (the path itself) and, for a directory, `entries`.
//!
//! `restore-file` copies PATH from the snapshot to the same place in the live filesystem, or
//! to DEST (the exact new path), with mode, owner, group, timestamps, extended attributes and
//! POSIX ACLs, symlinks and hard links preserved. An existing destination is not overwritten:
//! the command refuses (exit 3, nothing changed) unless `--rename-existing`, which first
//! renames the existing file to `NAME.before-restore-SNAP` (and says so), `--overwrite`, which
//! first takes a guard snapshot of the dataset (`DATASET@guard-YYYYMMDDTHHMMSSZ`, printed; the
//! text says `guard snapshot NAME holds what was replaced`, JSON has `guard`) and then
//! replaces the live file or directory in place (nothing else is touched), or `--to` names
//! another place.

use flocker_core::diff::{
    self, Entry, Existing, FileMeta, Listing, RestoreOptions, Timestamp, slash,
};
use flocker_core::error::ErrorKind;
use flocker_core::name::SnapshotName;
use serde_json::json;

/// `println!` that ignores a closed stdout (`datavault … | head`) instead of panicking.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

use crate::args::{BrowseArgs, RestoreFileArgs};
use crate::common::{Failure, json};

/// A malformed name is bad input: exit 2, nothing read.
fn snapshot(s: &str) -> Result<SnapshotName, Failure> {
    SnapshotName::new(s)
        .map_err(|e| Failure::Invalid(flocker_core::error::Error::from(e).to_string()))
}

/// An instant as RFC 3339 UTC, whole seconds (`browse` and `versions` print times so).
pub fn ts_string(t: Timestamp) -> String {
    time::OffsetDateTime::from_unix_timestamp(t.sec)
        .ok()
        .and_then(|d| {
            d.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| t.sec.to_string())
}

fn meta_json(m: &FileMeta) -> serde_json::Value {
    json!({
        "type": m.file_type.as_str(),
        "mode": format!("{:04o}", m.mode),
        "mode_string": m.mode_string(),
        "uid": m.uid,
        "gid": m.gid,
        "nlink": m.nlink,
        "size": m.size,
        "mtime": ts_string(m.mtime),
        "mtime_unix": m.mtime.sec,
        "mtime_nsec": m.mtime.nsec,
        "object": m.object,
    })
}

fn entry_json(e: &Entry) -> serde_json::Value {
    let mut v = meta_json(&e.meta);
    if let Some(o) = v.as_object_mut() {
        o.insert("name".into(), json!(e.name.to_string_lossy()));
        o.insert("path".into(), json!(slash(&e.path)));
        o.insert(
            "link_target".into(),
            json!(e.link_target.as_ref().map(|t| t.to_string_lossy())),
        );
    }
    v
}

fn entry_line(e: &Entry, name: &str) -> String {
    let m = &e.meta;
    let mut s = format!(
        "{} {:>3} {:>6} {:>6} {:>12} {} {}",
        m.mode_string(),
        m.nlink,
        m.uid,
        m.gid,
        m.size,
        ts_string(m.mtime),
        name
    );
    if let Some(t) = &e.link_target {
        s.push_str(&format!(" -> {}", t.to_string_lossy()));
    }
    s
}

/// `datavault browse DATASET@SNAP [PATH]`
pub fn browse(a: &BrowseArgs) -> Result<(), Failure> {
    let snap = snapshot(&a.snapshot)?;
    let path = a.path.as_deref().unwrap_or("");
    let listing = diff::browse(&snap, path)?;
    match (&listing, a.json) {
        (Listing::Dir { dir, entries }, true) => out!(
            "{}",
            json(&json!({
                "snapshot": snap.as_str(),
                "path": slash(&dir.path),
                "entry": entry_json(dir),
                "entries": entries.iter().map(entry_json).collect::<Vec<_>>(),
            }))
        ),
        (Listing::File(e), true) => out!(
            "{}",
            json(&json!({
                "snapshot": snap.as_str(),
                "path": slash(&e.path),
                "entry": entry_json(e),
            }))
        ),
        (Listing::Dir { dir, entries }, false) => {
            out!("{}:{}", snap.as_str(), slash(&dir.path));
            for e in entries {
                out!("{}", entry_line(e, &e.name.to_string_lossy()));
            }
        }
        (Listing::File(e), false) => {
            out!("{}", entry_line(e, &slash(&e.path)));
            out!("  object {}", e.meta.object);
        }
    }
    Ok(())
}

/// `datavault restore-file DATASET@SNAP PATH [--to DEST]`
pub fn restore_file(a: &RestoreFileArgs) -> Result<(), Failure> {
    let (snap, path) = (snapshot(&a.snapshot)?, &a.path);
    let opts = RestoreOptions {
        dest: a.to.as_ref().map(Into::into),
        existing: if a.overwrite {
            Existing::Overwrite
        } else if a.rename_existing {
            Existing::RenameAside
        } else {
            Existing::Refuse
        },
    };
    let r = match diff::restore(&snap, path, &opts) {
        Ok(r) => r,
        Err(e) if e.kind() == ErrorKind::Exists && !a.rename_existing && !a.overwrite => {
            return Err(Failure::Refused(format!(
                "{} exists; nothing changed (pass --rename-existing to keep it as \
                 NAME.before-restore-{} and restore, --overwrite to replace it after a guard \
                 snapshot, or --to DEST)",
                e.name().unwrap_or("the destination"),
                snap.short_name()
            )));
        }
        Err(e) => return Err(e.into()),
    };
    if a.json {
        out!(
            "{}",
            json(&json!({
                "snapshot": snap.as_str(),
                "source": slash(&r.source),
                "dest": r.dest.to_string_lossy(),
                "set_aside": r.set_aside.as_ref().map(|p| p.to_string_lossy()),
                "guard": r.guard.as_ref().map(|g| g.as_str()),
                "xattrs": r.xattrs,
                "files": r.files,
                "dirs": r.dirs,
                "symlinks": r.symlinks,
                "special": r.special,
                "hard_links": r.hard_links,
                "bytes": r.bytes,
            }))
        );
    } else {
        if let Some(g) = &r.guard {
            out!("guard snapshot {g} holds what was replaced");
        }
        if let Some(p) = &r.set_aside {
            out!(
                "the existing {} was kept as {}",
                r.dest.display(),
                p.display()
            );
        }
        out!(
            "restored {}{} to {} ({} files, {} directories, {} symlinks, {} bytes)",
            snap.as_str(),
            slash(&r.source),
            r.dest.display(),
            r.files,
            r.dirs,
            r.symlinks,
            r.bytes
        );
    }
    Ok(())
}
