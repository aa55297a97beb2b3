//! Host tests of the pure parts: classification of two trees.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::walk::{Key, Node};
use super::*;

fn ts(sec: i64) -> Timestamp {
    Timestamp { sec, nsec: 0 }
}

fn meta(object: u64, birth: i64, ft: FileType, ctime: i64) -> FileMeta {
    FileMeta {
        object,
        birth: Some(ts(birth)),
        file_type: ft,
        mode: 0o644,
        uid: 0,
        gid: 0,
        nlink: 1,
        size: 1,
        mtime: ts(ctime),
        ctime: ts(ctime),
        rdev: 0,
        dev: 1,
    }
}

fn node(paths: &[&str], m: FileMeta) -> Node {
    Node {
        paths: paths.iter().map(PathBuf::from).collect::<BTreeSet<_>>(),
        meta: m,
    }
}

fn tree(nodes: Vec<Node>) -> Tree {
    let mut t = Tree::new();
    for n in nodes {
        let k = if n.paths.contains(&PathBuf::new()) {
            Key::Root
        } else {
            Key::of(&n.meta)
        };
        t.insert(k, n);
    }
    t
}

fn summary(changes: &[Change]) -> Vec<String> {
    changes
        .iter()
        .map(|c| format!("{} {}", c.kind.symbol(), c.display_path()))
        .collect()
}

#[test]
fn added_removed_modified_renamed() {
    let root_old = node(&[""], meta(34, 1, FileType::Dir, 10));
    let mut root_new = root_old.clone();
    root_new.meta.ctime = ts(20);
    let old = tree(vec![
        root_old,
        node(&["keep"], meta(2, 1, FileType::File, 10)),
        node(&["gone"], meta(3, 1, FileType::File, 10)),
        node(&["edit"], meta(4, 1, FileType::File, 10)),
        node(&["old"], meta(5, 1, FileType::File, 10)),
        node(&["d"], meta(6, 1, FileType::Dir, 10)),
        node(&["d/child"], meta(7, 1, FileType::File, 10)),
    ]);
    let mut edit = meta(4, 1, FileType::File, 20);
    edit.size = 99;
    edit.mtime = ts(20);
    let new = tree(vec![
        root_new,
        node(&["keep"], meta(2, 1, FileType::File, 10)),
        node(&["edit"], edit),
        node(&["new"], meta(5, 1, FileType::File, 20)),
        node(&["e"], meta(6, 1, FileType::Dir, 20)),
        // Unchanged object under a renamed directory: not reported (like zfs diff).
        node(&["e/child"], meta(7, 1, FileType::File, 10)),
        node(&["fresh"], meta(8, 5, FileType::File, 20)),
    ]);
    let c = classify::classify(&old, &new);
    assert_eq!(
        summary(&c),
        vec![
            "M /",
            "R /d -> /e",
            "M /edit",
            "+ /fresh",
            "- /gone",
            "R /old -> /new",
        ]
    );
    let edit = c.iter().find(|c| c.path == Path::new("edit"));
    assert_eq!(
        edit.map(|c| c.attributes.clone()),
        Some(vec![Attribute::Size, Attribute::Mtime])
    );
}

#[test]
fn reused_object_number_is_removed_and_added() {
    let old = tree(vec![node(&["a"], meta(9, 1, FileType::File, 10))]);
    // Same object number, another birth time: a different file.
    let new = tree(vec![node(&["a"], meta(9, 7, FileType::File, 20))]);
    assert_eq!(
        summary(&classify::classify(&old, &new)),
        vec!["- /a", "+ /a"]
    );
    // Same object, other type: removed and added too.
    let new = tree(vec![node(&["a"], meta(9, 1, FileType::Dir, 20))]);
    let c = classify::classify(&old, &new);
    assert_eq!(summary(&c), vec!["- /a", "+ /a"]);
    assert_eq!(c[1].file_type, FileType::Dir);
}

#[test]
fn hard_links() {
    let old = tree(vec![node(&["a"], meta(9, 1, FileType::File, 10))]);
    let mut m = meta(9, 1, FileType::File, 20);
    m.nlink = 2;
    let new = tree(vec![node(&["a", "b"], m)]);
    let c = classify::classify(&old, &new);
    assert_eq!(summary(&c), vec!["M /a"]);
    assert_eq!(c[0].links_delta, 1);
    assert_eq!(c[0].linked, vec![PathBuf::from("b")]);
    // And back: the link removed.
    let c = classify::classify(&new, &old);
    assert_eq!(summary(&c), vec!["M /a"]);
    assert_eq!(c[0].links_delta, -1);
    assert_eq!(c[0].unlinked, vec![PathBuf::from("b")]);
    // A new file with two names: one addition per name.
    let c = classify::classify(&Tree::new(), &new);
    assert_eq!(summary(&c), vec!["+ /a", "+ /b"]);
}

#[test]
fn unchanged_ctime_means_no_change() {
    let a = tree(vec![node(&["x"], meta(3, 1, FileType::File, 10))]);
    let mut b = a.clone();
    if let Some(n) = b.values_mut().next() {
        n.meta.mtime = ts(50); // e.g. only atime-like noise; ctime equal
    }
    assert!(classify::classify(&a, &b).is_empty());
}

#[test]
fn mode_strings() {
    let mut m = meta(1, 1, FileType::Dir, 1);
    m.mode = 0o1777;
    assert_eq!(m.mode_string(), "drwxrwxrwt");
    m.file_type = FileType::File;
    m.mode = 0o4755;
    assert_eq!(m.mode_string(), "-rwsr-xr-x");
    m.mode = 0o2644;
    assert_eq!(m.mode_string(), "-rw-r-Sr--");
}

#[test]
fn timestamps_before_the_epoch() {
    let t = std::time::UNIX_EPOCH - std::time::Duration::new(1, 500_000_000);
    assert_eq!(
        Timestamp::from_system(t),
        Timestamp {
            sec: -2,
            nsec: 500_000_000
        }
    );
}
