//! `snapshot-bench`: snapshot throughput and batch destroy, flocker-core against the `zfs` CLI
//! and pyzfs, inside the lab (as root). Run by `cargo xtask bench`, or by hand:
//!
//! ```text
//! cargo build --release -p flocker-benches --bin snapshot-bench
//! cargo xtask lab run --zfs 2.1 -- $CARGO_TARGET_DIR/release/snapshot-bench [--quick] [--json FILE]
//! ```
//!
//! On a file-backed pool (datasets unmounted, `mountpoint=none`) it measures, for each N of
//! `--ns` (default 1,10,100,1000) datasets, one snapshot of each:
//! - `ours`: `flocker_core::snapshot::snapshot`, one `lzc_snapshot` ioctl, one txg; in-process
//!   time around the call (name checks and nvlist building included);
//! - `cli-loop`: N sequential `zfs snapshot DS@S` processes (what sanoid does); wall time of
//!   the loop, process starts included (they are the cost such a tool pays);
//! - `cli-multi`: one `zfs snapshot DS1@S DS2@S …` process; wall time, process start included;
//! - `pyzfs`: `libzfs_core.lzc_snapshot` of all N in one call, timed inside the Python script
//!   around the call only; the process's wall time (interpreter start and import included) is
//!   reported beside it.
//!
//! then sequential single snapshots (`--seq` of one dataset, one call or process each) per
//! tool, and the destruction of `--destroy` snapshots of one filesystem: ours
//! (`lzc::destroy_snaps` in batches of at most `--destroy-batch`), a per-snapshot
//! `zfs destroy` loop, one `zfs destroy FS@first%last`, and pyzfs (`lzc_destroy_snaps` in the
//! same batches, timed inside the script). Each case runs `--reps` times (interleaved with the
//! other methods); the slow CLI loops at N >= 1000 run `--slow-reps` times. Prints Markdown
//! tables (median, min–max, ratios) and the goals; `--json FILE` writes the results.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches, Parser};
use flocker_benches::{BenchPool, Json, Stats, fmt_ratio, fmt_secs, run};
use flocker_core::lzc::{self, DatasetType};
use flocker_core::name::{DatasetName, SnapshotName};
use flocker_core::snapshot::Snapshot;

const PY_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/py/pyzfs_bench.py");

/// `snapshot-bench`'s options (see the module doc).
#[derive(Parser, Debug)]
#[command(
    name = "snapshot-bench",
    version,
    about = "Snapshot throughput and batch destroy, flocker-core against the zfs CLI and pyzfs"
)]
struct Args {
    /// The dataset counts N of the throughput cases, a comma list (counts of 0 are dropped).
    #[arg(
        long,
        value_name = "N,...",
        value_delimiter = ',',
        default_value = "1,10,100,1000"
    )]
    ns: Vec<usize>,
    /// Repetitions of each case; 0 counts as 1.
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = at_least_one)]
    reps: usize,
    /// Repetitions of the slow CLI loops at N >= 1000; 0 counts as 1.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = at_least_one)]
    slow_reps: usize,
    /// Sequential single snapshots of one dataset (0: skip).
    #[arg(long, value_name = "N", default_value_t = 100)]
    seq: usize,
    /// Snapshots destroyed (0: skip).
    #[arg(long, value_name = "N", default_value_t = 1000)]
    destroy: usize,
    /// Most snapshots per batch destroy; 0 counts as 1.
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = at_least_one)]
    destroy_batch: usize,
    /// Repetitions of the destroy cases; 0 counts as 1.
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = at_least_one)]
    destroy_reps: usize,
    /// Directory of the pool's file.
    #[arg(long, value_name = "DIR", default_value = "/var/tmp")]
    dir: String,
    /// Writes the results as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    json: Option<String>,
    /// The pyzfs script.
    #[arg(long, value_name = "SCRIPT", default_value = PY_SCRIPT)]
    py: String,
    /// A short run: the defaults become --ns 1,10,50 --reps 1 --seq 20 --destroy 100
    /// --destroy-batch 50 --destroy-reps 1 (options given override them).
    #[arg(long)]
    quick: bool,
}

/// A count of at least 1: 0 counts as 1, as before clap.
fn at_least_one(s: &str) -> Result<usize, String> {
    s.parse::<usize>()
        .map(|n| n.max(1))
        .map_err(|e| format!("{e}"))
}

/// Parses `argv` (program name first): `--quick` defaults, counts of 0 dropped from `--ns`.
fn parse_from<I, T>(argv: I) -> Result<Args, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let m = Args::command().try_get_matches_from(argv)?;
    let mut a = Args::from_arg_matches(&m)?;
    let given = |id: &str| m.value_source(id) == Some(ValueSource::CommandLine);
    if a.quick {
        if !given("ns") {
            a.ns = vec![1, 10, 50];
        }
        let quick: [(&str, &mut usize, usize); 5] = [
            ("reps", &mut a.reps, 1),
            ("seq", &mut a.seq, 20),
            ("destroy", &mut a.destroy, 100),
            ("destroy_batch", &mut a.destroy_batch, 50),
            ("destroy_reps", &mut a.destroy_reps, 1),
        ];
        for (id, field, v) in quick {
            if !given(id) {
                *field = v;
            }
        }
    }
    a.ns.retain(|&n| n > 0);
    if a.ns.is_empty() {
        return Err(Args::command().error(
            clap::error::ErrorKind::ValueValidation,
            "--ns needs at least one positive count",
        ));
    }
    Ok(a)
}

fn e2s(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Runs a command, failing with its stderr.
/// What the pyzfs script reports, plus the wall time of its process.
struct PyRun {
    call_s: f64,
    import_s: f64,
    wall_s: f64,
}

fn pyzfs(
    script: &str,
    mode: &str,
    extra: &[&str],
    names: &[SnapshotName],
) -> Result<PyRun, String> {
    let mut input = String::new();
    for n in names {
        input.push_str(n.as_str());
        input.push('\n');
    }
    let t = Instant::now();
    let mut child = Command::new("python3")
        .arg(script)
        .arg(mode)
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run python3: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(input.as_bytes()).map_err(e2s)?;
    }
    let out = child.wait_with_output().map_err(e2s)?;
    let wall_s = t.elapsed().as_secs_f64();
    if !out.status.success() {
        return Err(format!(
            "pyzfs {mode} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |k: &str| -> Result<f64, String> {
        let pat = format!("\"{k}\": ");
        let at = text
            .find(&pat)
            .ok_or_else(|| format!("pyzfs printed no {k}: {text}"))?;
        let rest = &text[at + pat.len()..];
        let end = rest.find([',', '}']).unwrap_or(rest.len());
        rest[..end]
            .trim()
            .parse()
            .map_err(|_| format!("bad {k} from pyzfs: {text}"))
    };
    Ok(PyRun {
        call_s: field("call_s")?,
        import_s: field("import_s")?,
        wall_s,
    })
}

/// Times `zfs VERB SNAP` run for each snapshot in turn, one process each.
fn zfs_each(verb: &str, snaps: &[SnapshotName]) -> Result<f64, String> {
    timed(|| {
        for sn in snaps {
            run("zfs", &[verb, sn.as_str()])?;
        }
        Ok(())
    })
}

fn timed<T>(f: impl FnOnce() -> Result<T, String>) -> Result<f64, String> {
    let t = Instant::now();
    f()?;
    Ok(t.elapsed().as_secs_f64())
}

/// Samples per (case, method), plus side measurements.
#[derive(Default)]
struct Samples {
    /// (N, method) → seconds.
    snap: BTreeMap<(usize, &'static str), Vec<f64>>,
    /// method → seconds for `--seq` sequential snapshots.
    seq: BTreeMap<&'static str, Vec<f64>>,
    /// method → seconds to destroy `--destroy` snapshots.
    destroy: BTreeMap<&'static str, Vec<f64>>,
    /// Seconds the shared setup took to create the `--destroy` snapshots of every filesystem.
    destroy_setup: Vec<f64>,
    /// How many filesystems that setup snapshotted per call.
    destroy_setup_fs: usize,
}

const SNAP_METHODS: [&str; 5] = ["ours", "cli-loop", "cli-multi", "pyzfs", "pyzfs-process"];
const SEQ_METHODS: [&str; 3] = ["ours", "cli-loop", "pyzfs"];

fn snaps_of(dsets: &[DatasetName], short: &str) -> Result<Vec<SnapshotName>, String> {
    dsets
        .iter()
        .map(|d| d.snapshot(short).map_err(e2s))
        .collect()
}

/// Checks that a method really created the snapshots (the first and the last are checked).
fn check_created(snaps: &[SnapshotName]) -> Result<(), String> {
    for s in [snaps.first(), snaps.last()].into_iter().flatten() {
        if !lzc::exists(s).map_err(e2s)? {
            return Err(format!("{s} was not created"));
        }
    }
    Ok(())
}

fn snapshot_cases(a: &Args, dsets: &[DatasetName], s: &mut Samples) -> Result<(), String> {
    for &n in &a.ns {
        let d = &dsets[..n];
        let loop_reps = if n >= 1000 { a.slow_reps } else { a.reps };
        for rep in 0..a.reps {
            for m in ["ours", "cli-multi", "pyzfs", "cli-loop"] {
                if m == "cli-loop" && rep >= loop_reps {
                    continue;
                }
                let short = format!("{}n{n}r{rep}", m.replace('-', ""));
                let snaps = snaps_of(d, &short)?;
                let secs = match m {
                    "ours" => {
                        timed(|| flocker_core::snapshot::snapshot(d, &short, &[]).map_err(e2s))?
                    }
                    "cli-multi" => {
                        let names: Vec<&str> = snaps.iter().map(SnapshotName::as_str).collect();
                        let mut args = vec!["snapshot"];
                        args.extend(names);
                        timed(|| run("zfs", &args))?
                    }
                    "pyzfs" => {
                        let r = pyzfs(&a.py, "snapshot", &[], &snaps)?;
                        s.snap
                            .entry((n, "pyzfs-process"))
                            .or_default()
                            .push(r.wall_s);
                        eprintln!(
                            "    pyzfs process {:.3} s (import {:.3} s)",
                            r.wall_s, r.import_s
                        );
                        r.call_s
                    }
                    _ => zfs_each("snapshot", &snaps)?,
                };
                // No cleanup: names are unique per (method, N, repetition), and a dozen
                // snapshots per dataset do not change the cost of the next one measurably.
                check_created(&snaps)?;
                eprintln!("  N={n} rep {}: {m} {secs:.3} s", rep + 1);
                s.snap.entry((n, m)).or_default().push(secs);
            }
        }
    }
    Ok(())
}

/// Creates the filesystem of one (method, repetition) under `parent`.
fn method_fs(parent: &DatasetName, m: &str, rep: usize) -> Result<DatasetName, String> {
    let fs = DatasetName::new(format!("{}/{}{rep}", parent.as_str(), m.replace('-', "")))
        .map_err(e2s)?;
    lzc::create(&fs, DatasetType::Filesystem, None, None).map_err(e2s)?;
    Ok(fs)
}

fn seq_cases(a: &Args, parent: &DatasetName, s: &mut Samples) -> Result<(), String> {
    if a.seq == 0 {
        return Ok(());
    }
    for rep in 0..a.reps {
        for m in SEQ_METHODS {
            // A fresh filesystem per (method, repetition): each run starts from no snapshot.
            let fs = method_fs(parent, m, rep)?;
            let snaps: Vec<SnapshotName> = (0..a.seq)
                .map(|i| fs.snapshot(&format!("q{i:05}")))
                .collect::<Result<_, _>>()
                .map_err(e2s)?;
            let secs = match m {
                "ours" => timed(|| {
                    for sn in &snaps {
                        lzc::snapshot(std::slice::from_ref(sn), None).map_err(e2s)?;
                    }
                    Ok(())
                })?,
                "pyzfs" => pyzfs(&a.py, "seq", &[], &snaps)?.call_s,
                _ => zfs_each("snapshot", &snaps)?,
            };
            check_created(&snaps)?;
            eprintln!("  sequential x{} rep {}: {m} {secs:.3} s", a.seq, rep + 1);
            s.seq.entry(m).or_default().push(secs);
        }
    }
    Ok(())
}

fn destroy_cases(a: &Args, parent: &DatasetName, s: &mut Samples) -> Result<(), String> {
    if a.destroy == 0 {
        return Ok(());
    }
    let slow_reps = if a.destroy >= 1000 {
        a.slow_reps
    } else {
        a.destroy_reps
    };
    // One filesystem per (repetition, method), all given their snapshots by one shared setup:
    // snapshot i of every filesystem in one lzc_snapshot call (one txg), so the setup costs
    // `--destroy` txgs in all instead of that many per run.
    let mut slots = Vec::new();
    for rep in 0..a.destroy_reps {
        for m in ["ours", "cli-range", "pyzfs", "cli-loop"] {
            if m == "cli-loop" && rep >= slow_reps {
                continue;
            }
            let fs = method_fs(parent, m, rep)?;
            slots.push((rep, m, fs));
        }
    }
    let short = |i: usize| format!("x{i:06}");
    let setup = timed(|| {
        for i in 0..a.destroy {
            let snaps = slots
                .iter()
                .map(|(_, _, fs)| fs.snapshot(&short(i)).map_err(e2s))
                .collect::<Result<Vec<_>, _>>()?;
            lzc::snapshot(&snaps, None).map_err(e2s)?;
        }
        Ok(())
    })?;
    eprintln!(
        "  setup: {} lzc_snapshot calls of {} filesystems each in {setup:.1} s",
        a.destroy,
        slots.len()
    );
    s.destroy_setup = vec![setup];
    s.destroy_setup_fs = slots.len();
    let batch = a.destroy_batch.to_string();
    for (rep, m, fs) in &slots {
        let snaps: Vec<SnapshotName> = (0..a.destroy)
            .map(|i| fs.snapshot(&short(i)))
            .collect::<Result<_, _>>()
            .map_err(e2s)?;
        let secs = match *m {
            "ours" => timed(|| {
                for chunk in snaps.chunks(a.destroy_batch) {
                    lzc::destroy_snaps(chunk, false).map_err(e2s)?;
                }
                Ok(())
            })?,
            "cli-range" => {
                let range = format!("{}%{}", snaps[0].as_str(), short(a.destroy - 1));
                timed(|| run("zfs", &["destroy", &range]))?
            }
            "pyzfs" => {
                let r = pyzfs(&a.py, "destroy", &[&batch], &snaps)?;
                s.destroy.entry("pyzfs-process").or_default().push(r.wall_s);
                r.call_s
            }
            _ => zfs_each("destroy", &snaps)?,
        };
        let left = Snapshot::list(fs).map_err(e2s)?.len();
        if left != 0 {
            return Err(format!("{m} left {left} of {} snapshots", a.destroy));
        }
        eprintln!("  destroy {} rep {}: {m} {secs:.3} s", a.destroy, rep + 1);
        s.destroy.entry(m).or_default().push(secs);
    }
    Ok(())
}

fn stats(v: Option<&Vec<f64>>) -> Option<Stats> {
    v.and_then(|v| Stats::new(v))
}

/// `a / b` of medians, NaN when one is missing.
fn ratio(a: Option<&Stats>, b: Option<&Stats>) -> f64 {
    match (a, b) {
        (Some(a), Some(b)) if b.median > 0.0 => a.median / b.median,
        _ => f64::NAN,
    }
}

/// One goal of the issue and whether it was met.
struct Goal {
    name: String,
    target: String,
    ratio: f64,
    verdict: &'static str,
}

impl Goal {
    fn to_json(&self) -> Json {
        Json::obj([
            ("goal", Json::str(&self.name)),
            ("target", Json::str(&self.target)),
            ("ratio", Json::Num(self.ratio)),
            ("verdict", Json::str(self.verdict)),
        ])
    }
}

fn at_least(name: String, r: f64, min: f64) -> Goal {
    Goal {
        name,
        target: format!(">= {min}x"),
        ratio: r,
        verdict: if !r.is_finite() {
            "not measured"
        } else if r >= min {
            "met"
        } else {
            "NOT met"
        },
    }
}

/// "ours no slower than X": met when our median is not above theirs; a tie when it is but the
/// min–max ranges overlap (within the run-to-run noise).
fn no_slower(name: String, ours: Option<&Stats>, theirs: Option<&Stats>) -> Goal {
    let r = ratio(theirs, ours);
    let verdict = match (ours, theirs) {
        (Some(o), Some(t)) if o.median <= t.median => "met",
        (Some(o), Some(t)) if o.overlaps(t) => "tie (ranges overlap)",
        (Some(_), Some(_)) => "NOT met",
        _ => "not measured",
    };
    Goal {
        name,
        target: ">= 1x".into(),
        ratio: r,
        verdict,
    }
}

struct Report {
    text: String,
    json: Json,
    goals_failed: usize,
}

/// The report's Markdown text, a line at a time.
#[derive(Default)]
struct Text(String);

impl Text {
    fn line(&mut self, line: impl AsRef<str>) {
        self.0.push_str(line.as_ref());
        self.0.push('\n');
    }

    /// A blank line, a `###` heading, a blank line, the table's head and its rule.
    fn table(&mut self, heading: impl AsRef<str>, head: &str, rule: &str) {
        self.line("");
        self.line(heading);
        self.line("");
        self.line(head);
        self.line(rule);
    }
}

fn report(a: &Args, s: &Samples, version: &str, flavour: &str, virt: &str, total: f64) -> Report {
    let mut t = Text::default();
    t.line(format!(
        "OpenZFS {version}, flavour {flavour}, {virt}; file-backed pool, datasets unmounted; {} reps (CLI loops at N >= 1000: {}); total {:.0} s",
        a.reps, a.slow_reps, total
    ));
    let (snap_json, mut goals) = snapshot_table(a, s, &mut t);
    let seq_json = seq_table(a, s, &mut t);
    let destroy_json = destroy_table(a, s, &mut t);
    goals.extend(destroy_and_seq_goals(a, s));
    let goals_failed = goals_table(&goals, &mut t);
    let json = Json::obj([
        ("bench", Json::str("snapshot")),
        ("zfs_version", Json::str(version)),
        ("flavour", Json::str(flavour)),
        ("virtualization", Json::str(virt)),
        ("reps", Json::Num(a.reps as f64)),
        ("slow_reps", Json::Num(a.slow_reps as f64)),
        ("total_seconds", Json::Num(total)),
        ("snapshot", Json::Arr(snap_json)),
        ("sequential", Json::Arr(seq_json)),
        ("destroy", Json::Arr(destroy_json)),
        (
            "destroy_setup_seconds",
            Stats::new(&s.destroy_setup).map_or(Json::Null, |x| x.to_json()),
        ),
        (
            "goals",
            Json::Arr(goals.iter().map(Goal::to_json).collect()),
        ),
    ]);
    Report {
        text: t.0,
        json,
        goals_failed,
    }
}

/// The snapshot-throughput table, a row per N; its JSON rows and its goals (the batch goals at
/// the largest N first).
fn snapshot_table(a: &Args, s: &Samples, t: &mut Text) -> (Vec<Json>, Vec<Goal>) {
    t.table(
        "### Snapshot throughput: one snapshot of each of N datasets",
        "| N | ours (1 lzc_snapshot) | `zfs snapshot` loop (N processes) | one multi-arg `zfs snapshot` | pyzfs `lzc_snapshot` (in call) | pyzfs process (start + import + call) | loop / ours | multi / ours | pyzfs / ours |",
        "|---|---|---|---|---|---|---|---|---|",
    );
    let mut snap_json = Vec::new();
    let mut goals = Vec::new();
    for &n in &a.ns {
        let st: BTreeMap<&str, Option<Stats>> = SNAP_METHODS
            .iter()
            .map(|&m| (m, stats(s.snap.get(&(n, m)))))
            .collect();
        let cell = |m: &str| {
            st[m].as_ref().map_or("n/a".to_string(), |x| {
                format!("{} — {:.0}/s", x.cell(), n as f64 / x.median)
            })
        };
        let ours = st["ours"].as_ref();
        t.line(format!(
            "| {n} | {} | {} | {} | {} | {} | {} | {} | {} |",
            cell("ours"),
            cell("cli-loop"),
            cell("cli-multi"),
            cell("pyzfs"),
            cell("pyzfs-process"),
            fmt_ratio(ratio(st["cli-loop"].as_ref(), ours)),
            fmt_ratio(ratio(st["cli-multi"].as_ref(), ours)),
            fmt_ratio(ratio(st["pyzfs"].as_ref(), ours)),
        ));
        for m in SNAP_METHODS {
            if let Some(x) = &st[m] {
                snap_json.push(Json::obj([
                    ("n", Json::Num(n as f64)),
                    ("method", Json::str(m)),
                    ("per_second", Json::Num(n as f64 / x.median)),
                    ("seconds", x.to_json()),
                ]));
            }
        }
        goals.push(no_slower(
            format!("snapshot N={n}: ours no slower than pyzfs (in-call times)"),
            ours,
            st["pyzfs"].as_ref(),
        ));
    }
    goals.splice(0..0, batch_goals(a, s));
    (snap_json, goals)
}

/// The two goals of the batch snapshot at the largest N: against the CLI loop and the
/// multi-argument `zfs snapshot`.
fn batch_goals(a: &Args, s: &Samples) -> [Goal; 2] {
    let nmax = a.ns.iter().copied().max().unwrap_or(0);
    let ours_max = stats(s.snap.get(&(nmax, "ours")));
    [
        at_least(
            format!("batch snapshot of {nmax} datasets vs the per-dataset CLI loop"),
            ratio(
                stats(s.snap.get(&(nmax, "cli-loop"))).as_ref(),
                ours_max.as_ref(),
            ),
            50.0,
        ),
        no_slower(
            format!(
                "batch snapshot of {nmax} datasets no slower than one multi-arg `zfs snapshot`"
            ),
            ours_max.as_ref(),
            stats(s.snap.get(&(nmax, "cli-multi"))).as_ref(),
        ),
    ]
}

/// The sequential-snapshots table; its JSON rows.
fn seq_table(a: &Args, s: &Samples, t: &mut Text) -> Vec<Json> {
    t.table(
        format!(
            "### Sequential single snapshots ({} of one filesystem, one call or process each)",
            a.seq
        ),
        "| tool | time | snapshots/s | per snapshot |",
        "|---|---|---|---|",
    );
    let mut seq_json = Vec::new();
    for (m, label) in [
        ("ours", "ours (`lzc::snapshot`, in process)"),
        ("pyzfs", "pyzfs (`lzc_snapshot`, in call)"),
        ("cli-loop", "`zfs snapshot` processes"),
    ] {
        if let Some(x) = stats(s.seq.get(m)) {
            t.line(format!(
                "| {label} | {} | {:.1} | {} |",
                x.cell(),
                a.seq as f64 / x.median,
                fmt_secs(x.median / a.seq as f64)
            ));
            seq_json.push(Json::obj([
                ("method", Json::str(m)),
                ("count", Json::Num(a.seq as f64)),
                ("per_second", Json::Num(a.seq as f64 / x.median)),
                ("seconds", x.to_json()),
            ]));
        }
    }
    seq_json
}

/// The destroy table and the line on its shared setup; its JSON rows.
fn destroy_table(a: &Args, s: &Samples, t: &mut Text) -> Vec<Json> {
    t.table(
        format!("### Destroy {} snapshots of one filesystem", a.destroy),
        "| method | calls / processes | time | snapshots/s | slower than ours |",
        "|---|---|---|---|---|",
    );
    let ours_d = stats(s.destroy.get("ours"));
    let mut destroy_json = Vec::new();
    for (m, label, how) in destroy_rows(a) {
        if let Some(x) = stats(s.destroy.get(m)) {
            t.line(format!(
                "| {label} | {how} | {} | {:.0} | {} |",
                x.cell(),
                a.destroy as f64 / x.median,
                fmt_ratio(ratio(Some(&x), ours_d.as_ref()))
            ));
            destroy_json.push(Json::obj([
                ("method", Json::str(m)),
                ("count", Json::Num(a.destroy as f64)),
                ("batch", Json::Num(a.destroy_batch as f64)),
                ("per_second", Json::Num(a.destroy as f64 / x.median)),
                ("seconds", x.to_json()),
            ]));
        }
    }
    if let Some(x) = Stats::new(&s.destroy_setup) {
        t.line("");
        t.line(format!(
            "Setup (shared by every destroy run, one filesystem per run): {} sequential `lzc_snapshot` calls (one txg each) of {} filesystems, {} ({:.1} txgs/s).",
            a.destroy,
            s.destroy_setup_fs,
            fmt_secs(x.median),
            a.destroy as f64 / x.median
        ));
    }
    destroy_json
}

/// The destroy table's rows: (method, label, calls or processes).
fn destroy_rows(a: &Args) -> [(&'static str, String, String); 5] {
    let calls = a.destroy.div_ceil(a.destroy_batch);
    [
        (
            "ours",
            format!(
                "ours: `lzc::destroy_snaps`, batches of <= {}",
                a.destroy_batch
            ),
            format!("{calls} ioctls"),
        ),
        (
            "cli-loop",
            "`zfs destroy FS@SNAP` loop".to_string(),
            format!("{} processes", a.destroy),
        ),
        (
            "cli-range",
            "one `zfs destroy FS@first%last`".to_string(),
            "1 process".to_string(),
        ),
        (
            "pyzfs",
            "pyzfs `lzc_destroy_snaps`, same batches (in call)".to_string(),
            format!("{calls} ioctls"),
        ),
        (
            "pyzfs-process",
            "pyzfs process (start + import + calls)".to_string(),
            "1 process".to_string(),
        ),
    ]
}

/// The goals of the destroy cases, then that of the sequential snapshots.
fn destroy_and_seq_goals(a: &Args, s: &Samples) -> [Goal; 3] {
    let ours_d = stats(s.destroy.get("ours"));
    [
        at_least(
            format!(
                "batch destroy of {} vs the per-snapshot CLI loop",
                a.destroy
            ),
            ratio(stats(s.destroy.get("cli-loop")).as_ref(), ours_d.as_ref()),
            50.0,
        ),
        no_slower(
            "destroy: ours no slower than pyzfs (in-call times)".into(),
            ours_d.as_ref(),
            stats(s.destroy.get("pyzfs")).as_ref(),
        ),
        no_slower(
            "sequential snapshots: ours no slower than pyzfs (in-call times)".into(),
            stats(s.seq.get("ours")).as_ref(),
            stats(s.seq.get("pyzfs")).as_ref(),
        ),
    ]
}

/// The goals table; how many goals were not met.
fn goals_table(goals: &[Goal], t: &mut Text) -> usize {
    t.table(
        "### Goals",
        "| goal | target | measured (theirs / ours) | verdict |",
        "|---|---|---|---|",
    );
    let mut failed = 0;
    for g in goals {
        if g.verdict == "NOT met" {
            failed += 1;
        }
        t.line(format!(
            "| {} | {} | {} | {} |",
            g.name,
            g.target,
            fmt_ratio(g.ratio),
            g.verdict
        ));
    }
    failed
}

fn main_inner(a: Args) -> Result<Report, String> {
    let version = std::fs::read_to_string("/sys/module/zfs/version")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into());
    let flavour = std::env::var("FLOCKER_LAB_FLAVOUR").unwrap_or_else(|_| "?".into());
    let virt = flocker_benches::virtualization();
    eprintln!("snapshot-bench: OpenZFS {version} (flavour {flavour}, {virt})");
    let pool = BenchPool::create("sb", &a.dir, 4 << 30)?;
    let total = Instant::now();
    let ds = |s: String| DatasetName::new(s).map_err(e2s);
    let create = |d: &DatasetName| lzc::create(d, DatasetType::Filesystem, None, None).map_err(e2s);

    let nmax = a.ns.iter().copied().max().unwrap_or(0);
    let tree = ds(format!("{}/t", pool.name))?;
    create(&tree)?;
    let t = Instant::now();
    let mut dsets = Vec::with_capacity(nmax);
    for i in 0..nmax {
        let d = ds(format!("{}/d{i:05}", tree.as_str()))?;
        create(&d)?;
        dsets.push(d);
    }
    eprintln!(
        "{nmax} datasets created in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let seq_parent = ds(format!("{}/seq", pool.name))?;
    create(&seq_parent)?;
    let del_parent = ds(format!("{}/del", pool.name))?;
    create(&del_parent)?;

    // Warm-up, untimed: the first start of python3 + pyzfs and of `zfs` reads them from disk.
    pyzfs(&a.py, "seq", &[], &[])?;
    run("zfs", &["list", "-H", "-o", "name", &pool.name])?;
    let mut s = Samples::default();
    eprintln!("snapshot throughput, N = {:?}", a.ns);
    snapshot_cases(&a, &dsets, &mut s)?;
    eprintln!("sequential single snapshots");
    seq_cases(&a, &seq_parent, &mut s)?;
    eprintln!("destroy");
    destroy_cases(&a, &del_parent, &mut s)?;
    let r = report(
        &a,
        &s,
        &version,
        &flavour,
        virt,
        total.elapsed().as_secs_f64(),
    );
    drop(pool);
    if let Some(path) = &a.json {
        std::fs::write(path, r.json.render() + "\n").map_err(|e| format!("{path}: {e}"))?;
    }
    Ok(r)
}

fn main() -> ExitCode {
    let a = parse_from(std::env::args_os()).unwrap_or_else(|e| e.exit());
    match main_inner(a) {
        Ok(r) => {
            println!();
            print!("{}", r.text);
            if r.goals_failed > 0 {
                println!("\n{} goal(s) not met (see above).", r.goals_failed);
            }
            // Goals are findings, not errors: the bench succeeded if it measured everything.
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("snapshot-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv<'a>(args: &'a [&'a str]) -> impl Iterator<Item = &'a str> {
        std::iter::once("snapshot-bench").chain(args.iter().copied())
    }

    fn counts(a: &Args) -> [usize; 6] {
        [
            a.reps,
            a.slow_reps,
            a.seq,
            a.destroy,
            a.destroy_batch,
            a.destroy_reps,
        ]
    }

    #[test]
    fn defaults_are_the_hand_parser_s() {
        let a = parse_from(argv(&[])).unwrap();
        assert_eq!(a.ns, [1, 10, 100, 1000]);
        assert_eq!(counts(&a), [3, 1, 100, 1000, 100, 3]);
        assert_eq!((a.dir.as_str(), a.json.as_deref()), ("/var/tmp", None));
        assert_eq!(a.py, PY_SCRIPT);
        assert!(Args::try_parse_from(argv(&[])).is_ok());
    }

    #[test]
    fn xtask_command_lines_parse() {
        let a = parse_from(argv(&["--reps", "2", "--seq", "50", "--destroy-reps", "1"])).unwrap();
        assert_eq!(a.ns, [1, 10, 100, 1000]);
        assert_eq!(counts(&a), [2, 1, 50, 1000, 100, 1]);
        let a = parse_from(argv(&["--quick", "--json", "/o/s.json"])).unwrap();
        assert_eq!(a.ns, [1, 10, 50]);
        assert_eq!(counts(&a), [1, 1, 20, 100, 50, 1]);
        assert_eq!(a.json.as_deref(), Some("/o/s.json"));
        let a = parse_from(argv(&["--quick", "--reps", "2", "--ns", "0,7"])).unwrap();
        assert_eq!(a.ns, [7]);
        assert_eq!(counts(&a), [2, 1, 20, 100, 50, 1]);
        let a = parse_from(argv(&[
            "--reps",
            "0",
            "--destroy-batch",
            "0",
            "--py",
            "/p.py",
        ]))
        .unwrap();
        assert_eq!((a.reps, a.destroy_batch, a.py.as_str()), (1, 1, "/p.py"));
    }

    #[test]
    fn bad_values_are_refused() {
        for args in [
            &["--ns", "1,x"][..],
            &["--ns", "0"],
            &["--ns", "0,0"],
            &["--reps", "-1"],
            &["--json"],
            &["--quick=yes"],
            &["--nope"],
        ] {
            let e = parse_from(argv(args)).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{args:?}");
        }
    }
}
