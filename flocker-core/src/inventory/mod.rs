//! Listing datasets, snapshots, bookmarks, holds and properties without the CLI.
//!
//! libzfs_core has no list and no property get; this module reads them with **read-only
//! channel programs** (`lzc_channel_program_nosync`, zfs-program(8)): Lua that the kernel
//! runs in open context with `zfs.list.children/snapshots/bookmarks/holds/user_properties`
//! and `zfs.get_prop`. No process is spawned, and the results are the crate's types
//! ([`DatasetInfo`], [`SnapshotInfo`], [`BookmarkInfo`], [`HoldInfo`]), not nvlists.
//!
//! ```no_run
//! use flocker_core::inventory::{Inventory, SnapshotQuery, UserProps};
//! use flocker_core::name::DatasetName;
//!
//! # fn main() -> Result<(), flocker_core::error::Error> {
//! let root = DatasetName::new("tank/home")?;
//! let mut inv = Inventory::new().on_progress(|p| eprintln!("{} {} so far", p.items, p.listing));
//! let query = SnapshotQuery::new(&root)
//!     .recursive()
//!     .user_properties(UserProps::named(["com.example:tag"])?);
//! for s in inv.snapshots(&query)? {
//!     println!("{} txg={} used={} holds={}", s.name, s.createtxg, s.used, s.userrefs);
//! }
//! # Ok(())
//! # }
//! ```
//!
//! # Paging
//!
//! A channel program runs under an instruction limit and a memory limit (which also bounds
//! its reply), and while it runs it holds the pool's configuration lock as a reader, which
//! delays every administrative change of the pool (snapshots, destroys, property changes) and
//! so the transaction group sync. A listing is therefore cut into **pages**: each page is one
//! program call that returns at most [`Inventory::with_page_size`] items (default
//! [`Inventory::DEFAULT_PAGE_SIZE`]).
//!
//! Items are paged in **byte order of their names**: datasets by full name; snapshots (and
//! bookmarks) by `(dataset, name)`. A page walks the dataset tree under the root, skips the
//! datasets before the resume position, and in each remaining dataset keeps, in one pass over
//! `zfs.list.snapshots` with a bounded max-heap, the smallest names above the resume position
//! until the page is full. Only the kept items have their properties read. The next page
//! resumes *after the last name returned*: a pure comparison, so the resume point does not
//! need to exist any more (it may have been destroyed meanwhile).
//!
//! Why names and not `createtxg`: the kernel iterates snapshots in the hash order of its ZAP,
//! and a channel program cannot resume a kernel iterator, so every page scans the dataset's
//! snapshots again. Comparing names costs one Lua instruction per snapshot, comparing
//! `createtxg` would cost a `zfs.get_prop` (a dataset hold) per snapshot per page. Names are
//! unique, so the order is total. The results of [`Inventory::snapshots`] are then sorted by
//! dataset and `createtxg` (oldest first), like `zfs list -t snapshot`.
//!
//! Calls: a listing of N snapshots in one dataset takes ⌈N / page size⌉ calls (plus retries,
//! below) and scans the dataset's snapshot names once per call; properties are read once per
//! item. 100,000 snapshots with the default page size are 10 calls.
//!
//! **Limits.** Each call runs with [`Inventory::with_limits`] (default: the kernel's usual
//! maxima, 100 million instructions and 100 MiB; if the module's `zfs_lua_max_*` tunables are
//! lower, the CLI's defaults of 10 million and 10 MiB are used instead). A page that hits a
//! limit has changed nothing (the programs only read) and is re-run with half the page size;
//! after a successful page the size doubles back towards the configured one. If a page of a
//! single item still does not fit, the listing fails with
//! [`ErrorKind::ChannelProgramLimit`]: that happens when walking the tree or scanning one
//! dataset's names alone exceeds the limits (many millions of snapshots in one dataset with
//! the default limits), or when one item's user properties do not fit in memory. If p is the
//! largest page that fits, a listing makes at most ⌈N / p⌉ successful calls, log2(page size /
//! p) failed ones to shrink first, and one failed call per successful page after that (the page
//! regrows, fails, halves).
//!
//! # Cost
//!
//! The kernel work per item is one step of `zfs.list.snapshots` (or `children`) plus one
//! `zfs.get_prop` per property, and each `zfs.get_prop` holds the dataset *by name* again (path
//! walk, snapshot lookup). `zfs list` instead makes one ioctl per item that returns every
//! property at once. So the cost grows with the number of properties read:
//! [`Inventory::snapshot_names`] reads none, [`Inventory::snapshot_basics`] three,
//! [`Inventory::snapshots`] nine. Measured figures against `zfs list` are in `BENCHMARKS.md`
//! (in the lab under software emulation: names only faster than the CLI, nine properties
//! about a quarter of its speed). A page of P items with k properties holds the pool's
//! configuration lock for about P·(k + 1) dataset holds; lower the page size on busy pools.
//!
//! # Consistency
//!
//! Each page is one moment: the program runs under the pool's configuration lock, so no
//! snapshot, dataset, hold, clone or user property is created, destroyed or changed while it
//! runs. Space figures (`used`, `referenced`, `written`, `available`) can still move while
//! data is being written, as with `zfs list`.
//!
//! Between pages the pool may change. A multi-page listing guarantees:
//! - an item that exists during the whole listing is returned exactly once;
//! - no item is returned twice (positions only grow);
//! - an item created during the listing is returned if its name sorts after the position the
//!   listing had reached when it was created, otherwise not;
//! - an item destroyed during the listing is returned (with the properties of its page) if its
//!   page was read before the destroy, otherwise not; destroying the item a page ended on is
//!   harmless, because the next page compares names, it does not look the item up;
//! - a renamed snapshot or dataset may appear under both names or under neither;
//! - a dataset destroyed or created during a recursive listing behaves like its snapshots
//!   (the tree is walked again by every page); if the *root* disappears, the listing fails
//!   with [`ErrorKind::NotFound`].
//!
//! A listing that fits in one page (the common case) is a consistent view of one moment.
//!
//! # Side effects and errors
//!
//! Read-only programs change no dataset, but OpenZFS records every channel program call in
//! the pool's internal history (`zpool history -i`), with the program text, its arguments and
//! (if smaller than the `zfs_history_output_max` tunable, 1 MiB) its reply. The history is a
//! bounded ring (0.1 % of the pool, 128 KiB to 1 GiB), so frequent listings push older history
//! out sooner. The programs here are about 3 KiB and take only names and numbers as
//! arguments.
//!
//! The kernel refuses channel programs on a pool imported read-only: listing one fails with
//! [`ErrorKind::ReadOnly`] (libzfs_core offers no other way to list). A missing dataset, an
//! exported or unknown pool: [`ErrorKind::NotFound`]. Not root: [`ErrorKind::PermissionDenied`].
//! No ZFS: [`ErrorKind::Unavailable`]. Bookmark properties come from `lzc_get_bookmarks`.
//!
//! [`ErrorKind::ChannelProgramLimit`]: crate::error::ErrorKind::ChannelProgramLimit
//! [`ErrorKind::NotFound`]: crate::error::ErrorKind::NotFound
//! [`ErrorKind::ReadOnly`]: crate::error::ErrorKind::ReadOnly
//! [`ErrorKind::PermissionDenied`]: crate::error::ErrorKind::PermissionDenied
//! [`ErrorKind::Unavailable`]: crate::error::ErrorKind::Unavailable

mod page;
pub(crate) mod program;
mod types;

use std::collections::BTreeMap;
use std::fmt;
use std::ops::ControlFlow;

pub use types::{
    BookmarkInfo, DatasetInfo, HoldInfo, Progress, PropertySource, SnapshotInfo, UserProperty,
};

use crate::error::{Error, ErrorKind, Result};
use crate::lzc::{self, DatasetType, ProgramLimits};
use crate::name::{BookmarkName, DatasetName, SnapshotName};
use crate::nvlist::NvList;
use crate::snapshot::{Snapshot, check_user_prop_name};

use page::{Cursor, PageOutcome, SnapCursor};

/// The operation named in the inventory's own errors.
const OP: &str = "inventory";

/// Which user properties to read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum UserProps {
    /// None (the default, and the fastest).
    #[default]
    None,
    /// Every user property set on or inherited by the item (`zfs.list.user_properties`).
    All,
    /// Only these (`zfs.get_prop` each); unset ones are left out of the result.
    Named(Vec<String>),
}

impl UserProps {
    /// [`UserProps::Named`] after checking each name the way the kernel does: it contains a
    /// `:`, only lower-case ASCII letters, digits and `: - _ .`, at most 255 bytes.
    ///
    /// Errors: [`ErrorKind::PropertyInvalid`].
    pub fn named<I, S>(names: I) -> Result<UserProps>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let names: Vec<String> = names.into_iter().map(Into::into).collect();
        for n in &names {
            check_user_prop_name(OP, n)?;
        }
        Ok(UserProps::Named(names))
    }

    fn check(&self) -> Result<()> {
        if let UserProps::Named(names) = self {
            for n in names {
                check_user_prop_name(OP, n)?;
            }
        }
        Ok(())
    }

    fn add_args(&self, args: &mut NvList) -> Result<()> {
        match self {
            UserProps::None => {}
            UserProps::All => args.add_boolean_value("uall", true)?,
            UserProps::Named(names) => args.add_string_array("uprops", names)?,
        }
        Ok(())
    }
}

/// How deep below the root a listing goes, as `zfs list -d`; `None` for the whole tree.
fn depth_arg(max_depth: Option<u32>) -> i64 {
    max_depth.map_or(-1, i64::from)
}

/// Which datasets [`Inventory::datasets`] lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatasetQuery {
    root: DatasetName,
    max_depth: Option<u32>,
    kind: Option<DatasetType>,
    user_props: UserProps,
}

impl DatasetQuery {
    /// The dataset `root` alone (`zfs list root`). Filesystems and volumes, no user
    /// properties.
    pub fn new(root: &DatasetName) -> Self {
        DatasetQuery {
            root: root.clone(),
            max_depth: Some(0),
            kind: None,
            user_props: UserProps::None,
        }
    }

    /// `root` and every descendant (`zfs list -r`).
    pub fn recursive(mut self) -> Self {
        self.max_depth = None;
        self
    }

    /// `root` and its descendants at most `depth` levels below it (`zfs list -d depth`).
    pub fn max_depth(mut self, depth: u32) -> Self {
        self.max_depth = Some(depth);
        self
    }

    /// Only filesystems or only volumes (`zfs list -t`). The walk still goes through the
    /// other kind.
    pub fn only(mut self, kind: DatasetType) -> Self {
        self.kind = Some(kind);
        self
    }

    /// Which user properties to read.
    pub fn user_properties(mut self, props: UserProps) -> Self {
        self.user_props = props;
        self
    }

    /// The root.
    pub fn root(&self) -> &DatasetName {
        &self.root
    }
}

/// Which snapshots [`Inventory::snapshots`] lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotQuery {
    root: DatasetName,
    max_depth: Option<u32>,
    user_props: UserProps,
    holds: bool,
}

impl SnapshotQuery {
    /// The snapshots of `root` alone (`zfs list -t snapshot root`), without user properties
    /// or holds.
    pub fn new(root: &DatasetName) -> Self {
        SnapshotQuery {
            root: root.clone(),
            max_depth: Some(0),
            user_props: UserProps::None,
            holds: false,
        }
    }

    /// The snapshots of `root` and of every descendant (`zfs list -t snapshot -r`).
    pub fn recursive(mut self) -> Self {
        self.max_depth = None;
        self
    }

    /// The snapshots of `root` and of its descendants at most `depth` levels below it.
    pub fn max_depth(mut self, depth: u32) -> Self {
        self.max_depth = Some(depth);
        self
    }

    /// Which user properties to read.
    pub fn user_properties(mut self, props: UserProps) -> Self {
        self.user_props = props;
        self
    }

    /// Also list each snapshot's holds ([`SnapshotInfo::holds`]).
    pub fn with_holds(mut self, holds: bool) -> Self {
        self.holds = holds;
        self
    }

    /// The root.
    pub fn root(&self) -> &DatasetName {
        &self.root
    }
}

/// The system properties read for each snapshot, in the order of the program's reply.
const SNAP_PROPS: [&str; 9] = [
    "guid",
    "createtxg",
    "creation",
    "used",
    "referenced",
    "written",
    "userrefs",
    "defer_destroy",
    "clones",
];

/// The system properties read for each filesystem or volume.
const DS_PROPS: [&str; 11] = [
    "type",
    "guid",
    "createtxg",
    "creation",
    "used",
    "referenced",
    "available",
    "written",
    "origin",
    "volsize",
    "mountpoint",
];

/// Limits used when none are configured: the kernel's default maxima.
fn max_limits() -> ProgramLimits {
    ProgramLimits::new(100_000_000, 100 << 20)
}

/// The lister. Holds the page size, the limits and the progress callback; every query runs
/// its own paged listing. See the [module documentation](self) for paging and consistency.
///
/// # Example
///
/// ```no_run
/// use flocker_core::inventory::{DatasetQuery, Inventory, SnapshotQuery};
/// use flocker_core::DatasetName;
///
/// let pool = DatasetName::new("tank")?;
/// let mut inv = Inventory::new().with_page_size(1000);
/// for ds in inv.datasets(&DatasetQuery::new(&pool).recursive())? {
///     let snaps = inv.snapshots(&SnapshotQuery::new(&ds.name))?;
///     let used: u64 = snaps.iter().map(|s| s.used).sum();
///     println!("{}: {} snapshot(s), {used} bytes only they hold", ds.name, snaps.len());
/// }
/// # Ok::<(), flocker_core::Error>(())
/// ```
pub struct Inventory<'a> {
    limits: Option<ProgramLimits>,
    page_size: usize,
    progress: Option<ProgressFn<'a>>,
}

/// The progress callback.
type ProgressFn<'a> = Box<dyn FnMut(&Progress) + 'a>;

impl fmt::Debug for Inventory<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inventory")
            .field("limits", &self.limits)
            .field("page_size", &self.page_size)
            .field("progress", &self.progress.is_some())
            .finish()
    }
}

impl Default for Inventory<'_> {
    fn default() -> Self {
        Inventory::new()
    }
}

impl<'a> Inventory<'a> {
    /// Items per page unless [`Inventory::with_page_size`] says otherwise.
    pub const DEFAULT_PAGE_SIZE: usize = 10_000;

    /// A lister with the default page size and limits and no progress callback.
    pub fn new() -> Self {
        Inventory {
            limits: None,
            page_size: Self::DEFAULT_PAGE_SIZE,
            progress: None,
        }
    }

    /// At most `items` items per page (at least 1; values above 1,000,000 are capped).
    pub fn with_page_size(mut self, items: usize) -> Self {
        self.page_size = items.clamp(1, 1_000_000);
        self
    }

    /// Runs every program with these limits instead of the defaults (see the module
    /// documentation). Limits above the kernel's tunables fail with
    /// [`ErrorKind::InvalidArgument`].
    pub fn with_limits(mut self, limits: ProgramLimits) -> Self {
        self.limits = Some(limits);
        self
    }

    /// Calls `f` after every page of a listing (and once more when it is done).
    pub fn on_progress(mut self, f: impl FnMut(&Progress) + 'a) -> Self {
        self.progress = Some(Box::new(f));
        self
    }

    /// The configured page size.
    pub fn page_size(&self) -> usize {
        self.page_size
    }

    /// The filesystems and volumes of `query`, sorted by name.
    ///
    /// Errors: [`ErrorKind::NotFound`] (no such root or pool), [`ErrorKind::ReadOnly`] (pool
    /// imported read-only), [`ErrorKind::ChannelProgramLimit`] (see the module
    /// documentation), [`ErrorKind::PropertyInvalid`] (a bad user property name), and those
    /// of [`lzc::channel_program_nosync`].
    pub fn datasets(&mut self, query: &DatasetQuery) -> Result<Vec<DatasetInfo>> {
        query.user_props.check()?;
        let mut all = Vec::new();
        let root = query.root.clone();
        self.run_pages(
            "datasets",
            &root,
            program::DATASETS,
            |cursor: Option<&String>, lim| {
                let mut args = base_args(&root, query.max_depth, lim, &DS_PROPS)?;
                query.user_props.add_args(&mut args)?;
                if let Some(after) = cursor {
                    args.add_string("after", after)?;
                }
                Ok(args)
            },
            |table| {
                let items = page::parse_datasets(table)?;
                let n = items.len() as u64;
                let last = items.iter().map(|d| d.name.as_str().to_string()).max();
                all.extend(
                    items
                        .into_iter()
                        .filter(|d| query.kind.is_none_or(|k| d.kind == k)),
                );
                let resume = page::resume_dataset(table)?;
                Ok(PageOutcome {
                    items: n,
                    position: last,
                    resume,
                    stop: false,
                })
            },
        )?;
        all.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(all)
    }

    /// One filesystem or volume, with all its user properties.
    ///
    /// Errors: as [`Inventory::datasets`].
    pub fn dataset(&mut self, name: &DatasetName) -> Result<DatasetInfo> {
        let mut args = NvList::new()?;
        args.add_string_array("names", &[name.as_str()])?;
        args.add_string_array("props", &DS_PROPS)?;
        UserProps::All.add_args(&mut args)?;
        let out = self.call_once(name, program::ITEMS, &args)?;
        let table = page::return_table(&out, name.as_str())?;
        page::parse_datasets(table)?
            .pop()
            .ok_or_else(|| not_found(name.as_str()))
    }

    /// The snapshots of `query`, sorted by dataset name, then oldest first (`createtxg`, then
    /// name).
    ///
    /// Errors: as [`Inventory::datasets`].
    pub fn snapshots(&mut self, query: &SnapshotQuery) -> Result<Vec<SnapshotInfo>> {
        let mut all = Vec::new();
        self.snapshot_pages(query, |page| {
            all.extend(page);
            ControlFlow::Continue(())
        })?;
        all.sort_by(|a, b| {
            (a.name.dataset_str(), a.createtxg, a.name.as_str()).cmp(&(
                b.name.dataset_str(),
                b.createtxg,
                b.name.as_str(),
            ))
        });
        Ok(all)
    }

    /// Streams the snapshots of `query` page by page, in (dataset, name) byte order, without
    /// keeping them: `f` receives each page and may stop the listing with
    /// [`ControlFlow::Break`].
    ///
    /// Errors: as [`Inventory::datasets`]. Pages already passed to `f` stay passed.
    pub fn snapshot_pages(
        &mut self,
        query: &SnapshotQuery,
        f: impl FnMut(Vec<SnapshotInfo>) -> ControlFlow<()>,
    ) -> Result<()> {
        query.user_props.check()?;
        self.snapshot_pages_with(
            query,
            &SNAP_PROPS,
            true,
            page::parse_snapshots,
            |s| &s.name,
            f,
        )
    }

    /// The names of the snapshots of `query`, in (dataset, name) byte order, reading no
    /// property at all: the cheapest listing (one iterator step per snapshot). The query's
    /// user properties and holds are ignored.
    ///
    /// Errors: as [`Inventory::datasets`].
    pub fn snapshot_names(&mut self, query: &SnapshotQuery) -> Result<Vec<SnapshotName>> {
        let mut all = Vec::new();
        self.snapshot_pages_with(
            query,
            &[],
            false,
            page::parse_names,
            |n| n,
            |p| {
                all.extend(p);
                ControlFlow::Continue(())
            },
        )?;
        Ok(all)
    }

    /// The snapshots of `query` as the crate's plain [`Snapshot`] (name, GUID, creation txg
    /// and time): three properties per snapshot instead of nine, so about a third of the
    /// kernel work of [`Inventory::snapshots`]. Sorted like it. The query's user properties
    /// and holds are ignored.
    ///
    /// Errors: as [`Inventory::datasets`].
    pub fn snapshot_basics(&mut self, query: &SnapshotQuery) -> Result<Vec<Snapshot>> {
        let mut all = Vec::new();
        self.snapshot_pages_with(
            query,
            &SNAP_PROPS[..3],
            false,
            page::parse_basics,
            Snapshot::name,
            |p| {
                all.extend(p);
                ControlFlow::Continue(())
            },
        )?;
        all.sort_by(|a, b| {
            (a.name().dataset_str(), a.createtxg(), a.name().as_str()).cmp(&(
                b.name().dataset_str(),
                b.createtxg(),
                b.name().as_str(),
            ))
        });
        Ok(all)
    }

    /// The snapshot pager: `props` are read for each snapshot (with the query's user
    /// properties and holds when `full`), `parse` reads a page, `name` gives an item's name.
    fn snapshot_pages_with<T>(
        &mut self,
        query: &SnapshotQuery,
        props: &[&str],
        full: bool,
        parse: fn(crate::nvlist::NvListRef<'_>) -> Result<Vec<T>>,
        name: fn(&T) -> &SnapshotName,
        mut f: impl FnMut(Vec<T>) -> ControlFlow<()>,
    ) -> Result<()> {
        let root = query.root.clone();
        self.run_pages(
            "snapshots",
            &root,
            program::SNAPSHOTS,
            |cursor: Option<&SnapCursor>, lim| {
                let mut args = base_args(&root, query.max_depth, lim, props)?;
                if full {
                    query.user_props.add_args(&mut args)?;
                    if query.holds {
                        args.add_boolean_value("holds", true)?;
                    }
                }
                page::add_snap_cursor(&mut args, cursor)?;
                Ok(args)
            },
            |table| {
                let mut items = parse(table)?;
                items.sort_by(|a, b| {
                    let (a, b) = (name(a), name(b));
                    (a.dataset_str(), a.as_str()).cmp(&(b.dataset_str(), b.as_str()))
                });
                let n = items.len() as u64;
                let last = items.last().map(|s| name(s).as_str().to_string());
                let resume = page::resume_snap(table)?;
                let stop = f(items).is_break();
                Ok(PageOutcome {
                    items: n,
                    position: last,
                    resume,
                    stop,
                })
            },
        )
    }

    /// One snapshot, with all its user properties and its holds.
    ///
    /// Errors: as [`Inventory::datasets`].
    pub fn snapshot(&mut self, name: &SnapshotName) -> Result<SnapshotInfo> {
        let mut args = NvList::new()?;
        args.add_string_array("names", &[name.as_str()])?;
        args.add_string_array("props", &SNAP_PROPS)?;
        args.add_boolean_value("holds", true)?;
        UserProps::All.add_args(&mut args)?;
        let out = self.call_once(&name.dataset(), program::ITEMS, &args)?;
        let table = page::return_table(&out, name.as_str())?;
        page::parse_snapshots(table)?
            .pop()
            .ok_or_else(|| not_found(name.as_str()))
    }

    /// The user holds on one snapshot (`zfs holds`), sorted by tag.
    ///
    /// Errors: [`ErrorKind::NotFound`] (no such snapshot), and as [`Inventory::datasets`].
    pub fn holds(&mut self, snapshot: &SnapshotName) -> Result<Vec<HoldInfo>> {
        let mut args = NvList::new()?;
        args.add_string_array("names", &[snapshot.as_str()])?;
        args.add_boolean_value("holds", true)?;
        let out = self.call_once(&snapshot.dataset(), program::ITEMS, &args)?;
        let table = page::return_table(&out, snapshot.as_str())?;
        let items = page::items(table)?;
        let Some((_, item)) = items.iter().next() else {
            return Err(not_found(snapshot.as_str()));
        };
        page::parse_holds(snapshot, item)
    }

    /// The bookmarks of `root` and, with `max_depth` (`None`: the whole tree), of its
    /// descendants, sorted by name. Names are paged like snapshots; the properties then come
    /// from one `lzc_get_bookmarks` per dataset that has bookmarks (a bookmark destroyed in
    /// between is left out).
    ///
    /// Errors: as [`Inventory::datasets`].
    pub fn bookmarks(
        &mut self,
        root: &DatasetName,
        max_depth: Option<u32>,
    ) -> Result<Vec<BookmarkInfo>> {
        let mut names: BTreeMap<DatasetName, Vec<BookmarkName>> = BTreeMap::new();
        self.run_pages(
            "bookmarks",
            root,
            program::SNAPSHOTS,
            |cursor: Option<&SnapCursor>, lim| {
                let mut args = base_args(root, max_depth, lim, &[])?;
                args.add_boolean_value("bm", true)?;
                page::add_snap_cursor(&mut args, cursor)?;
                Ok(args)
            },
            |table| {
                let mut n = 0;
                let mut last = None;
                for (name, _) in page::items(table)?.iter() {
                    let name = name
                        .to_str()
                        .map_err(|_| bad_data(root.as_str(), "name not UTF-8"))?;
                    let b = BookmarkName::new(name)
                        .map_err(|e| bad_data(name, &format!("bookmark name: {e}")))?;
                    if last.as_deref().is_none_or(|l: &str| l < name) {
                        last = Some(name.to_string());
                    }
                    names.entry(b.dataset()).or_default().push(b);
                    n += 1;
                }
                let resume = page::resume_snap(table)?;
                Ok(PageOutcome {
                    items: n,
                    position: last,
                    resume,
                    stop: false,
                })
            },
        )?;
        let mut out = Vec::new();
        for (ds, marks) in names {
            let props = match lzc::get_bookmarks(&ds, &["guid", "createtxg", "creation"]) {
                Ok(p) => p,
                // The dataset went away since its bookmarks were listed.
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            let by_name: BTreeMap<&BookmarkName, &lzc::BookmarkProps> =
                props.iter().map(|(n, p)| (n, p)).collect();
            for b in marks {
                let Some(p) = by_name.get(&b) else { continue };
                let (Some(guid), Some(createtxg), Some(creation)) =
                    (p.guid(), p.createtxg(), p.creation())
                else {
                    return Err(bad_data(
                        b.as_str(),
                        "lzc_get_bookmarks left out a property",
                    ));
                };
                let creation = page::time(b.as_str(), creation)?;
                out.push(BookmarkInfo {
                    name: b,
                    guid,
                    createtxg,
                    creation,
                });
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Runs one program call with the configured limits (falling back to the CLI's defaults
    /// once if the kernel refuses the default maxima).
    fn call(
        &mut self,
        root: &DatasetName,
        program: &str,
        args: &NvList,
    ) -> Result<lzc::ProgramOutput> {
        let pool = root.pool();
        let limits = self.limits.unwrap_or_else(max_limits);
        let r = lzc::channel_program_nosync(&pool, program, limits, Some(args));
        match r {
            Err(e) if self.limits.is_none() && e.kind() == ErrorKind::InvalidArgument => {
                // The module's zfs_lua_max_instrlimit/memlimit are set below the usual maxima.
                self.limits = Some(ProgramLimits::default());
                lzc::channel_program_nosync(&pool, program, ProgramLimits::default(), Some(args))
            }
            r => r,
        }
        .map_err(|e| e.with_name(root.as_str()))
    }

    /// One call that is not paged (a single item).
    fn call_once(
        &mut self,
        root: &DatasetName,
        program: &str,
        args: &NvList,
    ) -> Result<lzc::ProgramOutput> {
        self.call(root, program, args)
    }

    /// The paging loop shared by every listing: builds a page's arguments from the resume
    /// position and the page size, runs it, halves the page size on a limit, hands the reply
    /// to `handle`, reports progress, and resumes until the reply says it is complete.
    fn run_pages<C: Cursor>(
        &mut self,
        listing: &'static str,
        root: &DatasetName,
        program: &str,
        mut make_args: impl FnMut(Option<&C>, usize) -> Result<NvList>,
        mut handle: impl FnMut(crate::nvlist::NvListRef<'_>) -> Result<PageOutcome<C>>,
    ) -> Result<()> {
        let mut cursor: Option<C> = None;
        let mut page = self.page_size;
        let mut progress = Progress {
            listing,
            calls: 0,
            pages: 0,
            items: 0,
            retries: 0,
            page_size: page,
            position: None,
            done: false,
        };
        loop {
            let args = make_args(cursor.as_ref(), page)?;
            progress.calls += 1;
            let out = match self.call(root, program, &args) {
                Ok(out) => out,
                Err(e) if e.kind() == ErrorKind::ChannelProgramLimit => {
                    if page == 1 {
                        let limits = self.limits.unwrap_or_else(max_limits);
                        let detail = format!(
                            "not even one item fits in one channel program under the limits \
                             ({} instructions, {} bytes){}{}",
                            limits.instructions(),
                            limits.memory(),
                            if e.detail().is_some() { ": " } else { "" },
                            e.detail().unwrap_or("")
                        );
                        return Err(e.with_detail(detail));
                    }
                    page = (page / 2).max(1);
                    progress.retries += 1;
                    progress.page_size = page;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let table = page::return_table(&out, root.as_str())?;
            if table.contains("gone") {
                return Err(not_found(root.as_str()));
            }
            let outcome = handle(table)?;
            progress.pages += 1;
            progress.items += outcome.items;
            if outcome.position.is_some() {
                progress.position = outcome.position;
            }
            let next = match outcome.resume {
                Some(c) => {
                    if cursor.as_ref().is_some_and(|old| c <= *old) {
                        return Err(bad_data(
                            root.as_str(),
                            "a page did not advance the listing",
                        ));
                    }
                    Some(c)
                }
                None => None,
            };
            let done = next.is_none() || outcome.stop;
            page = (page.saturating_mul(2)).min(self.page_size);
            progress.page_size = page;
            progress.done = done;
            if let Some(f) = self.progress.as_mut() {
                f(&progress);
            }
            if done {
                return Ok(());
            }
            cursor = next;
        }
    }
}

/// The arguments every paged program takes.
fn base_args(
    root: &DatasetName,
    max_depth: Option<u32>,
    lim: usize,
    props: &[&str],
) -> Result<NvList> {
    let mut args = NvList::new()?;
    args.add_string("root", root.as_str())?;
    args.add_i64("depth", depth_arg(max_depth))?;
    args.add_i64("lim", i64::try_from(lim).unwrap_or(i64::MAX))?;
    if !props.is_empty() {
        args.add_string_array("props", props)?;
    }
    Ok(args)
}

fn not_found(name: &str) -> Error {
    Error::new(ErrorKind::NotFound, OP)
        .with_errno(libc::ENOENT)
        .with_name(name)
        .with_detail("no such dataset or snapshot")
}

fn bad_data(name: &str, why: &str) -> Error {
    Error::new(ErrorKind::InvalidData, OP)
        .with_name(name)
        .with_detail(why.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_property_names_are_checked() {
        assert!(UserProps::named(["com.example:tag", "a:b-c_d.e"]).is_ok());
        for bad in [
            "compression",
            "Com.example:tag",
            "a:b c",
            &format!("a:{}", "x".repeat(300)),
        ] {
            let e = UserProps::named([bad]).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::PropertyInvalid, "{bad}");
        }
        // The same check applies when the variant is built by hand.
        let e = UserProps::Named(vec!["nocolon".into()])
            .check()
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::PropertyInvalid);
    }

    #[test]
    fn queries_default_to_the_root_alone() {
        let root = DatasetName::new("tank/a").unwrap();
        let q = SnapshotQuery::new(&root);
        assert_eq!(q.max_depth, Some(0));
        assert_eq!(q.clone().recursive().max_depth, None);
        assert_eq!(q.max_depth(2).max_depth, Some(2));
        let d = DatasetQuery::new(&root)
            .recursive()
            .only(DatasetType::Volume);
        assert_eq!(d.max_depth, None);
        assert_eq!(d.kind, Some(DatasetType::Volume));
        assert_eq!(depth_arg(None), -1);
        assert_eq!(depth_arg(Some(3)), 3);
    }

    #[test]
    fn page_size_is_clamped() {
        assert_eq!(Inventory::new().with_page_size(0).page_size(), 1);
        assert_eq!(Inventory::new().with_page_size(5).page_size(), 5);
        assert_eq!(
            Inventory::new().with_page_size(usize::MAX).page_size(),
            1_000_000
        );
        assert_eq!(Inventory::new().page_size(), Inventory::DEFAULT_PAGE_SIZE);
    }

    #[test]
    fn base_args_carry_the_page() {
        let root = DatasetName::new("tank/a").unwrap();
        let args = base_args(&root, None, 7, &SNAP_PROPS).unwrap();
        let v = args.as_ref();
        assert_eq!(v.get_str("root").unwrap(), "tank/a");
        assert_eq!(v.get_i64("depth").unwrap(), -1);
        assert_eq!(v.get_i64("lim").unwrap(), 7);
        assert!(v.contains("props"));
        let args = base_args(&root, Some(0), 1, &[]).unwrap();
        assert!(!args.as_ref().contains("props"));
    }
}
