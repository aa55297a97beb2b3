//! The de-duplication (pure): what each snapshot and the live filesystem hold at one path,
//! grouped into distinct versions.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::Path;

use super::{Deleted, Version};
use crate::diff::{FileType, Timestamp};
use crate::name::SnapshotName;

/// What each snapshot holds in one directory (`None`: no directory there), oldest first.
pub(crate) type Listings = [(SnapshotName, Option<Vec<(OsString, Seen)>>)];

/// What one tree (a snapshot or the live filesystem) holds at a path: the identity of a
/// version.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Seen {
    pub file_type: FileType,
    pub size: u64,
    pub mtime: Timestamp,
    /// With verification: a digest of the content (a symbolic link's target, a regular
    /// file's bytes); `None` without, or for other file types.
    pub digest: Option<[u8; 32]>,
}

/// Groups what each snapshot holds (`snaps`, oldest first; `None`: nothing there) and the live
/// file into versions: one per distinct [`Seen`], ordered by the oldest snapshot holding it,
/// a version only the live file has last.
pub(crate) fn group(snaps: &[(SnapshotName, Option<Seen>)], live: Option<&Seen>) -> Vec<Version> {
    let mut versions: Vec<Version> = Vec::new();
    let mut index: BTreeMap<&Seen, usize> = BTreeMap::new();
    for (name, seen) in snaps {
        let Some(seen) = seen else { continue };
        let i = *index.entry(seen).or_insert_with(|| {
            versions.push(Version::of(seen, Vec::new(), false));
            versions.len() - 1
        });
        versions[i].snapshots.push(name.clone());
    }
    if let Some(l) = live {
        match index.get(l) {
            Some(&i) => versions[i].live = true,
            None => versions.push(Version::of(l, Vec::new(), true)),
        }
    }
    versions
}

/// The entries of one directory that some snapshot (`snaps`, oldest first, each with its
/// entries) holds and `live` does not, each as the newest snapshot holding it has it, sorted
/// by name.
pub(crate) fn deleted(dir: &Path, snaps: &Listings, live: &[OsString]) -> Vec<Deleted> {
    let mut last: BTreeMap<&OsString, (&SnapshotName, &Seen)> = BTreeMap::new();
    for (name, entries) in snaps {
        for (entry, seen) in entries.iter().flatten() {
            last.insert(entry, (name, seen));
        }
    }
    for name in live {
        last.remove(name);
    }
    last.into_iter()
        .map(|(entry, (snap, seen))| Deleted {
            rel: dir.join(entry),
            file_type: seen.file_type,
            last: snap.clone(),
            size: seen.size,
            mtime: seen.mtime,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(size: u64, sec: i64) -> Seen {
        Seen {
            file_type: FileType::File,
            size,
            mtime: Timestamp { sec, nsec: 0 },
            digest: None,
        }
    }

    fn snap(n: u32) -> SnapshotName {
        SnapshotName::new(format!("tank/fs@s{n:02}")).expect("valid")
    }

    fn names(v: &Version) -> Vec<String> {
        v.snapshots
            .iter()
            .map(|s| s.short_name().to_string())
            .collect()
    }

    #[test]
    fn groups_by_identity_oldest_first() {
        let a = seen(10, 100);
        let b = seen(12, 200);
        let snaps = vec![
            (snap(1), None),
            (snap(2), Some(a.clone())),
            (snap(3), Some(a.clone())),
            (snap(4), Some(b.clone())),
            (snap(5), None),
            (snap(6), Some(a.clone())),
        ];
        let v = group(&snaps, Some(&b));
        assert_eq!(v.len(), 2);
        assert_eq!(names(&v[0]), ["s02", "s03", "s06"]);
        assert!(!v[0].live);
        assert_eq!(v[0].size, 10);
        assert_eq!(names(&v[1]), ["s04"]);
        assert!(v[1].live);
    }

    #[test]
    fn live_only_version_is_last() {
        let snaps = vec![(snap(1), Some(seen(1, 1))), (snap(2), Some(seen(2, 2)))];
        let v = group(&snaps, Some(&seen(3, 3)));
        assert_eq!(v.len(), 3);
        assert!(v[2].live && v[2].snapshots.is_empty());
        assert_eq!(v[2].size, 3);
        assert!(!v[0].live && !v[1].live);
    }

    #[test]
    fn nothing_anywhere_is_empty() {
        assert!(group(&[(snap(1), None)], None).is_empty());
        let v = group(&[], Some(&seen(1, 1)));
        assert_eq!(v.len(), 1);
        assert!(v[0].live);
    }

    #[test]
    fn digest_and_type_split_versions() {
        let mut x = seen(5, 5);
        let mut y = x.clone();
        x.digest = Some([1; 32]);
        y.digest = Some([2; 32]);
        let mut z = seen(5, 5);
        z.file_type = FileType::Symlink;
        let snaps = vec![
            (snap(1), Some(x.clone())),
            (snap(2), Some(y)),
            (snap(3), Some(z)),
            (snap(4), Some(x)),
        ];
        let v = group(&snaps, None);
        assert_eq!(v.len(), 3);
        assert_eq!(names(&v[0]), ["s01", "s04"]);
        assert_eq!(v[2].file_type, FileType::Symlink);
    }

    #[test]
    fn deleted_entries_with_newest_snapshot() {
        let e = |n: &str, s: u64| (OsString::from(n), seen(s, s as i64));
        let snaps = vec![
            (snap(1), Some(vec![e("a", 1), e("gone", 2), e("keep", 3)])),
            (snap(2), None),
            (
                snap(3),
                Some(vec![e("gone", 4), e("keep", 3), e("later", 5)]),
            ),
            (snap(4), Some(vec![e("keep", 3)])),
        ];
        let live = vec![OsString::from("keep"), OsString::from("new")];
        let d = deleted(Path::new("dir"), &snaps, &live);
        let got: Vec<(String, String, u64)> = d
            .iter()
            .map(|d| {
                let rel = d.rel.to_string_lossy().into_owned();
                (rel, d.last.short_name().to_string(), d.size)
            })
            .collect();
        assert_eq!(
            got,
            [
                ("dir/a".to_string(), "s01".to_string(), 1),
                ("dir/gone".to_string(), "s03".to_string(), 4),
                ("dir/later".to_string(), "s03".to_string(), 5),
            ]
        );
    }
}
