//! Listing datasets, snapshots, bookmarks, holds and properties without the CLI.
//!
//! libzfs_core has no list and no property get; this module reads them the way `zfs list`
//! does, through the kernel's list ioctls on the library's own `/dev/zfs` descriptor
//! (`ZFS_IOC_DATASET_LIST_NEXT`, `ZFS_IOC_SNAPSHOT_LIST_NEXT`, `ZFS_IOC_OBJSET_STATS`): one
//! call per item returns its identity and, when properties are asked for, all of them in one
//! list. No process is spawned, and the results are the crate's types ([`DatasetInfo`],
//! [`SnapshotInfo`], [`BookmarkInfo`], [`HoldInfo`]), not nvlists. Holds come from
//! `lzc_get_holds`, bookmarks from `lzc_get_bookmarks`.
//!
//! ```no_run
//! use flocker_core::inventory::{Inventory, SnapshotQuery, UserProps};
//! use flocker_core::name::DatasetName;
//!
//! # fn main() -> Result<(), flocker_core::error::Error> {
//! let root = DatasetName::new("tank/home")?;
//! let mut inv = Inventory::new()
//!     .with_threads(4)
//!     .on_progress(|p| eprintln!("{} {} so far", p.items, p.listing));
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
//! # Cost: only what is asked
//!
//! - [`Inventory::snapshot_names`] lists in the kernel's *simple* mode: per snapshot, one
//!   iterator step and one hold by object number, no property list (the cheapest listing).
//! - [`Inventory::snapshots`] and [`Inventory::snapshot_basics`] get each snapshot's whole
//!   property list in its list call (the kernel builds it whatever is asked; `creation` is not
//!   in the simple mode of any version), like `zfs list`.
//! - Holds ([`SnapshotQuery::with_holds`]) cost one `lzc_get_holds` per snapshot.
//!
//! The work per snapshot is the kernel's: it rebuilds the parent dataset's in-core state
//! when nothing keeps it open, opens the snapshot's objset and builds and packs its
//! property list. What this module adds is the parallelism and the incremental listing below.
//!
//! # Threads
//!
//! The snapshots of different datasets are listed on up to [`Inventory::with_threads`]
//! threads (each with its own call buffer; the kernel serves list calls concurrently), and
//! the results are handed out in the same order as with one thread. One dataset's snapshots
//! are listed by one thread.
//!
//! # Incremental listings
//!
//! An [`Inventory`] made with [`Inventory::incremental`] keeps what it listed, and a later
//! listing of the same query re-lists only what may have changed since, found in the pool's
//! history (the internal events every snapshot, destroy, hold, release, clone, rename,
//! property change ... writes, read with `ZFS_IOC_POOL_GET_HISTORY`); see
//! [`Inventory::incremental`] for exactly what is re-read and when it falls back to a full
//! listing.
//!
//! # Order and paging
//!
//! [`Inventory::snapshots`] returns the snapshots sorted by dataset name, then oldest first
//! (`createtxg`, then name), like `zfs list -t snapshot`; [`Inventory::snapshot_pages`]
//! streams them in (dataset, name) byte order in pages of at most
//! [`Inventory::with_page_size`] items, and the caller may stop after any page.
//!
//! # Consistency
//!
//! Like `zfs list`, a listing is not one atomic moment: each item is read in its own call,
//! one dataset's snapshots in one pass of the kernel's iterator (a ZAP cursor).
//! - An item that exists during the whole listing is returned exactly once (and never twice:
//!   names are unique within a listing).
//! - An item created or destroyed during the listing may or may not be returned; a dataset
//!   destroyed during a recursive listing is left out with its snapshots.
//! - A renamed snapshot or dataset may appear under either name, or neither.
//! - If the *root* does not exist when the listing starts, it fails with
//!   [`ErrorKind::NotFound`].
//!
//! Space figures (`used`, `referenced`, `written`, `available`) can move while data is being
//! written, as with `zfs list`.
//!
//! # Errors
//!
//! A missing root, an exported or unknown pool: [`ErrorKind::NotFound`]. Not permitted:
//! [`ErrorKind::PermissionDenied`]. No ZFS: [`ErrorKind::Unavailable`]. A reply that does not
//! have the expected shape: [`ErrorKind::InvalidData`]. Listing reads nothing but the pool's
//! metadata: it works on a pool imported read-only, and writes nothing to its history.
//!
//! [`ErrorKind::NotFound`]: crate::error::ErrorKind::NotFound
//! [`ErrorKind::PermissionDenied`]: crate::error::ErrorKind::PermissionDenied
//! [`ErrorKind::Unavailable`]: crate::error::ErrorKind::Unavailable
//! [`ErrorKind::InvalidData`]: crate::error::ErrorKind::InvalidData

mod cache;
mod ioctl;
pub(crate) mod program;
mod types;

use std::fmt;
use std::ops::ControlFlow;

pub use types::{
    BookmarkInfo, DatasetInfo, HoldInfo, Progress, PropertySource, SnapshotInfo, UserProperty,
};

use crate::error::{Error, ErrorKind, Result};
use crate::kernel::list::{self as klist, Buffer, Entry};
use crate::lzc::{self, DatasetType, ProgramLimits};
use crate::name::{DatasetName, SnapshotName};
use crate::snapshot::{Snapshot, check_user_prop_name};

use cache::Cache;
pub use cache::Refresh;
use ioctl::{Counters, Depth};

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

/// The lister: page size, threads, the progress callback and, for an incremental one, what
/// it listed before. See the [module documentation](self).
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
    page_size: usize,
    threads: usize,
    progress: Option<ProgressFn<'a>>,
    cache: Option<Cache>,
    /// Kernel calls of the last snapshot listing.
    last_calls: u64,
}

/// The progress callback.
type ProgressFn<'a> = Box<dyn FnMut(&Progress) + 'a>;

impl fmt::Debug for Inventory<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inventory")
            .field("page_size", &self.page_size)
            .field("threads", &self.threads)
            .field("progress", &self.progress.is_some())
            .field("incremental", &self.cache.is_some())
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

    /// Threads at most, whatever [`Inventory::with_threads`] asks.
    pub const MAX_THREADS: usize = 64;

    /// A lister with the default page size, as many threads as the machine has processors
    /// (at most 8), no progress callback, not incremental.
    pub fn new() -> Self {
        let cpus = std::thread::available_parallelism().map_or(1, usize::from);
        Inventory {
            page_size: Self::DEFAULT_PAGE_SIZE,
            threads: cpus.clamp(1, 8),
            progress: None,
            cache: None,
            last_calls: 0,
        }
    }

    /// At most `items` items per page (at least 1; values above 1,000,000 are capped).
    pub fn with_page_size(mut self, items: usize) -> Self {
        self.page_size = items.clamp(1, 1_000_000);
        self
    }

    /// Lists the snapshots of up to `threads` datasets at once (1: one after the other;
    /// values are clamped to 1..=[`Inventory::MAX_THREADS`]). The results do not depend on it.
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.threads = threads.clamp(1, Self::MAX_THREADS);
        self
    }

    /// Formerly the limits of the listing channel programs. Listings no longer run channel
    /// programs, so this has no effect.
    #[deprecated(note = "listings use the kernel's list ioctls; there are no limits to set")]
    pub fn with_limits(self, _limits: ProgramLimits) -> Self {
        self
    }

    /// Makes this lister incremental: it keeps the result of [`Inventory::snapshots`], and a
    /// later call with the same query re-reads only what may have changed since, as the
    /// pool's history records it (see the [module documentation](self) and
    /// [`Inventory::last_refresh`]). For a program that lists the same snapshots again and
    /// again, such as a service; other listings are not affected. Memory: the kept
    /// [`SnapshotInfo`]s.
    ///
    /// ```no_run
    /// use flocker_core::inventory::{Inventory, SnapshotQuery};
    /// use flocker_core::DatasetName;
    ///
    /// let q = SnapshotQuery::new(&DatasetName::new("tank")?).recursive();
    /// let mut inv = Inventory::new().incremental();
    /// let first = inv.snapshots(&q)?; // a full listing
    /// let again = inv.snapshots(&q)?; // only what changed
    /// let r = inv.last_refresh().expect("incremental");
    /// println!("{} then {}: full={} reread={}", first.len(), again.len(), r.full, r.snapshots_reread);
    /// # Ok::<(), flocker_core::Error>(())
    /// ```
    pub fn incremental(mut self) -> Self {
        self.cache.get_or_insert_with(Cache::default);
        self
    }

    /// An incremental lister that continues from what an earlier one kept (a fresh one for
    /// `None`), for owners that must stay `Send` (the service's engine keeps the cache, not
    /// the lister and its callback).
    pub(crate) fn with_cache(mut self, cache: Option<ListingCache>) -> Self {
        self.cache = Some(cache.map_or_else(Cache::default, |c| c.0));
        self
    }

    /// What an incremental lister keeps, taken out of it.
    pub(crate) fn take_cache(&mut self) -> Option<ListingCache> {
        self.cache.take().map(ListingCache)
    }

    /// What the last [`Inventory::snapshots`] of an incremental lister did (`None` for one
    /// that is not incremental, or before its first listing).
    pub fn last_refresh(&self) -> Option<&Refresh> {
        self.cache.as_ref().map(|c| &c.last).filter(|r| r.calls > 0)
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

    /// The configured number of threads.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// The filesystems and volumes of `query`, sorted by name.
    ///
    /// Errors: [`ErrorKind::NotFound`] (no such root or pool), [`ErrorKind::PropertyInvalid`]
    /// (a bad user property name), [`ErrorKind::InvalidData`] (a reply of the wrong shape),
    /// and those of the list ioctls (see the module documentation).
    pub fn datasets(&mut self, query: &DatasetQuery) -> Result<Vec<DatasetInfo>> {
        query.user_props.check()?;
        let counters = Counters::default();
        let mut buf = Buffer::new();
        let altroot = klist::pool_altroot(query.root.pool().as_str(), &mut buf)
            .map_err(|e| e.with_name(query.root.as_str()))?;
        let entries = ioctl::walk(&query.root, query.max_depth, false, &mut buf, &counters)?;
        let mut all = Vec::with_capacity(entries.len());
        for e in &entries {
            let d = ioctl::dataset_info(e, &query.user_props, &altroot)?;
            if query.kind.is_none_or(|k| d.kind == k) {
                all.push(d);
            }
        }
        let mut progress = Progress::start("datasets", self.page_size);
        progress.calls = counters.calls();
        progress.items = all.len() as u64;
        progress.pages = 1;
        progress.position = all.last().map(|d| d.name.as_str().to_string());
        progress.done = true;
        self.report(&progress);
        Ok(all)
    }

    /// One filesystem or volume, with all its user properties.
    ///
    /// Errors: as [`Inventory::datasets`].
    pub fn dataset(&mut self, name: &DatasetName) -> Result<DatasetInfo> {
        let mut buf = Buffer::new();
        let e = stats_or_not_found(name.as_str(), &mut buf)?;
        let altroot = klist::pool_altroot(name.pool().as_str(), &mut buf)?;
        ioctl::dataset_info(&e, &UserProps::All, &altroot)
    }

    /// The snapshots of `query`, sorted by dataset name, then oldest first (`createtxg`, then
    /// name).
    ///
    /// Errors: as [`Inventory::datasets`].
    pub fn snapshots(&mut self, query: &SnapshotQuery) -> Result<Vec<SnapshotInfo>> {
        query.user_props.check()?;
        let mut all = match self.cache.take() {
            Some(mut cache) => {
                let r = cache.snapshots(self, query);
                self.cache = Some(cache);
                r?
            }
            None => self.list_snapshot_infos(query)?.0,
        };
        sort_by_txg(&mut all, |s| (&s.name, s.createtxg));
        Ok(all)
    }

    /// Every snapshot of `query` with its properties, in (dataset, name) order.
    /// Also returns the datasets walked (those without snapshots included).
    fn list_snapshot_infos(
        &mut self,
        query: &SnapshotQuery,
    ) -> Result<(Vec<SnapshotInfo>, Vec<String>)> {
        let mut all = Vec::new();
        let datasets = self.snapshot_info_pages(query, |page| {
            all.extend(page);
            ControlFlow::Continue(())
        })?;
        Ok((all, datasets))
    }

    /// Streams the snapshots of `query` page by page, in (dataset, name) byte order, without
    /// keeping them: `f` receives each page and may stop the listing with
    /// [`ControlFlow::Break`]. Not incremental.
    ///
    /// Errors: as [`Inventory::datasets`]. Pages already passed to `f` stay passed.
    pub fn snapshot_pages(
        &mut self,
        query: &SnapshotQuery,
        f: impl FnMut(Vec<SnapshotInfo>) -> ControlFlow<()>,
    ) -> Result<()> {
        query.user_props.check()?;
        self.snapshot_info_pages(query, f).map(drop)
    }

    /// [`Inventory::snapshot_pages`], returning the datasets walked.
    fn snapshot_info_pages(
        &mut self,
        query: &SnapshotQuery,
        f: impl FnMut(Vec<SnapshotInfo>) -> ControlFlow<()>,
    ) -> Result<Vec<String>> {
        let (want, holds) = (&query.user_props, query.holds);
        self.snapshot_pages_with(
            query,
            Depth::Full,
            |e| {
                let mut s = ioctl::snapshot_info(e, want)?;
                if holds {
                    s.holds = Some(ioctl::holds(&s.name)?);
                }
                Ok(s)
            },
            |s| &s.name,
            f,
        )
    }

    /// The names of the snapshots of `query`, in (dataset, name) byte order, reading no
    /// property at all: the cheapest listing. The query's user properties and holds are
    /// ignored.
    ///
    /// Errors: as [`Inventory::datasets`].
    pub fn snapshot_names(&mut self, query: &SnapshotQuery) -> Result<Vec<SnapshotName>> {
        let mut all = Vec::new();
        self.snapshot_pages_with(
            query,
            Depth::Names,
            ioctl::snapshot_name,
            |n| n,
            |p| {
                all.extend(p);
                ControlFlow::Continue(())
            },
        )?;
        Ok(all)
    }

    /// The snapshots of `query` as the crate's plain [`Snapshot`] (name, GUID, creation txg
    /// and time), sorted like [`Inventory::snapshots`]. The query's user properties and holds
    /// are ignored.
    ///
    /// Errors: as [`Inventory::datasets`].
    pub fn snapshot_basics(&mut self, query: &SnapshotQuery) -> Result<Vec<Snapshot>> {
        let mut all = Vec::new();
        self.snapshot_pages_with(
            query,
            Depth::Full,
            ioctl::snapshot_basic,
            Snapshot::name,
            |p| {
                all.extend(p);
                ControlFlow::Continue(())
            },
        )?;
        sort_by_txg(&mut all, |s| (s.name(), s.createtxg()));
        Ok(all)
    }

    /// The snapshot lister: walks the tree under the root, lists each dataset's snapshots
    /// (on the configured threads) at `depth`, reads each with `parse`, and hands them to `f`
    /// in pages, in (dataset, name) order.
    fn snapshot_pages_with<T: Send>(
        &mut self,
        query: &SnapshotQuery,
        depth: Depth,
        parse: impl Fn(&Entry) -> Result<T> + Sync,
        name: fn(&T) -> &SnapshotName,
        mut f: impl FnMut(Vec<T>) -> ControlFlow<()>,
    ) -> Result<Vec<String>> {
        let counters = Counters::default();
        let datasets: Vec<String> = ioctl::walk(
            &query.root,
            query.max_depth,
            true,
            &mut Buffer::new(),
            &counters,
        )?
        .into_iter()
        .map(|e| e.name)
        .collect();
        let mut pager = Pager::new(self.page_size);
        let threads = self.threads;
        let list_one = |ds: &String, buf: &mut Buffer| -> Result<Vec<T>> {
            let entries = ioctl::snapshots_of(ds, depth, 0, buf, &counters)?;
            let mut items = entries.iter().map(&parse).collect::<Result<Vec<T>>>()?;
            items.sort_by(|a, b| name(a).as_str().cmp(name(b).as_str()));
            Ok(items)
        };
        let mut stopped = false;
        ioctl::map_ordered(&datasets, threads, list_one, |items| {
            for item in items {
                pager.page.push(item);
                if pager.page.len() >= pager.size {
                    let page = std::mem::take(&mut pager.page);
                    if self.emit(&mut pager, page, name, &counters, &mut f) {
                        stopped = true;
                        return ControlFlow::Break(());
                    }
                }
            }
            ControlFlow::Continue(())
        })?;
        if !stopped {
            let page = std::mem::take(&mut pager.page);
            pager.progress.done = true;
            self.emit(&mut pager, page, name, &counters, &mut f);
        }
        self.last_calls = counters.calls();
        Ok(datasets)
    }

    /// Hands one page to `f` (unless it is empty and not the last) and reports progress;
    /// true when `f` asks to stop.
    fn emit<T>(
        &mut self,
        pager: &mut Pager<T>,
        page: Vec<T>,
        name: fn(&T) -> &SnapshotName,
        counters: &Counters,
        f: &mut impl FnMut(Vec<T>) -> ControlFlow<()>,
    ) -> bool {
        let p = &mut pager.progress;
        p.calls = counters.calls();
        p.items += page.len() as u64;
        if let Some(last) = page.last() {
            p.position = Some(name(last).as_str().to_string());
        }
        let stop = if page.is_empty() {
            false
        } else {
            p.pages += 1;
            f(page).is_break()
        };
        if stop {
            p.done = true;
        }
        let p = p.clone();
        self.report(&p);
        stop
    }

    fn report(&mut self, p: &Progress) {
        if let Some(f) = self.progress.as_mut() {
            f(p);
        }
    }

    /// One snapshot, with all its user properties and its holds.
    ///
    /// Errors: as [`Inventory::datasets`].
    pub fn snapshot(&mut self, name: &SnapshotName) -> Result<SnapshotInfo> {
        let e = stats_or_not_found(name.as_str(), &mut Buffer::new())?;
        let mut s = ioctl::snapshot_info(&e, &UserProps::All)?;
        s.holds = Some(ioctl::holds(&s.name)?);
        Ok(s)
    }

    /// The user holds on one snapshot (`zfs holds`), sorted by tag.
    ///
    /// Errors: [`ErrorKind::NotFound`] (no such snapshot), and those of `lzc_get_holds`.
    pub fn holds(&mut self, snapshot: &SnapshotName) -> Result<Vec<HoldInfo>> {
        ioctl::holds_of(snapshot)
    }

    /// The bookmarks of `root` and, with `max_depth` (`None`: the whole tree), of its
    /// descendants, sorted by name: one `lzc_get_bookmarks` per dataset (a dataset destroyed
    /// meanwhile is left out).
    ///
    /// Errors: as [`Inventory::datasets`].
    pub fn bookmarks(
        &mut self,
        root: &DatasetName,
        max_depth: Option<u32>,
    ) -> Result<Vec<BookmarkInfo>> {
        let counters = Counters::default();
        let datasets = ioctl::walk(root, max_depth, true, &mut Buffer::new(), &counters)?;
        let mut out = Vec::new();
        for e in datasets {
            let ds = DatasetName::new(&e.name)
                .map_err(|err| bad_data(&e.name, &format!("dataset name: {err}")))?;
            let props = match lzc::get_bookmarks(&ds, &["guid", "createtxg", "creation"]) {
                Ok(p) => p,
                Err(err) if err.kind() == ErrorKind::NotFound => continue,
                Err(err) => return Err(err),
            };
            for (b, p) in props {
                let (Some(guid), Some(createtxg), Some(creation)) =
                    (p.guid(), p.createtxg(), p.creation())
                else {
                    return Err(bad_data(
                        b.as_str(),
                        "lzc_get_bookmarks left out a property",
                    ));
                };
                let creation = ioctl::time(b.as_str(), creation)?;
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
}

/// What an incremental [`Inventory`] keeps between listings, held apart from it.
#[derive(Default)]
pub(crate) struct ListingCache(Cache);

impl fmt::Debug for ListingCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ListingCache")
    }
}

/// A listing's pages in the making.
struct Pager<T> {
    size: usize,
    page: Vec<T>,
    progress: Progress,
}

impl<T> Pager<T> {
    fn new(size: usize) -> Pager<T> {
        Pager {
            size,
            page: Vec::new(),
            progress: Progress::start("snapshots", size),
        }
    }
}

impl Progress {
    fn start(listing: &'static str, page_size: usize) -> Progress {
        Progress {
            listing,
            calls: 0,
            pages: 0,
            items: 0,
            retries: 0,
            page_size,
            position: None,
            done: false,
        }
    }
}

/// Sorts snapshots by dataset, then `createtxg`, then name.
fn sort_by_txg<T>(v: &mut [T], key: impl Fn(&T) -> (&SnapshotName, u64)) {
    v.sort_by(|a, b| {
        let ((na, ta), (nb, tb)) = (key(a), key(b));
        (na.dataset_str(), ta, na.as_str()).cmp(&(nb.dataset_str(), tb, nb.as_str()))
    });
}

/// The stats of one dataset or snapshot; [`ErrorKind::NotFound`] naming it when missing.
fn stats_or_not_found(name: &str, buf: &mut Buffer) -> Result<Entry> {
    match klist::stats(name, buf) {
        Ok(e) => Ok(e),
        Err(e) if e.kind() == ErrorKind::NotFound => Err(not_found(name)),
        Err(e) => Err(e),
    }
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
        assert_eq!(Inventory::new().with_threads(0).threads(), 1);
        assert_eq!(Inventory::new().with_threads(3).threads(), 3);
        assert_eq!(
            Inventory::new().with_threads(1000).threads(),
            Inventory::MAX_THREADS
        );
        assert!((1..=8).contains(&Inventory::new().threads()));
    }
}
