//! `cargo xtask cleanroom`: proves that a fresh Debian machine with nothing but a Rust toolchain
//! runs the README's test command (its host half) from a clean checkout.
//!
//! A minimal bookworm root (`xtask/lab/cleanroom-base.sh`: debootstrap minbase, a C linker, CA
//! certificates, a fresh machine's apt sources) is cached under a key that hashes the recipe.
//! Each run copies it, mounts the host's Rust toolchain read-only at the same path, clones the
//! commit, and runs `cargo xtask test --host-only` in a chroot with an empty environment and an
//! empty `CARGO_HOME`: xtask must install every Debian package it needs, and the workspace must
//! build and pass from crates.io alone. The verdict is one line, `clean-room: N passed, N failed,
//! N skipped`, never `0 failed` when anything failed.
//!
//! Safety: the run root has the host's `/dev` and toolchain mounted inside it, so it is only ever
//! removed after every process in it is killed and every mount under it is gone
//! (`/proc/self/mountinfo` is checked; removal refuses otherwise).

use std::ffi::OsString;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::image::{self, cache_dir, repo_root};
use crate::test::Counts;
use crate::{Result, host};

/// The base root's recipe; its bytes and [`BASE_PACKAGES`] make the cache key.
const RECIPE: &str = "xtask/lab/cleanroom-base.sh";
/// What a user of the README has besides the Rust toolchain: a C linker and TLS roots.
const BASE_PACKAGES: &[&str] = &["gcc", "libc6-dev", "ca-certificates"];
/// Where the checkout lives inside the root.
const SRC: &str = "/src/flocker-core";
/// The command under test: the host half of the README's `cargo xtask test`.
const INNER: &[&str] = &["cargo", "xtask", "test", "--host-only"];
/// Prefix of the inner command's lines on our stdout.
const PREFIX: &str = "[clean-room] ";
/// Where Debian keeps a machine's own CA certificates (`update-ca-certificates` adds them).
const LOCAL_CAS: &str = "/usr/local/share/ca-certificates";
/// A PATH for the tools we run on the host and inside the root.
const SYS_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What `cargo xtask cleanroom` was asked to do.
pub struct Options {
    /// The revision to test (resolved on the host).
    pub commit: String,
    /// Debian packages installed into this run's root before the test.
    pub preinstall: Vec<String>,
    /// Keep the run's root (unmounted) for inspection.
    pub keep: bool,
    /// Seconds the test command may take.
    pub timeout: u64,
}

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// Ctrl-C and SIGTERM set a flag; the run notices it, cleans up and stops.
fn catch_interrupts() {
    let handler = on_signal as extern "C" fn(libc::c_int);
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe { libc::signal(sig, handler as libc::sighandler_t) };
    }
}

fn check_interrupt() -> Result<()> {
    if INTERRUPTED.load(Ordering::SeqCst) {
        Err("interrupted".into())
    } else {
        Ok(())
    }
}

/// `cargo xtask cleanroom`.
pub fn run(opts: &Options) -> Result<i32> {
    if !host::is_root() {
        return Err(
            "the clean room needs root (debootstrap, chroot, mounts): run \
                    `sudo cargo xtask cleanroom`"
                .into(),
        );
    }
    catch_interrupts();
    let started = Instant::now();
    let commit = resolve_commit(&opts.commit)?;
    println!("clean-room: testing commit {commit}");
    warn_if_dirty();
    let sysroot = toolchain()?;
    let (base, base_note) = ensure_base()?;
    sweep_stale()?;
    check_interrupt()?;
    let mut room = Room::create(&base, opts.keep)?;
    room.prepare(&opts.preinstall, &sysroot, &commit)?;
    let outcome = room.run_inner(&sysroot, Duration::from_secs(opts.timeout), &commit)?;
    room.teardown()?;
    check_interrupt()?;
    let (counts, ok) = verdict(outcome.host, outcome.status.is_some_and(|s| s.success()));
    println!(
        "clean-room: finished in {:.0} s (test command {:.0} s); base: {base_note}",
        started.elapsed().as_secs_f64(),
        outcome.elapsed.as_secs_f64()
    );
    println!("{}", verdict_line(counts));
    Ok(if ok { 0 } else { 1 })
}

/// The host's Rust toolchain: `rustc --print sysroot`, a directory whose `bin/` has cargo.
fn toolchain() -> Result<PathBuf> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .map_err(|e| format!("cannot run rustc: {e}"))?;
    if !out.status.success() {
        return Err(format!("`rustc --print sysroot` failed ({})", out.status));
    }
    let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    let dir = dir
        .canonicalize()
        .map_err(|e| format!("bad sysroot {}: {e}", dir.display()))?;
    for tool in ["bin/cargo", "bin/rustc"] {
        if !dir.join(tool).is_file() {
            return Err(format!(
                "the toolchain {} has no {tool}: the clean room needs a rustup-style toolchain \
                 directory",
                dir.display()
            ));
        }
    }
    Ok(dir)
}

fn git(args: &[&str]) -> Result<String> {
    let out = Command::new("git")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "`git {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim_end().to_string())
}

/// `rev` as a full commit hash of the repository.
fn resolve_commit(rev: &str) -> Result<String> {
    let repo = repo_root().display().to_string();
    git(&[
        "-C",
        &repo,
        "rev-parse",
        "--verify",
        &format!("{rev}^{{commit}}"),
    ])
}

fn warn_if_dirty() {
    let repo = repo_root().display().to_string();
    match git(&["-C", &repo, "status", "--porcelain", "--untracked-files=no"]) {
        Ok(s) if !s.is_empty() => eprintln!(
            "clean-room: warning: the working tree has uncommitted changes; they are NOT in the \
             clean room, which tests the commit only:\n{s}"
        ),
        Ok(_) => {}
        Err(e) => eprintln!("clean-room: warning: cannot check the working tree: {e}"),
    }
}

/// The cache key: the recipe's bytes and the package list.
fn base_key(script: &[u8], packages: &[&str]) -> String {
    let mut h = Sha256::new();
    h.update(RECIPE.as_bytes());
    h.update((script.len() as u64).to_le_bytes());
    h.update(script);
    for p in packages {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p.as_bytes());
    }
    h.finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `cache_dir()/cleanroom`, created and canonical (mount points and /proc roots are compared
/// with it).
fn room_dir() -> Result<PathBuf> {
    let d = cache_dir().join("cleanroom");
    std::fs::create_dir_all(&d).map_err(|e| format!("cannot create {}: {e}", d.display()))?;
    d.canonicalize()
        .map_err(|e| format!("cannot resolve {}: {e}", d.display()))
}

fn base_complete(dir: &Path) -> bool {
    dir.join("etc/apt/sources.list.d/debian.sources").is_file() && dir.join("usr/bin").is_dir()
}

/// The cached base root, built now if missing; and a note saying which.
fn ensure_base() -> Result<(PathBuf, String)> {
    let script_path = repo_root().join(RECIPE);
    let script = std::fs::read(&script_path)
        .map_err(|e| format!("cannot read {}: {e}", script_path.display()))?;
    let key = base_key(&script, BASE_PACKAGES);
    let dir = room_dir()?.join(format!("base-{key}"));
    let hit = format!("cache hit (base-{key})");
    if base_complete(&dir) {
        return Ok((dir, hit));
    }
    // The lab's bookworm image builds use the same downloaded-packages directory.
    let _lock = image::lock(&cache_dir().join("build-bookworm.lock"))?;
    if base_complete(&dir) {
        return Ok((dir, hit));
    }
    let started = Instant::now();
    build_base(&script_path, &dir)?;
    Ok((
        dir,
        format!(
            "cache miss, built base-{key} in {:.0} s",
            started.elapsed().as_secs_f64()
        ),
    ))
}

/// Run the recipe into `<dir>.partial`, then move it into place.
fn build_base(script: &Path, dir: &Path) -> Result<()> {
    let partial = dir.with_extension("partial");
    if partial.exists() {
        teardown_root(&partial, false)?;
    }
    let debs = cache_dir().join("debs/bookworm");
    let log = dir.with_extension("log");
    eprintln!(
        "[clean-room] building the base root {} (log: {}); this takes a few minutes",
        dir.display(),
        log.display()
    );
    let st = Command::new("bash")
        .arg(script)
        .env("MIRROR", host::mirror()?)
        .env("ROOT", &partial)
        .env("DEBS", &debs)
        .env("PACKAGES", BASE_PACKAGES.join(" "))
        .env("LOG", &log)
        .env("PATH", SYS_PATH)
        .stdin(Stdio::null())
        .status()
        .map_err(|e| format!("cannot run the base recipe: {e}"))?;
    if !st.success() {
        return Err(format!(
            "building the clean-room base failed ({st}); log in {}",
            log.display()
        ));
    }
    std::fs::rename(&partial, dir).map_err(|e| format!("cannot move the base into place: {e}"))
}

/// Remove run roots left by runs that died (their pid is gone).
fn sweep_stale() -> Result<()> {
    let dir = room_dir()?;
    let Ok(rd) = std::fs::read_dir(&dir) else {
        return Ok(());
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix("run-")
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            eprintln!(
                "[clean-room] removing a stale run root {}",
                e.path().display()
            );
            teardown_root(&e.path(), false)?;
        }
    }
    Ok(())
}

// ---- the run root ----

/// One run's root; torn down (processes killed, unmounted, removed) when dropped.
struct Room {
    root: PathBuf,
    keep: bool,
    done: bool,
}

/// What the test command did.
struct Outcome {
    /// Its exit status; `None` when it was killed (timeout, interrupt).
    status: Option<ExitStatus>,
    /// Its `host: ...` summary, when it printed one.
    host: Option<Counts>,
    /// How long it ran.
    elapsed: Duration,
}

impl Room {
    fn create(base: &Path, keep: bool) -> Result<Room> {
        let root = room_dir()?.join(format!("run-{}", std::process::id()));
        if root.exists() {
            teardown_root(&root, false)?;
        }
        let room = Room {
            root,
            keep,
            done: false,
        };
        run_cmd(Command::new("cp").arg("-a").arg(base).arg(&room.root))?;
        Ok(room)
    }

    fn path(&self, inner: &str) -> PathBuf {
        self.root.join(inner.trim_start_matches('/'))
    }

    /// Mounts, extra packages, the toolchain and the checkout.
    fn prepare(&self, preinstall: &[String], sysroot: &Path, commit: &str) -> Result<()> {
        self.mount_system()?;
        check_interrupt()?;
        if !preinstall.is_empty() {
            self.preinstall(preinstall)?;
            check_interrupt()?;
        }
        self.mount_toolchain(sysroot)?;
        self.clone_repo(commit)?;
        check_interrupt()
    }

    fn mount_system(&self) -> Result<()> {
        run_cmd(
            Command::new("mount")
                .args(["-t", "proc", "proc"])
                .arg(self.path("proc")),
        )?;
        run_cmd(
            Command::new("mount")
                .args(["-t", "sysfs", "sysfs"])
                .arg(self.path("sys")),
        )?;
        run_cmd(
            Command::new("mount")
                .args(["--bind", "/dev"])
                .arg(self.path("dev")),
        )?;
        run_cmd(
            Command::new("mount")
                .args(["--bind", "/dev/pts"])
                .arg(self.path("dev/pts")),
        )?;
        let resolv = std::fs::read("/etc/resolv.conf")
            .map_err(|e| format!("cannot read /etc/resolv.conf: {e}"))?;
        write_file(&self.path("etc/resolv.conf"), &resolv, 0o644)?;
        self.trust_local_cas()?;
        // No service starts inside the root.
        write_file(
            &self.path("usr/sbin/policy-rc.d"),
            b"#!/bin/sh\nexit 101\n",
            0o755,
        )
    }

    /// The host administrator's own CAs (`/usr/local/share/ca-certificates`), like resolv.conf a
    /// part of the network's configuration: on a network that intercepts TLS, crates.io is
    /// reachable only through them. Debian's bundle is already in the base.
    fn trust_local_cas(&self) -> Result<()> {
        let dir = Path::new(LOCAL_CAS);
        let certs: Vec<PathBuf> = std::fs::read_dir(dir)
            .map(|rd| rd.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        let certs: Vec<PathBuf> = certs
            .into_iter()
            .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "crt"))
            .collect();
        if certs.is_empty() {
            return Ok(());
        }
        eprintln!(
            "[clean-room] trusting the host's {} local CA certificate(s) from {LOCAL_CAS}",
            certs.len()
        );
        let into = self.path(LOCAL_CAS);
        std::fs::create_dir_all(&into)
            .map_err(|e| format!("cannot create {}: {e}", into.display()))?;
        for c in &certs {
            let bytes =
                std::fs::read(c).map_err(|e| format!("cannot read {}: {e}", c.display()))?;
            write_file(&into.join(c.file_name().unwrap_or_default()), &bytes, 0o644)?;
        }
        self.in_root(&["update-ca-certificates"])
    }

    /// Install `pkgs` as the machine's owner would have, then drop the package lists again.
    fn preinstall(&self, pkgs: &[String]) -> Result<()> {
        eprintln!("[clean-room] preinstalling {}", pkgs.join(" "));
        self.in_root(&["apt-get", "-q", "update"])?;
        let mut args = vec![
            "apt-get",
            "install",
            "-y",
            "-q",
            "-o",
            "Dpkg::Use-Pty=0",
            "--no-install-recommends",
        ];
        args.extend(pkgs.iter().map(String::as_str));
        self.in_root(&args)?;
        self.in_root(&["apt-get", "clean"])?;
        let lists = self.path("var/lib/apt/lists");
        for e in std::fs::read_dir(&lists)
            .map_err(|e| format!("cannot read {}: {e}", lists.display()))?
            .flatten()
        {
            let p = e.path();
            let _ = if p.is_dir() {
                std::fs::remove_dir_all(&p)
            } else {
                std::fs::remove_file(&p)
            };
        }
        Ok(())
    }

    /// A root command in the chroot (apt), its stdout discarded.
    fn in_root(&self, args: &[&str]) -> Result<()> {
        run_cmd(
            Command::new("/usr/sbin/chroot")
                .env_clear()
                .env("PATH", SYS_PATH)
                .env("DEBIAN_FRONTEND", "noninteractive")
                .env("LC_ALL", "C.UTF-8")
                .arg(&self.root)
                .args(args)
                .stdout(Stdio::null()),
        )
    }

    /// The host's toolchain at the same path, read-only.
    fn mount_toolchain(&self, sysroot: &Path) -> Result<()> {
        let at = self.path(&sysroot.display().to_string());
        std::fs::create_dir_all(&at).map_err(|e| format!("cannot create {}: {e}", at.display()))?;
        run_cmd(Command::new("mount").arg("--bind").arg(sysroot).arg(&at))?;
        run_cmd(
            Command::new("mount")
                .args(["-o", "remount,bind,ro"])
                .arg(&at),
        )
    }

    fn clone_repo(&self, commit: &str) -> Result<()> {
        let dest = self.path(SRC);
        let dest_s = dest.display().to_string();
        let repo = repo_root().display().to_string();
        git(&["clone", "--quiet", "--no-local", &repo, &dest_s])?;
        git(&["-C", &dest_s, "checkout", "--quiet", "--detach", commit])?;
        Ok(())
    }

    /// The chroot command: an empty environment but for what a user's shell would have.
    fn inner_command(&self, sysroot: &Path) -> Command {
        let mut c = Command::new("/usr/sbin/chroot");
        c.env_clear()
            .arg(&self.root)
            .args(["/usr/bin/env", "-i", &format!("--chdir={SRC}")])
            .arg("HOME=/root")
            .arg(format!("PATH={}/bin:{SYS_PATH}", sysroot.display()))
            .arg("CARGO_HOME=/root/.cargo")
            .arg("LANG=C.UTF-8")
            .arg("CARGO_TERM_COLOR=never");
        if let Some(ci) = std::env::var_os("CI") {
            let mut kv = OsString::from("CI=");
            kv.push(ci);
            c.arg(kv);
        }
        c.args(INNER).stdin(Stdio::null());
        c
    }

    /// Run the test command, streaming its output, within `timeout`.
    fn run_inner(&self, sysroot: &Path, timeout: Duration, commit: &str) -> Result<Outcome> {
        let log_path = room_dir()?.join("last.log");
        let mut log = File::create(&log_path)
            .map_err(|e| format!("cannot create {}: {e}", log_path.display()))?;
        let _ = writeln!(log, "commit {commit}\n$ {}", INNER.join(" "));
        eprintln!(
            "[clean-room] running `{}` in {SRC} (log: {})",
            INNER.join(" "),
            log_path.display()
        );
        let (reader, writer) = std::io::pipe().map_err(|e| format!("cannot make a pipe: {e}"))?;
        let mut cmd = self.inner_command(sysroot);
        let w2 = writer.try_clone().map_err(|e| e.to_string())?;
        cmd.stdout(writer).stderr(w2);
        let started = Instant::now();
        let mut child = cmd.spawn().map_err(|e| format!("cannot run chroot: {e}"))?;
        // Our copies of the write end must go, or the reader never sees the end.
        drop(cmd);
        let streamer = stream(reader, log);
        let status = self.wait_bounded(&mut child, timeout)?;
        // Anything left inside (a stray daemon) holds the pipe open: the run is over.
        kill_inside(&self.root);
        let host = streamer.join().unwrap_or(None);
        Ok(Outcome {
            status,
            host,
            elapsed: started.elapsed(),
        })
    }

    /// Wait for `child`; on timeout or interrupt, say what is still running and kill it all.
    fn wait_bounded(&self, child: &mut Child, timeout: Duration) -> Result<Option<ExitStatus>> {
        let started = Instant::now();
        loop {
            if let Some(st) = child.try_wait().map_err(|e| e.to_string())? {
                return Ok(Some(st));
            }
            let interrupted = INTERRUPTED.load(Ordering::SeqCst);
            if interrupted || started.elapsed() >= timeout {
                let what = if interrupted {
                    "interrupted".to_string()
                } else {
                    format!("timed out after {} s", timeout.as_secs())
                };
                eprintln!("clean-room: {what}; still running inside (killed now):");
                for (pid, cmdline) in processes_inside(&self.root).iter().take(20) {
                    eprintln!("  {pid} {cmdline}");
                }
                kill_inside(&self.root);
                let _ = child.kill();
                let _ = child.wait();
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Kill, unmount and (unless kept) remove the root. Refuses to remove while mounted.
    fn teardown(&mut self) -> Result<()> {
        self.done = true;
        teardown_root(&self.root, self.keep)?;
        if self.keep {
            eprintln!("[clean-room] kept the run root {}", self.root.display());
        }
        Ok(())
    }
}

impl Drop for Room {
    fn drop(&mut self) {
        if !self.done
            && let Err(e) = self.teardown()
        {
            eprintln!("clean-room: cleanup failed: {e}");
        }
    }
}

/// Stream the inner command's lines to our stdout (prefixed) and the log; return its `host:`
/// summary.
fn stream(reader: std::io::PipeReader, mut log: File) -> JoinHandle<Option<Counts>> {
    std::thread::spawn(move || {
        let mut host = None;
        let mut r = BufReader::new(reader);
        let mut buf = Vec::new();
        let mut out = std::io::stdout();
        while r.read_until(b'\n', &mut buf).is_ok_and(|n| n > 0) {
            let line = String::from_utf8_lossy(&buf);
            let line = line.trim_end_matches(['\n', '\r']);
            let _ = writeln!(out, "{PREFIX}{line}");
            let _ = writeln!(log, "{line}");
            if let Some(c) = parse_host_line(line) {
                host = Some(c);
            }
            buf.clear();
        }
        host
    })
}

fn write_file(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let _ = std::fs::remove_file(path);
    std::fs::write(path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| format!("cannot chmod {}: {e}", path.display()))
}

fn run_cmd(c: &mut Command) -> Result<()> {
    let shown = format!("{c:?}");
    let st = c
        .stdin(Stdio::null())
        .status()
        .map_err(|e| format!("cannot run {shown}: {e}"))?;
    if st.success() {
        Ok(())
    } else {
        Err(format!("{shown} failed ({st})"))
    }
}

// ---- processes, mounts, removal ----

/// Processes whose root directory is `root` or below it: (pid, command line).
fn processes_inside(root: &Path) -> Vec<(u32, String)> {
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut found: Vec<(u32, String)> = rd
        .flatten()
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let r = std::fs::read_link(e.path().join("root")).ok()?;
            let r = r.to_string_lossy();
            let r = Path::new(r.strip_suffix(" (deleted)").unwrap_or(&r));
            if !r.starts_with(root) {
                return None;
            }
            let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            let mut cmdline = cmdline.trim().to_string();
            if let Some((cut, _)) = cmdline.char_indices().nth(160) {
                cmdline.truncate(cut);
                cmdline.push_str(" ...");
            }
            Some((pid, cmdline))
        })
        .collect();
    found.sort_unstable();
    found
}

/// SIGKILL everything running inside `root`, until nothing is.
fn kill_inside(root: &Path) {
    for _ in 0..50 {
        let procs = processes_inside(root);
        if procs.is_empty() {
            return;
        }
        for (pid, _) in procs {
            // SAFETY: kill has no memory preconditions; the pid was just seen inside the root.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!(
        "clean-room: warning: processes survive inside {}",
        root.display()
    );
}

/// Undo mountinfo's octal escapes (`\040` is a space).
fn unescape_mount_path(s: &str) -> PathBuf {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let oct = b
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match (b[i], oct) {
            (b'\\', Some(d)) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    PathBuf::from(OsString::from_vec(out))
}

/// The mount points in `mountinfo` (the text of /proc/self/mountinfo) at or below `root`,
/// deepest first (later mounts first among equals), the order to unmount them in.
fn mounts_under(mountinfo: &str, root: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = mountinfo
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(unescape_mount_path)
        .filter(|m| m.starts_with(root))
        .collect();
    found.reverse();
    found.sort_by_key(|m| std::cmp::Reverse(m.components().count()));
    found.dedup();
    found
}

fn current_mounts_under(root: &Path) -> Result<Vec<PathBuf>> {
    let info = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| format!("cannot read /proc/self/mountinfo: {e}"))?;
    Ok(mounts_under(&info, root))
}

/// Lazily unmount everything at or below `root`, deepest first.
fn unmount_all(root: &Path) -> Result<()> {
    for _ in 0..5 {
        let mounts = current_mounts_under(root)?;
        if mounts.is_empty() {
            return Ok(());
        }
        for m in mounts {
            if let Err(e) = run_cmd(Command::new("umount").arg("-l").arg(&m)) {
                eprintln!("clean-room: warning: {e}");
            }
        }
    }
    let left = current_mounts_under(root)?;
    if left.is_empty() {
        Ok(())
    } else {
        Err(format!("cannot unmount {left:?}"))
    }
}

/// Refuse (an error naming them) when anything is mounted at or below `root` in `mountinfo`.
fn check_unmounted(mountinfo: &str, root: &Path) -> Result<()> {
    let left = mounts_under(mountinfo, root);
    if left.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "refusing to remove {}: still mounted there: {}",
            root.display(),
            left.iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    }
}

/// Remove `root`, only when nothing is mounted under it: a remaining bind mount would make
/// `rm -rf` delete the host's /dev or toolchain.
fn remove_tree(root: &Path) -> Result<()> {
    let info = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| format!("cannot read /proc/self/mountinfo: {e}"))?;
    check_unmounted(&info, root)?;
    run_cmd(
        Command::new("rm")
            .args(["-rf", "--one-file-system"])
            .arg(root),
    )
}

/// Kill what runs in `root`, unmount everything under it, then remove it unless `keep`.
fn teardown_root(root: &Path, keep: bool) -> Result<()> {
    kill_inside(root);
    unmount_all(root)?;
    if keep { Ok(()) } else { remove_tree(root) }
}

// ---- the verdict ----

/// Parse xtask's `host: N passed, N failed, N skipped` summary line.
fn parse_host_line(line: &str) -> Option<Counts> {
    let rest = line.trim().strip_prefix("host: ")?;
    let mut c = Counts::default();
    let mut seen = 0;
    for part in rest.split(", ") {
        let (n, what) = part.split_once(' ')?;
        let n: u64 = n.parse().ok()?;
        match what {
            "passed" => c.passed = n,
            "failed" => c.failed = n,
            "skipped" => c.skipped = n,
            _ => return None,
        }
        seen += 1;
    }
    (seen == 3).then_some(c)
}

/// The counts to report and whether the clean room passed. A command that failed, or printed no
/// summary (apt, the build, a timeout), counts at least one failure.
fn verdict(host: Option<Counts>, exited_ok: bool) -> (Counts, bool) {
    let seen = host.is_some();
    let mut c = host.unwrap_or_default();
    let ok = exited_ok && seen && c.failed == 0;
    if !ok {
        c.failed = c.failed.max(1);
    }
    (c, ok)
}

fn verdict_line(c: Counts) -> String {
    format!(
        "clean-room: {} passed, {} failed, {} skipped",
        c.passed, c.failed, c.skipped
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(passed: u64, failed: u64, skipped: u64) -> Counts {
        Counts {
            passed,
            failed,
            skipped,
            ..Counts::default()
        }
    }

    #[test]
    fn host_line_is_parsed() {
        assert_eq!(
            parse_host_line("host: 412 passed, 0 failed, 37 skipped"),
            Some(counts(412, 0, 37))
        );
        assert_eq!(
            parse_host_line("total: 1 passed, 0 failed, 0 skipped"),
            None
        );
        assert_eq!(parse_host_line("host: 1 passed, 0 failed"), None);
        assert_eq!(
            parse_host_line("== host tests: cargo test --workspace"),
            None
        );
    }

    #[test]
    fn verdict_passes_only_a_clean_summary() {
        let (c, ok) = verdict(Some(counts(10, 0, 2)), true);
        assert!(ok);
        assert_eq!(
            verdict_line(c),
            "clean-room: 10 passed, 0 failed, 2 skipped"
        );
        let (c, ok) = verdict(Some(counts(10, 3, 2)), false);
        assert!(!ok);
        assert_eq!(c, counts(10, 3, 2));
    }

    #[test]
    fn no_host_line_is_a_failure() {
        // apt or the build failed before any test ran: never "0 failed".
        let (c, ok) = verdict(None, false);
        assert!(!ok);
        assert_eq!(verdict_line(c), "clean-room: 0 passed, 1 failed, 0 skipped");
        // Even a zero exit without a summary is not a pass.
        let (c, ok) = verdict(None, true);
        assert!(!ok);
        assert_eq!(c.failed, 1);
        // A summary of 0 failed from a command that then failed (or was killed).
        let (c, ok) = verdict(Some(counts(5, 0, 0)), false);
        assert!(!ok);
        assert_eq!(c, counts(5, 1, 0));
    }

    #[test]
    fn key_follows_the_recipe_and_the_packages() {
        let k = base_key(b"script", BASE_PACKAGES);
        assert_eq!(k.len(), 16);
        assert!(k.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(k, base_key(b"script", BASE_PACKAGES));
        assert_ne!(k, base_key(b"script", &["gcc", "libc6-dev"]));
        assert_ne!(
            k,
            base_key(b"script", &["gcc", "libc6-dev", "ca-certificates", "git"])
        );
        assert_ne!(k, base_key(b"script2", BASE_PACKAGES));
        // The list is length-delimited: moving a boundary changes the key.
        assert_ne!(base_key(b"s", &["ab", "c"]), base_key(b"s", &["a", "bc"]));
    }

    const MOUNTINFO: &str = "\
22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
23 22 0:5 / /dev rw,nosuid shared:2 - devtmpfs udev rw
24 23 0:20 / /dev/pts rw shared:3 - devpts devpts rw
90 22 0:30 / /c/cleanroom/run-7/proc rw - proc proc rw
91 22 0:31 / /c/cleanroom/run-7/sys rw - sysfs sysfs rw
92 22 0:5 / /c/cleanroom/run-7/dev rw - devtmpfs udev rw
93 92 0:20 / /c/cleanroom/run-7/dev/pts rw - devpts devpts rw
94 22 254:0 /root/.rustup/toolchains/stable /c/cleanroom/run-7/root/.rustup/toolchains/stable ro - ext4 /dev/vda rw
95 22 0:40 / /c/cleanroom/run-70/proc rw - proc proc rw
96 22 0:41 / /c/with\\040space/proc rw - proc proc rw
";

    #[test]
    fn mounts_are_found_deepest_first() {
        let m = mounts_under(MOUNTINFO, Path::new("/c/cleanroom/run-7"));
        let names: Vec<String> = m.iter().map(|p| p.display().to_string()).collect();
        assert_eq!(
            names,
            [
                "/c/cleanroom/run-7/root/.rustup/toolchains/stable",
                "/c/cleanroom/run-7/dev/pts",
                "/c/cleanroom/run-7/dev",
                "/c/cleanroom/run-7/sys",
                "/c/cleanroom/run-7/proc",
            ]
        );
        // run-70 is not under run-7 (components, not string prefixes).
        assert!(!names.iter().any(|n| n.contains("run-70")));
        assert_eq!(
            mounts_under(MOUNTINFO, Path::new("/c/with space")),
            [PathBuf::from("/c/with space/proc")]
        );
    }

    #[test]
    fn removal_refuses_while_mounted() {
        let e = check_unmounted(MOUNTINFO, Path::new("/c/cleanroom/run-7")).unwrap_err();
        assert!(e.contains("refusing"), "{e}");
        assert!(e.contains("/c/cleanroom/run-7/dev"), "{e}");
        // A mount at the root itself counts too.
        assert!(check_unmounted(MOUNTINFO, Path::new("/c/cleanroom/run-70/proc")).is_err());
        assert!(check_unmounted(MOUNTINFO, Path::new("/c/cleanroom/run-8")).is_ok());
        // After everything under it is unmounted, the host's own /dev still being mounted
        // elsewhere does not matter.
        let after: String = MOUNTINFO
            .lines()
            .filter(|l| !l.contains("run-7/"))
            .map(|l| format!("{l}\n"))
            .collect();
        assert!(check_unmounted(&after, Path::new("/c/cleanroom/run-7")).is_ok());
    }
}
