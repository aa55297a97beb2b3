//! Shared helpers of the lab benchmarks: statistics over repetitions (median and spread), a
//! small JSON writer (no dependency), duration formatting, running the CLI and the file-backed
//! pool each benchmark works in.

use std::fmt::Write as _;
use std::process::{Command, Stdio};

/// Median and spread (min–max) of the repetitions of one measurement, in seconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Stats {
    /// The samples in the order they were taken.
    pub runs: Vec<f64>,
    /// The median: the middle sample, or the mean of the two middle ones.
    pub median: f64,
    /// The smallest sample.
    pub min: f64,
    /// The largest sample.
    pub max: f64,
}

impl Stats {
    /// Statistics of `samples`; `None` when there is none or one is not finite.
    pub fn new(samples: &[f64]) -> Option<Stats> {
        if samples.is_empty() || samples.iter().any(|s| !s.is_finite()) {
            return None;
        }
        let mut v = samples.to_vec();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Some(Stats {
            runs: samples.to_vec(),
            median,
            min: v[0],
            max: v[n - 1],
        })
    }

    /// `median (min–max, R runs)`, or `median (1 run)`.
    pub fn cell(&self) -> String {
        if self.runs.len() == 1 {
            format!("{} (1 run)", fmt_secs(self.median))
        } else {
            format!(
                "{} ({}–{}, {} runs)",
                fmt_secs(self.median),
                fmt_secs(self.min),
                fmt_secs(self.max),
                self.runs.len()
            )
        }
    }

    /// Whether the min–max ranges of two measurements overlap (the medians' order is then
    /// within the run-to-run noise).
    pub fn overlaps(&self, other: &Stats) -> bool {
        self.min <= other.max && other.min <= self.max
    }

    /// As a JSON object: `{"median":…,"min":…,"max":…,"runs":[…]}` (seconds).
    pub fn to_json(&self) -> Json {
        Json::obj([
            ("median", Json::Num(self.median)),
            ("min", Json::Num(self.min)),
            ("max", Json::Num(self.max)),
            (
                "runs",
                Json::Arr(self.runs.iter().map(|&r| Json::Num(r)).collect()),
            ),
        ])
    }
}

/// A duration in seconds, with a unit that keeps three significant digits readable:
/// `850 µs`, `12.3 ms`, `1.23 s`, `123 s`.
pub fn fmt_secs(s: f64) -> String {
    if !s.is_finite() {
        return "n/a".into();
    }
    if s < 1e-3 {
        format!("{:.0} µs", s * 1e6)
    } else if s < 1e-2 {
        format!("{:.2} ms", s * 1e3)
    } else if s < 1.0 {
        format!("{:.1} ms", s * 1e3)
    } else if s < 100.0 {
        format!("{s:.2} s")
    } else {
        format!("{s:.0} s")
    }
}

/// A ratio for a table: `12.3x`, `0.85x`, `n/a` when undefined.
pub fn fmt_ratio(r: f64) -> String {
    if !r.is_finite() {
        "n/a".into()
    } else if r >= 10.0 {
        format!("{r:.0}x")
    } else {
        format!("{r:.2}x")
    }
}

/// A JSON value, enough for benchmark results.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A number; a non-finite one is written as `null`.
    Num(f64),
    /// A string.
    Str(String),
    /// An array.
    Arr(Vec<Json>),
    /// An object, keys in insertion order.
    Obj(Vec<(String, Json)>),
}

impl Json {
    /// An object from `(key, value)` pairs.
    pub fn obj<'a>(pairs: impl IntoIterator<Item = (&'a str, Json)>) -> Json {
        Json::Obj(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
    }

    /// A string value.
    pub fn str(s: impl Into<String>) -> Json {
        Json::Str(s.into())
    }

    /// Compact JSON text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }

    fn write(&self, out: &mut String) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Num(n) if n.is_finite() => {
                let _ = write!(out, "{n}");
            }
            Json::Num(_) => out.push_str("null"),
            Json::Str(s) => write_str(s, out),
            Json::Arr(items) => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    v.write(out);
                }
                out.push(']');
            }
            Json::Obj(pairs) => {
                out.push('{');
                for (i, (k, v)) in pairs.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_str(k, out);
                    out.push(':');
                    v.write(out);
                }
                out.push('}');
            }
        }
    }
}

fn write_str(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// How the guest is virtualized, from inside it: `KVM` when the kernel found KVM's paravirtual
/// clock, else `TCG` (qemu's emulator, the lab's fallback).
pub fn virtualization() -> &'static str {
    let clocks = std::fs::read_to_string(
        "/sys/devices/system/clocksource/clocksource0/available_clocksource",
    )
    .unwrap_or_default();
    if clocks.contains("kvm-clock") {
        "KVM"
    } else {
        "TCG"
    }
}

/// Runs `program` (the `zfs`/`zpool` CLI) with stdin from `/dev/null`: its stdout, or an error
/// quoting the first arguments and its stderr.
pub fn run(program: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if !out.status.success() {
        let shown: Vec<&str> = args.iter().take(4).copied().collect();
        return Err(format!(
            "`{program} {}{}` failed: {}",
            shown.join(" "),
            if args.len() > 4 { " …" } else { "" },
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A pool on a sparse file, created by [`BenchPool::create`] and destroyed (file included)
/// on drop.
#[derive(Debug)]
pub struct BenchPool {
    /// The pool's name: a prefix and this process's id.
    pub name: String,
    file: String,
}

impl BenchPool {
    /// Creates pool `<prefix><pid>` (`mountpoint=none` on its root) on a sparse file of
    /// `bytes` in `dir`.
    pub fn create(prefix: &str, dir: &str, bytes: u64) -> Result<BenchPool, String> {
        let name = format!("{prefix}{}", std::process::id());
        let file = format!("{dir}/{name}.img");
        let f = std::fs::File::create(&file).map_err(|e| format!("{file}: {e}"))?;
        f.set_len(bytes).map_err(|e| format!("{file}: {e}"))?;
        drop(f);
        let pool = BenchPool { name, file };
        run(
            "zpool",
            &[
                "create",
                "-f",
                "-O",
                "mountpoint=none",
                &pool.name,
                &pool.file,
            ],
        )?;
        Ok(pool)
    }
}

impl Drop for BenchPool {
    fn drop(&mut self) {
        let _ = Command::new("zpool")
            .args(["destroy", "-f", &self.name])
            .stdin(Stdio::null())
            .status();
        let _ = std::fs::remove_file(&self.file);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts_and_spread() {
        let s = Stats::new(&[3.0, 1.0, 2.0]).unwrap();
        assert_eq!((s.median, s.min, s.max), (2.0, 1.0, 3.0));
        assert_eq!(s.runs, vec![3.0, 1.0, 2.0]);
        let s = Stats::new(&[4.0, 1.0, 2.0, 10.0]).unwrap();
        assert_eq!((s.median, s.min, s.max), (3.0, 1.0, 10.0));
        assert!(Stats::new(&[]).is_none());
        assert!(Stats::new(&[1.0, f64::NAN]).is_none());
    }

    #[test]
    fn cells_and_overlap() {
        let a = Stats::new(&[0.5, 0.25, 0.75]).unwrap();
        assert_eq!(a.cell(), "500.0 ms (250.0 ms–750.0 ms, 3 runs)");
        let b = Stats::new(&[120.0]).unwrap();
        assert_eq!(b.cell(), "120 s (1 run)");
        assert!(!a.overlaps(&b));
        let c = Stats::new(&[0.7, 0.9]).unwrap();
        assert!(a.overlaps(&c) && c.overlaps(&a));
        assert_eq!(fmt_secs(0.000_85), "850 µs");
        assert_eq!(fmt_secs(0.004_25), "4.25 ms");
        assert_eq!(fmt_secs(1.234), "1.23 s");
        assert_eq!(fmt_ratio(57.4), "57x");
        assert_eq!(fmt_ratio(0.854), "0.85x");
        assert_eq!(fmt_ratio(f64::INFINITY), "n/a");
    }

    #[test]
    fn json_rendering_escapes_and_nulls() {
        let j = Json::obj([
            ("name", Json::str("a\"b\\c\nd\u{1}")),
            ("n", Json::Num(1000.0)),
            ("x", Json::Num(0.25)),
            ("bad", Json::Num(f64::NAN)),
            ("ok", Json::Bool(true)),
            ("none", Json::Null),
            ("list", Json::Arr(vec![Json::Num(1.0), Json::str("é")])),
        ]);
        assert_eq!(
            j.render(),
            r#"{"name":"a\"b\\c\nd\u0001","n":1000,"x":0.25,"bad":null,"ok":true,"none":null,"list":[1,"é"]}"#
        );
        let s = Stats::new(&[2.0, 1.0]).unwrap();
        assert_eq!(
            s.to_json().render(),
            r#"{"median":1.5,"min":1,"max":2,"runs":[2,1]}"#
        );
    }
}
