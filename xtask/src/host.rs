//! The host side: which packages the lab needs, installing them (as root) through the machine's
//! own apt configuration, and reading the Debian mirror from it (never hard-coded).

use std::process::{Command, Stdio};

use crate::Result;

/// The deb822 sources file Debian's images use.
const DEB822: &str = "/etc/apt/sources.list.d/debian.sources";
/// The one-line sources file older setups use.
const ONE_LINE: &str = "/etc/apt/sources.list";

/// True when we run as root.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// The host's Debian codename (`bookworm`), from /etc/os-release.
pub fn codename() -> Result<String> {
    let text = std::fs::read_to_string("/etc/os-release")
        .map_err(|e| format!("cannot read /etc/os-release: {e}"))?;
    text.lines()
        .find_map(|l| l.strip_prefix("VERSION_CODENAME="))
        .map(|v| v.trim_matches('"').to_string())
        .ok_or_else(|| "no VERSION_CODENAME in /etc/os-release: the lab needs a Debian host".into())
}

/// One apt source: a URI and its suites and components (deb822 stanza or one-line entry).
#[derive(Debug)]
#[cfg_attr(not(test), allow(dead_code))]
struct Source {
    uri: String,
    suites: Vec<String>,
    components: Vec<String>,
}

fn parse_deb822(text: &str) -> Vec<Source> {
    text.split("\n\n")
        .filter_map(|stanza| {
            let field = |name: &str| {
                stanza.lines().find_map(|l| {
                    l.strip_prefix(name)
                        .and_then(|r| r.strip_prefix(':'))
                        .map(|v| v.split_whitespace().map(str::to_string).collect::<Vec<_>>())
                })
            };
            let types = field("Types")?;
            if !types.iter().any(|t| t == "deb") {
                return None;
            }
            Some(Source {
                uri: field("URIs")?.into_iter().next()?,
                suites: field("Suites")?,
                components: field("Components").unwrap_or_default(),
            })
        })
        .collect()
}

fn parse_one_line(text: &str) -> Vec<Source> {
    text.lines()
        .filter_map(|l| {
            let l = l.trim();
            let rest = l.strip_prefix("deb ")?;
            let mut words = rest.split_whitespace().filter(|w| !w.starts_with('['));
            let uri = words.next()?.to_string();
            let suite = words.next()?.to_string();
            Some(Source {
                uri,
                suites: vec![suite],
                components: words.map(str::to_string).collect(),
            })
        })
        .collect()
}

fn sources() -> Vec<Source> {
    let mut all = Vec::new();
    if let Ok(t) = std::fs::read_to_string(DEB822) {
        all.extend(parse_deb822(&t));
    }
    if let Ok(t) = std::fs::read_to_string(ONE_LINE) {
        all.extend(parse_one_line(&t));
    }
    all
}

/// The Debian archive mirror the host's apt already uses for its release (not the security one).
pub fn mirror() -> Result<String> {
    let code = codename()?;
    sources()
        .into_iter()
        .find(|s| s.suites.contains(&code) && !s.uri.contains("security"))
        .map(|s| s.uri)
        .ok_or_else(|| format!("no apt source for `{code}` in {DEB822} or {ONE_LINE}"))
}

/// Edit the machine's existing apt entry so that it also has `contrib` and `<codename>-backports`.
/// Returns true when something changed.
fn enable_contrib_and_backports() -> Result<bool> {
    let code = codename()?;
    let backports = format!("{code}-backports");
    if let Ok(text) = std::fs::read_to_string(DEB822) {
        let mut changed = false;
        let stanzas: Vec<String> = text
            .split("\n\n")
            .map(|stanza| {
                let is_main = stanza.lines().any(|l| {
                    l.strip_prefix("Suites:")
                        .is_some_and(|v| v.split_whitespace().any(|s| s == code))
                }) && !stanza
                    .lines()
                    .any(|l| l.starts_with("URIs:") && l.contains("security"));
                if !is_main {
                    return stanza.to_string();
                }
                stanza
                    .lines()
                    .map(|l| {
                        if l.starts_with("Suites:") && !l.split_whitespace().any(|s| s == backports)
                        {
                            changed = true;
                            format!("{l} {backports}")
                        } else if l.starts_with("Components:")
                            && !l.split_whitespace().any(|s| s == "contrib")
                        {
                            changed = true;
                            format!("{l} contrib")
                        } else {
                            l.to_string()
                        }
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .collect();
        if changed {
            std::fs::write(DEB822, stanzas.join("\n\n"))
                .map_err(|e| format!("cannot write {DEB822}: {e}"))?;
        }
        return Ok(changed);
    }
    let text = std::fs::read_to_string(ONE_LINE)
        .map_err(|e| format!("no {DEB822} and cannot read {ONE_LINE}: {e}"))?;
    let mut out = Vec::new();
    let mut changed = false;
    let mut has_backports = false;
    let mut main_uri = None;
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.first() == Some(&"deb") && words.get(2) == Some(&backports.as_str()) {
            has_backports = true;
        }
        if words.first() == Some(&"deb") && words.get(2) == Some(&code.as_str()) {
            main_uri = words.get(1).map(|s| s.to_string());
            if !words.contains(&"contrib") {
                changed = true;
                out.push(format!("{line} contrib"));
                continue;
            }
        }
        out.push(line.to_string());
    }
    if !has_backports {
        let uri = main_uri.ok_or_else(|| format!("no `deb URI {code}` line in {ONE_LINE}"))?;
        out.push(format!("deb {uri} {backports} main contrib"));
        changed = true;
    }
    if changed {
        std::fs::write(ONE_LINE, out.join("\n") + "\n")
            .map_err(|e| format!("cannot write {ONE_LINE}: {e}"))?;
    }
    Ok(changed)
}

/// One Debian package the project needs on the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Package {
    /// The exact package name.
    pub name: &'static str,
    /// Installed from `<codename>-backports` rather than the release itself.
    pub backports: bool,
    /// What needs it.
    pub why: &'static str,
}

/// Every Debian package the build, the tests, the demo and the benches need on the host, in one
/// place. Each is checked in the package database (`dpkg-query`), never guessed from file names:
/// a machine can hold `libclang-cpp14` (a `libclang-*` file) and still lack `libclang.so`.
pub const PACKAGES: &[Package] = &[
    Package {
        name: "qemu-system-x86",
        backports: true,
        why: "boots the lab VM (bookworm's 7.2 conflicts with the backports qemu-utils)",
    },
    Package {
        name: "debootstrap",
        backports: false,
        why: "builds the lab images and the clean room",
    },
    Package {
        name: "e2fsprogs",
        backports: false,
        why: "mkfs.ext4 makes the lab image",
    },
    Package {
        name: "pkg-config",
        backports: false,
        why: "libzfs-core-sys finds libzfs_core",
    },
    Package {
        name: "libzfslinux-dev",
        backports: false,
        why: "the OpenZFS 2.1 headers and libraries the workspace builds against",
    },
    Package {
        name: "libclang-dev",
        backports: false,
        why: "bindgen (libzfs-core-sys's build script) loads libclang.so",
    },
];

/// True when dpkg's database says `name` is installed: the `ii` state (wanted: install, status:
/// installed), not merely unpacked, half-configured or removed with its configuration left.
fn dpkg_installed(name: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${db:Status-Abbrev}", name])
        .stderr(Stdio::null())
        .output()
        .is_ok_and(|o| o.status.success() && status_is_installed(&o.stdout))
}

/// Whether a `${db:Status-Abbrev}` field (`ii `, `rc `, `iU `, ...) means installed.
fn status_is_installed(abbrev: &[u8]) -> bool {
    abbrev.starts_with(b"ii")
}

/// The host packages not installed now.
fn missing() -> Vec<Package> {
    PACKAGES
        .iter()
        .copied()
        .filter(|p| !dpkg_installed(p.name))
        .collect()
}

fn apt(args: &[&str]) -> Result<()> {
    eprintln!("[lab] apt-get {}", args.join(" "));
    let st = Command::new("apt-get")
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdout(Stdio::null())
        .status()
        .map_err(|e| format!("cannot run apt-get: {e}"))?;
    if st.success() {
        Ok(())
    } else {
        Err(format!("`apt-get {}` failed ({st})", args.join(" ")))
    }
}

/// Make sure the apt sources have contrib + backports and `apt-get update` has seen them.
pub fn ensure_apt_sources() -> Result<()> {
    if enable_contrib_and_backports()? {
        eprintln!("[lab] enabled contrib and backports in the machine's apt sources");
        apt(&["-q", "update"])?;
    }
    Ok(())
}

/// Install what the lab needs on the host, or say exactly what to run when not root.
pub fn ensure_lab_prereqs() -> Result<()> {
    let missing = missing();
    if missing.is_empty() {
        return Ok(());
    }
    let code = codename()?;
    let names: Vec<&str> = missing.iter().map(|p| p.name).collect();
    if !is_root() {
        return Err(format!(
            "these Debian packages are not installed: {}. As root, run `cargo xtask deps`, \
             or: add `contrib` and `{code}-backports` to your apt sources, then {}",
            names.join(" "),
            install_commands(&missing, &code).join(" && ")
        ));
    }
    eprintln!("[lab] installing host packages: {}", names.join(" "));
    enable_contrib_and_backports()?;
    apt(&["-q", "update"])?;
    let backports = format!("{code}-backports");
    for (from_backports, names) in by_origin(&missing) {
        let mut args = vec!["install", "-y", "-q", "--no-install-recommends"];
        if from_backports {
            args.extend(["-t", backports.as_str()]);
        }
        args.extend(&names);
        apt(&args)?;
    }
    let still = missing_names();
    if still.is_empty() {
        Ok(())
    } else {
        Err(format!("still missing after install: {still}"))
    }
}

fn missing_names() -> String {
    missing()
        .iter()
        .map(|p| p.name)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The names of `pkgs` in two groups, those from backports first: `(from_backports, names)`,
/// empty groups left out.
fn by_origin(pkgs: &[Package]) -> Vec<(bool, Vec<&'static str>)> {
    [true, false]
        .into_iter()
        .map(|b| {
            let names = pkgs.iter().filter(|p| p.backports == b).map(|p| p.name);
            (b, names.collect::<Vec<_>>())
        })
        .filter(|(_, n)| !n.is_empty())
        .collect()
}

/// The apt commands that install `pkgs` (backports ones first, with `-t`), as a root user types
/// them.
fn install_commands(pkgs: &[Package], code: &str) -> Vec<String> {
    let mut cmds = vec!["apt-get update".to_string()];
    for (from_backports, names) in by_origin(pkgs) {
        let target = if from_backports {
            format!("-t {code}-backports ")
        } else {
            String::new()
        };
        cmds.push(format!(
            "apt-get install --no-install-recommends {target}{}",
            names.join(" ")
        ));
    }
    cmds
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_ii_state_is_installed() {
        assert!(status_is_installed(b"ii "));
        for other in [&b"rc "[..], b"iU ", b"un ", b"iF ", b"pn ", b""] {
            assert!(!status_is_installed(other), "{other:?}");
        }
    }

    #[test]
    fn the_list_names_libclang_dev_itself() {
        // The package bindgen needs, not a file-name guess that libclang-cpp14 satisfies.
        assert!(PACKAGES.iter().any(|p| p.name == "libclang-dev"));
        let mut names: Vec<&str> = PACKAGES.iter().map(|p| p.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), PACKAGES.len(), "a package is listed twice");
    }

    #[test]
    fn install_commands_put_backports_first() {
        let pkgs = [PACKAGES[0], PACKAGES[5]];
        assert_eq!(
            install_commands(&pkgs, "bookworm"),
            vec![
                "apt-get update",
                "apt-get install --no-install-recommends -t bookworm-backports qemu-system-x86",
                "apt-get install --no-install-recommends libclang-dev",
            ]
        );
    }

    #[test]
    fn a_package_unknown_to_dpkg_is_not_installed() {
        assert!(!dpkg_installed("flocker-no-such-package-xyz"));
    }

    #[test]
    fn deb822_main_stanza_is_found() {
        let t = "Types: deb\nURIs: http://mirror.invalid/debian\nSuites: bookworm bookworm-updates\nComponents: main\n\nTypes: deb\nURIs: http://mirror.invalid/debian-security\nSuites: bookworm-security\nComponents: main\n";
        let s = parse_deb822(t);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].uri, "http://mirror.invalid/debian");
        assert_eq!(s[0].suites, vec!["bookworm", "bookworm-updates"]);
        assert_eq!(s[1].components, vec!["main"]);
    }

    #[test]
    fn one_line_sources_skip_options() {
        let s = parse_one_line(
            "# c\ndeb [arch=amd64] http://m.invalid/debian bookworm main contrib\ndeb-src http://x bookworm main\n",
        );
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].uri, "http://m.invalid/debian");
        assert_eq!(s[0].suites, vec!["bookworm"]);
        assert_eq!(s[0].components, vec!["main", "contrib"]);
    }
}
