//! Support for the ZFS tests: file-backed pools, the `zfs` CLI as an oracle, and a harness that
//! reports a ZFS test as *ignored* (skipped) when the machine has no `/dev/zfs`, never as passed.
//!
//! Every test binary in `tests/tests/` uses `harness = false` and builds its list of
//! [`libtest_mimic::Trial`]s with [`zfs_test`], then calls [`run`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

pub use libtest_mimic::{Arguments, Failed, Trial};

/// Result type of a test body.
pub type TestResult = Result<(), Failed>;

/// True when this machine has the ZFS control device, i.e. we are inside the lab.
pub fn zfs_available() -> bool {
    Path::new("/dev/zfs").exists()
}

/// The flavour the lab booted (`2.1`, `2.3`), from the environment the lab sets.
pub fn lab_flavour() -> Option<String> {
    std::env::var("FLOCKER_LAB_FLAVOUR").ok()
}

/// A test that needs ZFS: marked ignored (reported as skipped) when `/dev/zfs` is missing.
/// A test that ran prints its wall time on a line of its own (`#time NAME SECS s`), which
/// `cargo xtask test` gathers to show the slowest tests of each lab run.
pub fn zfs_test(name: &str, f: fn() -> TestResult) -> Trial {
    let owned = name.to_string();
    let t = Trial::test(name, move || {
        let started = std::time::Instant::now();
        let r = f();
        println!("#time {owned} {:.0} s", started.elapsed().as_secs_f64());
        r
    });
    if zfs_available() {
        t
    } else {
        t.with_ignored_flag(true)
    }
}

/// A pure test that runs anywhere.
pub fn host_test(name: &str, f: fn() -> TestResult) -> Trial {
    Trial::test(name, f)
}

/// Parse the arguments and run the trials; exits the process with libtest's status.
pub fn run(trials: Vec<Trial>) -> ! {
    let args = Arguments::from_args();
    if !zfs_available() {
        eprintln!(
            "note: /dev/zfs is missing: ZFS tests are reported as ignored (skipped); run them with `cargo xtask test`"
        );
    }
    libtest_mimic::run(&args, trials).exit()
}

/// An example binary (e.g. `datavault`) to run in a test: in `FLOCKER_BIN_DIR` when the lab
/// sets it, else next to this test binary's directory (`target/debug`). Build it first with
/// `cargo build -p flocker-examples --bin NAME` (`cargo xtask test` does).
pub fn example_bin(name: &str) -> Result<PathBuf, Failed> {
    let dir = match std::env::var_os("FLOCKER_BIN_DIR") {
        Some(d) => PathBuf::from(d),
        None => {
            let exe = std::env::current_exe().map_err(fail)?;
            exe.parent()
                .and_then(Path::parent)
                .map(Path::to_path_buf)
                .ok_or_else(|| fail("cannot locate the target directory"))?
        }
    };
    let b = dir.join(name);
    if !b.is_file() {
        return Err(fail(format!(
            "{} is missing: build it with `cargo build -p flocker-examples --bin {name}`",
            b.display()
        )));
    }
    Ok(b)
}

/// How a program run by a test (an example binary) exited and what it printed.
#[derive(Debug)]
pub struct Out {
    /// The exit code; -1 when a signal ended it (counts as a failure of its own).
    pub code: i32,
    /// Its standard output.
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
}

impl Out {
    /// Runs `cmd` to its end with stdin from `/dev/null`, capturing both outputs.
    pub fn of(cmd: &mut Command) -> Result<Out, Failed> {
        let out = cmd
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|e| fail(format!("cannot run {:?}: {e}", cmd.get_program())))?;
        Ok(Out {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }

    /// Err, with both outputs, unless it exited with `want`; `what` names the command.
    pub fn expect(self, want: i32, what: impl std::fmt::Debug) -> Result<Out, Failed> {
        if self.code != want {
            return Err(fail(format!(
                "{what:?} exited {} (wanted {want})\nstdout: {}\nstderr: {}",
                self.code, self.stdout, self.stderr
            )));
        }
        Ok(self)
    }

    /// Its stdout parsed as JSON.
    pub fn json(&self) -> Result<serde_json::Value, Failed> {
        serde_json::from_str(&self.stdout).map_err(|e| {
            fail(format!(
                "stdout is not JSON ({e}):\n{}\nstderr: {}",
                self.stdout, self.stderr
            ))
        })
    }
}

/// Turn anything displayable into a test failure.
pub fn fail(msg: impl std::fmt::Display) -> Failed {
    Failed::from(msg.to_string())
}

/// Assert a condition inside a test body, failing with a message instead of panicking.
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $($arg:tt)+) => {
        if !$cond { return Err($crate::fail(format!($($arg)+))); }
    };
}

/// Run a command (the `zfs`/`zpool` CLI as an oracle or a fixture); Err with its stderr on failure.
pub fn sh(program: &str, args: &[&str]) -> Result<String, Failed> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| fail(format!("cannot run {program}: {e}")))?;
    if !out.status.success() {
        return Err(fail(format!(
            "`{program} {}` failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

static POOL_SEQ: AtomicU32 = AtomicU32::new(0);

/// A file-backed test pool, created fresh and destroyed (with its backing file) on drop.
pub struct TestPool {
    name: String,
    file: PathBuf,
}

impl TestPool {
    /// Create a pool of `size_mib` MiB on a sparse file under /var/tmp (never on the 9p share).
    pub fn new(tag: &str, size_mib: u64) -> Result<Self, Failed> {
        let n = POOL_SEQ.fetch_add(1, Ordering::SeqCst);
        let name = format!("t{}{}{}", std::process::id(), n, tag);
        let dir = PathBuf::from("/var/tmp/flocker-pools");
        std::fs::create_dir_all(&dir).map_err(fail)?;
        let file = dir.join(format!("{name}.img"));
        let f = std::fs::File::create(&file).map_err(fail)?;
        f.set_len(size_mib * 1024 * 1024).map_err(fail)?;
        let file_s = file.to_string_lossy().into_owned();
        sh(
            "zpool",
            &["create", "-f", "-O", "mountpoint=none", &name, &file_s],
        )?;
        Ok(TestPool { name, file })
    }

    /// The pool's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `pool/rel`.
    pub fn ds(&self, rel: &str) -> String {
        format!("{}/{}", self.name, rel)
    }

    /// Creates `pool/fs` mounted at `/var/tmp/<dir>/<pool>/fs` (emptied first), with extra
    /// `zfs create -o` options; returns its name and mount point.
    pub fn mounted_fs(&self, dir: &str, opts: &[&str]) -> Result<(String, PathBuf), Failed> {
        let fs = self.ds("fs");
        let mnt = PathBuf::from(format!("/var/tmp/{dir}/{}/fs", self.name));
        let _ = std::fs::remove_dir_all(&mnt);
        let mp = format!("mountpoint={}", mnt.display());
        let mut args = vec!["create", "-o", &mp];
        for o in opts {
            args.extend(["-o", o]);
        }
        args.push(&fs);
        sh("zfs", &args)?;
        Ok((fs, mnt))
    }
}

/// How many of the library's private snapshot mounts (`flocker-snap-*`) of snapshots in `pool`
/// this process sees (only the pool's: tests running at the same time have mounts of their own).
pub fn private_snapshot_mounts(pool: &str) -> usize {
    let source = format!(" {pool}/");
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("flocker-snap-") && l.contains(&source))
        .count()
}

/// The oracle's list of the snapshots of `fs` and its descendants, oldest first (`zfs list -H
/// -o name -t snapshot -s createtxg -r`).
pub fn cli_snapshots(fs: &str) -> Result<Vec<String>, Failed> {
    let out = sh(
        "zfs",
        &[
            "list",
            "-H",
            "-o",
            "name",
            "-t",
            "snapshot",
            "-s",
            "createtxg",
            "-r",
            fs,
        ],
    )?;
    Ok(out.lines().map(str::to_string).collect())
}

impl Drop for TestPool {
    fn drop(&mut self) {
        let _ = Command::new("zpool")
            .args(["destroy", "-f", &self.name])
            .status();
        let _ = std::fs::remove_file(&self.file);
    }
}

/// `zfs ARGS...`, the CLI as the tests' oracle: its standard output.
pub fn zfs(args: &[&str]) -> Result<String, Failed> {
    sh("zfs", args)
}

/// The parsable value of property `p` of `name` (`zfs get -Hp`).
pub fn zfs_prop(name: &str, p: &str) -> Result<String, Failed> {
    Ok(zfs(&["get", "-Hp", "-o", "value", p, name])?
        .trim()
        .to_string())
}

/// Whether the dataset, snapshot or bookmark `name` exists (`zfs list -t all`).
pub fn zfs_exists(name: &str) -> bool {
    sh("zfs", &["list", "-H", "-o", "name", "-t", "all", name]).is_ok()
}

/// `short name → guid` of the snapshots of `fs` itself (not of its children).
pub fn snapshot_guids(fs: &str) -> Result<BTreeMap<String, String>, Failed> {
    let out = zfs(&[
        "list",
        "-H",
        "-p",
        "-t",
        "snapshot",
        "-o",
        "name,guid",
        "-d",
        "1",
        fs,
    ])?;
    Ok(out
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(n, g)| {
            let short = n.split_once('@').map_or(n, |x| x.1);
            (short.to_string(), g.to_string())
        })
        .collect())
}

/// `full name → guid` of everything of type `types` (`zfs list -t`: `snapshot`, `bookmark`,
/// `all`, ...) in the tree of `root` (`-r`).
pub fn zfs_guids(root: &str, types: &str) -> Result<BTreeMap<String, String>, Failed> {
    let out = zfs(&[
        "list",
        "-H",
        "-p",
        "-t",
        types,
        "-o",
        "name,guid",
        "-r",
        root,
    ])?;
    Ok(out
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(n, g)| (n.to_string(), g.to_string()))
        .collect())
}

/// The content of the file `path` (a failure names it).
pub fn read_text(path: &str) -> Result<String, Failed> {
    std::fs::read_to_string(path).map_err(|e| fail(format!("{path}: {e}")))
}

/// Writes `data` to the file `path` and syncs it (a failure names it).
pub fn write_synced(path: &str, data: &str) -> TestResult {
    std::fs::write(path, data).map_err(|e| fail(format!("{path}: {e}")))?;
    let _ = std::fs::File::open(path).and_then(|f| f.sync_all());
    Ok(())
}
