//! DataVault: the snapshot service built on this crate (the `datavault` example binary is its
//! command line). What another program needs to take part in DataVault's scheme lives here.
//!
//! - [`scheme`]: DataVault's snapshot names (`dv-YYYYMMDDTHHMMSSZ`) and the times they stand
//!   for; also what a retention policy owns by default ([`crate::prune::Ownership`]).
//! - [`snapshot`]: the datasets a recursive snapshot covers (never a stash), one atomic
//!   snapshot named by the scheme under the stash store's lock (also across pools), the
//!   `--pre`/`--post` pair of snapshots around a change, and the facts the schedule reads.
//! - [`schedule`]: when a dataset falls due (`every` slots, `at` wall-clock times).
//! - [`service`]: the service engine: one cycle of snapshot and prune for each configured
//!   dataset that is due, with failures backed off, the clock and the hooks the caller's.
//! - [`hooks`]: the `pre_snapshot` / `post_snapshot` commands a host runs around a snapshot
//!   ([`hooks::Around`]), with their timeout, process group and environment.
//! - [`parse_policy`]: a retention policy as DataVault accepts it.

pub mod hooks;
pub mod schedule;
pub mod scheme;
pub mod service;
pub mod snapshot;

use crate::error::{Error, ErrorKind, Result};
use crate::retention::RetentionPolicy;

/// The operation of the [`ErrorKind::InvalidArgument`] error of [`parse_policy`] for text that
/// is not a retention policy; the detail is the [`crate::retention::ParseError`]'s message.
pub const OP_PARSE_POLICY: &str = "parse the retention policy";
/// The operation of the [`ErrorKind::InvalidArgument`] error of [`parse_policy`] for a policy
/// DataVault refuses (`space=0`); the detail says why.
pub const OP_CHECK_POLICY: &str = "check the retention policy";

/// Parses a retention policy as DataVault accepts it (a `keep` of its config, `--policy`):
/// [`RetentionPolicy`]'s syntax, refusing a policy that would keep nothing beyond the safety
/// rules (`space=0`). Other users of [`RetentionPolicy`] (the `prune` example) accept it.
///
/// Err: [`ErrorKind::InvalidArgument`] from [`OP_PARSE_POLICY`] (not a policy) or
/// [`OP_CHECK_POLICY`] (refused); the detail says why.
///
/// ```
/// use flocker_core::vault;
///
/// let p = vault::parse_policy("24x1h,7x1d,min=3")?;
/// assert_eq!(p.space_budget(), None);
/// let e = vault::parse_policy("min=2,space=0").unwrap_err();
/// assert_eq!(e.operation(), vault::OP_CHECK_POLICY);
/// # Ok::<(), flocker_core::error::Error>(())
/// ```
pub fn parse_policy(text: &str) -> Result<RetentionPolicy> {
    let p: RetentionPolicy = text.parse().map_err(|e: crate::retention::ParseError| {
        Error::new(ErrorKind::InvalidArgument, OP_PARSE_POLICY).with_detail(e.to_string())
    })?;
    if p.space_budget() == Some(0) {
        return Err(
            Error::new(ErrorKind::InvalidArgument, OP_CHECK_POLICY).with_detail(
                "would keep nothing (space=0 destroys every snapshot that is not protected, not among the min= newest and not free)",
            ),
        );
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_space_zero_is_refused_here_only() {
        let e = parse_policy("min=2,space=0").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
        assert_eq!(e.operation(), OP_CHECK_POLICY);
        assert!(
            e.detail()
                .unwrap_or_default()
                .starts_with("would keep nothing (space=0")
        );
        // RetentionPolicy itself (what `prune` parses) accepts it.
        let p: RetentionPolicy = "min=2,space=0".parse().unwrap();
        assert_eq!(p.space_budget(), Some(0));
        let e = parse_policy("7x1q").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
        assert_eq!(e.operation(), OP_PARSE_POLICY);
        let pe = "7x1q".parse::<RetentionPolicy>().unwrap_err();
        assert_eq!(e.detail(), Some(pe.to_string().as_str()));
        assert!(parse_policy("min=1,space=10G").is_ok());
    }
}
