//! The trusted file of a recursive rollback (`tree/<id>.json`): its journal while it runs, the
//! record that groups its member stashes afterwards. Private, versioned format (`TreeV1`).

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{Store, check_id, check_version, io_err, one, read_dir_or_empty, unusable, with_path};
use crate::error::{Error, ErrorKind, Result};
use crate::name::DatasetName;
use crate::rollback::plan::Strategy;
use crate::rollback::tree::{TreePhase, TreeStash};

/// A tree file on disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct TreeV1 {
    #[serde(default = "one")]
    version: u32,
    id: String,
    root: String,
    /// The short name of the recursive snapshot.
    target: String,
    createtxg: u64,
    strategy: Strategy,
    /// `rollback`, `restore` or `done`.
    phase: String,
    /// For `restore`: the tree stash being restored.
    #[serde(default)]
    restore_of: Option<String>,
    /// The members, root first, parents before children: `[name, guid, target guid]`.
    members: Vec<(String, u64, u64)>,
    /// Descendants carried over unchanged (`--keep-missing`).
    kept: Vec<String>,
    next: usize,
    created: i64,
}

impl From<&TreeStash> for TreeV1 {
    fn from(t: &TreeStash) -> Self {
        TreeV1 {
            version: super::FORMAT_VERSION,
            id: t.id.clone(),
            root: t.root.to_string(),
            target: t.target.clone(),
            createtxg: t.createtxg,
            strategy: t.strategy,
            phase: t.phase.as_str().to_string(),
            restore_of: t.restore_of.clone(),
            members: t
                .members
                .iter()
                .map(|(d, g, tg)| (d.to_string(), *g, *tg))
                .collect(),
            kept: t.kept.iter().map(ToString::to_string).collect(),
            next: t.next,
            created: t.created.unix_timestamp(),
        }
    }
}

impl TryFrom<TreeV1> for TreeStash {
    type Error = Error;
    fn try_from(t: TreeV1) -> Result<Self> {
        check_version(t.version)?;
        check_id(&t.id)?;
        let phase = match t.phase.as_str() {
            "rollback" => TreePhase::Rollback,
            "restore" => TreePhase::Restore,
            "done" => TreePhase::Done,
            other => return Err(unusable(format!("unknown tree phase {other:?}"))),
        };
        let members = t
            .members
            .into_iter()
            .map(|(d, g, tg)| Ok((DatasetName::new(d)?, g, tg)))
            .collect::<Result<Vec<_>>>()?;
        let kept = t
            .kept
            .into_iter()
            .map(|d| Ok(DatasetName::new(d)?))
            .collect::<Result<Vec<_>>>()?;
        Ok(TreeStash {
            id: t.id,
            root: DatasetName::new(t.root)?,
            target: t.target,
            createtxg: t.createtxg,
            strategy: t.strategy,
            phase,
            restore_of: t.restore_of,
            members,
            kept,
            next: t.next,
            created: OffsetDateTime::from_unix_timestamp(t.created)
                .map_err(|e| unusable(e.to_string()))?,
        })
    }
}

impl Store {
    fn tree_path(&self, id: &str) -> Result<std::path::PathBuf> {
        check_id(id)?;
        Ok(self.dir.join("tree").join(format!("{id}.json")))
    }

    /// Writes (replaces) the file of tree `t.id` (write + fsync + rename).
    pub(crate) fn put_tree(&self, t: &TreeStash) -> Result<()> {
        let p = self.tree_path(&t.id)?;
        self.write_json(&p, &TreeV1::from(t))
    }

    /// The file of tree `id` ([`ErrorKind::NotFound`] when there is none).
    pub(crate) fn tree(&self, id: &str) -> Result<TreeStash> {
        let p = self.tree_path(id)?;
        self.read_tree(&p)?.ok_or_else(|| {
            Error::new(ErrorKind::NotFound, "stash")
                .with_name(id)
                .with_detail("no such stash record")
        })
    }

    /// Whether tree `id` has a file.
    pub fn has_tree(&self, id: &str) -> Result<bool> {
        Ok(self.tree_path(id)?.exists())
    }

    fn read_tree(&self, path: &std::path::Path) -> Result<Option<TreeStash>> {
        self.read_json::<TreeV1>(path)?
            .map(TreeStash::try_from)
            .transpose()
            .map_err(|e| with_path(e, path))
    }

    /// Every tree file, oldest id first.
    pub(crate) fn trees(&self) -> Result<Vec<TreeStash>> {
        let mut v = Vec::new();
        for e in read_dir_or_empty(&self.dir.join("tree"))? {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "json")
                && let Some(t) = self.read_tree(&p)?
            {
                v.push(t);
            }
        }
        v.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(v)
    }

    /// Removes the file of tree `id`.
    pub(crate) fn remove_tree(&self, id: &str) -> Result<()> {
        let p = self.tree_path(id)?;
        match std::fs::remove_file(&p) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err("store", &p, e)),
        }
    }
}
