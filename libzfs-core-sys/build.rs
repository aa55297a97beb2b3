//! Build script for libzfs-core-sys.
//!
//! 1. Find the OpenZFS headers and libraries: `LIBZFS_CORE_INCLUDE_DIR` / `LIBZFS_CORE_LIB_DIR`
//!    first, then pkg-config (`libzfs_core`, which also brings libnvpair).
//! 2. Generate the bindings with bindgen from `wrapper.h` (or copy a committed, pregenerated
//!    file when `DOCS_RS` or `LIBZFS_CORE_SYS_PREGENERATED` is set).
//! 3. Detect the OpenZFS API level from the headers and emit `cfg(zfs_2_2)` / `cfg(zfs_2_3)` /
//!    `cfg(zfs_2_4)`,
//!    the `version` metadata (`DEP_ZFS_CORE_VERSION` for dependents) and the
//!    `LIBZFS_CORE_SYS_API_VERSION` compile-time environment variable.
//!
//! The crate never runs a program: pkg-config is the only external tool, and it runs here, at
//! build time.

use std::env;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

/// Prefix that contains `libzfs/` and `libspl/` (e.g. `/usr/include`).
const ENV_INCLUDE_DIR: &str = "LIBZFS_CORE_INCLUDE_DIR";
/// Directory that contains `libzfs_core.so` and `libnvpair.so`.
const ENV_LIB_DIR: &str = "LIBZFS_CORE_LIB_DIR";
/// Opt-in: use the committed bindings (`1`/`2.1` or `2.3`) instead of running bindgen.
const ENV_PREGENERATED: &str = "LIBZFS_CORE_SYS_PREGENERATED";
/// Maintainer switch: also write the freshly generated bindings to `src/bindings_<level>.rs`.
const ENV_UPDATE_PREGENERATED: &str = "LIBZFS_CORE_SYS_UPDATE_PREGENERATED";
/// Set by docs.rs: there is no libzfs_core there.
const ENV_DOCS_RS: &str = "DOCS_RS";

/// The minimum supported Rust version; bindgen targets it.
const MSRV_MINOR: u64 = 88;

/// OpenZFS API levels this crate knows how to tell apart. Each level is cumulative: building
/// against 2.4 headers turns on `zfs_2_2`, `zfs_2_3` and `zfs_2_4`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum ApiLevel {
    V2_1,
    V2_2,
    V2_3,
    V2_4,
}

impl ApiLevel {
    /// The `cfg` names that are on at this level.
    fn cfgs(self) -> &'static [&'static str] {
        match self {
            ApiLevel::V2_1 => &[],
            ApiLevel::V2_2 => &["zfs_2_2"],
            ApiLevel::V2_3 => &["zfs_2_2", "zfs_2_3"],
            ApiLevel::V2_4 => &["zfs_2_2", "zfs_2_3", "zfs_2_4"],
        }
    }

    /// File-name fragment of the committed bindings for this level.
    fn file_tag(self) -> &'static str {
        match self {
            ApiLevel::V2_1 => "2_1",
            ApiLevel::V2_2 => "2_2",
            ApiLevel::V2_3 => "2_3",
            ApiLevel::V2_4 => "2_4",
        }
    }
}

impl fmt::Display for ApiLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ApiLevel::V2_1 => "2.1",
            ApiLevel::V2_2 => "2.2",
            ApiLevel::V2_3 => "2.3",
            ApiLevel::V2_4 => "2.4",
        })
    }
}

/// Every cfg this build script may emit (declared with `rustc-check-cfg`).
const ALL_CFGS: &[&str] = &["zfs_2_2", "zfs_2_3", "zfs_2_4"];

/// Enumerators whose presence in `sys/fs/zfs.h` marks an API level newer than any function
/// marker can tell: 2.4's `libzfs_core.h` declares exactly 2.3's functions, and what changed is
/// in the types they take (`zpool_prefetch_type_t` gained `ZPOOL_PREFETCH_BRT`). Checked before
/// [`LEVEL_MARKERS`], newest first. Source: OpenZFS `include/sys/fs/zfs.h` at zfs-2.4.0.
const ENUM_LEVEL_MARKERS: &[(ApiLevel, &[&str])] = &[(ApiLevel::V2_4, &["ZPOOL_PREFETCH_BRT"])];

/// Functions whose presence in `libzfs_core.h` marks an API level (first match wins, newest
/// first). Sources: OpenZFS `include/libzfs_core.h` at zfs-2.2.0 and zfs-2.3.0.
const LEVEL_MARKERS: &[(ApiLevel, &[&str])] = &[
    (
        ApiLevel::V2_3,
        &["lzc_ddt_prune", "lzc_get_props", "lzc_pool_prefetch"],
    ),
    (
        ApiLevel::V2_2,
        &[
            "lzc_scrub",
            "lzc_send_wrapper",
            "lzc_receive_with_heal",
            "lzc_ioctl_fd",
        ],
    ),
];

const INSTALL_HINT: &str = "\
libzfs-core-sys needs the OpenZFS libzfs_core and libnvpair headers and libraries, and libclang
for bindgen. On Debian/Ubuntu:

    apt-get install libzfslinux-dev libclang-dev pkg-config

Or point the build at an unpacked OpenZFS tree:

    LIBZFS_CORE_INCLUDE_DIR=<prefix containing libzfs/ and libspl/>
    LIBZFS_CORE_LIB_DIR=<directory containing libzfs_core.so and libnvpair.so>

To build documentation (or `cargo check`) without OpenZFS, set LIBZFS_CORE_SYS_PREGENERATED=1
to use the bindings committed in the crate (generated from OpenZFS 2.1.11 headers, x86_64 Linux);
a final link then still needs the libraries.";

fn main() {
    emit_rerun_and_check_cfg();

    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let manifest_dir =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));

    let pregenerated = match pregenerated_request() {
        Ok(p) => p,
        Err(msg) => fail(&msg),
    };

    let level = if let Some(level) = pregenerated {
        use_pregenerated(level, &out_dir, &manifest_dir);
        level
    } else {
        generate_bindings(&out_dir, &manifest_dir)
    };
    if pregenerated.is_some() {
        println!("cargo::rustc-env=LIBZFS_CORE_SYS_HEADER=");
    }
    emit_level(level, pregenerated.is_some());
}

/// The `rerun-if-*` lines and the `rustc-check-cfg` declarations.
fn emit_rerun_and_check_cfg() {
    for var in [
        ENV_INCLUDE_DIR,
        ENV_LIB_DIR,
        ENV_PREGENERATED,
        ENV_UPDATE_PREGENERATED,
        ENV_DOCS_RS,
    ] {
        println!("cargo::rerun-if-env-changed={var}");
    }
    println!("cargo::rerun-if-changed=wrapper.h");
    for cfg in ALL_CFGS {
        println!("cargo::rustc-check-cfg=cfg({cfg})");
    }
}

/// The committed bindings of `level`: `src/bindings_<level>.rs`.
fn committed_bindings(manifest_dir: &Path, level: ApiLevel) -> PathBuf {
    manifest_dir
        .join("src")
        .join(format!("bindings_{}.rs", level.file_tag()))
}

/// Copies the committed bindings of `level` to `OUT_DIR`, linking against the library if it can
/// be found.
fn use_pregenerated(level: ApiLevel, out_dir: &Path, manifest_dir: &Path) {
    // Link against the library if it can be found, so that an opted-in build still links;
    // docs.rs has no library, so do not even look there.
    if env::var_os(ENV_DOCS_RS).is_none() {
        match locate() {
            Ok(found) => emit_link(&found),
            Err(msg) => println!(
                "cargo::warning=libzfs-core-sys: using pregenerated {level} bindings without \
                 a library to link ({}); only `cargo check`/`cargo doc` will work",
                first_line(&msg)
            ),
        }
    }
    let src = committed_bindings(manifest_dir, level);
    println!("cargo::rerun-if-changed={}", src.display());
    if let Err(e) = fs::copy(&src, out_dir.join("bindings.rs")) {
        fail(&format!("cannot copy {}: {e}", src.display()));
    }
}

/// Finds the headers and libraries, runs bindgen into `OUT_DIR` (and into the committed copy
/// when asked) and emits the link lines; returns the API level of the headers.
fn generate_bindings(out_dir: &Path, manifest_dir: &Path) -> ApiLevel {
    let found = match locate() {
        Ok(found) => found,
        Err(msg) => fail(&msg),
    };
    let (level, header) = match detect_level(&found.include_paths) {
        Ok(found) => found,
        Err(msg) => fail(&msg),
    };
    // For the crate's own tests, which compare the bindings with the header.
    println!(
        "cargo::rustc-env=LIBZFS_CORE_SYS_HEADER={}",
        header.display()
    );
    let bindings = match generate(&found.include_paths) {
        Ok(b) => format!(
            "// Bindings for the OpenZFS {level} API (libzfs_core, libnvpair), generated by \
             libzfs-core-sys's build.rs.\n\
             // Committed copies (src/bindings_*.rs) are refreshed with \
             {ENV_UPDATE_PREGENERATED}=1; see CONTRIBUTING.md.\n{b}"
        ),
        Err(msg) => fail(&msg),
    };
    if let Err(e) = fs::write(out_dir.join("bindings.rs"), &bindings) {
        fail(&format!(
            "cannot write bindings to {}: {e}",
            out_dir.display()
        ));
    }
    if env::var_os(ENV_UPDATE_PREGENERATED).is_some_and(|v| v == "1") {
        let dst = committed_bindings(manifest_dir, level);
        if let Err(e) = fs::write(&dst, &bindings) {
            fail(&format!("cannot write {}: {e}", dst.display()));
        }
        println!("cargo::warning=libzfs-core-sys: wrote {}", dst.display());
    }
    emit_link(&found);
    let joined = env::join_paths(&found.include_paths)
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    println!("cargo::metadata=include={joined}");
    level
}

/// The cfgs, metadata and compile-time environment of the API level.
fn emit_level(level: ApiLevel, pregenerated: bool) {
    for cfg in level.cfgs() {
        println!("cargo::rustc-cfg={cfg}");
    }
    println!("cargo::metadata=version={level}");
    println!("cargo::metadata=pregenerated={}", u8::from(pregenerated));
    println!("cargo::rustc-env=LIBZFS_CORE_SYS_API_VERSION={level}");
    println!(
        "cargo::rustc-env=LIBZFS_CORE_SYS_PREGENERATED_BINDINGS={}",
        u8::from(pregenerated)
    );
}

/// Which committed bindings to use, if any.
fn pregenerated_request() -> Result<Option<ApiLevel>, String> {
    match env::var(ENV_PREGENERATED) {
        Ok(v) => match v.as_str() {
            "1" | "2.1" => Ok(Some(ApiLevel::V2_1)),
            "2.3" => Ok(Some(ApiLevel::V2_3)),
            "2.4" => Ok(Some(ApiLevel::V2_4)),
            "" | "0" => Ok(docs_rs_default()),
            other => Err(format!(
                "{ENV_PREGENERATED}={other:?} is not understood: use 1 (same as 2.1), 2.1, 2.3 \
                 or 2.4"
            )),
        },
        Err(env::VarError::NotPresent) => Ok(docs_rs_default()),
        Err(env::VarError::NotUnicode(v)) => Err(format!(
            "{ENV_PREGENERATED}={v:?} is not understood: use 1 (same as 2.1), 2.1, 2.3 or 2.4"
        )),
    }
}

/// Under docs.rs, document the widest API (2.4); the cfgs tell which items need it.
fn docs_rs_default() -> Option<ApiLevel> {
    env::var_os(ENV_DOCS_RS).map(|_| ApiLevel::V2_4)
}

/// Where the headers and libraries are.
struct Found {
    /// Directories passed to clang with `-I`.
    include_paths: Vec<PathBuf>,
    /// Directories to add to the link search path (empty: the system default).
    link_paths: Vec<PathBuf>,
    /// Libraries to link.
    libs: Vec<String>,
}

/// Finds headers and libraries: environment overrides first, pkg-config for the rest.
fn locate() -> Result<Found, String> {
    let include_env = env::var_os(ENV_INCLUDE_DIR).filter(|v| !v.is_empty());
    let lib_env = env::var_os(ENV_LIB_DIR).filter(|v| !v.is_empty());

    let env_includes = match include_env {
        Some(prefix) => {
            let prefix = PathBuf::from(prefix);
            let header = prefix.join("libzfs").join("libzfs_core.h");
            if !header.is_file() {
                return Err(format!(
                    "{ENV_INCLUDE_DIR}={} does not contain libzfs/libzfs_core.h (it must be the \
                     prefix that contains libzfs/ and libspl/)\n\n{INSTALL_HINT}",
                    prefix.display()
                ));
            }
            Some(vec![prefix.join("libzfs"), prefix.join("libspl")])
        }
        None => None,
    };
    let env_libs = match lib_env {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            for lib in ["libzfs_core", "libnvpair"] {
                let so = dir.join(format!("{lib}.so"));
                let a = dir.join(format!("{lib}.a"));
                if !so.exists() && !a.exists() {
                    return Err(format!(
                        "{ENV_LIB_DIR}={} contains neither {lib}.so nor {lib}.a\n\n{INSTALL_HINT}",
                        dir.display()
                    ));
                }
            }
            Some(dir)
        }
        None => None,
    };

    if let (Some(include_paths), Some(lib_dir)) = (&env_includes, &env_libs) {
        return Ok(Found {
            include_paths: include_paths.clone(),
            link_paths: vec![lib_dir.clone()],
            libs: vec!["zfs_core".into(), "nvpair".into()],
        });
    }

    // pkg-config for whatever the environment did not say. It emits its own
    // rerun-if-env-changed lines for PKG_CONFIG_*; link lines are emitted by emit_link.
    let lib = pkg_config::Config::new()
        .cargo_metadata(false)
        .probe("libzfs_core")
        .map_err(|e| {
            format!(
                "pkg-config could not find libzfs_core ({}), and {ENV_INCLUDE_DIR}/{ENV_LIB_DIR} \
                 are not both set\n\n{INSTALL_HINT}",
                first_line(&e.to_string())
            )
        })?;

    let include_paths = env_includes.unwrap_or_else(|| lib.include_paths.clone());
    let (link_paths, libs) = match env_libs {
        Some(dir) => (vec![dir], vec!["zfs_core".into(), "nvpair".into()]),
        None => {
            let mut libs = lib.libs.clone();
            for needed in ["zfs_core", "nvpair"] {
                if !libs.iter().any(|l| l == needed) {
                    libs.push(needed.into());
                }
            }
            (lib.link_paths.clone(), libs)
        }
    };
    Ok(Found {
        include_paths,
        link_paths,
        libs,
    })
}

fn emit_link(found: &Found) {
    for dir in &found.link_paths {
        println!("cargo::rustc-link-search=native={}", dir.display());
    }
    for lib in &found.libs {
        println!("cargo::rustc-link-lib={lib}");
    }
}

/// Reads `libzfs_core.h` from the include paths and tells the API level from the functions it
/// declares.
fn detect_level(include_paths: &[PathBuf]) -> Result<(ApiLevel, PathBuf), String> {
    let header = include_paths
        .iter()
        .map(|p| p.join("libzfs_core.h"))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            format!(
                "libzfs_core.h is in none of the include paths {include_paths:?}\n\n{INSTALL_HINT}"
            )
        })?;
    println!("cargo::rerun-if-changed={}", header.display());
    let text = fs::read_to_string(&header)
        .map_err(|e| format!("cannot read {}: {e}", header.display()))?;
    if !declares_function(&text, "lzc_snapshot") {
        return Err(format!(
            "{} does not declare lzc_snapshot: not an OpenZFS libzfs_core header?",
            header.display()
        ));
    }
    let zfs_h = include_paths
        .iter()
        .map(|p| p.join("sys").join("fs").join("zfs.h"))
        .find(|p| p.is_file());
    if let Some(zfs_h) = &zfs_h {
        println!("cargo::rerun-if-changed={}", zfs_h.display());
        let types = fs::read_to_string(zfs_h)
            .map_err(|e| format!("cannot read {}: {e}", zfs_h.display()))?;
        for (level, markers) in ENUM_LEVEL_MARKERS {
            if markers.iter().any(|m| declares_enumerator(&types, m)) {
                return Ok((*level, header));
            }
        }
    }
    for (level, markers) in LEVEL_MARKERS {
        if markers.iter().any(|m| declares_function(&text, m)) {
            return Ok((*level, header));
        }
    }
    Ok((ApiLevel::V2_1, header))
}

/// True if `name` appears in `text` as a whole identifier followed (after blanks) by `,`, `=`
/// or `}`: an enumerator of some enum.
fn declares_enumerator(text: &str, name: &str) -> bool {
    whole_identifier_followed_by(text, name, &[',', '=', '}'])
}

/// True if `name` appears in `text` as a whole identifier followed (after blanks) by `(`.
fn declares_function(text: &str, name: &str) -> bool {
    whole_identifier_followed_by(text, name, &['('])
}

/// True if `name` appears in `text` as a whole identifier whose next non-blank character is one
/// of `next`.
fn whole_identifier_followed_by(text: &str, name: &str, next: &[char]) -> bool {
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut rest = text;
    let mut offset = 0;
    while let Some(pos) = rest.find(name) {
        let start = offset + pos;
        let end = start + name.len();
        let before_ok = text[..start]
            .chars()
            .next_back()
            .is_none_or(|c| !is_ident(c));
        let after = text[end..].trim_start();
        let after_ok = after.chars().next().is_some_and(|c| next.contains(&c))
            && text[end..].chars().next().is_none_or(|c| !is_ident(c));
        if before_ok && after_ok {
            return true;
        }
        offset = end;
        rest = &text[end..];
    }
    false
}

/// Functions bindgen binds (regular expressions).
const ALLOW_FUNCTIONS: &[&str] = &[
    "lzc_.*",
    "libzfs_core_.*",
    "nvlist_.*",
    "nvpair_.*",
    "fnvlist_.*",
    "fnvpair_.*",
];

/// Types bindgen binds (regular expressions).
const ALLOW_TYPES: &[&str] = &[
    "lzc_.*",
    "nvlist_t",
    "nvpair_t",
    "data_type_t",
    "boolean_t",
    "zfs_errno_t",
    "zfs_ioc_t?",
    "dmu_objset_type_t?",
    "pool_initialize_func_t?",
    "pool_trim_func_t?",
    "pool_scan_func_t?",
    "pool_scrub_cmd_t?",
    "zpool_wait_activity_t?",
    "zfs_wait_activity_t?",
    "zpool_prefetch_type_t?",
];

/// Functions left out although [`ALLOW_FUNCTIONS`] matches them.
const BLOCK_FUNCTIONS: &[&str] = &[
    // Declared in libzfs_core.h (2.1 through 2.3) but defined nowhere: libzfs_core.so does not
    // export it, so binding it would only turn a call into a link error.
    "lzc_send_progress",
    // stdio- and regex-based helpers would drag FILE, va_list and regex_t (libc- and
    // architecture-specific layouts) into the bindings; Rust code formats nvlists itself.
    "nvlist_print.*",
    "nvlist_prt.*",
    "nvlist_prtctl.*",
    "nvpair_value_match_regex",
];

/// Types never bound (see [`BLOCK_FUNCTIONS`]).
const BLOCK_TYPES: &[&str] = &["FILE", "_IO_.*", "regex_t", "re_pattern_buffer"];

/// Constants bindgen binds (regular expressions).
const ALLOW_VARS: &[&str] = &[
    "ZFS_ERR_.*",
    "NV_UNIQUE_NAME.*",
    "NV_FLAG_.*",
    "ZFS_MAX_DATASET_NAME_LEN",
    "MAXNAMELEN",
    "ZCP_.*",
    "ZFS_IOC_.*",
];

/// Runs bindgen over `wrapper.h`.
fn generate(include_paths: &[PathBuf]) -> Result<String, String> {
    let target = bindgen::RustTarget::stable(MSRV_MINOR, 0)
        .map_err(|e| format!("bindgen does not support Rust 1.{MSRV_MINOR}: {e}"))?;
    let mut builder = bindgen::Builder::default()
        .header("wrapper.h")
        .clang_args(include_paths.iter().map(|p| format!("-I{}", p.display())))
        .rust_target(target)
        .rust_edition(bindgen::RustEdition::Edition2024)
        .size_t_is_usize(true)
        .wrap_unsafe_ops(true)
        .merge_extern_blocks(true)
        .prepend_enum_name(false)
        .layout_tests(true)
        .generate_comments(true)
        .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()));
    for f in ALLOW_FUNCTIONS {
        builder = builder.allowlist_function(f);
    }
    for t in ALLOW_TYPES {
        builder = builder.allowlist_type(t);
    }
    for f in BLOCK_FUNCTIONS {
        builder = builder.blocklist_function(f);
    }
    for t in BLOCK_TYPES {
        builder = builder.blocklist_type(t);
    }
    for v in ALLOW_VARS {
        builder = builder.allowlist_var(v);
    }

    // bindgen panics (rather than returning an error) when libclang cannot be loaded; turn that
    // into the install hint too.
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| builder.generate()));
    match result {
        Ok(Ok(bindings)) => Ok(bindings.to_string()),
        Ok(Err(e)) => Err(format!(
            "bindgen failed on wrapper.h with include paths {include_paths:?}: {e}\n\n{INSTALL_HINT}"
        )),
        Err(_) => Err(format!(
            "bindgen could not run (is libclang installed?)\n\n{INSTALL_HINT}"
        )),
    }
}

/// The first non-blank line of a (possibly multi-line) message.
fn first_line(s: &str) -> &str {
    s.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("no details")
}

fn fail(msg: &str) -> ! {
    eprintln!("\nerror: libzfs-core-sys: {msg}\n");
    // A build script reports failure through its exit status; the message is on stderr, which
    // cargo shows.
    std::process::exit(1);
}
