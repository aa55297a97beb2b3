//! `datavault prune DATASET [--dry-run] [--json] [-r] [--config FILE] [--keep POLICY]
//! [--match REGEX] [--tz ZONE] [--batch N]`: apply the retention policy now, with the `prune`
//! tool's core (`flocker_examples::prune`): the same plan, output, batches, skips and stash
//! protection. Snapshots named by the service's scheme are planned with the time in their
//! name. The policy owns DataVault's snapshots and those its `match` (`--match`, else the
//! config's) matches in full; the others are foreign (kept), as in `datavault run`.

use flocker_core::name::DatasetName;
use flocker_examples::prune::{self as core, Options};
use flocker_examples::scheme;

use crate::args::PruneArgs;
use crate::common::{Failure, parse_now, parse_policy, parse_tz, store_dir};
use crate::config;
use crate::snapshot::expand;

/// `datavault prune ...`
pub fn prune(a: &PruneArgs) -> Result<(), Failure> {
    let o = &a.policy;
    let target = &a.dataset;
    let ds = DatasetName::new(target)
        .map_err(|e| Failure::Invalid(format!("bad dataset name {target:?}: {e}")))?;
    let cfg = o.config.as_deref().map(config::load).transpose()?;
    let entry = cfg.as_ref().and_then(|c| c.for_dataset(ds.as_str()));
    let policy = match (o.keep.as_deref(), entry) {
        (Some(k), _) => parse_policy(k).map_err(Failure::Invalid)?,
        (None, Some(e)) => e.policy.clone(),
        (None, None) => {
            return Err(Failure::Invalid(match &cfg {
                Some(c) => format!("{ds} has no entry in {} (and no --keep)", c.path),
                None => {
                    format!("no retention policy for {ds}: give --keep POLICY or --config FILE")
                }
            }));
        }
    };
    let (tz, tz_name) = match (o.tz.as_deref(), &cfg) {
        (Some(z), _) => parse_tz(Some(z)).map_err(Failure::Invalid)?,
        (None, Some(c)) => (c.tz.clone(), c.tz_name.clone()),
        (None, None) => parse_tz(None).map_err(Failure::Invalid)?,
    };
    let batch = match a.batch.as_deref() {
        Some(b) => match b.parse::<usize>() {
            Ok(n) if (1..=100_000).contains(&n) => n,
            _ => return Err(Failure::Invalid(format!("bad --batch {b:?}: 1 to 100000"))),
        },
        None => cfg.as_ref().map_or(100, |c| c.batch),
    };
    let ownership = config::ownership(o.matching.as_deref(), cfg.as_ref(), entry)?;
    let now = parse_now(o.now.as_deref())?;
    expand(std::slice::from_ref(&ds), false)?;

    let mut po = Options::new("datavault", ds, policy, tz, tz_name, now);
    po.dry_run = a.dry_run;
    po.json = a.json;
    po.verbose = a.verbose;
    po.recursive = a.recursive || entry.is_some_and(|e| e.recursive);
    po.batch = batch;
    po.store = store_dir(cfg.as_ref().and_then(|c| c.store.as_deref()));
    po.snapshot_time = Some(scheme::info_time);
    po.ownership = ownership;
    match core::run_cli(&po) {
        Ok(true) => Ok(()),
        Ok(false) => Err(Failure::Failed(String::new())), // the core printed why
        Err(core::Failure::Usage(m)) => Err(Failure::Invalid(m)),
        Err(core::Failure::Other(m)) => Err(Failure::Failed(m)),
    }
}
