//! `cargo xtask test`: host tests, then the ZFS test binaries inside the lab on each flavour, with
//! one summary line per run (`host: N passed, N failed, N skipped`, `zfs-2.1.11: ...`).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Instant;

use crate::image::{self, repo_root};
use crate::vm::{self, sh_quote};
use crate::{Flavour, Result, VmArgs};

/// What `cargo xtask test` was asked to do.
pub struct Options {
    /// Lab flavours to run.
    pub flavours: Vec<Flavour>,
    /// Run the host tests.
    pub host: bool,
    /// Run the lab tests.
    pub lab: bool,
    /// VM options.
    pub vm: VmArgs,
    /// Extra arguments for the test binaries.
    pub filter: Vec<String>,
}

impl Options {
    /// The test-name filters among the extra arguments (those not starting with `-`).
    fn name_filters(&self) -> Vec<&str> {
        self.filter
            .iter()
            .map(String::as_str)
            .filter(|a| !a.starts_with('-'))
            .collect()
    }

    /// Whether the filters select the test `name` (no filter selects every test).
    fn selects(&self, name: &str) -> bool {
        let f = self.name_filters();
        f.is_empty() || f.iter().any(|f| name.contains(f))
    }
}

/// Test counts of one run.
#[derive(Default, Debug, Clone, PartialEq, Eq)]
pub struct Counts {
    /// Passed tests.
    pub passed: u64,
    /// Failed tests (and binaries that crashed or did not build).
    pub failed: u64,
    /// Ignored (skipped) tests.
    pub skipped: u64,
    /// What failed, by name where known: repeated in the summary, whose tail is what CI keeps.
    pub failures: Vec<String>,
}

impl Counts {
    pub(crate) fn add(&mut self, o: Counts) {
        self.passed += o.passed;
        self.failed += o.failed;
        self.skipped += o.skipped;
        self.failures.extend(o.failures);
    }

    /// One more failure, `what` naming it (a test, or a binary or build that broke).
    pub(crate) fn fail(&mut self, what: impl Into<String>) {
        self.failed += 1;
        self.failures.push(what.into());
    }
    fn line(&self, label: &str) -> String {
        format!(
            "{label}: {} passed, {} failed, {} skipped",
            self.passed, self.failed, self.skipped
        )
    }

    /// The summary line, then one `  failed: NAME` line per named failure.
    fn report(&self, label: &str) -> Vec<String> {
        let mut out = vec![self.line(label)];
        out.extend(self.failures.iter().map(|f| format!("  failed: {f}")));
        out
    }
}

/// Parse one libtest summary line: `test result: ok. 3 passed; 0 failed; 1 ignored; ...`.
pub fn parse_result_line(line: &str) -> Option<Counts> {
    let rest = line.trim().strip_prefix("test result: ")?;
    let mut c = Counts::default();
    for part in rest.split(';') {
        let words: Vec<&str> = part.split_whitespace().collect();
        let (n, what) = match words.as_slice() {
            [.., n, what] => match n.parse::<u64>() {
                Ok(n) => (n, *what),
                Err(_) => continue,
            },
            _ => continue,
        };
        match what {
            "passed" => c.passed = n,
            "failed" => c.failed = n,
            "ignored" => c.skipped = n,
            _ => {}
        }
    }
    Some(c)
}

pub(crate) fn target_base() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"))
}

/// `cargo` (the one that runs xtask: `$CARGO`), in the repository's root.
pub(crate) fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(repo_root());
    c
}

/// Run `cargo` with args, streaming its stdout and returning it.
fn cargo_streamed(
    args: &[&str],
    env: &[(String, String)],
    target: Option<&Path>,
) -> Result<(bool, String)> {
    let mut c = cargo();
    c.args(args).envs(env.iter().map(|(k, v)| (k, v)));
    if let Some(t) = target {
        c.env("CARGO_TARGET_DIR", t);
    }
    c.stdout(Stdio::piped()).stderr(Stdio::inherit());
    let mut child = c.spawn().map_err(|e| format!("cannot run cargo: {e}"))?;
    let mut all = String::new();
    if let Some(out) = child.stdout.take() {
        let mut o = std::io::stdout();
        for line in BufReader::new(out).lines() {
            let line = line.map_err(|e| e.to_string())?;
            let _ = writeln!(o, "{line}");
            all.push_str(&line);
            all.push('\n');
        }
    }
    let st = child.wait().map_err(|e| e.to_string())?;
    Ok((st.success(), all))
}

fn host_tests(filter: &[String]) -> Counts {
    let mut counts = Counts::default();
    // The command-line tests (tests/tests/cli.rs) run the example binaries, which `cargo test`
    // does not build for another package: build them first, as the 2.1 lab build does (the same
    // features, so that build then has nothing to do).
    println!("== host tests: building the workspace's binaries");
    match cargo_streamed(&BUILD_BINS, &[], None) {
        Ok((true, _)) => {}
        Ok((false, _)) => {
            eprintln!("xtask: building the workspace's binaries failed");
            counts.fail("building the workspace's binaries");
            return counts;
        }
        Err(e) => {
            eprintln!("xtask: {e}");
            counts.fail(format!("building the workspace's binaries: {e}"));
            return counts;
        }
    }
    println!("== host tests: cargo test --workspace");
    let mut args = vec!["test", "--workspace"];
    if !filter.is_empty() {
        args.push("--");
        args.extend(filter.iter().map(String::as_str));
    }
    match cargo_streamed(&args, &[], None) {
        Ok((ok, out)) => {
            for l in out.lines() {
                if let Some(c) = parse_result_line(l) {
                    counts.add(c);
                }
            }
            counts.failures.extend(failed_test_names(&out));
            if !ok && counts.failed == 0 {
                eprintln!(
                    "xtask: `cargo test --workspace` failed without a failing test (build error?)"
                );
                counts.fail("`cargo test --workspace` (no failing test: a build error?)");
            }
        }
        Err(e) => {
            eprintln!("xtask: {e}");
            counts.fail(format!("`cargo test --workspace`: {e}"));
        }
    }
    counts
}

/// The cargo features of every lab build: the rollback lab tests run `datavault` with
/// `FLOCKER_CORE_FAULT`, which only a build with the test hooks honours.
pub(crate) const LAB_FEATURES: &str = "flocker-core/fault-injection";

/// The build of the workspace's binaries (all but xtask) for the tests, host and lab alike.
const BUILD_BINS: [&str; 8] = [
    "build",
    "--workspace",
    "--exclude",
    "xtask",
    "--bins",
    "--features",
    LAB_FEATURES,
    "--quiet",
];

/// The target directory used for a flavour.
pub(crate) fn target_for(flavour: Flavour) -> PathBuf {
    let base = target_base();
    match flavour {
        Flavour::V2_1 => base,
        other => base.join(format!("lab-zfs-{}", other.as_str())),
    }
}

/// Build the example binaries for a flavour; returns their directory.
pub fn build_examples(flavour: Flavour, env: &[(String, String)]) -> Result<PathBuf> {
    let target = target_for(flavour);
    eprintln!(
        "[lab] building the example binaries for zfs {}",
        flavour.as_str()
    );
    let (ok, _) = cargo_streamed(
        &["build", "-p", "flocker-examples", "--bins", "--quiet"],
        env,
        Some(&target),
    )?;
    if !ok {
        return Err(format!(
            "building the example binaries for zfs {} failed",
            flavour.as_str()
        ));
    }
    Ok(target.join("debug"))
}

/// Build the ZFS test binaries (and the workspace's binaries) for a flavour; returns the test
/// executables and the directory of the other binaries.
fn build_for(flavour: Flavour, env: &[(String, String)]) -> Result<(Vec<PathBuf>, PathBuf)> {
    let target = target_for(flavour);
    println!(
        "== building for zfs {} into {}",
        flavour.as_str(),
        target.display()
    );
    let (ok, _) = cargo_streamed(&BUILD_BINS, env, Some(&target))?;
    if !ok {
        return Err(format!(
            "building the workspace's binaries for zfs {} failed",
            flavour.as_str()
        ));
    }
    let mut c = cargo();
    c.args([
        "test",
        "-p",
        "flocker-tests",
        "--no-run",
        "--message-format=json-render-diagnostics",
    ])
    .env("CARGO_TARGET_DIR", &target)
    .envs(env.iter().map(|(k, v)| (k, v)))
    .stderr(Stdio::inherit());
    let out = c.output().map_err(|e| format!("cannot run cargo: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "building the ZFS tests for zfs {} failed",
            flavour.as_str()
        ));
    }
    let mut bins = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if v["reason"] != "compiler-artifact" || v["profile"]["test"] != true {
            continue;
        }
        if let Some(exe) = v["executable"].as_str() {
            bins.push(PathBuf::from(exe));
        }
    }
    bins.sort();
    bins.dedup();
    Ok((bins, target.join("debug")))
}

/// Lab images made ready in the background, in the order the flavours are tested, so that the
/// next flavour's image is built while the host tests and the previous flavour's tests run: on a
/// machine with no cached image, most of each build (downloads, dpkg, the dkms compile on the
/// core the emulated guest leaves idle) then costs no wall-clock time. After each image, the
/// flavour's root-on-ZFS template (for `rootboot::*`, which runs last in a flavour) is built
/// too, only to warm its cache: the test builds it itself, and reports its error, when this
/// could not.
struct Images {
    rx: mpsc::Receiver<(Flavour, Result<image::Image>)>,
    ready: Vec<(Flavour, Result<image::Image>)>,
}

impl Images {
    fn start(flavours: &[Flavour], vm_args: &VmArgs, root_templates: bool) -> Images {
        let (tx, rx) = mpsc::channel();
        let flavours = flavours.to_vec();
        let vm_args = vm_args.clone();
        std::thread::spawn(move || {
            for f in flavours {
                let img = image::ensure(f);
                let ok = img.is_ok();
                if tx.send((f, img)).is_err() {
                    return;
                }
                if ok
                    && root_templates
                    && crate::host::is_root()
                    && let Err(e) = crate::rootfs::ensure(f, &vm_args)
                {
                    eprintln!(
                        "xtask: background build of the zfs {} root-on-ZFS template: {e}",
                        f.as_str()
                    );
                }
            }
        });
        Images {
            rx,
            ready: Vec::new(),
        }
    }

    /// The image of `flavour`, waiting for its build.
    fn get(&mut self, flavour: Flavour) -> Result<image::Image> {
        loop {
            if let Some(i) = self.ready.iter().position(|(f, _)| *f == flavour) {
                return self.ready.swap_remove(i).1;
            }
            match self.rx.recv() {
                Ok(r) => self.ready.push(r),
                Err(_) => {
                    return Err(format!(
                        "the image builder stopped before the zfs {} image was ready",
                        flavour.as_str()
                    ));
                }
            }
        }
    }
}

/// The shell script that runs each ZFS test binary once in the boot, between `### binary PATH`
/// and `### exit N` markers (then `### took N s`, its wall time), with `filter` as extra
/// arguments.
fn runner_script(bins: &[PathBuf], filter: &[String], threads: usize) -> String {
    let mut script =
        String::from("#!/bin/sh\n# Written by cargo xtask test: runs each ZFS test binary once.\n");
    let extra: Vec<String> = filter.iter().map(|a| sh_quote(a)).collect();
    for b in bins {
        let q = sh_quote(&b.to_string_lossy());
        script.push_str(&format!(
            "echo '### binary {}'\nt0=$(date +%s)\n{q} --test-threads={threads} --color never {}\n\
             echo \"### exit $?\"\necho \"### took $(( $(date +%s) - t0 )) s\"\n",
            b.display(),
            extra.join(" ")
        ));
    }
    script
}

/// Tests of one binary run at once in the lab by default. The guest has 2 vCPUs, but its tests
/// wait on ZFS (syncs, kernel threads) much of the time: with 2 at once the host's two cores
/// were ~45% idle; 4 at once took the 2.4 suite from 1075 s to 880 s (2026-12-07).
const LAB_TEST_THREADS: usize = 4;

/// How many tests of a binary run at once in the lab: `FLOCKER_LAB_TEST_THREADS`, else
/// [`LAB_TEST_THREADS`].
fn lab_test_threads() -> usize {
    std::env::var("FLOCKER_LAB_TEST_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(LAB_TEST_THREADS)
}

/// Each binary's wall time in the runner's stdout (its file name without the hash, seconds).
fn binary_times(text: &str) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    let mut name = String::new();
    for l in text.lines() {
        let l = l.trim_end_matches('\r');
        if let Some(path) = l.strip_prefix("### binary ") {
            let file = path.rsplit('/').next().unwrap_or(path);
            name = file.rsplit_once('-').map_or(file, |(n, _)| n).to_string();
        } else if let Some(secs) = l
            .strip_prefix("### took ")
            .and_then(|t| t.trim_end_matches(" s").parse().ok())
        {
            out.push((name.clone(), secs));
        }
    }
    out
}

/// The `n` slowest tests of the runner's stdout (`#time NAME SECS s` lines), slowest first.
fn slowest_tests(text: &str, n: usize) -> Vec<(String, u64)> {
    let mut all: Vec<(String, u64)> = text
        .lines()
        .filter_map(|l| {
            let rest = l.trim_end_matches('\r').strip_prefix("#time ")?;
            let (name, secs) = rest.strip_suffix(" s")?.rsplit_once(' ')?;
            Some((name.to_string(), secs.parse().ok()?))
        })
        .collect();
    all.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    all.truncate(n);
    all
}

/// The test counts in the runner's stdout, summed over the binaries; a binary that printed no
/// test result, or exited non-zero without a failed test, counts (and is reported) as a failure.
fn runner_counts(text: &str) -> Counts {
    let mut counts = Counts::default();
    let mut cur: Option<(String, Counts, bool)> = None;
    let close = |cur: &mut Option<(String, Counts, bool)>,
                 code: Option<i32>,
                 counts: &mut Counts| {
        if let Some((name, c, seen)) = cur.take() {
            let none_failed = c.failed == 0;
            counts.add(c);
            if !seen {
                println!("xtask: {name} printed no test result (crashed?)");
                counts.fail(format!("{name} (printed no test result)"));
            } else if code.is_some_and(|c| c != 0) && none_failed {
                println!("xtask: {name} exited with status {code:?} but reported no failed test");
                counts.fail(format!("{name} (status {code:?}, no failed test)"));
            }
        }
    };
    for l in text.lines() {
        let l = l.trim_end_matches('\r');
        if let Some(name) = l.strip_prefix("### binary ") {
            close(&mut cur, None, &mut counts);
            cur = Some((name.to_string(), Counts::default(), false));
        } else if let Some(code) = l.strip_prefix("### exit ") {
            close(&mut cur, code.trim().parse().ok(), &mut counts);
        } else if let Some(c) = parse_result_line(l)
            && let Some((_, acc, seen)) = cur.as_mut()
        {
            acc.add(c);
            *seen = true;
        }
    }
    close(&mut cur, None, &mut counts);
    counts.failures.extend(failed_test_names(text));
    counts
}

/// The failed tests' names in libtest output: the indented list after the last `failures:` line
/// of each binary's report.
fn failed_test_names(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut section: Option<Vec<String>> = None;
    for l in text.lines() {
        let l = l.trim_end_matches('\r');
        if l == "failures:" {
            section = Some(Vec::new());
        } else if let Some(list) = section.as_mut() {
            match l.strip_prefix("    ") {
                Some(n) if !n.is_empty() && !n.contains(char::is_whitespace) => {
                    list.push(n.to_string())
                }
                _ if l.trim().is_empty() && list.is_empty() => {}
                _ => {
                    // The list ends at the first other line; the report's earlier `failures:`
                    // section (captured output, `---- NAME stdout ----`) has no such list.
                    names.append(list);
                    section = None;
                }
            }
        }
    }
    if let Some(mut list) = section {
        names.append(&mut list);
    }
    names
}

/// The reboot tests the filter selects (none selected: nothing to run), with the rollback test
/// binary among `bins`.
fn reboot_tests(flavour: Flavour, opts: &Options, bins: &[PathBuf], bin_dir: &Path) -> Counts {
    let mut counts = Counts::default();
    if crate::reboot::names().iter().any(|n| opts.selects(n)) {
        match bins.iter().find(|b| {
            b.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("rollback-"))
        }) {
            Some(rb) => counts.add(crate::reboot::run(
                flavour,
                &opts.vm,
                &crate::reboot::work_dir(&target_base()),
                bin_dir,
                rb,
                &|n: &str| opts.selects(n),
            )),
            None => {
                println!("xtask: no rollback test binary was built: the reboot tests cannot run");
                counts.fail("reboot::* (no rollback test binary)");
            }
        }
    }
    counts
}

/// The root-on-ZFS rollback-at-next-boot test (`rootboot::at_next_boot`), when the filter
/// selects it.
fn rootboot_tests(flavour: Flavour, opts: &Options, bin_dir: &Path) -> Counts {
    if !wants_rootboot(opts) {
        return Counts::default();
    }
    crate::rootboot::run(flavour, &opts.vm, &target_base(), bin_dir)
}

/// Whether the filter selects `rootboot::at_next_boot` (no filter selects everything).
fn wants_rootboot(opts: &Options) -> bool {
    opts.selects(crate::rootboot::NAME)
}

fn lab_tests(flavour: Flavour, opts: &Options, images: &mut Images) -> Result<(String, Counts)> {
    let img = images.get(flavour)?;
    let env = image::dev_env(flavour, &img)?;
    let (bins, bin_dir) = build_for(flavour, &env)?;
    if bins.is_empty() {
        return Err("no ZFS test binaries were built".into());
    }
    let runner = bin_dir.join(format!("lab-runner-{}.sh", flavour.as_str()));
    std::fs::write(
        &runner,
        runner_script(&bins, &opts.filter, lab_test_threads()),
    )
    .map_err(|e| format!("cannot write {}: {e}", runner.display()))?;
    let mut vm_args = opts.vm.clone();
    // The package test (tests/tests/package.rs) installs the .deb made from these binaries.
    match crate::package::build_deb(flavour, &img, &bin_dir, crate::package::Profile::Debug) {
        Ok(deb) => vm_args.env.push(format!("FLOCKER_DEB={}", deb.display())),
        Err(e) => println!(
            "xtask: the zfs {} package could not be built: {e}",
            flavour.as_str()
        ),
    }
    // The package's build (without the test features) writes its `datavault` into the base
    // target directory, which is 2.1's lab one: build the lab's again (cached: a relink) so that
    // the `datavault` the guest runs honours FLOCKER_CORE_FAULT.
    build_for(flavour, &env)?;
    // The whole suite runs in one boot: allow at least an hour (it took 17 min per flavour on a
    // saturated host), so a slow machine is not mistaken for a hung guest.
    vm_args.timeout = vm_args.timeout.max(3600);
    vm_args.shares.push(target_base());
    vm_args
        .env
        .push(format!("FLOCKER_BIN_DIR={}", bin_dir.display()));
    println!("== ZFS tests in the lab, zfs {}", flavour.as_str());
    let started = Instant::now();
    let out = vm::run_script_in_lab(flavour, &vm_args, &runner)?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut counts = runner_counts(&text);
    for (name, secs) in binary_times(&text) {
        println!("== {name}: {secs} s");
    }
    let slowest: Vec<String> = slowest_tests(&text, 12)
        .into_iter()
        .map(|(name, secs)| format!("{name} {secs} s"))
        .collect();
    if !slowest.is_empty() {
        println!("== slowest tests: {}", slowest.join(", "));
    }
    println!(
        "== ZFS tests for zfs {} took {:.0} s (boot {:.1} s)",
        flavour.as_str(),
        started.elapsed().as_secs_f64(),
        out.boot_secs
    );

    // The lab's own tests (`lab::*`) follow the filter like every other test. They test the
    // lab (a guest's failure, hang and panic reach the host), not ZFS: a run without a filter
    // has them on its first flavour only and counts them as skipped on the others.
    let unfiltered = opts.name_filters().is_empty();
    let named = !unfiltered && LAB_SELF_TESTS.iter().any(|n| opts.selects(n));
    if named || (unfiltered && opts.flavours.first() == Some(&flavour)) {
        counts.add(lab_self_tests(flavour, &opts.vm, out.boot_secs));
    } else if unfiltered {
        println!(
            "xtask: the {} lab self-tests (lab::guest_*, lab::kernel_panic_*) ran on the first \
             flavour; skipped here",
            LAB_SELF_TESTS.len()
        );
        counts.skipped += LAB_SELF_TESTS.len() as u64;
    }
    counts.add(reboot_tests(flavour, opts, &bins, &bin_dir));
    counts.add(rootboot_tests(flavour, opts, &bin_dir));
    let upstream = out
        .zfs_version
        .split('-')
        .next()
        .unwrap_or(&out.zfs_version)
        .to_string();
    Ok((format!("zfs-{upstream}"), counts))
}

/// The names of [`lab_self_tests`], for the filter.
const LAB_SELF_TESTS: [&str; 3] = [
    "lab::guest_failure_propagates",
    "lab::guest_hang_is_reported",
    "lab::kernel_panic_is_reported",
];

/// Tests of the lab itself, one boot each: a failing command, a hung guest and a kernel panic
/// must each fail the host side with the right status or message, within a bounded time.
fn lab_self_tests(flavour: Flavour, vm_args: &VmArgs, boot_secs: f64) -> Counts {
    let mut counts = Counts::default();
    let mut check =
        |name: &str,
         args: &VmArgs,
         cmd: &[&str],
         verdict: &dyn Fn(Result<vm::Outcome>) -> Result<(), String>| {
            print!("test lab::{name} ... ");
            let _ = std::io::stdout().flush();
            let cmd: Vec<String> = cmd.iter().map(|s| s.to_string()).collect();
            match verdict(vm::run_in_lab(flavour, args, &cmd)) {
                Ok(()) => {
                    println!("ok");
                    counts.passed += 1;
                }
                Err(e) => {
                    println!("FAILED ({e})");
                    counts.fail(format!("lab::{name}"));
                }
            }
        };
    check(
        "guest_failure_propagates",
        vm_args,
        &["sh", "-c", "exit 7"],
        &|r| match r {
            Ok(o) if o.code == 7 => Ok(()),
            Ok(o) => Err(format!("status {} instead of 7", o.code)),
            Err(e) => Err(e),
        },
    );
    check(
        "kernel_panic_is_reported",
        vm_args,
        &["sh", "-c", "echo c >/proc/sysrq-trigger; sleep 600"],
        &|r| match r {
            Err(e) if e.contains("panicked") => Ok(()),
            Err(e) => Err(format!("unexpected error: {e}")),
            Ok(o) => Err(format!("a panicked guest returned status {}", o.code)),
        },
    );
    // A command that never ends. The deadline is twice the boot measured at the suite's start
    // plus a minute; a guest still booting at the deadline (a host loaded meanwhile) is not the
    // hang under test, so the run is repeated with twice the time, at most twice more.
    print!("test lab::guest_hang_is_reported ... ");
    let _ = std::io::stdout().flush();
    let mut short = vm_args.clone();
    short.timeout = (boot_secs * 2.0) as u64 + 60;
    let cmd = ["sleep".to_string(), "100000".to_string()];
    let mut r = vm::run_in_lab(flavour, &short, &cmd);
    for _ in 0..2 {
        match &r {
            Err(e) if e.contains("hung") && !e.contains("running the command") => {
                print!("(still booting after {} s; again) ", short.timeout);
                short.timeout *= 2;
                r = vm::run_in_lab(flavour, &short, &cmd);
            }
            _ => break,
        }
    }
    match r {
        Err(e) if e.contains("hung") && e.contains("running the command") => {
            println!("ok");
            counts.passed += 1;
        }
        Err(e) => {
            println!("FAILED (unexpected error: {e})");
            counts.fail("lab::guest_hang_is_reported");
        }
        Ok(o) => {
            println!("FAILED (a hung command returned status {})", o.code);
            counts.fail("lab::guest_hang_is_reported");
        }
    }
    counts
}

/// `cargo xtask test`.
pub fn run(opts: &Options) -> Result<i32> {
    let started = Instant::now();
    // The lab's test binaries (libtest-mimic) take one name filter; with two, each of them
    // would stop at its arguments and the whole run would fail.
    if opts.lab && opts.name_filters().len() > 1 {
        return Err(format!(
            "the lab's test binaries take one name filter, not {}: {}",
            opts.name_filters().len(),
            opts.name_filters().join(" ")
        ));
    }
    // The host tests build the bindings too, so the headers and libclang are needed first.
    crate::host::ensure_lab_prereqs()?;
    let mut lines = Vec::new();
    let mut total = Counts::default();
    let mut broken = false;
    let mut images = opts
        .lab
        .then(|| Images::start(&opts.flavours, &opts.vm, wants_rootboot(opts)));
    if opts.host {
        let c = host_tests(&opts.filter);
        lines.extend(c.report("host"));
        total.add(c);
    }
    if let Some(images) = images.as_mut() {
        for &f in &opts.flavours {
            match lab_tests(f, opts, images) {
                Ok((label, c)) => {
                    lines.extend(c.report(&label));
                    total.add(c);
                }
                Err(e) => {
                    eprintln!("xtask: the zfs {} lab could not run: {e}", f.as_str());
                    lines.push(format!(
                        "zfs-{}: not run ({})",
                        f.as_str(),
                        e.lines().next().unwrap_or("")
                    ));
                    broken = true;
                }
            }
        }
    }
    println!("\n== summary ({:.0} s)", started.elapsed().as_secs_f64());
    for l in &lines {
        println!("{l}");
    }
    println!("{}", total.line("total"));
    Ok(if total.failed > 0 || broken { 1 } else { 0 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_libtest_summary() {
        let c = parse_result_line("test result: ok. 12 passed; 0 failed; 3 ignored; 0 measured; 0 filtered out; finished in 0.01s").unwrap();
        assert_eq!(
            c,
            Counts {
                passed: 12,
                failed: 0,
                skipped: 3,
                failures: vec![]
            }
        );
        let c = parse_result_line(
            "test result: FAILED. 1 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out",
        )
        .unwrap();
        assert_eq!(
            c,
            Counts {
                passed: 1,
                failed: 2,
                skipped: 0,
                failures: vec![]
            }
        );
        assert!(parse_result_line("running 3 tests").is_none());
    }

    #[test]
    fn runner_script_marks_each_binary() {
        let bins = [PathBuf::from("/t/a-1"), PathBuf::from("/t/b c")];
        let filter = ["--exact".to_string(), "x y".to_string()];
        assert_eq!(
            runner_script(&bins, &filter, 2),
            "#!/bin/sh\n# Written by cargo xtask test: runs each ZFS test binary once.\n\
             echo '### binary /t/a-1'\nt0=$(date +%s)\n\
             /t/a-1 --test-threads=2 --color never --exact 'x y'\n\
             echo \"### exit $?\"\necho \"### took $(( $(date +%s) - t0 )) s\"\n\
             echo '### binary /t/b c'\nt0=$(date +%s)\n\
             '/t/b c' --test-threads=2 --color never --exact 'x y'\n\
             echo \"### exit $?\"\necho \"### took $(( $(date +%s) - t0 )) s\"\n"
        );
    }

    #[test]
    fn slowest_tests_sort_by_time_and_skip_other_lines() {
        let text = "#time a::x 3 s\n#time b::y 40 s\r\n#time bad\n#time c::z q s\n\
                    test a::x ... ok\n#time d::w 7 s\n";
        assert_eq!(
            slowest_tests(text, 2),
            vec![("b::y".to_string(), 40), ("d::w".to_string(), 7)]
        );
    }

    #[test]
    fn binary_times_name_each_binary() {
        let text = "### binary /t/deps/rollback-0123abcd\ntest result: ok. 1 passed;\n\
                    ### exit 0\n### took 42 s\n### binary /t/b\n### exit 1\n### took x s\n";
        assert_eq!(binary_times(text), vec![("rollback".to_string(), 42)]);
    }

    #[test]
    fn runner_counts_sum_binaries_and_count_silent_failures() {
        let text = "### binary /t/a\n\
                    test result: ok. 3 passed; 0 failed; 1 ignored; 0 measured\n\
                    ### exit 0\n\
                    ### binary /t/crashed\n\
                    ### exit 101\n\
                    ### binary /t/exit-without-failure\n\
                    test result: ok. 2 passed; 0 failed; 0 ignored\n\
                    ### exit 1\n\
                    ### binary /t/failing\n\
                    failures:\n\
                    \n\
                    ---- tree::copy stdout ----\n\
                    thread panicked\n\
                    \n\
                    failures:\n    tree::copy\n    tree::swap\n\
                    \n\
                    test result: FAILED. 1 passed; 2 failed; 0 ignored\n\
                    ### exit 101\n\
                    ### binary /t/cut-short\r\n\
                    test result: ok. 1 passed; 0 failed; 0 ignored\n";
        assert_eq!(
            runner_counts(text),
            Counts {
                passed: 7,
                failed: 4,
                skipped: 1,
                failures: vec![
                    "/t/crashed (printed no test result)".to_string(),
                    "/t/exit-without-failure (status Some(1), no failed test)".to_string(),
                    "tree::copy".to_string(),
                    "tree::swap".to_string(),
                ],
            }
        );
    }

    #[test]
    fn summary_line_shape() {
        let c = Counts {
            passed: 4,
            failed: 1,
            skipped: 2,
            failures: vec!["rootboot::at_next_boot".to_string()],
        };
        assert_eq!(
            c.report("zfs-2.1.11"),
            vec![
                "zfs-2.1.11: 4 passed, 1 failed, 2 skipped".to_string(),
                "  failed: rootboot::at_next_boot".to_string()
            ]
        );
    }
}
