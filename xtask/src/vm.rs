//! Booting the lab VM and running one command in it.
//!
//! The host writes a boot script into a per-boot control directory shared over 9p (`ctl`); the
//! image's init mounts it and runs the script, which loads the zfs module, mounts the host
//! directories at their own paths, runs the command with stdout on the first serial port and
//! stderr on the second, writes the exit status into the control directory and powers off.
//! Serial ports reach the host through Unix sockets, so qemu's own messages stay apart.

use std::io::{Read, Write};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::image::{self, Image};
use crate::{Accel, Flavour, Result, VmArgs};

/// Marker prefix the boot script prints on the console.
const MARK: &str = "@@FLOCKER:";

/// What a finished guest command left behind.
#[derive(Debug)]
pub struct Outcome {
    /// The command's exit status.
    pub code: i32,
    /// `/sys/module/zfs/version` in the guest.
    pub zfs_version: String,
    /// Seconds from qemu start to the command starting.
    pub boot_secs: f64,
    /// Everything the command wrote to stdout (also streamed to ours).
    pub stdout: Vec<u8>,
    /// The VM was killed on the guest's power-cut request (`code` is then meaningless).
    pub power_cut: bool,
}

/// Quote a word for the guest's POSIX shell.
pub fn sh_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// How the guest runs: `run` streams output; `shell` is interactive on the console.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Run,
    Shell,
}

fn accel_for(req: Accel, img: &Image) -> &'static str {
    match req {
        Accel::Kvm => "kvm",
        Accel::Tcg => "tcg",
        Accel::Auto => {
            if kvm_works(img) {
                "kvm"
            } else {
                "tcg"
            }
        }
    }
}

/// Whether this machine's /dev/kvm really runs our guest kernel. Some hosts expose a /dev/kvm
/// that creates VMs but cannot run a normal guest (e.g. PVM-only), so we boot the lab kernel
/// once with a trivial command under KVM, bounded in time, and remember the answer per host boot.
fn kvm_works(img: &Image) -> bool {
    if std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_err()
    {
        return false;
    }
    let boot_id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap_or_default();
    let memo = image::cache_dir().join("kvm-probe");
    if let Ok(text) = std::fs::read_to_string(&memo)
        && let Some((id, answer)) = text.split_once(' ')
        && id == boot_id.trim()
    {
        return answer.trim() == "yes";
    }
    eprintln!("[lab] /dev/kvm exists: checking that it runs a guest (once per host boot)");
    let args = VmArgs {
        timeout: 60,
        mem: 512,
        cpus: 1,
        shares: Vec::new(),
        env: Vec::new(),
        accel: Accel::Kvm,
        disks: Vec::new(),
        power_cut: false,
        zfs_root: None,
    };
    let ok = boot(
        img,
        Flavour::V2_1,
        "kvm",
        &args,
        &["true".to_string()],
        Mode::Run,
        true,
        false,
    )
    .is_ok_and(|o| o.code == 0);
    eprintln!(
        "[lab] KVM {}",
        if ok {
            "works: using it"
        } else {
            "does not run a guest here: using TCG"
        }
    );
    let _ = std::fs::write(
        &memo,
        format!("{} {}\n", boot_id.trim(), if ok { "yes" } else { "no" }),
    );
    ok
}

fn shares_for(args: &VmArgs) -> Result<Vec<PathBuf>> {
    let mut want = vec![image::repo_root()];
    if let Ok(cwd) = std::env::current_dir() {
        want.push(cwd);
    }
    if let Some(t) = std::env::var_os("CARGO_TARGET_DIR") {
        want.push(PathBuf::from(t));
    }
    want.extend(args.shares.iter().cloned());
    let mut canon: Vec<PathBuf> = Vec::new();
    for p in want {
        let c = p
            .canonicalize()
            .map_err(|e| format!("cannot share {}: {e}", p.display()))?;
        canon.push(c);
    }
    canon.sort();
    canon.dedup();
    // Keep only outermost directories: a share inside another is already visible.
    let outer: Vec<PathBuf> = canon
        .iter()
        .filter(|p| !canon.iter().any(|q| q != *p && p.starts_with(q)))
        .cloned()
        .collect();
    Ok(outer)
}

/// The script's start: shell helpers, the console markers' targets, and the zfs module loaded.
fn script_prelude(s: &mut String, mode: Mode) {
    s.push_str("#!/bin/sh\n# Written by cargo xtask for one boot.\nexport PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8\n");
    s.push_str(&format!("M='{MARK}'\n"));
    // Markers are for the host's reader; an interactive console does not need them.
    s.push_str(if mode == Mode::Shell {
        "MO=/dev/null EO=/dev/ttyS0\n"
    } else {
        "MO=/dev/ttyS0 EO=/dev/ttyS1\n"
    });
    s.push_str(
        r#"off() { sync; echo 1 >/proc/sys/kernel/sysrq; echo o >/proc/sysrq-trigger; sleep 60; }
fail() { echo "${M}FAIL@@ $*" >$MO; echo "flocker lab: $*" >$EO; echo "fail $*" >/run/ctl/status.tmp; mv /run/ctl/status.tmp /run/ctl/status; off; }
stty -F /dev/ttyS0 raw -echo 2>/dev/null
stty -F /dev/ttyS1 raw -echo 2>/dev/null
echo "${M}BOOTED@@" >$MO
hostname flocker-lab
[ -e /etc/mtab ] || ln -s /proc/self/mounts /etc/mtab
mkdir -p /var/tmp /root
if [ -x /lib/systemd/systemd-udevd ]; then
  /lib/systemd/systemd-udevd --daemon >/dev/null 2>&1
  udevadm trigger >/dev/null 2>&1
  udevadm settle --timeout=30 >/dev/null 2>&1
fi
modprobe zfs >/tmp/modprobe.log 2>&1 || fail "modprobe zfs failed: $(tr '\n' ' ' </tmp/modprobe.log)"
i=0; while [ ! -e /dev/zfs ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
[ -e /dev/zfs ] || fail "the zfs module loaded but /dev/zfs did not appear"
ZV=$(cat /sys/module/zfs/version 2>/dev/null) || fail "no /sys/module/zfs/version"
# Root on ZFS: the initramfs mounted only the root dataset; no systemd mounts the others.
if [ "$(stat -f -c %T /)" = zfs ]; then
  zfs mount -a >/tmp/zfs-mount.log 2>&1 || fail "zfs mount -a failed: $(tr '\n' ' ' </tmp/zfs-mount.log)"
fi
"#,
    );
}

/// The script's middle: the host directories mounted, the environment, the working directory.
fn script_setup(s: &mut String, flavour: Flavour, shares: &[PathBuf], cwd: &Path, env: &[String]) {
    for (i, p) in shares.iter().enumerate() {
        let q = sh_quote(&p.to_string_lossy());
        s.push_str(&format!(
            "mkdir -p {q} && mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144,access=any share{i} {q} || fail \"cannot mount host directory {}\"\n",
            p.display()
        ));
    }
    s.push_str(&format!(
        "export FLOCKER_LAB=1 FLOCKER_LAB_FLAVOUR={}\n",
        flavour.as_str()
    ));
    for kv in env {
        if let Some((k, v)) = kv.split_once('=')
            && !k.is_empty()
            && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            s.push_str(&format!("export {k}={}\n", sh_quote(v)));
        }
    }
    for pass in ["RUST_BACKTRACE", "RUST_LOG", "NO_COLOR", "CI"] {
        if let Ok(v) = std::env::var(pass) {
            s.push_str(&format!("export {pass}={}\n", sh_quote(&v)));
        }
    }
    s.push_str(&format!(
        "cd {} || fail \"cannot cd to {}\"\n",
        sh_quote(&cwd.to_string_lossy()),
        cwd.display()
    ));
}

/// The script's end: the command (or the shell), its status reported, and the power off.
fn script_command(s: &mut String, cmd: &[String], mode: Mode) {
    match mode {
        Mode::Run => {
            // The output is streamed to the host through serial ports, not shown on a terminal
            // the guest knows: no progress lines or colours (the kernel gave init TERM=linux).
            s.push_str("export TERM=dumb\n");
            let words: Vec<String> = cmd.iter().map(|w| sh_quote(w)).collect();
            s.push_str(&format!(
                "echo \"${{M}}BEGIN@@ $ZV\" >/dev/ttyS0\n{} </dev/null >/dev/ttyS0 2>/dev/ttyS1\nrc=$?\n",
                words.join(" ")
            ));
        }
        Mode::Shell => {
            s.push_str(
                "stty -F /dev/ttyS0 sane 2>/dev/null\necho \"flocker lab: zfs $ZV loaded; exit the shell to power off\" >/dev/ttyS0\n\
                 setsid -c /bin/bash -l <>/dev/ttyS0 >&0 2>&0\nrc=$?\n",
            );
        }
    }
    s.push_str("echo \"${M}END@@ $rc\" >$MO\necho \"$rc $ZV\" >/run/ctl/status.tmp && mv /run/ctl/status.tmp /run/ctl/status\noff\n");
}

fn boot_script(
    flavour: Flavour,
    shares: &[PathBuf],
    cwd: &Path,
    env: &[String],
    cmd: &[String],
    mode: Mode,
) -> String {
    let mut s = String::new();
    script_prelude(&mut s, mode);
    script_setup(&mut s, flavour, shares, cwd, env);
    script_command(&mut s, cmd, mode);
    s
}

/// Boot a VM for `cmd` and wait for it. `quiet` hides the guest's output (probe).
#[allow(clippy::too_many_arguments)]
fn boot(
    img: &Image,
    flavour: Flavour,
    accel: &str,
    args: &VmArgs,
    cmd: &[String],
    mode: Mode,
    quiet: bool,
    announce: bool,
) -> Result<Outcome> {
    let ctl = control_dir()?;
    let _cleanup = RemoveOnDrop(ctl.clone());
    let shares = shares_for(args)?;
    let cwd = std::env::current_dir().map_err(|e| format!("no current directory: {e}"))?;
    let cwd = cwd.canonicalize().unwrap_or(cwd);
    std::fs::write(
        ctl.join("boot.sh"),
        boot_script(flavour, &shares, &cwd, &args.env, cmd, mode),
    )
    .map_err(|e| format!("cannot write the boot script: {e}"))?;

    let mut q = qemu_command(img, accel, args, &ctl, &shares)?;
    let listeners = attach_consoles(&mut q, mode, &ctl)?;
    if announce {
        eprintln!(
            "[lab] booting zfs {} (kernel {}, {}, {} MiB, timeout {} s)",
            flavour.as_str(),
            img.kernel,
            if accel == "kvm" {
                "KVM"
            } else {
                "TCG software emulation"
            },
            args.mem,
            args.timeout
        );
        if let Some(z) = &args.zfs_root {
            eprintln!(
                "[lab] root on ZFS: root={} from {}",
                z.root,
                z.disk.display()
            );
        }
    }
    let started = Instant::now();
    let mut child = q
        .spawn()
        .map_err(|e| format!("cannot start qemu-system-x86_64: {e}"))?;
    let _guard = KillOnDrop(child.id());

    if mode == Mode::Shell {
        let st = child.wait().map_err(|e| e.to_string())?;
        return finish(&ctl, st.success(), started, 0.0, "", String::new());
    }
    watch(&mut child, listeners, &ctl, args, started, quiet)
}

/// A fresh per-boot control directory under the cache (the caller removes it).
fn control_dir() -> Result<PathBuf> {
    let ctl_parent = image::cache_dir().join("run");
    std::fs::create_dir_all(&ctl_parent)
        .map_err(|e| format!("cannot create {}: {e}", ctl_parent.display()))?;
    let ctl = ctl_parent.join(format!("{}-{}", std::process::id(), unique()));
    std::fs::create_dir_all(&ctl).map_err(|e| format!("cannot create {}: {e}", ctl.display()))?;
    Ok(ctl)
}

/// The qemu command line: machine, kernel, root image, extra disks and the 9p shares.
fn qemu_command(
    img: &Image,
    accel: &str,
    args: &VmArgs,
    ctl: &Path,
    shares: &[PathBuf],
) -> Result<Command> {
    let mut q = Command::new("qemu-system-x86_64");
    if accel == "kvm" {
        q.args(["-accel", "kvm", "-cpu", "host"]);
    } else {
        q.args(["-accel", "tcg,thread=multi", "-cpu", "max"]);
    }
    q.args([
        "-machine",
        "q35",
        "-nodefaults",
        "-display",
        "none",
        "-no-reboot",
    ]);
    q.args(["-m", &args.mem.to_string(), "-smp", &args.cpus.to_string()]);
    // Root on ZFS (crate::rootfs): the template's kernel and zfs initramfs, which imports the
    // pool on the disk and mounts the root dataset before it runs our init; the disk is written
    // in place. Otherwise the image's ext4 root, with the writes thrown away.
    let (kernel, initrd, root) = match &args.zfs_root {
        Some(z) => (
            z.vmlinuz.clone(),
            z.initrd.clone(),
            format!("root={}", z.root),
        ),
        None => (img.vmlinuz(), img.initrd(), "root=/dev/vda".to_string()),
    };
    q.arg("-kernel").arg(kernel).arg("-initrd").arg(initrd);
    // no_timer_check: under TCG on a loaded host the kernel's IO-APIC timer check can fail and
    // panic the boot ("IO-APIC + timer doesn't work!"); seen once in the reboot tests.
    q.arg("-append").arg(format!(
        "{root} rw console=ttyS0 quiet loglevel=1 init=/sbin/flocker-init panic=-1 \
         systemd.show_status=0 rd.udev.log_level=0 mitigations=off no_timer_check"
    ));
    match &args.zfs_root {
        Some(z) => {
            if !z.disk.is_file() {
                return Err(format!("root disk {} does not exist", z.disk.display()));
            }
            q.arg("-drive").arg(format!(
                "file={},if=virtio,format=raw,cache=writeback",
                z.disk.display()
            ));
        }
        None => {
            q.arg("-drive").arg(format!(
                "file={},if=virtio,format=raw,snapshot=on,cache=unsafe",
                img.rootfs().display()
            ));
        }
    }
    for d in &args.disks {
        if !d.is_file() {
            return Err(format!("disk image {} does not exist", d.display()));
        }
        q.arg("-drive").arg(format!(
            "file={},if=virtio,format=raw,cache=writeback",
            d.display()
        ));
    }
    q.arg("-virtfs").arg(format!(
        "local,path={},mount_tag=ctl,security_model=none,id=ctl",
        ctl.display()
    ));
    for (i, p) in shares.iter().enumerate() {
        q.arg("-virtfs").arg(format!(
            "local,path={},mount_tag=share{i},security_model=none,id=share{i}",
            p.display()
        ));
    }
    q.args(["-device", "virtio-rng-pci"]);
    Ok(q)
}

/// Serial ports and stdio: the console on our terminal for a shell; otherwise both serial ports
/// on Unix sockets in `ctl` (returned, to be accepted once qemu connects) and qemu's own output
/// piped.
fn attach_consoles(q: &mut Command, mode: Mode, ctl: &Path) -> Result<Vec<UnixListener>> {
    let mut listeners = Vec::new();
    if mode == Mode::Shell {
        q.args(["-serial", "mon:stdio", "-serial", "null"]);
        q.stdin(Stdio::inherit())
            .stdout(Stdio::inherit())
            .stderr(Stdio::inherit());
    } else {
        for n in 0..2 {
            let path = ctl.join(format!("ttyS{n}.sock"));
            let l = UnixListener::bind(&path)
                .map_err(|e| format!("cannot bind {}: {e}", path.display()))?;
            q.arg("-chardev")
                .arg(format!("socket,id=s{n},path={}", path.display()));
            q.args(["-serial", &format!("chardev:s{n}")]);
            listeners.push(l);
        }
        q.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
    }
    Ok(listeners)
}

/// One thread per serial socket: accepts qemu's connection and sends what it reads as events.
fn spawn_readers(
    listeners: Vec<UnixListener>,
) -> (mpsc::Receiver<Event>, Vec<std::thread::JoinHandle<()>>) {
    let (tx, rx) = mpsc::channel::<Event>();
    let mut readers = Vec::new();
    for (n, l) in listeners.into_iter().enumerate() {
        let tx = tx.clone();
        readers.push(std::thread::spawn(move || {
            let Ok((mut s, _)) = l.accept() else { return };
            let mut buf = [0u8; 8192];
            loop {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(k) => {
                        if tx.send(Event::Data(n, buf[..k].to_vec())).is_err() {
                            break;
                        }
                    }
                }
            }
        }));
    }
    (rx, readers)
}

/// Follows a running guest to its end: streams its output, follows the markers, enforces the
/// timeout and a requested power cut, then reads the exit status it left in `ctl`.
fn watch(
    child: &mut Child,
    listeners: Vec<UnixListener>,
    ctl: &Path,
    args: &VmArgs,
    started: Instant,
    quiet: bool,
) -> Result<Outcome> {
    let qemu_out = collect(child.stdout.take());
    let qemu_err = collect(child.stderr.take());
    let (rx, readers) = spawn_readers(listeners);
    let mut w = Watch {
        console: Console {
            pending: Vec::new(),
            captured: Vec::new(),
            begun: false,
            boot_log: Vec::new(),
            quiet,
        },
        started,
        boot_secs: 0.0,
        zfs_version: String::new(),
        fail_msg: None,
        stage: "booting the kernel",
        cut_at: None,
    };
    if let Some(cut) = w.follow(child, &rx, args)? {
        return Ok(cut);
    }
    w.console.flush_rest();
    let st = child.wait().map_err(|e| e.to_string())?;
    for r in readers {
        let _ = r.join();
    }
    let qemu_text = format!(
        "{}{}",
        qemu_out.join().unwrap_or_default(),
        qemu_err.join().unwrap_or_default()
    );
    if let Some(msg) = w.fail_msg {
        return Err(format!(
            "the guest failed before running the command: {msg}"
        ));
    }
    let mut out = finish(
        ctl,
        st.success(),
        started,
        w.boot_secs,
        &w.console.log(),
        qemu_text,
    )?;
    if out.zfs_version.is_empty() {
        out.zfs_version = w.zfs_version;
    }
    out.stdout = std::mem::take(&mut w.console.captured);
    Ok(out)
}

/// What the host knows of a running guest.
struct Watch {
    console: Console,
    started: Instant,
    boot_secs: f64,
    zfs_version: String,
    fail_msg: Option<String>,
    stage: &'static str,
    cut_at: Option<Instant>,
}

impl Watch {
    /// Reads events until qemu exits (`None`), or the guest's power cut is done (its outcome);
    /// an error when the guest hangs past the timeout.
    fn follow(
        &mut self,
        child: &mut Child,
        rx: &mpsc::Receiver<Event>,
        args: &VmArgs,
    ) -> Result<Option<Outcome>> {
        let deadline = self.started + Duration::from_secs(args.timeout);
        loop {
            let now = Instant::now();
            if self.cut_at.is_some_and(|t| now >= t) {
                // The guest asked for a power failure: no shutdown, no flush, qemu just dies.
                let _ = child.kill();
                let _ = child.wait();
                self.console.flush_rest();
                return Ok(Some(Outcome {
                    code: -1,
                    zfs_version: std::mem::take(&mut self.zfs_version),
                    boot_secs: self.boot_secs,
                    stdout: std::mem::take(&mut self.console.captured),
                    power_cut: true,
                }));
            }
            if now >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "the guest hung: no result within {} s while {} (raise --timeout if the command \
                     needs longer); last console lines:\n{}",
                    args.timeout,
                    self.stage,
                    self.console.tail()
                ));
            }
            let tick = self.cut_at.map_or(Duration::from_millis(500), |t| {
                t.saturating_duration_since(now)
                    .min(Duration::from_millis(500))
            });
            match rx.recv_timeout((deadline - now).min(tick)) {
                Ok(Event::Data(1, bytes)) => {
                    if !self.console.quiet {
                        let mut e = std::io::stderr().lock();
                        let _ = e.write_all(&bytes);
                        let _ = e.flush();
                    }
                }
                Ok(Event::Data(_, bytes)) => {
                    for m in self.console.feed(&bytes) {
                        self.on_marker(&m, args);
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if let Ok(Some(_)) = child.try_wait() {
                        return Ok(None);
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    // Both serial sockets closed: qemu is exiting.
                    wait_exit(child, deadline);
                    return Ok(None);
                }
            }
        }
    }

    /// One marker line from the boot script.
    fn on_marker(&mut self, m: &str, args: &VmArgs) {
        if m.starts_with("BOOTED@@") {
            self.stage = "loading the zfs module";
        } else if let Some(v) = m.strip_prefix("BEGIN@@") {
            self.zfs_version = v.trim().to_string();
            self.boot_secs = self.started.elapsed().as_secs_f64();
            self.stage = "running the command";
            self.console.begun = true;
        } else if let Some(ms) = m.strip_prefix("POWERCUT@@")
            && args.power_cut
            && self.cut_at.is_none()
        {
            let ms: u64 = ms.trim().parse().unwrap_or(0);
            eprintln!("[lab] the guest asked for a power cut in {ms} ms");
            self.cut_at = Some(Instant::now() + Duration::from_millis(ms));
            self.stage = "waiting for the power cut";
        } else if let Some(msg) = m.strip_prefix("FAIL@@") {
            self.fail_msg = Some(msg.trim().to_string());
        } else if m.starts_with("END@@") {
            self.stage = "powering off";
            self.console.begun = false;
        }
    }
}

/// Gives an exiting qemu up to 30 s (within the deadline) to be gone.
fn wait_exit(child: &mut Child, deadline: Instant) {
    let rest = deadline
        .saturating_duration_since(Instant::now())
        .min(Duration::from_secs(30));
    let t0 = Instant::now();
    while t0.elapsed() < rest {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn finish(
    ctl: &Path,
    qemu_ok: bool,
    started: Instant,
    boot_secs: f64,
    log: &str,
    qemu_text: String,
) -> Result<Outcome> {
    let status = std::fs::read_to_string(ctl.join("status")).ok();
    let Some(status) = status else {
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(25)..].join("\n");
        let panic = log
            .lines()
            .find(|l| l.contains("Kernel panic"))
            .map(str::to_string);
        return Err(match panic {
            Some(p) => format!("the guest kernel panicked: {p}\nlast console lines:\n{tail}"),
            None => format!(
                "the VM stopped after {:.0} s without reporting an exit status (qemu {}){}\nlast console lines:\n{tail}",
                started.elapsed().as_secs_f64(),
                if qemu_ok { "exited normally" } else { "failed" },
                if qemu_text.trim().is_empty() {
                    String::new()
                } else {
                    format!("\nqemu said: {}", qemu_text.trim())
                }
            ),
        });
    };
    let mut words = status.split_whitespace();
    let first = words.next().unwrap_or("");
    if first == "fail" {
        return Err(format!(
            "the guest failed: {}",
            words.collect::<Vec<_>>().join(" ")
        ));
    }
    let code: i32 = first
        .parse()
        .map_err(|_| format!("bad status from the guest: {status:?}"))?;
    Ok(Outcome {
        code,
        zfs_version: words.next().unwrap_or("").to_string(),
        boot_secs,
        stdout: Vec::new(),
        power_cut: false,
    })
}

enum Event {
    Data(usize, Vec<u8>),
}

/// The console stream: hides boot noise until the command begins, strips marker lines, and
/// passes everything else through unchanged (partial lines too, for progress bars).
struct Console {
    pending: Vec<u8>,
    captured: Vec<u8>,
    begun: bool,
    boot_log: Vec<u8>,
    quiet: bool,
}

impl Console {
    /// Feed bytes; returns the markers (without the prefix) seen in complete lines.
    fn feed(&mut self, bytes: &[u8]) -> Vec<String> {
        self.pending.extend_from_slice(bytes);
        let mut marks = Vec::new();
        while let Some(nl) = self.pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=nl).collect();
            let text = String::from_utf8_lossy(&line);
            let trimmed = text.trim_start_matches(['\r', '\0']);
            if let Some(i) = trimmed.find(MARK) {
                marks.push(trimmed[i + MARK.len()..].trim_end().to_string());
                if marks.last().is_some_and(|m| m.starts_with("BEGIN@@")) {
                    self.begun = true;
                }
                continue;
            }
            self.emit(&line);
        }
        // A partial line that cannot be the start of a marker is passed on now.
        if self.begun && !self.pending.is_empty() {
            let head = String::from_utf8_lossy(&self.pending);
            let could_be_mark = MARK.starts_with(head.as_ref()) || head.contains('@');
            if !could_be_mark {
                let p = std::mem::take(&mut self.pending);
                self.emit(&p);
            }
        }
        marks
    }

    fn emit(&mut self, bytes: &[u8]) {
        if self.begun {
            if self.captured.len() < 256 << 20 {
                self.captured.extend_from_slice(bytes);
            }
            if !self.quiet {
                let mut o = std::io::stdout().lock();
                let _ = o.write_all(bytes);
                let _ = o.flush();
            }
        }
        // The last lines of everything, for error messages.
        self.boot_log.extend_from_slice(bytes);
        if self.boot_log.len() > 64 * 1024 {
            let cut = self.boot_log.len() - 32 * 1024;
            self.boot_log.drain(..cut);
        }
    }

    fn flush_rest(&mut self) {
        let p = std::mem::take(&mut self.pending);
        if !p.is_empty() {
            self.emit(&p);
        }
    }

    fn log(&self) -> String {
        String::from_utf8_lossy(&self.boot_log).into_owned()
    }

    fn tail(&self) -> String {
        let text = String::from_utf8_lossy(&self.boot_log);
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(25)..].join("\n")
    }
}

fn collect<R: Read + Send + 'static>(r: Option<R>) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(mut r) = r {
            let _ = r.read_to_string(&mut s);
        }
        s
    })
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    (t as u64) ^ N.fetch_add(1, Ordering::SeqCst)
}

struct RemoveOnDrop(PathBuf);
impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct KillOnDrop(u32);
impl Drop for KillOnDrop {
    fn drop(&mut self) {
        // SAFETY: kill(2) with a pid we spawned; if it already exited this is a harmless ESRCH
        // (the pid cannot be reused before we reap it with wait).
        unsafe {
            libc::kill(self.0 as libc::pid_t, libc::SIGKILL);
        }
    }
}

/// Boot the flavour's VM and run `cmd`; returns the outcome (the caller decides what to print).
pub fn run_in_lab(flavour: Flavour, args: &VmArgs, cmd: &[String]) -> Result<Outcome> {
    crate::host::ensure_lab_prereqs()?;
    let img = image::ensure(flavour)?;
    let accel = accel_for(args.accel, &img);
    let out = boot(&img, flavour, accel, args, cmd, Mode::Run, false, true)?;
    eprintln!(
        "[lab] zfs {} loaded; command started {:.1} s after qemu start",
        out.zfs_version, out.boot_secs
    );
    Ok(out)
}

/// Boot the flavour's VM and run the shell script `script` (on a share) with `sh`.
pub fn run_script_in_lab(flavour: Flavour, args: &VmArgs, script: &Path) -> Result<Outcome> {
    run_in_lab(
        flavour,
        args,
        &["sh".to_string(), script.display().to_string()],
    )
}

/// `cargo xtask lab run`.
pub fn run_command(flavour: Flavour, args: &VmArgs, cmd: &[String]) -> Result<i32> {
    let out = run_in_lab(flavour, args, cmd)?;
    if out.code != 0 {
        eprintln!("[lab] the command exited with status {}", out.code);
    }
    Ok(out.code)
}

/// `cargo xtask lab shell`.
pub fn shell(flavour: Flavour, args: &VmArgs) -> Result<i32> {
    crate::host::ensure_lab_prereqs()?;
    let img = image::ensure(flavour)?;
    let accel = accel_for(args.accel, &img);
    eprintln!("[lab] interactive shell; qemu's escape is Ctrl-A X");
    let out = boot(&img, flavour, accel, args, &[], Mode::Shell, false, true)?;
    Ok(out.code)
}

/// `cargo xtask lab demo`: the README's main job. Builds the example binaries for the flavour on
/// the host, then runs `xtask/lab/demo.sh` in the guest with them.
pub fn demo(flavour: Flavour, args: &VmArgs) -> Result<i32> {
    crate::host::ensure_lab_prereqs()?;
    let img = image::ensure(flavour)?;
    let env = image::dev_env(flavour, &img)?;
    let bin_dir = crate::test::build_examples(flavour, &env)?;
    let mut args = args.clone();
    args.shares.push(bin_dir.clone());
    args.env
        .push(format!("FLOCKER_BIN_DIR={}", bin_dir.display()));
    let script = image::repo_root().join("xtask/lab/demo.sh");
    let out = run_script_in_lab(flavour, &args, &script)?;
    Ok(out.code)
}
