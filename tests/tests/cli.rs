//! The example binaries' command lines, on the host (no ZFS needed): `--help` exits 0 on
//! stdout, `--version`, a non-UTF-8 argument or a malformed name exits 2 without a panic, and
//! a missing /dev/zfs is named for the administrator. Build the binaries first
//! (`cargo build -p flocker-examples --bins`).

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::process::Command;

use flocker_tests::{Out, TestResult, Trial, ensure, example_bin, host_test, run};

fn out(bin: &str, args: &[&OsStr]) -> Result<Out, flocker_tests::Failed> {
    Out::of(Command::new(example_bin(bin)?).args(args))
}

fn s(a: &str) -> &OsStr {
    OsStr::new(a)
}

fn help_on_every_subcommand() -> TestResult {
    let cases: &[(&str, &[&str])] = &[
        ("flocker-ls", &[]),
        ("flocker-snap", &[]),
        ("prune", &[]),
        ("datavault", &[]),
        ("datavault", &["list"]),
        ("datavault", &["prune"]),
        ("datavault", &["snapshot"]),
        ("datavault", &["run"]),
        ("datavault", &["status"]),
        ("datavault", &["config", "check"]),
        ("datavault", &["diff"]),
        ("datavault", &["browse"]),
        ("datavault", &["restore-file"]),
        ("datavault", &["rollback"]),
        ("datavault", &["stash", "list"]),
        ("datavault", &["stash", "show"]),
        ("datavault", &["recover"]),
    ];
    for (bin, sub) in cases {
        for h in ["--help", "-h"] {
            let mut args: Vec<&OsStr> = sub.iter().map(|a| s(a)).collect();
            args.push(s(h));
            let o = out(bin, &args)?.expect(0, (bin, sub, h))?;
            ensure!(
                o.stdout.contains("Usage"),
                "{bin} {sub:?} {h}: {}",
                o.stdout
            );
        }
    }
    Ok(())
}

fn version_everywhere() -> TestResult {
    for bin in ["flocker-ls", "flocker-snap", "prune", "datavault"] {
        let o = out(bin, &[s("--version")])?.expect(0, bin)?;
        ensure!(o.stdout.starts_with(bin), "{bin}: {}", o.stdout);
    }
    Ok(())
}

fn non_utf8_is_exit_2() -> TestResult {
    let bad = OsStr::from_bytes(b"tank/\xff");
    for (bin, pre) in [("datavault", &["list"][..]), ("flocker-ls", &[][..])] {
        let mut args: Vec<&OsStr> = pre.iter().map(|a| s(a)).collect();
        args.push(bad);
        let o = out(bin, &args)?.expect(2, bin)?;
        ensure!(
            o.stderr.contains("UTF-8") && !o.stderr.contains("panicked"),
            "{bin}: {}",
            o.stderr
        );
    }
    Ok(())
}

fn malformed_names_are_exit_2() -> TestResult {
    for (bin, args) in [
        ("datavault", &["diff", "tank/a@@x", "tank/a"][..]),
        ("datavault", &["browse", "bad*name@x"]),
        ("datavault", &["list", "tank/a@@b"]),
        ("datavault", &["stash", "show", "../x"]),
        ("flocker-ls", &["tank@@x"]),
    ] {
        let a: Vec<&OsStr> = args.iter().map(|x| s(x)).collect();
        let o = out(bin, &a)?.expect(2, (bin, args))?;
        ensure!(!o.stderr.contains("panicked"), "{bin}: {}", o.stderr);
    }
    Ok(())
}

/// The subcommands clap parses alone: a usage error is one line, exit 2, before any ZFS call
/// (the wordings of the hand parsers they had are kept); a non-UTF-8 argument anywhere too.
fn datavault_usage_errors() -> TestResult {
    for (args, needle) in [
        (&["prune"][..], "expected exactly one DATASET"),
        (
            &["prune", "tank/a", "tank/b"],
            "expected exactly one DATASET",
        ),
        (&["run", "--once"], "run needs --config FILE"),
        (&["diff", "tank/a@x"], "diff needs two arguments"),
        (
            &["list", "tank/a", "tank/b"],
            "list takes at most one DATASET",
        ),
        (&["snapshot", "--bogus", "tank/a"], "unknown option --bogus"),
        (&["list", "tank/a", "--keep"], "--keep"),
        (
            &["snapshot", "--pre", "x", "--post", "y", "tank/a"],
            "exclude each other",
        ),
    ] {
        let a: Vec<&OsStr> = args.iter().map(|x| s(x)).collect();
        let o = out("datavault", &a)?.expect(2, args)?;
        let first = o.stderr.lines().next().unwrap_or("");
        ensure!(
            first.contains(needle) && !o.stderr.contains("panicked") && o.stdout.is_empty(),
            "{args:?}: {}",
            o.stderr
        );
    }
    let bad = OsStr::from_bytes(b"tank/\xff");
    for pre in [
        &["snapshot"][..],
        &["prune"],
        &["diff", "tank/a@x"],
        &["run", "--config"],
        &["list", "--match"],
    ] {
        let mut args: Vec<&OsStr> = pre.iter().map(|a| s(a)).collect();
        args.push(bad);
        let o = out("datavault", &args)?.expect(2, pre)?;
        ensure!(
            o.stderr.contains("UTF-8") && !o.stderr.contains("panicked"),
            "{pre:?}: {}",
            o.stderr
        );
    }
    Ok(())
}

fn zfs_missing_is_named() -> TestResult {
    if flocker_tests::zfs_available() {
        return Ok(());
    }
    for (bin, args) in [
        ("flocker-ls", &["tank"][..]),
        ("datavault", &["list", "tank/a"]),
    ] {
        let a: Vec<&OsStr> = args.iter().map(|x| s(x)).collect();
        let o = out(bin, &a)?.expect(1, bin)?;
        ensure!(
            o.stderr
                .contains("ZFS is not available: /dev/zfs is missing (is the zfs module loaded?)")
                && !o.stderr.contains("ENOENT"),
            "{bin}: {}",
            o.stderr
        );
    }
    Ok(())
}

fn main() {
    let trials: Vec<Trial> = vec![
        host_test("help_on_every_subcommand", help_on_every_subcommand),
        host_test("version_everywhere", version_everywhere),
        host_test("non_utf8_is_exit_2", non_utf8_is_exit_2),
        host_test("malformed_names_are_exit_2", malformed_names_are_exit_2),
        host_test("datavault_usage_errors", datavault_usage_errors),
        host_test("zfs_missing_is_named", zfs_missing_is_named),
    ];
    run(trials)
}
