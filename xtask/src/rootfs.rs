//! The root-on-ZFS lab: Debian installed on a root pool on a virtual disk, booted through
//! Debian's own initramfs with its stock `zfs-initramfs` (`root=ZFS=rpool/ROOT/debian`).
//!
//! Each flavour gets a template, made once and cached under a key of the flavour's lab image and
//! this recipe's bytes: `xtask/lab/build-root-image.sh` (on the host, as root) copies the image's
//! root file system, installs `zfs-initramfs` in it, writes a fixed `/etc/hostid` and makes the
//! initramfs; then the flavour's normal lab VM runs `xtask/lab/root-pool.sh`, which creates the
//! pool (`rpool`, `rpool/ROOT` with no mountpoint, `rpool/ROOT/debian` as `/`, `rpool/home` as
//! `/home`, `bootfs` set) on a blank disk, unpacks the root file system and exports the pool.
//!
//! A run boots a disk made from the template (a sparse copy, made on first use, which then keeps
//! what the guest writes), so the next run on the same disk is the reboot. The initramfs imports
//! the pool and mounts the root dataset, then runs the lab's own init (`init=`), which hands over
//! to the same per-boot script as the normal lab (9p shares, output, exit status, power cut); that
//! script runs `zfs mount -a` when `/` is ZFS. The pool is never exported at the end of a boot
//! (the root file system stays mounted until the power goes): every boot imports a pool that was
//! last imported by the same hostid, as after a power failure, without `zfsforce`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use sha2::{Digest, Sha256};

use crate::image::{self, Image};
use crate::vm::{self, Outcome};
use crate::{Flavour, Result, VmArgs, host};

/// The root dataset, as given to the initramfs (`root=ZFS=...`) and set as the pool's `bootfs`.
pub const BOOTFS: &str = "rpool/ROOT/debian";
/// The `/etc/hostid` of every root-on-ZFS guest (in the initramfs and in the root file system).
pub const HOSTID: &str = "f10c0001";
/// The recipe files; their bytes, the flavour's image and the hostid make the cache key.
const RECIPE: &[&str] = &["xtask/lab/build-root-image.sh", "xtask/lab/root-pool.sh"];
/// Size of the template disk (sparse: only what the pool uses takes room on the host).
const DISK_BYTES: u64 = 8 << 30;

/// How the VM boots from a root pool: what `vm` puts on the qemu command line.
#[derive(Clone, Debug)]
pub struct ZfsRoot {
    /// The kernel.
    pub vmlinuz: PathBuf,
    /// Debian's initramfs with `zfs-initramfs` and the template's hostid.
    pub initrd: PathBuf,
    /// The raw disk holding the pool (the first virtio disk, `/dev/vda`).
    pub disk: PathBuf,
    /// What follows `root=` on the kernel command line: `ZFS=<dataset>` (the default:
    /// `ZFS=rpool/ROOT/debian`), or `zfs:AUTO` for the pool's `bootfs`.
    pub root: String,
}

/// The default `root=` value: the template's root dataset, by name.
pub fn default_root() -> String {
    format!("ZFS={BOOTFS}")
}

/// A built root-on-ZFS template.
#[derive(Clone, Debug)]
pub struct Template {
    /// Its directory.
    pub dir: PathBuf,
    /// The flavour (`2.4`).
    pub flavour: String,
    /// Kernel release.
    pub kernel: String,
    /// Debian version of zfsutils-linux / zfs-initramfs.
    pub zfs: String,
    /// Seconds the build took (from the manifest).
    pub build_secs: f64,
}

impl Template {
    /// The template disk (an exported pool).
    pub fn disk(&self) -> PathBuf {
        self.dir.join("rpool.img")
    }
    /// The kernel.
    pub fn vmlinuz(&self) -> PathBuf {
        self.dir.join("vmlinuz")
    }
    /// The zfs initramfs.
    pub fn initrd(&self) -> PathBuf {
        self.dir.join("initrd.img")
    }
}

/// The cache key of a flavour's template: its lab image (whose directory name carries that
/// image's own key), this recipe and the hostid.
fn template_key(flavour: Flavour, base: &Image) -> Result<String> {
    let mut h = Sha256::new();
    h.update(base.dir.file_name().unwrap_or_default().as_encoded_bytes());
    for rel in RECIPE {
        let p = image::repo_root().join(rel);
        let bytes = std::fs::read(&p).map_err(|e| format!("cannot read {}: {e}", p.display()))?;
        h.update(rel.as_bytes());
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(&bytes);
    }
    h.update(flavour.as_str().as_bytes());
    h.update(HOSTID.as_bytes());
    let digest = h.finalize();
    Ok(digest.iter().take(8).map(|b| format!("{b:02x}")).collect())
}

fn read_manifest(dir: &Path) -> Option<Template> {
    let text = std::fs::read_to_string(dir.join("manifest")).ok()?;
    let get = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(k).and_then(|r| r.strip_prefix('=')))
            .map(str::to_string)
    };
    let t = Template {
        dir: dir.to_path_buf(),
        flavour: get("flavour")?,
        kernel: get("kernel")?,
        zfs: get("zfs")?,
        build_secs: get("build_secs")?.parse().ok()?,
    };
    (t.disk().is_file() && t.vmlinuz().is_file() && t.initrd().is_file()).then_some(t)
}

/// The flavour's root-on-ZFS template: from the cache, or built now (as root; boots the lab).
pub fn ensure(flavour: Flavour, vm_args: &VmArgs) -> Result<Template> {
    let base = image::ensure(flavour)?;
    let dir = image::cache_dir().join("images").join(format!(
        "root-zfs-{}-{}",
        flavour.as_str(),
        template_key(flavour, &base)?
    ));
    if let Some(t) = read_manifest(&dir) {
        return Ok(t);
    }
    let _lock =
        image::lock(&image::cache_dir().join(format!("build-root-{}.lock", flavour.as_str())))?;
    if let Some(t) = read_manifest(&dir) {
        return Ok(t);
    }
    if !host::is_root() {
        return Err(format!(
            "the zfs {} root-on-ZFS template is not built yet and building it needs root \
             (loop mount, chroot): run this once as root",
            flavour.as_str()
        ));
    }
    build(flavour, &base, &dir, vm_args)
}

/// Builds the template into `dir` (through `<dir>.partial`).
fn build(flavour: Flavour, base: &Image, dir: &Path, vm_args: &VmArgs) -> Result<Template> {
    let started = Instant::now();
    let work = image::cache_dir().join(format!("work-root-{}", flavour.as_str()));
    let mut partial = dir.as_os_str().to_os_string();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    let _ = std::fs::remove_dir_all(&partial);
    for d in [&work, &partial] {
        std::fs::create_dir_all(d).map_err(|e| format!("cannot create {}: {e}", d.display()))?;
    }
    eprintln!(
        "[lab] building the zfs {} root-on-ZFS template into {} (a few minutes)",
        flavour.as_str(),
        dir.display()
    );
    host_half(flavour, base, &work, &partial, started)?;
    let host_secs = started.elapsed().as_secs_f64();

    let disk = partial.join("rpool.img");
    let f = std::fs::File::create(&disk)
        .map_err(|e| format!("cannot create {}: {e}", disk.display()))?;
    f.set_len(DISK_BYTES).map_err(|e| e.to_string())?;
    drop(f);
    let mut args = vm_args.clone();
    // Unpacking the root file system onto the pool takes minutes under TCG, whatever the
    // caller's command needs.
    args.timeout = args.timeout.max(1800);
    args.disks = vec![disk];
    args.power_cut = false;
    args.zfs_root = None;
    args.shares.push(work.clone());
    args.env.extend([
        format!("ROOT_TAR={}", work.join("rootfs.tar").display()),
        format!("HOSTID={HOSTID}"),
    ]);
    let script = image::repo_root().join("xtask/lab/root-pool.sh");
    let out = vm::run_script_in_lab(flavour, &args, &script)?;
    if out.code != 0 {
        return Err(format!(
            "making the root pool in the lab VM failed (status {}; see above)",
            out.code
        ));
    }
    let secs = started.elapsed().as_secs_f64();
    let read = |name: &str| {
        std::fs::read_to_string(partial.join(name))
            .map(|s| s.trim().to_string())
            .map_err(|e| format!("the recipe left no {name}: {e}"))
    };
    let manifest = format!(
        "flavour={}\nkernel={}\nzfs={}\nbase={}\nhostid={HOSTID}\nbuild_secs={secs:.0}\n",
        flavour.as_str(),
        read("kver")?,
        read("zver")?,
        base.dir.display(),
    );
    std::fs::write(partial.join("manifest"), manifest).map_err(|e| e.to_string())?;
    let _ = std::fs::remove_dir_all(dir);
    std::fs::rename(&partial, dir)
        .map_err(|e| format!("cannot move the template into place: {e}"))?;
    let _ = std::fs::remove_dir_all(&work);
    let t = read_manifest(dir).ok_or("the template was built but is incomplete")?;
    eprintln!(
        "[lab] built the zfs {} root-on-ZFS template in {secs:.0} s (host half {host_secs:.0} s, \
         pool in the VM {:.0} s)",
        flavour.as_str(),
        secs - host_secs
    );
    Ok(t)
}

/// Runs `build-root-image.sh`: the root file system archive in `work`, kernel and initramfs in
/// `out`.
fn host_half(
    flavour: Flavour,
    base: &Image,
    work: &Path,
    out: &Path,
    started: Instant,
) -> Result<()> {
    let mut child = Command::new("bash")
        .arg(image::repo_root().join("xtask/lab/build-root-image.sh"))
        .env("FLAVOUR", flavour.as_str())
        .env("MIRROR", host::mirror()?)
        .env("BASE", &base.dir)
        .env("HOSTID", HOSTID)
        .env("WORK", work)
        .env("OUT", out)
        .env(
            "DEBS",
            image::cache_dir().join("debs").join(flavour.suite()),
        )
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run the root-on-ZFS recipe: {e}"))?;
    if let Some(o) = child.stdout.take() {
        for line in BufReader::new(o).lines().map_while(std::result::Result::ok) {
            eprintln!("{line} (at {:.0} s)", started.elapsed().as_secs_f64());
        }
    }
    let st = child
        .wait()
        .map_err(|e| format!("cannot wait for the root-on-ZFS recipe: {e}"))?;
    if !st.success() {
        return Err(format!(
            "the root-on-ZFS recipe failed ({st}); logs in {}",
            work.display()
        ));
    }
    Ok(())
}

/// Makes `disk` from the template when it does not exist (a sparse copy, written through a
/// temporary name so a half-copied disk is never used); returns whether it made it.
pub fn prepare_disk(t: &Template, disk: &Path) -> Result<bool> {
    if disk.exists() {
        if !disk.is_file() {
            return Err(format!("{} is not a disk image file", disk.display()));
        }
        return Ok(false);
    }
    if let Some(p) = disk.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(p).map_err(|e| format!("cannot create {}: {e}", p.display()))?;
    }
    let mut tmp = disk.as_os_str().to_os_string();
    tmp.push(".partial");
    let tmp = PathBuf::from(tmp);
    let st = Command::new("cp")
        .args(["--sparse=always", "--reflink=auto"])
        .arg(t.disk())
        .arg(&tmp)
        .status()
        .map_err(|e| format!("cannot run cp: {e}"))?;
    if !st.success() {
        let _ = std::fs::remove_file(&tmp);
        return Err(format!(
            "copying the template disk to {} failed",
            tmp.display()
        ));
    }
    std::fs::rename(&tmp, disk).map_err(|e| format!("cannot create {}: {e}", disk.display()))?;
    Ok(true)
}

/// Boots the flavour's root-on-ZFS system from `disk` (made from the template if missing) and
/// runs `cmd` as `vm::run_in_lab` does; `args.disks` are attached after it (`/dev/vdb`, ...).
/// `root` is the kernel's `root=` value (`None`: [`default_root`]).
pub fn run_in_root_lab(
    flavour: Flavour,
    args: &VmArgs,
    disk: &Path,
    root: Option<&str>,
    cmd: &[String],
) -> Result<Outcome> {
    host::ensure_lab_prereqs()?;
    let t = ensure(flavour, args)?;
    let disk =
        std::path::absolute(disk).map_err(|e| format!("bad disk path {}: {e}", disk.display()))?;
    if prepare_disk(&t, &disk)? {
        eprintln!(
            "[lab] new root disk {} from the zfs {} template",
            disk.display(),
            flavour.as_str()
        );
    }
    let mut args = args.clone();
    args.zfs_root = Some(ZfsRoot {
        vmlinuz: t.vmlinuz(),
        initrd: t.initrd(),
        disk,
        root: root.map_or_else(default_root, str::to_string),
    });
    vm::run_in_lab(flavour, &args, cmd)
}

/// `cargo xtask lab run --root-on-zfs --disk FILE`: the first `--disk` is the root disk.
pub fn run_command(
    flavour: Flavour,
    args: &VmArgs,
    root: Option<&str>,
    cmd: &[String],
) -> Result<i32> {
    let mut args = args.clone();
    if args.disks.is_empty() {
        return Err("--root-on-zfs needs --disk FILE (the root disk; made if missing)".into());
    }
    let disk = args.disks.remove(0);
    let out = run_in_root_lab(flavour, &args, &disk, root, cmd)?;
    if out.code != 0 {
        eprintln!("[lab] the command exited with status {}", out.code);
    }
    Ok(out.code)
}

/// One boot of a multi-boot sequence on one root disk.
#[derive(Clone, Debug, Default)]
pub struct Boot {
    /// The guest command.
    pub cmd: Vec<String>,
    /// Extra environment for it (`KEY=VALUE`), besides `FLOCKER_ROOT_BOOT=<1-based number>`.
    pub env: Vec<String>,
    /// This boot must end in a power cut (the command prints `@@FLOCKER:POWERCUT@@ <ms>`);
    /// otherwise it must exit 0.
    pub power_cut: bool,
    /// The kernel's `root=` value for this boot (`None`: [`default_root`]).
    pub root: Option<String>,
}

/// Runs `boots` one after the other on the same root disk (made from the template if missing):
/// each one is a reboot of the system the previous one left, after a clean power-off or the power
/// cut it asked for. Stops at the first boot that fails its expectation; returns every outcome.
pub fn run_boots(
    flavour: Flavour,
    vm_args: &VmArgs,
    disk: &Path,
    boots: &[Boot],
) -> Result<Vec<Outcome>> {
    let mut outcomes = Vec::new();
    for (i, b) in boots.iter().enumerate() {
        let n = i + 1;
        let mut args = vm_args.clone();
        args.power_cut = b.power_cut;
        args.env.push(format!("FLOCKER_ROOT_BOOT={n}"));
        args.env.extend(b.env.iter().cloned());
        eprintln!("[lab] root-on-ZFS boot {n} of {}", boots.len());
        let out = run_in_root_lab(flavour, &args, disk, b.root.as_deref(), &b.cmd)
            .map_err(|e| format!("boot {n}: {e}"))?;
        if b.power_cut && !out.power_cut {
            return Err(format!(
                "boot {n} ended (status {}) without asking for the power cut",
                out.code
            ));
        }
        if !b.power_cut && out.code != 0 {
            return Err(format!(
                "boot {n}: the command exited with status {}",
                out.code
            ));
        }
        outcomes.push(out);
    }
    Ok(outcomes)
}

/// Checks every self-test boot makes first: the root and /home datasets, the hostid, no
/// `zfsforce`, `bootfs`, a writable /var/lib.
const SELFTEST_COMMON: &str = r#"set -eu
fail() { echo "root-selftest boot $FLOCKER_ROOT_BOOT: $*" >&2; exit 1; }
mnt() { awk -v m="$1" '$5 == m { for (i = 7; i <= NF; i++) if ($i == "-") { print $(i+1), $(i+2); break } }' /proc/self/mountinfo | tail -n 1; }
[ "$(mnt /)" = "zfs rpool/ROOT/debian" ] || fail "/ is '$(mnt /)', not zfs rpool/ROOT/debian"
[ "$(mnt /home)" = "zfs rpool/home" ] || fail "/home is '$(mnt /home)', not zfs rpool/home"
[ "$(hostid)" = f10c0001 ] || fail "hostid is $(hostid)"
if grep -qw zfsforce /proc/cmdline; then fail "zfsforce on the kernel command line"; fi
[ "$(zpool get -H -o value bootfs rpool)" = rpool/ROOT/debian ] || fail "bootfs is not rpool/ROOT/debian"
touch /var/lib/root-selftest || fail "/var/lib is not writable"
echo "boot $FLOCKER_ROOT_BOOT: / is rpool/ROOT/debian, /home is rpool/home, hostid $(hostid)"
"#;

/// The self-test's three boots.
fn selftest_boots() -> Vec<Boot> {
    let sh = |body: &str| Boot {
        cmd: vec!["sh".into(), "-c".into(), format!("{SELFTEST_COMMON}{body}")],
        ..Boot::default()
    };
    let mut second = sh(
        r#"[ "$(cat /root-selftest-1)" = one ] || fail "/root-selftest-1 lost"
[ "$(cat /home/root-selftest-1)" = home ] || fail "/home/root-selftest-1 lost"
echo two >/root-selftest-2
sync
echo "boot 2: files of boot 1 found; /root-selftest-2 synced; cutting the power"
echo "@@FLOCKER:POWERCUT@@ 0"
sleep 600
"#,
    );
    second.power_cut = true;
    vec![
        sh(r#"echo one >/root-selftest-1
echo home >/home/root-selftest-1
sync
"#),
        second,
        sh(
            r#"[ "$(cat /root-selftest-1)" = one ] || fail "/root-selftest-1 lost"
[ "$(cat /home/root-selftest-1)" = home ] || fail "/home/root-selftest-1 lost"
[ "$(cat /root-selftest-2)" = two ] || fail "/root-selftest-2, synced before the power cut, lost"
zpool status -x rpool | grep -q 'is healthy' || fail "rpool is not healthy: $(zpool status rpool)"
echo "boot 3: imported after the power cut; every synced file is there"
"#,
        ),
    ]
}

/// `cargo xtask lab root-selftest`: three boots on a fresh disk (kept on failure).
pub fn selftest(flavour: Flavour, vm_args: &VmArgs) -> Result<i32> {
    host::ensure_lab_prereqs()?;
    let t0 = Instant::now();
    let t = ensure(flavour, vm_args)?;
    let template_secs = t0.elapsed().as_secs_f64();
    let dir = image::cache_dir().join("root-selftest");
    let disk = dir.join(format!(
        "zfs-{}-{}.img",
        flavour.as_str(),
        std::process::id()
    ));
    let outs = match run_boots(flavour, vm_args, &disk, &selftest_boots()) {
        Ok(o) => o,
        Err(e) => {
            println!(
                "root-selftest zfs {}: FAILED: {e} (disk kept: {})",
                flavour.as_str(),
                disk.display()
            );
            println!("0 passed, 1 failed");
            return Ok(1);
        }
    };
    let _ = std::fs::remove_file(&disk);
    let boots: Vec<String> = outs
        .iter()
        .map(|o| format!("{:.1} s", o.boot_secs))
        .collect();
    println!(
        "root-selftest zfs {} (kernel {}, zfs {}): ok; template {} ({:.0} s when built), \
         qemu start to command per boot: {}; total {:.0} s",
        flavour.as_str(),
        t.kernel,
        t.zfs,
        if template_secs < 5.0 {
            "cached"
        } else {
            "built now"
        },
        t.build_secs,
        boots.join(", "),
        t0.elapsed().as_secs_f64()
    );
    println!("1 passed, 0 failed");
    Ok(0)
}

/// `cargo xtask lab info`: the root-on-ZFS templates in the cache.
pub fn info() -> Result<()> {
    let images = image::cache_dir().join("images");
    let mut found: Vec<Template> = std::fs::read_dir(&images)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().starts_with("root-zfs-"))
                .filter_map(|e| read_manifest(&e.path()))
                .collect()
        })
        .unwrap_or_default();
    found.sort_by(|a, b| a.dir.cmp(&b.dir));
    for t in found {
        println!(
            "zfs {} root on ZFS: template built in {:.0} s, kernel {}, zfs {} ({})",
            t.flavour,
            t.build_secs,
            t.kernel,
            t.zfs,
            t.dir.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("xtask-rootfs-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn a_missing_disk_is_copied_from_the_template_and_then_kept() {
        let dir = scratch("disk");
        let t = Template {
            dir: dir.clone(),
            flavour: "2.4".into(),
            kernel: "k".into(),
            zfs: "z".into(),
            build_secs: 0.0,
        };
        std::fs::write(t.disk(), b"template").unwrap();
        let disk = dir.join("sub/run.img");
        assert!(prepare_disk(&t, &disk).unwrap());
        assert_eq!(std::fs::read(&disk).unwrap(), b"template");
        // The guest wrote to it: the next run must boot what it wrote, not a new copy.
        std::fs::write(&disk, b"written by boot 1").unwrap();
        assert!(!prepare_disk(&t, &disk).unwrap());
        assert_eq!(std::fs::read(&disk).unwrap(), b"written by boot 1");
        assert!(!dir.join("sub/run.img.partial").exists());
        // A directory in the disk's place is refused, not booted.
        assert!(prepare_disk(&t, &dir.join("sub")).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_template_key_follows_the_flavour_image() {
        let img = |name: &str| Image {
            dir: PathBuf::from(format!("/c/images/{name}")),
            kernel: "k".into(),
            zfs: "z".into(),
        };
        let a = template_key(Flavour::V2_4, &img("zfs-2.4-aaaa")).unwrap();
        assert_eq!(
            a,
            template_key(Flavour::V2_4, &img("zfs-2.4-aaaa")).unwrap()
        );
        assert_ne!(
            a,
            template_key(Flavour::V2_4, &img("zfs-2.4-bbbb")).unwrap()
        );
        assert_ne!(
            a,
            template_key(Flavour::V2_1, &img("zfs-2.4-aaaa")).unwrap()
        );
    }

    #[test]
    fn the_self_test_checks_what_the_template_is_made_of() {
        assert!(SELFTEST_COMMON.contains(&format!("= {HOSTID} ]")));
        assert!(SELFTEST_COMMON.contains(&format!("\"zfs {BOOTFS}\"")));
        let pool =
            std::fs::read_to_string(image::repo_root().join("xtask/lab/root-pool.sh")).unwrap();
        assert!(pool.contains(&format!("zpool set bootfs={BOOTFS} rpool")));
        let boots = selftest_boots();
        assert_eq!(
            boots.iter().map(|b| b.power_cut).collect::<Vec<_>>(),
            [false, true, false]
        );
        assert!(boots[1].cmd[2].contains("@@FLOCKER:POWERCUT@@"));
    }
}
