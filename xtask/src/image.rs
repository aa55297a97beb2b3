//! Lab images: built by `xtask/lab/build-image.sh`, cached under a key that hashes the recipe,
//! and the per-flavour OpenZFS development files that code built for that flavour compiles against.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use sha2::{Digest, Sha256};

use crate::{Flavour, Result, host};

/// The recipe files; their bytes (and the flavour) make the cache key.
const RECIPE: &[&str] = &["xtask/lab/build-image.sh", "xtask/lab/guest-init"];

/// The repository root (the xtask crate's parent).
pub fn repo_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.parent().unwrap_or(here).to_path_buf()
}

/// Where images and other lab files are cached: `$FLOCKER_LAB_CACHE`, else
/// `$XDG_CACHE_HOME/flocker-lab`, else `~/.cache/flocker-lab`.
pub fn cache_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("FLOCKER_LAB_CACHE") {
        return PathBuf::from(d);
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(d).join("flocker-lab");
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| "/root".into());
    home.join(".cache/flocker-lab")
}

/// A built image.
#[derive(Clone, Debug)]
pub struct Image {
    /// Its directory.
    pub dir: PathBuf,
    /// Kernel release inside (`6.1.0-...`).
    pub kernel: String,
    /// Debian version of zfsutils-linux inside (`2.1.11-1+deb12u1`).
    pub zfs: String,
}

impl Image {
    /// The root filesystem image.
    pub fn rootfs(&self) -> PathBuf {
        self.dir.join("rootfs.img")
    }
    /// The kernel.
    pub fn vmlinuz(&self) -> PathBuf {
        self.dir.join("vmlinuz")
    }
    /// The initrd.
    pub fn initrd(&self) -> PathBuf {
        self.dir.join("initrd.img")
    }
}

/// The cache key of a flavour's recipe.
pub fn recipe_key(flavour: Flavour) -> Result<String> {
    let mut h = Sha256::new();
    for rel in RECIPE {
        let p = repo_root().join(rel);
        let bytes = std::fs::read(&p).map_err(|e| format!("cannot read {}: {e}", p.display()))?;
        h.update(rel.as_bytes());
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(&bytes);
    }
    h.update(flavour.as_str().as_bytes());
    let digest = h.finalize();
    Ok(digest.iter().take(8).map(|b| format!("{b:02x}")).collect())
}

fn image_dir(flavour: Flavour) -> Result<PathBuf> {
    Ok(cache_dir().join("images").join(format!(
        "zfs-{}-{}",
        flavour.as_str(),
        recipe_key(flavour)?
    )))
}

fn read_manifest(dir: &Path) -> Option<Image> {
    let text = std::fs::read_to_string(dir.join("manifest")).ok()?;
    let get = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(k).and_then(|r| r.strip_prefix('=')))
            .map(str::to_string)
    };
    let img = Image {
        dir: dir.to_path_buf(),
        kernel: get("kernel")?,
        zfs: get("zfs")?,
    };
    (img.rootfs().is_file() && img.vmlinuz().is_file() && img.initrd().is_file()).then_some(img)
}

/// Where an image is assembled before it is renamed into place: `<dir>.partial`.
fn partial_dir(dir: &Path) -> PathBuf {
    let mut name = dir.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    dir.with_file_name(name)
}

/// An exclusive lock on a file, held until dropped (so two xtasks never build the same thing).
pub struct Lock(#[allow(dead_code)] File);

/// Take the lock at `path`, waiting for another holder.
pub fn lock(path: &Path) -> Result<Lock> {
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p).map_err(|e| format!("cannot create {}: {e}", p.display()))?;
    }
    let f = File::create(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    // SAFETY: flock on a valid fd we own; no memory is involved.
    let mut rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        eprintln!("[lab] waiting for another xtask holding {}", path.display());
        // SAFETY: as above.
        rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) };
    }
    if rc != 0 {
        return Err(format!(
            "cannot lock {}: {}",
            path.display(),
            std::io::Error::last_os_error()
        ));
    }
    Ok(Lock(f))
}

/// The image of a flavour: from the cache, or built now.
pub fn ensure(flavour: Flavour) -> Result<Image> {
    let dir = image_dir(flavour)?;
    if let Some(img) = read_manifest(&dir) {
        return Ok(img);
    }
    host::ensure_lab_prereqs()?;
    // One build per Debian suite at a time: builds of a suite share its downloaded packages.
    let _lock = lock(&cache_dir().join(format!("build-{}.lock", flavour.suite())))?;
    if let Some(img) = read_manifest(&dir) {
        return Ok(img);
    }
    if !host::is_root() {
        return Err(format!(
            "the zfs {} lab image is not built yet and building it needs root (debootstrap, \
             chroot, mounts): run `sudo cargo xtask lab build --zfs {}`",
            flavour.as_str(),
            flavour.as_str()
        ));
    }
    host::ensure_apt_sources()?;
    let mirror = host::mirror()?;
    let work = cache_dir().join(format!("work-{}", flavour.as_str()));
    // Not `with_extension`: the key follows a dot (`zfs-2.4-<key>`), so every flavour would
    // share one `zfs-2.partial`.
    let tmp_out = partial_dir(&dir);
    let _ = std::fs::remove_dir_all(&tmp_out);
    std::fs::create_dir_all(&work).map_err(|e| format!("cannot create {}: {e}", work.display()))?;
    eprintln!(
        "[lab] building the zfs {} image into {} (cache: {}; set FLOCKER_LAB_CACHE to move it); \
         this takes about 5 minutes",
        flavour.as_str(),
        dir.display(),
        cache_dir().display()
    );
    let started = Instant::now();
    let mut child = Command::new("bash")
        .arg(repo_root().join("xtask/lab/build-image.sh"))
        .env("FLAVOUR", flavour.as_str())
        .env("MIRROR", &mirror)
        .env("WORK", &work)
        .env("OUT", &tmp_out)
        .env("DEBS", cache_dir().join("debs").join(flavour.suite()))
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run the image recipe: {e}"))?;
    // Each step line of the recipe gets the time since the build started, so a slow step shows.
    if let Some(out) = child.stdout.take() {
        for line in BufReader::new(out)
            .lines()
            .map_while(std::result::Result::ok)
        {
            eprintln!("{line} (at {:.0} s)", started.elapsed().as_secs_f64());
        }
    }
    let st = child
        .wait()
        .map_err(|e| format!("cannot wait for the image recipe: {e}"))?;
    if !st.success() {
        return Err(format!(
            "building the zfs {} image failed ({st}); logs in {}",
            flavour.as_str(),
            work.display()
        ));
    }
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::rename(&tmp_out, &dir)
        .map_err(|e| format!("cannot move the image into place: {e}"))?;
    let img = read_manifest(&dir).ok_or("the recipe finished but the image is incomplete")?;
    eprintln!(
        "[lab] built zfs {} image in {:.0} s: kernel {}, zfs {}",
        flavour.as_str(),
        started.elapsed().as_secs_f64(),
        img.kernel,
        img.zfs
    );
    Ok(img)
}

/// Environment for building code against a flavour's OpenZFS headers and libraries. The 2.1
/// flavour uses the host's own `libzfslinux-dev` (bookworm's 2.1.11); the others use the headers
/// and libraries the image recipe copied out of the image (`dev/`), so code tested there is
/// compiled against exactly what runs there.
pub fn dev_env(flavour: Flavour, img: &Image) -> Result<Vec<(String, String)>> {
    if flavour == Flavour::V2_1 {
        return Ok(Vec::new());
    }
    let dev = img.dir.join("dev");
    let include = dev.join("include");
    let lib = dev.join("lib");
    if !include.join("libzfs/libzfs_core.h").is_file() || !lib.join("libzfs_core.so").exists() {
        return Err(format!(
            "the zfs {} image in {} has no development files (dev/): remove that directory \
             and run `cargo xtask lab build --zfs {}`",
            flavour.as_str(),
            img.dir.display(),
            flavour.as_str()
        ));
    }
    let mut env = vec![
        (
            "LIBZFS_CORE_INCLUDE_DIR".to_string(),
            include.display().to_string(),
        ),
        ("LIBZFS_CORE_LIB_DIR".to_string(), lib.display().to_string()),
    ];
    if flavour.suite() != host::codename().unwrap_or_default() {
        // The libraries were built against a newer C library than the host's: the executables
        // linked here run only in the guest, whose C library has those symbols, so the host's
        // linker must not insist on resolving the libraries' own references.
        let mut flags = std::env::var("RUSTFLAGS").unwrap_or_default();
        if !flags.is_empty() {
            flags.push(' ');
        }
        flags.push_str("-C link-arg=-Wl,--allow-shlib-undefined");
        env.push(("RUSTFLAGS".to_string(), flags));
    }
    Ok(env)
}

/// `cargo xtask lab info`.
pub fn info() -> Result<()> {
    println!(
        "cache: {} (override with FLOCKER_LAB_CACHE)",
        cache_dir().display()
    );
    for f in Flavour::ALL {
        let dir = image_dir(f)?;
        match read_manifest(&dir) {
            Some(img) => println!(
                "zfs {}: built, kernel {}, zfs {} ({})",
                f.as_str(),
                img.kernel,
                img.zfs,
                dir.display()
            ),
            None => println!("zfs {}: not built (key {})", f.as_str(), recipe_key(f)?),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_flavour_has_its_own_partial_dir() {
        let a = partial_dir(Path::new("/c/images/zfs-2.1-0123abcd"));
        let b = partial_dir(Path::new("/c/images/zfs-2.4-0123abcd"));
        assert_eq!(a, Path::new("/c/images/zfs-2.1-0123abcd.partial"));
        assert_ne!(a, b);
    }
}
