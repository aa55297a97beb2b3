//! Reading the programs' replies into the inventory's types, and the resume positions.
//!
//! Nothing here trusts the shape of a reply: a missing or mistyped value is an
//! [`ErrorKind::InvalidData`](crate::error::ErrorKind::InvalidData) error naming the item, never a panic.

use std::collections::BTreeMap;

use time::OffsetDateTime;

use super::types::{DatasetInfo, HoldInfo, PropertySource, SnapshotInfo, UserProperty};
use super::{DS_PROPS, SNAP_PROPS, bad_data};
use crate::error::Result;
use crate::lzc::{DatasetType, ProgramOutput};
use crate::name::{DatasetName, SnapshotName};
use crate::nvlist::{NvList, NvListRef, Value};
use crate::snapshot::Snapshot;

/// A resume position: positions of one listing only grow.
pub(super) trait Cursor: Ord + Clone {}
impl Cursor for String {}
impl Cursor for SnapCursor {}

/// The resume position of a snapshot or bookmark listing: resume in this dataset, after this
/// full item name (or at its first item when `None`, which sorts first).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct SnapCursor {
    pub dataset: String,
    pub after: Option<String>,
}

/// What the paging loop needs to know about a page.
pub(super) struct PageOutcome<C> {
    /// Items in the page.
    pub items: u64,
    /// The last name returned, for progress reports.
    pub position: Option<String>,
    /// Where the next page starts; `None` when the listing is complete.
    pub resume: Option<C>,
    /// The caller asked to stop.
    pub stop: bool,
}

/// The program's return table.
pub(super) fn return_table<'a>(out: &'a ProgramOutput, name: &str) -> Result<NvListRef<'a>> {
    out.return_table()
        .ok_or_else(|| bad_data(name, "the channel program returned no table"))
}

/// The `i` (items) table of a reply; an empty page may have none.
pub(super) fn items<'a>(table: NvListRef<'a>) -> Result<Items<'a>> {
    match table.get("i") {
        Some(Value::NvList(l)) => Ok(Items(Some(l))),
        None => Ok(Items(None)),
        Some(_) => Err(bad_data("", "the reply's item table has the wrong type")),
    }
}

/// The items of a reply (possibly none).
pub(super) struct Items<'a>(Option<NvListRef<'a>>);

impl<'a> Items<'a> {
    pub fn iter(&self) -> impl Iterator<Item = (&'a std::ffi::CStr, Value<'a>)> + use<'a> {
        self.0.into_iter().flat_map(|l| l.iter())
    }
}

fn opt_str<'a>(table: NvListRef<'a>, key: &str) -> Result<Option<&'a str>> {
    match table.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => s
            .to_str()
            .map(Some)
            .map_err(|_| bad_data(key, "resume position is not UTF-8")),
        Some(_) => Err(bad_data(key, "resume position has the wrong type")),
    }
}

fn more(table: NvListRef<'_>) -> Result<bool> {
    match table.get("m") {
        None => Ok(false),
        Some(Value::BooleanValue(b)) => Ok(b),
        Some(_) => Err(bad_data("m", "the reply's 'more' flag has the wrong type")),
    }
}

/// The resume position of a snapshot/bookmark page, `None` when it was the last page.
pub(super) fn resume_snap(table: NvListRef<'_>) -> Result<Option<SnapCursor>> {
    if !more(table)? {
        return Ok(None);
    }
    let dataset = opt_str(table, "d")?
        .ok_or_else(|| bad_data("d", "a page that is not the last has no resume position"))?;
    Ok(Some(SnapCursor {
        dataset: dataset.to_string(),
        after: opt_str(table, "s")?.map(str::to_string),
    }))
}

/// The resume position of a dataset page, `None` when it was the last page.
pub(super) fn resume_dataset(table: NvListRef<'_>) -> Result<Option<String>> {
    if !more(table)? {
        return Ok(None);
    }
    let d = opt_str(table, "d")?
        .ok_or_else(|| bad_data("d", "a page that is not the last has no resume position"))?;
    Ok(Some(d.to_string()))
}

/// Adds the resume position of a snapshot/bookmark page to its arguments.
pub(super) fn add_snap_cursor(args: &mut NvList, cursor: Option<&SnapCursor>) -> Result<()> {
    if let Some(c) = cursor {
        args.add_string("ads", &c.dataset)?;
        if let Some(after) = &c.after {
            args.add_string("asn", after)?;
        }
    }
    Ok(())
}

/// A Lua number (an `int64` in the reply) as the `uint64` the kernel had: values of 2^63 and
/// more (GUIDs) arrive negative and are reinterpreted.
fn number(v: &Value<'_>) -> Option<u64> {
    match *v {
        Value::I64(x) => Some(x as u64),
        Value::U64(x) => Some(x),
        Value::I32(x) => u64::try_from(x).ok(),
        Value::U32(x) => Some(x.into()),
        _ => None,
    }
}

fn string(v: &Value<'_>) -> Option<String> {
    match v {
        Value::String(s) => Some(s.to_string_lossy().into_owned()),
        _ => None,
    }
}

/// Seconds since the epoch (as the kernel's `uint64`) as a time.
pub(super) fn time(name: &str, secs: u64) -> Result<OffsetDateTime> {
    i64::try_from(secs)
        .ok()
        .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
        .ok_or_else(|| bad_data(name, &format!("time {secs} out of range")))
}

/// One item's reply: its property values by position, its user properties, its holds.
struct Item<'a> {
    name: &'a str,
    values: Vec<Option<Value<'a>>>,
    user: Option<NvListRef<'a>>,
    holds: Option<NvListRef<'a>>,
}

impl<'a> Item<'a> {
    fn parse(name: &'a std::ffi::CStr, v: Value<'a>, nprops: usize) -> Result<Item<'a>> {
        let name = name
            .to_str()
            .map_err(|_| bad_data("", "an item name is not UTF-8"))?;
        let Value::NvList(list) = v else {
            return Err(bad_data(name, "item is not a table"));
        };
        let mut values = vec![None; nprops];
        let mut user = None;
        let mut holds = None;
        for (key, value) in list.iter() {
            match (key.to_bytes(), value) {
                (b"u", Value::NvList(l)) => user = Some(l),
                (b"h", Value::NvList(l)) => holds = Some(l),
                (k, value) => {
                    let idx = std::str::from_utf8(k)
                        .ok()
                        .and_then(|k| k.parse::<usize>().ok())
                        .filter(|i| (1..=nprops).contains(i))
                        .ok_or_else(|| bad_data(name, "unexpected key in an item"))?;
                    values[idx - 1] = Some(value);
                }
            }
        }
        Ok(Item {
            name,
            values,
            user,
            holds,
        })
    }

    fn get(&self, i: usize) -> Option<&Value<'a>> {
        self.values.get(i).and_then(Option::as_ref)
    }

    fn num(&self, i: usize, what: &str) -> Result<u64> {
        self.opt_num(i, what)?
            .ok_or_else(|| bad_data(self.name, &format!("no {what}")))
    }

    fn opt_num(&self, i: usize, what: &str) -> Result<Option<u64>> {
        match self.get(i) {
            None => Ok(None),
            Some(v) => number(v)
                .map(Some)
                .ok_or_else(|| bad_data(self.name, &format!("{what} is not a number"))),
        }
    }

    fn opt_string(&self, i: usize, what: &str) -> Result<Option<String>> {
        match self.get(i) {
            None => Ok(None),
            Some(v) => string(v)
                .map(Some)
                .ok_or_else(|| bad_data(self.name, &format!("{what} is not a string"))),
        }
    }

    fn user_properties(&self) -> Result<BTreeMap<String, UserProperty>> {
        let mut out = BTreeMap::new();
        let Some(list) = self.user else {
            return Ok(out);
        };
        for (prop, v) in list.iter() {
            let prop = prop.to_string_lossy().into_owned();
            let bad = || {
                bad_data(
                    self.name,
                    &format!("user property {prop} has the wrong shape"),
                )
            };
            let Value::NvList(pair) = v else {
                return Err(bad());
            };
            let value = pair.get("1").as_ref().and_then(string).ok_or_else(bad)?;
            let setpoint = pair.get("2").as_ref().and_then(string).ok_or_else(bad)?;
            let source = PropertySource::from_setpoint(self.name, &setpoint);
            out.insert(prop, UserProperty { value, source });
        }
        Ok(out)
    }
}

/// Parses the datasets of a reply (unsorted).
pub(super) fn parse_datasets(table: NvListRef<'_>) -> Result<Vec<DatasetInfo>> {
    let mut out = Vec::new();
    for (name, v) in items(table)?.iter() {
        let it = Item::parse(name, v, DS_PROPS.len())?;
        let dname = DatasetName::new(it.name)
            .map_err(|e| bad_data(it.name, &format!("dataset name: {e}")))?;
        let kind = match it.opt_string(0, "type")?.as_deref() {
            Some("filesystem") => DatasetType::Filesystem,
            Some("volume") => DatasetType::Volume,
            other => {
                return Err(bad_data(
                    it.name,
                    &format!("unexpected dataset type {other:?}"),
                ));
            }
        };
        let creation = it.num(3, "creation")?;
        let origin = match it.opt_string(8, "origin")? {
            Some(o) if !o.is_empty() => Some(
                SnapshotName::new(&o)
                    .map_err(|e| bad_data(it.name, &format!("origin {o:?}: {e}")))?,
            ),
            _ => None,
        };
        out.push(DatasetInfo {
            kind,
            guid: it.num(1, "guid")?,
            createtxg: it.num(2, "createtxg")?,
            creation: time(it.name, creation)?,
            used: it.num(4, "used")?,
            referenced: it.num(5, "referenced")?,
            available: it.num(6, "available")?,
            written: it.opt_num(7, "written")?,
            origin,
            volsize: it.opt_num(9, "volsize")?,
            mountpoint: it.opt_string(10, "mountpoint")?,
            user_properties: it.user_properties()?,
            name: dname,
        });
    }
    Ok(out)
}

/// Parses the snapshots of a reply (unsorted).
pub(super) fn parse_snapshots(table: NvListRef<'_>) -> Result<Vec<SnapshotInfo>> {
    let mut out = Vec::new();
    for (name, v) in items(table)?.iter() {
        let it = Item::parse(name, v, SNAP_PROPS.len())?;
        let sname = SnapshotName::new(it.name)
            .map_err(|e| bad_data(it.name, &format!("snapshot name: {e}")))?;
        let creation = it.num(2, "creation")?;
        let defer_destroy = match it.get(7) {
            None => false,
            Some(Value::String(s)) => matches!(s.to_bytes(), b"on" | b"yes" | b"1"),
            Some(v) => number(v).is_some_and(|n| n != 0),
        };
        let mut clones = Vec::new();
        match it.get(8) {
            None => {}
            Some(Value::NvList(l)) => {
                for (_, c) in l.iter() {
                    let c = string(&c).ok_or_else(|| bad_data(it.name, "a clone is not a name"))?;
                    clones.push(
                        DatasetName::new(&c)
                            .map_err(|e| bad_data(it.name, &format!("clone {c:?}: {e}")))?,
                    );
                }
            }
            Some(_) => return Err(bad_data(it.name, "clones is not a table")),
        }
        clones.sort();
        let holds = match it.holds {
            Some(_) => Some(holds_of(&sname, &it)?),
            None => None,
        };
        out.push(SnapshotInfo {
            guid: it.num(0, "guid")?,
            createtxg: it.num(1, "createtxg")?,
            creation: time(it.name, creation)?,
            used: it.num(3, "used")?,
            referenced: it.num(4, "referenced")?,
            written: it.opt_num(5, "written")?,
            userrefs: it.num(6, "userrefs")?,
            defer_destroy,
            clones,
            user_properties: it.user_properties()?,
            holds,
            name: sname,
        });
    }
    Ok(out)
}

/// The snapshot names of a reply made without properties (unsorted).
pub(super) fn parse_names(table: NvListRef<'_>) -> Result<Vec<SnapshotName>> {
    let mut out = Vec::new();
    for (name, _) in items(table)?.iter() {
        let name = name
            .to_str()
            .map_err(|_| bad_data("", "an item name is not UTF-8"))?;
        out.push(
            SnapshotName::new(name).map_err(|e| bad_data(name, &format!("snapshot name: {e}")))?,
        );
    }
    Ok(out)
}

/// The snapshots of a reply made with `guid`, `createtxg`, `creation` (unsorted).
pub(super) fn parse_basics(table: NvListRef<'_>) -> Result<Vec<Snapshot>> {
    let mut out = Vec::new();
    for (name, v) in items(table)?.iter() {
        let it = Item::parse(name, v, 3)?;
        let sname = SnapshotName::new(it.name)
            .map_err(|e| bad_data(it.name, &format!("snapshot name: {e}")))?;
        let creation = time(it.name, it.num(2, "creation")?)?;
        out.push(Snapshot::from_parts(
            sname,
            it.num(0, "guid")?,
            it.num(1, "createtxg")?,
            creation,
        ));
    }
    Ok(out)
}

fn holds_of(snapshot: &SnapshotName, it: &Item<'_>) -> Result<Vec<HoldInfo>> {
    let mut out = Vec::new();
    let Some(list) = it.holds else { return Ok(out) };
    for (tag, v) in list.iter() {
        let tag = tag.to_string_lossy().into_owned();
        let secs = number(&v)
            .ok_or_else(|| bad_data(snapshot.as_str(), &format!("hold {tag:?} has no time")))?;
        out.push(HoldInfo {
            snapshot: snapshot.clone(),
            created: time(snapshot.as_str(), secs)?,
            tag,
        });
    }
    out.sort_by(|a, b| a.tag.cmp(&b.tag));
    Ok(out)
}

/// The holds in one item of a reply made with `holds` and no properties.
pub(super) fn parse_holds(snapshot: &SnapshotName, item: Value<'_>) -> Result<Vec<HoldInfo>> {
    let Value::NvList(list) = item else {
        return Err(bad_data(snapshot.as_str(), "item is not a table"));
    };
    let holds = match list.get("h") {
        Some(Value::NvList(h)) => Some(h),
        None => None,
        Some(_) => return Err(bad_data(snapshot.as_str(), "holds is not a table")),
    };
    let it = Item {
        name: snapshot.as_str(),
        values: Vec::new(),
        user: None,
        holds,
    };
    holds_of(snapshot, &it)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    /// A reply as the kernel would build it from the Lua table.
    fn snap_item(extra: impl FnOnce(&mut NvList)) -> NvList {
        let mut t = NvList::new().unwrap();
        t.add_i64("1", -2).unwrap(); // guid 2^64 - 2
        t.add_i64("2", 17).unwrap();
        t.add_i64("3", 1_700_000_000).unwrap();
        t.add_i64("4", 4096).unwrap();
        t.add_i64("5", 8192).unwrap();
        t.add_i64("7", 1).unwrap();
        t.add_string("8", "off").unwrap();
        let mut clones = NvList::new().unwrap();
        clones.add_string("1", "p/z").unwrap();
        clones.add_string("2", "p/a").unwrap();
        t.add_nvlist("9", &clones.as_ref()).unwrap();
        extra(&mut t);
        t
    }

    fn reply(items: &[(&str, &NvList)], more: bool) -> NvList {
        let mut i = NvList::new().unwrap();
        for (n, v) in items {
            i.add_nvlist(n, &v.as_ref()).unwrap();
        }
        let mut r = NvList::new().unwrap();
        r.add_nvlist("i", &i.as_ref()).unwrap();
        r.add_boolean_value("m", more).unwrap();
        r
    }

    #[test]
    fn snapshot_items_parse() {
        let item = snap_item(|t| {
            let mut u = NvList::new().unwrap();
            let mut pair = NvList::new().unwrap();
            pair.add_string("1", "blue").unwrap();
            pair.add_string("2", "p/fs").unwrap();
            u.add_nvlist("com.example:tag", &pair.as_ref()).unwrap();
            t.add_nvlist("u", &u.as_ref()).unwrap();
            let mut h = NvList::new().unwrap();
            h.add_i64("keep", 1_700_000_100).unwrap();
            t.add_nvlist("h", &h.as_ref()).unwrap();
        });
        let r = reply(&[("p/fs@a", &item)], false);
        let v = parse_snapshots(r.as_ref()).unwrap();
        assert_eq!(v.len(), 1);
        let s = &v[0];
        assert_eq!(s.name.as_str(), "p/fs@a");
        assert_eq!(s.guid, u64::MAX - 1);
        assert_eq!(s.createtxg, 17);
        assert_eq!(s.creation.unix_timestamp(), 1_700_000_000);
        assert_eq!((s.used, s.referenced), (4096, 8192));
        assert_eq!(s.written, None);
        assert_eq!(s.userrefs, 1);
        assert!(!s.defer_destroy);
        let clones: Vec<&str> = s.clones.iter().map(|c| c.as_str()).collect();
        assert_eq!(clones, ["p/a", "p/z"]);
        let tag = &s.user_properties["com.example:tag"];
        assert_eq!(tag.value, "blue");
        assert_eq!(tag.source, PropertySource::Inherited("p/fs".into()));
        let holds = s.holds.as_ref().unwrap();
        assert_eq!(holds[0].tag, "keep");
        assert_eq!(holds[0].created.unix_timestamp(), 1_700_000_100);
        assert_eq!(s.to_snapshot().guid(), u64::MAX - 1);
        assert_eq!(resume_snap(r.as_ref()).unwrap(), None);
    }

    #[test]
    fn names_and_basics_parse() {
        let r = reply(
            &[
                ("p/fs@a", &snap_item(|_| {})),
                ("p/fs@b", &snap_item(|_| {})),
            ],
            false,
        );
        let mut names: Vec<String> = parse_names(r.as_ref())
            .unwrap()
            .iter()
            .map(|n| n.as_str().to_string())
            .collect();
        names.sort();
        assert_eq!(names, ["p/fs@a", "p/fs@b"]);
        let mut t = NvList::new().unwrap();
        t.add_i64("1", 7).unwrap();
        t.add_i64("2", 8).unwrap();
        t.add_i64("3", 9).unwrap();
        let b = parse_basics(reply(&[("p/fs@a", &t)], false).as_ref()).unwrap();
        assert_eq!(
            (
                b[0].guid(),
                b[0].createtxg(),
                b[0].creation().unix_timestamp()
            ),
            (7, 8, 9)
        );
        t.remove("2").unwrap();
        let e = parse_basics(reply(&[("p/fs@a", &t)], false).as_ref()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidData);
    }

    #[test]
    fn bad_shapes_are_errors_not_panics() {
        // A required property missing.
        let item = snap_item(|t| {
            t.remove("2").unwrap();
        });
        let e = parse_snapshots(reply(&[("p/fs@a", &item)], false).as_ref()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidData);
        assert_eq!(e.name(), Some("p/fs@a"));
        // A value of the wrong type.
        let item = snap_item(|t| t.add_string("4", "many").unwrap());
        let e = parse_snapshots(reply(&[("p/fs@a", &item)], false).as_ref()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidData);
        // An unknown key.
        let item = snap_item(|t| t.add_i64("42", 1).unwrap());
        let e = parse_snapshots(reply(&[("p/fs@a", &item)], false).as_ref()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidData);
        // A name that is not a snapshot.
        let item = snap_item(|_| {});
        let e = parse_snapshots(reply(&[("p/fs", &item)], false).as_ref()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidData);
        // An item that is not a table.
        let mut i = NvList::new().unwrap();
        i.add_i64("p/fs@a", 3).unwrap();
        let mut r = NvList::new().unwrap();
        r.add_nvlist("i", &i.as_ref()).unwrap();
        let e = parse_snapshots(r.as_ref()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidData);
        // More pages but no resume position.
        let r = reply(&[], true);
        assert_eq!(
            resume_snap(r.as_ref()).unwrap_err().kind(),
            ErrorKind::InvalidData
        );
        // An out-of-range time.
        let item = snap_item(|t| t.add_i64("3", i64::MAX).unwrap());
        let e = parse_snapshots(reply(&[("p/fs@a", &item)], false).as_ref()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidData);
    }

    #[test]
    fn resume_positions() {
        let mut r = reply(&[], true);
        r.add_string("d", "p/b").unwrap();
        assert_eq!(
            resume_snap(r.as_ref()).unwrap(),
            Some(SnapCursor {
                dataset: "p/b".into(),
                after: None
            })
        );
        r.add_string("s", "p/b@x").unwrap();
        let c = resume_snap(r.as_ref()).unwrap().unwrap();
        assert_eq!(c.after.as_deref(), Some("p/b@x"));
        // A position in a later dataset is after any position in an earlier one; the first
        // item of a dataset comes before every named one.
        let a = SnapCursor {
            dataset: "p/a".into(),
            after: Some("p/a@z".into()),
        };
        let b = SnapCursor {
            dataset: "p/b".into(),
            after: None,
        };
        assert!(a < b && b < c);
        let mut args = NvList::new().unwrap();
        add_snap_cursor(&mut args, Some(&c)).unwrap();
        assert_eq!(args.as_ref().get_str("asn").unwrap(), "p/b@x");
        assert_eq!(resume_dataset(r.as_ref()).unwrap().as_deref(), Some("p/b"));
    }

    #[test]
    fn dataset_items_parse() {
        let mut t = NvList::new().unwrap();
        t.add_string("1", "volume").unwrap();
        for (k, v) in [
            ("2", 5),
            ("3", 9),
            ("4", 1_600_000_000),
            ("5", 10),
            ("6", 20),
            ("7", 30),
        ] {
            t.add_i64(k, v).unwrap();
        }
        t.add_string("9", "p/src@s").unwrap();
        t.add_i64("10", 1 << 20).unwrap();
        let r = reply(&[("p/vol", &t)], false);
        let d = parse_datasets(r.as_ref()).unwrap().pop().unwrap();
        assert_eq!(d.kind, DatasetType::Volume);
        assert_eq!(d.origin.as_ref().map(|o| o.as_str()), Some("p/src@s"));
        assert!(d.is_clone());
        assert_eq!(d.volsize, Some(1 << 20));
        assert_eq!(d.mountpoint, None);
        assert_eq!(d.available, 30);
        t.add_string("1", "snapshot").unwrap();
        let r = reply(&[("p/vol", &t)], false);
        assert_eq!(
            parse_datasets(r.as_ref()).unwrap_err().kind(),
            ErrorKind::InvalidData
        );
    }

    #[test]
    fn property_sources() {
        use PropertySource as S;
        assert_eq!(S::from_setpoint("p/a@s", "p/a@s"), S::Local);
        assert_eq!(S::from_setpoint("p/a", "$recvd"), S::Received);
        assert_eq!(S::from_setpoint("p/a/b", "p/a"), S::Inherited("p/a".into()));
        assert_eq!(S::Inherited("p".into()).to_cli_string(), "inherited from p");
    }
}
