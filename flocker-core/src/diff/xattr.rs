//! Extended attributes of one file copied to another, not following symbolic links: every
//! attribute the process can list (`user.*`, and `trusted.*` with `CAP_SYS_ADMIN`,
//! `security.*`, the POSIX ACLs `system.posix_acl_access` / `system.posix_acl_default`).
//!
//! Attributes a destination does not support (`ENOTSUP`: the filesystem has no extended
//! attributes, or `acltype=off` for ACLs) are skipped, as are those Linux refuses on a
//! symbolic link (`EPERM`: only `trusted.*` and `security.*` may be set on one).

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::io_err;
use crate::error::{Error, ErrorKind, Result};

const OP: &str = "restore xattrs";

fn cpath(p: &Path) -> Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| {
        Error::new(ErrorKind::InvalidArgument, OP)
            .with_name(p.to_string_lossy())
            .with_detail("NUL in path")
    })
}

fn last_os_error() -> std::io::Error {
    std::io::Error::last_os_error()
}

/// Whether `e` means "no extended attributes here" (unsupported by the filesystem).
fn unsupported(e: &std::io::Error) -> bool {
    e.raw_os_error() == Some(libc::ENOTSUP)
}

/// Copies the extended attributes of `src` to `dst` (both not followed); returns how many
/// were set.
pub(crate) fn copy(src: &Path, dst: &Path, symlink: bool) -> Result<u64> {
    let (s, d) = (cpath(src)?, cpath(dst)?);
    let names = match list(&s) {
        Ok(n) => n,
        Err(e) if unsupported(&e) => return Ok(0),
        Err(e) => return Err(io_err(OP, src, &e)),
    };
    let mut set = 0;
    for name in names.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let Ok(cname) = CString::new(name) else {
            continue;
        };
        let value = match get(&s, &cname) {
            Ok(v) => v,
            // Removed meanwhile, or not readable by us: nothing to carry.
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENODATA) | Some(libc::EACCES)) => {
                continue;
            }
            Err(e) => return Err(io_err(OP, src, &e)),
        };
        match put(&d, &cname, &value) {
            Ok(()) => set += 1,
            Err(e) if unsupported(&e) => {}
            Err(e) if symlink && e.raw_os_error() == Some(libc::EPERM) => {}
            Err(e) => {
                let attr = String::from_utf8_lossy(name).into_owned();
                return Err(io_err(OP, dst, &e).with_detail(format!("setting {attr}")));
            }
        }
    }
    Ok(set)
}

/// The NUL-separated attribute names of `p`.
fn list(p: &CString) -> std::io::Result<Vec<u8>> {
    sized(|buf: &mut [u8]| {
        // SAFETY: a NUL-terminated path and a writable buffer of the given length (a null
        // pointer with length 0 asks for the size).
        unsafe { libc::llistxattr(p.as_ptr(), buf_ptr(buf), buf.len()) }
    })
}

/// The value of attribute `name` of `p`.
fn get(p: &CString, name: &CString) -> std::io::Result<Vec<u8>> {
    sized(|buf: &mut [u8]| {
        // SAFETY: NUL-terminated path and name, a writable buffer of the given length.
        unsafe { libc::lgetxattr(p.as_ptr(), name.as_ptr(), buf_ptr(buf).cast(), buf.len()) }
    })
}

fn put(p: &CString, name: &CString, value: &[u8]) -> std::io::Result<()> {
    // SAFETY: NUL-terminated path and name, a readable buffer of the given length.
    let rc = unsafe {
        libc::lsetxattr(
            p.as_ptr(),
            name.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(last_os_error())
    }
}

fn buf_ptr(buf: &mut [u8]) -> *mut libc::c_char {
    if buf.is_empty() {
        std::ptr::null_mut()
    } else {
        buf.as_mut_ptr().cast()
    }
}

/// Calls `f` with a buffer large enough for its answer: first with an empty one for the
/// size, then again (and again while the answer grows: `ERANGE`).
fn sized(mut f: impl FnMut(&mut [u8]) -> isize) -> std::io::Result<Vec<u8>> {
    for _ in 0..8 {
        let n = f(&mut []);
        if n < 0 {
            return Err(last_os_error());
        }
        let mut buf = vec![0u8; n.unsigned_abs()];
        if buf.is_empty() {
            return Ok(buf);
        }
        let got = f(&mut buf);
        if got >= 0 {
            buf.truncate(got.unsigned_abs());
            return Ok(buf);
        }
        let e = last_os_error();
        if e.raw_os_error() != Some(libc::ERANGE) {
            return Err(e);
        }
    }
    Err(std::io::Error::from_raw_os_error(libc::ERANGE))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_attributes_are_copied() {
        let dir = std::env::temp_dir().join(format!("flocker-xattr-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("mkdir");
        let (a, b) = (dir.join("a"), dir.join("b"));
        std::fs::write(&a, b"x").expect("write");
        std::fs::write(&b, b"y").expect("write");
        let ca = cpath(&a).expect("path");
        let name = CString::new("user.flocker.test").expect("name");
        if put(&ca, &name, b"value\0bytes").is_err() {
            // The temporary directory's filesystem has no user xattrs (tmpfs on old kernels).
            let _ = std::fs::remove_dir_all(&dir);
            return;
        }
        assert_eq!(copy(&a, &b, false).ok(), Some(1));
        let got = get(&cpath(&b).expect("path"), &name).expect("get");
        assert_eq!(got, b"value\0bytes");
        // A symbolic link refuses user.* attributes: skipped, not an error.
        let l = dir.join("l");
        std::os::unix::fs::symlink("a", &l).expect("symlink");
        assert_eq!(copy(&a, &l, true).ok(), Some(0));
        let k = copy(&dir.join("missing"), &b, false)
            .err()
            .map(|e| e.kind());
        assert_eq!(k, Some(ErrorKind::NotFound));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
