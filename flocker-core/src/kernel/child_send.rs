//! A send ioctl (`ZFS_IOC_SEND_NEW`) run in a child process that dies with the thread that
//! started it, so that a stream between a send and a receive of the same program can never
//! outlive the program. See ROLLBACK.md, "A killed operation ends".
//!
//! # Why not a thread
//!
//! A receive ioctl creates kernel threads; when a fatal signal is already pending, the SPL's
//! `spl_kthread_create` clears the thread's signal-pending flag and retries. The SIGKILL is then
//! invisible to that thread: it goes on to read the stream and sleeps in `pipe_read`. If the
//! stream's writer is another thread of the same process, the pipe's write end belongs to the
//! process's descriptor table, which is released only when the last thread exits: the process
//! can never finish dying (seen in the lab on 2.3). With the writer in another process, the
//! write end goes away when that process dies, the reader sees the end of the stream and the
//! receive returns.
//!
//! # The child
//!
//! The child is a `fork` without `exec` of a multi-threaded program, so between `fork` and
//! `_exit` it makes only system calls (async-signal-safe) on memory prepared before the fork:
//! `prctl(PR_SET_PDEATHSIG, SIGKILL)`; a check that the forking thread is not already exiting
//! (a death before the `prctl` sends no signal); closing every descriptor but `/dev/zfs` and the
//! stream's; the ioctl; storing its errno in a shared page; `_exit`. No allocation, no lock,
//! no Rust runtime.

use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd};
use std::thread::JoinHandle;

use super::zfs_cmd::ZfsCmd;
use super::{dev_zfs, io_error};
use crate::error::{Error, ErrorKind, Result};
use crate::nvlist::NvList;

/// `PF_EXITING` in the flags field of `/proc/<pid>/task/<tid>/stat` (include/linux/sched.h).
const PF_EXITING: u64 = 0x4;

/// A send ioctl running in a child process; [`ChildSend::wait`] gives its errno (0: success).
pub(crate) struct ChildSend {
    handle: JoinHandle<Result<i32>>,
}

impl ChildSend {
    /// Waits for the child (through the thread that forked it) and returns the ioctl's errno.
    pub(crate) fn wait(self) -> Result<i32> {
        self.handle.join().map_err(|_| {
            Error::new(ErrorKind::Other, "send").with_detail("the thread of the send panicked")
        })?
    }
}

/// A page shared between the parent and the child, holding the child's errno.
struct Shared(*mut i32);

// SAFETY: the page is plain memory written by the child and read by the one thread that owns
// this value after the child has exited.
unsafe impl Send for Shared {}

impl Shared {
    fn new() -> Result<Shared> {
        // SAFETY: an anonymous shared mapping of one page; checked for MAP_FAILED.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                4096,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            let e = std::io::Error::last_os_error();
            return Err(io_error(ErrorKind::OutOfMemory, "mmap", "", &e));
        }
        let s = Shared(p.cast());
        // SAFETY: the page is mapped, writable and aligned.
        unsafe { s.0.write_volatile(-1) };
        Ok(s)
    }
    fn get(&self) -> i32 {
        // SAFETY: mapped until drop.
        unsafe { self.0.read_volatile() }
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        // SAFETY: mapped by `new` with this length, unmapped once.
        unsafe { libc::munmap(self.0.cast(), 4096) };
    }
}

/// The ioctl's name, the operation of its errors.
const OP: &str = "ZFS_IOC_SEND_NEW";

/// Starts `ZFS_IOC_SEND_NEW` of `snap` (incremental from the snapshot or bookmark `from`, full
/// names) in a child process writing to `out`, which is moved into the child: the caller keeps
/// no copy, so the reader sees the end of the stream when the child ends, whatever way it
/// ends. `options` are the ioctl's boolean options as libzfs_core's `lzc_send` passes them
/// (`largeblockok`, `embedok`, `compressok`, `rawok`).
pub(crate) fn start(
    snap: &str,
    from: Option<&str>,
    options: &[&str],
    out: OwnedFd,
) -> Result<ChildSend> {
    let zfs = dev_zfs(OP)?;
    let (packed, len) = pack_args(snap, from, options, &out)?;
    let mut cmd = ZfsCmd::new(snap)?;
    cmd.nvlist_src = packed.0 as u64;
    cmd.nvlist_src_size = len as u64;
    let shared = Shared::new()?;
    let (tx, rx) = std::sync::mpsc::channel::<Result<()>>();
    let handle = std::thread::Builder::new()
        .name("flocker-send".into())
        .spawn(move || -> Result<i32> {
            let _packed = packed;
            fork_and_wait(zfs, out, cmd, &shared, &tx)
        })
        .map_err(|e| io_error(ErrorKind::Other, "thread", "", &e))?;
    match rx.recv() {
        Ok(Ok(())) => Ok(ChildSend { handle }),
        Ok(Err(e)) => {
            // The thread has nothing more to do.
            let _ = handle.join();
            Err(e)
        }
        Err(_) => match handle.join() {
            Ok(Err(e)) => Err(e),
            _ => Err(Error::new(ErrorKind::Other, OP).with_detail("the send thread failed")),
        },
    }
}

/// The ioctl's argument list (`fd` = `out`'s number, `fromsnap`, `options`), packed by
/// `nvlist_pack`, and its length.
fn pack_args(
    snap: &str,
    from: Option<&str>,
    options: &[&str],
    out: &OwnedFd,
) -> Result<(Packed, usize)> {
    let nv_err = |e: crate::nvlist::NvListError| {
        Error::new(ErrorKind::OutOfMemory, OP)
            .with_name(snap)
            .with_detail(e.to_string())
    };
    let mut args = NvList::new().map_err(nv_err)?;
    // SAFETY: a valid list and NUL-terminated name; the stream's descriptor number is the
    // same in the child, which inherits it.
    let rc = unsafe {
        libzfs_core_sys::nvlist_add_int32(args.as_ptr(), c"fd".as_ptr(), out.as_raw_fd())
    };
    if rc != 0 {
        return Err(Error::new(ErrorKind::OutOfMemory, OP)
            .with_errno(rc)
            .with_name(snap));
    }
    if let Some(f) = from {
        args.add_string("fromsnap", f).map_err(nv_err)?;
    }
    for o in options {
        args.add_boolean(o).map_err(nv_err)?;
    }
    let mut packed: *mut libc::c_char = std::ptr::null_mut();
    let mut len: usize = 0;
    // SAFETY: `args` is a valid nvlist; nvlist_pack allocates the buffer with malloc.
    let rc =
        unsafe { libzfs_core_sys::nvlist_pack(args.as_ptr(), &raw mut packed, &raw mut len, 0, 0) };
    if rc != 0 || packed.is_null() {
        return Err(Error::new(ErrorKind::OutOfMemory, OP)
            .with_errno(rc)
            .with_name(snap));
    }
    Ok((Packed(packed), len))
}

/// The body of the thread that forks: forks the child that runs the ioctl, tells `tx`
/// whether it started (then drops its own copy of `out`), waits for it and returns its errno.
fn fork_and_wait(
    zfs: libc::c_int,
    out: OwnedFd,
    mut cmd: Box<ZfsCmd>,
    shared: &Shared,
    tx: &std::sync::mpsc::Sender<Result<()>>,
) -> Result<i32> {
    // SAFETY: plain system calls.
    let (pid, tid) = unsafe { (libc::getpid(), libc::gettid()) };
    let stat = CString::new(format!("/proc/{pid}/task/{tid}/stat"))
        .map_err(|_| Error::new(ErrorKind::Other, OP))?;
    let fd = out.as_raw_fd();
    let request = libzfs_core_sys::ZFS_IOC_SEND_NEW as libc::c_ulong;
    let cmd_ptr: *mut ZfsCmd = &raw mut *cmd;
    let result = shared.0;
    // SAFETY: see the module documentation: the child runs `child` only, which makes
    // system calls on memory prepared here and never returns.
    let child = unsafe { libc::fork() };
    if child == 0 {
        // SAFETY: in the child; the pointers are valid copies of the parent's memory.
        unsafe { child_main(&stat, zfs, fd, request, cmd_ptr, result) }
    }
    if child < 0 {
        let e = std::io::Error::last_os_error();
        let _ = tx.send(Err(io_error(ErrorKind::Other, "fork", "", &e)));
        return Ok(-1);
    }
    // The child has the only other copy of the write end now.
    drop(out);
    let _ = tx.send(Ok(()));
    wait_child(child, &cmd, shared)
}

/// Waits for the send process `child` and returns the errno it stored in `shared` (`EPIPE`
/// when SIGPIPE killed it); another signal, or an end before the ioctl, is an error.
fn wait_child(child: libc::pid_t, cmd: &ZfsCmd, shared: &Shared) -> Result<i32> {
    let mut status = 0;
    loop {
        // SAFETY: waiting for our own child.
        let r = unsafe { libc::waitpid(child, &raw mut status, 0) };
        if r == child {
            break;
        }
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINTR) {
            return Err(io_error(ErrorKind::Other, "waitpid", "", &e));
        }
    }
    if libc::WIFSIGNALED(status) {
        let sig = libc::WTERMSIG(status);
        if sig == libc::SIGPIPE {
            return Ok(libc::EPIPE);
        }
        return Err(Error::new(ErrorKind::Interrupted, OP)
            .with_name(snap_name_of(cmd))
            .with_detail(format!("the send process was killed by signal {sig}")));
    }
    match shared.get() {
        -1 => Err(Error::new(ErrorKind::Other, OP)
            .with_name(snap_name_of(cmd))
            .with_detail(format!(
                "the send process ended before the ioctl (status {status:#x})"
            ))),
        e => Ok(e),
    }
}

fn snap_name_of(cmd: &ZfsCmd) -> String {
    cmd.name_str()
}

/// The packed argument list (malloc'd by nvlist_pack), freed when the send is over.
struct Packed(*mut libc::c_char);

// SAFETY: a heap buffer owned by this value alone.
unsafe impl Send for Packed {}

impl Drop for Packed {
    fn drop(&mut self) {
        // SAFETY: allocated by nvlist_pack with malloc, freed once.
        unsafe { libc::free(self.0.cast()) };
    }
}

/// Whether the `stat` line of a task says it is exiting (zombie, dead, or `PF_EXITING`).
/// No allocation: it runs in the child.
pub(crate) fn stat_says_exiting(line: &[u8]) -> bool {
    // `pid (comm) S ppid pgrp session tty_nr tpgid flags ...`; comm may hold spaces and ')'.
    let Some(close) = line.iter().rposition(|&c| c == b')') else {
        return true;
    };
    let mut field = 0;
    let mut state = 0u8;
    let mut flags: u64 = 0;
    let mut in_word = false;
    let mut i = close + 1;
    while i < line.len() {
        let c = line[i];
        if c == b' ' || c == b'\n' {
            if in_word && field == 7 {
                break;
            }
            in_word = false;
        } else {
            if !in_word {
                in_word = true;
                field += 1;
            }
            if field == 1 {
                state = c;
            } else if field == 7 {
                if !c.is_ascii_digit() {
                    return true;
                }
                flags = flags.wrapping_mul(10).wrapping_add(u64::from(c - b'0'));
            }
        }
        i += 1;
    }
    field < 7 || matches!(state, b'Z' | b'X' | b'x') || flags & PF_EXITING != 0
}

/// The child's whole life. Only system calls; never returns.
///
/// # Safety
/// Call only in a freshly forked child, with pointers valid in it.
unsafe fn child_main(
    stat: &CString,
    zfs: libc::c_int,
    out: libc::c_int,
    request: libc::c_ulong,
    cmd: *mut ZfsCmd,
    result: *mut i32,
) -> ! {
    // SAFETY: system calls on valid memory; the caller guarantees we are the forked child.
    unsafe {
        libc::prctl(
            libc::PR_SET_PDEATHSIG,
            libc::SIGKILL as libc::c_ulong,
            0,
            0,
            0,
        );
        // If the thread that forked us is already on its way out, the death signal may have
        // been sent before the prctl: give up (the stream just ends early).
        let f = libc::open(stat.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
        if f < 0 {
            libc::_exit(111);
        }
        let mut buf = [0u8; 1024];
        let n = libc::read(f, buf.as_mut_ptr().cast(), buf.len());
        libc::close(f);
        if n <= 0 || stat_says_exiting(&buf[..n as usize]) {
            libc::_exit(111);
        }
        // Keep only /dev/zfs and the stream: another copy of some pipe's end held here
        // would keep its reader waiting for as long as this send runs.
        let (lo, hi) = if zfs < out { (zfs, out) } else { (out, zfs) };
        close_range(0, lo - 1);
        close_range(lo + 1, hi - 1);
        close_range(hi + 1, i32::MAX);
        let rc = libc::ioctl(zfs, request as _, cmd);
        let errno = if rc == 0 {
            0
        } else {
            *libc::__errno_location()
        };
        result.write_volatile(errno);
        libc::_exit(0);
    }
}

/// `close_range(2)` for `first..=last` (nothing when empty; errors ignored: on a kernel
/// without it the descriptors simply stay open in the child).
fn close_range(first: i32, last: i32) {
    if first > last || last < 0 {
        return;
    }
    // SAFETY: a system call without memory arguments.
    unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first.max(0) as libc::c_uint,
            last as libc::c_uint,
            0 as libc::c_uint,
        )
    };
}

/// Makes the calling thread act on a fatal signal that is pending but that the kernel stopped
/// telling it about (see the module documentation): changing the signal mask makes the kernel
/// recompute the thread's signal-pending flag, and the SIGKILL is then delivered on the way
/// back to user space. Does nothing otherwise (the mask is restored at once).
pub(crate) fn act_on_pending_kill() {
    // SAFETY: sigset manipulation on local values; pthread_sigmask on the calling thread.
    unsafe {
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::pthread_sigmask(libc::SIG_BLOCK, std::ptr::null(), &raw mut old);
        let mut changed = old;
        if libc::sigismember(&old, libc::SIGURG) == 1 {
            libc::sigdelset(&raw mut changed, libc::SIGURG);
        } else {
            libc::sigaddset(&raw mut changed, libc::SIGURG);
        }
        libc::pthread_sigmask(libc::SIG_SETMASK, &changed, std::ptr::null_mut());
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_exiting_states() {
        let running = b"123 (flocker-send) S 1 123 123 0 -1 4194368 100 0 0 0\n";
        assert!(!stat_says_exiting(running));
        // PF_EXITING (0x4) in the flags.
        let exiting = b"123 (flocker-send) S 1 123 123 0 -1 4194372 100 0 0 0\n";
        assert!(stat_says_exiting(exiting));
        assert!(stat_says_exiting(b"123 (a) Z 1 123 123 0 -1 4194368 1\n"));
        assert!(stat_says_exiting(b"123 (a) X 1 123 123 0 -1 4194368 1\n"));
        // A command name with spaces and parentheses.
        let odd = b"9 (a) b) (c) R 1 9 9 0 -1 64 0\n";
        assert!(!stat_says_exiting(odd));
        // Truncated or garbage: treated as exiting (the child gives up).
        assert!(stat_says_exiting(b"123 (a) S 1 2"));
        assert!(stat_says_exiting(b"garbage"));
    }

    #[test]
    fn act_on_pending_kill_restores_the_mask() {
        // SAFETY: reading the calling thread's mask.
        let before = unsafe {
            let mut s: libc::sigset_t = std::mem::zeroed();
            libc::pthread_sigmask(libc::SIG_BLOCK, std::ptr::null(), &raw mut s);
            libc::sigismember(&s, libc::SIGURG)
        };
        act_on_pending_kill();
        // SAFETY: as above.
        let after = unsafe {
            let mut s: libc::sigset_t = std::mem::zeroed();
            libc::pthread_sigmask(libc::SIG_BLOCK, std::ptr::null(), &raw mut s);
            libc::sigismember(&s, libc::SIGURG)
        };
        assert_eq!(before, after);
    }
}
