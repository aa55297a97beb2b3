//! Lab tests of `datavault versions` (and `flocker_core::versions`), `restore-file --overwrite`
//! (the guard snapshot) and the tree restore's metadata (modes, owners, xattrs, a POSIX ACL,
//! hard links). The oracle for versions is the `zfs` CLI (`zfs list -t snapshot -s createtxg`)
//! with `stat`/`sha256sum` of each snapshot's copy under `.zfs/snapshot`; for the guard, `zfs
//! list -t snapshot` and the guard's own `.zfs/snapshot` copy.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use flocker_core::SnapshotName;
use flocker_core::diff::{self, Existing, RestoreOptions};
use flocker_core::error::ErrorKind;
use flocker_core::versions::{History, Search};
use flocker_tests::{
    Failed, Out, TestPool, TestResult, cli_snapshots, ensure, example_bin, fail,
    private_snapshot_mounts, run, sh, zfs_test,
};
use serde_json::Value;

fn zfs(args: &[&str]) -> Result<String, Failed> {
    sh("zfs", args)
}

fn shell(script: &str) -> TestResult {
    sh("sh", &["-ec", script]).map(|_| ())
}

fn dv_in(dir: Option<&Path>, args: &[&str]) -> Result<Out, Failed> {
    let mut c = Command::new(example_bin("datavault")?);
    c.args(args)
        .env("FLOCKER_STORE", "/var/tmp/flocker-versions-store");
    if let Some(d) = dir {
        c.current_dir(d);
    }
    Out::of(&mut c)
}

/// Runs datavault, which must succeed; its stdout as JSON.
fn dv_json(args: &[&str]) -> Result<Value, Failed> {
    dv_in(None, args)?.expect(0, ("datavault", args))?.json()
}

fn read(p: &Path) -> Result<String, Failed> {
    std::fs::read_to_string(p).map_err(|e| fail(format!("read {}: {e}", p.display())))
}

/// `fs@sNN` after running `script` in the mount point.
fn step(fs: &str, mnt: &Path, n: u32, script: &str) -> TestResult {
    if !script.is_empty() {
        shell(&format!("cd {}\n{script}", mnt.display()))?;
    }
    zfs(&["snapshot", &format!("{fs}@s{n:02}")]).map(|_| ())
}

const T: i64 = 1_700_000_000;

/// Writes `f` with `content` and mtime `T + dt` (shell).
fn put(content: &str, dt: i64) -> String {
    format!("printf '%s' '{content}' > f; touch -d @{} f", T + dt)
}

/// The file changed in some of 20 snapshots; the versions expected without and with
/// verification (short snapshot names per version, then the live-only one).
fn twenty(fs: &str, mnt: &Path) -> TestResult {
    for n in 1..=20u32 {
        let script = match n {
            1 => put("v1", 1),
            4 => put("version-two", 4),
            // Only the mtime changes: a new version.
            5 => format!("touch -d @{} f", T + 5),
            // Same size and mtime, other content: merged unless verified.
            9 => put("VERSION-TWO", 5),
            15 => put("five", 15),
            18 => "rm f".to_string(),
            // Re-created identical (content and mtime): the same version as at 15.
            19 => put("five", 15),
            _ => String::new(),
        };
        step(fs, mnt, n, &script)?;
    }
    shell(&format!("cd {}\n{}", mnt.display(), put("live-only", 30)))
}

fn range(a: u32, b: u32) -> Vec<String> {
    (a..=b).map(|n| format!("s{n:02}")).collect()
}

fn expected(verify: bool) -> Vec<(Vec<String>, bool)> {
    let mut five = range(15, 17);
    five.extend(range(19, 20));
    let mut v = vec![(range(1, 3), false), (range(4, 4), false)];
    if verify {
        v.push((range(5, 8), false));
        v.push((range(9, 14), false));
    } else {
        v.push((range(5, 14), false));
    }
    v.push((five, false));
    v.push((Vec::new(), true));
    v
}

/// (short snapshot names, live) of each version of a library history.
fn shape(h: &History) -> Vec<(Vec<String>, bool)> {
    h.versions
        .iter()
        .map(|v| {
            let names = v.snapshots.iter().map(|s| s.short_name().to_string());
            (names.collect(), v.live)
        })
        .collect()
}

/// The same from the CLI's JSON array; full names must be of `fs`.
fn json_shape(fs: &str, v: &Value) -> Result<Vec<(Vec<String>, bool)>, Failed> {
    let arr = v
        .as_array()
        .ok_or_else(|| fail(format!("not an array: {v}")))?;
    let mut out = Vec::new();
    for ver in arr {
        let mut names = Vec::new();
        for s in ver["snapshots"].as_array().into_iter().flatten() {
            let full = s.as_str().unwrap_or_default();
            let short = full
                .strip_prefix(&format!("{fs}@"))
                .ok_or_else(|| fail(format!("{full} is not a snapshot of {fs}")))?;
            names.push(short.to_string());
        }
        ensure!(
            ver["size"].is_u64() && ver["mtime"].is_string() && ver["type"] == "file",
            "fields of {ver}"
        );
        out.push((names, ver["live"].as_bool().unwrap_or(false)));
    }
    Ok(out)
}

/// The oracle: each snapshot (`zfs list`, createtxg order) with `stat` and `sha256sum` of its
/// copy of `rel`, grouped like the library groups (first appearance order, live last).
fn oracle(
    fs: &str,
    mnt: &Path,
    rel: &str,
    verify: bool,
) -> Result<Vec<(Vec<String>, bool)>, Failed> {
    let list = cli_snapshots(fs)?;
    let id = |p: &Path| -> Result<Option<String>, Failed> {
        if std::fs::symlink_metadata(p).is_err() {
            return Ok(None);
        }
        let ps = p.to_string_lossy();
        let mut s = sh("stat", &["-c", "%F %s %.9Y", &ps])?;
        if verify {
            s.push_str(&sh("sha256sum", &[&ps])?[..64]);
        }
        Ok(Some(s))
    };
    let mut order: Vec<String> = Vec::new();
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for name in &list {
        let short = name.split_once('@').map_or("", |(_, s)| s);
        let p = mnt.join(".zfs/snapshot").join(short).join(rel);
        if let Some(k) = id(&p)? {
            if !groups.contains_key(&k) {
                order.push(k.clone());
            }
            groups.entry(k).or_default().push(short.to_string());
        }
    }
    let live = id(&mnt.join(rel))?;
    let mut out: Vec<(Vec<String>, bool)> = order
        .iter()
        .map(|k| (groups[k].clone(), live.as_ref() == Some(k)))
        .collect();
    if let Some(l) = live
        && !groups.contains_key(&l)
    {
        out.push((Vec::new(), true));
    }
    Ok(out)
}

fn versions_of_twenty_snapshots() -> TestResult {
    let p = TestPool::new("vrtw", 256)?;
    let (fs, mnt) = p.mounted_fs("flocker-versions", &[])?;
    twenty(&fs, &mnt)?;
    let f = mnt.join("f");
    let fs_s = f.to_string_lossy().into_owned();
    for verify in [false, true] {
        let want = expected(verify);
        let orc = oracle(&fs, &mnt, "f", verify)?;
        ensure!(
            orc == want,
            "oracle (verify {verify}) {orc:?} != expected {want:?}"
        );
        for threads in [1, 8] {
            let h = Search::new()
                .verify(verify)
                .threads(threads)
                .versions(&f)
                .map_err(fail)?;
            ensure!(h.dataset.as_str() == fs && h.rel == Path::new("f"), "{h:?}");
            ensure!(
                shape(&h) == want,
                "library (verify {verify}, {threads} threads): {:?}",
                shape(&h)
            );
        }
        let mut args = vec!["versions", "--json", fs_s.as_str()];
        if verify {
            args.push("--verify");
        }
        let got = json_shape(&fs, &dv_json(&args)?)?;
        ensure!(got == want, "datavault {args:?}: {got:?}");
    }
    // Sizes and times of the library's versions are those of the files.
    let h = Search::new().versions(&f).map_err(fail)?;
    // A path inside a snapshot's copy stands for the same file.
    let in_snap = mnt.join(".zfs/snapshot/s05/f");
    let hs = Search::new().versions(&in_snap).map_err(fail)?;
    ensure!(hs == h, "through .zfs/snapshot/s05: {hs:?}");
    let sizes: Vec<u64> = h.versions.iter().map(|v| v.size).collect();
    ensure!(sizes == [2, 11, 11, 4, 9], "sizes {sizes:?}");
    let secs: Vec<i64> = h.versions.iter().map(|v| v.mtime.sec - T).collect();
    ensure!(secs == [1, 4, 5, 15, 30], "mtimes {secs:?}");
    let first = flocker_core::versions::contents(&h, &h.versions[0], 100).map_err(fail)?;
    ensure!(first == b"v1", "contents of the first version: {first:?}");
    let live = flocker_core::versions::contents(&h, &h.versions[4], 4).map_err(fail)?;
    ensure!(
        live == b"live",
        "first 4 bytes of the live version: {live:?}"
    );
    // Text: a header and one line per version, `(live)` on the last one only.
    let o = dv_in(None, &["versions", &fs_s])?.expect(0, "versions text")?;
    let lines: Vec<&str> = o.stdout.lines().collect();
    ensure!(
        lines.len() == 6
            && lines[0] == format!("{fs}:/f (5 versions)")
            && lines[3].contains("@s05..@s14 (10 snapshots)")
            && lines[5].ends_with("- (live)")
            && lines.iter().filter(|l| l.contains("(live)")).count() == 1,
        "text: {}",
        o.stdout
    );
    // Relative to the working directory, and two paths at once: an array of {path, versions}.
    let o = dv_in(Some(&mnt), &["versions", "--json", "f", "./f"])?.expect(0, "two")?;
    let v = o.json()?;
    ensure!(
        v.as_array().map(Vec::len) == Some(2)
            && v[0]["path"] == "f"
            && v[1]["dataset"] == fs.as_str()
            && v[1]["rel"] == "/f"
            && json_shape(&fs, &v[1]["versions"])? == expected(false),
        "two paths: {v}"
    );
    ensure!(
        private_snapshot_mounts(p.name()) == 0,
        "a private mount was left behind"
    );
    Ok(())
}

fn deleted_and_recreated() -> TestResult {
    let p = TestPool::new("vrdel", 256)?;
    let (fs, mnt) = p.mounted_fs("flocker-versions", &[])?;
    let f = mnt.join("f");
    step(&fs, &mnt, 1, &put("same", 10))?;
    step(&fs, &mnt, 2, "rm f")?;
    step(&fs, &mnt, 3, &put("same", 10))?;
    step(&fs, &mnt, 4, &format!("rm f; {}", put("same", 11)))?;
    shell(&format!("rm {}", f.display()))?;
    let want = vec![
        (vec!["s01".to_string(), "s03".to_string()], false),
        (vec!["s04".to_string()], false),
    ];
    ensure!(oracle(&fs, &mnt, "f", true)? == want, "oracle");
    let h = Search::new().verify(true).versions(&f).map_err(fail)?;
    ensure!(shape(&h) == want, "library: {:?}", shape(&h));
    let got = json_shape(
        &fs,
        &dv_json(&["versions", "--json", &f.to_string_lossy()])?,
    )?;
    ensure!(got == want, "datavault: {got:?}");
    // Never there: not found, exit 2, one line.
    let k = Search::new()
        .versions(&mnt.join("never"))
        .err()
        .map(|e| e.kind());
    ensure!(k == Some(ErrorKind::NotFound), "never: {k:?}");
    let o = dv_in(None, &["versions", &mnt.join("never").to_string_lossy()])?;
    ensure!(
        o.code == 2 && o.stderr.contains("nor in any of its 4 snapshot(s)"),
        "never via datavault: {} {}",
        o.code,
        o.stderr
    );
    Ok(())
}

fn deleted_entries() -> TestResult {
    let p = TestPool::new("vrdir", 256)?;
    let (fs, mnt) = p.mounted_fs("flocker-versions", &[])?;
    step(
        &fs,
        &mnt,
        1,
        "mkdir d d/sub; echo a > d/a; echo bb > d/b; echo c > d/c",
    )?;
    step(&fs, &mnt, 2, "rm d/a; echo bbb > d/b")?;
    step(&fs, &mnt, 3, "rm d/b; echo x > d/x; rm -r d/sub")?;
    shell(&format!("cd {}; rm d/x; echo new > d/new", mnt.display()))?;
    let d = mnt.join("d");
    let want = [
        ("/d/a", "s01"),
        ("/d/b", "s02"),
        ("/d/sub", "s02"),
        ("/d/x", "s03"),
    ];
    // The oracle: names in each snapshot's copy (zfs list order) but not now.
    let list = cli_snapshots(&fs)?;
    let mut last: BTreeMap<String, String> = BTreeMap::new();
    for name in &list {
        let short = name.split_once('@').map_or("", |(_, s)| s);
        let dir = mnt.join(".zfs/snapshot").join(short).join("d");
        for e in std::fs::read_dir(&dir).map_err(fail)? {
            let n = e.map_err(fail)?.file_name().to_string_lossy().into_owned();
            if !d.join(&n).exists() {
                last.insert(format!("/d/{n}"), short.to_string());
            }
        }
    }
    let orc: Vec<(&str, &str)> = last.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    ensure!(orc == want, "oracle {orc:?}");
    let lib = Search::new().deleted(&d).map_err(fail)?;
    let got: Vec<(String, String)> = lib
        .iter()
        .map(|e| (diff::slash(&e.rel), e.last.short_name().to_string()))
        .collect();
    let want_s: Vec<(String, String)> = want
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    ensure!(got == want_s, "library {got:?}");
    ensure!(
        lib[1].size == 4 && lib[2].file_type == diff::FileType::Dir,
        "{lib:?}"
    );
    let v = dv_json(&["versions", "--deleted", &d.to_string_lossy(), "--json"])?;
    let got: Vec<(String, String)> = v
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            let last = e["last"].as_str().unwrap_or_default();
            let short = last.strip_prefix(&format!("{fs}@")).unwrap_or("?");
            (
                e["path"].as_str().unwrap_or_default().to_string(),
                short.to_string(),
            )
        })
        .collect();
    ensure!(got == want_s, "datavault --deleted: {v}");
    // A file is not a directory: bad input.
    let k = Search::new().deleted(&d.join("c")).err().map(|e| e.kind());
    ensure!(
        k == Some(ErrorKind::InvalidArgument),
        "deleted of a file: {k:?}"
    );
    Ok(())
}

fn unmounted_dataset() -> TestResult {
    let p = TestPool::new("vrunm", 256)?;
    let (fs, mnt) = p.mounted_fs("flocker-versions", &[])?;
    twenty(&fs, &mnt)?;
    step(&fs, &mnt, 21, "mkdir d; echo 1 > d/one; echo 2 > d/two")?;
    shell(&format!("rm {}/d/one", mnt.display()))?;
    let f = mnt.join("f");
    let mounted = Search::new().versions(&f).map_err(fail)?;
    let mounted_del = Search::new().deleted(&mnt.join("d")).map_err(fail)?;
    let mounted_json = dv_json(&["versions", "--json", &f.to_string_lossy()])?;
    zfs(&["set", "canmount=noauto", &fs])?;
    zfs(&["unmount", &fs])?;
    ensure!(
        zfs(&["get", "-H", "-o", "value", "mounted", &fs])?.trim() == "no",
        "still mounted"
    );
    ensure!(!f.exists(), "the file is visible while unmounted");
    let h = Search::new().versions(&f).map_err(fail)?;
    ensure!(h == mounted, "unmounted {h:?} != mounted {mounted:?}");
    // @s21 holds the version that was live-only before it.
    let mut want = expected(false);
    if let Some(last) = want.last_mut() {
        last.0 = vec!["s21".to_string()];
    }
    ensure!(shape(&h) == want, "unmounted shape {:?}", shape(&h));
    let del = Search::new().deleted(&mnt.join("d")).map_err(fail)?;
    ensure!(
        del == mounted_del && del.len() == 1 && del[0].rel == Path::new("d/one"),
        "deleted unmounted {del:?} vs {mounted_del:?}"
    );
    let v = dv_json(&["versions", "--json", &f.to_string_lossy()])?;
    ensure!(
        v == mounted_json,
        "datavault unmounted {v} != mounted {mounted_json}"
    );
    let c = flocker_core::versions::contents(&h, &h.versions[4], 100).map_err(fail)?;
    ensure!(c == b"live-only", "live contents while unmounted: {c:?}");
    ensure!(
        zfs(&["get", "-H", "-o", "value", "mounted", &fs])?.trim() == "no",
        "the search left the filesystem mounted"
    );
    ensure!(
        private_snapshot_mounts(p.name()) == 0,
        "a private mount was left behind"
    );
    Ok(())
}

/// The guard snapshots of `fs` (short names), from the `zfs` CLI.
fn guards(fs: &str) -> Result<Vec<String>, Failed> {
    let prefix = format!("{fs}@");
    Ok(cli_snapshots(fs)?
        .iter()
        .filter_map(|l| l.strip_prefix(&prefix).map(str::to_string))
        .filter(|s| s.starts_with("guard-"))
        .collect())
}

fn guarded_overwrite() -> TestResult {
    let p = TestPool::new("vrgrd", 256)?;
    let (fs, mnt) = p.mounted_fs("flocker-versions", &[])?;
    step(
        &fs,
        &mnt,
        1,
        "echo snap > f; mkdir d; echo one > d/one; echo keep > other",
    )?;
    shell(&format!(
        "cd {}; echo current > f; echo two > d/two; rm d/one",
        mnt.display()
    ))?;
    let other = std::fs::metadata(mnt.join("other")).map_err(fail)?;
    let s1 = format!("{fs}@s01");
    let v = dv_json(&["restore-file", "--json", &s1, "f", "--overwrite"])?;
    let guard = v["guard"].as_str().unwrap_or_default().to_string();
    let short = guard
        .strip_prefix(&format!("{fs}@"))
        .unwrap_or_default()
        .to_string();
    ensure!(
        guards(&fs)? == [short.clone()],
        "zfs list: guards {:?}, JSON {v}",
        guards(&fs)?
    );
    ensure!(
        short.len() == "guard-20261206T081507Z".len() && short.ends_with('Z'),
        "guard name {short}"
    );
    let in_guard = mnt.join(".zfs/snapshot").join(&short);
    ensure!(
        read(&in_guard.join("f"))? == "current\n",
        "the guard holds the old content"
    );
    ensure!(read(&mnt.join("f"))? == "snap\n", "f not restored");
    ensure!(v["set_aside"].is_null(), "nothing set aside: {v}");
    // A directory: replaced whole, the guard holds the old one; nothing else touched.
    let o = dv_in(None, &["restore-file", &s1, "d", "--overwrite"])?.expect(0, "dir")?;
    let all = guards(&fs)?;
    ensure!(all.len() == 2 && all[0] == short, "guards {all:?}");
    ensure!(
        o.stdout
            .contains(&format!("guard snapshot {fs}@{}", all[1])),
        "text output: {}",
        o.stdout
    );
    let names = |p: &Path| -> Result<Vec<String>, Failed> {
        let mut v: Vec<String> = std::fs::read_dir(p)
            .map_err(fail)?
            .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect::<Result<_, _>>()
            .map_err(fail)?;
        v.sort();
        Ok(v)
    };
    ensure!(
        names(&mnt.join("d"))? == ["one"],
        "d: {:?}",
        names(&mnt.join("d"))?
    );
    let g2 = mnt.join(".zfs/snapshot").join(&all[1]).join("d");
    ensure!(names(&g2)? == ["two"], "the guard's d: {:?}", names(&g2)?);
    ensure!(
        names(&mnt)? == ["d", "f", "other"],
        "top: {:?}",
        names(&mnt)?
    );
    let after = std::fs::metadata(mnt.join("other")).map_err(fail)?;
    ensure!(
        after.ino() == other.ino()
            && after.mtime() == other.mtime()
            && read(&mnt.join("other"))? == "keep\n",
        "other was touched"
    );
    // The library: the report names the guard; a destination outside the live mount is
    // refused before any snapshot.
    let snap = SnapshotName::new(&s1).map_err(fail)?;
    let mut opts = RestoreOptions {
        existing: Existing::Overwrite,
        ..RestoreOptions::default()
    };
    let r = diff::restore(&snap, "f", &opts).map_err(fail)?;
    ensure!(
        r.guard.as_ref().map(|g| g.short_name().to_string()) == guards(&fs)?.last().cloned(),
        "report guard {:?}",
        r.guard
    );
    let before = guards(&fs)?.len();
    opts.dest = Some(PathBuf::from("/var/tmp/flocker-versions-outside"));
    let _ = std::fs::write("/var/tmp/flocker-versions-outside", "x");
    let k = diff::restore(&snap, "f", &opts).err().map(|e| e.kind());
    ensure!(k == Some(ErrorKind::InvalidArgument), "outside: {k:?}");
    ensure!(
        guards(&fs)?.len() == before,
        "a guard was taken for a refused overwrite"
    );
    let _ = std::fs::remove_file("/var/tmp/flocker-versions-outside");
    Ok(())
}

fn c(p: &Path) -> Result<CString, Failed> {
    CString::new(p.as_os_str().as_bytes()).map_err(fail)
}

fn set_xattr(p: &Path, name: &str, value: &[u8]) -> TestResult {
    let (cp, cn) = (c(p)?, CString::new(name).map_err(fail)?);
    // SAFETY: NUL-terminated path and name, a readable buffer of the given length.
    let rc = unsafe {
        libc::lsetxattr(
            cp.as_ptr(),
            cn.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    ensure!(
        rc == 0,
        "setxattr {name} on {}: {}",
        p.display(),
        std::io::Error::last_os_error()
    );
    Ok(())
}

/// Every extended attribute of `p` (not followed), name → value.
fn xattrs(p: &Path) -> Result<BTreeMap<String, Vec<u8>>, Failed> {
    let cp = c(p)?;
    let mut names = vec![0u8; 65536];
    // SAFETY: a NUL-terminated path and a writable buffer of the given length.
    let n = unsafe { libc::llistxattr(cp.as_ptr(), names.as_mut_ptr().cast(), names.len()) };
    ensure!(
        n >= 0,
        "listxattr {}: {}",
        p.display(),
        std::io::Error::last_os_error()
    );
    names.truncate(n.unsigned_abs());
    let mut out = BTreeMap::new();
    for name in names.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let cn = CString::new(name).map_err(fail)?;
        let mut v = vec![0u8; 65536];
        // SAFETY: NUL-terminated path and name, a writable buffer of the given length.
        let m =
            unsafe { libc::lgetxattr(cp.as_ptr(), cn.as_ptr(), v.as_mut_ptr().cast(), v.len()) };
        ensure!(m >= 0, "getxattr: {}", std::io::Error::last_os_error());
        v.truncate(m.unsigned_abs());
        out.insert(String::from_utf8_lossy(name).into_owned(), v);
    }
    Ok(out)
}

/// A POSIX ACL in the kernel's xattr form: version 2, then (tag, perm, id) entries sorted by
/// tag: user::rw-, user:1234:rw-, group::r--, mask::rw-, other::---.
fn acl_bytes() -> Vec<u8> {
    const UNDEF: u32 = u32::MAX;
    let mut b = 2u32.to_le_bytes().to_vec();
    for (tag, perm, id) in [
        (0x01u16, 6u16, UNDEF),
        (0x02, 6, 1234),
        (0x04, 4, UNDEF),
        (0x10, 6, UNDEF),
        (0x20, 0, UNDEF),
    ] {
        b.extend(tag.to_le_bytes());
        b.extend(perm.to_le_bytes());
        b.extend(id.to_le_bytes());
    }
    b
}

fn tree_restore_metadata() -> TestResult {
    let p = TestPool::new("vrmeta", 256)?;
    let (fs, mnt) = p.mounted_fs("flocker-versions", &["acltype=posixacl", "xattr=sa"])?;
    shell(&format!(
        "cd {}; mkdir -p t/sub; echo data > t/file; chmod 640 t/file; chown 1234:5678 t/file
         ln t/file t/sub/hard; ln -s ../file t/sub/link; chmod 2750 t/sub; chown 42:43 t/sub
         echo plain > t/plain; chmod 604 t/plain; touch -d @{T} t/file t/sub",
        mnt.display()
    ))?;
    let t = mnt.join("t");
    set_xattr(&t.join("file"), "user.origin", b"lab\0binary")?;
    set_xattr(&t.join("sub"), "user.dir", b"yes")?;
    set_xattr(&t.join("file"), "system.posix_acl_access", &acl_bytes())?;
    set_xattr(&t.join("sub"), "system.posix_acl_default", &acl_bytes())?;
    // Setting the access ACL set the group bits to the mask (rw-): mode 0660 now.
    let mode = std::fs::symlink_metadata(t.join("file"))
        .map_err(fail)?
        .mode()
        & 0o7777;
    ensure!(mode == 0o660, "mode after setting the ACL: {mode:o}");
    if Path::new("/usr/bin/getfacl").exists() {
        let acl = sh("getfacl", &["-n", "-p", &t.join("file").to_string_lossy()])?;
        ensure!(acl.contains("user:1234:rw-"), "getfacl: {acl}");
    }
    zfs(&["snapshot", &format!("{fs}@s1")])?;
    let dest = mnt.join("restored");
    let v = dv_json(&[
        "restore-file",
        "--json",
        &format!("{fs}@s1"),
        "t",
        "--to",
        &dest.to_string_lossy(),
    ])?;
    ensure!(
        v["hard_links"] == 1 && v["xattrs"].as_u64() >= Some(4),
        "report {v}"
    );
    let snap_t = mnt.join(".zfs/snapshot/s1/t");
    for rel in ["", "file", "plain", "sub", "sub/hard", "sub/link"] {
        let (s, d) = (snap_t.join(rel), dest.join(rel));
        let (sm, dm) = (
            std::fs::symlink_metadata(&s).map_err(fail)?,
            std::fs::symlink_metadata(&d).map_err(fail)?,
        );
        ensure!(
            (sm.mode(), sm.uid(), sm.gid(), sm.mtime(), sm.size())
                == (dm.mode(), dm.uid(), dm.gid(), dm.mtime(), dm.size()),
            "t/{rel}: snapshot {sm:?} vs restored {dm:?}"
        );
        let (sx, dx) = (xattrs(&s)?, xattrs(&d)?);
        ensure!(sx == dx, "t/{rel}: xattrs {sx:?} vs {dx:?}");
    }
    let fx = xattrs(&dest.join("file"))?;
    ensure!(
        fx.get("user.origin").map(Vec::as_slice) == Some(&b"lab\0binary"[..])
            && fx.get("system.posix_acl_access") == Some(&acl_bytes()),
        "file xattrs {fx:?}"
    );
    let dx = xattrs(&dest.join("sub"))?;
    ensure!(
        dx.contains_key("system.posix_acl_default"),
        "default ACL {dx:?}"
    );
    let (a, b) = (
        std::fs::metadata(dest.join("file")).map_err(fail)?,
        std::fs::metadata(dest.join("sub/hard")).map_err(fail)?,
    );
    ensure!(a.ino() == b.ino() && a.nlink() == 2, "hard link not kept");
    ensure!(read(&dest.join("file"))? == "data\n", "content");
    if Path::new("/usr/bin/getfacl").exists() {
        let acl = sh(
            "getfacl",
            &["-n", "-p", &dest.join("file").to_string_lossy()],
        )?;
        ensure!(acl.contains("user:1234:rw-"), "getfacl restored: {acl}");
    }
    Ok(())
}

fn main() {
    run(vec![
        zfs_test("versions::twenty_snapshots", versions_of_twenty_snapshots),
        zfs_test("versions::deleted_and_recreated", deleted_and_recreated),
        zfs_test("versions::deleted_entries", deleted_entries),
        zfs_test("versions::unmounted_dataset", unmounted_dataset),
        zfs_test("versions::guarded_overwrite", guarded_overwrite),
        zfs_test("versions::tree_restore_metadata", tree_restore_metadata),
    ])
}
