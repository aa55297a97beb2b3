//! The prune workflow: list a dataset's snapshots through [`crate::inventory`], plan each
//! dataset with a [`RetentionPolicy`], and destroy the plans' `Destroy` entries oldest first
//! in capped batches (one `lzc_destroy_snaps` call per batch; a snapshot held or cloned
//! meanwhile is skipped and reported, a failing one reported, the rest retried).
//!
//! Stashed snapshots ([`crate::rollback`]) are never destroyed: the stash store's records
//! protect their snapshots by name and by GUID. A real run holds the store's lock from the
//! listing to the last destroy (it lives in [`Planned`]) and refuses to run while an
//! interrupted rollback of the dataset (or one above or below it) awaits recovery; a dry run
//! takes no lock, creates no store, and only warns.
//!
//! A policy plans only the snapshots it owns ([`Ownership`]): by default DataVault's, named
//! `dv-YYYYMMDDTHHMMSSZ` ([`crate::vault::scheme`]); a regex widens that, [`Ownership::All`]
//! takes every snapshot. The others are *foreign*: never destroyed, not counted by the policy
//! (neither its counts nor its "newest" protection see them), and reported as [`FOREIGN`].
//!
//! The workflow never prints: [`plan`] and [`apply`] tell a callback of their [`Progress`],
//! and [`apply`] returns a typed [`Report`]. The retention facts come from the inventory's
//! listing rows ([`SnapshotFacts::from_info`]); [`Planned::rows_of`] gives a dataset's
//! snapshots in listing order, planned and foreign, as a listing of the plan shows them.
//!
//! ```no_run
//! use flocker_core::name::DatasetName;
//! use flocker_core::prune::{self, Fate, Options, Progress};
//! use flocker_core::retention::TimeZone;
//!
//! let dataset = DatasetName::new("tank/home")?;
//! let policy = "48x1h,30x1d,12x1mo".parse().expect("a valid policy");
//! let mut o = Options::new(dataset, policy, TimeZone::UTC, time::OffsetDateTime::now_utc());
//! o.batch = 50;
//! let planned = prune::plan(&o, |_| {})?;
//! println!("{} to destroy, {} foreign", planned.doomed().len(), planned.foreign.len());
//! let report = prune::apply(&o, &planned, |p| {
//!     if let Progress::Item { name, fate: Fate::Skipped(e) } = p {
//!         eprintln!("kept {name}: {}", e.text);
//!     }
//! });
//! assert!(report.ok(), "{:?}", report.tally);
//! # Ok::<(), flocker_core::error::Error>(())
//! ```

mod apply;
mod ownership;

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;

use time::OffsetDateTime;

use crate::error::{Error, ErrorKind, Result};
use crate::inventory::{self, Inventory, SnapshotInfo, SnapshotQuery, UserProps};
use crate::lzc;
use crate::name::{DatasetName, SnapshotName};
use crate::retention::{PlanEntry, RetentionPlan, RetentionPolicy, SnapshotFacts, TimeZone};
use crate::rollback::{self, Store};

pub use apply::{ErrorInfo, Fate, Report, Tally};
pub use ownership::{FOREIGN, NameMatch, OP_REGEX, Ownership};

/// The operation of the [`Error`] [`plan`] returns when the policy's pin properties are not
/// valid property names (bad input: nothing was read).
pub const OP_PROPERTIES: &str = "name the pin properties";
/// The operation of the [`Error`] [`plan`] returns when the listing fails; its
/// [`Error::name`] is the dataset, its [`Error::detail`] the listing's error.
pub const OP_LIST: &str = "list the snapshots";
/// The operation of the [`Error`] [`plan`] returns when the stash store cannot be opened; its
/// [`Error::name`] is the store's directory, its [`Error::detail`] the cause.
pub const OP_STORE_OPEN: &str = "open the stash store";
/// As [`OP_STORE_OPEN`], when the store's lock cannot be taken (another flocker operation).
pub const OP_STORE_LOCK: &str = "lock the stash store";
/// As [`OP_STORE_OPEN`], when the store's journals cannot be read.
pub const OP_STORE_JOURNALS: &str = "read the journals of the stash store";
/// As [`OP_STORE_OPEN`], when the store's stash records cannot be read.
pub const OP_STORE_READ: &str = "read the stash store";
/// The operation of the [`Error`] ([`ErrorKind::Busy`]) a real run returns while an
/// interrupted rollback or restore awaits recovery; its [`Error::detail`] says which.
pub const OP_RECOVERY: &str = "check for an interrupted operation";

/// What to prune and how. Build with [`Options::new`], then set the fields to change.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Options {
    /// The dataset whose snapshots are thinned.
    pub dataset: DatasetName,
    /// The policy.
    pub policy: RetentionPolicy,
    /// Time zone of the calendar periods.
    pub tz: TimeZone,
    /// The instant planned for.
    pub now: OffsetDateTime,
    /// Plan only: take no lock, create no store, destroy nothing.
    pub dry_run: bool,
    /// At most this many snapshots per `lzc_destroy_snaps` call (0 counts as 1).
    pub batch: usize,
    /// Also the descendants (each planned on its own).
    pub recursive: bool,
    /// Directory of the stash store.
    pub store: PathBuf,
    /// Plan as if no snapshot had holds or clones (testing: destroying then meets them).
    pub ignore_holds: bool,
    /// The time a snapshot counts as taken at, when not its `creation` property (`None` from
    /// the function, or no function: `creation`). DataVault passes
    /// [`crate::vault::scheme::info_time`].
    pub snapshot_time: Option<fn(&SnapshotInfo) -> Option<OffsetDateTime>>,
    /// Which snapshots the policy owns (plans and may destroy); the others are foreign.
    pub ownership: Ownership,
}

impl Options {
    /// Options with the defaults: no dry run, batches of 100, not recursive, the default
    /// store ([`rollback::DEFAULT_DIR`]), `creation` times, DataVault's snapshots owned.
    pub fn new(
        dataset: DatasetName,
        policy: RetentionPolicy,
        tz: TimeZone,
        now: OffsetDateTime,
    ) -> Self {
        Options {
            dataset,
            policy,
            tz,
            now,
            dry_run: false,
            batch: 100,
            recursive: false,
            store: PathBuf::from(rollback::DEFAULT_DIR),
            ignore_holds: false,
            snapshot_time: None,
            ownership: Ownership::default(),
        }
    }
}

/// What the workflow is doing, for a progress display or a log.
#[derive(Debug)]
#[non_exhaustive]
pub enum Progress<'a> {
    /// The listing is under way (the inventory's own progress).
    Listing(&'a inventory::Progress),
    /// The listing is complete.
    Listed,
    /// A snapshot the plan destroys was skipped (held or cloned meanwhile) or failed.
    Item {
        /// Its full name.
        name: &'a SnapshotName,
        /// [`Fate::Skipped`] or [`Fate::Failed`].
        fate: &'a Fate,
    },
    /// A batch is done.
    Batch {
        /// Destroyed so far.
        destroyed: usize,
        /// Skipped so far.
        skipped: usize,
        /// Failed so far.
        failed: usize,
        /// Snapshots to destroy in all.
        total: usize,
    },
    /// The last batch is done.
    Applied,
}

/// The listing and the plans, with the stash store's lock (real runs) held until dropped.
#[derive(Debug)]
#[non_exhaustive]
pub struct Planned {
    /// Every snapshot listed.
    pub listing: Vec<SnapshotInfo>,
    /// One plan per dataset that has snapshots, by dataset name: of the snapshots the policy
    /// owns (possibly none).
    pub plans: Vec<(DatasetName, RetentionPlan)>,
    /// The snapshots the policy does not own (listing order): never planned or destroyed.
    pub foreign: Vec<SnapshotFacts>,
    /// Warnings: [`Ownership::warning`]; on a dry run, an interrupted rollback awaiting
    /// recovery.
    pub warnings: Vec<String>,
    _stashes: Stashes,
}

impl Planned {
    /// The entries to destroy, oldest first.
    pub fn doomed(&self) -> Vec<&PlanEntry> {
        let mut doomed: Vec<&PlanEntry> =
            self.plans.iter().flat_map(|(_, p)| p.destroyed()).collect();
        doomed.sort_by(|a, b| {
            (a.creation, a.createtxg, &a.name).cmp(&(b.creation, b.createtxg, &b.name))
        });
        doomed
    }

    /// How many snapshots the plans keep (foreign ones not included).
    pub fn kept(&self) -> usize {
        self.plans.iter().map(|(_, p)| p.kept().count()).sum()
    }

    /// The foreign snapshots of dataset `ds` (a [`DatasetName`] or its text), oldest first.
    pub fn foreign_of<'a, D>(&'a self, ds: &'a D) -> impl Iterator<Item = &'a SnapshotFacts>
    where
        D: AsRef<str> + ?Sized,
    {
        self.foreign
            .iter()
            .filter(move |f| f.name().dataset_str() == ds.as_ref())
    }

    /// The snapshots of dataset `ds` in listing order (by createtxg): the entries of its plan,
    /// with its foreign snapshots among them. What a listing of the plan shows, line by line.
    ///
    /// ```
    /// use flocker_core::name::{DatasetName, SnapshotName};
    /// use flocker_core::prune::{self, Options, Row};
    /// use flocker_core::retention::{SnapshotFacts, TimeZone};
    /// use time::macros::datetime;
    ///
    /// let fs = DatasetName::new("tank/fs")?;
    /// let now = datetime!(2026-12-01 12:00 UTC);
    /// let o = Options::new(fs.clone(), "min=1".parse().expect("a policy"), TimeZone::UTC, now);
    /// let facts = ["dv-20261201T100000Z", "manual", "dv-20261201T110000Z"]
    ///     .iter()
    ///     .zip(1u64..)
    ///     .map(|(short, i)| {
    ///         let name = SnapshotName::new_parts(&fs, short).expect("a valid name");
    ///         let at = now - time::Duration::hours(4 - i as i64);
    ///         (fs.clone(), SnapshotFacts::new(name, i, i, at))
    ///     });
    /// let planned = prune::plan_facts(&o, facts);
    /// let rows: Vec<&str> = planned
    ///     .rows_of(&fs)
    ///     .iter()
    ///     .map(|r| match r {
    ///         Row::Planned(e) => e.name.short_name(),
    ///         Row::Foreign(f) => f.name().short_name(),
    ///         _ => "?",
    ///     })
    ///     .collect();
    /// assert_eq!(rows, ["dv-20261201T100000Z", "manual", "dv-20261201T110000Z"]);
    /// # Ok::<(), flocker_core::error::Error>(())
    /// ```
    pub fn rows_of(&self, ds: &DatasetName) -> Vec<Row<'_>> {
        let entries = self
            .plans
            .iter()
            .find(|(d, _)| d == ds)
            .map_or(&[][..], |(_, p)| &p.entries[..]);
        let mut rows = Vec::with_capacity(entries.len());
        let mut fi = self
            .foreign
            .iter()
            .filter(|f| f.name().dataset_str() == ds.as_str())
            .peekable();
        for e in entries {
            while let Some(f) = fi.next_if(|f| f.createtxg() < e.createtxg) {
                rows.push(Row::Foreign(f));
            }
            rows.push(Row::Planned(e));
        }
        rows.extend(fi.map(Row::Foreign));
        rows
    }
}

/// One snapshot of a dataset in [`Planned::rows_of`].
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum Row<'a> {
    /// Owned by the policy: its plan entry (keep or destroy, and why).
    Planned(&'a PlanEntry),
    /// Not owned by the policy ([`FOREIGN`]): never destroyed, not counted.
    Foreign(&'a SnapshotFacts),
}

/// Reads the stash records (a real run takes the store's lock and keeps it in the result),
/// lists the snapshots and plans each dataset. Changes nothing; `progress` hears
/// [`Progress::Listing`] and [`Progress::Listed`].
///
/// Err: the [`Error`] names its step by its operation ([`OP_PROPERTIES`], [`OP_LIST`],
/// [`OP_STORE_OPEN`], [`OP_STORE_LOCK`], [`OP_STORE_JOURNALS`], [`OP_STORE_READ`],
/// [`OP_RECOVERY`]) and keeps the cause's kind and errno.
///
/// ```no_run
/// use flocker_core::name::DatasetName;
/// use flocker_core::prune::{self, Options, Progress, Row};
/// use flocker_core::retention::TimeZone;
///
/// let fs = DatasetName::new("tank/home")?;
/// let policy = "24x1h,30x1d,min=3".parse().expect("a valid policy");
/// let mut o = Options::new(fs.clone(), policy, TimeZone::UTC, time::OffsetDateTime::now_utc());
/// o.dry_run = true; // no lock, no store created
/// let planned = prune::plan(&o, |p| {
///     if let Progress::Listing(l) = p {
///         eprintln!("listing {}: {} so far", l.listing, l.items);
///     }
/// })?;
/// for w in &planned.warnings {
///     eprintln!("warning: {w}");
/// }
/// for row in planned.rows_of(&fs) {
///     match row {
///         Row::Planned(e) => println!("{:?} {}", e.decision, e.name),
///         Row::Foreign(f) => println!("foreign {}", f.name()),
///         _ => {}
///     }
/// }
/// # Ok::<(), flocker_core::error::Error>(())
/// ```
pub fn plan(o: &Options, mut progress: impl FnMut(&Progress)) -> Result<Planned> {
    let mut inv = Inventory::new().on_progress(|p| {
        if !p.done {
            progress(&Progress::Listing(p));
        }
    });
    let planned = plan_with(o, &mut inv);
    drop(inv);
    progress(&Progress::Listed);
    planned
}

/// [`plan`] with the caller's lister: a program that prunes the same datasets again and
/// again (the service's [`Engine`](crate::vault::service::Engine)) passes an
/// [incremental](Inventory::incremental) one that it keeps, so that each plan re-reads only
/// what changed. Progress is the lister's own callback.
///
/// Errors: as [`plan`].
pub fn plan_with(o: &Options, inv: &mut Inventory<'_>) -> Result<Planned> {
    let mut warnings: Vec<String> = o
        .ownership
        .warning(&o.dataset, o.recursive)
        .into_iter()
        .collect();
    let stashes = read_stashes(o, &mut warnings)?;

    let props = if o.policy.pin_properties().is_empty() {
        UserProps::None
    } else {
        UserProps::named(o.policy.pin_properties().iter().cloned())
            .map_err(|e| context(e, OP_PROPERTIES, None))?
    };
    let mut query = SnapshotQuery::new(&o.dataset).user_properties(props);
    if o.recursive {
        query = query.recursive();
    }
    let listing = inv
        .snapshots(&query)
        .map_err(|e| context(e, OP_LIST, Some(o.dataset.to_string())))?;

    let facts = listing.iter().map(|info| {
        let time = o.snapshot_time.and_then(|f| f(info));
        (
            info.name.dataset(),
            facts(info, time, o.ignore_holds, &stashes),
        )
    });
    let mut planned = plan_facts(o, facts);
    planned.listing = listing;
    planned.warnings = warnings;
    planned._stashes = stashes;
    Ok(planned)
}

/// Destroys what `planned` destroys (nothing on a dry run), oldest first, in batches of at
/// most [`Options::batch`]; `progress` hears of each snapshot skipped or failed
/// ([`Progress::Item`]), each batch done and the end.
///
/// ```no_run
/// use flocker_core::name::DatasetName;
/// use flocker_core::prune::{self, Fate, Options, Progress};
/// use flocker_core::retention::TimeZone;
///
/// let fs = DatasetName::new("tank/home")?;
/// let policy = "48x1h,30x1d".parse().expect("a valid policy");
/// let mut o = Options::new(fs, policy, TimeZone::UTC, time::OffsetDateTime::now_utc());
/// o.batch = 20;
/// let planned = prune::plan(&o, |_| {})?; // holds the stash store's lock until dropped
/// let report = prune::apply(&o, &planned, |p| match p {
///     Progress::Batch { destroyed, total, .. } => eprintln!("{destroyed} of {total}"),
///     Progress::Item { name, fate: Fate::Failed(e) } => eprintln!("{name}: {}", e.text),
///     _ => {}
/// });
/// for (name, fate) in &report.fates {
///     if let Fate::Skipped(e) = fate {
///         println!("kept {name}: {}", e.text); // held or cloned since the listing
///     }
/// }
/// println!("destroyed {} in {} calls", report.tally.destroyed, report.tally.calls);
/// # Ok::<(), flocker_core::error::Error>(())
/// ```
pub fn apply(o: &Options, planned: &Planned, progress: impl FnMut(&Progress)) -> Report {
    if o.dry_run {
        return Report::default();
    }
    let doomed = planned.doomed();
    apply::destroy_in_batches(
        &doomed,
        o.batch,
        |names| lzc::destroy_snaps(names, false),
        progress,
    )
}

/// `e` as the error of step `operation` (about `name`): its kind and errno kept, its text the
/// detail.
fn context(e: Error, operation: &'static str, name: Option<String>) -> Error {
    let mut c = Error::new(e.kind(), operation).with_detail(e.to_string());
    if let Some(errno) = e.errno() {
        c = c.with_errno(errno);
    }
    if let Some(n) = name {
        c = c.with_name(n);
    }
    c
}

/// Plans facts the caller gathered, without ZFS: sets the foreign snapshots apart and plans
/// the owned ones, one dataset at a time, as [`plan`] does after listing. `all` is each
/// snapshot's dataset and facts in listing order (by dataset, then createtxg); every dataset
/// in it gets a plan, even one of no owned snapshot. The result has an empty
/// [`Planned::listing`], the [`Ownership::warning`] if any, and holds no lock.
///
/// ```
/// use flocker_core::name::{DatasetName, SnapshotName};
/// use flocker_core::prune::{self, Options};
/// use flocker_core::retention::{SnapshotFacts, TimeZone};
/// use time::macros::datetime;
///
/// let fs = DatasetName::new("tank/fs")?;
/// let now = datetime!(2026-12-01 12:00 UTC);
/// let o = Options::new(fs.clone(), "min=1".parse().expect("a policy"), TimeZone::UTC, now);
/// let facts = ["dv-20261201T100000Z", "manual", "dv-20261201T110000Z"]
///     .iter()
///     .zip(1u64..)
///     .map(|(short, i)| {
///         let name = SnapshotName::new_parts(&fs, short).expect("a valid name");
///         let at = now - time::Duration::hours(4 - i as i64);
///         (fs.clone(), SnapshotFacts::new(name, i, i, at))
///     });
/// let planned = prune::plan_facts(&o, facts);
/// assert_eq!(planned.doomed()[0].name, "tank/fs@dv-20261201T100000Z");
/// assert_eq!(planned.foreign[0].name(), "tank/fs@manual");
/// # Ok::<(), flocker_core::error::Error>(())
/// ```
pub fn plan_facts(
    o: &Options,
    all: impl IntoIterator<Item = (DatasetName, SnapshotFacts)>,
) -> Planned {
    let mut groups: BTreeMap<DatasetName, Vec<SnapshotFacts>> = BTreeMap::new();
    let mut foreign = Vec::new();
    for (ds, f) in all {
        let owned = groups.entry(ds).or_default();
        if o.ownership.owns_name(f.name().as_str()) {
            owned.push(f);
        } else {
            foreign.push(f);
        }
    }
    let plans = groups
        .into_iter()
        .map(|(ds, f)| {
            let plan = o.policy.plan(&f, o.now, &o.tz);
            (ds, plan)
        })
        .collect();
    Planned {
        listing: Vec::new(),
        plans,
        foreign,
        warnings: o
            .ownership
            .warning(&o.dataset, o.recursive)
            .into_iter()
            .collect(),
        _stashes: Stashes::default(),
    }
}

/// What the stash store protects, and its lock for a real run.
#[derive(Debug, Default)]
struct Stashes {
    names: HashSet<String>,
    guids: HashSet<u64>,
    _lock: Option<rollback::Lock>,
}

/// Reads the stash records. A dry run reads them only if the store exists (it creates nothing)
/// and takes no lock; a real run opens (creates) the store, takes its lock for the whole run
/// and refuses to go on while an interrupted operation on the dataset (or one above or below
/// it) awaits recovery.
fn read_stashes(o: &Options, warnings: &mut Vec<String>) -> Result<Stashes> {
    let mut st = Stashes::default();
    let dir = &o.store;
    if o.dry_run && !dir.exists() {
        return Ok(st);
    }
    let fail = |op: &'static str| move |e: Error| context(e, op, Some(dir.display().to_string()));
    let store = Store::open(dir).map_err(fail(OP_STORE_OPEN))?;
    if !o.dry_run {
        st._lock = Some(store.lock().map_err(fail(OP_STORE_LOCK))?);
    }
    if let Some(msg) =
        awaiting_recovery(&store, o.dataset.as_str()).map_err(fail(OP_STORE_JOURNALS))?
    {
        if !o.dry_run {
            return Err(Error::new(ErrorKind::Busy, OP_RECOVERY)
                .with_name(o.dataset.to_string())
                .with_detail(msg));
        }
        warnings.push(msg);
    }
    let names = rollback::protected_snapshots(&store).map_err(fail(OP_STORE_READ))?;
    st.names.extend(names.into_iter().map(String::from));
    for r in store.records().map_err(fail(OP_STORE_READ))? {
        st.guids.insert(r.target_guid);
        st.guids.extend(r.snapshots.iter().map(|s| s.guid));
    }
    Ok(st)
}

/// The line saying that an interrupted operation on `ds` (or a dataset above or below it)
/// awaits recovery, if one does.
fn awaiting_recovery(store: &Store, ds: &str) -> Result<Option<String>> {
    let journals = store.journals()?;
    Ok(journals
        .into_iter()
        .find(|j| rollback::related(j.plan.dataset.as_str(), ds))
        .map(|j| {
            format!(
                "an interrupted flocker {} of {} awaits recovery (datavault recover)",
                j.op, j.plan.dataset
            )
        }))
}

/// The retention facts of a listed snapshot: its listing row, counted as taken at `time` (else
/// its `creation`), without its holds and clones with `ignore_holds`, stashed when a stash
/// protects it.
fn facts(
    s: &SnapshotInfo,
    time: Option<OffsetDateTime>,
    ignore_holds: bool,
    stashes: &Stashes,
) -> SnapshotFacts {
    let name = s.name.as_str();
    let stashed = rollback::is_stash_dataset(name)
        || stashes.names.contains(name)
        || stashes.guids.contains(&s.guid);
    let mut f = SnapshotFacts::from_info(s, false, stashed);
    if let Some(t) = time {
        f = f.with_creation(t);
    }
    if ignore_holds {
        f.held = false;
        f.has_clones = false;
    }
    f
}

#[cfg(test)]
mod tests;
