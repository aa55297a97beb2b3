//! The few kernel calls rollback needs besides libzfs_core: setting and inheriting a dataset
//! property (`ZFS_IOC_SET_PROP`, `ZFS_IOC_INHERIT_PROP`) and mounting (`mount(2)`,
//! `umount2(2)`). No process is spawned and libzfs is not used.
//!
//! # Mounting
//!
//! A dataset is mounted the way `zfs mount` does it: the mount flags are derived from the
//! dataset's properties (`atime`, `relatime`, `devices`, `exec`, `setuid`, `readonly`; read with
//! a read-only channel program), not left to the kernel's defaults. OpenZFS 2.1–2.3 read those
//! properties themselves when the flags say nothing, but 2.4 takes the flags of the mount as
//! given: a plain `mount(2)` there gets the kernel's default `relatime`, and `zfs get atime` then
//! says `on` (source `temporary`) on a dataset whose `atime` is `off`.
//!
//! # The legacy ioctls
//!
//! libzfs_core has no property setter, no listing and no pool history; channel programs set
//! only user properties. The legacy ioctls used here (`ZFS_IOC_SET_PROP`,
//! `ZFS_IOC_INHERIT_PROP`, `ZFS_IOC_OBJSET_STATS`, the list ioctls of [`list`], the send of
//! [`child_send`]) take a `zfs_cmd_t`, whose definition OpenZFS does not install: it is
//! declared once, in [`zfs_cmd`], with compile-time checks of its size and offsets. Every
//! field the crate does not set stays zero (`zc_cookie` of the property ioctls: "received",
//! must be 0). The request numbers come from the installed `sys/fs/zfs.h` enum through the
//! bindings. The lab tests set and inherit `mountpoint` on every flavour and check the result
//! with the CLI.

use std::ffi::{CStr, CString};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::OnceLock;

use libzfs_core_sys as sys;

pub(crate) mod child_send;
pub(crate) mod list;
pub(crate) mod zfs_cmd;

use zfs_cmd::ZfsCmd;

use crate::error::{Error, ErrorKind, Result};
use crate::lzc::{self, Family};
use crate::name::DatasetName;
use crate::nvlist::NvList;

const ZFS_IOC_SET_PROP: libc::c_ulong = sys::ZFS_IOC_SET_PROP as libc::c_ulong;
const ZFS_IOC_INHERIT_PROP: libc::c_ulong = sys::ZFS_IOC_INHERIT_PROP as libc::c_ulong;

static DEV_ZFS: OnceLock<OwnedFd> = OnceLock::new();

fn dev_zfs(op: &'static str) -> Result<libc::c_int> {
    if let Some(fd) = DEV_ZFS.get() {
        return Ok(fd.as_raw_fd());
    }
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/zfs")
        .map_err(|e| io_error(ErrorKind::Unavailable, op, "/dev/zfs", &e))?;
    let _ = DEV_ZFS.set(OwnedFd::from(f));
    DEV_ZFS
        .get()
        .map(|f| f.as_raw_fd())
        .ok_or_else(|| Error::new(ErrorKind::Unavailable, op))
}

/// An error of `kind` from a system call of `op` on `name` that failed with `e` (its errno and
/// message kept). The kind of an errno comes from [`lzc::io_error`], the crate's one mapping.
pub(crate) fn io_error(kind: ErrorKind, op: &'static str, name: &str, e: &std::io::Error) -> Error {
    let mut err = Error::new(kind, op)
        .with_name(name)
        .with_detail(e.to_string());
    if let Some(n) = e.raw_os_error() {
        err = err.with_errno(n);
    }
    err
}

/// Runs one legacy ioctl on the library's `/dev/zfs` descriptor; an error carries the errno
/// and its [`ErrorKind`] from the crate's one mapping (family `SetProps`).
fn ioctl(op: &'static str, name: &str, request: libc::c_ulong, cmd: &mut ZfsCmd) -> Result<()> {
    let e = match raw_ioctl(op, request, cmd)? {
        0 => return Ok(()),
        e => e,
    };
    let e = std::io::Error::from_raw_os_error(e);
    Err(lzc::io_error(Family::SetProps, op, name, &e))
}

/// Runs one legacy ioctl and returns its errno (0: success); only opening `/dev/zfs` is an
/// error here.
pub(crate) fn raw_ioctl(op: &'static str, request: libc::c_ulong, cmd: &mut ZfsCmd) -> Result<i32> {
    let fd = dev_zfs(op)?;
    // SAFETY: `cmd` is a whole zfs_cmd_t (see zfs_cmd.rs), exclusively borrowed for the call;
    // the kernel reads and writes sizeof(zfs_cmd_t) bytes of it, reads `zc_nvlist_src_size`
    // bytes at `zc_nvlist_src` and writes at most `zc_nvlist_dst_size` bytes at
    // `zc_nvlist_dst` (and `zc_history_len` at `zc_history`), buffers the caller keeps alive.
    let rc = unsafe { libc::ioctl(fd, request as _, std::ptr::from_mut(cmd)) };
    if rc == 0 {
        return Ok(0);
    }
    Ok(std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO))
}

/// Sets properties of a filesystem or volume (`props`: name → string or `uint64`), like
/// `zfs set`, without remounting anything. Corresponds to `ZFS_IOC_SET_PROP`.
pub(crate) fn set_props(dataset: &DatasetName, props: &NvList) -> Result<()> {
    const OP: &str = "ZFS_IOC_SET_PROP";
    let packed = props.pack()?;
    let mut cmd = ZfsCmd::new(dataset.as_str())?;
    cmd.nvlist_src = packed.as_ptr() as u64;
    cmd.nvlist_src_size = packed.len() as u64;
    ioctl(OP, dataset.as_str(), ZFS_IOC_SET_PROP, &mut cmd)
}

/// Sets the pool property `bootfs` of `dataset`'s pool to `dataset`, like `zpool set bootfs=`
/// (`ZFS_IOC_POOL_SET_PROPS`).
pub(crate) fn set_pool_bootfs(dataset: &DatasetName) -> Result<()> {
    const OP: &str = "ZFS_IOC_POOL_SET_PROPS";
    let pool = dataset.pool();
    let mut l = NvList::new()?;
    l.add_string("bootfs", dataset.as_str())?;
    let packed = l.pack()?;
    let mut cmd = ZfsCmd::new(pool.as_str())?;
    cmd.nvlist_src = packed.as_ptr() as u64;
    cmd.nvlist_src_size = packed.len() as u64;
    ioctl(
        OP,
        pool.as_str(),
        sys::ZFS_IOC_POOL_SET_PROPS as libc::c_ulong,
        &mut cmd,
    )
}

/// Sets one property. See [`set_props`].
pub(crate) fn set_prop(
    dataset: &DatasetName,
    prop: &str,
    value: &crate::rollback::PropValue,
) -> Result<()> {
    let mut l = NvList::new()?;
    match value {
        crate::rollback::PropValue::Number(n) => l.add_u64(prop, *n)?,
        crate::rollback::PropValue::Text(s) => l.add_string(prop, s)?,
    }
    set_props(dataset, &l)
}

/// The properties whose value is set locally on `dataset`, as stored (mount options do not
/// apply here, unlike in channel programs): `ZFS_IOC_OBJSET_STATS`, whose output nvlist maps
/// each set property to `{value, source}`.
pub(crate) fn stored_local_props(
    dataset: &DatasetName,
) -> Result<Vec<(String, crate::rollback::PropValue)>> {
    let entry = list::stats(dataset.as_str(), &mut list::Buffer::new())?;
    let Some(list) = entry.props else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for (name, v) in list.as_ref().iter() {
        let crate::nvlist::Value::NvList(p) = v else {
            continue;
        };
        if p.get_str("source").ok() != Some(dataset.as_str()) {
            continue;
        }
        let value = match p.get("value") {
            Some(crate::nvlist::Value::U64(n)) => crate::rollback::PropValue::Number(n),
            Some(crate::nvlist::Value::String(s)) => {
                crate::rollback::PropValue::Text(s.to_string_lossy().into_owned())
            }
            _ => continue,
        };
        out.push((name.to_string_lossy().into_owned(), value));
    }
    Ok(out)
}

/// Removes the local value of `prop` so that it is inherited, like `zfs inherit`.
/// Corresponds to `ZFS_IOC_INHERIT_PROP`.
pub(crate) fn inherit_prop(dataset: &DatasetName, prop: &str) -> Result<()> {
    let mut cmd = ZfsCmd::new(dataset.as_str())?;
    cmd.set_value(prop)?;
    ioctl(
        "ZFS_IOC_INHERIT_PROP",
        dataset.as_str(),
        ZFS_IOC_INHERIT_PROP,
        &mut cmd,
    )
}

fn cstring(op: &'static str, s: &str) -> Result<CString> {
    CString::new(s)
        .map_err(|_| Error::new(ErrorKind::InvalidArgument, op).with_detail("NUL in path"))
}

/// `mount(2)` of the ZFS dataset or snapshot `source` on the directory `path` with `flags`,
/// the way `mount.zfs` does: type `zfs` and the `zfsutil` option (the kernel then takes the
/// other options from the properties).
pub(crate) fn mount_zfs(source: &str, path: &Path, flags: libc::c_ulong) -> std::io::Result<()> {
    let nul = |_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "NUL in a mount argument");
    let src = CString::new(source).map_err(nul)?;
    let target = CString::new(path.as_os_str().as_bytes()).map_err(nul)?;
    let fstype: &CStr = c"zfs";
    let data: &CStr = c"zfsutil";
    // SAFETY: all pointers are NUL-terminated strings alive for the call.
    let rc = unsafe {
        libc::mount(
            src.as_ptr(),
            target.as_ptr(),
            fstype.as_ptr(),
            flags,
            data.as_ptr().cast(),
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Reads the mount-related properties of the dataset named by the argument `ds`, in one
/// read-only channel program.
const MOUNT_PROPS_PROGRAM: &str = r#"
local ds = (...)["ds"]
local out = {}
for _, p in ipairs({"atime", "relatime", "devices", "exec", "setuid", "readonly"}) do
    local v = zfs.get_prop(ds, p)
    out[p] = tostring(v)
end
return out
"#;

/// The `mount(2)` flags `zfs mount` would use for these property values (`on`/`off`, or the
/// numeric `1`/`0` a channel program may give), as `libzfs`'s `zfs_add_options` and
/// `mount.zfs` map them.
fn flags_from_props(get: impl Fn(&str) -> Option<String>) -> libc::c_ulong {
    let on = |p: &str, default: bool| {
        get(p).map_or(default, |v| matches!(v.as_str(), "on" | "1" | "true"))
    };
    let mut flags = 0;
    if !on("atime", true) {
        flags |= libc::MS_NOATIME;
    } else if on("relatime", true) {
        flags |= libc::MS_RELATIME;
    } else {
        flags |= libc::MS_STRICTATIME;
    }
    if !on("devices", true) {
        flags |= libc::MS_NODEV;
    }
    if !on("exec", true) {
        flags |= libc::MS_NOEXEC;
    }
    if !on("setuid", true) {
        flags |= libc::MS_NOSUID;
    }
    if on("readonly", false) {
        flags |= libc::MS_RDONLY;
    }
    flags
}

/// The mount flags of `dataset` from its properties (see the module docs).
fn mount_flags(dataset: &DatasetName) -> Result<libc::c_ulong> {
    let mut args = NvList::new()?;
    args.add_string("ds", dataset.as_str())?;
    let out = crate::lzc::channel_program_nosync(
        &dataset.pool(),
        MOUNT_PROPS_PROGRAM,
        crate::lzc::ProgramLimits::default(),
        Some(&args),
    )?;
    let table = out.return_table().ok_or_else(|| {
        Error::new(ErrorKind::ChannelProgramFailed, "mount")
            .with_name(dataset.as_str())
            .with_detail("the property program returned no table")
    })?;
    Ok(flags_from_props(|p| {
        table.get_str(p).ok().map(str::to_string)
    }))
}

/// Mounts `dataset` at `path` (created if missing) with [`mount_zfs`] and the flags its
/// properties ask for.
pub(crate) fn mount(dataset: &DatasetName, path: &Path) -> Result<()> {
    const OP: &str = "mount";
    std::fs::create_dir_all(path)
        .map_err(|e| lzc::io_error(Family::File, OP, &path.to_string_lossy(), &e))?;
    let flags = mount_flags(dataset)?;
    let Err(e) = mount_zfs(dataset.as_str(), path, flags) else {
        return Ok(());
    };
    Err(lzc::io_error(Family::Mount, OP, dataset.as_str(), &e))
}

/// How long [`unmount`] retries a mount that is busy before it reports [`ErrorKind::Busy`].
const UNMOUNT_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// Unmounts `path` (no force, no lazy detach): fails with [`ErrorKind::Busy`] when in use.
///
/// `EBUSY` is retried for up to [`UNMOUNT_GRACE`] first: a program that another thread of this
/// process is starting holds a copy of every descriptor from `fork` to `exec`, so a file just
/// closed here (a store's copy, a directory listing) can keep the mount busy for that moment.
pub(crate) fn unmount(path: &Path) -> Result<()> {
    const OP: &str = "umount2";
    let target = cstring(OP, &path.to_string_lossy())?;
    let deadline = std::time::Instant::now() + UNMOUNT_GRACE;
    loop {
        // SAFETY: a NUL-terminated path alive for the call.
        let rc = unsafe { libc::umount2(target.as_ptr(), 0) };
        if rc == 0 {
            return Ok(());
        }
        let e = std::io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EBUSY) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            _ => {
                return Err(lzc::io_error(
                    Family::Unmount,
                    OP,
                    &path.to_string_lossy(),
                    &e,
                ));
            }
        }
    }
}

/// Where each ZFS dataset is mounted, from `/proc/self/mountinfo` (dataset → path).
pub(crate) fn zfs_mounts() -> Vec<(String, String)> {
    let Ok(text) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    parse_mountinfo(&text)
}

/// Unescapes mountinfo's octal escapes (`\040` for a space).
pub(crate) fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses mountinfo text into (source, mount point) pairs of `zfs` mounts.
pub(crate) fn parse_mountinfo(text: &str) -> Vec<(String, String)> {
    let mut v = Vec::new();
    for line in text.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let l: Vec<&str> = left.split(' ').collect();
        let r: Vec<&str> = right.split(' ').collect();
        if l.len() < 5 || r.len() < 2 || r[0] != "zfs" {
            continue;
        }
        v.push((unescape(r[1]), unescape(l[4])));
    }
    v
}

/// Whether any process uses something below `path` (cwd, root, open file, mapping).
/// Best effort: processes we may not inspect are ignored.
pub(crate) fn path_in_use(path: &str) -> bool {
    let under = |p: &Path| {
        let s = p.to_string_lossy();
        s == path || s.starts_with(&format!("{}/", path.trim_end_matches('/')))
    };
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return false;
    };
    for p in procs.flatten() {
        let name = p.file_name();
        if !name.to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let base = p.path();
        for link in ["cwd", "root"] {
            if let Ok(t) = std::fs::read_link(base.join(link))
                && under(&t)
                && !(link == "root" && t == Path::new("/"))
            {
                return true;
            }
        }
        if let Ok(fds) = std::fs::read_dir(base.join("fd")) {
            for fd in fds.flatten() {
                if let Ok(t) = std::fs::read_link(fd.path())
                    && under(&t)
                {
                    return true;
                }
            }
        }
        if let Ok(maps) = std::fs::read_to_string(base.join("maps")) {
            for l in maps.lines() {
                if let Some(i) = l.find('/')
                    && under(Path::new(&l[i..]))
                {
                    return true;
                }
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_flags_follow_the_properties_as_zfs_mount_does() {
        let props = |pairs: &'static [(&'static str, &'static str)]| {
            move |p: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == p)
                    .map(|(_, v)| v.to_string())
            }
        };
        // Defaults: atime and relatime on, nothing else.
        assert_eq!(flags_from_props(props(&[])), libc::MS_RELATIME);
        assert_eq!(
            flags_from_props(props(&[("atime", "off"), ("relatime", "on")])),
            libc::MS_NOATIME
        );
        assert_eq!(
            flags_from_props(props(&[("atime", "on"), ("relatime", "off")])),
            libc::MS_STRICTATIME
        );
        assert_eq!(
            flags_from_props(props(&[
                ("devices", "off"),
                ("exec", "off"),
                ("setuid", "off"),
                ("readonly", "on"),
                ("relatime", "0"),
            ])),
            libc::MS_NODEV
                | libc::MS_NOEXEC
                | libc::MS_NOSUID
                | libc::MS_RDONLY
                | libc::MS_STRICTATIME
        );
    }

    #[test]
    fn mountinfo_zfs_lines() {
        let t = "36 25 0:32 / /data rw,relatime shared:1 - zfs tank/data rw,xattr\n\
                 37 25 0:33 / /srv/a\\040b rw - zfs tank/a\\040b rw\n\
                 22 1 8:1 / / rw - ext4 /dev/vda rw\n";
        assert_eq!(
            parse_mountinfo(t),
            vec![
                ("tank/data".into(), "/data".into()),
                ("tank/a b".into(), "/srv/a b".into())
            ]
        );
    }

    #[test]
    fn cmd_rejects_too_long_names() {
        let long = "a".repeat(zfs_cmd::MAXPATHLEN);
        let e = ZfsCmd::new(&long).err().map(|e| e.kind());
        assert_eq!(e, Some(ErrorKind::InvalidArgument));
    }
}
