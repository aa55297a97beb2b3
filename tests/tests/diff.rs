//! Lab tests of `datavault diff`, `datavault browse` and `datavault restore-file` (and so of
//! `flocker_core::diff`). `zfs diff -H` is the oracle for the diff (snapshot → snapshot and
//! snapshot → live, mounted and unmounted datasets); `ls`/`stat` of `.zfs/snapshot` for
//! browse; file contents and metadata read back for restore.

use std::collections::BTreeSet;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use flocker_core::diff::{self, FileType};
use flocker_core::error::ErrorKind;
use flocker_core::name::SnapshotName;
use flocker_tests::{
    Failed, Out, TestPool, TestResult, ensure, example_bin, fail, private_snapshot_mounts, run, sh,
    zfs_test,
};

fn zfs(args: &[&str]) -> Result<String, Failed> {
    sh("zfs", args)
}

fn dv(args: &[&str]) -> Result<Out, Failed> {
    Out::of(
        Command::new(example_bin("datavault")?)
            .args(args)
            .env("FLOCKER_STORE", "/var/tmp/flocker-diff-store"),
    )
}

/// Runs datavault, which must succeed; its stdout as JSON.
fn dv_json(args: &[&str]) -> Result<serde_json::Value, Failed> {
    dv(args)?.expect(0, ("datavault", args))?.json()
}

/// Runs datavault, which must fail with `code` and one line on stderr containing `needle`.
fn dv_fails(args: &[&str], code: i32, needle: &str) -> TestResult {
    let o = dv(args)?;
    let err = o.stderr;
    ensure!(
        o.code == code,
        "datavault {args:?}: exit {}, expected {code}: {err}",
        o.code
    );
    ensure!(
        !err.contains("panicked"),
        "datavault {args:?} panicked: {err}"
    );
    let first = err.lines().next().unwrap_or("");
    ensure!(
        first.to_lowercase().contains(&needle.to_lowercase()),
        "datavault {args:?}: {first:?} does not mention {needle:?}"
    );
    if code != 2 {
        ensure!(
            err.trim().lines().count() == 1,
            "datavault {args:?}: not one line: {err:?}"
        );
    }
    Ok(())
}

fn write(p: &Path, s: &str) -> TestResult {
    std::fs::write(p, s).map_err(|e| fail(format!("write {}: {e}", p.display())))
}

fn read(p: &Path) -> Result<String, Failed> {
    std::fs::read_to_string(p).map_err(|e| fail(format!("read {}: {e}", p.display())))
}

fn shell(script: &str) -> TestResult {
    sh("sh", &["-ec", script]).map(|_| ())
}

/// A filesystem `pool/fs` mounted at a private directory, with a first tree of files.
fn fixture(p: &TestPool) -> Result<(String, PathBuf), Failed> {
    let (fs, mnt) = p.mounted_fs("flocker-diff", &[])?;
    let m = mnt.display();
    shell(&format!(
        "cd {m}
         echo alpha > a; echo bravo > b; echo charlie > c
         mkdir -p d/inner e sub/deep
         echo x > d/x; echo y > d/inner/y; echo z > e/z; echo deep > sub/deep/file
         ln -s a link; ln -s e linkdir
         echo secret > private; chmod 600 private; chmod 750 d
         touch -d '2001-02-03 04:05:06' c
         mkfifo pipe"
    ))?;
    Ok((fs, mnt))
}

/// The changes made between `@s1` and `@s2`.
fn first_changes(mnt: &Path) -> TestResult {
    let m = mnt.display();
    shell(&format!(
        "cd {m}
         echo more >> a
         rm b
         mv c c2
         mv d d2
         mkdir n; echo new > n/f
         chmod 700 e/z
         rm link; ln -s b link
         touch sub/deep/file
         ln a hard
         echo tmp > gone-before-snapshot; rm gone-before-snapshot
         rm -r sub/deep"
    ))
}

/// The changes made after `@s2` (seen only by snapshot → live diffs).
fn second_changes(mnt: &Path) -> TestResult {
    let m = mnt.display();
    shell(&format!(
        "cd {m}
         echo again >> n/f
         mv e e2
         rm hard
         echo later > later
         rm pipe; mkdir pipe"
    ))
}

type Set = BTreeSet<(String, String, Option<String>)>;

/// `zfs diff -H FROM TO` as (kind, path relative to the mountpoint, new path).
fn oracle(from: &str, to: &str, mnt: &Path) -> Result<Set, Failed> {
    let out = zfs(&["diff", "-H", from, to])?;
    let m = mnt.to_string_lossy().to_string();
    let rel = |p: &str| -> Result<String, Failed> {
        let r = p
            .strip_prefix(&m)
            .ok_or_else(|| fail(format!("{p} is not under {m}")))?;
        Ok(if r.is_empty() || r == "/" {
            "/".to_string()
        } else {
            r.trim_end_matches('/').to_string()
        })
    };
    let mut set = Set::new();
    for line in out.lines().filter(|l| !l.is_empty()) {
        let f: Vec<&str> = line.split('\t').collect();
        ensure!(f.len() >= 2, "odd zfs diff line {line:?}");
        let new = match (f[0], f.get(2)) {
            ("R", Some(n)) => Some(rel(n)?),
            _ => None,
        };
        set.insert((f[0].to_string(), rel(f[1])?, new));
    }
    Ok(set)
}

/// Our diff as the same set.
fn ours(from: &str, to: &str) -> Result<Set, Failed> {
    let v = dv_json(&["diff", "--json", from, to])?;
    let list = v["changes"]
        .as_array()
        .ok_or_else(|| fail(format!("no changes array: {v}")))?;
    let mut set = Set::new();
    for c in list {
        let sym = match c["change"].as_str() {
            Some("added") => "+",
            Some("removed") => "-",
            Some("modified") => "M",
            Some("renamed") => "R",
            other => return Err(fail(format!("odd change {other:?}"))),
        };
        let path = c["path"].as_str().unwrap_or("?").to_string();
        let new = c["new_path"].as_str().map(str::to_string);
        set.insert((sym.to_string(), path, new));
    }
    Ok(set)
}

fn same(what: &str, ours: &Set, oracle: &Set) -> TestResult {
    ensure!(
        ours == oracle,
        "{what}: differs from zfs diff\n only ours: {:?}\n only zfs: {:?}",
        ours.difference(oracle).collect::<Vec<_>>(),
        oracle.difference(ours).collect::<Vec<_>>()
    );
    Ok(())
}

fn expect(set: &Set, kind: &str, path: &str, new: Option<&str>) -> TestResult {
    ensure!(
        set.contains(&(kind.to_string(), path.to_string(), new.map(str::to_string))),
        "{kind} {path} {new:?} missing from {set:?}"
    );
    Ok(())
}

fn snap_to_snap_and_live() -> TestResult {
    let p = TestPool::new("dfmain", 256)?;
    let (fs, mnt) = fixture(&p)?;
    zfs(&["snapshot", &format!("{fs}@s1")])?;
    first_changes(&mnt)?;
    zfs(&["snapshot", &format!("{fs}@s2")])?;
    let (s1, s2) = (format!("{fs}@s1"), format!("{fs}@s2"));
    let got = ours(&s1, &s2)?;
    same("s1 -> s2", &got, &oracle(&s1, &s2, &mnt)?)?;
    // The kinds the fixture exercises are all there (so the comparison is not vacuous).
    expect(&got, "M", "/", None)?;
    expect(&got, "M", "/a", None)?;
    expect(&got, "-", "/b", None)?;
    expect(&got, "R", "/c", Some("/c2"))?;
    expect(&got, "R", "/d", Some("/d2"))?;
    expect(&got, "+", "/n/f", None)?;
    expect(&got, "-", "/sub/deep/file", None)?;
    expect(&got, "M", "/e/z", None)?;
    ensure!(
        !got.iter()
            .any(|(_, p, _)| p.starts_with("/d2/") || p == "/gone-before-snapshot"),
        "children of a renamed directory or short-lived files reported: {got:?}"
    );
    // The hard link: reported on the file with its link count change.
    let v = dv_json(&["diff", "--json", &s1, &s2])?;
    let a = v["changes"]
        .as_array()
        .and_then(|l| l.iter().find(|c| c["path"] == "/a").cloned())
        .ok_or_else(|| fail("no /a"))?;
    ensure!(
        a["links_delta"] == 1 && a["linked"][0] == "/hard",
        "hard link of /a: {a}"
    );
    // Snapshot -> live, after more changes.
    second_changes(&mnt)?;
    let got = ours(&s2, &fs)?;
    same("s2 -> live", &got, &oracle(&s2, &fs, &mnt)?)?;
    expect(&got, "R", "/e", Some("/e2"))?;
    expect(&got, "-", "/pipe", None)?;
    expect(&got, "+", "/pipe", None)?;
    let got = ours(&s1, &fs)?;
    same("s1 -> live", &got, &oracle(&s1, &fs, &mnt)?)?;
    // Identical snapshot: nothing.
    ensure!(ours(&s1, &s1)?.is_empty(), "s1 -> s1 not empty");
    // Human output: zfs diff -F style lines.
    let o = dv(&["diff", &s1, &s2])?;
    let text = &o.stdout;
    ensure!(
        o.code == 0
            && text.lines().any(|l| l == "R\tF\t/c -> /c2")
            && text.lines().any(|l| l == "M\tF\t/a\t(+1)")
            && o.stderr.is_empty(),
        "human output: {text}"
    );
    ensure!(
        private_snapshot_mounts(p.name()) == 0,
        "a private mount was left behind"
    );
    Ok(())
}

fn unmounted_dataset() -> TestResult {
    let p = TestPool::new("dfunm", 256)?;
    let (fs, mnt) = fixture(&p)?;
    zfs(&["snapshot", &format!("{fs}@s1")])?;
    first_changes(&mnt)?;
    zfs(&["snapshot", &format!("{fs}@s2")])?;
    second_changes(&mnt)?;
    let (s1, s2) = (format!("{fs}@s1"), format!("{fs}@s2"));
    zfs(&["set", "mountpoint=none", &fs])?;
    ensure!(
        zfs(&["get", "-H", "-o", "value", "mounted", &fs])?.trim() == "no",
        "still mounted"
    );
    let snap_snap = ours(&s1, &s2)?;
    let snap_live = ours(&s2, &fs)?;
    // Browse and restore with --to work too.
    let v = dv_json(&["browse", "--json", &s1, "d"])?;
    let names: BTreeSet<&str> = v["entries"]
        .as_array()
        .map(|l| l.iter().filter_map(|e| e["name"].as_str()).collect())
        .unwrap_or_default();
    ensure!(
        names == BTreeSet::from(["inner", "x"]),
        "browse d: {names:?}"
    );
    let dest = PathBuf::from(format!("/var/tmp/flocker-diff/{}/out-c", p.name()));
    dv_json(&[
        "restore-file",
        "--json",
        &s1,
        "c",
        "--to",
        &dest.to_string_lossy(),
    ])?;
    ensure!(read(&dest)? == "charlie\n", "restored c");
    // Without --to there is no place to restore to: refused, nothing changed.
    dv_fails(&["restore-file", &s1, "c"], 1, "not mounted")?;
    ensure!(
        private_snapshot_mounts(p.name()) == 0,
        "a private mount was left behind"
    );
    ensure!(
        zfs(&["get", "-H", "-o", "value", "mounted", &fs])?.trim() == "no",
        "the diff left the filesystem mounted"
    );
    // The oracle needs the filesystem mounted.
    zfs(&["set", &format!("mountpoint={}", mnt.display()), &fs])?;
    same("unmounted s1 -> s2", &snap_snap, &oracle(&s1, &s2, &mnt)?)?;
    same("unmounted s2 -> live", &snap_live, &oracle(&s2, &fs, &mnt)?)?;
    ensure!(snap_snap.len() > 5, "too few changes: {snap_snap:?}");
    Ok(())
}

fn browse_like_ls() -> TestResult {
    let p = TestPool::new("dfbr", 256)?;
    let (fs, mnt) = fixture(&p)?;
    zfs(&["snapshot", &format!("{fs}@s1")])?;
    first_changes(&mnt)?;
    let s1 = format!("{fs}@s1");
    let snapdir = mnt.join(".zfs/snapshot/s1");
    for (arg, dir) in [("", ""), ("/", ""), ("d", "d"), ("d/inner", "d/inner")] {
        let v = dv_json(&["browse", "--json", &s1, arg])?;
        let ls = sh("ls", &["-A", &snapdir.join(dir).to_string_lossy()])?;
        let want: Vec<&str> = ls.lines().collect();
        let entries = v["entries"].as_array().ok_or_else(|| fail("no entries"))?;
        let got: Vec<&str> = entries.iter().filter_map(|e| e["name"].as_str()).collect();
        ensure!(got == want, "browse {arg:?}: {got:?} != ls {want:?}");
        for e in entries {
            let name = e["name"].as_str().unwrap_or("");
            let md = std::fs::symlink_metadata(snapdir.join(dir).join(name)).map_err(fail)?;
            ensure!(
                e["size"] == md.size()
                    && e["mtime_unix"] == md.mtime()
                    && e["mode"] == format!("{:04o}", md.mode() & 0o7777)
                    && e["uid"] == md.uid()
                    && e["nlink"] == md.nlink()
                    && e["object"] == md.ino(),
                "browse {arg:?}/{name}: {e} vs stat {md:?}"
            );
        }
    }
    // Types and a symlink's target, from the library directly.
    let snap = SnapshotName::new(&s1).map_err(fail)?;
    match diff::browse(&snap, "").map_err(fail)? {
        diff::Listing::Dir { entries, .. } => {
            let ty = |n: &str| {
                entries
                    .iter()
                    .find(|e| e.name == n)
                    .map(|e| (e.meta.file_type, e.link_target.clone()))
            };
            ensure!(ty("a") == Some((FileType::File, None)), "a");
            ensure!(ty("d") == Some((FileType::Dir, None)), "d");
            ensure!(ty("pipe") == Some((FileType::Fifo, None)), "pipe");
            ensure!(
                ty("link") == Some((FileType::Symlink, Some(PathBuf::from("a")))),
                "link: {:?}",
                ty("link")
            );
        }
        other => return Err(fail(format!("root is not a directory: {other:?}"))),
    }
    // One file's metadata, by relative and by absolute path; the snapshot's content.
    let v = dv_json(&["browse", "--json", &s1, "c"])?;
    let abs = mnt.join("c");
    let v2 = dv_json(&["browse", "--json", &s1, &abs.to_string_lossy()])?;
    ensure!(v["entry"] == v2["entry"], "relative vs absolute: {v} {v2}");
    let md = std::fs::symlink_metadata(snapdir.join("c")).map_err(fail)?;
    ensure!(
        v["entry"]["type"] == "file"
            && v["entry"]["size"] == 8
            && v["entry"]["mtime_unix"] == md.mtime()
            && v.get("entries").is_none(),
        "browse c: {v}"
    );
    let o = dv(&["browse", &s1, "d"])?;
    let text = &o.stdout;
    ensure!(
        o.code == 0
            && text
                .lines()
                .any(|l| l.starts_with("drwxr-xr-x") && l.ends_with(" inner")),
        "human browse: {text}"
    );
    Ok(())
}

fn restore_file_and_dir() -> TestResult {
    let p = TestPool::new("dfrs", 256)?;
    let (fs, mnt) = fixture(&p)?;
    shell(&format!(
        "cd {}; chmod 640 d/x; ln d/x d/inner/x-link; ln -s ../x d/inner/up; \
         chown 1234:5678 d/inner/y; touch -d '1999-12-31 23:59:58' d/inner d/x",
        mnt.display()
    ))?;
    zfs(&["snapshot", &format!("{fs}@s1")])?;
    first_changes(&mnt)?;
    let s1 = format!("{fs}@s1");
    let snapdir = mnt.join(".zfs/snapshot/s1");
    // A removed file comes back in place, with content, mode and mtime.
    ensure!(!mnt.join("b").exists(), "b still there");
    let v = dv_json(&["restore-file", "--json", &s1, "b"])?;
    ensure!(
        v["set_aside"].is_null() && v["files"] == 1,
        "restore b: {v}"
    );
    ensure!(read(&mnt.join("b"))? == "bravo\n", "b content");
    let (a, b) = (
        std::fs::symlink_metadata(snapdir.join("private")).map_err(fail)?,
        std::fs::symlink_metadata(mnt.join("private")).map_err(fail)?,
    );
    ensure!(a.ino() == b.ino(), "private should be untouched so far");
    // A renamed-away directory comes back recursively.
    let v = dv_json(&["restore-file", "--json", &s1, "/d"])?;
    ensure!(v["dirs"] == 2 && v["hard_links"] == 1, "restore d: {v}");
    for rel in ["", "x", "inner", "inner/y", "inner/x-link", "inner/up"] {
        let src = snapdir.join("d").join(rel);
        let dst = mnt.join("d").join(rel);
        let (s, d) = (
            std::fs::symlink_metadata(&src).map_err(fail)?,
            std::fs::symlink_metadata(&dst).map_err(fail)?,
        );
        ensure!(
            s.mode() == d.mode()
                && s.uid() == d.uid()
                && s.gid() == d.gid()
                && s.mtime() == d.mtime()
                && s.mtime_nsec() == d.mtime_nsec()
                && s.size() == d.size()
                && s.file_type() == d.file_type(),
            "d/{rel}: snapshot {s:?} vs restored {d:?}"
        );
        if s.is_file() {
            ensure!(read(&src)? == read(&dst)?, "d/{rel} content");
        }
    }
    let link = std::fs::read_link(mnt.join("d/inner/up")).map_err(fail)?;
    ensure!(link == Path::new("../x"), "symlink target {link:?}");
    let (x, xl) = (
        std::fs::metadata(mnt.join("d/x")).map_err(fail)?,
        std::fs::metadata(mnt.join("d/inner/x-link")).map_err(fail)?,
    );
    ensure!(x.ino() == xl.ino() && x.nlink() == 2, "hard link not kept");
    ensure!(
        std::fs::symlink_metadata(mnt.join("d/inner/y"))
            .map_err(fail)?
            .uid()
            == 1234,
        "owner"
    );
    ensure!(read(&mnt.join("d2/x"))? == "x\n", "d2 untouched");
    // A symlink is restored as a symlink (not followed).
    let dest = mnt.join("linkdir-restored");
    dv_json(&[
        "restore-file",
        "--json",
        &s1,
        "linkdir",
        "--to",
        &dest.to_string_lossy(),
    ])?;
    ensure!(
        std::fs::read_link(&dest).map_err(fail)? == Path::new("e"),
        "symlink restore"
    );
    // No temporary files left behind.
    let left: Vec<String> = std::fs::read_dir(&mnt)
        .map_err(fail)?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.contains("flocker-restore"))
        .collect();
    ensure!(left.is_empty(), "temporary files left: {left:?}");
    ensure!(
        private_snapshot_mounts(p.name()) == 0,
        "a private mount was left behind"
    );
    Ok(())
}

fn restore_onto_existing() -> TestResult {
    let p = TestPool::new("dfex", 256)?;
    let (fs, mnt) = fixture(&p)?;
    zfs(&["snapshot", &format!("{fs}@s1")])?;
    first_changes(&mnt)?;
    let s1 = format!("{fs}@s1");
    let live_a = read(&mnt.join("a"))?;
    ensure!(live_a == "alpha\nmore\n", "fixture a: {live_a:?}");
    // Refused by default (exit 3), nothing changed.
    dv_fails(&["restore-file", &s1, "a"], 3, "exists")?;
    ensure!(
        read(&mnt.join("a"))? == live_a,
        "a changed by a refused restore"
    );
    ensure!(
        !mnt.join("a.before-restore-s1").exists(),
        "aside made on refusal"
    );
    // A directory onto an existing directory: refused too.
    dv_fails(&["restore-file", &s1, "e"], 3, "exists")?;
    // --rename-existing keeps the existing file aside and says so.
    let v = dv_json(&["restore-file", "--json", "--rename-existing", &s1, "a"])?;
    let aside = mnt.join("a.before-restore-s1");
    ensure!(
        v["set_aside"] == aside.to_string_lossy().as_ref(),
        "set_aside: {v}"
    );
    ensure!(read(&mnt.join("a"))? == "alpha\n", "a not restored");
    ensure!(read(&aside)? == live_a, "the existing a was lost");
    // Again: the aside name is taken, a numbered one is used; still nothing lost.
    write(&mnt.join("a"), "third\n")?;
    let o = dv(&["restore-file", "--rename-existing", &s1, "a"])?;
    let text = &o.stdout;
    ensure!(
        o.code == 0 && text.contains("a.before-restore-s1.1"),
        "second restore: {text}"
    );
    ensure!(
        read(&mnt.join("a.before-restore-s1.1"))? == "third\n" && read(&aside)? == live_a,
        "numbered aside"
    );
    // --to elsewhere leaves the original alone.
    let other = mnt.join("copy-of-e");
    dv_json(&[
        "restore-file",
        "--json",
        &s1,
        "e",
        "--to",
        &other.to_string_lossy(),
    ])?;
    ensure!(read(&other.join("z"))? == "z\n", "e copied");
    let mode = std::fs::metadata(mnt.join("e/z"))
        .map_err(fail)?
        .permissions()
        .mode();
    ensure!(mode & 0o777 == 0o700, "live e/z changed: {mode:o}");
    Ok(())
}

/// A listing of the live tree (path, size, mtime, mode) to check that errors change nothing.
fn tree_state(mnt: &Path) -> Result<String, Failed> {
    sh(
        "find",
        &[&mnt.to_string_lossy(), "-printf", "%P %s %T@ %m %y\n"],
    )
    .map(|s| {
        let mut l: Vec<&str> = s.lines().collect();
        l.sort();
        l.join("\n")
    })
}

fn errors() -> TestResult {
    let p = TestPool::new("dferr", 256)?;
    let (fs, mnt) = fixture(&p)?;
    zfs(&["snapshot", &format!("{fs}@s1")])?;
    let s1 = format!("{fs}@s1");
    let other = p.ds("other");
    zfs(&["create", &other])?;
    zfs(&["snapshot", &format!("{other}@o")])?;
    let before = tree_state(&mnt)?;
    let snaps_before = zfs(&["list", "-H", "-t", "all", "-o", "name", "-r", p.name()])?;
    let nofs = p.ds("nope");
    let nosnap = format!("{fs}@nosuch");
    let to = format!("/var/tmp/flocker-diff/{}/never", p.name());
    // Unknown dataset, missing snapshot, bad names: exit 1, one line naming the problem.
    dv_fails(&["diff", &format!("{nofs}@s1"), &nofs], 1, "not found")?;
    dv_fails(&["diff", &nosnap, &fs], 1, "no such snapshot")?;
    dv_fails(&["diff", &s1, &nosnap], 1, "no such snapshot")?;
    dv_fails(&["diff", &format!("{fs}@@x"), &fs], 2, "invalid name")?;
    dv_fails(
        &["diff", &s1, &format!("{other}@o")],
        1,
        "not a snapshot of",
    )?;
    dv_fails(&["browse", &nosnap], 1, "no such snapshot")?;
    dv_fails(&["browse", &format!("{nofs}@x")], 1, "not found")?;
    dv_fails(&["browse", "bad*name@x"], 2, "invalid name")?;
    dv_fails(&["browse", &s1, "../../etc"], 1, "..")?;
    dv_fails(&["browse", &s1, "d/../../x"], 1, "..")?;
    dv_fails(&["browse", &s1, "/etc/passwd"], 1, "no such file")?;
    dv_fails(
        &["browse", &s1, &format!("{}/../../etc", mnt.display())],
        1,
        "..",
    )?;
    dv_fails(&["browse", &s1, "missing/file"], 1, "no such file")?;
    dv_fails(&["browse", &s1, "linkdir/z"], 1, "symbolic link")?;
    dv_fails(&["restore-file", &s1, "missing"], 1, "no such file")?;
    dv_fails(&["restore-file", &s1, "../x", "--to", &to], 1, "..")?;
    dv_fails(
        &["restore-file", &nosnap, "a", "--to", &to],
        1,
        "no such snapshot",
    )?;
    dv_fails(&["restore-file", &s1, "/etc/passwd"], 1, "no such file")?;
    dv_fails(
        &["restore-file", &s1, "a", "--to", "/nonexistent-dir/a"],
        1,
        "does not exist",
    )?;
    // Usage errors: exit 2.
    dv_fails(&["diff", &s1], 2, "two arguments")?;
    dv_fails(&["browse"], 2, "browse needs")?;
    dv_fails(&["restore-file", &s1], 2, "restore-file needs")?;
    dv_fails(&["diff", "--bogus", &s1, &fs], 2, "unknown option")?;
    ensure!(!Path::new(&to).exists(), "{to} was created");
    ensure!(
        tree_state(&mnt)? == before,
        "an error changed the live tree"
    );
    ensure!(
        zfs(&["list", "-H", "-t", "all", "-o", "name", "-r", p.name()])? == snaps_before,
        "datasets or snapshots changed"
    );
    // The library returns the kinds.
    let kind = |r: Result<diff::Listing, flocker_core::error::Error>| r.err().map(|e| e.kind());
    let snap = |s: &str| SnapshotName::new(s).map_err(fail);
    ensure!(
        kind(diff::browse(&snap(&nosnap)?, "")) == Some(ErrorKind::NotFound),
        "missing snapshot kind"
    );
    ensure!(
        kind(diff::browse(&snap(&s1)?, "a/../..")) == Some(ErrorKind::InvalidArgument),
        ".. kind"
    );
    ensure!(
        kind(diff::browse(&snap(&s1)?, "nothing")) == Some(ErrorKind::NotFound),
        "missing path kind"
    );
    let r = diff::restore(&snap(&s1)?, "a", &diff::RestoreOptions::default());
    ensure!(
        r.err().map(|e| e.kind()) == Some(ErrorKind::Exists),
        "existing destination kind"
    );
    ensure!(
        private_snapshot_mounts(p.name()) == 0,
        "a private mount was left behind"
    );
    Ok(())
}

fn main() {
    run(vec![
        zfs_test("diff::snap_to_snap_and_live", snap_to_snap_and_live),
        zfs_test("diff::unmounted_dataset", unmounted_dataset),
        zfs_test("diff::browse_like_ls", browse_like_ls),
        zfs_test("diff::restore_file_and_dir", restore_file_and_dir),
        zfs_test("diff::restore_onto_existing", restore_onto_existing),
        zfs_test("diff::errors", errors),
    ]);
}
