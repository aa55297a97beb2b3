//! Validated ZFS names: pools, datasets, snapshots and bookmarks.
//!
//! `libzfs_core` copies every name it is given into a fixed 256-byte buffer and silently
//! truncates longer ones, so a name that was never checked can make an ioctl act on a different
//! dataset than the caller meant. Every name that reaches the [`lzc`](crate::lzc) layer is
//! therefore one of the types below, and each of them can only be built by passing the OpenZFS
//! rules. The module is pure logic (no FFI) and is tested on any host.
//!
//! | type | form | example |
//! |---|---|---|
//! | [`PoolName`] | `pool` | `tank` |
//! | [`DatasetName`] | `pool[/component]*` (filesystem or volume, or the pool's root) | `tank/home/ann` |
//! | [`SnapshotName`] | `dataset@snapshot` | `tank/home@2024-05-01` |
//! | [`BookmarkName`] | `dataset#bookmark` | `tank/home#sent-2024-05-01` |
//!
//! Each type keeps the name both as a `str` and as a NUL-terminated C string, so
//! [`as_str`](DatasetName::as_str) and [`as_c_str`](DatasetName::as_c_str) cost nothing per call.
//!
//! # Rules
//!
//! Reimplemented from OpenZFS `module/zcommon/zfs_namecheck.c` and `lib/libzfs`
//! (the same in 2.1.x, 2.2.x and 2.3.x):
//!
//! - A full name is at most [`MAX_NAME_LEN`] (255) bytes: `ZFS_MAX_DATASET_NAME_LEN` (256)
//!   includes the terminating NUL.
//! - Components are separated by `/` and contain only ASCII letters and digits and
//!   `_ - : .` and space. No component is empty, `.` or `..`; no leading or trailing `/`.
//! - A snapshot name has exactly one `@`, a bookmark name exactly one `#`, and no `/` after it;
//!   a filesystem or volume name has neither.
//! - The pool (first component) starts with an ASCII letter, is at most [`MAX_POOL_NAME_LEN`]
//!   (239) bytes (room for the pool's hidden `pool/$ORIGIN@$ORIGIN`), and is not `mirror`,
//!   `raidz` or `draid`.
//! - A dataset is nested at most [`MAX_DATASET_DEPTH`] (49) levels: OpenZFS's
//!   `zfs_max_dataset_nesting` is 50 and a name's depth (its count of `/` before any `@` or `#`)
//!   must be below it.
//!
//! Where this module is deliberately stricter or looser than OpenZFS:
//!
//! - `%` is rejected. OpenZFS accepts it in existing names only because it makes hidden
//!   temporary clones with it (`fs/%recv`), which nobody should address through this library.
//! - `.` and `..` are rejected in every component; OpenZFS's check misses them just before an
//!   `@` or `#` (`tank/.@snap`), but no such dataset can exist.
//! - The pool rules are applied to the first component of every dataset, snapshot and bookmark
//!   name (every existing pool passed them when it was created), so that
//!   [`DatasetName::pool`] cannot fail.
//! - The nesting limit is the default one; OpenZFS lets an administrator raise the tunable.
//! - Pool names that look like Solaris disks (`c0t0d0`) are accepted: OpenZFS dropped that
//!   rule in 2.1.0 (openzfs/zfs#11781).
//! - `zpool create` and `zpool import` also refuse names *starting with* `mirror`, `raidz`,
//!   `draid` or `spare` and the name `log`, but pools created before those rules may carry such
//!   names and the kernel accepts them; [`PoolName::new`] accepts them too and
//!   [`PoolName::new_for_create`] applies the stricter rules.
//!
//! # Example
//!
//! ```
//! use flocker_core::name::{DatasetName, NameError, SnapshotName};
//!
//! let home: DatasetName = "tank/home".parse()?;
//! let ann = home.child("ann")?;
//! assert_eq!(ann.as_str(), "tank/home/ann");
//! assert_eq!(ann.depth(), 2);
//! assert!(home.is_ancestor_of(&ann));
//! assert_eq!(ann.pool().as_str(), "tank");
//!
//! let snap = ann.snapshot("2024-05-01")?;
//! assert_eq!(snap.as_c_str(), c"tank/home/ann@2024-05-01");
//! assert_eq!(snap.short_name(), "2024-05-01");
//! assert_eq!(snap.dataset(), ann);
//!
//! // Invalid names are typed errors that say what is wrong.
//! assert!(matches!(
//!     SnapshotName::new("tank/home"),
//!     Err(NameError::MissingDelimiter { expected: '@', .. })
//! ));
//! assert!(matches!(
//!     DatasetName::new("tank//home"),
//!     Err(NameError::EmptyComponent { .. })
//! ));
//! let long = format!("tank/{}", "x".repeat(300));
//! assert!(matches!(
//!     DatasetName::new(&long),
//!     Err(NameError::TooLong { len: 305, max: 255, .. })
//! ));
//! # Ok::<(), NameError>(())
//! ```

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::ffi::{CStr, CString};
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

/// Size of the name buffers in the ZFS ioctl interface, NUL included
/// (`ZFS_MAX_DATASET_NAME_LEN` in OpenZFS `include/sys/fs/zfs.h`).
pub const ZFS_MAX_DATASET_NAME_LEN: usize = 256;

/// Longest valid full name in bytes (the buffer minus its NUL).
pub const MAX_NAME_LEN: usize = ZFS_MAX_DATASET_NAME_LEN - 1;

/// Longest valid pool name in bytes.
///
/// OpenZFS keeps room for the pool's hidden origin snapshot `pool/$ORIGIN@$ORIGIN`:
/// 256 − 2 − 2 × len("$ORIGIN") = 240 bytes including the NUL.
pub const MAX_POOL_NAME_LEN: usize = ZFS_MAX_DATASET_NAME_LEN - 2 - 2 * "$ORIGIN".len() - 1;

/// OpenZFS's default `zfs_max_dataset_nesting`: a dataset's depth must be below it.
pub const ZFS_MAX_DATASET_NESTING: usize = 50;

/// Deepest valid dataset: the number of `/` in its name (a pool's root has depth 0).
pub const MAX_DATASET_DEPTH: usize = ZFS_MAX_DATASET_NESTING - 1;

/// Pool names that the kernel refuses outright.
pub const RESERVED_POOL_NAMES: [&str; 3] = ["mirror", "raidz", "draid"];

/// Prefixes that `zpool create` and `zpool import` refuse for new pool names.
pub const RESERVED_POOL_PREFIXES_FOR_CREATE: [&str; 4] = ["mirror", "raidz", "draid", "spare"];

/// Whole names that `zpool create` and `zpool import` refuse besides the prefixes.
pub const RESERVED_POOL_NAMES_FOR_CREATE: [&str; 1] = ["log"];

/// Why a name was rejected. The variant is the rule that failed; each carries the offending
/// input (`name`) so that the message names it.
///
/// Offsets (`position`) are byte offsets into `name`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    /// The name is the empty string.
    #[error("name is empty")]
    Empty,

    /// The bytes are not UTF-8 (ZFS names are ASCII).
    #[error("name {name:?} is not valid UTF-8 (first invalid byte at offset {valid_up_to})")]
    NotUtf8 {
        /// The input, with invalid sequences replaced by U+FFFD.
        name: String,
        /// Length of the valid UTF-8 prefix.
        valid_up_to: usize,
    },

    /// The name contains a NUL byte, which would cut it short in C.
    #[error("name {name:?} contains a NUL byte at offset {position}")]
    ContainsNul {
        /// The offending input.
        name: String,
        /// Offset of the first NUL.
        position: usize,
    },

    /// The full name is longer than the ioctl buffer allows.
    #[error("name {name:?} is {len} bytes long; at most {max} are allowed")]
    TooLong {
        /// The offending input.
        name: String,
        /// Its length in bytes.
        len: usize,
        /// The limit in bytes ([`MAX_NAME_LEN`]).
        max: usize,
    },

    /// The pool name (first component) is longer than [`MAX_POOL_NAME_LEN`].
    #[error("pool name in {name:?} is {len} bytes long; at most {max} are allowed")]
    PoolNameTooLong {
        /// The offending input.
        name: String,
        /// Length of its pool component in bytes.
        len: usize,
        /// The limit in bytes ([`MAX_POOL_NAME_LEN`]).
        max: usize,
    },

    /// A character outside ASCII letters, digits and `_ - : .` and space.
    #[error("invalid character {ch:?} at offset {position} in name {name:?}{}", invalid_char_hint(*ch))]
    InvalidChar {
        /// The offending input.
        name: String,
        /// The character.
        ch: char,
        /// Its offset.
        position: usize,
    },

    /// The name starts with `/`.
    #[error("name {name:?} starts with '/'")]
    LeadingSlash {
        /// The offending input.
        name: String,
    },

    /// The name ends with `/`.
    #[error("name {name:?} ends with '/'")]
    TrailingSlash {
        /// The offending input.
        name: String,
    },

    /// A component is empty (`a//b`, `@snap`, `fs@`, or an empty component argument).
    #[error("name {name:?} has an empty component")]
    EmptyComponent {
        /// The offending input.
        name: String,
    },

    /// A component is `.`.
    #[error("name {name:?} has a '.' component")]
    SelfReference {
        /// The offending input.
        name: String,
    },

    /// A component is `..`.
    #[error("name {name:?} has a '..' component")]
    ParentReference {
        /// The offending input.
        name: String,
    },

    /// More than one `@` or `#`.
    #[error("name {name:?} has more than one '@' or '#' delimiter")]
    MultipleDelimiters {
        /// The offending input.
        name: String,
    },

    /// A snapshot name without `@` or a bookmark name without `#`.
    #[error("{} name {name:?} has no {expected:?} delimiter", delimiter_kind(*expected))]
    MissingDelimiter {
        /// The offending input.
        name: String,
        /// The delimiter the name needs: `@` or `#`.
        expected: char,
    },

    /// An `@` or `#` where this kind of name cannot have one (`@` in a filesystem name,
    /// `#` in a snapshot name, ...).
    #[error("unexpected {found:?} at offset {position} in name {name:?}")]
    UnexpectedDelimiter {
        /// The offending input.
        name: String,
        /// The delimiter found: `@` or `#`.
        found: char,
        /// Its offset.
        position: usize,
    },

    /// A `/` after the `@` or `#` (the short name of a snapshot or bookmark is one component).
    #[error("name {name:?} has a '/' after its '@' or '#', at offset {position}")]
    SlashAfterDelimiter {
        /// The offending input.
        name: String,
        /// Offset of the `/`.
        position: usize,
    },

    /// The pool name does not begin with an ASCII letter.
    #[error("pool name in {name:?} must begin with an ASCII letter")]
    PoolNameNoLetter {
        /// The offending input.
        name: String,
    },

    /// The pool name is reserved (`mirror`, `raidz`, `draid`; for new pools also names
    /// starting with `mirror`, `raidz`, `draid` or `spare`, and `log`).
    #[error(
        "pool name in {name:?} is reserved: {}{reserved:?}",
        if *prefix { "it starts with " } else { "" }
    )]
    ReservedPoolName {
        /// The offending input.
        name: String,
        /// The reserved name or prefix it matches.
        reserved: &'static str,
        /// `true` when `reserved` is a prefix of the pool name rather than all of it.
        prefix: bool,
    },

    /// The dataset is nested deeper than [`MAX_DATASET_DEPTH`].
    #[error("name {name:?} is nested {depth} levels deep; at most {max} are allowed")]
    TooDeep {
        /// The offending input.
        name: String,
        /// Its depth (number of `/` before any `@` or `#`).
        depth: usize,
        /// The limit ([`MAX_DATASET_DEPTH`]).
        max: usize,
    },
}

fn invalid_char_hint(ch: char) -> &'static str {
    match ch {
        '%' => " ('%' only appears in ZFS-internal temporary names)",
        '/' | '@' | '#' => " (a component or short name cannot contain it)",
        _ => "",
    }
}

fn delimiter_kind(delimiter: char) -> &'static str {
    if delimiter == '#' {
        "bookmark"
    } else {
        "snapshot"
    }
}

/// Characters allowed in a component (OpenZFS's `valid_char`, without the internal `%`).
fn valid_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':' | ' ')
}

/// What kind of entity name is being checked.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Dataset,
    Snapshot,
    Bookmark,
}

impl Kind {
    fn delimiter(self) -> Option<char> {
        match self {
            Kind::Dataset => None,
            Kind::Snapshot => Some('@'),
            Kind::Bookmark => Some('#'),
        }
    }
}

fn utf8(bytes: &[u8]) -> Result<&str, NameError> {
    std::str::from_utf8(bytes).map_err(|e| NameError::NotUtf8 {
        name: String::from_utf8_lossy(bytes).into_owned(),
        valid_up_to: e.valid_up_to(),
    })
}

fn check_not_empty_no_nul(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if let Some(position) = name.bytes().position(|b| b == 0) {
        return Err(NameError::ContainsNul {
            name: name.to_owned(),
            position,
        });
    }
    Ok(())
}

/// The pool rules, on the pool component `pool` of the full name `name`. `pool`'s characters
/// have already been checked.
fn check_pool_rules(pool: &str, name: &str) -> Result<(), NameError> {
    if pool.len() > MAX_POOL_NAME_LEN {
        return Err(NameError::PoolNameTooLong {
            name: name.to_owned(),
            len: pool.len(),
            max: MAX_POOL_NAME_LEN,
        });
    }
    if !pool.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return Err(NameError::PoolNameNoLetter {
            name: name.to_owned(),
        });
    }
    if let Some(reserved) = RESERVED_POOL_NAMES.into_iter().find(|r| *r == pool) {
        return Err(NameError::ReservedPoolName {
            name: name.to_owned(),
            reserved,
            prefix: false,
        });
    }
    Ok(())
}

/// Checks a full dataset, snapshot or bookmark name; returns the offset of its `@` or `#`.
fn check_entity(name: &str, kind: Kind) -> Result<Option<usize>, NameError> {
    check_not_empty_no_nul(name)?;
    // The delimiter kind first, as libzfs does: its message is the most useful one.
    check_delimiter_kind(name, kind)?;
    if name.len() > MAX_NAME_LEN {
        return Err(NameError::TooLong {
            name: name.to_owned(),
            len: name.len(),
            max: MAX_NAME_LEN,
        });
    }
    if name.starts_with('/') {
        return Err(NameError::LeadingSlash {
            name: name.to_owned(),
        });
    }
    let Components {
        delimiter,
        pool_end,
    } = check_components(name)?;

    let pool = name
        .get(..pool_end.unwrap_or(name.len()))
        .unwrap_or_default();
    check_pool_rules(pool, name)?;

    let dataset = name
        .get(..delimiter.unwrap_or(name.len()))
        .unwrap_or_default();
    let depth = dataset.bytes().filter(|&b| b == b'/').count();
    if depth > MAX_DATASET_DEPTH {
        return Err(NameError::TooDeep {
            name: name.to_owned(),
            depth,
            max: MAX_DATASET_DEPTH,
        });
    }
    Ok(delimiter)
}

/// `name` has the delimiter `kind` needs (`@`, `#`) and not the other one.
fn check_delimiter_kind(name: &str, kind: Kind) -> Result<(), NameError> {
    for found in ['@', '#'] {
        let position = name.find(found);
        if kind.delimiter() == Some(found) {
            if position.is_none() {
                return Err(NameError::MissingDelimiter {
                    name: name.to_owned(),
                    expected: found,
                });
            }
        } else if let Some(position) = position {
            return Err(NameError::UnexpectedDelimiter {
                name: name.to_owned(),
                found,
                position,
            });
        }
    }
    Ok(())
}

/// What [`check_components`] found: the offset of the `@` or `#`, and the end of the pool
/// component.
struct Components {
    delimiter: Option<usize>,
    pool_end: Option<usize>,
}

/// Checks the components of a full name one by one: their characters, `.` and `..`, empty
/// components, a trailing slash, more than one delimiter, a `/` after the delimiter.
fn check_components(name: &str) -> Result<Components, NameError> {
    let err_name = || name.to_owned();
    let mut chars = name.char_indices();
    let mut start = 0;
    let mut previous_end: Option<char> = None;
    let mut delimiter: Option<usize> = None;
    let mut pool_end = None;
    loop {
        let (end, terminator) = next_component(name, &mut chars)?;
        let component = name.get(start..end).unwrap_or_default();
        if terminator.is_none() && component.is_empty() && previous_end == Some('/') {
            return Err(NameError::TrailingSlash { name: err_name() });
        }
        match component {
            "." => return Err(NameError::SelfReference { name: err_name() }),
            ".." => return Err(NameError::ParentReference { name: err_name() }),
            _ => {}
        }
        if matches!(terminator, Some('@' | '#')) {
            if delimiter.is_some() {
                return Err(NameError::MultipleDelimiters { name: err_name() });
            }
            delimiter = Some(end);
        }
        if component.is_empty() {
            return Err(NameError::EmptyComponent { name: err_name() });
        }
        pool_end.get_or_insert(end);
        match terminator {
            None => break,
            Some('/') if delimiter.is_some() => {
                return Err(NameError::SlashAfterDelimiter {
                    name: err_name(),
                    position: end,
                });
            }
            _ => {}
        }
        previous_end = terminator;
        start = end + 1;
    }
    Ok(Components {
        delimiter,
        pool_end,
    })
}

/// Advances `chars` over one component of `name`: to the next separator (`/`, `@`, `#`) or
/// the end. Returns where the component ends and the separator (`None` at the end).
fn next_component(
    name: &str,
    chars: &mut std::str::CharIndices<'_>,
) -> Result<(usize, Option<char>), NameError> {
    loop {
        match chars.next() {
            None => return Ok((name.len(), None)),
            Some((i, c @ ('/' | '@' | '#'))) => return Ok((i, Some(c))),
            Some((position, ch)) if !valid_char(ch) => {
                return Err(NameError::InvalidChar {
                    name: name.to_owned(),
                    ch,
                    position,
                });
            }
            Some(_) => {}
        }
    }
}

/// Checks one component given on its own (a child's name, a snapshot's or bookmark's short
/// name), like OpenZFS's `zfs_component_namecheck` plus the `.`/`..` rule.
fn check_component(component: &str) -> Result<(), NameError> {
    if component.is_empty() {
        return Err(NameError::EmptyComponent {
            name: String::new(),
        });
    }
    check_not_empty_no_nul(component)?;
    if component.len() > MAX_NAME_LEN {
        return Err(NameError::TooLong {
            name: component.to_owned(),
            len: component.len(),
            max: MAX_NAME_LEN,
        });
    }
    if let Some((position, ch)) = component.char_indices().find(|&(_, c)| !valid_char(c)) {
        return Err(NameError::InvalidChar {
            name: component.to_owned(),
            ch,
            position,
        });
    }
    match component {
        "." => Err(NameError::SelfReference {
            name: component.to_owned(),
        }),
        ".." => Err(NameError::ParentReference {
            name: component.to_owned(),
        }),
        _ => Ok(()),
    }
}

/// A validated name in both forms. Only built from names that passed a check (so it has no
/// NUL byte).
#[derive(Clone)]
struct Stored {
    name: Box<str>,
    c_name: CString,
}

impl Stored {
    /// `name` must have passed one of the checks above (or be a prefix of such a name that is
    /// itself valid); the checks reject NUL bytes.
    fn from_checked(name: &str) -> Stored {
        debug_assert!(!name.as_bytes().contains(&0));
        // SAFETY: every caller passes a name that went through `check_not_empty_no_nul`
        // (directly, or as a part of a checked name), so it has no interior NUL byte;
        // `from_vec_unchecked` appends the terminating NUL.
        let c_name = unsafe { CString::from_vec_unchecked(name.as_bytes().to_vec()) };
        Stored {
            name: name.into(),
            c_name,
        }
    }
}

/// The pool component of a checked name (everything before the first `/`, `@` or `#`).
fn pool_part(name: &str) -> &str {
    name.split(['/', '@', '#']).next().unwrap_or(name)
}

/// A validated pool name, such as `tank`.
///
/// Accepts every name the kernel accepts for an existing pool; see
/// [`PoolName::new_for_create`] for the stricter rules of `zpool create`.
#[derive(Clone)]
pub struct PoolName {
    inner: Stored,
}

/// A validated filesystem or volume name, such as `tank/home`; the pool's root dataset
/// (`tank`) is one too.
#[derive(Clone)]
pub struct DatasetName {
    inner: Stored,
}

/// A validated snapshot name, such as `tank/home@monday`.
#[derive(Clone)]
pub struct SnapshotName {
    inner: Stored,
    /// Offset of the `@`.
    at: usize,
}

/// A validated bookmark name, such as `tank/home#monday`.
#[derive(Clone)]
pub struct BookmarkName {
    inner: Stored,
    /// Offset of the `#`.
    hash: usize,
}

macro_rules! common_impls {
    ($ty:ident, $what:literal) => {
        impl $ty {
            #[doc = concat!("Parses ", $what, " from bytes; non-UTF-8 input is [`NameError::NotUtf8`].")]
            pub fn from_bytes(bytes: &[u8]) -> Result<$ty, NameError> {
                $ty::new(utf8(bytes)?)
            }

            #[doc = concat!("The name of the ", $what, ".")]
            pub fn as_str(&self) -> &str {
                &self.inner.name
            }

            #[doc = concat!("The name of the ", $what, " as a NUL-terminated C string, for FFI.")]
            pub fn as_c_str(&self) -> &CStr {
                &self.inner.c_name
            }

            /// The name as an owned `String`.
            pub fn into_string(self) -> String {
                self.inner.name.into_string()
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_tuple(stringify!($ty)).field(&self.as_str()).finish()
            }
        }

        // Equality, order and hash are those of the `str`, which `Borrow<str>` requires.
        impl PartialEq for $ty {
            fn eq(&self, other: &$ty) -> bool {
                self.as_str() == other.as_str()
            }
        }

        impl Eq for $ty {}

        impl PartialOrd for $ty {
            fn partial_cmp(&self, other: &$ty) -> Option<Ordering> {
                Some(self.cmp(other))
            }
        }

        impl Ord for $ty {
            fn cmp(&self, other: &$ty) -> Ordering {
                self.as_str().cmp(other.as_str())
            }
        }

        impl Hash for $ty {
            fn hash<H: Hasher>(&self, state: &mut H) {
                self.as_str().hash(state)
            }
        }

        impl PartialEq<str> for $ty {
            fn eq(&self, other: &str) -> bool {
                self.as_str() == other
            }
        }

        impl PartialEq<&str> for $ty {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }

        impl FromStr for $ty {
            type Err = NameError;

            fn from_str(s: &str) -> Result<$ty, NameError> {
                $ty::new(s)
            }
        }

        impl TryFrom<&str> for $ty {
            type Error = NameError;

            fn try_from(s: &str) -> Result<$ty, NameError> {
                $ty::new(s)
            }
        }

        impl TryFrom<String> for $ty {
            type Error = NameError;

            fn try_from(s: String) -> Result<$ty, NameError> {
                $ty::new(s)
            }
        }

        impl TryFrom<&CStr> for $ty {
            type Error = NameError;

            fn try_from(s: &CStr) -> Result<$ty, NameError> {
                $ty::from_bytes(s.to_bytes())
            }
        }

        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                self.as_str()
            }
        }

        impl AsRef<CStr> for $ty {
            fn as_ref(&self) -> &CStr {
                self.as_c_str()
            }
        }

        impl Borrow<str> for $ty {
            fn borrow(&self) -> &str {
                self.as_str()
            }
        }

        impl From<$ty> for String {
            fn from(name: $ty) -> String {
                name.into_string()
            }
        }
    };
}

common_impls!(PoolName, "pool name");
common_impls!(DatasetName, "dataset name");
common_impls!(SnapshotName, "snapshot name");
common_impls!(BookmarkName, "bookmark name");

impl PoolName {
    /// Validates a pool name with the rules the kernel applies (valid characters, starts with a
    /// letter, at most [`MAX_POOL_NAME_LEN`] bytes, not `mirror`, `raidz` or `draid`).
    pub fn new(name: impl AsRef<str>) -> Result<PoolName, NameError> {
        let name = name.as_ref();
        check_not_empty_no_nul(name)?;
        if name.len() > MAX_POOL_NAME_LEN {
            return Err(NameError::PoolNameTooLong {
                name: name.to_owned(),
                len: name.len(),
                max: MAX_POOL_NAME_LEN,
            });
        }
        if let Some((position, ch)) = name.char_indices().find(|&(_, c)| !valid_char(c)) {
            return Err(NameError::InvalidChar {
                name: name.to_owned(),
                ch,
                position,
            });
        }
        check_pool_rules(name, name)?;
        Ok(PoolName {
            inner: Stored::from_checked(name),
        })
    }

    /// Validates a name for a *new* pool: [`PoolName::new`]'s rules plus those of
    /// `zpool create`/`zpool import`, which also refuse names starting with `mirror`, `raidz`,
    /// `draid` or `spare`, and `log`.
    pub fn new_for_create(name: impl AsRef<str>) -> Result<PoolName, NameError> {
        let pool = PoolName::new(name)?;
        let name = pool.as_str();
        let reserved = RESERVED_POOL_PREFIXES_FOR_CREATE
            .into_iter()
            .find(|p| name.starts_with(p))
            .map(|r| (r, true))
            .or_else(|| {
                RESERVED_POOL_NAMES_FOR_CREATE
                    .into_iter()
                    .find(|r| *r == name)
                    .map(|r| (r, false))
            });
        match reserved {
            Some((reserved, prefix)) => Err(NameError::ReservedPoolName {
                name: name.to_owned(),
                reserved,
                prefix,
            }),
            None => Ok(pool),
        }
    }

    /// The pool's root dataset (same name).
    pub fn as_dataset(&self) -> DatasetName {
        DatasetName {
            inner: self.inner.clone(),
        }
    }
}

impl From<PoolName> for DatasetName {
    fn from(pool: PoolName) -> DatasetName {
        DatasetName { inner: pool.inner }
    }
}

impl DatasetName {
    /// Validates a filesystem or volume name (`pool[/component]*`).
    pub fn new(name: impl AsRef<str>) -> Result<DatasetName, NameError> {
        let name = name.as_ref();
        check_entity(name, Kind::Dataset)?;
        Ok(DatasetName {
            inner: Stored::from_checked(name),
        })
    }

    /// The pool this dataset is in.
    pub fn pool(&self) -> PoolName {
        PoolName {
            inner: Stored::from_checked(pool_part(self.as_str())),
        }
    }

    /// The parent dataset, or `None` for a pool's root dataset.
    pub fn parent(&self) -> Option<DatasetName> {
        let (parent, _) = self.as_str().rsplit_once('/')?;
        Some(DatasetName {
            inner: Stored::from_checked(parent),
        })
    }

    /// The child dataset `self/name`. `name` is one component (no `/`).
    pub fn child(&self, name: &str) -> Result<DatasetName, NameError> {
        check_component(name)?;
        DatasetName::new(format!("{self}/{name}"))
    }

    /// The snapshot `self@name`.
    pub fn snapshot(&self, name: &str) -> Result<SnapshotName, NameError> {
        SnapshotName::new_parts(self, name)
    }

    /// The bookmark `self#name`.
    pub fn bookmark(&self, name: &str) -> Result<BookmarkName, NameError> {
        BookmarkName::new_parts(self, name)
    }

    /// Nesting depth: the number of `/` in the name (0 for a pool's root dataset).
    pub fn depth(&self) -> usize {
        self.as_str().bytes().filter(|&b| b == b'/').count()
    }

    /// Whether this is a pool's root dataset.
    pub fn is_pool(&self) -> bool {
        !self.as_str().contains('/')
    }

    /// Whether `other` is a strict descendant of this dataset (`tank` is an ancestor of
    /// `tank/a/b`, but not of `tank`, nor `tank/a` of `tank/ab`).
    pub fn is_ancestor_of(&self, other: &DatasetName) -> bool {
        other
            .as_str()
            .strip_prefix(self.as_str())
            .is_some_and(|rest| rest.starts_with('/'))
    }

    /// The components, pool first (`tank/a/b` gives `tank`, `a`, `b`).
    pub fn components(&self) -> impl Iterator<Item = &str> {
        self.as_str().split('/')
    }

    /// The last component (`b` for `tank/a/b`, the pool name for a pool's root dataset).
    pub fn last_component(&self) -> &str {
        self.as_str()
            .rsplit_once('/')
            .map_or(self.as_str(), |(_, last)| last)
    }
}

macro_rules! point_in_time_impls {
    ($ty:ident, $field:ident, $delimiter:literal, $kind:expr, $what:literal) => {
        impl $ty {
            #[doc = concat!("Validates a ", $what, " name (`dataset", $delimiter, "name`).")]
            pub fn new(name: impl AsRef<str>) -> Result<$ty, NameError> {
                let name = name.as_ref();
                let Some($field) = check_entity(name, $kind)? else {
                    // `check_entity` returns the delimiter's offset for this kind.
                    return Err(NameError::MissingDelimiter {
                        name: name.to_owned(),
                        expected: $delimiter,
                    });
                };
                Ok($ty {
                    inner: Stored::from_checked(name),
                    $field,
                })
            }

            #[doc = concat!("Builds `dataset", $delimiter, "name`; `name` is one component.")]
            pub fn new_parts(dataset: &DatasetName, name: &str) -> Result<$ty, NameError> {
                check_component(name)?;
                $ty::new(format!("{dataset}{}{name}", $delimiter))
            }

            #[doc = concat!("The dataset the ", $what, " belongs to.")]
            pub fn dataset(&self) -> DatasetName {
                DatasetName {
                    inner: Stored::from_checked(self.dataset_str()),
                }
            }

            #[doc = concat!("The dataset part of the name (before the `", $delimiter, "`).")]
            pub fn dataset_str(&self) -> &str {
                self.as_str().get(..self.$field).unwrap_or_default()
            }

            #[doc = concat!("The ", $what, "'s own name (after the `", $delimiter, "`).")]
            pub fn short_name(&self) -> &str {
                self.as_str().get(self.$field + 1..).unwrap_or_default()
            }

            #[doc = concat!("The pool the ", $what, " is in.")]
            pub fn pool(&self) -> PoolName {
                PoolName {
                    inner: Stored::from_checked(pool_part(self.as_str())),
                }
            }
        }
    };
}

point_in_time_impls!(SnapshotName, at, '@', Kind::Snapshot, "snapshot");
point_in_time_impls!(BookmarkName, hash, '#', Kind::Bookmark, "bookmark");

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashSet;

    fn ds(s: &str) -> DatasetName {
        match DatasetName::new(s) {
            Ok(d) => d,
            Err(e) => panic!("{s:?} should be valid: {e}"),
        }
    }

    /// A name of exactly `len` bytes: `tank/xxx...`.
    fn name_of_len(len: usize) -> String {
        format!("tank/{}", "x".repeat(len - 5))
    }

    // ---- valid names -------------------------------------------------------------------

    #[test]
    fn valid_dataset_names() {
        for s in [
            "tank",
            "T",
            "tank/home",
            "tank/home/ann",
            "tank/a-b_c.d:e f",
            "tank/...",
            "tank/.hidden",
            "tank/a..b",
            "Tank9/0/-/_/:/ ",
            "c0t0d0",
            "mirrorpool",
            "spare1/fs",
            "log/fs",
        ] {
            let d = ds(s);
            assert_eq!(d.as_str(), s);
            assert_eq!(d.as_c_str().to_bytes(), s.as_bytes());
            assert_eq!(d.to_string(), s);
        }
    }

    #[test]
    fn valid_snapshot_and_bookmark_names() {
        let s = SnapshotName::new("tank/home@2024-05-01 12:00").unwrap();
        assert_eq!(s.dataset_str(), "tank/home");
        assert_eq!(s.short_name(), "2024-05-01 12:00");
        assert_eq!(s.pool().as_str(), "tank");
        assert_eq!(s.dataset(), ds("tank/home"));
        assert_eq!(s.as_c_str(), c"tank/home@2024-05-01 12:00");

        let s = SnapshotName::new("tank@s").unwrap();
        assert!(s.dataset().is_pool());

        let b = BookmarkName::new("tank/home#bm.1").unwrap();
        assert_eq!(b.dataset_str(), "tank/home");
        assert_eq!(b.short_name(), "bm.1");
        assert_eq!(b.pool().as_str(), "tank");
        assert_eq!(b.dataset(), ds("tank/home"));
        assert_eq!(b.as_c_str(), c"tank/home#bm.1");
    }

    // ---- each rule, with the exact variant ---------------------------------------------

    #[test]
    fn empty_is_rejected() {
        assert_eq!(DatasetName::new(""), Err(NameError::Empty));
        assert_eq!(PoolName::new(""), Err(NameError::Empty));
        assert_eq!(SnapshotName::new(""), Err(NameError::Empty));
        assert_eq!(BookmarkName::new(""), Err(NameError::Empty));
        assert_eq!(DatasetName::from_bytes(b""), Err(NameError::Empty));
    }

    #[test]
    fn non_utf8_is_rejected() {
        assert_eq!(
            DatasetName::from_bytes(b"tank/\xff"),
            Err(NameError::NotUtf8 {
                name: "tank/\u{fffd}".into(),
                valid_up_to: 5
            })
        );
        assert!(matches!(
            SnapshotName::from_bytes(b"\xc3@x"),
            Err(NameError::NotUtf8 { valid_up_to: 0, .. })
        ));
        assert!(matches!(
            PoolName::from_bytes(b"ta\x80nk"),
            Err(NameError::NotUtf8 { valid_up_to: 2, .. })
        ));
        assert!(matches!(
            BookmarkName::from_bytes(b"t#\xfe"),
            Err(NameError::NotUtf8 { valid_up_to: 2, .. })
        ));
        assert_eq!(DatasetName::from_bytes(b"tank/ok").unwrap(), "tank/ok");
    }

    #[test]
    fn nul_is_rejected() {
        assert_eq!(
            DatasetName::new("tank\0/evil"),
            Err(NameError::ContainsNul {
                name: "tank\0/evil".into(),
                position: 4
            })
        );
        assert!(matches!(
            PoolName::new("t\0"),
            Err(NameError::ContainsNul { position: 1, .. })
        ));
        assert!(matches!(
            SnapshotName::new("tank@a\0b"),
            Err(NameError::ContainsNul { position: 6, .. })
        ));
        assert!(matches!(
            ds("tank").child("a\0"),
            Err(NameError::ContainsNul { position: 1, .. })
        ));
    }

    #[test]
    fn invalid_characters_are_rejected() {
        for (s, ch, position) in [
            ("tank/a$b", '$', 6),
            ("tank/a*", '*', 6),
            ("tank/é", 'é', 5),
            ("tank/a\tb", '\t', 6),
            ("tank/a\\b", '\\', 6),
            ("tank/%recv", '%', 5),
            ("ta!nk", '!', 2),
            ("tank/$ORIGIN", '$', 5),
        ] {
            assert_eq!(
                DatasetName::new(s),
                Err(NameError::InvalidChar {
                    name: s.into(),
                    ch,
                    position
                }),
                "{s:?}"
            );
        }
        assert!(matches!(
            SnapshotName::new("tank@a%b"),
            Err(NameError::InvalidChar {
                ch: '%',
                position: 6,
                ..
            })
        ));
        assert!(matches!(
            BookmarkName::new("tank#a,b"),
            Err(NameError::InvalidChar {
                ch: ',',
                position: 6,
                ..
            })
        ));
        for (s, ch) in [
            ("ta/nk", '/'),
            ("ta@nk", '@'),
            ("ta#nk", '#'),
            ("ta%nk", '%'),
        ] {
            assert!(
                matches!(PoolName::new(s), Err(NameError::InvalidChar { ch: c, position: 2, .. }) if c == ch),
                "{s:?}"
            );
        }
    }

    #[test]
    fn leading_and_trailing_slashes_are_rejected() {
        assert_eq!(
            DatasetName::new("/tank"),
            Err(NameError::LeadingSlash {
                name: "/tank".into()
            })
        );
        assert!(matches!(
            SnapshotName::new("/tank@s"),
            Err(NameError::LeadingSlash { .. })
        ));
        assert_eq!(
            DatasetName::new("tank/"),
            Err(NameError::TrailingSlash {
                name: "tank/".into()
            })
        );
        assert!(matches!(
            DatasetName::new("tank/a/"),
            Err(NameError::TrailingSlash { .. })
        ));
        // "/" alone: the leading slash is reported first, as in OpenZFS.
        assert!(matches!(
            DatasetName::new("/"),
            Err(NameError::LeadingSlash { .. })
        ));
    }

    #[test]
    fn empty_components_are_rejected() {
        for s in ["tank//a", "tank/a//b"] {
            assert_eq!(
                DatasetName::new(s),
                Err(NameError::EmptyComponent { name: s.into() })
            );
        }
        for s in ["@snap", "tank@", "tank/@snap"] {
            assert!(
                matches!(SnapshotName::new(s), Err(NameError::EmptyComponent { .. })),
                "{s:?}"
            );
        }
        for s in ["#bm", "tank#"] {
            assert!(
                matches!(BookmarkName::new(s), Err(NameError::EmptyComponent { .. })),
                "{s:?}"
            );
        }
        assert_eq!(
            ds("tank").child(""),
            Err(NameError::EmptyComponent { name: "".into() })
        );
        assert!(matches!(
            ds("tank").snapshot(""),
            Err(NameError::EmptyComponent { .. })
        ));
    }

    #[test]
    fn dot_components_are_rejected() {
        for s in ["tank/.", "tank/./a", "tank/a/."] {
            assert_eq!(
                DatasetName::new(s),
                Err(NameError::SelfReference { name: s.into() }),
                "{s:?}"
            );
        }
        for s in ["tank/..", "tank/../a"] {
            assert_eq!(
                DatasetName::new(s),
                Err(NameError::ParentReference { name: s.into() }),
                "{s:?}"
            );
        }
        // The short name, as in OpenZFS.
        assert!(matches!(
            SnapshotName::new("tank@."),
            Err(NameError::SelfReference { .. })
        ));
        assert!(matches!(
            BookmarkName::new("tank#.."),
            Err(NameError::ParentReference { .. })
        ));
        // Before the delimiter too (stricter than OpenZFS, see the module docs).
        assert!(matches!(
            SnapshotName::new("tank/.@s"),
            Err(NameError::SelfReference { .. })
        ));
        assert!(matches!(
            BookmarkName::new("tank/..#b"),
            Err(NameError::ParentReference { .. })
        ));
        assert!(matches!(
            ds("tank").child(".."),
            Err(NameError::ParentReference { .. })
        ));
        assert!(matches!(
            ds("tank").snapshot("."),
            Err(NameError::SelfReference { .. })
        ));
    }

    #[test]
    fn delimiters() {
        assert_eq!(
            SnapshotName::new("tank/a"),
            Err(NameError::MissingDelimiter {
                name: "tank/a".into(),
                expected: '@'
            })
        );
        assert!(matches!(
            SnapshotName::new("tank#b"),
            Err(NameError::MissingDelimiter { expected: '@', .. })
        ));
        assert_eq!(
            BookmarkName::new("tank/a"),
            Err(NameError::MissingDelimiter {
                name: "tank/a".into(),
                expected: '#'
            })
        );
        assert_eq!(
            DatasetName::new("tank/a@s"),
            Err(NameError::UnexpectedDelimiter {
                name: "tank/a@s".into(),
                found: '@',
                position: 6
            })
        );
        assert!(matches!(
            DatasetName::new("tank#b"),
            Err(NameError::UnexpectedDelimiter {
                found: '#',
                position: 4,
                ..
            })
        ));
        assert!(matches!(
            SnapshotName::new("tank@s#b"),
            Err(NameError::UnexpectedDelimiter {
                found: '#',
                position: 6,
                ..
            })
        ));
        assert!(matches!(
            BookmarkName::new("tank@s#b"),
            Err(NameError::UnexpectedDelimiter {
                found: '@',
                position: 4,
                ..
            })
        ));
        for s in ["tank@a@b", "tank@@"] {
            assert_eq!(
                SnapshotName::new(s),
                Err(NameError::MultipleDelimiters { name: s.into() })
            );
        }
        assert!(matches!(
            BookmarkName::new("tank#a#b"),
            Err(NameError::MultipleDelimiters { .. })
        ));
        assert_eq!(
            SnapshotName::new("tank@a/b"),
            Err(NameError::SlashAfterDelimiter {
                name: "tank@a/b".into(),
                position: 6
            })
        );
        assert!(matches!(
            BookmarkName::new("tank#a/"),
            Err(NameError::SlashAfterDelimiter { position: 6, .. })
        ));
        // Parts given separately must be single components.
        assert!(matches!(
            ds("tank").snapshot("a@b"),
            Err(NameError::InvalidChar {
                ch: '@',
                position: 1,
                ..
            })
        ));
        assert!(matches!(
            ds("tank").bookmark("a/b"),
            Err(NameError::InvalidChar {
                ch: '/',
                position: 1,
                ..
            })
        ));
        assert!(matches!(
            ds("tank").child("a/b"),
            Err(NameError::InvalidChar {
                ch: '/',
                position: 1,
                ..
            })
        ));
        assert!(matches!(
            ds("tank").child("a#b"),
            Err(NameError::InvalidChar {
                ch: '#',
                position: 1,
                ..
            })
        ));
    }

    #[test]
    fn pool_must_start_with_a_letter() {
        for s in ["1tank", "-tank", "_tank", ".tank", ":tank", " tank", "9"] {
            assert_eq!(
                PoolName::new(s),
                Err(NameError::PoolNameNoLetter { name: s.into() }),
                "{s:?}"
            );
        }
        assert_eq!(
            DatasetName::new("1tank/a"),
            Err(NameError::PoolNameNoLetter {
                name: "1tank/a".into()
            })
        );
        assert!(matches!(
            SnapshotName::new("_t@s"),
            Err(NameError::PoolNameNoLetter { .. })
        ));
        assert!(matches!(
            BookmarkName::new("0#b"),
            Err(NameError::PoolNameNoLetter { .. })
        ));
        for s in ["a", "Z", "zz9"] {
            assert!(PoolName::new(s).is_ok(), "{s:?}");
        }
    }

    #[test]
    fn reserved_pool_names() {
        for reserved in ["mirror", "raidz", "draid"] {
            assert_eq!(
                PoolName::new(reserved),
                Err(NameError::ReservedPoolName {
                    name: reserved.into(),
                    reserved,
                    prefix: false
                })
            );
            let dataset = format!("{reserved}/fs");
            assert!(matches!(
                DatasetName::new(&dataset),
                Err(NameError::ReservedPoolName { reserved: r, prefix: false, .. }) if r == reserved
            ));
        }
        // The kernel accepts these (existing pools may carry them); creation does not.
        for (name, reserved, prefix) in [
            ("mirror2", "mirror", true),
            ("raidz1", "raidz", true),
            ("draidpool", "draid", true),
            ("spare", "spare", true),
            ("spares", "spare", true),
            ("log", "log", false),
        ] {
            assert!(PoolName::new(name).is_ok(), "{name:?}");
            assert_eq!(
                PoolName::new_for_create(name),
                Err(NameError::ReservedPoolName {
                    name: name.into(),
                    reserved,
                    prefix
                })
            );
        }
        // Case matters, "log" is reserved only as a whole name, and disk-like names are fine
        // since OpenZFS 2.1.
        for name in ["Mirror", "RAIDZ", "logs", "logpool", "c0t0d0", "c1", "tank"] {
            assert!(PoolName::new_for_create(name).is_ok(), "{name:?}");
        }
        // new_for_create applies the kernel's rules first.
        assert!(matches!(
            PoolName::new_for_create("9spare"),
            Err(NameError::PoolNameNoLetter { .. })
        ));
    }

    #[test]
    fn full_name_length_boundaries() {
        let ok = name_of_len(MAX_NAME_LEN);
        assert_eq!(ok.len(), 255);
        assert_eq!(ds(&ok).as_str().len(), 255);
        let too_long = name_of_len(MAX_NAME_LEN + 1);
        assert_eq!(
            DatasetName::new(&too_long),
            Err(NameError::TooLong {
                name: too_long.clone(),
                len: 256,
                max: 255
            })
        );

        // A snapshot whose dataset is valid but whose full name is too long.
        let dataset = ds(&name_of_len(250));
        assert_eq!(dataset.snapshot("abcd").unwrap().as_str().len(), 255);
        assert!(matches!(
            dataset.snapshot("abcde"),
            Err(NameError::TooLong {
                len: 256,
                max: 255,
                ..
            })
        ));
        assert!(matches!(
            SnapshotName::new_parts(&dataset, "abcdefgh"),
            Err(NameError::TooLong { len: 259, .. })
        ));
        assert!(matches!(
            dataset.bookmark("abcde"),
            Err(NameError::TooLong { len: 256, .. })
        ));
        assert!(matches!(
            dataset.child("abcde"),
            Err(NameError::TooLong { len: 256, .. })
        ));
        let full = format!("{}@{}", name_of_len(200), "s".repeat(60));
        assert!(matches!(
            SnapshotName::new(&full),
            Err(NameError::TooLong { len: 261, .. })
        ));
        // A component given on its own is limited too.
        assert!(matches!(
            ds("tank").child(&"c".repeat(256)),
            Err(NameError::TooLong { len: 256, .. })
        ));
    }

    #[test]
    fn pool_name_length_boundaries() {
        assert_eq!(MAX_POOL_NAME_LEN, 239);
        let ok = "p".repeat(239);
        assert!(PoolName::new(&ok).is_ok());
        assert!(DatasetName::new(format!("{ok}/a")).is_ok());
        let too_long = "p".repeat(240);
        assert_eq!(
            PoolName::new(&too_long),
            Err(NameError::PoolNameTooLong {
                name: too_long.clone(),
                len: 240,
                max: 239
            })
        );
        assert!(matches!(
            DatasetName::new(format!("{too_long}/a")),
            Err(NameError::PoolNameTooLong {
                len: 240,
                max: 239,
                ..
            })
        ));
        assert!(matches!(
            SnapshotName::new(format!("{too_long}@s")),
            Err(NameError::PoolNameTooLong { len: 240, .. })
        ));
        assert!(matches!(
            PoolName::new("p".repeat(1000)),
            Err(NameError::PoolNameTooLong { len: 1000, .. })
        ));
    }

    #[test]
    fn nesting_depth_boundaries() {
        let deepest = format!("tank{}", "/a".repeat(MAX_DATASET_DEPTH));
        let d = ds(&deepest);
        assert_eq!(d.depth(), 49);
        // A snapshot of the deepest dataset is fine: depth counts only before the '@'.
        assert!(d.snapshot("s").is_ok());
        assert!(d.bookmark("b").is_ok());
        assert!(matches!(
            d.child("a"),
            Err(NameError::TooDeep {
                depth: 50,
                max: 49,
                ..
            })
        ));
        let too_deep = format!("tank{}", "/a".repeat(50));
        assert_eq!(
            DatasetName::new(&too_deep),
            Err(NameError::TooDeep {
                name: too_deep.clone(),
                depth: 50,
                max: 49
            })
        );
        assert!(matches!(
            SnapshotName::new(format!("{too_deep}@s")),
            Err(NameError::TooDeep { depth: 50, .. })
        ));
        assert!(matches!(
            BookmarkName::new(format!("{too_deep}#b")),
            Err(NameError::TooDeep { depth: 50, .. })
        ));
    }

    // ---- accessors and navigation -------------------------------------------------------

    #[test]
    fn dataset_navigation() {
        let d = ds("tank/home/ann");
        assert_eq!(d.pool().as_str(), "tank");
        assert_eq!(d.parent(), Some(ds("tank/home")));
        assert_eq!(d.parent().and_then(|p| p.parent()), Some(ds("tank")));
        assert_eq!(ds("tank").parent(), None);
        assert_eq!(d.depth(), 2);
        assert!(!d.is_pool());
        assert!(ds("tank").is_pool());
        assert_eq!(d.components().collect::<Vec<_>>(), ["tank", "home", "ann"]);
        assert_eq!(d.last_component(), "ann");
        assert_eq!(ds("tank").last_component(), "tank");
        assert_eq!(d.child("x").unwrap(), "tank/home/ann/x");

        let tank = ds("tank");
        assert!(tank.is_ancestor_of(&d));
        assert!(ds("tank/home").is_ancestor_of(&d));
        assert!(!d.is_ancestor_of(&d));
        assert!(!d.is_ancestor_of(&tank));
        assert!(!ds("tank/ho").is_ancestor_of(&d));
        assert!(!ds("tan").is_ancestor_of(&d));
        assert!(!ds("tank/home/a").is_ancestor_of(&ds("tank/home/ann")));

        let pool = PoolName::new("tank").unwrap();
        assert_eq!(pool.as_dataset(), tank);
        assert_eq!(DatasetName::from(pool.clone()), tank);
        assert_eq!(pool.as_c_str(), c"tank");
    }

    #[test]
    fn conversions_and_traits() {
        let d: DatasetName = "tank/a".parse().unwrap();
        assert_eq!(DatasetName::try_from("tank/a").unwrap(), d);
        assert_eq!(DatasetName::try_from(String::from("tank/a")).unwrap(), d);
        assert_eq!(DatasetName::try_from(c"tank/a").unwrap(), d);
        assert!(matches!(
            DatasetName::try_from(c"tank/a/"),
            Err(NameError::TrailingSlash { .. })
        ));
        assert!(matches!(
            "tank@".parse::<SnapshotName>(),
            Err(NameError::EmptyComponent { .. })
        ));
        let as_ref: &str = d.as_ref();
        assert_eq!(as_ref, "tank/a");
        let as_cref: &CStr = d.as_ref();
        assert_eq!(as_cref, c"tank/a");
        assert_eq!(format!("{d}"), "tank/a");
        assert_eq!(format!("{d:?}"), "DatasetName(\"tank/a\")");
        assert_eq!(String::from(d.clone()), "tank/a");

        // Order, equality and hashing are those of the string; lookups by &str work.
        let mut set = HashSet::new();
        set.insert(SnapshotName::new("tank@b").unwrap());
        set.insert(SnapshotName::new("tank@a").unwrap());
        assert!(set.contains("tank@a"));
        assert!(!set.contains("tank@c"));
        let mut v = vec![ds("tank/b"), ds("tank/a"), ds("tank")];
        v.sort();
        assert_eq!(v, [ds("tank"), ds("tank/a"), ds("tank/b")]);
    }

    #[test]
    fn messages_name_the_input() {
        let cases: Vec<(NameError, &[&str])> = vec![
            (
                DatasetName::new("tank/a$").unwrap_err(),
                &["tank/a$", "'$'", "6"],
            ),
            (
                DatasetName::new("tank/%x").unwrap_err(),
                &["tank/%x", "internal"],
            ),
            (
                SnapshotName::new("tank/a").unwrap_err(),
                &["snapshot", "tank/a", "'@'"],
            ),
            (
                BookmarkName::new("tank/a").unwrap_err(),
                &["bookmark", "tank/a", "'#'"],
            ),
            (
                DatasetName::new(name_of_len(300)).unwrap_err(),
                &["300", "255"],
            ),
            (
                PoolName::new("mirror").unwrap_err(),
                &["\"mirror\"", "reserved"],
            ),
            (
                PoolName::new_for_create("spare7").unwrap_err(),
                &["spare7", "starts with"],
            ),
            (
                DatasetName::new("tank//x").unwrap_err(),
                &["tank//x", "empty"],
            ),
            (
                DatasetName::from_bytes(b"t\xff").unwrap_err(),
                &["UTF-8", "offset 1"],
            ),
        ];
        for (err, needles) in cases {
            let msg = err.to_string();
            for needle in needles {
                assert!(msg.contains(needle), "{msg:?} should contain {needle:?}");
            }
        }
        assert_eq!(NameError::Empty.to_string(), "name is empty");
    }

    // ---- properties ---------------------------------------------------------------------

    /// Independent statement of the rules, written with `split` (the checker above scans).
    fn oracle_component(c: &str) -> bool {
        const ALLOWED: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.: ";
        !c.is_empty() && c != "." && c != ".." && c.chars().all(|ch| ALLOWED.contains(ch))
    }

    fn oracle_pool(p: &str) -> bool {
        oracle_component(p)
            && p.len() <= 239
            && p.as_bytes()[0].is_ascii_alphabetic()
            && !["mirror", "raidz", "draid"].contains(&p)
    }

    fn oracle_dataset(s: &str) -> bool {
        let parts: Vec<&str> = s.split('/').collect();
        s.len() <= 255
            && parts.len() <= 50
            && oracle_pool(parts[0])
            && parts.iter().all(|c| oracle_component(c))
    }

    fn oracle_point(s: &str, delimiter: char) -> bool {
        match s.split_once(delimiter) {
            Some((d, short)) => s.len() <= 255 && oracle_dataset(d) && oracle_component(short),
            None => false,
        }
    }

    fn check_invariants<T: AsRef<str> + fmt::Display + FromStr + PartialEq + fmt::Debug>(
        name: &T,
        c_str: &CStr,
    ) {
        let s = name.as_ref();
        assert!(!s.is_empty() && s.len() <= MAX_NAME_LEN);
        assert_eq!(c_str.to_bytes(), s.as_bytes());
        assert_eq!(name.to_string(), s);
        match name.to_string().parse::<T>() {
            Ok(again) => assert_eq!(&again, name),
            Err(_) => panic!("{s:?} did not round-trip"),
        }
    }

    /// Pieces that matter to the rules, joined by separators (or nothing).
    fn token_string() -> impl Strategy<Value = String> {
        let piece = prop::sample::select(vec![
            "tank", "a", "B9", "x y", "-", "_", ":", ".", "..", "...", ".a", "", "%", "$", "é",
            "mirror", "raidz", "draid", "spare", "log", "1a", "\0", "\\",
        ]);
        let separator = prop::sample::select(vec!["/", "/", "/", "@", "#", ""]);
        proptest::collection::vec((piece, separator), 0..7).prop_map(|pieces| {
            pieces
                .into_iter()
                .flat_map(|(p, s)| [p, s])
                .collect::<String>()
        })
    }

    /// Strings made mostly of the characters and shapes that matter to the rules, including
    /// names near the length and depth limits.
    fn interesting_string() -> impl Strategy<Value = String> {
        prop_oneof![
            token_string(),
            "[a-zA-Z0-9_.: %/@#-]{0,40}",
            "[a-c./@#]{0,12}",
            "[a-z]{1,3}(/[a-z]{50,60}){4,5}([@#][a-z]{0,10})?",
            "[a-z](/[a-z]){46,52}([@#][a-z])?",
            "[a-z]{230,245}(/a)?",
            any::<String>(),
        ]
    }

    fn pool_strategy() -> impl Strategy<Value = String> {
        "[a-zA-Z][a-zA-Z0-9_.: -]{0,15}"
            .prop_filter("reserved", |p| !RESERVED_POOL_NAMES.contains(&p.as_str()))
    }

    fn component_strategy() -> impl Strategy<Value = String> {
        "[a-zA-Z0-9_.: -]{1,15}".prop_filter("dots", |c| c != "." && c != "..")
    }

    fn dataset_strategy() -> impl Strategy<Value = String> {
        (
            pool_strategy(),
            proptest::collection::vec(component_strategy(), 0..6),
        )
            .prop_map(|(pool, rest)| {
                std::iter::once(pool)
                    .chain(rest)
                    .collect::<Vec<_>>()
                    .join("/")
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]

        #[test]
        fn any_bytes_give_ok_or_typed_error(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Ok(p) = PoolName::from_bytes(&bytes) {
                check_invariants(&p, p.as_c_str());
            }
            if let Ok(d) = DatasetName::from_bytes(&bytes) {
                check_invariants(&d, d.as_c_str());
            }
            if let Ok(s) = SnapshotName::from_bytes(&bytes) {
                check_invariants(&s, s.as_c_str());
            }
            if let Ok(b) = BookmarkName::from_bytes(&bytes) {
                check_invariants(&b, b.as_c_str());
            }
            if std::str::from_utf8(&bytes).is_err() {
                let is_not_utf8 = matches!(DatasetName::from_bytes(&bytes), Err(NameError::NotUtf8 { .. }));
                prop_assert!(is_not_utf8);
            }
        }

        #[test]
        fn checker_agrees_with_oracle(s in interesting_string()) {
            prop_assert_eq!(DatasetName::new(&s).is_ok(), oracle_dataset(&s), "dataset {:?}", s);
            prop_assert_eq!(SnapshotName::new(&s).is_ok(), oracle_point(&s, '@'), "snapshot {:?}", s);
            prop_assert_eq!(BookmarkName::new(&s).is_ok(), oracle_point(&s, '#'), "bookmark {:?}", s);
            prop_assert_eq!(PoolName::new(&s).is_ok(), !s.contains('/') && oracle_dataset(&s), "pool {:?}", s);
        }

        #[test]
        fn valid_names_round_trip(d in dataset_strategy(), short in component_strategy()) {
            let dataset = DatasetName::new(&d);
            prop_assert!(dataset.is_ok(), "{:?}: {:?}", d, dataset);
            let dataset = dataset.unwrap();
            check_invariants(&dataset, dataset.as_c_str());
            let snap = format!("{d}@{short}");
            let parsed: SnapshotName = snap.parse().unwrap();
            prop_assert_eq!(parsed.to_string(), snap);
            let bm = format!("{d}#{short}");
            let parsed: BookmarkName = bm.parse().unwrap();
            prop_assert_eq!(parsed.to_string(), bm);
            let pool = dataset.pool();
            prop_assert_eq!(PoolName::new(pool.as_str()).unwrap(), pool);
        }

        #[test]
        fn derived_names_are_valid(d in dataset_strategy(), short in interesting_string()) {
            let dataset = DatasetName::new(&d).unwrap();
            match dataset.child(&short) {
                Ok(child) => {
                    prop_assert_eq!(DatasetName::new(child.as_str()), Ok(child.clone()));
                    prop_assert_eq!(child.parent(), Some(dataset.clone()));
                    prop_assert!(dataset.is_ancestor_of(&child));
                    prop_assert_eq!(child.depth(), dataset.depth() + 1);
                    prop_assert_eq!(child.last_component(), short.as_str());
                }
                Err(_) => prop_assert!(!oracle_component(&short) || d.len() + 1 + short.len() > 255),
            }
            match dataset.snapshot(&short) {
                Ok(snap) => {
                    prop_assert_eq!(SnapshotName::new(snap.as_str()), Ok(snap.clone()));
                    prop_assert_eq!(snap.dataset(), dataset.clone());
                    prop_assert_eq!(snap.short_name(), short.as_str());
                    prop_assert_eq!(snap.pool(), dataset.pool());
                }
                Err(_) => prop_assert!(!oracle_component(&short) || d.len() + 1 + short.len() > 255),
            }
            match dataset.bookmark(&short) {
                Ok(bm) => {
                    prop_assert_eq!(BookmarkName::new(bm.as_str()), Ok(bm.clone()));
                    prop_assert_eq!(bm.dataset(), dataset.clone());
                    prop_assert_eq!(bm.short_name(), short.as_str());
                }
                Err(_) => prop_assert!(!oracle_component(&short) || d.len() + 1 + short.len() > 255),
            }
        }

        #[test]
        fn parts_of_valid_names_are_valid(s in interesting_string()) {
            if let Ok(snap) = SnapshotName::new(&s) {
                let dataset = snap.dataset();
                prop_assert_eq!(DatasetName::new(dataset.as_str()), Ok(dataset.clone()));
                prop_assert_eq!(format!("{}@{}", dataset, snap.short_name()), s.clone());
                prop_assert_eq!(PoolName::new(snap.pool().as_str()), Ok(snap.pool().clone()));
            }
            if let Ok(bm) = BookmarkName::new(&s) {
                let dataset = bm.dataset();
                prop_assert_eq!(DatasetName::new(dataset.as_str()), Ok(dataset.clone()));
                prop_assert_eq!(format!("{}#{}", dataset, bm.short_name()), s.clone());
            }
            if let Ok(d) = DatasetName::new(&s) {
                prop_assert_eq!(DatasetName::new(d.pool().as_str()).map(|p| p.is_pool()), Ok(true));
                if let Some(parent) = d.parent() {
                    prop_assert_eq!(DatasetName::new(parent.as_str()), Ok(parent.clone()));
                    prop_assert!(parent.is_ancestor_of(&d));
                }
            }
        }
    }
}
