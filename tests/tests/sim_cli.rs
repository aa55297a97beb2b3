//! `flocker-retention-sim`'s command line, on the host (no ZFS needed): `--help` exits 0 on
//! stdout, `--version`, and bad input (an unknown option, a missing value, an unknown scenario,
//! a bad policy, an argument that is not UTF-8) exits 2 with one clear line and no panic. Build
//! the binaries first (`cargo build -p flocker-examples --bins`).

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::process::Command;

use flocker_tests::{Out, TestResult, Trial, ensure, example_bin, host_test, run};

const SIM: &str = "flocker-retention-sim";

fn sim(args: &[&OsStr]) -> Result<Out, flocker_tests::Failed> {
    Out::of(Command::new(example_bin(SIM)?).args(args))
}

fn s(a: &str) -> &OsStr {
    OsStr::new(a)
}

fn help_is_exit_0_on_stdout() -> TestResult {
    for h in ["--help", "-h"] {
        let o = sim(&[s(h)])?.expect(0, h)?;
        ensure!(
            o.stdout.contains("Usage") && o.stderr.is_empty(),
            "{h}: {o:?}"
        );
        for flag in ["--json", "--scenario", "--policy", "--svg", "--version"] {
            ensure!(o.stdout.contains(flag), "{h}: no {flag}: {}", o.stdout);
        }
    }
    Ok(())
}

fn version() -> TestResult {
    let o = sim(&[s("--version")])?.expect(0, "--version")?;
    ensure!(o.stdout.starts_with(SIM), "{}", o.stdout);
    Ok(())
}

fn bad_input_is_exit_2() -> TestResult {
    let cases: &[(&[&str], &str)] = &[
        (&["--frobnicate"], "--frobnicate"),
        (&["extra"], "extra"),
        (&["--scenario"], "--scenario"),
        (&["--policy"], "--policy"),
        (&["--svg"], "--svg"),
        (
            &["--scenario", "nope"],
            "no such scenario \"nope\" (hourly-2y, laptop",
        ),
        (
            &["--policy", "48x1q"],
            "bad --policy \"48x1q\": retention policy: unknown unit",
        ),
        (&["--policy", ""], "bad --policy \"\""),
    ];
    for (args, says) in cases {
        let a: Vec<&OsStr> = args.iter().map(|x| s(x)).collect();
        let o = sim(&a)?.expect(2, args)?;
        ensure!(
            o.stderr.contains(says) && !o.stderr.contains("panicked") && o.stdout.is_empty(),
            "{args:?}: {o:?}"
        );
    }
    Ok(())
}

fn non_utf8_is_exit_2() -> TestResult {
    let bad = OsStr::from_bytes(b"hourly\xff");
    for args in [vec![s("--scenario"), bad], vec![s("--policy"), bad]] {
        let o = sim(&args)?.expect(2, &args)?;
        ensure!(
            o.stderr.contains("UTF-8") && !o.stderr.contains("panicked"),
            "{args:?}: {}",
            o.stderr
        );
    }
    // Not an option of the simulator at all: clap's "unexpected argument", still exit 2.
    let o = sim(&[bad])?.expect(2, "a lone non-UTF-8 argument")?;
    ensure!(
        o.stderr.contains("unexpected argument") && !o.stderr.contains("panicked"),
        "{}",
        o.stderr
    );
    Ok(())
}

fn main() {
    let trials: Vec<Trial> = vec![
        host_test("sim_help_is_exit_0_on_stdout", help_is_exit_0_on_stdout),
        host_test("sim_version", version),
        host_test("sim_bad_input_is_exit_2", bad_input_is_exit_2),
        host_test("sim_non_utf8_is_exit_2", non_utf8_is_exit_2),
    ];
    run(trials)
}
