//! Tests of `datavault ui`. In the lab it is driven through a pseudo-terminal (80×24): open a
//! dataset, pick a file, restore an older version (guarded), quit; the `zfs` CLI then shows
//! the guard snapshot, the file holds the restored version and the guard the replaced one,
//! the program exited 0 and left the terminal in its ordinary mode. On any machine: without
//! a terminal it refuses (exit 2).

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use flocker_tests::{
    Failed, Out, TestPool, TestResult, cli_snapshots, ensure, example_bin, fail, host_test, run,
    sh, zfs_test,
};

const STORE: &str = "/var/tmp/flocker-ui-store";
/// Generous: the lab runs under TCG.
const WAIT: Duration = Duration::from_secs(90);

fn zfs(args: &[&str]) -> Result<String, Failed> {
    sh("zfs", args)
}

/// A program running on the slave side of a pseudo-terminal of 80×24.
struct Pty {
    child: Child,
    master: File,
    slave: Option<OwnedFd>,
    output: Arc<Mutex<Vec<u8>>>,
}

/// A new pseudo-terminal pair of 80×24: (master, slave).
fn openpty() -> Result<(OwnedFd, OwnedFd), Failed> {
    let (mut m, mut s) = (-1, -1);
    let ws = libc::winsize {
        ws_row: 24,
        ws_col: 80,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: valid out-pointers; no name buffer; default termios; a valid winsize.
    let r = unsafe { libc::openpty(&mut m, &mut s, std::ptr::null_mut(), std::ptr::null(), &ws) };
    if r != 0 {
        return Err(fail(format!(
            "openpty: {}",
            std::io::Error::last_os_error()
        )));
    }
    // SAFETY: openpty returned two open descriptors that nothing else owns.
    Ok(unsafe { (OwnedFd::from_raw_fd(m), OwnedFd::from_raw_fd(s)) })
}

/// Copies what the program writes into `output`, answering a cursor position query.
fn reader(mut master: File, output: Arc<Mutex<Vec<u8>>>) {
    let mut answer = master.try_clone().ok();
    let mut buf = [0u8; 4096];
    while let Ok(n) = master.read(&mut buf) {
        if n == 0 {
            break;
        }
        let chunk = &buf[..n];
        if chunk.windows(4).any(|w| w == b"\x1b[6n")
            && let Some(a) = answer.as_mut()
        {
            let _ = a.write_all(b"\x1b[1;1R");
        }
        output.lock().unwrap().extend_from_slice(chunk);
    }
}

impl Pty {
    fn spawn(cmd: &mut Command) -> Result<Pty, Failed> {
        let (master, slave) = openpty()?;
        let io = |fd: &OwnedFd| fd.try_clone().map(Stdio::from).map_err(fail);
        cmd.stdin(io(&slave)?)
            .stdout(io(&slave)?)
            .stderr(io(&slave)?);
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .map_err(|e| fail(format!("cannot run {cmd:?}: {e}")))?;
        let master = File::from(master);
        let output = Arc::new(Mutex::new(Vec::new()));
        let (m, o) = (master.try_clone().map_err(fail)?, output.clone());
        std::thread::spawn(move || reader(m, o));
        Ok(Pty {
            child,
            master,
            slave: Some(slave),
            output,
        })
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.output.lock().unwrap()).into_owned()
    }

    /// What the terminal shows now.
    fn screen(&self) -> String {
        let mut s = Screen::new();
        s.feed(&self.text());
        s.text()
    }

    /// Waits until the screen shows `needle`.
    fn wait_for(&mut self, needle: &str) -> TestResult {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if screen.contains(needle) {
                return Ok(());
            }
            if start.elapsed() > WAIT {
                return Err(fail(format!("no {needle:?} on the screen:\n{screen}")));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Waits until the raw output holds `needle`: what the program wrote just before it
    /// exited may still be on its way through the reader thread.
    fn wait_output(&self, needle: &str) -> TestResult {
        let start = Instant::now();
        while !self.text().contains(needle) {
            if start.elapsed() > WAIT {
                return Err(fail(format!(
                    "no {needle:?} in the output: {:?}",
                    self.text()
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    fn send(&mut self, keys: &str) -> TestResult {
        self.master.write_all(keys.as_bytes()).map_err(fail)?;
        self.master.flush().map_err(fail)
    }

    /// The exit code (killed and failed after [`WAIT`]).
    fn wait_exit(&mut self) -> Result<i32, Failed> {
        let start = Instant::now();
        loop {
            if let Some(st) = self.child.try_wait().map_err(fail)? {
                return Ok(st.code().unwrap_or(-1));
            }
            if start.elapsed() > WAIT {
                let _ = self.child.kill();
                return Err(fail(format!(
                    "datavault ui did not exit: {:?}",
                    self.text()
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Whether the terminal is back in its ordinary mode (canonical input, echo).
    fn sane(&self) -> Result<bool, Failed> {
        let fd = self.slave.as_ref().ok_or_else(|| fail("no slave"))?;
        // SAFETY: a zeroed termios is a valid out-buffer for tcgetattr on an open descriptor.
        let mut t: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: fd is open; t is a valid termios.
        if unsafe { libc::tcgetattr(fd.as_raw_fd(), &mut t) } != 0 {
            return Err(fail(std::io::Error::last_os_error()));
        }
        Ok(t.c_lflag & libc::ICANON != 0 && t.c_lflag & libc::ECHO != 0)
    }
}

/// The 80×24 screen the output draws: enough of a terminal for what crossterm sends
/// (text, `CSI row;col H`, `CSI 2 J`; other sequences are ignored).
struct Screen {
    cells: Vec<Vec<char>>,
    row: usize,
    col: usize,
}

impl Screen {
    fn new() -> Screen {
        Screen {
            cells: vec![vec![' '; 80]; 24],
            row: 0,
            col: 0,
        }
    }

    fn feed(&mut self, out: &str) {
        let mut chars = out.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\x1b' if chars.peek() == Some(&'[') => {
                    chars.next();
                    let mut params = String::new();
                    for p in chars.by_ref() {
                        if ('@'..='~').contains(&p) {
                            self.csi(&params, p);
                            break;
                        }
                        params.push(p);
                    }
                }
                '\x1b' => {
                    chars.next();
                }
                '\r' => self.col = 0,
                '\n' => self.row = (self.row + 1).min(23),
                c if c.is_control() => {}
                c => self.put(c),
            }
        }
    }

    fn csi(&mut self, params: &str, op: char) {
        let n: Vec<usize> = params.split(';').map(|p| p.parse().unwrap_or(1)).collect();
        match op {
            'H' => {
                self.row = n.first().copied().unwrap_or(1).saturating_sub(1);
                self.col = n.get(1).copied().unwrap_or(1).saturating_sub(1);
            }
            'J' if params == "2" => self.cells = vec![vec![' '; 80]; 24],
            _ => {}
        }
    }

    fn put(&mut self, c: char) {
        if let Some(cell) = self
            .cells
            .get_mut(self.row)
            .and_then(|r| r.get_mut(self.col))
        {
            *cell = c;
        }
        self.col += 1;
    }

    fn text(&self) -> String {
        let rows: Vec<String> = self.cells.iter().map(|r| r.iter().collect()).collect();
        rows.join("\n")
    }
}

fn ui(args: &[&str]) -> Result<Pty, Failed> {
    Pty::spawn(
        Command::new(example_bin("datavault")?)
            .arg("ui")
            .args(args)
            .env("FLOCKER_STORE", STORE)
            .env("TERM", "xterm")
            .env("NO_COLOR", "1"),
    )
}

/// `pool/fs` mounted at a private directory, `notes.txt` in three versions: `@s1`, `@s2` and
/// the live one.
fn fixture(p: &TestPool) -> Result<(String, PathBuf), Failed> {
    let (fs, mnt) = p.mounted_fs("flocker-ui", &[])?;
    let notes = mnt.join("notes.txt");
    let write = |s: &str| std::fs::write(&notes, s).map_err(fail);
    write("one\n")?;
    zfs(&["snapshot", &format!("{fs}@s1")])?;
    write("one\ntwo\n")?;
    zfs(&["snapshot", &format!("{fs}@s2")])?;
    write("one\ntwo\nthree\n")?;
    Ok((fs, mnt))
}

/// Open the dataset, pick `notes.txt` in its newest snapshot, restore the oldest version,
/// quit.
fn restore_a_version_through_a_terminal() -> TestResult {
    let p = TestPool::new("ui", 256)?;
    let (fs, mnt) = fixture(&p)?;
    let mut t = ui(&[&fs])?;
    t.wait_for("MOUNTPOINT")?;
    t.send("\r")?; // the dataset's timeline, @s2 selected
    t.wait_for("KEPT BY")?;
    t.send("f")?; // @s2's files
    t.wait_for("notes.txt")?;
    t.send("\r")?; // notes.txt's versions, @s2's selected
    t.wait_for("IN SNAPSHOTS")?;
    t.wait_for("differences: version 2 → 3")?;
    t.send("k")?; // version 1 (@s1)
    t.wait_for("differences: version 1 → 2")?;
    t.send("r")?;
    t.wait_for("restore? y/n")?;
    t.send("y")?;
    t.wait_for("restored /notes.txt from s1; guard snapshot")?;
    t.send("q")?;
    let code = t.wait_exit()?;
    let screen = t.text();
    ensure!(code == 0, "datavault ui exited {code}: {screen:?}");
    ensure!(!screen.contains("panicked"), "{screen:?}");
    ensure!(t.sane()?, "the terminal was left in raw mode");
    ensure!(
        screen.contains("\x1b[?1049l"),
        "the alternate screen was not left"
    );
    let live = std::fs::read_to_string(mnt.join("notes.txt")).map_err(fail)?;
    ensure!(
        live == "one\n",
        "the live file holds {live:?}, not version 1"
    );
    let snaps = cli_snapshots(&fs)?;
    ensure!(
        snaps.len() == 3,
        "not one guard snapshot more than @s1, @s2: {snaps:?}"
    );
    let guard = &snaps[2];
    let short = guard.split_once('@').map_or("", |(_, s)| s);
    ensure!(
        screen.contains(short),
        "the guard {guard} was not named on screen"
    );
    let kept = mnt.join(".zfs/snapshot").join(short).join("notes.txt");
    let kept = std::fs::read_to_string(&kept).map_err(fail)?;
    ensure!(kept == "one\ntwo\nthree\n", "the guard holds {kept:?}");
    Ok(())
}

/// A pool with one empty filesystem: the timeline says so; `q` quits cleanly.
fn an_empty_pool() -> TestResult {
    let p = TestPool::new("uie", 128)?;
    zfs(&["create", &p.ds("empty")])?;
    let mut t = ui(&[p.name()])?;
    t.wait_for("MOUNTPOINT")?;
    t.send("j\r")?;
    t.wait_for("no snapshots")?;
    t.send("\rfR")?;
    t.send("q")?;
    let code = t.wait_exit()?;
    ensure!(code == 0, "datavault ui exited {code}: {:?}", t.text());
    ensure!(t.sane()?, "the terminal was left in raw mode");
    Ok(())
}

/// On any machine (without ZFS, or a dataset that does not exist): the screen says why on
/// its status line, `q` quits with 0 and the terminal is back in its ordinary mode.
fn quits_cleanly_in_a_terminal() -> TestResult {
    let mut t = ui(&["nopool-ui/missing"])?;
    t.wait_for("MOUNTPOINT")?;
    t.wait_for("error: ")?;
    t.wait_for("q quit")?;
    t.send("\rjq")?;
    let code = t.wait_exit()?;
    ensure!(code == 0, "datavault ui exited {code}: {}", t.screen());
    ensure!(t.sane()?, "the terminal was left in raw mode");
    t.wait_output("\x1b[?1049l")?;
    t.wait_output("\x1b[?25h")?;
    let out = t.text();
    ensure!(
        out.contains("\x1b[?1049h") && out.contains("\x1b[?1049l"),
        "{out:?}"
    );
    ensure!(
        out.ends_with("\x1b[?25h") || out.contains("\x1b[?25h"),
        "cursor left hidden"
    );
    Ok(())
}

/// Not a terminal: exit 2, one clear line, nothing drawn.
fn refuses_without_a_terminal() -> TestResult {
    let o = Out::of(Command::new(example_bin("datavault")?).args(["ui", "p/fs"]))?;
    ensure!(o.code == 2, "exit {}: {}", o.code, o.stderr);
    ensure!(o.stdout.is_empty(), "drew on a pipe: {:?}", o.stdout);
    let first = o.stderr.lines().next().unwrap_or("");
    ensure!(first.contains("ui needs a terminal"), "{first:?}");
    ensure!(!o.stderr.contains("panicked"), "{}", o.stderr);
    Ok(())
}

fn main() {
    run(vec![
        host_test("ui::refuses_without_a_terminal", refuses_without_a_terminal),
        host_test(
            "ui::quits_cleanly_in_a_terminal",
            quits_cleanly_in_a_terminal,
        ),
        zfs_test(
            "ui::restore_a_version_through_a_terminal",
            restore_a_version_through_a_terminal,
        ),
        zfs_test("ui::an_empty_pool", an_empty_pool),
    ]);
}
