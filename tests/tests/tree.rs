//! Lab tests of the recursive rollback (`rollback -r`, issue 18 part 1): a tree of three
//! filesystems (`fs`, `fs/a`, `fs/a/b`) with files, holds, clones and bookmarks, rolled back to a
//! recursive snapshot by swap and by copy (library and `datavault`), restored and dropped as a
//! tree; a descendant without the snapshot refused or kept (`--keep-missing`); `kill -9` at every
//! tree-level step and at every step of one member, then `datavault recover`. The `zfs` CLI is
//! the oracle (GUIDs through `zfs list`/`zfs get -Hp guid`); contents are read through mounts.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;

use flocker_core::error::ErrorKind;
use flocker_core::name::SnapshotName;
use flocker_core::rollback::{self, Store, Strategy, TreePhase, TreeStash};
use flocker_tests::{
    Failed, TestPool, TestResult, ensure, example_bin, fail, read_text as read, run,
    snapshot_guids as snaps, write_synced as write, zfs, zfs_exists as exists,
    zfs_guids as pool_list, zfs_prop as prop, zfs_test,
};

fn ok<T>(r: flocker_core::error::Result<T>) -> Result<T, Failed> {
    r.map_err(|e| fail(format!("unexpected error: {e} (kind {:?})", e.kind())))
}

fn store(p: &TestPool) -> Result<Store, Failed> {
    let dir = PathBuf::from(format!("/var/tmp/flocker-store-{}", p.name()));
    let _ = std::fs::remove_dir_all(&dir);
    ok(Store::open(dir))
}

/// `datavault ARGS` with the test's store; (exit code or -signal, stdout, stderr).
fn dv(st: &Store, args: &[&str], env: &[(&str, &str)]) -> Result<(i32, String, String), Failed> {
    let mut c = std::process::Command::new(example_bin("datavault")?);
    c.args(args)
        .env("FLOCKER_STORE", st.dir())
        .stdin(std::process::Stdio::null());
    for (k, v) in env {
        c.env(k, v);
    }
    let o = c.output().map_err(fail)?;
    let code = o
        .status
        .code()
        .unwrap_or_else(|| -o.status.signal().unwrap_or(0));
    Ok((
        code,
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    ))
}

/// `datavault ARGS`, which must succeed; its stdout.
/// `datavault args` with the fault point `at` set to kill it: it must die by `SIGKILL` there.
fn dv_killed_at(st: &Store, args: &[&str], at: &str, what: &str) -> TestResult {
    let (code, out, err) = dv(st, args, &[("FLOCKER_CORE_FAULT", &format!("{at}:kill"))])?;
    ensure!(code == -9, "{what}: not killed: exit {code}: {out}{err}");
    Ok(())
}

fn dv_ok(st: &Store, args: &[&str]) -> Result<String, Failed> {
    let (code, out, err) = dv(st, args, &[])?;
    ensure!(code == 0, "datavault {args:?}: exit {code}: {out}{err}");
    Ok(out)
}

fn json(s: &str) -> Result<serde_json::Value, Failed> {
    serde_json::from_str(s).map_err(|e| fail(format!("not JSON ({e}): {s}")))
}

/// The tree: `fs` (mounted at `dir`), `fs/a`, `fs/a/b` (mounted below), and what the oracle
/// recorded before the rollback.
struct Tree {
    pool: String,
    dir: String,
    /// The members, root first; mount point of each.
    ds: Vec<String>,
    dirs: Vec<String>,
    /// `short name → guid` of each member's snapshots before the rollback.
    before: Vec<BTreeMap<String, String>>,
    /// Held snapshots' GUIDs (tag `keep`).
    held: Vec<String>,
    /// Clone name → its origin's GUID.
    clones: Vec<(String, String)>,
    /// Bookmark short name → GUID.
    bookmarks: Vec<(String, String)>,
}

/// Snapshots older than or at `@S` (what each member holds after the rollback).
const AT_S: [&str; 2] = ["old", "S"];

/// Builds the tree in pool `p`: on every member file `v` is "old" in `@old`, "S" in the
/// recursive `@S`, "n1" in the recursive `@n1`, "own" in the member's own `@own`, and "now"
/// unsnapshotted. Holds, clones and bookmarks on `@old`/`@S`; with `newer`, also on `@n1`
/// (which a `copy` refuses).
fn tree_fixture(p: &TestPool, newer: bool) -> Result<Tree, Failed> {
    let fs = p.ds("fs");
    let dir = format!("/var/tmp/flocker-tree/{}/fs", p.name());
    let _ = std::fs::remove_dir_all(&dir);
    zfs(&["create", "-o", &format!("mountpoint={dir}"), &fs])?;
    let ds = vec![fs.clone(), format!("{fs}/a"), format!("{fs}/a/b")];
    let dirs = vec![dir.clone(), format!("{dir}/a"), format!("{dir}/a/b")];
    zfs(&["create", &ds[1]])?;
    zfs(&["create", &ds[2]])?;
    let put = |v: &str| -> TestResult {
        for d in &dirs {
            write(&format!("{d}/v"), v)?;
        }
        Ok(())
    };
    for s in ["old", "S", "n1"] {
        put(s)?;
        zfs(&["snapshot", "-r", &format!("{fs}@{s}")])?;
    }
    put("own")?;
    for d in &ds {
        zfs(&["snapshot", &format!("{d}@own")])?;
    }
    put("now")?;
    let pool = p.name().to_string();
    let mut held = Vec::new();
    let mut clones = Vec::new();
    let mut bookmarks = Vec::new();
    let mut hold = |snap: String| -> TestResult {
        zfs(&["hold", "keep", &snap])?;
        held.push(prop(&snap, "guid")?);
        Ok(())
    };
    hold(format!("{}@old", ds[1]))?;
    hold(format!("{}@S", ds[0]))?;
    if newer {
        hold(format!("{}@n1", ds[2]))?;
    }
    let mut clone = |snap: String, name: &str| -> TestResult {
        let c = p.ds(name);
        zfs(&["clone", &snap, &c])?;
        clones.push((c, prop(&snap, "guid")?));
        Ok(())
    };
    clone(format!("{}@S", ds[2]), "cl-s")?;
    clone(format!("{}@old", ds[0]), "cl-old")?;
    if newer {
        clone(format!("{}@n1", ds[1]), "cl-n1")?;
    }
    let mut bookmark = |snap: String, bm: String| -> TestResult {
        zfs(&["bookmark", &snap, &bm])?;
        let short = bm.split_once('#').map_or(bm.as_str(), |x| x.1).to_string();
        bookmarks.push((short, prop(&snap, "guid")?));
        Ok(())
    };
    bookmark(format!("{}@old", ds[1]), format!("{}#bm-old", ds[1]))?;
    bookmark(format!("{}@S", ds[2]), format!("{}#bm-s", ds[2]))?;
    if newer {
        bookmark(format!("{}@n1", ds[0]), format!("{}#bm-n1", ds[0]))?;
    }
    let before = ds.iter().map(|d| snaps(d)).collect::<Result<_, _>>()?;
    Ok(Tree {
        pool,
        dir,
        ds,
        dirs,
        before,
        held,
        clones,
        bookmarks,
    })
}

impl Tree {
    fn target(&self) -> String {
        format!("{}@S", self.ds[0])
    }

    fn target_name(&self) -> Result<SnapshotName, Failed> {
        SnapshotName::new(self.target()).map_err(fail)
    }

    /// The tree's plan to `@S` with `strategy` (not `--keep-missing`).
    fn plan(&self, strategy: Strategy) -> Result<rollback::TreePlan, Failed> {
        ok(rollback::plan_rollback_tree(
            &self.target_name()?,
            strategy,
            false,
        ))
    }

    /// The members' dataset GUIDs, root first.
    fn guids(&self) -> Result<Vec<String>, Failed> {
        self.ds.iter().map(|d| prop(d, "guid")).collect()
    }

    /// Every snapshot GUID of every member before the rollback is somewhere in `all` (the
    /// pool's snapshots).
    fn nothing_lost(&self, all: &BTreeMap<String, String>, what: &str) -> TestResult {
        let guids: BTreeSet<&String> = all.values().collect();
        for (k, b) in self.before.iter().enumerate() {
            for (n, g) in b {
                ensure!(
                    guids.contains(g),
                    "{what}: {}@{n} (guid {g}) is lost",
                    self.ds[k]
                );
            }
        }
        Ok(())
    }

    /// Holds, clones and bookmarks are where ZFS keeps them, by GUID (`all`: the pool's
    /// snapshots).
    fn extras_kept(&self, all: &BTreeMap<String, String>, what: &str) -> TestResult {
        let mut held = Vec::new();
        for g in &self.held {
            let name = all
                .iter()
                .find(|(_, x)| *x == g)
                .map(|(n, _)| n.as_str())
                .ok_or_else(|| fail(format!("{what}: held snapshot {g} is gone")))?;
            held.push(name);
        }
        let mut args = vec!["holds", "-H"];
        args.extend(held.iter().copied());
        let h = zfs(&args)?;
        for name in &held {
            ensure!(
                h.lines()
                    .any(|l| l.starts_with(&format!("{name}\t")) && l.contains("keep")),
                "{what}: the hold on {name} is lost: {h:?}"
            );
        }
        let mut args = vec!["list", "-H", "-o", "name,origin"];
        args.extend(self.clones.iter().map(|(c, _)| c.as_str()));
        let origins: BTreeMap<String, String> = zfs(&args)?
            .lines()
            .filter_map(|l| l.split_once('\t'))
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        for (c, g) in &self.clones {
            let origin = origins.get(c).map_or("", String::as_str);
            ensure!(
                all.get(origin) == Some(g),
                "{what}: clone {c}'s origin {origin:?} is not the snapshot {g}"
            );
        }
        let bms = pool_list(&self.pool, "bookmark")?;
        for (b, g) in &self.bookmarks {
            ensure!(
                bms.iter()
                    .any(|(n, x)| n.ends_with(&format!("#{b}")) && x == g),
                "{what}: bookmark #{b} ({g}) is lost: {bms:?}"
            );
        }
        Ok(())
    }

    /// `short name → guid` of member `k`'s snapshots in `all`.
    fn member_snaps(&self, all: &BTreeMap<String, String>, k: usize) -> BTreeMap<String, String> {
        let prefix = format!("{}@", self.ds[k]);
        all.iter()
            .filter_map(|(n, g)| Some((n.strip_prefix(&prefix)?.to_string(), g.clone())))
            .collect()
    }

    /// Each member is mounted at its mount point and its file `v` reads `want`.
    fn mounted_with(&self, want: &str, what: &str) -> TestResult {
        let out = zfs(&[
            "list",
            "-H",
            "-o",
            "name,mounted,mountpoint",
            "-r",
            &self.ds[0],
        ])?;
        for (k, d) in self.ds.iter().enumerate() {
            let line = format!("{d}\tyes\t{}", self.dirs[k]);
            ensure!(
                out.lines().any(|l| l == line),
                "{what}: {d} is not mounted at {}: {out}",
                self.dirs[k]
            );
            let v = read(&format!("{}/v", self.dirs[k]))?;
            ensure!(v == want, "{what}: {d} shows {v:?}, not {want:?}");
        }
        Ok(())
    }

    /// The state after the rollback to `@S`: each member holds exactly `old` and `S` (their
    /// GUIDs), shows S's content and is mounted where it was; nothing is lost.
    fn at_s(&self, what: &str) -> TestResult {
        let all = pool_list(&self.pool, "snapshot")?;
        for (k, d) in self.ds.iter().enumerate() {
            let now = self.member_snaps(&all, k);
            let want: BTreeMap<String, String> = self.before[k]
                .iter()
                .filter(|(n, _)| AT_S.contains(&n.as_str()))
                .map(|(n, g)| (n.clone(), g.clone()))
                .collect();
            ensure!(now == want, "{what}: {d} has {now:?}, not {want:?}");
        }
        self.mounted_with("S", what)?;
        self.nothing_lost(&all, what)?;
        self.extras_kept(&all, what)
    }

    /// The state before the rollback (after a restore): every original snapshot (by name and
    /// GUID; the operation's own `flocker-pre-*` may be there too), the unsnapshotted content.
    fn at_now(&self, what: &str) -> TestResult {
        let all = pool_list(&self.pool, "snapshot")?;
        for (k, d) in self.ds.iter().enumerate() {
            let now = self.member_snaps(&all, k);
            for (n, g) in &self.before[k] {
                ensure!(
                    now.get(n) == Some(g),
                    "{what}: {d}@{n} ({g}) is not back: {now:?}"
                );
            }
        }
        self.mounted_with("now", what)?;
        self.nothing_lost(&all, what)?;
        self.extras_kept(&all, what)
    }

    /// Tree stash `t` holds, for every member, every snapshot newer than `@S` (same GUIDs) and
    /// the tree's atomic pre snapshot, whose content is the unsnapshotted state (read through a
    /// clone for the members `content_of`).
    fn stashed(&self, st: &Store, t: &TreeStash, content_of: &[usize], what: &str) -> TestResult {
        ensure!(
            t.phase == TreePhase::Done,
            "{what}: tree phase {:?}",
            t.phase
        );
        let recs = ok(rollback::member_records(st, t))?;
        ensure!(
            recs.len() == self.ds.len(),
            "{what}: {} member records",
            recs.len()
        );
        let pre = format!("{}{}", rollback::PRE_PREFIX, t.id);
        let all = pool_list(&self.pool, "snapshot")?;
        let mut args = vec!["list", "-H", "-o", "name,origin"];
        args.extend(recs.iter().map(|r| r.stash_dataset.as_str()));
        let origins = zfs(&args)?;
        for (k, r) in recs.iter().enumerate() {
            ensure!(
                r.dataset.as_str() == self.ds[k] && r.id == format!("{}-{k}", t.id),
                "{what}: member {k} is {} ({})",
                r.dataset,
                r.id
            );
            let sd = r.stash_dataset.as_str();
            let have: BTreeMap<String, String> = all
                .iter()
                .filter_map(|(n, g)| {
                    Some((n.strip_prefix(&format!("{sd}@"))?.to_string(), g.clone()))
                })
                .collect();
            for (n, g) in self.before[k]
                .iter()
                .filter(|(n, _)| !AT_S.contains(&n.as_str()))
            {
                ensure!(
                    have.get(n) == Some(g),
                    "{what}: {}@{n} ({g}) is not in stash {sd}: {have:?}",
                    self.ds[k]
                );
            }
            ensure!(
                have.contains_key(&pre),
                "{what}: no @{pre} in {sd}: {have:?}"
            );
            ensure!(
                origins
                    .lines()
                    .any(|l| l == format!("{sd}\t{}@S", self.ds[k])),
                "{what}: {sd} is not a clone of {}@S: {origins}",
                self.ds[k]
            );
            if !content_of.contains(&k) {
                continue;
            }
            let scratch = format!("{}/chk", self.pool);
            let sdir = format!("/var/tmp/flocker-tree/{}/chk", self.pool);
            zfs(&[
                "clone",
                "-o",
                &format!("mountpoint={sdir}"),
                &format!("{sd}@{pre}"),
                &scratch,
            ])?;
            let v = read(&format!("{sdir}/v"));
            zfs(&["destroy", &scratch])?;
            let v = v?;
            ensure!(
                v == "now",
                "{what}: {sd}@{pre} holds {v:?}, not the state at rollback"
            );
        }
        Ok(())
    }

    /// After a dropped tree stash: the snapshots newer than `@S` again (`@n1` recursive, `@own`
    /// of every member, new GUIDs) and the unsnapshotted content "now".
    fn renew_newer(&mut self) -> TestResult {
        let put = |v: &str| -> TestResult {
            for d in &self.dirs {
                write(&format!("{d}/v"), v)?;
            }
            Ok(())
        };
        put("n1")?;
        zfs(&["snapshot", "-r", &format!("{}@n1", self.ds[0])])?;
        put("own")?;
        let own: Vec<String> = self.ds.iter().map(|d| format!("{d}@own")).collect();
        let mut args = vec!["snapshot"];
        args.extend(own.iter().map(String::as_str));
        zfs(&args)?;
        put("now")?;
        let all = pool_list(&self.pool, "snapshot")?;
        self.before = (0..self.ds.len())
            .map(|k| self.member_snaps(&all, k))
            .collect();
        ensure!(
            self.before.iter().all(|b| b.len() == 4),
            "renewed snapshots: {:?}",
            self.before
        );
        Ok(())
    }

    /// Destroys the operations' own `flocker-pre-*` snapshots on the members (a restore keeps
    /// them) and checks that each member is exactly as before.
    fn clean_pre(&self, what: &str) -> TestResult {
        let all = pool_list(&self.pool, "snapshot")?;
        for (k, d) in self.ds.iter().enumerate() {
            let pre: Vec<String> = self
                .member_snaps(&all, k)
                .into_keys()
                .filter(|n| n.starts_with(rollback::PRE_PREFIX))
                .collect();
            if !pre.is_empty() {
                zfs(&["destroy", &format!("{d}@{}", pre.join(","))])?;
            }
        }
        let all = pool_list(&self.pool, "snapshot")?;
        for (k, d) in self.ds.iter().enumerate() {
            let now = self.member_snaps(&all, k);
            ensure!(
                now == self.before[k],
                "{what}: {d} is not as before: {now:?}"
            );
        }
        Ok(())
    }

    /// Only the stash container is left under `<pool>/flocker-stash`.
    fn no_stash_left(&self, what: &str) -> TestResult {
        let c = format!("{}/flocker-stash", self.pool);
        let left = zfs(&["list", "-H", "-o", "name", "-r", &c]).unwrap_or_default();
        ensure!(left.lines().count() <= 1, "{what}: left over: {left}");
        Ok(())
    }
}

/// A pool named after `tag` of `mib` MiB, the tree in it ([`tree_fixture`]) and a store.
fn setup(tag: &str, mib: u64, newer: bool) -> Result<(TestPool, Tree, Store), Failed> {
    let p = TestPool::new(tag, mib)?;
    let t = tree_fixture(&p, newer)?;
    let st = store(&p)?;
    Ok((p, t, st))
}

/// The one tree in the store that is not `except`.
fn the_tree(st: &Store, except: Option<&str>) -> Result<TreeStash, Failed> {
    let mut v: Vec<TreeStash> = ok(rollback::tree_list(st))?
        .into_iter()
        .filter(|t| Some(t.id.as_str()) != except)
        .collect();
    ensure!(v.len() == 1, "expected one tree stash, found {v:?}");
    v.pop().ok_or_else(|| fail("no tree stash"))
}

/// Library, `swap`, with holds, clones and bookmarks on newer snapshots too: rollback, restore
/// (swap back), drop of the tree of replaced states.
fn swap_round_trip() -> TestResult {
    let (_pool, t, st) = setup("trswap", 256, true)?;
    let plan = t.plan(Strategy::Swap)?;
    ensure!(plan.is_runnable(), "not runnable: {:?}", plan.refusals());
    let mine: Vec<&str> = plan.members.iter().map(|m| m.dataset.as_str()).collect();
    ensure!(mine == t.ds, "members {mine:?}");
    ensure!(
        plan.members
            .iter()
            .all(|m| m.strategy == Some(Strategy::Swap)),
        "a member does not swap"
    );
    let guids = t.guids()?;
    let done = ok(rollback::rollback_tree(&st, &plan))?;
    ensure!(
        done.id == plan.id,
        "tree id {} vs plan {}",
        done.id,
        plan.id
    );
    t.at_s("after the swap rollback")?;
    t.stashed(&st, &done, &[0, 1, 2], "after the swap rollback")?;
    ensure!(ok(st.journals())?.is_empty(), "a journal is left");
    ensure!(
        ok(rollback::recover(&st))?.is_none(),
        "recover had work to do"
    );
    for (k, d) in t.ds.iter().enumerate() {
        ensure!(prop(d, "guid")? != guids[k], "{d} was not swapped");
    }
    let listed = ok(rollback::stash_list(&st))?;
    ensure!(
        listed.len() == 3
            && listed
                .iter()
                .all(|v| v.tree.as_deref() == Some(&*done.id) && v.verified),
        "stash list: {listed:?}"
    );
    let newer = ok(rollback::stash_restore_tree(&st, &done.id, Strategy::Swap))?;
    t.at_now("after the restore")?;
    ensure!(
        !ok(st.has_tree(&done.id))?,
        "the restored tree stash is still recorded"
    );
    ensure!(
        newer.phase == TreePhase::Done && newer.restore_of.is_none(),
        "replaced-state tree {newer:?}"
    );
    for (k, d) in t.ds.iter().enumerate() {
        ensure!(
            prop(d, "guid")? == guids[k],
            "{d} is not the original dataset again"
        );
    }
    let recs = ok(rollback::member_records(&st, &newer))?;
    ensure!(recs.len() == 3, "replaced states: {} records", recs.len());
    ok(rollback::stash_drop_tree(&st, &newer.id))?;
    ensure!(!ok(st.has_tree(&newer.id))?, "dropped tree still recorded");
    for r in &recs {
        ensure!(
            !exists(r.stash_dataset.as_str()),
            "{} not destroyed",
            r.stash_dataset
        );
    }
    ensure!(ok(st.records())?.is_empty(), "records left");
    t.no_stash_left("after the drop")?;
    t.at_now("after the drop")?;
    t.clean_pre("after the drop")
}

/// `datavault rollback fs@S -r --strategy copy --json`, `stash show`, `stash restore` (auto:
/// swap back), `stash drop`; then the library's copy rollback and copy restore (receive back).
fn copy_round_trip() -> TestResult {
    let (_pool, t, st) = setup("trcopy", 256, false)?;
    let guids = t.guids()?;
    let tg = t.target();
    let out = dv_ok(
        &st,
        &[
            "rollback",
            &tg,
            "-r",
            "--strategy",
            "copy",
            "--json",
            "--yes",
        ],
    )?;
    let j = json(&out)?;
    let id = j["id"].as_str().unwrap_or_default().to_string();
    ensure!(
        j["tree"] == true && j["phase"] == "done" && j["strategy"] == "copy",
        "rollback JSON: {j}"
    );
    let members = j["members"].as_array().cloned().unwrap_or_default();
    ensure!(members.len() == 3, "members in JSON: {j}");
    for (k, m) in members.iter().enumerate() {
        ensure!(
            m["dataset"] == t.ds[k].as_str() && m["strategy"] == "copy",
            "member {k}: {m}"
        );
    }
    t.at_s("after the CLI copy rollback")?;
    for (k, d) in t.ds.iter().enumerate() {
        ensure!(prop(d, "guid")? == guids[k], "copy replaced {d}");
    }
    let tree = ok(rollback::tree_show(&st, &id))?;
    t.stashed(&st, &tree, &[0, 1, 2], "after the CLI copy rollback")?;
    let shown = json(&dv_ok(&st, &["stash", "show", &id, "--json"])?)?;
    ensure!(
        shown["id"] == id.as_str() && shown["members"].as_array().map(Vec::len) == Some(3),
        "stash show: {shown}"
    );
    let out = dv_ok(&st, &["stash", "restore", &id, "--yes"])?;
    t.at_now("after the CLI restore")?;
    let newer = out
        .trim()
        .rsplit(' ')
        .next()
        .unwrap_or_default()
        .to_string();
    ensure!(
        ok(st.has_tree(&newer))?,
        "restore printed {out:?}: no tree {newer}"
    );
    ensure!(!ok(st.has_tree(&id))?, "restored tree still recorded");
    dv_ok(&st, &["stash", "drop", &newer, "--yes"])?;
    ensure!(ok(rollback::tree_list(&st))?.is_empty(), "a tree is left");
    ensure!(ok(st.records())?.is_empty(), "records left");
    t.no_stash_left("after the CLI drop")?;
    t.clean_pre("after the CLI drop")?;

    // Again through the library, restored by receiving back.
    let plan = t.plan(Strategy::Copy)?;
    let guids = t.guids()?;
    let done = ok(rollback::rollback_tree(&st, &plan))?;
    t.at_s("after the library copy rollback")?;
    t.stashed(&st, &done, &[2], "after the library copy rollback")?;
    let done_recs = ok(rollback::member_records(&st, &done))?;
    let newer = ok(rollback::stash_restore_tree(&st, &done.id, Strategy::Copy))?;
    t.at_now("after the copy restore")?;
    for (k, d) in t.ds.iter().enumerate() {
        ensure!(prop(d, "guid")? == guids[k], "copy restore replaced {d}");
    }
    for r in &done_recs {
        ensure!(
            !exists(r.stash_dataset.as_str()),
            "{} left",
            r.stash_dataset
        );
    }
    ok(rollback::stash_drop_tree(&st, &newer.id))?;
    t.no_stash_left("after the second drop")?;
    t.clean_pre("after the second drop")
}

/// A descendant created after `@S` refuses the tree (library: `NotFound`; CLI: exit 3 naming
/// it) with nothing changed; `--keep-missing` rolls the others back and leaves it as it is.
fn missing_and_keep_missing() -> TestResult {
    let (_pool, t, st) = setup("trmiss", 256, false)?;
    let c = format!("{}/c", t.ds[0]);
    zfs(&["create", &c])?;
    write(&format!("{}/c/v", t.dir), "c")?;
    zfs(&["snapshot", &format!("{c}@mine")])?;
    let c_guid = prop(&c, "guid")?;
    let c_snaps = snaps(&c)?;
    let all = pool_list(&t.pool, "snapshot")?;
    let plan = t.plan(Strategy::Auto)?;
    ensure!(!plan.is_runnable(), "a tree with {c} (no @S) is runnable");
    ensure!(
        plan.refusals()
            .iter()
            .any(|r| r.contains(&c) && r.contains("--keep-missing")),
        "refusal: {:?}",
        plan.refusals()
    );
    match rollback::rollback_tree(&st, &plan) {
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(fail(format!("expected NotFound, got {:?}: {e}", e.kind()))),
        Ok(_) => return Err(fail("refused tree rolled back")),
    }
    let (code, out, err) = dv(&st, &["rollback", &t.target(), "-r", "--yes"], &[])?;
    ensure!(
        code == 3 && format!("{out}{err}").contains(&format!("{c} has no snapshot")),
        "CLI refusal: exit {code}: {out}{err}"
    );
    ensure!(
        pool_list(&t.pool, "snapshot")? == all,
        "a refusal changed snapshots"
    );
    t.at_now("after the refusals")?;
    ensure!(
        ok(rollback::tree_list(&st))?.is_empty(),
        "a refusal left a tree"
    );
    ensure!(
        !exists(&format!("{}/flocker-stash", t.pool)),
        "a refusal made the container"
    );

    let out = dv_ok(
        &st,
        &[
            "rollback",
            &t.target(),
            "-r",
            "--keep-missing",
            "--json",
            "--yes",
        ],
    )?;
    let j = json(&out)?;
    ensure!(
        j["kept"] == serde_json::json!([c]) && j["members"].as_array().map(Vec::len) == Some(3),
        "keep-missing JSON: {j}"
    );
    t.at_s("after --keep-missing")?;
    ensure!(
        prop(&c, "guid")? == c_guid && snaps(&c)? == c_snaps,
        "{c} changed"
    );
    ensure!(prop(&c, "mounted")? == "yes", "{c} not mounted");
    ensure!(
        read(&format!("{}/c/v", t.dir))? == "c",
        "{c}'s content changed"
    );
    let tree = the_tree(&st, None)?;
    ensure!(
        tree.kept.iter().any(|d| d.as_str() == c),
        "tree record: {tree:?}"
    );
    t.stashed(&st, &tree, &[0], "after --keep-missing")
}

/// `kill -9` of `datavault rollback -r` (swap) before every tree-level step (`tree.N`) and
/// before the first step, the commit and the last step of member 1, then `datavault recover`: the tree file is
/// written before the first step, so recovery rolls the whole tree forward; nothing is lost.
/// Between kills the tree stash is dropped and the newer snapshots taken again (cheaper than a
/// restore under emulation); after the last kill, `stash restore` of the recovered tree brings
/// everything back.
/// `kill -9` at every tree-level step (`tree.0` … `tree.N`).
fn kill_at_tree_steps() -> TestResult {
    kill_at("trkill", |plan| {
        (0..=plan.members.len())
            .map(|n| format!("tree.{n}"))
            .collect()
    })
}

/// `kill -9` around member 1: at its first step (reverted, then redone), its commit point and its
/// last step (rolled forward). Every step of a member is the single-dataset executor's, killed at
/// each of them by `rollback::kill_swap`; here what is checked is the tree's recovery around it.
fn kill_around_a_member() -> TestResult {
    kill_at("trkillm", |plan| {
        let last = plan.members[1].steps.len().saturating_sub(1);
        vec!["1.0".to_string(), "1.commit".into(), format!("1.{last}")]
    })
}

/// `kill -9` inside a tree's restore and inside its drop. Each cycle rolls the tree back, kills
/// `stash restore` at one point (before a member, inside one at its commit point), lets
/// `recover` finish it, then kills `stash drop` of the replaced states at one point (before a
/// member's snapshots are destroyed, after that, after its dataset is) and runs the drop again.
/// Nothing is lost at any point, and each second run ends with no stash, record or tree left.
fn kill_in_restore_and_drop() -> TestResult {
    let (_pool, t, st) = setup("trkillrd", 320, false)?;
    let cycles = [
        ("tree-restore.0", "2.drop.0"),
        ("tree-restore.1", "1.drop.1"),
        ("1.commit", "1.drop.2"),
        ("tree-restore.2", "0.drop.2"),
    ];
    for (restore_at, drop_at) in cycles {
        let what = format!("restore killed at {restore_at}, drop at {drop_at}");
        dv_ok(
            &st,
            &["rollback", &t.target(), "-r", "--strategy", "swap", "--yes"],
        )?;
        let first = the_tree(&st, None)?;
        t.at_s(&format!("{what}: rolled back"))?;
        dv_killed_at(
            &st,
            &["stash", "restore", &first.id, "--yes"],
            restore_at,
            &format!("{what}: restore"),
        )?;
        t.nothing_lost(
            &pool_list(&t.pool, "snapshot")?,
            &format!("{what}: before recover"),
        )?;
        dv_ok(&st, &["recover"])?;
        ensure!(ok(st.journals())?.is_empty(), "{what}: a journal is left");
        ensure!(
            dv_ok(&st, &["recover"])?.trim() == "nothing to recover",
            "{what}: recover again has work"
        );
        t.at_now(&format!("{what}: restore recovered"))?;
        ensure!(
            !ok(st.has_tree(&first.id))?,
            "{what}: the restored tree stash is still recorded"
        );
        let replaced = the_tree(&st, None)?;
        ensure!(
            replaced.phase == TreePhase::Done && replaced.restore_of.is_none(),
            "{what}: replaced-state tree {replaced:?}"
        );
        dv_killed_at(
            &st,
            &["stash", "drop", &replaced.id, "--yes"],
            drop_at,
            &format!("{what}: drop"),
        )?;
        t.at_now(&format!("{what}: drop killed"))?;
        dv_ok(&st, &["stash", "drop", &replaced.id, "--yes"])
            .map_err(|e| fail(format!("{what}: the drop run again: {e:?}")))?;
        ensure!(
            ok(rollback::tree_list(&st))?.is_empty() && ok(st.records())?.is_empty(),
            "{what}: a tree or record is left"
        );
        t.no_stash_left(&what)?;
        t.at_now(&format!("{what}: dropped"))?;
        t.clean_pre(&what)?;
    }
    Ok(())
}

/// On a tree of its own (pool `tag`), kills `datavault rollback -r --strategy swap` at each of
/// the fault points `points` gives for the plan; after each, `recover` finishes the rollback,
/// nothing is lost and the tree stash holds everything; then the stash is dropped and the newer
/// snapshots taken again, and after the last kill the stash is restored instead.
fn kill_at(tag: &str, points: fn(&rollback::TreePlan) -> Vec<String>) -> TestResult {
    let (_pool, mut t, st) = setup(tag, 320, false)?;
    let plan = t.plan(Strategy::Swap)?;
    ensure!(plan.is_runnable(), "not runnable: {:?}", plan.refusals());
    let points = points(&plan);
    for (i, at) in points.iter().enumerate() {
        let what = format!("kill at {at}");
        let started = std::time::Instant::now();
        dv_killed_at(
            &st,
            &["rollback", &t.target(), "-r", "--strategy", "swap", "--yes"],
            at,
            &what,
        )?;
        let pending = the_tree(&st, None)?;
        ensure!(
            pending.phase == TreePhase::Rollback,
            "{what}: tree file {pending:?}"
        );
        t.nothing_lost(
            &pool_list(&t.pool, "snapshot")?,
            &format!("{what}, before recover"),
        )?;
        let rec = dv_ok(&st, &["recover"])?;
        ensure!(
            rec.contains("finished the recursive rollback"),
            "{what}: recover said {rec:?}"
        );
        ensure!(ok(st.journals())?.is_empty(), "{what}: a journal is left");
        ensure!(
            dv_ok(&st, &["recover"])?.trim() == "nothing to recover",
            "{what}: recover again has work"
        );
        t.at_s(&format!("{what}, after recover"))?;
        let done = ok(rollback::tree_show(&st, &pending.id))?;
        t.stashed(&st, &done, &[1], &format!("{what}, after recover"))?;
        if i + 1 < points.len() {
            // Back to a tree with newer snapshots, cheaply: drop the stash, take them again.
            dv_ok(&st, &["stash", "drop", &done.id, "--yes"])?;
            t.no_stash_left(&what)?;
            t.renew_newer()?;
        } else {
            // The last time, the recovered tree stash is restored (as the round trips do).
            let out = dv_ok(&st, &["stash", "restore", &done.id, "--yes"])?;
            t.at_now(&format!("{what}, after restore"))?;
            let newer = out
                .trim()
                .rsplit(' ')
                .next()
                .unwrap_or_default()
                .to_string();
            dv_ok(&st, &["stash", "drop", &newer, "--yes"])?;
            t.no_stash_left(&what)?;
            t.clean_pre(&what)?;
        }
        ensure!(
            ok(rollback::tree_list(&st))?.is_empty(),
            "{what}: a tree is left"
        );
        eprintln!("tree::{tag}: {what}: ok in {:?}", started.elapsed());
    }
    Ok(())
}

fn main() {
    run(vec![
        // The longest first: tests run 4 at a time in the lab.
        zfs_test("tree::kill_at_tree_steps", kill_at_tree_steps),
        zfs_test("tree::kill_around_a_member", kill_around_a_member),
        zfs_test("tree::kill_in_restore_and_drop", kill_in_restore_and_drop),
        zfs_test("tree::copy_round_trip", copy_round_trip),
        zfs_test("tree::swap_round_trip", swap_round_trip),
        zfs_test("tree::missing_and_keep_missing", missing_and_keep_missing),
        zfs_test(
            "tree::at_next_boot_only_without_descendants",
            at_next_boot_only_without_descendants,
        ),
    ])
}

/// `rollback -r --at-next-boot`: refused (exit 3, nothing changed) for a tree with descendants;
/// for a dataset without descendants (the leaf `fs/a/b`) it is that dataset's rollback at next
/// boot, pending until the reboot, and `--cancel` puts everything back as it was.
fn at_next_boot_only_without_descendants() -> TestResult {
    let (_pool, t, st) = setup("trboot", 256, false)?;
    let all = pool_list(&t.pool, "snapshot")?;
    let guids = t.guids()?;
    let (code, out, err) = dv(
        &st,
        &["rollback", &t.target(), "-r", "--at-next-boot", "--yes"],
        &[],
    )?;
    ensure!(
        code == 3 && err.contains("2 descendant(s)") && err.contains("not supported yet"),
        "tree at next boot: exit {code}: {out}{err}"
    );
    ensure!(
        pool_list(&t.pool, "snapshot")? == all && t.guids()? == guids,
        "the refused tree rollback changed something"
    );
    t.at_now("after the refused tree rollback")?;
    ensure!(ok(st.records())?.is_empty(), "a stash after the refusal");

    let leaf = format!("{}@S", t.ds[2]);
    let j = json(&dv_ok(
        &st,
        &["rollback", &leaf, "-r", "--at-next-boot", "--yes", "--json"],
    )?)?;
    ensure!(j["pending_boot"] == true, "leaf at next boot: {j}");
    ensure!(
        prop(&t.ds[2], "guid")? != guids[2],
        "{} still names the running dataset",
        t.ds[2]
    );
    let listed = json(&dv_ok(&st, &["stash", "list", "--json"])?)?;
    ensure!(
        listed.to_string().contains(r#""pending_boot":"rollback""#),
        "stash list does not show it pending: {listed}"
    );
    dv_ok(&st, &["rollback", "--cancel"])?;
    ensure!(
        pool_list(&t.pool, "snapshot")? == all && t.guids()? == guids,
        "the cancel did not put everything back"
    );
    t.at_now("after the cancel")?;
    ensure!(ok(st.records())?.is_empty(), "a stash after the cancel");
    Ok(())
}
