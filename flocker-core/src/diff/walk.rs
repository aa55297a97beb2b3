//! Walking one tree: every entry below a root, on the root's filesystem only, symbolic links
//! not followed, keyed by object identity.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::{FileMeta, Timestamp, Tree, io_err};
use crate::error::Result;

const OP: &str = "diff walk";

/// How often the progress callback is called while walking.
const PROGRESS_EVERY: u64 = 4096;

/// The identity of an object across snapshots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Key {
    /// The root directory: its inode number differs between a snapshot's mount and the live
    /// filesystem, so it is matched by position.
    Root,
    /// Any other object: its object number and birth time (which tells a re-used object
    /// number apart).
    Object(u64, Option<Timestamp>),
}

impl Key {
    pub(crate) fn of(meta: &FileMeta) -> Key {
        Key::Object(meta.object, meta.birth)
    }
}

/// One object of a tree: its names and metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Node {
    /// Every path that names it, sorted (several for hard links).
    pub paths: BTreeSet<PathBuf>,
    pub meta: FileMeta,
}

/// Walks `root`; `progress` gets the number of entries seen every few thousand entries.
pub(crate) fn walk(root: &Path, progress: &mut dyn FnMut(u64)) -> Result<Tree> {
    let mut tree = Tree::new();
    // `<root>/.` is the root of the mounted filesystem even when `root` is an automount point.
    let root_md = std::fs::symlink_metadata(root.join(".")).map_err(|e| io_err(OP, root, &e))?;
    let root_meta = FileMeta::from_metadata(&root_md);
    let dev = root_meta.dev;
    tree.insert(
        Key::Root,
        Node {
            paths: BTreeSet::from([PathBuf::new()]),
            meta: root_meta,
        },
    );
    let mut seen: u64 = 1;
    let mut stack: Vec<PathBuf> = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let dir = root.join(&rel);
        let rd = match std::fs::read_dir(&dir) {
            Ok(rd) => rd,
            // Removed while we walk (the live filesystem): it is simply not there.
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) && !rel.as_os_str().is_empty() => {
                continue;
            }
            Err(e) => return Err(io_err(OP, &dir, &e)),
        };
        for ent in rd {
            let ent = ent.map_err(|e| io_err(OP, &dir, &e))?;
            let name = ent.file_name();
            if rel.as_os_str().is_empty() && name == ".zfs" {
                continue;
            }
            let child_rel = rel.join(&name);
            let md = match std::fs::symlink_metadata(ent.path()) {
                Ok(md) => md,
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
                Err(e) => return Err(io_err(OP, &ent.path(), &e)),
            };
            let meta = FileMeta::from_metadata(&md);
            if meta.dev != dev {
                // Another filesystem is mounted here (a nested dataset): not ours.
                continue;
            }
            seen += 1;
            if seen.is_multiple_of(PROGRESS_EVERY) {
                progress(seen);
            }
            if meta.file_type == super::FileType::Dir {
                stack.push(child_rel.clone());
            }
            let key = Key::of(&meta);
            match tree.get_mut(&key) {
                Some(node) => {
                    node.paths.insert(child_rel);
                }
                None => {
                    tree.insert(
                        key,
                        Node {
                            paths: BTreeSet::from([child_rel]),
                            meta,
                        },
                    );
                }
            }
        }
    }
    progress(seen);
    Ok(tree)
}
