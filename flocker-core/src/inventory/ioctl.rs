//! The listings themselves: the dataset tree and each dataset's snapshots through the
//! kernel's list ioctls ([`crate::kernel::list`]), the property lists read into the
//! inventory's types, and the snapshots of several datasets listed on several threads.
//!
//! Nothing here trusts the kernel's reply: a missing or mistyped value is an
//! [`ErrorKind::InvalidData`](crate::error::ErrorKind::InvalidData) error naming the item,
//! never a panic.

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;

use time::OffsetDateTime;

use super::types::{DatasetInfo, HoldInfo, PropertySource, SnapshotInfo, UserProperty};
use super::{UserProps, bad_data, not_found};
use crate::error::{ErrorKind, Result};
use crate::kernel::list::{self, Buffer, Cursor, DMU_OST_ZVOL, Entry, Mode};
use crate::lzc::{self, DatasetType};
use crate::name::{DatasetName, SnapshotName};
use crate::nvlist::{NvListRef, Value};
use crate::snapshot::Snapshot;

/// Kernel calls made by a listing, shared by its threads.
#[derive(Default)]
pub(super) struct Counters {
    calls: AtomicU64,
}

impl Counters {
    pub(super) fn add(&self, n: u64) {
        self.calls.fetch_add(n, Ordering::Relaxed);
    }

    pub(super) fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }
}

/// What a snapshot listing reads for each snapshot.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Depth {
    /// Names only (`zc_simple`).
    Names,
    /// Every property (one property list per snapshot).
    Full,
}

/// Seconds since the epoch (as the kernel's `uint64`) as a time.
pub(super) fn time(name: &str, secs: u64) -> Result<OffsetDateTime> {
    i64::try_from(secs)
        .ok()
        .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
        .ok_or_else(|| bad_data(name, &format!("time {secs} out of range")))
}

/// The dataset `root` (with its property list) and, down to `max_depth` levels below it (the
/// whole tree for `None`), its descendants, sorted by name. Children that disappear during
/// the walk are left out.
///
/// Errors: [`ErrorKind::NotFound`] when `root` does not exist.
pub(super) fn walk(
    root: &DatasetName,
    max_depth: Option<u32>,
    simple: bool,
    buf: &mut Buffer,
    counters: &Counters,
) -> Result<Vec<Entry>> {
    counters.add(1);
    let top = match list::stats(root.as_str(), buf) {
        Ok(e) => e,
        Err(e) if e.kind() == ErrorKind::NotFound => return Err(not_found(root.as_str())),
        Err(e) => return Err(e),
    };
    let mut out = vec![top];
    let mut stack = vec![(root.as_str().to_string(), 0u32)];
    let mode = Mode { simple, min_txg: 0 };
    while let Some((parent, depth)) = stack.pop() {
        if max_depth.is_some_and(|m| depth >= m) {
            continue;
        }
        let mut c = Cursor::new(&parent);
        loop {
            counters.add(1);
            let e = match list::next_dataset(&mut c, mode, buf) {
                Ok(Some(e)) => e,
                Ok(None) => break,
                // The parent went away since it was listed.
                Err(e) if e.kind() == ErrorKind::NotFound => break,
                Err(e) => return Err(e),
            };
            stack.push((e.name.clone(), depth + 1));
            out.push(e);
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Every snapshot of `dataset` created in or after `min_txg` (0: all), in the kernel's order;
/// none if the dataset has gone.
pub(super) fn snapshots_of(
    dataset: &str,
    depth: Depth,
    min_txg: u64,
    buf: &mut Buffer,
    counters: &Counters,
) -> Result<Vec<Entry>> {
    let mut c = Cursor::new(dataset);
    let mode = Mode {
        simple: depth == Depth::Names,
        min_txg,
    };
    let mut out = Vec::new();
    loop {
        counters.add(1);
        match list::next_snapshot(&mut c, mode, buf) {
            Ok(Some(e)) => out.push(e),
            Ok(None) => return Ok(out),
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(e),
        }
    }
}

/// Runs `f` on every item of `items` on up to `threads` threads and hands the results to
/// `sink` in the order of `items`. The first error, or `sink` returning `Break`, stops the
/// workers (items already started finish).
pub(super) fn map_ordered<I, T>(
    items: &[I],
    threads: usize,
    f: impl Fn(&I, &mut Buffer) -> Result<T> + Sync,
    mut sink: impl FnMut(T) -> ControlFlow<()>,
) -> Result<()>
where
    I: Sync,
    T: Send,
{
    let threads = threads.clamp(1, items.len().max(1));
    if threads == 1 {
        let mut buf = Buffer::new();
        for it in items {
            if sink(f(it, &mut buf)?).is_break() {
                break;
            }
        }
        return Ok(());
    }
    let next = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        let (tx, rx) = mpsc::channel::<(usize, Result<T>)>();
        for _ in 0..threads {
            let tx = tx.clone();
            let (next, stop, f) = (&next, &stop, &f);
            s.spawn(move || {
                let mut buf = Buffer::new();
                while !stop.load(Ordering::Relaxed) {
                    let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                    let Some(it) = items.get(i) else { break };
                    if tx.send((i, f(it, &mut buf))).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let r = reorder(rx, items.len(), &mut sink);
        stop.store(true, Ordering::Relaxed);
        r
    })
}

/// Hands the workers' results to `sink` in index order.
fn reorder<T>(
    rx: mpsc::Receiver<(usize, Result<T>)>,
    n: usize,
    sink: &mut impl FnMut(T) -> ControlFlow<()>,
) -> Result<()> {
    let mut pending = BTreeMap::new();
    let mut want = 0;
    while want < n {
        let Ok((i, r)) = rx.recv() else { break };
        pending.insert(i, r);
        while let Some(r) = pending.remove(&want) {
            want += 1;
            if sink(r?).is_break() {
                return Ok(());
            }
        }
    }
    Ok(())
}

/// The `{value, source}` pair of `prop` in a property list.
fn pair<'a>(props: NvListRef<'a>, prop: &str) -> Option<NvListRef<'a>> {
    match props.get(prop) {
        Some(Value::NvList(p)) => Some(p),
        _ => None,
    }
}

/// The numeric value of `prop`, if the list has it.
fn opt_num(name: &str, props: NvListRef<'_>, prop: &str) -> Result<Option<u64>> {
    let Some(p) = pair(props, prop) else {
        return Ok(None);
    };
    match p.get("value") {
        Some(Value::U64(n)) => Ok(Some(n)),
        Some(Value::I64(n)) => Ok(Some(n as u64)),
        _ => Err(bad_data(name, &format!("{prop} is not a number"))),
    }
}

/// The numeric value of `prop`, which the kernel always reports.
fn num(name: &str, props: NvListRef<'_>, prop: &str) -> Result<u64> {
    opt_num(name, props, prop)?.ok_or_else(|| bad_data(name, &format!("no {prop}")))
}

/// The text value and the source (setpoint) of `prop`, if the list has it.
fn opt_text(name: &str, props: NvListRef<'_>, prop: &str) -> Result<Option<(String, String)>> {
    let Some(p) = pair(props, prop) else {
        return Ok(None);
    };
    let value = match p.get("value") {
        Some(Value::String(s)) => s.to_string_lossy().into_owned(),
        _ => return Err(bad_data(name, &format!("{prop} is not text"))),
    };
    let source = match p.get("source") {
        Some(Value::String(s)) => s.to_string_lossy().into_owned(),
        _ => String::new(),
    };
    Ok(Some((value, source)))
}

/// The user properties (names with a `:`) of an item that `want` asks for.
fn user_properties(
    owner: &str,
    props: NvListRef<'_>,
    want: &UserProps,
) -> Result<BTreeMap<String, UserProperty>> {
    let mut out = BTreeMap::new();
    let wanted = |p: &str| match want {
        UserProps::None => false,
        UserProps::All => true,
        UserProps::Named(names) => names.iter().any(|n| n == p),
    };
    if matches!(want, UserProps::None) {
        return Ok(out);
    }
    for (key, _) in props.iter() {
        let Ok(key) = key.to_str() else { continue };
        if !key.contains(':') || !wanted(key) {
            continue;
        }
        if let Some((value, setpoint)) = opt_text(owner, props, key)? {
            let source = PropertySource::from_setpoint(owner, &setpoint);
            out.insert(key.to_string(), UserProperty { value, source });
        }
    }
    Ok(out)
}

/// The snapshot's `clones`: `{value: {clone name: ...}}`, absent without clones.
fn clones(name: &str, props: NvListRef<'_>) -> Result<Vec<DatasetName>> {
    let mut out = Vec::new();
    let Some(p) = pair(props, "clones") else {
        return Ok(out);
    };
    let Some(Value::NvList(l)) = p.get("value") else {
        return Err(bad_data(name, "clones is not a list"));
    };
    for (c, _) in l.iter() {
        let c = c.to_string_lossy();
        out.push(DatasetName::new(&c).map_err(|e| bad_data(name, &format!("clone {c:?}: {e}")))?);
    }
    out.sort();
    Ok(out)
}

/// The property list of a full listing's item.
fn props_of<'a>(e: &'a Entry) -> Result<NvListRef<'a>> {
    e.props
        .as_ref()
        .map(|p| p.as_ref())
        .ok_or_else(|| bad_data(&e.name, "the kernel returned no property list"))
}

/// A full listing's snapshot as a [`SnapshotInfo`] (holds are added by the caller).
pub(super) fn snapshot_info(e: &Entry, want: &UserProps) -> Result<SnapshotInfo> {
    let name = SnapshotName::new(&e.name)
        .map_err(|err| bad_data(&e.name, &format!("snapshot name: {err}")))?;
    let props = props_of(e)?;
    let n = e.name.as_str();
    Ok(SnapshotInfo {
        guid: num(n, props, "guid")?,
        createtxg: num(n, props, "createtxg")?,
        creation: time(n, num(n, props, "creation")?)?,
        used: num(n, props, "used")?,
        referenced: num(n, props, "referenced")?,
        written: opt_num(n, props, "written")?,
        userrefs: opt_num(n, props, "userrefs")?.unwrap_or(0),
        defer_destroy: opt_num(n, props, "defer_destroy")?.unwrap_or(0) != 0,
        clones: clones(n, props)?,
        user_properties: user_properties(n, props, want)?,
        holds: None,
        name,
    })
}

/// A full listing's snapshot as the crate's [`Snapshot`].
pub(super) fn snapshot_basic(e: &Entry) -> Result<Snapshot> {
    let name = SnapshotName::new(&e.name)
        .map_err(|err| bad_data(&e.name, &format!("snapshot name: {err}")))?;
    let props = props_of(e)?;
    let n = e.name.as_str();
    Ok(Snapshot::from_parts(
        name,
        num(n, props, "guid")?,
        num(n, props, "createtxg")?,
        time(n, num(n, props, "creation")?)?,
    ))
}

/// A listing's snapshot name.
pub(super) fn snapshot_name(e: &Entry) -> Result<SnapshotName> {
    SnapshotName::new(&e.name).map_err(|err| bad_data(&e.name, &format!("snapshot name: {err}")))
}

/// The holds of `snap`, sorted by tag; none if it has gone.
pub(super) fn holds(snap: &SnapshotName) -> Result<Vec<HoldInfo>> {
    match holds_of(snap) {
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(Vec::new()),
        r => r,
    }
}

/// The holds of `snap` (`lzc_get_holds`), sorted by tag.
///
/// Errors: [`ErrorKind::NotFound`] when it does not exist, and those of `lzc_get_holds`.
pub(super) fn holds_of(snap: &SnapshotName) -> Result<Vec<HoldInfo>> {
    Ok(lzc::get_holds(snap)?
        .into_iter()
        .map(|(tag, created)| HoldInfo {
            snapshot: snap.clone(),
            tag,
            created,
        })
        .collect())
}

/// The effective mount point, as the kernel's `dsl_get_mountpoint` and `zfs get` compute it
/// from the stored value, where it is set (`source`: a dataset, `$recvd`, or empty for the
/// default `/`) and the pool's `altroot`.
pub(super) fn mountpoint(name: &str, stored: Option<(String, String)>, altroot: &str) -> String {
    let (value, source) = stored.unwrap_or_else(|| ("/".to_string(), String::new()));
    if !value.starts_with('/') {
        return value; // none, legacy
    }
    let relpath = if source == "$recvd" {
        ""
    } else {
        let rest = name.strip_prefix(source.as_str()).unwrap_or("");
        rest.strip_prefix('/').unwrap_or(rest)
    };
    let root = if altroot == "/" { "" } else { altroot };
    let mnt = if value == "/" && (!root.is_empty() || !relpath.is_empty()) {
        ""
    } else {
        value.as_str()
    };
    if relpath.is_empty() {
        format!("{root}{mnt}")
    } else {
        let sep = if relpath.starts_with('@') { "" } else { "/" };
        format!("{root}{mnt}{sep}{relpath}")
    }
}

/// A full listing's dataset as a [`DatasetInfo`].
pub(super) fn dataset_info(e: &Entry, want: &UserProps, altroot: &str) -> Result<DatasetInfo> {
    let name = DatasetName::new(&e.name)
        .map_err(|err| bad_data(&e.name, &format!("dataset name: {err}")))?;
    let props = props_of(e)?;
    let n = e.name.as_str();
    let kind = if e.kind == DMU_OST_ZVOL {
        DatasetType::Volume
    } else {
        DatasetType::Filesystem
    };
    let origin = match opt_text(n, props, "origin")? {
        Some((o, _)) if !o.is_empty() => Some(
            SnapshotName::new(&o).map_err(|err| bad_data(n, &format!("origin {o:?}: {err}")))?,
        ),
        _ => None,
    };
    let mountpoint = match kind {
        DatasetType::Filesystem => Some(mountpoint(n, opt_text(n, props, "mountpoint")?, altroot)),
        DatasetType::Volume => None,
    };
    Ok(DatasetInfo {
        kind,
        guid: num(n, props, "guid")?,
        createtxg: num(n, props, "createtxg")?,
        creation: time(n, num(n, props, "creation")?)?,
        used: num(n, props, "used")?,
        referenced: num(n, props, "referenced")?,
        available: num(n, props, "available")?,
        written: opt_num(n, props, "written")?,
        origin,
        volsize: match kind {
            DatasetType::Volume => opt_num(n, props, "volsize")?,
            DatasetType::Filesystem => None,
        },
        mountpoint,
        user_properties: user_properties(n, props, want)?,
        name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nvlist::NvList;

    fn pairs(items: &[(&str, Result<u64, &str>, &str)]) -> NvList {
        let mut l = NvList::new().unwrap();
        for (k, v, src) in items {
            let mut p = NvList::new().unwrap();
            match v {
                Ok(n) => p.add_u64("value", *n).unwrap(),
                Err(s) => p.add_string("value", s).unwrap(),
            }
            if !src.is_empty() {
                p.add_string("source", src).unwrap();
            }
            l.add_nvlist(k, &p.as_ref()).unwrap();
        }
        l
    }

    fn entry(name: &str, props: NvList) -> Entry {
        Entry {
            name: name.into(),
            guid: 0,
            kind: 2,
            props: Some(props),
        }
    }

    #[test]
    fn snapshot_property_lists_are_read() {
        let mut l = pairs(&[
            ("guid", Ok(u64::MAX), ""),
            ("createtxg", Ok(7), ""),
            ("creation", Ok(1_700_000_000), ""),
            ("used", Ok(10), ""),
            ("referenced", Ok(20), ""),
            ("written", Ok(30), ""),
            ("userrefs", Ok(2), ""),
            ("defer_destroy", Ok(1), ""),
            ("com.example:tag", Err("red"), "tank/a@s"),
            ("com.example:inh", Err("x"), "tank"),
        ]);
        let mut clones = NvList::new().unwrap();
        clones.add_boolean("tank/c2").unwrap();
        clones.add_boolean("tank/c1").unwrap();
        let mut v = NvList::new().unwrap();
        v.add_nvlist("value", &clones.as_ref()).unwrap();
        l.add_nvlist("clones", &v.as_ref()).unwrap();
        let e = entry("tank/a@s", l);
        let s = snapshot_info(&e, &UserProps::All).unwrap();
        assert_eq!(s.guid, u64::MAX);
        assert_eq!((s.createtxg, s.used, s.referenced), (7, 10, 20));
        assert_eq!(
            (s.written, s.userrefs, s.defer_destroy),
            (Some(30), 2, true)
        );
        assert_eq!(s.creation.unix_timestamp(), 1_700_000_000);
        let c: Vec<&str> = s.clones.iter().map(|c| c.as_str()).collect();
        assert_eq!(c, ["tank/c1", "tank/c2"]);
        assert_eq!(
            s.user_properties["com.example:tag"].source,
            PropertySource::Local
        );
        assert_eq!(
            s.user_properties["com.example:inh"].source,
            PropertySource::Inherited("tank".into())
        );
        let named = UserProps::named(["com.example:inh"]).unwrap();
        let s = snapshot_info(&e, &named).unwrap();
        assert_eq!(s.user_properties.len(), 1);
        let s = snapshot_info(&e, &UserProps::None).unwrap();
        assert!(s.user_properties.is_empty() && s.holds.is_none());
        let b = snapshot_basic(&e).unwrap();
        assert_eq!((b.guid(), b.createtxg()), (u64::MAX, 7));
    }

    #[test]
    fn bad_property_lists_are_errors_not_panics() {
        let missing = entry("tank/a@s", pairs(&[("guid", Ok(1), "")]));
        let e = snapshot_info(&missing, &UserProps::None).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidData);
        let wrong = entry("tank/a@s", pairs(&[("guid", Err("x"), "")]));
        assert_eq!(
            snapshot_basic(&wrong).unwrap_err().kind(),
            ErrorKind::InvalidData
        );
        let mut none = entry("tank/a@s", NvList::new().unwrap());
        none.props = None;
        assert_eq!(
            snapshot_basic(&none).unwrap_err().kind(),
            ErrorKind::InvalidData
        );
        let bad_name = entry("tank/a", pairs(&[]));
        assert_eq!(
            snapshot_name(&bad_name).unwrap_err().kind(),
            ErrorKind::InvalidData
        );
    }

    #[test]
    fn mountpoints_are_computed_like_the_kernel() {
        let mp = |name, v: Option<(&str, &str)>, alt| {
            mountpoint(name, v.map(|(a, b)| (a.to_string(), b.to_string())), alt)
        };
        assert_eq!(mp("tank/a/b", None, ""), "/tank/a/b");
        assert_eq!(mp("tank", None, ""), "/tank");
        assert_eq!(mp("tank/a", Some(("/srv", "tank/a")), ""), "/srv");
        assert_eq!(mp("tank/a/b", Some(("/srv", "tank/a")), ""), "/srv/b");
        assert_eq!(mp("tank/a/b", Some(("/", "tank/a")), ""), "/b");
        assert_eq!(mp("tank/a", Some(("/", "tank/a")), ""), "/");
        assert_eq!(mp("tank/a", Some(("legacy", "tank")), ""), "legacy");
        assert_eq!(mp("tank/a", Some(("none", "tank/a")), ""), "none");
        assert_eq!(mp("tank/a", Some(("/r", "$recvd")), ""), "/r");
        assert_eq!(mp("tank/a", None, "/mnt"), "/mnt/tank/a");
        assert_eq!(mp("tank/a", Some(("/", "tank/a")), "/mnt"), "/mnt");
        assert_eq!(mp("tank/a", None, "/"), "/tank/a");
    }

    #[test]
    fn results_come_back_in_order_on_many_threads() {
        let items: Vec<u32> = (0..200).collect();
        for threads in [1, 2, 7] {
            let mut got = Vec::new();
            map_ordered(
                &items,
                threads,
                |i, _| Ok(i * 2),
                |v| {
                    got.push(v);
                    ControlFlow::Continue(())
                },
            )
            .unwrap();
            assert_eq!(got, items.iter().map(|i| i * 2).collect::<Vec<_>>());
            let mut n = 0;
            map_ordered(
                &items,
                threads,
                |i, _| Ok(*i),
                |_| {
                    n += 1;
                    if n == 5 {
                        ControlFlow::Break(())
                    } else {
                        ControlFlow::Continue(())
                    }
                },
            )
            .unwrap();
            assert_eq!(n, 5);
            let e = map_ordered(
                &items,
                threads,
                |i, _| {
                    if *i == 50 {
                        Err(bad_data("x", "boom"))
                    } else {
                        Ok(*i)
                    }
                },
                |_| ControlFlow::Continue(()),
            )
            .unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidData);
        }
    }
}
