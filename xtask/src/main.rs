//! `cargo xtask`: the OpenZFS lab (a qemu VM running real OpenZFS kernel modules) and the test
//! driver. This is tooling: unlike the library, it runs processes (apt, debootstrap, qemu, cargo).

mod bench;
mod cleanroom;
mod host;
mod image;
mod package;
mod reboot;
mod rootboot;
mod rootfs;
mod test;
mod vm;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Result type of the xtask: errors are messages for a human.
pub type Result<T, E = String> = std::result::Result<T, E>;

#[derive(Parser)]
#[command(name = "cargo xtask", about = "The flocker-core lab and test driver")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// The lab: a VM with the real OpenZFS kernel module.
    Lab {
        #[command(subcommand)]
        cmd: LabCmd,
    },
    /// Run every test: host tests, then the ZFS tests inside the lab on each flavour.
    Test(TestArgs),
    /// Install the host packages the lab needs (as root), without building anything.
    Deps,
    /// Run the benchmarks in the lab (one boot per flavour) and write their results.
    Bench(BenchArgs),
    /// Prove that a fresh Debian machine with only a Rust toolchain runs the README's test
    /// command (its host half) from a clean checkout, in a chroot (as root).
    Cleanroom(CleanroomArgs),
    /// Build the Debian package of DataVault for each flavour (target/debian/*.deb).
    Package {
        /// Flavours to package (default: all); each is built against its own OpenZFS.
        #[arg(long = "zfs", value_enum)]
        flavours: Vec<Flavour>,
    },
}

#[derive(Args)]
struct CleanroomArgs {
    /// The commit to test (resolved in this repository; uncommitted changes are not tested).
    #[arg(long, default_value = "HEAD")]
    commit: String,
    /// Debian packages to install into the clean room first (a machine that already has them).
    #[arg(long, num_args = 1..)]
    preinstall: Vec<String>,
    /// Keep the run's root directory (unmounted) for inspection.
    #[arg(long)]
    keep: bool,
    /// Fail when the test command has not finished after this many seconds.
    #[arg(long, default_value_t = 3600)]
    timeout: u64,
}

#[derive(Args)]
struct BenchArgs {
    /// Flavours to benchmark: 2.1, 2.3, 2.4 or all.
    #[arg(long = "zfs", default_value = "all")]
    flavours: String,
    /// Also print the results as JSON (one document per flavour) at the end.
    #[arg(long)]
    json: bool,
    /// A smoke run: small counts, one repetition (results go to quick-* files).
    #[arg(long)]
    quick: bool,
    /// Only the inventory's 100,000-snapshot row: 1,000 datasets × 100 snapshots, listed with
    /// all properties, again incrementally after 10 new snapshots, and names only, against
    /// `zfs list` (hours under TCG; 8 GiB of guest memory; results go to 100k-* files).
    #[arg(long, conflicts_with = "quick")]
    inventory_100k: bool,
    /// Run only this benchmark (snapshot, inventory, rollback or versions), with its usual
    /// arguments.
    #[arg(long, value_parser = ["snapshot", "inventory", "rollback", "versions"], conflicts_with = "inventory_100k")]
    only: Option<String>,
    /// Only redraw the chart from the last full runs' JSON files; run nothing.
    #[arg(long)]
    chart_only: bool,
    /// With --chart-only: chart these result files instead (one per flavour, in order).
    #[arg(long = "results", requires = "chart_only")]
    results: Vec<PathBuf>,
    #[command(flatten)]
    vm: VmArgs,
}

#[derive(Subcommand)]
enum LabCmd {
    /// Build (or find in the cache) the lab image of a flavour.
    Build {
        #[arg(long = "zfs", value_enum, default_value_t = Flavour::V2_1)]
        flavour: Flavour,
    },
    /// Boot the VM, run CMD as root in the current directory, exit with CMD's status.
    Run(RunArgs),
    /// An interactive root shell in the VM.
    Shell {
        #[arg(long = "zfs", value_enum, default_value_t = Flavour::V2_1)]
        flavour: Flavour,
        #[command(flatten)]
        vm: VmArgs,
    },
    /// The demo (the README's main job).
    Demo {
        #[arg(long = "zfs", value_enum, default_value_t = Flavour::V2_1)]
        flavour: Flavour,
        #[command(flatten)]
        vm: VmArgs,
    },
    /// Print where the cache is and what it holds.
    Info,
    /// Check the root-on-ZFS lab: three boots on one disk (files on / and /home kept, a power
    /// cut in the second boot, the pool imported again in the third).
    RootSelftest {
        #[arg(long = "zfs", value_enum, default_value_t = Flavour::V2_1)]
        flavour: Flavour,
        #[command(flatten)]
        vm: VmArgs,
    },
}

#[derive(Args)]
struct RunArgs {
    #[arg(long = "zfs", value_enum, default_value_t = Flavour::V2_1)]
    flavour: Flavour,
    #[command(flatten)]
    vm: VmArgs,
    /// Boot Debian installed on a ZFS root pool (rpool/ROOT/debian as /, rpool/home as /home)
    /// through Debian's zfs initramfs, from the first `--disk` (made from the flavour's template
    /// when it does not exist; it keeps what the guest writes, so the next run is a reboot).
    #[arg(long)]
    root_on_zfs: bool,
    /// With --root-on-zfs: the kernel's `root=` value (default `ZFS=rpool/ROOT/debian`;
    /// `zfs:AUTO` boots the pool's `bootfs`).
    #[arg(long, requires = "root_on_zfs")]
    kernel_root: Option<String>,
    /// The command to run in the guest.
    #[arg(last = true, required = true)]
    cmd: Vec<String>,
}

/// Options shared by everything that boots the VM.
#[derive(Args, Clone)]
pub struct VmArgs {
    /// Fail if the guest has not finished after this many seconds (boot included).
    #[arg(long, default_value_t = 1800)]
    pub timeout: u64,
    /// Guest memory in MiB.
    #[arg(long, default_value_t = 3072)]
    pub mem: u64,
    /// Guest CPUs.
    #[arg(long, default_value_t = 2)]
    pub cpus: u32,
    /// Extra host directories to mount in the guest at the same path.
    #[arg(long = "share")]
    pub shares: Vec<PathBuf>,
    /// Extra environment for the guest command (`KEY=VALUE`).
    #[arg(long = "env")]
    pub env: Vec<String>,
    /// Accelerator: auto (KVM when it runs a guest here, else TCG), kvm or tcg.
    #[arg(long, value_enum, default_value_t = Accel::Auto)]
    pub accel: Accel,
    /// Raw disk image files attached as virtio disks (`/dev/vdb`, `/dev/vdc`, ...), written in
    /// place (they keep what the guest wrote, across boots).
    #[arg(long = "disk")]
    pub disks: Vec<PathBuf>,
    /// Honour the guest's power-cut marker (reboot tests): kill qemu, as a power failure would,
    /// the given delay after the guest asks for it.
    #[arg(skip)]
    pub power_cut: bool,
    /// Boot from a root pool on this disk instead of the image's ext4 root (set by
    /// `rootfs::run_in_root_lab`).
    #[arg(skip)]
    pub zfs_root: Option<rootfs::ZfsRoot>,
}

#[derive(Args)]
struct TestArgs {
    /// Flavours to run in the lab (default: all).
    #[arg(long = "zfs", value_enum)]
    flavours: Vec<Flavour>,
    /// Only the host tests.
    #[arg(long, conflicts_with = "lab_only")]
    host_only: bool,
    /// Only the lab tests.
    #[arg(long)]
    lab_only: bool,
    #[command(flatten)]
    vm: VmArgs,
    /// Arguments for the test binaries (a name filter, `--exact`, ...).
    #[arg(last = true)]
    filter: Vec<String>,
}

/// An OpenZFS flavour of the lab.
#[derive(Clone, Copy, PartialEq, Eq, Debug, ValueEnum)]
pub enum Flavour {
    /// Debian bookworm's OpenZFS 2.1 on kernel 6.1.
    #[value(name = "2.1")]
    V2_1,
    /// bookworm-backports' OpenZFS 2.3 on the backports kernel.
    #[value(name = "2.3")]
    V2_3,
    /// trixie-backports' OpenZFS 2.4 on Debian trixie's kernel.
    #[value(name = "2.4")]
    V2_4,
}

impl Flavour {
    /// All flavours, in test order.
    pub const ALL: [Flavour; 3] = [Flavour::V2_1, Flavour::V2_3, Flavour::V2_4];

    /// `2.1` / `2.3` / `2.4`.
    pub fn as_str(self) -> &'static str {
        match self {
            Flavour::V2_1 => "2.1",
            Flavour::V2_3 => "2.3",
            Flavour::V2_4 => "2.4",
        }
    }

    /// The Debian release the flavour's image is made of.
    pub fn suite(self) -> &'static str {
        match self {
            Flavour::V2_1 | Flavour::V2_3 => "bookworm",
            Flavour::V2_4 => "trixie",
        }
    }
}

/// How the VM is accelerated.
#[derive(Clone, Copy, PartialEq, Eq, Debug, ValueEnum)]
pub enum Accel {
    /// Detect.
    Auto,
    /// Hardware virtualization.
    Kvm,
    /// Software emulation.
    Tcg,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let res: Result<i32> = match cli.cmd {
        Cmd::Deps => host::ensure_lab_prereqs().map(|()| 0),
        Cmd::Bench(a) => match a.flavours.as_str() {
            "all" => Ok(Flavour::ALL.to_vec()),
            other => Flavour::from_str(other, false).map(|f| vec![f]),
        }
        .and_then(|flavours| {
            bench::run(&bench::Options {
                flavours,
                json: a.json,
                quick: a.quick,
                inventory_100k: a.inventory_100k,
                only: a.only,
                chart_only: a.chart_only,
                results: a.results,
                vm: a.vm,
            })
        }),
        Cmd::Cleanroom(a) => cleanroom::run(&cleanroom::Options {
            commit: a.commit,
            preinstall: a.preinstall,
            keep: a.keep,
            timeout: a.timeout,
        }),
        Cmd::Test(a) => test::run(&test::Options {
            flavours: if a.flavours.is_empty() {
                Flavour::ALL.to_vec()
            } else {
                a.flavours
            },
            host: !a.lab_only,
            lab: !a.host_only,
            vm: a.vm,
            filter: a.filter,
        }),
        Cmd::Package { flavours } => package::run(if flavours.is_empty() {
            &Flavour::ALL
        } else {
            &flavours
        })
        .map(|_| 0),
        Cmd::Lab { cmd } => match cmd {
            LabCmd::Build { flavour } => image::ensure(flavour).map(|img| {
                println!("image for zfs {}: {}", flavour.as_str(), img.dir.display());
                0
            }),
            LabCmd::Run(a) if a.root_on_zfs => {
                rootfs::run_command(a.flavour, &a.vm, a.kernel_root.as_deref(), &a.cmd)
            }
            LabCmd::Run(a) => vm::run_command(a.flavour, &a.vm, &a.cmd),
            LabCmd::Shell { flavour, vm } => vm::shell(flavour, &vm),
            LabCmd::Demo { flavour, vm } => vm::demo(flavour, &vm),
            LabCmd::Info => image::info().and_then(|()| rootfs::info()).map(|()| 0),
            LabCmd::RootSelftest { flavour, vm } => rootfs::selftest(flavour, &vm),
        },
    };
    match res {
        Ok(code) => ExitCode::from(code.clamp(0, 255) as u8),
        Err(msg) => {
            eprintln!("xtask: error: {msg}");
            ExitCode::from(2)
        }
    }
}
