//! The incremental listing: what an [`Inventory`](super::Inventory) made with
//! [`incremental`](super::Inventory::incremental) keeps between listings, and how it finds
//! what changed in the pool's history.
//!
//! Every change to a dataset or snapshot writes an internal event to the pool's history, in
//! the same transaction group as the change (`spa_history_log_internal_ds`): `snapshot`,
//! `destroy`, `defer_destroy`, `hold`, `release`, `clone` (with its origin), `promote`,
//! `rename`, `set`/`inherit` (with the property), `create`, `receive`, `clone swap`
//! (rollback, receive), `bookmark`. The history is read *before* the items are re-listed, so
//! a change that the re-listing misses is recorded after the offset kept for the next
//! listing, and is seen then.
//!
//! What a listing re-reads, dataset by dataset:
//! - a dataset named by an event it cannot apply precisely (`create`, `receive`, `clone
//!   swap`, an unknown event, a user property set on a filesystem when user properties are
//!   read): all its snapshots;
//! - a new snapshot: that snapshot, and the one that was newest before it;
//! - a destroyed snapshot: removed, and its two neighbours re-read (their `used` changes);
//! - a hold, release, deferred destroy or property change of a snapshot: that snapshot;
//! - a clone: its origin snapshot (`clones`);
//! - always: the newest snapshot of every dataset (its `used` grows as the live dataset
//!   overwrites what it shares with it).
//!
//! Everything else is served from memory: `guid`, `createtxg`, `creation`, `referenced` and
//! `written` of a snapshot never change, and `used` of a snapshot other than the newest
//! changes only when a neighbour is destroyed.
//!
//! A full listing is made instead on the first call, for another query, after a `rename`,
//! a `promote` or the destroy of a filesystem anywhere in the pool (clones and promotions
//! move snapshots between datasets), when the history cannot be read (not permitted, a pool
//! without history), when records were lost (the history is a ring: the offset kept was
//! overwritten), when the pool is another one (its root's GUID changed), and when the
//! module does not log snapshots (2.4's `zfs_snapshot_history_enabled=0`).

use std::collections::{BTreeMap, BTreeSet};

use super::ioctl::{self, Counters, Depth};
use super::types::SnapshotInfo;
use super::{Inventory, SnapshotQuery, UserProps};
use crate::error::{ErrorKind, Result};
use crate::kernel::list::{self as klist, Buffer};
use crate::name::SnapshotName;
use crate::nvlist::NvList;

/// Bytes of history read per call.
const HISTORY_CHUNK: usize = 1 << 20;

/// The module parameter that turns the `snapshot` history event off (2.4).
const SNAPSHOT_HISTORY_TUNABLE: &str = "/sys/module/zfs/parameters/zfs_snapshot_history_enabled";

/// What the last listing did (see [`Inventory::last_refresh`](super::Inventory::last_refresh)).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Refresh {
    /// Everything was listed again; `reason` says why.
    pub full: bool,
    /// Why the listing was full (`None` when it was incremental).
    pub reason: Option<String>,
    /// History events read since the previous listing.
    pub events: usize,
    /// Datasets whose snapshots were all listed again.
    pub datasets_relisted: usize,
    /// Snapshots read again one by one (new ones, changed ones, the newest of each dataset).
    pub snapshots_reread: usize,
    /// Kernel calls made (list and stats ioctls, history reads).
    pub calls: u64,
}

/// The kept listings, one per query (the most recently used last).
#[derive(Default)]
pub(super) struct Cache {
    kept: Vec<Kept>,
    /// What the last listing did.
    pub(super) last: Refresh,
}

/// Queries kept at most; the least recently used is forgotten first.
const MAX_KEPT: usize = 32;

/// One kept listing.
struct Kept {
    /// The query it answers.
    query: SnapshotQuery,
    /// GUID of the pool's root dataset when it was made.
    pool_guid: u64,
    /// The history offset up to which events are reflected.
    offset: u64,
    /// Each dataset's snapshots, by short name.
    datasets: BTreeMap<String, BTreeMap<String, SnapshotInfo>>,
}

impl Cache {
    /// The snapshots of `query`, listed incrementally when a kept listing allows it.
    pub(super) fn snapshots(
        &mut self,
        inv: &mut Inventory<'_>,
        query: &SnapshotQuery,
    ) -> Result<Vec<SnapshotInfo>> {
        let mut kept = match self.kept.iter().position(|k| &k.query == query) {
            Some(i) => self.kept.remove(i),
            None => Kept {
                query: query.clone(),
                pool_guid: 0,
                offset: 0,
                datasets: BTreeMap::new(),
            },
        };
        let (r, refresh) = kept.snapshots(inv);
        self.last = refresh;
        if r.is_ok() {
            if self.kept.len() >= MAX_KEPT {
                self.kept.remove(0);
            }
            self.kept.push(kept);
        }
        r
    }
}

/// What the events since the last listing ask to re-read.
#[derive(Default, Debug, PartialEq, Eq)]
struct Changes {
    /// Why everything must be listed again, if it must.
    full: Option<String>,
    /// Datasets to list again whole.
    relist: BTreeSet<String>,
    /// Snapshots to read again (or for the first time), by full name.
    reread: BTreeSet<String>,
    /// Snapshots destroyed, by full name.
    destroyed: BTreeSet<String>,
    /// Events read.
    events: usize,
}

/// One internal event of the history.
struct Event {
    op: String,
    dsname: String,
    detail: String,
}

impl Kept {
    /// Its snapshots, listed incrementally when possible, and what the listing did.
    fn snapshots(&mut self, inv: &mut Inventory<'_>) -> (Result<Vec<SnapshotInfo>>, Refresh) {
        let mut refresh = Refresh::default();
        let r = self.list(inv, &mut refresh);
        if r.is_err() {
            // Whatever was applied is incomplete: the next listing starts again.
            self.pool_guid = 0;
            self.datasets.clear();
        }
        (r, refresh)
    }

    fn list(
        &mut self,
        inv: &mut Inventory<'_>,
        refresh: &mut Refresh,
    ) -> Result<Vec<SnapshotInfo>> {
        let query = &self.query.clone();
        let counters = Counters::default();
        let mut buf = Buffer::new();
        let pool = query.root.pool();
        counters.add(1);
        let pool_guid = klist::stats(pool.as_str(), &mut buf)?.guid;
        let (changes, end) = self.changes(query, pool.as_str(), pool_guid, &counters)?;
        refresh.events = changes.events;
        if let Some(reason) = changes.full {
            let (list, datasets) = inv.list_snapshot_infos(query)?;
            self.fill(pool_guid, end, &list, datasets);
            refresh.full = true;
            refresh.reason = Some(reason);
            refresh.datasets_relisted = self.datasets.len();
            refresh.calls = counters.calls() + inv.last_calls;
            return Ok(list);
        }
        self.apply(query, &changes, refresh, &counters, &mut buf)?;
        self.offset = end;
        refresh.calls = counters.calls();
        Ok(self.flatten())
    }

    /// The changes since the kept listing and the history's end offset; `full` set when the
    /// kept listing cannot be used.
    fn changes(
        &self,
        query: &SnapshotQuery,
        pool: &str,
        pool_guid: u64,
        counters: &Counters,
    ) -> Result<(Changes, u64)> {
        let start = (self.pool_guid != 0 && self.pool_guid == pool_guid).then_some(self.offset);
        let mut changes = Changes::default();
        let (events, end) = match read_history(pool, start.unwrap_or(0), start.is_some(), counters)
        {
            Ok(r) => r,
            Err(why) => {
                // Listed in full; what counts next time is the history's present end.
                let end = match start {
                    Some(_) => read_history(pool, 0, false, counters).map_or(0, |(_, e)| e),
                    None => 0,
                };
                changes.full = Some(why);
                return Ok((changes, end));
            }
        };
        if start.is_none() {
            changes.full = Some(if self.pool_guid == 0 {
                "first listing".into()
            } else {
                "another pool".into()
            });
            return Ok((changes, end));
        }
        if snapshot_history_disabled() {
            changes.full = Some("zfs_snapshot_history_enabled is 0".into());
            return Ok((changes, end));
        }
        changes.events = events.len();
        for ev in &events {
            classify(ev, query, &mut changes);
        }
        Ok((changes, end))
    }

    /// Keeps a full listing of `datasets` (the walked ones: those without snapshots are kept
    /// too, so that later events and refreshes know them).
    fn fill(&mut self, pool_guid: u64, end: u64, list: &[SnapshotInfo], datasets: Vec<String>) {
        self.pool_guid = pool_guid;
        self.offset = end;
        self.datasets.clear();
        for ds in datasets {
            self.datasets.entry(ds).or_default();
        }
        for s in list {
            self.datasets
                .entry(s.name.dataset_str().to_string())
                .or_default()
                .insert(s.name.short_name().to_string(), s.clone());
        }
    }

    /// Applies `changes` to the kept listing and re-reads the newest snapshot of each dataset.
    fn apply(
        &mut self,
        query: &SnapshotQuery,
        changes: &Changes,
        refresh: &mut Refresh,
        counters: &Counters,
        buf: &mut Buffer,
    ) -> Result<()> {
        let mut reread = changes.reread.clone();
        for name in &changes.destroyed {
            let Some((ds, short)) = name.split_once('@') else {
                continue;
            };
            if let Some(snaps) = self.datasets.get_mut(ds) {
                let (prev, next) = neighbours(snaps, short);
                snaps.remove(short);
                reread.extend(prev.into_iter().chain(next).map(|s| format!("{ds}@{s}")));
            }
        }
        for ds in &changes.relist {
            if !in_scope(query, ds) {
                continue;
            }
            let entries = ioctl::snapshots_of(ds, Depth::Full, 0, buf, counters)?;
            let mut snaps = BTreeMap::new();
            for e in &entries {
                let s = full_info(e, query)?;
                snaps.insert(s.name.short_name().to_string(), s);
            }
            if entries.is_empty() && !dataset_exists(ds, buf) {
                self.datasets.remove(ds);
            } else {
                self.datasets.insert(ds.clone(), snaps);
            }
            refresh.datasets_relisted += 1;
        }
        // The newest snapshot of every dataset, and (for a new snapshot) the one before it.
        for (ds, snaps) in &self.datasets {
            if changes.relist.contains(ds) {
                continue;
            }
            if let Some(newest) = newest(snaps) {
                reread.insert(format!("{ds}@{newest}"));
            }
        }
        for name in &reread {
            let Some((ds, short)) = name.split_once('@') else {
                continue;
            };
            if changes.relist.contains(ds) || !in_scope(query, ds) {
                continue;
            }
            counters.add(1);
            refresh.snapshots_reread += 1;
            match klist::stats(name, buf) {
                Ok(e) => {
                    let s = full_info(&e, query)?;
                    self.datasets
                        .entry(ds.to_string())
                        .or_default()
                        .insert(short.to_string(), s);
                }
                Err(e) if e.kind() == ErrorKind::NotFound => {
                    if let Some(snaps) = self.datasets.get_mut(ds) {
                        snaps.remove(short);
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// The kept listing, in (dataset, name) order.
    fn flatten(&self) -> Vec<SnapshotInfo> {
        self.datasets
            .values()
            .flat_map(|m| m.values().cloned())
            .collect()
    }
}

/// A snapshot read by name or in a relisting, with what the query asks for.
fn full_info(e: &klist::Entry, query: &SnapshotQuery) -> Result<SnapshotInfo> {
    let mut s = ioctl::snapshot_info(e, &query.user_props)?;
    if query.holds {
        s.holds = Some(ioctl::holds(&s.name)?);
    }
    Ok(s)
}

/// The newest snapshot (highest `createtxg`) of a dataset.
fn newest(snaps: &BTreeMap<String, SnapshotInfo>) -> Option<&str> {
    snaps
        .iter()
        .max_by_key(|(_, s)| s.createtxg)
        .map(|(k, _)| k.as_str())
}

/// The snapshots just before and after `short` in `createtxg` order.
fn neighbours(
    snaps: &BTreeMap<String, SnapshotInfo>,
    short: &str,
) -> (Option<String>, Option<String>) {
    let Some(txg) = snaps.get(short).map(|s| s.createtxg) else {
        return (None, None);
    };
    let prev = snaps
        .iter()
        .filter(|(_, s)| s.createtxg < txg)
        .max_by_key(|(_, s)| s.createtxg)
        .map(|(k, _)| k.clone());
    let next = snaps
        .iter()
        .filter(|(_, s)| s.createtxg > txg)
        .min_by_key(|(_, s)| s.createtxg)
        .map(|(k, _)| k.clone());
    (prev, next)
}

/// Whether `ds` is listed by `query` (the root or a descendant within its depth).
fn in_scope(query: &SnapshotQuery, ds: &str) -> bool {
    let root = query.root.as_str();
    let rest = if ds == root {
        ""
    } else if let Some(r) = ds.strip_prefix(root).and_then(|r| r.strip_prefix('/')) {
        r
    } else {
        return false;
    };
    let depth = if rest.is_empty() {
        0
    } else {
        rest.split('/').count() as u32
    };
    query.max_depth.is_none_or(|m| depth <= m)
}

fn dataset_exists(ds: &str, buf: &mut Buffer) -> bool {
    klist::stats(ds, buf).is_ok()
}

/// Whether the module says it does not log snapshots (the parameter exists from 2.4 on).
fn snapshot_history_disabled() -> bool {
    std::fs::read_to_string(SNAPSHOT_HISTORY_TUNABLE).is_ok_and(|v| v.trim() == "0")
}

/// The visible dataset a hidden one (`fs/%recv`, `fs/%rollback`) belongs to.
fn visible(ds: &str) -> &str {
    match ds.find("/%") {
        Some(i) => &ds[..i],
        None => ds,
    }
}

/// Records what one event asks to re-read.
fn classify(ev: &Event, query: &SnapshotQuery, c: &mut Changes) {
    let (ds, snap) = match ev.dsname.split_once('@') {
        Some((d, s)) => (visible(d), Some(s)),
        None => (visible(&ev.dsname), None),
    };
    let hidden = ds.len() != ev.dsname.split('@').next().map_or(0, str::len);
    match (ev.op.as_str(), snap) {
        ("rename" | "promote", _) => c.full = Some(format!("{} of {}", ev.op, ev.dsname)),
        ("destroy" | "destroy begin", None) if !hidden => {
            c.full = Some(format!("destroy of {}", ev.dsname));
        }
        ("snapshot", Some(_)) => {
            c.reread.insert(ev.dsname.clone());
            c.destroyed.remove(&ev.dsname);
        }
        ("destroy", Some(_)) => {
            c.destroyed.insert(ev.dsname.clone());
            c.reread.remove(&ev.dsname);
        }
        ("hold" | "release" | "defer_destroy" | "set" | "inherit", Some(_)) => {
            c.reread.insert(ev.dsname.clone());
        }
        ("set" | "inherit", None) => {
            let prop = ev.detail.split('=').next().unwrap_or("");
            if prop.contains(':') && query.user_props != UserProps::None {
                // Inherited by every snapshot below it: list everything again.
                c.full
                    .get_or_insert_with(|| format!("user property set on {ds}"));
            }
        }
        ("clone", None) => {
            if let Some(origin) = origin_of(&ev.detail) {
                c.reread.insert(origin);
            }
            c.relist.insert(ds.to_string());
        }
        ("bookmark" | "remove bookmark", _) => {}
        (_, Some(_)) => {
            c.reread.insert(ev.dsname.clone());
        }
        (_, None) => {
            c.relist.insert(ds.to_string());
        }
    }
}

/// The origin named in a `clone` event's detail (`origin=pool/fs@snap (123)`).
fn origin_of(detail: &str) -> Option<String> {
    let rest = detail.strip_prefix("origin=")?;
    let name = rest.rsplit_once(" (").map_or(rest, |(n, _)| n);
    SnapshotName::new(name).ok().map(|n| n.as_str().to_string())
}

/// The internal events of the history from `offset` to its end, and the end offset. With
/// `parse` false the records are skipped, not decoded, and records the ring has overwritten
/// do not matter (a full listing only needs the end). An `Err` is the reason the history
/// cannot be used.
fn read_history(
    pool: &str,
    mut offset: u64,
    parse: bool,
    counters: &Counters,
) -> std::result::Result<(Vec<Event>, u64), String> {
    let mut buf = vec![0u8; HISTORY_CHUNK];
    let mut events = Vec::new();
    loop {
        counters.add(1);
        let (read, next) =
            klist::history(pool, offset, &mut buf).map_err(|e| format!("pool history: {e}"))?;
        if read == 0 {
            return Ok((events, offset));
        }
        let start = next - read as u64;
        if start != offset {
            // The ring overwrote the records from `offset` on: the kernel read from the oldest
            // one it keeps. Fine when only the end is wanted; events would be missing.
            if parse {
                return Err("pool history: records were overwritten since the last listing".into());
            }
            offset = start;
        }
        let used = records(&buf[..read], parse.then_some(&mut events))?;
        if used == 0 {
            if read == buf.len() {
                // One record larger than the buffer.
                buf = vec![0u8; buf.len() * 4];
                continue;
            }
            return Err("pool history: a truncated record".into());
        }
        offset += used as u64;
    }
}

/// Decodes the whole records at the start of `b` (each a little-endian length and a packed
/// nvlist), adding the internal dataset events to `events`; returns the bytes used.
fn records(b: &[u8], mut events: Option<&mut Vec<Event>>) -> std::result::Result<usize, String> {
    let mut at = 0;
    while b.len() - at >= 8 {
        let mut len = [0u8; 8];
        len.copy_from_slice(&b[at..at + 8]);
        let len = u64::from_le_bytes(len) as usize;
        if b.len() - at - 8 < len {
            break;
        }
        if let Some(events) = events.as_deref_mut() {
            let rec = &b[at + 8..at + 8 + len];
            let nvl = NvList::unpack(rec).map_err(|e| format!("pool history: {e}"))?;
            if let Some(ev) = event(&nvl) {
                events.push(ev);
            }
        }
        at += 8 + len;
    }
    Ok(at)
}

/// The internal dataset event of a record, if it is one.
fn event(nvl: &NvList) -> Option<Event> {
    let l = nvl.as_ref();
    let op = l.get_str("internal_name").ok()?;
    let dsname = l.get_str("dsname").ok()?;
    let detail = l.get_str("history internal str").unwrap_or("");
    Some(Event {
        op: op.to_string(),
        dsname: dsname.to_string(),
        detail: detail.trim().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::name::DatasetName;

    fn ev(op: &str, ds: &str, detail: &str) -> Event {
        Event {
            op: op.into(),
            dsname: ds.into(),
            detail: detail.into(),
        }
    }

    fn classify_all(evs: &[Event], query: &SnapshotQuery) -> Changes {
        let mut c = Changes::default();
        for e in evs {
            classify(e, query, &mut c);
        }
        c
    }

    #[test]
    fn events_map_to_rereads() {
        let q = SnapshotQuery::new(&DatasetName::new("tank/a").unwrap()).recursive();
        let c = classify_all(
            &[
                ev("snapshot", "tank/a@s1", ""),
                ev("hold", "tank/a@s0", "tag=x temp=0 refs=1"),
                ev("destroy", "tank/a@old", ""),
                ev("clone", "tank/c", "origin=tank/a@s0 (77)"),
                ev("set", "tank/a", "compression=lz4"),
                ev("receive", "tank/a/b/%recv", ""),
                ev("destroy", "tank/a/%rollback", "(synchronous, mintxg=3)"),
                ev("bookmark", "tank/a", "name=b1"),
            ],
            &q,
        );
        assert_eq!(c.full, None);
        let reread: Vec<&str> = c.reread.iter().map(String::as_str).collect();
        assert_eq!(reread, ["tank/a@s0", "tank/a@s1"]);
        let destroyed: Vec<&str> = c.destroyed.iter().map(String::as_str).collect();
        assert_eq!(destroyed, ["tank/a@old"]);
        let relist: Vec<&str> = c.relist.iter().map(String::as_str).collect();
        assert_eq!(relist, ["tank/a", "tank/a/b", "tank/c"]);
        // Created then destroyed between two listings: only the destroy counts.
        let c = classify_all(
            &[
                ev("snapshot", "tank/a@t", ""),
                ev("destroy", "tank/a@t", ""),
            ],
            &q,
        );
        assert!(c.reread.is_empty() && c.destroyed.len() == 1);
    }

    #[test]
    fn moves_and_filesystem_destroys_force_a_full_listing() {
        let q = SnapshotQuery::new(&DatasetName::new("tank/a").unwrap());
        for e in [
            ev("rename", "tank/a@s", "-> @t"),
            ev("rename", "tank/x", "-> tank/y"),
            ev("promote", "tank/c", ""),
            ev("destroy", "tank/elsewhere", ""),
        ] {
            assert!(classify_all(&[e], &q).full.is_some());
        }
        let with_props = q.clone().user_properties(UserProps::All);
        assert!(
            classify_all(&[ev("set", "tank", "com.example:x=1")], &with_props)
                .full
                .is_some()
        );
        assert!(
            classify_all(&[ev("set", "tank", "com.example:x=1")], &q)
                .full
                .is_none()
        );
    }

    #[test]
    fn scope_and_origins() {
        let q = SnapshotQuery::new(&DatasetName::new("tank/a").unwrap()).max_depth(1);
        assert!(in_scope(&q, "tank/a"));
        assert!(in_scope(&q, "tank/a/b"));
        assert!(!in_scope(&q, "tank/a/b/c"));
        assert!(!in_scope(&q, "tank/ab"));
        assert!(!in_scope(&q, "tank"));
        assert_eq!(
            origin_of("origin=tank/a@s0 (77)").as_deref(),
            Some("tank/a@s0")
        );
        assert_eq!(origin_of("parent=x"), None);
        assert_eq!(visible("tank/a/%recv"), "tank/a");
    }

    #[test]
    fn history_records_are_decoded_whole() {
        let mut rec = NvList::new().unwrap();
        rec.add_string("internal_name", "hold").unwrap();
        rec.add_string("dsname", "tank/a@s").unwrap();
        rec.add_string("history internal str", " tag=x ").unwrap();
        let packed = rec.pack().unwrap();
        let mut other = NvList::new().unwrap();
        other.add_string("history command", "zpool create").unwrap();
        let other = other.pack().unwrap();
        let mut b = Vec::new();
        for p in [&packed, &other, &packed] {
            b.extend_from_slice(&(p.len() as u64).to_le_bytes());
            b.extend_from_slice(p);
        }
        let whole = b.len();
        b.extend_from_slice(&(packed.len() as u64).to_le_bytes());
        b.extend_from_slice(&packed[..3]);
        let mut events = Vec::new();
        let used = records(&b, Some(&mut events)).unwrap();
        assert_eq!(used, whole);
        assert_eq!(events.len(), 2);
        assert_eq!(
            (
                events[0].op.as_str(),
                events[0].dsname.as_str(),
                events[0].detail.as_str()
            ),
            ("hold", "tank/a@s", "tag=x")
        );
        assert_eq!(records(&b, None).unwrap(), whole);
        let mut bad = (8u64).to_le_bytes().to_vec();
        bad.extend_from_slice(&[0xff; 8]);
        assert!(records(&bad, Some(&mut Vec::new())).is_err());
    }
}
