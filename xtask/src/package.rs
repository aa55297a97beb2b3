//! `cargo xtask package`: a Debian package of DataVault per flavour, built with
//! `dpkg-deb --root-owner-group --build`. The binary is compiled against the flavour's
//! libzfs_core like the lab's binaries, so the package installs on that flavour's Debian release
//! with its OpenZFS packages (`Depends:` from the binary's `NEEDED` libraries, see [`depends`]).
//!
//! Contents: `/usr/bin/datavault`; man pages from its clap tree (`datavault generate-man`,
//! section 8); the systemd unit derived from `examples/datavault.service` (paths of the package,
//! `ReadWritePaths` = the packaged config's `store`, `Documentation=man:datavault(8)`); the sample
//! config `examples/datavault.toml` as the conffile `/etc/datavault.toml`; the APT hook files in
//! `packaging/apt/` (when present) as conffiles in `/etc/apt/apt.conf.d/`; the copyright file and
//! maintainer scripts of `packaging/deb/` (daemon-reload, restart on upgrade, stop on removal;
//! the service is never enabled by the package).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::image::{self, repo_root};
use crate::{Flavour, Result};

/// The package's name.
pub const NAME: &str = "datavault";

/// Where the service's config is installed.
const CONFIG: &str = "/etc/datavault.toml";

/// How the binaries are built.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Profile {
    /// `cargo build --release` (what `cargo xtask package` ships).
    Release,
    /// The debug build `cargo xtask test` already made for the lab (cheap; stripped).
    Debug,
}

impl Profile {
    fn dir(self) -> &'static str {
        match self {
            Profile::Release => "release",
            Profile::Debug => "debug",
        }
    }
}

/// The Debian version of a flavour's package: `0.1.0-1+zfs2.3`.
pub fn deb_version(flavour: Flavour) -> String {
    format!("{}-1+zfs{}", env!("CARGO_PKG_VERSION"), flavour.as_str())
}

/// The shared libraries the binary may need and the Debian package of each, per flavour (read
/// from the flavour's image: `dpkg -S libzfs_core.so.3` there).
fn library_package(flavour: Flavour, soname: &str) -> Option<&'static str> {
    Some(match soname {
        "libzfs_core.so.3" => match flavour {
            Flavour::V2_1 => "libzfs4linux",
            Flavour::V2_3 => "libzfs6linux",
            Flavour::V2_4 => "libzfs7linux",
        },
        "libnvpair.so.3" => "libnvpair3linux",
        "libuutil.so.3" => "libuutil3linux",
        "libgcc_s.so.1" => "libgcc-s1",
        "libc.so.6" | "libm.so.6" | "ld-linux-x86-64.so.2" => "libc6",
        _ => return None,
    })
}

/// The OpenZFS version of a flavour's image (`2.3.2` of `2.3.2-2~bpo12+2`).
fn upstream(version: &str) -> &str {
    version.split(['-', '~']).next().unwrap_or(version)
}

/// `Depends:` for a binary: one package per `NEEDED` library; the OpenZFS ones at least the
/// image's version, libc6 at least the newest `GLIBC_x.y` symbol version the binary uses.
pub fn depends(flavour: Flavour, needed: &[String], glibc: &str, zfs: &str) -> Result<String> {
    let mut deps: Vec<String> = Vec::new();
    for so in needed {
        let pkg = library_package(flavour, so).ok_or_else(|| {
            format!(
                "the binary needs {so}, whose Debian package xtask/src/package.rs does not know"
            )
        })?;
        let dep = match pkg {
            "libc6" => format!("libc6 (>= {glibc})"),
            p if p.starts_with("lib") && p.ends_with("linux") => {
                format!("{p} (>= {})", upstream(zfs))
            }
            p => p.to_string(),
        };
        if !deps.contains(&dep) {
            deps.push(dep);
        }
    }
    deps.sort();
    Ok(deps.join(", "))
}

/// The newest `GLIBC_x.y` version in `objdump -T` output.
fn newest_glibc(objdump: &str) -> Option<String> {
    let mut best: Option<(Vec<u32>, String)> = None;
    for word in objdump.split_whitespace() {
        let Some(v) = word
            .trim_matches(|c| c == '(' || c == ')')
            .strip_prefix("GLIBC_")
        else {
            continue;
        };
        let Ok(key) = v
            .split('.')
            .map(str::parse)
            .collect::<Result<Vec<u32>, _>>()
        else {
            continue;
        };
        if best.as_ref().is_none_or(|(k, _)| key > *k) {
            best = Some((key, v.to_string()));
        }
    }
    best.map(|(_, v)| v)
}

fn output(cmd: &mut Command) -> Result<String> {
    let o = cmd
        .output()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    if !o.status.success() {
        return Err(format!(
            "{cmd:?} failed ({}): {}",
            o.status,
            String::from_utf8_lossy(&o.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&o.stdout).into_owned())
}

/// The `NEEDED` libraries of an ELF file.
fn needed(bin: &Path) -> Result<Vec<String>> {
    let text = output(Command::new("readelf").arg("-d").arg(bin))?;
    Ok(text
        .lines()
        .filter(|l| l.contains("(NEEDED)"))
        .filter_map(|l| l.split('[').nth(1)?.split(']').next().map(str::to_string))
        .collect())
}

/// The `store` of the packaged config (`store = "..."` at the top level).
pub fn config_store(toml: &str) -> Result<String> {
    let mut found = None;
    for line in toml.lines() {
        let l = line.trim();
        if l.starts_with('[') {
            break;
        }
        if let Some(rest) = l.strip_prefix("store")
            && let Some(v) = rest.trim_start().strip_prefix('=')
        {
            let v = v.trim();
            let v = v.split('#').next().unwrap_or(v).trim();
            found = Some(v.trim_matches('"').to_string());
        }
    }
    match found {
        Some(s) if s.starts_with('/') => Ok(s),
        Some(s) => Err(format!(
            "the sample config's store {s:?} is not an absolute path"
        )),
        None => Err("the sample config (examples/datavault.toml) sets no `store`".into()),
    }
}

/// The packaged unit from `examples/datavault.service`: the binary in /usr/bin, the config in
/// /etc, `ReadWritePaths` (and `StateDirectory`, under /var/lib) = `store`, the man page as its
/// documentation, and a header saying so. Each rewritten line must exist once.
pub fn unit(example: &str, store: &str) -> Result<String> {
    let mut out = String::from(
        "# systemd unit of the DataVault service, installed by the datavault package.\n\
         # The package does not enable it: edit /etc/datavault.toml (`datavault config check\n\
         # /etc/datavault.toml` validates it), then `systemctl enable --now datavault`.\n\
         # `datavault status` reports freshness like a Nagios check; see datavault(8).\n",
    );
    let mut seen = [0usize; 3];
    let mut body = example
        .lines()
        .skip_while(|l| l.starts_with('#') || l.trim().is_empty());
    for line in body.by_ref() {
        let line = line.replace("/usr/local/bin/datavault", "/usr/bin/datavault");
        let line = if line.starts_with("Documentation=") {
            seen[0] += 1;
            "Documentation=man:datavault(8)".to_string()
        } else if line.starts_with("ReadWritePaths=") {
            seen[1] += 1;
            format!("ReadWritePaths={store}")
        } else if line.starts_with("StateDirectory=") {
            seen[2] += 1;
            match store.strip_prefix("/var/lib/") {
                Some(rel) if !rel.is_empty() => format!("StateDirectory={rel}"),
                _ => continue,
            }
        } else {
            line
        };
        out.push_str(&line);
        out.push('\n');
    }
    if seen != [1, 1, 1] {
        return Err(format!(
            "examples/datavault.service: expected one Documentation=, ReadWritePaths= and \
             StateDirectory= line each, found {seen:?}"
        ));
    }
    for want in [
        format!("ExecStart=/usr/bin/datavault run --config {CONFIG}"),
        format!("ExecStartPre=/usr/bin/datavault config check {CONFIG}"),
    ] {
        if !out.lines().any(|l| l == want) {
            return Err(format!(
                "examples/datavault.service: the packaged unit has no line {want:?}"
            ));
        }
    }
    Ok(out)
}

fn write(path: &Path, bytes: impl AsRef<[u8]>, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p).map_err(|e| format!("cannot create {}: {e}", p.display()))?;
    }
    std::fs::write(path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| format!("cannot chmod {}: {e}", path.display()))
}

fn read(rel: &str) -> Result<String> {
    let p = repo_root().join(rel);
    std::fs::read_to_string(&p).map_err(|e| format!("cannot read {}: {e}", p.display()))
}

/// Build the binaries of a flavour into its lab target directory; returns their directory.
fn build(flavour: Flavour, profile: Profile, env: &[(String, String)]) -> Result<PathBuf> {
    let target = crate::test::target_for(flavour);
    eprintln!(
        "[package] cargo build{} -p flocker-examples --bin datavault for zfs {}",
        if profile == Profile::Release {
            " --release"
        } else {
            ""
        },
        flavour.as_str()
    );
    let mut c = crate::test::cargo();
    c.args([
        "build",
        "--quiet",
        "-p",
        "flocker-examples",
        "--bin",
        "datavault",
    ])
    .env("CARGO_TARGET_DIR", &target)
    .envs(env.iter().map(|(k, v)| (k, v)));
    match profile {
        Profile::Release => {
            c.arg("--release");
        }
        // A debug build shares its target directory with the lab build of the same flavour
        // (`test::build_for`): built with the same features it is the same binary, and the
        // lab's `datavault` keeps the test hooks its rollback tests need (2.1's man pages are
        // built here while that flavour's suite is about to run).
        Profile::Debug => {
            c.args(["--features", crate::test::LAB_FEATURES]);
        }
    }
    let st = c.status().map_err(|e| format!("cannot run cargo: {e}"))?;
    if !st.success() {
        return Err(format!(
            "building datavault for zfs {} failed",
            flavour.as_str()
        ));
    }
    Ok(target.join(profile.dir()))
}

/// The man pages, from a `datavault` built for this host (a flavour's binary may not run here:
/// trixie's libraries need a newer C library). The pages depend only on the clap tree.
fn man_pages(profile: Profile, dir: &Path) -> Result<()> {
    let bin_dir = build(Flavour::V2_1, profile, &[])?;
    let _ = std::fs::remove_dir_all(dir);
    output(
        Command::new(bin_dir.join("datavault"))
            .arg("generate-man")
            .arg(dir),
    )?;
    for e in std::fs::read_dir(dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))? {
        let p = e.map_err(|e| e.to_string())?.path();
        // -n: no name or time stamp in the gzip header, so the package is reproducible.
        output(Command::new("gzip").args(["-9", "-n", "-f"]).arg(&p))?;
    }
    Ok(())
}

/// `cargo xtask package`: build the package of each flavour; prints and returns their paths.
pub fn run(flavours: &[Flavour]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for &f in flavours {
        let img = image::ensure(f)?;
        let env = image::dev_env(f, &img)?;
        let bins = build(f, Profile::Release, &env)?;
        let deb = build_deb(f, &img, &bins, Profile::Release)?;
        println!("{}", deb.display());
        out.push(deb);
    }
    Ok(out)
}

/// Make the package of `flavour` from the `datavault` in `bin_dir` (built for that flavour):
/// `target/debian/datavault_<version>_<arch>.deb`, the version carrying the flavour.
pub fn build_deb(
    flavour: Flavour,
    img: &image::Image,
    bin_dir: &Path,
    profile: Profile,
) -> Result<PathBuf> {
    let work = crate::test::target_base().join("debian").join(format!(
        "root-zfs{}-{}",
        flavour.as_str(),
        profile.dir()
    ));
    let _ = std::fs::remove_dir_all(&work);
    let root = work.join("root");
    let bin = root.join("usr/bin/datavault");
    std::fs::create_dir_all(root.join("usr/bin")).map_err(|e| e.to_string())?;
    // Debian packages ship stripped binaries; it also keeps a debug build's package small.
    output(
        Command::new("strip")
            .arg("--strip-debug")
            .arg("-o")
            .arg(&bin)
            .arg(bin_dir.join("datavault")),
    )?;

    man_pages(profile, &root.join("usr/share/man/man8"))?;
    let conffiles = stage_files(flavour, &root)?;

    let arch = output(Command::new("dpkg").arg("--print-architecture"))?
        .trim()
        .to_string();
    let glibc = newest_glibc(&output(Command::new("objdump").arg("-T").arg(&bin))?)
        .ok_or("the binary uses no GLIBC_ symbol version")?;
    let deps = depends(flavour, &needed(&bin)?, &glibc, &img.zfs)?;
    let size_kib = du_kib(&root)?;
    let version = deb_version(flavour);
    write_debian_dir(
        &root.join("DEBIAN"),
        &control(flavour, &version, &arch, &deps, size_kib),
        &conffiles,
    )?;
    let deb = crate::test::target_base()
        .join("debian")
        .join(format!("{NAME}_{version}_{arch}.deb"));
    output(
        Command::new("dpkg-deb")
            .args(["--root-owner-group", "-Zxz", "--build"])
            .arg(&root)
            .arg(&deb),
    )?;
    eprintln!("[package] {} (Depends: {deps})", deb.display());
    Ok(deb)
}

/// Puts the config, the unit, the APT hook files and the documentation under `root`; returns
/// the conffiles.
fn stage_files(flavour: Flavour, root: &Path) -> Result<Vec<String>> {
    let toml = read("examples/datavault.toml")?;
    let store = config_store(&toml)?;
    write(&root.join(CONFIG.trim_start_matches('/')), &toml, 0o644)?;
    let mut conffiles = vec![CONFIG.to_string()];
    // trixie's packages ship units under /usr/lib; bookworm's under /lib.
    let unit_dir = match flavour.suite() {
        "bookworm" => "lib/systemd/system",
        _ => "usr/lib/systemd/system",
    };
    write(
        &root.join(unit_dir).join("datavault.service"),
        unit(&read("examples/datavault.service")?, &store)?,
        0o644,
    )?;
    let apt = repo_root().join("packaging/apt");
    if let Ok(entries) = std::fs::read_dir(&apt) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if !e.path().is_file() || name.starts_with('.') || name.ends_with(".md") {
                continue;
            }
            let bytes = std::fs::read(e.path()).map_err(|e| e.to_string())?;
            write(&root.join("etc/apt/apt.conf.d").join(&name), bytes, 0o644)?;
            conffiles.push(format!("/etc/apt/apt.conf.d/{name}"));
        }
    }
    let doc = root.join("usr/share/doc").join(NAME);
    write(
        &doc.join("copyright"),
        read("packaging/deb/copyright")?,
        0o644,
    )?;
    write(&doc.join("README.md"), read("README.md")?, 0o644)?;
    Ok(conffiles)
}

/// The package's `DEBIAN/`: `control`, `conffiles` and the maintainer scripts.
fn write_debian_dir(debian: &Path, control: &str, conffiles: &[String]) -> Result<()> {
    write(&debian.join("control"), control, 0o644)?;
    write(
        &debian.join("conffiles"),
        conffiles.join("\n") + "\n",
        0o644,
    )?;
    for script in ["postinst", "prerm", "postrm"] {
        write(
            &debian.join(script),
            read(&format!("packaging/deb/{script}"))?,
            0o755,
        )?;
    }
    Ok(())
}

fn control(flavour: Flavour, version: &str, arch: &str, deps: &str, size_kib: u64) -> String {
    format!(
        "Package: {NAME}\n\
         Version: {version}\n\
         Architecture: {arch}\n\
         Maintainer: flocker-core maintainers <flocker-core@example.invalid>\n\
         Installed-Size: {size_kib}\n\
         Depends: {deps}\n\
         Recommends: zfsutils-linux\n\
         Section: admin\n\
         Priority: optional\n\
         Homepage: https://example.invalid/flocker-core\n\
         Description: scheduled ZFS snapshots with retention and lossless rollback\n \
         DataVault takes atomic ZFS snapshots on a schedule, thins them with a retention\n \
         policy that owns only its own snapshots, and rolls a dataset back to any snapshot\n \
         without losing what the rollback replaces (a stash). It talks to the kernel through\n \
         libzfs_core and runs as a systemd service (not enabled by the package).\n \
         .\n \
         Built for OpenZFS {} on Debian {}.\n",
        flavour.as_str(),
        flavour.suite()
    )
}

/// Installed size in KiB (what `Installed-Size` wants).
fn du_kib(root: &Path) -> Result<u64> {
    let text = output(Command::new("du").args(["-s", "-k"]).arg(root))?;
    text.split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("cannot read the size of {}", root.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE_UNIT: &str = include_str!("../../examples/datavault.service");
    const EXAMPLE_TOML: &str = include_str!("../../examples/datavault.toml");

    #[test]
    fn the_packaged_unit_follows_the_config() {
        let store = config_store(EXAMPLE_TOML).unwrap();
        assert_eq!(store, "/var/lib/flocker-core");
        let u = unit(EXAMPLE_UNIT, &store).unwrap();
        assert!(!u.contains("/usr/local"), "{u}");
        for want in [
            "ExecStart=/usr/bin/datavault run --config /etc/datavault.toml",
            "Documentation=man:datavault(8)",
            "ReadWritePaths=/var/lib/flocker-core",
            "StateDirectory=flocker-core",
            "[Install]",
        ] {
            assert!(u.lines().any(|l| l == want), "no {want:?} in\n{u}");
        }
        let u = unit(EXAMPLE_UNIT, "/srv/dv/store").unwrap();
        assert!(u.contains("ReadWritePaths=/srv/dv/store\n"));
        assert!(!u.contains("StateDirectory="), "{u}");
        assert!(unit("[Service]\nExecStart=/x\n", &store).is_err());
    }

    #[test]
    fn store_is_read_from_the_top_level_only() {
        assert_eq!(
            config_store("a = 1\nstore = \"/s\" # here\n[[dataset]]\nstore = \"/t\"\n").unwrap(),
            "/s"
        );
        assert!(config_store("[[dataset]]\nstore = \"/t\"\n").is_err());
        assert!(config_store("store = \"rel\"\n").is_err());
    }

    #[test]
    fn depends_per_flavour() {
        let needed: Vec<String> = [
            "libzfs_core.so.3",
            "libnvpair.so.3",
            "libgcc_s.so.1",
            "libc.so.6",
            "libm.so.6",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(
            depends(Flavour::V2_3, &needed, "2.34", "2.3.2-2~bpo12+2").unwrap(),
            "libc6 (>= 2.34), libgcc-s1, libnvpair3linux (>= 2.3.2), libzfs6linux (>= 2.3.2)"
        );
        assert!(
            depends(Flavour::V2_4, &needed, "2.34", "2.4.4-1~bpo13+1")
                .unwrap()
                .contains("libzfs7linux (>= 2.4.4)")
        );
        assert!(depends(Flavour::V2_1, &["libfoo.so.1".into()], "2.34", "2.1.11").is_err());
    }

    #[test]
    fn newest_glibc_version() {
        let t = "0000 DF *UND* 0 (GLIBC_2.2.5) free\n0000 DF *UND* 0 (GLIBC_2.34) x\n0000 DF *UND* 0 GLIBC_2.17 y\n";
        assert_eq!(newest_glibc(t).as_deref(), Some("2.34"));
        assert_eq!(newest_glibc("nothing"), None);
    }
}
