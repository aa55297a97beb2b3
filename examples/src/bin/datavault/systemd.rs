//! What the service does differently under systemd, read from the environment systemd sets:
//! `JOURNAL_STREAM` (its output goes to the journal: lines carry a syslog priority prefix,
//! `<3>` for errors and `<4>` for warnings, and no timestamp of their own, since the journal
//! stamps every line), `NOTIFY_SOCKET` (`Type=notify`: `READY=1` once started, `STOPPING=1`)
//! and `WATCHDOG_USEC` (`WATCHDOG=1` at least twice per interval). Without them nothing is sent
//! and lines look as on a terminal.

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

/// Whether standard output and error go to the journal.
pub fn journal() -> bool {
    std::env::var_os("JOURNAL_STREAM").is_some_and(|v| !v.is_empty())
}

/// Sends `state` (e.g. `READY=1`) to systemd's notification socket, if there is one. Errors
/// are ignored: the service works the same without a manager listening.
pub fn notify(state: &str) {
    if let Some(path) = std::env::var_os("NOTIFY_SOCKET") {
        notify_to(&path, state);
    }
}

/// Sends `state` to the notification socket at `path` (`@name`: an abstract address).
fn notify_to(path: &std::ffi::OsStr, state: &str) {
    let Ok(sock) = UnixDatagram::unbound() else {
        return;
    };
    let bytes = path.as_encoded_bytes();
    if let Some(name) = bytes.strip_prefix(b"@") {
        // An abstract socket address.
        use std::os::linux::net::SocketAddrExt;
        if let Ok(addr) = std::os::unix::net::SocketAddr::from_abstract_name(name) {
            let _ = sock.send_to_addr(state.as_bytes(), &addr);
        }
    } else {
        let _ = sock.send_to(state.as_bytes(), std::path::Path::new(&path));
    }
}

/// How often to send `WATCHDOG=1`: half of `WATCHDOG_USEC`, when it is set for this process.
pub fn watchdog_interval() -> Option<Duration> {
    if let Some(pid) = std::env::var("WATCHDOG_PID").ok()
        && pid.trim() != std::process::id().to_string()
    {
        return None;
    }
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.trim().parse().ok()?;
    (usec > 0).then(|| Duration::from_micros(usec / 2).max(Duration::from_millis(100)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notify_reaches_a_socket() {
        let dir = std::env::temp_dir().join(format!("dv-notify-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("notify");
        let server = UnixDatagram::bind(&p).unwrap();
        notify_to(p.as_os_str(), "READY=1");
        let mut buf = [0u8; 64];
        server
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let n = server.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");
        // An abstract address.
        let name = format!("dv-notify-test-{}", std::process::id());
        use std::os::linux::net::SocketAddrExt;
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let server = UnixDatagram::bind_addr(&addr).unwrap();
        server
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        notify_to(std::ffi::OsStr::new(&format!("@{name}")), "WATCHDOG=1");
        let n = server.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"WATCHDOG=1");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
