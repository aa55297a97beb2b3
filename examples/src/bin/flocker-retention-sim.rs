//! flocker-retention-sim: runs our retention policy and the peers' documented rules over the
//! same snapshot streams and prints how well each keeps restore points.
//!
//! ```text
//! cargo run --release -p flocker-examples --bin flocker-retention-sim -- [--json]
//!     [--scenario NAME] [--policy TEXT] [--svg FILE]
//! ```
//!
//! Method and results: RETENTION.md at the repository root.
//!
//! Exit status: 0 success, 1 the SVG file could not be written, 2 bad arguments (an unknown
//! option or scenario, a bad policy, an argument that is not UTF-8).

#[path = "../sim/mod.rs"]
mod sim;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use flocker_core::retention::RetentionPolicy;
use flocker_examples::cli::{EXIT_FAILED, EXIT_USAGE, utf8_value};
use serde_json::json;
use sim::metrics::{self, Metrics, WINDOWS};
use sim::peers::{
    AutoSnapshot, Btrbk, Ours, Restic, Sanoid, Snapper, TimeMachine, Znapzend, Zrepl,
};
use sim::{Policy, Run, Scenario};

/// The policy DataVault ships: the first dataset of examples/datavault.toml (the README's
/// `prune` example is the same without `min=3`).
const SHIPPED: &str = "48x1h,30x1d,12x1mo,10x1y,min=3";
/// A ladder of calendar rules whose periods double, so the spacing of kept snapshots stays a
/// fraction of their age (`--policy` replaces it).
const LADDER: &str =
    "4x15min,6x30min,6x1h,6x2h,6x4h,6x8h,6x1d,6x2d,6x4d,6x8d,6x16d,6x32d,6x64d,6x128d,6x256d";
/// The ladder with burst landmarks: shown as an extra row (peers are not re-tuned to it).
const LANDMARKS: &str = ",bursts(for=30d,gap=1h)";

/// Rules that keep every snapshot of the scenarios, for the pure space-pressure rows.
const KEEP_ALL: &str = "within=1000d,min=3";
/// How many 1 MiB snapshots the pure space-pressure budget holds.
const EQUAL_KEPT: u64 = 40;

/// A peer in `shape` scaled by `f`.
type Factory = fn(usize, f64, &Scenario) -> Box<dyn Policy>;

/// Peers: name, number of shapes, factory.
fn peers() -> Vec<(&'static str, usize, Factory)> {
    vec![
        ("sanoid", Sanoid::SHAPES, |k, f, _| {
            Box::new(Sanoid::new(k, f))
        }),
        ("zrepl", Zrepl::SHAPES, |k, f, _| Box::new(Zrepl::new(k, f))),
        ("znapzend", Znapzend::SHAPES, |k, f, _| {
            Box::new(Znapzend::new(k, f))
        }),
        ("zfs-auto-snapshot", AutoSnapshot::SHAPES, |k, f, _| {
            Box::new(AutoSnapshot::new(k, f))
        }),
        ("snapper", Snapper::SHAPES, |k, f, _| {
            Box::new(Snapper::new(k, f))
        }),
        ("btrbk", Btrbk::SHAPES, |k, f, s| {
            Box::new(Btrbk::new(k, f, s.tz.clone()))
        }),
        ("restic", Restic::SHAPES, |k, f, _| {
            Box::new(Restic::new(k, f))
        }),
    ]
}

/// The scenarios, for the error line of an unknown `--scenario`.
const SCENARIOS: &str = "hourly-2y, laptop, dst, clock, bursts";

/// Runs our retention policies and the peers' documented rules over the same snapshot streams
/// and prints how well each keeps restore points (RETENTION.md).
#[derive(Parser, Debug)]
#[command(
    name = "flocker-retention-sim",
    version,
    about = "Compare flocker's retention policies with the peers' rules over simulated snapshot streams",
    after_help = "Method and results: RETENTION.md. Exit status: 0 success, 1 the SVG file could \
                  not be written, 2 bad arguments."
)]
struct Args {
    /// Print the results as one JSON object instead of Markdown tables.
    #[arg(long)]
    json: bool,

    /// Run only this scenario (hourly-2y, laptop, dst, clock, bursts).
    #[arg(long, value_name = "NAME", value_parser = utf8_value())]
    scenario: Option<String>,

    /// The "ladder" policy compared with the shipped one (RETENTION.md grammar).
    #[arg(long, value_name = "TEXT", default_value = LADDER, value_parser = utf8_value())]
    policy: String,

    /// Also draw the snapshots kept in the first scenario run to this SVG file.
    #[arg(long, value_name = "FILE")]
    svg: Option<PathBuf>,
}

/// Why the simulator stopped.
enum Failure {
    /// Bad arguments (exit 2).
    Usage(String),
    /// Anything else (exit 1).
    Other(String),
}

/// The largest scale factor of `shape` whose final snapshot count does not exceed `target`.
fn tune_shape(
    factory: &Factory,
    shape: usize,
    scenario: &Scenario,
    target: usize,
) -> Option<(f64, Run)> {
    let (mut lo, mut hi) = (0.01f64.ln(), 50f64.ln());
    let mut best: Option<(f64, Run)> = None;
    for _ in 0..12 {
        let mid = (lo + hi) / 2.0;
        let f = mid.exp();
        let r = sim::run(factory(shape, f, scenario).as_ref(), scenario);
        if r.kept.len() <= target {
            lo = mid;
            best = Some((f, r));
        } else {
            hi = mid;
        }
    }
    best
}

/// Each shape at its largest factor within `ours`' count; the one that does best against ours
/// (fewest figures where ours is better, then most where ours is worse).
fn tune(factory: &Factory, shapes: usize, scenario: &Scenario, ours: &Metrics) -> Metrics {
    let mut best: Option<(Metrics, (u32, u32))> = None;
    for shape in 0..shapes {
        let Some((f, run)) = tune_shape(factory, shape, scenario, ours.kept) else {
            continue;
        };
        let m = metrics::measure(factory(shape, f, scenario).name(), &run, scenario);
        let (w, _, l) = metrics::score(ours, &m);
        if best
            .as_ref()
            .is_none_or(|(_, (bw, bl))| (w, u32::MAX - l) < (*bw, u32::MAX - bl))
        {
            best = Some((m, (w, l)));
        }
    }
    best.map(|(m, _)| m).unwrap_or_else(|| {
        let p = factory(0, 0.01, scenario);
        metrics::measure(p.name(), &sim::run(p.as_ref(), scenario), scenario)
    })
}

/// Bytes held by the kept snapshots of a run (`used` as the simulator models it).
fn kept_bytes(run: &Run) -> u64 {
    run.kept.iter().map(sim::peers::used).sum()
}

struct ScenarioResult {
    name: &'static str,
    description: &'static str,
    /// Our policies peers are tuned against: shipped, then the ladder.
    ours: Vec<Metrics>,
    /// Other rows of ours (landmarks, space target), not tuned against.
    extra: Vec<Metrics>,
    /// The space target's budget in bytes (a quarter of what the shipped policy keeps).
    budget: u64,
    defaults: Vec<Metrics>,
    /// Per entry of `ours`, the peers tuned to its count.
    tuned: Vec<Vec<Metrics>>,
}

fn row(m: &Metrics) -> String {
    let mut line = format!(
        "| {} | {} | {} | {} |",
        m.policy, m.kept, m.max_kept, m.destroyed
    );
    for (worst, median) in m.ratios {
        line.push_str(&format!(
            " {} | {} |",
            metrics::fmt_ratio(worst),
            metrics::fmt_ratio(median)
        ));
    }
    match m.bursts {
        Some((k, n)) => line.push_str(&format!(" {k}/{n} |")),
        None => line.push_str(" - |"),
    }
    if m.newest_destroyed > 0 {
        line.push_str(&format!(" (destroyed the newest {}×)", m.newest_destroyed));
    }
    line
}

fn verdicts(ours: &Metrics, tuned: &[Metrics]) {
    for m in tuned {
        let (w, t, l) = metrics::score(ours, m);
        let verdict = if l == 0 && w > 0 {
            "ours better"
        } else if l == 0 {
            "tie"
        } else if w == 0 {
            "PEER BETTER"
        } else {
            "mixed"
        };
        println!(
            "- {} vs {} (keeps {} ≤ {}): ours better on {w}, equal on {t}, worse on {l} → {verdict}",
            ours.policy, m.policy, m.kept, ours.kept
        );
    }
}

fn print_table(r: &ScenarioResult) {
    println!("\n## {} — {}\n", r.name, r.description);
    let mut head = String::from("| policy | kept | max | destroyed |");
    for (w, _) in WINDOWS {
        head.push_str(&format!(" {w} worst | {w} median |"));
    }
    head.push_str(" burst states |");
    println!("{head}");
    println!("|{}", "---|".repeat(4 + 2 * WINDOWS.len() + 1));
    for m in r.ours.iter().chain(&r.extra).chain(&r.defaults) {
        println!("{}", row(m));
    }
    for (o, tuned) in r.ours.iter().zip(&r.tuned) {
        println!(
            "| *peers tuned to {} ({} kept)* |||||||||||||",
            o.policy, o.kept
        );
        for m in tuned {
            println!("{}", row(m));
        }
    }
    println!(
        "\nspace target: {} bytes (a quarter of what `shipped` keeps); keep-all: `{KEEP_ALL}`, \
         1 MiB a snapshot, {EQUAL_KEPT} MiB\n",
        r.budget
    );
    for (o, tuned) in r.ours.iter().zip(&r.tuned) {
        verdicts(o, tuned);
    }
}

fn metrics_json(m: &Metrics) -> serde_json::Value {
    let num = |x: f64| {
        if x.is_nan() {
            json!(null)
        } else if x.is_infinite() {
            json!("lost")
        } else {
            json!(x)
        }
    };
    let ratios: serde_json::Map<String, serde_json::Value> = WINDOWS
        .iter()
        .zip(m.ratios)
        .map(|((w, _), (worst, median))| {
            (
                w.to_string(),
                json!({"worst": num(worst), "median": num(median)}),
            )
        })
        .collect();
    json!({
        "policy": m.policy,
        "kept": m.kept,
        "max_kept": m.max_kept,
        "destroyed": m.destroyed,
        "newest_destroyed": m.newest_destroyed,
        "gap_over_age": ratios,
        "burst_states": m.bursts.map(|(k, n)| json!({"kept": k, "of": n})),
    })
}

fn main() -> ExitCode {
    flocker_examples::default_sigpipe();
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(msg)) => {
            eprintln!("flocker-retention-sim: error: {msg}");
            ExitCode::from(EXIT_USAGE)
        }
        Err(Failure::Other(msg)) => {
            eprintln!("flocker-retention-sim: error: {msg}");
            ExitCode::from(EXIT_FAILED)
        }
    }
}

/// The policies (shipped, ladder) and the scenarios the arguments ask for.
fn setup(args: &Args) -> Result<(RetentionPolicy, RetentionPolicy, Vec<Scenario>), Failure> {
    let shipped = SHIPPED
        .parse::<RetentionPolicy>()
        .map_err(|e| Failure::Other(format!("the shipped policy: {e}")))?;
    let ladder = args
        .policy
        .parse::<RetentionPolicy>()
        .map_err(|e| Failure::Usage(format!("bad --policy {:?}: {e}", args.policy)))?;
    let scenarios: Vec<Scenario> = sim::scenarios::all()
        .into_iter()
        .filter(|s| args.scenario.as_deref().is_none_or(|n| n == s.name))
        .collect();
    if scenarios.is_empty() {
        return Err(Failure::Usage(format!(
            "no such scenario {:?} ({SCENARIOS})",
            args.scenario.as_deref().unwrap_or_default()
        )));
    }
    Ok((shipped, ladder, scenarios))
}

/// Simulates every scenario asked for and prints the results.
fn run(args: &Args) -> Result<(), Failure> {
    let (shipped, ladder, scenarios) = setup(args)?;
    let mut results = Vec::new();
    for sc in &scenarios {
        let (result, svg_rows) = simulate(sc, &shipped, &ladder);
        if let Some(path) = &args.svg
            && sc.name == scenarios[0].name
        {
            write_svg(path, sc, &args.policy, &svg_rows)?;
        }
        results.push(result);
    }
    if args.json {
        let out: Vec<serde_json::Value> = results.iter().map(result_json).collect();
        println!(
            "{}",
            serde_json::to_string_pretty(
                &json!({"shipped": SHIPPED, "ladder": args.policy, "scenarios": out})
            )
            .unwrap_or_default()
        );
    } else {
        println!(
            "# flocker-retention-sim\n\nshipped = `{SHIPPED}`; ladder = `{}`",
            args.policy
        );
        for r in &results {
            print_table(r);
        }
    }
    Ok(())
}

/// Draws the runs of scenario `sc` to `path`.
fn write_svg(
    path: &Path,
    sc: &Scenario,
    ladder: &str,
    svg_rows: &[(String, Run)],
) -> Result<(), Failure> {
    let rows: Vec<(String, &Run)> = svg_rows.iter().map(|(n, r)| (n.clone(), r)).collect();
    let span = sc.events.last().map_or(0, |e| e.true_t) - sc.events.first().map_or(0, |e| e.true_t);
    let title = format!(
        "Snapshots kept after \"{}\" (default settings; shipped: {SHIPPED}; ladder: {ladder})",
        sc.name
    );
    std::fs::write(path, sim::svg::render(&title, &rows, span.max(3600)))
        .map_err(|e| Failure::Other(format!("cannot write {}: {e}", path.display())))
}

/// Runs ours, the space comparison and every peer (defaults and tuned) over one scenario.
fn simulate(
    sc: &Scenario,
    shipped: &RetentionPolicy,
    ladder: &RetentionPolicy,
) -> (ScenarioResult, Vec<(String, Run)>) {
    let mut svg_rows: Vec<(String, Run)> = Vec::new();
    let mut ours = Vec::new();
    let mut budget = 0;
    for (label, policy) in [("shipped", shipped), ("ladder", ladder)] {
        let p = Ours::new(label, policy.clone(), sc.tz.clone());
        let run = sim::run(&p, sc);
        if label == "shipped" {
            budget = (kept_bytes(&run) / 4).max(1);
        }
        ours.push(metrics::measure(p.name(), &run, sc));
        svg_rows.push((label.into(), run));
    }
    let extra = extra_rows(sc, shipped, ladder, budget);
    let (defaults, tuned) = peer_rows(sc, &ours, &mut svg_rows);
    let result = ScenarioResult {
        name: sc.name,
        description: sc.description,
        ours,
        extra,
        budget,
        defaults,
        tuned,
    };
    (result, svg_rows)
}

/// The rows of ours not tuned against: landmarks, and the space target (even thinning and
/// oldest-first, with the shipped rules and under pure space pressure).
fn extra_rows(
    sc: &Scenario,
    shipped: &RetentionPolicy,
    ladder: &RetentionPolicy,
    budget: u64,
) -> Vec<Metrics> {
    let mut extra = Vec::new();
    if let Ok(with_landmarks) = format!("{ladder}{LANDMARKS}").parse::<RetentionPolicy>() {
        let p = Ours::new("ladder+bursts", with_landmarks, sc.tz.clone());
        extra.push(metrics::measure(p.name(), &sim::run(&p, sc), sc));
    }
    if let Ok(with_space) = format!("{shipped},space={budget}").parse::<RetentionPolicy>() {
        let p = Ours::new("shipped+space, even", with_space, sc.tz.clone());
        extra.push(metrics::measure(p.name(), &sim::run(&p, sc), sc));
    }
    for (label, skip_zero) in [
        ("shipped+space, oldest-first", false),
        ("shipped+space, oldest-first used>0", true),
    ] {
        let p = Ours::oldest_first(label, shipped.clone(), budget, skip_zero, sc.tz.clone());
        extra.push(metrics::measure(p.name(), &sim::run(&p, sc), sc));
    }
    // Pure space pressure: the rules keep everything, every snapshot holds 1 MiB, the budget
    // holds EQUAL_KEPT of them.
    if let (Ok(all), Ok(even)) = (
        KEEP_ALL.parse::<RetentionPolicy>(),
        format!("{KEEP_ALL},space={}", EQUAL_KEPT << 20).parse::<RetentionPolicy>(),
    ) {
        let p = Ours::new("keep-all+space, even", even, sc.tz.clone()).with_equal_used(1 << 20);
        extra.push(metrics::measure(p.name(), &sim::run(&p, sc), sc));
        let p = Ours::oldest_first(
            "keep-all+space, oldest-first",
            all,
            EQUAL_KEPT << 20,
            false,
            sc.tz.clone(),
        )
        .with_equal_used(1 << 20);
        extra.push(metrics::measure(p.name(), &sim::run(&p, sc), sc));
    }
    extra
}

/// Every peer at its defaults (drawn in `svg_rows` unless it keeps everything), and tuned to
/// the count of each of `ours`.
fn peer_rows(
    sc: &Scenario,
    ours: &[Metrics],
    svg_rows: &mut Vec<(String, Run)>,
) -> (Vec<Metrics>, Vec<Vec<Metrics>>) {
    let mut defaults = Vec::new();
    let mut tuned = vec![Vec::new(); ours.len()];
    for (_, shapes, factory) in peers() {
        let p = factory(0, 1.0, sc);
        let run = sim::run(p.as_ref(), sc);
        defaults.push(metrics::measure(p.name(), &run, sc));
        // A default that keeps everything (btrbk's) would only fill the picture.
        if run.destroyed > 0 {
            svg_rows.push((p.name(), run));
        }
        for (o, t) in ours.iter().zip(tuned.iter_mut()) {
            t.push(tune(&factory, shapes, sc, o));
        }
    }
    let tm = TimeMachine::new(None);
    let run = sim::run(&tm, sc);
    defaults.push(metrics::measure(tm.name(), &run, sc));
    svg_rows.push((tm.name(), run));
    for (o, t) in ours.iter().zip(tuned.iter_mut()) {
        let tm = TimeMachine::new(Some(o.kept));
        t.push(metrics::measure(tm.name(), &sim::run(&tm, sc), sc));
    }
    (defaults, tuned)
}

fn result_json(r: &ScenarioResult) -> serde_json::Value {
    let tuned: Vec<serde_json::Value> = r
        .ours
        .iter()
        .zip(&r.tuned)
        .map(|(o, t)| {
            let peers: Vec<serde_json::Value> = t
                .iter()
                .map(|m| {
                    let (w, e, l) = metrics::score(o, m);
                    let mut v = metrics_json(m);
                    v["vs_ours"] = json!({"ours_better": w, "equal": e, "ours_worse": l});
                    v
                })
                .collect();
            json!({"ours": o.policy, "peers": peers})
        })
        .collect();
    json!({
        "scenario": r.name,
        "description": r.description,
        "ours": r.ours.iter().map(metrics_json).collect::<Vec<_>>(),
        "extra": r.extra.iter().map(metrics_json).collect::<Vec<_>>(),
        "space_budget": r.budget,
        "defaults": r.defaults.iter().map(metrics_json).collect::<Vec<_>>(),
        "tuned": tuned,
    })
}
