//! The command-line conventions every example binary shares: how an error is printed, how an
//! argument that is not UTF-8 is refused, and the exit codes.
//!
//! Exit codes: [`EXIT_FAILED`] (1) ZFS or a step failed; [`EXIT_USAGE`] (2) bad input or usage,
//! nothing changed. An error line speaks to an administrator first (what is wrong and what to
//! check); the library's own text, with the operation and the errno, follows with `-v`.

use std::ffi::{OsStr, OsString};
use std::path::Path;

use flocker_core::error::{Error, ErrorKind};

/// Exit code: ZFS or a step failed.
pub const EXIT_FAILED: u8 = 1;
/// Exit code: bad input or usage; nothing was changed.
pub const EXIT_USAGE: u8 = 2;

/// The ZFS control device; its absence means the zfs kernel module is not loaded.
const ZFS_DEVICE: &str = "/dev/zfs";

/// One line describing `e` for an administrator: what is wrong and what to check first. With
/// `verbose`, the library's full text (operation, name, errno, detail) follows in brackets; it
/// is the whole line already when the error has no plainer wording.
pub fn error_line(e: &Error, verbose: bool) -> String {
    let Some(plain) = plain_words(e) else {
        return e.to_string();
    };
    if verbose {
        format!("{plain} [{e}]")
    } else {
        plain
    }
}

/// The administrator's wording of the errors that have one.
fn plain_words(e: &Error) -> Option<String> {
    match e.kind() {
        ErrorKind::Unavailable if !Path::new(ZFS_DEVICE).exists() => Some(format!(
            "ZFS is not available: {ZFS_DEVICE} is missing (is the zfs module loaded?)"
        )),
        ErrorKind::Unavailable => Some(format!(
            "ZFS is not available: {ZFS_DEVICE} cannot be opened (are you root?)"
        )),
        ErrorKind::PermissionDenied => Some(match e.name() {
            Some(n) => format!("permission denied on {n} (are you root, or is it delegated?)"),
            None => "permission denied (are you root?)".to_string(),
        }),
        _ => None,
    }
}

/// `arg` as UTF-8, or a line saying which argument is not (dataset and snapshot names, paths
/// and options are all read as UTF-8 text).
pub fn utf8(what: &str, arg: &OsStr) -> Result<String, String> {
    arg.to_str().map(str::to_string).ok_or_else(|| {
        format!(
            "{what} {:?} is not valid UTF-8 (names and options must be UTF-8 text)",
            arg.to_string_lossy()
        )
    })
}

/// The process's arguments without the program name, each as UTF-8; the first that is not
/// gives the error line.
pub fn utf8_args() -> Result<Vec<String>, String> {
    std::env::args_os()
        .skip(1)
        .enumerate()
        .map(|(i, a)| utf8(&format!("argument {}", i + 1), &a))
        .collect()
}

/// A clap value parser for an argument that must be UTF-8: it takes the raw `OsString` (so
/// clap never refuses it with its generic message) and converts it with a message that shows
/// the argument (exit 2 like every usage error).
pub fn utf8_value() -> impl clap::builder::TypedValueParser<Value = String> {
    use clap::builder::TypedValueParser;
    clap::builder::OsStringValueParser::new().try_map(|arg: OsString| utf8("argument", &arg))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStrExt;

    #[test]
    fn other_errors_keep_the_library_text() {
        let Err(bad) = flocker_core::name::DatasetName::new("tank/a@@b") else {
            panic!("a bad name was accepted");
        };
        let e = Error::from(bad);
        assert_eq!(error_line(&e, false), e.to_string());
        assert_eq!(error_line(&e, true), e.to_string());
    }

    #[test]
    fn non_utf8_is_named() {
        let e = utf8("DATASET", OsStr::from_bytes(b"tank/\xff")).unwrap_err();
        assert!(e.contains("DATASET") && e.contains("UTF-8"), "{e}");
    }
}
