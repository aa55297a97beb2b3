//! An SVG picture of which snapshots each policy keeps at the end of a scenario.

use std::fmt::Write as _;

use super::Run;

/// One row per policy; a tick per kept snapshot at x = log(age). Ages from 15 minutes to
/// `max_age` seconds; gridlines at an hour, a day, a week, a month and a year.
pub fn render(title: &str, rows: &[(String, &Run)], max_age: i64) -> String {
    let (left, width, row_h, top) = (230.0, 900.0, 22.0, 50.0);
    let height = top + row_h * rows.len() as f64 + 40.0;
    let min_age = 900f64;
    let span = (max_age as f64).max(min_age * 10.0).ln() - min_age.ln();
    // Old on the left, recent on the right.
    let x = |age: f64| left + width * (1.0 - (age.max(min_age).ln() - min_age.ln()) / span);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{height}" font-family="sans-serif" font-size="12">"##,
        left + width + 20.0
    );
    let _ = writeln!(s, r##"<rect width="100%" height="100%" fill="white"/>"##);
    let _ = writeln!(
        s,
        r##"<text x="10" y="20" font-size="14" font-weight="bold">{}</text>"##,
        esc(title)
    );
    let _ = writeln!(
        s,
        r##"<text x="10" y="38" fill="#555">each tick: a snapshot kept at the end; x: its age (log scale), recent on the right</text>"##
    );
    for (label, age) in [
        ("1 year", 365 * 86_400),
        ("1 month", 30 * 86_400),
        ("1 week", 7 * 86_400),
        ("1 day", 86_400),
        ("1 hour", 3600),
    ] {
        if age > max_age {
            continue;
        }
        let gx = x(age as f64);
        let _ = writeln!(
            s,
            r##"<line x1="{gx:.1}" y1="{top}" x2="{gx:.1}" y2="{:.1}" stroke="#ccc"/><text x="{gx:.1}" y="{:.1}" text-anchor="middle" fill="#555">{label}</text>"##,
            height - 30.0,
            height - 15.0
        );
    }
    for (r, (name, run)) in rows.iter().enumerate() {
        let y = top + row_h * r as f64;
        let end = run.created.last().copied().unwrap_or(0);
        let fill = if name.starts_with("ours") {
            "#fff3d6"
        } else if r % 2 == 0 {
            "#f4f4f4"
        } else {
            "white"
        };
        let _ = writeln!(
            s,
            r##"<rect x="0" y="{y:.1}" width="{}" height="{row_h}" fill="{fill}"/>"##,
            left + width + 20.0
        );
        let _ = writeln!(
            s,
            r##"<text x="10" y="{:.1}">{} ({})</text>"##,
            y + 15.0,
            esc(name),
            run.kept.len()
        );
        for snap in &run.kept {
            let tx = x((end - snap.true_t) as f64);
            let _ = writeln!(
                s,
                r##"<line x1="{tx:.1}" y1="{:.1}" x2="{tx:.1}" y2="{:.1}" stroke="#1f5fa8"/>"##,
                y + 3.0,
                y + row_h - 3.0
            );
        }
    }
    s.push_str("</svg>\n");
    s
}

fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
