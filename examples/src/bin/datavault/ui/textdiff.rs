//! The preview of the differences between two versions of a text file: the changed lines
//! with two lines of context around each group (the `similar` crate's line diff).

use similar::{ChangeTag, TextDiff};

use super::model::DiffLine;

/// At most this many lines of preview.
pub const MAX_LINES: usize = 500;

/// The line differences from `old` to `new`; a note instead for binary contents (a NUL
/// byte, or not UTF-8) and for identical ones.
pub fn lines(old: &[u8], new: &[u8]) -> Vec<DiffLine> {
    let (Some(a), Some(b)) = (text(old), text(new)) else {
        return vec![DiffLine::Note("binary file: no line preview".into())];
    };
    if a == b {
        return vec![DiffLine::Note("identical contents".into())];
    }
    let diff = TextDiff::from_lines(a, b);
    let mut out = Vec::new();
    for (i, group) in diff.grouped_ops(2).iter().enumerate() {
        if i > 0 {
            out.push(DiffLine::Note("…".into()));
        }
        for change in group.iter().flat_map(|op| diff.iter_changes(op)) {
            let s = change.value().trim_end_matches(['\n', '\r']).to_string();
            out.push(match change.tag() {
                ChangeTag::Equal => DiffLine::Same(s),
                ChangeTag::Delete => DiffLine::Removed(s),
                ChangeTag::Insert => DiffLine::Added(s),
            });
        }
    }
    if out.len() > MAX_LINES {
        let more = out.len() - MAX_LINES;
        out.truncate(MAX_LINES);
        out.push(DiffLine::Note(format!("… {more} more lines")));
    }
    out
}

/// `bytes` as text, unless it looks binary.
fn text(bytes: &[u8]) -> Option<&str> {
    if bytes.contains(&0) {
        return None;
    }
    std::str::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_lines_with_context() {
        let old = b"a\nb\nc\nd\ne\nf\ng\n";
        let new = b"a\nb\nc\nD\ne\nf\ng\nh\n";
        let got = lines(old, new);
        assert_eq!(
            got,
            vec![
                DiffLine::Same("b".into()),
                DiffLine::Same("c".into()),
                DiffLine::Removed("d".into()),
                DiffLine::Added("D".into()),
                DiffLine::Same("e".into()),
                DiffLine::Same("f".into()),
                DiffLine::Same("g".into()),
                DiffLine::Added("h".into()),
            ]
        );
    }

    #[test]
    fn binary_and_identical_are_notes() {
        assert_eq!(
            lines(b"a\0b", b"a"),
            vec![DiffLine::Note("binary file: no line preview".into())]
        );
        assert_eq!(
            lines(b"x\n", &[0xff, 0xfe]),
            vec![DiffLine::Note("binary file: no line preview".into())]
        );
        assert_eq!(
            lines(b"x\n", b"x\n"),
            vec![DiffLine::Note("identical contents".into())]
        );
    }

    #[test]
    fn long_diffs_are_cut() {
        let new: String = (0..2000).map(|i| format!("{i}\n")).collect();
        let got = lines(b"", new.as_bytes());
        assert_eq!(got.len(), MAX_LINES + 1);
        assert_eq!(got[MAX_LINES], DiffLine::Note("… 1500 more lines".into()));
    }
}
