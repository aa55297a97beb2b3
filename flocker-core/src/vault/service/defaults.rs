//! DataVault's configuration rules, apart from any file format: what a dataset gets when its
//! entry does not say ([`Defaults`]: the top level of the configuration, which an entry's own
//! values replace), the shared [`Settings`]' bounds, and which entry governs a dataset
//! ([`spec_for`]: its own, else its nearest recursive ancestor's).

use std::path::PathBuf;
use std::time::Duration;

use super::{Settings, Spec};
use crate::error::{Error, ErrorKind, Result};
use crate::name::DatasetName;
use crate::prune::Ownership;
use crate::retention::RetentionPolicy;
use crate::vault::schedule::Schedule;

/// The operation of the [`ErrorKind::InvalidArgument`] error [`Settings::with_batch`]
/// returns; its [`Error::detail`] says what is wrong.
pub const OP_BATCH: &str = "set the destroy batch size";

/// What every configured dataset gets unless its entry says otherwise: the top level of
/// DataVault's configuration. An entry's own value replaces the default (a dataset's `match`
/// is not added to the default one); `recursive` is never inherited.
///
/// ```
/// use flocker_core::name::DatasetName;
/// use flocker_core::vault::schedule::Schedule;
/// use flocker_core::vault::service::Defaults;
///
/// let mut top = Defaults::new();
/// assert_eq!(top.schedule.interval(), Some(std::time::Duration::from_secs(3600)));
/// top.skip_empty = true;
/// let mut spec = top.spec(DatasetName::new("tank/db")?, "24x1h".parse().unwrap());
/// assert!(spec.skip_empty && !spec.recursive);
/// spec.schedule = Schedule::every(std::time::Duration::from_secs(900)); // its own `every`
/// # Ok::<(), flocker_core::error::Error>(())
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Defaults {
    /// When a dataset falls due (default: every hour).
    pub schedule: Schedule,
    /// Whether a slot in which nothing was written takes no snapshot (default: false).
    pub skip_empty: bool,
    /// Which snapshots a policy owns (default: DataVault's own only).
    pub ownership: Ownership,
}

impl Default for Defaults {
    fn default() -> Self {
        Defaults {
            schedule: Schedule::every(Duration::from_secs(3600)),
            skip_empty: false,
            ownership: Ownership::default(),
        }
    }
}

impl Defaults {
    /// Every hour, no `skip_empty`, DataVault's snapshots owned.
    pub fn new() -> Self {
        Self::default()
    }

    /// The spec of dataset `name` kept with `policy` that says nothing else: these defaults,
    /// not recursive.
    pub fn spec(&self, name: DatasetName, policy: RetentionPolicy) -> Spec {
        let mut s = Spec::new(name, self.schedule.clone(), policy);
        s.skip_empty = self.skip_empty;
        s.ownership = self.ownership.clone();
        s
    }
}

impl Settings {
    /// The destroy batch when the configuration gives none.
    pub const DEFAULT_BATCH: usize = 100;
    /// The largest destroy batch accepted.
    pub const MAX_BATCH: usize = 100_000;

    /// With batches of `batch` snapshots per destroy call. Err
    /// ([`ErrorKind::InvalidArgument`], [`OP_BATCH`]): not between 1 and
    /// [`Settings::MAX_BATCH`].
    ///
    /// ```
    /// use flocker_core::retention::TimeZone;
    /// use flocker_core::vault::service::Settings;
    ///
    /// let s = Settings::new(TimeZone::UTC).with_batch(50)?.with_store("/var/lib/dv".into());
    /// assert_eq!(s.batch, 50);
    /// assert!(Settings::new(TimeZone::UTC).with_batch(0).is_err());
    /// # Ok::<(), flocker_core::error::Error>(())
    /// ```
    pub fn with_batch(mut self, batch: i64) -> Result<Settings> {
        match usize::try_from(batch) {
            Ok(n) if (1..=Self::MAX_BATCH).contains(&n) => {
                self.batch = n;
                Ok(self)
            }
            _ => Err(Error::new(ErrorKind::InvalidArgument, OP_BATCH)
                .with_detail(format!("{batch} is not between 1 and {}", Self::MAX_BATCH))),
        }
    }

    /// With the stash store at `dir`.
    pub fn with_store(mut self, dir: PathBuf) -> Settings {
        self.store = dir;
        self
    }
}

/// The position in `specs` of the spec that governs `dataset`: its own, else that of its
/// nearest recursive ancestor.
///
/// ```
/// use flocker_core::name::DatasetName;
/// use flocker_core::vault::service::{Defaults, spec_for};
///
/// let top = Defaults::new();
/// let mut pool = top.spec(DatasetName::new("tank")?, "7x1d".parse().unwrap());
/// pool.recursive = true;
/// let home = top.spec(DatasetName::new("tank/home")?, "24x1h".parse().unwrap());
/// let specs = [pool, home];
/// assert_eq!(spec_for(&specs, "tank/home"), Some(1));
/// assert_eq!(spec_for(&specs, "tank/vm/a"), Some(0));
/// assert_eq!(spec_for(&specs, "other"), None);
/// # Ok::<(), flocker_core::error::Error>(())
/// ```
pub fn spec_for<'a>(specs: impl IntoIterator<Item = &'a Spec>, dataset: &str) -> Option<usize> {
    let mut own = None;
    let mut ancestor: Option<(usize, usize)> = None;
    for (i, s) in specs.into_iter().enumerate() {
        let name = s.name.as_str();
        if name == dataset {
            own = own.or(Some(i));
        } else if s.recursive
            && dataset.len() > name.len()
            && dataset.starts_with(name)
            && dataset.as_bytes()[name.len()] == b'/'
            && ancestor.is_none_or(|(_, len)| name.len() >= len)
        {
            ancestor = Some((i, name.len()));
        }
    }
    own.or(ancestor.map(|(i, _)| i))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retention::TimeZone;

    fn spec(top: &Defaults, name: &str, recursive: bool) -> Spec {
        let mut s = top.spec(DatasetName::new(name).unwrap(), "min=1".parse().unwrap());
        s.recursive = recursive;
        s
    }

    #[test]
    fn a_spec_inherits_the_defaults() {
        let mut top = Defaults::new();
        let s = spec(&top, "p/a", false);
        assert_eq!(s.schedule.interval(), Some(Duration::from_secs(3600)));
        assert!(!s.skip_empty && !s.recursive && s.ownership.regex().is_none());
        top.skip_empty = true;
        top.ownership = Ownership::matching(Some("auto-.*")).unwrap();
        top.schedule = Schedule::every(Duration::from_secs(900));
        let s = spec(&top, "p/a", false);
        assert!(s.skip_empty && s.ownership.regex() == Some("auto-.*"));
        assert_eq!(s.schedule.interval(), Some(Duration::from_secs(900)));
    }

    #[test]
    fn the_own_entry_then_the_nearest_recursive_ancestor() {
        let top = Defaults::new();
        let specs = [
            spec(&top, "p", true),
            spec(&top, "p/b", true),
            spec(&top, "p/a", false),
        ];
        assert_eq!(spec_for(&specs, "p/a"), Some(2));
        assert_eq!(spec_for(&specs, "p/a/c"), Some(0), "p/a is not recursive");
        assert_eq!(spec_for(&specs, "p/b/c/d"), Some(1));
        assert_eq!(spec_for(&specs, "p/bc"), Some(0));
        assert_eq!(spec_for(&specs, "q"), None);
        assert_eq!(spec_for(&specs[2..], "p/a/c"), None);
    }

    #[test]
    fn batch_bounds() {
        let s = Settings::new(TimeZone::UTC);
        assert_eq!(s.batch, Settings::DEFAULT_BATCH);
        for bad in [0, -1, 100_001] {
            let e = s.clone().with_batch(bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidArgument);
            assert_eq!(
                e.detail(),
                Some(format!("{bad} is not between 1 and 100000").as_str())
            );
        }
        assert_eq!(s.with_batch(100_000).unwrap().batch, 100_000);
    }
}
