//! Pure classification of two walked trees into changes, following `zfs diff`'s rules (see
//! the module documentation of [`super`]).

use std::path::PathBuf;

use super::walk::Node;
use super::{Attribute, Change, ChangeKind, FileType, Tree};

/// The changes from `old` to `new`, sorted by path (then kind).
pub(crate) fn classify(old: &Tree, new: &Tree) -> Vec<Change> {
    let mut out = Vec::new();
    for (key, o) in old {
        match new.get(key) {
            None => removed(o, &mut out),
            Some(n) if n.meta.file_type != o.meta.file_type => {
                removed(o, &mut out);
                added(n, &mut out);
            }
            Some(n) => changed(o, n, &mut out),
        }
    }
    for (key, n) in new {
        if !old.contains_key(key) {
            added(n, &mut out);
        }
    }
    out.sort_by(|a, b| (&a.path, a.kind).cmp(&(&b.path, b.kind)));
    out
}

fn plain(kind: ChangeKind, path: PathBuf, node: &Node) -> Change {
    Change {
        kind,
        path,
        new_path: None,
        file_type: node.meta.file_type,
        object: node.meta.object,
        links_delta: 0,
        linked: Vec::new(),
        unlinked: Vec::new(),
        attributes: Vec::new(),
    }
}

fn removed(o: &Node, out: &mut Vec<Change>) {
    for p in &o.paths {
        out.push(plain(ChangeKind::Removed, p.clone(), o));
    }
}

fn added(n: &Node, out: &mut Vec<Change>) {
    for p in &n.paths {
        out.push(plain(ChangeKind::Added, p.clone(), n));
    }
}

fn attributes(o: &Node, n: &Node) -> Vec<Attribute> {
    let (a, b) = (&o.meta, &n.meta);
    let mut v = Vec::new();
    if a.size != b.size {
        v.push(Attribute::Size);
    }
    if a.mtime != b.mtime {
        v.push(Attribute::Mtime);
    }
    if a.mode != b.mode {
        v.push(Attribute::Mode);
    }
    if a.uid != b.uid || a.gid != b.gid {
        v.push(Attribute::Owner);
    }
    if a.nlink != b.nlink {
        v.push(Attribute::Links);
    }
    if v.is_empty() {
        v.push(Attribute::Ctime);
    }
    v
}

fn changed(o: &Node, n: &Node, out: &mut Vec<Change>) {
    // Same change time: nothing happened to the object itself (a new path means that an
    // ancestor directory was renamed, which that directory's own change reports).
    if o.meta.ctime == n.meta.ctime {
        return;
    }
    let is_dir = o.meta.file_type == FileType::Dir;
    let links_delta = if is_dir || o.meta.nlink == 0 || n.meta.nlink == 0 {
        0
    } else {
        i64::try_from(n.meta.nlink)
            .unwrap_or(i64::MAX)
            .saturating_sub(i64::try_from(o.meta.nlink).unwrap_or(i64::MAX))
    };
    let gone: Vec<PathBuf> = o.paths.difference(&n.paths).cloned().collect();
    let came: Vec<PathBuf> = n.paths.difference(&o.paths).cloned().collect();
    let common = o.paths.intersection(&n.paths).next().cloned();
    let first_old = o.paths.iter().next().cloned().unwrap_or_default();
    let first_new = n.paths.iter().next().cloned().unwrap_or_default();
    let mut c = plain(ChangeKind::Modified, PathBuf::new(), n);
    c.attributes = attributes(o, n);
    if links_delta != 0 {
        c.links_delta = links_delta;
        c.path = common.unwrap_or(if links_delta > 0 {
            first_old
        } else {
            first_new
        });
        c.linked = came;
        c.unlinked = gone;
    } else if let (Some(from), Some(to)) = (gone.first(), came.first()) {
        c.kind = ChangeKind::Renamed;
        c.path = from.clone();
        c.new_path = Some(to.clone());
    } else {
        c.path = common.unwrap_or(first_new);
    }
    out.push(c);
}
