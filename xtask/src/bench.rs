//! `cargo xtask bench`: builds the lab benchmarks in release for each flavour, runs
//! `snapshot-bench`, `inventory-bench`, `rollback-bench` and `versions-bench` in one boot per
//! flavour, writes `<target>/bench/<flavour>.json` and the chart
//! `benches/snapshot-throughput.svg`, and prints the tables.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::{Value, json};

use crate::image::{self, repo_root};
use crate::test::{target_base, target_for};
use crate::vm::{self, sh_quote};
use crate::{Flavour, Result, VmArgs};

/// What `cargo xtask bench` was asked to do.
pub struct Options {
    /// Flavours to run, in order.
    pub flavours: Vec<Flavour>,
    /// Print the results as JSON (an array, one document per flavour) at the end.
    pub json: bool,
    /// A smoke run: small counts, one repetition.
    pub quick: bool,
    /// Only the inventory bench's 100,000-snapshot row ([`INVENTORY_100K`]).
    pub inventory_100k: bool,
    /// Only this benchmark (by its name in [`BENCHES`]), with its usual arguments.
    pub only: Option<String>,
    /// Only redraw the chart from the last full runs' results.
    pub chart_only: bool,
    /// With `chart_only`: the result files to chart instead of `<target>/bench/<flavour>.json`.
    pub results: Vec<PathBuf>,
    /// VM options.
    pub vm: VmArgs,
}

/// The benchmarks run in each boot: (name, binary, arguments, quick arguments).
///
/// The full run is cut down to bound it under TCG: 2 repetitions of the snapshot cases, 1 of
/// the destroy cases and of the CLI loops at N = 1000 (each is 1,000 processes or txgs);
/// `snapshot-bench` alone defaults to 3. Measured: 69 min for the 2.1 boot on a 2-core host
/// with load 13-18 (2026-11-25).
const BENCHES: [(&str, &str, &[&str], &[&str]); 4] = [
    (
        "snapshot",
        "snapshot-bench",
        &["--reps", "2", "--seq", "50", "--destroy-reps", "1"],
        &["--quick"],
    ),
    (
        "inventory",
        "inventory-bench",
        &[
            "--one",
            "300",
            "--datasets",
            "100",
            "--per-dataset",
            "5",
            "--runs",
            "1",
            "--size-gib",
            "2",
        ],
        &[
            "--one",
            "50",
            "--datasets",
            "20",
            "--per-dataset",
            "2",
            "--runs",
            "1",
            "--size-gib",
            "1",
        ],
    ),
    (
        "rollback",
        "rollback-bench",
        &[],
        &["--small-mib", "1", "--large-mib", "64"],
    ),
    (
        "versions",
        "versions-bench",
        &["--snapshots", "1000", "--every", "10"],
        &["--snapshots", "100", "--every", "10"],
    ),
];

/// `inventory-bench`'s arguments for the 100,000-snapshot row: 1,000 datasets × 100
/// snapshots (100 rounds of one `lzc_snapshot` of all 1,000), all properties, again after 10
/// new snapshots (incremental), names only. About 2-3 hours under TCG.
const INVENTORY_100K: &[&str] = &[
    "--one",
    "0",
    "--datasets",
    "1000",
    "--per-dataset",
    "100",
    "--modes",
    "full,repeat,names",
    "--runs",
    "1",
    "--size-gib",
    "8",
];

impl Options {
    /// Whether the benchmark `name` runs.
    fn runs(&self, name: &str) -> bool {
        if self.inventory_100k {
            return name == "inventory";
        }
        self.only.as_deref().is_none_or(|o| o == name)
    }

    /// The prefix of the result files: a quick, 100k or single-bench run does not replace the
    /// full run's files.
    fn prefix(&self) -> String {
        if self.quick {
            "quick-".into()
        } else if self.inventory_100k {
            "100k-".into()
        } else if let Some(o) = &self.only {
            format!("{o}-")
        } else {
            String::new()
        }
    }
}

/// Where results go: `<target>/bench`.
fn bench_dir() -> PathBuf {
    target_base().join("bench")
}

fn build(flavour: Flavour, env: &[(String, String)]) -> Result<PathBuf> {
    let target = target_for(flavour);
    println!(
        "== building the benchmarks (release) for zfs {} into {}",
        flavour.as_str(),
        target.display()
    );
    let st = crate::test::cargo()
        .args(["build", "--release", "-p", "flocker-benches", "--bins"])
        .env("CARGO_TARGET_DIR", &target)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !st.success() {
        return Err(format!(
            "building the benchmarks for zfs {} failed",
            flavour.as_str()
        ));
    }
    Ok(target.join("release"))
}

/// The output of one benchmark inside the boot.
#[derive(Debug, Default, PartialEq)]
pub struct Section {
    /// Benchmark name (`snapshot`, ...).
    pub name: String,
    /// Its exit status, `None` when it printed no exit line (the guest died).
    pub exit: Option<i32>,
    /// What it printed on stdout.
    pub text: String,
}

/// Splits the runner's stdout at its `### bench NAME` / `### exit N` markers.
pub fn split_sections(out: &str) -> Vec<Section> {
    let mut v: Vec<Section> = Vec::new();
    for l in out.lines() {
        let l = l.trim_end_matches('\r');
        if let Some(name) = l.strip_prefix("### bench ") {
            v.push(Section {
                name: name.trim().to_string(),
                ..Section::default()
            });
        } else if let Some(code) = l.strip_prefix("### exit ") {
            if let Some(s) = v.last_mut() {
                s.exit = code.trim().parse().ok();
            }
        } else if let Some(s) = v.last_mut()
            && s.exit.is_none()
        {
            s.text.push_str(l);
            s.text.push('\n');
        }
    }
    v
}

/// The Markdown tables in `text`, each as rows of cells (header row first, the `|---|` line
/// dropped), for trend tracking.
pub fn markdown_tables(text: &str) -> Vec<Vec<Vec<String>>> {
    let mut tables = Vec::new();
    let mut cur: Vec<Vec<String>> = Vec::new();
    for l in text.lines().map(str::trim) {
        if l.starts_with('|') {
            let inner = l.trim_start_matches('|').trim_end_matches('|');
            if inner.chars().all(|c| matches!(c, '-' | '|' | ':' | ' ')) {
                continue;
            }
            cur.push(inner.split('|').map(|c| c.trim().to_string()).collect());
        } else if !cur.is_empty() {
            tables.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        tables.push(cur);
    }
    tables
}

/// The shell script that runs each benchmark once in the boot, between `### bench NAME` and
/// `### exit N` markers; `snapshot-bench` also writes its JSON results to `snap_json`.
fn runner_script(bin_dir: &Path, opts: &Options, snap_json: &Path) -> String {
    let mut script = String::from(
        "#!/bin/sh\n# Written by cargo xtask bench: runs each benchmark once, in this boot.\n",
    );
    for (name, bin, full, quick_args) in BENCHES {
        if !opts.runs(name) {
            continue;
        }
        let args = if opts.inventory_100k {
            INVENTORY_100K
        } else if opts.quick {
            quick_args
        } else {
            full
        };
        let mut words = vec![sh_quote(&bin_dir.join(bin).to_string_lossy())];
        words.extend(args.iter().map(|a| sh_quote(a)));
        if name == "snapshot" {
            words.push("--json".into());
            words.push(sh_quote(&snap_json.to_string_lossy()));
        }
        let _ = write!(
            script,
            "echo '### bench {name}'\n{}\necho \"### exit $?\"\n",
            words.join(" ")
        );
    }
    script
}

/// A flavour's results document: the run's facts, and per benchmark its exit status and
/// tables (and snapshot-bench's JSON results).
fn results_doc(
    flavour: Flavour,
    quick: bool,
    out: &vm::Outcome,
    wall: f64,
    sections: &[Section],
    snapshot: &Value,
) -> Value {
    let mut doc = json!({
        "flavour": flavour.as_str(),
        "zfs_version": out.zfs_version,
        "quick": quick,
        "boot_seconds": out.boot_secs,
        "wall_seconds": wall,
        "guest_exit": out.code,
    });
    for (name, ..) in BENCHES {
        let s = sections.iter().find(|s| s.name == name);
        let mut v = json!({
            "exit": s.and_then(|s| s.exit),
            "tables": s.map(|s| markdown_tables(&s.text)).unwrap_or_default(),
        });
        if name == "snapshot" {
            v["results"] = snapshot.clone();
        }
        doc[name] = v;
    }
    doc
}

fn run_flavour(flavour: Flavour, opts: &Options) -> Result<(Value, Vec<Section>)> {
    crate::host::ensure_lab_prereqs()?;
    let img = image::ensure(flavour)?;
    let env = image::dev_env(flavour, &img)?;
    let bin_dir = build(flavour, &env)?;
    let out_dir = bench_dir();
    std::fs::create_dir_all(&out_dir)
        .map_err(|e| format!("cannot create {}: {e}", out_dir.display()))?;
    let prefix = opts.prefix();
    let snap_json = out_dir.join(format!("{prefix}{}-snapshot.json", flavour.as_str()));
    let _ = std::fs::remove_file(&snap_json);
    let script = runner_script(&bin_dir, opts, &snap_json);
    let runner = out_dir.join(format!("{prefix}run-{}.sh", flavour.as_str()));
    std::fs::write(&runner, script)
        .map_err(|e| format!("cannot write {}: {e}", runner.display()))?;
    let mut vm_args = opts.vm.clone();
    // Bounded, generously: a full run takes 30-60 min per flavour under TCG on a loaded host.
    vm_args.timeout = vm_args.timeout.max(if opts.quick { 1200 } else { 6000 });
    if opts.inventory_100k {
        vm_args.timeout = vm_args.timeout.max(6 * 3600);
        vm_args.mem = vm_args.mem.max(8192);
    }
    vm_args.shares.push(target_base());
    println!("== benchmarks in the lab, zfs {}", flavour.as_str());
    let started = Instant::now();
    let out = vm::run_script_in_lab(flavour, &vm_args, &runner)?;
    let wall = started.elapsed().as_secs_f64();
    let sections = split_sections(&String::from_utf8_lossy(&out.stdout));
    let snapshot: Value = std::fs::read_to_string(&snap_json)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null);
    let doc = results_doc(flavour, opts.quick, &out, wall, &sections, &snapshot);
    let path = out_dir.join(format!("{prefix}{}.json", flavour.as_str()));
    std::fs::write(&path, format!("{doc:#}\n"))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    println!(
        "== zfs {}: {:.0} s in the lab (boot {:.1} s); results in {}",
        flavour.as_str(),
        wall,
        out.boot_secs,
        path.display()
    );
    Ok((doc, sections))
}

/// One line of the chart: a method on a flavour, (N, snapshots/s) points.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend text.
    pub label: String,
    /// Colour (method).
    pub colour: &'static str,
    /// Dashed (the second flavour).
    pub dashed: bool,
    /// (N, snapshots per second), N ascending.
    pub points: Vec<(f64, f64)>,
}

const CHART_METHODS: [(&str, &str, &str); 4] = [
    ("ours", "flocker-core batch", "#1b9e77"),
    ("cli-multi", "one multi-arg zfs snapshot", "#7570b3"),
    ("pyzfs", "pyzfs lzc_snapshot", "#d95f02"),
    ("cli-loop", "zfs snapshot loop", "#e7298a"),
];

/// The chart's series from the snapshot-bench results of each flavour document.
pub fn chart_series(docs: &[Value]) -> Vec<Series> {
    let mut out = Vec::new();
    for (i, d) in docs.iter().enumerate() {
        // A `<flavour>.json` document, or snapshot-bench's own `--json` output.
        let Some(rows) = d["snapshot"]["results"]["snapshot"]
            .as_array()
            .or_else(|| d["snapshot"].as_array())
        else {
            continue;
        };
        let full = d["zfs_version"].as_str().unwrap_or("?");
        // The upstream version (`2.1.11` of `2.1.11-1+deb12u1`) keeps the legend short.
        let version = full.split('-').next().unwrap_or(full);
        for (m, label, colour) in CHART_METHODS {
            let mut points: Vec<(f64, f64)> = rows
                .iter()
                .filter(|r| r["method"] == m)
                .filter_map(|r| Some((r["n"].as_f64()?, r["per_second"].as_f64()?)))
                .filter(|(n, p)| *n > 0.0 && *p > 0.0)
                .collect();
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
            if !points.is_empty() {
                out.push(Series {
                    label: format!("{label}, {version}"),
                    colour,
                    dashed: i % 2 == 1,
                    points,
                });
            }
        }
    }
    out
}

/// The chart's size and margins (the legend is in the right one).
const CHART_W: f64 = 800.0;
const CHART_H: f64 = 480.0;
const CHART_LEFT: f64 = 70.0;
const CHART_RIGHT: f64 = 290.0;
const CHART_TOP: f64 = 50.0;
const CHART_BOTTOM: f64 = 50.0;

/// The plot area of the chart and its log-log axes, in whole decades.
struct Plot {
    /// Decades on the x axis (log10 of N), from `x0` to `x1`.
    x0: f64,
    x1: f64,
    /// Decades on the y axis (log10 of snapshots/s), from `y0` to `y1`.
    y0: f64,
    y1: f64,
    /// Width and height of the plot area.
    pw: f64,
    ph: f64,
}

impl Plot {
    /// Axes that span every point of `series` (1 to 1000 by 1 to 10 without points).
    fn new(series: &[Series]) -> Plot {
        let pts = || series.iter().flat_map(|s| s.points.iter().copied());
        let lg = |v: f64| v.log10();
        let (mut x0, mut x1, mut y0, mut y1) = (0.0f64, 3.0f64, 0.0f64, 1.0f64);
        if pts().next().is_some() {
            x0 = pts().map(|p| lg(p.0)).fold(f64::INFINITY, f64::min).floor();
            x1 = pts()
                .map(|p| lg(p.0))
                .fold(f64::NEG_INFINITY, f64::max)
                .ceil();
            y0 = pts().map(|p| lg(p.1)).fold(f64::INFINITY, f64::min).floor();
            y1 = pts()
                .map(|p| lg(p.1))
                .fold(f64::NEG_INFINITY, f64::max)
                .ceil();
        }
        if x1 <= x0 {
            x1 = x0 + 1.0;
        }
        if y1 <= y0 {
            y1 = y0 + 1.0;
        }
        Plot {
            x0,
            x1,
            y0,
            y1,
            pw: CHART_W - CHART_LEFT - CHART_RIGHT,
            ph: CHART_H - CHART_TOP - CHART_BOTTOM,
        }
    }

    /// The x coordinate of N = `x`.
    fn px(&self, x: f64) -> f64 {
        CHART_LEFT + (x.log10() - self.x0) / (self.x1 - self.x0) * self.pw
    }

    /// The y coordinate of `y` snapshots/s.
    fn py(&self, y: f64) -> f64 {
        CHART_TOP + self.ph - (y.log10() - self.y0) / (self.y1 - self.y0) * self.ph
    }

    /// The grid lines and the decade labels of both axes.
    fn grid(&self, s: &mut String) {
        let (left, top, pw, ph) = (CHART_LEFT, CHART_TOP, self.pw, self.ph);
        for e in (self.x0 as i32)..=(self.x1 as i32) {
            let x = self.px(10f64.powi(e));
            let _ = writeln!(
                s,
                r##"<line x1="{x:.1}" y1="{top}" x2="{x:.1}" y2="{:.1}" stroke="#ddd"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
                top + ph,
                top + ph + 16.0,
                10u64.pow(e.max(0) as u32)
            );
        }
        for e in (self.y0 as i32)..=(self.y1 as i32) {
            let y = self.py(10f64.powi(e));
            let label = if e >= 0 {
                10u64.pow(e as u32).to_string()
            } else {
                format!("{}", 10f64.powi(e))
            };
            let _ = writeln!(
                s,
                r##"<line x1="{left}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{label}</text>"##,
                left + pw,
                left - 6.0,
                y + 4.0
            );
        }
    }

    /// The frame of the plot area and the axis titles.
    fn frame(&self, s: &mut String) {
        let (left, top, pw, ph) = (CHART_LEFT, CHART_TOP, self.pw, self.ph);
        let _ = writeln!(
            s,
            r##"<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#333"/>"##
        );
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">N (datasets snapshotted, one snapshot each)</text>"#,
            left + pw / 2.0,
            CHART_H - 12.0
        );
        let _ = writeln!(
            s,
            r#"<text transform="translate(18 {:.1}) rotate(-90)" text-anchor="middle">snapshots per second</text>"#,
            top + ph / 2.0
        );
    }

    /// Series number `i`: its line, its points and its legend entry.
    fn series(&self, s: &mut String, i: usize, se: &Series) {
        let dash = if se.dashed {
            r#" stroke-dasharray="6 4""#
        } else {
            ""
        };
        let line: Vec<String> = se
            .points
            .iter()
            .map(|&(x, y)| format!("{:.1},{:.1}", self.px(x), self.py(y)))
            .collect();
        let _ = writeln!(
            s,
            r#"<polyline points="{}" fill="none" stroke="{}" stroke-width="2"{dash}/>"#,
            line.join(" "),
            se.colour
        );
        for &(x, y) in &se.points {
            let _ = writeln!(
                s,
                r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{}"/>"#,
                self.px(x),
                self.py(y),
                se.colour
            );
        }
        let ly = CHART_TOP + 10.0 + i as f64 * 18.0;
        let lx = CHART_LEFT + self.pw + 12.0;
        let _ = writeln!(
            s,
            r#"<line x1="{lx:.1}" y1="{ly:.1}" x2="{:.1}" y2="{ly:.1}" stroke="{}" stroke-width="2"{dash}/><text x="{:.1}" y="{:.1}" font-size="10">{}</text>"#,
            lx + 22.0,
            se.colour,
            lx + 26.0,
            ly + 4.0,
            xml_escape(&se.label)
        );
    }
}

/// A log-log line chart of snapshot throughput against N, as a standalone SVG document.
pub fn svg_chart(series: &[Series], subtitle: &str) -> String {
    let (w, h, left) = (CHART_W, CHART_H, CHART_LEFT);
    let plot = Plot::new(series);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="{w}" height="{h}" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{left}" y="22" font-size="15">Snapshot throughput vs N datasets (snapshots/s, log-log)</text>"#
    );
    let _ = writeln!(
        s,
        r##"<text x="{left}" y="38" fill="#555">{}</text>"##,
        xml_escape(subtitle)
    );
    // Grid and decade ticks.
    plot.grid(&mut s);
    plot.frame(&mut s);
    for (i, se) in series.iter().enumerate() {
        plot.series(&mut s, i, se);
    }
    s.push_str("</svg>\n");
    s
}

fn xml_escape(t: &str) -> String {
    t.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn write_chart(docs: &[Value], path: &Path) -> Result<()> {
    let series = chart_series(docs);
    if series.is_empty() {
        return Err("no snapshot results to chart".into());
    }
    let mut virt: Vec<String> = docs
        .iter()
        .filter_map(|d| {
            d["snapshot"]["results"]["virtualization"]
                .as_str()
                .or_else(|| d["virtualization"].as_str())
        })
        .map(String::from)
        .collect();
    virt.dedup();
    let subtitle = format!(
        "lab VM ({}), file-backed pool; median of the repetitions; solid = first flavour, dashed = second",
        if virt.is_empty() {
            "?".into()
        } else {
            virt.join("/")
        }
    );
    std::fs::write(path, svg_chart(&series, &subtitle))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    println!("== chart: {}", path.display());
    Ok(())
}

/// `cargo xtask bench --chart-only`: redraws the committed chart from result files.
fn chart_only(opts: &Options) -> Result<i32> {
    let files: Vec<PathBuf> = if opts.results.is_empty() {
        Flavour::ALL
            .iter()
            .map(|f| bench_dir().join(format!("{}.json", f.as_str())))
            .filter(|p| p.exists())
            .collect()
    } else {
        opts.results.clone()
    };
    let mut docs = Vec::new();
    for p in files {
        let t =
            std::fs::read_to_string(&p).map_err(|e| format!("cannot read {}: {e}", p.display()))?;
        docs.push(
            serde_json::from_str::<Value>(&t)
                .map_err(|e| format!("{}: not JSON: {e}", p.display()))?,
        );
    }
    write_chart(&docs, &repo_root().join("benches/snapshot-throughput.svg"))?;
    Ok(0)
}

/// Reports each benchmark of `flavour` that failed or did not run; true if any did.
fn report_failed_benches(flavour: Flavour, sections: &[Section], opts: &Options) -> bool {
    let mut failed = false;
    for name in BENCHES.map(|b| b.0) {
        if !opts.runs(name) {
            continue;
        }
        match sections.iter().find(|s| s.name == name) {
            Some(s) if s.exit == Some(0) => {}
            Some(s) => {
                failed = true;
                eprintln!(
                    "xtask: {name}-bench on zfs {} exited with {:?}",
                    flavour.as_str(),
                    s.exit
                );
            }
            None => {
                failed = true;
                eprintln!(
                    "xtask: {name}-bench on zfs {} did not run",
                    flavour.as_str()
                );
            }
        }
    }
    failed
}

/// The documents to chart: every flavour with results, the ones just run (`docs`), and the
/// other flavour's last full run if it exists (never mixing a quick run into the committed
/// chart).
fn chart_docs(docs: &[Value], quick: bool) -> Vec<Value> {
    let mut chart_docs = Vec::new();
    for f in Flavour::ALL {
        if let Some(d) = docs.iter().find(|d| d["flavour"] == f.as_str()) {
            chart_docs.push(d.clone());
        } else if !quick
            && let Ok(t) = std::fs::read_to_string(bench_dir().join(format!("{}.json", f.as_str())))
            && let Ok(v) = serde_json::from_str::<Value>(&t)
        {
            chart_docs.push(v);
        }
    }
    chart_docs
}

/// `cargo xtask bench`.
pub fn run(opts: &Options) -> Result<i32> {
    if opts.chart_only {
        return chart_only(opts);
    }
    let started = Instant::now();
    let mut docs = Vec::new();
    let mut texts = Vec::new();
    let mut failed = false;
    for &f in &opts.flavours {
        match run_flavour(f, opts) {
            Ok((doc, sections)) => {
                failed |= report_failed_benches(f, &sections, opts);
                texts.push((f, sections));
                docs.push(doc);
            }
            Err(e) => {
                failed = true;
                eprintln!(
                    "xtask: the zfs {} benchmarks could not run: {e}",
                    f.as_str()
                );
            }
        }
    }
    let chart_docs = chart_docs(&docs, opts.quick);
    let chart = if opts.quick {
        bench_dir().join("quick-snapshot-throughput.svg")
    } else {
        repo_root().join("benches/snapshot-throughput.svg")
    };
    if !docs.is_empty()
        && opts.runs("snapshot")
        && let Err(e) = write_chart(&chart_docs, &chart)
    {
        eprintln!("xtask: {e}");
    }
    println!(
        "\n== benchmark tables ({:.0} s in all)",
        started.elapsed().as_secs_f64()
    );
    for (f, sections) in &texts {
        for s in sections {
            println!(
                "\n#### zfs {} — {}-bench\n\n{}",
                f.as_str(),
                s.name,
                s.text.trim()
            );
        }
    }
    if opts.json {
        println!("{:#}", Value::Array(docs));
    }
    Ok(if failed { 1 } else { 0 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_split_at_markers() {
        let out = "### bench snapshot\n| a | b |\n|---|---|\n| 1 | 2 |\n### exit 0\nnoise\n### bench rollback\npartial\n";
        let v = split_sections(out);
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].name, "snapshot");
        assert_eq!(v[0].exit, Some(0));
        assert_eq!(v[0].text, "| a | b |\n|---|---|\n| 1 | 2 |\n");
        assert_eq!(v[1].name, "rollback");
        assert_eq!(v[1].exit, None);
        assert_eq!(v[1].text, "partial\n");
    }

    #[test]
    fn runner_script_runs_each_bench_between_markers() {
        let mut opts = Options {
            flavours: vec![],
            json: false,
            quick: true,
            inventory_100k: false,
            only: None,
            chart_only: false,
            results: vec![],
            vm: crate::VmArgs {
                timeout: 60,
                mem: 512,
                cpus: 1,
                shares: Vec::new(),
                env: Vec::new(),
                accel: crate::Accel::Tcg,
                disks: Vec::new(),
                power_cut: false,
                zfs_root: None,
            },
        };
        let script = runner_script(Path::new("/b"), &opts, Path::new("/o/s.json"));
        assert_eq!(
            script,
            "#!/bin/sh\n# Written by cargo xtask bench: runs each benchmark once, in this boot.\n\
             echo '### bench snapshot'\n/b/snapshot-bench --quick --json /o/s.json\n\
             echo \"### exit $?\"\n\
             echo '### bench inventory'\n\
             /b/inventory-bench --one 50 --datasets 20 --per-dataset 2 --runs 1 --size-gib 1\n\
             echo \"### exit $?\"\n\
             echo '### bench rollback'\n/b/rollback-bench --small-mib 1 --large-mib 64\n\
             echo \"### exit $?\"\n\
             echo '### bench versions'\n/b/versions-bench --snapshots 100 --every 10\n\
             echo \"### exit $?\"\n"
        );
        opts.quick = false;
        opts.inventory_100k = true;
        let script = runner_script(Path::new("/b"), &opts, Path::new("/o/s.json"));
        assert!(!script.contains("snapshot-bench") && !script.contains("rollback-bench"));
        assert!(script.contains(
            "/b/inventory-bench --one 0 --datasets 1000 --per-dataset 100 --modes full,repeat,names"
        ));
        assert_eq!(opts.prefix(), "100k-");
        opts.inventory_100k = false;
        opts.only = Some("rollback".into());
        let script = runner_script(Path::new("/b"), &opts, Path::new("/o/s.json"));
        assert!(script.contains("rollback-bench") && !script.contains("inventory-bench"));
        assert_eq!(opts.prefix(), "rollback-");
    }

    #[test]
    fn markdown_tables_become_rows() {
        let text = "title\n\n| x | y |\n|---|---|\n| 1 | 2 s |\n\nmore\n| a |\n|:-:|\n| b |\n";
        let t = markdown_tables(text);
        assert_eq!(
            t,
            vec![
                vec![
                    vec!["x".to_string(), "y".into()],
                    vec!["1".into(), "2 s".into()]
                ],
                vec![vec!["a".to_string()], vec!["b".into()]],
            ]
        );
    }

    #[test]
    fn chart_has_one_line_per_method_and_flavour_on_log_axes() {
        let doc = |v: &str, k: f64| {
            json!({"zfs_version": v, "snapshot": {"results": {"snapshot": [
                {"n": 1, "method": "ours", "per_second": 10.0 * k},
                {"n": 1000, "method": "ours", "per_second": 10000.0 * k},
                {"n": 1, "method": "cli-loop", "per_second": 5.0},
                {"n": 1000, "method": "cli-loop", "per_second": 5.0},
                {"n": 1000, "method": "pyzfs-process", "per_second": 1.0},
            ]}}})
        };
        let s = chart_series(&[doc("2.1.11", 1.0), doc("2.3.2", 2.0)]);
        assert_eq!(s.len(), 4, "ours and cli-loop for each flavour");
        assert!(!s[0].dashed && s[2].dashed);
        assert_eq!(s[2].points, vec![(1.0, 20.0), (1000.0, 20000.0)]);
        let svg = svg_chart(&s, "a <test>");
        assert_eq!(svg.matches("<polyline").count(), 4);
        assert!(svg.contains("a &lt;test&gt;"));
        // x: 10^0..10^3 across the plot (70..510); y: 10^0..10^5 (430..50), 76 px a decade.
        assert!(svg.contains(r#"<circle cx="70.0" cy="354.0""#), "{svg}");
        assert!(svg.contains(r#"<circle cx="510.0" cy="126.0""#), "{svg}");
        assert!(svg.trim_end().ends_with("</svg>"));
    }
}
