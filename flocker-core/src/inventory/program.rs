//! The read-only channel program (Lua, zfs-program(8)) that reads several named items in one
//! atomic step, for the rollback executor's checks (listings use the kernel's list ioctls).
//!
//! The texts (in `lua/`) are fixed: everything that varies (names, property names) is passed
//! in the argument table, never spliced into the code.
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

/// The prelude: the arguments and `fetch` (the requested properties of one item). See
/// `lua/prelude.lua`.
macro_rules! prelude {
    () => {
        include_str!("lua/prelude.lua")
    };
}

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
        let p = ITEMS;
        assert!(!p.contains('\0'));
        // Every call is recorded with its program in the pool's history: keep it short.
        assert!(p.len() < 4096, "{} bytes", p.len());
        assert!(p.trim_start().starts_with("local a = ..."));
    }
}
