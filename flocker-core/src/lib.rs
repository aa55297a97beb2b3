//! flocker-core: safe ZFS snapshots, retention and non-destructive rollback.
//!
//! Layers: [`name`] (validated dataset/snapshot/bookmark names, pure), [`retention`] (the
//! thinning policy, pure), [`nvlist`] (safe nvlists over libnvpair), [`lzc`] (a 1:1 safe layer
//! over libzfs_core: the only place raw calls are made), [`error`], and the domain types.
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

pub use rollback::RollbackPlan;
