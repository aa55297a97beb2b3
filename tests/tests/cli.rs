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
        ("datavault", &["stash", "restore"]),
        ("datavault", &["stash", "drop"]),
        ("datavault", &["stash", "export"]),
        ("datavault", &["stash"]),
        ("datavault", &["config"]),
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
        ("datavault", &["stash", "drop", "a/b", "--yes"]),
        ("datavault", &["recover", "--abandon", "../x"]),
        ("datavault", &["restore-file", "bad*name@x", "a"]),
        ("flocker-ls", &["tank@@x"]),
        ("flocker-ls", &["--threads", "0", "tank"]),
        ("flocker-ls", &["--threads", "many", "tank"]),
        ("flocker-ls", &["--page-size", "0", "tank"]),
    ] {
        let a: Vec<&OsStr> = args.iter().map(|x| s(x)).collect();
        let o = out(bin, &a)?.expect(2, (bin, args))?;
        ensure!(!o.stderr.contains("panicked"), "{bin}: {}", o.stderr);
    }
    Ok(())
}

/// `datavault ARGS` exits 2 with nothing on stdout, no panic, and `needle` in its first
/// stderr line.
fn expect_usage_error(args: &[&str], needle: &str) -> TestResult {
    let a: Vec<&OsStr> = args.iter().map(|x| s(x)).collect();
    let o = out("datavault", &a)?.expect(2, args)?;
    let first = o.stderr.lines().next().unwrap_or("");
    ensure!(
        first.contains(needle) && !o.stderr.contains("panicked") && o.stdout.is_empty(),
        "{args:?}: {}",
        o.stderr
    );
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
        expect_usage_error(args, needle)?;
    }
    let bad = OsStr::from_bytes(b"tank/\xff");
    for pre in [
        &["snapshot"][..],
        &["prune"],
        &["diff", "tank/a@x"],
        &["run", "--config"],
        &["list", "--match"],
        &["status", "--config"],
        &["config", "check"],
        &["browse"],
        &["restore-file", "tank/a@x"],
        &["rollback"],
        &["stash", "show"],
        &["stash", "export", "abc"],
        &["recover", "--abandon"],
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

/// The subcommands once read by hand parsers (status, config check, browse, restore-file,
/// rollback, stash, recover), parsed by clap alone since: a missing or extra argument keeps
/// their words, with the subcommand's usage under it (exit 2, nothing run).
fn datavault_module_words() -> TestResult {
    for (args, words) in [
        (
            &["status", "extra"][..],
            "status takes no positional arguments",
        ),
        (
            &["status", "--config", "a", "--config=b"],
            "--config given twice",
        ),
        (&["config", "check"], "config check takes one FILE"),
        (&["browse"], "browse needs DATASET@SNAP [PATH]"),
        (
            &["browse", "tank/a@x", "d", "e"],
            "browse needs DATASET@SNAP [PATH]",
        ),
        (
            &["restore-file", "tank/a@x"],
            "restore-file needs DATASET@SNAP PATH [--to DEST]",
        ),
        (&["rollback"], "expected exactly one DATASET@SNAP"),
        (&["-v", "stash", "show"], "expected exactly one ID"),
        (
            &["stash", "restore", "a", "b", "--yes"],
            "expected exactly one ID",
        ),
        (&["stash", "export", "abc"], "stash export ID FILE"),
        (&["stash", "list", "x"], "stash list takes no arguments"),
        (&["recover", "x"], "recover takes only --abandon ID"),
        (
            &["recover", "--abandon", "a", "--abandon", "b"],
            "recover takes only --abandon ID",
        ),
    ] {
        let a: Vec<&OsStr> = args.iter().map(|x| s(x)).collect();
        let o = out("datavault", &a)?.expect(2, args)?;
        let lines: Vec<&str> = o.stderr.lines().collect();
        let sub = args.iter().find(|a| **a != "-v").copied().unwrap_or("");
        ensure!(
            lines.first() == Some(&format!("datavault: {words}").as_str())
                && lines
                    .get(1)
                    .is_some_and(|l| l.starts_with(&format!("Usage: datavault {sub}")))
                && o.stdout.is_empty(),
            "{args:?}: {}",
            o.stderr
        );
    }
    // Refused by the tree: one line.
    for (args, needle) in [
        (&["status", "--bogus"][..], "unknown option --bogus"),
        (&["rollback", "tank/a@x", "--strategy", "fast"], "fast"),
        (&["stash", "list", "-x"], "unknown option -x"),
        (
            &["restore-file", "tank/a@x", "p", "--yes"],
            "unknown option --yes",
        ),
    ] {
        let a: Vec<&OsStr> = args.iter().map(|x| s(x)).collect();
        let o = out("datavault", &a)?.expect(2, args)?;
        ensure!(
            o.stderr.lines().count() == 1 && o.stderr.contains(needle) && o.stdout.is_empty(),
            "{args:?}: {}",
            o.stderr
        );
    }
    Ok(())
}

/// `config check` and `status` run on the host (no ZFS): the typed arguments reach them.
fn datavault_config_check_and_status() -> TestResult {
    let sample = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/datavault.toml");
    let o = out("datavault", &[s("config"), s("check"), s(sample)])?.expect(0, "config check")?;
    ensure!(
        o.stdout
            .starts_with(&format!("config {sample}: ok, 3 dataset(s)")),
        "{}",
        o.stdout
    );
    let o = out(
        "datavault",
        &[s("config"), s("check"), s("--json"), s(sample)],
    )?
    .expect(0, "config check --json")?;
    let v: serde_json::Value = serde_json::from_str(&o.stdout).map_err(flocker_tests::fail)?;
    ensure!(v["ok"] == true && v["config"] == sample, "{}", o.stdout);
    let o = out(
        "datavault",
        &[s("config"), s("check"), s("/nonexistent.toml")],
    )?
    .expect(2, "config check of a missing file")?;
    ensure!(o.stderr.starts_with("datavault: error: "), "{}", o.stderr);
    // A configuration that cannot be read is UNKNOWN (exit 3), on stdout.
    let o = out(
        "datavault",
        &[s("status"), s("--config=/nonexistent.toml"), s("--json")],
    )?
    .expect(3, "status")?;
    ensure!(o.stdout.contains("\"UNKNOWN\""), "{}", o.stdout);
    let o = out("datavault", &[s("status"), s("--now"), s("yesterday")])?.expect(2, "--now")?;
    ensure!(o.stderr.contains("bad --now \"yesterday\""), "{}", o.stderr);
    Ok(())
}

fn zfs_missing_is_named() -> TestResult {
    if flocker_tests::zfs_available() {
        return Ok(());
    }
    for (bin, args) in [
        ("flocker-ls", &["tank"][..]),
        (
            "flocker-ls",
            &["--threads", "4", "-r", "-t", "snapshot", "tank"],
        ),
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

/// `versions` and `restore-file --overwrite`: bad input is exit 2 with one line naming it,
/// before any ZFS call; a path no ZFS filesystem holds too (the host has none mounted).
fn datavault_versions_bad_input() -> TestResult {
    for (args, needle) in [
        (&["versions"][..], "versions needs PATH... or --deleted DIR"),
        (
            &["versions", "--deleted", "/tmp", "x"],
            "cannot be used with",
        ),
        (
            &["versions", "--deleted", "/tmp", "--verify"],
            "cannot be used with",
        ),
        (
            &["versions", "--threads", "0", "/tmp"],
            "bad --threads \"0\"",
        ),
        (
            &["versions", "--threads", "x", "/tmp"],
            "a whole number from 1 to 64",
        ),
        (&["versions", ""], "empty path"),
        (
            &[
                "restore-file",
                "tank/a@x",
                "f",
                "--overwrite",
                "--to",
                "/tmp/y",
            ],
            "'--overwrite' cannot be used with '--to <DEST>'",
        ),
        (
            &[
                "restore-file",
                "tank/a@x",
                "f",
                "--overwrite",
                "--rename-existing",
            ],
            "cannot be used with",
        ),
    ] {
        expect_usage_error(args, needle)?;
    }
    if !std::path::Path::new("/dev/zfs").exists() {
        let o = out("datavault", &[s("versions"), s("/tmp")])?.expect(2, "versions /tmp")?;
        ensure!(
            o.stderr.contains("no ZFS filesystem holds this path"),
            "{}",
            o.stderr
        );
        let o = out(
            "datavault",
            &[s("versions"), s("--deleted"), s("/"), s("--json")],
        )?
        .expect(2, "versions --deleted /")?;
        ensure!(o.stdout.is_empty(), "{}", o.stdout);
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
        host_test("datavault_module_words", datavault_module_words),
        host_test(
            "datavault_config_check_and_status",
            datavault_config_check_and_status,
        ),
        host_test("zfs_missing_is_named", zfs_missing_is_named),
        host_test("datavault_versions_bad_input", datavault_versions_bad_input),
    ];
    run(trials)
}
