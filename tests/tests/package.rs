//! The Debian package of DataVault (`cargo xtask package`; `cargo xtask test` builds it from the
//! flavour's binaries and passes its path as `FLOCKER_DEB`) installed in the lab guest with
//! `dpkg -i`: its dependencies are the image's own OpenZFS packages; `datavault --version`,
//! `config check` of the packaged conffile, the man pages, the unit (`systemd-analyze verify`
//! where systemd is installed), one service cycle on a test pool checked with the `zfs` CLI;
//! then `dpkg --purge` removes everything but the store.

use std::path::Path;
use std::process::Command;

use flocker_tests::{Failed, Out, TestPool, TestResult, ensure, fail, run, sh, zfs_test};

fn main() {
    run(vec![zfs_test(
        "package::deb_installs_runs_a_cycle_and_purges",
        install_run_purge,
    )]);
}

const BIN: &str = "/usr/bin/datavault";
const CONFIG: &str = "/etc/datavault.toml";
/// The unit's directory: bookworm's package ships it in /lib, trixie's in /usr/lib; /lib is
/// /usr/lib on both (merged /usr), so this path finds it either way.
const UNIT: &str = "/usr/lib/systemd/system/datavault.service";

fn out(program: &str, args: &[&str]) -> Result<Out, Failed> {
    Out::of(Command::new(program).args(args))
}

/// Purges the package when the test ends, passed or not (the guest's root is discarded at
/// power-off anyway, but later test binaries of the same boot must not see it).
struct Purge;

impl Drop for Purge {
    fn drop(&mut self) {
        let _ = Command::new("dpkg").args(["--purge", "datavault"]).output();
    }
}

fn install_run_purge() -> TestResult {
    let deb = std::env::var("FLOCKER_DEB")
        .map_err(|_| fail("FLOCKER_DEB is not set: run this test through `cargo xtask test`"))?;
    ensure!(Path::new(&deb).is_file(), "no package at {deb}");
    let _purge = Purge;

    // Installs with the image's packages only: the Depends name the flavour's libraries.
    out("dpkg", &["-i", &deb])?.expect(0, ("dpkg -i", &deb))?;
    let status = sh(
        "dpkg-query",
        &["-W", "-f=${Status} ${Version}", "datavault"],
    )?;
    ensure!(
        status.starts_with("install ok installed"),
        "dpkg-query: {status}"
    );
    let conffiles = sh("dpkg-query", &["-W", "-f=${Conffiles}", "datavault"])?;
    ensure!(
        conffiles.contains(CONFIG),
        "{CONFIG} is not a conffile: {conffiles:?}"
    );

    let v = out(BIN, &["--version"])?.expect(0, "datavault --version")?;
    let ver = v.stdout.trim().strip_prefix("datavault ").unwrap_or("?");
    ensure!(
        status.contains(&format!(" {ver}-")),
        "--version {:?} vs the package's {status:?}",
        v.stdout
    );
    let c = out(BIN, &["config", "check", CONFIG])?.expect(0, "config check")?;
    ensure!(c.stdout.contains(": ok,"), "config check: {}", c.stdout);

    for page in [
        "datavault.8.gz",
        "datavault-run.8.gz",
        "datavault-status.8.gz",
    ] {
        let p = format!("/usr/share/man/man8/{page}");
        ensure!(Path::new(&p).is_file(), "no man page {p}");
    }
    let man = sh("zcat", &["/usr/share/man/man8/datavault.8.gz"])?;
    ensure!(
        man.contains(".TH datavault 8"),
        "datavault.8 is not a section-8 page"
    );
    if which("man") {
        sh("man", &["-w", "datavault"])?;
    }

    let unit = std::fs::read_to_string(UNIT).map_err(|e| fail(format!("{UNIT}: {e}")))?;
    for want in [
        "ExecStart=/usr/bin/datavault run --config /etc/datavault.toml",
        "ReadWritePaths=/var/lib/flocker-core",
        "Documentation=man:datavault(8)",
    ] {
        ensure!(unit.lines().any(|l| l == want), "no {want:?} in {UNIT}");
    }
    if which("systemd-analyze") {
        // verify also runs `man` on Documentation=man:datavault(8); the image has no man-db.
        let man = if which("man") {
            "--man=yes"
        } else {
            "--man=no"
        };
        let o = out("systemd-analyze", &["verify", man, UNIT])?;
        ensure!(
            o.code == 0,
            "systemd-analyze verify: exit {}\n{}{}",
            o.code,
            o.stdout,
            o.stderr
        );
    } else {
        println!("note: no systemd-analyze in this image: the unit is not verified");
    }

    apt_hooks(&conffiles)?;
    one_cycle()?;

    out("dpkg", &["--purge", "datavault"])?.expect(0, "dpkg --purge")?;
    for gone in [BIN, CONFIG, UNIT, "/usr/share/man/man8/datavault.8.gz"] {
        ensure!(
            !Path::new(gone).exists(),
            "{gone} is still there after purge"
        );
    }
    Ok(())
}

/// The APT hook files of the tree's `packaging/apt/` are installed as conffiles in
/// /etc/apt/apt.conf.d/, and apt parses them (`apt-config dump` shows their Pre-Invoke).
fn apt_hooks(conffiles: &str) -> TestResult {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging/apt");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        println!("note: no {}: no APT hook to check", dir.display());
        return Ok(());
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || name.ends_with(".md") {
            continue;
        }
        let installed = format!("/etc/apt/apt.conf.d/{name}");
        let want = std::fs::read(e.path()).map_err(fail)?;
        ensure!(
            std::fs::read(&installed).ok() == Some(want),
            "{installed} is not the tree's {name}"
        );
        ensure!(
            conffiles.contains(&installed),
            "{installed} is not a conffile"
        );
    }
    let dump = sh("apt-config", &["dump"])?;
    ensure!(
        dump.lines()
            .any(|l| l.starts_with("DPkg::Pre-Invoke") && l.contains("datavault snapshot --pre")),
        "apt-config dump shows no datavault Pre-Invoke hook"
    );
    Ok(())
}

/// One `run --once` of the installed binary on a test pool: one `dv-` snapshot appears.
fn one_cycle() -> TestResult {
    let pool = TestPool::new("deb", 128)?;
    let a = pool.ds("a");
    sh("zfs", &["create", &a])?;
    let store = format!("/var/tmp/flocker-pools/{}-store", pool.name());
    let cfg = format!("/var/tmp/flocker-pools/{}.toml", pool.name());
    std::fs::write(
        &cfg,
        format!(
            "every = \"1h\"\nstore = \"{store}\"\n[[dataset]]\nname = \"{a}\"\nkeep = \"min=3\"\n"
        ),
    )
    .map_err(fail)?;
    let o = Out::of(
        Command::new(BIN)
            .args(["run", "--config", &cfg, "--once"])
            .env_remove("FLOCKER_STORE"),
    )?
    .expect(0, "datavault run --once")?;
    let snaps = sh("zfs", &["list", "-H", "-o", "name", "-t", "snapshot", &a])?;
    let names: Vec<&str> = snaps.lines().collect();
    ensure!(
        names.len() == 1 && names[0].starts_with(&format!("{a}@dv-")),
        "snapshots after one cycle: {names:?}\n{}",
        o.stdout
    );
    let _ = std::fs::remove_dir_all(&store);
    let _ = std::fs::remove_file(&cfg);
    Ok(())
}

fn which(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
}
