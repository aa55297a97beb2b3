//! flocker-core: safe ZFS snapshots, retention and non-destructive rollback.
//!
//! The typical flow: take a snapshot, list the dataset's snapshots, plan what a retention
//! policy keeps and destroys, and plan a rollback that keeps in a *stash* everything
//! `zfs rollback -r` would destroy. Every call goes through `libzfs_core`; nothing runs the
//! `zfs` command.
//!
//! ```no_run
//! use flocker_core::prune::{self, Options};
//! use flocker_core::retention::TimeZone;
//! use flocker_core::rollback::{self, Strategy};
//! use flocker_core::{DatasetName, RetentionPolicy, RollbackPlan, Snapshot, SnapshotName};
//!
//! let home = DatasetName::new("tank/home")?;
//!
//! // One atomic snapshot (one `lzc_snapshot` call, however many datasets).
//! let taken: Vec<SnapshotName> =
//!     flocker_core::snapshot::snapshot(&[home.clone()], "before-upgrade", &[])?;
//!
//! // The dataset's snapshots, oldest first.
//! for s in Snapshot::list(&home)? {
//!     println!("{} guid={} created {}", s.name(), s.guid(), s.creation());
//! }
//!
//! // What a retention policy keeps and destroys, and why (nothing is destroyed yet:
//! // `prune::apply` does that).
//! let policy: RetentionPolicy = "24x1h,30x1d,min=3".parse()?;
//! let now = time::OffsetDateTime::now_utc();
//! let planned = prune::plan(&Options::new(home.clone(), policy, TimeZone::UTC, now), |_| {})?;
//! println!("{} snapshot(s) to destroy", planned.doomed().len());
//!
//! // A rollback plan: the steps, the strategy and what it stashes. `rollback::rollback`
//! // carries it out.
//! let plan: RollbackPlan = rollback::plan_rollback(&taken[0], Strategy::Auto)?;
//! println!("{plan}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Errors are one type, [`Error`], with an [`ErrorKind`] to match on, the errno, the
//! operation and the name it concerns.
//!
//! Layers: [`name`] (validated dataset/snapshot/bookmark names, pure), [`retention`] (the
//! thinning policy, pure), [`nvlist`] (safe nvlists over libnvpair), [`lzc`] (a 1:1 safe layer
//! over libzfs_core: the only place raw calls are made), [`error`], and the domain types and
//! workflows: [`snapshot`], [`inventory`] (listing without the CLI), [`prune`], [`rollback`],
//! [`diff`], [`versions`] (every version of a file across snapshots), [`vault`] (the DataVault
//! service's engine).
#![deny(missing_docs)]

pub mod diff;
pub mod error;
pub mod inventory;
pub(crate) mod kernel;
pub mod lzc;
pub mod name;
pub mod nvlist;
pub mod prune;
pub mod retention;
pub mod rollback;
pub mod snapshot;
pub mod vault;
pub mod versions;

pub use error::{Error, ErrorKind, Result};
pub use name::{BookmarkName, DatasetName, PoolName, SnapshotName};
pub use retention::RetentionPolicy;
pub use rollback::RollbackPlan;
pub use snapshot::Snapshot;

/// The README's Rust examples, compiled by `cargo test --doc`.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
