//! Reading the live state of a dataset without the CLI: a read-only channel program
//! (`lzc_channel_program_nosync`), `lzc_get_holds`, `lzc_get_bookmarks`, and
//! `/proc/self/mountinfo` for mounts.

use std::collections::BTreeMap;

use super::state::{
    BookmarkState, ChildState, DatasetKind, LiveState, MountState, PropValue, SnapshotState,
};
use super::store::location::foreign_mount_below;
use crate::error::{Error, ErrorKind, Result};
use crate::kernel;
use crate::lzc::{self, ProgramLimits};
use crate::name::{DatasetName, PoolName, SnapshotName};
use crate::nvlist::{NvList, NvListRef, Value};
use crate::snapshot::Snapshot;
use time::OffsetDateTime;

/// Settable properties of filesystems whose local values the reader collects.
const FS_PROPS: &[&str] = &[
    "mountpoint",
    "canmount",
    "quota",
    "refquota",
    "reservation",
    "refreservation",
    "compression",
    "atime",
    "relatime",
    "recordsize",
    "checksum",
    "copies",
    "dedup",
    "sync",
    "xattr",
    "acltype",
    "exec",
    "setuid",
    "devices",
    "readonly",
    "snapdir",
    "logbias",
    "primarycache",
    "secondarycache",
    "redundant_metadata",
    "dnodesize",
    "special_small_blocks",
    "aclinherit",
    "aclmode",
    "snapdev",
    "sharenfs",
    "sharesmb",
    "overlay",
    "filesystem_limit",
    "snapshot_limit",
    "zoned",
    "nbmand",
    "vscan",
];

/// Settable properties of volumes whose local values the reader collects.
const VOL_PROPS: &[&str] = &[
    "reservation",
    "refreservation",
    "compression",
    "checksum",
    "copies",
    "dedup",
    "sync",
    "readonly",
    "logbias",
    "primarycache",
    "secondarycache",
    "redundant_metadata",
    "volmode",
    "snapdev",
    "snapshot_limit",
    "volsize",
];

const STATE_PROGRAM: &str = r#"
local args = ...
local ds = args["dataset"]
if not zfs.exists(ds) then
    return { missing = true }
end
local out = {}
out.guid = zfs.get_prop(ds, "guid")
out.type = zfs.get_prop(ds, "type")
local origin = zfs.get_prop(ds, "origin")
if origin ~= nil and origin ~= "" then out.origin = origin end
local enc = zfs.get_prop(ds, "encryption")
if enc ~= nil then out.encryption = enc end
out.written = zfs.get_prop(ds, "written")
out.available = zfs.get_prop(ds, "available")
local props = {}
local temporary = {}
local list = args["fsprops"]
if out.type == "volume" then list = args["volprops"] end
for _, k in ipairs(list) do
    local v, src = zfs.get_prop(ds, k)
    if v ~= nil and src == ds then props[k] = v end
    if src == "temporary" then temporary[#temporary + 1] = k end
end
local iter = zfs.list.user_properties
if iter == nil then iter = zfs.list.properties end
if iter ~= nil then
    for k, v, src in iter(ds) do
        if src == ds then props[k] = v end
    end
end
out.props = props
out.temporary = temporary
local snaps = {}
for s in zfs.list.snapshots(ds) do
    local clones = {}
    for c in zfs.list.clones(s) do clones[c] = true end
    snaps[s] = {
        guid = zfs.get_prop(s, "guid"),
        createtxg = zfs.get_prop(s, "createtxg"),
        creation = zfs.get_prop(s, "creation"),
        written = zfs.get_prop(s, "written"),
        clones = clones,
    }
end
out.snaps = snaps
local children = {}
local function walk(d)
    for c in zfs.list.children(d) do
        children[c] = true
        walk(c)
    end
end
walk(ds)
out.children = children
return out
"#;

/// What [`info`] reads of each name with the inventory's `ITEMS` program, in this order (a
/// property that does not apply to the type, e.g. `origin` of a snapshot, comes back as a hole).
const INFO_PROPS: [&str; 5] = ["guid", "origin", "used", "createtxg", "creation"];

fn bad(what: &str, detail: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidData, "rollback state")
        .with_name(what)
        .with_detail(detail.into())
}

fn as_u64(v: Option<Value<'_>>) -> Option<u64> {
    match v? {
        Value::I64(n) => Some(n as u64),
        Value::U64(n) => Some(n),
        Value::I32(n) => Some(n as u64),
        _ => None,
    }
}

fn as_string(v: Option<Value<'_>>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.to_string_lossy().into_owned()),
        _ => None,
    }
}

fn keys(t: Option<Value<'_>>) -> Vec<String> {
    match t {
        Some(Value::NvList(l)) => l
            .iter()
            .map(|(k, _)| k.to_string_lossy().into_owned())
            .collect(),
        _ => Vec::new(),
    }
}

fn program(pool: &PoolName, prog: &str, args: &NvList) -> Result<lzc::ProgramOutput> {
    lzc::channel_program_nosync(
        pool,
        prog,
        ProgramLimits::new(100_000_000, 100 << 20),
        Some(args),
    )
}

/// Reads everything the planner needs about `dataset`.
///
/// Errors: [`ErrorKind::NotFound`] when it does not exist, and those of the channel program.
pub fn read_state(dataset: &DatasetName) -> Result<LiveState> {
    let mut args = NvList::new()?;
    args.add_string("dataset", dataset.as_str())?;
    args.add_string_array("fsprops", FS_PROPS)?;
    args.add_string_array("volprops", VOL_PROPS)?;
    let out = program(&dataset.pool(), STATE_PROGRAM, &args)?;
    let t = out
        .return_table()
        .ok_or_else(|| bad(dataset.as_str(), "no table returned"))?;
    if t.contains("missing") {
        return Err(Error::new(ErrorKind::NotFound, "rollback state").with_name(dataset.as_str()));
    }
    let guid = as_u64(t.get("guid")).ok_or_else(|| bad(dataset.as_str(), "no guid"))?;
    let kind = match as_string(t.get("type")).as_deref() {
        Some("volume") => DatasetKind::Volume,
        Some("filesystem") => DatasetKind::Filesystem,
        other => {
            return Err(bad(
                dataset.as_str(),
                format!("type {other:?} cannot be rolled back"),
            ));
        }
    };
    let mut s = LiveState::new(dataset.clone(), guid, kind);
    s.origin = as_string(t.get("origin"))
        .map(|o| SnapshotName::new(&o).map_err(|e| bad(&o, e.to_string())))
        .transpose()?;
    // OpenZFS 2.1's channel programs do not know `encryption` (no value comes back): the
    // objset statistics decide.
    s.encryption = super::crypt::read(dataset)?;
    s.encrypted =
        s.encryption.is_some() || as_string(t.get("encryption")).is_some_and(|e| e != "off");
    s.local_props = local_props(dataset, t)?;
    s.snapshots = snapshots(t)?;
    s.bookmarks = lzc::get_bookmarks(dataset, &["guid", "createtxg"])?
        .into_iter()
        .map(|(b, p)| BookmarkState::new(b, p.guid().unwrap_or(0), p.createtxg().unwrap_or(0)))
        .collect();
    let mounts = kernel::zfs_mounts();
    let mount_of = |name: &str| {
        mounts.iter().find(|(s, _)| s == name).map(|(_, p)| {
            let busy = kernel::path_in_use(p) || foreign_mount_below(p, dataset);
            MountState::new(p.clone(), busy)
        })
    };
    let mut children = Vec::new();
    for c in keys(t.get("children")) {
        let name = DatasetName::new(&c).map_err(|e| bad(&c, e.to_string()))?;
        children.push(ChildState::new(name, mount_of(&c)));
    }
    children.sort_by(|a, b| a.name.cmp(&b.name));
    s.children = children;
    s.mount = mount_of(dataset.as_str());
    s.written = as_u64(t.get("written")).unwrap_or(0);
    s.available = as_u64(t.get("available")).unwrap_or(0);
    Ok(s)
}

/// The local properties in the state program's table `t`.
fn local_props(dataset: &DatasetName, t: NvListRef<'_>) -> Result<BTreeMap<String, PropValue>> {
    let mut local_props = BTreeMap::new();
    if let Some(Value::NvList(pl)) = t.get("props") {
        for (k, v) in pl.iter() {
            let k = k.to_string_lossy().into_owned();
            let pv = match v {
                Value::String(s) => PropValue::Text(s.to_string_lossy().into_owned()),
                Value::I64(n) => PropValue::Number(n as u64),
                Value::U64(n) => PropValue::Number(n),
                _ => continue,
            };
            local_props.insert(k, pv);
        }
    }
    // A mount option can mask a property's stored value (source `temporary`); OpenZFS 2.4
    // also reports one after `zfs set atime=off` remounts the dataset. The stored local values
    // of those come from the property ioctl, which does not apply mount options.
    if let Some(Value::NvList(tl)) = t.get("temporary")
        && tl.iter().next().is_some()
    {
        let masked: Vec<String> = tl
            .iter()
            .filter_map(|(_, v)| match v {
                Value::String(s) => Some(s.to_string_lossy().into_owned()),
                _ => None,
            })
            .collect();
        for (k, pv) in crate::kernel::stored_local_props(dataset)? {
            if masked.contains(&k) {
                local_props.insert(k, pv);
            }
        }
    }
    Ok(local_props)
}

/// The snapshots in the state program's table `t` (with their holds), oldest first.
fn snapshots(t: NvListRef<'_>) -> Result<Vec<SnapshotState>> {
    let mut snapshots = Vec::new();
    if let Some(Value::NvList(sl)) = t.get("snaps") {
        for (name, v) in sl.iter() {
            let name = name.to_string_lossy().into_owned();
            let Value::NvList(e) = v else {
                return Err(bad(&name, "not a table"));
            };
            let sn = SnapshotName::new(&name).map_err(|e| bad(&name, e.to_string()))?;
            let guid = as_u64(e.get("guid")).ok_or_else(|| bad(&name, "no guid"))?;
            let txg = as_u64(e.get("createtxg")).ok_or_else(|| bad(&name, "no createtxg"))?;
            let creation = creation(&name, e)?;
            let mut s = SnapshotState::new(
                Snapshot::from_parts(sn.clone(), guid, txg, creation),
                as_u64(e.get("written")).unwrap_or(0),
            );
            s.holds = lzc::get_holds(&sn)?.into_keys().collect();
            s.clones = keys(e.get("clones"))
                .into_iter()
                .map(|c| DatasetName::new(&c).map_err(|e| bad(&c, e.to_string())))
                .collect::<Result<_>>()?;
            snapshots.push(s);
        }
    }
    snapshots.sort_by_key(SnapshotState::createtxg);
    Ok(snapshots)
}

/// The `creation` of the snapshot `name` in its table `e`.
fn creation(name: &str, e: NvListRef<'_>) -> Result<OffsetDateTime> {
    time_of(name, as_u64(e.get("creation")).unwrap_or(0))
}

/// Seconds since the epoch (the kernel's `uint64`) as a time.
fn time_of(name: &str, secs: u64) -> Result<OffsetDateTime> {
    i64::try_from(secs)
        .ok()
        .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
        .ok_or_else(|| bad(name, format!("creation {secs} is not a time")))
}

/// What [`info`] knows about one dataset or snapshot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Info {
    /// GUID.
    pub(crate) guid: u64,
    /// Origin (datasets that are clones).
    pub(crate) origin: Option<String>,
    /// Snapshots (datasets): full name → GUID.
    pub(crate) snaps: BTreeMap<String, u64>,
    /// `used` bytes.
    pub(crate) used: u64,
    /// The snapshot (snapshots): name, GUID, creation txg and time.
    pub(crate) snapshot: Option<Snapshot>,
}

/// GUID, origin and snapshots of each existing name (datasets or snapshots) of one pool.
pub(crate) fn info(pool: &PoolName, names: &[&str]) -> Result<BTreeMap<String, Info>> {
    let mut args = NvList::new()?;
    args.add_string_array("names", names)?;
    args.add_string_array("props", &INFO_PROPS)?;
    args.add_boolean_value("snaps", true)?;
    let out = program(pool, crate::inventory::program::ITEMS, &args)?;
    let mut m = BTreeMap::new();
    let Some(Value::NvList(items)) = out.return_table().and_then(|t| t.get("i")) else {
        return Ok(m);
    };
    for (n, v) in items.iter() {
        let n = n.to_string_lossy().into_owned();
        let Value::NvList(e) = v else { continue };
        let i = parse_info(&n, e)?;
        m.insert(n, i);
    }
    Ok(m)
}

/// One item of the `ITEMS` reply: [`INFO_PROPS`] under the keys `1`..`5`, the snapshots under
/// `s`.
fn parse_info(name: &str, e: NvListRef<'_>) -> Result<Info> {
    let prop = |p: &str| {
        let i = INFO_PROPS.iter().position(|x| *x == p).map_or(0, |i| i + 1);
        e.get(&i.to_string())
    };
    let mut snaps = BTreeMap::new();
    if let Some(Value::NvList(s)) = e.get("s") {
        for (k, v) in s.iter() {
            if let Some(g) = as_u64(Some(v)) {
                snaps.insert(k.to_string_lossy().into_owned(), g);
            }
        }
    }
    let guid = as_u64(prop("guid")).unwrap_or(0);
    let snapshot = if name.contains('@') {
        let sn = SnapshotName::new(name).map_err(|x| bad(name, x.to_string()))?;
        let txg = as_u64(prop("createtxg")).unwrap_or(0);
        let secs = as_u64(prop("creation")).unwrap_or(0);
        Some(Snapshot::from_parts(sn, guid, txg, time_of(name, secs)?))
    } else {
        None
    };
    Ok(Info {
        guid,
        origin: as_string(prop("origin")).filter(|o| !o.is_empty()),
        snaps,
        used: as_u64(prop("used")).unwrap_or(0),
        snapshot,
    })
}

/// [`info`] of one name, `None` when it does not exist.
pub(crate) fn info_one(name: &str) -> Result<Option<Info>> {
    let pool = name.split(['/', '@', '#']).next().unwrap_or(name);
    let pool = PoolName::new(pool)?;
    Ok(info(&pool, &[name])?.remove(name))
}
