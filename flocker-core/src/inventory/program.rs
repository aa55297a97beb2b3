//! The read-only channel programs (Lua, zfs-program(8)) behind the inventory.
//!
//! The texts (in `lua/`) are fixed: everything that varies (names, the resume position, the page size,
//! the property names) is passed in the argument table, never spliced into the code.
//!
//! Arguments (all optional unless said):
//!
//! | key | Lua type | meaning |
//! |---|---|---|
//! | `root` | string (required by the paged programs) | the dataset the walk starts at |
//! | `depth` | number | how deep to walk below `root`; `-1` for the whole tree |
//! | `lim` | number (required by the paged programs) | the page size, at least 1 |
//! | `ads`, `asn` | string | resume position of the snapshot/bookmark pager: dataset, full item name |
//! | `after` | string | resume position of the dataset pager |
//! | `props` | string array | system properties to read with `zfs.get_prop`, in this order |
//! | `uprops` | string array | user properties to read with `zfs.get_prop` |
//! | `uall` | boolean | read every user property with `zfs.list.user_properties` |
//! | `holds` | boolean | list the holds of each snapshot with `zfs.list.holds` |
//! | `bm` | boolean | list bookmarks instead of snapshots (names only) |
//! | `names` | string array | the items of [`ITEMS`] |
//! | `snaps` | boolean | [`ITEMS`]: list each dataset's snapshots with their GUIDs (`s = { name = guid }`) |
//!
//! Each item comes back as `items[full name] = { [1..#props] = values, u = { name = { value,
//! setpoint } }, h = { tag = seconds } }` (`true` for bookmarks). A property `zfs.get_prop`
//! does not report (not valid for the type, not set) is a hole in the array.

/// The prelude shared by every program: `pick` (the `k` smallest names above a bound, with a
/// max-heap, in one pass over an iterator), `walk` (the dataset tree, depth-limited) and
/// `fetch` (the requested properties of one item). See `lua/prelude.lua`.
macro_rules! prelude {
    () => {
        include_str!("lua/prelude.lua")
    };
}

/// One page of snapshots (or bookmark names, with `bm`) of the datasets under `root`, in
/// (dataset, name) byte order, resuming after (`ads`, `asn`).
///
/// Returns `{ i = items, n = count, m = more, d = resume dataset, s = resume item, w =
/// datasets walked }`, or `{ gone = true }` when `root` does not exist.
pub(crate) const SNAPSHOTS: &str = concat!(prelude!(), include_str!("lua/snapshots.lua"));

/// One page of the datasets under `root` (itself included), in name byte order, resuming
/// after `after`.
///
/// Returns `{ i = items, n = count, m = more, d = resume name, w = datasets walked }`, or
/// `{ gone = true }` when `root` does not exist.
pub(crate) const DATASETS: &str = concat!(prelude!(), include_str!("lua/datasets.lua"));

/// The named items (`names`: datasets or snapshots) that exist, with their properties (and,
/// with `snaps`, each dataset's snapshots and their GUIDs: what the rollback executor checks
/// before every step).
///
/// Returns `{ i = items, n = count }`.
pub(crate) const ITEMS: &str = concat!(prelude!(), include_str!("lua/items.lua"));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn programs_are_small_and_nul_free() {
        for p in [SNAPSHOTS, DATASETS, ITEMS] {
            assert!(!p.contains('\0'));
            // Every call is recorded with its program in the pool's history: keep it short.
            assert!(p.len() < 4096, "{} bytes", p.len());
            assert!(p.trim_start().starts_with("local a = ..."));
        }
    }
}
