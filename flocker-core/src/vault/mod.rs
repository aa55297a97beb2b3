//! DataVault: the snapshot service built on this crate (the `datavault` example binary is its
//! command line). What another program needs to take part in DataVault's scheme lives here.
//!
//! - [`scheme`]: DataVault's snapshot names (`dv-YYYYMMDDTHHMMSSZ`) and the times they stand
//!   for; also what a retention policy owns by default ([`crate::prune::Ownership`]).
//! - [`snapshot`]: the datasets a recursive snapshot covers (never a stash), one atomic
//!   snapshot named by the scheme under the stash store's lock, and the facts the schedule
//!   reads.
//! - [`schedule`]: when a dataset falls due (`every` slots, `at` wall-clock times).
//! - [`service`]: the service engine: one cycle of snapshot and prune for each configured
//!   dataset that is due, with failures backed off, the clock and the hooks the caller's.

pub mod schedule;
pub mod scheme;
pub mod service;
pub mod snapshot;
